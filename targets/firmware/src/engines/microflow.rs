//! microflow (<https://crates.io/crates/microflow>) as an [`Engine`]: the workload's .tflite
//! (`MCUBENCH_MODEL_FILE`) compiled into Rust by microflow's `#[model]` proc macro in
//! `targets/adapters/microflow`. The reference runtime's blob is not embedded.
//!
//! * Input and output stay int8: the adapter calls the model's int8-in, int8-out inference
//!   and converts only the layout (our flat NHWC buffers <-> microflow's nalgebra tensors),
//!   inside the counted window.
//! * microflow requantizes in `f32` (scale products and biases folded at build time, `roundf`),
//!   computes SOFTMAX with `expf`, and centres stride-2 SAME windows differently from TFLite,
//!   so its int8 outputs are not expected to match the TFLite Micro goldens bit for bit; the
//!   golden checks report how many bytes differ.
//! * No arena: intermediate tensors live on the stack (the stack column shows them);
//!   `m-mcubench-arena-[0/0]`.
use core::convert::Infallible;

use mcubench_adapter_microflow as mf;

use crate::engine::{Engine, TensorQuant};

#[repr(C, align(16))]
struct Aligned<T>(T);

/// The engine's input and output tensors, in .bss (static RAM).
static mut INPUT: Aligned<[i8; mf::INPUT_LEN]> = Aligned([0; mf::INPUT_LEN]);
static mut OUTPUT: Aligned<[i8; mf::OUTPUT_LEN]> = Aligned([0; mf::OUTPUT_LEN]);

pub struct Microflow {
    input: &'static mut [i8; mf::INPUT_LEN],
    output: &'static mut [i8; mf::OUTPUT_LEN],
}

/// `th_final_initialize`: nothing to set up (the model is code). Call once.
pub fn new() -> Result<Microflow, Infallible> {
    // SAFETY: called once at boot; the only references ever made to INPUT and OUTPUT.
    let (input, output) = unsafe {
        (&mut (*core::ptr::addr_of_mut!(INPUT)).0, &mut (*core::ptr::addr_of_mut!(OUTPUT)).0)
    };
    Ok(Microflow { input, output })
}

impl Engine for Microflow {
    type Error = Infallible;

    fn framework(&self) -> (&'static str, &'static str) {
        ("microflow", mf::MICROFLOW_VERSION)
    }
    fn input_quant(&self) -> TensorQuant {
        TensorQuant { len: mf::INPUT_LEN, scale: mf::INPUT_SCALE, zero_point: mf::INPUT_ZERO_POINT }
    }
    fn output_quant(&self) -> TensorQuant {
        TensorQuant { len: mf::OUTPUT_LEN, scale: mf::OUTPUT_SCALE, zero_point: mf::OUTPUT_ZERO_POINT }
    }
    fn input_mut(&mut self) -> &mut [i8] {
        &mut self.input[..]
    }
    #[inline(always)]
    fn invoke(&mut self) -> Result<(), Infallible> {
        mf::run(self.input, self.output);
        Ok(())
    }
    fn output(&self) -> &[i8] {
        &self.output[..]
    }
    fn arena(&self) -> (usize, usize) {
        (0, 0)
    }
}
