//! Board support. One module per board family, selected by a cargo feature. A board module
//! provides:
//!
//! * `NAME`: the board feature name (printed in `m-mcubench-board-[..]`),
//! * `Serial`: the console UART driver type, with `init()` (clocks + pins + UART) and
//!   `steal()` (for the panic / fault handlers),
//! * the clock facts the firmware needs (`SYSTICK_HZ` default lives in build.rs so the build
//!   can override it with `MCUBENCH_SYSTICK_HZ`),
//! * its default memory map lives in `memory/<board>.x` (used by build.rs),
//! * `CYCLES` (where `m-mcubench-cycles` comes from) and `HALT` (how fatal errors stop),
//! * `clock_facts(out)`: what the board line reports after the feature name (real boards:
//!   ` sysclk_hz=.. flash_ws=..` read back from the clock and flash registers; QEMU: nothing).
//!
//! Real boards add a module here (UART + clock + memory) and a `board-<name>` feature.

macro_rules! boards {
    ($($feature:literal => $module:ident),* $(,)?) => {
        $(
            #[cfg(feature = $feature)]
            mod $module;
            #[cfg(feature = $feature)]
            pub use $module::*;
        )*
        #[cfg(not(any($(feature = $feature),*)))]
        compile_error!(concat!("select a board with one of the features:", $(" ", $feature),*));
        /// How many board features are enabled (must be exactly one).
        const _SELECTED: usize = 0 $(+ cfg!(feature = $feature) as usize)*;
        #[cfg(any($(feature = $feature),*))]
        const _: () = assert!(_SELECTED == 1, "select exactly one board-* feature");
    };
}

boards! {
    "board-mps2" => mps2,
    "board-mps3-an547" => mps3_an547,
    "board-nucleo-l4r5zi" => nucleo_l4r5zi,
    "board-stm32f746g-disco" => stm32f746g_disco,
    "board-nucleo-h743zi" => nucleo_h743zi,
    "board-nrf52840-dk" => nrf52840_dk,
    "board-rp-pico" => rp_pico,
}

/// Where the board's cycle count of the timed window comes from (`m-mcubench-cycles-[..]`).
#[allow(dead_code)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Cycles {
    /// Print no cycles line (QEMU: DWT CYCCNT is not emulated meaningfully; instructions come
    /// from the counting plugin instead).
    Off,
    /// DWT CYCCNT (Cortex-M3/M4/M7/M33/M55 silicon): `m-mcubench-cycles-[<u64>]`.
    Dwt,
    /// The core has no cycle counter: `m-mcubench-cycles-[n/a: <reason>]`.
    NotAvailable(&'static str),
}

/// Whether a fatal error may end with a semihosting exit (QEMU) or must just stop (silicon:
/// without a debugger attached, the semihosting `bkpt` would itself fault).
#[allow(dead_code)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Halt {
    SemihostingExit,
    Spin,
}

/// MLPerf Tiny energy mode's timestamp pin (`energy-mode`): open drain, idle high, pulled low
/// for a moment at each timestamp. Each board names its pin as `TIMESTAMP_PIN`.
#[cfg(feature = "energy-mode")]
pub trait TimestampPin {
    /// Clocks the pin's port and makes it an open-drain output, released (high).
    fn init(&self);
    /// Releases the pin (`high`) or pulls it low.
    fn set(&self, high: bool);
}

/// No pin (QEMU: no monitor could see one). An energy-mode build still runs the mode's
/// protocol: `m-timestamp-mode-energy`, no `m-lap-us`.
#[cfg(feature = "energy-mode")]
#[allow(dead_code)]
pub struct NoPin;

#[cfg(feature = "energy-mode")]
impl TimestampPin for NoPin {
    fn init(&self) {}
    fn set(&self, _high: bool) {}
}

/// Byte-wise console used by the protocol. Polling only: no interrupts, no buffering.
pub trait Console {
    /// Blocks until the byte is handed to the transmitter.
    fn write_byte(&mut self, byte: u8);
    /// Returns a received byte, if one is waiting.
    fn read_byte(&mut self) -> Option<u8>;
}

/// Real boards: the tail of the board line shared by all of them. ` systick_hz=<N>` is the
/// SysTick clock the firmware converts ticks to microseconds with (`MCUBENCH_SYSTICK_HZ`);
/// ` expected_hz=<N>` appears only when the clock read back differs from the one the board
/// module meant to set up (e.g. a fallback oscillator), so a wrong clock cannot go unnoticed.
#[allow(dead_code)]
pub(crate) fn clock_check(out: &mut crate::out::Out, readback_hz: u32, expected_hz: u32) {
    out.str(" systick_hz=");
    out.u64(crate::config::SYSTICK_HZ);
    if readback_hz != expected_hz {
        out.str(" expected_hz=");
        out.u64(expected_hz as u64);
    }
}
