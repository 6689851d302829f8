//! One portable worker: a thread pinned to a CPU, with its own epoll set, listeners, executor
//! and connections. Nothing here is shared with another worker.
//!
//! The loop: run ready tasks (they read and write their sockets until one would block), wait
//! for readiness, timers or the eventfd, route each event (a socket edge wakes its tasks, a
//! listener edge accepts every queued connection), repeat.

use std::cell::RefCell;
use std::os::fd::{AsFd, AsRawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use mio::unix::SourceFd;
use mio::{Events, Interest, Token};
use socket2::Socket;

use super::reactor::{self, Reactor, WORKER_TOKEN_BASE};
use super::transport::PortableTransport;
use crate::app::Application;
use crate::engine::executor::{Remote, RemoteMsg, Runtime};
use crate::engine::workers::{
    AcceptWarnings, ConnectionHost, Stop, WorkerExit, WorkerSpec, ACCEPT_BACKOFF,
};
use crate::server::listen::ListenSocket;
use crate::server::StopReport;

const EVENTFD_TOKEN: Token = Token(WORKER_TOKEN_BASE);
const LISTENER_TOKEN: usize = WORKER_TOKEN_BASE + 1; // + listener index

/// The heartbeat period: the `Date` value and connection timeouts are judged this often.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Runs a worker until it is told to stop; `started` learns whether set-up worked.
pub(crate) fn run<A: Application>(
    spec: WorkerSpec,
    app: Arc<A>,
    started: crossbeam_channel::Sender<Result<(), String>>,
) -> WorkerExit {
    spec.pin();
    let mut worker = match Worker::new(spec, app) {
        Ok(w) => w,
        Err(e) => {
            let _ = started.send(Err(e));
            return WorkerExit::SetupFailed;
        }
    };
    let _ = started.send(Ok(()));
    // A panic outside any request (the loop, an application's context hooks) ends this run;
    // its connections are dropped and the supervisor starts a new worker.
    let result = catch_unwind(AssertUnwindSafe(|| worker.run_loop()));
    worker.shutdown();
    match result {
        Ok(report) => WorkerExit::Stopped(report),
        Err(_) => WorkerExit::Died(
            worker
                .listeners
                .drain(..)
                .map(|l| ListenSocket {
                    socket: l.socket,
                    local: l.local,
                    proxy_protocol: l.proxy_protocol,
                    tls: l.tls,
                    protocols: l.protocols,
                })
                .collect(),
        ),
    }
}

struct Listener {
    /// Non-blocking; a TCP socket of this worker's `SO_REUSEPORT` group, or a duplicate of a
    /// shared Unix or inherited socket.
    socket: Socket,
    /// Its bound IP address (`None`: a Unix socket).
    local: Option<std::net::SocketAddr>,
    /// Whether its connections start with a PROXY protocol header.
    proxy_protocol: bool,
    /// For an HTTPS listener, its index in the worker's TLS configurations.
    tls: Option<usize>,
    /// The HTTP versions spoken on it.
    protocols: crate::server::HttpProtocols,
    /// After an accept error, the listener rests until this instant.
    paused_until: Option<Instant>,
}

struct Worker<A: Application> {
    rt: Rc<Runtime>,
    reactor: Rc<RefCell<Reactor>>,
    host: Rc<ConnectionHost<A, PortableTransport>>,
    listeners: Vec<Listener>,
    remote: Arc<Remote>,
    inbox: Receiver<RemoteMsg>,
    accept_warnings: AcceptWarnings,
    next_beat: Instant,
    stop: Option<Stop>,
    /// When in-flight requests run out of time after a stop began.
    stop_deadline: Option<Instant>,
}

impl<A: Application> Worker<A> {
    fn new(mut spec: WorkerSpec, app: Arc<A>) -> Result<Self, String> {
        let index = spec.index;
        let setup = |e: std::io::Error| format!("worker {index}: epoll set-up: {e}");
        let reactor = Reactor::new().map_err(setup)?;
        let host = ConnectionHost::new(&spec, app);
        let mut listeners = Vec::with_capacity(spec.listeners.len());
        for (i, l) in std::mem::take(&mut spec.listeners).into_iter().enumerate() {
            let ListenSocket {
                socket,
                local,
                proxy_protocol,
                tls,
                protocols,
            } = l;
            socket.set_nonblocking(true).map_err(setup)?;
            reactor
                .registry()
                .register(
                    &mut SourceFd(&socket.as_raw_fd()),
                    Token(LISTENER_TOKEN + i),
                    Interest::READABLE,
                )
                .map_err(setup)?;
            listeners.push(Listener {
                socket,
                local,
                proxy_protocol,
                tls,
                protocols,
                paused_until: None,
            });
        }
        let eventfd = spec.remote.eventfd();
        reactor
            .registry()
            .register(&mut SourceFd(&eventfd), EVENTFD_TOKEN, Interest::READABLE)
            .map_err(setup)?;
        let reactor = Rc::new(RefCell::new(reactor));
        reactor::install(reactor.clone());
        let rt = Runtime::enter(spec.worker_id, spec.remote.clone());
        Ok(Worker {
            rt,
            reactor,
            host,
            listeners,
            remote: spec.remote,
            inbox: spec.inbox,
            accept_warnings: AcceptWarnings::new(),
            next_beat: Instant::now() + HEARTBEAT,
            stop: None,
            stop_deadline: None,
        })
    }

    fn run_loop(&mut self) -> StopReport {
        let mut events = Events::with_capacity(1024);
        loop {
            self.rt.run_ready();
            if let Some(stop) = &self.stop {
                if self.host.live() == 0 {
                    return self.host.report(stop);
                }
            }
            let now = Instant::now();
            let next_timer = self.reactor.borrow_mut().fire_timers(now);
            let timeout = if self.rt.has_ready() {
                Some(Duration::ZERO)
            } else {
                let wake_at = [
                    Some(self.next_beat),
                    next_timer,
                    self.stop_deadline,
                    self.listeners.iter().filter_map(|l| l.paused_until).min(),
                ]
                .into_iter()
                .flatten()
                .min();
                wake_at.map(|at| at.saturating_duration_since(now))
            };
            if let Err(e) = self.reactor.borrow_mut().wait(&mut events, timeout) {
                panic!("epoll_wait failed: {e}");
            }
            for event in events.iter() {
                match event.token() {
                    EVENTFD_TOKEN => self.on_eventfd(),
                    Token(t) if t >= LISTENER_TOKEN => self.accept_all(t - LISTENER_TOKEN),
                    _ => self.reactor.borrow_mut().dispatch(event),
                }
            }
            self.on_time(Instant::now());
        }
    }

    /// Timers, the heartbeat, paused listeners and the stop deadline.
    fn on_time(&mut self, now: Instant) {
        self.reactor.borrow_mut().fire_timers(now);
        if now >= self.next_beat {
            self.host.ctx.tick();
            self.next_beat = now + HEARTBEAT;
        }
        for i in 0..self.listeners.len() {
            if self.listeners[i].paused_until.is_some_and(|t| now >= t) {
                self.listeners[i].paused_until = None;
                self.accept_all(i);
            }
        }
        if self.stop_deadline.is_some_and(|t| now >= t) {
            self.stop_deadline = None;
            // In-flight requests ran out of time: drop their tasks (closing sockets).
            self.rt.drop_tasks();
        }
    }

    fn on_eventfd(&mut self) {
        let mut count = [0u8; 8];
        // The eventfd is blocking, but an edge means its counter is above zero and only this
        // thread reads it, so the read returns at once (and resets the counter).
        let _ = read_eventfd(&self.remote, &mut count);
        while let Ok(msg) = self.inbox.try_recv() {
            match msg {
                RemoteMsg::Wake(task) => self.rt.wake(task),
                RemoteMsg::Stop(deadline) => self.begin_stop(deadline),
            }
        }
    }

    /// Accepts every connection queued on listener `i` (edge-triggered: the queue must be
    /// emptied, or no further edge comes).
    fn accept_all(&mut self, i: usize) {
        if self.stop.is_some() || self.listeners[i].paused_until.is_some() {
            return;
        }
        loop {
            match self.listeners[i]
                .socket
                .accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
            {
                Ok((stream, _)) => {
                    if !self.host.admit() {
                        continue; // dropping the stream closes it
                    }
                    let connection = self
                        .host
                        .connection_feature(stream.as_fd(), self.listeners[i].local);
                    match PortableTransport::new(stream) {
                        Ok(transport) => self.host.serve(
                            &self.rt,
                            transport,
                            connection,
                            self.listeners[i].proxy_protocol,
                            self.listeners[i].tls,
                            self.listeners[i].protocols,
                        ),
                        Err(e) => {
                            self.host.release();
                            tracing::warn!(error = %e, "could not register a connection");
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionAborted => {}
                Err(e) => {
                    self.accept_warnings.warn(e, ACCEPT_BACKOFF);
                    self.listeners[i].paused_until = Some(Instant::now() + ACCEPT_BACKOFF);
                    return;
                }
            }
        }
    }

    fn begin_stop(&mut self, deadline: Instant) {
        if self.stop.is_some() {
            return;
        }
        // Take what is already queued, then close the listening sockets now, not when the
        // drain ends: a process started on the same port (a zero-downtime restart) then gets
        // every new connection, instead of some queueing here unanswered. (Closing removes
        // them from the epoll set; net.ipv4.tcp_migrate_req=1 moves what arrives in that
        // instant to the other process.)
        for i in 0..self.listeners.len() {
            self.listeners[i].paused_until = None;
            self.accept_all(i);
        }
        self.listeners.clear();
        self.stop = Some(self.host.begin_stop(&self.rt));
        self.stop_deadline = Some(deadline);
    }

    /// Drops every task (closing their sockets) while the reactor is still installed.
    fn shutdown(&mut self) {
        self.rt.drop_tasks();
        self.rt.exit();
        reactor::uninstall();
    }
}

/// Reads the eventfd's 8-byte counter.
fn read_eventfd(remote: &Remote, buf: &mut [u8; 8]) -> isize {
    // SAFETY: reads at most 8 bytes into a live 8-byte buffer from an eventfd the remote owns.
    unsafe { libc::read(remote.eventfd(), buf.as_mut_ptr().cast(), 8) }
}
