//! The protocol over RTT instead of the UART (feature `console-rtt`): a SEGGER-RTT-layout
//! control block in RAM, one up channel (device to host) and one down channel (host to device),
//! polled by the host through the debug port (a probe, or QEMU's gdbstub). The layout is the
//! one every RTT host understands; the code is ours.
//!
//! The up channel blocks when full (the host has not read yet): a protocol line is never lost.
use core::ptr::{addr_of, addr_of_mut, read_volatile, write_volatile};
use core::sync::atomic::{compiler_fence, Ordering};

use crate::boards::Console;

const UP_BYTES: usize = 1024;
const DOWN_BYTES: usize = 256;
/// `SEGGER_RTT_MODE_BLOCK_IF_FIFO_FULL`: a full up buffer makes the writer wait.
const MODE_BLOCK_IF_FULL: u32 = 2;

#[repr(C)]
struct Channel {
    name: *const u8,
    buffer: *mut u8,
    size: u32,
    /// Written by the producer (device for up, host for down).
    write: u32,
    /// Written by the consumer.
    read: u32,
    flags: u32,
}

#[repr(C)]
struct ControlBlock {
    id: [u8; 16],
    max_up: u32,
    max_down: u32,
    up: Channel,
    down: Channel,
}

/// The host looks for this block by its id (or by this symbol in the ELF).
#[no_mangle]
static mut _SEGGER_RTT: ControlBlock = ControlBlock {
    // Filled in by `init`, last: a host scanning RAM must not find a half-made block.
    id: [0; 16],
    max_up: 0,
    max_down: 0,
    up: Channel { name: core::ptr::null(), buffer: core::ptr::null_mut(), size: 0, write: 0, read: 0, flags: 0 },
    down: Channel { name: core::ptr::null(), buffer: core::ptr::null_mut(), size: 0, write: 0, read: 0, flags: 0 },
};
static mut UP_BUFFER: [u8; UP_BYTES] = [0; UP_BYTES];
static mut DOWN_BUFFER: [u8; DOWN_BYTES] = [0; DOWN_BYTES];
static CHANNEL_NAME: &[u8] = b"mcubench\0";

/// The RTT console (zero-sized: the state is the control block).
pub struct RttConsole;

/// Sets up the control block and returns the console.
pub fn init() -> RttConsole {
    // SAFETY: single-threaded, before any other use of the block; the host only reads it once
    // the id is complete.
    unsafe {
        let cb = addr_of_mut!(_SEGGER_RTT);
        write_volatile(addr_of_mut!((*cb).max_up), 1);
        write_volatile(addr_of_mut!((*cb).max_down), 1);
        write_volatile(
            addr_of_mut!((*cb).up),
            Channel { name: CHANNEL_NAME.as_ptr(), buffer: addr_of_mut!(UP_BUFFER) as *mut u8, size: UP_BYTES as u32, write: 0, read: 0, flags: MODE_BLOCK_IF_FULL },
        );
        write_volatile(
            addr_of_mut!((*cb).down),
            Channel { name: CHANNEL_NAME.as_ptr(), buffer: addr_of_mut!(DOWN_BUFFER) as *mut u8, size: DOWN_BYTES as u32, write: 0, read: 0, flags: 0 },
        );
        compiler_fence(Ordering::SeqCst);
        // Written back to front, so "SEGGER RTT" is whole only once everything else is.
        let id = b"SEGGER RTT\0\0\0\0\0\0";
        let dst = addr_of_mut!((*cb).id) as *mut u8;
        for i in (0..id.len()).rev() {
            write_volatile(dst.add(i), id[i]);
        }
        compiler_fence(Ordering::SeqCst);
    }
    RttConsole
}

/// The console for the panic and fault handlers (the block is already set up, or the host
/// never finds it and the message is lost, as a UART message before `init` would be).
pub fn steal() -> RttConsole {
    RttConsole
}

impl Console for RttConsole {
    fn write_byte(&mut self, byte: u8) {
        // SAFETY: single-threaded device side; the host reads `write` and writes `read` only.
        unsafe {
            let up = addr_of_mut!(_SEGGER_RTT.up);
            let size = read_volatile(addr_of!((*up).size));
            if size == 0 {
                return;
            }
            let write = read_volatile(addr_of!((*up).write));
            let next = if write + 1 == size { 0 } else { write + 1 };
            // Full: wait for the host to read.
            while read_volatile(addr_of!((*up).read)) == next {}
            write_volatile(read_volatile(addr_of!((*up).buffer)).add(write as usize), byte);
            compiler_fence(Ordering::SeqCst);
            cortex_m::asm::dmb();
            write_volatile(addr_of_mut!((*up).write), next);
        }
    }

    fn read_byte(&mut self) -> Option<u8> {
        // SAFETY: as above; the host writes `write` and the buffer, the device `read`.
        unsafe {
            let down = addr_of_mut!(_SEGGER_RTT.down);
            let read = read_volatile(addr_of!((*down).read));
            if read == read_volatile(addr_of!((*down).write)) {
                return None;
            }
            cortex_m::asm::dmb();
            let byte = read_volatile(read_volatile(addr_of!((*down).buffer)).add(read as usize));
            let size = read_volatile(addr_of!((*down).size));
            let next = if read + 1 == size { 0 } else { read + 1 };
            compiler_fence(Ordering::SeqCst);
            write_volatile(addr_of_mut!((*down).read), next);
            Some(byte)
        }
    }
}
