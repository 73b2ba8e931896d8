//! nRF52 UART0 in its byte-wise (non-EasyDMA) mode, polled. The UARTE0 instance at 0x4000_2000
//! is switched to this mode with ENABLE = 4: a received byte lands in RXD (behind a 6-byte RX
//! FIFO), which suits a polled byte console better than EasyDMA buffers.
//!
//! Registers: TASKS_STARTRX 0x000, TASKS_STARTTX 0x008, EVENTS_RXDRDY 0x108, EVENTS_TXDRDY
//! 0x11C, EVENTS_ERROR 0x124, ERRORSRC 0x480, ENABLE 0x500, PSEL.RTS 0x508, PSEL.TXD 0x50C,
//! PSEL.CTS 0x510, PSEL.RXD 0x514, RXD 0x518, TXD 0x51C, BAUDRATE 0x524, CONFIG 0x56C.

use super::mmio::{rd, wr};
use crate::boards::Console;

const TASKS_STARTRX: usize = 0x000;
const TASKS_STARTTX: usize = 0x008;
const EVENTS_RXDRDY: usize = 0x108;
const EVENTS_TXDRDY: usize = 0x11C;
const EVENTS_ERROR: usize = 0x124;
const ERRORSRC: usize = 0x480;
const ENABLE: usize = 0x500;
const PSEL_RTS: usize = 0x508;
const PSEL_TXD: usize = 0x50C;
const PSEL_CTS: usize = 0x510;
const PSEL_RXD: usize = 0x514;
const RXD: usize = 0x518;
const TXD: usize = 0x51C;
const BAUDRATE: usize = 0x524;
const CONFIG: usize = 0x56C;

const ENABLE_UART: u32 = 4;
/// PSEL value of an unconnected pin (bit 31: CONNECT = disconnected).
const PSEL_DISCONNECTED: u32 = 0xFFFF_FFFF;
/// BAUDRATE register value for 115200 baud in UART (non-DMA) mode (actual rate 115942).
pub const BAUD_115200: u32 = 0x01D7_E000;

pub struct NrfUart {
    base: usize,
}

impl NrfUart {
    /// # Safety
    /// `base` must be UART0/UARTE0 that nothing else drives.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    /// 8N1, no flow control. `tx_pin` / `rx_pin` are P0 pin numbers (the GPIOs must be set up
    /// by the caller: TX output high, RX input).
    pub fn init(&mut self, tx_pin: u32, rx_pin: u32, baudrate_reg: u32) {
        let b = self.base;
        wr(b + ENABLE, 0);
        wr(b + PSEL_RTS, PSEL_DISCONNECTED);
        wr(b + PSEL_CTS, PSEL_DISCONNECTED);
        wr(b + PSEL_TXD, tx_pin);
        wr(b + PSEL_RXD, rx_pin);
        wr(b + BAUDRATE, baudrate_reg);
        wr(b + CONFIG, 0); // no parity, one stop bit, no flow control
        wr(b + ENABLE, ENABLE_UART);
        wr(b + EVENTS_RXDRDY, 0);
        wr(b + EVENTS_TXDRDY, 0);
        wr(b + EVENTS_ERROR, 0);
        wr(b + TASKS_STARTTX, 1);
        wr(b + TASKS_STARTRX, 1);
    }
}

impl Console for NrfUart {
    #[inline]
    fn write_byte(&mut self, byte: u8) {
        wr(self.base + EVENTS_TXDRDY, 0);
        wr(self.base + TXD, byte as u32);
        while rd(self.base + EVENTS_TXDRDY) == 0 {}
    }

    #[inline]
    fn read_byte(&mut self) -> Option<u8> {
        if rd(self.base + EVENTS_ERROR) != 0 {
            wr(self.base + EVENTS_ERROR, 0);
            // ERRORSRC is write-1-to-clear.
            wr(self.base + ERRORSRC, rd(self.base + ERRORSRC));
        }
        if rd(self.base + EVENTS_RXDRDY) == 0 {
            return None;
        }
        // Clear the event before reading RXD: the read moves the next FIFO byte into RXD,
        // which raises RXDRDY again.
        wr(self.base + EVENTS_RXDRDY, 0);
        Some(rd(self.base + RXD) as u8)
    }
}
