//! The analysts' specifications.
//!
//! The `.feature` files in `specs/` are the rules of the engine in business language;
//! `tests/analysts.rs` runs them with the step library of `tests/steps/` against the engine
//! wired with its embedded adapters (`cargo test -p claims-features`). This library holds
//! what the steps share: reading the analysts' tables.

use std::collections::BTreeMap;

/// A data table as rows of named cells, the header row giving the names. Header names are
/// compared in lower case, so `Billed` and `billed` are the same column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows {
    rows: Vec<BTreeMap<String, String>>,
}

impl Rows {
    /// Reads a table whose first row names the columns.
    pub fn with_header(table: &[Vec<String>]) -> Result<Self, String> {
        let Some((header, body)) = table.split_first() else {
            return Err("the table is empty; it needs a header row naming its columns".to_owned());
        };
        let names: Vec<String> = header
            .iter()
            .map(|name| name.trim().to_lowercase())
            .collect();
        let rows = body
            .iter()
            .map(|row| {
                names
                    .iter()
                    .cloned()
                    .zip(row.iter().map(|cell| cell.trim().to_owned()))
                    .collect()
            })
            .collect();
        Ok(Self { rows })
    }

    /// Reads a two-column table of `name | value` pairs.
    pub fn pairs(table: &[Vec<String>]) -> Result<BTreeMap<String, String>, String> {
        table
            .iter()
            .map(|row| match row.as_slice() {
                [name, value] => Ok((name.trim().to_lowercase(), value.trim().to_owned())),
                _ => Err(format!(
                    "each row must have two cells, a name and a value; found {row:?}"
                )),
            })
            .collect()
    }

    /// Every row, in order.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().enumerate().map(|(index, cells)| Row {
            number: index + 1,
            cells,
        })
    }
}

/// One row of a [`Rows`] table.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    number: usize,
    cells: &'a BTreeMap<String, String>,
}

impl Row<'_> {
    /// A required cell, parsed; the error names the row and the column.
    pub fn get<T: std::str::FromStr>(&self, column: &str) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        let text = self
            .cells
            .get(column)
            .ok_or_else(|| format!("row {} has no '{column}' column", self.number))?;
        text.parse().map_err(|error| {
            format!(
                "row {}, column '{column}': {text:?} is not valid: {error}",
                self.number
            )
        })
    }

    /// An optional cell, parsed.
    pub fn optional<T: std::str::FromStr>(&self, column: &str) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.cells.get(column).filter(|text| !text.is_empty()) {
            None => Ok(None),
            Some(_) => self.get(column).map(Some),
        }
    }
}

/// The identifier analysts' names become: `"Clinic A"` is `clinic-a`.
pub fn slug(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter()
            .map(|row| row.iter().map(|cell| (*cell).to_owned()).collect())
            .collect()
    }

    #[test]
    fn a_cell_that_does_not_parse_names_its_row_and_column() {
        let rows = Rows::with_header(&table(&[&["Units"], &["1"], &["two"]])).unwrap();
        let errors: Vec<String> = rows
            .iter()
            .filter_map(|row| row.get::<u32>("units").err())
            .collect();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("row 2, column 'units': \"two\""),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn a_missing_column_is_named() {
        let rows = Rows::with_header(&table(&[&["procedure"], &["99213"]])).unwrap();
        let error = rows
            .iter()
            .next()
            .unwrap()
            .get::<String>("billed")
            .unwrap_err();
        assert_eq!(error, "row 1 has no 'billed' column");
    }

    #[test]
    fn names_become_identifiers() {
        assert_eq!(slug("Clinic A"), "clinic-a");
        assert_eq!(slug("Gold PPO (2026)"), "gold-ppo-2026");
    }
}
