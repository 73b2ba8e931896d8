//! The scheduler: build every firmware once, then one tokio task per board runs that board's
//! jobs in order while boards run in parallel. Everything observable leaves as a
//! [`RunEvent`]; a failing job becomes a failure record and the run goes on.
pub mod external;
mod job;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use crate::build::{self, firmware::Firmware, model::PreparedModel, Paths};
use crate::events::RunEvent;
use crate::plan::Job;
use crate::results::*;
use crate::session::lock::{BoardLock, LockError};

pub use job::encode_input;

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub paths: Paths,
    pub run_id: String,
    /// Inferences per timed window; the workload's default when `None`.
    pub runs: Option<u32>,
    /// Warm-up inferences before each window; the workload's default when `None`.
    pub warmups: Option<u32>,
    /// Timed windows per job (MLPerf Tiny uses 5 on silicon; emulated counts are exact, so
    /// 2 suffice to show they repeat).
    pub windows: u32,
    /// How many golden inputs to check bit for bit on the device.
    pub golden_checks: usize,
    /// Load the instruction-counting plugin (else `-icount` + SysTick).
    pub use_plugin: bool,
    pub timeouts: Timeouts,
    pub limits: Limits,
    pub farm: FarmPolicy,
}

/// How the run treats a farm of shared, fallible boards: board locks, retries, quarantine.
/// The default (for library callers and tests) takes no locks, retries nothing and
/// quarantines nothing; `mcubench run` sets the documented defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FarmPolicy {
    /// Where the per-board locks live (`session::lock::default_lock_dir()` at the CLI);
    /// `None`: boards are not locked.
    pub lock_dir: Option<PathBuf>,
    /// How long a board task waits for a board another run holds (`--wait-for-boards`).
    pub wait_for_boards: Duration,
    /// Extra attempts, each on a fresh session, for a job that failed for an infrastructure
    /// reason (`--retries`).
    pub retries: u32,
    /// Infrastructure failures of a board's jobs in a row after which the board is
    /// quarantined for the rest of the run (`--quarantine-after`; 0: never).
    pub quarantine_after: u32,
}

/// `mcubench run`'s defaults of [`FarmPolicy::retries`] and [`FarmPolicy::quarantine_after`].
pub const DEFAULT_RETRIES: u32 = 1;
pub const DEFAULT_QUARANTINE_AFTER: u32 = 2;

/// Bounds on what one job may take from its board; the run time is [`Timeouts::job`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest serial line (bytes, without the line end); longer ones fail the job
    /// (`mcubench run --max-line-bytes`).
    pub max_line_bytes: usize,
    /// Serial output bytes one job may read from its board (`mcubench run --max-output-bytes`).
    pub max_output_bytes: u64,
}

/// Defaults of [`Limits`]: far above what any firmware prints (an ic01 job prints ~50 KiB;
/// the longest line is an output vector in hex).
pub const DEFAULT_MAX_LINE_BYTES: usize = 4096;
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 16 << 20;

impl Default for Limits {
    fn default() -> Self {
        Limits { max_line_bytes: DEFAULT_MAX_LINE_BYTES, max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub boot: Duration,
    pub line: Duration,
    /// The fixed part of the wait for each reply line of `infer N W` (see [`Timeouts::infer_for`]).
    pub infer: Duration,
    /// Host wall time allowed per inference on top of `infer`: the firmware is silent for
    /// whole runs of inferences, and a heavy model on a loaded host (TFLM ic01) takes seconds each.
    pub infer_per_inference: Duration,
    /// Upper bound for a whole job on a board.
    pub job: Duration,
}

/// Default of [`Timeouts::infer_per_inference`] (`mcubench run --infer-budget`).
pub const DEFAULT_INFER_BUDGET: Duration = Duration::from_secs(15);

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            boot: Duration::from_secs(10),
            line: Duration::from_secs(5),
            infer: Duration::from_secs(60),
            infer_per_inference: DEFAULT_INFER_BUDGET,
            job: Duration::from_secs(300),
        }
    }
}

impl Timeouts {
    /// The reply-line timeout of `infer runs warmups`: the fixed part plus the per-inference
    /// budget for every inference the command does (the longest silence is at most all of them).
    pub fn infer_for(&self, runs: u32, warmups: u32) -> Duration {
        self.infer.saturating_add(self.infer_per_inference.saturating_mul(runs.saturating_add(warmups)))
    }
}

/// What was found about the host before the run.
#[derive(Debug, Clone)]
pub struct HostInfo {
    pub rustc: String,
    pub qemu: Option<String>,
    pub git_revision: Option<String>,
    pub plugin: Option<PathBuf>,
    pub warnings: Vec<String>,
}

/// A job ready to run on its board.
#[derive(Clone)]
pub(crate) struct ReadyJob {
    pub job: Job,
    pub model: Arc<PreparedModel>,
    pub firmware: Firmware,
}

/// Runs the jobs; returns when every board task has finished.
pub async fn run(jobs: Vec<Job>, cfg: RunConfig, events: UnboundedSender<RunEvent>) -> anyhow::Result<HostInfo> {
    let host = probe_host(&cfg, &events).await;
    let emit = |e: RunEvent| {
        let _ = events.send(e);
    };

    // Build phase: sequential, because every build already uses all cores.
    let mut models: BTreeMap<&str, Result<Arc<PreparedModel>, String>> = BTreeMap::new();
    let mut ready: Vec<ReadyJob> = Vec::new();
    for job in &jobs {
        let key = job.key();
        let model = models
            .entry(job.workload.id)
            .or_insert_with(|| {
                let started = Instant::now();
                let what = format!("import {} ({})", job.workload.id, job.workload.model_file);
                emit(RunEvent::BuildStarted { what: what.clone() });
                let r = build::model::prepare(job.workload, &cfg.paths.models, &cfg.paths.cache)
                    .map(Arc::new)
                    .map_err(|e| format!("{e:#}"));
                emit(RunEvent::BuildFinished { what, cached: false, elapsed: started.elapsed() });
                r
            })
            .clone();
        let model = match model {
            Ok(m) => m,
            Err(message) => {
                emit(failure(&cfg, &host, job, None, "import", message));
                continue;
            }
        };
        if let Some(ext) = &job.external {
            // A prebuilt firmware: nothing to build or check against our blob; flashed as is.
            match external::firmware(ext) {
                Ok(firmware) => ready.push(ReadyJob { job: job.clone(), model, firmware }),
                Err(e) => emit(failure(&cfg, &host, job, None, "firmware", format!("{e:#}"))),
            }
            continue;
        }
        let framework = crate::plan::framework(&job.framework).expect("planned jobs name known frameworks");
        let unsupported = framework.unsupported_ops(&model.imported.ops);
        if !unsupported.is_empty() {
            emit(failure(&cfg, &host, job, None, "unsupported", format!("unsupported: {}", unsupported.join(", "))));
            continue;
        }
        if let Err(e) = model.imported.check_fits(job.board.flash_budget(), job.board.ram_budget()) {
            let part = job.board.budget.as_ref().and_then(|b| b.part.clone()).map(|p| format!(" ({p} budget)")).unwrap_or_default();
            emit(failure(&cfg, &host, job, None, "fit", format!("does not fit {}{part}: {e}", job.board.name)));
            continue;
        }
        let what = format!("firmware {} / {} / {}", job.board.name, job.framework, job.workload.id);
        emit(RunEvent::BuildStarted { what: what.clone() });
        let started = Instant::now();
        match build::firmware::build(&cfg.paths.root, &cfg.paths.cache, &job.board, job.workload, framework, &model, &host.rustc).await {
            Ok(firmware) => {
                emit(RunEvent::BuildFinished { what, cached: firmware.cached, elapsed: started.elapsed() });
                ready.push(ReadyJob { job: job.clone(), model, firmware });
            }
            Err(e) => {
                emit(RunEvent::BuildFinished { what, cached: false, elapsed: started.elapsed() });
                emit(failure(&cfg, &host, job, None, "build", format!("{e:#}")));
            }
        }
        let _ = key;
    }

    // Measure phase: one task per board.
    let mut by_board: BTreeMap<String, Vec<ReadyJob>> = BTreeMap::new();
    for r in ready {
        by_board.entry(r.job.board.name.clone()).or_default().push(r);
    }
    let cfg = Arc::new(cfg);
    let host_arc = Arc::new(host.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for (_, board_jobs) in by_board {
        let cfg = cfg.clone();
        let host = host_arc.clone();
        let events = events.clone();
        tasks.spawn(async move { run_board(&cfg, &host, board_jobs, &events).await });
    }
    while let Some(res) = tasks.join_next().await {
        if let Err(e) = res {
            if e.is_panic() {
                anyhow::bail!("a board task panicked: {e}");
            }
        }
    }
    Ok(host)
}

/// One board's jobs in order: take the board's lock, run each job (with its retries), and
/// quarantine the board after too many infrastructure failures in a row.
async fn run_board(cfg: &RunConfig, host: &HostInfo, jobs: Vec<ReadyJob>, events: &UnboundedSender<RunEvent>) {
    let Some(board) = jobs.first().map(|r| r.job.board.name.clone()) else { return };
    // Held until every job of the board is done (dropped when this function returns). A board
    // behind a debug probe also locks the probe, so two boards.yaml entries naming the same
    // probe are never driven at once.
    let mut _locks = Vec::new();
    if let Some(dir) = &cfg.farm.lock_dir {
        let probe = jobs[0].job.board.probe.as_ref().filter(|_| jobs[0].job.board.kind == crate::config::BoardKind::ProbeRs);
        // A probe behind a probe-rs server is named with its server: the same ids on two hosts
        // are two probes.
        let probe_name = probe.and_then(|p| {
            let selector = p.selector.as_deref()?;
            probe_lock_name(&p.remote.as_ref().map_or_else(|| selector.to_string(), |r| format!("{}@{selector}", r.host)))
        });
        let names: Vec<String> = std::iter::once(board.clone()).chain(probe_name).collect();
        for name in names {
            let (dir, run_id, wait) = (dir.clone(), cfg.run_id.clone(), cfg.farm.wait_for_boards);
            let what = name.clone();
            // The wait blocks (it polls the lock file): keep it off the runtime's workers.
            let taken = tokio::task::spawn_blocking(move || BoardLock::acquire_for_run(&what, &dir, &run_id, wait)).await;
            let why = match taken {
                Ok(Ok(lock)) => {
                    _locks.push(lock);
                    continue;
                }
                Ok(Err(e)) => match &e {
                    LockError::Held { .. } if name != board => format!("board {board}: its probe is in use: {e} (or give --wait-for-boards SECONDS)"),
                    LockError::Held { .. } => format!("{e} (or give --wait-for-boards SECONDS)"),
                    other => error_chain(other),
                },
                Err(e) => format!("board {board}: taking the lock {name} failed: {e}"),
            };
            for r in &jobs {
                fail_without_running(cfg, host, r, events, "lock", why.clone());
            }
            return;
        }
    }
    let mut infrastructure_streak = 0u32;
    let mut last_cause = String::new();
    for r in &jobs {
        let quarantine_after = cfg.farm.quarantine_after;
        if quarantine_after > 0 && infrastructure_streak >= quarantine_after {
            let why = format!(
                "board {board} is quarantined for the rest of run {}: {infrastructure_streak} job(s) in a row failed for infrastructure reasons (--quarantine-after {quarantine_after}); last cause: {last_cause}",
                cfg.run_id
            );
            fail_without_running(cfg, host, r, events, STAGE_QUARANTINED, why);
            continue;
        }
        match job::run_job(cfg, host, r, events).await {
            job::JobOutcome::Failed { stage, message } if is_retryable_stage(&stage) => {
                infrastructure_streak += 1;
                last_cause = format!("{stage}: {message}");
            }
            // A wrong output or a firmware problem says nothing against the board.
            _ => infrastructure_streak = 0,
        }
    }
}

/// The lock name of a debug probe from its boards.yaml selector (`VID:PID[:SERIAL]`), e.g.
/// `probe-0483-374b-066DFF55`; `None` for an empty selector (any one attached probe: nothing
/// to name).
fn probe_lock_name(selector: &str) -> Option<String> {
    let s = selector.trim();
    if s.is_empty() {
        return None;
    }
    let safe: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    Some(format!("probe-{safe}"))
}

/// Stage of the jobs a quarantined board does not run.
pub const STAGE_QUARANTINED: &str = "quarantined";

/// A job that is not run (its board is held or quarantined): started, failed and finished,
/// so progress and the tables account for it.
fn fail_without_running(cfg: &RunConfig, host: &HostInfo, r: &ReadyJob, events: &UnboundedSender<RunEvent>, stage: &str, message: String) {
    let key = r.job.key();
    let _ = events.send(RunEvent::JobStarted { job: key.clone() });
    let _ = events.send(failure(cfg, host, &r.job, Some(&r.firmware), stage, message));
    let _ = events.send(RunEvent::JobFinished { job: key, ok: false, elapsed: Duration::ZERO });
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

/// Finds toolchain and emulator versions and builds the counting plugin.
async fn probe_host(cfg: &RunConfig, events: &UnboundedSender<RunEvent>) -> HostInfo {
    let mut warnings = Vec::new();
    let rustc = build::firmware::rustc_version().await;
    let qemu = match crate::session::qemu::version().await {
        Ok(v) => Some(v),
        Err(e) => {
            warnings.push(format!("{e:#}"));
            None
        }
    };
    let git_revision = tokio::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(&cfg.paths.root)
        .output()
        .await
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let mut plugin = None;
    if cfg.use_plugin {
        let major = qemu.as_deref().and_then(crate::session::qemu::major_version);
        if major.map_or(false, |m| m >= 10) {
            let what = "QEMU instruction-counting plugin".to_string();
            let _ = events.send(RunEvent::BuildStarted { what: what.clone() });
            let started = Instant::now();
            match build::plugin::build(&cfg.paths.root, &cfg.paths.cache).await {
                Ok(p) => plugin = Some(p),
                Err(e) => warnings.push(format!("{e:#}; counting with -icount and SysTick instead (40-instruction resolution)")),
            }
            let _ = events.send(RunEvent::BuildFinished { what, cached: false, elapsed: started.elapsed() });
        } else if qemu.is_some() {
            warnings.push(format!(
                "{} cannot load the counting plugin (QEMU 10 needed: run scripts/setup.sh); counting with -icount and SysTick instead",
                qemu.as_deref().unwrap_or("")
            ));
        }
    }
    HostInfo { rustc, qemu, git_revision, plugin, warnings }
}

/// What a firmware says about its inference engine: `m-mcubench-framework-[<name> <version>]`
/// and `m-mcubench-framework-build-[<compiler> <flags>]` (boot and `profile`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameworkReport {
    pub name: String,
    pub version: Option<String>,
    pub flags: Option<String>,
    /// The facts the board's firmware read back from its clock registers
    /// (`m-mcubench-board-[NAME sysclk_hz=.. flash_ws=..]`); `None` on QEMU, whose line has none.
    pub board_facts: Option<String>,
}

impl FrameworkReport {
    /// From the `m-mcubench-*` extension lines of a `profile` reply; `None` without a
    /// framework line.
    pub fn from_extensions(ext: &BTreeMap<String, String>) -> Option<FrameworkReport> {
        let line = ext.get("framework")?.trim();
        let (name, version) = match line.split_once(' ') {
            Some((n, v)) => (n, Some(v.trim().to_string()).filter(|v| !v.is_empty())),
            None => (line, None),
        };
        let flags = ext.get("framework-build").map(|f| f.trim().to_string()).filter(|f| !f.is_empty());
        let board_facts = ext.get("board").map(|b| b.trim().to_string()).filter(|b| b.contains('='));
        Some(FrameworkReport { name: name.to_string(), version, flags, board_facts })
    }
}

pub(crate) fn provenance(host: &HostInfo, job: &Job, firmware: Option<&Firmware>, reported: Option<&FrameworkReport>) -> Provenance {
    let mut p = Provenance {
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        git_revision: host.git_revision.clone(),
        firmware_sha256: firmware.map(|f| f.sha256.clone()),
        // What the firmware reports; before it is heard from (build failures), the versions the
        // harness knows for itself (the same strings the firmware prints), else none.
        framework_version: if let Some(v) = reported.and_then(|r| r.version.clone()) {
            Some(v)
        } else if job.external.is_some() {
            None
        } else if job.framework == "microflow" {
            Some(crate::plan::MICROFLOW_VERSION.to_string())
        } else if job.framework.starts_with(crate::plan::REFERENCE_RUNTIME) {
            // The reference runtime is versioned with the workspace.
            Some(env!("CARGO_PKG_VERSION").to_string())
        } else {
            None
        },
        toolchain: Some(host.rustc.clone()),
        emulator: if job.board.kind == crate::config::BoardKind::Qemu { host.qemu.clone() } else { None },
        cpu: job.board.cpu.to_string(),
        target: job.board.target.clone(),
        clock_hz: job.board.clock_hz,
        board_kind: job.board.kind.label().to_string(),
        board_facts: reported.and_then(|r| r.board_facts.clone()),
    };
    p.set_framework_flags(reported.and_then(|r| r.flags.as_deref()));
    p
}

pub(crate) fn record(cfg: &RunConfig, host: &HostInfo, job: &Job, firmware: Option<&Firmware>, entry: Entry) -> RunEvent {
    record_with(cfg, host, job, firmware, None, entry)
}

pub(crate) fn record_with(
    cfg: &RunConfig,
    host: &HostInfo,
    job: &Job,
    firmware: Option<&Firmware>,
    reported: Option<&FrameworkReport>,
    entry: Entry,
) -> RunEvent {
    RunEvent::Record(Box::new(ResultRecord {
        schema: SCHEMA_VERSION,
        run_id: cfg.run_id.clone(),
        recorded_at: now_rfc3339(),
        job: job.key(),
        entry,
        provenance: provenance(host, job, firmware, reported),
    }))
}

pub(crate) fn failure(cfg: &RunConfig, host: &HostInfo, job: &Job, fw: Option<&Firmware>, stage: &str, message: String) -> RunEvent {
    record(cfg, host, job, fw, Entry::Failure { stage: stage.to_string(), message })
}

impl Job {
    pub fn key(&self) -> JobKey {
        JobKey { board: self.board.name.clone(), framework: self.framework.clone(), workload: self.workload.id.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infer_timeout_scales_with_the_inference_count() {
        let t = Timeouts { infer: Duration::from_secs(60), infer_per_inference: Duration::from_secs(15), ..Timeouts::default() };
        assert_eq!(t.infer_for(1, 0), Duration::from_secs(75));
        assert_eq!(t.infer_for(5, 1), Duration::from_secs(150));
        let none = Timeouts { infer_per_inference: Duration::ZERO, ..t };
        assert_eq!(none.infer_for(100, 10), Duration::from_secs(60));
        assert_eq!(t.infer_for(u32::MAX, u32::MAX), Duration::from_secs(60) + Duration::from_secs(15) * u32::MAX);
    }

    #[test]
    fn framework_lines_are_parsed_into_name_version_and_flags() {
        let mut ext = BTreeMap::new();
        ext.insert("framework".to_string(), "tflite-micro 2020-07-12 (tensorflow abc, tfmicro 0.1.0)".to_string());
        ext.insert("framework-build".to_string(), "arm-none-eabi-g++ 12.2.1 -O3 -mcpu=cortex-m7".to_string());
        let f = FrameworkReport::from_extensions(&ext).unwrap();
        assert_eq!(f.name, "tflite-micro");
        assert_eq!(f.version.as_deref(), Some("2020-07-12 (tensorflow abc, tfmicro 0.1.0)"));
        assert_eq!(f.flags.as_deref(), Some("arm-none-eabi-g++ 12.2.1 -O3 -mcpu=cortex-m7"));
        ext.remove("framework-build");
        ext.insert("framework".to_string(), "vendor-engine".to_string());
        assert_eq!(FrameworkReport::from_extensions(&ext), Some(FrameworkReport { name: "vendor-engine".into(), version: None, flags: None, board_facts: None }));
        assert_eq!(FrameworkReport::from_extensions(&BTreeMap::new()), None);
    }

    #[test]
    fn a_probe_is_locked_by_its_selector() {
        assert_eq!(probe_lock_name("0483:374b:066DFF555185754867122438").as_deref(), Some("probe-0483-374b-066DFF555185754867122438"));
        assert_eq!(probe_lock_name(" 2e8a:000c ").as_deref(), Some("probe-2e8a-000c"));
        assert_eq!(probe_lock_name(""), None);
        // Whatever the selector holds, the name is one the lock accepts (no path separators).
        let odd = probe_lock_name("../x:y/z").unwrap();
        assert!(odd.chars().all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)), "{odd}");
    }

    #[test]
    fn a_real_boards_clock_facts_go_into_provenance_and_qemus_bare_name_does_not() {
        let mut ext = BTreeMap::new();
        ext.insert("framework".to_string(), "reference-runtime 0.1.0".to_string());
        ext.insert("board".to_string(), "mps2-an386".to_string());
        assert_eq!(FrameworkReport::from_extensions(&ext).unwrap().board_facts, None);
        let line = "nucleo-l4r5zi sysclk_hz=120000000 flash_ws=5 clock=ok";
        ext.insert("board".to_string(), format!(" {line} "));
        assert_eq!(FrameworkReport::from_extensions(&ext).unwrap().board_facts.as_deref(), Some(line));
        // Stored as a field of its own, and absent from the JSON when there is none.
        let p = Provenance { board_facts: Some(line.to_string()), ..Provenance::default() };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["board_facts"], line);
        assert_eq!(serde_json::from_value::<Provenance>(json).unwrap(), p);
        assert!(serde_json::to_value(Provenance::default()).unwrap().get("board_facts").is_none());
    }
}
