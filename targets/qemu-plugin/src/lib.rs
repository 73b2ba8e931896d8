//! mcubench QEMU TCG plugin: exact guest instruction counts between markers.
//!
//! The firmware brackets the code to measure with the Thumb-2 hint
//! instructions `dbg #1` (window start) and `dbg #2` (window end); both are
//! no-ops on ARMv7-M / ARMv8-M. This plugin
//!
//! * counts every executed guest instruction with a per-instruction inline
//!   add on a per-vCPU scoreboard counter (no helper call, no TB-level
//!   approximation, so the count is exact even when a translation block is
//!   left early or a marker sits in the middle of a block);
//! * attaches a real callback (and *no* inline add) to each marker
//!   instruction. The callback reads the counter (= instructions executed
//!   before the marker), then adds 1 for the marker itself, so the result
//!   does not depend on the order QEMU emits inline ops and callbacks in;
//! * on `dbg #2` appends `window <k> <n>` to the output file, where `n` is
//!   the number of instructions executed strictly between the markers;
//! * at exit appends `total <n>` (all instructions executed, markers
//!   included).
//!
//! Arguments (QEMU `-plugin libmcubench_qemu_plugin.so,outfile=PATH`):
//! `outfile=PATH` (required). Anything else makes installation fail.
//!
//! The pure logic (argument parsing, marker decoding, window bookkeeping) is
//! in [`logic`] and unit-tested on the host; the FFI glue to QEMU lives in
//! `ffi` and is compiled out of `cargo test` (its symbols only resolve inside
//! QEMU).

pub mod logic;

#[cfg(not(test))]
mod ffi;
