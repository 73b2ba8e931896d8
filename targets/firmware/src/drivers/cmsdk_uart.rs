//! Arm CMSDK APB UART (as in the MPS2/MPS3 FPGA images), polled.
//!
//! Registers: DATA 0x00, STATE 0x04 (bit0 TX buffer full, bit1 RX buffer full),
//! CTRL 0x08 (bit0 TX enable, bit1 RX enable), INTSTATUS 0x0C, BAUDDIV 0x10.

use core::ptr::{read_volatile, write_volatile};

use crate::boards::Console;

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const BAUDDIV: usize = 0x10;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;

pub struct CmsdkUart {
    base: usize,
}

impl CmsdkUart {
    /// # Safety
    /// `base` must be the address of a CMSDK APB UART that nothing else drives concurrently.
    pub const unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    #[inline(always)]
    fn read(&self, off: usize) -> u32 {
        // SAFETY: MMIO register of the UART this driver owns.
        unsafe { read_volatile((self.base + off) as *const u32) }
    }

    #[inline(always)]
    fn write(&mut self, off: usize, value: u32) {
        // SAFETY: MMIO register of the UART this driver owns.
        unsafe { write_volatile((self.base + off) as *mut u32, value) }
    }

    pub fn init(&mut self, clk_hz: u32, baud: u32) {
        // The CMSDK UART needs BAUDDIV >= 16.
        let div = (clk_hz / baud).max(16);
        self.write(BAUDDIV, div);
        self.write(CTRL, CTRL_TX_EN | CTRL_RX_EN);
        // QEMU stops polling the host side while RX is disabled; one read of DATA after enabling
        // RX makes it look again (otherwise the first host line can stall about a second).
        let _ = self.read(DATA);
    }
}

impl Console for CmsdkUart {
    #[inline]
    fn write_byte(&mut self, byte: u8) {
        while self.read(STATE) & STATE_TX_FULL != 0 {}
        self.write(DATA, byte as u32);
    }

    #[inline]
    fn read_byte(&mut self) -> Option<u8> {
        if self.read(STATE) & STATE_RX_FULL != 0 {
            Some(self.read(DATA) as u8)
        } else {
            None
        }
    }
}
