//! Build script of the mcubench firmware.
//!
//! * picks the board (cargo feature `board-*`, exactly one),
//! * writes `memory.x` into OUT_DIR: the board's default map from `memory/<board>.x`, each value
//!   overridable by `MCUBENCH_{FLASH,RAM}_{ORIGIN,SIZE}`,
//! * copies the model blob (`MCUBENCH_MODEL_BLOB`) into OUT_DIR for `include_bytes!`,
//! * writes `config.rs` into OUT_DIR with the build-time constants (workload, arena and input
//!   buffer sizes, SysTick clock, runtime version, board name),
//! * passes `-Tlink.x` to the linker (here rather than in `.cargo/config.toml`, so that builds
//!   started from any directory with `--manifest-path` link correctly).

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

struct Board {
    /// Cargo feature name without the `board-` prefix; also the `memory/<name>.x` file.
    name: &'static str,
    feature_env: &'static str,
    systick_hz: u64,
}

const BOARDS: &[Board] = &[
    Board { name: "mps2", feature_env: "CARGO_FEATURE_BOARD_MPS2", systick_hz: 25_000_000 },
    Board {
        name: "mps3-an547",
        feature_env: "CARGO_FEATURE_BOARD_MPS3_AN547",
        systick_hz: 32_000_000,
    },
    // Real boards: SysTick runs on the core clock the board module sets up.
    Board {
        name: "nucleo-l4r5zi",
        feature_env: "CARGO_FEATURE_BOARD_NUCLEO_L4R5ZI",
        systick_hz: 120_000_000,
    },
    Board {
        name: "stm32f746g-disco",
        feature_env: "CARGO_FEATURE_BOARD_STM32F746G_DISCO",
        systick_hz: 216_000_000,
    },
    Board {
        name: "nucleo-h743zi",
        feature_env: "CARGO_FEATURE_BOARD_NUCLEO_H743ZI",
        systick_hz: 400_000_000,
    },
    Board {
        name: "nrf52840-dk",
        feature_env: "CARGO_FEATURE_BOARD_NRF52840_DK",
        systick_hz: 64_000_000,
    },
    Board { name: "rp-pico", feature_env: "CARGO_FEATURE_BOARD_RP_PICO", systick_hz: 125_000_000 },
];

/// Workload id -> default db buffer size (bytes sent by the MLPerf Tiny runner).
const WORKLOADS: &[(&str, u64)] =
    &[("ad01", 640 * 4), ("kws01", 490), ("vww01", 96 * 96 * 3), ("ic01", 32 * 32 * 3)];

fn fail(msg: &str) -> ! {
    eprintln!("\nmcubench-firmware build error: {msg}\n");
    panic!("mcubench-firmware build error: {msg}");
}

fn env_var(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    match env::var(name) {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().to_string()),
        _ => None,
    }
}

/// Parses `123`, `0x1F`, `1_000`, and the linker-script suffixes `K` / `M`.
fn parse_num(text: &str) -> Option<u64> {
    let t: String = text.trim().chars().filter(|c| *c != '_').collect();
    let (digits, mult) = match t.chars().last()? {
        'K' | 'k' => (&t[..t.len() - 1], 1024),
        'M' | 'm' => (&t[..t.len() - 1], 1024 * 1024),
        _ => (&t[..], 1),
    };
    let v = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()?
    } else {
        digits.parse::<u64>().ok()?
    };
    v.checked_mul(mult)
}

fn num_env(name: &str) -> Option<u64> {
    env_var(name).map(|v| {
        parse_num(&v).unwrap_or_else(|| {
            fail(&format!("{name}={v:?} is not a number (decimal, 0x-hex, or with K/M suffix)"))
        })
    })
}

/// Reads `NAME : ORIGIN = x, LENGTH = y` from a board memory file.
fn region_from_file(text: &str, region: &str, file: &Path) -> (u64, u64) {
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix(region) else { continue };
        let Some(rest) = rest.trim_start().strip_prefix(':') else { continue };
        let mut origin = None;
        let mut length = None;
        for part in rest.split(',') {
            let mut kv = part.splitn(2, '=');
            let key = kv.next().unwrap_or("").trim();
            let value = kv.next().map(parse_num);
            match (key, value) {
                ("ORIGIN", Some(v)) => origin = v,
                ("LENGTH", Some(v)) => length = v,
                _ => {}
            }
        }
        if let (Some(o), Some(l)) = (origin, length) {
            return (o, l);
        }
    }
    fail(&format!("{}: no parsable `{region} : ORIGIN = .., LENGTH = ..` line", file.display()))
}

/// What a board memory file has besides FLASH and RAM, copied into the generated memory.x:
/// (other region lines inside `MEMORY { .. }`, e.g. the RP2040's `BOOT2`; everything after
/// the block, e.g. a `SECTIONS { .boot2 .. } INSERT BEFORE .text;`). Empty for most boards.
fn memory_extras(text: &str) -> (String, String) {
    let mut regions = String::new();
    let mut trailer = String::new();
    let mut state = 0; // 0 before MEMORY, 1 inside, 2 after
    for line in text.lines() {
        let t = line.trim();
        match state {
            0 => {
                if t.starts_with("MEMORY") {
                    state = if t.contains('}') { 2 } else { 1 };
                }
            }
            1 => {
                if t.starts_with('}') {
                    state = 2;
                } else if !(t.is_empty()
                    || t == "{"
                    || t.starts_with("FLASH")
                    || t.starts_with("RAM")
                    || t.starts_with("/*")
                    || t.starts_with('*'))
                {
                    regions.push_str("  ");
                    regions.push_str(t);
                    regions.push('\n');
                }
            }
            _ => {
                trailer.push_str(line);
                trailer.push('\n');
            }
        }
    }
    if trailer.trim().is_empty() {
        trailer.clear();
    }
    (regions, trailer)
}

/// The reference runtime's version: its own `version = ".."` or the root workspace's.
fn runtime_version(manifest_dir: &Path) -> String {
    let rt_toml = manifest_dir.join("../../reference-runtime/Cargo.toml");
    let root_toml = manifest_dir.join("../../Cargo.toml");
    println!("cargo:rerun-if-changed={}", rt_toml.display());
    let find = |text: &str, section: &str| -> Option<String> {
        let mut in_section = false;
        for line in text.lines() {
            let l = line.trim();
            if l.starts_with('[') {
                in_section = l == section;
                continue;
            }
            if in_section {
                if let Some(v) = l.strip_prefix("version") {
                    let v = v.trim_start();
                    if let Some(v) = v.strip_prefix('=') {
                        let v = v.trim();
                        if v.starts_with('"') {
                            return Some(v.trim_matches('"').to_string());
                        }
                    }
                }
            }
        }
        None
    };
    if let Ok(text) = fs::read_to_string(&rt_toml) {
        if let Some(v) = find(&text, "[package]") {
            return v;
        }
    }
    if let Ok(text) = fs::read_to_string(&root_toml) {
        println!("cargo:rerun-if-changed={}", root_toml.display());
        if let Some(v) = find(&text, "[workspace.package]") {
            return v;
        }
    }
    "unknown".to_string()
}

/// How the Rust code (reference runtime, microflow's generated model) is compiled, for
/// `m-mcubench-framework-build-[...]`: rustc's version, the profile's opt-level, the target and
/// any extra RUSTFLAGS. The Rust code is built for the target's generic core (no target-cpu).
fn rust_build() -> String {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(&rustc)
        .arg("-V")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(|v| format!("rustc {v}")))
        .unwrap_or_else(|| "rustc".into());
    let mut s = format!(
        "{version} -C opt-level={} --target {}",
        env::var("OPT_LEVEL").unwrap_or_default(),
        env::var("TARGET").unwrap_or_default()
    );
    if env::var("PROFILE").as_deref() == Ok("release") {
        // targets/firmware/Cargo.toml [profile.release].
        s.push_str(" -C lto=fat -C codegen-units=1 -C panic=abort");
    }
    let flags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default().replace('\x1f', " ");
    if !flags.trim().is_empty() {
        s.push(' ');
        s.push_str(flags.trim());
    }
    s
}

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    println!("cargo:rerun-if-changed=build.rs");
    // ARMv6-M (Cortex-M0/M0+): no `dbg` hint for the window markers, no DWT cycle counter.
    println!("cargo::rustc-check-cfg=cfg(mcubench_armv6m)");
    if env::var("TARGET").unwrap_or_default().starts_with("thumbv6m") {
        println!("cargo:rustc-cfg=mcubench_armv6m");
    }

    // ---- board ----
    let selected: Vec<&Board> = BOARDS.iter().filter(|b| env::var_os(b.feature_env).is_some()).collect();
    let board = match selected.as_slice() {
        [b] => *b,
        [] => fail(&format!(
            "select a board with a cargo feature: {}",
            BOARDS.iter().map(|b| format!("board-{}", b.name)).collect::<Vec<_>>().join(", ")
        )),
        _ => fail("more than one board-* feature is enabled; pick exactly one"),
    };

    // ---- memory.x ----
    let mem_file = manifest_dir.join("memory").join(format!("{}.x", board.name));
    println!("cargo:rerun-if-changed={}", mem_file.display());
    let mem_text = fs::read_to_string(&mem_file)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", mem_file.display())));
    let (mut flash_origin, mut flash_size) = region_from_file(&mem_text, "FLASH", &mem_file);
    let (mut ram_origin, mut ram_size) = region_from_file(&mem_text, "RAM", &mem_file);
    if let Some(v) = num_env("MCUBENCH_FLASH_ORIGIN") {
        flash_origin = v;
    }
    if let Some(v) = num_env("MCUBENCH_FLASH_SIZE") {
        flash_size = v;
    }
    if let Some(v) = num_env("MCUBENCH_RAM_ORIGIN") {
        ram_origin = v;
    }
    if let Some(v) = num_env("MCUBENCH_RAM_SIZE") {
        ram_size = v;
    }
    let (extra_regions, trailer) = memory_extras(&mem_text);
    let memory_x = format!(
        "/* generated by mcubench-firmware build.rs for board-{} */\nMEMORY\n{{\n{extra_regions}  \
         FLASH : ORIGIN = {flash_origin:#010x}, LENGTH = {flash_size:#x}\n  \
         RAM   : ORIGIN = {ram_origin:#010x}, LENGTH = {ram_size:#x}\n}}\n{trailer}",
        board.name
    );
    fs::write(out.join("memory.x"), memory_x).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg-bins=--nmagic");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");

    // ---- model, workload, sizes ----
    let no_model = env::var_os("CARGO_FEATURE_NO_MODEL").is_some();
    let blob = env_var("MCUBENCH_MODEL_BLOB");
    let workload = env_var("MCUBENCH_WORKLOAD");
    let model_bin = out.join("model.bin");
    // (arena bytes the plan needs, input elements, output elements) of the embedded model.
    let mut model_facts: Option<(usize, usize, usize)> = None;
    if no_model {
        // The model bytes are not embedded; keep an empty file so paths stay valid.
        fs::write(&model_bin, []).unwrap();
    } else {
        let Some(blob) = blob.as_deref() else {
            fail(
                "MCUBENCH_MODEL_BLOB is not set. Point it at a model blob made by the importer \
                 (mcubench_workloads::import_tflite), or build with `--features no-model` for a \
                 protocol-only firmware.",
            )
        };
        println!("cargo:rerun-if-changed={blob}");
        let bytes = fs::read(blob)
            .unwrap_or_else(|e| fail(&format!("MCUBENCH_MODEL_BLOB={blob}: cannot read: {e}")));
        if bytes.is_empty() {
            fail(&format!("MCUBENCH_MODEL_BLOB={blob} is empty"));
        }
        let model = mcubench_runtime::Model::from_bytes(&bytes).unwrap_or_else(|e| {
            fail(&format!("MCUBENCH_MODEL_BLOB={blob} is not a valid model blob: {e}"))
        });
        model_facts = Some((model.arena_bytes(), model.input().len, model.output().len));
        fs::write(&model_bin, &bytes).unwrap();
    }

    // A framework's own model file (e.g. the .tflite for TFLite Micro), next to the blob; the
    // blob stays the source of the model's facts (arena plan, input and output sizes).
    let model_file_out = out.join("model_file.bin");
    match env_var("MCUBENCH_MODEL_FILE") {
        Some(path) => {
            println!("cargo:rerun-if-changed={path}");
            let bytes = fs::read(&path)
                .unwrap_or_else(|e| fail(&format!("MCUBENCH_MODEL_FILE={path}: cannot read: {e}")));
            fs::write(&model_file_out, bytes).unwrap();
        }
        None => fs::write(&model_file_out, []).unwrap(),
    }

    let workload = match workload {
        Some(w) => {
            if !WORKLOADS.iter().any(|(id, _)| *id == w) {
                fail(&format!("MCUBENCH_WORKLOAD={w:?}: expected one of ad01, kws01, vww01, ic01"));
            }
            w
        }
        None if no_model => "none".to_string(),
        None => fail("MCUBENCH_WORKLOAD is not set: expected one of ad01, kws01, vww01, ic01"),
    };
    let default_input =
        WORKLOADS.iter().find(|(id, _)| *id == workload).map(|(_, n)| *n).unwrap_or(96 * 96 * 3);
    let input_bytes = num_env("MCUBENCH_INPUT_BYTES").unwrap_or(default_input);
    if input_bytes == 0 {
        fail("MCUBENCH_INPUT_BYTES must be > 0");
    }
    let arena_env = num_env("MCUBENCH_ARENA_BYTES");
    let (arena_bytes, prepared_bytes) = match model_facts {
        None => (arena_env.unwrap_or(0), 0u64),
        Some((needed, input_len, output_len)) => {
            let arena = arena_env.unwrap_or(needed as u64);
            if arena < needed as u64 {
                fail(&format!(
                    "MCUBENCH_ARENA_BYTES={arena} is smaller than the {needed} bytes the model's \
                     arena plan needs"
                ));
            }
            let per_elem = if workload == "ad01" { 4 } else { 1 };
            let needed_input = input_len as u64 * per_elem;
            if input_bytes < needed_input {
                fail(&format!(
                    "MCUBENCH_INPUT_BYTES={input_bytes} is smaller than the {needed_input} bytes \
                     the {workload} input needs ({input_len} elements)"
                ));
            }
            if workload == "ad01" && output_len != input_len {
                fail(&format!(
                    "ad01 needs output length == input length for its reconstruction error \
                     (model: input {input_len}, output {output_len})"
                ));
            }
            (arena, input_len as u64)
        }
    };
    let systick_hz = num_env("MCUBENCH_SYSTICK_HZ").unwrap_or(board.systick_hz);
    if systick_hz == 0 {
        fail("MCUBENCH_SYSTICK_HZ must be > 0");
    }
    let version = runtime_version(&manifest_dir);

    let mut cfg = String::new();
    writeln!(cfg, "// generated by build.rs").unwrap();
    writeln!(cfg, "pub const BOARD: &str = \"board-{}\";", board.name).unwrap();
    writeln!(cfg, "pub const WORKLOAD: &str = {workload:?};").unwrap();
    let kind = match workload.as_str() {
        "ad01" => "Ad01",
        "kws01" => "Kws01",
        "vww01" => "Vww01",
        "ic01" => "Ic01",
        _ => "None",
    };
    writeln!(cfg, "pub const WORKLOAD_KIND: Workload = Workload::{kind};").unwrap();
    writeln!(cfg, "pub const INPUT_BYTES: usize = {input_bytes};").unwrap();
    writeln!(cfg, "pub const ARENA_BYTES: usize = {arena_bytes};").unwrap();
    writeln!(cfg, "pub const PREPARED_BYTES: usize = {prepared_bytes};").unwrap();
    writeln!(cfg, "pub const SYSTICK_HZ: u64 = {systick_hz};").unwrap();
    writeln!(cfg, "pub const RUNTIME_VERSION: &str = {version:?};").unwrap();
    writeln!(cfg, "pub const RUST_BUILD: &str = {:?};", rust_build()).unwrap();
    fs::write(out.join("config.rs"), cfg).unwrap();
}
