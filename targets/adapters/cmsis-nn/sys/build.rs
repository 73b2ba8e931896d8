//! Build script of `mcubench-adapter-cmsis-nn-sys`: finds a CMSIS-NN checkout, picks the compiler
//! flags of the target core, and compiles the int8 kernels the adapter calls with
//! `arm-none-eabi-gcc` (through the `cc` crate).
//!
//! Settings (environment):
//!
//! * `MCUBENCH_CMSIS_NN_DIR`: the CMSIS-NN checkout (holds `Include/` and `Source/`). Default:
//!   `../shared/vendor/CMSIS-NN` next to the mcubench repository. Get it with
//!   `git clone https://github.com/ARM-software/CMSIS-NN`.
//! * `MCUBENCH_CMSIS_NN_VERSION`: the version recorded in the results. Default: the checkout's
//!   git commit, else the commit listed for CMSIS-NN in `SOURCES.md` next to the checkout.
//! * `MCUBENCH_CPU`: `cortex-m4` / `cortex-m7` on `thumbv7em-*` (default `cortex-m4`; the two
//!   differ only in scheduling), `cortex-m55` / `cortex-m85` / `cortex-m33` on
//!   `thumbv8m.main-*` (default `cortex-m55`).
//! * `MCUBENCH_CMSIS_NN_MVE=0`: build the DSP (not the Helium/MVE) kernels on an MVE core.
//! * `MCUBENCH_CMSIS_NN_CFLAGS`: extra compiler flags, appended (and recorded).
//!
//! Exposed to the crate (`env!`): `MCUBENCH_CMSIS_NN_VERSION`, `MCUBENCH_CMSIS_NN_BUILD`
//! (variant, compiler and flags), `MCUBENCH_CMSIS_NN_VARIANT` (`mve`, `dsp` or `c`); and to
//! dependents' build scripts: `DEP_CMSIS_NN_ROOT`, `DEP_CMSIS_NN_INCLUDE`,
//! `DEP_CMSIS_NN_VARIANT`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The CMSIS-NN sources the adapter needs: the int8 operators it calls and everything they
/// call on the DSP (Cortex-M4/M7) and MVE (Cortex-M55) paths, relative to `Source/`.
const SOURCES: &[&str] = &[
    "ConvolutionFunctions/arm_convolve_wrapper_s8.c",
    "ConvolutionFunctions/arm_convolve_s8.c",
    "ConvolutionFunctions/arm_convolve_1x1_s8.c",
    "ConvolutionFunctions/arm_convolve_1x1_s8_fast.c",
    "ConvolutionFunctions/arm_convolve_1_x_n_s8.c",
    "ConvolutionFunctions/arm_convolve_get_buffer_sizes_s8.c",
    "ConvolutionFunctions/arm_depthwise_conv_wrapper_s8.c",
    "ConvolutionFunctions/arm_depthwise_conv_s8.c",
    "ConvolutionFunctions/arm_depthwise_conv_s8_opt.c",
    "ConvolutionFunctions/arm_depthwise_conv_3x3_s8.c",
    "ConvolutionFunctions/arm_depthwise_conv_get_buffer_sizes_s8.c",
    "ConvolutionFunctions/arm_nn_mat_mult_kernel_s8_s16.c",
    "ConvolutionFunctions/arm_nn_mat_mult_kernel_row_offset_s8_s16.c",
    "FullyConnectedFunctions/arm_fully_connected_s8.c",
    "FullyConnectedFunctions/arm_fully_connected_per_channel_s8.c",
    "FullyConnectedFunctions/arm_fully_connected_get_buffer_sizes_s8.c",
    "FullyConnectedFunctions/arm_vector_sum_s8.c",
    "PoolingFunctions/arm_avgpool_s8.c",
    "PoolingFunctions/arm_avgpool_get_buffer_sizes_s8.c",
    "PoolingFunctions/arm_max_pool_s8.c",
    "BasicMathFunctions/arm_elementwise_add_s8.c",
    "SoftmaxFunctions/arm_softmax_s8.c",
    "SoftmaxFunctions/arm_nn_softmax_common_s8.c",
    "TransposeFunctions/arm_transpose_s8.c",
    "NNSupportFunctions/arm_nn_mat_mult_nt_t_s8.c",
    "NNSupportFunctions/arm_nn_vec_mat_mult_t_s8.c",
    "NNSupportFunctions/arm_nn_vec_mat_mult_t_per_ch_s8.c",
    "NNSupportFunctions/arm_nn_depthwise_conv_nt_t_s8.c",
    "NNSupportFunctions/arm_q7_to_q15_with_offset.c",
    "NNSupportFunctions/arm_s8_to_s16_unordered_with_offset.c",
];

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

/// Which CMSIS-NN code paths the flags select.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// Arm Helium (M-profile Vector Extension).
    Mve,
    /// The DSP extension's SIMD instructions (SMLAD, SXTB16, ...).
    Dsp,
    /// Plain C.
    C,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Mve => "mve",
            Variant::Dsp => "dsp",
            Variant::C => "c",
        }
    }
}

struct CoreFlags {
    variant: Variant,
    flags: Vec<String>,
}

fn flags(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The core's flags for `target`; `mve` = try the Helium build where the core has it.
fn core_flags(target: &str, cpu: Option<&str>, mve: bool) -> CoreFlags {
    let bad_cpu = |cpu: &str, allowed: &str| -> ! {
        fail(&format!("MCUBENCH_CPU={cpu} does not match the target {target} (expected one of {allowed})"))
    };
    match target {
        "thumbv7em-none-eabihf" | "thumbv7em-none-eabi" => {
            let cpu = cpu.unwrap_or("cortex-m4");
            let hard = target.ends_with("hf");
            let fpu = match cpu {
                "cortex-m4" => "fpv4-sp-d16",
                // Single precision, as the Rust target assumes (and the STM32F746 has).
                "cortex-m7" => "fpv5-sp-d16",
                other => bad_cpu(other, "cortex-m4, cortex-m7"),
            };
            let mut f = vec![format!("-mcpu={cpu}"), "-mthumb".into()];
            if hard {
                f.push("-mfloat-abi=hard".into());
                f.push(format!("-mfpu={fpu}"));
            } else {
                f.push("-mfloat-abi=soft".into());
            }
            f.push("-DARM_MATH_DSP".into());
            CoreFlags { variant: Variant::Dsp, flags: f }
        }
        "thumbv8m.main-none-eabihf" | "thumbv8m.main-none-eabi" => {
            let cpu = cpu.unwrap_or("cortex-m55");
            let hard = target.ends_with("hf");
            let has_mve = match cpu {
                "cortex-m55" | "cortex-m85" => true,
                "cortex-m33" | "cortex-m35p" => false,
                other => bad_cpu(other, "cortex-m55, cortex-m85, cortex-m33, cortex-m35p"),
            };
            let float_abi = if hard { "-mfloat-abi=hard" } else { "-mfloat-abi=soft" };
            if has_mve && mve {
                let mut f = vec![format!("-mcpu={cpu}"), "-mthumb".into(), float_abi.into()];
                if hard {
                    f.push("-mfpu=auto".into());
                }
                CoreFlags { variant: Variant::Mve, flags: f }
            } else {
                let cpu_arg = if has_mve { format!("-mcpu={cpu}+nomve") } else { format!("-mcpu={cpu}") };
                let mut f = vec![cpu_arg, "-mthumb".into(), float_abi.into()];
                if hard {
                    f.push("-mfpu=auto".into());
                }
                f.push("-DARM_MATH_DSP".into());
                CoreFlags { variant: Variant::Dsp, flags: f }
            }
        }
        "thumbv7m-none-eabi" => {
            CoreFlags { variant: Variant::C, flags: flags(&["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"]) }
        }
        "thumbv6m-none-eabi" => {
            CoreFlags { variant: Variant::C, flags: flags(&["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"]) }
        }
        "thumbv8m.base-none-eabi" => {
            CoreFlags { variant: Variant::C, flags: flags(&["-mcpu=cortex-m23", "-mthumb", "-mfloat-abi=soft"]) }
        }
        other => fail(&format!(
            "target {other} is not supported by the CMSIS-NN adapter (Cortex-M thumb targets only: \
             thumbv6m, thumbv7m, thumbv7em, thumbv8m.base, thumbv8m.main)"
        )),
    }
}

/// The CMSIS-NN checkout: `MCUBENCH_CMSIS_NN_DIR`, else `../shared/vendor/CMSIS-NN` next to
/// the repository.
fn source_dir(manifest_dir: &Path) -> PathBuf {
    let (dir, from) = match env_var("MCUBENCH_CMSIS_NN_DIR") {
        Some(d) => (PathBuf::from(d), "MCUBENCH_CMSIS_NN_DIR"),
        // targets/adapters/cmsis-nn/sys -> repository root is four levels up.
        None => (manifest_dir.join("../../../../../shared/vendor/CMSIS-NN"), "the default location"),
    };
    let header = dir.join("Include/arm_nnfunctions.h");
    if !header.is_file() {
        fail(&format!(
            "CMSIS-NN sources not found at {} ({from}: no Include/arm_nnfunctions.h). Get them with \
             `git clone https://github.com/ARM-software/CMSIS-NN` and set \
             MCUBENCH_CMSIS_NN_DIR=<that directory> (tests and CI fall back to \
             ../shared/vendor/CMSIS-NN next to the repository)",
            dir.display()
        ));
    }
    dir.canonicalize().unwrap_or(dir)
}

/// `$Revision: V.19.1.0` in `Include/arm_nnfunctions.h`: CMSIS-NN's API version.
fn header_revision(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("Include/arm_nnfunctions.h")).ok()?;
    let line = text.lines().find(|l| l.contains("$Revision:"))?;
    let v = line.split("$Revision:").nth(1)?.split_whitespace().next()?;
    Some(v.trim_start_matches("V.").trim_start_matches('V').to_string())
}

/// The version recorded in the results: the setting, else `<header revision> (<commit>)` with
/// the checkout's commit or the commit `SOURCES.md` (next to a vendored copy) lists.
fn version(dir: &Path) -> String {
    if let Some(v) = env_var("MCUBENCH_CMSIS_NN_VERSION") {
        return v;
    }
    let commit = commit(dir);
    match header_revision(dir) {
        Some(rev) => format!("{rev} ({commit})"),
        None => commit,
    }
}

fn commit(dir: &Path) -> String {
    if dir.join(".git").exists() {
        let out = Command::new("git").arg("-C").arg(dir).args(["rev-parse", "--short=12", "HEAD"]).output();
        if let Ok(out) = out {
            if out.status.success() {
                let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if !v.is_empty() {
                    return v;
                }
            }
        }
    }
    if let Some(parent) = dir.parent() {
        let sources = parent.join("SOURCES.md");
        println!("cargo:rerun-if-changed={}", sources.display());
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Ok(text) = std::fs::read_to_string(&sources) {
            for line in text.lines() {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                // | folder | upstream | commit (date) | licence | what was kept |
                if cells.len() > 3 && cells[1] == name {
                    if let Some(commit) = cells[3].split_whitespace().next() {
                        if commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit()) {
                            return commit[..commit.len().min(12)].to_string();
                        }
                    }
                }
            }
        }
    }
    "unknown".to_string()
}

fn compiler_version(build: &cc::Build) -> String {
    let tool = build.get_compiler();
    let name = tool.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let out = Command::new(tool.path()).arg("-dumpfullversion").output();
    match out {
        Ok(o) if o.status.success() => format!("{name} {}", String::from_utf8_lossy(&o.stdout).trim()),
        _ => name,
    }
}

fn build(dir: &Path, manifest_dir: &Path, core: &CoreFlags, extra: &[String]) -> Result<(cc::Build, Vec<String>), cc::Error> {
    let mut b = cc::Build::new();
    // cc's default flags would add `-march=...` from the target, which overrides `-mcpu` (and
    // would drop MVE on the Cortex-M55); every flag is set here instead.
    b.no_default_flags(true).warnings(false).extra_warnings(false).cargo_warnings(false);
    b.include(dir.join("Include"));
    let mut all: Vec<String> = vec!["-O3".into()];
    all.extend(core.flags.iter().cloned());
    all.extend(flags(&["-ffunction-sections", "-fdata-sections"]));
    all.extend(extra.iter().cloned());
    for f in &all {
        b.flag(f);
    }
    for src in SOURCES {
        let p = dir.join("Source").join(src);
        if !p.is_file() {
            fail(&format!(
                "{} is missing: this CMSIS-NN checkout is older or newer than the adapter expects \
                 (tested with ARM-software/CMSIS-NN 99f736a, 2026-07)",
                p.display()
            ));
        }
        b.file(p);
    }
    // Static checks that the Rust struct declarations match the C headers.
    b.file(manifest_dir.join("csrc/layout_check.c"));
    b.try_compile("cmsis-nn")?;
    Ok((b, all))
}

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let target = env::var("TARGET").unwrap();
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=csrc/layout_check.c");

    let dir = source_dir(&manifest_dir);
    println!("cargo:rerun-if-changed={}", dir.join("Include").display());
    println!("cargo:rerun-if-changed={}", dir.join("Source").display());
    let cpu = env_var("MCUBENCH_CPU");
    let want_mve = env_var("MCUBENCH_CMSIS_NN_MVE").map_or(true, |v| v != "0" && v != "false");
    let extra: Vec<String> =
        env_var("MCUBENCH_CMSIS_NN_CFLAGS").map(|s| s.split_whitespace().map(String::from).collect()).unwrap_or_default();

    let mut core = core_flags(&target, cpu.as_deref(), want_mve);
    let mut note = String::new();
    let (b, used) = match build(&dir, &manifest_dir, &core, &extra) {
        Ok(r) => r,
        Err(e) if core.variant == Variant::Mve => {
            // The compiler cannot build the Helium kernels: fall back to the DSP ones, and say so.
            println!("cargo:warning=CMSIS-NN MVE build failed ({e}); falling back to the DSP kernels");
            core = core_flags(&target, cpu.as_deref(), false);
            note = " (MVE build failed; DSP fallback)".into();
            build(&dir, &manifest_dir, &core, &extra).unwrap_or_else(|e| fail(&format!("compiling CMSIS-NN: {e}")))
        }
        Err(e) => fail(&format!("compiling CMSIS-NN failed: {e}")),
    };
    let compiler = compiler_version(&b);
    let version = version(&dir);
    let build_desc = format!("{}{note}, {compiler} {}", core.variant.name(), used.join(" "));

    println!("cargo:rustc-env=MCUBENCH_CMSIS_NN_VERSION={version}");
    println!("cargo:rustc-env=MCUBENCH_CMSIS_NN_BUILD={build_desc}");
    println!("cargo:rustc-env=MCUBENCH_CMSIS_NN_VARIANT={}", core.variant.name());
    // For dependents' build scripts (DEP_CMSIS_NN_*).
    println!("cargo:root={}", dir.display());
    println!("cargo:include={}", dir.join("Include").display());
    println!("cargo:variant={}", core.variant.name());
    println!("cargo:version={version}");
}
