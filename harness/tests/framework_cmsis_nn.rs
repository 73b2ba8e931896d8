//! The CMSIS-NN framework adapter (targets/adapters/cmsis-nn) end to end: firmware built with
//! Arm's CMSIS-NN kernels (from `MCUBENCH_CMSIS_NN_DIR`, else ../shared/vendor/CMSIS-NN), run
//! on an emulated board, outputs checked against the TFLite Micro goldens.
//!
//! Needs qemu-system-arm 10, arm-none-eabi-gcc and the firmware targets (scripts/setup.sh).
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mcubench::build::Paths;
use mcubench::config::BoardsFile;
use mcubench::plan::{self, Selection};
use mcubench::results::{Entry, Metric, ResultRecord};
use mcubench::runner::{self, RunConfig, Timeouts};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

async fn run(sel: Selection, golden_checks: usize) -> Vec<ResultRecord> {
    let boards = BoardsFile::load(&root().join("boards.yaml")).unwrap();
    let cfg = RunConfig {
        paths: Paths::from_env(),
        run_id: "framework-cmsis-nn-test".into(),
        runs: Some(1),
        warmups: Some(0),
        windows: 1,
        golden_checks,
        use_plugin: true,
        timeouts: Timeouts { job: Duration::from_secs(240), ..Timeouts::default() },
        limits: Default::default(),
        farm: Default::default(),
    };
    let jobs = plan::plan(&boards, "boards.yaml", &sel).unwrap();
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

fn metric(records: &[ResultRecord], workload: &str, m: Metric) -> Option<f64> {
    records
        .iter()
        .filter(|r| r.job.workload == workload)
        .find_map(|r| r.metric().filter(|x| x.0 == m).map(|x| x.1))
}

/// kws01 (CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, RESHAPE, FULLY_CONNECTED, SOFTMAX) and
/// ic01 (adds ADD, strided 1x1 convolutions) with CMSIS-NN's DSP kernels on the Cortex-M4:
/// bit exact with TFLite Micro on every golden checked, instructions counted, the scratch
/// buffer included in the arena figure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cmsis_nn_runs_kws01_and_ic01_bit_exact_on_cortex_m4() {
    assert!(plan::framework("cmsis-nn").is_some(), "cmsis-nn is not in the framework registry");
    let sel = Selection {
        boards: vec!["mps2-an386".into()],
        frameworks: vec!["cmsis-nn".into()],
        workloads: vec!["kws01".into(), "ic01".into()],
    };
    let records = run(sel, 3).await;
    let failures: Vec<String> = records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Failure { stage, message } => Some(format!("{}: {stage}: {message}", r.job)),
            _ => None,
        })
        .collect();
    assert_eq!(failures, Vec::<String>::new());

    for w in ["kws01", "ic01"] {
        let checks: Vec<(bool, String)> = records
            .iter()
            .filter(|r| r.job.workload == w && r.job.framework == "cmsis-nn")
            .filter_map(|r| match &r.entry {
                Entry::Check { check, passed, detail } if check == "golden" => Some((*passed, detail.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(checks.len(), 3, "{w}: golden checks");
        for (passed, detail) in &checks {
            // CMSIS-NN is bit exact with TFLM's reference kernels on these models, softmax
            // included.
            assert!(passed, "{w}: {detail}");
        }
        let macs = metric(&records, w, Metric::Macs).unwrap();
        let instructions = metric(&records, w, Metric::Instructions).expect("instructions counted");
        // Sanity band for DSP kernels on a Cortex-M4: well under 10 and over 0.5 instructions
        // per MAC (measured: ~3.0 kws01, ~2.5 ic01).
        let per_mac = instructions / macs;
        assert!((0.5..10.0).contains(&per_mac), "{w}: {per_mac} instructions per MAC");
        // Arena = the importer's activation plan + CMSIS-NN's scratch (kws01 256 B for the
        // average pool's accumulators, ic01 2304 B for the 3x3 convolutions' im2col buffer).
        let arena = metric(&records, w, Metric::ArenaBytes).expect("arena reported");
        let plan_bytes = match w {
            "kws01" => 16000.0,
            _ => 49152.0,
        };
        assert!(arena > plan_bytes, "{w}: arena {arena} does not include the scratch buffer");
        assert!(metric(&records, w, Metric::StackBytes).is_some_and(|s| s > 0.0), "{w}: stack");
        assert!(metric(&records, w, Metric::FlashBytes).is_some_and(|s| s > 0.0), "{w}: flash");
    }
    // The version from CMSIS-NN's header and commit, and the DSP build for the M4, on every record.
    for r in records.iter().filter(|r| r.job.framework == "cmsis-nn") {
        let v = r.provenance.framework_version.as_deref().unwrap_or_default();
        assert!(v.contains('.') && v.contains(" ("), "{v}");
        let flags = r.provenance.framework_flags().unwrap_or_default();
        assert!(flags.starts_with("dsp, arm-none-eabi-gcc ") && flags.contains("-mcpu=cortex-m4 "), "{flags}");
    }
}

/// A missing CMSIS-NN checkout stops the build with the documented message (where to get the
/// sources, which setting to use).
#[test]
fn missing_cmsis_nn_source_gives_the_documented_error() {
    // A target dir of its own in the harness cache (kept: later runs only re-run the build
    // script that fails).
    let target_dir = Paths::from_env().cache.join("target/test-cmsis-nn-missing-source");
    let missing = target_dir.join("no-such-CMSIS-NN");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // As the harness does: no cargo settings of this test process leak into the nested build.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("CARGO_") && k != "CARGO_HOME" || k == "RUSTFLAGS" || k.starts_with("RUSTC") && k != "RUSTUP_TOOLCHAIN" {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .current_dir(root().join("targets/firmware"))
        .args(["build", "--release", "--target", "thumbv7em-none-eabihf"])
        .args(["--features", "board-mps2,framework-cmsis-nn,no-model"])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("MCUBENCH_CMSIS_NN_DIR", &missing)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the build succeeded without CMSIS-NN sources");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "CMSIS-NN sources not found",
        "no-such-CMSIS-NN",
        "git clone https://github.com/ARM-software/CMSIS-NN",
        "MCUBENCH_CMSIS_NN_DIR",
    ] {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
}
