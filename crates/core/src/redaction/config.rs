//! What a user can configure beyond django-ml-audit's three settings: value detectors, the parts
//! of an event they apply to, rules with their actions, and the pseudonym key. Plain structs,
//! no serde: the binary maps its TOML onto them and [`RedactionPolicy::build`] validates them.
//!
//! [`RedactionPolicy::build`]: super::RedactionPolicy::build

use std::fmt;

use super::RedactionConfig;
use super::detectors::DetectorKind;

/// How many trailing characters `partial` keeps when not told.
pub const DEFAULT_KEEP_LAST: usize = 4;
/// The shortest accepted pseudonym key, in bytes.
pub const MIN_HASH_KEY_BYTES: usize = 16;

/// Everything a policy is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyConfig {
    /// django-ml-audit's settings (allowlist, denylist, mask value), unchanged.
    pub base: RedactionConfig,
    /// Each value detector: on or off, and what it does with what it finds.
    pub detectors: DetectorsConfig,
    /// The parts of an event whose strings the value detectors scan.
    pub apply_to: Vec<Part>,
    /// Explicit rules, in the order written (the order only breaks ties, see [`RuleConfig`]).
    pub rules: Vec<RuleConfig>,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            base: RedactionConfig::default(),
            detectors: DetectorsConfig::default(),
            apply_to: vec![Part::Features, Part::Metadata],
            rules: Vec::new(),
        }
    }
}

impl From<RedactionConfig> for PolicyConfig {
    fn from(base: RedactionConfig) -> Self {
        Self { base, ..Self::default() }
    }
}

/// What happens to a value that a rule or detector selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Replaced by the mask value.
    Mask,
    /// The key is removed from its object (rules on object keys only).
    Drop,
    /// Replaced by a keyed pseudonym `pii_<32 hex>`: the same value always gives the same token.
    Hash,
    /// The last `keep_last` characters are kept after the mask value (`*****1111`); a value
    /// shorter than twice that is masked entirely, so at most half of a value is ever shown.
    Partial { keep_last: usize },
}

impl Action {
    /// The name used in configuration and in the redaction log.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Mask => "mask",
            Action::Drop => "drop",
            Action::Hash => "hash",
            Action::Partial { .. } => "partial",
        }
    }

    /// An action from its configured name; `keep_last` goes with `partial` only (default 4).
    pub fn parse(name: &str, keep_last: Option<usize>) -> Result<Self, PolicyError> {
        let action = match name {
            "mask" => Action::Mask,
            "drop" => Action::Drop,
            "hash" => Action::Hash,
            "partial" => Action::Partial { keep_last: keep_last.unwrap_or(DEFAULT_KEEP_LAST) },
            other => {
                return Err(PolicyError::UnknownName { what: "action", name: other.to_owned(), expected: ACTIONS });
            }
        };
        if keep_last.is_some() && !matches!(action, Action::Partial { .. }) {
            return Err(PolicyError::KeepLastWithoutPartial { action: name.to_owned() });
        }
        Ok(action)
    }

    /// How much of a value survives, least first: when detections of several kinds overlap,
    /// the region gets the action that keeps least.
    pub(super) fn disclosure(self) -> (u8, usize) {
        match self {
            Action::Drop => (0, 0),
            Action::Mask => (1, 0),
            Action::Hash => (2, 0),
            Action::Partial { keep_last } => (3, keep_last),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Partial { keep_last } => write!(f, "partial (keep_last = {keep_last})"),
            other => f.write_str(other.as_str()),
        }
    }
}

const ACTIONS: &str = "mask, drop, hash, partial";
const PARTS: &str = "features, metadata, output, actor.user_agent";
const DETECTORS: &str = "email, card, phone, iban, ssn, ip";

/// The parts of an event that redaction looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    Features,
    Metadata,
    Output,
    /// `actor.user_agent`: a plain string, scanned by the value detectors only.
    UserAgent,
}

impl Part {
    pub const ALL: [Part; 4] = [Part::Features, Part::Metadata, Part::Output, Part::UserAgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Part::Features => "features",
            Part::Metadata => "metadata",
            Part::Output => "output",
            Part::UserAgent => "actor.user_agent",
        }
    }

    pub fn parse(name: &str) -> Result<Self, PolicyError> {
        Self::ALL.into_iter().find(|part| part.as_str() == name).ok_or_else(|| PolicyError::UnknownName {
            what: "part",
            name: name.to_owned(),
            expected: PARTS,
        })
    }

    pub(super) const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of parts, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Parts(u8);

impl Parts {
    pub(super) fn of(parts: &[Part]) -> Self {
        Self(parts.iter().fold(0, |bits, part| bits | part.bit()))
    }

    pub(super) fn contains(self, part: Part) -> bool {
        self.0 & part.bit() != 0
    }
}

/// One value detector's switch and action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectorConfig {
    pub enabled: bool,
    /// `mask`, `hash` or `partial`: a detection sits inside a string, so there is no key to drop.
    pub action: Action,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self { enabled: true, action: Action::Mask }
    }
}

/// Every value detector: all on and masking by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DetectorsConfig {
    pub email: DetectorConfig,
    pub card: DetectorConfig,
    pub phone: DetectorConfig,
    pub iban: DetectorConfig,
    pub ssn: DetectorConfig,
    pub ip: DetectorConfig,
}

impl DetectorsConfig {
    pub fn get(&self, kind: DetectorKind) -> &DetectorConfig {
        match kind {
            DetectorKind::Email => &self.email,
            DetectorKind::Card => &self.card,
            DetectorKind::Phone => &self.phone,
            DetectorKind::Iban => &self.iban,
            DetectorKind::Ssn => &self.ssn,
            DetectorKind::Ip => &self.ip,
        }
    }

    pub fn get_mut(&mut self, kind: DetectorKind) -> &mut DetectorConfig {
        match kind {
            DetectorKind::Email => &mut self.email,
            DetectorKind::Card => &mut self.card,
            DetectorKind::Phone => &mut self.phone,
            DetectorKind::Iban => &mut self.iban,
            DetectorKind::Ssn => &mut self.ssn,
            DetectorKind::Ip => &mut self.ip,
        }
    }

    /// A detector by its configured name (`email`, `card`, …), for the config loader.
    pub fn by_name_mut(&mut self, name: &str) -> Result<&mut DetectorConfig, PolicyError> {
        let kind = DetectorKind::parse(name).ok_or_else(|| PolicyError::UnknownName {
            what: "detector",
            name: name.to_owned(),
            expected: DETECTORS,
        })?;
        Ok(self.get_mut(kind))
    }
}

/// An explicit rule: which keys (`pattern`), what to do (`action`), for which models and parts.
///
/// `pattern` is either a key name, matched case-insensitively at any depth (`pan`, like a
/// denylist entry), or a path glob anchored at the root of the part (`customer.*.email`,
/// `items[].pan`, `$.email`); see `docs/redaction.md` for the grammar. When several rules
/// match one location, the most specific wins: a path glob over a key name, then more literal
/// key names, then more steps, then a rule limited to models over one for every model, then
/// the rule written first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleConfig {
    pub pattern: String,
    pub action: Action,
    /// Model names (exact) the rule is limited to; empty means every model.
    pub models: Vec<String>,
    /// The parts whose keys the rule matches: features and metadata unless told otherwise.
    pub parts: Vec<Part>,
}

impl RuleConfig {
    /// A rule for every model, on features and metadata.
    pub fn new(pattern: impl Into<String>, action: Action) -> Self {
        Self { pattern: pattern.into(), action, models: Vec::new(), parts: vec![Part::Features, Part::Metadata] }
    }

    pub fn for_models<I: IntoIterator<Item = S>, S: Into<String>>(mut self, models: I) -> Self {
        self.models = models.into_iter().map(Into::into).collect();
        self
    }

    pub fn in_parts(mut self, parts: &[Part]) -> Self {
        self.parts = parts.to_vec();
        self
    }
}

/// The secret that keys the `hash` pseudonyms. It is given to the policy at start-up (from the
/// environment or a file) and never stored; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct HashKey(Vec<u8>);

impl HashKey {
    /// At least [`MIN_HASH_KEY_BYTES`] bytes, used as given (a random string or its bytes).
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, PolicyError> {
        let secret = secret.as_ref();
        if secret.len() < MIN_HASH_KEY_BYTES {
            return Err(PolicyError::HashKeyTooShort { len: secret.len() });
        }
        Ok(Self(secret.to_vec()))
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashKey(<secret>)")
    }
}

/// A policy that cannot be built, named precisely enough to fix the config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("unknown {what} `{name}`; expected one of: {expected}")]
    UnknownName { what: &'static str, name: String, expected: &'static str },
    #[error("`keep_last` goes with the `partial` action only, not `{action}`")]
    KeepLastWithoutPartial { action: String },
    #[error("redaction rule {index} (`{pattern}`): {reason}")]
    Rule { index: usize, pattern: String, reason: String },
    #[error("detector `{detector}`: {reason}")]
    Detector { detector: &'static str, reason: String },
    #[error("mask_value {mask:?} would itself be detected as personal data; choose a plain mask such as \"*****\"")]
    MaskLooksPersonal { mask: String },
    #[error(
        "the `hash` action needs a pseudonym key ({users}): set ML_AUDIT_REDACTION_HASH_KEY or \
         redaction.hash_key_file"
    )]
    HashKeyMissing { users: String },
    #[error("the pseudonym key must be at least {MIN_HASH_KEY_BYTES} bytes long, not {len}")]
    HashKeyTooShort { len: usize },
}
