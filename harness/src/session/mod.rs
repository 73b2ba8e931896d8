//! Board sessions: bring a board up and hand back a byte stream to its UART. The protocol
//! client sees the same boxed stream whatever the board kind; only QEMU adds the
//! instruction-count side channel. Real boards are reached over serial ([`serial`], local,
//! `tcp://` or `rfc2217://`) and through their debug probe ([`probe`]), found with
//! [`detect`], and held by one run at a time ([`lock`]).
pub mod cap;
pub mod detect;
pub mod lock;
pub mod probe;
pub mod qemu;
pub mod rfc2217;
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
            BoardSession::Serial(_) => None,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        match self {
            BoardSession::Qemu(q) => q.pid(),
            BoardSession::Serial(_) => None,
        }
    }

    pub async fn shutdown(self) {
        match self {
            BoardSession::Qemu(q) => q.shutdown().await,
            BoardSession::Serial(_) => {}
        }
    }
}

/// Brings a board back to a known state before a failed job is tried again.
///
/// QEMU: nothing to do here, each attempt starts a new QEMU process (a reset). Serial: each
/// attempt reconnects and resynchronises with `name`; a board on a bare line cannot be
/// reset from here. probe-rs: the hook the probe kind implements (a hard reset through the
/// probe, and a reflash if needed); it does nothing until that kind runs jobs.
pub async fn reset(board: &Board) -> anyhow::Result<()> {
    match board.kind {
        BoardKind::Qemu | BoardKind::Serial => Ok(()),
        BoardKind::ProbeRs => Ok(()),
    }
}
