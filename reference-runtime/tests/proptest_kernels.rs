//! Property tests: on random shapes, paddings, strides, dilations, offsets, requantization
//! parameters and data, the optimized kernels (the portable ones and the DSP ones, whose
//! instructions are emulated bit for bit on the host) equal the reference kernels byte for
//! byte. The same DSP code runs on the device with the real instructions; the on-device
//! golden checks (`mcubench run --golden-checks 10`) cover that path.
use mcubench_runtime::kernels::{dsp, optimized, portable, reference, simd, I32Le, OutputStage, QuantTable, Window};
use proptest::prelude::*;

fn bytes(seed: u64, n: usize) -> Vec<i8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as i8
        })
        .collect()
}

fn quant_strategy(n: usize) -> impl Strategy<Value = Vec<u8>> {
    let shift = prop_oneof![8 => -15i32..=-1, 1 => Just(0i32), 1 => -31i32..=-16, 1 => 1i32..=3];
    prop::collection::vec(((1i32 << 30)..i32::MAX, shift), n)
        .prop_map(|v| v.into_iter().flat_map(|(m, s)| m.to_le_bytes().into_iter().chain(s.to_le_bytes())).collect())
}

fn bias_strategy(n: usize) -> impl Strategy<Value = Vec<u8>> {
    let b = prop_oneof![8 => -20000i32..20000, 1 => Just(1i32 << 30), 1 => any::<i32>()];
    prop::collection::vec(b, n).prop_map(|v| v.into_iter().flat_map(i32::to_le_bytes).collect())
}

fn stage_strategy() -> impl Strategy<Value = OutputStage> {
    (-128i32..=127, prop_oneof![Just((-128, 127)), (-128i32..=0, 0i32..=127)])
        .prop_map(|(o, (lo, hi))| OutputStage { output_offset: o, act_min: lo, act_max: hi })
}

#[derive(Debug, Clone)]
struct Case {
    w: Window,
    input_offset: i32,
    seed: u64,
}

fn window_strategy(depthwise: bool) -> impl Strategy<Value = Case> {
    (
        (1usize..=5, 1usize..=5, prop_oneof![(1usize..=10).prop_map(|c| 4 * c), 1usize..=20], 1usize..=40),
        (1usize..=3, 1usize..=3, prop_oneof![3 => Just((1usize, 1usize)), 1 => (1usize..=3, 1usize..=3)]),
        (1usize..=9, 1usize..=9, 1usize..=2),
        (-128i32..=128, any::<u64>()),
    )
        .prop_flat_map(move |((fh, fw, in_c, oc), (sh, sw, (dh, dw)), (ih, iw, batches), (io, seed))| {
            (0..=fh, 0..=fw, 1usize..=6, 1usize..=6).prop_map(move |(ph, pw, oh, ow)| Case {
                w: Window {
                    batches,
                    in_h: ih,
                    in_w: iw,
                    in_c,
                    out_h: oh,
                    out_w: ow,
                    out_c: if depthwise { in_c } else { oc },
                    filter_h: fh,
                    filter_w: fw,
                    stride_h: sh,
                    stride_w: sw,
                    dilation_h: dh,
                    dilation_w: dw,
                    pad_h: ph,
                    pad_w: pw,
                },
                input_offset: io,
                seed,
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, .. ProptestConfig::default() })]

    #[test]
    fn conv2d_optimized_equals_reference(
        case in window_strategy(false),
        q in quant_strategy(40),
        b in bias_strategy(40),
        st in stage_strategy(),
        with_bias in any::<bool>(),
    ) {
        let w = case.w;
        let input = bytes(case.seed, w.batches * w.in_h * w.in_w * w.in_c);
        let filter = bytes(case.seed ^ 0x55, w.out_c * w.filter_h * w.filter_w * w.in_c);
        let q = &q[..8 * w.out_c];
        let bias = with_bias.then(|| I32Le::new(&b[..4 * w.out_c]));
        let n = w.batches * w.out_h * w.out_w * w.out_c;
        let mut want = vec![0i8; n];
        reference::conv2d(&w, &input, case.input_offset, &filter, w.in_c, bias, QuantTable::new(q), st, &mut want);
        for f in [portable::conv2d, dsp::conv2d, optimized::conv2d] {
            let mut got = vec![0i8; n];
            f(&w, &input, case.input_offset, &filter, w.in_c, bias, QuantTable::new(q), st, &mut got);
            prop_assert_eq!(&got, &want);
        }
    }

    #[test]
    fn depthwise_optimized_equals_reference(
        case in window_strategy(true),
        q in quant_strategy(40),
        b in bias_strategy(40),
        st in stage_strategy(),
    ) {
        let w = case.w;
        let input = bytes(case.seed, w.batches * w.in_h * w.in_w * w.in_c);
        let filter = bytes(case.seed ^ 0x33, w.filter_h * w.filter_w * w.out_c);
        let (q, bias) = (&q[..8 * w.out_c], Some(I32Le::new(&b[..4 * w.out_c])));
        let n = w.batches * w.out_h * w.out_w * w.out_c;
        let mut want = vec![0i8; n];
        reference::depthwise_conv2d(&w, 1, &input, case.input_offset, &filter, bias, QuantTable::new(q), st, &mut want);
        for f in [portable::depthwise_conv2d, dsp::depthwise_conv2d, optimized::depthwise_conv2d] {
            let mut got = vec![0i8; n];
            f(&w, 1, &input, case.input_offset, &filter, bias, QuantTable::new(q), st, &mut got);
            prop_assert_eq!(&got, &want);
        }
    }

    #[test]
    fn fully_connected_optimized_equals_reference(
        (batches, depth, out) in (1usize..=3, 1usize..=200, 1usize..=40),
        per_channel in any::<bool>(),
        io in -128i32..=128,
        fo in -127i32..=128,
        q in quant_strategy(40),
        b in bias_strategy(40),
        st in stage_strategy(),
        seed in any::<u64>(),
    ) {
        let input = bytes(seed, batches * depth);
        let filter = bytes(seed ^ 0x77, out * depth);
        let q = if per_channel { &q[..8 * out] } else { &q[..8] };
        let fo = if per_channel { 0 } else { fo };
        let bias = Some(I32Le::new(&b[..4 * out]));
        let mut want = vec![0i8; batches * out];
        reference::fully_connected(&input, io, &filter, fo, bias, QuantTable::new(q), st, batches, depth, out, &mut want);
        for f in [portable::fully_connected, dsp::fully_connected, optimized::fully_connected] {
            let mut got = vec![0i8; batches * out];
            f(&input, io, &filter, fo, bias, QuantTable::new(q), st, batches, depth, out, &mut got);
            prop_assert_eq!(&got, &want);
        }
    }

    /// The five-instruction requantization equals TFLite's for every accumulator within the
    /// bound the kernels check (|acc| < 2^29) and every shift 1..=30 with a foldable offset.
    #[test]
    fn fast_requant_equals_reference(
        acc in -(1i32 << 29) + 1..(1i32 << 29),
        m in any::<i32>(),
        e in 1i32..=21,
        off in -128i32..=127,
    ) {
        let want = mcubench_runtime::fixedpoint::multiply_by_quantized_multiplier(acc, m, -e).wrapping_add(off);
        let hb = (1i32 << (e - 1)) + (off << e);
        prop_assert_eq!(simd::requant_core(acc, m, hb, e), want);
        prop_assert_eq!(simd::requant_core_mask(acc, m, 1 << (e - 1), e, -1, off), want);
        let zero = mcubench_runtime::fixedpoint::multiply_by_quantized_multiplier(acc, m, 0).wrapping_add(off);
        prop_assert_eq!(simd::requant_core_mask(acc, m, off, 0, 0, 0), zero);
    }

    /// The emulated DSP instructions against their definitions.
    #[test]
    fn simd_emulation(a in any::<u32>(), b in any::<u32>(), acc in any::<i32>()) {
        let lo = |x: u32| x as u16 as i16 as i32;
        let hi = |x: u32| (x >> 16) as u16 as i16 as i32;
        prop_assert_eq!(simd::smlad(a, b, acc), acc.wrapping_add(lo(a) * lo(b)).wrapping_add(hi(a) * hi(b)));
        prop_assert_eq!(simd::smladx(a, b, acc), acc.wrapping_add(lo(a) * hi(b)).wrapping_add(hi(a) * lo(b)));
        let s = simd::sxtb16(a);
        prop_assert_eq!((lo(s), hi(s)), ((a as u8 as i8) as i32, ((a >> 16) as u8 as i8) as i32));
        let s = simd::sxtb16_ror8(a);
        prop_assert_eq!((lo(s), hi(s)), (((a >> 8) as u8 as i8) as i32, ((a >> 24) as u8 as i8) as i32));
        let s = simd::sxtab16(b, a);
        prop_assert_eq!(s as u16, (b as u16).wrapping_add((a as u8 as i8) as i16 as u16));
        prop_assert_eq!(simd::smmulr(acc, b as i32), ((acc as i64 * b as i32 as i64 + (1 << 31)) >> 32) as i32);
    }
}
