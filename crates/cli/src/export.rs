//! `ml-audit export`: every prediction the filters match, in the shape the API shows, to stdout
//! as JSON Lines, CSV or (feature `parquet`) Parquet, or with `--out DIR` as an evidence package
//! (SPEC part 2, "Export"). The operator sees every tenant.
//!
//! Filters are the list API's: the flags are turned into its query pairs and read by the same
//! core parser (`parse_list_query`), so a bad value is refused in the API's words, named by its
//! flag. Rows are read in keyset pages one ahead of the encoder and written as each page comes
//! (`ml_audit_server::export`, which the API's export route uses too), so memory stays flat.
//! A failure midway ends the command with exit 1 after what was already written: a partial
//! output is never reported as a success.

use std::io::{IsTerminal as _, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use ml_audit_core::access::{AccessAction, AccessEntry};
use ml_audit_core::auth::Visibility;
use ml_audit_core::ledger::merkle::leaf_hash;
use ml_audit_core::ledger::record::{RECORD_VERSION, SALTED_RECORD_VERSION};
use ml_audit_core::ledger::stored::RowCatalog;
use ml_audit_core::model::PredictionEvent;
use ml_audit_core::query::{PredictionFilter, parse_list_query};
use ml_audit_ledger::key::LedgerKey;
use ml_audit_ledger::package::{DataFormat, InclusionPaths, LeafTree, LedgerInfo, PackageWriter, RecordLine};
use ml_audit_ledger::sealer::Sealer;
use ml_audit_server::export::{self, DEFAULT_PAGE_ROWS, ExportFormat, ExportPages};
use ml_audit_storage::StorageError;
use ml_audit_storage::prelude::*;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::settings::Settings;
use crate::{DbArg, open_store, operator};

#[cfg(feature = "parquet")]
mod parquet_file;

/// `ml-audit export`'s flags.
#[derive(clap::Args)]
pub struct ExportArgs {
    /// What to write: JSON Lines (one prediction per line), CSV (a column per top-level field),
    /// or Parquet (builds with the `parquet` feature).
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: FormatArg,
    #[command(flatten)]
    pub filters: FilterFlags,
    /// Write an evidence package into DIR (which must not exist or be empty) instead of stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// With --out: an inclusion proof per record, against the package's checkpoint.
    #[arg(long, requires = "out")]
    pub with_proofs: bool,
    #[command(flatten)]
    pub db: DbArg,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum FormatArg {
    Jsonl,
    Csv,
    Parquet,
}

/// The list API's filters as flags, each taking the value the query parameter of the same name
/// (`--model-name` for `model_name`) takes.
#[derive(clap::Args, Default)]
pub struct FilterFlags {
    #[arg(long, value_name = "NAME")]
    pub model_name: Option<String>,
    #[arg(long, value_name = "VERSION")]
    pub model_version: Option<String>,
    /// user, service, api_key, job or other.
    #[arg(long, value_name = "TYPE")]
    pub actor_type: Option<String>,
    #[arg(long, value_name = "ID")]
    pub actor_id: Option<String>,
    #[arg(long, value_name = "TENANT")]
    pub tenant_id: Option<String>,
    /// RFC 3339 with a time zone, inclusive.
    #[arg(long, value_name = "RFC3339")]
    pub time_from: Option<String>,
    /// RFC 3339 with a time zone, inclusive.
    #[arg(long, value_name = "RFC3339")]
    pub time_to: Option<String>,
    #[arg(long, value_name = "DECISION")]
    pub decision_outcome: Option<String>,
    #[arg(long, value_name = "ENV")]
    pub environment: Option<String>,
    /// true or false.
    #[arg(long, value_name = "BOOL")]
    pub has_explanation: Option<String>,
    /// success, failed or partial.
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    /// Inclusive, 0 to 1.
    #[arg(long, value_name = "X")]
    pub min_confidence: Option<String>,
    /// Inclusive, 0 to 1.
    #[arg(long, value_name = "X")]
    pub max_confidence: Option<String>,
    #[arg(long, value_name = "ID")]
    pub trace_id: Option<String>,
    /// A raw identifier its `hash` redactions pseudonymized (needs the redaction hash key).
    #[arg(long, value_name = "RAW")]
    pub subject: Option<String>,
    /// true or false.
    #[arg(long, value_name = "BOOL")]
    pub has_outcome: Option<String>,
    /// The current outcome's label.
    #[arg(long, value_name = "LABEL")]
    pub outcome_label: Option<String>,
    /// true or false.
    #[arg(long, value_name = "BOOL")]
    pub reviewed: Option<String>,
    /// true or false: whether an effective override or reverse changed the decision.
    #[arg(long, value_name = "BOOL")]
    pub overridden: Option<String>,
    /// The decision in force after review.
    #[arg(long, value_name = "DECISION")]
    pub final_decision: Option<String>,
    /// none, pending_second or final.
    #[arg(long, value_name = "STATE")]
    pub review_state: Option<String>,
}

impl FilterFlags {
    /// The flags given, as the list API's query pairs.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("model_name", &self.model_name),
            ("model_version", &self.model_version),
            ("actor_type", &self.actor_type),
            ("actor_id", &self.actor_id),
            ("tenant_id", &self.tenant_id),
            ("time_from", &self.time_from),
            ("time_to", &self.time_to),
            ("decision_outcome", &self.decision_outcome),
            ("environment", &self.environment),
            ("has_explanation", &self.has_explanation),
            ("status", &self.status),
            ("min_confidence", &self.min_confidence),
            ("max_confidence", &self.max_confidence),
            ("trace_id", &self.trace_id),
            ("subject", &self.subject),
            ("has_outcome", &self.has_outcome),
            ("outcome_label", &self.outcome_label),
            ("reviewed", &self.reviewed),
            ("overridden", &self.overridden),
            ("final_decision", &self.final_decision),
            ("review_state", &self.review_state),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|value| (name, value)))
        .collect()
    }

    /// The filter, read by the list API's parser; a bad value is named by its flag, in the
    /// API's words. A `--subject` is replaced by its pseudonym token.
    pub fn filter(&self, settings: &Settings) -> anyhow::Result<PredictionFilter> {
        let (mut filter, _) = parse_list_query(self.pairs())
            .map_err(|error| anyhow!("--{}: {}", error.field.replace('_', "-"), error.message))?;
        if let Some(raw) = filter.subject.take() {
            let token = settings.redaction_policy()?.subject_token(&raw).ok_or_else(|| {
                anyhow!(
                    "--subject: subject lookup needs a redaction hash key (ML_AUDIT_REDACTION_HASH_KEY or \
                     redaction.hash_key_file, the key the records were written with)"
                )
            })?;
            filter.subject = Some(token);
        }
        Ok(filter)
    }

    /// The filters as given, for the access log (a `subject` never in clear).
    fn logged(&self) -> std::collections::BTreeMap<String, String> {
        let pairs = self.pairs().into_iter().map(|(name, value)| {
            let value = if name == "subject" { "(given; not recorded)" } else { value };
            (name.to_owned(), value.to_owned())
        });
        pairs.collect()
    }

    /// The filters as given, for a package's manifest (a `subject` never in clear).
    fn as_json(&self) -> Value {
        let pairs = self.pairs().into_iter().map(|(name, value)| {
            let value = if name == "subject" { json!("(given; not recorded)") } else { json!(value) };
            (name.to_owned(), value)
        });
        Value::Object(pairs.collect())
    }
}

/// `ml-audit export`.
pub async fn run(args: ExportArgs, mut settings: Settings) -> anyhow::Result<()> {
    // Checked before anything opens: a mistake costs no database round trip.
    let filter = args.filters.filter(&settings)?;
    #[cfg(not(feature = "parquet"))]
    if args.format == FormatArg::Parquet {
        bail!(
            "--format parquet: this ml-audit was built without Parquet support; build it with \
             `cargo build --release -p ml-audit --features parquet`"
        );
    }
    settings.database_url = args.db.db.unwrap_or(settings.database_url);
    let store = open_store(&settings.database_url).await?;
    let command = if args.out.is_some() { "export --out" } else { "export" };
    let mut log = ExportLog::new(operator::entry(AccessAction::Export, command, args.filters.logged(), String::new()));
    let progress = Progress::new();
    match &args.out {
        Some(dir) => {
            let key = ledger_key(&settings)?;
            let package = PackageRequest {
                dir,
                format: args.format,
                with_proofs: args.with_proofs,
                filters: args.filters.as_json(),
                exported_by: json!({"operator": whoami()}),
            };
            let sealer = Arc::new(Sealer::new(store.clone(), key, settings.ledger.witness_path.clone()).await?);
            let summary = export_package(store.clone(), &sealer, filter, package, &mut log, &progress).await?;
            log.finish(store.as_ref()).await?;
            progress.finish();
            eprintln!(
                "exported {} predictions ({} erased) to {} (checkpoint of {} leaves){}",
                summary.rows,
                summary.erased,
                dir.display(),
                summary.tree_size,
                summary.describe_left_out()
            );
        }
        None => {
            let out = BufferedStdout::new();
            let rows = write_stream(store.clone(), filter, args.format, out, &mut log, &progress).await?;
            log.finish(store.as_ref()).await?;
            progress.finish();
            tracing::debug!(rows, "export written");
        }
    }
    Ok(())
}

/// What a data file is written by: the shared text encoders, or the Parquet writer.
enum Encoder<W: Write + Send> {
    Text(ExportFormat, W),
    #[cfg(feature = "parquet")]
    Parquet(Box<parquet_file::ParquetRows<W>>),
}

impl<W: Write + Send> Encoder<W> {
    fn new(format: FormatArg, mut out: W) -> anyhow::Result<Self> {
        Ok(match format {
            FormatArg::Jsonl | FormatArg::Csv => {
                let format = if format == FormatArg::Csv { ExportFormat::Csv } else { ExportFormat::Jsonl };
                let mut header = Vec::new();
                format.write_header(&mut header);
                out.write_all(&header)?;
                Encoder::Text(format, out)
            }
            #[cfg(feature = "parquet")]
            FormatArg::Parquet => Encoder::Parquet(Box::new(parquet_file::ParquetRows::new(out)?)),
            #[cfg(not(feature = "parquet"))]
            FormatArg::Parquet => bail!("--format parquet needs the `parquet` feature"),
        })
    }

    fn write_page(&mut self, events: Vec<PredictionEvent>, scratch: &mut Vec<u8>) -> anyhow::Result<()> {
        match self {
            Encoder::Text(format, out) => {
                scratch.clear();
                format.write_rows(events, scratch);
                out.write_all(scratch)?;
            }
            #[cfg(feature = "parquet")]
            Encoder::Parquet(rows) => rows.write(events)?,
        }
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Encoder::Text(_, mut out) => out.flush()?,
            #[cfg(feature = "parquet")]
            Encoder::Parquet(rows) => rows.finish()?,
        }
        Ok(())
    }
}

/// Writes every matching prediction to `out`; returns how many. Pages are read on a task of
/// their own while this thread encodes the previous one.
pub async fn write_stream<W: Write + Send + 'static>(
    store: Arc<dyn Store>,
    filter: PredictionFilter,
    format: FormatArg,
    out: W,
    log: &mut ExportLog,
    progress: &Progress,
) -> anyhow::Result<u64> {
    let mut pages = ExportPages::new(store.clone(), Visibility::AllTenants, filter, DEFAULT_PAGE_ROWS).prefetch();
    let (counted, mut counts) = mpsc::unbounded_channel::<Vec<Uuid>>();
    let writer = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let mut encoder = Encoder::new(format, out)?;
        let (mut rows, mut scratch) = (0u64, Vec::new());
        while let Some(page) = pages.blocking_recv() {
            let events = page.context("reading the predictions failed; the output is incomplete")?;
            let ids: Vec<Uuid> = events.iter().map(|event| event.id).collect();
            rows += ids.len() as u64;
            encoder.write_page(events, &mut scratch)?;
            let _ = counted.send(ids);
        }
        encoder.finish()?;
        Ok(rows)
    });
    while let Some(ids) = counts.recv().await {
        progress.add(ids.len() as u64);
        log.exported(store.as_ref(), ids).await?;
    }
    match writer.await? {
        Err(error) if is_broken_pipe(&error) => Ok(progress.rows()),
        outcome => outcome,
    }
}

/// Whether stdout's reader went away (`ml-audit export | head`): not a failure of the export.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Stdout with a large buffer (the lock is taken per write: stdout is shared with nothing else
/// here, and a `StdoutLock` cannot move to the encoding thread).
struct BufferedStdout(std::io::BufWriter<std::io::Stdout>);

impl BufferedStdout {
    fn new() -> Self {
        Self(std::io::BufWriter::with_capacity(1 << 20, std::io::stdout()))
    }
}

impl Write for BufferedStdout {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes)
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.write_all(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Rows written so far, shown on stderr when it is a terminal (count and rate); nothing
/// otherwise, so that a script's stderr holds only errors.
pub struct Progress(indicatif::ProgressBar);

impl Progress {
    pub fn new() -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(indicatif::ProgressBar::hidden());
        }
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} exported {human_pos} rows ({per_sec})") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Self(bar)
    }

    pub fn add(&self, rows: u64) {
        self.0.inc(rows);
    }

    pub fn rows(&self) -> u64 {
        self.0.position()
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// The ledger signing key, which must exist: an export signs a checkpoint with the key the
/// log's checkpoints are signed with, never a fresh one.
fn ledger_key(settings: &Settings) -> anyhow::Result<Arc<LedgerKey>> {
    let path = settings.ledger_key_path();
    if !path.exists() {
        bail!(
            "--out: no ledger key at {}; an evidence package is signed with the key of the server's ledger \
             (ledger.key_path)",
            path.display()
        );
    }
    Ok(Arc::new(LedgerKey::load_or_create(&path, &settings.ledger.origin)?))
}

/// Who runs the export, for a package's manifest.
fn whoami() -> String {
    std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into())
}

/// The access log's entries of one export: the predictions exported, written every
/// [`Self::EVERY`] rows (entries of at most a thousand each), and at least one entry even when
/// nothing matched — the export itself is on record.
pub struct ExportLog {
    template: AccessEntry,
    pending: Vec<Uuid>,
    written: bool,
}

impl ExportLog {
    const EVERY: usize = 10_000;

    pub fn new(template: AccessEntry) -> Self {
        Self { template, pending: Vec::new(), written: false }
    }

    pub async fn exported(&mut self, store: &dyn Store, ids: Vec<Uuid>) -> anyhow::Result<()> {
        self.pending.extend(ids);
        if self.pending.len() >= Self::EVERY { self.write(store).await } else { Ok(()) }
    }

    pub async fn finish(mut self, store: &dyn Store) -> anyhow::Result<()> {
        if !self.pending.is_empty() || !self.written { self.write(store).await } else { Ok(()) }
    }

    async fn write(&mut self, store: &dyn Store) -> anyhow::Result<()> {
        let mut entry = self.template.clone().with_predictions(std::mem::take(&mut self.pending));
        entry.id = Uuid::now_v7();
        self.written = true;
        operator::record(store, entry).await
    }
}

// ---------------------------------------------------------------------------------------------
// Evidence packages

/// What `--out` asks for.
pub struct PackageRequest<'a> {
    pub dir: &'a Path,
    pub format: FormatArg,
    pub with_proofs: bool,
    /// The filters as given (`subject` never in clear).
    pub filters: Value,
    /// The exporting operator.
    pub exported_by: Value,
}

/// What an evidence package export did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PackageSummary {
    pub rows: u64,
    pub tree_size: u64,
    /// Matching predictions not in the package: sealed after its checkpoint (written during the
    /// export) or not sealed yet.
    pub not_covered: u64,
    /// Erased predictions in the package (shown as erased, checked against their seal).
    pub erased: u64,
}

impl PackageSummary {
    fn describe_left_out(&self) -> String {
        let mut parts = Vec::new();
        if self.not_covered > 0 {
            parts.push(format!("{} not covered by the checkpoint (recorded during the export)", self.not_covered));
        }
        if parts.is_empty() { String::new() } else { format!("; left out: {}", parts.join(", ")) }
    }
}

/// Leaf hashes read at once for the proofs of a package.
const LEAVES_READ: usize = 65_536;

/// `--out`: seals everything recorded so far and signs a checkpoint now (as
/// `POST /api/v1/ledger/checkpoint` does), then hands each matching prediction the checkpoint
/// covers to the package writer with its record line, and finally the checkpoint, the ledger's
/// identity and (with proofs) the tree. Predictions recorded during the export, or sealed after
/// the checkpoint, are left out and counted; so are erased v1 records (nothing left to show).
/// Each record line's leaf data is checked to hash to the stored leaf before it is written: a
/// record that does not is tampered evidence, and the export stops (run `ml-audit verify`).
pub async fn export_package(
    store: Arc<dyn Store>,
    sealer: &Sealer,
    filter: PredictionFilter,
    request: PackageRequest<'_>,
    log: &mut ExportLog,
    progress: &Progress,
) -> anyhow::Result<PackageSummary> {
    let format = match request.format {
        FormatArg::Jsonl => DataFormat::Jsonl,
        FormatArg::Csv => DataFormat::Csv,
        FormatArg::Parquet => DataFormat::Parquet,
    };
    let mut writer = PackageWriter::create(request.dir, format, request.with_proofs)?;
    let checkpoint = sealer.checkpoint().await.context("sealing and signing a checkpoint for the package")?;
    let tree_size = checkpoint.tree_size;
    let mut summary = PackageSummary { tree_size, ..PackageSummary::default() };
    let mut pages = ExportPages::new(store.clone(), Visibility::AllTenants, filter, DEFAULT_PAGE_ROWS).prefetch();
    let mut row = Vec::with_capacity(4096);
    while let Some(page) = pages.recv().await {
        let page = page.context("reading the predictions failed; the package is incomplete")?;
        let mut exported = Vec::with_capacity(page.len());
        for event in page {
            let Some(entry) = event.ledger.filter(|entry| entry.seq < tree_size) else {
                summary.not_covered += 1;
                continue;
            };
            let line = record_line(store.as_ref(), &event, entry.seq).await?;
            let recomputed = if line.leaf_data.is_empty() { line.leaf_hash } else { Some(leaf_hash(&line.leaf_data)) };
            if recomputed != Some(entry.leaf_hash) {
                bail!(
                    "prediction {} does not hash to its ledger leaf {}: the stored record was altered; \
                     nothing should be exported from it before `ml-audit verify` is run",
                    line.id,
                    entry.seq
                );
            }
            exported.push(event.id);
            row.clear();
            export::write_jsonl_line(event, &mut row);
            row.pop();
            writer.push_json(&row, &line)?;
            summary.rows += 1;
            progress.add(1);
        }
        log.exported(store.as_ref(), exported).await?;
    }
    let tree = match request.with_proofs {
        true => {
            // Read in slices: one read of a million rows would hold every row's driver copy at once.
            let mut leaves = Vec::with_capacity(tree_size as usize);
            for from in (0..tree_size).step_by(LEAVES_READ) {
                let to = tree_size.min(from + LEAVES_READ as u64);
                leaves.extend(store.ledger_leaf_hashes(from, to).await?);
            }
            if leaves.len() as u64 != tree_size {
                bail!("the log has {} entries below seq {tree_size}: run `ml-audit verify`", leaves.len());
            }
            Some(LeafTree::new(leaves))
        }
        false => None,
    };
    let ledger = LedgerInfo { origin: sealer.key().origin().to_owned(), vkey: sealer.key().verifier().vkey() };
    let proofs = tree.as_ref().map(|tree| tree as &dyn InclusionPaths);
    let written = tokio::task::block_in_place(|| {
        writer.finish(proofs, &checkpoint.note, &ledger, request.exported_by, request.filters)
    })?;
    summary.erased = written.erased;
    Ok(summary)
}

/// The record line of a sealed prediction at `seq`. An intact record's leaf data is written
/// from the record itself; an erased one's content is gone, so its seal is written from what the
/// erasure kept (the stored log's row and commitment), and an erased v1 record (whose leaf hashed
/// the content itself) is given by its leaf hash alone.
async fn record_line(store: &dyn Store, event: &PredictionEvent, seq: u64) -> anyhow::Result<RecordLine> {
    if event.erased.is_none() {
        return RecordLine::of_prediction(event).map_err(|e| anyhow!(e));
    }
    let seal = erased_leaf_data(store, seq, event.id).await?;
    let version = if seal.is_some() { SALTED_RECORD_VERSION } else { RECORD_VERSION };
    let leaf_hash = event.ledger.filter(|_| seal.is_none()).map(|entry| entry.leaf_hash);
    Ok(RecordLine {
        prediction_id: None,
        id: event.id,
        leaf_index: seq,
        version,
        created_at: event.created_at,
        salt: None,
        leaf_data: seal.unwrap_or_default(),
        leaf_hash,
    })
}

/// The seal of the erased prediction `id` at `seq`, from the stored log; `None` for a v1 record.
async fn erased_leaf_data(store: &dyn Store, seq: u64, id: Uuid) -> anyhow::Result<Option<Vec<u8>>> {
    let stored = store.ledger_records(seq, seq + 1).await?;
    let leaf = stored.rows.first().filter(|leaf| leaf.leaf.record_id == id);
    let Some(record) = leaf.and_then(|leaf| leaf.record.as_ref()) else {
        return Err(StorageError::Integrity(format!("ledger entry {seq} does not name prediction {id}")).into());
    };
    let rows = RowCatalog::new(stored.models, stored.actors);
    let mut seal = Vec::with_capacity(512);
    match record.spliced_leaf_hash(&rows, &mut seal) {
        Ok(Some(_)) => Ok(Some(seal)),
        Ok(None) => Ok(None),
        Err(error) => Err(StorageError::Integrity(format!("erased prediction {id} cannot be read: {error}")).into()),
    }
}
