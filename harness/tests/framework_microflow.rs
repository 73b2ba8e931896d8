//! The microflow adapter end to end: kws01's unchanged .tflite compiled into Rust by
//! microflow 0.1.3's `#[model]` proc macro (targets/adapters/microflow), run on the Cortex-M4
//! board under QEMU through the protocol; and ic01, whose ADD microflow lacks, reported as
//! `unsupported: ADD` without building anything.
//!
//! Needs qemu-system-arm 10 and the thumbv7em target; microflow comes from crates.io.
use std::path::Path;
use std::time::Duration;

use mcubench::build::Paths;
use mcubench::config::BoardsFile;
use mcubench::events::RunEvent;
use mcubench::plan::{self, Selection};
use mcubench::results::{Entry, Metric, ResultRecord};
use mcubench::runner::{self, RunConfig, Timeouts};

fn boards() -> BoardsFile {
    BoardsFile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards.yaml")).unwrap()
}

/// Runs microflow on `workload` on the M4 board; returns the records and how many firmware
/// builds started.
async fn run(workload: &str, golden_checks: usize) -> (Vec<ResultRecord>, usize) {
    let sel = Selection {
        boards: vec!["mps2-an386".into()],
        frameworks: vec!["microflow".into()],
        workloads: vec![workload.into()],
    };
    let jobs = plan::plan(&boards(), "boards.yaml", &sel).unwrap();
    let cfg = RunConfig {
        paths: Paths::from_env(),
        run_id: format!("microflow-test-{workload}"),
        runs: Some(1),
        warmups: Some(0),
        windows: 1,
        golden_checks,
        use_plugin: true,
        // A first build compiles nalgebra, the macro crates and the model (a few minutes on
        // two cores); one kws01 inference is ~75 M instructions.
        timeouts: Timeouts { job: Duration::from_secs(300), ..Timeouts::default() },
        limits: Default::default(),
        farm: Default::default(),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(runner::run(jobs, cfg, tx));
    let (mut records, mut builds) = (Vec::new(), 0);
    while let Some(ev) = rx.recv().await {
        match ev {
            RunEvent::Record(r) => records.push(*r),
            RunEvent::BuildStarted { what } if what.starts_with("firmware") => builds += 1,
            _ => {}
        }
    }
    task.await.unwrap().unwrap();
    (records, builds)
}

fn metric(records: &[ResultRecord], m: Metric) -> Option<f64> {
    records.iter().find_map(|r| r.metric().filter(|x| x.0 == m).map(|x| x.1))
}

fn failures(records: &[ResultRecord]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Failure { stage, message } => Some(format!("{stage}: {message}")),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microflow_runs_kws01_on_the_m4() {
    let (records, _) = run("kws01", 2).await;
    assert_eq!(failures(&records), Vec::<String>::new());
    assert!(records.iter().all(|r| r.provenance.framework_version.as_deref() == Some(plan::MICROFLOW_VERSION)));

    // Output agreement with the TFLM goldens. microflow requantizes in f32, not with TFLM's
    // fixed-point multipliers, so bit exactness is not a given; on kws01 (softmax output,
    // 1/256 steps) both checked goldens agree byte for byte, and the engine is deterministic.
    let checks: Vec<(bool, String)> = records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Check { check, passed, detail } if check == "golden" => Some((*passed, detail.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(checks.len(), 2, "{checks:?}");
    assert!(checks.iter().all(|(passed, _)| *passed), "{checks:?}");

    // A measured count: ~75 M instructions per inference on the M4 (generic nalgebra loops,
    // f32 requantization per output); far off means a broken build.
    let instructions = metric(&records, Metric::Instructions).expect("an instruction count");
    assert!((3e7..1.5e8).contains(&instructions), "implausible count {instructions}");

    // No arena and no blob: the activations live on the stack, the weights in code/consts.
    assert_eq!(metric(&records, Metric::ArenaBytes), Some(0.0));
    assert_eq!(metric(&records, Metric::ModelBytes), None);
    let stack = metric(&records, Metric::StackBytes).expect("a stack figure");
    assert!(stack > 16_000.0, "kws01's activations (16 KB+) should be on the stack: {stack}");
    assert!(metric(&records, Metric::FlashBytes).is_some());
}

#[tokio::test]
async fn ic01_is_unsupported_add_without_a_build() {
    let (records, builds) = run("ic01", 0).await;
    let fails = failures(&records);
    assert_eq!(fails, vec!["unsupported: unsupported: ADD".to_string()]);
    assert_eq!(builds, 0);
}

/// The registry's operator list is the one the adapter's build script checks and the one its
/// library documents.
#[test]
fn operator_lists_agree() {
    let fw = plan::framework("microflow").unwrap();
    let ops = fw.supported_ops.expect("microflow lists its operators");
    assert_eq!(ops, plan::MICROFLOW_OPS);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../targets/adapters/microflow");
    for file in ["build.rs", "src/lib.rs"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let key = "SUPPORTED_OPS: &[&str] =";
        let start = text.find(key).unwrap_or_else(|| panic!("{file}: no SUPPORTED_OPS")) + key.len();
        let list = &text[start..start + text[start..].find(']').unwrap() + 1];
        let listed: Vec<&str> = list.split('"').skip(1).step_by(2).collect();
        assert_eq!(listed, ops, "{file}");
    }
}
