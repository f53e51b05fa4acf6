//! Data rows as table cells (CSV, Parquet) and back: the one mapping the writer and the verifier
//! share, so that a row read back is the JSON object that was written.
//!
//! A column is named after a top-level member of the row (the `GET /api/v1/predictions/{ref}`
//! object). The members that are always strings (or null once erased) are **text columns**: a
//! cell holds the string itself. Every other member is a **JSON column**: a cell holds the value's
//! JSON text (`null`, `0.87`, `{"amount":12.5}`, `"approve"`), so even a member that happens to
//! be a string in one row reads back as itself. CSV cannot tell null from an empty cell: a null
//! text member is written as an empty cell, which is allowed only where an erased prediction
//! shows null; on an erased row such an empty cell reads back as null. Parquet keeps nulls, and
//! types `confidence` and `latency_ms` as optional doubles.

use serde_json::{Map, Number, Value};

/// Members that are strings (or null once erased), written as their text.
pub(crate) const TEXT_COLUMNS: [&str; 11] = [
    "id",
    "prediction_id",
    "timestamp",
    "trace_id",
    "environment",
    "tenant_id",
    "input_fingerprint",
    "decision_outcome",
    "status",
    "final_decision",
    "review_state",
];

/// Text members an erased prediction shows as null (and no other prediction does).
pub(crate) const NULLABLE_TEXT_COLUMNS: [&str; 4] = ["prediction_id", "trace_id", "environment", "input_fingerprint"];

/// Members Parquet types as optional doubles.
pub(crate) const DOUBLE_COLUMNS: [&str; 2] = ["confidence", "latency_ms"];

/// The member that marks an erased prediction when not null.
pub(crate) const ERASED: &str = "erased";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnKind {
    Text {
        nullable: bool,
    },
    Json,
    /// JSON text in CSV; an optional double in Parquet.
    Double,
}

impl ColumnKind {
    pub fn of(name: &str) -> Self {
        if TEXT_COLUMNS.contains(&name) {
            ColumnKind::Text { nullable: NULLABLE_TEXT_COLUMNS.contains(&name) }
        } else if DOUBLE_COLUMNS.contains(&name) {
            ColumnKind::Double
        } else {
            ColumnKind::Json
        }
    }
}

/// Whether a row object is an erased prediction's.
pub(crate) fn is_erased(row: &Map<String, Value>) -> bool {
    row.get(ERASED).is_some_and(|erased| !erased.is_null())
}

/// The CSV text of `value` in the column `name` (cleared `out` first). Refuses what would not read
/// back as itself.
pub(crate) fn csv_cell(name: &str, value: &Value, erased: bool, out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    match (ColumnKind::of(name), value) {
        (ColumnKind::Text { .. }, Value::String(text)) => {
            if text.is_empty() && erased && ColumnKind::of(name) == (ColumnKind::Text { nullable: true }) {
                return Err(format!("{name} is \"\" on an erased row, where an empty cell reads as null"));
            }
            out.extend_from_slice(text.as_bytes());
        }
        (ColumnKind::Text { nullable: true }, Value::Null) if erased => {}
        (ColumnKind::Text { .. }, Value::Null) => {
            return Err(format!("{name} is null, which a CSV cell cannot tell from \"\" on a row not erased"));
        }
        (ColumnKind::Text { .. }, _) => return Err(format!("{name} is not a string")),
        (ColumnKind::Json | ColumnKind::Double, value) => {
            serde_json::to_writer(&mut *out, value).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// One cell as read from a table.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cell<'a> {
    Text(&'a str),
    /// A Parquet null.
    Null,
    /// A Parquet double.
    Double(f64),
}

/// A table's columns, as named by its header (CSV) or schema (Parquet).
#[derive(Debug, Clone)]
pub(crate) struct Columns {
    names: Vec<String>,
    kinds: Vec<ColumnKind>,
    erased: Option<usize>,
}

impl Columns {
    /// Refuses duplicate and empty names, and a table without `id`.
    pub fn new(names: Vec<String>) -> Result<Self, String> {
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() {
                return Err(format!("column {} has no name", i + 1));
            }
            if names[..i].contains(name) {
                return Err(format!("column {name:?} appears twice"));
            }
        }
        if !names.iter().any(|name| name == "id") {
            return Err("there is no id column".into());
        }
        let kinds = names.iter().map(|name| ColumnKind::of(name)).collect();
        let erased = names.iter().position(|name| name == ERASED);
        Ok(Self { names, kinds, erased })
    }

    /// The row object of one table row, its cells in column order.
    pub fn row_object(&self, cells: &[Cell<'_>]) -> Result<Map<String, Value>, String> {
        if cells.len() != self.names.len() {
            return Err(format!("it has {} cells, the header {} columns", cells.len(), self.names.len()));
        }
        let erased = match self.erased.map(|i| json_cell(ERASED, cells[i])) {
            Some(Ok(value)) => !value.is_null(),
            Some(Err(message)) => return Err(message),
            None => false,
        };
        let mut row = Map::new();
        for ((name, kind), cell) in self.names.iter().zip(&self.kinds).zip(cells) {
            let value = match (kind, *cell) {
                (ColumnKind::Text { nullable }, Cell::Text(text)) => {
                    if text.is_empty() && *nullable && erased {
                        Value::Null
                    } else {
                        Value::String(text.to_owned())
                    }
                }
                (ColumnKind::Text { .. }, Cell::Null) => Value::Null,
                (ColumnKind::Text { .. }, Cell::Double(_)) => return Err(format!("column {name} holds a number")),
                (ColumnKind::Json | ColumnKind::Double, cell) => json_cell(name, cell)?,
            };
            row.insert(name.clone(), value);
        }
        Ok(row)
    }
}

fn json_cell(name: &str, cell: Cell<'_>) -> Result<Value, String> {
    match cell {
        Cell::Text(text) => super::json::strict_from_slice(text.as_bytes())
            .map_err(|e| format!("column {name} does not hold JSON text ({e})")),
        Cell::Null => Ok(Value::Null),
        Cell::Double(number) => Number::from_f64(number)
            .map(Value::Number)
            .ok_or_else(|| format!("column {name} holds {number}, which is not a JSON number")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn round_trip(row: &Value) -> Map<String, Value> {
        let object = row.as_object().unwrap();
        let erased = is_erased(object);
        let names: Vec<String> = object.keys().cloned().collect();
        let texts: Vec<String> = object
            .iter()
            .map(|(name, value)| {
                let mut out = Vec::new();
                csv_cell(name, value, erased, &mut out).unwrap();
                String::from_utf8(out).unwrap()
            })
            .collect();
        let cells: Vec<Cell<'_>> = texts.iter().map(|text| Cell::Text(text)).collect();
        Columns::new(names).unwrap().row_object(&cells).unwrap()
    }

    #[test]
    fn cells_read_back_as_the_row() {
        let row = json!({"id": "0190", "prediction_id": "p-1", "trace_id": "", "output": "approve",
            "features": {"a": [1, 2.5, null]}, "confidence": 0.87, "latency_ms": null, "erased": null,
            "actor": null, "decision_outcome": ""});
        assert_eq!(Value::Object(round_trip(&row)), row);
        let erased = json!({"id": "0190", "prediction_id": null, "trace_id": null, "decision_outcome": "",
            "erased": {"at": "2026-01-01T00:00:00Z"}});
        assert_eq!(Value::Object(round_trip(&erased)), erased);
    }

    #[test]
    fn cells_that_would_not_read_back_are_refused() {
        let mut out = Vec::new();
        assert!(csv_cell("prediction_id", &Value::Null, false, &mut out).is_err());
        assert!(csv_cell("status", &Value::Null, true, &mut out).is_err());
        assert!(csv_cell("trace_id", &json!(""), true, &mut out).is_err());
        assert!(csv_cell("id", &json!(7), false, &mut out).is_err());
    }
}
