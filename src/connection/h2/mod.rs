//! HTTP/2 connections over any [`Transport`]: the driver that feeds the sans-I/O core
//! ([`crate::proto::h2::Connection`]) and writes what it produces, and the streams, each one
//! request on the same [`Application`] and [`HttpContext`](crate::HttpContext) as HTTP/1.1.
//!
//! One connection is one driver task on the worker that accepted it; each stream is one more
//! task on the same worker's executor (no cross-thread sharing). They share the protocol core
//! through an `Rc<RefCell<Shared>>` that is never borrowed across an `.await`: a stream calls
//! the core directly (`send_headers`, `send_data`, `release_capacity`) and wakes the driver to
//! write the output; the driver hands each stream its body bytes, resets and send capacity and
//! wakes it.
//!
//! * `detect`: choosing HTTP/2 on a connection (the preface in cleartext, ALPN over TLS);
//! * `stream`: a stream's request and response features and its task.

mod detect;
mod stream;

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

pub(crate) use detect::{detect, Detected};

use super::timeout::Expired;
use super::{Transport, WorkerContext};
use crate::app::Application;
use crate::http::{ConnectionFeature, TlsConnectionFeature};
use crate::proto::h1::ResponseHeaders;
use crate::proto::h2::{Connection, ErrorCode, Event, H2Stats, RequestHead};

/// Input held beyond one frame of the largest size we allow (and its header): while the core
/// does not consume it (output backpressure), nothing more is read.
const INPUT_SLACK: usize = 16 * 1024;
/// How long a closing connection reads and drops what the client still sends.
const LINGER: Duration = Duration::from_secs(1);
/// The most a closing connection reads and drops.
const LINGER_MAX_BYTES: usize = 1 << 20;

/// What the driver keeps for one stream whose task runs.
#[derive(Default)]
struct StreamSlot {
    /// Request body bytes received and not yet read by the application.
    body: VecDeque<u8>,
    /// The request body is complete (END_STREAM or trailers).
    end: bool,
    /// The stream was reset (by the client, by the core, or the connection ended).
    reset: Option<ErrorCode>,
    /// The stream's task, woken for body bytes, send capacity and resets.
    waker: Option<Waker>,
    /// An extended CONNECT that became a tunnel (RFC 8441): a reset does not cancel its
    /// handler, which sees it as a failed read or write (a WebSocket's 1006).
    tunnel: bool,
}

impl StreamSlot {
    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// A stream task that outlives its request: when the request ends it waits for the next one
/// of the connection, so a steady stream of requests reuses the tasks (and their boxes).
#[derive(Default)]
struct Runner {
    /// The next request given to this runner.
    job: Option<(u32, RequestHead)>,
    /// The runner's task, while it waits for a job.
    waker: Option<Waker>,
}

/// What a connection's driver and its streams share (one thread).
pub(crate) struct Shared {
    conn: Connection,
    streams: HashMap<u32, StreamSlot>,
    /// The driver task, woken when a stream produced output or finished.
    driver: Option<Waker>,
    worker: Rc<WorkerContext>,
    connection: ConnectionFeature,
    tls: Option<Rc<TlsConnectionFeature>>,
    /// Requests started on this connection.
    requests: u32,
    /// Body queues of finished streams, reused by the next ones (no allocation per stream).
    spare_bodies: Vec<VecDeque<u8>>,
    /// Response headers and body buffers of finished streams, reused by the next ones.
    spare_responses: Vec<(ResponseHeaders, Vec<u8>)>,
    /// The connection's stream tasks, by index (never more than the most streams that ran at
    /// once).
    runners: Vec<Runner>,
    /// Runners waiting for a request.
    idle: Vec<usize>,
    /// The driver has ended: idle runners end too.
    ended: bool,
}

/// The most bytes a pooled buffer keeps: a larger one (a big body) is freed with its stream.
const SPARE_MAX: usize = 64 * 1024;

impl Shared {
    /// Keeps a finished stream's body queue for a later stream (bounded like the streams).
    fn recycle_body(&mut self, mut body: VecDeque<u8>) {
        if body.capacity() > 0
            && body.capacity() <= SPARE_MAX
            && self.spare_bodies.len() < self.conn.limits().max_streams_per_connection as usize
        {
            body.clear();
            self.spare_bodies.push(body);
        }
    }

    /// Keeps a finished stream's response headers and body buffer for a later stream.
    fn recycle_response(&mut self, mut headers: ResponseHeaders, mut body: Vec<u8>) {
        if body.capacity() <= SPARE_MAX
            && self.spare_responses.len() < self.conn.limits().max_streams_per_connection as usize
        {
            headers.clear();
            body.clear();
            self.spare_responses.push((headers, body));
        }
    }

    fn wake_driver(&mut self) {
        if let Some(w) = self.driver.take() {
            w.wake();
        }
    }
}

/// The shared state, as streams hold it.
pub(crate) type SharedRef = Rc<RefCell<Shared>>;

/// A stream's task, for the engine to spawn on the connection's worker.
pub(crate) type StreamTask = Pin<Box<dyn Future<Output = ()>>>;

/// Serves one HTTP/2 connection on `transport` until it closes: `input` holds what was already
/// received (the preface, maybe more). Returns how many requests (streams) it served.
///
/// `spawn` runs a stream's task on the worker's executor (the engine's: this layer runs no
/// tasks of its own); `false` refuses the stream.
pub(crate) async fn serve<A: Application, T: Transport>(
    transport: &mut T,
    worker: Rc<WorkerContext>,
    app: Arc<A>,
    connection: ConnectionFeature,
    mut input: Vec<u8>,
    spawn: &dyn Fn(StreamTask) -> bool,
) -> u32 {
    let mut limits = worker.limits.http2.clone();
    // The body size limit is the stream's (`MaxRequestBodySize`, 413 while the response has
    // not started), applied as the application reads; the core's own would reset first.
    limits.max_request_body_size = None;
    let max_input = limits.max_frame_size as usize + 9 + INPUT_SLACK;
    let tls = transport.tls().cloned().map(Rc::new);
    let shared: SharedRef = Rc::new(RefCell::new(Shared {
        conn: Connection::new(limits, Instant::now()),
        streams: HashMap::new(),
        driver: None,
        worker: worker.clone(),
        connection,
        tls,
        requests: 0,
        spare_bodies: Vec::new(),
        spare_responses: Vec::new(),
        runners: Vec::new(),
        idle: Vec::new(),
        ended: false,
    }));
    worker.metrics.http2_connection();
    let mut out = worker.take_buffer();
    // The worker's heartbeat (once a second) runs the core's timers: a deadline that is
    // already due expires at the next beat and wakes the driver.
    let timer = worker.heartbeat.timer();
    timer.set_deadline(worker.heartbeat.now(), Expired::KeepAlive);
    let mut idle_since = Instant::now();
    let mut eof = false;
    let mut sending = false;
    let mut going_away = false;
    let mut reported = H2Stats::default();
    poll_fn(|cx| loop {
        let mut progress = false;
        let mut sh = shared.borrow_mut();
        timer.register(cx.waker());
        if timer.take_if(Expired::KeepAlive) {
            let now = Instant::now();
            sh.conn.tick(now);
            timer.set_deadline(worker.heartbeat.now(), Expired::KeepAlive);
            // An idle connection (no stream open) closes after the keep-alive timeout, as an
            // idle HTTP/1.1 connection does (Kestrel's `KeepAliveTimeout`).
            if sh.conn.open_streams() > 0 || !sh.streams.is_empty() {
                idle_since = now;
            } else if now.duration_since(idle_since) > worker.limits.keep_alive_timeout
                && !going_away
            {
                going_away = true;
                sh.conn.go_away();
            }
            progress = true;
        }
        if worker.draining.get() && !going_away {
            // Graceful stop: GOAWAY with the last stream id; streams in flight finish (the
            // worker's stop deadline bounds them).
            going_away = true;
            sh.conn.go_away();
        }
        if !input.is_empty() {
            let n = sh.conn.recv(&input);
            if n > 0 {
                input.drain(..n);
                progress = true;
            }
        }
        while let Some(event) = sh.conn.poll_event() {
            progress = true;
            handle_event(&mut sh, &shared, &app, spawn, event);
        }
        if !sending && out.is_empty() && !sh.conn.output().is_empty() {
            let output = sh.conn.output();
            out.extend_from_slice(output);
            let n = output.len();
            sh.conn.advance_output(n);
            worker.metrics.sent(n);
        }
        let closed = sh.conn.is_closed();
        // Output the core produced while a send was in progress (the GOAWAY of a graceful
        // stop, a last response) is still to write before the connection may close.
        let unsent = !sh.conn.output().is_empty();
        let stats = *sh.conn.stats();
        worker.metrics.add_h2(&stats, &reported);
        reported = stats;
        sh.driver = Some(cx.waker().clone());
        drop(sh);
        // A send is done when `poll_send` says Ready: a transport may take the bytes at once
        // (TLS encrypts them) and still be writing them, so it is polled until then, and the
        // core's next output waits (that is the backpressure).
        if sending || !out.is_empty() {
            match transport.poll_send(cx, &mut out) {
                Poll::Ready(Ok(())) => {
                    sending = false;
                    progress = true;
                }
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => sending = true,
            }
        }
        if closed && !sending && out.is_empty() && !unsent {
            return Poll::Ready(());
        }
        if eof {
            return Poll::Ready(());
        }
        if input.len() < max_input {
            if input.capacity() == 0 {
                input = worker.take_buffer();
            }
            input.reserve(16 * 1024);
            match transport.poll_recv(cx, &mut input) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => eof = true,
                Poll::Ready(Ok(n)) => {
                    worker.metrics.received(n);
                    progress = true;
                }
                Poll::Pending => {}
            }
            if eof {
                continue;
            }
        }
        if !progress {
            return Poll::Pending;
        }
    })
    .await;
    if !eof {
        // Lingering close: the client may still be sending (a flood cut short, frames after our
        // GOAWAY); closing with unread input would reset the connection and could destroy the
        // GOAWAY before the client reads it. Stop writing, read and drop what comes for a
        // while (bounded in time and bytes), then close.
        transport.shutdown_write();
        let mut drained = 0usize;
        timer.set_deadline(worker.heartbeat.now() + LINGER, Expired::Linger);
        poll_fn(|cx| loop {
            timer.register(cx.waker());
            if timer.take_if(Expired::Linger) {
                return Poll::Ready(());
            }
            input.clear();
            if input.capacity() == 0 {
                input = worker.take_buffer();
            }
            match transport.poll_recv(cx, &mut input) {
                Poll::Ready(Ok(n)) if n > 0 && drained < LINGER_MAX_BYTES => drained += n,
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        })
        .await;
    }
    // Whatever still runs learns that the connection is gone: its handler is cancelled.
    let mut sh = shared.borrow_mut();
    for slot in sh.streams.values_mut() {
        slot.reset.get_or_insert(ErrorCode::CANCEL);
        slot.wake();
    }
    sh.driver = None;
    // Idle runners end (running ones end after their stream).
    sh.ended = true;
    for runner in &mut sh.runners {
        if let Some(w) = runner.waker.take() {
            w.wake();
        }
    }
    let requests = sh.requests;
    drop(sh);
    worker.give_buffer(out);
    worker.give_buffer(input);
    requests
}

/// Acts on one event of the core.
fn handle_event<A: Application>(
    sh: &mut Shared,
    shared: &SharedRef,
    app: &Arc<A>,
    spawn: &dyn Fn(StreamTask) -> bool,
    event: Event,
) {
    match event {
        Event::Request {
            stream_id,
            head,
            end_stream,
        } => {
            let body = sh.spare_bodies.pop().unwrap_or_default();
            sh.streams.insert(
                stream_id,
                StreamSlot {
                    body,
                    end: end_stream,
                    ..StreamSlot::default()
                },
            );
            sh.requests += 1;
            if let Some(r) = sh.idle.pop() {
                // A runner waits: it takes the request (no task to spawn, nothing allocated).
                let runner = &mut sh.runners[r];
                runner.job = Some((stream_id, head));
                if let Some(w) = runner.waker.take() {
                    w.wake();
                }
                return;
            }
            let r = sh.runners.len();
            sh.runners.push(Runner::default());
            let task = runner(app.clone(), shared.clone(), r, stream_id, head);
            if !spawn(Box::pin(task)) {
                sh.runners.pop();
                // Not on a worker (cannot happen on the engines): refuse the stream.
                if let Some(slot) = sh.streams.remove(&stream_id) {
                    sh.recycle_body(slot.body);
                }
                let _ = sh.conn.reset(stream_id, ErrorCode::REFUSED_STREAM);
            }
        }
        Event::Data {
            stream_id,
            data,
            end_stream,
        } => {
            match sh.streams.get_mut(&stream_id) {
                Some(slot) => {
                    slot.body.extend(data.iter());
                    slot.end |= end_stream;
                    slot.wake();
                }
                // The handler is done and reads no more: the window opens again at once.
                None => sh.conn.release_capacity(stream_id, data.len() as u32),
            }
            sh.conn.recycle_data(data);
        }
        Event::Trailers { stream_id, .. } => {
            if let Some(slot) = sh.streams.get_mut(&stream_id) {
                slot.end = true;
                slot.wake();
            }
        }
        Event::Reset {
            stream_id, code, ..
        } => {
            if let Some(slot) = sh.streams.get_mut(&stream_id) {
                slot.reset = Some(code);
                slot.wake();
            }
        }
        Event::SendCapacity { stream_id } => {
            if let Some(slot) = sh.streams.get_mut(&stream_id) {
                slot.wake();
            }
        }
        Event::PingAck { .. } | Event::GoAway { .. } | Event::Closed { .. } => {}
    }
}

/// A stream task: runs the request it was spawned for, then each request the driver gives it,
/// until the connection ends.
async fn runner<A: Application>(
    app: Arc<A>,
    shared: SharedRef,
    r: usize,
    mut id: u32,
    mut head: RequestHead,
) {
    loop {
        stream::run(app.clone(), shared.clone(), id, head).await;
        shared.borrow_mut().idle.push(r);
        let next = poll_fn(|cx| {
            let mut sh = shared.borrow_mut();
            if let Some(job) = sh.runners[r].job.take() {
                return Poll::Ready(Some(job));
            }
            if sh.ended {
                return Poll::Ready(None);
            }
            let runner = &mut sh.runners[r];
            match &runner.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => runner.waker = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await;
        match next {
            Some((next_id, next_head)) => (id, head) = (next_id, next_head),
            None => return,
        }
    }
}

/// Registers `cx` as the stream's waker.
fn register(sh: &mut Shared, id: u32, cx: &Context<'_>) {
    if let Some(slot) = sh.streams.get_mut(&id) {
        match &slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => slot.waker = Some(cx.waker().clone()),
        }
    }
}
