//! TensorFlow Lite Micro (2020, from the `tfmicro` crate's sources) as an [`Engine`]: the
//! unchanged .tflite (`MCUBENCH_MODEL_FILE`) in flash, TFLM's interpreter on a static arena.
//! The C++ build and the shim are in `targets/adapters/tflm`.
//!
//! Arena: a static reserve of [`RESERVE_BYTES`] in .bss (counted in static RAM); at boot the
//! adapter finds the smallest prefix of it that `AllocateTensors` accepts and runs the model on
//! exactly that prefix. `m-mcubench-arena-[used/size]` reports that minimum as used and the
//! reserve as size.
use mcubench_adapter_tflm::{Error, Interpreter, BUILD_FLAGS, OVERHEAD_BYTES, VERSION};

use crate::config::ARENA_BYTES;
use crate::engine::{Engine, FrameworkInfo, TensorQuant};

#[repr(C, align(16))]
struct Aligned<T: ?Sized>(T);

/// The .tflite flatbuffer, in flash, 16-byte aligned.
static MODEL_FILE: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model_file.bin")));

/// TFLM's arena reserve: the reference runtime's planned activations (`MCUBENCH_ARENA_BYTES`,
/// what both engines must hold at once) plus 25 % for TFLM's greedy planner, plus the
/// adapter's upper estimate of TFLM's own structures (tensor and node structs, quantization
/// arrays, per-channel multipliers; [`OVERHEAD_BYTES`]).
pub const RESERVE_BYTES: usize = (ARENA_BYTES + ARENA_BYTES / 4 + OVERHEAD_BYTES + 15) & !15;

static mut ARENA: Aligned<[u8; RESERVE_BYTES]> = Aligned([0; RESERVE_BYTES]);

pub struct Tflm {
    interp: Interpreter,
}

/// `th_final_initialize`: set TFLM up on the embedded .tflite. Call once.
pub fn new() -> Result<Tflm, Error> {
    // SAFETY: called once at boot, the only reference ever made to ARENA.
    let arena: &'static mut [u8] = unsafe { &mut (*core::ptr::addr_of_mut!(ARENA)).0 };
    let interp = Interpreter::new(&MODEL_FILE.0, arena)?;
    Ok(Tflm { interp })
}

fn quant((len, scale, zero_point): (usize, f32, i32)) -> TensorQuant {
    TensorQuant { len, scale, zero_point }
}

impl Engine for Tflm {
    type Error = Error;

    fn framework(&self) -> FrameworkInfo {
        FrameworkInfo { name: "tflite-micro", version: VERSION, build: BUILD_FLAGS }
    }
    fn input_quant(&self) -> TensorQuant {
        quant(self.interp.input_quant())
    }
    fn output_quant(&self) -> TensorQuant {
        quant(self.interp.output_quant())
    }
    fn input_mut(&mut self) -> &mut [i8] {
        self.interp.input_mut()
    }
    #[inline(always)]
    fn invoke(&mut self) -> Result<(), Error> {
        self.interp.invoke()
    }
    fn output(&self) -> &[i8] {
        self.interp.output()
    }
    fn arena(&self) -> (usize, usize) {
        (self.interp.min_arena_bytes(), RESERVE_BYTES)
    }
}
