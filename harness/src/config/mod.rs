//! Configuration files: the board farm inventory (`boards.yaml`).
mod boards;

pub use boards::*;
