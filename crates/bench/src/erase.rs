//! `ml-audit-bench erase`: what erasure and retention cost at scale. Fills a store with N
//! predictions (the benchmark's events, through the normal write path), of which one subject
//! has M (pseudonymised through a `hash` rule, as in production) and a share are older than a
//! year; then times the subject's erasure (dry run, then for real), `verify` after it, and a
//! retention purge of the old ones, with the database's size before and after each.

use std::time::Instant;

use anyhow::bail;
use ml_audit_core::auth::Visibility;
use ml_audit_core::event::PredictionInput;
use ml_audit_core::lifecycle::{RetentionPolicy, Selection};
use ml_audit_core::redaction::{Action, HashKey, PolicyConfig, RedactionPolicy, RuleConfig};
use ml_audit_core::timestamp::{self, format_rfc3339};
use ml_audit_ledger::key::LedgerKey;
use ml_audit_ledger::sealer::Sealer;
use ml_audit_ledger::verify::verify_log;
use ml_audit_storage::{ErasurePlan, purge};
use serde_json::json;

use crate::{events, server};

#[derive(clap::Args)]
pub struct Options {
    /// Predictions in the store.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Of which the erased subject's.
    #[arg(long, default_value_t = 10_000)]
    subject_events: u64,
    /// Of which older than the retention (400 days old), purged at the end.
    #[arg(long, default_value_t = 100_000)]
    old_events: u64,
    /// Default: a fresh temporary SQLite file. A postgres:// URL must name an empty database.
    #[arg(long)]
    db: Option<String>,
}

const BATCH: u64 = 500;
const SUBJECT: &str = "subject-0001";

pub async fn run(options: Options) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("bench.db");
    let url = options.db.clone().unwrap_or_else(|| format!("sqlite://{}", file.display()));
    let store = server::open_store(&url).await?;
    store.migrate().await?;
    if store.ledger_size().await? > 0 {
        bail!("the database is not empty");
    }
    let mut config = PolicyConfig::default();
    config.rules.push(RuleConfig::new("customer_ref", Action::Hash));
    let policy = RedactionPolicy::build(config, Some(HashKey::new("ml-audit-bench-pseudonym-key")?))?;
    let subject_every = options.events / options.subject_events.max(1);
    let old_every = options.events / options.old_events.max(1);
    let old = format_rfc3339(timestamp::now() - std::time::Duration::from_secs(400 * 86_400));
    let mut rng = events::Rng::new(7);
    let started = Instant::now();
    let mut n = 0;
    while n < options.events {
        let batch: Vec<_> = (n..(n + BATCH).min(options.events))
            .map(|i| {
                let mut event = events::event(&mut rng, i);
                let customer = if i % subject_every == 0 { SUBJECT.to_owned() } else { format!("customer-{i}") };
                event["features"]["customer_ref"] = json!(customer);
                if i % old_every == 1 {
                    event["timestamp"] = json!(old);
                }
                PredictionInput::parse(event)
                    .map(|input| input.prepare(&policy, &Visibility::AllTenants).expect("an all-tenants writer"))
            })
            .collect::<Result<_, _>>()?;
        n += batch.len() as u64;
        store.record_predictions(batch).await?;
    }
    let fill = started.elapsed();
    // What autovacuum does after a bulk load in production (it is off on the bench machines).
    store.refresh_statistics().await?;
    let key = std::sync::Arc::new(LedgerKey::ephemeral("ml-audit.bench/log")?);
    let sealer = Sealer::new(store.clone(), key.clone(), None).await?;
    sealer.seal_pending().await?;
    sealer.checkpoint().await?;

    let size = |label: &'static str| {
        let url = url.clone();
        let file = file.clone();
        async move { (label, database_size(&url, &file).await) }
    };
    let mut sizes = vec![size("filled").await];
    let token = policy.subject_token(SUBJECT).expect("the policy has a hash key");
    let plan = |dry_run| ErasurePlan {
        selection: Selection { subject: Some(token.clone()), ..Selection::default() },
        reason: "bench".into(),
        dry_run,
    };
    let started = Instant::now();
    let counted = store.erase(&Visibility::AllTenants, plan(true)).await?;
    let dry_run = started.elapsed();
    let started = Instant::now();
    let erased = store.erase(&Visibility::AllTenants, plan(false)).await?;
    let erase = started.elapsed();
    store.reclaim_space().await?;
    sizes.push(size("after the erasure").await);
    sealer.seal_pending().await?;
    sealer.checkpoint().await?;
    let started = Instant::now();
    let report = verify_log(store.clone(), key.verifier(), None, &mut |_, _| {}).await?;
    let verify = started.elapsed();
    if !report.intact() {
        bail!("the log does not verify after the erasure: {:?}", report.problems.first());
    }

    let retention = RetentionPolicy { default_days: 365, ..RetentionPolicy::default() };
    let started = Instant::now();
    let purged = purge(store.as_ref(), &retention, timestamp::now(), 1000, false).await?;
    let purge_took = started.elapsed();
    sizes.push(size("after the purge").await);
    let started = Instant::now();
    store.compact().await?;
    let compact = started.elapsed();
    sizes.push(size("after `purge --vacuum`").await);

    println!(
        "ml-audit erasure benchmark — {} backend, {} predictions, {} of one subject, {} older than a year",
        store.backend(),
        options.events,
        counted.erasure.counts.predictions,
        options.old_events
    );
    println!("| step | time | what |");
    println!("|---|---|---|");
    println!(
        "| fill (batches of {BATCH}) | {:.1} s | {:.0} events/s |",
        fill.as_secs_f64(),
        n as f64 / fill.as_secs_f64()
    );
    let counts = |c: ml_audit_core::lifecycle::ErasureCounts| {
        format!("{} predictions, {} explanations", c.predictions, c.explanations)
    };
    println!(
        "| erase the subject, dry run | {:.2} s | counts {} |",
        dry_run.as_secs_f64(),
        counts(counted.erasure.counts)
    );
    println!(
        "| erase the subject | {:.2} s | {} ({} seqs in one erasure leaf) |",
        erase.as_secs_f64(),
        counts(erased.erasure.counts),
        erased.erasure.seqs.len()
    );
    println!(
        "| verify after it | {:.1} s | {:.0} leaves/s; {} intact, {} erased, {} life events |",
        verify.as_secs_f64(),
        report.leaves as f64 / verify.as_secs_f64(),
        report.intact,
        report.erased,
        report.life_events
    );
    println!(
        "| purge (365 days, batches of 1,000) | {:.1} s | {} in {} erasures |",
        purge_took.as_secs_f64(),
        counts(purged.counts),
        purged.erasures
    );
    println!("| compact (`ml-audit purge --vacuum`) | {:.1} s | |", compact.as_secs_f64());
    for (label, (file, wal)) in sizes {
        println!("| database size {label} | | {:.1} MB (+ WAL {:.1} MB) |", file as f64 / 1e6, wal as f64 / 1e6);
    }
    Ok(())
}

/// The database's size on disk: the SQLite file and its WAL, or PostgreSQL's
/// `pg_database_size` (and no WAL of its own counted).
async fn database_size(url: &str, file: &std::path::Path) -> (u64, u64) {
    let len = |path: &std::path::Path| std::fs::metadata(path).map_or(0, |m| m.len());
    if url.starts_with("sqlite:") {
        return (len(file), len(std::path::Path::new(&format!("{}-wal", file.display()))));
    }
    let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(url).await else { return (0, 0) };
    let bytes = sqlx::query_scalar::<_, i64>("SELECT pg_database_size(current_database())").fetch_one(&mut conn).await;
    (bytes.map_or(0, |bytes| bytes as u64), 0)
}
