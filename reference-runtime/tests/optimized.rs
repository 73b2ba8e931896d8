//! The optimized kernels must reproduce the reference kernels bit for bit on random shapes,
//! paddings, strides, dilations, offsets and requantization parameters.
use mcubench_runtime::kernels::{dsp, optimized as opt, reference as refk, I32Le, OutputStage, QuantTable, Window};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() as usize) % (hi - lo + 1)
    }
    fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.next() as i8).collect()
    }
    fn quant(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|_| {
                let m = (1u32 << 30) as i32 + (self.next() % (1 << 30)) as i32;
                let s = match self.next() % 10 {
                    0 => [0, -31, -25, -22, -1, 1][(self.next() % 6) as usize],
                    _ => -((self.next() % 12) as i32) - 4,
                };
                m.to_le_bytes().into_iter().chain(s.to_le_bytes())
            })
            .collect()
    }
    fn bias(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|_| {
                let b = match self.next() % 20 {
                    0 => 1 << 30,
                    1 => -(1 << 30) - 128,
                    _ => (self.next() % 20001) as i32 - 10000,
                };
                b.to_le_bytes()
            })
            .collect()
    }
}

fn stage(r: &mut Rng) -> OutputStage {
    let full = r.next() % 2 == 0;
    let lo = if full { -128 } else { -128 + (r.next() % 40) as i32 };
    let hi = if full { 127 } else { 127 - (r.next() % 20) as i32 };
    OutputStage { output_offset: (r.next() % 256) as i32 - 128, act_min: lo, act_max: hi }
}

#[test]
fn fully_connected_matches_reference() {
    let mut r = Rng(1);
    for _ in 0..300 {
        let (b, d, o) = (r.range(1, 3), r.range(1, 70), r.range(1, 20));
        let input = r.i8s(b * d);
        let filter = r.i8s(o * d);
        let bias = r.bias(o);
        let per_channel = r.next() % 2 == 0;
        let q = r.quant(if per_channel { o } else { 1 });
        let st = stage(&mut r);
        let io = (r.next() % 256) as i32 - 127;
        let fo = if per_channel { 0 } else { (r.next() % 256) as i32 - 127 };
        let with_bias = r.next() % 3 != 0;
        let mut a = vec![0i8; b * o];
        let mut c = vec![0i8; b * o];
        let bv = with_bias.then(|| I32Le::new(&bias));
        refk::fully_connected(&input, io, &filter, fo, bv, QuantTable::new(&q), st, b, d, o, &mut a);
        opt::fully_connected(&input, io, &filter, fo, bv, QuantTable::new(&q), st, b, d, o, &mut c);
        assert_eq!(a, c);
        dsp::fully_connected(&input, io, &filter, fo, bv, QuantTable::new(&q), st, b, d, o, &mut c);
        assert_eq!(a, c, "dsp b={b} d={d} o={o}");
    }
}

fn random_window(r: &mut Rng, depthwise: bool) -> Window {
    let filter_h = r.range(1, 5);
    let filter_w = r.range(1, 5);
    let in_c = if r.next() % 2 == 0 { 4 * r.range(1, 10) } else { r.range(1, 40) };
    let out_c = if depthwise { in_c } else { r.range(1, 70) };
    let (stride_h, stride_w) = (r.range(1, 3), r.range(1, 3));
    let (dilation_h, dilation_w) = if r.next() % 4 == 0 { (r.range(1, 3), r.range(1, 3)) } else { (1, 1) };
    let in_h = r.range(1, 9);
    let in_w = r.range(1, 9);
    let pad_h = r.range(0, filter_h);
    let pad_w = r.range(0, filter_w);
    let out_h = r.range(1, 6);
    let out_w = r.range(1, 6);
    Window {
        batches: r.range(1, 2),
        in_h,
        in_w,
        in_c,
        out_h,
        out_w,
        out_c,
        filter_h,
        filter_w,
        stride_h,
        stride_w,
        dilation_h,
        dilation_w,
        pad_h,
        pad_w,
    }
}

#[test]
fn conv_matches_reference() {
    let mut r = Rng(2);
    for _ in 0..400 {
        let w = random_window(&mut r, false);
        let input = r.i8s(w.batches * w.in_h * w.in_w * w.in_c);
        let filter = r.i8s(w.out_c * w.filter_h * w.filter_w * w.in_c);
        let bias = r.bias(w.out_c);
        let q = r.quant(w.out_c);
        let st = stage(&mut r);
        let io = (r.next() % 256) as i32 - 127;
        let n = w.batches * w.out_h * w.out_w * w.out_c;
        let (mut a, mut c) = (vec![0i8; n], vec![0i8; n]);
        let bv = Some(I32Le::new(&bias));
        refk::conv2d(&w, &input, io, &filter, w.in_c, bv, QuantTable::new(&q), st, &mut a);
        opt::conv2d(&w, &input, io, &filter, w.in_c, bv, QuantTable::new(&q), st, &mut c);
        assert_eq!(a, c, "{w:?}");
        c.fill(0);
        dsp::conv2d(&w, &input, io, &filter, w.in_c, bv, QuantTable::new(&q), st, &mut c);
        assert_eq!(a, c, "dsp {w:?}");
    }
}

#[test]
fn depthwise_matches_reference() {
    let mut r = Rng(3);
    for i in 0..800 {
        let mut w = random_window(&mut r, true);
        if i % 2 == 0 {
            // Half the cases: the 3x3, dilation 1 shape MobileNet and DS-CNN use (the DSP
            // kernels' zero-point-padded strip path), up to 150 channels (several chunks).
            w.filter_h = 3;
            w.filter_w = 3;
            w.dilation_h = 1;
            w.dilation_w = 1;
            w.pad_h = r.range(0, 2);
            w.pad_w = r.range(0, 2);
            w.in_c = if r.next() % 3 == 0 { r.range(1, 150) } else { 4 * r.range(1, 20) };
            w.out_c = w.in_c;
        }
        let input = r.i8s(w.batches * w.in_h * w.in_w * w.in_c);
        let filter = r.i8s(w.filter_h * w.filter_w * w.out_c);
        let bias = r.bias(w.out_c);
        let q = r.quant(w.out_c);
        let st = stage(&mut r);
        let io = (r.next() % 256) as i32 - 127;
        let n = w.batches * w.out_h * w.out_w * w.out_c;
        let (mut a, mut c) = (vec![0i8; n], vec![0i8; n]);
        let bv = (r.next() % 2 == 0).then(|| I32Le::new(&bias));
        refk::depthwise_conv2d(&w, 1, &input, io, &filter, bv, QuantTable::new(&q), st, &mut a);
        opt::depthwise_conv2d(&w, 1, &input, io, &filter, bv, QuantTable::new(&q), st, &mut c);
        assert_eq!(a, c, "{w:?}");
        c.fill(0);
        dsp::depthwise_conv2d(&w, 1, &input, io, &filter, bv, QuantTable::new(&q), st, &mut c);
        assert_eq!(a, c, "dsp {w:?}");
    }
}

#[test]
fn add_matches_reference() {
    use mcubench_runtime::kernels::reference::AddParams;
    let mut r = Rng(4);
    for i in 0..300 {
        let n = r.range(1, 300);
        let a = r.i8s(n);
        let b = r.i8s(n);
        let m = |r: &mut Rng| (1i32 << 30) + (r.next() % (1 << 30)) as i32;
        let sh = |r: &mut Rng, lo: i32| -((r.next() % 20) as i32) - lo;
        let lo = -128 + (r.next() % 30) as i32;
        let p = AddParams {
            input1_offset: (r.next() % 256) as i32 - 127,
            input2_offset: (r.next() % 256) as i32 - 127,
            output_offset: (r.next() % 256) as i32 - 128,
            left_shift: if i % 5 == 0 { (r.next() % 32) as i32 } else { 20 },
            input1_multiplier: m(&mut r),
            input1_shift: sh(&mut r, 0),
            input2_multiplier: m(&mut r),
            input2_shift: sh(&mut r, 0),
            output_multiplier: m(&mut r),
            output_shift: if i % 7 == 0 { 0 } else { sh(&mut r, 1) },
            act_min: if i % 2 == 0 { -128 } else { lo },
            act_max: if i % 3 == 0 { 127 } else { 127 - (r.next() % 30) as i32 },
        };
        let mut x = vec![0i8; n];
        let mut y = vec![0i8; n];
        refk::add(&p, &a, &b, &mut x);
        opt::add(&p, &a, &b, &mut y);
        assert_eq!(x, y, "{p:?}");
    }
}

/// A dead-looking channel (bias about 2^30, shift -30) whose result straddles a rounding boundary
/// is not constant: the DSP conv recomputes it exactly (a fixup) and keeps the layer fast.
#[test]
fn conv_fixup_channel_matches_reference() {
    let mut r = Rng(7);
    let w = Window {
        batches: 1,
        in_h: 3,
        in_w: 3,
        in_c: 128,
        out_h: 3,
        out_w: 3,
        out_c: 16,
        filter_h: 1,
        filter_w: 1,
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
        pad_h: 0,
        pad_w: 0,
    };
    let mut input = r.i8s(9 * 128);
    input[..128].fill(-128);
    input[128..256].fill(127);
    let mut filter = r.i8s(16 * 128);
    filter[2 * 128..3 * 128].fill(1);
    let mut bias = Vec::new();
    let mut q = Vec::new();
    for ch in 0..16 {
        let (b, m, s): (i32, i32, i32) = if ch == 2 { ((1 << 30) - 1000, 1 << 30, -30) } else { (100 * ch, 1_500_000_000, -9) };
        bias.extend(b.to_le_bytes());
        q.extend(m.to_le_bytes().into_iter().chain(s.to_le_bytes()));
    }
    let st = OutputStage { output_offset: -5, act_min: -128, act_max: 127 };
    let acc_bound = 128u64 * 128 * 256;
    let lq = dsp::LayerQ::with_fixups(Some(I32Le::new(&bias)), QuantTable::new(&q), st, 16, acc_bound);
    assert_eq!(lq.fixups().collect::<Vec<_>>(), vec![2]);
    assert_ne!(lq.mode, dsp::Mode::Exact);
    let (mut a, mut c) = (vec![0i8; 9 * 16], vec![0i8; 9 * 16]);
    let bv = Some(I32Le::new(&bias));
    refk::conv2d(&w, &input, 128, &filter, 128, bv, QuantTable::new(&q), st, &mut a);
    dsp::conv2d(&w, &input, 128, &filter, 128, bv, QuantTable::new(&q), st, &mut c);
    assert_eq!(a, c);
    // The straddling channel really takes both values, so a constant would be wrong.
    let ch2: Vec<i8> = a.iter().skip(2).step_by(16).copied().collect();
    assert!(ch2.iter().any(|&v| v != ch2[0]), "channel 2 is constant: {ch2:?}");
}

/// The shapes the DSP kernels special-case: pointwise 1x1 convolutions (K = 8 is its own
/// pixel-stationary kernel) in the fast requantization mode (full int8 output range), and
/// depthwise 3x3 stride 1 and 2 rows wide enough for the channel-planar kernel.
#[test]
fn special_cased_shapes_match_reference() {
    let mut r = Rng(9);
    let full = OutputStage { output_offset: 0, act_min: -128, act_max: 127 };
    for i in 0..300 {
        let depthwise = i % 2 == 1;
        let c = if depthwise { 4 * r.range(1, 40) } else { 8 };
        let out_c = if depthwise { c } else { r.range(1, 65) };
        let (h, wd) = (r.range(3, 9), r.range(3, 20));
        let (k, pad) = if depthwise { (3, r.range(0, 1)) } else { (1, 0) };
        let stride = if depthwise { r.range(1, 2) } else { 1 };
        let out = |n: usize| (n + 2 * pad - k) / stride + 1;
        let w = Window {
            batches: r.range(1, 3),
            in_h: h,
            in_w: wd,
            in_c: c,
            out_h: out(h),
            out_w: out(wd),
            out_c,
            filter_h: k,
            filter_w: k,
            stride_h: stride,
            stride_w: stride,
            dilation_h: 1,
            dilation_w: 1,
            pad_h: pad,
            pad_w: pad,
        };
        let input = r.i8s(w.batches * h * wd * c);
        let filter = r.i8s(out_c * k * k * if depthwise { 1 } else { c });
        // Small biases and multipliers below 2^31 with shifts -1..-12: the fast mode.
        let bias: Vec<u8> = (0..out_c).flat_map(|_| ((r.next() % 20001) as i32 - 10000).to_le_bytes()).collect();
        let q: Vec<u8> = (0..out_c)
            .flat_map(|_| {
                let m = (1i32 << 30) + (r.next() % (1 << 30)) as i32;
                let s = -((r.next() % 12) as i32) - 1;
                m.to_le_bytes().into_iter().chain(s.to_le_bytes())
            })
            .collect();
        let st = OutputStage { output_offset: (r.next() % 256) as i32 - 128, ..full };
        let io = (r.next() % 256) as i32 - 127;
        let n = w.batches * w.out_h * w.out_w * out_c;
        let (mut a, mut c2) = (vec![0i8; n], vec![0i8; n]);
        let bv = Some(I32Le::new(&bias));
        if depthwise {
            refk::depthwise_conv2d(&w, 1, &input, io, &filter, bv, QuantTable::new(&q), st, &mut a);
            dsp::depthwise_conv2d(&w, 1, &input, io, &filter, bv, QuantTable::new(&q), st, &mut c2);
        } else {
            refk::conv2d(&w, &input, io, &filter, w.in_c, bv, QuantTable::new(&q), st, &mut a);
            dsp::conv2d(&w, &input, io, &filter, w.in_c, bv, QuantTable::new(&q), st, &mut c2);
        }
        assert_eq!(a, c2, "{w:?}");
    }
}
