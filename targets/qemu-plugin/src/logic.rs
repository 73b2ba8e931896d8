//! Host-testable logic: arguments, marker decoding, window bookkeeping.

use std::fmt;
use std::path::PathBuf;

/// Name used as a prefix for every message the plugin prints.
pub const PLUGIN_NAME: &str = "mcubench-qemu-plugin";

/// First halfword of the Thumb-2 `DBG #<option>` encoding (T1).
pub const DBG_HW1: u16 = 0xF3AF;
/// Second halfword of `DBG #<option>`, option in bits [3:0].
pub const DBG_HW2_BASE: u16 = 0x80F0;

/// `dbg #<option>` that opens a window.
pub const START_OPTION: u8 = 1;
/// `dbg #<option>` that closes a window.
pub const END_OPTION: u8 = 2;

/// A window marker instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// `dbg #1`
    Start,
    /// `dbg #2`
    End,
}

impl Marker {
    /// Encodes the marker as a non-null callback userdata value.
    pub fn to_tag(self) -> usize {
        match self {
            Marker::Start => 1,
            Marker::End => 2,
        }
    }

    /// Inverse of [`Marker::to_tag`].
    pub fn from_tag(tag: usize) -> Option<Marker> {
        match tag {
            1 => Some(Marker::Start),
            2 => Some(Marker::End),
            _ => None,
        }
    }
}

/// Decodes the raw bytes of one guest instruction, as they sit in memory
/// (little endian, Thumb-2 halfword order). Returns the marker it is, if any.
///
/// `dbg #1` is `AF F3 F1 80`, `dbg #2` is `AF F3 F2 80`.
pub fn decode_marker(bytes: &[u8]) -> Option<Marker> {
    if bytes.len() != 4 {
        return None;
    }
    let hw1 = u16::from_le_bytes([bytes[0], bytes[1]]);
    let hw2 = u16::from_le_bytes([bytes[2], bytes[3]]);
    if hw1 != DBG_HW1 || hw2 & 0xFFF0 != DBG_HW2_BASE {
        return None;
    }
    match (hw2 & 0xF) as u8 {
        START_OPTION => Some(Marker::Start),
        END_OPTION => Some(Marker::End),
        _ => None,
    }
}

/// Parsed plugin arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Host file the plugin writes `window` / `total` lines to.
    pub outfile: PathBuf,
}

/// Parses the `key=value` arguments QEMU passes after the plugin path.
pub fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<Config, String> {
    let usage = "usage: -plugin libmcubench_qemu_plugin.so,outfile=PATH";
    let mut outfile: Option<PathBuf> = None;
    for arg in args {
        let arg = arg.as_ref();
        let Some((key, value)) = arg.split_once('=') else {
            return Err(format!(
                "argument '{arg}' is not of the form key=value ({usage})"
            ));
        };
        match key {
            "outfile" => {
                if value.is_empty() {
                    return Err(format!("argument 'outfile' has an empty path ({usage})"));
                }
                if outfile.is_some() {
                    return Err(format!("argument 'outfile' given more than once ({usage})"));
                }
                outfile = Some(PathBuf::from(value));
            }
            _ => return Err(format!("unknown argument '{key}' ({usage})")),
        }
    }
    match outfile {
        Some(outfile) => Ok(Config { outfile }),
        None => Err(format!(
            "missing required argument 'outfile=PATH' ({usage})"
        )),
    }
}

/// One output line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// `window <k> <n>`: a closed window with `n` instructions between markers.
    Window { index: u64, count: u64 },
    /// `window <k> unmatched`: `dbg #2` without an open window.
    Unmatched { index: u64 },
    /// `total <n>`: all instructions executed (written at exit).
    Total { count: u64 },
}

impl fmt::Display for Line {
    /// Formats the line including its trailing newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Line::Window { index, count } => writeln!(f, "window {index} {count}"),
            Line::Unmatched { index } => writeln!(f, "window {index} unmatched"),
            Line::Total { count } => writeln!(f, "total {count}"),
        }
    }
}

/// Window bookkeeping. Each vCPU has its own open window (Cortex-M boards
/// have one); window indices are global and count every `dbg #2`.
#[derive(Debug, Default)]
pub struct Windows {
    next_index: u64,
    /// Per vCPU: counter value right after the opening `dbg #1`.
    open: Vec<Option<u64>>,
}

impl Windows {
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&mut self, vcpu: usize) -> &mut Option<u64> {
        if self.open.len() <= vcpu {
            self.open.resize(vcpu + 1, None);
        }
        &mut self.open[vcpu]
    }

    /// `dbg #1` executed on `vcpu` after `executed_before` instructions on
    /// that vCPU. A second `dbg #1` restarts the window.
    pub fn start(&mut self, vcpu: usize, executed_before: u64) {
        // The marker itself is instruction number `executed_before + 1`.
        *self.slot(vcpu) = Some(executed_before + 1);
    }

    /// `dbg #2` executed on `vcpu` after `executed_before` instructions on
    /// that vCPU. Closes the window and returns the line to write.
    pub fn end(&mut self, vcpu: usize, executed_before: u64) -> Line {
        let index = self.next_index;
        self.next_index += 1;
        match self.slot(vcpu).take() {
            Some(after_start) => Line::Window {
                index,
                count: executed_before.saturating_sub(after_start),
            },
            None => Line::Unmatched { index },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_markers() {
        assert_eq!(
            decode_marker(&[0xAF, 0xF3, 0xF1, 0x80]),
            Some(Marker::Start)
        );
        assert_eq!(decode_marker(&[0xAF, 0xF3, 0xF2, 0x80]), Some(Marker::End));
        // dbg #0, dbg #15: other options are not markers.
        assert_eq!(decode_marker(&[0xAF, 0xF3, 0xF0, 0x80]), None);
        assert_eq!(decode_marker(&[0xAF, 0xF3, 0xFF, 0x80]), None);
        // nop.w (F3AF 8000), 16-bit nop, truncated data.
        assert_eq!(decode_marker(&[0xAF, 0xF3, 0x00, 0x80]), None);
        assert_eq!(decode_marker(&[0x00, 0xBF]), None);
        assert_eq!(decode_marker(&[0xAF, 0xF3, 0xF1]), None);
        assert_eq!(decode_marker(&[]), None);
    }

    #[test]
    fn tags_round_trip() {
        for m in [Marker::Start, Marker::End] {
            assert_eq!(Marker::from_tag(m.to_tag()), Some(m));
        }
        assert_eq!(Marker::from_tag(0), None);
    }

    #[test]
    fn parses_args() {
        assert_eq!(
            parse_args(&["outfile=/tmp/x.txt"]).unwrap(),
            Config {
                outfile: "/tmp/x.txt".into()
            }
        );
        // '=' inside the path is kept.
        assert_eq!(
            parse_args(&["outfile=a=b"]).unwrap().outfile,
            PathBuf::from("a=b")
        );
        let none: [&str; 0] = [];
        assert!(parse_args(&none).unwrap_err().contains("missing"));
        assert!(parse_args(&["outfile="]).unwrap_err().contains("empty"));
        assert!(parse_args(&["outfile"]).unwrap_err().contains("key=value"));
        assert!(parse_args(&["outfile=a", "outfile=b"])
            .unwrap_err()
            .contains("more than once"));
        assert!(parse_args(&["outfile=a", "foo=1"])
            .unwrap_err()
            .contains("unknown"));
    }

    #[test]
    fn windows() {
        let mut w = Windows::new();
        // dbg #2 first: unmatched, consumes index 0.
        assert_eq!(w.end(0, 10), Line::Unmatched { index: 0 });
        // 100 instructions before dbg #1 (the 101st), 5 in between, dbg #2 is the 107th.
        w.start(0, 100);
        assert_eq!(w.end(0, 106), Line::Window { index: 1, count: 5 });
        // Closed windows do not stay open.
        assert_eq!(w.end(0, 200), Line::Unmatched { index: 2 });
        // Nested dbg #1 restarts the window.
        w.start(0, 300);
        w.start(0, 310);
        assert_eq!(w.end(0, 313), Line::Window { index: 3, count: 2 });
        // Empty window: dbg #1 immediately followed by dbg #2.
        w.start(0, 400);
        assert_eq!(w.end(0, 401), Line::Window { index: 4, count: 0 });
        // Per-vCPU windows.
        w.start(1, 0);
        w.start(0, 500);
        assert_eq!(w.end(1, 8), Line::Window { index: 5, count: 7 });
        assert_eq!(w.end(0, 503), Line::Window { index: 6, count: 2 });
    }

    #[test]
    fn formats_lines() {
        assert_eq!(
            Line::Window {
                index: 3,
                count: 42
            }
            .to_string(),
            "window 3 42\n"
        );
        assert_eq!(
            Line::Unmatched { index: 0 }.to_string(),
            "window 0 unmatched\n"
        );
        assert_eq!(Line::Total { count: 7 }.to_string(), "total 7\n");
    }
}
