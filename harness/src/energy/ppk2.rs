//! Nordic Power Profiler Kit II driver (binary protocol over its USB CDC serial port).
//!
//! Protocol, as Nordic's nRF Connect Power Profiler and the public PPK2 API libraries use it:
//! - host -> PPK2: opcode bytes with fixed arguments, no acknowledgements:
//!   `0x19` get metadata; `0x11 m` power mode (1 ampere meter, 2 source meter); `0x0D hi lo`
//!   source voltage in mV, big-endian; `0x0C s` DUT power (1 on, 0 off); `0x06` start and `0x07`
//!   stop sampling.
//! - metadata: text lines `key: value` (`Calibrated`, `R0`..`R4`, `GS0`.., `GI0`.., `O0`.., `S0`..,
//!   `I0`.., `UG0`.., `VDD`, `HW`, `mode`, `IA`) ending with `END`.
//! - samples: 100 000 per second, 4 bytes little-endian each: bits 0..14 ADC value, 14..17
//!   measurement range (0..4, one shunt resistor each), 18..24 a counter that wraps at 64, 24..32
//!   the 8 digital inputs. Current = the calibration polynomial of the range (see
//!   [`Calibration::amps`]).
//!
//! The DUT's timestamp pin goes to one digital input; a falling edge there is an [`Event`].
//! The counter lets lost samples be counted, and lets the decoder find the frame boundaries
//! again after a lost byte (plain USB CDC does not lose bytes, a TCP bridge or a bad hub can).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

use super::{Capture, EnergyError, EnergyMonitor, Event, SampleUnit};

pub const DEVICE: &str = "PPK2";
pub const SAMPLE_RATE_HZ: f64 = 100_000.0;
/// Volts per ADC count before the shunt: 1.8 V reference over 163 840 counts.
pub const ADC_MULT: f64 = 1.8 / 163_840.0;

/// Opcodes.
pub mod op {
    pub const AVERAGE_START: u8 = 0x06;
    pub const AVERAGE_STOP: u8 = 0x07;
    pub const DEVICE_RUNNING_SET: u8 = 0x0C;
    pub const REGULATOR_SET: u8 = 0x0D;
    pub const SET_POWER_MODE: u8 = 0x11;
    pub const GET_META_DATA: u8 = 0x19;
}

/// How the PPK2 is wired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ppk2Mode {
    /// The PPK2 supplies the DUT (VOUT) and measures what it draws.
    Source,
    /// In series with an external supply (VIN -> VOUT); `voltage_mv` must be that supply's voltage.
    Ampere,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ppk2Config {
    pub mode: Ppk2Mode,
    /// Source mode: the supply it sets, 800..=5000 mV. Ampere mode: the external supply's voltage
    /// (used for energy and in the calibration's voltage term).
    pub voltage_mv: u32,
    /// Digital input (0..=7) wired to the DUT's timestamp pin.
    pub timestamp_channel: u8,
    /// A level on the timestamp input counts once it held this many samples (10 = 100 us).
    /// Filters single damaged frames and pin glitches; MLPerf Tiny firmware holds the pin low
    /// for about 100 000 cycles (~1 ms at 100 MHz).
    pub debounce_samples: u32,
    /// Wait for the metadata text after `0x19`.
    pub reply_timeout: Duration,
    /// Longest silence tolerated while sampling (a frame is due every 10 us).
    pub data_timeout: Duration,
    /// After `0x07`: this long without bytes means the stream has ended.
    pub drain_quiet: Duration,
    /// Longest `stop` may take (if the PPK2 keeps streaming, it did not take the stop command).
    pub stop_timeout: Duration,
}

impl Default for Ppk2Config {
    fn default() -> Self {
        Ppk2Config {
            mode: Ppk2Mode::Source,
            voltage_mv: 1800,
            timestamp_channel: 0,
            debounce_samples: 10,
            reply_timeout: Duration::from_secs(2),
            data_timeout: Duration::from_secs(1),
            drain_quiet: Duration::from_millis(100),
            stop_timeout: Duration::from_secs(5),
        }
    }
}

/// Per-range calibration the PPK2 stores and reports in its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub r: [f64; 5],
    pub gs: [f64; 5],
    pub gi: [f64; 5],
    pub o: [f64; 5],
    pub s: [f64; 5],
    pub i: [f64; 5],
    pub ug: [f64; 5],
    pub calibrated: Option<u32>,
    pub hw: Option<u32>,
}

impl Calibration {
    /// Parses the metadata text. The shunt resistances `R0..R4` are required; the other
    /// coefficients default to the identity (gain 1, offsets 0), as Nordic's tools do.
    pub fn parse(text: &str) -> Result<Calibration, String> {
        let mut c = Calibration {
            r: [f64::NAN; 5],
            gs: [1.0; 5],
            gi: [1.0; 5],
            o: [0.0; 5],
            s: [0.0; 5],
            i: [0.0; 5],
            ug: [1.0; 5],
            calibrated: None,
            hw: None,
        };
        for line in text.lines() {
            let Some((k, v)) = line.split_once(':') else { continue };
            let (k, v) = (k.trim(), v.trim());
            match k {
                "Calibrated" => c.calibrated = v.parse().ok(),
                "HW" => c.hw = v.parse().ok(),
                _ => {
                    let split = k.find(|ch: char| ch.is_ascii_digit());
                    let Some(at) = split else { continue };
                    let (name, idx) = k.split_at(at);
                    let Ok(idx) = idx.parse::<usize>() else { continue };
                    if idx > 4 {
                        continue;
                    }
                    let table = match name {
                        "R" => &mut c.r,
                        "GS" => &mut c.gs,
                        "GI" => &mut c.gi,
                        "O" => &mut c.o,
                        "S" => &mut c.s,
                        "I" => &mut c.i,
                        "UG" => &mut c.ug,
                        _ => continue,
                    };
                    table[idx] = v.parse().map_err(|_| format!("metadata `{k}: {v}` is not a number"))?;
                }
            }
        }
        if let Some(r) = c.r.iter().position(|r| !(r.is_finite() && *r > 0.0)) {
            return Err(format!("metadata has no usable shunt resistance R{r}"));
        }
        Ok(c)
    }

    /// Current in amperes for a 14-bit ADC field in `range`, with the DUT at `vdd_mv`.
    pub fn amps(&self, range: usize, adc_field: u32, vdd_mv: u32) -> f64 {
        let r = range.min(4);
        let adc = adc_field as f64 * 4.0;
        let x = (adc - self.o[r]) * (ADC_MULT / self.r[r]);
        self.ug[r] * (x * (self.gs[r] * x + self.gi[r]) + (self.s[r] * (vdd_mv as f64 / 1000.0) + self.i[r]))
    }

    /// The inverse of [`Calibration::amps`]: range and ADC field that encode `amps` (simulator).
    pub fn encode(&self, amps: f64, vdd_mv: u32) -> (usize, u32) {
        for r in 0..5 {
            let c = amps / self.ug[r] - (self.s[r] * (vdd_mv as f64 / 1000.0) + self.i[r]);
            // gs x^2 + gi x - c = 0
            let x = if self.gs[r].abs() < 1e-12 {
                c / self.gi[r]
            } else {
                (-self.gi[r] + (self.gi[r] * self.gi[r] + 4.0 * self.gs[r] * c).max(0.0).sqrt()) / (2.0 * self.gs[r])
            };
            let adc = x * self.r[r] / ADC_MULT + self.o[r];
            let field = (adc / 4.0).round();
            if (0.0..=16383.0).contains(&field) {
                return (r, field as u32);
            }
            if field < 0.0 {
                return (r, 0);
            }
        }
        (4, 16383)
    }
}

/// Fields of one sample frame.
pub fn fields(raw: u32) -> (u32, usize, u8, u8) {
    (raw & 0x3FFF, ((raw >> 14) & 0x7) as usize, ((raw >> 18) & 0x3F) as u8, (raw >> 24) as u8)
}

/// Builds a frame (simulator).
pub fn frame(adc_field: u32, range: usize, counter: u8, logic: u8) -> u32 {
    (adc_field & 0x3FFF) | ((range as u32 & 0x7) << 14) | ((counter as u32 & 0x3F) << 18) | ((logic as u32) << 24)
}

/// Out of sequence, frames must come in runs this long with consecutive counters to be trusted:
/// a misaligned frame matches by chance with probability 1/64, a run of 3 with 1/4096.
const RUN: usize = 3;

enum Decision {
    Accept,
    /// Frames resume here after a disturbance: drop this frame, take the next in sequence.
    Resync,
    Skip(usize),
    NeedMore,
}

/// Decodes the sample stream into a [`Capture`], byte chunk by byte chunk.
#[derive(Debug)]
pub struct Decoder {
    pub capture: Capture,
    cal: Calibration,
    vdd_mv: u32,
    channel: u8,
    buf: Vec<u8>,
    expected: Option<u8>,
    /// No byte was skipped since the last accepted frame (the next frame starts right here).
    contiguous: bool,
    /// Debounced level of the timestamp input.
    level: Option<bool>,
    /// A different level seen lately: (level, index of its first sample, samples so far).
    candidate: Option<(bool, usize, u32)>,
    debounce: u32,
    /// Bytes skipped to find frame boundaries again.
    pub skipped_bytes: u64,
}

impl Decoder {
    /// `debounce`: samples a new level of the timestamp input must hold (see [`Ppk2Config`]).
    pub fn new(port: &str, cal: Calibration, vdd_mv: u32, channel: u8, debounce: u32) -> Decoder {
        Decoder {
            capture: Capture::new(DEVICE, port, SampleUnit::Amperes, SAMPLE_RATE_HZ, vdd_mv as f64 / 1000.0),
            cal,
            vdd_mv,
            channel: channel.min(7),
            buf: Vec::new(),
            expected: None,
            contiguous: false,
            level: None,
            candidate: None,
            debounce: debounce.max(1),
            skipped_bytes: 0,
        }
    }

    fn counter_at(&self, pos: usize) -> u8 {
        let raw = u32::from_le_bytes(self.buf[pos..pos + 4].try_into().expect("4 bytes"));
        fields(raw).2
    }

    /// Some(true) if RUN frames from `pos` have consecutive counters; None if more bytes are needed.
    fn run_at(&self, pos: usize, frames: usize) -> Option<bool> {
        if pos + 4 * frames > self.buf.len() {
            return None;
        }
        let c0 = self.counter_at(pos);
        Some((1..frames).all(|k| self.counter_at(pos + 4 * k) == (c0 + k as u8) & 0x3F))
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.process(false);
    }

    /// End of stream: trailing frames are taken if they continue the counter sequence.
    pub fn finish(&mut self) {
        self.process(true);
    }

    fn process(&mut self, at_end: bool) {
        let mut pos = 0;
        while pos + 4 <= self.buf.len() {
            match self.decide(pos, at_end) {
                Decision::NeedMore => break,
                Decision::Accept => {
                    let raw = u32::from_le_bytes(self.buf[pos..pos + 4].try_into().expect("4 bytes"));
                    pos += 4;
                    self.accept(raw);
                }
                Decision::Resync => {
                    let c = self.counter_at(pos);
                    // Frames lost since the last one taken, and this one.
                    let lost = self.expected.map_or(0, |e| (c.wrapping_sub(e) & 0x3F) as u64 + 1);
                    self.capture.push_lost(lost);
                    self.expected = Some((c + 1) & 0x3F);
                    self.contiguous = true;
                    pos += 4;
                }
                Decision::Skip(n) => {
                    self.contiguous = false;
                    pos += n;
                    self.skipped_bytes += n as u64;
                }
            }
        }
        if at_end {
            self.skipped_bytes += (self.buf.len() - pos.min(self.buf.len())) as u64;
            pos = self.buf.len();
        }
        self.buf.drain(..pos.min(self.buf.len()));
        self.capture.garbage = self.skipped_bytes;
    }

    /// Whether the frame at `pos` is a real frame. In sequence (right after the last frame taken,
    /// with the expected counter) it must be followed by the next counter value: a frame that
    /// lost its last byte still shows the right counter, but the window after it does not.
    /// Out of sequence it must start a run of RUN + 1 consecutive counters, and is dropped
    /// anyway: a misaligned window just before a real frame matches by chance (1/64), so only
    /// the frames after it are trusted. A good frame next to a damaged one is dropped too; each
    /// costs one sample, filled in like any lost one.
    fn decide(&self, pos: usize, at_end: bool) -> Decision {
        let in_sequence = self.contiguous && self.expected == Some(self.counter_at(pos));
        if pos + 8 > self.buf.len() {
            return match (at_end, in_sequence) {
                (false, _) => Decision::NeedMore,
                // Last frame of the stream: no look-ahead left, keep it if it is in sequence.
                (true, true) => Decision::Accept,
                (true, false) => Decision::Skip(1),
            };
        }
        if self.counter_at(pos + 4) != (self.counter_at(pos) + 1) & 0x3F {
            return Decision::Skip(1);
        }
        if in_sequence {
            return Decision::Accept;
        }
        match self.run_at(pos, RUN + 1) {
            // At the start of the stream there is nothing to recover from.
            Some(true) if self.expected.is_none() => Decision::Accept,
            Some(true) => Decision::Resync,
            Some(false) => Decision::Skip(1),
            None if at_end => Decision::Skip(1),
            None => Decision::NeedMore,
        }
    }

    fn accept(&mut self, raw: u32) {
        let (adc, range, counter, logic) = fields(raw);
        if let Some(e) = self.expected {
            // Lost frames; exact modulo 64 (a gap of 64 or more is undercounted).
            let gap = counter.wrapping_sub(e) & 0x3F;
            if gap > 0 {
                self.capture.push_lost(gap as u64);
            }
        }
        self.expected = Some((counter + 1) & 0x3F);
        self.contiguous = true;
        let index = self.capture.samples.len();
        self.track_level(logic & (1 << self.channel) != 0, index);
        self.capture.samples.push(self.cal.amps(range, adc, self.vdd_mv) as f32);
    }
}

impl Decoder {
    /// Debounced falling-edge detection: the event is placed at the first low sample, once
    /// the low level has held `debounce` samples.
    fn track_level(&mut self, high: bool, index: usize) {
        let Some(level) = self.level else {
            self.level = Some(high);
            return;
        };
        if high == level {
            self.candidate = None;
            return;
        }
        let (_, first, count) = self.candidate.get_or_insert((high, index, 0));
        *count += 1;
        if *count >= self.debounce {
            let first = *first;
            self.level = Some(high);
            self.candidate = None;
            if !high {
                self.capture.events.push(Event { sample_index: first, seq: None });
            }
        }
    }
}

type Acquisition<S> = JoinHandle<(ReadHalf<S>, Result<Capture, EnergyError>)>;

enum State<S> {
    Idle(S),
    Acquiring {
        writer: WriteHalf<S>,
        stop: watch::Sender<bool>,
        task: Acquisition<S>,
    },
    /// The acquisition ended by itself (monitor silent, stream closed); `stop` returns this.
    Ended {
        writer: WriteHalf<S>,
        rd: ReadHalf<S>,
        result: Result<Capture, EnergyError>,
    },
    Broken,
}

/// The PPK2 driver, over any byte stream.
pub struct Ppk2<S> {
    port: String,
    cfg: Ppk2Config,
    state: State<S>,
    calibration: Option<Calibration>,
}

impl<S> Ppk2<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    pub fn new(io: S, port: impl Into<String>, cfg: Ppk2Config) -> Ppk2<S> {
        Ppk2 { port: port.into(), cfg, state: State::Idle(io), calibration: None }
    }

    /// Awaits the reader task and keeps its result for `stop` (the trait's `acquisition_ended`).
    async fn wait_acquisition_end(&mut self) {
        let State::Acquiring { task, .. } = &mut self.state else { return std::future::pending().await };
        let joined = task.await;
        let State::Acquiring { writer, .. } = std::mem::replace(&mut self.state, State::Broken) else { unreachable!() };
        match joined {
            Ok((rd, result)) => self.state = State::Ended { writer, rd, result },
            // A panicked reader loses the stream; later calls say so.
            Err(_) => {}
        }
    }

    /// The calibration read by `configure`.
    pub fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    fn err_state(&self, what: &str) -> EnergyError {
        EnergyError::State { device: DEVICE.into(), port: self.port.clone(), what: what.into() }
    }

    async fn write(&mut self, bytes: &[u8], what: &str) -> Result<(), EnergyError> {
        let port = self.port.clone();
        let io: &mut (dyn AsyncWrite + Unpin + Send) = match &mut self.state {
            State::Idle(io) => io,
            State::Acquiring { writer, .. } | State::Ended { writer, .. } => writer,
            State::Broken => return Err(self.err_state(&format!("{what}: the stream was lost earlier"))),
        };
        let w = async {
            io.write_all(bytes).await?;
            io.flush().await
        };
        match timeout(Duration::from_secs(2), w).await {
            Ok(r) => r.map_err(|source| EnergyError::Io { device: DEVICE.into(), port, doing: what.into(), source }),
            Err(_) => Err(EnergyError::Timeout {
                device: DEVICE.into(),
                port,
                expected: format!("room in the output buffer for {what}"),
                waited: Duration::from_secs(2),
                last: None,
            }),
        }
    }

    /// Asks for the metadata and reads text up to `END`.
    async fn read_metadata(&mut self) -> Result<Calibration, EnergyError> {
        self.write(&[op::GET_META_DATA], "the metadata request (0x19)").await?;
        let port = self.port.clone();
        let State::Idle(io) = &mut self.state else { return Err(self.err_state("metadata requested while sampling")) };
        let deadline = Instant::now() + self.cfg.reply_timeout;
        let mut text = Vec::new();
        let expected = "metadata text ending in `END` after 0x19 (is this a PPK2 with Nordic's firmware?)";
        let end = loop {
            let mut tmp = [0u8; 1024];
            let last = || {
                Some(String::from_utf8_lossy(&text[text.len().saturating_sub(60)..]).into_owned())
                    .filter(|s| !s.is_empty())
            };
            match timeout(deadline.saturating_duration_since(Instant::now()), io.read(&mut tmp)).await {
                Err(_) => {
                    return Err(EnergyError::Timeout {
                        device: DEVICE.into(),
                        port,
                        expected: expected.into(),
                        waited: self.cfg.reply_timeout,
                        last: last(),
                    })
                }
                Ok(Ok(0)) => {
                    return Err(EnergyError::Closed {
                        device: DEVICE.into(),
                        port,
                        expected: expected.into(),
                        last: last(),
                    })
                }
                Ok(Err(source)) => {
                    return Err(EnergyError::Io {
                        device: DEVICE.into(),
                        port,
                        doing: "reading metadata".into(),
                        source,
                    })
                }
                Ok(Ok(n)) => text.extend_from_slice(&tmp[..n]),
            }
            if let Some(at) = find(&text, b"END") {
                break at;
            }
            if text.len() > 64 * 1024 {
                return Err(EnergyError::Protocol {
                    device: DEVICE.into(),
                    port,
                    what: "64 KiB without the metadata's `END`".into(),
                });
            }
        };
        // Sample frames left over from an earlier session may precede the text: parse from the
        // first known key on.
        let text = String::from_utf8_lossy(&text[..end]).into_owned();
        let start = text.find("Calibrated").or_else(|| text.find("R0")).unwrap_or(0);
        Calibration::parse(&text[start..]).map_err(|what| EnergyError::Protocol { device: DEVICE.into(), port, what })
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Background reader: feeds the decoder until told to stop, then drains until the stream is quiet.
async fn acquire<R: AsyncRead + Unpin>(
    mut rd: R,
    mut dec: Decoder,
    mut stop: watch::Receiver<bool>,
    cfg: Ppk2Config,
) -> (R, Result<Capture, EnergyError>) {
    let port = dec.capture.port.clone();
    let mut stopping = false;
    let mut stop_deadline = None;
    let mut last_bytes: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let wait = if stopping { cfg.drain_quiet } else { cfg.data_timeout };
        tokio::select! {
            changed = stop.changed(), if !stopping => {
                // A dropped sender also means stop.
                let _ = changed;
                stopping = true;
                stop_deadline = Some(Instant::now() + cfg.stop_timeout);
            }
            r = timeout(wait, rd.read(&mut buf)) => match r {
                Err(_) if stopping => break,
                Err(_) => {
                    dec.finish();
                    let err = EnergyError::Timeout {
                        device: DEVICE.into(),
                        port,
                        expected: format!("sample data after {} samples", dec.capture.samples.len()),
                        waited: cfg.data_timeout,
                        last: (!last_bytes.is_empty()).then(|| format!("{last_bytes:02x?}")),
                    };
                    return (rd, Err(err));
                }
                Ok(Ok(0)) if stopping => break,
                Ok(Ok(0)) => {
                    let err = EnergyError::Closed {
                        device: DEVICE.into(),
                        port,
                        expected: format!("sample data after {} samples", dec.capture.samples.len()),
                        last: None,
                    };
                    return (rd, Err(err));
                }
                Ok(Err(source)) => {
                    return (rd, Err(EnergyError::Io { device: DEVICE.into(), port, doing: "reading samples".into(), source }))
                }
                Ok(Ok(n)) => {
                    dec.feed(&buf[..n]);
                    last_bytes = buf[n.saturating_sub(8)..n].to_vec();
                    if stop_deadline.is_some_and(|d| Instant::now() > d) {
                        let err = EnergyError::Timeout {
                            device: DEVICE.into(),
                            port,
                            expected: "the end of the sample stream after stop (0x07); the PPK2 kept streaming".into(),
                            waited: cfg.stop_timeout,
                            last: None,
                        };
                        return (rd, Err(err));
                    }
                }
            }
        }
    }
    dec.finish();
    (rd, Ok(dec.capture))
}

impl<S> EnergyMonitor for Ppk2<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn device(&self) -> &str {
        DEVICE
    }

    fn port(&self) -> &str {
        &self.port
    }

    async fn acquisition_ended(&mut self) {
        self.wait_acquisition_end().await
    }

    async fn configure(&mut self) -> Result<(), EnergyError> {
        let bad = |what: String| EnergyError::InvalidSetting { device: DEVICE.into(), port: self.port.clone(), what };
        if !(800..=5000).contains(&self.cfg.voltage_mv) {
            return Err(bad(format!("voltage {} mV is outside 800..=5000 mV", self.cfg.voltage_mv)));
        }
        if self.cfg.timestamp_channel > 7 {
            return Err(bad(format!("timestamp channel D{} does not exist (D0..D7)", self.cfg.timestamp_channel)));
        }
        let cal = self.read_metadata().await?;
        self.calibration = Some(cal);
        let mode = match self.cfg.mode {
            Ppk2Mode::Ampere => 1,
            Ppk2Mode::Source => 2,
        };
        self.write(&[op::SET_POWER_MODE, mode], "the power mode (0x11)").await?;
        let mv = self.cfg.voltage_mv as u16;
        self.write(&[op::REGULATOR_SET, (mv >> 8) as u8, mv as u8], "the source voltage (0x0D)").await
    }

    async fn set_dut_power(&mut self, on: bool) -> Result<(), EnergyError> {
        self.write(&[op::DEVICE_RUNNING_SET, on as u8], "DUT power (0x0C)").await
    }

    async fn start(&mut self) -> Result<(), EnergyError> {
        let Some(cal) = self.calibration.clone() else { return Err(self.err_state("`start` before `configure`")) };
        self.write(&[op::AVERAGE_START], "start sampling (0x06)").await?;
        let State::Idle(io) = std::mem::replace(&mut self.state, State::Broken) else {
            return Err(self.err_state("`start` while sampling, or after the stream was lost"));
        };
        let (rd, writer) = tokio::io::split(io);
        let (stop_tx, stop_rx) = watch::channel(false);
        let dec =
            Decoder::new(&self.port, cal, self.cfg.voltage_mv, self.cfg.timestamp_channel, self.cfg.debounce_samples);
        let task = tokio::spawn(acquire(rd, dec, stop_rx, self.cfg.clone()));
        self.state = State::Acquiring { writer, stop: stop_tx, task };
        Ok(())
    }

    async fn stop(&mut self) -> Result<Capture, EnergyError> {
        if let State::Ended { .. } = self.state {
            let _ = self.write(&[op::AVERAGE_STOP], "stop sampling (0x07)").await;
            let State::Ended { writer, rd, result } = std::mem::replace(&mut self.state, State::Broken) else {
                unreachable!()
            };
            self.state = State::Idle(rd.unsplit(writer));
            return result;
        }
        if !matches!(self.state, State::Acquiring { .. }) {
            return Err(self.err_state("`stop` without `start`"));
        }
        let sent = self.write(&[op::AVERAGE_STOP], "stop sampling (0x07)").await;
        let State::Acquiring { writer, stop, mut task } = std::mem::replace(&mut self.state, State::Broken) else {
            unreachable!("checked above")
        };
        let _ = stop.send(true);
        // The task ends on its own deadlines; this bound only guards against a bug there.
        let limit = self.cfg.stop_timeout + self.cfg.data_timeout + self.cfg.drain_quiet;
        match timeout(limit, &mut task).await {
            Ok(Ok((rd, result))) => {
                self.state = State::Idle(rd.unsplit(writer));
                let capture = result?;
                sent?;
                Ok(capture)
            }
            Ok(Err(join)) => Err(self.err_state(&format!("acquisition task failed: {join}"))),
            Err(_) => {
                task.abort();
                Err(EnergyError::Timeout {
                    device: DEVICE.into(),
                    port: self.port.clone(),
                    expected: "the acquisition task to finish after stop".into(),
                    waited: limit,
                    last: None,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(r: [f64; 5]) -> Calibration {
        Calibration {
            r,
            gs: [0.0; 5],
            gi: [1.0; 5],
            o: [0.0; 5],
            s: [0.0; 5],
            i: [0.0; 5],
            ug: [1.0; 5],
            calibrated: None,
            hw: None,
        }
    }

    #[test]
    fn adc_to_current_by_hand() {
        // field 1000 -> 4000 counts x 1.8/163840 V = 0.0439453125 V over 100 ohm = 439.453125 uA.
        let c = identity([1000.0, 100.0, 10.0, 1.0, 0.05]);
        assert!((c.amps(1, 1000, 3300) - 439.453_125e-6).abs() < 1e-12);
        // With every coefficient: O=100, R=10, GS=2, GI=0.9, S=1e-5, I=-2e-5, UG=1.1, VDD 3.0 V:
        // x = (4000-100) x 1.8/163840/10 = 4.284667968...e-3
        // x(2x + 0.9) = 3.893...e-3 ; + 1e-5 x 3.0 - 2e-5 = +1e-5 ; x 1.1
        let mut c = identity([1000.0, 100.0, 10.0, 1.0, 0.05]);
        c.o[2] = 100.0;
        c.gs[2] = 2.0;
        c.gi[2] = 0.9;
        c.s[2] = 1e-5;
        c.i[2] = -2e-5;
        c.ug[2] = 1.1;
        let x: f64 = 3900.0 * 1.8 / 163_840.0 / 10.0;
        let want = 1.1 * (x * (2.0 * x + 0.9) + 1e-5);
        assert!((x - 4.284_667_968_75e-3).abs() < 1e-15);
        assert!((c.amps(2, 1000, 3000) - want).abs() < 1e-15);
        // encode() inverts it to within one ADC step, in the most sensitive range that holds
        // it (range 1 here: 4.7 mA fits under 100 ohm).
        let (r, f) = c.encode(want, 3000);
        assert_eq!(r, 1);
        let step = 4.0 * ADC_MULT / c.r[r];
        assert!((c.amps(r, f, 3000) - want).abs() <= step, "{} vs {want}", c.amps(r, f, 3000));
    }

    #[test]
    fn metadata_parses_and_requires_shunts() {
        let text = "Calibrated: 0\nR0: 1003.35\nR1: 101.58\nR2: 10.30\nR3: 0.96\nR4: 0.056\nGS1: 112.7\nO2: 64.6\nI4: -0.0093\nVDD: 3300\nHW: 9173\nmode: 2\n";
        let c = Calibration::parse(text).unwrap();
        assert_eq!(c.r[2], 10.30);
        assert_eq!((c.gs[1], c.gs[0], c.o[2], c.i[4]), (112.7, 1.0, 64.6, -0.0093));
        assert_eq!(c.hw, Some(9173));
        assert!(Calibration::parse("R0: 1\nR1: 2\nR2: 3\nR3: 4\n").unwrap_err().contains("R4"));
        assert!(Calibration::parse("R0: x").unwrap_err().contains("R0"));
    }

    fn stream(n: usize, low: std::ops::Range<usize>) -> Vec<u8> {
        (0..n)
            .flat_map(|k| {
                let logic = if low.contains(&k) { 0x00 } else { 0x01 };
                frame(500, 1, (k % 64) as u8, logic).to_le_bytes()
            })
            .collect()
    }

    #[test]
    fn decoder_counts_samples_and_finds_the_falling_edge() {
        let mut d = Decoder::new("mem", identity([1000.0, 100.0, 10.0, 1.0, 0.05]), 1800, 0, 3);
        let bytes = stream(300, 100..150);
        // Odd chunk sizes: frames split across reads.
        for c in bytes.chunks(7) {
            d.feed(c);
        }
        d.finish();
        assert_eq!(d.capture.samples.len(), 300);
        assert_eq!(d.capture.events, vec![Event { sample_index: 100, seq: None }]);
        assert_eq!((d.capture.lost_samples, d.skipped_bytes), (0, 0));
    }

    #[test]
    fn short_glitches_on_the_timestamp_input_are_not_events() {
        let mut d = Decoder::new("mem", identity([1000.0, 100.0, 10.0, 1.0, 0.05]), 1800, 0, 3);
        // Low for 2 samples at 50 (a glitch), for 3 at 100 (an edge), high again after.
        let bytes: Vec<u8> = (0..200usize)
            .flat_map(|k| {
                let low = (50..52).contains(&k) || (100..103).contains(&k);
                frame(500, 1, (k % 64) as u8, if low { 0 } else { 1 }).to_le_bytes()
            })
            .collect();
        d.feed(&bytes);
        d.finish();
        assert_eq!(d.capture.events, vec![Event { sample_index: 100, seq: None }]);
    }

    #[test]
    fn decoder_resynchronises_after_a_lost_byte_and_counts_the_lost_frame() {
        let mut d = Decoder::new("mem", identity([1000.0, 100.0, 10.0, 1.0, 0.05]), 1800, 0, 3);
        let mut bytes = stream(300, 200..210);
        bytes.remove(4 * 50 + 3); // the logic byte of frame 50
        bytes.remove(4 * 120 + 1); // and (shifted by the first removal) the counter byte of frame 120
        d.feed(&bytes);
        d.finish();
        assert_eq!(d.capture.samples.len(), 300, "lost frames are kept as NaN");
        // Frame 50 lost its last byte: 50 and 51 (the first after the disturbance) are dropped.
        // Frame 120 lost its counter byte: 119 (its successor does not follow it), 120 and 121.
        assert_eq!(d.capture.lost_samples, 5);
        assert_eq!(d.capture.events, vec![Event { sample_index: 200, seq: None }]);
        assert!(d.skipped_bytes >= 2);
    }
}
