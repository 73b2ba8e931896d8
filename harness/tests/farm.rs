//! Farm hygiene (issue 8) on the emulated farm: a board held by another run, retries on a
//! fresh session, quarantine, and infrastructure problems reported apart from the results.
//!
//! The faults are the fault firmwares of tests/reliability.rs: `test-fault-hang` makes the
//! second inference since boot spin forever, so with one golden check and one window every
//! attempt fails at the window, deterministically. One test at a time (each drives QEMU on a
//! 2-core host). Needs qemu-system-arm 10 and the firmware targets (scripts/setup.sh).

mod common;

use common::records::board_failures;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use mcubench::build::Paths;
use mcubench::config::BoardsFile;
use mcubench::events::RunEvent;
use mcubench::plan::{self, Selection};
use mcubench::results::*;
use mcubench::runner::{self, FarmPolicy, Limits, RunConfig, Timeouts};
use mcubench::session::lock::BoardLock;
use mcubench::store;

const VICTIM: &str = "mps2-an386";
const HEALTHY: &str = "mps2-an500";

static TURN: Mutex<()> = Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

fn default_boards_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards.yaml")).unwrap()
}

/// The default inventory with the victim's firmware built with `features`.
fn boards_with_fault(features: &str) -> String {
    let text = default_boards_text();
    let start = text.find("  - name: mps2-an386").unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    let entry = text[start..end].replace("    support: mps2\n", &format!("    support: mps2\n    firmware_features: [{features}]\n"));
    format!("{}{entry}{}", &text[..start], &text[end..])
}

fn write_boards(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("boards.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `mcubench run` of ad01 (one golden check, one window of one inference) on `boards`.
fn mcubench_run(boards: &Path, store: &Path, lock_dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcubench"));
    cmd.env_remove("MCUBENCH_STORE")
        .args(["run", "-w", "ad01", "--golden-checks", "1", "--windows", "1", "--runs", "1", "--warmups", "0"])
        .arg("--boards")
        .arg(boards)
        .arg("--store")
        .arg(store)
        .arg("--lock-dir")
        .arg(lock_dir)
        .args(extra);
    cmd
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn has_golden_pass_and_window(records: &[ResultRecord], board: &str) -> bool {
    let mine = records.iter().filter(|r| r.job.board == board);
    let checks = mine.clone().filter(|r| matches!(r.entry, Entry::Check { passed: true, .. })).count();
    let windows = mine.filter(|r| r.metric().is_some_and(|m| m.0 == Metric::Instructions)).count();
    checks == 1 && windows == 1
}

#[test]
fn a_held_board_fails_its_jobs_naming_the_holder_other_boards_run_and_a_waiting_run_gets_it() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let boards = write_boards(dir.path(), &default_boards_text());
    let locks = dir.path().join("locks");
    // The holder is this test process, as another run would be.
    let held = BoardLock::acquire_for_run(VICTIM, &locks, "holder-run-42", Duration::ZERO).unwrap();

    let store1 = dir.path().join("refused.jsonl");
    let out: Output = mcubench_run(&boards, &store1, &locks, &["--board", VICTIM, "--board", HEALTHY]).output().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let records = store::load(&store1).unwrap().records;
    let f = board_failures(&records, VICTIM);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, "lock");
    let pid = std::process::id();
    assert!(
        f[0].1.starts_with(&format!("board '{VICTIM}' is in use by process {pid}, run holder-run-42")) && f[0].1.contains("--wait-for-boards"),
        "{}",
        f[0].1
    );
    assert!(!records.iter().any(|r| r.job.board == VICTIM && !matches!(r.entry, Entry::Failure { .. })), "the held board was used");
    // The other board ran on, whole and clean.
    assert_eq!(board_failures(&records, HEALTHY), vec![]);
    assert!(has_golden_pass_and_window(&records, HEALTHY), "{records:?}");
    // Reported apart from the results, naming board, job and stage.
    let section = stdout.split("Infrastructure problems").nth(1).unwrap_or_else(|| panic!("no infrastructure section:\n{stdout}"));
    assert!(section.contains(&format!("{VICTIM}  reference-runtime/ad01  lock: board '{VICTIM}' is in use")), "{section}");

    // With --wait-for-boards the run waits for the holder, then measures the board.
    let store2 = dir.path().join("waited.jsonl");
    let mut child = mcubench_run(&boards, &store2, &locks, &["--board", VICTIM, "--wait-for-boards", "300"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    // Builds done: the board task is next, and it must wait for the lock.
    loop {
        let line = rx.recv_timeout(Duration::from_secs(600)).expect("the waiting run printed no build line");
        let built = line.contains("built firmware");
        seen.push(line);
        if built {
            break;
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    seen.extend(rx.try_iter());
    assert!(!seen.iter().any(|l| l.contains(&format!(" start {VICTIM}"))), "the job started while the board was held: {seen:?}");
    drop(held);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(rx.try_iter());
    assert!(status.success(), "{status}: {seen:#?}");
    let records = store::load(&store2).unwrap().records;
    assert_eq!(board_failures(&records, VICTIM), vec![]);
    assert!(has_golden_pass_and_window(&records, VICTIM), "{records:?}");
}

#[test]
fn a_hanging_job_is_retried_on_a_new_qemu_and_both_attempts_are_reported() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let boards = write_boards(dir.path(), &boards_with_fault("test-fault-hang"));
    let store_path = dir.path().join("results.jsonl");
    // A short job limit: the hang is found in seconds (ad01 infers in milliseconds on QEMU).
    let out = mcubench_run(&boards, &store_path, &dir.path().join("locks"), &["--board", VICTIM, "--job-timeout", "8", "--json"])
        .output()
        .unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let records = store::load(&store_path).unwrap().records;
    // The JSON on stdout is the store's records.
    let json: Vec<ResultRecord> = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json, records);
    let f = board_failures(&records, VICTIM);
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(f[0].0, STAGE_RETRIED);
    assert!(f[0].1.starts_with("attempt 1 of 2 failed at stage timeout: ") && f[0].1.ends_with("; retried on a fresh session"), "{}", f[0].1);
    assert_eq!(f[1].0, "timeout");
    assert!(f[1].1.contains(&format!("board {VICTIM}")) && f[1].1.ends_with("(attempt 2 of 2)"), "{}", f[1].1);
    // Each attempt booted its own QEMU: its first inference passed the golden check.
    let checks = records.iter().filter(|r| matches!(r.entry, Entry::Check { passed: true, .. })).count();
    assert_eq!(checks, 2);
    let qemus: Vec<&str> = stderr.lines().filter(|l| l.contains("QEMU started (pid")).collect();
    assert_eq!(qemus.len(), 2, "{stderr}");
    assert_ne!(qemus[0].rsplit("pid").next(), qemus[1].rsplit("pid").next());
    // With --json, the infrastructure summary goes to stderr, both attempts in it.
    let section = stderr.split("Infrastructure problems").nth(1).unwrap_or_else(|| panic!("{stderr}"));
    assert!(section.contains(&format!("{VICTIM}  reference-runtime/ad01  retried: attempt 1 of 2")), "{section}");
    assert!(section.contains(&format!("{VICTIM}  reference-runtime/ad01  timeout: board {VICTIM}")), "{section}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_failing_twice_in_a_row_is_quarantined_for_its_remaining_jobs() {
    let _turn = take_turn();
    let boards = BoardsFile::parse(&boards_with_fault("test-fault-hang"), Path::new("hang.yaml")).unwrap();
    let sel = Selection { boards: vec![VICTIM.into()], workloads: vec!["ad01".into()], ..Selection::default() };
    let one = plan::plan(&boards, "hang.yaml", &sel).unwrap();
    assert_eq!(one.len(), 1);
    // Three jobs on the one board (the same job three times: one firmware to build).
    let jobs = vec![one[0].clone(), one[0].clone(), one[0].clone()];
    let cfg = RunConfig {
        paths: Paths::from_env(),
        run_id: "quarantine-test".into(),
        runs: Some(1),
        warmups: Some(0),
        windows: 1,
        golden_checks: 1,
        use_plugin: true,
        timeouts: Timeouts {
            boot: Duration::from_secs(5),
            line: Duration::from_secs(5),
            infer: Duration::from_secs(4),
            infer_per_inference: Duration::from_secs(1),
            job: Duration::from_secs(90),
        },
        limits: Limits::default(),
        farm: FarmPolicy { retries: 0, quarantine_after: 2, ..FarmPolicy::default() },
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let run = tokio::spawn(runner::run(jobs, cfg, tx));
    let mut events = Vec::new();
    while let Some(ev) = rx.recv().await {
        events.push(ev);
    }
    run.await.unwrap().unwrap();
    let records: Vec<ResultRecord> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Record(r) => Some((**r).clone()),
            _ => None,
        })
        .collect();
    let f = board_failures(&records, VICTIM);
    let stages: Vec<&str> = f.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(stages, ["timeout", "timeout", "quarantined"], "{f:?}");
    let q = &f[2].1;
    assert!(q.starts_with(&format!("board {VICTIM} is quarantined for the rest of run quarantine-test: 2 job(s) in a row")), "{q}");
    assert!(q.contains("last cause: timeout: ") && q.contains("`infer 1 0` timed out"), "{q}");
    // The quarantined job was not run: two QEMUs for three jobs, and every job finished.
    let sessions = events.iter().filter(|e| matches!(e, RunEvent::SessionStarted { .. })).count();
    assert_eq!(sessions, 2);
    let finished: Vec<bool> = events.iter().filter_map(|e| match e { RunEvent::JobFinished { ok, .. } => Some(*ok), _ => None }).collect();
    assert_eq!(finished, [false, false, false]);
    // The job that never ran is not one to retry.
    assert!(is_retryable_stage(&f[0].0) && !is_retryable_stage(&f[2].0));
}

#[test]
fn run_help_documents_the_farm_flags_and_a_bad_value_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_mcubench")).args(["run", "--help"]).output().unwrap();
    let help = text(&out.stdout);
    for flag in ["--wait-for-boards <SECONDS>", "--retries <N>", "--quarantine-after <K>", "--lock-dir <DIR>"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    assert!(help.contains("[default: 1]") && help.contains("[default: 2]") && help.contains("[default: 0]"), "{help}");
    let out = Command::new(env!("CARGO_BIN_EXE_mcubench")).args(["run", "--wait-for-boards", "soon"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("--wait-for-boards") && err.contains("'soon' is not a number of seconds"), "{err}");
}
