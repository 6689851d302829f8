//! Hosting: what makes a server pleasant to run, for the `peregrine` binary and every embedder
//! alike (ASP.NET Core's `WebApplication.CreateBuilder` and console lifetime).
//!
//! - **Configuration layers**, lowest first: the defaults in code ([`HostBuilder::configure`]),
//!   the TOML file (`--config FILE` / `PEREGRINE_CONFIG`, [`config`]), the environment
//!   (`PEREGRINE_*`), the command line. Each layer replaces, setting by setting, what the one
//!   below gave. The flags, their variables and `--help` come from one table
//!   ([`settings()`]).
//! - **Endpoints**: `urls`, `proxy_protocol_urls` and `[endpoints.NAME]` sections
//!   ([`Endpoint`](crate::server::Endpoint)).
//! - **Lifetime**: the first SIGINT/SIGTERM drains (up to the shutdown timeout) and returns the
//!   [`StopReport`]; a second exits at once with code 130; SIGHUP reloads the HTTPS
//!   certificates ([`crate::tls::reload_certificates`]). systemd socket activation
//!   (`LISTEN_FDS`) and readiness notification (`NOTIFY_SOCKET`).
//! - **Operations**: the admin endpoints (`--admin-urls`: `/metrics`, `/healthz`, `/livez`),
//!   the access log, forwarded headers and host filtering around the application.
//!
//! ```no_run
//! use peregrine::hosting::HostBuilder;
//! use peregrine::{AppResult, Handler, HttpContext};
//!
//! struct Hello;
//! impl Handler for Hello {
//!     async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
//!         http.write(b"Hello!");
//!         Ok(())
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     // Flags, PEREGRINE_* variables, --config, signals, systemd, /metrics: all there.
//!     HostBuilder::new("hello").main(Hello)
//! }
//! ```

pub mod config;
mod lifetime;
mod settings;

use std::fmt;
use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

pub use lifetime::FORCED_EXIT;
pub use settings::{env_var, settings, Section, Setting};

use crate::app::Application;
use crate::engine::{EngineInfo, HttpServer, PortableServer};
use crate::metrics::{AdminApp, ServerMetrics};
use crate::middleware::{ForwardedHeaders, ForwardedHeadersOptions, HostFiltering, IpNetwork};
use crate::server::systemd::Notifier;
use crate::server::{
    format_unix_url, format_url, Server, ServerAddresses, ServerFeatures, ServerOptions,
    StartError, StopReport,
};
use config::Config;
use lifetime::Signals;
use settings::{Layers, Parsed};

/// Everything a host runs with: the server's options and the host's own settings.
#[derive(Clone, Debug)]
pub struct HostOptions {
    /// The server's options (listen URLs and endpoints, engine, workers, limits...).
    pub server: ServerOptions,
    /// How long in-flight requests get once a stop signal arrives. Default 30 s.
    pub shutdown_timeout: Duration,
    /// Listen URLs of the admin endpoints (`/metrics`, `/healthz`, `/livez`), served by a
    /// one-worker portable server apart from the application. Default: none.
    pub admin_urls: Vec<String>,
    /// Whether the application is wrapped in [`ForwardedHeaders`], trusting loopback and
    /// [`known_proxies`](Self::known_proxies) / [`known_networks`](Self::known_networks).
    /// Default `false`.
    pub forwarded_headers: bool,
    /// Proxy addresses trusted besides loopback.
    pub known_proxies: Vec<IpAddr>,
    /// Proxy networks trusted besides loopback.
    pub known_networks: Vec<IpNetwork>,
    /// When set, the application is wrapped in [`HostFiltering`] allowing these hosts.
    pub allowed_hosts: Option<Vec<String>>,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions {
            server: ServerOptions::default(),
            shutdown_timeout: Duration::from_secs(30),
            admin_urls: Vec::new(),
            forwarded_headers: false,
            known_proxies: Vec::new(),
            known_networks: Vec::new(),
            allowed_hosts: None,
        }
    }
}

impl HostOptions {
    /// Applies one configuration layer over these options: what it gives replaces what is
    /// here. A trust list implies `forwarded_headers`.
    pub fn apply(&mut self, layer: &Config) -> Result<(), String> {
        layer.apply(&mut self.server)?;
        if let Some(t) = layer.shutdown_timeout {
            self.shutdown_timeout = t;
        }
        if let Some(urls) = &layer.admin_urls {
            self.admin_urls = urls.clone();
        }
        if let Some(on) = layer.forwarded_headers {
            self.forwarded_headers = on;
        }
        if let Some(list) = &layer.known_proxies {
            self.known_proxies = list.clone();
            self.forwarded_headers = true;
        }
        if let Some(list) = &layer.known_networks {
            self.known_networks = list.clone();
            self.forwarded_headers = true;
        }
        if let Some(hosts) = &layer.allowed_hosts {
            self.allowed_hosts = Some(hosts.clone());
        }
        Ok(())
    }

    /// The forwarded-headers middleware's options, when it is on: loopback (the middleware's
    /// default) plus the known proxies and networks.
    pub fn forwarded_headers_options(&self) -> Option<ForwardedHeadersOptions> {
        self.forwarded_headers.then(|| {
            let mut options = ForwardedHeadersOptions::default();
            options
                .known_proxies
                .extend(self.known_proxies.iter().copied());
            options
                .known_networks
                .extend(self.known_networks.iter().copied());
            options
        })
    }

    /// The admin server's options: the portable engine (it needs no io_uring and serves a
    /// scrape now and then), one worker. `None` when no admin URL is given.
    pub fn admin_options(&self) -> Result<Option<ServerOptions>, String> {
        if self.admin_urls.is_empty() {
            return Ok(None);
        }
        let options = ServerOptions::with_urls(self.admin_urls.iter().cloned())
            .workers(1)
            .engine(crate::server::EngineChoice::Portable);
        options
            .addresses()
            .map_err(|e| format!("--admin-urls: {e}"))?;
        Ok(Some(options))
    }

    /// Checks every setting; the message names the one at fault.
    pub fn validate(&self) -> Result<(), String> {
        self.admin_options()?;
        if let Some(hosts) = &self.allowed_hosts {
            HostFiltering::new((), hosts.iter().cloned())
                .map_err(|e| format!("--allowed-hosts: {e}"))?;
        }
        self.server.validate().map_err(|e| e.to_string())
    }

    /// One line per middleware in use, for the start-up banner.
    pub fn describe_middleware(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(f) = self.forwarded_headers_options() {
            let trusted: Vec<String> = f
                .known_networks
                .iter()
                .map(ToString::to_string)
                .chain(f.known_proxies.iter().map(ToString::to_string))
                .collect();
            lines.push(format!(
                "forwarded headers (X-Forwarded-For, X-Forwarded-Proto) trusted from {}",
                trusted.join(", ")
            ));
        }
        if let Some(hosts) = &self.allowed_hosts {
            lines.push(format!("allowed hosts: {}", hosts.join(", ")));
        }
        lines
    }
}

/// Why a host did not run, and the process's exit code for it.
#[derive(Debug)]
pub enum HostError {
    /// Not a failure: `--help` or `--version` asked for this text (exit code 0).
    Exit(String),
    /// Invalid flags, environment, configuration file or inherited sockets (exit code 2).
    Usage(String),
    /// The server could not start: an address in use, io_uring unavailable (exit code 1).
    Start(StartError),
    /// The admin endpoints could not start (exit code 1).
    Admin(StartError),
}

impl HostError {
    /// The exit code the binary uses: 0, 2 or 1 (see the variants).
    pub fn exit_code(&self) -> u8 {
        match self {
            HostError::Exit(_) => 0,
            HostError::Usage(_) => 2,
            HostError::Start(_) | HostError::Admin(_) => 1,
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Exit(text) | HostError::Usage(text) => f.write_str(text),
            HostError::Start(e) => e.fmt(f),
            HostError::Admin(e) => write!(f, "admin endpoints: {e}"),
        }
    }
}

impl std::error::Error for HostError {}

/// A source of environment variables (the process's, or a test's).
type Env = Box<dyn Fn(&str) -> Option<String>>;

/// Builds a [`Host`]: name and help, code defaults, then the file, environment and command
/// line layered over them by [`build`](Self::build).
///
/// Create it first thing in `main`, before starting threads: it blocks SIGINT, SIGTERM and
/// SIGHUP in the calling thread, and threads started later inherit that, so the signals reach
/// the host and never a thread's default action.
pub struct HostBuilder {
    name: String,
    version: String,
    about: String,
    help_sections: Vec<(String, String)>,
    args: Option<Vec<String>>,
    env: Option<Env>,
    defaults: HostOptions,
    signals: Signals,
}

impl HostBuilder {
    /// A builder for the program `name` (the prefix of its messages, the help's title), with
    /// the process's arguments and environment.
    pub fn new(name: impl Into<String>) -> HostBuilder {
        HostBuilder {
            name: name.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            about: "an HTTP/1.1 server on peregrine (io_uring, thread-per-core)".into(),
            help_sections: Vec::new(),
            args: None,
            env: None,
            defaults: HostOptions::default(),
            signals: Signals::block(),
        }
    }

    /// The one-line description at the top of `--help`.
    pub fn about(mut self, text: impl Into<String>) -> HostBuilder {
        self.about = text.into();
        self
    }

    /// The version `--version` prints after the name; peregrine's own by default, so pass
    /// `env!("CARGO_PKG_VERSION")` for the program's.
    pub fn version(mut self, version: impl Into<String>) -> HostBuilder {
        self.version = version.into();
        self
    }

    /// A section at the end of `--help` (e.g. the application's routes).
    pub fn help_section(mut self, title: impl Into<String>, body: impl Into<String>) -> Self {
        self.help_sections.push((title.into(), body.into()));
        self
    }

    /// Command-line arguments (without the program name) instead of the process's.
    pub fn args<S: Into<String>>(mut self, args: impl IntoIterator<Item = S>) -> HostBuilder {
        self.args = Some(args.into_iter().map(Into::into).collect());
        self
    }

    /// Environment variables from `env` instead of the process's.
    pub fn env(mut self, env: impl Fn(&str) -> Option<String> + 'static) -> HostBuilder {
        self.env = Some(Box::new(env));
        self
    }

    /// Changes the defaults in code: the lowest layer, below the file, the environment and the
    /// flags.
    pub fn configure(mut self, f: impl FnOnce(&mut HostOptions)) -> HostBuilder {
        f(&mut self.defaults);
        self
    }

    /// The help text `--help` prints.
    pub fn help(&self) -> String {
        let mut extra = vec![(
            "SYSTEMD".to_owned(),
            "Socket activation (LISTEN_FDS) is served instead of --urls; with NOTIFY_SOCKET set,\n\
             READY=1 is sent once listening and STOPPING=1 when the drain begins. SIGHUP\n\
             reloads the TLS certificates (--cert, --key, endpoint certificates)."
                .to_owned(),
        )];
        extra.extend(self.help_sections.iter().cloned());
        settings::help(&self.name, &self.about, &extra)
    }

    /// Reads the layers and checks the result: a [`Host`] ready to run, or why not.
    pub fn build(self) -> Result<Host, HostError> {
        let args = self
            .args
            .clone()
            .unwrap_or_else(|| std::env::args().skip(1).collect());
        let process_env = |k: &str| std::env::var(k).ok();
        let env: &dyn Fn(&str) -> Option<String> = match &self.env {
            Some(e) => e,
            None => &process_env,
        };
        let help = || self.help();
        let layers = match settings::parse_layers(args, env, &self.name, &self.version, &help)
            .map_err(HostError::Usage)?
        {
            Parsed::Exit(text) => return Err(HostError::Exit(text)),
            Parsed::Run(layers) => layers,
        };
        let options = resolve(self.defaults.clone(), &layers).map_err(HostError::Usage)?;
        Ok(Host {
            name: self.name,
            options,
            signals: self.signals,
        })
    }

    /// The whole of a `main`: builds, runs `app` until a stop signal, prints errors as
    /// `NAME: error: ...`, and returns the exit code (0, 1, 2; see [`HostError`]).
    pub fn main<A: Application>(self, app: A) -> ExitCode {
        let name = self.name.clone();
        match self.build().and_then(|host| host.run(app)) {
            Ok(_) => ExitCode::SUCCESS,
            Err(HostError::Exit(text)) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{name}: error: {e}");
                ExitCode::from(e.exit_code())
            }
        }
    }
}

/// Layers `layers` over `defaults` and checks the result.
fn resolve(defaults: HostOptions, layers: &Layers) -> Result<HostOptions, String> {
    let mut options = defaults;
    let mut urls_given = false;
    let mut endpoints_given = false;
    let file = layers.file.as_ref();
    for (layer, name) in [
        (file.map(|(_, c)| c), file.map(|(p, _)| p.as_str())),
        (Some(&layers.env), None),
        (Some(&layers.flags), None),
    ] {
        let Some(layer) = layer else { continue };
        urls_given |= layer.urls.is_some();
        endpoints_given |= layer.endpoints.is_some();
        options.apply(layer).map_err(|e| match name {
            Some(path) => format!("config file {path}: {e}"),
            None => e,
        })?;
    }
    // Endpoints replace the default URL, not URLs a layer gave.
    if endpoints_given && !urls_given {
        options.server.urls.clear();
    }
    options.validate()?;
    Ok(options)
}

/// A configured host: [`run`](Self::run) it with an application.
pub struct Host {
    name: String,
    options: HostOptions,
    signals: Signals,
}

impl Host {
    /// The options the layers gave.
    pub fn options(&self) -> &HostOptions {
        &self.options
    }

    /// The options, to change in code above every layer (e.g. listeners of its own).
    pub fn options_mut(&mut self) -> &mut HostOptions {
        &mut self.options
    }

    /// Starts `app` and serves until SIGINT or SIGTERM, then drains and returns the report.
    pub fn run<A: Application>(self, app: A) -> Result<StopReport, HostError> {
        Ok(self.start(app)?.wait_for_shutdown())
    }

    /// Starts `app` (and the admin endpoints), prints where it listens, and notifies systemd;
    /// [`RunningHost::wait_for_shutdown`] then waits for the stop signal.
    pub fn start<A: Application>(mut self, app: A) -> Result<RunningHost, HostError> {
        let log = lifetime::init_logging(self.options.server.access_log);
        let name = self.name;
        let notifier =
            lifetime::systemd_setup(&mut self.options.server).map_err(HostError::Usage)?;
        let options = self.options;
        let mut server = HttpServer::new(options.server.clone());
        for line in options.describe_middleware() {
            println!("{name}: {line}");
        }
        start_wrapped(&mut server, app, &options).map_err(HostError::Start)?;
        let features = server.features();
        if let Some(info) = features.get::<EngineInfo>() {
            println!(
                "{name}: {} engine, {} worker(s) pinned to CPUs {:?}",
                info.name(),
                info.workers,
                info.cpus
            );
        }
        let https = features.get::<crate::server::ServerAddresses>();
        for addr in features.addresses() {
            let url = format_url(addr);
            if https.is_some_and(|h| h.is_https(*addr)) {
                println!("{name}: listening on https{}", &url["http".len()..]);
            } else {
                println!("{name}: listening on {url}");
            }
        }
        for path in features.unix_paths() {
            println!("{name}: listening on {}", format_unix_url(path));
        }
        let mut admin = None;
        if let Some(admin_options) = options.admin_options().map_err(HostError::Usage)? {
            let metrics = features
                .get::<Arc<ServerMetrics>>()
                .expect("a started server has metrics")
                .clone();
            let mut admin_server = PortableServer::new(admin_options);
            if let Err(e) = admin_server.start(AdminApp::new(metrics)) {
                server.stop(Duration::ZERO);
                return Err(HostError::Admin(e));
            }
            for addr in admin_server.features().addresses() {
                println!(
                    "{name}: admin endpoints (/metrics, /healthz, /livez) on {}",
                    format_url(addr)
                );
            }
            admin = Some(admin_server);
        }
        println!("{name}: press Ctrl+C to stop");
        if let Some(n) = &notifier {
            let urls = features
                .get::<ServerAddresses>()
                .map(|a| a.urls().join(" "))
                .unwrap_or_default();
            if let Err(e) = n.ready(&format!("listening on {urls}")) {
                tracing::warn!(error = %e, "cannot notify the service manager (READY=1)");
            }
        }
        Ok(RunningHost {
            name,
            server,
            admin,
            notifier,
            signals: self.signals,
            shutdown_timeout: options.shutdown_timeout,
            _log: log,
        })
    }
}

/// Starts `app` in `server`, wrapped in the middleware the options ask for. Each combination
/// is its own concrete application type (monomorphised, nothing boxed): without middleware the
/// server runs `app` itself.
fn start_wrapped<A: Application>(
    server: &mut HttpServer,
    app: A,
    options: &HostOptions,
) -> Result<(), StartError> {
    let filtered = |app: A, hosts: &Vec<String>| {
        HostFiltering::new(app, hosts.iter().cloned())
            .map_err(|e| StartError::Config(format!("allowed hosts: {e}")))
    };
    match (options.forwarded_headers_options(), &options.allowed_hosts) {
        (None, None) => server.start(app),
        (None, Some(hosts)) => server.start(filtered(app, hosts)?),
        (Some(f), None) => server.start(ForwardedHeaders::new(app, f)),
        // Forwarded headers outside, so the forwarded host is the one filtered.
        (Some(f), Some(hosts)) => server.start(ForwardedHeaders::new(filtered(app, hosts)?, f)),
    }
}

/// A started host: the application's server, the admin endpoints, the signal lifetime.
pub struct RunningHost {
    name: String,
    server: HttpServer,
    admin: Option<PortableServer>,
    notifier: Option<Notifier>,
    signals: Signals,
    shutdown_timeout: Duration,
    _log: Option<lifetime::LogGuard>,
}

impl RunningHost {
    /// The application server's features (addresses, [`EngineInfo`], metrics).
    pub fn features(&self) -> &ServerFeatures {
        self.server.features()
    }

    /// Waits for SIGINT or SIGTERM (reloading certificates on SIGHUP), then stops gracefully: a
    /// second signal during the drain exits the process at once with [`FORCED_EXIT`].
    pub fn wait_for_shutdown(self) -> StopReport {
        let sig = self.signals.wait_for_stop(&self.name);
        println!(
            "{}: received {}, stopping (up to {:.1}s for in-flight requests)",
            self.name,
            lifetime::signal_name(sig),
            self.shutdown_timeout.as_secs_f64()
        );
        lifetime::force_exit_on_second_signal(self.signals, self.name.clone());
        self.stop()
    }

    /// Stops now, gracefully: tells systemd (`STOPPING=1`), drains for up to the shutdown
    /// timeout, then stops the admin endpoints (which outlive the drain, so a load balancer
    /// sees `/healthz` turn to 503). Prints and returns the report.
    pub fn stop(mut self) -> StopReport {
        if let Some(n) = &self.notifier {
            if let Err(e) = n.stopping("draining in-flight requests") {
                tracing::warn!(error = %e, "cannot notify the service manager (STOPPING=1)");
            }
        }
        let report = self.server.stop(self.shutdown_timeout);
        if let Some(mut admin) = self.admin.take() {
            admin.stop(lifetime::ADMIN_STOP);
        }
        println!("{}: {report}", self.name);
        report
    }
}

#[cfg(test)]
mod tests;
