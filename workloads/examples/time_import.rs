//! Times import + validation of each MLPerf Tiny model: `cargo run --example time_import`.
fn main() {
    for w in mcubench_workloads::all() {
        let Ok(bytes) = std::fs::read(w.model_path()) else { continue };
        let t = std::time::Instant::now();
        let m = mcubench_workloads::tflite::TfliteModel::parse(&bytes).unwrap();
        let t_parse = t.elapsed();
        drop(m);
        let t = std::time::Instant::now();
        let im = mcubench_workloads::import_tflite(&bytes).unwrap();
        let t_import = t.elapsed();
        let t = std::time::Instant::now();
        let model = mcubench_runtime::Model::from_bytes(&im.blob).unwrap();
        let t_validate = t.elapsed();
        let mut arena = vec![0u8; model.arena_bytes()];
        let mut it = mcubench_runtime::Interpreter::new(&model, &mut arena).unwrap();
        it.set_kernels(mcubench_runtime::KernelSet::Reference);
        let t = std::time::Instant::now();
        it.invoke().unwrap();
        let t_ref = t.elapsed();
        it.set_kernels(mcubench_runtime::KernelSet::Optimized);
        let t = std::time::Instant::now();
        it.invoke().unwrap();
        println!(
            "{}: parse {:?} import {:?} validate {:?} invoke reference {:?} optimized {:?}",
            w.id, t_parse, t_import, t_validate, t_ref, t.elapsed()
        );
    }
}
