//! The framework adapters; exactly one is compiled in, chosen by a `framework-*` cargo
//! feature (the reference runtime when none is set). Each module exposes
//! `pub fn new() -> Result<impl Engine, impl Display>`, re-exported here as `selected`.
#![allow(unused_imports)]

#[cfg(all(
    not(feature = "no-model"),
    not(any(
        feature = "framework-tflm",
        feature = "framework-cmsis-nn",
        feature = "framework-tinymaix",
        feature = "framework-microflow"
    ))
))]
pub mod reference;
#[cfg(all(
    not(feature = "no-model"),
    not(any(
        feature = "framework-tflm",
        feature = "framework-cmsis-nn",
        feature = "framework-tinymaix",
        feature = "framework-microflow"
    ))
))]
pub use reference::new as selected;

#[cfg(all(not(feature = "no-model"), feature = "framework-microflow"))]
pub mod microflow;
#[cfg(all(not(feature = "no-model"), feature = "framework-microflow"))]
pub use microflow::new as selected;

#[cfg(all(not(feature = "no-model"), feature = "framework-tinymaix"))]
pub mod tinymaix;
#[cfg(all(not(feature = "no-model"), feature = "framework-tinymaix"))]
pub use tinymaix::new as selected;

#[cfg(all(not(feature = "no-model"), feature = "framework-cmsis-nn"))]
pub mod cmsis_nn;
#[cfg(all(not(feature = "no-model"), feature = "framework-cmsis-nn"))]
pub use cmsis_nn::new as selected;

#[cfg(all(not(feature = "no-model"), feature = "framework-tflm"))]
pub mod tflm;
#[cfg(all(not(feature = "no-model"), feature = "framework-tflm"))]
pub use tflm::new as selected;
