//! A bound on the bytes one job reads from a board: a device that floods its console (a
//! runaway loop, a wrong baud rate) fails the job instead of keeping the harness busy until the
//! job timeout. Line length is bounded separately, in the protocol's line reader.
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A byte stream that fails every read once more than `limit` bytes came through it.
pub struct OutputCap<S> {
    inner: S,
    read: u64,
    limit: u64,
    board: String,
    tripped: Arc<AtomicBool>,
}

impl<S> OutputCap<S> {
    pub fn new(inner: S, limit: u64, board: &str) -> Self {
        OutputCap { inner, read: 0, limit, board: board.to_string(), tripped: Arc::new(AtomicBool::new(false)) }
    }

    /// Set once the limit was exceeded (it stays so after the stream is dropped).
    pub fn tripped(&self) -> Arc<AtomicBool> {
        self.tripped.clone()
    }

    fn error(&self) -> io::Error {
        io::Error::other(format!(
            "board {}: more than {} bytes of serial output in one job (the output limit; raise --max-output-bytes)",
            self.board, self.limit
        ))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for OutputCap<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.read > self.limit {
            return Poll::Ready(Err(self.error()));
        }
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                this.read += (buf.filled().len() - before) as u64;
                if this.read > this.limit {
                    this.tripped.store(true, Ordering::SeqCst);
                    // The bytes over the limit are not handed on.
                    buf.set_filled(before);
                    return Poll::Ready(Err(this.error()));
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for OutputCap<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn reads_up_to_the_limit_then_fails_naming_board_and_limit() {
        let data = vec![b'x'; 100];
        let mut capped = OutputCap::new(&data[..], 64, "m4");
        let tripped = capped.tripped();
        let mut got = Vec::new();
        let err = capped.read_to_end(&mut got).await.unwrap_err().to_string();
        assert!(got.len() <= 64, "{}", got.len());
        assert!(err.contains("board m4") && err.contains("64 bytes") && err.contains("--max-output-bytes"), "{err}");
        assert!(tripped.load(Ordering::SeqCst));
        let mut under = OutputCap::new(&data[..], 100, "m4");
        let mut all = Vec::new();
        under.read_to_end(&mut all).await.unwrap();
        assert_eq!(all.len(), 100);
    }
}
