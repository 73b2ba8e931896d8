//! Stack high-water mark by painting.
//!
//! `paint` fills the free RAM between the end of static data (`__sheap`, which cortex-m-rt puts
//! after .bss/.uninit) and a little below the current stack pointer with a pattern; `measure`
//! finds the lowest word that no longer holds the pattern. The stack grows down from
//! `_stack_start` (the top of RAM), so peak use = `_stack_start` - that address.

use core::ptr::{read_volatile, write_volatile};

const PATTERN: u32 = 0xC5AC_CE55;
/// Bytes below the current SP that are left alone (room for this function's own frame and an
/// exception frame with lazy FP state, 104 bytes, arriving while painting).
const MARGIN: usize = 256;

extern "C" {
    static mut __sheap: u32;
    static _stack_start: u32;
}

static mut PAINTED_LO: usize = 0;
static mut PAINTED_HI: usize = 0;

fn stack_top() -> usize {
    core::ptr::addr_of!(_stack_start) as usize
}

/// Paints [end of static data, SP - MARGIN). Returns the painted size in bytes.
#[inline(never)]
pub fn paint() -> usize {
    // SAFETY: the painted range is neither static data nor live stack (it is below SP - MARGIN
    // and nothing else uses RAM above __sheap: there is no heap).
    unsafe {
        let lo = (core::ptr::addr_of_mut!(__sheap) as usize + 3) & !3;
        let sp = cortex_m::register::msp::read() as usize;
        let hi = sp.saturating_sub(MARGIN) & !3;
        let hi = if hi < lo { lo } else { hi };
        let mut p = lo;
        while p < hi {
            write_volatile(p as *mut u32, PATTERN);
            p += 4;
        }
        *core::ptr::addr_of_mut!(PAINTED_LO) = lo;
        *core::ptr::addr_of_mut!(PAINTED_HI) = hi;
        hi - lo
    }
}

/// Returns (peak stack bytes since the last `paint`, painted bytes). If the painted region was
/// exhausted completely the peak is at least the reported value (the stack may have overflowed).
#[inline(never)]
pub fn measure() -> (usize, usize) {
    // SAFETY: reads of the painted RAM range only.
    unsafe {
        let lo = *core::ptr::addr_of!(PAINTED_LO);
        let hi = *core::ptr::addr_of!(PAINTED_HI);
        let mut p = lo;
        while p < hi && read_volatile(p as *const u32) == PATTERN {
            p += 4;
        }
        // p = lowest touched word (or hi if the painted range is untouched).
        (stack_top() - p, hi - lo)
    }
}
