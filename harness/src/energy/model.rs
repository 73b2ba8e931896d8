//! `modeled` energy: what a board's datasheet power figures predict, for boards without a monitor.
//!
//! E = V x (I_static + I_per_MHz x f_MHz) x t. This is a model, not a measurement: datasheet
//! run-mode currents assume a given code pattern (often CoreMark or a while(1) loop), flash wait
//! states and peripherals off, so real inference energy can be off by tens of percent. Records
//! made from it carry `source: modeled` and the power model's `source` string as provenance.

use crate::config::PowerModel;

/// Modeled energy of a run lasting `latency_s` at `clock_hz`, in microjoules.
///
/// Units: uA x V x s = uJ, so no scale factors are needed. Returns NaN when the inputs are not
/// finite or negative (boards.yaml validation already refuses such power models; a NaN latency
/// stays visible instead of becoming a plausible-looking number).
pub fn modeled(power: &PowerModel, clock_hz: u64, latency_s: f64) -> f64 {
    let mhz = clock_hz as f64 / 1e6;
    let current_ua = power.static_ua + power.active_ua_per_mhz * mhz;
    if !(latency_s >= 0.0) || !latency_s.is_finite() || !(current_ua >= 0.0) || !(power.voltage_v > 0.0) {
        return f64::NAN;
    }
    power.voltage_v * current_ua * latency_s
}

/// Modeled average power at `clock_hz`, in milliwatts (uA x V = uW).
pub fn modeled_power_mw(power: &PowerModel, clock_hz: u64) -> f64 {
    power.voltage_v * (power.static_ua + power.active_ua_per_mhz * clock_hz as f64 / 1e6) / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm(voltage_v: f64, active_ua_per_mhz: f64, static_ua: f64) -> PowerModel {
        PowerModel { voltage_v, active_ua_per_mhz, static_ua, source: "test".into() }
    }

    #[test]
    fn hand_computed_values() {
        // 3.3 V x (0 + 100 uA/MHz x 25 MHz) x 0.1 s = 3.3 x 2500 uA x 0.1 s = 825 uJ.
        assert!((modeled(&pm(3.3, 100.0, 0.0), 25_000_000, 0.1) - 825.0).abs() < 1e-9);
        // 1.8 V x (250 uA + 43 uA/MHz x 120 MHz = 5410 uA) x 50 ms = 486.9 uJ.
        assert!((modeled(&pm(1.8, 43.0, 250.0), 120_000_000, 0.05) - 486.9).abs() < 1e-9);
        // Static current alone: 3.0 V x 1000 uA x 2 s = 6000 uJ, whatever the clock.
        assert!((modeled(&pm(3.0, 0.0, 1000.0), 80_000_000, 2.0) - 6000.0).abs() < 1e-9);
        // Power: 3.3 V x 2500 uA = 8.25 mW.
        assert!((modeled_power_mw(&pm(3.3, 100.0, 0.0), 25_000_000) - 8.25).abs() < 1e-12);
    }

    #[test]
    fn zero_latency_is_zero_and_bad_inputs_are_nan() {
        assert_eq!(modeled(&pm(3.3, 100.0, 5.0), 25_000_000, 0.0), 0.0);
        assert!(modeled(&pm(3.3, 100.0, 0.0), 25_000_000, -1.0).is_nan());
        assert!(modeled(&pm(3.3, 100.0, 0.0), 25_000_000, f64::NAN).is_nan());
        assert!(modeled(&pm(3.3, 100.0, 0.0), 25_000_000, f64::INFINITY).is_nan());
        assert!(modeled(&pm(0.0, 100.0, 0.0), 25_000_000, 1.0).is_nan());
    }
}
