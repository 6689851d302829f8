//! The portable engine: readiness-based I/O on epoll (through mio), for systems where io_uring
//! is missing or forbidden.
//!
//! It is thread-per-core like the io_uring engine (one pinned worker per CPU, each with its own
//! `SO_REUSEPORT` listeners, epoll set, executor and pooled connections) and shares everything
//! above the bytes with it: the protocol object, limits, timeouts, features, `rt::sleep` and
//! `rt::spawn`. Only the way bytes move differs: a socket is read and written directly while the
//! kernel has room, and a task waits for the next epoll edge when it has not.

pub(crate) mod reactor;
mod transport;
mod worker;

use std::time::Duration;

use super::workers::WorkerPool;
use super::{EngineInfo, EngineKind};
use crate::app::Application;
use crate::server::{Server, ServerFeatures, ServerOptions, StartError, StopReport};

/// The portable epoll server (HTTP.sys's role beside Kestrel: another engine behind the same
/// [`Server`] trait, running the same applications unchanged).
///
/// [`HttpServer`](crate::HttpServer) starts it when io_uring is unavailable; it can also be
/// used directly.
///
/// ```no_run
/// use peregrine::{AppResult, Handler, HttpContext, PortableServer, Server, ServerOptions};
///
/// struct Hello;
/// impl Handler for Hello {
///     async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
///         http.write(b"Hello, World!");
///         Ok(())
///     }
/// }
///
/// let mut server = PortableServer::new(ServerOptions::with_urls(["http://127.0.0.1:0"]));
/// server.start(Hello).unwrap();
/// println!("listening on {:?}", server.features().addresses());
/// server.stop(std::time::Duration::from_secs(5));
/// ```
pub struct PortableServer {
    options: ServerOptions,
    features: ServerFeatures,
    pool: WorkerPool,
}

impl PortableServer {
    /// A server that will listen as `options` say once started.
    pub fn new(options: ServerOptions) -> PortableServer {
        PortableServer {
            options,
            features: ServerFeatures::default(),
            pool: WorkerPool::default(),
        }
    }

    /// Starts `app`, recording in [`EngineInfo`] why io_uring was not used, if it was the
    /// automatic choice's fallback.
    pub(crate) fn start_with_reason<A: Application>(
        &mut self,
        app: A,
        fallback_reason: Option<String>,
    ) -> Result<(), StartError> {
        if self.pool.is_running() {
            return Err(StartError::AlreadyStarted);
        }
        self.options.validate()?;
        let started = self
            .pool
            .start(&self.options, app, EngineKind::Portable, worker::run, ())?;
        self.features.insert(started.addresses);
        self.features.insert(started.metrics);
        self.features.insert(EngineInfo {
            kind: EngineKind::Portable,
            workers: started.cpus.len(),
            cpus: started.cpus,
            ring: None,
            fallback_reason,
        });
        Ok(())
    }
}

impl Server for PortableServer {
    fn start<A: Application>(&mut self, app: A) -> Result<(), StartError> {
        self.start_with_reason(app, None)
    }

    fn features(&self) -> &ServerFeatures {
        &self.features
    }

    fn stop(&mut self, deadline: Duration) -> StopReport {
        self.pool.stop(deadline)
    }
}

impl Drop for PortableServer {
    fn drop(&mut self) {
        if self.pool.is_running() {
            self.pool.stop(Duration::ZERO);
        }
    }
}
