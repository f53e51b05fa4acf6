//! `TestApp`: a real server on port 0 over a real database (a fresh SQLite file, or a fresh
//! PostgreSQL database), driven over HTTP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ml_audit_core::auth::{KeyScope, issue_key};
use ml_audit_ledger::key::LedgerKey;
use ml_audit_ledger::sealer::{Schedule, Sealer};
use ml_audit_postgres::PgStore;
use ml_audit_server::{AppState, ServerSettings};
use ml_audit_sqlite::SqliteStore;
use ml_audit_storage::prelude::*;
use reqwest::{Response, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;

/// Seal and sign only when a test asks (`POST /api/v1/ledger/checkpoint` seals first), so that a
/// record read twice is the same record; the background sealer is tested with [`FAST_SEALING`].
pub const ON_DEMAND_SEALING: Schedule =
    Schedule { seal_every: Duration::from_secs(3600), checkpoint_every: Duration::from_secs(3600) };
pub const FAST_SEALING: Schedule =
    Schedule { seal_every: Duration::from_millis(20), checkpoint_every: Duration::from_secs(3600) };

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// SQLite seals a record in the transaction that writes it (it has one writer); PostgreSQL
    /// queues it for the sealer.
    pub fn seals_at_commit(self) -> bool {
        matches!(self, Backend::Sqlite)
    }
}

/// Where the test PostgreSQL server is; each test creates its own database on it.
pub fn postgres_admin_url() -> String {
    std::env::var("ML_AUDIT_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub struct TestApp {
    pub address: SocketAddr,
    pub admin_key: String,
    pub store: Arc<dyn Store>,
    pub sealer: Arc<Sealer>,
    pub key: Arc<LedgerKey>,
    pub backend: Backend,
    pub db_url: String,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    _database: DatabaseGuard,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, ServerSettings { ledger_schedule: ON_DEMAND_SEALING, ..ServerSettings::default() })
            .await
    }

    pub async fn spawn_with(backend: Backend, settings: ServerSettings) -> TestApp {
        let (db_url, guard) = fresh_database(backend).await;
        let store: Arc<dyn Store> = match backend {
            Backend::Sqlite => Arc::new(SqliteStore::open(&db_url).await.expect("open SQLite")),
            Backend::Postgres => Arc::new(PgStore::open(&db_url).await.expect("open PostgreSQL")),
        };
        store.migrate().await.expect("migrate");
        let admin = issue_key("test admin", KeyScope::Admin, None);
        store.create_api_key(&admin).await.expect("create admin key");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        let key = Arc::new(LedgerKey::ephemeral("ml-audit.test/log").expect("a valid origin"));
        let sealer = Arc::new(Sealer::new(store.clone(), key.clone(), None).await.expect("start the sealer"));
        let state = AppState::new(store.clone(), sealer.clone(), settings);
        tokio::spawn(ml_audit_server::serve(listener, state, async move {
            let _ = stop.await;
        }));
        TestApp {
            address,
            admin_key: admin.secret,
            store,
            sealer,
            key,
            backend,
            db_url,
            client: reqwest::Client::new(),
            shutdown: Some(shutdown),
            _database: guard,
        }
    }

    /// A second server on the same database with the same ledger key, as another replica (or
    /// another process) would be. Stops when dropped.
    pub async fn spawn_replica(&self, settings: ServerSettings) -> Replica {
        let store: Arc<dyn Store> = match self.backend {
            Backend::Sqlite => Arc::new(SqliteStore::open(&self.db_url).await.expect("open SQLite")),
            Backend::Postgres => Arc::new(PgStore::open(&self.db_url).await.expect("open PostgreSQL")),
        };
        let sealer = Arc::new(Sealer::new(store.clone(), self.key.clone(), None).await.expect("start the sealer"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(ml_audit_server::serve(listener, AppState::new(store, sealer, settings), async move {
            let _ = stop.await;
        }));
        Replica { address, _shutdown: shutdown }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// Creates a key directly in the store, as `ml-audit keys create` does.
    pub async fn key(&self, scope: KeyScope, tenant: Option<&str>) -> String {
        let issued = issue_key("test", scope, tenant.map(str::to_owned));
        self.store.create_api_key(&issued).await.unwrap();
        issued.secret
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).bearer_auth(key).json(body).send().await.expect("request sent")
    }

    pub async fn post_bytes(&self, path: &str, key: &str, body: impl Into<reqwest::Body>) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn get(&self, path: &str, key: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(key).send().await.expect("request sent")
    }

    /// Records an event with the admin key and returns the stored prediction.
    pub async fn record(&self, body: &Value) -> Value {
        let response = self.post("/api/v1/predictions", &self.admin_key, body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "recording {body}");
        response.json().await.unwrap()
    }

    /// Seals everything recorded so far (the UI's totals count sealed predictions).
    pub async fn seal(&self) {
        self.sealer.seal_pending().await.expect("seal the queue");
    }

    /// Every stored prediction, newest first, as the admin sees them.
    pub async fn all_predictions(&self) -> Vec<Value> {
        let response = self.get("/api/v1/predictions?limit=1000", &self.admin_key).await;
        assert_eq!(response.status(), StatusCode::OK);
        let page: Value = response.json().await.unwrap();
        page["items"].as_array().unwrap().clone()
    }
}

pub struct Replica {
    pub address: SocketAddr,
    _shutdown: oneshot::Sender<()>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Asserts the API's error shape and returns (code, field).
pub async fn expect_error(response: Response, status: StatusCode) -> (String, Option<String>) {
    assert_eq!(response.status(), status, "unexpected status");
    let body: Value = response.json().await.expect("error bodies are JSON");
    let error = &body["error"];
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "error without message: {body}");
    (error["code"].as_str().unwrap().to_owned(), error["field"].as_str().map(str::to_owned))
}

/// A minimal valid event.
pub fn event(model: &str) -> Value {
    serde_json::json!({"model_name": model, "model_version": "1.0.0", "features": {"age": 42}, "output": {"score": 0.5}})
}

pub fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

/// Removes the database when the test ends: the SQLite folder, or the PostgreSQL database.
pub enum DatabaseGuard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres(String),
}

impl Drop for DatabaseGuard {
    fn drop(&mut self) {
        if let DatabaseGuard::Postgres(name) = self {
            let name = name.clone();
            // Drop runs outside async: use a private runtime on a plain thread.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                runtime.block_on(async {
                    use sqlx::Connection as _;
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
                    }
                });
            })
            .join();
        }
    }
}

async fn fresh_database(backend: Backend) -> (String, DatabaseGuard) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("audit.db").display());
            (url, DatabaseGuard::Sqlite(dir))
        }
        Backend::Postgres => {
            use sqlx::Connection as _;
            let admin_url = postgres_admin_url();
            let mut conn = sqlx::PgConnection::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL must be reachable at {admin_url} for the postgres tests: {e}"));
            let name = format!("mla_t_{}", uuid::Uuid::new_v4().simple());
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
            let base = admin_url.rsplit_once('/').expect("a database URL has a path").0;
            (format!("{base}/{name}"), DatabaseGuard::Postgres(name))
        }
    }
}
