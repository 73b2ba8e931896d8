//! Free-running 64-bit tick counter on SysTick.
//!
//! SysTick counts down from 0xFF_FFFF on the processor clock (`config::SYSTICK_HZ`); its
//! exception counts wraps, so ticks = wraps * 2^24 + (0xFF_FFFF - CVR). Microseconds for
//! `m-lap-us-` are derived from ticks.

use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m_rt::exception;

use crate::config::SYSTICK_HZ;

const SYST_CSR: *mut u32 = 0xE000_E010 as *mut u32;
const SYST_RVR: *mut u32 = 0xE000_E014 as *mut u32;
const SYST_CVR: *mut u32 = 0xE000_E018 as *mut u32;
const SCB_ICSR: *const u32 = 0xE000_ED04 as *const u32;

const CSR_ENABLE: u32 = 1 << 0;
const CSR_TICKINT: u32 = 1 << 1;
const CSR_CLKSOURCE_CORE: u32 = 1 << 2;
const ICSR_PENDSTSET: u32 = 1 << 26;
const ICSR_PENDSTCLR: u32 = 1 << 25;
const SCB_ICSR_W: *mut u32 = 0xE000_ED04 as *mut u32;
const RELOAD: u32 = 0x00FF_FFFF;

static WRAPS: AtomicU32 = AtomicU32::new(0);
/// Ticks counted before the last `align_phase`.
static mut BASE: u64 = 0;
/// Last value returned by `ticks`, to keep the counter monotonic even if a wrap is seen in CVR
/// before its exception is pending (possible in QEMU without -icount).
static mut LAST: u64 = 0;

#[exception]
fn SysTick() {
    // Only this handler writes WRAPS; readers run with interrupts masked.
    WRAPS.store(WRAPS.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

/// Starts SysTick free-running with its exception enabled.
pub fn init() {
    // SAFETY: SysTick is owned by this module; MMIO writes.
    unsafe {
        write_volatile(SYST_CSR, 0);
        write_volatile(SYST_RVR, RELOAD);
        write_volatile(SYST_CVR, 0); // any write clears the counter; reload happens on the next tick
        write_volatile(SYST_CSR, CSR_ENABLE | CSR_TICKINT | CSR_CLKSOURCE_CORE);
        // CVR reads 0 until the first reload; wait so the first reading is meaningful.
        while read_volatile(SYST_CVR) == 0 {}
    }
}

/// Ticks since `init` (SysTick clock cycles).
#[inline(never)]
pub fn ticks() -> u64 {
    cortex_m::interrupt::free(|_| {
        // SAFETY: MMIO reads; LAST only touched here with interrupts masked.
        unsafe {
            let wraps = WRAPS.load(Ordering::Relaxed);
            let cvr = read_volatile(SYST_CVR) & RELOAD;
            let (wraps, cvr) = if read_volatile(SCB_ICSR) & ICSR_PENDSTSET != 0 {
                // A wrap happened that the handler has not counted yet: read CVR again (now
                // certainly after the reload) and count the wrap here.
                (wraps.wrapping_add(1), read_volatile(SYST_CVR) & RELOAD)
            } else {
                (wraps, cvr)
            };
            let mut t = *core::ptr::addr_of!(BASE) + (((wraps as u64) << 24) | (RELOAD - cvr) as u64);
            let last = *core::ptr::addr_of!(LAST);
            if t < last {
                t += 1 << 24;
            }
            *core::ptr::addr_of_mut!(LAST) = t;
            t
        }
    })
}

/// Restarts SysTick's count-down, keeping the tick count, so that its wrap exception comes
/// a fixed number of ticks after this call. Called just before each counted window: the
/// instruction-counting plugin counts exception-handler instructions too, so the handler
/// must land at the same point of every window for counts to repeat exactly (under
/// `-icount` a tick is a fixed number of instructions).
#[inline(never)]
pub fn align_phase() {
    cortex_m::interrupt::free(|_| {
        let now = ticks();
        // SAFETY: MMIO writes; BASE, LAST and WRAPS are only changed with interrupts masked.
        unsafe {
            write_volatile(SYST_CVR, 0);
            write_volatile(SCB_ICSR_W, ICSR_PENDSTCLR);
            // CVR reads 0 until the reload on the next tick.
            while read_volatile(SYST_CVR) == 0 {}
            WRAPS.store(0, Ordering::Relaxed);
            *core::ptr::addr_of_mut!(BASE) = now;
            *core::ptr::addr_of_mut!(LAST) = now;
        }
    })
}

/// Ticks -> microseconds (no overflow for any u64 tick count).
pub fn ticks_to_us(ticks: u64) -> u64 {
    (ticks / SYSTICK_HZ) * 1_000_000 + (ticks % SYSTICK_HZ) * 1_000_000 / SYSTICK_HZ
}
