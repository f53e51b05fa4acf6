//! The API suite: every test runs once on SQLite and once on PostgreSQL, against a real server
//! on port 0. PostgreSQL must be reachable: its tests fail, never skip, when it is not.

mod helpers;

// Each module below lists its tests with `on_both_backends!`.

/// Runs each listed `async fn(Backend)` on both backends, as `sqlite::name` and `postgres::name`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

mod access;
mod auth;
mod bad_input;
mod explanations;
mod exports;
mod immutability;
mod ingest;
mod ledger;
mod lifecycle;
mod outcomes;
mod parameters;
mod query;
mod redaction;
mod resilience;
mod ui;
