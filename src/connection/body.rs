//! The request body: decoded from the bytes after the head as the application reads it (with
//! `100 Continue`, the size limit and the minimum data rate), or read and dropped after the
//! application returned so the next request can be found.

use std::io;
use std::task::{ready, Context, Poll};

use super::{Continue, Expired, Http1Connection, Reading, Transport, Writing, MAX_DISCARD};
use crate::metrics::TimeoutKind;
use crate::proto::h1::{BodyDecoder, BodyKind, RejectReason, CONTINUE_100};

impl<T: Transport> Http1Connection<T> {
    /// The request-body read behind [`RequestFeature::poll_read_body`](crate::http::RequestFeature).
    pub(super) fn poll_body(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.reading == (Reading::Body { started: false }) {
            self.reading = Reading::Body { started: true };
            self.features.body_size.freeze();
            self.features.body_rate.freeze();
            if self.body_too_large() {
                return Poll::Ready(Err(self.body_error(RejectReason::RequestBodyTooLarge)));
            }
            if !self.body.is_done() {
                self.timer.start_read_rate(self.features.body_rate.get());
            }
        }
        loop {
            if self.timer.take_if(Expired::RequestBodyRate) {
                self.worker.metrics.timeout(TimeoutKind::RequestBodyRate);
                return Poll::Ready(Err(self.body_error(RejectReason::RequestBodyTimeout)));
            }
            // (A stalled send of the 100-continue is judged in `poll_send_out`, below.)
            let (start, end) = self.pending;
            if start < end {
                let n = buf.len().min(end - start);
                buf[..n].copy_from_slice(&self.input[start..start + n]);
                self.pending.0 += n;
                return Poll::Ready(Ok(n));
            }
            if self.body.is_done() {
                self.timer.stop_read_rate();
                return Poll::Ready(Ok(0));
            }
            if self.body_pos < self.input.len() {
                let decoded = match self.body.decode(&self.input[self.body_pos..]) {
                    Ok(d) => d,
                    Err(reason) => return Poll::Ready(Err(self.body_error(reason))),
                };
                let at = self.body_pos;
                self.body_pos += decoded.consumed;
                if !decoded.data.is_empty() {
                    self.pending = (
                        at + decoded.data.start as usize,
                        at + decoded.data.end as usize,
                    );
                    self.body_received += decoded.data.len() as u64;
                }
                // After every step, not only when data arrives: a chunk size line alone can
                // announce more than the limit allows.
                if self.body_too_large() {
                    return Poll::Ready(Err(self.body_error(RejectReason::RequestBodyTooLarge)));
                }
                if decoded.done && self.body.used_bare_line_feed() && !self.head.bare_line_feed {
                    // Counted once per request: the head's was counted when it was parsed.
                    self.worker.metrics.bare_line_feed_accepted();
                }
                if decoded.consumed > 0 || !decoded.data.is_empty() || decoded.done {
                    continue;
                }
            }
            // Everything buffered is consumed: more input is needed.
            if self.expect == Continue::Expected {
                if self.response.writing == Writing::NotStarted {
                    self.out.extend_from_slice(CONTINUE_100);
                }
                self.expect = Continue::Sent;
            }
            if !self.out.is_empty() {
                self.transport.prefetch_recv();
            }
            ready!(self.poll_send_out(cx))?;
            // Drop consumed body bytes (the head stays where it is).
            let body_start = self.base + self.head_len;
            if self.body_pos > body_start {
                self.input.drain(body_start..self.body_pos);
                self.body_pos = body_start;
            }
            let now = self.worker.heartbeat.now();
            match self.poll_fill(cx) {
                Poll::Pending => {
                    self.timer.read_waiting(now);
                    self.timer.register(cx.waker());
                    return Poll::Pending;
                }
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(self.body_error(RejectReason::UnexpectedEof)))
                }
                Poll::Ready(Ok(n)) => self.timer.read_progress(now, n as u64),
                Poll::Ready(Err(e)) => {
                    self.features.lifetime.set_aborted();
                    return Poll::Ready(Err(e));
                }
            }
        }
    }

    /// Whether the body received so far plus what its framing has announced (the rest of a
    /// Content-Length, the rest of the current chunk) is over the body size limit in force: a
    /// too-large body is refused with `413` as soon as its framing says so.
    fn body_too_large(&self) -> bool {
        self.features
            .body_size
            .get()
            .is_some_and(|max| self.body_received.saturating_add(self.body.announced()) > max)
    }

    /// A body framing error: the connection cannot be reused, and if the response has not
    /// started it becomes the error's status.
    fn body_error(&mut self, reason: RejectReason) -> io::Error {
        tracing::debug!(reason = reason.as_str(), "request body rejected");
        self.reading = Reading::BodyRejected(reason);
        self.worker.count_rejection(reason);
        self.timer.stop_read_rate();
        // Nothing more of this body can be trusted.
        self.body = BodyDecoder::new(BodyKind::None);
        self.pending = (0, 0);
        self.body_pos = self.input.len();
        io::Error::new(io::ErrorKind::InvalidData, reason)
    }

    /// Whether the rest of the request body is sure not to be read to its end before the next
    /// request: it was rejected, or the connection will not skip it (an `Expect: 100-continue`
    /// that was never answered, so the client may or may not send it, or more left than
    /// [`MAX_DISCARD`]).
    pub(super) fn body_lost(&self) -> bool {
        matches!(self.reading, Reading::BodyRejected(_))
            || (!self.body.is_done()
                && (self.expect == Continue::Expected
                    || self.body.remaining().is_none_or(|n| n > MAX_DISCARD)))
    }

    /// Reads and drops what the application left of the request body (up to a limit), so the
    /// next request can be parsed; `false` if the connection must close instead: the body is
    /// too large to skip, broke its framing, or an `Expect: 100-continue` was never answered
    /// (the client may or may not send the body).
    pub(crate) fn poll_drain_body(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        if matches!(self.reading, Reading::BodyRejected(_)) {
            return Poll::Ready(false);
        }
        if !self.body.is_done() {
            if self.expect == Continue::Expected {
                return Poll::Ready(false);
            }
            // Too much to skip: already received, or announced by the framing (the rest of a
            // Content-Length or of the current chunk).
            let too_much =
                |c: &Self| c.body_received > MAX_DISCARD || c.body.announced() > MAX_DISCARD;
            if too_much(self) {
                return Poll::Ready(false);
            }
            let mut scratch = [0u8; 1024];
            loop {
                match ready!(self.poll_body(cx, &mut scratch)) {
                    Ok(0) => break,
                    Ok(_) if too_much(self) => return Poll::Ready(false),
                    Ok(_) => {}
                    Err(_) => return Poll::Ready(false),
                }
            }
        }
        Poll::Ready(true)
    }

    /// Moves past the finished request: its head and body bytes are consumed, and the next head
    /// is read. (The body's state is read only while `Reading::Body`, and the next head's
    /// `begin_request` sets it.)
    pub(crate) fn finish_request(&mut self) {
        self.reading = Reading::Head;
        self.base = self.body_pos;
        self.head_len = 0;
        if self.base == self.input.len() {
            self.input.clear();
            self.base = 0;
            self.body_pos = 0;
        }
    }
}
