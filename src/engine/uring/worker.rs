//! One worker: a thread pinned to a CPU, with its own ring, listeners, buffers, executor and
//! connections. Nothing here is shared with another worker.
//!
//! The loop: run ready tasks (they push SQEs), submit and wait for completions, route each
//! completion to its op (waking the task) or to the worker's own token ops (accept, eventfd,
//! timers), repeat.

use std::cell::{RefCell, RefMut};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use io_uring::{cqueue, opcode, squeue, types};
use socket2::Socket;

use super::bufring::BufRing;
use super::driver::{self, Driver, TOKEN_BASE, UNTRACKED_TOKEN};
use super::ring::{build_ring, RingSetup};
use super::transport::UringTransport;
use crate::app::Application;
use crate::engine::executor::{Remote, RemoteMsg, Runtime};
use crate::engine::workers::{
    AcceptWarnings, ConnectionHost, Stop, WorkerExit, WorkerSpec, ACCEPT_BACKOFF,
};
use crate::server::listen::ListenSocket;
use crate::server::StopReport;

const ACCEPT_TOKEN: u64 = TOKEN_BASE; // + listener index
const EVENTFD_TOKEN: u64 = TOKEN_BASE + (1 << 32);
const DATE_TOKEN: u64 = EVENTFD_TOKEN + 1;
const DEADLINE_TOKEN: u64 = EVENTFD_TOKEN + 2;
const ACCEPT_RETRY_TOKEN: u64 = TOKEN_BASE + (2 << 32); // + listener index

/// Runs a worker until it is told to stop; `started` learns whether set-up worked.
pub(crate) fn run<A: Application>(
    spec: WorkerSpec,
    app: Arc<A>,
    started: crossbeam_channel::Sender<Result<RingSetup, String>>,
) -> WorkerExit {
    spec.pin();
    let opts = &spec.options;
    let setup = build_ring(opts.ring_entries).and_then(|(ring, setup)| {
        let bufs = BufRing::new(&ring, opts.recv_buffer_count, opts.recv_buffer_size)?;
        Ok((Driver::new(ring, bufs), setup))
    });
    let (driver, setup) = match setup {
        Ok(v) => v,
        Err(e) => {
            let _ = started.send(Err(format!("worker {}: ring set-up: {e}", spec.index)));
            return WorkerExit::SetupFailed;
        }
    };
    let driver = Rc::new(RefCell::new(driver));
    driver::install(driver.clone());
    let rt = Runtime::enter(spec.worker_id, spec.remote.clone());
    let host = ConnectionHost::new(&spec, app);
    let mut worker = Worker {
        rt: rt.clone(),
        driver,
        host,
        locals: spec
            .listeners
            .iter()
            .map(|l| (l.local, l.proxy_protocol, l.tls, l.protocols))
            .collect(),
        listeners: spec.listeners,
        remote: spec.remote,
        inbox: spec.inbox,
        eventfd_buf: Box::new(0),
        date_ts: Box::new(types::Timespec::new().sec(1)),
        deadline_ts: Box::new(types::Timespec::new()),
        backoff_ts: Box::new(types::Timespec::from(ACCEPT_BACKOFF)),
        accept_warnings: AcceptWarnings::new(),
        tokens_in_flight: 0,
        stop: None,
    };
    worker.arm_accepts();
    worker.arm_eventfd();
    worker.arm_date();
    let _ = started.send(Ok(setup));
    // A panic here (outside any request: the loop itself, or an application's context hooks)
    // still goes through the careful shutdown, so no buffer is freed under the kernel.
    let result = catch_unwind(AssertUnwindSafe(|| worker.run_loop()));
    worker.shutdown();
    rt.exit();
    driver::uninstall();
    match result {
        Ok(report) => WorkerExit::Stopped(report),
        Err(_) => WorkerExit::Died(std::mem::take(&mut worker.listeners)),
    }
}

struct Worker<A: Application> {
    rt: Rc<Runtime>,
    driver: Rc<RefCell<Driver>>,
    host: Rc<ConnectionHost<A, UringTransport>>,
    listeners: Vec<ListenSocket>,
    /// Each listener's bound address, PROXY protocol opt-in and TLS index, by accept token (they outlive
    /// the sockets, which close when a stop begins, while accepts may still complete).
    locals: Vec<(
        Option<SocketAddr>,
        bool,
        Option<usize>,
        crate::server::HttpProtocols,
    )>,
    remote: Arc<Remote>,
    inbox: Receiver<RemoteMsg>,
    /// Target of the eventfd read (the kernel writes here until the read completes).
    eventfd_buf: Box<u64>,
    date_ts: Box<types::Timespec>,
    deadline_ts: Box<types::Timespec>,
    backoff_ts: Box<types::Timespec>,
    accept_warnings: AcceptWarnings,
    /// Token ops whose final completion has not arrived.
    tokens_in_flight: usize,
    stop: Option<Stop>,
}

impl<A: Application> Worker<A> {
    fn driver(&self) -> RefMut<'_, Driver> {
        self.driver.borrow_mut()
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
        let fd = self.listeners[i].socket.as_raw_fd();
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
                if self.host.live() == 0 {
                    return self.host.report(stop);
                }
            }
            let want = usize::from(!self.rt.has_ready());
            // No connection keeps a shared receive buffer while it waits.
            self.driver().spill();
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
            UNTRACKED_TOKEN => {}
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
                self.host.ctx.tick();
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
                    // Served even when a stop has begun: the client reached the server, and
                    // closing it unread would fail its request (its answer closes the
                    // connection, since the server is draining).
                    self.accept(res, i);
                } else if res != -libc::ECANCELED {
                    self.accept_warnings
                        .warn(std::io::Error::from_raw_os_error(-res), ACCEPT_BACKOFF);
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
        if !self.host.admit() {
            // SAFETY: the socket was just accepted and is owned by nobody else.
            unsafe { libc::close(fd) };
            return;
        }
        // SAFETY: `fd` was just accepted and is open; the borrow ends before it is handed on.
        let socket = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let (local, proxy_protocol, tls, protocols) = self.locals[listener];
        let connection = self.host.connection_feature(socket, local);
        self.host.serve(
            &self.rt,
            UringTransport::new(fd),
            connection,
            proxy_protocol,
            tls,
            protocols,
        );
    }

    fn begin_stop(&mut self, deadline: Instant) {
        if self.stop.is_some() {
            return;
        }
        for i in 0..self.listeners.len() {
            self.driver().cancel(ACCEPT_TOKEN + i as u64);
        }
        // Take what is already queued, then close the listening sockets now, not when the
        // drain ends: a process started on the same port (a zero-downtime restart) then gets
        // every new connection, instead of some queueing here unanswered. (The cancelled
        // accepts hold the sockets until they finish; net.ipv4.tcp_migrate_req=1 moves what
        // arrives in that instant to the other process.)
        let queued = drain_accept_queues(&self.listeners);
        self.listeners.clear();
        for (socket, i) in queued {
            self.accept(socket.into_raw_fd(), i);
        }
        self.stop = Some(self.host.begin_stop(&self.rt));
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
            for i in 0..self.locals.len() {
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
                    UNTRACKED_TOKEN => {}
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
            std::mem::forget(self.driver.clone());
            return;
        }
        self.driver().shutdown();
    }
}

/// Accepts every connection waiting in the listeners' queues (without blocking), with the index
/// of the listener each came from.
fn drain_accept_queues(listeners: &[ListenSocket]) -> Vec<(Socket, usize)> {
    let mut queued = Vec::new();
    for (i, ListenSocket { socket, .. }) in listeners.iter().enumerate() {
        if socket.set_nonblocking(true).is_err() {
            continue;
        }
        while let Ok((conn, _)) = socket.accept4(libc::SOCK_CLOEXEC) {
            queued.push((conn, i));
        }
    }
    queued
}
