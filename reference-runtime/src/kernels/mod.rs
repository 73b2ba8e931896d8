//! Operator kernels.
//!
//! * [`reference`]: plain, portable loops that mirror TFLite Micro's reference int8 kernels
//!   one for one (`tensorflow/lite/kernels/internal/reference/integer_ops/*.h`). They are the
//!   specification: every other implementation must produce identical bytes.
//!
//! * [`optimized`]: the same arithmetic restructured for speed (default); cross-checked
//!   against `reference` bit for bit by the tests. It selects [`dsp`] (SMLAD/SXTB16 kernels
//!   for Cortex-M cores with the DSP extension) or [`portable`] (plain Rust, any target) at
//!   build time.
//! * [`simd`]: the DSP instructions as functions, `asm!` on DSP targets and exact emulations
//!   elsewhere, so the [`dsp`] kernels also run (and are tested) on the host.
//!
//! Kernels take already-validated shapes (see [`crate::Model::from_bytes`]); they use
//! checked slice indexing, so a shape the validator missed panics instead of reading out of
//! bounds.
pub mod dsp;
pub mod optimized;
pub mod portable;
pub mod reference;
pub mod simd;

/// Which kernel implementations an [`crate::Interpreter`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KernelSet {
    /// Plain loops mirroring TFLite Micro's reference kernels.
    Reference,
    /// Restructured loops, bit exact with `Reference`.
    #[default]
    Optimized,
}

/// Per-channel (or per-tensor, `len() == 1`) requantization table, a view of the blob's
/// requant section: (multiplier: i32, shift: i32) little-endian pairs.
#[derive(Clone, Copy, Debug)]
pub struct QuantTable<'a> {
    bytes: &'a [u8],
}

impl<'a> QuantTable<'a> {
    /// `bytes.len()` must be a multiple of 8.
    pub fn new(bytes: &'a [u8]) -> Self {
        QuantTable { bytes }
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        self.bytes.len() / 8
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.bytes.len() < 8
    }

    /// Entry for output channel `ch` (entry 0 if the table is per-tensor).
    #[inline(always)]
    pub fn get(&self, ch: usize) -> (i32, i32) {
        let i = if self.len() == 1 { 0 } else { ch };
        let b = &self.bytes[i * 8..i * 8 + 8];
        (
            i32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        )
    }
}

/// An int32 vector stored little-endian in the blob (biases).
#[derive(Clone, Copy, Debug)]
pub struct I32Le<'a> {
    bytes: &'a [u8],
}

impl<'a> I32Le<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        I32Le { bytes }
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        self.bytes.len() / 4
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.bytes.len() < 4
    }

    #[inline(always)]
    pub fn get(&self, i: usize) -> i32 {
        let b = &self.bytes[i * 4..i * 4 + 4];
        i32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}

/// Quantized output stage shared by the MAC kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputStage {
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
}

impl OutputStage {
    #[inline(always)]
    pub fn apply(&self, acc: i32, multiplier: i32, shift: i32) -> i8 {
        let v = crate::fixedpoint::multiply_by_quantized_multiplier(acc, multiplier, shift)
            .wrapping_add(self.output_offset);
        v.max(self.act_min).min(self.act_max) as i8
    }
}

/// Geometry of a 2-D sliding-window op (conv, depthwise conv, pooling), NHWC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Window {
    pub batches: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub out_c: usize,
    pub filter_h: usize,
    pub filter_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    pub pad_h: usize,
    pub pad_w: usize,
}
