//! Host benchmarks of the int8 kernels: reference, portable optimized, and the DSP kernels
//! (whose SMLAD/SXTB16 instructions are emulated in plain Rust on the host, so their host
//! timings say nothing about a Cortex-M; the device figures come from `mcubench run`).
//!
//! `cargo bench -p mcubench-runtime --bench kernels` (add `-- conv` to filter).
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use mcubench_runtime::kernels::{dsp, portable, reference, I32Le, OutputStage, QuantTable, Window};

fn data(n: usize, seed: u32) -> Vec<i8> {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as i8
        })
        .collect()
}

fn quant(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| ((1i32 << 30) + i as i32 * 9973).to_le_bytes().into_iter().chain((-8i32).to_le_bytes())).collect()
}

fn bias(n: usize) -> Vec<u8> {
    (0..n).flat_map(|i| (i as i32 * 37 - 500).to_le_bytes()).collect()
}

const STAGE: OutputStage = OutputStage { output_offset: -128, act_min: -128, act_max: 127 };

type ConvFn = fn(&Window, &[i8], i32, &[i8], usize, Option<I32Le<'_>>, QuantTable<'_>, OutputStage, &mut [i8]);
type DwFn = fn(&Window, usize, &[i8], i32, &[i8], Option<I32Le<'_>>, QuantTable<'_>, OutputStage, &mut [i8]);

fn window(hw: usize, in_c: usize, out_c: usize, k: usize) -> Window {
    Window {
        batches: 1,
        in_h: hw,
        in_w: hw,
        in_c,
        out_h: hw,
        out_w: hw,
        out_c,
        filter_h: k,
        filter_w: k,
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
        pad_h: k / 2,
        pad_w: k / 2,
    }
}

fn conv(c: &mut Criterion) {
    // A ResNet-8 3x3 layer and a MobileNet 1x1 pointwise layer.
    for (name, w) in [("conv3x3_16x16x32", window(16, 32, 32, 3)), ("conv1x1_12x12x64", window(12, 64, 64, 1))] {
        let input = data(w.in_h * w.in_w * w.in_c, 1);
        let filter = data(w.out_c * w.filter_h * w.filter_w * w.in_c, 2);
        let (b, q) = (bias(w.out_c), quant(w.out_c));
        let mut out = vec![0i8; w.out_h * w.out_w * w.out_c];
        let mut g = c.benchmark_group(name);
        let fns: [(&str, ConvFn); 3] = [("reference", reference::conv2d), ("portable", portable::conv2d), ("dsp_emulated", dsp::conv2d)];
        for (k, f) in fns {
            g.bench_function(k, |bch| {
                bch.iter(|| f(&w, black_box(&input), 128, &filter, w.in_c, Some(I32Le::new(&b)), QuantTable::new(&q), STAGE, &mut out))
            });
        }
        g.finish();
    }
}

fn depthwise(c: &mut Criterion) {
    let w = window(24, 32, 32, 3);
    let input = data(w.in_h * w.in_w * w.in_c, 3);
    let filter = data(9 * w.out_c, 4);
    let (b, q) = (bias(w.out_c), quant(w.out_c));
    let mut out = vec![0i8; w.out_h * w.out_w * w.out_c];
    let mut g = c.benchmark_group("dwconv3x3_24x24x32");
    let fns: [(&str, DwFn); 3] =
        [("reference", reference::depthwise_conv2d), ("portable", portable::depthwise_conv2d), ("dsp_emulated", dsp::depthwise_conv2d)];
    for (k, f) in fns {
        g.bench_function(k, |bch| {
            bch.iter(|| f(&w, 1, black_box(&input), 128, &filter, Some(I32Le::new(&b)), QuantTable::new(&q), STAGE, &mut out))
        });
    }
    g.finish();
}

fn fully_connected(c: &mut Criterion) {
    let (d, o) = (640, 128);
    let input = data(d, 5);
    let filter = data(d * o, 6);
    let (b, q) = (bias(o), quant(1));
    let mut out = vec![0i8; o];
    let mut g = c.benchmark_group("fc_640x128");
    type FcFn = fn(&[i8], i32, &[i8], i32, Option<I32Le<'_>>, QuantTable<'_>, OutputStage, usize, usize, usize, &mut [i8]);
    let fns: [(&str, FcFn); 3] =
        [("reference", reference::fully_connected), ("portable", portable::fully_connected), ("dsp_emulated", dsp::fully_connected)];
    for (k, f) in fns {
        g.bench_function(k, |bch| {
            bch.iter(|| f(black_box(&input), 89, &filter, 0, Some(I32Le::new(&b)), QuantTable::new(&q), STAGE, 1, d, o, &mut out))
        });
    }
    g.finish();
}

criterion_group!(benches, conv, depthwise, fully_connected);
criterion_main!(benches);
