//! The check of one package row: its data row, its records line and (with proofs) its proofs
//! line. Pure: the verifier runs it on many rows at once.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ml_audit_core::ledger::canonical::to_canonical_vec;
use ml_audit_core::ledger::merkle::{self, Hash};
use ml_audit_core::ledger::proof_record::check_record_against_leaf;
use ml_audit_core::ledger::record::{RECORD_VERSION, SALTED_RECORD_VERSION};
use serde_json::{Map, Value};

use super::data::is_erased;
use super::json::{members_from_slice, strict_from_slice};
use super::records::{ProofIn, RecordIn, parse_hash};
use super::verify::PackageFailure;
use super::{PROOFS_FILE, RECORDS_FILE};

/// The members of a prediction's ledger record that its data row shows under the same names;
/// the record's other members are `v`, `kind` and `created_at`, from the records line.
pub(crate) const DOCUMENT_MEMBERS: [&str; 17] = [
    "id",
    "prediction_id",
    "timestamp",
    "trace_id",
    "environment",
    "model",
    "actor",
    "features",
    "redactions",
    "metadata",
    "metadata_redactions",
    "input_fingerprint",
    "output",
    "confidence",
    "decision_outcome",
    "status",
    "latency_ms",
];

/// What a row was, once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowKind {
    /// Its record was rebuilt from the data row and matched its leaf: v1 byte for byte, or v2
    /// through the seal's commitment.
    Intact { unsalted: bool },
    /// An erased prediction: its kept fields matched its seal (v2), or it is a v1 leaf nothing
    /// can recompute.
    Erased,
}

/// What every row is checked against.
#[derive(Debug, Clone)]
pub(crate) struct RowChecker {
    pub data_file: &'static str,
    pub tree_size: u64,
    pub root: Hash,
}

impl RowChecker {
    /// Checks row `number` (1-based): `data` is its data row as an object (or why it is not one),
    /// `record_line` and `proof_line` its lines without their newline.
    pub fn check(
        &self,
        number: u64,
        data: Result<Map<String, Value>, String>,
        record_line: &[u8],
        proof_line: Option<&[u8]>,
    ) -> Result<RowKind, PackageFailure> {
        let mut row = data.map_err(|message| PackageFailure::row(self.data_file, number, None, &message))?;
        let record: RecordIn<'_> = serde_json::from_slice(record_line).map_err(|e| {
            PackageFailure::row(RECORDS_FILE, number, label(&row, None), &format!("is not a records line: {e}"))
        })?;
        if row.get("id").and_then(Value::as_str) != Some(&*record.id) {
            let message = format!(
                "its id is not the one of {RECORDS_FILE} line {number} ({:?}): the files are out of step",
                record.id
            );
            return Err(PackageFailure::row(self.data_file, number, label(&row, Some(&record)), &message));
        }
        let shown_prediction_id = row.get("prediction_id").unwrap_or(&Value::Null);
        if shown_prediction_id.as_str() != record.prediction_id.as_deref()
            || !(shown_prediction_id.is_string() || shown_prediction_id.is_null())
        {
            let message = format!(
                "its prediction_id is not the one of {RECORDS_FILE} line {number} ({:?})",
                record.prediction_id
            );
            return Err(PackageFailure::row(self.data_file, number, label(&row, Some(&record)), &message));
        }
        // From here the row and its line agree on both ids: a failure names the line's, worked
        // out only then.
        let name = || Some(record.prediction_id.as_deref().unwrap_or(&record.id).to_owned());
        let in_data = |message: &str| PackageFailure::row(self.data_file, number, name(), message);
        let in_records = |message: &str| PackageFailure::row(RECORDS_FILE, number, name(), message);
        let erased = is_erased(&row);
        // What the checks below read besides the record's members, which are then all that is
        // left in `row`.
        let ledger = row.remove("ledger").filter(|ledger| !ledger.is_null());
        let (leaf, kind) = match (&record.leaf_data, &record.leaf_hash) {
            (Some(encoded), None) => {
                let leaf_data =
                    STANDARD.decode(encoded.as_bytes()).map_err(|_| in_records("its leaf_data is not base64"))?;
                let kind = if erased {
                    check_erased(&row, &record, &leaf_data).map_err(|e| {
                        in_data(&format!("erased, does not match its seal ({RECORDS_FILE} line {number}): {e}"))
                    })?;
                    RowKind::Erased
                } else {
                    let tenant_shown = row.remove("tenant_id");
                    let document = record_document(row, &record).map_err(|e| in_data(&e))?;
                    check_record_against_leaf(&document, record.salt.as_deref(), &leaf_data).map_err(|e| {
                        in_data(&format!("does not match its sealed leaf ({RECORDS_FILE} line {number}): {e}"))
                    })?;
                    // The row's tenant is its actor's (`""` without one): proven through the actor.
                    let tenant = match &document["actor"] {
                        Value::Null => Some(Value::String(String::new())),
                        actor => actor.get("tenant_id").cloned(),
                    };
                    if tenant_shown.is_some() && tenant_shown != tenant {
                        return Err(in_data("its tenant_id is not its actor's"));
                    }
                    RowKind::Intact { unsalted: record.v == RECORD_VERSION }
                };
                (merkle::leaf_hash(&leaf_data), kind)
            }
            (None, Some(hash)) if erased && record.v == RECORD_VERSION && record.salt.is_none() => {
                let hash = parse_hash(hash).ok_or_else(|| in_records("its leaf_hash is not 64 hex digits"))?;
                (hash, RowKind::Erased)
            }
            (None, Some(_)) => {
                return Err(in_records(
                    "it gives a leaf_hash instead of leaf_data, which only an erased v1 record may",
                ));
            }
            (Some(_), Some(_)) => return Err(in_records("it gives both leaf_data and leaf_hash")),
            (None, None) => return Err(in_records("it gives no leaf_data")),
        };
        if let Some(ledger) = ledger {
            let seq = ledger.get("seq").and_then(Value::as_u64);
            let hash = ledger.get("leaf_hash").and_then(Value::as_str).and_then(parse_hash);
            if seq != Some(record.leaf_index) || hash != Some(leaf) {
                return Err(in_data(&format!(
                    "its ledger member is not leaf {} with the leaf hash of {RECORDS_FILE} line {number}",
                    record.leaf_index
                )));
            }
        }
        if record.leaf_index >= self.tree_size {
            return Err(in_records(&format!(
                "leaf {} is not in the checkpoint's tree of {} leaves",
                record.leaf_index, self.tree_size
            )));
        }
        if let Some(line) = proof_line {
            let in_proofs = |message: &str| PackageFailure::row(PROOFS_FILE, number, name(), message);
            let proof: ProofIn<'_> =
                serde_json::from_slice(line).map_err(|e| in_proofs(&format!("is not a proofs line: {e}")))?;
            if proof.leaf_index != record.leaf_index {
                return Err(in_proofs(&format!(
                    "it is the proof of leaf {}, but {RECORDS_FILE} line {number} is leaf {}",
                    proof.leaf_index, record.leaf_index
                )));
            }
            let path = proof
                .inclusion_path
                .iter()
                .map(|hash| parse_hash(hash))
                .collect::<Option<Vec<Hash>>>()
                .ok_or_else(|| in_proofs("its inclusion_path holds something other than 64 hex digits"))?;
            merkle::verify_inclusion(&leaf, record.leaf_index, self.tree_size, &path, &self.root).map_err(|e| {
                in_proofs(&format!("its inclusion path does not lead from the leaf to the checkpoint's root ({e})"))
            })?;
        }
        Ok(kind)
    }
}

/// How a failure names the row's prediction: its `prediction_id`, else its `id`.
fn label(row: &Map<String, Value>, record: Option<&RecordIn<'_>>) -> Option<String> {
    let text = |name: &str| row.get(name).and_then(Value::as_str).map(str::to_owned);
    text("prediction_id")
        .or_else(|| record.and_then(|record| record.prediction_id.as_deref().map(str::to_owned)))
        .or_else(|| text("id"))
        .or_else(|| record.map(|record| record.id.clone().into_owned()))
}

/// The ledger record of an intact prediction, rebuilt in place from its data row (whose
/// members it keeps, the others dropped) and its records line.
fn record_document(mut row: Map<String, Value>, record: &RecordIn<'_>) -> Result<Value, String> {
    if record.v != RECORD_VERSION && record.v != SALTED_RECORD_VERSION {
        return Err(format!("its records line gives v {}: a prediction's record is v1 or v2", record.v));
    }
    row.retain(|name, _| DOCUMENT_MEMBERS.contains(&name.as_str()));
    if row.len() < DOCUMENT_MEMBERS.len() {
        let missing = DOCUMENT_MEMBERS.iter().find(|name| !row.contains_key(**name)).unwrap_or(&"?");
        return Err(format!("it has no member {missing:?}"));
    }
    row.insert("v".into(), record.v.into());
    row.insert("kind".into(), "prediction".into());
    row.insert("created_at".into(), Value::String(record.created_at.clone().into_owned()));
    Ok(Value::Object(row))
}

/// An erased prediction's row against its v2 seal: the seal is a prediction's, of this id, and
/// every member it keeps in clear is the row's (`created_at`: the records line's).
fn check_erased(row: &Map<String, Value>, record: &RecordIn<'_>, leaf_data: &[u8]) -> Result<(), String> {
    if record.salt.is_some() {
        return Err("an erased prediction keeps no salt, but its records line gives one".into());
    }
    if record.v != SALTED_RECORD_VERSION {
        return Err(format!(
            "its records line gives v {} with leaf_data; an erased v1 record gives its leaf_hash",
            record.v
        ));
    }
    let seal = match strict_from_slice(leaf_data) {
        Ok(Value::Object(seal)) => seal,
        _ => return Err("the leaf data is not a JSON seal".into()),
    };
    if seal.get("v").and_then(Value::as_u64) != Some(u64::from(SALTED_RECORD_VERSION))
        || seal.get("kind").and_then(Value::as_str) != Some("prediction")
        || !seal.get("commitment").is_some_and(Value::is_string)
    {
        return Err("the leaf data is not a v2 prediction seal".into());
    }
    if seal.get("id") != row.get("id") {
        return Err("the seal is of another prediction".into());
    }
    let created_at = Value::String(record.created_at.clone().into_owned());
    for (name, sealed) in seal.iter().filter(|(name, _)| !matches!(name.as_str(), "commitment" | "v" | "kind" | "id")) {
        let shown = if name == "created_at" { Some(&created_at) } else { row.get(name) };
        if shown.map(to_canonical_vec) != Some(to_canonical_vec(sealed)) {
            return Err(format!("its {name} differs from the sealed one"));
        }
    }
    Ok(())
}

/// What a JSONL data row shows that the checks read: the record's members, and `tenant_id`,
/// `ledger` and `erased`. The others (the explanation, outcome, reviews, …) are checked for
/// duplicate names and skipped without being built: they are a good part of a row's bytes.
const ROW_MEMBERS: [&str; 20] = [
    "id",
    "prediction_id",
    "timestamp",
    "trace_id",
    "environment",
    "model",
    "actor",
    "features",
    "redactions",
    "metadata",
    "metadata_redactions",
    "input_fingerprint",
    "output",
    "confidence",
    "decision_outcome",
    "status",
    "latency_ms",
    "tenant_id",
    "ledger",
    "erased",
];

/// A JSONL data row as the object of the members the checks read.
pub(crate) fn json_row(line: &[u8]) -> Result<Map<String, Value>, String> {
    members_from_slice(line, &ROW_MEMBERS).map_err(|e| format!("is not a JSON object: {e}"))
}
