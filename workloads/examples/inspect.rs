//! Prints what the importer makes of a .tflite file: `cargo run --example inspect -- FILE`.
fn main() {
    let path = std::env::args().nth(1).expect("usage: inspect FILE.tflite");
    let bytes = std::fs::read(&path).expect("read");
    let m = mcubench_workloads::tflite::TfliteModel::parse(&bytes);
    match &m {
        Ok(m) => {
            let sg = &m.subgraphs[0];
            for (i, op) in sg.operators.iter().enumerate() {
                let code = m.operator_codes[op.opcode_index as usize].builtin;
                println!("op {i}: {} in {:?} out {:?} {:?}", mcubench_workloads::tflite::builtin_name(code), op.inputs, op.outputs, op.options);
            }
            for (i, t) in sg.tensors.iter().enumerate() {
                let q = t.quantization.as_ref().map(|q| (q.scale.len(), q.scale.first().copied(), q.zero_point.first().copied(), q.quantized_dimension));
                println!("t{i} {:?} {:?} type {} buf {} ({} B) q {:?}", t.name, t.shape, t.ttype, t.buffer, m.buffers[t.buffer as usize].len(), q);
            }
        }
        Err(e) => println!("parse error: {e}"),
    }
    match mcubench_workloads::import_tflite(&bytes) {
        Ok(im) => println!(
            "imported: blob {} B, arena {} B, const {} B, macs {}, ops {:?}, in {:?}, out {:?}",
            im.blob.len(), im.arena_bytes, im.constant_bytes, im.macs, im.ops, im.input, im.output
        ),
        Err(e) => println!("import error: {e}"),
    }
}
