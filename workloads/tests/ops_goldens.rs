//! Bit-exact checks of the PAD, PADV2, MEAN, CONCATENATION, MUL, LOGISTIC and QUANTIZE
//! kernels against TFLite Micro, on the small models of `goldens/ops/` (written, and their
//! goldens computed, by `goldens/ops/make_op_goldens.py`).
use std::path::PathBuf;

use mcubench_runtime::{Interpreter, KernelSet, Model};
use mcubench_workloads::{import_tflite, ImportError};

const SEEDS: usize = 10;

fn ops_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("goldens").join("ops")
}

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Imports `name.tflite`, runs all goldens with both kernel sets and compares every byte;
/// returns the number of (golden, kernel set) runs.
fn check(name: &str, expect_ops: &[&str]) -> usize {
    let im = import_tflite(&read(ops_dir().join(format!("{name}.tflite"))))
        .unwrap_or_else(|e| panic!("{name}: import failed: {e}"));
    for op in expect_ops {
        assert!(im.ops.iter().any(|o| o == op), "{name}: expected a {op} op, got {:?}", im.ops);
    }
    let model = Model::from_bytes(&im.blob).expect("blob validates");
    let mut arena = vec![0u8; model.arena_bytes()];
    let mut it = Interpreter::new(&model, &mut arena).unwrap();
    let mut runs = 0;
    for seed in 0..SEEDS {
        let dir = ops_dir().join(name);
        let input: Vec<i8> = read(dir.join(format!("input_{seed}.bin"))).into_iter().map(|b| b as i8).collect();
        let golden: Vec<i8> = read(dir.join(format!("output_{seed}.bin"))).into_iter().map(|b| b as i8).collect();
        for set in [KernelSet::Reference, KernelSet::Optimized] {
            it.set_kernels(set);
            it.input_mut().copy_from_slice(&input);
            it.invoke().unwrap();
            let out = it.output();
            assert_eq!(out.len(), golden.len(), "{name}: output size");
            let diffs: Vec<(usize, i8, i8)> =
                out.iter().zip(&golden).enumerate().filter(|(_, (a, b))| a != b).map(|(i, (a, b))| (i, *a, *b)).collect();
            assert!(
                diffs.is_empty(),
                "{name} seed {seed} ({set:?} kernels): {} of {} output bytes differ (index, ours, TFLM): {:?}",
                diffs.len(),
                out.len(),
                &diffs[..diffs.len().min(10)]
            );
            runs += 1;
        }
    }
    println!("{name}: {SEEDS} goldens bit exact (reference and optimized kernels), ops {:?}", im.ops);
    runs
}

macro_rules! golden_test {
    ($test:ident, $name:literal, [$($op:literal),*]) => {
        #[test]
        fn $test() {
            assert_eq!(check($name, &[$($op),*]), 2 * SEEDS);
        }
    };
}

golden_test!(pad_basic, "pad_basic", ["PAD"]);
golden_test!(padv2_channels, "padv2_channels", ["PADV2"]);
golden_test!(pad_rank2, "pad_rank2", ["PAD"]);
golden_test!(pad_mixed_quant, "pad_mixed_quant", ["PAD"]);
golden_test!(conv_pad_mean, "conv_pad_mean", ["CONV_2D", "PAD", "MEAN"]);
golden_test!(mean_flat_requant, "mean_flat_requant", ["MEAN"]);
golden_test!(mean_flat_same_quant, "mean_flat_same_quant", ["MEAN"]);
golden_test!(mean_keep_negative_axes, "mean_keep_negative_axes", ["MEAN"]);
golden_test!(quantize_concat, "quantize_concat", ["QUANTIZE", "MUL", "CONCATENATION"]);
golden_test!(concat_axis1_const, "concat_axis1_const", ["CONCATENATION"]);
golden_test!(quantize_upscale, "quantize_upscale", ["QUANTIZE"]);
golden_test!(mul_same_shape, "mul_same_shape", ["QUANTIZE", "MUL"]);
golden_test!(mul_broadcast, "mul_broadcast", ["MUL"]);
golden_test!(logistic_wide, "logistic_wide", ["LOGISTIC"]);
golden_test!(logistic_narrow, "logistic_narrow", ["LOGISTIC"]);
golden_test!(mean_mul_logistic, "mean_mul_logistic", ["MEAN", "LOGISTIC", "MUL"]);
golden_test!(mean_keep_same_quant, "mean_keep_same_quant", ["MEAN"]);
golden_test!(mean_large_window, "mean_large_window", ["MEAN"]);
golden_test!(mul_broadcast_both, "mul_broadcast_both", ["MUL"]);
golden_test!(logistic_coarse, "logistic_coarse", ["LOGISTIC"]);

/// The error for a model the importer must reject: (op index, op name, reason).
fn rejection(name: &str) -> (usize, String, String) {
    match import_tflite(&read(ops_dir().join(format!("{name}.tflite")))) {
        Err(ImportError::Unsupported { index, op, reason }) => (index, op, reason),
        Err(e) => panic!("{name}: unexpected error kind: {e}"),
        Ok(_) => panic!("{name}: imported, but must be rejected"),
    }
}

#[test]
fn non_constant_paddings_are_rejected_with_op_and_index() {
    let (index, op, reason) = rejection("bad_pad_dynamic_paddings");
    assert_eq!((index, op.as_str()), (0, "PAD"), "{reason}");
    assert!(reason.contains("paddings tensor 1 must be a constant int32 [4, 2]"), "{reason}");
    let msg = import_tflite(&read(ops_dir().join("bad_pad_dynamic_paddings.tflite"))).unwrap_err().to_string();
    assert!(msg.starts_with("operator 0 (PAD): "), "{msg}");
}

#[test]
fn mixed_quantization_concat_is_rejected() {
    let (index, op, reason) = rejection("bad_concat_mixed_quant");
    assert_eq!((index, op.as_str()), (1, "CONCATENATION"), "{reason}");
    assert!(reason.contains("input 0 quantization"), "{reason}");
}

#[test]
fn mean_over_channels_is_rejected() {
    let (index, op, reason) = rejection("bad_mean_channel_axis");
    assert_eq!((index, op.as_str()), (0, "MEAN"), "{reason}");
    assert!(reason.contains("axes 1, 2"), "{reason}");
}

#[test]
fn float_quantize_input_is_rejected() {
    let (index, op, reason) = rejection("bad_quantize_float_input");
    assert_eq!((index, op.as_str()), (0, "QUANTIZE"), "{reason}");
    assert!(reason.contains("unsupported tensor type float32 for QUANTIZE input at op 0"), "{reason}");
}

/// Corrupting any byte of the op models (options, shapes, quantization, constant paddings and
/// axes) gives an import error or a blob that validates and runs: never a panic.
#[test]
fn corrupted_op_models_never_panic() {
    let mut names: Vec<PathBuf> = std::fs::read_dir(ops_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tflite"))
        .collect();
    names.sort();
    assert!(names.len() >= 20);
    let (mut imported, mut tried) = (0usize, 0usize);
    for path in names {
        let bytes = read(path);
        for pos in 0..bytes.len() {
            for v in [0x00u8, 0xFF, bytes[pos] ^ 0x01, bytes[pos] ^ 0x80] {
                let mut b = bytes.clone();
                b[pos] = v;
                tried += 1;
                if let Ok(im) = import_tflite(&b) {
                    imported += 1;
                    let m = Model::from_bytes(&im.blob).expect("an imported blob validates");
                    if m.arena_bytes() > 64 * 1024 {
                        continue; // a corrupted dimension: valid, but slow to run
                    }
                    let mut arena = vec![0u8; m.arena_bytes()];
                    let mut it = Interpreter::new(&m, &mut arena).unwrap();
                    for set in [KernelSet::Reference, KernelSet::Optimized] {
                        it.set_kernels(set);
                        it.invoke().unwrap();
                    }
                }
            }
        }
    }
    println!("{imported} of {tried} corrupted op models imported (and, if small, ran)");
}
