//! Builds TinyMaix's C runtime (int8 models) for the firmware's target with arm-none-eabi-gcc.
//!
//! * Source: `MCUBENCH_TINYMAIX_DIR` (a checkout of github.com/sipeed/TinyMaix), else
//!   `../shared/vendor/TinyMaix` next to the repository root. Nothing of TinyMaix is copied.
//! * Configuration: TinyMaix is configured by editing its `include/tm_port.h`. We leave that
//!   file alone and force-include our own `tm_port_mcubench.h` (generated into OUT_DIR), which
//!   defines everything `tm_port.h` would and its include guard, so `tm_port.h` is skipped.
//! * Architecture: `TM_ARCH_ARM_SIMD` (its SMLAD/SXTB16 dot products) on cores with the DSP
//!   extension (thumbv7em = Cortex-M4/M7, thumbv8m.main = Cortex-M33/M55), `TM_ARCH_CPU`
//!   otherwise; `MCUBENCH_TINYMAIX_ARCH=cpu|simd|mvei` overrides. `TM_OPT0` (TinyMaix's
//!   default; `MCUBENCH_TINYMAIX_OPT=1` selects its experimental `TM_OPT1` kernels).
//! * Scratch buffers (`TM_MAX_CSIZE`, `TM_MAX_KSIZE`, `TM_MAX_KCSIZE`) are sized for the model
//!   in `MCUBENCH_MODEL_FILE` (a .tmdl) when set, as a TinyMaix user would size them, else
//!   TinyMaix's defaults.
//! * The flags and settings are exported as `TINYMAIX_BUILD_INFO` (printed by the firmware
//!   in its framework line and so recorded with the results).
use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn fail(msg: &str) -> ! {
    eprintln!("\nmcubench-adapter-tinymaix build error: {msg}\n");
    panic!("mcubench-adapter-tinymaix build error: {msg}");
}

fn env_var(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// (TM_MAX_CSIZE, TM_MAX_KSIZE, TM_MAX_KCSIZE) a .tmdl needs; None if it is not one.
fn scratch_of(b: &[u8]) -> Option<(usize, usize, usize)> {
    let u16_at = |at: usize| -> Option<usize> { Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as usize) };
    let u32_at = |at: usize| -> Option<usize> { Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as usize) };
    if b.get(0..4)? != b"MAIX" {
        return None;
    }
    let (mut cs, mut ks, mut kcs) = (1, 1, 1);
    let mut at = 64;
    for _ in 0..u16_at(10)? {
        let ty = u16_at(at)?;
        let size = u32_at(at + 4)?;
        if ty == 0 || ty == 5 {
            // CONV2D / DWCONV2D: kernel at +48, depth_mul at +60, dims at +16 / +24.
            let maxk = *b.get(at + 48)? as usize * *b.get(at + 49)? as usize;
            let chi = u16_at(at + 22)?;
            let cho = u16_at(at + 30)?;
            let dmul = u32_at(at + 60)?;
            cs = cs.max(cho);
            ks = ks.max(maxk);
            if maxk > 1 {
                kcs = kcs.max(maxk * if dmul > 0 { cho } else { chi });
            }
        }
        if size < 48 {
            return None;
        }
        at += size;
    }
    Some((cs, ks, kcs))
}

/// The upstream commit (and its date) of a vendored copy, from `../SOURCES.md` next to it, if
/// listed. TinyMaix has no release numbers, so the commit is its version.
fn vendored_commit(dir: &Path) -> Option<String> {
    let sources = dir.parent()?.join("SOURCES.md");
    println!("cargo:rerun-if-changed={}", sources.display());
    let text = fs::read_to_string(sources).ok()?;
    let line = text.lines().find(|l| l.starts_with("| TinyMaix"))?;
    let cell = line.split('|').nth(3)?;
    let commit = cell.split_whitespace().next()?.to_string();
    let date = cell.split_whitespace().nth(1).map(|d| format!(" {d}")).unwrap_or_default();
    (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())).then(|| format!("{}{date}", &commit[..12.min(commit.len())]))
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

/// `-mcpu`, `-mfpu`, `-mfloat-abi` for the board's core (`MCUBENCH_CPU`, from boards.yaml;
/// else the target's usual core). The float ABI follows the Rust target, with the core's
/// single-precision FPU as the Rust code assumes. `TM_ARCH_ARM_MVEI` needs Helium (M55/M85).
fn cpu_flags(target: &str, cpu: Option<&str>, arch: &str) -> Vec<String> {
    let default = if target.starts_with("thumbv7em") {
        "cortex-m4"
    } else if target.starts_with("thumbv8m.main") {
        "cortex-m55"
    } else if target.starts_with("thumbv7m") {
        "cortex-m3"
    } else {
        "cortex-m0plus"
    };
    let cpu = cpu.unwrap_or(default);
    let v8 = matches!(cpu, "cortex-m33" | "cortex-m35p" | "cortex-m55" | "cortex-m85");
    if target.starts_with("thumbv8m.main") != v8 {
        fail(&format!("MCUBENCH_CPU={cpu} does not match the target {target}"));
    }
    if arch == "TM_ARCH_ARM_MVEI" && !matches!(cpu, "cortex-m55" | "cortex-m85") {
        fail(&format!("MCUBENCH_TINYMAIX_ARCH=mvei needs a core with Helium (cortex-m55, cortex-m85), not {cpu}"));
    }
    let mut f = vec![format!("-mcpu={cpu}"), "-mthumb".to_string()];
    if target.ends_with("eabihf") {
        let fpu = match cpu {
            "cortex-m4" => "fpv4-sp-d16",
            "cortex-m7" | "cortex-m33" | "cortex-m35p" => "fpv5-sp-d16",
            "cortex-m55" | "cortex-m85" => "auto",
            other => fail(&format!("MCUBENCH_CPU={other} has no FPU for the hard-float target {target}")),
        };
        f.push("-mfloat-abi=hard".into());
        f.push(format!("-mfpu={fpu}"));
    } else {
        f.push("-mfloat-abi=soft".into());
    }
    f
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target = env::var("TARGET").unwrap_or_default();

    // ---- sources ----
    let repo_root = manifest.join("../../..");
    let dir = match env_var("MCUBENCH_TINYMAIX_DIR") {
        Some(d) => PathBuf::from(d),
        None => repo_root.join("../shared/vendor/TinyMaix"),
    };
    let dir = dir.canonicalize().unwrap_or(dir);
    let needed = ["include/tinymaix.h", "src/tm_model.c", "src/tm_layers.c", "src/arch_cpu.h", "src/arch_arm_simd.h"];
    if let Some(missing) = needed.iter().find(|f| !dir.join(f).is_file()) {
        fail(&format!(
            "TinyMaix sources not found: {} has no {missing}. Get them with \
             `git clone https://github.com/sipeed/TinyMaix` and set MCUBENCH_TINYMAIX_DIR to the \
             checkout (the default is ../shared/vendor/TinyMaix next to the repository root).",
            dir.display()
        ));
    }
    for f in needed.iter().chain(["src/tm_layers_O1.c", "src/arch_arm_mvei.h"].iter()) {
        println!("cargo:rerun-if-changed={}", dir.join(f).display());
    }
    let version = env_var("MCUBENCH_TINYMAIX_VERSION")
        .or_else(|| vendored_commit(&dir))
        .unwrap_or_else(|| "unknown-commit".to_string());

    // ---- architecture ----
    let dsp = target.starts_with("thumbv7em") || target.starts_with("thumbv8m.main");
    let arch = match env_var("MCUBENCH_TINYMAIX_ARCH").as_deref() {
        Some("cpu") => "TM_ARCH_CPU",
        Some("simd") => "TM_ARCH_ARM_SIMD",
        Some("mvei") => "TM_ARCH_ARM_MVEI",
        Some(other) => fail(&format!("MCUBENCH_TINYMAIX_ARCH={other:?}: expected cpu, simd or mvei")),
        None if dsp => "TM_ARCH_ARM_SIMD",
        None => "TM_ARCH_CPU",
    };
    let opt = match env_var("MCUBENCH_TINYMAIX_OPT").as_deref() {
        None | Some("0") => "TM_OPT0",
        Some("1") => "TM_OPT1",
        Some(o) => fail(&format!("MCUBENCH_TINYMAIX_OPT={o:?}: expected 0 or 1")),
    };

    // ---- scratch sizes ----
    let (mut csize, mut ksize, mut kcsize, mut sized_for) = (1000usize, 25usize, 3 * 3 * 256usize, "TinyMaix defaults");
    if let Some(path) = env_var("MCUBENCH_MODEL_FILE") {
        println!("cargo:rerun-if-changed={path}");
        if let Some((c, k, kc)) = fs::read(&path).ok().as_deref().and_then(scratch_of) {
            (csize, ksize, kcsize, sized_for) = (c, k, kc, "the model");
        }
    }

    // ---- port header ----
    let mut h = String::new();
    writeln!(h, "/* generated by mcubench-adapter-tinymaix build.rs: replaces TinyMaix's include/tm_port.h */").unwrap();
    h.push_str(
        "#ifndef __TM_PORT_H\n#define __TM_PORT_H\n\
         #define TM_ARCH_CPU (0)\n#define TM_ARCH_ARM_SIMD (1)\n#define TM_ARCH_ARM_NEON (2)\n\
         #define TM_ARCH_ARM_MVEI (3)\n#define TM_ARCH_RV32P (4)\n#define TM_ARCH_RV64V (5)\n\
         #define TM_ARCH_CSKYV2 (6)\n#define TM_ARCH_X86_SSE2 (7)\n\
         #define TM_OPT0 (0)\n#define TM_OPT1 (1)\n#define TM_OPT2 (2)\n",
    );
    writeln!(h, "#define TM_ARCH {arch}").unwrap();
    writeln!(h, "#define TM_OPT_LEVEL {opt}").unwrap();
    h.push_str(
        "#define TM_MDL_TYPE TM_MDL_INT8\n#define TM_FASTSCALE (0)\n#define TM_LOCAL_MATH (0)\n\
         #define TM_ENABLE_STAT (0)\n",
    );
    writeln!(h, "#define TM_MAX_CSIZE ({csize})\n#define TM_MAX_KSIZE ({ksize})\n#define TM_MAX_KCSIZE ({kcsize})").unwrap();
    h.push_str(
        "#define TM_INLINE __attribute__((always_inline)) static inline\n\
         #define TM_WEAK __attribute__((weak))\n\
         /* the firmware passes its own main buffer and no sub buffer: no heap */\n\
         #define tm_malloc(x) ((void*)0)\n#define tm_free(x) ((void)0)\n\
         /* no console output from inside the counted window */\n\
         #define TM_PRINTF(...) ((void)0)\n#define TM_DBG(...) ((void)0)\n#define TM_DBGL() ((void)0)\n\
         #define TM_GET_US() (0u)\n#define TM_DBGT_INIT()\n#define TM_DBGT_START()\n#define TM_DBGT(x)\n\
         #define TM_EN_PERF 0\n#define TM_GET_TICK(x)\n#define TM_TICK_PERUS\n#define TM_PERF_REG(x)\n\
         #define TM_PERF_EXTREG(x)\n#define TM_PERF_INIT(x)\n#define TM_PERF_START(x)\n#define TM_PERF_ADD(x)\n\
         #define TM_PERF_PRINT(x)\n#endif\n",
    );
    let port = out.join("tm_port_mcubench.h");
    fs::write(&port, h).unwrap();

    // ---- compile ----
    // Every flag is set here (cc's defaults add `-march`, which would override `-mcpu`), so the
    // recorded flags are exactly the ones used.
    let mut flags: Vec<String> = vec![opt_flag()];
    flags.extend(cpu_flags(&target, env_var("MCUBENCH_CPU").as_deref(), arch));
    // arch_arm_simd.h's inline assembly clobbers r7, Thumb's frame pointer.
    for f in ["-std=gnu99", "-ffunction-sections", "-fdata-sections", "-fno-common", "-fomit-frame-pointer"] {
        flags.push(f.into());
    }
    if let Some(extra) = env_var("MCUBENCH_TINYMAIX_CFLAGS") {
        flags.extend(extra.split_whitespace().map(String::from));
    }
    let mut b = cc::Build::new();
    b.no_default_flags(true)
        .include(dir.join("include"))
        .include(dir.join("src"))
        .flag("-include")
        .flag(port.to_str().unwrap())
        .warnings(false);
    for f in &flags {
        b.flag(f);
    }
    let files = if opt == "TM_OPT1" { ["src/tm_model.c", "src/tm_layers_O1.c"] } else { ["src/tm_model.c", "src/tm_layers.c"] };
    for f in files {
        b.file(dir.join(f));
    }
    let compiler = b.get_compiler();
    let cc_name = compiler.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let cc_version = Command::new(compiler.path())
        .arg("-dumpfullversion")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if let Err(e) = b.try_compile("tinymaix") {
        fail(&format!("compiling TinyMaix from {} with {cc_name} failed: {e}", dir.display()));
    }

    let arch_short = arch.trim_start_matches("TM_ARCH_");
    // Settings, then compiler and flags: `m-mcubench-framework-build-[...]`.
    let build = format!(
        "int8 {arch_short} {} scratch(c={csize},k={ksize},kc={kcsize}; {sized_for}), {cc_name} {cc_version} {}",
        opt.trim_start_matches("TM_"),
        flags.join(" ")
    );
    println!("cargo:rustc-env=TINYMAIX_BUILD_INFO={version} {build}");
    println!("cargo:rustc-env=TINYMAIX_BUILD={build}");
    println!("cargo:rustc-env=TINYMAIX_VERSION={version}");
    println!("cargo:rustc-env=TINYMAIX_ARCH={arch_short}");
    println!("cargo:rustc-env=TINYMAIX_SCRATCH_BYTES={}", 4 * csize + 4 * ksize + kcsize);
}
