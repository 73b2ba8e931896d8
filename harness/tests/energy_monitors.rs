//! The energy-monitor drivers against simulated monitors speaking each device's protocol.
//!
//! Every wait is bounded: each test runs under `bounded`, so a hang is a failure with a message,
//! never a stuck CI job. No sleeps: the tests wait on the simulator's own signals.

use std::future::Future;
use std::time::Duration;

use mcubench::energy::lpm01a::{Lpm01a, Lpm01aConfig, Lpm01aParser};
use mcubench::energy::ppk2::{Decoder, Ppk2, Ppk2Config};
use mcubench::energy::sim::{self, Faults, Profile};
use mcubench::energy::{EnergyError, EnergyMonitor, WindowError, WindowSpec};

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f).await.unwrap_or_else(|_| panic!("{what}: hung for 30 s"))
}

async fn signal(what: &str, rx: tokio::sync::oneshot::Receiver<()>) {
    tokio::time::timeout(Duration::from_secs(20), rx)
        .await
        .unwrap_or_else(|_| panic!("simulator never signalled {what}"))
        .unwrap_or_else(|_| panic!("simulator ended before {what}"));
}

/// 20 inferences of 40 ms at 4.5 mA with 10 ms gaps at 0.8 mA: a 1 s window.
fn profile() -> Profile {
    Profile::mlperf(0.8e-3, 4.5e-3, 20, 0.040, 0.010)
}

/// Tolerant window spec: the fault tests lose more than MLPerf's 0.1 % on purpose.
fn spec(n: u64, max_lost: f64) -> WindowSpec {
    // The profile has 3 edges: a boot glitch, the start and the end of the window.
    WindowSpec { inferences: n, max_lost_fraction: max_lost, min_duration_s: 10.0, expected_events: Some(3) }
}

fn rel_err(got: f64, want: f64) -> f64 {
    (got - want).abs() / want
}

fn lpm_cfg() -> Lpm01aConfig {
    Lpm01aConfig { data_timeout: Duration::from_millis(300), ..Lpm01aConfig::default() }
}

/// Runs one LPM01A window against the simulator; returns the driver's result.
async fn lpm_window(faults: Faults, spec: WindowSpec) -> Result<mcubench::energy::EnergyWindow, EnergyError> {
    let (host, dev) = tokio::io::duplex(64 * 1024);
    let sim = sim::spawn_lpm01a(dev, profile(), faults);
    let mut mon = Lpm01a::new(host, "sim-lpm", lpm_cfg());
    mon.configure().await?;
    mon.set_dut_power(true).await?;
    mon.start().await?;
    signal("profile sent", sim.profile_sent).await;
    mon.stop_window(&spec).await
}

#[tokio::test]
async fn lpm01a_energy_matches_the_profile() {
    bounded("lpm01a clean", async {
        let want = profile().window_uj(1.8);
        let w = lpm_window(Faults::default(), spec(20, 0.0)).await.unwrap();
        // Only the 4-digit mantissa rounds: far below 0.1 %.
        assert!(rel_err(w.total_uj, want) < 1e-3, "{w} vs {want} uJ");
        assert!(rel_err(w.per_inference_uj, want / 20.0) < 1e-3);
        assert!((w.duration_s - 1.0).abs() < 1e-9, "{}", w.duration_s);
        assert_eq!((w.start_sample, w.end_sample), (50, 1050));
        assert_eq!(w.events_seen, 3, "boot glitch + start + end");
        assert_eq!(w.lost_in_window, 0);
        assert!(w.below_min_duration, "a 1 s window is flagged, MLPerf wants >= 10 s");
    })
    .await;
}

#[tokio::test]
async fn lpm01a_noise_drops_and_garbage_stay_within_tolerance_and_are_counted() {
    bounded("lpm01a faults", async {
        let want = profile().window_uj(1.8);
        // ~1 % of sample lines damaged, 1 % garbage lines, 3 % noise; several seeds so that a
        // lucky stream cannot pass the test.
        for seed in 1..=6 {
            let faults =
                Faults { noise_rel: 0.03, drop_byte_prob: 0.002, garbage_prob: 0.01, seed, ..Faults::default() };
            let w = lpm_window(faults, spec(20, 0.05)).await.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            assert!(w.lost_in_window > 0, "seed {seed}: drops must show up as lost samples: {w:?}");
            assert!(rel_err(w.total_uj, want) < 0.01, "seed {seed}: {w} vs {want} uJ");
        }
        // The same faults with MLPerf's 0.1 % limit are refused, and the message says why.
        let faults =
            Faults { noise_rel: 0.03, drop_byte_prob: 0.002, garbage_prob: 0.01, seed: 7, ..Faults::default() };
        let err = lpm_window(faults, WindowSpec::mlperf(20)).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, EnergyError::Window { source: WindowError::TooManyLost { .. }, .. }), "{msg}");
        assert!(msg.contains("LPM01A on sim-lpm") && msg.contains("samples in the window were lost"), "{msg}");
    })
    .await;
}

#[tokio::test]
async fn lpm01a_lost_event_line_is_an_error_not_a_wrong_window() {
    bounded("lpm01a lost event", async {
        // Lose the start event: the monitor's numbering has a gap (1, 3).
        let faults = Faults { drop_event: Some(1), ..Faults::default() };
        let err = lpm_window(faults, spec(20, 0.0)).await.unwrap_err();
        match &err {
            EnergyError::Window { source: WindowError::NonConsecutiveEvents { seqs }, .. } => assert_eq!(seqs, &[1, 3]),
            other => panic!("wrong error: {other}"),
        }
        // Lose the end event: the last two would be glitch + start, a plausible but wrong
        // window with consecutive numbers; the expected event count catches it.
        let faults = Faults { drop_event: Some(2), ..Faults::default() };
        let err = lpm_window(faults, spec(20, 0.0)).await.unwrap_err();
        assert!(
            matches!(
                err,
                EnergyError::Window { source: WindowError::UnexpectedEventCount { expected: 3, found: 2 }, .. }
            ),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn lpm01a_monitor_that_stops_sending_times_out_naming_device_and_port() {
    bounded("lpm01a stall", async {
        let (host, dev) = tokio::io::duplex(64 * 1024);
        let faults = Faults { stall_after_samples: Some(300), ..Faults::default() };
        let sim = sim::spawn_lpm01a(dev, profile(), faults);
        let mut mon = Lpm01a::new(host, "/dev/ttyLPM-test", lpm_cfg());
        mon.configure().await.unwrap();
        mon.start().await.unwrap();
        signal("stall", sim.stalled).await;
        // The runner would be waiting for the DUT's `infer` here; the monitor's silence ends
        // the acquisition after `data_timeout`.
        let started = tokio::time::Instant::now();
        mon.acquisition_ended().await;
        let err = mon.stop().await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, EnergyError::Timeout { .. }), "{msg}");
        assert!(msg.contains("LPM01A") && msg.contains("/dev/ttyLPM-test"), "{msg}");
        assert!(msg.contains("sample data") && msg.contains("after 300 samples"), "{msg}");
        // The driver gave up on its own deadlines, well before the test's bound.
        assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
        // The driver is idle again; a further command to the dead monitor times out too.
        let again = mon.set_dut_power(false).await.unwrap_err();
        assert!(again.to_string().contains("`ack` for `pwr off`"), "{again}");
    })
    .await;
}

#[tokio::test]
async fn lpm01a_refused_and_invalid_settings_name_the_command() {
    bounded("lpm01a refusals", async {
        let (host, dev) = tokio::io::duplex(64 * 1024);
        let _sim = sim::spawn_lpm01a(dev, profile(), Faults { refuse: Some("eventsrc".into()), ..Faults::default() });
        let mut mon = Lpm01a::new(host, "sim-lpm", lpm_cfg());
        let err = mon.configure().await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, EnergyError::Refused { .. }), "{msg}");
        assert!(msg.contains("`eventsrc d7 fal` refused") && msg.contains("simulated refusal"), "{msg}");
        // start without a successful configure is refused by the driver, not sent.
        assert!(matches!(mon.start().await, Err(EnergyError::State { .. })));
        // Out-of-range settings are refused before anything is sent.
        let (host, _dev) = tokio::io::duplex(1024);
        let mut mon = Lpm01a::new(host, "sim-lpm", Lpm01aConfig { voltage_mv: 1200, ..lpm_cfg() });
        let err = mon.configure().await.unwrap_err();
        assert!(err.to_string().contains("1200 mV is outside 1800..=3300"), "{err}");
        let (host, _dev) = tokio::io::duplex(1024);
        let mut mon = Lpm01a::new(host, "sim-lpm", Lpm01aConfig { sample_rate_hz: 10_000, ..lpm_cfg() });
        assert!(matches!(mon.configure().await, Err(EnergyError::InvalidSetting { .. })));
    })
    .await;
}

#[tokio::test]
async fn lpm01a_closed_stream_and_silent_port_are_errors() {
    bounded("lpm01a closed/silent", async {
        let (host, dev) = tokio::io::duplex(1024);
        drop(dev);
        let mut mon = Lpm01a::new(host, "/dev/gone", lpm_cfg());
        let err = mon.configure().await.unwrap_err();
        assert!(err.to_string().contains("LPM01A on /dev/gone"), "{err}");
        // Something that never answers: timeout naming what was expected.
        let (host, _dev) = tokio::io::duplex(1024);
        let mut mon =
            Lpm01a::new(host, "/dev/silent", Lpm01aConfig { reply_timeout: Duration::from_millis(200), ..lpm_cfg() });
        let err = mon.configure().await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("LPM01A on /dev/silent: no `ack` for `htc` within 200ms"), "{msg}");
    })
    .await;
}

#[tokio::test]
async fn lpm01a_garbage_never_panics() {
    // Random bytes, random lines of sample characters, and the driver on a stream of garbage.
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut p = Lpm01aParser::new("fuzz", 1000, 1.8);
    for _ in 0..20_000 {
        let len = (next() % 40) as usize;
        let alphabet: &[u8] = if next() % 2 == 0 {
            b"0123456789+-"
        } else {
            b"event ris TimeStamp: s ms, buff % ack error 0123456789\xff\x00"
        };
        let line: Vec<u8> = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
        p.feed(&line);
    }
    let _ = p.capture.window(&WindowSpec::mlperf(1));
    bounded("lpm01a on garbage", async {
        let (host, mut dev) = tokio::io::duplex(64 * 1024);
        let junk: Vec<u8> = (0..50_000).map(|i| (i * 7919 % 251) as u8).collect();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = dev.write_all(&junk).await;
            // Keep the stream open, silent: the driver must time out.
            std::future::pending::<()>().await;
        });
        let mut mon =
            Lpm01a::new(host, "junk", Lpm01aConfig { reply_timeout: Duration::from_millis(200), ..lpm_cfg() });
        assert!(matches!(mon.configure().await, Err(EnergyError::Timeout { .. })));
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// PPK2

fn ppk_cfg() -> Ppk2Config {
    Ppk2Config {
        timestamp_channel: 3,
        voltage_mv: 1800,
        data_timeout: Duration::from_millis(300),
        drain_quiet: Duration::from_millis(50),
        ..Ppk2Config::default()
    }
}

async fn ppk_window(faults: Faults, spec: WindowSpec) -> Result<mcubench::energy::EnergyWindow, EnergyError> {
    let (host, dev) = tokio::io::duplex(256 * 1024);
    let sim = sim::spawn_ppk2(dev, profile(), faults, 3, true);
    let mut mon = Ppk2::new(host, "sim-ppk2", ppk_cfg());
    mon.configure().await?;
    assert_eq!(mon.calibration(), Some(&sim::test_calibration()), "metadata must round-trip exactly");
    mon.set_dut_power(true).await?;
    mon.start().await?;
    signal("profile sent", sim.profile_sent).await;
    mon.stop_window(&spec).await
}

#[tokio::test]
async fn ppk2_energy_matches_the_profile() {
    bounded("ppk2 clean", async {
        let want = profile().window_uj(1.8);
        let w = ppk_window(Faults::default(), spec(20, 0.0)).await.unwrap();
        // ADC steps are ~0.4 uA in the range these currents use.
        assert!(rel_err(w.total_uj, want) < 1e-3, "{w} vs {want} uJ");
        assert!((w.duration_s - 1.0).abs() < 1e-9, "{}", w.duration_s);
        assert_eq!((w.start_sample, w.end_sample), (5_000, 105_000));
        assert_eq!(w.events_seen, 3, "boot glitch + start + end on D3");
        assert_eq!(w.lost_in_window, 0);
    })
    .await;
}

#[tokio::test]
async fn ppk2_switches_measurement_ranges_with_their_own_calibration() {
    bounded("ppk2 ranges", async {
        // 50 uA idle (range 0, the 1 kohm shunt) and 20 mA active (range 2, 10 ohm): every
        // inference switches range twice, each range decoded with its own coefficients.
        let wide = Profile::mlperf(50e-6, 20e-3, 20, 0.040, 0.010);
        let (host, dev) = tokio::io::duplex(256 * 1024);
        let sim = sim::spawn_ppk2(dev, wide.clone(), Faults::default(), 3, true);
        let mut mon = Ppk2::new(host, "sim-ppk2", ppk_cfg());
        mon.configure().await.unwrap();
        mon.start().await.unwrap();
        signal("profile sent", sim.profile_sent).await;
        let w = mon.stop_window(&spec(20, 0.0)).await.unwrap();
        let want = wide.window_uj(1.8);
        assert!(rel_err(w.total_uj, want) < 1e-3, "{w} vs {want} uJ");
    })
    .await;
}

#[tokio::test]
async fn ppk2_wrong_channel_sees_no_events() {
    bounded("ppk2 channel", async {
        let (host, dev) = tokio::io::duplex(256 * 1024);
        let sim = sim::spawn_ppk2(dev, profile(), Faults::default(), 5, true);
        let mut mon = Ppk2::new(host, "sim-ppk2", ppk_cfg()); // listens on D3
        mon.configure().await.unwrap();
        mon.start().await.unwrap();
        signal("profile sent", sim.profile_sent).await;
        let err = mon.stop_window(&WindowSpec::mlperf(20)).await.unwrap_err();
        assert!(err.to_string().contains("0 timestamp event(s)"), "{err}");
    })
    .await;
}

#[tokio::test]
async fn ppk2_noise_drops_and_garbage_stay_within_tolerance_and_are_counted() {
    bounded("ppk2 faults", async {
        let want = profile().window_uj(1.8);
        // ~9 dropped bytes and ~2 bursts of garbage per run: each must be resynchronised
        // without inventing a sample (a misread frame can be worth amperes) or an edge.
        for seed in 1..=6 {
            let faults =
                Faults { noise_rel: 0.03, drop_byte_prob: 2e-5, garbage_prob: 2e-5, seed, ..Faults::default() };
            let w = ppk_window(faults, spec(20, 0.01)).await.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            assert!(w.lost_in_window > 0, "seed {seed}: drops must show up as lost samples: {w:?}");
            assert_eq!(w.events_seen, 3, "seed {seed}: no edge may be invented by a damaged frame");
            assert!(rel_err(w.total_uj, want) < 0.002, "seed {seed}: {w} vs {want} uJ");
        }
    })
    .await;
}

#[tokio::test]
async fn ppk2_monitor_that_stops_sending_times_out_naming_device_and_port() {
    bounded("ppk2 stall", async {
        let (host, dev) = tokio::io::duplex(256 * 1024);
        let faults = Faults { stall_after_samples: Some(20_000), ..Faults::default() };
        let sim = sim::spawn_ppk2(dev, profile(), faults, 3, true);
        let mut mon = Ppk2::new(host, "/dev/ttyPPK2-test", ppk_cfg());
        mon.configure().await.unwrap();
        mon.start().await.unwrap();
        signal("stall", sim.stalled).await;
        // A PPK2 has no end-of-stream marker: a stop right after a stall would look like a clean
        // end. The silence is caught while the DUT runs, as a runner sees it.
        mon.acquisition_ended().await;
        let err = mon.stop().await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, EnergyError::Timeout { .. }), "{msg}");
        assert!(msg.contains("PPK2 on /dev/ttyPPK2-test") && msg.contains("after 20000 samples"), "{msg}");
    })
    .await;
}

#[tokio::test]
async fn ppk2_without_metadata_answer_times_out_naming_what_was_expected() {
    bounded("ppk2 no metadata", async {
        let (host, dev) = tokio::io::duplex(4096);
        let _sim = sim::spawn_ppk2(dev, profile(), Faults::default(), 3, false);
        let mut mon =
            Ppk2::new(host, "/dev/ttyACM9", Ppk2Config { reply_timeout: Duration::from_millis(200), ..ppk_cfg() });
        let err = mon.configure().await.unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("PPK2 on /dev/ttyACM9: no metadata text ending in `END`"), "{msg}");
        let (host, _dev) = tokio::io::duplex(64);
        let mut mon = Ppk2::new(host, "x", Ppk2Config { voltage_mv: 5500, ..ppk_cfg() });
        assert!(mon.configure().await.unwrap_err().to_string().contains("5500 mV"));
    })
    .await;
}

#[test]
fn ppk2_decoder_never_panics_on_garbage() {
    let mut seed = 0xdead_beef_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..200 {
        let mut d = Decoder::new("fuzz", sim::test_calibration(), 1800, (round % 8) as u8, 10);
        for _ in 0..50 {
            let len = (next() % 300) as usize;
            let chunk: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            d.feed(&chunk);
        }
        d.finish();
        let _ = d.capture.window(&WindowSpec::mlperf(1));
        assert!(d.capture.samples.iter().all(|s| s.is_finite() || s.is_nan()));
    }
}
