//! Fuzzing the boards.yaml parser (`BoardsFile::parse`) (issue 9, reliability).
//!
//! The corpus is the real inventory, `/boards.yaml` of this repository. What is injected, and
//! how many cases run (fixed seeds, no persistence files):
//! - `mutated_inventory` (600 cases): 1..5 mutations of the real file: lines deleted, duplicated,
//!   swapped or re-indented; a value replaced by a huge, negative, fractional, special-float,
//!   empty, quoted, null, anchor/alias/tag or flow-syntax value; characters flipped, inserted
//!   (ASCII, tabs, NUL, non-ASCII) or deleted.
//! - `random_yaml_documents` (300 cases): random YAML trees (maps, sequences, scalars) serialized
//!   by serde_yaml, alone and under a `boards:` key.
//! - `random_field_values` (400 cases): well-formed entries (1..3 boards) whose names, kinds,
//!   cores, targets, clocks, memory regions, budgets and power figures are random edge values
//!   (0, 2^32 - 1, 2^32, 2^64 - 1, negative, fractional, NaN), so the validation rules are driven.
//! - `hostile_documents` (8 fixed cases): an alias bomb ("billion laughs"), 10,000-deep nesting,
//!   a 4 MiB scalar, tabs for indentation, a document of NULs.
//!
//! Properties: parsing never panics and returns within 5 s; an error names the file and a line
//! (`file:line:`) or a field; a file that parses satisfies the rules validation promises
//! (non-zero clocks and sizes, regions inside 32 bits and not overlapping, budgets within them,
//! unique names, a target the core can run).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use mcubench::config::{BoardsError, BoardsFile};
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestRunner};

const PATH: &str = "fuzz-dir/boards.yaml";

fn inventory() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards.yaml")).unwrap()
}

fn config(cases: u32, seed: u64) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, rng_seed: RngSeed::Fixed(seed), ..ProptestConfig::default() }
}

/// Parses `text` and checks the properties; returns a label of the outcome for the tally.
fn check(text: &str) -> Result<String, String> {
    let t = Instant::now();
    let r = BoardsFile::parse(text, Path::new(PATH));
    if t.elapsed() > Duration::from_secs(5) {
        return Err(format!("parsing took {:?}", t.elapsed()));
    }
    match r {
        Ok(f) => {
            check_valid(&f)?;
            Ok("ok".into())
        }
        Err(e) => {
            let msg = e.to_string();
            if !msg.starts_with(PATH) {
                return Err(format!("error does not start with the file name: {msg}"));
            }
            if msg.len() > 8192 {
                return Err(format!("error message of {} bytes", msg.len()));
            }
            let label = match &e {
                BoardsError::Syntax { line, .. } if *line >= 1 => "syntax with line",
                // serde_yaml has no location for a few errors; the only one expected is a second
                // document (`---`), whose message says so.
                BoardsError::Syntax { line: 0, message, .. } if message.contains("more than one document") => "syntax without line",
                BoardsError::Invalid { line, field, .. } if *line >= 1 && !field.is_empty() => "invalid with line and field",
                BoardsError::Invalid { field, .. } if !field.is_empty() => "invalid with field only",
                BoardsError::File { .. } => "file",
                _ => return Err(format!("error names neither a line nor a field: {msg} ({e:?})")),
            };
            if let BoardsError::Syntax { line, .. } | BoardsError::Invalid { line, .. } = &e {
                if *line >= 1 && !msg.starts_with(&format!("{PATH}:{line}")) {
                    return Err(format!("line {line} not in `{PATH}:{line}` form: {msg}"));
                }
                if *line > text.lines().count() + 1 {
                    return Err(format!("line {line} is past the end of the text ({} lines): {msg}", text.lines().count()));
                }
            }
            if let BoardsError::Invalid { line, field, board, .. } = &e {
                // The line shown is the field's own line, its parent's, or the board's name line.
                let l = text.lines().nth(line.wrapping_sub(1)).unwrap_or("");
                let keys = [field.rsplit('.').next().unwrap(), field.split('.').next().unwrap(), "name"];
                if !keys.iter().any(|k| l.contains(&format!("{k}:"))) {
                    return Err(format!("line {line} `{l}` is not where field '{field}' of board '{board}' is: {msg}"));
                }
            }
            Ok(label.into())
        }
    }
}

/// What validation promises about a file it accepts.
fn check_valid(f: &BoardsFile) -> Result<(), String> {
    if f.boards.is_empty() {
        return Err("accepted a file without boards".into());
    }
    let mut names = BTreeSet::new();
    for b in &f.boards {
        let fail = |what: &str| Err(format!("accepted board '{}' with {what}: {b:?}", b.name));
        if !names.insert(b.name.clone()) {
            return fail("a duplicate name");
        }
        if b.clock_hz == 0 || b.systick_hz == 0 {
            return fail("a zero clock");
        }
        if !b.cpu.compatible_targets().contains(&b.target.as_str()) {
            return fail("a target its core cannot run");
        }
        let (fl, ram) = (b.memory.flash, b.memory.ram);
        for r in [fl, ram] {
            if r.size == 0 || r.origin.checked_add(r.size).map_or(true, |e| e > 1 << 32) {
                return fail("a region that is empty or leaves 32 bits");
            }
        }
        if fl.origin < ram.origin + ram.size && ram.origin < fl.origin + fl.size {
            return fail("overlapping regions");
        }
        if b.flash_budget() > fl.size || b.ram_budget() > ram.size {
            return fail("a budget larger than its region");
        }
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(prop::sample::Index),
    DuplicateLine(prop::sample::Index),
    SwapLines(prop::sample::Index, prop::sample::Index),
    Indent(prop::sample::Index, i8),
    ReplaceValue(prop::sample::Index, String),
    FlipChar(prop::sample::Index, char),
    InsertChar(prop::sample::Index, char),
    DeleteChar(prop::sample::Index),
}

fn odd_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("18446744073709551616".to_string()),
        Just("18446744073709551615".to_string()),
        Just("99999999999999999999999999999999".to_string()),
        Just("0x100000000".to_string()),
        Just("0xFFFFFFFFFFFFFFFF".to_string()),
        Just("-1".to_string()),
        Just("-0x20000000".to_string()),
        Just("0".to_string()),
        Just("1.5".to_string()),
        Just("1e400".to_string()),
        Just(".nan".to_string()),
        Just("-.inf".to_string()),
        Just("".to_string()),
        Just("~".to_string()),
        Just("null".to_string()),
        Just("\"\"".to_string()),
        Just("'quoted'".to_string()),
        Just("yes".to_string()),
        Just("&anchor x".to_string()),
        Just("*anchor".to_string()),
        Just("*missing".to_string()),
        Just("!!binary aGVsbG8=".to_string()),
        Just("!custom 3".to_string()),
        Just("{".to_string()),
        Just("[1, 2".to_string()),
        Just("{ origin: 0, size: 0 }".to_string()),
        Just("[]".to_string()),
        Just("- x".to_string()),
        Just("? x".to_string()),
        Just("|".to_string()),
        Just("\"\\u0000\"".to_string()),
        Just("x: y: z".to_string()),
        any::<i64>().prop_map(|v| v.to_string()),
        any::<u64>().prop_map(|v| format!("{v:#x}")),
        any::<f64>().prop_map(|v| v.to_string()),
        "[ -~]{0,40}",
    ]
}

fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range(' ', '~'),
        1 => Just('\t'),
        1 => Just('\0'),
        1 => Just('\n'),
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
        4 => (i(), odd_value()).prop_map(|(a, v)| Mutation::ReplaceValue(a, v)),
        2 => (i(), any_char()).prop_map(|(a, c)| Mutation::FlipChar(a, c)),
        1 => (i(), any_char()).prop_map(|(a, c)| Mutation::InsertChar(a, c)),
        1 => i().prop_map(Mutation::DeleteChar),
    ]
}

fn mutate(text: &str, muts: &[Mutation]) -> String {
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
            Mutation::ReplaceValue(i, v) => {
                // Prefer lines with a `key: value`; the value ends at a comment, a `,` or a `}`.
                let with_value: Vec<usize> = (0..n).filter(|&k| lines[k].contains(": ")).collect();
                let k = if with_value.is_empty() { i.index(n) } else { with_value[i.index(with_value.len())] };
                let l = &lines[k];
                let starts: Vec<usize> = l.match_indices(": ").map(|(p, _)| p + 2).collect();
                if let Some(&s) = starts.get(i.index(starts.len().max(1))) {
                    let e = l[s..].find([',', '}', '#']).map_or(l.len(), |e| s + e);
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

fn run<S: Strategy>(name: &str, cases: u32, seed: u64, strategy: S, case: impl Fn(S::Value) -> Result<String, String>) {
    let tally = std::cell::RefCell::new(BTreeMap::<String, usize>::new());
    let mut runner = TestRunner::new(config(cases, seed));
    let r = runner.run(&strategy, |v| {
        let label = case(v).map_err(TestCaseError::fail)?;
        *tally.borrow_mut().entry(label).or_default() += 1;
        Ok(())
    });
    if let Err(e) = r {
        panic!("{name}: {e}");
    }
    println!("{name}: {cases} cases, outcomes {:?}", tally.borrow());
}

#[test]
fn the_corpus_itself_parses() {
    assert_eq!(check(&inventory()), Ok("ok".to_string()));
}

#[test]
fn mutated_inventory() {
    let base = inventory();
    run("mutated_inventory", 600, 0x5eed_b0a1, proptest::collection::vec(mutation(), 1..5), |muts| {
        let text = mutate(&base, &muts);
        check(&text).map_err(|e| format!("{e}\n--- mutated file ---\n{text}"))
    });
}

fn yaml_tree() -> impl Strategy<Value = serde_yaml::Value> {
    use serde_yaml::Value;
    let key = prop_oneof![
        Just("boards"), Just("name"), Just("kind"), Just("qemu"), Just("cpu"), Just("target"), Just("memory"),
        Just("flash"), Just("ram"), Just("origin"), Just("size"), Just("budget"), Just("clock_hz"),
        Just("systick_hz"), Just("support"), Just("serial"), Just("power"), Just("firmware"), Just("x"),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|v| Value::Number(v.into())),
        any::<u64>().prop_map(|v| Value::Number(v.into())),
        any::<f64>().prop_map(|v| Value::Number(v.into())),
        "[ -~]{0,12}".prop_map(Value::String),
        Just(Value::String("cortex-m4".into())),
        Just(Value::String("qemu".into())),
    ];
    leaf.prop_recursive(5, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Sequence),
            proptest::collection::vec((key.clone(), inner), 0..6).prop_map(|kv| {
                Value::Mapping(kv.into_iter().map(|(k, v)| (Value::String(k.to_string()), v)).collect())
            }),
        ]
    })
}

#[test]
fn random_yaml_documents() {
    run("random_yaml_documents", 300, 0x5eed_b0a2, (yaml_tree(), any::<bool>()), |(tree, under_boards)| {
        let doc = if under_boards {
            let mut m = serde_yaml::Mapping::new();
            m.insert("boards".into(), serde_yaml::Value::Sequence(vec![tree]));
            serde_yaml::Value::Mapping(m)
        } else {
            tree
        };
        let text = serde_yaml::to_string(&doc).unwrap();
        check(&text).map_err(|e| format!("{e}\n--- document ---\n{text}"))
    });
}

#[test]
fn hostile_documents() {
    let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        laughs.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    laughs.push_str("boards: *a9\n");
    let docs = [
        laughs,
        format!("boards: {}{}", "[".repeat(10_000), "]".repeat(10_000)),
        format!("boards:\n  - name: {}\n", "n".repeat(4 << 20)),
        format!("boards:\n{}", "  - ".repeat(10_000)),
        inventory().replace("    ", "\t"),
        "\0".repeat(1000),
        "---\n...\n---\nboards: []\n".to_string(),
        "%YAML 1.2\n%TAG ! tag:x,2000:\n---\nboards: !x []\n".to_string(),
    ];
    for (i, d) in docs.iter().enumerate() {
        let r = check(d);
        assert!(r.is_ok(), "hostile document {i}: {}", r.unwrap_err());
        println!("hostile document {i}: {}", r.unwrap());
    }
}

/// A number as YAML might write it: edge values near the 32-bit address space, zero, huge.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("1".to_string()),
        Just("0x400000".to_string()),
        Just("0x20000000".to_string()),
        Just("0xFFFFFFFF".to_string()),
        Just("0x100000000".to_string()),
        Just("0xFFFFFFFFFFFFFFFF".to_string()),
        Just("25000000".to_string()),
        Just("-1".to_string()),
        Just("1.0".to_string()),
        (0u64..(1 << 33)).prop_map(|v| format!("{v:#x}")),
        any::<u64>().prop_map(|v| v.to_string()),
    ]
}

#[test]
fn random_field_values() {
    // Well-formed boards whose values are random: this drives the validation rules rather than
    // the YAML syntax checks.
    let board = (
        prop_oneof![4 => Just("b1"), 4 => Just("b2"), 1 => Just("bad name"), 1 => Just("")],
        prop_oneof![4 => Just("qemu"), 1 => Just("probe-rs"), 1 => Just("serial")],
        prop_oneof![1 => Just("cortex-m0-plus"), 6 => Just("cortex-m4"), 1 => Just("cortex-m33"), 1 => Just("cortex-m55")],
        prop_oneof![1 => Just("thumbv6m-none-eabi"), 6 => Just("thumbv7em-none-eabihf"), 1 => Just("thumbv8m.main-none-eabihf")],
        // Each number is the inventory's value or, one time in three, a random edge value.
        ["25000000", "25000000", "0x0", "0x400000", "0x20000000", "0x400000", "0x200000", "0xA0000"]
            .map(|v| prop_oneof![2 => Just(v.to_string()), 1 => number()])
            .to_vec(),
        (any::<bool>(), proptest::bool::weighted(0.8), any::<bool>()),
        prop_oneof![4 => Just("1.8"), 1 => Just("0"), 1 => Just("-3.3"), 1 => Just(".nan"), 1 => Just(".inf")],
    )
        .prop_map(|(name, kind, cpu, target, n, (budget, qemu, power), volts)| {
            let mut b = format!(
                "  - name: {name}\n    kind: {kind}\n    cpu: {cpu}\n    target: {target}\n    support: mps2\n    \
                 clock_hz: {}\n    systick_hz: {}\n    memory:\n      flash: {{ origin: {}, size: {} }}\n      \
                 ram: {{ origin: {}, size: {} }}\n",
                n[0], n[1], n[2], n[3], n[4], n[5]
            );
            if budget {
                b.push_str(&format!("    budget: {{ flash: {}, ram: {} }}\n", n[6], n[7]));
            }
            if qemu {
                b.push_str("    qemu: { machine: mps2-an386 }\n");
            }
            if power {
                b.push_str(&format!("    power: {{ voltage_v: {volts}, active_ua_per_mhz: 1e9, source: x }}\n"));
            }
            b
        });
    run("random_field_values", 400, 0x5eed_b0a3, proptest::collection::vec(board, 1..3), |boards| {
        let text = format!("boards:\n{}", boards.concat());
        check(&text).map_err(|e| format!("{e}\n--- document ---\n{text}"))
    });
}
