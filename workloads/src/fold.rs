//! Import-time folding of CONV_2D output channels whose result is provably constant.
//!
//! Trained int8 models carry "dead" channels: MobileNet (vww01) has channels with a bias near
//! +-2^30 and a requantization shift down to -31, whose output is the same for every input.
//! Their huge bias or shift keeps a whole layer off the runtime's fast requantization (see
//! `mcubench_runtime::kernels::dsp::LayerQ`). When the accumulator's reachable range (from the
//! channel's own weights and the input's int8 range) maps to a single clamped output `v`,
//! the channel is rewritten to weights 0, bias `4 * (v - output_offset)` and requantization
//! `(2^30, -1)`, which TFLite's arithmetic maps to exactly `v` — for every input, so the
//! model stays bit exact with TFLite Micro. MAC counts and shapes do not change.
use mcubench_runtime::fixedpoint::multiply_by_quantized_multiplier;
use mcubench_runtime::format::{
    OpCode, STORAGE_CONST, P_ACT_MAX, P_ACT_MIN, P_FILTER_OFFSET, P_INPUT_OFFSET, P_OUTPUT_OFFSET, P_QUANT_COUNT,
    P_QUANT_INDEX, QUANT_ENTRY_SIZE,
};
use mcubench_runtime::Model;

/// Requantization of a folded channel: `MultiplyByQuantizedMultiplier(4y, 2^30, -1) == y`.
const FOLD_MULTIPLIER: i32 = 1 << 30;
const FOLD_SHIFT: i32 = -1;

/// Folds the constant CONV_2D channels of `blob` in place; returns how many were folded.
/// Only channels whose bias or shift is outside what the fast requantization takes are
/// touched, and only in ops whose filter, bias and requantization entries no other op shares.
/// A blob that does not validate is left as it is.
pub fn fold_constant_channels(blob: &mut [u8]) -> usize {
    let patches = match Model::from_bytes(blob) {
        Ok(model) => plan(&model),
        Err(_) => return 0,
    };
    let n = patches.len();
    for p in patches {
        blob[p.filter_row.0..p.filter_row.1].fill(0);
        blob[p.bias_at..p.bias_at + 4].copy_from_slice(&p.bias.to_le_bytes());
        blob[p.quant_at..p.quant_at + 4].copy_from_slice(&FOLD_MULTIPLIER.to_le_bytes());
        blob[p.quant_at + 4..p.quant_at + 8].copy_from_slice(&FOLD_SHIFT.to_le_bytes());
    }
    n
}

/// One channel's rewrite: byte ranges in the blob and the new bias.
struct Patch {
    filter_row: (usize, usize),
    bias_at: usize,
    quant_at: usize,
    bias: i32,
}

fn plan(model: &Model<'_>) -> Vec<Patch> {
    let h = model.header();
    let ops: Vec<_> = (0..model.op_count()).map(|i| model.op_record(i)).collect();
    let tensor_uses = |t: u16| ops.iter().flat_map(|o| (0..o.n_inputs as usize).filter_map(|k| o.input(k))).filter(|&u| u == t).count();
    let quant_range = |o: &mcubench_runtime::format::OpRecord| {
        let (i, n) = (o.params[P_QUANT_INDEX], o.params[P_QUANT_COUNT]);
        (i, i + n.max(0))
    };
    let mut patches = Vec::new();
    for (oi, op) in ops.iter().enumerate() {
        if op.opcode != OpCode::Conv2d as u8 {
            continue;
        }
        let (Some(fi), Some(bi)) = (op.input(1), op.input(2)) else { continue };
        let (ft, bt) = (model.tensor_record(fi as usize), model.tensor_record(bi as usize));
        let p = &op.params;
        let out_c = ft.dims[0] as usize;
        let (q0, q1) = quant_range(op);
        let per_channel = (q1 - q0) as usize == out_c && out_c > 1;
        let shared = tensor_uses(fi) != 1
            || tensor_uses(bi) != 1
            || ops.iter().enumerate().any(|(j, o)| {
                let (a, b) = quant_range(o);
                j != oi && o.params[P_QUANT_COUNT] > 0 && a < q1 && q0 < b
            });
        if !per_channel || shared || p[P_FILTER_OFFSET] != 0 || ft.storage != STORAGE_CONST || bt.storage != STORAGE_CONST {
            continue;
        }
        let k = (ft.byte_len as usize) / out_c;
        let filter = model.const_bytes(&ft);
        let bias = model.const_bytes(&bt);
        let quant = model.quant_bytes(q0, q1 - q0);
        if filter.len() != out_c * k || bias.len() != out_c * 4 || quant.len() != out_c * QUANT_ENTRY_SIZE {
            continue;
        }
        let io = p[P_INPUT_OFFSET] as i64;
        let (x_lo, x_hi) = (-128 + io, 127 + io);
        let off = p[P_OUTPUT_OFFSET];
        let (act_min, act_max) = (p[P_ACT_MIN], p[P_ACT_MAX]);
        for ch in 0..out_c {
            let word = |b: &[u8], i: usize| i32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            let b = word(bias, ch * 4);
            let (m, shift) = (word(quant, ch * 8), word(quant, ch * 8 + 4));
            if b.unsigned_abs() < (1 << 28) && (-30..=-1).contains(&shift) {
                continue; // the fast path already takes it
            }
            if shift > 0 {
                continue; // a left shift can overflow: not monotonic
            }
            // Every tap contributes f * (x + io) for x in int8, or 0 when it is padding.
            let (mut lo, mut hi) = (b as i64, b as i64);
            for &f in &filter[ch * k..(ch + 1) * k] {
                let f = f as i8 as i64;
                let (u, v) = (f * x_lo, f * x_hi);
                lo += u.min(v).min(0);
                hi += u.max(v).max(0);
            }
            if lo < i32::MIN as i64 || hi > i32::MAX as i64 {
                continue;
            }
            // Requantization is monotonic in the accumulator for shift <= 0.
            let out = |acc: i64| (multiply_by_quantized_multiplier(acc as i32, m, shift).wrapping_add(off)).clamp(act_min, act_max);
            let v = out(lo);
            if out(hi) != v {
                continue;
            }
            let data = h.data_off as usize;
            let row = data + ft.offset as usize + ch * k;
            patches.push(Patch {
                filter_row: (row, row + k),
                bias_at: data + bt.offset as usize + ch * 4,
                quant_at: h.quant_off as usize + (q0 as usize + ch) * QUANT_ENTRY_SIZE,
                bias: 4 * (v - off),
            });
        }
    }
    patches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_requantization_is_the_identity_on_multiples_of_four() {
        for y in -400..=400 {
            assert_eq!(multiply_by_quantized_multiplier(4 * y, FOLD_MULTIPLIER, FOLD_SHIFT), y, "y = {y}");
        }
    }
}
