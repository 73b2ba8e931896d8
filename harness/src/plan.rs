//! Suite planning: which jobs (board x framework x workload) a run does.
use crate::config::{Board, BoardsFile};
use mcubench_workloads::workload::{self, Workload};

/// The reference runtime with its optimized kernels: the default framework.
pub const REFERENCE_RUNTIME: &str = "reference-runtime";

/// An inference engine the firmware can be built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framework {
    pub name: &'static str,
    /// Cargo features of `targets/firmware` that select it.
    pub firmware_features: &'static [&'static str],
    /// The framework's own model file, embedded next to the runtime blob
    /// (`MCUBENCH_MODEL_FILE`).
    pub model_file: ModelFile,
    /// The TFLite builtin operators the framework can run (names as the importer reports
    /// them); `None` = every operator the importer accepts. A model using others is
    /// reported as `unsupported: OP, ...` instead of being built.
    pub supported_ops: Option<&'static [&'static str]>,
    /// One line for `mcubench run --help` (details: targets/adapters/<name>/README.md).
    pub description: &'static str,
}

impl Framework {
    /// The operators of `ops` this framework cannot run, each once, in order.
    pub fn unsupported_ops(&self, ops: &[String]) -> Vec<String> {
        let Some(supported) = self.supported_ops else { return Vec::new() };
        let mut missing: Vec<String> = Vec::new();
        for op in ops {
            if !supported.contains(&op.as_str()) && !missing.contains(op) {
                missing.push(op.clone());
            }
        }
        missing
    }
}

/// Which model file, besides the reference runtime's blob, a framework's firmware embeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFile {
    /// Only the blob (the reference runtime, and engines that run its plan).
    None,
    /// The original .tflite flatbuffer, unchanged.
    Tflite,
    /// The model converted to TinyMaix's format (`.tmdl`) by `mcubench_workloads::tinymaix`.
    TinyMaix,
}

/// The microflow crate the adapter (targets/adapters/microflow) pins.
pub const MICROFLOW_VERSION: &str = "0.1.3";

/// The TFLite operators microflow 0.1.3 can compile.
pub const MICROFLOW_OPS: &[&str] =
    &["FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "SOFTMAX"];

/// The frameworks the harness can build.
pub const FRAMEWORKS: &[Framework] = &[
    Framework {
        name: REFERENCE_RUNTIME,
        firmware_features: &[],
        model_file: ModelFile::None,
        supported_ops: None,
        description: "mcubench's int8 runtime, optimized kernels (the default)",
    },
    Framework {
        name: "reference-runtime-portable",
        firmware_features: &["kernels-portable"],
        model_file: ModelFile::None,
        supported_ops: None,
        description: "mcubench's int8 runtime, portable reference kernels",
    },
    Framework {
        name: "cmsis-nn",
        firmware_features: &["framework-cmsis-nn"],
        model_file: ModelFile::None,
        // The importer's graph (blob) run with CMSIS-NN kernels: every operator the importer
        // lowers has one (RESHAPE is a no-op). See targets/adapters/cmsis-nn.
        supported_ops: Some(&[
            "CONV_2D",
            "DEPTHWISE_CONV_2D",
            "FULLY_CONNECTED",
            "AVERAGE_POOL_2D",
            "MAX_POOL_2D",
            "ADD",
            "SOFTMAX",
            "RESHAPE",
        ]),
        description: "Arm CMSIS-NN int8 kernels (DSP on M4/M7, Helium on M55)",
    },
    Framework {
        name: "tflite-micro",
        firmware_features: &["framework-tflm"],
        model_file: ModelFile::Tflite,
        // The kernels of TFLite Micro 2020 (its AllOpsResolver); the firmware registers only
        // the model's own. See targets/adapters/tflm.
        supported_ops: Some(&[
            "FULLY_CONNECTED", "MAX_POOL_2D", "SOFTMAX", "LOGISTIC", "SVDF", "CONV_2D",
            "CONCATENATION", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "ABS", "SIN", "COS", "LOG",
            "SQRT", "RSQRT", "SQUARE", "PRELU", "FLOOR", "MAXIMUM", "MINIMUM", "ARG_MAX",
            "ARG_MIN", "LOGICAL_OR", "LOGICAL_AND", "LOGICAL_NOT", "RESHAPE", "EQUAL",
            "NOT_EQUAL", "GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL", "CEIL", "ROUND",
            "STRIDED_SLICE", "PACK", "PAD", "PADV2", "SPLIT", "UNPACK", "NEG", "ADD", "MUL",
            "SUB", "QUANTIZE", "DEQUANTIZE", "RELU", "RELU6", "MEAN", "RESIZE_NEAREST_NEIGHBOR",
            "L2_NORMALIZATION", "TANH",
        ]),
        description: "TensorFlow Lite Micro 2020 (tfmicro 0.1.0), the .tflite",
    },
    Framework {
        name: "tinymaix",
        firmware_features: &["framework-tinymaix"],
        model_file: ModelFile::TinyMaix,
        // AVERAGE_POOL_2D only global (TinyMaix GAP), ADD only without broadcasting; the
        // converter reports other cases. No MAX_POOL_2D.
        supported_ops: Some(&[
            "CONV_2D",
            "DEPTHWISE_CONV_2D",
            "FULLY_CONNECTED",
            "AVERAGE_POOL_2D",
            "RESHAPE",
            "SOFTMAX",
            "ADD",
        ]),
        description: "TinyMaix C runtime, int8, on the .tflite converted to .tmdl",
    },
    Framework {
        name: "microflow",
        firmware_features: &["framework-microflow"],
        model_file: ModelFile::Tflite,
        // What microflow 0.1.3's compiler accepts (its `model` macro aborts on anything else);
        // fused activations NONE, RELU, RELU6 only. Same list as targets/adapters/microflow.
        supported_ops: Some(MICROFLOW_OPS),
        description: "microflow 0.1.3, the .tflite compiled to Rust code",
    },
];

/// Short names accepted wherever a framework is named (`--frameworks reference,tflm,...`).
pub const FRAMEWORK_ALIASES: &[(&str, &str)] = &[
    ("reference", REFERENCE_RUNTIME),
    ("reference-portable", "reference-runtime-portable"),
    ("tflm", "tflite-micro"),
    ("cmsisnn", "cmsis-nn"),
];

/// The framework's registry name for `name` or one of its [`FRAMEWORK_ALIASES`].
pub fn canonical_framework(name: &str) -> &str {
    FRAMEWORK_ALIASES.iter().find(|(alias, _)| *alias == name).map_or(name, |(_, full)| full)
}

pub fn framework(name: &str) -> Option<&'static Framework> {
    let name = canonical_framework(name);
    FRAMEWORKS.iter().find(|f| f.name == name)
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("unknown board '{name}'; boards in {file}: {known}")]
    UnknownBoard { name: String, file: String, known: String },
    #[error("unknown workload '{id}'; known workloads: {known}")]
    UnknownWorkload { id: String, known: String },
    #[error("unknown framework '{name}'; available: {known}")]
    UnknownFramework { name: String, known: String },
    #[error("the selection leaves no jobs to run")]
    Empty,
    #[error("{0}")]
    External(String),
}

/// One unit of work: a workload through a framework on a board.
#[derive(Debug, Clone)]
pub struct Job {
    pub board: Board,
    pub framework: String,
    pub workload: &'static Workload,
    /// A prebuilt firmware to flash instead of building one (`mcubench run --firmware`).
    pub external: Option<ExternalFirmware>,
}

/// A prebuilt ELF of any firmware that speaks the MLPerf Tiny DUT protocol (a vendor build
/// such as X-CUBE-AI, TinyEngine, NNoM, or an mcubench firmware built elsewhere). The harness
/// flashes and runs it as it is and measures what the protocol allows (see the README).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalFirmware {
    pub elf: std::path::PathBuf,
    /// The framework name its results are recorded under.
    pub name: String,
}

/// What the user selected; empty lists mean "the defaults".
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub boards: Vec<String>,
    pub frameworks: Vec<String>,
    pub workloads: Vec<String>,
}

/// The default suite: all four MLPerf Tiny models, in MLPerf Tiny's order (keyword spotting,
/// visual wake words, image classification, anomaly detection).
pub const DEFAULT_WORKLOADS: &[&str] = &["kws01", "vww01", "ic01", "ad01"];

/// Expands a selection into jobs, grouped by board (the scheduler runs one task per board).
pub fn plan(boards: &BoardsFile, file: &str, sel: &Selection) -> Result<Vec<Job>, PlanError> {
    let chosen_boards: Vec<&Board> = if sel.boards.is_empty() {
        boards.boards.iter().collect()
    } else {
        sel.boards
            .iter()
            .map(|name| {
                boards.find(name).ok_or_else(|| PlanError::UnknownBoard {
                    name: name.clone(),
                    file: file.to_owned(),
                    known: boards.boards.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", "),
                })
            })
            .collect::<Result<_, _>>()?
    };
    let frameworks: Vec<String> = if sel.frameworks.is_empty() {
        vec![REFERENCE_RUNTIME.to_owned()]
    } else {
        sel.frameworks.iter().map(|f| canonical_framework(f).to_owned()).collect()
    };
    for f in &frameworks {
        if framework(f).is_none() {
            let known = FRAMEWORKS.iter().map(|f| f.name).collect::<Vec<_>>().join(", ");
            return Err(PlanError::UnknownFramework { name: f.clone(), known });
        }
    }
    let ids: Vec<String> = if sel.workloads.is_empty() {
        DEFAULT_WORKLOADS.iter().map(|s| s.to_string()).collect()
    } else {
        sel.workloads.clone()
    };
    let workloads: Vec<&'static Workload> = ids
        .iter()
        .map(|id| {
            workload::by_id(id).ok_or_else(|| PlanError::UnknownWorkload {
                id: id.clone(),
                known: workload::all().iter().map(|w| w.id).collect::<Vec<_>>().join(", "),
            })
        })
        .collect::<Result<_, _>>()?;
    let mut jobs = Vec::new();
    for board in chosen_boards {
        if let Some(fw) = &board.firmware {
            // The board's prebuilt firmware is its framework (--framework does not apply), built
            // for one workload.
            let w = match &fw.workload {
                Some(id) => {
                    if !sel.workloads.is_empty() && !sel.workloads.contains(id) {
                        continue;
                    }
                    workload::by_id(id).ok_or_else(|| PlanError::UnknownWorkload {
                        id: id.clone(),
                        known: workload::all().iter().map(|w| w.id).collect::<Vec<_>>().join(", "),
                    })?
                }
                None => match workloads.as_slice() {
                    [w] => *w,
                    _ => {
                        return Err(PlanError::External(format!(
                            "{file}: board '{}': field 'firmware.workload': the firmware runs the one workload it was built for; \
                             set firmware.workload, or select one with -w (selected: {})",
                            board.name,
                            ids.join(", ")
                        )))
                    }
                },
            };
            let external = ExternalFirmware { elf: fw.elf.clone(), name: fw.framework.clone() };
            jobs.push(Job { board: board.clone(), framework: fw.framework.clone(), workload: w, external: Some(external) });
            continue;
        }
        for framework in &frameworks {
            for w in &workloads {
                jobs.push(Job { board: board.clone(), framework: framework.clone(), workload: w, external: None });
            }
        }
    }
    if jobs.is_empty() {
        return Err(PlanError::Empty);
    }
    Ok(jobs)
}

/// Jobs for an external firmware: the selected boards (default: all) x the one workload it
/// was built for, recorded under `fw.name`. `sel.frameworks` must be empty (the firmware is
/// the framework).
pub fn plan_external(boards: &BoardsFile, file: &str, sel: &Selection, fw: &ExternalFirmware) -> Result<Vec<Job>, PlanError> {
    if !sel.frameworks.is_empty() {
        return Err(PlanError::External("--framework cannot be combined with --firmware: the firmware is the framework (name it with --framework-name)".into()));
    }
    if sel.workloads.len() != 1 {
        return Err(PlanError::External(format!(
            "--firmware needs exactly one --workload/-w, the one the firmware was built for (got {})",
            if sel.workloads.is_empty() { "none".to_string() } else { sel.workloads.join(", ") }
        )));
    }
    if fw.name.is_empty() || !fw.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c)) {
        return Err(PlanError::External(format!("framework name '{}': use letters, digits, '-', '_', '.' or '+'", fw.name)));
    }
    if framework(&fw.name).is_some() {
        return Err(PlanError::External(format!(
            "framework name '{}' is a framework mcubench builds; name the external firmware differently",
            fw.name
        )));
    }
    if !fw.elf.is_file() {
        return Err(PlanError::External(format!("firmware {}: no such file", fw.elf.display())));
    }
    let sel = Selection { frameworks: vec![REFERENCE_RUNTIME.to_owned()], ..sel.clone() };
    // The firmware given on the command line replaces any a board names in the boards file.
    let mut boards = boards.clone();
    for b in &mut boards.boards {
        b.firmware = None;
    }
    let mut jobs = plan(&boards, file, &sel)?;
    for job in &mut jobs {
        job.framework = fw.name.clone();
        job.external = Some(fw.clone());
    }
    Ok(jobs)
}

/// `--shard i/n`: this process runs the jobs whose index in the plan is `i-1` modulo `n`,
/// so that n CI machines given the same plan run every job exactly once between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based.
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let usage = || format!("'{s}' is not a shard: write I/N with 1 <= I <= N, e.g. --shard 1/3");
        let (i, n) = s.split_once('/').ok_or_else(usage)?;
        let (index, count): (usize, usize) = (i.trim().parse().map_err(|_| usage())?, n.trim().parse().map_err(|_| usage())?);
        if count == 0 || index == 0 || index > count {
            return Err(usage());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// The jobs of this shard, in plan order.
    pub fn select<T>(&self, jobs: Vec<T>) -> Vec<T> {
        jobs.into_iter().enumerate().filter(|(k, _)| k % self.count == self.index - 1).map(|(_, j)| j).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_plan_exactly() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards.yaml");
        let boards = BoardsFile::load(&path).unwrap();
        let keys = |jobs: Vec<Job>| jobs.iter().map(|j| format!("{}/{}", j.board.name, j.workload.id)).collect::<Vec<_>>();
        let all = keys(plan(&boards, "boards.yaml", &Selection::default()).unwrap());
        for n in 1..=5 {
            let mut union = Vec::new();
            for i in 1..=n {
                let shard: Shard = format!("{i}/{n}").parse().unwrap();
                let part = keys(shard.select(plan(&boards, "boards.yaml", &Selection::default()).unwrap()));
                assert!(part.iter().all(|k| !union.contains(k)), "{i}/{n} overlaps: {part:?}");
                union.extend(part);
            }
            union.sort();
            let mut want = all.clone();
            want.sort();
            assert_eq!(union, want, "shards of {n}");
        }
        let two: Shard = "2/2".parse().unwrap();
        assert_eq!(two.select(vec!['a', 'b', 'c', 'd', 'e']), ['b', 'd']);
    }

    #[test]
    fn bad_shards_say_how_to_write_one() {
        for bad in ["0/2", "3/2", "1/0", "2", "a/b", "1/2/3", "-1/2", ""] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(e.contains(&format!("'{bad}' is not a shard")) && e.contains("1 <= I <= N"), "{e}");
        }
        assert_eq!(" 1 / 3".parse::<Shard>(), Ok(Shard { index: 1, count: 3 }));
    }

    #[test]
    fn default_suite_is_the_four_mlperf_tiny_models_on_every_board() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards.yaml");
        let boards = BoardsFile::load(&path).unwrap();
        let jobs = plan(&boards, "boards.yaml", &Selection::default()).unwrap();
        assert_eq!(jobs.len(), 4 * boards.boards.len());
        for b in &boards.boards {
            let ids: Vec<&str> = jobs.iter().filter(|j| j.board.name == b.name).map(|j| j.workload.id).collect();
            assert_eq!(ids, ["kws01", "vww01", "ic01", "ad01"], "{}", b.name);
        }
        assert!(jobs.iter().all(|j| j.framework == REFERENCE_RUNTIME && j.external.is_none()));
    }

    #[test]
    fn short_framework_names_plan_under_their_registry_names() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards.yaml");
        let boards = BoardsFile::load(&path).unwrap();
        let sel = Selection {
            boards: vec!["mps2-an386".into()],
            frameworks: ["reference", "tflm", "cmsis-nn", "tinymaix", "microflow"].map(String::from).to_vec(),
            workloads: vec!["kws01".into()],
        };
        let fws: Vec<String> = plan(&boards, "boards.yaml", &sel).unwrap().into_iter().map(|j| j.framework).collect();
        assert_eq!(fws, ["reference-runtime", "tflite-micro", "cmsis-nn", "tinymaix", "microflow"]);
        let sel = Selection { frameworks: vec!["tf-lite".into()], ..sel };
        let e = plan(&boards, "boards.yaml", &sel).unwrap_err().to_string();
        assert!(e.contains("unknown framework 'tf-lite'") && e.contains("tflite-micro"), "{e}");
    }
}
