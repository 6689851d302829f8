//! The state one worker shares with all its connections: limits, the parser, the `Server` and
//! `Date` lines,
//! the draining flag, the heartbeat, counters, spare buffers and the access log buffer.

use std::cell::{Cell, RefCell};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Instant;

use super::access::AccessLog;
use super::{Heartbeat, BUFFER_CAPACITY};
use crate::metrics::WorkerMetrics;
use crate::proto::h1::{HeadParser, RejectReason, ServerHeaders};
use crate::server::Limits;

/// State one worker shares with all its connections (never with other threads).
pub(crate) struct WorkerContext {
    pub(crate) limits: Limits,
    pub(crate) parser: HeadParser,
    /// Whether every request gets an access log line (`ServerOptions::access_log`).
    pub(crate) access_log: bool,
    /// The access log lines formatted on this worker and not yet handed to the writer thread.
    pub(super) access: AccessLog,
    /// The `Server` and `Date` lines, the date refreshed once a second by the worker.
    pub(crate) server_headers: RefCell<ServerHeaders>,
    /// Set when the server stops: idle connections close, responses say `Connection: close`.
    pub(crate) draining: Cell<bool>,
    /// The coarse clock and every connection's timeouts.
    pub(crate) heartbeat: Heartbeat,
    /// This worker's counters (connections, requests, bytes, rejections, timeouts).
    pub(crate) metrics: Arc<WorkerMetrics>,
    /// Upgraded connections open across all workers (touched once per upgrade).
    pub(super) upgraded: Arc<AtomicUsize>,
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
        WorkerContext {
            parser: HeadParser::new(limits.head_limits()),
            limits,
            access_log: false,
            access: AccessLog::default(),
            server_headers: RefCell::new(ServerHeaders::new(server_header.map(str::as_bytes))),
            draining: Cell::new(false),
            heartbeat: Heartbeat::new(),
            metrics,
            upgraded,
            buffers: RefCell::new(Vec::new()),
        }
    }

    /// The once-a-second heartbeat: refreshes the cached `Date` value and judges timeouts.
    pub(crate) fn tick(&self) {
        let now = std::time::SystemTime::now();
        self.server_headers.borrow_mut().update(now);
        self.heartbeat.beat(Instant::now());
        self.access.flush();
    }

    /// Requests rejected so far (all reasons).
    pub(crate) fn rejected(&self) -> u64 {
        self.metrics.rejected()
    }

    /// Connections closed by a timeout so far.
    pub(crate) fn timed_out(&self) -> u64 {
        self.metrics.timed_out()
    }

    pub(super) fn count_rejection(&self, reason: RejectReason) {
        self.metrics.rejection(reason);
    }

    pub(super) fn take_buffer(&self) -> Vec<u8> {
        self.buffers
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUFFER_CAPACITY))
    }

    pub(super) fn give_buffer(&self, mut buf: Vec<u8>) {
        if buf.capacity() > 0 {
            buf.clear();
            // Oversized buffers (a large head or response) are not kept.
            if buf.capacity() <= 4 * BUFFER_CAPACITY {
                self.buffers.borrow_mut().push(buf);
            }
        }
    }
}
