//! `mcubench gate` and `mcubench baseline`: the CI performance regression gate (the logic is
//! in the `mcubench-ci` crate; this is the command-line edge).
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use mcubench::store;
use mcubench_ci::baseline::{self, Baseline, SaveOptions};
use mcubench_ci::rules::GateRules;
use mcubench_ci::{exit, report, GateOptions, GateReport};
use mcubench_ci::record::ResultRecord;

pub const GATE_AFTER_HELP: &str = "\
Exit codes:
  0  every gated figure is within its limits (improvements beyond a limit are reported: refresh the baseline)
  1  a correctness check failed in the run (outputs differ from the goldens)
  2  bad usage or configuration: bad arguments, malformed rules or baseline, missing baseline, or a baseline
     that does not fit the run (other clock or source; too few samples for a statistical rule)
  3  performance regression: a figure grew beyond its limits
  4  infrastructure failure: a job failed (build, board unreachable, timeout), figures or results missing
When several apply, the first of 1, 3, 4, 2 wins.";

#[derive(Args)]
pub struct GateArgs {
    /// The baseline to compare with: a file, or a name in --baselines-dir (e.g. `default`).
    #[arg(long, value_name = "NAME|FILE")]
    baseline: String,
    /// Gate rules [default: ./ci/gate.yaml if it exists, else a built-in copy of mcubench's ci/gate.yaml].
    #[arg(long, value_name = "FILE")]
    rules: Option<PathBuf>,
    /// Results store to read.
    #[arg(long, default_value = "results/results.jsonl", env = "MCUBENCH_STORE")]
    store: PathBuf,
    /// Run id to gate (default: the last run in the store).
    #[arg(long)]
    run: Option<String>,
    /// Also write a Markdown summary (for a pull-request comment) to this file.
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Also write JUnit XML (one test case per board x framework x workload x metric) to this file.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// The run covers part of the baseline's jobs on purpose: skip absent jobs instead of failing.
    #[arg(long)]
    partial: bool,
    /// Where named baselines live.
    #[arg(long, default_value = "ci/baselines", value_name = "DIR")]
    baselines_dir: PathBuf,
}

#[derive(Subcommand)]
pub enum BaselineCommand {
    /// Store a run's figures as a named baseline (a small, sorted file to commit).
    Save(SaveArgs),
    /// List the baselines, or show the figures of one.
    Show(ShowArgs),
}

#[derive(Args)]
pub struct SaveArgs {
    /// Results store to read.
    #[arg(long, default_value = "results/results.jsonl", env = "MCUBENCH_STORE")]
    store: PathBuf,
    /// Run id to save (default: the last run in the store).
    #[arg(long)]
    run: Option<String>,
    /// Name of the baseline.
    #[arg(long, default_value = "default")]
    name: String,
    /// File to write (.yaml, or .json) [default: <baselines-dir>/<name>.yaml].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Where named baselines live.
    #[arg(long, default_value = "ci/baselines", value_name = "DIR")]
    baselines_dir: PathBuf,
    /// Keep the host-side wall times (host_upload_ms, host_infer_ms) too.
    #[arg(long)]
    include_host: bool,
}

#[derive(Args)]
pub struct ShowArgs {
    /// A baseline name or file (default: list every baseline in --baselines-dir).
    #[arg(value_name = "NAME|FILE")]
    baseline: Option<String>,
    /// Where named baselines live.
    #[arg(long, default_value = "ci/baselines", value_name = "DIR")]
    baselines_dir: PathBuf,
}

/// The records of one run (the last if `run` is None), with the store's warnings printed.
fn load_run(store_path: &Path, run: Option<&str>) -> Result<(String, Vec<ResultRecord>), RunProblem> {
    let loaded = store::load(store_path).map_err(|e| RunProblem::Infrastructure(format!("{e:#}")))?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let run = match run {
        Some(r) => r.to_owned(),
        None => loaded
            .records
            .last()
            .map(|r| r.run_id.clone())
            .ok_or_else(|| RunProblem::Infrastructure(format!("the results store {} is empty: the run produced no results", store_path.display())))?,
    };
    // The gate reads records through its own copy of the schema: they cross over as JSON.
    let records: Vec<ResultRecord> = loaded
        .records
        .into_iter()
        .filter(|r| r.run_id == run)
        .map(|r| serde_json::to_value(r).and_then(serde_json::from_value))
        .collect::<Result<_, _>>()
        .map_err(|e| RunProblem::Infrastructure(format!("{}: a record the gate cannot read: {e}", store_path.display())))?;
    if records.is_empty() {
        return Err(RunProblem::Usage(format!("no records of run '{run}' in {}", store_path.display())));
    }
    Ok((run, records))
}

enum RunProblem {
    /// No results to gate: the run did not happen or produced nothing.
    Infrastructure(String),
    /// The user asked for something that is not there.
    Usage(String),
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn resolve_rules(arg: Option<&Path>) -> anyhow::Result<GateRules> {
    if let Some(p) = arg {
        return Ok(GateRules::load(p)?);
    }
    let here = Path::new("ci/gate.yaml");
    if here.exists() {
        return Ok(GateRules::load(here)?);
    }
    Ok(GateRules::builtin())
}

pub fn gate(args: GateArgs) -> anyhow::Result<u8> {
    let baseline_path = baseline::resolve(&args.baseline, &args.baselines_dir);
    let base = Baseline::load(&baseline_path)?;
    let rules = resolve_rules(args.rules.as_deref())?;
    let opts = GateOptions { partial: args.partial, baseline_path: baseline_path.display().to_string() };
    let report = match load_run(&args.store, args.run.as_deref()) {
        Ok((run_id, records)) => mcubench_ci::evaluate(&base, &rules, &run_id, &records, &opts),
        Err(RunProblem::Usage(m)) => anyhow::bail!(m),
        Err(RunProblem::Infrastructure(m)) => GateReport::no_results(Some(&base), &rules.origin, &opts, m),
    };
    print!("{}", report::terminal(&report));
    if let Some(p) = &args.markdown {
        write(p, &report::markdown(&report))?;
    }
    if let Some(p) = &args.junit {
        write(p, &report::junit(&report))?;
    }
    Ok(report.exit_code())
}

pub fn baseline(cmd: BaselineCommand) -> anyhow::Result<u8> {
    match cmd {
        BaselineCommand::Save(args) => save(args),
        BaselineCommand::Show(args) => show(args),
    }
}

fn save(args: SaveArgs) -> anyhow::Result<u8> {
    let (run_id, records) = load_run(&args.store, args.run.as_deref()).map_err(|p| match p {
        RunProblem::Infrastructure(m) | RunProblem::Usage(m) => anyhow::anyhow!(m),
    })?;
    let out = args.out.unwrap_or_else(|| args.baselines_dir.join(format!("{}.yaml", args.name)));
    let new = Baseline::from_records(&args.name, &run_id, &records, &SaveOptions { include_host: args.include_host })?;
    let old = Baseline::load(&out).ok();
    new.save(&out)?;
    println!(
        "saved baseline '{}' to {}: {} job(s), {} figure(s) from run {}",
        new.name,
        out.display(),
        new.jobs.len(),
        new.figure_count(),
        run_id
    );
    if let Some(old) = old {
        for line in changes(&old, &new) {
            println!("  {line}");
        }
    }
    Ok(exit::OK)
}

/// What changed between two baselines, one line per figure.
fn changes(old: &Baseline, new: &Baseline) -> Vec<String> {
    let mut out = Vec::new();
    for nj in &new.jobs {
        let oj = old.job(&nj.key());
        for (m, nf) in &nj.figures {
            match oj.and_then(|j| j.figures.get(m)) {
                Some(of) if of.value == nf.value => {}
                Some(of) => out.push(format!(
                    "{} / {}: {} -> {} {} ({:+.2}%)",
                    nj.key(),
                    m.name(),
                    report::fmt_value(of.value),
                    report::fmt_value(nf.value),
                    nf.unit,
                    mcubench_ci::gate::pct_change(of.value, nf.value)
                )),
                None => out.push(format!("{} / {}: new, {} {}", nj.key(), m.name(), report::fmt_value(nf.value), nf.unit)),
            }
        }
    }
    for oj in &old.jobs {
        for m in oj.figures.keys() {
            if new.job(&oj.key()).is_none_or(|j| !j.figures.contains_key(m)) {
                out.push(format!("{} / {}: dropped", oj.key(), m.name()));
            }
        }
    }
    if out.is_empty() {
        out.push("no figure changed".into());
    }
    out
}

fn show(args: ShowArgs) -> anyhow::Result<u8> {
    let Some(name) = args.baseline else {
        let dir = &args.baselines_dir;
        let files = baseline::list(dir).with_context(|| format!("no baselines (make one with `mcubench baseline save`); looked in {}", dir.display()))?;
        anyhow::ensure!(!files.is_empty(), "no baselines in {} (make one with `mcubench baseline save`)", dir.display());
        for f in files {
            match Baseline::load(&f) {
                Ok(b) => println!(
                    "{:<16} {:<40} {:>2} job(s) {:>4} figure(s)  run {}{}",
                    b.name,
                    f.display(),
                    b.jobs.len(),
                    b.figure_count(),
                    b.run_id,
                    b.git_revision.map(|r| format!(" @ {r}")).unwrap_or_default()
                ),
                Err(e) => println!("{:<16} {:<40} unreadable: {e}", "?", f.display()),
            }
        }
        return Ok(exit::OK);
    };
    let path = baseline::resolve(&name, &args.baselines_dir);
    let b = Baseline::load(&path)?;
    println!(
        "baseline '{}' ({}): run {}{}{}",
        b.name,
        path.display(),
        b.run_id,
        b.git_revision.as_deref().map(|r| format!(" @ {r}")).unwrap_or_default(),
        b.recorded_at.as_deref().map(|r| format!(", recorded {r}")).unwrap_or_default()
    );
    for j in &b.jobs {
        println!(
            "{} ({} MHz, {} {}, {}, {})",
            j.key(),
            j.clock_hz as f64 / 1e6,
            j.framework,
            j.framework_version.as_deref().unwrap_or("?"),
            j.toolchain.as_deref().unwrap_or("toolchain ?"),
            j.board_kind
        );
        for (m, f) in &j.figures {
            let samples = if f.samples.is_empty() { String::new() } else { format!("  (median of {} samples)", f.samples.len()) };
            println!("  {:<18} {:>16} {:<13} {}{samples}", m.name(), report::fmt_value(f.value), f.unit, f.source);
        }
    }
    Ok(exit::OK)
}
