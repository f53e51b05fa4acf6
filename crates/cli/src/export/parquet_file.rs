//! `--format parquet`: one column per top-level field of the GET shape, each holding the same
//! text as the CSV cell (UTF-8), except `confidence` and `latency_ms`, optional DOUBLEs. Written
//! with the parquet crate's low-level column writers (no arrow), a row group per at most
//! [`ROW_GROUP_ROWS`] rows or [`ROW_GROUP_BYTES`] of cell text, whichever comes first, so memory
//! stays bounded whatever the row count.

use std::io::Write;
use std::sync::Arc;

use ml_audit_core::model::PredictionEvent;
use ml_audit_server::export::{COLUMNS, cells};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

/// Most rows in one row group.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;
/// Most cell text buffered for one row group (large rows make smaller groups).
pub const ROW_GROUP_BYTES: usize = 64 << 20;

/// The columns written as optional DOUBLEs instead of text.
const NUMBERS: [&str; 2] = ["confidence", "latency_ms"];

/// A Parquet file being written, a row group at a time.
pub struct ParquetRows<W: Write + Send> {
    writer: SerializedFileWriter<W>,
    /// Per column, the buffered cells of the row group being gathered.
    texts: Vec<Vec<ByteArray>>,
    numbers: Vec<Vec<f64>>,
    /// Per number column, 1 for a value, 0 for null.
    defined: Vec<Vec<i16>>,
    rows: usize,
    bytes: usize,
}

impl<W: Write + Send> ParquetRows<W> {
    pub fn new(out: W) -> anyhow::Result<Self> {
        let fields = COLUMNS
            .iter()
            .map(|name| {
                let field = if NUMBERS.contains(name) {
                    Type::primitive_type_builder(name, parquet::basic::Type::DOUBLE)
                        .with_repetition(parquet::basic::Repetition::OPTIONAL)
                } else {
                    Type::primitive_type_builder(name, parquet::basic::Type::BYTE_ARRAY)
                        .with_repetition(parquet::basic::Repetition::REQUIRED)
                        .with_logical_type(Some(parquet::basic::LogicalType::String))
                };
                field.build().map(Arc::new)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let schema = Type::group_type_builder("prediction").with_fields(fields).build()?;
        let properties = WriterProperties::builder().set_created_by(format!("ml-audit {}", env!("CARGO_PKG_VERSION")));
        let writer = SerializedFileWriter::new(out, Arc::new(schema), Arc::new(properties.build()))?;
        let texts = (0..COLUMNS.len() - NUMBERS.len()).map(|_| Vec::new()).collect();
        Ok(Self { writer, texts, numbers: vec![Vec::new(); 2], defined: vec![Vec::new(); 2], rows: 0, bytes: 0 })
    }

    /// Buffers a page's rows, writing a row group whenever one is full.
    pub fn write(&mut self, events: Vec<PredictionEvent>) -> anyhow::Result<()> {
        for event in events {
            let (mut text, mut number) = (0, 0);
            for (name, cell) in COLUMNS.iter().zip(cells(event)) {
                if NUMBERS.contains(name) {
                    let value: Option<f64> = serde_json::from_str(&cell)?;
                    self.defined[number].push(i16::from(value.is_some()));
                    self.numbers[number].extend(value);
                    number += 1;
                } else {
                    self.bytes += cell.len();
                    self.texts[text].push(ByteArray::from(cell.into_bytes()));
                    text += 1;
                }
            }
            self.rows += 1;
            if self.rows >= ROW_GROUP_ROWS || self.bytes >= ROW_GROUP_BYTES {
                self.flush_group()?;
            }
        }
        Ok(())
    }

    /// Writes the buffered rows as one row group.
    fn flush_group(&mut self) -> anyhow::Result<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let mut group = self.writer.next_row_group()?;
        let (mut text, mut number) = (0, 0);
        while let Some(mut column) = group.next_column()? {
            let name = column_name(text + number);
            if NUMBERS.contains(&name) {
                let values = std::mem::take(&mut self.numbers[number]);
                let defined = std::mem::take(&mut self.defined[number]);
                column.typed::<DoubleType>().write_batch(&values, Some(&defined), None)?;
                number += 1;
            } else {
                let values = std::mem::take(&mut self.texts[text]);
                column.typed::<ByteArrayType>().write_batch(&values, None, None)?;
                text += 1;
            }
            column.close()?;
        }
        group.close()?;
        (self.rows, self.bytes) = (0, 0);
        Ok(())
    }

    /// Writes the last row group and the footer.
    pub fn finish(mut self) -> anyhow::Result<()> {
        self.flush_group()?;
        let mut out = self.writer.into_inner()?;
        out.flush()?;
        Ok(())
    }
}

fn column_name(at: usize) -> &'static str {
    COLUMNS[at]
}
