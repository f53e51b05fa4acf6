//! A real `ml-audit serve` process on a fresh database, and the `ml-audit` commands run beside it
//! (`keys create`, `verify`), each in a private working directory with none of the caller's
//! `ML_AUDIT_*` settings, so that only what the benchmark chose applies.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use clap::ValueEnum;
use ml_audit_storage::Store;
use sqlx::Connection as _;
use tempfile::TempDir;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::client::{Call, Client};
use crate::report::{self, Report};

/// What the HTTP benchmarks run against: which backends, PostgreSQL's URL, and the binary.
#[derive(clap::Args)]
pub struct Targets {
    /// The backends to measure, one table each (e.g. `sqlite,postgres`).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sqlite")]
    pub backend: Vec<Backend>,
    /// PostgreSQL's maintenance database; the run creates `mla_bench_<pid>` beside it and drops
    /// it at the end.
    #[arg(long, value_name = "URL", default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub pg_url: String,
    /// The `ml-audit` binary [default: the one beside this executable].
    #[arg(long, value_name = "PATH")]
    server_bin: Option<PathBuf>,
}

impl Targets {
    /// The server binary to run, checked to exist.
    pub fn server_bin(&self) -> anyhow::Result<PathBuf> {
        let bin = match &self.server_bin {
            Some(path) => path.clone(),
            None => std::env::current_exe()?.with_file_name("ml-audit"),
        };
        ensure!(bin.is_file(), "no server binary at {} (build it, or pass --server-bin)", bin.display());
        Ok(bin)
    }

    /// `measure(bin, backend, db)` on each backend in turn, each on a fresh database that is
    /// removed whatever happens; then the machine and every backend's table are printed. Returns
    /// what else each backend's measure gave. `bench` names the benchmark in errors.
    pub async fn each_backend<T>(
        &self,
        bench: &str,
        measure: impl AsyncFn(&Path, Backend, &Database) -> anyhow::Result<(Report, T)>,
    ) -> anyhow::Result<Vec<(Backend, T)>> {
        let bin = self.server_bin()?;
        let mut reports = Vec::new();
        let mut results = Vec::new();
        for &backend in &self.backend {
            eprintln!("{} backend:", backend.name());
            let db = Database::create(backend, &self.pg_url).await?;
            // Interrupting drops the run, which kills the server, and still removes the database.
            let measured = tokio::select! {
                measured = measure(&bin, backend, &db) => measured,
                _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
            };
            let removed = db.remove().await.context("removing the benchmark's database");
            let (report, result) =
                measured.with_context(|| format!("the {} {bench} benchmark failed", backend.name()))?;
            removed?;
            reports.push(report);
            results.push((backend, result));
        }
        println!("{}", report::machine());
        for report in reports {
            report.print();
        }
        Ok(results)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A fresh, empty database and the folder holding the ledger key, the server's output and, for
/// SQLite, the database file.
pub struct Database {
    pub url: String,
    dir: TempDir,
    postgres: Option<Postgres>,
}

struct Postgres {
    maintenance_url: String,
    name: String,
}

/// A store on the database at `url` (`sqlite:` or `postgres:`), as `ml-audit` opens it.
pub async fn open_store(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    Ok(if url.starts_with("sqlite:") {
        Arc::new(ml_audit_sqlite::SqliteStore::open(url).await?)
    } else {
        Arc::new(ml_audit_postgres::PgStore::open(url).await?)
    })
}

impl Database {
    pub async fn create(backend: Backend, pg_url: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("bench.db").display());
                Ok(Self { url, dir, postgres: None })
            }
            Backend::Postgres => {
                let name = format!("mla_bench_{}", std::process::id());
                let (base, query) = match pg_url.split_once('?') {
                    Some((base, query)) => (base, format!("?{query}")),
                    None => (pg_url, String::new()),
                };
                let (server, _) = base
                    .rsplit_once('/')
                    .filter(|(server, _)| server.contains("://"))
                    .context("--pg-url must name a database: postgres://user@host:port/db")?;
                let url = format!("{server}/{name}{query}");
                let mut conn = sqlx::PgConnection::connect(pg_url)
                    .await
                    .with_context(|| format!("cannot connect to PostgreSQL at {pg_url}"))?;
                // A database of this name can only be left over from an interrupted run of ours.
                for sql in [format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), format!("CREATE DATABASE {name}")] {
                    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await?;
                }
                Ok(Self { url, dir, postgres: Some(Postgres { maintenance_url: pg_url.to_owned(), name }) })
            }
        }
    }

    /// Bytes the database takes: SQLite's pages (WAL content included), or `pg_database_size`.
    pub async fn size_bytes(&self) -> anyhow::Result<u64> {
        let size: i64 = match &self.postgres {
            None => {
                let mut conn = sqlx::SqliteConnection::connect(&format!("{}?mode=ro", self.url)).await?;
                sqlx::query_scalar("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
                    .fetch_one(&mut conn)
                    .await?
            }
            Some(pg) => {
                let mut conn = sqlx::PgConnection::connect(&pg.maintenance_url).await?;
                sqlx::query_scalar("SELECT pg_database_size($1)").bind(&pg.name).fetch_one(&mut conn).await?
            }
        };
        Ok(size.try_into()?)
    }

    /// PostgreSQL only: whether autovacuum is on, how often it has analysed `predictions`, and
    /// the rows changed since its last analysis, out of the rows it has (`None` on SQLite,
    /// which keeps no statistics).
    pub async fn autoanalyze(&self) -> anyhow::Result<Option<(String, i64, i64, i64)>> {
        if self.postgres.is_none() {
            return Ok(None);
        }
        let mut conn = sqlx::PgConnection::connect(&self.url).await?;
        let counts = sqlx::query_as(
            "SELECT current_setting('autovacuum'), autoanalyze_count, n_mod_since_analyze, n_live_tup \
             FROM pg_stat_user_tables WHERE relname = 'predictions'",
        )
        .fetch_one(&mut conn)
        .await?;
        Ok(Some(counts))
    }

    /// Drops the PostgreSQL database (the folder goes with `self`); also ends a server that is
    /// still connected.
    pub async fn remove(self) -> anyhow::Result<()> {
        if let Some(pg) = &self.postgres {
            let mut conn = sqlx::PgConnection::connect(&pg.maintenance_url).await?;
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", pg.name);
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await?;
        }
        Ok(())
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }
}

/// `ml-audit <args>` on this database, isolated from the caller's configuration.
pub(crate) fn command(bin: &Path, db: &Database, args: &[&str]) -> Command {
    let mut command = Command::new(bin);
    command.args(args).arg("--db").arg(&db.url).current_dir(db.dir.path()).stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ML_AUDIT_") {
            command.env_remove(name);
        }
    }
    // Beside the database for SQLite anyway; PostgreSQL's default would be a relative path.
    command.env("ML_AUDIT_LEDGER_KEY_PATH", db.path("ledger.key"));
    command
}

async fn output(bin: &Path, db: &Database, args: &[&str]) -> anyhow::Result<String> {
    let out = command(bin, db, args).output().await.with_context(|| format!("cannot run {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "`ml-audit {}` failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// `ml-audit keys create`: the new key's secret.
pub async fn create_key(bin: &Path, db: &Database) -> anyhow::Result<String> {
    let stdout = output(bin, db, &["keys", "create", "--scope", "admin", "--name", "bench"]).await?;
    stdout.lines().last().map(str::to_owned).context("`ml-audit keys create` printed no key")
}

/// What one `ml-audit verify` run took.
pub struct VerifyRun {
    pub leaves: u64,
    /// Of the leaves, the access log's entries (the benchmark's reads write them).
    pub access: u64,
    pub elapsed: Duration,
    /// User + system CPU time of the process, sampled from `/proc` while it runs (to 10 ms).
    pub cpu: Duration,
}

/// `ml-audit verify`, timed: how many leaves it checked, how long it took and how much CPU.
pub async fn verify(bin: &Path, db: &Database) -> anyhow::Result<VerifyRun> {
    use tokio::io::AsyncReadExt as _;

    let started = Instant::now();
    let mut child = command(bin, db, &["verify"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let pid = child.id().context("`ml-audit verify` has no pid")?;
    let read_all = |mut pipe: Box<dyn tokio::io::AsyncRead + Unpin + Send>| {
        tokio::spawn(async move {
            let mut text = String::new();
            pipe.read_to_string(&mut text).await.map(|_| text)
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().context("no stdout")?));
    let stderr = read_all(Box::new(child.stderr.take().context("no stderr")?));
    let mut cpu = Duration::ZERO;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        // Gone between the two calls: the last sample stands.
        cpu = cpu_time(pid).unwrap_or(cpu);
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let elapsed = started.elapsed();
    let (stdout, stderr) = (stdout.await??, stderr.await??);
    if !status.success() {
        bail!("`ml-audit verify` failed ({status}): {stdout}{stderr}");
    }
    let leaves = stdout
        .lines()
        .find_map(|line| line.strip_prefix("ledger intact: ")?.split_once(' ')?.0.parse().ok())
        .with_context(|| format!("unexpected output of `ml-audit verify`: {stdout}"))?;
    let access = stdout
        .lines()
        .find_map(|line| line.split_once(" access entries")?.0.rsplit(' ').next()?.parse().ok())
        .with_context(|| format!("`ml-audit verify` did not count access entries: {stdout}"))?;
    Ok(VerifyRun { leaves, access, elapsed, cpu })
}

/// User + system time of a running process, from `/proc/<pid>/stat` (in clock ticks of 10 ms).
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start after its closing parenthesis.
    let fields: Vec<&str> = stat.rsplit_once(')').context("no command name")?.1.split_whitespace().collect();
    let ticks = |index: usize| -> anyhow::Result<u64> { Ok(fields.get(index).context("short stat")?.parse()?) };
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// The server's memory, from `/proc/<pid>/status`, in bytes.
#[derive(Clone, Copy)]
pub struct Memory {
    pub rss: u64,
    pub peak: u64,
}

pub(crate) fn memory(pid: u32) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status.lines().find_map(|line| line.strip_prefix(name)).with_context(|| format!("no {name}"))?;
        Ok(line.trim().trim_end_matches("kB").trim().parse::<u64>()? * 1024)
    };
    Ok(Memory { rss: field("VmRSS:")?, peak: field("VmHWM:")? })
}

/// A running `ml-audit serve`; killed when dropped, so an error anywhere does not leave it behind.
pub struct Server {
    child: Child,
    pid: u32,
    pub addr: SocketAddr,
    samples: Arc<Mutex<Vec<(Instant, u64)>>>,
    sampler: JoinHandle<()>,
}

const START_TIMEOUT: Duration = Duration::from_secs(60);

impl Server {
    /// Starts the server on a free loopback port and returns once it listens.
    pub async fn start(bin: &Path, db: &Database) -> anyhow::Result<Self> {
        Self::start_with(bin, db, &[]).await
    }

    /// The same, with `ML_AUDIT_*` settings of the benchmark's choosing (name, value).
    pub async fn start_with(bin: &Path, db: &Database, settings: &[(String, String)]) -> anyhow::Result<Self> {
        let (out, err) = (db.path("serve.out"), db.path("serve.err"));
        let mut child = command(bin, db, &["serve", "--bind", "127.0.0.1:0"])
            .envs(settings.iter().cloned())
            .stdout(std::fs::File::create(&out)?)
            .stderr(std::fs::File::create(&err)?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let started = Instant::now();
        // `serve` prints this line once its listener is bound.
        let addr = loop {
            let printed = std::fs::read_to_string(&out)?;
            if let Some(addr) = printed.lines().find_map(|line| {
                line.strip_prefix("ml-audit listening on http://")?.split_once('/')?.0.parse::<SocketAddr>().ok()
            }) {
                break addr;
            }
            if let Some(status) = child.try_wait()? {
                bail!("`ml-audit serve` exited ({status}): {}", std::fs::read_to_string(&err)?);
            }
            if started.elapsed() > START_TIMEOUT {
                bail!("`ml-audit serve` did not listen within {START_TIMEOUT:?}: {}", std::fs::read_to_string(&err)?);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let samples = Arc::new(Mutex::new(Vec::new()));
        let sampler = tokio::spawn(sample_rss(pid, samples.clone()));
        Ok(Self { child, pid, addr, samples, sampler })
    }

    pub fn memory(&self) -> anyhow::Result<Memory> {
        memory(self.pid).context("reading the server's memory")
    }

    /// User + system CPU time the server has used so far (to 10 ms).
    pub fn cpu(&self) -> anyhow::Result<Duration> {
        cpu_time(self.pid).context("reading the server's CPU time")
    }

    /// The once-a-second RSS samples taken between two instants.
    pub fn rss_samples(&self, from: Instant, to: Instant) -> Vec<u64> {
        let samples = self.samples.lock().expect("the sampler does not panic");
        samples.iter().filter(|(at, _)| (from..=to).contains(at)).map(|(_, rss)| *rss).collect()
    }

    /// Stops the server as an operator would (SIGTERM: finish in-flight requests, close the
    /// database) and waits for it to exit cleanly.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let status = Command::new("kill").args(["-TERM", &self.pid.to_string()]).status().await?;
        if !status.success() {
            bail!("cannot signal the server (pid {})", self.pid);
        }
        let status = tokio::time::timeout(Duration::from_secs(120), self.child.wait())
            .await
            .context("the server did not stop within 2 minutes of SIGTERM")??;
        if !status.success() {
            bail!("the server exited with {status}");
        }
        Ok(())
    }
}

/// Returns once the server answers `GET /healthz` (within 30 s).
pub async fn wait_until_healthy(client: &Client) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let answered = match client.connect().await {
            Ok(mut conn) => conn.call(&Call::get("/healthz")?).await,
            Err(error) => Err(error),
        };
        match answered {
            Ok(_) => return Ok(()),
            Err(error) if started.elapsed() > Duration::from_secs(30) => {
                return Err(error.context("the server did not answer /healthz within 30 s"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// `POST /api/v1/ledger/checkpoint` (seal what is queued, sign) until the checkpoint covers
/// at least the `written` records' leaves: how long it took and how many POSTs. One POST should do; more means a
/// checkpoint left part of the backlog out.
pub async fn seal(client: &Client, written: u64) -> anyhow::Result<(Duration, usize)> {
    const PATIENCE: Duration = Duration::from_secs(300);
    let mut conn = client.connect().await?;
    let checkpoint = Call::post_json("/api/v1/ledger/checkpoint", "")?;
    let started = Instant::now();
    let mut posts = 0;
    loop {
        posts += 1;
        let answer: serde_json::Value = serde_json::from_slice(&conn.call(&checkpoint).await?)?;
        let tree_size = answer["tree_size"].as_u64().context("the checkpoint has no tree_size")?;
        // The benchmark's reads add access entries of their own: at least `written` leaves.
        if tree_size >= written {
            return Ok((started.elapsed(), posts));
        }
        ensure!(
            started.elapsed() < PATIENCE,
            "after {posts} checkpoints in {PATIENCE:?} the ledger has {tree_size} of the {written} leaves written"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.sampler.abort();
    }
}

async fn sample_rss(pid: u32, samples: Arc<Mutex<Vec<(Instant, u64)>>>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticks.tick().await;
        // The process is gone once it has been stopped: nothing left to sample.
        let Ok(now) = memory(pid) else { return };
        samples.lock().expect("the sampler does not panic").push((Instant::now(), now.rss));
    }
}
