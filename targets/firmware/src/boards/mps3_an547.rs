//! QEMU `mps3-an547`: Cortex-M55 on the SSE-300 subsystem. 512 KiB ITCM at 0x0 (used as flash),
//! 512 KiB DTCM at 0x2000_0000 (RAM), CMSDK APB UART0 at 0x4930_3000, 32 MHz system clock
//! (SysTick), 25 MHz peripheral clock.

use super::{Cycles, Halt};
use crate::drivers::cmsdk_uart::CmsdkUart;
use crate::out::Out;

pub const NAME: &str = "board-mps3-an547";
const UART0_BASE: usize = 0x4930_3000;
const UART_CLK_HZ: u32 = 25_000_000;
const BAUD: u32 = 115_200;

pub type Serial = CmsdkUart;
/// QEMU does not emulate CYCCNT meaningfully: no cycles line (instructions come from the plugin).
pub const CYCLES: Cycles = Cycles::Off;
pub const HALT: Halt = Halt::SemihostingExit;

/// Nothing after the feature name: the FPGA image's clock is fixed (boards.yaml `clock_hz`).
#[inline(always)]
pub fn clock_facts(_out: &mut Out) {}

pub fn init() -> Serial {
    // SAFETY: called once at boot; nothing else owns UART0.
    let mut uart = unsafe { CmsdkUart::new(UART0_BASE) };
    uart.init(UART_CLK_HZ, BAUD);
    uart
}

pub fn steal() -> Serial {
    // SAFETY: only used on the way to halting.
    unsafe { CmsdkUart::new(UART0_BASE) }
}

/// MLPerf Tiny energy mode's timestamp pin: none on QEMU.
#[cfg(feature = "energy-mode")]
pub const TIMESTAMP_PIN: super::NoPin = super::NoPin;
