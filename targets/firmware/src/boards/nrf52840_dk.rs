//! nRF52840-DK (PCA10056): nRF52840 (Cortex-M4F), the board of TFLite Micro's and MicroFlow's
//! examples (the Arduino Nano 33 BLE has the same chip, but another console and bootloader).
//!
//! * Clock: the CPU always runs at 64 MHz from HFCLK. The 64 MHz crystal oscillator (HFXO) is
//!   started so that HFCLK (and the UART baud rate, and SysTick) is crystal-accurate; if it
//!   does not start, HFCLK stays on the internal RC (HFINT) and the board line says `hfclk=rc`.
//! * Flash: no wait-state setting on this part; the NVMC instruction cache is turned on.
//! * Console: UART0 (the UARTE0 instance in its byte-wise mode) on P0.06 (TX) / P0.08 (RX),
//!   wired to the J-Link OB's virtual COM port.
//! * Memory: 1 MiB flash at 0x0000_0000, 256 KiB RAM at 0x2000_0000 (no SoftDevice).
//!
//! Registers: nRF52840 Product Specification v1.x. Anomaly workarounds that Nordic's
//! SystemInit applies are not applied (none concern the CPU, flash cache, UART or SysTick as
//! used here).

use super::{Cycles, Halt};
use crate::drivers::mmio::{rd, wait, wr};
use crate::drivers::nrf_uart::{NrfUart, BAUD_115200};
use crate::out::Out;

pub const NAME: &str = "board-nrf52840-dk";
pub const CYCLES: Cycles = Cycles::Dwt;
pub const HALT: Halt = Halt::Spin;

pub const SYSCLK_HZ: u32 = 64_000_000;

const CLOCK: usize = 0x4000_0000;
const CLOCK_TASKS_HFCLKSTART: usize = CLOCK + 0x000;
const CLOCK_EVENTS_HFCLKSTARTED: usize = CLOCK + 0x100;
/// HFCLKSTAT: SRC bit 0 (1 = Xtal), STATE bit 16 (running).
const CLOCK_HFCLKSTAT: usize = CLOCK + 0x40C;
const NVMC_ICACHECNF: usize = 0x4001_E540;
const ICACHECNF_CACHEEN: u32 = 1 << 0;
const UART0: usize = 0x4000_2000;
const P0: usize = 0x5000_0000;
const P0_OUTSET: usize = P0 + 0x508;
const P0_PIN_CNF: usize = P0 + 0x700;

const TX_PIN: u32 = 6;
const RX_PIN: u32 = 8;

pub type Serial = NrfUart;

pub fn init() -> Serial {
    wr(NVMC_ICACHECNF, rd(NVMC_ICACHECNF) | ICACHECNF_CACHEEN);
    // HFXO: start it and wait (typically 0.25 ms; give up after a fraction of a second).
    wr(CLOCK_EVENTS_HFCLKSTARTED, 0);
    wr(CLOCK_TASKS_HFCLKSTART, 1);
    let _ = wait(CLOCK_EVENTS_HFCLKSTARTED, 1, 1, 2_000_000);

    // TX: output, high when idle; RX: input (buffer connected), pull-up.
    wr(P0_OUTSET, 1 << TX_PIN);
    wr(P0_PIN_CNF + 4 * TX_PIN as usize, 0b01); // DIR = output, INPUT = connect
    wr(P0_PIN_CNF + 4 * RX_PIN as usize, 0b11 << 2); // DIR = input, INPUT = connect, PULL = up
    // SAFETY: called once at boot; nothing else owns UART0.
    let mut uart = unsafe { NrfUart::new(UART0) };
    uart.init(TX_PIN, RX_PIN, BAUD_115200);
    uart
}

pub fn steal() -> Serial {
    // SAFETY: only used on the way to halting.
    unsafe { NrfUart::new(UART0) }
}

/// ` sysclk_hz=64000000 hfclk=xtal|rc flash_ws=n/a icache=on|off` for the board line.
pub fn clock_facts(out: &mut Out) {
    out.str(" sysclk_hz=");
    out.u64(SYSCLK_HZ as u64);
    let stat = rd(CLOCK_HFCLKSTAT);
    out.str(if stat & 1 != 0 && stat & (1 << 16) != 0 { " hfclk=xtal" } else { " hfclk=rc" });
    out.str(" flash_ws=n/a icache=");
    out.str(if rd(NVMC_ICACHECNF) & ICACHECNF_CACHEEN != 0 { "on" } else { "off" });
    super::clock_check(out, SYSCLK_HZ, SYSCLK_HZ);
}

/// MLPerf Tiny energy mode's timestamp pin: P1.08 (Arduino D7 of the DK), open drain
/// (standard 0, disconnect 1), idle high (docs/boards.md).
#[cfg(feature = "energy-mode")]
pub const TIMESTAMP_PIN: NrfPin = NrfPin { port: 0x5000_0300, pin: 8 };

#[cfg(feature = "energy-mode")]
pub struct NrfPin {
    port: usize,
    pin: u32,
}

#[cfg(feature = "energy-mode")]
impl super::TimestampPin for NrfPin {
    fn init(&self) {
        wr(self.port + 0x508, 1 << self.pin); // OUTSET: released
        // PIN_CNF: output, input buffer disconnected, pull-up, drive S0D1.
        wr(self.port + 0x700 + 4 * self.pin as usize, 1 | (1 << 1) | (3 << 2) | (6 << 8));
    }

    #[inline(always)]
    fn set(&self, high: bool) {
        // OUTSET / OUTCLR.
        wr(self.port + if high { 0x508 } else { 0x50C }, 1 << self.pin);
    }
}
