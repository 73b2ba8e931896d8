//! Everything between a job and a flashable binary: importing the model, building the
//! firmware (cached by a content hash of all its inputs), building the QEMU counting
//! plugin, and reading sizes from the ELF.
pub mod elf;
pub mod firmware;
pub mod hash;
pub mod model;
pub mod plugin;

use std::path::{Path, PathBuf};

/// Where the source tree and the build cache are.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The mcubench source tree (holds `targets/`).
    pub root: PathBuf,
    /// Cache of built firmware, blobs and the plugin (`<root>/.mcubench` by default).
    pub cache: PathBuf,
    /// The MLPerf Tiny models.
    pub models: PathBuf,
}

impl Paths {
    /// The source tree this binary was built from (`MCUBENCH_ROOT` overrides).
    pub fn from_env() -> Paths {
        let root = std::env::var_os("MCUBENCH_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
        let root = root.canonicalize().unwrap_or(root);
        let cache = std::env::var_os("MCUBENCH_CACHE").map(PathBuf::from).unwrap_or_else(|| root.join(".mcubench"));
        let models = mcubench_workloads::workload::default_models_dir();
        Paths { root, cache, models }
    }
}

/// Runs a command to completion, returning stdout, or an error with its stderr tail.
pub(crate) async fn run_tool(mut cmd: tokio::process::Command, what: &str) -> anyhow::Result<String> {
    use anyhow::Context;
    // The tool (cargo) leads a process group of its own, and a run that is dropped (Ctrl-C, a
    // cancelled job) kills the whole group: killing cargo alone would leave its rustc, cc and
    // build-script children running.
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true).process_group(0);
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    let mut group = ProcessGroupGuard(child.id().map(|pid| pid as i32));
    let out = child.wait_with_output().await.with_context(|| format!("{what}: waiting for it failed"))?;
    group.0 = None;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(25).collect::<Vec<_>>().into_iter().rev().collect();
        anyhow::bail!("{what} failed ({}):\n{}", out.status, tail.join("\n"));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Kills a process group on drop unless disarmed (`.0 = None`) once the leader was reaped.
struct ProcessGroupGuard(Option<i32>);

impl Drop for ProcessGroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0.filter(|&p| p > 0) {
            // SAFETY: killpg only sends a signal; `pgid` is the group our child leads.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}
