//! A `kind: probe-rs` board whose probe sits on another host (`probe.remote`), end to end.
//!
//! There is no probe here, so a stand-in plays the `probe-rs` CLI (`MCUBENCH_PROBE_RS_CLI`):
//! it answers `list` with one probe, "flashes" on `download` by loading the ELF into a halted
//! QEMU whose UART is a TCP server (as ser2net serves a real board's), and on `reset` starts
//! that QEMU through its monitor. So the run goes the whole way a remote board goes: list,
//! flash, connect the UART over TCP, reset, protocol, results; and the stand-in records each
//! command line and the token it got, which the test checks.
//!
//! Needs qemu-system-arm and the firmware targets (scripts/setup.sh installs both).
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{records, standin};
use mcubench::results::{Metric, ResultRecord};

const BOARD: &str = "far-m4";
const TOKEN: &str = "tok-8f3a1c";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Writes the stand-in CLI into `dir`; QEMU's UART on `serial_port`, its monitor on `monitor_port`.
fn stand_in_cli(dir: &Path, serial_port: u16, monitor_port: u16) -> PathBuf {
    let script = format!(
        r#"#!/bin/bash
# Stand-in for `probe-rs` built with its remote feature (see harness/tests/remote_probe.rs).
state='{state}'
echo "$* | token=${{PROBE_RS_REMOTE_TOKEN-unset}}" >> "$state/calls.log"
monitor() {{
  exec 3<>/dev/tcp/127.0.0.1/{monitor_port} || exit 1
  read -r -t 5 -u 3 _banner
  printf '%s\n' "$@" >&3
  sleep 0.3
  exec 3>&-
}}
case "$1" in
  --help) echo "      --host <HOST>  Remote host to connect to"; exit 0 ;;
  list)
    echo "The following debug probes were found:"
    echo "[0]: STLink V3 -- 0483:374e:002A00 (ST-LINK)"
    echo "[1]: Debug Probe (CMSIS-DAP) -- 2e8a:000c:E6614103 (CMSIS-DAP)"
    exit 0 ;;
  download)
    elf="${{@: -1}}"
    [ -f "$state/qemu.pid" ] && kill "$(cat "$state/qemu.pid")" 2>/dev/null && sleep 0.3
    qemu-system-arm -M mps2-an386 -S -display none -nodefaults -nic none \
      -semihosting-config enable=on,target=native -icount shift=0 -kernel "$elf" \
      -monitor tcp:127.0.0.1:{monitor_port},server=on,wait=off \
      -chardev socket,id=uart0,host=127.0.0.1,port={serial_port},server=on,wait=off,nodelay=on \
      -serial chardev:uart0 </dev/null >"$state/qemu.log" 2>&1 &
    echo $! > "$state/qemu.pid"
    for _ in $(seq 200); do
      grep -q ":$(printf %04X {monitor_port}) 00000000:0000 0A" /proc/net/tcp && exit 0
      sleep 0.05
    done
    echo "Error: the stand-in QEMU did not start" >&2; exit 1 ;;
  reset) monitor system_reset cont; exit 0 ;;
  *) echo "Error: the stand-in does not know '$1'" >&2; exit 2 ;;
esac
"#,
        state = dir.display()
    );
    let path = dir.join("probe-rs");
    std::fs::write(&path, script).unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
    path
}

/// Stops the stand-in's QEMU when the test ends, however it ends.
struct KillQemu(PathBuf);

impl Drop for KillQemu {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.0.join("qemu.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// The AN386's firmware and memory map (`support: mps2`), reached as a remote probe-rs board.
fn boards_file(dir: &Path, serial_port: u16, selector: &str) -> PathBuf {
    let access = format!(
        "kind: probe-rs\n    probe: {{ chip: STM32L4R5ZITx, selector: '{selector}', remote: {{ host: 'ws://127.0.0.1:3000', token_env: FAR_TOKEN }} }}\n    serial: {{ port: 'tcp://127.0.0.1:{serial_port}', baud: 115200 }}"
    );
    let text = format!("boards:\n{}", standin::entry(BOARD, &access, ""));
    let path = dir.join("boards.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(dir: &Path, boards: &Path, cli: &Path, token: Option<&str>) -> (Output, Vec<ResultRecord>) {
    let store = dir.join("results.jsonl");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcubench"));
    cmd.env_remove("MCUBENCH_STORE")
        .env("MCUBENCH_PROBE_RS_CLI", cli)
        .env_remove("FAR_TOKEN")
        .args(["run", "-w", "ad01", "--framework", "reference-runtime", "--runs", "3", "--warmups", "1", "--windows", "2", "--golden-checks", "10", "--retries", "0"])
        .arg("--boards")
        .arg(boards)
        .arg("--store")
        .arg(&store)
        // The tests run at once under one board name: each locks in its own directory.
        .arg("--lock-dir")
        .arg(dir.join("locks"));
    if let Some(t) = token {
        cmd.env("FAR_TOKEN", t);
    }
    let out = cmd.output().unwrap();
    let records = if store.exists() { mcubench::store::load(&store).unwrap().records } else { Vec::new() };
    (out, records)
}

fn failures(records: &[ResultRecord]) -> Vec<String> {
    records::failures(records).into_iter().map(|(stage, message)| format!("{stage}: {message}")).collect()
}

fn calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls.log")).unwrap_or_default().lines().map(str::to_string).collect()
}

#[test]
fn a_board_behind_a_remote_probe_is_flashed_reset_and_run_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (serial_port, monitor_port) = (free_port(), free_port());
    let cli = stand_in_cli(dir.path(), serial_port, monitor_port);
    let _qemu = KillQemu(dir.path().to_path_buf());
    let boards = boards_file(dir.path(), serial_port, "0483:374e:002A00");
    let (out, records) = run(dir.path(), &boards, &cli, Some(TOKEN));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(failures(&records), Vec::<String>::new(), "stderr: {stderr}");
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");

    let goldens = records::goldens(&records);
    assert_eq!(goldens, vec![true; 10], "bit exact through the remote path");
    let metric = |m: Metric| records.iter().filter_map(|r| r.metric().filter(|x| x.0 == m)).count();
    assert_eq!(metric(Metric::LatencyMs), 2, "one latency per window");
    assert!(metric(Metric::FlashBytes) > 0);
    assert_eq!(metric(Metric::Instructions), 0, "no emulated counts on a probe-rs board");
    assert!(records.iter().all(|r| r.provenance.board_kind == "probe-rs"));

    // list, then download of the built ELF to the chosen probe, then reset: each against the
    // server, with the token in the environment and nowhere on the command line.
    let calls = calls(dir.path());
    let verbs: Vec<&str> = calls.iter().map(|c| c.split(' ').next().unwrap_or("")).collect();
    assert_eq!(verbs, ["--help", "list", "download", "reset"], "{calls:#?}");
    for call in &calls[1..] {
        let (args, token) = call.split_once(" | ").unwrap();
        assert!(args.contains("--host ws://127.0.0.1:3000"), "{call}");
        assert!(!args.contains(TOKEN), "the token is not on the command line: {call}");
        assert_eq!(token, format!("token={TOKEN}"));
    }
    assert!(calls[2].contains("--chip STM32L4R5ZITx --probe 0483:374e:002A00 --non-interactive --verify"), "{}", calls[2]);
    assert!(calls[2].contains(".elf |"), "{}", calls[2]);
    assert!(stderr.contains("on ws://127.0.0.1:3000 attached to STM32L4R5ZITx") || String::from_utf8_lossy(&out.stdout).contains("on ws://127.0.0.1:3000"), "progress names the server");
}

#[test]
fn a_remote_probe_without_its_token_or_with_a_selector_the_server_lacks_fails_at_stage_probe() {
    let dir = tempfile::tempdir().unwrap();
    let (serial_port, monitor_port) = (free_port(), free_port());
    let cli = stand_in_cli(dir.path(), serial_port, monitor_port);
    let _qemu = KillQemu(dir.path().to_path_buf());

    let boards = boards_file(dir.path(), serial_port, "0483:374e:002A00");
    let (out, records) = run(dir.path(), &boards, &cli, None);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(
        failures(&records),
        [format!("probe: board {BOARD}: probe.remote.token_env names FAR_TOKEN, which is not set here; export the token that the probe-rs server at ws://127.0.0.1:3000 has for you")]
    );
    assert!(calls(dir.path()).is_empty(), "nothing is sent without the token: {:?}", calls(dir.path()));

    let second = dir.path().join("second");
    std::fs::create_dir(&second).unwrap();
    let boards = boards_file(&second, serial_port, "1366:1015:000683");
    let (out, records) = run(&second, &boards, &cli, Some(TOKEN));
    assert_ne!(out.status.code(), Some(0));
    let fails = failures(&records);
    assert_eq!(fails.len(), 1, "{fails:?}");
    assert!(
        fails[0].starts_with(&format!("probe: board {BOARD}: no attached probe matches selector '1366:1015:000683'; attached: STLink V3 (0483:374e:002A00); Debug Probe (CMSIS-DAP) (2e8a:000c:E6614103) (the probes of the probe-rs server at ws://127.0.0.1:3000)")),
        "{fails:?}"
    );
    let verbs: Vec<String> = calls(dir.path()).iter().map(|c| c.split(' ').next().unwrap_or("").to_string()).collect();
    assert_eq!(verbs, ["--help", "list"], "nothing is flashed when the probe is not there");
    // The ELF's sizes were taken before the probe was looked for, and are kept.
    assert!(records.iter().any(|r| r.metric().is_some_and(|m| m.0 == Metric::FlashBytes)));
}

/// `mcubench boards detect --remote`: the server's probes, recognised, as boards.yaml entries
/// that carry `remote:` and parse.
#[test]
fn boards_detect_lists_a_servers_probes_as_remote_entries() {
    let dir = tempfile::tempdir().unwrap();
    let cli = stand_in_cli(dir.path(), free_port(), free_port());
    let detect = |token: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcubench"));
        cmd.env("MCUBENCH_PROBE_RS_CLI", &cli).env_remove("FAR_TOKEN").args(["boards", "detect", "--remote", "ws://127.0.0.1:3000", "--token-env", "FAR_TOKEN"]);
        if let Some(t) = token {
            cmd.env("FAR_TOKEN", t);
        }
        cmd.output().unwrap()
    };
    let out = detect(Some(TOKEN));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("# The probes of the probe-rs server at ws://127.0.0.1:3000."), "{text}");
    let file = mcubench::config::BoardsFile::parse(&text, Path::new("detected.yaml")).unwrap();
    assert!(!file.boards.is_empty(), "{text}");
    for b in &file.boards {
        let probe = b.probe.as_ref().unwrap();
        let remote = probe.remote.as_ref().unwrap();
        assert_eq!((remote.host.as_str(), remote.token_env.as_deref()), ("ws://127.0.0.1:3000", Some("FAR_TOKEN")));
        assert!(["0483:374e:002A00", "2e8a:000c:E6614103"].contains(&probe.selector.as_deref().unwrap()), "{probe:?}");
    }
    assert!(file.boards.iter().any(|b| b.name == "rp-pico"), "the Debug Probe is recognised: {text}");

    let out = detect(None);
    assert_eq!(out.status.code(), Some(2), "a setup error, as for a bad boards.yaml");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("probe.remote.token_env names FAR_TOKEN, which is not set here"), "{err}");
    assert!(!err.contains("board (boards detect)"), "{err}");
}

/// Against the real `probe-rs serve` of probe-rs-tools (built with `remote`), on this machine,
/// which has no probe: the CLI reaches the server with the right token and lists no probe; a
/// wrong token and a closed port are named as such. Run with `--ignored` where the CLI is
/// installed (`scripts/setup.sh --with-probe-rs-cli`; `MCUBENCH_PROBE_RS_CLI` names another).
#[test]
#[ignore = "needs the probe-rs CLI built with `remote` (scripts/setup.sh --with-probe-rs-cli)"]
fn the_real_probe_rs_server_is_reached_and_its_refusals_are_named() {
    let cli = mcubench::session::remote_probe::cli_program();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // The server reads .probe-rs.yaml from its working directory (and from HOME: pointed here).
    std::fs::write(
        dir.path().join(".probe-rs.yaml"),
        format!("server:\n  address: 127.0.0.1\n  port: {port}\n  users:\n    - {{ name: ci, token: \"{TOKEN}\" }}\n"),
    )
    .unwrap();
    let mut server = Command::new(&cli)
        .arg("serve")
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("serve.log")).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cli.display()));
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "probe-rs serve did not listen: {:?}", std::fs::read_to_string(dir.path().join("serve.log")));
        if let Ok(Some(status)) = server.try_wait() {
            panic!("probe-rs serve exited ({status}): {:?}", std::fs::read_to_string(dir.path().join("serve.log")));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _server = Kill(server);
    let detect = |host: &str, token: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_mcubench"))
            .env("MCUBENCH_PROBE_RS_CLI", &cli)
            .env("FAR_TOKEN", token)
            .env("HOME", dir.path())
            .args(["boards", "detect", "--remote", host, "--token-env", "FAR_TOKEN"])
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let host = format!("ws://127.0.0.1:{port}");
    let (code, err) = detect(&host, TOKEN);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("the probe-rs server at {host} lists no debug probe")), "reached, and no probe here: {err}");

    let (code, err) = detect(&host, "not-the-token");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("the probe-rs server at {host} closed the connection")), "a wrong token is named: {err}");

    let closed = format!("ws://127.0.0.1:{}", free_port());
    let (code, err) = detect(&closed, TOKEN);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("cannot reach the probe-rs server at {closed}")), "{err}");
}
