//! `ml-audit-bench http`: a real `ml-audit serve` on a fresh database, driven over loopback
//! HTTP/1.1 from this process — ingestion (single events at concurrency 1 and 32, batches,
//! explanations), a preload to a realistic size, sealing the ledger's backlog, then list
//! queries, lookups and the admin UI at that size, `ml-audit verify`, the server's memory and the
//! bytes stored per prediction. Any failed request or rejected event aborts the run: an error is never counted
//! as throughput.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context as _, bail, ensure};
use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::SET_COOKIE;
use ml_audit_core::timestamp;
use serde_json::{Value, json};

use crate::client::{self, Call, Client, PREDICTIONS, closed_loop, no_check};
use crate::events::{self, MODELS, OUTCOMES, Rng, TENANTS, VERSIONS};
use crate::report::{NO_TARGET, Report, duration, latency, mb, thousands, throughput};
use crate::server::{self, Backend, Database, Server, Targets, wait_until_healthy};

#[derive(clap::Args)]
pub struct Options {
    #[command(flatten)]
    targets: Targets,
    /// Small sizes everywhere, to try the tool in seconds.
    #[arg(long)]
    quick: bool,
    /// Predictions in the database before the read benchmarks; the ingestion phases count
    /// towards it [default: 1,000,000; 20,000 with --quick].
    #[arg(long, value_name = "N")]
    preload: Option<usize>,
    /// Single-event POSTs on one connection [default: 3,000; 300 with --quick].
    #[arg(long, value_name = "N")]
    ingest_c1: Option<usize>,
    /// Single-event POSTs on 32 connections [default: 40,000; 3,000 with --quick].
    #[arg(long, value_name = "N")]
    ingest_c32: Option<usize>,
    /// Events sent in batches of 500 [default: 50,000; 5,000 with --quick].
    #[arg(long, value_name = "N")]
    batch_events: Option<usize>,
    /// Explanations attached on 32 connections [default: 10,000; 1,000 with --quick].
    #[arg(long, value_name = "N")]
    explanations: Option<usize>,
    /// Outcomes sent in batches of 500 on one connection, timed against the predictions'
    /// batches [default: 50,000; 5,000 with --quick].
    #[arg(long, value_name = "N")]
    outcome_batch: Option<usize>,
    /// Outcomes loaded after the preload, so that the outcome filters run at a realistic density
    /// (three predictions in ten have one) [default: 300,000; 6,000 with --quick].
    #[arg(long, value_name = "N")]
    outcome_load: Option<usize>,
    /// Reviews on 32 connections (one in three an override, one in ten an escalation)
    /// [default: 10,000; 300 with --quick].
    #[arg(long, value_name = "N")]
    reviews: Option<usize>,
    /// Requests per list query [default: 200; 30 with --quick].
    #[arg(long, value_name = "N")]
    list_requests: Option<usize>,
    /// Lookups by id, and as many by prediction_id [default: 2,000; 200 with --quick].
    #[arg(long, value_name = "N")]
    lookups: Option<usize>,
    /// Requests per admin UI page [default: 50; 10 with --quick].
    #[arg(long, value_name = "N")]
    ui_requests: Option<usize>,
    /// Leave the planner's statistics as the preload left them (no `ANALYZE` afterwards), to
    /// measure a server the way it ran before it refreshed them.
    #[arg(long)]
    no_refresh_statistics: bool,
}

struct Sizes {
    preload: usize,
    ingest_c1: usize,
    ingest_c32: usize,
    batch_events: usize,
    explanations: usize,
    outcome_batch: usize,
    outcome_load: usize,
    reviews: usize,
    list_requests: usize,
    lookups: usize,
    ui_requests: usize,
    refresh_statistics: bool,
}

impl Sizes {
    fn new(o: &Options) -> Self {
        let pick =
            |given: Option<usize>, full: usize, quick: usize| given.unwrap_or(if o.quick { quick } else { full });
        Self {
            preload: pick(o.preload, 1_000_000, 20_000),
            ingest_c1: pick(o.ingest_c1, 3_000, 300),
            ingest_c32: pick(o.ingest_c32, 40_000, 3_000),
            batch_events: pick(o.batch_events, 50_000, 5_000),
            explanations: pick(o.explanations, 10_000, 1_000),
            outcome_batch: pick(o.outcome_batch, 50_000, 5_000),
            outcome_load: pick(o.outcome_load, 300_000, 6_000),
            reviews: pick(o.reviews, 10_000, 300),
            list_requests: pick(o.list_requests, 200, 30),
            lookups: pick(o.lookups, 2_000, 200),
            ui_requests: pick(o.ui_requests, 50, 10),
            refresh_statistics: !o.no_refresh_statistics,
        }
    }
}

const BATCH: usize = 500;
/// Batches in flight during the preload: enough to keep the server's writer busy while the
/// next batches are parsed.
const PRELOAD_IN_FLIGHT: usize = 4;
const PRELOAD_DAYS: i64 = 30;
/// Pages followed (at the default 50 per page) to get the deep page's cursor.
const DEEP_PAGES: usize = 100;
/// Recorded predictions whose trace ids the trace lookups ask for.
const TRACE_SAMPLES: usize = 40;
/// One in this many recorded ids is kept for the lookups and the UI's detail page.
const ID_SAMPLE_STRIDE: usize = 25;
/// The i-th request's target (path and query), so that requests of one kind can vary.
type Varied = Box<dyn Fn(usize) -> String + Send + Sync>;

const UI_TARGET: &str = "p95 < 100 ms";
/// The goal `ml-audit-bench ledger` measures verify against.
const VERIFY_TARGET: &str = "≥ 500,000 leaves/s";

pub async fn run(options: Options) -> anyhow::Result<()> {
    let sizes = Sizes::new(&options);
    options
        .targets
        .each_backend("http", async |bin, backend, db| Ok((measure(bin, backend, db, &sizes).await?, ())))
        .await?;
    Ok(())
}

/// The state the phases share: the server, the client, what has been recorded so far.
pub(crate) struct Bench<'a> {
    server: &'a Server,
    client: Client,
    pub(crate) report: Report,
    /// Events are numbered 0, 1, … in the order they are sent; each has prediction_id
    /// `bench-{n:012}`.
    recorded: usize,
    explanations: usize,
    /// Outcomes and reviews recorded (each a leaf).
    follow_ups: usize,
    /// A sample of the recorded predictions' ids, from the batch answers.
    ids: Arc<Mutex<Vec<String>>>,
}

impl<'a> Bench<'a> {
    /// Nothing recorded yet, on a server that answers.
    pub(crate) fn new(server: &'a Server, client: Client) -> Self {
        Self {
            server,
            client,
            report: Report::default(),
            recorded: 0,
            explanations: 0,
            follow_ups: 0,
            ids: Arc::default(),
        }
    }
}

async fn measure(bin: &Path, backend: Backend, db: &Database, sizes: &Sizes) -> anyhow::Result<Report> {
    let key = server::create_key(bin, db).await?;
    let server = Server::start(bin, db).await?;
    let client = Client::with_key(server.addr, &key)?;
    wait_until_healthy(&client).await?;
    let mut bench = Bench::new(&server, client);

    bench.single_events(1, sizes.ingest_c1).await?;
    bench.single_events(32, sizes.ingest_c32).await?;
    bench.batches(sizes.batch_events).await?;
    bench.attach_explanations(32, sizes.explanations).await?;
    bench.preload(sizes.preload).await?;
    bench.outcome_batches(sizes.outcome_batch).await?;
    bench.outcome_load(sizes.outcome_load).await?;
    bench.reviews(32, sizes.reviews).await?;
    bench.statistics(db, sizes.refresh_statistics).await?;
    // Sealed before the reads, so that they do not compete with the sealer's backlog and the
    // UI's running totals count every prediction.
    bench.seal().await?;
    bench.list_queries(sizes.list_requests).await?;
    bench.lookups(sizes.lookups).await?;
    bench.ui_pages(&key, sizes.ui_requests).await?;

    let written = bench.leaves_written();
    let sample: Vec<String> = bench.ids.lock().expect("no holder panics").iter().take(sizes.lookups).cloned().collect();
    let Bench { mut report, recorded, .. } = bench;
    let peak = server.memory()?.peak;
    server.stop().await?;
    let run = server::verify(bin, db).await?;
    ensure!(
        run.leaves - run.access == written,
        "`ml-audit verify` checked {} leaves ({} access entries), the benchmark wrote {written} records",
        run.leaves,
        run.access
    );
    report.row(
        format!("`ml-audit verify` ({} leaves)", thousands(run.leaves as f64)),
        format!(
            "{} leaves/s ({:.1} s); {} leaves per CPU-second ({:.1} s of CPU)",
            thousands(run.leaves as f64 / run.elapsed.as_secs_f64()),
            run.elapsed.as_secs_f64(),
            thousands(run.leaves as f64 / run.cpu.as_secs_f64()),
            run.cpu.as_secs_f64()
        ),
        VERIFY_TARGET,
    );
    report.row("server peak RSS (VmHWM)", mb(peak), "< 150 MB");
    access_log_cost(bin, db, &key, &sample, sizes, &mut report).await?;
    let bytes = db.size_bytes().await?;
    report.row(
        "storage per prediction (explanations and ledger included)",
        format!(
            "{} bytes ({} for {} predictions)",
            thousands(bytes as f64 / recorded as f64),
            mb(bytes),
            thousands(recorded as f64)
        ),
        "≤ 1,536 bytes",
    );
    Ok(report.titled(format!(
        "ml-audit HTTP benchmark — {} backend, {} predictions",
        backend.name(),
        thousands(recorded as f64)
    )))
}

/// Reads with the access log on against the same reads with it off, on the same database:
/// servers started in turn (off, on, off, on), each timing the first page of the list and
/// lookups by id on one connection; the median of each pair of rounds is compared.
async fn access_log_cost(
    bin: &Path,
    db: &Database,
    key: &str,
    ids: &[String],
    sizes: &Sizes,
    report: &mut Report,
) -> anyhow::Result<()> {
    ensure!(!ids.is_empty(), "no prediction ids were sampled");
    // (setting, first page p50 and p95, lookup p50 and p95), in ms.
    let mut rounds: Vec<(bool, [f64; 4])> = Vec::new();
    for enabled in [false, true, false, true] {
        let setting = [("ML_AUDIT_SERVER_ACCESS_LOG".to_owned(), enabled.to_string())];
        let server = Server::start_with(bin, db, &setting).await?;
        let client = Client::with_key(server.addr, key)?;
        wait_until_healthy(&client).await?;
        let page = |_| Call::get(&format!("{PREDICTIONS}?limit=50"));
        // Warm the caches the way the measured requests will use them.
        client::run(&client, 1, 50, page, no_check).await?;
        let listed = client::run(&client, 1, sizes.list_requests * 2, page, check_listed).await?;
        let calls = (0..sizes.lookups)
            .map(|i| Call::get(&format!("{PREDICTIONS}/{}", ids[i % ids.len()])))
            .collect::<Result<Vec<_>, _>>()?;
        let looked = closed_loop(&client, 1, calls, no_check).await?;
        server.stop().await?;
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        rounds.push((
            enabled,
            [
                ms(listed.percentile(0.5)),
                ms(listed.percentile(0.95)),
                ms(looked.percentile(0.5)),
                ms(looked.percentile(0.95)),
            ],
        ));
    }
    let mean = |on: bool, at: usize| {
        let picked: Vec<f64> = rounds.iter().filter(|(e, _)| *e == on).map(|(_, v)| v[at]).collect();
        picked.iter().sum::<f64>() / picked.len() as f64
    };
    for (name, at) in
        [("first page (limit 50) p50", 0), ("first page p95", 1), ("lookup by id p50", 2), ("lookup by id p95", 3)]
    {
        let (off, on) = (mean(false, at), mean(true, at));
        report.row(
            format!("access log cost: GET /predictions {name}"),
            format!("{on:.2} ms on, {off:.2} ms off ({:+.1}%)", (on / off - 1.0) * 100.0),
            "on within 10% of off",
        );
    }
    Ok(())
}

/// Every event of a batch must be recorded (201, or 200 for an identical retry); a sample of
/// the new ids is kept.
fn check_batch(body: &Bytes, events: usize, ids: &Mutex<Vec<String>>) -> anyhow::Result<()> {
    let answer: Value = serde_json::from_slice(body).context("the batch answer is not JSON")?;
    let results = answer["results"].as_array().context("the batch answer has no results")?;
    ensure!(results.len() == events, "{} results for {events} events", results.len());
    if let Some(rejected) = results.iter().find(|r| !r["status"].as_u64().is_some_and(|s| (200..300).contains(&s))) {
        bail!("an event of the batch was rejected: {rejected}");
    }
    let mut ids = ids.lock().expect("no holder panics");
    ids.extend(results.iter().step_by(ID_SAMPLE_STRIDE).filter_map(|r| r["id"].as_str().map(str::to_owned)));
    Ok(())
}

/// A list answer must hold predictions: a query that matches nothing would measure nothing.
fn check_listed(_: usize, body: &Bytes) -> anyhow::Result<()> {
    let answer: Value = serde_json::from_slice(body).context("the list answer is not JSON")?;
    let items = answer["items"].as_array().context("the list answer has no items")?;
    ensure!(!items.is_empty(), "the query matched no prediction");
    Ok(())
}

fn batch_body(events: Vec<Value>) -> anyhow::Result<Bytes> {
    Ok(serde_json::to_vec(&json!({ "events": events }))?.into())
}

impl Bench<'_> {
    /// Single-event `POST /api/v1/predictions`: requests/s and latency.
    async fn single_events(&mut self, concurrency: usize, count: usize) -> anyhow::Result<()> {
        let calls = client::single_event_calls(self.recorded as u64 + 1, self.recorded..self.recorded + count)?;
        let before = self.server.memory()?;
        let started = Instant::now();
        let measured = closed_loop(&self.client, concurrency, calls, no_check)
            .await
            .with_context(|| format!("single-event ingest on {concurrency} connections"))?;
        let after = self.server.memory()?;
        self.recorded += count;
        self.report.row(
            format!(
                "POST /predictions, {concurrency} connection{}, {} events",
                if concurrency == 1 { "" } else { "s" },
                thousands(count as f64)
            ),
            throughput(&measured, "req/s"),
            if concurrency == 32 { "≥ 15,000 req/s (SQLite), p99 < 10 ms" } else { NO_TARGET },
        );
        if concurrency > 1 {
            self.rss_row(&format!("single-event ingest on {concurrency} connections"), before, after, started);
        }
        Ok(())
    }

    /// `POST /api/v1/predictions/batch`, one batch in flight: events/s.
    async fn batches(&mut self, count: usize) -> anyhow::Result<()> {
        let mut rng = Rng::new(2);
        let first = self.recorded;
        let calls = (first..first + count)
            .step_by(BATCH)
            .map(|start| {
                let events = (start..(start + BATCH).min(first + count)).map(|n| events::event(&mut rng, n as u64));
                Call::post_json(&format!("{PREDICTIONS}/batch"), batch_body(events.collect())?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let ids = self.ids.clone();
        let measured =
            closed_loop(&self.client, 1, calls, move |i, body| check_batch(body, (count - i * BATCH).min(BATCH), &ids))
                .await
                .context("batch ingest")?;
        self.recorded += count;
        self.report.row(
            format!("POST /predictions/batch, {BATCH} per batch, 1 connection, {} events", thousands(count as f64)),
            format!(
                "{} events/s · per batch p50 {} · p99 {}",
                thousands(count as f64 / measured.wall.as_secs_f64()),
                duration(measured.percentile(0.50)),
                duration(measured.percentile(0.99))
            ),
            "≥ 50,000 events/s",
        );
        Ok(())
    }

    /// `POST /api/v1/predictions/{ref}/explanation` on the predictions recorded so far, by
    /// prediction_id, each at most once while there are enough of them.
    async fn attach_explanations(&mut self, concurrency: usize, count: usize) -> anyhow::Result<()> {
        let targets = self.recorded;
        ensure!(targets > 0, "explanations need predictions to attach to");
        let mut rng = Rng::new(3);
        let calls = (0..count)
            .map(|i| {
                let body = json!({
                    "method": "shap", "method_version": "0.46",
                    "payload": {"amount": rng.unit() - 0.5, "velocity_score": rng.unit() - 0.5,
                                "account_age_days": rng.unit() - 0.5},
                    "summary_text": "Re-explained with the new background set.",
                });
                let target = format!("{PREDICTIONS}/bench-{:012}/explanation", i % targets);
                Call::post_json(&target, serde_json::to_vec(&body)?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let measured = closed_loop(&self.client, concurrency, calls, no_check)
            .await
            .with_context(|| format!("explanation attach on {concurrency} connections"))?;
        self.explanations += count;
        self.report.row(
            format!("POST /predictions/{{ref}}/explanation, {concurrency} connections, {}", thousands(count as f64)),
            throughput(&measured, "req/s"),
            NO_TARGET,
        );
        Ok(())
    }

    /// Fills the database up to `total` predictions through the batch endpoint as fast as it
    /// goes, with timestamps spread evenly over the last 30 days, oldest first.
    pub(crate) async fn preload(&mut self, total: usize) -> anyhow::Result<()> {
        let first = self.recorded;
        if total <= first {
            self.report.row(
                "preload",
                format!("none: the ingestion phases wrote {}", thousands(first as f64)),
                NO_TARGET,
            );
            return Ok(());
        }
        let count = total - first;
        let span = PRELOAD_DAYS * 24 * 3600 * 1_000_000;
        let oldest = timestamp::to_unix_micros(timestamp::now()) - span;
        // Built while sending (a million bodies would take a gigabyte), each batch from its
        // own seed so the workers need not share a generator.
        let make = move |batch: usize| {
            // Neighbouring small seeds would start xorshift on similar values: spread them.
            let mut rng = Rng::new((batch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let start = first + batch * BATCH;
            let events = (start..(start + BATCH).min(total))
                .map(|n| {
                    let micros = oldest + (((n - first) as i128 * span as i128) / count as i128) as i64;
                    let at = timestamp::from_unix_micros(micros).context("a timestamp in range")?;
                    let mut event = events::event(&mut rng, n as u64);
                    event["timestamp"] = Value::String(timestamp::format_rfc3339(at));
                    Ok(event)
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            Call::post_json(&format!("{PREDICTIONS}/batch"), batch_body(events)?)
        };
        let batches = count.div_ceil(BATCH);
        let done = AtomicUsize::new(0);
        let ids = self.ids.clone();
        let check = move |batch: usize, body: &Bytes| {
            check_batch(body, (count - batch * BATCH).min(BATCH), &ids)?;
            let done = done.fetch_add(1, Ordering::Relaxed) + 1;
            if done.is_multiple_of((batches / 10).max(1)) {
                eprintln!(
                    "  preload: {}/{} events",
                    thousands((done * BATCH).min(count) as f64),
                    thousands(count as f64)
                );
            }
            Ok(())
        };
        let before = self.server.memory()?;
        let started = Instant::now();
        let measured = client::run(&self.client, PRELOAD_IN_FLIGHT, batches, make, check).await.context("preload")?;
        let after = self.server.memory()?;
        self.recorded = total;
        self.report.row(
            format!(
                "preload to {} predictions ({BATCH} per batch, {PRELOAD_IN_FLIGHT} in flight, {PRELOAD_DAYS} days of timestamps)",
                thousands(total as f64)
            ),
            format!(
                "{} events/s ({} events in {:.0} s)",
                thousands(count as f64 / measured.wall.as_secs_f64()),
                thousands(count as f64),
                measured.wall.as_secs_f64()
            ),
            NO_TARGET,
        );
        self.rss_row("preload", before, after, started);
        Ok(())
    }

    /// What `ml-audit demo` does after its load (autovacuum would, later): PostgreSQL's planner
    /// chooses the list's indexes by statistics a bulk load leaves behind.
    async fn statistics(&mut self, db: &Database, refresh: bool) -> anyhow::Result<()> {
        if let Some((autovacuum, analyses, changed, rows)) = db.autoanalyze().await? {
            self.report.row(
                "autovacuum during the preload (predictions)",
                format!(
                    "autovacuum {autovacuum}: analysed {analyses} times; {} of {} rows changed since the last ({:.1}%)",
                    thousands(changed as f64),
                    thousands(rows as f64),
                    100.0 * changed as f64 / rows.max(1) as f64
                ),
                NO_TARGET,
            );
        }
        if !refresh {
            self.report.row(
                "refresh the planner's statistics after the preload",
                "not done (--no-refresh-statistics)",
                NO_TARGET,
            );
            return Ok(());
        }
        let started = Instant::now();
        server::open_store(&db.url).await?.refresh_statistics().await?;
        self.report.row("refresh the planner's statistics after the preload", duration(started.elapsed()), NO_TARGET);
        Ok(())
    }

    /// `GET /api/v1/predictions` with the filters a user combines, each request on its own
    /// (one connection), parameters varied between requests where they can be.
    async fn list_queries(&mut self, requests: usize) -> anyhow::Result<()> {
        let mut conn = self.client.connect().await?;
        let mut cursor = None;
        let mut depth = 0;
        while depth < DEEP_PAGES {
            let target = match &cursor {
                Some(cursor) => format!("{PREDICTIONS}?cursor={cursor}"),
                None => PREDICTIONS.to_owned(),
            };
            match conn.get_json(&target).await?["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
            depth += 1;
        }
        let cursor = cursor.context("the first page has no next page: too few predictions for the list queries")?;

        // Trace ids of recorded predictions and their tenants, read back as a client has them.
        let mut traces = Vec::new();
        for id in self.sample_ids(&mut Rng::new(6), TRACE_SAMPLES)? {
            let prediction = conn.get_json(&format!("{PREDICTIONS}/{id}")).await?;
            let text =
                |value: &Value| value.as_str().map(str::to_owned).context("a prediction without trace or tenant");
            traces.push((text(&prediction["trace_id"])?, text(&prediction["actor"]["tenant_id"])?));
        }
        let traces = Arc::new(traces);

        let now = timestamp::to_unix_micros(timestamp::now());
        let since = |days: i64| -> anyhow::Result<String> {
            let at = timestamp::from_unix_micros(now - days * 24 * 3600 * 1_000_000).context("a time in range")?;
            Ok(timestamp::format_rfc3339(at))
        };
        let (day, week) = (since(1)?, since(7)?);
        let week_outcomes = week.clone();
        // The i-th request's tenant, user, … : every request of a kind asks for another value.
        let tenant = |i: usize| TENANTS[i % TENANTS.len()];
        let user = |i: usize| (i * 7919) % events::USERS;
        let model = |i: usize| MODELS[i % MODELS.len()];
        let outcome = |i: usize| OUTCOMES[i / TENANTS.len() % OUTCOMES.len()];
        let traces_alone = traces.clone();
        let day_for_model = day.clone();
        let queries: Vec<(String, Varied)> = vec![
            ("first page".into(), Box::new(|_| PREDICTIONS.into())),
            (format!("page {} (cursor)", depth + 1), Box::new(move |_| format!("{PREDICTIONS}?cursor={cursor}"))),
            ("last 24 h".into(), Box::new(move |_| format!("{PREDICTIONS}?time_from={day}"))),
            ("tenant_id".into(), Box::new(move |i| format!("{PREDICTIONS}?tenant_id={}", tenant(i)))),
            ("model_name".into(), Box::new(move |i| format!("{PREDICTIONS}?model_name={}", model(i)))),
            (
                "model_version".into(),
                Box::new(|i| format!("{PREDICTIONS}?model_version={}", VERSIONS[i % VERSIONS.len()])),
            ),
            ("actor_type".into(), Box::new(|_| format!("{PREDICTIONS}?actor_type=user"))),
            ("actor_id".into(), Box::new(move |i| format!("{PREDICTIONS}?actor_id={}", user(i)))),
            ("decision_outcome".into(), Box::new(move |i| format!("{PREDICTIONS}?decision_outcome={}", outcome(i)))),
            ("environment".into(), Box::new(|_| format!("{PREDICTIONS}?environment=prod"))),
            ("status=failed (1 in 97)".into(), Box::new(|_| format!("{PREDICTIONS}?status=failed"))),
            (
                "min_confidence 0.90–0.95, max_confidence 1".into(),
                Box::new(|i| {
                    format!("{PREDICTIONS}?min_confidence={:.3}&max_confidence=1", 0.9 + (i % 10) as f64 * 0.005)
                }),
            ),
            ("has_explanation=true".into(), Box::new(|_| format!("{PREDICTIONS}?has_explanation=true"))),
            ("has_explanation=false".into(), Box::new(|_| format!("{PREDICTIONS}?has_explanation=false"))),
            (
                "trace_id".into(),
                Box::new(move |i| format!("{PREDICTIONS}?trace_id={}", traces_alone[i % traces_alone.len()].0)),
            ),
            (
                "model_name + last 24 h".into(),
                Box::new(move |i| format!("{PREDICTIONS}?model_name={}&time_from={day_for_model}", model(i))),
            ),
            (
                "tenant_id + decision_outcome".into(),
                Box::new(move |i| format!("{PREDICTIONS}?tenant_id={}&decision_outcome={}", tenant(i), outcome(i))),
            ),
            (
                "tenant_id + status=failed".into(),
                Box::new(move |i| format!("{PREDICTIONS}?tenant_id={}&status=failed", tenant(i))),
            ),
            (
                "tenant_id + actor_id".into(),
                Box::new(move |i| format!("{PREDICTIONS}?tenant_id={}&actor_id={}", tenant(user(i)), user(i))),
            ),
            (
                "tenant_id + trace_id".into(),
                Box::new(move |i| {
                    let (trace, tenant) = &traces[i % traces.len()];
                    format!("{PREDICTIONS}?tenant_id={tenant}&trace_id={trace}")
                }),
            ),
            ("has_outcome=true".into(), Box::new(|_| format!("{PREDICTIONS}?has_outcome=true"))),
            ("has_outcome=false".into(), Box::new(|_| format!("{PREDICTIONS}?has_outcome=false"))),
            (
                "outcome_label=fraud (1 in 17 outcomes)".into(),
                Box::new(|_| format!("{PREDICTIONS}?outcome_label=fraud")),
            ),
            ("outcome_label=approved".into(), Box::new(|_| format!("{PREDICTIONS}?outcome_label=approved"))),
            ("reviewed=true".into(), Box::new(|_| format!("{PREDICTIONS}?reviewed=true"))),
            ("reviewed=false".into(), Box::new(|_| format!("{PREDICTIONS}?reviewed=false"))),
            ("overridden=true".into(), Box::new(|_| format!("{PREDICTIONS}?overridden=true"))),
            (
                "final_decision=declined (overrides only)".into(),
                Box::new(|_| format!("{PREDICTIONS}?final_decision=declined")),
            ),
            ("final_decision=flagged".into(), Box::new(|_| format!("{PREDICTIONS}?final_decision=flagged"))),
            ("review_state=pending_second".into(), Box::new(|_| format!("{PREDICTIONS}?review_state=pending_second"))),
            ("review_state=none".into(), Box::new(|_| format!("{PREDICTIONS}?review_state=none"))),
            (
                "tenant_id + outcome_label=fraud".into(),
                Box::new(move |i| format!("{PREDICTIONS}?tenant_id={}&outcome_label=fraud", tenant(i))),
            ),
            (
                "model_name + overridden=true".into(),
                Box::new(move |i| format!("{PREDICTIONS}?model_name={}&overridden=true", model(i))),
            ),
            (
                "tenant_id + has_outcome=true + 7 days".into(),
                Box::new(move |i| {
                    format!("{PREDICTIONS}?tenant_id={}&has_outcome=true&time_from={week_outcomes}", tenant(i))
                }),
            ),
            (
                "model_name + model_version + tenant_id + 7 days".into(),
                Box::new(move |i| {
                    format!(
                        "{PREDICTIONS}?model_name={}&model_version={}&tenant_id={}&time_from={week}",
                        model(i),
                        VERSIONS[i / MODELS.len() % VERSIONS.len()],
                        tenant(i)
                    )
                }),
            ),
        ];
        for (name, target) in queries {
            let measured = client::run(&self.client, 1, requests, move |i| Call::get(&target(i)), check_listed)
                .await
                .with_context(|| format!("list query: {name}"))?;
            self.report.row(format!("GET /predictions: {name}"), latency(&measured, &[50, 95, 99]), "p95 < 20 ms");
        }
        Ok(())
    }

    /// `GET /api/v1/predictions/{ref}` of random predictions, by id and by prediction_id.
    async fn lookups(&mut self, count: usize) -> anyhow::Result<()> {
        let mut rng = Rng::new(4);
        let by_id = self.sample_ids(&mut rng, count)?;
        let by_prediction_id: Vec<_> =
            (0..count).map(|_| format!("bench-{:012}", rng.below(self.recorded as u64))).collect();
        for (name, refs) in [("id", by_id), ("prediction_id", by_prediction_id)] {
            let calls = refs.iter().map(|r| Call::get(&format!("{PREDICTIONS}/{r}"))).collect::<Result<_, _>>()?;
            let measured =
                closed_loop(&self.client, 1, calls, no_check).await.with_context(|| format!("lookups by {name}"))?;
            self.report.row(
                format!("GET /predictions/{{{name}}}, random of all"),
                latency(&measured, &[50, 99]),
                NO_TARGET,
            );
        }
        Ok(())
    }

    /// The admin UI's pages, logged in through its form as a person would be.
    async fn ui_pages(&mut self, key: &str, requests: usize) -> anyhow::Result<()> {
        let login = Call::post_form("/login", format!("key={key}&next=/"))?;
        let reply = self.client.connect().await?.send(&login).await?;
        ensure!(reply.status == StatusCode::SEE_OTHER, "POST /login answered {}", reply.status);
        let cookie = reply
            .headers
            .get(SET_COOKIE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .filter(|pair| pair.starts_with("mla_session="))
            .context("POST /login set no session cookie")?;
        let ui = self.client.with_cookie(cookie)?;
        let details: Vec<_> = self.sample_ids(&mut Rng::new(5), requests)?;
        let pages: [(&str, Varied); 6] = [
            ("overview, 30-day window (/?window=30d)", Box::new(|_| "/?window=30d".into())),
            ("predictions list (/predictions)", Box::new(|_| "/predictions".into())),
            ("prediction detail (/predictions/{id})", Box::new(move |i| format!("/predictions/{}", details[i]))),
            ("models (/models)", Box::new(|_| "/models".into())),
            ("tenants (/tenants)", Box::new(|_| "/tenants".into())),
            ("actors (/actors)", Box::new(|_| "/actors".into())),
        ];
        for (name, page) in pages {
            let measured = client::run(&ui, 1, requests, move |i| Call::get(&page(i)), no_check)
                .await
                .with_context(|| format!("UI page: {name}"))?;
            self.report.row(format!("UI {name}"), latency(&measured, &[50, 95]), UI_TARGET);
        }
        Ok(())
    }

    /// Every prediction, every inline explanation (one event in four) and every attached one
    /// is a leaf of the ledger.
    fn leaves_written(&self) -> u64 {
        events::leaves(self.recorded) + (self.explanations + self.follow_ups) as u64
    }

    /// The outcome of prediction `n`: one of the decisions' labels (one in 17 `fraud`), and a
    /// value, 1 for a label that is not `approved`.
    fn outcome_of(n: usize) -> Value {
        let label = if n.is_multiple_of(17) { "fraud" } else { OUTCOMES[n % OUTCOMES.len()] };
        json!({"prediction_id": format!("bench-{n:012}"), "label": label, "value": u8::from(label != "approved"),
               "source": "bench", "metadata": {"case": format!("c-{n}")}})
    }

    /// `POST /api/v1/outcomes/batch` for the predictions `n` that `pick(i)` names, `count` of
    /// them, `in_flight` batches at once: events/s.
    async fn send_outcomes(
        &mut self,
        count: usize,
        in_flight: usize,
        pick: impl Fn(usize) -> usize + Send + Sync + 'static,
    ) -> anyhow::Result<client::Measured> {
        let make = move |batch: usize| {
            let items: Vec<Value> =
                (batch * BATCH..((batch + 1) * BATCH).min(count)).map(|i| Self::outcome_of(pick(i))).collect();
            Call::post_json("/api/v1/outcomes/batch", serde_json::to_vec(&json!({ "outcomes": items }))?)
        };
        let check = move |batch: usize, body: &Bytes| {
            let answer: Value = serde_json::from_slice(body).context("the batch answer is not JSON")?;
            let results = answer["results"].as_array().context("the batch answer has no results")?;
            ensure!(results.len() == (count - batch * BATCH).min(BATCH), "{} results", results.len());
            if let Some(bad) = results.iter().find(|r| r["status"] != 201) {
                bail!("an outcome of the batch was not recorded: {bad}");
            }
            Ok(())
        };
        let measured = client::run(&self.client, in_flight, count.div_ceil(BATCH), make, check).await?;
        self.follow_ups += count;
        Ok(measured)
    }

    /// Outcomes in batches of 500 on one connection, as the predictions' batches were sent, for
    /// one prediction in 20: events/s next to theirs.
    async fn outcome_batches(&mut self, count: usize) -> anyhow::Result<()> {
        let recorded = self.recorded;
        ensure!(count * 20 <= recorded, "{count} outcomes need {} predictions", count * 20);
        let measured = self.send_outcomes(count, 1, |i| i * 20).await.context("outcome batches")?;
        self.report.row(
            format!("POST /outcomes/batch, {BATCH} per batch, 1 connection, {} outcomes", thousands(count as f64)),
            format!(
                "{} outcomes/s · per batch p50 {} · p99 {}",
                thousands(count as f64 / measured.wall.as_secs_f64()),
                duration(measured.percentile(0.50)),
                duration(measured.percentile(0.99))
            ),
            "≥ the predictions' batch rate above",
        );
        Ok(())
    }

    /// Outcomes for three predictions in ten (those whose `n % 10` is 1, 2 or 3), four batches
    /// in flight, so that the outcome filters run at a realistic density.
    async fn outcome_load(&mut self, count: usize) -> anyhow::Result<()> {
        ensure!(count * 10 / 3 <= self.recorded, "{count} outcomes need more predictions");
        let measured =
            self.send_outcomes(count, PRELOAD_IN_FLIGHT, |i| i / 3 * 10 + 1 + i % 3).await.context("outcome load")?;
        self.report.row(
            format!(
                "outcome load ({BATCH} per batch, {PRELOAD_IN_FLIGHT} in flight), {} outcomes",
                thousands(count as f64)
            ),
            format!("{} outcomes/s", thousands(count as f64 / measured.wall.as_secs_f64())),
            NO_TARGET,
        );
        Ok(())
    }

    /// `POST /api/v1/predictions/{ref}/reviews` for one prediction in 100: one in three an
    /// override to `declined`, one in ten an escalation, the rest confirmations.
    async fn reviews(&mut self, concurrency: usize, count: usize) -> anyhow::Result<()> {
        ensure!(count * 100 <= self.recorded, "{count} reviews need {} predictions", count * 100);
        let calls = (0..count)
            .map(|i| {
                let body = match i % 30 {
                    k if k % 3 == 0 => {
                        json!({"reviewer": {"reviewer_id": format!("r-{}", i % 7)}, "action": "override",
                                              "final_decision": "declined", "reason_codes": ["R1"], "comment": "bench"})
                    }
                    1 | 11 | 21 => json!({"reviewer": {"reviewer_id": "r-9"}, "action": "escalate"}),
                    _ => json!({"reviewer": {"reviewer_id": format!("r-{}", i % 7)}, "action": "confirm"}),
                };
                // Near one prediction in 100, shifted so that each kind of review falls on both models.
                let target = i * 100 + 5 + i / 3 % 3;
                Call::post_json(&format!("{PREDICTIONS}/bench-{target:012}/reviews"), serde_json::to_vec(&body)?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let measured = closed_loop(&self.client, concurrency, calls, no_check).await.context("reviews")?;
        self.follow_ups += count;
        self.report.row(
            format!("POST /predictions/{{ref}}/reviews, {concurrency} connections, {}", thousands(count as f64)),
            throughput(&measured, "req/s"),
            NO_TARGET,
        );
        Ok(())
    }

    /// Seals the backlog until the checkpoint covers every leaf written. One POST should do;
    /// more means a checkpoint left part of the backlog out, which the row shows.
    pub(crate) async fn seal(&mut self) -> anyhow::Result<()> {
        let written = self.leaves_written();
        let (took, posts) = server::seal(&self.client, written).await?;
        self.report.row(
            format!(
                "seal the backlog: POST /ledger/checkpoint until it covers all {} leaves",
                thousands(written as f64)
            ),
            format!("{} ({posts} POST{})", duration(took), if posts == 1 { "" } else { "s" }),
            NO_TARGET,
        );
        Ok(())
    }

    /// `count` random ids from the sample of recorded ones.
    fn sample_ids(&self, rng: &mut Rng, count: usize) -> anyhow::Result<Vec<String>> {
        let ids = self.ids.lock().expect("no holder panics");
        ensure!(!ids.is_empty(), "no prediction ids were collected from the batch answers");
        Ok((0..count).map(|_| ids[rng.below(ids.len() as u64) as usize].clone()).collect())
    }

    /// The server's RSS at the start and end of a phase, and the largest sample in between.
    fn rss_row(&mut self, phase: &str, before: server::Memory, after: server::Memory, started: Instant) {
        let samples = self.server.rss_samples(started, Instant::now());
        let largest = samples.iter().copied().chain([before.rss, after.rss]).max().unwrap_or(after.rss);
        self.report.row(
            format!("server RSS during {phase}: start → end (largest 1 s sample)"),
            format!("{} → {} ({})", mb(before.rss), mb(after.rss), mb(largest)),
            "< 150 MB, flat",
        );
        // At most about 30 figures, so a long phase still fits on a line.
        let step = samples.len().div_ceil(30).max(1);
        let series: Vec<_> =
            samples.iter().step_by(step).map(|rss| format!("{:.0}", *rss as f64 / (1024.0 * 1024.0))).collect();
        self.report.note(format!("Server RSS every {step} s during {phase} (MB): {}", series.join(", ")));
    }
}
