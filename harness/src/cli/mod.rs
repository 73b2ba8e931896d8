//! Command-line parsing and the commands. The library does the work; this edge turns
//! errors into messages and exit codes.
mod console;
mod gate;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use mcubench::build::Paths;
use mcubench::config::BoardsFile;
use mcubench::events::RunEvent;
use mcubench::plan::{self, Selection};
use mcubench::results::ResultRecord;
use mcubench::runner::{self, FarmPolicy, Limits, RunConfig, Timeouts};
use mcubench::store::{self, ResultStore};

/// Exit codes, kept stable for scripts and CI.
pub const EXIT_OK: u8 = 0;
pub const EXIT_JOB_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser)]
#[command(
    name = "mcubench",
    version,
    about = "Benchmark ML inference on microcontrollers: build, flash, measure over serial, tabulate.",
    long_about = "Benchmark ML inference on microcontrollers.\n\n\
        mcubench builds firmware (the reference runtime plus an MLPerf Tiny model) for every board in \
        boards.yaml, runs it over the MLPerf Tiny serial protocol, and prints a table of latency, \
        instructions or cycles, flash, RAM and energy. The default farm is emulated (QEMU), so it runs \
        with no hardware attached. Every result is appended to a JSON Lines store as it arrives.",
    after_help = "Exit codes: 0 all jobs passed, 1 a job failed (the table shows which), 2 bad usage or configuration, 130 interrupted. `mcubench gate` has its own (0 pass, 3 regression, 4 infrastructure): see `mcubench gate --help`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a suite on the board farm and print the results table.
    Run(RunArgs),
    /// Print the tables of a run already in the results store.
    Table(TableArgs),
    /// Inspect the board inventory.
    Boards {
        #[command(subcommand)]
        command: BoardsCommand,
    },
    /// List the workloads (MLPerf Tiny models) the harness knows.
    Workloads,
    /// Gate a run against a committed baseline: fail CI on performance regressions.
    #[command(after_help = gate::GATE_AFTER_HELP)]
    Gate(gate::GateArgs),
    /// Save or list the baselines `mcubench gate` compares with.
    Baseline {
        #[command(subcommand)]
        command: gate::BaselineCommand,
    },
    /// Report results: study-style tables, TinyEngine and MLPerf layouts, exports and an HTML report with charts.
    Report(report::ReportArgs),
    /// Compare results with published numbers (TFLM, CMSIS-NN, TinyEngine, MLPerf Tiny), with like-for-like flags.
    Compare(report::CompareArgs),
    /// Merge result stores (e.g. of `run --shard` jobs) into one, keeping every record once.
    Merge(MergeArgs),
}

#[derive(Args)]
struct MergeArgs {
    /// The stores to merge (JSON Lines, as `mcubench run --store` writes them).
    #[arg(required = true, value_name = "STORE")]
    stores: Vec<PathBuf>,
    /// Directory of the merged store: records go to DIR/results.jsonl (created, or appended
    /// to; records already there are not written again).
    #[arg(long, value_name = "DIR")]
    into: PathBuf,
}

#[derive(Subcommand)]
enum BoardsCommand {
    /// Validate a boards file and list its boards.
    List(BoardsFileArg),
    /// List the debug probes and USB serial ports plugged in, and print boards.yaml entries
    /// for the ones recognised (made from boards.real.yaml).
    Detect(DetectArgs),
}

#[derive(Args)]
struct DetectArgs {
    /// yaml: a boards.yaml fragment, each probe explained in comments; json: for scripts.
    #[arg(long, value_enum, default_value_t = DetectFormat::Yaml)]
    format: DetectFormat,
    /// List the probes of a probe-rs server instead of this machine's (ws://HOST:PORT, as in
    /// boards.yaml's probe.remote.host); needs the probe-rs CLI built with `remote`.
    #[arg(long, value_name = "HOST")]
    remote: Option<String>,
    /// The environment variable holding your token for --remote (written into the entries too).
    #[arg(long, value_name = "VAR", requires = "remote")]
    token_env: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DetectFormat {
    Yaml,
    Json,
}

#[derive(Args)]
struct BoardsFileArg {
    /// The board inventory [default: ./boards.yaml, else the one in the mcubench source tree].
    #[arg(long, env = "MCUBENCH_BOARDS")]
    boards: Option<PathBuf>,
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    boards_file: BoardsFileArg,
    /// Boards to use (repeatable; default: all in the inventory).
    #[arg(long = "board", value_name = "NAME")]
    board_names: Vec<String>,
    /// Workloads to run (repeatable; default: kws01, vww01, ic01, ad01). See `mcubench workloads`.
    #[arg(long = "workload", short = 'w', value_name = "ID")]
    workloads: Vec<String>,
    /// Frameworks to run (repeatable or comma-separated; default: reference-runtime). `--help`
    /// lists them.
    #[arg(long = "framework", visible_alias = "frameworks", value_name = "NAME", value_delimiter = ',', long_help = framework_help())]
    frameworks: Vec<String>,
    /// A suite file (YAML: boards, frameworks, workloads, golden_checks, windows, runs,
    /// warmups; see suites/cross-framework.yaml). Flags given on the command line override it.
    #[arg(long, value_name = "FILE")]
    suite: Option<PathBuf>,
    /// Run a prebuilt firmware instead of building one: an ELF of any firmware that speaks the
    /// MLPerf Tiny DUT protocol (X-CUBE-AI, TinyEngine, NNoM builds, ...), built for the
    /// boards' memory map and for the one workload given with -w. Flashed as is (QEMU:
    /// -kernel). Flash and static RAM come from the ELF, latency from m-lap-us; instructions
    /// only if it has the dbg #1/#2 window markers, golden checks only if it prints
    /// m-mcubench-output; what cannot be measured is listed under the tables.
    #[arg(long, value_name = "ELF", conflicts_with = "frameworks")]
    firmware: Option<PathBuf>,
    /// The framework name an external firmware's results are recorded under
    /// (default: the ELF's file name without extension).
    #[arg(long, value_name = "NAME", requires = "firmware")]
    framework_name: Option<String>,
    /// Inferences per timed window (default: the workload's).
    #[arg(long)]
    runs: Option<u32>,
    /// Warm-up inferences before each window (default: the workload's).
    #[arg(long)]
    warmups: Option<u32>,
    /// Timed windows per job [default: 2].
    #[arg(long)]
    windows: Option<u32>,
    /// Golden inputs whose outputs are checked bit for bit on the board [default: 10].
    #[arg(long)]
    golden_checks: Option<usize>,
    /// Results store (JSON Lines, appended).
    #[arg(long, default_value = "results/results.jsonl", env = "MCUBENCH_STORE")]
    store: PathBuf,
    /// Count with -icount and SysTick instead of the exact QEMU plugin.
    #[arg(long)]
    no_plugin: bool,
    /// Seconds a whole job may take before the board is stopped (the run-time limit per job).
    #[arg(long, default_value_t = 300)]
    job_timeout: u64,
    /// Longest serial line a board may send, in bytes; a longer line fails the job (stage
    /// `limit`), naming the board and this limit.
    #[arg(long, value_name = "BYTES", default_value_t = runner::DEFAULT_MAX_LINE_BYTES, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(16..=1 << 24))]
    max_line_bytes: usize,
    /// Serial output bytes one job may read from its board; a device that floods its console
    /// fails the job (stage `limit`) instead of running until --job-timeout.
    #[arg(long, value_name = "BYTES", default_value_t = runner::DEFAULT_MAX_OUTPUT_BYTES, value_parser = clap::value_parser!(u64).range(1024..))]
    max_output_bytes: u64,
    /// Host seconds allowed per inference while waiting for an `infer N W` reply: the wait for
    /// each reply line is 60 s + SECONDS x (N + W). Raise it for heavy models on a slow or
    /// loaded host (and --job-timeout with it).
    #[arg(long, value_name = "SECONDS", default_value_t = runner::DEFAULT_INFER_BUDGET.as_secs_f64(), value_parser = parse_seconds)]
    infer_budget: f64,
    /// Print the run's records as JSON on stdout instead of the tables.
    #[arg(long)]
    json: bool,
    /// Run again only the jobs of the last run in the store that failed (a failure record or a
    /// failed check) or did not finish (fewer windows or golden checks than asked, or no
    /// records at all). Give the same selection flags as that run. The jobs that finished are
    /// kept: their records are copied into the new run (same values, times and provenance),
    /// so the new run's table is complete.
    #[arg(long, conflicts_with = "firmware")]
    resume: bool,
    /// Run only shard I of N: the jobs whose index in the plan is I-1 modulo N (1-based I).
    /// N machines with the same plan and I = 1..N run every job once; `mcubench merge`
    /// puts their stores together.
    #[arg(long, value_name = "I/N")]
    shard: Option<plan::Shard>,
    /// Seconds to wait for a board another run holds (each board is locked by one run at a
    /// time); 0 fails that board's jobs at once (stage `lock`, naming the holder).
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0, value_parser = parse_seconds)]
    wait_for_boards: f64,
    /// Extra attempts, each on a fresh session (QEMU: a new emulator; serial: reconnect), for a
    /// job that failed for an infrastructure reason (hang, unreachable board, broken stream,
    /// protocol garbage). Every failed attempt is kept (stage `retried`).
    #[arg(long, value_name = "N", default_value_t = runner::DEFAULT_RETRIES)]
    retries: u32,
    /// Quarantine a board for the rest of the run after K of its jobs in a row failed for
    /// infrastructure reasons: its remaining jobs are not run (stage `quarantined`). 0: never.
    #[arg(long, value_name = "K", default_value_t = runner::DEFAULT_QUARANTINE_AFTER)]
    quarantine_after: u32,
    /// Directory of the board lock files [default: $XDG_RUNTIME_DIR/mcubench/locks, else the
    /// user's cache]. A farm host shared by several users sets one for everybody.
    #[arg(long, value_name = "DIR", env = "MCUBENCH_LOCK_DIR")]
    lock_dir: Option<PathBuf>,
}

#[derive(Args)]
struct TableArgs {
    /// Results store to read.
    #[arg(long, default_value = "results/results.jsonl", env = "MCUBENCH_STORE")]
    store: PathBuf,
    /// Run id to show (default: the last run in the store).
    #[arg(long)]
    run: Option<String>,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Table(args) => table(args),
        Command::Boards { command: BoardsCommand::List(args) } => boards_list(args),
        Command::Boards { command: BoardsCommand::Detect(args) } => boards_detect(args),
        Command::Workloads => workloads(),
        Command::Gate(args) => gate::gate(args),
        Command::Baseline { command } => gate::baseline(command),
        Command::Report(args) => report::report(args),
        Command::Compare(args) => report::compare(args),
        Command::Merge(args) => merge(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

impl BoardsFileArg {
    fn path(&self) -> PathBuf {
        self.boards.clone().unwrap_or_else(|| {
            let here = PathBuf::from("boards.yaml");
            if here.exists() {
                here
            } else {
                Paths::from_env().root.join("boards.yaml")
            }
        })
    }
}

/// `--framework`'s long help: every framework the harness builds, one line each, from the
/// registry (so a new framework cannot be left out).
fn framework_help() -> String {
    let width = plan::FRAMEWORKS.iter().map(|f| f.name.len()).max().unwrap_or(0);
    let mut s = format!("Frameworks to run (repeatable; default: {}):\n", plan::REFERENCE_RUNTIME);
    for f in plan::FRAMEWORKS {
        s.push_str(&format!("\n  {:<width$}  {}", f.name, f.description));
    }
    s.push_str("\n\nFlags, settings and output agreement of each: targets/adapters/<name>/README.md.");
    s
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && v < 1e9 => Ok(v),
        _ => Err(format!("'{s}' is not a number of seconds (e.g. 15 or 2.5)")),
    }
}

fn load_boards(path: &PathBuf) -> anyhow::Result<BoardsFile> {
    Ok(BoardsFile::load(path)?)
}

fn boards_list(args: BoardsFileArg) -> anyhow::Result<u8> {
    let file = load_boards(&args.path())?;
    for b in &file.boards {
        println!(
            "{:<14} {:<9} {:<11} {:<26} {:>4} MHz  flash {:>5} KiB  RAM {:>5} KiB",
            b.name,
            b.kind.label(),
            b.cpu.to_string(),
            b.target,
            b.clock_hz / 1_000_000,
            b.flash_budget() / 1024,
            b.ram_budget() / 1024
        );
    }
    Ok(EXIT_OK)
}

fn boards_detect(args: DetectArgs) -> anyhow::Result<u8> {
    use mcubench::session::detect;
    let found = match &args.remote {
        None => detect::detect(&detect::scan(), detect::REAL_BOARDS_YAML),
        Some(host) => {
            use mcubench::session::remote_probe::ProbeServer;
            let remote = mcubench::config::RemoteProbeSettings { host: host.clone(), token_env: args.token_env.clone() };
            let probes = tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
                let server = ProbeServer::new(host, args.token_env.as_deref(), "(boards detect)")?;
                server.list("(boards detect)").await
            })
            // The errors name a board; here there is none.
            .map_err(|e| anyhow::anyhow!(e.to_string().replacen("board (boards detect): ", "", 1)))?;
            if probes.is_empty() {
                anyhow::bail!("the probe-rs server at {host} lists no debug probe (check it with `probe-rs list --host {host}`)");
            }
            detect::detect_remote(probes, detect::REAL_BOARDS_YAML, &remote)
        }
    };
    let found = found.context("the boards.real.yaml templates built into mcubench do not parse")?;
    match args.format {
        // The YAML says itself when nothing was found.
        DetectFormat::Yaml => print!("{}", detect::render_yaml(&found)),
        DetectFormat::Json => {
            if found.is_empty() {
                eprintln!("{}", detect::NOTHING_FOUND);
            }
            println!("{}", serde_json::to_string_pretty(&detect::render_json(&found))?);
        }
    }
    Ok(EXIT_OK)
}

fn merge(args: MergeArgs) -> anyhow::Result<u8> {
    let m = store::merge(&args.stores, &args.into)?;
    for w in &m.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!(
        "merged {} store(s) into {}: {} record(s) added, {} already there; {} run(s): {}",
        args.stores.len(),
        m.path.display(),
        m.added,
        m.duplicates,
        m.runs.len(),
        m.runs.join(", ")
    );
    Ok(EXIT_OK)
}

fn workloads() -> anyhow::Result<u8> {
    for w in mcubench_workloads::workload::all() {
        println!("{:<6} {:<45} {}", w.id, w.name, w.model_file);
    }
    Ok(EXIT_OK)
}

fn table(args: TableArgs) -> anyhow::Result<u8> {
    let loaded = store::load(&args.store)?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    let run = match args.run {
        Some(r) => r,
        None => loaded.records.last().map(|r| r.run_id.clone()).context("the results store is empty")?,
    };
    let records: Vec<ResultRecord> = loaded.records.into_iter().filter(|r| r.run_id == run).collect();
    anyhow::ensure!(!records.is_empty(), "no records of run '{run}' in {}", args.store.display());
    println!("run {run}");
    console::print_tables(&records);
    Ok(EXIT_OK)
}

fn run(args: RunArgs) -> anyhow::Result<u8> {
    let boards_path = args.boards_file.path();
    let boards = load_boards(&boards_path)?;
    let suite = match &args.suite {
        Some(path) => mcubench::config::Suite::load(path)?,
        None => mcubench::config::Suite::default(),
    };
    if let (Some(path), Some(d)) = (&args.suite, &suite.description) {
        eprintln!("suite {}: {d}", path.display());
    }
    // Command-line flags override the suite file, field by field.
    let pick = |cli: &Vec<String>, file: &Vec<String>| if cli.is_empty() { file.clone() } else { cli.clone() };
    let selection = Selection {
        boards: pick(&args.board_names, &suite.boards),
        frameworks: pick(&args.frameworks, &suite.frameworks),
        workloads: pick(&args.workloads, &suite.workloads),
    };
    let jobs = match &args.firmware {
        None => plan::plan(&boards, &boards_path.display().to_string(), &selection)?,
        Some(elf) => {
            let name = args.framework_name.clone().unwrap_or_else(|| {
                elf.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "external".into())
            });
            let fw = plan::ExternalFirmware { elf: elf.clone(), name };
            plan::plan_external(&boards, &boards_path.display().to_string(), &selection, &fw)?
        }
    };
    let jobs = match args.shard {
        Some(shard) => {
            let planned = jobs.len();
            let mine = shard.select(jobs);
            eprintln!("shard {}/{}: {} of the {planned} planned job(s)", shard.index, shard.count, mine.len());
            if mine.is_empty() {
                return Ok(EXIT_OK);
            }
            mine
        }
        None => jobs,
    };
    let store = ResultStore::open(&args.store)?;
    if let Some(w) = store.repaired() {
        eprintln!("warning: {w}");
    }
    let cfg = RunConfig {
        paths: Paths::from_env(),
        run_id: mcubench::results::new_run_id(),
        runs: args.runs.or(suite.runs),
        warmups: args.warmups.or(suite.warmups),
        windows: args.windows.or(suite.windows).unwrap_or(2),
        golden_checks: args.golden_checks.or(suite.golden_checks).unwrap_or(10),
        use_plugin: !args.no_plugin,
        timeouts: Timeouts {
            job: std::time::Duration::from_secs(args.job_timeout),
            infer_per_inference: std::time::Duration::from_secs_f64(args.infer_budget),
            ..Timeouts::default()
        },
        limits: Limits { max_line_bytes: args.max_line_bytes, max_output_bytes: args.max_output_bytes },
        farm: FarmPolicy {
            lock_dir: Some(args.lock_dir.clone().unwrap_or_else(mcubench::session::lock::default_lock_dir)),
            wait_for_boards: std::time::Duration::from_secs_f64(args.wait_for_boards),
            retries: args.retries,
            quarantine_after: args.quarantine_after,
        },
    };
    // Judged by the settings of this run: a job stands if it has what this run would make.
    let mut carried = Vec::new();
    let jobs = if args.resume {
        // (After the store was opened: a torn tail left by a killed run is repaired.)
        let loaded = store::load(&args.store).context("--resume: cannot read the run to resume")?;
        for w in &loaded.warnings {
            eprintln!("warning: {w}");
        }
        let r = mcubench::resume::split(&loaded.records, jobs, cfg.windows, cfg.golden_checks)
            .with_context(|| format!("--resume: {} holds no run to resume", args.store.display()))?;
        eprintln!(
            "resuming run {}: {} job(s) finished and kept, {} to run again",
            r.previous_run,
            r.kept_jobs.len(),
            r.rerun.len()
        );
        for k in &r.kept_jobs {
            eprintln!("  kept   {k}");
        }
        for (j, why) in &r.rerun {
            eprintln!("  again  {} ({why})", j.key());
        }
        carried = r.kept;
        r.rerun.into_iter().map(|(j, _)| j).collect()
    } else {
        jobs
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let run_id = cfg.run_id.clone();
    let console = console::Console::new(jobs.len());
    eprintln!("mcubench run {run_id}: {} job(s) on {} board(s); results -> {}", jobs.len(), {
        let mut b: Vec<&str> = jobs.iter().map(|j| j.board.name.as_str()).collect();
        b.dedup();
        b.len()
    }, store.path().display());

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<RunEvent>();
    let mut sink = Sink { store, console, records: Vec::new(), open_jobs: Vec::new(), store_error: None, not_measured: Vec::new() };
    for mut r in carried {
        r.run_id = run_id.clone();
        sink.carry(r);
    }
    let interrupted = rt.block_on(async {
        let run = runner::run(jobs, cfg, tx);
        tokio::pin!(run);
        let outcome = loop {
            tokio::select! {
                Some(ev) = rx.recv() => sink.handle(ev),
                res = &mut run => break Some(res),
                _ = tokio::signal::ctrl_c() => break None,
            }
        };
        // Dropping the run aborts board tasks, which kills their QEMU children.
        drop(run);
        while let Ok(ev) = rx.try_recv() {
            sink.handle(ev);
        }
        match outcome {
            Some(Ok(host)) => {
                for w in host.warnings {
                    eprintln!("warning: {w}");
                }
                false
            }
            Some(Err(e)) => {
                eprintln!("error: {e:#}");
                false
            }
            None => {
                sink.close_interrupted_jobs();
                true
            }
        }
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    let Sink { records, store_error, not_measured, .. } = sink;
    if let Some(e) = store_error {
        eprintln!("error: {e:#} (the records are printed below, but not all were stored)");
    }
    if interrupted {
        eprintln!("interrupted: {} record(s) saved in {}; partial results follow", records.len(), args.store.display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&records)?);
    } else {
        console::print_tables(&records);
        if !not_measured.is_empty() {
            println!("\n  not measured (the firmware or the board does not offer it):");
            for line in &not_measured {
                println!("    {line}");
            }
        }
    }
    // Apart from the results: what went wrong with boards and links, not with the benchmark.
    let problems = infrastructure_problems(&records);
    if !problems.is_empty() {
        let out = if args.json { &mut std::io::stderr() as &mut dyn std::io::Write } else { &mut std::io::stdout() };
        let _ = writeln!(out, "\n  Infrastructure problems (board, job, stage: cause):");
        for line in &problems {
            let _ = writeln!(out, "    {line}");
        }
    }
    // A retried attempt is not a failure of the job; its last attempt decides.
    let failed = records.iter().any(|r| r.entry.is_job_failure())
        || records.iter().any(|r| matches!(&r.entry, mcubench::results::Entry::Check { passed: false, .. }));
    Ok(if interrupted {
        EXIT_INTERRUPTED
    } else if failed {
        EXIT_JOB_FAILED
    } else {
        EXIT_OK
    })
}

/// `board  job  stage: cause` of each failure record (retried attempts included), in the order
/// they happened: what `mcubench gate` counts as infrastructure (results missing), apart from
/// wrong outputs (failed checks, in the tables).
fn infrastructure_problems(records: &[ResultRecord]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.entry {
            mcubench::results::Entry::Failure { stage, message } => {
                Some(format!("{}  {}/{}  {stage}: {message}", r.job.board, r.job.framework, r.job.workload))
            }
            _ => None,
        })
        .collect()
}

/// Where run events go: the results store (first, so nothing is lost), the console, and the
/// records for the final table.
struct Sink {
    store: ResultStore,
    console: console::Console,
    records: Vec<ResultRecord>,
    /// The first record of each job that started and has not finished.
    open_jobs: Vec<ResultRecord>,
    store_error: Option<anyhow::Error>,
    /// External firmware: what could not be measured, one line per job and figure.
    not_measured: Vec<String>,
}

impl Sink {
    fn handle(&mut self, ev: RunEvent) {
        match &ev {
            RunEvent::Record(r) => {
                if self.open_jobs.iter().all(|o| o.job != r.job) {
                    self.open_jobs.push((**r).clone());
                }
                if let Err(e) = self.store.append(r) {
                    self.store_error.get_or_insert(e.into());
                }
                self.records.push((**r).clone());
            }
            RunEvent::JobFinished { job, .. } => self.open_jobs.retain(|o| &o.job != job),
            RunEvent::JobStep { job, step } => {
                if let Some(what) = step.strip_prefix(runner::external::NOT_MEASURED) {
                    let line = format!("{job}: {what}");
                    if !self.not_measured.contains(&line) {
                        self.not_measured.push(line);
                    }
                }
            }
            _ => {}
        }
        self.console.event(&ev);
    }

    /// A record of a finished job of the resumed run: stored under this run, not reported as
    /// progress (the job does not run).
    fn carry(&mut self, r: ResultRecord) {
        if let Err(e) = self.store.append(&r) {
            self.store_error.get_or_insert(e.into());
        }
        self.records.push(r);
    }

    /// Records an `interrupted` failure for every job cut short, so its cells say so.
    fn close_interrupted_jobs(&mut self) {
        for mut r in std::mem::take(&mut self.open_jobs) {
            r.recorded_at = mcubench::results::now_rfc3339();
            r.entry = mcubench::results::Entry::Failure {
                stage: "interrupted".into(),
                message: "the run was interrupted (Ctrl-C) before this job finished".into(),
            };
            self.handle(RunEvent::Record(Box::new(r)));
        }
        self.open_jobs.clear();
    }
}
