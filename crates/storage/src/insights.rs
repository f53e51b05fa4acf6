//! What the insight methods of [`Store`](crate::Store) return: aggregations for the admin UI.
//!
//! Backends compute them in SQL over indexes made for them and fold the rows with the helpers
//! here, so that both give the same shapes.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use ml_audit_core::model::{ActorType, PredictionEvent, Status};
use time::OffsetDateTime;
use uuid::Uuid;

/// Confidence histogram bins: `[0, 0.1)`, `[0.1, 0.2)`, …, `[0.9, 1.0]`.
pub const CONFIDENCE_BINS: usize = 10;

/// One microsecond hour, the bucket of [`HourlyCount`].
pub const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// A half-open time range `[from, to)`, rounded down to whole hours by the backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

impl TimeWindow {
    /// The window's first hour and the hour after its last, as hours since the Unix epoch.
    pub fn hour_range(&self) -> (i64, i64) {
        let hour = |t: OffsetDateTime| ml_audit_core::timestamp::to_unix_micros(t).div_euclid(MICROS_PER_HOUR);
        (hour(self.from), hour(self.to))
    }
}

/// How one model version's visible predictions are distributed.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelVersionStats {
    pub model_id: Uuid,
    pub predictions: u64,
    /// `decision_outcome` → count, most frequent first (`""` for predictions without one).
    pub outcomes: Vec<(String, u64)>,
    /// Status → count, in [`Status::ALL`] order, zero counts left out.
    pub statuses: Vec<(Status, u64)>,
    /// Counts per confidence bin (see [`CONFIDENCE_BINS`]).
    pub confidence_bins: [u64; CONFIDENCE_BINS],
    /// Predictions recorded without a confidence.
    pub without_confidence: u64,
}

/// One grouped row of the model statistics query: a count per (model version, outcome,
/// status, confidence bin). `bin` is `None` for predictions without confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsRow {
    pub model_id: Uuid,
    pub decision_outcome: String,
    pub status: Status,
    pub bin: Option<i64>,
    pub count: u64,
}

/// Folds grouped rows into one [`ModelVersionStats`] per model version, by model id.
pub fn fold_model_stats(rows: impl IntoIterator<Item = StatsRow>) -> Vec<ModelVersionStats> {
    #[derive(Default)]
    struct Acc {
        predictions: u64,
        outcomes: BTreeMap<String, u64>,
        statuses: BTreeMap<&'static str, u64>,
        bins: [u64; CONFIDENCE_BINS],
        without: u64,
    }
    let mut by_model: BTreeMap<Uuid, Acc> = BTreeMap::new();
    for row in rows {
        let acc = by_model.entry(row.model_id).or_default();
        acc.predictions += row.count;
        *acc.outcomes.entry(row.decision_outcome).or_default() += row.count;
        *acc.statuses.entry(row.status.as_str()).or_default() += row.count;
        match row.bin {
            Some(bin) => acc.bins[bin.clamp(0, CONFIDENCE_BINS as i64 - 1) as usize] += row.count,
            None => acc.without += row.count,
        }
    }
    by_model
        .into_iter()
        .map(|(model_id, acc)| {
            let mut outcomes: Vec<(String, u64)> = acc.outcomes.into_iter().collect();
            outcomes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let statuses = Status::ALL
                .iter()
                .filter_map(|status| acc.statuses.get(status.as_str()).map(|&n| (*status, n)))
                .collect();
            ModelVersionStats {
                model_id,
                predictions: acc.predictions,
                outcomes,
                statuses,
                confidence_bins: acc.bins,
                without_confidence: acc.without,
            }
        })
        .collect()
}

/// Predictions of one model version in one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourlyCount {
    /// The start of the hour (UTC).
    pub hour: OffsetDateTime,
    pub model_id: Uuid,
    pub count: u64,
}

/// An actor's place in the (`tenant_id`, `actor_type`, `actor_id`) order of [`ActorPage`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorPosition {
    pub tenant_id: String,
    pub actor_type: ActorType,
    pub actor_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorPageRequest {
    pub limit: u32,
    pub after: Option<ActorPosition>,
}

/// An actor (its identity and what was first seen of it) with its visible predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct ActorSummary {
    pub id: Uuid,
    pub actor_type: ActorType,
    pub actor_id: String,
    pub tenant_id: String,
    pub created_at: OffsetDateTime,
    pub predictions: u64,
    pub last_prediction: Option<OffsetDateTime>,
}

impl ActorSummary {
    pub fn position(&self) -> ActorPosition {
        ActorPosition {
            tenant_id: self.tenant_id.clone(),
            actor_type: self.actor_type,
            actor_id: self.actor_id.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActorPage {
    pub items: Vec<ActorSummary>,
    /// Where the next page starts, when there may be one.
    pub next: Option<ActorPosition>,
}

/// A tenant as seen through its predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantSummary {
    pub tenant_id: String,
    pub predictions: u64,
    pub actors: u64,
    pub last_prediction: Option<OffsetDateTime>,
}

/// Most tenants [`InsightReader::list_tenants`](crate::InsightReader::list_tenants) returns.
pub const MAX_TENANTS: u32 = 1000;

/// The confidence bin a prediction is counted in, as the rollup tables key it: `0..=9` (a
/// confidence of 1.0 falls in the last bin), `-1` without confidence. The same arithmetic as
/// SQL's `coalesce(min(CAST(confidence * 10 AS INTEGER), 9), -1)`.
pub fn confidence_bin(confidence: Option<f64>) -> i64 {
    confidence.map_or(-1, |c| ((c * 10.0) as i64).min(CONFIDENCE_BINS as i64 - 1))
}

/// A `rollup_mix` key: model version, tenant, decision outcome, status, confidence bin.
pub type MixKey = (Uuid, String, String, &'static str, i64);

/// What newly sealed predictions add to the running totals of the admin UI (the rollup tables
/// of SQLite's migration 0005), grouped by those tables' keys: a write path that has the
/// predictions in hand adds them without reading them back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RollupDelta {
    /// (hour since the epoch, model version, tenant) → predictions.
    pub hourly: BTreeMap<(i64, Uuid, String), u64>,
    /// Mix key → predictions, latest ts.
    pub mix: BTreeMap<MixKey, (u64, i64)>,
    /// Actor → predictions, latest ts.
    pub actors: BTreeMap<Uuid, (u64, i64)>,
}

impl RollupDelta {
    pub fn add(&mut self, event: &PredictionEvent) {
        let ts = ml_audit_core::timestamp::to_unix_micros(event.timestamp);
        let tenant = event.tenant_id();
        // Truncating division, as SQL's integer `/` (the tables' hour column).
        *self.hourly.entry((ts / MICROS_PER_HOUR, event.model.id, tenant.to_owned())).or_default() += 1;
        let mix_key = (
            event.model.id,
            tenant.to_owned(),
            event.decision_outcome.clone(),
            event.status.as_str(),
            confidence_bin(event.confidence),
        );
        count(self.mix.entry(mix_key), ts);
        if let Some(actor) = &event.actor {
            count(self.actors.entry(actor.id), ts);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.hourly.is_empty()
    }
}

/// One more prediction, at `ts`, in a (predictions, latest ts) total.
fn count<K: Ord>(total: Entry<'_, K, (u64, i64)>, ts: i64) {
    let (predictions, last_ts) = total.or_insert((0, ts));
    *predictions += 1;
    *last_ts = (*last_ts).max(ts);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_fold_into_one_summary_per_model_version() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let row = |model_id, outcome: &str, status, bin, count| StatsRow {
            model_id,
            decision_outcome: outcome.into(),
            status,
            bin,
            count,
        };
        let stats = fold_model_stats([
            row(a, "approved", Status::Success, Some(9), 5),
            row(a, "flagged", Status::Success, Some(9), 2),
            row(a, "", Status::Failed, None, 1),
            row(a, "approved", Status::Partial, Some(0), 3),
            row(b, "declined", Status::Success, Some(12), 4),
        ]);
        assert_eq!(stats.len(), 2);
        assert_eq!(stats[0].predictions, 11);
        assert_eq!(stats[0].outcomes, vec![("approved".into(), 8), ("flagged".into(), 2), ("".into(), 1)]);
        assert_eq!(stats[0].statuses, vec![(Status::Success, 7), (Status::Failed, 1), (Status::Partial, 3)]);
        assert_eq!(stats[0].confidence_bins[9], 7);
        assert_eq!(stats[0].confidence_bins[0], 3);
        assert_eq!(stats[0].without_confidence, 1);
        assert_eq!(stats[1].confidence_bins[9], 4, "out-of-range bins are clamped");
    }

    #[test]
    fn confidence_bins_match_the_sql_that_folds_stored_rows() {
        // SQL: coalesce(min(CAST(confidence * 10 AS INTEGER), 9), -1); CAST truncates.
        let cases = [(None, -1), (Some(0.0), 0), (Some(0.05), 0), (Some(0.3), 3), (Some(0.7), 7)];
        for (confidence, bin) in cases.into_iter().chain([(Some(0.999), 9), (Some(1.0), 9)]) {
            assert_eq!(confidence_bin(confidence), bin, "{confidence:?}");
        }
    }
}
