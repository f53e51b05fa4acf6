//! Exporting predictions: every prediction a filter matches, in the shape
//! `GET /api/v1/predictions/{ref}` shows (`PredictionOut`), as JSON Lines or CSV. Both
//! `GET /api/v1/exports/predictions` and `ml-audit export` use what is here, so the shell and
//! the API write the same bytes.
//!
//! Rows are read in keyset pages by [`PredictionReader::export_predictions`] (the list's own
//! query: same filters, same tenant visibility, same indexes; SQLite runs it through rusqlite in
//! one snapshot), one page ahead of the encoder ([`ExportPages::prefetch`]), so memory stays
//! bounded by a few pages whatever the row count, and the database read and the encoding run
//! side by side.
//!
//! **Encodings.** JSONL: one `PredictionOut` object per line, `\n`-terminated. CSV (RFC 4180,
//! CRLF, quoted where needed): a header row naming the top-level fields of `PredictionOut` in
//! order ([`COLUMNS`]), then one row per prediction; a string value is written as its text, any
//! other value (number, boolean, null, object, array) as its JSON text (`null` for null).
//!
//! **Broken transfers.** Each chunk handed on is whole rows. A failure after the first row was
//! sent cannot become an error status any more; the stream then ends with an error, and the HTTP
//! server drops the connection without the chunked encoding's last chunk, so a client sees a
//! broken transfer, never a short file that looks complete.

use std::sync::Arc;

use ml_audit_core::FieldError;
use ml_audit_core::auth::Visibility;
use ml_audit_core::model::PredictionEvent;
use ml_audit_core::query::PredictionFilter;
use ml_audit_storage::{PredictionReader, StorageError};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::wire::PredictionOut;

/// Rows read per page by default: large enough that the per-query costs (planning, the page's
/// state lookup) are small against the rows', small enough that the pages in flight (decoded
/// predictions, three pages at most) stay a few tens of megabytes; 4000 was slower and twice the
/// memory.
pub const DEFAULT_PAGE_ROWS: u32 = 1000;

/// Pages read ahead of the encoder: one being encoded, one read meanwhile.
const PAGES_AHEAD: usize = 1;

/// What an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

impl ExportFormat {
    /// Reads the `format` parameter.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        match value {
            "jsonl" => Ok(ExportFormat::Jsonl),
            "csv" => Ok(ExportFormat::Csv),
            _ => Err(FieldError::new("format", "must be jsonl or csv")),
        }
    }

    pub fn media_type(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "application/x-ndjson",
            ExportFormat::Csv => "text/csv",
        }
    }

    /// The file name an export is offered under.
    pub fn file_name(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "predictions.jsonl",
            ExportFormat::Csv => "predictions.csv",
        }
    }

    /// What goes before the first row (the CSV header).
    pub fn write_header(self, out: &mut Vec<u8>) {
        if self == ExportFormat::Csv {
            write_csv_header(out);
        }
    }

    /// Appends the rows of a page.
    pub fn write_rows(self, events: Vec<PredictionEvent>, out: &mut Vec<u8>) {
        match self {
            ExportFormat::Jsonl => events.into_iter().for_each(|event| write_jsonl_line(event, out)),
            ExportFormat::Csv => write_csv_rows(events, out),
        }
    }
}

/// The top-level fields of `PredictionOut`, in order: the CSV columns, as an evidence package
/// names them (a test holds them to the serialised struct).
pub use ml_audit_ledger::package::DATA_COLUMNS as COLUMNS;

/// The prediction as `GET /api/v1/predictions/{ref}` shows it, as a JSON value.
pub fn prediction_json(event: PredictionEvent) -> Value {
    serde_json::to_value(PredictionOut::from(event)).expect("a prediction serialises")
}

/// Appends the prediction's JSON Lines line (its GET shape on one line, then `\n`).
pub fn write_jsonl_line(event: PredictionEvent, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, &PredictionOut::from(event)).expect("writing to a Vec cannot fail");
    out.push(b'\n');
}

/// The prediction's cells, one per [`COLUMNS`] entry: a string value as its text, any other
/// value as its JSON text.
pub fn cells(event: PredictionEvent) -> Vec<String> {
    let Value::Object(mut fields) = prediction_json(event) else { unreachable!("a prediction is a JSON object") };
    let cells = COLUMNS
        .iter()
        .map(|column| match fields.remove(*column) {
            Some(Value::String(text)) => text,
            Some(value) => value.to_string(),
            None => unreachable!("PredictionOut has no field {column}"),
        })
        .collect();
    debug_assert!(fields.is_empty(), "PredictionOut fields missing from COLUMNS: {fields:?}");
    cells
}

/// Appends the CSV header row.
pub fn write_csv_header(out: &mut Vec<u8>) {
    let mut writer = csv_writer(out);
    writer.write_record(COLUMNS).expect("writing to a Vec cannot fail");
    writer.flush().expect("writing to a Vec cannot fail");
}

/// Appends one CSV row per prediction.
pub fn write_csv_rows(events: Vec<PredictionEvent>, out: &mut Vec<u8>) {
    let mut writer = csv_writer(out);
    for event in events {
        writer.write_record(cells(event)).expect("writing to a Vec cannot fail");
    }
    writer.flush().expect("writing to a Vec cannot fail");
}

fn csv_writer(out: &mut Vec<u8>) -> csv::Writer<&mut Vec<u8>> {
    csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out)
}

/// Every visible prediction a filter matches, newest first, page by page.
pub struct ExportPages {
    reader: Arc<dyn PredictionReader>,
    visibility: Visibility,
    filter: PredictionFilter,
    page_rows: u32,
}

impl ExportPages {
    /// `filter` is the list's (its `subject` already turned into its token); `page_rows` rows
    /// are read per query.
    pub fn new(
        reader: Arc<dyn PredictionReader>,
        visibility: Visibility,
        filter: PredictionFilter,
        page_rows: u32,
    ) -> Self {
        Self { reader, visibility, filter, page_rows }
    }

    /// Reads the pages ([`PredictionReader::export_predictions`]) on a task of their own, one
    /// ahead of whoever receives them; the first page comes even when nothing matches (empty).
    /// The reads stop after the last page or the first error (sent as the last item), or as
    /// soon as the receiver is dropped: a client that goes away stops the database reads.
    pub fn prefetch(self) -> mpsc::Receiver<Result<Vec<PredictionEvent>, StorageError>> {
        let (pages, received) = mpsc::channel(PAGES_AHEAD);
        tokio::spawn(async move {
            self.reader.export_predictions(&self.visibility, &self.filter, self.page_rows, pages).await;
        });
        received
    }
}

#[cfg(test)]
mod tests {
    use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};

    use super::*;

    /// The keys of a JSON object, in the order written.
    fn keys_in_order(json: &str) -> Vec<String> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = Vec<String>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(keys)
            }
        }
        serde_json::Deserializer::from_str(json).deserialize_map(Keys).unwrap()
    }

    fn sample() -> PredictionEvent {
        let input = ml_audit_core::event::PredictionInput::parse(serde_json::json!({
            "model_name": "m", "model_version": "1", "features": {"a": "x,\"y\"\nz"}, "output": {"score": 0.5},
            "confidence": 0.25, "decision_outcome": "approve, then \"review\"",
            "actor": {"actor_type": "user", "actor_id": "7", "tenant_id": "acme"},
        }))
        .unwrap();
        let prepared = input.prepare(&Default::default(), &Visibility::AllTenants).unwrap();
        let model = ml_audit_core::model::ModelVersion {
            id: uuid::Uuid::now_v7(),
            model_name: "m".into(),
            version: "1".into(),
            framework: String::new(),
            build_id: String::new(),
            commit_hash: String::new(),
            config_snapshot: None,
            is_active: true,
            created_at: ml_audit_core::timestamp::now(),
        };
        ml_audit_storage::recorded_event(prepared, model, Some((uuid::Uuid::now_v7(), ml_audit_core::timestamp::now())))
    }

    #[test]
    fn the_columns_are_the_fields_of_the_get_shape_in_order() {
        let json = serde_json::to_string(&PredictionOut::from(sample())).unwrap();
        assert_eq!(keys_in_order(&json), COLUMNS);
    }

    #[test]
    fn a_jsonl_line_is_the_get_shape_on_one_line() {
        let event = sample();
        let mut out = Vec::new();
        write_jsonl_line(event.clone(), &mut out);
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
        assert!(out.ends_with(b"\n"));
        let line: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(line, prediction_json(event));
    }

    #[test]
    fn csv_cells_are_text_for_strings_and_json_for_the_rest_and_parse_back() {
        let event = sample();
        let json = prediction_json(event.clone());
        let mut out = Vec::new();
        ExportFormat::Csv.write_header(&mut out);
        ExportFormat::Csv.write_rows(vec![event.clone(), event], &mut out);
        let mut reader = csv::Reader::from_reader(out.as_slice());
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), COLUMNS);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        for (column, cell) in COLUMNS.iter().zip(rows[0].iter()) {
            let value = &json[*column];
            match value {
                Value::String(text) => assert_eq!(cell, text, "{column}"),
                other => assert_eq!(&serde_json::from_str::<Value>(cell).unwrap(), other, "{column}"),
            }
        }
        assert_eq!(&rows[0][COLUMNS.iter().position(|c| *c == "confidence").unwrap()], "0.25");
        assert_eq!(&rows[0][COLUMNS.iter().position(|c| *c == "latency_ms").unwrap()], "null");
        assert!(out.windows(2).any(|w| w == b"\r\n"), "RFC 4180 line ends");
    }

    #[test]
    fn only_jsonl_and_csv_are_formats() {
        assert_eq!(ExportFormat::parse("jsonl"), Ok(ExportFormat::Jsonl));
        assert_eq!(ExportFormat::parse("csv"), Ok(ExportFormat::Csv));
        for bad in ["", "JSONL", "parquet", "json"] {
            assert_eq!(ExportFormat::parse(bad).unwrap_err().field, "format");
        }
    }
}
