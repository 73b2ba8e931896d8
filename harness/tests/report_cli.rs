//! `mcubench report` and `mcubench compare` on a fixed results store (no board needed):
//! tables printed, every export written, the comparison with published numbers, and bad
//! input files named by file and line with nothing lost.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mcubench() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mcubench"));
    c.env_remove("MCUBENCH_STORE");
    c
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../reports/tests/data/store.jsonl")
}

fn boards() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../boards.yaml")
}

fn run(args: &[&str], store: &Path, out: &Path) -> Output {
    mcubench().args(args).arg("--store").arg(store).arg("--out").arg(out).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn report_prints_the_study_tables_and_writes_the_html() {
    let dir = tempfile::tempdir().unwrap();
    let out = mcubench()
        .args(["report", "--all", "--store"])
        .arg(fixture())
        .arg("--out")
        .arg(dir.path())
        .arg("--boards")
        .arg(boards())
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    for want in [
        "Platforms under test",
        "STM32L4R5ZI (budget imitated)",
        "Workload ad01",
        "Workload kws01",
        "Inference time (ms)",
        "81.075 (modeled)",
        "2,026,869 (emulated)",
        "OOM",
        "failed (boot)",
        "Latency (ms) by model and system",
        "MLPerf Tiny layout",
        "Our results next to published figures",
        "modeled: computed from a model",
    ] {
        assert!(stdout.contains(want), "'{want}' missing:\n{stdout}");
    }
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("id=\"study-ad01\""));
}

#[test]
fn report_writes_every_export_format() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &["report", "--all", "-f", "markdown", "-f", "csv", "-f", "json", "-f", "parquet", "-f", "html", "--table", "study", "--normalised"],
        &fixture(),
        dir.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "no terminal output unless asked: {}", text(&out.stdout));
    for f in ["report.md", "report.csv", "report.json", "report.parquet", "report.html"] {
        let p = dir.path().join(f);
        assert!(p.metadata().map(|m| m.len() > 100).unwrap_or(false), "{f} missing or empty");
    }
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("### Workload ad01") && md.contains("[normalised]") && !md.contains("Platforms"), "{md}");
}

#[test]
fn compare_prints_ratios_and_like_for_like_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["compare", "--all"], &fixture(), dir.path());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for want in ["MLPerf Tiny v0.5 reference", "Ours / published", "no: clock 25 vs 120 MHz", "emulated (QEMU) vs silicon", "ours modeled at 1 instruction per cycle", "10.05 (published)", "8.07x"] {
        assert!(stdout.contains(want), "'{want}' missing:\n{stdout}");
    }
}

#[test]
fn compare_reads_user_published_files() {
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("mine.csv");
    std::fs::write(
        &mine,
        "source,source_ref,board,cpu,clock_mhz,framework,model,metric,value,unit,notes\n\
         MyLab,lab notebook p. 12,MPS2 FPGA,Cortex-M4,25,reference-runtime 0.1.0,ad01,latency_ms,80,ms,measured on the FPGA board\n",
    )
    .unwrap();
    let out = mcubench()
        .args(["compare", "--all", "--no-builtin", "--store"])
        .arg(fixture())
        .arg("--published")
        .arg(&mine)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(stdout.contains("MyLab [1]") && stdout.contains("lab notebook p. 12"), "{stdout}");
    assert!(stdout.contains("mine.csv:2"), "the row's origin is named: {stdout}");
}

#[test]
fn malformed_store_names_file_and_line_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("bad.jsonl");
    let good = std::fs::read_to_string(fixture()).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines[4] = "{\"schema\":1,\"run_id\":\"x\"";
    let bad = lines.join("\n") + "\n";
    std::fs::write(&store, &bad).unwrap();
    for cmd in ["report", "compare"] {
        let out = run(&[cmd, "--all"], &store, &dir.path().join("out"));
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = text(&out.stderr);
        assert!(err.contains("bad.jsonl:5:"), "{cmd}: {err}");
        assert_eq!(std::fs::read_to_string(&store).unwrap(), bad, "the store is left as it was");
        assert!(!dir.path().join("out/report.html").exists(), "no half report");
    }
}

#[test]
fn malformed_published_file_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    let content = "source,source_ref,board,cpu,clock_mhz,framework,model,metric,value,unit,notes\n\
                   A,r,B,Cortex-M4,120,TFLM,ad01,latency_ms,10,ms,ok\n\
                   A,r,B,Cortex-M4,120,TFLM,ad01,latency_ms,ten,ms,bad\n";
    std::fs::write(&bad, content).unwrap();
    for cmd in ["report", "compare"] {
        let out = mcubench()
            .args([cmd, "--all", "--store"])
            .arg(fixture())
            .arg("--published")
            .arg(&bad)
            .arg("--out")
            .arg(dir.path().join("out"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = text(&out.stderr);
        assert!(err.contains("bad.csv:3: value 'ten'"), "{cmd}: {err}");
        assert_eq!(std::fs::read_to_string(&bad).unwrap(), content);
    }
}

#[test]
fn help_texts_explain_formats_tables_and_published_files() {
    let out = mcubench().args(["report", "--help"]).output().unwrap();
    let h = text(&out.stdout);
    for want in ["--format", "terminal", "parquet", "html", "--all", "--run", "--out", "tinyengine-latency", "--normalised"] {
        assert!(h.contains(want), "report --help lacks {want}:\n{h}");
    }
    let out = mcubench().args(["compare", "--help"]).output().unwrap();
    let h = text(&out.stdout);
    for want in ["--published", "source,source_ref,board,cpu,clock_mhz", "like for like", "--limit"] {
        assert!(h.contains(want), "compare --help lacks {want}:\n{h}");
    }
    let out = mcubench().arg("--help").output().unwrap();
    let h = text(&out.stdout);
    assert!(h.contains("report") && h.contains("compare"), "{h}");
}
