//! The host side of the MLPerf Tiny DUT protocol.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::error::{ProtocolError, BOOT};
use super::line::{classify, Line, LineReader, ReadError};
use super::parse;

/// The end-of-response marker: the DUT's parser prints it after every command, even unknown ones.
pub const READY: &str = "m-ready";

/// The DUT's command buffer (`EE_CMD_SIZE`): longer commands are silently truncated by the
/// firmware, so the client refuses to send them rather than get a confusing reply.
pub const MAX_COMMAND_LEN: usize = 80;

/// Largest `db` chunk that fits in [`MAX_COMMAND_LEN`]: `"db "` + 2 hex digits per byte.
pub const MAX_DB_CHUNK_BYTES: usize = (MAX_COMMAND_LEN - 3) / 2;

/// Client settings. All timeouts are *inactivity* timeouts: the longest wait for the next line,
/// as in the official runner (a `db print` of a large buffer at 9600 baud takes minutes but
/// never goes quiet, while `infer` is silent for the whole measured window).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientConfig {
    /// Wait for each line of an ordinary command (runner default: 5 s).
    pub line_timeout: Duration,
    /// Wait for each line while waiting for the boot banner (model set-up happens before it).
    pub boot_timeout: Duration,
    /// Wait for each line of `infer`; must exceed the silent measured window (MLPerf asks for
    /// windows of at least 10 s; the runner uses 30 s).
    pub infer_timeout: Duration,
    /// Longer reply lines are discarded and reported as [`ProtocolError::LineTooLong`].
    pub max_line_len: usize,
    /// Payload bytes per `db` command; 31 as the official runner talking to the DUT directly
    /// (26 through an energy interface board). At most [`MAX_DB_CHUNK_BYTES`].
    pub db_chunk_bytes: usize,
    /// A reply with more lines than this and no `m-ready` is treated as runaway output.
    pub max_response_lines: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            line_timeout: Duration::from_secs(5),
            boot_timeout: Duration::from_secs(30),
            infer_timeout: Duration::from_secs(60),
            max_line_len: 4096,
            db_chunk_bytes: 31,
            max_response_lines: 100_000,
        }
    }
}

/// Everything the DUT printed for one command, up to (not including) `m-ready`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The command as sent, without the `%` terminator (`<boot>` for the boot banner).
    pub command: String,
    /// Printable lines in arrival order, trimmed, `e-` lines included. Protocol lines recovered
    /// from behind line noise (`\xff\xfem-ready`) are included as well.
    pub lines: Vec<String>,
    /// The `e-` lines (device errors), also present in `lines`.
    pub errors: Vec<String>,
    /// Lines that were not valid UTF-8 or held control characters, lossily decoded. They are
    /// ignored by the parsers but kept so a noisy serial link shows up in reports.
    pub garbage: Vec<String>,
    /// Host wall-clock time from writing the command to reading `m-ready`.
    pub elapsed: Duration,
}

impl Response {
    /// First line equal to, or starting with, `prefix`.
    pub fn find(&self, prefix: &str) -> Option<&str> {
        self.lines.iter().map(String::as_str).find(|l| l.starts_with(prefix))
    }
}

/// How the firmware timestamps the measured window (printed once at boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimestampMode {
    /// `m-timestamp-mode-performance`: `m-lap-us-<u32>` lines from the DUT's µs timer.
    Performance,
    /// `m-timestamp-mode-energy`: a GPIO edge for the energy monitor, no `m-lap-us` lines.
    Energy,
}

/// What the DUT printed between reset and its first `m-ready`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootInfo {
    /// `None` if the firmware printed neither `m-timestamp-mode-*` line.
    pub timestamp_mode: Option<TimestampMode>,
    /// Whether `m-init-done` was seen (reference firmware prints it after model set-up).
    pub init_done: bool,
    pub response: Response,
}

/// Reply of `profile%`, plus any `m-mcubench-<key>-[<value>]` lines the firmware adds.
/// The two standard lines are optional so that vendor firmware that omits one can still be
/// driven; the caller decides whether a missing model id is fatal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// `m-profile-[...]`, e.g. `ULPMark for tinyML Firmware V0.0.1`.
    pub firmware: Option<String>,
    /// `m-model-[...]`: `kws01`, `vww01`, `ic01`, `ad01` or `strww01`.
    pub model_id: Option<String>,
    pub extensions: BTreeMap<String, String>,
}

/// Result of [`DutClient::load_input`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
    pub bytes: usize,
    /// Number of `db <hex>` commands sent.
    pub chunks: usize,
    /// Host wall-clock time from sending `db load` to the `m-ready` after `m-load-done`. Uploads
    /// are round-trip bound (one `m-ready` per chunk), so this is most of the harness overhead.
    pub upload: Duration,
    /// Slowest single chunk round trip (spots a link that stalls now and then).
    pub max_chunk_round_trip: Duration,
}

/// Parsed reply of `infer N W`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferReport {
    pub runs: u32,
    pub warmups: u32,
    /// The two `m-lap-us-<u32>` readings bracketing the measured runs (performance mode).
    pub laps_us: Option<[u32; 2]>,
    /// `m-results-[...]` of the last inference.
    pub results: Vec<f32>,
    /// `m-mcubench-ticks-[u64]`.
    pub ticks: Option<u64>,
    /// `m-mcubench-cycles-[u64]` (e.g. DWT CYCCNT over the window).
    pub cycles: Option<u64>,
    /// `m-mcubench-stack-[used/painted]`: `(used, painted)` stack bytes (high-water mark of a
    /// painted stack; peak RAM is not part of the MLPerf protocol).
    pub stack: Option<(u64, u64)>,
    /// `m-mcubench-arena-[used/total]`: `(used, total)` tensor-arena bytes.
    pub arena: Option<(u64, u64)>,
    /// `m-mcubench-output-[hex]`: raw int8 output tensor.
    pub output: Option<Vec<i8>>,
    /// Other `m-mcubench-<key>-[<value>]` lines, by key.
    pub extensions: BTreeMap<String, String>,
    /// Host wall-clock time from sending `infer` to its `m-ready`.
    pub host_round_trip: Duration,
    pub response: Response,
}

impl InferReport {
    /// Microseconds of the measured window by the DUT's clock: second lap minus first, correct
    /// across one wrap of the 32-bit counter. `None` without laps (energy mode).
    pub fn elapsed_us(&self) -> Option<u32> {
        self.laps_us.map(|[a, b]| parse::lap_elapsed_us(a, b))
    }

    /// The measured window by the DUT's own clock.
    pub fn dut_elapsed(&self) -> Option<Duration> {
        self.elapsed_us().map(|us| Duration::from_micros(us.into()))
    }

    /// Inferences per second over the measured window, as the runner computes it.
    pub fn throughput(&self) -> Option<f64> {
        let us = self.elapsed_us()?;
        (us > 0).then(|| f64::from(self.runs) / (f64::from(us) / 1e6))
    }

    /// Mean latency of one measured inference, in µs.
    pub fn latency_us(&self) -> Option<f64> {
        self.elapsed_us().map(|us| f64::from(us) / f64::from(self.runs.max(1)))
    }

    /// Host round trip minus the DUT-measured window: warmups, tensor load, printing and link.
    pub fn host_overhead(&self) -> Option<Duration> {
        self.dut_elapsed().map(|d| self.host_round_trip.saturating_sub(d))
    }
}

/// Async client for any firmware speaking the MLPerf Tiny protocol, over any byte stream (a TCP
/// socket to QEMU's UART chardev, a serial port, an in-memory duplex in tests).
///
/// After a [`ProtocolError::Timeout`] the DUT may still print the rest of the old reply, which
/// would be mistaken for the next one; the client drops bytes that are already waiting before
/// the next command, and [`DutClient::resync`] waits for the link to go quiet for a firmer reset.
#[derive(Debug)]
pub struct DutClient<S> {
    stream: S,
    reader: LineReader,
    config: ClientConfig,
    timestamp_mode: Option<TimestampMode>,
    desynced: bool,
}

impl<S> DutClient<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    pub fn new(stream: S, config: ClientConfig) -> Self {
        let reader = LineReader::new(config.max_line_len);
        DutClient { stream, reader, config, timestamp_mode: None, desynced: false }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Mode seen at boot (or set with [`Self::set_timestamp_mode`]); decides whether `infer`
    /// requires `m-lap-us` lines. `None` is treated as performance mode.
    pub fn timestamp_mode(&self) -> Option<TimestampMode> {
        self.timestamp_mode
    }

    /// For a client attached after the DUT booted (its banner is gone).
    pub fn set_timestamp_mode(&mut self, mode: Option<TimestampMode>) {
        self.timestamp_mode = mode;
    }

    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Reads the boot banner up to the first `m-ready` (sends nothing). Missing banner lines are
    /// reported in [`BootInfo`], not as errors: vendor firmware varies, and the caller decides.
    pub async fn wait_boot(&mut self) -> Result<BootInfo, ProtocolError> {
        let start = Instant::now();
        let mut response = self.read_response(BOOT, self.config.boot_timeout).await?;
        response.elapsed = start.elapsed();
        let mut timestamp_mode = None;
        let mut init_done = false;
        for l in &response.lines {
            match l.as_str() {
                "m-timestamp-mode-performance" => timestamp_mode = Some(TimestampMode::Performance),
                "m-timestamp-mode-energy" => timestamp_mode = Some(TimestampMode::Energy),
                "m-init-done" => init_done = true,
                _ => {}
            }
        }
        if timestamp_mode.is_some() {
            self.timestamp_mode = timestamp_mode;
        }
        Ok(BootInfo { timestamp_mode, init_done, response })
    }

    /// Sends `cmd%` and returns every line up to `m-ready`. `e-` lines do not make this fail
    /// (they are in [`Response::errors`]); the typed methods decide when they are fatal.
    /// `timeout` is the longest wait for each line.
    pub async fn command(&mut self, cmd: &str, timeout: Duration) -> Result<Response, ProtocolError> {
        validate_command(cmd)?;
        if self.desynced {
            self.drop_pending().await;
        }
        let start = Instant::now();
        let framed = format!("{cmd}%");
        let write = async {
            self.stream.write_all(framed.as_bytes()).await?;
            self.stream.flush().await
        };
        match tokio::time::timeout(timeout, write).await {
            Err(_) => {
                self.desynced = true;
                return Err(ProtocolError::Timeout {
                    command: cmd.to_string(),
                    waited: timeout,
                    partial: Vec::new(),
                });
            }
            Ok(Err(source)) => return Err(ProtocolError::Io { command: cmd.to_string(), source }),
            Ok(Ok(())) => {}
        }
        let mut response = self.read_response(cmd, timeout).await?;
        response.elapsed = start.elapsed();
        Ok(response)
    }

    /// `name%` -> the vendor string of `m-name-dut-[<vendor>]`.
    pub async fn name(&mut self) -> Result<String, ProtocolError> {
        let r = self.command("name", self.config.line_timeout).await?;
        let found = r.lines.iter().find_map(|l| {
            let rest = l.strip_prefix("m-name-")?;
            let open = rest.find("-[")?;
            rest[open + 2..].strip_suffix(']').map(str::to_string)
        });
        found.ok_or_else(|| missing(&r, &["m-name-dut-[<vendor>]"]))
    }

    /// `profile%` -> firmware string, model id and `m-mcubench-*` extension lines. Fails with
    /// [`ProtocolError::Device`] only if the DUT printed an `e-` line and neither standard line.
    pub async fn profile(&mut self) -> Result<Profile, ProtocolError> {
        let r = self.command("profile", self.config.line_timeout).await?;
        let firmware = r.lines.iter().find_map(|l| parse::bracketed(l, "profile")).map(str::to_string);
        let model_id = r.lines.iter().find_map(|l| parse::bracketed(l, "model")).map(str::to_string);
        if firmware.is_none() && model_id.is_none() && !r.errors.is_empty() {
            return Err(missing(&r, &["m-profile-[<firmware>]", "m-model-[<model id>]"]));
        }
        let extensions = extensions(&r)?;
        // mcubench firmware repeats its timestamp mode here, for a board whose boot was not
        // seen (kind: serial); the boot banner's word stands otherwise.
        for l in &r.lines {
            match l.as_str() {
                "m-timestamp-mode-performance" => self.timestamp_mode = Some(TimestampMode::Performance),
                "m-timestamp-mode-energy" => self.timestamp_mode = Some(TimestampMode::Energy),
                _ => {}
            }
        }
        Ok(Profile { firmware, model_id, extensions })
    }

    /// `results%` -> the `m-results-[...]` vector of the last inference, without running one.
    pub async fn results(&mut self) -> Result<Vec<f32>, ProtocolError> {
        let r = self.command("results", self.config.line_timeout).await?;
        match r.lines.iter().find(|l| l.starts_with("m-results-")) {
            Some(l) => parse_results_line(&r.command, l),
            None => Err(missing(&r, &["m-results-[...]"])),
        }
    }

    /// Uploads the input tensor: `db load N%` (expects `m-[Expecting N bytes]`), then `db <hex>%`
    /// chunks of `db_chunk_bytes`, each waiting for its `m-ready`, the last one producing
    /// `m-load-done`. Errors on a chunk name it as `db <hex> (chunk i/n)`.
    pub async fn load_input(&mut self, data: &[u8]) -> Result<LoadReport, ProtocolError> {
        let n = data.len();
        let chunk = self.config.db_chunk_bytes;
        if n == 0 {
            return Err(ProtocolError::InvalidCommand {
                command: "db load 0".into(),
                reason: "the DUT rejects empty inputs".into(),
            });
        }
        if chunk == 0 || chunk > MAX_DB_CHUNK_BYTES {
            return Err(ProtocolError::InvalidCommand {
                command: format!("db load {n}"),
                reason: format!("db_chunk_bytes must be 1..={MAX_DB_CHUNK_BYTES}, is {chunk}"),
            });
        }
        let start = Instant::now();
        let timeout = self.config.line_timeout;
        let r = self.command(&format!("db load {n}"), timeout).await?;
        if let Some(e) = r.errors.first() {
            return Err(ProtocolError::Device { command: r.command.clone(), message: e.clone() });
        }
        match r.lines.iter().find(|l| l.starts_with("m-[Expecting ")) {
            Some(l) => {
                let got = l
                    .strip_prefix("m-[Expecting ")
                    .and_then(|s| s.strip_suffix(" bytes]"))
                    .and_then(|s| s.trim().parse::<usize>().ok());
                if got != Some(n) {
                    return Err(ProtocolError::Malformed {
                        command: r.command.clone(),
                        line: l.clone(),
                        reason: format!("expected `m-[Expecting {n} bytes]`"),
                    });
                }
            }
            None => {
                // The reference firmware prints a plain (non `e-`) warning when N exceeds its buffer.
                if let Some(l) = r.lines.iter().find(|l| l.contains("exceeds maximum")) {
                    return Err(ProtocolError::Device { command: r.command.clone(), message: l.clone() });
                }
                return Err(missing(&r, &["m-[Expecting N bytes]"]));
            }
        }

        let total = n.div_ceil(chunk);
        let mut max_rt = Duration::ZERO;
        for (i, piece) in data.chunks(chunk).enumerate() {
            let cmd = format!("db {}", parse::hex_encode(piece));
            let label = || format!("{cmd} (chunk {}/{total})", i + 1);
            let r = self.command(&cmd, timeout).await.map_err(|e| relabel(e, label()))?;
            max_rt = max_rt.max(r.elapsed);
            if let Some(e) = r.errors.first() {
                return Err(ProtocolError::Device { command: label(), message: e.clone() });
            }
            let done = r.lines.iter().any(|l| l == "m-load-done");
            let last = i + 1 == total;
            if done && !last {
                return Err(ProtocolError::Malformed {
                    command: label(),
                    line: "m-load-done".into(),
                    reason: format!("DUT finished loading after {} of {n} bytes", (i + 1) * chunk),
                });
            }
            if !done && last {
                return Err(ProtocolError::Incomplete {
                    command: label(),
                    missing: vec!["m-load-done".into()],
                    lines: r.lines,
                });
            }
        }
        Ok(LoadReport { bytes: n, chunks: total, upload: start.elapsed(), max_chunk_round_trip: max_rt })
    }

    /// `infer N W%`, checking the reference sequence `m-warmup-start-W`, `m-warmup-done`,
    /// `m-infer-start-N`, two `m-lap-us-<u32>` (performance mode), `m-infer-done`,
    /// `m-results-[...]`, in that order, plus `m-mcubench-*` extension lines anywhere.
    pub async fn infer(&mut self, runs: u32, warmups: u32) -> Result<InferReport, ProtocolError> {
        self.infer_within(runs, warmups, self.config.infer_timeout).await
    }

    /// [`Self::infer`] with its own reply-line timeout (e.g. scaled with the inference count).
    pub async fn infer_within(&mut self, runs: u32, warmups: u32, timeout: Duration) -> Result<InferReport, ProtocolError> {
        let cmd = format!("infer {runs} {warmups}");
        if runs == 0 {
            return Err(ProtocolError::InvalidCommand {
                command: cmd,
                reason: "the DUT requires at least one measured run".into(),
            });
        }
        let r = self.command(&cmd, timeout).await?;
        let energy = self.timestamp_mode == Some(TimestampMode::Energy);
        parse_infer(r, runs, warmups, energy)
    }

    /// Discards everything until the link has been quiet for `quiet` (or it closes), returning
    /// the discarded lines. Use after a timeout, before trusting the next reply.
    pub async fn resync(&mut self, quiet: Duration) -> Result<Vec<String>, ProtocolError> {
        const CMD: &str = "<resync>";
        self.reader.clear();
        let mut dropped = Vec::new();
        while dropped.len() < self.config.max_response_lines {
            match tokio::time::timeout(quiet, self.reader.next_line(&mut self.stream)).await {
                Err(_) => break,
                Ok(Ok(raw)) => dropped.push(String::from_utf8_lossy(&raw).into_owned()),
                Ok(Err(ReadError::TooLong)) => {}
                Ok(Err(ReadError::Closed)) => {
                    return Err(ProtocolError::Closed { command: CMD.into(), partial: dropped })
                }
                Ok(Err(ReadError::Io(source))) => {
                    return Err(ProtocolError::Io { command: CMD.into(), source })
                }
            }
        }
        self.reader.clear();
        self.desynced = false;
        Ok(dropped)
    }

    /// Drops lines that are already readable without waiting (leftovers of a timed-out reply).
    async fn drop_pending(&mut self) {
        self.reader.clear();
        for _ in 0..self.config.max_response_lines {
            match tokio::time::timeout(Duration::ZERO, self.reader.next_line(&mut self.stream)).await {
                Ok(Ok(_)) | Ok(Err(ReadError::TooLong)) => {}
                _ => break,
            }
        }
        if self.reader.buffered() > 0 {
            self.reader.clear();
        }
        self.desynced = false;
    }

    /// Reads lines until `m-ready`. An over-long line is remembered and reported after the
    /// `m-ready`, so the stream stays in step with the DUT.
    async fn read_response(&mut self, command: &str, timeout: Duration) -> Result<Response, ProtocolError> {
        let mut resp = Response { command: command.to_string(), ..Response::default() };
        // Everything received, garbage included, for error reports.
        let mut transcript: Vec<String> = Vec::new();
        let mut too_long = false;
        loop {
            if transcript.len() > self.config.max_response_lines {
                self.desynced = true;
                return Err(ProtocolError::Malformed {
                    command: command.to_string(),
                    line: transcript.pop().unwrap_or_default(),
                    reason: format!("more than {} lines without `m-ready`", self.config.max_response_lines),
                });
            }
            let raw = match tokio::time::timeout(timeout, self.reader.next_line(&mut self.stream)).await {
                Err(_) => {
                    self.desynced = true;
                    if too_long {
                        return Err(self.too_long(command));
                    }
                    return Err(ProtocolError::Timeout {
                        command: command.to_string(),
                        waited: timeout,
                        partial: transcript,
                    });
                }
                Ok(Err(ReadError::Closed)) => {
                    return Err(ProtocolError::Closed { command: command.to_string(), partial: transcript })
                }
                Ok(Err(ReadError::Io(source))) => {
                    return Err(ProtocolError::Io { command: command.to_string(), source })
                }
                Ok(Err(ReadError::TooLong)) => {
                    too_long = true;
                    transcript.push(format!("<line longer than {} bytes discarded>", self.config.max_line_len));
                    continue;
                }
                Ok(Ok(raw)) => raw,
            };
            let clean = match classify(&raw) {
                Line::Clean(s) => Some(s),
                Line::Garbage { text, recovered } => {
                    transcript.push(text.clone());
                    resp.garbage.push(text);
                    recovered
                }
            };
            let Some(line) = clean else { continue };
            if line == READY {
                if too_long {
                    return Err(self.too_long(command));
                }
                return Ok(resp);
            }
            if line.starts_with("e-") {
                resp.errors.push(line.clone());
            }
            transcript.push(line.clone());
            resp.lines.push(line);
        }
    }

    fn too_long(&self, command: &str) -> ProtocolError {
        ProtocolError::LineTooLong { command: command.to_string(), limit: self.config.max_line_len }
    }
}

fn validate_command(cmd: &str) -> Result<(), ProtocolError> {
    let reason = if cmd.is_empty() {
        Some("empty command".to_string())
    } else if cmd.contains('%') {
        Some("contains the `%` terminator".to_string())
    } else if cmd.len() > MAX_COMMAND_LEN {
        Some(format!("{} bytes, the DUT keeps only {MAX_COMMAND_LEN}", cmd.len()))
    } else if cmd.chars().any(|c| c.is_control()) {
        Some("contains control characters".to_string())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ProtocolError::InvalidCommand { command: cmd.to_string(), reason }),
        None => Ok(()),
    }
}

/// Error for a reply lacking required lines: a device error if the DUT printed an `e-` line
/// (the command cannot have succeeded), otherwise the list of what is missing.
fn missing(r: &Response, what: &[&str]) -> ProtocolError {
    if !r.errors.is_empty() {
        return ProtocolError::Device { command: r.command.clone(), message: r.errors.join("; ") };
    }
    ProtocolError::Incomplete {
        command: r.command.clone(),
        missing: what.iter().map(|s| s.to_string()).collect(),
        lines: r.lines.clone(),
    }
}

fn relabel(e: ProtocolError, label: String) -> ProtocolError {
    match e {
        ProtocolError::Timeout { waited, partial, .. } => ProtocolError::Timeout { command: label, waited, partial },
        ProtocolError::Closed { partial, .. } => ProtocolError::Closed { command: label, partial },
        ProtocolError::LineTooLong { limit, .. } => ProtocolError::LineTooLong { command: label, limit },
        ProtocolError::Io { source, .. } => ProtocolError::Io { command: label, source },
        ProtocolError::Malformed { line, reason, .. } => ProtocolError::Malformed { command: label, line, reason },
        other => other,
    }
}

fn malformed(command: &str, line: &str, reason: impl Into<String>) -> ProtocolError {
    ProtocolError::Malformed { command: command.to_string(), line: line.to_string(), reason: reason.into() }
}

/// All `m-mcubench-<key>-[<value>]` lines of a reply (last one wins for a repeated key).
fn extensions(r: &Response) -> Result<BTreeMap<String, String>, ProtocolError> {
    let mut map = BTreeMap::new();
    for l in &r.lines {
        match parse::extension(l) {
            Some(Ok((k, v))) => {
                map.insert(k, v);
            }
            Some(Err(reason)) => return Err(malformed(&r.command, l, reason)),
            None => {}
        }
    }
    Ok(map)
}

fn parse_results_line(command: &str, line: &str) -> Result<Vec<f32>, ProtocolError> {
    let inner = parse::bracketed(line, "results")
        .ok_or_else(|| malformed(command, line, "expected `m-results-[<f>,<f>,...]`"))?;
    parse::results(inner).map_err(|reason| malformed(command, line, reason))
}

/// Checks and parses an `infer` reply. Lines are located first, then their presence and order
/// are checked, so a reply lacking several lines names all of them at once.
fn parse_infer(r: Response, runs: u32, warmups: u32, energy: bool) -> Result<InferReport, ProtocolError> {
    let cmd = r.command.as_str();
    let mut warmup_start = None;
    let mut warmup_done = None;
    let mut infer_start = None;
    let mut laps: Vec<(usize, u32)> = Vec::new();
    let mut infer_done = None;
    let mut results = None;

    fn once(slot: &mut Option<usize>, idx: usize, cmd: &str, line: &str) -> Result<(), ProtocolError> {
        if slot.is_some() {
            return Err(malformed(cmd, line, "appears twice"));
        }
        *slot = Some(idx);
        Ok(())
    }

    for (i, l) in r.lines.iter().enumerate() {
        let l = l.as_str();
        if let Some(v) = parse::tagged_count(l, "warmup-start") {
            let v = v.map_err(|e| malformed(cmd, l, e))?;
            if v != u64::from(warmups) {
                return Err(malformed(cmd, l, format!("expected `m-warmup-start-{warmups}`")));
            }
            once(&mut warmup_start, i, cmd, l)?;
        } else if l == "m-warmup-done" {
            once(&mut warmup_done, i, cmd, l)?;
        } else if let Some(v) = parse::tagged_count(l, "infer-start") {
            let v = v.map_err(|e| malformed(cmd, l, e))?;
            if v != u64::from(runs) {
                return Err(malformed(cmd, l, format!("expected `m-infer-start-{runs}`")));
            }
            once(&mut infer_start, i, cmd, l)?;
        } else if let Some(v) = parse::lap(l) {
            laps.push((i, v.map_err(|e| malformed(cmd, l, e))?));
        } else if l == "m-infer-done" {
            once(&mut infer_done, i, cmd, l)?;
        } else if l.starts_with("m-results-") {
            let v = parse_results_line(cmd, l)?;
            let mut slot = results.as_ref().map(|&(i, _)| i);
            once(&mut slot, i, cmd, l)?;
            results = Some((i, v));
        }
    }

    let mut absent: Vec<String> = Vec::new();
    let mut need = |present: bool, name: String| {
        if !present {
            absent.push(name);
        }
    };
    need(warmup_start.is_some(), format!("m-warmup-start-{warmups}"));
    need(warmup_done.is_some(), "m-warmup-done".into());
    need(infer_start.is_some(), format!("m-infer-start-{runs}"));
    if !energy {
        need(!laps.is_empty(), "first m-lap-us".into());
        need(laps.len() >= 2, "second m-lap-us".into());
    }
    need(infer_done.is_some(), "m-infer-done".into());
    need(results.is_some(), "m-results-[...]".into());
    if !absent.is_empty() {
        let what: Vec<&str> = absent.iter().map(String::as_str).collect();
        return Err(missing(&r, &what));
    }
    if laps.len() > 2 || (energy && laps.len() == 1) {
        let (i, _) = laps[laps.len().min(3) - 1];
        return Err(malformed(cmd, &r.lines[i], format!("expected exactly two `m-lap-us` lines, got {}", laps.len())));
    }

    // Order: warmup-start < warmup-done < infer-start < lap < lap < infer-done < results.
    let mut order: Vec<(usize, &str)> = vec![
        (warmup_start.unwrap_or(0), "m-warmup-start"),
        (warmup_done.unwrap_or(0), "m-warmup-done"),
        (infer_start.unwrap_or(0), "m-infer-start"),
    ];
    order.extend(laps.iter().map(|&(i, _)| (i, "m-lap-us")));
    order.push((infer_done.unwrap_or(0), "m-infer-done"));
    order.push((results.as_ref().map(|r| r.0).unwrap_or(0), "m-results"));
    for w in order.windows(2) {
        if w[1].0 < w[0].0 {
            return Err(malformed(cmd, &r.lines[w[1].0], format!("out of order: expected after `{}`", w[0].1)));
        }
    }

    let laps_us = (laps.len() == 2).then(|| [laps[0].1, laps[1].1]);

    let mut extensions = extensions(&r)?;
    let ext_line = |k: &str, v: &str| format!("{}{k}-[{v}]", parse::EXTENSION_PREFIX);
    let take_u64 = |map: &mut BTreeMap<String, String>, key: &str| -> Result<Option<u64>, ProtocolError> {
        match map.remove(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| malformed(cmd, &ext_line(key, &v), "expected an unsigned integer")),
        }
    };
    let ticks = take_u64(&mut extensions, "ticks")?;
    // `m-mcubench-cycles-[n/a: <reason>]` (a core without a cycle counter, e.g. the Cortex-M0+):
    // no figure; the reason stays in `extensions["cycles"]`.
    let cycles = if extensions.get("cycles").is_some_and(|v| v.trim_start().starts_with("n/a")) {
        None
    } else {
        take_u64(&mut extensions, "cycles")?
    };
    let mut take_mem = |key: &str| -> Result<Option<(u64, u64)>, ProtocolError> {
        match extensions.remove(key) {
            None => Ok(None),
            Some(v) => parse::mem_usage(&v).map(Some).map_err(|e| malformed(cmd, &ext_line(key, &v), e)),
        }
    };
    let stack = take_mem("stack")?;
    let arena = take_mem("arena")?;
    let output = match extensions.remove("output") {
        None => None,
        Some(v) => Some(parse::hex_i8(&v).map_err(|e| malformed(cmd, &ext_line("output", &v), e))?),
    };

    Ok(InferReport {
        runs,
        warmups,
        laps_us,
        results: results.map(|r| r.1).unwrap_or_default(),
        ticks,
        cycles,
        stack,
        arena,
        output,
        extensions,
        host_round_trip: r.elapsed,
        response: r,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(lines: &[&str]) -> Response {
        Response {
            command: "infer 3 1".into(),
            lines: lines.iter().map(|s| s.to_string()).collect(),
            errors: lines.iter().filter(|l| l.starts_with("e-")).map(|s| s.to_string()).collect(),
            ..Response::default()
        }
    }

    const GOOD: &[&str] = &[
        "m-warmup-start-1",
        "m-warmup-done",
        "m-infer-start-3",
        "m-lap-us-1000",
        "m-lap-us-4000",
        "m-infer-done",
        "m-results-[0.25,0.75]",
        "m-mcubench-ticks-[42]",
    ];

    #[test]
    fn infer_sequence_ok() {
        let rep = parse_infer(resp(GOOD), 3, 1, false).unwrap();
        assert_eq!(rep.laps_us, Some([1000, 4000]));
        assert_eq!(rep.elapsed_us(), Some(3000));
        assert_eq!(rep.latency_us(), Some(1000.0));
        assert_eq!(rep.throughput(), Some(1000.0));
        assert_eq!(rep.results, vec![0.25, 0.75]);
        assert_eq!(rep.ticks, Some(42));
    }

    #[test]
    fn infer_missing_lines_are_named() {
        let lines: Vec<&str> = GOOD.iter().copied().filter(|l| !l.starts_with("m-lap") && *l != "m-warmup-done").collect();
        match parse_infer(resp(&lines), 3, 1, false) {
            Err(ProtocolError::Incomplete { missing, .. }) => {
                assert_eq!(missing, vec!["m-warmup-done", "first m-lap-us", "second m-lap-us"]);
            }
            other => panic!("{other:?}"),
        }
        // Energy mode: no laps needed.
        let lines: Vec<&str> = GOOD.iter().copied().filter(|l| !l.starts_with("m-lap")).collect();
        let rep = parse_infer(resp(&lines), 3, 1, true).unwrap();
        assert_eq!(rep.laps_us, None);
        assert_eq!(rep.throughput(), None);
    }

    #[test]
    fn infer_echo_order_and_duplicates() {
        assert!(matches!(parse_infer(resp(GOOD), 4, 1, false), Err(ProtocolError::Malformed { .. })));
        assert!(matches!(parse_infer(resp(GOOD), 3, 0, false), Err(ProtocolError::Malformed { .. })));
        let mut swapped = GOOD.to_vec();
        swapped.swap(5, 6); // results before infer-done
        match parse_infer(resp(&swapped), 3, 1, false) {
            Err(ProtocolError::Malformed { line, reason, .. }) => {
                assert_eq!(line, "m-results-[0.25,0.75]");
                assert!(reason.contains("after `m-infer-done`"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let mut three = GOOD.to_vec();
        three.insert(4, "m-lap-us-2000");
        assert!(matches!(parse_infer(resp(&three), 3, 1, false), Err(ProtocolError::Malformed { .. })));
        let mut dup = GOOD.to_vec();
        dup.push("m-infer-done");
        assert!(matches!(parse_infer(resp(&dup), 3, 1, false), Err(ProtocolError::Malformed { .. })));
    }

    #[test]
    fn infer_error_line_becomes_device_error() {
        match parse_infer(resp(&["e-[Inference iterations must be >0]"]), 3, 1, false) {
            Err(ProtocolError::Device { message, .. }) => assert!(message.contains("iterations")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn infer_known_extensions() {
        let mut l = GOOD.to_vec();
        l.extend([
            "m-mcubench-stack-[1024/8192]",
            "m-mcubench-arena-[3000/4096]",
            "m-mcubench-output-[7f80ff]",
            "m-mcubench-cycles-[123456789]",
            "m-mcubench-flash-[65536]",
        ]);
        let rep = parse_infer(resp(&l), 3, 1, false).unwrap();
        assert_eq!(rep.stack, Some((1024, 8192)));
        assert_eq!(rep.arena, Some((3000, 4096)));
        assert_eq!(rep.output, Some(vec![127, -128, -1]));
        assert_eq!(rep.cycles, Some(123_456_789));
        assert_eq!(rep.extensions.get("flash").map(String::as_str), Some("65536"));
        assert!(!rep.extensions.contains_key("ticks"));
        let mut bad = GOOD.to_vec();
        bad.push("m-mcubench-stack-[lots]");
        match parse_infer(resp(&bad), 3, 1, false) {
            Err(ProtocolError::Malformed { line, .. }) => assert_eq!(line, "m-mcubench-stack-[lots]"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn infer_cycles_not_available() {
        let mut l = GOOD.to_vec();
        l.push("m-mcubench-cycles-[n/a: no DWT on Cortex-M0+]");
        let rep = parse_infer(resp(&l), 3, 1, false).unwrap();
        assert_eq!(rep.cycles, None);
        assert_eq!(rep.extensions.get("cycles").map(String::as_str), Some("n/a: no DWT on Cortex-M0+"));
        let mut bad = GOOD.to_vec();
        bad.push("m-mcubench-cycles-[many]");
        assert!(matches!(parse_infer(resp(&bad), 3, 1, false), Err(ProtocolError::Malformed { .. })));
    }

    #[test]
    fn command_validation() {
        assert!(validate_command("name").is_ok());
        assert!(validate_command("").is_err());
        assert!(validate_command("na%me").is_err());
        assert!(validate_command(&"x".repeat(81)).is_err());
        assert!(validate_command(&"x".repeat(80)).is_ok());
        assert!(validate_command(&format!("db {}", "ab".repeat(MAX_DB_CHUNK_BYTES))).is_ok());
    }
}
