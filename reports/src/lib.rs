//! Result records (the results-store schema) and the tables made from them.
pub mod record;
pub mod table;

pub use record::*;
