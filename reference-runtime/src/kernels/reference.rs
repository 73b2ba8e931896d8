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

use super::Window;
use crate::fixedpoint::{
    exp_on_negative_values, get_reciprocal, multiply_by_quantized_multiplier_smaller_than_one_exp,
    rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
};

/// CONV_2D, int8, NHWC input, filter `[out_c, kh, kw, in_c / groups]`, per-channel requant.
/// Mirrors `reference_integer_ops::ConvPerChannel` (including grouped convolution).
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
    for b in 0..w.batches {
        for oy in 0..w.out_h {
            for ox in 0..w.out_w {
                for oc in 0..w.out_c {
                    let v = conv2d_output(w, input, input_offset, filter, filter_in_c, bias, quant, stage, [b, oy, ox, oc]);
                    output[((b * w.out_h + oy) * w.out_w + ox) * w.out_c + oc] = v;
                }
            }
        }
    }
}

/// One output value of [`conv2d`]: batch, row, column and channel `[b, oy, ox, oc]`.
/// (Also the exact path the optimized kernels fall back to for single channels.)
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn conv2d_output(
    w: &Window,
    input: &[i8],
    input_offset: i32,
    filter: &[i8],
    filter_in_c: usize,
    bias: Option<I32Le<'_>>,
    quant: QuantTable<'_>,
    stage: OutputStage,
    [b, oy, ox, oc]: [usize; 4],
) -> i8 {
    let groups = w.in_c / filter_in_c.max(1);
    let filters_per_group = w.out_c / groups.max(1);
    let in_y0 = (oy * w.stride_h) as isize - w.pad_h as isize;
    let in_x0 = (ox * w.stride_w) as isize - w.pad_w as isize;
    let group = oc / filters_per_group.max(1);
    let mut acc: i32 = 0;
    for fy in 0..w.filter_h {
        let iy = in_y0 + (w.dilation_h * fy) as isize;
        if iy < 0 || iy >= w.in_h as isize {
            continue;
        }
        for fx in 0..w.filter_w {
            let ix = in_x0 + (w.dilation_w * fx) as isize;
            if ix < 0 || ix >= w.in_w as isize {
                continue;
            }
            let in_base = ((b * w.in_h + iy as usize) * w.in_w + ix as usize) * w.in_c + group * filter_in_c;
            let f_base = ((oc * w.filter_h + fy) * w.filter_w + fx) * filter_in_c;
            for ic in 0..filter_in_c {
                let iv = input[in_base + ic] as i32;
                let fv = filter[f_base + ic] as i32;
                acc = acc.wrapping_add(fv.wrapping_mul(iv + input_offset));
            }
        }
    }
    if let Some(bias) = bias {
        acc = acc.wrapping_add(bias.get(oc));
    }
    let (m, s) = quant.get(oc);
    stage.apply(acc, m, s)
}

/// DEPTHWISE_CONV_2D, int8, filter `[1, kh, kw, out_c]`, `out_c = in_c * depth_multiplier`.
/// Mirrors `reference_integer_ops::DepthwiseConvPerChannel`.
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
    for b in 0..w.batches {
        for oy in 0..w.out_h {
            let in_y0 = (oy * w.stride_h) as isize - w.pad_h as isize;
            for ox in 0..w.out_w {
                let in_x0 = (ox * w.stride_w) as isize - w.pad_w as isize;
                for ic in 0..w.in_c {
                    for m in 0..depth_multiplier {
                        let oc = m + ic * depth_multiplier;
                        let mut acc: i32 = 0;
                        for fy in 0..w.filter_h {
                            let iy = in_y0 + (w.dilation_h * fy) as isize;
                            if iy < 0 || iy >= w.in_h as isize {
                                continue;
                            }
                            for fx in 0..w.filter_w {
                                let ix = in_x0 + (w.dilation_w * fx) as isize;
                                if ix < 0 || ix >= w.in_w as isize {
                                    continue;
                                }
                                let iv = input[((b * w.in_h + iy as usize) * w.in_w + ix as usize) * w.in_c + ic] as i32;
                                let fv = filter[(fy * w.filter_w + fx) * w.out_c + oc] as i32;
                                acc = acc.wrapping_add(fv.wrapping_mul(iv + input_offset));
                            }
                        }
                        if let Some(bias) = bias {
                            acc = acc.wrapping_add(bias.get(oc));
                        }
                        let (mul, s) = quant.get(oc);
                        output[((b * w.out_h + oy) * w.out_w + ox) * w.out_c + oc] = stage.apply(acc, mul, s);
                    }
                }
            }
        }
    }
}

/// The in-image part `[start, end)` of a pooling window along one axis.
#[inline(always)]
fn window_range(origin: isize, filter: usize, size: usize) -> (usize, usize) {
    let start = (-origin).max(0) as usize;
    let end = (filter as isize).min(size as isize - origin).max(0) as usize;
    (start, end)
}

/// AVERAGE_POOL_2D, int8 (`reference_integer_ops::AveragePool`): the average over the in-image
/// part of the window, rounded half away from zero, then clamped. `w.in_c == w.out_c`.
pub fn average_pool(w: &Window, act_min: i32, act_max: i32, input: &[i8], output: &mut [i8]) {
    let c = w.in_c;
    for b in 0..w.batches {
        for oy in 0..w.out_h {
            let in_y0 = (oy * w.stride_h) as isize - w.pad_h as isize;
            let (fy0, fy1) = window_range(in_y0, w.filter_h, w.in_h);
            for ox in 0..w.out_w {
                let in_x0 = (ox * w.stride_w) as isize - w.pad_w as isize;
                let (fx0, fx1) = window_range(in_x0, w.filter_w, w.in_w);
                for ch in 0..c {
                    let mut acc: i32 = 0;
                    let mut count: i32 = 0;
                    for fy in fy0..fy1 {
                        let iy = (in_y0 + fy as isize) as usize;
                        for fx in fx0..fx1 {
                            let ix = (in_x0 + fx as isize) as usize;
                            acc += input[((b * w.in_h + iy) * w.in_w + ix) * c + ch] as i32;
                            count += 1;
                        }
                    }
                    // TFLM fails the op on an empty window; validation rules that out.
                    let avg = if count == 0 {
                        0
                    } else if acc > 0 {
                        (acc + count / 2) / count
                    } else {
                        (acc - count / 2) / count
                    };
                    output[((b * w.out_h + oy) * w.out_w + ox) * c + ch] = avg.max(act_min).min(act_max) as i8;
                }
            }
        }
    }
}

/// MAX_POOL_2D, int8 (`reference_integer_ops::MaxPool`).
pub fn max_pool(w: &Window, act_min: i32, act_max: i32, input: &[i8], output: &mut [i8]) {
    let c = w.in_c;
    for b in 0..w.batches {
        for oy in 0..w.out_h {
            let in_y0 = (oy * w.stride_h) as isize - w.pad_h as isize;
            let (fy0, fy1) = window_range(in_y0, w.filter_h, w.in_h);
            for ox in 0..w.out_w {
                let in_x0 = (ox * w.stride_w) as isize - w.pad_w as isize;
                let (fx0, fx1) = window_range(in_x0, w.filter_w, w.in_w);
                for ch in 0..c {
                    let mut max = i8::MIN;
                    for fy in fy0..fy1 {
                        let iy = (in_y0 + fy as isize) as usize;
                        for fx in fx0..fx1 {
                            let ix = (in_x0 + fx as isize) as usize;
                            max = max.max(input[((b * w.in_h + iy) * w.in_w + ix) * c + ch]);
                        }
                    }
                    output[((b * w.out_h + oy) * w.out_w + ox) * c + ch] =
                        (max as i32).max(act_min).min(act_max) as i8;
                }
            }
        }
    }
}

/// SOFTMAX int8 -> int8 (output scale 1/256, zero point -128) over the last dimension, exactly
/// as TFLite's `reference_ops::Softmax` fixed-point path: gemmlowp `exp_on_negative_values`
/// on Q5.26 scaled differences, Q12.19 accumulation, `GetReciprocal`.
pub fn softmax(
    input: &[i8],
    depth: usize,
    input_beta_multiplier: i32,
    input_beta_left_shift: i32,
    diff_min: i32,
    output: &mut [i8],
) {
    const SCALED_DIFF_INTEGER_BITS: u32 = 5;
    const ACCUMULATION_INTEGER_BITS: i32 = 12;
    if depth == 0 {
        return;
    }
    let rescale = |diff: i32| -> i32 {
        // MultiplyByQuantizedMultiplierGreaterThanOne
        let shifted = diff.wrapping_mul(1i32.wrapping_shl(input_beta_left_shift.clamp(0, 31) as u32));
        saturating_rounding_doubling_high_mul(shifted, input_beta_multiplier)
    };
    for (row_in, row_out) in input.chunks_exact(depth).zip(output.chunks_exact_mut(depth)) {
        let max_in_row = row_in.iter().copied().max().unwrap_or(i8::MIN) as i32;
        let mut sum_of_exps: i32 = 0;
        for &v in row_in {
            let diff = v as i32 - max_in_row;
            if diff >= diff_min {
                let e = exp_on_negative_values(rescale(diff), SCALED_DIFF_INTEGER_BITS);
                // Rescale<12> from Q0: divide by 2^12 with rounding.
                sum_of_exps = sum_of_exps.wrapping_add(rounding_divide_by_pot(e, ACCUMULATION_INTEGER_BITS));
            }
        }
        let (shifted_scale, num_bits_over_unit) = get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS);
        let exponent = num_bits_over_unit + 31 - 8;
        for (o, &v) in row_out.iter_mut().zip(row_in) {
            let diff = v as i32 - max_in_row;
            *o = if diff >= diff_min {
                let e = exp_on_negative_values(rescale(diff), SCALED_DIFF_INTEGER_BITS);
                let unsat = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted_scale, e), exponent);
                (unsat - 128).clamp(-128, 127) as i8
            } else {
                i8::MIN
            };
        }
    }
}

/// ADD parameters (`ArithmeticParams` of TFLM's quantized add).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddParams {
    pub input1_offset: i32,
    pub input2_offset: i32,
    pub output_offset: i32,
    pub left_shift: i32,
    pub input1_multiplier: i32,
    pub input1_shift: i32,
    pub input2_multiplier: i32,
    pub input2_shift: i32,
    pub output_multiplier: i32,
    pub output_shift: i32,
    pub act_min: i32,
    pub act_max: i32,
}

/// ADD int8, same shapes (`reference_integer_ops::AddFunc` element-wise).
pub fn add(p: &AddParams, a: &[i8], b: &[i8], output: &mut [i8]) {
    let ls = 1i32.wrapping_shl(p.left_shift.clamp(0, 31) as u32);
    for ((o, &x), &y) in output.iter_mut().zip(a).zip(b) {
        let v1 = (p.input1_offset + x as i32).wrapping_mul(ls);
        let v2 = (p.input2_offset + y as i32).wrapping_mul(ls);
        let s1 = multiply_by_quantized_multiplier_smaller_than_one_exp(v1, p.input1_multiplier, p.input1_shift);
        let s2 = multiply_by_quantized_multiplier_smaller_than_one_exp(v2, p.input2_multiplier, p.input2_shift);
        let raw = multiply_by_quantized_multiplier_smaller_than_one_exp(
            s1.wrapping_add(s2),
            p.output_multiplier,
            p.output_shift,
        )
        .wrapping_add(p.output_offset);
        *o = raw.max(p.act_min).min(p.act_max) as i8;
    }
}

/// A shape extended to 4 dims on the left (TFLite's `RuntimeShape::ExtendedShape(4, ..)`).
pub type Dims4 = [usize; 4];

/// PAD / PADV2 int8 (`reference_ops::Pad`): the input placed at offset `before` in every
/// dimension of an output filled with `pad_value`.
pub fn pad(input: &[i8], in_dims: Dims4, before: Dims4, out_dims: Dims4, pad_value: i8, output: &mut [i8]) {
    let mut o = 0usize;
    for d0 in 0..out_dims[0] {
        for d1 in 0..out_dims[1] {
            for d2 in 0..out_dims[2] {
                for d3 in 0..out_dims[3] {
                    let idx = [d0, d1, d2, d3];
                    let mut src = 0usize;
                    let mut inside = true;
                    for k in 0..4 {
                        let i = idx[k].wrapping_sub(before[k]);
                        if idx[k] < before[k] || i >= in_dims[k] {
                            inside = false;
                            break;
                        }
                        src = src * in_dims[k] + i;
                    }
                    output[o] = if inside { input[src] } else { pad_value };
                    o += 1;
                }
            }
        }
    }
}

/// MEAN int8 over H and W of an NHWC tensor; output `[batches * channels]` (keep_dims or not,
/// the bytes are the same). TFLM's `reference_ops::QuantizedMeanOrSum`: the zero-point
/// corrected int32 sum times a multiplier with 1/(H*W) folded in, plus the output zero point.
#[allow(clippy::too_many_arguments)]
pub fn mean_hw(
    input: &[i8],
    in_dims: Dims4,
    input_zp: i32,
    output_zp: i32,
    multiplier: i32,
    shift: i32,
    output: &mut [i8],
) {
    use crate::fixedpoint::multiply_by_quantized_multiplier;
    let [batches, h, w, c] = in_dims;
    let n = (h * w) as i32;
    for b in 0..batches {
        for ch in 0..c {
            let mut sum: i32 = 0;
            for y in 0..h {
                for x in 0..w {
                    sum = sum.wrapping_add(input[((b * h + y) * w + x) * c + ch] as i32);
                }
            }
            let centered = sum.wrapping_sub(input_zp.wrapping_mul(n));
            let v = multiply_by_quantized_multiplier(centered, multiplier, shift).wrapping_add(output_zp);
            output[b * c + ch] = v.clamp(-128, 127) as i8;
        }
    }
}

/// CONCATENATION int8 along `axis` (`reference_ops::Concatenation`): each input contributes
/// `dims[axis] * inner` contiguous bytes per outer index. `inputs` are (data, size of the
/// concatenated axis); `inner` is the product of the dims after the axis.
pub fn concatenation(inputs: &[(&[i8], usize)], outer: usize, inner: usize, output: &mut [i8]) {
    let mut o = 0usize;
    for k in 0..outer {
        for &(data, axis_len) in inputs {
            let chunk = axis_len * inner;
            output[o..o + chunk].copy_from_slice(&data[k * chunk..(k + 1) * chunk]);
            o += chunk;
        }
    }
}

/// MUL parameters (`ArithmeticParams` of TFLM's quantized mul).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MulParams {
    pub input1_offset: i32,
    pub input2_offset: i32,
    pub output_offset: i32,
    pub output_multiplier: i32,
    pub output_shift: i32,
    pub act_min: i32,
    pub act_max: i32,
}

/// MUL int8 with 4-D broadcasting (`reference_integer_ops::Mul` / `BroadcastMul4DSlow`): every
/// output element is `offset_out + MBQM((a + offset1) * (b + offset2))`, clamped. A dim of 1
/// in `a_dims` / `b_dims` broadcasts against `out_dims`.
pub fn mul(p: &MulParams, a: &[i8], a_dims: Dims4, b: &[i8], b_dims: Dims4, out_dims: Dims4, output: &mut [i8]) {
    use crate::fixedpoint::multiply_by_quantized_multiplier;
    // Row-major strides, 0 along broadcast dims.
    let strides = |d: Dims4| -> Dims4 {
        let mut s = [0usize; 4];
        let mut acc = 1usize;
        for k in (0..4).rev() {
            s[k] = if d[k] == 1 && out_dims[k] != 1 { 0 } else { acc };
            acc *= d[k];
        }
        s
    };
    let (sa, sb) = (strides(a_dims), strides(b_dims));
    let mut o = 0usize;
    for i0 in 0..out_dims[0] {
        for i1 in 0..out_dims[1] {
            for i2 in 0..out_dims[2] {
                for i3 in 0..out_dims[3] {
                    let ia = i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3];
                    let ib = i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3];
                    let x = p.input1_offset + a[ia] as i32;
                    let y = p.input2_offset + b[ib] as i32;
                    let raw = p
                        .output_offset
                        .wrapping_add(multiply_by_quantized_multiplier(x.wrapping_mul(y), p.output_multiplier, p.output_shift));
                    output[o] = raw.max(p.act_min).min(p.act_max) as i8;
                    o += 1;
                }
            }
        }
    }
}

/// LOGISTIC int8 -> int8 (output zero point -128, scale 1/256), as
/// `reference_integer_ops::Logistic`: saturate beyond the input radius, else rescale to Q4.27,
/// gemmlowp `logistic`, and round to 8 fractional bits.
pub fn logistic(input_zp: i32, range_radius: i32, multiplier: i32, left_shift: i32, input: &[i8], output: &mut [i8]) {
    use crate::fixedpoint::{logistic as fixed_logistic, multiply_by_quantized_multiplier};
    for (o, &v) in output.iter_mut().zip(input) {
        let x = v as i32 - input_zp;
        *o = if x <= -range_radius {
            i8::MIN
        } else if x >= range_radius {
            i8::MAX
        } else {
            let q4 = multiply_by_quantized_multiplier(x, multiplier, left_shift);
            let q0 = fixed_logistic(q4, 4);
            (rounding_divide_by_pot(q0, 31 - 8) - 128).clamp(-128, 127) as i8
        };
    }
}

/// QUANTIZE int8 -> int8 (`reference_ops::Requantize`).
pub fn requantize(input_zp: i32, output_zp: i32, multiplier: i32, shift: i32, input: &[i8], output: &mut [i8]) {
    use crate::fixedpoint::multiply_by_quantized_multiplier;
    for (o, &v) in output.iter_mut().zip(input) {
        let r = multiply_by_quantized_multiplier(v as i32 - input_zp, multiplier, shift).wrapping_add(output_zp);
        *o = r.clamp(-128, 127) as i8;
    }
}
