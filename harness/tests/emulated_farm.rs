//! End to end on the emulated farm: real firmware on real QEMU boards, no mocks.
//!
//! Needs qemu-system-arm 10 and the firmware targets (scripts/setup.sh installs both).
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use mcubench::build::Paths;
use mcubench::config::BoardsFile;
use mcubench::events::RunEvent;
use mcubench::plan::{self, Selection};
use mcubench::results::{Entry, Metric, ResultRecord};
use mcubench::runner::{self, RunConfig, Timeouts};
use mcubench::store::{self, ResultStore};

fn default_boards() -> BoardsFile {
    BoardsFile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards.yaml")).unwrap()
}

fn config(run_id: &str, windows: u32, golden_checks: usize) -> RunConfig {
    RunConfig {
        paths: Paths::from_env(),
        run_id: run_id.into(),
        runs: Some(3),
        warmups: Some(1),
        windows,
        golden_checks,
        use_plugin: true,
        // Generous: these tests check outputs and counts, not speed, and share 2 cores with QEMUs.
        timeouts: Timeouts { job: Duration::from_secs(600), ..Timeouts::default() },
        limits: Default::default(),
        farm: Default::default(),
    }
}

/// Runs the jobs, storing records in `store_path` as the CLI does; `on_event` may act on
/// events (e.g. kill a board) while the run goes on.
async fn run_and_store(
    boards: &BoardsFile,
    sel: Selection,
    cfg: RunConfig,
    store_path: &Path,
    mut on_event: impl FnMut(&RunEvent),
) -> Vec<ResultRecord> {
    let jobs = plan::plan(boards, "boards.yaml", &sel).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut store = ResultStore::open(store_path).unwrap();
    let run = tokio::spawn(runner::run(jobs, cfg, tx));
    let mut records = Vec::new();
    while let Some(ev) = rx.recv().await {
        on_event(&ev);
        if let RunEvent::Record(r) = ev {
            store.append(&r).unwrap();
            records.push(*r);
        }
    }
    run.await.unwrap().unwrap();
    records
}

fn failures(records: &[ResultRecord]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Failure { stage, message } => Some(format!("{}: {stage}: {message}", r.job)),
            _ => None,
        })
        .collect()
}

fn metric_values(records: &[ResultRecord], board: &str, metric: Metric) -> Vec<f64> {
    records
        .iter()
        .filter(|r| r.job.board == board)
        .filter_map(|r| r.metric().filter(|m| m.0 == metric).map(|m| m.1))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_farm_is_bit_exact_and_counts_repeat_across_runs() {
    let boards = default_boards();
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("results.jsonl");
    // ad01, the quickest model: this test is about repeatability and caching; every model's
    // bit exactness is `all_four_models_are_bit_exact_on_the_m4_and_m55` below.
    let ad01 = || Selection { workloads: vec!["ad01".into()], ..Selection::default() };
    let first = run_and_store(&boards, ad01(), config("first", 2, 10), &store_path, |_| {}).await;
    assert_eq!(failures(&first), Vec::<String>::new());

    // Every golden output byte matches TFLite Micro on every board.
    let checks: Vec<_> = first.iter().filter_map(|r| match &r.entry {
        Entry::Check { check, passed, detail } if check == "golden" => Some((r.job.board.clone(), *passed, detail.clone())),
        _ => None,
    }).collect();
    assert_eq!(checks.len(), 10 * boards.boards.len());
    for (board, passed, detail) in &checks {
        assert!(passed, "{board}: {detail}");
    }

    // A second run reuses the cached firmware and counts exactly the same instructions.
    let mut cached = Vec::new();
    let second = run_and_store(&boards, ad01(), config("second", 1, 0), &store_path, |ev| {
        if let RunEvent::BuildFinished { what, cached: c, .. } = ev {
            if what.starts_with("firmware") {
                cached.push(*c);
            }
        }
    })
    .await;
    assert_eq!(failures(&second), Vec::<String>::new());
    assert!(!cached.is_empty() && cached.iter().all(|c| *c), "the second run rebuilt firmware: {cached:?}");

    for b in &boards.boards {
        let a = metric_values(&first, &b.name, Metric::Instructions);
        let c = metric_values(&second, &b.name, Metric::Instructions);
        assert_eq!(a.len(), 2, "{}", b.name);
        assert_eq!(c.len(), 1, "{}", b.name);
        assert!(a[0] > 100_000.0, "{}: implausible count {}", b.name, a[0]);
        assert_eq!(a[0], a[1], "{}: windows of one run differ", b.name);
        assert_eq!(a[0], c[0], "{}: two runs differ", b.name);
        // Latency is derived from the count and the clock, and says so.
        let lat = metric_values(&first, &b.name, Metric::LatencyMs);
        assert_eq!(lat[0], a[0] / b.clock_hz as f64 * 1e3);
        for m in [Metric::FlashBytes, Metric::StaticRamBytes, Metric::StackBytes, Metric::ArenaBytes, Metric::HostUploadMs] {
            let v = metric_values(&first, &b.name, m);
            assert!(!v.is_empty() && v[0] > 0.0, "{}: {m:?} missing", b.name);
        }
    }

    // Every record (the ELF sizes made before the board is heard from too) carries the
    // version and build flags the firmware reports.
    for r in &first {
        assert_eq!(r.provenance.framework_version.as_deref(), Some(env!("CARGO_PKG_VERSION")), "{r:?}");
        let flags = r.provenance.framework_flags().unwrap_or_default();
        assert!(flags.starts_with("rustc ") && flags.contains("opt-level=3"), "{}: {flags}", r.job);
    }

    // Everything went to the store as it arrived.
    let loaded = store::load(&store_path).unwrap();
    assert_eq!(loaded.records.len(), first.len() + second.len());
    assert!(loaded.warnings.is_empty());
    assert_eq!(loaded.records[0].provenance.framework_flags(), first[0].provenance.framework_flags());
}

/// The reference runtime's DSP kernels (asm on these cores) against the TFLite Micro goldens:
/// every MLPerf Tiny model on the Cortex-M4 and the Cortex-M55 (Armv8-M: its own asm
/// flavour), two goldens each, every output byte compared by the firmware's golden check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_four_models_are_bit_exact_on_the_m4_and_m55() {
    let boards = default_boards();
    let dir = tempfile::tempdir().unwrap();
    let sel = Selection { boards: vec!["mps2-an386".into(), "mps3-an547".into()], ..Selection::default() };
    let records = run_and_store(&boards, sel, config("models", 1, 2), &dir.path().join("r.jsonl"), |_| {}).await;
    assert_eq!(failures(&records), Vec::<String>::new());
    let mut seen = std::collections::BTreeMap::new();
    for r in &records {
        if let Entry::Check { check, passed, detail } = &r.entry {
            if check == "golden" {
                assert!(passed, "{}: {detail}", r.job);
                *seen.entry((r.job.board.clone(), r.job.workload.clone())).or_insert(0) += 1;
            }
        }
    }
    for board in ["mps2-an386", "mps3-an547"] {
        for w in ["kws01", "vww01", "ic01", "ad01"] {
            assert_eq!(seen.get(&(board.to_string(), w.to_string())), Some(&2), "{board} {w}: {seen:?}");
        }
    }
}

#[tokio::test]
async fn an_infer_timeout_names_board_job_command_and_budget() {
    let boards = default_boards();
    let dir = tempfile::tempdir().unwrap();
    let sel = Selection { boards: vec!["mps2-an386".into()], workloads: vec!["ad01".into()], ..Selection::default() };
    // No time at all for an inference: the first `infer` must time out.
    let mut cfg = config("infer-timeout", 1, 1);
    cfg.timeouts.infer = Duration::ZERO;
    cfg.timeouts.infer_per_inference = Duration::from_micros(1);
    let records = run_and_store(&boards, sel, cfg, &dir.path().join("r.jsonl"), |_| {}).await;
    let fails = failures(&records);
    assert_eq!(fails.len(), 1, "{fails:?}");
    let f = &fails[0];
    assert!(f.starts_with("mps2-an386 / reference-runtime / ad01: timeout: "), "{f}");
    assert!(f.contains("(board mps2-an386): `infer 1 0` timed out: no reply line within 1µs (0ns + 1 inferences x 1µs;"), "{f}");
    assert!(f.contains("--infer-budget"), "{f}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_qemu_is_reported_and_other_boards_keep_their_results() {
    let boards = default_boards();
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("results.jsonl");
    let victim = "mps2-an500";
    let mut pids = BTreeMap::new();
    let mut killed = false;
    let sel = Selection { workloads: vec!["ad01".into()], ..Selection::default() };
    let records = run_and_store(&boards, sel, config("kill", 2, 10), &store_path, |ev| match ev {
        RunEvent::SessionStarted { job, pid: Some(pid) } => {
            pids.insert(job.board.clone(), *pid);
        }
        // Mid-run: after some golden checks have passed on the victim.
        RunEvent::JobStep { job, step } if job.board == victim && step.contains("seed 3") && !killed => {
            let pid = pids[victim];
            killed = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success();
        }
        _ => {}
    })
    .await;
    assert!(killed, "the test never got to kill QEMU");

    let fails = failures(&records);
    assert_eq!(fails.len(), 1, "{fails:?}");
    assert!(fails[0].starts_with(victim), "{fails:?}");
    assert!(fails[0].contains("QEMU exited"), "the failure names the cause: {fails:?}");
    // What the victim measured before it died is kept.
    let victim_checks = records.iter().filter(|r| r.job.board == victim && matches!(r.entry, Entry::Check { .. })).count();
    assert!(victim_checks >= 3, "checks before the kill were lost: {victim_checks}");
    // The other boards finished their whole jobs.
    for b in boards.boards.iter().filter(|b| b.name != victim) {
        assert_eq!(metric_values(&records, &b.name, Metric::Instructions).len(), 2, "{}", b.name);
    }
    let loaded = store::load(&store_path).unwrap();
    assert_eq!(loaded.records.len(), records.len());
}

#[tokio::test]
async fn a_model_that_does_not_fit_is_refused_before_building() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards.yaml")).unwrap();
    let tiny = text.replace("budget: { flash: 0x200000, ram: 0xA0000, part: STM32L4R5ZI }", "budget: { flash: 0x10000, ram: 0xA0000, part: TINY64K }");
    let boards = BoardsFile::parse(&tiny, Path::new("tiny.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sel = Selection { boards: vec!["mps2-an386".into()], workloads: vec!["ad01".into()], ..Selection::default() };
    let mut builds = 0;
    let records = run_and_store(&boards, sel, config("fit", 1, 0), &dir.path().join("r.jsonl"), |ev| {
        if matches!(ev, RunEvent::BuildStarted { what } if what.starts_with("firmware")) {
            builds += 1;
        }
    })
    .await;
    let fails = failures(&records);
    assert_eq!(fails.len(), 1, "{fails:?}");
    assert!(fails[0].contains(": fit: does not fit mps2-an386 (TINY64K budget)"), "{fails:?}");
    assert!(fails[0].contains("65536"), "the error states the budget: {fails:?}");
    assert_eq!(builds, 0);
}
