//! The benchmark behind the protocol, shared by every framework adapter ([`Engine`]):
//!
//! * `th_load_tensor` converts the db buffer into a prepared int8 input (per workload),
//! * before every inference the prepared input is written into the engine's input tensor
//!   (outside the counted window; engines may reuse the input's bytes for intermediates),
//! * `th_infer` invokes the engine,
//! * `th_results` prints dequantized scores, or for ad01 the reconstruction error.

use mcubench_runtime::fixedpoint::round_half_away_f32;

use crate::config::{PREPARED_BYTES, WORKLOAD_KIND};
use crate::engine::{Engine, TensorQuant};
use crate::out::Out;
use crate::protocol::Dut;
use crate::Workload;

/// The int8 input made by `th_load_tensor`, copied into the input tensor before every invoke.
static mut PREPARED: [i8; PREPARED_BYTES] = [0; PREPARED_BYTES];

/// Iterations of the `test-extra-work` loop.
#[cfg(feature = "test-extra-work")]
const TEST_EXTRA_WORK_ITERATIONS: u32 = 10_000;

/// `test-fault-hang`: the 1-based inference (counted since boot, warmups included) that never
/// returns. The second one: the first inference goes through, the next one hangs.
#[cfg(feature = "test-fault-hang")]
const TEST_FAULT_HANG_AT: u32 = 2;

/// Inferences started since boot (`test-fault-hang`).
#[cfg(feature = "test-fault-hang")]
static mut TEST_FAULT_INFERENCES: u32 = 0;

/// An output byte as reported. `test-fault-wrong-result` flips bit 6 of the first output byte
/// (in `m-results`, `m-mcubench-output` and the ad01 score), a wrong answer a golden check
/// must catch.
#[inline(always)]
fn reported(i: usize, q: i8) -> i8 {
    if cfg!(feature = "test-fault-wrong-result") && i == 0 {
        q ^ 0x40
    } else {
        q
    }
}

struct Ready<E> {
    engine: E,
    input: TensorQuant,
    output: TensorQuant,
    /// The prepared input, exactly `input.len` long.
    prepared: &'static mut [i8],
}

/// Why the benchmark cannot run; printed as `e-[...]`.
pub enum InitError<E> {
    Engine(E),
    Input { len: usize, room: usize },
}

impl<E: core::fmt::Display> core::fmt::Display for InitError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InitError::Engine(e) => e.fmt(f),
            InitError::Input { len, room } => {
                write!(f, "model input has {len} elements, firmware has room for {room}")
            }
        }
    }
}

pub struct Bench<E: Engine, I> {
    state: Result<Ready<E>, InitError<I>>,
    /// ad01: the score printed by the last infer's `th_results` (`results%` repeats it).
    ad01_score: Option<f32>,
}

impl<E: Engine, I: core::fmt::Display> Bench<E, I> {
    /// `th_final_initialize`: takes the engine (or why it could not be set up). Call once.
    pub fn new(engine: Result<E, I>) -> Self {
        let state = match engine {
            Err(e) => Err(InitError::Engine(e)),
            Ok(engine) => Self::setup(engine),
        };
        Self { state, ad01_score: None }
    }

    fn setup(engine: E) -> Result<Ready<E>, InitError<I>> {
        let input = engine.input_quant();
        let output = engine.output_quant();
        if input.len > PREPARED_BYTES {
            return Err(InitError::Input { len: input.len, room: PREPARED_BYTES });
        }
        // SAFETY: the only reference ever made to PREPARED (Bench is created once).
        let prepared: &'static mut [i8] = unsafe { &mut *core::ptr::addr_of_mut!(PREPARED) };
        Ok(Ready { engine, input, output, prepared: &mut prepared[..input.len] })
    }
}

/// TFLM-style quantization: round(x / scale) half away from zero, plus zero point, clamped.
fn quantize(x: f32, scale: f32, zero_point: i32) -> i8 {
    let r = round_half_away_f32(x / scale);
    // `as` saturates (NaN -> 0), so huge values still clamp to the int8 range.
    let q = (r as i32).saturating_add(zero_point);
    q.clamp(-128, 127) as i8
}

fn dequantize(q: i8, t: &TensorQuant) -> f32 {
    (q as i32 - t.zero_point) as f32 * t.scale
}

fn f32_le(db: &[u8], i: usize) -> f32 {
    f32::from_le_bytes([db[4 * i], db[4 * i + 1], db[4 * i + 2], db[4 * i + 3]])
}

/// ad01 anomaly score as the MLPerf Tiny reference computes it: the mean over all elements of
/// (dequantized output - float input)^2, summed in order in f32; the float input is the one
/// sent with `db` (before quantization).
fn ad01_score<E: Engine>(r: &Ready<E>, db: &[u8]) -> f32 {
    let out = r.engine.output();
    let mut sum = 0.0f32;
    for (i, &q) in out.iter().enumerate() {
        let d = dequantize(reported(i, q), &r.output) - f32_le(db, i);
        sum += d * d;
    }
    sum / out.len() as f32
}

impl<E: Engine, I: core::fmt::Display> Dut for Bench<E, I> {
    type Error = E::Error;

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
    fn prepare_input(&mut self) {
        if let Ok(r) = &mut self.state {
            r.engine.input_mut().copy_from_slice(r.prepared);
        }
    }

    #[inline(always)]
    fn infer_once(&mut self) -> Result<(), E::Error> {
        // Test-only variant: a fixed amount of extra work per inference, so that tests of the
        // regression gate have a real, known regression to catch.
        #[cfg(feature = "test-extra-work")]
        for i in 0..TEST_EXTRA_WORK_ITERATIONS {
            core::hint::black_box(i);
        }
        // Test-only faults (reliability tests): a hang in one inference, or a device that
        // floods the console with junk (no newline, no `m-ready`) once asked to infer.
        #[cfg(feature = "test-fault-hang")]
        {
            // SAFETY: single-threaded firmware; only this function touches the counter.
            let n = unsafe {
                let c = &mut *core::ptr::addr_of_mut!(TEST_FAULT_INFERENCES);
                *c += 1;
                *c
            };
            if n >= TEST_FAULT_HANG_AT {
                loop {
                    core::hint::spin_loop();
                }
            }
        }
        #[cfg(feature = "test-fault-flood")]
        {
            use crate::boards::Console;
            let mut serial = crate::console::steal();
            let mut b = 0u8;
            // (`black_box`: the code after the flood stays reachable as far as rustc knows.)
            while core::hint::black_box(true) {
                serial.write_byte(b'!' + b % 90);
                b = b.wrapping_add(1);
            }
        }
        match &mut self.state {
            Ok(r) => r.engine.invoke(),
            // Unreachable: load_tensor refuses to start an infer without an engine.
            Err(_) => Ok(()),
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
            for (i, &q) in r.engine.output().iter().enumerate() {
                if i > 0 {
                    out.byte(b',');
                }
                out.f3(dequantize(reported(i, q), &r.output));
            }
        }
        out.line("]");
    }

    #[inline(never)]
    fn infer_extensions(&mut self, out: &mut Out) {
        let Ok(r) = &self.state else { return };
        let (used, total) = r.engine.arena();
        out.str("m-mcubench-arena-[");
        out.u64(used as u64);
        out.byte(b'/');
        out.u64(total as u64);
        out.line("]");
        out.str("m-mcubench-output-[");
        for (i, &q) in r.engine.output().iter().enumerate() {
            out.hex_byte(reported(i, q) as u8);
        }
        out.line("]");
    }

    #[inline(never)]
    fn info(&mut self, out: &mut Out) {
        if let Ok(r) = &self.state {
            let info = r.engine.framework();
            out.str("m-mcubench-framework-[");
            out.str(info.name);
            out.byte(b' ');
            out.str(info.version);
            out.line("]");
            out.str("m-mcubench-framework-build-[");
            out.str(info.build);
            out.line("]");
        }
        out.str("m-mcubench-board-[");
        out.str(crate::boards::NAME);
        crate::boards::clock_facts(out);
        out.line("]");
    }
}
