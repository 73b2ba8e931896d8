//! Board sessions: bring a board up and hand back a byte stream to its UART. The protocol
//! client sees the same boxed stream whatever the board kind; only QEMU adds the
//! instruction-count side channel. Real boards are reached over serial ([`serial`], local,
//! `tcp://` or `rfc2217://`) and through their debug probe ([`probe`], or [`remote_probe`] for
//! a probe on another host), found with
//! [`detect`], and held by one run at a time ([`lock`]).
pub mod cap;
pub mod detect;
pub mod gdb;
pub mod lock;
pub mod probe;
pub mod qemu;
pub mod remote_probe;
pub mod rfc2217;
pub mod rtt;
pub mod serial;

use std::time::Duration;

use crate::config::{Board, BoardKind};

use tokio::io::{AsyncRead, AsyncWrite};

/// A board's UART as a byte stream.
pub trait BoardIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> BoardIo for T {}

/// The stream the runner and the protocol client use for every kind of board.
pub type BoardStream = Box<dyn BoardIo>;

/// A board in use by one job.
pub enum BoardSession {
    /// An emulated board, with the counting plugin's side channel when it is loaded.
    Qemu(qemu::QemuSession),
    /// An already-flashed board on a serial line (local, raw TCP or RFC 2217).
    Serial(serial::SerialSession),
    /// A board flashed through its debug probe and talked to over its serial line (the same
    /// serial code as `Serial`), or over RTT through the probe (`serial` is `None` then); the
    /// probe stays open so the board can be reset.
    Probe { probe: ProbeLink, serial: Option<serial::SerialSession> },
}

impl BoardSession {
    /// The QEMU session when the instruction-counting plugin is loaded (emulated counts).
    pub fn counter(&mut self) -> Option<&mut qemu::QemuSession> {
        match self {
            BoardSession::Qemu(q) if q.has_counter() => Some(q),
            _ => None,
        }
    }

    pub fn is_emulated(&self) -> bool {
        matches!(self, BoardSession::Qemu(_))
    }

    /// Why the stream may have ended: QEMU's exit status, if it exited within `grace`.
    /// A serial board has no process to ask.
    pub async fn exited_within(&mut self, grace: Duration) -> Option<String> {
        match self {
            BoardSession::Qemu(q) => q.exited_within(grace).await.map(|s| format!("QEMU exited ({s})")),
            BoardSession::Serial(_) | BoardSession::Probe { .. } => None,
        }
    }

    /// The serial address of a real board, for error messages.
    pub fn address(&self) -> Option<&serial::SerialAddress> {
        match self {
            BoardSession::Qemu(_) => None,
            BoardSession::Serial(s) | BoardSession::Probe { serial: Some(s), .. } => Some(&s.address),
            BoardSession::Probe { serial: None, .. } => None,
        }
    }

    /// Resets the board through its probe and lets it run; `false` when this board cannot be
    /// reset (QEMU is started afresh per job, a serial-only board has no reset line).
    pub async fn reset(&self) -> Result<bool, probe::ProbeError> {
        match self {
            BoardSession::Probe { probe, .. } => probe.reset_and_run().await.map(|()| true),
            BoardSession::Qemu(_) | BoardSession::Serial(_) => Ok(false),
        }
    }

    pub fn pid(&self) -> Option<u32> {
        match self {
            BoardSession::Qemu(q) => q.pid(),
            BoardSession::Serial(_) | BoardSession::Probe { .. } => None,
        }
    }

    pub async fn shutdown(self) {
        match self {
            BoardSession::Qemu(q) => q.shutdown().await,
            BoardSession::Serial(_) | BoardSession::Probe { .. } => {}
        }
    }
}

/// A board's debug probe: on this machine (the probe-rs library), or on another host behind
/// `probe-rs serve` (`probe.remote` in boards.yaml).
pub enum ProbeLink {
    Local(probe::ProbeSession),
    Remote(remote_probe::RemoteProbeSession),
}

impl ProbeLink {
    pub async fn open(board: &Board) -> Result<ProbeLink, probe::ProbeError> {
        match board.probe.as_ref().and_then(|p| p.remote.as_ref()) {
            Some(_) => remote_probe::RemoteProbeSession::open(board).await.map(ProbeLink::Remote),
            None => probe::ProbeSession::open(board).await.map(ProbeLink::Local),
        }
    }

    /// Which probe, where, and the chip, for progress lines.
    pub fn describe(&self) -> String {
        match self {
            ProbeLink::Local(p) => format!("probe {} attached to {}", p.probe(), p.chip()),
            ProbeLink::Remote(p) => format!("probe {} on {} attached to {}", p.probe(), p.host(), p.chip()),
        }
    }

    pub async fn flash(&self, elf: &std::path::Path, progress: impl FnMut(probe::FlashStep) + Send + 'static) -> Result<(), probe::ProbeError> {
        match self {
            ProbeLink::Local(p) => p.flash(elf, progress).await,
            ProbeLink::Remote(p) => p.flash(elf, progress).await,
        }
    }

    pub async fn reset_and_run(&self) -> Result<(), probe::ProbeError> {
        match self {
            ProbeLink::Local(p) => p.reset_and_run().await,
            ProbeLink::Remote(p) => p.reset_and_run().await,
        }
    }
}

/// Brings a board back to a known state before a failed job is tried again.
///
/// Nothing is left to do here for any kind, because every attempt starts its own session:
/// QEMU starts a new process (a reset); a serial board reconnects and resynchronises with
/// `name` (a board on a bare line cannot be reset from here); a probe-rs board is opened,
/// flashed and hard-reset through its probe ([`BoardSession::reset`]). Kept as the one place
/// a kind that needs more (a power cycle through a relay, say) would add it.
pub async fn reset(board: &Board) -> anyhow::Result<()> {
    match board.kind {
        BoardKind::Qemu | BoardKind::Serial => Ok(()),
        BoardKind::ProbeRs => Ok(()),
    }
}
