//! Small formatting helpers shared by the pages.

use maud::{Markup, html};
use ml_audit_core::model::ReviewState;
use ml_audit_core::timestamp::format_rfc3339;
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;

use super::QUERY_VALUE;

/// `2026-11-27 08:00:00` (UTC), with the full RFC 3339 value in a `<time>` element.
pub fn timestamp(value: OffsetDateTime) -> Markup {
    let shown = value
        .to_offset(time::UtcOffset::UTC)
        .format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"))
        .unwrap_or_default();
    html! { time datetime=(format_rfc3339(value)) { (shown) } }
}

/// `2026-11-27 08:00` (UTC), for chart axes and short cells.
pub fn short_time(value: OffsetDateTime) -> String {
    value
        .to_offset(time::UtcOffset::UTC)
        .format(format_description!("[month repr:short] [day] [hour]:[minute]"))
        .unwrap_or_default()
}

pub fn day(value: OffsetDateTime) -> String {
    value.to_offset(time::UtcOffset::UTC).format(format_description!("[month repr:short] [day]")).unwrap_or_default()
}

/// `2026-11-27` (UTC).
pub fn iso_day(value: OffsetDateTime) -> String {
    value.to_offset(time::UtcOffset::UTC).format(format_description!("[year]-[month]-[day]")).unwrap_or_default()
}

/// A count with thin thousands separators: `1 234 567`.
pub fn count(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(ch);
    }
    out
}

pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    let share = part as f64 * 100.0 / whole as f64;
    if share > 0.0 && share < 1.0 { "<1%".into() } else { format!("{share:.0}%") }
}

/// A share with one decimal, for rates that are small but compared: `0.9%`, `12.5%`.
pub fn rate(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "—".into();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// A ratio in 0..=1 as a percentage with one decimal: `87.3%`.
pub fn ratio(value: f64) -> String {
    format!("{:.1}%", value * 100.0)
}

/// Where a prediction's review stands, as a badge (its state's name in `data-review-state`).
pub fn review_state(state: ReviewState) -> Markup {
    review_badge(state, false)
}

/// [`review_state`] for a table cell: `pending 2nd` for `pending second review`.
pub fn review_state_short(state: ReviewState) -> Markup {
    review_badge(state, true)
}

fn review_badge(state: ReviewState, short: bool) -> Markup {
    let (shown, title) = match state {
        ReviewState::None => ("not reviewed", "No human has reviewed this decision"),
        ReviewState::PendingSecond if short => {
            ("pending 2nd", "Pending second review: a change waits for a second, different reviewer")
        }
        ReviewState::PendingSecond => ("pending second review", "A change waits for a second, different reviewer"),
        ReviewState::Final => ("reviewed", "Reviewed, and nothing waits"),
    };
    html! {
        span.badge.review-state.(format!("review-{state}")) data-review-state=(state) title=(title) { (shown) }
    }
}

pub fn confidence(value: Option<f64>) -> String {
    value.map_or_else(|| "—".into(), |c| format!("{c:.3}"))
}

/// A signed number with a real minus sign: `+0.310`, `−0.120`.
pub fn signed(value: f64) -> String {
    let magnitude = value.abs();
    let digits = if magnitude >= 100.0 {
        format!("{magnitude:.0}")
    } else if magnitude >= 1.0 {
        format!("{magnitude:.2}")
    } else {
        format!("{magnitude:.3}")
    };
    format!("{}{digits}", if value < 0.0 { "−" } else { "+" })
}

/// A query string from (name, value) pairs, values percent-encoded, empty values left out.
pub fn query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let encoded: Vec<String> = pairs
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}={}", percent_encoding::utf8_percent_encode(value, QUERY_VALUE)))
        .collect();
    if encoded.is_empty() { String::new() } else { format!("?{}", encoded.join("&")) }
}

/// Every leaf of a JSON document with its path, spelled as redaction spells them
/// (`$.customer.email`, `$.items[0]`, `$["first name"]`). Empty containers are leaves.
pub fn leaves(value: &Value) -> Vec<(String, &Value)> {
    fn walk<'a>(path: String, value: &'a Value, out: &mut Vec<(String, &'a Value)>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, child) in map {
                    let step =
                        if is_identifier(key) { format!(".{key}") } else { format!("[{}]", Value::from(key.as_str())) };
                    walk(format!("{path}{step}"), child, out);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (index, child) in items.iter().enumerate() {
                    walk(format!("{path}[{index}]"), child, out);
                }
            }
            leaf => out.push((path, leaf)),
        }
    }
    let mut out = Vec::new();
    walk("$".into(), value, &mut out);
    out
}

fn is_identifier(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes.next().is_some_and(|first| first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A path without its `$.` root, for display.
pub fn shown_path(path: &str) -> &str {
    path.strip_prefix("$.").or_else(|| path.strip_prefix('$')).filter(|p| !p.is_empty()).unwrap_or("(root)")
}

/// A leaf value for a table cell: strings without quotes, everything else as JSON.
pub fn leaf(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_paths_are_spelled_like_redaction_paths() {
        let doc = serde_json::json!({"customer": {"email": "*****"}, "items": [{"card_number": "x"}], "first name": 1, "e": {}});
        let mut paths: Vec<String> = leaves(&doc).into_iter().map(|(p, _)| p).collect();
        paths.sort();
        assert_eq!(paths, vec!["$.customer.email", "$.e", "$.items[0].card_number", "$[\"first name\"]"]);
    }

    #[test]
    fn counts_and_signs_read_well() {
        assert_eq!(count(1234567), "1\u{202f}234\u{202f}567");
        assert_eq!(count(12), "12");
        assert_eq!(signed(-0.12), "−0.120");
        assert_eq!(signed(0.5), "+0.500");
        assert_eq!(query([("a", "x y"), ("b", ""), ("c", "é&")]), "?a=x%20y&c=%C3%A9%26");
        assert_eq!(rate(9, 1000), "0.9%");
        assert_eq!(rate(1, 0), "—");
        assert_eq!(ratio(0.8734), "87.3%");
    }
}
