//! Reliability on the emulated farm (issue 9): faults injected into one board of a two-board
//! run, `--resume`, the store lock, resource bounds and QEMU children outliving the harness.
//!
//! Every fault test runs ad01 on two QEMU boards: the victim `mps2-an386` gets the fault, the
//! healthy `mps2-an500` must deliver a whole, clean job anyway, and the store (seeded with an
//! earlier run) must keep everything. The fault tests take turns (one QEMU pair at a time) so
//! that their short timeouts hold on a loaded 2-core host.
//!
//! Needs qemu-system-arm 10 and the firmware targets (scripts/setup.sh installs both).

mod common;

use common::records::board_failures;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mcubench::build::Paths;
use mcubench::config::BoardsFile;
use mcubench::events::RunEvent;
use mcubench::plan::{self, Selection};
use mcubench::results::*;
use mcubench::runner::{self, Limits, RunConfig, Timeouts};
use mcubench::store::{self, ResultStore};

const VICTIM: &str = "mps2-an386";
const HEALTHY: &str = "mps2-an500";
const GOLDEN_CHECKS: usize = 2;
const WINDOWS: u32 = 1;
/// Records of an earlier run put in the store before each fault test.
const EARLIER_RECORDS: usize = 5;

/// One fault test at a time (see the module comment).
static TURN: Mutex<()> = Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

fn default_boards_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards.yaml")).unwrap()
}

/// The default inventory with `edit` applied to the victim's entry (the first board).
fn boards_with_victim(edit: impl Fn(&str) -> String) -> String {
    let text = default_boards_text();
    let start = text.find("  - name: mps2-an386").unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    format!("{}{}{}", &text[..start], edit(&text[start..end]), &text[end..])
}

fn with_features(features: &str) -> String {
    boards_with_victim(|e| e.replace("    support: mps2\n", &format!("    support: mps2\n    firmware_features: [{features}]\n")))
}

fn with_qemu_args(args: &str) -> String {
    boards_with_victim(|e| e.replace("qemu: { machine: mps2-an386 }", &format!("qemu: {{ machine: mps2-an386, extra_args: [{args}] }}")))
}

fn config(run_id: &str) -> RunConfig {
    RunConfig {
        paths: Paths::from_env(),
        run_id: run_id.into(),
        runs: Some(2),
        warmups: Some(0),
        windows: WINDOWS,
        golden_checks: GOLDEN_CHECKS,
        use_plugin: true,
        // Short: a fault must be found in seconds. ad01 infers in milliseconds on QEMU.
        timeouts: Timeouts {
            boot: Duration::from_secs(5),
            line: Duration::from_secs(5),
            infer: Duration::from_secs(4),
            infer_per_inference: Duration::from_secs(1),
            job: Duration::from_secs(90),
        },
        limits: Limits::default(),
        farm: Default::default(),
    }
}

/// CPU time (user + system, clock ticks) of process `pid`; 0 once it is gone.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or("").split_whitespace().collect();
    // After the command name: state is field 3 of stat(5), utime 14 and stime 15.
    let get = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(14) + get(15)
}

/// Records of an earlier run, already in the store before a faulted run starts.
fn seed_store(path: &Path) -> Vec<ResultRecord> {
    let mut store = ResultStore::open(path).unwrap();
    let earlier: Vec<ResultRecord> = (0..EARLIER_RECORDS)
        .map(|i| ResultRecord {
            schema: SCHEMA_VERSION,
            run_id: "earlier".into(),
            recorded_at: now_rfc3339(),
            job: JobKey { board: HEALTHY.into(), framework: "reference-runtime".into(), workload: "ad01".into() },
            entry: Entry::Metric { metric: Metric::Instructions, value: 1000.0 + i as f64, unit: "instructions".into(), source: Source::Emulated, note: None },
            provenance: Provenance::default(),
        })
        .collect();
    for r in &earlier {
        store.append(r).unwrap();
    }
    earlier
}

struct Outcome {
    records: Vec<ResultRecord>,
    events: Vec<RunEvent>,
    elapsed: Duration,
}

/// Runs ad01 on the victim and the healthy board of `boards_yaml`, storing as the CLI does;
/// `on_event` may act while the run goes on (e.g. kill the victim's QEMU).
async fn run_pair(boards_yaml: &str, cfg: RunConfig, store_path: &Path, mut on_event: impl FnMut(&RunEvent)) -> Outcome {
    let boards = BoardsFile::parse(boards_yaml, Path::new("faulted.yaml")).unwrap();
    let sel = Selection { boards: vec![VICTIM.into(), HEALTHY.into()], workloads: vec!["ad01".into()], ..Selection::default() };
    let jobs = plan::plan(&boards, "faulted.yaml", &sel).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut store = ResultStore::open(store_path).unwrap();
    let started = Instant::now();
    let run = tokio::spawn(runner::run(jobs, cfg, tx));
    let (mut records, mut events) = (Vec::new(), Vec::new());
    while let Some(ev) = rx.recv().await {
        on_event(&ev);
        if let RunEvent::Record(r) = &ev {
            store.append(r).unwrap();
            records.push((**r).clone());
        }
        events.push(ev);
    }
    // The run finishes (its task returns) whatever the victim did.
    run.await.unwrap().unwrap();
    Outcome { records, events, elapsed: started.elapsed() }
}

fn count_metric(records: &[ResultRecord], board: &str, metric: Metric) -> usize {
    records.iter().filter(|r| r.job.board == board && r.metric().is_some_and(|m| m.0 == metric)).count()
}

/// The healthy board's job is whole and clean, and the store holds the earlier run plus
/// every record of this one, in order.
fn assert_healthy_and_nothing_lost(out: &Outcome, store_path: &Path, earlier: &[ResultRecord]) {
    assert_eq!(board_failures(&out.records, HEALTHY), vec![], "the healthy board failed too");
    let checks: Vec<bool> = out
        .records
        .iter()
        .filter(|r| r.job.board == HEALTHY)
        .filter_map(|r| match &r.entry {
            Entry::Check { passed, .. } => Some(*passed),
            _ => None,
        })
        .collect();
    assert_eq!(checks, vec![true; GOLDEN_CHECKS], "{HEALTHY}: golden checks");
    assert_eq!(count_metric(&out.records, HEALTHY, Metric::Instructions), WINDOWS as usize, "{HEALTHY}: windows");
    for m in [Metric::FlashBytes, Metric::StaticRamBytes, Metric::StackBytes, Metric::LatencyMs] {
        assert!(count_metric(&out.records, HEALTHY, m) > 0, "{HEALTHY}: {m:?} missing");
    }
    let finished: Vec<_> = out.events.iter().filter_map(|e| match e {
        RunEvent::JobFinished { job, ok, .. } => Some((job.board.clone(), *ok)),
        _ => None,
    }).collect();
    assert!(finished.contains(&(HEALTHY.to_string(), true)), "{finished:?}");
    // (A job refused before its board is started, e.g. at `firmware`, has a failure record
    // and no JobFinished event.)
    assert!(
        finished.iter().any(|(b, _)| b == VICTIM) || !board_failures(&out.records, VICTIM).is_empty(),
        "the victim's job neither finished nor failed: {finished:?}"
    );

    let loaded = store::load(store_path).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let expected: Vec<&ResultRecord> = earlier.iter().chain(&out.records).collect();
    assert_eq!(loaded.records.len(), expected.len(), "the store lost records");
    for (i, (got, want)) in loaded.records.iter().zip(expected).enumerate() {
        assert_eq!(got, want, "store record {i} changed");
    }
}

fn report(fault: &str, injected: &str, out: &Outcome, seen: &str) {
    println!(
        "FAULT {fault}\n  injected: {injected}\n  victim {VICTIM}: {seen}\n  healthy {HEALTHY}: whole and clean; run finished in {:.1}s; store kept the {} earlier records and all {} new ones",
        out.elapsed.as_secs_f64(),
        EARLIER_RECORDS,
        out.records.len()
    );
}

/// The victim's single failure, checked to name the board in its record and its stage.
fn one_failure(out: &Outcome, stage: &str) -> String {
    let f = board_failures(&out.records, VICTIM);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, stage, "{f:?}");
    f[0].1.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_killed_mid_inference() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("results.jsonl");
    let earlier = seed_store(&store_path);
    // A long timed window (1000 inferences, several seconds of QEMU), killed soon after it
    // starts: long enough that a loaded machine cannot finish it before the kill lands.
    let mut cfg = config("kill");
    cfg.runs = Some(1000);
    let mut pid = None;
    let mut killer = None;
    let out = run_pair(&default_boards_text(), cfg, &store_path, |ev| match ev {
        RunEvent::SessionStarted { job, pid: Some(p) } if job.board == VICTIM => pid = Some(*p),
        RunEvent::JobStep { job, step } if job.board == VICTIM && step.starts_with("window 1/") && killer.is_none() => {
            let pid = pid.unwrap();
            // Kill once QEMU has computed for 100 ms of CPU time inside the window: mid-inference.
            killer = Some(std::thread::spawn(move || {
                let start = cpu_ticks(pid);
                let deadline = Instant::now() + Duration::from_secs(10);
                while cpu_ticks(pid) < start + 10 && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap().success()
            }));
        }
        _ => {}
    })
    .await;
    assert!(killer.expect("the window never started").join().unwrap(), "the test never got to kill QEMU");
    let msg = one_failure(&out, "infer");
    assert!(msg.contains("QEMU exited (signal: 9") && msg.contains("`infer 1000 0`"), "the failure names the cause and the command: {msg}");
    // The window had started on the device: its first timestamp came before the kill.
    assert!(msg.contains("last: `m-lap-us-"), "not killed mid-inference: {msg}");
    // What the victim measured before it died (its golden checks) is kept.
    let checks = out.records.iter().filter(|r| r.job.board == VICTIM && matches!(r.entry, Entry::Check { passed: true, .. })).count();
    assert_eq!(checks, GOLDEN_CHECKS);
    assert_healthy_and_nothing_lost(&out, &store_path, &earlier);
    report("qemu-killed", "SIGKILL to the victim's qemu-system-arm after 100 ms of QEMU CPU time inside its timed window (`infer 1000 0`)", &out, &msg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_that_exits_at_once() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("results.jsonl");
    let earlier = seed_store(&store_path);
    let out = run_pair(&with_qemu_args("-no-such-option"), config("exits"), &store_path, |_| {}).await;
    let msg = one_failure(&out, "boot");
    assert!(msg.contains("QEMU exited before connecting its UART") && msg.contains("no-such-option"), "{msg}");
    assert_healthy_and_nothing_lost(&out, &store_path, &earlier);
    report("qemu-exits-at-once", "victim's QEMU started with an invalid option (boards.yaml extra_args: [-no-such-option])", &out, &msg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qemu_that_never_boots() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("results.jsonl");
    let earlier = seed_store(&store_path);
    let cfg = config("frozen");
    let boot = cfg.timeouts.boot;
    let out = run_pair(&with_qemu_args("-S"), cfg, &store_path, |_| {}).await;
    let msg = one_failure(&out, "boot");
    assert!(msg.contains(&format!("`<boot>`: no reply line within {boot:?}")) && msg.contains("0 line(s) received"), "{msg}");
    assert_healthy_and_nothing_lost(&out, &store_path, &earlier);
    report("qemu-never-boots", "victim's QEMU started with its CPU stopped (extra_args: [-S]): UART connected, firmware never runs", &out, &msg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_firmware_elf() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("results.jsonl");
    let earlier = seed_store(&store_path);
    // 4 KiB that start like an ELF and are noise after the magic.
    let elf = dir.path().join("garbage.elf");
    let mut bytes = b"\x7fELF".to_vec();
    let mut x: u32 = 0x1234_5678;
    bytes.extend((0..4092).map(|_| {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (x >> 24) as u8
    }));
    std::fs::write(&elf, &bytes).unwrap();
    let yaml = boards_with_victim(|e| {
        e.replace("    support: mps2\n", &format!("    support: mps2\n    firmware: {{ elf: '{}', framework: garbage, workload: ad01 }}\n", elf.display()))
    });
    let out = run_pair(&yaml, config("garbage"), &store_path, |_| {}).await;
    let msg = one_failure(&out, "firmware");
    assert!(msg.contains("garbage.elf is not an ELF file"), "{msg}");
    assert!(!out.events.iter().any(|e| matches!(e, RunEvent::SessionStarted { job, .. } if job.board == VICTIM)), "QEMU was started on garbage");
    assert_healthy_and_nothing_lost(&out, &store_path, &earlier);
    report("garbage-firmware", "the victim's firmware (boards.yaml firmware: elf) is 4 KiB of noise after an ELF magic", &out, &msg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firmware_that_hangs() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("results.jsonl");
    let earlier = seed_store(&store_path);
    let out = run_pair(&with_features("test-fault-hang"), config("hang"), &store_path, |_| {}).await;
    let msg = one_failure(&out, "timeout");
    assert!(msg.contains(&format!("(board {VICTIM}): `infer 1 0` timed out")) && msg.contains("--infer-budget"), "{msg}");
    // The first inference went through and its check is kept.
    assert!(out.records.iter().any(|r| r.job.board == VICTIM && matches!(r.entry, Entry::Check { passed: true, .. })));
    assert_healthy_and_nothing_lost(&out, &store_path, &earlier);
    report("firmware-hangs", "firmware feature test-fault-hang on the victim: its 2nd inference since boot spins forever", &out, &msg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uart_that_drops_and_corrupts_bytes() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("results.jsonl");
    let earlier = seed_store(&store_path);
    let out = run_pair(&with_features("test-fault-noisy-uart"), config("noisy"), &store_path, |_| {}).await;
    // A bad link must never pass as a good measurement: the victim has a failure or a failed
    // check, and no record says otherwise.
    let f = board_failures(&out.records, VICTIM);
    let bad_checks: Vec<String> = out
        .records
        .iter()
        .filter(|r| r.job.board == VICTIM)
        .filter_map(|r| match &r.entry {
            Entry::Check { passed: false, detail, .. } => Some(detail.clone()),
            _ => None,
        })
        .collect();
    assert!(!f.is_empty() || !bad_checks.is_empty(), "a noisy UART went unnoticed");
    assert!(f.len() <= 1, "{f:?}");
    let seen = f.first().map(|(s, m)| format!("failure at {s}: {m}")).unwrap_or_else(|| format!("failed checks: {bad_checks:?}"));
    assert_healthy_and_nothing_lost(&out, &store_path, &earlier);
    report("noisy-uart", "firmware feature test-fault-noisy-uart on the victim: after 1 KiB of output every 97th byte gets bit 7 set, every 251st is lost", &out, &seen);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_that_floods_its_output() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("results.jsonl");
    let earlier = seed_store(&store_path);
    let mut cfg = config("flood");
    cfg.limits.max_output_bytes = 256 * 1024;
    let out = run_pair(&with_features("test-fault-flood"), cfg, &store_path, |_| {}).await;
    let msg = one_failure(&out, "limit");
    assert!(msg.contains(&format!("board {VICTIM}")), "{msg}");
    assert!(msg.contains("--max-output-bytes") || msg.contains("--max-line-bytes"), "the failure names the limit: {msg}");
    assert_healthy_and_nothing_lost(&out, &store_path, &earlier);
    report("device-floods", "firmware feature test-fault-flood on the victim: `infer` prints junk without newline forever (output limit 256 KiB)", &out, &msg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn board_that_answers_wrong() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("results.jsonl");
    let earlier = seed_store(&store_path);
    let out = run_pair(&with_features("test-fault-wrong-result"), config("wrong"), &store_path, |_| {}).await;
    let checks: Vec<(bool, String)> = out
        .records
        .iter()
        .filter(|r| r.job.board == VICTIM)
        .filter_map(|r| match &r.entry {
            Entry::Check { check, passed, detail } if check == "golden" => Some((*passed, detail.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(checks.len(), GOLDEN_CHECKS, "{checks:?}");
    for (passed, detail) in &checks {
        assert!(!passed && detail.contains("1 of ") && detail.contains("differ"), "{detail}");
    }
    assert_healthy_and_nothing_lost(&out, &store_path, &earlier);
    report("wrong-result", "firmware feature test-fault-wrong-result on the victim: bit 6 of the first output byte flipped", &out, &format!("golden checks failed: {:?}", checks.iter().map(|c| &c.1).collect::<Vec<_>>()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_over_long_line_fails_the_job_naming_the_limit_and_the_board() {
    let _turn = take_turn();
    let mut cfg = config("line");
    // Shorter than the boot banner's longest line.
    cfg.limits.max_line_bytes = 16;
    let boards = BoardsFile::parse(&default_boards_text(), Path::new("b.yaml")).unwrap();
    let sel = Selection { boards: vec![VICTIM.into()], workloads: vec!["ad01".into()], ..Selection::default() };
    let jobs = plan::plan(&boards, "b.yaml", &sel).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let run = tokio::spawn(runner::run(jobs, cfg, tx));
    let mut records = Vec::new();
    while let Some(ev) = rx.recv().await {
        if let RunEvent::Record(r) = ev {
            records.push(*r);
        }
    }
    run.await.unwrap().unwrap();
    let f = board_failures(&records, VICTIM);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].0, "limit", "{f:?}");
    assert!(f[0].1.contains(&format!("board {VICTIM}: a serial line was longer than the limit of 16 bytes (raise --max-line-bytes)")), "{}", f[0].1);
    println!("LIMIT max-line-bytes=16 on {VICTIM}: {}", f[0].1);
}

#[test]
fn the_store_lock_is_taken_for_every_append_and_concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.jsonl");
    let record = |run: &str, i: usize| ResultRecord {
        schema: SCHEMA_VERSION,
        run_id: run.into(),
        recorded_at: now_rfc3339(),
        job: JobKey { board: "b".into(), framework: "f".into(), workload: "ad01".into() },
        entry: Entry::Check { check: "golden".into(), passed: true, detail: format!("{run} {i} {}", "x".repeat(i % 3000)) },
        provenance: Provenance::default(),
    };

    // Two writers (two runs on one store), each with its own handle, at full speed.
    let writers: Vec<_> = ["run-a", "run-b"]
        .into_iter()
        .map(|run| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut s = ResultStore::open(&path).unwrap();
                for i in 0..300 {
                    s.append(&record(run, i)).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let loaded = store::load(&path).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    for run in ["run-a", "run-b"] {
        let mine: Vec<&ResultRecord> = loaded.records.iter().filter(|r| r.run_id == run).collect();
        assert_eq!(mine.len(), 300, "{run}");
        assert!(mine.iter().enumerate().all(|(i, r)| *r == &record(run, i).with_time(&r.recorded_at)), "{run}: records out of order or changed");
    }

    // The lock is really taken: while another process holds it, an append waits ...
    let holder = std::fs::OpenOptions::new().read(true).open(&path).unwrap();
    holder.lock().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let p = path.clone();
    let waiting = std::thread::spawn(move || {
        let mut s = ResultStore::open(&p).unwrap();
        tx.send(()).unwrap();
        s.append(&record("run-c", 0)).unwrap();
        tx.send(()).unwrap();
    });
    // (`open` also takes the lock, so neither message comes while it is held.)
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err(), "the store was opened while another process held its lock");
    holder.unlock().unwrap();
    rx.recv_timeout(Duration::from_secs(10)).expect("open after the lock was released");
    rx.recv_timeout(Duration::from_secs(10)).expect("append after the lock was released");
    waiting.join().unwrap();

    // ... and gives up after its bounded wait, naming the store.
    let mut s = ResultStore::open(&path).unwrap();
    s.set_lock_wait(Duration::from_millis(200));
    holder.lock().unwrap();
    let err = s.append(&record("run-d", 0)).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()) && err.contains("locked by another process"), "{err}");
    holder.unlock().unwrap();
    assert_eq!(store::load(&path).unwrap().records.len(), 601);
}

trait WithTime {
    fn with_time(self, t: &str) -> ResultRecord;
}
impl WithTime for ResultRecord {
    fn with_time(mut self, t: &str) -> ResultRecord {
        self.recorded_at = t.to_string();
        self
    }
}

fn mcubench_cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mcubench"))
}

/// `mcubench run` on the victim and the healthy board, with `boards` as the inventory.
fn cli_run(boards: &Path, store_path: &Path, extra: &[&str]) -> std::process::Output {
    let out = mcubench_cli()
        .args(["run", "-w", "ad01", "--board", VICTIM, "--board", HEALTHY, "--golden-checks", "2", "--windows", "1", "--runs", "2", "--warmups", "0"])
        .arg("--boards")
        .arg(boards)
        .arg("--store")
        .arg(store_path)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    out
}

#[test]
fn resume_reruns_only_the_failed_board() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    let store_path = dir.path().join("results.jsonl");
    let boards = dir.path().join("boards.yaml");

    // A run with a faulted victim.
    std::fs::write(&boards, with_features("test-fault-wrong-result")).unwrap();
    let first = cli_run(&boards, &store_path, &[]);
    assert_eq!(first.status.code(), Some(1), "{}", String::from_utf8_lossy(&first.stderr));
    let after_first = store::load(&store_path).unwrap().records;
    let first_run = after_first.last().unwrap().run_id.clone();

    // The board is fixed; --resume runs its job only.
    std::fs::write(&boards, default_boards_text()).unwrap();
    let second = cli_run(&boards, &store_path, &["--resume"]);
    let stderr = String::from_utf8_lossy(&second.stderr);
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert_eq!(second.status.code(), Some(0), "{stderr}\n{stdout}");
    assert!(stderr.contains(&format!("resuming run {first_run}: 1 job(s) finished and kept, 1 to run again")), "{stderr}");
    assert!(stderr.contains(&format!("again  {VICTIM} / reference-runtime / ad01 (a check failed)")), "{stderr}");
    assert!(stderr.contains(&format!("start {VICTIM} / reference-runtime / ad01")), "{stderr}");
    assert!(!stderr.contains(&format!("start {HEALTHY}")), "the finished board ran again:\n{stderr}");

    let all = store::load(&store_path).unwrap().records;
    assert_eq!(&all[..after_first.len()], &after_first[..], "the first run's records changed");
    let resumed: Vec<&ResultRecord> = all[after_first.len()..].iter().collect();
    let resumed_run = &resumed[0].run_id;
    assert_ne!(resumed_run, &first_run);
    assert!(resumed.iter().all(|r| &r.run_id == resumed_run));
    // The healthy board's records are the first run's, carried over unchanged (times included).
    let kept_before: Vec<ResultRecord> = after_first.iter().filter(|r| r.job.board == HEALTHY).cloned().collect();
    let kept_after: Vec<ResultRecord> = resumed
        .iter()
        .filter(|r| r.job.board == HEALTHY)
        .map(|r| ResultRecord { run_id: first_run.clone(), ..(*r).clone() })
        .collect();
    assert_eq!(kept_after, kept_before);
    // The victim ran again and is clean now.
    let victim: Vec<&&ResultRecord> = resumed.iter().filter(|r| r.job.board == VICTIM).collect();
    assert!(victim.iter().filter(|r| matches!(r.entry, Entry::Check { passed: true, .. })).count() == 2, "{victim:?}");
    assert!(victim.iter().all(|r| !matches!(r.entry, Entry::Failure { .. } | Entry::Check { passed: false, .. })));
    // The table shows both boards, and `mcubench table` (the last run) is complete.
    for b in [VICTIM, HEALTHY] {
        assert!(stdout.contains(b), "{b} missing from the table:\n{stdout}");
    }
    let table = mcubench_cli().arg("table").arg("--store").arg(&store_path).output().unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains(VICTIM) && table.contains(HEALTHY) && !table.contains("failure"), "{table}");
    println!("RESUME first run {first_run}: {VICTIM} wrong result; resumed run {resumed_run}: only {VICTIM} ran again\n{stdout}");

    // Nothing left to do: a second --resume runs no job.
    let third = cli_run(&boards, &store_path, &["--resume"]);
    let stderr = String::from_utf8_lossy(&third.stderr);
    assert!(stderr.contains("2 job(s) finished and kept, 0 to run again"), "{stderr}");
    assert!(!stderr.contains("start "), "{stderr}");
}

/// Whether `pid` is a running (not zombie) qemu-system-arm.
fn is_live_qemu(pid: u32) -> bool {
    let proc = Path::new("/proc").join(pid.to_string());
    let cmdline = std::fs::read(proc.join("cmdline")).unwrap_or_default();
    let stat = std::fs::read_to_string(proc.join("stat")).unwrap_or_default();
    let state = stat.rsplit(") ").next().and_then(|s| s.chars().next());
    cmdline.starts_with(b"qemu-system-arm") && !matches!(state, Some('Z') | Some('X') | None)
}

#[test]
fn no_qemu_survives_a_sigkilled_harness() {
    let _turn = take_turn();
    let dir = tempfile::tempdir().unwrap();
    // A long suite: many windows of many inferences on two boards.
    let store_path = dir.path().join("r.jsonl");
    let mut child = mcubench_cli()
        .args(["run", "-w", "ad01", "--board", VICTIM, "--board", HEALTHY, "--golden-checks", "0", "--windows", "200", "--runs", "50"])
        .arg("--store")
        .arg(&store_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let harness = child.id();
    // Read its progress until both QEMUs are up (bounded).
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut qemus = Vec::new();
    while qemus.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| panic!("QEMU did not start on both boards within 4 minutes"));
        if let Some(pid) = line.split("QEMU started (pid ").nth(1).and_then(|s| s.trim_end_matches(')').parse::<u32>().ok()) {
            qemus.push(pid);
        }
    }
    assert!(qemus.iter().all(|p| is_live_qemu(*p)), "{qemus:?}");
    // Mid-job: once both boards have records in the store (bounded polling).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stored = store::load(&store_path).map(|l| l.records).unwrap_or_default();
        if [VICTIM, HEALTHY].iter().all(|b| stored.iter().any(|r| r.job.board == *b)) {
            break;
        }
        assert!(Instant::now() < deadline, "the boards stored no records within a minute");
        std::thread::sleep(Duration::from_millis(20));
    }

    Command::new("kill").args(["-9", &harness.to_string()]).status().unwrap();
    let _ = child.wait();
    // Bounded polling: the kernel sends the parent-death signal at once; dying takes a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut left: Vec<u32> = qemus.iter().copied().filter(|p| is_live_qemu(*p)).collect();
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        left.retain(|p| is_live_qemu(*p));
    }
    assert_eq!(left, Vec::<u32>::new(), "QEMU children of the SIGKILLed harness (pid {harness}) are still running");
    println!("SIGKILL of harness pid {harness} while QEMU {qemus:?} ran: no QEMU left after the kill");

    // The killed run's jobs did not finish: --resume (asking for golden checks, which the
    // killed run skipped, so that no window it got through makes a job look whole) runs both
    // again.
    let killed_records = store::load(&store_path).unwrap().records;
    assert!(!killed_records.is_empty(), "the killed run stored nothing");
    let boards = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards.yaml");
    let resumed = cli_run(&boards, &store_path, &["--resume"]);
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert_eq!(resumed.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("0 job(s) finished and kept, 2 to run again"), "{stderr}");
    for b in [VICTIM, HEALTHY] {
        assert!(stderr.contains(&format!("again  {b} / reference-runtime / ad01 (incomplete (")), "{stderr}");
    }
    let all = store::load(&store_path).unwrap().records;
    assert_eq!(&all[..killed_records.len()], &killed_records[..], "the killed run's records changed");
    println!("RESUME after the SIGKILL: both unfinished jobs ran again, {} record(s) of the killed run kept", killed_records.len());
}

#[test]
fn run_help_documents_the_bounds_and_resume() {
    let out = mcubench_cli().args(["run", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in ["--max-line-bytes <BYTES>", "--max-output-bytes <BYTES>", "--job-timeout", "--resume"] {
        assert!(text.contains(flag), "{flag} missing from `run --help`:\n{text}");
    }
    // A bound of nothing is refused at the command line.
    let out = mcubench_cli().args(["run", "--max-output-bytes", "10"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-output-bytes"));
}
