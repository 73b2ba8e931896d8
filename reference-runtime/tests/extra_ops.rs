//! PAD, MEAN, CONCATENATION, MUL, LOGISTIC and QUANTIZE on hand-built blobs: hand-checked
//! results, both kernel sets agreeing, validation errors naming the op, and a mutation fuzzer.
//! (Bit exactness against TFLM is checked by `workloads/tests/ops_goldens.rs`.)
use mcubench_runtime::fixedpoint::quantize_multiplier;
use mcubench_runtime::format::builder::BlobBuilder;
use mcubench_runtime::format::*;
use mcubench_runtime::{Interpreter, KernelSet, Model, ModelError};

/// Minimal blob builder: every activation gets its own arena bytes.
#[derive(Default)]
struct B {
    b: BlobBuilder,
    next_arena: u32,
}

fn dims(shape: &[u32]) -> ([u32; 4], u8) {
    let mut d = [1u32; 4];
    d[..shape.len()].copy_from_slice(shape);
    (d, shape.len() as u8)
}

impl B {
    fn act(&mut self, shape: &[u32], scale: f32, zp: i32) -> u16 {
        let (dims, rank) = dims(shape);
        let n: u32 = shape.iter().product();
        let off = self.next_arena;
        self.next_arena = (off + n + 15) & !15;
        self.b.arena_bytes = self.next_arena;
        self.b.push_tensor(TensorRecord { dtype: DTYPE_INT8, rank, storage: STORAGE_ARENA, dims, offset: off, byte_len: n, scale, zero_point: zp })
    }

    fn constant(&mut self, shape: &[u32], data: &[i8]) -> u16 {
        let (dims, rank) = dims(shape);
        let bytes: Vec<u8> = data.iter().map(|&v| v as u8).collect();
        let off = self.b.push_data(&bytes);
        self.b.push_tensor(TensorRecord {
            dtype: DTYPE_INT8,
            rank,
            storage: STORAGE_CONST,
            dims,
            offset: off,
            byte_len: data.len() as u32,
            scale: 0.1,
            zero_point: 0,
        })
    }

    fn op(&mut self, code: OpCode, inputs: &[u16], output: u16, params: &[(usize, i32)]) {
        let mut r = OpRecord { opcode: code as u8, n_inputs: inputs.len() as u8, n_outputs: 1, inputs: [NO_TENSOR; MAX_OP_INPUTS], output, params: [0; NUM_PARAMS] };
        r.inputs[..inputs.len()].copy_from_slice(inputs);
        for &(k, v) in params {
            r.params[k] = v;
        }
        self.b.ops.push(r);
    }

    fn finish(mut self, input: u16, output: u16) -> Vec<u8> {
        self.b.input_tensor = input as u32;
        self.b.output_tensor = output as u32;
        self.b.finish()
    }
}

/// Runs with both kernel sets, checks they agree, returns the output.
fn run(blob: &[u8], input: &[i8]) -> Vec<i8> {
    let m = Model::from_bytes(blob).unwrap_or_else(|e| panic!("{e}"));
    let mut arena = vec![0u8; m.arena_bytes()];
    let mut it = Interpreter::new(&m, &mut arena).unwrap();
    let mut outs = Vec::new();
    for set in [KernelSet::Reference, KernelSet::Optimized] {
        it.set_kernels(set);
        it.input_mut().copy_from_slice(input);
        it.invoke().unwrap();
        outs.push(it.output().to_vec());
    }
    assert_eq!(outs[0], outs[1], "reference and optimized kernels differ");
    outs.pop().unwrap()
}

/// (multiplier, shift) of 1.0.
const UNIT: (i32, i32) = (1 << 30, 1);

fn pad_blob(before: [i32; 2], after: [i32; 2], out_shape: &[u32]) -> Vec<u8> {
    let mut b = B::default();
    let x = b.act(&[2, 2], 0.1, 7);
    let y = b.act(out_shape, 0.1, 7);
    b.op(
        OpCode::Pad,
        &[x],
        y,
        &[(P_PAD_VALUE, 7), (P_PAD_BEFORE, before[0]), (P_PAD_BEFORE + 1, before[1]), (P_PAD_AFTER, after[0]), (P_PAD_AFTER + 1, after[1])],
    );
    b.finish(x, y)
}

#[test]
fn pad_by_hand() {
    let out = run(&pad_blob([1, 0], [0, 1], &[3, 3]), &[1, 2, 3, 4]);
    assert_eq!(out, vec![7, 7, 7, 1, 2, 7, 3, 4, 7]);
}

fn mean_blob(in_shape: [u32; 4], out_shape: &[u32], zp_in: i32, zp_out: i32, ratio: f64) -> Vec<u8> {
    let mut b = B::default();
    let x = b.act(&in_shape, 0.1, zp_in);
    let y = b.act(out_shape, 0.1, zp_out);
    // As the importer folds 1/n into the multiplier (TFLM's QuantizedMeanOrSum).
    let (m, s) = quantize_multiplier(ratio).unwrap();
    let n = (in_shape[1] * in_shape[2]) as i64;
    let extra = (63 - (n as u64).leading_zeros() as i32).min(32).min(31 + s);
    let m = (((m as i64) << extra) / n) as i32;
    b.op(OpCode::Mean, &[x], y, &[(P_MEAN_INPUT_ZP, zp_in), (P_MEAN_OUTPUT_ZP, zp_out), (P_MEAN_MULTIPLIER, m), (P_MEAN_SHIFT, s - extra)]);
    b.finish(x, y)
}

#[test]
fn mean_by_hand() {
    // Two channels over a 2x2 window: sums 10 and -6 (after the zero point 1), n = 4.
    let input = [3, 0, 1, -1, 4, 0, 6, -1];
    let out = run(&mean_blob([1, 2, 2, 2], &[1, 1, 1, 2], 1, -2, 1.0), &input);
    // 10/4 = 2.5 -> 3 (half away from zero); -6/4 = -1.5 -> -2; plus the output zero point.
    assert_eq!(out, vec![3 - 2, -2 - 2]);
    // Output scale half the input's: doubled.
    let out = run(&mean_blob([1, 2, 2, 2], &[1, 2], 1, 0, 2.0), &input);
    assert_eq!(out, vec![5, -3]);
}

#[test]
fn concatenation_by_hand() {
    let mut b = B::default();
    let x = b.act(&[2, 2, 2], 0.1, 0);
    let c = b.constant(&[2, 1, 2], &[-1, -2, -3, -4]);
    let y = b.act(&[2, 3, 2], 0.1, 0);
    b.op(OpCode::Concatenation, &[x, c], y, &[(P_CONCAT_AXIS, 1)]);
    let out = run(&b.finish(x, y), &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(out, vec![1, 2, 3, 4, -1, -2, 5, 6, 7, 8, -3, -4]);
}

fn mul_params(in1_off: i32, in2_off: i32, out_off: i32, (m, s): (i32, i32)) -> Vec<(usize, i32)> {
    vec![
        (P_ACT_MIN, -128),
        (P_ACT_MAX, 127),
        (P_MUL_INPUT1_OFFSET, in1_off),
        (P_MUL_INPUT2_OFFSET, in2_off),
        (P_MUL_OUTPUT_OFFSET, out_off),
        (P_MUL_MULTIPLIER, m),
        (P_MUL_SHIFT, s),
    ]
}

#[test]
fn mul_broadcast_by_hand() {
    let mut b = B::default();
    let x = b.act(&[2, 3], 0.1, 0);
    let v = b.constant(&[3], &[1, -2, 3]);
    let y = b.act(&[2, 3], 0.1, 0);
    b.op(OpCode::Mul, &[x, v], y, &mul_params(0, 0, 1, UNIT));
    let out = run(&b.finish(x, y), &[1, 2, 3, 40, 50, 60]);
    assert_eq!(out, vec![2, -3, 10, 41, -99, 127]);
}

fn logistic_blob(scale: f64, zp: i32) -> Vec<u8> {
    let mut b = B::default();
    let x = b.act(&[8], scale as f32, zp);
    let y = b.act(&[8], 1.0 / 256.0, -128);
    let (m, s) = quantize_multiplier(scale * (1u64 << 27) as f64).unwrap();
    let radius = (15.0 * (1u64 << 27) as f64 / (1u64 << s) as f64).floor() as i32;
    b.op(OpCode::Logistic, &[x], y, &[(P_LOGISTIC_INPUT_ZP, zp), (P_LOGISTIC_RANGE_RADIUS, radius), (P_LOGISTIC_MULTIPLIER, m), (P_LOGISTIC_LEFT_SHIFT, s)]);
    b.finish(x, y)
}

#[test]
fn logistic_is_monotonic_and_close_to_float() {
    let (scale, zp) = (0.1f64, 5);
    let input = [-128, -40, -10, 0, 5, 15, 60, 127];
    let out = run(&logistic_blob(scale, zp), &input);
    assert_eq!(out[4], 0, "sigmoid(0) = 0.5 -> 128 / 256 -> q = 0");
    assert!(out.windows(2).all(|w| w[0] <= w[1]), "{out:?}");
    for (&q, &o) in input.iter().zip(&out) {
        let real = 1.0 / (1.0 + (-(scale * (q as i32 - zp) as f64)).exp());
        let expect = (real * 256.0).round() - 128.0;
        assert!((expect.min(127.0) - o as f64).abs() <= 1.0, "x={q}: {o} vs {expect}");
    }
}

#[test]
fn quantize_by_hand() {
    let mut b = B::default();
    let x = b.act(&[4], 0.1, 3);
    let y = b.act(&[4], 0.2, -1);
    let (m, s) = quantize_multiplier(0.5).unwrap();
    b.op(OpCode::Quantize, &[x], y, &[(P_REQUANT_INPUT_ZP, 3), (P_REQUANT_OUTPUT_ZP, -1), (P_REQUANT_MULTIPLIER, m), (P_REQUANT_SHIFT, s)]);
    // (x - 3) / 2, minus 1; with shift 0 all rounding is SaturatingRoundingDoublingHighMul's,
    // whose ties go up (-1.5 -> -1), unlike RoundingDivideByPOT's (away from zero).
    let out = run(&b.finish(x, y), &[3, 6, 0, -128]);
    assert_eq!(out, vec![-1, 1, -2, -66]);
}

fn op_error(blob: &[u8]) -> (usize, &'static str) {
    match Model::from_bytes(blob) {
        Err(ModelError::BadOp { index, reason }) => (index, reason),
        other => panic!("expected BadOp, got {other:?}"),
    }
}

#[test]
fn bad_params_are_validation_errors() {
    // PAD: the output is not input + paddings; negative padding.
    assert_eq!(op_error(&pad_blob([1, 0], [0, 1], &[3, 4])), (0, "PAD output shape is not input + paddings"));
    assert_eq!(op_error(&pad_blob([-1, 0], [2, 1], &[3, 3])), (0, "negative PAD padding"));
    // MEAN: output shape; shift out of range.
    assert_eq!(op_error(&mean_blob([1, 2, 2, 2], &[1, 2, 2], 0, 0, 1.0)), (0, "MEAN output must be [N, 1, 1, C] or [N, C]"));
    let mut blob = mean_blob([1, 2, 2, 2], &[1, 2], 0, 0, 1.0);
    let ops_off = Model::from_bytes(&blob).unwrap().header().ops_off as usize;
    blob[ops_off + 16 + 4 * P_MEAN_SHIFT..ops_off + 20 + 4 * P_MEAN_SHIFT].copy_from_slice(&40i32.to_le_bytes());
    assert_eq!(op_error(&blob), (0, "requant multiplier/shift out of range"));
    // CONCATENATION: axis out of range, sizes that do not add up.
    for (axis, shape, reason) in [
        (3, [2u32, 3, 2], "CONCATENATION axis out of range"),
        (1, [2, 4, 2], "CONCATENATION output axis is not the sum of the inputs'"),
    ] {
        let mut b = B::default();
        let x = b.act(&[2, 2, 2], 0.1, 0);
        let c = b.constant(&[2, 1, 2], &[0; 4]);
        let y = b.act(&shape, 0.1, 0);
        b.op(OpCode::Concatenation, &[x, c], y, &[(P_CONCAT_AXIS, axis)]);
        assert_eq!(op_error(&b.finish(x, y)), (0, reason));
    }
    // MUL: a vector that does not broadcast; an offset outside int8.
    let mut b = B::default();
    let x = b.act(&[2, 3], 0.1, 0);
    let v = b.constant(&[2], &[1, 2]);
    let y = b.act(&[2, 3], 0.1, 0);
    b.op(OpCode::Mul, &[x, v], y, &mul_params(0, 0, 0, UNIT));
    assert_eq!(op_error(&b.finish(x, y)), (0, "MUL input does not broadcast to the output"));
    let mut b = B::default();
    let x = b.act(&[2, 3], 0.1, 0);
    let y = b.act(&[2, 3], 0.1, 0);
    b.op(OpCode::Mul, &[x, x], y, &mul_params(300, 0, 0, UNIT));
    assert_eq!(op_error(&b.finish(x, y)), (0, "zero-point offset out of range"));
    // LOGISTIC: negative radius.
    let mut blob = logistic_blob(0.1, 0);
    let ops_off = Model::from_bytes(&blob).unwrap().header().ops_off as usize;
    let at = ops_off + 16 + 4 * P_LOGISTIC_RANGE_RADIUS;
    blob[at..at + 4].copy_from_slice(&(-1i32).to_le_bytes());
    assert_eq!(op_error(&blob), (0, "bad LOGISTIC parameters"));
    // QUANTIZE: zero point outside int8; size mismatch.
    let mut b = B::default();
    let x = b.act(&[4], 0.1, 0);
    let y = b.act(&[4], 0.1, 0);
    b.op(OpCode::Quantize, &[x], y, &[(P_REQUANT_OUTPUT_ZP, 200), (P_REQUANT_MULTIPLIER, UNIT.0), (P_REQUANT_SHIFT, UNIT.1)]);
    assert_eq!(op_error(&b.finish(x, y)), (0, "zero point or fill value outside int8"));
    let mut b = B::default();
    let x = b.act(&[4], 0.1, 0);
    let y = b.act(&[5], 0.1, 0);
    b.op(OpCode::Quantize, &[x], y, &[(P_REQUANT_MULTIPLIER, UNIT.0), (P_REQUANT_SHIFT, UNIT.1)]);
    assert_eq!(op_error(&b.finish(x, y)), (0, "QUANTIZE shape mismatch"));
}

/// A chain through every new op, for the fuzzer.
fn chain_blob() -> Vec<u8> {
    let mut b = B::default();
    let x = b.act(&[1, 3, 3, 2], 0.1, 2);
    let p = b.act(&[1, 5, 4, 2], 0.1, 2);
    b.op(OpCode::Pad, &[x], p, &[(P_PAD_VALUE, 2), (P_PAD_BEFORE + 1, 1), (P_PAD_AFTER + 1, 1), (P_PAD_AFTER + 2, 1)]);
    let q = b.act(&[1, 5, 4, 2], 0.2, -3);
    let (m, s) = quantize_multiplier(0.5).unwrap();
    b.op(OpCode::Quantize, &[p], q, &[(P_REQUANT_INPUT_ZP, 2), (P_REQUANT_OUTPUT_ZP, -3), (P_REQUANT_MULTIPLIER, m), (P_REQUANT_SHIFT, s)]);
    let c = b.act(&[1, 5, 4, 4], 0.2, -3);
    let k = b.constant(&[1, 5, 4, 2], &(0..40).map(|i| (i * 13 % 256) as u8 as i8).collect::<Vec<_>>());
    b.op(OpCode::Concatenation, &[q, k], c, &[(P_CONCAT_AXIS, 3)]);
    let mu = b.act(&[1, 5, 4, 4], 0.3, 1);
    let v = b.constant(&[4], &[10, -20, 30, 127]);
    let (mm, ms) = quantize_multiplier(0.2 * 0.1 / 0.3).unwrap();
    b.op(OpCode::Mul, &[c, v], mu, &mul_params(3, 0, 1, (mm, ms)));
    let me = b.act(&[1, 4], 0.05, 0);
    let (m2, s2) = quantize_multiplier(0.3 / 0.05).unwrap();
    let (m2, s2) = (((m2 as i64) << 4) / 20, s2 - 4);
    b.op(OpCode::Mean, &[mu], me, &[(P_MEAN_INPUT_ZP, 1), (P_MEAN_MULTIPLIER, m2 as i32), (P_MEAN_SHIFT, s2)]);
    let lo = b.act(&[1, 4], 1.0 / 256.0, -128);
    let (lm, ls) = quantize_multiplier(0.05 * (1u64 << 27) as f64).unwrap();
    let radius = (15.0 * (1u64 << 27) as f64 / (1u64 << ls) as f64).floor() as i32;
    b.op(OpCode::Logistic, &[me], lo, &[(P_LOGISTIC_RANGE_RADIUS, radius), (P_LOGISTIC_MULTIPLIER, lm), (P_LOGISTIC_LEFT_SHIFT, ls)]);
    b.finish(x, lo)
}

#[test]
fn chain_of_new_ops_runs() {
    let input: Vec<i8> = (0..18).map(|i| (i * 37 % 256) as u8 as i8).collect();
    let out = run(&chain_blob(), &input);
    assert_eq!(out.len(), 4);
    assert_eq!(Model::from_bytes(&chain_blob()).unwrap().op_count(), 6);
}

#[test]
fn mutated_blobs_never_panic() {
    let blob = chain_blob();
    let meta_end = Model::from_bytes(&blob).unwrap().header().data_off as usize;
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    };
    let rounds: usize = std::env::var("MCUBENCH_FUZZ_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let mut accepted = 0;
    for _ in 0..rounds {
        let mut b = blob.clone();
        for _ in 0..1 + next() % 3 {
            let pos = next() as usize % meta_end;
            let v = next();
            b[pos] = match v % 4 {
                0 => (v >> 8) as u8,
                1 => b[pos] ^ (1 << ((v >> 8) % 8)),
                2 => 0,
                _ => 0xFF,
            };
        }
        if let Ok(m) = Model::from_bytes(&b) {
            accepted += 1;
            let mut arena = vec![0u8; m.arena_bytes()];
            let mut it = Interpreter::new(&m, &mut arena).unwrap();
            for set in [KernelSet::Reference, KernelSet::Optimized] {
                it.set_kernels(set);
                it.invoke().unwrap();
            }
        }
    }
    println!("{accepted} of {rounds} mutated blobs validated and ran");
    assert!(accepted > 0);
}
