//! The access log, the same on both backends: entries written in one statement per group with
//! their "who has seen this prediction" index, sealed like every record, and read newest first.

use async_trait::async_trait;
use ml_audit_core::access::{AccessEntry, AccessFilter};
use ml_audit_core::auth::Visibility;
use ml_audit_core::ledger::canonical::column_text;
use ml_audit_core::ledger::record::LedgerRecord;
use ml_audit_core::ledger::stored::StoredAccess;
use ml_audit_core::query::{Cursor, Page, PageRequest};
use ml_audit_storage::{AccessLogStore, PredictionRef, RecordLeaf, Result, StorageError, split_page};
use serde_json::Value;
use sqlx::QueryBuilder;
use uuid::Uuid;

use crate::dialect::collect;
use crate::predictions::{push_after_on, push_order_and_limit_on, push_tenant};
use crate::row::{Columns, SqlRow};
use crate::rows::Rows;
use crate::store::{Backend, SqlStore};

/// The columns of an `access_entries` row aliased `$alias`, in the order [`stored_access`] reads
/// them (the ledger's record read joins them too).
#[macro_export]
macro_rules! access_columns {
    ($alias:literal) => {
        concat!(
            $alias,
            ".id, ",
            $alias,
            ".at, ",
            $alias,
            ".channel, ",
            $alias,
            ".action, ",
            $alias,
            ".route, ",
            $alias,
            ".key_id, ",
            $alias,
            ".key_name, ",
            $alias,
            ".scope, ",
            $alias,
            ".tenant_id, ",
            $alias,
            ".operator, ",
            $alias,
            ".filters, ",
            $alias,
            ".target, ",
            $alias,
            ".predictions"
        )
    };
}

/// How many columns [`access_columns`] names.
pub const ACCESS_COLUMN_COUNT: usize = 13;

const ACCESS_ORDER: (&str, &str) = ("a.at", "a.id");

/// Reads the columns of [`access_columns`] at the cursor, led by the id already taken.
pub fn stored_access<R: SqlRow>(id: Uuid, c: &mut Columns<'_, R>) -> Result<StoredAccess> {
    Ok(StoredAccess {
        id,
        at: c.time()?,
        channel: c.text()?,
        action: c.text()?,
        route: c.text()?,
        key_id: c.take(SqlRow::uuid)?,
        key_name: c.text()?,
        scope: c.text()?,
        tenant_id: c.take(SqlRow::text)?,
        operator: c.text()?,
        filters: c.text()?,
        target: c.text()?,
        predictions: c.text()?,
    })
}

/// An entry from the columns of [`access_columns`] at the cursor.
fn read_entry<R: SqlRow>(c: &mut Columns<'_, R>) -> Result<AccessEntry> {
    let id = c.uuid()?;
    let stored = stored_access(id, c)?;
    stored.decode().map_err(|e| StorageError::Integrity(format!("access entry {id}: {e}")))
}

#[async_trait]
impl<B: Backend> AccessLogStore for SqlStore<B> {
    async fn record_access(&self, entries: &[AccessEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut rows = Rows::new();
        let mut shown = Rows::new();
        let mut leaves = Vec::with_capacity(entries.len());
        for entry in entries {
            let filters = serde_json::to_value(&entry.filters).unwrap_or(Value::Null);
            let predictions: Vec<Value> = entry.predictions.iter().map(|id| Value::String(id.to_string())).collect();
            rows.row()
                .uuid(entry.id)
                .time(entry.at)
                .text(entry.channel.as_str())
                .text(entry.action.as_str())
                .text(entry.route.as_str())
                .uuid(entry.reader.key_id)
                .text(entry.reader.key_name.as_str())
                .text(entry.reader.scope.as_str())
                .text(entry.reader.tenant_id.as_deref())
                .text(entry.reader.operator.as_str())
                .text(column_text(&filters).as_str())
                .text(entry.target.as_str())
                .text(column_text(&Value::Array(predictions)).as_str())
                .int(entry.predictions.len() as i64);
            // A prediction shown twice in one entry is indexed once.
            let mut seen = std::collections::HashSet::new();
            for prediction in entry.predictions.iter().filter(|id| seen.insert(**id)) {
                shown.row().uuid(*prediction).time(entry.at).uuid(entry.id);
            }
            leaves.push(RecordLeaf::follow_up(&LedgerRecord::Access(Box::new(entry.clone()))));
        }
        let mut tx = B::begin_write(self).await?;
        let mut insert = QueryBuilder::new(
            "INSERT INTO access_entries (id, at, channel, action, route, key_id, key_name, scope, tenant_id, \
             operator, filters, target, predictions, prediction_count) ",
        );
        B::push_rows(&mut insert, rows);
        collect::<B, _>(&mut tx, insert, |_| Ok(())).await?;
        if !shown.is_empty() {
            let mut index = QueryBuilder::new("INSERT INTO access_predictions (prediction_ref, at, entry_ref) ");
            B::push_rows(&mut index, shown);
            collect::<B, _>(&mut tx, index, |_| Ok(())).await?;
        }
        B::seal_records(&mut tx, leaves).await?;
        tx.commit().await.map_err(B::classify)
    }

    async fn list_access(
        &self,
        visibility: &Visibility,
        filter: &AccessFilter,
        page: &PageRequest,
    ) -> Result<Page<AccessEntry>> {
        let mut query = QueryBuilder::new(format!("SELECT {} FROM access_entries a", access_columns!("a")));
        match &filter.prediction {
            // Every entry that showed a prediction the caller may see.
            Some(reference) => {
                let prediction = self.resolve(visibility, &PredictionRef(reference.clone())).await?;
                query.push(" JOIN access_predictions ap ON ap.entry_ref = a.id WHERE ap.prediction_ref = ");
                B::bind_uuid(&mut query, prediction);
            }
            None => {
                query.push(" WHERE 1 = 1");
                push_tenant::<B>(&mut query, "a.tenant_id", visibility);
            }
        }
        if let Some(key) = filter.key_id {
            query.push(" AND a.key_id = ");
            B::bind_uuid(&mut query, key);
        }
        if let Some(from) = filter.time_from {
            query.push(" AND a.at >= ");
            B::bind_time(&mut query, from);
        }
        if let Some(to) = filter.time_to {
            query.push(" AND a.at <= ");
            B::bind_time(&mut query, to);
        }
        push_after_on::<B>(&mut query, page, ACCESS_ORDER);
        push_order_and_limit_on::<B>(&mut query, page, ACCESS_ORDER);
        let items = self.all(query, |row| read_entry(&mut Columns::new(row))).await?;
        let (items, next_cursor) = split_page(items, page.limit, |last| Cursor { timestamp: last.at, id: last.id });
        Ok(Page { items, next_cursor })
    }

    async fn access_to_predictions(
        &self,
        predictions: &[Uuid],
        per_prediction: u32,
    ) -> Result<Vec<(Uuid, AccessEntry)>> {
        if predictions.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::new(format!(
            "SELECT ranked.prediction_ref, {} FROM (SELECT ap.prediction_ref, ap.entry_ref, ROW_NUMBER() OVER \
             (PARTITION BY ap.prediction_ref ORDER BY ap.at DESC, ap.entry_ref DESC) AS n FROM access_predictions ap \
             WHERE 1 = 1",
            access_columns!("a")
        ));
        B::push_any_uuid(&mut query, "ap.prediction_ref", predictions);
        query.push(") AS ranked JOIN access_entries a ON a.id = ranked.entry_ref WHERE ranked.n <= ");
        B::bind_int(&mut query, i64::from(per_prediction));
        query.push(" ORDER BY ranked.prediction_ref, a.at DESC, a.id DESC");
        self.all(query, |row| {
            let mut c = Columns::new(row);
            Ok((c.uuid()?, read_entry(&mut c)?))
        })
        .await
    }
}
