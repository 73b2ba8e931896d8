//! TensorFlow Lite Micro (the 2020 sources bundled in the `tfmicro` crate) for mcubench's
//! firmware: a `no_std` wrapper over a small `extern "C"` shim (`csrc/mcubench_tflm.cc`).
//!
//! The C++ is compiled by `build.rs` with `arm-none-eabi-g++` (flags in [`BUILD_FLAGS`]); the
//! op resolver holds exactly the operators of the model named by `MCUBENCH_MODEL_FILE` at build
//! time ([`MODEL_OPS`]; those TFLM lacks are in [`UNSUPPORTED_OPS`]).
//!
//! TFLM keeps its interpreter in static storage, so there is one [`Interpreter`] per program.
#![no_std]

use core::ffi::{c_char, CStr};
use core::sync::atomic::{AtomicBool, Ordering};

mod info {
    include!(concat!(env!("OUT_DIR"), "/tflm_info.rs"));
}
/// `VERSION`: source date, TensorFlow commit and tfmicro version; `COMPILER`: the g++ banner;
/// `BUILD_FLAGS`: compiler and flags of TFLM and the shim; `MODEL_OPS` / `UNSUPPORTED_OPS`:
/// the model's operators (with versions) and those TFLM has no kernel for.
/// `OVERHEAD_BYTES`: an upper estimate of the arena TFLM needs besides the activations, from
/// the model's tensor, channel and operator counts (0 without a model file).
pub use info::{BUILD_FLAGS, COMPILER, MODEL_OPS, OVERHEAD_BYTES, UNSUPPORTED_OPS, VERSION};

#[repr(C)]
struct RawTensor {
    data: *mut i8,
    bytes: usize,
    scale: f32,
    zero_point: i32,
}

extern "C" {
    fn mcubench_tflm_init(model: *const u8, arena: *mut u8, arena_bytes: usize, min_arena: *mut usize) -> i32;
    fn mcubench_tflm_tensor(output: i32, info: *mut RawTensor) -> i32;
    fn mcubench_tflm_invoke() -> i32;
    fn mcubench_tflm_arena_used_bytes() -> usize;
    fn mcubench_tflm_error() -> *const c_char;
}

/// TFLM reached a C++ runtime function that must not run here (pure virtual call, delete).
#[no_mangle]
extern "C" fn mcubench_tflm_abort() -> ! {
    panic!("TFLite Micro aborted: {}", last_message())
}

/// The error texts TFLM reported since the last `Interpreter::new` (brackets replaced, one
/// line, at most 199 bytes).
pub fn last_message() -> &'static str {
    // SAFETY: the shim returns a NUL-terminated static buffer.
    let c = unsafe { CStr::from_ptr(mcubench_tflm_error()) };
    c.to_str().unwrap_or("(non-UTF-8 message)")
}

/// Where setting up or running TFLM failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The model uses operators (or operator versions) TFLM 2020 has no kernel for.
    Unsupported(&'static str),
    /// `Interpreter::new` was called a second time.
    AlreadyInitialized,
    /// The model is not 16-byte aligned (flatbuffer scalars are read in place).
    Misaligned,
    /// A shim status code (see `csrc/mcubench_tflm.h`); TFLM's message is [`last_message`].
    Status(i32),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Unsupported(ops) => write!(f, "unsupported by TFLite Micro (2020): {ops}"),
            Error::AlreadyInitialized => f.write_str("TFLite Micro interpreter already set up"),
            Error::Misaligned => f.write_str("TFLite Micro: model bytes are not 16-byte aligned"),
            Error::Status(code) => {
                let stage = match code {
                    1 => "registering operators failed",
                    2 => "model schema version mismatch",
                    3 => "interpreter set-up failed",
                    4 => "AllocateTensors failed",
                    5 => "unsupported input/output tensor",
                    6 => "Invoke failed",
                    _ => "error",
                };
                let msg = last_message();
                if msg.is_empty() {
                    write!(f, "TFLite Micro: {stage}")
                } else {
                    write!(f, "TFLite Micro: {stage}: {msg}")
                }
            }
        }
    }
}

fn check(status: i32) -> Result<(), Error> {
    if status == 0 {
        Ok(())
    } else {
        Err(Error::Status(status))
    }
}

static TAKEN: AtomicBool = AtomicBool::new(false);

/// The interpreter on a model in flash and an arena in RAM.
pub struct Interpreter {
    input: RawTensor,
    output: RawTensor,
    min_arena: usize,
    arena_len: usize,
}

impl Interpreter {
    /// Sets TFLM up on `model` (a .tflite flatbuffer) and `arena`, then finds the smallest
    /// arena prefix `AllocateTensors` accepts (bisection, 16-byte steps) and keeps the
    /// interpreter on exactly that prefix ([`Interpreter::min_arena_bytes`]).
    pub fn new(model: &'static [u8], arena: &'static mut [u8]) -> Result<Self, Error> {
        if !UNSUPPORTED_OPS.is_empty() {
            return Err(Error::Unsupported(UNSUPPORTED_OPS));
        }
        if model.as_ptr() as usize % 16 != 0 {
            return Err(Error::Misaligned);
        }
        // Load + store (single core; thumbv6m has no compare-and-swap).
        if TAKEN.load(Ordering::Acquire) {
            return Err(Error::AlreadyInitialized);
        }
        TAKEN.store(true, Ordering::Release);
        let mut min_arena = 0usize;
        // SAFETY: model and arena are 'static and exclusively ours from here on (TAKEN).
        check(unsafe { mcubench_tflm_init(model.as_ptr(), arena.as_mut_ptr(), arena.len(), &mut min_arena) })?;
        let mut input = RawTensor { data: core::ptr::null_mut(), bytes: 0, scale: 0.0, zero_point: 0 };
        let mut output = RawTensor { data: core::ptr::null_mut(), bytes: 0, scale: 0.0, zero_point: 0 };
        // SAFETY: plain out-parameters.
        check(unsafe { mcubench_tflm_tensor(0, &mut input) })?;
        check(unsafe { mcubench_tflm_tensor(1, &mut output) })?;
        Ok(Interpreter { input, output, min_arena, arena_len: arena.len() })
    }

    /// (elements, scale, zero point) of the int8 input.
    pub fn input_quant(&self) -> (usize, f32, i32) {
        (self.input.bytes, self.input.scale, self.input.zero_point)
    }

    /// (elements, scale, zero point) of the int8 output.
    pub fn output_quant(&self) -> (usize, f32, i32) {
        (self.output.bytes, self.output.scale, self.output.zero_point)
    }

    /// The input tensor's bytes in the arena. TFLM reuses them for intermediates: write the
    /// input again before every [`Interpreter::invoke`].
    pub fn input_mut(&mut self) -> &mut [i8] {
        // SAFETY: TFLM's input tensor, `bytes` long, lives in the 'static arena; &mut self.
        unsafe { core::slice::from_raw_parts_mut(self.input.data, self.input.bytes) }
    }

    pub fn output(&self) -> &[i8] {
        // SAFETY: TFLM's output tensor in the 'static arena.
        unsafe { core::slice::from_raw_parts(self.output.data, self.output.bytes) }
    }

    #[inline(always)]
    pub fn invoke(&mut self) -> Result<(), Error> {
        // SAFETY: set up in `new`.
        check(unsafe { mcubench_tflm_invoke() })
    }

    /// The smallest arena (bytes, multiple of 16) with which `AllocateTensors` succeeded; the
    /// interpreter runs on exactly this much.
    pub fn min_arena_bytes(&self) -> usize {
        self.min_arena
    }

    /// The arena handed to [`Interpreter::new`].
    pub fn arena_bytes(&self) -> usize {
        self.arena_len
    }

    /// TFLM's own `arena_used_bytes()` (head + tail after allocation; can be below what
    /// `AllocateTensors` needs on the way).
    pub fn arena_used_bytes(&self) -> usize {
        // SAFETY: set up in `new`.
        unsafe { mcubench_tflm_arena_used_bytes() }
    }
}
