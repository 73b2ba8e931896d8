//! `mcubench boards detect` on this machine. The development and CI machines have no probe and
//! no USB serial port attached, so the command must say so and exit 0; with something plugged
//! in, its output must still be a valid boards file (YAML) or valid JSON.
use std::process::Command;

fn detect(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mcubench")).args(["boards", "detect"]).args(args).output().unwrap()
}

fn nothing_attached() -> bool {
    let seen = mcubench::session::detect::scan();
    seen.probes.is_empty() && seen.ports.is_empty()
}

#[test]
fn yaml_says_nothing_was_found_and_exits_0() {
    let out = detect(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    if nothing_attached() {
        assert!(text.contains("no probes or serial ports found"), "{text}");
        assert!(text.lines().all(|l| l.starts_with('#')), "only a comment: still valid YAML\n{text}");
    } else {
        // Something is plugged in: whatever it is, the output parses as YAML.
        let _: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    }
}

#[test]
fn json_is_empty_lists_and_the_message_goes_to_stderr() {
    let out = detect(&["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["probes"].is_array() && v["other_serial_ports"].is_array(), "{v}");
    if nothing_attached() {
        assert_eq!(v, serde_json::json!({ "probes": [], "other_serial_ports": [] }));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no probes or serial ports found"), "{err}");
    }
}

#[test]
fn an_unknown_format_is_a_usage_error() {
    let out = detect(&["--format", "toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("yaml") && err.contains("json"), "the error lists the formats: {err}");
}

#[test]
fn boards_help_lists_detect() {
    let out = Command::new(env!("CARGO_BIN_EXE_mcubench")).args(["boards", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("detect") && text.contains("list"), "{text}");
}
