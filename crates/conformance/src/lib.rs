//! The storage conformance suite: one storage story every backend must pass, at the
//! [`Store`] level (no HTTP). Each check in [`checks`] is one contract of one capability, stated
//! in one sentence in its doc comment; together they are the specification a backend is held
//! to. Expectations are computed from the inputs each check writes, never copied from a run.
//!
//! # Running it on a backend
//!
//! A backend implements [`TestDatabase`] for a fresh, empty database of its own (a temporary
//! file, a newly created database, …): `open` opens a store on it, not yet migrated, and may be
//! called again to reopen the same database (a restart). Then, in an integration test file:
//!
//! ```ignore
//! ml_audit_conformance::conformance_tests!(MyTestDatabase::create());
//! ```
//!
//! where the expression is a future of a fresh `impl TestDatabase`, evaluated once per check.
//! The macro defines one `#[tokio::test]` per check (the test file needs `tokio` with its
//! `macros` feature), so `cargo nextest run -p …` reports each contract by name. The database
//! must be dropped (removed) when the value is dropped; checks never share a database.

use async_trait::async_trait;
use ml_audit_storage::Store;

pub mod checks;
pub mod fixtures;
pub mod plans;
pub mod postgres;

/// A fresh, empty database of one backend, for one check.
#[async_trait]
pub trait TestDatabase: Send + Sync {
    /// The name the backend's stores report as [`StoreInfo::backend`](ml_audit_storage::StoreInfo::backend).
    fn backend(&self) -> &'static str;

    /// Opens a store on this database, without migrating it. Every call opens the same database
    /// again (as a restarted server would).
    async fn open(&self) -> Box<dyn Store>;
}

/// A store on `db`, migrated.
pub async fn migrated(db: &dyn TestDatabase) -> Box<dyn Store> {
    let store = db.open().await;
    store.migrate().await.expect("migrations apply to a fresh database");
    store
}

/// Defines one `#[tokio::test]` per conformance check, each on a fresh database made by the
/// given expression (a future of an `impl TestDatabase`). See the crate documentation.
#[macro_export]
macro_rules! conformance_tests {
    ($fresh:expr) => {
        $crate::conformance_tests!(@each $fresh;
            store_info_names_the_backend,
            migrate_is_idempotent,
            a_fresh_store_is_empty,
            record_outcomes_follow_input_order,
            created_records_read_back_by_id_and_prediction_id,
            models_and_actors_are_created_once,
            a_conflict_writes_nothing,
            explanation_revisions_are_gap_free_and_the_newest_is_current,
            attaching_to_an_unknown_or_invisible_prediction_is_not_found,
            listing_is_newest_first_and_pages_without_gaps_or_duplicates,
            each_filter_narrows_the_listing_to_its_matches,
            tenant_visibility_applies_to_every_read,
            models_are_listed_and_found_by_id,
            the_first_api_key_is_created_only_into_a_store_without_keys,
            api_keys_are_found_by_hash_listed_and_revoked_once,
            sealing_seals_every_record_once_in_write_order,
            ledger_append_skips_leaves_no_longer_queued,
            checkpoints_are_kept_once_per_tree_size_in_order,
            model_version_stats_count_visible_predictions,
            hourly_counts_bucket_the_window_by_hour_and_model,
            actors_are_listed_in_pages_with_their_counts,
            tenants_are_summarised,
            records_and_keys_survive_reopening,
            erasing_predictions_blanks_them_and_marks_them_erased,
            a_dry_run_counts_and_changes_nothing,
            a_standing_hold_refuses_an_erasure_whole,
            a_released_or_lapsed_hold_no_longer_refuses,
            purge_batch_erases_only_expired_unheld_predictions_of_the_rule,
            erasures_and_holds_are_listed_newest_first_within_tenant_visibility,
        );
    };
    (@each $fresh:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let db = $fresh.await;
                $crate::checks::$check(&db).await;
            }
        )*
    };
}
