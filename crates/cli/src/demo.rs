//! `ml-audit demo`: a server on a database filled with realistic sample predictions, so that a
//! newcomer sees the UI working in one step.
//!
//! The data is generated from a fixed seed (the same predictions every run, placed in the 30
//! days before now) and recorded through the normal write path: parsed, redacted and prepared
//! by the core, stored in batches, queued for the ledger. Two models: a fraud detector
//! (sklearn) and a credit-risk model (xgboost) whose version 2.0.0 is rolled out halfway
//! through the window; three tenants; users, services and a batch job; SHAP explanations on
//! most predictions (a few re-explained as a second revision); some failed and partial ones;
//! emails and phone numbers in the raw features, which redaction masks.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use ml_audit_core::auth::{KeyScope, Visibility, issue_key};
use ml_audit_core::event::{PredictionInput, parse_explanation};
use ml_audit_core::outcome::OutcomeInput;
use ml_audit_core::query::{PageRequest, PredictionFilter};
use ml_audit_core::redaction::RedactionPolicy;
use ml_audit_core::review::{ReviewInput, ReviewPolicy};
use ml_audit_core::timestamp::{self, format_rfc3339, from_unix_micros, to_unix_micros};
use ml_audit_ledger::key::LedgerKey;
use ml_audit_ledger::sealer::Sealer;
use ml_audit_server::AppState;
use ml_audit_storage::prelude::*;
use ml_audit_storage::{PredictionRef, RecordOutcome};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::settings::Settings;

/// Predictions a demo database gets by default.
pub const DEFAULT_PREDICTIONS: usize = 20_000;
/// Events per `record_predictions` call.
const BATCH: usize = 500;
const DAYS: i64 = 30;
const MICROS_PER_HOUR: i64 = 3_600_000_000;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;
/// The tenant whose read key the demo prints, to show tenant isolation.
const SHOWCASE_TENANT: &str = "acme-bank";

pub async fn run(mut settings: Settings, db: Option<String>, bind: Option<String>, count: usize) -> anyhow::Result<()> {
    // A throwaway database gets a throwaway ledger key. A database named with --db keeps the key
    // `serve` would use for it, so that it can be served (or demoed) again later.
    let (url, scratch) = match db {
        Some(url) => (url, None),
        None => {
            let dir = scratch_dir()?;
            (format!("sqlite://{}", dir.join("demo.db").display()), Some(dir))
        }
    };
    settings.database_url = url.clone();
    // The demo shows the two-person rule on the credit model unless the config names its own.
    if settings.review.two_person_models.is_empty() {
        settings.review.two_person_models = vec!["credit_risk".to_owned()];
    }
    let key = match scratch {
        Some(_) => LedgerKey::ephemeral(&settings.ledger.origin)?,
        None => LedgerKey::load_or_create(&settings.ledger_key_path(), &settings.ledger.origin)?,
    };
    let result = serve_demo(settings, &url, bind, count, key).await;
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// A fresh folder under the system's temporary directory, removed when the demo stops.
fn scratch_dir() -> anyhow::Result<PathBuf> {
    let stamp = to_unix_micros(timestamp::now());
    let dir = std::env::temp_dir().join(format!("ml-audit-demo-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

async fn serve_demo(
    settings: Settings,
    url: &str,
    bind: Option<String>,
    count: usize,
    key: LedgerKey,
) -> anyhow::Result<()> {
    let store = crate::open_store(url).await?;
    // Before anything is added: the sealer checks the stored checkpoints against its key.
    let sealer = Arc::new(Sealer::new(store.clone(), Arc::new(key), None).await.with_context(|| {
        format!("{url} holds a ledger signed with another key (a demo database keeps its key beside it)")
    })?);
    let bind = bind.unwrap_or_else(|| settings.bind.clone());
    let listener = TcpListener::bind(&bind).await.with_context(|| format!("cannot listen on {bind}"))?;
    let address = format!("http://{}/", listener.local_addr()?);
    let server_settings = settings.server_settings()?;

    let empty = store
        .list_predictions(&Visibility::AllTenants, &PredictionFilter::default(), &PageRequest { limit: 1, after: None })
        .await?
        .items
        .is_empty();
    if empty {
        println!("Recording {count} sample predictions over the last {DAYS} days (redacted and sealed as usual)…");
        let started = std::time::Instant::now();
        let filled =
            fill(store.as_ref(), &server_settings.redaction, &server_settings.review, count, timestamp::now()).await?;
        println!(
            "Recorded {} sample predictions ({} with explanations, {} re-explained, {} outcomes, {} reviews) in {:.1} s.",
            filled.predictions,
            filled.explained,
            filled.revised,
            filled.outcomes,
            filled.reviews,
            started.elapsed().as_secs_f64()
        );
        store.refresh_statistics().await.context("refreshing the planner's statistics after the load")?;
        // Sealed before the first page is served: the UI's totals count sealed predictions.
        let started = std::time::Instant::now();
        let checkpoint = sealer.checkpoint().await?;
        println!("Sealed {} ledger entries in {:.1} s.", checkpoint.tree_size, started.elapsed().as_secs_f64());
    } else {
        println!("The database already holds predictions: no sample data added.");
    }

    let admin = issue_key("demo admin", KeyScope::Admin, None);
    store.create_api_key(&admin).await?;
    let tenant = issue_key("demo read, one tenant", KeyScope::Read, Some(SHOWCASE_TENANT.into()));
    store.create_api_key(&tenant).await?;
    println!("Database: {url}");
    println!("Admin UI: {address}");
    println!("Read key bound to tenant {SHOWCASE_TENANT} (sees only that tenant):");
    println!("  {}", tenant.secret);
    println!("Admin API key (log in to the UI with it):");
    println!("  {}", admin.secret);
    // Scripts read this line to find the port when binding to port 0, as for `serve`.
    println!("ml-audit listening on {address} ({} backend)", store.backend());

    let state = AppState::new(store, sealer, server_settings);
    ml_audit_server::serve(listener, state, crate::shutdown_signal()?).await?;
    Ok(())
}

pub struct Filled {
    pub predictions: usize,
    pub explained: usize,
    pub revised: usize,
    pub outcomes: usize,
    pub reviews: usize,
}

/// What the demo's outcomes and reviews need of a recorded sample prediction.
struct Decided {
    prediction_id: String,
    model_name: String,
    version: String,
    decision: String,
    score: Option<f64>,
    ts: i64,
}

/// Records `count` sample predictions, timestamped over the `DAYS` days before `now`, through
/// the normal path (parse, prepare with `policy`, `record_predictions` in batches).
pub async fn fill(
    store: &dyn Store,
    policy: &RedactionPolicy,
    review: &ReviewPolicy,
    count: usize,
    now: time::OffsetDateTime,
) -> anyhow::Result<Filled> {
    let mut rng = Rng::new(0x6d6c_2d61_7564_6974);
    let world = World::new(&mut rng);
    let end = to_unix_micros(now);
    let start = end - DAYS * MICROS_PER_DAY;
    let mut times = sample_times(&mut rng, count, start, end);
    times.sort_unstable();
    let mut filled = Filled { predictions: 0, explained: 0, revised: 0, outcomes: 0, reviews: 0 };
    let mut decided = Vec::with_capacity(count);
    let mut to_revise = Vec::new();
    for (chunk_index, chunk) in times.chunks(BATCH).enumerate() {
        let mut batch = Vec::with_capacity(chunk.len());
        for (offset, ts) in chunk.iter().enumerate() {
            let index = chunk_index * BATCH + offset;
            let event = world.event(&mut rng, index, *ts, start);
            decided.push(Decided {
                prediction_id: event["prediction_id"].as_str().unwrap_or_default().to_owned(),
                model_name: event["model_name"].as_str().unwrap_or_default().to_owned(),
                version: event["model_version"].as_str().unwrap_or_default().to_owned(),
                decision: event["decision_outcome"].as_str().unwrap_or_default().to_owned(),
                score: ml_audit_core::quality::predicted_value(&event["output"]),
                ts: *ts,
            });
            if event.get("explanation").is_some() {
                filled.explained += 1;
                if rng.chance(0.01) {
                    to_revise.push((event["prediction_id"].as_str().unwrap_or_default().to_owned(), event.clone()));
                }
            }
            let input = PredictionInput::parse(event).map_err(|e| anyhow::anyhow!("sample event: {e}"))?;
            batch.push(input.prepare(policy, &Visibility::AllTenants)?);
        }
        for outcome in store.record_predictions(batch).await? {
            match outcome {
                RecordOutcome::Created(_) => filled.predictions += 1,
                RecordOutcome::Replayed(_) | RecordOutcome::Conflict { .. } | RecordOutcome::Erased { .. } => {}
            }
        }
    }
    // A second revision for a few: the explanation recomputed later. The first stays on record.
    for (prediction_id, event) in to_revise {
        let explanation = revised_explanation(&mut rng, &event);
        let parsed = parse_explanation(explanation, timestamp::now()).map_err(|e| anyhow::anyhow!("{e}"))?;
        store.attach_explanation(&Visibility::AllTenants, &PredictionRef(prediction_id), parsed).await?;
        filled.revised += 1;
    }
    let (outcomes, reviews) = follow_up(store, policy, review, &mut rng, &decided, end).await?;
    filled.outcomes = outcomes;
    filled.reviews = reviews;
    Ok(filled)
}

/// Outcomes that arrive days after their predictions (the newer version of a model is right less
/// often), a few later corrected, and reviews: some overrides (more for the newer versions), some
/// of them waiting for a second reviewer on the models the two-person rule covers.
async fn follow_up(
    store: &dyn Store,
    policy: &RedactionPolicy,
    review: &ReviewPolicy,
    rng: &mut Rng,
    decided: &[Decided],
    now: i64,
) -> anyhow::Result<(usize, usize)> {
    let mut labels: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for d in decided.iter().filter(|d| !d.decision.is_empty()) {
        let known = labels.entry(d.model_name.as_str()).or_default();
        if !known.contains(&d.decision.as_str()) {
            known.push(&d.decision);
        }
    }
    let other = |rng: &mut Rng, d: &Decided| -> String {
        let choices: Vec<&&str> =
            labels.get(d.model_name.as_str()).into_iter().flatten().filter(|l| **l != d.decision).collect();
        if choices.is_empty() { "other".to_owned() } else { (**rng.pick(&choices)).to_owned() }
    };
    let newer = |d: &Decided| d.version.starts_with('2');
    let mut outcomes = Vec::new();
    for d in decided.iter().filter(|d| !d.decision.is_empty()) {
        let delay = (1.0 + 20.0 * rng.unit()) * MICROS_PER_DAY as f64;
        let observed = d.ts + delay as i64;
        if observed > now || !rng.chance(0.7) {
            continue;
        }
        let right = rng.chance(if newer(d) { 0.78 } else { 0.9 });
        let label = if right { d.decision.clone() } else { other(rng, d) };
        let at = |micros: i64| from_unix_micros(micros).map(format_rfc3339).unwrap_or_default();
        let mut body = json!({"label": label, "source": "back_office", "observed_at": at(observed)});
        // The value is what the score estimated: 1 where the model's own decision was the
        // higher-scored one and turned out right, or the other one turned out.
        if let Some(score) = d.score {
            let positive = score >= 0.5;
            body["value"] = json!(if positive == right { 1.0 } else { 0.0 });
        }
        outcomes.push((d.prediction_id.clone(), body));
        // Now and then the first outcome is corrected later (a chargeback reversed).
        if rng.chance(0.03) && observed + MICROS_PER_DAY < now {
            let corrected =
                json!({"label": d.decision, "source": "appeal", "observed_at": at(observed + MICROS_PER_DAY)});
            outcomes.push((d.prediction_id.clone(), corrected));
        }
    }
    let mut recorded = 0;
    for chunk in outcomes.chunks(BATCH) {
        let batch = chunk
            .iter()
            .map(|(prediction_id, body)| {
                let input = OutcomeInput::parse(body.clone()).map_err(|e| anyhow::anyhow!("sample outcome: {e}"))?;
                Ok((PredictionRef(prediction_id.clone()), input.prepare(policy)))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        recorded += store.record_outcomes(&Visibility::AllTenants, batch).await?.iter().filter(|r| r.is_ok()).count();
    }
    const REVIEWERS: &[&str] = &["r-ana", "r-ben", "r-chen", "r-dana"];
    let mut reviews = 0;
    for d in decided.iter().filter(|d| !d.decision.is_empty()) {
        if !rng.chance(0.08) {
            continue;
        }
        let first = *rng.pick(REVIEWERS);
        // Reviewed within a day of the prediction (never in the future).
        let at = |micros: i64| from_unix_micros(micros.min(now)).map(format_rfc3339).unwrap_or_default();
        let reviewed = d.ts + (rng.unit() * MICROS_PER_DAY as f64) as i64;
        let overrides = rng.chance(if newer(d) { 0.36 } else { 0.12 });
        let body = match overrides {
            true => json!({"reviewer": {"reviewer_id": first}, "action": "override", "final_decision": other(rng, d),
                           "reason_codes": ["policy_exception"], "comment": "Checked the documents by hand.",
                           "reviewed_at": at(reviewed)}),
            false => json!({"reviewer": {"reviewer_id": first}, "action": "confirm", "reviewed_at": at(reviewed)}),
        };
        let mut steps = vec![body];
        if overrides && review.two_person(&d.model_name) && rng.chance(0.6) {
            let second = REVIEWERS.iter().find(|r| **r != first).copied().unwrap_or("r-eve");
            let later = reviewed + (rng.unit() * MICROS_PER_DAY as f64) as i64;
            steps.push(json!({"reviewer": {"reviewer_id": second}, "action": "confirm", "reviewed_at": at(later)}));
        }
        for body in steps {
            let input = ReviewInput::parse(body).map_err(|e| anyhow::anyhow!("sample review: {e}"))?;
            let reference = PredictionRef(d.prediction_id.clone());
            store.record_review(&Visibility::AllTenants, &reference, input.prepare(policy), review).await?;
            reviews += 1;
        }
    }
    Ok((recorded, reviews))
}

/// Timestamps with a daily rhythm (busier in the European and American day) and quieter
/// weekends, by rejection sampling.
fn sample_times(rng: &mut Rng, count: usize, start: i64, end: i64) -> Vec<i64> {
    let mut times = Vec::with_capacity(count);
    while times.len() < count {
        let ts = start + (rng.unit() * (end - start) as f64) as i64;
        let hour = (ts.div_euclid(MICROS_PER_HOUR) % 24) as f64;
        let weekday = (ts.div_euclid(MICROS_PER_DAY) + 4) % 7; // 0 = Sunday
        let daily = 0.15 + 0.85 * (-((hour - 14.0).powi(2)) / (2.0 * 4.5f64.powi(2))).exp();
        let weekly = if weekday == 0 || weekday == 6 { 0.55 } else { 1.0 };
        if rng.unit() < daily * weekly {
            times.push(ts);
        }
    }
    times
}

/// SplitMix64: a small, fast, well-mixed generator; enough for sample data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.unit().max(f64::MIN_POSITIVE);
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos()
    }

    pub fn hex(&mut self, digits: usize) -> String {
        let mut out = String::with_capacity(digits);
        while out.len() < digits {
            out.push_str(&format!("{:016x}", self.next_u64()));
        }
        out.truncate(digits);
        out
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

struct Tenant {
    id: &'static str,
    weight: f64,
    currency: &'static str,
    country: &'static str,
    users: Vec<String>,
}

struct World {
    tenants: Vec<Tenant>,
}

const FIRST_NAMES: &[&str] =
    &["jane", "omar", "li", "sofia", "kwame", "anna", "raj", "maria", "tom", "yuki", "ines", "sam"];
const LAST_NAMES: &[&str] =
    &["doe", "haddad", "wei", "rossi", "mensah", "novak", "patel", "garcia", "berg", "sato", "lopes", "kim"];
const MERCHANTS: &[(&str, f64)] = &[
    ("grocery", -0.4),
    ("electronics", 0.6),
    ("travel", 0.3),
    ("gift_cards", 1.1),
    ("restaurants", -0.3),
    ("fuel", -0.2),
    ("online_marketplace", 0.4),
    ("crypto_exchange", 1.3),
];
const PURPOSES: &[&str] = &["debt_consolidation", "home_improvement", "car", "education", "medical", "small_business"];
const STREETS: &[&str] = &["Market Street", "Rue de Rivoli", "Kingsway", "Hauptstraße", "Calle Mayor", "Via Roma"];

impl World {
    fn new(rng: &mut Rng) -> Self {
        let mut users = |prefix: &str, n: usize| -> Vec<String> {
            (0..n).map(|_| format!("{prefix}-{}", 10_000 + rng.below(89_999))).collect()
        };
        let tenants = vec![
            Tenant { id: "acme-bank", weight: 0.45, currency: "EUR", country: "DE", users: users("u", 18) },
            Tenant { id: "globex-lending", weight: 0.35, currency: "USD", country: "US", users: users("u", 14) },
            Tenant { id: "initech-pay", weight: 0.20, currency: "GBP", country: "GB", users: users("u", 9) },
        ];
        World { tenants }
    }

    fn tenant(&self, rng: &mut Rng) -> &Tenant {
        let mut roll = rng.unit();
        for tenant in &self.tenants {
            if roll < tenant.weight {
                return tenant;
            }
            roll -= tenant.weight;
        }
        &self.tenants[0]
    }

    fn event(&self, rng: &mut Rng, index: usize, ts: i64, start: i64) -> Value {
        let tenant = self.tenant(rng);
        let day = (ts - start) as f64 / MICROS_PER_DAY as f64;
        let mut event = if rng.chance(0.6) { fraud(rng, tenant) } else { credit(rng, tenant, day) };
        let kind = if event["model_name"] == "fraud_detector" { "txn" } else { "app" };
        let at = from_unix_micros(ts).map(format_rfc3339).unwrap_or_default();
        event["prediction_id"] = json!(format!("{kind}_{:016x}", mix(index as u64)));
        event["timestamp"] = json!(at);
        event["trace_id"] = json!(rng.hex(32));
        event["environment"] = json!(if rng.chance(0.05) { "staging" } else { "prod" });
        if let Some(explanation) = event.get_mut("explanation") {
            let generated = from_unix_micros(ts + 1_500_000 + rng.below(3_000_000) as i64).map(format_rfc3339);
            explanation["generated_at"] = json!(generated.unwrap_or_default());
        }
        event
    }
}

/// A bijection on u64 (SplitMix64's finaliser), so ids from distinct indexes never collide.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn person(rng: &mut Rng) -> (String, String) {
    let first = rng.pick(FIRST_NAMES);
    let last = rng.pick(LAST_NAMES);
    let email = format!("{first}.{last}{}@example.com", rng.below(100));
    let phone = format!("+1 415 555 {:04}", rng.below(10_000));
    (email, phone)
}

fn ip(rng: &mut Rng) -> String {
    let net = rng.pick(&["203.0.113", "198.51.100", "192.0.2"]);
    format!("{net}.{}", 1 + rng.below(254))
}

const BROWSERS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
];

fn browser(rng: &mut Rng) -> &'static str {
    let chosen: &&'static str = rng.pick(BROWSERS);
    chosen
}

/// The actor of a prediction: mostly the calling service, sometimes an analyst or a job.
fn actor(rng: &mut Rng, tenant: &Tenant, service: &str, job: &str, user_share: f64) -> Value {
    let roll = rng.unit();
    if roll < user_share {
        json!({"actor_type": "user", "actor_id": rng.pick(&tenant.users), "tenant_id": tenant.id,
               "ip_address": ip(rng), "user_agent": browser(rng),
               "auth_context": {"method": "sso", "roles": ["analyst"]}})
    } else if roll < user_share + 0.12 {
        json!({"actor_type": "job", "actor_id": job, "tenant_id": tenant.id,
               "user_agent": format!("{job}/1.3 (airflow)")})
    } else {
        json!({"actor_type": "service", "actor_id": service, "tenant_id": tenant.id, "ip_address": ip(rng),
               "user_agent": format!("{service}/4.12.0 python-requests/2.32"),
               "auth_context": {"method": "mtls", "client": service}})
    }
}

/// Failed (1.5%), partial (2.5%) or successful.
fn status(rng: &mut Rng) -> &'static str {
    let roll = rng.unit();
    if roll < 0.015 {
        "failed"
    } else if roll < 0.04 {
        "partial"
    } else {
        "success"
    }
}

fn fraud(rng: &mut Rng, tenant: &Tenant) -> Value {
    let (email, phone) = person(rng);
    let (merchant, merchant_risk) = *rng.pick(MERCHANTS);
    let amount = round((3.6 + 1.2 * rng.normal()).exp().min(25_000.0), 2);
    let avg_30d = round((3.8 + 0.5 * rng.normal()).exp(), 2);
    let card_present = rng.chance(0.55);
    let velocity = (rng.normal().abs() * 2.0) as u64 + u64::from(rng.chance(0.05)) * (3 + rng.below(8));
    let account_age = if rng.chance(0.12) { rng.below(30) } else { 30 + rng.below(3000) };
    let new_device = rng.chance(if card_present { 0.03 } else { 0.18 });
    let foreign_ip = rng.chance(0.08);
    let hour = rng.below(24);
    let status = status(rng);

    let mut parts = vec![
        ("amount", 0.9 * ((amount / avg_30d).max(0.05)).ln().clamp(-2.0, 3.0) - 0.2),
        ("txn_count_1h", 0.42 * velocity as f64 - 0.5),
        ("card_present", if card_present { -0.7 } else { 0.8 }),
        ("account_age_days", if account_age < 30 { 1.1 } else { -0.35 }),
        ("merchant_category", merchant_risk),
        ("device.new_device", if new_device { 1.2 } else { -0.15 }),
        ("ip_country_mismatch", if foreign_ip { 1.4 } else { -0.1 }),
        ("hour_of_day", if (1..6).contains(&hour) { 0.5 } else { -0.05 }),
        ("avg_amount_30d", -0.1 * (avg_30d / 50.0).ln()),
    ];
    for (_, value) in parts.iter_mut() {
        *value = round(*value + 0.06 * rng.normal(), 4);
    }
    let base = -2.4;
    let score = sigmoid(base + parts.iter().map(|(_, v)| v).sum::<f64>());
    let outcome = if score >= 0.8 {
        "flagged"
    } else if score >= 0.5 {
        "review"
    } else {
        "approved"
    };
    let confidence = round(if outcome == "approved" { 1.0 - score } else { score }, 4);

    let mut features = json!({
        "amount": amount, "currency": tenant.currency, "merchant_category": merchant,
        "merchant_country": if foreign_ip { "NG" } else { tenant.country }, "card_present": card_present,
        "txn_count_1h": velocity, "account_age_days": account_age, "avg_amount_30d": avg_30d, "hour_of_day": hour,
        "ip_address": ip(rng),
        "device": {"os": rng.pick(&["android", "ios", "web"]), "new_device": new_device},
        "customer": {"email": email, "phone": phone, "segment": rng.pick(&["retail", "premium", "business"])},
        "shipping_address": format!("{} {}", 1 + rng.below(200), rng.pick(STREETS)),
    });
    if rng.chance(0.1) {
        // Personal data under an innocent key: caught by the value detectors.
        features["notes"] = json!(format!("customer asked to be contacted at {email}"));
    }
    let mut event = json!({
        "model_name": "fraud_detector", "model_version": "3.2.0", "framework": "sklearn",
        "build_id": "build-2291", "commit_hash": "9f2c1e7",
        "config_snapshot": {"estimator": "HistGradientBoostingClassifier", "threshold_review": 0.5,
                            "threshold_flag": 0.8, "features": 9},
        "actor": actor(rng, tenant, "checkout-api", "nightly-rescore", 0.15),
        "features": features,
        "metadata": {"region": if tenant.currency == "USD" { "us-east-1" } else { "eu-west-1" },
                     "request_id": format!("req-{}", rng.hex(12))},
    });
    let latency = round((2.6 + 0.5 * rng.normal()).exp(), 2);
    shape(rng, &mut event, status, &parts, base, score, outcome, confidence, latency, "shap", "0.46.0", fraud_summary);
    event
}

fn credit(rng: &mut Rng, tenant: &Tenant, day: f64) -> Value {
    // Version 2.0.0 rolls out from day 15: 10%, then 35%, 70%, and all traffic from day 18.
    let v2_share = match day {
        d if d < 15.0 => 0.0,
        d if d < 16.0 => 0.10,
        d if d < 17.0 => 0.35,
        d if d < 18.0 => 0.70,
        _ => 1.0,
    };
    let v2 = rng.chance(v2_share);
    let (email, phone) = person(rng);
    let income = round((10.9 + 0.45 * rng.normal()).exp(), 0);
    let loan = round((9.4 + 0.7 * rng.normal()).exp().min(250_000.0), 0);
    let dti = round((0.08 + rng.unit() * 0.5).min(0.95), 3);
    let history = rng.below(30);
    let delinquencies = if rng.chance(0.15) { 1 + rng.below(4) } else { 0 };
    let employment = rng.below(25);
    let utilization = round(rng.unit().powf(0.8), 3);
    let inquiries = rng.below(7);
    let status = status(rng);

    let mut parts = vec![
        ("debt_to_income", 3.2 * (dti - 0.3)),
        ("loan_to_income", 1.4 * ((loan / income) - 0.25)),
        ("delinquencies_2y", 0.55 * delinquencies as f64 - 0.12),
        ("credit_history_years", -0.06 * (history as f64 - 8.0)),
        ("employment_years", -0.04 * (employment as f64 - 5.0)),
        ("annual_income", -0.5 * (income / 55_000.0).ln()),
    ];
    if v2 {
        parts.push(("utilization_ratio", 1.6 * (utilization - 0.35)));
        parts.push(("recent_inquiries", 0.22 * (inquiries as f64 - 1.5)));
    }
    for (_, value) in parts.iter_mut() {
        *value = round(*value + 0.05 * rng.normal(), 4);
    }
    let base = if v2 { -1.5 } else { -1.2 };
    let risk = sigmoid(base + parts.iter().map(|(_, v)| v).sum::<f64>());
    let outcome = if risk >= 0.6 {
        "declined"
    } else if risk >= 0.35 {
        "manual_review"
    } else {
        "approved"
    };
    let confidence = round(if outcome == "approved" { 1.0 - risk } else { risk.max(1.0 - risk) }, 4);

    let mut features = json!({
        "annual_income": income, "loan_amount": loan, "term_months": rng.pick(&[12, 24, 36, 48, 60]),
        "debt_to_income": dti, "credit_history_years": history, "open_accounts": 1 + rng.below(12),
        "delinquencies_2y": delinquencies, "employment_years": employment,
        "home_ownership": rng.pick(&["rent", "mortgage", "own"]), "purpose": rng.pick(PURPOSES),
        "applicant": {"email": email, "phone_number": phone, "ssn": format!("{:03}-{:02}-{:04}",
            100 + rng.below(800), 10 + rng.below(89), rng.below(10_000))},
        "employer_contact": format!("+44 20 7946 {:04}", rng.below(10_000)),
    });
    if v2 {
        features["utilization_ratio"] = json!(utilization);
        features["recent_inquiries"] = json!(inquiries);
    }
    let (version, config, build) = if v2 {
        ("2.0.0", json!({"max_depth": 8, "n_estimators": 650, "eta": 0.03, "monotone_constraints": true}), "build-3107")
    } else {
        ("1.4.0", json!({"max_depth": 6, "n_estimators": 400, "eta": 0.05}), "build-2655")
    };
    let mut event = json!({
        "model_name": "credit_risk", "model_version": version, "framework": "xgboost",
        "build_id": build, "commit_hash": if v2 { "c41d0a2" } else { "77b9e13" }, "config_snapshot": config,
        "actor": actor(rng, tenant, "loan-origination", "portfolio-review", 0.35),
        "features": features,
        "metadata": {"channel": rng.pick(&["branch", "web", "partner_api"]), "product": "personal_loan"},
    });
    let latency = round((3.7 + 0.4 * rng.normal()).exp(), 2);
    let shap_version = if v2 { "0.47.1" } else { "0.46.0" };
    shape(
        rng,
        &mut event,
        status,
        &parts,
        base,
        risk,
        outcome,
        confidence,
        latency,
        "shap",
        shap_version,
        credit_summary,
    );
    event
}

/// Fills in output, outcome, confidence, latency and, on most, the explanation, according to
/// the status: a failed prediction has no output score, outcome or explanation; a partial one
/// was scored without some of its inputs.
#[allow(clippy::too_many_arguments)]
fn shape(
    rng: &mut Rng,
    event: &mut Value,
    status: &str,
    parts: &[(&str, f64)],
    base: f64,
    score: f64,
    outcome: &str,
    confidence: f64,
    latency: f64,
    method: &str,
    method_version: &str,
    summary: fn(&str, &[(&str, f64)]) -> String,
) {
    event["status"] = json!(status);
    match status {
        "failed" => {
            event["output"] = json!({"error": rng.pick(&[
                "FeatureStoreTimeout: no answer from the online feature store within 250 ms",
                "ModelServerUnavailable: upstream returned 503",
                "ValidationError: amount must be a finite number",
            ])});
            event["latency_ms"] = json!(round(latency * 8.0 + 200.0, 2));
        }
        _ => {
            event["output"] = json!({"score": round(score, 4), "label": outcome});
            event["decision_outcome"] = json!(outcome);
            event["confidence"] = json!(confidence);
            event["latency_ms"] = json!(latency);
            if status == "partial" {
                event["metadata"]["degraded"] = json!(true);
                event["metadata"]["missing_features"] = json!([parts[parts.len() - 1].0]);
            }
            if rng.chance(0.88) {
                let payload: serde_json::Map<String, Value> =
                    parts.iter().map(|(name, value)| ((*name).to_owned(), json!(value))).collect();
                let mut payload = Value::Object(payload);
                if event["model_name"] == "credit_risk" {
                    payload = json!({"base_value": base, "values": payload});
                }
                event["explanation"] = json!({
                    "method": method, "method_version": method_version, "payload": payload,
                    "summary_text": summary(outcome, parts),
                    "status": if status == "partial" { "partial" } else { "success" },
                });
            }
        }
    }
}

fn top(parts: &[(&str, f64)], positive: bool) -> Vec<(String, f64)> {
    let mut chosen: Vec<(String, f64)> =
        parts.iter().filter(|(_, v)| (*v > 0.0) == positive).map(|(k, v)| ((*k).to_owned(), *v)).collect();
    chosen.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    chosen.truncate(2);
    chosen
}

/// How a feature's contribution reads in a summary: what raised the score, or what lowered it.
fn describe(name: &str, raised: bool) -> &str {
    match (name, raised) {
        ("amount", true) => "an amount far above the customer's usual",
        ("amount", false) => "an amount in line with the customer's usual",
        ("txn_count_1h", true) => "many transactions in the last hour",
        ("txn_count_1h", false) => "few transactions in the last hour",
        ("card_present", true) => "a card-not-present payment",
        ("card_present", false) => "the card being present",
        ("account_age_days", true) => "a very new account",
        ("account_age_days", false) => "a long-standing account",
        ("merchant_category", true) => "a high-risk merchant category",
        ("merchant_category", false) => "a low-risk merchant category",
        ("device.new_device", true) => "a device never seen before",
        ("device.new_device", false) => "a known device",
        ("ip_country_mismatch", true) => "an IP address abroad",
        ("ip_country_mismatch", false) => "an IP address in the card's country",
        ("hour_of_day", true) => "the time of night",
        ("hour_of_day", false) => "the time of day",
        ("avg_amount_30d", _) => "the customer's spending history",
        ("debt_to_income", true) => "a high debt-to-income ratio",
        ("debt_to_income", false) => "a low debt-to-income ratio",
        ("loan_to_income", true) => "a large loan for the income",
        ("loan_to_income", false) => "a modest loan for the income",
        ("delinquencies_2y", true) => "recent delinquencies",
        ("delinquencies_2y", false) => "no recent delinquencies",
        ("credit_history_years", true) => "a short credit history",
        ("credit_history_years", false) => "a long credit history",
        ("employment_years", true) => "short employment",
        ("employment_years", false) => "long employment",
        ("annual_income", true) => "a low income",
        ("annual_income", false) => "a high income",
        ("utilization_ratio", true) => "high credit utilisation",
        ("utilization_ratio", false) => "low credit utilisation",
        ("recent_inquiries", true) => "several recent credit inquiries",
        ("recent_inquiries", false) => "few recent credit inquiries",
        (other, _) => other,
    }
}

fn sentence(parts: &[(&str, f64)], raised: &str, lowered: &str) -> String {
    let up = top(parts, true);
    let down = top(parts, false);
    let list = |items: &[(String, f64)]| {
        items.iter().map(|(k, v)| format!("{} ({:+.2})", describe(k, *v > 0.0), v)).collect::<Vec<_>>().join(" and ")
    };
    let mut text = String::new();
    if !up.is_empty() {
        text.push_str(&format!("{} {raised}", capitalise(&list(&up))));
    }
    if !down.is_empty() {
        if !text.is_empty() {
            text.push_str("; ");
        }
        text.push_str(&format!("{} {lowered}", list(&down)));
    }
    text.push('.');
    text
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn fraud_summary(outcome: &str, parts: &[(&str, f64)]) -> String {
    let verdict = match outcome {
        "flagged" => "Flagged as likely fraud. ",
        "review" => "Sent to manual review. ",
        _ => "Approved. ",
    };
    format!("{verdict}{}", sentence(parts, "raised the fraud score most", "lowered it"))
}

fn credit_summary(outcome: &str, parts: &[(&str, f64)]) -> String {
    let verdict = match outcome {
        "declined" => "Declined. ",
        "manual_review" => "Referred to an underwriter. ",
        _ => "Approved. ",
    };
    format!("{verdict}{}", sentence(parts, "raised the default risk most", "lowered it"))
}

/// The explanation recomputed with a newer explainer: slightly different values, a note why.
fn revised_explanation(rng: &mut Rng, event: &Value) -> Value {
    let mut explanation = event["explanation"].clone();
    let values = if explanation["payload"].get("values").is_some() {
        &mut explanation["payload"]["values"]
    } else {
        &mut explanation["payload"]
    };
    if let Some(map) = values.as_object_mut() {
        for value in map.values_mut() {
            if let Some(n) = value.as_f64() {
                *value = json!(round(n * (1.0 + 0.08 * rng.normal()), 4));
            }
        }
    }
    explanation["method_version"] = json!("0.47.1");
    explanation["summary_text"] = json!(format!(
        "{} (Recomputed after a feature-store backfill.)",
        explanation["summary_text"].as_str().unwrap_or("")
    ));
    if let Some(object) = explanation.as_object_mut() {
        object.remove("generated_at");
    }
    explanation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        let (wa, wb) = (World::new(&mut a), World::new(&mut b));
        for i in 0..50 {
            assert_eq!(wa.event(&mut a, i, 1_000_000_000, 0), wb.event(&mut b, i, 1_000_000_000, 0));
        }
    }

    #[test]
    fn every_sample_event_parses() {
        let mut rng = Rng::new(1);
        let world = World::new(&mut rng);
        let start = 1_700_000_000_000_000;
        for i in 0..2000 {
            let ts = start + (i as i64) * MICROS_PER_HOUR / 3;
            let event = world.event(&mut rng, i, ts, start);
            PredictionInput::parse(event.clone()).unwrap_or_else(|e| panic!("{e}: {event}"));
        }
    }
}
