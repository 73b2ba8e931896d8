//! `mcubench gate` and `mcubench baseline` through the binary, on synthetic results stores:
//! exit codes, messages, and the Markdown and JUnit files.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mcubench_ci::record::{Metric, ResultRecord, Source};
use mcubench_ci::testutil::{emulated_job, failure, rec};

const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ci/gate.yaml");

fn mcubench(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mcubench"));
    c.current_dir(dir).env_remove("MCUBENCH_STORE");
    c
}

fn store(dir: &Path, name: &str, runs: &[(&str, Vec<ResultRecord>)]) -> PathBuf {
    let path = dir.join(name);
    let mut text = String::new();
    for (run, records) in runs {
        for r in records {
            text += &serde_json::to_string(&ResultRecord { run_id: (*run).into(), ..r.clone() }).unwrap();
            text.push('\n');
        }
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn gate(dir: &Path, store: &Path, extra: &[&str]) -> Output {
    mcubench(dir)
        .args(["gate", "--baseline", "base.yaml", "--rules", RULES, "--store"])
        .arg(store)
        .args(extra)
        .output()
        .unwrap()
}

fn with_instructions(board: &str, instructions: f64) -> Vec<ResultRecord> {
    emulated_job(board, instructions)
}

#[test]
fn help_documents_the_exit_codes() {
    let out = mcubench(Path::new(".")).args(["gate", "--help"]).output().unwrap();
    assert!(out.status.success());
    let t = text(&out);
    for needle in ["--baseline", "--markdown", "--junit", "Exit codes", "0  every gated figure", "3  performance regression", "4  infrastructure failure", "2  bad usage"] {
        assert!(t.contains(needle), "{needle} missing:\n{t}");
    }
    let top = text(&mcubench(Path::new(".")).arg("--help").output().unwrap());
    assert!(top.contains("gate") && top.contains("baseline"), "{top}");
}

#[test]
fn save_show_and_gate_pass_regress_improve() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = [with_instructions("b1", 2_000_000.0), with_instructions("b2", 2_000_000.0)].concat();
    let s = store(d, "r.jsonl", &[("old", with_instructions("b1", 1.0)), ("base", base.clone())]);

    // Save: the last run by default.
    let out = mcubench(d).args(["baseline", "save", "--out", "base.yaml", "--store"]).arg(&s).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("2 job(s), 12 figure(s) from run base"), "{}", text(&out));
    let yaml = std::fs::read_to_string(d.join("base.yaml")).unwrap();
    assert!(yaml.contains("instructions: {source: emulated, unit: \"instructions\", value: 2000000}"), "{yaml}");
    // Saving again reports what changed.
    let out = mcubench(d).args(["baseline", "save", "--out", "base.yaml", "--store"]).arg(&s).output().unwrap();
    assert!(text(&out).contains("no figure changed"), "{}", text(&out));

    // Show: list a directory, and one baseline.
    std::fs::create_dir(d.join("bl")).unwrap();
    std::fs::copy(d.join("base.yaml"), d.join("bl/default.yaml")).unwrap();
    let out = mcubench(d).args(["baseline", "show", "--baselines-dir", "bl"]).output().unwrap();
    assert!(out.status.success() && text(&out).contains("default") && text(&out).contains("12 figure(s)"), "{}", text(&out));
    let out = mcubench(d).args(["baseline", "show", "default", "--baselines-dir", "bl"]).output().unwrap();
    assert!(text(&out).contains("b2 / reference-runtime / ad01 (25 MHz") && text(&out).contains("2,000,000"), "{}", text(&out));

    // Gate the same run: pass.
    let out = gate(d, &s, &["--markdown", "pass.md", "--junit", "pass.xml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let md = std::fs::read_to_string(d.join("pass.md")).unwrap();
    assert!(md.starts_with("## ✅ mcubench gate passed"), "{md}");
    let xml = std::fs::read_to_string(d.join("pass.xml")).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), 12, "{xml}");

    // A regression on one board: exit 3, the message says what and by how much.
    let worse = [with_instructions("b1", 2_100_000.0), with_instructions("b2", 2_000_000.0)].concat();
    let s2 = store(d, "r2.jsonl", &[("worse", worse)]);
    let out = gate(d, &s2, &["--markdown", "fail.md", "--junit", "fail.xml"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("REGRESSED     b1 / reference-runtime / ad01 / instructions: 2,000,000 instructions -> 2,100,000 instructions  +5.00% (+100,000)  limit +0.5%"), "{}", text(&out));
    let md = std::fs::read_to_string(d.join("fail.md")).unwrap();
    assert!(md.contains("| ❌ regressed | b1 | reference-runtime | ad01 | instructions |"), "{md}");
    let xml = std::fs::read_to_string(d.join("fail.xml")).unwrap();
    assert!(xml.contains("<failure type=\"regression\""), "{xml}");

    // An improvement: exit 0, reported.
    let better = [with_instructions("b1", 1_500_000.0), with_instructions("b2", 2_000_000.0)].concat();
    let s3 = store(d, "r3.jsonl", &[("better", better)]);
    let out = gate(d, &s3, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("improved      b1 / reference-runtime / ad01 / instructions") && text(&out).contains("refresh the baseline"), "{}", text(&out));

    // A named run, and an unknown one (usage: 2).
    assert_eq!(gate(d, &s, &["--run", "base"]).status.code(), Some(0));
    let out = gate(d, &s, &["--run", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no records of run 'nope'"), "{}", text(&out));
}

#[test]
fn infrastructure_failures_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = [with_instructions("b1", 2_000_000.0), with_instructions("b2", 2_000_000.0)].concat();
    let s = store(d, "r.jsonl", &[("base", base)]);
    assert!(mcubench(d).args(["baseline", "save", "--out", "base.yaml", "--store"]).arg(&s).status().unwrap().success());

    // b2 could not be reached.
    let mut run = with_instructions("b1", 2_000_000.0);
    run.push(failure("b2", "boot", "QEMU did not open its serial port"));
    let s2 = store(d, "r2.jsonl", &[("broken", run)]);
    let out = gate(d, &s2, &["--markdown", "infra.md"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("JOB FAILED    b2 / reference-runtime / ad01: boot: QEMU did not open its serial port"), "{}", text(&out));
    assert!(std::fs::read_to_string(d.join("infra.md")).unwrap().contains("infrastructure"));

    // A figure missing without a failure record.
    let mut run = [with_instructions("b1", 2_000_000.0), with_instructions("b2", 2_000_000.0)].concat();
    run.retain(|r| !(r.job.board == "b2" && r.metric().is_some_and(|m| m.0 == Metric::StackBytes)));
    let s3 = store(d, "r3.jsonl", &[("partial", run)]);
    let out = gate(d, &s3, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("no stack_bytes figure in the run"), "{}", text(&out));

    // No results at all (the run never wrote its store): 4, and the summary still written.
    let out = gate(d, &d.join("never-written.jsonl"), &["--markdown", "none.md"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(text(&out).contains("never-written.jsonl"), "{}", text(&out));
    assert!(d.join("none.md").exists());
}

#[test]
fn missing_baseline_and_malformed_rules_exit_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = store(d, "r.jsonl", &[("run", vec![rec("b1", Metric::FlashBytes, 1.0, Source::Measured)])]);

    let out = mcubench(d).args(["gate", "--baseline", "nightly", "--store"]).arg(&s).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("baseline ci/baselines/nightly.yaml does not exist") && text(&out).contains("mcubench baseline save"), "{}", text(&out));

    assert!(mcubench(d).args(["baseline", "save", "--out", "base.yaml", "--store"]).arg(&s).status().unwrap().success());
    std::fs::write(d.join("bad.yaml"), "version: 1\nmetrics:\n  flash_bytes:\n    max_increase_pct: lots\n").unwrap();
    let out = mcubench(d).args(["gate", "--baseline", "base.yaml", "--rules", "bad.yaml", "--store"]).arg(&s).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("bad.yaml:4:"), "{}", text(&out));

    std::fs::write(d.join("base.yaml"), "schema: 1\nname: x\nrun_id: r\njobs:\n  - board: b1\n    colour: red\n").unwrap();
    let out = mcubench(d).args(["gate", "--baseline", "base.yaml", "--rules", RULES, "--store"]).arg(&s).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("base.yaml:6:") && text(&out).contains("colour"), "{}", text(&out));
}
