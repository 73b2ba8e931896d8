//! Opens and configures the energy monitor a board's `energy:` section names, over the same
//! port code as the boards' serial lines (local device, `tcp://`, `rfc2217://`).
use std::time::Duration;

use super::lpm01a::{Lpm01a, Lpm01aConfig};
use super::ppk2::{Ppk2, Ppk2Config};
use super::{AnyMonitor, EnergyMonitor};
use crate::config::{Board, EnergySettings, MonitorKind};
use crate::session::serial::open_port;
use crate::session::BoardStream;

/// The LPM01A's fixed serial rate (ST UM2269).
pub const LPM01A_BAUD: u32 = 3_686_400;

/// A monitor that could not be brought up; names the board, the monitor and the port.
#[derive(Debug, thiserror::Error)]
#[error("board {board}: energy monitor {monitor} on {port}: {message}")]
pub struct MonitorError {
    pub board: String,
    pub monitor: &'static str,
    pub port: String,
    pub message: String,
}

/// Opens the board's monitor, puts it in the energy-mode configuration and, when it supplies
/// the DUT, switches the supply on.
pub async fn open_monitor(board: &Board, settings: &EnergySettings, timeout: Duration) -> Result<AnyMonitor<BoardStream>, MonitorError> {
    let fail = |port: String, message: String| MonitorError { board: board.name.clone(), monitor: settings.monitor.label(), port, message };
    let baud = settings.baud.unwrap_or(match settings.monitor {
        MonitorKind::Lpm01a => LPM01A_BAUD,
        // USB CDC: the rate is not used, any value opens the port.
        MonitorKind::Ppk2 => 115_200,
    });
    let (address, stream) = open_port(&settings.port, baud, timeout).await.map_err(|(a, m)| fail(a, m))?;
    let shown = address.to_string();
    let mut mon = match settings.monitor {
        MonitorKind::Lpm01a => {
            let mut cfg = Lpm01aConfig::default();
            if let Some(mv) = settings.voltage_mv {
                cfg.voltage_mv = mv;
            }
            if let Some(hz) = settings.sample_rate_hz {
                cfg.sample_rate_hz = hz;
            }
            AnyMonitor::Lpm01a(Lpm01a::new(stream, shown.clone(), cfg))
        }
        MonitorKind::Ppk2 => {
            let mut cfg = Ppk2Config::default();
            if let Some(mv) = settings.voltage_mv {
                cfg.voltage_mv = mv;
            }
            if let Some(ch) = settings.timestamp_channel {
                cfg.timestamp_channel = ch;
            }
            AnyMonitor::Ppk2(Ppk2::new(stream, shown.clone(), cfg))
        }
    };
    mon.configure().await.map_err(|e| fail(shown.clone(), e.to_string()))?;
    if settings.powers_dut {
        mon.set_dut_power(true).await.map_err(|e| fail(shown.clone(), e.to_string()))?;
    }
    Ok(mon)
}
