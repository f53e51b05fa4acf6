//! `ml-audit-bench`: measures ml-audit on this machine and prints a table.
//!
//! `ml-audit-bench ledger [--events N] [--db URL]` — ingest into the store (batches of 500, the
//! fastest write path), then seal the queue, then `verify` the whole log: events/s and leaves/s
//! for each, so sealing can be compared with ingestion and verify with its 500k leaves/s goal;
//! then verify's three stages (reading rows, canonical bytes, SHA-256), each timed alone.
//!
//! `ml-audit-bench http [--backend sqlite,postgres] [--quick]` — a real `ml-audit serve` driven
//! over loopback HTTP: ingestion, a preload to 1M predictions, list queries, lookups and the
//! admin UI at that size, verify, memory and storage; one markdown table per backend.
//!
//! `ml-audit-bench overload [--backend sqlite,postgres] [--factor 4] [--seconds 10]
//! [--server-env NAME=VALUE]… [--connections 1024] [--quick]` — the sustainable rate R of
//! single-event POSTs (closed loop, 32 connections), then an open loop at factor × R against the
//! server's admission limit (write requests in flight) and its bounded writers' queue: accepted
//! (201) and refused (503 `overloaded`) shares and latencies, slots sent late, and a check that
//! the stored predictions are exactly the accepted ones; one markdown table per backend, with the
//! verdict on "accepted p99 < 50 ms".
//!
//! `ml-audit-bench erase [--events N] [--subject-events M] [--old-events K] [--db URL]` — one
//! subject's M predictions erased among N (dry run, then for real), `verify` after it, a purge of
//! the K older than a year, and the database's size before and after each.
//!
//! `ml-audit-bench export [--backend sqlite,postgres] [--preload N]` — N predictions preloaded as
//! `http` does, then `ml-audit export --format jsonl` to /dev/null, `GET /api/v1/exports/predictions`
//! and paging `GET /api/v1/predictions?limit=1000` through the same rows: rows/s and memory.
//!
//! `ml-audit-bench events --count N` — the same events as JSON lines, for other tools.

mod client;
mod erase;
mod events;
mod export;
mod http;
mod overload;
mod report;
mod server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Parser, Subcommand};
use mimalloc::MiMalloc;
use ml_audit_core::auth::Visibility;
use ml_audit_core::event::PredictionInput;
use ml_audit_core::redaction::RedactionPolicy;
use ml_audit_ledger::key::LedgerKey;
use ml_audit_ledger::sealer::Sealer;
use ml_audit_ledger::verify::verify_log;
use ml_audit_storage::prelude::*;

/// The same allocator as the `ml-audit` binary, so in-process figures match what it does.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

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
    /// CPU cost per event of the pure steps, no database: parse + redact, canonical bytes, leaf hash.
    Cpu {
        #[arg(long, default_value_t = 20_000)]
        events: u64,
    },
    /// A real `ml-audit serve` over loopback HTTP: throughput, latency, memory and storage.
    Http(http::Options),
    /// An open loop at a multiple of the sustainable rate: what is accepted, how fast, what is
    /// refused, and that everything accepted is stored.
    Overload(overload::Options),
    /// Erasure and retention at scale: one subject's erasure among many predictions, verify after
    /// it, a purge of the expired ones, and the database's size before and after.
    Erase(erase::Options),
    /// Export against the list: `ml-audit export` and `GET /api/v1/exports/predictions` against
    /// paging `GET /api/v1/predictions` through the same rows, with memory.
    Export(export::Options),
    /// Writes the benchmark's events as JSON lines (the request bodies), so that other tools —
    /// the django-ml-audit comparison — record exactly the same events.
    Events {
        #[arg(long, default_value_t = 10_000)]
        count: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

const BATCH: u64 = 500;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Ledger { events, db } => ledger(events, db).await,
        Command::Cpu { events } => cpu(events),
        Command::Http(options) => http::run(options).await,
        Command::Overload(options) => overload::run(options).await,
        Command::Erase(options) => erase::run(options).await,
        Command::Export(options) => export::run(options).await,
        Command::Events { count, seed } => write_events(count, seed),
    }
}

async fn ledger(events: u64, db: Option<String>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = db.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let store = server::open_store(&url).await?;
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
    let report = verify_log(store.clone(), key.verifier(), None, &mut |_, _| {}).await?;
    let verify = started.elapsed();
    if !report.intact() {
        bail!("the benchmark's own log does not verify: {:?}", report.problems.first());
    }

    let stages = verify_stages(store.as_ref(), report.leaves).await?;

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
    for (stage, took) in stages {
        println!(
            "| verify, one stage alone on one core: {stage} | {:.2} µs/leaf | {:.0} leaves/s |",
            took.as_secs_f64() * 1e6 / report.leaves as f64,
            rate(report.leaves, took.as_secs_f64())
        );
    }
    Ok(())
}

/// Where `verify`'s time goes, each stage timed alone on one thread: reading the rows back, the
/// canonical bytes put together from them (boundary checks included), SHA-256 over those bytes.
async fn verify_stages(store: &dyn Store, size: u64) -> anyhow::Result<[(&'static str, Duration); 3]> {
    use ml_audit_core::ledger::merkle::leaf_hash;
    use ml_audit_core::ledger::stored::RowCatalog;

    let (mut read, mut splice, mut hash) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut from = 0;
    while from < size {
        let to = size.min(from + 10_000);
        let started = Instant::now();
        let chunk = store.ledger_records(from, to).await?;
        read += started.elapsed();
        let rows = RowCatalog::new(chunk.models, chunk.actors);
        let started = Instant::now();
        let mut documents = Vec::with_capacity(chunk.rows.len());
        for stored in &chunk.rows {
            let mut document = Vec::with_capacity(2048);
            if let Some(record) = &stored.record {
                record.write_spliced(&mut document, &rows)?;
            }
            documents.push(document);
        }
        splice += started.elapsed();
        let started = Instant::now();
        for document in &documents {
            std::hint::black_box(leaf_hash(document));
        }
        hash += started.elapsed();
        from = to;
    }
    Ok([
        ("read the rows (SQL + row mapping)", read),
        ("canonical bytes from the stored text", splice),
        ("SHA-256 of those bytes", hash),
    ])
}

fn write_events(count: u64, seed: u64) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut rng = events::Rng::new(seed);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for n in 0..count {
        serde_json::to_writer(&mut out, &events::event(&mut rng, n))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn cpu(events: u64) -> anyhow::Result<()> {
    use ml_audit_core::ledger::record::LedgerRecord;
    use ml_audit_storage::recorded_event;

    let policy = RedactionPolicy::default();
    let mut rng = events::Rng::new(7);
    let bodies: Vec<_> = (0..events).map(|i| events::event(&mut rng, i)).collect();
    let bytes: usize = bodies.iter().map(|b| b.to_string().len()).sum();

    let features: Vec<_> = bodies.iter().map(|body| body["features"].clone()).collect();
    let started = Instant::now();
    for one in features {
        std::hint::black_box(policy.redact_features(one));
    }
    let redact = started.elapsed();

    let started = Instant::now();
    let prepared: Vec<_> = bodies
        .into_iter()
        .map(|body| PredictionInput::parse(body).map(|i| i.prepare(&policy, &Visibility::AllTenants).expect("writer")))
        .collect::<Result<_, _>>()?;
    let prepare = started.elapsed();

    let model = |name: &str, version: &str| ml_audit_core::model::ModelVersion {
        id: uuid_from(1),
        model_name: name.into(),
        version: version.into(),
        framework: String::new(),
        build_id: String::new(),
        commit_hash: String::new(),
        config_snapshot: None,
        is_active: true,
        created_at: ml_audit_core::timestamp::now(),
    };
    let records: Vec<_> = prepared
        .into_iter()
        .map(|p| {
            let m = model(&p.model.model_name, &p.model.version);
            LedgerRecord::Prediction(Box::new(recorded_event(
                p,
                m,
                Some((uuid_from(2), ml_audit_core::timestamp::now())),
            )))
        })
        .collect();
    let started = Instant::now();
    let mut total = 0usize;
    for record in &records {
        total += record.canonical_bytes().len();
    }
    let canonical = started.elapsed();
    let started = Instant::now();
    for record in &records {
        std::hint::black_box(record.leaf_hash());
    }
    let leaf = started.elapsed();

    let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / events as f64;
    println!(
        "ml-audit CPU cost per event — {events} events, {:.0} bytes each as sent, {:.0} canonical",
        bytes as f64 / events as f64,
        total as f64 / events as f64
    );
    println!("| step | µs/event | events/s (one core) |");
    println!("|---|---|---|");
    for (step, time) in [
        ("redact the features (default policy)", redact),
        ("parse + validate + redact + fingerprint", prepare),
        ("canonical bytes (RFC 8785)", canonical),
        ("leaf hash (canonical + SHA-256)", leaf),
    ] {
        println!("| {step} | {:.2} | {:.0} |", per(time), 1e6 / per(time));
    }
    Ok(())
}

fn uuid_from(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}
