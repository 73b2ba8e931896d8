//! Chooses the kernel back end at build time.
//!
//! `cfg(mcubench_dsp)` is set for Cortex-M cores with the DSP extension, where the optimized
//! kernels use SMLAD/SXTB16/SMMULR through `core::arch::asm!`. Stable Rust does not expose
//! `target_feature = "dsp"` for Arm targets (the feature is unstable), so the target name
//! decides: `thumbv7em-*` (Cortex-M4/M7) and `thumbv8m.main-*` (Cortex-M33/M35P/M55; the
//! DSP extension is optional on the M33, mandatory with MVE). Override with the environment
//! variable `MCUBENCH_RUNTIME_DSP=0` (e.g. an M33 built without DSP) or `=1`.
//! `cfg(mcubench_dsp_v8m)` additionally makes the assembler accept the DSP instructions on
//! Armv8-M Mainline, whose base target does not enable them.
use std::env;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(mcubench_dsp)");
    println!("cargo::rustc-check-cfg=cfg(mcubench_dsp_v8m)");
    println!("cargo::rerun-if-env-changed=MCUBENCH_RUNTIME_DSP");
    println!("cargo::rerun-if-changed=build.rs");
    let target = env::var("TARGET").unwrap_or_default();
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let v7em = target.starts_with("thumbv7em");
    let v8m_main = target.starts_with("thumbv8m.main") || target.starts_with("thumbv8.1m.main");
    let by_target = arch == "arm" && (v7em || v8m_main || features.split(',').any(|f| f == "dsp"));
    let dsp = match env::var("MCUBENCH_RUNTIME_DSP").as_deref() {
        Ok("0") => false,
        Ok("1") => arch == "arm",
        _ => by_target,
    };
    if dsp {
        println!("cargo::rustc-cfg=mcubench_dsp");
        if !v7em {
            println!("cargo::rustc-cfg=mcubench_dsp_v8m");
        }
    }
}
