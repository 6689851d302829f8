//! The io_uring engine: one pinned worker thread per CPU, each with its own `SO_REUSEPORT`
//! listeners, ring, provided receive buffers, executor and pooled connections.
//!
//! Nothing on the request path crosses threads. The main thread only starts workers, and later
//! sends each a stop message through its [`runtime::Remote`].

pub(crate) mod bufring;
pub(crate) mod driver;
mod ring;
pub(crate) mod runtime;
mod transport;
mod worker;

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use ring::RingSetup;

use crate::app::Application;
use crate::server::{Server, ServerFeatures, ServerOptions, StartError, StopReport};
use runtime::{Remote, RemoteMsg};
use std::sync::Arc;

/// Which engine a server is, and how its rings were set up (a server feature).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineInfo {
    /// The engine's name (`"io_uring"`).
    pub name: &'static str,
    /// Worker threads.
    pub workers: usize,
    /// CPU each worker is pinned to, where pinning applies.
    pub cpus: Vec<Option<usize>>,
    /// The ring flags the kernel accepted.
    pub ring: RingSetup,
}

/// The io_uring server (the main engine, Kestrel's role).
///
/// ```no_run
/// use peregrine::{AppResult, Handler, HttpContext, Server, ServerOptions, UringServer};
///
/// struct Hello;
/// impl Handler for Hello {
///     async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
///         http.write(b"Hello, World!");
///         Ok(())
///     }
/// }
///
/// let mut server = UringServer::new(ServerOptions::with_urls(["http://127.0.0.1:0"]));
/// server.start(Hello).unwrap();
/// println!("listening on {:?}", server.features().addresses());
/// let report = server.stop(std::time::Duration::from_secs(5));
/// println!("{report}");
/// ```
pub struct UringServer {
    options: ServerOptions,
    features: ServerFeatures,
    workers: Vec<(Arc<Remote>, JoinHandle<StopReport>)>,
    /// Unix socket files this server created, removed when it stops.
    unix_files: Vec<crate::server::listen::UnixSocketFile>,
}

impl UringServer {
    /// A server that will listen as `options` says once started.
    pub fn new(options: ServerOptions) -> UringServer {
        UringServer {
            options,
            features: ServerFeatures::default(),
            workers: Vec::new(),
            unix_files: Vec::new(),
        }
    }

    /// Whether this system can run the engine; the error says why not. (Runs on a thread of
    /// its own, like the probe in [`Server::start`].)
    pub fn probe() -> Result<RingSetup, String> {
        std::thread::spawn(ring::probe)
            .join()
            .unwrap_or_else(|_| Err("the io_uring probe panicked".into()))
    }

    /// The CPUs workers will be pinned to.
    fn plan_cpus(&self) -> Result<Vec<Option<core_affinity::CoreId>>, StartError> {
        let allowed = core_affinity::get_core_ids().unwrap_or_default();
        let cpus: Vec<core_affinity::CoreId> = match &self.options.cpus {
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
        let workers = self.options.workers.unwrap_or(cpus.len().max(1));
        Ok((0..workers)
            .map(|i| (!cpus.is_empty()).then(|| cpus[i % cpus.len()]))
            .collect())
    }
}

impl Server for UringServer {
    fn start<A: Application>(&mut self, app: A) -> Result<(), StartError> {
        if !self.workers.is_empty() {
            return Err(StartError::AlreadyStarted);
        }
        self.options.validate()?;
        // The probe runs on a thread of its own: tearing a ring down queues kernel task work to
        // the thread that created it, which would interrupt (EINTR) the caller's next blocking
        // system call.
        let ring = std::thread::spawn(ring::probe)
            .join()
            .map_err(|_| StartError::Unsupported("the io_uring probe panicked".into()))?
            .map_err(StartError::Unsupported)?;
        let cpus = self.plan_cpus()?;
        let workers = cpus.len();

        // Bind everything before starting any thread, so a bad address fails start cleanly.
        // (hosting: TCP groups, Unix sockets and inherited sockets, see server/listen.rs.)
        let bound = crate::server::listen::bind_all(&self.options, workers)?;
        let per_worker = bound.per_worker;
        self.unix_files = bound.unix_files;

        let app = Arc::new(app);
        let open_connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let upgraded_connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (started_tx, started_rx) = crossbeam_channel::unbounded();
        for (index, (listeners, cpu)) in per_worker.into_iter().zip(cpus.iter()).enumerate() {
            let (remote, inbox) = Remote::new().map_err(StartError::Io)?;
            let spec = worker::WorkerSpec {
                index,
                worker_id: runtime::next_worker_id(),
                cpu: *cpu,
                listeners,
                options: self.options.clone(),
                remote: remote.clone(),
                inbox,
                open_connections: open_connections.clone(),
                upgraded_connections: upgraded_connections.clone(),
            };
            let app = app.clone();
            let started = started_tx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("peregrine-w{index}"))
                .spawn(move || worker::run(spec, app, started))
                .map_err(StartError::Io)?;
            self.workers.push((remote, handle));
        }
        drop(started_tx);
        let mut setup = ring;
        for _ in 0..workers {
            match started_rx.recv() {
                Ok(Ok(s)) => setup = s,
                Ok(Err(e)) => {
                    self.stop(Duration::ZERO);
                    return Err(StartError::Unsupported(e));
                }
                Err(_) => {
                    self.stop(Duration::ZERO);
                    return Err(StartError::Unsupported(
                        "a worker died while starting".into(),
                    ));
                }
            }
        }
        self.features.insert(bound.addresses);
        self.features.insert(EngineInfo {
            name: "io_uring",
            workers,
            cpus: cpus.iter().map(|c| c.map(|c| c.id)).collect(),
            ring: setup,
        });
        Ok(())
    }

    fn features(&self) -> &ServerFeatures {
        &self.features
    }

    fn stop(&mut self, deadline: Duration) -> StopReport {
        let began = Instant::now();
        let at = began + deadline;
        for (remote, _) in &self.workers {
            remote.send(RemoteMsg::Stop(at));
        }
        // Listeners are closing: new clients of a Unix socket find no file rather than a refusal.
        self.unix_files.clear();
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

impl Drop for UringServer {
    fn drop(&mut self) {
        if !self.workers.is_empty() {
            self.stop(Duration::ZERO);
        }
    }
}
