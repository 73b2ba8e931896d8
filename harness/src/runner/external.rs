//! External firmware (`mcubench run --firmware ELF --framework-name NAME`): a prebuilt ELF of
//! any firmware that speaks the MLPerf Tiny DUT protocol, flashed and run as it is.
//!
//! What can be measured depends on what the firmware offers, and what cannot is said, never
//! guessed:
//!
//! | figure | needs | without it |
//! |---|---|---|
//! | flash, static RAM | the ELF's sections (always) | - |
//! | latency | `m-lap-us` timestamps (the protocol itself) | - |
//! | instructions | `dbg #1` / `dbg #2` window markers in the code | n/a (latency from `m-lap-us` only) |
//! | golden check | the `m-mcubench-output-[hex]` line | n/a: firmware does not report its output |
//! | stack, arena | `m-mcubench-stack` / `m-mcubench-arena` lines | n/a |
//!
//! Every "n/a" is announced as a job step starting with [`NOT_MEASURED`], which the CLI lists
//! under the tables.
use std::path::Path;

use anyhow::Context;
use object::{Object, ObjectSection, SectionKind};

use crate::build::firmware::Firmware;
use crate::build::hash::sha256_hex;
use crate::plan::ExternalFirmware;

/// Job steps that start with this say what could not be measured, and why.
pub const NOT_MEASURED: &str = "n/a: ";

/// Thumb-2 `dbg #1` and `dbg #2` as stored (two little-endian halfwords: `F3AF 80F1`).
const DBG_OPEN: [u8; 4] = [0xAF, 0xF3, 0xF1, 0x80];
const DBG_CLOSE: [u8; 4] = [0xAF, 0xF3, 0xF2, 0x80];

/// The prebuilt firmware as the runner's [`Firmware`]: checked to be an ELF, hashed.
pub fn firmware(ext: &ExternalFirmware) -> anyhow::Result<Firmware> {
    let bytes = std::fs::read(&ext.elf).with_context(|| format!("cannot read the firmware {}", ext.elf.display()))?;
    let file = object::File::parse(&*bytes)
        .map_err(|e| anyhow::anyhow!("{} is not an ELF file ({e}); pass the firmware's .elf/.axf, not a .bin or .hex", ext.elf.display()))?;
    anyhow::ensure!(
        file.architecture() == object::Architecture::Arm,
        "{} is an ELF for {:?}, not for an Arm (Cortex-M) core",
        ext.elf.display(),
        file.architecture()
    );
    anyhow::ensure!(file.entry() != 0 || file.sections().any(|s| s.size() > 0), "{} has no loadable contents", ext.elf.display());
    Ok(Firmware { elf: ext.elf.clone(), sha256: sha256_hex(&bytes), cached: true, build_secs: 0.0 })
}

/// Whether the firmware's code holds both `dbg #1` and `dbg #2` (at halfword alignment), the
/// markers of the instruction-counting windows (docs/protocol.md).
pub fn has_window_markers(elf: &Path) -> anyhow::Result<bool> {
    let bytes = std::fs::read(elf).with_context(|| format!("cannot read {}", elf.display()))?;
    let file = object::File::parse(&*bytes).map_err(|e| anyhow::anyhow!("{} is not an ELF file: {e}", elf.display()))?;
    let (mut open, mut close) = (false, false);
    for section in file.sections().filter(|s| s.kind() == SectionKind::Text) {
        let Ok(data) = section.data() else { continue };
        for at in (0..data.len().saturating_sub(3)).step_by(2) {
            let word = &data[at..at + 4];
            open |= word == DBG_OPEN;
            close |= word == DBG_CLOSE;
        }
    }
    Ok(open && close)
}
