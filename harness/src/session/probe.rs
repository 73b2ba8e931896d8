//! A real board through its debug probe (probe-rs): open the probe that the board's
//! `probe.selector` names, attach to its `probe.chip`, flash an ELF, reset and run, and reach the
//! chip's memory for an RTT console ([`super::rtt`]).
//!
//! probe-rs is blocking (USB transfers), so every call into it runs under
//! [`tokio::task::spawn_blocking`]: one board's flashing never stalls the other boards' tasks.
//! Every error names the board, and says what to do about it.
//!
//! `mcubench run` uses it for `kind: probe-rs` boards (open, flash, reset and run); the
//! protocol then goes over the board's `serial:` port, as for `kind: serial` boards.
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use probe_rs::config::{Registry, RegistryError};
use probe_rs::flashing::{DownloadOptions, ElfLoader, ElfOptions, FlashProgress, ProgressEvent, ProgressOperation};
use probe_rs::probe::list::{Accessibility, Lister};
use probe_rs::probe::{DebugProbeError, DebugProbeInfo, DebugProbeSelector, ProbeCreationError};
use probe_rs::{MemoryInterface, Permissions, Session};
use serde::Serialize;

use crate::config::Board;

/// `probe.selector` of boards.yaml: `VID:PID` or `VID:PID:SERIAL`, the ids in hexadecimal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSelector {
    pub vendor_id: u16,
    pub product_id: u16,
    /// Without it, any probe of that VID:PID matches (an error when several are attached).
    pub serial: Option<String>,
}

/// Why a `probe.selector` does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("expected VID:PID or VID:PID:SERIAL with the USB ids in hexadecimal, e.g. 0483:374b:066DFF535254887767184628")]
    Shape,
    #[error("'{0}' is not a USB id (1 to 4 hexadecimal digits)")]
    Id(String),
    #[error("the serial after the second ':' is empty; leave out the ':' to match any serial")]
    EmptySerial,
    #[error("the serial '{0}' is the placeholder of boards.real.yaml; put in the probe's own serial (`mcubench boards detect` prints it)")]
    Placeholder(String),
}

impl FromStr for ProbeSelector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // At most three parts: a serial may itself hold ':' (some probes report a MAC address).
        let mut parts = s.trim().splitn(3, ':');
        let vid = parts.next().unwrap_or("");
        let pid = parts.next().ok_or(SelectorError::Shape)?;
        let id = |text: &str| {
            if text.is_empty() || text.len() > 4 || !text.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(SelectorError::Id(text.to_string()));
            }
            u16::from_str_radix(text, 16).map_err(|_| SelectorError::Id(text.to_string()))
        };
        let (vendor_id, product_id) = (id(vid)?, id(pid)?);
        let serial = match parts.next() {
            None => None,
            Some("") => return Err(SelectorError::EmptySerial),
            Some(s) if s.to_ascii_uppercase().starts_with("REPLACE") => return Err(SelectorError::Placeholder(s.to_string())),
            Some(s) => Some(s.to_string()),
        };
        Ok(ProbeSelector { vendor_id, product_id, serial })
    }
}

impl fmt::Display for ProbeSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04x}:{:04x}", self.vendor_id, self.product_id)?;
        if let Some(s) = &self.serial {
            write!(f, ":{s}")?;
        }
        Ok(())
    }
}

impl ProbeSelector {
    /// Same ids, and the same serial when the selector has one. A serial matches as the probe
    /// reports it or as its bytes in hexadecimal (how some ST-LINK firmwares show it), in either
    /// case, as probe-rs itself accepts both.
    pub fn matches(&self, probe: &AttachedProbe) -> bool {
        if (self.vendor_id, self.product_id) != (probe.vendor_id, probe.product_id) {
            return false;
        }
        let Some(wanted) = &self.serial else { return true };
        let Some(got) = &probe.serial else { return false };
        let hex: String = got.bytes().map(|b| format!("{b:02X}")).collect();
        got.eq_ignore_ascii_case(wanted) || hex.eq_ignore_ascii_case(wanted)
    }

    fn to_probe_rs(&self) -> DebugProbeSelector {
        DebugProbeSelector {
            vendor_id: self.vendor_id,
            product_id: self.product_id,
            interface: None,
            serial_number: self.serial.clone(),
        }
    }
}

/// A debug probe seen on the USB bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachedProbe {
    /// The probe's product name as probe-rs reports it, e.g. `STLink V2-1`.
    pub identifier: String,
    pub vendor_id: u16,
    pub product_id: u16,
    pub serial: Option<String>,
    /// Whether this user may open it (on Linux: the USB device node's permissions, which
    /// probe-rs's udev rules set up). A probe is listed either way.
    pub accessible: bool,
}

impl AttachedProbe {
    /// The selector that picks exactly this probe (when it has a serial).
    pub fn selector(&self) -> ProbeSelector {
        ProbeSelector { vendor_id: self.vendor_id, product_id: self.product_id, serial: self.serial.clone() }
    }
}

impl fmt::Display for AttachedProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.identifier, self.selector())
    }
}

impl From<&DebugProbeInfo> for AttachedProbe {
    fn from(info: &DebugProbeInfo) -> Self {
        AttachedProbe {
            identifier: info.identifier.clone(),
            vendor_id: info.vendor_id,
            product_id: info.product_id,
            serial: info.serial_number.clone().filter(|s| !s.is_empty()),
            accessible: true,
        }
    }
}

/// The probes attached now (blocking: it walks the USB bus). A probe that shows up through
/// more than one driver or interface is listed once.
pub fn list_attached() -> Vec<AttachedProbe> {
    let mut probes: Vec<AttachedProbe> = Vec::new();
    for item in Lister::new().list_all_with_access() {
        let probe = AttachedProbe { accessible: item.accessibility == Accessibility::Accessible, ..AttachedProbe::from(&item.info) };
        if !probes.contains(&probe) {
            probes.push(probe);
        }
    }
    probes
}

/// Errors of a probe session. Each names the board; the probe-rs cause is kept as text (its
/// whole chain), so the errors can be sent between threads and compared in tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("board {board}: not a probe-rs board (no 'probe: {{ chip: ... }}' in boards.yaml)")]
    NotAProbeBoard { board: String },
    #[error("board {board}: probe.selector '{selector}': {reason}")]
    BadSelector { board: String, selector: String, reason: SelectorError },
    #[error("board {board}: no debug probe is attached to this machine (wanted {wanted}); check the USB cable, and on Linux the udev rules that let this user open the probe (`mcubench boards detect` lists what is seen)")]
    NoProbeAttached { board: String, wanted: String },
    #[error("board {board}: no attached probe matches selector '{selector}'; attached: {}", list(attached))]
    NoMatchingProbe { board: String, selector: String, attached: Vec<AttachedProbe> },
    #[error("board {board}: {} probes match {}: {}; give the serial too (VID:PID:SERIAL)", matching.len(), selector.as_deref().map_or("(no selector: any probe)".to_string(), |s| format!("selector '{s}'")), list(matching))]
    AmbiguousSelector { board: String, selector: Option<String>, matching: Vec<AttachedProbe> },
    #[error("board {board}: probe {probe} is busy: another process has it open (another mcubench run, probe-rs, OpenOCD or a debugger); stop that process or wait for it ({cause})")]
    ProbeBusy { board: String, probe: String, cause: String },
    #[error("board {board}: cannot open probe {probe}: {cause} (on Linux, check the udev rules that let this user open it)")]
    ProbeOpen { board: String, probe: String, cause: String },
    #[error("board {board}: probe-rs does not know chip '{chip}'{}; `probe-rs chip list` lists the names it knows", suggest(suggestions))]
    UnknownChip { board: String, chip: String, suggestions: Vec<String> },
    #[error("board {board}: no {chip} answers through probe {probe}: check the wiring (SWD), that the board is powered, and that it carries a {chip} (`probe-rs chip list`) ({cause})")]
    TargetNotFound { board: String, chip: String, probe: String, cause: String },
    #[error("board {board}: cannot attach to chip {chip} through probe {probe}: {cause} (is the board's chip really a {chip}? `probe-rs chip list`)")]
    Attach { board: String, chip: String, probe: String, cause: String },
    #[error("board {board}: flashing {} failed: {cause}", elf.display())]
    FlashFailed { board: String, elf: PathBuf, cause: String },
    #[error("board {board}: reset and run failed: {cause}")]
    Reset { board: String, cause: String },
    #[error("board {board}: the probe worker thread failed: {cause}")]
    Worker { board: String, cause: String },
    #[error("board {board}: a remote probe (probe.remote) is driven with the probe-rs CLI, and '{cli}' cannot be run: {cause}; install it with `cargo install probe-rs-tools --locked --features remote` (`scripts/setup.sh --with-probe-rs-cli` does) or point MCUBENCH_PROBE_RS_CLI at it")]
    RemoteCliMissing { board: String, cli: String, cause: String },
    #[error("board {board}: '{cli}' was built without probe-rs's `remote` feature (its --help has no --host); reinstall it with `cargo install probe-rs-tools --locked --features remote`")]
    RemoteCliWithoutRemote { board: String, cli: String },
    #[error("board {board}: probe.remote.token_env names {var}, which is not set here; export the token that the probe-rs server at {host} has for you")]
    RemoteTokenUnset { board: String, var: String, host: String },
    #[error("board {board}: cannot reach the probe-rs server at {host}: {cause} (is `probe-rs serve` running there, and its port open to this host?)")]
    RemoteUnreachable { board: String, host: String, cause: String },
    #[error("board {board}: the probe-rs server at {host} closed the connection: {cause} (usually a token it does not know: check probe.remote.token_env and the server's `server.users`)")]
    RemoteRefused { board: String, host: String, cause: String },
    #[error("board {board}: no debug probe is attached to the probe-rs server at {host} (wanted {wanted}); `probe-rs list --host {host}` lists what it sees")]
    RemoteNoProbe { board: String, host: String, wanted: String },
    #[error("{inner} (the probes of the probe-rs server at {host})")]
    OnRemote { host: String, inner: Box<ProbeError> },
    #[error("board {board}: `probe-rs {command}` through the probe-rs server at {host} failed: {cause}")]
    RemoteCommand { board: String, host: String, command: String, cause: String },
    #[error("board {board}: `probe-rs {command}` through the probe-rs server at {host} did not finish within {waited:?}, and was stopped")]
    RemoteTimeout { board: String, host: String, command: String, waited: Duration },
}

fn list(probes: &[AttachedProbe]) -> String {
    if probes.is_empty() {
        return "none".to_string();
    }
    probes.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ")
}

fn suggest(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(" (close names: {})", names.join(", "))
    }
}

/// An error and its sources, one after the other (a source already quoted by its parent is
/// not repeated).
pub fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Whether the error says the USB device is claimed by another process (EBUSY). Some drivers
/// keep the `io::Error`, others (J-Link) fold it into their message, so both are looked at.
fn is_busy(err: &(dyn std::error::Error + 'static)) -> bool {
    let errno_text = format!("os error {}", libc::EBUSY);
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::ResourceBusy || io.raw_os_error() == Some(libc::EBUSY) {
                return true;
            }
        }
        let text = e.to_string().to_ascii_lowercase();
        if text.contains(&errno_text) || text.contains("resource busy") {
            return true;
        }
        next = e.source();
    }
    false
}

/// The board's `probe:` settings and its parsed `probe.selector` (`None`: any one probe).
pub fn probe_settings(board: &Board) -> Result<(&crate::config::ProbeSettings, Option<ProbeSelector>), ProbeError> {
    let settings = board.probe.as_ref().ok_or_else(|| ProbeError::NotAProbeBoard { board: board.name.clone() })?;
    let selector = settings
        .selector
        .as_deref()
        .map(|s| s.parse::<ProbeSelector>().map_err(|reason| ProbeError::BadSelector { board: board.name.clone(), selector: s.to_string(), reason }))
        .transpose()?;
    Ok((settings, selector))
}

/// Picks the one attached probe the selector names (any probe when there is none).
pub fn choose_probe(board: &str, selector: Option<&ProbeSelector>, attached: &[AttachedProbe]) -> Result<AttachedProbe, ProbeError> {
    if attached.is_empty() {
        let wanted = selector.map_or("any probe".to_string(), |s| format!("selector '{s}'"));
        return Err(ProbeError::NoProbeAttached { board: board.to_string(), wanted });
    }
    let matching: Vec<AttachedProbe> = attached.iter().filter(|p| selector.map_or(true, |s| s.matches(p))).cloned().collect();
    match matching.len() {
        1 => Ok(matching.into_iter().next().unwrap()),
        0 => Err(ProbeError::NoMatchingProbe {
            board: board.to_string(),
            selector: selector.map(|s| s.to_string()).unwrap_or_default(),
            attached: attached.to_vec(),
        }),
        _ => Err(ProbeError::AmbiguousSelector { board: board.to_string(), selector: selector.map(|s| s.to_string()), matching }),
    }
}

/// Turns a failure of probe-rs's `open` into the board's error. `attached_now` lists the
/// probes again, to tell "nothing attached" from "not this one" (the probe may have gone).
pub fn map_open_error(
    board: &str,
    wanted: &ProbeSelector,
    err: DebugProbeError,
    attached_now: impl FnOnce() -> Vec<AttachedProbe>,
) -> ProbeError {
    if is_busy(&err) {
        return ProbeError::ProbeBusy { board: board.to_string(), probe: wanted.to_string(), cause: cause_chain(&err) };
    }
    // Nothing on the bus explains any failure (a machine without USB at all fails with
    // "/sys/bus/usb/devices/ not found" rather than "not found").
    let attached = attached_now();
    if attached.is_empty() {
        return ProbeError::NoProbeAttached { board: board.to_string(), wanted: format!("selector '{wanted}'") };
    }
    match err {
        DebugProbeError::ProbeCouldNotBeCreated(ProbeCreationError::NotFound) => {
            ProbeError::NoMatchingProbe { board: board.to_string(), selector: wanted.to_string(), attached }
        }
        other => ProbeError::ProbeOpen { board: board.to_string(), probe: wanted.to_string(), cause: cause_chain(&other) },
    }
}

/// Turns a failure of probe-rs's `attach` into the board's error.
pub fn map_attach_error(board: &str, chip: &str, probe: &str, err: probe_rs::Error) -> ProbeError {
    let (board_s, chip_s, probe_s) = (board.to_string(), chip.to_string(), probe.to_string());
    if is_busy(&err) {
        return ProbeError::ProbeBusy { board: board_s, probe: probe_s, cause: cause_chain(&err) };
    }
    match &err {
        probe_rs::Error::ChipNotFound(RegistryError::ChipNotFound(_) | RegistryError::ChipNotUnique(..)) => {
            ProbeError::UnknownChip { board: board_s, suggestions: close_chip_names(chip), chip: chip_s }
        }
        probe_rs::Error::Probe(DebugProbeError::TargetNotFound) => {
            ProbeError::TargetNotFound { board: board_s, chip: chip_s, probe: probe_s, cause: cause_chain(&err) }
        }
        _ => ProbeError::Attach { board: board_s, chip: chip_s, probe: probe_s, cause: cause_chain(&err) },
    }
}

/// probe-rs's built-in chip list (decoded once: it is large).
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::from_builtin_families)
}

/// Checks that probe-rs knows the chip, before any probe is opened (needs no hardware).
pub fn check_chip(board: &str, chip: &str) -> Result<(), ProbeError> {
    match registry().get_target_by_name(chip) {
        Ok(_) => Ok(()),
        Err(_) => Err(ProbeError::UnknownChip { board: board.to_string(), chip: chip.to_string(), suggestions: close_chip_names(chip) }),
    }
}

/// Up to five known chip names sharing the longest prefix with `chip` (at least 5 characters).
fn close_chip_names(chip: &str) -> Vec<String> {
    let chars: Vec<char> = chip.chars().collect();
    for len in (5..chars.len()).rev() {
        let prefix: String = chars[..len].iter().collect();
        let mut names = registry().search_chips(&prefix);
        names.sort();
        names.dedup();
        if !names.is_empty() {
            names.truncate(5);
            return names;
        }
    }
    Vec::new()
}

/// What a flash step is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FlashPhase {
    /// Reading back flash around the image, to keep what is not overwritten.
    Fill,
    Erase,
    Program,
    Verify,
}

impl From<ProgressOperation> for FlashPhase {
    fn from(op: ProgressOperation) -> Self {
        match op {
            ProgressOperation::Fill => FlashPhase::Fill,
            ProgressOperation::Erase => FlashPhase::Erase,
            ProgressOperation::Program => FlashPhase::Program,
            ProgressOperation::Verify => FlashPhase::Verify,
        }
    }
}

/// One progress report while flashing: bytes done of the phase's total (when known).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FlashStep {
    pub phase: FlashPhase,
    pub done_bytes: u64,
    pub total_bytes: Option<u64>,
    pub finished: bool,
}

/// Turns probe-rs's flashing events into [`FlashStep`]s: it adds up the sizes of each phase.
#[derive(Debug, Default)]
pub struct FlashProgressTracker {
    phases: Vec<(FlashPhase, u64, Option<u64>)>,
}

impl FlashProgressTracker {
    fn phase(&mut self, phase: FlashPhase) -> &mut (FlashPhase, u64, Option<u64>) {
        if let Some(i) = self.phases.iter().position(|p| p.0 == phase) {
            &mut self.phases[i]
        } else {
            self.phases.push((phase, 0, None));
            self.phases.last_mut().unwrap()
        }
    }

    /// The step an event amounts to, if it is one worth reporting.
    pub fn on_event(&mut self, event: &ProgressEvent) -> Option<FlashStep> {
        let step = |p: &(FlashPhase, u64, Option<u64>), finished| FlashStep { phase: p.0, done_bytes: p.1, total_bytes: p.2, finished };
        match event {
            ProgressEvent::AddProgressBar { operation, total } => {
                self.phase((*operation).into()).2 = *total;
                None
            }
            ProgressEvent::Started(op) => Some(step(self.phase((*op).into()), false)),
            ProgressEvent::Progress { operation, size, .. } => {
                let p = self.phase((*operation).into());
                p.1 += size;
                Some(step(p, false))
            }
            ProgressEvent::Finished(op) => Some(step(self.phase((*op).into()), true)),
            ProgressEvent::Failed(_) | ProgressEvent::FlashLayoutReady { .. } | ProgressEvent::DiagnosticMessage { .. } => None,
        }
    }
}

/// An open probe attached to its board's chip.
pub struct ProbeSession {
    board: String,
    chip: String,
    probe: AttachedProbe,
    /// Where the RTT control block is looked for: the board's RAM (faster than all of it).
    ram: Range<u64>,
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    session: Session,
}

/// Runs blocking probe work on the blocking pool, naming the board if that thread panicked.
async fn blocking<T: Send + 'static>(board: &str, work: impl FnOnce() -> Result<T, ProbeError> + Send + 'static) -> Result<T, ProbeError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(e) => Err(ProbeError::Worker { board: board.to_string(), cause: e.to_string() }),
    }
}

impl ProbeSession {
    /// Opens the board's probe (`probe.selector`; the only attached probe when it has none)
    /// and attaches to `probe.chip`. The chip name is checked first, so a typo is reported
    /// without touching the hardware.
    pub async fn open(board: &Board) -> Result<ProbeSession, ProbeError> {
        let name = board.name.clone();
        let (settings, selector) = probe_settings(board)?;
        let chip = settings.chip.clone();
        let ram = board.memory.ram.origin..board.memory.ram.origin + board.memory.ram.size;
        let (b, c) = (name.clone(), chip.clone());
        let (probe, session) = blocking(&name, move || {
            check_chip(&b, &c)?;
            let chosen = choose_probe(&b, selector.as_ref(), &list_attached())?;
            let wanted = chosen.selector();
            let opened = Lister::new().open(wanted.to_probe_rs()).map_err(|e| map_open_error(&b, &wanted, e, list_attached))?;
            let session = opened.attach(c.as_str(), Permissions::default()).map_err(|e| map_attach_error(&b, &c, &chosen.to_string(), e))?;
            Ok((chosen, session))
        })
        .await?;
        Ok(ProbeSession { board: name, chip, probe, ram, inner: Arc::new(Mutex::new(Inner { session })) })
    }

    pub fn probe(&self) -> &AttachedProbe {
        &self.probe
    }

    pub fn chip(&self) -> &str {
        &self.chip
    }

    /// Runs `work` on the session on the blocking pool.
    async fn with_session<T: Send + 'static>(&self, work: impl FnOnce(&mut Inner, &str) -> Result<T, ProbeError> + Send + 'static) -> Result<T, ProbeError> {
        let inner = self.inner.clone();
        let board = self.board.clone();
        blocking(&self.board, move || {
            // A panic in an earlier call poisons the lock; the session itself is still usable.
            let mut guard = inner.lock().unwrap_or_else(|p| p.into_inner());
            work(&mut guard, &board)
        })
        .await
    }

    /// Writes the ELF's loadable sections to flash and reads them back (a benchmark must run
    /// the firmware it reports on). `progress` gets each step; it runs on the probe thread.
    pub async fn flash(&self, elf: &Path, mut progress: impl FnMut(FlashStep) + Send + 'static) -> Result<(), ProbeError> {
        let elf = elf.to_path_buf();
        self.with_session(move |inner, board| {
            let fail = |cause: String| ProbeError::FlashFailed { board: board.to_string(), elf: elf.clone(), cause };
            if !elf.is_file() {
                return Err(fail("no such file".to_string()));
            }
            let mut tracker = FlashProgressTracker::default();
            let mut options = DownloadOptions::default();
            options.verify = true;
            options.progress = FlashProgress::new(move |event| {
                if let Some(step) = tracker.on_event(&event) {
                    progress(step);
                }
            });
            probe_rs::flashing::download_file_with_options(&mut inner.session, &elf, ElfLoader(ElfOptions::default()), options)
                .map_err(|e| fail(cause_chain(&e)))
        })
        .await
    }

    /// Resets the chip and lets it run (the firmware starts from its reset vector).
    pub async fn reset_and_run(&self) -> Result<(), ProbeError> {
        self.with_session(|inner, board| {
            let reset = |session: &mut Session| -> Result<(), probe_rs::Error> { session.core(0)?.reset() };
            reset(&mut inner.session).map_err(|e| ProbeError::Reset { board: board.to_string(), cause: cause_chain(&e) })
        })
        .await
    }

    /// The chip's memory, for the RTT console ([`super::rtt`]): the same RTT code as on
    /// QEMU, here over the probe. Reads and writes go through the running core (memory access
    /// by the debug port does not stop it).
    pub fn memory(&self) -> ProbeMemory {
        ProbeMemory { inner: self.inner.clone() }
    }

    /// The board's RAM, where an RTT block is looked for when the ELF does not say.
    pub fn ram(&self) -> Range<u64> {
        self.ram.clone()
    }
}

/// Target memory through an open probe session.
pub struct ProbeMemory {
    inner: Arc<Mutex<Inner>>,
}

impl super::rtt::TargetMemory for ProbeMemory {
    fn read(&mut self, address: u64, buf: &mut [u8]) -> Result<(), String> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut core = guard.session.core(0).map_err(|e| cause_chain(&e))?;
        core.read_8(address, buf).map_err(|e| cause_chain(&e))
    }

    fn write(&mut self, address: u64, data: &[u8]) -> Result<(), String> {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut core = guard.session.core(0).map_err(|e| cause_chain(&e))?;
        core.write_8(address, data).map_err(|e| cause_chain(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BoardsFile;

    fn probe(identifier: &str, vid: u16, pid: u16, serial: Option<&str>) -> AttachedProbe {
        AttachedProbe { identifier: identifier.into(), vendor_id: vid, product_id: pid, serial: serial.map(Into::into), accessible: true }
    }

    fn real_boards() -> BoardsFile {
        BoardsFile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards.real.yaml")).unwrap()
    }

    #[test]
    fn selectors_parse_with_and_without_serial() {
        let s: ProbeSelector = "0483:374b:066DFF535254".parse().unwrap();
        assert_eq!((s.vendor_id, s.product_id, s.serial.as_deref()), (0x0483, 0x374b, Some("066DFF535254")));
        let s: ProbeSelector = "2E8A:c".parse().unwrap();
        assert_eq!((s.vendor_id, s.product_id, s.serial.as_deref()), (0x2e8a, 0x000c, None));
        assert_eq!(s.to_string(), "2e8a:000c");
        // A serial may hold ':' itself.
        let s: ProbeSelector = "303a:1001:F4:12:FA:00".parse().unwrap();
        assert_eq!(s.serial.as_deref(), Some("F4:12:FA:00"));
        assert_eq!(s.to_string(), "303a:1001:F4:12:FA:00");
    }

    #[test]
    fn bad_selectors_say_what_is_wrong() {
        assert_eq!("0483".parse::<ProbeSelector>(), Err(SelectorError::Shape));
        assert_eq!("0483:37g4".parse::<ProbeSelector>(), Err(SelectorError::Id("37g4".into())));
        assert_eq!("10483:374b".parse::<ProbeSelector>(), Err(SelectorError::Id("10483".into())));
        assert_eq!(":374b".parse::<ProbeSelector>(), Err(SelectorError::Id("".into())));
        assert_eq!("0483:374b:".parse::<ProbeSelector>(), Err(SelectorError::EmptySerial));
        assert_eq!(
            "0483:374b:REPLACE_WITH_STLINK_SERIAL".parse::<ProbeSelector>(),
            Err(SelectorError::Placeholder("REPLACE_WITH_STLINK_SERIAL".into()))
        );
        let e = ProbeError::BadSelector { board: "nucleo".into(), selector: "0483:374b:REPLACE_X".into(), reason: SelectorError::Placeholder("REPLACE_X".into()) };
        assert_eq!(
            e.to_string(),
            "board nucleo: probe.selector '0483:374b:REPLACE_X': the serial 'REPLACE_X' is the placeholder of boards.real.yaml; put in the probe's own serial (`mcubench boards detect` prints it)"
        );
    }

    #[test]
    fn selectors_match_ids_and_serial_as_text_or_hex() {
        let st = probe("STLink V2-1", 0x0483, 0x374b, Some("066DFF"));
        assert!("0483:374b".parse::<ProbeSelector>().unwrap().matches(&st));
        assert!("0483:374b:066dff".parse::<ProbeSelector>().unwrap().matches(&st));
        // "066DFF" as bytes in hexadecimal: '0' = 0x30, '6' = 0x36, ...
        assert!("0483:374b:303636444646".parse::<ProbeSelector>().unwrap().matches(&st));
        assert!(!"0483:374b:066DF0".parse::<ProbeSelector>().unwrap().matches(&st));
        assert!(!"0483:374e".parse::<ProbeSelector>().unwrap().matches(&st));
        assert!(!"0484:374b".parse::<ProbeSelector>().unwrap().matches(&st));
        let no_serial = probe("CMSIS-DAP", 0xc251, 0xf002, None);
        assert!(!"c251:f002:1234".parse::<ProbeSelector>().unwrap().matches(&no_serial));
        assert!("c251:f002".parse::<ProbeSelector>().unwrap().matches(&no_serial));
    }

    #[test]
    fn choosing_a_probe_names_board_and_what_is_attached() {
        let a = probe("STLink V2-1", 0x0483, 0x374b, Some("AAA"));
        let b = probe("STLink V2-1", 0x0483, 0x374b, Some("BBB"));
        let j = probe("J-Link", 0x1366, 0x1015, Some("683"));
        let sel = |s: &str| s.parse::<ProbeSelector>().unwrap();
        let attached = vec![a.clone(), b.clone(), j.clone()];
        assert_eq!(choose_probe("l4", Some(&sel("0483:374b:BBB")), &attached), Ok(b.clone()));
        assert_eq!(choose_probe("nrf", Some(&sel("1366:1015")), &attached), Ok(j.clone()));
        assert_eq!(choose_probe("solo", None, &[j.clone()]), Ok(j.clone()));

        let none = choose_probe("l4", Some(&sel("0483:374b:CCC")), &attached).unwrap_err();
        assert!(matches!(&none, ProbeError::NoMatchingProbe { attached: listed, .. } if listed.len() == 3), "{none:?}");
        assert_eq!(
            none.to_string(),
            "board l4: no attached probe matches selector '0483:374b:CCC'; attached: STLink V2-1 (0483:374b:AAA); STLink V2-1 (0483:374b:BBB); J-Link (1366:1015:683)"
        );
        let several = choose_probe("l4", Some(&sel("0483:374b")), &attached).unwrap_err();
        assert_eq!(
            several.to_string(),
            "board l4: 2 probes match selector '0483:374b': STLink V2-1 (0483:374b:AAA); STLink V2-1 (0483:374b:BBB); give the serial too (VID:PID:SERIAL)"
        );
        let any = choose_probe("l4", None, &attached).unwrap_err();
        assert!(any.to_string().starts_with("board l4: 3 probes match (no selector: any probe): "), "{any}");
        let empty = choose_probe("l4", Some(&sel("0483:374b:AAA")), &[]).unwrap_err();
        assert_eq!(empty, ProbeError::NoProbeAttached { board: "l4".into(), wanted: "selector '0483:374b:AAA'".into() });
        assert!(empty.to_string().contains("mcubench boards detect"), "{empty}");
    }

    #[test]
    fn busy_probes_are_told_apart_from_other_open_failures() {
        let wanted: ProbeSelector = "0483:374b:AAA".parse().unwrap();
        let nobody = || -> Vec<AttachedProbe> { panic!("not listed again for a busy probe") };
        // ST-LINK, CMSIS-DAP: nusb's EBUSY kept as an io::Error.
        let busy = DebugProbeError::ProbeCouldNotBeCreated(ProbeCreationError::Usb(std::io::Error::from_raw_os_error(libc::EBUSY)));
        let e = map_open_error("l4", &wanted, busy, nobody);
        assert!(matches!(&e, ProbeError::ProbeBusy { board, probe, .. } if board == "l4" && probe == "0483:374b:AAA"), "{e:?}");
        assert!(e.to_string().starts_with("board l4: probe 0483:374b:AAA is busy: another process has it open"), "{e}");
        // J-Link: the errno folded into the driver's message.
        let jlink = DebugProbeError::Usb(std::io::Error::other(format!(
            "error while taking control over USB device: {}",
            std::io::Error::from_raw_os_error(libc::EBUSY)
        )));
        assert!(matches!(map_open_error("nrf", &wanted, jlink, nobody), ProbeError::ProbeBusy { .. }));
        // Permissions are not "busy".
        let there = || vec![probe("STLink V2-1", 0x0483, 0x374b, Some("AAA"))];
        let denied = || DebugProbeError::ProbeCouldNotBeCreated(ProbeCreationError::Usb(std::io::Error::from_raw_os_error(libc::EACCES)));
        let e = map_open_error("l4", &wanted, denied(), there);
        assert!(matches!(&e, ProbeError::ProbeOpen { cause, .. } if cause.contains("ermission denied")), "{e:?}");
        assert!(e.to_string().contains("udev rules"), "{e}");
        // With nothing on the bus, any failure means no probe (here: no USB subsystem at all).
        let no_usb = DebugProbeError::ProbeCouldNotBeCreated(ProbeCreationError::Usb(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "/sys/bus/usb/devices/ not found",
        )));
        assert!(matches!(map_open_error("l4", &wanted, no_usb, Vec::new), ProbeError::NoProbeAttached { .. }));
        assert!(matches!(map_open_error("l4", &wanted, denied(), Vec::new), ProbeError::NoProbeAttached { .. }));
        // Gone since it was listed: explained by what is attached now.
        let gone = || DebugProbeError::ProbeCouldNotBeCreated(ProbeCreationError::NotFound);
        assert!(matches!(map_open_error("l4", &wanted, gone(), Vec::new), ProbeError::NoProbeAttached { .. }));
        let other = vec![probe("J-Link", 0x1366, 0x1015, Some("1"))];
        assert!(matches!(map_open_error("l4", &wanted, gone(), || other), ProbeError::NoMatchingProbe { attached, .. } if attached.len() == 1));
    }

    #[test]
    fn attach_failures_name_the_chip_and_hint_the_chip_list() {
        let unknown = map_attach_error("l4", "STM32L4R5ZITy", "0483:374b:A", probe_rs::Error::ChipNotFound(RegistryError::ChipNotFound("STM32L4R5ZITy".into())));
        match &unknown {
            ProbeError::UnknownChip { chip, suggestions, .. } => {
                assert_eq!(chip, "STM32L4R5ZITy");
                assert!(!suggestions.is_empty() && suggestions.iter().all(|s| s.starts_with("STM32L4R5ZI")), "{suggestions:?}");
                // Every name suggested is one probe-rs accepts.
                for s in suggestions {
                    assert_eq!(check_chip("l4", s), Ok(()), "{s}");
                }
            }
            other => panic!("{other:?}"),
        }
        assert!(unknown.to_string().contains("`probe-rs chip list`"), "{unknown}");
        let absent = map_attach_error("l4", "STM32L4R5ZITx", "0483:374b:A", probe_rs::Error::Probe(DebugProbeError::TargetNotFound));
        assert!(matches!(&absent, ProbeError::TargetNotFound { chip, .. } if chip == "STM32L4R5ZITx"), "{absent:?}");
        let text = absent.to_string();
        assert!(text.starts_with("board l4: no STM32L4R5ZITx answers through probe 0483:374b:A: check the wiring"), "{text}");
        assert!(text.contains("probe-rs chip list") && text.contains("Failed to find or attach to the target"), "{text}");
        let other = map_attach_error("l4", "STM32L4R5ZITx", "0483:374b:A", probe_rs::Error::Other("core locked".into()));
        assert_eq!(
            other.to_string(),
            "board l4: cannot attach to chip STM32L4R5ZITx through probe 0483:374b:A: core locked (is the board's chip really a STM32L4R5ZITx? `probe-rs chip list`)"
        );
    }

    #[test]
    fn chip_names_are_checked_without_hardware() {
        for board in real_boards().boards {
            let chip = &board.probe.as_ref().unwrap().chip;
            assert_eq!(check_chip(&board.name, chip), Ok(()), "probe-rs must know the chip of {}", board.name);
        }
        let e = check_chip("h7", "STM32H743ZZZZ").unwrap_err();
        assert!(matches!(&e, ProbeError::UnknownChip { board, chip, suggestions } if board == "h7" && chip == "STM32H743ZZZZ" && !suggestions.is_empty()), "{e:?}");
        assert!(e.to_string().starts_with("board h7: probe-rs does not know chip 'STM32H743ZZZZ' (close names: STM32H743"), "{e}");
        let far = check_chip("x", "NoSuchChipAtAll").unwrap_err();
        assert_eq!(far.to_string(), "board x: probe-rs does not know chip 'NoSuchChipAtAll'; `probe-rs chip list` lists the names it knows");
    }

    #[test]
    fn flash_failures_carry_the_cause_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("flash algorithm timed out")]
        struct Inner;
        #[derive(Debug, thiserror::Error)]
        #[error("erasing sector 3 failed")]
        struct Outer(#[source] Inner);
        let e = ProbeError::FlashFailed { board: "f7".into(), elf: "fw.elf".into(), cause: cause_chain(&Outer(Inner)) };
        assert_eq!(e.to_string(), "board f7: flashing fw.elf failed: erasing sector 3 failed: flash algorithm timed out");
        // A source the parent already quotes is not repeated.
        #[derive(Debug, thiserror::Error)]
        #[error("erasing failed: flash algorithm timed out")]
        struct Quoting(#[source] Inner);
        assert_eq!(cause_chain(&Quoting(Inner)), "erasing failed: flash algorithm timed out");
    }

    #[test]
    fn flash_progress_adds_up_each_phase() {
        let mut t = FlashProgressTracker::default();
        let events = [
            ProgressEvent::AddProgressBar { operation: ProgressOperation::Erase, total: Some(4096) },
            ProgressEvent::AddProgressBar { operation: ProgressOperation::Program, total: Some(3000) },
            ProgressEvent::Started(ProgressOperation::Erase),
            ProgressEvent::Progress { operation: ProgressOperation::Erase, size: 2048, time: Duration::ZERO },
            ProgressEvent::Progress { operation: ProgressOperation::Erase, size: 2048, time: Duration::ZERO },
            ProgressEvent::Finished(ProgressOperation::Erase),
            ProgressEvent::DiagnosticMessage { message: "hello".into() },
            ProgressEvent::Progress { operation: ProgressOperation::Program, size: 1024, time: Duration::ZERO },
        ];
        let steps: Vec<FlashStep> = events.iter().filter_map(|e| t.on_event(e)).collect();
        let erase = |done, finished| FlashStep { phase: FlashPhase::Erase, done_bytes: done, total_bytes: Some(4096), finished };
        assert_eq!(
            steps,
            vec![
                erase(0, false),
                erase(2048, false),
                erase(4096, false),
                erase(4096, true),
                FlashStep { phase: FlashPhase::Program, done_bytes: 1024, total_bytes: Some(3000), finished: false },
            ]
        );
    }

    /// The runner spawns one tokio task per board: a session and its futures must be Send.
    #[test]
    fn sessions_and_their_futures_can_live_in_a_spawned_task() {
        fn send<T: Send>(_: &T) {}
        fn send_sync<T: Send + Sync>() {}
        send_sync::<ProbeSession>();
        send_sync::<ProbeError>();
        let board = real_boards().boards.remove(0);
        send(&ProbeSession::open(&board));
        // Type checks only: these futures are never polled.
        let check = |session: &ProbeSession| {
            send(&session.flash(Path::new("fw.elf"), |_| {}));
            send(&session.reset_and_run());
            let memory: Box<dyn super::super::rtt::TargetMemory> = Box::new(session.memory());
            send(&memory);
        };
        let _ = check;
    }

    /// The README promises probe support without system libraries: no crate that links
    /// libusb, libudev or hidapi may come in (e.g. by turning on probe-rs's `cmsisdap_v1`).
    #[test]
    fn no_crate_needs_a_system_usb_library() {
        let lock = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock")).unwrap();
        assert!(lock.contains("name = \"probe-rs\""), "probe-rs is in the lock file");
        for sys in ["hidapi", "libudev-sys", "libudev", "libusb1-sys", "rusb"] {
            assert!(!lock.contains(&format!("name = \"{sys}\"\n")), "{sys} is in Cargo.lock: it needs a system library (scripts/setup.sh would have to install it)");
        }
    }

    /// Asks probe-rs itself to open a probe on this machine. With no probe attached (as on the
    /// development and CI machines) that is `NoProbeAttached`; with probes attached, none of
    /// which has this serial, `NoMatchingProbe`.
    #[test]
    fn opening_a_probe_that_is_not_there_fails_naming_the_board() {
        let wanted: ProbeSelector = "0483:374b:MCUBENCH-NO-SUCH-PROBE".parse().unwrap();
        let err = match Lister::new().open(wanted.to_probe_rs()) {
            Ok(_) => panic!("a probe with serial MCUBENCH-NO-SUCH-PROBE opened"),
            Err(e) => map_open_error("nucleo-l4r5zi", &wanted, e, list_attached),
        };
        if list_attached().is_empty() {
            assert_eq!(err, ProbeError::NoProbeAttached { board: "nucleo-l4r5zi".into(), wanted: "selector '0483:374b:MCUBENCH-NO-SUCH-PROBE'".into() });
            assert!(err.to_string().starts_with("board nucleo-l4r5zi: no debug probe is attached to this machine (wanted selector '0483:374b:MCUBENCH-NO-SUCH-PROBE')"), "{err}");
        } else {
            assert!(matches!(err, ProbeError::NoMatchingProbe { .. }), "{err:?}");
        }
    }

    #[tokio::test]
    async fn a_session_on_a_probeless_machine_fails_before_touching_usb_for_bad_settings() {
        let mut board = real_boards().boards.into_iter().find(|b| b.name == "nucleo-l4r5zi").unwrap();
        // The placeholder serial of boards.real.yaml is refused as such.
        let err = ProbeSession::open(&board).await.err().unwrap();
        assert!(matches!(&err, ProbeError::BadSelector { reason: SelectorError::Placeholder(_), .. }), "{err:?}");
        // A chip probe-rs does not know is reported before any probe is opened.
        board.probe.as_mut().unwrap().selector = Some("0483:374b:MCUBENCH-NO-SUCH-PROBE".into());
        board.probe.as_mut().unwrap().chip = "STM32L4R5ZIQQ".into();
        let err = ProbeSession::open(&board).await.err().unwrap();
        assert!(matches!(&err, ProbeError::UnknownChip { .. }), "{err:?}");
        // Good settings, no such probe.
        board.probe.as_mut().unwrap().chip = "STM32L4R5ZITx".into();
        let err = ProbeSession::open(&board).await.err().unwrap();
        if list_attached().is_empty() {
            assert!(matches!(&err, ProbeError::NoProbeAttached { board, .. } if board == "nucleo-l4r5zi"), "{err:?}");
        } else {
            assert!(matches!(&err, ProbeError::NoMatchingProbe { .. }), "{err:?}");
        }
        board.probe = None;
        assert!(matches!(ProbeSession::open(&board).await.err().unwrap(), ProbeError::NotAProbeBoard { .. }));
    }
}
