//! One framework failing does not stop the others: with CMSIS-NN's sources pointed at a
//! directory that does not exist, the CMSIS-NN job fails at its build (the failure names the
//! missing source), and the reference runtime's job on the same board, in the same run, is
//! built, run and checked as usual. Its own test binary: it sets a process-wide variable.
//!
//! Needs qemu-system-arm 10 and the firmware targets (scripts/setup.sh).
use std::path::Path;
use std::time::Duration;

use mcubench::build::Paths;
use mcubench::config::BoardsFile;
use mcubench::plan::{self, Selection};
use mcubench::results::{Entry, Metric, ResultRecord};
use mcubench::runner::{self, RunConfig, Timeouts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_framework_that_fails_to_build_does_not_stop_the_others() {
    let missing = tempfile::tempdir().unwrap().path().join("no-CMSIS-NN-here");
    // SAFETY: this test binary has only this test; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("MCUBENCH_CMSIS_NN_DIR", &missing) };
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let boards = BoardsFile::load(&root.join("boards.yaml")).unwrap();
    let sel = Selection {
        boards: vec!["mps2-an386".into()],
        frameworks: vec!["cmsis-nn".into(), "reference-runtime".into()],
        workloads: vec!["ad01".into()],
    };
    let cfg = RunConfig {
        paths: Paths::from_env(),
        run_id: "framework-isolation-test".into(),
        runs: Some(1),
        warmups: Some(0),
        windows: 1,
        golden_checks: 2,
        use_plugin: true,
        timeouts: Timeouts { job: Duration::from_secs(240), ..Timeouts::default() },
        limits: Default::default(),
        farm: Default::default(),
    };
    let jobs = plan::plan(&boards, "boards.yaml", &sel).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(runner::run(jobs, cfg, tx));
    let mut records: Vec<ResultRecord> = Vec::new();
    while let Some(ev) = rx.recv().await {
        if let mcubench::events::RunEvent::Record(r) = ev {
            records.push(*r);
        }
    }
    task.await.unwrap().unwrap();

    fn of<'a>(records: &'a [ResultRecord], fw: &'a str) -> impl Iterator<Item = &'a ResultRecord> {
        records.iter().filter(move |r| r.job.framework == fw)
    }
    let cmsis_failures: Vec<(&str, &str)> = of(&records, "cmsis-nn")
        .filter_map(|r| match &r.entry {
            Entry::Failure { stage, message } => Some((stage.as_str(), message.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(cmsis_failures.len(), 1, "{cmsis_failures:?}");
    let (stage, message) = cmsis_failures[0];
    assert_eq!(stage, "build", "{message}");
    assert!(message.contains("no-CMSIS-NN-here"), "the failure names the missing source: {message}");

    assert!(of(&records, "reference-runtime").all(|r| !matches!(r.entry, Entry::Failure { .. })), "{records:?}");
    let goldens = of(&records, "reference-runtime")
        .filter(|r| matches!(&r.entry, Entry::Check { check, passed: true, .. } if check == "golden"))
        .count();
    assert_eq!(goldens, 2);
    assert!(of(&records, "reference-runtime").any(|r| r.metric().is_some_and(|m| m.0 == Metric::Instructions)));
}
