//! Build script of `mcubench-adapter-cmsis-nn`: prepares, for the model blob the firmware embeds
//! (`MCUBENCH_MODEL_BLOB`), what CMSIS-NN needs besides the blob itself, as constants in flash
//! (as a hand-written CMSIS-NN deployment would have them):
//!
//! * the blob's requantization table split into the separate multiplier and shift arrays
//!   CMSIS-NN's per-channel functions take (per-tensor entries of convolutions expanded to
//!   one per channel),
//! * on Helium (MVE) builds, each FULLY_CONNECTED's kernel sums (`bias + input_offset *
//!   sum(weights + filter_offset)`, exactly what `arm_vector_sum_s8` computes and what
//!   `arm_fully_connected_s8` expects in its context buffer on MVE),
//! * the scratch buffer size: the largest `*_get_buffer_size` over the model's operators,
//!   computed by CMSIS-NN's own functions compiled for the host (`tools/scratch_size.c`).
//!
//! Without `MCUBENCH_MODEL_BLOB` the tables are empty and the executor refuses every model.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mcubench_runtime::format::*;
use mcubench_runtime::Model;

fn fail(msg: &str) -> ! {
    // Exit rather than panic: no backtrace, so the message stays in the last lines of the
    // build output (which is what the harness shows).
    eprintln!("\nmcubench-adapter-cmsis-nn build error: {msg}\n");
    std::process::exit(1)
}

fn env_var(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    match env::var(name) {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().to_string()),
        _ => None,
    }
}

/// FNV-1a over the blob: the executor checks at start-up that it was given the blob these
/// tables were made from.
fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn quant_entry(model: &Model, index: usize) -> (i32, i32) {
    let b = model.quant_bytes(index as i32, 1);
    (i32::from_le_bytes([b[0], b[1], b[2], b[3]]), i32::from_le_bytes([b[4], b[5], b[6], b[7]]))
}

/// One scratch-size query for `tools/scratch_size.c`.
fn scratch_line(kind: u32, op: &OpRecord, model: &Model) -> String {
    let t = |i: usize| model.tensor_record(op.inputs[i] as usize);
    let input = t(0);
    let out = model.tensor_record(op.output as usize);
    let p = &op.params;
    let d = |r: &TensorRecord| [r.dim(0), r.dim(1), r.dim(2), r.dim(3)];
    let (filter, dil, ch_mult) = match kind {
        // [C_OUT, KH, KW, C_IN]
        1 => (d(&t(1)), (p[P_DILATION_W], p[P_DILATION_H]), 0),
        // [1, KH, KW, C_OUT]
        2 => (d(&t(1)), (p[P_DILATION_W], p[P_DILATION_H]), p[P_DEPTH_MULTIPLIER]),
        // [1, FH, FW, 1]
        _ => ([1, p[P_FILTER_H] as usize, p[P_FILTER_W] as usize, 1], (1, 1), 0),
    };
    let i = d(&input);
    let o = d(&out);
    format!(
        "{kind} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}\n",
        i[0], i[1], i[2], i[3], filter[0], filter[1], filter[2], filter[3], o[0], o[1], o[2], o[3],
        p[P_STRIDE_W], p[P_STRIDE_H], p[P_PAD_W], p[P_PAD_H], dil.0, dil.1, ch_mult
    )
}

/// Runs CMSIS-NN's buffer-size functions, compiled for the host, over `queries`.
fn scratch_sizes(out_dir: &Path, include: &Path, root: &Path, manifest: &Path, variant: &str, queries: &str) -> Vec<usize> {
    if queries.is_empty() {
        return Vec::new();
    }
    let host = env::var("HOST").unwrap();
    let compiler = cc::Build::new()
        .target(&host)
        .host(&host)
        .opt_level(1)
        .cargo_metadata(false)
        .cargo_warnings(false)
        .warnings(false)
        .try_get_compiler()
        .unwrap_or_else(|e| fail(&format!("no host C compiler to size CMSIS-NN's scratch buffer: {e}")));
    let exe = out_dir.join("scratch_size");
    let sources = [
        manifest.join("tools/scratch_size.c"),
        root.join("Source/ConvolutionFunctions/arm_convolve_get_buffer_sizes_s8.c"),
        root.join("Source/ConvolutionFunctions/arm_depthwise_conv_get_buffer_sizes_s8.c"),
        root.join("Source/PoolingFunctions/arm_avgpool_get_buffer_sizes_s8.c"),
    ];
    let mut cmd = compiler.to_command();
    cmd.arg("-I").arg(include).args(&sources).arg("-o").arg(&exe);
    let status = cmd.status().unwrap_or_else(|e| fail(&format!("cannot run the host C compiler: {e}")));
    if !status.success() {
        fail(&format!("compiling {} for the host failed ({status})", sources[0].display()));
    }
    let mut child = Command::new(&exe)
        .arg(variant)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("cannot run {}: {e}", exe.display())));
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(queries.as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        fail(&format!("{} failed ({})", exe.display(), out.status));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: i64 = l.trim().parse().unwrap_or_else(|_| fail(&format!("scratch_size printed {l:?}")));
            usize::try_from(v).unwrap_or_else(|_| fail(&format!("CMSIS-NN asked for a negative buffer ({v})")))
        })
        .collect()
}

fn array<T: std::fmt::Display>(name: &str, ty: &str, v: &[T]) -> String {
    let mut s = format!("static {name}: [{ty}; {}] = [", v.len());
    for (i, x) in v.iter().enumerate() {
        if i % 16 == 0 {
            s.push_str("\n    ");
        }
        write!(s, "{x}, ").unwrap();
    }
    s.push_str("\n];\n");
    s
}

fn main() {
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=tools/scratch_size.c");
    let root = PathBuf::from(env::var("DEP_CMSIS_NN_ROOT").expect("DEP_CMSIS_NN_ROOT (set by mcubench-adapter-cmsis-nn-sys)"));
    let include = PathBuf::from(env::var("DEP_CMSIS_NN_INCLUDE").expect("DEP_CMSIS_NN_INCLUDE"));
    let variant = env::var("DEP_CMSIS_NN_VARIANT").expect("DEP_CMSIS_NN_VARIANT");

    let blob = env_var("MCUBENCH_MODEL_BLOB").map(|path| {
        println!("cargo:rerun-if-changed={path}");
        fs::read(&path).unwrap_or_else(|e| fail(&format!("MCUBENCH_MODEL_BLOB={path}: cannot read: {e}")))
    });
    let blob = blob.unwrap_or_default();
    let model = if blob.is_empty() {
        None
    } else {
        Some(Model::from_bytes(&blob).unwrap_or_else(|e| fail(&format!("MCUBENCH_MODEL_BLOB is not a valid model blob: {e}"))))
    };

    let mut mult: Vec<i32> = Vec::new();
    let mut shift: Vec<i32> = Vec::new();
    let mut op_quant: Vec<u32> = Vec::new();
    let mut ksum: Vec<i32> = Vec::new();
    let mut op_ksum: Vec<u32> = Vec::new();
    let mut queries = String::new();
    let mut query_ops: Vec<usize> = Vec::new();
    if let Some(model) = &model {
        let entries = model.header().quant_len as usize / QUANT_ENTRY_SIZE;
        for i in 0..entries {
            let (m, s) = quant_entry(model, i);
            mult.push(m);
            shift.push(s);
        }
        for i in 0..model.op_count() {
            let op = model.op_record(i);
            let code = OpCode::from_u8(op.opcode).unwrap();
            let p = &op.params;
            let mut q = u32::MAX;
            let mut k = u32::MAX;
            match code {
                OpCode::Conv2d | OpCode::DepthwiseConv2d | OpCode::FullyConnected => {
                    let out = model.tensor_record(op.output as usize);
                    let channels = if code == OpCode::FullyConnected {
                        model.tensor_record(op.inputs[1] as usize).dim(0)
                    } else {
                        out.dim(3)
                    };
                    let (index, count) = (p[P_QUANT_INDEX] as usize, p[P_QUANT_COUNT] as usize);
                    if count == channels || (count == 1 && code == OpCode::FullyConnected) {
                        // Per-channel, or FULLY_CONNECTED's per-tensor entry.
                        q = index as u32;
                    } else if count == 1 {
                        // Per-tensor convolution: CMSIS-NN takes one entry per channel.
                        q = mult.len() as u32;
                        let (m, s) = quant_entry(model, index);
                        mult.extend(std::iter::repeat(m).take(channels));
                        shift.extend(std::iter::repeat(s).take(channels));
                    }
                    if code == OpCode::FullyConnected && variant == "mve" {
                        // arm_vector_sum_s8(buf, cols, rows, filter, lhs_offset = input_offset,
                        //                   rhs_offset = filter_offset, bias)
                        let filter = model.tensor_record(op.inputs[1] as usize);
                        let (rows, cols) = (filter.dim(0), filter.dim(1));
                        let w = model.const_bytes(&filter);
                        let bias = op.input(2).map(|b| model.const_bytes(&model.tensor_record(b as usize)));
                        let (lhs_offset, rhs_offset) = (p[P_INPUT_OFFSET], p[P_FILTER_OFFSET]);
                        k = ksum.len() as u32;
                        for r in 0..rows {
                            let mut acc = match bias {
                                Some(b) => i32::from_le_bytes([b[4 * r], b[4 * r + 1], b[4 * r + 2], b[4 * r + 3]]),
                                None => 0,
                            };
                            if lhs_offset != 0 {
                                let mut sum: i32 = 0;
                                for &x in &w[r * cols..(r + 1) * cols] {
                                    sum = sum.wrapping_add(x as i8 as i32);
                                }
                                if rhs_offset != 0 {
                                    sum = sum.wrapping_add((cols as i32).wrapping_mul(rhs_offset));
                                }
                                acc = acc.wrapping_add(sum.wrapping_mul(lhs_offset));
                            }
                            ksum.push(acc);
                        }
                    }
                    if code != OpCode::FullyConnected {
                        queries.push_str(&scratch_line(if code == OpCode::Conv2d { 1 } else { 2 }, &op, model));
                        query_ops.push(i);
                    }
                }
                OpCode::AveragePool2d => {
                    queries.push_str(&scratch_line(3, &op, model));
                    query_ops.push(i);
                }
                _ => {}
            }
            op_quant.push(q);
            op_ksum.push(k);
        }
    }
    let sizes = scratch_sizes(&out_dir, &include, &root, &manifest, &variant, &queries);
    if sizes.len() != query_ops.len() {
        fail("scratch_size answered a different number of queries");
    }
    let scratch = sizes.iter().copied().max().unwrap_or(0);
    // Round up so the buffer can be 16-byte aligned and sized in whole words.
    let scratch = scratch.div_ceil(16) * 16;

    let mut s = String::new();
    writeln!(s, "// generated by mcubench-adapter-cmsis-nn build.rs from MCUBENCH_MODEL_BLOB").unwrap();
    writeln!(s, "/// Bytes of scratch buffer the model's operators need (largest `*_get_buffer_size`).").unwrap();
    writeln!(s, "pub const SCRATCH_BYTES: usize = {scratch};").unwrap();
    s.push_str(&array("MULT", "i32", &mult));
    s.push_str(&array("SHIFT", "i32", &shift));
    s.push_str(&array("OP_QUANT", "u32", &op_quant));
    s.push_str(&array("KSUM", "i32", &ksum));
    s.push_str(&array("OP_KSUM", "u32", &op_ksum));
    writeln!(
        s,
        "/// The tables for the model blob this firmware embeds.\npub static PREPARED: Prepared = Prepared {{\n    \
         blob_len: {},\n    blob_fnv1a: {:#010x},\n    multipliers: &MULT,\n    shifts: &SHIFT,\n    \
         op_quant: &OP_QUANT,\n    kernel_sums: &KSUM,\n    op_kernel_sums: &OP_KSUM,\n    \
         scratch_bytes: SCRATCH_BYTES,\n}};",
        model.as_ref().map_or(0, |m| m.bytes().len()),
        model.as_ref().map_or(fnv1a(&[]), |m| fnv1a(m.bytes()))
    )
    .unwrap();
    fs::write(out_dir.join("prepared.rs"), s).unwrap();
}
