//! The gate's outputs: a terminal summary, Markdown for a pull-request comment, JUnit XML.
use std::fmt::Write as _;

use crate::gate::{tally, Check, GateReport, Outcome, Status};

/// A figure for people: thousands separated, integers without decimals.
pub fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let neg = v < 0.0;
    let a = v.abs();
    let (int, frac) = if a.fract() == 0.0 && a < 1e15 {
        (format!("{a:.0}"), String::new())
    } else if a >= 1000.0 {
        let s = format!("{a:.1}");
        let (i, f) = s.split_once('.').unwrap();
        (i.to_owned(), format!(".{f}"))
    } else {
        let s = format!("{a:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
        match s.split_once('.') {
            Some((i, f)) => (i.to_owned(), format!(".{f}")),
            None => (s, String::new()),
        }
    };
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{}{grouped}{frac}", if neg { "-" } else { "" })
}

fn fmt_change(c: &Check) -> String {
    match (c.delta, c.pct) {
        (Some(d), Some(p)) => {
            let sign = if d > 0.0 { "+" } else { "" };
            if p.is_finite() {
                format!("{p:+.2}% ({sign}{})", fmt_value(d))
            } else {
                format!("{sign}{}", fmt_value(d))
            }
        }
        _ => String::new(),
    }
}

fn opt_value(v: Option<f64>, unit: &str) -> String {
    v.map(|v| format!("{} {unit}", fmt_value(v))).unwrap_or_else(|| "-".into())
}

fn rev(r: &Option<String>) -> String {
    r.as_deref().map(|r| format!(" @ {r}")).unwrap_or_default()
}

/// What a reader must act on, worst first.
fn notable(report: &GateReport) -> Vec<&Check> {
    let mut v: Vec<&Check> = report.checks.iter().filter(|c| !matches!(c.status, Status::Pass | Status::NotGated | Status::Skipped)).collect();
    v.sort_by_key(|c| c.status);
    v
}

fn summary_line(report: &GateReport) -> String {
    let t = tally(report);
    let gated: usize = t.iter().filter(|(s, _)| !matches!(s, Status::NotGated)).map(|(_, n)| n).sum();
    let parts: Vec<String> = t.iter().filter(|(s, _)| **s != Status::NotGated).map(|(s, n)| format!("{n} {}", s.label().to_lowercase())).collect();
    let mut line = format!("{gated} gated figure(s): {}", if parts.is_empty() { "none".into() } else { parts.join(", ") });
    if let Some(n) = t.get(&Status::NotGated) {
        let _ = write!(line, "; {n} not gated");
    }
    line
}

fn hint(report: &GateReport) -> Option<&'static str> {
    match report.outcome() {
        Outcome::Regression => Some("Fix the regression, or if it is intended, refresh the baseline (`mcubench baseline save`) in this pull request."),
        Outcome::Infrastructure => Some("Results are missing: a build or a board failed (see above). This is not a verdict on performance; fix or retry."),
        Outcome::Mismatch => Some("The baseline does not fit this run: refresh it (`mcubench baseline save`) or adjust the rules."),
        Outcome::CheckFailed => Some("Outputs differ from the goldens: the firmware computes wrong results."),
        Outcome::Pass if report.count(Status::Improved) > 0 => Some("Improvements beyond the limits: refresh the baseline (`mcubench baseline save`) so they are kept."),
        Outcome::Pass => None,
    }
}

/// The terminal summary.
pub fn terminal(report: &GateReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "mcubench gate: baseline '{}' ({}, run {}{}) vs run {}{}",
        report.baseline_name,
        report.baseline_path,
        report.baseline_run,
        rev(&report.baseline_revision),
        report.run_id.as_deref().unwrap_or("-"),
        rev(&report.run_revision)
    );
    let _ = writeln!(s, "rules: {}", report.rules_origin);
    for p in &report.failed_checks {
        let _ = writeln!(s, "  CHECK FAILED  {p}");
    }
    for p in &report.infrastructure {
        let _ = writeln!(s, "  JOB FAILED    {p}");
    }
    for c in notable(report) {
        let _ = writeln!(
            s,
            "  {:<13} {} / {}: {} -> {}  {}  limit {}  ({})",
            c.status.label(),
            c.job,
            c.metric.name(),
            opt_value(c.baseline, &c.unit),
            opt_value(c.current, &c.unit),
            fmt_change(c),
            if c.limit.is_empty() { "-" } else { &c.limit },
            c.detail
        );
    }
    for n in &report.notes {
        let _ = writeln!(s, "  note: {n}");
    }
    let _ = writeln!(s, "{}", summary_line(report));
    if let Some(h) = hint(report) {
        let _ = writeln!(s, "{h}");
    }
    let _ = writeln!(s, "gate {} (exit {})", report.outcome().headline(), report.exit_code());
    s
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn md_status(s: Status) -> &'static str {
    match s {
        Status::Regressed => "❌ regressed",
        Status::Missing => "⚠️ missing",
        Status::Incomparable => "⚠️ incomparable",
        Status::Inconclusive => "⚠️ inconclusive",
        Status::Improved => "🎉 improved",
        Status::Pass => "✅ ok",
        Status::New => "🆕 new",
        Status::Skipped => "⏭️ skipped",
        Status::NotGated => "not gated",
    }
}

fn md_table(s: &mut String, checks: &[&Check]) {
    s.push_str("| Status | Board | Framework | Workload | Metric | Baseline | Current | Change | Limit | Detail |\n");
    s.push_str("|---|---|---|---|---|---:|---:|---:|---:|---|\n");
    for c in checks {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            md_status(c.status),
            md_escape(&c.job.board),
            md_escape(&c.job.framework),
            md_escape(&c.job.workload),
            c.metric.name(),
            opt_value(c.baseline, &c.unit),
            opt_value(c.current, &c.unit),
            fmt_change(c),
            md_escape(&c.limit),
            md_escape(&c.detail)
        );
    }
}

/// The Markdown summary, for a pull-request comment.
pub fn markdown(report: &GateReport) -> String {
    let mut s = String::new();
    let icon = match report.outcome() {
        Outcome::Pass => "✅",
        Outcome::Regression | Outcome::CheckFailed => "❌",
        Outcome::Infrastructure | Outcome::Mismatch => "⚠️",
    };
    let _ = writeln!(s, "## {icon} mcubench gate {}\n", report.outcome().headline());
    let _ = writeln!(
        s,
        "Baseline `{}` (`{}`, run `{}`{}) vs run `{}`{}. Rules: `{}`. Exit code {}.\n",
        report.baseline_name,
        report.baseline_path,
        report.baseline_run,
        rev(&report.baseline_revision),
        report.run_id.as_deref().unwrap_or("-"),
        rev(&report.run_revision),
        report.rules_origin,
        report.exit_code()
    );
    if !report.failed_checks.is_empty() {
        s.push_str("**Correctness checks failed:**\n\n");
        for p in &report.failed_checks {
            let _ = writeln!(s, "- {}", md_escape(p));
        }
        s.push('\n');
    }
    if !report.infrastructure.is_empty() {
        s.push_str("**Jobs failed (infrastructure):**\n\n");
        for p in &report.infrastructure {
            let _ = writeln!(s, "- {}", md_escape(p));
        }
        s.push('\n');
    }
    let notable = notable(report);
    if !notable.is_empty() {
        md_table(&mut s, &notable);
        s.push('\n');
    }
    let _ = writeln!(s, "{}.\n", summary_line(report));
    if let Some(h) = hint(report) {
        let _ = writeln!(s, "{h}\n");
    }
    for n in &report.notes {
        let _ = writeln!(s, "> note: {}", md_escape(n));
    }
    if !report.notes.is_empty() {
        s.push('\n');
    }
    let all: Vec<&Check> = report.checks.iter().filter(|c| c.status != Status::NotGated).collect();
    if !all.is_empty() {
        let _ = writeln!(s, "<details><summary>All {} gated figures</summary>\n", all.len());
        md_table(&mut s, &all);
        s.push_str("\n</details>\n");
    }
    s
}

fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            '\n' => o.push_str("&#10;"),
            c if (c as u32) < 0x20 && c != '\t' => {}
            c => o.push(c),
        }
    }
    o
}

/// JUnit XML: one test suite per job, one test case per board x framework x workload x
/// metric. Regressions are `<failure>`s; missing, incomparable and inconclusive figures are
/// `<error>`s; ungated and skipped ones `<skipped>`. Job failures and failed correctness checks
/// get a test case of their own.
pub fn junit(report: &GateReport) -> String {
    let mut suites: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    let (mut tests, mut failures, mut errors, mut skipped) = (0, 0, 0, 0);
    for c in &report.checks {
        let suite = c.job.to_string().replace(" / ", "/");
        let message = format!(
            "{} {}: {} -> {} {} (limit {}) {}",
            c.status.label(),
            c.metric.name(),
            opt_value(c.baseline, &c.unit),
            opt_value(c.current, &c.unit),
            fmt_change(c),
            if c.limit.is_empty() { "-" } else { &c.limit },
            c.detail
        );
        let body = match c.status {
            Status::Regressed => {
                failures += 1;
                format!("\n      <failure type=\"regression\" message=\"{}\"/>\n    ", xml(&message))
            }
            Status::Missing | Status::Incomparable | Status::Inconclusive => {
                errors += 1;
                format!("\n      <error type=\"{}\" message=\"{}\"/>\n    ", c.status.label().to_lowercase(), xml(&message))
            }
            Status::NotGated | Status::Skipped | Status::New => {
                skipped += 1;
                format!("\n      <skipped message=\"{}\"/>\n    ", xml(&message))
            }
            Status::Pass | Status::Improved => format!("\n      <system-out>{}</system-out>\n    ", xml(&message)),
        };
        tests += 1;
        suites.entry(suite.clone()).or_default().push(format!(
            "    <testcase classname=\"mcubench.gate.{}\" name=\"{}\" time=\"0\">{body}</testcase>\n",
            xml(&suite.replace('/', ".")),
            xml(c.metric.name())
        ));
    }
    for (kind, list) in [("job-failure", &report.infrastructure), ("check-failure", &report.failed_checks)] {
        for (i, p) in list.iter().enumerate() {
            tests += 1;
            let tag = if kind == "job-failure" {
                errors += 1;
                "error"
            } else {
                failures += 1;
                "failure"
            };
            suites.entry("run".into()).or_default().push(format!(
                "    <testcase classname=\"mcubench.gate.run\" name=\"{kind}-{}\" time=\"0\">\n      <{tag} type=\"{kind}\" message=\"{}\"/>\n    </testcase>\n",
                i + 1,
                xml(p)
            ));
        }
    }
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"mcubench gate\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">"
    );
    for (name, cases) in &suites {
        let count = |needle: &str| cases.iter().filter(|c| c.contains(needle)).count();
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
            xml(name),
            cases.len(),
            count("<failure "),
            count("<error "),
            count("<skipped ")
        );
        for c in cases {
            s.push_str(c);
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_well() {
        assert_eq!(fmt_value(2_026_868.6), "2,026,868.6");
        assert_eq!(fmt_value(314_040.0), "314,040");
        assert_eq!(fmt_value(768.0), "768");
        assert_eq!(fmt_value(81.074744), "81.0747");
        assert_eq!(fmt_value(-1234.0), "-1,234");
        assert_eq!(fmt_value(0.5), "0.5");
    }

    #[test]
    fn xml_escapes() {
        assert_eq!(xml("a<b & \"c\"\n"), "a&lt;b &amp; &quot;c&quot;&#10;");
    }
}
