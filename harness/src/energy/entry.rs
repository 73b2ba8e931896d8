//! Result-store entries for energy figures, so that every caller labels them the same way:
//! `measured` from a monitor window, `modeled` from a power model, nothing (`n/a`) otherwise.

use mcubench_reports::{Entry, Metric, Source};

use super::{modeled, EnergyWindow};
use crate::config::PowerModel;

/// `EnergyUj`, measured: energy per inference of one window, with the monitor and the window's
/// facts in the note (the table shows the source; the note says where the number came from).
pub fn measured_entry(w: &EnergyWindow) -> Entry {
    let mut note = format!(
        "{} on {}: {} inferences in a {:.3} s window (samples {}..{}), {:.4} mW",
        w.device, w.port, w.inferences, w.duration_s, w.start_sample, w.end_sample, w.mean_power_mw
    );
    if w.lost_in_window > 0 {
        note += &format!(", {} lost samples filled with the window mean", w.lost_in_window);
    }
    if w.below_min_duration {
        note += ", shorter than MLPerf Tiny's 10 s minimum";
    }
    Entry::Metric {
        metric: Metric::EnergyUj,
        value: w.per_inference_uj,
        unit: "uJ".into(),
        source: Source::Measured,
        note: Some(note),
    }
}

/// `EnergyUj`, modeled from the board's power model and a latency per inference; `None` when
/// the latency is not a usable number (the figure is then `n/a`, not a guess).
pub fn modeled_entry(power: &PowerModel, clock_hz: u64, latency_s: f64) -> Option<Entry> {
    let uj = modeled(power, clock_hz, latency_s);
    if !uj.is_finite() {
        return None;
    }
    let note = format!(
        "modeled: {} V x ({} uA + {} uA/MHz x {} MHz) x {:.6} s; {}",
        power.voltage_v,
        power.static_ua,
        power.active_ua_per_mhz,
        clock_hz as f64 / 1e6,
        latency_s,
        power.source
    );
    Some(Entry::Metric {
        metric: Metric::EnergyUj,
        value: uj,
        unit: "uJ".into(),
        source: Source::Modeled,
        note: Some(note),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_carry_source_unit_and_where_from() {
        let pm =
            PowerModel { voltage_v: 3.3, active_ua_per_mhz: 100.0, static_ua: 0.0, source: "DS test, table 9".into() };
        let Some(Entry::Metric { metric, value, unit, source, note }) = modeled_entry(&pm, 25_000_000, 0.1) else {
            panic!()
        };
        assert_eq!((metric, unit.as_str(), source), (Metric::EnergyUj, "uJ", Source::Modeled));
        assert!((value - 825.0).abs() < 1e-9);
        assert!(note.unwrap().ends_with("DS test, table 9"));
        assert!(modeled_entry(&pm, 25_000_000, f64::NAN).is_none());

        let w = EnergyWindow {
            device: "LPM01A".into(),
            port: "/dev/ttyACM1".into(),
            total_uj: 700.0,
            per_inference_uj: 10.0,
            duration_s: 12.5,
            mean_power_mw: 0.056,
            inferences: 70,
            start_sample: 100,
            end_sample: 12_600,
            events_seen: 3,
            lost_in_window: 2,
            below_min_duration: false,
        };
        let Entry::Metric { value, source, note, .. } = measured_entry(&w) else { panic!() };
        assert_eq!((value, source), (10.0, Source::Measured));
        let note = note.unwrap();
        assert!(note.starts_with("LPM01A on /dev/ttyACM1: 70 inferences in a 12.500 s window"), "{note}");
        assert!(note.contains("2 lost samples") && !note.contains("10 s minimum"), "{note}");
    }
}
