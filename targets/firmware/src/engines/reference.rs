//! The mcubench reference runtime as an [`Engine`]: the model blob embedded in flash, the
//! interpreter in a static arena planned at import time.
use mcubench_runtime::{Interpreter, Model, ModelError, RuntimeError, TensorInfo};

use crate::config::{ARENA_BYTES, RUNTIME_VERSION};
use crate::engine::{Engine, FrameworkInfo, TensorQuant};

#[repr(C, align(16))]
struct Aligned<T: ?Sized>(T);

/// The model blob, in flash, 16-byte aligned.
static MODEL_BLOB: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/model.bin")));

/// The runtime's arena (`MCUBENCH_ARENA_BYTES`), in .bss so it counts as static RAM.
static mut ARENA: Aligned<[u8; ARENA_BYTES]> = Aligned([0; ARENA_BYTES]);

/// Set-up errors, reported as `e-` lines at boot.
pub enum InitError {
    Model(ModelError),
    Runtime(RuntimeError),
}

impl core::fmt::Display for InitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            InitError::Model(e) => write!(f, "model: {e}"),
            InitError::Runtime(e) => write!(f, "interpreter: {e}"),
        }
    }
}

pub struct ReferenceRuntime {
    interp: Interpreter<'static, 'static>,
}

fn quant(t: TensorInfo) -> TensorQuant {
    TensorQuant { len: t.len, scale: t.scale, zero_point: t.zero_point }
}

/// `th_final_initialize`: validate the embedded blob, set up the interpreter. Call once.
pub fn new() -> Result<ReferenceRuntime, InitError> {
    ReferenceRuntime::new()
}

impl ReferenceRuntime {
    fn new() -> Result<Self, InitError> {
        static mut MODEL: Option<Model<'static>> = None;
        let model = Model::from_bytes(&MODEL_BLOB.0).map_err(InitError::Model)?;
        // SAFETY: called once at boot, before anything else can reference MODEL or ARENA.
        let model: &'static Model<'static> = unsafe { (*core::ptr::addr_of_mut!(MODEL)).insert(model) };
        let arena: &'static mut [u8] = unsafe { &mut (*core::ptr::addr_of_mut!(ARENA)).0 };
        #[allow(unused_mut)]
        let mut interp = Interpreter::new(model, arena).map_err(InitError::Runtime)?;
        // The portable reference kernels instead of the optimized ones (framework
        // `reference-runtime-portable`): the baseline the optimized kernels are measured against.
        #[cfg(feature = "kernels-portable")]
        interp.set_kernels(mcubench_runtime::kernels::KernelSet::Reference);
        Ok(ReferenceRuntime { interp })
    }
}

impl Engine for ReferenceRuntime {
    type Error = RuntimeError;

    fn framework(&self) -> FrameworkInfo {
        let name = if cfg!(feature = "kernels-portable") { "reference-runtime-portable" } else { "reference-runtime" };
        FrameworkInfo { name, version: RUNTIME_VERSION, build: crate::config::RUST_BUILD }
    }
    fn input_quant(&self) -> TensorQuant {
        quant(self.interp.model().input())
    }
    fn output_quant(&self) -> TensorQuant {
        quant(self.interp.model().output())
    }
    fn input_mut(&mut self) -> &mut [i8] {
        self.interp.input_mut()
    }
    #[inline(always)]
    fn invoke(&mut self) -> Result<(), RuntimeError> {
        // Per-layer profile (feature `profile-ops`): one counted window per op instead of one
        // per inference. The protocol's own markers then pair up wrongly, so such a firmware
        // is for scripts/profile-ops.py, not for `mcubench run`.
        #[cfg(feature = "profile-ops")]
        {
            for i in 0..self.interp.model().op_count() {
                crate::protocol::window_start_marker();
                self.interp.invoke_op(i)?;
                crate::protocol::window_end_marker();
            }
            Ok(())
        }
        #[cfg(not(feature = "profile-ops"))]
        self.interp.invoke()
    }
    fn output(&self) -> &[i8] {
        self.interp.output()
    }
    fn arena(&self) -> (usize, usize) {
        (self.interp.arena_used(), ARENA_BYTES)
    }
}
