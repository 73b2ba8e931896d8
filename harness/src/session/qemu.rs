//! An emulated board: `qemu-system-arm` with the UART on a TCP socket (the same serial code
//! path as a real board: the protocol client only sees a byte stream) and, when available,
//! the instruction-counting plugin.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

use crate::config::Board;

/// QEMU's version line, e.g. `QEMU emulator version 10.0.2 (...)`.
pub async fn version() -> anyhow::Result<String> {
    let out = Command::new("qemu-system-arm").arg("--version").output().await.context(
        "qemu-system-arm is not installed: run scripts/setup.sh (it installs QEMU 10 from bookworm-backports)",
    )?;
    Ok(String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").trim().to_owned())
}

/// The major version, from a `--version` line.
pub fn major_version(line: &str) -> Option<u32> {
    let v = line.split("version ").nth(1)?;
    v.split('.').next()?.trim().parse().ok()
}

/// A running emulated board.
pub struct QemuSession {
    child: Child,
    /// Where the plugin writes `window <k> <n>` lines, if it is loaded.
    counts_file: Option<PathBuf>,
    stderr_file: PathBuf,
    windows_seen: usize,
    /// The UART connection, kept open while the protocol runs over RTT.
    _uart: Option<TcpStream>,
}

/// How to start QEMU.
pub struct QemuLaunch<'a> {
    pub board: &'a Board,
    pub elf: &'a Path,
    /// The counting plugin; without it the count falls back to `-icount` + SysTick.
    pub plugin: Option<&'a Path>,
    /// Scratch directory for this session (plugin output, QEMU's stderr).
    pub workdir: &'a Path,
    pub connect_timeout: Duration,
}

impl QemuSession {
    /// Starts QEMU and returns the session with the connected UART stream.
    ///
    /// The harness listens and QEMU connects as a client: no port race, and nothing the
    /// firmware prints before we accept is lost (it waits in the socket).
    pub async fn start(launch: QemuLaunch<'_>) -> anyhow::Result<(QemuSession, super::BoardStream)> {
        let machine = &launch.board.qemu.as_ref().context("not a QEMU board (no 'qemu:' settings)")?.machine;
        std::fs::create_dir_all(launch.workdir)?;
        let listener = TcpListener::bind("127.0.0.1:0").await.context("cannot listen on loopback for the QEMU UART")?;
        let port = listener.local_addr()?.port();
        let stderr_file = launch.workdir.join("qemu.stderr");
        let counts_file = launch.plugin.map(|_| launch.workdir.join("counts.txt"));
        if let Some(c) = &counts_file {
            let _ = std::fs::remove_file(c);
        }

        let mut cmd = Command::new("qemu-system-arm");
        cmd.args(["-M", machine, "-display", "none", "-monitor", "none", "-nodefaults", "-nic", "none"])
            .args(["-semihosting-config", "enable=on,target=native"])
            // One instruction = 1 ns of virtual time: the SysTick-based timer and the count are
            // repeatable run to run.
            .args(["-icount", "shift=0"])
            .arg("-kernel")
            .arg(launch.elf)
            .args(["-chardev", &format!("socket,id=uart0,host=127.0.0.1,port={port},server=off,nodelay=on")])
            .args(["-serial", "chardev:uart0"]);
        // `console: rtt`: the protocol goes through the firmware's RTT block, which the harness
        // reaches through QEMU's gdbstub (as a probe reaches it on silicon).
        let rtt = launch.board.console == crate::config::ConsoleKind::Rtt;
        let gdb_port = if rtt {
            let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).context("cannot find a free port for QEMU's gdbstub")?.port();
            cmd.args(["-gdb", &format!("tcp:127.0.0.1:{port}")]);
            Some(port)
        } else {
            None
        };
        if let (Some(plugin), Some(counts)) = (launch.plugin, &counts_file) {
            cmd.arg("-plugin").arg(format!("{},outfile={}", plugin.display(), counts.display()));
        }
        for a in &launch.board.qemu.as_ref().unwrap().extra_args {
            cmd.arg(a);
        }
        let stderr = std::fs::File::create(&stderr_file)?;
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr).kill_on_drop(true);
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().context("cannot start qemu-system-arm (run scripts/setup.sh)")?;

        let stream = tokio::select! {
            accepted = tokio::time::timeout(launch.connect_timeout, listener.accept()) => match accepted {
                Ok(Ok((stream, _))) => stream,
                Ok(Err(e)) => bail!("accepting QEMU's UART connection failed: {e}"),
                Err(_) => {
                    let _ = child.start_kill();
                    bail!("QEMU did not connect its UART within {:?}{}", launch.connect_timeout, stderr_tail(&stderr_file))
                }
            },
            status = child.wait() => {
                bail!("QEMU exited before connecting its UART ({}){}", status?, stderr_tail(&stderr_file))
            }
        };
        stream.set_nodelay(true)?;
        let Some(gdb_port) = gdb_port else {
            return Ok((QemuSession { child, counts_file, stderr_file, windows_seen: 0, _uart: None }, Box::new(stream)));
        };
        let (elf, timeout, ram) = (launch.elf.to_path_buf(), launch.connect_timeout, launch.board.memory.ram.origin..launch.board.memory.ram.origin + launch.board.memory.ram.size);
        let attached = tokio::task::spawn_blocking(move || super::rtt::attach_when_ready(
            Box::new(super::gdb::GdbMemory::connect(&format!("127.0.0.1:{gdb_port}"), timeout)?),
            &elf,
            ram,
            timeout,
        ))
        .await
        .context("the RTT attach task failed")?;
        let (memory, console) = match attached {
            Ok(a) => a,
            Err(e) => {
                let _ = child.start_kill();
                bail!("the RTT console of the firmware was not reached through QEMU's gdbstub: {e}{}", stderr_tail(&stderr_file))
            }
        };
        // The UART stays connected (and silent) for the life of the session.
        Ok((QemuSession { child, counts_file, stderr_file, windows_seen: 0, _uart: Some(stream) }, super::rtt::stream(memory, console)))
    }

    pub fn has_counter(&self) -> bool {
        self.counts_file.is_some()
    }

    /// Sums the next `n` windows (one per timed inference of an `infer n w`).
    pub async fn next_windows(&mut self, n: u32, timeout: Duration) -> anyhow::Result<u64> {
        let mut total = 0;
        for _ in 0..n {
            total += self.next_window(timeout).await?;
        }
        Ok(total)
    }

    /// Waits for the plugin's line for the next counted window and returns its instruction
    /// count. The line is written when the firmware leaves the window, i.e. before it
    /// prints `m-infer-done`, so it is normally there at once.
    pub async fn next_window(&mut self, timeout: Duration) -> anyhow::Result<u64> {
        let path = self.counts_file.clone().context("the counting plugin is not loaded")?;
        let want = self.windows_seen;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut text = String::new();
            if let Ok(mut f) = tokio::fs::File::open(&path).await {
                f.read_to_string(&mut text).await?;
            }
            for line in text.lines() {
                let mut parts = line.split_whitespace();
                if parts.next() != Some("window") {
                    continue;
                }
                let k: usize = parts.next().and_then(|k| k.parse().ok()).unwrap_or(usize::MAX);
                if k != want {
                    continue;
                }
                let n = parts.next().unwrap_or("");
                self.windows_seen += 1;
                return n.parse().with_context(|| {
                    format!("the counting plugin reported window {k} as '{n}' (a dbg #2 marker without dbg #1?)")
                });
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("the counting plugin wrote no line for window {want} within {timeout:?} ({})", path.display());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// `Some(status)` if QEMU has exited or exits within `grace` (a dying process closes
    /// its socket a moment before its exit status can be read).
    pub async fn exited_within(&mut self, grace: Duration) -> Option<String> {
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(status)) => Some(format!("{status}{}", stderr_tail(&self.stderr_file))),
            _ => None,
        }
    }

    /// Stops QEMU (kill, then reap).
    pub async fn shutdown(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }

    /// QEMU's process id, for tests that kill a board on purpose.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// `kill_on_drop` needs the harness alive to run; a SIGKILLed harness runs nothing. So the
/// kernel kills QEMU when the harness dies (`PR_SET_PDEATHSIG`). QEMU stays in the harness's
/// process group, so a terminal's Ctrl-C reaches it too.
///
/// The signal follows the thread that forked, not the process: tokio's worker threads live as
/// long as the runtime, and a session never outlives its runtime.
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls (prctl, getppid, raise) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The harness died between fork and prctl: the signal was missed, go now.
            if libc::getppid() != parent {
                libc::raise(libc::SIGKILL);
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

fn stderr_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        String::new()
    } else {
        format!("; QEMU said: {}", lines[lines.len().saturating_sub(5)..].join(" | "))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_major_version() {
        assert_eq!(super::major_version("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2)"), Some(10));
        assert_eq!(super::major_version("QEMU emulator version 7.2.15"), Some(7));
        assert_eq!(super::major_version("garbage"), None);
    }
}
