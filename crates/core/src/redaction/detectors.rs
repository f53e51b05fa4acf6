//! Value detectors: personal data found inside any string, whatever key holds it.
//!
//! Each detector finds candidates with a regex, then checks what a regex cannot: checksums (Luhn,
//! mod 97), octet ranges, SSN blocks, and that the candidate is not part of a longer number or
//! word. A cheap profile of the string decides which detectors can match at all, so typical
//! values ("flagged", "mobile", "2026-11-27T08:00:00Z", UUIDs) never reach a regex.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv6Addr};
use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// The kinds of personal data the value detectors find; each can be switched on or off and
/// given its own action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DetectorKind {
    /// Email addresses (`user@example.com`).
    Email,
    /// Payment card numbers, 13 to 19 digits passing the Luhn check, plain or grouped.
    Card,
    /// Phone numbers: international (`+44 20 7946 0958`) and North American national formats.
    Phone,
    /// IBANs passing the ISO 13616 mod-97 check, compact or grouped by four.
    Iban,
    /// US Social Security numbers (`ddd-dd-dddd`, never-issued blocks left out).
    Ssn,
    /// IPv4 and IPv6 addresses.
    Ip,
}

impl DetectorKind {
    pub const ALL: [DetectorKind; 6] = [
        DetectorKind::Email,
        DetectorKind::Card,
        DetectorKind::Phone,
        DetectorKind::Iban,
        DetectorKind::Ssn,
        DetectorKind::Ip,
    ];

    /// The name used in configuration and in the redaction log (`detector:email`).
    pub fn as_str(self) -> &'static str {
        match self {
            DetectorKind::Email => "email",
            DetectorKind::Card => "card",
            DetectorKind::Phone => "phone",
            DetectorKind::Iban => "iban",
            DetectorKind::Ssn => "ssn",
            DetectorKind::Ip => "ip",
        }
    }

    /// `detector:<name>`, as the redaction log names it.
    pub fn label(self) -> &'static str {
        match self {
            DetectorKind::Email => "detector:email",
            DetectorKind::Card => "detector:card",
            DetectorKind::Phone => "detector:phone",
            DetectorKind::Iban => "detector:iban",
            DetectorKind::Ssn => "detector:ssn",
            DetectorKind::Ip => "detector:ip",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    pub(super) const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of detector kinds, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Kinds(pub(super) u8);

impl Kinds {
    pub(super) const ALL: Kinds = Kinds((1 << DetectorKind::ALL.len()) - 1);

    pub(super) fn contains(self, kind: DetectorKind) -> bool {
        self.0 & kind.bit() != 0
    }

    pub(super) fn insert(&mut self, kind: DetectorKind) {
        self.0 |= kind.bit();
    }

    pub(super) fn iter(self) -> impl Iterator<Item = DetectorKind> {
        DetectorKind::ALL.into_iter().filter(move |kind| self.contains(*kind))
    }
}

/// One region of a string holding personal data; overlapping detections are merged into one
/// region that remembers every kind found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found {
    pub(super) span: Range<usize>,
    pub(super) kinds: Kinds,
}

/// A region of a string that the value detectors find, with every kind found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub span: Range<usize>,
    pub kinds: Vec<DetectorKind>,
}

/// What every detector finds in `text`, whatever a policy switches off: the regions, merged and
/// in order. For tests, fuzzing and previews; a policy redacts with its own detectors.
pub fn detect(text: &str) -> Vec<Detection> {
    let mut found = Vec::new();
    find_personal_data(text, Kinds::ALL, &mut found);
    found.into_iter().map(|found| Detection { span: found.span, kinds: found.kinds.iter().collect() }).collect()
}

/// Whether any detector finds personal data in `text`.
pub fn contains_personal_data(text: &str) -> bool {
    let mut found = Vec::new();
    find_personal_data(text, Kinds::ALL, &mut found);
    !found.is_empty()
}

/// Fills `found` with the regions of `text` that the `enabled` detectors find, merged and in
/// order. Allocates nothing when nothing is found.
pub(super) fn find_personal_data(text: &str, enabled: Kinds, found: &mut Vec<Found>) {
    found.clear();
    if enabled.0 == 0 || !may_hold_personal_data(text) {
        return;
    }
    let profile = Profile::of(text);
    let mut spans = Vec::new();
    for detector in Detector::ALL {
        let kind = detector.kind();
        if enabled.contains(kind) && detector.may_match(&profile, text) {
            detector.find(text, &mut spans);
            found.extend(spans.drain(..).map(|span| Found { span, kinds: Kinds(kind.bit()) }));
        }
    }
    if found.len() < 2 {
        return;
    }
    // Detectors overlap ("+1 555-123-4567" is an international and a national number): merge
    // overlapping spans so each region is replaced once.
    found.sort_unstable_by_key(|found| found.span.start);
    found.dedup_by(|next, kept| {
        let overlaps = next.span.start <= kept.span.end;
        if overlaps {
            kept.span.end = kept.span.end.max(next.span.end);
            kept.kinds.0 |= next.kinds.0;
        }
        overlaps
    });
}

/// The form of a detected value that its pseudonym is computed from, so that one person's
/// address or number gives one token however it was written: emails lower-cased; card numbers,
/// IBANs and SSNs without separators; phone numbers as `+` (if any) and digits; IP addresses as
/// printed by the standard library (IPv6 compressed, lower case).
pub(super) fn canonical(kind: DetectorKind, text: &str) -> Cow<'_, str> {
    match kind {
        DetectorKind::Email => Cow::Owned(text.to_lowercase()),
        DetectorKind::Card | DetectorKind::Iban | DetectorKind::Ssn => {
            Cow::Owned(text.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect())
        }
        DetectorKind::Phone => {
            let plus = if text.starts_with('+') { "+" } else { "" };
            Cow::Owned(plus.chars().chain(text.chars().filter(char::is_ascii_digit)).collect())
        }
        DetectorKind::Ip => match text.parse::<IpAddr>() {
            Ok(address) => Cow::Owned(address.to_string()),
            Err(_) => Cow::Borrowed(text),
        },
    }
}

/// False when no detector can match: nothing shorter than "::1" is personal data, and every
/// detector needs an `@` (email), a `:` (IPv6) or a digit. Most keys and words have none, and
/// this stops at the first that does.
#[inline]
pub(super) fn may_hold_personal_data(text: &str) -> bool {
    text.len() >= 3 && text.bytes().any(|byte| CLASSES[usize::from(byte)] & (DIGIT | AT | COLON) != 0)
}

/// Cheap facts about a string that rule detectors out before any regex runs.
struct Profile {
    /// The union of the classes of its bytes.
    classes: u16,
    /// Most digits in one stretch of digits joined by ` -.()`, leaving out digits glued to a
    /// letter or `_` ("a716", "tx_41"): every number-shaped detector rejects those, so no
    /// candidate holds more digits than this, and UUIDs and hex ids skip the number detectors.
    longest_number: usize,
}

const DIGIT: u16 = 1;
const JOINER: u16 = 1 << 1;
const WORD: u16 = 1 << 2;
const UPPER: u16 = 1 << 3;
const AT: u16 = 1 << 4;
const PLUS: u16 = 1 << 5;
const COLON: u16 = 1 << 6;
const DASH: u16 = 1 << 7;

/// A table lookup per byte instead of a chain of comparisons.
static CLASSES: [u16; 256] = {
    let mut classes = [0; 256];
    let mut byte = 0;
    while byte < 256 {
        classes[byte] = match byte as u8 {
            b'0'..=b'9' => DIGIT,
            b'-' => JOINER | DASH,
            b' ' | b'.' | b'(' | b')' => JOINER,
            b'A'..=b'Z' => WORD | UPPER,
            b'a'..=b'z' | b'_' => WORD,
            b'@' => AT,
            b'+' => PLUS,
            b':' => COLON,
            _ => 0,
        };
        byte += 1;
    }
    classes
};

impl Profile {
    fn of(text: &str) -> Self {
        let bytes = text.as_bytes();
        let (classes, digits) = bytes.iter().fold((0, 0), |(classes, digits), &byte| {
            let class = CLASSES[usize::from(byte)];
            (classes | class, digits + usize::from(class & DIGIT))
        });
        // Every number-shaped detector needs at least 4 digits: with fewer, skip the slower scan.
        let longest_number = if digits >= 4 { longest_number(bytes) } else { digits };
        Profile { classes, longest_number }
    }

    fn has(&self, class: u16) -> bool {
        self.classes & class != 0
    }
}

fn longest_number(bytes: &[u8]) -> usize {
    let (mut longest, mut number, mut glued, mut previous) = (0, 0, false, 0);
    for &byte in bytes {
        let class = CLASSES[usize::from(byte)];
        let is_digit = class & DIGIT != 0;
        glued = is_digit && (glued || previous & WORD != 0);
        number = if class & (DIGIT | JOINER) == 0 { 0 } else { number + usize::from(is_digit && !glued) };
        longest = longest.max(number);
        previous = class;
    }
    longest
}

#[derive(Clone, Copy)]
enum Detector {
    Email,
    PaymentCard,
    InternationalPhone,
    NationalPhone,
    Iban,
    UsSsn,
    Ipv4,
    Ipv6,
}

impl Detector {
    fn kind(self) -> DetectorKind {
        match self {
            Detector::Email => DetectorKind::Email,
            Detector::PaymentCard => DetectorKind::Card,
            Detector::InternationalPhone | Detector::NationalPhone => DetectorKind::Phone,
            Detector::Iban => DetectorKind::Iban,
            Detector::UsSsn => DetectorKind::Ssn,
            Detector::Ipv4 | Detector::Ipv6 => DetectorKind::Ip,
        }
    }

    const ALL: [Detector; 8] = [
        Detector::Email,
        Detector::PaymentCard,
        Detector::InternationalPhone,
        Detector::NationalPhone,
        Detector::Iban,
        Detector::UsSsn,
        Detector::Ipv4,
        Detector::Ipv6,
    ];

    /// False when the profile rules a match out; true means "look closer".
    fn may_match(self, profile: &Profile, text: &str) -> bool {
        match self {
            Detector::Email => profile.has(AT),
            Detector::PaymentCard => profile.longest_number >= 13,
            Detector::InternationalPhone => profile.has(PLUS) && profile.longest_number >= 7,
            Detector::NationalPhone => profile.longest_number >= 10,
            Detector::Iban => {
                profile.has(UPPER)
                    && profile.has(DIGIT)
                    && text.as_bytes().windows(4).any(|head| {
                        head[..2].iter().all(u8::is_ascii_uppercase) && head[2..].iter().all(u8::is_ascii_digit)
                    })
            }
            Detector::UsSsn => profile.longest_number >= 9 && profile.has(DASH),
            Detector::Ipv4 => profile.longest_number >= 4 && text.bytes().filter(|&byte| byte == b'.').count() >= 3,
            // Without "::" an IPv6 address has at least six colons.
            Detector::Ipv6 => {
                profile.has(COLON) && (text.contains("::") || text.bytes().filter(|&byte| byte == b':').count() >= 6)
            }
        }
    }

    fn find(self, text: &str, spans: &mut Vec<Range<usize>>) {
        match self {
            Detector::Email => spans.extend(candidates(&EMAIL, text)),
            Detector::PaymentCard => {
                for run in candidates(&DIGIT_GROUPS, text) {
                    find_cards(text, run, spans);
                }
            }
            Detector::InternationalPhone => spans
                .extend(candidates(&INTERNATIONAL_PHONE, text).filter_map(|found| international_phone(text, found))),
            Detector::NationalPhone => {
                spans.extend(candidates(&NATIONAL_PHONE, text).filter(|found| stands_alone(text, found, ".-")));
            }
            Detector::Iban => spans.extend(candidates(&IBAN, text).filter_map(|found| iban(text, found))),
            Detector::UsSsn => find_ssns(text, spans),
            Detector::Ipv4 => spans.extend(
                candidates(&IPV4, text)
                    .filter(|found| stands_alone(text, found, ".") && valid_ipv4(&text[found.clone()])),
            ),
            Detector::Ipv6 => spans.extend(candidates(&IPV6, text).filter_map(|found| ipv6(text, found))),
        }
    }
}

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("detector patterns are valid")
}

fn candidates<'t>(regex: &'t Regex, text: &'t str) -> impl Iterator<Item = Range<usize>> + 't {
    regex.find_iter(text).map(|found| found.range())
}

static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| compile(r"[\p{L}\p{N}._%+\-]+@[\p{L}\p{N}\-]+(?:\.[\p{L}\p{N}\-]+)*\.\p{L}{2,}"));
/// Digits joined by single spaces or dashes: the runs in which card numbers are looked for.
static DIGIT_GROUPS: LazyLock<Regex> = LazyLock::new(|| compile(r"[0-9]+(?:[ \-][0-9]+)*"));
static INTERNATIONAL_PHONE: LazyLock<Regex> =
    LazyLock::new(|| compile(r"\+[1-9][0-9]*(?:[ .\-]?(?:[0-9]+|\([0-9]+\)))*"));
static NATIONAL_PHONE: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?:1[ .\-])?(?:\([0-9]{3}\) ?|[0-9]{3}[ .\-])[0-9]{3}[ .\-][0-9]{4}"));
static IBAN: LazyLock<Regex> =
    LazyLock::new(|| compile(r"[A-Z]{2}[0-9]{2}(?:(?: [A-Z0-9]{4})+(?: [A-Z0-9]{1,3})?|[A-Z0-9]{11,30})"));
static IPV4: LazyLock<Regex> = LazyLock::new(|| compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}"));
/// Loose on purpose: `Ipv6Addr`'s parser is the judge.
static IPV6: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?:[0-9A-Fa-f]{0,4}:){2,8}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{1,4})?"));

/// Card numbers inside a run of digit groups: "4111111111111111 2027" holds one, and so may a
/// run that begins with unrelated numbers.
fn find_cards(text: &str, run: Range<usize>, spans: &mut Vec<Range<usize>>) {
    let mut groups = Vec::new();
    let mut group_start = run.start;
    for (offset, byte) in text[run.clone()].bytes().enumerate() {
        if !byte.is_ascii_digit() {
            groups.push(group_start..run.start + offset);
            group_start = run.start + offset + 1;
        }
    }
    groups.push(group_start..run.end);
    // A group glued to a word or to a decimal part ("3.4111111111111111") is no card.
    let mut first = usize::from(continues_before(text, run.start, ".,"));
    let end = groups.len() - usize::from(continues_after(text, run.end, ".,"));
    while first < end {
        match longest_card(text, &groups[first..end]) {
            Some(count) => {
                spans.push(groups[first].start..groups[first + count - 1].end);
                first += count;
            }
            None => first += 1,
        }
    }
}

/// How many of `groups`, from the first, make the longest valid card number.
fn longest_card(text: &str, groups: &[Range<usize>]) -> Option<usize> {
    let mut digits = 0;
    let mut longest = None;
    for (index, group) in groups.iter().enumerate() {
        digits += group.len();
        // Written cards are laid out 4-4-4-4, 4-6-5, 4-4-4-4-3: every group but the last has 4 to
        // 6 digits. This keeps lists of small numbers ("12 7 300 …") from passing Luhn by chance.
        let well_grouped = index == 0 || ((4..=6).contains(&groups[index - 1].len()) && group.len() <= 6);
        if digits > 19 || !well_grouped {
            break;
        }
        if digits >= 13 && luhn_valid(&text[groups[0].start..group.end]) {
            longest = Some(index + 1);
        }
    }
    longest
}

fn luhn_valid(number: &str) -> bool {
    let sum: u32 = number
        .bytes()
        .rev()
        .filter(u8::is_ascii_digit)
        .map(|byte| u32::from(byte - b'0'))
        .enumerate()
        .map(|(position, digit)| match (position % 2, digit) {
            (0, _) => digit,
            (_, 0..=4) => digit * 2,
            _ => digit * 2 - 9,
        })
        .sum();
    // All zeros passes the checksum but is a placeholder, never a card.
    sum > 0 && sum.is_multiple_of(10)
}

/// The phone number at `found`, cut after at most 15 digits (E.164) so that numbers written
/// after it ("+44 20 7946 0958 2026") are left alone.
fn international_phone(text: &str, found: Range<usize>) -> Option<Range<usize>> {
    if continues_before(text, found.start, "") {
        return None;
    }
    let bytes = text.as_bytes();
    let mut digits = 0;
    let mut end = None;
    for at in found.start + 1..found.end {
        if bytes[at].is_ascii_digit() {
            digits += 1;
            if digits > 15 {
                break;
            }
        } else if digits >= 7 && bytes[at] != b')' && matches!(bytes[at - 1], b'0'..=b'9' | b')') {
            end = Some(at);
        }
    }
    if (7..=15).contains(&digits) && !continues_after(text, found.end, "") {
        end = Some(found.end);
    }
    let span = found.start..end?;
    // "+1.23456789" is a signed decimal, not a phone number.
    let separators = text[span.start + 1..span.end].bytes().filter(|byte| !byte.is_ascii_digit());
    (!separators.eq([b'.'])).then_some(span)
}

fn iban(text: &str, found: Range<usize>) -> Option<Range<usize>> {
    if continues_before(text, found.start, "") {
        return None;
    }
    // A grouped IBAN may run into the next word ("… 3000 EURO"): drop trailing groups until valid.
    let mut end = found.end;
    loop {
        if valid_iban(&text[found.start..end]) && !continues_after(text, end, "") {
            return Some(found.start..end);
        }
        end = found.start + text[found.start..end].rfind(' ')?;
    }
}

/// ISO 13616: 15 to 34 characters; moving the first four to the end and reading letters as
/// 10..=35 gives a number that is 1 modulo 97.
fn valid_iban(iban: &str) -> bool {
    let compact = iban.bytes().filter(|&byte| byte != b' ');
    if !(15..=34).contains(&compact.clone().count()) {
        return false;
    }
    let remainder = compact.clone().skip(4).chain(compact.take(4)).fold(0, |remainder: u32, byte| {
        if byte.is_ascii_digit() {
            (remainder * 10 + u32::from(byte - b'0')) % 97
        } else {
            (remainder * 100 + u32::from(byte - b'A') + 10) % 97
        }
    });
    remainder == 1
}

/// `ddd-dd-dddd` has a fixed shape: checking it at each dash is cheaper than a regex search.
fn find_ssns(text: &str, spans: &mut Vec<Range<usize>>) {
    for (dash, _) in text.match_indices('-') {
        let Some(start) = dash.checked_sub(3) else { continue };
        let span = start..start + 11;
        let Some(candidate) = text.as_bytes().get(span.clone()) else { break };
        let shaped = candidate.iter().enumerate().all(|(at, byte)| match at {
            3 | 6 => *byte == b'-',
            _ => byte.is_ascii_digit(),
        });
        if shaped && stands_alone(text, &span, ".-") && issued_ssn(candidate) {
            spans.push(span);
        }
    }
}

/// Leaves out the blocks the Social Security Administration never issues.
fn issued_ssn(ssn: &[u8]) -> bool {
    let (area, group, serial) = (&ssn[0..3], &ssn[4..6], &ssn[7..11]);
    area != b"000" && area != b"666" && area[0] != b'9' && group != b"00" && serial != b"0000"
}

fn valid_ipv4(address: &str) -> bool {
    address.split('.').all(|octet| octet.parse::<u16>().is_ok_and(|value| value <= 255))
}

fn ipv6(text: &str, found: Range<usize>) -> Option<Range<usize>> {
    let mut span = found;
    // In "fe80::1: unreachable" the last colon belongs to the sentence.
    if text[span.clone()].ends_with(':') && !text[span.clone()].ends_with("::") {
        span.end -= 1;
    }
    let address = &text[span.clone()];
    // "::" alone parses, but is punctuation far more often than an address.
    let plausible = address.bytes().any(|byte| byte.is_ascii_hexdigit()) && address.parse::<Ipv6Addr>().is_ok();
    (plausible && stands_alone(text, &span, "")).then_some(span)
}

/// Neither end of `span` continues into a word or, through one of `joiners`, into more digits:
/// "1.2.3.4.5" holds no IPv4 address, "123-45-67890" no SSN.
fn stands_alone(text: &str, span: &Range<usize>, joiners: &str) -> bool {
    !continues_before(text, span.start, joiners) && !continues_after(text, span.end, joiners)
}

fn continues_before(text: &str, at: usize, joiners: &str) -> bool {
    let mut before = text[..at].chars().rev();
    continues(before.next(), before.next(), joiners)
}

fn continues_after(text: &str, at: usize, joiners: &str) -> bool {
    let mut after = text[at..].chars();
    continues(after.next(), after.next(), joiners)
}

fn continues(next: Option<char>, beyond: Option<char>, joiners: &str) -> bool {
    match next {
        Some(c) if c.is_alphanumeric() || c == '_' => true,
        Some(c) if joiners.contains(c) => beyond.is_some_and(|b| b.is_ascii_digit()),
        _ => false,
    }
}
