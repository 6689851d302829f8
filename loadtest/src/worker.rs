//! The per-thread event loop: mio (edge-triggered epoll) over this thread's connections.
//!
//! Per read it costs one clock read and parses every response in it; in closed loop a
//! connection writes its replacement requests in one `write` once at least half of its
//! `--pipeline` slots are free. Sockets are registered once for both readable and writable
//! readiness, so no `epoll_ctl` happens per request.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::conn::{Conn, InFlight, Phase, ReadOutcome, TlsError};
use crate::parse::Response;
use crate::runner::{Plan, Progress};
use crate::schedule::Schedule;
use crate::stats::{ErrorKind, ThreadStats};
use crate::timer::SendTimer;

/// How often timeouts are checked, reconnects retried and progress published.
const HOUSEKEEPING_NS: u64 = 10_000_000;
/// Wait after a failed connect before trying again.
const CONNECT_BACKOFF_NS: u64 = 10_000_000;
/// Open loop: with less than this to the next send, poll without sleeping rather than arm
/// the timer (the wake-up would take about as long).
const SPIN_NS: u64 = 20_000;
/// Open loop without a timerfd (it could not be created): epoll's timeout has a 1 ms
/// granularity, so poll without sleeping during the last millisecond before a send.
const SPIN_NS_WITHOUT_TIMER: u64 = 1_000_000;
/// The token of the open-loop send timer (connection tokens never have all bits set).
const TIMER_TOKEN: Token = Token(usize::MAX);

fn token(idx: usize, generation: u32) -> Token {
    Token(((generation as usize) << 32) | idx)
}

/// One worker thread's state.
pub(crate) struct Worker {
    plan: Arc<Plan>,
    progress: Arc<Progress>,
    lane: usize,
    start: Instant,
    poll: Poll,
    conns: Vec<Conn>,
    stats: ThreadStats,
    schedule: Option<Schedule>,
    /// Open loop: wakes the loop when the next request is due.
    timer: Option<SendTimer>,
    /// Open loop: connections with room for another request.
    ready: VecDeque<usize>,
}

impl Worker {
    /// A worker for lane `lane`, owning the global connections `first..first + count`.
    pub fn new(
        plan: Arc<Plan>,
        progress: Arc<Progress>,
        lane: usize,
        first: usize,
        count: usize,
        start: Instant,
    ) -> io::Result<Self> {
        let targets = plan.targets.len();
        let conns = (first..first + count)
            .map(|g| Conn::new(g % targets, g / targets, plan.head_request, plan.pipeline))
            .collect();
        let schedule = plan.rate.map(|r| Schedule::new(r, plan.threads, lane));
        let poll = Poll::new()?;
        let timer = match schedule {
            Some(_) => SendTimer::new(poll.registry(), TIMER_TOKEN).ok(),
            None => None,
        };
        Ok(Worker {
            stats: ThreadStats::new(plan.rate.is_some()),
            progress,
            lane,
            start,
            poll,
            conns,
            schedule,
            timer,
            ready: VecDeque::with_capacity(count),
            plan,
        })
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn in_window(&self, now: u64) -> bool {
        now >= self.plan.measure_start_ns && now < self.plan.end_ns
    }

    /// Runs until the end of the measurement and returns what was counted.
    pub fn run(mut self) -> io::Result<ThreadStats> {
        let mut events = Events::with_capacity(1024);
        let now = self.now();
        for idx in 0..self.conns.len() {
            self.connect(idx, now);
        }
        let mut next_housekeeping = now + HOUSEKEEPING_NS;
        loop {
            let now = self.now();
            if now >= self.plan.end_ns {
                break;
            }
            if now >= next_housekeeping {
                self.housekeeping(now);
                next_housekeeping = now + HOUSEKEEPING_NS;
            }
            if self.schedule.is_some() {
                self.dispatch(now);
            }
            let timeout = self.wait_time(now, next_housekeeping);
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for event in events.iter() {
                if event.token() == TIMER_TOKEN {
                    if let Some(timer) = &mut self.timer {
                        timer.fired();
                    }
                    continue;
                }
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                self.on_event(event.token(), readable, event.is_writable());
            }
        }
        self.publish();
        Ok(self.stats)
    }

    /// How long to wait for events: until the next housekeeping or the end, or — in open
    /// loop, when a connection is free — until the next request is due (arming the timer).
    fn wait_time(&mut self, now: u64, next_housekeeping: u64) -> Duration {
        let mut wake = next_housekeeping.min(self.plan.end_ns);
        if let Some(schedule) = &self.schedule {
            let due = schedule.next_due();
            if !self.ready.is_empty() && due < wake {
                let armed = match &mut self.timer {
                    Some(timer) if due > now + SPIN_NS => timer.arm(due, now).is_ok(),
                    _ => false,
                };
                if !armed {
                    let spin = match self.timer {
                        Some(_) => SPIN_NS,
                        None => SPIN_NS_WITHOUT_TIMER,
                    };
                    if due <= now + spin {
                        return Duration::ZERO;
                    }
                    wake = due;
                }
            }
        }
        Duration::from_nanos(wake.saturating_sub(now))
    }

    fn on_event(&mut self, token: Token, readable: bool, writable: bool) {
        let idx = token.0 & 0xffff_ffff;
        let generation = (token.0 >> 32) as u32;
        match self.conns.get(idx) {
            Some(conn) if conn.generation == generation => {}
            _ => return, // an event for a socket that has since been replaced
        }
        match self.conns[idx].phase {
            Phase::Connecting { .. } => self.finish_connect(idx, readable),
            Phase::Open => {
                if readable && !self.on_readable(idx) {
                    return;
                }
                if writable {
                    let now = self.now();
                    self.flush(idx, now);
                }
            }
            Phase::Down { .. } => {}
        }
    }

    /// Opens a fresh socket for connection `idx` (closing any old one).
    fn connect(&mut self, idx: usize, now: u64) {
        let in_window = self.in_window(now);
        let target = &self.plan.targets[self.conns[idx].target];
        let addr = target.addr;
        let conn = &mut self.conns[idx];
        conn.clear();
        conn.generation = conn.generation.wrapping_add(1);
        if let Some((config, name)) = &target.tls {
            // The ClientHello is ready now and goes out with the first flush.
            match rustls::ClientConnection::new(config.clone(), name.clone()) {
                Ok(tls) => conn.tls = Some(Box::new(tls)),
                Err(_) => {
                    if in_window {
                        self.stats.errors.count(ErrorKind::Connect);
                    }
                    conn.phase = Phase::Down {
                        retry_at_ns: now + CONNECT_BACKOFF_NS,
                    };
                    return;
                }
            }
        }
        let registered = TcpStream::connect(addr).and_then(|mut stream| {
            stream.set_nodelay(true)?;
            self.poll.registry().register(
                &mut stream,
                token(idx, conn.generation),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            Ok(stream)
        });
        match registered {
            Ok(stream) => {
                conn.stream = Some(stream);
                conn.phase = Phase::Connecting { since_ns: now };
            }
            Err(_) => {
                if in_window {
                    self.stats.errors.count(ErrorKind::Connect);
                }
                conn.phase = Phase::Down {
                    retry_at_ns: now + CONNECT_BACKOFF_NS,
                };
            }
        }
    }

    fn finish_connect(&mut self, idx: usize, readable: bool) {
        let now = self.now();
        let Some(stream) = self.conns[idx].stream.as_ref() else {
            return;
        };
        let connected = match stream.take_error() {
            Ok(None) => match stream.peer_addr() {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
                Err(e) => Err(e),
            },
            Ok(Some(e)) | Err(e) => Err(e),
        };
        match connected {
            Ok(true) => {}
            Ok(false) => return, // still connecting
            Err(_) => return self.fail(idx, ErrorKind::Connect, now),
        }
        self.conns[idx].phase = Phase::Open;
        if !self.after_responses(idx, now) {
            return;
        }
        if readable {
            // Edge-triggered: data (or a close) that came with the connect event will not
            // be announced again.
            self.on_readable(idx);
        }
    }

    /// Reads until the socket is drained and handles every response. Returns false if the
    /// connection was closed on the way.
    fn on_readable(&mut self, idx: usize) -> bool {
        let mut now;
        loop {
            let outcome = self.conns[idx].read();
            now = self.now();
            match outcome {
                Ok(ReadOutcome::Data { len, short }) => {
                    if self.in_window(now) {
                        self.stats.bytes_read += len as u64;
                    }
                    loop {
                        match self.conns[idx].next_response() {
                            Ok(Some(resp)) => {
                                if !self.complete(idx, resp, now) {
                                    return false;
                                }
                            }
                            Ok(None) => break,
                            Err(_) => {
                                self.fail(idx, ErrorKind::Protocol, now);
                                return false;
                            }
                        }
                    }
                    if short {
                        break; // drained; edge-triggered epoll reports the next arrival
                    }
                }
                Ok(ReadOutcome::WouldBlock) => break,
                Ok(ReadOutcome::Eof) => {
                    self.on_eof(idx, now);
                    return false;
                }
                Ok(ReadOutcome::HeadTooLarge) => {
                    self.fail(idx, ErrorKind::Protocol, now);
                    return false;
                }
                Err(e) => {
                    if let Some(tls) = e.get_ref().and_then(|e| e.downcast_ref::<TlsError>()) {
                        self.stats.tls_error.get_or_insert_with(|| tls.to_string());
                    }
                    // A TLS handshake that failed (an untrusted certificate, an alert) is a
                    // failed connect, retried after the back-off.
                    let handshaking = self.conns[idx]
                        .tls
                        .as_ref()
                        .is_some_and(|t| t.is_handshaking());
                    let kind = if handshaking {
                        ErrorKind::Connect
                    } else {
                        ErrorKind::Read
                    };
                    self.fail(idx, kind, now);
                    return false;
                }
            }
        }
        self.after_responses(idx, now)
    }

    /// Counts one response. Returns false if the connection was closed (the server asked
    /// for it, or the response answered no request).
    fn complete(&mut self, idx: usize, resp: Response, now: u64) -> bool {
        let in_window = self.in_window(now);
        let Some(flight) = self.conns[idx].inflight.pop_front() else {
            self.fail(idx, ErrorKind::Protocol, now);
            return false;
        };
        if in_window {
            self.stats
                .response(resp.status, flight.intended_ns, flight.sent_ns, now);
        }
        if resp.close {
            if in_window {
                self.stats.reconnects += 1;
            }
            self.connect(idx, now);
            return false;
        }
        true
    }

    fn on_eof(&mut self, idx: usize, now: u64) {
        match self.conns[idx].eof() {
            Ok(Some(resp)) => {
                // A body delimited by the close: `resp.close` is set, so this reconnects.
                self.complete(idx, resp, now);
            }
            Ok(None) if self.conns[idx].inflight.is_empty() => {
                // The server closed an idle connection: not an error.
                if self.in_window(now) {
                    self.stats.reconnects += 1;
                }
                self.connect(idx, now);
            }
            // Closed with requests outstanding, or mid-response.
            _ => self.fail(idx, ErrorKind::Read, now),
        }
    }

    /// After responses (or a connect): in closed loop, send replacements; in open loop,
    /// offer the connection to the scheduler. Returns false if the connection failed.
    fn after_responses(&mut self, idx: usize, now: u64) -> bool {
        if self.schedule.is_some() {
            self.make_ready(idx);
            return true;
        }
        let plan = &*self.plan;
        let conn = &mut self.conns[idx];
        // Top up only once at least half the pipeline is free, so that each write carries
        // at least pipeline/2 requests (with --pipeline 1: after every response).
        if now < plan.end_ns && conn.inflight.len() <= plan.pipeline / 2 {
            let target = &plan.targets[conn.target];
            while conn.inflight.len() < plan.pipeline {
                let request = &target.requests[conn.next_url % target.requests.len()];
                conn.next_url = conn.next_url.wrapping_add(1);
                conn.queue(
                    request,
                    InFlight {
                        intended_ns: now,
                        sent_ns: now,
                    },
                );
            }
        }
        self.flush(idx, now)
    }

    fn flush(&mut self, idx: usize, now: u64) -> bool {
        match self.conns[idx].flush() {
            Ok(_) => true,
            Err(_) => {
                self.fail(idx, ErrorKind::Write, now);
                false
            }
        }
    }

    fn make_ready(&mut self, idx: usize) {
        let conn = &mut self.conns[idx];
        if !conn.in_ready && conn.phase == Phase::Open && conn.inflight.len() < self.plan.pipeline {
            conn.in_ready = true;
            self.ready.push_back(idx);
        }
    }

    /// Open loop: sends every request whose intended time has come, as long as some
    /// connection has room. Late requests keep their intended time.
    fn dispatch(&mut self, now: u64) {
        loop {
            let Some(due) = self.schedule.as_ref().map(Schedule::next_due) else {
                return;
            };
            if due > now {
                return;
            }
            let Some(idx) = self.ready.pop_front() else {
                return; // every connection is busy: the request waits, its clock running
            };
            let plan = &*self.plan;
            let conn = &mut self.conns[idx];
            conn.in_ready = false;
            if conn.phase != Phase::Open || conn.inflight.len() >= plan.pipeline {
                continue;
            }
            let target = &plan.targets[conn.target];
            let request = &target.requests[conn.next_url % target.requests.len()];
            conn.next_url = conn.next_url.wrapping_add(1);
            conn.queue(
                request,
                InFlight {
                    intended_ns: due,
                    sent_ns: now,
                },
            );
            if let Some(schedule) = self.schedule.as_mut() {
                schedule.advance();
            }
            if self.flush(idx, now) {
                self.make_ready(idx);
            }
        }
    }

    /// Closes connection `idx` after a failure, counts it, and reconnects (after a short
    /// back-off if connecting was what failed).
    fn fail(&mut self, idx: usize, kind: ErrorKind, now: u64) {
        if self.in_window(now) {
            self.stats.errors.count(kind);
        }
        if kind == ErrorKind::Connect {
            let conn = &mut self.conns[idx];
            conn.clear();
            conn.generation = conn.generation.wrapping_add(1);
            conn.phase = Phase::Down {
                retry_at_ns: now + CONNECT_BACKOFF_NS,
            };
        } else {
            self.connect(idx, now);
        }
    }

    /// Timeouts, connect retries, progress.
    fn housekeeping(&mut self, now: u64) {
        self.publish();
        let timeout = self.plan.timeout_ns;
        for idx in 0..self.conns.len() {
            let conn = &self.conns[idx];
            let oldest_sent = conn.inflight.front().map(|f| f.sent_ns);
            match conn.phase {
                Phase::Down { retry_at_ns } if now >= retry_at_ns => self.connect(idx, now),
                Phase::Connecting { since_ns } if now.saturating_sub(since_ns) >= timeout => {
                    self.fail(idx, ErrorKind::Connect, now);
                }
                Phase::Open if oldest_sent.is_some_and(|t| now.saturating_sub(t) >= timeout) => {
                    self.fail(idx, ErrorKind::Timeout, now);
                }
                _ => {}
            }
        }
    }

    fn publish(&self) {
        let slot = &self.progress.slots[self.lane];
        slot.ok.store(self.stats.ok, Ordering::Relaxed);
        slot.errors
            .store(self.stats.errors.total(), Ordering::Relaxed);
    }
}
