//! The protocol client against a scripted fake DUT over an in-memory duplex stream.
//!
//! The fake reads commands up to `%` and answers through a handler closure, like the reference
//! firmware's parser. Failure tests use real timeouts of tens of milliseconds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcubench::protocol::{ClientConfig, DutClient, ProtocolError, TimestampMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

/// What the fake does with one command.
enum Reply {
    /// Write these bytes (normally ending in `m-ready\r\n`).
    Bytes(Vec<u8>),
    /// Write these bytes after a delay.
    Delayed(Duration, Vec<u8>),
    /// Say nothing; keep reading.
    Silent,
    /// Write these bytes, then close the stream.
    Close(Vec<u8>),
}

fn text(lines: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn ok(lines: &[&str]) -> Reply {
    let mut v = lines.to_vec();
    v.push("m-ready");
    Reply::Bytes(text(&v))
}

const BOOT: &[&str] = &["m-timestamp-mode-performance", "m-init-done", "m-ready"];

/// Spawns a fake DUT: writes `boot`, then answers each `%`-terminated command with `handler`.
/// The task returns the commands it received.
fn spawn_dut<F>(boot: Vec<u8>, mut handler: F) -> (DuplexStream, JoinHandle<Vec<String>>)
where
    F: FnMut(&str) -> Reply + Send + 'static,
{
    let (host, mut dut) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        if !boot.is_empty() {
            dut.write_all(&boot).await.unwrap();
        }
        let mut cmd = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            let n = match dut.read(&mut buf).await {
                Ok(0) | Err(_) => return seen,
                Ok(n) => n,
            };
            for &b in &buf[..n] {
                if b != b'%' {
                    cmd.push(b);
                    continue;
                }
                let c = String::from_utf8(std::mem::take(&mut cmd)).unwrap();
                seen.push(c.clone());
                match handler(&c) {
                    Reply::Bytes(out) => {
                        if dut.write_all(&out).await.is_err() {
                            return seen;
                        }
                    }
                    Reply::Delayed(d, out) => {
                        tokio::time::sleep(d).await;
                        if dut.write_all(&out).await.is_err() {
                            return seen;
                        }
                    }
                    Reply::Silent => {}
                    Reply::Close(out) => {
                        let _ = dut.write_all(&out).await;
                        return seen;
                    }
                }
            }
        }
    });
    (host, task)
}

/// State of a fake firmware implementing the reference `db` and `infer` behaviour.
#[derive(Default)]
struct RefState {
    expected: usize,
    buffer: Vec<u8>,
    chunks: Vec<String>,
    /// Optional injected problem: stop answering after this many `db <hex>` chunks.
    hang_after_chunks: Option<usize>,
}

/// A handler behaving like the reference firmware for `name`, `profile`, `db` and `infer`,
/// checking the `db` payload format (62 hex digits per chunk except the last).
fn reference_dut(state: Arc<Mutex<RefState>>, laps: (u32, u32)) -> impl FnMut(&str) -> Reply + Send {
    move |cmd: &str| {
        let mut st = state.lock().unwrap();
        let mut words = cmd.split(' ');
        match words.next().unwrap() {
            "name" => ok(&["m-name-dut-[Acme Labs]"]),
            "profile" => ok(&[
                "m-profile-[ULPMark for tinyML Firmware V0.0.1]",
                "m-model-[ad01]",
                "m-mcubench-runtime-[mcubench-ref 0.1.0]",
                "m-mcubench-arch-[armv7em]",
            ]),
            "db" => match words.next() {
                Some("load") => {
                    let n: usize = words.next().unwrap().parse().unwrap();
                    st.expected = n;
                    st.buffer.clear();
                    ok(&[&format!("m-[Expecting {n} bytes]")])
                }
                Some(hex) => {
                    if let Some(limit) = st.hang_after_chunks {
                        if st.chunks.len() >= limit {
                            return Reply::Silent;
                        }
                    }
                    let remaining = st.expected - st.buffer.len();
                    let want = remaining.min(31) * 2;
                    assert_eq!(hex.len(), want, "chunk {} has {} hex digits", st.chunks.len(), hex.len());
                    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
                    st.chunks.push(hex.to_string());
                    for i in (0..hex.len()).step_by(2) {
                        st.buffer.push(u8::from_str_radix(&hex[i..i + 2], 16).unwrap());
                    }
                    if st.buffer.len() == st.expected {
                        ok(&["m-load-done"])
                    } else {
                        ok(&[])
                    }
                }
                None => ok(&["e-[Command 'db' requires a subcommand]"]),
            },
            "infer" => {
                let n = words.next().unwrap();
                let w = words.next().unwrap();
                ok(&[
                    &format!("m-warmup-start-{w}"),
                    "m-warmup-done",
                    &format!("m-infer-start-{n}"),
                    &format!("m-lap-us-{}", laps.0),
                    &format!("m-lap-us-{}", laps.1),
                    "m-infer-done",
                    "m-results-[0.125]",
                    "m-mcubench-ticks-[600000]",
                    "m-mcubench-stack-[2048/16384]",
                    "m-mcubench-arena-[10240/12288]",
                    "m-mcubench-output-[7f80ff00]",
                    "m-mcubench-cycles-[48000000]",
                    "m-mcubench-heap-[0]",
                ])
            }
            other => ok(&[&format!("e-[Unknown command: {other}]")]),
        }
    }
}

fn fast() -> ClientConfig {
    ClientConfig {
        line_timeout: Duration::from_millis(150),
        boot_timeout: Duration::from_millis(150),
        infer_timeout: Duration::from_millis(150),
        ..ClientConfig::default()
    }
}

fn generous() -> ClientConfig {
    ClientConfig {
        line_timeout: Duration::from_secs(5),
        boot_timeout: Duration::from_secs(5),
        infer_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

fn input(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + 3) as u8).collect()
}

#[tokio::test]
async fn happy_session() {
    let state = Arc::new(Mutex::new(RefState::default()));
    let (io, dut) = spawn_dut(text(BOOT), reference_dut(state.clone(), (1_000_000, 1_250_000)));
    let mut c = DutClient::new(io, generous());

    let boot = c.wait_boot().await.unwrap();
    assert_eq!(boot.timestamp_mode, Some(TimestampMode::Performance));
    assert!(boot.init_done);
    assert_eq!(c.timestamp_mode(), Some(TimestampMode::Performance));

    assert_eq!(c.name().await.unwrap(), "Acme Labs");

    let p = c.profile().await.unwrap();
    assert_eq!(p.firmware.as_deref(), Some("ULPMark for tinyML Firmware V0.0.1"));
    assert_eq!(p.model_id.as_deref(), Some("ad01"));
    assert_eq!(p.extensions.get("runtime").map(String::as_str), Some("mcubench-ref 0.1.0"));
    assert_eq!(p.extensions.get("arch").map(String::as_str), Some("armv7em"));

    // ad01 window: 640 float32 = 2560 bytes -> 82 chunks of 31 bytes + one of 18.
    let data = input(2560);
    let load = c.load_input(&data).await.unwrap();
    assert_eq!(load.bytes, 2560);
    assert_eq!(load.chunks, 83);
    assert!(load.upload >= load.max_chunk_round_trip);
    {
        let st = state.lock().unwrap();
        assert_eq!(st.buffer, data, "the fake DUT received different bytes");
        assert_eq!(st.chunks.len(), 83);
        for (i, chunk) in st.chunks.iter().enumerate() {
            let bytes = &data[i * 31..(i * 31 + 31).min(data.len())];
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(chunk, &hex, "chunk {i}");
        }
    }

    let r = c.infer(5, 2).await.unwrap();
    assert_eq!((r.runs, r.warmups), (5, 2));
    assert_eq!(r.laps_us, Some([1_000_000, 1_250_000]));
    assert_eq!(r.elapsed_us(), Some(250_000));
    assert_eq!(r.dut_elapsed(), Some(Duration::from_millis(250)));
    assert_eq!(r.throughput(), Some(20.0));
    assert_eq!(r.latency_us(), Some(50_000.0));
    assert_eq!(r.results, vec![0.125]);
    assert_eq!(r.ticks, Some(600_000));
    assert_eq!(r.cycles, Some(48_000_000));
    assert_eq!(r.stack, Some((2048, 16384)));
    assert_eq!(r.arena, Some((10240, 12288)));
    assert_eq!(r.output, Some(vec![127, -128, -1, 0]));
    assert_eq!(r.extensions.len(), 1);
    assert_eq!(r.extensions.get("heap").map(String::as_str), Some("0"));
    assert_eq!(r.host_round_trip, r.response.elapsed);
    assert!(r.response.errors.is_empty() && r.response.garbage.is_empty());

    drop(c);
    let cmds = dut.await.unwrap();
    assert_eq!(cmds[..3], ["name", "profile", "db load 2560"]);
    assert_eq!(cmds.last().unwrap(), "infer 5 2");
    assert_eq!(cmds.len(), 3 + 83 + 1);
}

#[tokio::test]
async fn garbage_and_non_utf8_lines_are_recorded_and_ignored() {
    let mut boot = b"\x00\xff\xfe\r\n\x1b[2J boot noise\r\nU-Boot-ish banner\r\n".to_vec();
    boot.extend_from_slice(b"\xf0\x28\x8c\x28m-timestamp-mode-performance\r\n");
    boot.extend_from_slice(b"m-init-done\r\n\xff\xffm-ready\r\n");
    let state = Arc::new(Mutex::new(RefState::default()));
    let mut inner = reference_dut(state.clone(), (10, 20));
    let (io, _dut) = spawn_dut(boot, move |cmd| {
        // Interleave garbage before and inside every reply.
        match inner(cmd) {
            Reply::Bytes(out) => {
                let mut noisy = b"\xc3\x28 half a char\r\n\x07\x08\r\n".to_vec();
                let s = String::from_utf8(out).unwrap();
                for (i, line) in s.split_inclusive("\r\n").enumerate() {
                    if i == 1 {
                        noisy.extend_from_slice(b"\xfe\xfd\xfc\n");
                    }
                    noisy.extend_from_slice(line.as_bytes());
                }
                Reply::Bytes(noisy)
            }
            other => other,
        }
    });
    let mut c = DutClient::new(io, generous());

    let boot = c.wait_boot().await.unwrap();
    assert_eq!(boot.timestamp_mode, Some(TimestampMode::Performance), "recovered from behind noise");
    assert!(boot.init_done);
    assert_eq!(boot.response.lines, vec!["U-Boot-ish banner", "m-timestamp-mode-performance", "m-init-done"]);
    assert_eq!(boot.response.garbage.len(), 4, "{:?}", boot.response.garbage);
    assert!(boot.response.garbage.iter().any(|g| g.contains('\u{fffd}')));

    assert_eq!(c.name().await.unwrap(), "Acme Labs");
    let p = c.profile().await.unwrap();
    assert_eq!(p.model_id.as_deref(), Some("ad01"));
    let raw = c.command("profile", Duration::from_secs(1)).await.unwrap();
    assert_eq!(raw.garbage.len(), 3, "{:?}", raw.garbage);
    assert!(raw.errors.is_empty());

    c.load_input(&input(100)).await.unwrap();
    assert_eq!(state.lock().unwrap().buffer, input(100));
    let r = c.infer(1, 0).await.unwrap();
    assert_eq!(r.elapsed_us(), Some(10));
    assert_eq!(r.response.garbage.len(), 3);
}

#[tokio::test]
async fn missing_ready_times_out_naming_the_command() {
    let (io, _dut) = spawn_dut(text(BOOT), |cmd| match cmd {
        "name" => Reply::Bytes(text(&["m-name-dut-[Acme Labs]", "m-some-progress"])),
        _ => ok(&[]),
    });
    let mut c = DutClient::new(io, fast());
    c.wait_boot().await.unwrap();
    let err = c.name().await.unwrap_err();
    match &err {
        ProtocolError::Timeout { command, waited, partial } => {
            assert_eq!(command, "name");
            assert_eq!(*waited, Duration::from_millis(150));
            assert_eq!(partial, &vec!["m-name-dut-[Acme Labs]".to_string(), "m-some-progress".to_string()]);
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("`name`") && msg.contains("m-ready") && msg.contains("m-some-progress"), "{msg}");
    assert_eq!(err.partial_lines().len(), 2);
}

#[tokio::test]
async fn silent_boot_times_out() {
    let (io, _dut) = spawn_dut(b"m-timestamp-mode-energy\r\n".to_vec(), |_| ok(&[]));
    let mut c = DutClient::new(io, fast());
    match c.wait_boot().await {
        Err(ProtocolError::Timeout { command, partial, .. }) => {
            assert_eq!(command, "<boot>");
            assert_eq!(partial, vec!["m-timestamp-mode-energy"]);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn device_stops_answering_mid_upload() {
    let state = Arc::new(Mutex::new(RefState { hang_after_chunks: Some(10), ..RefState::default() }));
    let (io, dut) = spawn_dut(text(BOOT), reference_dut(state.clone(), (0, 1)));
    let mut c = DutClient::new(io, fast());
    c.wait_boot().await.unwrap();
    let data = input(2560);
    let err = c.load_input(&data).await.unwrap_err();
    match &err {
        ProtocolError::Timeout { command, partial, .. } => {
            let hex11: String = data[310..341].iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(command, &format!("db {hex11} (chunk 11/83)"));
            assert!(partial.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("chunk 11/83"), "{err}");
    assert_eq!(state.lock().unwrap().chunks.len(), 10);
    drop(c);
    assert_eq!(dut.await.unwrap().len(), 1 + 11);
}

#[tokio::test]
async fn closed_stream_mid_reply_and_before_command() {
    let (io, _dut) = spawn_dut(text(BOOT), |cmd| match cmd {
        "infer 3 1" => Reply::Close(text(&["m-warmup-start-1", "m-warmup-done", "m-infer-sta"])),
        _ => ok(&[]),
    });
    let mut c = DutClient::new(io, generous());
    c.wait_boot().await.unwrap();
    let err = c.infer(3, 1).await.unwrap_err();
    match &err {
        ProtocolError::Closed { command, partial } => {
            assert_eq!(command, "infer 3 1");
            assert_eq!(partial, &vec!["m-warmup-start-1", "m-warmup-done", "m-infer-sta"]);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("closed"), "{err}");
    // Later commands fail fast, as Closed or as an I/O error on write; never hang.
    let later = tokio::time::timeout(Duration::from_secs(2), c.name()).await.expect("no hang");
    assert!(
        matches!(later, Err(ProtocolError::Closed { .. }) | Err(ProtocolError::Io { .. })),
        "{later:?}"
    );

    // Closed in the middle of the boot banner.
    let (host, mut dut_end) = tokio::io::duplex(64);
    dut_end.write_all(b"m-timestamp-mode-performance\r\nm-ini").await.unwrap();
    drop(dut_end);
    let mut c = DutClient::new(host, generous());
    match c.wait_boot().await {
        Err(ProtocolError::Closed { command, partial }) => {
            assert_eq!(command, "<boot>");
            assert_eq!(partial, vec!["m-timestamp-mode-performance", "m-ini"]);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn unknown_command_is_a_device_error() {
    let (io, _dut) = spawn_dut(text(BOOT), |cmd| ok(&[&format!("e-[Unknown command: {cmd}]")]));
    let mut c = DutClient::new(io, generous());
    c.wait_boot().await.unwrap();

    // Raw: the reply is returned, with the error line separated out.
    let r = c.command("frobnicate", Duration::from_millis(200)).await.unwrap();
    assert_eq!(r.errors, vec!["e-[Unknown command: frobnicate]"]);
    assert_eq!(r.lines, r.errors);

    // Typed: cannot have succeeded.
    let err = c.name().await.unwrap_err();
    match &err {
        ProtocolError::Device { command, message } => {
            assert_eq!(command, "name");
            assert_eq!(message, "e-[Unknown command: name]");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("`name` failed on the device"), "{err}");
    assert!(matches!(c.profile().await, Err(ProtocolError::Device { .. })));
    assert!(matches!(c.load_input(&[1, 2, 3]).await, Err(ProtocolError::Device { .. })));
    assert!(matches!(c.infer(1, 0).await, Err(ProtocolError::Device { .. })));
}

#[tokio::test]
async fn malformed_results_are_reported() {
    let (io, _dut) = spawn_dut(text(BOOT), |_| {
        ok(&[
            "m-warmup-start-0",
            "m-warmup-done",
            "m-infer-start-1",
            "m-lap-us-5",
            "m-lap-us-9",
            "m-infer-done",
            "m-results-[0.5,zero point five]",
        ])
    });
    let mut c = DutClient::new(io, generous());
    c.wait_boot().await.unwrap();
    let err = c.infer(1, 0).await.unwrap_err();
    match &err {
        ProtocolError::Malformed { command, line, reason } => {
            assert_eq!(command, "infer 1 0");
            assert_eq!(line, "m-results-[0.5,zero point five]");
            assert!(reason.contains("zero point five"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // The whole reply was consumed: the next command is in step.
    assert!(matches!(c.infer(1, 0).await, Err(ProtocolError::Malformed { .. })));
}

#[tokio::test]
async fn missing_infer_lines_are_named() {
    let (io, _dut) = spawn_dut(text(BOOT), |_| {
        ok(&["m-warmup-start-0", "m-warmup-done", "m-infer-start-1", "m-lap-us-5", "m-results-[1.0]"])
    });
    let mut c = DutClient::new(io, generous());
    c.wait_boot().await.unwrap();
    let err = c.infer(1, 0).await.unwrap_err();
    match &err {
        ProtocolError::Incomplete { command, missing, lines } => {
            assert_eq!(command, "infer 1 0");
            assert_eq!(missing, &vec!["second m-lap-us", "m-infer-done"]);
            assert_eq!(lines.len(), 5);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("second m-lap-us, m-infer-done"), "{err}");
}

#[tokio::test]
async fn echoed_counts_are_checked() {
    let (io, _dut) = spawn_dut(text(BOOT), |_| {
        ok(&["m-warmup-start-10", "m-warmup-done", "m-infer-start-1", "m-lap-us-5", "m-lap-us-6", "m-infer-done", "m-results-[1]"])
    });
    let mut c = DutClient::new(io, generous());
    c.wait_boot().await.unwrap();
    match c.infer(1, 5).await {
        Err(ProtocolError::Malformed { line, reason, .. }) => {
            assert_eq!(line, "m-warmup-start-10");
            assert!(reason.contains("m-warmup-start-5"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn too_long_line_is_discarded_and_reported() {
    let long = "m-help-".to_string() + &"x".repeat(500);
    let (io, _dut) = spawn_dut(text(BOOT), move |cmd| match cmd {
        "help" => ok(&[&long, "after the long line"]),
        _ => ok(&["m-name-dut-[Acme Labs]"]),
    });
    let cfg = ClientConfig { max_line_len: 64, ..generous() };
    let mut c = DutClient::new(io, cfg);
    c.wait_boot().await.unwrap();
    let err = c.command("help", Duration::from_millis(200)).await.unwrap_err();
    match &err {
        ProtocolError::LineTooLong { command, limit } => {
            assert_eq!(command, "help");
            assert_eq!(*limit, 64);
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("64 bytes"), "{err}");
    // The rest of that reply was consumed up to its m-ready: the next reply is the right one.
    assert_eq!(c.name().await.unwrap(), "Acme Labs");
}

#[tokio::test]
async fn endless_line_without_newline_is_bounded() {
    let (io, _dut) = spawn_dut(text(BOOT), |_| Reply::Bytes(vec![b'A'; 20_000]));
    // No newline and no m-ready ever: the line error is reported once the line timeout expires.
    let cfg = ClientConfig { max_line_len: 4096, ..fast() };
    let mut c = DutClient::new(io, cfg);
    c.wait_boot().await.unwrap();
    match c.name().await {
        Err(ProtocolError::LineTooLong { command, limit }) => {
            assert_eq!(command, "name");
            assert_eq!(limit, 4096);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn lap_wraparound() {
    let state = Arc::new(Mutex::new(RefState::default()));
    // The 32-bit µs counter wraps between the two laps.
    let (io, _dut) = spawn_dut(text(BOOT), reference_dut(state, (u32::MAX - 299, 700)));
    let mut c = DutClient::new(io, generous());
    c.wait_boot().await.unwrap();
    let r = c.infer(10, 0).await.unwrap();
    assert_eq!(r.laps_us, Some([u32::MAX - 299, 700]));
    assert_eq!(r.elapsed_us(), Some(1000));
    assert_eq!(r.latency_us(), Some(100.0));
}

#[tokio::test]
async fn energy_mode_needs_no_laps() {
    let boot = text(&["m-timestamp-mode-energy", "m-init-done", "m-ready"]);
    let (io, _dut) = spawn_dut(boot, |_| {
        ok(&["m-warmup-start-0", "m-warmup-done", "m-infer-start-2", "m-infer-done", "m-results-[0.1,0.9]"])
    });
    let mut c = DutClient::new(io, generous());
    assert_eq!(c.wait_boot().await.unwrap().timestamp_mode, Some(TimestampMode::Energy));
    let r = c.infer(2, 0).await.unwrap();
    assert_eq!(r.laps_us, None);
    assert_eq!(r.throughput(), None);
    assert_eq!(r.results, vec![0.1, 0.9]);
}

#[tokio::test]
async fn late_reply_after_timeout_is_not_taken_for_the_next_one() {
    let mut first = true;
    let (io, _dut) = spawn_dut(text(BOOT), move |cmd| match cmd {
        "name" if first => {
            first = false;
            Reply::Delayed(Duration::from_millis(300), text(&["m-name-dut-[stale]", "m-ready"]))
        }
        "name" => ok(&["m-name-dut-[fresh]"]),
        _ => ok(&[]),
    });
    let mut c = DutClient::new(io, fast());
    c.wait_boot().await.unwrap();
    assert!(matches!(c.name().await, Err(ProtocolError::Timeout { .. })));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(c.name().await.unwrap(), "fresh");
}

#[tokio::test]
async fn resync_discards_until_quiet() {
    let (io, _dut) = spawn_dut(text(BOOT), |cmd| match cmd {
        "name" => Reply::Delayed(Duration::from_millis(250), text(&["m-name-dut-[late]", "m-ready"])),
        _ => ok(&["m-profile-[fw]", "m-model-[kws01]"]),
    });
    let mut c = DutClient::new(io, fast());
    c.wait_boot().await.unwrap();
    assert!(matches!(c.name().await, Err(ProtocolError::Timeout { .. })));
    let dropped = c.resync(Duration::from_millis(300)).await.unwrap();
    assert_eq!(dropped, vec!["m-name-dut-[late]", "m-ready"]);
    assert_eq!(c.profile().await.unwrap().model_id.as_deref(), Some("kws01"));
}

#[tokio::test]
async fn db_load_problems() {
    let (io, _dut) = spawn_dut(text(BOOT), |cmd| match cmd {
        "db load 30000" => ok(&["Supplied buffer size 30000 exceeds maximum of 27648"]),
        "db load 4" => ok(&["m-[Expecting 4 bytes]"]),
        // Claims to be done after the first of two chunks.
        _ => ok(&["m-load-done"]),
    });
    let mut c = DutClient::new(io, ClientConfig { db_chunk_bytes: 2, ..generous() });
    c.wait_boot().await.unwrap();
    match c.load_input(&vec![0; 30000]).await {
        Err(ProtocolError::Device { command, message }) => {
            assert_eq!(command, "db load 30000");
            assert!(message.contains("exceeds maximum"));
        }
        other => panic!("{other:?}"),
    }
    match c.load_input(&[1, 2, 3, 4]).await {
        Err(ProtocolError::Malformed { command, line, .. }) => {
            assert_eq!(command, "db 0102 (chunk 1/2)");
            assert_eq!(line, "m-load-done");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(c.load_input(&[]).await, Err(ProtocolError::InvalidCommand { .. })));
}

#[tokio::test]
async fn invalid_commands_are_not_sent() {
    let (io, dut) = spawn_dut(text(BOOT), |_| ok(&[]));
    let mut c = DutClient::new(io, ClientConfig { db_chunk_bytes: 39, ..generous() });
    c.wait_boot().await.unwrap();
    assert!(matches!(c.command("a%b", Duration::from_millis(50)).await, Err(ProtocolError::InvalidCommand { .. })));
    let long = "x".repeat(81);
    assert!(matches!(c.command(&long, Duration::from_millis(50)).await, Err(ProtocolError::InvalidCommand { .. })));
    assert!(matches!(c.infer(0, 0).await, Err(ProtocolError::InvalidCommand { .. })));
    assert!(matches!(c.load_input(&[1]).await, Err(ProtocolError::InvalidCommand { .. })));
    drop(c);
    assert!(dut.await.unwrap().is_empty());
}
