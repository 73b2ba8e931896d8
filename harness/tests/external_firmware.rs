//! External firmware (`mcubench run --firmware ELF --framework-name NAME`): a prebuilt ELF run
//! as it is. Two firmwares stand in for vendor builds:
//!
//! * our own firmware, built once and handed over as a file: it has every mcubench extension,
//!   so everything is measured, and the figures equal those of the same firmware built by
//!   the harness;
//! * a copy of it with the extensions taken out (the `dbg` window markers turned into NOPs, the
//!   `m-mcubench-*` lines renamed so no parser knows them): like a vendor build that speaks
//!   only the MLPerf Tiny protocol. Sizes and the `m-lap-us` latency are measured; instructions,
//!   golden checks, stack and arena are listed as not measured, and the job still passes.
//!
//! Needs qemu-system-arm and the firmware targets (scripts/setup.sh installs both).
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mcubench::build::{self, Paths};
use mcubench::config::BoardsFile;
use mcubench::events::RunEvent;
use mcubench::plan::{self, ExternalFirmware, Selection};
use mcubench::results::{Entry, Metric, ResultRecord, Source};
use mcubench::runner::{self, RunConfig, Timeouts};
use object::{Object, ObjectSection, SectionKind};

const BOARD: &str = "mps2-an386";
const WORKLOAD: &str = "kws01";

fn default_boards() -> BoardsFile {
    BoardsFile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards.yaml")).unwrap()
}

fn config(run_id: &str, golden_checks: usize) -> RunConfig {
    RunConfig {
        paths: Paths::from_env(),
        run_id: run_id.into(),
        runs: Some(2),
        warmups: Some(0),
        windows: 2,
        golden_checks,
        use_plugin: true,
        timeouts: Timeouts { job: Duration::from_secs(240), ..Timeouts::default() },
        limits: Default::default(),
        farm: Default::default(),
    }
}

/// Our reference-runtime firmware for kws01 on the M4 board, built (or found in the cache) by
/// the harness's own build step.
async fn build_ours() -> PathBuf {
    let paths = Paths::from_env();
    let boards = default_boards();
    let board = boards.find(BOARD).unwrap().clone();
    let w = mcubench_workloads::workload::by_id(WORKLOAD).unwrap();
    let model = build::model::prepare(w, &paths.models, &paths.cache).unwrap();
    let fw = plan::framework(plan::REFERENCE_RUNTIME).unwrap();
    let rustc = build::firmware::rustc_version().await;
    build::firmware::build(&paths.root, &paths.cache, &board, w, fw, &model, &rustc).await.unwrap().elf
}

async fn run(jobs: Vec<plan::Job>, cfg: RunConfig) -> (Vec<ResultRecord>, Vec<String>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let run = tokio::spawn(runner::run(jobs, cfg, tx));
    let (mut records, mut steps) = (Vec::new(), Vec::new());
    while let Some(ev) = rx.recv().await {
        match ev {
            RunEvent::Record(r) => records.push(*r),
            RunEvent::JobStep { step, .. } => steps.push(step),
            _ => {}
        }
    }
    run.await.unwrap().unwrap();
    (records, steps)
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

fn values(records: &[ResultRecord], metric: Metric) -> Vec<(f64, Source)> {
    records.iter().filter_map(|r| r.metric().filter(|m| m.0 == metric).map(|m| (m.1, m.2))).collect()
}

/// A copy of `elf` without the mcubench extensions: `dbg #1`/`dbg #2` in the code become
/// `nop.w`, and `m-mcubench-` in the data becomes `m-vendorfw-` (same length, so nothing
/// moves).
fn strip_extensions(elf: &Path, out: &Path) {
    let mut bytes = std::fs::read(elf).unwrap();
    let text_ranges: Vec<(usize, usize)> = {
        let file = object::File::parse(&*bytes).unwrap();
        file.sections()
            .filter(|s| s.kind() == SectionKind::Text)
            .filter_map(|s| s.file_range().map(|(o, n)| (o as usize, (o + n) as usize)))
            .collect()
    };
    let mut markers = 0;
    for (start, end) in text_ranges {
        let mut at = start;
        while at + 4 <= end {
            if bytes[at..at + 2] == [0xAF, 0xF3] && bytes[at + 3] == 0x80 && matches!(bytes[at + 2], 0xF1 | 0xF2) {
                bytes[at + 2] = 0x00; // dbg #n -> nop.w
                markers += 1;
            }
            at += 2;
        }
    }
    assert!(markers >= 2, "the firmware had {markers} window markers");
    let (from, to) = (b"m-mcubench-", b"m-vendorfw-");
    let mut renamed = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + to.len()].copy_from_slice(to);
            renamed += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(renamed >= 4, "renamed only {renamed} m-mcubench- strings");
    std::fs::write(out, bytes).unwrap();
}

fn mcubench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mcubench")).args(args).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_firmware_as_external_is_measured_like_the_built_one() {
    let built = build_ours().await;
    let dir = tempfile::tempdir().unwrap();
    let elf = dir.path().join("prebuilt.elf");
    std::fs::copy(&built, &elf).unwrap();
    let boards = default_boards();
    let sel = Selection { boards: vec![BOARD.into()], workloads: vec![WORKLOAD.into()], ..Selection::default() };

    let ext = ExternalFirmware { elf: elf.clone(), name: "prebuilt".into() };
    let jobs = plan::plan_external(&boards, "boards.yaml", &sel, &ext).unwrap();
    assert_eq!(jobs.len(), 1);
    let (records, steps) = run(jobs, config("ext-ours", 2)).await;
    assert_eq!(failures(&records), Vec::<String>::new());
    assert!(records.iter().all(|r| r.job.framework == "prebuilt"));
    // The version and flags are what the firmware itself reports (ours does).
    assert!(records.iter().all(|r| r.provenance.framework_version.as_deref() == Some(env!("CARGO_PKG_VERSION"))), "the version the firmware reports");
    assert!(records.iter().all(|r| r.provenance.framework_flags().is_some_and(|f| f.starts_with("rustc "))));
    assert!(!steps.iter().any(|s| s.starts_with(runner::external::NOT_MEASURED)), "everything is measurable: {steps:?}");

    // Golden checks run: the firmware reports its output.
    let checks: Vec<bool> = records.iter().filter_map(|r| match &r.entry {
        Entry::Check { check, passed, .. } if check == "golden" => Some(*passed),
        _ => None,
    }).collect();
    assert_eq!(checks, vec![true, true]);
    // No runtime-format model size: the harness did not build or embed anything.
    assert!(values(&records, Metric::ModelBytes).is_empty());
    for m in [Metric::FlashBytes, Metric::StaticRamBytes, Metric::StackBytes, Metric::ArenaBytes, Metric::Macs] {
        assert!(!values(&records, m).is_empty(), "{m:?} missing");
    }

    // The same firmware built and run as a framework counts the same instructions.
    let jobs = plan::plan(&boards, "boards.yaml", &sel).unwrap();
    let (own, _) = run(jobs, config("ext-ours-built", 0)).await;
    assert_eq!(failures(&own), Vec::<String>::new());
    let a = values(&records, Metric::Instructions);
    let b = values(&own, Metric::Instructions);
    assert_eq!(a.len(), 2);
    assert!(a[0].0 > 100_000.0);
    assert_eq!(a[0], b[0], "external and built firmware count differently");
    assert_eq!(values(&records, Metric::FlashBytes), values(&own, Metric::FlashBytes));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firmware_without_extensions_is_measured_as_far_as_the_protocol_allows() {
    let built = build_ours().await;
    let dir = tempfile::tempdir().unwrap();
    let vendor = dir.path().join("vendor.elf");
    strip_extensions(&built, &vendor);
    assert!(!runner::external::has_window_markers(&vendor).unwrap());
    assert!(runner::external::has_window_markers(&built).unwrap());

    let boards = default_boards();
    let sel = Selection { boards: vec![BOARD.into()], workloads: vec![WORKLOAD.into()], ..Selection::default() };
    let ext = ExternalFirmware { elf: vendor.clone(), name: "vendor".into() };
    let jobs = plan::plan_external(&boards, "boards.yaml", &sel, &ext).unwrap();
    let (records, steps) = run(jobs, config("ext-vendor", 2)).await;
    assert_eq!(failures(&records), Vec::<String>::new());

    // Not measurable, and said so.
    assert!(!records.iter().any(|r| matches!(r.entry, Entry::Check { .. })), "no golden check without an output line");
    for m in [Metric::Instructions, Metric::StackBytes, Metric::ArenaBytes, Metric::ModelBytes] {
        assert!(values(&records, m).is_empty(), "{m:?} cannot be measured here");
    }
    let na: Vec<&String> = steps.iter().filter(|s| s.starts_with(runner::external::NOT_MEASURED)).collect();
    for what in ["golden check: firmware does not report its output", "instructions:", "stack:", "arena:"] {
        assert!(na.iter().any(|s| s.contains(what)), "no n/a for {what}: {na:?}");
    }

    // Measured: sizes from the ELF, latency from the DUT timer.
    for m in [Metric::FlashBytes, Metric::StaticRamBytes, Metric::DeviceTimerUs] {
        assert!(!values(&records, m).is_empty(), "{m:?} missing");
    }
    let latency = values(&records, Metric::LatencyMs);
    assert_eq!(latency.len(), 2);
    assert_eq!(latency[0].1, Source::Modeled);

    // The m-lap-us bracket holds the same inferences the counted windows hold (plus the
    // input copies and loop): within a few percent of the exact count.
    let own = {
        let jobs = plan::plan(&boards, "boards.yaml", &sel).unwrap();
        run(jobs, config("ext-vendor-built", 0)).await.0
    };
    let counted = values(&own, Metric::LatencyMs)[0].0;
    let ratio = latency[0].0 / counted;
    assert!((0.99..1.05).contains(&ratio), "m-lap-us latency {} ms vs counted {counted} ms", latency[0].0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_what_an_external_firmware_cannot_measure() {
    let built = build_ours().await;
    let dir = tempfile::tempdir().unwrap();
    let vendor = dir.path().join("acme-kws.elf");
    strip_extensions(&built, &vendor);
    let store = dir.path().join("r.jsonl");
    let out = mcubench(&[
        "run", "--firmware", vendor.to_str().unwrap(), "-w", WORKLOAD, "--board", BOARD,
        "--golden-checks", "1", "--windows", "1", "--runs", "1", "--warmups", "0",
        "--store", store.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    // The framework name defaults to the file name.
    assert!(stdout.contains("acme-kws"), "{stdout}");
    assert!(stdout.contains("not measured"), "{stdout}");
    assert!(stdout.contains("golden check: firmware does not report its output"), "{stdout}");
    assert!(stdout.contains("instructions: the firmware has no dbg #1/#2 window markers"), "{stdout}");
}

#[test]
fn external_firmware_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fw.elf");
    std::fs::write(&fake, b"not an elf").unwrap();
    let f = fake.to_str().unwrap();
    let store = dir.path().join("r.jsonl");
    let s = store.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--firmware", f, "--store", s], "exactly one --workload"),
        (&["run", "--firmware", f, "-w", "kws01", "-w", "ad01", "--store", s], "exactly one --workload"),
        (&["run", "--firmware", f, "--framework", "microflow", "-w", "kws01", "--store", s], "cannot be used with"),
        (&["run", "--framework-name", "x", "-w", "kws01", "--store", s], "--firmware"),
        (&["run", "--firmware", f, "--framework-name", "reference-runtime", "-w", "kws01", "--store", s], "a framework mcubench builds"),
        (&["run", "--firmware", "/nonexistent/fw.elf", "-w", "kws01", "--store", s], "no such file"),
    ];
    for (args, want) in cases {
        let out = mcubench(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    // A file that is not an ELF fails its job (exit 1) with a message that says what to pass.
    let out = mcubench(&["run", "--firmware", f, "-w", "kws01", "--board", BOARD, "--store", s]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("is not an ELF file"), "{stdout}");
}

/// A board in boards.yaml can name its own prebuilt firmware (`firmware: {elf, framework,
/// workload}`): the planner runs it in place of built frameworks, as `--firmware` would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_boards_file_can_name_a_boards_prebuilt_firmware() {
    let built = build_ours().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&built, dir.path().join("vendor.elf")).unwrap();
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards.yaml")).unwrap();
    let entry = format!("    support: mps2\n    firmware: {{ elf: vendor.elf, framework: vendor-fw, workload: {WORKLOAD} }}\n");
    let farm = dir.path().join("farm.yaml");
    std::fs::write(&farm, text.replacen("    support: mps2\n", &entry, 1)).unwrap();
    let boards = BoardsFile::load(&farm).unwrap();
    assert_eq!(boards.find(BOARD).unwrap().firmware.as_ref().unwrap().elf, dir.path().join("vendor.elf"));

    // The board runs its firmware whatever --framework says; the other boards build theirs.
    let sel = Selection { frameworks: vec!["reference-runtime".into()], ..Selection::default() };
    let jobs = plan::plan(&boards, "farm.yaml", &Selection { workloads: vec![WORKLOAD.into()], ..sel.clone() }).unwrap();
    let ours: Vec<_> = jobs.iter().filter(|j| j.board.name == BOARD).collect();
    assert_eq!(ours.len(), 1);
    assert_eq!((ours[0].framework.as_str(), ours[0].workload.id), ("vendor-fw", WORKLOAD));
    assert!(jobs.iter().filter(|j| j.board.name != BOARD).all(|j| j.external.is_none() && j.framework == "reference-runtime"));
    // Selecting another workload leaves the board out; nothing left is an error.
    let only = |w: &str| Selection { boards: vec![BOARD.into()], workloads: vec![w.into()], ..Selection::default() };
    assert!(matches!(plan::plan(&boards, "farm.yaml", &only("ad01")), Err(plan::PlanError::Empty)));
    // Without firmware.workload, the run must pick exactly one.
    let no_w = BoardsFile::parse(&text.replacen("    support: mps2\n", "    support: mps2\n    firmware: { elf: vendor.elf, framework: vendor-fw }\n", 1), &farm).unwrap();
    let two = Selection { boards: vec![BOARD.into()], workloads: vec!["ad01".into(), "kws01".into()], ..Selection::default() };
    let e = plan::plan(&no_w, "farm.yaml", &two).unwrap_err().to_string();
    assert!(e.contains("farm.yaml: board 'mps2-an386': field 'firmware.workload'") && e.contains("ad01, kws01"), "{e}");
    // --firmware on the command line replaces the board's.
    let cli = ExternalFirmware { elf: built.clone(), name: "cli-fw".into() };
    let jobs = plan::plan_external(&boards, "farm.yaml", &only(WORKLOAD), &cli).unwrap();
    assert_eq!(jobs[0].framework, "cli-fw");

    let jobs = plan::plan(&boards, "farm.yaml", &Selection { boards: vec![BOARD.into()], ..Selection::default() }).unwrap();
    let (records, _) = run(jobs, config("ext-boards-file", 1)).await;
    assert_eq!(failures(&records), Vec::<String>::new());
    assert!(records.iter().all(|r| r.job.framework == "vendor-fw" && r.job.workload == WORKLOAD));
    assert_eq!(values(&records, Metric::Instructions).len(), 2);
    assert!(records.iter().any(|r| matches!(&r.entry, Entry::Check { passed: true, .. })));
}
