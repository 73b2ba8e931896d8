//! Lists operator codes with their raw fields: `cargo run --example opcodes -- FILE`.
use mcubench_workloads::tflite::flatbuffer::Fb;
fn main() {
    let bytes = std::fs::read(std::env::args().nth(1).expect("usage: opcodes FILE")).unwrap();
    let fb = Fb::new(&bytes);
    let root = fb.root("Model").unwrap();
    for (i, t) in root.tables(1, "operator_codes").unwrap().iter().enumerate() {
        println!(
            "opcode {i}: deprecated_builtin_code {:?} builtin_code {:?} version {}",
            t.field_position(0).map(|_| t.i8(0, "d", 0).unwrap()),
            t.field_position(3).map(|_| t.i32(3, "b", 0).unwrap()),
            t.i32(2, "v", 1).unwrap()
        );
    }
}
