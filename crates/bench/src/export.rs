//! `ml-audit-bench export [--backend sqlite,postgres] [--preload N]`: a real `ml-audit serve`
//! preloaded as the `http` benchmark does, then the same rows read three ways, side by side:
//! `ml-audit export --format jsonl` to /dev/null (a process of its own, beside the server),
//! `GET /api/v1/exports/predictions` streamed and discarded, and `GET /api/v1/predictions`
//! paged through at 1000 a page. Rows/s for each, the exporting process's peak RSS and the
//! server's RSS during its export. The goal: ≥ 100,000 rows/s to JSONL in < 150 MB, flat.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};

use crate::client::{Call, Client, PREDICTIONS};
use crate::http::Bench;
use crate::report::{NO_TARGET, Report, mb, thousands};
use crate::server::{self, Backend, Database, Server, Targets, wait_until_healthy};

#[derive(clap::Args)]
pub struct Options {
    #[command(flatten)]
    targets: Targets,
    /// Predictions in the database before the exports.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    preload: usize,
}

const RATE_TARGET: &str = "≥ 100,000 rows/s";
const RSS_TARGET: &str = "< 150 MB, flat";

pub async fn run(options: Options) -> anyhow::Result<()> {
    let preload = options.preload;
    options
        .targets
        .each_backend("export", async |bin, backend, db| Ok((measure(bin, backend, db, preload).await?, ())))
        .await?;
    Ok(())
}

async fn measure(bin: &Path, backend: Backend, db: &Database, preload: usize) -> anyhow::Result<Report> {
    let key = server::create_key(bin, db).await?;
    let mut report = {
        let server = Server::start(bin, db).await?;
        let client = Client::with_key(server.addr, &key)?;
        wait_until_healthy(&client).await?;
        let mut bench = Bench::new(&server, client);
        bench.preload(preload).await?;
        bench.seal().await?;
        // As the `http` benchmark (and `ml-audit demo`) do after a bulk load: PostgreSQL plans the
        // list's pages by the statistics.
        server::open_store(&db.url).await?.refresh_statistics().await?;
        let report = std::mem::take(&mut bench.report);
        drop(bench);
        server.stop().await?;
        report
    };
    // A server started afresh, so that its memory during the export is the export's, not what
    // the preload's ingestion left behind.
    let server = Server::start(bin, db).await?;
    let client = Client::with_key(server.addr, &key)?;
    wait_until_healthy(&client).await?;

    // The shell's export, beside the idle server.
    let (took, peak) = cli_export(bin, db, &["export", "--format", "jsonl"]).await?;
    let rows = preload as u64;
    report.row(
        "`ml-audit export --format jsonl > /dev/null`",
        format!(
            "{} rows/s ({} rows in {:.1} s)",
            thousands(rows as f64 / took.as_secs_f64()),
            thousands(rows as f64),
            took.as_secs_f64()
        ),
        RATE_TARGET,
    );
    report.row("`ml-audit export` peak RSS (VmHWM, sampled every 50 ms)", mb(peak), "< 150 MB");

    // The API's export, streamed and discarded by this process.
    let before = server.memory()?;
    let started = Instant::now();
    let (mut lines, mut bytes) = (0u64, 0u64);
    let mut conn = client.connect().await?;
    conn.stream(&Call::get("/api/v1/exports/predictions?format=jsonl")?, |chunk| {
        lines += chunk.iter().filter(|byte| **byte == b'\n').count() as u64;
        bytes += chunk.len() as u64;
    })
    .await?;
    let took = started.elapsed();
    let after = server.memory()?;
    ensure!(lines == preload as u64, "the API's export held {lines} lines of {preload}");
    report.row(
        "`GET /api/v1/exports/predictions?format=jsonl` (streamed, discarded)",
        format!(
            "{} rows/s ({} rows, {} in {:.1} s)",
            thousands(lines as f64 / took.as_secs_f64()),
            thousands(lines as f64),
            mb(bytes),
            took.as_secs_f64()
        ),
        RATE_TARGET,
    );
    let samples = server.rss_samples(started, Instant::now());
    let largest = samples.iter().copied().chain([before.rss, after.rss]).max().unwrap_or(after.rss);
    report.row(
        "server RSS during the API's export, started afresh after the preload: start → end (largest 1 s sample)",
        format!("{} → {} ({})", mb(before.rss), mb(after.rss), mb(largest)),
        RSS_TARGET,
    );

    // The list, paged through: what a client without the export would do.
    let started = Instant::now();
    let (mut listed, mut pages) = (0u64, 0u64);
    let mut cursor: Option<String> = None;
    loop {
        let target = match &cursor {
            Some(cursor) => format!("{PREDICTIONS}?limit=1000&cursor={cursor}"),
            None => format!("{PREDICTIONS}?limit=1000"),
        };
        let body = conn.call(&Call::get(&target)?).await?;
        pages += 1;
        cursor = next_cursor(&body)?;
        match cursor {
            // A page with a next one is full.
            Some(_) => listed += 1000,
            None => {
                let page: serde_json::Value = serde_json::from_slice(&body)?;
                listed += page["items"].as_array().context("a page has items")?.len() as u64;
                break;
            }
        }
    }
    let took = started.elapsed();
    ensure!(listed == preload as u64, "the list held {listed} rows of {preload}");
    report.row(
        "`GET /api/v1/predictions?limit=1000`, every page in turn",
        format!(
            "{} rows/s ({pages} pages in {:.1} s)",
            thousands(listed as f64 / took.as_secs_f64()),
            took.as_secs_f64()
        ),
        NO_TARGET,
    );
    server.stop().await?;

    // Evidence packages of every row, and their offline check: without proofs, then with them.
    for (name, proofs) in [("package", false), ("package-with-proofs", true)] {
        let dir = db.path(name);
        let dir_text = dir.to_str().context("a UTF-8 temporary path")?;
        let mut args = vec!["export", "--format", "jsonl", "--out", dir_text];
        if proofs {
            args.push("--with-proofs");
        }
        let (took, peak) = cli_export(bin, db, &args).await?;
        report.row(
            format!("`ml-audit export --out DIR{}`", if proofs { " --with-proofs" } else { "" }),
            format!(
                "{} rows/s ({:.1} s), peak RSS {}",
                thousands(rows as f64 / took.as_secs_f64()),
                took.as_secs_f64(),
                mb(peak)
            ),
            RATE_TARGET,
        );
        let (took, peak) = cli_export(bin, db, &["verify", "--package", dir_text]).await?;
        report.row(
            format!("`ml-audit verify --package DIR` ({})", if proofs { "with proofs" } else { "no proofs" }),
            format!(
                "{} records/s ({:.1} s), peak RSS {}",
                thousands(rows as f64 / took.as_secs_f64()),
                took.as_secs_f64(),
                mb(peak)
            ),
            "≥ 100,000 records/s",
        );
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(report.titled(format!(
        "ml-audit export benchmark — {} backend, {} predictions",
        backend.name(),
        thousands(preload as f64)
    )))
}

/// `next_cursor` of a list page, read from its end (where the server writes it) without
/// decoding the page's items.
fn next_cursor(body: &[u8]) -> anyhow::Result<Option<String>> {
    const KEY: &[u8] = b"\"next_cursor\":";
    let at = body.windows(KEY.len()).rposition(|window| window == KEY).context("a page has next_cursor")?;
    let rest = std::str::from_utf8(&body[at + KEY.len()..])?.trim_end_matches('}').trim();
    Ok(match rest {
        "null" => None,
        quoted => Some(quoted.trim_matches('"').to_owned()),
    })
}

/// Runs `ml-audit <args> > /dev/null` (an export, or a package's check): the wall time and the
/// process's peak RSS (VmHWM), sampled from /proc while it runs (the last sample is at most
/// 50 ms before the end). An export's rows are not counted here (that would cost this process a
/// pass over every byte on the same cores); the CLI's tests hold its output to the API's.
async fn cli_export(bin: &Path, db: &Database, args: &[&str]) -> anyhow::Result<(Duration, u64)> {
    let started = Instant::now();
    let mut child = server::command(bin, db, args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start `ml-audit export`")?;
    let pid = child.id().context("`ml-audit export` exited at once")?;
    let mut peak = 0;
    let status = loop {
        if let Ok(memory) = server::memory(pid) {
            peak = peak.max(memory.peak);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = started.elapsed();
    if !status.success() {
        let mut stderr = String::new();
        if let Some(mut err) = child.stderr.take() {
            use tokio::io::AsyncReadExt as _;
            err.read_to_string(&mut stderr).await?;
        }
        bail!("`ml-audit {}` failed ({status}): {stderr}", args.join(" "));
    }
    Ok((took, peak))
}
