//! mcubench workloads: the MLPerf Tiny workload definitions, a bounds-checked TFLite reader,
//! the importer that lowers `.tflite` models to the reference runtime's blob format, and the
//! golden input/output loader.
pub mod fold;
pub mod import;
pub mod tflite;
pub mod tinymaix;

pub use import::{import_tflite, ImportError, ImportedModel, IoInfo};
pub mod workload;

pub use workload::{all, by_id, default_models_dir, goldens, Golden, InputFormat, Workload};
