//! Fuzzing the DUT protocol client with hostile device output (issue 9, reliability).
//!
//! A scripted fake DUT (an in-memory duplex stream, as in `protocol_client.rs`) answers a full
//! session: boot banner, `name`, `profile`, `db load` + two `db` chunks, `infer 3 1`, `results`.
//! What is injected, and how many cases run (fixed seeds, no persistence files):
//! - `random_garbage_replies` (200 cases): every reply is random bytes (non-UTF-8, NULs, `\r`,
//!   control characters, stray `m-`/`e-` fragments), with or without a closing `m-ready`; when the
//!   script runs out the fake closes the stream or goes silent.
//! - `corrupted_valid_replies` (300 cases): the correct replies with 1..6 mutations each: byte
//!   flips, truncation, inserted bytes, over-long lines (with and without a newline), NULs,
//!   non-UTF-8, duplicated or dropped lines, a dropped `m-ready`, a flood of lines.
//! - `junk_lines_do_not_change_valid_replies` (200 cases): the correct replies with junk lines
//!   (noise, non-UTF-8, control characters, debug prints; none looks like a protocol line)
//!   interleaved before `m-ready`; every parsed value must be exactly the expected one.
//!
//! - `endless_output_is_bounded` (7 fixed floods): the device never stops printing: NULs, `\r`,
//!   a line without end, empty lines, protocol-looking lines, random bytes, NUL-padded lines.
//!   Each call must end (error) within its timeout and the client's heap must stay under 256 KiB.
//!
//! Properties: no panic; no hang (each case runs on its own thread and must finish within 10 s
//! of wall time; the client's per-line timeouts are 10 ms); every call returns either a value
//! that is consistent with what was asked, or an error whose message starts with the command in
//! flight and names what was wrong.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::Duration;

use mcubench::protocol::{ClientConfig, DutClient, ProtocolError, TimestampMode};
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

// ---- A per-thread counting allocator, to bound the client's memory under floods. ----

struct Counting;

thread_local! {
    static CURRENT: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
    static PEAK: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

fn track(delta: isize) {
    let _ = CURRENT.try_with(|c| {
        let now = c.get() + delta;
        c.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        track(l.size() as isize);
        std::alloc::System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: std::alloc::Layout) -> *mut u8 {
        track(l.size() as isize);
        std::alloc::System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        track(-(l.size() as isize));
        std::alloc::System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, new: usize) -> *mut u8 {
        track(new as isize - l.size() as isize);
        std::alloc::System.realloc(p, l, new)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// What the fake does with one command.
#[derive(Debug, Clone)]
enum Reply {
    Bytes(Vec<u8>),
    /// Say nothing (the client must time out).
    Silent,
    /// Close the stream (the client must see `Closed` or an I/O error).
    Close,
}

/// Spawns the fake DUT on the current runtime: writes `boot`, then answers each `%`-terminated
/// command with `handler(command)`.
fn spawn_dut<F>(boot: Reply, mut handler: F) -> (DuplexStream, JoinHandle<()>)
where
    F: FnMut(&str) -> Reply + Send + 'static,
{
    let (host, mut dut) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(async move {
        match boot {
            Reply::Bytes(b) => {
                if dut.write_all(&b).await.is_err() {
                    return;
                }
            }
            Reply::Silent => {}
            Reply::Close => return,
        }
        let mut cmd = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            let n = match dut.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            for &b in &buf[..n] {
                if b != b'%' {
                    cmd.push(b);
                    continue;
                }
                let c = String::from_utf8_lossy(&std::mem::take(&mut cmd)).into_owned();
                match handler(&c) {
                    Reply::Bytes(out) => {
                        if dut.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                    Reply::Silent => {}
                    Reply::Close => return,
                }
            }
        }
    });
    (host, task)
}

fn text(lines: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

const INPUT_LEN: usize = 40; // two `db` chunks of 31 + 9 bytes
const RUNS: u32 = 3;
const WARMUPS: u32 = 1;

/// The reply index of each step of the session (0 = boot banner).
const STEPS: usize = 8;

/// The correct reply lines (with `m-ready`) of reply `idx` of the session.
fn valid_lines(idx: usize) -> Vec<String> {
    let l: &[&str] = match idx {
        0 => &["m-timestamp-mode-performance", "m-init-done"],
        1 => &["m-name-dut-[Acme Labs]"],
        2 => &["m-profile-[ULPMark for tinyML Firmware V0.0.1]", "m-model-[ad01]", "m-mcubench-runtime-[ref 0.1]"],
        3 => &["m-[Expecting 40 bytes]"],
        4 => &[],
        5 => &["m-load-done"],
        6 => &[
            "m-warmup-start-1",
            "m-warmup-done",
            "m-infer-start-3",
            "m-lap-us-1000",
            "m-lap-us-4000",
            "m-infer-done",
            "m-results-[0.125,0.875]",
            "m-mcubench-ticks-[42]",
            "m-mcubench-stack-[1024/8192]",
            "m-mcubench-output-[7f80]",
        ],
        _ => &["m-results-[0.125,0.875]"],
    };
    let mut v: Vec<String> = l.iter().map(|s| s.to_string()).collect();
    v.push("m-ready".into());
    v
}

/// Which reply of the session a command is (the fake tells chunks apart by their order).
fn reply_index(cmd: &str, chunks_seen: &mut usize) -> usize {
    match cmd {
        "name" => 1,
        "profile" => 2,
        "results" => 7,
        c if c.starts_with("db load") => 3,
        c if c.starts_with("db ") => {
            *chunks_seen += 1;
            if *chunks_seen == 1 {
                4
            } else {
                5
            }
        }
        c if c.starts_with("infer") => 6,
        _ => 7,
    }
}

fn config(timeout: Duration) -> ClientConfig {
    ClientConfig {
        line_timeout: timeout,
        boot_timeout: timeout,
        infer_timeout: timeout,
        max_line_len: 256,
        max_response_lines: 64,
        ..ClientConfig::default()
    }
}

/// Outcome of each step, for the properties.
#[derive(Debug)]
enum Step {
    Ok(String),
    Err(ProtocolError),
}

/// Checks that an error names the command in flight and what went wrong.
fn check_error(e: &ProtocolError) -> Result<(), String> {
    let msg = e.to_string();
    let cmd = e.command();
    if cmd.is_empty() {
        return Err(format!("error without a command: {msg}"));
    }
    if !msg.starts_with(&format!("`{cmd}`")) {
        return Err(format!("message does not start with the command `{cmd}`: {msg}"));
    }
    let named = match e {
        ProtocolError::Malformed { line, reason, .. } => !reason.is_empty() && msg.contains(line.as_str()),
        ProtocolError::Incomplete { missing, .. } => !missing.is_empty() && missing.iter().all(|m| msg.contains(m.as_str())),
        ProtocolError::Device { message, .. } => !message.is_empty(),
        ProtocolError::Timeout { .. } | ProtocolError::Closed { .. } => msg.contains("m-ready"),
        ProtocolError::LineTooLong { limit, .. } => msg.contains(&limit.to_string()),
        ProtocolError::Io { .. } => true,
        // The session only sends valid commands.
        ProtocolError::InvalidCommand { .. } => false,
    };
    if !named {
        return Err(format!("error does not name the problem: {msg} ({e:?})"));
    }
    Ok(())
}

/// Runs the whole session against `dut` and returns each step's outcome, checking the values of
/// successful steps for consistency with what was asked.
async fn session(io: DuplexStream, cfg: ClientConfig) -> Result<Vec<Step>, String> {
    let mut c = DutClient::new(io, cfg);
    let mut out = Vec::new();
    let input: Vec<u8> = (0..INPUT_LEN as u8).collect();
    macro_rules! step {
        ($e:expr, $ok:expr) => {
            match $e {
                Ok(v) => {
                    let check: Result<String, String> = $ok(v);
                    out.push(Step::Ok(check?));
                }
                Err(e) => {
                    check_error(&e)?;
                    out.push(Step::Err(e));
                }
            }
        };
    }
    step!(c.wait_boot().await, |b: mcubench::protocol::BootInfo| Ok(format!("{:?} {}", b.timestamp_mode, b.init_done)));
    step!(c.name().await, |n: String| Ok(n));
    step!(c.profile().await, |p: mcubench::protocol::Profile| Ok(format!("{:?} {:?} {:?}", p.firmware, p.model_id, p.extensions)));
    step!(c.load_input(&input).await, |l: mcubench::protocol::LoadReport| {
        if l.bytes != INPUT_LEN || l.chunks != 2 {
            return Err(format!("load report {l:?} for {INPUT_LEN} bytes"));
        }
        Ok(String::new())
    });
    let energy = c.timestamp_mode() == Some(TimestampMode::Energy);
    step!(c.infer(RUNS, WARMUPS).await, |r: mcubench::protocol::InferReport| {
        if (r.runs, r.warmups) != (RUNS, WARMUPS) || r.results.is_empty() || (!energy && r.laps_us.is_none()) {
            return Err(format!("inconsistent infer report {r:?}"));
        }
        Ok(format!("{:?} {:?} {:?} {:?} {:?} {:?}", r.laps_us, r.results, r.ticks, r.stack, r.output, r.extensions))
    });
    step!(c.results().await, |r: Vec<f32>| if r.is_empty() { Err("empty results".to_string()) } else { Ok(format!("{r:?}")) });
    Ok(out)
}

/// Runs one case on its own thread and runtime, so a hang is reported instead of blocking the
/// suite. `make_dut` builds the fake on the case's runtime.
fn run_case<D>(cfg: ClientConfig, make_dut: D) -> Result<Vec<Step>, String>
where
    D: FnOnce() -> (DuplexStream, JoinHandle<()>) + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let r = rt.block_on(async move {
            let (io, dut) = make_dut();
            let r = session(io, cfg).await;
            // The client is gone, so the fake ends; a panic in it is a bug in this test.
            dut.await.map_err(|e| format!("the fake DUT failed: {e}"))?;
            r
        });
        let _ = tx.send(r);
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(r) => r,
        Err(mpsc::RecvTimeoutError::Timeout) => Err("the session hung for 10 s".into()),
        // The thread died without sending: a panic in the client (printed above).
        Err(mpsc::RecvTimeoutError::Disconnected) => Err("the session panicked".into()),
    }
}

fn cfg_fixed(cases: u32, seed: u64) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    }
}

/// Bytes a broken UART or a confused firmware might print.
fn noise_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => any::<u8>(),
        2 => Just(b'\n'),
        1 => Just(b'\r'),
        1 => Just(0u8),
        1 => Just(b'-'),
        1 => Just(b'm'),
        1 => Just(b'e'),
        1 => Just(b'['),
        1 => Just(b']'),
    ]
}

fn noise(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(noise_byte(), 0..max),
        // Fragments of real protocol lines with noise around them.
        (proptest::collection::vec(noise_byte(), 0..8), 0..STEPS, any::<prop::sample::Index>(), proptest::collection::vec(noise_byte(), 0..8))
            .prop_map(|(a, idx, which, b)| {
                let lines = valid_lines(idx);
                let mut v = a;
                v.extend_from_slice(lines[which.index(lines.len())].as_bytes());
                v.extend_from_slice(&b);
                v
            }),
    ]
}

/// One mutation of a valid reply's bytes; positions are taken modulo the reply length.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(prop::sample::Index, u8),
    Truncate(prop::sample::Index),
    Insert(prop::sample::Index, Vec<u8>),
    LongLine(prop::sample::Index, usize, bool),
    DropLine(prop::sample::Index),
    DuplicateLine(prop::sample::Index),
    DropReady,
    Flood(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<prop::sample::Index>(), 1..=255u8).prop_map(|(i, m)| Mutation::Flip(i, m)),
        1 => any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        2 => (any::<prop::sample::Index>(), noise(24)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<prop::sample::Index>(), 200usize..2000, any::<bool>()).prop_map(|(i, n, nl)| Mutation::LongLine(i, n, nl)),
        1 => any::<prop::sample::Index>().prop_map(Mutation::DropLine),
        1 => any::<prop::sample::Index>().prop_map(Mutation::DuplicateLine),
        1 => Just(Mutation::DropReady),
        1 => (40usize..120).prop_map(Mutation::Flood),
    ]
}

fn apply(lines: &mut Vec<String>, bytes: &mut Vec<u8>, m: &Mutation) {
    // Line-level mutations work on `lines`; byte-level ones on the rendered bytes.
    match m {
        Mutation::DropLine(i) if !lines.is_empty() => {
            lines.remove(i.index(lines.len()));
        }
        Mutation::DuplicateLine(i) if !lines.is_empty() => {
            let k = i.index(lines.len());
            let l = lines[k].clone();
            lines.insert(k, l);
        }
        Mutation::DropReady => lines.retain(|l| l != "m-ready"),
        Mutation::Flood(n) => {
            let k = lines.len().saturating_sub(1);
            for j in 0..*n {
                lines.insert(k, format!("m-progress-{j}"));
            }
        }
        _ => {}
    }
    *bytes = text(lines);
    let len = bytes.len().max(1);
    match m {
        Mutation::Flip(i, mask) if !bytes.is_empty() => bytes[i.index(len)] ^= mask,
        Mutation::Truncate(i) => bytes.truncate(i.index(len)),
        Mutation::Insert(i, b) => {
            let k = i.index(len + 1).min(bytes.len());
            bytes.splice(k..k, b.iter().copied());
        }
        Mutation::LongLine(i, n, nl) => {
            let k = i.index(len + 1).min(bytes.len());
            let mut l = vec![b'x'; *n];
            if *nl {
                l.extend_from_slice(b"\r\n");
            }
            bytes.splice(k..k, l);
        }
        _ => {}
    }
}

/// Junk lines that cannot be mistaken for protocol lines: no `-` at all (so no `m-`/`e-`), no
/// newline; otherwise anything (non-UTF-8, NULs, control characters, `\r`, text).
fn junk_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..120),
        "[ -~]{0,80}".prop_map(String::into_bytes),
        Just("debug: µs × 2, ready".as_bytes().to_vec()),
        Just(b"\x1b[2J\x1b[0m".to_vec()),
        Just(b"\xff\xfe\xfd".to_vec()),
        Just(b"ready m_ready m:ready".to_vec()),
    ]
    .prop_map(|mut v| {
        for b in v.iter_mut() {
            if *b == b'-' || *b == b'\n' {
                *b = b'_';
            }
        }
        v
    })
}

/// Counts step outcomes by kind, so a run shows what the cases exercised.
#[derive(Default)]
struct Tally(BTreeMap<String, usize>);

impl Tally {
    fn add(&mut self, steps: &[Step]) {
        for s in steps {
            let k = match s {
                Step::Ok(_) => "ok".to_string(),
                Step::Err(e) => format!("{e:?}").split([' ', '{', '(']).next().unwrap_or("?").to_string(),
            };
            *self.0.entry(k).or_default() += 1;
        }
    }
}

/// Runs `cases` cases of `strategy` with a fixed seed and prints what the steps returned.
fn fuzz<S>(name: &str, cases: u32, seed: u64, strategy: S, case: impl Fn(S::Value) -> Result<Vec<Step>, String>)
where
    S: Strategy,
{
    let tally = std::cell::RefCell::new(Tally::default());
    let mut runner = TestRunner::new(cfg_fixed(cases, seed));
    let result = runner.run(&strategy, |v| {
        let steps = case(v).map_err(TestCaseError::fail)?;
        tally.borrow_mut().add(&steps);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    println!("{name}: {cases} cases, step outcomes {:?}", tally.borrow().0);
}

#[test]
fn random_garbage_replies() {
    let strategy = (
        proptest::collection::vec((noise(300), any::<bool>()), 0..STEPS + 1),
        proptest::bool::weighted(0.2),
    );
    fuzz("random_garbage_replies", 200, 0x5eed_0001, strategy, |(script, silent_at_end)| {
        let mut replies: Vec<Reply> = script
            .into_iter()
            .map(|(mut b, ready)| {
                if ready {
                    b.extend_from_slice(b"\r\nm-ready\r\n");
                }
                Reply::Bytes(b)
            })
            .collect();
        replies.reverse();
        let end = if silent_at_end { Reply::Silent } else { Reply::Close };
        let boot = replies.pop().unwrap_or(end.clone());
        run_case(config(Duration::from_millis(10)), move || {
            spawn_dut(boot, move |_cmd| replies.pop().unwrap_or(end.clone()))
        })
    });
}

#[test]
fn corrupted_valid_replies() {
    let strategy = (proptest::collection::vec((0..STEPS, mutation()), 1..6), proptest::bool::weighted(0.1));
    fuzz("corrupted_valid_replies", 300, 0x5eed_0002, strategy, |(muts, silent_at_end)| {
        let render = move |idx: usize| {
            let mut lines = valid_lines(idx);
            let mut bytes = text(&lines);
            for (_, m) in muts.iter().filter(|(k, _)| *k == idx) {
                apply(&mut lines, &mut bytes, m);
            }
            bytes
        };
        let boot = Reply::Bytes(render(0));
        run_case(config(Duration::from_millis(10)), move || {
            let mut chunks = 0;
            let mut answered = 0;
            spawn_dut(boot, move |cmd| {
                answered += 1;
                // A desynchronised client may send more commands than the session has steps.
                if answered > STEPS + 4 {
                    return if silent_at_end { Reply::Silent } else { Reply::Close };
                }
                Reply::Bytes(render(reply_index(cmd, &mut chunks)))
            })
        })
    });
}

proptest! {
    #![proptest_config(cfg_fixed(200, 0x5eed_0003))]

    #[test]
    fn junk_lines_do_not_change_valid_replies(
        junk in proptest::collection::vec((0..STEPS, any::<prop::sample::Index>(), junk_line()), 0..24),
    ) {
        let render = move |idx: usize| {
            let lines = valid_lines(idx);
            let mut out = Vec::new();
            // Junk goes before any line of the reply, `m-ready` included (never after it).
            for (k, l) in lines.iter().enumerate() {
                for (_, _, j) in junk.iter().filter(|(r, at, _)| *r == idx && at.index(lines.len()) == k) {
                    out.extend_from_slice(j);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(l.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            out
        };
        let boot = Reply::Bytes(render(0));
        // Generous timeouts: nothing here may time out, even on a loaded machine.
        let mut cfg = config(Duration::from_secs(5));
        cfg.max_response_lines = 100_000;
        let r = run_case(cfg, move || {
            let mut chunks = 0;
            spawn_dut(boot, move |cmd| Reply::Bytes(render(reply_index(cmd, &mut chunks))))
        });
        let steps = match r {
            Ok(s) => s,
            Err(e) => return Err(TestCaseError::fail(e)),
        };
        let got: Vec<String> = steps
            .iter()
            .map(|s| match s {
                Step::Ok(v) => v.clone(),
                Step::Err(e) => format!("ERROR {e}"),
            })
            .collect();
        let want = vec![
            "Some(Performance) true".to_string(),
            "Acme Labs".to_string(),
            "Some(\"ULPMark for tinyML Firmware V0.0.1\") Some(\"ad01\") {\"runtime\": \"ref 0.1\"}".to_string(),
            String::new(),
            "Some([1000, 4000]) [0.125, 0.875] Some(42) Some((1024, 8192)) Some([127, -128]) {}".to_string(),
            "[0.125, 0.875]".to_string(),
        ];
        prop_assert_eq!(got, want);
    }
}

/// A device that never stops printing. The fake and the client share one thread, so the peak
/// heap growth of that thread bounds what the client buffered.
#[test]
fn endless_output_is_bounded() {
    let floods: [(&str, Vec<u8>); 7] = [
        ("NULs", vec![0u8; 4096]),
        ("carriage returns", vec![b'\r'; 4096]),
        ("a line without end", vec![b'x'; 4096]),
        ("empty lines", b"\r\n".repeat(2048)),
        ("protocol-looking lines", b"m-progress-[1]\r\n".repeat(256)),
        ("random bytes", (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()),
        ("NUL-padded line", [vec![b'y'; 8], vec![0u8; 4088]].concat()),
    ];
    for (name, chunk) in floods {
        let (tx, rx) = mpsc::channel();
        let label = name.to_string();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let r = rt.block_on(async move {
                let (host, mut dut) = tokio::io::duplex(1 << 16);
                tokio::spawn(async move { while dut.write_all(&chunk).await.is_ok() {} });
                let mut c = DutClient::new(host, config(Duration::from_millis(100)));
                let base = CURRENT.with(|c| c.get());
                PEAK.with(|p| p.set(base));
                let t = std::time::Instant::now();
                let boot = c.wait_boot().await;
                let name = c.name().await;
                let took = t.elapsed();
                let peak = PEAK.with(|p| p.get()) - base;
                let short = |e: ProtocolError| e.to_string().chars().take(120).collect::<String>();
                (boot.err().map(short), name.err().map(short), took, peak)
            });
            let _ = tx.send(r);
        });
        let (boot, name_err, took, peak) = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{label}: the client hung or panicked ({e})"));
        println!("{label}: boot -> {boot:?}; name -> {name_err:?}; {took:?}, peak heap {peak} bytes");
        assert!(boot.is_some() && name_err.is_some(), "{label}: a flood was taken for a reply");
        assert!(took < Duration::from_secs(3), "{label}: took {took:?}");
        // The reader keeps at most one line (256 bytes here); the rest is the duplex buffer.
        assert!(peak < 256 << 10, "{label}: the client buffered {peak} bytes");
    }
}
