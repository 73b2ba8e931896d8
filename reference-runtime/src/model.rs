//! Blob parsing and validation.
use crate::format::*;

/// Why a blob was rejected. Validation never panics, whatever the bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelError {
    /// Shorter than the header or than the length the header claims.
    Truncated { needed: usize, got: usize },
    BadMagic,
    UnsupportedVersion(u16),
    /// A header field is invalid.
    BadHeader(&'static str),
    /// A section lies outside the blob, overlaps another one or is misaligned.
    BadSection(&'static str),
    /// A tensor record is invalid.
    BadTensor { index: usize, reason: &'static str },
    /// An op record is invalid.
    BadOp { index: usize, reason: &'static str },
    /// The arena plan lets op `op` overwrite tensor `victim` while it is still needed.
    ArenaConflict { op: usize, written: usize, victim: usize },
}

impl core::fmt::Display for ModelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ModelError::Truncated { needed, got } => {
                write!(f, "model blob truncated: needs {needed} bytes, got {got}")
            }
            ModelError::BadMagic => write!(f, "not an mcubench model blob (bad magic)"),
            ModelError::UnsupportedVersion(v) => {
                write!(f, "unsupported blob version {v} (this runtime reads {VERSION})")
            }
            ModelError::BadHeader(what) => write!(f, "bad blob header: {what}"),
            ModelError::BadSection(what) => write!(f, "bad blob section: {what}"),
            ModelError::BadTensor { index, reason } => write!(f, "tensor {index}: {reason}"),
            ModelError::BadOp { index, reason } => write!(f, "op {index}: {reason}"),
            ModelError::ArenaConflict { op, written, victim } => write!(
                f,
                "arena plan conflict: op {op} writes tensor {written} over live tensor {victim}"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ModelError {}

/// Checks the sliding-window parameters: strides/dilations >= 1, paddings >= 0, and every
/// coordinate the kernel computes fits comfortably in 32 bits.
fn check_window(
    bad: &dyn Fn(&'static str) -> ModelError,
    p: &[i32; NUM_PARAMS],
    filter_h: usize,
    filter_w: usize,
    dilated: bool,
    out: &TensorRecord,
) -> Result<(), ModelError> {
    let (sw, sh) = (p[P_STRIDE_W], p[P_STRIDE_H]);
    let (dw, dh) = if dilated { (p[P_DILATION_W], p[P_DILATION_H]) } else { (1, 1) };
    let (pw, ph) = (p[P_PAD_W], p[P_PAD_H]);
    if !(1..=4096).contains(&sw) || !(1..=4096).contains(&sh) || !(1..=4096).contains(&dw) || !(1..=4096).contains(&dh) {
        return Err(bad("bad stride or dilation"));
    }
    if !(0..=4096).contains(&pw) || !(0..=4096).contains(&ph) {
        return Err(bad("bad padding"));
    }
    let reach = |o: usize, s: i32, f: usize, d: i32, pad: i32| -> u64 {
        o as u64 * s as u64 + f as u64 * d as u64 + pad as u64
    };
    if reach(out.dim(1), sh, filter_h, dh, ph) >= (1 << 30) || reach(out.dim(2), sw, filter_w, dw, pw) >= (1 << 30) {
        return Err(bad("window coordinates overflow"));
    }
    Ok(())
}

/// Shape and quantization of the model's input or output.
#[derive(Clone, Copy, Debug)]
pub struct TensorInfo {
    /// Number of int8 elements.
    pub len: usize,
    pub scale: f32,
    pub zero_point: i32,
}

/// Summary of one op (for reports and profiling).
#[derive(Clone, Copy, Debug)]
pub struct OpInfo {
    pub code: OpCode,
    /// Multiply-accumulates per inference of this op.
    pub macs: u64,
}

/// A validated model blob (zero copy: borrows the bytes).
#[derive(Clone, Copy, Debug)]
pub struct Model<'a> {
    bytes: &'a [u8],
    h: Header,
    arena_peak: usize,
}

type R<T> = Result<T, ModelError>;

fn section(h_total: usize, off: u32, len: usize, what: &'static str) -> R<()> {
    let off = off as usize;
    if off % SECTION_ALIGN != 0 {
        return Err(ModelError::BadSection(what));
    }
    match off.checked_add(len) {
        Some(end) if end <= h_total && off >= HEADER_SIZE => Ok(()),
        _ => Err(ModelError::BadSection(what)),
    }
}

impl<'a> Model<'a> {
    /// Validates the whole blob (bounds, op codes, tensor sizes, arena plan); never panics.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, ModelError> {
        if bytes.len() < HEADER_SIZE {
            return Err(ModelError::Truncated { needed: HEADER_SIZE, got: bytes.len() });
        }
        if bytes[0..4] != MAGIC {
            return Err(ModelError::BadMagic);
        }
        let h = Header::decode(bytes).ok_or(ModelError::BadMagic)?;
        if h.version != VERSION {
            return Err(ModelError::UnsupportedVersion(h.version));
        }
        if h.header_size as usize != HEADER_SIZE {
            return Err(ModelError::BadHeader("header_size"));
        }
        if h.flags != 0 || crate::format::rd_u32(bytes, 60) != Some(0) {
            return Err(ModelError::BadHeader("reserved fields must be 0"));
        }
        let total = h.total_len as usize;
        if total < HEADER_SIZE {
            return Err(ModelError::BadHeader("total_len"));
        }
        if total > bytes.len() {
            return Err(ModelError::Truncated { needed: total, got: bytes.len() });
        }
        let bytes = &bytes[..total];
        let n_t = h.n_tensors as usize;
        let n_o = h.n_ops as usize;
        if n_t == 0 || n_t >= NO_TENSOR as usize {
            return Err(ModelError::BadHeader("n_tensors"));
        }
        if n_o == 0 {
            return Err(ModelError::BadHeader("n_ops"));
        }
        // Sections: in bounds, aligned, in order, not overlapping.
        let t_len = n_t.checked_mul(TENSOR_RECORD_SIZE).ok_or(ModelError::BadSection("tensors"))?;
        let o_len = n_o.checked_mul(OP_RECORD_SIZE).ok_or(ModelError::BadSection("ops"))?;
        let q_len = h.quant_len as usize;
        if q_len % QUANT_ENTRY_SIZE != 0 {
            return Err(ModelError::BadSection("quant_len not a multiple of 8"));
        }
        section(total, h.tensors_off, t_len, "tensors")?;
        section(total, h.ops_off, o_len, "ops")?;
        section(total, h.quant_off, q_len, "quant")?;
        section(total, h.data_off, h.data_len as usize, "data")?;
        let order = [
            (h.tensors_off as usize, t_len),
            (h.ops_off as usize, o_len),
            (h.quant_off as usize, q_len),
            (h.data_off as usize, h.data_len as usize),
        ];
        for w in order.windows(2) {
            if w[0].0 + w[0].1 > w[1].0 {
                return Err(ModelError::BadSection("sections out of order or overlapping"));
            }
        }
        let mut m = Model { bytes, h, arena_peak: 0 };
        m.validate_tensors()?;
        m.validate_io()?;
        for i in 0..n_o {
            m.validate_op(i)?;
        }
        m.validate_plan()?;
        Ok(m)
    }

    // ----- accessors -----

    /// Bytes of arena the static plan needs.
    pub fn arena_bytes(&self) -> usize {
        self.h.arena_bytes as usize
    }

    /// Highest arena byte offset any tensor occupies.
    pub fn arena_peak(&self) -> usize {
        self.arena_peak
    }

    /// The blob bytes (exactly `total_len`).
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    pub fn header(&self) -> Header {
        self.h
    }

    pub fn tensor_count(&self) -> usize {
        self.h.n_tensors as usize
    }

    pub fn op_count(&self) -> usize {
        self.h.n_ops as usize
    }

    pub(crate) fn input_index(&self) -> usize {
        self.h.input_tensor as usize
    }

    pub(crate) fn output_index(&self) -> usize {
        self.h.output_tensor as usize
    }

    fn info(&self, i: usize) -> TensorInfo {
        let t = self.tensor_record(i);
        TensorInfo { len: t.byte_len as usize, scale: t.scale, zero_point: t.zero_point }
    }

    /// The single int8 input.
    pub fn input(&self) -> TensorInfo {
        self.info(self.input_index())
    }

    /// The single int8 output.
    pub fn output(&self) -> TensorInfo {
        self.info(self.output_index())
    }

    /// Tensor record `i` (panics only if `i >= tensor_count()`).
    pub fn tensor_record(&self, i: usize) -> TensorRecord {
        let off = self.h.tensors_off as usize + i * TENSOR_RECORD_SIZE;
        TensorRecord::decode(&self.bytes[off..off + TENSOR_RECORD_SIZE]).expect("validated")
    }

    /// Op record `i` (panics only if `i >= op_count()`).
    pub fn op_record(&self, i: usize) -> OpRecord {
        let off = self.h.ops_off as usize + i * OP_RECORD_SIZE;
        OpRecord::decode(&self.bytes[off..off + OP_RECORD_SIZE]).expect("validated")
    }

    /// Op `i`'s code and MAC count, `None` past the end.
    pub fn op_info(&self, i: usize) -> Option<OpInfo> {
        if i >= self.op_count() {
            return None;
        }
        let op = self.op_record(i);
        let code = OpCode::from_u8(op.opcode)?;
        Some(OpInfo { code, macs: self.op_macs(&op, code) })
    }

    /// Multiply-accumulates per inference.
    pub fn macs(&self) -> u64 {
        (0..self.op_count()).filter_map(|i| self.op_info(i)).map(|o| o.macs).sum()
    }

    /// Bytes of a constant tensor (empty for an activation).
    pub fn const_bytes(&self, t: &TensorRecord) -> &'a [u8] {
        if t.storage != STORAGE_CONST {
            return &[];
        }
        let off = self.h.data_off as usize + t.offset as usize;
        self.bytes.get(off..off + t.byte_len as usize).unwrap_or(&[])
    }

    /// `count` requant entries from entry `index`.
    pub fn quant_bytes(&self, index: i32, count: i32) -> &'a [u8] {
        let start = self.h.quant_off as usize + index.max(0) as usize * QUANT_ENTRY_SIZE;
        let len = count.max(0) as usize * QUANT_ENTRY_SIZE;
        self.bytes.get(start..start + len).unwrap_or(&[])
    }

    fn op_macs(&self, op: &OpRecord, code: OpCode) -> u64 {
        let out = self.tensor_record(op.output as usize);
        let out_elems = out.elements().unwrap_or(0) as u64;
        match code {
            OpCode::FullyConnected => {
                let f = self.tensor_record(op.inputs[1] as usize);
                out_elems * f.dim(1) as u64
            }
            OpCode::Conv2d => {
                let f = self.tensor_record(op.inputs[1] as usize);
                out_elems * (f.dim(1) * f.dim(2) * f.dim(3)) as u64
            }
            OpCode::DepthwiseConv2d => {
                let f = self.tensor_record(op.inputs[1] as usize);
                out_elems * (f.dim(1) * f.dim(2)) as u64
            }
            _ => 0,
        }
    }

    // ----- validation -----

    fn validate_tensors(&mut self) -> R<()> {
        let mut peak = 0usize;
        for i in 0..self.tensor_count() {
            let bad = |reason| Err(ModelError::BadTensor { index: i, reason });
            let t = self.tensor_record(i);
            let esize = match t.dtype {
                DTYPE_INT8 => 1usize,
                DTYPE_INT32 => 4,
                _ => return bad("unknown dtype"),
            };
            if t.rank == 0 || t.rank as usize > MAX_RANK {
                return bad("rank must be 1..=4");
            }
            for (d, &v) in t.dims.iter().enumerate() {
                if d < t.rank as usize && v == 0 {
                    return bad("zero dimension");
                }
                if d >= t.rank as usize && v != 1 {
                    return bad("dims past the rank must be 1");
                }
            }
            let len = match t.elements().and_then(|n| n.checked_mul(esize)) {
                Some(l) if l <= u32::MAX as usize => l,
                _ => return bad("size overflows"),
            };
            if len != t.byte_len as usize {
                return bad("byte_len does not match shape");
            }
            if !(t.scale.is_finite() && t.scale >= 0.0) {
                return bad("scale must be finite and >= 0");
            }
            let end = (t.offset as usize).checked_add(len);
            match t.storage {
                STORAGE_ARENA => {
                    if t.dtype != DTYPE_INT8 {
                        return bad("activations must be int8");
                    }
                    match end {
                        Some(e) if e <= self.arena_bytes() => peak = peak.max(e),
                        _ => return bad("activation outside the arena"),
                    }
                }
                STORAGE_CONST => {
                    if t.offset as usize % 4 != 0 {
                        return bad("constant data misaligned");
                    }
                    match end {
                        Some(e) if e <= self.h.data_len as usize => {}
                        _ => return bad("constant outside the data section"),
                    }
                }
                _ => return bad("unknown storage"),
            }
        }
        self.arena_peak = peak;
        Ok(())
    }

    fn validate_io(&self) -> R<()> {
        for (idx, what) in [(self.h.input_tensor, "input_tensor"), (self.h.output_tensor, "output_tensor")] {
            if idx as usize >= self.tensor_count() {
                return Err(ModelError::BadHeader(what));
            }
            let t = self.tensor_record(idx as usize);
            if t.storage != STORAGE_ARENA || t.dtype != DTYPE_INT8 {
                return Err(ModelError::BadHeader("input/output must be int8 activations"));
            }
        }
        if self.h.input_tensor == self.h.output_tensor {
            return Err(ModelError::BadHeader("input and output are the same tensor"));
        }
        Ok(())
    }

    fn validate_op(&self, i: usize) -> R<()> {
        let bad = |reason| ModelError::BadOp { index: i, reason };
        let op = self.op_record(i);
        let code = OpCode::from_u8(op.opcode).ok_or(bad("unknown opcode"))?;
        if op.n_outputs != 1 {
            return Err(bad("ops must have exactly one output"));
        }
        if op.n_inputs == 0 || op.n_inputs as usize > MAX_OP_INPUTS {
            return Err(bad("bad input count"));
        }
        for k in 0..MAX_OP_INPUTS {
            let t = op.inputs[k];
            if k >= op.n_inputs as usize {
                if t != NO_TENSOR {
                    return Err(bad("unused input slot must be NO_TENSOR"));
                }
            } else if t != NO_TENSOR && t as usize >= self.tensor_count() {
                return Err(bad("input tensor index out of range"));
            }
        }
        if op.output as usize >= self.tensor_count() {
            return Err(bad("output tensor index out of range"));
        }
        let out = self.tensor_record(op.output as usize);
        if out.storage != STORAGE_ARENA {
            return Err(bad("output must be an activation"));
        }
        if op.output as u32 == self.h.input_tensor {
            return Err(bad("op writes the model input"));
        }
        let need = |k: usize| -> R<TensorRecord> {
            op.input(k).map(|t| self.tensor_record(t as usize)).ok_or(bad("missing required input"))
        };
        let act = |t: &TensorRecord| -> R<()> {
            if t.storage == STORAGE_ARENA && t.dtype == DTYPE_INT8 {
                Ok(())
            } else {
                Err(bad("data input must be an int8 activation"))
            }
        };
        let p = &op.params;
        let check_stage = || -> R<()> {
            if p[P_ACT_MIN] < -128 || p[P_ACT_MAX] > 127 || p[P_ACT_MIN] > p[P_ACT_MAX] {
                return Err(bad("bad activation range"));
            }
            Ok(())
        };
        let check_offset = |v: i32, lo: i32, hi: i32| -> R<()> {
            if v < lo || v > hi {
                Err(bad("zero-point offset out of range"))
            } else {
                Ok(())
            }
        };
        let check_quant = |channels: usize| -> R<()> {
            let idx = p[P_QUANT_INDEX];
            let cnt = p[P_QUANT_COUNT];
            if idx < 0 || cnt < 1 || (cnt != 1 && cnt as usize != channels) {
                return Err(bad("bad requant table reference"));
            }
            let entries = self.h.quant_len as usize / QUANT_ENTRY_SIZE;
            if idx as usize + cnt as usize > entries {
                return Err(bad("requant entries out of range"));
            }
            let qb = self.quant_bytes(idx, cnt);
            for e in qb.chunks_exact(QUANT_ENTRY_SIZE) {
                let m = i32::from_le_bytes([e[0], e[1], e[2], e[3]]);
                let s = i32::from_le_bytes([e[4], e[5], e[6], e[7]]);
                if m < 0 || !(-31..=30).contains(&s) {
                    return Err(bad("requant multiplier/shift out of range"));
                }
            }
            Ok(())
        };
        let check_bias = |k: usize, channels: usize| -> R<()> {
            if let Some(b) = op.input(k) {
                let b = self.tensor_record(b as usize);
                if b.storage != STORAGE_CONST || b.dtype != DTYPE_INT32 || b.elements() != Some(channels) {
                    return Err(bad("bias must be a constant int32 vector of the output depth"));
                }
            }
            Ok(())
        };
        let int8_const = |t: &TensorRecord| -> R<()> {
            if t.storage == STORAGE_CONST && t.dtype == DTYPE_INT8 {
                Ok(())
            } else {
                Err(bad("weights must be constant int8"))
            }
        };
        let check_int8_value = |v: i32| -> R<()> {
            if (-128..=127).contains(&v) {
                Ok(())
            } else {
                Err(bad("zero point or fill value outside int8"))
            }
        };
        let check_multiplier = |m: i32, s: i32| -> R<()> {
            if m < 0 || !(-31..=30).contains(&s) {
                Err(bad("requant multiplier/shift out of range"))
            } else {
                Ok(())
            }
        };
        // Element-wise ops also take int8 constants (e.g. a MUL by a constant vector).
        let data_input = |t: &TensorRecord| -> R<()> {
            if t.dtype == DTYPE_INT8 {
                Ok(())
            } else {
                Err(bad("data input must be int8"))
            }
        };
        match code {
            OpCode::FullyConnected => {
                if op.n_inputs < 2 || op.n_inputs > 3 {
                    return Err(bad("FULLY_CONNECTED takes 2 or 3 inputs"));
                }
                let input = need(0)?;
                let filter = need(1)?;
                act(&input)?;
                int8_const(&filter)?;
                if filter.rank != 2 {
                    return Err(bad("FULLY_CONNECTED filter must be rank 2"));
                }
                let out_depth = filter.dim(0);
                let accum = filter.dim(1);
                let out_elems = out.elements().ok_or(bad("size"))?;
                let rank = out.rank as usize;
                if out.dim(rank - 1) != out_depth || out_elems % out_depth != 0 {
                    return Err(bad("FULLY_CONNECTED output depth mismatch"));
                }
                let batches = out_elems / out_depth;
                if batches.checked_mul(accum) != input.elements() {
                    return Err(bad("FULLY_CONNECTED input size mismatch"));
                }
                check_bias(2, out_depth)?;
                check_stage()?;
                check_offset(p[P_INPUT_OFFSET], -127, 128)?;
                check_offset(p[P_FILTER_OFFSET], -127, 128)?;
                check_offset(p[P_OUTPUT_OFFSET], -128, 127)?;
                check_quant(out_depth)?;
            }
            OpCode::Conv2d | OpCode::DepthwiseConv2d => {
                let dw = code == OpCode::DepthwiseConv2d;
                if op.n_inputs < 2 || op.n_inputs > 3 {
                    return Err(bad("convolution takes 2 or 3 inputs"));
                }
                let input = need(0)?;
                let filter = need(1)?;
                act(&input)?;
                int8_const(&filter)?;
                if input.rank != 4 || filter.rank != 4 || out.rank != 4 {
                    return Err(bad("convolution tensors must be rank 4"));
                }
                if input.dim(0) != out.dim(0) {
                    return Err(bad("batch mismatch"));
                }
                let in_c = input.dim(3);
                let out_c = out.dim(3);
                if dw {
                    let m = p[P_DEPTH_MULTIPLIER];
                    if m < 1 || filter.dim(0) != 1 || filter.dim(3) != out_c || in_c.checked_mul(m as usize) != Some(out_c) {
                        return Err(bad("DEPTHWISE_CONV_2D channel mismatch"));
                    }
                } else {
                    let f_in = filter.dim(3);
                    if filter.dim(0) != out_c || in_c % f_in != 0 || out_c % (in_c / f_in) != 0 {
                        return Err(bad("CONV_2D channel mismatch"));
                    }
                }
                check_window(&bad, p, filter.dim(1), filter.dim(2), true, &out)?;
                check_bias(2, out_c)?;
                check_stage()?;
                check_offset(p[P_INPUT_OFFSET], -127, 128)?;
                check_offset(p[P_OUTPUT_OFFSET], -128, 127)?;
                check_quant(out_c)?;
            }
            OpCode::AveragePool2d | OpCode::MaxPool2d => {
                if op.n_inputs != 1 {
                    return Err(bad("pooling takes 1 input"));
                }
                let input = need(0)?;
                act(&input)?;
                if input.rank != 4 || out.rank != 4 || input.dim(0) != out.dim(0) || input.dim(3) != out.dim(3) {
                    return Err(bad("pooling shape mismatch"));
                }
                let (fw, fh) = (p[P_FILTER_W], p[P_FILTER_H]);
                if !(1..=4096).contains(&fw) || !(1..=4096).contains(&fh) {
                    return Err(bad("bad pooling filter size"));
                }
                check_window(&bad, p, fh as usize, fw as usize, false, &out)?;
                check_stage()?;
            }
            OpCode::Reshape => {
                if op.n_inputs != 1 {
                    return Err(bad("RESHAPE takes 1 input"));
                }
                let input = need(0)?;
                act(&input)?;
                if input.byte_len != out.byte_len {
                    return Err(bad("RESHAPE changes the element count"));
                }
            }
            OpCode::Softmax => {
                if op.n_inputs != 1 {
                    return Err(bad("SOFTMAX takes 1 input"));
                }
                let input = need(0)?;
                act(&input)?;
                let depth = input.dim(input.rank as usize - 1);
                if input.byte_len != out.byte_len || out.dim(out.rank as usize - 1) != depth {
                    return Err(bad("SOFTMAX shape mismatch"));
                }
                if p[P_SM_INPUT_MULTIPLIER] < 0
                    || !(0..=31).contains(&p[P_SM_INPUT_LEFT_SHIFT])
                    || p[P_SM_DIFF_MIN] > 0
                {
                    return Err(bad("bad SOFTMAX parameters"));
                }
            }
            OpCode::Add => {
                if op.n_inputs != 2 {
                    return Err(bad("ADD takes 2 inputs"));
                }
                let a = need(0)?;
                let b = need(1)?;
                act(&a)?;
                act(&b)?;
                if a.byte_len != out.byte_len || b.byte_len != out.byte_len {
                    return Err(bad("ADD inputs must have the output's size (no broadcasting)"));
                }
                check_stage()?;
                check_offset(p[P_ADD_INPUT1_OFFSET], -127, 128)?;
                check_offset(p[P_ADD_INPUT2_OFFSET], -127, 128)?;
                check_offset(p[P_ADD_OUTPUT_OFFSET], -128, 127)?;
                if !(0..=30).contains(&p[P_ADD_LEFT_SHIFT]) {
                    return Err(bad("bad ADD left shift"));
                }
                for (m, s) in [
                    (P_ADD_INPUT1_MULTIPLIER, P_ADD_INPUT1_SHIFT),
                    (P_ADD_INPUT2_MULTIPLIER, P_ADD_INPUT2_SHIFT),
                    (P_ADD_OUTPUT_MULTIPLIER, P_ADD_OUTPUT_SHIFT),
                ] {
                    if p[m] < 0 || !(-31..=0).contains(&p[s]) {
                        return Err(bad("bad ADD multiplier"));
                    }
                }
            }
            OpCode::Pad => {
                if op.n_inputs != 1 {
                    return Err(bad("PAD takes 1 input"));
                }
                let input = need(0)?;
                act(&input)?;
                if input.rank != out.rank {
                    return Err(bad("PAD changes the rank"));
                }
                check_int8_value(p[P_PAD_VALUE])?;
                for d in 0..MAX_RANK {
                    let (b, a) = (p[P_PAD_BEFORE + d], p[P_PAD_AFTER + d]);
                    if d >= input.rank as usize {
                        if b != 0 || a != 0 {
                            return Err(bad("PAD padding past the rank must be 0"));
                        }
                        continue;
                    }
                    if b < 0 || a < 0 {
                        return Err(bad("negative PAD padding"));
                    }
                    if input.dim(d) as u64 + b as u64 + a as u64 != out.dim(d) as u64 {
                        return Err(bad("PAD output shape is not input + paddings"));
                    }
                }
            }
            OpCode::Mean => {
                if op.n_inputs != 1 {
                    return Err(bad("MEAN takes 1 input"));
                }
                let input = need(0)?;
                act(&input)?;
                if input.rank != 4 {
                    return Err(bad("MEAN input must be rank 4 (NHWC, reduced over H and W)"));
                }
                let keep = out.rank == 4 && out.dim(0) == input.dim(0) && out.dim(1) == 1 && out.dim(2) == 1 && out.dim(3) == input.dim(3);
                let flat = out.rank == 2 && out.dim(0) == input.dim(0) && out.dim(1) == input.dim(3);
                if !(keep || flat) {
                    return Err(bad("MEAN output must be [N, 1, 1, C] or [N, C]"));
                }
                check_int8_value(p[P_MEAN_INPUT_ZP])?;
                check_int8_value(p[P_MEAN_OUTPUT_ZP])?;
                check_multiplier(p[P_MEAN_MULTIPLIER], p[P_MEAN_SHIFT])?;
                // The int32 sums must not overflow (TFLM would wrap; refuse instead).
                if (input.dim(1) as u64) * (input.dim(2) as u64) > (1 << 23) {
                    return Err(bad("MEAN window too large"));
                }
            }
            OpCode::Concatenation => {
                let n = op.n_inputs as usize;
                let axis = p[P_CONCAT_AXIS];
                if axis < 0 || axis >= out.rank as i32 {
                    return Err(bad("CONCATENATION axis out of range"));
                }
                let axis = axis as usize;
                let mut axis_total = 0usize;
                for k in 0..n {
                    let t = need(k)?;
                    data_input(&t)?;
                    if t.rank != out.rank {
                        return Err(bad("CONCATENATION inputs must have the output's rank"));
                    }
                    for d in 0..out.rank as usize {
                        if d != axis && t.dim(d) != out.dim(d) {
                            return Err(bad("CONCATENATION input shape mismatch"));
                        }
                    }
                    axis_total += t.dim(axis);
                }
                if axis_total != out.dim(axis) {
                    return Err(bad("CONCATENATION output axis is not the sum of the inputs'"));
                }
            }
            OpCode::Mul => {
                if op.n_inputs != 2 {
                    return Err(bad("MUL takes 2 inputs"));
                }
                for k in 0..2 {
                    let t = need(k)?;
                    data_input(&t)?;
                    if t.rank > out.rank {
                        return Err(bad("MUL input rank exceeds the output's"));
                    }
                    let shift = out.rank as usize - t.rank as usize;
                    for d in 0..t.rank as usize {
                        let (di, dout) = (t.dim(d), out.dim(d + shift));
                        if di != dout && di != 1 {
                            return Err(bad("MUL input does not broadcast to the output"));
                        }
                    }
                }
                check_stage()?;
                check_offset(p[P_MUL_INPUT1_OFFSET], -127, 128)?;
                check_offset(p[P_MUL_INPUT2_OFFSET], -127, 128)?;
                check_offset(p[P_MUL_OUTPUT_OFFSET], -128, 127)?;
                check_multiplier(p[P_MUL_MULTIPLIER], p[P_MUL_SHIFT])?;
            }
            OpCode::Logistic => {
                if op.n_inputs != 1 {
                    return Err(bad("LOGISTIC takes 1 input"));
                }
                let input = need(0)?;
                act(&input)?;
                if input.byte_len != out.byte_len {
                    return Err(bad("LOGISTIC shape mismatch"));
                }
                check_int8_value(p[P_LOGISTIC_INPUT_ZP])?;
                if p[P_LOGISTIC_RANGE_RADIUS] < 0 || p[P_LOGISTIC_MULTIPLIER] < 0 || !(-31..=30).contains(&p[P_LOGISTIC_LEFT_SHIFT]) {
                    return Err(bad("bad LOGISTIC parameters"));
                }
            }
            OpCode::Quantize => {
                if op.n_inputs != 1 {
                    return Err(bad("QUANTIZE takes 1 input"));
                }
                let input = need(0)?;
                act(&input)?;
                if input.byte_len != out.byte_len {
                    return Err(bad("QUANTIZE shape mismatch"));
                }
                check_int8_value(p[P_REQUANT_INPUT_ZP])?;
                check_int8_value(p[P_REQUANT_OUTPUT_ZP])?;
                check_multiplier(p[P_REQUANT_MULTIPLIER], p[P_REQUANT_SHIFT])?;
            }
        }
        Ok(())
    }

    // Light accessors for the plan check (read only the fields needed, no full decode).
    #[inline]
    fn op_base(&self, i: usize) -> usize {
        self.h.ops_off as usize + i * OP_RECORD_SIZE
    }

    #[inline]
    fn op_output(&self, i: usize) -> usize {
        rd_u16(self.bytes, self.op_base(i) + 12).unwrap_or(NO_TENSOR) as usize
    }

    #[inline]
    fn op_reads(&self, i: usize, t: usize) -> bool {
        let base = self.op_base(i);
        let n = (self.bytes[base + 1] as usize).min(MAX_OP_INPUTS);
        (0..n).any(|k| rd_u16(self.bytes, base + 4 + 2 * k).map(|v| v as usize) == Some(t))
    }

    #[inline]
    fn tensor_span(&self, t: usize) -> (u8, usize, usize) {
        let base = self.h.tensors_off as usize + t * TENSOR_RECORD_SIZE;
        let off = rd_u32(self.bytes, base + 20).unwrap_or(0) as usize;
        let len = rd_u32(self.bytes, base + 24).unwrap_or(0) as usize;
        (self.bytes[base + 2], off, off + len)
    }

    /// Producer op of tensor `t` (`None` for the model input or an unproduced tensor).
    fn producer(&self, t: usize) -> Option<usize> {
        (0..self.op_count()).find(|&i| self.op_output(i) == t)
    }

    /// Lifetime `[first, last]` of activation `t` in op steps: the model input is live from
    /// step 0, the output until the end. `None` if nothing produces it.
    fn lifetime(&self, t: usize) -> Option<(usize, usize)> {
        let n = self.op_count();
        let first = if t == self.input_index() { 0 } else { self.producer(t)? };
        let mut last = first;
        for i in first..n {
            if self.op_reads(i, t) {
                last = i;
            }
        }
        if t == self.output_index() {
            last = n;
        }
        Some((first, last))
    }

    /// The tensor `t` aliases through no-op RESHAPEs (same offset), else `t` itself.
    fn alias_root(&self, mut t: usize) -> usize {
        for _ in 0..self.op_count() {
            let Some(p) = self.producer(t) else { break };
            let base = self.op_base(p);
            if self.bytes[base] != OpCode::Reshape as u8 {
                break;
            }
            let src = rd_u16(self.bytes, base + 4).unwrap_or(NO_TENSOR) as usize;
            if src >= self.tensor_count() || self.tensor_span(src).1 != self.tensor_span(t).1 {
                break;
            }
            t = src;
        }
        t
    }

    /// Every activation is written once, read only after it is written, and never overwritten
    /// while it is still live (checked pairwise over byte-overlapping activations).
    fn validate_plan(&self) -> R<()> {
        let n = self.op_count();
        for i in 0..n {
            let op = self.op_record(i);
            let o = op.output as usize;
            if self.producer(o) != Some(i) {
                return Err(ModelError::BadOp { index: i, reason: "tensor written by two ops" });
            }
            for k in 0..op.n_inputs as usize {
                let t = op.inputs[k];
                if t == NO_TENSOR || self.tensor_span(t as usize).0 != STORAGE_ARENA {
                    continue;
                }
                let ok = t as usize == self.input_index()
                    || matches!(self.producer(t as usize), Some(p) if p < i);
                if !ok {
                    return Err(ModelError::BadOp { index: i, reason: "reads a tensor before it is written" });
                }
            }
        }
        if self.producer(self.output_index()).is_none() {
            return Err(ModelError::BadHeader("no op writes the output"));
        }
        let nt = self.tensor_count();
        for a in 0..nt {
            let (sa, a_lo, a_hi) = self.tensor_span(a);
            if sa != STORAGE_ARENA {
                continue;
            }
            let mut life_a = None;
            for b in a + 1..nt {
                let (sb, b_lo, b_hi) = self.tensor_span(b);
                if sb != STORAGE_ARENA || b_hi <= a_lo || a_hi <= b_lo {
                    continue;
                }
                if life_a.is_none() {
                    life_a = Some(self.lifetime(a));
                }
                let Some(Some((fa, la))) = life_a else { break };
                let Some((fb, lb)) = self.lifetime(b) else { continue };
                if fa <= lb && fb <= la && self.alias_root(a) != self.alias_root(b) {
                    let (op, written, victim) = if fa >= fb { (fa, a, b) } else { (fb, b, a) };
                    return Err(ModelError::ArenaConflict { op, written, victim });
                }
            }
        }
        Ok(())
    }
}
