//! User published-numbers files: good ones load with every row's source; a bad one is an error
//! naming the file and the line, and the file is left as it was (nothing lost).
use mcubench_reports::published::{load_file, PUBLISHED_HEADER};

const GOOD: &str = "S,my-paper Table 2,NUCLEO-L4R5ZI,Cortex-M4F,120,TFLM 2.3.1,kws01,latency_ms,181.9,ms,\"mean of 100, -O2\"\n";

#[test]
fn user_file_loads_with_sources() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.csv");
    std::fs::write(&path, format!("{}\n{GOOD}S,ref,B,Cortex-M7,480,TinyEngine,kws01,peak_ram_kb,OOM,kB,\n", PUBLISHED_HEADER.join(","))).unwrap();
    let rows = load_file(&path).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].value, Some(181.9));
    assert_eq!(rows[0].notes, "mean of 100, -O2");
    assert_eq!(rows[0].line, 2);
    assert!(rows[0].file.ends_with("mine.csv"));
    assert_eq!(rows[1].value, None);
    assert_eq!(rows[1].value_text, "OOM");
}

#[test]
fn malformed_file_names_file_and_line_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.csv");
    let cases = [
        (format!("{}\n{GOOD}{GOOD}S,ref,B,Cortex-M4,120,TFLM,kws01,latency_ms,12,ms\n", PUBLISHED_HEADER.join(",")), 4, "10 fields, expected 11"),
        (format!("{}\n{GOOD}S,ref,B,Cortex-M4,120,TFLM,kws01,latency_ms,fast,ms,x\n", PUBLISHED_HEADER.join(",")), 3, "value 'fast'"),
        (format!("{}\n\n{GOOD}S,\"ref,B,Cortex-M4,120,TFLM,kws01,latency_ms,1,ms,x\n", PUBLISHED_HEADER.join(",")), 4, "unterminated quote"),
        ("model,latency\nkws01,3\n".to_string(), 1, "unknown header"),
    ];
    for (text, line, what) in cases {
        std::fs::write(&path, &text).unwrap();
        let e = load_file(&path).unwrap_err().to_string();
        let prefix = format!("{}:{line}: ", path.display());
        assert!(e.starts_with(&prefix), "expected '{prefix}...', got: {e}");
        assert!(e.contains(what), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "the file must be left as it was");
    }
}
