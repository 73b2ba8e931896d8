//! The framework adapters; exactly one is compiled in.
#[cfg(not(feature = "no-model"))]
pub mod reference;
