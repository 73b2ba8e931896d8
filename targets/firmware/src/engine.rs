//! The framework adapter interface. The protocol server, timing, stack painting, input
//! conversion and result printing are shared ([`crate::bench::Bench`]); an engine only loads
//! its model, exposes its int8 input and output tensors, invokes, and reports arena use.
//!
//! One engine is compiled in, chosen by a cargo feature (`framework-*`; the reference runtime
//! when none is set). See `engines/`.

/// Quantization of an int8 tensor: real = scale * (q - zero_point).
#[derive(Clone, Copy, Debug)]
pub struct TensorQuant {
    pub len: usize,
    pub scale: f32,
    pub zero_point: i32,
}

/// What an engine says about itself, for the results' provenance.
#[derive(Clone, Copy, Debug)]
pub struct FrameworkInfo {
    /// `m-mcubench-framework-[<name> <version>]`: one word, then the version.
    pub name: &'static str,
    pub version: &'static str,
    /// `m-mcubench-framework-build-[<compiler> <flags>]`: how the engine's code was compiled.
    pub build: &'static str,
}

/// An inference engine behind the MLPerf Tiny protocol.
pub trait Engine {
    type Error: core::fmt::Display;
    fn framework(&self) -> FrameworkInfo;
    fn input_quant(&self) -> TensorQuant;
    fn output_quant(&self) -> TensorQuant;
    /// The input tensor; written before every [`Engine::invoke`] (engines may reuse its
    /// bytes for intermediates).
    fn input_mut(&mut self) -> &mut [i8];
    /// One inference. Runs inside the counted window: no printing, no allocation.
    fn invoke(&mut self) -> Result<(), Self::Error>;
    fn output(&self) -> &[i8];
    /// (peak bytes used, bytes reserved) of the engine's working memory.
    fn arena(&self) -> (usize, usize);
}
