//! Energy per inference: drivers for the energy monitors MLPerf Tiny and the community use, the
//! timestamp-pin window of MLPerf Tiny's energy mode, and the `modeled` fallback.
//!
//! - [`lpm01a`]: ST's X-NUCLEO-LPM01A PowerShield (text protocol; the MLPerf Tiny reference).
//! - [`ppk2`]: Nordic's Power Profiler Kit II (binary protocol, 100 kHz current samples with
//!   8 digital inputs).
//! - [`window`]: energy between the last two timestamp events / N, over either monitor's capture.
//! - [`model`]: `modeled` energy from a board's datasheet power model.
//! - [`sim`]: simulated monitors speaking each device's protocol, for tests.
//!
//! How energy is labelled: a window from a monitor is `measured`; the power model gives
//! `modeled`; with neither the figure is `n/a` (no record). See `docs/energy.md`.
//!
//! Use from a runner (one monitor per board, its stream any `AsyncRead + AsyncWrite`):
//! ```no_run
//! # async fn demo(stream: tokio::net::TcpStream) -> Result<(), mcubench::energy::EnergyError> {
//! use mcubench::energy::{lpm01a::{Lpm01a, Lpm01aConfig}, EnergyMonitor, WindowSpec};
//! let mut mon = Lpm01a::new(stream, "/dev/ttyACM1", Lpm01aConfig::default());
//! mon.configure().await?;          // htc, acqtime 0, eventsrc d7 fal, output energy, freq 1k, volt
//! mon.set_dut_power(true).await?;  // the monitor powers the DUT in energy mode
//! // ... boot the DUT, upload the input ...
//! mon.start().await?;              // samples are read in the background from here on
//! // ... dut.infer(n, w).await ...
//! let window = mon.stop_window(&WindowSpec::mlperf(70)).await?;
//! println!("{window}");            // record window.per_inference_uj as EnergyUj, measured
//! # Ok(()) }
//! ```

pub mod connect;
pub mod entry;
mod lines;
pub mod lpm01a;
pub mod model;
pub mod ppk2;
pub mod sim;
pub mod window;

use std::future::Future;
use std::time::Duration;

pub use entry::{measured_entry, modeled_entry};
pub use model::{modeled, modeled_power_mw};
pub use window::{median_per_inference_uj, Capture, EnergyWindow, Event, SampleUnit, WindowError, WindowSpec};

/// Anything that can go wrong with an energy monitor. Every variant names the device and the
/// port, so a failed run can be diagnosed from the message alone.
#[derive(Debug, thiserror::Error)]
pub enum EnergyError {
    /// Nothing (or not what was expected) arrived in time. `last` is the last line or bytes seen.
    #[error("{device} on {port}: no {expected} within {waited:?}{}", last_seen(last))]
    Timeout { device: String, port: String, expected: String, waited: Duration, last: Option<String> },

    /// The stream ended (USB unplugged, TCP peer gone).
    #[error("{device} on {port}: stream closed while waiting for {expected}{}", last_seen(last))]
    Closed { device: String, port: String, expected: String, last: Option<String> },

    /// The monitor answered a command with an error.
    #[error("{device} on {port}: `{command}` refused: {detail}")]
    Refused { device: String, port: String, command: String, detail: String },

    /// The monitor said something that breaks its protocol (e.g. calibration data that does not parse).
    #[error("{device} on {port}: {what}")]
    Protocol { device: String, port: String, what: String },

    /// A setting the monitor cannot take; nothing was sent.
    #[error("{device} on {port}: invalid setting: {what}")]
    InvalidSetting { device: String, port: String, what: String },

    /// A call out of order (e.g. `stop` without `start`).
    #[error("{device} on {port}: {what}")]
    State { device: String, port: String, what: String },

    /// The capture does not give an energy window.
    #[error("{device} on {port}: {source}")]
    Window {
        device: String,
        port: String,
        #[source]
        source: WindowError,
    },

    #[error("{device} on {port}: I/O error while {doing}: {source}")]
    Io {
        device: String,
        port: String,
        doing: String,
        #[source]
        source: std::io::Error,
    },
}

fn last_seen(last: &Option<String>) -> String {
    match last {
        Some(l) => format!(" (last seen: `{l}`)"),
        None => " (nothing received)".to_owned(),
    }
}

/// An energy monitor attached to one DUT.
///
/// Order of calls: `configure` once, `set_dut_power(true)` when the monitor supplies the DUT,
/// then per window `start` .. (DUT runs `infer N W``) .. `stop`/`stop_window`. Between `start`
/// and `stop` a background task drains the monitor's stream, so the runner may take as long as
/// it likes talking to the DUT; if the monitor falls silent, `stop` returns a timeout error.
pub trait EnergyMonitor: Send {
    /// Model name, e.g. `LPM01A`.
    fn device(&self) -> &str;
    /// Where the monitor is attached.
    fn port(&self) -> &str;
    /// Puts the monitor in the energy-mode configuration (voltage, sampling, event input).
    fn configure(&mut self) -> impl Future<Output = Result<(), EnergyError>> + Send;
    /// Switches the DUT supply on or off (the monitor is the DUT's power source).
    fn set_dut_power(&mut self, on: bool) -> impl Future<Output = Result<(), EnergyError>> + Send;
    /// Starts acquisition; samples and timestamp events are recorded from here on.
    fn start(&mut self) -> impl Future<Output = Result<(), EnergyError>> + Send;
    /// Stops acquisition and returns everything recorded since `start`.
    fn stop(&mut self) -> impl Future<Output = Result<Capture, EnergyError>> + Send;
    /// Resolves when the acquisition has ended on its own (the monitor fell silent, the stream
    /// closed); pending while it runs normally and when none runs. `select!` on it next to the
    /// DUT's `infer` to give up early; `stop` then returns the reason.
    fn acquisition_ended(&mut self) -> impl Future<Output = ()> + Send;
    /// `stop`, then the energy window between the last two timestamp events.
    fn stop_window(&mut self, spec: &WindowSpec) -> impl Future<Output = Result<EnergyWindow, EnergyError>> + Send {
        async move {
            let capture = self.stop().await?;
            capture.window(spec).map_err(|source| EnergyError::Window {
                device: capture.device.clone(),
                port: capture.port.clone(),
                source,
            })
        }
    }
}

/// Either monitor, for a runner that picks one from configuration (the trait's async methods
/// make `dyn EnergyMonitor` impossible).
pub enum AnyMonitor<S> {
    Lpm01a(lpm01a::Lpm01a<S>),
    Ppk2(ppk2::Ppk2<S>),
}

macro_rules! each {
    ($self:ident, $m:ident => $e:expr) => {
        match $self {
            AnyMonitor::Lpm01a($m) => $e,
            AnyMonitor::Ppk2($m) => $e,
        }
    };
}

impl<S> EnergyMonitor for AnyMonitor<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    fn device(&self) -> &str {
        each!(self, m => m.device())
    }
    fn port(&self) -> &str {
        each!(self, m => m.port())
    }
    async fn configure(&mut self) -> Result<(), EnergyError> {
        each!(self, m => m.configure().await)
    }
    async fn set_dut_power(&mut self, on: bool) -> Result<(), EnergyError> {
        each!(self, m => m.set_dut_power(on).await)
    }
    async fn start(&mut self) -> Result<(), EnergyError> {
        each!(self, m => m.start().await)
    }
    async fn stop(&mut self) -> Result<Capture, EnergyError> {
        each!(self, m => m.stop().await)
    }
    async fn acquisition_ended(&mut self) {
        each!(self, m => EnergyMonitor::acquisition_ended(m).await)
    }
}

/// A small deterministic PRNG (xorshift64*) for the simulators' noise and drops: tests must be
/// reproducible, and it avoids a dependency.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Approximately normal (sum of 4 uniforms), mean 0, standard deviation 1.
    pub(crate) fn normal(&mut self) -> f64 {
        let s: f64 = (0..4).map(|_| self.unit()).sum();
        (s - 2.0) * (3.0f64).sqrt()
    }
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }
}
