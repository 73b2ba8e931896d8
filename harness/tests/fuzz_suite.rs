//! Fuzzing the suite-file parser (`config::Suite::parse`) (issue 9, reliability).
//!
//! The corpus is the committed `suites/cross-framework.yaml`. What is injected, and how many
//! cases run (fixed seed, no persistence files):
//! - `mutated_suite` (500 cases): 1..5 mutations: lines deleted, duplicated, swapped or
//!   re-indented; a value replaced by a huge, negative, fractional, null, quoted, anchor/alias or
//!   flow-syntax value; characters flipped, inserted (tabs, NUL, `:`, `#`, non-ASCII) or deleted.
//! - `long_lists` (3 fixed cases): 50,000 distinct names, 50,000 copies of one name, 50,000
//!   names with one duplicate at the end.
//!
//! Properties: no panic; parsing returns within 2 s; an error names the file and a line
//! (`file:line:`) or a field; an accepted suite has no zero `windows`/`runs` and no name twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use mcubench::config::{Suite, SuiteError};
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestRunner};

const PATH: &str = "fuzz-dir/suite.yaml";

fn check(text: &str) -> Result<String, String> {
    let t = Instant::now();
    let r = Suite::parse(text, Path::new(PATH));
    if t.elapsed() > Duration::from_secs(2) {
        return Err(format!("parsing {} bytes took {:?}", text.len(), t.elapsed()));
    }
    match r {
        Ok(s) => {
            if s.windows == Some(0) || s.runs == Some(0) {
                return Err(format!("accepted zero windows/runs: {s:?}"));
            }
            for names in [&s.boards, &s.frameworks, &s.workloads] {
                if names.iter().collect::<BTreeSet<_>>().len() != names.len() {
                    return Err(format!("accepted a name twice: {names:?}"));
                }
            }
            Ok("ok".into())
        }
        Err(e) => {
            let msg = e.to_string();
            if !msg.starts_with(PATH) {
                return Err(format!("error does not start with the file name: {msg}"));
            }
            match &e {
                SuiteError::Syntax { line: 0, message, .. } if message.contains("more than one document") => {
                    Ok("syntax without line".into())
                }
                SuiteError::Syntax { line, .. } => {
                    let breaks = text.bytes().filter(|&b| b == b'\n' || b == b'\r').count();
                    if *line == 0 || *line > breaks + 2 || !msg.starts_with(&format!("{PATH}:{line}:")) {
                        return Err(format!("bad line {line}: {msg}"));
                    }
                    Ok("syntax with line".into())
                }
                SuiteError::Invalid { field, .. } if msg.contains(&format!("field '{field}'")) => Ok("invalid with field".into()),
                other => Err(format!("error names neither a line nor a field: {other}")),
            }
        }
    }
}

mod common;
use common::mutate::{mutate, mutation};

#[test]
fn the_corpus_itself_parses() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/cross-framework.yaml")).unwrap();
    assert_eq!(check(&text), Ok("ok".to_string()));
}

#[test]
fn mutated_suite() {
    let base = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/cross-framework.yaml")).unwrap();
    let tally = std::cell::RefCell::new(BTreeMap::<String, usize>::new());
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 500,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5eed_5017),
        ..ProptestConfig::default()
    });
    runner
        .run(&proptest::collection::vec(mutation(), 1..5), |muts| {
            let text = mutate(&base, &muts, false);
            let label = check(&text).map_err(|e| TestCaseError::fail(format!("{e}\n--- mutated file ---\n{text}")))?;
            *tally.borrow_mut().entry(label).or_default() += 1;
            Ok(())
        })
        .unwrap();
    println!("mutated_suite: 500 cases, outcomes {:?}", tally.borrow());
}

#[test]
fn long_lists() {
    let names: Vec<String> = (0..50_000).map(|i| format!("board-{i}")).collect();
    let distinct = format!("boards: [{}]\n", names.join(", "));
    let same = format!("boards: [{}]\n", vec!["b"; 50_000].join(", "));
    let dup_at_end = format!("boards: [{}, board-0]\n", names.join(", "));
    for (what, text, ok) in [("distinct", distinct, true), ("one name repeated", same, false), ("duplicate at the end", dup_at_end, false)] {
        let r = check(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(r == "ok", ok, "{what}: {r}");
    }
}
