//! The MLPerf Tiny workloads and their golden input/output pairs.
use std::path::{Path, PathBuf};

/// How the MLPerf Tiny runner sends a workload's input over the `db` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputFormat {
    /// Little-endian float32 values the DUT must quantize itself (ad01).
    Float32Le,
    /// Already int8 (kws01).
    Int8,
    /// uint8 pixels; the DUT maps them to int8 (q = u8 - 128 for the models' zero point -128).
    Uint8,
}

impl InputFormat {
    /// Bytes per input element on the wire.
    pub fn bytes_per_element(self) -> usize {
        match self {
            InputFormat::Float32Le => 4,
            InputFormat::Int8 | InputFormat::Uint8 => 1,
        }
    }
}

/// One MLPerf Tiny benchmark workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Workload {
    /// EEMBC id, e.g. "ad01".
    pub id: &'static str,
    pub name: &'static str,
    /// File name in the models directory.
    pub model_file: &'static str,
    pub input_format: InputFormat,
    /// Elements of the model input.
    pub input_elements: usize,
    /// Elements of the model output.
    pub output_elements: usize,
    pub default_runs: u32,
    pub default_warmups: u32,
}

impl Workload {
    /// Bytes the runner sends for one input.
    pub fn input_wire_bytes(&self) -> usize {
        self.input_elements * self.input_format.bytes_per_element()
    }

    /// Path of the model file in [`default_models_dir`].
    pub fn model_path(&self) -> PathBuf {
        default_models_dir().join(self.model_file)
    }
}

static WORKLOADS: [Workload; 4] = [
    Workload {
        id: "ad01",
        name: "Anomaly detection (FC autoencoder)",
        model_file: "ad_autoencoder_int8.tflite",
        input_format: InputFormat::Float32Le,
        input_elements: 640,
        output_elements: 640,
        default_runs: 10,
        default_warmups: 1,
    },
    Workload {
        id: "kws01",
        name: "Keyword spotting (DS-CNN)",
        model_file: "kws_ds_cnn_int8.tflite",
        input_format: InputFormat::Int8,
        input_elements: 490,
        output_elements: 12,
        default_runs: 5,
        default_warmups: 1,
    },
    Workload {
        id: "vww01",
        name: "Visual wake words (MobileNetV1 0.25)",
        model_file: "vww_mobilenet_v1_025_int8.tflite",
        input_format: InputFormat::Uint8,
        input_elements: 96 * 96 * 3,
        output_elements: 2,
        default_runs: 3,
        default_warmups: 1,
    },
    Workload {
        id: "ic01",
        name: "Image classification (ResNet-8)",
        model_file: "ic_resnet8_int8.tflite",
        input_format: InputFormat::Uint8,
        input_elements: 32 * 32 * 3,
        output_elements: 10,
        default_runs: 5,
        default_warmups: 1,
    },
];

/// All workloads, in the MLPerf Tiny order used by reports.
pub fn all() -> &'static [Workload] {
    &WORKLOADS
}

/// The workload with EEMBC id `id` (e.g. "kws01").
pub fn by_id(id: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.id == id)
}

/// Directory of the `.tflite` files: `$MCUBENCH_MODELS_DIR`, else
/// `<repo>/../shared/models/mlperf-tiny`.
pub fn default_models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MCUBENCH_MODELS_DIR") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models/mlperf-tiny")
}

/// Directory of the goldens: `$MCUBENCH_GOLDENS_DIR`, else `workloads/goldens`.
pub fn default_goldens_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MCUBENCH_GOLDENS_DIR") {
        return PathBuf::from(d);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("goldens")
}

/// One golden pair: an int8 input and the int8 output TFLite Micro computed for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Golden {
    pub seed: u32,
    pub input: Vec<i8>,
    pub output: Vec<i8>,
}

/// Errors reading goldens.
#[derive(Debug, thiserror::Error)]
pub enum GoldenError {
    #[error("unknown workload id {0:?}")]
    UnknownWorkload(String),
    #[error("no goldens for {id} in {dir}")]
    Missing { id: String, dir: PathBuf },
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} has {got} bytes, expected {expected}")]
    BadSize { path: PathBuf, got: usize, expected: usize },
}

fn read_i8(path: &Path, expected: usize) -> Result<Vec<i8>, GoldenError> {
    let b = std::fs::read(path).map_err(|source| GoldenError::Io { path: path.to_path_buf(), source })?;
    if b.len() != expected {
        return Err(GoldenError::BadSize { path: path.to_path_buf(), got: b.len(), expected });
    }
    Ok(b.into_iter().map(|v| v as i8).collect())
}

/// Golden pairs of workload `id` from [`default_goldens_dir`] (`<id>/input_<seed>.bin`,
/// `<id>/output_<seed>.bin`), sorted by seed.
pub fn goldens(id: &str) -> Result<Vec<Golden>, GoldenError> {
    goldens_in(&default_goldens_dir(), id)
}

/// As [`goldens`], from `dir`.
pub fn goldens_in(dir: &Path, id: &str) -> Result<Vec<Golden>, GoldenError> {
    let w = by_id(id).ok_or_else(|| GoldenError::UnknownWorkload(id.to_string()))?;
    let d = dir.join(id);
    let rd = std::fs::read_dir(&d).map_err(|_| GoldenError::Missing { id: id.to_string(), dir: d.clone() })?;
    let mut seeds: Vec<u32> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix("input_")?.strip_suffix(".bin")?.parse().ok()
        })
        .collect();
    seeds.sort_unstable();
    if seeds.is_empty() {
        return Err(GoldenError::Missing { id: id.to_string(), dir: d });
    }
    seeds
        .into_iter()
        .map(|seed| {
            Ok(Golden {
                seed,
                input: read_i8(&d.join(format!("input_{seed}.bin")), w.input_elements)?,
                output: read_i8(&d.join(format!("output_{seed}.bin")), w.output_elements)?,
            })
        })
        .collect()
}
