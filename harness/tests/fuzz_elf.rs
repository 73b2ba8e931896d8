//! Fuzzing the firmware ELF size reader (`build::elf::sizes`) (issue 9, reliability). A user can
//! hand mcubench any ELF (`mcubench run --firmware`, `firmware:` in boards.yaml).
//!
//! The corpus is a small synthetic firmware ELF built here (no toolchain needed), in both ELF32
//! (as Cortex-M firmware is) and ELF64: `.text` and `.rodata` in flash, `.data` and `.bss` in RAM.
//! What is injected, and how many cases run:
//! - `mutated_headers` (600 proptest cases, fixed seed): 1..6 patches of random bytes or extreme
//!   values (0, 1, 0x7fff_ffff, 0xffff_ffff, 2^63, 2^64 - 1) in the ELF header and section
//!   headers (offsets, counts, entry sizes, string-table index, section types, flags, addresses,
//!   sizes); truncation at a random point.
//! - `huge_section_sizes` (fixed cases): sections claiming sizes near 2^32 (ELF32) and 2^63 /
//!   2^64 - 1 (ELF64), alone and summed.
//!
//! Properties: no panic; within 2 s; an error names the file; sizes never wrap around (a firmware
//! claiming more than 2^64 bytes must not come out small and pass the budget check).

use std::path::Path;
use std::time::{Duration, Instant};

use mcubench::build::elf::{sizes, ElfError};
use mcubench::config::{MemoryMap, Region};
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestRunner};

const SHT_PROGBITS: u32 = 1;
const SHT_STRTAB: u32 = 3;
const SHT_NOBITS: u32 = 8;
const ALLOC: u64 = 0x2;
const WRITE: u64 = 0x1;
const EXEC: u64 = 0x4;

struct Sec {
    name: &'static str,
    ty: u32,
    flags: u64,
    addr: u64,
    size: u64,
}

fn firmware_sections() -> Vec<Sec> {
    vec![
        Sec { name: ".text", ty: SHT_PROGBITS, flags: ALLOC | EXEC, addr: 0x0, size: 0x1000 },
        Sec { name: ".rodata", ty: SHT_PROGBITS, flags: ALLOC, addr: 0x1000, size: 0x200 },
        Sec { name: ".data", ty: SHT_PROGBITS, flags: ALLOC | WRITE, addr: 0x2000_0000, size: 0x40 },
        Sec { name: ".bss", ty: SHT_NOBITS, flags: ALLOC | WRITE, addr: 0x2000_0040, size: 0x400 },
        Sec { name: ".comment", ty: SHT_PROGBITS, flags: 0, addr: 0, size: 0x10 },
    ]
}

fn map() -> MemoryMap {
    MemoryMap { flash: Region { origin: 0, size: 0x40_0000 }, ram: Region { origin: 0x2000_0000, size: 0x40_0000 } }
}

/// A minimal little-endian ARM ELF with the given sections (plus the null section and
/// `.shstrtab`). Section contents are zeros, stored only for small PROGBITS sections.
fn build_elf(class64: bool, secs: &[Sec]) -> Vec<u8> {
    let ehsize = if class64 { 64 } else { 52 };
    let shentsize = if class64 { 64 } else { 40 };
    let mut strtab = vec![0u8];
    let mut names = Vec::new();
    for s in secs.iter().map(|s| s.name).chain([".shstrtab"]) {
        names.push(strtab.len() as u32);
        strtab.extend_from_slice(s.as_bytes());
        strtab.push(0);
    }
    let mut body = strtab.clone();
    let mut offsets = Vec::new();
    for s in secs {
        offsets.push((ehsize + body.len()) as u64);
        if s.ty == SHT_PROGBITS && s.size <= 0x10000 {
            body.resize(body.len() + s.size as usize, 0);
        }
    }
    while (ehsize + body.len()) % 8 != 0 {
        body.push(0);
    }
    let shoff = (ehsize + body.len()) as u64;
    let shnum = secs.len() + 2;
    let mut out = Vec::new();
    out.extend_from_slice(&[0x7f, b'E', b'L', b'F', if class64 { 2 } else { 1 }, 1, 1, 0]);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    out.extend_from_slice(&(if class64 { 183u16 } else { 40u16 }).to_le_bytes()); // AArch64 / ARM
    out.extend_from_slice(&1u32.to_le_bytes());
    let word = |out: &mut Vec<u8>, v: u64| {
        if class64 {
            out.extend_from_slice(&v.to_le_bytes())
        } else {
            out.extend_from_slice(&(v as u32).to_le_bytes())
        }
    };
    word(&mut out, 0x101); // entry
    word(&mut out, 0); // phoff
    word(&mut out, shoff);
    out.extend_from_slice(&0x0500_0400u32.to_le_bytes()); // flags
    out.extend_from_slice(&(ehsize as u16).to_le_bytes());
    out.extend_from_slice(&(if class64 { 56u16 } else { 32u16 }).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // phnum
    out.extend_from_slice(&(shentsize as u16).to_le_bytes());
    out.extend_from_slice(&(shnum as u16).to_le_bytes());
    out.extend_from_slice(&((shnum - 1) as u16).to_le_bytes()); // shstrndx
    assert_eq!(out.len(), ehsize);
    out.extend_from_slice(&body);
    let mut sh = |name: u32, ty: u32, flags: u64, addr: u64, off: u64, size: u64| {
        out.extend_from_slice(&name.to_le_bytes());
        out.extend_from_slice(&ty.to_le_bytes());
        word(&mut out, flags);
        word(&mut out, addr);
        word(&mut out, off);
        word(&mut out, size);
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        word(&mut out, 4);
        word(&mut out, 0);
    };
    sh(0, 0, 0, 0, 0, 0);
    for (i, s) in secs.iter().enumerate() {
        sh(names[i], s.ty, s.flags, s.addr, offsets[i], s.size);
    }
    sh(names[secs.len()], SHT_STRTAB, 0, 0, ehsize as u64, strtab.len() as u64);
    out
}

fn read_sizes(dir: &Path, bytes: &[u8]) -> Result<mcubench::build::elf::ElfSizes, ElfError> {
    let path = dir.join("fw.elf");
    std::fs::write(&path, bytes).unwrap();
    let t = Instant::now();
    let r = sizes(&path, &map());
    assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
    if let Err(e) = &r {
        assert!(e.to_string().contains(&path.display().to_string()), "error does not name the file: {e}");
    }
    r
}

#[test]
fn the_synthetic_firmware_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    for class64 in [false, true] {
        let s = read_sizes(dir.path(), &build_elf(class64, &firmware_sections())).unwrap();
        // flash: .text + .rodata + the load image of .data; RAM: .data + .bss.
        assert_eq!((s.flash, s.static_ram), (0x1000 + 0x200 + 0x40, 0x40 + 0x400), "class64 {class64}");
    }
}

#[test]
fn huge_section_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(bool, &[u64])] = &[
        (false, &[0xffff_ffff]),
        (false, &[0xffff_ffff, 0xffff_ffff, 0xffff_ffff]),
        (true, &[1 << 63]),
        (true, &[1 << 63, 1 << 63]),
        (true, &[u64::MAX, 2]),
        (true, &[u64::MAX, u64::MAX, u64::MAX]),
    ];
    for &(class64, claimed) in cases {
        // Flash sections, then the same claims in RAM (NOBITS and PROGBITS).
        for (ty, addr) in [(SHT_PROGBITS, 0x0u64), (SHT_NOBITS, 0x2000_0000)] {
            let secs: Vec<Sec> = claimed
                .iter()
                .map(|&size| Sec { name: ".big", ty, flags: ALLOC | WRITE, addr, size })
                .collect();
            let what = format!("class64 {class64}, sizes {claimed:x?}, type {ty}");
            match read_sizes(dir.path(), &build_elf(class64, &secs)) {
                Ok(s) => {
                    let total = claimed.iter().fold(0u64, |a, &b| a.saturating_add(b));
                    let counted = if ty == SHT_NOBITS { s.static_ram } else { s.flash };
                    assert!(counted >= total.min(u64::MAX), "{what}: read {s:?}, the sections claim {total:#x}");
                }
                Err(e) => println!("{what}: refused: {e}"),
            }
        }
    }
}

#[test]
fn mutated_headers() {
    let dir = tempfile::tempdir().unwrap();
    let extreme = prop_oneof![
        Just(0u64),
        Just(1),
        Just(0x7fff_ffff),
        Just(0xffff_ffff),
        Just(1 << 63),
        Just(u64::MAX),
        any::<u64>(),
    ];
    let patch = (any::<prop::sample::Index>(), extreme, 1usize..=8);
    let strategy = (any::<bool>(), proptest::collection::vec(patch, 1..6), proptest::option::weighted(0.2, any::<prop::sample::Index>()));
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 600,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5eed_e1f0),
        ..ProptestConfig::default()
    });
    let (ok, err) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    runner
        .run(&strategy, |(class64, patches, cut)| {
            let mut b = build_elf(class64, &firmware_sections());
            let (ehsize, shentsize) = if class64 { (64, 64) } else { (52, 40) };
            let shoff = b.len() - 7 * shentsize;
            // Patch the ELF header or a section header (where all the structure is).
            let targets: Vec<usize> = (0..ehsize).chain(shoff..b.len()).collect();
            for (at, v, width) in &patches {
                let p = targets[at.index(targets.len())];
                let end = (p + width).min(b.len());
                b[p..end].copy_from_slice(&v.to_le_bytes()[..end - p]);
            }
            if let Some(c) = cut {
                b.truncate(c.index(b.len()));
            }
            match read_sizes(dir.path(), &b) {
                Ok(_) => ok.set(ok.get() + 1),
                Err(_) => err.set(err.get() + 1),
            }
            Ok(())
        })
        .unwrap();
    println!("mutated_headers: 600 cases, {} read, {} refused with an error naming the file", ok.get(), err.get());
}
