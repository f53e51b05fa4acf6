//! The body of `POST /predictions/batch`, read straight into the form the route works on: each
//! event as the list of its top-level members, never a `serde_json::Map`. A `BTreeMap` built per
//! event only for the parser of events to turn it into such a list and drop it showed in profiles
//! of 1000-event batches; skipping it cuts reading and validating a batch by about a fifth.
//! Nothing is judged here: the route checks what is read just as it checked a `Value`, so that
//! every answer stays the same (a test compares the two). Members' values (features, output, ...)
//! are still `Value`s.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserialize, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

/// A batch body, `{"events": [...]}`, as far as the route needs it.
pub enum BatchBody {
    /// Any JSON value but an object.
    NotObject,
    Object {
        /// The last `events` member (a `Map` keeps the last of a repeated name).
        events: Option<Events>,
        /// The other members' first name in byte order (the first a `Map` would list).
        first_unknown: Option<String>,
    },
}

/// The value of `events`.
pub enum Events {
    Array(Vec<BatchEvent>),
    NotArray,
}

/// One event of a batch.
pub enum BatchEvent {
    /// An object's members in document order, a name possibly repeated: what
    /// `PredictionInput::parse_members` takes.
    Members(Vec<(String, Value)>),
    /// Anything read as a `Value`: not an object (a per-event error), or serde_json's raw-value
    /// form (see [`RAW_VALUE_TOKEN`]).
    Value(Value),
}

impl<'de> Deserialize<'de> for BatchBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Reader::new().deserialize(deserializer)
    }
}

/// How one of the types above reads a JSON value. What it does not read itself is read as the
/// `Value` serde_json would build and handed to `other`, so that the parser sees the same calls
/// and fails with the same errors as for a `Value` body.
trait Read<'de>: Sized {
    fn object<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        Value::deserialize(MapAccessDeserializer::new(map)).map(Self::other)
    }

    fn array<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
        Value::deserialize(SeqAccessDeserializer::new(seq)).map(Self::other)
    }

    fn other(value: Value) -> Self;
}

impl<'de> Read<'de> for BatchBody {
    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let (mut events, mut first_unknown) = (None, None::<String>);
        let mut first = true;
        while let Some(name) = map.next_key::<String>()? {
            if std::mem::take(&mut first) && name == RAW_VALUE_TOKEN {
                return raw_value(&mut map);
            }
            if name == "events" {
                events = Some(map.next_value_seed(Reader::new())?);
            } else {
                map.next_value::<Value>()?;
                if first_unknown.as_ref().is_none_or(|earlier| name < *earlier) {
                    first_unknown = Some(name);
                }
            }
        }
        Ok(BatchBody::Object { events, first_unknown })
    }

    fn other(_: Value) -> Self {
        BatchBody::NotObject
    }
}

impl<'de> Read<'de> for Events {
    fn array<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut events = Vec::new();
        while let Some(event) = seq.next_element_seed(Reader::new())? {
            events.push(event);
        }
        Ok(Events::Array(events))
    }

    fn other(value: Value) -> Self {
        match value {
            // Only from the raw-value form: an object whose raw text is an array.
            Value::Array(events) => Events::Array(events.into_iter().map(BatchEvent::Value).collect()),
            _ => Events::NotArray,
        }
    }
}

impl<'de> Read<'de> for BatchEvent {
    fn object<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut members = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.is_empty() && name == RAW_VALUE_TOKEN {
                return raw_value(&mut map).map(BatchEvent::Value);
            }
            members.push((name, map.next_value()?));
        }
        Ok(BatchEvent::Members(members))
    }

    fn other(value: Value) -> Self {
        BatchEvent::Value(value)
    }
}

/// serde_json reads an object whose first member has this name as the JSON text that member's
/// value holds (how its `RawValue` passes through a `Value`); a `Value` body did so for the batch
/// and its events, so the readers above do too.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// The rest of an object that began with [`RAW_VALUE_TOKEN`], read as serde_json's `Value` does:
/// the member's string parsed as JSON, and nothing after that member.
fn raw_value<'de, A: MapAccess<'de>, T: DeserializeOwned>(map: &mut A) -> Result<T, A::Error> {
    struct RawText;

    impl<'de> Visitor<'de> for RawText {
        type Value = String;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("raw value")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<String, E> {
            Ok(text.to_owned())
        }

        fn visit_string<E: de::Error>(self, text: String) -> Result<String, E> {
            Ok(text)
        }
    }

    impl<'de> DeserializeSeed<'de> for RawText {
        type Value = String;

        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
            deserializer.deserialize_str(self)
        }
    }

    let text = map.next_value_seed(RawText)?;
    serde_json::from_str(&text).map_err(de::Error::custom)
}

/// Reads any JSON value through `T`, dispatching on what the parser finds.
struct Reader<T>(PhantomData<T>);

impl<T> Reader<T> {
    fn new() -> Self {
        Reader(PhantomData)
    }
}

impl<'de, T: Read<'de>> DeserializeSeed<'de> for Reader<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_any(self)
    }
}

/// The scalars become the `Value`s serde_json's own visitor makes of them.
impl<'de, T: Read<'de>> Visitor<'de> for Reader<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any valid JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::other(Value::Null))
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<T, E> {
        Ok(T::other(Value::Bool(value)))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        Ok(T::other(Value::Number(value.into())))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        Ok(T::other(Value::Number(value.into())))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
        Ok(T::other(Number::from_f64(value).map_or(Value::Null, Value::Number)))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        Ok(T::other(Value::String(value.to_owned())))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<T, E> {
        Ok(T::other(Value::String(value)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::array(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::object(map)
    }
}
