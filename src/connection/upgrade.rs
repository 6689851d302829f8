//! The end of HTTP/1.1 on a connection: a protocol switch (`101`, then a byte stream), and the
//! lingering close of a connection whose client may still be sending.

use std::io;
use std::sync::atomic::Ordering;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use super::{Closing, Expired, Http1Connection, Reading, Transport, Writing, BUFFER_CAPACITY};
use crate::metrics::TimeoutKind;
use crate::proto::h1::{BodyKind, RejectReason, Version};

/// The shortest upgraded write whose buffer is exchanged rather than copied: a short one costs
/// little to copy, and the caller (a WebSocket) keeps its small buffer instead of a pooled
/// 8 KiB one while idle.
const SWAP_MIN: usize = 4096;

/// The most room [`Http1Connection::poll_fill_upgraded`] makes for one read of an upgraded
/// stream (a caller's hint past it gets this much).
const MAX_UPGRADED_READ: usize = 64 * 1024;

/// How long a lingering close keeps reading (the heartbeat adds up to a second).
const LINGER: Duration = Duration::from_secs(2);

impl<T: Transport> Http1Connection<T> {
    /// Counts an upgraded connection out.
    pub(super) fn end_upgrade(&mut self) {
        if matches!(self.reading, Reading::Upgraded { .. }) {
            self.reading = Reading::Eof;
            self.worker.upgraded.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Whether the request asks to switch protocols (HTTP/1.1, `Connection: upgrade`, an
    /// `Upgrade` header, no body).
    pub(super) fn is_upgradable(&self) -> bool {
        let bytes = self.head_bytes();
        let connection_upgrade = self.head.headers().iter().any(|h| {
            h.name.get(bytes).eq_ignore_ascii_case(b"connection")
                && h.value
                    .get(bytes)
                    .split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
        });
        self.head.version == Version::Http11
            && self.head.body == BodyKind::None
            && connection_upgrade
            && self.head.header(bytes, "upgrade").is_some()
    }

    /// Sends `101 Switching Protocols`; from then on the connection is a byte stream.
    pub(super) fn poll_upgrade(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !matches!(self.reading, Reading::Upgraded { .. }) {
            let refuse = |why: &str| Poll::Ready(Err(io::Error::other(why.to_owned())));
            if !self.is_upgradable() {
                return refuse("the request does not ask for an upgrade");
            }
            if self.response.writing != Writing::NotStarted {
                return refuse("the response has already started");
            }
            let open = self.worker.upgraded.fetch_add(1, Ordering::Relaxed);
            if self
                .worker
                .limits
                .max_concurrent_upgraded_connections
                .is_some_and(|max| open >= max)
            {
                self.worker.upgraded.fetch_sub(1, Ordering::Relaxed);
                return refuse("the upgraded-connection limit is reached");
            }
            self.reading = Reading::Upgraded { eof: false };
            self.response.body.clear();
            self.response.status = 101;
            // `101` frames no body and ends HTTP/1.1 here: the decision says close.
            self.commit_head(Some(0), None, false, false);
            self.response.writing = Writing::Done;
            // An upgraded stream has its own pace: no minimum data rates apply (the response
            // rate is not armed for it either, see `arm_write_deadline`).
            self.timer.stop_read_rate();
        }
        self.poll_send_out(cx)
    }

    /// Reads upgraded-stream bytes: first those received after the head, then the socket's.
    pub(super) fn poll_read_upgraded(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let Reading::Upgraded { eof } = self.reading else {
                return Poll::Ready(Err(io::Error::other("the connection is not upgraded")));
            };
            if self.body_pos < self.input.len() {
                let n = buf.len().min(self.input.len() - self.body_pos);
                buf[..n].copy_from_slice(&self.input[self.body_pos..self.body_pos + n]);
                self.body_pos += n;
                return Poll::Ready(Ok(n));
            }
            if eof || buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            // The head stays (the application may still look at it); read bytes go.
            let keep = self.base + self.head_len;
            self.input.truncate(keep);
            self.body_pos = keep;
            // Room for one read past the head, exactly: `reserve` would double the buffer
            // to 16 KiB, which every idle upgraded connection (a WebSocket) would keep.
            if self.input.capacity() - self.input.len() < BUFFER_CAPACITY {
                self.input.reserve_exact(BUFFER_CAPACITY);
            }
            match ready!(self.poll_fill(cx)) {
                Ok(0) => self.reading = Reading::Upgraded { eof: true },
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Reads upgraded-stream bytes into the input buffer, behind the unconsumed ones (which
    /// move up to the head first, the consumed ones going), with room for `want` bytes, from
    /// [`BUFFER_CAPACITY`] up to [`MAX_UPGRADED_READ`]: the room a read finds stays with the
    /// connection, so one that receives large frames reads each in one go.
    pub(super) fn poll_fill_upgraded(
        &mut self,
        cx: &mut Context<'_>,
        want: usize,
    ) -> Poll<io::Result<usize>> {
        let Reading::Upgraded { eof } = self.reading else {
            return Poll::Ready(Err(io::Error::other("the connection is not upgraded")));
        };
        if eof {
            return Poll::Ready(Ok(0));
        }
        // The head stays (the application may still look at it); consumed bytes go.
        let keep = self.base + self.head_len;
        if self.body_pos > keep {
            self.input.drain(keep..self.body_pos);
            self.body_pos = keep;
        }
        let room = want.clamp(BUFFER_CAPACITY, MAX_UPGRADED_READ);
        if self.input.capacity() - self.input.len() < room {
            self.input.reserve_exact(room);
        }
        match ready!(self.poll_fill(cx)) {
            Ok(0) => {
                self.reading = Reading::Upgraded { eof: true };
                Poll::Ready(Ok(0))
            }
            r => Poll::Ready(r),
        }
    }

    /// The upgraded-stream bytes received and not consumed.
    pub(super) fn upgraded_input(&mut self) -> &mut [u8] {
        let start = self.body_pos.min(self.input.len());
        &mut self.input[start..]
    }

    /// Consumes `n` bytes of [`upgraded_input`](Self::upgraded_input).
    pub(super) fn consume_upgraded(&mut self, n: usize) {
        self.body_pos = self.body_pos.saturating_add(n).min(self.input.len());
    }

    /// Writes upgraded-stream bytes and sends them.
    pub(super) fn poll_write_upgraded(
        &mut self,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<()>> {
        if !matches!(self.reading, Reading::Upgraded { .. }) {
            return Poll::Ready(Err(io::Error::other("the connection is not upgraded")));
        }
        // `data` is appended once: a pending send is polled again with nothing new.
        if !self.upgrade_write_pending {
            if self.out.capacity() == 0 {
                self.out = self.worker.take_buffer();
            }
            self.out.extend_from_slice(data);
            self.upgrade_write_pending = true;
        }
        let r = ready!(self.poll_send_out(cx));
        self.upgrade_write_pending = false;
        if self.out.is_empty() && self.out.capacity() > 0 {
            // Sent: an idle upgraded connection holds no output buffer (the next write takes
            // one from the worker's pool).
            self.worker.give_buffer(std::mem::take(&mut self.out));
        }
        Poll::Ready(r)
    }

    /// Writes upgraded-stream bytes from the caller's buffer and sends them: when nothing of
    /// ours is waiting and there are at least [`SWAP_MIN`] of them, the buffers are exchanged
    /// instead of copied (the caller gets an empty one from the worker's pool, and the one sent
    /// goes back to the pool, so buffers circulate and an idle connection still holds no
    /// output buffer).
    pub(super) fn poll_write_upgraded_vec(
        &mut self,
        cx: &mut Context<'_>,
        data: &mut Vec<u8>,
    ) -> Poll<io::Result<()>> {
        if !matches!(self.reading, Reading::Upgraded { .. }) {
            data.clear();
            return Poll::Ready(Err(io::Error::other("the connection is not upgraded")));
        }
        if !self.upgrade_write_pending && self.out.is_empty() && data.len() >= SWAP_MIN {
            if self.out.capacity() == 0 {
                self.out = self.worker.take_buffer();
            }
            std::mem::swap(&mut self.out, data);
            return self.poll_write_upgraded(cx, &[]);
        }
        let r = self.poll_write_upgraded(cx, data);
        data.clear();
        r
    }

    /// How to close after the last response: linger if the client may still be sending.
    pub(crate) fn closing(&self) -> Closing {
        let ended = matches!(
            self.reading,
            Reading::Eof
                | Reading::Upgraded { eof: true }
                | Reading::BodyRejected(RejectReason::UnexpectedEof)
        );
        let unread = match self.reading {
            // Upgraded: bytes the application has read are consumed even while they are
            // still in the buffer (it is truncated at the next read). A WebSocket that ended
            // with the close handshake read everything it was sent: it closes at once, as
            // RFC 6455 7.1.1 wants of the server, and its upgraded slot frees now.
            Reading::Upgraded { .. } => self.body_pos < self.input.len(),
            _ => self.base + self.head_len < self.input.len() || !self.body.is_done(),
        };
        if !ended && unread {
            Closing::Linger
        } else {
            Closing::Now
        }
    }

    /// The lingering close: the write side is shut (the client sees the end of the response),
    /// and whatever still arrives is read and dropped until the client closes or [`LINGER`]
    /// passes.
    pub(crate) fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.timer.take_if(Expired::Linger) {
            self.worker.metrics.timeout(TimeoutKind::Linger);
            return Poll::Ready(());
        }
        if self.timer.deadline_kind() != Some(Expired::Linger) {
            self.transport.shutdown_write();
            self.set_deadline(LINGER, Expired::Linger);
        }
        loop {
            if self.timer.take_if(Expired::Linger) {
                self.worker.metrics.timeout(TimeoutKind::Linger);
                return Poll::Ready(());
            }
            self.input.clear();
            self.base = 0;
            self.head_len = 0;
            match self.poll_fill(cx) {
                Poll::Pending => {
                    self.timer.register(cx.waker());
                    return Poll::Pending;
                }
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                    self.timer.clear_deadline();
                    return Poll::Ready(());
                }
                Poll::Ready(Ok(_)) => {}
            }
        }
    }
}
