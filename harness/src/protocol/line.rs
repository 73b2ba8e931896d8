//! Line framing for DUT -> host output.
//!
//! The DUT prints `\r\n`-terminated lines; some ports print `\n` alone and UARTs emit stray `\0`
//! and noise bytes around resets, so the reader splits on `\n`, drops every `\r` and `\0`, and never
//! assumes UTF-8. A line is bounded by `max_len` so a device spewing bytes without a newline cannot
//! make the host buffer grow without limit.

use tokio::io::{AsyncRead, AsyncReadExt};

/// One line as classified by [`classify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    /// Printable text (valid UTF-8, no control characters other than tab), trimmed.
    Clean(String),
    /// Non-UTF-8 or control bytes. `text` is the lossy rendering; `recovered` is a protocol line
    /// (`m-...`/`e-...`) found after the last bad byte, e.g. `\xff\xfem-ready` after a reset glitch.
    Garbage { text: String, recovered: Option<String> },
}

/// Outcome of one [`LineReader::next_line`] call that is not a line.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The stream reached EOF (any unterminated tail was returned as a line first).
    Closed,
    /// A line exceeded the limit; its bytes up to the next `\n` are discarded.
    TooLong,
    Io(std::io::Error),
}

/// Buffered, cancel-safe line reader: all state lives in `self`, and the only await point is a
/// `read` (which is cancel-safe), so wrapping `next_line` in `tokio::time::timeout` loses no bytes.
#[derive(Debug)]
pub(crate) struct LineReader {
    buf: Vec<u8>,
    max_len: usize,
    /// Inside an over-long line: drop bytes until the next `\n`.
    discarding: bool,
    eof: bool,
}

impl LineReader {
    pub(crate) fn new(max_len: usize) -> Self {
        LineReader { buf: Vec::new(), max_len: max_len.max(1), discarding: false, eof: false }
    }

    /// Next non-empty line (raw bytes, `\r`/`\0` removed, without the `\n`).
    pub(crate) async fn next_line<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut R,
    ) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(line) = self.take_buffered()? {
                return Ok(line);
            }
            if self.eof {
                if !self.buf.is_empty() && !self.discarding {
                    // Unterminated tail before EOF: hand it out so it shows up in `partial`.
                    let tail = std::mem::take(&mut self.buf);
                    let tail = strip(&tail);
                    if !tail.is_empty() {
                        return Ok(tail);
                    }
                }
                self.buf.clear();
                return Err(ReadError::Closed);
            }
            let mut tmp = [0u8; 1024];
            let n = r.read(&mut tmp).await.map_err(ReadError::Io)?;
            if n == 0 {
                self.eof = true;
            } else {
                // `\r` and `\0` are dropped as they arrive, so the buffer holds only bytes that
                // count towards `max_len`: a device printing NULs forever cannot grow it.
                self.buf.extend(tmp[..n].iter().copied().filter(|&b| b != b'\r' && b != 0));
            }
        }
    }

    /// Returns a complete line from the buffer if there is one, the too-long error if the
    /// buffer overflowed, or `None` if more bytes are needed.
    fn take_buffered(&mut self) -> Result<Option<Vec<u8>>, ReadError> {
        loop {
            match self.buf.iter().position(|&b| b == b'\n') {
                Some(nl) => {
                    let raw: Vec<u8> = self.buf.drain(..=nl).collect();
                    if self.discarding {
                        // End of the over-long line already reported.
                        self.discarding = false;
                        continue;
                    }
                    let line = strip(&raw[..nl]);
                    if line.len() > self.max_len {
                        return Err(ReadError::TooLong);
                    }
                    if line.is_empty() {
                        continue;
                    }
                    return Ok(Some(line));
                }
                None => {
                    if self.discarding {
                        self.buf.clear();
                    } else if self.buf.len() > self.max_len {
                        self.buf.clear();
                        self.discarding = true;
                        return Err(ReadError::TooLong);
                    }
                    return Ok(None);
                }
            }
        }
    }

    /// Drops everything buffered (used to resynchronise after a timeout).
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.discarding = false;
    }

    /// Bytes currently buffered (not yet returned as lines).
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }
}

fn strip(raw: &[u8]) -> Vec<u8> {
    raw.iter().copied().filter(|&b| b != b'\r' && b != 0).collect()
}

fn is_bad_char(c: char) -> bool {
    c == char::REPLACEMENT_CHARACTER || (c.is_control() && c != '\t')
}

/// Classifies a raw line: clean text or garbage (with a protocol line recovered if one follows
/// the noise).
pub(crate) fn classify(raw: &[u8]) -> Line {
    match std::str::from_utf8(raw) {
        Ok(s) if !s.chars().any(is_bad_char) => Line::Clean(s.trim().to_string()),
        _ => {
            let text = String::from_utf8_lossy(raw).into_owned();
            let recovered = text
                .char_indices()
                .rev()
                .find(|&(_, c)| is_bad_char(c))
                .and_then(|(i, c)| protocol_suffix(&text[i + c.len_utf8()..]))
                .map(str::to_string);
            Line::Garbage { text, recovered }
        }
    }
}

/// The first `m-...`/`e-...` in `rest` that starts a word (so `system-ready` is not `m-ready`).
fn protocol_suffix(rest: &str) -> Option<&str> {
    let b = rest.as_bytes();
    (0..b.len().saturating_sub(1))
        .find(|&i| {
            (b[i] == b'm' || b[i] == b'e') && b[i + 1] == b'-' && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
        })
        .map(|i| rest[i..].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(input: &[u8], max: usize) -> Vec<Result<Vec<u8>, String>> {
        let mut r = LineReader::new(max);
        let mut src = input;
        let mut out = Vec::new();
        loop {
            match r.next_line(&mut src).await {
                Ok(l) => out.push(Ok(l)),
                Err(ReadError::Closed) => break,
                Err(ReadError::TooLong) => out.push(Err("too long".into())),
                Err(ReadError::Io(e)) => panic!("{e}"),
            }
        }
        out
    }

    #[tokio::test]
    async fn splits_crlf_lf_and_drops_nul_and_empty() {
        let got = lines_of(b"m-a\r\nm-b\n\0\r\n\r\nm-\0c\r\ntail", 100).await;
        let want: Vec<Result<Vec<u8>, String>> =
            vec![Ok(b"m-a".to_vec()), Ok(b"m-b".to_vec()), Ok(b"m-c".to_vec()), Ok(b"tail".to_vec())];
        assert_eq!(got, want);
    }

    #[tokio::test]
    async fn too_long_line_is_reported_once_and_discarded() {
        // 3000 bytes without newline, limit 16: error, then the reader resumes after the `\n`.
        let mut input = vec![b'x'; 3000];
        input.extend_from_slice(b"\r\nm-ready\r\n");
        let got = lines_of(&input, 16).await;
        assert_eq!(got, vec![Err("too long".to_string()), Ok(b"m-ready".to_vec())]);
        // A long line that arrives in one piece with its newline is rejected too.
        let got = lines_of(b"0123456789abcdefXYZ\nm-ok\n", 16).await;
        assert_eq!(got, vec![Err("too long".to_string()), Ok(b"m-ok".to_vec())]);
        // Exactly at the limit is fine; `\r` does not count.
        let got = lines_of(b"0123456789abcdef\r\n", 16).await;
        assert_eq!(got, vec![Ok(b"0123456789abcdef".to_vec())]);
    }

    #[test]
    fn classify_clean_and_garbage() {
        assert_eq!(classify(b"  m-ready "), Line::Clean("m-ready".into()));
        assert_eq!(classify("m-name-dut-[M\u{fc}ller]".as_bytes()), Line::Clean("m-name-dut-[M\u{fc}ller]".into()));
        match classify(b"\xff\xfe\x01m-ready") {
            Line::Garbage { recovered, .. } => assert_eq!(recovered.as_deref(), Some("m-ready")),
            other => panic!("{other:?}"),
        }
        match classify(b"\xf0(\x8c(m-init-done") {
            Line::Garbage { recovered, .. } => assert_eq!(recovered.as_deref(), Some("m-init-done")),
            other => panic!("{other:?}"),
        }
        match classify(b"\xffsystem-ready") {
            Line::Garbage { recovered, .. } => assert_eq!(recovered, None),
            other => panic!("{other:?}"),
        }
        match classify(b"abc\xffdef") {
            Line::Garbage { text, recovered } => {
                assert_eq!(text, "abc\u{fffd}def");
                assert_eq!(recovered, None);
            }
            other => panic!("{other:?}"),
        }
        match classify(b"\x1b[0m") {
            Line::Garbage { recovered, .. } => assert_eq!(recovered, None),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn survives_being_cancelled_mid_line() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let mut r = LineReader::new(100);
        use tokio::io::AsyncWriteExt;
        b.write_all(b"m-par").await.unwrap();
        let t = tokio::time::timeout(std::time::Duration::from_millis(10), r.next_line(&mut a)).await;
        assert!(t.is_err());
        b.write_all(b"tial\r\n").await.unwrap();
        assert_eq!(r.next_line(&mut a).await.unwrap(), b"m-partial".to_vec());
    }
}
