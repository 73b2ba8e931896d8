//! A rendered table, independent of the output format: a title, column headers, rows of
//! cells and notes. Every figure cell keeps its number and its source beside the text, so
//! the CSV, JSON and Parquet exports carry them as data and not only as words.
use serde::Serialize;
use tabled::builder::Builder;
use tabled::settings::{object::Columns, Alignment, Style, Width};

use crate::record::Source;

/// What a cell holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum CellKind {
    /// A row label or descriptive text (board name, framework, ...).
    Text,
    /// A figure with its source (`measured`, `emulated`, `modeled`, `published`).
    Figure { value: f64, source: Source },
    /// No figure, and why: `n/a`, `OOM`, `failed (boot)`, `not run`.
    Label,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// The text as shown in the terminal and in Markdown.
    pub text: String,
    #[serde(flatten)]
    pub kind: CellKind,
}

impl Cell {
    pub fn text(t: impl Into<String>) -> Cell {
        Cell { text: t.into(), kind: CellKind::Text }
    }

    pub fn label(t: impl Into<String>) -> Cell {
        Cell { text: t.into(), kind: CellKind::Label }
    }

    /// A figure shown as `text (source)`.
    pub fn figure(value: f64, source: Source, text: impl Into<String>) -> Cell {
        Cell { text: format!("{} ({source})", text.into()), kind: CellKind::Figure { value, source } }
    }

    /// A figure whose text already says where it comes from (e.g. in a column headed `published`).
    pub fn figure_plain(value: f64, source: Source, text: impl Into<String>) -> Cell {
        Cell { text: text.into(), kind: CellKind::Figure { value, source } }
    }

    pub fn value(&self) -> Option<f64> {
        match self.kind {
            CellKind::Figure { value, .. } => Some(value),
            _ => None,
        }
    }

    pub fn source(&self) -> Option<Source> {
        match self.kind {
            CellKind::Figure { source, .. } => Some(source),
            _ => None,
        }
    }

    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            CellKind::Text => "text",
            CellKind::Figure { .. } => "figure",
            CellKind::Label => "label",
        }
    }
}

/// One table of a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// Stable identifier, e.g. `platforms`, `study-ad01`, `tinyengine-latency`, `mlperf-latency`, `compare`.
    pub id: String,
    pub title: String,
    /// Column headers; may contain newlines (board / clock / framework).
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
    /// Lines printed under the table: what labels mean, how figures were derived.
    pub notes: Vec<String>,
}

impl Table {
    /// The terminal rendering (tabled, modern style), title above and notes below.
    pub fn to_terminal(&self) -> String {
        let mut out = format!("{}\n", self.title);
        out.push_str(&self.grid_text());
        out.push('\n');
        for n in &self.notes {
            out.push_str(&format!("  {n}\n"));
        }
        out
    }

    /// The bare grid (tabled, modern style), first column left-aligned, the others right.
    pub fn grid_text(&self) -> String {
        let mut b = Builder::default();
        b.push_record(self.columns.clone());
        for row in &self.rows {
            b.push_record(row.iter().map(|c| c.text.clone()));
        }
        let mut t = b.build();
        t.with(Style::modern());
        if self.columns.len() > 1 {
            t.modify(Columns::new(1..), Alignment::right());
        }
        // Long cells (the comparison's flags) wrap at word boundaries.
        t.modify(Columns::new(..), Width::wrap(64).keep_words(true));
        t.to_string()
    }

    /// GitHub-flavoured Markdown: `### title`, a pipe table, notes as a list.
    pub fn to_markdown(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|").replace('\n', "<br>");
        let mut out = format!("### {}\n\n", esc(&self.title));
        out.push_str(&format!("| {} |\n", self.columns.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")));
        let align: Vec<&str> = (0..self.columns.len()).map(|i| if i == 0 { "---" } else { "---:" }).collect();
        out.push_str(&format!("|{}|\n", align.join("|")));
        for row in &self.rows {
            out.push_str(&format!("| {} |\n", row.iter().map(|c| esc(&c.text)).collect::<Vec<_>>().join(" | ")));
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                out.push_str(&format!("- {}\n", esc(n)));
            }
        }
        out
    }
}

/// Formats with thousands separators: 1234567 -> "1,234,567".
pub fn group_thousands(v: f64) -> String {
    let n = v.round() as i128;
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// Three significant figures at least, never scientific: 0.0123 -> "0.0123", 81.07 -> "81.07".
pub fn fmt_sig(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        group_thousands(v)
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.01 {
        format!("{v:.3}")
    } else if a == 0.0 {
        "0".into()
    } else {
        format!("{v:.5}")
    }
}

pub fn kib(bytes: f64) -> String {
    format!("{:.1}", bytes / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(group_thousands(1000.0), "1,000");
        assert_eq!(group_thousands(-1234567.0), "-1,234,567");
        assert_eq!(fmt_sig(81.07474), "81.07");
        assert_eq!(fmt_sig(0.5), "0.500");
        assert_eq!(fmt_sig(2906.6), "2,907");
    }
}
