//! The access log: who was shown which predictions, and who changed what around them
//! (`../shared/SPEC.md`, "Access log and evidence").
//!
//! An [`AccessEntry`] is written for every API response and UI page that shows predictions (one
//! entry per request, naming every prediction shown), for exports, erasures, holds and key
//! changes. Entries are append-only leaves of the ledger: their leaf is `SHA-256(0x00 ‖
//! JCS(document))` ([`AccessEntry::document`]), with no salt — an entry holds no personal
//! content: predictions by internal id, a `subject` filter by its pseudonym token, never in clear.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::FieldError;
use crate::auth::ApiKey;
use crate::ledger::canonical::to_canonical_vec;
use crate::ledger::merkle::{Hash, leaf_hash};
use crate::ledger::record::{LeafKind, SALTED_RECORD_VERSION};
use crate::query::{Cursor, PageRequest, check_time_window, parse_limit, parse_time};
use crate::timestamp::format_rfc3339;

/// The most predictions one entry names: a request that shows more (an export) is logged as
/// several entries, so that no entry grows without bound.
pub const MAX_PREDICTIONS_PER_ENTRY: usize = 1000;

/// Where the access came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// `/api/v1`, with an API key.
    Api,
    /// The admin UI, with the key its session was opened with.
    Ui,
    /// The `ml-audit` command line, by an operator holding the database.
    Cli,
}

crate::model::text_enum_impls!(Channel { Api => "api", Ui => "ui", Cli => "cli" });

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessAction {
    /// Predictions (or what belongs to them) were shown.
    Read,
    Export,
    Erase,
    Hold,
    HoldRelease,
    KeyCreate,
    KeyRevoke,
}

crate::model::text_enum_impls!(AccessAction {
    Read => "read",
    Export => "export",
    Erase => "erase",
    Hold => "hold",
    HoldRelease => "hold_release",
    KeyCreate => "key_create",
    KeyRevoke => "key_revoke",
});

/// Who made the access: an API key (the UI's session key included), or an operator at the
/// command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reader {
    /// `None` for the command line.
    pub key_id: Option<Uuid>,
    pub key_name: String,
    /// The key's scope (`read`, `admin`, …), or `operator` for the command line.
    pub scope: String,
    /// The tenant the key is bound to, if any.
    pub tenant_id: Option<String>,
    /// The command line's user and host (`alice@db1`); empty for a key.
    pub operator: String,
}

impl Reader {
    pub fn key(key: &ApiKey) -> Self {
        Self {
            key_id: Some(key.id),
            key_name: key.name.clone(),
            scope: key.scope.to_string(),
            tenant_id: key.tenant_id.clone(),
            operator: String::new(),
        }
    }

    /// An operator at the command line, named `user@host`.
    pub fn operator(name: impl Into<String>) -> Self {
        Self { key_id: None, key_name: String::new(), scope: "operator".into(), tenant_id: None, operator: name.into() }
    }
}

/// One access: who, when, through which route, with which filters, and which predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessEntry {
    pub id: Uuid,
    pub at: OffsetDateTime,
    pub reader: Reader,
    pub channel: Channel,
    pub action: AccessAction,
    /// The route as routed (`GET /api/v1/predictions/{reference}`, `GET /predictions`), or
    /// the command (`export`).
    pub route: String,
    /// The query parameters as sent (a `subject` by its pseudonym token), or the command's
    /// options.
    pub filters: BTreeMap<String, String>,
    /// What the action was about besides predictions: an erasure's, a hold's or a key's id.
    pub target: String,
    /// Internal ids of the predictions shown (or exported, erased), in the order shown.
    pub predictions: Vec<Uuid>,
}

impl AccessEntry {
    /// A new entry now, with a time-ordered id.
    pub fn new(reader: Reader, channel: Channel, action: AccessAction, route: impl Into<String>) -> Self {
        Self {
            id: Uuid::now_v7(),
            at: crate::timestamp::now(),
            reader,
            channel,
            action,
            route: route.into(),
            filters: BTreeMap::new(),
            target: String::new(),
            predictions: Vec::new(),
        }
    }

    pub fn with_filters(mut self, filters: BTreeMap<String, String>) -> Self {
        self.filters = filters;
        self
    }

    pub fn with_target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    pub fn with_predictions(mut self, predictions: Vec<Uuid>) -> Self {
        self.predictions = predictions;
        self
    }

    /// This entry as entries of at most [`MAX_PREDICTIONS_PER_ENTRY`] predictions each (one
    /// entry when it names fewer, or none): the first keeps the id, the others get new ones.
    pub fn split(self) -> Vec<AccessEntry> {
        if self.predictions.len() <= MAX_PREDICTIONS_PER_ENTRY {
            return vec![self];
        }
        let mut parts: Vec<AccessEntry> = self
            .predictions
            .chunks(MAX_PREDICTIONS_PER_ENTRY)
            .map(|chunk| AccessEntry { id: Uuid::now_v7(), predictions: chunk.to_vec(), ..self.clone() })
            .collect();
        parts[0].id = self.id;
        parts
    }

    /// The canonical document its leaf hashes.
    pub fn document(&self) -> Value {
        json!({
            "v": SALTED_RECORD_VERSION,
            "kind": LeafKind::Access.as_str(),
            "id": self.id,
            "at": format_rfc3339(self.at),
            "channel": self.channel.as_str(),
            "action": self.action.as_str(),
            "route": self.route,
            "key_id": self.reader.key_id,
            "key_name": self.reader.key_name,
            "scope": self.reader.scope,
            "tenant_id": self.reader.tenant_id,
            "operator": self.reader.operator,
            "filters": self.filters,
            "target": self.target,
            "predictions": self.predictions,
        })
    }

    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&to_canonical_vec(&self.document()))
    }
}

/// The filters of `GET /api/v1/access-log`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessFilter {
    pub key_id: Option<Uuid>,
    /// A prediction's `id` or `prediction_id`, as in its URL (the store resolves it).
    pub prediction: Option<String>,
    pub time_from: Option<OffsetDateTime>,
    pub time_to: Option<OffsetDateTime>,
}

/// Parses the access log's query (pairs already percent-decoded; each name at most once, which
/// the server's strict extractor checks).
pub fn parse_access_query<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(AccessFilter, PageRequest), FieldError> {
    let mut filter = AccessFilter::default();
    let mut page = PageRequest::default();
    for (name, value) in pairs {
        match name {
            "key_id" => {
                filter.key_id =
                    Some(Uuid::try_parse(value).map_err(|_| FieldError::new(name, "must be a key's id (a UUID)"))?)
            }
            "prediction" => filter.prediction = Some(crate::event::check_text(name, value.to_owned(), 255)?),
            "time_from" => filter.time_from = Some(parse_time(name, value)?),
            "time_to" => filter.time_to = Some(parse_time(name, value)?),
            "limit" => page.limit = parse_limit(value)?,
            "cursor" => page.after = Some(Cursor::parse(name, value)?),
            _ => return Err(FieldError::new(name, "is not a known query parameter")),
        }
    }
    check_time_window(filter.time_from, filter.time_to)?;
    Ok((filter, page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(predictions: usize) -> AccessEntry {
        AccessEntry::new(Reader::operator("alice@db1"), Channel::Cli, AccessAction::Export, "export")
            .with_predictions((0..predictions).map(|_| Uuid::now_v7()).collect())
    }

    #[test]
    fn a_large_entry_splits_into_bounded_entries_that_keep_every_prediction() {
        let whole = entry(2 * MAX_PREDICTIONS_PER_ENTRY + 1);
        let (id, all) = (whole.id, whole.predictions.clone());
        let parts = whole.split();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].id, id);
        assert!(parts.iter().all(|p| p.predictions.len() <= MAX_PREDICTIONS_PER_ENTRY));
        assert_eq!(parts.iter().flat_map(|p| p.predictions.clone()).collect::<Vec<_>>(), all);
        let ids: std::collections::HashSet<_> = parts.iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), 3, "each part is an entry of its own");
        assert_eq!(entry(3).split().len(), 1);
    }

    #[test]
    fn the_leaf_commits_to_every_member() {
        let base = entry(2).with_filters(BTreeMap::from([("model_name".into(), "fraud".into())]));
        let hash = base.leaf_hash();
        let mut changed = base.clone();
        changed.filters.insert("model_name".into(), "other".into());
        assert_ne!(changed.leaf_hash(), hash);
        let mut changed = base.clone();
        changed.predictions.reverse();
        assert_ne!(changed.leaf_hash(), hash);
        let mut changed = base.clone();
        changed.reader.operator = "mallory@db1".into();
        assert_ne!(changed.leaf_hash(), hash);
        assert_eq!(base.document()["kind"], "access");
    }

    #[test]
    fn the_query_names_each_bad_parameter() {
        let bad = |pairs: &[(&str, &str)]| Some(parse_access_query(pairs.iter().copied()).unwrap_err().field);
        assert_eq!(bad(&[("key_id", "nope")]), Some("key_id".into()));
        assert_eq!(bad(&[("time_from", "yesterday")]), Some("time_from".into()));
        assert_eq!(bad(&[("limit", "0")]), Some("limit".into()));
        assert_eq!(bad(&[("cursor", "???")]), Some("cursor".into()));
        assert_eq!(
            bad(&[("time_from", "2026-01-02T00:00:00Z"), ("time_to", "2026-01-01T00:00:00Z")]),
            Some("time_from".into())
        );
        let (filter, page) = parse_access_query([("prediction", "p-1"), ("limit", "10")]).unwrap();
        assert_eq!(filter.prediction.as_deref(), Some("p-1"));
        assert_eq!(page.limit, 10);
    }
}
