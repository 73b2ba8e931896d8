//! Build script of the TFLite Micro adapter.
//!
//! * finds the TFLite Micro sources bundled in the `tfmicro` crate (0.1.0, 2020) — see
//!   [`locate_tfmicro`]; they are never copied into this repository,
//! * compiles TFLM's library (interpreter, allocator, planner, reference kernels) with
//!   `arm-none-eabi-g++` into `libmcubench_tflm_core.a`, once per target and flag set (a stamp
//!   file in OUT_DIR skips the ~30 s compile when only the model changes),
//! * reads the operator codes of the model (`MCUBENCH_MODEL_FILE`, the .tflite the firmware
//!   embeds) and generates `ops.cc`, which registers exactly those operators in a
//!   `MicroMutableOpResolver` (as a TFLM application would; unused kernels are not linked),
//! * compiles that and the shim (`csrc/mcubench_tflm.cc`, the `extern "C"` API),
//! * links newlib's libm/libc for the matching multilib (TFLM's quantization helpers use
//!   `frexp`, `round`, `exp`, ...),
//! * writes `tflm_info.rs` (version, compiler and flags, the model's operators) for the
//!   firmware to print.
//!
//! Why not `tfmicro`'s own build script: it runs bindgen (needs libclang and the host's C++
//! headers) and `cpp_build`, compiles TFLM without `-DNDEBUG` (TFLM's debug checks stay live:
//! the int8 ADD kernel then aborts on ResNet-8, and conv loops run about twice as slow), builds
//! the micro frontend we do not need, and registers every kernel (AllOpsResolver).
use std::collections::BTreeMap;
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The crate whose sources we compile (its `submodules/tensorflow` tree).
const TFMICRO_VERSION: &str = "0.1.0";
/// The date tfmicro 0.1.0 was released with its pinned TensorFlow commit (its CHANGELOG).
const TFMICRO_DATE: &str = "2020-07-12";

fn fail(msg: &str) -> ! {
    eprintln!("\nmcubench-adapter-tflm build error: {msg}\n");
    panic!("mcubench-adapter-tflm build error: {msg}");
}

fn env_var(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn is_tfmicro_dir(dir: &Path) -> bool {
    dir.join("submodules/tensorflow/tensorflow/lite/micro/micro_interpreter.cc").is_file()
}

/// Where the `tfmicro` crate's sources are:
/// 1. `MCUBENCH_TFMICRO_SRC`: an unpacked tfmicro-0.1.0 directory (offline machines, mirrors),
/// 2. cargo's registry cache: `$CARGO_HOME/registry/src/*/tfmicro-0.1.0`,
/// 3. otherwise `cargo fetch` + `cargo metadata` on a one-dependency manifest in OUT_DIR,
///    which downloads the crate (with its dependencies' manifests) into that cache.
fn locate_tfmicro(out: &Path) -> PathBuf {
    if let Some(dir) = env_var("MCUBENCH_TFMICRO_SRC") {
        let dir = PathBuf::from(dir);
        if !is_tfmicro_dir(&dir) {
            fail(&format!(
                "MCUBENCH_TFMICRO_SRC={} is not an unpacked tfmicro-{TFMICRO_VERSION} crate \
                 (no submodules/tensorflow/tensorflow/lite/micro/micro_interpreter.cc)",
                dir.display()
            ));
        }
        return dir;
    }
    let cargo_home = env_var("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    if let Some(home) = &cargo_home {
        if let Some(dir) = find_in_registry(home) {
            return dir;
        }
    }
    // Not unpacked yet: let cargo download it.
    let fetch = out.join("tfmicro-fetch");
    fs::create_dir_all(fetch.join("src")).unwrap();
    fs::write(
        fetch.join("Cargo.toml"),
        format!(
            "[package]\nname = \"mcubench-tfmicro-fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[workspace]\n\n[dependencies]\ntfmicro = \"={TFMICRO_VERSION}\"\n"
        ),
    )
    .unwrap();
    fs::write(fetch.join("src/lib.rs"), "").unwrap();
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = fetch.join("Cargo.toml");
    let out_meta = Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", fetch.join("target"))
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run `{cargo} metadata` to fetch tfmicro: {e}")));
    if !out_meta.status.success() {
        fail(&format!(
            "could not get the tfmicro {TFMICRO_VERSION} crate (the TFLite Micro sources) from the \
             crate registry: `cargo metadata` failed:\n{}\nRun `cargo fetch` with network access \
             (see targets/adapters/tflm/README.md), or set MCUBENCH_TFMICRO_SRC to an unpacked \
             tfmicro-{TFMICRO_VERSION} directory.",
            String::from_utf8_lossy(&out_meta.stderr)
        ));
    }
    let json = String::from_utf8_lossy(&out_meta.stdout);
    let suffix = format!("tfmicro-{TFMICRO_VERSION}/Cargo.toml");
    for piece in json.split("\"manifest_path\":\"").skip(1) {
        let path = piece.split('"').next().unwrap_or("");
        if path.ends_with(&suffix) {
            let dir = Path::new(path).parent().unwrap().to_path_buf();
            if is_tfmicro_dir(&dir) {
                return dir;
            }
        }
    }
    fail(&format!(
        "cargo metadata did not list an unpacked tfmicro {TFMICRO_VERSION}; set MCUBENCH_TFMICRO_SRC"
    ))
}

fn find_in_registry(cargo_home: &Path) -> Option<PathBuf> {
    let src = cargo_home.join("registry/src");
    let mut found: Vec<PathBuf> = fs::read_dir(&src)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join(format!("tfmicro-{TFMICRO_VERSION}")))
        .filter(|d| is_tfmicro_dir(d))
        .collect();
    found.sort();
    found.into_iter().next()
}

/// The TensorFlow commit tfmicro pins (from its README), e.g. `33689c48ad`.
fn pinned_commit(tfmicro: &Path) -> String {
    let readme = fs::read_to_string(tfmicro.join("README.md")).unwrap_or_default();
    readme
        .split("tensorflow/tree/")
        .nth(1)
        .map(|rest| rest.chars().take_while(|c| c.is_ascii_hexdigit()).take(10).collect::<String>())
        .filter(|c| c.len() >= 7)
        .unwrap_or_else(|| "unknown".into())
}

/// `-mcpu`, `-mfpu` and `-mfloat-abi` for a Rust thumb target on the board's core
/// (`MCUBENCH_CPU`, set by the harness from boards.yaml `cpu`; else the target's usual core).
/// The float ABI follows the Rust target (`eabihf`: hard, with the core's single-precision
/// FPU, as the Rust code assumes), so the C++ and Rust objects link together.
fn cpu_flags(target: &str, cpu: Option<&str>) -> Vec<String> {
    let (default, allowed): (&str, &[&str]) = match target {
        "thumbv7em-none-eabihf" | "thumbv7em-none-eabi" => ("cortex-m4", &["cortex-m4", "cortex-m7"]),
        "thumbv8m.main-none-eabihf" => ("cortex-m55", &["cortex-m55", "cortex-m85", "cortex-m33", "cortex-m35p"]),
        "thumbv8m.main-none-eabi" => ("cortex-m33", &["cortex-m55", "cortex-m85", "cortex-m33", "cortex-m35p"]),
        "thumbv7m-none-eabi" => ("cortex-m3", &["cortex-m3", "cortex-m4", "cortex-m7"]),
        "thumbv6m-none-eabi" => ("cortex-m0plus", &["cortex-m0plus", "cortex-m0", "cortex-m3", "cortex-m4", "cortex-m7"]),
        other => fail(&format!(
            "target {other} is not supported: TFLite Micro is built for thumb*-none-eabi* targets \
             with arm-none-eabi-g++"
        )),
    };
    let cpu = cpu.unwrap_or(default);
    if !allowed.contains(&cpu) {
        fail(&format!("MCUBENCH_CPU={cpu} does not match the target {target} (expected one of {})", allowed.join(", ")));
    }
    let mut f = vec![format!("-mcpu={cpu}"), "-mthumb".to_string()];
    if target.ends_with("eabihf") {
        let fpu = match cpu {
            "cortex-m4" => "fpv4-sp-d16",
            // Single precision, like the Rust target (and the STM32F746's FPU).
            "cortex-m7" | "cortex-m33" | "cortex-m35p" => "fpv5-sp-d16",
            _ => "auto",
        };
        f.push("-mfloat-abi=hard".into());
        f.push(format!("-mfpu={fpu}"));
    } else {
        f.push("-mfloat-abi=soft".into());
    }
    f
}

/// A short FNV-1a hash, to name the library directory after its build settings.
fn fnv(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}")
}

fn opt_flag() -> String {
    match env::var("OPT_LEVEL").as_deref() {
        Ok("0") => "-O0".into(),
        Ok("1") => "-O1".into(),
        Ok("2") => "-O2".into(),
        Ok("s") => "-Os".into(),
        Ok("z") => "-Oz".into(),
        _ => "-O3".into(),
    }
}

/// Flags for TFLM and the shim, besides the CPU flags and includes.
const CXX_FLAGS: &[&str] = &[
    "-std=c++11",
    "-fno-rtti",
    "-fno-exceptions",
    "-fno-unwind-tables",
    "-fno-asynchronous-unwind-tables",
    "-fno-threadsafe-statics",
    "-fno-use-cxa-atexit",
    "-ffunction-sections",
    "-fdata-sections",
    "-fmessage-length=0",
    "-funsigned-char",
    "-w",
];
const C_FLAGS: &[&str] = &["-std=c11", "-ffunction-sections", "-fdata-sections", "-w"];
const DEFINES: &[&str] = &[
    "NDEBUG",
    "TF_LITE_STATIC_MEMORY",
    "TF_LITE_MCU_DEBUG_LOG",
    "GEMMLOWP_ALLOW_SLOW_SCALAR_FALLBACK",
];

/// TFLM's library sources (the set tfmicro builds, minus tests, the host DebugLog, the
/// micro frontend and AllOpsResolver).
fn library_sources(tf: &Path) -> Vec<PathBuf> {
    let lite = tf.join("tensorflow/lite");
    let mut files = Vec::new();
    for dir in ["micro", "micro/kernels", "micro/memory_planner"] {
        let mut in_dir: Vec<PathBuf> = fs::read_dir(lite.join(dir))
            .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", lite.join(dir).display())))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                name.ends_with(".cc")
                    && !name.ends_with("_test.cc")
                    && !matches!(
                        name,
                        "debug_log.cc"
                            | "all_ops_resolver.cc"
                            | "test_helpers.cc"
                            | "micro_optional_debug_tools.cc"
                    )
            })
            .collect();
        in_dir.sort();
        files.extend(in_dir);
    }
    for f in [
        "c/common.c",
        "core/api/error_reporter.cc",
        "core/api/flatbuffer_conversions.cc",
        "core/api/op_resolver.cc",
        "core/api/tensor_utils.cc",
        "kernels/internal/quantization_util.cc",
        "kernels/kernel_util.cc",
    ] {
        files.push(lite.join(f));
    }
    files
}

fn includes(tf: &Path) -> Vec<PathBuf> {
    let dl = tf.join("tensorflow/lite/micro/tools/make/downloads");
    vec![tf.to_path_buf(), dl.join("flatbuffers/include"), dl.join("gemmlowp"), dl.join("ruy")]
}

fn base_build(cpu: &[String], tf: &Path, out: &Path) -> cc::Build {
    let mut b = cc::Build::new();
    b.cpp(true)
        .no_default_flags(true)
        .cargo_metadata(false)
        .cpp_link_stdlib(None)
        .warnings(false)
        .extra_warnings(false)
        .compiler("arm-none-eabi-g++")
        .archiver("arm-none-eabi-ar")
        .flag(opt_flag());
    for f in cpu {
        b.flag(f);
    }
    for f in CXX_FLAGS {
        b.flag(f);
    }
    for d in DEFINES {
        b.define(d, None);
    }
    for i in includes(tf) {
        b.include(i);
    }
    b.out_dir(out);
    b
}

/// Flatbuffer reading, just enough for `Model.operator_codes`.
struct Fb<'a>(&'a [u8]);

impl<'a> Fb<'a> {
    fn u16(&self, at: usize) -> Option<u16> {
        Some(u16::from_le_bytes(self.0.get(at..at + 2)?.try_into().ok()?))
    }
    fn u32(&self, at: usize) -> Option<u32> {
        Some(u32::from_le_bytes(self.0.get(at..at + 4)?.try_into().ok()?))
    }
    /// Absolute position of field `idx` of the table at `table`, if present.
    fn field(&self, table: usize, idx: usize) -> Option<usize> {
        let vt = (table as i64 - self.u32(table)? as i32 as i64) as usize;
        let vt_len = self.u16(vt)? as usize;
        let slot = 4 + 2 * idx;
        if slot + 2 > vt_len {
            return None;
        }
        match self.u16(vt + slot)? {
            0 => None,
            off => Some(table + off as usize),
        }
    }
    fn deref(&self, at: usize) -> Option<usize> {
        Some(at + self.u32(at)? as usize)
    }
    /// Positions of the tables in the vector of tables at field `idx` of `table`.
    fn tables(&self, table: usize, idx: usize) -> Option<Vec<usize>> {
        let Some(field) = self.field(table, idx) else { return Some(Vec::new()) };
        let v = self.deref(field)?;
        let n = self.u32(v)? as usize;
        (0..n).map(|i| self.deref(v + 4 + 4 * i)).collect()
    }
    /// Length of the vector at field `idx` of `table` (0 if absent).
    fn vec_len(&self, table: usize, idx: usize) -> Option<usize> {
        match self.field(table, idx) {
            Some(f) => Some(self.u32(self.deref(f)?)? as usize),
            None => Some(0),
        }
    }
    /// Bytes TFLM 2020 allocates for itself besides the activations, estimated from above:
    /// per tensor its TfLiteTensor (64 B), planner record and quantization structs (128 B in
    /// all) plus 16 B per quantization channel (scale and zero-point arrays, and a kernel's
    /// per-channel multiplier and shift for a filter's channels); per operator 256 B (node,
    /// registration, parsed options, op data, index arrays); 2 KiB for the rest.
    fn tflm_overhead(&self) -> Option<usize> {
        let model = self.deref(0)?;
        let mut bytes = 2048;
        for subgraph in self.tables(model, 2)? {
            bytes += 256 * self.vec_len(subgraph, 3)?;
            for tensor in self.tables(subgraph, 0)? {
                let channels = match self.field(tensor, 4) {
                    Some(q) => self.vec_len(self.deref(q)?, 2)?,
                    None => 0,
                };
                bytes += 128 + 16 * channels;
            }
        }
        Some(bytes)
    }
    /// (builtin code, version) of the operator codes the model's operators use, in the order
    /// of `operator_codes` (converters may list codes no operator uses).
    fn operator_codes(&self) -> Option<Vec<(i32, i32)>> {
        let model = self.deref(0)?;
        let mut used_idx = Vec::new();
        for subgraph in self.tables(model, 2)? {
            for op in self.tables(subgraph, 3)? {
                let idx = match self.field(op, 0) {
                    Some(p) => self.u32(p)? as usize,
                    None => 0,
                };
                used_idx.push(idx);
            }
        }
        let codes = self.tables(model, 1)?;
        let mut out = Vec::with_capacity(codes.len());
        for (i, &t) in codes.iter().enumerate() {
            if !used_idx.contains(&i) {
                continue;
            }
            let deprecated = match self.field(t, 0) {
                Some(p) => *self.0.get(p)? as i8 as i32,
                None => 0,
            };
            let version = match self.field(t, 2) {
                Some(p) => self.u32(p)? as i32,
                None => 1,
            };
            let builtin = match self.field(t, 3) {
                Some(p) => self.u32(p)? as i32,
                None => 0,
            };
            out.push((deprecated.max(builtin), version));
        }
        Some(out)
    }
}

/// `BuiltinOperator_NAME = N,` from TFLM's schema_generated.h: code -> NAME.
fn builtin_names(tf: &Path) -> BTreeMap<i32, String> {
    let path = tf.join("tensorflow/lite/schema/schema_generated.h");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
    let mut names = BTreeMap::new();
    for line in text.lines() {
        let l = line.trim();
        let Some(rest) = l.strip_prefix("BuiltinOperator_") else { continue };
        let Some((name, value)) = rest.split_once('=') else { continue };
        let name = name.trim();
        if name == "MIN" || name == "MAX" {
            continue;
        }
        if let Ok(code) = value.trim().trim_end_matches(',').trim().parse::<i32>() {
            names.entry(code).or_insert_with(|| name.to_string());
        }
    }
    names
}

/// The kernels TFLM offers, as its AllOpsResolver registers them:
/// NAME -> (register function, min version, max version).
fn tflm_kernels(tf: &Path) -> BTreeMap<String, (String, i32, i32)> {
    let path = tf.join("tensorflow/lite/micro/kernels/all_ops_resolver.cc");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
    let mut kernels = BTreeMap::new();
    for call in text.split("AddBuiltin(").skip(1) {
        let call = call.split(");").next().unwrap_or("");
        let call: String = call.split("/*").map(|p| p.split("*/").last().unwrap_or("")).collect();
        let parts: Vec<String> = call.split(',').map(|p| p.split_whitespace().collect::<String>()).collect();
        let Some(name) = parts.first().and_then(|p| p.strip_prefix("BuiltinOperator_")) else { continue };
        let Some(register) = parts.get(1).map(|r| r.trim_end_matches("()").to_string()) else { continue };
        let min = parts.get(2).and_then(|v| v.parse().ok()).unwrap_or(1);
        let max = parts.get(3).and_then(|v| v.parse().ok()).unwrap_or(min);
        kernels.insert(name.to_string(), (register, min, max));
    }
    if kernels.is_empty() {
        fail(&format!("{}: no AddBuiltin calls found", path.display()));
    }
    kernels
}

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let target = env::var("TARGET").unwrap();
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=csrc");

    let tfmicro = locate_tfmicro(&out);
    let tf = tfmicro.join("submodules/tensorflow");
    let commit = pinned_commit(&tfmicro);

    let cpu = cpu_flags(&target, env_var("MCUBENCH_CPU").as_deref());

    // ---- TFLM library, once per (target, flags, sources) ----
    // One directory per CPU flag set, so builds for different cores of one target (Cortex-M4
    // and M7 share thumbv7em) do not recompile TFLM each time they alternate.
    let lib_dir = out.join(format!("tflm-core-{}", fnv(&cpu.join(" "))));
    fs::create_dir_all(&lib_dir).unwrap();
    let core = base_build(&cpu, &tf, &lib_dir);
    let compiler = core.get_compiler();
    let cxx_version = Command::new(compiler.path())
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_else(|| fail("arm-none-eabi-g++ not found: install gcc-arm-none-eabi (scripts/setup.sh)"));
    // The flags without include paths (`-I dir` pairs).
    let mut cxx_flags: Vec<String> = Vec::new();
    let mut args = compiler.args().iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = args.next() {
        if a == "-I" {
            args.next();
        } else if !a.starts_with("-I") {
            cxx_flags.push(a);
        }
    }
    let sources = library_sources(&tf);
    let mut stamp = format!("{cxx_version}\n{}\n{}\n", tf.display(), cxx_flags.join(" "));
    for s in &sources {
        writeln!(stamp, "{}", s.display()).unwrap();
    }
    let stamp_file = lib_dir.join("stamp.txt");
    let core_lib = lib_dir.join("libmcubench_tflm_core.a");
    if fs::read_to_string(&stamp_file).ok().as_deref() != Some(stamp.as_str()) || !core_lib.exists() {
        let _ = fs::remove_file(&stamp_file);
        let mut b = core.clone();
        for s in &sources {
            if s.extension().is_some_and(|e| e == "c") {
                continue;
            }
            b.file(s);
        }
        b.compile("mcubench_tflm_core");
        // common.c is C: compile it with gcc and add it to the archive.
        let mut c = cc::Build::new();
        c.no_default_flags(true)
            .cargo_metadata(false)
            .warnings(false)
            .extra_warnings(false)
            .compiler("arm-none-eabi-gcc")
            .archiver("arm-none-eabi-ar")
            .flag(opt_flag());
        for f in &cpu {
            c.flag(f);
        }
        for f in C_FLAGS {
            c.flag(f);
        }
        for d in DEFINES {
            c.define(d, None);
        }
        for i in includes(&tf) {
            c.include(i);
        }
        c.out_dir(lib_dir.join("c"));
        for s in sources.iter().filter(|s| s.extension().is_some_and(|e| e == "c")) {
            c.file(s);
        }
        let objs = c.compile_intermediates();
        let status = Command::new("arm-none-eabi-ar").arg("rs").arg(&core_lib).args(&objs).status().unwrap();
        if !status.success() {
            fail("arm-none-eabi-ar failed");
        }
        fs::write(&stamp_file, &stamp).unwrap();
    }

    // ---- the model's operators -> ops.cc ----
    let names = builtin_names(&tf);
    let kernels = tflm_kernels(&tf);
    let mut used: Vec<(String, i32)> = Vec::new(); // (name, max version in the model)
    let model_file = env_var("MCUBENCH_MODEL_FILE");
    let mut overhead = 0usize;
    if let Some(path) = &model_file {
        println!("cargo:rerun-if-changed={path}");
        let bytes = fs::read(path).unwrap_or_else(|e| fail(&format!("MCUBENCH_MODEL_FILE={path}: {e}")));
        let codes = Fb(&bytes)
            .operator_codes()
            .unwrap_or_else(|| fail(&format!("MCUBENCH_MODEL_FILE={path}: not a TFLite flatbuffer")));
        overhead = Fb(&bytes).tflm_overhead().unwrap_or(64 * 1024);
        for (code, version) in codes {
            let name = names.get(&code).cloned().unwrap_or_else(|| format!("BUILTIN_{code}"));
            match used.iter_mut().find(|(n, _)| *n == name) {
                Some(entry) => entry.1 = entry.1.max(version),
                None => used.push((name, version)),
            }
        }
    }
    let mut unsupported = Vec::new();
    let mut register = String::new();
    let mut slots = 0;
    let selected: Vec<(String, i32)> = if model_file.is_some() {
        used.clone()
    } else {
        // No model named: every kernel (a library build, e.g. `cargo check`).
        kernels.iter().map(|(n, (_, _, max))| (n.clone(), *max)).collect()
    };
    for (name, version) in &selected {
        match kernels.get(name) {
            Some((reg, min, max)) if version <= max => {
                writeln!(
                    register,
                    "  if (r->AddBuiltin(tflite::BuiltinOperator_{name}, tflite::ops::micro::{reg}(), {min}, {max}) != kTfLiteOk) return 1;"
                )
                .unwrap();
                slots += (max - min + 1) as usize;
            }
            Some((_, _, max)) => unsupported.push(format!("{name} version {version} (TFLM has up to {max})")),
            None => unsupported.push(name.clone()),
        }
    }
    let max_ops = slots.max(1);
    let ops_cc = format!(
        "// generated by targets/adapters/tflm/build.rs from {}\n\
         #include \"tensorflow/lite/micro/kernels/micro_ops.h\"\n\
         #include \"tensorflow/lite/micro/micro_mutable_op_resolver.h\"\n\
         #include \"mcubench_tflm.h\"\n\
         #include \"tflm_ops.h\"\n\n\
         extern \"C\" int mcubench_tflm_register_ops(void* resolver) {{\n  \
         auto* r = static_cast<tflite::MicroMutableOpResolver<MCUBENCH_TFLM_MAX_OPS>*>(resolver);\n\
         {register}  return 0;\n}}\n",
        model_file.as_deref().unwrap_or("(no model: all kernels)")
    );
    let gen = out.join("gen");
    fs::create_dir_all(&gen).unwrap();
    fs::write(gen.join("tflm_ops.h"), format!("#define MCUBENCH_TFLM_MAX_OPS {max_ops}\n")).unwrap();
    fs::write(gen.join("ops.cc"), ops_cc).unwrap();

    // ---- shim + ops ----
    let mut shim = base_build(&cpu, &tf, &out.join("shim"));
    shim.include(manifest_dir.join("csrc"))
        .include(&gen)
        .file(manifest_dir.join("csrc/mcubench_tflm.cc"))
        .file(gen.join("ops.cc"));
    shim.compile("mcubench_tflm_shim");

    // ---- link ----
    println!("cargo:rustc-link-search=native={}", out.join("shim").display());
    println!("cargo:rustc-link-search=native={}", lib_dir.display());
    println!("cargo:rustc-link-lib=static=mcubench_tflm_shim");
    println!("cargo:rustc-link-lib=static=mcubench_tflm_core");
    // newlib's libm (and libc, for errno) of the multilib matching the CPU flags.
    let mut gcc = Command::new("arm-none-eabi-gcc");
    gcc.args(&cpu).arg("-print-file-name=libm.a");
    let libm = gcc
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim()))
        .filter(|p| p.is_absolute() && p.exists())
        .unwrap_or_else(|| {
            fail("newlib's libm.a not found for these CPU flags: install libnewlib-arm-none-eabi (scripts/setup.sh)")
        });
    println!("cargo:rustc-link-search=native={}", libm.parent().unwrap().display());
    println!("cargo:rustc-link-lib=static=m");
    println!("cargo:rustc-link-lib=static=c_nano");

    // ---- facts for the firmware ----
    let flags_line = format!(
        "{} {} {}",
        cxx_version.split_whitespace().next().unwrap_or("arm-none-eabi-g++"),
        cxx_version.rsplit(')').next().unwrap_or("").split_whitespace().next().unwrap_or(""),
        cxx_flags.iter().filter(|f| *f != "-w").cloned().collect::<Vec<_>>().join(" ")
    );
    let mut info = String::new();
    writeln!(info, "// generated by targets/adapters/tflm/build.rs").unwrap();
    writeln!(
        info,
        "pub const VERSION: &str = {:?};",
        format!("{TFMICRO_DATE} (tensorflow {commit}, tfmicro {TFMICRO_VERSION})")
    )
    .unwrap();
    writeln!(info, "pub const COMPILER: &str = {cxx_version:?};").unwrap();
    writeln!(info, "pub const BUILD_FLAGS: &str = {flags_line:?};").unwrap();
    let ops: Vec<String> = used.iter().map(|(n, v)| format!("{n} v{v}")).collect();
    writeln!(info, "pub const MODEL_OPS: &str = {:?};", ops.join(", ")).unwrap();
    writeln!(info, "pub const UNSUPPORTED_OPS: &str = {:?};", unsupported.join(", ")).unwrap();
    writeln!(info, "pub const OVERHEAD_BYTES: usize = {overhead};").unwrap();
    fs::write(out.join("tflm_info.rs"), info).unwrap();
    println!("cargo:version={commit}");
}
