//! Captures a guest's stdout or stderr with a byte cap applied while it
//! streams.
//!
//! wasmtime's `MemoryOutputPipe` fails the guest's write once it is full; a
//! script that prints too much should instead keep running with its output
//! cut and flagged, so this sink accepts every write, keeps the first `cap`
//! bytes, and records that it dropped the rest. It can also pass the bytes it
//! keeps on to a live writer (the CLI's terminal).

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Where kept output is copied as it arrives.
pub type LiveOutput = Arc<Mutex<dyn Write + Send>>;

#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

/// A capped, shareable output buffer; clones write to the same buffer.
#[derive(Clone)]
pub(crate) struct CappedOutput {
    cap: usize,
    captured: Arc<Mutex<Captured>>,
    live: Option<LiveOutput>,
}

impl CappedOutput {
    pub(crate) fn new(cap: usize, live: Option<LiveOutput>) -> Self {
        CappedOutput {
            cap,
            captured: Arc::default(),
            live,
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut captured = self.captured.lock().unwrap_or_else(PoisonError::into_inner);
        let room = self.cap.saturating_sub(captured.bytes.len());
        let kept = &bytes[..bytes.len().min(room)];
        captured.bytes.extend_from_slice(kept);
        if kept.len() < bytes.len() {
            captured.truncated = true;
        }
        drop(captured);
        if let Some(live) = &self.live
            && !kept.is_empty()
        {
            let mut live = live.lock().unwrap_or_else(PoisonError::into_inner);
            // The live copy is a convenience: a closed terminal must not fail the guest.
            let _ = live.write_all(kept).and_then(|()| live.flush());
        }
    }

    /// The kept output (lossily decoded as UTF-8) and whether any was
    /// dropped; the buffer starts empty again (a session's next call).
    pub(crate) fn take(&self) -> (String, bool) {
        let mut captured = self.captured.lock().unwrap_or_else(PoisonError::into_inner);
        let Captured { bytes, truncated } = std::mem::take(&mut *captured);
        (String::from_utf8_lossy(&bytes).into_owned(), truncated)
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        // Always ready: bytes past the cap are accepted and dropped.
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_past_the_cap_is_dropped_and_flagged() {
        let out = CappedOutput::new(5, None);
        out.push(b"hello");
        assert_eq!(out.take(), ("hello".to_string(), false));
        let out = CappedOutput::new(5, None);
        out.push(b"hel");
        out.push(b"lo world");
        assert_eq!(out.take(), ("hello".to_string(), true));
    }

    #[test]
    fn live_copy_receives_only_kept_bytes() {
        let live: Arc<Mutex<Vec<u8>>> = Arc::default();
        let out = CappedOutput::new(4, Some(live.clone()));
        out.push(b"abcdef");
        assert_eq!(&*live.lock().unwrap(), b"abcd");
    }
}
