//! Every filter of the prediction list is served by an index that yields rows in page order:
//! PostgreSQL's plan of each filter's query (`EXPLAIN`), on a table of
//! `ml_audit_conformance::plans::ROWS` predictions with fresh statistics (as autovacuum keeps
//! them, migration 0007), reads predictions through an index the case allows, never scans the table, and
//! collects and sorts matches in no order only when it expects a few of them: its choices are
//! by cost, which SQLite's plan test (by shape) does not have to allow for.
//!
//! `EXPLAIN` plans with the bound values, as the store's connections always do
//! (`plan_cache_mode = force_custom_plan`: never one generic plan for every value).

mod common;

use common::TestDb;
use ml_audit_conformance::plans;
use ml_audit_storage::prelude::*;
use sqlx::{QueryBuilder, Row as _};

/// Most matches the planner may expect to collect in no order and sort: the page's bounded
/// per-value scans, an actor's few hundred predictions at a million rows.
const SMALL: u64 = 500;

/// The `rows=` estimate of a plan node (0 where it has none).
fn estimated_rows(node: &str) -> u64 {
    node.split(" rows=").nth(1).and_then(|rest| rest.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn every_filter_is_served_by_an_index_in_page_order() {
    let db = TestDb::create().await;
    let store = db.migrated().await;
    plans::fill(&store).await;
    store.refresh_statistics().await.expect("statistics refresh");

    let mut failures = Vec::new();
    for case in plans::cases() {
        let mut query = store
            .list_query(QueryBuilder::new("EXPLAIN "), &case.visibility, &case.filter, &case.page)
            .await
            .expect("names resolve")
            .unwrap_or_else(|| panic!("{}: the filter names nothing that exists", case.name));
        let rows = query.build().fetch_all(&store.reader).await.expect("the plan is explained");
        let plan: Vec<String> = rows.iter().map(|row| row.get::<String, _>(0).trim().to_owned()).collect();
        let name = &case.name;
        for line in &plan {
            // A child node is printed as `->  Node …`.
            let node = line.trim_start_matches("->").trim_start();
            let estimated = estimated_rows(node);
            let index = match node.split(" using ").nth(1).filter(|rest| rest.contains(" on predictions p")) {
                Some(rest) => rest.split_whitespace().next(),
                // A bitmap scan names its index alone; those of predictions start with its name.
                None => node.strip_prefix("Bitmap Index Scan on ").and_then(|rest| rest.split_whitespace().next()),
            };
            if let Some(index) = index.filter(|index| index.starts_with("predictions_")) {
                if !case.allows(index, "predictions_pkey") {
                    failures.push(format!("{name}: `{node}` (allowed: {:?})", case.indexes));
                }
            } else if node.contains("on prediction_state s")
                && (node.starts_with("Seq Scan") || node.starts_with("Bitmap Heap Scan") && estimated > SMALL)
            {
                failures.push(format!("{name}: `{node}` reads {estimated} states in no order"));
            } else if node.contains(" using prediction_state_pkey on prediction_state s") && estimated > SMALL {
                // A list led by the state walks one of its filter indexes (partial: only the
                // rows its filter can match), never the whole state by key.
                failures.push(format!("{name}: `{node}` walks every state by key"));
            } else if node.contains("Seq Scan on predictions p") {
                failures.push(format!("{name}: `{node}` reads the whole table"));
            } else if node.contains(" on predictions p") && estimated > SMALL {
                failures.push(format!("{name}: `{node}` reads {estimated} matches in no order"));
            }
            let sorts = node.starts_with("Sort ") || node.starts_with("Incremental Sort ");
            if sorts && estimated > SMALL {
                failures.push(format!("{name}: sorts {estimated} matches instead of reading them in order"));
            }
        }
    }
    assert!(failures.is_empty(), "filters not served by an index in page order:\n{}", failures.join("\n"));
}
