//! Rows to write in one statement, gathered column by column: each backend then says them in
//! the form its database takes best ([`crate::Dialect::push_rows`]): SQLite as `VALUES (…), (…)`,
//! PostgreSQL as one array per column (`UNNEST`), whose statement has a dozen parameters
//! whatever the number of rows, where `VALUES` would bind (and PostgreSQL parse and plan) each
//! value on its own.

use time::OffsetDateTime;
use uuid::Uuid;

/// One column's values, row by row (`None`: `NULL`).
#[derive(Debug)]
pub enum Column {
    Text(Vec<Option<String>>),
    Uuid(Vec<Option<Uuid>>),
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Time(Vec<Option<OffsetDateTime>>),
    Bytes(Vec<Option<Vec<u8>>>),
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::Text(values) => values.len(),
            Column::Uuid(values) => values.len(),
            Column::Int(values) => values.len(),
            Column::Float(values) => values.len(),
            Column::Time(values) => values.len(),
            Column::Bytes(values) => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A set of ids, as [`crate::Dialect::push_in`] takes it.
    pub fn uuids(ids: impl IntoIterator<Item = Uuid>) -> Self {
        Column::Uuid(ids.into_iter().map(Some).collect())
    }

    /// A set of texts, as [`crate::Dialect::push_in`] takes it.
    pub fn texts<'t>(texts: impl IntoIterator<Item = &'t str>) -> Self {
        Column::Text(texts.into_iter().map(|text| Some(text.to_owned())).collect())
    }
}

/// Rows of the same columns, in the order an `INSERT`'s column list names them.
#[derive(Debug, Default)]
pub struct Rows {
    columns: Vec<Column>,
    len: usize,
}

impl Rows {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a row: its values follow, in column order.
    pub fn row(&mut self) -> Row<'_> {
        self.len += 1;
        Row { rows: self, at: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The columns, each holding a value for every row.
    ///
    /// # Panics
    /// When a row left a column out: a bug in the statement that built them.
    pub fn into_columns(self) -> Vec<Column> {
        for (at, column) in self.columns.iter().enumerate() {
            assert_eq!(column.len(), self.len, "a row has no value for column {at}");
        }
        self.columns
    }
}

/// The values of one row, given in column order; each is a value or an `Option` of one.
pub struct Row<'r> {
    rows: &'r mut Rows,
    at: usize,
}

macro_rules! setter {
    ($name:ident $(<$lifetime:lifetime>)?, $variant:ident, $given:ty, $stored:expr) => {
        pub fn $name$(<$lifetime>)?(&mut self, value: impl Into<Option<$given>>) -> &mut Self {
            let value = value.into().map($stored);
            self.next(
                || Column::$variant(Vec::new()),
                |column| match column {
                    Column::$variant(values) => values.push(value),
                    other => panic!("a row gave a {} for a column of {other:?}", stringify!($variant)),
                },
            )
        }
    };
}

impl Row<'_> {
    setter!(text<'v>, Text, &'v str, str::to_owned);
    setter!(uuid, Uuid, Uuid, std::convert::identity);
    setter!(int, Int, i64, std::convert::identity);
    setter!(float, Float, f64, std::convert::identity);
    setter!(time, Time, OffsetDateTime, std::convert::identity);
    setter!(bytes<'v>, Bytes, &'v [u8], <[u8]>::to_vec);

    /// Adds a value to the next column; the first row creates the columns.
    fn next(&mut self, create: impl FnOnce() -> Column, push: impl FnOnce(&mut Column)) -> &mut Self {
        if self.at == self.rows.columns.len() {
            assert_eq!(self.rows.len, 1, "a row gave more values than the first one");
            self.rows.columns.push(create());
        }
        push(&mut self.rows.columns[self.at]);
        self.at += 1;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_fills_every_column_and_none_is_null() {
        let mut rows = Rows::new();
        rows.row().uuid(Uuid::nil()).text("a").int(None).bytes(&b"s"[..]);
        rows.row().uuid(None).text(Some("b")).int(7).bytes(None);
        assert_eq!(rows.len(), 2);
        let columns = rows.into_columns();
        assert!(matches!(&columns[0], Column::Uuid(v) if *v == vec![Some(Uuid::nil()), None]));
        assert!(matches!(&columns[1], Column::Text(v) if *v == vec![Some("a".to_owned()), Some("b".to_owned())]));
        assert!(matches!(&columns[2], Column::Int(v) if *v == vec![None, Some(7)]));
        assert!(matches!(&columns[3], Column::Bytes(v) if *v == vec![Some(b"s".to_vec()), None]));
    }

    #[test]
    #[should_panic(expected = "no value for column 1")]
    fn a_short_row_is_a_bug() {
        let mut rows = Rows::new();
        rows.row().uuid(Uuid::nil()).text("a");
        rows.row().uuid(Uuid::nil());
        rows.into_columns();
    }

    #[test]
    #[should_panic(expected = "gave a Int for a column of Text")]
    fn a_value_of_another_type_is_a_bug() {
        let mut rows = Rows::new();
        rows.row().text("a");
        rows.row().int(1);
    }
}
