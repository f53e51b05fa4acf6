//! Parquet data (feature `parquet`): one column per top-level member of the data row, each an
//! optional UTF-8 `BYTE_ARRAY` holding the same text as the CSV cell (text columns: the string,
//! null for null; JSON columns: the JSON text), except `confidence` and `latency_ms`, optional
//! `DOUBLE`s. Written uncompressed, in row groups of at most 64k rows.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{LogicalType, Repetition, Type as PhysicalType};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::record::{Field, reader::RowIter};
use parquet::schema::types::Type;
use serde_json::{Map, Value};

use super::data::{ColumnKind, Columns};
use super::hashing::{Digested, HashingFile, HashingReader};
use super::verify::{OwnedCell, PackageFailure};
use super::writer::OutFile;
use super::{DataFormat, PARQUET_ROW_GROUP_ROWS, PackageError};

/// A row group is also cut when its buffered cells reach this size, to bound memory.
const ROW_GROUP_BYTES: usize = 64 * 1024 * 1024;

/// One column's buffered cells: the values present, and a definition level per row (0: null).
enum ColumnBuffer {
    Text { values: Vec<ByteArray>, levels: Vec<i16> },
    Double { values: Vec<f64>, levels: Vec<i16> },
}

pub(crate) struct ParquetOut {
    path: PathBuf,
    /// Until the first row names the columns.
    file: Option<BufWriter<HashingFile>>,
    writer: Option<SerializedFileWriter<BufWriter<HashingFile>>>,
    columns: Vec<(String, ColumnKind)>,
    buffers: Vec<ColumnBuffer>,
    buffered_rows: usize,
    buffered_bytes: usize,
    rows: u64,
}

impl ParquetOut {
    pub fn new(out: OutFile) -> Self {
        let (path, file) = out.into_parts();
        Self {
            path,
            file: Some(file),
            writer: None,
            columns: Vec::new(),
            buffers: Vec::new(),
            buffered_rows: 0,
            buffered_bytes: 0,
            rows: 0,
        }
    }

    fn error(&self, error: impl std::fmt::Display) -> PackageError {
        PackageError::io(&self.path)(std::io::Error::other(error.to_string()))
    }

    /// The schema, from the first row's members (or, for an export without rows, the default).
    fn start(&mut self, names: Vec<String>) -> Result<(), PackageError> {
        let mut fields = Vec::with_capacity(names.len());
        for name in &names {
            let kind = ColumnKind::of(name);
            let builder = match kind {
                ColumnKind::Double => Type::primitive_type_builder(name, PhysicalType::DOUBLE),
                _ => Type::primitive_type_builder(name, PhysicalType::BYTE_ARRAY)
                    .with_logical_type(Some(LogicalType::String)),
            };
            fields.push(Arc::new(builder.with_repetition(Repetition::OPTIONAL).build().map_err(|e| self.error(e))?));
            self.columns.push((name.clone(), kind));
            self.buffers.push(match kind {
                ColumnKind::Double => ColumnBuffer::Double { values: Vec::new(), levels: Vec::new() },
                _ => ColumnBuffer::Text { values: Vec::new(), levels: Vec::new() },
            });
        }
        let schema = Type::group_type_builder("prediction").with_fields(fields).build().map_err(|e| self.error(e))?;
        let properties =
            WriterProperties::builder().set_created_by(format!("ml-audit {}", env!("CARGO_PKG_VERSION"))).build();
        let file = self.file.take().ok_or_else(|| self.error("the Parquet file was started twice"))?;
        self.writer =
            Some(SerializedFileWriter::new(file, Arc::new(schema), Arc::new(properties)).map_err(|e| self.error(e))?);
        Ok(())
    }

    pub fn push(&mut self, row: &Map<String, Value>, erased: bool, number: u64) -> Result<(), PackageError> {
        let bad_row = |message: String| PackageError::Row { row: number, message };
        // The first row names the columns; the file starts only once the row is accepted.
        let fresh: Option<Vec<(String, ColumnKind)>> =
            self.writer.is_none().then(|| row.keys().map(|name| (name.clone(), ColumnKind::of(name))).collect());
        let columns = fresh.as_deref().unwrap_or(&self.columns);
        if row.len() != columns.len() {
            return Err(bad_row(format!("it has {} members, the first row {}", row.len(), columns.len())));
        }
        // Checked whole before any cell is buffered, so a refused row leaves no partial row.
        let mut cells = Vec::with_capacity(columns.len());
        for (name, kind) in columns {
            let value =
                row.get(name).ok_or_else(|| bad_row(format!("it has no member {name:?}, which the first row has")))?;
            cells.push(parquet_cell(name, *kind, value, erased).map_err(bad_row)?);
        }
        if let Some(columns) = fresh {
            self.start(columns.into_iter().map(|(name, _)| name).collect())?;
        }
        for (buffer, cell) in self.buffers.iter_mut().zip(cells) {
            match (buffer, cell) {
                (ColumnBuffer::Text { values, levels }, ParquetCell::Bytes(bytes)) => {
                    self.buffered_bytes += bytes.len();
                    values.push(ByteArray::from(bytes));
                    levels.push(1);
                }
                (ColumnBuffer::Double { values, levels }, ParquetCell::Double(number)) => {
                    self.buffered_bytes += 8;
                    values.push(number);
                    levels.push(1);
                }
                (ColumnBuffer::Text { levels, .. } | ColumnBuffer::Double { levels, .. }, ParquetCell::Null) => {
                    levels.push(0)
                }
                _ => return Err(bad_row("a cell of the wrong type (a bug in the writer)".into())),
            }
        }
        self.buffered_rows += 1;
        self.rows += 1;
        if self.buffered_rows >= PARQUET_ROW_GROUP_ROWS || self.buffered_bytes >= ROW_GROUP_BYTES {
            self.flush_row_group()?;
        }
        Ok(())
    }

    fn flush_row_group(&mut self) -> Result<(), PackageError> {
        if self.buffered_rows == 0 {
            return Ok(());
        }
        let path = self.path.clone();
        let error = |e: parquet::errors::ParquetError| PackageError::io(&path)(std::io::Error::other(e.to_string()));
        let writer = self.writer.as_mut().ok_or_else(|| PackageError::Usage("no Parquet writer".into()))?;
        let mut group = writer.next_row_group().map_err(error)?;
        for buffer in &mut self.buffers {
            let mut column = group
                .next_column()
                .map_err(error)?
                .ok_or_else(|| PackageError::Usage("the Parquet schema has fewer columns than the rows".into()))?;
            match buffer {
                ColumnBuffer::Text { values, levels } => {
                    column.typed::<ByteArrayType>().write_batch(values, Some(levels), None).map_err(error)?;
                    values.clear();
                    levels.clear();
                }
                ColumnBuffer::Double { values, levels } => {
                    column.typed::<DoubleType>().write_batch(values, Some(levels), None).map_err(error)?;
                    values.clear();
                    levels.clear();
                }
            }
            column.close().map_err(error)?;
        }
        group.close().map_err(error)?;
        self.buffered_rows = 0;
        self.buffered_bytes = 0;
        Ok(())
    }

    pub fn finish(mut self) -> Result<(Digested, u64), PackageError> {
        if self.writer.is_none() {
            self.start(super::writer::DATA_COLUMNS.iter().map(|name| (*name).to_owned()).collect())?;
        }
        self.flush_row_group()?;
        let writer = self.writer.take().ok_or_else(|| PackageError::Usage("no Parquet writer".into()))?;
        let file = writer.into_inner().map_err(|e| self.error(e))?;
        let digest = OutFile::finish_writer(&self.path, file)?;
        Ok((digest, self.rows))
    }
}

enum ParquetCell {
    Bytes(Vec<u8>),
    Double(f64),
    Null,
}

fn parquet_cell(name: &str, kind: ColumnKind, value: &Value, erased: bool) -> Result<ParquetCell, String> {
    match (kind, value) {
        (ColumnKind::Text { .. }, Value::String(text)) => Ok(ParquetCell::Bytes(text.as_bytes().to_vec())),
        (ColumnKind::Text { nullable: true }, Value::Null) if erased => Ok(ParquetCell::Null),
        (ColumnKind::Text { .. }, Value::Null) => Err(format!("{name} is null on a row not erased")),
        (ColumnKind::Text { .. }, _) => Err(format!("{name} is not a string")),
        (ColumnKind::Double, Value::Null) => Ok(ParquetCell::Null),
        (ColumnKind::Double, Value::Number(number)) => {
            number.as_f64().map(ParquetCell::Double).ok_or_else(|| format!("{name} is not a double"))
        }
        (ColumnKind::Double, _) => Err(format!("{name} is neither a number nor null")),
        (ColumnKind::Json, value) => serde_json::to_vec(value).map(ParquetCell::Bytes).map_err(|e| e.to_string()),
    }
}

/// Parquet data being read: hashed whole first (its reader seeks), then row by row.
pub(crate) struct ParquetIn {
    digest: Digested,
    rows: u64,
    columns: Result<Columns, PackageFailure>,
    iter: Option<RowIter<'static>>,
    read: u64,
}

fn failure(message: impl std::fmt::Display) -> PackageFailure {
    PackageFailure::in_file(DataFormat::Parquet.file_name(), message)
}

impl ParquetIn {
    pub fn open(dir: &Path) -> Result<Self, PackageFailure> {
        let path = dir.join(DataFormat::Parquet.file_name());
        let digest = File::open(&path).and_then(|file| HashingReader::new(file).finish()).map_err(failure)?;
        let file = File::open(&path).map_err(failure)?;
        let reader = match SerializedFileReader::new(file) {
            Ok(reader) => reader,
            Err(e) => {
                let columns = Err(failure(format!("is not a Parquet file: {e}")));
                return Ok(Self { digest, rows: 0, columns, iter: None, read: 0 });
            }
        };
        let metadata = reader.metadata().file_metadata();
        let rows = u64::try_from(metadata.num_rows()).unwrap_or(0);
        let schema = metadata.schema_descr();
        let names: Vec<String> = schema.columns().iter().map(|column| column.path().string()).collect();
        let columns = Columns::new(names).map_err(|e| failure(format!("its schema: {e}")));
        Ok(Self { digest, rows, columns, iter: Some(reader.into_iter()), read: 0 })
    }

    pub fn columns(&self) -> Result<Columns, PackageFailure> {
        self.columns.clone()
    }

    /// Appends the next row's cells; `false` at the end.
    pub fn next_into(&mut self, rows: &mut Vec<Vec<OwnedCell>>) -> Result<bool, PackageFailure> {
        let Some(iter) = &mut self.iter else { return Ok(false) };
        let Some(row) = iter.next() else { return Ok(false) };
        let number = self.read + 1;
        let row = row.map_err(|e| failure(format!("row {number}: {e}")))?;
        let mut cells = Vec::with_capacity(row.len());
        for (name, field) in row.into_columns() {
            cells.push(match field {
                Field::Str(text) => OwnedCell::Text(text),
                Field::Null => OwnedCell::Null,
                Field::Double(number) => OwnedCell::Double(number),
                other => {
                    return Err(failure(format!(
                        "row {number}: column {name} holds a {}, not text or a double",
                        kind(&other)
                    )));
                }
            });
        }
        rows.push(cells);
        self.read = number;
        Ok(true)
    }

    pub fn finish(self) -> Result<(Digested, Option<u64>), PackageFailure> {
        self.columns?;
        Ok((self.digest, Some(self.rows)))
    }
}

fn kind(field: &Field) -> &'static str {
    match field {
        Field::Bool(_) => "boolean",
        Field::Bytes(_) => "byte array",
        Field::Group(_) => "group",
        Field::ListInternal(_) => "list",
        Field::MapInternal(_) => "map",
        _ => "number or date",
    }
}
