//! `mcubench run --shard` at the command line and `mcubench merge` of result stores, then a
//! report of the merged store (no board needed). That the shards partition a plan exactly is
//! tested in plan.rs.
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

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

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_bad_shard_is_a_usage_error_and_an_empty_shard_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("r.jsonl");
    for bad in ["3/2", "0/2", "1/0", "half"] {
        let out = mcubench().args(["run", "--shard", bad, "--store"]).arg(&store).arg("--boards").arg(boards()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = text(&out.stderr);
        assert!(err.contains(&format!("'{bad}' is not a shard: write I/N with 1 <= I <= N")), "{err}");
    }
    // One job planned, shard 2 of 2 has none: nothing is built or run.
    let out = mcubench()
        .args(["run", "--board", "mps2-an386", "-w", "ad01", "--shard", "2/2", "--store"])
        .arg(&store)
        .arg("--boards")
        .arg(boards())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("shard 2/2: 0 of the 1 planned job(s)"), "{}", text(&out.stderr));
    assert!(!store.exists(), "an empty shard writes no store");
}

#[test]
fn merging_two_stores_keeps_every_record_once_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = std::fs::read_to_string(fixture()).unwrap().lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
    let unique: BTreeSet<&String> = lines.iter().collect();
    // Two stores that overlap by a tenth of the records, as two shards sharing a resumed job.
    let cut = lines.len() / 2;
    let overlap = lines.len() / 10;
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    std::fs::write(&a, lines[..cut + overlap].join("\n") + "\n").unwrap();
    std::fs::write(&b, lines[cut..].join("\n") + "\n").unwrap();
    let merged = dir.path().join("merged");
    let out = mcubench().arg("merge").arg(&a).arg(&b).arg("--into").arg(&merged).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("{} record(s) added", unique.len())), "{}", text(&out.stderr));

    let store = merged.join("results.jsonl");
    let got = mcubench::store::load(&store).unwrap().records;
    assert_eq!(got.len(), unique.len());
    let want = mcubench::store::load(&fixture()).unwrap().records;
    for r in &want {
        assert!(got.contains(r), "lost: {r:?}");
    }
    let runs: BTreeSet<&str> = got.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(runs, want.iter().map(|r| r.run_id.as_str()).collect::<BTreeSet<_>>(), "run ids are kept");

    // Merging the same stores again changes nothing.
    let again = mcubench().arg("merge").arg(&a).arg(&b).arg("--into").arg(&merged).output().unwrap();
    assert!(text(&again.stderr).contains("0 record(s) added"), "{}", text(&again.stderr));
    assert_eq!(mcubench::store::load(&store).unwrap().records.len(), unique.len());

    let report = mcubench()
        .args(["report", "--all", "--store"])
        .arg(&store)
        .arg("--out")
        .arg(dir.path().join("report"))
        .arg("--boards")
        .arg(boards())
        .output()
        .unwrap();
    let stdout = text(&report.stdout);
    assert!(report.status.success(), "{}\n{stdout}", text(&report.stderr));
    for want in ["Workload ad01", "Workload kws01", "2,026,869 (emulated)", "failed (boot)"] {
        assert!(stdout.contains(want), "'{want}' missing:\n{stdout}");
    }

    // A store that is not one fails the merge naming it, and nothing is written.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "not a record\n").unwrap();
    let out = mcubench().arg("merge").arg(&a).arg(&bad).arg("--into").arg(dir.path().join("m2")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(&format!("{}:1: not a result record", bad.display())), "{}", text(&out.stderr));
    assert!(!dir.path().join("m2/results.jsonl").exists() || std::fs::read_to_string(dir.path().join("m2/results.jsonl")).unwrap().is_empty());
}
