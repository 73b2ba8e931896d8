//! The optimized kernel set ([`super::KernelSet::Optimized`]): the DSP-extension kernels of
//! [`super::dsp`] on Cortex-M4/M7/M33/M55 (`cfg(mcubench_dsp)`, see `build.rs`), the
//! portable restructured loops of [`super::portable`] everywhere else (the host, M0/M3).
//! Both are bit exact with [`super::reference`].
#[cfg(mcubench_dsp)]
pub use super::dsp::{conv2d, fully_connected};
#[cfg(not(mcubench_dsp))]
pub use super::portable::{conv2d, fully_connected};
#[cfg(mcubench_dsp)]
pub use super::dsp::depthwise_conv2d;
#[cfg(not(mcubench_dsp))]
pub use super::portable::depthwise_conv2d;

/// The implementation [`super::KernelSet::Optimized`] selects on this target.
pub const BACKEND: &str = if cfg!(mcubench_dsp) { "dsp" } else { "portable" };
/// ADD: table-driven, exact on every target (see [`super::dsp::add`]).
pub use super::dsp::add;
/// Memory-bound ops without a restructured variant: every kernel set runs the reference code.
pub use super::reference::{concatenation, logistic, mean_hw, mul, pad, requantize};
