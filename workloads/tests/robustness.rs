//! Hostile input: truncated, corrupted and random `.tflite` files must give errors, never
//! panics; a blob that validates must run without panicking.
use mcubench_runtime::{Interpreter, Model};
use mcubench_workloads::import::ImportError;
use mcubench_workloads::tflite::flatbuffer::Fb;
use mcubench_workloads::{all, import_tflite};
use proptest::prelude::*;

fn model_bytes(id: &str) -> Option<Vec<u8>> {
    let w = mcubench_workloads::by_id(id).unwrap();
    match std::fs::read(w.model_path()) {
        Ok(b) => Some(b),
        Err(_) => {
            println!("SKIP: model file {} not found", w.model_path().display());
            None
        }
    }
}

/// If an import succeeds, its blob must validate (the importer checks that) and, when `run`,
/// run without panicking.
fn run_if_ok(bytes: &[u8], run: bool) {
    if let Ok(im) = import_tflite(bytes) {
        let m = Model::from_bytes(&im.blob).expect("imported blob validates");
        if run {
            let mut arena = vec![0u8; m.arena_bytes()];
            let mut it = Interpreter::new(&m, &mut arena).unwrap();
            it.invoke().unwrap();
        }
    }
}

#[test]
fn truncated_files_are_errors() {
    for w in all() {
        let Some(bytes) = model_bytes(w.id) else { continue };
        let n = bytes.len();
        // Every cut in the first 512 bytes, then a cut every 61 bytes, then the tail.
        let cuts = (0..512.min(n)).chain((512..n).step_by(61)).chain(n.saturating_sub(64)..n);
        let mut checked = 0;
        for cut in cuts {
            let r = import_tflite(&bytes[..cut]);
            // The last few bytes of a TFLite file can be padding nothing refers to.
            if cut + 16 < n {
                assert!(r.is_err(), "{}: truncation at {cut} of {n} was accepted", w.id);
                let msg = r.unwrap_err().to_string();
                assert!(!msg.is_empty());
            }
            checked += 1;
        }
        println!("{}: {checked} truncations rejected", w.id);
    }
}

#[test]
fn truncation_error_names_object_and_offset() {
    let Some(bytes) = model_bytes("kws01") else { return };
    let err = import_tflite(&bytes[..bytes.len() / 2]).unwrap_err();
    match &err {
        ImportError::Parse(fb) => {
            assert!(fb.what.starts_with("Model"), "{err}");
            assert!(err.to_string().contains("byte offset"), "{err}");
        }
        e => panic!("expected a parse error, got {e}"),
    }
    println!("{err}");
}

#[test]
fn flipped_bytes_never_panic() {
    for w in all() {
        let Some(bytes) = model_bytes(w.id) else { continue };
        // The flatbuffer metadata (tables, vtables, vector headers) sits mostly at the start
        // and the end (weights in between): flip bytes densely there, sparsely elsewhere.
        let n = bytes.len();
        let positions: Vec<usize> = (0..512.min(n))
            .step_by(2)
            .chain((512..n).step_by(n / 64))
            .chain((n.saturating_sub(1024)..n).step_by(3))
            .collect();
        let mut b = bytes.clone();
        for &pos in &positions {
            for mask in [0xFFu8, 0x01] {
                b[pos] ^= mask;
                // Running whole models in a debug build is slow: run the small one.
                run_if_ok(&b, w.id == "ad01");
                b[pos] ^= mask;
            }
        }
    }
}

#[test]
fn empty_and_tiny_inputs() {
    for len in 0..64 {
        let b = vec![0u8; len];
        assert!(import_tflite(&b).is_err());
    }
    let mut b = vec![0u8; 64];
    b[4..8].copy_from_slice(b"TFL3");
    assert!(import_tflite(&b).is_err());
    // Root offset pointing at itself with an absurd vtable.
    let mut b = vec![0xFFu8; 64];
    b[0..4].copy_from_slice(&8u32.to_le_bytes());
    b[4..8].copy_from_slice(b"TFL3");
    assert!(import_tflite(&b).is_err());
}

#[test]
fn absurd_vector_length_rejected_cheaply() {
    let Some(mut bytes) = model_bytes("ad01") else { return };
    // Make Model.buffers claim 2^32 - 1 elements.
    let pos = {
        let fb = Fb::new(&bytes);
        let root = fb.root("Model").unwrap();
        let f = root.field_position(4).unwrap();
        f + u32::from_le_bytes(bytes[f..f + 4].try_into().unwrap()) as usize
    };
    bytes[pos..pos + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = import_tflite(&bytes).unwrap_err();
    assert!(err.to_string().contains("buffers"), "{err}");
    println!("{err}");
}

/// Rewrites every operator code that is `from` to builtin `to`.
fn retarget_opcode(bytes: &mut [u8], from: i32, to: i32) {
    let patches: Vec<(Option<usize>, Option<usize>)> = {
        let fb = Fb::new(bytes);
        let root = fb.root("Model").unwrap();
        root.tables(1, "operator_codes")
            .unwrap()
            .iter()
            .filter(|t| {
                let dep = t.i8(0, "d", 0).unwrap() as i32;
                let code = t.i32(3, "b", 0).unwrap();
                dep.max(code) == from
            })
            .map(|t| (t.field_position(0), t.field_position(3)))
            .collect()
    };
    assert!(!patches.is_empty());
    for (dep, code) in patches {
        if let Some(p) = dep {
            bytes[p] = to.min(127) as u8;
        }
        if let Some(p) = code {
            bytes[p..p + 4].copy_from_slice(&to.to_le_bytes());
        }
    }
}

#[test]
fn unsupported_ops_are_all_listed_with_indexes() {
    let Some(mut bytes) = model_bytes("kws01") else { return };
    // CONV_2D -> TANH (28), SOFTMAX -> LSTM (16).
    retarget_opcode(&mut bytes, 3, 28);
    retarget_opcode(&mut bytes, 25, 16);
    let err = import_tflite(&bytes).unwrap_err();
    match &err {
        ImportError::UnsupportedOps { ops } => {
            let want: Vec<(usize, String)> = vec![
                (0, "TANH".into()),
                (2, "TANH".into()),
                (4, "TANH".into()),
                (6, "TANH".into()),
                (8, "TANH".into()),
                (12, "LSTM".into()),
            ];
            assert_eq!(ops, &want);
        }
        e => panic!("expected UnsupportedOps, got {e}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("#0 TANH") && msg.contains("#12 LSTM"), "{msg}");
    println!("{msg}");
}

#[test]
fn builtin_code_above_127_uses_builtin_code_field() {
    // ic01's operator codes carry both fields (ad01's and kws01's only the deprecated one).
    let Some(mut bytes) = model_bytes("ic01") else { return };
    // CONV_2D -> 150 (GELU): the deprecated byte saturates at 127, builtin_code says 150.
    retarget_opcode(&mut bytes, 3, 150);
    let err = import_tflite(&bytes).unwrap_err();
    assert!(err.to_string().contains("#0 GELU"), "{err}");
}

#[test]
fn check_fits_states_the_numbers() {
    let Some(bytes) = model_bytes("vww01") else { return };
    let im = import_tflite(&bytes).unwrap();
    im.check_fits(1 << 20, 1 << 20).unwrap();
    let msg = im.check_fits(100_000, 32_768).unwrap_err().to_string();
    assert!(msg.contains(&im.blob.len().to_string()) && msg.contains("100000"), "{msg}");
    assert!(msg.contains(&im.arena_bytes.to_string()) && msg.contains("32768"), "{msg}");
    println!("{msg}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(mut b in proptest::collection::vec(any::<u8>(), 0..4096), tag in any::<bool>()) {
        if tag && b.len() >= 8 {
            b[4..8].copy_from_slice(b"TFL3");
            let root = (b[0] as usize % b.len().max(1)) as u32 & !3;
            b[0..4].copy_from_slice(&root.to_le_bytes());
        }
        prop_assert!(import_tflite(&b).is_err());
    }

    #[test]
    fn random_patches_of_a_real_model_never_panic(
        patches in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)
    ) {
        let Some(bytes) = model_bytes("ad01") else { return Ok(()) };
        let mut b = bytes.clone();
        // Patch the metadata-heavy head and tail of the file.
        for (idx, v) in patches {
            let i = idx.index(8192);
            let pos = if i < 4096 { i } else { b.len() - (i - 4096) - 1 };
            b[pos] = v;
        }
        run_if_ok(&b, true);
    }
}
