//! Timestamps: RFC 3339 in, RFC 3339 UTC out, microsecond precision everywhere.
//!
//! PostgreSQL keeps microseconds, so every timestamp is truncated to microseconds when it enters
//! the system; both backends then return exactly what they were given.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Parses an RFC 3339 timestamp with an explicit offset (a naive date-time is an error, not a
/// guess) and normalises it to UTC with microsecond precision.
pub fn parse_rfc3339(text: &str) -> Result<OffsetDateTime, String> {
    let parsed = OffsetDateTime::parse(text.trim(), &Rfc3339)
        .map_err(|_| format!("{text:?} is not an RFC 3339 timestamp with a time zone, such as 2026-11-27T08:00:00Z"))?;
    Ok(truncate_to_micros(parsed.to_offset(UtcOffset::UTC)))
}

/// Formats as RFC 3339 in UTC (`2026-11-27T08:00:00.123456Z`, fraction only when non-zero).
pub fn format_rfc3339(value: OffsetDateTime) -> String {
    value.to_offset(UtcOffset::UTC).format(&Rfc3339).expect("a UTC timestamp always formats as RFC 3339")
}

pub fn truncate_to_micros(value: OffsetDateTime) -> OffsetDateTime {
    let micros = value.microsecond();
    value.replace_microsecond(micros).expect("microsecond taken from a valid timestamp")
}

/// The current time, truncated like every stored timestamp.
pub fn now() -> OffsetDateTime {
    truncate_to_micros(OffsetDateTime::now_utc())
}

/// Microseconds since the Unix epoch: the SQLite representation, and the cursor's.
pub fn to_unix_micros(value: OffsetDateTime) -> i64 {
    (value.unix_timestamp_nanos() / 1_000) as i64
}

pub fn from_unix_micros(micros: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok()
}

/// Serde helpers for `OffsetDateTime` fields on the wire.
pub mod serde_rfc3339 {
    use serde::Serializer;
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(value: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_rfc3339(*value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_normalised_to_utc() {
        let parsed = parse_rfc3339("2026-11-27T10:00:00+02:00").unwrap();
        assert_eq!(format_rfc3339(parsed), "2026-11-27T08:00:00Z");
    }

    #[test]
    fn sub_microsecond_digits_are_dropped() {
        let parsed = parse_rfc3339("2026-11-27T08:00:00.123456789Z").unwrap();
        assert_eq!(format_rfc3339(parsed), "2026-11-27T08:00:00.123456Z");
        assert_eq!(from_unix_micros(to_unix_micros(parsed)), Some(parsed));
    }

    #[test]
    fn naive_and_garbage_timestamps_are_rejected() {
        for bad in ["2026-11-27T08:00:00", "2026-11-27", "yesterday", "", "2026-13-01T00:00:00Z"] {
            assert!(parse_rfc3339(bad).is_err(), "{bad} was accepted");
        }
    }
}
