//! QEMU `mps2-an385` (Cortex-M3), `mps2-an386` (Cortex-M4) and `mps2-an500` (Cortex-M7).
//! The three FPGA images share one memory map: 4 MiB SSRAM at 0x0 (used as flash), 4 MiB RAM
//! at 0x2000_0000, CMSDK APB UART0 at 0x4000_4000, 25 MHz system/peripheral clock.

use crate::drivers::cmsdk_uart::CmsdkUart;

pub const NAME: &str = "board-mps2";
const UART0_BASE: usize = 0x4000_4000;
const UART_CLK_HZ: u32 = 25_000_000;
const BAUD: u32 = 115_200;

pub type Serial = CmsdkUart;

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
