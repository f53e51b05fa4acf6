//! Every filter of the prediction list is served by an index that yields rows in page order:
//! SQLite's plan of each filter's query (`EXPLAIN QUERY PLAN`), on a table of
//! `ml_audit_conformance::plans::ROWS` predictions, names an index the case allows, never a scan
//! of the table, and sorts only where the case may. SQLite keeps no statistics here (the store
//! never runs `ANALYZE`), so these plans are the ones a database of any size gets.

use ml_audit_conformance::plans;
use ml_audit_sqlite::SqliteStore;
use ml_audit_storage::prelude::*;
use sqlx::{QueryBuilder, Row as _};

#[tokio::test]
async fn every_filter_is_served_by_an_index_in_page_order() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let store = SqliteStore::open(&format!("sqlite://{}", dir.path().join("plans.db").display()))
        .await
        .expect("the database file opens");
    store.migrate().await.expect("migrations apply");
    plans::fill(&store).await; // SQLite plans by shape: no statistics to refresh

    let mut failures = Vec::new();
    for case in plans::cases() {
        let mut query = store
            .list_query(QueryBuilder::new("EXPLAIN QUERY PLAN "), &case.visibility, &case.filter, &case.page)
            .await
            .expect("names resolve")
            .unwrap_or_else(|| panic!("{}: the filter names nothing that exists", case.name));
        let rows = query.build().fetch_all(&store.reader).await.expect("the plan is explained");
        let plan: Vec<String> = rows.iter().map(|row| row.get::<String, _>("detail")).collect();
        // The page is chosen by a subquery (`CO-ROUTINE p`) whose rows the lookups then read:
        // that top-level `SCAN p` reads the page, not the table.
        let page_read = rows.iter().position(|row| {
            row.get::<i64, _>("parent") == 0
                && row.get::<String, _>("detail") == "SCAN p"
                && plan.iter().any(|line| line == "CO-ROUTINE p")
        });
        for (at, line) in plan.iter().enumerate() {
            if Some(at) == page_read {
                continue;
            }
            // The state of predictions with an outcome or review is read through one of its
            // indexes, never whole.
            if line == "SCAN s" || line.starts_with("SCAN s ") && !line.contains("INDEX") {
                failures.push(format!("{}: `{line}` reads every prediction's state", case.name));
            }
            // `SCAN p` / `SEARCH p`: the predictions table, in the list query and its per-value scans.
            let Some(access) = line.strip_prefix("SCAN p").or_else(|| line.strip_prefix("SEARCH p")) else { continue };
            let index = access.strip_prefix(" USING INDEX ").or_else(|| access.strip_prefix(" USING COVERING INDEX "));
            match index.and_then(|rest| rest.split_whitespace().next()) {
                Some(index) if case.allows(index, "sqlite_autoindex_predictions_1") => {}
                _ => failures.push(format!("{}: `{line}` (allowed: {:?})", case.name, case.indexes)),
            }
        }
        // `… FOR ORDER BY`, or a partial sort (`… FOR RIGHT PART OF ORDER BY`, `LAST TERM OF …`);
        // one at the top of a query whose page is a subquery sorts only the page's rows.
        let sorts_matches = rows.iter().any(|row| {
            let line = row.get::<String, _>("detail");
            let sorts_the_page = page_read.is_some() && row.get::<i64, _>("parent") == 0;
            line.contains("TEMP B-TREE FOR") && line.contains("ORDER BY") && !sorts_the_page
        });
        if !case.may_sort && sorts_matches {
            failures.push(format!("{}: sorts every match instead of reading them in order: {plan:?}", case.name));
        }
    }
    assert!(failures.is_empty(), "filters not served by an index in page order:\n{}", failures.join("\n"));
}
