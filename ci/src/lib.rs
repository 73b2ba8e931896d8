//! The performance regression gate behind `mcubench gate` and `mcubench baseline`.
//!
//! - [`baseline`]: named, committed baselines made from a run's records (small, sorted,
//!   one figure per line).
//! - [`rules`]: the gate rules (`ci/gate.yaml`): per metric a relative and/or absolute limit,
//!   with per board/framework/workload overrides.
//! - [`stats`]: medians, a seeded bootstrap of the median ratio, Mann-Whitney U.
//! - [`gate`]: compares a run with a baseline under the rules: deterministic figures exactly,
//!   noisy figures statistically; decides the exit code.
//! - [`report`]: terminal summary, Markdown (pull-request comment) and JUnit XML.
pub mod baseline;
pub mod error;
pub mod gate;
/// The results-store schema: the very same source file as `mcubench_reports::record`, compiled
/// here so that the gate does not depend on the reporting stack (polars, plotters) and builds
/// in seconds. Records cross over as JSON, their store format.
#[path = "../../reports/src/record.rs"]
pub mod record;
pub mod report;
pub mod rules;
pub mod stats;

pub use error::CiError;
pub use gate::{evaluate, Check, GateOptions, GateReport, Outcome, Status};

/// Exit codes of `mcubench gate`, kept stable for CI scripts.
pub mod exit {
    /// Every gated figure is within its limits (improvements may be reported).
    pub const OK: u8 = 0;
    /// A correctness check failed in the run (outputs differ from the goldens).
    pub const CHECK_FAILED: u8 = 1;
    /// Bad usage or configuration: bad arguments, malformed rules or baseline file, a missing
    /// baseline, or a baseline that does not fit the run (other clock or source, too few samples).
    pub const USAGE: u8 = 2;
    /// A performance regression beyond the limits.
    pub const REGRESSION: u8 = 3;
    /// Infrastructure failure: a job failed (build, board unreachable, timeout), figures missing,
    /// or no results at all.
    pub const INFRASTRUCTURE: u8 = 4;
}

/// Record builders for tests (here and in the harness's gate tests).
#[doc(hidden)]
pub mod testutil;
