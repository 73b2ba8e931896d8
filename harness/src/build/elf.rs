//! Flash and static RAM from the firmware ELF's allocated sections.
use std::path::Path;

use object::{Object, ObjectSection, SectionFlags};

use crate::config::MemoryMap;

/// Sizes read from the ELF, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElfSizes {
    /// What occupies flash: code, read-only data and the load image of `.data`.
    pub flash: u64,
    /// What occupies RAM before the stack: `.data` + `.bss` (+ `.uninit`).
    pub static_ram: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("cannot read {path}")]
    Read { path: String, #[source] source: std::io::Error },
    #[error("{path} is not a readable ELF: {message}")]
    Parse { path: String, message: String },
}

/// Classifies each allocated section by where it lives: sections at RAM addresses count as
/// static RAM, and those with contents (`.data`) also count in flash (their load image).
pub fn sizes(path: &Path, map: &MemoryMap) -> Result<ElfSizes, ElfError> {
    let p = path.display().to_string();
    let data = std::fs::read(path).map_err(|source| ElfError::Read { path: p.clone(), source })?;
    let file = object::File::parse(&*data).map_err(|e| ElfError::Parse { path: p.clone(), message: e.to_string() })?;
    let in_ram = |addr: u64| addr >= map.ram.origin && addr < map.ram.origin.saturating_add(map.ram.size);
    let mut sizes = ElfSizes { flash: 0, static_ram: 0 };
    for section in file.sections() {
        let SectionFlags::Elf { sh_flags } = section.flags() else { continue };
        const SHF_ALLOC: u64 = 0x2;
        const SHT_NOBITS: u32 = 8;
        if sh_flags & SHF_ALLOC == 0 || section.size() == 0 {
            continue;
        }
        let nobits = matches!(section.kind(), object::SectionKind::UninitializedData | object::SectionKind::UninitializedTls)
            || section_type(&section) == Some(SHT_NOBITS);
        // Saturating: a hostile ELF claiming sizes that sum past 2^64 must not wrap to a small
        // total and pass the budget check.
        if in_ram(section.address()) {
            sizes.static_ram = sizes.static_ram.saturating_add(section.size());
            if !nobits {
                sizes.flash = sizes.flash.saturating_add(section.size());
            }
        } else if !nobits {
            sizes.flash = sizes.flash.saturating_add(section.size());
        }
    }
    Ok(sizes)
}

fn section_type(section: &object::Section<'_, '_>) -> Option<u32> {
    match section.kind() {
        object::SectionKind::UninitializedData => Some(8),
        _ => None,
    }
}

/// The address of a symbol of the ELF (`_SEGGER_RTT`, say), if it has one.
pub fn symbol_address(path: &Path, name: &str) -> Result<Option<u64>, ElfError> {
    use object::ObjectSymbol;
    let p = path.display().to_string();
    let data = std::fs::read(path).map_err(|source| ElfError::Read { path: p.clone(), source })?;
    let file = object::File::parse(&*data).map_err(|e| ElfError::Parse { path: p, message: e.to_string() })?;
    Ok(file.symbols().find(|s| s.name() == Ok(name)).map(|s| s.address()))
}
