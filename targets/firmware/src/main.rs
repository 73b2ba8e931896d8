//! mcubench on-device firmware.
//!
//! Boots a Cortex-M board, sets up the reference runtime on the model embedded in flash, and
//! serves the MLPerf Tiny DUT protocol (performance mode) on the board's console UART, with
//! mcubench's extra `m-mcubench-*` lines. See docs/protocol.md.
#![no_std]
#![no_main]

// With the RTT console, the board's UART `steal` goes unused.
#[cfg_attr(feature = "console-rtt", allow(dead_code))]
mod boards;
mod console;
mod cycles;
mod drivers;
#[cfg_attr(feature = "no-model", allow(dead_code))]
mod engine;
mod engines;
mod out;
mod protocol;
#[cfg(feature = "console-rtt")]
mod rtt;
mod stack;
mod timer;

#[cfg(not(feature = "no-model"))]
mod bench;
#[cfg(feature = "no-model")]
mod nomodel;

use core::fmt::Write as _;

use cortex_m_rt::{entry, exception, ExceptionFrame};

/// Which MLPerf Tiny benchmark this firmware is built for (`MCUBENCH_WORKLOAD`).
#[allow(dead_code)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// Anomaly detection: float32 LE input, quantized on the device; result = MSE.
    Ad01,
    /// Keyword spotting: int8 input copied as is.
    Kws01,
    /// Visual wake words: uint8 RGB, minus 128.
    Vww01,
    /// Image classification: uint8 RGB, minus 128.
    Ic01,
    /// Protocol-only build (`no-model` without MCUBENCH_WORKLOAD).
    None,
}

#[allow(dead_code)]
mod config {
    use super::Workload;
    include!(concat!(env!("OUT_DIR"), "/config.rs"));
}

/// Input buffer filled by `db` commands (`MCUBENCH_INPUT_BYTES`), in .bss.
static mut DB_BUFFER: [u8; config::INPUT_BYTES] = [0; config::INPUT_BYTES];

#[entry]
fn main() -> ! {
    // Paint the free stack first, before anything deep runs (re-painted before each `infer`).
    stack::paint();

    let serial = console::init(); // th_serialport_initialize (and the board's clocks)
    timer::init(); // th_timestamp_initialize
    if matches!(boards::CYCLES, boards::Cycles::Dwt) {
        cycles::init();
    }
    let out = out::Out::new(serial);

    // SAFETY: the only reference ever made to DB_BUFFER.
    let db: &'static mut [u8] = unsafe { &mut *core::ptr::addr_of_mut!(DB_BUFFER) };

    #[cfg(not(feature = "no-model"))]
    {
        // th_final_initialize: set up the engine on the embedded model. Errors are kept and
        // reported after the boot banner.
        let dut = bench::Bench::new(engines::selected());
        start(out, db, dut)
    }
    #[cfg(feature = "no-model")]
    {
        start(out, db, nomodel::NoModel)
    }
}

fn start<D: protocol::Dut>(out: out::Out, db: &'static mut [u8], dut: D) -> ! {
    let mut proto = protocol::Protocol::new(out, db, dut);
    proto.boot_banner();
    proto.dut.final_init(&mut proto.out);
    proto.boot_done();
    proto.run()
}

/// Halts the program: semihosting exit on QEMU (which ends with a failure code), then spin.
/// On silicon the semihosting `bkpt` would fault without a debugger attached, so real boards
/// just spin (the harness resets them through the probe).
fn halt() -> ! {
    if boards::HALT == boards::Halt::SemihostingExit {
        cortex_m_semihosting::debug::exit(cortex_m_semihosting::debug::EXIT_FAILURE);
    }
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    cortex_m::interrupt::disable();
    let mut out = out::Out::new(console::steal());
    out.str("\r\ne-[panic: ");
    let _ = write!(out, "{}", info.message());
    if let Some(loc) = info.location() {
        let _ = write!(out, " at {}:{}", loc.file(), loc.line());
    }
    out.line("]");
    halt()
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    let mut out = out::Out::new(console::steal());
    let _ = write!(out, "\r\ne-[hard fault at pc {:#010x}]\r\n", frame.pc());
    halt()
}

#[exception]
unsafe fn DefaultHandler(irq: i16) {
    let mut out = out::Out::new(console::steal());
    let _ = write!(out, "\r\ne-[unexpected exception {irq}]\r\n");
    halt()
}
