//! Published numbers: figures from papers, READMEs and the MLPerf Tiny results, each row with
//! its source reference and measurement notes.
//!
//! Two CSV layouts are read (the header says which):
//! - the published-numbers layout: `source,source_ref,board,cpu,clock_mhz,framework,model,metric,value,unit,notes`
//!   (`value` may be `OOM`: the source reported out of memory and gave no number; or a bound
//!   such as `<1`, kept as written and not used in arithmetic);
//! - the MLPerf Tiny results layout: `source,round,submitter,system,processor,clock_mhz,software,benchmark,metric,value,unit`.
//!
//! Users add their own files in either layout (`mcubench compare --published FILE`). A bad
//! line is an error naming the file and line; nothing is skipped silently.
use std::path::Path;

use serde::Serialize;

/// The dataset shipped with mcubench (copied from the project's published-numbers collection).
pub const BUILTIN: [(&str, &str); 2] = [
    ("reports/published/published-numbers.csv", include_str!("../published/published-numbers.csv")),
    ("reports/published/mlperf-tiny-results.csv", include_str!("../published/mlperf-tiny-results.csv")),
];

pub const PUBLISHED_HEADER: [&str; 11] =
    ["source", "source_ref", "board", "cpu", "clock_mhz", "framework", "model", "metric", "value", "unit", "notes"];
pub const MLPERF_HEADER: [&str; 11] =
    ["source", "round", "submitter", "system", "processor", "clock_mhz", "software", "benchmark", "metric", "value", "unit"];

#[derive(Debug, thiserror::Error)]
pub enum PublishedError {
    #[error("cannot read published-numbers file {file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Bad { file: String, line: usize, message: String },
}

/// One published figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishedRow {
    /// Where this row was read from (file:line), so every figure can be traced.
    pub file: String,
    pub line: usize,
    /// Short name of the source, e.g. `TinyEngine-README`, `MLPerf Tiny v0.5 reference`.
    pub source: String,
    /// The exact reference: repository and file, paper, results path.
    pub source_ref: String,
    pub board: String,
    pub cpu: String,
    pub clock_mhz: Option<f64>,
    pub framework: String,
    pub model: String,
    /// Normalised metric name: `latency_ms`, `energy_uj`, `flash_kb`, `peak_ram_kb`, or as published.
    pub metric: String,
    /// `None` when the source gave no number (`OOM`) or only a bound (`<1`).
    pub value: Option<f64>,
    /// The value as written (`587`, `OOM`).
    pub value_text: String,
    pub unit: String,
    pub notes: String,
}

/// Splits one CSV record (RFC 4180 quoting, no embedded newlines).
pub fn split_csv_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                cur.push(c);
            }
        } else {
            match c {
                ',' => {
                    fields.push(std::mem::take(&mut cur));
                    was_quoted = false;
                }
                '"' if cur.is_empty() && !was_quoted => {
                    in_quotes = true;
                    was_quoted = true;
                }
                '"' => return Err(format!("stray quote in field {}", fields.len() + 1)),
                _ if was_quoted => return Err(format!("text after the closing quote of field {}", fields.len() + 1)),
                _ => cur.push(c),
            }
        }
    }
    if in_quotes {
        return Err(format!("unterminated quote in field {}", fields.len() + 1));
    }
    fields.push(cur);
    Ok(fields)
}

/// Quotes a field for CSV output when needed.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn parse_clock(s: &str) -> Result<Option<f64>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    match s.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(Some(v)),
        _ => Err(format!("clock_mhz '{s}' is not a positive number of MHz (leave it empty if unknown)")),
    }
}

fn parse_value(s: &str) -> Result<Option<f64>, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("oom") {
        return Ok(None);
    }
    // A bound such as `<1` is kept as written but not used in arithmetic.
    let bound = t.strip_prefix('<').or_else(|| t.strip_prefix('>'));
    match bound.unwrap_or(t).trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(if bound.is_some() { None } else { Some(v) }),
        _ => Err(format!("value '{t}' is not a number (nor a bound such as <1, nor OOM)")),
    }
}

fn mlperf_metric(m: &str) -> String {
    match m {
        "latency" => "latency_ms".into(),
        "energy" => "energy_uj".into(),
        other => other.into(),
    }
}

/// Parses a published-numbers file's text. `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Vec<PublishedRow>, PublishedError> {
    let bad = |line: usize, message: String| PublishedError::Bad { file: file.to_string(), line, message };
    let mut lines = text.lines().enumerate();
    let header = loop {
        match lines.next() {
            Some((_, l)) if l.trim().is_empty() || l.starts_with('#') => continue,
            Some((i, l)) => break (i + 1, split_csv_line(l).map_err(|m| bad(i + 1, m))?),
            None => return Err(bad(1, "empty file: expected a CSV header".into())),
        }
    };
    let (header_line, header) = header;
    let names: Vec<&str> = header.iter().map(|h| h.trim()).collect();
    let mlperf = if names == PUBLISHED_HEADER {
        false
    } else if names == MLPERF_HEADER {
        true
    } else {
        return Err(bad(
            header_line,
            format!(
                "unknown header '{}'; expected '{}' (or the MLPerf Tiny results layout '{}')",
                header.join(","),
                PUBLISHED_HEADER.join(","),
                MLPERF_HEADER.join(",")
            ),
        ));
    };
    let mut rows = Vec::new();
    for (i, l) in lines {
        let line = i + 1;
        if l.trim().is_empty() || l.starts_with('#') {
            continue;
        }
        let f = split_csv_line(l).map_err(|m| bad(line, m))?;
        if f.len() != names.len() {
            return Err(bad(line, format!("{} fields, expected {} ({})", f.len(), names.len(), names.join(","))));
        }
        let get = |name: &str| f[names.iter().position(|n| *n == name).unwrap()].trim().to_string();
        for required in ["source", "metric", "value"] {
            if get(required).is_empty() {
                return Err(bad(line, format!("empty '{required}'")));
            }
        }
        let clock_mhz = parse_clock(&get("clock_mhz")).map_err(|m| bad(line, m))?;
        let value = parse_value(&get("value")).map_err(|m| bad(line, m))?;
        let row = if mlperf {
            let source = get("source");
            let division = source.split(':').nth(1).and_then(|p| p.split('/').next()).unwrap_or("").to_string();
            let mut notes = format!("MLPerf Tiny {} {} division; latency = 1000 / median throughput", get("round"), division);
            if division == "open" {
                notes.push_str("; open division: the model may differ from the reference");
            }
            PublishedRow {
                file: file.to_string(),
                line,
                source: format!("MLPerf Tiny {} {}", get("round"), get("submitter")),
                source_ref: source,
                board: get("system"),
                cpu: get("processor"),
                clock_mhz,
                framework: get("software"),
                model: get("benchmark"),
                metric: mlperf_metric(&get("metric")),
                value,
                value_text: get("value"),
                unit: get("unit"),
                notes,
            }
        } else {
            if get("model").is_empty() {
                return Err(bad(line, "empty 'model'".into()));
            }
            PublishedRow {
                file: file.to_string(),
                line,
                source: get("source"),
                source_ref: get("source_ref"),
                board: get("board"),
                cpu: get("cpu"),
                clock_mhz,
                framework: get("framework"),
                model: get("model"),
                metric: get("metric"),
                value,
                value_text: get("value"),
                unit: get("unit"),
                notes: get("notes"),
            }
        };
        rows.push(row);
    }
    Ok(rows)
}

/// Loads a user file.
pub fn load_file(path: &Path) -> Result<Vec<PublishedRow>, PublishedError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| PublishedError::Io { file: file.clone(), source })?;
    parse(&file, &text)
}

/// The shipped dataset.
pub fn builtin() -> Result<Vec<PublishedRow>, PublishedError> {
    let mut rows = Vec::new();
    for (name, text) in BUILTIN {
        rows.extend(parse(name, text)?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(split_csv_line(r#"a,"b, c","d ""e""",,"#).unwrap(), vec!["a", "b, c", "d \"e\"", "", ""]);
        assert!(split_csv_line(r#"a,"b"#).unwrap_err().contains("unterminated"));
        assert!(split_csv_line(r#"a,"b"x"#).unwrap_err().contains("after the closing quote"));
        assert_eq!(csv_field("a,b"), "\"a,b\"");
    }

    #[test]
    fn builtin_dataset_loads_with_sources() {
        let rows = builtin().unwrap();
        assert!(rows.len() > 1400, "{}", rows.len());
        assert!(rows.iter().all(|r| !r.source.is_empty() && !r.source_ref.is_empty()));
        let oom = rows.iter().filter(|r| r.value.is_none()).count();
        assert!(oom > 0);
        let reference = rows
            .iter()
            .find(|r| r.source == "MLPerf Tiny v0.5 reference" && r.model == "ad01" && r.metric == "latency_ms")
            .unwrap();
        assert_eq!(reference.clock_mhz, Some(120.0));
    }

    #[test]
    fn bad_line_names_file_and_line() {
        let text = format!("{}\nS,ref,B,Cortex-M4,80,TFLM,kws01,latency_ms,12,ms,ok\nS,ref,B,Cortex-M4,fast,TFLM,kws01,latency_ms,12,ms,x\n", PUBLISHED_HEADER.join(","));
        let e = parse("mine.csv", &text).unwrap_err().to_string();
        assert!(e.starts_with("mine.csv:3: clock_mhz 'fast'"), "{e}");
        let text = format!("{}\nS,ref,B,Cortex-M4,80,TFLM,kws01,latency_ms,twelve,ms,ok\n", PUBLISHED_HEADER.join(","));
        let e = parse("mine.csv", &text).unwrap_err().to_string();
        assert!(e.starts_with("mine.csv:2: value 'twelve'"), "{e}");
        let e = parse("mine.csv", "a,b\n").unwrap_err().to_string();
        assert!(e.starts_with("mine.csv:1: unknown header"), "{e}");
    }
}
