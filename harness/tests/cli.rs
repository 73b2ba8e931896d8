//! The command line: help, exit codes and configuration errors.
use std::process::Command;

fn mcubench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mcubench"))
}

#[test]
fn help_explains_the_commands() {
    let out = mcubench().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["run", "table", "boards", "workloads", "Exit codes"] {
        assert!(text.contains(word), "{word} missing from --help:\n{text}");
    }
}

#[test]
fn malformed_boards_file_exits_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    let good = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../boards.yaml")).unwrap();
    std::fs::write(&path, good.replacen("clock_hz: 25000000", "clock_hz: -5", 1)).unwrap();
    let out = mcubench().args(["boards", "list", "--boards"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml:17:"), "{err}");
    assert!(err.contains("clock_hz"), "{err}");
}

#[test]
fn unknown_workload_lists_the_known_ones() {
    let out = mcubench().args(["run", "-w", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown workload 'nope'") && err.contains("ad01"), "{err}");
}

#[test]
fn boards_list_shows_the_default_farm() {
    let out = mcubench().args(["boards", "list", "--boards", concat!(env!("CARGO_MANIFEST_DIR"), "/../boards.yaml")]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("mps2-an386") && text.contains("Cortex-M55"), "{text}");
}
