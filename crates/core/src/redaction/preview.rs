//! `ml-audit redact`: what a policy would store for an event, before deploying the policy.

use serde_json::{Value, json};

use super::{RedactionEntry, RedactionPolicy};
use crate::auth::Visibility;
use crate::error::FieldError;
use crate::event::PredictionInput;

/// The redacted parts of an event exactly as `POST /api/v1/predictions` would store them, with
/// the redaction log and the pseudonyms made.
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    pub features: Value,
    /// Paths redacted in `features` (the stored `redactions`).
    pub redactions: Vec<String>,
    pub metadata: Value,
    pub metadata_redactions: Vec<String>,
    pub output: Value,
    /// `actor.user_agent`, when the event has an actor.
    pub user_agent: Option<String>,
    pub log: Vec<RedactionEntry>,
    pub subjects: Vec<String>,
}

/// Parses `event` as the API does (same errors, naming the field) and redacts it with `policy`.
pub fn preview(policy: &RedactionPolicy, event: Value) -> Result<Preview, FieldError> {
    let prepared = PredictionInput::parse(event)?
        .prepare(policy, &Visibility::AllTenants)
        .expect("a writer that sees every tenant may write any tenant");
    Ok(Preview {
        features: prepared.features,
        redactions: prepared.redactions,
        metadata: prepared.metadata,
        metadata_redactions: prepared.metadata_redactions,
        output: prepared.output,
        user_agent: prepared.actor.map(|actor| actor.user_agent),
        log: prepared.redaction_log,
        subjects: prepared.subjects,
    })
}

impl Preview {
    /// What `ml-audit redact` prints: the stored parts, then the log and the pseudonyms.
    pub fn to_json(&self) -> Value {
        let mut shown = json!({
            "features": self.features, "redactions": self.redactions,
            "metadata": self.metadata, "metadata_redactions": self.metadata_redactions,
            "output": self.output,
            "redaction_log": self.log.iter().map(RedactionEntry::to_json).collect::<Vec<_>>(),
            "subjects": self.subjects,
        });
        if let Some(user_agent) = &self.user_agent {
            shown["actor"] = json!({"user_agent": user_agent});
        }
        shown
    }
}
