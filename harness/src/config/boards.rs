//! `boards.yaml`: the board farm inventory, one entry per board.
//!
//! The raw file is parsed with serde (unknown fields are errors, so typos are caught), then
//! validated; every error names the file, the line and the field.
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Errors from loading a boards file.
#[derive(Debug, thiserror::Error)]
pub enum BoardsError {
    #[error("cannot read boards file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}:{line}: board '{board}': field '{field}': {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        board: String,
        field: String,
        message: String,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
}

/// The whole inventory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BoardsFile {
    pub boards: Vec<Board>,
}

/// One board of the farm.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Unique name, used on the command line and in results.
    pub name: String,
    /// How the harness reaches the board: `qemu`, `probe-rs` or `serial`.
    pub kind: BoardKind,
    /// QEMU settings (`kind: qemu`).
    #[serde(default)]
    pub qemu: Option<QemuSettings>,
    /// Debug-probe settings (`kind: probe-rs`).
    #[serde(default)]
    pub probe: Option<ProbeSettings>,
    /// Core, e.g. `cortex-m4`.
    pub cpu: Cpu,
    /// Rust target triple the firmware is built for.
    pub target: String,
    /// Firmware board-support package in `targets/firmware` (a cargo feature `board-<name>`).
    pub support: String,
    /// Core clock in Hz. On QEMU this is the clock the latency is derived with.
    pub clock_hz: u64,
    /// SysTick input clock in Hz (the firmware's microsecond timer).
    pub systick_hz: u64,
    /// The memory map the firmware is linked for.
    pub memory: MemoryMap,
    /// The flash/RAM budget of the part being imitated (real parts are smaller than the
    /// emulated memories). Models that do not fit are refused before anything is built.
    #[serde(default)]
    pub budget: Option<Budget>,
    /// Serial link settings.
    #[serde(default)]
    pub serial: SerialSettings,
    /// Where the protocol runs: the board's UART (default) or an RTT console in its RAM, read
    /// through the debug port (the probe; QEMU's gdbstub on the emulated farm).
    #[serde(default)]
    pub console: ConsoleKind,
    /// Optional power model, for `modeled` energy figures.
    #[serde(default)]
    pub power: Option<PowerModel>,
    /// An energy monitor wired to the board (MLPerf Tiny energy mode): `measured` energy.
    #[serde(default)]
    pub energy: Option<EnergySettings>,
    /// A prebuilt firmware to run on this board instead of building one (a vendor build, or an
    /// mcubench firmware built elsewhere), as `mcubench run --firmware` does.
    #[serde(default)]
    pub firmware: Option<BoardFirmware>,
    /// Extra cargo features of `targets/firmware` for this board only (see
    /// [`BOARD_FIRMWARE_FEATURES`]): lets a test fault one board of a run. Part of the firmware
    /// cache key.
    #[serde(default)]
    pub firmware_features: Vec<String>,
    /// Free text: what the board imitates, caveats.
    #[serde(default)]
    pub notes: Option<String>,
}

/// The channel the protocol runs on.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ConsoleKind {
    #[default]
    Uart,
    /// The firmware's `console-rtt` build: a SEGGER-layout RTT control block, up and down
    /// channel 0 (harness/src/session/rtt.rs).
    Rtt,
}

/// The firmware features a board may add with `firmware_features:`: the test-only faults and
/// the kernel choice. Board support and framework features are chosen by the harness itself.
pub const BOARD_FIRMWARE_FEATURES: &[&str] =
    &["test-fault-hang", "test-fault-flood", "test-fault-wrong-result", "test-fault-noisy-uart", "test-extra-work", "kernels-portable", "energy-mode"];

/// `firmware: { elf: path, framework: name, workload: id }` of a board.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BoardFirmware {
    /// The ELF; a relative path is relative to the boards file.
    pub elf: PathBuf,
    /// The framework name its results are recorded under (not one mcubench builds).
    pub framework: String,
    /// The workload it was built for; without it, a run must select exactly one with `-w`.
    #[serde(default)]
    pub workload: Option<String>,
}

/// How a board is reached. `qemu` is the emulated farm; `probe-rs` and `serial` describe
/// real boards (flashed through a debug probe, or already flashed and reached over serial).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum BoardKind {
    Qemu,
    ProbeRs,
    Serial,
}

impl BoardKind {
    pub fn label(&self) -> &'static str {
        match self {
            BoardKind::Qemu => "qemu",
            BoardKind::ProbeRs => "probe-rs",
            BoardKind::Serial => "serial",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QemuSettings {
    /// `-M` machine, e.g. `mps2-an386`.
    pub machine: String,
    /// Extra command-line arguments.
    #[serde(default)]
    pub extra_args: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProbeSettings {
    /// probe-rs chip name, e.g. `STM32L4R5ZITx`.
    pub chip: String,
    /// Probe selector `VID:PID[:SERIAL]`; the first probe when absent.
    #[serde(default)]
    pub selector: Option<String>,
    /// The probe hangs off another host running `probe-rs serve`; absent for a local probe.
    #[serde(default)]
    pub remote: Option<RemoteProbeSettings>,
}

/// A probe reached through probe-rs's remote mode (`probe-rs serve` on the probe's host).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemoteProbeSettings {
    /// The server: `ws://HOST:PORT`, `wss://HOST:PORT` or `socket:///path/to/unix.sock`.
    pub host: String,
    /// The environment variable that holds the server's token for this user (tokens are
    /// secrets, so boards.yaml names the variable, never the token).
    #[serde(default)]
    pub token_env: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SerialSettings {
    /// Where a `kind: serial` board's UART is: a device path (`/dev/ttyACM0`), `tcp://HOST:PORT`
    /// (raw TCP, e.g. ser2net raw mode) or `rfc2217://HOST:PORT` (telnet COM-PORT-OPTION).
    /// QEMU boards use a TCP socket of their own.
    #[serde(default)]
    pub port: Option<String>,
    #[serde(default = "default_baud")]
    pub baud: u32,
}

impl Default for SerialSettings {
    fn default() -> Self {
        SerialSettings { port: None, baud: default_baud() }
    }
}

fn default_baud() -> u32 {
    115_200
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Cpu {
    CortexM0Plus,
    CortexM3,
    CortexM4,
    CortexM7,
    CortexM33,
    CortexM55,
}

impl Cpu {
    /// The core as GCC's `-mcpu` names it (`MCUBENCH_CPU` for the C/C++ framework builds).
    pub fn gcc_name(self) -> &'static str {
        match self {
            Cpu::CortexM0Plus => "cortex-m0plus",
            Cpu::CortexM3 => "cortex-m3",
            Cpu::CortexM4 => "cortex-m4",
            Cpu::CortexM7 => "cortex-m7",
            Cpu::CortexM33 => "cortex-m33",
            Cpu::CortexM55 => "cortex-m55",
        }
    }

    /// The Rust target triples that can run on this core.
    pub fn compatible_targets(self) -> &'static [&'static str] {
        match self {
            Cpu::CortexM0Plus => &["thumbv6m-none-eabi"],
            Cpu::CortexM3 => &["thumbv7m-none-eabi", "thumbv6m-none-eabi"],
            Cpu::CortexM4 | Cpu::CortexM7 => &["thumbv7em-none-eabihf", "thumbv7em-none-eabi", "thumbv7m-none-eabi"],
            Cpu::CortexM33 | Cpu::CortexM55 => &["thumbv8m.main-none-eabihf", "thumbv8m.main-none-eabi"],
        }
    }
}

impl fmt::Display for Cpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cpu::CortexM0Plus => "Cortex-M0+",
            Cpu::CortexM3 => "Cortex-M3",
            Cpu::CortexM4 => "Cortex-M4",
            Cpu::CortexM7 => "Cortex-M7",
            Cpu::CortexM33 => "Cortex-M33",
            Cpu::CortexM55 => "Cortex-M55",
        })
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MemoryMap {
    pub flash: Region,
    pub ram: Region,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Region {
    pub origin: u64,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub flash: u64,
    pub ram: u64,
    /// The part whose budget this is, e.g. `STM32L4R5ZI`.
    #[serde(default)]
    pub part: Option<PartName>,
}

pub type PartName = String;

/// `energy: { monitor: lpm01a | ppk2, port: ..., ... }`: the energy monitor of a board.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EnergySettings {
    pub monitor: MonitorKind,
    /// A device path, `tcp://HOST:PORT` or `rfc2217://HOST:PORT`, as `serial.port`.
    pub port: String,
    /// The monitor's serial rate (LPM01A: 3 686 400, its fixed rate; the PPK2 is USB CDC and
    /// ignores it). Only a local device or RFC 2217 sets it.
    #[serde(default)]
    pub baud: Option<u32>,
    /// DUT supply in mV (default 1800, as MLPerf Tiny). LPM01A 1800..=3300, PPK2 800..=5000.
    #[serde(default)]
    pub voltage_mv: Option<u32>,
    /// LPM01A samples per second (default 1000), one of its fixed rates.
    #[serde(default)]
    pub sample_rate_hz: Option<u32>,
    /// PPK2 digital input the DUT's timestamp pin is wired to (0..=7, default 0).
    #[serde(default)]
    pub timestamp_channel: Option<u8>,
    /// The monitor supplies the DUT (energy mode): its output is switched on before the board
    /// session starts.
    #[serde(default)]
    pub powers_dut: bool,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MonitorKind {
    Lpm01a,
    Ppk2,
}

impl MonitorKind {
    pub fn label(self) -> &'static str {
        match self {
            MonitorKind::Lpm01a => "lpm01a",
            MonitorKind::Ppk2 => "ppk2",
        }
    }
}

impl EnergySettings {
    /// The settings' problem, as (field, message), if any.
    fn problem(&self) -> Option<(&'static str, String)> {
        if let Err(m) = crate::session::serial::SerialAddress::parse(&self.port) {
            return Some(("energy.port", m));
        }
        if self.baud == Some(0) {
            return Some(("energy.baud", "must be greater than zero".into()));
        }
        let (lo, hi) = match self.monitor {
            MonitorKind::Lpm01a => (1800, 3300),
            MonitorKind::Ppk2 => (800, 5000),
        };
        if let Some(mv) = self.voltage_mv.filter(|mv| !(lo..=hi).contains(mv)) {
            return Some(("energy.voltage_mv", format!("{mv} mV is outside {lo}..={hi} mV for a {}", self.monitor.label())));
        }
        match self.monitor {
            MonitorKind::Lpm01a => {
                if let Some(hz) = self.sample_rate_hz.filter(|hz| !crate::energy::lpm01a::FREQUENCIES_HZ.contains(hz)) {
                    return Some(("energy.sample_rate_hz", format!("{hz} Hz is not an LPM01A rate (one of {:?})", crate::energy::lpm01a::FREQUENCIES_HZ)));
                }
                if self.timestamp_channel.is_some() {
                    return Some(("energy.timestamp_channel", "a PPK2 setting; the LPM01A takes the timestamp on D7".into()));
                }
            }
            MonitorKind::Ppk2 => {
                if self.sample_rate_hz.is_some() {
                    return Some(("energy.sample_rate_hz", "an LPM01A setting; the PPK2 samples at a fixed 100 kHz".into()));
                }
                if let Some(ch) = self.timestamp_channel.filter(|ch| *ch > 7) {
                    return Some(("energy.timestamp_channel", format!("{ch}: the PPK2 has digital inputs 0..=7")));
                }
            }
        }
        None
    }
}

/// Datasheet power figures, for `modeled` energy: P = voltage * (static + per-MHz current).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PowerModel {
    pub voltage_v: f64,
    pub active_ua_per_mhz: f64,
    #[serde(default)]
    pub static_ua: f64,
    /// Where the figures come from (datasheet and table).
    pub source: String,
}

impl Board {
    /// What the budget check compares against: the imitated part's budget, else the memory map.
    pub fn flash_budget(&self) -> u64 {
        self.budget.as_ref().map(|b| b.flash).unwrap_or(self.memory.flash.size)
    }
    pub fn ram_budget(&self) -> u64 {
        self.budget.as_ref().map(|b| b.ram).unwrap_or(self.memory.ram.size)
    }
}

impl BoardsFile {
    /// Loads and validates a boards file.
    pub fn load(path: &Path) -> Result<BoardsFile, BoardsError> {
        let text = std::fs::read_to_string(path).map_err(|source| BoardsError::Read { path: path.to_owned(), source })?;
        Self::parse(&text, path)
    }

    /// Parses and validates boards-file text; `path` names the file in messages, and relative
    /// `firmware.elf` paths are taken relative to its directory.

    pub fn parse(text: &str, path: &Path) -> Result<BoardsFile, BoardsError> {
        let mut file: BoardsFile = serde_yaml::from_str(text).map_err(|e| {
            let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
            BoardsError::Syntax { path: path.to_owned(), line, column, message: e.to_string() }
        })?;
        let dir = path.parent().unwrap_or(Path::new(""));
        for fw in file.boards.iter_mut().filter_map(|b| b.firmware.as_mut()) {
            if fw.elf.is_relative() && !fw.elf.as_os_str().is_empty() {
                fw.elf = dir.join(&fw.elf);
            }
        }
        file.validate(text, path)?;
        Ok(file)
    }

    fn validate(&self, text: &str, path: &Path) -> Result<(), BoardsError> {
        if self.boards.is_empty() {
            return Err(BoardsError::File { path: path.to_owned(), message: "no boards listed under 'boards:'".into() });
        }
        let mut seen = BTreeSet::new();
        for board in &self.boards {
            let invalid = |field: &str, message: String| BoardsError::Invalid {
                path: path.to_owned(),
                line: line_of_board(text, &board.name, field),
                board: board.name.clone(),
                field: field.to_owned(),
                message,
            };
            if board.name.is_empty() || !board.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(invalid("name", "use letters, digits, '-', '_' or '.'".into()));
            }
            if !seen.insert(board.name.as_str()) {
                return Err(invalid("name", "duplicate board name".into()));
            }
            if !board.cpu.compatible_targets().contains(&board.target.as_str()) {
                return Err(invalid(
                    "target",
                    format!("'{}' cannot run on a {}; use one of: {}", board.target, board.cpu, board.cpu.compatible_targets().join(", ")),
                ));
            }
            if board.clock_hz == 0 {
                return Err(invalid("clock_hz", "must be greater than zero".into()));
            }
            if board.systick_hz == 0 {
                return Err(invalid("systick_hz", "must be greater than zero".into()));
            }
            for (field, region) in [("memory.flash", board.memory.flash), ("memory.ram", board.memory.ram)] {
                if region.size == 0 {
                    return Err(invalid(field, "size must be greater than zero".into()));
                }
                if region.origin.checked_add(region.size).map_or(true, |end| end > 1 << 32) {
                    return Err(invalid(field, format!("origin {:#x} + size {:#x} leaves the 32-bit address space", region.origin, region.size)));
                }
            }
            let (f, r) = (board.memory.flash, board.memory.ram);
            if f.origin < r.origin + r.size && r.origin < f.origin + f.size {
                return Err(invalid("memory", "flash and RAM regions overlap".into()));
            }
            if let Some(budget) = &board.budget {
                if budget.flash > f.size {
                    return Err(invalid("budget.flash", format!("{} bytes is more than the flash region ({} bytes)", budget.flash, f.size)));
                }
                if budget.ram > r.size {
                    return Err(invalid("budget.ram", format!("{} bytes is more than the RAM region ({} bytes)", budget.ram, r.size)));
                }
            }
            match board.kind {
                BoardKind::Qemu => match &board.qemu {
                    None => return Err(invalid("qemu", "a qemu board needs 'qemu: { machine: ... }'".into())),
                    Some(q) if q.machine.is_empty() => {
                        return Err(invalid("qemu.machine", "must name a QEMU machine, e.g. mps2-an386".into()))
                    }
                    _ => {}
                },
                BoardKind::ProbeRs if board.probe.is_none() => {
                    return Err(invalid("probe", "a probe-rs board needs 'probe: { chip: ... }'".into()));
                }
                // The runner talks to a flashed probe-rs board over this port: check it now.
                BoardKind::ProbeRs => {
                    if let Some(remote) = board.probe.as_ref().and_then(|p| p.remote.as_ref()) {
                        if !["ws://", "wss://", "socket://"].iter().any(|s| remote.host.starts_with(s) && remote.host.len() > s.len()) {
                            return Err(invalid(
                                "probe.remote.host",
                                format!("'{}': give the probe-rs server as ws://HOST:PORT, wss://HOST:PORT or socket:///PATH", remote.host),
                            ));
                        }
                        if let Some(var) = &remote.token_env {
                            if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                                return Err(invalid("probe.remote.token_env", format!("'{var}': name an environment variable (letters, digits, '_'), not the token itself")));
                            }
                        }
                    }
                    if let Some(port) = &board.serial.port {
                        crate::session::serial::SerialAddress::parse(port).map_err(|m| invalid("serial.port", m))?;
                    }
                }
                BoardKind::Serial => match &board.serial.port {
                    None => {
                        return Err(invalid(
                            "serial.port",
                            "a serial board needs a port: a device path, tcp://HOST:PORT or rfc2217://HOST:PORT".into(),
                        ))
                    }
                    Some(port) => {
                        crate::session::serial::SerialAddress::parse(port).map_err(|m| invalid("serial.port", m))?;
                    }
                },
            }
            if board.console == ConsoleKind::Rtt {
                match board.kind {
                    BoardKind::Serial => return Err(invalid("console", "a serial board has only its UART; RTT needs a debug port (kind: probe-rs or qemu)".into())),
                    BoardKind::ProbeRs if board.probe.as_ref().is_some_and(|p| p.remote.is_some()) => {
                        return Err(invalid("console", "RTT is read through a local probe; a probe behind a probe-rs server is flashed and reset only, so use its UART".into()))
                    }
                    _ => {}
                }
            }
            if let Some(fw) = &board.firmware {
                if fw.elf.as_os_str().is_empty() {
                    return Err(invalid("firmware.elf", "must name the firmware's ELF file".into()));
                }
                if !fw.elf.is_file() {
                    return Err(invalid("firmware.elf", format!("{}: no such file", fw.elf.display())));
                }
                if fw.framework.is_empty() || !fw.framework.chars().all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c)) {
                    return Err(invalid("firmware.framework", format!("'{}': use letters, digits, '-', '_', '.' or '+'", fw.framework)));
                }
                if crate::plan::framework(&fw.framework).is_some() {
                    return Err(invalid(
                        "firmware.framework",
                        format!("'{}' is a framework mcubench builds; name the external firmware differently", fw.framework),
                    ));
                }
                if let Some(w) = &fw.workload {
                    if mcubench_workloads::workload::by_id(w).is_none() {
                        let known: Vec<&str> = mcubench_workloads::workload::all().iter().map(|w| w.id).collect();
                        return Err(invalid("firmware.workload", format!("unknown workload '{w}'; known: {}", known.join(", "))));
                    }
                }
            }
            for f in &board.firmware_features {
                if !BOARD_FIRMWARE_FEATURES.contains(&f.as_str()) {
                    return Err(invalid(
                        "firmware_features",
                        format!("unknown firmware feature '{f}'; a board may add: {}", BOARD_FIRMWARE_FEATURES.join(", ")),
                    ));
                }
            }
            if !board.firmware_features.is_empty() && board.firmware.is_some() {
                return Err(invalid("firmware_features", "a board with its own prebuilt 'firmware:' is not built, so it cannot add features".into()));
            }
            if let Some(power) = &board.power {
                if !(power.voltage_v > 0.0) || power.active_ua_per_mhz < 0.0 || power.static_ua < 0.0 {
                    return Err(invalid("power", "voltage must be positive and currents non-negative".into()));
                }
            }
            if let Some((field, message)) = board.energy.as_ref().and_then(EnergySettings::problem) {
                return Err(invalid(field, message));
            }
        }
        Ok(())
    }

    pub fn find(&self, name: &str) -> Option<&Board> {
        self.boards.iter().find(|b| b.name == name)
    }
}

/// Best-effort line number of `field` within the entry for board `name` (1-based); the line of
/// the board's name when the field is not written out.
fn line_of_board(text: &str, name: &str, field: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| {
        let t = l.trim_start().trim_start_matches("- ").trim();
        t.strip_prefix("name:").map(|v| v.trim().trim_matches(['"', '\'']) == name).unwrap_or(false)
    });
    let Some(start) = start else { return 0 };
    // The field's own key (`elf:` on a line of its own), else its parent (`firmware: { elf: .. }`).
    let last = field.rsplit('.').next().unwrap_or(field);
    let first = field.split('.').next().unwrap_or(field);
    for key in [last, first] {
        for (i, l) in lines.iter().enumerate().skip(start + 1) {
            let t = l.trim_start();
            if t.starts_with("- name:") || t.starts_with("-  name:") {
                break;
            }
            if t.trim_start_matches("- ").starts_with(&format!("{key}:")) {
                return i + 1;
            }
        }
    }
    start + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
boards:
  - name: m4
    kind: qemu
    qemu: { machine: mps2-an386 }
    cpu: cortex-m4
    target: thumbv7em-none-eabihf
    support: mps2
    clock_hz: 25000000
    systick_hz: 25000000
    memory:
      flash: { origin: 0x0, size: 0x400000 }
      ram: { origin: 0x20000000, size: 0x400000 }
"#;

    fn parse(text: &str) -> Result<BoardsFile, BoardsError> {
        BoardsFile::parse(text, Path::new("boards.yaml"))
    }

    #[test]
    fn energy_sections_parse_and_bad_settings_name_line_and_field() {
        let with = |e: &str| GOOD.to_string() + &format!("    energy: {e}\n");
        let f = parse(&with("{ monitor: ppk2, port: 'tcp://lab:3003', timestamp_channel: 3, powers_dut: true }")).unwrap();
        let e = f.boards[0].energy.as_ref().unwrap();
        assert_eq!((e.monitor, e.port.as_str(), e.timestamp_channel, e.powers_dut), (MonitorKind::Ppk2, "tcp://lab:3003", Some(3), true));
        for (energy, field, why) in [
            ("{ monitor: lpm01a, port: 'tcp://lab' }", "energy.port", "tcp://HOST:PORT"),
            ("{ monitor: lpm01a, port: /dev/ttyACM1, voltage_mv: 5000 }", "energy.voltage_mv", "outside 1800..=3300 mV for a lpm01a"),
            ("{ monitor: lpm01a, port: /dev/ttyACM1, sample_rate_hz: 3000 }", "energy.sample_rate_hz", "not an LPM01A rate"),
            ("{ monitor: lpm01a, port: /dev/ttyACM1, timestamp_channel: 1 }", "energy.timestamp_channel", "a PPK2 setting"),
            ("{ monitor: ppk2, port: /dev/ttyACM1, timestamp_channel: 8 }", "energy.timestamp_channel", "inputs 0..=7"),
            ("{ monitor: ppk2, port: /dev/ttyACM1, sample_rate_hz: 1000 }", "energy.sample_rate_hz", "an LPM01A setting"),
        ] {
            let msg = parse(&with(energy)).unwrap_err().to_string();
            assert!(msg.starts_with(&format!("boards.yaml:14: board 'm4': field '{field}': ")), "{msg}");
            assert!(msg.contains(why), "{msg}");
        }
        let msg = parse(&with("{ monitor: joulescope, port: /dev/ttyACM1 }")).unwrap_err().to_string();
        assert!(msg.contains("joulescope") && msg.starts_with("boards.yaml:"), "{msg}");
    }

    #[test]
    fn parses_a_good_file() {
        let f = parse(GOOD).unwrap();
        assert_eq!(f.boards[0].cpu, Cpu::CortexM4);
        assert_eq!(f.boards[0].memory.ram.origin, 0x2000_0000);
        assert_eq!(f.boards[0].kind, BoardKind::Qemu);
        assert_eq!(f.boards[0].qemu.as_ref().unwrap().machine, "mps2-an386");
    }

    #[test]
    fn unknown_field_names_line_and_field() {
        let text = GOOD.replace("clock_hz: 25000000", "clock_hz: 25000000\n    clok: 3");
        let msg = parse(&text).unwrap_err().to_string();
        assert!(msg.starts_with("boards.yaml:"), "{msg}");
        assert!(msg.contains("clok"), "{msg}");
        assert!(msg.contains(":10:") || msg.contains(":11:"), "{msg}");
    }

    #[test]
    fn missing_field_is_named() {
        let text = GOOD.replace("    support: mps2\n", "");
        let msg = parse(&text).unwrap_err().to_string();
        assert!(msg.contains("missing field `support`"), "{msg}");
    }

    #[test]
    fn wrong_type_is_a_syntax_error_with_line() {
        let text = GOOD.replace("clock_hz: 25000000", "clock_hz: fast");
        let err = parse(&text).unwrap_err();
        match err {
            BoardsError::Syntax { line, .. } => assert_eq!(line, 9),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn incompatible_target_names_board_field_and_line() {
        let text = GOOD.replace("target: thumbv7em-none-eabihf", "target: thumbv6m-none-eabi");
        let msg = parse(&text).unwrap_err().to_string();
        assert_eq!(
            msg,
            "boards.yaml:7: board 'm4': field 'target': 'thumbv6m-none-eabi' cannot run on a Cortex-M4; use one of: thumbv7em-none-eabihf, thumbv7em-none-eabi, thumbv7m-none-eabi"
        );
    }

    #[test]
    fn duplicate_names_and_overlaps_are_refused() {
        let two = format!("{GOOD}{}", GOOD.replace("boards:\n", ""));
        assert!(parse(&two).unwrap_err().to_string().contains("duplicate board name"));
        let overlap = GOOD.replace("origin: 0x20000000", "origin: 0x100000");
        assert!(parse(&overlap).unwrap_err().to_string().contains("overlap"));
    }

    #[test]
    fn budget_larger_than_region_is_refused() {
        let text = GOOD.replace("      ram: { origin: 0x20000000, size: 0x400000 }", "      ram: { origin: 0x20000000, size: 0x400000 }\n    budget: { flash: 0x800000, ram: 0x1000 }");
        let msg = parse(&text).unwrap_err().to_string();
        assert!(msg.contains("budget.flash"), "{msg}");
    }

    #[test]
    fn unknown_kind_and_empty_file() {
        let msg = parse(&GOOD.replace("kind: qemu", "kind: jtag")).unwrap_err().to_string();
        assert!(msg.contains("jtag"), "{msg}");
        assert!(parse("boards: []").unwrap_err().to_string().contains("no boards"));
        assert!(parse("").is_err());
    }

    #[test]
    fn board_firmware_is_checked_naming_file_line_and_field() {
        let dir = std::env::temp_dir().join(format!("mcubench-boards-fw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("vendor.elf"), b"\x7fELF").unwrap();
        let path = dir.join("farm.yaml");
        let with = |fw: &str| GOOD.replace("    support: mps2\n", &format!("    support: mps2\n    firmware: {fw}\n"));
        // A relative ELF is found next to the boards file.
        let ok = BoardsFile::parse(&with("{ elf: vendor.elf, framework: x-cube-ai, workload: kws01 }"), &path).unwrap();
        let fw = ok.boards[0].firmware.as_ref().unwrap();
        assert_eq!(fw.elf, dir.join("vendor.elf"));
        assert_eq!((fw.framework.as_str(), fw.workload.as_deref()), ("x-cube-ai", Some("kws01")));
        let err = |fw: &str| BoardsFile::parse(&with(fw), &path).unwrap_err().to_string();
        let p = path.display();
        assert_eq!(
            err("{ elf: missing.elf, framework: x }"),
            format!("{p}:9: board 'm4': field 'firmware.elf': {}: no such file", dir.join("missing.elf").display())
        );
        assert!(err("{ elf: vendor.elf, framework: tflite-micro }").starts_with(&format!("{p}:9: board 'm4': field 'firmware.framework': 'tflite-micro' is a framework mcubench builds")));
        assert!(err("{ elf: vendor.elf, framework: 'a b' }").contains("field 'firmware.framework'"));
        assert!(err("{ elf: vendor.elf, framework: x, workload: kws99 }").contains(":9: board 'm4': field 'firmware.workload': unknown workload 'kws99'"));
        // A field of its own line is found too; unknown keys are syntax errors with a line.
        let multi = GOOD.replace("    support: mps2\n", "    support: mps2\n    firmware:\n      elf: nope.elf\n      framework: x\n");
        let e = BoardsFile::parse(&multi, &path).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{p}:10: board 'm4': field 'firmware.elf'")), "{e}");
        assert!(err("{ elf: vendor.elf, framework: x, flags: -O3 }").contains("unknown field `flags`"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn firmware_features_are_checked_naming_file_line_and_field() {
        let with = |f: &str| GOOD.replace("    support: mps2\n", &format!("    support: mps2\n    firmware_features: {f}\n"));
        let ok = parse(&with("[test-fault-hang, kernels-portable]")).unwrap();
        assert_eq!(ok.boards[0].firmware_features, vec!["test-fault-hang", "kernels-portable"]);
        assert!(parse(GOOD).unwrap().boards[0].firmware_features.is_empty());
        let msg = parse(&with("[test-fault-hang, board-mps3-an547]")).unwrap_err().to_string();
        assert!(
            msg.starts_with("boards.yaml:9: board 'm4': field 'firmware_features': unknown firmware feature 'board-mps3-an547'"),
            "{msg}"
        );
        assert!(msg.contains("test-fault-flood"), "the message lists what is allowed: {msg}");
        assert!(parse(&with("test-fault-hang")).is_err(), "a list, not a string");
    }

    #[test]
    fn serial_ports_are_checked_naming_file_line_and_field() {
        let serial = |port: &str| {
            GOOD.replace("kind: qemu\n    qemu: { machine: mps2-an386 }", &format!("kind: serial\n    serial: {{ port: '{port}', baud: 921600 }}"))
        };
        for port in ["/dev/ttyACM0", "tcp://127.0.0.1:3001", "rfc2217://lab-pi:2217"] {
            let f = parse(&serial(port)).unwrap();
            assert_eq!((f.boards[0].kind, f.boards[0].serial.port.as_deref(), f.boards[0].serial.baud), (BoardKind::Serial, Some(port), 921_600));
        }
        let msg = parse(&serial("tcp://lab-pi")).unwrap_err().to_string();
        assert!(msg.starts_with("boards.yaml:5: board 'm4': field 'serial.port': 'tcp://lab-pi': write tcp://HOST:PORT"), "{msg}");
        let msg = parse(&GOOD.replace("kind: qemu", "kind: serial")).unwrap_err().to_string();
        assert!(msg.contains("field 'serial.port': a serial board needs a port"), "{msg}");
    }

    #[test]
    fn remote_probes_are_checked_naming_line_and_field() {
        let remote = |remote: &str| {
            GOOD.replace(
                "kind: qemu\n    qemu: { machine: mps2-an386 }",
                &format!("kind: probe-rs\n    probe: {{ chip: STM32L4R5ZITx, remote: {remote} }}\n    serial: {{ port: 'tcp://farm-2:3001' }}"),
            )
        };
        let f = parse(&remote("{ host: 'ws://farm-2:3000', token_env: FARM2_TOKEN }")).unwrap();
        let r = f.boards[0].probe.as_ref().unwrap().remote.as_ref().unwrap();
        assert_eq!((r.host.as_str(), r.token_env.as_deref()), ("ws://farm-2:3000", Some("FARM2_TOKEN")));
        assert!(parse(&remote("{ host: 'socket:///run/probe-rs.sock' }")).is_ok());
        let msg = parse(&remote("{ host: 'farm-2:3000' }")).unwrap_err().to_string();
        assert!(msg.starts_with("boards.yaml:5: board 'm4': field 'probe.remote.host': 'farm-2:3000': give the probe-rs server as ws://HOST:PORT"), "{msg}");
        let msg = parse(&remote("{ host: 'ws://farm-2:3000', token_env: 'abc def' }")).unwrap_err().to_string();
        assert!(msg.contains("field 'probe.remote.token_env': 'abc def': name an environment variable"), "{msg}");
        let msg = parse(&remote("{ host: 'ws://farm-2:3000', token: x }")).unwrap_err().to_string();
        assert!(msg.contains("unknown field `token`"), "{msg}");
    }

    #[test]
    fn an_rtt_console_needs_a_debug_port() {
        let f = parse(&GOOD.replace("kind: qemu\n", "kind: qemu\n    console: rtt\n")).unwrap();
        assert_eq!(f.boards[0].console, ConsoleKind::Rtt);
        assert_eq!(parse(GOOD).unwrap().boards[0].console, ConsoleKind::Uart, "the UART by default");
        let serial = GOOD.replace("kind: qemu\n    qemu: { machine: mps2-an386 }", "kind: serial\n    console: rtt\n    serial: { port: /dev/ttyACM0 }");
        let msg = parse(&serial).unwrap_err().to_string();
        assert!(msg.contains("field 'console': a serial board has only its UART"), "{msg}");
        let remote = GOOD.replace(
            "kind: qemu\n    qemu: { machine: mps2-an386 }",
            "kind: probe-rs\n    console: rtt\n    probe: { chip: STM32L4R5ZITx, remote: { host: 'ws://h:3000' } }",
        );
        let msg = parse(&remote).unwrap_err().to_string();
        assert!(msg.contains("field 'console': RTT is read through a local probe"), "{msg}");
        let msg = parse(&GOOD.replace("kind: qemu\n", "kind: qemu\n    console: swo\n")).unwrap_err().to_string();
        assert!(msg.contains("unknown variant `swo`"), "{msg}");
    }

    #[test]
    fn the_default_inventory_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards.yaml");
        let f = BoardsFile::load(&path).unwrap();
        assert!(f.boards.len() >= 3);
        let cpus: BTreeSet<Cpu> = f.boards.iter().map(|b| b.cpu).collect();
        assert!(cpus.len() >= 3, "the default farm covers three different cores");
    }
}
