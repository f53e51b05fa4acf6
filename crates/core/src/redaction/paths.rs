//! JSON paths of redacted locations: `$.customer.email`, `$.items[0]`, `$["first name"]`.

use serde_json::Value;

/// One step from a container to a child; borrowed, so descending costs no allocation.
#[derive(Debug, Clone, Copy)]
pub(super) enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// The path to the value being visited, as a chain of stack frames pointing at their parent:
/// descending costs no allocation, and each level borrows its key only while it is visited, so
/// the object holding it can be changed afterwards (a dropped or renamed key).
#[derive(Debug, Clone, Copy)]
pub(super) struct Path<'a> {
    pub(super) parent: Option<&'a Path<'a>>,
    pub(super) segment: Segment<'a>,
    /// 1 for a child of the root.
    pub(super) depth: usize,
}

impl<'a> Path<'a> {
    pub(super) fn child(parent: Option<&'a Path<'a>>, segment: Segment<'a>) -> Self {
        Self { parent, segment, depth: parent.map_or(1, |parent| parent.depth + 1) }
    }

    /// From this segment up to the first one under the root.
    pub(super) fn ancestry(&self) -> impl Iterator<Item = Segment<'a>> + '_ {
        std::iter::successors(Some(self), |path| path.parent).map(|path| path.segment)
    }
}

/// `$` for the root, else the path in the form the SPEC lists it.
pub(super) fn render(path: Option<&Path<'_>>) -> String {
    let mut segments: Vec<Segment<'_>> = path.map(|path| path.ancestry().collect()).unwrap_or_default();
    segments.reverse();
    let mut rendered = String::from("$");
    for segment in segments {
        match segment {
            Segment::Key(key) if is_identifier(key) => {
                rendered.push('.');
                rendered.push_str(key);
            }
            Segment::Key(key) => {
                rendered.push('[');
                rendered.push_str(&Value::from(key).to_string());
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
