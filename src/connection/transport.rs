//! What the protocol object needs from an engine: receive bytes, send bytes.

use std::io;
use std::task::{Context, Poll};

/// A connection's byte stream, as an engine provides it.
///
/// The protocol object ([`Http1Connection`](super::Http1Connection)) owns the buffers; the
/// transport only moves bytes in and out of them, which is all an engine does.
pub(crate) trait Transport {
    /// Receives bytes and appends them to `buf` (which has spare capacity); `Ok(0)` is end of
    /// stream.
    fn poll_recv(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>>;

    /// Sends every byte of `buf`, then leaves it empty (its capacity kept). Bytes appended to
    /// `buf` while a send is pending go out after the pending ones.
    fn poll_send(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<()>>;

    /// Hands the bytes of `buf` over to be sent without waiting for the kernel to finish: Ready
    /// once they are submitted, leaving `buf` empty (possibly another buffer). A send still in
    /// flight from before is waited for first when `buf` has more bytes, so order is kept; the
    /// next [`poll_send`](Self::poll_send) waits for everything handed over, as a flush. A short
    /// or failed send wakes the task. What was handed over is sent even if the connection is
    /// then closed. The default waits, as `poll_send` does.
    fn poll_submit(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<()>> {
        self.poll_send(cx, buf)
    }

    /// Starts a receive now, if the transport can, so it overlaps the send that follows.
    fn prefetch_recv(&mut self) {}

    /// Shuts the write side (sends FIN) while reading goes on (lingering close).
    fn shutdown_write(&mut self) {}

    /// Closes the connection, abandoning whatever is in flight (the connection is done), but
    /// for bytes handed over with [`poll_submit`](Self::poll_submit).
    fn close(&mut self);
}
