//! RFC 8785 (JSON Canonicalization Scheme, JCS) serialisation, written for speed: one pass over
//! a borrowed [`Value`] straight into a byte buffer, no intermediate allocation per member.
//!
//! The rules (RFC 8785 §3.2):
//!
//! * no whitespace;
//! * object members sorted by the UTF-16 code units of their names (§3.2.3). `serde_json`'s
//!   [`Map`] is a `BTreeMap` ordered by the UTF-8 bytes of the names, which is the same order
//!   except when, at the first place two names differ, one has a character in U+E000–U+FFFF and
//!   the other a supplementary-plane character (UTF-8 puts the latter after, UTF-16 — whose
//!   surrogates are 0xD800–0xDFFF — before). Objects whose names contain both kinds are re-sorted;
//!   all others are written in map order. Should `serde_json`'s `preserve_order` feature ever be
//!   switched on (the map then keeps insertion order), every object is sorted;
//! * strings (§3.2.2.2): `"` and `\` and U+0000–U+001F escaped — `\b \t \n \f \r` in their short
//!   forms, the others as `\u00xx` with lowercase hex — everything else literal UTF-8;
//! * numbers (§3.2.2.3): ECMAScript's `Number.prototype.toString` of the IEEE-754 double: the
//!   shortest digits that round-trip (from `ryu`), without fraction or exponent for integral
//!   values below 10^21, in exponent form (`1e+21`, `1.5e-7`) when the decimal exponent is ≥ 21 or
//!   ≤ −7, and `-0` as `0`.
//!
//! Integers that `serde_json` holds as `u64`/`i64` are numbers like any other for JCS: they are
//! converted to the nearest double (`as f64`, ties to even) and serialised as that double, exactly
//! as `serde_json_canonicalizer` does, so 2^53 + 1 becomes `9007199254740992` and `u64::MAX`
//! becomes `18446744073709552000`. Integers of magnitude at most 2^53 are exact doubles and are
//! written directly.
//!
//! A [`Value`] cannot hold NaN or ±∞, so serialising one never fails. The [`Canonical`] trait and
//! [`ObjectWriter`] serialise documents from borrowed parts, without first building a `Value`;
//! there a non-finite `f64` is written as `null`, as `serde_json::to_value` (and `json!`) would
//! have turned it into `Value::Null`.

use std::cmp::Ordering;
use std::sync::OnceLock;

use serde_json::{Map, Number, Value};
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

/// The RFC 8785 serialisation of `value`.
pub fn to_canonical_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value);
    out
}

/// The RFC 8785 serialisation of `value`, as a string.
pub fn to_canonical_string(value: &Value) -> String {
    String::from_utf8(to_canonical_vec(value)).expect("canonical JSON is UTF-8")
}

/// Appends the RFC 8785 serialisation of `value` to `out`.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => write_number(out, number),
        Value::String(string) => write_str(out, string),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

fn write_object(out: &mut Vec<u8>, map: &Map<String, Value>) {
    // Decided before writing, not by writing in map order and starting over: starting over at
    // every level of a nested document would cost 2^depth.
    if map_iterates_in_byte_order() && !NameKinds::of(map.keys()).need_utf16_sort() {
        return write_members(out, map.iter());
    }
    let mut members: Vec<(&String, &Value)> = map.iter().collect();
    members.sort_unstable_by(|a, b| utf16_cmp(a.0, b.0));
    write_members(out, members.into_iter());
}

fn write_members<'a>(out: &mut Vec<u8>, members: impl Iterator<Item = (&'a String, &'a Value)>) {
    out.push(b'{');
    for (i, (name, value)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, name);
        out.push(b':');
        write_value(out, value);
    }
    out.push(b'}');
}

/// Whether UTF-8 byte order (the map's) and UTF-16 code-unit order (RFC 8785's) may disagree on
/// a set of names: only if one has a character in U+E000–U+FFFF (UTF-8 lead byte 0xEE or 0xEF)
/// and another a supplementary one (lead byte 0xF0–0xF4). Names are almost always ASCII, which
/// settles it at once.
#[derive(Default)]
struct NameKinds {
    high_bmp: bool,
    supplementary: bool,
}

impl NameKinds {
    fn of<'a>(names: impl Iterator<Item = &'a String>) -> Self {
        let mut kinds = Self::default();
        names.for_each(|name| kinds.note(name));
        kinds
    }

    fn note(&mut self, name: &str) {
        if !name.is_ascii() {
            for byte in name.bytes() {
                self.high_bmp |= matches!(byte, 0xEE | 0xEF);
                self.supplementary |= byte >= 0xF0;
            }
        }
    }

    fn need_utf16_sort(&self) -> bool {
        self.high_bmp && self.supplementary
    }
}

/// RFC 8785 §3.2.3: compare by UTF-16 code units.
pub fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// `serde_json::Map` is a `BTreeMap` unless the `preserve_order` feature is on somewhere in the
/// build (features are unified across the dependency graph), which turns it into an insertion-order
/// `IndexMap`. The answer is fixed for a given binary, so it is worked out once.
fn map_iterates_in_byte_order() -> bool {
    static SORTED: OnceLock<bool> = OnceLock::new();
    *SORTED.get_or_init(|| {
        let mut probe = Map::new();
        probe.insert("b".to_owned(), Value::Null);
        probe.insert("a".to_owned(), Value::Null);
        probe.keys().next().map(String::as_str) == Some("a")
    })
}

/// What each byte becomes inside a string: 0 for itself, `u` for `\u00xx`, otherwise the letter
/// after the backslash.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Appends `string` as an RFC 8785 string literal (§3.2.2.2).
pub fn write_str(out: &mut Vec<u8>, string: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut rest = string.as_bytes();
    out.reserve(rest.len() + 2);
    out.push(b'"');
    loop {
        let clean = clean_prefix_len(rest);
        out.extend_from_slice(&rest[..clean]);
        let Some((&byte, tail)) = rest[clean..].split_first() else { break };
        let escape = ESCAPE[usize::from(byte)];
        if escape == b'u' {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', escape]);
        }
        rest = tail;
    }
    out.push(b'"');
}

/// How many leading bytes of `bytes` need no escape: eight at a time while that lasts, then one
/// by one.
fn clean_prefix_len(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    /// Whether any byte of `word` is zero (exact as a yes/no answer).
    const fn has_zero(word: u64) -> bool {
        word.wrapping_sub(ONES) & !word & HIGH != 0
    }
    let mut clean = 0;
    for chunk in bytes.chunks_exact(8) {
        let word = u64::from_ne_bytes(chunk.try_into().expect("a chunk of eight"));
        // A byte below 0x20, a `"` or a `\`.
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH != 0;
        if control || has_zero(word ^ (ONES * u64::from(b'"'))) || has_zero(word ^ (ONES * u64::from(b'\\'))) {
            break;
        }
        clean += 8;
    }
    clean + bytes[clean..].iter().take_while(|&&byte| ESCAPE[usize::from(byte)] == 0).count()
}

/// 2^53: every integer of at most this magnitude is exactly a double.
const EXACT_INTEGER_LIMIT: u64 = 1 << 53;

/// Appends a `serde_json` number (§3.2.2.3); integers beyond ±2^53 are rounded to a double first.
pub fn write_number(out: &mut Vec<u8>, number: &Number) {
    if let Some(unsigned) = number.as_u64() {
        write_u64(out, unsigned);
    } else if let Some(signed) = number.as_i64() {
        write_i64(out, signed);
    } else if let Some(float) = number.as_f64() {
        write_finite_f64(out, float);
    }
}

/// Appends an unsigned integer as the double nearest to it.
pub fn write_u64(out: &mut Vec<u8>, value: u64) {
    if value <= EXACT_INTEGER_LIMIT {
        write_decimal(out, value);
    } else {
        write_finite_f64(out, value as f64);
    }
}

/// Appends a signed integer as the double nearest to it.
pub fn write_i64(out: &mut Vec<u8>, value: i64) {
    if value.unsigned_abs() > EXACT_INTEGER_LIMIT {
        write_finite_f64(out, value as f64);
    } else {
        if value < 0 {
            out.push(b'-');
        }
        write_decimal(out, value.unsigned_abs());
    }
}

/// Appends a double; NaN and ±∞, which JSON cannot carry, become `null` as in `serde_json`'s
/// conversion to a [`Value`].
pub fn write_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        write_finite_f64(out, value);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// ECMAScript `Number::toString(value)` (ECMA-262 §6.1.6.1.20) for a finite double.
fn write_finite_f64(out: &mut Vec<u8>, value: f64) {
    debug_assert!(value.is_finite());
    if value == 0.0 {
        // +0 and -0 alike.
        out.push(b'0');
        return;
    }
    if value < 0.0 {
        out.push(b'-');
    }
    let magnitude = value.abs();
    if magnitude.fract() == 0.0 && magnitude <= EXACT_INTEGER_LIMIT as f64 {
        // An exactly representable integer is its own shortest round-trip form.
        write_decimal(out, magnitude as u64);
        return;
    }

    // `ryu` finds the shortest digits that round-trip, closest to the value (the `s` of the
    // ECMAScript algorithm); it spells them as `123.45`, `0.00012345`, `12300.0`, `1.2345e30`
    // or `1e-7`. Recover the digits and the position of the decimal point from that spelling.
    let mut buffer = ryu::Buffer::new();
    let spelled = buffer.format_finite(magnitude).as_bytes();
    let (mantissa, exponent) = match spelled.iter().position(|&b| b == b'e') {
        Some(e) => (&spelled[..e], parse_exponent(&spelled[e + 1..])),
        None => (spelled, 0),
    };
    // digits[..len] is `s` without leading or trailing zeros; `point` is the ECMAScript `n`:
    // the value is 0.d1d2d3… × 10^n.
    let mut digits = [0u8; 32];
    let mut len = 0usize;
    let mut integer_digits = 0i32;
    let mut leading_zeros = 0i32;
    let mut seen_point = false;
    for &byte in mantissa {
        match byte {
            b'.' => seen_point = true,
            b'0' if len == 0 => {
                leading_zeros += 1;
                integer_digits += i32::from(!seen_point);
            }
            _ => {
                digits[len] = byte;
                len += 1;
                integer_digits += i32::from(!seen_point);
            }
        }
    }
    while len > 1 && digits[len - 1] == b'0' {
        len -= 1;
    }
    let digits = &digits[..len];
    let k = len as i32;
    let n = integer_digits - leading_zeros + exponent;

    if k <= n && n <= 21 {
        // Integral: the digits, then n − k zeros.
        out.extend_from_slice(digits);
        out.resize(out.len() + (n - k) as usize, b'0');
    } else if 0 < n && n <= 21 {
        let (integral, fraction) = digits.split_at(n as usize);
        out.extend_from_slice(integral);
        out.push(b'.');
        out.extend_from_slice(fraction);
    } else if -6 < n && n <= 0 {
        out.extend_from_slice(b"0.");
        out.resize(out.len() + (-n) as usize, b'0');
        out.extend_from_slice(digits);
    } else {
        out.push(digits[0]);
        if k > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if n - 1 < 0 { b'-' } else { b'+' });
        write_decimal(out, u64::from((n - 1).unsigned_abs()));
    }
}

fn parse_exponent(text: &[u8]) -> i32 {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let magnitude = digits.iter().fold(0i32, |acc, &d| acc * 10 + i32::from(d - b'0'));
    if negative { -magnitude } else { magnitude }
}

fn write_decimal(out: &mut Vec<u8>, mut value: u64) {
    let mut buffer = [0u8; 20];
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&buffer[start..]);
}

/// A value that can write its RFC 8785 serialisation without first becoming a [`Value`]. Each
/// implementation writes exactly what `to_canonical_vec(&serde_json::to_value(self)?)` would.
pub trait Canonical {
    fn write_canonical(&self, out: &mut Vec<u8>);
}

impl Canonical for Value {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        write_value(out, self);
    }
}

impl Canonical for str {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        write_str(out, self);
    }
}

impl Canonical for String {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        write_str(out, self);
    }
}

impl Canonical for bool {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

impl Canonical for u32 {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        write_decimal(out, u64::from(*self));
    }
}

impl Canonical for u64 {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        write_u64(out, *self);
    }
}

impl Canonical for i64 {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        write_i64(out, *self);
    }
}

impl Canonical for f64 {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        write_f64(out, *self);
    }
}

/// The hyphenated lowercase form, as `Uuid`'s `Serialize` gives a human-readable format.
impl Canonical for Uuid {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        let mut buffer = Uuid::encode_buffer();
        out.push(b'"');
        out.extend_from_slice(self.hyphenated().encode_lower(&mut buffer).as_bytes());
        out.push(b'"');
    }
}

impl<T: Canonical> Canonical for Option<T> {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        match self {
            Some(value) => value.write_canonical(out),
            None => out.extend_from_slice(b"null"),
        }
    }
}

impl<T: Canonical> Canonical for [T] {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        out.push(b'[');
        for (i, item) in self.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            item.write_canonical(out);
        }
        out.push(b']');
    }
}

impl<T: Canonical> Canonical for Vec<T> {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        self.as_slice().write_canonical(out);
    }
}

impl<T: Canonical + ?Sized> Canonical for &T {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        (**self).write_canonical(out);
    }
}

/// A timestamp as its RFC 3339 string (what `timestamp::format_rfc3339` returns: UTC, `Z`,
/// the fraction's trailing zeros trimmed, none when whole), written without allocating.
pub struct Rfc3339(pub OffsetDateTime);

impl Canonical for Rfc3339 {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        let utc = self.0.to_offset(UtcOffset::UTC);
        let (hour, minute, second, nanos) = utc.to_hms_nano();
        // RFC 3339 has four-digit years; every stored timestamp is within them.
        let year = utc.year().clamp(0, 9999) as u32;
        let mut text = *b"\"0000-00-00T00:00:00";
        for (at, value, digits) in [
            (1, year, 4),
            (6, u32::from(u8::from(utc.month())), 2),
            (9, u32::from(utc.day()), 2),
            (12, u32::from(hour), 2),
            (15, u32::from(minute), 2),
            (18, u32::from(second), 2),
        ] {
            let mut value = value;
            for i in (at..at + digits).rev() {
                text[i] = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        out.extend_from_slice(&text);
        if nanos != 0 {
            let mut fraction = *b".000000000";
            let mut value = nanos;
            for digit in fraction[1..].iter_mut().rev() {
                *digit = b'0' + (value % 10) as u8;
                value /= 10;
            }
            let end = fraction.iter().rposition(|&d| d != b'0').expect("a non-zero fraction has a non-zero digit");
            out.extend_from_slice(&fraction[..=end]);
        }
        out.extend_from_slice(b"Z\"");
    }
}

/// Stored JSON text spliced verbatim into a canonical document, without being parsed into a
/// [`Value`] and written again: `verify`'s fast path. Whether the text is canonical is left to
/// the leaf hash — ml-audit stores [`column_text`], so text it wrote splices into the canonical
/// bytes, and other text gives another hash. What must be checked first is that the text is
/// one value, not more and not less ([`JsonText::checked`]); otherwise text shifted from one
/// column into its neighbour could splice into the very same bytes.
#[derive(Debug, Clone, Copy)]
pub struct JsonText<'a>(&'a str);

/// Why stored text cannot be spliced as one JSON value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotOneValue(&'static str);

impl<'a> JsonText<'a> {
    /// Accepts text whose boundaries are those of exactly one JSON value: an object or array
    /// whose brackets (outside strings) first balance at its last byte, a string whose closing
    /// quote is its last byte, or a bare scalar without any of `{}[]",:`. That is all splicing
    /// needs: every column is followed by a member separator (`,"name":`), so text that ends
    /// early or late would have to hold a comma outside any bracket or string, which such text
    /// cannot — nor can the valid JSON ml-audit wrote. A column that passes this but is not
    /// JSON inside splices into bytes that differ from the sealed ones, and `verify` reports it.
    /// One pass over the bytes: a fraction of what a full parse costs.
    pub fn checked(text: &'a str) -> Result<Self, NotOneValue> {
        let bytes = text.as_bytes();
        let last = bytes.len().checked_sub(1).ok_or(NotOneValue("it is empty"))?;
        match bytes[0] {
            b'{' | b'[' => {
                let mut depth = 0usize;
                let mut at = 0;
                while at <= last {
                    match bytes[at] {
                        b'"' => at = string_end(bytes, at)?,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 && at != last {
                                return Err(NotOneValue("text follows the value"));
                            }
                        }
                        _ => {}
                    }
                    at += 1;
                }
                if depth != 0 {
                    return Err(NotOneValue("a bracket is not closed"));
                }
            }
            b'"' if string_end(bytes, 0)? == last => {}
            b'"' => return Err(NotOneValue("text follows the string")),
            _ if bytes.iter().any(|b| b"{}[]\",:".contains(b)) => return Err(NotOneValue("it is not one value")),
            _ => {}
        }
        Ok(Self(text))
    }

    /// Bytes this crate wrote itself (a canonical sub-document), spliced like stored text.
    pub(crate) fn canonical(bytes: &'a [u8]) -> Self {
        Self(std::str::from_utf8(bytes).expect("canonical JSON is UTF-8"))
    }
}

/// The index of the quote that closes the string opened at `open`.
fn string_end(bytes: &[u8], open: usize) -> Result<usize, NotOneValue> {
    let mut at = open + 1;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'"' => return Ok(at),
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
    Err(NotOneValue("a string is not closed"))
}

impl Canonical for JsonText<'_> {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0.as_bytes());
    }
}

/// The text ml-audit stores in a JSON column: the value's RFC 8785 form, which `verify` splices
/// into leaves without parsing ([`JsonText`]). A value holding an integer that RFC 8785 would
/// round to a double (beyond ±2^53) is stored exactly instead, as `serde_json` writes it: the
/// column keeps what was sent, and `verify` decodes that row rather than splicing it.
pub fn column_text(value: &Value) -> String {
    ColumnText::of(value).into_stored()
}

/// A JSON column's stored text ([`column_text`]) that also writes the value into a canonical
/// document: the stored text itself, so the value is serialised once for both, except in the
/// rare column that keeps an integer beyond ±2^53 exactly (its canonical form is made too).
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnText {
    text: String,
    /// Set only when `text` is not the value's RFC 8785 form.
    canonical: Option<String>,
}

impl ColumnText {
    pub fn of(value: &Value) -> Self {
        if holds_inexact_integer(value) {
            Self { text: value.to_string(), canonical: Some(canonical_text(value)) }
        } else {
            Self { text: canonical_text(value), canonical: None }
        }
    }

    /// The text to store.
    pub fn stored(&self) -> &str {
        &self.text
    }

    pub fn into_stored(self) -> String {
        self.text
    }
}

impl Canonical for ColumnText {
    fn write_canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.canonical.as_deref().unwrap_or(&self.text).as_bytes());
    }
}

/// The RFC 8785 serialisation of anything [`Canonical`], as a string.
pub fn canonical_text(value: &(impl Canonical + ?Sized)) -> String {
    let mut out = Vec::with_capacity(128);
    value.write_canonical(&mut out);
    String::from_utf8(out).expect("canonical JSON is UTF-8")
}

fn holds_inexact_integer(value: &Value) -> bool {
    const EXACT: u64 = 1 << 53;
    match value {
        Value::Number(number) => match (number.as_u64(), number.as_i64()) {
            (Some(unsigned), _) => unsigned > EXACT,
            (None, Some(signed)) => signed.unsigned_abs() > EXACT,
            (None, None) => false,
        },
        Value::Array(items) => items.iter().any(holds_inexact_integer),
        Value::Object(members) => members.values().any(holds_inexact_integer),
        Value::Null | Value::Bool(_) | Value::String(_) => false,
    }
}

/// Writes a JSON object member by member, for documents with a fixed layout. The caller gives
/// the members in RFC 8785 order (by UTF-16 code units of the names, which for ASCII names is
/// plain byte order); debug builds check it.
pub struct ObjectWriter<'a> {
    out: &'a mut Vec<u8>,
    last: Option<&'a str>,
}

impl<'a> ObjectWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, last: None }
    }

    /// Appends the member `name: value`.
    pub fn member(&mut self, name: &'a str, value: &(impl Canonical + ?Sized)) -> &mut Self {
        self.name(name);
        value.write_canonical(self.out);
        self
    }

    /// Appends a member whose value is itself an object with a fixed layout.
    pub fn object(&mut self, name: &'a str, members: impl FnOnce(&mut ObjectWriter<'_>)) -> &mut Self {
        self.name(name);
        let mut nested = ObjectWriter::new(self.out);
        members(&mut nested);
        nested.finish();
        self
    }

    fn name(&mut self, name: &'a str) {
        if let Some(last) = self.last {
            debug_assert!(utf16_cmp(last, name).is_lt(), "member {name:?} written after {last:?}");
            self.out.push(b',');
        }
        self.last = Some(name);
        write_str(self.out, name);
        self.out.push(b':');
    }

    pub fn finish(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
#[path = "canonical_tests.rs"]
mod tests;
