//! Line splitting for the LPM01A's text stream: split on `\n`, drop `\r` and `\0`, bound the
//! length so a monitor spewing bytes without newlines cannot grow the buffer without limit.

use tokio::io::{AsyncRead, AsyncReadExt};

#[derive(Debug)]
pub(crate) enum LineError {
    Closed,
    Io(std::io::Error),
}

/// Cancel-safe: all state lives in `self` and the only await is `read`, so a `timeout` around
/// [`LineBuf::next_line`] loses no bytes.
#[derive(Debug, Default)]
pub(crate) struct LineBuf {
    buf: Vec<u8>,
    /// Inside an over-long line: its remaining bytes are dropped up to the next `\n`.
    discarding: bool,
    eof: bool,
}

/// Longer lines are cut: no LPM01A line is longer than ~80 bytes.
pub(crate) const MAX_LINE: usize = 512;

impl LineBuf {
    /// Next non-empty line (without `\r`, `\0`, `\n`). An over-long line is returned cut to
    /// [`MAX_LINE`] bytes (it will not parse, and is counted as garbage by the caller).
    pub(crate) async fn next_line<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> Result<Vec<u8>, LineError> {
        loop {
            if let Some(line) = self.take() {
                return Ok(line);
            }
            if self.eof {
                return Err(LineError::Closed);
            }
            let mut tmp = [0u8; 4096];
            let n = r.read(&mut tmp).await.map_err(LineError::Io)?;
            if n == 0 {
                self.eof = true;
                // An unterminated tail still counts as a line (it is shown in errors).
                if !self.buf.is_empty() && !self.discarding {
                    self.buf.push(b'\n');
                }
            } else {
                self.buf.extend_from_slice(&tmp[..n]);
            }
        }
    }

    fn take(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.buf.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    let raw: Vec<u8> = self.buf.drain(..=nl).collect();
                    if std::mem::take(&mut self.discarding) {
                        continue;
                    }
                    let line: Vec<u8> = raw[..nl].iter().copied().filter(|&b| b != b'\r' && b != 0).collect();
                    if !line.is_empty() {
                        return Some(line);
                    }
                }
                None => {
                    if !self.discarding && self.buf.len() > MAX_LINE {
                        let cut: Vec<u8> = self.buf.drain(..).take(MAX_LINE).collect();
                        self.discarding = true;
                        return Some(cut);
                    }
                    if self.discarding {
                        self.buf.clear();
                    }
                    return None;
                }
            }
        }
    }
}
