//! Register access helpers for the board modules (addresses from the reference manuals).

use core::ptr::{read_volatile, write_volatile};

#[inline(always)]
pub fn rd(addr: usize) -> u32 {
    // SAFETY: board modules only pass addresses of memory-mapped registers of their part.
    unsafe { read_volatile(addr as *const u32) }
}

#[inline(always)]
pub fn wr(addr: usize, value: u32) {
    // SAFETY: see `rd`.
    unsafe { write_volatile(addr as *mut u32, value) }
}

/// Read-modify-write: clears `clear`, then sets `set`.
#[inline(always)]
pub fn modify(addr: usize, clear: u32, set: u32) {
    wr(addr, (rd(addr) & !clear) | set);
}

/// Field `(reg >> shift) & mask`.
#[inline(always)]
pub fn field(addr: usize, shift: u32, mask: u32) -> u32 {
    (rd(addr) >> shift) & mask
}

/// Polls until `(reg & mask) == want`, at most `tries` reads. Returns whether it got there.
#[inline(never)]
pub fn wait(addr: usize, mask: u32, want: u32, tries: u32) -> bool {
    let mut n = 0;
    while rd(addr) & mask != want {
        n += 1;
        if n >= tries {
            return false;
        }
    }
    true
}

/// Polls until `(reg & mask) == want`, forever (hardware that must come up, e.g. a PLL lock).
#[inline(never)]
pub fn wait_forever(addr: usize, mask: u32, want: u32) {
    while rd(addr) & mask != want {}
}

/// About `n` loop iterations of delay (a few core cycles each).
#[inline(never)]
pub fn spin(n: u32) {
    for _ in 0..n {
        core::hint::spin_loop();
    }
}
