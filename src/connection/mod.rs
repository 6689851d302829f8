//! The per-connection HTTP/1.1 protocol object, shared by every socket engine.
//!
//! [`Http1Connection`] is Kestrel's `Http1Connection`/`HttpProtocol` in Rust: it owns the
//! connection's buffers and parsed request head, implements the request features itself, and is
//! reset and reused for every request, so serving a request allocates nothing. It drives the
//! sans-io parser and encoder in [`crate::proto::h1`] and moves bytes only through a
//! [`Transport`], so the io_uring engine and any other engine share it unchanged.
//!
//! The request loop that calls the application is in [`serve`]. The protocol object's methods
//! are split by concern, one file each:
//!
//! * `head`: reading a request head (and a PROXY protocol header before the first);
//! * `body`: the request body, read by the application or drained after it;
//! * `response`: committing and writing the response, where [`decide_response`] frames it and
//!   decides whether the connection stays open;
//! * `upgrade`: protocol switches and the lingering close;
//! * `features`: the request features the application sees;
//! * `access`: the access log line;
//! * `timeout`: the heartbeat's deadlines and rates.
//!
//! What the connection is reading is one [`Reading`] state; where the response is, one
//! [`Writing`] state.
//!
//! [`decide_response`]: crate::proto::h1::decide_response

mod access;
mod body;
mod common_features;
mod features;
pub(crate) mod h2;
mod head;
mod response;
mod serve;
mod timeout;
mod transport;
mod upgrade;
mod worker;

use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub(crate) use access::{start_access_log_writer, AccessLogWriter};
pub(crate) use response::Outcome;
pub(crate) use serve::serve;
pub(crate) use timeout::Heartbeat;
use timeout::{ConnTimer, Expired};
pub(crate) use transport::Transport;
pub(crate) use worker::WorkerContext;

use crate::http::ConnectionFeature;
use crate::proto::h1::{
    BodyDecoder, BodyKind, HeadLimits, RejectReason, RequestHead, ResponseFraming, ResponseHeaders,
};
use common_features::CommonFeatures;

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

/// Whether a 100-continue interim response is owed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Continue {
    None,
    Expected,
    Sent,
}

/// What the connection reads next (hyper's `Reading`, Kestrel's `RequestProcessingStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reading {
    /// A PROXY protocol header, before the first request (the listener opted in).
    ProxyHeader,
    /// A request head: between requests, or with part of one received.
    Head,
    /// The client ended its stream while a head (or PROXY header) was awaited: what is buffered
    /// is all there will be.
    Eof,
    /// A request is being served; its body is read by the application or drained after it.
    /// `started`: the application began reading it, so its limits are fixed.
    Body { started: bool },
    /// The body broke its framing or limit, or ended early (`UnexpectedEof`): nothing more of
    /// it is read, the connection closes, and a response not yet started becomes this status.
    BodyRejected(RejectReason),
    /// The connection switched protocols and is a byte stream (counted in
    /// `WorkerContext::upgraded`); `eof`: the client ended its side.
    Upgraded { eof: bool },
}

/// Where the response is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Writing {
    /// Status and headers can still change.
    NotStarted,
    /// The head is out; the body follows with this framing (`NoBody` on a status that has a
    /// body = delimited by closing the connection, for HTTP/1.0 clients).
    Streaming(ResponseFraming),
    /// The response is complete.
    Done,
}

impl<T> Drop for Http1Connection<T> {
    fn drop(&mut self) {
        if matches!(self.reading, Reading::Upgraded { .. }) {
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
const HEARTBEAT: Duration = Duration::from_secs(1);

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
    /// Whether the connection stays open after this response, as
    /// [`decide_response`](crate::proto::h1::decide_response) decided when the head was
    /// committed (the only place it is set).
    keep_alive: bool,
}

/// One HTTP/1.x connection: buffers, parsed head, response state and features.
pub(crate) struct Http1Connection<T> {
    transport: T,
    worker: Rc<WorkerContext>,

    /// The features every protocol's requests carry (looked up by type).
    features: CommonFeatures,
    requests: u32,
    /// When the current request's head was received, in `access::wall_micros` (only when the
    /// access log is on): the time of the receive that completed it.
    started: Option<u64>,
    /// When the last receive returned bytes, in `access::wall_micros`, or 0 if none did yet
    /// (only kept when the access log is on). Requests that arrived together (pipelined) share
    /// it, so the access log reads the clock once per receive for their start, not per request.
    received_at: u64,
    timer: Rc<ConnTimer>,

    /// What the connection reads next.
    reading: Reading,
    // Input: `input[base..base + head_len]` is the current head (`head_len` is 0 between
    // requests); body bytes follow.
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
    /// An upgraded-stream write whose bytes are in `out` and not yet sent.
    upgrade_write_pending: bool,
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
            features: CommonFeatures::new(connection, 0, &worker.limits),
            timer,
            transport,
            worker,
            requests: 0,
            started: None,
            received_at: 0,
            reading: Reading::Head,
            input: Vec::new(),
            base: 0,
            head_len: 0,
            head,
            body: BodyDecoder::new(BodyKind::None),
            body_pos: 0,
            pending: (0, 0),
            body_received: 0,
            expect: Continue::None,
            upgrade_write_pending: false,
            send_in_flight: false,
            out: Vec::new(),
            response: Response {
                status: 200,
                headers: ResponseHeaders::with_capacity(256, INITIAL_HEADER_SLOTS),
                body: Vec::new(),
                body_len: 0,
                writing: Writing::Done,
                keep_alive: false,
            },
        }
    }

    /// Makes a pooled protocol object serve a new connection (buffers and header slots kept).
    pub(crate) fn reset(&mut self, transport: T, connection: ConnectionFeature) {
        self.transport = transport;
        self.features.connection = connection;
        self.features.begin_request(0, &self.worker.limits);
        self.requests = 0;
        self.received_at = 0;
        self.end_upgrade();
        self.reading = Reading::Head;
        self.input.clear();
        self.base = 0;
        self.head_len = 0;
        self.body = BodyDecoder::new(BodyKind::None);
        self.body_pos = 0;
        self.pending = (0, 0);
        self.body_received = 0;
        self.expect = Continue::None;
        self.upgrade_write_pending = false;
        self.send_in_flight = false;
        self.timer.reset();
        self.out.clear();
        self.response.writing = Writing::Done;
    }

    /// The deadline `after` from now, in the heartbeat's coarse clock (one period more, so it
    /// never fires early).
    fn deadline_after(&self, after: Duration) -> Instant {
        self.worker.heartbeat.now() + HEARTBEAT + after
    }

    /// Arms the connection's deadline: `what` expires `after` from now.
    fn set_deadline(&self, after: Duration, what: Expired) {
        self.timer.set_deadline(self.deadline_after(after), what);
    }

    /// Arms `what` to expire `after` from now unless it is already the pending deadline (whose
    /// clock keeps running from when it was armed).
    fn keep_deadline(&self, after: Duration, what: Expired) {
        if self.timer.deadline_kind() != Some(what) {
            self.set_deadline(after, what);
        }
    }

    /// Gives the byte buffers back to the worker when the connection ends.
    pub(crate) fn recycle(&mut self) {
        self.worker.give_buffer(std::mem::take(&mut self.input));
        self.worker.give_buffer(std::mem::take(&mut self.out));
    }

    /// Starts the connection with `input` already received (protocol detection read it).
    pub(crate) fn prime_input(&mut self, input: Vec<u8>) {
        if self.worker.access_log {
            self.received_at = access::wall_micros();
        }
        self.worker
            .give_buffer(std::mem::replace(&mut self.input, input));
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
}
