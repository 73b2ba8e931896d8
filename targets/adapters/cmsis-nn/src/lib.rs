//! The CMSIS-NN adapter of mcubench: runs an mcubench model blob (the importer's graph, arena
//! plan and requantization parameters, exactly as the reference runtime runs it) with Arm
//! CMSIS-NN's int8 kernels for every operator:
//!
//! | blob operator | CMSIS-NN function |
//! |---|---|
//! | CONV_2D | `arm_convolve_wrapper_s8` (picks `arm_convolve_1x1_s8_fast`, `arm_convolve_1x1_s8`, `arm_convolve_1_x_n_s8` or `arm_convolve_s8`) |
//! | DEPTHWISE_CONV_2D | `arm_depthwise_conv_wrapper_s8` (picks `arm_depthwise_conv_3x3_s8`, `arm_depthwise_conv_s8_opt` or `arm_depthwise_conv_s8`) |
//! | FULLY_CONNECTED | `arm_fully_connected_s8` (per-tensor) / `arm_fully_connected_per_channel_s8` |
//! | AVERAGE_POOL_2D | `arm_avgpool_s8` |
//! | MAX_POOL_2D | `arm_max_pool_s8` |
//! | ADD | `arm_elementwise_add_s8` |
//! | SOFTMAX | `arm_softmax_s8` |
//! | RESHAPE | nothing (the plan aliases it), else a copy |
//!
//! Activations live in the caller's arena at the offsets the importer planned; weights and
//! biases are read in place from the blob (flash). CMSIS-NN's scratch buffer is a separate
//! caller-owned buffer of [`SCRATCH_BYTES`]; the tables CMSIS-NN needs besides the blob
//! (split multiplier/shift arrays, MVE kernel sums) are made at build time ([`PREPARED`], see
//! `build.rs`) for the blob `MCUBENCH_MODEL_BLOB` names.
#![no_std]

use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr;

pub use mcubench_adapter_cmsis_nn_sys as sys;
use mcubench_runtime::format::*;
use mcubench_runtime::Model;
use sys::*;

/// CMSIS-NN version (header revision and commit) the kernels were compiled from.
pub const VERSION: &str = sys::VERSION;
/// Kernel variant (`mve`, `dsp`, `c`), compiler and flags.
pub const BUILD: &str = sys::BUILD;
/// `<commit> (<variant>, <compiler> <flags>)`.
pub const VERSION_AND_BUILD: &str = sys::VERSION_AND_BUILD;

/// Build-time tables for one model blob.
pub struct Prepared {
    /// Length and FNV-1a hash of the blob the tables were made from.
    pub blob_len: usize,
    pub blob_fnv1a: u32,
    /// The blob's requantization entries as separate arrays (plus per-channel expansions).
    pub multipliers: &'static [i32],
    pub shifts: &'static [i32],
    /// Per op: first entry in `multipliers`/`shifts`, `u32::MAX` if none.
    pub op_quant: &'static [u32],
    /// MVE builds: FULLY_CONNECTED kernel sums (what `arm_vector_sum_s8` computes).
    pub kernel_sums: &'static [i32],
    /// Per op: first entry in `kernel_sums`, `u32::MAX` if none.
    pub op_kernel_sums: &'static [u32],
    pub scratch_bytes: usize,
}

mod generated {
    use super::Prepared;
    include!(concat!(env!("OUT_DIR"), "/prepared.rs"));
}
pub use generated::{PREPARED, SCRATCH_BYTES};

const NONE: u32 = u32::MAX;

/// Why the executor cannot start or an inference failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// [`PREPARED`] was made from another blob (or none: `MCUBENCH_MODEL_BLOB` unset).
    NotPrepared { blob_len: usize, prepared_len: usize },
    ArenaTooSmall { needed: usize, got: usize },
    /// Operator `op` needs more scratch than the buffer has.
    ScratchTooSmall { op: usize, needed: usize, got: usize },
    /// Operator `op` cannot be mapped onto CMSIS-NN.
    Unsupported { op: usize, what: &'static str },
    /// A CMSIS-NN function returned an error status.
    Kernel { op: usize, function: &'static str, status: i8 },
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Error::NotPrepared { blob_len, prepared_len } => write!(
                f,
                "CMSIS-NN tables were built for another model blob ({prepared_len} bytes; this one has {blob_len}): \
                 build with MCUBENCH_MODEL_BLOB pointing at the embedded blob"
            ),
            Error::ArenaTooSmall { needed, got } => {
                write!(f, "arena too small: the model needs {needed} bytes, got {got}")
            }
            Error::ScratchTooSmall { op, needed, got } => {
                write!(f, "op {op}: CMSIS-NN needs {needed} bytes of scratch, the buffer has {got}")
            }
            Error::Unsupported { op, what } => write!(f, "op {op}: unsupported by the CMSIS-NN adapter: {what}"),
            Error::Kernel { op, function, status } => write!(f, "op {op}: {function} returned status {status}"),
        }
    }
}

fn tile(w: i32, h: i32) -> cmsis_nn_tile {
    cmsis_nn_tile { w, h }
}

fn dims(t: &TensorRecord) -> cmsis_nn_dims {
    cmsis_nn_dims { n: t.dim(0) as i32, h: t.dim(1) as i32, w: t.dim(2) as i32, c: t.dim(3) as i32 }
}

fn vec_dims(n: usize, c: usize) -> cmsis_nn_dims {
    cmsis_nn_dims { n: n as i32, h: 1, w: 1, c: c as i32 }
}

fn check(op: usize, function: &'static str, status: arm_cmsis_nn_status) -> Result<(), Error> {
    if status == ARM_CMSIS_NN_SUCCESS {
        Ok(())
    } else {
        Err(Error::Kernel { op, function, status })
    }
}

/// Arguments of a CONV_2D call.
struct ConvArgs {
    params: cmsis_nn_conv_params,
    input: cmsis_nn_dims,
    filter: cmsis_nn_dims,
    bias: cmsis_nn_dims,
    output: cmsis_nn_dims,
}

/// Arguments of a DEPTHWISE_CONV_2D call.
struct DwArgs {
    params: cmsis_nn_dw_conv_params,
    input: cmsis_nn_dims,
    filter: cmsis_nn_dims,
    bias: cmsis_nn_dims,
    output: cmsis_nn_dims,
}

/// Arguments of a pooling call.
struct PoolArgs {
    params: cmsis_nn_pool_params,
    input: cmsis_nn_dims,
    filter: cmsis_nn_dims,
    output: cmsis_nn_dims,
}

fn activation(p: &[i32; NUM_PARAMS]) -> cmsis_nn_activation {
    cmsis_nn_activation { min: p[P_ACT_MIN], max: p[P_ACT_MAX] }
}

/// Runs a validated [`Model`] with CMSIS-NN kernels in a caller-owned arena and scratch buffer.
pub struct Executor<'m, 'a> {
    model: &'m Model<'m>,
    prepared: &'static Prepared,
    arena: *mut u8,
    scratch: *mut u8,
    scratch_len: usize,
    /// Largest scratch any operator asked for.
    scratch_used: usize,
    input: TensorRecord,
    output: TensorRecord,
    _borrow: PhantomData<&'a mut [u8]>,
}

impl<'m, 'a> Executor<'m, 'a> {
    /// Checks that `prepared` belongs to `model`, that every operator maps onto CMSIS-NN and
    /// that `scratch` holds what each one asks for (CMSIS-NN's `*_get_buffer_size`).
    pub fn new(
        model: &'m Model<'m>,
        prepared: &'static Prepared,
        arena: &'a mut [u8],
        scratch: &'a mut [u8],
    ) -> Result<Self, Error> {
        let bytes = model.bytes();
        if prepared.blob_len != bytes.len()
            || prepared.op_quant.len() != model.op_count()
            || prepared.op_kernel_sums.len() != model.op_count()
            || fnv1a(bytes) != prepared.blob_fnv1a
        {
            return Err(Error::NotPrepared { blob_len: bytes.len(), prepared_len: prepared.blob_len });
        }
        if arena.len() < model.arena_bytes() {
            return Err(Error::ArenaTooSmall { needed: model.arena_bytes(), got: arena.len() });
        }
        let h = model.header();
        let mut ex = Executor {
            model,
            prepared,
            arena: arena.as_mut_ptr(),
            scratch: scratch.as_mut_ptr(),
            scratch_len: scratch.len(),
            scratch_used: 0,
            input: model.tensor_record(h.input_tensor as usize),
            output: model.tensor_record(h.output_tensor as usize),
            _borrow: PhantomData,
        };
        for i in 0..model.op_count() {
            let need = ex.prepare_op(i)?;
            if need > scratch.len() {
                return Err(Error::ScratchTooSmall { op: i, needed: need, got: scratch.len() });
            }
            ex.scratch_used = ex.scratch_used.max(need);
        }
        Ok(ex)
    }

    pub fn model(&self) -> &'m Model<'m> {
        self.model
    }

    /// Largest scratch buffer an operator of this model uses (bytes).
    pub fn scratch_used(&self) -> usize {
        self.scratch_used
    }

    /// The model input, in the arena. Write it before every [`Executor::invoke`].
    pub fn input_mut(&mut self) -> &mut [i8] {
        // SAFETY: the tensor lies inside the arena (validated), which `self` borrows exclusively.
        unsafe { core::slice::from_raw_parts_mut(self.arena.add(self.input.offset as usize) as *mut i8, self.input.byte_len as usize) }
    }

    /// The model output (valid after [`Executor::invoke`]).
    pub fn output(&self) -> &[i8] {
        // SAFETY: as above.
        unsafe { core::slice::from_raw_parts(self.arena.add(self.output.offset as usize) as *const i8, self.output.byte_len as usize) }
    }

    fn tensor(&self, index: u16) -> TensorRecord {
        self.model.tensor_record(index as usize)
    }

    fn quant(&self, op: usize, channels: usize) -> Option<cmsis_nn_per_channel_quant_params> {
        let start = self.prepared.op_quant[op];
        if start == NONE {
            return None;
        }
        let m = self.prepared.multipliers.get(start as usize..start as usize + channels)?;
        let s = self.prepared.shifts.get(start as usize..start as usize + channels)?;
        // CMSIS-NN only reads these (the C declaration lacks `const`).
        Some(cmsis_nn_per_channel_quant_params { multiplier: m.as_ptr() as *mut i32, shift: s.as_ptr() as *mut i32 })
    }

    fn conv_args(&self, op: &OpRecord) -> ConvArgs {
        let p = &op.params;
        let out = self.tensor(op.output);
        ConvArgs {
            params: cmsis_nn_conv_params {
                input_offset: p[P_INPUT_OFFSET],
                output_offset: p[P_OUTPUT_OFFSET],
                stride: tile(p[P_STRIDE_W], p[P_STRIDE_H]),
                padding: tile(p[P_PAD_W], p[P_PAD_H]),
                dilation: tile(p[P_DILATION_W], p[P_DILATION_H]),
                activation: activation(p),
            },
            input: dims(&self.tensor(op.inputs[0])),
            filter: dims(&self.tensor(op.inputs[1])),
            bias: vec_dims(1, out.dim(3)),
            output: dims(&out),
        }
    }

    fn dw_args(&self, op: &OpRecord) -> DwArgs {
        let p = &op.params;
        let out = self.tensor(op.output);
        DwArgs {
            params: cmsis_nn_dw_conv_params {
                input_offset: p[P_INPUT_OFFSET],
                output_offset: p[P_OUTPUT_OFFSET],
                ch_mult: p[P_DEPTH_MULTIPLIER],
                stride: tile(p[P_STRIDE_W], p[P_STRIDE_H]),
                padding: tile(p[P_PAD_W], p[P_PAD_H]),
                dilation: tile(p[P_DILATION_W], p[P_DILATION_H]),
                activation: activation(p),
            },
            input: dims(&self.tensor(op.inputs[0])),
            filter: dims(&self.tensor(op.inputs[1])),
            bias: vec_dims(1, out.dim(3)),
            output: dims(&out),
        }
    }

    fn pool_args(&self, op: &OpRecord) -> PoolArgs {
        let p = &op.params;
        PoolArgs {
            params: cmsis_nn_pool_params {
                stride: tile(p[P_STRIDE_W], p[P_STRIDE_H]),
                padding: tile(p[P_PAD_W], p[P_PAD_H]),
                activation: activation(p),
            },
            input: dims(&self.tensor(op.inputs[0])),
            filter: cmsis_nn_dims { n: 1, h: p[P_FILTER_H], w: p[P_FILTER_W], c: 1 },
            output: dims(&self.tensor(op.output)),
        }
    }

    /// Checks op `i` once and returns the scratch bytes CMSIS-NN asks for.
    fn prepare_op(&self, i: usize) -> Result<usize, Error> {
        let op = self.model.op_record(i);
        let code = OpCode::from_u8(op.opcode).ok_or(Error::Unsupported { op: i, what: "unknown opcode" })?;
        let unsupported = |what| Error::Unsupported { op: i, what };
        // SAFETY (all calls below): CMSIS-NN's size queries only read the structs passed.
        let need = match code {
            OpCode::Conv2d => {
                let a = self.conv_args(&op);
                self.quant(i, a.output.c as usize).ok_or(unsupported("no per-channel requantization table"))?;
                unsafe { arm_convolve_wrapper_s8_get_buffer_size(&a.params, &a.input, &a.filter, &a.output) }
            }
            OpCode::DepthwiseConv2d => {
                let a = self.dw_args(&op);
                self.quant(i, a.output.c as usize).ok_or(unsupported("no per-channel requantization table"))?;
                unsafe { arm_depthwise_conv_wrapper_s8_get_buffer_size(&a.params, &a.input, &a.filter, &a.output) }
            }
            OpCode::FullyConnected => {
                let filter = self.tensor(op.inputs[1]);
                let (rows, cols) = (filter.dim(0), filter.dim(1));
                let count = op.params[P_QUANT_COUNT] as usize;
                if count != 1 && self.quant(i, rows).is_none() {
                    return Err(unsupported("no per-channel requantization table"));
                }
                if count == 1 && self.prepared.op_quant[i] == NONE {
                    return Err(unsupported("no requantization entry"));
                }
                let fd = vec_dims(cols, rows);
                let ctx = unsafe { arm_fully_connected_s8_get_buffer_size(&fd) };
                if ctx > 0 {
                    // MVE: the context buffer holds the kernel sums, prepared at build time.
                    let start = self.prepared.op_kernel_sums[i];
                    let have = self.prepared.kernel_sums.len().saturating_sub(start as usize);
                    if start == NONE || have < rows || (ctx as usize) > rows * 4 {
                        return Err(unsupported("no FULLY_CONNECTED kernel sums for this build"));
                    }
                }
                0
            }
            OpCode::AveragePool2d => {
                let a = self.pool_args(&op);
                unsafe { arm_avgpool_s8_get_buffer_size(a.output.w, a.input.c) }
            }
            OpCode::MaxPool2d | OpCode::Softmax | OpCode::Add | OpCode::Reshape => 0,
            // The runtime's extra operators (PAD, MEAN, ...) are not mapped onto CMSIS-NN yet:
            // refused when the engine is set up, so `invoke_op` never meets them.
            _ => return Err(unsupported("operator not mapped onto CMSIS-NN")),
        };
        usize::try_from(need).map_err(|_| unsupported("negative buffer size"))
    }

    /// One inference: every operator in order.
    pub fn invoke(&mut self) -> Result<(), Error> {
        for i in 0..self.model.op_count() {
            self.invoke_op(i)?;
        }
        Ok(())
    }

    #[inline(always)]
    fn at(&self, t: &TensorRecord) -> *mut i8 {
        // SAFETY: validated activation offsets lie inside the arena.
        unsafe { self.arena.add(t.offset as usize) as *mut i8 }
    }

    fn weights(&self, t: &TensorRecord) -> *const i8 {
        self.model.const_bytes(t).as_ptr() as *const i8
    }

    fn bias(&self, op: &OpRecord) -> *const i32 {
        match op.input(2) {
            // Constant data is 4-byte aligned in the blob, which is embedded 16-byte aligned.
            Some(b) => self.model.const_bytes(&self.tensor(b)).as_ptr() as *const i32,
            None => ptr::null(),
        }
    }

    /// Runs op `i` (ops must run in order).
    pub fn invoke_op(&mut self, i: usize) -> Result<(), Error> {
        let op = self.model.op_record(i);
        let Some(code) = OpCode::from_u8(op.opcode) else {
            return Err(Error::Unsupported { op: i, what: "unknown opcode" });
        };
        let p = op.params;
        let out = self.tensor(op.output);
        let in0 = self.tensor(op.inputs[0]);
        let ctx = cmsis_nn_context { buf: self.scratch as *mut c_void, size: self.scratch_len as i32 };
        let missing = Error::Unsupported { op: i, what: "no requantization table" };
        // SAFETY (every call below): `new` checked each op against its CMSIS-NN requirements;
        // the model's validation guarantees in-bounds tensors and an arena plan in which an
        // op's output never overlaps its live inputs; weights, biases and tables are in flash.
        match code {
            OpCode::Conv2d => {
                let a = self.conv_args(&op);
                let q = self.quant(i, a.output.c as usize).ok_or(missing)?;
                let filter = self.weights(&self.tensor(op.inputs[1]));
                let s = unsafe {
                    arm_convolve_wrapper_s8(
                        &ctx, &a.params, &q, &a.input, self.at(&in0), &a.filter, filter, &a.bias, self.bias(&op),
                        &a.output, self.at(&out),
                    )
                };
                check(i, "arm_convolve_wrapper_s8", s)
            }
            OpCode::DepthwiseConv2d => {
                let a = self.dw_args(&op);
                let q = self.quant(i, a.output.c as usize).ok_or(missing)?;
                let filter = self.weights(&self.tensor(op.inputs[1]));
                let s = unsafe {
                    arm_depthwise_conv_wrapper_s8(
                        &ctx, &a.params, &q, &a.input, self.at(&in0), &a.filter, filter, &a.bias, self.bias(&op),
                        &a.output, self.at(&out),
                    )
                };
                check(i, "arm_depthwise_conv_wrapper_s8", s)
            }
            OpCode::FullyConnected => {
                let filter_t = self.tensor(op.inputs[1]);
                let (rows, cols) = (filter_t.dim(0), filter_t.dim(1));
                let batches = out.byte_len as usize / rows;
                let fc = cmsis_nn_fc_params {
                    input_offset: p[P_INPUT_OFFSET],
                    filter_offset: p[P_FILTER_OFFSET],
                    output_offset: p[P_OUTPUT_OFFSET],
                    activation: activation(&p),
                };
                let (id, fd, bd, od) = (vec_dims(batches, cols), vec_dims(cols, rows), vec_dims(1, rows), vec_dims(batches, rows));
                let ks = self.prepared.op_kernel_sums[i];
                let ctx = if ks == NONE {
                    cmsis_nn_context { buf: ptr::null_mut(), size: 0 }
                } else {
                    let sums = &self.prepared.kernel_sums[ks as usize..ks as usize + rows];
                    cmsis_nn_context { buf: sums.as_ptr() as *mut c_void, size: (rows * 4) as i32 }
                };
                let filter = self.weights(&filter_t);
                if p[P_QUANT_COUNT] == 1 {
                    let qi = self.prepared.op_quant[i] as usize;
                    let (Some(&multiplier), Some(&shift)) = (self.prepared.multipliers.get(qi), self.prepared.shifts.get(qi))
                    else {
                        return Err(missing);
                    };
                    let q = cmsis_nn_per_tensor_quant_params { multiplier, shift };
                    let s = unsafe {
                        arm_fully_connected_s8(&ctx, &fc, &q, &id, self.at(&in0), &fd, filter, &bd, self.bias(&op), &od, self.at(&out))
                    };
                    check(i, "arm_fully_connected_s8", s)
                } else {
                    let q = self.quant(i, rows).ok_or(missing)?;
                    let s = unsafe {
                        arm_fully_connected_per_channel_s8(
                            &ctx, &fc, &q, &id, self.at(&in0), &fd, filter, &bd, self.bias(&op), &od, self.at(&out),
                        )
                    };
                    check(i, "arm_fully_connected_per_channel_s8", s)
                }
            }
            OpCode::AveragePool2d => {
                let a = self.pool_args(&op);
                let s = unsafe { arm_avgpool_s8(&ctx, &a.params, &a.input, self.at(&in0), &a.filter, &a.output, self.at(&out)) };
                check(i, "arm_avgpool_s8", s)
            }
            OpCode::MaxPool2d => {
                let a = self.pool_args(&op);
                let s = unsafe { arm_max_pool_s8(&ctx, &a.params, &a.input, self.at(&in0), &a.filter, &a.output, self.at(&out)) };
                check(i, "arm_max_pool_s8", s)
            }
            OpCode::Softmax => {
                let depth = in0.dim(in0.rank as usize - 1);
                let rows = in0.byte_len as usize / depth;
                unsafe {
                    arm_softmax_s8(
                        self.at(&in0),
                        rows as i32,
                        depth as i32,
                        p[P_SM_INPUT_MULTIPLIER],
                        p[P_SM_INPUT_LEFT_SHIFT],
                        p[P_SM_DIFF_MIN],
                        self.at(&out),
                    )
                };
                Ok(())
            }
            OpCode::Add => {
                let in1 = self.tensor(op.inputs[1]);
                let s = unsafe {
                    arm_elementwise_add_s8(
                        self.at(&in0),
                        self.at(&in1),
                        p[P_ADD_INPUT1_OFFSET],
                        p[P_ADD_INPUT1_MULTIPLIER],
                        p[P_ADD_INPUT1_SHIFT],
                        p[P_ADD_INPUT2_OFFSET],
                        p[P_ADD_INPUT2_MULTIPLIER],
                        p[P_ADD_INPUT2_SHIFT],
                        p[P_ADD_LEFT_SHIFT],
                        self.at(&out),
                        p[P_ADD_OUTPUT_OFFSET],
                        p[P_ADD_OUTPUT_MULTIPLIER],
                        p[P_ADD_OUTPUT_SHIFT],
                        p[P_ACT_MIN],
                        p[P_ACT_MAX],
                        out.byte_len as i32,
                    )
                };
                check(i, "arm_elementwise_add_s8", s)
            }
            OpCode::Reshape => {
                if in0.offset != out.offset {
                    // SAFETY: both lie in the arena; `copy` allows overlap.
                    unsafe { ptr::copy(self.at(&in0) as *const i8, self.at(&out), out.byte_len as usize) };
                }
                Ok(())
            }
            _ => Err(Error::Unsupported { op: i, what: "operator not mapped onto CMSIS-NN" }),
        }
    }
}

/// FNV-1a (as in build.rs).
fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}
