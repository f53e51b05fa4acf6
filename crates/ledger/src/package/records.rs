//! `records.jsonl` and `proofs.jsonl`: the line that ties each data row to its ledger leaf, and
//! its inclusion path.

use std::borrow::Cow;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ml_audit_core::ledger::merkle::{self, Hash};
use ml_audit_core::ledger::record::{SALTED_RECORD_VERSION, Salt, prediction_leaf_data, prediction_seal_data};
use ml_audit_core::model::PredictionEvent;
use ml_audit_core::timestamp::format_rfc3339;
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

/// One prediction's ledger line: what a verifier needs, beside the data row, to rebuild its
/// ledger record and find its leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLine {
    /// The client's id, `None` once erased (the data row's `prediction_id`).
    pub prediction_id: Option<String>,
    /// The prediction's `id`.
    pub id: Uuid,
    /// Its leaf's index in the log (its `ledger.seq`).
    pub leaf_index: u64,
    /// The record layout version, `v`: 1 (unsalted) or 2 (salted, the leaf is a seal).
    pub version: u32,
    /// The record's `created_at`: the data row does not show it, the record holds it.
    pub created_at: OffsetDateTime,
    /// The v2 salt; `None` for a v1 record and for an erased one (the erasure destroyed it).
    pub salt: Option<Salt>,
    /// The bytes the leaf hashes: the record's RFC 8785 bytes (v1) or its seal (v2), exactly as
    /// `GET …/proof` gives them. Empty only for an erased v1 record, whose leaf bytes were the
    /// content the erasure destroyed: then `leaf_hash` is given instead.
    pub leaf_data: Vec<u8>,
    /// Only for an erased v1 record (with `leaf_data` empty): its leaf hash, which a proof can
    /// still place in the tree though nothing can recompute it.
    pub leaf_hash: Option<Hash>,
}

impl RecordLine {
    /// The line of an intact, sealed prediction as the store reads it back (`ledger` set, not
    /// erased; for an erased one, [`Self::of_erased_prediction`]). Refused when the record does
    /// not hash to its sealed leaf.
    pub fn of_prediction(event: &PredictionEvent) -> Result<Self, String> {
        let ledger = event.ledger.ok_or_else(|| format!("prediction {} is not sealed yet", event.id))?;
        if event.erased.is_some() {
            return Err(format!("prediction {} is erased: its line needs its seal or leaf hash", event.id));
        }
        Self {
            prediction_id: Some(event.prediction_id.clone()),
            id: event.id,
            leaf_index: ledger.seq,
            version: if event.salt.is_some() { SALTED_RECORD_VERSION } else { 1 },
            created_at: event.created_at,
            salt: event.salt,
            leaf_data: prediction_leaf_data(event),
            leaf_hash: None,
        }
        .checked_against(ledger.leaf_hash)
    }

    /// The line of an erased, sealed prediction as the store reads it back: with `commitment`
    /// (the one its erasure kept) a v2 record, whose leaf is its seal rebuilt from the kept
    /// fields; without, a v1 record, known by its leaf hash alone.
    pub fn of_erased_prediction(event: &PredictionEvent, commitment: Option<&Hash>) -> Result<Self, String> {
        let ledger = event.ledger.ok_or_else(|| format!("prediction {} is not sealed yet", event.id))?;
        if event.erased.is_none() {
            return Err(format!("prediction {} is not erased", event.id));
        }
        let line = Self {
            prediction_id: None,
            id: event.id,
            leaf_index: ledger.seq,
            version: if commitment.is_some() { SALTED_RECORD_VERSION } else { 1 },
            created_at: event.created_at,
            salt: None,
            leaf_data: commitment.map(|commitment| prediction_seal_data(event, commitment)).unwrap_or_default(),
            leaf_hash: commitment.is_none().then_some(ledger.leaf_hash),
        };
        line.checked_against(ledger.leaf_hash)
    }

    /// Refuses a line whose leaf is not the sealed one: the store's record no longer hashes to
    /// its leaf (`ml-audit verify` says more), and a package of it would not verify.
    fn checked_against(self, sealed: Hash) -> Result<Self, String> {
        let leaf = self.leaf_hash.unwrap_or_else(|| merkle::leaf_hash(&self.leaf_data));
        if leaf != sealed {
            return Err(format!(
                "prediction {} does not hash to its sealed leaf {}: run `ml-audit verify`",
                self.id, self.leaf_index
            ));
        }
        Ok(self)
    }

    /// Whether this is the line of an erased prediction: a v2 record without its salt, or a v1
    /// record without its leaf bytes.
    pub fn is_erased(&self) -> bool {
        (self.version == SALTED_RECORD_VERSION && self.salt.is_none()) || self.leaf_data.is_empty()
    }

    /// Appends the JSON line (with its newline). Written by hand: it is one line per row of a
    /// possibly large export, and its members are few and simple.
    pub(crate) fn write_line(&self, out: &mut Vec<u8>) -> Result<(), String> {
        match (&self.leaf_hash, self.leaf_data.is_empty()) {
            (None, false) => {}
            (Some(_), true) if self.version == 1 && self.salt.is_none() => {}
            (Some(_), false) => return Err("a record line has both leaf_data and leaf_hash".into()),
            (_, true) => {
                return Err("a record line without leaf_data must be an erased v1 record's, with its leaf_hash".into());
            }
        }
        if !matches!(self.version, 1 | 2) {
            return Err(format!("record version {} is neither 1 nor 2", self.version));
        }
        out.extend_from_slice(b"{\"prediction_id\":");
        match &self.prediction_id {
            Some(id) => serde_json::to_writer(&mut *out, id).map_err(|e| e.to_string())?,
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"id\":\"");
        out.extend_from_slice(self.id.hyphenated().encode_lower(&mut Uuid::encode_buffer()).as_bytes());
        out.extend_from_slice(b"\",\"leaf_index\":");
        out.extend_from_slice(self.leaf_index.to_string().as_bytes());
        out.extend_from_slice(b",\"v\":");
        out.extend_from_slice(self.version.to_string().as_bytes());
        out.extend_from_slice(b",\"created_at\":\"");
        out.extend_from_slice(format_rfc3339(self.created_at).as_bytes());
        out.extend_from_slice(b"\",\"salt\":");
        match &self.salt {
            Some(salt) => {
                out.push(b'"');
                out.extend_from_slice(hex::encode(salt).as_bytes());
                out.push(b'"');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"leaf_data\":");
        if self.leaf_data.is_empty() {
            out.extend_from_slice(b"null");
        } else {
            out.push(b'"');
            let start = out.len();
            out.resize(start + base64::encoded_len(self.leaf_data.len(), true).unwrap_or(0), 0);
            let written = STANDARD.encode_slice(&self.leaf_data, &mut out[start..]).map_err(|e| e.to_string())?;
            out.truncate(start + written);
            out.push(b'"');
        }
        if let Some(hash) = &self.leaf_hash {
            out.extend_from_slice(b",\"leaf_hash\":\"");
            out.extend_from_slice(hex::encode(hash).as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b"}\n");
        Ok(())
    }
}

/// A `records.jsonl` line as read back, before any of it is trusted. Its strings borrow from the
/// line when they can (they hold no escapes as written), saving a copy per row.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordIn<'a> {
    #[serde(borrow)]
    pub prediction_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    pub leaf_index: u64,
    pub v: u32,
    #[serde(borrow)]
    pub created_at: Cow<'a, str>,
    #[serde(borrow)]
    pub salt: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub leaf_data: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub leaf_hash: Option<Cow<'a, str>>,
}

/// A `proofs.jsonl` line as read back.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProofIn<'a> {
    pub leaf_index: u64,
    #[serde(borrow)]
    pub inclusion_path: Vec<Cow<'a, str>>,
}

/// Appends a `proofs.jsonl` line.
pub(crate) fn write_proof_line(out: &mut Vec<u8>, leaf_index: u64, path: &[Hash]) {
    out.extend_from_slice(b"{\"leaf_index\":");
    out.extend_from_slice(leaf_index.to_string().as_bytes());
    out.extend_from_slice(b",\"inclusion_path\":[");
    for (i, hash) in path.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(hex::encode(hash).as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"]}\n");
}

/// 64 hex digits (either case) as a hash.
pub(crate) fn parse_hash(text: &str) -> Option<Hash> {
    fn nibble(digit: u8) -> Option<u8> {
        match digit {
            b'0'..=b'9' => Some(digit - b'0'),
            b'a'..=b'f' => Some(digit - b'a' + 10),
            b'A'..=b'F' => Some(digit - b'A' + 10),
            _ => None,
        }
    }
    let digits: &[u8; 64] = text.as_bytes().try_into().ok()?;
    let mut hash = [0; 32];
    for (byte, pair) in hash.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(hash)
}
