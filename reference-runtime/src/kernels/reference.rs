//! Reference int8 kernels: straightforward loops with TFLite Micro's exact integer arithmetic.
use super::{I32Le, OutputStage, QuantTable};

/// FULLY_CONNECTED, int8 in/out, int8 weights `[out_depth, accum_depth]`, optional int32
/// bias. Mirrors `reference_integer_ops::FullyConnected` (per-tensor, which applies
/// `filter_offset`) and `FullyConnectedPerChannel` (per-channel; TFLM ignores the filter
/// offset there, weights being symmetric; pass 0).
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
    for b in 0..batches {
        let in_row = &input[b * accum_depth..(b + 1) * accum_depth];
        for oc in 0..out_depth {
            let f_row = &filter[oc * accum_depth..(oc + 1) * accum_depth];
            let mut acc: i32 = 0;
            for d in 0..accum_depth {
                let iv = in_row[d] as i32;
                let fv = f_row[d] as i32;
                acc = acc.wrapping_add((fv + filter_offset).wrapping_mul(iv + input_offset));
            }
            if let Some(bias) = bias {
                acc = acc.wrapping_add(bias.get(oc));
            }
            let (m, s) = quant.get(oc);
            output[b * out_depth + oc] = stage.apply(acc, m, s);
        }
    }
}
