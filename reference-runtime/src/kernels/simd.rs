//! Cortex-M DSP-extension primitives, each with a bit-exact portable emulation.
//!
//! With `cfg(mcubench_dsp)` (Cortex-M4/M7/M33/M55, see `build.rs`) every function is one
//! instruction through `core::arch::asm!`; elsewhere (the host, Cortex-M0/M3) it is plain Rust
//! with the instruction's exact semantics. The blocked kernels in [`super::dsp`] are written
//! against these functions only, so the host tests run the very same blocking, packing and
//! requantization code as the firmware; only the instructions themselves are emulated.
//!
//! Packed operands are `u32`s holding two 16-bit lanes: `lo` = bits 0..16, `hi` = 16..32.

/// `asm!` that may use DSP instructions. On Armv8-M Mainline the base target lacks the DSP
/// extension, so the template first selects a core that has it (for the assembler only).
#[cfg(all(mcubench_dsp, mcubench_dsp_v8m))]
macro_rules! dsp_asm {
    ($first:literal, $($rest:tt)*) => {
        core::arch::asm!(concat!(".cpu cortex-m33\n", $first), $($rest)*)
    };
}
#[cfg(all(mcubench_dsp, not(mcubench_dsp_v8m)))]
macro_rules! dsp_asm {
    ($($t:tt)*) => {
        core::arch::asm!($($t)*)
    };
}
#[cfg(mcubench_dsp)]
pub(crate) use dsp_asm;

/// Sign-extends bytes 0 and 2 of `x` into the two 16-bit lanes (`SXTB16 x`).
#[inline(always)]
pub fn sxtb16(x: u32) -> u32 {
    #[cfg(mcubench_dsp)]
    {
        let r: u32;
        // SAFETY: register-only instruction.
        unsafe { dsp_asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack, preserves_flags)) };
        r
    }
    #[cfg(not(mcubench_dsp))]
    {
        (x as u8 as i8 as i16 as u16 as u32) | ((((x >> 16) as u8 as i8 as i16 as u16) as u32) << 16)
    }
}

/// Sign-extends bytes 1 and 3 of `x` into the two 16-bit lanes (`SXTB16 x, ROR #8`).
#[inline(always)]
pub fn sxtb16_ror8(x: u32) -> u32 {
    #[cfg(mcubench_dsp)]
    {
        let r: u32;
        // SAFETY: register-only instruction.
        unsafe {
            dsp_asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack, preserves_flags))
        };
        r
    }
    #[cfg(not(mcubench_dsp))]
    {
        sxtb16(x.rotate_right(8))
    }
}

/// Lane-wise `a + sext(byte)` of bytes 0 and 2 of `x` (`SXTAB16 a, x`), wrapping in 16 bits.
#[inline(always)]
pub fn sxtab16(a: u32, x: u32) -> u32 {
    #[cfg(mcubench_dsp)]
    {
        let r: u32;
        // SAFETY: register-only instruction.
        unsafe {
            dsp_asm!("sxtab16 {r}, {a}, {x}", r = lateout(reg) r, a = in(reg) a, x = in(reg) x, options(pure, nomem, nostack, preserves_flags))
        };
        r
    }
    #[cfg(not(mcubench_dsp))]
    {
        add16(a, sxtb16(x))
    }
}

/// Lane-wise `a + sext(byte)` of bytes 1 and 3 of `x` (`SXTAB16 a, x, ROR #8`).
#[inline(always)]
pub fn sxtab16_ror8(a: u32, x: u32) -> u32 {
    #[cfg(mcubench_dsp)]
    {
        let r: u32;
        // SAFETY: register-only instruction.
        unsafe {
            dsp_asm!("sxtab16 {r}, {a}, {x}, ror #8", r = lateout(reg) r, a = in(reg) a, x = in(reg) x, options(pure, nomem, nostack, preserves_flags))
        };
        r
    }
    #[cfg(not(mcubench_dsp))]
    {
        add16(a, sxtb16_ror8(x))
    }
}

#[cfg(not(mcubench_dsp))]
#[inline(always)]
fn add16(a: u32, b: u32) -> u32 {
    let lo = (a as u16).wrapping_add(b as u16) as u32;
    let hi = ((a >> 16) as u16).wrapping_add((b >> 16) as u16) as u32;
    lo | (hi << 16)
}

#[cfg(not(mcubench_dsp))]
#[inline(always)]
fn lo(x: u32) -> i32 {
    x as u16 as i16 as i32
}

#[cfg(not(mcubench_dsp))]
#[inline(always)]
fn hi(x: u32) -> i32 {
    (x >> 16) as u16 as i16 as i32
}

/// Dual signed 16-bit multiply with 32-bit accumulate:
/// `acc + a.lo * b.lo + a.hi * b.hi`, wrapping (`SMLAD`; the Q flag is ignored).
#[inline(always)]
pub fn smlad(a: u32, b: u32, acc: i32) -> i32 {
    #[cfg(mcubench_dsp)]
    {
        let r: i32;
        // SAFETY: register-only instruction (sets only the sticky Q flag).
        unsafe {
            dsp_asm!("smlad {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, c = in(reg) acc, options(pure, nomem, nostack))
        };
        r
    }
    #[cfg(not(mcubench_dsp))]
    {
        acc.wrapping_add((lo(a) * lo(b)).wrapping_add(hi(a) * hi(b)))
    }
}

/// Like [`smlad`] with `b`'s lanes exchanged: `acc + a.lo * b.hi + a.hi * b.lo` (`SMLADX`).
#[inline(always)]
pub fn smladx(a: u32, b: u32, acc: i32) -> i32 {
    #[cfg(mcubench_dsp)]
    {
        let r: i32;
        // SAFETY: register-only instruction (sets only the sticky Q flag).
        unsafe {
            dsp_asm!("smladx {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, c = in(reg) acc, options(pure, nomem, nostack))
        };
        r
    }
    #[cfg(not(mcubench_dsp))]
    {
        acc.wrapping_add((lo(a) * hi(b)).wrapping_add(hi(a) * lo(b)))
    }
}

/// Signed most-significant-word multiply, rounded: `(a * b + 2^31) >> 32` (`SMMULR`).
#[inline(always)]
pub fn smmulr(a: i32, b: i32) -> i32 {
    #[cfg(mcubench_dsp)]
    {
        let r: i32;
        // SAFETY: register-only instruction.
        unsafe {
            dsp_asm!("smmulr {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, options(pure, nomem, nostack, preserves_flags))
        };
        r
    }
    #[cfg(not(mcubench_dsp))]
    {
        ((a as i64 * b as i64 + (1i64 << 31)) >> 32) as i32
    }
}

/// Saturates to the int8 range (`SSAT #8`).
#[inline(always)]
pub fn ssat8(x: i32) -> i32 {
    #[cfg(mcubench_dsp)]
    {
        let r: i32;
        // SAFETY: register-only instruction (sets only the sticky Q flag).
        unsafe { dsp_asm!("ssat {r}, #8, {x}", r = lateout(reg) r, x = in(reg) x, options(pure, nomem, nostack)) };
        r
    }
    #[cfg(not(mcubench_dsp))]
    {
        x.clamp(-128, 127)
    }
}

/// Both lanes set to `v` (for SXTAB16's addend).
#[inline(always)]
pub fn dup16(v: i32) -> u32 {
    let h = v as u16 as u32;
    h | (h << 16)
}

/// The fast requantization core: with `r = smmulr(2 * x, m)` (TFLite's
/// `SaturatingRoundingDoublingHighMul(x, m)` whenever `|x| < 2^30`) it returns
/// `(r + hb + (r >> 31)) >> e`, which is TFLite's `RoundingDivideByPOT(r, e) + offset` when
/// `hb = 2^(e-1) + (offset << e)` and `1 <= e <= 30` (see `dsp::LayerQ` for the proof and the
/// bounds that make it exact). Five instructions.
#[inline(always)]
pub fn requant_core(x: i32, m: i32, hb: i32, e: i32) -> i32 {
    #[cfg(mcubench_dsp)]
    {
        let v: i32;
        // SAFETY: register-only instructions.
        unsafe {
            dsp_asm!(
                "lsl {t}, {x}, #1",
                "smmulr {t}, {t}, {m}",
                "add {v}, {t}, {hb}",
                "add {v}, {v}, {t}, asr #31",
                "asr {v}, {v}, {e}",
                x = in(reg) x,
                m = in(reg) m,
                hb = in(reg) hb,
                e = in(reg) e,
                t = out(reg) _,
                v = out(reg) v,
                options(pure, nomem, nostack, preserves_flags)
            )
        };
        v
    }
    #[cfg(not(mcubench_dsp))]
    {
        let r = smmulr(x.wrapping_shl(1), m);
        r.wrapping_add(hb).wrapping_add(r >> 31).wrapping_shr(e as u32)
    }
}

/// `acc + a.lo * b.lo` (`SMLABB`), wrapping.
#[inline(always)]
pub fn smlabb(a: u32, b: u32, acc: i32) -> i32 {
    #[cfg(mcubench_dsp)]
    {
        let r: i32;
        // SAFETY: register-only instruction (sets only the sticky Q flag).
        unsafe {
            dsp_asm!("smlabb {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, c = in(reg) acc, options(pure, nomem, nostack))
        };
        r
    }
    #[cfg(not(mcubench_dsp))]
    {
        acc.wrapping_add(lo(a) * lo(b))
    }
}

/// `acc + a.hi * b.hi` (`SMLATT`), wrapping.
#[inline(always)]
pub fn smlatt(a: u32, b: u32, acc: i32) -> i32 {
    #[cfg(mcubench_dsp)]
    {
        let r: i32;
        // SAFETY: register-only instruction (sets only the sticky Q flag).
        unsafe {
            dsp_asm!("smlatt {r}, {a}, {b}, {c}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b, c = in(reg) acc, options(pure, nomem, nostack))
        };
        r
    }
    #[cfg(not(mcubench_dsp))]
    {
        acc.wrapping_add(hi(a) * hi(b))
    }
}

/// [`requant_core`] with the rounding's sign term masked and an addend after the shift:
/// `((r + hb + ((r >> 31) & smask)) >> e) + post`. With `smask = 0`, `e = 0`, `hb = offset`
/// it is TFLite's result for a zero shift; with `hb = 2^(e-1)`, `post = offset` it allows
/// shifts too large to fold the offset into `hb`.
#[inline(always)]
pub fn requant_core_mask(x: i32, m: i32, hb: i32, e: i32, smask: i32, post: i32) -> i32 {
    #[cfg(mcubench_dsp)]
    {
        let v: i32;
        // SAFETY: register-only instructions.
        unsafe {
            dsp_asm!(
                "lsl {t}, {x}, #1",
                "smmulr {t}, {t}, {m}",
                "and {s}, {k}, {t}, asr #31",
                "add {v}, {t}, {hb}",
                "add {v}, {v}, {s}",
                "asr {v}, {v}, {e}",
                "add {v}, {v}, {p}",
                p = in(reg) post,
                x = in(reg) x,
                m = in(reg) m,
                hb = in(reg) hb,
                e = in(reg) e,
                k = in(reg) smask,
                t = out(reg) _,
                s = out(reg) _,
                v = out(reg) v,
                options(pure, nomem, nostack, preserves_flags)
            )
        };
        v
    }
    #[cfg(not(mcubench_dsp))]
    {
        let r = smmulr(x.wrapping_shl(1), m);
        r.wrapping_add(hb).wrapping_add((r >> 31) & smask).wrapping_shr(e as u32).wrapping_add(post)
    }
}

/// Copies `n.div_ceil(4)` words from `src` to `dst`, unaligned: `n` bytes plus up to three
/// more. A plain loop here would be turned into a `memcpy` call, which costs more than the
/// copy for the few bytes of an im2col run.
///
/// # Safety
/// `n.div_ceil(4) * 4` bytes must be readable at `src` and writable at `dst`, not overlapping.
#[inline(always)]
pub unsafe fn copy_words(dst: *mut i8, src: *const i8, n: usize) {
    if n == 0 {
        return;
    }
    #[cfg(mcubench_dsp)]
    // SAFETY: by the caller.
    unsafe {
        dsp_asm!(
            "2:",
            "ldr {t}, [{s}], #4",
            "str {t}, [{d}], #4",
            "subs {n}, {n}, #4",
            "bhi 2b",
            s = inout(reg) src => _,
            d = inout(reg) dst => _,
            n = inout(reg) n => _,
            t = out(reg) _,
            options(nostack)
        );
    }
    #[cfg(not(mcubench_dsp))]
    // SAFETY: by the caller.
    unsafe {
        for i in 0..n.div_ceil(4) {
            let w = core::ptr::read_unaligned(src.add(4 * i) as *const u32);
            core::ptr::write_unaligned(dst.add(4 * i) as *mut u32, w);
        }
    }
}
