//! `mcubench report` and `mcubench compare`: the reporting layer over the results store.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use mcubench::results::ResultRecord;
use mcubench::store;
use mcubench_reports::compare::{compare_table, CompareOptions};
use mcubench_reports::export::{exporter, Exporter};
use mcubench_reports::grid::Table;
use mcubench_reports::layouts::{all_tables, source_legend, BoardInfo, Options};
use mcubench_reports::published::{self, PublishedRow};
use mcubench_reports::summary::{analyse, Analysis};

use super::{BoardsFileArg, EXIT_OK};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Tables for the terminal, printed on stdout.
    Terminal,
    /// Markdown pipe tables (report.md).
    Markdown,
    /// One tidy row per cell: table,row,column,text,kind,value,source (report.csv).
    Csv,
    /// The tables as JSON objects, cells with value and source (report.json).
    Json,
    /// The tidy cells as Parquet (report.parquet).
    Parquet,
    /// A self-contained HTML page with the tables and SVG charts (report.html).
    Html,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Terminal => "terminal",
            Format::Markdown => "markdown",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Parquet => "parquet",
            Format::Html => "html",
        }
    }
}

/// Which records of the store to use.
#[derive(Args)]
pub struct Selection {
    /// Results store to read (JSON Lines).
    #[arg(long, default_value = "results/results.jsonl", env = "MCUBENCH_STORE")]
    store: PathBuf,
    /// Run id to report (default: the last run in the store).
    #[arg(long, conflicts_with = "all")]
    run: Option<String>,
    /// Use every run in the store; repeated measurements of the same board, framework,
    /// workload and metric are grouped (median, min, max, count).
    #[arg(long)]
    all: bool,
}

#[derive(Args)]
#[command(after_help = "Examples:\n  \
    mcubench report                              # last run: tables on the terminal, results/report/report.html\n  \
    mcubench report --all -f markdown -f csv     # every run, grouped; report.md and report.csv in results/report/\n  \
    mcubench report -f parquet --out /tmp/r      # the tidy cells as /tmp/r/report.parquet\n  \
    mcubench report --table study --normalised   # only the per-workload tables, with 100 MHz and per-MAC rows\n\n\
Tables (ids for --table): platforms, study-<workload>, tinyengine-latency, tinyengine-peak-sram, tinyengine-flash, \
mlperf-latency, mlperf-energy, compare. Cells carry their source: measured, emulated, modeled or published; a cell \
without a figure says why (n/a, OOM, failed (stage), not run).")]
pub struct ReportArgs {
    #[command(flatten)]
    selection: Selection,
    /// Output formats (repeatable). `terminal` prints on stdout; the others are written to
    /// --out as report.<ext>. Default: terminal and html.
    #[arg(long, short = 'f', value_enum, value_name = "FORMAT")]
    format: Vec<Format>,
    /// Directory for the written formats.
    #[arg(long, default_value = "results/report", value_name = "DIR")]
    out: PathBuf,
    /// Only these tables (repeatable; an id or a prefix such as `study` or `tinyengine`).
    #[arg(long = "table", value_name = "ID")]
    tables: Vec<String>,
    /// Add rows normalised to 100 MHz and per MAC (labelled `[normalised]`).
    #[arg(long)]
    normalised: bool,
    /// More published-numbers files for the comparison table (repeatable; CSV, see `mcubench compare --help`).
    #[arg(long, value_name = "FILE")]
    published: Vec<PathBuf>,
    #[command(flatten)]
    boards_file: BoardsFileArg,
}

#[derive(Args)]
#[command(after_help = "Published numbers: the dataset shipped in reports/published/ (TinyEngine, TinyMaix, MicroFlow, \
TFLM, microTVM and MLPerf Tiny results, each row with its source and measurement notes), plus any --published files.\n\
A file is CSV with the header\n  \
source,source_ref,board,cpu,clock_mhz,framework,model,metric,value,unit,notes\n\
(metric: latency_ms, energy_uj, flash_kb or peak_ram_kb; model: our workload id, e.g. kws01; value: a number, a bound such as <1, or OOM; \
clock_mhz may be empty), or the MLPerf Tiny results layout of reports/published/mlperf-tiny-results.csv. \
A bad line is an error naming the file and line.\n\n\
Every comparison says whether it is like for like and, if not, why: different model, clock, core, framework or \
version, compiler, emulated vs silicon, modeled vs measured. `At equal clock` compares cycles per inference.")]
pub struct CompareArgs {
    #[command(flatten)]
    selection: Selection,
    /// A published-numbers file to compare against as well (repeatable).
    #[arg(long, value_name = "FILE")]
    published: Vec<PathBuf>,
    /// Do not use the shipped dataset (only --published files).
    #[arg(long)]
    no_builtin: bool,
    /// Published figures shown per result, best match first.
    #[arg(long, default_value_t = 3)]
    limit: usize,
    /// Only published figures of the same core (e.g. Cortex-M4 for Cortex-M4); by default,
    /// other Cortex-M cores are shown, flagged, when the same core has none.
    #[arg(long)]
    same_core_only: bool,
    /// Output format: terminal (stdout), or markdown, csv, json, parquet written to --out.
    #[arg(long, short = 'f', value_enum, default_value = "terminal", value_name = "FORMAT")]
    format: Format,
    /// Directory for a written format.
    #[arg(long, default_value = "results/report", value_name = "DIR")]
    out: PathBuf,
}

fn select(sel: &Selection) -> anyhow::Result<Vec<ResultRecord>> {
    let loaded = store::load(&sel.store)?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    if sel.all {
        anyhow::ensure!(!loaded.records.is_empty(), "the results store {} is empty", sel.store.display());
        return Ok(loaded.records);
    }
    let run = match &sel.run {
        Some(r) => r.clone(),
        None => loaded.records.last().map(|r| r.run_id.clone()).with_context(|| format!("the results store {} is empty", sel.store.display()))?,
    };
    let records: Vec<ResultRecord> = loaded.records.into_iter().filter(|r| r.run_id == run).collect();
    anyhow::ensure!(!records.is_empty(), "no records of run '{run}' in {}", sel.store.display());
    Ok(records)
}

fn load_published(files: &[PathBuf], builtin: bool) -> anyhow::Result<Vec<PublishedRow>> {
    let mut rows = if builtin { published::builtin()? } else { Vec::new() };
    for f in files {
        rows.extend(published::load_file(f)?);
    }
    Ok(rows)
}

fn board_infos(arg: &BoardsFileArg) -> Vec<BoardInfo> {
    let path = arg.path();
    match mcubench::config::BoardsFile::load(&path) {
        Ok(file) => file
            .boards
            .iter()
            .map(|b| BoardInfo {
                name: b.name.clone(),
                part: b.budget.as_ref().and_then(|x| x.part.clone()),
                flash_bytes: b.flash_budget(),
                ram_bytes: b.ram_budget(),
                kind: b.kind.label().to_string(),
                machine: b.qemu.as_ref().map(|q| q.machine.clone()),
            })
            .collect(),
        Err(e) => {
            eprintln!("warning: {e} (the platforms table says n/a for MCU, flash and SRAM)");
            Vec::new()
        }
    }
}

fn filter_tables(tables: Vec<Table>, wanted: &[String]) -> anyhow::Result<Vec<Table>> {
    if wanted.is_empty() {
        return Ok(tables);
    }
    let ids: Vec<String> = tables.iter().map(|t| t.id.clone()).collect();
    let kept: Vec<Table> = tables.into_iter().filter(|t| wanted.iter().any(|w| t.id == *w || t.id.starts_with(&format!("{w}-")))).collect();
    if kept.is_empty() {
        bail!("no table matches {}; the tables are: {}", wanted.join(", "), ids.join(", "));
    }
    Ok(kept)
}

fn print_terminal(tables: &[Table], a: &Analysis) {
    for t in tables {
        println!("\n{}", t.to_terminal().trim_end());
    }
    println!();
    for line in source_legend(a) {
        println!("  {line}");
    }
    for n in &a.notes {
        println!("  {n}");
    }
}

fn write_format(f: Format, tables: &[Table], out: &Path) -> anyhow::Result<PathBuf> {
    let e: Box<dyn Exporter> = exporter(f.name()).context("no exporter")?;
    Ok(e.write(tables, out, "report")?)
}

pub fn report(args: ReportArgs) -> anyhow::Result<u8> {
    let records = select(&args.selection)?;
    let a = analyse(&records).context("analysing the results")?;
    let boards = board_infos(&args.boards_file);
    let published = load_published(&args.published, true)?;
    let mut tables = all_tables(&a, &boards, &Options { normalised: args.normalised });
    tables.push(compare_table(&a, &published, &CompareOptions { limit: 1, other_cores: true }));
    let tables = filter_tables(tables, &args.tables)?;
    let formats = if args.format.is_empty() { vec![Format::Terminal, Format::Html] } else { args.format.clone() };
    eprintln!("report of run(s) {} ({} records)", a.runs.join(", "), records.len());
    for f in formats {
        match f {
            Format::Terminal => print_terminal(&tables, &a),
            Format::Html => {
                let title = format!("mcubench report: {}", a.runs.join(", "));
                let html = mcubench_reports::html::html_report(&a, &tables, &published, &title)
                    .map_err(|e| anyhow::anyhow!("drawing the charts: {e}"))?;
                std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
                let path = args.out.join("report.html");
                std::fs::write(&path, html).with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
            other => eprintln!("wrote {}", write_format(other, &tables, &args.out)?.display()),
        }
    }
    Ok(EXIT_OK)
}

pub fn compare(args: CompareArgs) -> anyhow::Result<u8> {
    if args.no_builtin && args.published.is_empty() {
        bail!("--no-builtin needs at least one --published FILE");
    }
    let records = select(&args.selection)?;
    let a = analyse(&records).context("analysing the results")?;
    let published = load_published(&args.published, !args.no_builtin)?;
    let table = compare_table(&a, &published, &CompareOptions { limit: args.limit.max(1), other_cores: !args.same_core_only });
    eprintln!("compare run(s) {} with {} published figures", a.runs.join(", "), published.len());
    match args.format {
        Format::Terminal => {
            println!("{}", table.to_terminal().trim_end());
            println!();
            for line in source_legend(&a) {
                println!("  {line}");
            }
        }
        Format::Html => bail!("the HTML report is made by `mcubench report` (it includes this comparison)"),
        other => eprintln!("wrote {}", write_format(other, &[table], &args.out)?.display()),
    }
    Ok(EXIT_OK)
}
