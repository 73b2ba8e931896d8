//! ST X-NUCLEO-LPM01A (PowerShield) driver: the MLPerf Tiny reference energy monitor.
//!
//! Protocol (ST UM2269; the set-up is the one MLPerf Tiny's runner uses): the host sends ASCII
//! commands terminated by `\r\n`; the monitor answers `PowerShield > ack <command>` or
//! `PowerShield > error ...` followed by `Error detail: ...`. After `start` it streams, one per
//! line:
//! - samples in `ascii_dec` format, `MMMM±EE` = MMMM x 10^±EE (`6409-07` = 640.9 uA, or 640.9 nJ
//!   per sample with `output energy`);
//! - `TimeStamp: 001s 000ms, buff 00%` once per second of samples (lets lost samples be counted);
//! - `event N ris` when the event input (`eventsrc d7 fal`: D7, falling edge, i.e. the DUT's
//!   timestamp pin) fires, numbered from 1; it belongs before the next sample.
//!
//! `stop` ends with `Acquisition completed`. The serial link runs at 3 686 400 baud; this driver
//! takes any byte stream, so the port is opened (and its baud rate set) by the caller.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

use super::lines::{LineBuf, LineError};
use super::{Capture, EnergyError, EnergyMonitor, Event, SampleUnit};

/// Model name used in errors and captures.
pub const DEVICE: &str = "LPM01A";
/// Baud rate of the LPM01A's virtual COM port.
pub const BAUD: u32 = 3_686_400;
/// Sampling frequencies the firmware accepts; `ascii_dec` streams without limit only up to 5 kHz.
pub const FREQUENCIES_HZ: [u32; 12] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];
const PROMPT: &str = "PowerShield >";

/// Energy-mode settings (defaults: MLPerf Tiny's runner).
#[derive(Debug, Clone, PartialEq)]
pub struct Lpm01aConfig {
    /// DUT supply, 1800..=3300 mV (MLPerf Tiny runs the DUT at 1.8 V).
    pub voltage_mv: u32,
    /// Samples per second, one of [`FREQUENCIES_HZ`] (MLPerf Tiny: 1 kHz).
    pub sample_rate_hz: u32,
    /// Wait for each command's `ack`.
    pub reply_timeout: Duration,
    /// Longest silence tolerated while acquiring (a sample line is due every 1/freq, a
    /// `TimeStamp` line every second).
    pub data_timeout: Duration,
    /// Longest `stop` may take to see `Acquisition completed`.
    pub stop_timeout: Duration,
}

impl Default for Lpm01aConfig {
    fn default() -> Self {
        Lpm01aConfig {
            voltage_mv: 1800,
            sample_rate_hz: 1000,
            reply_timeout: Duration::from_secs(2),
            data_timeout: Duration::from_secs(2),
            stop_timeout: Duration::from_secs(5),
        }
    }
}

impl Lpm01aConfig {
    /// The configuration sequence sent by [`Lpm01a::configure`], in order.
    pub fn commands(&self) -> Vec<String> {
        vec![
            "htc".into(),
            // Settings are refused while the target is powered on some firmware versions;
            // the runner powers the DUT off first too.
            "pwr off".into(),
            "acqtime 0".into(), // 0 = acquire until `stop`
            "trigdelay 0".into(),
            "trigsrc sw".into(), // start on the `start` command, not on D7
            "eventsrc d7 fal".into(),
            "output energy".into(),
            "format ascii_dec".into(),
            format!("freq {}", freq_arg(self.sample_rate_hz)),
            format!("volt {}m", self.voltage_mv),
        ]
    }

    fn validate(&self, port: &str) -> Result<(), EnergyError> {
        let bad = |what: String| Err(EnergyError::InvalidSetting { device: DEVICE.into(), port: port.into(), what });
        if !(1800..=3300).contains(&self.voltage_mv) {
            return bad(format!("voltage {} mV is outside 1800..=3300 mV", self.voltage_mv));
        }
        if !FREQUENCIES_HZ.contains(&self.sample_rate_hz) {
            return bad(format!(
                "sampling frequency {} Hz is not one of {:?} (ascii_dec streams without limit up to 5 kHz)",
                self.sample_rate_hz, FREQUENCIES_HZ
            ));
        }
        Ok(())
    }
}

fn freq_arg(hz: u32) -> String {
    if hz >= 1000 && hz % 1000 == 0 {
        format!("{}k", hz / 1000)
    } else {
        hz.to_string()
    }
}

/// One line of the stream as the driver understands it.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamLine {
    /// Sample values (several when a newline was lost) and the number of fragments on the line
    /// that did not parse (each counted as one lost sample).
    Samples {
        values: Vec<f64>,
        broken: usize,
    },
    /// `TimeStamp: SSSs MMMms, buff NN%`: seconds of acquisition, buffer fill in percent.
    TimeStamp {
        seconds: f64,
        buffer_pct: u32,
    },
    /// `event N ris`
    Event {
        seq: u32,
    },
    Ack {
        rest: String,
    },
    Error {
        text: String,
    },
    ErrorDetail {
        detail: String,
    },
    AcquisitionCompleted,
    /// Printable text that is none of the above (banners, command output).
    Other(String),
    /// Bytes that are not text.
    Garbage,
}

/// `MMMM±EE` -> MMMM x 10^±EE. Exactly 7 ASCII characters.
pub fn parse_value(s: &[u8]) -> Option<f64> {
    if s.len() != 7 || !s[..4].iter().all(u8::is_ascii_digit) || !s[5..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sign = match s[4] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let m = s[..4].iter().fold(0u32, |a, &d| a * 10 + (d - b'0') as u32);
    let e = ((s[5] - b'0') * 10 + (s[6] - b'0')) as i32 * sign;
    Some(m as f64 * 10f64.powi(e))
}

/// `value` as `MMMM±EE` with a 4-digit mantissa (what the monitor prints; used by the simulator).
pub fn format_value(value: f64) -> String {
    // Below 1e-96 the exponent would not fit in two digits.
    if !(value >= 1e-96) || !value.is_finite() {
        return "0000+00".into();
    }
    let mut e = value.log10().floor() as i32 - 3;
    let mut m = (value / 10f64.powi(e)).round();
    if m >= 10_000.0 {
        m = (m / 10.0).round();
        e += 1;
    }
    let e = e.clamp(-99, 99);
    format!("{:04}{}{:02}", m as u32, if e < 0 { '-' } else { '+' }, e.abs())
}

/// Splits a line of digits and signs into `MMMM±EE` values; fragments between them (a byte was
/// dropped) count as broken samples. `None` if the line is not made of sample characters.
fn parse_samples(line: &[u8]) -> Option<(Vec<f64>, usize)> {
    if line.is_empty() || !line.iter().all(|b| b.is_ascii_digit() || *b == b'+' || *b == b'-') {
        return None;
    }
    let (mut values, mut broken, mut i, mut in_fragment) = (Vec::new(), 0, 0, false);
    while i < line.len() {
        if let Some(v) = line.get(i..i + 7).and_then(parse_value) {
            values.push(v);
            i += 7;
            in_fragment = false;
        } else {
            if !in_fragment {
                broken += 1;
                in_fragment = true;
            }
            i += 1;
        }
    }
    Some((values, broken))
}

/// Classifies one line (prompt already allowed for).
pub fn classify(line: &[u8]) -> StreamLine {
    if let Some((values, broken)) = parse_samples(line) {
        return StreamLine::Samples { values, broken };
    }
    let Ok(text) = std::str::from_utf8(line) else { return StreamLine::Garbage };
    if text.chars().any(|c| c.is_control() && c != '\t') {
        return StreamLine::Garbage;
    }
    let t = text.trim().strip_prefix(PROMPT).unwrap_or(text.trim()).trim();
    if let Some(rest) = t.strip_prefix("TimeStamp:") {
        return parse_timestamp(rest).unwrap_or(StreamLine::Garbage);
    }
    if let Some(rest) = t.strip_prefix("event ") {
        let mut it = rest.split_whitespace();
        return match (it.next().and_then(|n| n.parse().ok()), it.next(), it.next()) {
            (Some(seq), Some("ris" | "fal"), None) => StreamLine::Event { seq },
            _ => StreamLine::Garbage,
        };
    }
    if t.contains("Acquisition completed") {
        return StreamLine::AcquisitionCompleted;
    }
    if let Some(rest) = t.strip_prefix("ack") {
        return StreamLine::Ack { rest: rest.trim().to_owned() };
    }
    if let Some(rest) = t.strip_prefix("Error detail:") {
        return StreamLine::ErrorDetail { detail: rest.trim().to_owned() };
    }
    if t.starts_with("error") {
        return StreamLine::Error { text: t.to_owned() };
    }
    StreamLine::Other(t.to_owned())
}

/// ` 001s 250ms, buff 00%`
fn parse_timestamp(rest: &str) -> Option<StreamLine> {
    let (time, buff) = rest.split_once(',')?;
    let mut it = time.split_whitespace();
    let s: u32 = it.next()?.strip_suffix('s')?.parse().ok()?;
    let ms: u32 = it.next()?.strip_suffix("ms")?.parse().ok()?;
    let pct: u32 = buff.trim().strip_prefix("buff")?.trim().strip_suffix('%')?.parse().ok()?;
    Some(StreamLine::TimeStamp { seconds: s as f64 + ms as f64 / 1000.0, buffer_pct: pct })
}

/// Turns stream lines into a [`Capture`].
#[derive(Debug)]
pub struct Lpm01aParser {
    pub capture: Capture,
    /// Sample index and time of the previous `TimeStamp` line.
    last_stamp: Option<(usize, f64)>,
    pub completed: bool,
    /// Last line that was not a sample (for error messages).
    pub last_other: Option<String>,
    pub buffer_peak_pct: u32,
}

impl Lpm01aParser {
    pub fn new(port: &str, sample_rate_hz: u32, voltage_v: f64) -> Lpm01aParser {
        Lpm01aParser {
            capture: Capture::new(DEVICE, port, SampleUnit::Joules, sample_rate_hz as f64, voltage_v),
            last_stamp: None,
            completed: false,
            last_other: None,
            buffer_peak_pct: 0,
        }
    }

    pub fn feed(&mut self, line: &[u8]) {
        // A lost newline glues an event or timestamp line to the sample before it; split it off
        // so that the event is not lost with the line.
        for marker in [&b"event "[..], b"TimeStamp:"] {
            if let Some(at) = line.windows(marker.len()).position(|w| w == marker).filter(|&at| at > 0) {
                self.feed(&line[..at]);
                self.feed(&line[at..]);
                return;
            }
        }
        let cap = &mut self.capture;
        match classify(line) {
            StreamLine::Samples { values, broken } => {
                cap.samples.extend(values.iter().map(|&v| v as f32));
                cap.push_lost(broken as u64);
            }
            StreamLine::TimeStamp { seconds, buffer_pct } => {
                self.buffer_peak_pct = self.buffer_peak_pct.max(buffer_pct);
                // Between two stamps exactly rate x dt samples are due; a shortfall is lost lines.
                if let Some((idx, t)) = self.last_stamp {
                    let due = idx + ((seconds - t) * cap.sample_rate_hz).round().max(0.0) as usize;
                    if cap.samples.len() < due {
                        cap.push_lost((due - cap.samples.len()) as u64);
                    }
                }
                self.last_stamp = Some((cap.samples.len(), seconds));
            }
            StreamLine::Event { seq } => cap.events.push(Event { sample_index: cap.samples.len(), seq: Some(seq) }),
            StreamLine::AcquisitionCompleted => self.completed = true,
            StreamLine::Garbage => cap.garbage += 1,
            StreamLine::Ack { rest } => self.last_other = Some(format!("ack {rest}")),
            StreamLine::Error { text } => {
                cap.garbage += 1;
                self.last_other = Some(text)
            }
            StreamLine::ErrorDetail { detail } | StreamLine::Other(detail) => {
                cap.garbage += 1;
                self.last_other = Some(detail)
            }
        }
    }
}

type Acquisition<S> = JoinHandle<(ReadHalf<S>, LineBuf, Result<Capture, EnergyError>)>;

enum State<S> {
    Idle {
        io: S,
        lines: LineBuf,
    },
    Acquiring {
        writer: WriteHalf<S>,
        task: Acquisition<S>,
    },
    /// The acquisition ended by itself (silence, closed stream, or the monitor completed on
    /// its own); `stop` returns this.
    Ended {
        writer: WriteHalf<S>,
        rd: ReadHalf<S>,
        lines: LineBuf,
        result: Result<Capture, EnergyError>,
    },
    /// The stream was lost (a task was aborted); the driver must be rebuilt.
    Broken,
}

/// The LPM01A driver, over any byte stream (serial port, TCP to ser2net, pty, duplex).
pub struct Lpm01a<S> {
    port: String,
    cfg: Lpm01aConfig,
    state: State<S>,
    configured: bool,
}

impl<S> Lpm01a<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// `port` names the stream in errors (e.g. `/dev/ttyACM1`).
    pub fn new(io: S, port: impl Into<String>, cfg: Lpm01aConfig) -> Lpm01a<S> {
        Lpm01a { port: port.into(), cfg, state: State::Idle { io, lines: LineBuf::default() }, configured: false }
    }

    /// Awaits the reader task and keeps its result for `stop` (the trait's `acquisition_ended`).
    async fn wait_acquisition_end(&mut self) {
        let State::Acquiring { task, .. } = &mut self.state else { return std::future::pending().await };
        let joined = task.await;
        let State::Acquiring { writer, .. } = std::mem::replace(&mut self.state, State::Broken) else { unreachable!() };
        if let Ok((rd, lines, result)) = joined {
            self.state = State::Ended { writer, rd, lines, result };
        }
    }

    pub fn config(&self) -> &Lpm01aConfig {
        &self.cfg
    }

    fn err_state(&self, what: &str) -> EnergyError {
        EnergyError::State { device: DEVICE.into(), port: self.port.clone(), what: what.into() }
    }

    /// Sends one command and waits for its `ack`; returns the text lines printed before it.
    pub async fn command(&mut self, cmd: &str) -> Result<Vec<String>, EnergyError> {
        let port = self.port.clone();
        let reply_timeout = self.cfg.reply_timeout;
        let State::Idle { io, lines } = &mut self.state else {
            return Err(self.err_state(&format!("`{cmd}` sent while acquiring or after a lost stream")));
        };
        send(io, &port, cmd).await?;
        let deadline = Instant::now() + reply_timeout;
        let word = cmd.split_whitespace().next().unwrap_or("");
        let (mut out, mut last, mut error): (Vec<String>, Option<String>, Option<String>) = (Vec::new(), None, None);
        loop {
            let expected = if error.is_some() { "`Error detail:` line" } else { "`ack`" };
            let line = match timeout(deadline.saturating_duration_since(Instant::now()), lines.next_line(io)).await {
                Err(_) => {
                    if let Some(text) = error {
                        // An error without detail is still a refusal.
                        return Err(EnergyError::Refused {
                            device: DEVICE.into(),
                            port,
                            command: cmd.into(),
                            detail: text,
                        });
                    }
                    return Err(EnergyError::Timeout {
                        device: DEVICE.into(),
                        port,
                        expected: format!("{expected} for `{cmd}`"),
                        waited: reply_timeout,
                        last,
                    });
                }
                Ok(Err(e)) => return Err(line_err(e, &port, &format!("{expected} for `{cmd}`"), last)),
                Ok(Ok(l)) => l,
            };
            last = Some(String::from_utf8_lossy(&line).into_owned());
            match classify(&line) {
                StreamLine::Ack { rest } if rest.split_whitespace().next() == Some(word) => return Ok(out),
                // An ack for an earlier command (e.g. after a timeout) is stale: skip it.
                StreamLine::Ack { .. } => {}
                StreamLine::Error { text } if error.is_none() => error = Some(text),
                StreamLine::ErrorDetail { detail } => {
                    let text = error.unwrap_or_default();
                    let detail = if text.is_empty() { detail } else { format!("{detail} ({text})") };
                    return Err(EnergyError::Refused { device: DEVICE.into(), port, command: cmd.into(), detail });
                }
                StreamLine::Other(t) => out.push(t),
                _ => {}
            }
        }
    }
}

async fn send<W: AsyncWrite + Unpin>(io: &mut W, port: &str, cmd: &str) -> Result<(), EnergyError> {
    let io_err = |source| EnergyError::Io {
        device: DEVICE.into(),
        port: port.into(),
        doing: format!("sending `{cmd}`"),
        source,
    };
    // The runner terminates LPM01A commands with \r\n; the firmware accepts it.
    let write = async {
        io.write_all(format!("{cmd}\r\n").as_bytes()).await?;
        io.flush().await
    };
    match timeout(Duration::from_secs(2), write).await {
        Ok(r) => r.map_err(io_err),
        Err(_) => Err(EnergyError::Timeout {
            device: DEVICE.into(),
            port: port.into(),
            expected: format!("room in the output buffer to send `{cmd}`"),
            waited: Duration::from_secs(2),
            last: None,
        }),
    }
}

fn line_err(e: LineError, port: &str, expected: &str, last: Option<String>) -> EnergyError {
    match e {
        LineError::Closed => {
            EnergyError::Closed { device: DEVICE.into(), port: port.into(), expected: expected.into(), last }
        }
        LineError::Io(source) => EnergyError::Io {
            device: DEVICE.into(),
            port: port.into(),
            doing: format!("waiting for {expected}"),
            source,
        },
    }
}

/// Background reader: drains the stream into a capture until `Acquisition completed`.
async fn acquire<R: AsyncRead + Unpin>(
    mut rd: R,
    mut lines: LineBuf,
    mut parser: Lpm01aParser,
    data_timeout: Duration,
) -> (R, LineBuf, Result<Capture, EnergyError>) {
    let port = parser.capture.port.clone();
    let expected = "sample data (or `Acquisition completed` after `stop`)";
    loop {
        match timeout(data_timeout, lines.next_line(&mut rd)).await {
            Err(_) => {
                let last =
                    parser.last_other.take().or_else(|| parser.capture.samples.last().map(|s| format!("sample {s:e}")));
                let err = EnergyError::Timeout {
                    device: DEVICE.into(),
                    port,
                    expected: format!("{expected} after {} samples", parser.capture.samples.len()),
                    waited: data_timeout,
                    last,
                };
                return (rd, lines, Err(err));
            }
            Ok(Err(e)) => {
                let last = parser.last_other.take();
                return (rd, lines, Err(line_err(e, &port, expected, last)));
            }
            Ok(Ok(line)) => {
                parser.feed(&line);
                if parser.completed {
                    return (rd, lines, Ok(parser.capture));
                }
            }
        }
    }
}

impl<S> EnergyMonitor for Lpm01a<S>
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
        self.cfg.validate(&self.port)?;
        for cmd in self.cfg.commands() {
            self.command(&cmd).await?;
        }
        self.configured = true;
        Ok(())
    }

    async fn set_dut_power(&mut self, on: bool) -> Result<(), EnergyError> {
        self.command(if on { "pwr on nostatus" } else { "pwr off" }).await.map(|_| ())
    }

    async fn start(&mut self) -> Result<(), EnergyError> {
        if !self.configured {
            return Err(self.err_state("`start` before `configure`"));
        }
        self.command("start").await?;
        let State::Idle { io, lines } = std::mem::replace(&mut self.state, State::Broken) else {
            unreachable!("command() succeeded, so the driver was idle")
        };
        let (rd, writer) = tokio::io::split(io);
        let parser = Lpm01aParser::new(&self.port, self.cfg.sample_rate_hz, self.cfg.voltage_mv as f64 / 1000.0);
        let task = tokio::spawn(acquire(rd, lines, parser, self.cfg.data_timeout));
        self.state = State::Acquiring { writer, task };
        Ok(())
    }

    async fn stop(&mut self) -> Result<Capture, EnergyError> {
        let (mut writer, task) = match std::mem::replace(&mut self.state, State::Broken) {
            State::Acquiring { writer, task } => (writer, task),
            State::Ended { mut writer, rd, lines, result } => {
                // Best effort: a monitor that is still alive should stop streaming.
                let _ = send(&mut writer, &self.port, "stop").await;
                self.state = State::Idle { io: rd.unsplit(writer), lines };
                return result;
            }
            other => {
                self.state = other;
                return Err(self.err_state("`stop` without `start`"));
            }
        };
        // `stop` is acknowledged inside the data stream; the reader task sees the end marker.
        // A failed write is not fatal yet: the task may already hold a timeout that says more.
        let sent = send(&mut writer, &self.port, "stop").await;
        let mut task = task;
        let joined = timeout(self.cfg.stop_timeout, &mut task).await;
        match joined {
            Ok(Ok((rd, lines, result))) => {
                self.state = State::Idle { io: rd.unsplit(writer), lines };
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
                    expected: "`Acquisition completed` after `stop` (the monitor kept streaming)".into(),
                    waited: self.cfg.stop_timeout,
                    last: None,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_as_mantissa_and_power_of_ten() {
        // UM2269's example: 6409-07 = 640.9 uA.
        assert!((parse_value(b"6409-07").unwrap() - 640.9e-6).abs() < 1e-15);
        assert_eq!(parse_value(b"1221+02"), Some(122_100.0));
        assert_eq!(parse_value(b"0000+00"), Some(0.0));
        for bad in [&b"6409-7"[..], b"64o9-07", b"6409*07", b"6409-07 ", b""] {
            assert_eq!(parse_value(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn format_round_trips_within_the_4_digit_mantissa() {
        for v in [640.9e-6, 1.0, 9.9995e-3, 1.234_567e-9, 5e-6, 9_999.4] {
            let s = format_value(v);
            let back = parse_value(s.as_bytes()).unwrap();
            assert!((back - v).abs() <= v * 1e-3, "{v} -> {s} -> {back}");
        }
        assert_eq!(format_value(640.9e-6), "6409-07");
        assert_eq!(format_value(0.0), "0000+00");
    }

    #[test]
    fn lines_are_classified() {
        assert_eq!(classify(b"PowerShield > ack htc"), StreamLine::Ack { rest: "htc".into() });
        assert_eq!(classify(b"event 3 ris"), StreamLine::Event { seq: 3 });
        assert_eq!(classify(b"TimeStamp: 002s 500ms, buff 07%"), StreamLine::TimeStamp { seconds: 2.5, buffer_pct: 7 });
        assert_eq!(classify(b"PowerShield > Acquisition completed"), StreamLine::AcquisitionCompleted);
        assert_eq!(classify(b"Error detail: bad arg"), StreamLine::ErrorDetail { detail: "bad arg".into() });
        assert_eq!(classify(b"\xff\xfe\x01"), StreamLine::Garbage);
        assert_eq!(classify(b"event x ris"), StreamLine::Garbage);
        // A lost newline merges two samples; a lost byte leaves a fragment.
        let StreamLine::Samples { values, broken } = classify(b"1000-061000-06") else { panic!() };
        assert_eq!((values.len(), broken), (2, 0));
        let StreamLine::Samples { values, broken } = classify(b"100-061000-06") else { panic!() };
        assert_eq!((values.len(), broken), (1, 1));
        assert!((values[0] - 1e-3).abs() < 1e-12);
    }

    #[test]
    fn timestamps_reveal_lost_lines() {
        let mut p = Lpm01aParser::new("mem", 1000, 1.8);
        p.feed(b"TimeStamp: 000s 000ms, buff 00%");
        for _ in 0..990 {
            p.feed(b"1000-09");
        }
        p.feed(b"TimeStamp: 001s 000ms, buff 00%");
        assert_eq!(p.capture.samples.len(), 1000);
        assert_eq!(p.capture.lost_samples, 10);
    }

    #[test]
    fn an_event_glued_to_a_sample_is_kept() {
        let mut p = Lpm01aParser::new("mem", 1000, 1.8);
        p.feed(b"1000-09");
        p.feed(b"1000-09event 4 ris");
        p.feed(b"1000-09");
        assert_eq!(p.capture.samples.len(), 3);
        assert_eq!(p.capture.events, vec![Event { sample_index: 2, seq: Some(4) }]);
    }
}
