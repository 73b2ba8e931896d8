//! STM32 GPIO port set-up (same layout on L4+, F7 and H7): MODER 0x00, OTYPER 0x04,
//! OSPEEDR 0x08, PUPDR 0x0C, AFRL 0x20, AFRH 0x24.

use super::mmio::modify;

const MODER: usize = 0x00;
#[cfg(feature = "energy-mode")]
const OTYPER: usize = 0x04;
#[cfg(feature = "energy-mode")]
const BSRR: usize = 0x18;
const OSPEEDR: usize = 0x08;
const PUPDR: usize = 0x0C;
const AFRL: usize = 0x20;
const AFRH: usize = 0x24;

/// Puts `pin` of the port at `base` into alternate function `af`, medium speed, with the
/// pull-up on (`pull_up`) or no pull.
pub fn alternate(base: usize, pin: u32, af: u32, pull_up: bool) {
    let two = pin * 2;
    modify(base + OSPEEDR, 0b11 << two, 0b01 << two);
    modify(base + PUPDR, 0b11 << two, (pull_up as u32) << two);
    let (afr, shift) = if pin < 8 { (AFRL, pin * 4) } else { (AFRH, (pin - 8) * 4) };
    modify(base + afr, 0xF << shift, (af & 0xF) << shift);
    modify(base + MODER, 0b11 << two, 0b10 << two);
}

/// An STM32 pin as the energy-mode timestamp pin, with the RCC enable bit of its port.
#[cfg(feature = "energy-mode")]
pub struct OpenDrainPin {
    pub port: usize,
    pub pin: u32,
    /// (RCC enable register, bit mask) of the port.
    pub clock: (usize, u32),
}

#[cfg(feature = "energy-mode")]
impl crate::boards::TimestampPin for OpenDrainPin {
    fn init(&self) {
        modify(self.clock.0, 0, self.clock.1);
        let _ = super::mmio::rd(self.clock.0);
        let two = self.pin * 2;
        super::mmio::wr(self.port + BSRR, 1 << self.pin);
        modify(self.port + OTYPER, 0, 1 << self.pin);
        modify(self.port + PUPDR, 0b11 << two, 0b01 << two);
        modify(self.port + MODER, 0b11 << two, 0b01 << two);
    }

    #[inline(always)]
    fn set(&self, high: bool) {
        super::mmio::wr(self.port + BSRR, if high { 1 << self.pin } else { 1 << (self.pin + 16) });
    }
}
