//! A QEMU board standing in for an already-flashed real one: mcubench firmware built as
//! `mcubench run` builds it, running on an MPS2 AN386 whose UART is a TCP server (as ser2net
//! serves a real board's UART), plus the boards.yaml entry of such a board.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mcubench::build::{self, Paths};
use mcubench::config::BoardsFile;

/// The firmware of `framework` for `workload` on the AN386, with extra firmware `features`
/// (as a board's `firmware_features` adds them), from the same cache `mcubench run` uses.
pub async fn firmware(workload: &str, features: &[&str]) -> PathBuf {
    let paths = Paths::from_env();
    let boards = BoardsFile::load(&paths.root.join("boards.yaml")).unwrap();
    let mut board = boards.find("mps2-an386").unwrap().clone();
    board.firmware_features = features.iter().map(|f| f.to_string()).collect();
    let workload = mcubench_workloads::workload::by_id(workload).unwrap();
    let model = build::model::prepare(workload, &paths.models, &paths.cache).unwrap();
    let framework = mcubench::plan::framework("reference-runtime").unwrap();
    let rustc = build::firmware::rustc_version().await;
    build::firmware::build(&paths.root, &paths.cache, &board, workload, framework, &model, &rustc).await.unwrap().elf
}

/// QEMU running a firmware, its UART a TCP server that does not wait for a client.
pub struct StandIn {
    pub child: Child,
    pub port: u16,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(elf: &Path) -> StandIn {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("qemu-system-arm")
        .args(["-M", "mps2-an386", "-display", "none", "-monitor", "none", "-nodefaults", "-nic", "none"])
        .args(["-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel"])
        .arg(elf)
        .args(["-chardev", &format!("socket,id=uart0,host=127.0.0.1,port={port},server=on,wait=off,nodelay=on")])
        .args(["-serial", "chardev:uart0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu-system-arm (scripts/setup.sh installs it)");
    let standin = StandIn { child, port };
    wait_listening(port);
    standin
}

/// Waits until something listens on the port, without connecting (QEMU's chardev takes one
/// client, and a probe connection would be its first).
pub fn wait_listening(port: u16) {
    let started = Instant::now();
    let needle = format!(":{port:04X} 00000000:0000 0A");
    while started.elapsed() < Duration::from_secs(20) {
        if std::fs::read_to_string("/proc/net/tcp").unwrap_or_default().contains(&needle) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listens on port {port}");
}

/// A boards.yaml entry with the AN386's firmware (`support: mps2`) and memory map, reached as
/// `access` says (its `kind:` line and what that kind needs), plus `extra` lines.
pub fn entry(name: &str, access: &str, extra: &str) -> String {
    format!(
        "  - name: {name}
    {access}
    cpu: cortex-m4
    target: thumbv7em-none-eabihf
    support: mps2
    clock_hz: 25000000
    systick_hz: 25000000
    memory:
      flash: {{ origin: 0x00000000, size: 0x400000 }}
      ram:   {{ origin: 0x20000000, size: 0x400000 }}
{extra}"
    )
}
