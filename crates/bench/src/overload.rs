//! `ml-audit-bench overload`: the claim "at 4× the sustainable rate, accepted requests keep
//! p99 < 50 ms and everything accepted is stored", measured on a real `ml-audit serve`.
//!
//! First the sustainable rate R: single-event POSTs on 32 connections in a closed loop. Then an
//! open loop at `factor` × R: the i-th request is due at i / rate from the start whatever the
//! answers, sent on the first free connection of a large pool; a slot that finds every
//! connection busy leaves late, and those more than 10 ms late are counted, so that coordinated
//! omission shows. Every answer is 201 (accepted), 503 `overloaded` with `Retry-After: 1`
//! (refused), or an error that fails the run. Last, the predictions stored under the run's own
//! model name are listed: they must be exactly the accepted ones.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail, ensure};
use hyper::StatusCode;
use hyper::header::RETRY_AFTER;
use serde_json::Value;
use tokio::task::JoinSet;

use crate::client::{self, Call, Client, Connection, Measured, PREDICTIONS, Reply};
use crate::events::{self, Rng};
use crate::report::{NO_TARGET, Report, duration, latency, thousands, throughput, verdict};
use crate::server::{self, Backend, Database, Server, Targets, wait_until_healthy};

#[derive(clap::Args)]
pub struct Options {
    #[command(flatten)]
    targets: Targets,
    /// The open loop's rate, in multiples of the sustainable rate.
    #[arg(long, default_value_t = 4.0)]
    factor: f64,
    /// How long the open loop offers requests [default: 10; 2 with --quick].
    #[arg(long, value_name = "S")]
    seconds: Option<f64>,
    /// Single-event POSTs of the closed loop that measures the sustainable rate
    /// [default: 15,000; 2,000 with --quick].
    #[arg(long, value_name = "N")]
    sustainable_events: Option<usize>,
    /// A server setting as an environment variable, `NAME=VALUE` (repeatable), e.g.
    /// `ML_AUDIT_SERVER_QUEUE_EVENTS=256`: the server is otherwise isolated from the caller's
    /// `ML_AUDIT_*` variables.
    #[arg(long = "server-env", value_name = "NAME=VALUE", value_parser = name_and_value)]
    server_env: Vec<(String, String)>,
    /// Connections of the open loop, each with one request at a time.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    connections: usize,
    /// Short durations, to try the tool in seconds.
    #[arg(long)]
    quick: bool,
}

struct Plan {
    factor: f64,
    seconds: f64,
    sustainable: usize,
    connections: usize,
    server_env: Vec<(String, String)>,
}

/// `NAME=VALUE`, split at the first `=`.
fn name_and_value(setting: &str) -> Result<(String, String), String> {
    match setting.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{setting:?} is not NAME=VALUE")),
    }
}

/// The target: accepted requests' p99 under this.
const TARGET_P99: Duration = Duration::from_millis(50);
/// Connections of the closed loop that measures the sustainable rate (as `http`'s c32 phase).
const SUSTAINABLE_CONNECTIONS: usize = 32;
/// A slot sent later than this after it was due counts as late.
const LATE: Duration = Duration::from_millis(10);
/// How often the server's queue depth is read from /metrics during the open loop.
const DEPTH_SAMPLE: Duration = Duration::from_millis(100);
/// What `Retry-After` must say on a 503 `overloaded`.
const RETRY_AFTER_OVERLOADED: &str = "1";
/// Error messages kept to show, of all the errors counted.
const ERRORS_SHOWN: usize = 3;

pub async fn run(options: Options) -> anyhow::Result<()> {
    let plan = Plan {
        factor: options.factor,
        seconds: options.seconds.unwrap_or(if options.quick { 2.0 } else { 10.0 }),
        sustainable: options.sustainable_events.unwrap_or(if options.quick { 2_000 } else { 15_000 }),
        connections: options.connections,
        server_env: options.server_env,
    };
    ensure!(plan.factor > 0.0 && plan.seconds > 0.0, "--factor and --seconds must be positive");
    ensure!(plan.sustainable > 0 && plan.connections > 0, "--sustainable-events and --connections must be positive");
    let failures: Vec<_> = options
        .targets
        .each_backend("overload", async |bin, backend, db| measure(bin, backend, db, &plan).await)
        .await?
        .into_iter()
        .flat_map(|(backend, failed)| failed.into_iter().map(move |failure| format!("{}: {failure}", backend.name())))
        .collect();
    if !failures.is_empty() {
        bail!("the overload benchmark failed: {}", failures.join("; "));
    }
    Ok(())
}

/// One backend from a fresh database to its table and the checks it failed.
async fn measure(bin: &Path, backend: Backend, db: &Database, plan: &Plan) -> anyhow::Result<(Report, Vec<String>)> {
    let key = server::create_key(bin, db).await?;
    let server = Server::start_with(bin, db, &plan.server_env).await?;
    let client = Client::with_key(server.addr, &key)?;
    wait_until_healthy(&client).await?;
    let before = Metrics::read(&client).await?;
    let mut report = Report::default();
    let mut failures = Vec::new();

    // 1. The sustainable rate: the `http` benchmark's events, a closed loop on 32 connections.
    let calls = client::single_event_calls(1, 0..plan.sustainable)?;
    let measured = client::closed_loop(&client, SUSTAINABLE_CONNECTIONS, calls, client::no_check)
        .await
        .context("the closed loop that measures the sustainable rate")?;
    let sustainable = measured.rate();
    report.row(
        format!(
            "sustainable rate R: closed loop, {SUSTAINABLE_CONNECTIONS} connections, {} single-event POSTs",
            thousands(plan.sustainable as f64)
        ),
        throughput(&measured, "req/s"),
        NO_TARGET,
    );
    // The open loop starts from an idle server: the closed loop's events all sealed.
    server::seal(&client, events::leaves(plan.sustainable)).await.context("sealing the closed loop's events")?;

    // 2. The open loop at factor × R, each request a distinct event of a model of its own.
    let rate = plan.factor * sustainable;
    let total = ((rate * plan.seconds).round() as usize).max(1);
    let model = format!(
        "overload_{}_{}_{}",
        backend.name(),
        std::process::id(),
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis()
    );
    eprintln!("  preparing {} events for {} req/s over {} s", thousands(total as f64), thousands(rate), plan.seconds);
    let mut rng = Rng::new(2);
    let calls = (0..total)
        .map(|n| {
            let mut event = events::event(&mut rng, n as u64);
            event["prediction_id"] = Value::String(prediction_id(n));
            event["model_name"] = Value::String(model.clone());
            Call::post_json(PREDICTIONS, serde_json::to_vec(&event)?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let depth = DepthSampler::start(&client).await?;
    let cpu_before = (server.cpu()?, server::cpu_time(std::process::id())?);
    let run = open_loop(&client, Arc::new(calls), rate, plan.connections).await?;
    let cpu = (server.cpu()? - cpu_before.0, server::cpu_time(std::process::id())? - cpu_before.1);
    let largest_depth = depth.stop().await?;
    let after = Metrics::read(&client).await?;

    // 3. What is stored under the run's model, against what was accepted.
    let answers = &run.worked.answers;
    let accepted: HashSet<String> =
        answers.iter().filter(|a| a.outcome == Outcome::Accepted).map(|a| prediction_id(a.index)).collect();
    let stored = stored_ids(&client, &model).await?;
    let listed = stored.len();
    let stored: HashSet<String> = stored.into_iter().collect();
    let missing = accepted.difference(&stored).count();
    let unexpected = stored.difference(&accepted).count();
    let exact = missing == 0 && unexpected == 0 && listed == stored.len();

    // 4. The table.
    // Each over the time to the last answer, as the accepted rate is.
    let latencies = |outcome: Outcome, time: fn(&Answer) -> Duration| {
        Measured::new(answers.iter().filter(|a| a.outcome == outcome).map(time).collect(), run.wall)
    };
    let accepted_latency = latencies(Outcome::Accepted, |a| a.latency);
    let refused_latency = latencies(Outcome::Refused, |a| a.latency);
    let accepted_from_due = latencies(Outcome::Accepted, |a| a.late + a.latency);
    let refused = refused_latency.count();
    let failed = answers.iter().filter(|a| a.outcome == Outcome::Failed).count();
    let late: Vec<_> = answers.iter().map(|a| a.late).filter(|late| *late > LATE).collect();
    let latest = answers.iter().map(|a| a.late).max().unwrap_or_default();
    let last_sent = answers.iter().map(|a| a.due + a.late).max().unwrap_or_default();
    let share = |count: usize| format!("{:.1}%", 100.0 * count as f64 / total as f64);

    report.row(
        format!(
            "offered: {} × R, open loop for {} s, up to {} connections",
            plan.factor,
            plan.seconds,
            thousands(run.connections as f64)
        ),
        format!(
            "{} req/s ({} requests; sent at {} req/s, the last {:.2} s after the start{})",
            thousands(rate),
            thousands(total as f64),
            thousands(total as f64 / last_sent.as_secs_f64()),
            last_sent.as_secs_f64(),
            if run.worked.reopened > 0 {
                format!("; {} connections reopened", run.worked.reopened)
            } else {
                String::new()
            }
        ),
        NO_TARGET,
    );
    report.row(
        "accepted (201), over the time to the last answer",
        format!(
            "{} req/s ({} requests, {} of offered, in {:.2} s)",
            thousands(accepted_latency.rate()),
            thousands(accepted_latency.count() as f64),
            share(accepted_latency.count()),
            run.wall.as_secs_f64()
        ),
        NO_TARGET,
    );
    report.row(
        "refused (503 overloaded, Retry-After)",
        format!("{} ({} requests)", share(refused), thousands(refused as f64)),
        NO_TARGET,
    );
    let target = format!("p99 < {} ms", TARGET_P99.as_millis());
    report.row("accepted latency, send to full answer", spread(&accepted_latency, true), &target);
    report.row(
        "accepted latency from the slot's due time (what a client at the offered rate waits)",
        spread(&accepted_from_due, true),
        NO_TARGET,
    );
    report.row("refused latency: how fast a 503 comes back", spread(&refused_latency, false), NO_TARGET);
    report.row(
        format!("slots sent more than {} ms late (every connection busy)", LATE.as_millis()),
        format!(
            "{} of {} ({}); latest by {}",
            thousands(late.len() as f64),
            thousands(total as f64),
            share(late.len()),
            duration(latest)
        ),
        NO_TARGET,
    );
    let cores = |used: Duration| used.as_secs_f64() / run.wall.as_secs_f64();
    report.row(
        "CPU during the open loop, in cores busy on average",
        format!(
            "server {:.2}, this client {:.2}, of {} cores",
            cores(cpu.0),
            cores(cpu.1),
            std::thread::available_parallelism().map_or(1, usize::from)
        ),
        NO_TARGET,
    );
    report.row(
        "errors (any other status, transport errors)",
        if failed == 0 {
            "0".to_owned()
        } else {
            format!("{}: {}", thousands(failed as f64), run.worked.error_samples.join(" | "))
        },
        "0",
    );
    let counted = after.overloaded - before.overloaded;
    report.row(
        "server: ml_audit_overloaded_total during the run; queue bound; largest queue sampled",
        format!(
            "{} (= refused: {}); {} events; {} events (every {} ms)",
            thousands(counted),
            if counted as usize == refused { "yes" } else { "no" },
            thousands(after.capacity),
            thousands(largest_depth),
            DEPTH_SAMPLE.as_millis()
        ),
        NO_TARGET,
    );
    report.row(
        "stored = accepted (listed by the run's model_name)",
        if exact {
            format!("yes ({} stored)", thousands(listed as f64))
        } else {
            format!(
                "no: {} listed, {} accepted not stored, {} stored not accepted",
                thousands(listed as f64),
                thousands(missing as f64),
                thousands(unexpected as f64)
            )
        },
        "yes",
    );
    let p99 = (accepted_latency.count() > 0).then(|| accepted_latency.percentile(0.99));
    report.row(
        format!("verdict: accepted {target} at {} × R", plan.factor),
        match p99 {
            Some(p99) => format!("{} (p99 {})", verdict(p99 < TARGET_P99), duration(p99)),
            None => format!("{} (nothing accepted)", verdict(false)),
        },
        &format!("accepted {target}"),
    );
    report.note(format!(
        "Events: the `http` benchmark's (~1.1 KB); the open loop's have prediction_ids `overload-<n>` and the \
         model `{model}`. Latencies are measured by the client, which shares the machine's cores with the server."
    ));

    if failed > 0 {
        failures.push(format!("{failed} requests failed: {}", run.worked.error_samples.join(" | ")));
    }
    if !exact {
        failures.push(format!(
            "stored ≠ accepted: {missing} accepted predictions are not stored, {unexpected} stored were not accepted"
        ));
    }
    server.stop().await?;
    let mut title = format!(
        "ml-audit overload benchmark — {} backend, {} × the sustainable rate for {} s, queue_events {}",
        backend.name(),
        plan.factor,
        plan.seconds,
        thousands(after.capacity)
    );
    for (name, value) in &plan.server_env {
        title.push_str(&format!(", {name}={value}"));
    }
    Ok((report.titled(title), failures))
}

fn prediction_id(n: usize) -> String {
    format!("overload-{n:012}")
}

/// `p50 … · p99 … · max …` (without the max unless asked), or `none` when nothing was measured.
fn spread(measured: &Measured, with_max: bool) -> String {
    if measured.count() == 0 {
        return "none".to_owned();
    }
    let mut spread = latency(measured, &[50, 99]);
    if with_max {
        spread.push_str(&format!(" · max {}", duration(measured.max())));
    }
    spread
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Refused,
    Failed,
}

/// One request of the open loop.
struct Answer {
    index: usize,
    outcome: Outcome,
    /// When it was due, from the start.
    due: Duration,
    /// How long after it was due it was sent.
    late: Duration,
    /// From sending it to its whole answer.
    latency: Duration,
}

/// What workers of the open loop sent and got back.
#[derive(Default)]
struct Worked {
    answers: Vec<Answer>,
    /// The first few errors' messages, of the answers that [`Outcome::Failed`].
    error_samples: Vec<String>,
    reopened: usize,
}

impl Worked {
    fn add(&mut self, other: Worked) {
        self.answers.extend(other.answers);
        self.reopened += other.reopened;
        let room = ERRORS_SHOWN.saturating_sub(self.error_samples.len());
        self.error_samples.extend(other.error_samples.into_iter().take(room));
    }
}

struct OpenLoop {
    worked: Worked,
    connections: usize,
    /// From the start to the last answer.
    wall: Duration,
}

/// Sends `calls[i]` at `i / rate` seconds from the start, on the first of `connections` that is
/// free: each connection's worker takes the next slot once its request is answered, and waits
/// for the slot's time if it is early.
async fn open_loop(client: &Client, calls: Arc<Vec<Call>>, rate: f64, connections: usize) -> anyhow::Result<OpenLoop> {
    let connections = connections.min(calls.len());
    let mut pool = Vec::with_capacity(connections);
    for _ in 0..connections {
        pool.push(client.connect().await?);
    }
    let next = Arc::new(AtomicUsize::new(0));
    // Every worker is waiting for its first slot when the first is due.
    let start = Instant::now() + Duration::from_millis(100);
    let mut workers = JoinSet::new();
    for connection in pool {
        workers.spawn(work(client.clone(), connection, calls.clone(), next.clone(), start, rate));
    }
    let mut worked = Worked { answers: Vec::with_capacity(calls.len()), ..Worked::default() };
    // Returning early drops the JoinSet, which aborts the other workers.
    while let Some(worker) = workers.join_next().await {
        worked.add(worker??);
    }
    Ok(OpenLoop { worked, connections, wall: start.elapsed() })
}

async fn work(
    client: Client,
    mut connection: Connection,
    calls: Arc<Vec<Call>>,
    next: Arc<AtomicUsize>,
    start: Instant,
    rate: f64,
) -> anyhow::Result<Worked> {
    let mut worked = Worked::default();
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(call) = calls.get(index) else { return Ok(worked) };
        let due = Duration::from_secs_f64(index as f64 / rate);
        if start + due > Instant::now() {
            tokio::time::sleep_until((start + due).into()).await;
        }
        if connection.is_closed() {
            connection = client.connect().await.context("reopening a connection the server closed")?;
            worked.reopened += 1;
        }
        let sent = Instant::now();
        let answer = connection.send(call).await;
        let latency = sent.elapsed();
        let outcome = match answer.map_err(|error| format!("{error:#}")).and_then(|reply| judge(&reply)) {
            Ok(outcome) => outcome,
            Err(error) => {
                if worked.error_samples.len() < ERRORS_SHOWN {
                    worked.error_samples.push(error);
                }
                Outcome::Failed
            }
        };
        let late = sent.saturating_duration_since(start + due);
        worked.answers.push(Answer { index, outcome, due, late, latency });
    }
}

/// 201 is accepted; 503 `overloaded` with `Retry-After: 1` is refused; anything else is an error.
fn judge(reply: &Reply) -> Result<Outcome, String> {
    let body = || String::from_utf8_lossy(&reply.body).chars().take(200).collect::<String>();
    match reply.status {
        StatusCode::CREATED => Ok(Outcome::Accepted),
        StatusCode::SERVICE_UNAVAILABLE => {
            let answer: Value = serde_json::from_slice(&reply.body).unwrap_or_default();
            if answer["error"]["code"] != "overloaded" {
                return Err(format!("503 that is not `overloaded`: {}", body()));
            }
            match reply.headers.get(RETRY_AFTER) {
                Some(value) if value == RETRY_AFTER_OVERLOADED => Ok(Outcome::Refused),
                Some(value) => Err(format!("503 overloaded with Retry-After {value:?}, not {RETRY_AFTER_OVERLOADED}")),
                None => Err("503 overloaded without Retry-After".to_owned()),
            }
        }
        status => Err(format!("{status}: {}", body())),
    }
}

/// The prediction_ids stored under `model`, every page of the list.
async fn stored_ids(client: &Client, model: &str) -> anyhow::Result<Vec<String>> {
    let mut conn = client.connect().await?;
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut target = format!("{PREDICTIONS}?model_name={model}&limit=1000");
        if let Some(cursor) = &cursor {
            target.push_str(&format!("&cursor={cursor}"));
        }
        let page = conn.get_json(&target).await?;
        for item in page["items"].as_array().context("the list answer has no items")? {
            let id = item["prediction_id"].as_str().context("a listed prediction has no prediction_id")?;
            ids.push(id.to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(ids),
        }
    }
}

/// The figures of `/metrics` this benchmark reads.
struct Metrics {
    overloaded: f64,
    depth: f64,
    capacity: f64,
}

impl Metrics {
    /// On a connection of its own: the server closes one left idle for its header timeout.
    async fn read(client: &Client) -> anyhow::Result<Self> {
        Self::read_on(&mut client.connect().await?).await
    }

    async fn read_on(conn: &mut Connection) -> anyhow::Result<Self> {
        let text = conn.call(&Call::get("/metrics")?).await?;
        let text = std::str::from_utf8(&text).context("/metrics is not UTF-8")?;
        let value = |name: &str| -> anyhow::Result<f64> {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
                .with_context(|| format!("/metrics has no {name}"))
        };
        Ok(Self {
            overloaded: value("ml_audit_overloaded_total")?,
            depth: value("ml_audit_ingest_queue_events")?,
            capacity: value("ml_audit_ingest_queue_capacity_events")?,
        })
    }
}

/// Reads the writers' queue depth from /metrics on its own connection while the load runs.
struct DepthSampler {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<anyhow::Result<f64>>,
}

impl DepthSampler {
    async fn start(client: &Client) -> anyhow::Result<Self> {
        let mut conn = client.connect().await?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut largest: f64 = 0.0;
            let mut ticks = tokio::time::interval(DEPTH_SAMPLE);
            while !stopped.load(Ordering::Relaxed) {
                ticks.tick().await;
                largest = largest.max(Metrics::read_on(&mut conn).await.context("sampling the queue depth")?.depth);
            }
            Ok(largest)
        });
        Ok(Self { stop, task })
    }

    /// The largest depth sampled.
    async fn stop(self) -> anyhow::Result<f64> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await?
    }
}
