//! The benchmark behind the protocol: the embedded model on the reference runtime.
//!
//! * `th_load_tensor` converts the db buffer into a prepared int8 input (per workload),
//! * `th_infer` copies the prepared input into the input tensor and invokes the interpreter
//!   (the runtime's arena plan reuses the input tensor's bytes for intermediates, so the input
//!   must be written before every invoke; the copy is a few hundred bytes to 27 KiB, well
//!   under 0.1 % of an inference),
//! * `th_results` prints dequantized scores, or for ad01 the reconstruction error.

use mcubench_runtime::fixedpoint::round_half_away_f32;
use mcubench_runtime::{Interpreter, Model, ModelError, RuntimeError, TensorInfo};

use crate::config::{ARENA_BYTES, PREPARED_BYTES, RUNTIME_VERSION, WORKLOAD_KIND};
use crate::out::Out;
use crate::protocol::Dut;
use crate::Workload;

#[repr(C, align(16))]
struct Aligned<T: ?Sized>(T);

/// The model blob, in flash, 16-byte aligned.
static MODEL_BLOB: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.bin")));

/// The runtime's arena (`MCUBENCH_ARENA_BYTES`), in .bss so it counts as static RAM.
static mut ARENA: Aligned<[u8; ARENA_BYTES]> = Aligned([0; ARENA_BYTES]);

/// The int8 input made by `th_load_tensor`, copied into the input tensor before every invoke.
static mut PREPARED: [i8; PREPARED_BYTES] = [0; PREPARED_BYTES];

/// Validates the embedded blob.
pub fn model() -> Result<Model<'static>, ModelError> {
    Model::from_bytes(&MODEL_BLOB.0)
}

enum InitError {
    Model(ModelError),
    Runtime(RuntimeError),
    Input { len: usize, room: usize },
}

impl core::fmt::Display for InitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InitError::Model(e) => write!(f, "model: {e}"),
            InitError::Runtime(e) => write!(f, "interpreter: {e}"),
            InitError::Input { len, room } => {
                write!(f, "model input has {len} elements, firmware has room for {room}")
            }
        }
    }
}

struct Ready<'m> {
    interp: Interpreter<'m, 'static>,
    input: TensorInfo,
    output: TensorInfo,
    /// The prepared input, exactly `input.len` long.
    prepared: &'static mut [i8],
}

pub struct Bench<'m> {
    state: Result<Ready<'m>, InitError>,
    /// ad01: the score printed by the last infer's `th_results` (`results%` repeats it).
    ad01_score: Option<f32>,
}

impl<'m> Bench<'m> {
    /// `th_final_initialize`: the interpreter in the static arena.
    pub fn new(model: Result<&'m Model<'static>, &ModelError>) -> Self {
        let state = match model {
            Err(e) => Err(InitError::Model(*e)),
            Ok(model) => Self::setup(model),
        };
        Self { state, ad01_score: None }
    }

    fn setup(model: &'m Model<'static>) -> Result<Ready<'m>, InitError> {
        let input = model.input();
        let output = model.output();
        if input.len > PREPARED_BYTES {
            return Err(InitError::Input { len: input.len, room: PREPARED_BYTES });
        }
        // SAFETY: the only references ever made to ARENA and PREPARED (Bench is created once).
        let arena: &'static mut [u8] = unsafe { &mut (*core::ptr::addr_of_mut!(ARENA)).0 };
        let prepared: &'static mut [i8] = unsafe { &mut *core::ptr::addr_of_mut!(PREPARED) };
        let interp = Interpreter::new(model, arena).map_err(InitError::Runtime)?;
        Ok(Ready { interp, input, output, prepared: &mut prepared[..input.len] })
    }
}

/// TFLM-style quantization: round(x / scale) half away from zero, plus zero point, clamped.
fn quantize(x: f32, scale: f32, zero_point: i32) -> i8 {
    let r = round_half_away_f32(x / scale);
    // `as` saturates (NaN -> 0), so huge values still clamp to the int8 range.
    let q = (r as i32).saturating_add(zero_point);
    q.clamp(-128, 127) as i8
}

fn dequantize(q: i8, t: &TensorInfo) -> f32 {
    (q as i32 - t.zero_point) as f32 * t.scale
}

fn f32_le(db: &[u8], i: usize) -> f32 {
    f32::from_le_bytes([db[4 * i], db[4 * i + 1], db[4 * i + 2], db[4 * i + 3]])
}

/// ad01 anomaly score as the MLPerf Tiny reference computes it: the mean over all elements of
/// (dequantized output - float input)^2, summed in order in f32; the float input is the one
/// sent with `db` (before quantization).
fn ad01_score(r: &Ready<'_>, db: &[u8]) -> f32 {
    let out = r.interp.output();
    let mut sum = 0.0f32;
    for (i, &q) in out.iter().enumerate() {
        let d = dequantize(q, &r.output) - f32_le(db, i);
        sum += d * d;
    }
    sum / out.len() as f32
}

impl<'m> Dut for Bench<'m> {
    type Error = RuntimeError;

    #[inline(never)]
    fn final_init(&mut self, out: &mut Out) {
        if let Err(e) = &self.state {
            let _ = core::fmt::write(out, format_args!("e-[{e}]\r\n"));
        }
    }

    #[inline(never)]
    fn load_tensor(&mut self, out: &mut Out, db: &[u8], loaded: usize) -> Result<(), ()> {
        let r = match &mut self.state {
            Ok(r) => r,
            Err(e) => {
                let _ = core::fmt::write(out, format_args!("e-[{e}]\r\n"));
                return Err(());
            }
        };
        self.ad01_score = None;
        let n = r.input.len;
        let needed = if WORKLOAD_KIND == Workload::Ad01 { 4 * n } else { n };
        if loaded < needed {
            // The reference prints a warning and goes on; so do we (with whatever the buffer
            // holds: zeros or older data).
            out.str("e-[Input db has ");
            out.u64(loaded as u64);
            out.str(" bytes, expected ");
            out.u64(needed as u64);
            out.line("]");
        }
        match WORKLOAD_KIND {
            Workload::Ad01 => {
                let (scale, zp) = (r.input.scale, r.input.zero_point);
                for (i, p) in r.prepared.iter_mut().enumerate() {
                    *p = quantize(f32_le(db, i), scale, zp);
                }
            }
            Workload::Kws01 | Workload::None => {
                for (p, &b) in r.prepared.iter_mut().zip(db) {
                    *p = b as i8;
                }
            }
            Workload::Vww01 | Workload::Ic01 => {
                for (p, &b) in r.prepared.iter_mut().zip(db) {
                    *p = (b ^ 0x80) as i8; // u8 - 128
                }
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn infer_once(&mut self) -> Result<(), RuntimeError> {
        match &mut self.state {
            Ok(r) => {
                r.interp.input_mut().copy_from_slice(r.prepared);
                r.interp.invoke()
            }
            Err(_) => Err(RuntimeError::Internal("no interpreter")),
        }
    }

    #[inline(never)]
    fn results(&mut self, out: &mut Out, db: &[u8], after_infer: bool) {
        let r = match &self.state {
            Ok(r) => r,
            Err(e) => {
                let _ = core::fmt::write(out, format_args!("e-[{e}]\r\n"));
                return;
            }
        };
        out.str("m-results-[");
        if WORKLOAD_KIND == Workload::Ad01 {
            let score = match self.ad01_score {
                Some(s) if !after_infer => s,
                _ => ad01_score(r, db),
            };
            self.ad01_score = Some(score);
            out.f3(score);
        } else {
            for (i, &q) in r.interp.output().iter().enumerate() {
                if i > 0 {
                    out.byte(b',');
                }
                out.f3(dequantize(q, &r.output));
            }
        }
        out.line("]");
    }

    #[inline(never)]
    fn infer_extensions(&mut self, out: &mut Out) {
        let Ok(r) = &self.state else { return };
        out.str("m-mcubench-arena-[");
        out.u64(r.interp.arena_used() as u64);
        out.byte(b'/');
        out.u64(ARENA_BYTES as u64);
        out.line("]");
        out.str("m-mcubench-output-[");
        for &q in r.interp.output() {
            out.hex_byte(q as u8);
        }
        out.line("]");
    }

    #[inline(never)]
    fn info(&mut self, out: &mut Out) {
        out.str("m-mcubench-framework-[reference-runtime ");
        out.str(RUNTIME_VERSION);
        out.line("]");
        out.str("m-mcubench-board-[");
        out.str(crate::boards::NAME);
        out.line("]");
    }
}
