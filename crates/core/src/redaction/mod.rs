//! Redaction: personal data is removed from features and metadata before anything is hashed or
//! stored.
//!
//! Two kinds of rule, applied at every depth of nested objects and arrays:
//! - key-name rules (features only): a key whose name looks sensitive, or is on the denylist, has
//!   its whole value replaced by the mask; a key on the allowlist is kept with everything under it;
//! - value detectors (features and metadata): email addresses, card numbers, phone numbers, IBANs,
//!   US SSNs and IP addresses are masked inside any string, whatever its key.

mod detectors;
mod paths;

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use paths::Segment;

/// The settings a user can change (`[redaction]` in the config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactionConfig {
    pub allowlist: Vec<String>,
    pub denylist: Vec<String>,
    pub mask_value: String,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        Self { allowlist: Vec::new(), denylist: Vec::new(), mask_value: DEFAULT_MASK.to_owned() }
    }
}

pub const DEFAULT_MASK: &str = "*****";

/// A feature key containing one of these (case-insensitively) is masked, as in django-ml-audit.
pub const SENSITIVE_KEY_FRAGMENTS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "access_token",
    "refresh_token",
    "ssn",
    "social_security_number",
    "credit_card",
    "card_number",
    "cvv",
    "email",
    "phone",
    "phone_number",
    "address",
];

static SENSITIVE_KEY: LazyLock<Regex> = LazyLock::new(|| {
    let alternatives: Vec<String> = SENSITIVE_KEY_FRAGMENTS.iter().map(|f| regex::escape(f)).collect();
    Regex::new(&format!("(?i-u){}", alternatives.join("|"))).expect("the fragments form a valid regex")
});

/// A redacted value and the JSON paths (`$.customer.email`) that were masked, in document order.
#[derive(Debug, Clone, PartialEq)]
pub struct Redacted {
    pub value: Value,
    pub paths: Vec<String>,
}

/// A compiled redaction policy; build once, use for every event.
#[derive(Debug, Clone)]
pub struct RedactionPolicy {
    config: RedactionConfig,
    allowlist: KeySet,
    denylist: KeySet,
}

impl Default for RedactionPolicy {
    fn default() -> Self {
        Self::new(RedactionConfig::default())
    }
}

impl RedactionPolicy {
    pub fn new(config: RedactionConfig) -> Self {
        let allowlist = KeySet::new(&config.allowlist);
        let denylist = KeySet::new(&config.denylist);
        Self { config, allowlist, denylist }
    }

    pub fn config(&self) -> &RedactionConfig {
        &self.config
    }

    /// Key-name rules and value detectors, at every depth.
    pub fn redact_features(&self, value: Value) -> Redacted {
        self.redact(value, true)
    }

    /// Value detectors only (for metadata), at every depth.
    pub fn redact_values(&self, value: Value) -> Redacted {
        self.redact(value, false)
    }

    fn redact(&self, mut value: Value, key_rules: bool) -> Redacted {
        let mut walk = Walk { policy: self, key_rules, path: Vec::new(), masked_paths: Vec::new() };
        walk.visit(&mut value);
        let paths = walk.masked_paths;
        Redacted { value, paths }
    }

    fn key_rule(&self, key: &str) -> KeyRule {
        // The allowlist wins over the denylist and the default fragments, as in django-ml-audit.
        if self.allowlist.contains(key) {
            KeyRule::Keep
        } else if self.denylist.contains(key) || SENSITIVE_KEY.is_match(key) {
            KeyRule::Mask
        } else {
            KeyRule::Inspect
        }
    }

    fn mask(&self) -> Value {
        Value::String(self.config.mask_value.clone())
    }
}

enum KeyRule {
    /// Stored as-is, with everything under it.
    Keep,
    /// The whole value becomes the mask.
    Mask,
    /// Descend into it and apply the value detectors.
    Inspect,
}

/// Key names compared case-insensitively.
#[derive(Debug, Clone)]
struct KeySet(HashSet<String>);

impl KeySet {
    fn new(keys: &[String]) -> Self {
        Self(keys.iter().map(|key| key.to_lowercase()).collect())
    }

    fn contains(&self, key: &str) -> bool {
        if self.0.is_empty() {
            return false;
        }
        // Most keys are already lower-case ASCII: look them up without allocating.
        if key.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
            self.0.contains(&key.to_lowercase())
        } else {
            self.0.contains(key)
        }
    }
}

/// One traversal: the path to the current value is kept as borrowed segments and only rendered
/// to a string when something under it is masked.
struct Walk<'p, 'v> {
    policy: &'p RedactionPolicy,
    key_rules: bool,
    path: Vec<Segment<'v>>,
    masked_paths: Vec<String>,
}

impl<'v> Walk<'_, 'v> {
    fn visit(&mut self, value: &'v mut Value) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    self.path.push(Segment::Key(key));
                    let rule = if self.key_rules { self.policy.key_rule(key) } else { KeyRule::Inspect };
                    match rule {
                        KeyRule::Keep => {}
                        KeyRule::Mask => {
                            *child = self.policy.mask();
                            self.record();
                        }
                        KeyRule::Inspect => self.visit(child),
                    }
                    self.path.pop();
                }
            }
            Value::Array(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    self.path.push(Segment::Index(index));
                    self.visit(item);
                    self.path.pop();
                }
            }
            Value::String(text) => {
                if let Some(masked) = detectors::mask_personal_data(text, &self.policy.config.mask_value) {
                    *text = masked;
                    self.record();
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn record(&mut self) {
        self.masked_paths.push(paths::render(&self.path));
    }
}

#[cfg(test)]
mod tests;
