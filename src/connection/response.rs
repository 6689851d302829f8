//! Writing the response: committing its head once, through [`decide_response`], either when
//! the application flushes (streaming) or when it returns (the whole response at once), the
//! body with the committed framing, rejections, and sending with the minimum response rate.

use std::io;
use std::task::{Context, Poll};

use super::{Expired, Http1Connection, Reading, Transport, Writing};
use crate::proto::h1::{
    connection_has_close, decide_response, encode_chunk, encode_head, status_allows_body, Method,
    RejectReason, ResponseDecision, ResponseFraming, ResponseHeadInfo, ResponseParts,
};

/// How the application's processing of a request ended.
pub(crate) enum Outcome {
    /// It returned `Ok`.
    Ok,
    /// It returned an error.
    Failed,
    /// It panicked.
    Panicked,
}

impl<T: Transport> Http1Connection<T> {
    /// Encodes the error response for a rejected request (the connection closes after it).
    pub(crate) fn write_rejection(&mut self, reason: RejectReason) {
        tracing::debug!(
            reason = reason.as_str(),
            status = reason.status(),
            connection = self.features.connection.connection_id,
            "request rejected"
        );
        if self.out.capacity() == 0 {
            self.out = self.worker.take_buffer();
        }
        self.response.headers.clear();
        self.encode_response_head(reason.status(), ResponseDecision::REJECTION);
        self.response.writing = Writing::Done;
    }

    fn encode_response_head(&mut self, status: u16, decision: ResponseDecision) {
        let server_headers = self.worker.server_headers.borrow();
        encode_head(
            &mut self.out,
            &ResponseHeadInfo {
                version: self.head.version,
                status,
                headers: &self.response.headers,
                framing: decision.framing,
                keep_alive: decision.keep_alive,
                server_headers: &server_headers,
            },
        );
    }

    /// Decides the response's framing and persistence (the one call per response) and encodes
    /// its head; the body follows with that framing.
    #[inline]
    pub(super) fn commit_head(
        &mut self,
        complete_body: Option<u64>,
        declared_length: Option<u64>,
        close_requested: bool,
        request_body_lost: bool,
    ) -> ResponseDecision {
        let status = self.response.status;
        let decision = decide_response(
            &self.head,
            &ResponseParts {
                status,
                declared_length,
                complete_body,
                close_requested,
                draining: self.worker.draining.get(),
                request_body_lost,
            },
        );
        self.response.keep_alive = decision.keep_alive;
        self.encode_response_head(status, decision);
        decision
    }

    /// What the application's headers say about the framing and the connection: the
    /// `Content-Length` it declared (if valid) and whether it asked to close. One pass.
    ///
    /// The check that there is nothing to look for is inlined into every caller; the pass is
    /// not (as one function it was called for every response, and its prologue and epilogue
    /// cost more than the check).
    #[inline]
    fn response_framing_headers(&self) -> (Option<u64>, bool) {
        if !self.response.headers.may_have_framing_headers() {
            return (None, false);
        }
        self.scan_framing_headers()
    }

    /// [`response_framing_headers`](Self::response_framing_headers)' pass over the headers.
    #[inline(never)]
    fn scan_framing_headers(&self) -> (Option<u64>, bool) {
        let mut declared = None;
        let mut close = false;
        for (name, value) in self.response.headers.iter() {
            match name.len() {
                14 if declared.is_none() && name.eq_ignore_ascii_case(b"content-length") => {
                    declared = Some(
                        std::str::from_utf8(value)
                            .ok()
                            .and_then(|v| v.trim().parse().ok()),
                    );
                }
                10 if name.eq_ignore_ascii_case(b"connection") => {
                    close |= connection_has_close(value);
                }
                _ => {}
            }
        }
        (declared.flatten(), close)
    }

    /// Commits the response head for streaming (the application flushed before finishing).
    fn start_streaming(&mut self) {
        let (declared, close) = self.response_framing_headers();
        // The head goes out before the request is over: if its body is sure not to be consumed,
        // say now that the connection closes.
        let body_lost = self.body_lost();
        let decision = self.commit_head(None, declared, close, body_lost);
        self.response.writing = Writing::Streaming(decision.framing);
    }

    /// Moves buffered body bytes into the output with the committed framing.
    fn encode_buffered_body(&mut self) {
        let Writing::Streaming(framing) = self.response.writing else {
            return;
        };
        let body = &self.response.body;
        if self.head.method != Method::Head {
            match framing {
                ResponseFraming::Chunked => encode_chunk(&mut self.out, body),
                ResponseFraming::Length(_) => self.out.extend_from_slice(body),
                // Delimited by the close (HTTP/1.0); a status without a body sends none.
                ResponseFraming::NoBody if status_allows_body(self.response.status) => {
                    self.out.extend_from_slice(body)
                }
                ResponseFraming::NoBody => {}
            }
        }
        self.response.body.clear();
    }

    /// Finishes the response after the application returned; returns whether the connection
    /// may serve another request: what the head announced, if the response went out whole,
    /// the request body was consumed and the server did not start draining since.
    ///
    /// `body_consumed` says whether the request body was read to its end; if not, the
    /// connection's framing is lost and the response announces `Connection: close`.
    pub(crate) fn complete_response(&mut self, outcome: Outcome, body_consumed: bool) -> bool {
        let failed = !matches!(outcome, Outcome::Ok);
        if self.features.lifetime.is_aborted() {
            self.response.writing = Writing::Done;
            return false;
        }
        let intact = match self.response.writing {
            Writing::NotStarted => {
                if failed {
                    // The application failed before sending anything: answer 500, or the
                    // status of the request-body error that made it fail (Kestrel's
                    // BadHttpRequestException).
                    self.response.status = match self.reading {
                        Reading::BodyRejected(reason) => reason.status(),
                        _ => 500,
                    };
                    self.response.headers.clear();
                    self.response.body.clear();
                    self.response.body_len = 0;
                }
                // A panic leaves the connection suspect: close it after the answer.
                let panicked = matches!(outcome, Outcome::Panicked);
                self.write_complete_response(panicked, !body_consumed);
                true
            }
            Writing::Streaming(_) if failed => {
                // Too late for a status: cut the response short so the client sees it fail.
                false
            }
            Writing::Streaming(framing) => {
                self.encode_buffered_body();
                match framing {
                    ResponseFraming::Chunked if self.head.method != Method::Head => {
                        self.encode_last_chunk_with_trailers();
                        true
                    }
                    ResponseFraming::Length(n)
                        if self.response.body_len != n && self.head.method != Method::Head =>
                    {
                        tracing::warn!(
                            declared = n,
                            written = self.response.body_len,
                            "response Content-Length mismatch; closing the connection"
                        );
                        false
                    }
                    _ => true,
                }
            }
            Writing::Done => true,
        };
        self.response.writing = Writing::Done;
        // A streamed head may have promised more than holds now: the body the application left
        // could not be drained, or the server began draining since.
        intact && self.response.keep_alive && body_consumed && !self.worker.draining.get()
    }

    /// Encodes a whole response (head and buffered body) that was never flushed.
    fn write_complete_response(&mut self, close: bool, body_lost: bool) {
        let is_head = self.head.method == Method::Head;
        let written = self.response.body_len;
        let (mut declared, mut app_close) = self.response_framing_headers();
        if let Some(n) = declared {
            if !is_head && n != written && status_allows_body(self.response.status) {
                tracing::warn!(
                    declared = n,
                    written,
                    "response Content-Length mismatch; answering 500"
                );
                self.response.status = 500;
                self.response.headers.clear();
                self.response.body.clear();
                declared = Some(0);
                app_close = false;
            }
        }
        let decision = self.commit_head(Some(written), declared, close || app_close, body_lost);
        if !is_head && decision.framing != ResponseFraming::NoBody {
            self.out.extend_from_slice(&self.response.body);
        }
        self.response.body.clear();
    }

    /// Sends everything encoded so far.
    pub(crate) fn poll_send_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_out(cx, true)
    }

    /// Sends the encoded output: waits until it is sent when `wait`, else hands it to the
    /// transport and returns ([`Transport::poll_submit`]).
    pub(super) fn poll_out(&mut self, cx: &mut Context<'_>, wait: bool) -> Poll<io::Result<()>> {
        if self.timer.take_if(Expired::ResponseRate) {
            self.timed_out(Expired::ResponseRate);
            self.features.lifetime.set_aborted();
            return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
        }
        if self.features.lifetime.is_aborted() {
            // Aborted by the application or a failed transfer: nothing more goes out.
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        let starting = !self.send_in_flight && !self.out.is_empty();
        let len = self.out.len();
        if starting {
            self.worker.metrics.sent(len);
        }
        let polled = if wait {
            self.transport.poll_send(cx, &mut self.out)
        } else {
            self.transport.poll_submit(cx, &mut self.out)
        };
        match polled {
            Poll::Pending => {
                // A send that completes when it is made is never in flight: it needs no
                // deadline, nor one cleared.
                if starting {
                    self.send_in_flight = true;
                    self.arm_write_deadline(len);
                }
                self.timer.register(cx.waker());
                Poll::Pending
            }
            Poll::Ready(r) => {
                if self.send_in_flight {
                    self.send_in_flight = false;
                    self.timer.set_write_deadline(None);
                }
                if r.is_err() {
                    self.features.lifetime.set_aborted();
                }
                Poll::Ready(r)
            }
        }
    }

    /// Kestrel's rule for a send of `len` bytes that did not complete at once: it may take the
    /// grace period plus `len` at the minimum rate, counted from when it started (the worker's
    /// clock has not moved since); a client that has not taken it by then is dropped. A send
    /// that completes when it is made needs no deadline, so the common case computes none.
    /// An upgraded stream has its own pace: no minimum rate applies to it.
    fn arm_write_deadline(&mut self, len: usize) {
        if matches!(self.reading, Reading::Upgraded { .. }) {
            return;
        }
        if let Some(rate) = self.worker.limits.min_response_data_rate {
            let allowed = rate.grace_period
                + std::time::Duration::from_secs_f64(len as f64 / rate.bytes_per_second);
            self.timer
                .set_write_deadline(Some(self.deadline_after(allowed)));
        }
    }

    /// The response flush behind [`ResponseFeature::poll_flush`](crate::http::ResponseFeature).
    pub(super) fn poll_flush_response(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.features.lifetime.is_aborted() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        if self.response.writing == Writing::NotStarted {
            self.start_streaming();
        }
        self.encode_buffered_body();
        self.poll_send_out(cx)
    }
}
