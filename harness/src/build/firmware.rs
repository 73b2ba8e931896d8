//! Building the firmware for one (board, framework, workload): the reference runtime, the
//! model blob and the board support, cross-compiled with cargo, cached by content hash.
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use tokio::process::Command;

use super::hash::{sha256_hex, InputHash};
use super::model::PreparedModel;
use super::plugin::{cargo, clear_cargo_env};
use super::run_tool;
use crate::config::Board;
use crate::plan::{Framework, ModelFile};
use mcubench_workloads::workload::Workload;

/// A built firmware image.
#[derive(Debug, Clone)]
pub struct Firmware {
    pub elf: PathBuf,
    pub sha256: String,
    /// True when the cache already held it.
    pub cached: bool,
    pub build_secs: f64,
}

/// The toolchain that builds firmware (`rustc -V`), recorded in the results and hashed.
pub async fn rustc_version() -> String {
    let out = tokio::process::Command::new("rustc").arg("-V").output().await;
    out.ok().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned()).unwrap_or_else(|| "rustc (unknown)".into())
}

/// The build settings handed to `targets/firmware/build.rs`.
fn build_env(
    board: &Board,
    workload: &Workload,
    framework: &Framework,
    model: &PreparedModel,
    tinymaix: Option<&Path>,
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("MCUBENCH_MODEL_BLOB", model.blob_path.display().to_string()),
        ("MCUBENCH_WORKLOAD", workload.id.to_string()),
        ("MCUBENCH_ARENA_BYTES", model.imported.arena_bytes.max(4).to_string()),
        ("MCUBENCH_INPUT_BYTES", workload.input_wire_bytes().to_string()),
        ("MCUBENCH_SYSTICK_HZ", board.systick_hz.to_string()),
        // The core the C/C++ frameworks are compiled for (-mcpu and its FPU).
        ("MCUBENCH_CPU", board.cpu.gcc_name().to_string()),
        ("MCUBENCH_FLASH_ORIGIN", format!("{:#x}", board.memory.flash.origin)),
        ("MCUBENCH_FLASH_SIZE", format!("{:#x}", board.memory.flash.size)),
        ("MCUBENCH_RAM_ORIGIN", format!("{:#x}", board.memory.ram.origin)),
        ("MCUBENCH_RAM_SIZE", format!("{:#x}", board.memory.ram.size)),
    ];
    match framework.model_file {
        ModelFile::None => {}
        ModelFile::Tflite => env.push(("MCUBENCH_MODEL_FILE", model.tflite_path.display().to_string())),
        ModelFile::TinyMaix => {
            if let Some(p) = tinymaix {
                env.push(("MCUBENCH_MODEL_FILE", p.display().to_string()));
            }
        }
    }
    env
}

/// The settings of a framework whose sources live outside the repository, and where those
/// sources are: (environment variables read by its build script, the source tree and its
/// default). Keep in step with the adapters' build scripts (targets/adapters/*/build.rs).
pub fn external_sources(root: &Path, framework: &str, env: &dyn Fn(&str) -> Option<String>) -> (&'static [&'static str], Option<PathBuf>) {
    let vendor = |dir: &str| root.join("../shared/vendor").join(dir);
    let tree = |var: &str, default: Option<PathBuf>| env(var).filter(|v| !v.trim().is_empty()).map(|v| PathBuf::from(v.trim())).or(default);
    match framework {
        "cmsis-nn" => (
            &["MCUBENCH_CMSIS_NN_DIR", "MCUBENCH_CMSIS_NN_VERSION", "MCUBENCH_CMSIS_NN_MVE", "MCUBENCH_CMSIS_NN_CFLAGS"],
            tree("MCUBENCH_CMSIS_NN_DIR", Some(vendor("CMSIS-NN"))),
        ),
        "tinymaix" => (
            &[
                "MCUBENCH_TINYMAIX_DIR",
                "MCUBENCH_TINYMAIX_VERSION",
                "MCUBENCH_TINYMAIX_ARCH",
                "MCUBENCH_TINYMAIX_OPT",
                "MCUBENCH_TINYMAIX_CFLAGS",
            ],
            tree("MCUBENCH_TINYMAIX_DIR", Some(vendor("TinyMaix"))),
        ),
        // Without the setting, the tfmicro crate pinned to =0.1.0 in cargo's registry cache,
        // which never changes.
        "tflite-micro" => (&["MCUBENCH_TFMICRO_SRC"], tree("MCUBENCH_TFMICRO_SRC", None)),
        _ => (&[], None),
    }
}

/// Adds a framework's out-of-tree settings and a fingerprint of its source tree (and of the
/// `SOURCES.md` next to a vendored copy, where the recorded version comes from) to the key,
/// so that pointing at other sources, or changing them, rebuilds.
pub fn add_external_sources(key: &mut InputHash, root: &Path, framework: &str, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    let (vars, tree) = external_sources(root, framework, env);
    for k in vars {
        key.add(k, env(k).unwrap_or_default().as_bytes());
    }
    if let Some(dir) = tree {
        key.add_tree_fingerprint(&dir).with_context(|| format!("cannot read the {framework} sources at {}", dir.display()))?;
        if let Some(sources) = dir.parent().map(|p| p.join("SOURCES.md")).filter(|p| p.is_file()) {
            key.add("SOURCES.md", &std::fs::read(&sources)?);
        }
    }
    Ok(())
}

/// Builds (or finds in the cache) the firmware for a job.
pub async fn build(
    root: &Path,
    cache: &Path,
    board: &Board,
    workload: &Workload,
    framework: &Framework,
    model: &PreparedModel,
    rustc: &str,
) -> anyhow::Result<Firmware> {
    let crate_dir = root.join("targets/firmware");
    anyhow::ensure!(crate_dir.join("Cargo.toml").exists(), "firmware sources missing at {}", crate_dir.display());
    // Extra firmware features, e.g. test-only variants (`test-extra-work`); part of the key.
    let extra = std::env::var("MCUBENCH_FIRMWARE_FEATURES").unwrap_or_default();
    let mut features = vec![format!("board-{}", board.support)];
    features.extend(framework.firmware_features.iter().map(|f| f.to_string()));
    // The board's own features (boards.yaml `firmware_features`, validated there).
    features.extend(board.firmware_features.iter().cloned());
    if board.console == crate::config::ConsoleKind::Rtt {
        features.push("console-rtt".to_string());
    }
    // A board with an energy monitor runs MLPerf Tiny's energy mode: the firmware pulses the
    // timestamp pin that the monitor's window is cut by.
    if board.energy.is_some() && !features.iter().any(|f| f == "energy-mode") {
        features.push("energy-mode".to_string());
    }
    features.extend(extra.split(',').map(str::trim).filter(|f| !f.is_empty()).map(String::from));
    let feature = features.join(",");
    // TinyMaix runs its own model format: convert (errors say what TinyMaix cannot run).
    let tinymaix = match framework.model_file {
        ModelFile::TinyMaix => Some(super::model::tinymaix_file(workload, model, cache)?),
        _ => None,
    };
    let env = build_env(board, workload, framework, model, tinymaix.as_ref().map(|(p, _)| p.as_path()));

    let mut key = InputHash::new();
    // Every firmware input under targets/ (board support, framework adapters), not the plugin.
    let mut dirs: Vec<_> = std::fs::read_dir(root.join("targets"))
        .context("cannot read targets/")?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|d| d.is_dir() && d.file_name().is_some_and(|n| n != "qemu-plugin"))
        .collect();
    dirs.sort();
    for dir in dirs {
        key.add("dir", dir.file_name().unwrap_or_default().as_encoded_bytes());
        key.add_tree(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
    }
    key.add_tree(&root.join("reference-runtime")).context("cannot read reference-runtime sources")?;
    key.add("blob", &model.imported.blob).add("target", board.target.as_bytes()).add("feature", feature.as_bytes());
    key.add("rustc", rustc.as_bytes());
    match (&tinymaix, framework.model_file) {
        (Some((_, sha)), _) => {
            key.add("model-file", sha.as_bytes());
        }
        (None, ModelFile::None) => {}
        (None, _) => {
            key.add("model-file", model.tflite_sha256.as_bytes());
        }
    }
    add_external_sources(&mut key, root, framework.name, &|k| std::env::var(k).ok())?;
    for (k, v) in &env {
        if *k != "MCUBENCH_MODEL_BLOB" && *k != "MCUBENCH_MODEL_FILE" {
            key.add(k, v.as_bytes());
        }
    }
    let key = key.hex();
    let out_dir = cache.join("firmware");
    let elf = out_dir.join(format!("{}-{}-{}-{}.elf", board.support, framework.name, workload.id, &key[..16]));
    if elf.exists() {
        let bytes = std::fs::read(&elf)?;
        return Ok(Firmware { sha256: sha256_hex(&bytes), elf, cached: true, build_secs: 0.0 });
    }

    // Builds of different firmware share one cargo target dir, so the build and the copy of
    // its output must not interleave with another build (another board task or process).
    std::fs::create_dir_all(cache.join("target"))?;
    let lock_path = cache.join("target/firmware.lock");
    let lock = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path)?;
        f.lock()?;
        Ok(f)
    })
    .await?
    .context("cannot lock the firmware build directory")?;
    if elf.exists() {
        let bytes = std::fs::read(&elf)?;
        return Ok(Firmware { sha256: sha256_hex(&bytes), elf, cached: true, build_secs: 0.0 });
    }

    let started = Instant::now();
    let target_dir = cache.join("target/firmware");
    let mut cmd = Command::new(cargo());
    clear_cargo_env(&mut cmd);
    cmd.current_dir(&crate_dir)
        .args(["build", "--release", "--quiet", "--target", &board.target, "--features", &feature])
        .arg("--target-dir")
        .arg(&target_dir);
    for (k, v) in &env {
        cmd.env(k, v);
    }
    run_tool(cmd, &format!("building firmware for {} / {} ({})", board.name, workload.id, board.target)).await?;
    let built = target_dir.join(&board.target).join("release/mcubench-firmware");
    std::fs::create_dir_all(&out_dir)?;
    let tmp = elf.with_extension(super::hash::tmp_suffix());
    std::fs::copy(&built, &tmp).with_context(|| format!("the firmware build left no ELF at {}", built.display()))?;
    std::fs::rename(&tmp, &elf)?;
    drop(lock);
    let bytes = std::fs::read(&elf)?;
    Ok(Firmware { sha256: sha256_hex(&bytes), elf, cached: false, build_secs: started.elapsed().as_secs_f64() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(root: &Path, framework: &str, env: &[(&str, String)]) -> String {
        let lookup = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        let mut h = InputHash::new();
        add_external_sources(&mut h, root, framework, &lookup).unwrap();
        h.hex()
    }

    #[test]
    fn switching_or_touching_external_sources_changes_the_key() {
        let tmp = std::env::temp_dir().join(format!("mcubench-fwkey-{}", std::process::id()));
        let (a, b) = (tmp.join("a/CMSIS-NN"), tmp.join("b/CMSIS-NN"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d.join("Include")).unwrap();
            std::fs::write(d.join("Include/arm_nnfunctions.h"), "x").unwrap();
        }
        let root = tmp.join("repo");
        let with = |dir: &Path| vec![("MCUBENCH_CMSIS_NN_DIR", dir.display().to_string())];
        let ka = key(&root, "cmsis-nn", &with(&a));
        assert_eq!(ka, key(&root, "cmsis-nn", &with(&a)), "stable");
        assert_ne!(ka, key(&root, "cmsis-nn", &with(&b)), "another checkout");
        let mve = [with(&a), vec![("MCUBENCH_CMSIS_NN_MVE", "0".to_string())]].concat();
        assert_ne!(ka, key(&root, "cmsis-nn", &mve), "a setting");
        // A changed or added file (size or mtime) in the tree.
        std::fs::write(a.join("Include/arm_nnfunctions.h"), "xy").unwrap();
        let kb = key(&root, "cmsis-nn", &with(&a));
        assert_ne!(ka, kb, "a changed file");
        std::fs::write(a.join("Include/new.h"), "").unwrap();
        assert_ne!(kb, key(&root, "cmsis-nn", &with(&a)), "an added file");
        // TinyMaix and TFLM settings count for their frameworks only.
        let tm = vec![("MCUBENCH_TINYMAIX_DIR", b.display().to_string())];
        assert_ne!(key(&root, "tinymaix", &tm), key(&root, "tinymaix", &with(&a)));
        let tf = vec![("MCUBENCH_TFMICRO_SRC", b.display().to_string())];
        assert_ne!(key(&root, "tflite-micro", &tf), key(&root, "tflite-micro", &[]));
        assert_eq!(key(&root, "reference-runtime", &tm), key(&root, "reference-runtime", &[]));
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
