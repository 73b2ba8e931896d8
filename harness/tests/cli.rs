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
fn run_help_lists_every_framework_with_its_description() {
    let out = mcubench().args(["run", "--help"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for f in mcubench::plan::FRAMEWORKS {
        // One line each: the name, then its whole description.
        assert!(
            lines.iter().any(|l| l.starts_with(f.name) && l[f.name.len()..].trim() == f.description),
            "{} missing from `run --help`:\n{text}",
            f.name
        );
    }
    assert!(text.contains("--infer-budget"), "{text}");
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
fn frameworks_take_a_comma_list_and_short_names() {
    // Planning fails on the unknown name before anything is built; the known short names pass.
    let out = mcubench().args(["run", "--frameworks", "reference,tflm,cmsis-nn,nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown framework 'nope'") && err.contains("tflite-micro"), "{err}");
}

#[test]
fn a_bad_suite_file_is_refused_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("suite.yaml");
    std::fs::write(&path, "frameworks: [reference, tflm]\nwindow: 2\n").unwrap();
    let out = mcubench().args(["run", "--suite"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("suite.yaml:2:") && err.contains("unknown field `window`"), "{err}");
    std::fs::write(&path, "workloads: [kws01, nope]\n").unwrap();
    let out = mcubench().args(["run", "--suite"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown workload 'nope'"), "{err}");
}

#[test]
fn boards_list_shows_the_default_farm() {
    let out = mcubench().args(["boards", "list", "--boards", concat!(env!("CARGO_MANIFEST_DIR"), "/../boards.yaml")]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("mps2-an386") && text.contains("Cortex-M55"), "{text}");
}

/// Ctrl-C in the middle of measuring: exit 130, every record so far stored, the cut jobs
/// marked `interrupted`, the partial table printed, and no QEMU left behind.
#[test]
fn ctrl_c_keeps_results_prints_partial_table_and_kills_qemu() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("r.jsonl");
    let mut child = mcubench()
        .args(["run", "--windows", "1", "--store"])
        .arg(&store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut qemu_pids = Vec::new();
    let mut seen_checks = 0;
    let mut lines = stderr.lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(pid) = line.split("(pid ").nth(1) {
            qemu_pids.push(pid.trim_end_matches(')').to_string());
        }
        if line.contains("golden check, seed 2") {
            seen_checks += 1;
        }
        if qemu_pids.len() == 3 && seen_checks >= 1 {
            break;
        }
    }
    assert_eq!(qemu_pids.len(), 3, "QEMU never started on all boards");
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{rest:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("failed (interrupted)"), "{stdout}");
    assert!(stdout.contains("bit exact"), "checks done before Ctrl-C are shown:\n{stdout}");
    assert!(rest.iter().any(|l| l.starts_with("interrupted:")), "{rest:?}");
    let text = std::fs::read_to_string(&store).unwrap();
    assert!(text.lines().count() > 3);
    assert!(text.contains("\"stage\":\"interrupted\""));
    // The harness sends SIGKILL as it exits; the kernel may take a moment to finish the kill
    // (a bounded wait, not a sleep: it ends as soon as every QEMU is gone or a zombie).
    let alive = |pid: &str| {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ")
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while qemu_pids.iter().any(|p| alive(p)) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for pid in qemu_pids {
        assert!(!alive(&pid), "QEMU {pid} survived the harness by more than 5 s");
    }
}

/// Ctrl-C while firmware is being built: the run stops, and no cargo, rustc or build-script
/// process of that build survives (the harness kills the build's whole process group).
#[test]
fn ctrl_c_during_a_build_kills_every_build_process() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("fresh-cache");
    let procs_of_build = || -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if !pid.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(cache.to_str().unwrap()) && !stat.contains(") Z ") {
                found.push(format!("{pid}: {}", String::from_utf8_lossy(&cmdline).replace('\0', " ")));
            }
        }
        found
    };
    let mut child = mcubench()
        .args(["run", "--board", "mps2-an386", "-w", "ad01", "--store"])
        .arg(dir.path().join("r.jsonl"))
        .env("MCUBENCH_CACHE", &cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    assert!(lines.by_ref().map_while(Result::ok).any(|l| l.contains("building ")), "no build started");
    // Wait (bounded, generous: on a loaded 2-core CI machine cargo may take a while to
    // spawn) until the build has compiler processes of its own.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while procs_of_build().len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(procs_of_build().len() >= 2, "the build never got going: {:?}", procs_of_build());
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let _rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !procs_of_build().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(procs_of_build(), Vec::<String>::new(), "build processes survived the harness");
}
