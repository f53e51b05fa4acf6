//! Explicit rules: the pattern grammar, its validation, and matching against the path being
//! visited.
//!
//! ```text
//! pattern  = key                       a key name, matched at any depth
//!          | "$" { "[]" } [ "." steps ] a path anchored at the root ("$.email", "$[]")
//!          | steps                     anchored too, when it has a ".", "*" or "[]"
//! steps    = segment { "." segment }
//! segment  = ( key | "*" ) { "[]" }    "*": any one key; "[]": any index of an array
//! key      = name | '"' quoted '"'
//! name     = 1* any character but . [ ] * " and whitespace
//! quoted   = 1* any character but "
//! ```
//!
//! Key names compare case-insensitively (Unicode lower case).

use std::cmp::Reverse;

use super::config::{Action, Part, Parts, PolicyError, RuleConfig};
use super::paths::{Path, Segment};

/// A validated rule, ready to match.
#[derive(Debug, Clone)]
pub(super) struct Rule {
    /// `rule:<pattern as written>`, as the redaction log names it.
    pub(super) label: String,
    pattern: Pattern,
    pub(super) action: Action,
    models: Vec<String>,
    pub(super) parts: Parts,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// A key name (lower case), at any depth.
    Key(String),
    /// Steps from the root of the part; matches paths of exactly this length.
    Path(Vec<Step>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A key with this name (lower case).
    Key(String),
    /// Any key of an object.
    AnyKey,
    /// Any index of an array.
    AnyIndex,
}

impl Rule {
    /// Validates rule number `index` (1-based, for messages).
    pub(super) fn compile(index: usize, config: &RuleConfig) -> Result<Self, PolicyError> {
        let invalid = |reason: String| PolicyError::Rule { index, pattern: config.pattern.clone(), reason };
        let pattern = parse(&config.pattern).map_err(invalid)?;
        if let (Action::Drop, Pattern::Path(steps)) = (config.action, &pattern)
            && steps.last() == Some(&Step::AnyIndex)
        {
            return Err(invalid(
                "`drop` removes a key, and this pattern matches array elements; drop the array's key, or \
                 use mask, hash or partial on its elements"
                    .into(),
            ));
        }
        if let Action::Partial { keep_last: 0 } = config.action {
            return Err(invalid("`keep_last` must be at least 1".into()));
        }
        if config.parts.is_empty() {
            return Err(invalid("`in` lists no part; use features, metadata and/or output".into()));
        }
        if config.parts.contains(&Part::UserAgent) {
            return Err(invalid(
                "rules match keys, and actor.user_agent is a plain string; the value detectors scan it when \
                 apply_to lists it"
                    .into(),
            ));
        }
        if let Some(blank) = config.models.iter().find(|model| model.trim().is_empty()) {
            return Err(invalid(format!("`models` holds a blank name {blank:?}")));
        }
        Ok(Self {
            label: format!("rule:{}", config.pattern),
            pattern,
            action: config.action,
            models: config.models.clone(),
            parts: Parts::of(&config.parts),
        })
    }

    pub(super) fn applies_to_model(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|name| name == model)
    }

    /// Sort key: the most specific rule first (see `RuleConfig`); a stable sort keeps the
    /// written order among equals.
    pub(super) fn precedence(&self) -> impl Ord + use<> {
        let (anchored, literals, steps) = match &self.pattern {
            Pattern::Key(_) => (false, 1, 1),
            Pattern::Path(steps) => {
                (true, steps.iter().filter(|step| matches!(step, Step::Key(_))).count(), steps.len())
            }
        };
        (Reverse(anchored), Reverse(literals), Reverse(steps), Reverse(!self.models.is_empty()))
    }

    /// Whether the location at `path` is one this rule selects.
    pub(super) fn matches(&self, path: &Path<'_>) -> bool {
        match &self.pattern {
            Pattern::Key(name) => matches!(path.segment, Segment::Key(key) if same_key(key, name)),
            Pattern::Path(steps) => {
                steps.len() == path.depth
                    && steps.iter().rev().zip(path.ancestry()).all(|(step, segment)| match (step, segment) {
                        (Step::Key(name), Segment::Key(key)) => same_key(key, name),
                        (Step::AnyKey, Segment::Key(_)) | (Step::AnyIndex, Segment::Index(_)) => true,
                        _ => false,
                    })
            }
        }
    }
}

/// `key` equals the lower-case `name`, ignoring case; allocates only for non-ASCII keys.
fn same_key(key: &str, name: &str) -> bool {
    if key.is_ascii() { key.eq_ignore_ascii_case(name) } else { key.to_lowercase() == name }
}

fn parse(pattern: &str) -> Result<Pattern, String> {
    if pattern.is_empty() {
        return Err("the pattern is empty".into());
    }
    let mut chars = pattern.chars().peekable();
    let mut steps = Vec::new();
    let anchored = pattern.starts_with('$') && matches!(pattern[1..].chars().next(), None | Some('.' | '['));
    if anchored {
        chars.next();
        while chars.peek() == Some(&'[') {
            chars.next();
            expect_close(&mut chars)?;
            steps.push(Step::AnyIndex);
        }
        match chars.next() {
            None if steps.is_empty() => return Err("`$` alone matches nothing; write `$.key` or `$[]`".into()),
            None => return Ok(Pattern::Path(steps)),
            Some('.') => {}
            Some(other) => return Err(format!("unexpected `{other}` after `$`; write `$.key` or `$[]`")),
        }
    }
    loop {
        // One segment: a key, a quoted key or `*`, then any number of `[]`.
        match chars.peek().copied() {
            None | Some('.') => {
                return Err("a segment is empty; write a key name, a quoted name or `*` between the dots".into());
            }
            Some('*') => {
                chars.next();
                if let Some(&next) = chars.peek()
                    && !matches!(next, '.' | '[')
                {
                    return Err(format!(
                        "`*` stands for one whole key and cannot be part of a name (`*{next}…`); \
                         put it alone between dots"
                    ));
                }
                steps.push(Step::AnyKey);
            }
            Some('"') => {
                chars.next();
                let mut name = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == '"' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                if !closed {
                    return Err("a `\"` has no closing quote".into());
                }
                if name.is_empty() {
                    return Err("a quoted name is empty".into());
                }
                steps.push(Step::Key(name.to_lowercase()));
            }
            Some(_) => {
                let mut name = String::new();
                while let Some(&c) = chars.peek() {
                    match c {
                        '.' | '[' => break,
                        ']' => return Err("a `]` has no `[` before it".into()),
                        '*' => {
                            return Err(format!(
                                "`*` stands for one whole key and cannot be part of a name (`{name}*`); \
                                 put it alone between dots"
                            ));
                        }
                        '"' => return Err(format!("a quote must enclose a whole key, not follow `{name}`")),
                        c if c.is_whitespace() => {
                            return Err(
                                "contains whitespace; quote key names that have spaces: `\"home phone\"`".into()
                            );
                        }
                        c => name.push(c),
                    }
                    chars.next();
                }
                steps.push(Step::Key(name.to_lowercase()));
            }
        }
        while chars.peek() == Some(&'[') {
            chars.next();
            expect_close(&mut chars)?;
            steps.push(Step::AnyIndex);
        }
        match chars.next() {
            None => break,
            Some('.') => continue,
            Some(other) => return Err(format!("unexpected `{other}`; segments are separated by `.`")),
        }
    }
    // One plain key, not anchored: a key-name rule, matched at any depth.
    if !anchored && steps.len() == 1 && matches!(steps[0], Step::Key(_)) {
        let Some(Step::Key(name)) = steps.pop() else { unreachable!("checked just above") };
        return Ok(Pattern::Key(name));
    }
    Ok(Pattern::Path(steps))
}

fn expect_close(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<(), String> {
    match chars.next() {
        Some(']') => Ok(()),
        _ => Err("`[` must be followed directly by `]`: `[]` matches any index of an array (specific indexes \
                  are not supported)"
            .into()),
    }
}

/// Validates and orders the rules: the most specific first.
pub(super) fn compile_all(configs: &[RuleConfig]) -> Result<Vec<Rule>, PolicyError> {
    let mut rules =
        configs.iter().enumerate().map(|(at, config)| Rule::compile(at + 1, config)).collect::<Result<Vec<_>, _>>()?;
    rules.sort_by_key(|rule| rule.precedence());
    Ok(rules)
}

#[cfg(test)]
pub(super) fn parse_for_tests(pattern: &str) -> Result<String, String> {
    parse(pattern).map(|pattern| format!("{pattern:?}"))
}
