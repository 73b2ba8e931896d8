//! One job on one board: sizes from the ELF, then a QEMU session that checks the output
//! against the goldens bit for bit and measures the timed windows.
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::mpsc::UnboundedSender;

use super::{record_with, FrameworkReport, HostInfo, ReadyJob, RunConfig};
use crate::build::elf;
use crate::config::BoardKind;
use crate::energy::EnergyMonitor;
use crate::events::RunEvent;
use crate::protocol::{ClientConfig, DutClient, ProtocolError};
use crate::results::*;
use crate::session::cap::OutputCap;
use crate::session::qemu::{QemuLaunch, QemuSession};
use crate::session::probe::FlashPhase;
use crate::session::ProbeLink;
use crate::session::{serial, BoardSession, BoardStream};
use std::sync::atomic::Ordering;
use mcubench_workloads::workload::InputFormat;

/// Makes a job's records. Every record of a job carries the framework version and flags the
/// firmware reports, so records made before the firmware is heard from (the ELF's sizes) are
/// held until its `profile` reply, or until the job ends without one.
struct Recorder<'a> {
    cfg: &'a RunConfig,
    host: &'a HostInfo,
    r: &'a ReadyJob,
    events: &'a UnboundedSender<RunEvent>,
    framework: Mutex<Option<FrameworkReport>>,
    pending: Mutex<Option<Vec<Entry>>>,
}

impl Recorder<'_> {
    fn send(&self, entry: Entry) {
        let fw = self.framework.lock().unwrap().clone();
        let _ = self.events.send(record_with(self.cfg, self.host, &self.r.job, Some(&self.r.firmware), fw.as_ref(), entry));
    }

    fn emit(&self, entry: Entry) {
        if let Some(held) = self.pending.lock().unwrap().as_mut() {
            held.push(entry);
            return;
        }
        self.send(entry);
    }

    fn failure(&self, stage: &str, message: String) {
        self.emit(Entry::Failure { stage: stage.to_string(), message });
    }

    /// Sends what was held (once).
    fn flush(&self) {
        let held = self.pending.lock().unwrap().take();
        for e in held.into_iter().flatten() {
            self.send(e);
        }
    }

    fn set_framework(&self, report: FrameworkReport) {
        *self.framework.lock().unwrap() = Some(report);
        self.flush();
    }
}

impl Drop for Recorder<'_> {
    /// A job cut short (the run interrupted, its task dropped) still stores what it held.
    fn drop(&mut self) {
        self.flush();
    }
}

/// Runs a job to the end, turning every outcome into records; never fails itself.
pub(crate) async fn run_job(cfg: &RunConfig, host: &HostInfo, r: &ReadyJob, events: &UnboundedSender<RunEvent>) -> JobOutcome {
    let started = Instant::now();
    let key = r.job.key();
    let _ = events.send(RunEvent::JobStarted { job: key.clone() });
    let rec = Recorder { cfg, host, r, events, framework: Mutex::new(None), pending: Mutex::new(Some(Vec::new())) };
    let emit = |entry: Entry| rec.emit(entry);
    let metric = |metric: Metric, value: f64, unit: &str, source: Source, note: Option<String>| {
        emit(Entry::Metric { metric, value, unit: unit.into(), source, note })
    };

    // Static figures first: they stand even if the board fails later (held until the board
    // names its framework version, see Recorder).
    // The reference runtime's blob, where the firmware embeds it: an external firmware has
    // its own format, and microflow compiles the model into code and constants.
    // Frameworks with their own model file (TFLM, TinyMaix) embed that instead.
    let embeds_blob = crate::plan::framework(&r.job.framework)
        .is_some_and(|f| f.model_file == crate::plan::ModelFile::None);
    if r.job.external.is_none() && r.job.framework != "microflow" && embeds_blob {
        metric(Metric::ModelBytes, r.model.imported.blob.len() as f64, "bytes", Source::Measured, None);
    }
    metric(Metric::Macs, r.model.imported.macs as f64, "MACs", Source::Measured, None);
    match elf::sizes(&r.firmware.elf, &r.job.board.memory) {
        Ok(s) => {
            metric(Metric::FlashBytes, s.flash as f64, "bytes", Source::Measured, None);
            metric(Metric::StaticRamBytes, s.static_ram as f64, "bytes", Source::Measured, None);
        }
        Err(e) => rec.failure("elf", e.to_string()),
    }

    // Each attempt on a fresh session: a job that failed for an infrastructure reason is
    // tried again, every failed attempt kept as a record (stage `retried`).
    let attempts = cfg.farm.retries.saturating_add(1);
    let mut outcome = JobOutcome::Passed;
    for attempt in 1..=attempts {
        if attempt > 1 {
            let _ = events.send(RunEvent::JobStep { job: key.clone(), step: format!("attempt {attempt} of {attempts}: resetting the board") });
            if let Err(e) = crate::session::reset(&r.job.board).await {
                let message = format!("board {}: cannot reset it for attempt {attempt} of {attempts}: {e:#}", r.job.board.name);
                rec.failure("reset", message.clone());
                outcome = JobOutcome::Failed { stage: "reset".into(), message };
                break;
            }
        }
        let (stage, message) = match attempt_once(cfg, host, r, events, &rec).await {
            Ok(()) => {
                if attempt > 1 {
                    let _ = events.send(RunEvent::JobStep { job: key.clone(), step: format!("passed on attempt {attempt} of {attempts}") });
                }
                outcome = JobOutcome::Passed;
                break;
            }
            Err(failed) => failed,
        };
        if is_retryable_stage(&stage) && attempt < attempts {
            rec.failure(
                STAGE_RETRIED,
                format!("attempt {attempt} of {attempts} failed at stage {stage}: {message}; retried on a fresh session"),
            );
            continue;
        }
        let message = if attempt > 1 { format!("{message} (attempt {attempt} of {attempts})") } else { message };
        rec.failure(&stage, message.clone());
        outcome = JobOutcome::Failed { stage, message };
        break;
    }
    rec.flush();
    let ok = matches!(outcome, JobOutcome::Passed);
    let _ = events.send(RunEvent::JobFinished { job: key, ok, elapsed: started.elapsed() });
    outcome
}

/// How a job ended (after its retries), for the board's quarantine count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JobOutcome {
    Passed,
    Failed { stage: String, message: String },
}

/// One attempt: a session from boot (or connection) to the last window, within the job's
/// run-time limit; a failure as (stage, message).
async fn attempt_once(cfg: &RunConfig, host: &HostInfo, r: &ReadyJob, events: &UnboundedSender<RunEvent>, rec: &Recorder<'_>) -> Result<(), (String, String)> {
    match tokio::time::timeout(cfg.timeouts.job, measure(cfg, host, r, events, rec)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(split_stage(&e)),
        Err(_) => Err((
            "timeout".into(),
            format!(
                "board {}: the job did not finish within {:?} (the run-time limit per job); the board was stopped (raise --job-timeout)",
                r.job.board.name, cfg.timeouts.job
            ),
        )),
    }
}

/// An error tagged with the stage it happened in.
#[derive(Debug)]
struct StageError {
    stage: &'static str,
}
impl std::fmt::Display for StageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[stage: {}]", self.stage)
    }
}

trait Stage<T> {
    fn stage(self, stage: &'static str) -> anyhow::Result<T>;
}
impl<T, E: Into<anyhow::Error>> Stage<T> for Result<T, E> {
    fn stage(self, stage: &'static str) -> anyhow::Result<T> {
        self.map_err(|e| e.into().context(StageError { stage }))
    }
}

fn split_stage(e: &anyhow::Error) -> (String, String) {
    let stage = e.downcast_ref::<StageError>().map(|s| s.stage).unwrap_or("session");
    let is_marker = |m: &str| m.starts_with("[stage: ") && m.ends_with(']');
    let mut msg: Vec<String> = Vec::new();
    for m in e.chain().map(|c| c.to_string()).filter(|m| !is_marker(m)) {
        // Errors that print their source make the chain repeat itself; keep each text once.
        if !msg.last().is_some_and(|prev| prev.ends_with(&m)) {
            msg.push(m);
        }
    }
    (stage.to_string(), msg.join(": "))
}

async fn measure(cfg: &RunConfig, host: &HostInfo, r: &ReadyJob, events: &UnboundedSender<RunEvent>, rec: &Recorder<'_>) -> anyhow::Result<()> {
    let job = &r.job;
    let step = |s: String| {
        let _ = events.send(RunEvent::JobStep { job: job.key(), step: s });
    };
    let emit = |entry: Entry| rec.emit(entry);
    let on_framework = |f: FrameworkReport| rec.set_framework(f);
    // The monitor first: in energy mode it powers the DUT. A monitor that cannot be brought
    // up fails stage `energy` at the end of the job; the board's other figures are still taken.
    let mut energy = Energy::default();
    if let Some(settings) = &job.board.energy {
        step(format!("opening energy monitor {} on {}", settings.monitor.label(), settings.port));
        match crate::energy::connect::open_monitor(&job.board, settings, cfg.timeouts.boot).await {
            Ok(m) => energy.monitor = Some(m),
            Err(e) => energy.failed = Some(e.into()),
        }
    }
    let (mut session, stream): (BoardSession, BoardStream) = match job.board.kind {
        BoardKind::Qemu => {
            let workdir = cfg.paths.cache.join("sessions").join(&cfg.run_id).join(format!("{}-{}-{}", job.board.name, job.framework, job.workload.id));
            // An external firmware is counted only if it has the window markers; without them the
            // plugin would wait for windows that never come.
            let mut plugin = host.plugin.as_deref();
            if job.external.is_some() && plugin.is_some() && !super::external::has_window_markers(&r.firmware.elf).stage("firmware")? {
                step(format!("{}instructions: the firmware has no dbg #1/#2 window markers (latency from m-lap-us only)", super::external::NOT_MEASURED));
                plugin = None;
            }
            step("starting QEMU".into());
            let (session, stream) = QemuSession::start(QemuLaunch {
                board: &job.board,
                elf: &r.firmware.elf,
                plugin,
                workdir: &workdir,
                connect_timeout: cfg.timeouts.boot,
            })
            .await
            .stage("boot")?;
            (BoardSession::Qemu(session), stream)
        }
        BoardKind::Serial => {
            step(format!("connecting to {}", job.board.serial.port.as_deref().unwrap_or("")));
            let (session, stream) = serial::connect(&job.board, cfg.timeouts.boot).await.stage("connect")?;
            (BoardSession::Serial(session), stream)
        }
        BoardKind::ProbeRs => {
            let settings = job.board.probe.as_ref();
            step(format!("opening the debug probe ({})", settings.map_or("", |p| p.chip.as_str())));
            let probe = ProbeLink::open(&job.board).await.stage("probe")?;
            step(probe.describe());
            let (key, tx) = (job.key(), events.clone());
            let mut last: Option<(FlashPhase, u64)> = None;
            probe
                .flash(&r.firmware.elf, move |s| {
                    // One step per phase and per tenth of it: probe-rs reports every page.
                    let tenth = s.total_bytes.map_or(u64::MAX, |t| (t / 10).max(1));
                    let bucket = s.done_bytes / tenth;
                    if s.finished || last.is_none_or(|(p, b)| p != s.phase || b != bucket) {
                        last = Some((s.phase, bucket));
                        let total = s.total_bytes.map_or(String::new(), |t| format!(" of {t}"));
                        let state = if s.finished { " done" } else { "" };
                        let _ = tx.send(RunEvent::JobStep { job: key.clone(), step: format!("flash {:?}: {} bytes{total}{state}", s.phase, s.done_bytes).to_lowercase() });
                    }
                })
                .await
                .stage("flash")?;
            if job.board.console == crate::config::ConsoleKind::Rtt {
                let ProbeLink::Local(local) = &probe else {
                    // boards.yaml validation refuses RTT on a remote probe.
                    return Err(anyhow::anyhow!("board {}: RTT needs a local probe", job.board.name)).stage("probe");
                };
                let (memory, ram) = (local.memory(), local.ram());
                let session = BoardSession::Probe { probe, serial: None };
                step("reset and run".into());
                session.reset().await.stage("probe")?;
                step("attaching to the RTT console".into());
                let (elf, timeout) = (r.firmware.elf.clone(), cfg.timeouts.boot);
                let attached = tokio::task::spawn_blocking(move || crate::session::rtt::attach_when_ready(Box::new(memory), &elf, ram, timeout))
                    .await
                    .context("the RTT attach task failed")
                    .stage("connect")?;
                let (memory, console) = attached.map_err(|e| anyhow::anyhow!("board {}: the firmware's RTT console: {e}", job.board.name)).stage("connect")?;
                (session, crate::session::rtt::stream(memory, console))
            } else {
                // The line is opened before the reset so the board's first words are not lost.
                step(format!("connecting to {}", job.board.serial.port.as_deref().unwrap_or("")));
                let (serial, stream) = serial::connect(&job.board, cfg.timeouts.boot).await.stage("connect")?;
                let session = BoardSession::Probe { probe, serial: Some(serial) };
                step("reset and run".into());
                session.reset().await.stage("probe")?;
                (session, stream)
            }
        }
    };
    let _ = events.send(RunEvent::SessionStarted { job: job.key(), pid: session.pid() });
    let stream = OutputCap::new(stream, cfg.limits.max_output_bytes, &job.board.name);
    let flooded = stream.tripped();
    let result = drive(cfg, r, &mut session, stream, &mut energy, &step, &emit, &on_framework).await;
    // A broken limit is the cause, whatever command it broke.
    let result = result.map_err(|e| {
        let line_too_long = e.chain().any(|c| matches!(c.downcast_ref::<ProtocolError>(), Some(ProtocolError::LineTooLong { .. })));
        if flooded.load(Ordering::SeqCst) {
            e.context(StageError { stage: "limit" })
        } else if line_too_long {
            e.context(format!(
                "board {}: a serial line was longer than the limit of {} bytes (raise --max-line-bytes)",
                job.board.name, cfg.limits.max_line_bytes
            ))
            .context(StageError { stage: "limit" })
        } else {
            e
        }
    });
    let result = match result {
        Err(e) => match (session.exited_within(Duration::from_millis(500)).await, &session) {
            (Some(why), _) => Err(e.context(why)),
            // A board on a line: say which board and where, whatever broke.
            (None, s) => match s.address() {
                Some(a) => Err(e.context(format!("board {} at {}", job.board.name, a))),
                None => Err(e),
            },
        },
        ok => ok,
    };
    session.shutdown().await;
    result
}

/// The board's energy monitor over a job, and the first thing that went wrong with it (after
/// which it is not used again; the job still finishes, then fails stage `energy`).
#[derive(Default)]
struct Energy {
    monitor: Option<crate::energy::AnyMonitor<BoardStream>>,
    failed: Option<anyhow::Error>,
}

impl Energy {
    fn fail(&mut self, board: &str, e: crate::energy::EnergyError) {
        self.monitor = None;
        if self.failed.is_none() {
            self.failed = Some(anyhow::Error::from(e).context(format!("board {board}: energy monitor")));
        }
    }

    /// As [`Energy::fail`], for a reason outside the monitor.
    fn fail_because(&mut self, board: &str, why: String) {
        self.monitor = None;
        if self.failed.is_none() {
            self.failed = Some(anyhow::anyhow!(why).context(format!("board {board}: energy monitor")));
        }
    }
}

/// A board on a serial line is not reset, so its boot banner is long gone: ask for its name
/// instead. A first try may meet half a command or noise left on the line, hence a few tries,
/// each after the line has gone quiet.
async fn hello(dut: &mut DutClient<OutputCap<BoardStream>>, cfg: &RunConfig, board: &crate::config::Board) -> anyhow::Result<String> {
    const TRIES: usize = 3;
    let mut last = None;
    for _ in 0..TRIES {
        match dut.name().await {
            Ok(name) => return Ok(name),
            // A closed line or a flood will not get better.
            Err(e @ (ProtocolError::Closed { .. } | ProtocolError::Io { .. })) => return Err(e.into()),
            Err(e) => last = Some(e),
        }
        dut.resync(Duration::from_millis(200)).await?;
    }
    let last = last.map(|e| e.to_string()).unwrap_or_default();
    Err(anyhow::anyhow!(
        "the DUT did not answer `name` in {TRIES} tries ({:?} each): is it powered, flashed with an MLPerf Tiny firmware and set to {} baud? (last: {last})",
        cfg.timeouts.line,
        board.serial.baud
    ))
}

async fn drive(
    cfg: &RunConfig,
    r: &ReadyJob,
    session: &mut BoardSession,
    stream: OutputCap<BoardStream>,
    energy: &mut Energy,
    step: &(dyn Fn(String) + Sync),
    emit: &(dyn Fn(Entry) + Sync),
    on_framework: &(dyn Fn(FrameworkReport) + Sync),
) -> anyhow::Result<()> {
    let job = &r.job;
    let w = job.workload;
    let client_cfg = ClientConfig {
        line_timeout: cfg.timeouts.line,
        infer_timeout: cfg.timeouts.infer,
        boot_timeout: cfg.timeouts.boot,
        max_line_len: cfg.limits.max_line_bytes,
        ..ClientConfig::default()
    };
    let mut dut = DutClient::new(stream, client_cfg);
    if session.is_emulated() {
        tokio::time::timeout(cfg.timeouts.boot, dut.wait_boot())
            .await
            .map_err(|_| anyhow::anyhow!("no m-ready within {:?} of boot", cfg.timeouts.boot))
            .and_then(|r| r.map_err(anyhow::Error::from))
            .stage("boot")?;
    } else {
        let name = hello(&mut dut, cfg, &job.board).await.stage("connect")?;
        step(format!("the DUT answers: {name}"));
    }
    let profile = dut.profile().await.stage("profile")?;
    if let Some(f) = FrameworkReport::from_extensions(&profile.extensions) {
        // Our firmware must be the engine the job asked for (an external one names itself).
        if job.external.is_none() && f.name != job.framework {
            return Err(anyhow::anyhow!(
                "the firmware reports framework '{}', expected '{}' (wrong firmware flashed?)",
                f.name,
                job.framework
            ))
            .stage("profile");
        }
        on_framework(f);
    }
    if profile.model_id.as_deref() != Some(w.id) {
        return Err(anyhow::anyhow!(
            "the firmware reports model {:?}, expected '{}' (wrong firmware flashed?)",
            profile.model_id.unwrap_or_default(),
            w.id
        ))
        .stage("profile");
    }
    // The clock and flash wait states the firmware read back from the board's registers: what
    // the silicon figures were measured at (QEMU boards print none).
    let board_line = profile.extensions.get("board").map(|b| b.trim().to_string()).filter(|b| !b.is_empty());
    if let (false, Some(b)) = (session.is_emulated(), &board_line) {
        step(format!("the board reports: {b}"));
    }
    // The monitor's window is cut by the firmware's timestamp pin, which a firmware in
    // performance mode never pulses: say so now rather than after a window with no edges.
    if energy.monitor.is_some() && dut.timestamp_mode() == Some(crate::protocol::TimestampMode::Performance) {
        energy.fail_because(
            &job.board.name,
            "the firmware runs in performance mode (m-timestamp-mode-performance), so it pulses no timestamp pin and the monitor would see no window; flash a firmware built in energy mode (mcubench builds its own so for a board with `energy:`)".into(),
        );
    }
    let input = &r.model.imported.input;
    let goldens = mcubench_workloads::workload::goldens(w.id).unwrap_or_default();

    // Correctness: every output byte against the TFLite Micro goldens.
    let external = job.external.is_some();
    for g in goldens.iter().take(cfg.golden_checks) {
        step(format!("golden check, seed {}", g.seed));
        let bytes = encode_input(w.input_format, &g.input, input.scale, input.zero_point);
        dut.load_input(&bytes).await.stage("upload")?;
        let report = infer(cfg, job, &mut dut, 1, 0).await?;
        if let Some(counter) = session.counter() {
            counter.next_window(cfg.timeouts.line).await.stage("count")?;
        }
        if external && report.output.is_none() {
            step(format!("{}golden check: firmware does not report its output (no m-mcubench-output line)", super::external::NOT_MEASURED));
            break;
        }
        let out = report.output.as_deref().context("the firmware sent no m-mcubench-output line").stage("golden")?;
        // ad01's output is a reconstruction, not class scores: no top-1 there.
        let d = GoldenDetail::compare(g.seed as u64, out, &g.output, w.id != "ad01");
        emit(Entry::Check { check: "golden".into(), passed: d.differing == 0, detail: d.to_string() });
    }

    // Performance: the timed windows.
    let runs = cfg.runs.unwrap_or(w.default_runs).max(1);
    let warmups = cfg.warmups.unwrap_or(w.default_warmups);
    let perf_input: Vec<i8> = match goldens.first() {
        Some(g) => g.input.clone(),
        None => (0..input.len()).map(|i| ((i * 37 + 11) % 256) as u8 as i8).collect(),
    };
    let bytes = encode_input(w.input_format, &perf_input, input.scale, input.zero_point);
    let upload_started = Instant::now();
    dut.load_input(&bytes).await.stage("upload")?;
    let upload = upload_started.elapsed();
    emit(Entry::Metric {
        metric: Metric::HostUploadMs,
        value: ms(upload),
        unit: "ms".into(),
        source: Source::Measured,
        note: Some(format!("host wall time, {} bytes in db commands", bytes.len())),
    });
    let clock = job.board.clock_hz as f64;
    for window in 0..cfg.windows.max(1) {
        step(format!("window {}/{}: infer {runs} {warmups}", window + 1, cfg.windows.max(1)));
        // The monitor records around the timed `infer` only: its capture holds the two
        // timestamp events of this window.
        if let Some(mon) = energy.monitor.as_mut() {
            if let Err(e) = mon.start().await {
                energy.fail(&job.board.name, e);
            }
        }
        let started = Instant::now();
        let report = infer(cfg, job, &mut dut, runs, warmups).await?;
        let host_ms = ms(started.elapsed());
        if let Some(mon) = energy.monitor.as_mut() {
            let spec = crate::energy::WindowSpec::mlperf(runs as u64);
            match mon.stop_window(&spec).await {
                Ok(w) => emit(crate::energy::measured_entry(&w)),
                Err(e) => energy.fail(&job.board.name, e),
            }
        }
        let mut latency_ms: Option<f64> = None;
        if !session.is_emulated() {
            latency_ms = Some(silicon_figures(job, &report, runs, window, board_line.as_deref(), step, emit)?);
        } else {
            let counted = if let Some(counter) = session.counter() {
                let n = counter.next_windows(runs, cfg.timeouts.line).await.stage("count")?;
                Some((n as f64 / runs as f64, format!("QEMU plugin: exact retired instructions of {runs} inferences / {runs}")))
            } else if let Some(ticks) = report.ticks {
                let per_tick = 1e9 / job.board.systick_hz as f64;
                Some((ticks as f64 * per_tick / runs as f64, format!("-icount shift=0 SysTick ticks x {per_tick} / {runs} runs (+-{per_tick} instructions)")))
            } else if external {
                None
            } else {
                Err(anyhow::anyhow!("no m-mcubench-ticks line and no counting plugin")).stage("count")?
            };
            if let Some((instructions, note)) = counted {
                latency_ms = Some(instructions / clock * 1e3);
                emit(Entry::Metric { metric: Metric::Instructions, value: instructions, unit: "instructions".into(), source: Source::Emulated, note: Some(note) });
                emit(Entry::Metric {
                    metric: Metric::LatencyMs,
                    value: instructions / clock * 1e3,
                    unit: "ms".into(),
                    source: Source::Modeled,
                    note: Some(format!("instructions / {} MHz clock, assuming 1 instruction per cycle", clock / 1e6)),
                });
            } else if let Some(us) = report.elapsed_us() {
                // External firmware without markers or ticks: the protocol's own timer is all
                // there is. QEMU runs it on virtual time, one instruction per ns (-icount
                // shift=0), so the m-lap-us bracket (the whole loop of N inferences, whatever
                // the firmware does in it) converts to the board clock as the counts do.
                if window == 0 {
                    step(format!("{}instructions: no counted windows and no m-mcubench-ticks line", super::external::NOT_MEASURED));
                }
                latency_ms = Some(us as f64 * 1e3 / runs as f64 / clock * 1e3);
                emit(Entry::Metric {
                    metric: Metric::LatencyMs,
                    value: us as f64 * 1e3 / runs as f64 / clock * 1e3,
                    unit: "ms".into(),
                    source: Source::Modeled,
                    note: Some(format!(
                        "external firmware: m-lap-us bracket / runs in QEMU virtual time (1 instruction per ns), at {} MHz and 1 instruction per cycle; includes the firmware's own loop overhead",
                        clock / 1e6
                    )),
                });
            } else {
                Err(anyhow::anyhow!("the firmware printed no m-lap-us timestamps around the inferences: nothing to time them with")).stage("count")?
            }
            if let Some(us) = report.elapsed_us() {
                emit(Entry::Metric {
                    metric: Metric::DeviceTimerUs,
                    value: us as f64 / runs as f64,
                    unit: "us".into(),
                    source: Source::Emulated,
                    note: Some("m-lap-us difference in QEMU virtual time (-icount shift=0: 1 ns per instruction)".into()),
                });
            }
        }
        // No monitor on this board: the power model's figure, labelled modeled (from the
        // latency above, itself modeled on QEMU). A board whose monitor failed gets none.
        if job.board.energy.is_none() {
            if let (Some(power), Some(l)) = (&job.board.power, latency_ms) {
                if let Some(entry) = crate::energy::modeled_entry(power, job.board.clock_hz, l / 1e3) {
                    emit(entry);
                }
            }
        }
        emit(Entry::Metric { metric: Metric::HostInferMs, value: host_ms, unit: "ms".into(), source: Source::Measured, note: Some(format!("host wall time of 'infer {runs} {warmups}'")) });
        if window == 0 && (external || !session.is_emulated()) {
            for (what, missing) in [("stack", report.stack.is_none()), ("arena", report.arena.is_none())] {
                if missing {
                    step(format!("{}{what}: the firmware prints no m-mcubench-{what} line", super::external::NOT_MEASURED));
                }
            }
        }
        if window == 0 {
            // What the firmware reports from the board it runs on.
            let source = if session.is_emulated() { Source::Emulated } else { Source::Measured };
            if let Some((used, _painted)) = report.stack {
                emit(Entry::Metric { metric: Metric::StackBytes, value: used as f64, unit: "bytes".into(), source, note: None });
            }
            if let Some((used, _total)) = report.arena {
                emit(Entry::Metric { metric: Metric::ArenaBytes, value: used as f64, unit: "bytes".into(), source, note: None });
            }
        }
    }
    match energy.failed.take() {
        Some(e) => Err(e).stage("energy"),
        None => Ok(()),
    }
}

/// The figures of a timed window on a board reached over a serial line: what the firmware
/// measured on the board itself (its m-lap-us timer, and its cycle counter where it has one).
/// Emulated instruction counts do not exist there; they are listed as not measured. Returns
/// the latency per inference in ms.
fn silicon_figures(
    job: &crate::plan::Job,
    report: &crate::protocol::InferReport,
    runs: u32,
    window: u32,
    board_line: Option<&str>,
    step: &(dyn Fn(String) + Sync),
    emit: &(dyn Fn(Entry) + Sync),
) -> anyhow::Result<f64> {
    let not_measured = super::external::NOT_MEASURED;
    if window == 0 {
        step(format!("{not_measured}instructions: counted only on QEMU; {} is a {} board", job.board.name, job.board.kind.label()));
    }
    match report.cycles {
        Some(cycles) => emit(Entry::Metric {
            metric: Metric::Cycles,
            value: cycles as f64 / runs as f64,
            unit: "cycles".into(),
            source: Source::Measured,
            note: Some(format!(
                "m-mcubench-cycles (the firmware's cycle counter over {runs} inferences) / {runs}{}",
                board_line.map_or(String::new(), |b| format!("; board: {b}"))
            )),
        }),
        None if window == 0 => {
            let why = report.extensions.get("cycles").cloned().unwrap_or_else(|| "the firmware prints no m-mcubench-cycles line".into());
            step(format!("{not_measured}cycles: {why}"));
        }
        None => {}
    }
    // Performance mode brackets the window with m-lap-us; energy mode prints none (its
    // timestamps are pin pulses), and mcubench firmware's SysTick count of the window is left.
    let (us, what) = match (report.elapsed_us(), report.ticks) {
        (Some(us), _) => (us as f64, "m-lap-us"),
        (None, Some(ticks)) => (ticks as f64 * 1e6 / job.board.systick_hz as f64, "m-mcubench-ticks (SysTick at systick_hz; energy mode prints no m-lap-us)"),
        (None, None) => {
            return Err(anyhow::anyhow!("the firmware printed no m-lap-us timestamps and no m-mcubench-ticks around the inferences: nothing to time them with"))
                .stage("count")
        }
    };
    let per_inference_us = us / runs as f64;
    emit(Entry::Metric {
        metric: Metric::LatencyMs,
        value: per_inference_us / 1e3,
        unit: "ms".into(),
        source: Source::Measured,
        note: Some(format!("{what} bracket of {runs} inferences / {runs}, by the board's own timer (includes the firmware's loop overhead)")),
    });
    emit(Entry::Metric {
        metric: Metric::DeviceTimerUs,
        value: per_inference_us,
        unit: "us".into(),
        source: Source::Measured,
        note: Some(format!("{what} difference by the board's own timer")),
    });
    Ok(per_inference_us / 1e3)
}

/// `infer runs warmups` with the reply timeout scaled to the inference count; a timeout says
/// which board, job and command, what the limit was and how to raise it (stage `timeout`).
async fn infer<S>(cfg: &RunConfig, job: &crate::plan::Job, dut: &mut DutClient<S>, runs: u32, warmups: u32) -> anyhow::Result<crate::protocol::InferReport>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let limit = cfg.timeouts.infer_for(runs, warmups);
    match dut.infer_within(runs, warmups, limit).await {
        Ok(r) => Ok(r),
        Err(e @ crate::protocol::ProtocolError::Timeout { .. }) => {
            let t = &cfg.timeouts;
            let why = format!(
                "{} (board {}): `infer {runs} {warmups}` timed out: no reply line within {limit:?} \
                 ({:?} + {} inferences x {:?}; raise the per-inference budget with --infer-budget)",
                job.key(),
                job.board.name,
                t.infer,
                runs + warmups,
                t.infer_per_inference
            );
            Err(anyhow::Error::from(e).context(why)).stage("timeout")
        }
        Err(e) => Err(e).stage("infer"),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Encodes an int8 input tensor the way the MLPerf Tiny runner sends it over `db`: float32
/// (dequantized, so that the firmware's quantization gives back exactly these int8 values),
/// uint8 (int8 + 128) or int8.
pub fn encode_input(format: InputFormat, input: &[i8], scale: f32, zero_point: i32) -> Vec<u8> {
    match format {
        InputFormat::Int8 => input.iter().map(|&q| q as u8).collect(),
        InputFormat::Uint8 => input.iter().map(|&q| (q as i16 + 128) as u8).collect(),
        InputFormat::Float32Le => {
            input.iter().flat_map(|&q| (((q as i32 - zero_point) as f32) * scale).to_le_bytes()).collect()
        }
    }
}
