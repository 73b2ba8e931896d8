//! The instruction-counting QEMU plugin (`targets/qemu-plugin`, a separate GPL package that
//! only QEMU loads). Built once; cargo keeps it incremental.
use std::path::{Path, PathBuf};

use tokio::process::Command;

use super::run_tool;

/// Builds the plugin and returns the path of the shared library.
pub async fn build(root: &Path, cache: &Path) -> anyhow::Result<PathBuf> {
    let manifest = root.join("targets/qemu-plugin/Cargo.toml");
    anyhow::ensure!(manifest.exists(), "the QEMU plugin sources are missing: {}", manifest.display());
    let target_dir = cache.join("target/qemu-plugin");
    let mut cmd = Command::new(cargo());
    cmd.args(["build", "--release", "--quiet", "--manifest-path"]).arg(&manifest).arg("--target-dir").arg(&target_dir);
    clear_cargo_env(&mut cmd);
    run_tool(cmd, "building the QEMU instruction-counting plugin").await?;
    let lib = target_dir.join("release/libmcubench_qemu_plugin.so");
    anyhow::ensure!(lib.exists(), "the plugin build finished but {} is missing", lib.display());
    Ok(lib)
}

/// The cargo that built us (when run through cargo), else `cargo` from PATH.
pub(crate) fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Nested cargo builds must not inherit the outer build's target settings.
pub(crate) fn clear_cargo_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("CARGO_") && k != "CARGO_HOME" || k == "RUSTFLAGS" || k.starts_with("RUSTC") && k != "RUSTUP_TOOLCHAIN" {
            cmd.env_remove(k);
        }
    }
}
