//! What both engines do the same way around their I/O loops: plan CPUs, bind the listeners,
//! start and stop the worker threads ([`WorkerPool`]), and, inside one worker, admit, serve,
//! pool and count connections ([`ConnectionHost`]).
//!
//! An engine contributes only its loop: how bytes and readiness reach the tasks.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use socket2::SockRef;

use super::executor::{self, Remote, RemoteMsg, Runtime};
use super::EngineKind;
use crate::app::Application;
use crate::connection::{h2, serve, Closing, Http1Connection, Transport, WorkerContext};
use crate::http::ConnectionFeature;
use crate::metrics::{ServerMetrics, WorkerMetrics};
use crate::server::listen::{self, ListenSocket, UnixSocketFile};
use crate::server::{HttpProtocols, ServerAddresses, ServerOptions, StartError, StopReport};
use crate::tls::{HandshakeError, MaybeTls, TlsAcceptor, TlsTransport, Watcher, WorkerTls};

/// What a worker thread is given.
pub(crate) struct WorkerSpec {
    pub(crate) index: usize,
    pub(crate) worker_id: u32,
    pub(crate) cpu: Option<core_affinity::CoreId>,
    /// The worker's listening sockets.
    pub(crate) listeners: Vec<ListenSocket>,
    pub(crate) options: ServerOptions,
    pub(crate) remote: Arc<Remote>,
    pub(crate) inbox: Receiver<RemoteMsg>,
    /// Connections open across all workers (for `max_concurrent_connections`; touched once per
    /// connection, never per request).
    pub(crate) open_connections: Arc<AtomicUsize>,
    /// Upgraded connections open across all workers.
    pub(crate) upgraded_connections: Arc<AtomicUsize>,
    /// This worker's counters.
    pub(crate) metrics: Arc<WorkerMetrics>,
    /// The TLS configuration of each HTTPS listener (`ListenSocket::tls` indexes it).
    pub(crate) tls: Vec<Arc<TlsAcceptor>>,
}

impl WorkerSpec {
    /// The spec of this worker's successor, on `listeners` (the dead worker's own sockets):
    /// the same channel, counters and CPU, under a new worker id.
    fn respawn(&self, listeners: Vec<ListenSocket>) -> WorkerSpec {
        WorkerSpec {
            index: self.index,
            worker_id: executor::next_worker_id(),
            cpu: self.cpu,
            listeners,
            options: self.options.clone(),
            remote: self.remote.clone(),
            inbox: self.inbox.clone(),
            open_connections: self.open_connections.clone(),
            upgraded_connections: self.upgraded_connections.clone(),
            metrics: self.metrics.clone(),
            tls: self.tls.clone(),
        }
    }

    /// Pins the calling thread to the worker's CPU, if it has one (a warning if that fails).
    pub(crate) fn pin(&self) {
        if let Some(cpu) = self.cpu {
            if !core_affinity::set_for_current(cpu) {
                tracing::warn!(
                    cpu = cpu.id,
                    "could not pin worker {} to its CPU",
                    self.index
                );
            }
        }
    }
}

/// A worker thread's body: runs until stopped; `started` learns whether its set-up worked.
pub(crate) type WorkerMain<A, S> = fn(WorkerSpec, Arc<A>, Sender<Result<S, String>>) -> WorkerExit;

/// How a worker's run ended.
pub(crate) enum WorkerExit {
    /// It was told to stop, and did.
    Stopped(StopReport),
    /// It could not set itself up; `started` was told why.
    SetupFailed,
    /// It panicked outside any request (its loop, an application's context hooks). It has
    /// released what it could and hands back its listening sockets, on which the supervisor
    /// starts a new worker.
    Died(Vec<ListenSocket>),
}

/// The longest a supervisor waits before restarting a worker that keeps dying.
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(5);

/// The worker threads of a started server, and how to reach them.
#[derive(Default)]
pub(crate) struct WorkerPool {
    workers: Vec<(Arc<Remote>, JoinHandle<StopReport>)>,
    metrics: Option<Arc<ServerMetrics>>,
    /// Unix socket files the server created, removed when it stops.
    unix_files: Vec<UnixSocketFile>,
    /// Reloads HTTPS certificates when their files change (while running).
    tls_watcher: Option<Watcher>,
}

/// What [`WorkerPool::start`] reports.
pub(crate) struct Started<S> {
    /// The addresses really bound (IP addresses in the order of the options' URLs, and Unix
    /// socket paths).
    pub(crate) addresses: ServerAddresses,
    /// The CPU of each worker.
    pub(crate) cpus: Vec<Option<usize>>,
    /// The set-up the last worker reported.
    pub(crate) setup: S,
    /// The workers' counters (ready once every worker has started).
    pub(crate) metrics: Arc<ServerMetrics>,
}

impl WorkerPool {
    /// Whether workers are running.
    pub(crate) fn is_running(&self) -> bool {
        !self.workers.is_empty()
    }

    /// Binds every address (one `SO_REUSEPORT` listener per worker), then starts one thread per
    /// worker running `main` and waits until each reports its set-up.
    pub(crate) fn start<A: Application, S: Send + 'static>(
        &mut self,
        options: &ServerOptions,
        app: A,
        engine: EngineKind,
        main: WorkerMain<A, S>,
        initial_setup: S,
    ) -> Result<Started<S>, StartError> {
        let cpus = plan_cpus(options)?;
        let workers = cpus.len();
        let metrics = ServerMetrics::new(engine.name(), workers);
        // Certificates are read before anything is bound, so a bad file fails start cleanly.
        let mut tls = Vec::new();
        for (name, tls_options, protocols) in options.tls_plan() {
            tls.push(TlsAcceptor::new(
                name,
                tls_options,
                protocols,
                metrics.clone(),
            )?);
        }

        // Bind everything before starting any thread, so a bad address fails start cleanly.
        let bound = listen::bind_all(options, workers)?;
        let per_worker = bound.per_worker;
        self.unix_files = bound.unix_files;

        let app = Arc::new(app);
        let open_connections = Arc::new(AtomicUsize::new(0));
        let upgraded_connections = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = crossbeam_channel::unbounded();
        for (index, (listeners, cpu)) in per_worker.into_iter().zip(cpus.iter()).enumerate() {
            let (remote, inbox) = Remote::new().map_err(StartError::Io)?;
            let spec = WorkerSpec {
                index,
                worker_id: executor::next_worker_id(),
                cpu: *cpu,
                listeners,
                options: options.clone(),
                remote: remote.clone(),
                inbox,
                open_connections: open_connections.clone(),
                upgraded_connections: upgraded_connections.clone(),
                metrics: metrics.worker(index),
                tls: tls.clone(),
            };
            let app = app.clone();
            let started = started_tx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("peregrine-w{index}"))
                .spawn(move || supervise(spec, app, started, main))
                .map_err(StartError::Io)?;
            self.workers.push((remote, handle));
        }
        drop(started_tx);
        let mut setup = initial_setup;
        for _ in 0..workers {
            let failure = match started_rx.recv() {
                Ok(Ok(s)) => {
                    setup = s;
                    continue;
                }
                Ok(Err(e)) => e,
                Err(_) => "a worker died while starting".into(),
            };
            self.stop(Duration::ZERO);
            return Err(StartError::Worker(failure));
        }
        metrics.set_ready(true);
        self.metrics = Some(metrics.clone());
        self.tls_watcher = Some(Watcher::start(&tls));
        Ok(Started {
            addresses: bound.addresses,
            cpus: cpus.iter().map(|c| c.map(|c| c.id)).collect(),
            setup,
            metrics,
        })
    }

    /// Tells every worker to stop by `deadline` from now and waits for them; merges their
    /// reports.
    pub(crate) fn stop(&mut self, deadline: Duration) -> StopReport {
        let began = Instant::now();
        let at = began + deadline;
        if let Some(m) = &self.metrics {
            m.set_ready(false);
        }
        for (remote, _) in &self.workers {
            remote.send(RemoteMsg::Stop(at));
        }
        // Listeners are closing: new clients of a Unix socket find no file rather than a refusal.
        self.unix_files.clear();
        self.tls_watcher = None;
        let mut report = StopReport::default();
        for (_, handle) in self.workers.drain(..) {
            match handle.join() {
                Ok(r) => report.merge(&r),
                Err(_) => tracing::error!("a worker thread panicked"),
            }
        }
        report.elapsed = began.elapsed();
        report
    }
}

/// Runs worker `spec` on this thread, and runs it again, on the same listening sockets, each
/// time it dies (ASP.NET Core Module's restart-on-crash, per worker). The sockets are handed
/// over, not re-bound, so connections waiting in their accept queues are not lost; the ring or
/// epoll set, buffers, executor and connections are new. Restarts back off exponentially (100 ms up to
/// 5 s) while a worker keeps dying within a second of starting.
fn supervise<A: Application, S>(
    spec: WorkerSpec,
    app: Arc<A>,
    started: Sender<Result<S, String>>,
    main: WorkerMain<A, S>,
) -> StopReport {
    let index = spec.index;
    let metrics = spec.metrics.clone();
    let mut spec = spec;
    let mut backoff = Duration::from_millis(100);
    loop {
        // What a successor needs besides the listeners the dead worker hands back.
        let template = spec.respawn(Vec::new());
        let began = Instant::now();
        let listeners = match main(spec, app.clone(), started.clone()) {
            WorkerExit::Stopped(mut report) => {
                report.workers_restarted = metrics.snapshot().restarts;
                return report;
            }
            WorkerExit::SetupFailed => return StopReport::default(),
            WorkerExit::Died(listeners) => listeners,
        };
        metrics.restarted();
        spec = template.respawn(listeners);
        if began.elapsed() > Duration::from_secs(1) {
            backoff = Duration::from_millis(100);
        }
        tracing::error!(
            worker = index,
            restarts = metrics.snapshot().restarts,
            "worker died; restarting it in {backoff:?}"
        );
        // A stop that arrives during the pause is still in the inbox for the new worker.
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
    }
}

/// The CPUs workers will be pinned to: the options' list, or every CPU this process may use.
fn plan_cpus(options: &ServerOptions) -> Result<Vec<Option<core_affinity::CoreId>>, StartError> {
    let allowed = core_affinity::get_core_ids().unwrap_or_default();
    let cpus: Vec<core_affinity::CoreId> = match &options.cpus {
        Some(list) => {
            for &c in list {
                if !allowed.iter().any(|a| a.id == c) {
                    return Err(StartError::Config(format!(
                        "CPU {c} is not available to this process (allowed: {:?})",
                        allowed.iter().map(|a| a.id).collect::<Vec<_>>()
                    )));
                }
            }
            list.iter()
                .map(|&id| core_affinity::CoreId { id })
                .collect()
        }
        None => allowed,
    };
    let workers = options.workers.unwrap_or(cpus.len().max(1));
    Ok((0..workers)
        .map(|i| (!cpus.is_empty()).then(|| cpus[i % cpus.len()]))
        .collect())
}

/// Where a worker's stop began, for its report.
pub(crate) struct Stop {
    began: Instant,
    connections_at_stop: usize,
    drained_before: usize,
}

/// One worker's connections: admission, the serving task of each, pooled protocol objects and
/// application contexts, and the counts a stop report needs. Lives on the worker thread only.
pub(crate) struct ConnectionHost<A: Application, T: Transport> {
    app: Arc<A>,
    pub(crate) ctx: Rc<WorkerContext>,
    /// Pooled protocol objects. Boxed because each connection task owns one and moves it in and
    /// out of this pool: a pointer, not a kilobytes-large struct.
    #[allow(clippy::vec_box)]
    conns: RefCell<Vec<Box<Http1Connection<MaybeTls<T>>>>>,
    /// The worker's handle on each HTTPS listener's TLS configuration.
    tls: Vec<WorkerTls>,
    /// How long a TLS handshake may take, and how large it may be.
    tls_handshake_timeout: Duration,
    max_tls_handshake_size: usize,
    contexts: RefCell<Vec<A::Context>>,
    live: Cell<usize>,
    drained: Cell<usize>,
    aborted: Cell<usize>,
    requests: Cell<u64>,
    next_conn: Cell<u64>,
    open_connections: Arc<AtomicUsize>,
}

/// Counts a connection out when its task ends, however it ends.
struct LiveGuard<A: Application, T: Transport> {
    host: Rc<ConnectionHost<A, T>>,
    finished: bool,
}

impl<A: Application, T: Transport> Drop for LiveGuard<A, T> {
    fn drop(&mut self) {
        let h = &self.host;
        h.live.set(h.live.get() - 1);
        h.open_connections.fetch_sub(1, Ordering::Relaxed);
        h.ctx.metrics.connection_closed();
        if self.finished {
            h.drained.set(h.drained.get() + 1);
        } else {
            h.aborted.set(h.aborted.get() + 1);
        }
    }
}

impl<A: Application, T: Transport + 'static> ConnectionHost<A, T> {
    /// The host of worker `spec`, serving `app`.
    pub(crate) fn new(spec: &WorkerSpec, app: Arc<A>) -> Rc<Self> {
        let opts = &spec.options;
        Rc::new(ConnectionHost {
            app,
            ctx: Rc::new({
                let mut ctx = WorkerContext::new(
                    opts.limits.clone(),
                    opts.server_header.as_deref(),
                    spec.upgraded_connections.clone(),
                    spec.metrics.clone(),
                );
                ctx.access_log = opts.access_log;
                ctx
            }),
            conns: RefCell::new(Vec::new()),
            tls: spec.tls.iter().cloned().map(WorkerTls::new).collect(),
            tls_handshake_timeout: opts.tls_handshake_timeout,
            max_tls_handshake_size: opts.max_tls_handshake_size,
            contexts: RefCell::new(Vec::new()),
            live: Cell::new(0),
            drained: Cell::new(0),
            aborted: Cell::new(0),
            requests: Cell::new(0),
            next_conn: Cell::new(u64::from(spec.worker_id) << 40),
            open_connections: spec.open_connections.clone(),
        })
    }

    /// Connections this worker serves now.
    pub(crate) fn live(&self) -> usize {
        self.live.get()
    }

    /// Counts a new connection in, unless `max_concurrent_connections` are open already (then it
    /// is counted as refused and the caller closes it).
    pub(crate) fn admit(&self) -> bool {
        let open = self.open_connections.fetch_add(1, Ordering::Relaxed);
        if self
            .ctx
            .limits
            .max_concurrent_connections
            .is_some_and(|max| open >= max)
        {
            self.open_connections.fetch_sub(1, Ordering::Relaxed);
            self.ctx.metrics.connection_refused();
            return false;
        }
        true
    }

    /// Counts out an admitted connection that could not be served after all.
    pub(crate) fn release(&self) {
        self.open_connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// The connection feature of an admitted socket accepted on a listener bound to `local`
    /// (`None`: a Unix socket, whose connections have no IP addresses).
    pub(crate) fn connection_feature(
        &self,
        socket: BorrowedFd<'_>,
        local: Option<SocketAddr>,
    ) -> ConnectionFeature {
        let id = self.next_conn.get() + 1;
        self.next_conn.set(id);
        let r = SockRef::from(&socket);
        let remote = r.peer_addr().ok().and_then(|a| a.as_socket());
        let local = match local {
            Some(l) if !l.ip().is_unspecified() => Some(l),
            Some(_) => r.local_addr().ok().and_then(|a| a.as_socket()),
            None => None,
        };
        ConnectionFeature {
            local_addr: local,
            remote_addr: remote,
            connection_id: id,
        }
    }

    /// Spawns the task that serves an admitted connection on `rt`: on an HTTPS listener (`tls`,
    /// an index into the worker's TLS configurations) it first completes the TLS handshake
    /// within the handshake timeout; then it takes a pooled protocol object, runs the request
    /// loop (after the PROXY protocol header, where the listener opted into one), lingers if it
    /// must, closes the transport and gives the protocol object back to the pool.
    pub(crate) fn serve(
        self: &Rc<Self>,
        rt: &Runtime,
        transport: T,
        connection: ConnectionFeature,
        proxy_protocol: bool,
        tls: Option<usize>,
        protocols: HttpProtocols,
    ) {
        let host = self.clone();
        host.live.set(host.live.get() + 1);
        host.ctx.metrics.connection_accepted();
        rt.spawn(async move {
            let mut guard = LiveGuard {
                host: host.clone(),
                finished: false,
            };
            let transport = match tls {
                None => MaybeTls::Plain(transport),
                Some(i) => match host.handshake(i, transport).await {
                    Some(tls) => MaybeTls::Tls(tls),
                    None => {
                        guard.finished = true;
                        return;
                    }
                },
            };
            let mut transport = transport;
            // HTTP/2 by ALPN or by its preface; PROXY protocol listeners speak HTTP/1.x (the
            // header comes before any HTTP byte).
            let input = if proxy_protocol && tls.is_none() {
                Vec::new()
            } else {
                let detect = h2::detect(&mut transport, &host.ctx, protocols);
                match with_timeout(detect, host.ctx.limits.keep_alive_timeout).await {
                    Some(h2::Detected::Http1(input)) => input,
                    Some(h2::Detected::Http2(input)) => {
                        let requests = h2::serve(
                            &mut transport,
                            host.ctx.clone(),
                            host.app.clone(),
                            connection,
                            input,
                            &|task| executor::with_current(|rt| rt.spawn_boxed(task)).is_some(),
                        )
                        .await;
                        host.requests.set(host.requests.get() + u64::from(requests));
                        if transport.tls().is_some() {
                            let notify = poll_fn(|cx| transport.poll_close_notify(cx));
                            let _ = with_timeout(notify, CLOSE_NOTIFY_TIMEOUT).await;
                        }
                        transport.close();
                        guard.finished = true;
                        return;
                    }
                    Some(h2::Detected::Closed) => {
                        transport.close();
                        guard.finished = true;
                        return;
                    }
                    None => {
                        // Nothing arrived within the keep-alive timeout, as an idle HTTP/1.1
                        // connection would have been closed.
                        host.ctx
                            .metrics
                            .timeout(crate::metrics::TimeoutKind::KeepAlive);
                        transport.close();
                        guard.finished = true;
                        return;
                    }
                }
            };
            let pooled = host.conns.borrow_mut().pop();
            let mut conn = match pooled {
                Some(mut c) => {
                    c.reset(transport, connection);
                    c
                }
                None => Box::new(Http1Connection::new(
                    transport,
                    host.ctx.clone(),
                    connection,
                )),
            };
            if proxy_protocol {
                conn.expect_proxy_header();
            }
            if input.capacity() > 0 {
                conn.prime_input(input);
            }
            let mut context = host.contexts.borrow_mut().pop().unwrap_or_default();
            if serve(&mut conn, &*host.app, &mut context).await == Closing::Linger {
                poll_fn(|cx| conn.poll_linger(cx)).await;
            }
            host.requests
                .set(host.requests.get() + u64::from(conn.requests()));
            if conn.transport_mut().tls().is_some() {
                // close_notify, so clients reading to the end see a clean end (bounded: the
                // peer may not be reading).
                let notify = poll_fn(|cx| conn.transport_mut().poll_close_notify(cx));
                let _ = with_timeout(notify, CLOSE_NOTIFY_TIMEOUT).await;
            }
            conn.transport_mut().close();
            conn.recycle();
            host.conns.borrow_mut().push(conn);
            host.contexts.borrow_mut().push(context);
            guard.finished = true;
        });
    }

    /// Runs the TLS handshake of a connection on HTTPS listener `i`, within the handshake
    /// timeout and size limit; `None` (counted, logged at debug level, socket closed) when it
    /// fails.
    async fn handshake(&self, i: usize, transport: T) -> Option<Box<TlsTransport<T>>> {
        let tls = &self.tls[i];
        let counters = tls.acceptor().metrics().tls();
        let mut t = match TlsTransport::new(transport, tls.config(), self.max_tls_handshake_size) {
            Ok(t) => Box::new(t),
            Err(e) => {
                tracing::warn!(error = %e, "could not start a TLS session");
                return None;
            }
        };
        let handshake = poll_fn(|cx| t.poll_handshake(cx));
        match with_timeout(handshake, self.tls_handshake_timeout).await {
            Some(Ok(())) => {
                counters.handshakes.fetch_add(1, Ordering::Relaxed);
                return Some(t);
            }
            Some(Err(e)) => {
                counters.handshake_failures.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "TLS handshake failed");
                if matches!(e, HandshakeError::Tls(_)) {
                    // Let the alert go out before the socket closes (bounded).
                    let flush = poll_fn(|cx| t.poll_flush(cx));
                    let _ = with_timeout(flush, CLOSE_NOTIFY_TIMEOUT).await;
                }
            }
            None => {
                counters.handshake_timeouts.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("TLS handshake timed out");
            }
        }
        t.inner_mut().close();
        None
    }

    /// Starts draining: idle connections close and responses announce the close. Returns the
    /// bookkeeping for the stop report.
    pub(crate) fn begin_stop(&self, rt: &Runtime) -> Stop {
        self.ctx.draining.set(true);
        rt.wake_all();
        Stop {
            began: Instant::now(),
            connections_at_stop: self.live.get(),
            drained_before: self.drained.get(),
        }
    }

    /// The worker's report once every connection has ended.
    pub(crate) fn report(&self, stop: &Stop) -> StopReport {
        StopReport {
            connections_at_stop: stop.connections_at_stop,
            connections_drained: self.drained.get() - stop.drained_before,
            connections_aborted: self.aborted.get(),
            requests_served: self.requests.get(),
            requests_rejected: self.ctx.rejected(),
            connections_timed_out: self.ctx.timed_out(),
            connections_refused: self.ctx.metrics.snapshot().connections_refused,
            workers_restarted: 0, // filled in by the supervisor
            elapsed: stop.began.elapsed(),
        }
    }
}

/// How long a closing TLS connection may take to send its `close_notify` (or a failed
/// handshake its alert).
const CLOSE_NOTIFY_TIMEOUT: Duration = Duration::from_secs(1);

/// Runs `fut` for at most `limit` (on the worker's timer); `None` if time ran out first.
async fn with_timeout<F: Future>(fut: F, limit: Duration) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut sleep = std::pin::pin!(crate::rt::sleep(limit));
    poll_fn(|cx| {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(cx) {
            return std::task::Poll::Ready(Some(v));
        }
        if sleep.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(None);
        }
        std::task::Poll::Pending
    })
    .await
}

/// Logs an accept failure at most once a second (a full descriptor table fails every accept).
pub(crate) struct AcceptWarnings {
    last: Option<Instant>,
}

impl AcceptWarnings {
    /// No warning yet.
    pub(crate) fn new() -> Self {
        AcceptWarnings { last: None }
    }

    /// Logs `error`, unless a warning went out less than a second ago.
    pub(crate) fn warn(&mut self, error: std::io::Error, backoff: Duration) {
        let now = Instant::now();
        if self.last.is_none_or(|t| now - t > Duration::from_secs(1)) {
            self.last = Some(now);
            tracing::warn!(%error, "accept failed; pausing the listener for {backoff:?}");
        }
    }
}

/// How long a listener rests after an accept error (e.g. `EMFILE`) before accepting again, so
/// running out of descriptors does not turn into a busy loop.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
