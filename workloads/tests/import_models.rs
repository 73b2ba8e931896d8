//! Imports the four MLPerf Tiny reference models and checks the figures the importer reports.
use mcubench_workloads::{all, import_tflite, InputFormat};

#[test]
fn import_all_reference_models() {
    // (id, op count, MACs, input elements, output elements)
    let expected = [
        ("ad01", 10, 264_192u64, 640, 640),
        ("kws01", 13, 2_656_768, 490, 12),
        ("vww01", 31, 7_489_664, 27_648, 2),
        ("ic01", 16, 12_501_632, 3_072, 10),
    ];
    for w in all() {
        let path = w.model_path();
        let Ok(bytes) = std::fs::read(&path) else {
            println!("SKIP {}: model file {} not found", w.id, path.display());
            continue;
        };
        let im = import_tflite(&bytes).unwrap_or_else(|e| panic!("{}: {e}", w.id));
        let (_, n_ops, macs, n_in, n_out) = *expected.iter().find(|e| e.0 == w.id).unwrap();
        assert_eq!(im.ops.len(), n_ops, "{}", w.id);
        assert_eq!(im.macs, macs, "{}", w.id);
        assert_eq!(im.input.len(), n_in, "{}", w.id);
        assert_eq!(im.output.len(), n_out, "{}", w.id);
        assert_eq!(w.input_elements, n_in);
        assert_eq!(w.output_elements, n_out);
        assert_eq!(im.blob.len() % 16, 0);
        assert!(im.constant_bytes < im.blob.len());
        if w.id != "ad01" {
            assert_eq!(im.output.zero_point, -128);
            assert_eq!(im.ops.last().unwrap(), "SOFTMAX");
        } else {
            assert!(im.ops.iter().all(|o| o == "FULLY_CONNECTED"));
            assert_eq!(w.input_format, InputFormat::Float32Le);
            assert_eq!(w.input_wire_bytes(), 2560);
        }
        let m = mcubench_runtime::Model::from_bytes(&im.blob).unwrap();
        assert_eq!(m.arena_bytes(), im.arena_bytes);
        println!(
            "{}: {} ops, {} MACs, blob {} B (constants {} B), arena {} B",
            w.id,
            im.ops.len(),
            im.macs,
            im.blob.len(),
            im.constant_bytes,
            im.arena_bytes
        );
    }
}

#[test]
fn workload_table() {
    assert_eq!(all().len(), 4);
    assert_eq!(mcubench_workloads::by_id("kws01").unwrap().input_wire_bytes(), 490);
    assert_eq!(mcubench_workloads::by_id("vww01").unwrap().input_wire_bytes(), 27_648);
    assert_eq!(mcubench_workloads::by_id("ic01").unwrap().input_wire_bytes(), 3_072);
    assert!(mcubench_workloads::by_id("nope").is_none());
    assert!(mcubench_workloads::goldens("nope").is_err());
    for w in all() {
        assert!(w.default_runs >= 1 && w.default_runs <= 10);
    }
}
