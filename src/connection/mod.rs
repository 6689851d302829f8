//! The per-connection HTTP/1.1 protocol object, shared by every socket engine.
//!
//! [`Http1Connection`] is Kestrel's `Http1Connection`/`HttpProtocol` in Rust: it owns the
//! connection's buffers and parsed request head, implements the request features itself, and is
//! reset and reused for every request, so serving a request allocates nothing. It drives the
//! sans-io parser and encoder in [`crate::proto::h1`] and moves bytes only through a
//! [`Transport`], so the io_uring engine and any other engine share it unchanged.
//!
//! The request loop that calls the application is in [`serve`].

mod features;
mod serve;
mod timeout;
mod transport;

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

pub(crate) use serve::serve;
pub(crate) use timeout::Heartbeat;
use timeout::{ConnTimer, Expired};
pub(crate) use transport::Transport;

use crate::http::{
    ConnectionFeature, FeatureMap, MaxRequestBodySize, MinRequestBodyDataRate, RequestIdentifier,
    RequestLifetime,
};
use crate::metrics::{TimeoutKind, WorkerMetrics};
use crate::proto::h1::{
    encode_chunk, encode_head, encode_last_chunk, status_allows_body, BodyDecoder, BodyKind,
    DateCache, HeadLimits, HeadParser, Method, ParseStatus, RejectReason, RequestHead,
    ResponseFraming, ResponseHeadInfo, ResponseHeaders, Version, CONTINUE_100,
};
use crate::proto::proxy;
use crate::server::Limits;

/// Initial capacity of a connection's input and output buffers.
const BUFFER_CAPACITY: usize = 8 * 1024;
/// Request header slots and response header entries a new connection starts with.
const INITIAL_HEADER_SLOTS: usize = 16;
/// A response body buffer grown past this by one large response is not kept for the next.
const MAX_KEPT_BODY_CAPACITY: usize = 64 * 1024;
/// While the server drains, how long a connection that has not sent its first request yet
/// may take to send it (on top of the heartbeat's granularity).
const DRAIN_FIRST_REQUEST_GRACE: std::time::Duration = std::time::Duration::from_secs(1);
/// Unread request body a connection reads and discards to stay alive; more closes it.
const MAX_DISCARD: u64 = 256 * 1024;

/// State one worker shares with all its connections (never with other threads).
pub(crate) struct WorkerContext {
    pub(crate) limits: Limits,
    pub(crate) parser: HeadParser,
    pub(crate) server_header: Option<Box<[u8]>>,
    /// Whether every request gets an access log line (`ServerOptions::access_log`).
    pub(crate) access_log: bool,
    /// The cached `Date` value, refreshed once a second by the worker.
    pub(crate) date: RefCell<DateCache>,
    /// Set when the server stops: idle connections close, responses say `Connection: close`.
    pub(crate) draining: Cell<bool>,
    /// The coarse clock and every connection's timeouts.
    pub(crate) heartbeat: Heartbeat,
    /// This worker's counters (connections, requests, bytes, rejections, timeouts).
    pub(crate) metrics: Arc<WorkerMetrics>,
    /// Upgraded connections open across all workers (touched once per upgrade).
    upgraded: Arc<AtomicUsize>,
    /// Spare byte buffers, so idle connections hold none.
    buffers: RefCell<Vec<Vec<u8>>>,
}

impl WorkerContext {
    /// A context for one worker.
    pub(crate) fn new(
        limits: Limits,
        server_header: Option<&str>,
        upgraded: Arc<AtomicUsize>,
        metrics: Arc<WorkerMetrics>,
    ) -> WorkerContext {
        let mut date = DateCache::new();
        date.update(std::time::SystemTime::now());
        WorkerContext {
            parser: HeadParser::new(limits.head_limits()),
            limits,
            server_header: server_header.map(|s| s.as_bytes().into()),
            access_log: false,
            date: RefCell::new(date),
            draining: Cell::new(false),
            heartbeat: Heartbeat::new(),
            metrics,
            upgraded,
            buffers: RefCell::new(Vec::new()),
        }
    }

    /// The once-a-second heartbeat: refreshes the cached `Date` value and judges timeouts.
    pub(crate) fn tick(&self) {
        self.date.borrow_mut().update(std::time::SystemTime::now());
        self.heartbeat.beat(std::time::Instant::now());
    }

    /// Requests rejected so far (all reasons).
    pub(crate) fn rejected(&self) -> u64 {
        self.metrics.rejected()
    }

    /// Connections closed by a timeout so far.
    pub(crate) fn timed_out(&self) -> u64 {
        self.metrics.timed_out()
    }

    fn count_rejection(&self, reason: RejectReason) {
        self.metrics.rejection(reason);
    }

    fn take_buffer(&self) -> Vec<u8> {
        self.buffers
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUFFER_CAPACITY))
    }

    fn give_buffer(&self, mut buf: Vec<u8>) {
        if buf.capacity() > 0 {
            buf.clear();
            // Oversized buffers (a large head or response) are not kept.
            if buf.capacity() <= 4 * BUFFER_CAPACITY {
                self.buffers.borrow_mut().push(buf);
            }
        }
    }
}

/// Whether a 100-continue interim response is owed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Continue {
    None,
    Expected,
    Sent,
}

/// Where the response is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Writing {
    /// Status and headers can still change.
    NotStarted,
    /// The head is out; the body follows with this framing (`NoBody` + close = delimited by
    /// closing the connection, for HTTP/1.0 clients).
    Streaming(ResponseFraming),
    /// The response is complete.
    Done,
}

impl<T> Drop for Http1Connection<T> {
    fn drop(&mut self) {
        if self.upgraded {
            self.worker.upgraded.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// How a connection ends once the request loop is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Closing {
    /// Nothing is left to read: close at once.
    Now,
    /// The client may still be sending (a rejected or unread request): stop writing and read
    /// what arrives for a while before closing, so a close with unread data does not reset the
    /// connection and destroy the response the client has not read yet (lingering close).
    Linger,
}

/// The heartbeat's period. Deadlines are taken from its coarse clock (up to one period old), so
/// each gets one period more: a timeout fires up to a second late, never early (as Kestrel's).
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a lingering close keeps reading (the heartbeat adds up to a second).
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// What the next request looks like.
pub(crate) enum Next {
    /// A complete head is parsed and ready for the application.
    Request,
    /// The connection is over (end of stream, transport error, or the server is draining).
    Close,
    /// The request is malformed; answer with its status and close.
    Reject(RejectReason),
}

/// The response half of the protocol object.
struct Response {
    status: u16,
    headers: ResponseHeaders,
    /// Body bytes the application wrote and the connection has not encoded yet.
    body: Vec<u8>,
    /// Body bytes written in all (HEAD responses count them without keeping them).
    body_len: u64,
    writing: Writing,
    keep_alive: bool,
}

/// One HTTP/1.x connection: buffers, parsed head, response state and features.
pub(crate) struct Http1Connection<T> {
    transport: T,
    worker: Rc<WorkerContext>,

    // Optional features (looked up by type).
    connection: ConnectionFeature,
    lifetime: RequestLifetime,
    request_id: RequestIdentifier,
    extra: FeatureMap,
    body_size: MaxRequestBodySize,
    body_rate: MinRequestBodyDataRate,
    requests: u32,
    /// The listener expects a PROXY protocol header, not yet read.
    awaiting_proxy_header: bool,
    /// When the current request's head was parsed (only when the access log is on).
    started: Option<std::time::Instant>,
    timer: Rc<ConnTimer>,

    // Input: `input[base..base + head_len]` is the current head; body bytes follow.
    input: Vec<u8>,
    base: usize,
    head_len: usize,
    head: RequestHead,
    body: BodyDecoder,
    /// Next undecoded body byte (absolute index into `input`).
    body_pos: usize,
    /// Decoded body bytes not yet handed to the application (absolute range).
    pending: (usize, usize),
    body_received: u64,
    expect: Continue,
    read_eof: bool,
    /// Set when the body broke its framing or limit; the response becomes its status.
    body_rejected: Option<RejectReason>,
    /// Whether the application started reading the body (limits are then fixed).
    body_started: bool,
    /// Whether the connection switched protocols (counted in `WorkerContext::upgraded`).
    upgraded: bool,
    /// An upgraded-stream write whose bytes are in `out` and not yet sent.
    upgrade_write_pending: bool,
    /// The minimum response rate for this request (`None` once upgraded).
    write_rate: Option<crate::server::MinDataRate>,
    /// A send is in flight and its deadline is set.
    send_in_flight: bool,

    // Output: encoded bytes waiting for the transport.
    out: Vec<u8>,
    response: Response,
}

impl<T: Transport> Http1Connection<T> {
    /// A protocol object over `transport`.
    pub(crate) fn new(
        transport: T,
        worker: Rc<WorkerContext>,
        connection: ConnectionFeature,
    ) -> Self {
        // Room for a typical request's headers and response headers; a connection that sees
        // more grows them once and keeps the capacity, so steady state still never allocates,
        // while an idle connection stays small.
        let head = RequestHead::new(&HeadLimits {
            max_headers: INITIAL_HEADER_SLOTS,
            ..worker.limits.head_limits()
        });
        let timer = worker.heartbeat.timer();
        Http1Connection {
            body_size: MaxRequestBodySize::new(worker.limits.max_request_body_size),
            body_rate: MinRequestBodyDataRate::new(worker.limits.min_request_body_data_rate),
            timer,
            transport,
            worker,
            connection,
            lifetime: RequestLifetime::default(),
            request_id: RequestIdentifier::new(connection.connection_id, 0),
            extra: FeatureMap::default(),
            requests: 0,
            awaiting_proxy_header: false,
            started: None,
            input: Vec::new(),
            base: 0,
            head_len: 0,
            head,
            body: BodyDecoder::new(BodyKind::None),
            body_pos: 0,
            pending: (0, 0),
            body_received: 0,
            expect: Continue::None,
            read_eof: false,
            body_rejected: None,
            body_started: false,
            upgraded: false,
            upgrade_write_pending: false,
            write_rate: None,
            send_in_flight: false,
            out: Vec::new(),
            response: Response {
                status: 200,
                headers: ResponseHeaders::with_capacity(256, INITIAL_HEADER_SLOTS),
                body: Vec::new(),
                body_len: 0,
                writing: Writing::Done,
                keep_alive: true,
            },
        }
    }

    /// Makes a pooled protocol object serve a new connection (buffers and header slots kept).
    pub(crate) fn reset(&mut self, transport: T, connection: ConnectionFeature) {
        self.transport = transport;
        self.connection = connection;
        self.lifetime.reset();
        self.extra.clear();
        self.requests = 0;
        self.awaiting_proxy_header = false;
        self.request_id = RequestIdentifier::new(connection.connection_id, 0);
        self.input.clear();
        self.base = 0;
        self.head_len = 0;
        self.body = BodyDecoder::new(BodyKind::None);
        self.body_pos = 0;
        self.pending = (0, 0);
        self.body_received = 0;
        self.expect = Continue::None;
        self.read_eof = false;
        self.body_rejected = None;
        self.body_started = false;
        self.end_upgrade();
        self.upgrade_write_pending = false;
        self.send_in_flight = false;
        self.timer.reset();
        self.out.clear();
        self.response.writing = Writing::Done;
    }

    /// Counts an upgraded connection out.
    fn end_upgrade(&mut self) {
        if self.upgraded {
            self.upgraded = false;
            self.worker.upgraded.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Whether the request asks to switch protocols (HTTP/1.1, `Connection: upgrade`, an
    /// `Upgrade` header, no body).
    fn is_upgradable(&self) -> bool {
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
    fn poll_upgrade(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.upgraded {
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
            self.upgraded = true;
            self.response.keep_alive = false;
            self.response.body.clear();
            self.encode_response_head(101, ResponseFraming::NoBody, true);
            self.response.writing = Writing::Done;
            // An upgraded stream has its own pace: no minimum data rates apply.
            self.timer.stop_read_rate();
            self.write_rate = None;
        }
        self.poll_send_out(cx)
    }

    /// Reads upgraded-stream bytes: first those received after the head, then the socket's.
    fn poll_read_upgraded(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if !self.upgraded {
            return Poll::Ready(Err(io::Error::other("the connection is not upgraded")));
        }
        loop {
            if self.body_pos < self.input.len() {
                let n = buf.len().min(self.input.len() - self.body_pos);
                buf[..n].copy_from_slice(&self.input[self.body_pos..self.body_pos + n]);
                self.body_pos += n;
                return Poll::Ready(Ok(n));
            }
            if self.read_eof || buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            // The head stays (the application may still look at it); read bytes go.
            let keep = self.base + self.head_len;
            self.input.truncate(keep);
            self.body_pos = keep;
            match ready!(self.poll_fill(cx)) {
                Ok(0) => self.read_eof = true,
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Writes upgraded-stream bytes and sends them.
    fn poll_write_upgraded(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<()>> {
        if !self.upgraded {
            return Poll::Ready(Err(io::Error::other("the connection is not upgraded")));
        }
        // `data` is appended once: a pending send is polled again with nothing new.
        if !self.upgrade_write_pending {
            self.out.extend_from_slice(data);
            self.upgrade_write_pending = true;
        }
        let r = ready!(self.poll_send_out(cx));
        self.upgrade_write_pending = false;
        Poll::Ready(r)
    }

    /// Gives the byte buffers back to the worker when the connection ends.
    pub(crate) fn recycle(&mut self) {
        self.worker.give_buffer(std::mem::take(&mut self.input));
        self.worker.give_buffer(std::mem::take(&mut self.out));
    }

    /// How many requests this connection has started.
    pub(crate) fn requests(&self) -> u32 {
        self.requests
    }

    /// The response status as it stands.
    pub(crate) fn response_status(&self) -> u16 {
        self.response.status
    }

    /// Response body bytes the application wrote.
    pub(crate) fn response_body_len(&self) -> u64 {
        self.response.body_len
    }

    /// Counts one answered request in the worker's metrics.
    pub(crate) fn count_request(&self) {
        self.worker.metrics.request();
    }

    /// The transport, for engines that need to reach it.
    pub(crate) fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The current head's bytes.
    fn head_bytes(&self) -> &[u8] {
        &self.input[self.base..self.base + self.head_len]
    }

    /// Waits for the next complete request head, flushing responses when more input is needed.
    pub(crate) fn poll_next_request(&mut self, cx: &mut Context<'_>) -> Poll<Next> {
        if self.awaiting_proxy_header {
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
            let now = self.worker.heartbeat.now();
            if self.base < self.input.len() {
                match self
                    .worker
                    .parser
                    .parse(&self.input[self.base..], &mut self.head)
                {
                    Ok(ParseStatus::Complete(n)) => {
                        self.timer.clear_deadline();
                        return Poll::Ready(self.begin_request(n));
                    }
                    Ok(ParseStatus::Partial) => {
                        // The clock for a head starts at its first byte and is not restarted
                        // by more bytes: a client trickling a head (slowloris) runs out.
                        if self.timer.deadline_kind() != Some(Expired::RequestHeaders) {
                            let at = now + HEARTBEAT + self.worker.limits.request_headers_timeout;
                            self.timer.set_deadline(at, Expired::RequestHeaders);
                        }
                    }
                    Err(reason) => return Poll::Ready(self.reject(reason)),
                }
            } else if self.worker.draining.get() {
                if self.requests > 0 {
                    // Idle between requests while the server drains: close.
                    return Poll::Ready(Next::Close);
                }
                // A connection accepted just before the drain began has its first request on
                // the way (a client that connects sends at once): it gets a short grace to
                // arrive, and its answer says `Connection: close`. Closing it unread would fail
                // a request that reached the server during a restart.
                let at = now + HEARTBEAT + DRAIN_FIRST_REQUEST_GRACE;
                if self.timer.deadline().is_none_or(|(t, _)| t > at) {
                    self.timer.set_deadline(at, Expired::KeepAlive);
                }
            } else if self.timer.deadline_kind() != Some(Expired::KeepAlive) {
                let at = now + HEARTBEAT + self.worker.limits.keep_alive_timeout;
                self.timer.set_deadline(at, Expired::KeepAlive);
            }
            if self.read_eof {
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
            if ready!(self.poll_out(cx, false)).is_err() {
                return Poll::Ready(Next::Close);
            }
            if !ready!(self.poll_head_input(cx)) {
                return Poll::Ready(Next::Close);
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
            if self.timer.deadline_kind() != Some(Expired::RequestHeaders) {
                let at = self.worker.heartbeat.now()
                    + HEARTBEAT
                    + self.worker.limits.request_headers_timeout;
                self.timer.set_deadline(at, Expired::RequestHeaders);
            }
            match proxy::parse(&self.input[self.base..]) {
                Ok(proxy::Parsed::Complete { consumed, header }) => {
                    self.base += consumed;
                    self.awaiting_proxy_header = false;
                    self.timer.clear_deadline();
                    if header.command == proxy::ProxyCommand::Proxy {
                        if let Some(source) = header.source {
                            self.connection.remote_addr = Some(source);
                            self.connection.local_addr = header.destination;
                        }
                    }
                    return Poll::Ready(None);
                }
                Ok(proxy::Parsed::Incomplete) => {}
                Err(e) => {
                    tracing::debug!(
                        error = %e,
                        connection = self.connection.connection_id,
                        "PROXY protocol header rejected"
                    );
                    self.worker.metrics.proxy_header_rejected();
                    return Poll::Ready(Some(Next::Close));
                }
            }
            if self.read_eof {
                return Poll::Ready(Some(Next::Close));
            }
            if !ready!(self.poll_head_input(cx)) {
                return Poll::Ready(Some(Next::Close));
            }
        }
    }

    /// Receives more input while waiting for a head (or a PROXY header): end of stream sets
    /// `read_eof`; `Ready(false)` means the transport failed. Pending, the connection's timer
    /// will wake the task.
    fn poll_head_input(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        match self.poll_fill(cx) {
            Poll::Pending => {
                self.timer.register(cx.waker());
                Poll::Pending
            }
            Poll::Ready(Ok(0)) => {
                self.read_eof = true;
                Poll::Ready(true)
            }
            Poll::Ready(Ok(_)) => Poll::Ready(true),
            Poll::Ready(Err(_)) => Poll::Ready(false),
        }
    }

    /// Makes the connection read a PROXY protocol header before its first request (its
    /// listener opted in).
    pub(crate) fn expect_proxy_header(&mut self) {
        self.awaiting_proxy_header = true;
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
    fn timed_out(&mut self, what: Expired) -> Next {
        self.worker.metrics.timeout(what.kind());
        if what != Expired::KeepAlive {
            tracing::debug!(
                ?what,
                connection = self.connection.connection_id,
                "timed out"
            );
        }
        Next::Close
    }

    /// Receives more input, keeping unconsumed bytes; while nothing is buffered the input
    /// buffer goes back to the worker so an idle connection holds none.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.base > 0 && self.head_len == 0 {
            // Between requests: drop consumed bytes so the partial head starts at 0.
            self.input.drain(..self.base);
            self.base = 0;
        }
        if self.input.capacity() == 0 {
            self.input = self.worker.take_buffer();
        }
        let max_head = self.worker.limits.max_request_line_size
            + self.worker.limits.max_request_headers_total_size;
        self.input
            .reserve(BUFFER_CAPACITY.min(max_head + 2 * BUFFER_CAPACITY));
        let polled = self.transport.poll_recv(cx, &mut self.input);
        if let Poll::Ready(Ok(n)) = polled {
            self.worker.metrics.received(n);
        }
        if polled.is_pending() && self.input.is_empty() {
            self.worker.give_buffer(std::mem::take(&mut self.input));
            if self.out.is_empty() && self.out.capacity() > 0 {
                self.worker.give_buffer(std::mem::take(&mut self.out));
            }
        }
        polled
    }

    fn begin_request(&mut self, head_len: usize) -> Next {
        self.head_len = head_len;
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
        self.body_rejected = None;
        self.body_started = false;
        self.body_size = MaxRequestBodySize::new(self.worker.limits.max_request_body_size);
        self.body_rate = MinRequestBodyDataRate::new(self.worker.limits.min_request_body_data_rate);
        self.write_rate = self.worker.limits.min_response_data_rate;
        self.requests = self.requests.wrapping_add(1);
        self.request_id = RequestIdentifier::new(self.connection.connection_id, self.requests);
        if self.worker.access_log {
            self.started = Some(std::time::Instant::now());
        }
        self.lifetime.reset();
        self.extra.clear();
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
        r.keep_alive = self.head.keep_alive && !self.worker.draining.get();
        Next::Request
    }

    /// Encodes the error response for a rejected request (the connection closes after it).
    pub(crate) fn write_rejection(&mut self, reason: RejectReason) {
        tracing::debug!(
            reason = reason.as_str(),
            status = reason.status(),
            connection = self.connection.connection_id,
            "request rejected"
        );
        if self.out.capacity() == 0 {
            self.out = self.worker.take_buffer();
        }
        self.response.headers.clear();
        self.encode_response_head(reason.status(), ResponseFraming::Length(0), false);
        self.response.writing = Writing::Done;
    }

    fn encode_response_head(&mut self, status: u16, framing: ResponseFraming, keep_alive: bool) {
        let date = self.worker.date.borrow();
        encode_head(
            &mut self.out,
            &ResponseHeadInfo {
                version: self.head.version,
                status,
                headers: &self.response.headers,
                framing,
                keep_alive,
                date: date.as_bytes(),
                server: self.worker.server_header.as_deref(),
            },
        );
    }

    /// Sends everything encoded so far.
    pub(crate) fn poll_send_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_out(cx, true)
    }

    /// Sends the encoded output: waits until it is sent when `wait`, else hands it to the
    /// transport and returns ([`Transport::poll_submit`]).
    fn poll_out(&mut self, cx: &mut Context<'_>, wait: bool) -> Poll<io::Result<()>> {
        if self.timer.take_if(Expired::ResponseRate) {
            self.timed_out(Expired::ResponseRate);
            self.lifetime.set_aborted();
            return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
        }
        if self.lifetime.is_aborted() {
            // Aborted by the application or a failed transfer: nothing more goes out.
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        if !self.send_in_flight && !self.out.is_empty() {
            // Kestrel's rule: a send of N bytes may take the grace period plus N at the minimum
            // rate; a client that has not taken it by then is dropped.
            if let Some(rate) = self.write_rate {
                let allowed = rate.grace_period
                    + std::time::Duration::from_secs_f64(
                        self.out.len() as f64 / rate.bytes_per_second,
                    );
                let at = self.worker.heartbeat.now() + HEARTBEAT + allowed;
                self.timer.set_write_deadline(Some(at));
            }
            self.send_in_flight = true;
            self.worker.metrics.sent(self.out.len());
        }
        let polled = if wait {
            self.transport.poll_send(cx, &mut self.out)
        } else {
            self.transport.poll_submit(cx, &mut self.out)
        };
        match polled {
            Poll::Pending => {
                self.timer.register(cx.waker());
                Poll::Pending
            }
            Poll::Ready(r) => {
                if self.send_in_flight {
                    self.send_in_flight = false;
                    self.timer.set_write_deadline(None);
                }
                if r.is_err() {
                    self.lifetime.set_aborted();
                }
                Poll::Ready(r)
            }
        }
    }

    /// The body length the application declared with a `Content-Length` header, if valid.
    fn declared_length(&self) -> Option<u64> {
        let v = self.response.headers.get("content-length")?;
        std::str::from_utf8(v).ok()?.trim().parse().ok()
    }

    /// Commits the response head for streaming (the application flushed before finishing).
    fn start_streaming(&mut self) {
        let r = &self.response;
        let is_head = self.head.method == Method::Head;
        // The head goes out before the request is over: if its body is sure not to be consumed
        // (an unanswered 100-continue, or more left than the connection would skip), say now
        // that the connection closes.
        let body_lost = !self.body.is_done()
            && (self.expect == Continue::Expected
                || self.body.remaining().is_none_or(|n| n > MAX_DISCARD));
        let mut keep_alive = r.keep_alive && !self.worker.draining.get() && !body_lost;
        let framing = if !status_allows_body(r.status) {
            ResponseFraming::NoBody
        } else if let Some(n) = self.declared_length() {
            ResponseFraming::Length(n)
        } else if is_head {
            ResponseFraming::NoBody
        } else if self.head.version == Version::Http11 {
            ResponseFraming::Chunked
        } else {
            // HTTP/1.0 has no chunked coding: the body ends when the connection closes.
            keep_alive = false;
            ResponseFraming::NoBody
        };
        self.response.keep_alive = keep_alive;
        let status = self.response.status;
        self.encode_response_head(status, framing, keep_alive);
        self.response.writing = Writing::Streaming(framing);
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
                ResponseFraming::NoBody if !self.response.keep_alive => {
                    self.out.extend_from_slice(body)
                }
                ResponseFraming::NoBody => {}
            }
        }
        self.response.body.clear();
    }

    /// Finishes the response after the application returned; returns whether the connection
    /// may serve another request.
    ///
    /// `body_consumed` says whether the request body was read to its end; if not, the
    /// connection's framing is lost and the response announces `Connection: close`.
    pub(crate) fn complete_response(&mut self, outcome: Outcome, body_consumed: bool) -> bool {
        let failed = !matches!(outcome, Outcome::Ok);
        if self.lifetime.is_aborted() {
            self.response.writing = Writing::Done;
            return false;
        }
        if !body_consumed {
            self.response.keep_alive = false;
        }
        match self.response.writing {
            Writing::NotStarted => {
                if failed {
                    // The application failed before sending anything: answer 500, or the
                    // status of the request-body error that made it fail (Kestrel's
                    // BadHttpRequestException).
                    self.response.status = self.body_rejected.map_or(500, RejectReason::status);
                    self.response.headers.clear();
                    self.response.body.clear();
                    self.response.body_len = 0;
                    if matches!(outcome, Outcome::Panicked) {
                        self.response.keep_alive = false;
                    }
                }
                self.write_complete_response();
            }
            Writing::Streaming(framing) => {
                if failed {
                    // Too late for a status: cut the response short so the client sees it fail.
                    self.response.writing = Writing::Done;
                    return false;
                }
                self.encode_buffered_body();
                match framing {
                    ResponseFraming::Chunked => {
                        if self.head.method != Method::Head {
                            encode_last_chunk(&mut self.out)
                        }
                    }
                    ResponseFraming::Length(n) => {
                        if self.response.body_len != n && self.head.method != Method::Head {
                            tracing::warn!(
                                declared = n,
                                written = self.response.body_len,
                                "response Content-Length mismatch; closing the connection"
                            );
                            self.response.keep_alive = false;
                        }
                    }
                    ResponseFraming::NoBody => {}
                }
            }
            Writing::Done => {}
        }
        self.response.writing = Writing::Done;
        self.response.keep_alive && !self.worker.draining.get()
    }

    /// Encodes a whole response (head and buffered body) that was never flushed.
    fn write_complete_response(&mut self) {
        let status = self.response.status;
        let is_head = self.head.method == Method::Head;
        let written = self.response.body_len;
        let framing = if !status_allows_body(status) {
            ResponseFraming::NoBody
        } else {
            match self.declared_length() {
                Some(n) if !is_head && n != written => {
                    tracing::warn!(
                        declared = n,
                        written,
                        "response Content-Length mismatch; answering 500"
                    );
                    self.response.status = 500;
                    self.response.headers.clear();
                    self.response.body.clear();
                    ResponseFraming::Length(0)
                }
                Some(n) => ResponseFraming::Length(n),
                None => ResponseFraming::Length(written),
            }
        };
        let keep_alive = self.response.keep_alive && !self.worker.draining.get();
        self.response.keep_alive = keep_alive;
        let status = self.response.status;
        self.encode_response_head(status, framing, keep_alive);
        if !is_head && framing != ResponseFraming::NoBody {
            self.out.extend_from_slice(&self.response.body);
        }
        self.response.body.clear();
    }

    /// How to close after the last response: linger if the client may still be sending.
    pub(crate) fn closing(&self) -> Closing {
        let unread = self.base + self.head_len < self.input.len() || !self.body.is_done();
        if !self.read_eof && unread {
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
            let at = self.worker.heartbeat.now() + HEARTBEAT + LINGER;
            self.timer.set_deadline(at, Expired::Linger);
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

    /// Reads and drops what the application left of the request body (up to a limit), so the
    /// next request can be parsed; `false` if the connection must close instead: the body is
    /// too large to skip, broke its framing, or an `Expect: 100-continue` was never answered
    /// (the client may or may not send the body).
    pub(crate) fn poll_drain_body(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        if self.body_rejected.is_some() {
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

    /// Moves past the finished request: its head and body bytes are consumed.
    pub(crate) fn finish_request(&mut self) {
        self.pending = (0, 0);
        self.base = self.body_pos;
        self.head_len = 0;
        if self.base == self.input.len() {
            self.input.clear();
            self.base = 0;
            self.body_pos = 0;
        }
    }

    /// The request-body read behind [`RequestFeature::poll_read_body`](crate::http::RequestFeature).
    fn poll_body(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if !self.body_started {
            self.body_started = true;
            self.body_size.freeze();
            self.body_rate.freeze();
            if self.body_too_large() {
                return Poll::Ready(Err(self.body_error(RejectReason::RequestBodyTooLarge)));
            }
            if !self.body.is_done() {
                self.timer.start_read_rate(self.body_rate.get());
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
            if self.read_eof {
                return Poll::Ready(Err(self.body_error(RejectReason::UnexpectedEof)));
            }
            let now = self.worker.heartbeat.now();
            match self.poll_fill(cx) {
                Poll::Pending => {
                    self.timer.read_waiting(now);
                    self.timer.register(cx.waker());
                    return Poll::Pending;
                }
                Poll::Ready(Ok(0)) => self.read_eof = true,
                Poll::Ready(Ok(n)) => self.timer.read_progress(now, n as u64),
                Poll::Ready(Err(e)) => {
                    self.lifetime.set_aborted();
                    return Poll::Ready(Err(e));
                }
            }
        }
    }

    /// Whether the body received so far plus what its framing has announced (the rest of a
    /// Content-Length, the rest of the current chunk) is over the body size limit in force: a
    /// too-large body is refused with `413` as soon as its framing says so.
    fn body_too_large(&self) -> bool {
        self.body_size
            .get()
            .is_some_and(|max| self.body_received.saturating_add(self.body.announced()) > max)
    }

    /// A body framing error: the connection cannot be reused, and if the response has not
    /// started it becomes the error's status.
    fn body_error(&mut self, reason: RejectReason) -> io::Error {
        tracing::debug!(reason = reason.as_str(), "request body rejected");
        self.response.keep_alive = false;
        self.body_rejected = Some(reason);
        self.worker.count_rejection(reason);
        self.timer.stop_read_rate();
        // Nothing more of this body can be trusted.
        self.body = BodyDecoder::new(BodyKind::None);
        self.pending = (0, 0);
        self.body_pos = self.input.len();
        io::Error::new(io::ErrorKind::InvalidData, reason)
    }

    /// The response flush behind [`ResponseFeature::poll_flush`](crate::http::ResponseFeature).
    fn poll_flush_response(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.lifetime.is_aborted() {
            return Poll::Ready(Err(io::ErrorKind::ConnectionAborted.into()));
        }
        if self.response.writing == Writing::NotStarted {
            self.start_streaming();
        }
        self.encode_buffered_body();
        self.poll_send_out(cx)
    }
}

/// How the application's processing of a request ended.
pub(crate) enum Outcome {
    /// It returned `Ok`.
    Ok,
    /// It returned an error.
    Failed,
    /// It panicked.
    Panicked,
}
