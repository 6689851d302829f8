//! Server metrics: per-worker counters, written without locks on the request path, read and
//! summed by whoever asks ([`ServerMetrics::snapshot`]), and rendered in the Prometheus text
//! format ([`ServerMetrics::render_prometheus`]).
//!
//! Each worker owns one [`WorkerMetrics`] block (its own cache lines) and is its only writer, so
//! an increment is a relaxed load and store: no locked instruction, no shared cache line. A
//! reader on another thread may see a count a few increments old, never a torn one.
//!
//! A started server exposes its [`ServerMetrics`] as a server feature; [`AdminApp`] serves them
//! (`/metrics`) with a readiness probe (`/healthz`) on a listener of their own, which the
//! `peregrine` binary starts with `--admin-urls`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::app::{AppResult, Handler};
use crate::http::HttpContext;
use crate::proto::h1::RejectReason;
use crate::proto::h2::H2Stats;

/// What a connection timeout was waiting for (a metric label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutKind {
    /// An idle keep-alive connection was closed (normal housekeeping, not a client fault).
    KeepAlive,
    /// The request head did not arrive in time (`408`).
    RequestHeaders,
    /// The request body arrived slower than its minimum rate (`408`).
    RequestBodyRate,
    /// The client did not take the response at the minimum rate.
    ResponseRate,
    /// A lingering close waited long enough.
    Linger,
}

impl TimeoutKind {
    /// Every kind, in label order.
    pub const ALL: [TimeoutKind; 5] = [
        TimeoutKind::KeepAlive,
        TimeoutKind::RequestHeaders,
        TimeoutKind::RequestBodyRate,
        TimeoutKind::ResponseRate,
        TimeoutKind::Linger,
    ];

    /// Stable snake_case name for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutKind::KeepAlive => "keep_alive",
            TimeoutKind::RequestHeaders => "request_headers",
            TimeoutKind::RequestBodyRate => "request_body_rate",
            TimeoutKind::ResponseRate => "response_rate",
            TimeoutKind::Linger => "linger",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

const REASONS: usize = RejectReason::ALL.len();

/// The WebSocket close codes counted one by one (`peregrine_websocket_closes_total`'s `code`
/// label); any other code is counted as `other`. 1005 is a Close without a code, 1006 a
/// connection that ended without a Close (the peer vanished, or a keep-alive or close timeout).
pub const WEBSOCKET_CLOSE_CODES: [u16; 11] = [
    1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011,
];

/// Per-worker WebSocket counters.
#[derive(Debug, Default)]
struct WebSocketCounters {
    opened: AtomicU64,
    closed: AtomicU64,
    handshake_rejections: AtomicU64,
    messages_received: AtomicU64,
    messages_sent: AtomicU64,
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
    bombs_refused: AtomicU64,
    closes: [AtomicU64; WEBSOCKET_CLOSE_CODES.len() + 1],
}

/// WebSocket counters at one moment (part of [`WorkerSnapshot`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebSocketSnapshot {
    /// WebSockets accepted (`101` sent, or `200` to an HTTP/2 extended CONNECT).
    pub opened: u64,
    /// WebSockets ended (the application returned or dropped the socket).
    pub closed: u64,
    /// Handshakes refused (`400`, `403`, `426`, or `503` at the upgraded-connection limit).
    pub handshake_rejections: u64,
    /// Messages received (whole messages; a streamed message counts once, at its last piece).
    pub messages_received: u64,
    /// Messages sent (a fragmented message counts once, at its last piece).
    pub messages_sent: u64,
    /// Payload bytes received (after inflation).
    pub bytes_received: u64,
    /// Payload bytes the application sent (before compression).
    pub bytes_sent: u64,
    /// Compressed messages refused because they inflated past the message size limit.
    pub bombs_refused: u64,
    /// How WebSockets ended, by [`WEBSOCKET_CLOSE_CODES`] index (the last: any other code).
    pub closes: [u64; WEBSOCKET_CLOSE_CODES.len() + 1],
}

impl WebSocketSnapshot {
    /// WebSockets open now.
    pub fn active(&self) -> u64 {
        self.opened.saturating_sub(self.closed)
    }

    /// WebSockets that ended with `code` (the `other` count for an uncounted code).
    pub fn closes_with(&self, code: u16) -> u64 {
        self.closes[close_index(code)]
    }

    fn add(&mut self, o: &WebSocketSnapshot) {
        self.opened += o.opened;
        self.closed += o.closed;
        self.handshake_rejections += o.handshake_rejections;
        self.messages_received += o.messages_received;
        self.messages_sent += o.messages_sent;
        self.bytes_received += o.bytes_received;
        self.bytes_sent += o.bytes_sent;
        self.bombs_refused += o.bombs_refused;
        for (a, b) in self.closes.iter_mut().zip(o.closes) {
            *a += b;
        }
    }
}

fn close_index(code: u16) -> usize {
    WEBSOCKET_CLOSE_CODES
        .iter()
        .position(|c| *c == code)
        .unwrap_or(WEBSOCKET_CLOSE_CODES.len())
}

/// Reads one counter of [`H2Stats`].
pub type Http2Counter = fn(&H2Stats) -> u64;

/// The HTTP/2 counters exported, each an [`H2Stats`] field: its name in
/// `peregrine_http2_events_total{event="..."}` and how to read it. Plus
/// `connections` (HTTP/2 connections served), counted by the driver.
pub const HTTP2_EVENTS: [(&str, Http2Counter); 16] = [
    ("frames_received", |s| s.frames_received),
    ("streams_opened", |s| s.streams_opened),
    ("streams_refused", |s| s.streams_refused),
    ("resets_received", |s| s.resets_received),
    ("resets_sent", |s| s.resets_sent),
    ("rapid_reset_floods", |s| s.rapid_reset_floods),
    ("control_floods", |s| s.control_floods),
    ("continuation_floods", |s| s.continuation_floods),
    ("hpack_bombs", |s| s.hpack_bombs),
    ("flow_control_errors", |s| s.flow_control_errors),
    ("min_rate_resets", |s| s.min_rate_resets),
    ("stalled_responses", |s| s.stalled_responses),
    ("header_timeouts", |s| s.header_timeouts),
    ("malformed_requests", |s| s.malformed_requests),
    ("output_backpressure", |s| s.output_backpressure),
    ("connection_errors", |s| s.connection_errors),
];

/// One worker's counters. Only that worker writes them.
#[derive(Debug)]
#[repr(align(128))]
pub struct WorkerMetrics {
    connections_accepted: AtomicU64,
    connections_closed: AtomicU64,
    connections_refused: AtomicU64,
    requests: AtomicU64,
    bytes_received: AtomicU64,
    bytes_sent: AtomicU64,
    restarts: AtomicU64,
    proxy_header_errors: AtomicU64,
    bare_line_feed_accepted: AtomicU64,
    bare_line_feed_rejected: AtomicU64,
    rejections: [AtomicU64; REASONS],
    timeouts: [AtomicU64; TimeoutKind::ALL.len()],
    websocket: WebSocketCounters,
    http2_connections: AtomicU64,
    http2: [AtomicU64; HTTP2_EVENTS.len()],
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        WorkerMetrics {
            connections_accepted: AtomicU64::new(0),
            connections_closed: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            proxy_header_errors: AtomicU64::new(0),
            bare_line_feed_accepted: AtomicU64::new(0),
            bare_line_feed_rejected: AtomicU64::new(0),
            rejections: std::array::from_fn(|_| AtomicU64::new(0)),
            timeouts: std::array::from_fn(|_| AtomicU64::new(0)),
            websocket: WebSocketCounters::default(),
            http2_connections: AtomicU64::new(0),
            http2: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// Adds `n` to a counter only this thread writes: a relaxed load and store, which compile to
/// plain moves (a locked read-modify-write would serialise the core for nothing).
#[inline]
fn add(counter: &AtomicU64, n: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

impl WorkerMetrics {
    pub(crate) fn connection_accepted(&self) {
        add(&self.connections_accepted, 1);
    }
    pub(crate) fn connection_closed(&self) {
        add(&self.connections_closed, 1);
    }
    pub(crate) fn connection_refused(&self) {
        add(&self.connections_refused, 1);
    }
    pub(crate) fn request(&self) {
        add(&self.requests, 1);
    }
    pub(crate) fn received(&self, bytes: usize) {
        add(&self.bytes_received, bytes as u64);
    }
    pub(crate) fn sent(&self, bytes: usize) {
        add(&self.bytes_sent, bytes as u64);
    }
    pub(crate) fn restarted(&self) {
        add(&self.restarts, 1);
    }
    pub(crate) fn proxy_header_rejected(&self) {
        add(&self.proxy_header_errors, 1);
    }
    /// A request whose head or trailer section used a bare LF was accepted (under
    /// `BareLineFeedPolicy::Accept`). Rejected ones are counted by [`Self::rejection`].
    pub(crate) fn bare_line_feed_accepted(&self) {
        add(&self.bare_line_feed_accepted, 1);
    }
    pub(crate) fn rejection(&self, reason: RejectReason) {
        if let Some(i) = RejectReason::ALL.iter().position(|r| *r == reason) {
            add(&self.rejections[i], 1);
        }
        if reason == RejectReason::BareLineFeed {
            add(&self.bare_line_feed_rejected, 1);
        }
    }
    /// An HTTP/2 connection began.
    pub(crate) fn http2_connection(&self) {
        add(&self.http2_connections, 1);
    }
    /// Adds what an HTTP/2 connection counted since `before` (its last report).
    pub(crate) fn add_h2(&self, now: &H2Stats, before: &H2Stats) {
        if now == before {
            return;
        }
        for (i, (_, get)) in HTTP2_EVENTS.iter().enumerate() {
            add(&self.http2[i], get(now).wrapping_sub(get(before)));
        }
    }
    pub(crate) fn timeout(&self, kind: TimeoutKind) {
        add(&self.timeouts[kind.index()], 1);
    }
    pub(crate) fn websocket_opened(&self) {
        add(&self.websocket.opened, 1);
    }
    pub(crate) fn websocket_closed(&self, code: u16) {
        add(&self.websocket.closed, 1);
        add(&self.websocket.closes[close_index(code)], 1);
    }
    pub(crate) fn websocket_rejected(&self) {
        add(&self.websocket.handshake_rejections, 1);
    }
    pub(crate) fn websocket_received(&self, messages: u64, bytes: usize) {
        add(&self.websocket.messages_received, messages);
        add(&self.websocket.bytes_received, bytes as u64);
    }
    pub(crate) fn websocket_sent(&self, messages: u64, bytes: usize) {
        add(&self.websocket.messages_sent, messages);
        add(&self.websocket.bytes_sent, bytes as u64);
    }
    pub(crate) fn websocket_bomb_refused(&self) {
        add(&self.websocket.bombs_refused, 1);
    }

    /// Requests rejected so far, all reasons.
    pub(crate) fn rejected(&self) -> u64 {
        self.rejections
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Connections closed by a timeout that was the client's fault (keep-alive expiry is not).
    pub(crate) fn timed_out(&self) -> u64 {
        TimeoutKind::ALL
            .iter()
            .filter(|k| **k != TimeoutKind::KeepAlive)
            .map(|k| self.timeouts[k.index()].load(Ordering::Relaxed))
            .sum()
    }

    /// The counters now.
    pub fn snapshot(&self) -> WorkerSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WorkerSnapshot {
            connections_accepted: get(&self.connections_accepted),
            connections_closed: get(&self.connections_closed),
            connections_refused: get(&self.connections_refused),
            requests: get(&self.requests),
            bytes_received: get(&self.bytes_received),
            bytes_sent: get(&self.bytes_sent),
            restarts: get(&self.restarts),
            proxy_header_errors: get(&self.proxy_header_errors),
            bare_line_feed_accepted: get(&self.bare_line_feed_accepted),
            bare_line_feed_rejected: get(&self.bare_line_feed_rejected),
            rejections: std::array::from_fn(|i| get(&self.rejections[i])),
            timeouts: std::array::from_fn(|i| get(&self.timeouts[i])),
            websocket: {
                let w = &self.websocket;
                WebSocketSnapshot {
                    opened: get(&w.opened),
                    closed: get(&w.closed),
                    handshake_rejections: get(&w.handshake_rejections),
                    messages_received: get(&w.messages_received),
                    messages_sent: get(&w.messages_sent),
                    bytes_received: get(&w.bytes_received),
                    bytes_sent: get(&w.bytes_sent),
                    bombs_refused: get(&w.bombs_refused),
                    closes: std::array::from_fn(|i| get(&w.closes[i])),
                }
            },
            http2_connections: get(&self.http2_connections),
            http2: std::array::from_fn(|i| get(&self.http2[i])),
        }
    }
}

/// One worker's counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerSnapshot {
    /// Connections accepted and served (refused ones not included).
    pub connections_accepted: u64,
    /// Connections closed after being served.
    pub connections_closed: u64,
    /// Connections closed at once because `max_concurrent_connections` were open.
    pub connections_refused: u64,
    /// Requests answered (rejected ones included).
    pub requests: u64,
    /// Bytes received from clients.
    pub bytes_received: u64,
    /// Bytes handed to the kernel to send.
    pub bytes_sent: u64,
    /// Times the worker was restarted after it died.
    pub restarts: u64,
    /// Connections closed because their PROXY protocol header was malformed or late.
    pub proxy_header_errors: u64,
    /// Requests whose head or trailers used a bare LF as a line terminator, accepted
    /// (`BareLineFeedPolicy::Accept`).
    pub bare_line_feed_accepted: u64,
    /// Requests rejected for a bare LF line terminator (also in `rejections`).
    pub bare_line_feed_rejected: u64,
    /// Rejections, by [`RejectReason::ALL`] index.
    pub rejections: [u64; REASONS],
    /// Timeouts, by [`TimeoutKind::ALL`] index.
    pub timeouts: [u64; TimeoutKind::ALL.len()],
    /// WebSocket counters.
    pub websocket: WebSocketSnapshot,
    /// HTTP/2 connections served.
    pub http2_connections: u64,
    /// HTTP/2 events and defenses, by [`HTTP2_EVENTS`] index.
    pub http2: [u64; HTTP2_EVENTS.len()],
}

impl WorkerSnapshot {
    /// Connections open now.
    pub fn connections_active(&self) -> u64 {
        self.connections_accepted
            .saturating_sub(self.connections_closed)
    }

    /// Rejections of `reason`.
    pub fn rejections_of(&self, reason: RejectReason) -> u64 {
        RejectReason::ALL
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.rejections[i])
    }

    /// Timeouts of `kind`.
    pub fn timeouts_of(&self, kind: TimeoutKind) -> u64 {
        self.timeouts[kind.index()]
    }

    fn add(&mut self, other: &WorkerSnapshot) {
        self.connections_accepted += other.connections_accepted;
        self.connections_closed += other.connections_closed;
        self.connections_refused += other.connections_refused;
        self.requests += other.requests;
        self.bytes_received += other.bytes_received;
        self.bytes_sent += other.bytes_sent;
        self.restarts += other.restarts;
        self.proxy_header_errors += other.proxy_header_errors;
        self.bare_line_feed_accepted += other.bare_line_feed_accepted;
        self.bare_line_feed_rejected += other.bare_line_feed_rejected;
        for (a, b) in self.rejections.iter_mut().zip(other.rejections) {
            *a += b;
        }
        for (a, b) in self.timeouts.iter_mut().zip(other.timeouts) {
            *a += b;
        }
        self.websocket.add(&other.websocket);
        self.http2_connections += other.http2_connections;
        for (a, b) in self.http2.iter_mut().zip(other.http2) {
            *a += b;
        }
    }

    /// The HTTP/2 counter called `event` (a name of [`HTTP2_EVENTS`]); 0 for an unknown name.
    pub fn http2_event(&self, event: &str) -> u64 {
        HTTP2_EVENTS
            .iter()
            .position(|(n, _)| *n == event)
            .map_or(0, |i| self.http2[i])
    }
}

/// The metrics of a whole server: one block per worker, and whether it is ready for traffic (a
/// server feature; clone the `Arc` to keep reading after the server is gone).
#[derive(Debug)]
pub struct ServerMetrics {
    engine: &'static str,
    workers: Vec<Arc<WorkerMetrics>>,
    ready: AtomicBool,
    tls: TlsMetrics,
}

/// Counters of a server's HTTPS listeners (all workers together: a handshake costs far more
/// than the shared increment).
#[derive(Debug, Default)]
pub struct TlsMetrics {
    pub(crate) handshakes: AtomicU64,
    pub(crate) handshake_failures: AtomicU64,
    pub(crate) handshake_timeouts: AtomicU64,
    pub(crate) reloads: AtomicU64,
    pub(crate) reload_failures: AtomicU64,
}

impl TlsMetrics {
    /// Handshakes completed.
    pub fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::Relaxed)
    }
    /// Handshakes that failed (refused by TLS, too large, or the peer went away), timeouts
    /// excepted.
    pub fn handshake_failures(&self) -> u64 {
        self.handshake_failures.load(Ordering::Relaxed)
    }
    /// Handshakes not completed within the handshake timeout.
    pub fn handshake_timeouts(&self) -> u64 {
        self.handshake_timeouts.load(Ordering::Relaxed)
    }
    /// Certificate reloads that succeeded.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }
    /// Certificate reloads that failed (the previous certificates stayed in use).
    pub fn reload_failures(&self) -> u64 {
        self.reload_failures.load(Ordering::Relaxed)
    }
}

impl ServerMetrics {
    /// Metrics for `workers` workers of the engine named `engine`, not yet ready.
    pub(crate) fn new(engine: &'static str, workers: usize) -> Arc<ServerMetrics> {
        Arc::new(ServerMetrics {
            engine,
            workers: (0..workers).map(|_| Arc::default()).collect(),
            ready: AtomicBool::new(false),
            tls: TlsMetrics::default(),
        })
    }

    /// The HTTPS counters.
    pub fn tls(&self) -> &TlsMetrics {
        &self.tls
    }

    /// Worker `i`'s block, for the worker to write.
    pub(crate) fn worker(&self, i: usize) -> Arc<WorkerMetrics> {
        self.workers[i].clone()
    }

    /// Marks the server ready (started) or not (draining, stopped).
    pub(crate) fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }

    /// Whether the server accepts new work: started and not draining. A load balancer's
    /// readiness probe should follow this.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Each worker's counters now.
    pub fn per_worker(&self) -> Vec<WorkerSnapshot> {
        self.workers.iter().map(|w| w.snapshot()).collect()
    }

    /// Every worker's counters summed.
    pub fn snapshot(&self) -> WorkerSnapshot {
        let mut total = WorkerSnapshot::default();
        for w in &self.workers {
            total.add(&w.snapshot());
        }
        total
    }

    /// Appends the metrics in the Prometheus text exposition format (version 0.0.4), one
    /// series per worker (label `worker`).
    pub fn render_prometheus(&self, out: &mut String) {
        let workers = self.per_worker();
        type Counter = fn(&WorkerSnapshot) -> u64;
        let families: [(&str, &str, &str, Counter); 8] = [
            (
                "peregrine_connections_accepted_total",
                "counter",
                "Connections accepted and served.",
                |w| w.connections_accepted,
            ),
            (
                "peregrine_connections_active",
                "gauge",
                "Connections open now.",
                |w| w.connections_active(),
            ),
            (
                "peregrine_connections_refused_total",
                "counter",
                "Connections closed at once because the connection limit was reached.",
                |w| w.connections_refused,
            ),
            (
                "peregrine_requests_total",
                "counter",
                "Requests answered, rejections included.",
                |w| w.requests,
            ),
            (
                "peregrine_received_bytes_total",
                "counter",
                "Bytes received from clients.",
                |w| w.bytes_received,
            ),
            (
                "peregrine_sent_bytes_total",
                "counter",
                "Bytes handed to the kernel to send.",
                |w| w.bytes_sent,
            ),
            (
                "peregrine_worker_restarts_total",
                "counter",
                "Times a worker died and was restarted.",
                |w| w.restarts,
            ),
            (
                "peregrine_proxy_header_errors_total",
                "counter",
                "Connections closed because their PROXY protocol header was malformed or late.",
                |w| w.proxy_header_errors,
            ),
        ];
        for (name, kind, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (i, w) in workers.iter().enumerate() {
                let _ = writeln!(out, "{name}{{worker=\"{i}\"}} {}", value(w));
            }
        }
        let _ = writeln!(
            out,
            "# HELP peregrine_rejections_total Requests rejected, by reason and status.\n\
             # TYPE peregrine_rejections_total counter"
        );
        for (i, w) in workers.iter().enumerate() {
            for (r, reason) in RejectReason::ALL.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "peregrine_rejections_total{{worker=\"{i}\",reason=\"{}\",status=\"{}\"}} {}",
                    reason.as_str(),
                    reason.status(),
                    w.rejections[r]
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP peregrine_bare_line_feed_requests_total Requests that used a bare LF as a \
             line terminator in the head or trailers, by outcome (bare-line-feed setting).\n\
             # TYPE peregrine_bare_line_feed_requests_total counter"
        );
        for (i, w) in workers.iter().enumerate() {
            for (outcome, n) in [
                ("accepted", w.bare_line_feed_accepted),
                ("rejected", w.bare_line_feed_rejected),
            ] {
                let _ = writeln!(
                    out,
                    "peregrine_bare_line_feed_requests_total{{worker=\"{i}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP peregrine_timeouts_total Connections closed by a timeout, by kind.\n\
             # TYPE peregrine_timeouts_total counter"
        );
        for (i, w) in workers.iter().enumerate() {
            for kind in TimeoutKind::ALL {
                let _ = writeln!(
                    out,
                    "peregrine_timeouts_total{{worker=\"{i}\",kind=\"{}\"}} {}",
                    kind.as_str(),
                    w.timeouts_of(kind)
                );
            }
        }
        let ws: [(&str, &str, &str, Counter); 4] = [
            (
                "peregrine_websockets_opened_total",
                "counter",
                "WebSockets accepted.",
                |w| w.websocket.opened,
            ),
            (
                "peregrine_websockets_active",
                "gauge",
                "WebSockets open now.",
                |w| w.websocket.active(),
            ),
            (
                "peregrine_websocket_handshake_rejections_total",
                "counter",
                "WebSocket handshakes refused (400, 403, 426, 503).",
                |w| w.websocket.handshake_rejections,
            ),
            (
                "peregrine_websocket_bombs_refused_total",
                "counter",
                "Compressed WebSocket messages refused for inflating past the message size limit.",
                |w| w.websocket.bombs_refused,
            ),
        ];
        for (name, kind, help, value) in ws {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (i, w) in workers.iter().enumerate() {
                let _ = writeln!(out, "{name}{{worker=\"{i}\"}} {}", value(w));
            }
        }
        for (name, help, rx, tx) in [
            (
                "peregrine_websocket_messages_total",
                "WebSocket messages, by direction.",
                (|w| w.websocket.messages_received) as Counter,
                (|w| w.websocket.messages_sent) as Counter,
            ),
            (
                "peregrine_websocket_payload_bytes_total",
                "WebSocket payload bytes (uncompressed), by direction.",
                |w| w.websocket.bytes_received,
                |w| w.websocket.bytes_sent,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (i, w) in workers.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{name}{{worker=\"{i}\",direction=\"received\"}} {}\n\
                     {name}{{worker=\"{i}\",direction=\"sent\"}} {}",
                    rx(w),
                    tx(w)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP peregrine_websocket_closes_total WebSockets ended, by close code (1006: no \
             Close, the peer vanished or a timeout).\n\
             # TYPE peregrine_websocket_closes_total counter"
        );
        for (i, w) in workers.iter().enumerate() {
            for (c, n) in w.websocket.closes.iter().enumerate() {
                let code = WEBSOCKET_CLOSE_CODES
                    .get(c)
                    .map_or_else(|| "other".to_string(), |c| c.to_string());
                let _ = writeln!(
                    out,
                    "peregrine_websocket_closes_total{{worker=\"{i}\",code=\"{code}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP peregrine_http2_connections_total HTTP/2 connections served.\n\
             # TYPE peregrine_http2_connections_total counter"
        );
        for (i, w) in workers.iter().enumerate() {
            let _ = writeln!(
                out,
                "peregrine_http2_connections_total{{worker=\"{i}\"}} {}",
                w.http2_connections
            );
        }
        let _ = writeln!(
            out,
            "# HELP peregrine_http2_events_total HTTP/2 frames, streams, resets and the flood \
             defenses that ended a stream or a connection, by event.\n\
             # TYPE peregrine_http2_events_total counter"
        );
        for (i, w) in workers.iter().enumerate() {
            for (e, (event, _)) in HTTP2_EVENTS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "peregrine_http2_events_total{{worker=\"{i}\",event=\"{event}\"}} {}",
                    w.http2[e]
                );
            }
        }
        let tls: [(&str, &str, u64); 5] = [
            (
                "peregrine_tls_handshakes_total",
                "TLS handshakes completed.",
                self.tls.handshakes(),
            ),
            (
                "peregrine_tls_handshake_failures_total",
                "TLS handshakes that failed (bad ClientHello, no shared parameters, unknown name, bad client certificate, too large, peer gone).",
                self.tls.handshake_failures(),
            ),
            (
                "peregrine_tls_handshake_timeouts_total",
                "TLS handshakes not completed within the handshake timeout.",
                self.tls.handshake_timeouts(),
            ),
            (
                "peregrine_tls_certificate_reloads_total",
                "Certificate reloads that succeeded (file change or SIGHUP).",
                self.tls.reloads(),
            ),
            (
                "peregrine_tls_certificate_reload_failures_total",
                "Certificate reloads that failed; the previous certificates stayed in use.",
                self.tls.reload_failures(),
            ),
        ];
        for (name, help, n) in tls {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP peregrine_ready Whether the server accepts new work (1) or is draining (0).\n\
             # TYPE peregrine_ready gauge\nperegrine_ready{{engine=\"{}\"}} {}",
            self.engine,
            u8::from(self.is_ready())
        );
    }
}

/// The admin application: `GET /metrics` (Prometheus text format) and `GET /healthz` (`200
/// ready`, or `503 draining` once a stop began, so a load balancer stops sending new work).
/// Serve it on a listener of its own, apart from the application's traffic.
pub struct AdminApp {
    metrics: Arc<ServerMetrics>,
}

impl AdminApp {
    /// Serves `metrics`.
    pub fn new(metrics: Arc<ServerMetrics>) -> AdminApp {
        AdminApp { metrics }
    }
}

impl Handler for AdminApp {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        let path = http.request().path();
        match path {
            "/metrics" => {
                let mut text = String::with_capacity(16 * 1024);
                self.metrics.render_prometheus(&mut text);
                http.set_header("content-type", "text/plain; version=0.0.4; charset=utf-8")?;
                http.write(text.as_bytes());
            }
            "/healthz" | "/readyz" => {
                http.set_header("content-type", "text/plain")?;
                if self.metrics.is_ready() {
                    http.write(b"ready\n");
                } else {
                    http.set_status(503)?;
                    http.write(b"draining\n");
                }
            }
            "/livez" => {
                http.set_header("content-type", "text/plain")?;
                http.write(b"alive\n");
            }
            _ => {
                http.set_status(404)?;
                http.write(b"not found: try /metrics, /healthz or /livez\n");
            }
        }
        Ok(())
    }
}
