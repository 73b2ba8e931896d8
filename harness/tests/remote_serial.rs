//! A board on another host, end to end: QEMU stands in for an already-flashed board whose
//! UART is served over TCP (as ser2net serves a real one), and `mcubench run` drives it as a
//! `kind: serial` board, over raw TCP and through an RFC 2217 server.
//!
//! Needs qemu-system-arm and the firmware targets (scripts/setup.sh installs both).
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::standin;
use mcubench::results::{Entry, Metric, ResultRecord, Source};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BOARD: &str = "remote-m4";

/// The tests run one at a time: each drives QEMU and an mcubench process, and on a loaded
/// 2-core machine several at once can starve a reply past the protocol's 5 s line timeout.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The mcubench firmware (reference runtime, ad01) for the MPS2 AN386, from the cache
/// `mcubench run` uses.
async fn firmware() -> PathBuf {
    standin::firmware("ad01", &[]).await
}

/// The AN386 entry of the default farm as a `kind: serial` board at `port`.
fn serial_boards(dir: &Path, port: &str) -> PathBuf {
    serial_boards_with(dir, port, "")
}

/// [`serial_boards`] with `extra` lines added to the board's entry.
fn serial_boards_with(dir: &Path, port: &str, extra: &str) -> PathBuf {
    let text = format!(
        "boards:\n  - name: {BOARD}\n    kind: serial\n    serial: {{ port: '{port}', baud: 115200 }}\n    cpu: cortex-m4\n    target: thumbv7em-none-eabihf\n    support: mps2\n    clock_hz: 25000000\n    systick_hz: 25000000\n    memory:\n      flash: {{ origin: 0x00000000, size: 0x400000 }}\n      ram:   {{ origin: 0x20000000, size: 0x400000 }}\n    budget: {{ flash: 0x200000, ram: 0xA0000, part: STM32L4R5ZI }}\n{extra}"
    );
    let path = dir.join("boards.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(boards: &Path, store: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcubench"))
        .env_remove("MCUBENCH_STORE")
        .args(["run", "-w", "ad01", "--runs", "3", "--warmups", "1", "--windows", "2", "--golden-checks", "10"])
        .arg("--boards")
        .arg(boards)
        .arg("--store")
        .arg(store)
        .args(extra)
        .output()
        .unwrap()
}

/// No retry on a fresh session (`mcubench run` retries a failed connection once by default).
const ONE_ATTEMPT: &[&str] = &["--retries", "0"];

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn failures(records: &[ResultRecord]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Failure { stage, message } => Some(format!("{stage}: {message}")),
            _ => None,
        })
        .collect()
}

/// What every good run on the stand-in must show: bit exact goldens, figures from the
/// firmware's own timer labelled measured, no invented instruction counts.
fn assert_a_good_serial_run(out: &Output, store: &Path) {
    let records = mcubench::store::load(store).unwrap().records;
    assert_eq!(failures(&records), Vec::<String>::new(), "stderr: {}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout: {}\nstderr: {}", text(&out.stdout), text(&out.stderr));
    let checks: Vec<(bool, &str)> = records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Check { check, passed, detail } if check == "golden" => Some((*passed, detail.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(checks.len(), 10);
    assert!(checks.iter().all(|(passed, _)| *passed), "{checks:?}");
    let metric = |m: Metric| records.iter().filter_map(|r| r.metric().filter(|x| x.0 == m)).collect::<Vec<_>>();
    let latency = metric(Metric::LatencyMs);
    assert_eq!(latency.len(), 2, "one latency per window");
    assert!(latency.iter().all(|(_, v, s)| *v > 0.0 && *s == Source::Measured), "{latency:?}");
    assert_eq!(metric(Metric::DeviceTimerUs).len(), 2);
    assert!(metric(Metric::Instructions).is_empty(), "no emulated counts on a serial board");
    for m in [Metric::FlashBytes, Metric::StaticRamBytes, Metric::StackBytes, Metric::HostInferMs] {
        assert!(!metric(m).is_empty(), "{m:?} missing");
    }
    for r in &records {
        assert_eq!(r.job.board, BOARD);
        assert_eq!(r.provenance.board_kind, "serial");
        assert_eq!(r.provenance.emulator, None, "a serial board is not an emulator");
    }
    let stdout = text(&out.stdout);
    assert!(stdout.contains("instructions: counted only on QEMU"), "what is missing is labelled: {stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serial_board_over_raw_tcp_runs_bit_exact() {
    let _turn = one_at_a_time();
    let elf = firmware().await;
    let qemu = standin::start(&elf);
    let dir = tempfile::tempdir().unwrap();
    let boards = serial_boards(dir.path(), &format!("tcp://127.0.0.1:{}", qemu.port));
    let store = dir.path().join("results.jsonl");
    let out = tokio::task::spawn_blocking({
        let (boards, store) = (boards.clone(), store.clone());
        move || run(&boards, &store, &[])
    })
    .await
    .unwrap();
    assert_a_good_serial_run(&out, &store);
}

/// A board that names its own prebuilt firmware (`firmware:` in boards.yaml) is driven the
/// same way; its results are recorded under the name given there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serial_board_with_a_prebuilt_firmware_entry_runs_bit_exact() {
    let _turn = one_at_a_time();
    let elf = firmware().await;
    let qemu = standin::start(&elf);
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("    firmware: {{ elf: '{}', framework: prebuilt-ref, workload: ad01 }}\n", elf.display());
    let boards = serial_boards_with(dir.path(), &format!("tcp://127.0.0.1:{}", qemu.port), &extra);
    let store = dir.path().join("results.jsonl");
    let out = tokio::task::spawn_blocking({
        let (boards, store) = (boards.clone(), store.clone());
        move || run(&boards, &store, &[])
    })
    .await
    .unwrap();
    assert_a_good_serial_run(&out, &store);
    let records = mcubench::store::load(&store).unwrap().records;
    assert!(records.iter().all(|r| r.job.framework == "prebuilt-ref"), "{:?}", records.first());
}

/// A simulated RFC 2217 server in front of the stand-in: it answers the telnet negotiation
/// (COM-PORT-OPTION accepted, baud echoed, everything else refused), then forwards data,
/// doubling 0xFF towards the client and undoing the doubling towards the board. It sends a
/// noise line with 0xFF bytes first, which the client must unescape and survive.
async fn rfc2217_server(listener: TcpListener, board_port: u16) -> Vec<u32> {
    let (mut client, _) = listener.accept().await.unwrap();
    client.set_nodelay(true).unwrap();
    let mut baud_rates = Vec::new();
    let (mut from_client, mut to_client) = client.split();
    let mut board: Option<TcpStream> = None;
    let mut buf = [0u8; 1024];
    let mut pending = Vec::new();
    // Client bytes: telnet commands answered here, data collected for the board.
    loop {
        let n = match &mut board {
            None => from_client.read(&mut buf).await.unwrap(),
            Some(b) => {
                let mut from_board = [0u8; 1024];
                tokio::select! {
                    n = from_client.read(&mut buf) => n.unwrap_or(0),
                    m = b.read(&mut from_board) => {
                        let m = m.unwrap_or(0);
                        if m == 0 {
                            return baud_rates;
                        }
                        let mut escaped = Vec::new();
                        for &x in &from_board[..m] {
                            if x == 0xFF {
                                escaped.push(0xFF);
                            }
                            escaped.push(x);
                        }
                        if to_client.write_all(&escaped).await.is_err() {
                            return baud_rates;
                        }
                        continue;
                    }
                }
            }
        };
        if n == 0 {
            return baud_rates;
        }
        pending.extend_from_slice(&buf[..n]);
        let mut data = Vec::new();
        let mut replies = Vec::new();
        let mut i = 0;
        while i < pending.len() {
            let b = pending[i];
            if b != 0xFF {
                data.push(b);
                i += 1;
                continue;
            }
            let Some(&cmd) = pending.get(i + 1) else { break };
            match cmd {
                0xFF => {
                    data.push(0xFF);
                    i += 2;
                }
                251..=254 => {
                    let Some(&opt) = pending.get(i + 2) else { break };
                    match (cmd, opt) {
                        (251, 44) => replies.extend([0xFF, 253, 44]),
                        (251, o) => replies.extend([0xFF, 254, o]),
                        (253, o) => replies.extend([0xFF, 252, o]),
                        _ => {}
                    }
                    i += 3;
                }
                250 => {
                    let Some(end) = pending[i..].windows(2).position(|w| w == [0xFF, 240]) else { break };
                    let sub = &pending[i + 2..i + end];
                    if let [44, c, value @ ..] = sub {
                        if *c == 1 && value.len() == 4 {
                            baud_rates.push(u32::from_be_bytes([value[0], value[1], value[2], value[3]]));
                        }
                        replies.extend([0xFF, 250, 44, c + 100]);
                        replies.extend_from_slice(value);
                        replies.extend([0xFF, 240]);
                    }
                    i += end + 2;
                }
                _ => i += 2,
            }
        }
        pending.drain(..i);
        to_client.write_all(&replies).await.unwrap();
        if board.is_none() && !baud_rates.is_empty() {
            to_client.write_all(b"\xFF\xFFnoise \xFF\xFF\xFF\xFF\r\n").await.unwrap();
            let b = TcpStream::connect(("127.0.0.1", board_port)).await.unwrap();
            b.set_nodelay(true).unwrap();
            board = Some(b);
        }
        if let Some(b) = &mut board {
            b.write_all(&data).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serial_board_behind_rfc2217_runs_bit_exact() {
    let _turn = one_at_a_time();
    let elf = firmware().await;
    let qemu = standin::start(&elf);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rfc_port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(rfc2217_server(listener, qemu.port));
    let dir = tempfile::tempdir().unwrap();
    let boards = serial_boards(dir.path(), &format!("rfc2217://127.0.0.1:{rfc_port}"));
    let store = dir.path().join("results.jsonl");
    let out = tokio::task::spawn_blocking({
        let (boards, store) = (boards.clone(), store.clone());
        move || run(&boards, &store, &[])
    })
    .await
    .unwrap();
    assert_a_good_serial_run(&out, &store);
    let bauds = tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap();
    assert_eq!(bauds, [115_200], "the client set the board's baud rate once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_silent_and_dying_boards_name_board_and_address_and_keep_results() {
    let _turn = one_at_a_time();
    let elf = firmware().await;
    let dir = tempfile::tempdir().unwrap();
    let record_failures = |store: &Path| {
        let records = mcubench::store::load(store).unwrap().records;
        let flash = records.iter().filter(|r| r.metric().is_some_and(|m| m.0 == Metric::FlashBytes)).count();
        (failures(&records), flash, records)
    };

    // Refused: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let store = dir.path().join("refused.jsonl");
    // One attempt each: this test is about what a failure says (retries: tests/farm.rs).
    let out = run(&serial_boards(dir.path(), &format!("tcp://127.0.0.1:{closed}")), &store, ONE_ATTEMPT);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let (fails, flash, _) = record_failures(&store);
    assert_eq!(fails.len(), 1, "{fails:?}");
    assert!(
        fails[0].starts_with(&format!("connect: board {BOARD}: serial port tcp://127.0.0.1:{closed}: cannot connect: Connection refused")),
        "{fails:?}"
    );
    assert_eq!(flash, 1, "the ELF's sizes are stored though the board is unreachable");

    // Silent: a peer that accepts and prints only garbage, never answering.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let _ = s.write_all(b"\x00\x13garbage\xFE\r\n").await;
        let mut sink = [0u8; 256];
        while s.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    });
    let store = dir.path().join("silent.jsonl");
    let out = tokio::task::spawn_blocking({
        let (boards, store) = (serial_boards(dir.path(), &format!("tcp://127.0.0.1:{port}")), store.clone());
        move || run(&boards, &store, ONE_ATTEMPT)
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let (fails, _, _) = record_failures(&store);
    assert_eq!(fails.len(), 1, "{fails:?}");
    let f = &fails[0];
    assert!(f.starts_with(&format!("connect: board {BOARD} at tcp://127.0.0.1:{port}: the DUT did not answer `name` in 3 tries")), "{f}");
    assert!(f.contains("115200 baud"), "{f}");

    // Dying: the stand-in is killed in the middle of the golden checks.
    let mut qemu = standin::start(&elf);
    let store = dir.path().join("dying.jsonl");
    let boards = serial_boards(dir.path(), &format!("tcp://127.0.0.1:{}", qemu.port));
    let child = {
        let store = store.clone();
        std::thread::spawn(move || run(&boards, &store, ONE_ATTEMPT))
    };
    let started = Instant::now();
    loop {
        let checks = mcubench::store::load(&store).map(|l| l.records.iter().filter(|r| matches!(r.entry, Entry::Check { .. })).count()).unwrap_or(0);
        if checks >= 3 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no golden checks arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    qemu.child.kill().unwrap();
    let out = child.join().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let (fails, _, records) = record_failures(&store);
    assert_eq!(fails.len(), 1, "{fails:?}");
    assert!(fails[0].contains(&format!("board {BOARD} at tcp://127.0.0.1:{}", qemu.port)), "{fails:?}");
    assert!(fails[0].contains("stream closed") || fails[0].contains("Connection reset"), "{fails:?}");
    let kept = records.iter().filter(|r| matches!(r.entry, Entry::Check { passed: true, .. })).count();
    assert!(kept >= 3, "checks made before the board died were lost: {kept}");
}

/// A raw-mode pty: (master, slave path). The slave stands for a USB serial device; the test
/// keeps a descriptor of it open so the master never sees a hang-up while the harness has
/// the port closed.
fn raw_pty() -> (std::os::fd::OwnedFd, String) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty fills two descriptors; termios calls on the slave we just opened.
    unsafe {
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::openpty(&mut master, &mut slave, name.as_mut_ptr(), std::ptr::null(), std::ptr::null()), 0);
        let mut tio: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(slave, &mut tio), 0);
        libc::cfmakeraw(&mut tio);
        assert_eq!(libc::tcsetattr(slave, libc::TCSANOW, &tio), 0);
        let path = std::ffi::CStr::from_ptr(name.as_ptr()).to_string_lossy().into_owned();
        std::mem::forget(std::os::fd::OwnedFd::from_raw_fd(slave));
        (std::os::fd::OwnedFd::from_raw_fd(master), path)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serial_board_on_a_local_device_runs_bit_exact() {
    let _turn = one_at_a_time();
    let elf = firmware().await;
    let qemu = standin::start(&elf);
    let (master, device) = raw_pty();
    // The pty's far end is wired to the stand-in's UART, byte for byte.
    let uart = std::net::TcpStream::connect(("127.0.0.1", qemu.port)).unwrap();
    uart.set_nodelay(true).unwrap();
    let (mut from_port, mut to_port) = (std::fs::File::from(master.try_clone().unwrap()), std::fs::File::from(master));
    let (mut from_uart, mut to_uart) = (uart.try_clone().unwrap(), uart);
    std::thread::spawn(move || std::io::copy(&mut from_port, &mut to_uart));
    std::thread::spawn(move || std::io::copy(&mut from_uart, &mut to_port));
    let dir = tempfile::tempdir().unwrap();
    let boards = serial_boards(dir.path(), &device);
    let store = dir.path().join("results.jsonl");
    let out = tokio::task::spawn_blocking({
        let (boards, store) = (boards.clone(), store.clone());
        move || run(&boards, &store, &[])
    })
    .await
    .unwrap();
    assert_a_good_serial_run(&out, &store);
}
