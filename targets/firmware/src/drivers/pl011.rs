//! Arm PrimeCell PL011 UART (RP2040 UART0/1), polled, with its 32-byte FIFOs enabled.
//!
//! Registers: DR 0x00, RSR 0x04, FR 0x18 (RXFE bit 4, TXFF bit 5), IBRD 0x24, FBRD 0x28,
//! LCR_H 0x2C (FEN bit 4, WLEN bits 6:5), CR 0x30 (UARTEN bit 0, TXE bit 8, RXE bit 9).

use super::mmio::{rd, wr};
use crate::boards::Console;

const DR: usize = 0x00;
const RSR: usize = 0x04;
const FR: usize = 0x18;
const IBRD: usize = 0x24;
const FBRD: usize = 0x28;
const LCR_H: usize = 0x2C;
const CR: usize = 0x30;

const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;
const LCR_H_FEN: u32 = 1 << 4;
const LCR_H_WLEN8: u32 = 0b11 << 5;
const CR_UARTEN: u32 = 1 << 0;
const CR_TXE: u32 = 1 << 8;
const CR_RXE: u32 = 1 << 9;

pub struct Pl011 {
    base: usize,
}

impl Pl011 {
    /// # Safety
    /// `base` must be a PL011, clocked and out of reset, that nothing else drives.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    /// 8N1 at `baud` from the UART clock `clk_hz`. Returns the actual baud rate.
    pub fn init(&mut self, clk_hz: u32, baud: u32) -> u32 {
        let b = self.base;
        wr(b + CR, 0);
        // Divisor in 1/64ths: 64 * clk / (16 * baud), rounded.
        let div = (8 * clk_hz as u64 / baud as u64) as u32; // 128 * clk / (16 * baud)
        let (ibrd, fbrd) = match div >> 7 {
            0 => (1, 0),
            i if i >= 65535 => (65535, 0),
            i => (i, ((div & 0x7F) + 1) / 2),
        };
        wr(b + IBRD, ibrd);
        wr(b + FBRD, fbrd);
        // The LCR_H write latches IBRD/FBRD.
        wr(b + LCR_H, LCR_H_WLEN8 | LCR_H_FEN);
        wr(b + CR, CR_UARTEN | CR_TXE | CR_RXE);
        (4 * clk_hz as u64 / (64 * ibrd as u64 + fbrd as u64)) as u32
    }
}

impl Console for Pl011 {
    #[inline]
    fn write_byte(&mut self, byte: u8) {
        while rd(self.base + FR) & FR_TXFF != 0 {}
        wr(self.base + DR, byte as u32);
    }

    #[inline]
    fn read_byte(&mut self) -> Option<u8> {
        if rd(self.base + FR) & FR_RXFE != 0 {
            return None;
        }
        let d = rd(self.base + DR);
        if d & 0xF00 != 0 {
            // Framing / parity / break / overrun flags: clear them (keep the byte).
            wr(self.base + RSR, 0);
        }
        Some(d as u8)
    }
}
