//! End to end on the emulated farm: a firmware variant that does a fixed amount of extra work
//! per inference (`MCUBENCH_FIRMWARE_FEATURES=test-extra-work`) fails the gate against a
//! baseline saved from a normal run, with exit 3 and a message naming the figure; the normal
//! run passes.
//!
//! Needs qemu-system-arm 10 and the firmware targets (scripts/setup.sh installs both).
use std::path::Path;
use std::process::{Command, Output};

const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ci/gate.yaml");
const BOARD: &str = "mps2-an386";

fn mcubench(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mcubench"));
    c.current_dir(dir).env_remove("MCUBENCH_STORE").env_remove("MCUBENCH_FIRMWARE_FEATURES");
    c
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn run(dir: &Path, store: &str, features: Option<&str>) {
    let mut c = mcubench(dir);
    c.args(["run", "--board", BOARD, "--windows", "1", "--golden-checks", "2", "--store", store]);
    if let Some(f) = features {
        c.env("MCUBENCH_FIRMWARE_FEATURES", f);
    }
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "mcubench run ({features:?}) failed:\n{}", text(&out));
}

fn gate(dir: &Path, store: &str, md: &str) -> Output {
    mcubench(dir)
        .args(["gate", "--baseline", "base.yaml", "--rules", RULES, "--store", store, "--markdown", md, "--junit", "junit.xml"])
        .output()
        .unwrap()
}

#[test]
fn extra_work_fails_the_gate_and_a_normal_run_passes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run(d, "normal.jsonl", None);
    let out = mcubench(d).args(["baseline", "save", "--store", "normal.jsonl", "--out", "base.yaml"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));

    // The same firmware again: exact counts, so the gate passes.
    run(d, "again.jsonl", None);
    let out = gate(d, "again.jsonl", "pass.md");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let md = std::fs::read_to_string(d.join("pass.md")).unwrap();
    assert!(md.starts_with("## ✅ mcubench gate passed"), "{md}");

    // The firmware with extra work per inference: a regression in instructions, exit 3.
    run(d, "slow.jsonl", Some("test-extra-work"));
    let out = gate(d, "slow.jsonl", "fail.md");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "{t}");
    let line = t.lines().find(|l| l.contains("REGRESSED") && l.contains("/ instructions:")).unwrap_or_else(|| panic!("no instructions regression in:\n{t}"));
    assert!(line.contains(&format!("{BOARD} / reference-runtime / ad01 / instructions")) && line.contains("limit +0.5%"), "{line}");
    assert!(t.contains("gate failed: performance regression (exit 3)"), "{t}");
    let md = std::fs::read_to_string(d.join("fail.md")).unwrap();
    assert!(md.starts_with("## ❌ mcubench gate failed: performance regression"), "{md}");
    assert!(md.contains(&format!("| ❌ regressed | {BOARD} | reference-runtime | ad01 | instructions |")), "{md}");
    // Sizes did not grow beyond their limits: only time-like figures regressed.
    assert!(!md.contains("| ❌ regressed | mps2-an386 | reference-runtime | ad01 | arena_bytes"), "{md}");
    let xml = std::fs::read_to_string(d.join("junit.xml")).unwrap();
    assert!(xml.contains("<failure type=\"regression\""), "{xml}");
}
