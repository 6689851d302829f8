//! The io_uring engine: one pinned worker thread per CPU, each with its own `SO_REUSEPORT`
//! listeners, ring, provided receive buffers, executor and pooled connections.
//!
//! Nothing on the request path crosses threads. The main thread only starts workers, and later
//! sends each a stop message through its remote (an eventfd and a channel).
//! Thread start-up, binding and the per-connection bookkeeping are shared with the portable
//! engine ([`crate::engine`]'s `workers` module); this module is the ring and its loop.

pub(crate) mod bufring;
pub(crate) mod driver;
mod ring;
mod transport;
mod worker;

use std::time::Duration;

pub use ring::RingSetup;

use super::workers::WorkerPool;
use super::{EngineInfo, EngineKind};
use crate::app::Application;
use crate::server::{Server, ServerFeatures, ServerOptions, StartError, StopReport};

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
    pool: WorkerPool,
}

impl UringServer {
    /// A server that will listen as `options` says once started.
    pub fn new(options: ServerOptions) -> UringServer {
        UringServer {
            options,
            features: ServerFeatures::default(),
            pool: WorkerPool::default(),
        }
    }

    /// Whether this system can run the engine; the error says why not. (Runs on a thread of
    /// its own, like the probe in [`Server::start`]: tearing a ring down queues kernel task work
    /// to the thread that created it, which would interrupt (`EINTR`) that thread's next blocking
    /// system call.)
    pub fn probe() -> Result<RingSetup, String> {
        std::thread::spawn(ring::probe)
            .join()
            .unwrap_or_else(|_| Err("the io_uring probe panicked".into()))
    }

    /// Starts `app` once the probe has passed (the automatic choice probes first, then calls
    /// this so the probe does not run twice).
    pub(crate) fn start_probed<A: Application>(
        &mut self,
        app: A,
        setup: RingSetup,
    ) -> Result<(), StartError> {
        let started = self
            .pool
            .start(&self.options, app, EngineKind::Uring, worker::run, setup)?;
        let workers = started.cpus.len();
        self.features.insert(started.addresses);
        self.features.insert(started.metrics);
        self.features.insert(EngineInfo {
            kind: EngineKind::Uring,
            workers,
            cpus: started.cpus,
            ring: Some(started.setup),
            fallback_reason: None,
        });
        Ok(())
    }
}

impl Server for UringServer {
    fn start<A: Application>(&mut self, app: A) -> Result<(), StartError> {
        if self.pool.is_running() {
            return Err(StartError::AlreadyStarted);
        }
        self.options.validate()?;
        let setup = UringServer::probe().map_err(StartError::Unsupported)?;
        self.start_probed(app, setup)
    }

    fn features(&self) -> &ServerFeatures {
        &self.features
    }

    fn stop(&mut self, deadline: Duration) -> StopReport {
        self.pool.stop(deadline)
    }
}

impl Drop for UringServer {
    fn drop(&mut self) {
        if self.pool.is_running() {
            self.pool.stop(Duration::ZERO);
        }
    }
}
