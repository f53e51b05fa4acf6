//! `ml-audit`: the server and its operator commands. Errors end here as `anyhow` reports.

mod demo;
mod export;
mod lifecycle;
mod operator;
mod settings;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use mimalloc::MiMalloc;
use ml_audit_core::access::AccessAction;
use ml_audit_core::auth::{KeyScope, issue_key};
use ml_audit_core::review::ReviewPolicy;
use ml_audit_core::timestamp::format_rfc3339;
use ml_audit_ledger::key::{LedgerKey, LedgerVerifier};
use ml_audit_ledger::sealer::Sealer;
use ml_audit_ledger::verify::{verify_derived, verify_exported_proof, verify_log};
use ml_audit_postgres::PgStore;
use ml_audit_server::AppState;
use ml_audit_sqlite::SqliteStore;
use ml_audit_storage::prelude::*;
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::settings::Settings;

/// The write path allocates many short-lived JSON values on several threads: mimalloc is
/// faster than glibc's malloc there and returns memory instead of fragmenting per-thread arenas.
#[global_allocator]
static ALLOCATOR: MiMalloc = MiMalloc;

#[derive(Parser)]
#[command(name = "ml-audit", version, about = "A defensible, queryable audit trail of ML predictions")]
struct Cli {
    /// TOML config file (default: ./ml-audit.toml when present; or ML_AUDIT_CONFIG).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (applies pending migrations first).
    Serve {
        #[command(flatten)]
        db: DbArg,
        /// Address to listen on [default: 127.0.0.1:8080; env ML_AUDIT_BIND].
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
    },
    /// Apply pending migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DbArg,
    },
    /// Manage API keys (works while `serve` runs on the same database).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Check the tamper-evident ledger end to end (exit 0 intact, 1 with the first bad entry), or
    /// with --proof and --checkpoint, one exported record offline.
    Verify {
        #[command(flatten)]
        db: DbArg,
        /// The ledger's public key: a C2SP vkey string or a file holding one [default: derived from
        /// the configured ledger key file].
        #[arg(long, value_name = "KEY")]
        public_key: Option<String>,
        /// A checkpoint note kept outside the database [default: the configured witness file].
        #[arg(long, value_name = "FILE", conflicts_with = "proof")]
        witness: Option<PathBuf>,
        /// A proof file (the JSON of GET /api/v1/predictions/{ref}/proof) to check offline.
        #[arg(long, value_name = "FILE", requires = "checkpoint")]
        proof: Option<PathBuf>,
        /// The signed checkpoint note the proof is checked against.
        #[arg(long, value_name = "FILE", requires = "proof")]
        checkpoint: Option<PathBuf>,
        /// An evidence package (the folder `ml-audit export --out` wrote) to check offline; with
        /// --public-key, its checkpoint must be signed by that key (else by the key its manifest
        /// names, which only shows the package is consistent).
        #[arg(long, value_name = "DIR", conflicts_with_all = ["proof", "witness"])]
        package: Option<PathBuf>,
    },
    /// Every prediction the filters match (the list API's, as flags), in the shape the API shows:
    /// to stdout as JSON Lines, CSV or Parquet, or with --out as an evidence package. Works
    /// while `serve` runs on the same database; sees every tenant.
    Export(Box<export::ExportArgs>),
    /// Erase the records a data subject, an actor or listed predictions reach (GDPR Art. 17):
    /// their personal content is destroyed, their ledger leaves stay. Refused whole (exit 1) if
    /// a legal hold covers any of them.
    #[command(group(clap::ArgGroup::new("selector").required(true).multiple(true)
        .args(["subject", "actor", "predictions"])))]
    Erase {
        #[command(flatten)]
        records: lifecycle::Records,
        /// Why (kept in the erasure's ledger leaf).
        #[arg(long)]
        reason: String,
        /// Count what would be erased; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// Erase once every record past its retention (`[retention]`), in batches, as `serve` does
    /// every hour.
    Purge {
        /// Count what would be purged; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Then rewrite the database so that the purged space is returned (SQLite: `VACUUM`,
        /// which shrinks the file but blocks writes while it runs: a maintenance window).
        #[arg(long, conflicts_with = "dry_run")]
        vacuum: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// Legal holds: nothing a standing hold covers is erased or purged.
    Holds {
        #[command(subcommand)]
        command: HoldsCommand,
    },
    /// Print the effective settings as TOML (defaults, file and environment applied).
    Config,
    /// Show what the configured redaction policy would store for one event (the JSON body of
    /// POST /api/v1/predictions, read from stdin). Nothing is written anywhere.
    Redact,
    /// Serve the admin UI on a database filled with realistic sample predictions, printing the
    /// UI's URL and an admin key.
    Demo {
        /// sqlite://PATH, sqlite::memory: or postgres://… [default: a fresh temporary SQLite file,
        /// removed when the demo stops].
        #[arg(long, value_name = "URL")]
        db: Option<String>,
        /// Address to listen on [default: 127.0.0.1:8080; env ML_AUDIT_BIND].
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
        /// How many sample predictions to record (for trying the UI at scale).
        #[arg(long, value_name = "N", default_value_t = demo::DEFAULT_PREDICTIONS, hide = true)]
        predictions: usize,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; the key itself is the last line of stdout.
    Create {
        #[arg(long, value_enum)]
        scope: ScopeArg,
        /// Bind the key to one tenant: it reads and writes only that tenant's predictions.
        #[arg(long)]
        tenant: Option<String>,
        /// A label to recognise the key by.
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        db: DbArg,
    },
    /// Revoke a key by id; it stops working at once.
    Revoke {
        id: Uuid,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Subcommand)]
enum HoldsCommand {
    /// List every hold, newest first: standing, released or lapsed.
    List {
        #[command(flatten)]
        db: DbArg,
    },
    /// Place a hold on the records matching every scope given (at least one).
    #[command(group(clap::ArgGroup::new("scope").required(true).multiple(true)
        .args(["tenant", "model", "subject", "actor", "predictions"])))]
    Create {
        /// Why (kept in the hold's ledger leaf).
        #[arg(long)]
        reason: String,
        /// The records of this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// The records of this model (every version).
        #[arg(long, value_name = "MODEL_NAME")]
        model: Option<String>,
        #[command(flatten)]
        records: lifecycle::Records,
        /// The hold lapses by itself at this time (RFC 3339) [default: it stands until released].
        #[arg(long, value_name = "RFC3339")]
        until: Option<String>,
        #[command(flatten)]
        db: DbArg,
    },
    /// Release a standing hold.
    Release {
        id: Uuid,
        /// Why (kept in the release's ledger leaf).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(clap::Args)]
struct DbArg {
    /// sqlite://PATH, sqlite::memory: or postgres://… [default: sqlite://ml-audit-data/ml-audit.db;
    /// env ML_AUDIT_DATABASE_URL].
    #[arg(long, value_name = "URL")]
    db: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScopeArg {
    Ingest,
    Read,
    Admin,
}

impl From<ScopeArg> for KeyScope {
    fn from(scope: ScopeArg) -> Self {
        match scope {
            ScopeArg::Ingest => KeyScope::Ingest,
            ScopeArg::Read => KeyScope::Read,
            ScopeArg::Admin => KeyScope::Admin,
        }
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let (mut settings, warnings) = Settings::load(cli.config.as_deref(), &env)?;
    init_logging(env.get("ML_AUDIT_LOG").map_or("info", String::as_str));
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve { db, bind } => {
                settings.database_url = db.db.unwrap_or(settings.database_url);
                settings.bind = bind.unwrap_or(settings.bind);
                serve(settings).await
            }
            Command::Migrate { db } => {
                let store = open_store(&db.db.unwrap_or(settings.database_url)).await?;
                println!("migrations applied ({} database is up to date)", store.backend());
                Ok(())
            }
            Command::Keys { command } => keys(command, &settings).await,
            Command::Verify { package: Some(dir), public_key, .. } => {
                if !verify_package(&dir, public_key.as_deref())? {
                    std::process::exit(1);
                }
                Ok(())
            }
            Command::Verify { db, public_key, witness, proof, checkpoint, package: None } => {
                settings.database_url = db.db.unwrap_or(settings.database_url);
                let verifier = ledger_verifier(public_key.as_deref(), &settings)?;
                let intact = match (proof, checkpoint) {
                    (Some(proof), Some(checkpoint)) => verify_offline(&proof, &checkpoint, &verifier)?,
                    _ => {
                        let witness = witness.or(settings.ledger.witness_path.clone());
                        let review = settings.review_policy();
                        verify_database(&settings.database_url, &verifier, witness.as_deref(), &review).await?
                    }
                };
                if !intact {
                    std::process::exit(1);
                }
                Ok(())
            }
            Command::Export(args) => export::run(*args, settings).await,
            Command::Erase { records, reason, dry_run, db } => {
                let request = lifecycle::EraseRequest { records, reason, dry_run };
                lifecycle::erase(request, db, &settings).await
            }
            Command::Purge { dry_run, vacuum, db } => lifecycle::purge(dry_run, vacuum, db, &settings).await,
            Command::Holds { command } => lifecycle::holds(command, &settings).await,
            Command::Demo { db, bind, predictions } => demo::run(settings, db, bind, predictions).await,
            Command::Config => {
                print!("{}", toml::to_string_pretty(&settings)?);
                Ok(())
            }
            Command::Redact => redact(&settings),
        }
    })
}

/// `ml-audit redact`: the event from stdin through the configured policy, printed as JSON;
/// exit 1 with the field error on an invalid event.
fn redact(settings: &Settings) -> anyhow::Result<()> {
    let policy = settings.redaction_policy()?;
    let mut input = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut input).context("cannot read the event from stdin")?;
    let event: serde_json::Value = match serde_json::from_str(&input) {
        Ok(event) => event,
        Err(e) => {
            eprintln!("error: the event is not valid JSON: {e}");
            std::process::exit(1);
        }
    };
    match ml_audit_core::redaction::preview(&policy, event) {
        Ok(preview) => {
            println!("{}", serde_json::to_string_pretty(&preview.to_json())?);
            Ok(())
        }
        Err(error) => {
            eprintln!("error: invalid event: {error}");
            std::process::exit(1);
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// Picks the backend from the URL's scheme and brings its schema up to date.
async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        Arc::new(SqliteStore::open(url).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Arc::new(PgStore::open(url).await?)
    } else {
        bail!("unsupported database URL {url:?}: use sqlite://PATH, sqlite::memory: or postgres://…");
    };
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    // A bad redaction policy (or `hash` without a key) stops the start before anything opens.
    let server_settings = settings.server_settings()?;
    let store = open_store(&settings.database_url).await?;
    let listener =
        TcpListener::bind(&settings.bind).await.with_context(|| format!("cannot listen on {}", settings.bind))?;
    let url = format!("http://{}/", listener.local_addr()?);
    let key = Arc::new(LedgerKey::load_or_create(&settings.ledger_key_path(), &settings.ledger.origin)?);
    let sealer = Arc::new(Sealer::new(store.clone(), key, settings.ledger.witness_path.clone()).await?);
    let first = issue_key("bootstrap admin", KeyScope::Admin, None);
    if store.create_first_api_key(&first).await? {
        println!("Created the first admin API key (shown only this once; store it now):");
        println!("  {}", first.secret);
        println!("Admin UI: {url}");
    }
    // Scripts (and the tests) read this line to find the port when binding to port 0.
    println!("ml-audit listening on {url} ({} backend)", store.backend());
    let state = AppState::new(store.clone(), sealer, server_settings);
    ml_audit_server::serve(listener, state, shutdown_signal()?).await?;
    // SQLite: fold the WAL back into the file and empty it, so that nothing an erasure removed
    // lingers in the WAL's older frames between runs.
    // Best effort: on a full disk the checkpoint cannot run, and the next start retries it.
    if let Err(error) = store.reclaim_space().await {
        tracing::warn!(%error, "could not empty the WAL on shutdown; the next start and erasure retry it");
    }
    tracing::info!("stopped; every acknowledged event is committed");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM. The SIGTERM handler is installed here, before the server
/// answers anything (a future that installs it when first polled could leave a request answered
/// while SIGTERM still kills the process outright).
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        #[cfg(unix)]
        let terminate = terminate.recv();
        #[cfg(not(unix))]
        let terminate = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = terminate => {},
        }
        tracing::info!("shutdown requested");
    })
}

/// The public key to verify with: given on the command line (or in a file), else derived from
/// the configured signing key file.
fn ledger_verifier(given: Option<&str>, settings: &Settings) -> anyhow::Result<LedgerVerifier> {
    match given {
        Some(text) => {
            let text = match std::fs::read_to_string(text) {
                Ok(contents) => contents,
                Err(_) => text.to_owned(),
            };
            Ok(LedgerVerifier::from_vkey(&text)?)
        }
        None => {
            let path = &settings.ledger_key_path();
            if !path.exists() {
                bail!("no ledger key at {}; pass --public-key (GET /api/v1/ledger/public-key)", path.display());
            }
            Ok(LedgerKey::load_or_create(path, &settings.ledger.origin)?.verifier().clone())
        }
    }
}

async fn verify_database(
    url: &str,
    verifier: &LedgerVerifier,
    witness: Option<&Path>,
    review: &ReviewPolicy,
) -> anyhow::Result<bool> {
    let store = open_store(url).await?;
    let witness = match witness {
        Some(path) if path.exists() => Some(std::fs::read_to_string(path)?),
        _ => None,
    };
    let bar = indicatif::ProgressBar::new(0).with_style(indicatif::ProgressStyle::with_template(
        "verifying {bar:40} {pos}/{len} entries ({per_sec}, {eta} left)",
    )?);
    let mut progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let mut report = verify_log(store.clone(), verifier, witness.as_deref(), &mut progress).await?;
    bar.finish_and_clear();
    verify_derived(store.as_ref(), review, &mut report).await?;
    match report.problems.first() {
        None => {
            println!(
                "ledger intact: {} entries ({} records intact, {} erased, {} erasures/holds/releases, \
                 {} access entries), {} signed checkpoints verified",
                report.leaves, report.intact, report.erased, report.life_events, report.access, report.checkpoints
            );
            Ok(true)
        }
        Some(first) => {
            println!("LEDGER NOT INTACT: {first}");
            for problem in &report.problems[1..] {
                println!("  also: {problem}");
            }
            println!(
                "({} problems; {} entries, {} checkpoints checked)",
                report.problems.len(),
                report.leaves,
                report.checkpoints
            );
            Ok(false)
        }
    }
}

/// `verify --package DIR`: exit 0 when the package verifies; else the first bad file or record.
fn verify_package(dir: &Path, public_key: Option<&str>) -> anyhow::Result<bool> {
    // A vkey given as the string itself or as a file holding it, as `--public-key` elsewhere.
    let pinned = public_key.map(|text| match std::fs::read_to_string(text) {
        Ok(contents) => contents.trim().to_owned(),
        Err(_) => text.trim().to_owned(),
    });
    match ml_audit_ledger::package::verify_package(dir, pinned.as_deref()) {
        Ok(report) => {
            println!("{report}");
            if pinned.is_none() {
                eprintln!(
                    "note: no --public-key given: the checkpoint was checked against the key the manifest names; \
                     pass the log's key obtained out of band to prove who signed it"
                );
            }
            Ok(true)
        }
        Err(failure) => {
            println!("PACKAGE NOT VERIFIED: {failure}");
            Ok(false)
        }
    }
}

fn verify_offline(proof: &Path, checkpoint: &Path, verifier: &LedgerVerifier) -> anyhow::Result<bool> {
    let proof: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(proof)?)
        .with_context(|| format!("{} is not JSON", proof.display()))?;
    let note = std::fs::read_to_string(checkpoint)?;
    match verify_exported_proof(&proof, &note, verifier) {
        Ok(signed) => {
            println!(
                "record verified: leaf {} is in the log {:?} of {} entries, checkpoint signed by {}",
                proof["leaf_index"],
                signed.origin,
                signed.tree_size,
                verifier.name()
            );
            Ok(true)
        }
        Err(error) => {
            println!("RECORD NOT VERIFIED: {error}");
            Ok(false)
        }
    }
}

async fn keys(command: KeysCommand, settings: &Settings) -> anyhow::Result<()> {
    let db = |arg: DbArg| arg.db.unwrap_or_else(|| settings.database_url.clone());
    match command {
        KeysCommand::Create { scope, tenant, name, db: arg } => {
            let store = open_store(&db(arg)).await?;
            if tenant.as_deref().is_some_and(|t| t.trim().is_empty() || t.contains('\0')) {
                bail!("--tenant must be a non-empty tenant id");
            }
            let issued = issue_key(&name, scope.into(), tenant.clone());
            store.create_api_key(&issued).await?;
            let options = operator::given([("scope", Some(issued.key.scope.to_string())), ("tenant", tenant)]);
            let target = issued.key.id.to_string();
            operator::record(store.as_ref(), operator::entry(AccessAction::KeyCreate, "keys create", options, target))
                .await?;
            let key = &issued.key;
            println!(
                "created {} key {} ({}){}",
                key.scope,
                key.id,
                if key.name.is_empty() { "unnamed" } else { &key.name },
                key.tenant_id.as_deref().map(|t| format!(", tenant {t}")).unwrap_or_default()
            );
            println!("{}", issued.secret);
        }
        KeysCommand::List { db: arg } => {
            let store = open_store(&db(arg)).await?;
            println!(
                "{:<36}  {:<6}  {:<12}  {:<12}  {:<27}  {:<8}  NAME",
                "ID", "SCOPE", "TENANT", "PREFIX", "CREATED", "STATE"
            );
            for key in store.list_api_keys().await? {
                println!(
                    "{:<36}  {:<6}  {:<12}  {:<12}  {:<27}  {:<8}  {}",
                    key.id,
                    key.scope.as_str(),
                    key.tenant_id.as_deref().unwrap_or("-"),
                    key.prefix,
                    format_rfc3339(key.created_at),
                    if key.revoked_at.is_some() { "revoked" } else { "active" },
                    key.name
                );
            }
        }
        KeysCommand::Revoke { id, db: arg } => {
            let store = open_store(&db(arg)).await?;
            if !store.revoke_api_key(id).await? {
                bail!("no active key with id {id}");
            }
            let entry = operator::entry(AccessAction::KeyRevoke, "keys revoke", Default::default(), id.to_string());
            operator::record(store.as_ref(), entry).await?;
            println!("revoked key {id}");
        }
    }
    Ok(())
}
