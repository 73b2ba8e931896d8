//! The protocol over RTT instead of the UART (`console: rtt`), on the emulated farm: the
//! firmware is built with `console-rtt`, and the harness reaches its RTT block through QEMU's
//! gdbstub with the same RTT code a probe uses on silicon (harness/src/session/rtt.rs).
//!
//! Needs qemu-system-arm and the firmware targets (scripts/setup.sh installs both).
mod common;

use std::process::Command;

use common::{records::goldens, standin};
use mcubench::results::Metric;

fn entry(name: &str, console: &str) -> String {
    standin::entry(name, &format!("kind: qemu\n    qemu: {{ machine: mps2-an386 }}\n    console: {console}"), "")
}

/// The same firmware and model over both consoles, in one run: both bit exact, and the same
/// instruction count (polling RTT through the gdbstub stops the machine, and changes no figure).
#[test]
fn ad01_over_rtt_is_bit_exact_and_counts_what_the_uart_build_counts() {
    let dir = tempfile::tempdir().unwrap();
    let boards = dir.path().join("boards.yaml");
    std::fs::write(&boards, format!("boards:\n{}{}", entry("an386-uart", "uart"), entry("an386-rtt", "rtt"))).unwrap();
    let store = dir.path().join("results.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_mcubench"))
        .env_remove("MCUBENCH_STORE")
        .args(["run", "-w", "ad01", "--framework", "reference-runtime", "--golden-checks", "10", "--windows", "2", "--runs", "1"])
        .arg("--boards")
        .arg(&boards)
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let records = mcubench::store::load(&store).unwrap().records;
    let failures: Vec<_> = records.iter().filter_map(|r| r.failure()).collect();
    assert!(failures.is_empty(), "{failures:?}\n{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let goldens = |board: &str| goldens(&records.iter().filter(|r| r.job.board == board).cloned().collect::<Vec<_>>());
    assert_eq!(goldens("an386-rtt"), vec![true; 10], "bit exact over RTT");
    assert_eq!(goldens("an386-uart"), vec![true; 10]);
    let instructions = |board: &str| {
        records.iter().filter(|r| r.job.board == board).filter_map(|r| r.metric().filter(|m| m.0 == Metric::Instructions)).map(|m| m.1).collect::<Vec<_>>()
    };
    let (rtt, uart) = (instructions("an386-rtt"), instructions("an386-uart"));
    assert_eq!(rtt.len(), 2, "one count per window");
    assert_eq!(rtt, uart, "the console does not change the count of the timed window");
    // The RTT build is another firmware (its console code and RAM block), and says so in its hash.
    let hashes: std::collections::BTreeSet<_> = records.iter().map(|r| r.provenance.firmware_sha256.clone()).collect();
    assert_eq!(hashes.len(), 2, "{hashes:?}");
}
