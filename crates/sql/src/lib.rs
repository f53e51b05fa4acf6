//! The SQL both ml-audit backends share, written once.
//!
//! `ml-audit-storage` says *what* a store does (its capability traits); this crate says it in
//! SQL for every sqlx database: the reads, filters and keyset paging, keys, checkpoints, the
//! ledger's reads and the UI's insights, with the mapping of their rows ([`row`]), all over a
//! small [`Dialect`] (how a value is bound, a set matched, a query run, an error classified).
//! [`SqlStore`] implements every capability with them and asks its [`Backend`] only for what
//! truly differs: connecting, migrations, the write path, appending to the ledger.
//!
//! Why a dialect of our own over `sqlx::QueryBuilder` rather than a query builder crate: the
//! queries are few and hand-tuned for each planner (the filters' index paths are asserted by plan
//! tests), and the differences are a handful of binds and set forms.

pub mod access;
pub mod dialect;
pub mod first_use;
pub mod insights;
pub mod ledger;
pub mod lifecycle;
pub mod outcomes;
pub mod predictions;
pub mod row;
pub mod rows;
pub mod store;

use ml_audit_storage::StorageError;

pub use crate::dialect::collect;
pub use crate::dialect::{Conn, DbRow, Dialect};
pub use crate::row::{Columns, SqlRow};
pub use crate::rows::{Column, Rows};
pub use crate::store::{Backend, SqlStore, export_in_snapshot, insert_explanation, insert_key};

/// Classifies what every sqlx driver reports alike; `database` says what a driver's own
/// database error is (by SQLSTATE or result code), `None` for "nothing special".
pub fn classify(
    error: sqlx::Error,
    database: impl FnOnce(&dyn sqlx::error::DatabaseError) -> Option<StorageError>,
) -> StorageError {
    if let sqlx::Error::Database(db) = &error {
        if let Some(classified) = database(db.as_ref()) {
            return classified;
        }
        if db.is_unique_violation() {
            return StorageError::Conflict(db.message().to_owned());
        }
    }
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            StorageError::Unavailable(Box::new(error))
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            StorageError::Integrity(error.to_string())
        }
        other => StorageError::Database(Box::new(other)),
    }
}
