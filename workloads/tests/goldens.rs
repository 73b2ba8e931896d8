//! Bit-exact host inference against the TFLite Micro goldens.
use mcubench_runtime::{Interpreter, KernelSet, Model};
use mcubench_workloads::{by_id, goldens, import_tflite};

/// Runs every golden of `id`; returns (goldens checked, arena bytes) or None if the model
/// file is absent.
fn check(id: &str) -> Option<(usize, usize)> {
    let w = by_id(id).unwrap();
    let path = w.model_path();
    let Ok(bytes) = std::fs::read(&path) else {
        println!("SKIP {id}: model file {} not found", path.display());
        return None;
    };
    let im = import_tflite(&bytes).unwrap_or_else(|e| panic!("{id}: import failed: {e}"));
    let model = Model::from_bytes(&im.blob).expect("blob validates");
    let mut arena = vec![0u8; model.arena_bytes()];
    let mut it = Interpreter::new(&model, &mut arena).unwrap();
    let gs = goldens(id).unwrap_or_else(|e| panic!("{id}: {e}"));
    assert!(!gs.is_empty());
    for (g, set) in gs.iter().flat_map(|g| [(g, KernelSet::Reference), (g, KernelSet::Optimized)]) {
        it.set_kernels(set);
        it.input_mut().copy_from_slice(&g.input);
        it.invoke().unwrap();
        let out = it.output();
        let diffs: Vec<(usize, i8, i8)> = out
            .iter()
            .zip(&g.output)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| (i, *a, *b))
            .collect();
        assert!(
            diffs.is_empty(),
            "{id} seed {} ({set:?} kernels): {} of {} output bytes differ (index, ours, TFLM): {:?}",
            g.seed,
            diffs.len(),
            out.len(),
            &diffs[..diffs.len().min(10)]
        );
    }
    println!("{id}: {} goldens bit exact (reference and optimized kernels), arena {} B", gs.len(), it.arena_used());
    Some((gs.len(), it.arena_used()))
}

#[test]
fn ad01_bit_exact() {
    if let Some((n, _)) = check("ad01") {
        assert_eq!(n, 10);
    }
}

#[test]
fn kws01_bit_exact() {
    if let Some((n, _)) = check("kws01") {
        assert_eq!(n, 10);
    }
}

#[test]
fn vww01_bit_exact() {
    if let Some((n, _)) = check("vww01") {
        assert_eq!(n, 10);
    }
}

#[test]
fn ic01_bit_exact() {
    if let Some((n, _)) = check("ic01") {
        assert_eq!(n, 10);
    }
}

/// vww01 (MobileNet) has dead CONV_2D channels whose output is provably constant; the
/// importer folds them (and the goldens above prove the folded blob is still bit exact),
/// which is what keeps its pointwise layers on the fast requantization. Folding again finds
/// nothing; a model without such channels is untouched.
#[test]
fn constant_channels_are_folded_once() {
    let read = |id: &str| std::fs::read(by_id(id).unwrap().model_path()).ok();
    let Some(vww) = read("vww01") else {
        println!("SKIP: vww01 model not found");
        return;
    };
    let mut im = import_tflite(&vww).unwrap();
    assert!(im.folded_channels > 0, "no dead channel folded in vww01");
    println!("vww01: {} channels folded", im.folded_channels);
    assert_eq!(mcubench_workloads::fold::fold_constant_channels(&mut im.blob), 0);
    if let Some(ad) = read("ad01") {
        assert_eq!(import_tflite(&ad).unwrap().folded_channels, 0, "ad01 has no CONV_2D");
    }
}
