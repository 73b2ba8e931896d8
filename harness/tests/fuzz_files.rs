//! Fuzzing the parsers of the other files users hand to mcubench (issue 9, reliability):
//! published-number CSVs (`mcubench compare --published`), gate rules (`ci/gate.yaml`) and gate
//! baselines (`ci/baselines/*.yaml`).
//!
//! The corpus is the real files of this repository: `reports/published/published-numbers.csv`,
//! `reports/published/mlperf-tiny-results.csv`, `ci/gate.yaml`, `ci/baselines/default.yaml`.
//! What is injected, and how many cases run (fixed seeds, no persistence files):
//! - `mutated_published_csv` (400 cases, 200 per file): 1..5 mutations: lines deleted,
//!   duplicated, swapped; a field replaced by an odd value (NaN, inf, 1e999, bounds such as `<`,
//!   `OOM `, negative or zero clocks, empty, quoted, with commas or quotes); characters flipped,
//!   inserted (quotes, commas, `\r`, NUL, non-ASCII) or deleted.
//! - `mutated_gate_rules` (400 cases) and `mutated_baseline` (400 cases): 1..5 mutations: lines
//!   deleted, duplicated, swapped, re-indented; a YAML value replaced (huge, negative, NaN, inf,
//!   strings, null, anchors/aliases, flow syntax); characters flipped, inserted or deleted.
//!
//! Properties: no panic; parsing returns within 5 s; an error names the file and, where the
//! parser gives one, a line inside the file; a file that parses satisfies what the parser
//! promises (published: finite values, positive finite clocks, rows on real data lines; rules:
//! supported version, confidence in (0.5, 1), at least 100 resamples and 2 samples; baselines:
//! finite values and samples, no job listed twice).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use mcubench_ci::baseline::Baseline;
use mcubench_ci::rules::GateRules;
use mcubench_ci::CiError;
use mcubench_reports::published::{self, PublishedError};
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestRunner};

fn repo_file(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)).unwrap()
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(prop::sample::Index),
    DuplicateLine(prop::sample::Index),
    SwapLines(prop::sample::Index, prop::sample::Index),
    Indent(prop::sample::Index, i8),
    /// Replace the value after a `: ` (YAML) or one comma-separated field (CSV).
    ReplaceValue(prop::sample::Index, prop::sample::Index, String),
    FlipChar(prop::sample::Index, char),
    InsertChar(prop::sample::Index, char),
    DeleteChar(prop::sample::Index),
}

fn odd_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop_oneof![
            Just("NaN"), Just("nan"), Just("inf"), Just("-inf"), Just(".nan"), Just(".inf"), Just("-.inf"),
            Just("1e999"), Just("-1e999"), Just("1e-400"), Just("0"), Just("-0"), Just("-1"), Just("<"), Just("<1"),
            Just("> 2"), Just("<<1"), Just("OOM "), Just("oom"), Just(""), Just(" "), Just("\"\""), Just("\"a,b\""),
            Just("\"unterminated"), Just("a\"b"), Just("\"x\"y"), Just("18446744073709551616"),
            Just("18446744073709551615"), Just("4294967296"), Just("0x10"), Just("~"), Just("null"), Just("yes"),
            Just("&a x"), Just("*a"), Just("!!float x"), Just("{"), Just("[1,"), Just("{}"), Just("[]"),
            Just("- x"), Just("|"), Just("x: y"),
        ]
        .prop_map(str::to_string),
        any::<f64>().prop_map(|v| v.to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        "[ -~]{0,24}",
    ]
}

fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range(' ', '~'),
        1 => Just('"'),
        1 => Just(','),
        1 => Just('\r'),
        1 => Just('\n'),
        1 => Just('\0'),
        1 => Just('\t'),
        1 => Just(':'),
        1 => Just('#'),
        1 => any::<char>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let i = any::<prop::sample::Index>;
    prop_oneof![
        2 => i().prop_map(Mutation::DeleteLine),
        1 => i().prop_map(Mutation::DuplicateLine),
        1 => (i(), i()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        1 => (i(), -4i8..=4).prop_map(|(a, d)| Mutation::Indent(a, d)),
        4 => (i(), i(), odd_value()).prop_map(|(a, b, v)| Mutation::ReplaceValue(a, b, v)),
        2 => (i(), any_char()).prop_map(|(a, c)| Mutation::FlipChar(a, c)),
        1 => (i(), any_char()).prop_map(|(a, c)| Mutation::InsertChar(a, c)),
        1 => i().prop_map(Mutation::DeleteChar),
    ]
}

/// Applies `muts` to `text`; `csv` decides how a value is found on a line.
fn mutate(text: &str, muts: &[Mutation], csv: bool) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in muts {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let n = lines.len();
        match m {
            Mutation::DeleteLine(i) => {
                lines.remove(i.index(n));
            }
            Mutation::DuplicateLine(i) => {
                let k = i.index(n);
                let l = lines[k].clone();
                lines.insert(k, l);
            }
            Mutation::SwapLines(a, b) => lines.swap(a.index(n), b.index(n)),
            Mutation::Indent(i, d) => {
                let l = &mut lines[i.index(n)];
                if *d >= 0 {
                    l.insert_str(0, &" ".repeat(*d as usize));
                } else {
                    let strip = l.len() - l.trim_start_matches(' ').len();
                    l.drain(..strip.min(d.unsigned_abs() as usize));
                }
            }
            Mutation::ReplaceValue(i, j, v) => {
                let k = i.index(n);
                let l = &lines[k];
                // Byte ranges of the candidate values on the line.
                let spans: Vec<(usize, usize)> = if csv {
                    let mut s = Vec::new();
                    let mut start = 0;
                    for (p, c) in l.char_indices() {
                        if c == ',' {
                            s.push((start, p));
                            start = p + 1;
                        }
                    }
                    s.push((start, l.len()));
                    s
                } else {
                    l.match_indices(": ")
                        .map(|(p, _)| p + 2)
                        .map(|s| (s, l[s..].find([',', '}', '#']).map_or(l.len(), |e| s + e)))
                        .collect()
                };
                if !spans.is_empty() {
                    let (s, e) = spans[j.index(spans.len())];
                    lines[k] = format!("{}{v}{}", &l[..s], &l[e..]);
                }
            }
            Mutation::FlipChar(i, _) | Mutation::InsertChar(i, _) | Mutation::DeleteChar(i) => {
                let mut s = lines.join("\n");
                let chars: Vec<(usize, char)> = s.char_indices().collect();
                if chars.is_empty() {
                    continue;
                }
                let (p, old) = chars[i.index(chars.len())];
                match m {
                    Mutation::FlipChar(_, c) => s.replace_range(p..p + old.len_utf8(), &c.to_string()),
                    Mutation::InsertChar(_, c) => s.insert(p, *c),
                    _ => {
                        s.remove(p);
                    }
                }
                lines = s.split('\n').map(str::to_string).collect();
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

fn run(name: &str, cases: u32, seed: u64, case: impl Fn(Vec<Mutation>) -> Result<String, String>) {
    let tally = std::cell::RefCell::new(BTreeMap::<String, usize>::new());
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        ..ProptestConfig::default()
    });
    let r = runner.run(&proptest::collection::vec(mutation(), 1..5), |muts| {
        let label = case(muts).map_err(TestCaseError::fail)?;
        *tally.borrow_mut().entry(label).or_default() += 1;
        Ok(())
    });
    if let Err(e) = r {
        panic!("{name}: {e}");
    }
    println!("{name}: {cases} cases, outcomes {:?}", tally.borrow());
}

fn timed<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let t = Instant::now();
    let r = f();
    if t.elapsed() > Duration::from_secs(5) {
        return Err(format!("parsing took {:?}", t.elapsed()));
    }
    Ok(r)
}

/// Checks a `file:line: ...` error: the prefix, and a line inside the text.
fn check_line(msg: &str, file: &str, line: usize, text: &str) -> Result<(), String> {
    if !msg.starts_with(&format!("{file}:{line}")) {
        return Err(format!("error does not start with `{file}:{line}`: {msg}"));
    }
    // YAML also breaks lines at a lone `\r`, and may point one line past the end (end of stream).
    let breaks = text.bytes().filter(|&b| b == b'\n' || b == b'\r').count();
    if line == 0 || line > breaks + 2 {
        return Err(format!("line {line} is outside the file ({breaks} line breaks): {msg}"));
    }
    Ok(())
}

fn check_published(file: &str, text: &str) -> Result<String, String> {
    match timed(|| published::parse(file, text))? {
        Ok(rows) => {
            let lines: Vec<&str> = text.lines().collect();
            for r in &rows {
                let l = lines.get(r.line.wrapping_sub(1)).ok_or(format!("row on line {} of {}", r.line, lines.len()))?;
                if l.trim().is_empty() || l.starts_with('#') || r.file != file {
                    return Err(format!("row {r:?} points at `{l}`"));
                }
                if r.value.is_some_and(|v| !v.is_finite()) || r.clock_mhz.is_some_and(|c| !(c.is_finite() && c > 0.0)) {
                    return Err(format!("accepted a row with a non-finite value or clock: {r:?}"));
                }
                if r.source.is_empty() || r.metric.is_empty() || r.value_text.is_empty() {
                    return Err(format!("accepted a row with an empty required field: {r:?}"));
                }
            }
            Ok("ok".into())
        }
        Err(e @ PublishedError::Bad { line, .. }) => {
            check_line(&e.to_string(), file, line, text)?;
            Ok("error with line".into())
        }
        Err(e) => Err(format!("unexpected error kind: {e}")),
    }
}

#[test]
fn mutated_published_csv() {
    for (k, rel) in ["reports/published/published-numbers.csv", "reports/published/mlperf-tiny-results.csv"].iter().enumerate() {
        let base = repo_file(rel);
        assert_eq!(check_published(rel, &base), Ok("ok".to_string()), "{rel}: the corpus itself");
        run(&format!("mutated_published_csv {rel}"), 200, 0x5eed_c5f0 + k as u64, |muts| {
            let text = mutate(&base, &muts, true);
            check_published(rel, &text).map_err(|e| format!("{e}\nmutations: {muts:?}"))
        });
    }
}

/// Checks a CiError from a YAML file: names the file, and a line inside it where it has one.
fn check_ci_error(e: &CiError, file: &str, text: &str) -> Result<String, String> {
    let msg = e.to_string();
    if !msg.starts_with(file) {
        return Err(format!("error does not start with the file name: {msg}"));
    }
    match e {
        // serde_yaml has no location for a few errors; the only one seen is a second document
        // (`---`), whose message says so.
        CiError::Syntax { line: 0, message, .. } if message.contains("more than one document") => Ok("syntax without line".into()),
        CiError::Syntax { line, .. } => check_line(&msg, file, *line, text).map(|_| "syntax with line".into()),
        CiError::Invalid { line, .. } => check_line(&msg, file, *line, text).map(|_| "invalid with line".into()),
        CiError::NewerSchema { .. } => Ok("newer schema".into()),
        other => Err(format!("unexpected error kind: {other}")),
    }
}

#[test]
fn mutated_gate_rules() {
    let file = "ci/gate.yaml";
    let base = repo_file(file);
    let check = |text: &str| -> Result<String, String> {
        match timed(|| GateRules::parse(text, Path::new(file)))? {
            Ok(r) => {
                let s = &r.statistics;
                if r.version != 1 || !(s.confidence > 0.5 && s.confidence < 1.0) || s.resamples < 100 || s.min_samples < 2 {
                    return Err(format!("accepted invalid rules: version {}, {s:?}", r.version));
                }
                Ok("ok".into())
            }
            Err(e) => check_ci_error(&e, file, text),
        }
    };
    assert_eq!(check(&base), Ok("ok".to_string()));
    run("mutated_gate_rules", 400, 0x5eed_6a7e, |muts| {
        let text = mutate(&base, &muts, false);
        check(&text).map_err(|e| format!("{e}\n--- mutated file ---\n{text}"))
    });
}

#[test]
fn mutated_baseline() {
    let file = "ci/baselines/default.yaml";
    let base = repo_file(file);
    let check = |text: &str| -> Result<String, String> {
        match timed(|| Baseline::parse(text, Path::new(file)))? {
            Ok(b) => {
                let mut keys = BTreeSet::new();
                for j in &b.jobs {
                    if !keys.insert(j.key()) {
                        return Err(format!("accepted job {} twice", j.key()));
                    }
                    for (m, f) in &j.figures {
                        if !f.value.is_finite() || f.samples.iter().any(|s| !s.is_finite()) {
                            return Err(format!("accepted a non-finite {m:?} in {}", j.key()));
                        }
                    }
                }
                Ok("ok".into())
            }
            Err(e) => check_ci_error(&e, file, text),
        }
    };
    assert_eq!(check(&base), Ok("ok".to_string()));
    run("mutated_baseline", 400, 0x5eed_ba5e, |muts| {
        let text = mutate(&base, &muts, false);
        check(&text).map_err(|e| format!("{e}\n--- mutated file ---\n{text}"))
    });
}
