//! Portable optimized int8 kernels: the same integer results as [`super::reference`] (bit for bit),
//! restructured for speed on in-order cores without SIMD:
//!
//! * the input offset is factored out of the dot products:
//!   `sum(f * (x + off)) == sum(f * x) + off * sum(f)` exactly in wrapping i32 arithmetic, so
//!   the inner loops are plain int8 dot products;
//! * padding checks are hoisted out of the inner loops (each output pixel computes its valid
//!   filter window once);
//! * inner loops run over contiguous slices (no per-element bounds checks), unrolled by 4;
//! * depthwise convolution accumulates a block of channels at once (contiguous in NHWC).
//!
//! Pooling, softmax, add and reshape are memory bound and use the reference code.
use super::{I32Le, OutputStage, QuantTable, Window};

/// (sum(a*b), sum(a)) over two equally long int8 slices, wrapping.
#[inline(always)]
fn dot_and_sum(f: &[i8], x: &[i8]) -> (i32, i32) {
    let n = f.len().min(x.len());
    let (f, x) = (&f[..n], &x[..n]);
    let mut acc0: i32 = 0;
    let mut acc1: i32 = 0;
    let mut s0: i32 = 0;
    let mut s1: i32 = 0;
    let mut fc = f.chunks_exact(4);
    let mut xc = x.chunks_exact(4);
    for (fa, xa) in (&mut fc).zip(&mut xc) {
        let (f0, f1, f2, f3) = (fa[0] as i32, fa[1] as i32, fa[2] as i32, fa[3] as i32);
        acc0 = acc0.wrapping_add(f0 * xa[0] as i32).wrapping_add(f1 * xa[1] as i32);
        acc1 = acc1.wrapping_add(f2 * xa[2] as i32).wrapping_add(f3 * xa[3] as i32);
        s0 = s0.wrapping_add(f0 + f1);
        s1 = s1.wrapping_add(f2 + f3);
    }
    for (&a, &b) in fc.remainder().iter().zip(xc.remainder()) {
        acc0 = acc0.wrapping_add(a as i32 * b as i32);
        s0 = s0.wrapping_add(a as i32);
    }
    (acc0.wrapping_add(acc1), s0.wrapping_add(s1))
}

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
    if accum_depth == 0 {
        return super::reference::fully_connected(
            input, input_offset, filter, filter_offset, bias, quant, stage, batches, accum_depth, out_depth, output,
        );
    }
    for (b, (in_row, out_row)) in input
        .chunks_exact(accum_depth)
        .zip(output.chunks_exact_mut(out_depth.max(1)))
        .take(batches)
        .enumerate()
    {
        let _ = b;
        // sum(x) for the filter-offset term: sum((f + fo) * (x + io))
        //   = sum(f*x) + io*sum(f) + fo*sum(x) + n*fo*io
        let sum_x: i32 = in_row.iter().fold(0i32, |a, &v| a.wrapping_add(v as i32));
        let n = accum_depth as i32;
        let const_term = filter_offset
            .wrapping_mul(sum_x)
            .wrapping_add(n.wrapping_mul(filter_offset).wrapping_mul(input_offset));
        for (oc, (f_row, o)) in filter.chunks_exact(accum_depth).zip(out_row.iter_mut()).enumerate() {
            let (fx, sf) = dot_and_sum(f_row, in_row);
            let mut acc = fx.wrapping_add(input_offset.wrapping_mul(sf)).wrapping_add(const_term);
            if let Some(bias) = bias {
                acc = acc.wrapping_add(bias.get(oc));
            }
            let (m, s) = quant.get(oc);
            *o = stage.apply(acc, m, s);
        }
    }
}

/// Valid filter taps `[start, end)` along one axis for an output position whose window starts
/// at `origin` (may be negative), with dilation `d`.
#[inline(always)]
fn taps(origin: isize, filter: usize, dilation: usize, size: usize) -> (usize, usize) {
    let d = dilation.max(1) as isize;
    // first f with origin + d*f >= 0
    let start = if origin >= 0 { 0 } else { ((-origin + d - 1) / d) as usize };
    // last f with origin + d*f <= size - 1
    let lim = size as isize - 1 - origin;
    let end = if lim < 0 { 0 } else { ((lim / d) as usize + 1).min(filter) };
    (start.min(end), end)
}

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
    let groups = w.in_c / filter_in_c.max(1);
    if groups != 1 || filter_in_c == 0 {
        return super::reference::conv2d(w, input, input_offset, filter, filter_in_c, bias, quant, stage, output);
    }
    let in_c = w.in_c;
    let f_pixel = filter_in_c;
    let f_oc = w.filter_h * w.filter_w * f_pixel;
    for b in 0..w.batches {
        for oy in 0..w.out_h {
            let in_y0 = (oy * w.stride_h) as isize - w.pad_h as isize;
            let (fy0, fy1) = taps(in_y0, w.filter_h, w.dilation_h, w.in_h);
            for ox in 0..w.out_w {
                let in_x0 = (ox * w.stride_w) as isize - w.pad_w as isize;
                let (fx0, fx1) = taps(in_x0, w.filter_w, w.dilation_w, w.in_w);
                // A window entirely outside the image has no taps (fy0..fy1 may still not be
                // empty): skip the row loop so no slice starts past the input.
                let (fy0, fy1) = if fx0 < fx1 { (fy0, fy1) } else { (0, 0) };
                let out_base = ((b * w.out_h + oy) * w.out_w + ox) * w.out_c;
                let out_px = &mut output[out_base..out_base + w.out_c];
                for (oc, o) in out_px.iter_mut().enumerate() {
                    let f_base = oc * f_oc;
                    let mut acc: i32 = 0;
                    let mut sum_f: i32 = 0;
                    for fy in fy0..fy1 {
                        let iy = (in_y0 + (w.dilation_h * fy) as isize) as usize;
                        let row = (b * w.in_h + iy) * w.in_w;
                        if w.dilation_w == 1 {
                            // The valid taps of this filter row are contiguous in both tensors.
                            let ix0 = (in_x0 + fx0 as isize) as usize;
                            let n = (fx1 - fx0) * in_c;
                            let xs = &input[(row + ix0) * in_c..(row + ix0) * in_c + n];
                            let fs0 = f_base + (fy * w.filter_w + fx0) * f_pixel;
                            let fs = &filter[fs0..fs0 + n];
                            let (d, s) = dot_and_sum(fs, xs);
                            acc = acc.wrapping_add(d);
                            sum_f = sum_f.wrapping_add(s);
                        } else {
                            for fx in fx0..fx1 {
                                let ix = (in_x0 + (w.dilation_w * fx) as isize) as usize;
                                let xs = &input[(row + ix) * in_c..(row + ix + 1) * in_c];
                                let fs0 = f_base + (fy * w.filter_w + fx) * f_pixel;
                                let (d, s) = dot_and_sum(&filter[fs0..fs0 + f_pixel], xs);
                                acc = acc.wrapping_add(d);
                                sum_f = sum_f.wrapping_add(s);
                            }
                        }
                    }
                    acc = acc.wrapping_add(input_offset.wrapping_mul(sum_f));
                    if let Some(bias) = bias {
                        acc = acc.wrapping_add(bias.get(oc));
                    }
                    let (m, s) = quant.get(oc);
                    *o = stage.apply(acc, m, s);
                }
            }
        }
    }
}

/// Channels accumulated together by the depthwise kernel.
const DW_BLOCK: usize = 32;

/// DEPTHWISE_CONV_2D; same contract as [`super::reference::depthwise_conv2d`].
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
    if depth_multiplier != 1 {
        return super::reference::depthwise_conv2d(w, depth_multiplier, input, input_offset, filter, bias, quant, stage, output);
    }
    let c = w.in_c;
    for b in 0..w.batches {
        for oy in 0..w.out_h {
            let in_y0 = (oy * w.stride_h) as isize - w.pad_h as isize;
            let (fy0, fy1) = taps(in_y0, w.filter_h, w.dilation_h, w.in_h);
            for ox in 0..w.out_w {
                let in_x0 = (ox * w.stride_w) as isize - w.pad_w as isize;
                let (fx0, fx1) = taps(in_x0, w.filter_w, w.dilation_w, w.in_w);
                let out_base = ((b * w.out_h + oy) * w.out_w + ox) * c;
                let mut c0 = 0;
                while c0 < c {
                    let nb = DW_BLOCK.min(c - c0);
                    let mut acc = [0i32; DW_BLOCK];
                    for fy in fy0..fy1 {
                        let iy = (in_y0 + (w.dilation_h * fy) as isize) as usize;
                        for fx in fx0..fx1 {
                            let ix = (in_x0 + (w.dilation_w * fx) as isize) as usize;
                            let xi = ((b * w.in_h + iy) * w.in_w + ix) * c + c0;
                            let fi = (fy * w.filter_w + fx) * c + c0;
                            let xs = &input[xi..xi + nb];
                            let fs = &filter[fi..fi + nb];
                            for ((a, &x), &f) in acc[..nb].iter_mut().zip(xs).zip(fs) {
                                *a = a.wrapping_add((f as i32).wrapping_mul(x as i32 + input_offset));
                            }
                        }
                    }
                    for (k, a) in acc[..nb].iter().enumerate() {
                        let oc = c0 + k;
                        let mut v = *a;
                        if let Some(bias) = bias {
                            v = v.wrapping_add(bias.get(oc));
                        }
                        let (m, s) = quant.get(oc);
                        output[out_base + oc] = stage.apply(v, m, s);
                    }
                    c0 += nb;
                }
            }
        }
    }
}
