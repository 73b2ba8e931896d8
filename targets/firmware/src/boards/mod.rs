//! Board support. One module per board family, selected by a cargo feature. A board module
//! provides:
//!
//! * `NAME`: the board feature name (printed in `m-mcubench-board-[..]`),
//! * `Serial`: the console UART driver type, with `init()` (clocks + pins + UART) and
//!   `steal()` (for the panic / fault handlers),
//! * the clock facts the firmware needs (`SYSTICK_HZ` default lives in build.rs so the build
//!   can override it with `MCUBENCH_SYSTICK_HZ`),
//! * its default memory map lives in `memory/<board>.x` (used by build.rs).
//!
//! Real boards add a module here (UART + clock + memory) and a `board-<name>` feature.

#[cfg(feature = "board-mps2")]
mod mps2;
#[cfg(feature = "board-mps2")]
pub use mps2::*;

#[cfg(feature = "board-mps3-an547")]
mod mps3_an547;
#[cfg(feature = "board-mps3-an547")]
pub use mps3_an547::*;

#[cfg(not(any(feature = "board-mps2", feature = "board-mps3-an547")))]
compile_error!("select a board: --features board-mps2 or --features board-mps3-an547");

#[cfg(all(feature = "board-mps2", feature = "board-mps3-an547"))]
compile_error!("select exactly one board-* feature");

/// Byte-wise console used by the protocol. Polling only: no interrupts, no buffering.
pub trait Console {
    /// Blocks until the byte is handed to the transmitter.
    fn write_byte(&mut self, byte: u8);
    /// Returns a received byte, if one is waiting.
    fn read_byte(&mut self) -> Option<u8>;
}
