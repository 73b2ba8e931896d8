//! STM32 USART / LPUART with the ISR/ICR/RDR/TDR register layout (STM32L4+, F7, H7), polled.
//!
//! Registers: CR1 0x00, CR2 0x04, CR3 0x08, BRR 0x0C, ISR 0x1C, ICR 0x20, RDR 0x24, TDR 0x28.
//! 8N1 is the reset configuration of CR1/CR2. Overrun detection is disabled (CR3.OVRDIS) so a
//! byte that arrives while the firmware is busy is lost instead of stopping reception.

use super::mmio::{rd, wr};
use crate::boards::Console;

const CR1: usize = 0x00;
const CR2: usize = 0x04;
const CR3: usize = 0x08;
const BRR: usize = 0x0C;
const ISR: usize = 0x1C;
const ICR: usize = 0x20;
const RDR: usize = 0x24;
const TDR: usize = 0x28;

const CR1_UE: u32 = 1 << 0;
const CR1_RE: u32 = 1 << 2;
const CR1_TE: u32 = 1 << 3;
/// FIFO mode (H7 USARTs): 16-byte RX/TX FIFOs. Only writable while UE = 0.
const CR1_FIFOEN: u32 = 1 << 29;
const CR3_OVRDIS: u32 = 1 << 12;
const ISR_PE_FE_NE: u32 = 0b111;
const ISR_RXNE: u32 = 1 << 5;
const ISR_TXE: u32 = 1 << 7;

pub struct Stm32Usart {
    base: usize,
}

impl Stm32Usart {
    /// # Safety
    /// `base` must be a USART/LPUART of this layout, clocked, that nothing else drives.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    /// `brr`: the BRR value (USART: f_ck / baud with 16x oversampling; LPUART: 256 * f_ck / baud).
    pub fn init(&mut self, brr: u32, fifo: bool) {
        let b = self.base;
        wr(b + CR1, 0);
        wr(b + CR2, 0);
        wr(b + CR3, CR3_OVRDIS);
        wr(b + BRR, brr);
        let fifo = if fifo { CR1_FIFOEN } else { 0 };
        wr(b + CR1, fifo);
        wr(b + CR1, fifo | CR1_TE | CR1_RE | CR1_UE);
    }
}

/// USART BRR with 16x oversampling, rounded.
pub const fn usart_brr(clk_hz: u32, baud: u32) -> u32 {
    (clk_hz + baud / 2) / baud
}

/// LPUART BRR (256 * f_ck / baud), rounded.
pub const fn lpuart_brr(clk_hz: u32, baud: u32) -> u32 {
    ((clk_hz as u64 * 256 + baud as u64 / 2) / baud as u64) as u32
}

impl Console for Stm32Usart {
    #[inline]
    fn write_byte(&mut self, byte: u8) {
        while rd(self.base + ISR) & ISR_TXE == 0 {}
        wr(self.base + TDR, byte as u32);
    }

    #[inline]
    fn read_byte(&mut self) -> Option<u8> {
        let isr = rd(self.base + ISR);
        if isr & ISR_PE_FE_NE != 0 {
            // A framing / noise / parity error: clear it (the byte, if any, is still read).
            wr(self.base + ICR, ISR_PE_FE_NE);
        }
        if isr & ISR_RXNE != 0 {
            Some(rd(self.base + RDR) as u8)
        } else {
            None
        }
    }
}
