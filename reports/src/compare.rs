//! Our results next to published ones: same model, comparable board and clock, the ratio,
//! and plainly what makes a comparison not like for like.
use std::cmp::Ordering;

use crate::grid::{fmt_sig, Cell, Table};
use crate::layouts::peak_ram;
use crate::published::PublishedRow;
use crate::record::{Metric, Source};
use crate::summary::{fmt_mhz, Analysis, System};

/// Published models that are close to one of ours but not the same model.
const SIMILAR: [(&str, &str, &str); 2] = [
    ("vww01", "person_detect", "similar model: TFLM person_detect is MobileNetV1-0.25 96x96 on 1-channel input; vww01 takes 3 channels"),
    ("vww01", "vww96", "similar model: TinyMaix's own vww96 (MobileNetV1-0.25 96x96) conversion"),
];

/// Options of the comparison.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Published figures shown per (system, model, metric), best matches first.
    pub limit: usize,
    /// Also show published figures of other cores when none of the same core exist.
    pub other_cores: bool,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions { limit: 3, other_cores: true }
    }
}

/// The Arm Cortex-M core family named in a free-text processor field: `M4`, `M7`, `M33`, `M0+`...
/// `Cortex-M4F` and `Cortex-M4 (DSP + FPU)` are both `M4`.
pub fn core_family(cpu: &str) -> Option<String> {
    let b: Vec<char> = cpu.chars().collect();
    for i in 1..b.len() {
        if b[i] == 'M' && (b[i - 1] == '-' || b[i - 1] == ' ' || b[i - 1] == '®') {
            let digits: String = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).collect();
            if digits.is_empty() {
                continue;
            }
            let plus = b.get(i + 1 + digits.len()) == Some(&'+');
            return Some(format!("M{digits}{}", if plus { "+" } else { "" }));
        }
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quantity {
    LatencyMs,
    EnergyUj,
    FlashKb,
    PeakRamKb,
}

impl Quantity {
    fn published_metric(self) -> &'static str {
        match self {
            Quantity::LatencyMs => "latency_ms",
            Quantity::EnergyUj => "energy_uj",
            Quantity::FlashKb => "flash_kb",
            Quantity::PeakRamKb => "peak_ram_kb",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Quantity::LatencyMs => "latency (ms)",
            Quantity::EnergyUj => "energy (uJ)",
            Quantity::FlashKb => "flash (KB)",
            Quantity::PeakRamKb => "peak RAM (KB)",
        }
    }
    /// Our figure in the published unit, with its source and how it was derived.
    fn ours(self, a: &Analysis, sys: &System, w: &str) -> Option<(f64, Source, Option<String>)> {
        let st = |m| a.best(sys, w, m).map(|s| (s.median, s.source, s.note.clone()));
        match self {
            Quantity::LatencyMs => st(Metric::LatencyMs),
            Quantity::EnergyUj => st(Metric::EnergyUj),
            Quantity::FlashKb => st(Metric::FlashBytes).map(|(v, s, n)| (v / 1024.0, s, n)),
            Quantity::PeakRamKb => peak_ram(a, sys, w).map(|(v, s, how)| (v / 1024.0, s, Some(how))),
        }
    }
}

/// A published row matched to one of our figures.
struct Match<'p> {
    row: &'p PublishedRow,
    similar: Option<&'static str>,
    same_core: bool,
    clock_distance: f64,
    tflm_like: bool,
    closed: bool,
}

fn model_match(workload: &str, model: &str) -> Option<Option<&'static str>> {
    if model.eq_ignore_ascii_case(workload) {
        return Some(None);
    }
    let m = model.to_ascii_lowercase();
    SIMILAR.iter().find(|(w, p, _)| *w == workload && m.starts_with(p)).map(|(_, _, note)| Some(*note))
}

fn candidates<'p>(
    published: &'p [PublishedRow],
    sys: &System,
    w: &str,
    q: Quantity,
    opts: &CompareOptions,
) -> Vec<Match<'p>> {
    let ours_core = core_family(&sys.cpu);
    let mut v: Vec<Match> = published
        .iter()
        .filter(|r| r.metric == q.published_metric() && r.value.is_some())
        .filter_map(|r| {
            let similar = model_match(w, &r.model)?;
            let core = core_family(&r.cpu);
            let same_core = core.is_some() && core == ours_core;
            let clock_distance = r.clock_mhz.map(|c| (c / sys.clock_mhz()).ln().abs()).unwrap_or(f64::INFINITY);
            let fw = r.framework.to_ascii_lowercase();
            let tflm_like = fw.contains("tflm") || fw.contains("tflite") || fw.contains("tf-lite") || fw.contains("cmsis");
            let closed = !r.notes.contains("open division");
            // Arm Cortex-M only: accelerators, DSPs and application cores are not comparable.
            (core.is_some()).then_some(Match { row: r, similar, same_core, clock_distance, tflm_like, closed })
        })
        .collect();
    if v.iter().any(|m| m.same_core) || !opts.other_cores {
        v.retain(|m| m.same_core);
    }
    v.sort_by(|a, b| {
        b.same_core
            .cmp(&a.same_core)
            .then(a.similar.is_some().cmp(&b.similar.is_some()))
            .then(b.closed.cmp(&a.closed))
            .then(b.tflm_like.cmp(&a.tflm_like))
            .then(a.clock_distance.partial_cmp(&b.clock_distance).unwrap_or(Ordering::Equal))
            .then(a.row.source.cmp(&b.row.source))
            .then(a.row.line.cmp(&b.row.line))
    });
    // The same figure re-listed in several rounds counts once.
    let mut seen = Vec::new();
    v.retain(|m| {
        let key = (m.row.board.clone(), m.row.framework.clone(), m.row.value_text.clone());
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    });
    v.truncate(opts.limit);
    v
}

/// Why a comparison is not like for like (empty: it is).
fn differences(a: &Analysis, sys: &System, our_source: Source, our_note: Option<&str>, m: &Match) -> Vec<String> {
    let r = m.row;
    let mut d = Vec::new();
    if let Some(note) = m.similar {
        d.push(note.to_string());
    }
    if !m.closed {
        d.push("open division".into());
    }
    match r.clock_mhz {
        Some(c) if ((c - sys.clock_mhz()) / c).abs() > 0.01 => {
            d.push(format!("clock {} vs {} MHz", fmt_mhz(sys.clock_mhz()), fmt_mhz(c)))
        }
        Some(_) => {}
        None => d.push("published clock unknown".into()),
    }
    if !m.same_core {
        d.push(format!(
            "core {} vs {}",
            core_family(&sys.cpu).unwrap_or_else(|| sys.cpu.clone()),
            core_family(&r.cpu).unwrap_or_else(|| "unknown".into())
        ));
    }
    let fw = r.framework.to_ascii_lowercase();
    let same_fw = fw.contains(&sys.framework.to_ascii_lowercase())
        && !sys.framework_version.is_empty()
        && fw.contains(&sys.framework_version.to_ascii_lowercase());
    if !same_fw {
        d.push(format!("framework {} vs {}", sys.framework_label(), short(&r.framework, 40)));
    }
    let ours_cc = a.toolchains.get(sys).cloned().unwrap_or_else(|| "unknown".into());
    let ours_cc_short = ours_cc.split(" (").next().unwrap_or(&ours_cc).to_string();
    let text = format!("{} {}", r.notes, r.framework).to_ascii_lowercase();
    if !text.contains(&ours_cc_short.to_ascii_lowercase()) {
        d.push(format!("compiler {ours_cc_short} vs {}", if text.contains("gcc") || text.contains("-o") { "theirs (see notes)" } else { "not stated" }));
    }
    if sys.emulated() {
        d.push(if r.board.to_ascii_lowercase().contains("fvp") { "emulated vs FVP".into() } else { "emulated (QEMU) vs silicon".into() });
    }
    if our_source == Source::Modeled {
        d.push(match our_note {
            Some(n) if n.contains("1 instruction per cycle") => "ours modeled at 1 instruction per cycle".into(),
            _ => "ours modeled".into(),
        });
    }
    d
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// The comparison table. `published` is the shipped dataset plus any user files.
pub fn compare_table(a: &Analysis, published: &[PublishedRow], opts: &CompareOptions) -> Table {
    let columns = [
        "Model",
        "Metric",
        "Our system",
        "Ours",
        "Published",
        "Published system",
        "Source",
        "Ours / published",
        "At equal clock",
        "Like for like?",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    let mut refs: Vec<String> = Vec::new();
    for w in &a.workloads {
        for sys in a.systems_for(w) {
            for q in [Quantity::LatencyMs, Quantity::EnergyUj, Quantity::FlashKb, Quantity::PeakRamKb] {
                let Some((ours, our_source, our_note)) = q.ours(a, sys, w) else { continue };
                for m in candidates(published, sys, w, q, opts) {
                    let r = m.row;
                    let theirs = r.value.unwrap_or(f64::NAN);
                    let ratio = ours / theirs;
                    let at_clock = match (q, r.clock_mhz) {
                        (Quantity::LatencyMs, Some(c)) => {
                            let v = ours * sys.clock_mhz() / (theirs * c);
                            format!("{}x cycles", fmt_sig(v))
                        }
                        _ => "n/a".into(),
                    };
                    let diffs = differences(a, sys, our_source, our_note.as_deref(), &m);
                    let like = if diffs.is_empty() { "yes".to_string() } else { format!("no: {}", diffs.join("; ")) };
                    let reference = format!("{} ({}:{}): {}", r.source_ref, r.file, r.line, r.notes);
                    let n = match refs.iter().position(|x| *x == reference) {
                        Some(i) => i + 1,
                        None => {
                            refs.push(reference);
                            refs.len()
                        }
                    };
                    let clock = r.clock_mhz.map(|c| format!(" @ {} MHz", fmt_mhz(c))).unwrap_or_default();
                    rows.push(vec![
                        Cell::text(if r.model.eq_ignore_ascii_case(w) { w.clone() } else { format!("{w} ~ {}", short(&r.model, 24)) }),
                        Cell::text(q.label()),
                        Cell::text(format!("{} ({} @ {} MHz) / {}", sys.board, sys.cpu, fmt_mhz(sys.clock_mhz()), sys.framework_label())),
                        Cell::figure(ours, our_source, fmt_sig(ours)),
                        Cell::figure(theirs, Source::Published, fmt_sig(theirs)),
                        Cell::text(format!(
                            "{} ({}{clock}) / {}",
                            short(&r.board, 24),
                            core_family(&r.cpu).map(|c| format!("Cortex-{c}")).unwrap_or_else(|| short(&r.cpu, 20)),
                            short(&r.framework, 36)
                        )),
                        Cell::text(format!("{} [{n}]", r.source)),
                        Cell::text(format!("{}x", fmt_sig(ratio))),
                        Cell::text(at_clock),
                        Cell::text(like),
                    ]);
                }
            }
        }
    }
    let mut notes = vec![
        "Ours / published: our median divided by the published figure (>1: ours is larger or slower)".to_string(),
        "At equal clock: the same ratio with both latencies scaled to one clock, i.e. the ratio of cycles per inference".into(),
        "Like for like? lists every difference: model, clock, core, framework, compiler, emulated vs silicon, modeled vs measured".into(),
    ];
    if rows.is_empty() {
        notes.insert(0, "No published figure matches these results (same model on an Arm Cortex-M core).".into());
    }
    notes.extend(refs.iter().enumerate().map(|(i, r)| format!("[{}] {r}", i + 1)));
    Table { id: "compare".into(), title: "Our results next to published figures".into(), columns, rows, notes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_families() {
        assert_eq!(core_family("Cortex-M4").as_deref(), Some("M4"));
        assert_eq!(core_family("Cortex-M4F STM32F401RE").as_deref(), Some("M4"));
        assert_eq!(core_family("32-bit Arm® Cortex®-M4 (DSP + FPU)").as_deref(), Some("M4"));
        assert_eq!(core_family("Arm Cortex-M33 32-bit RISC core").as_deref(), Some("M33"));
        assert_eq!(core_family("32-bit Arm® Cortex®-M0+").as_deref(), Some("M0+"));
        assert_eq!(core_family("HiFi3 + M0").as_deref(), Some("M0"));
        assert_eq!(core_family("ARMv8-M Star-MC1"), None);
        assert_eq!(core_family("Xtensa LX6"), None);
    }
}
