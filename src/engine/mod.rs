//! Server engines: they accept connections and move bytes; the protocol lives elsewhere.
//!
//! Two engines sit behind the [`Server`] trait, as Kestrel and HTTP.sys do in ASP.NET Core:
//!
//! - [`UringServer`]: io_uring, the main engine.
//! - [`PortableServer`]: epoll readiness (through mio), for systems where io_uring is missing
//!   or forbidden (Docker's default seccomp profile, `kernel.io_uring_disabled`, gVisor, old
//!   kernels).
//!
//! Both are thread-per-core with one `SO_REUSEPORT` listener per worker, and share everything
//! above the bytes: the protocol object, limits, timeouts, features and the executor.
//! [`HttpServer`] picks one ([`EngineChoice`]) and says which it picked ([`EngineInfo`]).

pub(crate) mod executor;
pub mod portable;
pub mod uring;
pub(crate) mod workers;

use std::time::Duration;

pub use portable::PortableServer;
pub use uring::{RingSetup, UringServer};

use crate::app::Application;
pub use crate::server::EngineChoice;
use crate::server::{Server, ServerFeatures, ServerOptions, StartError, StopReport};

/// An engine that runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// [`UringServer`].
    Uring,
    /// [`PortableServer`].
    Portable,
}

impl EngineKind {
    /// The engine's name as logs and `EngineInfo` show it: `"io_uring"` or `"portable"`.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Uring => "io_uring",
            EngineKind::Portable => "portable",
        }
    }
}

/// Which engine a started server runs, on how many workers (a server feature).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineInfo {
    /// The engine.
    pub kind: EngineKind,
    /// Worker threads.
    pub workers: usize,
    /// CPU each worker is pinned to, where pinning applies.
    pub cpus: Vec<Option<usize>>,
    /// The ring flags the kernel accepted (io_uring only).
    pub ring: Option<RingSetup>,
    /// Why io_uring was not used, when [`EngineChoice::Auto`] fell back to the portable engine.
    pub fallback_reason: Option<String>,
}

impl EngineInfo {
    /// The engine's name (`"io_uring"` or `"portable"`).
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }
}

/// The server an application normally runs on: it starts the engine that
/// [`ServerOptions::engine`] names, probing for io_uring under [`EngineChoice::Auto`].
///
/// ```no_run
/// use peregrine::{AppResult, Handler, HttpContext, HttpServer, Server, ServerOptions};
///
/// struct Hello;
/// impl Handler for Hello {
///     async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
///         http.write(b"Hello, World!");
///         Ok(())
///     }
/// }
///
/// let mut server = HttpServer::new(ServerOptions::with_urls(["http://127.0.0.1:0"]));
/// server.start(Hello).unwrap();
/// let engine = server.features().get::<peregrine::EngineInfo>().unwrap();
/// println!("{} on {:?}", engine.name(), server.features().addresses());
/// server.stop(std::time::Duration::from_secs(5));
/// ```
pub struct HttpServer {
    inner: Inner,
}

enum Inner {
    /// Not started: holds the options until start picks the engine.
    Idle(ServerOptions, ServerFeatures),
    Uring(UringServer),
    Portable(PortableServer),
}

impl HttpServer {
    /// A server that will run as `options` say once started.
    pub fn new(options: ServerOptions) -> HttpServer {
        HttpServer {
            inner: Inner::Idle(options, ServerFeatures::default()),
        }
    }
}

impl Server for HttpServer {
    fn start<A: Application>(&mut self, app: A) -> Result<(), StartError> {
        let Inner::Idle(options, _) = &self.inner else {
            return Err(StartError::AlreadyStarted);
        };
        options.validate()?;
        let options = options.clone();
        match options.engine {
            EngineChoice::Uring => {
                let setup = UringServer::probe().map_err(|why| {
                    StartError::Unsupported(format!(
                        "{why} (the io_uring engine was requested; the auto or portable engine \
                         runs without it)"
                    ))
                })?;
                let mut server = UringServer::new(options);
                server.start_probed(app, setup)?;
                self.inner = Inner::Uring(server);
            }
            EngineChoice::Portable => {
                let mut server = PortableServer::new(options);
                server.start_with_reason(app, None)?;
                self.inner = Inner::Portable(server);
            }
            EngineChoice::Auto => match UringServer::probe() {
                Ok(setup) => {
                    let mut server = UringServer::new(options);
                    server.start_probed(app, setup)?;
                    self.inner = Inner::Uring(server);
                }
                Err(why) => {
                    tracing::warn!("io_uring is unavailable ({why}); using the portable engine");
                    let mut server = PortableServer::new(options);
                    server.start_with_reason(app, Some(why))?;
                    self.inner = Inner::Portable(server);
                }
            },
        }
        Ok(())
    }

    fn features(&self) -> &ServerFeatures {
        match &self.inner {
            Inner::Idle(_, features) => features,
            Inner::Uring(s) => s.features(),
            Inner::Portable(s) => s.features(),
        }
    }

    fn stop(&mut self, deadline: Duration) -> StopReport {
        match &mut self.inner {
            Inner::Idle(..) => StopReport::default(),
            Inner::Uring(s) => s.stop(deadline),
            Inner::Portable(s) => s.stop(deadline),
        }
    }
}
