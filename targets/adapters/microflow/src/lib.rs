//! microflow as an mcubench framework: the model named by `MCUBENCH_MODEL_FILE` (the unchanged
//! .tflite) compiled into Rust by microflow's `#[model]` macro at build time.
//!
//! The firmware's engine (`targets/firmware/src/engines/microflow.rs`) owns flat int8 input and
//! output buffers in the layout every engine uses (NHWC, row-major) and calls [`run`]. microflow
//! itself works on its own tensor types (nalgebra matrices, column-major, one `[T; C]` per
//! pixel), so [`run`] converts the input into a microflow tensor, runs the model's generated
//! `predict_inner` (int8 in, int8 out: microflow's public `predict`/`predict_quantized` return
//! dequantized `f32`, which would only add a lossy round trip), and copies the int8 output back.
//! The conversions are part of every inference and are counted with it.
//!
//! microflow has no arena: every intermediate tensor is a local of `predict_inner`, on the
//! stack. Weights are `const` items referenced by address, so they are in flash.
#![no_std]

use microflow::buffer::Buffer2D;
use microflow::tensor::{Tensor2D, Tensor4D};

/// The microflow crate this adapter is built against (pinned in Cargo.toml).
pub const MICROFLOW_VERSION: &str = "0.1.3";

/// The operators microflow 0.1.3 compiles (fused activations NONE, RELU, RELU6 only).
pub const SUPPORTED_OPS: &[&str] =
    &["FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "SOFTMAX"];

include!(concat!(env!("OUT_DIR"), "/model.rs"));

#[allow(dead_code)]
/// A `[1, N]` input: microflow's 1xN matrix has the same element order.
#[inline(always)]
fn input_2d<const N: usize>(input: &[i8], scale: f32, zero_point: i8) -> Tensor2D<i8, 1, N, 1> {
    Tensor2D::new(Buffer2D::from_fn(|_, j| input[j]), [scale], [zero_point])
}

#[allow(dead_code)]
/// A `[1, H, W, C]` input (NHWC) into microflow's `[Matrix<[i8; C], H, W>; 1]`.
#[inline(always)]
fn input_4d<const H: usize, const W: usize, const C: usize>(
    input: &[i8],
    scale: f32,
    zero_point: i8,
) -> Tensor4D<i8, 1, H, W, C, 1> {
    let buffer = [Buffer2D::from_fn(|h, w| {
        let at = (h * W + w) * C;
        core::array::from_fn(|c| input[at + c])
    })];
    Tensor4D::new(buffer, [scale], [zero_point])
}

#[allow(dead_code)]
#[inline(always)]
fn output_2d<const N: usize>(y: &Tensor2D<i8, 1, N, 1>, output: &mut [i8]) {
    for (o, &q) in output.iter_mut().zip(y.buffer.iter()) {
        *o = q;
    }
}

#[allow(dead_code)]
#[inline(always)]
fn output_4d<const H: usize, const W: usize, const C: usize>(y: &Tensor4D<i8, 1, H, W, C, 1>, output: &mut [i8]) {
    for h in 0..H {
        for w in 0..W {
            let at = (h * W + w) * C;
            output[at..at + C].copy_from_slice(&y.buffer[0][(h, w)]);
        }
    }
}
