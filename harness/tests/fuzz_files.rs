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

mod common;
use common::mutate::{mutate, mutation, Mutation};

fn repo_file(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)).unwrap()
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
