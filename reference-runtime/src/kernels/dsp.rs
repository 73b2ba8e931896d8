//! Kernels for Cortex-M cores with the DSP extension (M4/M7/M33/M55): dual 16-bit MACs
//! (`SMLAD`) on operands widened with `SXTB16`/`SXTAB16`, bit exact with
//! [`super::reference`].
//!
//! Built on every target: with `cfg(mcubench_dsp)` the primitives of [`super::simd`] and the
//! inner loops below are Arm instructions, elsewhere bit-exact emulations, so the host tests
//! exercise the same packing, blocking and requantization code that runs on the device.
//! [`super::optimized`] uses these kernels on DSP targets and [`super::portable`] elsewhere.
//!
//! # CONV_2D (including 1x1 pointwise) and FULLY_CONNECTED
//!
//! im2col into a small int16 buffer, then a 2x2 register-blocked matrix product:
//!
//! * two output pixels ("columns") are unrolled into the buffer, each as `K = kh*kw*in_c`
//!   values `x + input_offset` (so padding is a plain 0 and no offset correction is needed),
//!   interleaved per group of four: `[A(x0,x2), A(x1,x3), B(x0,x2), B(x1,x3)]`, the lane order
//!   `SXTB16` produces from four filter bytes (even bytes, then odd bytes via `ROR #8`);
//! * for each pair of output channels the inner loop loads the four words with one `LDM`, each
//!   filter word with one `LDR`, widens it with two `SXTB16` and does four `SMLAD`s (eight
//!   MACs): 15 instructions per 16 MACs, unrolled twice (the general path);
//! * in the common requantization mode the filter rows of a chunk of channels are widened once
//!   into a stack buffer, and the loop is one `LDM` of the columns, one `LDM` of the two
//!   channels and eight `SMLAD`s: 10 instructions per 16 MACs, fully unrolled;
//! * the four accumulators start at the bias and are requantized in registers.
//!
//! # Requantization
//!
//! See [`LayerQ`]: when the layer's bounds allow it, TFLite's double-rounding
//! `MultiplyByQuantizedMultiplier` + output offset + clamp is five instructions plus `SSAT`,
//! exactly equal; otherwise the reference arithmetic is used.
use super::simd::{copy_words, dup16, requant_core, requant_core_mask, ssat8, sxtab16, sxtab16_ror8, sxtb16, sxtb16_ror8};
#[cfg(not(mcubench_dsp))]
use super::simd::smlad;
use super::{portable, I32Le, OutputStage, QuantTable, Window};

/// Largest im2col depth (`kh*kw*in_c`, or FC depth) the stack buffers hold; deeper layers use
/// the portable kernels.
pub const MAX_K: usize = 640;
/// Output channels whose requantization parameters are prepared at once (stack table).
const CH_CHUNK: usize = 64;
/// Bytes of stack for a zero-padded copy of the filter when `K % 4 != 0`.
const PAD_FILTER_BYTES: usize = 1024;
/// Words of stack for the int16-widened filter rows of one channel chunk (8 KiB): widened once
/// per chunk instead of once per 2x2 block, they make the MAC loop 10 instructions per 16 MACs.
const WIDE_FILTER_WORDS: usize = 2048;
/// Groups of four the fully unrolled MAC body of [`conv_row_2x2_wide`] holds (`MAX_K / 4`).
const MAX_GROUPS: usize = MAX_K / 4;
/// Code bytes of one group of that body: two `LDM.W` and eight `SMLAD`, all 32-bit encodings.
#[cfg(mcubench_dsp)]
const WIDE_GROUP_BYTES: usize = 40;

/// Requantization parameters of one output channel, prepared once per call. The layout is
/// part of the `asm!` of `conv_row_2x2_wide` (fields at byte offsets 0, 4, 8, 12; 24 bytes).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct ChanQ {
    /// Bias (plus any constant term), the accumulator's start value.
    pub bias: i32,
    pub mult: i32,
    /// Fast mode: the right shift `e = -shift`; exact mode: TFLite's `shift`.
    pub shift: i32,
    /// Fast mode: `2^(e-1) + (output_offset << e)`.
    pub hb: i32,
    /// Fast mode with zero shifts: -1, or 0 for a channel whose shift is 0.
    pub smask: i32,
    /// Added after the shift ([`Mode::FastSatMask`] and [`Mode::FastClamp`]).
    pub post: i32,
}

/// How a layer requantizes.
///
/// TFLite computes `out = clamp(RDBP(SRDHM(acc, m), e) + off)` with
/// `SRDHM(a, m) = trunc_div(a*m + nudge, 2^31)` (nudge `2^30` or `1 - 2^30` by sign) and
/// `RDBP` rounding half away from zero. For both signs of `a*m`,
/// `SRDHM = floor((a*m + 2^30) / 2^31)` (the negative nudge plus the truncation's `2^31 - 1`
/// sum to `2^30`), which is `SMMULR(2a, m) = floor((2am + 2^31) / 2^32)` when `2a` fits, i.e.
/// `|a| < 2^30`. For `e >= 1`, `RDBP(r, e) = (r + 2^(e-1) - [r < 0]) >> e` (arithmetic shift),
/// and adding `off << e` before the shift adds `off` after it. So with
/// `hb = 2^(e-1) + (off << e)` the result is `(r + hb + (r >> 31)) >> e`, exact when nothing
/// overflows: `|acc| < 2^30` (checked from the layer's depth, offsets and biases) and
/// `|hb| <= 2^29`, `1 <= e <= 30` for every channel.
///
/// The bounds are per channel (`|bias| + acc_bound`). Other channels are brought into that
/// form: a channel whose result is provably constant `v` (requantization is monotonic, so
/// equal results at both ends of the reachable accumulator range; e.g. the dead channels
/// with a huge bias and shift -31 that MobileNet has) gets `m = 0, e = 1, hb = 1 + 2v`; a
/// channel with shift 0 gets `e = 0, hb = off` and a zero sign mask, one whose shift is too
/// large to fold the offset into `hb` gets `hb = 2^(e-1)` and the offset added after the
/// shift (mode [`Mode::FastSatMask`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Fast path, activation range is the whole int8 range: `SSAT #8`.
    FastSat,
    /// As `FastSat`, some channel has shift 0 (rounding sign term masked per channel) or a
    /// shift too large to fold the offset into `hb` (offset added after the shift).
    FastSatMask,
    /// Fast path, then clamp to the activation range.
    FastClamp,
    /// Reference arithmetic per output.
    Exact,
}

/// Per-layer requantization setup.
#[derive(Clone, Copy, Debug)]
pub struct LayerQ<'a> {
    pub mode: Mode,
    bias: Option<I32Le<'a>>,
    quant: QuantTable<'a>,
    pub stage: OutputStage,
    /// Bound of `|accumulator - bias|`.
    acc_bound: u64,
    /// Every channel is [`ChanKind::Normal`].
    simple: bool,
    /// Channels no fast form covers (see [`LayerQ::with_fixups`]): the kernel computes them
    /// with dummy parameters and the caller recomputes them exactly afterwards.
    fixups: [u16; MAX_FIXUPS],
    n_fixups: usize,
}

/// Most channels per layer recomputed exactly after a fast kernel (see [`LayerQ::with_fixups`]).
pub const MAX_FIXUPS: usize = 32;

#[derive(Clone, Copy, PartialEq, Eq)]
enum ChanKind {
    Normal,
    /// The (unclamped) result for every reachable accumulator.
    Constant(i32),
    ZeroShift,
    Large,
    Unsupported,
}

impl<'a> LayerQ<'a> {
    /// `acc_bound` bounds the true (unwrapped) accumulator without the bias.
    pub fn new(bias: Option<I32Le<'a>>, quant: QuantTable<'a>, stage: OutputStage, out_c: usize, acc_bound: u64) -> Self {
        Self::build(bias, quant, stage, out_c, acc_bound, 0)
    }

    /// As [`LayerQ::new`], but up to [`MAX_FIXUPS`] channels that no fast form covers leave
    /// the layer in a fast mode: MobileNet's dead channels (bias near +-2^30, shift down to
    /// -31) whose results are not provably constant over the generic accumulator bound would
    /// otherwise put the whole layer on the reference arithmetic. Such channels get harmless
    /// dummy parameters; the caller must recompute them with [`LayerQ::fixups`].
    ///
    /// A channel becomes a fixup only while fixups stay cheaper than the reference
    /// arithmetic for the whole layer (at most one channel in 16). The importer already folds
    /// the provably constant ones (`mcubench_workloads::fold`), so fixups are rare.
    pub fn with_fixups(bias: Option<I32Le<'a>>, quant: QuantTable<'a>, stage: OutputStage, out_c: usize, acc_bound: u64) -> Self {
        Self::build(bias, quant, stage, out_c, acc_bound, MAX_FIXUPS.min(out_c / 16))
    }

    /// Channels to recompute exactly after the fast kernel (empty unless built by
    /// [`LayerQ::with_fixups`]).
    pub fn fixups(&self) -> impl Iterator<Item = usize> + '_ {
        self.fixups[..self.n_fixups].iter().map(|&c| c as usize)
    }

    fn build(bias: Option<I32Le<'a>>, quant: QuantTable<'a>, stage: OutputStage, out_c: usize, acc_bound: u64, max_fixups: usize) -> Self {
        let mut fixups = [0u16; MAX_FIXUPS];
        let mut n_fixups = 0;
        let mut fast = acc_bound < (1 << 29) && !quant.is_empty();
        let mut masked = false;
        // Common case first: every channel Normal (cheap to check, and `chan` can skip the
        // per-channel classification).
        let mut simple = fast;
        if simple {
            let max_bias = bias.map_or(0, |b| (0..out_c).map(|c| b.get(c).unsigned_abs()).max().unwrap_or(0));
            simple = acc_bound + (max_bias as u64) < (1 << 29)
                && (0..quant.len().min(out_c.max(1))).all(|c| {
                    let e = -(quant.get(c).1 as i64);
                    (1..=30).contains(&e) && ((1i64 << (e - 1)) + ((stage.output_offset as i64) << e)).unsigned_abs() <= (1 << 29)
                });
        }
        if fast && !simple {
            for ch in 0..out_c {
                let b = bias.map_or(0, |b| b.get(ch));
                match Self::kind(quant.get(ch), stage.output_offset, acc_bound, b) {
                    ChanKind::Normal | ChanKind::Constant(_) => {}
                    ChanKind::ZeroShift | ChanKind::Large => masked = true,
                    ChanKind::Unsupported if n_fixups < max_fixups && ch <= u16::MAX as usize => {
                        fixups[n_fixups] = ch as u16;
                        n_fixups += 1;
                    }
                    ChanKind::Unsupported => {
                        fast = false;
                        break;
                    }
                }
            }
        }
        let full = stage.act_min == -128 && stage.act_max == 127;
        let mode = match (fast, full, masked) {
            (false, _, _) => Mode::Exact,
            (true, true, false) => Mode::FastSat,
            (true, true, true) => Mode::FastSatMask,
            (true, false, _) => Mode::FastClamp,
        };
        if !fast {
            n_fixups = 0;
        }
        LayerQ { mode, bias, quant, stage, acc_bound, simple, fixups, n_fixups }
    }

    /// How channel `(m, shift)` with bias `b` is requantized when its accumulator lies in
    /// `b +- acc_bound`.
    fn kind((m, shift): (i32, i32), off: i32, acc_bound: u64, b: i32) -> ChanKind {
        let lo = b as i64 - acc_bound as i64;
        let hi = b as i64 + acc_bound as i64;
        let e = -(shift as i64);
        if hi.max(-lo) < (1 << 29) && (0..=30).contains(&e) {
            if e == 0 {
                return ChanKind::ZeroShift;
            }
            let hb = (1i64 << (e - 1)) + ((off as i64) << e);
            return if hb.unsigned_abs() <= (1 << 29) { ChanKind::Normal } else { ChanKind::Large };
        }
        // Requantization is monotonic in the accumulator (no left shift: shift <= 0), so
        // equal results at both ends mean a constant channel (dead channels with a huge bias
        // and a tiny multiplier, as MobileNet has).
        if shift <= 0 && lo >= i32::MIN as i64 && hi <= i32::MAX as i64 {
            let f = |x: i64| crate::fixedpoint::multiply_by_quantized_multiplier(x as i32, m, shift).wrapping_add(off);
            let (a, z) = (f(lo), f(hi));
            if a == z {
                return ChanKind::Constant(a.clamp(-256, 255));
            }
        }
        ChanKind::Unsupported
    }

    /// Parameters of channel `ch`, whose accumulator starts at `bias + extra`.
    #[inline]
    pub fn chan(&self, ch: usize, extra: i32) -> ChanQ {
        let b = self.bias.map_or(0, |b| b.get(ch));
        let bias = b.wrapping_add(extra);
        let (mult, shift) = self.quant.get(ch);
        if self.mode == Mode::Exact {
            return ChanQ { bias, mult, shift, hb: 0, smask: 0, post: 0 };
        }
        let off = self.stage.output_offset;
        if self.simple {
            let e = -shift;
            let hb = (1i32 << (e - 1)).wrapping_add(off.wrapping_shl(e as u32));
            return ChanQ { bias, mult, shift: e, hb, smask: -1, post: 0 };
        }
        match Self::kind((mult, shift), off, self.acc_bound, b) {
            ChanKind::Normal => {
                let e = -shift;
                let hb = (1i32 << (e - 1)).wrapping_add(off.wrapping_shl(e as u32));
                ChanQ { bias, mult, shift: e, hb, smask: -1, post: 0 }
            }
            ChanKind::ZeroShift => ChanQ { bias, mult, shift: 0, hb: off, smask: 0, post: 0 },
            ChanKind::Large => ChanQ { bias, mult, shift: -shift, hb: 1 << (-shift - 1), smask: -1, post: off },
            ChanKind::Constant(v) => ChanQ { bias, mult: 0, shift: 1, hb: 1 + 2 * v, smask: -1, post: 0 },
            // A fast layer has such a channel only as a fixup: a dummy that cannot overflow
            // (result 0), overwritten by the caller.
            ChanKind::Unsupported if self.n_fixups > 0 => ChanQ { bias: 0, mult: 0, shift: 1, hb: 1, smask: -1, post: 0 },
            ChanKind::Unsupported => ChanQ { bias, mult, shift, hb: 0, smask: 0, post: 0 },
        }
    }

    /// Fills `table` with channels `c0..c0 + table.len()`.
    #[inline(never)]
    fn fill(&self, c0: usize, extra: i32, table: &mut [ChanQ]) {
        if self.simple && self.mode != Mode::Exact {
            // The common case, kept free of the per-channel classification (FC layers fill
            // their table for every input row).
            let off = self.stage.output_offset;
            for (i, t) in table.iter_mut().enumerate() {
                let ch = c0 + i;
                let bias = self.bias.map_or(0, |b| b.get(ch)).wrapping_add(extra);
                let (mult, shift) = self.quant.get(ch);
                let e = -shift;
                let hb = (1i32 << (e - 1)).wrapping_add(off.wrapping_shl(e as u32));
                *t = ChanQ { bias, mult, shift: e, hb, smask: -1, post: 0 };
            }
            return;
        }
        for (i, t) in table.iter_mut().enumerate() {
            *t = self.chan(c0 + i, extra);
        }
    }
}

/// Requantizes one accumulator (which already includes the bias).
#[inline(always)]
pub fn requant<const M: u8>(acc: i32, q: &ChanQ, stage: &OutputStage) -> i8 {
    match M {
        FAST_SAT => ssat8(requant_core(acc, q.mult, q.hb, q.shift)) as i8,
        FAST_SAT_MASK => ssat8(requant_core_mask(acc, q.mult, q.hb, q.shift, q.smask, q.post)) as i8,
        FAST_CLAMP => requant_core_mask(acc, q.mult, q.hb, q.shift, q.smask, q.post).max(stage.act_min).min(stage.act_max) as i8,
        _ => stage.apply(acc, q.mult, q.shift),
    }
}

const FAST_SAT: u8 = 0;
const FAST_CLAMP: u8 = 1;
const EXACT: u8 = 2;
const FAST_SAT_MASK: u8 = 3;

// ---------------------------------------------------------------------------------------
// Inner loops.

/// 2 columns x 2 channels over `groups` groups of four: `acc = [A*f0, A*f1, B*f0, B*f1]`
/// added to the start values. `x` holds `4 * groups` interleaved words, `f0`/`f1` at least
/// `4 * groups` bytes.
#[inline(always)]
fn mac_2x2(x: &[u32], f0: &[i8], f1: &[i8], groups: usize, acc: &mut [i32; 4]) {
    assert!(groups >= 1 && x.len() >= 4 * groups && f0.len() >= 4 * groups && f1.len() >= 4 * groups);
    #[cfg(mcubench_dsp)]
    {
        let [mut a00, mut a01, mut a10, mut a11] = *acc;
        // SAFETY: the loop reads exactly `4 * groups` words from `x` (word aligned: a `u32`
        // slice) and `4 * groups` bytes from each filter row, all in bounds by the assert; r6
        // and r7 (reserved by the compiler) are saved and restored on the stack.
        unsafe {
            super::simd::dsp_asm!(
                "push {{r6, r7}}",
                "tst lr, #1",
                "beq 2f",
                // one group
                "ldm r0!, {{r2, r3, r4, r5}}",
                "ldr r6, [r1], #4",
                "sxtb16 r7, r6, ror #8",
                "sxtb16 r6, r6",
                "smlad r8, r2, r6, r8",
                "smlad r10, r4, r6, r10",
                "smlad r8, r3, r7, r8",
                "smlad r10, r5, r7, r10",
                "ldr r6, [r12], #4",
                "sxtb16 r7, r6, ror #8",
                "sxtb16 r6, r6",
                "smlad r9, r2, r6, r9",
                "smlad r11, r4, r6, r11",
                "smlad r9, r3, r7, r9",
                "smlad r11, r5, r7, r11",
                "2:",
                "lsrs lr, lr, #1",
                "beq 4f",
                // two groups per iteration
                "3:",
                "ldm r0!, {{r2, r3, r4, r5}}",
                "ldr r6, [r1], #4",
                "sxtb16 r7, r6, ror #8",
                "sxtb16 r6, r6",
                "smlad r8, r2, r6, r8",
                "smlad r10, r4, r6, r10",
                "smlad r8, r3, r7, r8",
                "smlad r10, r5, r7, r10",
                "ldr r6, [r12], #4",
                "sxtb16 r7, r6, ror #8",
                "sxtb16 r6, r6",
                "smlad r9, r2, r6, r9",
                "smlad r11, r4, r6, r11",
                "smlad r9, r3, r7, r9",
                "smlad r11, r5, r7, r11",
                "ldm r0!, {{r2, r3, r4, r5}}",
                "ldr r6, [r1], #4",
                "sxtb16 r7, r6, ror #8",
                "sxtb16 r6, r6",
                "smlad r8, r2, r6, r8",
                "smlad r10, r4, r6, r10",
                "smlad r8, r3, r7, r8",
                "smlad r10, r5, r7, r10",
                "ldr r6, [r12], #4",
                "sxtb16 r7, r6, ror #8",
                "sxtb16 r6, r6",
                "smlad r9, r2, r6, r9",
                "smlad r11, r4, r6, r11",
                "smlad r9, r3, r7, r9",
                "smlad r11, r5, r7, r11",
                "subs lr, lr, #1",
                "bne 3b",
                "4:",
                "pop {{r6, r7}}",
                inout("r0") x.as_ptr() => _,
                inout("r1") f0.as_ptr() => _,
                inout("r12") f1.as_ptr() => _,
                inout("lr") groups => _,
                inout("r8") a00,
                inout("r9") a01,
                inout("r10") a10,
                inout("r11") a11,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                options(readonly)
            );
        }
        *acc = [a00, a01, a10, a11];
    }
    #[cfg(not(mcubench_dsp))]
    {
        let [mut a00, mut a01, mut a10, mut a11] = *acc;
        for ((xs, w0), w1) in x.chunks_exact(4).zip(f0.chunks_exact(4)).zip(f1.chunks_exact(4)).take(groups) {
            let f = word(w0);
            let (fe, fo) = (sxtb16(f), sxtb16_ror8(f));
            a00 = smlad(xs[0], fe, a00);
            a10 = smlad(xs[2], fe, a10);
            a00 = smlad(xs[1], fo, a00);
            a10 = smlad(xs[3], fo, a10);
            let f = word(w1);
            let (fe, fo) = (sxtb16(f), sxtb16_ror8(f));
            a01 = smlad(xs[0], fe, a01);
            a11 = smlad(xs[2], fe, a11);
            a01 = smlad(xs[1], fo, a01);
            a11 = smlad(xs[3], fo, a11);
        }
        *acc = [a00, a01, a10, a11];
    }
}

/// Widens the filter rows of channels `c, c + 1` (`pairs` pairs, rows `row` bytes apart) for
/// [`conv_row_2x2_wide`]: per pair and group of four, the words
/// `[c(f0,f2), c(f1,f3), c+1(f0,f2), c+1(f1,f3)]`, the lane order of the im2col columns.
fn widen_filter_pairs(filter: &[i8], row: usize, pairs: usize, dst: &mut [u32]) {
    let groups = row / 4;
    assert!(filter.len() >= 2 * pairs * row && dst.len() >= 4 * groups * pairs);
    for (rows, d) in filter.chunks_exact(2 * row).zip(dst.chunks_exact_mut(4 * groups)).take(pairs) {
        #[cfg(mcubench_dsp)]
        // SAFETY: reads `4 * groups <= row` bytes of each of the pair's two rows and writes
        // `4 * groups` words of `d`, in bounds by the chunking; `d` is word aligned.
        unsafe {
            super::simd::dsp_asm!(
                "2:",
                "ldr r2, [{a}], #4",
                "ldr r4, [{b}], #4",
                "sxtb16 r3, r2, ror #8",
                "sxtb16 r2, r2",
                "sxtb16 r5, r4, ror #8",
                "sxtb16 r4, r4",
                "stm {d}!, {{r2, r3, r4, r5}}",
                "subs {n}, {n}, #1",
                "bne 2b",
                a = inout(reg) rows.as_ptr() => _,
                b = inout(reg) rows.as_ptr().add(row) => _,
                d = inout(reg) d.as_mut_ptr() => _,
                n = inout(reg) groups => _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                options(nostack)
            );
        }
        #[cfg(not(mcubench_dsp))]
        {
            let (r0, r1) = rows.split_at(row);
            for ((a, b), d) in r0.chunks_exact(4).zip(r1.chunks_exact(4)).zip(d.chunks_exact_mut(4)) {
                let (a, b) = (word(a), word(b));
                d.copy_from_slice(&[sxtb16(a), sxtb16_ror8(a), sxtb16(b), sxtb16_ror8(b)]);
            }
        }
    }
}

#[cfg(mcubench_dsp)]
/// State of [`conv_row_2x2_wide`], read and advanced by its `asm!` (field offsets are part of it).
#[repr(C)]
struct WideRowState {
    x: *const u32,
    /// Bytes of the unrolled MAC body to jump over: `(MAX_GROUPS - groups) * WIDE_GROUP_BYTES`.
    skip: usize,
    pairs: usize,
    o0: *mut i8,
    o1: *mut i8,
    table: *const ChanQ,
    wf: *const u32,
}

/// One accumulator requantized to int8 in asm: [`requant_core`](super::simd::requant_core)
/// followed by `SSAT`, as one template piece for the kernels' `asm!` loops. The arguments are
/// register names: `requant_asm!(acc, t, mult, half, shift, out, dst)` computes
/// `t = smmulr(acc << 1, mult)`, `out = (t + half + (t >> 31)) >> shift` and
/// `dst = ssat8(out)`. `t` may be `acc`, and `dst` may be `out`. Six instructions.
#[cfg_attr(not(mcubench_dsp), allow(unused_macros))]
macro_rules! requant_asm {
    ($acc:literal, $t:literal, $mult:literal, $half:literal, $shift:literal, $out:literal, $dst:literal) => {
        concat!(
            "lsl ", $t, ", ", $acc, ", #1\n",
            "smmulr ", $t, ", ", $t, ", ", $mult, "\n",
            "add ", $out, ", ", $t, ", ", $half, "\n",
            "add ", $out, ", ", $out, ", ", $t, ", asr #31\n",
            "asr ", $out, ", ", $out, ", ", $shift, "\n",
            "ssat ", $dst, ", #8, ", $out, "\n",
        )
    };
}

/// For one im2col column pair, all channel pairs `c = 0, 2, .., 2 * pairs - 2` of a chunk in
/// [`Mode::FastSat`]: accumulators start at the bias, then the MACs with the filter already
/// widened by [`widen_filter_pairs`] (`wf`, pairs consecutive), then the four results are
/// requantized ([`requant_core`] + `SSAT`) and stored, all in registers. Per group one `LDM` of the column pair, one `LDM` of the channel pair and
/// eight `SMLAD`s, 10 instructions per 16 MACs. The body is unrolled `MAX_GROUPS` times and
/// entered `groups` groups before its end, so it has no loop counter (all 14 registers hold
/// operands, accumulators and the two pointers).
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn conv_row_2x2_wide(x: &[u32], groups: usize, wf: &[u32], table: &[ChanQ], o0: &mut [i8], o1: &mut [i8], pairs: usize) {
    assert!(
        pairs >= 1
            && (1..=MAX_GROUPS).contains(&groups)
            && x.len() >= 4 * groups
            && wf.len() >= 4 * groups * pairs
            && table.len() >= 2 * pairs
            && o0.len() >= 2 * pairs
            && o1.len() >= 2 * pairs
    );
    #[cfg(mcubench_dsp)]
    {
        let mut st = WideRowState {
            x: x.as_ptr(),
            skip: (MAX_GROUPS - groups) * WIDE_GROUP_BYTES,
            pairs,
            o0: o0.as_mut_ptr(),
            o1: o1.as_mut_ptr(),
            table: table.as_ptr(),
            wf: wf.as_ptr(),
        };
        // SAFETY: per pair the body reads `4 * groups` words of `x` and of `wf` (which
        // advances pair by pair); `pairs` pairs read `4 * groups * pairs` words of `wf`,
        // `2 * pairs` table entries and write `2 * pairs` bytes to each output, all in bounds
        // by the assert. The computed branch lands on a group boundary of the unrolled body
        // (`skip` is a multiple of its fixed group size, `groups <= MAX_GROUPS`). r6/r7 are
        // saved and restored; the stack is balanced.
        unsafe {
            super::simd::dsp_asm!(
                "push {{r6, r7}}",
                "push {{r0}}",
                "5:",
                "ldr r0, [sp]",
                "ldr r3, [r0, #20]",
                "ldr r8, [r3]",
                "ldr r9, [r3, #24]",
                "mov r10, r8",
                "mov r11, r9",
                "ldr r1, [r0, #24]",
                "ldr r7, [r0, #4]",
                "ldr r0, [r0]",
                "adr.w r6, 8f",
                "add r6, r6, r7",
                "orr r6, r6, #1",
                "bx r6",
                ".p2align 2",
                "8:",
                ".rept {maxg}",
                "ldm.w r0!, {{r2, r3, r4, r5}}",
                "ldm.w r1!, {{r6, r7, r12, lr}}",
                "smlad r8, r2, r6, r8",
                "smlad r8, r3, r7, r8",
                "smlad r10, r4, r6, r10",
                "smlad r10, r5, r7, r10",
                "smlad r9, r2, r12, r9",
                "smlad r9, r3, lr, r9",
                "smlad r11, r4, r12, r11",
                "smlad r11, r5, lr, r11",
                ".endr",
                "ldr r0, [sp]",
                "str r1, [r0, #24]",
                "ldr r3, [r0, #20]",
                // channel c: (bias, m, e, hb) -> r4..r7
                "ldm r3!, {{r4, r5, r6, r7}}",
                "add r3, r3, #8",
                requant_asm!("r8", "r4", "r5", "r7", "r6", "r2", "r2"),
                requant_asm!("r10", "r4", "r5", "r7", "r6", "r12", "r12"),
                // channel c + 1
                "ldm r3!, {{r4, r5, r6, r7}}",
                "add r3, r3, #8",
                "str r3, [r0, #20]",
                requant_asm!("r9", "r4", "r5", "r7", "r6", "r8", "r8"),
                requant_asm!("r11", "r4", "r5", "r7", "r6", "r10", "r10"),
                "ldr r4, [r0, #12]",
                "ldr r5, [r0, #16]",
                "strb r2, [r4], #1",
                "strb r8, [r4], #1",
                "strb r12, [r5], #1",
                "strb r10, [r5], #1",
                "str r4, [r0, #12]",
                "str r5, [r0, #16]",
                "ldr r4, [r0, #8]",
                "subs r4, r4, #1",
                "str r4, [r0, #8]",
                "bne 5b",
                "pop {{r0}}",
                "pop {{r6, r7}}",
                maxg = const MAX_GROUPS,
                inout("r0") &mut st as *mut WideRowState => _,
                out("r1") _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                out("r8") _,
                out("r9") _,
                out("r10") _,
                out("r11") _,
                out("r12") _,
                out("lr") _,
            );
        }
    }
    #[cfg(not(mcubench_dsp))]
    {
        let st = OutputStage { output_offset: 0, act_min: -128, act_max: 127 };
        for (p, wp) in wf.chunks_exact(4 * groups).take(pairs).enumerate() {
            let (c, q0, q1) = (2 * p, &table[2 * p], &table[2 * p + 1]);
            let [mut a00, mut a01, mut a10, mut a11] = [q0.bias, q1.bias, q0.bias, q1.bias];
            for (xs, ws) in x.chunks_exact(4).zip(wp.chunks_exact(4)).take(groups) {
                a00 = smlad(xs[1], ws[1], smlad(xs[0], ws[0], a00));
                a10 = smlad(xs[3], ws[1], smlad(xs[2], ws[0], a10));
                a01 = smlad(xs[1], ws[3], smlad(xs[0], ws[2], a01));
                a11 = smlad(xs[3], ws[3], smlad(xs[2], ws[2], a11));
            }
            o0[c] = requant::<FAST_SAT>(a00, q0, &st);
            o0[c + 1] = requant::<FAST_SAT>(a01, q1, &st);
            o1[c] = requant::<FAST_SAT>(a10, q0, &st);
            o1[c + 1] = requant::<FAST_SAT>(a11, q1, &st);
        }
    }
}

/// 1 column x 2 channels: `x` holds `2 * groups` words `[(x0,x2), (x1,x3)]` per group.
#[inline(always)]
fn mac_1x2(x: &[u32], f0: &[i8], f1: &[i8], groups: usize, acc: &mut [i32; 2]) {
    assert!(groups >= 1 && x.len() >= 2 * groups && f0.len() >= 4 * groups && f1.len() >= 4 * groups);
    #[cfg(mcubench_dsp)]
    {
        let [mut a0, mut a1] = *acc;
        // SAFETY: reads `2 * groups` words of `x` and `4 * groups` bytes of each filter row,
        // in bounds by the assert.
        unsafe {
            super::simd::dsp_asm!(
                "2:",
                "ldrd {xe}, {xo}, [{px}], #8",
                "ldr {f}, [{p0}], #4",
                "sxtb16 {t}, {f}, ror #8",
                "sxtb16 {f}, {f}",
                "smlad {a0}, {xe}, {f}, {a0}",
                "smlad {a0}, {xo}, {t}, {a0}",
                "ldr {f}, [{p1}], #4",
                "sxtb16 {t}, {f}, ror #8",
                "sxtb16 {f}, {f}",
                "smlad {a1}, {xe}, {f}, {a1}",
                "smlad {a1}, {xo}, {t}, {a1}",
                "subs {n}, {n}, #1",
                "bne 2b",
                px = inout(reg) x.as_ptr() => _,
                p0 = inout(reg) f0.as_ptr() => _,
                p1 = inout(reg) f1.as_ptr() => _,
                n = inout(reg) groups => _,
                a0 = inout(reg) a0,
                a1 = inout(reg) a1,
                xe = out(reg) _,
                xo = out(reg) _,
                f = out(reg) _,
                t = out(reg) _,
                options(readonly, nostack)
            );
        }
        *acc = [a0, a1];
    }
    #[cfg(not(mcubench_dsp))]
    {
        let [mut a0, mut a1] = *acc;
        for ((xs, w0), w1) in x.chunks_exact(2).zip(f0.chunks_exact(4)).zip(f1.chunks_exact(4)).take(groups) {
            let f = word(w0);
            a0 = smlad(xs[0], sxtb16(f), a0);
            a0 = smlad(xs[1], sxtb16_ror8(f), a0);
            let f = word(w1);
            a1 = smlad(xs[0], sxtb16(f), a1);
            a1 = smlad(xs[1], sxtb16_ror8(f), a1);
        }
        *acc = [a0, a1];
    }
}

/// Four int8 values as one little-endian word.
#[inline(always)]
fn word(b: &[i8]) -> u32 {
    u32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8])
}

/// Widens four int8 values (one word) plus the offset into the two interleaved lanes.
#[inline(always)]
fn widen(off2: u32, w: u32) -> (u32, u32) {
    (sxtab16(off2, w), sxtab16_ror8(off2, w))
}

// ---------------------------------------------------------------------------------------
// im2col.

/// Widens `groups` words of `src` (plus the offset) into `dst`: group `g` goes to words
/// `STRIDE * g` and `STRIDE * g + 1` (`STRIDE` 2 for a single column, 4 for a column pair).
/// Six instructions per group on the device (`LDR`, two `SXTAB16`, `STRD`, the loop).
#[inline(always)]
fn widen_run<const STRIDE: usize>(src: &[i8], groups: usize, off2: u32, dst: &mut [u32]) {
    assert!(groups >= 1 && src.len() >= 4 * groups && dst.len() >= STRIDE * (groups - 1) + 2);
    #[cfg(mcubench_dsp)]
    // SAFETY: reads `4 * groups` bytes of `src` (unaligned word loads are allowed for normal
    // memory on these cores) and writes words `STRIDE * g` and `STRIDE * g + 1` of `dst` for
    // `g < groups`, all in bounds by the assert; `dst` is word aligned (a `u32` slice).
    unsafe {
        super::simd::dsp_asm!(
            "2:",
            "ldr {t}, [{s}], #4",
            "sxtab16 {e}, {off}, {t}",
            "sxtab16 {o}, {off}, {t}, ror #8",
            "strd {e}, {o}, [{d}], #{step}",
            "subs {n}, {n}, #1",
            "bne 2b",
            s = inout(reg) src.as_ptr() => _,
            d = inout(reg) dst.as_mut_ptr() => _,
            n = inout(reg) groups => _,
            off = in(reg) off2,
            t = out(reg) _,
            e = out(reg) _,
            o = out(reg) _,
            step = const 4 * STRIDE,
            options(nostack)
        );
    }
    #[cfg(not(mcubench_dsp))]
    for (g, s) in src.chunks_exact(4).take(groups).enumerate() {
        let (e, o) = widen(off2, word(s));
        dst[STRIDE * g] = e;
        dst[STRIDE * g + 1] = o;
    }
}


/// Writes the im2col column of output pixel `(b, oy, ox)` into `dst`: group `g` goes to words
/// `dst[g * stride]` and `dst[g * stride + 1]`. `in_c % 4 == 0`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn fill_column_c4(w: &Window, input: &[i8], off2: u32, b: usize, oy: usize, ox: usize, dst: &mut [u32], stride: usize) {
    let in_c = w.in_c;
    let groups_per_tap = in_c / 4;
    let in_y0 = (oy * w.stride_h) as isize - w.pad_h as isize;
    let in_x0 = (ox * w.stride_w) as isize - w.pad_w as isize;
    let mut first = 0;
    for fy in 0..w.filter_h {
        let iy = in_y0 + (w.dilation_h * fy) as isize;
        let row_ok = iy >= 0 && iy < w.in_h as isize;
        for fx in 0..w.filter_w {
            let ix = in_x0 + (w.dilation_w * fx) as isize;
            if row_ok && ix >= 0 && ix < w.in_w as isize {
                let base = ((b * w.in_h + iy as usize) * w.in_w + ix as usize) * in_c;
                let src = &input[base..base + in_c];
                match stride {
                    4 => widen_run::<4>(src, groups_per_tap, off2, &mut dst[first..]),
                    _ => widen_run::<2>(src, groups_per_tap, off2, &mut dst[first..]),
                }
            } else {
                for d in dst[first..].chunks_mut(stride).take(groups_per_tap) {
                    d[0] = 0;
                    d[1] = 0;
                }
            }
            first += groups_per_tap * stride;
        }
    }
}

/// Any `in_c`: gathers the column as int8 (padding = the input zero point, whose offset-added
/// value is 0) into `stage`, zero-extended to a multiple of 4, then widens it.
#[allow(clippy::too_many_arguments)]
fn fill_column_any(
    w: &Window,
    input: &[i8],
    input_offset: i32,
    b: usize,
    oy: usize,
    ox: usize,
    dst: &mut [u32],
    stride: usize,
    stage: &mut Stage,
) {
    let zp = (-input_offset) as i8;
    let in_c = w.in_c;
    let k = w.filter_h * w.filter_w * in_c;
    let groups = k.div_ceil(4);
    let in_y0 = (oy * w.stride_h) as isize - w.pad_h as isize;
    let in_x0 = (ox * w.stride_w) as isize - w.pad_w as isize;
    let inside = in_y0 >= 0
        && in_x0 >= 0
        && in_y0 as usize + w.dilation_h * (w.filter_h - 1) < w.in_h
        && in_x0 as usize + w.filter_w - 1 < w.in_w;
    if inside && (w.in_c, w.filter_h, w.filter_w, w.dilation_h, w.dilation_w) == (3, 3, 3, 1, 1) {
        // The RGB stem: the column's seven words gathered straight from the three 9-byte
        // runs with unaligned word loads (one byte of zero point pads the last word).
        let base = ((b * w.in_h + in_y0 as usize) * w.in_w + in_x0 as usize) * 3;
        let rs = w.in_w * 3;
        if base + 2 * rs + 10 <= input.len() && dst.len() > 6 * stride + 1 {
            // SAFETY: the furthest word read ends at `base + 2 * rs + 10`, checked above.
            let words = unsafe {
                let rd = |o: usize| core::ptr::read_unaligned(input.as_ptr().add(base + o) as *const u32);
                [
                    rd(0),
                    rd(4),
                    (rd(8) & 0xff) | (rd(rs) << 8),
                    rd(rs + 3),
                    (rd(rs + 7) & 0xffff) | (rd(2 * rs) << 16),
                    rd(2 * rs + 2),
                    (rd(2 * rs + 6) & 0x00ff_ffff) | ((zp as u8 as u32) << 24),
                ]
            };
            let off2 = dup16(input_offset);
            for (g, v) in words.into_iter().enumerate() {
                let (e, o) = widen(off2, v);
                dst[g * stride] = e;
                dst[g * stride + 1] = o;
            }
            return;
        }
    }
    if inside && w.dilation_w == 1 {
        // The whole window is in the image: each filter row is one contiguous run of
        // `filter_w * in_c` bytes (one copy instead of one per tap: the RGB stem has 3-byte taps).
        let run = w.filter_w * in_c;
        for fy in 0..w.filter_h {
            let iy = in_y0 as usize + w.dilation_h * fy;
            let base = ((b * w.in_h + iy) * w.in_w + in_x0 as usize) * in_c;
            let src = &input[base..base + run];
            if base + run.div_ceil(4) * 4 <= input.len() {
                // SAFETY: the word copy reads at most `run + 3` bytes, checked just above, and
                // writes at most `k + 3 < MAX_K + 4` bytes of `stage`.
                unsafe { copy_words(stage.as_mut_ptr().add(fy * run), src.as_ptr(), run) };
            } else {
                stage[fy * run..(fy + 1) * run].copy_from_slice(src);
            }
        }
    } else {
        fill_taps_any(w, input, zp, b, in_y0, in_x0, stage);
    }
    // Up to three zero-point bytes pad the column to whole groups (`k + 4 <= MAX_K + 4`).
    stage[k..k + 4].copy_from_slice(&[zp; 4]);
    let off2 = dup16(input_offset);
    assert!(dst.len() > (groups - 1) * stride + 1);
    for g in 0..groups {
        // SAFETY: `4 * g + 3 < groups * 4 <= MAX_K`; `g * stride + 1 < dst.len()` by the assert.
        unsafe {
            let (e, o) = widen(off2, rd4(stage.as_ptr().add(4 * g)) );
            *dst.get_unchecked_mut(g * stride) = e;
            *dst.get_unchecked_mut(g * stride + 1) = o;
        }
    }
}

/// The int8 staging buffer of [`fill_column_any`]: a column of up to [`MAX_K`] values plus
/// the slack its word copies and padding write past the end.
type Stage = [i8; MAX_K + 4];

/// The taps of one im2col column, any geometry: padding taps get the zero point `zp`.
fn fill_taps_any(w: &Window, input: &[i8], zp: i8, b: usize, in_y0: isize, in_x0: isize, stage: &mut Stage) {
    let in_c = w.in_c;
    let mut i = 0;
    for fy in 0..w.filter_h {
        let iy = in_y0 + (w.dilation_h * fy) as isize;
        for fx in 0..w.filter_w {
            let ix = in_x0 + (w.dilation_w * fx) as isize;
            let d = &mut stage[i..i + in_c];
            if iy >= 0 && iy < w.in_h as isize && ix >= 0 && ix < w.in_w as isize {
                let base = ((b * w.in_h + iy as usize) * w.in_w + ix as usize) * in_c;
                d.copy_from_slice(&input[base..base + in_c]);
            } else {
                d.fill(zp);
            }
            i += in_c;
        }
    }
}

// ---------------------------------------------------------------------------------------
// CONV_2D.

/// CONV_2D; same contract as [`super::reference::conv2d`].
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    w: &Window,
    input: &[i8],
    input_offset: i32,
    filter: &[i8],
    filter_in_c: usize,
    bias: Option<I32Le<'_>>,
    quant: QuantTable<'_>,
    stage: OutputStage,
    output: &mut [i8],
) {
    let k = w.filter_h * w.filter_w * w.in_c;
    let groups = k.div_ceil(4);
    let supported = filter_in_c == w.in_c
        && k > 0
        && w.out_c > 0
        && groups * 4 <= MAX_K
        && (-32640..=32640).contains(&input_offset)
        && (k % 4 == 0 || w.out_c * groups * 4 <= PAD_FILTER_BYTES)
        // Without `in_c % 4 == 0` the im2col pads with the zero point as an int8 byte (an
        // offset of -128, zero point 128, is not an int8 model's but the kernels take it).
        && (w.in_c % 4 == 0 || (-128..=127).contains(&-input_offset));
    if !supported {
        return portable::conv2d(w, input, input_offset, filter, filter_in_c, bias, quant, stage, output);
    }
    let acc_bound = k as u64 * 128 * (128 + input_offset.unsigned_abs() as u64);
    let lq = LayerQ::with_fixups(bias, quant, stage, w.out_c, acc_bound);
    if k % 4 == 0 {
        conv_dispatch(w, input, input_offset, &filter[..w.out_c * k], k, &lq, output);
    } else {
        // Zero-pad each filter row to a multiple of 4 (the im2col column is padded with
        // zeros after the offset, so the extra products are 0).
        let kp = groups * 4;
        let mut padded = [0i8; PAD_FILTER_BYTES];
        for (d, s) in padded.chunks_exact_mut(kp).zip(filter.chunks_exact(k)).take(w.out_c) {
            d[..k].copy_from_slice(s);
        }
        conv_dispatch(w, input, input_offset, &padded[..w.out_c * kp], kp, &lq, output);
    }
    for ch in lq.fixups() {
        conv_channel_exact(w, input, input_offset, filter, ch, bias, quant, stage, output);
    }
}

/// Most output channels [`conv_pointwise_k8`] takes (its table is on the stack).
const K8_MAX_C: usize = 64;

/// One output channel of [`conv_pointwise_k8`]; the layout is part of its `asm!`.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct K8Chan {
    /// The eight filter values widened, in the lane order of `SXTB16` on the input words.
    w: [u32; 4],
    /// Bias plus `input_offset * sum(w)`: the input is widened without its offset.
    bias: i32,
    mult: i32,
    e: i32,
    hb: i32,
}

/// 1x1 CONV_2D with `K = 8` in [`Mode::FastSat`] (MobileNet's first pointwise layer), pixel
/// stationary: each pixel's eight inputs are widened once into four registers, then every
/// channel is one `LDM` of its widened filter and bias, four `SMLAD`s and the requantization
/// (15 instructions per 8 MACs). The 2x2 blocked kernel spends more on each block than on its
/// 32 MACs at this depth.
#[inline(never)]
fn conv_pointwise_k8(npix: usize, input: &[i8], input_offset: i32, filter: &[i8], lq: &LayerQ<'_>, output: &mut [i8]) {
    let oc = lq_out_c(filter, 8);
    assert!(oc >= 1 && oc <= K8_MAX_C && input.len() >= 8 * npix && output.len() >= oc * npix && npix >= 1);
    let mut table = [K8Chan::default(); K8_MAX_C];
    let table = &mut table[..oc];
    let mut q = [ChanQ::default(); K8_MAX_C];
    for (ch, (t, row)) in table.iter_mut().zip(filter.chunks_exact(8)).enumerate() {
        let sum: i32 = row.iter().map(|&v| v as i32).sum();
        lq.fill(ch, input_offset.wrapping_mul(sum), &mut q[..1]);
        let (a, b) = (word(&row[..4]), word(&row[4..]));
        *t = K8Chan {
            w: [sxtb16(a), sxtb16_ror8(a), sxtb16(b), sxtb16_ror8(b)],
            bias: q[0].bias,
            mult: q[0].mult,
            e: q[0].shift,
            hb: q[0].hb,
        };
    }
    #[cfg(mcubench_dsp)]
    // SAFETY: reads `8 * npix` input bytes, `oc` table entries per pixel, and writes
    // `oc * npix` output bytes, all in bounds by the assert; r6/r7 and the table pointer are
    // pushed and popped, so the stack is balanced.
    unsafe {
        super::simd::dsp_asm!(
            "push {{r6, r7}}",
            "push {{r11}}",
            "2:",
            "ldr r2, [r0], #4",
            "ldr r4, [r0], #4",
            "sxtb16 r3, r2, ror #8",
            "sxtb16 r2, r2",
            "sxtb16 r5, r4, ror #8",
            "sxtb16 r4, r4",
            "ldr r11, [sp]",
            "3:",
            "ldm r11!, {{r6, r7, r8, r9, r10}}",
            "smlad r10, r2, r6, r10",
            "smlad r10, r3, r7, r10",
            "smlad r10, r4, r8, r10",
            "smlad r10, r5, r9, r10",
            "ldm r11!, {{r6, r7, r8}}",
            requant_asm!("r10", "r10", "r6", "r8", "r7", "r9", "r9"),
            "strb r9, [r1], #1",
            "cmp r11, r12",
            "bne 3b",
            "cmp r1, lr",
            "bne 2b",
            "pop {{r11}}",
            "pop {{r6, r7}}",
            inout("r0") input.as_ptr() => _,
            inout("r1") output.as_mut_ptr() => _,
            inout("r11") table.as_ptr() => _,
            in("r12") table.as_ptr().add(oc),
            in("lr") output.as_mut_ptr().add(oc * npix),
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
        );
    }
    #[cfg(not(mcubench_dsp))]
    for (px, out) in input.chunks_exact(8).zip(output.chunks_exact_mut(oc)).take(npix) {
        let (a, b) = (word(&px[..4]), word(&px[4..]));
        let x = [sxtb16(a), sxtb16_ror8(a), sxtb16(b), sxtb16_ror8(b)];
        for (o, t) in out.iter_mut().zip(table.iter()) {
            let acc = x.iter().zip(t.w).fold(t.bias, |acc, (&x, w)| smlad(x, w, acc));
            *o = ssat8(requant_core(acc, t.mult, t.hb, t.e)) as i8;
        }
    }
}

/// Output channels of a filter whose rows are `row` bytes.
fn lq_out_c(filter: &[i8], row: usize) -> usize {
    filter.len() / row
}

/// Output channel `ch` of CONV_2D with the reference arithmetic (the fixups of
/// [`LayerQ::with_fixups`]).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn conv_channel_exact(
    w: &Window,
    input: &[i8],
    input_offset: i32,
    filter: &[i8],
    ch: usize,
    bias: Option<I32Le<'_>>,
    quant: QuantTable<'_>,
    stage: OutputStage,
    output: &mut [i8],
) {
    for b in 0..w.batches {
        for oy in 0..w.out_h {
            for ox in 0..w.out_w {
                let v = super::reference::conv2d_output(w, input, input_offset, filter, w.in_c, bias, quant, stage, [b, oy, ox, ch]);
                output[((b * w.out_h + oy) * w.out_w + ox) * w.out_c + ch] = v;
            }
        }
    }
}

fn conv_dispatch(w: &Window, input: &[i8], input_offset: i32, filter: &[i8], row: usize, lq: &LayerQ<'_>, output: &mut [i8]) {
    let pointwise = (w.filter_h, w.filter_w, w.stride_h, w.stride_w, w.pad_h, w.pad_w) == (1, 1, 1, 1, 0, 0)
        && (w.in_h, w.in_w) == (w.out_h, w.out_w);
    if lq.mode == Mode::FastSat && pointwise && w.in_c == 8 && row == 8 && (1..=K8_MAX_C).contains(&w.out_c) {
        let npix = w.batches * w.out_h * w.out_w;
        return conv_pointwise_k8(npix, &input[..8 * npix], input_offset, &filter[..8 * w.out_c], lq, &mut output[..npix * w.out_c]);
    }
    match lq.mode {
        Mode::FastSat => conv_core::<FAST_SAT>(w, input, input_offset, filter, row, lq, output),
        Mode::FastSatMask => conv_core::<FAST_SAT_MASK>(w, input, input_offset, filter, row, lq, output),
        Mode::FastClamp => conv_core::<FAST_CLAMP>(w, input, input_offset, filter, row, lq, output),
        Mode::Exact => conv_core::<EXACT>(w, input, input_offset, filter, row, lq, output),
    }
}

/// `filter` rows are `row` bytes apart (`row` a multiple of 4, at least `K`).
fn conv_core<const M: u8>(w: &Window, input: &[i8], input_offset: i32, filter: &[i8], row: usize, lq: &LayerQ<'_>, output: &mut [i8]) {
    let groups = row / 4;
    let oc = w.out_c;
    let npix = w.batches * w.out_h * w.out_w;
    let output = &mut output[..npix * oc];
    let off2 = dup16(input_offset);
    let c4 = w.in_c % 4 == 0;
    let mut buf = [0u32; MAX_K / 2 * 2];
    let mut stage_buf: Stage = [0; MAX_K + 4];
    let mut table = [ChanQ::default(); CH_CHUNK];
    let st = lq.stage;
    // 1x1, stride 1, no padding: output pixel `p`'s column is input pixel `p`, as is.
    let pointwise = c4
        && (w.filter_h, w.filter_w, w.stride_h, w.stride_w, w.pad_h, w.pad_w) == (1, 1, 1, 1, 0, 0)
        && (w.in_h, w.in_w) == (w.out_h, w.out_w);
    let fill = |p: usize, dst: &mut [u32], stride: usize, stage_buf: &mut Stage| {
        if pointwise {
            let src = &input[p * w.in_c..(p + 1) * w.in_c];
            match stride {
                4 => widen_run::<4>(src, groups, off2, dst),
                _ => widen_run::<2>(src, groups, off2, dst),
            }
            return;
        }
        let ox = p % w.out_w;
        let t = p / w.out_w;
        let (oy, b) = (t % w.out_h, t / w.out_h);
        if c4 {
            fill_column_c4(w, input, off2, b, oy, ox, dst, stride);
        } else {
            fill_column_any(w, input, input_offset, b, oy, ox, dst, stride, stage_buf);
        }
    };
    // In the fast mode the filter rows of a chunk are widened once (see `WIDE_FILTER_WORDS`),
    // so a chunk holds as many channels as that buffer does.
    let wide = M == FAST_SAT;
    let mut wbuf = [0u32; WIDE_FILTER_WORDS];
    let chunk = if wide { CH_CHUNK.min(WIDE_FILTER_WORDS / (row / 2)) & !1 } else { CH_CHUNK };
    let mut c0 = 0;
    while c0 < oc {
        let nc = chunk.min(oc - c0);
        let table = &mut table[..nc];
        lq.fill(c0, 0, table);
        let frows = &filter[c0 * row..(c0 + nc) * row];
        if wide && nc >= 2 {
            widen_filter_pairs(frows, row, nc / 2, &mut wbuf);
        }
        let mut p = 0;
        while p + 2 <= npix {
            let xb = &mut buf[..groups * 4];
            fill(p, xb, 4, &mut stage_buf);
            fill(p + 1, &mut xb[2..], 4, &mut stage_buf);
            let (o0, o1) = output[p * oc + c0..].split_at_mut(oc);
            let (o0, o1) = (&mut o0[..nc], &mut o1[..nc]);
            let mut c = 0;
            if wide && nc >= 2 {
                conv_row_2x2_wide(xb, groups, &wbuf, table, o0, o1, nc / 2);
                c = nc & !1;
            }
            while c + 2 <= nc {
                let (q0, q1) = (&table[c], &table[c + 1]);
                let mut acc = [q0.bias, q1.bias, q0.bias, q1.bias];
                let f = &frows[c * row..(c + 2) * row];
                mac_2x2(xb, &f[..row], &f[row..], groups, &mut acc);
                o0[c] = requant::<M>(acc[0], q0, &st);
                o0[c + 1] = requant::<M>(acc[1], q1, &st);
                o1[c] = requant::<M>(acc[2], q0, &st);
                o1[c + 1] = requant::<M>(acc[3], q1, &st);
                c += 2;
            }
            if c < nc {
                let q0 = &table[c];
                let mut acc = [q0.bias, q0.bias, q0.bias, q0.bias];
                let f = &frows[c * row..(c + 1) * row];
                mac_2x2(xb, f, f, groups, &mut acc);
                o0[c] = requant::<M>(acc[0], q0, &st);
                o1[c] = requant::<M>(acc[2], q0, &st);
            }
            p += 2;
        }
        if p < npix {
            let xb = &mut buf[..groups * 2];
            fill(p, xb, 2, &mut stage_buf);
            let o0 = &mut output[p * oc + c0..p * oc + c0 + nc];
            let mut c = 0;
            while c < nc {
                let c1 = if c + 1 < nc { c + 1 } else { c };
                let (q0, q1) = (&table[c], &table[c1]);
                let mut acc = [q0.bias, q1.bias];
                mac_1x2(xb, &frows[c * row..(c + 1) * row], &frows[c1 * row..(c1 + 1) * row], groups, &mut acc);
                o0[c] = requant::<M>(acc[0], q0, &st);
                o0[c1] = requant::<M>(acc[1], q1, &st);
                c += 2;
            }
        }
        c0 += nc;
    }
}

// ---------------------------------------------------------------------------------------
// FULLY_CONNECTED.

/// FULLY_CONNECTED; same contract as [`super::reference::fully_connected`].
#[allow(clippy::too_many_arguments)]
pub fn fully_connected(
    input: &[i8],
    input_offset: i32,
    filter: &[i8],
    filter_offset: i32,
    bias: Option<I32Le<'_>>,
    quant: QuantTable<'_>,
    stage: OutputStage,
    batches: usize,
    accum_depth: usize,
    out_depth: usize,
    output: &mut [i8],
) {
    let groups = accum_depth / 4;
    let supported = groups >= 1
        && accum_depth <= MAX_K
        && out_depth > 0
        && (-32640..=32640).contains(&input_offset)
        && (-32640..=32640).contains(&filter_offset);
    if !supported {
        return portable::fully_connected(
            input, input_offset, filter, filter_offset, bias, quant, stage, batches, accum_depth, out_depth, output,
        );
    }
    let acc_bound = accum_depth as u64 * (128 + filter_offset.unsigned_abs() as u64) * (128 + input_offset.unsigned_abs() as u64);
    let lq = LayerQ::new(bias, quant, stage, out_depth, acc_bound);
    match lq.mode {
        Mode::FastSat => fc_core::<FAST_SAT>(input, input_offset, filter, filter_offset, &lq, batches, accum_depth, out_depth, output),
        Mode::FastSatMask => fc_core::<FAST_SAT_MASK>(input, input_offset, filter, filter_offset, &lq, batches, accum_depth, out_depth, output),
        Mode::FastClamp => fc_core::<FAST_CLAMP>(input, input_offset, filter, filter_offset, &lq, batches, accum_depth, out_depth, output),
        Mode::Exact => fc_core::<EXACT>(input, input_offset, filter, filter_offset, &lq, batches, accum_depth, out_depth, output),
    }
}

#[allow(clippy::too_many_arguments)]
fn fc_core<const M: u8>(
    input: &[i8],
    input_offset: i32,
    filter: &[i8],
    filter_offset: i32,
    lq: &LayerQ<'_>,
    batches: usize,
    depth: usize,
    out_depth: usize,
    output: &mut [i8],
) {
    let groups = depth / 4;
    let main = groups * 4;
    let off2 = dup16(input_offset);
    let mut buf = [0u32; MAX_K / 2];
    let mut table = [ChanQ::default(); CH_CHUNK];
    let st = lq.stage;
    let filter = &filter[..out_depth * depth];
    for (in_row, out_row) in input.chunks_exact(depth).zip(output.chunks_exact_mut(out_depth)).take(batches) {
        let xb = &mut buf[..groups * 2];
        for (s, d) in in_row.chunks_exact(4).zip(xb.chunks_exact_mut(2)) {
            let (e, o) = widen(off2, word(s));
            d[0] = e;
            d[1] = o;
        }
        let tail = &in_row[main..];
        // sum(f + fo)(x + io) = sum f (x + io) + fo * sum(x + io)
        let sum_x = in_row.iter().fold(0i32, |a, &v| a.wrapping_add(v as i32 + input_offset));
        let extra = filter_offset.wrapping_mul(sum_x);
        let mut c0 = 0;
        while c0 < out_depth {
            let nc = CH_CHUNK.min(out_depth - c0);
            let table = &mut table[..nc];
            lq.fill(c0, extra, table);
            let mut c = 0;
            while c < nc {
                let c1 = if c + 1 < nc { c + 1 } else { c };
                let (q0, q1) = (&table[c], &table[c1]);
                let r0 = &filter[(c0 + c) * depth..(c0 + c + 1) * depth];
                let r1 = &filter[(c0 + c1) * depth..(c0 + c1 + 1) * depth];
                let mut acc = [q0.bias, q1.bias];
                mac_1x2(xb, r0, r1, groups, &mut acc);
                for ((&x, &a), &b) in tail.iter().zip(&r0[main..]).zip(&r1[main..]) {
                    let x = x as i32 + input_offset;
                    acc[0] = acc[0].wrapping_add(a as i32 * x);
                    acc[1] = acc[1].wrapping_add(b as i32 * x);
                }
                out_row[c0 + c] = requant::<M>(acc[0], q0, &st);
                out_row[c0 + c1] = requant::<M>(acc[1], q1, &st);
                c += 2;
            }
            c0 += nc;
        }
    }
}

// ---------------------------------------------------------------------------------------
// DEPTHWISE_CONV_2D.

/// DEPTHWISE_CONV_2D; same contract as [`super::reference::depthwise_conv2d`].
///
/// NHWC keeps four channels in one word: per filter tap, one `LDR` of input and one of
/// filter, widened with `SXTAB16` (adding the input offset) / `SXTB16`, feed four
/// single MACs (`SMLABB`/`SMLATT` on the even and odd lanes). Padding taps are skipped, as in
/// the reference, so no offset correction is needed.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d(
    w: &Window,
    depth_multiplier: usize,
    input: &[i8],
    input_offset: i32,
    filter: &[i8],
    bias: Option<I32Le<'_>>,
    quant: QuantTable<'_>,
    stage: OutputStage,
    output: &mut [i8],
) {
    let c = w.in_c;
    let supported = depth_multiplier == 1
        && c > 0
        && w.out_c == c
        && (-32640..=32640).contains(&input_offset)
        && input.len() >= w.batches * w.in_h * w.in_w * c
        && filter.len() >= w.filter_h * w.filter_w * c
        && output.len() >= w.batches * w.out_h * w.out_w * c;
    if !supported {
        return portable::depthwise_conv2d(w, depth_multiplier, input, input_offset, filter, bias, quant, stage, output);
    }
    let acc_bound = (w.filter_h * w.filter_w) as u64 * 128 * (128 + input_offset.unsigned_abs() as u64);
    let lq = LayerQ::new(bias, quant, stage, c, acc_bound);
    match lq.mode {
        Mode::FastSat => dw_core::<FAST_SAT>(w, input, input_offset, filter, &lq, output),
        Mode::FastSatMask => dw_core::<FAST_SAT_MASK>(w, input, input_offset, filter, &lq, output),
        Mode::FastClamp => dw_core::<FAST_CLAMP>(w, input, input_offset, filter, &lq, output),
        Mode::Exact => dw_core::<EXACT>(w, input, input_offset, filter, &lq, output),
    }
}

/// Reads four bytes at `p` (any alignment).
///
/// # Safety
/// `p..p + 4` must be readable.
#[inline(always)]
unsafe fn rd4(p: *const i8) -> u32 {
    // SAFETY: by the caller.
    unsafe { core::ptr::read_unaligned(p as *const u32) }
}

/// Bytes of stack for the three zero-point-padded input rows of [`dw_strip_3x3`].
const DW_STRIP_BYTES: usize = 4096;

fn dw_core<const M: u8>(w: &Window, input: &[i8], input_offset: i32, filter: &[i8], lq: &LayerQ<'_>, output: &mut [i8]) {
    use super::simd::{smlabb, smlatt, sxtb16, sxtb16_ror8};
    let c = w.in_c;
    let strip_width = (w.out_w - 1) * w.stride_w + 3;
    if w.filter_h == 3
        && w.filter_w == 3
        && w.dilation_h == 1
        && w.dilation_w == 1
        && (-128..=127).contains(&-input_offset)
        && 3 * strip_width * c <= DW_STRIP_BYTES
    {
        let stride = w.stride_h;
        if M == FAST_SAT
            && c % 4 == 0
            && (stride == 1 || stride == 2)
            && w.stride_w == stride
            // Narrower rows pay more per-channel overhead than the strip kernel (stride 1,
            // 3x3x256: 175k instructions against 136k; stride 2, 6x6x64: 130k against 115k).
            && (if stride == 1 { 4 } else { 12 }..=DW_PLANAR_MAX_W).contains(&w.out_w)
            && 3 * c.min(DW_PLANAR_MAX_C) * dw_planar_width(w.out_w, stride) * 2 <= DW_PLANAR_BYTES
        {
            return match stride {
                1 => dw_planar_3x3::<1>(w, input, input_offset, filter, lq, output),
                _ => dw_planar_3x3::<2>(w, input, input_offset, filter, lq, output),
            };
        }
        if M == FAST_SAT && c % 4 == 0 && c <= DW_MAX_C {
            return dw_strip_3x3_fastsat(w, input, input_offset, filter, lq, output);
        }
        return dw_strip_3x3::<M>(w, input, input_offset, filter, lq, output);
    }
    let off2 = dup16(input_offset);
    let st = lq.stage;
    let mut table = [ChanQ::default(); CH_CHUNK];
    let row_stride = w.in_w * c;
    let mut c0 = 0;
    while c0 < c {
        let nc = CH_CHUNK.min(c - c0);
        let table = &mut table[..nc];
        lq.fill(c0, 0, table);
        for b in 0..w.batches {
            for oy in 0..w.out_h {
                let in_y0 = (oy * w.stride_h) as isize - w.pad_h as isize;
                let (fy0, fy1) = taps(in_y0, w.filter_h, w.dilation_h, w.in_h);
                for ox in 0..w.out_w {
                    let in_x0 = (ox * w.stride_w) as isize - w.pad_w as isize;
                    let (fx0, fx1) = taps(in_x0, w.filter_w, w.dilation_w, w.in_w);
                    let (fy0, fy1) = if fx0 < fx1 { (fy0, fy1) } else { (0, 0) };
                    let out_base = ((b * w.out_h + oy) * w.out_w + ox) * c + c0;
                    let out_px = &mut output[out_base..out_base + nc];
                    // Pointers of the first valid tap (channel c0) in input and filter. All
                    // taps in fy0..fy1 x fx0..fx1 are inside the image (see `taps`), so every
                    // read below stays within `input` / `filter` (lengths checked by the
                    // caller).
                    let iy0 = (in_y0 + (w.dilation_h * fy0) as isize) as usize;
                    let ix0 = (in_x0 + (w.dilation_w * fx0) as isize) as usize;
                    let x_first = ((b * w.in_h + iy0) * w.in_w + ix0) * c + c0;
                    let f_first = (fy0 * w.filter_w + fx0) * c + c0;
                    let x_dy = w.dilation_h * row_stride;
                    let x_dx = w.dilation_w * c;
                    let f_dy = w.filter_w * c;
                    let full3x3 = w.filter_h == 3
                        && w.filter_w == 3
                        && w.dilation_w == 1
                        && w.dilation_h == 1
                        && fy1 - fy0 == 3
                        && fx1 - fx0 == 3;
                    let mut k = 0;
                    while k + 4 <= nc {
                        let [q0, q1, q2, q3] = <&[ChanQ; 4]>::try_from(&table[k..k + 4]).unwrap();
                        let (mut a0, mut a1, mut a2, mut a3) = (q0.bias, q1.bias, q2.bias, q3.bias);
                        if full3x3 {
                            let mut acc = [a0, a1, a2, a3];
                            // SAFETY: all nine taps are inside the image (see `taps`) and
                            // k + 4 <= nc keeps the 4-byte reads in the chunk.
                            unsafe {
                                dw_taps_3x3(input.as_ptr().add(x_first + k), filter.as_ptr().add(f_first + k), c, c, x_dy, off2, &mut acc);
                            }
                            [a0, a1, a2, a3] = acc;
                        } else if fy0 < fy1 {
                            // SAFETY: see above; k + 4 <= nc keeps the 4-byte reads in the chunk.
                            unsafe {
                                let mut xr = input.as_ptr().add(x_first + k);
                                let mut fr = filter.as_ptr().add(f_first + k);
                                for _ in fy0..fy1 {
                                    let (mut xp, mut fp) = (xr, fr);
                                    for _ in fx0..fx1 {
                                        let xw = rd4(xp);
                                        let fw = rd4(fp);
                                        let (xe, xo) = widen(off2, xw);
                                        let (fe, fo) = (sxtb16(fw), sxtb16_ror8(fw));
                                        a0 = smlabb(xe, fe, a0);
                                        a2 = smlatt(xe, fe, a2);
                                        a1 = smlabb(xo, fo, a1);
                                        a3 = smlatt(xo, fo, a3);
                                        xp = xp.add(x_dx);
                                        fp = fp.add(c);
                                    }
                                    xr = xr.add(x_dy);
                                    fr = fr.add(f_dy);
                                }
                            }
                        }
                        let o: &mut [i8; 4] = (&mut out_px[k..k + 4]).try_into().unwrap();
                        *o = [requant::<M>(a0, q0, &st), requant::<M>(a1, q1, &st), requant::<M>(a2, q2, &st), requant::<M>(a3, q3, &st)];
                        k += 4;
                    }
                    while k < nc {
                        let q = &table[k];
                        let mut a = q.bias;
                        for fy in fy0..fy1 {
                            for fx in fx0..fx1 {
                                let xi = x_first + (fy - fy0) * x_dy + (fx - fx0) * x_dx + k;
                                let fi = f_first + (fy - fy0) * f_dy + (fx - fx0) * c + k;
                                a = a.wrapping_add((filter[fi] as i32).wrapping_mul(input[xi] as i32 + input_offset));
                            }
                        }
                        out_px[k] = requant::<M>(a, q, &st);
                        k += 1;
                    }
                }
            }
        }
        c0 += nc;
    }
}

/// Requantization of one depthwise channel in [`Mode::FastSat`] (the `asm!` of
/// [`dw_pixel_fastsat`] loads it with one `LDM`).
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct DwQ {
    bias: i32,
    mult: i32,
    e: i32,
    hb: i32,
}

/// Most channels [`dw_strip_3x3_fastsat`] handles (its requantization table is on the stack).
const DW_MAX_C: usize = 256;

/// The nine taps of a 3x3 depthwise window for four channels, as one asm template piece
/// (used by [`dw_pixel_fastsat`] and [`dw_taps_3x3`]). Registers: r0 the input at the window's
/// top-left tap, r1 the filter, r2 `c` (the step to the next tap in a row, and a third of the
/// filter's row step), r3 the input's row step, r4 the input offset in both halves; r8..r11 the
/// four accumulators (channels 0 and 2 from the even bytes, 1 and 3 from the odd ones); r5, r6,
/// r7 and r12 are clobbered. r0 and r1 end two rows down.
///
/// Per tap: two loads, the input widened with its offset added (`SXTAB16`), the filter widened
/// (`SXTB16`), and four 16x16 MACs.
#[cfg_attr(not(mcubench_dsp), allow(unused_macros))]
macro_rules! dw_taps_3x3_asm {
    () => {
        concat!(
            dw_taps_3x3_asm!(row),
            dw_taps_3x3_asm!(next_row),
            dw_taps_3x3_asm!(row),
            dw_taps_3x3_asm!(next_row),
            dw_taps_3x3_asm!(row),
        )
    };
    // Three taps, `c` bytes apart in both input and filter.
    (row) => {
        concat!(dw_taps_3x3_asm!(tap ""), dw_taps_3x3_asm!(tap ", r2"), dw_taps_3x3_asm!(tap ", r2, lsl #1"))
    };
    // Input one row down; filter one row (3 c) down.
    (next_row) => {
        "add r0, r0, r3\nadd r1, r1, r2, lsl #1\nadd r1, r1, r2\n"
    };
    (tap $offset:literal) => {
        concat!(
            "ldr r5, [r0", $offset, "]\n",
            "ldr r12, [r1", $offset, "]\n",
            "sxtab16 r6, r4, r5\n",
            "sxtb16 r7, r12\n",
            "smlabb r8, r6, r7, r8\n",
            "smlatt r10, r6, r7, r10\n",
            "sxtab16 r6, r4, r5, ror #8\n",
            "sxtb16 r7, r12, ror #8\n",
            "smlabb r9, r6, r7, r9\n",
            "smlatt r11, r6, r7, r11\n",
        )
    };
}

/// One output pixel of a 3x3 depthwise convolution in [`Mode::FastSat`], all `4 * groups`
/// channels: per group of four the nine taps of [`dw_taps_3x3`] from accumulators at 0,
/// then bias, requantization ([`requant_core`] + `SSAT`), the four bytes packed into one
/// word and stored, all in one `asm!` loop on DSP targets. `x` is the window's top-left
/// tap in a zero-point-padded strip (taps `c` bytes apart, rows `row` apart), `f` the
/// filter, `table` one entry per channel.
///
/// # Safety
/// The nine taps of every group must be readable at `x` / `f` (as for [`dw_taps_3x3`]),
/// `table` must hold `4 * groups` entries and `out` must take `4 * groups` bytes.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn dw_pixel_fastsat(x: *const i8, f: *const i8, c: usize, row: usize, off2: u32, table: *const DwQ, out: *mut i8, groups: usize) {
    #[cfg(mcubench_dsp)]
    // SAFETY: by the caller; r6/r7 and the two stack slots are pushed and popped, so the
    // stack is balanced.
    unsafe {
        super::simd::dsp_asm!(
                "push {{r5, r12}}",
                "push {{r6, r7}}",
                "2:",
                "mov r8, #0",
                "mov r9, #0",
                "mov r10, #0",
                "mov r11, #0",
                dw_taps_3x3_asm!(),
                "sub r0, r0, r3, lsl #1",
                "add r0, r0, #4",
                "sub r1, r1, r2, lsl #2",
                "sub r1, r1, r2, lsl #1",
                "add r1, r1, #4",
                "ldm lr!, {{r5, r6, r7, r12}}",
                "add r8, r8, r5",
                requant_asm!("r8", "r8", "r6", "r12", "r7", "r5", "r8"),
                "ldm lr!, {{r5, r6, r7, r12}}",
                "add r9, r9, r5",
                requant_asm!("r9", "r9", "r6", "r12", "r7", "r5", "r9"),
                "ldm lr!, {{r5, r6, r7, r12}}",
                "add r10, r10, r5",
                requant_asm!("r10", "r10", "r6", "r12", "r7", "r5", "r10"),
                "ldm lr!, {{r5, r6, r7, r12}}",
                "add r11, r11, r5",
                requant_asm!("r11", "r11", "r6", "r12", "r7", "r5", "r11"),
                "bfi r8, r9, #8, #8",
                "bfi r8, r10, #16, #8",
                "bfi r8, r11, #24, #8",
                "ldr r5, [sp, #8]",
                "str r8, [r5], #4",
                "str r5, [sp, #8]",
                "ldr r5, [sp, #12]",
                "cmp lr, r5",
                "bne 2b",
                "pop {{r6, r7}}",
                "add sp, sp, #8",
            inout("r0") x => _,
            inout("r1") f => _,
            in("r2") c,
            in("r3") row,
            in("r4") off2,
            inout("r5") out => _,
            inout("r12") table.add(4 * groups) => _,
            inout("lr") table => _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
        );
    }
    #[cfg(not(mcubench_dsp))]
    // SAFETY: by the caller.
    unsafe {
        for g in 0..groups {
            let mut acc = [0i32; 4];
            dw_taps_3x3(x.add(4 * g), f.add(4 * g), c, c, row, off2, &mut acc);
            for (i, a) in acc.into_iter().enumerate() {
                let q = &*table.add(4 * g + i);
                *out.add(4 * g + i) = ssat8(requant_core(a.wrapping_add(q.bias), q.mult, q.hb, q.e)) as i8;
            }
        }
    }
}

/// [`dw_strip_3x3`] for [`Mode::FastSat`], `c % 4 == 0`, `c <= DW_MAX_C`: the strip rows are
/// copied as whole runs, the requantization table covers every channel, and each output
/// pixel is one [`dw_pixel_fastsat`].
#[inline(never)]
fn dw_strip_3x3_fastsat(w: &Window, input: &[i8], input_offset: i32, filter: &[i8], lq: &LayerQ<'_>, output: &mut [i8]) {
    let c = w.in_c;
    let strip_width = (w.out_w - 1) * w.stride_w + 3;
    let row = strip_width * c;
    let zp = (-input_offset) as i8;
    let off2 = dup16(input_offset);
    let mut strip = [0i8; DW_STRIP_BYTES];
    let strip = &mut strip[..3 * row];
    let filter = &filter[..9 * c];
    let mut table = [DwQ::default(); DW_MAX_C];
    let table = &mut table[..c];
    for (ch, t) in table.iter_mut().enumerate() {
        let q = lq.chan(ch, 0);
        *t = DwQ { bias: q.bias, mult: q.mult, e: q.shift, hb: q.hb };
    }
    // Input columns [ix0, ix1) land in strip columns [ix0 + pad_w, ix1 + pad_w).
    let (j0, j1) = (w.pad_w.min(strip_width), (w.pad_w + w.in_w).min(strip_width));
    for b in 0..w.batches {
        for oy in 0..w.out_h {
            let iy0 = (oy * w.stride_h) as isize - w.pad_h as isize;
            for (r, dst) in strip.chunks_exact_mut(row).enumerate() {
                let iy = iy0 + r as isize;
                if iy < 0 || iy >= w.in_h as isize || j0 >= j1 {
                    dst.fill(zp);
                    continue;
                }
                let base = (b * w.in_h + iy as usize) * w.in_w * c;
                dst[..j0 * c].fill(zp);
                dst[j0 * c..j1 * c].copy_from_slice(&input[base..base + (j1 - j0) * c]);
                dst[j1 * c..].fill(zp);
            }
            let out_row = ((b * w.out_h + oy) * w.out_w) * c;
            let out_row = &mut output[out_row..out_row + w.out_w * c];
            for (ox, out_px) in out_row.chunks_exact_mut(c).enumerate() {
                // SAFETY: the last strip byte read is at `2 * row + (ox * stride_w + 2) * c +
                // c - 1 < 3 * row`; the filter's at `9 * c - 1`; the table has `c` entries and
                // `out_px` `c` bytes.
                unsafe {
                    dw_pixel_fastsat(
                        strip.as_ptr().add(ox * w.stride_w * c),
                        filter.as_ptr(),
                        c,
                        row,
                        off2,
                        table.as_ptr(),
                        out_px.as_mut_ptr(),
                        c / 4,
                    );
                }
            }
        }
    }
}

/// Bytes of stack for the three channel-planar int16 input rows of [`dw_planar_3x3`]
/// (one chunk of at most `DW_PLANAR_MAX_C` channels).
const DW_PLANAR_BYTES: usize = 6144;
/// Channels [`dw_planar_3x3`] prepares at once (its planes and table are on the stack).
const DW_PLANAR_MAX_C: usize = 64;
/// Widest output row [`dw_planar_3x3`] takes (its int32 accumulator row is on the stack).
const DW_PLANAR_MAX_W: usize = 128;

/// One channel of [`dw_planar_3x3`]: its nine taps packed for `SMLAD`/`SMLAxy` and its
/// requantization. The layout is part of the `asm!` of [`dw_planar_channel`].
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct DwPlanarQ {
    /// `[w(r,0), w(r,1)]` for rows 0, 1, 2: the two left taps of each filter row.
    w01: [u32; 3],
    /// `[w(0,2), w(1,2)]`, the right taps of rows 0 and 1.
    w2_01: u32,
    /// `[w(2,2), 0]`.
    w2_2: u32,
    bias: i32,
    mult: i32,
    e: i32,
    hb: i32,
}

#[cfg(mcubench_dsp)]
/// Arguments of [`dw_planar_channel`]'s `asm!` (field offsets are part of it).
#[repr(C)]
struct DwPlanarJob {
    rows: [*const i16; 3],
    q: *const DwPlanarQ,
    acc: *mut i32,
    pairs: usize,
    out: *mut i8,
    c: usize,
    out_w: usize,
    stride: usize,
}

/// One channel of one output row of [`dw_planar_3x3`] at stride `S` (1 or 2): `rows` are the
/// channel's three offset-added int16 input rows (padding columns 0), `2 * pairs >= out_w`
/// outputs are accumulated two at a time into `acc` (per pair and filter row three word
/// loads of column pairs and 4 MACs for 6 MACs: `SMLAD` on the two left taps, `SMLAxy` on
/// the right one), then `out_w` of them are requantized and stored `c` bytes apart.
///
/// # Safety
/// Each row must hold `S * 2 * pairs + 2` values, `acc` take `2 * pairs` values and
/// `out + (out_w - 1) * c` be writable; `1 <= out_w <= 2 * pairs`.
#[inline(always)]
unsafe fn dw_planar_channel<const S: usize>(rows: [*const i16; 3], q: &DwPlanarQ, acc: *mut i32, pairs: usize, out: *mut i8, c: usize, out_w: usize) {
    #[cfg(mcubench_dsp)]
    {
        let job = DwPlanarJob { rows, q, acc, pairs, out, c, out_w, stride: S };
        // SAFETY: by the caller; r6/r7 and the job pointer are pushed and popped, so the
        // stack is balanced.
        unsafe {
            super::simd::dsp_asm!(
                "push {{r6, r7}}",
                "push {{r0}}",
                "ldr r3, [r0, #12]",
                "ldm r3, {{r4, r5, r6, r7, r8, r12}}",
                "ldr r11, [r0, #16]",
                "ldr lr, [r0, #20]",
                "ldr r3, [r0, #36]",
                "ldm r0, {{r0, r1, r2}}",
                "cmp r3, #1",
                "bne 6f",
                // Stride 1: output 0 reads columns 0..3, output 1 columns 1..4.
                "2:",
                "mov r9, r12",
                "mov r10, r12",
                "ldr r3, [r0], #4",
                "smlad r9, r3, r4, r9",
                "ldr r3, [r0, #-2]",
                "smlad r10, r3, r4, r10",
                "ldr r3, [r0]",
                "smlabb r9, r3, r7, r9",
                "smlatb r10, r3, r7, r10",
                "ldr r3, [r1], #4",
                "smlad r9, r3, r5, r9",
                "ldr r3, [r1, #-2]",
                "smlad r10, r3, r5, r10",
                "ldr r3, [r1]",
                "smlabt r9, r3, r7, r9",
                "smlatt r10, r3, r7, r10",
                "ldr r3, [r2], #4",
                "smlad r9, r3, r6, r9",
                "ldr r3, [r2, #-2]",
                "smlad r10, r3, r6, r10",
                "ldr r3, [r2]",
                "smlabb r9, r3, r8, r9",
                "smlatb r10, r3, r8, r10",
                "strd r9, r10, [r11], #8",
                "subs lr, lr, #1",
                "bne 2b",
                "b 7f",
                // Stride 2: output 0 reads columns 0..3, output 1 columns 2..5.
                "6:",
                "mov r9, r12",
                "mov r10, r12",
                "ldr r3, [r0], #8",
                "smlad r9, r3, r4, r9",
                "ldr r3, [r0, #-4]",
                "smlabb r9, r3, r7, r9",
                "smlad r10, r3, r4, r10",
                "ldr r3, [r0]",
                "smlabb r10, r3, r7, r10",
                "ldr r3, [r1], #8",
                "smlad r9, r3, r5, r9",
                "ldr r3, [r1, #-4]",
                "smlabt r9, r3, r7, r9",
                "smlad r10, r3, r5, r10",
                "ldr r3, [r1]",
                "smlabt r10, r3, r7, r10",
                "ldr r3, [r2], #8",
                "smlad r9, r3, r6, r9",
                "ldr r3, [r2, #-4]",
                "smlabb r9, r3, r8, r9",
                "smlad r10, r3, r6, r10",
                "ldr r3, [r2]",
                "smlabb r10, r3, r8, r10",
                "strd r9, r10, [r11], #8",
                "subs lr, lr, #1",
                "bne 6b",
                "7:",
                // Requantize: (mult, e, hb) -> r4, r5, r6; two outputs per iteration.
                "ldr r0, [sp]",
                "ldr r3, [r0, #12]",
                "add r3, r3, #24",
                "ldm r3, {{r4, r5, r6}}",
                "ldr r11, [r0, #16]",
                "ldr r1, [r0, #24]",
                "ldr r12, [r0, #28]",
                "ldr lr, [r0, #32]",
                "lsrs lr, lr, #1",
                "beq 4f",
                "3:",
                "ldrd r2, r3, [r11], #8",
                requant_asm!("r2", "r2", "r4", "r6", "r5", "r7", "r7"),
                requant_asm!("r3", "r3", "r4", "r6", "r5", "r8", "r8"),
                "strb r7, [r1]",
                "strb r8, [r1, r12]",
                "add r1, r1, r12, lsl #1",
                "subs lr, lr, #1",
                "bne 3b",
                "4:",
                "ldr r0, [sp]",
                "ldr lr, [r0, #32]",
                "tst lr, #1",
                "beq 5f",
                "ldr r2, [r11]",
                requant_asm!("r2", "r2", "r4", "r6", "r5", "r7", "r7"),
                "strb r7, [r1]",
                "5:",
                "pop {{r0}}",
                "pop {{r6, r7}}",
                inout("r0") &job as *const DwPlanarJob => _,
                out("r1") _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                out("r8") _,
                out("r9") _,
                out("r10") _,
                out("r11") _,
                out("r12") _,
                out("lr") _,
            );
        }
    }
    #[cfg(not(mcubench_dsp))]
    // SAFETY: by the caller.
    unsafe {
        let lo = |v: u32| v as u16 as i16 as i32;
        let hi = |v: u32| (v >> 16) as u16 as i16 as i32;
        for p in 0..2 * pairs {
            let mut a = q.bias;
            for (r, row) in rows.iter().enumerate() {
                let x = |j: usize| *row.add(S * p + j) as i32;
                let right = match r {
                    0 => lo(q.w2_01),
                    1 => hi(q.w2_01),
                    _ => lo(q.w2_2),
                };
                a = a
                    .wrapping_add(x(0) * lo(q.w01[r]))
                    .wrapping_add(x(1) * hi(q.w01[r]))
                    .wrapping_add(x(2) * right);
            }
            *acc.add(p) = a;
        }
        for p in 0..out_w {
            *out.add(p * c) = ssat8(requant_core(*acc.add(p), q.mult, q.hb, q.e)) as i8;
        }
    }
}

/// Channels `4g .. 4g + 4` of `n` input pixels (`src`, pixels `c` bytes apart) into four
/// int16 planes (`dst`, planes `pw` values apart), plus the input offset: one word load, two
/// `SXTAB16` and four `STRH` per pixel.
#[inline(always)]
fn transpose_group(src: &[i8], n: usize, c: usize, off2: u32, dst: &mut [i16], pw: usize) {
    assert!(n >= 1 && src.len() >= (n - 1) * c + 4 && dst.len() >= 3 * pw + n);
    #[cfg(mcubench_dsp)]
    // SAFETY: reads 4 bytes at `src + k * c` and writes `dst[k + i * pw]` for `k < n`,
    // `i < 4`, in bounds by the assert.
    unsafe {
        super::simd::dsp_asm!(
            "2:",
            "ldr {t}, [{s}]",
            "add {s}, {s}, {c}",
            "sxtab16 {e}, {off}, {t}",
            "sxtab16 {o}, {off}, {t}, ror #8",
            "strh {o}, [{p}, {pw1}]",
            "lsr {t}, {e}, #16",
            "strh {t}, [{p}, {pw2}]",
            "lsr {t}, {o}, #16",
            "strh {t}, [{p}, {pw3}]",
            "strh {e}, [{p}], #2",
            "subs {n}, {n}, #1",
            "bne 2b",
            s = inout(reg) src.as_ptr() => _,
            p = inout(reg) dst.as_mut_ptr() => _,
            n = inout(reg) n => _,
            c = in(reg) c,
            off = in(reg) off2,
            pw1 = in(reg) 2 * pw,
            pw2 = in(reg) 4 * pw,
            pw3 = in(reg) 6 * pw,
            t = out(reg) _,
            e = out(reg) _,
            o = out(reg) _,
            options(nostack)
        );
    }
    #[cfg(not(mcubench_dsp))]
    for k in 0..n {
        let (e, o) = widen(off2, word(&src[k * c..k * c + 4]));
        dst[k] = e as i16;
        dst[k + pw] = o as i16;
        dst[k + 2 * pw] = (e >> 16) as i16;
        dst[k + 3 * pw] = (o >> 16) as i16;
    }
}

/// Plane width of [`dw_planar_3x3`]: the `2 * pairs` outputs at stride `s` read columns
/// `0 .. s * 2 * pairs + 2` (the last pair's third load included).
fn dw_planar_width(out_w: usize, s: usize) -> usize {
    s * 2 * out_w.div_ceil(2) + 2
}

/// 3x3 DEPTHWISE_CONV_2D, stride `S` (1 or 2), dilation 1, in [`Mode::FastSat`], channel-planar: the
/// three input rows an output row reads are kept as int16 planes, one per channel
/// (`x + input_offset`, padding columns and rows 0), in a ring of three slots so every input
/// row is converted once. Each channel's taps stay in registers while its output row is
/// computed ([`dw_planar_channel`]). Needs `c % 4 == 0`,
/// `out_w <= DW_PLANAR_MAX_W` and the planes within `DW_PLANAR_BYTES`.
#[inline(never)]
fn dw_planar_3x3<const S: usize>(w: &Window, input: &[i8], input_offset: i32, filter: &[i8], lq: &LayerQ<'_>, output: &mut [i8]) {
    let c = w.in_c;
    let pairs = w.out_w.div_ceil(2);
    let pw = dw_planar_width(w.out_w, S);
    let mut planes = [0i16; DW_PLANAR_BYTES / 2];
    let mut acc = [0i32; DW_PLANAR_MAX_W + 1];
    let off2 = dup16(input_offset);
    let filter = &filter[..9 * c];
    let mut table = [DwPlanarQ::default(); DW_PLANAR_MAX_C];
    let pack = |a: i8, b: i8| (a as i16 as u16 as u32) | ((b as i16 as u16 as u32) << 16);
    // Input columns [0, in_w) land in plane columns [pad_w, pad_w + in_w) (clipped).
    let (j0, j1) = (w.pad_w.min(pw), (w.pad_w + w.in_w).min(pw));
    // Channel chunks keep the planes and the table small; each input value is still
    // converted once (the chunks split the channels).
    let mut c0 = 0;
    while c0 < c {
        let nc = DW_PLANAR_MAX_C.min(c - c0);
        let planes = &mut planes[..3 * nc * pw];
        planes.fill(0);
        let table = &mut table[..nc];
        for (i, t) in table.iter_mut().enumerate() {
            let ch = c0 + i;
            let f = |r: usize, k: usize| filter[(3 * r + k) * c + ch];
            let q = lq.chan(ch, 0);
            *t = DwPlanarQ {
                w01: [pack(f(0, 0), f(0, 1)), pack(f(1, 0), f(1, 1)), pack(f(2, 0), f(2, 1))],
                w2_01: pack(f(0, 2), f(1, 2)),
                w2_2: pack(f(2, 2), 0),
                bias: q.bias,
                mult: q.mult,
                e: q.shift,
                hb: q.hb,
            };
        }
        for b in 0..w.batches {
            // Which input row each ring slot holds (`None`: not filled for this batch yet).
            let mut held: [Option<isize>; 3] = [None; 3];
            for oy in 0..w.out_h {
                let iy0 = (S * oy) as isize - w.pad_h as isize;
                let mut slots = [0usize; 3];
                for (r, slot) in slots.iter_mut().enumerate() {
                    let iy = iy0 + r as isize;
                    let s = iy.rem_euclid(3) as usize;
                    *slot = s;
                    if held[s] == Some(iy) {
                        continue;
                    }
                    held[s] = Some(iy);
                    let dst = &mut planes[s * nc * pw..(s + 1) * nc * pw];
                    // Padding columns are never written, so they stay 0 from the start; a
                    // padding row clears the whole slot.
                    if iy < 0 || iy >= w.in_h as isize || j0 >= j1 {
                        dst.fill(0);
                        continue;
                    }
                    let row = &input[(b * w.in_h + iy as usize) * w.in_w * c..][..(j1 - j0) * c];
                    for g in 0..nc / 4 {
                        transpose_group(&row[c0 + 4 * g..], j1 - j0, c, off2, &mut dst[4 * g * pw + j0..], pw);
                    }
                }
                let out_row = ((b * w.out_h + oy) * w.out_w) * c;
                let out_row = &mut output[out_row..out_row + w.out_w * c];
                let mut rows = slots.map(|s| planes[s * nc * pw..].as_ptr());
                let mut out = out_row[c0..].as_mut_ptr();
                for q in table.iter() {
                    // SAFETY: channel `c0 + i`'s rows start at `(slot * nc + i) * pw` and hold
                    // `pw = S * 2 * pairs + 2` values (the last plane ends the slice); `acc` holds
                    // `DW_PLANAR_MAX_W + 1 >= 2 * pairs` values; the last byte written is
                    // `out_row[(out_w - 1) * c + c0 + i]`.
                    unsafe {
                        dw_planar_channel::<S>(rows, q, acc.as_mut_ptr(), pairs, out, c, w.out_w);
                        rows = rows.map(|r| r.add(pw));
                        out = out.add(1);
                    }
                }
            }
        }
        c0 += nc;
    }
}

/// 3x3 DEPTHWISE_CONV_2D (dilation 1) through a strip: for each output row, the three input
/// rows it reads are copied into a stack buffer with the padding columns and rows filled with
/// the input zero point, whose offset-added value is 0. Every window is then a full 3x3 one
/// (the unrolled [`dw_taps_3x3`]); a padding tap adds `0 * f`, exactly what skipping it adds.
/// Channel `ch` of strip column `j` is at `j * c + ch`, so taps are `c` bytes apart as in the
/// filter. Needs `-input_offset` in int8 and `3 * strip_width * c <= DW_STRIP_BYTES`.
#[inline(never)]
fn dw_strip_3x3<const M: u8>(w: &Window, input: &[i8], input_offset: i32, filter: &[i8], lq: &LayerQ<'_>, output: &mut [i8]) {
    let c = w.in_c;
    let strip_width = (w.out_w - 1) * w.stride_w + 3;
    let row = strip_width * c;
    let zp = (-input_offset) as i8;
    let off2 = dup16(input_offset);
    let st = lq.stage;
    let mut strip = [0i8; DW_STRIP_BYTES];
    let strip = &mut strip[..3 * row];
    let filter = &filter[..9 * c];
    let mut table = [ChanQ::default(); CH_CHUNK];
    let mut c0 = 0;
    while c0 < c {
        let nc = CH_CHUNK.min(c - c0);
        let table = &mut table[..nc];
        lq.fill(c0, 0, table);
        for b in 0..w.batches {
            for oy in 0..w.out_h {
                let iy0 = (oy * w.stride_h) as isize - w.pad_h as isize;
                for (r, dst_row) in strip.chunks_exact_mut(row).enumerate() {
                    let iy = iy0 + r as isize;
                    let row_ok = iy >= 0 && iy < w.in_h as isize;
                    for j in 0..strip_width {
                        let ix = j as isize - w.pad_w as isize;
                        let d = &mut dst_row[j * c + c0..j * c + c0 + nc];
                        if row_ok && ix >= 0 && ix < w.in_w as isize {
                            let base = ((b * w.in_h + iy as usize) * w.in_w + ix as usize) * c + c0;
                            d.copy_from_slice(&input[base..base + nc]);
                        } else {
                            d.fill(zp);
                        }
                    }
                }
                for ox in 0..w.out_w {
                    let xs = ox * w.stride_w * c + c0;
                    let out_base = ((b * w.out_h + oy) * w.out_w + ox) * c + c0;
                    let out_px = &mut output[out_base..out_base + nc];
                    let mut k = 0;
                    while k + 4 <= nc {
                        let q: &[ChanQ; 4] = (&table[k..k + 4]).try_into().unwrap();
                        let mut acc = [q[0].bias, q[1].bias, q[2].bias, q[3].bias];
                        // SAFETY: the last byte read is at `2 * row + (ox * stride_w + 2) * c +
                        // c0 + k + 3 < 3 * row` in the strip and `8 * c + c0 + k + 3 < 9 * c`
                        // in the filter (`c0 + k + 4 <= c`).
                        unsafe {
                            dw_taps_3x3(strip.as_ptr().add(xs + k), filter.as_ptr().add(c0 + k), c, c, row, off2, &mut acc);
                        }
                        let o: &mut [i8; 4] = (&mut out_px[k..k + 4]).try_into().unwrap();
                        *o = [
                            requant::<M>(acc[0], &q[0], &st),
                            requant::<M>(acc[1], &q[1], &st),
                            requant::<M>(acc[2], &q[2], &st),
                            requant::<M>(acc[3], &q[3], &st),
                        ];
                        k += 4;
                    }
                    while k < nc {
                        let q = &table[k];
                        let mut a = q.bias;
                        for r in 0..3 {
                            for t in 0..3 {
                                let x = strip[r * row + xs + t * c + k] as i32 + input_offset;
                                a = a.wrapping_add((filter[(r * 3 + t) * c + c0 + k] as i32).wrapping_mul(x));
                            }
                        }
                        out_px[k] = requant::<M>(a, q, &st);
                        k += 1;
                    }
                }
            }
        }
        c0 += nc;
    }
}

/// The nine taps of a 3x3 depthwise window for four channels, added to `acc`
/// (`[c0, c1, c2, c3]`). Filter taps are `c` bytes apart (rows `3 * c`); input taps are
/// `x_dx` bytes apart within a row and rows `x_dy` apart. On DSP targets one `asm!` block
/// (the compiler would spill the 16 live values), which needs `x_dx == c`.
///
/// # Safety
/// Four bytes at each of the nine input and filter tap addresses must be readable.
#[inline(always)]
#[allow(unused_variables)]
unsafe fn dw_taps_3x3(x: *const i8, f: *const i8, c: usize, x_dx: usize, x_dy: usize, off2: u32, acc: &mut [i32; 4]) {
    #[cfg(not(mcubench_dsp))]
    use super::simd::{smlabb, smlatt, sxtb16, sxtb16_ror8};
    let [mut a0, mut a1, mut a2, mut a3] = *acc;
    #[cfg(mcubench_dsp)]
    debug_assert_eq!(x_dx, c);
            #[cfg(mcubench_dsp)]
            // SAFETY: reads 4 bytes at the nine tap addresses, inside `input`
            // and `filter` as below; r6/r7 saved and restored.
            unsafe {
                super::simd::dsp_asm!(
                        "push {{r6, r7}}",
                        dw_taps_3x3_asm!(),
                        "pop {{r6, r7}}",
                    inout("r0") x => _,
                    inout("r1") f => _,
                    in("r2") c,
                    in("r3") x_dy,
                    in("r4") off2,
                    out("r5") _,
                    out("r12") _,
                    inout("r8") a0,
                    inout("r9") a1,
                    inout("r10") a2,
                    inout("r11") a3,
                    options(readonly)
                );
            }
            #[cfg(not(mcubench_dsp))]
            // SAFETY: as below.
            unsafe {
                let x0 = x;
                let f0 = f;
                let mut tap = |xp: *const i8, fp: *const i8| {
                    let (xe, xo) = widen(off2, rd4(xp));
                    let fw = rd4(fp);
                    let (fe, fo) = (sxtb16(fw), sxtb16_ror8(fw));
                    a0 = smlabb(xe, fe, a0);
                    a2 = smlatt(xe, fe, a2);
                    a1 = smlabb(xo, fo, a1);
                    a3 = smlatt(xo, fo, a3);
                };
                for r in 0..3 {
                    let xr = x0.add(r * x_dy);
                    let fr = f0.add(r * 3 * c);
                    tap(xr, fr);
                    tap(xr.add(x_dx), fr.add(c));
                    tap(xr.add(2 * x_dx), fr.add(2 * c));
                }
            }
    *acc = [a0, a1, a2, a3];
}

/// Valid filter taps `[start, end)` along one axis for a window starting at `origin`.
#[inline(always)]
fn taps(origin: isize, filter: usize, dilation: usize, size: usize) -> (usize, usize) {
    let d = dilation.max(1) as isize;
    let start = if origin >= 0 { 0 } else { ((-origin + d - 1) / d) as usize };
    let lim = size as isize - 1 - origin;
    let end = if lim < 0 { 0 } else { ((lim / d) as usize + 1).min(filter) };
    (start.min(end), end)
}

// ---------------------------------------------------------------------------------------
// ADD.

/// ADD; same contract as [`super::reference::add`].
///
/// Each input's rescaled value (`MultiplyByQuantizedMultiplierSmallerThanOneExp` of
/// `(x + offset) << left_shift`) depends on one int8 only, so both are tabulated once per
/// call with the reference arithmetic (256 entries each); per element remain two table
/// loads, an add and the output requantization (the fast exact form of [`LayerQ`] when the
/// bounds allow it).
pub fn add(p: &super::reference::AddParams, a: &[i8], b: &[i8], output: &mut [i8]) {
    use crate::fixedpoint::multiply_by_quantized_multiplier_smaller_than_one_exp as mbqm;
    let ls = 1i32.wrapping_shl(p.left_shift.clamp(0, 31) as u32);
    let mut t1 = [0i32; 256];
    let mut t2 = [0i32; 256];
    let (mut m1, mut m2) = (0u64, 0u64);
    for v in 0..256usize {
        let x = v as u8 as i8 as i32;
        t1[v] = mbqm((p.input1_offset + x).wrapping_mul(ls), p.input1_multiplier, p.input1_shift);
        t2[v] = mbqm((p.input2_offset + x).wrapping_mul(ls), p.input2_multiplier, p.input2_shift);
        m1 = m1.max(t1[v].unsigned_abs() as u64);
        m2 = m2.max(t2[v].unsigned_abs() as u64);
    }
    let e = -(p.output_shift as i64);
    let hb = if (1..=30).contains(&e) { (1i64 << (e - 1)) + ((p.output_offset as i64) << e) } else { i64::MAX };
    let fast = m1 + m2 < (1 << 30) && hb.unsigned_abs() <= (1 << 29);
    let full = p.act_min == -128 && p.act_max == 127;
    let n = output.len().min(a.len()).min(b.len());
    let (a, b, output) = (&a[..n], &b[..n], &mut output[..n]);
    if fast {
        let (mo, hb, e) = (p.output_multiplier, hb as i32, e as i32);
        if full {
            for ((o, &x), &y) in output.iter_mut().zip(a).zip(b) {
                let s = t1[x as u8 as usize].wrapping_add(t2[y as u8 as usize]);
                *o = ssat8(requant_core(s, mo, hb, e)) as i8;
            }
        } else {
            for ((o, &x), &y) in output.iter_mut().zip(a).zip(b) {
                let s = t1[x as u8 as usize].wrapping_add(t2[y as u8 as usize]);
                *o = requant_core(s, mo, hb, e).max(p.act_min).min(p.act_max) as i8;
            }
        }
    } else {
        for ((o, &x), &y) in output.iter_mut().zip(a).zip(b) {
            let s = t1[x as u8 as usize].wrapping_add(t2[y as u8 as usize]);
            let raw = mbqm(s, p.output_multiplier, p.output_shift).wrapping_add(p.output_offset);
            *o = raw.max(p.act_min).min(p.act_max) as i8;
        }
    }
}

/// The asm text the kernels' template macros spell out (checked on the host, where the asm
/// itself is not built; the firmware's instruction counts check what it does).
#[cfg(test)]
mod asm_text_tests {
    #[test]
    fn requant_asm_spells_the_six_instructions() {
        assert_eq!(
            requant_asm!("r8", "r4", "r5", "r7", "r6", "r2", "r2"),
            "lsl r4, r8, #1\nsmmulr r4, r4, r5\nadd r2, r4, r7\nadd r2, r2, r4, asr #31\nasr r2, r2, r6\nssat r2, #8, r2\n"
        );
        let text = requant_asm!("r8", "r8", "r6", "r12", "r7", "r5", "r8");
        assert_eq!(text.lines().next(), Some("lsl r8, r8, #1"));
        assert_eq!(text.lines().last(), Some("ssat r8, #8, r5"));
    }

    #[test]
    fn dw_taps_asm_has_nine_taps_and_two_row_steps() {
        let text = dw_taps_3x3_asm!();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 9 * 10 + 2 * 3);
        assert_eq!(lines.iter().filter(|l| l.starts_with("smla")).count(), 9 * 4);
        assert_eq!(lines[..2], ["ldr r5, [r0]", "ldr r12, [r1]"]);
        assert_eq!(lines[10..12], ["ldr r5, [r0, r2]", "ldr r12, [r1, r2]"]);
        assert_eq!(lines[20..22], ["ldr r5, [r0, r2, lsl #1]", "ldr r12, [r1, r2, lsl #1]"]);
        assert_eq!(lines[30..33], ["add r0, r0, r3", "add r1, r1, r2, lsl #1", "add r1, r1, r2"]);
        assert_eq!(lines[95], "smlatt r11, r6, r7, r11");
    }
}
