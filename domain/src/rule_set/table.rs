//! The rule set's CSV tables, read strictly: a header row naming the columns, then one row
//! per entry. Analysts keep these in spreadsheets, so fields may be quoted (`"a, b"`, with
//! `""` for a quote inside), blank lines are skipped and a trailing line break is optional.
//! Every problem names the line and the column, counted from 1 as a text editor does.

use std::collections::BTreeMap;

/// A problem in a table, at a line and (when known) a column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableProblem {
    /// The line, from 1.
    pub line: usize,
    /// The column's name from the header, when the problem is in one field.
    pub column: Option<String>,
    /// What is wrong, as a sentence.
    pub problem: String,
}

/// One row of a table: its line and its fields by column name (lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    /// The line the row starts on.
    pub line: usize,
    fields: BTreeMap<String, String>,
}

impl TableRow {
    /// A required field, trimmed; an empty one is a problem naming the column.
    pub fn required(&self, column: &str) -> Result<&str, TableProblem> {
        match self.fields.get(column).map(|text| text.trim()) {
            Some(text) if !text.is_empty() => Ok(text),
            _ => Err(self.problem(column, "is empty; every row needs it".to_owned())),
        }
    }

    /// An optional field, trimmed; `None` when the column is absent or the field empty.
    pub fn optional(&self, column: &str) -> Option<&str> {
        self.fields
            .get(column)
            .map(|text| text.trim())
            .filter(|text| !text.is_empty())
    }

    /// A required field parsed, the parse error becoming a problem naming the column.
    pub fn parsed<T: std::str::FromStr>(&self, column: &str) -> Result<T, TableProblem>
    where
        T::Err: std::fmt::Display,
    {
        let text = self.required(column)?;
        text.parse()
            .map_err(|error| self.problem(column, format!("{text:?} is not valid: {error}")))
    }

    /// A problem in one of this row's fields.
    pub fn problem(&self, column: &str, problem: String) -> TableProblem {
        TableProblem {
            line: self.line,
            column: Some(column.to_owned()),
            problem,
        }
    }
}

/// Reads a table whose header must hold every `required` column and may hold the
/// `optional` ones; any other column is refused (a misspelt column would otherwise be
/// silently ignored).
pub fn read(
    text: &str,
    required: &[&str],
    optional: &[&str],
) -> Result<Vec<TableRow>, TableProblem> {
    let mut records = records(text)?.into_iter();
    let Some((header_line, header)) = records.next() else {
        return Err(TableProblem {
            line: 1,
            column: None,
            problem: format!(
                "the table is empty; its first line must name the columns: {}",
                required.join(",")
            ),
        });
    };
    let header: Vec<String> = header
        .iter()
        .map(|name| name.trim().to_lowercase())
        .collect();
    for (index, name) in header.iter().enumerate() {
        if !required.contains(&name.as_str()) && !optional.contains(&name.as_str()) {
            let mut known: Vec<&str> = required.iter().chain(optional).copied().collect();
            known.sort_unstable();
            return Err(TableProblem {
                line: header_line,
                column: Some(format!("{}", index + 1)),
                problem: format!(
                    "{name:?} is not a column of this table; the columns are {}",
                    known.join(", ")
                ),
            });
        }
        if header[..index].contains(name) {
            return Err(TableProblem {
                line: header_line,
                column: Some(name.clone()),
                problem: "the column is named twice".to_owned(),
            });
        }
    }
    if let Some(missing) = required
        .iter()
        .find(|name| !header.iter().any(|h| h == *name))
    {
        return Err(TableProblem {
            line: header_line,
            column: None,
            problem: format!("the header has no {missing:?} column"),
        });
    }
    records
        .map(|(line, fields)| {
            if fields.len() != header.len() {
                return Err(TableProblem {
                    line,
                    column: None,
                    problem: format!(
                        "the row has {} fields, but the header names {} columns",
                        fields.len(),
                        header.len()
                    ),
                });
            }
            Ok(TableRow {
                line,
                fields: header.iter().cloned().zip(fields).collect(),
            })
        })
        .collect()
}

/// Splits the text into records of fields, each with the line it starts on; blank lines
/// are skipped. A quoted field may span lines.
fn records(text: &str) -> Result<Vec<(usize, Vec<String>)>, TableProblem> {
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut column = 1;
        loop {
            match chars.next() {
                None => break,
                Some('"') if field.is_empty() && !quoted => quoted = true,
                Some('"') if quoted => {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        field.push('"');
                    } else {
                        quoted = false;
                        match chars.peek() {
                            None | Some(',' | '\n' | '\r') => {}
                            Some(_) => {
                                return Err(TableProblem {
                                    line,
                                    column: Some(column.to_string()),
                                    problem: "a quoted field must end at its closing quote"
                                        .to_owned(),
                                });
                            }
                        }
                    }
                }
                Some('\n') if quoted => {
                    line += 1;
                    field.push('\n');
                }
                Some(',') if !quoted => {
                    fields.push(std::mem::take(&mut field));
                    column += 1;
                }
                Some('\r') if !quoted && chars.peek() == Some(&'\n') => {}
                Some('\n') if !quoted => {
                    line += 1;
                    break;
                }
                Some(c) => field.push(c),
            }
        }
        if quoted {
            return Err(TableProblem {
                line: start,
                column: Some(column.to_string()),
                problem: "a quoted field is never closed".to_owned(),
            });
        }
        fields.push(field);
        let blank = fields.len() == 1 && fields[0].trim().is_empty();
        if !blank {
            records.push((start, fields));
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_by_column_name_with_their_line() {
        let rows = read(
            "Procedure,category\n\n99213,office-visit\r\n\"29881\",\"surgery, knee\"",
            &["procedure", "category"],
            &[],
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 3);
        assert_eq!(rows[0].required("procedure").unwrap(), "99213");
        assert_eq!(rows[1].line, 4);
        assert_eq!(rows[1].required("category").unwrap(), "surgery, knee");
    }

    #[test]
    fn quotes_inside_quoted_fields_are_doubled() {
        let rows = read("a\n\"say \"\"hi\"\"\"\n", &["a"], &[]).unwrap();
        assert_eq!(rows[0].required("a").unwrap(), "say \"hi\"");
    }

    #[test]
    fn an_unknown_column_is_refused_by_name() {
        let problem = read("procedure,alowed\n1,2\n", &["procedure"], &["allowed"]).unwrap_err();
        assert_eq!(problem.line, 1);
        assert!(
            problem.problem.contains("\"alowed\" is not a column"),
            "{problem:?}"
        );
    }

    #[test]
    fn a_missing_column_and_a_short_row_are_named() {
        let missing = read("procedure\n1\n", &["procedure", "category"], &[]).unwrap_err();
        assert!(missing.problem.contains("no \"category\" column"));
        let short = read("a,b\n1,2\n3\n", &["a", "b"], &[]).unwrap_err();
        assert_eq!(short.line, 3);
        assert!(short.problem.contains("has 1 fields"));
    }

    #[test]
    fn an_unclosed_quote_names_its_line() {
        let problem = read("a\n1\n\"2\n", &["a"], &[]).unwrap_err();
        assert_eq!(problem.line, 3);
        assert!(problem.problem.contains("never closed"));
    }

    #[test]
    fn an_empty_required_field_names_its_column() {
        let rows = read("a,b\n1, \n", &["a", "b"], &[]).unwrap();
        let problem = rows[0].required("b").unwrap_err();
        assert_eq!((problem.line, problem.column.as_deref()), (2, Some("b")));
    }
}
