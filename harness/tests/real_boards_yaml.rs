//! `boards.real.yaml` (the example inventory of real boards) loads with the harness's own
//! loader, and agrees with the firmware: every `support` is a `board-<support>` feature of
//! targets/firmware with a memory file whose default map is the one in the YAML, and SysTick
//! runs on the core clock.

use std::path::{Path, PathBuf};

use mcubench::config::{BoardKind, BoardsFile, Cpu};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `(origin, length)` of `region` in a firmware memory file (`FLASH : ORIGIN = .., LENGTH = ..`).
fn region(text: &str, region: &str) -> (u64, u64) {
    let num = |s: &str| -> u64 {
        let s = s.trim().replace('_', "");
        let (digits, mult) = match s.chars().last() {
            Some('K') => (&s[..s.len() - 1], 1024),
            Some('M') => (&s[..s.len() - 1], 1024 * 1024),
            _ => (&s[..], 1),
        };
        let v = match digits.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).unwrap(),
            None => digits.parse().unwrap(),
        };
        v * mult
    };
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.strip_prefix(region).is_some_and(|r| r.trim_start().starts_with(':')))
        .unwrap_or_else(|| panic!("no {region} line"));
    let mut origin = None;
    let mut length = None;
    for part in line.split(':').nth(1).unwrap().split(',') {
        let mut kv = part.splitn(2, '=');
        match (kv.next().unwrap().trim(), kv.next()) {
            ("ORIGIN", Some(v)) => origin = Some(num(v)),
            ("LENGTH", Some(v)) => length = Some(num(v)),
            _ => {}
        }
    }
    (origin.unwrap(), length.unwrap())
}

#[test]
fn real_boards_yaml_loads_and_matches_the_firmware() {
    let path = repo().join("boards.real.yaml");
    let file = BoardsFile::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = file.boards.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["nucleo-l4r5zi", "stm32f746g-disco", "nucleo-h743zi", "nrf52840-dk", "rp-pico"]);

    let chips: Vec<&str> = file.boards.iter().map(|b| b.probe.as_ref().expect("probe").chip.as_str()).collect();
    assert_eq!(chips, ["STM32L4R5ZITx", "STM32F746NGHx", "STM32H743ZITx", "nRF52840_xxAA", "RP2040"]);

    let firmware_toml = std::fs::read_to_string(repo().join("targets/firmware/Cargo.toml")).unwrap();
    for b in &file.boards {
        assert_eq!(b.kind, BoardKind::ProbeRs, "{}", b.name);
        assert!(b.serial.port.is_some(), "{}: serial.port", b.name);
        assert_eq!(b.serial.baud, 115_200, "{}", b.name);
        assert_eq!(b.clock_hz, b.systick_hz, "{}: SysTick runs on the core clock", b.name);
        assert!(
            firmware_toml.lines().any(|l| l.trim_start().starts_with(&format!("board-{} =", b.support))),
            "{}: targets/firmware has no feature board-{}",
            b.name,
            b.support
        );
        let mem = std::fs::read_to_string(repo().join(format!("targets/firmware/memory/{}.x", b.support)))
            .unwrap_or_else(|e| panic!("{}: memory file: {e}", b.name));
        assert_eq!(region(&mem, "FLASH"), (b.memory.flash.origin, b.memory.flash.size), "{}: flash", b.name);
        assert_eq!(region(&mem, "RAM"), (b.memory.ram.origin, b.memory.ram.size), "{}: ram", b.name);
        let budget = b.budget.as_ref().expect("budget");
        assert!(budget.flash <= b.memory.flash.size && budget.ram <= b.memory.ram.size, "{}", b.name);
    }
    let pico = file.find("rp-pico").unwrap();
    assert_eq!(pico.cpu, Cpu::CortexM0Plus);
    assert_eq!(pico.target, "thumbv6m-none-eabi");
}
