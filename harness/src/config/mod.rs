//! Configuration files: the board farm inventory (`boards.yaml`) and suite files.
mod boards;
mod suite;

pub use boards::*;
pub use suite::{Suite, SuiteError};
