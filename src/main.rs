//! The `peregrine` server binary: serves the demo application on the io_uring engine, or on the
//! portable epoll engine where io_uring is unavailable.

use std::process::ExitCode;
use std::time::Duration;

use peregrine::demo::DemoApp;
use std::net::IpAddr;
use std::sync::Arc;

use peregrine::metrics::{AdminApp, ServerMetrics};
use peregrine::middleware::{ForwardedHeaders, ForwardedHeadersOptions, HostFiltering, IpNetwork};
use peregrine::server::StartError;
use peregrine::{EngineChoice, EngineInfo, HttpServer, PortableServer, Server, ServerOptions};

const HELP: &str = "\
peregrine: an io_uring, thread-per-core HTTP/1.1 server (serving the demo application)

USAGE:
    peregrine [OPTIONS]

OPTIONS:
    --urls <URLS>            Listen URLs, separated by ';' or given several times:
                             http://IP:PORT, http://*:PORT (all interfaces),
                             http://localhost:PORT, unix:/PATH (PORT 0: any free port)
                             [default: http://127.0.0.1:8080] [env: PEREGRINE_URLS]
    --config <FILE>          TOML configuration file (see docs/hosting.md); the
                             environment and flags override it [env: PEREGRINE_CONFIG]
    --unix-socket-mode <M>   File mode of unix: sockets, octal, e.g. 660
                             [env: PEREGRINE_UNIX_SOCKET_MODE]
    --engine <ENGINE>        auto (io_uring if the kernel allows it, else portable), uring
                             or portable [default: auto] [env: PEREGRINE_ENGINE]
    --workers <N>            Worker threads, one per CPU by default [env: PEREGRINE_WORKERS]
    --cpus <LIST>            CPUs to pin workers to, e.g. 0,2-3 [env: PEREGRINE_CPUS]
    --proxy-protocol-urls <URLS>
                             More listen URLs, whose connections start with a PROXY
                             protocol v1/v2 header (from HAProxy, nginx stream, a load
                             balancer) [default: none] [env: PEREGRINE_PROXY_PROTOCOL_URLS]
    --admin-urls <URLS>      Serve /metrics (Prometheus) and /healthz on these URLs, apart
                             from the application [default: none] [env: PEREGRINE_ADMIN_URLS]
    --shutdown-timeout <S>   Seconds in-flight requests get on SIGINT/SIGTERM; a second
                             signal exits at once (code 130) [default: 30]
                             [env: PEREGRINE_SHUTDOWN_TIMEOUT]
    --no-server-header       Do not send the Server response header
    --access-log             Log every request (client, method, target, status, bytes, time)
                             to stderr at INFO [env: PEREGRINE_ACCESS_LOG=1]
    -h, --help               Print this help
    -V, --version            Print the version

BEHIND A REVERSE PROXY (docs/deploy.md):
    --forwarded-headers      Show the application the client address and scheme from the
                             X-Forwarded-For and X-Forwarded-Proto headers of trusted proxies
                             (loopback: 127.0.0.0/8 and ::1) [default: off]
                             [env: PEREGRINE_FORWARDED_HEADERS=true|false]
    --known-proxies <LIST>   Also trust these proxy addresses, e.g. 10.0.0.5,fd00::5
                             (implies --forwarded-headers) [env: PEREGRINE_KNOWN_PROXIES]
    --known-networks <LIST>  Also trust these networks, e.g. 10.0.0.0/8,fd00::/8
                             (implies --forwarded-headers) [env: PEREGRINE_KNOWN_NETWORKS]
    --allowed-hosts <LIST>   Answer 400 to requests whose Host is not one of these, e.g.
                             example.com,*.example.com [default: any]
                             [env: PEREGRINE_ALLOWED_HOSTS]

LIMITS (each also as env PEREGRINE_<NAME>, e.g. PEREGRINE_KEEP_ALIVE_TIMEOUT=60s):
    --max-request-line-size <SIZE>          [default: 8K]     longer: 414
    --max-request-headers-size <SIZE>       [default: 32K]    larger: 431
    --max-request-header-count <N>          [default: 100]    more: 431
    --max-request-body-size <SIZE|unlimited> [default: 30000000] larger: 413
    --max-response-buffer-size <SIZE>       [default: 64K]
    --request-headers-timeout <DURATION>    [default: 30s]    slower: 408
    --keep-alive-timeout <DURATION>         [default: 130s]
    --min-request-body-data-rate <RATE|off> [default: 240/5s] slower: 408
    --min-response-data-rate <RATE|off>     [default: 240/5s] slower: disconnect
    --max-connections <N|unlimited>         [default: unlimited] over: accept and close
    --max-upgraded-connections <N|unlimited> [default: unlimited] over: upgrade refused
    --bare-line-feed <reject|accept>        [default: reject] a bare LF line end: 400, or
                                            accepted as RFC 9112 2.2 permits
  SIZE: bytes, or with K/M/G (KiB/MiB/GiB); DURATION: 30s, 500ms, 2m; RATE: bytes/s[/grace]

SYSTEMD:
    Socket activation (LISTEN_FDS) is served instead of --urls; with NOTIFY_SOCKET set,
    READY=1 is sent once listening and STOPPING=1 when the drain begins.

ROUTES:
    GET /plaintext, GET /json, POST|PUT /echo, POST|PUT /upload (length and hash of the
    body), GET /whoami (client address, scheme, host), GET /bytes/N (N bytes, up to 1 GiB),
    GET / (index); 404 otherwise.
";

/// The parsed command line.
struct Cli {
    options: ServerOptions,
    shutdown_timeout: Duration,
    /// The admin endpoints' server (/metrics, /healthz), if any URL was given for it.
    admin: Option<ServerOptions>,
    /// What wraps the demo application.
    middleware: Middleware,
}

/// The middleware the flags put around the demo application; none by default.
#[derive(Default)]
struct Middleware {
    /// `--forwarded-headers`, or a trust list (which implies it).
    forwarded: Option<ForwardedHeadersOptions>,
    /// `--allowed-hosts`, already checked, and the list as given (for the banner).
    host_filtering: Option<(HostFiltering<DemoApp>, Vec<String>)>,
}

impl Middleware {
    /// Starts the demo application in `server`, wrapped as asked. Each combination is its own
    /// concrete application type (monomorphised, nothing boxed): without the flags the server
    /// runs the bare `DemoApp`, exactly as before the flags existed.
    fn start(self, server: &mut HttpServer) -> Result<(), StartError> {
        match (self.forwarded, self.host_filtering) {
            (None, None) => server.start(DemoApp),
            (None, Some((filtered, _))) => server.start(filtered),
            (Some(options), None) => server.start(ForwardedHeaders::new(DemoApp, options)),
            // Forwarded headers outside, so the forwarded host is the one filtered.
            (Some(options), Some((filtered, _))) => {
                server.start(ForwardedHeaders::new(filtered, options))
            }
        }
    }

    /// One line per middleware in use, for the startup banner.
    fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(f) = &self.forwarded {
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
        if let Some((_, hosts)) = &self.host_filtering {
            lines.push(format!("allowed hosts: {}", hosts.join(", ")));
        }
        lines
    }
}

/// The flags and variables that set [`Middleware`], before they are combined.
#[derive(Default)]
struct MiddlewareArgs {
    forwarded_headers: bool,
    known_proxies: Option<Vec<IpAddr>>,
    known_networks: Option<Vec<IpNetwork>>,
    allowed_hosts: Option<Vec<String>>,
}

impl MiddlewareArgs {
    /// Fills what no flag gave from the environment, then builds the middleware.
    fn build(mut self, env: &impl Fn(&str) -> Option<String>) -> Result<Middleware, String> {
        if !self.forwarded_headers {
            if let Some(v) = env("PEREGRINE_FORWARDED_HEADERS") {
                self.forwarded_headers =
                    parse_switch(&v).map_err(|e| format!("PEREGRINE_FORWARDED_HEADERS: {e}"))?;
            }
        }
        if self.known_proxies.is_none() {
            if let Some(v) = env("PEREGRINE_KNOWN_PROXIES") {
                self.known_proxies = Some(
                    parse_known_proxies(&v).map_err(|e| format!("PEREGRINE_KNOWN_PROXIES: {e}"))?,
                );
            }
        }
        if self.known_networks.is_none() {
            if let Some(v) = env("PEREGRINE_KNOWN_NETWORKS") {
                self.known_networks = Some(
                    parse_known_networks(&v)
                        .map_err(|e| format!("PEREGRINE_KNOWN_NETWORKS: {e}"))?,
                );
            }
        }
        let mut hosts_source = "--allowed-hosts";
        if self.allowed_hosts.is_none() {
            if let Some(v) = env("PEREGRINE_ALLOWED_HOSTS") {
                self.allowed_hosts = Some(split_list(&v).collect());
                hosts_source = "PEREGRINE_ALLOWED_HOSTS";
            }
        }
        let forwarded = (self.forwarded_headers
            || self.known_proxies.is_some()
            || self.known_networks.is_some())
        .then(|| {
            // Loopback stays trusted (the middleware's defaults); the lists add to it.
            let mut options = ForwardedHeadersOptions::default();
            options
                .known_proxies
                .extend(self.known_proxies.unwrap_or_default());
            options
                .known_networks
                .extend(self.known_networks.unwrap_or_default());
            options
        });
        let host_filtering = self
            .allowed_hosts
            .map(|hosts| HostFiltering::new(DemoApp, hosts.clone()).map(|h| (h, hosts)))
            .transpose()
            .map_err(|e| format!("{hosts_source}: {e}"))?;
        Ok(Middleware {
            forwarded,
            host_filtering,
        })
    }
}

/// The entries of a comma-separated list, trimmed, empty ones skipped.
fn split_list(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
}

fn parse_switch(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(format!("invalid value {v:?}: expected true or false")),
    }
}

fn parse_known_proxies(v: &str) -> Result<Vec<IpAddr>, String> {
    let list: Vec<IpAddr> = split_list(v)
        .map(|e| {
            let bare = e.trim_start_matches('[').trim_end_matches(']');
            bare.parse()
                .map_err(|_| format!("invalid --known-proxies entry {e:?}: expected an IP address"))
        })
        .collect::<Result<_, _>>()?;
    if list.is_empty() {
        return Err("--known-proxies: the list is empty".into());
    }
    Ok(list)
}

fn parse_known_networks(v: &str) -> Result<Vec<IpNetwork>, String> {
    let list: Vec<IpNetwork> = split_list(v)
        .map(|e| {
            e.parse()
                .map_err(|err| format!("invalid --known-networks entry {e:?}: {err}"))
        })
        .collect::<Result<_, _>>()?;
    if list.is_empty() {
        return Err("--known-networks: the list is empty".into());
    }
    Ok(list)
}

enum Parsed {
    Run(Box<Cli>),
    Exit(&'static str),
}

use peregrine::server::config::parse_cpu_list as parse_cpus;

/// The limit a `--NAME` flag sets, if it is one.
fn limit_setting(flag: &str) -> Option<&'static str> {
    let name = flag.strip_prefix("--")?;
    peregrine::server::LIMIT_SETTINGS
        .iter()
        .map(|(n, _)| *n)
        .find(|n| *n == name)
}

fn parse_workers(v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "invalid worker count {v:?}: expected a number above 0"
        )),
    }
}

fn parse_shutdown_timeout(v: &str) -> Result<Duration, String> {
    let secs: f64 = v
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s < 86_400.0)
        .ok_or_else(|| format!("invalid --shutdown-timeout {v:?}: expected seconds"))?;
    Ok(Duration::from_secs_f64(secs))
}

fn parse_mode_arg(v: &str) -> Result<u32, String> {
    peregrine::server::config::parse_mode(v).ok_or_else(|| {
        format!("invalid --unix-socket-mode {v:?}: expected an octal file mode such as 660")
    })
}

/// hosting: loads the file named by `--config` (or `PEREGRINE_CONFIG`) into `options`, and
/// returns the shutdown timeout and Unix socket mode that the environment gives, else the file
/// (so each layer overrides the one below: file < environment < flags).
fn apply_config_file(
    args: &[String],
    env: &impl Fn(&str) -> Option<String>,
    options: &mut ServerOptions,
) -> Result<(Option<Duration>, Option<u32>), String> {
    let mut path = env("PEREGRINE_CONFIG");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--config" {
            path = Some(it.next().ok_or("--config needs a value")?.clone());
        } else if let Some(p) = a.strip_prefix("--config=") {
            path = Some(p.to_owned());
        }
    }
    let mut shutdown = None;
    let mut mode = None;
    if let Some(path) = path {
        let config =
            peregrine::server::config::Config::load(path.as_ref()).map_err(|e| e.to_string())?;
        config
            .apply(options)
            .map_err(|e| format!("config file {path}: {e}"))?;
        shutdown = config.shutdown_timeout;
        mode = config.unix_socket_mode;
    }
    if let Some(v) = env("PEREGRINE_SHUTDOWN_TIMEOUT") {
        shutdown = Some(
            parse_shutdown_timeout(&v).map_err(|e| format!("PEREGRINE_SHUTDOWN_TIMEOUT: {e}"))?,
        );
    }
    if let Some(v) = env("PEREGRINE_UNIX_SOCKET_MODE") {
        mode = Some(parse_mode_arg(&v).map_err(|e| format!("PEREGRINE_UNIX_SOCKET_MODE: {e}"))?);
    }
    Ok((shutdown, mode))
}

fn split_urls(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split(';')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
}

fn parse_args(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Parsed, String> {
    let mut options = ServerOptions::default();
    let mut urls: Vec<String> = Vec::new();
    let mut workers = None;
    let mut cpus = None;
    let mut engine = None;
    let mut admin_urls: Vec<String> = Vec::new();
    let mut proxy_urls: Vec<String> = Vec::new();
    let mut shutdown_timeout = Duration::from_secs(30);
    let mut limits_given: Vec<&str> = Vec::new();
    let mut middleware = MiddlewareArgs::default();
    // hosting: the configuration file sits above the defaults and below the environment and
    // the flags, so it is applied first (see docs/hosting.md, "Precedence").
    let args: Vec<String> = args.into_iter().collect();
    let (shutdown_given, mode_given) = apply_config_file(&args, &env, &mut options)?;
    if let Some(t) = shutdown_given {
        shutdown_timeout = t;
    }
    let mut mode_flag = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Exit(HELP)),
            "-V" | "--version" => {
                return Ok(Parsed::Exit(concat!(
                    "peregrine ",
                    env!("CARGO_PKG_VERSION"),
                    "\n"
                )))
            }
            "--urls" => urls.extend(split_urls(&value("--urls")?)),
            "--admin-urls" => admin_urls.extend(split_urls(&value("--admin-urls")?)),
            "--proxy-protocol-urls" => {
                proxy_urls.extend(split_urls(&value("--proxy-protocol-urls")?))
            }
            "--engine" => engine = Some(value("--engine")?.parse::<EngineChoice>()?),
            "--workers" => workers = Some(parse_workers(&value("--workers")?)?),
            "--cpus" => cpus = Some(parse_cpus(&value("--cpus")?)?),
            "--shutdown-timeout" => {
                shutdown_timeout = parse_shutdown_timeout(&value("--shutdown-timeout")?)?;
            }
            "--no-server-header" => options.server_header = None,
            "--access-log" => options.access_log = true,
            "--forwarded-headers" => {
                middleware.forwarded_headers = match &inline {
                    Some(v) => parse_switch(v).map_err(|e| format!("--forwarded-headers: {e}"))?,
                    None => true,
                }
            }
            "--known-proxies" => middleware
                .known_proxies
                .get_or_insert_with(Vec::new)
                .extend(parse_known_proxies(&value(flag.as_str())?)?),
            "--known-networks" => middleware
                .known_networks
                .get_or_insert_with(Vec::new)
                .extend(parse_known_networks(&value(flag.as_str())?)?),
            "--allowed-hosts" => middleware
                .allowed_hosts
                .get_or_insert_with(Vec::new)
                .extend(split_list(&value(flag.as_str())?)),
            "--config" => {
                value("--config")?; // applied by `apply_config_file`
            }
            "--unix-socket-mode" => mode_flag = Some(parse_mode_arg(&value(flag.as_str())?)?),
            flag if limit_setting(flag).is_some() => {
                let name = limit_setting(flag).expect("checked");
                let v = value(flag)?;
                options.limits.set(name, &v)?;
                limits_given.push(name);
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    if urls.is_empty() {
        if let Some(v) = env("PEREGRINE_URLS") {
            urls.extend(split_urls(&v));
        }
    }
    if !urls.is_empty() {
        options.urls = urls;
    }
    if let Some(v) = env("PEREGRINE_ACCESS_LOG") {
        match v.as_str() {
            "1" | "true" | "yes" | "on" => options.access_log = true,
            "0" | "false" | "no" | "off" | "" => {}
            _ => return Err(format!("PEREGRINE_ACCESS_LOG: expected 1 or 0, got {v:?}")),
        }
    }
    if proxy_urls.is_empty() {
        if let Some(v) = env("PEREGRINE_PROXY_PROTOCOL_URLS") {
            proxy_urls.extend(split_urls(&v));
        }
    }
    if !proxy_urls.is_empty() {
        options.proxy_protocol_urls = proxy_urls;
    }
    if admin_urls.is_empty() {
        if let Some(v) = env("PEREGRINE_ADMIN_URLS") {
            admin_urls.extend(split_urls(&v));
        }
    }
    let admin = admin_options(&admin_urls).map_err(|e| format!("--admin-urls: {e}"))?;
    let middleware = middleware.build(&env)?;
    if engine.is_none() {
        if let Some(v) = env("PEREGRINE_ENGINE") {
            engine = Some(v.parse().map_err(|e| format!("PEREGRINE_ENGINE: {e}"))?);
        }
    }
    if let Some(engine) = engine {
        options.engine = engine;
    }
    if workers.is_none() {
        if let Some(v) = env("PEREGRINE_WORKERS") {
            workers = Some(parse_workers(&v).map_err(|e| format!("PEREGRINE_WORKERS: {e}"))?);
        }
    }
    if cpus.is_none() {
        if let Some(v) = env("PEREGRINE_CPUS") {
            cpus = Some(parse_cpus(&v).map_err(|e| format!("PEREGRINE_CPUS: {e}"))?);
        }
    }
    for (name, _) in peregrine::server::LIMIT_SETTINGS {
        if limits_given.contains(name) {
            continue;
        }
        let var = format!("PEREGRINE_{}", name.to_ascii_uppercase().replace('-', "_"));
        if let Some(v) = env(&var) {
            options
                .limits
                .set(name, &v)
                .map_err(|e| format!("{var}: {e}"))?;
        }
    }
    options.workers = workers.or(options.workers);
    options.cpus = cpus.or(options.cpus);
    options.unix_socket_mode = mode_flag.or(mode_given).or(options.unix_socket_mode);
    options.validate().map_err(|e| e.to_string())?;
    Ok(Parsed::Run(Box::new(Cli {
        options,
        shutdown_timeout,
        admin,
        middleware,
    })))
}

/// The admin server's options: the portable engine (it needs no io_uring and serves a scrape
/// now and then), one worker, the same validation as the main URLs. `None` when no URL is given.
fn admin_options(urls: &[String]) -> Result<Option<ServerOptions>, String> {
    if urls.is_empty() {
        return Ok(None);
    }
    let options = ServerOptions::with_urls(urls.iter().cloned()).workers(1);
    options.addresses().map_err(|e| e.to_string())?;
    Ok(Some(options))
}

/// Blocks SIGINT and SIGTERM in this thread (and the workers it starts, which inherit the
/// mask), so they can be received with `sigwait` instead of a handler.
fn block_stop_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data that sigemptyset initialises; every call gets valid pointers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

fn wait_for_signal(set: &libc::sigset_t) -> i32 {
    let mut sig = 0;
    // SAFETY: `set` was initialised by `block_stop_signals`; `sig` is a valid out-pointer.
    unsafe { libc::sigwait(set, &mut sig) };
    sig
}

/// hosting: takes the sockets systemd passed (served instead of the URLs) and the
/// `NOTIFY_SOCKET` notifier. Runs before any other thread starts (it changes the environment).
fn hosting_setup(
    options: &mut ServerOptions,
) -> Result<Option<peregrine::server::systemd::Notifier>, String> {
    use peregrine::server::systemd;
    let inherited = systemd::listen_fds().map_err(|e| format!("socket activation: {e}"))?;
    if !inherited.is_empty() {
        tracing::info!(
            sockets = inherited.len(),
            "socket-activated: serving the inherited sockets instead of the listen URLs"
        );
        options.inherited_listeners = inherited;
    }
    systemd::Notifier::from_env().map_err(|e| e.to_string())
}

/// Exit code of a stop forced by a second SIGINT/SIGTERM during the drain (128 + SIGINT, the
/// shell's code for an interrupted command).
const FORCED_EXIT: i32 = 130;

/// During the drain, a second SIGINT or SIGTERM exits at once with [`FORCED_EXIT`], abandoning
/// in-flight requests. (The signals stay blocked in every thread, so this thread's `sigwait`
/// is the one that takes it.)
fn force_exit_on_second_signal(signals: libc::sigset_t) {
    std::thread::spawn(move || {
        let sig = wait_for_signal(&signals);
        eprintln!(
            "peregrine: received a second {}, exiting now without waiting for in-flight requests",
            if sig == libc::SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            }
        );
        std::process::exit(FORCED_EXIT);
    });
}

/// Logs go to stderr: warnings by default (`RUST_LOG` sets more), plus one INFO line per request
/// under `--access-log`. Lines are written by a logging thread (`tracing-appender`), in
/// batches, so a worker formats a line and hands it over but never waits on a `write`. The
/// returned guard flushes what is queued when dropped (at exit).
fn init_logging(access_log: bool) -> tracing_appender::non_blocking::WorkerGuard {
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
        .init();
    guard
}

fn main() -> ExitCode {
    // Before any thread starts (the logging thread, workers): every thread inherits the mask,
    // so SIGINT/SIGTERM reach only `wait_for_signal`, never a thread's default action.
    let signals = block_stop_signals();
    let parsed = parse_args(std::env::args().skip(1), |k| std::env::var(k).ok());
    let _log = init_logging(matches!(&parsed, Ok(Parsed::Run(cli)) if cli.options.access_log));
    let cli = match parsed {
        Ok(Parsed::Run(cli)) => cli,
        Ok(Parsed::Exit(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("peregrine: error: {e}");
            return ExitCode::from(2);
        }
    };

    let mut cli = cli;
    // hosting: systemd socket activation and readiness notification (docs/hosting.md).
    let notifier = match hosting_setup(&mut cli.options) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("peregrine: error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut server = HttpServer::new(cli.options);
    let middleware = std::mem::take(&mut cli.middleware);
    for line in middleware.describe() {
        println!("peregrine: {line}");
    }
    if let Err(e) = middleware.start(&mut server) {
        eprintln!("peregrine: error: {e}");
        return ExitCode::from(1);
    }
    let features = server.features();
    if let Some(info) = features.get::<EngineInfo>() {
        println!(
            "peregrine: {} engine, {} worker(s) pinned to CPUs {:?}",
            info.name(),
            info.workers,
            info.cpus
        );
    }
    for addr in features.addresses() {
        println!(
            "peregrine: listening on {}",
            peregrine::server::format_url(addr)
        );
    }
    for path in features.unix_paths() {
        println!(
            "peregrine: listening on {}",
            peregrine::server::format_unix_url(path)
        );
    }
    let mut admin = None;
    if let Some(options) = cli.admin.clone() {
        let metrics = features
            .get::<Arc<ServerMetrics>>()
            .expect("a started server has metrics")
            .clone();
        let mut server = PortableServer::new(options);
        if let Err(e) = server.start(AdminApp::new(metrics)) {
            eprintln!("peregrine: error: admin endpoints: {e}");
            return ExitCode::from(1);
        }
        for addr in server.features().addresses() {
            println!(
                "peregrine: admin endpoints (/metrics, /healthz) on {}",
                peregrine::server::format_url(addr)
            );
        }
        admin = Some(server);
    }
    println!("peregrine: press Ctrl+C to stop");
    if let Some(n) = &notifier {
        let urls = features
            .get::<peregrine::ServerAddresses>()
            .map(|a| a.urls().join(" "))
            .unwrap_or_default();
        if let Err(e) = n.ready(&format!("listening on {urls}")) {
            tracing::warn!(error = %e, "cannot notify the service manager (READY=1)");
        }
    }

    let sig = wait_for_signal(&signals);
    println!(
        "peregrine: received {}, stopping (up to {:.1}s for in-flight requests)",
        if sig == libc::SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        },
        cli.shutdown_timeout.as_secs_f64()
    );
    if let Some(n) = &notifier {
        if let Err(e) = n.stopping("draining in-flight requests") {
            tracing::warn!(error = %e, "cannot notify the service manager (STOPPING=1)");
        }
    }
    force_exit_on_second_signal(signals);
    // The admin endpoints outlive the drain, so a load balancer sees /healthz turn to 503.
    let report = server.stop(cli.shutdown_timeout);
    if let Some(mut admin) = admin {
        admin.stop(Duration::from_secs(1));
    }
    println!("peregrine: {report}");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<ServerOptions, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match parse_args(args.iter().map(|s| s.to_string()), |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })? {
            Parsed::Run(cli) => Ok(cli.options),
            Parsed::Exit(_) => Err("exit".into()),
        }
    }

    #[test]
    fn defaults_and_precedence() {
        assert_eq!(parse(&[], &[]).unwrap().urls, ["http://127.0.0.1:8080"]);
        let env = [("PEREGRINE_URLS", "http://127.0.0.1:1;http://[::1]:2")];
        assert_eq!(
            parse(&[], &env).unwrap().urls,
            ["http://127.0.0.1:1", "http://[::1]:2"]
        );
        assert_eq!(
            parse(&["--urls", "http://127.0.0.1:3"], &env).unwrap().urls,
            ["http://127.0.0.1:3"]
        );
        let o = parse(
            &[
                "--urls=http://127.0.0.1:3",
                "--urls",
                "http://127.0.0.1:4",
                "--workers",
                "2",
                "--cpus",
                "0,1-1",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(o.urls.len(), 2);
        assert_eq!(o.workers, Some(2));
        assert_eq!(o.cpus, Some(vec![0, 1]));
    }

    #[test]
    fn limits_from_flags_and_environment() {
        let env = [
            ("PEREGRINE_KEEP_ALIVE_TIMEOUT", "5s"),
            ("PEREGRINE_MAX_REQUEST_BODY_SIZE", "1M"),
        ];
        let o = parse(
            &[
                "--max-request-body-size",
                "unlimited",
                "--max-connections=10",
            ],
            &env,
        )
        .unwrap();
        assert_eq!(
            o.limits.max_request_body_size, None,
            "the flag wins over the environment"
        );
        assert_eq!(o.limits.keep_alive_timeout, Duration::from_secs(5));
        assert_eq!(o.limits.max_concurrent_connections, Some(10));
    }

    fn parse_cli(args: &[&str], env: &[(&str, &str)]) -> Result<Cli, String> {
        match parse_args(args.iter().map(|s| s.to_string()), |k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })? {
            Parsed::Run(cli) => Ok(*cli),
            Parsed::Exit(_) => Err("exit".into()),
        }
    }

    #[test]
    fn config_file_is_below_environment_and_flags() {
        let dir = std::env::temp_dir().join(format!("peregrine-main-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("p.toml");
        std::fs::write(
            &file,
            "urls = \"http://127.0.0.1:1\"\nworkers = 3\nshutdown_timeout = 7\n\
             unix_socket_mode = \"600\"\nserver_header = \"file\"\n\
             [limits]\nkeep-alive-timeout = \"11s\"\nmax-connections = 5\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();

        // The file alone (named by the flag, or by the environment).
        for (args, env) in [
            (vec!["--config", path], vec![]),
            (vec![], vec![("PEREGRINE_CONFIG", path)]),
        ] {
            let cli = parse_cli(&args, &env).unwrap();
            let o = &cli.options;
            assert_eq!(o.urls, ["http://127.0.0.1:1"]);
            assert_eq!(o.workers, Some(3));
            assert_eq!(o.unix_socket_mode, Some(0o600));
            assert_eq!(o.server_header.as_deref(), Some("file"));
            assert_eq!(o.limits.keep_alive_timeout, Duration::from_secs(11));
            assert_eq!(o.limits.max_concurrent_connections, Some(5));
            assert_eq!(cli.shutdown_timeout, Duration::from_secs(7));
        }

        // The environment overrides the file.
        let env = [
            ("PEREGRINE_URLS", "http://127.0.0.1:2"),
            ("PEREGRINE_WORKERS", "2"),
            ("PEREGRINE_KEEP_ALIVE_TIMEOUT", "12s"),
            ("PEREGRINE_SHUTDOWN_TIMEOUT", "8"),
            ("PEREGRINE_UNIX_SOCKET_MODE", "640"),
        ];
        let cli = parse_cli(&["--config", path], &env).unwrap();
        assert_eq!(cli.options.urls, ["http://127.0.0.1:2"]);
        assert_eq!(cli.options.workers, Some(2));
        assert_eq!(
            cli.options.limits.keep_alive_timeout,
            Duration::from_secs(12)
        );
        assert_eq!(
            cli.options.limits.max_concurrent_connections,
            Some(5),
            "kept from the file"
        );
        assert_eq!(cli.options.unix_socket_mode, Some(0o640));
        assert_eq!(cli.shutdown_timeout, Duration::from_secs(8));

        // Flags override both.
        let cli = parse_cli(
            &[
                "--config",
                path,
                "--urls",
                "http://127.0.0.1:3",
                "--workers=1",
                "--keep-alive-timeout",
                "13s",
                "--shutdown-timeout",
                "9",
                "--unix-socket-mode",
                "0o666",
                "--no-server-header",
            ],
            &env,
        )
        .unwrap();
        assert_eq!(cli.options.urls, ["http://127.0.0.1:3"]);
        assert_eq!(cli.options.workers, Some(1));
        assert_eq!(
            cli.options.limits.keep_alive_timeout,
            Duration::from_secs(13)
        );
        assert_eq!(cli.options.unix_socket_mode, Some(0o666));
        assert_eq!(cli.options.server_header, None);
        assert_eq!(cli.shutdown_timeout, Duration::from_secs(9));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn middleware_is_off_by_default_and_trust_lists_imply_forwarded_headers() {
        let m = parse_cli(&[], &[]).unwrap().middleware;
        assert!(m.forwarded.is_none() && m.host_filtering.is_none());
        assert!(m.describe().is_empty());

        let m = parse_cli(&["--forwarded-headers"], &[]).unwrap().middleware;
        let f = m.forwarded.expect("on");
        assert_eq!(f, ForwardedHeadersOptions::default(), "loopback trusted");
        let m = parse_cli(&["--forwarded-headers=false"], &[])
            .unwrap()
            .middleware;
        assert!(m.forwarded.is_none());
        let m = parse_cli(&[], &[("PEREGRINE_FORWARDED_HEADERS", "true")])
            .unwrap()
            .middleware;
        assert!(m.forwarded.is_some());

        let m = parse_cli(
            &[
                "--known-proxies",
                "10.0.0.5, [fd00::5]",
                "--known-proxies=10.0.0.6",
            ],
            &[("PEREGRINE_KNOWN_NETWORKS", "192.168.0.0/16")],
        )
        .unwrap()
        .middleware;
        let f = m.forwarded.expect("implied");
        for trusted in [
            "127.0.0.1",
            "::1",
            "10.0.0.5",
            "fd00::5",
            "10.0.0.6",
            "192.168.7.7",
        ] {
            assert!(f.is_trusted(trusted.parse().unwrap()), "{trusted}");
        }
        assert!(!f.is_trusted("10.0.0.7".parse().unwrap()));

        // The flag replaces the environment's list.
        let m = parse_cli(
            &["--known-networks", "10.0.0.0/8"],
            &[("PEREGRINE_KNOWN_NETWORKS", "192.168.0.0/16")],
        )
        .unwrap()
        .middleware;
        let f = m.forwarded.expect("implied");
        assert!(f.is_trusted("10.1.2.3".parse().unwrap()));
        assert!(!f.is_trusted("192.168.7.7".parse().unwrap()));

        let m = parse_cli(
            &[],
            &[("PEREGRINE_ALLOWED_HOSTS", "example.com,*.example.com")],
        )
        .unwrap()
        .middleware;
        assert!(m.forwarded.is_none());
        assert_eq!(m.describe(), ["allowed hosts: example.com, *.example.com"]);
    }

    #[test]
    fn bad_input_is_named() {
        for (args, env, want) in [
            (&["--bogus"][..], &[][..], "unknown argument \"--bogus\""),
            (&["--workers", "0"], &[], "invalid worker count \"0\""),
            (&["--engine", "iouring"], &[], "unknown engine \"iouring\""),
            (&["--admin-urls", "ftp://x:1"], &[], "--admin-urls: "),
            (
                &[],
                &[("PEREGRINE_ACCESS_LOG", "maybe")],
                "PEREGRINE_ACCESS_LOG: expected 1 or 0",
            ),
            (
                &[
                    "--urls",
                    "http://127.0.0.1:9",
                    "--proxy-protocol-urls",
                    "http://127.0.0.1:9",
                ],
                &[],
                "is both a plain and a PROXY protocol listen URL",
            ),
            (
                &[],
                &[("PEREGRINE_ENGINE", "kqueue")],
                "PEREGRINE_ENGINE: unknown engine",
            ),
            (&["--workers"], &[], "--workers needs a value"),
            (
                &["--urls", "127.0.0.1:80"],
                &[],
                "invalid listen URL \"127.0.0.1:80\"",
            ),
            (&["--cpus", "3-1"], &[], "invalid CPU list"),
            (
                &["--shutdown-timeout", "-1"],
                &[],
                "invalid --shutdown-timeout",
            ),
            (
                &[],
                &[("PEREGRINE_WORKERS", "x")],
                "PEREGRINE_WORKERS: invalid worker count",
            ),
            (
                &["--keep-alive-timeout", "soon"],
                &[],
                "invalid keep-alive-timeout \"soon\"",
            ),
            (
                &["--max-connections", "0"],
                &[],
                "max_concurrent_connections must be at least 1",
            ),
            (
                &["--config", "/nonexistent/p.toml"],
                &[],
                "config file /nonexistent/p.toml: cannot read it",
            ),
            (&["--config"], &[], "--config needs a value"),
            (
                &["--unix-socket-mode", "999"],
                &[],
                "invalid --unix-socket-mode \"999\"",
            ),
            (
                &[],
                &[("PEREGRINE_UNIX_SOCKET_MODE", "rw")],
                "PEREGRINE_UNIX_SOCKET_MODE: invalid --unix-socket-mode",
            ),
            (
                &[],
                &[("PEREGRINE_SHUTDOWN_TIMEOUT", "soon")],
                "PEREGRINE_SHUTDOWN_TIMEOUT: invalid --shutdown-timeout",
            ),
            (
                &["--urls", "unix:run.sock"],
                &[],
                "a Unix socket path must be absolute",
            ),
            (
                &[],
                &[("PEREGRINE_MAX_REQUEST_BODY_SIZE", "big")],
                "PEREGRINE_MAX_REQUEST_BODY_SIZE: invalid max-request-body-size",
            ),
            (
                &["--forwarded-headers=maybe"],
                &[],
                "--forwarded-headers: invalid value \"maybe\"",
            ),
            (
                &[],
                &[("PEREGRINE_FORWARDED_HEADERS", "maybe")],
                "PEREGRINE_FORWARDED_HEADERS: invalid value \"maybe\"",
            ),
            (
                &["--known-proxies", "10.0.0.1,proxy.internal"],
                &[],
                "invalid --known-proxies entry \"proxy.internal\"",
            ),
            (&["--known-proxies", ","], &[], "the list is empty"),
            (&["--known-proxies"], &[], "--known-proxies needs a value"),
            (
                &[],
                &[("PEREGRINE_KNOWN_PROXIES", "1.2.3")],
                "PEREGRINE_KNOWN_PROXIES: invalid --known-proxies entry",
            ),
            (
                &["--known-networks", "10.0.0.0/33"],
                &[],
                "invalid --known-networks entry \"10.0.0.0/33\"",
            ),
            (
                &[],
                &[("PEREGRINE_KNOWN_NETWORKS", "10.0.0.0")],
                "PEREGRINE_KNOWN_NETWORKS: invalid --known-networks entry",
            ),
            (
                &["--allowed-hosts", "exa mple.com"],
                &[],
                "--allowed-hosts: invalid allowed host",
            ),
            (
                &[],
                &[("PEREGRINE_ALLOWED_HOSTS", " , ")],
                "PEREGRINE_ALLOWED_HOSTS: no allowed hosts",
            ),
        ] {
            let e = parse(args, env).unwrap_err();
            assert!(e.contains(want), "{args:?}: {e}");
        }
    }
}
