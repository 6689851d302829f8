//! Reading a request head: the PROXY protocol header a listener may require first, the head
//! itself with its timeouts, and the per-request reset when one is complete.

use std::io;
use std::task::{ready, Context, Poll};

use super::{
    access, Continue, Expired, Http1Connection, Next, Reading, Transport, Writing, BUFFER_CAPACITY,
    DRAIN_FIRST_REQUEST_GRACE, MAX_KEPT_BODY_CAPACITY,
};
use crate::metrics::TimeoutKind;
use crate::proto::h1::{BodyDecoder, BodyKind, ParseStatus, RejectReason};
use crate::proto::proxy;

impl<T: Transport> Http1Connection<T> {
    /// Waits for the next complete request head, flushing responses when more input is needed.
    pub(crate) fn poll_next_request(&mut self, cx: &mut Context<'_>) -> Poll<Next> {
        if self.reading == Reading::ProxyHeader {
            if let Some(next) = ready!(self.poll_proxy_header(cx)) {
                return Poll::Ready(next);
            }
        }
        loop {
            match self.timer.take_expired() {
                None => {}
                Some(Expired::RequestHeaders) => {
                    return Poll::Ready(self.reject(RejectReason::RequestHeadersTimeout))
                }
                Some(e) => return Poll::Ready(self.timed_out(e)),
            }
            // Idle: between requests, nothing buffered, the server not draining.
            let idle = if self.base < self.input.len() {
                match self
                    .worker
                    .parser
                    .parse(&self.input[self.base..], &mut self.head)
                {
                    Ok(ParseStatus::Complete(n)) => {
                        self.timer.clear_deadline();
                        return Poll::Ready(self.begin_request(n));
                    }
                    // The clock for a head starts at its first byte and is not restarted by
                    // more bytes: a client trickling a head (slowloris) runs out.
                    Ok(ParseStatus::Partial) => self.keep_deadline(
                        self.worker.limits.request_headers_timeout,
                        Expired::RequestHeaders,
                    ),
                    Err(reason) => return Poll::Ready(self.reject(reason)),
                }
                false
            } else if self.worker.draining.get() {
                if self.requests > 0 {
                    // Idle between requests while the server drains: close.
                    return Poll::Ready(Next::Close);
                }
                // A connection accepted just before the drain began has its first request on
                // the way (a client that connects sends at once): it gets a short grace to
                // arrive, and its answer says `Connection: close`. Closing it unread would fail
                // a request that reached the server during a restart.
                let at = self.deadline_after(DRAIN_FIRST_REQUEST_GRACE);
                if self.timer.deadline().is_none_or(|(t, _)| t > at) {
                    self.timer.set_deadline(at, Expired::KeepAlive);
                }
                false
            } else {
                true
            };
            if self.reading == Reading::Eof {
                // A partial head at end of stream is dropped: there is no one to answer.
                return Poll::Ready(Next::Close);
            }
            // Send the responses encoded so far (and wait for an earlier send) before waiting
            // for input; the receive is armed first so both are in flight together.
            if !self.out.is_empty() {
                self.transport.prefetch_recv();
            }
            // Handed over, not waited for: the next request's bytes, not the send's completion,
            // are what wakes this task (one poll per request on the io_uring engine).
            let input = match self.poll_out(cx, false) {
                Poll::Ready(Ok(())) => self.poll_head_input(cx),
                Poll::Ready(Err(_)) => return Poll::Ready(Next::Close),
                Poll::Pending => Poll::Pending,
            };
            match input {
                Poll::Ready(true) => {}
                Poll::Ready(false) => return Poll::Ready(Next::Close),
                Poll::Pending => {
                    // The keep-alive clock starts when an idle connection waits, so one whose
                    // next request is already here (pipelined, or a ready receive) arms none.
                    // It is the same deadline as if armed before the send and receive: the
                    // heartbeat's clock does not move within a poll.
                    if idle {
                        self.keep_deadline(
                            self.worker.limits.keep_alive_timeout,
                            Expired::KeepAlive,
                        );
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Reads the PROXY protocol header a listener opted into: the connection's addresses become
    /// the ones it names, and the bytes after it are the HTTP stream. `Some(next)` ends the
    /// connection: a malformed header, or none within the request headers timeout, closes it
    /// without an answer (the peer is a proxy that does not speak HTTP to us yet).
    fn poll_proxy_header(&mut self, cx: &mut Context<'_>) -> Poll<Option<Next>> {
        loop {
            if self.timer.take_if(Expired::RequestHeaders) {
                self.worker.metrics.proxy_header_rejected();
                return Poll::Ready(Some(self.timed_out(Expired::RequestHeaders)));
            }
            self.keep_deadline(
                self.worker.limits.request_headers_timeout,
                Expired::RequestHeaders,
            );
            match proxy::parse(&self.input[self.base..]) {
                Ok(proxy::Parsed::Complete { consumed, header }) => {
                    self.base += consumed;
                    self.timer.clear_deadline();
                    if header.command == proxy::ProxyCommand::Proxy {
                        if let Some(source) = header.source {
                            self.features.connection.remote_addr = Some(source);
                            self.features.connection.local_addr = header.destination;
                        }
                    }
                    // Bytes after the header may be a head; at end of stream they are all.
                    if self.reading == Reading::ProxyHeader {
                        self.reading = Reading::Head;
                    }
                    return Poll::Ready(None);
                }
                Ok(proxy::Parsed::Incomplete) => {}
                Err(e) => {
                    tracing::debug!(
                        error = %e,
                        connection = self.features.connection.connection_id,
                        "PROXY protocol header rejected"
                    );
                    self.worker.metrics.proxy_header_rejected();
                    return Poll::Ready(Some(Next::Close));
                }
            }
            if self.reading == Reading::Eof {
                return Poll::Ready(Some(Next::Close));
            }
            if !ready!(self.poll_head_input(cx)) {
                return Poll::Ready(Some(Next::Close));
            }
        }
    }

    /// Receives more input while waiting for a head (or a PROXY header): end of stream makes
    /// the state [`Reading::Eof`]; `Ready(false)` means the transport failed. Pending, the
    /// connection's timer will wake the task.
    fn poll_head_input(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        match self.poll_fill(cx) {
            Poll::Pending => {
                self.timer.register(cx.waker());
                Poll::Pending
            }
            Poll::Ready(Ok(0)) => {
                self.reading = Reading::Eof;
                Poll::Ready(true)
            }
            Poll::Ready(Ok(_)) => Poll::Ready(true),
            Poll::Ready(Err(_)) => Poll::Ready(false),
        }
    }

    /// Makes the connection read a PROXY protocol header before its first request (its
    /// listener opted in).
    pub(crate) fn expect_proxy_header(&mut self) {
        self.reading = Reading::ProxyHeader;
    }

    /// A malformed (or too slow) request: counted, answered with its status, then closed.
    fn reject(&mut self, reason: RejectReason) -> Next {
        self.timer.clear_deadline();
        self.worker.count_rejection(reason);
        if reason == RejectReason::RequestHeadersTimeout {
            self.worker.metrics.timeout(TimeoutKind::RequestHeaders);
        }
        Next::Reject(reason)
    }

    /// A timeout that ends the connection without a response.
    pub(super) fn timed_out(&mut self, what: Expired) -> Next {
        self.worker.metrics.timeout(what.kind());
        if what != Expired::KeepAlive {
            tracing::debug!(
                ?what,
                connection = self.features.connection.connection_id,
                "timed out"
            );
        }
        Next::Close
    }

    /// A complete head of `head_len` bytes: the per-request state starts over (nothing is
    /// allocated) and the request goes to the application.
    fn begin_request(&mut self, head_len: usize) -> Next {
        self.head_len = head_len;
        self.reading = Reading::Body { started: false };
        if self.head.bare_line_feed {
            self.worker.metrics.bare_line_feed_accepted();
        }
        self.body = BodyDecoder::new(self.head.body)
            .bare_line_feed(self.worker.parser.limits().bare_line_feed);
        self.body_pos = self.base + head_len;
        self.pending = (0, 0);
        self.body_received = 0;
        self.expect = if self.head.expect_continue && self.head.body != BodyKind::None {
            Continue::Expected
        } else {
            Continue::None
        };
        self.requests = self.requests.wrapping_add(1);
        self.features
            .begin_request(self.requests, &self.worker.limits);
        if self.worker.access_log {
            // The receive that completed this head read the clock (a head primed by protocol
            // detection is the one case without one).
            self.started = Some(match self.received_at {
                0 => access::wall_micros(),
                at => at,
            });
        }
        if self.out.capacity() == 0 {
            self.out = self.worker.take_buffer();
        }
        let r = &mut self.response;
        r.status = 200;
        r.headers.clear();
        r.body.clear();
        if r.body.capacity() > MAX_KEPT_BODY_CAPACITY {
            r.body = Vec::new();
        }
        r.body_len = 0;
        r.writing = Writing::NotStarted;
        Next::Request
    }

    /// Receives more input, keeping unconsumed bytes; while nothing is buffered the input
    /// buffer goes back to the worker so an idle connection holds none.
    pub(super) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.base > 0 && self.reading == Reading::Head {
            // Between requests: drop consumed bytes so the partial head starts at 0.
            self.input.drain(..self.base);
            self.base = 0;
        }
        if self.input.capacity() == 0 {
            self.input = self.worker.take_buffer();
        }
        // Room for one receive; the head's size limits are the parser's to enforce, not the
        // buffer's.
        self.input.reserve(BUFFER_CAPACITY);
        let polled = self.transport.poll_recv(cx, &mut self.input);
        if let Poll::Ready(Ok(n)) = polled {
            self.worker.metrics.received(n);
            // (An upgraded stream has no more requests to time.)
            if n > 0 && self.worker.access_log && !matches!(self.reading, Reading::Upgraded { .. })
            {
                self.received_at = access::wall_micros();
            }
        }
        if polled.is_pending() && self.input.is_empty() {
            self.worker.give_buffer(std::mem::take(&mut self.input));
            if self.out.is_empty() && self.out.capacity() > 0 {
                self.worker.give_buffer(std::mem::take(&mut self.out));
            }
        }
        polled
    }
}
