//! One worker: a thread pinned to a CPU, with its own ring, listeners, buffers, executor and
//! connections. Nothing here is shared with another worker.
//!
//! The loop: run ready tasks (they push SQEs), submit and wait for completions, route each
//! completion to its op (waking the task) or to the worker's own token ops (accept, eventfd,
//! timers), repeat.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use io_uring::{cqueue, opcode, squeue, types};
use socket2::{SockRef, Socket};

use super::bufring::BufRing;
use super::driver::{Driver, CANCEL_TOKEN, TOKEN_BASE};
use super::ring::{build_ring, RingSetup};
use super::runtime::{Remote, RemoteMsg, Runtime};
use super::transport::UringTransport;
use crate::app::Application;
use crate::connection::{serve, Closing, Http1Connection, WorkerContext};
use crate::http::ConnectionFeature;
use crate::server::{ServerOptions, StopReport};

const ACCEPT_TOKEN: u64 = TOKEN_BASE; // + listener index
const EVENTFD_TOKEN: u64 = TOKEN_BASE + (1 << 32);
const DATE_TOKEN: u64 = EVENTFD_TOKEN + 1;
const DEADLINE_TOKEN: u64 = EVENTFD_TOKEN + 2;
const ACCEPT_RETRY_TOKEN: u64 = TOKEN_BASE + (2 << 32); // + listener index

/// How long a listener rests after an accept error (e.g. `EMFILE`) before accepting again, so
/// running out of descriptors does not turn into a busy loop.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What a worker thread is given.
pub(crate) struct WorkerSpec {
    pub(crate) index: usize,
    pub(crate) worker_id: u32,
    pub(crate) cpu: Option<core_affinity::CoreId>,
    pub(crate) listeners: Vec<(Socket, Option<SocketAddr>)>,
    pub(crate) options: ServerOptions,
    pub(crate) remote: Arc<Remote>,
    pub(crate) inbox: Receiver<RemoteMsg>,
    /// Connections open across all workers (for `max_concurrent_connections`; touched once per
    /// connection, never per request).
    pub(crate) open_connections: Arc<AtomicUsize>,
    /// Upgraded connections open across all workers.
    pub(crate) upgraded_connections: Arc<AtomicUsize>,
}

/// Per-worker state the connection tasks share (through an `Rc`, on this thread only).
struct Shared<A: Application> {
    app: Arc<A>,
    ctx: Rc<WorkerContext>,
    /// Pooled protocol objects. Boxed because each connection task owns one and moves it in and
    /// out of this pool: a pointer, not a kilobytes-large struct.
    #[allow(clippy::vec_box)]
    conns: RefCell<Vec<Box<Http1Connection<UringTransport>>>>,
    contexts: RefCell<Vec<A::Context>>,
    live: Cell<usize>,
    drained: Cell<usize>,
    aborted: Cell<usize>,
    requests: Cell<u64>,
    refused: Cell<u64>,
    open_connections: Arc<AtomicUsize>,
}

/// Counts a connection out when its task ends, however it ends.
struct LiveGuard<A: Application> {
    shared: Rc<Shared<A>>,
    finished: bool,
}

impl<A: Application> Drop for LiveGuard<A> {
    fn drop(&mut self) {
        let s = &self.shared;
        s.live.set(s.live.get() - 1);
        s.open_connections.fetch_sub(1, Ordering::Relaxed);
        if self.finished {
            s.drained.set(s.drained.get() + 1);
        } else {
            s.aborted.set(s.aborted.get() + 1);
        }
    }
}

/// Runs a worker until it is told to stop; `started` learns whether set-up worked.
pub(crate) fn run<A: Application>(
    spec: WorkerSpec,
    app: Arc<A>,
    started: crossbeam_channel::Sender<Result<RingSetup, String>>,
) -> StopReport {
    if let Some(cpu) = spec.cpu {
        if !core_affinity::set_for_current(cpu) {
            tracing::warn!(
                cpu = cpu.id,
                "could not pin worker {} to its CPU",
                spec.index
            );
        }
    }
    let opts = &spec.options;
    let setup = build_ring(opts.ring_entries).and_then(|(ring, setup)| {
        let bufs = BufRing::new(&ring, opts.recv_buffer_count, opts.recv_buffer_size)?;
        Ok((Driver::new(ring, bufs), setup))
    });
    let (driver, setup) = match setup {
        Ok(v) => v,
        Err(e) => {
            let _ = started.send(Err(format!("worker {}: ring set-up: {e}", spec.index)));
            return StopReport::default();
        }
    };
    let rt = Runtime::enter(spec.worker_id, driver, spec.remote.clone());
    let shared = Rc::new(Shared {
        app,
        ctx: Rc::new(WorkerContext::new(
            opts.limits.clone(),
            opts.server_header.as_deref(),
            spec.upgraded_connections.clone(),
        )),
        conns: RefCell::new(Vec::new()),
        contexts: RefCell::new(Vec::new()),
        live: Cell::new(0),
        drained: Cell::new(0),
        aborted: Cell::new(0),
        requests: Cell::new(0),
        refused: Cell::new(0),
        open_connections: spec.open_connections.clone(),
    });
    let mut worker = Worker {
        rt: rt.clone(),
        shared,
        listeners: spec.listeners,
        remote: spec.remote,
        inbox: spec.inbox,
        eventfd_buf: Box::new(0),
        date_ts: Box::new(types::Timespec::new().sec(1)),
        deadline_ts: Box::new(types::Timespec::new()),
        backoff_ts: Box::new(types::Timespec::from(ACCEPT_BACKOFF)),
        last_accept_warning: None,
        tokens_in_flight: 0,
        stop: None,
        next_conn: (spec.worker_id as u64) << 40,
    };
    worker.arm_accepts();
    worker.arm_eventfd();
    worker.arm_date();
    let _ = started.send(Ok(setup));
    let report = worker.run_loop();
    worker.shutdown();
    rt.exit();
    report
}

struct Stop {
    began: Instant,
    connections_at_stop: usize,
    drained_before: usize,
}

struct Worker<A: Application> {
    rt: Rc<Runtime>,
    shared: Rc<Shared<A>>,
    /// Each listener and its bound IP address (`None`: a Unix socket).
    listeners: Vec<(Socket, Option<SocketAddr>)>,
    remote: Arc<Remote>,
    inbox: Receiver<RemoteMsg>,
    /// Target of the eventfd read (the kernel writes here until the read completes).
    eventfd_buf: Box<u64>,
    date_ts: Box<types::Timespec>,
    deadline_ts: Box<types::Timespec>,
    backoff_ts: Box<types::Timespec>,
    last_accept_warning: Option<Instant>,
    /// Token ops whose final completion has not arrived.
    tokens_in_flight: usize,
    stop: Option<Stop>,
    next_conn: u64,
}

impl<A: Application> Worker<A> {
    fn driver(&self) -> std::cell::RefMut<'_, Driver> {
        self.rt.driver.borrow_mut()
    }

    /// Pushes one of the worker's own operations and counts it until its final completion.
    ///
    /// # Safety
    ///
    /// Memory the entry points to must be owned by the worker, which waits for every token op
    /// before dropping it (see `shutdown`).
    unsafe fn push_token(&mut self, entry: squeue::Entry) {
        // SAFETY: forwarded from the caller.
        unsafe { self.driver().push_token(entry) };
        self.tokens_in_flight += 1;
    }

    fn arm_accepts(&mut self) {
        for i in 0..self.listeners.len() {
            self.arm_accept(i);
        }
    }

    fn arm_accept(&mut self, i: usize) {
        let fd = self.listeners[i].0.as_raw_fd();
        let entry = opcode::AcceptMulti::new(types::Fd(fd))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(ACCEPT_TOKEN + i as u64);
        // SAFETY: accept names no memory (no address buffer).
        unsafe { self.push_token(entry) };
    }

    fn arm_eventfd(&mut self) {
        let ptr: *mut u64 = &mut *self.eventfd_buf;
        let entry = opcode::Read::new(types::Fd(self.remote.eventfd()), ptr.cast(), 8)
            .build()
            .user_data(EVENTFD_TOKEN);
        // SAFETY: the target is the boxed u64 the worker owns until every token op completed.
        unsafe { self.push_token(entry) };
    }

    /// Arms a timeout whose duration lives in one of the worker's boxed timespecs.
    fn arm_timeout(&mut self, ts: *const types::Timespec, token: u64) {
        let entry = opcode::Timeout::new(ts).build().user_data(token);
        // SAFETY: `ts` points into a timespec boxed in the worker, which outlives the op.
        unsafe { self.push_token(entry) };
    }

    fn arm_date(&mut self) {
        self.arm_timeout(&*self.date_ts, DATE_TOKEN);
    }

    fn arm_accept_retry(&mut self, i: usize) {
        self.arm_timeout(&*self.backoff_ts, ACCEPT_RETRY_TOKEN + i as u64);
    }

    fn arm_deadline(&mut self, left: Duration) {
        *self.deadline_ts = types::Timespec::from(left);
        self.arm_timeout(&*self.deadline_ts, DEADLINE_TOKEN);
    }

    fn run_loop(&mut self) -> StopReport {
        let mut cqes = Vec::with_capacity(4096);
        loop {
            self.rt.run_ready();
            if let Some(stop) = &self.stop {
                if self.shared.live.get() == 0 {
                    let s = &self.shared;
                    return StopReport {
                        connections_at_stop: stop.connections_at_stop,
                        connections_drained: s.drained.get() - stop.drained_before,
                        connections_aborted: s.aborted.get(),
                        requests_served: s.requests.get(),
                        requests_rejected: s.ctx.rejected(),
                        connections_timed_out: s.ctx.timed_out(),
                        connections_refused: s.refused.get(),
                        elapsed: stop.began.elapsed(),
                    };
                }
            }
            let want = usize::from(!self.rt.has_ready());
            if let Err(e) = self.driver().submit_and_wait(want) {
                panic!("io_uring_enter failed: {e}");
            }
            self.driver().reap(&mut cqes);
            for (user_data, res, flags) in cqes.drain(..) {
                self.dispatch(user_data, res, flags);
            }
        }
    }

    fn dispatch(&mut self, user_data: u64, res: i32, flags: u32) {
        match user_data {
            CANCEL_TOKEN => {}
            EVENTFD_TOKEN => {
                self.tokens_in_flight -= 1;
                while let Ok(msg) = self.inbox.try_recv() {
                    match msg {
                        RemoteMsg::Wake(task) => self.rt.wake(task),
                        RemoteMsg::Stop(deadline) => self.begin_stop(deadline),
                    }
                }
                self.arm_eventfd();
            }
            DATE_TOKEN => {
                self.tokens_in_flight -= 1;
                self.shared.ctx.tick();
                self.arm_date();
            }
            DEADLINE_TOKEN => {
                self.tokens_in_flight -= 1;
                if res == -libc::ETIME {
                    // In-flight requests ran out of time: drop their tasks (closing sockets).
                    self.rt.drop_tasks();
                }
            }
            t if (ACCEPT_TOKEN..EVENTFD_TOKEN).contains(&t) => {
                let i = (t - ACCEPT_TOKEN) as usize;
                if !cqueue::more(flags) {
                    self.tokens_in_flight -= 1;
                }
                if res >= 0 {
                    if self.stop.is_some() {
                        // SAFETY: a socket accepted after the stop began, owned by nobody else.
                        unsafe { libc::close(res) };
                    } else {
                        self.accept(res, i);
                    }
                } else if res != -libc::ECANCELED {
                    let now = Instant::now();
                    if self
                        .last_accept_warning
                        .is_none_or(|t| now - t > Duration::from_secs(1))
                    {
                        self.last_accept_warning = Some(now);
                        tracing::warn!(
                            error = %std::io::Error::from_raw_os_error(-res),
                            "accept failed; pausing the listener for {ACCEPT_BACKOFF:?}"
                        );
                    }
                }
                if !cqueue::more(flags) && self.stop.is_none() {
                    if res < 0 {
                        self.arm_accept_retry(i);
                    } else {
                        self.arm_accept(i);
                    }
                }
            }
            t if (ACCEPT_RETRY_TOKEN..ACCEPT_RETRY_TOKEN + (1 << 32)).contains(&t) => {
                self.tokens_in_flight -= 1;
                if self.stop.is_none() {
                    self.arm_accept((t - ACCEPT_RETRY_TOKEN) as usize);
                }
            }
            t if t >= TOKEN_BASE => {}
            _ => self.driver().complete(user_data, res, flags),
        }
    }

    fn accept(&mut self, fd: RawFd, listener: usize) {
        let open = self.shared.open_connections.fetch_add(1, Ordering::Relaxed);
        if self
            .shared
            .ctx
            .limits
            .max_concurrent_connections
            .is_some_and(|max| open >= max)
        {
            self.shared.open_connections.fetch_sub(1, Ordering::Relaxed);
            self.shared.refused.set(self.shared.refused.get() + 1);
            // SAFETY: the socket was just accepted and is owned by nobody else.
            unsafe { libc::close(fd) };
            return;
        }
        self.next_conn += 1;
        let local = self.listeners[listener].1;
        let sock = {
            // SAFETY: `fd` was just accepted and is open; the borrow ends before it is handed on.
            let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            let r = SockRef::from(&borrowed);
            let remote = r.peer_addr().ok().and_then(|a| a.as_socket());
            // A Unix socket's connections have no IP addresses: both stay `None`.
            let local = match local {
                Some(l) if !l.ip().is_unspecified() => Some(l),
                Some(_) => r.local_addr().ok().and_then(|a| a.as_socket()),
                None => None,
            };
            (local, remote)
        };
        let connection = ConnectionFeature {
            local_addr: sock.0,
            remote_addr: sock.1,
            connection_id: self.next_conn,
        };
        let shared = self.shared.clone();
        shared.live.set(shared.live.get() + 1);
        self.rt.spawn(async move {
            let mut guard = LiveGuard {
                shared: shared.clone(),
                finished: false,
            };
            let transport = UringTransport::new(fd);
            let pooled = shared.conns.borrow_mut().pop();
            let mut conn = match pooled {
                Some(mut c) => {
                    c.reset(transport, connection);
                    c
                }
                None => Box::new(Http1Connection::new(
                    transport,
                    shared.ctx.clone(),
                    connection,
                )),
            };
            let mut context = shared.contexts.borrow_mut().pop().unwrap_or_default();
            if serve(&mut conn, &*shared.app, &mut context).await == Closing::Linger {
                poll_fn(|cx| conn.poll_linger(cx)).await;
            }
            shared
                .requests
                .set(shared.requests.get() + u64::from(conn.requests()));
            conn.transport_mut().close();
            conn.recycle();
            shared.conns.borrow_mut().push(conn);
            shared.contexts.borrow_mut().push(context);
            guard.finished = true;
        });
    }

    fn begin_stop(&mut self, deadline: Instant) {
        if self.stop.is_some() {
            return;
        }
        self.stop = Some(Stop {
            began: Instant::now(),
            connections_at_stop: self.shared.live.get(),
            drained_before: self.shared.drained.get(),
        });
        for i in 0..self.listeners.len() {
            self.driver().cancel(ACCEPT_TOKEN + i as u64);
        }
        self.shared.ctx.draining.set(true);
        self.rt.wake_all();
        self.arm_deadline(deadline.saturating_duration_since(Instant::now()));
    }

    /// Cancels every outstanding operation and waits for the kernel to finish with them, so no
    /// buffer is freed while the kernel may still use it.
    fn shutdown(&mut self) {
        self.rt.drop_tasks();
        {
            let mut d = self.driver();
            for t in [EVENTFD_TOKEN, DATE_TOKEN, DEADLINE_TOKEN] {
                d.cancel(t);
            }
            for i in 0..self.listeners.len() {
                d.cancel(ACCEPT_TOKEN + i as u64);
                d.cancel(ACCEPT_RETRY_TOKEN + i as u64);
            }
            d.cancel_all();
        }
        let give_up = Instant::now() + Duration::from_secs(5);
        let mut cqes = Vec::new();
        while (self.tokens_in_flight > 0 || self.driver().has_ops()) && Instant::now() < give_up {
            let _ = self.driver().submit_and_wait(1);
            self.driver().reap(&mut cqes);
            for (user_data, res, flags) in cqes.drain(..) {
                match user_data {
                    CANCEL_TOKEN => {}
                    t if (ACCEPT_TOKEN..EVENTFD_TOKEN).contains(&t) => {
                        if !cqueue::more(flags) {
                            self.tokens_in_flight -= 1;
                        }
                        if res >= 0 {
                            // SAFETY: accepted during shutdown, owned by nobody.
                            unsafe { libc::close(res) };
                        }
                    }
                    t if t >= TOKEN_BASE => self.tokens_in_flight -= 1,
                    _ => self.driver().complete(user_data, res, flags),
                }
            }
        }
        if self.tokens_in_flight > 0 || self.driver().has_ops() {
            // The kernel may still write into what these ops hold: keep it all alive for good.
            tracing::error!("io_uring operations outlived shutdown; leaking the ring");
            std::mem::forget(std::mem::take(&mut self.eventfd_buf));
            std::mem::forget(self.rt.clone());
            return;
        }
        self.driver().shutdown();
    }
}
