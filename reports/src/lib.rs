//! Result records (the results-store schema), their analysis with polars, and the reports made
//! from them: study-style tables, comparison with published numbers, exports and HTML.
pub mod compare;
pub mod export;
pub mod grid;
pub mod html;
pub mod layouts;
pub mod published;
pub mod record;
pub mod summary;
pub mod table;

pub use record::*;
