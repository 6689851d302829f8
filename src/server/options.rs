//! Options of the socket engines: which engine, where to listen, how many workers, limits.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use super::{
    is_https, parse_listen_address, Endpoint, HttpProtocols, InheritedListener, Limits,
    ListenAddress, StartError, TlsOptions,
};

/// Settings of a socket server. `Default` listens on `http://127.0.0.1:8080` with one worker
/// per CPU the process may run on.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Which engine [`HttpServer`](crate::HttpServer) runs: `Auto` (the default) picks io_uring
    /// when the kernel allows it and the portable epoll engine otherwise.
    pub engine: EngineChoice,
    /// Listen URLs (`http://127.0.0.1:8080`, `http://[::1]:0`, `http://localhost:8080`,
    /// `http://*:8080`, `unix:/run/app.sock`; see [`ListenAddress`]).
    pub urls: Vec<String>,
    /// Worker threads; `None` means one per CPU in [`cpus`](Self::cpus) or in the process's
    /// affinity mask.
    pub workers: Option<usize>,
    /// CPUs to pin workers to, in order (worker `i` goes to `cpus[i % len]`); `None` means the
    /// CPUs of the process's affinity mask.
    pub cpus: Option<Vec<usize>>,
    /// Request and response limits.
    pub limits: Limits,
    /// Value of the `Server` response header; `None` sends none. Default `peregrine`.
    pub server_header: Option<String>,
    /// Submission queue entries per worker ring (the completion queue is 4 times larger).
    /// Default 2048.
    pub ring_entries: u32,
    /// Size in bytes of each provided receive buffer. Default 8 KiB.
    pub recv_buffer_size: usize,
    /// Provided receive buffers per worker (a power of two up to 32768). Default 2048.
    pub recv_buffer_count: u16,
    /// Listen backlog per socket. Default 4096 (capped by `net.core.somaxconn`).
    pub backlog: i32,
    /// Log every request at INFO level to the `tracing` target `peregrine::access` (client
    /// address, method, target, status, body bytes, microseconds). Default `false`: the request
    /// path then reads no clock and formats nothing.
    pub access_log: bool,
    /// Listen URLs whose connections start with a PROXY protocol (v1 or v2) header, as
    /// HAProxy's `send-proxy` or nginx's `proxy_protocol on` send: the header's client address
    /// becomes the connection's remote address. A connection whose header is malformed, or not
    /// complete within the request headers timeout, is closed. Default: none.
    pub proxy_protocol_urls: Vec<String>,
    /// File mode of the Unix sockets the server creates (e.g. `0o660`); `None` leaves what the
    /// process's umask gives. Connecting needs write permission on the socket.
    pub unix_socket_mode: Option<u32>,
    /// Listening sockets handed over by a service manager (systemd socket activation, see
    /// [`systemd::listen_fds`](super::systemd::listen_fds)). When any are given they are served
    /// instead of [`urls`](Self::urls), which are then not bound.
    pub inherited_listeners: Vec<InheritedListener>,
    /// More places to listen, each with its own settings (PROXY protocol, socket mode; later
    /// protocols and TLS): the configuration file's `[endpoints.NAME]` sections. They are
    /// bound after [`urls`](Self::urls) and [`proxy_protocol_urls`](Self::proxy_protocol_urls).
    /// Default: none.
    pub endpoints: Vec<Endpoint>,
    /// TLS settings of the `https://` URLs in [`urls`](Self::urls) (`--cert`, `--key`, ...;
    /// endpoints carry their own). Default: none, so an `https://` URL there is refused.
    pub tls: Option<TlsOptions>,
    /// How long a client may take to complete the TLS handshake before the connection is
    /// closed (Kestrel's `HandshakeTimeout`). Default 10 s.
    pub tls_handshake_timeout: Duration,
    /// The most bytes a client may send before its TLS handshake completes (its ClientHello,
    /// certificate chain and Finished); more closes the connection. Default 32 KiB.
    pub max_tls_handshake_size: usize,
    /// The HTTP versions spoken on [`urls`](Self::urls), [`proxy_protocol_urls`](Self::proxy_protocol_urls)
    /// and inherited sockets (endpoints carry their own): by default
    /// [`HttpProtocols::Http1AndHttp2`], HTTP/2 by ALPN over TLS and by its preface in
    /// cleartext.
    pub protocols: HttpProtocols,
}

/// One address to listen on, as [`ServerOptions::listen_plan`] lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Listen {
    /// Where.
    pub(crate) address: ListenAddress,
    /// Whether its connections start with a PROXY protocol header.
    pub(crate) proxy_protocol: bool,
    /// The socket file's mode, for a Unix socket.
    pub(crate) unix_socket_mode: Option<u32>,
    /// For an `https://` URL, its TLS settings' index in [`ServerOptions::tls_plan`].
    pub(crate) tls: Option<usize>,
    /// The HTTP versions spoken there.
    pub(crate) protocols: HttpProtocols,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            engine: EngineChoice::Auto,
            urls: vec!["http://127.0.0.1:8080".into()],
            workers: None,
            cpus: None,
            limits: Limits::default(),
            server_header: Some("peregrine".into()),
            ring_entries: 2048,
            recv_buffer_size: 8 * 1024,
            recv_buffer_count: 2048,
            backlog: 4096,
            access_log: false,
            proxy_protocol_urls: Vec::new(),
            unix_socket_mode: None,
            inherited_listeners: Vec::new(),
            endpoints: Vec::new(),
            tls: None,
            tls_handshake_timeout: Duration::from_secs(10),
            max_tls_handshake_size: 32 * 1024,
            protocols: HttpProtocols::default(),
        }
    }
}

impl ServerOptions {
    /// Options listening on `urls` with every other setting at its default.
    pub fn with_urls<S: Into<String>>(urls: impl IntoIterator<Item = S>) -> Self {
        ServerOptions {
            urls: urls.into_iter().map(Into::into).collect(),
            ..ServerOptions::default()
        }
    }

    /// Sets the engine.
    pub fn engine(mut self, engine: EngineChoice) -> Self {
        self.engine = engine;
        self
    }

    /// Sets the number of workers.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers);
        self
    }

    /// What every URL asks to listen on, in order, without duplicates ([`urls`](Self::urls),
    /// then [`proxy_protocol_urls`](Self::proxy_protocol_urls), then
    /// [`endpoints`](Self::endpoints)).
    pub fn listen_addresses(&self) -> Result<Vec<ListenAddress>, StartError> {
        Ok(self.listen_plan()?.into_iter().map(|l| l.address).collect())
    }

    /// Every address to listen on, whether its connections start with a PROXY protocol
    /// header, and the mode of its socket file.
    pub(crate) fn listen_plan(&self) -> Result<Vec<Listen>, StartError> {
        if self.urls.is_empty()
            && self.proxy_protocol_urls.is_empty()
            && self.endpoints.is_empty()
            && self.inherited_listeners.is_empty()
        {
            return Err(StartError::Config("no listen URL given".into()));
        }
        let mut wanted: Vec<(Listen, &str)> = Vec::new();
        let lists = [(&self.urls, false), (&self.proxy_protocol_urls, true)];
        for (urls, proxy) in lists {
            for url in urls {
                let address =
                    parse_listen_address(url).map_err(|e| StartError::Config(e.to_string()))?;
                if proxy && self.protocols == HttpProtocols::Http2 {
                    return Err(StartError::Config(format!(
                        "{url}: PROXY protocol with protocols Http2 is not supported (a PROXY \
                         protocol listener speaks HTTP/1.x)"
                    )));
                }
                let tls = if is_https(url) {
                    if proxy {
                        return Err(StartError::Config(format!(
                            "{url}: PROXY protocol on an https URL is not supported yet"
                        )));
                    }
                    match &self.tls {
                        Some(tls) => tls
                            .validate()
                            .map_err(|e| StartError::Config(format!("{url}: {e}")))?,
                        None => {
                            return Err(StartError::Config(format!(
                                "{url}: an https URL needs a certificate (--cert and --key)"
                            )))
                        }
                    }
                    if matches!(address, ListenAddress::Unix(_)) {
                        return Err(StartError::Config(format!(
                            "{url}: https over a Unix socket is not supported"
                        )));
                    }
                    Some(0)
                } else {
                    None
                };
                let listen = Listen {
                    address,
                    proxy_protocol: proxy,
                    unix_socket_mode: self.unix_socket_mode,
                    tls,
                    protocols: self.protocols,
                };
                wanted.push((listen, url));
            }
        }
        let mut next_tls = usize::from(self.urls.iter().any(|u| is_https(u)));
        for endpoint in &self.endpoints {
            let tls = endpoint.tls.as_ref().map(|_| {
                next_tls += 1;
                next_tls - 1
            });
            let listen = Listen {
                address: endpoint.address()?,
                proxy_protocol: endpoint.proxy_protocol,
                unix_socket_mode: endpoint.unix_socket_mode.or(self.unix_socket_mode),
                tls,
                protocols: endpoint.protocols,
            };
            wanted.push((listen, &endpoint.url));
        }
        let mut out: Vec<Listen> = Vec::new();
        for (listen, url) in wanted {
            // Port 0 is "any free port": the same URL in both lists is two listeners.
            let any_port = match &listen.address {
                ListenAddress::Ip(a) => a.port() == 0,
                ListenAddress::AnyIp(p) | ListenAddress::Localhost(p) => *p == 0,
                ListenAddress::Unix(_) => false,
            };
            match out.iter().find(|l| l.address == listen.address) {
                Some(l) if l.proxy_protocol != listen.proxy_protocol && !any_port => {
                    return Err(StartError::Config(format!(
                        "{url} is both a plain and a PROXY protocol listen URL"
                    )))
                }
                Some(l) if l.tls.is_some() != listen.tls.is_some() && !any_port => {
                    return Err(StartError::Config(format!(
                        "{url} is both an http and an https listen URL"
                    )))
                }
                Some(l) if l.tls.is_some() && listen.tls.is_some() && l.tls != listen.tls => {
                    if !any_port {
                        return Err(StartError::Config(format!(
                            "{url} is listed twice with different certificates"
                        )));
                    }
                    out.push(listen)
                }
                Some(l)
                    if l.proxy_protocol == listen.proxy_protocol
                        && l.tls.is_some() == listen.tls.is_some() => {}
                _ => out.push(listen),
            }
        }
        Ok(out)
    }

    /// The TLS settings of every HTTPS listener, named for messages: index 0 is
    /// [`tls`](Self::tls) when an `https://` URL is in [`urls`](Self::urls), then each endpoint
    /// with TLS, in order ([`Listen::tls`] holds these indices).
    pub(crate) fn tls_plan(&self) -> Vec<(String, TlsOptions, HttpProtocols)> {
        let mut plan = Vec::new();
        if self.urls.iter().any(|u| is_https(u)) {
            if let Some(tls) = &self.tls {
                plan.push(("urls".to_owned(), tls.clone(), self.protocols));
            }
        }
        for e in &self.endpoints {
            if let Some(tls) = &e.tls {
                plan.push((format!("endpoint {}", e.name), tls.clone(), e.protocols));
            }
        }
        plan
    }

    /// The IP socket addresses of every URL, in order, without duplicates (see
    /// [`ListenAddress::socket_addrs`]; Unix socket URLs add none).
    pub fn addresses(&self) -> Result<Vec<SocketAddr>, StartError> {
        let mut out = Vec::new();
        for addr in self
            .listen_addresses()?
            .iter()
            .flat_map(|a| a.socket_addrs())
        {
            if !out.contains(&addr) {
                out.push(addr);
            }
        }
        Ok(out)
    }

    /// Checks every setting; the error names the one at fault.
    pub fn validate(&self) -> Result<(), StartError> {
        self.listen_addresses()?;
        if self.unix_socket_mode.is_some_and(|m| m > 0o777) {
            return Err(StartError::Config(format!(
                "unix_socket_mode {:o} is not a file mode (at most 777, octal)",
                self.unix_socket_mode.unwrap_or_default()
            )));
        }
        self.limits.validate().map_err(StartError::Config)?;
        if self.tls_handshake_timeout.is_zero() {
            return Err(StartError::Config(
                "tls_handshake_timeout must be more than zero".into(),
            ));
        }
        if self.max_tls_handshake_size < 4096 {
            return Err(StartError::Config(
                "max_tls_handshake_size must be at least 4096 bytes".into(),
            ));
        }
        if self.workers == Some(0) {
            return Err(StartError::Config("workers must be at least 1".into()));
        }
        if let Some(cpus) = &self.cpus {
            if cpus.is_empty() {
                return Err(StartError::Config("the CPU list is empty".into()));
            }
        }
        if !self.recv_buffer_count.is_power_of_two() || self.recv_buffer_count > 32768 {
            return Err(StartError::Config(
                "recv_buffer_count must be a power of two up to 32768".into(),
            ));
        }
        if !(512..=1 << 20).contains(&self.recv_buffer_size) {
            return Err(StartError::Config(
                "recv_buffer_size must be from 512 bytes to 1 MiB".into(),
            ));
        }
        if !(8..=32768).contains(&self.ring_entries) {
            return Err(StartError::Config(
                "ring_entries must be from 8 to 32768".into(),
            ));
        }
        if let Some(h) = &self.server_header {
            if h.bytes().any(|b| b < 0x20 || b == 0x7f) {
                return Err(StartError::Config(
                    "the Server header value has control characters".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Which engine [`HttpServer`](crate::HttpServer) runs (`--engine`, `PEREGRINE_ENGINE`,
/// [`ServerOptions::engine`]). A server option, so choosing needs nothing from the engines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EngineChoice {
    /// io_uring when the start-up probe passes, else the portable engine, with one log line
    /// that names the reason.
    #[default]
    Auto,
    /// io_uring, or a start-up error that says why it is unavailable.
    Uring,
    /// The portable epoll engine.
    Portable,
}

impl FromStr for EngineChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(EngineChoice::Auto),
            "uring" | "io_uring" | "io-uring" => Ok(EngineChoice::Uring),
            "portable" | "epoll" => Ok(EngineChoice::Portable),
            _ => Err(format!(
                "unknown engine {s:?} (expected auto, uring or portable)"
            )),
        }
    }
}

impl EngineChoice {
    /// The name `--engine` and `PEREGRINE_ENGINE` take: `auto`, `uring` or `portable`.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineChoice::Auto => "auto",
            EngineChoice::Uring => "uring",
            EngineChoice::Portable => "portable",
        }
    }
}

impl fmt::Display for EngineChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
