//! Raspberry Pi Pico: RP2040 (dual Cortex-M0+, the firmware uses core 0 only).
//!
//! * Boot: the boot ROM loads the 256-byte second-stage bootloader from the start of flash
//!   (`.boot2`, from the `rp2040-boot2` crate: W25Q080, the Pico's flash), which sets up XIP
//!   and jumps to the vector table at 0x1000_0100.
//! * Clock: XOSC 12 MHz -> PLL_SYS (REFDIV 1, FBDIV 125 -> VCO 1500 MHz, POSTDIV 6 x 2) ->
//!   125 MHz clk_sys; clk_ref = XOSC; clk_peri = clk_sys. The board line carries clk_sys as
//!   measured by the frequency counter FC0 against the crystal (`sysclk_fc0_khz`).
//! * Flash: XIP over QSPI through a 16 KiB cache; no wait-state setting (the board line gives
//!   the SSI clock divider boot2 set: `xip_ssi_div`).
//! * No DWT on the Cortex-M0+: the cycle line says `n/a`; latency comes from SysTick (on the
//!   125 MHz processor clock, so ticks are cycles). No `dbg` window markers on ARMv6-M.
//! * Console: UART0 on GP0 (TX) / GP1 (RX), 115200 8N1, e.g. through the Raspberry Pi Debug
//!   Probe's UART (its USB serial port) or any 3.3 V USB-serial adapter.
//! * Memory: 2 MiB flash at 0x1000_0000 (0x100 bytes boot2, the rest from 0x1000_0100);
//!   264 KiB SRAM, of which the striped 256 KiB at 0x2000_0000 is used.
//!
//! Registers: RP2040 datasheet.

use super::{Cycles, Halt};
use crate::drivers::mmio::{rd, wait_forever, wr};
use crate::drivers::pl011::Pl011;
use crate::out::Out;

#[link_section = ".boot2"]
#[no_mangle]
#[used]
pub static BOOT2_FIRMWARE: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

pub const NAME: &str = "board-rp-pico";
pub const CYCLES: Cycles = Cycles::NotAvailable("no DWT on Cortex-M0+");
pub const HALT: Halt = Halt::Spin;

pub const SYSCLK_HZ: u32 = 125_000_000;
const XOSC_HZ: u32 = 12_000_000;
const BAUD: u32 = 115_200;

/// Atomic register aliases: +0x2000 sets bits, +0x3000 clears bits.
const SET: usize = 0x2000;
const CLR: usize = 0x3000;

const RESETS: usize = 0x4000_C000;
const RESETS_RESET: usize = RESETS + 0x0;
const RESETS_DONE: usize = RESETS + 0x8;
const RESET_IO_BANK0: u32 = 1 << 5;
const RESET_PADS_BANK0: u32 = 1 << 8;
const RESET_PLL_SYS: u32 = 1 << 12;
const RESET_UART0: u32 = 1 << 22;

const XOSC: usize = 0x4002_4000;
const XOSC_CTRL: usize = XOSC + 0x00;
const XOSC_STATUS: usize = XOSC + 0x04;
const XOSC_STARTUP: usize = XOSC + 0x0C;
const XOSC_CTRL_1_15MHZ: u32 = 0xAA0;
const XOSC_CTRL_ENABLE: u32 = 0xFAB << 12;
const XOSC_STATUS_STABLE: u32 = 1 << 31;

const PLL_SYS: usize = 0x4002_8000;
const PLL_CS: usize = PLL_SYS + 0x0;
const PLL_PWR: usize = PLL_SYS + 0x4;
const PLL_FBDIV_INT: usize = PLL_SYS + 0x8;
const PLL_PRIM: usize = PLL_SYS + 0xC;
const PLL_CS_LOCK: u32 = 1 << 31;
const PLL_PWR_PD: u32 = 1 << 0;
const PLL_PWR_POSTDIVPD: u32 = 1 << 3;
const PLL_PWR_VCOPD: u32 = 1 << 5;
const PLL_FBDIV: u32 = 125;
const PLL_POSTDIV1: u32 = 6;
const PLL_POSTDIV2: u32 = 2;

const CLOCKS: usize = 0x4000_8000;
const CLK_REF_CTRL: usize = CLOCKS + 0x30;
const CLK_REF_SELECTED: usize = CLOCKS + 0x38;
const CLK_SYS_CTRL: usize = CLOCKS + 0x3C;
const CLK_SYS_DIV: usize = CLOCKS + 0x40;
const CLK_SYS_SELECTED: usize = CLOCKS + 0x44;
const CLK_PERI_CTRL: usize = CLOCKS + 0x48;
const CLK_SYS_RESUS_CTRL: usize = CLOCKS + 0x78;
const FC0_REF_KHZ: usize = CLOCKS + 0x80;
const FC0_MIN_KHZ: usize = CLOCKS + 0x84;
const FC0_MAX_KHZ: usize = CLOCKS + 0x88;
const FC0_DELAY: usize = CLOCKS + 0x8C;
const FC0_INTERVAL: usize = CLOCKS + 0x90;
const FC0_SRC: usize = CLOCKS + 0x94;
const FC0_STATUS: usize = CLOCKS + 0x98;
const FC0_RESULT: usize = CLOCKS + 0x9C;
const FC0_SRC_CLK_SYS: u32 = 0x09;
const FC0_STATUS_DONE: u32 = 1 << 4;
const FC0_STATUS_RUNNING: u32 = 1 << 8;
const CLK_REF_SRC_XOSC: u32 = 2;
const CLK_SYS_SRC_AUX: u32 = 1;
const CLK_PERI_ENABLE: u32 = 1 << 11;

const IO_BANK0: usize = 0x4001_4000;
const GPIO_FUNC_UART: u32 = 2;
const PADS_BANK0: usize = 0x4001_C000;
const PADS_IE: u32 = 1 << 6;
const PADS_OD: u32 = 1 << 7;
const UART0: usize = 0x4003_4000;
/// XIP SSI BAUDR (the QSPI clock divider boot2 programmed).
const SSI_BAUDR: usize = 0x1800_0014;

pub type Serial = Pl011;

fn unreset(mask: u32) {
    wr(RESETS_RESET + CLR, mask);
    wait_forever(RESETS_DONE, mask, mask);
}

fn clocks() {
    wr(CLK_SYS_RESUS_CTRL, 0);
    // Crystal: 1-15 MHz range, ~1 ms start-up delay ((12 MHz / 1000 + 128) / 256 = 47).
    wr(XOSC_CTRL, XOSC_CTRL_1_15MHZ);
    wr(XOSC_STARTUP, 47);
    wr(XOSC_CTRL, XOSC_CTRL_1_15MHZ | XOSC_CTRL_ENABLE);
    wait_forever(XOSC_STATUS, XOSC_STATUS_STABLE, XOSC_STATUS_STABLE);

    // clk_sys off the PLL (onto clk_ref), clk_ref onto the crystal.
    wr(CLK_SYS_CTRL + CLR, CLK_SYS_SRC_AUX);
    wait_forever(CLK_SYS_SELECTED, 0b11, 1 << 0);
    wr(CLK_REF_CTRL, CLK_REF_SRC_XOSC);
    wait_forever(CLK_REF_SELECTED, 0b111, 1 << CLK_REF_SRC_XOSC);

    // PLL_SYS: 12 MHz / 1 * 125 = 1500 MHz VCO, / 6 / 2 = 125 MHz.
    wr(RESETS_RESET + SET, RESET_PLL_SYS);
    unreset(RESET_PLL_SYS);
    wr(PLL_CS, 1);
    wr(PLL_FBDIV_INT, PLL_FBDIV);
    wr(PLL_PWR + CLR, PLL_PWR_PD | PLL_PWR_VCOPD);
    wait_forever(PLL_CS, PLL_CS_LOCK, PLL_CS_LOCK);
    wr(PLL_PRIM, (PLL_POSTDIV1 << 16) | (PLL_POSTDIV2 << 12));
    wr(PLL_PWR + CLR, PLL_PWR_POSTDIVPD);

    // clk_sys = pll_sys (AUXSRC 0) / 1; clk_peri = clk_sys.
    wr(CLK_SYS_CTRL + CLR, 0b111 << 5);
    wr(CLK_SYS_DIV, 1 << 8);
    wr(CLK_SYS_CTRL + SET, CLK_SYS_SRC_AUX);
    wait_forever(CLK_SYS_SELECTED, 0b11, 1 << 1);
    wr(CLK_PERI_CTRL, CLK_PERI_ENABLE); // AUXSRC 0 = clk_sys
}

pub fn init() -> Serial {
    clocks();
    unreset(RESET_IO_BANK0 | RESET_PADS_BANK0 | RESET_UART0);
    // GP0 = UART0 TX, GP1 = UART0 RX: function 2; pads: input enabled, output not disabled.
    for pin in [0usize, 1] {
        wr(PADS_BANK0 + 4 + 4 * pin, (rd(PADS_BANK0 + 4 + 4 * pin) & !PADS_OD) | PADS_IE);
        wr(IO_BANK0 + 4 + 8 * pin, GPIO_FUNC_UART);
    }
    // SAFETY: called once at boot; nothing else owns UART0.
    let mut uart = unsafe { Pl011::new(UART0) };
    uart.init(SYSCLK_HZ, BAUD);
    uart
}

pub fn steal() -> Serial {
    // SAFETY: only used on the way to halting.
    unsafe { Pl011::new(UART0) }
}

/// clk_sys in kHz as the frequency counter measures it against clk_ref (the crystal).
fn measure_clk_sys_khz() -> u32 {
    wait_forever(FC0_STATUS, FC0_STATUS_RUNNING, 0);
    wr(FC0_REF_KHZ, XOSC_HZ / 1000);
    wr(FC0_INTERVAL, 10);
    wr(FC0_MIN_KHZ, 0);
    wr(FC0_MAX_KHZ, 0x1FF_FFFF);
    wr(FC0_DELAY, 3);
    wr(FC0_SRC, FC0_SRC_CLK_SYS);
    wait_forever(FC0_STATUS, FC0_STATUS_DONE, FC0_STATUS_DONE);
    rd(FC0_RESULT) >> 5
}

/// ` sysclk_hz=.. sysclk_fc0_khz=.. flash_ws=n/a xip_ssi_div=..` for the board line.
pub fn clock_facts(out: &mut Out) {
    out.str(" sysclk_hz=");
    let prim = rd(PLL_PRIM);
    let pll = XOSC_HZ as u64 / (rd(PLL_CS) & 0x3F).max(1) as u64 * (rd(PLL_FBDIV_INT) & 0xFFF) as u64
        / (((prim >> 16) & 7).max(1) * ((prim >> 12) & 7).max(1)) as u64;
    out.u64(pll);
    out.str(" sysclk_fc0_khz=");
    out.u64(measure_clk_sys_khz() as u64);
    out.str(" flash_ws=n/a xip_ssi_div=");
    out.u64(rd(SSI_BAUDR) as u64);
    super::clock_check(out, pll as u32, SYSCLK_HZ);
}

/// MLPerf Tiny energy mode's timestamp pin: GP2 (pin 4), open drain emulated with the output
/// enable (driven low, or released to its pull-up), idle high (docs/boards.md).
#[cfg(feature = "energy-mode")]
pub const TIMESTAMP_PIN: SioPin = SioPin(2);

#[cfg(feature = "energy-mode")]
pub struct SioPin(usize);

#[cfg(feature = "energy-mode")]
const SIO: usize = 0xD000_0000;

#[cfg(feature = "energy-mode")]
impl super::TimestampPin for SioPin {
    fn init(&self) {
        const GPIO_FUNC_SIO: u32 = 5;
        const PADS_PUE: u32 = 1 << 3;
        let pad = PADS_BANK0 + 4 + 4 * self.0;
        wr(pad, (rd(pad) & !PADS_OD) | PADS_IE | PADS_PUE);
        wr(SIO + 0x018, 1 << self.0); // GPIO_OUT_CLR: low whenever enabled
        wr(SIO + 0x028, 1 << self.0); // GPIO_OE_CLR: released
        wr(IO_BANK0 + 4 + 8 * self.0, GPIO_FUNC_SIO);
    }

    #[inline(always)]
    fn set(&self, high: bool) {
        // GPIO_OE_CLR releases the pin, GPIO_OE_SET drives it low.
        wr(SIO + if high { 0x028 } else { 0x024 }, 1 << self.0);
    }
}
