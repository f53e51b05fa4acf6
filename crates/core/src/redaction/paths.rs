//! JSON paths of masked locations: `$.customer.email`, `$.items[0]`, `$["first name"]`.

use serde_json::Value;

/// One step from a container to a child; borrowed, so descending costs no allocation.
pub(super) enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

pub(super) fn render(path: &[Segment<'_>]) -> String {
    let mut rendered = String::from("$");
    for segment in path {
        match segment {
            Segment::Key(key) if is_identifier(key) => {
                rendered.push('.');
                rendered.push_str(key);
            }
            Segment::Key(key) => {
                rendered.push('[');
                rendered.push_str(&Value::from(*key).to_string());
                rendered.push(']');
            }
            Segment::Index(index) => {
                rendered.push('[');
                rendered.push_str(&index.to_string());
                rendered.push(']');
            }
        }
    }
    rendered
}

/// Keys that can follow a dot unambiguously; anything else is quoted in brackets.
fn is_identifier(key: &str) -> bool {
    let mut bytes = key.bytes();
    bytes.next().is_some_and(|first| first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
