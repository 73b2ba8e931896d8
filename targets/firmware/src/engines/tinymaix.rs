//! TinyMaix (github.com/sipeed/TinyMaix) as an [`Engine`]: its C runtime
//! (targets/adapters/tinymaix) on the model converted by `mcubench_workloads::tinymaix`
//! (embedded as `MCUBENCH_MODEL_FILE`), with its main buffer in .bss.
//!
//! The main buffer holds the input at offset 0 (where `tm_load` puts it), every
//! intermediate and the output; TinyMaix's own scratch (im2col row, per-channel scales,
//! kernel offsets) is static C data and shows in static RAM.
use mcubench_adapter_tinymaix as tm;

use crate::engine::{Engine, FrameworkInfo, TensorQuant};

#[repr(C, align(16))]
struct Aligned<T: ?Sized>(T);

const MODEL_BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/model_file.bin"));

/// The .tmdl file, in flash, 16-byte aligned (TinyMaix reads its fields in place).
static MODEL: Aligned<[u8; MODEL_BYTES.len()]> = Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model_file.bin")));

const fn u16_at(b: &[u8], at: usize) -> usize {
    b[at] as usize | (b[at + 1] as usize) << 8
}

const fn u32_at(b: &[u8], at: usize) -> usize {
    b[at] as usize | (b[at + 1] as usize) << 8 | (b[at + 2] as usize) << 16 | (b[at + 3] as usize) << 24
}

/// `buf_size` from the model header (8 if there is no model, so the build still links).
const BUF_SIZE: usize = if MODEL_BYTES.len() >= 64 { u32_at(MODEL_BYTES, 12) } else { 8 };

/// TinyMaix's main buffer, in .bss so that it counts as static RAM.
static mut BUF: Aligned<[u8; BUF_SIZE]> = Aligned([0; BUF_SIZE]);

/// Set-up errors, reported as `e-` lines at boot.
pub enum InitError {
    NoModel,
    BadModel(&'static str),
    Load(i32),
}

impl core::fmt::Display for InitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InitError::NoModel => f.write_str("tinymaix: no model file embedded (MCUBENCH_MODEL_FILE)"),
            InitError::BadModel(why) => write!(f, "tinymaix: model file: {why}"),
            InitError::Load(code) => write!(f, "tinymaix: tm_load failed: {} ({code})", tm::err_name(*code)),
        }
    }
}

/// A `tm_run` error code.
pub struct RunError(i32);

impl core::fmt::Display for RunError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "tinymaix: tm_run failed: {} ({})", tm::err_name(self.0), self.0)
    }
}

pub struct TinyMaix {
    mdl: tm::TmMdl,
    input: tm::TmMat,
    output: tm::TmMat,
    in_q: TensorQuant,
    out_q: TensorQuant,
    out_oft: usize,
}

fn f32_at(b: &[u8], at: usize) -> f32 {
    f32::from_bits(u32_at(b, at) as u32)
}

/// `th_final_initialize`: check the embedded model and load it. Call once.
pub fn new() -> Result<TinyMaix, InitError> {
    let m: &'static [u8] = &MODEL.0;
    if m.len() < 64 {
        return Err(InitError::NoModel);
    }
    if &m[0..4] != b"MAIX" || m[4] != 0 {
        return Err(InitError::BadModel("not an int8 TinyMaix model"));
    }
    let dims_len = |at: usize| u16_at(m, at + 2) * u16_at(m, at + 4) * u16_at(m, at + 6);
    let layers = u16_at(m, 10);
    // Input quantization from the first layer; output from the layer flagged is_out.
    let mut at = 64;
    let mut in_q = None;
    let mut out = None;
    for _ in 0..layers {
        if at + 48 > m.len() {
            return Err(InitError::BadModel("truncated"));
        }
        if in_q.is_none() {
            in_q = Some(TensorQuant { len: dims_len(20), scale: f32_at(m, at + 32), zero_point: u32_at(m, at + 36) as i32 });
        }
        if u16_at(m, at + 2) != 0 {
            out = Some((
                u32_at(m, at + 12),
                TensorQuant { len: dims_len(28), scale: f32_at(m, at + 40), zero_point: u32_at(m, at + 44) as i32 },
            ));
        }
        let size = u32_at(m, at + 4);
        if size < 48 {
            return Err(InitError::BadModel("bad layer size"));
        }
        at += size;
    }
    let (Some(in_q), Some((out_oft, out_q))) = (in_q, out) else {
        return Err(InitError::BadModel("no layers or no output layer"));
    };
    if in_q.len > BUF_SIZE || out_oft + out_q.len > BUF_SIZE {
        return Err(InitError::BadModel("input or output outside the main buffer"));
    }
    let mut e = TinyMaix { mdl: tm::TmMdl::empty(), input: tm::TmMat::empty(), output: tm::TmMat::empty(), in_q, out_q, out_oft };
    // SAFETY: called once at boot; BUF is only ever reached through this engine, MODEL is
    // 'static and 16-byte aligned.
    let code = unsafe {
        let buf = core::ptr::addr_of_mut!(BUF.0) as *mut u8;
        tm::tm_load(&mut e.mdl, m.as_ptr(), buf, None, &mut e.input)
    };
    if code != 0 {
        return Err(InitError::Load(code));
    }
    Ok(e)
}

impl TinyMaix {
    fn buf(&self) -> &[u8] {
        // SAFETY: see `new`; the engine is the only user of BUF.
        unsafe { &(*core::ptr::addr_of!(BUF)).0 }
    }
}

impl Engine for TinyMaix {
    type Error = RunError;

    fn framework(&self) -> FrameworkInfo {
        FrameworkInfo { name: "tinymaix", version: tm::VERSION, build: tm::BUILD }
    }
    fn input_quant(&self) -> TensorQuant {
        self.in_q
    }
    fn output_quant(&self) -> TensorQuant {
        self.out_q
    }
    fn input_mut(&mut self) -> &mut [i8] {
        // SAFETY: the input lives at offset 0 of BUF (tm_load), in_q.len <= BUF_SIZE.
        unsafe { core::slice::from_raw_parts_mut(core::ptr::addr_of_mut!(BUF.0) as *mut i8, self.in_q.len) }
    }
    #[inline(always)]
    fn invoke(&mut self) -> Result<(), RunError> {
        // SAFETY: the model was loaded by `new`; all pointers stay valid ('static).
        let code = unsafe { tm::tm_run(&mut self.mdl, &mut self.input, &mut self.output) };
        if code == 0 {
            Ok(())
        } else {
            Err(RunError(code))
        }
    }
    fn output(&self) -> &[i8] {
        let b = &self.buf()[self.out_oft..self.out_oft + self.out_q.len];
        // SAFETY: i8 and u8 have the same layout.
        unsafe { core::slice::from_raw_parts(b.as_ptr() as *const i8, b.len()) }
    }
    fn arena(&self) -> (usize, usize) {
        (BUF_SIZE, BUF_SIZE)
    }
}
