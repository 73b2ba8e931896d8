//! Exports of report tables, one file per format (in the manner of hyperfine's exporters).
//!
//! - terminal: tabled grids (what `mcubench report` prints);
//! - Markdown: one `###` section and pipe table per table;
//! - CSV and Parquet: one tidy row per cell (`table, row, column, text, kind, value, source`),
//!   so that every figure keeps its number and its source as data;
//! - JSON: the tables as objects (columns, rows of cells with text, kind, value, source, notes);
//! - HTML: see [`crate::html`].
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::grid::Table;
use crate::published::csv_field;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot build the {format} export: {message}")]
    Build { format: &'static str, message: String },
}

/// One export format.
pub trait Exporter {
    /// Format name as given to `--format`.
    fn name(&self) -> &'static str;
    /// File extension, without the dot.
    fn extension(&self) -> &'static str;
    /// The whole export of these tables.
    fn serialize(&self, tables: &[Table]) -> Result<Vec<u8>, ExportError>;

    /// Writes `<dir>/<stem>.<extension>` and returns its path.
    fn write(&self, tables: &[Table], dir: &Path, stem: &str) -> Result<PathBuf, ExportError> {
        let bytes = self.serialize(tables)?;
        std::fs::create_dir_all(dir).map_err(|source| ExportError::Io { path: dir.to_owned(), source })?;
        let path = dir.join(format!("{stem}.{}", self.extension()));
        std::fs::write(&path, bytes).map_err(|source| ExportError::Io { path: path.clone(), source })?;
        Ok(path)
    }
}

pub struct TerminalExporter;
pub struct MarkdownExporter;
pub struct CsvExporter;
pub struct JsonExporter;
pub struct ParquetExporter;

impl Exporter for TerminalExporter {
    fn name(&self) -> &'static str {
        "terminal"
    }
    fn extension(&self) -> &'static str {
        "txt"
    }
    fn serialize(&self, tables: &[Table]) -> Result<Vec<u8>, ExportError> {
        Ok(tables.iter().map(|t| t.to_terminal()).collect::<Vec<_>>().join("\n").into_bytes())
    }
}

impl Exporter for MarkdownExporter {
    fn name(&self) -> &'static str {
        "markdown"
    }
    fn extension(&self) -> &'static str {
        "md"
    }
    fn serialize(&self, tables: &[Table]) -> Result<Vec<u8>, ExportError> {
        Ok(tables.iter().map(|t| t.to_markdown()).collect::<Vec<_>>().join("\n").into_bytes())
    }
}

/// The tidy form shared by CSV and Parquet: one record per body cell.
pub struct TidyCell<'a> {
    pub table: &'a str,
    pub row: &'a str,
    pub column: &'a str,
    pub text: &'a str,
    pub kind: &'static str,
    pub value: Option<f64>,
    pub source: Option<String>,
}

pub fn tidy(tables: &[Table]) -> Vec<TidyCell<'_>> {
    let mut out = Vec::new();
    for t in tables {
        for row in &t.rows {
            let label = row.first().map(|c| c.text.as_str()).unwrap_or("");
            for (i, cell) in row.iter().enumerate().skip(1) {
                out.push(TidyCell {
                    table: &t.id,
                    row: label,
                    column: t.columns.get(i).map(|s| s.as_str()).unwrap_or(""),
                    text: &cell.text,
                    kind: cell.kind_name(),
                    value: cell.value(),
                    source: cell.source().map(|s| s.to_string()),
                });
            }
        }
    }
    out
}

pub const TIDY_COLUMNS: [&str; 7] = ["table", "row", "column", "text", "kind", "value", "source"];

impl Exporter for CsvExporter {
    fn name(&self) -> &'static str {
        "csv"
    }
    fn extension(&self) -> &'static str {
        "csv"
    }
    fn serialize(&self, tables: &[Table]) -> Result<Vec<u8>, ExportError> {
        let mut out = TIDY_COLUMNS.join(",");
        out.push('\n');
        for c in tidy(tables) {
            // Headers hold newlines (board / clock / framework); CSV readers want one line.
            let fields = [
                csv_field(c.table),
                csv_field(c.row),
                csv_field(&c.column.replace('\n', " | ")),
                csv_field(c.text),
                c.kind.to_string(),
                c.value.map(|v| format!("{v}")).unwrap_or_default(),
                c.source.unwrap_or_default(),
            ];
            out.push_str(&fields.join(","));
            out.push('\n');
        }
        Ok(out.into_bytes())
    }
}

impl Exporter for JsonExporter {
    fn name(&self) -> &'static str {
        "json"
    }
    fn extension(&self) -> &'static str {
        "json"
    }
    fn serialize(&self, tables: &[Table]) -> Result<Vec<u8>, ExportError> {
        let mut v = serde_json::to_vec_pretty(tables).map_err(|e| ExportError::Build { format: "json", message: e.to_string() })?;
        v.push(b'\n');
        Ok(v)
    }
}

/// The tidy cells as a polars DataFrame (what the Parquet export writes).
pub fn tidy_frame(tables: &[Table]) -> PolarsResult<DataFrame> {
    let cells = tidy(tables);
    let s = |f: fn(&TidyCell) -> String| cells.iter().map(f).collect::<Vec<String>>();
    DataFrame::new(vec![
        Column::new("table".into(), s(|c| c.table.to_string())),
        Column::new("row".into(), s(|c| c.row.to_string())),
        Column::new("column".into(), s(|c| c.column.replace('\n', " | "))),
        Column::new("text".into(), s(|c| c.text.to_string())),
        Column::new("kind".into(), s(|c| c.kind.to_string())),
        Column::new("value".into(), cells.iter().map(|c| c.value).collect::<Vec<Option<f64>>>()),
        Column::new("source".into(), cells.iter().map(|c| c.source.clone()).collect::<Vec<Option<String>>>()),
    ])
}

impl Exporter for ParquetExporter {
    fn name(&self) -> &'static str {
        "parquet"
    }
    fn extension(&self) -> &'static str {
        "parquet"
    }
    fn serialize(&self, tables: &[Table]) -> Result<Vec<u8>, ExportError> {
        let err = |e: PolarsError| ExportError::Build { format: "parquet", message: e.to_string() };
        let mut df = tidy_frame(tables).map_err(err)?;
        let mut buf = Vec::new();
        ParquetWriter::new(&mut buf).with_compression(ParquetCompression::Uncompressed).finish(&mut df).map_err(err)?;
        Ok(buf)
    }
}

/// The exporter for a `--format` name (`html` is separate: it needs the analysis for charts).
pub fn exporter(name: &str) -> Option<Box<dyn Exporter>> {
    match name {
        "terminal" => Some(Box::new(TerminalExporter)),
        "markdown" | "md" => Some(Box::new(MarkdownExporter)),
        "csv" => Some(Box::new(CsvExporter)),
        "json" => Some(Box::new(JsonExporter)),
        "parquet" => Some(Box::new(ParquetExporter)),
        _ => None,
    }
}
