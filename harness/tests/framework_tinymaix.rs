//! The TinyMaix adapter end to end: kws01 converted by our converter, TinyMaix's C runtime
//! built for the Cortex-M4 board with its ARM SIMD kernels, run on QEMU through the protocol.
//!
//! TinyMaix requantizes in float32 and truncates, so it is not bit exact against TFLite Micro:
//! the test pins how close it is (softmax outputs a few LSB apart on a few of 12 classes).
//! Also: a missing TinyMaix source path fails the build with the documented message.
//!
//! Needs qemu-system-arm 10, arm-none-eabi-gcc and ../shared/vendor/TinyMaix (or
//! MCUBENCH_TINYMAIX_DIR).
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
    let sel = Selection {
        boards: vec!["mps2-an386".into()],
        frameworks: vec!["tinymaix".into()],
        workloads: vec!["kws01".into()],
    };
    let jobs = plan::plan(&boards(), "boards.yaml", &sel).unwrap();
    let cfg = RunConfig {
        paths: Paths::from_env(),
        run_id: "tinymaix-test".into(),
        runs: Some(1),
        warmups: Some(0),
        windows: 1,
        golden_checks,
        use_plugin: true,
        timeouts: Timeouts { job: Duration::from_secs(120), ..Timeouts::default() },
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

fn failures(records: &[ResultRecord]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Failure { stage, message } => Some(format!("{stage}: {message}")),
            _ => None,
        })
        .collect()
}

fn metric(records: &[ResultRecord], m: Metric) -> Option<f64> {
    records.iter().find_map(|r| r.metric().filter(|x| x.0 == m).map(|x| x.1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tinymaix_runs_kws01_on_the_m4_with_known_agreement() {
    let vendor = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vendor/TinyMaix");
    if std::env::var_os("MCUBENCH_TINYMAIX_DIR").is_none() && !vendor.exists() {
        println!("SKIP: no TinyMaix sources at {}", vendor.display());
        return;
    }

    // A missing source path: the build fails and says how to get the sources. (The path is
    // part of the firmware cache key, so no cached firmware hides this.)
    let saved = std::env::var_os("MCUBENCH_TINYMAIX_DIR");
    std::env::set_var("MCUBENCH_TINYMAIX_DIR", "/nonexistent/TinyMaix");
    let records = run(0).await;
    match saved {
        Some(v) => std::env::set_var("MCUBENCH_TINYMAIX_DIR", v),
        None => std::env::remove_var("MCUBENCH_TINYMAIX_DIR"),
    }
    let fails = failures(&records);
    assert_eq!(fails.len(), 1, "{fails:?}");
    assert!(fails[0].starts_with("build: "), "{fails:?}");
    for want in ["TinyMaix sources not found", "/nonexistent/TinyMaix", "git clone https://github.com/sipeed/TinyMaix", "MCUBENCH_TINYMAIX_DIR"] {
        assert!(fails[0].contains(want), "missing {want:?} in {fails:?}");
    }

    // The real thing.
    let records = run(3).await;
    assert_eq!(failures(&records), Vec::<String>::new());
    let instructions = metric(&records, Metric::Instructions).expect("an instruction count");
    // ~12.4 M on the M4 (4.7 instructions per MAC); a count far off means a broken build.
    assert!((5e6..3e7).contains(&instructions), "implausible count {instructions}");
    // The arena is TinyMaix's main buffer as the converter planned it (ping-pong, 2 x 8000 B).
    assert_eq!(metric(&records, Metric::ArenaBytes), Some(16_000.0));
    assert!(metric(&records, Metric::FlashBytes).is_some() && metric(&records, Metric::StaticRamBytes).is_some());

    // Agreement with the TFLite Micro goldens: not bit exact, but close.
    let checks: Vec<(bool, String)> = records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Check { check, passed, detail } if check == "golden" => Some((*passed, detail.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(checks.len(), 3);
    let mut differing = Vec::new();
    for (passed, detail) in &checks {
        // "seed N: K of 12 output bytes differ, max |diff| D, top-1 match|differs"
        let d = mcubench::results::GoldenDetail::parse(detail).unwrap_or_else(|| panic!("unparsable detail: {detail}"));
        assert_eq!(d.total, 12, "{detail}");
        assert_eq!(*passed, d.differing == 0);
        assert_eq!(d.max_abs_diff == 0, d.differing == 0, "{detail}");
        assert!(d.top1.is_some(), "kws01 is a classifier: {detail}");
        differing.push(d.differing);
    }
    println!("kws01 on TinyMaix: output bytes differing from TFLM per golden: {differing:?}");
    assert!(differing.iter().all(|&k| k <= 6), "TinyMaix drifted further from TFLM than expected: {checks:?}");
    assert!(differing.iter().any(|&k| k > 0), "TinyMaix became bit exact with TFLM? {checks:?}");
}
