//! QEMU `mps2-an385` (Cortex-M3), `mps2-an386` (Cortex-M4) and `mps2-an500` (Cortex-M7).
//! The three FPGA images share one memory map: 4 MiB SSRAM at 0x0 (used as flash), 4 MiB RAM
//! at 0x2000_0000, CMSDK APB UART0 at 0x4000_4000, 25 MHz system/peripheral clock.

use super::{Cycles, Halt};
use crate::drivers::cmsdk_uart::CmsdkUart;
use crate::out::Out;

pub const NAME: &str = "board-mps2";
const UART0_BASE: usize = 0x4000_4000;
const UART_CLK_HZ: u32 = 25_000_000;
const BAUD: u32 = 115_200;

pub type Serial = CmsdkUart;
/// QEMU does not emulate CYCCNT meaningfully: no cycles line (instructions come from the plugin).
pub const CYCLES: Cycles = Cycles::Off;
pub const HALT: Halt = Halt::SemihostingExit;

/// Nothing after the feature name: the FPGA image's clock is fixed (boards.yaml `clock_hz`).
#[inline(always)]
pub fn clock_facts(_out: &mut Out) {}

/// Brings up the console. The FPGA images need no clock or pin setup.
pub fn init() -> Serial {
    // SAFETY: called once at boot; nothing else owns UART0.
    let mut uart = unsafe { CmsdkUart::new(UART0_BASE) };
    uart.init(UART_CLK_HZ, BAUD);
    uart
}

/// The console for panic / fault reporting (assumes `init` ran, harmless otherwise).
pub fn steal() -> Serial {
    // SAFETY: only used on the way to halting.
    unsafe { CmsdkUart::new(UART0_BASE) }
}

/// MLPerf Tiny energy mode's timestamp pin: none on QEMU.
#[cfg(feature = "energy-mode")]
pub const TIMESTAMP_PIN: super::NoPin = super::NoPin;
