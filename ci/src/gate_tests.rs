//! Gate logic: exact rules, statistical rules on synthetic noise, improvements, exit codes.
use std::path::Path;

use crate::record::{Metric, ResultRecord};

use super::*;
use crate::baseline::{Baseline, SaveOptions};
use crate::exit;
use crate::rules::GateRules;
use crate::stats::SplitMix64;
use crate::testutil::*;

fn rules(text: &str) -> GateRules {
    GateRules::parse(text, Path::new("gate.yaml")).unwrap()
}

fn baseline_of(records: &[ResultRecord]) -> Baseline {
    Baseline::from_records("test", "base-run", records, &SaveOptions::default()).unwrap()
}

fn gate(base: &[ResultRecord], run: &[ResultRecord], rules: &GateRules) -> GateReport {
    evaluate(&baseline_of(base), rules, "run2", run, &GateOptions { baseline_path: "b.yaml".into(), ..Default::default() })
}

fn status(r: &GateReport, board: &str, metric: Metric) -> Status {
    r.checks.iter().find(|c| c.job.board == board && c.metric == metric).unwrap_or_else(|| panic!("no {board} {metric:?} in {r:#?}")).status
}

fn replace(records: &[ResultRecord], metric: Metric, value: f64) -> Vec<ResultRecord> {
    records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let crate::record::Entry::Metric { metric: m, value: v, .. } = &mut r.entry {
                if *m == metric {
                    *v = value;
                }
            }
            r
        })
        .collect()
}

const BASE_INSTR: f64 = 2_026_868.6;

#[test]
fn identical_run_passes_with_exit_0() {
    let base = emulated_job("b1", BASE_INSTR);
    let r = gate(&base, &base, &GateRules::builtin());
    assert_eq!(r.exit_code(), exit::OK, "{}", crate::report::terminal(&r));
    assert_eq!(status(&r, "b1", Metric::Instructions), Status::Pass);
    assert!(r.checks.iter().all(|c| c.metric != Metric::HostInferMs), "host metrics are not in the baseline by default");
}

#[test]
fn exact_rules_compare_against_relative_and_absolute_limits() {
    let base = emulated_job("b1", BASE_INSTR);
    let r = GateRules::builtin(); // instructions +0.5%; flash +1% or +512 B; stack +5% or +64 B; arena 0%
    let at = |metric, value| gate(&base, &replace(&base, metric, value), &r);

    assert_eq!(status(&at(Metric::Instructions, BASE_INSTR * 1.004), "b1", Metric::Instructions), Status::Pass);
    let reg = at(Metric::Instructions, BASE_INSTR * 1.006);
    assert_eq!(status(&reg, "b1", Metric::Instructions), Status::Regressed);
    assert_eq!(reg.exit_code(), exit::REGRESSION);
    let text = crate::report::terminal(&reg);
    assert!(text.contains("REGRESSED     b1 / reference-runtime / ad01 / instructions: 2,026,868.6 instructions -> 2,039,029.8 instructions  +0.60% (+12,161.2)  limit +0.5%"), "{text}");

    // flash 314,040 B: +600 B is within +1% (3,140 B); +4,000 B is beyond both.
    assert_eq!(status(&at(Metric::FlashBytes, 314_640.0), "b1", Metric::FlashBytes), Status::Pass);
    assert_eq!(status(&at(Metric::FlashBytes, 318_040.0), "b1", Metric::FlashBytes), Status::Regressed);
    // stack 1,632 B: +80 B is within +5% (81.6 B); +100 B is beyond +5% and +64 B.
    assert_eq!(status(&at(Metric::StackBytes, 1712.0), "b1", Metric::StackBytes), Status::Pass);
    assert_eq!(status(&at(Metric::StackBytes, 1732.0), "b1", Metric::StackBytes), Status::Regressed);
    // arena: 0% means any growth.
    assert_eq!(status(&at(Metric::ArenaBytes, 769.0), "b1", Metric::ArenaBytes), Status::Regressed);
    assert_eq!(status(&at(Metric::ArenaBytes, 768.0), "b1", Metric::ArenaBytes), Status::Pass);
}

#[test]
fn absolute_only_and_overrides() {
    let base = emulated_job("b1", BASE_INSTR);
    let r = rules("version: 1\nmetrics:\n  static_ram_bytes: {max_increase_abs: 100}\noverrides:\n  - board: b1\n    metric: static_ram_bytes\n    max_increase_abs: 10\n");
    assert_eq!(status(&gate(&base, &replace(&base, Metric::StaticRamBytes, 4002.0), &r), "b1", Metric::StaticRamBytes), Status::Pass);
    assert_eq!(status(&gate(&base, &replace(&base, Metric::StaticRamBytes, 4003.0), &r), "b1", Metric::StaticRamBytes), Status::Regressed);
}

#[test]
fn improvements_are_reported_and_do_not_fail() {
    let base = emulated_job("b1", BASE_INSTR);
    let run = replace(&base, Metric::Instructions, BASE_INSTR * 0.9);
    let r = gate(&base, &run, &GateRules::builtin());
    assert_eq!(status(&r, "b1", Metric::Instructions), Status::Improved);
    assert_eq!(r.exit_code(), exit::OK);
    let md = crate::report::markdown(&r);
    assert!(md.contains("🎉 improved") && md.contains("-10.00%") && md.contains("refresh the baseline"), "{md}");
    // A small improvement within the improvement limit is just a pass.
    let r = gate(&base, &replace(&base, Metric::Instructions, BASE_INSTR * 0.999), &GateRules::builtin());
    assert_eq!(status(&r, "b1", Metric::Instructions), Status::Pass);
    // Its own improvement limit.
    let rl = rules("version: 1\nmetrics:\n  instructions: {max_increase_pct: 0.5, improvement_pct: 20}\n");
    assert_eq!(status(&gate(&base, &run, &rl), "b1", Metric::Instructions), Status::Pass);
}

/// Latency samples of a real board: `median * (1 + shift)` with Gaussian noise of relative
/// spread `sd`, and now and then an outlier 20% slower (an interrupt in the window).
fn noisy(rng: &mut SplitMix64, n: usize, median: f64, shift: f64, sd: f64) -> Vec<ResultRecord> {
    (0..n)
        .map(|_| {
            let outlier = if rng.unit() < 0.05 { 1.2 } else { 1.0 };
            real("dev", Metric::LatencyMs, median * (1.0 + shift) * (1.0 + sd * rng.normal()) * outlier)
        })
        .collect()
}

fn fire_rate(rules: &GateRules, n: usize, shift: f64, sd: f64, trials: u64) -> (usize, usize) {
    let (mut regressed, mut improved) = (0, 0);
    for seed in 0..trials {
        let mut rng = SplitMix64::new(1000 + seed);
        let base = noisy(&mut rng, n, 80.0, 0.0, sd);
        let run = noisy(&mut rng, n, 80.0, shift, sd);
        let r = gate(&base, &run, rules);
        match status(&r, "dev", Metric::LatencyMs) {
            Status::Regressed => regressed += 1,
            Status::Improved => improved += 1,
            Status::Pass => {}
            s => panic!("unexpected {s:?}"),
        }
    }
    (regressed, improved)
}

const LATENCY_3PCT: &str = "version: 1\nmetrics:\n  latency_ms: {max_increase_pct: 3}\n";

#[test]
fn statistical_rule_ignores_noise_of_known_spread() {
    // 2% spread with outliers, 15 samples a side, 300 seeded trials: never a regression,
    // never an improvement.
    let r = rules(LATENCY_3PCT);
    assert_eq!(fire_rate(&r, 15, 0.0, 0.02, 300), (0, 0));
    // A real but small (+1.5%) shift, under the 3% limit: the bootstrap rule never fails it
    // (the whole interval must clear the limit).
    assert_eq!(fire_rate(&r, 15, 0.015, 0.02, 300).0, 0);
    let mw = rules(&format!("{LATENCY_3PCT}statistics: {{test: mann-whitney}}\n"));
    assert_eq!(fire_rate(&mw, 15, 0.0, 0.02, 300), (0, 0));
}

#[test]
fn statistical_rule_fires_on_a_real_shift() {
    let r = rules(LATENCY_3PCT);
    let (regressed, _) = fire_rate(&r, 15, 0.10, 0.02, 200);
    assert!(regressed >= 196, "a +10% shift was flagged in only {regressed} of 200 trials");
    let (_, improved) = fire_rate(&r, 15, -0.10, 0.02, 200);
    assert!(improved >= 196, "a -10% shift was reported in only {improved} of 200 trials");
    let mw = rules(&format!("{LATENCY_3PCT}statistics: {{test: mann-whitney}}\n"));
    assert!(fire_rate(&mw, 15, 0.10, 0.02, 200).0 >= 196);
    // The verdict explains itself.
    let mut rng = SplitMix64::new(5);
    let rep = gate(&noisy(&mut rng, 15, 80.0, 0.0, 0.02), &noisy(&mut rng, 15, 80.0, 0.10, 0.02), &r);
    let c = rep.checks.iter().find(|c| c.metric == Metric::LatencyMs).unwrap();
    assert_eq!(c.comparison, Some(Comparison::Statistical));
    assert!(c.detail.starts_with("95% CI of the median change [+") && c.detail.ends_with("n = 15/15"), "{}", c.detail);
}

#[test]
fn too_few_samples_is_inconclusive_exit_2() {
    let mut rng = SplitMix64::new(1);
    let r = gate(&noisy(&mut rng, 10, 80.0, 0.0, 0.02), &noisy(&mut rng, 2, 80.0, 0.5, 0.02), &rules(LATENCY_3PCT));
    assert_eq!(status(&r, "dev", Metric::LatencyMs), Status::Inconclusive);
    assert_eq!(r.exit_code(), exit::USAGE);
    assert!(crate::report::terminal(&r).contains("needs 5 on each side"));
}

#[test]
fn failed_job_is_infrastructure_exit_4_naming_the_stage() {
    let base = [emulated_job("b1", BASE_INSTR), emulated_job("b2", BASE_INSTR)].concat();
    let mut run = emulated_job("b1", BASE_INSTR);
    run.push(failure("b2", "boot", "board unreachable: connection refused"));
    let r = gate(&base, &run, &GateRules::builtin());
    assert_eq!(status(&r, "b2", Metric::Instructions), Status::Missing);
    assert_eq!(r.exit_code(), exit::INFRASTRUCTURE);
    let text = crate::report::terminal(&r);
    assert!(text.contains("JOB FAILED    b2 / reference-runtime / ad01: boot: board unreachable"), "{text}");
    assert!(text.contains("the job failed: boot: board unreachable"), "{text}");
    // A job that did not run at all is missing too, unless the gate is told the run is partial.
    let only_b1 = emulated_job("b1", BASE_INSTR);
    let r = gate(&base, &only_b1, &GateRules::builtin());
    assert_eq!(r.exit_code(), exit::INFRASTRUCTURE);
    let r = evaluate(&baseline_of(&base), &GateRules::builtin(), "run2", &only_b1, &GateOptions { partial: true, ..Default::default() });
    assert_eq!(status(&r, "b2", Metric::Instructions), Status::Skipped);
    assert_eq!(r.exit_code(), exit::OK);
    // A regression elsewhere wins over the infrastructure failure.
    let mut run = replace(&emulated_job("b1", BASE_INSTR), Metric::Instructions, BASE_INSTR * 2.0);
    run.push(failure("b2", "build", "cargo build failed"));
    assert_eq!(gate(&base, &run, &GateRules::builtin()).exit_code(), exit::REGRESSION);
    // No records at all.
    assert_eq!(gate(&base, &[], &GateRules::builtin()).exit_code(), exit::INFRASTRUCTURE);
}

#[test]
fn a_retried_attempt_is_a_note_but_a_failed_last_attempt_is_infrastructure() {
    let base = [emulated_job("b1", BASE_INSTR), emulated_job("b2", BASE_INSTR)].concat();
    // b2 passed on its second attempt: its figures are there, the first attempt is a note.
    let mut run = base.clone();
    run.push(failure("b2", crate::record::STAGE_RETRIED, "attempt 1 of 2 failed at stage timeout: hang; retried on a fresh session"));
    let r = gate(&base, &run, &GateRules::builtin());
    assert_eq!(r.exit_code(), exit::OK, "{}", crate::report::terminal(&r));
    assert!(r.infrastructure.is_empty(), "{:?}", r.infrastructure);
    assert!(r.notes.iter().any(|n| n.contains("b2") && n.contains("retried after retried: attempt 1 of 2")), "{:?}", r.notes);
    // Both attempts failed: the last one's stage makes it infrastructure.
    let mut run = emulated_job("b1", BASE_INSTR);
    run.push(failure("b2", crate::record::STAGE_RETRIED, "attempt 1 of 2 failed at stage timeout: hang"));
    run.push(failure("b2", "timeout", "hang (attempt 2 of 2)"));
    let r = gate(&base, &run, &GateRules::builtin());
    assert_eq!(r.exit_code(), exit::INFRASTRUCTURE);
    assert_eq!(r.infrastructure.len(), 1, "{:?}", r.infrastructure);
    assert!(r.infrastructure[0].ends_with("timeout: hang (attempt 2 of 2)"), "{:?}", r.infrastructure);
}

#[test]
fn failed_correctness_check_is_exit_1() {
    let base = emulated_job("b1", BASE_INSTR);
    let mut run = base.clone();
    run.push(failed_check("b1", "seed 3: 2 of 10 output bytes differ"));
    let r = gate(&base, &run, &GateRules::builtin());
    assert_eq!(r.exit_code(), exit::CHECK_FAILED);
    assert!(crate::report::markdown(&r).contains("seed 3: 2 of 10 output bytes differ"));
}

#[test]
fn other_source_or_clock_is_incomparable_exit_2_and_new_jobs_are_reported() {
    let base = emulated_job("b1", BASE_INSTR);
    let mut run = base.clone();
    for r in run.iter_mut() {
        r.provenance.clock_hz = 50_000_000;
    }
    let r = gate(&base, &run, &GateRules::builtin());
    assert_eq!(status(&r, "b1", Metric::Instructions), Status::Incomparable);
    assert_eq!(r.exit_code(), exit::USAGE);

    let run: Vec<_> = base.iter().cloned().chain(emulated_job("b9", BASE_INSTR)).collect();
    let r = gate(&base, &run, &GateRules::builtin());
    assert_eq!(status(&r, "b9", Metric::Instructions), Status::New);
    assert_eq!(r.exit_code(), exit::OK);
}

#[test]
fn toolchain_change_is_noted() {
    let base = emulated_job("b1", BASE_INSTR);
    let mut run = base.clone();
    for r in run.iter_mut() {
        r.provenance.toolchain = Some("rustc 1.99.0".into());
    }
    let r = gate(&base, &run, &GateRules::builtin());
    assert_eq!(r.exit_code(), exit::OK);
    assert!(r.notes.iter().any(|n| n.contains("toolchain changed since the baseline (rustc 1.95.0 -> rustc 1.99.0)")), "{:?}", r.notes);
}

#[test]
fn junit_has_one_case_per_figure_and_markdown_lists_the_regression() {
    let base = [emulated_job("b1", BASE_INSTR), emulated_job("b2", BASE_INSTR)].concat();
    let run = [replace(&emulated_job("b1", BASE_INSTR), Metric::Instructions, BASE_INSTR * 1.05), emulated_job("b2", BASE_INSTR)].concat();
    let r = gate(&base, &run, &GateRules::builtin());
    let xml = crate::report::junit(&r);
    let figures = baseline_of(&base).figure_count();
    assert_eq!(xml.matches("<testcase ").count(), figures, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert!(xml.contains("<testsuite name=\"b1/reference-runtime/ad01\" tests=\"6\" failures=\"1\""), "{xml}");
    assert!(xml.contains("name=\"instructions\""));
    let md = crate::report::markdown(&r);
    assert!(md.starts_with("## ❌ mcubench gate failed: performance regression"), "{md}");
    assert!(md.contains("| ❌ regressed | b1 | reference-runtime | ad01 | instructions | 2,026,868.6 instructions | 2,128,212.0 instructions | +5.00% (+101,343.4) | +0.5% | exact |"), "{md}");
}

