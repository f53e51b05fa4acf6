//! What the insight methods of [`Store`](crate::Store) return: aggregations for the admin UI.
//!
//! Backends compute them in SQL over indexes made for them and fold the rows with the helpers
//! here, so that both give the same shapes.

use std::collections::BTreeMap;

use ml_audit_core::model::{ActorType, Status};
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

/// Most tenants [`Store::list_tenants`](crate::Store::list_tenants) returns.
pub const MAX_TENANTS: u32 = 1000;

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
}
