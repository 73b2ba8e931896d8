//! MLPerf Tiny energy mode as pure logic over a captured sample stream.
//!
//! The DUT pulls its timestamp GPIO low at the start and at the end of the timed window
//! (`th_timestamp()` around the N measured inferences). The monitor records each falling edge
//! as an event at a sample index. Energy of the window = energy of the samples between the
//! last two events; energy per inference = that / N. Earlier edges are ignored on purpose: the
//! pin can glitch at boot and the DUT also pulses it once in `th_timestamp_initialize()`.
//!
//! Both drivers fill a [`Capture`]; [`Capture::window`] does the arithmetic, so the two monitors
//! cannot disagree about what a window is.

use std::fmt;

/// What one sample of a [`Capture`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleUnit {
    /// Energy integrated over one sample period, in joules (LPM01A `output energy`).
    Joules,
    /// Instantaneous current in amperes (PPK2; LPM01A `output current`); energy needs the voltage.
    Amperes,
}

/// A timestamp-pin edge, at the index of the first sample taken after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// Samples received before the edge: the window starting at this event begins with this sample.
    pub sample_index: usize,
    /// The monitor's own event counter when it numbers events (LPM01A `event N ris`); lets a
    /// lost event be detected instead of silently taking the wrong pair.
    pub seq: Option<u32>,
}

/// Everything a monitor recorded between `start` and `stop`.
#[derive(Clone)]
pub struct Capture {
    /// Monitor model, e.g. `LPM01A`.
    pub device: String,
    /// Where it is attached (serial port path, `tcp://host:port`, `duplex` in tests).
    pub port: String,
    pub unit: SampleUnit,
    pub sample_rate_hz: f64,
    /// Supply voltage of the DUT as set on the monitor (used for [`SampleUnit::Amperes`]).
    pub voltage_v: f64,
    /// One value per sample period; NaN where a sample was lost or did not parse, so that
    /// indices stay aligned with time.
    pub samples: Vec<f32>,
    pub events: Vec<Event>,
    /// Samples known to be lost (NaN entries plus gaps the monitor's counters revealed).
    pub lost_samples: u64,
    /// Lines or frames that were not part of the protocol (noise); they cost nothing but are counted.
    pub garbage: u64,
}

/// What the caller knows about the window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSpec {
    /// Inferences run between the two timestamps (the `N` of `infer N W`).
    pub inferences: u64,
    /// Largest fraction of lost samples inside the window that is filled in (with the window's
    /// mean) rather than refused. MLPerf's runner has no such check; a few lost samples out of
    /// 10 000 change the result by far less than the monitor's own accuracy.
    pub max_lost_fraction: f64,
    /// MLPerf Tiny requires each window to last at least 10 s; shorter windows are computed but
    /// flagged (`below_min_duration`), as the official runner does.
    pub min_duration_s: f64,
    /// Timestamp events the capture must hold, when the caller knows (e.g. 2 when acquisition
    /// starts after the DUT booted and spans one `infer`). The monitor's numbering reveals a
    /// lost event only if a later one arrived; a lost *last* event is only caught by this count.
    pub expected_events: Option<usize>,
}

impl WindowSpec {
    /// The MLPerf Tiny rules: >= 10 s windows; up to 0.1 % lost samples filled in.
    pub fn mlperf(inferences: u64) -> WindowSpec {
        WindowSpec { inferences, max_lost_fraction: 0.001, min_duration_s: 10.0, expected_events: None }
    }
}

/// One energy window: the figures MLPerf Tiny reports per window (it then takes the median of 5).
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyWindow {
    pub device: String,
    pub port: String,
    /// Energy of all N inferences, microjoules.
    pub total_uj: f64,
    /// `total_uj / inferences`: the figure recorded as `EnergyUj`, source `measured`.
    pub per_inference_uj: f64,
    /// From the monitor's sample clock (not the DUT's).
    pub duration_s: f64,
    pub mean_power_mw: f64,
    pub inferences: u64,
    /// Sample range `[start_sample, end_sample)` the energy was summed over.
    pub start_sample: usize,
    pub end_sample: usize,
    /// Timestamp events seen in the whole capture (2 expected per window, more at boot).
    pub events_seen: usize,
    /// Lost samples inside the window that were filled in with the window's mean.
    pub lost_in_window: u64,
    pub below_min_duration: bool,
}

/// Why a capture does not give an energy window.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WindowError {
    #[error(
        "{found} timestamp event(s) in the capture, at least 2 are needed (is the DUT's timestamp \
         pin wired to the monitor's event input, and the firmware built for energy mode?)"
    )]
    TooFewEvents { found: usize },
    #[error(
        "timestamp events are not consecutive (monitor numbers {seqs:?}): an event was lost, so \
         the last two do not bracket one window"
    )]
    NonConsecutiveEvents { seqs: Vec<u32> },
    #[error("{found} timestamp event(s) in the capture, {expected} expected: one was lost or spurious")]
    UnexpectedEventCount { expected: usize, found: usize },
    #[error("the window has 0 inferences")]
    ZeroInferences,
    #[error("the last two events are at samples {start} and {end}: the window is empty")]
    EmptyWindow { start: usize, end: usize },
    #[error("event at sample {index} is past the end of the capture ({len} samples)")]
    EventOutOfRange { index: usize, len: usize },
    #[error(
        "{lost} of {total} samples in the window were lost ({:.3} %, at most {:.3} % is filled in)",
        100.0 * *lost as f64 / *total as f64,
        100.0 * max_fraction
    )]
    TooManyLost { lost: u64, total: u64, max_fraction: f64 },
    #[error("sample rate {0} Hz or voltage is not a positive number")]
    BadSettings(f64),
}

impl Capture {
    /// An empty capture.
    pub fn new(device: &str, port: &str, unit: SampleUnit, sample_rate_hz: f64, voltage_v: f64) -> Capture {
        Capture {
            device: device.to_owned(),
            port: port.to_owned(),
            unit,
            sample_rate_hz,
            voltage_v,
            samples: Vec::new(),
            events: Vec::new(),
            lost_samples: 0,
            garbage: 0,
        }
    }

    /// Marks `n` samples as lost (NaN), keeping later indices aligned with time.
    pub fn push_lost(&mut self, n: u64) {
        self.samples.extend(std::iter::repeat(f32::NAN).take(n as usize));
        self.lost_samples += n;
    }

    /// Energy of the window between the last two timestamp events.
    pub fn window(&self, spec: &WindowSpec) -> Result<EnergyWindow, WindowError> {
        if spec.inferences == 0 {
            return Err(WindowError::ZeroInferences);
        }
        if !(self.sample_rate_hz > 0.0) || !(self.voltage_v > 0.0) {
            return Err(WindowError::BadSettings(self.sample_rate_hz));
        }
        let n = self.events.len();
        if n < 2 {
            return Err(WindowError::TooFewEvents { found: n });
        }
        // Like the official runner, any gap in the monitor's numbering invalidates the capture:
        // a lost end event would otherwise turn "previous window end .. this start" into a window.
        let seqs: Vec<u32> = self.events.iter().filter_map(|e| e.seq).collect();
        if seqs.windows(2).any(|w| w[1] != w[0].wrapping_add(1)) {
            return Err(WindowError::NonConsecutiveEvents { seqs });
        }
        if let Some(expected) = spec.expected_events.filter(|&e| e != n) {
            return Err(WindowError::UnexpectedEventCount { expected, found: n });
        }
        let (start, end) = (self.events[n - 2].sample_index, self.events[n - 1].sample_index);
        if end > self.samples.len() {
            return Err(WindowError::EventOutOfRange { index: end, len: self.samples.len() });
        }
        if end <= start {
            return Err(WindowError::EmptyWindow { start, end });
        }
        let slice = &self.samples[start..end];
        let total = slice.len() as u64;
        let (mut sum, mut valid) = (0f64, 0u64);
        for &s in slice {
            if s.is_finite() {
                sum += s as f64;
                valid += 1;
            }
        }
        let lost = total - valid;
        if lost as f64 > spec.max_lost_fraction * total as f64 || valid == 0 {
            return Err(WindowError::TooManyLost { lost, total, max_fraction: spec.max_lost_fraction });
        }
        // Lost samples count as the window's mean: the least biased guess without neighbours' shape.
        let sum = sum * total as f64 / valid as f64;
        let dt = 1.0 / self.sample_rate_hz;
        let joules = match self.unit {
            SampleUnit::Joules => sum,
            SampleUnit::Amperes => sum * self.voltage_v * dt,
        };
        let duration_s = total as f64 * dt;
        Ok(EnergyWindow {
            device: self.device.clone(),
            port: self.port.clone(),
            total_uj: joules * 1e6,
            per_inference_uj: joules * 1e6 / spec.inferences as f64,
            duration_s,
            mean_power_mw: joules / duration_s * 1e3,
            inferences: spec.inferences,
            start_sample: start,
            end_sample: end,
            events_seen: n,
            lost_in_window: lost,
            below_min_duration: duration_s < spec.min_duration_s,
        })
    }
}

/// Median energy per inference over several windows (MLPerf Tiny reports the median of 5).
pub fn median_per_inference_uj(windows: &[EnergyWindow]) -> Option<f64> {
    let mut v: Vec<f64> = windows.iter().map(|w| w.per_inference_uj).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
}

/// Summary only: a capture holds up to millions of samples.
impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Capture")
            .field("device", &self.device)
            .field("port", &self.port)
            .field("unit", &self.unit)
            .field("sample_rate_hz", &self.sample_rate_hz)
            .field("voltage_v", &self.voltage_v)
            .field("samples", &self.samples.len())
            .field("events", &self.events)
            .field("lost_samples", &self.lost_samples)
            .field("garbage", &self.garbage)
            .finish()
    }
}

impl fmt::Display for EnergyWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.3} uJ/inference ({} inferences, {:.3} s, {:.4} mW, {} lost samples filled) from {} on {}",
            self.per_inference_uj,
            self.inferences,
            self.duration_s,
            self.mean_power_mw,
            self.lost_in_window,
            self.device,
            self.port
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(unit: SampleUnit, samples: Vec<f32>, events: &[(usize, Option<u32>)]) -> Capture {
        let mut c = Capture::new("TEST", "mem", unit, 1000.0, 2.0);
        c.samples = samples;
        c.events = events.iter().map(|&(i, s)| Event { sample_index: i, seq: s }).collect();
        c
    }

    #[test]
    fn energy_samples_sum_between_the_last_two_events() {
        // 10 samples of 1 uJ, then 20 of 3 uJ (the window), then 10 of 1 uJ.
        let mut s = vec![1e-6f32; 10];
        s.extend(vec![3e-6f32; 20]);
        s.extend(vec![1e-6f32; 10]);
        // A boot glitch at 2, then the window [10, 30).
        let c = cap(SampleUnit::Joules, s, &[(2, Some(1)), (10, Some(2)), (30, Some(3))]);
        let w = c.window(&WindowSpec::mlperf(4)).unwrap();
        assert!((w.total_uj - 60.0).abs() < 1e-3, "{w:?}");
        assert!((w.per_inference_uj - 15.0).abs() < 1e-3);
        assert!((w.duration_s - 0.020).abs() < 1e-12);
        // 60 uJ in 20 ms = 3 mW.
        assert!((w.mean_power_mw - 3.0).abs() < 1e-3);
        assert_eq!((w.start_sample, w.end_sample, w.events_seen), (10, 30, 3));
        assert!(w.below_min_duration);
    }

    #[test]
    fn current_samples_use_voltage_and_sample_period() {
        // 5 mA for 1000 samples at 1 kHz and 2 V: 10 mJ.
        let c = cap(SampleUnit::Amperes, vec![5e-3; 1200], &[(100, None), (1100, None)]);
        let w = c
            .window(&WindowSpec { inferences: 10, max_lost_fraction: 0.0, min_duration_s: 0.5, expected_events: None })
            .unwrap();
        assert!((w.total_uj - 10_000.0).abs() < 0.01, "{w:?}");
        assert!((w.per_inference_uj - 1000.0).abs() < 0.001);
        assert!(!w.below_min_duration);
    }

    #[test]
    fn lost_samples_are_filled_with_the_mean_up_to_the_limit() {
        let mut s = vec![2e-6f32; 1000];
        s[500] = f32::NAN;
        let c = cap(SampleUnit::Joules, s.clone(), &[(0, None), (1000, None)]);
        let w = c.window(&WindowSpec::mlperf(1)).unwrap();
        assert_eq!(w.lost_in_window, 1);
        assert!((w.total_uj - 2000.0).abs() < 1e-3, "{w:?}");
        s[501] = f32::NAN;
        let c = cap(SampleUnit::Joules, s, &[(0, None), (1000, None)]);
        let e = c.window(&WindowSpec::mlperf(1)).unwrap_err();
        assert_eq!(e, WindowError::TooManyLost { lost: 2, total: 1000, max_fraction: 0.001 });
        assert!(e.to_string().contains("2 of 1000 samples"), "{e}");
    }

    #[test]
    fn missing_or_bad_events_are_errors_not_numbers() {
        let s = vec![1e-6f32; 100];
        assert_eq!(
            cap(SampleUnit::Joules, s.clone(), &[(5, Some(1))]).window(&WindowSpec::mlperf(1)),
            Err(WindowError::TooFewEvents { found: 1 })
        );
        assert_eq!(
            cap(SampleUnit::Joules, s.clone(), &[(5, Some(1)), (9, Some(2)), (50, Some(4))])
                .window(&WindowSpec::mlperf(1)),
            Err(WindowError::NonConsecutiveEvents { seqs: vec![1, 2, 4] })
        );
        assert_eq!(
            cap(SampleUnit::Joules, s.clone(), &[(50, None), (50, None)]).window(&WindowSpec::mlperf(1)),
            Err(WindowError::EmptyWindow { start: 50, end: 50 })
        );
        assert_eq!(
            cap(SampleUnit::Joules, s.clone(), &[(50, None), (101, None)]).window(&WindowSpec::mlperf(1)),
            Err(WindowError::EventOutOfRange { index: 101, len: 100 })
        );
        assert_eq!(
            cap(SampleUnit::Joules, s.clone(), &[(0, None), (10, None)]).window(&WindowSpec::mlperf(0)),
            Err(WindowError::ZeroInferences)
        );
        // A lost last event leaves consecutive numbers; only the expected count catches it.
        let two = cap(SampleUnit::Joules, s, &[(5, Some(1)), (9, Some(2))]);
        assert!(two.window(&WindowSpec::mlperf(1)).is_ok());
        assert_eq!(
            two.window(&WindowSpec { expected_events: Some(3), ..WindowSpec::mlperf(1) }),
            Err(WindowError::UnexpectedEventCount { expected: 3, found: 2 })
        );
    }

    #[test]
    fn median_of_windows() {
        let c = cap(SampleUnit::Joules, vec![1e-6; 10], &[(0, None), (10, None)]);
        let w = |n| c.window(&WindowSpec::mlperf(n)).unwrap();
        // 10 uJ over 1, 2, 4, 5, 10 inferences: 10, 5, 2.5, 2, 1 -> median 2.5.
        let ws: Vec<_> = [1, 2, 4, 5, 10].into_iter().map(w).collect();
        assert!((median_per_inference_uj(&ws).unwrap() - 2.5).abs() < 1e-4);
        assert!((median_per_inference_uj(&ws[..2]).unwrap() - 7.5).abs() < 1e-4);
        assert_eq!(median_per_inference_uj(&[]), None);
    }
}
