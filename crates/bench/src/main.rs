//! `ml-audit-bench`: measures ml-audit on this machine and prints a table.
//!
//! `ml-audit-bench ledger [--events N] [--db URL]` — ingest into the store (batches of 500, the
//! fastest write path), then seal the queue, then `verify` the whole log: events/s and leaves/s
//! for each, so sealing can be compared with ingestion and verify with its 500k leaves/s goal.

mod events;

use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use clap::{Parser, Subcommand};
use ml_audit_core::auth::Visibility;
use ml_audit_core::event::PredictionInput;
use ml_audit_core::redaction::RedactionPolicy;
use ml_audit_ledger::key::LedgerKey;
use ml_audit_ledger::sealer::Sealer;
use ml_audit_ledger::verify::verify_log;
use ml_audit_storage::Store;

#[derive(Parser)]
#[command(about = "Benchmarks of ml-audit on this machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest, seal and verify: the ledger's cost next to the write path's.
    Ledger {
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Default: a fresh temporary SQLite file. A postgres:// URL must name an empty database.
        #[arg(long)]
        db: Option<String>,
    },
}

const BATCH: u64 = 500;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Ledger { events, db } => ledger(events, db).await,
    }
}

async fn ledger(events: u64, db: Option<String>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = db.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        Arc::new(ml_audit_sqlite::SqliteStore::open(&url).await?)
    } else {
        Arc::new(ml_audit_postgres::PgStore::open(&url).await?)
    };
    store.migrate().await?;
    if store.ledger_size().await? > 0 {
        bail!("the database is not empty");
    }
    let policy = RedactionPolicy::default();
    let mut rng = events::Rng::new(42);

    let started = Instant::now();
    let mut n = 0;
    while n < events {
        let batch: Vec<_> = (n..(n + BATCH).min(events))
            .map(|i| {
                PredictionInput::parse(events::event(&mut rng, i))
                    .map(|input| input.prepare(&policy, &Visibility::AllTenants).expect("an all-tenants writer"))
            })
            .collect::<Result<_, _>>()?;
        n += batch.len() as u64;
        store.record_predictions(batch).await?;
    }
    let ingest = started.elapsed();

    let key = Arc::new(LedgerKey::ephemeral("ml-audit.bench/log")?);
    let sealer = Sealer::new(store.clone(), key.clone(), None).await?;
    let started = Instant::now();
    let sealed = sealer.seal_pending().await?;
    let seal = started.elapsed();
    sealer.checkpoint().await?;

    let started = Instant::now();
    let report = verify_log(store.as_ref(), key.verifier(), None, &mut |_, _| {}).await?;
    let verify = started.elapsed();
    if !report.intact() {
        bail!("the benchmark's own log does not verify: {:?}", report.problems.first());
    }

    let rate = |count: u64, seconds: f64| count as f64 / seconds;
    println!("ml-audit ledger benchmark — {} backend, {events} events ({} leaves)", store.backend(), report.leaves);
    println!("| step | time | rate |");
    println!("|---|---|---|");
    println!(
        "| ingest (batches of {BATCH}, redaction included) | {:.2} s | {:.0} events/s |",
        ingest.as_secs_f64(),
        rate(events, ingest.as_secs_f64())
    );
    println!(
        "| seal (hash + append) | {:.2} s | {:.0} leaves/s |",
        seal.as_secs_f64(),
        rate(sealed as u64, seal.as_secs_f64())
    );
    println!(
        "| verify (read + recompute + tree) | {:.2} s | {:.0} leaves/s |",
        verify.as_secs_f64(),
        rate(report.leaves, verify.as_secs_f64())
    );
    Ok(())
}
