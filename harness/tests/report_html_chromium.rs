//! The HTML report opened in a real headless browser (Debian's chromium): it renders (a
//! non-empty screenshot, the DOM has the tables and charts) and the console shows no errors.
//! scripts/setup.sh installs chromium; if it is missing, this test tries apt-get itself and
//! skips, saying why, only if chromium cannot be installed.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

fn ensure_chromium() -> Result<(), String> {
    if Path::new(CHROMIUM).exists() {
        return Ok(());
    }
    let root = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false);
    if !root {
        return Err("chromium is not installed and this test is not root (run scripts/setup.sh)".into());
    }
    eprintln!("chromium missing: apt-get install chromium ...");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
    };
    let ok = install().map(|s| s.success()).unwrap_or(false)
        || (Command::new("apt-get").args(["update", "-qq"]).status().map(|s| s.success()).unwrap_or(false)
            && install().map(|s| s.success()).unwrap_or(false));
    if ok && Path::new(CHROMIUM).exists() {
        Ok(())
    } else {
        Err("chromium could not be installed with apt-get".into())
    }
}

/// Runs chromium headless with a fresh profile, killing it if it hangs. Its output goes to
/// files (a pipe nobody reads would fill up and stall it); returns (stdout, stderr).
fn chromium(profile: &Path, extra: &[String], page: &str) -> (String, String) {
    let out_path = profile.with_extension("stdout");
    let err_path = profile.with_extension("stderr");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(page)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    loop {
        if child.try_wait().unwrap().is_some() {
            return (read(&out_path), read(&err_path));
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in 120 s:\n{}", read(&err_path));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn console_errors(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains(":ERROR:") || l.contains("Uncaught") || l.contains("\"error\"")))
        .map(String::from)
        .collect()
}

#[test]
fn html_report_renders_in_headless_chromium_without_console_errors() {
    if let Err(why) = ensure_chromium() {
        println!("SKIPPED html_report_renders_in_headless_chromium: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../reports/tests/data/store.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_mcubench"))
        .args(["report", "--all", "-f", "html", "--store"])
        .arg(&store)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = dir.path().join("report.html");
    let page = format!("file://{}", html.display());

    // 1. A screenshot: a real PNG, not blank-sized.
    let shot = dir.path().join("report.png");
    let (_, stderr) = chromium(
        &dir.path().join("profile1"),
        &[format!("--screenshot={}", shot.display()), "--window-size=1400,2400".into(), "--hide-scrollbars".into()],
        &page,
    );
    let png = std::fs::read(&shot).unwrap_or_else(|_| panic!("no screenshot; chromium said:\n{stderr}"));
    assert_eq!(&png[1..4], b"PNG");
    assert!(png.len() > 20_000, "screenshot only {} bytes", png.len());
    assert!(console_errors(&stderr).is_empty(), "console errors:\n{}", console_errors(&stderr).join("\n"));
    if let Ok(keep) = std::env::var("MCUBENCH_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }

    // 2. The DOM as rendered: the tables and the SVG charts are there.
    let (dom, stderr) = chromium(&dir.path().join("profile2"), &["--dump-dom".into()], &page);
    assert!(console_errors(&stderr).is_empty(), "console errors:\n{}", console_errors(&stderr).join("\n"));
    assert!(dom.matches("<svg").count() >= 4, "charts missing from the DOM:\n{dom}");
    for id in ["platforms", "study-ad01", "tinyengine-latency", "mlperf-latency", "compare"] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "table {id} missing from the DOM");
    }
    assert!(dom.contains("(modeled)") && dom.contains("OOM"));
}
