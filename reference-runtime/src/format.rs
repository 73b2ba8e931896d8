//! The mcubench model blob: a compact, little-endian, zero-copy binary model format.
//!
//! The host importer (`mcubench-workloads`) lowers a `.tflite` flatbuffer to this format once;
//! the firmware embeds the blob in flash (16-byte aligned) and [`crate::Model::from_bytes`]
//! validates it in place without copying anything. All multi-byte fields are little-endian and
//! are read with `from_le_bytes`, so the parser makes no assumption about the alignment of the
//! slice it is given (alignment only matters for speed).
//!
//! # Layout
//!
//! Every section starts at an offset (relative to the blob start) that is a multiple of
//! [`SECTION_ALIGN`] (16). Gaps are zero padding.
//!
//! ```text
//! +--------------------+ 0
//! | header (64 B)      |
//! +--------------------+ tensors_off
//! | tensor records     |  n_tensors x 40 B
//! +--------------------+ ops_off
//! | op records         |  n_ops x 80 B, in execution order
//! +--------------------+ quant_off
//! | requant table      |  quant_len B: (multiplier: i32, shift: i32) pairs
//! +--------------------+ data_off
//! | constant data      |  data_len B: int8 weights, int32 biases, each 16-B aligned
//! +--------------------+ total_len
//! ```
//!
//! ## Header (64 bytes)
//!
//! | off | type    | field          | meaning                                                   |
//! |-----|---------|----------------|-----------------------------------------------------------|
//! | 0   | [u8; 4] | magic          | `b"MCUB"`                                                 |
//! | 4   | u16     | version        | [`VERSION`]                                               |
//! | 6   | u16     | header_size    | [`HEADER_SIZE`]                                           |
//! | 8   | u32     | total_len      | bytes of the blob (the slice may be longer)               |
//! | 12  | u32     | flags          | must be 0                                                 |
//! | 16  | u32     | arena_bytes    | bytes of arena the static plan needs                      |
//! | 20  | u32     | n_tensors      |                                                           |
//! | 24  | u32     | tensors_off    |                                                           |
//! | 28  | u32     | n_ops          |                                                           |
//! | 32  | u32     | ops_off        |                                                           |
//! | 36  | u32     | quant_off      |                                                           |
//! | 40  | u32     | quant_len      | bytes, a multiple of 8                                    |
//! | 44  | u32     | data_off       |                                                           |
//! | 48  | u32     | data_len       | bytes                                                     |
//! | 52  | u32     | input_tensor   | index of the model's single int8 input                    |
//! | 56  | u32     | output_tensor  | index of the model's single int8 output                   |
//! | 60  | u32     | reserved       | must be 0                                                 |
//!
//! ## Tensor record (40 bytes)
//!
//! | off | type     | field      | meaning                                                      |
//! |-----|----------|------------|--------------------------------------------------------------|
//! | 0   | u8       | dtype      | [`DTYPE_INT8`] or [`DTYPE_INT32`]                            |
//! | 1   | u8       | rank       | 1..=4                                                        |
//! | 2   | u8       | storage    | [`STORAGE_ARENA`] (activation) or [`STORAGE_CONST`]          |
//! | 3   | u8       | reserved   | 0                                                            |
//! | 4   | [u32; 4] | dims       | shape (TFLite order, e.g. NHWC); unused trailing dims are 1  |
//! | 20  | u32      | offset     | arena offset (activation) or offset in the data section      |
//! | 24  | u32      | byte_len   | product(dims) x element size                                 |
//! | 28  | f32      | scale      | per-tensor quantization scale (informative for weights)      |
//! | 32  | i32      | zero_point |                                                              |
//! | 36  | u32      | reserved   | 0                                                            |
//!
//! Activation tensors live in one caller-provided arena at the planned offsets; the planner
//! packs tensors whose lifetimes do not overlap into the same bytes and lets a RESHAPE output
//! alias its input (same offset). The model input is only guaranteed intact until it is last
//! read: write it again before every invoke.
//!
//! ## Op record (80 bytes)
//!
//! | off | type      | field     | meaning                                                     |
//! |-----|-----------|-----------|-------------------------------------------------------------|
//! | 0   | u8        | opcode    | [`OpCode`]                                                  |
//! | 1   | u8        | n_inputs  | 1..=4                                                       |
//! | 2   | u8        | n_outputs | 1                                                           |
//! | 3   | u8        | reserved  | 0                                                           |
//! | 4   | [u16; 4]  | inputs    | tensor indices; [`NO_TENSOR`] for an absent optional input  |
//! | 12  | u16       | output    | tensor index                                                |
//! | 14  | u16       | reserved  | 0                                                           |
//! | 16  | [i32; 16] | params    | operator parameters, see [`OpCode`]                         |
//!
//! Requantization (multiplier, shift) pairs are precomputed on the host exactly as TFLite
//! Micro's Prepare does (`QuantizeMultiplier` on the double-precision effective scale) and
//! stored in the requant table; an op refers to them by entry index and count (count 1 =
//! per-tensor, else one per output channel).
//!
//! ## Operator parameters
//!
//! Named indices into `params` are the `P_*` constants. Offsets follow TFLM's convention:
//! `input_offset = -input_zero_point`, `output_offset = +output_zero_point`.
//!
//! * FULLY_CONNECTED: inputs (input, filter `[out, accum]`, bias int32 or none);
//!   `P_ACT_MIN, P_ACT_MAX, P_INPUT_OFFSET, P_FILTER_OFFSET, P_OUTPUT_OFFSET, P_QUANT_INDEX,
//!   P_QUANT_COUNT`.
//! * CONV_2D: inputs (input NHWC, filter `[oc, kh, kw, ic]`, bias); as FC (filter offset 0)
//!   plus `P_STRIDE_W, P_STRIDE_H, P_DILATION_W, P_DILATION_H, P_PAD_W, P_PAD_H`.
//! * DEPTHWISE_CONV_2D: inputs (input, filter `[1, kh, kw, oc]`, bias); as CONV_2D plus
//!   `P_DEPTH_MULTIPLIER`.
//! * AVERAGE_POOL_2D / MAX_POOL_2D: input; `P_ACT_MIN, P_ACT_MAX`, strides, paddings,
//!   `P_FILTER_W, P_FILTER_H`.
//! * RESHAPE: input; no params (the output normally aliases the input; else a copy).
//! * SOFTMAX: input; `P_SM_INPUT_MULTIPLIER, P_SM_INPUT_LEFT_SHIFT, P_SM_DIFF_MIN`
//!   (output must be scale 1/256, zero point -128, as TFLM's int8 softmax requires).
//! * ADD: inputs (a, b) of identical shape; `P_ACT_MIN, P_ACT_MAX`, `P_ADD_*`.
//! * PAD (also PADV2): input (rank 1..=4); `P_PAD_VALUE` (the int8 fill value: the output zero
//!   point, or PADV2's constant), `P_PAD_BEFORE + d` / `P_PAD_AFTER + d` per dimension `d`
//!   (zero past the rank). The output shape is input + before + after in every dimension.
//! * MEAN: input NHWC rank 4, reduced over H and W; output `[N, 1, 1, C]` or `[N, C]`;
//!   `P_MEAN_INPUT_ZP, P_MEAN_OUTPUT_ZP, P_MEAN_MULTIPLIER, P_MEAN_SHIFT`: the multiplier
//!   already includes the 1/(H*W) factor, as TFLM's `QuantizedMeanOrSum` folds it in (TFLM
//!   runs that one integer path for every int8 MEAN, keep_dims or not, same quantization or
//!   not).
//! * CONCATENATION: 1..=4 int8 inputs (activations or constants) of the output's rank;
//!   `P_CONCAT_AXIS` (0..rank). A plain byte copy, as TFLM's int8 concatenation (whose
//!   Prepare requires every input to share the output's quantization; so does the importer).
//! * MUL: inputs (a, b), activations or int8 constants, each broadcastable to the output
//!   (right-aligned, every dim 1 or the output's); `P_ACT_MIN, P_ACT_MAX`, `P_MUL_*`.
//! * LOGISTIC: input; `P_LOGISTIC_*` (output zero point must be -128).
//! * QUANTIZE (int8 -> int8 requantization): input of the output's size; `P_REQUANT_*`.
pub const MAGIC: [u8; 4] = *b"MCUB";
/// Format version this runtime reads and writes.
pub const VERSION: u16 = 1;
pub const HEADER_SIZE: usize = 64;
pub const TENSOR_RECORD_SIZE: usize = 40;
pub const OP_RECORD_SIZE: usize = 80;
/// Alignment of every section and of every constant tensor, relative to the blob start.
pub const SECTION_ALIGN: usize = 16;
pub const MAX_OP_INPUTS: usize = 4;
pub const NUM_PARAMS: usize = 16;
pub const MAX_RANK: usize = 4;
/// Marks an absent optional input (e.g. no bias).
pub const NO_TENSOR: u16 = 0xFFFF;
/// Size of one requant table entry (multiplier i32, shift i32).
pub const QUANT_ENTRY_SIZE: usize = 8;

pub const DTYPE_INT8: u8 = 1;
pub const DTYPE_INT32: u8 = 2;
pub const STORAGE_ARENA: u8 = 0;
pub const STORAGE_CONST: u8 = 1;

// Parameter slots (indices into `OpRecord::params`).
pub const P_ACT_MIN: usize = 0;
pub const P_ACT_MAX: usize = 1;
pub const P_INPUT_OFFSET: usize = 2;
pub const P_FILTER_OFFSET: usize = 3;
pub const P_OUTPUT_OFFSET: usize = 4;
pub const P_QUANT_INDEX: usize = 5;
pub const P_QUANT_COUNT: usize = 6;
pub const P_STRIDE_W: usize = 7;
pub const P_STRIDE_H: usize = 8;
pub const P_DILATION_W: usize = 9;
pub const P_DILATION_H: usize = 10;
pub const P_PAD_W: usize = 11;
pub const P_PAD_H: usize = 12;
pub const P_DEPTH_MULTIPLIER: usize = 13;
pub const P_FILTER_W: usize = 13;
pub const P_FILTER_H: usize = 14;
// SOFTMAX
pub const P_SM_INPUT_MULTIPLIER: usize = 0;
pub const P_SM_INPUT_LEFT_SHIFT: usize = 1;
pub const P_SM_DIFF_MIN: usize = 2;
// ADD (also uses P_ACT_MIN, P_ACT_MAX)
pub const P_ADD_INPUT1_OFFSET: usize = 2;
pub const P_ADD_INPUT2_OFFSET: usize = 3;
pub const P_ADD_OUTPUT_OFFSET: usize = 4;
pub const P_ADD_LEFT_SHIFT: usize = 5;
pub const P_ADD_INPUT1_MULTIPLIER: usize = 6;
pub const P_ADD_INPUT1_SHIFT: usize = 7;
pub const P_ADD_INPUT2_MULTIPLIER: usize = 8;
pub const P_ADD_INPUT2_SHIFT: usize = 9;
pub const P_ADD_OUTPUT_MULTIPLIER: usize = 10;
pub const P_ADD_OUTPUT_SHIFT: usize = 11;
// PAD
pub const P_PAD_VALUE: usize = 0;
/// First of 4 slots: padding before dimension 0..4.
pub const P_PAD_BEFORE: usize = 1;
/// First of 4 slots: padding after dimension 0..4.
pub const P_PAD_AFTER: usize = 5;
// MEAN
pub const P_MEAN_INPUT_ZP: usize = 0;
pub const P_MEAN_OUTPUT_ZP: usize = 1;
pub const P_MEAN_MULTIPLIER: usize = 2;
pub const P_MEAN_SHIFT: usize = 3;
// CONCATENATION
pub const P_CONCAT_AXIS: usize = 0;
// MUL (also uses P_ACT_MIN, P_ACT_MAX)
pub const P_MUL_INPUT1_OFFSET: usize = 2;
pub const P_MUL_INPUT2_OFFSET: usize = 3;
pub const P_MUL_OUTPUT_OFFSET: usize = 4;
pub const P_MUL_MULTIPLIER: usize = 5;
pub const P_MUL_SHIFT: usize = 6;
// LOGISTIC
pub const P_LOGISTIC_INPUT_ZP: usize = 0;
pub const P_LOGISTIC_RANGE_RADIUS: usize = 1;
pub const P_LOGISTIC_MULTIPLIER: usize = 2;
pub const P_LOGISTIC_LEFT_SHIFT: usize = 3;
// QUANTIZE (int8 -> int8)
pub const P_REQUANT_INPUT_ZP: usize = 0;
pub const P_REQUANT_OUTPUT_ZP: usize = 1;
pub const P_REQUANT_MULTIPLIER: usize = 2;
pub const P_REQUANT_SHIFT: usize = 3;

/// Operator codes of the blob (stable; independent of TFLite's numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OpCode {
    FullyConnected = 1,
    Conv2d = 2,
    DepthwiseConv2d = 3,
    AveragePool2d = 4,
    MaxPool2d = 5,
    Reshape = 6,
    Softmax = 7,
    Add = 8,
    Pad = 9,
    Mean = 10,
    Concatenation = 11,
    Mul = 12,
    Logistic = 13,
    Quantize = 14,
}

impl OpCode {
    pub fn from_u8(v: u8) -> Option<OpCode> {
        Some(match v {
            1 => OpCode::FullyConnected,
            2 => OpCode::Conv2d,
            3 => OpCode::DepthwiseConv2d,
            4 => OpCode::AveragePool2d,
            5 => OpCode::MaxPool2d,
            6 => OpCode::Reshape,
            7 => OpCode::Softmax,
            8 => OpCode::Add,
            9 => OpCode::Pad,
            10 => OpCode::Mean,
            11 => OpCode::Concatenation,
            12 => OpCode::Mul,
            13 => OpCode::Logistic,
            14 => OpCode::Quantize,
            _ => return None,
        })
    }

    /// The TFLite builtin operator name this op implements.
    pub fn name(self) -> &'static str {
        match self {
            OpCode::FullyConnected => "FULLY_CONNECTED",
            OpCode::Conv2d => "CONV_2D",
            OpCode::DepthwiseConv2d => "DEPTHWISE_CONV_2D",
            OpCode::AveragePool2d => "AVERAGE_POOL_2D",
            OpCode::MaxPool2d => "MAX_POOL_2D",
            OpCode::Reshape => "RESHAPE",
            OpCode::Softmax => "SOFTMAX",
            OpCode::Add => "ADD",
            OpCode::Pad => "PAD",
            OpCode::Mean => "MEAN",
            OpCode::Concatenation => "CONCATENATION",
            OpCode::Mul => "MUL",
            OpCode::Logistic => "LOGISTIC",
            OpCode::Quantize => "QUANTIZE",
        }
    }
}

/// Rounds `v` up to a multiple of `align` (a power of two); `None` on overflow.
pub const fn align_up(v: usize, align: usize) -> Option<usize> {
    match v.checked_add(align - 1) {
        Some(x) => Some(x & !(align - 1)),
        None => None,
    }
}

#[inline]
pub(crate) fn rd_u16(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

#[inline]
pub(crate) fn rd_u32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

#[inline]
pub(crate) fn rd_i32(b: &[u8], off: usize) -> Option<i32> {
    rd_u32(b, off).map(|v| v as i32)
}

/// Decoded header fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub header_size: u16,
    pub total_len: u32,
    pub flags: u32,
    pub arena_bytes: u32,
    pub n_tensors: u32,
    pub tensors_off: u32,
    pub n_ops: u32,
    pub ops_off: u32,
    pub quant_off: u32,
    pub quant_len: u32,
    pub data_off: u32,
    pub data_len: u32,
    pub input_tensor: u32,
    pub output_tensor: u32,
}

impl Header {
    /// Decodes the fixed header fields (no semantic validation); `None` if too short or the
    /// magic is wrong.
    pub fn decode(b: &[u8]) -> Option<Header> {
        if b.len() < HEADER_SIZE || b[0..4] != MAGIC {
            return None;
        }
        Some(Header {
            version: rd_u16(b, 4)?,
            header_size: rd_u16(b, 6)?,
            total_len: rd_u32(b, 8)?,
            flags: rd_u32(b, 12)?,
            arena_bytes: rd_u32(b, 16)?,
            n_tensors: rd_u32(b, 20)?,
            tensors_off: rd_u32(b, 24)?,
            n_ops: rd_u32(b, 28)?,
            ops_off: rd_u32(b, 32)?,
            quant_off: rd_u32(b, 36)?,
            quant_len: rd_u32(b, 40)?,
            data_off: rd_u32(b, 44)?,
            data_len: rd_u32(b, 48)?,
            input_tensor: rd_u32(b, 52)?,
            output_tensor: rd_u32(b, 56)?,
        })
    }

    pub fn encode(&self, out: &mut [u8; HEADER_SIZE]) {
        out.fill(0);
        out[0..4].copy_from_slice(&MAGIC);
        out[4..6].copy_from_slice(&self.version.to_le_bytes());
        out[6..8].copy_from_slice(&self.header_size.to_le_bytes());
        let words = [
            self.total_len,
            self.flags,
            self.arena_bytes,
            self.n_tensors,
            self.tensors_off,
            self.n_ops,
            self.ops_off,
            self.quant_off,
            self.quant_len,
            self.data_off,
            self.data_len,
            self.input_tensor,
            self.output_tensor,
        ];
        for (i, w) in words.iter().enumerate() {
            out[8 + 4 * i..12 + 4 * i].copy_from_slice(&w.to_le_bytes());
        }
    }
}

/// One tensor record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TensorRecord {
    pub dtype: u8,
    pub rank: u8,
    pub storage: u8,
    pub dims: [u32; MAX_RANK],
    pub offset: u32,
    pub byte_len: u32,
    pub scale: f32,
    pub zero_point: i32,
}

impl TensorRecord {
    /// Decodes a record from exactly [`TENSOR_RECORD_SIZE`] bytes (no semantic validation).
    pub fn decode(b: &[u8]) -> Option<TensorRecord> {
        if b.len() < TENSOR_RECORD_SIZE {
            return None;
        }
        let mut dims = [0u32; MAX_RANK];
        for (i, d) in dims.iter_mut().enumerate() {
            *d = rd_u32(b, 4 + 4 * i)?;
        }
        Some(TensorRecord {
            dtype: b[0],
            rank: b[1],
            storage: b[2],
            dims,
            offset: rd_u32(b, 20)?,
            byte_len: rd_u32(b, 24)?,
            scale: f32::from_bits(rd_u32(b, 28)?),
            zero_point: rd_i32(b, 32)?,
        })
    }

    pub fn encode(&self, out: &mut [u8; TENSOR_RECORD_SIZE]) {
        out.fill(0);
        out[0] = self.dtype;
        out[1] = self.rank;
        out[2] = self.storage;
        for (i, d) in self.dims.iter().enumerate() {
            out[4 + 4 * i..8 + 4 * i].copy_from_slice(&d.to_le_bytes());
        }
        out[20..24].copy_from_slice(&self.offset.to_le_bytes());
        out[24..28].copy_from_slice(&self.byte_len.to_le_bytes());
        out[28..32].copy_from_slice(&self.scale.to_bits().to_le_bytes());
        out[32..36].copy_from_slice(&self.zero_point.to_le_bytes());
    }

    /// Number of elements (product of the first `rank` dims), `None` on overflow.
    pub fn elements(&self) -> Option<usize> {
        let rank = (self.rank as usize).min(MAX_RANK);
        let mut n: usize = 1;
        for d in &self.dims[..rank] {
            n = n.checked_mul(*d as usize)?;
        }
        Some(n)
    }

    /// Dimension `i` (1 past the rank).
    pub fn dim(&self, i: usize) -> usize {
        if i < self.rank as usize && i < MAX_RANK {
            self.dims[i] as usize
        } else {
            1
        }
    }
}

/// One op record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpRecord {
    pub opcode: u8,
    pub n_inputs: u8,
    pub n_outputs: u8,
    pub inputs: [u16; MAX_OP_INPUTS],
    pub output: u16,
    pub params: [i32; NUM_PARAMS],
}

impl OpRecord {
    pub fn decode(b: &[u8]) -> Option<OpRecord> {
        if b.len() < OP_RECORD_SIZE {
            return None;
        }
        let mut inputs = [0u16; MAX_OP_INPUTS];
        for (i, v) in inputs.iter_mut().enumerate() {
            *v = rd_u16(b, 4 + 2 * i)?;
        }
        let mut params = [0i32; NUM_PARAMS];
        for (i, v) in params.iter_mut().enumerate() {
            *v = rd_i32(b, 16 + 4 * i)?;
        }
        Some(OpRecord {
            opcode: b[0],
            n_inputs: b[1],
            n_outputs: b[2],
            inputs,
            output: rd_u16(b, 12)?,
            params,
        })
    }

    pub fn encode(&self, out: &mut [u8; OP_RECORD_SIZE]) {
        out.fill(0);
        out[0] = self.opcode;
        out[1] = self.n_inputs;
        out[2] = self.n_outputs;
        for (i, v) in self.inputs.iter().enumerate() {
            out[4 + 2 * i..6 + 2 * i].copy_from_slice(&v.to_le_bytes());
        }
        out[12..14].copy_from_slice(&self.output.to_le_bytes());
        for (i, v) in self.params.iter().enumerate() {
            out[16 + 4 * i..20 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
    }

    /// Input `i` if present.
    pub fn input(&self, i: usize) -> Option<u16> {
        if i < self.n_inputs as usize && i < MAX_OP_INPUTS && self.inputs[i] != NO_TENSOR {
            Some(self.inputs[i])
        } else {
            None
        }
    }
}

/// Host-side blob writer (used by the importer and by tests).
#[cfg(feature = "std")]
pub mod builder {
    use super::*;
    use std::vec::Vec;

    /// Accumulates tensors, ops, requant entries and constant data, then lays them out.
    #[derive(Default, Debug, Clone)]
    pub struct BlobBuilder {
        pub tensors: Vec<TensorRecord>,
        pub ops: Vec<OpRecord>,
        pub quant: Vec<(i32, i32)>,
        pub data: Vec<u8>,
        pub arena_bytes: u32,
        pub input_tensor: u32,
        pub output_tensor: u32,
    }

    impl BlobBuilder {
        pub fn new() -> Self {
            Self::default()
        }

        /// Appends constant bytes at the next 16-byte boundary of the data section and returns
        /// their offset.
        pub fn push_data(&mut self, bytes: &[u8]) -> u32 {
            let off = align_up(self.data.len(), SECTION_ALIGN).expect("data overflow");
            self.data.resize(off, 0);
            self.data.extend_from_slice(bytes);
            off as u32
        }

        /// Appends requant entries; returns the index of the first.
        pub fn push_quant(&mut self, entries: &[(i32, i32)]) -> u32 {
            let idx = self.quant.len() as u32;
            self.quant.extend_from_slice(entries);
            idx
        }

        pub fn push_tensor(&mut self, t: TensorRecord) -> u16 {
            self.tensors.push(t);
            (self.tensors.len() - 1) as u16
        }

        /// Serializes the blob.
        pub fn finish(&self) -> Vec<u8> {
            let a = |v: usize| align_up(v, SECTION_ALIGN).expect("blob too large");
            let tensors_off = a(HEADER_SIZE);
            let ops_off = a(tensors_off + self.tensors.len() * TENSOR_RECORD_SIZE);
            let quant_off = a(ops_off + self.ops.len() * OP_RECORD_SIZE);
            let quant_len = self.quant.len() * QUANT_ENTRY_SIZE;
            let data_off = a(quant_off + quant_len);
            let data_len = self.data.len();
            let total = a(data_off + data_len);
            let mut out = vec![0u8; total];
            let h = Header {
                version: VERSION,
                header_size: HEADER_SIZE as u16,
                total_len: total as u32,
                flags: 0,
                arena_bytes: self.arena_bytes,
                n_tensors: self.tensors.len() as u32,
                tensors_off: tensors_off as u32,
                n_ops: self.ops.len() as u32,
                ops_off: ops_off as u32,
                quant_off: quant_off as u32,
                quant_len: quant_len as u32,
                data_off: data_off as u32,
                data_len: data_len as u32,
                input_tensor: self.input_tensor,
                output_tensor: self.output_tensor,
            };
            let mut hb = [0u8; HEADER_SIZE];
            h.encode(&mut hb);
            out[..HEADER_SIZE].copy_from_slice(&hb);
            for (i, t) in self.tensors.iter().enumerate() {
                let mut b = [0u8; TENSOR_RECORD_SIZE];
                t.encode(&mut b);
                let o = tensors_off + i * TENSOR_RECORD_SIZE;
                out[o..o + TENSOR_RECORD_SIZE].copy_from_slice(&b);
            }
            for (i, op) in self.ops.iter().enumerate() {
                let mut b = [0u8; OP_RECORD_SIZE];
                op.encode(&mut b);
                let o = ops_off + i * OP_RECORD_SIZE;
                out[o..o + OP_RECORD_SIZE].copy_from_slice(&b);
            }
            for (i, (m, s)) in self.quant.iter().enumerate() {
                let o = quant_off + i * QUANT_ENTRY_SIZE;
                out[o..o + 4].copy_from_slice(&m.to_le_bytes());
                out[o + 4..o + 8].copy_from_slice(&s.to_le_bytes());
            }
            out[data_off..data_off + data_len].copy_from_slice(&self.data);
            out
        }
    }
}
