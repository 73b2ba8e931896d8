//! The mcubench reference runtime: a `no_std` int8 inference engine whose arithmetic is
//! bit exact with TFLite Micro's reference kernels.
//!
//! A model arrives as a compact blob made on the host by `mcubench-workloads` (see
//! [`format`]); [`Model::from_bytes`] validates it once, and an [`Interpreter`] runs it in a
//! caller-owned arena whose layout was planned at import time.
#![cfg_attr(not(feature = "std"), no_std)]

// CONTRACT (fixed; implementations to be filled in):
//
// pub struct Model<'a> { .. }
// impl<'a> Model<'a> {
//     /// Validates the whole blob (bounds, op codes, tensor sizes); never panics.
//     pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, ModelError>;
//     pub fn arena_bytes(&self) -> usize;      // bytes of arena the static plan needs
//     pub fn input(&self) -> TensorInfo;        // the single int8 input
//     pub fn output(&self) -> TensorInfo;       // the single int8 output
// }
// #[derive(Clone, Copy, Debug)]
// pub struct TensorInfo { pub len: usize, pub scale: f32, pub zero_point: i32 }
//
// pub struct Interpreter<'m, 'a> { .. }
// impl<'m, 'a> Interpreter<'m, 'a> {
//     /// Errors if `arena.len() < model.arena_bytes()`.
//     pub fn new(model: &'m Model<'m>, arena: &'a mut [u8]) -> Result<Self, RuntimeError>;
//     pub fn input_mut(&mut self) -> &mut [i8];
//     pub fn output(&self) -> &[i8];
//     pub fn invoke(&mut self) -> Result<(), RuntimeError>;
//     /// Highest arena byte offset actually touched by the plan (== arena_bytes for a static plan).
//     pub fn arena_used(&self) -> usize;
// }
// ModelError and RuntimeError implement core::fmt::Display (and std::error::Error with "std").
