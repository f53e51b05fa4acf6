//! JSON read as a verifier must: a member name twice in one object is refused, at any depth.
//! Tools disagree on which of two such members counts (`serde_json` and Python keep the last,
//! others the first), so a package could show an auditor's tool one value while the verifier
//! checked the other.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};

/// A JSON value without duplicate member names.
pub(crate) struct Strict(pub Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        Number::from_f64(value).map(Value::Number).ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(Key(name)) = map.next_key()? {
            let Strict(value) = map.next_value()?;
            if let Some(name) = insert_new(&mut members, name.into_owned(), value) {
                return Err(de::Error::custom(format_args!("the member {name:?} appears twice")));
            }
        }
        Ok(Value::Object(members))
    }
}

/// Inserts unless the name is taken; the name back when it was.
fn insert_new(members: &mut Map<String, Value>, name: String, value: Value) -> Option<String> {
    match members.entry(name) {
        Entry::Vacant(entry) => {
            entry.insert(value);
            None
        }
        Entry::Occupied(entry) => Some(entry.key().clone()),
    }
}

/// A member name, borrowed from the input when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }

            fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(value)))
            }

            fn visit_str<E>(self, value: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(value.to_owned())))
            }

            fn visit_string<E>(self, value: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(value)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A JSON value checked for duplicate member names and skipped, never built.
struct Skipped;

impl<'de> Deserialize<'de> for Skipped {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skipped;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_str<E>(self, _: &str) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_unit<E>(self) -> Result<Skipped, E> {
        Ok(Skipped)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skipped, A::Error> {
        while seq.next_element::<Skipped>()?.is_some() {}
        Ok(Skipped)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skipped, A::Error> {
        let mut names = Names::default();
        while let Some(Key(name)) = map.next_key()? {
            map.next_value::<Skipped>()?;
            if let Some(name) = names.add(name) {
                return Err(de::Error::custom(format_args!("the member {name:?} appears twice")));
            }
        }
        Ok(Skipped)
    }
}

/// The member names of one object seen so far: a list while short, a set once long.
#[derive(Default)]
struct Names<'de> {
    few: Vec<Cow<'de, str>>,
    many: std::collections::HashSet<Cow<'de, str>>,
}

impl<'de> Names<'de> {
    /// Adds `name`; the name back if it was already there.
    fn add(&mut self, name: Cow<'de, str>) -> Option<Cow<'de, str>> {
        const FEW: usize = 16;
        if self.few.len() < FEW {
            if self.few.contains(&name) {
                return Some(name);
            }
            self.few.push(name);
            return None;
        }
        if self.few.contains(&name) || self.many.contains(&name) {
            return Some(name);
        }
        self.many.insert(name);
        None
    }
}

/// The members of an object named in `wanted`, built; the others checked and skipped. Refuses
/// anything but an object, and a member name twice at any depth.
pub(crate) struct Members<'w> {
    pub wanted: &'w [&'w str],
}

impl<'de> DeserializeSeed<'de> for Members<'_> {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Members<'_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Map::new();
        let mut others = Names::default();
        while let Some(Key(name)) = map.next_key()? {
            let taken = if self.wanted.contains(&&*name) {
                let Strict(value) = map.next_value()?;
                insert_new(&mut members, name.into_owned(), value)
            } else {
                map.next_value::<Skipped>()?;
                others.add(name).map(Cow::into_owned)
            };
            if let Some(name) = taken {
                return Err(de::Error::custom(format_args!("the member {name:?} appears twice")));
            }
        }
        Ok(members)
    }
}

/// `text` as a JSON value, refusing duplicate member names.
pub(crate) fn strict_from_slice(text: &[u8]) -> serde_json::Result<Value> {
    serde_json::from_slice::<Strict>(text).map(|Strict(value)| value)
}

/// The `wanted` members of the JSON object `text`, the others checked and skipped.
pub(crate) fn members_from_slice(text: &[u8], wanted: &[&str]) -> serde_json::Result<Map<String, Value>> {
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let members = Members { wanted }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(members)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn duplicate_names_are_refused_at_any_depth() {
        assert_eq!(
            strict_from_slice(br#"{"a": [1, {"b": null}], "c": 1.5}"#).unwrap(),
            json!({"a": [1, {"b": null}], "c": 1.5})
        );
        assert!(strict_from_slice(br#"{"a": 1, "a": 2}"#).is_err());
        assert!(strict_from_slice(br#"{"a": [{"b": 1, "b": 1}]}"#).is_err());
        let wanted = ["a"];
        let members = members_from_slice(br#"{"a": {"x": 1}, "skip": {"y": [1, 2]}}"#, &wanted).unwrap();
        assert_eq!(Value::Object(members), json!({"a": {"x": 1}}));
        assert!(members_from_slice(br#"{"a": 1, "skip": {"y": 1, "y": 2}}"#, &wanted).is_err());
        assert!(members_from_slice(br#"{"skip": 1, "skip": 2}"#, &wanted).is_err());
        assert!(members_from_slice(br#"{"a": 1, "a": 1}"#, &wanted).is_err());
        assert!(members_from_slice(br#"["a"]"#, &wanted).is_err());
        assert!(members_from_slice(br#"{"a": 1} x"#, &wanted).is_err());
    }
}
