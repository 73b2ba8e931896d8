//! Errors of the DUT protocol client.
//!
//! Every variant names the command that was in flight (the exact text sent, without the `%`
//! terminator; `<boot>` while waiting for the boot banner) so that a failed benchmark run can be
//! diagnosed from the error message alone, without a serial log.

use std::time::Duration;

/// Pseudo-command used in errors raised while waiting for the boot banner.
pub const BOOT: &str = "<boot>";

/// Anything that can go wrong while talking to a device under test.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// No line arrived within the timeout. `partial` holds every line received for this command
    /// so far (garbage lines included, lossily decoded), which usually tells where the DUT hung.
    #[error(
        "`{command}`: no reply line within {waited:?} while waiting for `m-ready` \
         ({} line(s) received so far{})",
        partial.len(),
        last_line(partial)
    )]
    Timeout { command: String, waited: Duration, partial: Vec<String> },

    /// The byte stream ended (QEMU exited, the serial port went away) before `m-ready`.
    #[error(
        "`{command}`: stream closed before `m-ready` ({} line(s) received{})",
        partial.len(),
        last_line(partial)
    )]
    Closed { command: String, partial: Vec<String> },

    /// The DUT printed an `e-` line and the command cannot have succeeded.
    #[error("`{command}` failed on the device: {message}")]
    Device { command: String, message: String },

    /// A reply line that should have a fixed format did not parse.
    #[error("`{command}`: malformed reply line `{line}`: {reason}")]
    Malformed { command: String, line: String, reason: String },

    /// The reply ended with `m-ready` but lines the protocol requires were missing.
    #[error("`{command}`: reply ended without {}", missing.join(", "))]
    Incomplete { command: String, missing: Vec<String>, lines: Vec<String> },

    /// A reply line exceeded the configured maximum length; it was discarded.
    #[error("`{command}`: reply line longer than {limit} bytes (discarded)")]
    LineTooLong { command: String, limit: usize },

    /// The command cannot be sent as asked (contains `%`, or would be truncated by the DUT's
    /// 80-character command buffer). Nothing was sent.
    #[error("`{command}`: cannot be sent: {reason}")]
    InvalidCommand { command: String, reason: String },

    /// Reading from or writing to the stream failed.
    #[error("`{command}`: I/O error: {source}")]
    Io {
        command: String,
        #[source]
        source: std::io::Error,
    },
}

impl ProtocolError {
    /// The command that was in flight when the error happened.
    pub fn command(&self) -> &str {
        match self {
            ProtocolError::Timeout { command, .. }
            | ProtocolError::Closed { command, .. }
            | ProtocolError::Device { command, .. }
            | ProtocolError::Malformed { command, .. }
            | ProtocolError::Incomplete { command, .. }
            | ProtocolError::LineTooLong { command, .. }
            | ProtocolError::InvalidCommand { command, .. }
            | ProtocolError::Io { command, .. } => command,
        }
    }

    /// Lines received before the error, where the variant keeps them.
    pub fn partial_lines(&self) -> &[String] {
        match self {
            ProtocolError::Timeout { partial, .. } | ProtocolError::Closed { partial, .. } => partial,
            ProtocolError::Incomplete { lines, .. } => lines,
            _ => &[],
        }
    }
}

fn last_line(partial: &[String]) -> String {
    match partial.last() {
        Some(l) => format!(", last: `{l}`"),
        None => String::new(),
    }
}
