//! Arm CMSIS-NN as an [`Engine`] (`framework-cmsis-nn`): the model blob embedded in flash,
//! run op by op with CMSIS-NN's int8 kernels (targets/adapters/cmsis-nn) in the same static
//! arena plan as the reference runtime, plus CMSIS-NN's scratch buffer.
use mcubench_adapter_cmsis_nn::{self as cmsis, Executor, SCRATCH_BYTES};
use mcubench_runtime::{Model, ModelError};

use crate::config::ARENA_BYTES;
use crate::engine::{Engine, FrameworkInfo, TensorQuant};

#[repr(C, align(16))]
struct Aligned<T: ?Sized>(T);

/// The model blob, in flash, 16-byte aligned.
static MODEL_BLOB: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.bin")));

/// The activation arena (`MCUBENCH_ARENA_BYTES`), in .bss so it counts as static RAM.
static mut ARENA: Aligned<[u8; ARENA_BYTES]> = Aligned([0; ARENA_BYTES]);

/// CMSIS-NN's scratch buffer: the largest `*_get_buffer_size` of the model's operators.
static mut SCRATCH: Aligned<[u8; SCRATCH_BYTES]> = Aligned([0; SCRATCH_BYTES]);

/// Set-up errors, reported as `e-` lines at boot.
pub enum InitError {
    Model(ModelError),
    Cmsis(cmsis::Error),
}

impl core::fmt::Display for InitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InitError::Model(e) => write!(f, "model: {e}"),
            InitError::Cmsis(e) => write!(f, "cmsis-nn: {e}"),
        }
    }
}

pub struct CmsisNn {
    exec: Executor<'static, 'static>,
    input: TensorQuant,
    output: TensorQuant,
}

/// `th_final_initialize`: validate the embedded blob, check every operator against CMSIS-NN.
/// Call once.
pub fn new() -> Result<CmsisNn, InitError> {
    static mut MODEL: Option<Model<'static>> = None;
    let model = Model::from_bytes(&MODEL_BLOB.0).map_err(InitError::Model)?;
    // SAFETY: called once at boot, before anything else can reference MODEL, ARENA or SCRATCH.
    let model: &'static Model<'static> = unsafe { (*core::ptr::addr_of_mut!(MODEL)).insert(model) };
    let arena: &'static mut [u8] = unsafe { &mut (*core::ptr::addr_of_mut!(ARENA)).0 };
    let scratch: &'static mut [u8] = unsafe { &mut (*core::ptr::addr_of_mut!(SCRATCH)).0 };
    let exec = Executor::new(model, &cmsis::PREPARED, arena, scratch).map_err(InitError::Cmsis)?;
    let (i, o) = (model.input(), model.output());
    Ok(CmsisNn {
        exec,
        input: TensorQuant { len: i.len, scale: i.scale, zero_point: i.zero_point },
        output: TensorQuant { len: o.len, scale: o.scale, zero_point: o.zero_point },
    })
}

impl Engine for CmsisNn {
    type Error = cmsis::Error;

    fn framework(&self) -> FrameworkInfo {
        FrameworkInfo { name: "cmsis-nn", version: cmsis::VERSION, build: cmsis::BUILD }
    }
    fn input_quant(&self) -> TensorQuant {
        self.input
    }
    fn output_quant(&self) -> TensorQuant {
        self.output
    }
    fn input_mut(&mut self) -> &mut [i8] {
        self.exec.input_mut()
    }
    #[inline(always)]
    fn invoke(&mut self) -> Result<(), cmsis::Error> {
        self.exec.invoke()
    }
    fn output(&self) -> &[i8] {
        self.exec.output()
    }
    /// Activations (the plan's peak) plus the scratch the model's operators use, of the arena
    /// plus scratch buffer reserved.
    fn arena(&self) -> (usize, usize) {
        (self.exec.model().arena_peak() + self.exec.scratch_used(), ARENA_BYTES + SCRATCH_BYTES)
    }
}
