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

/// Makes `pin` an open-drain output, released (high through the pull-up of whatever it drives).
#[cfg(feature = "energy-mode")]
pub fn open_drain_output(base: usize, pin: u32) {
    let two = pin * 2;
    super::mmio::wr(base + BSRR, 1 << pin);
    modify(base + OTYPER, 0, 1 << pin);
    modify(base + PUPDR, 0b11 << two, 0b01 << two);
    modify(base + MODER, 0b11 << two, 0b01 << two);
}

/// Releases (`high`) or pulls down an open-drain output.
#[cfg(feature = "energy-mode")]
#[inline(always)]
pub fn set(base: usize, pin: u32, high: bool) {
    super::mmio::wr(base + BSRR, if high { 1 << pin } else { 1 << (pin + 16) });
}
