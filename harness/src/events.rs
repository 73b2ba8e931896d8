//! Run events: the runner only emits these; reporters (console progress, the results store)
//! only consume them. Keeps measuring apart from showing and storing.
use std::time::Duration;

use crate::results::{JobKey, ResultRecord};

#[derive(Debug, Clone)]
pub enum RunEvent {
    /// A build step (model import, firmware, plugin) started.
    BuildStarted { what: String },
    /// A build step finished; `cached` when nothing had to be rebuilt.
    BuildFinished { what: String, cached: bool, elapsed: Duration },
    /// A job is starting on its board.
    JobStarted { job: JobKey },
    /// A board session is up (QEMU started); `pid` is the emulator's process id.
    SessionStarted { job: JobKey, pid: Option<u32> },
    /// A step inside a job, for progress output.
    JobStep { job: JobKey, step: String },
    /// A record to store (a metric, a check or a failure).
    Record(Box<ResultRecord>),
    /// A job ended; `ok` is false when it recorded a failure.
    JobFinished { job: JobKey, ok: bool, elapsed: Duration },
}
