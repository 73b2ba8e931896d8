//! `mcubench run --resume`: which jobs of the previous run stand, and which run again.
//!
//! A job of the previous run stands when it finished whole and clean: it has records, none is
//! a failure, no check failed, and it has as many timed windows and golden checks as this run
//! asks for (a harness killed mid-job leaves a job with some records and no failure). Every
//! other planned job runs again, including jobs the previous run never reached.
use crate::plan::Job;
use crate::results::{Entry, JobKey, Metric, ResultRecord};

/// The outcome of [`split`].
#[derive(Debug, Default)]
pub struct Resume {
    /// The run being resumed.
    pub previous_run: String,
    /// Records of the jobs that stand, in store order.
    pub kept: Vec<ResultRecord>,
    pub kept_jobs: Vec<JobKey>,
    /// Jobs to run again, and why (`failed at infer`, `incomplete`, `not run`).
    pub rerun: Vec<(Job, String)>,
}

/// Splits `jobs` (planned with the same selection as the run being resumed) by what the last
/// run in `store_records` left. `None` when the store holds no run.
pub fn split(store_records: &[ResultRecord], jobs: Vec<Job>, windows: u32, golden_checks: usize) -> Option<Resume> {
    let previous_run = store_records.last()?.run_id.clone();
    let previous: Vec<&ResultRecord> = store_records.iter().filter(|r| r.run_id == previous_run).collect();
    let mut out = Resume { previous_run, ..Resume::default() };
    for job in jobs {
        let key = job.key();
        let records: Vec<&ResultRecord> = previous.iter().copied().filter(|r| r.job == key).collect();
        let goldens = mcubench_workloads::workload::goldens(job.workload.id).map(|g| g.len()).unwrap_or(0);
        // An external firmware may not report its output, so it may have no golden checks.
        let want_checks = if job.external.is_some() { 0 } else { golden_checks.min(goldens) };
        match verdict(&records, windows.max(1) as usize, want_checks) {
            None => {
                out.kept.extend(records.into_iter().cloned());
                out.kept_jobs.push(key);
            }
            Some(why) => out.rerun.push((job, why)),
        }
    }
    Some(out)
}

/// `None` if the job's records make a whole, clean job; else why it must run again.
fn verdict(records: &[&ResultRecord], windows: usize, golden_checks: usize) -> Option<String> {
    if records.is_empty() {
        return Some("not run".into());
    }
    if let Some(stage) = records.iter().find_map(|r| match &r.entry {
        Entry::Failure { stage, .. } if r.entry.is_job_failure() => Some(stage.clone()),
        _ => None,
    }) {
        return Some(format!("failed at {stage}"));
    }
    if records.iter().any(|r| matches!(&r.entry, Entry::Check { passed: false, .. })) {
        return Some("a check failed".into());
    }
    let timed = records.iter().filter(|r| r.metric().is_some_and(|m| m.0 == Metric::HostInferMs)).count();
    let checks = records.iter().filter(|r| matches!(&r.entry, Entry::Check { check, .. } if check == "golden")).count();
    if timed < windows || checks < golden_checks {
        return Some(format!("incomplete ({timed}/{windows} windows, {checks}/{golden_checks} golden checks)"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Provenance, Source, SCHEMA_VERSION};

    fn rec(run: &str, board: &str, entry: Entry) -> ResultRecord {
        ResultRecord {
            schema: SCHEMA_VERSION,
            run_id: run.into(),
            recorded_at: "2026-01-01T00:00:00Z".into(),
            job: JobKey { board: board.into(), framework: "reference-runtime".into(), workload: "ad01".into() },
            entry,
            provenance: Provenance::default(),
        }
    }
    fn timed() -> Entry {
        Entry::Metric { metric: Metric::HostInferMs, value: 1.0, unit: "ms".into(), source: Source::Measured, note: None }
    }
    fn golden(passed: bool) -> Entry {
        Entry::Check { check: "golden".into(), passed, detail: String::new() }
    }

    #[test]
    fn verdicts() {
        let ok = [rec("r", "a", golden(true)), rec("r", "a", timed()), rec("r", "a", timed())];
        assert_eq!(verdict(&ok.iter().collect::<Vec<_>>(), 2, 1), None);
        assert_eq!(verdict(&ok.iter().collect::<Vec<_>>(), 3, 1).unwrap(), "incomplete (2/3 windows, 1/1 golden checks)");
        assert_eq!(verdict(&ok.iter().collect::<Vec<_>>(), 2, 2).unwrap(), "incomplete (2/2 windows, 1/2 golden checks)");
        assert_eq!(verdict(&[], 1, 0).unwrap(), "not run");
        let bad = [rec("r", "a", golden(false)), rec("r", "a", timed())];
        assert_eq!(verdict(&bad.iter().collect::<Vec<_>>(), 1, 1).unwrap(), "a check failed");
        let failed = [rec("r", "a", timed()), rec("r", "a", Entry::Failure { stage: "boot".into(), message: String::new() })];
        assert_eq!(verdict(&failed.iter().collect::<Vec<_>>(), 1, 0).unwrap(), "failed at boot");
    }

    #[test]
    fn only_the_last_run_counts() {
        let store = [rec("old", "a", timed()), rec("new", "b", timed())];
        assert!(split(&store, Vec::new(), 1, 0).is_some_and(|r| r.previous_run == "new"));
        assert!(split(&[], Vec::new(), 1, 0).is_none());
    }
}
