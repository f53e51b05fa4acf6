//! Whether the record of an exported proof file is what its leaf commits to (see
//! `docs/ledger.md`, "Checking a record").
//!
//! A proof file carries the leaf's bytes (`leaf_data`), the record as JSON (`record`) and, for a
//! salted record, its salt. Hashing `leaf_data` up to a signed root proves the leaf; this proves
//! the record shown beside it is the one the leaf commits to:
//!
//! * **v1** (no salt): the leaf data is the record's RFC 8785 bytes, so they must be the
//!   canonical bytes of `record`, byte for byte;
//! * **v2** (salted): the leaf data is the record's seal, whose `commitment` must be
//!   `SHA-256(salt ‖ JCS(record))`, and whose members in clear must be the record's.
//!
//! Members are compared by their RFC 8785 bytes, not as parsed values: `1.0` and `1` are the same
//! number to JCS (and to the seal, which wrote it as `1`), while `serde_json` holds one as a float
//! and the other as an integer.

use serde_json::Value;

use super::canonical::to_canonical_vec;
use super::record::{RECORD_VERSION, SALTED_RECORD_VERSION, commitment};

/// Checks that `record` (the proof's `record`) is what `leaf_data` (its decoded `leaf_data`)
/// commits to, given the proof's `salt` (hex; `None` when absent or null). The error is a
/// sentence naming what differs.
pub fn check_record_against_leaf(record: &Value, salt_hex: Option<&str>, leaf_data: &[u8]) -> Result<(), String> {
    match salt_hex {
        None => check_unsalted(record, leaf_data),
        Some(salt_hex) => check_sealed(record, salt_hex, leaf_data),
    }
}

/// A leaf without salt is the record's bytes themselves.
fn check_unsalted(record: &Value, leaf_data: &[u8]) -> Result<(), String> {
    // A salted record's leaf is never its own bytes: a proof without its salt cannot show it
    // (and a seal shown as the record would otherwise pass for one).
    if is_salted_record(record) {
        return Err(format!(
            "the record is a v{SALTED_RECORD_VERSION} {} (salted), but the proof gives no salt",
            record["kind"].as_str().unwrap_or("record")
        ));
    }
    if to_canonical_vec(record) != leaf_data {
        return Err(match record.get("v").and_then(Value::as_u64) {
            Some(version) if version != u64::from(RECORD_VERSION) => {
                format!("the record is v{version}, and its canonical bytes are not the leaf data")
            }
            _ => "the record's canonical bytes are not the leaf data".into(),
        });
    }
    Ok(())
}

/// Whether `record` is a prediction or explanation of the salted layout.
fn is_salted_record(record: &Value) -> bool {
    record.get("v").and_then(Value::as_u64) == Some(u64::from(SALTED_RECORD_VERSION))
        && matches!(record.get("kind").and_then(Value::as_str), Some("prediction" | "explanation"))
}

/// A salted record's leaf is its seal.
fn check_sealed(record: &Value, salt_hex: &str, leaf_data: &[u8]) -> Result<(), String> {
    let salt = (salt_hex.len() == 64)
        .then(|| hex::decode(salt_hex).ok())
        .flatten()
        .ok_or("the salt is not 64 hex digits (32 bytes)")?;
    let seal: Value = serde_json::from_slice(leaf_data).map_err(|_| "the leaf data is not a JSON seal")?;
    let seal = seal.as_object().ok_or("the leaf data is not a JSON seal")?;
    let version = Value::from(SALTED_RECORD_VERSION);
    if seal.get("v") != Some(&version) {
        return Err(format!("the leaf is not a v{SALTED_RECORD_VERSION} seal, but the proof gives a salt"));
    }
    if record.get("v") != Some(&version) {
        return Err(format!("the record is not a v{SALTED_RECORD_VERSION} record, but its leaf is a seal"));
    }
    // The members in clear first: they name what differs, where the commitment cannot.
    for (name, sealed) in seal.iter().filter(|(name, _)| !matches!(name.as_str(), "commitment" | "v")) {
        let shown = if name == "tenant_id" { record_tenant(record)? } else { record.get(name) };
        if shown.map(to_canonical_vec) != Some(to_canonical_vec(sealed)) {
            return Err(format!("the record's {name} differs from the sealed one"));
        }
    }
    let sealed = seal.get("commitment").and_then(Value::as_str).ok_or("the seal has no commitment")?;
    if hex::encode(commitment(&salt, &to_canonical_vec(record))) != sealed {
        return Err("the record does not hash to the sealed commitment (with this salt)".into());
    }
    Ok(())
}

/// The tenant a prediction's seal holds: its actor's, `""` without an actor.
fn record_tenant(record: &Value) -> Result<Option<&Value>, String> {
    static NO_TENANT: Value = Value::String(String::new());
    match record.get("actor") {
        Some(Value::Null) => Ok(Some(&NO_TENANT)),
        Some(actor) => Ok(actor.get("tenant_id")),
        None => Err("the seal holds a tenant_id, but the record has no actor member".into()),
    }
}

#[cfg(test)]
#[path = "proof_record_tests.rs"]
mod tests;
