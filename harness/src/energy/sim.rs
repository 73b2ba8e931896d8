//! Simulated energy monitors, for tests: each speaks its device's protocol on any byte stream
//! (a tokio duplex, a pty, a TCP socket) and plays a known current profile, with optional
//! faults: measurement noise, dropped bytes, garbage, a lost event line, a refused command,
//! and a monitor that falls silent in the middle of an acquisition.
//!
//! The simulators are written from the protocol descriptions in [`super::lpm01a`] and
//! [`super::ppk2`], not from the drivers' code paths, and the tests compare the drivers' result
//! with [`Profile::window_uj`], computed from the profile's definition.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::lpm01a::format_value;
use super::ppk2::{self, frame, Calibration};
use super::Rng;

/// A piecewise-constant current profile with timestamp events.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// (duration in s, current in A), back to back from t = 0; the last one continues until
    /// the monitor is stopped.
    pub segments: Vec<(f64, f64)>,
    /// Times of the DUT's timestamp-pin falling edges, in s.
    pub events_s: Vec<f64>,
    /// How long the pin is held low after each edge, in s (MLPerf Tiny firmware: ~1 ms).
    pub pulse_s: f64,
}

impl Profile {
    /// An MLPerf-like run: idle with a boot glitch on the pin, the start timestamp, `n` inferences
    /// (`active_a` for `inference_s`, then `idle_a` for `gap_s`), the end timestamp, idle.
    /// Choose durations that are whole multiples of the sample period of the monitor (1 ms for an
    /// LPM01A at 1 kHz) so that the expected energy is exact.
    pub fn mlperf(idle_a: f64, active_a: f64, n: usize, inference_s: f64, gap_s: f64) -> Profile {
        let lead = 0.050;
        let mut segments = vec![(lead, idle_a)];
        for _ in 0..n {
            segments.push((inference_s, active_a));
            segments.push((gap_s, idle_a));
        }
        segments.push((0.050, idle_a));
        let end = lead + n as f64 * (inference_s + gap_s);
        Profile { segments, events_s: vec![0.010, lead, end], pulse_s: 0.001 }
    }

    /// Time the profile is defined for (the monitor keeps sending the last segment after it).
    pub fn duration_s(&self) -> f64 {
        self.segments.iter().map(|s| s.0).sum()
    }

    pub fn current_at(&self, t: f64) -> f64 {
        let mut t0 = 0.0;
        for &(d, a) in &self.segments {
            if t < t0 + d {
                return a;
            }
            t0 += d;
        }
        self.segments.last().map_or(0.0, |s| s.1)
    }

    /// Exact energy between the last two events at `voltage_v`, in uJ (integral of V x I dt).
    pub fn window_uj(&self, voltage_v: f64) -> f64 {
        let n = self.events_s.len();
        assert!(n >= 2, "a window needs two events");
        let (a, b) = (self.events_s[n - 2], self.events_s[n - 1]);
        let mut t0 = 0.0;
        let mut joules = 0.0;
        for &(d, i) in &self.segments {
            let overlap = (t0 + d).min(b) - t0.max(a);
            if overlap > 0.0 {
                joules += voltage_v * i * overlap;
            }
            t0 += d;
        }
        joules * 1e6
    }

    fn event_indices(&self, rate: f64) -> Vec<usize> {
        self.events_s.iter().map(|t| (t * rate).round() as usize).collect()
    }
}

/// Faults to inject. All randomness comes from `seed`, so a test sees the same stream every run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Standard deviation of multiplicative noise on every sample (0.02 = 2 %).
    pub noise_rel: f64,
    /// Probability that a byte of sample data is dropped (LPM01A: bytes of sample lines;
    /// PPK2: bytes of sample frames).
    pub drop_byte_prob: f64,
    /// Probability, per sample, of a garbage line (LPM01A) or of 1..8 random bytes (PPK2).
    pub garbage_prob: f64,
    /// Stop sending anything (without closing the stream) after this many samples.
    pub stall_after_samples: Option<usize>,
    /// Leave out the k-th event line (0-based), as a corrupted or lost line would (LPM01A).
    pub drop_event: Option<usize>,
    /// Answer this command word with an error (LPM01A).
    pub refuse: Option<String>,
    pub seed: u64,
}

/// What a running simulator tells its test.
#[derive(Debug)]
pub struct SimHandle {
    /// Fires once the whole profile (end event included) has been written.
    pub profile_sent: oneshot::Receiver<()>,
    /// Fires when the simulator has gone silent (`stall_after_samples`).
    pub stalled: oneshot::Receiver<()>,
    pub task: JoinHandle<()>,
}

struct Signals {
    profile_sent: Option<oneshot::Sender<()>>,
    stalled: Option<oneshot::Sender<()>>,
}

fn signals() -> (Signals, oneshot::Receiver<()>, oneshot::Receiver<()>) {
    let (p_tx, p_rx) = oneshot::channel();
    let (s_tx, s_rx) = oneshot::channel();
    (Signals { profile_sent: Some(p_tx), stalled: Some(s_tx) }, p_rx, s_rx)
}

fn fire(tx: &mut Option<oneshot::Sender<()>>) {
    if let Some(tx) = tx.take() {
        let _ = tx.send(());
    }
}

/// Samples written per write call: small enough to answer `stop` promptly.
const CHUNK: usize = 64;

// ---------------------------------------------------------------------------------------------
// LPM01A

struct Lpm {
    htc: bool,
    volt_mv: u32,
    freq_hz: u32,
    energy: bool,
    streaming: bool,
    stalled: bool,
    k: usize,
    seq: u32,
    events_written: usize,
}

/// Starts a simulated LPM01A on `io`.
pub fn spawn_lpm01a<S>(io: S, profile: Profile, faults: Faults) -> SimHandle
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (rd, wr) = tokio::io::split(io);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(read_lines(rd, tx));
    let (sig, p_rx, s_rx) = signals();
    let task = tokio::spawn(run_lpm01a(wr, rx, profile, faults, sig));
    SimHandle { profile_sent: p_rx, stalled: s_rx, task }
}

/// Host commands, one per line (the LPM01A reads `\r\n`- or `\n`-terminated commands).
async fn read_lines<R: AsyncRead + Unpin>(mut rd: R, tx: mpsc::UnboundedSender<String>) {
    let mut line = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for &b in &buf[..n] {
            if b == b'\n' {
                let text = String::from_utf8_lossy(&line).trim().to_owned();
                line.clear();
                if !text.is_empty() && tx.send(text).is_err() {
                    return;
                }
            } else if b != b'\r' {
                line.push(b);
            }
        }
    }
}

fn parse_freq(arg: &str) -> Option<u32> {
    match arg.strip_suffix('k') {
        Some(k) => k.parse::<u32>().ok().map(|k| k * 1000),
        None => arg.parse().ok(),
    }
}

impl Lpm {
    /// The monitor's answer to one command.
    fn answer(&mut self, cmd: &str, faults: &Faults) -> String {
        let ack = |c: &str| format!("PowerShield > ack {c}\r\n");
        let err = |c: &str, why: &str| format!("PowerShield > error {c}\r\nPowerShield > Error detail: {why}\r\n");
        let mut words = cmd.split_whitespace();
        let word = words.next().unwrap_or("");
        let arg = words.next().unwrap_or("");
        if faults.refuse.as_deref() == Some(word) {
            return err(cmd, "simulated refusal");
        }
        if !self.htc && word != "htc" {
            return err(cmd, "host control not taken (send htc first)");
        }
        match word {
            "htc" => self.htc = true,
            "hrc" => self.htc = false,
            "volt" => match arg.strip_suffix('m').and_then(|v| v.parse::<u32>().ok()) {
                Some(mv) if (1800..=3300).contains(&mv) => self.volt_mv = mv,
                _ => return err(cmd, "voltage out of range [1800m; 3300m]"),
            },
            "freq" => match parse_freq(arg) {
                Some(f) if super::lpm01a::FREQUENCIES_HZ.contains(&f) => self.freq_hz = f,
                _ => return err(cmd, "frequency not in list"),
            },
            "output" => match arg {
                "energy" => self.energy = true,
                "current" => self.energy = false,
                _ => return err(cmd, "output type unknown"),
            },
            "format" if arg != "ascii_dec" => return err(cmd, "simulator speaks ascii_dec only"),
            "acqtime" | "trigdelay" | "trigsrc" | "eventsrc" | "format" | "pwr" | "lcd" | "pwrend" | "acqmode"
            | "funcmode" => {}
            "start" => {
                self.streaming = true;
                self.k = 0;
                self.seq = 0;
                self.events_written = 0;
            }
            "stop" => {
                self.streaming = false;
                return format!("{}PowerShield > Acquisition completed\r\n", ack(cmd));
            }
            _ => return err(cmd, "command unknown"),
        }
        ack(cmd)
    }
}

async fn run_lpm01a<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::UnboundedReceiver<String>,
    profile: Profile,
    faults: Faults,
    mut sig: Signals,
) {
    let mut rng = Rng::new(faults.seed);
    let mut st = Lpm {
        htc: false,
        volt_mv: 3300,
        freq_hz: 100,
        energy: false,
        streaming: false,
        stalled: false,
        k: 0,
        seq: 0,
        events_written: 0,
    };
    loop {
        let cmd = if st.streaming && !st.stalled {
            match rx.try_recv() {
                Ok(c) => Some(c),
                Err(mpsc::error::TryRecvError::Empty) => None,
                Err(mpsc::error::TryRecvError::Disconnected) => return,
            }
        } else {
            match rx.recv().await {
                Some(c) => Some(c),
                None => return,
            }
        };
        if st.stalled {
            continue; // a dead monitor answers nothing
        }
        if let Some(cmd) = cmd {
            let out = st.answer(&cmd, &faults);
            if wr.write_all(out.as_bytes()).await.is_err() {
                return;
            }
            continue;
        }
        let rate = st.freq_hz as f64;
        let events = profile.event_indices(rate);
        let profile_len = (profile.duration_s() * rate).round() as usize;
        let mut out = Vec::new();
        for _ in 0..CHUNK {
            if faults.stall_after_samples.is_some_and(|n| st.k >= n) {
                st.stalled = true;
                break;
            }
            let k = st.k;
            for _ in events.iter().filter(|&&e| e == k) {
                // Numbered as the monitor counts them, even when the line is lost.
                st.seq += 1;
                let idx = st.events_written;
                st.events_written += 1;
                if faults.drop_event != Some(idx) {
                    out.extend_from_slice(format!("event {} ris\r\n", st.seq).as_bytes());
                }
            }
            let t = (k as f64 + 0.5) / rate;
            let amps = profile.current_at(t) * (1.0 + faults.noise_rel * rng.normal());
            let value = if st.energy { amps * st.volt_mv as f64 / 1000.0 / rate } else { amps };
            for b in format!("{}\r\n", format_value(value)).bytes() {
                if !rng.chance(faults.drop_byte_prob) {
                    out.push(b);
                }
            }
            if rng.chance(faults.garbage_prob) {
                let len = 3 + (rng.next_u64() % 20) as usize;
                out.extend((0..len).map(|_| match rng.next_u64() as u8 {
                    b'\n' => 0xff,
                    b => b,
                }));
                out.extend_from_slice(b"\r\n");
            }
            st.k += 1;
            if st.k % st.freq_hz as usize == 0 {
                let s = st.k / st.freq_hz as usize;
                out.extend_from_slice(format!("TimeStamp: {s:03}s 000ms, buff 00%\r\n").as_bytes());
            }
        }
        if wr.write_all(&out).await.is_err() {
            return;
        }
        if st.k >= profile_len {
            fire(&mut sig.profile_sent);
        }
        if st.stalled {
            let _ = wr.flush().await;
            fire(&mut sig.stalled);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PPK2

/// A calibration with every coefficient away from the identity, so the driver's use of each
/// one is exercised (values of the same order as a real unit's, not copied from one).
pub fn test_calibration() -> Calibration {
    Calibration {
        r: [1020.5, 100.75, 10.21, 0.951, 0.0447],
        gs: [0.0, 95.0, 16.5, 2.25, 0.07],
        gi: [1.0, 0.971, 0.962, 0.955, 0.958],
        o: [101.25, 72.5, 61.0, 48.75, 85.5],
        s: [4.5e-8, 5.5e-7, 5.0e-6, 6.0e-5, 2.9e-3],
        i: [-1.0e-7, -1.5e-6, 3.5e-5, -3.5e-4, -9.0e-3],
        ug: [1.0, 1.01, 0.99, 1.0, 1.0],
        calibrated: Some(0),
        hw: Some(9173),
    }
}

fn metadata_text(c: &Calibration, vdd_mv: u32) -> String {
    let mut s = format!("Calibrated: {}\n", c.calibrated.unwrap_or(0));
    for (name, t) in [("R", &c.r), ("GS", &c.gs), ("GI", &c.gi), ("O", &c.o)] {
        for (i, v) in t.iter().enumerate() {
            s += &format!("{name}{i}: {v}\n");
        }
    }
    s += &format!("VDD: {vdd_mv}\nHW: {}\nmode: 2\n", c.hw.unwrap_or(0));
    for (name, t) in [("S", &c.s), ("I", &c.i), ("UG", &c.ug)] {
        for (i, v) in t.iter().enumerate() {
            s += &format!("{name}{i}: {v}\n");
        }
    }
    s + "IA: 56\nEND\n"
}

/// Starts a simulated PPK2 on `io`, its timestamp input on digital channel `channel`.
/// With `metadata: false` it never answers the metadata request (a wrong device on the port).
pub fn spawn_ppk2<S>(io: S, profile: Profile, faults: Faults, channel: u8, metadata: bool) -> SimHandle
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (rd, wr) = tokio::io::split(io);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(read_ppk2_commands(rd, tx));
    let (sig, p_rx, s_rx) = signals();
    let task = tokio::spawn(run_ppk2(wr, rx, profile, faults, channel, metadata, sig));
    SimHandle { profile_sent: p_rx, stalled: s_rx, task }
}

/// Splits the host's bytes into commands (opcode + its fixed number of argument bytes).
async fn read_ppk2_commands<R: AsyncRead + Unpin>(mut rd: R, tx: mpsc::UnboundedSender<Vec<u8>>) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 64];
    loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        loop {
            let Some(&opcode) = pending.first() else { break };
            let args = match opcode {
                ppk2::op::REGULATOR_SET => 2,
                ppk2::op::SET_POWER_MODE | ppk2::op::DEVICE_RUNNING_SET => 1,
                _ => 0,
            };
            if pending.len() < 1 + args {
                break;
            }
            let cmd: Vec<u8> = pending.drain(..1 + args).collect();
            if tx.send(cmd).is_err() {
                return;
            }
        }
    }
}

async fn run_ppk2<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    profile: Profile,
    faults: Faults,
    channel: u8,
    metadata: bool,
    mut sig: Signals,
) {
    let cal = test_calibration();
    let rate = ppk2::SAMPLE_RATE_HZ;
    let events = profile.event_indices(rate);
    let pulse = (profile.pulse_s * rate).round() as usize;
    let profile_len = (profile.duration_s() * rate).round() as usize;
    let mut rng = Rng::new(faults.seed);
    let (mut vdd_mv, mut streaming, mut stalled, mut k) = (3700u32, false, false, 0usize);
    // The real counter runs freely; start somewhere other than 0.
    let mut counter: u8 = (rng.next_u64() % 64) as u8;
    loop {
        let cmd = if streaming && !stalled {
            match rx.try_recv() {
                Ok(c) => Some(c),
                Err(mpsc::error::TryRecvError::Empty) => None,
                Err(mpsc::error::TryRecvError::Disconnected) => return,
            }
        } else {
            match rx.recv().await {
                Some(c) => Some(c),
                None => return,
            }
        };
        if stalled {
            continue;
        }
        if let Some(cmd) = cmd {
            match cmd[0] {
                ppk2::op::GET_META_DATA if metadata => {
                    if wr.write_all(metadata_text(&cal, vdd_mv).as_bytes()).await.is_err() {
                        return;
                    }
                }
                ppk2::op::REGULATOR_SET => vdd_mv = u16::from_be_bytes([cmd[1], cmd[2]]) as u32,
                ppk2::op::AVERAGE_START => {
                    streaming = true;
                    k = 0;
                }
                ppk2::op::AVERAGE_STOP => streaming = false,
                _ => {} // no acknowledgements in this protocol
            }
            continue;
        }
        let mut out = Vec::with_capacity(CHUNK * 16 * 4);
        for _ in 0..CHUNK * 16 {
            if faults.stall_after_samples.is_some_and(|n| k >= n) {
                stalled = true;
                break;
            }
            let amps = profile.current_at((k as f64 + 0.5) / rate) * (1.0 + faults.noise_rel * rng.normal());
            let (range, field) = cal.encode(amps, vdd_mv);
            let low = events.iter().any(|&e| k >= e && k < e + pulse);
            let logic = if low { 0 } else { 1u8 << channel };
            for b in frame(field, range, counter, logic).to_le_bytes() {
                if !rng.chance(faults.drop_byte_prob) {
                    out.push(b);
                }
            }
            if rng.chance(faults.garbage_prob) {
                let len = 1 + (rng.next_u64() % 8) as usize;
                out.extend((0..len).map(|_| rng.next_u64() as u8));
            }
            counter = (counter + 1) & 0x3F;
            k += 1;
        }
        if wr.write_all(&out).await.is_err() {
            return;
        }
        if k >= profile_len {
            fire(&mut sig.profile_sent);
        }
        if stalled {
            let _ = wr.flush().await;
            fire(&mut sig.stalled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_window_energy_by_hand() {
        // 20 x (40 ms at 4.5 mA + 10 ms at 0.8 mA) at 1.8 V = 20 x 0.188 mC x 1.8 V = 6768 uJ.
        let p = Profile::mlperf(0.8e-3, 4.5e-3, 20, 0.040, 0.010);
        assert!((p.window_uj(1.8) - 6768.0).abs() < 1e-6, "{}", p.window_uj(1.8));
        assert_eq!(p.events_s, vec![0.010, 0.050, 1.050]);
        assert!((p.duration_s() - 1.1).abs() < 1e-12);
        assert_eq!(p.current_at(0.049), 0.8e-3);
        assert_eq!(p.current_at(0.0505), 4.5e-3);
        assert_eq!(p.current_at(5.0), 0.8e-3);
    }

    #[test]
    fn ppk2_calibration_encodes_what_it_decodes() {
        let c = test_calibration();
        for ua in [0.5, 3.0, 150.0, 800.0, 4_500.0, 60_000.0, 400_000.0] {
            let amps = ua * 1e-6;
            let (r, f) = c.encode(amps, 1800);
            let back = c.amps(r, f, 1800);
            let step = 4.0 * ppk2::ADC_MULT / c.r[r] * 1.5;
            assert!((back - amps).abs() <= step, "{ua} uA -> range {r} field {f} -> {} uA", back * 1e6);
        }
    }
}
