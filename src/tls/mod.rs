//! HTTPS: TLS 1.3 and 1.2 with rustls, as a `Transport` (the engines' byte stream) that
//! wraps the engine's transport (`TlsTransport<T>`), so the protocol object, limits, timeouts,
//! features and both engines are unchanged.
//!
//! - `config`: [`TlsOptions`] to a rustls `ServerConfig` (PEM files, the SNI map and
//!   certificate selector, client certificates, ALPN).
//! - `transport`: the record layer over rustls's unbuffered, sans-io connection, and
//!   `MaybeTls<T>`, the transport of a connection on a listener that may be HTTPS.
//! - here: `TlsAcceptor`, one per HTTPS listener, whose configuration is replaced when its
//!   certificate files change, on SIGHUP, or on [`reload_certificates`]; workers pick the new
//!   one up at their next handshake, open connections keep theirs.
//!
//! See `docs/https.md` for configuration and `docs/architecture.md` ("TLS") for the design.

mod config;
mod transport;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;

pub(crate) use transport::{HandshakeError, MaybeTls, TlsTransport};

use crate::metrics::ServerMetrics;
use crate::server::{HttpProtocols, StartError, TlsOptions};

/// How often the certificate files are checked for changes.
pub(crate) const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// The TLS configuration of one HTTPS listener, shared by every worker and replaced on reload.
pub(crate) struct TlsAcceptor {
    /// For messages: `urls` or `endpoint NAME`.
    name: String,
    options: TlsOptions,
    protocols: HttpProtocols,
    current: Mutex<Arc<ServerConfig>>,
    /// Bumped by each successful reload; workers compare it with their cached copy's.
    generation: AtomicU64,
    /// What the watched files looked like at the last (re)load.
    stamps: Mutex<Vec<Stamp>>,
    metrics: Arc<ServerMetrics>,
}

/// A file's identity and age, to notice it was replaced or rewritten.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp(Option<(SystemTime, u64, u64)>);

fn stamp(path: &std::path::Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    Stamp(std::fs::metadata(path).ok().map(|m| {
        (
            m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            m.len(),
            m.ino(),
        )
    }))
}

/// Every acceptor alive in the process, for [`reload_certificates`] (SIGHUP).
static ACCEPTORS: Mutex<Vec<Weak<TlsAcceptor>>> = Mutex::new(Vec::new());

impl TlsAcceptor {
    /// Loads the listener's certificates; an error names the listener and the file.
    pub(crate) fn new(
        name: String,
        options: TlsOptions,
        protocols: HttpProtocols,
        metrics: Arc<ServerMetrics>,
    ) -> Result<Arc<TlsAcceptor>, StartError> {
        let stamps = Self::files(&options).iter().map(|p| stamp(p)).collect();
        let config = config::build(&options, protocols)
            .map_err(|e| StartError::Config(format!("{name}: {e}")))?;
        let acceptor = Arc::new(TlsAcceptor {
            name,
            options,
            protocols,
            current: Mutex::new(config),
            generation: AtomicU64::new(0),
            stamps: Mutex::new(stamps),
            metrics,
        });
        let mut all = ACCEPTORS.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&acceptor));
        Ok(acceptor)
    }

    /// The files the configuration is read from.
    fn files(options: &TlsOptions) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for f in options
            .certificate
            .iter()
            .chain(options.sni.iter().map(|(_, f)| f))
        {
            files.push(f.path.clone());
            files.push(f.key_path.clone());
        }
        files.extend(options.client_ca.iter().cloned());
        files
    }

    /// Loads every file again; on success new handshakes use the result, on failure the old
    /// configuration stays and the error is logged. Counted in the metrics either way.
    pub(crate) fn reload(&self) -> Result<(), String> {
        *self.stamps.lock().unwrap_or_else(|e| e.into_inner()) = Self::files(&self.options)
            .iter()
            .map(|p| stamp(p))
            .collect();
        match config::build(&self.options, self.protocols) {
            Ok(config) => {
                *self.current.lock().unwrap_or_else(|e| e.into_inner()) = config;
                self.generation.fetch_add(1, Ordering::Release);
                self.metrics.tls().reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(listener = %self.name, "TLS certificates reloaded");
                Ok(())
            }
            Err(e) => {
                self.metrics
                    .tls()
                    .reload_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    listener = %self.name,
                    error = %e,
                    "TLS certificate reload failed; the previous certificates stay in use"
                );
                Err(format!("{}: {e}", self.name))
            }
        }
    }

    /// Reloads if any file changed since the last (re)load.
    fn reload_if_changed(&self) {
        let now: Vec<Stamp> = Self::files(&self.options)
            .iter()
            .map(|p| stamp(p))
            .collect();
        let changed = *self.stamps.lock().unwrap_or_else(|e| e.into_inner()) != now;
        if changed {
            let _ = self.reload();
        }
    }

    /// The server's TLS counters.
    pub(crate) fn metrics(&self) -> &ServerMetrics {
        &self.metrics
    }
}

/// Loads the certificate files of every HTTPS listener in the process again (what SIGHUP
/// does); new handshakes use the new certificates, open connections are not disturbed. A
/// listener whose files are bad keeps its previous certificates; the errors are returned (and
/// logged) one per listener.
pub fn reload_certificates() -> Result<(), Vec<String>> {
    let all: Vec<Arc<TlsAcceptor>> = ACCEPTORS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    let errors: Vec<String> = all.iter().filter_map(|a| a.reload().err()).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// One worker's view of an acceptor: the configuration it last fetched, refreshed when the
/// acceptor's generation moves (one relaxed load per handshake, no lock).
pub(crate) struct WorkerTls {
    acceptor: Arc<TlsAcceptor>,
    cached: std::cell::RefCell<(u64, Arc<ServerConfig>)>,
}

impl WorkerTls {
    /// A worker's handle on `acceptor`.
    pub(crate) fn new(acceptor: Arc<TlsAcceptor>) -> WorkerTls {
        let generation = acceptor.generation.load(Ordering::Acquire);
        let config = acceptor
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        WorkerTls {
            acceptor,
            cached: std::cell::RefCell::new((generation, config)),
        }
    }

    /// The configuration for a new handshake.
    pub(crate) fn config(&self) -> Arc<ServerConfig> {
        let generation = self.acceptor.generation.load(Ordering::Acquire);
        let mut cached = self.cached.borrow_mut();
        if cached.0 != generation {
            let config = self
                .acceptor
                .current
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            *cached = (generation, config);
        }
        cached.1.clone()
    }

    /// The acceptor (for its counters).
    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

/// Watches the certificate files of a server's acceptors from a thread of its own, reloading
/// an acceptor when one of its files changes; stops when dropped.
pub(crate) struct Watcher {
    stop: Option<crossbeam_channel::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    /// Starts watching `acceptors` (none: no thread).
    pub(crate) fn start(acceptors: &[Arc<TlsAcceptor>]) -> Watcher {
        if acceptors.is_empty() {
            return Watcher {
                stop: None,
                thread: None,
            };
        }
        let acceptors: Vec<Arc<TlsAcceptor>> = acceptors.to_vec();
        let (tx, rx) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("peregrine-tls-watch".into())
            .spawn(move || {
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) =
                    rx.recv_timeout(WATCH_INTERVAL)
                {
                    for a in &acceptors {
                        a.reload_if_changed();
                    }
                }
            })
            .ok();
        Watcher {
            stop: Some(tx),
            thread,
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
