//! Redaction: personal data is removed from features and metadata before anything is hashed or
//! stored.
//!
//! At every depth of nested objects and arrays, each location is decided by the first of these
//! that applies (the precedence, documented in `docs/redaction.md`):
//! 1. the allowlist (feature keys): kept as-is, with everything under it;
//! 2. explicit rules ([`RuleConfig`]), the most specific first: mask, drop, hash or partial;
//! 3. the denylist (feature keys): masked;
//! 4. django-ml-audit's sensitive key fragments (feature keys): masked;
//! 5. value detectors (in the parts `apply_to` lists, features and metadata by default): email
//!    addresses, card numbers, phone numbers, IBANs, US SSNs and IP addresses are replaced inside
//!    any string, and inside key names, whatever the key.
//!
//! Every redacted location is logged with the rule that fired and its action, never the value
//! ([`RedactionEntry`]); `hash` pseudonyms are collected so that predictions about one person
//! can be found again ([`RedactionPolicy::subject_token`]).

mod config;
mod detectors;
mod paths;
mod preview;
mod pseudonym;
mod rules;

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

pub use config::{
    Action, DEFAULT_KEEP_LAST, DetectorConfig, DetectorsConfig, HashKey, MIN_HASH_KEY_BYTES, Part, PolicyConfig,
    PolicyError, RuleConfig,
};
pub use detectors::{Detection, DetectorKind, contains_personal_data, detect};
pub use preview::{Preview, preview};
pub use pseudonym::{TOKEN_HEX_LEN, TOKEN_PREFIX};

use config::Parts;
use detectors::{Found, Kinds};
use paths::{Path, Segment};
use pseudonym::Pseudonymizer;
use rules::Rule;

/// The settings a user can change (`[redaction]` in the config file) in django-ml-audit; the
/// rest of the policy is in [`PolicyConfig`].
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

/// `key:<fragment>` for each of [`SENSITIVE_KEY_FRAGMENTS`], as the redaction log names it.
const FRAGMENT_LABELS: [&str; 15] = [
    "key:password",
    "key:passwd",
    "key:secret",
    "key:token",
    "key:access_token",
    "key:refresh_token",
    "key:ssn",
    "key:social_security_number",
    "key:credit_card",
    "key:card_number",
    "key:cvv",
    "key:email",
    "key:phone",
    "key:phone_number",
    "key:address",
];

/// The label of the fragment a sensitive key contains: the leftmost, and of those the longest
/// (`phone_number`, not `phone`).
fn fragment_label(key: &str) -> &'static str {
    let found = SENSITIVE_KEY.find(key).map_or("", |found| found.as_str());
    let at = SENSITIVE_KEY_FRAGMENTS.iter().position(|fragment| fragment.eq_ignore_ascii_case(found));
    at.map_or("key", |at| FRAGMENT_LABELS[at])
}

static SENSITIVE_KEY: LazyLock<Regex> = LazyLock::new(|| {
    // Longest first, so that the fragment found and logged is `phone_number`, not `phone`.
    let mut fragments = SENSITIVE_KEY_FRAGMENTS.to_vec();
    fragments.sort_by_key(|fragment| std::cmp::Reverse(fragment.len()));
    let alternatives: Vec<String> = fragments.iter().map(|f| regex::escape(f)).collect();
    Regex::new(&format!("(?i-u){}", alternatives.join("|"))).expect("the fragments form a valid regex")
});

/// A strict detection pass can leave a new detection behind in rare texts (a replacement joining
/// its neighbours); after this many passes the whole string becomes the mask.
const MAX_PASSES: usize = 3;

/// A redacted value and the JSON paths (`$.customer.email`) that were redacted, in document
/// order, each once.
#[derive(Debug, Clone, PartialEq)]
pub struct Redacted {
    pub value: Value,
    pub paths: Vec<String>,
}

/// One redacted location: where, which rule, what was done. Never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactionEntry {
    pub part: Part,
    /// `$.customer.email`, relative to the part (as in `redactions`).
    pub path: String,
    /// `key:email` (a default fragment), `denylist:national_id`, `rule:customer.*.email` (as
    /// written) or `detector:email`. Mostly static text: no allocation per entry.
    pub rule: Cow<'static, str>,
    pub action: Action,
}

impl RedactionEntry {
    /// `{"part": "features", "path": "$.email", "rule": "key:email", "action": "mask"}`, with
    /// `"keep_last": 4` for `partial`: the one JSON shape for storage, the API and the CLI.
    pub fn to_json(&self) -> Value {
        let mut entry = serde_json::json!({
            "part": self.part.as_str(), "path": self.path, "rule": self.rule, "action": self.action.as_str(),
        });
        if let Action::Partial { keep_last } = self.action {
            entry["keep_last"] = Value::from(keep_last);
        }
        entry
    }

    /// Reads back what [`to_json`](Self::to_json) wrote; `None` for anything else.
    pub fn from_json(value: &Value) -> Option<Self> {
        let text = |key: &str| value.get(key).and_then(Value::as_str);
        let keep_last = value.get("keep_last").and_then(Value::as_u64).and_then(|n| usize::try_from(n).ok());
        Some(Self {
            part: Part::parse(text("part")?).ok()?,
            path: text("path")?.to_owned(),
            rule: Cow::Owned(text("rule")?.to_owned()),
            action: Action::parse(text("action")?, keep_last).ok()?,
        })
    }
}

/// What one event's redaction produced besides the values: the log, and the pseudonyms that
/// `hash` made (sorted, each once), which the store indexes for subject lookup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RedactionReport {
    pub log: Vec<RedactionEntry>,
    pub subjects: Vec<String>,
}

/// A compiled redaction policy; build once, use for every event.
#[derive(Debug, Clone)]
pub struct RedactionPolicy {
    config: RedactionConfig,
    allowlist: KeySet,
    denylist: KeySet,
    /// The detectors that are on.
    detectors: Kinds,
    /// Indexed by `DetectorKind as usize`.
    detector_actions: [Action; 6],
    apply_to: Parts,
    /// Most specific first.
    rules: Vec<Rule>,
    pseudonymizer: Option<Pseudonymizer>,
}

impl Default for RedactionPolicy {
    fn default() -> Self {
        Self::new(RedactionConfig::default())
    }
}

impl RedactionPolicy {
    /// django-ml-audit's settings, with every detector on and masking, on features and metadata.
    pub fn new(config: RedactionConfig) -> Self {
        let rules = Vec::new();
        Self::assemble(PolicyConfig::from(config), rules, None)
    }

    /// A full policy. Fails with a message naming the setting when a rule's pattern is invalid,
    /// an action does not fit, `hash` is used without a key, or the mask would itself be
    /// detected. The key is kept in memory only, to compute pseudonyms.
    pub fn build(config: PolicyConfig, hash_key: Option<HashKey>) -> Result<Self, PolicyError> {
        let rules = rules::compile_all(&config.rules)?;
        for kind in DetectorKind::ALL {
            let detector = config.detectors.get(kind);
            let invalid = |reason: &str| PolicyError::Detector { detector: kind.as_str(), reason: reason.to_owned() };
            match detector.action {
                Action::Drop => {
                    return Err(invalid(
                        "`drop` removes a key, and a detection sits inside a string; use mask, hash or partial",
                    ));
                }
                Action::Partial { keep_last: 0 } => return Err(invalid("`keep_last` must be at least 1")),
                _ => {}
            }
        }
        let mut found = Vec::new();
        detectors::find_personal_data(&config.base.mask_value, Kinds::ALL, &mut found);
        if !found.is_empty() {
            return Err(PolicyError::MaskLooksPersonal { mask: config.base.mask_value.clone() });
        }
        if hash_key.is_none() {
            let mut users: Vec<String> = config
                .rules
                .iter()
                .enumerate()
                .filter(|(_, rule)| rule.action == Action::Hash)
                .map(|(at, rule)| format!("rule {} `{}`", at + 1, rule.pattern))
                .collect();
            users.extend(
                DetectorKind::ALL
                    .into_iter()
                    .filter(|kind| {
                        let detector = config.detectors.get(*kind);
                        detector.enabled && detector.action == Action::Hash
                    })
                    .map(|kind| format!("detector `{}`", kind.as_str())),
            );
            if !users.is_empty() {
                return Err(PolicyError::HashKeyMissing { users: users.join(", ") });
            }
        }
        Ok(Self::assemble(config, rules, hash_key.as_ref()))
    }

    fn assemble(config: PolicyConfig, rules: Vec<Rule>, hash_key: Option<&HashKey>) -> Self {
        let mut detectors = Kinds::default();
        let mut detector_actions = [Action::Mask; 6];
        for kind in DetectorKind::ALL {
            let detector = config.detectors.get(kind);
            if detector.enabled {
                detectors.insert(kind);
            }
            detector_actions[kind as usize] = detector.action;
        }
        Self {
            allowlist: KeySet::new(&config.base.allowlist),
            denylist: KeySet::new(&config.base.denylist),
            config: config.base,
            detectors,
            detector_actions,
            apply_to: Parts::of(&config.apply_to),
            rules,
            pseudonymizer: hash_key.map(Pseudonymizer::new),
        }
    }

    pub fn config(&self) -> &RedactionConfig {
        &self.config
    }

    /// Whether a pseudonym key was given (subject lookup needs one).
    pub fn has_hash_key(&self) -> bool {
        self.pseudonymizer.is_some()
    }

    /// The token a raw value gets when `hash` pseudonymizes it, for looking predictions up by
    /// subject without storing the value; `None` without a key. The value is read as a whole
    /// value is: trimmed, and an email, card number, IBAN, SSN, phone number or IP address in
    /// its canonical form (`User@Example.COM` and `user@example.com` give one token).
    pub fn subject_token(&self, raw: &str) -> Option<String> {
        let pseudonymizer = self.pseudonymizer.as_ref()?;
        Some(pseudonymizer.token(&pseudonym::canonical_value(raw)))
    }

    /// Redaction of one event's parts, for one model (rules limited to other models are left
    /// out). Call [`EventRedaction::redact`] for each part, then
    /// [`finish`](EventRedaction::finish) for the log and the pseudonyms.
    pub fn for_model(&self, model_name: &str) -> EventRedaction<'_> {
        let rules = self.rules.iter().filter(|rule| rule.applies_to_model(model_name)).collect();
        EventRedaction { policy: self, rules, report: RedactionReport::default(), found: Vec::new() }
    }

    /// The features part, for no model in particular: allowlist, rules for every model,
    /// denylist, default key fragments and value detectors, at every depth.
    pub fn redact_features(&self, value: Value) -> Redacted {
        self.for_model("").redact(Part::Features, value)
    }

    /// The metadata part (value detectors, and rules that apply to metadata), at every depth.
    pub fn redact_values(&self, value: Value) -> Redacted {
        self.for_model("").redact(Part::Metadata, value)
    }

    fn detector_action(&self, kinds: Kinds) -> Action {
        // Overlapping detections of several kinds: the action that keeps least.
        kinds
            .iter()
            .map(|kind| self.detector_actions[kind as usize])
            .min_by_key(|action| action.disclosure())
            .unwrap_or(Action::Mask)
    }

    fn mask(&self) -> Value {
        Value::String(self.config.mask_value.clone())
    }
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

/// One event being redacted, part by part, for one model.
pub struct EventRedaction<'p> {
    policy: &'p RedactionPolicy,
    /// The policy's rules for this model, most specific first.
    rules: Vec<&'p Rule>,
    report: RedactionReport,
    /// Reused between strings.
    found: Vec<Found>,
}

impl EventRedaction<'_> {
    /// Redacts one part. Features get the key rules (allowlist, denylist, fragments), every part
    /// gets the rules that list it, and the parts in `apply_to` get the value detectors.
    pub fn redact(&mut self, part: Part, mut value: Value) -> Redacted {
        let key_rules = part == Part::Features;
        let detectors = self.policy.apply_to.contains(part) && self.policy.detectors != Kinds::default();
        let rules = self.rules.iter().any(|rule| rule.parts.contains(part));
        let mut paths = Vec::new();
        if key_rules || detectors || rules {
            let mut walk = Walk { event: self, part, key_rules, detectors, rules, paths: &mut paths };
            walk.visit(&mut value, None);
        }
        Redacted { value, paths }
    }

    /// `actor.user_agent`: the value detectors, when `apply_to` lists it.
    pub fn redact_user_agent(&mut self, user_agent: String) -> String {
        match self.redact(Part::UserAgent, Value::String(user_agent)).value {
            Value::String(text) => text,
            other => unreachable!("a string stays a string, got {other}"),
        }
    }

    /// The log of every part redacted so far, and the pseudonyms made (sorted, each once).
    pub fn finish(self) -> RedactionReport {
        let mut report = self.report;
        report.subjects.sort_unstable();
        report.subjects.dedup();
        report
    }

    /// `text` with each detected item replaced as its detector's action says, and the
    /// (detector, action) pairs that fired; `None` when nothing was detected. Allocates nothing
    /// then.
    fn rewrite(&mut self, text: &str) -> Option<(String, Vec<(DetectorKind, Action)>)> {
        let policy = self.policy;
        let mut found = std::mem::take(&mut self.found);
        detectors::find_personal_data(text, policy.detectors, &mut found);
        if found.is_empty() {
            self.found = found;
            return None;
        }
        let mut fired: Vec<(DetectorKind, Action)> = Vec::new();
        let mut current = String::new();
        for pass in 1..=MAX_PASSES {
            let source = if pass == 1 { text } else { current.as_str() };
            let mut rewritten = String::with_capacity(source.len());
            let mut copied_up_to = 0;
            for item in &found {
                let action = policy.detector_action(item.kinds);
                for kind in item.kinds.iter() {
                    if !fired.contains(&(kind, action)) {
                        fired.push((kind, action));
                    }
                }
                rewritten.push_str(&source[copied_up_to..item.span.start]);
                let replacement = self.replacement(&source[item.span.clone()], action);
                rewritten.push_str(&replacement);
                copied_up_to = item.span.end;
            }
            rewritten.push_str(&source[copied_up_to..]);
            current = rewritten;
            detectors::find_personal_data(&current, policy.detectors, &mut found);
            if found.is_empty() {
                break;
            }
            if pass == MAX_PASSES {
                current.clone_from(&policy.config.mask_value);
                found.clear();
            }
        }
        self.found = found;
        Some((current, fired))
    }

    /// What a whole value or detected item becomes under `action` (not `drop`).
    fn replacement(&mut self, text: &str, action: Action) -> String {
        let mask = &self.policy.config.mask_value;
        match action {
            Action::Mask | Action::Drop => mask.clone(),
            Action::Hash => match self.policy.subject_token(text) {
                Some(token) => {
                    self.report.subjects.push(token.clone());
                    token
                }
                // `build` refuses `hash` without a key; masking is the safe reading anyway.
                None => mask.clone(),
            },
            Action::Partial { keep_last } => {
                let length = text.chars().count();
                if length < keep_last.saturating_mul(2) {
                    return mask.clone();
                }
                let (tail, _) = text.char_indices().nth(length - keep_last).expect("keep_last < length");
                let kept = format!("{mask}{}", &text[tail..]);
                // The kept tail must not itself be personal data (a long keep_last on a note).
                let mut found = std::mem::take(&mut self.found);
                detectors::find_personal_data(&kept, self.policy.detectors, &mut found);
                let safe = found.is_empty();
                found.clear();
                self.found = found;
                if safe { kept } else { mask.clone() }
            }
        }
    }
}

/// One traversal of one part. The path to the current value is a chain of borrowed segments on
/// the stack, rendered to a string only when something under it is redacted.
struct Walk<'e, 'p> {
    event: &'e mut EventRedaction<'p>,
    part: Part,
    /// Allowlist, denylist and default fragments (features only, as in django-ml-audit).
    key_rules: bool,
    /// Value detectors, on strings and key names.
    detectors: bool,
    /// Some explicit rule applies to this part.
    rules: bool,
    paths: &'e mut Vec<String>,
}

/// What happens at one location.
enum Decision<'r> {
    /// Stored as-is, with everything under it.
    Keep,
    /// An explicit rule fired.
    Rule(&'r Rule),
    /// The whole value becomes the mask; the label names why.
    Mask(Cow<'static, str>),
    /// Descend into it and apply the value detectors.
    Inspect,
}

/// Gives the renamed keys their new names (a dropped key stays dropped).
fn apply_renames(map: &mut Map<String, Value>, renames: Vec<Rename>) {
    for rename in renames.into_iter().filter(|rename| !rename.dropped) {
        if let Some(value) = map.remove(&rename.from) {
            map.insert(rename.to, value);
        }
    }
}

/// A key whose name holds personal data, and what it is stored as.
struct Rename {
    from: String,
    to: String,
    fired: Vec<(DetectorKind, Action)>,
    dropped: bool,
}

impl<'p> Walk<'_, 'p> {
    fn visit(&mut self, value: &mut Value, path: Option<&Path<'_>>) {
        match value {
            Value::Object(map) => self.visit_object(map, path),
            Value::Array(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    let here = Path::child(path, Segment::Index(index));
                    match self.rule_for(&here) {
                        // Validation keeps `drop` away from array elements.
                        Some(rule) => _ = self.apply(rule.action, Cow::Owned(rule.label.clone()), item, &here),
                        None => self.visit(item, Some(&here)),
                    }
                }
            }
            Value::String(text) if self.detectors => {
                if let Some((rewritten, fired)) = self.event.rewrite(text) {
                    *text = rewritten;
                    for (kind, action) in fired {
                        self.record(path, Cow::Borrowed(kind.label()), action);
                    }
                }
            }
            Value::String(_) | Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn visit_object(&mut self, map: &mut Map<String, Value>, path: Option<&Path<'_>>) {
        let mut renames = if self.detectors { self.renames(map) } else { Vec::new() };
        let mut dropped = Vec::new();
        for (key, child) in map.iter_mut() {
            let rename = if renames.is_empty() { None } else { renames.iter_mut().find(|rename| rename.from == *key) };
            let name = rename.as_ref().map_or(key.as_str(), |rename| rename.to.as_str());
            let here = Path::child(path, Segment::Key(name));
            if let Some(rename) = &rename {
                self.record_rename(rename, &here);
            }
            match self.decide(name, &here) {
                Decision::Keep => {}
                Decision::Rule(rule) => {
                    if !self.apply(rule.action, Cow::Owned(rule.label.clone()), child, &here) {
                        dropped.push(key.clone());
                        if let Some(rename) = rename {
                            rename.dropped = true;
                        }
                    }
                }
                Decision::Mask(label) => {
                    *child = self.event.policy.mask();
                    self.record(Some(&here), label, Action::Mask);
                }
                Decision::Inspect => self.visit(child, Some(&here)),
            }
        }
        for key in dropped {
            map.remove(&key);
        }
        apply_renames(map, renames);
    }

    fn record_rename(&mut self, rename: &Rename, here: &Path<'_>) {
        for (kind, action) in &rename.fired {
            self.record(Some(here), Cow::Borrowed(kind.label()), *action);
        }
    }

    /// The keys of `map` whose names hold personal data, with their new names, unique in `map`.
    fn renames(&mut self, map: &Map<String, Value>) -> Vec<Rename> {
        let mut renames: Vec<Rename> = Vec::new();
        for key in map.keys().filter(|key| detectors::may_hold_personal_data(key)) {
            if let Some((to, fired)) = self.event.rewrite(key) {
                renames.push(Rename { from: key.clone(), to, fired, dropped: false });
            }
        }
        for at in 0..renames.len() {
            let base = renames[at].to.clone();
            let taken = |name: &str, renames: &[Rename]| {
                (map.contains_key(name) && !renames.iter().any(|rename| rename.from == name))
                    || renames[..at].iter().any(|rename| rename.to == name)
            };
            let mut suffix = 1;
            while taken(&renames[at].to, &renames) {
                suffix += 1;
                renames[at].to = format!("{base}#{suffix}");
            }
        }
        renames
    }

    fn decide(&self, key: &str, here: &Path<'_>) -> Decision<'p> {
        let policy = self.event.policy;
        // The allowlist wins over everything, as in django-ml-audit.
        if self.key_rules && policy.allowlist.contains(key) {
            return Decision::Keep;
        }
        if let Some(rule) = self.rule_for(here) {
            return Decision::Rule(rule);
        }
        if !self.key_rules {
            return Decision::Inspect;
        }
        if policy.denylist.contains(key) {
            Decision::Mask(Cow::Owned(format!("denylist:{}", key.to_lowercase())))
        } else if SENSITIVE_KEY.is_match(key) {
            Decision::Mask(Cow::Borrowed(fragment_label(key)))
        } else {
            Decision::Inspect
        }
    }

    /// The most specific rule for this part that selects `here`.
    fn rule_for(&self, here: &Path<'_>) -> Option<&'p Rule> {
        if !self.rules {
            return None;
        }
        self.event.rules.iter().copied().find(|rule| rule.parts.contains(self.part) && rule.matches(here))
    }

    /// Applies a rule's action to the value at `here`; false when the key must be dropped.
    fn apply(&mut self, action: Action, label: Cow<'static, str>, value: &mut Value, here: &Path<'_>) -> bool {
        self.record(Some(here), label, action);
        match action {
            Action::Drop => return false,
            Action::Mask => *value = self.event.policy.mask(),
            Action::Hash | Action::Partial { .. } => self.replace_leaves(value, action, here),
        }
        true
    }

    /// `hash` and `partial` keep the shape of what they select and replace every scalar in it
    /// (numbers and booleans by their JSON text); nulls stay null. Key names inside still get
    /// the value detectors.
    fn replace_leaves(&mut self, value: &mut Value, action: Action, path: &Path<'_>) {
        match value {
            Value::Object(map) => {
                let renames = if self.detectors { self.renames(map) } else { Vec::new() };
                for (key, child) in map.iter_mut() {
                    let rename = renames.iter().find(|rename| rename.from == *key);
                    let here = Path::child(Some(path), Segment::Key(rename.map_or(key.as_str(), |r| r.to.as_str())));
                    if let Some(rename) = rename {
                        self.record_rename(rename, &here);
                    }
                    self.replace_leaves(child, action, &here);
                }
                apply_renames(map, renames);
            }
            Value::Array(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    self.replace_leaves(item, action, &Path::child(Some(path), Segment::Index(index)));
                }
            }
            Value::String(text) => *text = self.event.replacement(text, action),
            Value::Number(_) | Value::Bool(_) => {
                *value = Value::String(self.event.replacement(&value.to_string(), action))
            }
            Value::Null => {}
        }
    }

    fn record(&mut self, path: Option<&Path<'_>>, rule: Cow<'static, str>, action: Action) {
        let rendered = paths::render(path);
        if self.paths.last() != Some(&rendered) {
            self.paths.push(rendered.clone());
        }
        self.event.report.log.push(RedactionEntry { part: self.part, path: rendered, rule, action });
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
