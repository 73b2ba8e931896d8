//! The console reporter: progress lines on stderr, tables on stdout.
use std::time::Instant;

use mcubench::events::RunEvent;
use mcubench::results::{Entry, ResultRecord};
use mcubench_reports::table;

pub struct Console {
    started: Instant,
    total: usize,
    done: usize,
}

impl Console {
    pub fn new(total: usize) -> Console {
        Console { started: Instant::now(), total, done: 0 }
    }

    fn stamp(&self) -> String {
        format!("[{:>6.1}s]", self.started.elapsed().as_secs_f64())
    }

    pub fn event(&mut self, ev: &RunEvent) {
        match ev {
            RunEvent::BuildStarted { what } => eprintln!("{} building {what} ...", self.stamp()),
            RunEvent::BuildFinished { what, cached, elapsed } => {
                let how = if *cached { "cached".to_string() } else { format!("{:.1}s", elapsed.as_secs_f64()) };
                eprintln!("{} built {what} ({how})", self.stamp());
            }
            RunEvent::JobStarted { job } => eprintln!("{} start {job}", self.stamp()),
            RunEvent::SessionStarted { job, pid } => {
                let pid = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
                eprintln!("{}   {} / {}: QEMU started{pid}", self.stamp(), job.board, job.workload)
            }
            RunEvent::JobStep { job, step } => eprintln!("{}   {} / {}: {step}", self.stamp(), job.board, job.workload),
            RunEvent::Record(r) => match &r.entry {
                Entry::Failure { stage, message } if !r.entry.is_job_failure() => {
                    eprintln!("{} RETRY {} ({stage}): {message}", self.stamp(), r.job)
                }
                Entry::Failure { stage, message } if message.starts_with(&format!("{stage}: ")) => {
                    // "unsupported: ADD" names its stage already.
                    eprintln!("{} FAILED {}: {message}", self.stamp(), r.job)
                }
                Entry::Failure { stage, message } => {
                    eprintln!("{} FAILED {} at {stage}: {message}", self.stamp(), r.job)
                }
                Entry::Check { passed: false, detail, .. } => eprintln!("{} MISMATCH {}: {detail}", self.stamp(), r.job),
                _ => {}
            },
            RunEvent::JobFinished { job, ok, elapsed } => {
                self.done += 1;
                let status = if *ok { "done" } else { "failed" };
                eprintln!("{} {status} {job} in {:.1}s ({}/{} jobs)", self.stamp(), elapsed.as_secs_f64(), self.done, self.total);
            }
        }
    }
}

/// Prints one study-style table per workload, then the legend and any failures.
pub fn print_tables(records: &[ResultRecord]) {
    let tables = table::workload_tables(records);
    if tables.is_empty() {
        println!("(no results)");
        return;
    }
    for t in &tables {
        println!("\n{}", t.text);
        for f in &t.failures {
            println!("  failure: {f}");
        }
    }
    println!();
    for line in table::legend(records) {
        println!("  {line}");
    }
}
