//! The life of a record after it is written: erasure (on a data subject's request, or when its
//! retention ends) and the legal holds that stop both. Pure parts only: reading and checking the
//! requests, the retention plan, and the canonical leaves of erasures, holds and releases; the
//! stores carry them out. See `docs/lifecycle.md`.

use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::error::FieldError;
use crate::event::{Fields, MAX_LONG_TEXT, MAX_SHORT_TEXT, kind};
use crate::ledger::canonical::to_canonical_vec;
use crate::ledger::merkle::{Hash, leaf_hash};
use crate::ledger::record::{LeafKind, SALTED_RECORD_VERSION};
use crate::model::ActorType;
use crate::timestamp::format_rfc3339;

/// Most prediction refs one erasure or hold may list.
pub const MAX_REFS: usize = 1000;

/// An actor by its identity, as an erasure or a hold names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorKey {
    pub actor_type: ActorType,
    pub actor_id: String,
    pub tenant_id: String,
}

/// Which records an erasure or a hold reaches. The subject is its pseudonym token (`pii_…`),
/// never the raw value; prediction refs are `id`s or `prediction_id`s as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub subject: Option<String>,
    pub actor: Option<ActorKey>,
    pub predictions: Vec<String>,
}

/// `POST /api/v1/erasures`: the union of the records its selectors reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureRequest {
    /// The raw subject value (hashed into its token before any query; never stored).
    pub subject: Option<String>,
    pub actor: Option<ActorKey>,
    pub predictions: Vec<String>,
    pub reason: String,
    pub dry_run: bool,
}

impl ErasureRequest {
    pub fn parse(body: Value) -> Result<Self, FieldError> {
        let mut obj = Fields::new(body)?;
        let subject = obj.optional_nonempty_text("subject", MAX_SHORT_TEXT)?;
        let actor = obj.take("actor").map(|value| parse_actor_key(value).map_err(|e| e.within("actor"))).transpose()?;
        let predictions = parse_refs(&mut obj, "predictions")?;
        let reason = obj.required_text("reason", MAX_LONG_TEXT)?;
        let dry_run = match obj.take("dry_run") {
            None => false,
            Some(Value::Bool(flag)) => flag,
            Some(other) => return Err(FieldError::new("dry_run", format!("must be a boolean, not {}", kind(&other)))),
        };
        obj.reject_unknown()?;
        if subject.is_none() && actor.is_none() && predictions.is_empty() {
            return Err(FieldError::new("subject", "an erasure needs a selector: subject, actor or predictions"));
        }
        Ok(Self { subject, actor, predictions, reason, dry_run })
    }
}

/// How many records of each kind an erasure destroyed (or, in a dry run, would).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErasureCounts {
    pub predictions: u64,
    pub explanations: u64,
    pub outcomes: u64,
    pub reviews: u64,
}

/// Why an erasure ran: a request, or the end of a retention period.
pub const RETENTION_REASON: &str = "retention";

/// An erasure as the ledger records it: which leaves it erased, never what they held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    pub id: Uuid,
    pub reason: String,
    /// The subject token it was asked for (so that a subject's erasure can be shown to have
    /// happened), when it selected by subject.
    pub subject: Option<String>,
    /// The actor row it was asked for, when it selected by actor.
    pub actor_ref: Option<Uuid>,
    /// The tenant of the key that asked (`None`: an unbound key, the operator, or retention).
    pub tenant_id: Option<String>,
    /// The seqs of every record it erased, ascending.
    pub seqs: Vec<u64>,
    /// Those of v1 records (written before salts), whose leaf no kept commitment recomputes;
    /// every other erased record keeps one, so that its kept fields stay proven.
    pub unsalted: Vec<u64>,
    pub counts: ErasureCounts,
    pub created_at: OffsetDateTime,
}

impl Erasure {
    pub fn document(&self) -> Value {
        json!({
            "v": SALTED_RECORD_VERSION,
            "kind": LeafKind::Erasure.as_str(),
            "id": self.id,
            "reason": self.reason,
            "subject": self.subject,
            "actor": self.actor_ref,
            "tenant_id": self.tenant_id,
            "seqs": self.seqs,
            "unsalted": self.unsalted,
            "counts": {
                "predictions": self.counts.predictions, "explanations": self.counts.explanations,
                "outcomes": self.counts.outcomes, "reviews": self.counts.reviews,
            },
            "created_at": format_rfc3339(self.created_at),
        })
    }

    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&to_canonical_vec(&self.document()))
    }
}

/// What a legal hold covers: the records matching every scope it names (at least one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldScope {
    pub tenant_id: Option<String>,
    pub model_name: Option<String>,
    /// A subject's pseudonym token.
    pub subject: Option<String>,
    pub actor: Option<ActorKey>,
    /// Prediction `id`s.
    pub predictions: Vec<Uuid>,
}

impl HoldScope {
    pub fn is_empty(&self) -> bool {
        self.tenant_id.is_none()
            && self.model_name.is_none()
            && self.subject.is_none()
            && self.actor.is_none()
            && self.predictions.is_empty()
    }

    pub fn document(&self) -> Value {
        json!({
            "tenant_id": self.tenant_id,
            "model_name": self.model_name,
            "subject": self.subject,
            "actor": self.actor.as_ref().map(|a| json!({
                "actor_type": a.actor_type.as_str(), "actor_id": a.actor_id, "tenant_id": a.tenant_id,
            })),
            "predictions": self.predictions,
        })
    }
}

/// A legal hold: while it stands, nothing it covers is erased or purged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub id: Uuid,
    pub reason: String,
    pub scope: HoldScope,
    /// It lapses by itself at this time, when set.
    pub until: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

impl Hold {
    pub fn document(&self) -> Value {
        json!({
            "v": SALTED_RECORD_VERSION,
            "kind": LeafKind::Hold.as_str(),
            "id": self.id,
            "reason": self.reason,
            "scope": self.scope.document(),
            "until": self.until.map(format_rfc3339),
            "created_at": format_rfc3339(self.created_at),
        })
    }

    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&to_canonical_vec(&self.document()))
    }

    /// Whether it stands at `at`, given when it was released (if it was).
    pub fn stands_at(&self, at: OffsetDateTime, released_at: Option<OffsetDateTime>) -> bool {
        self.created_at <= at && released_at.is_none_or(|r| r > at) && self.until.is_none_or(|u| u > at)
    }
}

/// The release of a hold, with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRelease {
    pub id: Uuid,
    pub hold_ref: Uuid,
    pub reason: String,
    pub created_at: OffsetDateTime,
}

impl HoldRelease {
    pub fn document(&self) -> Value {
        json!({
            "v": SALTED_RECORD_VERSION,
            "kind": LeafKind::HoldRelease.as_str(),
            "id": self.id,
            "hold": self.hold_ref,
            "reason": self.reason,
            "created_at": format_rfc3339(self.created_at),
        })
    }

    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&to_canonical_vec(&self.document()))
    }
}

/// `POST /api/v1/holds`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRequest {
    pub reason: String,
    pub tenant_id: Option<String>,
    pub model_name: Option<String>,
    /// The raw subject value (hashed into its token before anything is stored).
    pub subject: Option<String>,
    pub actor: Option<ActorKey>,
    pub predictions: Vec<String>,
    pub until: Option<OffsetDateTime>,
}

impl HoldRequest {
    pub fn parse(body: Value, now: OffsetDateTime) -> Result<Self, FieldError> {
        let mut obj = Fields::new(body)?;
        let reason = obj.required_text("reason", MAX_LONG_TEXT)?;
        let tenant_id = obj.optional_nonempty_text("tenant_id", MAX_SHORT_TEXT)?;
        let model_name = obj.optional_nonempty_text("model_name", MAX_SHORT_TEXT)?;
        let subject = obj.optional_nonempty_text("subject", MAX_SHORT_TEXT)?;
        let actor = obj.take("actor").map(|value| parse_actor_key(value).map_err(|e| e.within("actor"))).transpose()?;
        let predictions = parse_refs(&mut obj, "predictions")?;
        let until = obj.optional_timestamp("until")?;
        obj.reject_unknown()?;
        if until.is_some_and(|until| until <= now) {
            return Err(FieldError::new("until", "must be in the future"));
        }
        let request = Self { reason, tenant_id, model_name, subject, actor, predictions, until };
        if request.tenant_id.is_none()
            && request.model_name.is_none()
            && request.subject.is_none()
            && request.actor.is_none()
            && request.predictions.is_empty()
        {
            return Err(FieldError::new(
                "tenant_id",
                "a hold needs a scope: tenant_id, model_name, subject, actor or predictions",
            ));
        }
        Ok(request)
    }
}

/// `POST /api/v1/holds/{id}/release`: `{"reason"}`.
pub fn parse_release(body: Value) -> Result<String, FieldError> {
    let mut obj = Fields::new(body)?;
    let reason = obj.required_text("reason", MAX_LONG_TEXT)?;
    obj.reject_unknown()?;
    Ok(reason)
}

fn parse_actor_key(value: Value) -> Result<ActorKey, FieldError> {
    let mut obj = Fields::new(value)?;
    let actor_type = obj
        .optional_enum("actor_type", ActorType::parse)?
        .ok_or_else(|| FieldError::new("actor_type", "is required"))?;
    let actor_id = obj.required_text("actor_id", MAX_SHORT_TEXT)?;
    let tenant_id = obj.optional_text("tenant_id", MAX_SHORT_TEXT)?;
    obj.reject_unknown()?;
    Ok(ActorKey { actor_type, actor_id, tenant_id })
}

fn parse_refs(obj: &mut Fields, key: &str) -> Result<Vec<String>, FieldError> {
    let items = match obj.take(key) {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(FieldError::new(key, format!("must be a list of prediction refs, not {}", kind(&other))));
        }
    };
    if items.len() > MAX_REFS {
        return Err(FieldError::new(key, format!("lists at most {MAX_REFS} prediction refs")));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(text) if !text.trim().is_empty() && !text.contains('\0') && text.len() <= MAX_SHORT_TEXT => {
                Ok(text)
            }
            _ => Err(FieldError::new(format!("{key}[{i}]"), "must be a prediction's id or prediction_id")),
        })
        .collect()
}

/// `[[retention.rules]]`: how long the records of a tenant, a model, or both are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRule {
    pub tenant_id: Option<String>,
    pub model_name: Option<String>,
    pub days: u32,
}

impl RetentionRule {
    /// How many of tenant and model it names: the more, the more specific.
    fn specificity(&self) -> u8 {
        u8::from(self.tenant_id.is_some()) + u8::from(self.model_name.is_some())
    }

    /// Whether a record could match both rules (they name no different tenant or model).
    fn overlaps(&self, other: &RetentionRule) -> bool {
        let compatible = |a: &Option<String>, b: &Option<String>| a.is_none() || b.is_none() || a == b;
        compatible(&self.tenant_id, &other.tenant_id) && compatible(&self.model_name, &other.model_name)
    }

    /// Whether `other` decides over this rule for a record both match: more specific, or as
    /// specific and keeping longer, or (a tie) listed first.
    fn yields_to(&self, other: &RetentionRule, other_first: bool) -> bool {
        let (mine, theirs) = (self.specificity(), other.specificity());
        theirs > mine || (theirs == mine && (other.days > self.days || (other.days == self.days && other_first)))
    }

    fn describe(&self) -> String {
        match (&self.tenant_id, &self.model_name) {
            (Some(t), Some(m)) => format!("tenant_id {t:?}, model_name {m:?}"),
            (Some(t), None) => format!("tenant_id {t:?}"),
            (None, Some(m)) => format!("model_name {m:?}"),
            (None, None) => "every record".into(),
        }
    }
}

/// `[retention]`: `default_days` (0: keep forever), `min_days` (the floor no rule may go below;
/// 183 days, the EU AI Act's six months), and the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub default_days: u32,
    pub min_days: u32,
    pub rules: Vec<RetentionRule>,
}

/// The EU AI Act's six months (Art. 19, 26(6)), in days.
pub const DEFAULT_MIN_DAYS: u32 = 183;

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self { default_days: 0, min_days: DEFAULT_MIN_DAYS, rules: Vec::new() }
    }
}

/// One pass of a purge: the records matching `rule` older than `before`, except those that a
/// rule in `except` (one that decides over it) matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeStep {
    pub rule: RetentionRule,
    pub before: OffsetDateTime,
    pub except: Vec<RetentionRule>,
}

impl RetentionPolicy {
    /// Checks the rules; the error names the setting at fault.
    pub fn validate(&self) -> Result<(), String> {
        let floor = |what: String, days: u32| {
            if days < self.min_days {
                Err(format!(
                    "{what}: {days} days is below the minimum retention of {} days (retention.min_days)",
                    self.min_days
                ))
            } else {
                Ok(())
            }
        };
        if self.default_days > 0 {
            floor("retention.default_days".into(), self.default_days)?;
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let what = format!("retention.rules[{i}] ({})", rule.describe());
            if rule.tenant_id.is_none() && rule.model_name.is_none() {
                return Err(format!("{what}: a rule names a tenant_id, a model_name or both"));
            }
            if rule.days == 0 {
                return Err(format!("{what}: days must be at least 1"));
            }
            floor(what, rule.days)?;
            if self.rules[..i].iter().any(|r| r.tenant_id == rule.tenant_id && r.model_name == rule.model_name) {
                return Err(format!("retention.rules[{i}] ({}): a second rule for the same records", rule.describe()));
            }
        }
        Ok(())
    }

    /// The days a record of `tenant` (`None`: a tenant no rule names) and `model_name` is kept:
    /// those of the rule that applies to it (the most specific that matches, the longest among
    /// equals), else `default_days`; `None` is forever. [`Self::purge_steps`] is the same choice,
    /// written as conditions a store can run.
    pub fn days_for(&self, tenant: Option<&str>, model_name: &str) -> Option<u32> {
        let default = RetentionRule { tenant_id: None, model_name: None, days: self.default_days };
        self.rules
            .iter()
            .filter(|rule| {
                rule.tenant_id.as_deref().is_none_or(|t| Some(t) == tenant)
                    && rule.model_name.as_deref().is_none_or(|m| m == model_name)
            })
            .chain((self.default_days > 0).then_some(&default))
            .max_by_key(|rule| (rule.specificity(), rule.days))
            .map(|rule| rule.days)
    }

    /// Whether anything is ever purged.
    pub fn is_forever(&self) -> bool {
        self.default_days == 0 && self.rules.is_empty()
    }

    /// The purge passes at `now`: each rule (and the default, when it is not forever) with the
    /// rules that decide over it for the records both match. A record is purged by the one rule
    /// that applies to it: the most specific that matches it, the longest among equals.
    pub fn purge_steps(&self, now: OffsetDateTime) -> Vec<PurgeStep> {
        let default = RetentionRule { tenant_id: None, model_name: None, days: self.default_days };
        let all: Vec<&RetentionRule> = self.rules.iter().chain((self.default_days > 0).then_some(&default)).collect();
        all.iter()
            .enumerate()
            .map(|(i, rule)| PurgeStep {
                rule: (*rule).clone(),
                before: now - Duration::days(i64::from(rule.days)),
                except: all
                    .iter()
                    .enumerate()
                    .filter(|(j, other)| *j != i && rule.overlaps(other) && rule.yields_to(other, *j < i))
                    .map(|(_, other)| (*other).clone())
                    .collect(),
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
