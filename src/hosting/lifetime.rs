//! The console lifetime: stop signals, systemd activation and notification, logging.

use std::time::Duration;

use crate::server::systemd::{self, Notifier};
use crate::server::ServerOptions;

/// The signals the host takes over: SIGINT and SIGTERM (stop), SIGHUP (certificate reload).
#[derive(Clone, Copy)]
pub(crate) struct Signals {
    set: libc::sigset_t,
}

// SAFETY: a sigset_t is plain data (a bit array); nothing in it points anywhere.
unsafe impl Send for Signals {}

impl Signals {
    /// Blocks SIGINT, SIGTERM and SIGHUP in this thread (and every thread it starts later,
    /// which inherits the mask), so they can be received with `sigwait` instead of a handler.
    pub(crate) fn block() -> Signals {
        // SAFETY: sigset_t is plain data that sigemptyset initialises; every call gets valid
        // pointers.
        let set = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGHUP);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            set
        };
        Signals { set }
    }

    /// Waits for one of the signals and returns it.
    pub(crate) fn wait(&self) -> i32 {
        let mut sig = 0;
        // SAFETY: `set` was initialised by `block`; `sig` is a valid out-pointer.
        unsafe { libc::sigwait(&self.set, &mut sig) };
        sig
    }

    /// Waits for SIGINT or SIGTERM; a SIGHUP meanwhile reloads the HTTPS certificates of every
    /// server in the process ([`crate::tls::reload_certificates`]).
    pub(crate) fn wait_for_stop(&self, name: &str) -> i32 {
        loop {
            let sig = self.wait();
            if sig != libc::SIGHUP {
                return sig;
            }
            // SIGHUP reloads the HTTPS certificates (the rest of the configuration is read once).
            match crate::tls::reload_certificates() {
                Ok(()) => println!("{name}: received SIGHUP: TLS certificates reloaded"),
                Err(errors) => {
                    for e in errors {
                        eprintln!("{name}: received SIGHUP: certificate reload failed, keeping the previous certificates: {e}");
                    }
                }
            }
        }
    }
}

/// The name of a stop signal, as messages show it.
pub(crate) fn signal_name(sig: i32) -> &'static str {
    if sig == libc::SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    }
}

/// Exit code of a stop forced by a second SIGINT/SIGTERM during the drain (128 + SIGINT, the
/// shell's code for an interrupted command).
pub const FORCED_EXIT: i32 = 130;

/// During the drain, a second SIGINT or SIGTERM exits the process at once with
/// [`FORCED_EXIT`], abandoning in-flight requests. (The signals stay blocked in every thread,
/// so this thread's `sigwait` is the one that takes it.)
pub(crate) fn force_exit_on_second_signal(signals: Signals, name: String) {
    std::thread::spawn(move || {
        let sig = signals.wait_for_stop(&name);
        eprintln!(
            "{name}: received a second {}, exiting now without waiting for in-flight requests",
            signal_name(sig)
        );
        std::process::exit(FORCED_EXIT);
    });
}

/// Takes the sockets systemd passed (served instead of the URLs) and the `NOTIFY_SOCKET`
/// notifier. Changes the environment, so it runs before the workers start.
pub(crate) fn systemd_setup(options: &mut ServerOptions) -> Result<Option<Notifier>, String> {
    let inherited = systemd::listen_fds().map_err(|e| format!("socket activation: {e}"))?;
    if !inherited.is_empty() {
        tracing::info!(
            sockets = inherited.len(),
            "socket-activated: serving the inherited sockets instead of the listen URLs"
        );
        options.inherited_listeners = inherited;
    }
    Notifier::from_env().map_err(|e| e.to_string())
}

/// Logs go to stderr: warnings by default (`RUST_LOG` sets more), plus one INFO line per
/// request when `access_log` is on. Lines are written by a logging thread
/// (`tracing-appender`), in batches, so a worker formats a line and hands it over but never
/// waits on a `write`. Access log lines skip `tracing`: each worker formats them into a buffer
/// of its own and hands whole buffers to an access log writer thread (`peregrine-access`). Both
/// threads write through the process's one `stderr` handle, whose lock keeps a batch whole. The
/// returned guard writes what is queued when dropped. `None` when the process already has a
/// global subscriber (an embedder's own), which is then left alone and gets the access log as
/// events.
pub(crate) fn init_logging(access_log: bool) -> Option<LogGuard> {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    if access_log {
        filter = filter.add_directive("peregrine::access=info".parse().expect("a valid directive"));
    }
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("peregrine-log")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer)
        .try_init()
        .ok()?;
    let access = if access_log {
        crate::connection::start_access_log_writer(std::io::stderr())
    } else {
        None
    };
    Some(LogGuard {
        _access: access,
        _tracing: guard,
    })
}

/// Keeps the logging threads; dropped, they write what is queued (access lines first) and end.
pub(crate) struct LogGuard {
    _access: Option<crate::connection::AccessLogWriter>,
    _tracing: tracing_appender::non_blocking::WorkerGuard,
}

/// How long the admin endpoints get to stop once the application's drain is over.
pub(crate) const ADMIN_STOP: Duration = Duration::from_secs(1);
