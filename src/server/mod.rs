//! The server contract: start an application, expose server features, stop gracefully.
//!
//! The counterpart of ASP.NET Core's `IServer`. [`UringServer`](crate::UringServer) (the io_uring
//! engine) and [`TestServer`](crate::TestServer) (in memory) implement it, and so can a custom
//! server outside this crate: it needs only to give each request a [`Features`] with the request
//! and response features and call the [`Application`].
//!
//! [`Features`]: crate::http::Features
//! [`Application`]: crate::Application

mod endpoint;
mod limits;
pub(crate) mod listen;
mod options;
pub mod systemd;
mod tls;
mod urls;

use std::any::{Any, TypeId};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use crate::base::MinDataRate;
pub use endpoint::{Endpoint, HttpProtocols};
pub(crate) use limits::parse_duration;
pub use limits::{Limits, LIMIT_SETTINGS};
pub use listen::InheritedListener;
pub use options::{EngineChoice, ServerOptions};
pub use tls::{
    CertificateFiles, CertificateSelector, CertifiedKey, ClientCertificateMode, TlsOptions,
};
pub use urls::{
    format_unix_url, format_url, is_https, parse_listen_address, parse_listen_url, ListenAddress,
    UrlError,
};

use crate::app::Application;
use crate::base::FeatureMap;

/// A server implementation (ASP.NET Core's `IServer`).
pub trait Server {
    /// Binds, starts serving `app`, and returns once the server accepts requests; the
    /// [`ServerAddresses`] feature then holds the addresses really bound.
    fn start<A: Application>(&mut self, app: A) -> Result<(), StartError>;

    /// The server's features ([`ServerAddresses`] and any a server adds).
    fn features(&self) -> &ServerFeatures;

    /// Stops gracefully: stop accepting, let in-flight requests finish until `deadline` has
    /// passed, then close what is left. Idle keep-alive connections are closed at once.
    fn stop(&mut self, deadline: Duration) -> StopReport;
}

/// Why a server could not start; the message names the address or setting at fault.
#[derive(Debug)]
pub enum StartError {
    /// A listen address could not be bound (in use, not permitted, not local...).
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A Unix domain socket could not be bound (in use by a live server, the path is another
    /// kind of file, no permission...).
    BindUnix {
        /// The socket's path.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The io_uring engine is not available on this system (kernel too old, disabled, seccomp).
    Unsupported(String),
    /// A setting is invalid.
    Config(String),
    /// Something else failed while starting (thread spawn, ring setup).
    Io(std::io::Error),
    /// A worker thread could not set itself up (ring or epoll creation, memory limits).
    Worker(String),
    /// `start` was called on a server that is already running.
    AlreadyStarted,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Bind { addr, source } => write!(f, "cannot bind {addr}: {source}"),
            StartError::BindUnix { path, source } => {
                write!(f, "cannot bind unix:{}: {source}", path.display())
            }
            StartError::Unsupported(why) => write!(f, "io_uring is unavailable: {why}"),
            StartError::Config(why) => write!(f, "invalid configuration: {why}"),
            StartError::Io(e) => write!(f, "cannot start the server: {e}"),
            StartError::Worker(why) => write!(f, "a worker failed to start: {why}"),
            StartError::AlreadyStarted => f.write_str("the server is already started"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Bind { source, .. } | StartError::BindUnix { source, .. } => Some(source),
            StartError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// What a graceful stop did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StopReport {
    /// Connections open when the stop began.
    pub connections_at_stop: usize,
    /// Connections that finished their in-flight request (or were idle) and closed cleanly.
    pub connections_drained: usize,
    /// Connections still busy at the deadline and closed forcibly.
    pub connections_aborted: usize,
    /// Requests served over the server's lifetime.
    pub requests_served: u64,
    /// Requests rejected as malformed, too large or too slow (each got its 4xx/5xx status).
    pub requests_rejected: u64,
    /// Connections closed because a timeout or minimum data rate ran out (idle keep-alive
    /// expiry not included).
    pub connections_timed_out: u64,
    /// Connections refused (accepted and closed) over `max_concurrent_connections`.
    pub connections_refused: u64,
    /// Times a worker died (a panic outside a request, a failed ring) and was restarted.
    pub workers_restarted: u64,
    /// How long the stop took.
    pub elapsed: Duration,
}

impl StopReport {
    /// Whether every connection finished before the deadline.
    pub fn is_graceful(&self) -> bool {
        self.connections_aborted == 0
    }

    /// Adds another worker's report into this one.
    pub fn merge(&mut self, other: &StopReport) {
        self.connections_at_stop += other.connections_at_stop;
        self.connections_drained += other.connections_drained;
        self.connections_aborted += other.connections_aborted;
        self.requests_served += other.requests_served;
        self.requests_rejected += other.requests_rejected;
        self.connections_timed_out += other.connections_timed_out;
        self.connections_refused += other.connections_refused;
        self.workers_restarted += other.workers_restarted;
        self.elapsed = self.elapsed.max(other.elapsed);
    }
}

impl fmt::Display for StopReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stopped in {:.3}s: {} connection(s) open, {} drained, {} aborted; {} request(s) served, \
             {} rejected; {} connection(s) timed out, {} refused; {} worker restart(s)",
            self.elapsed.as_secs_f64(),
            self.connections_at_stop,
            self.connections_drained,
            self.connections_aborted,
            self.requests_served,
            self.requests_rejected,
            self.connections_timed_out,
            self.connections_refused,
            self.workers_restarted
        )
    }
}

/// The addresses a server listens on (ASP.NET Core's `IServerAddressesFeature`): after start,
/// the addresses really bound, so binding port 0 reports the port the system chose. IP
/// addresses and Unix socket paths are kept apart ([`socket_addrs`](Self::socket_addrs),
/// [`unix_paths`](Self::unix_paths)); [`urls`](Self::urls) lists both.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerAddresses {
    addresses: Vec<SocketAddr>,
    unix_paths: Vec<PathBuf>,
    https: Vec<SocketAddr>,
}

impl ServerAddresses {
    /// A feature holding `addresses`.
    pub fn new(addresses: Vec<SocketAddr>) -> Self {
        ServerAddresses {
            addresses,
            unix_paths: Vec::new(),
            https: Vec::new(),
        }
    }

    /// A feature holding IP `addresses` and Unix socket `unix_paths`.
    pub fn with_unix_paths(addresses: Vec<SocketAddr>, unix_paths: Vec<PathBuf>) -> Self {
        ServerAddresses {
            addresses,
            unix_paths,
            https: Vec::new(),
        }
    }

    /// Marks `addresses` as speaking HTTPS.
    pub(crate) fn set_https(&mut self, addresses: Vec<SocketAddr>) {
        self.https = addresses;
    }

    /// Whether the listener bound to `addr` speaks HTTPS.
    pub fn is_https(&self, addr: SocketAddr) -> bool {
        self.https.contains(&addr)
    }

    /// The bound IP socket addresses.
    pub fn socket_addrs(&self) -> &[SocketAddr] {
        &self.addresses
    }

    /// The paths of the bound Unix domain sockets.
    pub fn unix_paths(&self) -> &[PathBuf] {
        &self.unix_paths
    }

    /// The bound addresses as URLs (`http://127.0.0.1:8080`, then `unix:/run/app.sock`).
    pub fn urls(&self) -> Vec<String> {
        let unix = self.unix_paths.iter().map(|p| format_unix_url(p));
        self.addresses.iter().map(format_url).chain(unix).collect()
    }
}

/// A server's features, looked up by type (ASP.NET Core's `IServer.Features`).
#[derive(Debug, Default)]
pub struct ServerFeatures {
    map: FeatureMap,
}

impl ServerFeatures {
    /// The feature of type `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.map.get(TypeId::of::<T>())?.downcast_ref()
    }

    /// Adds or replaces a feature.
    pub fn insert<T: Any>(&mut self, feature: T) {
        self.map.insert(Box::new(feature));
    }

    /// The bound addresses (empty before start).
    pub fn addresses(&self) -> &[SocketAddr] {
        self.get::<ServerAddresses>()
            .map(ServerAddresses::socket_addrs)
            .unwrap_or(&[])
    }

    /// The bound Unix socket paths (empty before start).
    pub fn unix_paths(&self) -> &[PathBuf] {
        self.get::<ServerAddresses>()
            .map(ServerAddresses::unix_paths)
            .unwrap_or(&[])
    }
}
