//! The mcubench reference runtime: a `no_std` int8 inference engine whose arithmetic is
//! bit exact with TFLite Micro's reference kernels.
//!
//! A model arrives as a compact blob made on the host by `mcubench-workloads` (see
//! [`format`]); [`Model::from_bytes`] validates it once, and an [`Interpreter`] runs it in a
//! caller-owned arena whose layout was planned at import time.
//!
//! ```ignore
//! let model = Model::from_bytes(BLOB)?;            // validates everything, zero copy
//! let mut arena = [0u8; 16 * 1024];
//! let mut it = Interpreter::new(&model, &mut arena)?;
//! it.input_mut().copy_from_slice(&input);          // before *every* invoke
//! it.invoke()?;
//! let out: &[i8] = it.output();
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]

// CONTRACT (fixed; implementations to be filled in):
//
// pub struct Model<'a> { .. }
// impl<'a> Model<'a> {
//     /// Validates the whole blob (bounds, op codes, tensor sizes); never panics.
//     pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, ModelError>;
//     pub fn arena_bytes(&self) -> usize;      // bytes of arena the static plan needs
//     pub fn input(&self) -> TensorInfo;        // the single int8 input
//     pub fn output(&self) -> TensorInfo;       // the single int8 output
// }
// #[derive(Clone, Copy, Debug)]
// pub struct TensorInfo { pub len: usize, pub scale: f32, pub zero_point: i32 }
//
// pub struct Interpreter<'m, 'a> { .. }
// impl<'m, 'a> Interpreter<'m, 'a> {
//     /// Errors if `arena.len() < model.arena_bytes()`.
//     pub fn new(model: &'m Model<'m>, arena: &'a mut [u8]) -> Result<Self, RuntimeError>;
//     pub fn input_mut(&mut self) -> &mut [i8];
//     pub fn output(&self) -> &[i8];
//     pub fn invoke(&mut self) -> Result<(), RuntimeError>;
//     /// Highest arena byte offset actually touched by the plan (== arena_bytes for a static plan).
//     pub fn arena_used(&self) -> usize;
// }
// ModelError and RuntimeError implement core::fmt::Display (and std::error::Error with "std").

pub mod fixedpoint;
pub mod format;
pub mod kernels;
mod model;

pub use model::{Model, ModelError, OpInfo, TensorInfo};

use format::{OpCode, OpRecord, TensorRecord, STORAGE_ARENA};

/// Errors while running a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeError {
    /// The arena given to [`Interpreter::new`] is smaller than the plan needs.
    ArenaTooSmall { needed: usize, got: usize },
    /// An op index past the end of the model.
    NoSuchOp { index: usize },
    /// An inconsistency that model validation should have caught.
    Internal(&'static str),
}

impl core::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RuntimeError::ArenaTooSmall { needed, got } => write!(
                f,
                "arena too small: the model needs {needed} bytes, got {got}"
            ),
            RuntimeError::NoSuchOp { index } => write!(f, "no op with index {index}"),
            RuntimeError::Internal(what) => write!(f, "internal runtime error: {what}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RuntimeError {}

/// Runs a validated [`Model`] in a caller-owned arena.
pub struct Interpreter<'m, 'a> {
    model: &'m Model<'m>,
    arena: &'a mut [u8],
    kernels: kernels::KernelSet,
}

pub use kernels::KernelSet;

#[inline(always)]
fn as_i8(b: &[u8]) -> &[i8] {
    // SAFETY: i8 and u8 have the same size, alignment and validity (every bit pattern).
    unsafe { core::slice::from_raw_parts(b.as_ptr() as *const i8, b.len()) }
}

#[inline(always)]
fn as_i8_mut(b: &mut [u8]) -> &mut [i8] {
    // SAFETY: as above; the exclusive borrow is carried over.
    unsafe { core::slice::from_raw_parts_mut(b.as_mut_ptr() as *mut i8, b.len()) }
}

/// The arena split around an op's output: input slices come from the bytes before or after it.
struct Io<'x> {
    left: &'x [u8],
    out: &'x mut [u8],
    right: &'x [u8],
    out_off: usize,
    out_end: usize,
}

impl<'x> Io<'x> {
    fn split(arena: &'x mut [u8], out_off: usize, out_len: usize) -> Result<Io<'x>, RuntimeError> {
        let out_end = out_off
            .checked_add(out_len)
            .filter(|e| *e <= arena.len())
            .ok_or(RuntimeError::Internal("output outside arena"))?;
        let (left, rest) = arena.split_at_mut(out_off);
        let (out, right) = rest.split_at_mut(out_len);
        Ok(Io { left, out, right, out_off, out_end })
    }

    fn input(&self, off: usize, len: usize) -> Result<&'x [i8], RuntimeError> {
        let end = off.checked_add(len).ok_or(RuntimeError::Internal("tensor overflow"))?;
        let (left, right): (&'x [u8], &'x [u8]) = (self.left, self.right);
        if end <= self.out_off {
            Ok(as_i8(&left[off..end]))
        } else if off >= self.out_end {
            right
                .get(off - self.out_end..end - self.out_end)
                .map(as_i8)
                .ok_or(RuntimeError::Internal("input outside arena"))
        } else {
            Err(RuntimeError::Internal("input overlaps output"))
        }
    }
}

impl<'m, 'a> Interpreter<'m, 'a> {
    /// Errors if `arena.len() < model.arena_bytes()`.
    pub fn new(model: &'m Model<'m>, arena: &'a mut [u8]) -> Result<Self, RuntimeError> {
        if arena.len() < model.arena_bytes() {
            return Err(RuntimeError::ArenaTooSmall { needed: model.arena_bytes(), got: arena.len() });
        }
        Ok(Interpreter { model, arena, kernels: KernelSet::default() })
    }

    /// Selects the kernel implementations (default [`KernelSet::Optimized`]; both give
    /// identical results).
    pub fn set_kernels(&mut self, kernels: KernelSet) {
        self.kernels = kernels;
    }

    pub fn kernels(&self) -> KernelSet {
        self.kernels
    }

    pub fn model(&self) -> &'m Model<'m> {
        self.model
    }

    fn arena_range(&self, t: &TensorRecord) -> core::ops::Range<usize> {
        let off = t.offset as usize;
        off..off + t.byte_len as usize
    }

    /// The model input, in the arena. Write it before every [`Interpreter::invoke`]: the plan
    /// reuses its bytes once it has been read.
    pub fn input_mut(&mut self) -> &mut [i8] {
        let t = self.model.tensor_record(self.model.input_index());
        let r = self.arena_range(&t);
        as_i8_mut(&mut self.arena[r])
    }

    /// The model output (valid after [`Interpreter::invoke`]).
    pub fn output(&self) -> &[i8] {
        let t = self.model.tensor_record(self.model.output_index());
        as_i8(&self.arena[self.arena_range(&t)])
    }

    /// The current bytes of an activation tensor (for debugging; intermediate tensors are
    /// overwritten once their bytes are reused). `None` for constants or a bad index.
    pub fn tensor_data(&self, index: usize) -> Option<&[i8]> {
        if index >= self.model.tensor_count() {
            return None;
        }
        let t = self.model.tensor_record(index);
        if t.storage != STORAGE_ARENA {
            return None;
        }
        Some(as_i8(&self.arena[self.arena_range(&t)]))
    }

    /// Highest arena byte offset actually touched by the plan (== arena_bytes for a static plan).
    pub fn arena_used(&self) -> usize {
        self.model.arena_peak()
    }

    /// Runs all ops in order.
    pub fn invoke(&mut self) -> Result<(), RuntimeError> {
        for i in 0..self.model.op_count() {
            self.invoke_op(i)?;
        }
        Ok(())
    }

    /// Runs op `index` alone (for per-layer profiling); ops must run in order.
    pub fn invoke_op(&mut self, index: usize) -> Result<(), RuntimeError> {
        if index >= self.model.op_count() {
            return Err(RuntimeError::NoSuchOp { index });
        }
        let op = self.model.op_record(index);
        let code = OpCode::from_u8(op.opcode).ok_or(RuntimeError::Internal("bad opcode"))?;
        run_op(self.model, &mut *self.arena, code, &op, self.kernels)
    }
}

fn run_op(
    model: &Model<'_>,
    arena: &mut [u8],
    code: OpCode,
    op: &OpRecord,
    set: KernelSet,
) -> Result<(), RuntimeError> {
    use format::*;
    use kernels::{optimized as opt, reference as k, I32Le, OutputStage, QuantTable};
    let fast = set == KernelSet::Optimized;
    let out_t = model.tensor_record(op.output as usize);
    let p = &op.params;
    let tin = |i: usize| -> Result<TensorRecord, RuntimeError> {
        op.input(i)
            .map(|t| model.tensor_record(t as usize))
            .ok_or(RuntimeError::Internal("missing input"))
    };
    let in0 = tin(0)?;
    if code == OpCode::Reshape {
        // Normally an alias (same offset): nothing to do. Otherwise a plain copy of
        // non-overlapping bytes.
        if in0.offset != out_t.offset {
            let io = Io::split(arena, out_t.offset as usize, out_t.byte_len as usize)?;
            let src = io.input(in0.offset as usize, in0.byte_len as usize)?;
            for (d, s) in io.out.iter_mut().zip(src.iter()) {
                *d = *s as u8;
            }
        }
        return Ok(());
    }
    let io = Io::split(arena, out_t.offset as usize, out_t.byte_len as usize)?;
    let stage = OutputStage { output_offset: p[P_OUTPUT_OFFSET], act_min: p[P_ACT_MIN], act_max: p[P_ACT_MAX] };
    match code {
        OpCode::FullyConnected => {
            let filter = tin(1)?;
            let bias = op.input(2).map(|b| I32Le::new(model.const_bytes(&model.tensor_record(b as usize))));
            let quant = QuantTable::new(model.quant_bytes(p[P_QUANT_INDEX], p[P_QUANT_COUNT]));
            let out_depth = filter.dim(0);
            let accum = filter.dim(1);
            let batches = out_t.byte_len as usize / out_depth.max(1);
            let input = io.input(in0.offset as usize, in0.byte_len as usize)?;
            let f = if fast { opt::fully_connected } else { k::fully_connected };
            f(
                input,
                p[P_INPUT_OFFSET],
                as_i8(model.const_bytes(&filter)),
                p[P_FILTER_OFFSET],
                bias,
                quant,
                stage,
                batches,
                accum,
                out_depth,
                as_i8_mut(io.out),
            );
        }
        OpCode::Conv2d | OpCode::DepthwiseConv2d => {
            let filter = tin(1)?;
            let bias = op.input(2).map(|b| I32Le::new(model.const_bytes(&model.tensor_record(b as usize))));
            let quant = QuantTable::new(model.quant_bytes(p[P_QUANT_INDEX], p[P_QUANT_COUNT]));
            let w = window(&in0, &out_t, filter.dim(1), filter.dim(2), p, true);
            let input = io.input(in0.offset as usize, in0.byte_len as usize)?;
            let f = as_i8(model.const_bytes(&filter));
            if code == OpCode::Conv2d {
                let kf = if fast { opt::conv2d } else { k::conv2d };
                kf(&w, input, p[P_INPUT_OFFSET], f, filter.dim(3), bias, quant, stage, as_i8_mut(io.out));
            } else {
                let dm = p[P_DEPTH_MULTIPLIER].max(1) as usize;
                let kf = if fast { opt::depthwise_conv2d } else { k::depthwise_conv2d };
                kf(&w, dm, input, p[P_INPUT_OFFSET], f, bias, quant, stage, as_i8_mut(io.out));
            }
        }
        OpCode::AveragePool2d | OpCode::MaxPool2d => {
            let w = window(&in0, &out_t, p[P_FILTER_H] as usize, p[P_FILTER_W] as usize, p, false);
            let input = io.input(in0.offset as usize, in0.byte_len as usize)?;
            if code == OpCode::AveragePool2d {
                k::average_pool(&w, p[P_ACT_MIN], p[P_ACT_MAX], input, as_i8_mut(io.out));
            } else {
                k::max_pool(&w, p[P_ACT_MIN], p[P_ACT_MAX], input, as_i8_mut(io.out));
            }
        }
        OpCode::Softmax => {
            let depth = in0.dim(in0.rank as usize - 1);
            let input = io.input(in0.offset as usize, in0.byte_len as usize)?;
            k::softmax(
                input,
                depth,
                p[P_SM_INPUT_MULTIPLIER],
                p[P_SM_INPUT_LEFT_SHIFT],
                p[P_SM_DIFF_MIN],
                as_i8_mut(io.out),
            );
        }
        OpCode::Add => {
            let in1 = tin(1)?;
            let a = io.input(in0.offset as usize, in0.byte_len as usize)?;
            let b = io.input(in1.offset as usize, in1.byte_len as usize)?;
            let ap = k::AddParams {
                input1_offset: p[P_ADD_INPUT1_OFFSET],
                input2_offset: p[P_ADD_INPUT2_OFFSET],
                output_offset: p[P_ADD_OUTPUT_OFFSET],
                left_shift: p[P_ADD_LEFT_SHIFT],
                input1_multiplier: p[P_ADD_INPUT1_MULTIPLIER],
                input1_shift: p[P_ADD_INPUT1_SHIFT],
                input2_multiplier: p[P_ADD_INPUT2_MULTIPLIER],
                input2_shift: p[P_ADD_INPUT2_SHIFT],
                output_multiplier: p[P_ADD_OUTPUT_MULTIPLIER],
                output_shift: p[P_ADD_OUTPUT_SHIFT],
                act_min: p[P_ACT_MIN],
                act_max: p[P_ACT_MAX],
            };
            if fast { opt::add(&ap, a, b, as_i8_mut(io.out)) } else { k::add(&ap, a, b, as_i8_mut(io.out)) }
        }
        OpCode::Pad => {
            let input = io.input(in0.offset as usize, in0.byte_len as usize)?;
            let rank = in0.rank as usize;
            let mut before = [0usize; 4];
            for d in 0..rank {
                before[4 - rank + d] = p[P_PAD_BEFORE + d].max(0) as usize;
            }
            let pad_value = p[P_PAD_VALUE].clamp(-128, 127) as i8;
            let f = if fast { opt::pad } else { k::pad };
            f(input, dims4(&in0), before, dims4(&out_t), pad_value, as_i8_mut(io.out));
        }
        OpCode::Mean => {
            let input = io.input(in0.offset as usize, in0.byte_len as usize)?;
            let f = if fast { opt::mean_hw } else { k::mean_hw };
            f(
                input,
                dims4(&in0),
                p[P_MEAN_INPUT_ZP],
                p[P_MEAN_OUTPUT_ZP],
                p[P_MEAN_MULTIPLIER],
                p[P_MEAN_SHIFT],
                as_i8_mut(io.out),
            );
        }
        OpCode::Concatenation => {
            let axis = p[P_CONCAT_AXIS].max(0) as usize;
            let rank = out_t.rank as usize;
            let outer: usize = (0..axis).map(|d| out_t.dim(d)).product();
            let inner: usize = (axis + 1..rank).map(|d| out_t.dim(d)).product();
            let mut parts: [(&[i8], usize); MAX_OP_INPUTS] = [(&[], 0); MAX_OP_INPUTS];
            let n = op.n_inputs as usize;
            for (kk, part) in parts.iter_mut().enumerate().take(n) {
                let t = tin(kk)?;
                *part = (tensor_data(model, &io, &t)?, t.dim(axis));
            }
            let f = if fast { opt::concatenation } else { k::concatenation };
            f(&parts[..n], outer, inner, as_i8_mut(io.out));
        }
        OpCode::Mul => {
            let in1 = tin(1)?;
            let a = tensor_data(model, &io, &in0)?;
            let b = tensor_data(model, &io, &in1)?;
            let mp = k::MulParams {
                input1_offset: p[P_MUL_INPUT1_OFFSET],
                input2_offset: p[P_MUL_INPUT2_OFFSET],
                output_offset: p[P_MUL_OUTPUT_OFFSET],
                output_multiplier: p[P_MUL_MULTIPLIER],
                output_shift: p[P_MUL_SHIFT],
                act_min: p[P_ACT_MIN],
                act_max: p[P_ACT_MAX],
            };
            let f = if fast { opt::mul } else { k::mul };
            f(&mp, a, dims4(&in0), b, dims4(&in1), dims4(&out_t), as_i8_mut(io.out));
        }
        OpCode::Logistic => {
            let input = io.input(in0.offset as usize, in0.byte_len as usize)?;
            let f = if fast { opt::logistic } else { k::logistic };
            f(
                p[P_LOGISTIC_INPUT_ZP],
                p[P_LOGISTIC_RANGE_RADIUS],
                p[P_LOGISTIC_MULTIPLIER],
                p[P_LOGISTIC_LEFT_SHIFT],
                input,
                as_i8_mut(io.out),
            );
        }
        OpCode::Quantize => {
            let input = io.input(in0.offset as usize, in0.byte_len as usize)?;
            let f = if fast { opt::requantize } else { k::requantize };
            f(
                p[P_REQUANT_INPUT_ZP],
                p[P_REQUANT_OUTPUT_ZP],
                p[P_REQUANT_MULTIPLIER],
                p[P_REQUANT_SHIFT],
                input,
                as_i8_mut(io.out),
            );
        }
        OpCode::Reshape => {}
    }
    Ok(())
}

/// Bytes of an op input: a constant from the blob or an activation from the arena.
fn tensor_data<'x>(model: &Model<'x>, io: &Io<'x>, t: &TensorRecord) -> Result<&'x [i8], RuntimeError> {
    if t.storage == format::STORAGE_CONST {
        Ok(as_i8(model.const_bytes(t)))
    } else {
        io.input(t.offset as usize, t.byte_len as usize)
    }
}

/// A tensor's shape extended to 4 dims on the left, as TFLite's `ExtendedShape(4, ..)`.
fn dims4(t: &TensorRecord) -> kernels::reference::Dims4 {
    let rank = (t.rank as usize).min(4);
    let mut d = [1usize; 4];
    for k in 0..rank {
        d[4 - rank + k] = t.dim(k);
    }
    d
}

/// Sliding-window geometry from validated NHWC tensors and op params.
fn window(input: &TensorRecord, out: &TensorRecord, fh: usize, fw: usize, p: &[i32; format::NUM_PARAMS], dilated: bool) -> kernels::Window {
    use format::*;
    kernels::Window {
        batches: out.dim(0),
        in_h: input.dim(1),
        in_w: input.dim(2),
        in_c: input.dim(3),
        out_h: out.dim(1),
        out_w: out.dim(2),
        out_c: out.dim(3),
        filter_h: fh,
        filter_w: fw,
        stride_h: p[P_STRIDE_H] as usize,
        stride_w: p[P_STRIDE_W] as usize,
        dilation_h: if dilated { p[P_DILATION_H] as usize } else { 1 },
        dilation_w: if dilated { p[P_DILATION_W] as usize } else { 1 },
        pad_h: p[P_PAD_H] as usize,
        pad_w: p[P_PAD_W] as usize,
    }
}
