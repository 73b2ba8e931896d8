//! The TensorFlow Lite Micro adapter end to end: kws01's unchanged .tflite run by TFLM 2020
//! (the tfmicro crate's C++ sources, built with arm-none-eabi-g++ -O3 -DNDEBUG) on the
//! Cortex-M4 board under QEMU, through the protocol. TFLM made the goldens (its Python
//! interpreter), so the outputs must be bit exact.
//!
//! Needs qemu-system-arm 10, arm-none-eabi-g++ with newlib, and the tfmicro 0.1.0 crate in
//! cargo's registry (fetched by the adapter's build script if missing).
use std::path::Path;
use std::time::Duration;

use mcubench::build::Paths;
use mcubench::config::BoardsFile;
use mcubench::plan::{self, Selection};
use mcubench::results::{Entry, Metric, ResultRecord};
use mcubench::runner::{self, RunConfig, Timeouts};

fn boards() -> BoardsFile {
    BoardsFile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards.yaml")).unwrap()
}

async fn run(golden_checks: usize) -> Vec<ResultRecord> {
    run_on("mps2-an386", golden_checks).await
}

async fn run_on(board: &str, golden_checks: usize) -> Vec<ResultRecord> {
    let sel = Selection {
        boards: vec![board.into()],
        frameworks: vec!["tflite-micro".into()],
        workloads: vec!["kws01".into()],
    };
    let jobs = plan::plan(&boards(), "boards.yaml", &sel).unwrap();
    let cfg = RunConfig {
        paths: Paths::from_env(),
        run_id: "tflm-test".into(),
        runs: Some(1),
        warmups: Some(0),
        windows: 1,
        golden_checks,
        use_plugin: true,
        // The first build of TFLM's library takes about a minute on two cores.
        timeouts: Timeouts { job: Duration::from_secs(300), ..Timeouts::default() },
        limits: Default::default(),
        farm: Default::default(),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(runner::run(jobs, cfg, tx));
    let mut records = Vec::new();
    while let Some(ev) = rx.recv().await {
        if let mcubench::events::RunEvent::Record(r) = ev {
            records.push(*r);
        }
    }
    task.await.unwrap().unwrap();
    records
}

fn metric(records: &[ResultRecord], m: Metric) -> Option<f64> {
    records.iter().find_map(|r| r.metric().filter(|x| x.0 == m).map(|x| x.1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tflite_micro_runs_kws01_on_the_m4_bit_exact() {
    let records = run(2).await;
    let failures: Vec<String> = records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Failure { stage, message } => Some(format!("{stage}: {message}")),
            _ => None,
        })
        .collect();
    assert_eq!(failures, Vec::<String>::new());

    // Bit exact against the TFLM goldens.
    let checks: Vec<(bool, String)> = records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Check { check, passed, detail } if check == "golden" => Some((*passed, detail.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(checks.len(), 2, "{checks:?}");
    assert!(checks.iter().all(|(passed, _)| *passed), "not bit exact: {checks:?}");

    // A measured count: ~82 M instructions per inference on the M4 (TFLM 2020's reference
    // kernels); far off means a broken build (e.g. TFLM's debug checks left on: about 2x).
    let instructions = metric(&records, Metric::Instructions).expect("an instruction count");
    assert!((4e7..1.6e8).contains(&instructions), "implausible count {instructions}");

    // The arena: the smallest one AllocateTensors accepted (found by the firmware at boot),
    // a multiple of 16, more than the activations alone (TFLM keeps its tensor structs and
    // per-channel parameters there too), and inside the static reserve.
    let arena = metric(&records, Metric::ArenaBytes).expect("an arena figure");
    let static_ram = metric(&records, Metric::StaticRamBytes).expect("static RAM");
    assert_eq!(arena % 16.0, 0.0, "{arena}");
    assert!((20_000.0..60_000.0).contains(&arena), "implausible arena {arena}");
    assert!(arena < static_ram, "arena {arena} >= static RAM {static_ram}");
    assert!(metric(&records, Metric::FlashBytes).is_some());

    // Provenance as the firmware reports it, on every record: TFLM's source date and the
    // compiler flags for the board's core.
    for r in &records {
        let v = r.provenance.framework_version.as_deref().unwrap_or_default();
        assert!(v.starts_with("2020-07-12 (tensorflow "), "{v}");
        let flags = r.provenance.framework_flags().unwrap_or_default();
        assert!(flags.starts_with("arm-none-eabi-g++ ") && flags.contains(" -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 "), "{flags}");
    }
}

/// The Cortex-M7 board gets a TFLM compiled for the M7 (not the M4 build of the same Rust
/// target), with the single-precision FPU of the hard-float ABI, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tflite_micro_is_compiled_for_the_boards_core() {
    let records = run_on("mps2-an500", 1).await;
    let failures: Vec<String> = records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Failure { stage, message } => Some(format!("{stage}: {message}")),
            _ => None,
        })
        .collect();
    assert_eq!(failures, Vec::<String>::new());
    assert!(records.iter().any(|r| matches!(&r.entry, Entry::Check { passed: true, .. })), "not bit exact on the M7");
    for r in &records {
        let flags = r.provenance.framework_flags().unwrap_or_default();
        assert!(flags.contains(" -mcpu=cortex-m7 -mthumb -mfloat-abi=hard -mfpu=fpv5-sp-d16 "), "{flags}");
        assert!(!flags.contains("cortex-m4"), "{flags}");
    }
}
