//! Reading a run's stored records in tests.
use mcubench::results::{Entry, ResultRecord};

/// The golden checks' verdicts, in the order stored.
pub fn goldens(records: &[ResultRecord]) -> Vec<bool> {
    records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Check { check, passed, .. } if check == "golden" => Some(*passed),
            _ => None,
        })
        .collect()
}

/// The failures, as (stage, message).
pub fn failures(records: &[ResultRecord]) -> Vec<(String, String)> {
    records.iter().filter_map(|r| r.failure()).map(|(stage, message)| (stage.to_string(), message.to_string())).collect()
}

/// The failures of one board, as (stage, message).
pub fn board_failures(records: &[ResultRecord], board: &str) -> Vec<(String, String)> {
    records.iter().filter(|r| r.job.board == board).filter_map(|r| r.failure()).map(|(stage, message)| (stage.to_string(), message.to_string())).collect()
}
