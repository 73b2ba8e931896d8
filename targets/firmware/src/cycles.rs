//! Core clock cycles of the timed window from the DWT cycle counter (CYCCNT), on boards whose
//! `CYCLES` is `Cycles::Dwt` (Cortex-M3/M4/M7/M33/M55 silicon).
//!
//! CYCCNT is 32 bits and wraps after 2^32 cycles (8.9 s at 480 MHz). Each inference is timed
//! on its own (CYCCNT reset just before it) and unwrapped with the SysTick tick count of the
//! same inference: SysTick runs on the same core clock (`timer`, CLKSOURCE = processor clock),
//! so the number of wraps is the one that brings CYCCNT closest to the ticks. The sum over the
//! N inferences is a u64.

use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicBool, Ordering};

const DEMCR: *mut u32 = 0xE000_EDFC as *mut u32;
const DEMCR_TRCENA: u32 = 1 << 24;
const DWT_CTRL: *mut u32 = 0xE000_1000 as *mut u32;
const DWT_CTRL_CYCCNTENA: u32 = 1 << 0;
/// Read-only: the implementation has no cycle counter.
const DWT_CTRL_NOCYCCNT: u32 = 1 << 25;
const DWT_CYCCNT: *mut u32 = 0xE000_1004 as *mut u32;
/// CoreSight lock access register: the Cortex-M7's DWT ignores writes until it is unlocked
/// (write-ignored where not implemented).
const DWT_LAR: *mut u32 = 0xE000_1FB0 as *mut u32;
const LAR_UNLOCK: u32 = 0xC5AC_CE55;

static RUNNING: AtomicBool = AtomicBool::new(false);

/// Enables trace (DEMCR.TRCENA) and starts CYCCNT. Returns whether it counts.
pub fn init() -> bool {
    // SAFETY: MMIO writes to the core's debug registers; nothing else uses the DWT.
    let ok = unsafe {
        write_volatile(DEMCR, read_volatile(DEMCR) | DEMCR_TRCENA);
        write_volatile(DWT_LAR, LAR_UNLOCK);
        if read_volatile(DWT_CTRL) & DWT_CTRL_NOCYCCNT != 0 {
            false
        } else {
            write_volatile(DWT_CYCCNT, 0);
            write_volatile(DWT_CTRL, read_volatile(DWT_CTRL) | DWT_CTRL_CYCCNTENA);
            let a = read_volatile(DWT_CYCCNT);
            for _ in 0..16 {
                core::hint::spin_loop();
            }
            read_volatile(DWT_CYCCNT) != a
        }
    };
    RUNNING.store(ok, Ordering::Relaxed);
    ok
}

/// Whether `init` found a counting CYCCNT.
pub fn running() -> bool {
    RUNNING.load(Ordering::Relaxed)
}

/// Restarts CYCCNT from 0.
#[inline(always)]
pub fn reset() {
    // SAFETY: MMIO write.
    unsafe { write_volatile(DWT_CYCCNT, 0) }
}

#[inline(always)]
pub fn read() -> u32 {
    // SAFETY: MMIO read.
    unsafe { read_volatile(DWT_CYCCNT) }
}

/// The cycle count whose low 32 bits are `cyccnt` and that is nearest to `ticks` (core-clock
/// SysTick ticks of the same interval, which bracket it within a few hundred cycles).
pub fn unwrap(cyccnt: u32, ticks: u64) -> u64 {
    let c = cyccnt as u64;
    let wraps = (ticks.saturating_sub(c) + (1 << 31)) >> 32;
    c + (wraps << 32)
}
