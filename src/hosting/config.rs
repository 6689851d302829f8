//! The configuration file layer (TOML; `--config FILE` or `PEREGRINE_CONFIG`).
//!
//! ```toml
//! urls = ["http://*:8080", "unix:/run/peregrine/http.sock"]   # or one string, ';'-separated
//! workers = 4
//! cpus = [0, 1, 2, 3]              # or "0-3"
//! engine = "auto"                  # or "uring", "portable"
//! protocols = "Http1AndHttp2"      # of urls: or "Http1", "Http2" (endpoints have their own)
//! shutdown_timeout = "30s"         # or seconds: 30, 2.5
//! server_header = "peregrine"      # or false: send none
//! unix_socket_mode = "660"         # octal digits in a string, or an integer such as 0o660
//! access_log = false
//! admin_urls = ["http://127.0.0.1:9090"]
//! proxy_protocol_urls = []
//! forwarded_headers = true         # trust loopback proxies' X-Forwarded-For/-Proto
//! known_proxies = ["10.0.0.5"]     # or one string, ','-separated (implies forwarded_headers)
//! known_networks = ["10.0.0.0/8"]  # likewise
//! allowed_hosts = ["example.com", "*.example.com"]
//!
//! [limits]                         # the names of the limit flags (`_` may stand for `-`)
//! max-request-body-size = "10M"
//! keep-alive-timeout = "60s"
//! max-connections = 10000
//!
//! [endpoints.public]               # Kestrel's Endpoints section: one table per endpoint
//! url = "http://*:8080"
//! protocols = "Http2"              # Http1, Http2 or Http1AndHttp2 (the default)
//! [endpoints.haproxy]
//! url = "unix:/run/peregrine/proxy.sock"
//! proxy_protocol = true
//! unix_socket_mode = "660"
//! ```
//!
//! Precedence, lowest first: the defaults, the file, the environment (`PEREGRINE_*`), the
//! command line ([`HostBuilder`](super::HostBuilder)). An unknown key, a value of the wrong
//! type or an invalid value is an error that names the file and the key. The values that flags
//! also take are parsed by the flags' own parsers (`super::settings`).

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::settings;
use crate::middleware::IpNetwork;
use crate::server::{
    parse_listen_address, CertificateFiles, ClientCertificateMode, Endpoint, EngineChoice,
    HttpProtocols, ServerOptions, TlsOptions, LIMIT_SETTINGS,
};

/// A configuration file that could not be read or understood; the message names the file and
/// the key at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    file: String,
    problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config file {}: {}", self.file, self.problem)
    }
}

impl std::error::Error for ConfigError {}

/// The settings one configuration layer gives (the file, the environment or the command line);
/// `None` (or empty) for what it leaves out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// The engine.
    pub engine: Option<EngineChoice>,
    /// The HTTP versions spoken on `urls` (`--protocols`).
    pub protocols: Option<HttpProtocols>,
    /// Whether every request is logged.
    pub access_log: Option<bool>,
    /// Listen URLs of the admin endpoints (`/metrics`, `/healthz`, `/livez`).
    pub admin_urls: Option<Vec<String>>,
    /// Listen URLs whose connections start with a PROXY protocol header.
    pub proxy_protocol_urls: Option<Vec<String>>,
    /// Whether forwarded headers from trusted proxies are applied.
    pub forwarded_headers: Option<bool>,
    /// More trusted proxy addresses (they imply `forwarded_headers`).
    pub known_proxies: Option<Vec<IpAddr>>,
    /// More trusted proxy networks (they imply `forwarded_headers`).
    pub known_networks: Option<Vec<IpNetwork>>,
    /// Allowed `Host` values (host filtering).
    pub allowed_hosts: Option<Vec<String>>,
    /// The `[endpoints.NAME]` sections, sorted by name.
    pub endpoints: Option<Vec<Endpoint>>,
    /// Listen URLs.
    pub urls: Option<Vec<String>>,
    /// Worker threads.
    pub workers: Option<usize>,
    /// CPUs to pin workers to.
    pub cpus: Option<Vec<usize>>,
    /// Time in-flight requests get when the server is told to stop.
    pub shutdown_timeout: Option<Duration>,
    /// The `Server` header: `Some(None)` sends none.
    pub server_header: Option<Option<String>>,
    /// File mode of the Unix sockets the server creates.
    pub unix_socket_mode: Option<u32>,
    /// Limits as `(setting name, value)`, applied with [`Limits::set`](crate::server::Limits::set).
    pub limits: Vec<(&'static str, String)>,
    /// The PEM certificate chain of the `https://` URLs in `urls`.
    pub cert: Option<PathBuf>,
    /// Its PEM private key.
    pub key: Option<PathBuf>,
    /// Whether clients of those URLs are asked for certificates.
    pub client_certificate_mode: Option<ClientCertificateMode>,
    /// The CA bundle client certificates must chain to.
    pub client_ca: Option<PathBuf>,
    /// How long a TLS handshake may take.
    pub tls_handshake_timeout: Option<Duration>,
}

/// The file's shape; the values that take several forms stay TOML values and are checked by
/// hand so the error can say what was expected.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    urls: Option<toml::Value>,
    engine: Option<String>,
    protocols: Option<String>,
    access_log: Option<bool>,
    admin_urls: Option<toml::Value>,
    proxy_protocol_urls: Option<toml::Value>,
    forwarded_headers: Option<bool>,
    known_proxies: Option<toml::Value>,
    known_networks: Option<toml::Value>,
    allowed_hosts: Option<toml::Value>,
    endpoints: Option<toml::Table>,
    workers: Option<usize>,
    cpus: Option<toml::Value>,
    shutdown_timeout: Option<toml::Value>,
    server_header: Option<toml::Value>,
    unix_socket_mode: Option<toml::Value>,
    limits: Option<toml::Table>,
    cert: Option<String>,
    key: Option<String>,
    client_certificate_mode: Option<String>,
    client_ca: Option<String>,
    tls_handshake_timeout: Option<toml::Value>,
}

/// One `[endpoints.NAME]` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    url: String,
    protocols: Option<String>,
    proxy_protocol: Option<bool>,
    unix_socket_mode: Option<toml::Value>,
    /// Kestrel's `Certificate: { Path, KeyPath }`.
    certificate: Option<RawCertificate>,
    /// More certificates by server name: `[endpoints.NAME.sni."*.example.com"]`.
    sni: Option<std::collections::BTreeMap<String, RawCertificate>>,
    client_certificate_mode: Option<String>,
    client_ca: Option<String>,
}

/// A `certificate` table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCertificate {
    path: String,
    key_path: String,
}

/// A list given as a TOML array of strings or as one string (`sep`-separated), as text the
/// flags' parsers take.
fn list_text(v: &toml::Value, sep: &str) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Array(a) => a
            .iter()
            .map(|e| e.as_str())
            .collect::<Option<Vec<_>>>()
            .map(|l| l.join(sep)),
        _ => None,
    }
}

/// A file mode: octal digits in a string, or an integer (write `0o660`).
fn mode_value(v: &toml::Value) -> Option<u32> {
    match v {
        toml::Value::String(s) => parse_mode(s),
        toml::Value::Integer(m) => u32::try_from(*m).ok().filter(|m| *m <= 0o777),
        _ => None,
    }
}

impl Config {
    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: file.clone(),
            problem: format!("cannot read it: {e}"),
        })?;
        Config::parse(&text, &file)
    }

    /// Parses `text`; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let err = |problem: String| ConfigError {
            file: file.to_owned(),
            problem,
        };
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let msg = e
                .message()
                .trim()
                .replace("unknown field", "unknown key")
                .replace('\n', "; ");
            // The span of an unknown key is its whole table: find the key's own line instead.
            let unknown = msg
                .strip_prefix("unknown key `")
                .and_then(|m| m.split_once('`'))
                .map(|(k, _)| k);
            let line = match unknown {
                Some(key) => text
                    .lines()
                    .position(|l| {
                        l.trim_start()
                            .strip_prefix(key)
                            .is_some_and(|r| r.trim_start().starts_with('='))
                    })
                    .map(|i| i + 1),
                None => e
                    .span()
                    .map(|s| text[..s.start.min(text.len())].lines().count().max(1)),
            };
            err(match line {
                Some(l) => format!("line {l}: {msg}"),
                None => msg,
            })
        })?;
        let mut c = Config {
            workers: raw.workers,
            access_log: raw.access_log,
            forwarded_headers: raw.forwarded_headers,
            ..Config::default()
        };
        if let Some(v) = raw.engine {
            c.engine = Some(v.parse().map_err(|e| err(format!("engine: {e}")))?);
        }
        if let Some(v) = raw.protocols {
            c.protocols = Some(v.parse().map_err(err)?);
        }
        for (key, value, slot) in [
            ("admin_urls", raw.admin_urls, &mut c.admin_urls),
            (
                "proxy_protocol_urls",
                raw.proxy_protocol_urls,
                &mut c.proxy_protocol_urls,
            ),
        ] {
            if let Some(v) = value {
                let text = list_text(&v, ";")
                    .ok_or_else(|| err(format!("{key}: expected a string or a list of strings")))?;
                let urls: Vec<String> = settings::split_urls(&text).collect();
                for u in &urls {
                    parse_listen_address(u).map_err(|e| err(format!("{key}: {e}")))?;
                }
                *slot = Some(urls);
            }
        }
        // The list keys: a string (comma-separated) or an array of strings, parsed as the flag is.
        fn list<T>(
            v: Option<toml::Value>,
            key: &str,
            parse: fn(&str) -> Result<T, String>,
        ) -> Result<Option<T>, String> {
            let Some(v) = v else { return Ok(None) };
            let text = list_text(&v, ",")
                .ok_or_else(|| format!("{key}: expected a string or a list of strings"))?;
            parse(&text).map(Some).map_err(|e| format!("{key}: {e}"))
        }
        c.known_proxies = list(
            raw.known_proxies,
            "known_proxies",
            settings::parse_known_proxies,
        )
        .map_err(err)?;
        c.known_networks = list(
            raw.known_networks,
            "known_networks",
            settings::parse_known_networks,
        )
        .map_err(err)?;
        c.allowed_hosts = list(
            raw.allowed_hosts,
            "allowed_hosts",
            settings::parse_allowed_hosts,
        )
        .map_err(err)?;
        if let Some(table) = raw.endpoints {
            let mut endpoints = Vec::new();
            for (name, value) in table {
                endpoints.push(
                    endpoint(&name, value).map_err(|e| err(format!("[endpoints.{name}]: {e}")))?,
                );
            }
            c.endpoints = Some(endpoints);
        }
        if let Some(v) = raw.urls {
            let urls: Vec<String> = match &v {
                toml::Value::String(s) => s
                    .split(';')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(str::to_owned)
                    .collect(),
                toml::Value::Array(a) => a
                    .iter()
                    .map(|u| u.as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .ok_or_else(|| err("urls: expected a list of strings".into()))?,
                _ => return Err(err("urls: expected a string or a list of strings".into())),
            };
            for u in &urls {
                parse_listen_address(u).map_err(|e| err(format!("urls: {e}")))?;
            }
            c.urls = Some(urls);
        }
        if let Some(v) = raw.cpus {
            c.cpus = Some(match &v {
                toml::Value::String(s) => {
                    parse_cpu_list(s).map_err(|e| err(format!("cpus: {e}")))?
                }
                toml::Value::Array(a) => a
                    .iter()
                    .map(|c| c.as_integer().and_then(|c| usize::try_from(c).ok()))
                    .collect::<Option<_>>()
                    .filter(|v: &Vec<usize>| !v.is_empty())
                    .ok_or_else(|| err("cpus: expected a non-empty list of CPU numbers".into()))?,
                _ => return Err(err("cpus: expected a list such as [0, 1] or \"0-3\"".into())),
            });
        }
        c.cert = raw.cert.map(PathBuf::from);
        c.key = raw.key.map(PathBuf::from);
        c.client_ca = raw.client_ca.map(PathBuf::from);
        if let Some(m) = raw.client_certificate_mode {
            c.client_certificate_mode = Some(
                m.parse()
                    .map_err(|e| err(format!("client_certificate_mode: {e}")))?,
            );
        }
        if let Some(v) = raw.tls_handshake_timeout {
            let t = match &v {
                toml::Value::Integer(s) => u64::try_from(*s).ok().map(Duration::from_secs),
                toml::Value::Float(s) if s.is_finite() && *s >= 0.0 && *s < 86_400.0 => {
                    Some(Duration::from_secs_f64(*s))
                }
                toml::Value::String(s) => crate::server::parse_duration(s.trim()),
                _ => None,
            }
            .filter(|t| !t.is_zero());
            c.tls_handshake_timeout = Some(t.ok_or_else(|| {
                err(format!(
                    "tls_handshake_timeout {v}: expected seconds or a duration such as \"10s\""
                ))
            })?);
        }
        if let Some(v) = raw.shutdown_timeout {
            let t = match &v {
                toml::Value::Integer(s) => u64::try_from(*s).ok().map(Duration::from_secs),
                toml::Value::Float(s) if s.is_finite() && *s >= 0.0 && *s < 86_400.0 => {
                    Some(Duration::from_secs_f64(*s))
                }
                toml::Value::String(s) => crate::server::parse_duration(s.trim()),
                _ => None,
            };
            c.shutdown_timeout = Some(t.ok_or_else(|| {
                err(format!(
                    "shutdown_timeout {v}: expected seconds or a duration such as \"30s\""
                ))
            })?);
        }
        if let Some(v) = raw.server_header {
            c.server_header = Some(match v {
                toml::Value::String(s) => Some(s),
                toml::Value::Boolean(false) => None,
                toml::Value::Boolean(true) => ServerOptions::default().server_header,
                _ => return Err(err("server_header: expected a string or false".into())),
            });
        }
        if let Some(v) = raw.unix_socket_mode {
            let mode = mode_value(&v);
            c.unix_socket_mode = Some(mode.ok_or_else(|| {
                err(format!(
                    "unix_socket_mode {v}: expected a file mode such as \"660\" or 0o660"
                ))
            })?);
        }
        for (key, value) in raw.limits.unwrap_or_default() {
            let name = LIMIT_SETTINGS
                .iter()
                .map(|(n, _)| *n)
                .find(|n| *n == key.replace('_', "-"))
                .ok_or_else(|| {
                    err(format!(
                        "[limits]: unknown key `{key}` (known: {})",
                        LIMIT_SETTINGS
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(n) => n.to_string(),
                other => {
                    return Err(err(format!(
                        "[limits] {key} = {other}: expected a string or a number"
                    )))
                }
            };
            // Checked now, so the error names the file.
            crate::server::Limits::default()
                .set(name, &text)
                .map_err(|e| err(format!("[limits]: {e}")))?;
            c.limits.push((name, text));
        }
        Ok(c)
    }

    /// Applies the server settings of this layer over `options` (everything it gives replaces
    /// what is there). The host's own settings (shutdown timeout, admin URLs, middleware) are
    /// applied by [`HostOptions::apply`](super::HostOptions::apply).
    pub fn apply(&self, options: &mut ServerOptions) -> Result<(), String> {
        if let Some(urls) = &self.urls {
            options.urls = urls.clone();
        }
        if let Some(engine) = self.engine {
            options.engine = engine;
        }
        if let Some(protocols) = self.protocols {
            options.protocols = protocols;
        }
        if self.workers.is_some() {
            options.workers = self.workers;
        }
        if self.cpus.is_some() {
            options.cpus = self.cpus.clone();
        }
        if let Some(h) = &self.server_header {
            options.server_header = h.clone();
        }
        if self.unix_socket_mode.is_some() {
            options.unix_socket_mode = self.unix_socket_mode;
        }
        if let Some(on) = self.access_log {
            options.access_log = on;
        }
        if let Some(urls) = &self.proxy_protocol_urls {
            options.proxy_protocol_urls = urls.clone();
        }
        if let Some(endpoints) = &self.endpoints {
            options.endpoints = endpoints.clone();
        }
        for (name, value) in &self.limits {
            options.limits.set(name, value)?;
        }
        if self.cert.is_some()
            || self.key.is_some()
            || self.client_ca.is_some()
            || self.client_certificate_mode.is_some()
        {
            let tls = options.tls.get_or_insert_with(TlsOptions::default);
            let files = tls
                .certificate
                .get_or_insert_with(|| CertificateFiles::new("", ""));
            if let Some(cert) = &self.cert {
                files.path = cert.clone();
            }
            if let Some(key) = &self.key {
                files.key_path = key.clone();
            }
            if files.path.as_os_str().is_empty() {
                tls.certificate = None;
            }
            if self.client_ca.is_some() {
                tls.client_ca = self.client_ca.clone();
            }
            if let Some(m) = self.client_certificate_mode {
                tls.client_certificate_mode = m;
            }
        }
        if let Some(t) = self.tls_handshake_timeout {
            options.tls_handshake_timeout = t;
        }
        Ok(())
    }
}

/// One `[endpoints.NAME]` table, checked.
fn endpoint(name: &str, value: toml::Value) -> Result<Endpoint, String> {
    let raw: RawEndpoint = value.try_into().map_err(|e: toml::de::Error| {
        e.message()
            .trim()
            .replace("unknown field", "unknown key")
            .replace('\n', "; ")
    })?;
    let mut e = Endpoint::new(name, raw.url);
    let any_tls = raw.certificate.is_some()
        || raw.sni.is_some()
        || raw.client_certificate_mode.is_some()
        || raw.client_ca.is_some();
    if any_tls {
        let mut tls = TlsOptions {
            certificate: raw
                .certificate
                .map(|c| CertificateFiles::new(c.path, c.key_path)),
            sni: raw
                .sni
                .unwrap_or_default()
                .into_iter()
                .map(|(n, c)| (n, CertificateFiles::new(c.path, c.key_path)))
                .collect(),
            client_ca: raw.client_ca.map(PathBuf::from),
            ..TlsOptions::default()
        };
        if let Some(m) = raw.client_certificate_mode {
            tls.client_certificate_mode = m.parse()?;
        }
        e.tls = Some(tls);
    }
    if let Some(p) = raw.protocols {
        e.protocols = p.parse::<HttpProtocols>()?;
    }
    e.proxy_protocol = raw.proxy_protocol.unwrap_or(false);
    if let Some(v) = raw.unix_socket_mode {
        e.unix_socket_mode = Some(mode_value(&v).ok_or_else(|| {
            format!("unix_socket_mode {v}: expected a file mode such as \"660\" or 0o660")
        })?);
    }
    e.address().map_err(|e| {
        let msg = e.to_string();
        // "invalid configuration: endpoint NAME: why" -> "why": the caller names the table.
        msg.split_once(&format!("endpoint {name}: "))
            .map(|(_, why)| why.to_owned())
            .unwrap_or(msg)
    })?;
    Ok(e)
}

/// Parses a file mode written in octal: `660`, `0660`, `0o660`.
pub fn parse_mode(v: &str) -> Option<u32> {
    let v = v.trim();
    let digits = v.strip_prefix("0o").unwrap_or(v);
    if digits.is_empty() {
        return None;
    }
    u32::from_str_radix(digits, 8).ok().filter(|m| *m <= 0o777)
}

/// Parses a CPU list such as `0,2-3`.
pub fn parse_cpu_list(list: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("invalid CPU list {list:?}: expected e.g. 0,2-3");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b {
                    return Err(bad());
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    if cpus.is_empty() {
        return Err(format!("invalid CPU list {list:?}: it is empty"));
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, "test.toml").map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_file() {
        let c = parse(
            r#"
urls = ["http://*:8080", "unix:/run/p.sock"]
workers = 4
cpus = [0, 1]
shutdown_timeout = "2.5s"
server_header = "edge"
unix_socket_mode = "660"

[limits]
max-request-body-size = "10M"
keep_alive_timeout = 60
max-connections = 100
min-response-data-rate = "off"
"#,
        )
        .unwrap();
        assert_eq!(
            c.urls.as_deref(),
            Some(&["http://*:8080".to_owned(), "unix:/run/p.sock".to_owned()][..])
        );
        assert_eq!(c.workers, Some(4));
        assert_eq!(c.cpus, Some(vec![0, 1]));
        assert_eq!(c.shutdown_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(c.server_header, Some(Some("edge".into())));
        assert_eq!(c.unix_socket_mode, Some(0o660));

        let mut o = ServerOptions::default();
        c.apply(&mut o).unwrap();
        assert_eq!(o.workers, Some(4));
        assert_eq!(o.server_header.as_deref(), Some("edge"));
        assert_eq!(o.limits.max_request_body_size, Some(10 << 20));
        assert_eq!(o.limits.keep_alive_timeout, Duration::from_secs(60));
        assert_eq!(o.limits.max_concurrent_connections, Some(100));
        assert_eq!(o.limits.min_response_data_rate, None);
        assert_eq!(o.unix_socket_mode, Some(0o660));
        o.validate().unwrap();
    }

    #[test]
    fn other_value_forms() {
        let c = parse(
            "urls = \"http://127.0.0.1:1; http://[::1]:2\"\ncpus = \"0-2\"\nshutdown_timeout = 3\n\
             server_header = false\nunix_socket_mode = 0o600\n",
        )
        .unwrap();
        assert_eq!(c.urls.unwrap().len(), 2);
        assert_eq!(c.cpus, Some(vec![0, 1, 2]));
        assert_eq!(c.shutdown_timeout, Some(Duration::from_secs(3)));
        assert_eq!(c.server_header, Some(None));
        assert_eq!(c.unix_socket_mode, Some(0o600));
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        for (text, want) in [
            ("bogus = 1", "unknown key `bogus`"),
            (
                "workers = 2\nfrobnicate = true",
                "line 2: unknown key `frobnicate`",
            ),
            (
                "[limits]\nmax-bogus-size = 1",
                "[limits]: unknown key `max-bogus-size`",
            ),
            (
                "[limits]\nkeep-alive-timeout = \"soon\"",
                "invalid keep-alive-timeout \"soon\"",
            ),
            (
                "[limits]\nmax-connections = true",
                "[limits] max-connections = true",
            ),
            ("workers = \"four\"", "line 1: invalid type"),
            ("workers = -1", "line 1:"),
            ("urls = 5", "urls: expected a string or a list"),
            ("urls = [\"ftp://127.0.0.1:1\"]", "urls: invalid listen URL"),
            ("cpus = \"3-1\"", "cpus: invalid CPU list"),
            ("cpus = []", "cpus: expected a non-empty list"),
            ("shutdown_timeout = \"later\"", "shutdown_timeout \"later\""),
            (
                "server_header = 1",
                "server_header: expected a string or false",
            ),
            ("unix_socket_mode = \"999\"", "unix_socket_mode \"999\""),
            ("unix_socket_mode = 660", "unix_socket_mode 660"),
            ("urls = [", "line 1:"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.starts_with("config file test.toml: "), "{text}: {e}");
            assert!(e.contains(want), "{text}: {e}");
            assert_eq!(e.lines().count(), 1, "one line: {e}");
        }
        let e = Config::load(Path::new("/nonexistent/peregrine.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/nonexistent/peregrine.toml: cannot read it"),
            "{e}"
        );
    }

    #[test]
    fn modes_and_cpu_lists() {
        assert_eq!(parse_mode("660"), Some(0o660));
        assert_eq!(parse_mode("0o600"), Some(0o600));
        assert_eq!(parse_mode("0777"), Some(0o777));
        for bad in ["", "0o", "8", "1777", "rw"] {
            assert_eq!(parse_mode(bad), None, "{bad}");
        }
        assert_eq!(parse_cpu_list("0,2-3").unwrap(), vec![0, 2, 3]);
        assert!(parse_cpu_list(" , ").unwrap_err().contains("empty"));
    }

    #[test]
    fn https_endpoints_and_certificate_keys() {
        let c = parse(
            "cert = \"/etc/tls/chain.pem\"\nkey = \"/etc/tls/key.pem\"\n\
             tls_handshake_timeout = \"5s\"\n\
             [endpoints.secure]\nurl = \"https://*:8443\"\n\
             client_certificate_mode = \"AllowCertificate\"\nclient_ca = \"ca.pem\"\n\
             [endpoints.secure.certificate]\npath = \"a.pem\"\nkey_path = \"a-key.pem\"\n\
             [endpoints.secure.sni.\"*.example.com\"]\npath = \"w.pem\"\nkey_path = \"w-key.pem\"\n",
        )
        .unwrap();
        let e = &c.endpoints.as_ref().unwrap()[0];
        assert_eq!(
            e,
            &Endpoint::new("secure", "https://*:8443").tls(
                TlsOptions::new(CertificateFiles::new("a.pem", "a-key.pem"))
                    .sni("*.example.com", CertificateFiles::new("w.pem", "w-key.pem"))
                    .client_certificates(ClientCertificateMode::AllowCertificate, "ca.pem")
            )
        );
        let mut options = ServerOptions::with_urls(["https://127.0.0.1:0"]);
        c.apply(&mut options).unwrap();
        assert_eq!(
            options.tls,
            Some(TlsOptions::new(CertificateFiles::new(
                "/etc/tls/chain.pem",
                "/etc/tls/key.pem"
            )))
        );
        assert_eq!(options.tls_handshake_timeout, Duration::from_secs(5));
        options.validate().unwrap();
        // A certificate without its key is named.
        let mut options = ServerOptions::with_urls(["https://127.0.0.1:0"]);
        parse("cert = \"c.pem\"")
            .unwrap()
            .apply(&mut options)
            .unwrap();
        let e = options.validate().unwrap_err().to_string();
        assert!(e.contains("certificate c.pem has no key"), "{e}");
    }

    #[test]
    fn endpoint_sections() {
        let c = parse(
            "[endpoints.a]\nurl = \"http://127.0.0.1:8080\"\nprotocols = \"Http2\"\n\
             [endpoints.b]\nurl = \"unix:/run/b.sock\"\nproxy_protocol = true\n\
             unix_socket_mode = 0o600\n",
        )
        .unwrap();
        let e = c.endpoints.unwrap();
        assert_eq!(
            e[0],
            Endpoint::new("a", "http://127.0.0.1:8080").protocols(HttpProtocols::Http2)
        );
        assert_eq!(
            e[1],
            Endpoint::new("b", "unix:/run/b.sock")
                .proxy_protocol(true)
                .unix_socket_mode(0o600)
        );
        for (text, want) in [
            ("[endpoints.a]\nport = 1", "[endpoints.a]: unknown key `port`"),
            ("[endpoints.a]\nproxy_protocol = true", "[endpoints.a]: missing field `url`"),
            (
                "[endpoints.a]\nurl = \"http://x.example:1\"",
                "[endpoints.a]: invalid listen URL",
            ),
            (
                "[endpoints.a]\nurl = \"http://127.0.0.1:1\"\nprotocols = \"Http3\"",
                "[endpoints.a]: protocols \"Http3\" is not supported",
            ),
            (
                "[endpoints.a]\nurl = \"https://127.0.0.1:1\"\n[endpoints.a.certificate]\npath = \"c.pem\"",
                "[endpoints.a]: missing field `key_path`",
            ),
            (
                "[endpoints.a]\nurl = \"http://127.0.0.1:1\"\n[endpoints.a.certificate]\npath = \"c.pem\"\nkey_path = \"k.pem\"",
                "[endpoints.a]: a certificate is set but http://127.0.0.1:1 is not an https URL",
            ),
            (
                "[endpoints.a]\nurl = \"https://127.0.0.1:1\"",
                "[endpoints.a]: an https URL needs a certificate",
            ),
            (
                "[endpoints.a]\nurl = \"https://127.0.0.1:1\"\nclient_certificate_mode = \"RequireCertificate\"\n[endpoints.a.certificate]\npath = \"c.pem\"\nkey_path = \"k.pem\"",
                "[endpoints.a]: client certificate mode RequireCertificate needs a CA bundle",
            ),
            (
                "[endpoints.a]\nurl = \"https://127.0.0.1:1\"\nclient_certificate_mode = \"sometimes\"\n[endpoints.a.certificate]\npath = \"c.pem\"\nkey_path = \"k.pem\"",
                "[endpoints.a]: unknown client certificate mode \"sometimes\"",
            ),
            (
                "[endpoints.a]\nurl = \"https://127.0.0.1:1\"\n[endpoints.a.sni.\"a*.x\"]\npath = \"c.pem\"\nkey_path = \"k.pem\"",
                "[endpoints.a]: SNI name \"a*.x\" is not a host name",
            ),
            ("tls_handshake_timeout = 0", "tls_handshake_timeout 0: expected seconds"),
            ("client_certificate_mode = \"x\"", "client_certificate_mode: unknown client certificate mode"),
            (
                "[endpoints.a]\nurl = \"http://127.0.0.1:1\"\nunix_socket_mode = \"660\"",
                "[endpoints.a]: unix_socket_mode applies to unix: URLs only",
            ),
            ("engine = \"kqueue\"", "engine: unknown engine \"kqueue\""),
            ("access_log = \"yes\"", "line 1: invalid type"),
            ("admin_urls = [\"ftp://x:1\"]", "admin_urls: invalid listen URL"),
            ("known_networks = \"10.0.0.0/33\"", "known_networks: invalid --known-networks entry"),
            ("allowed_hosts = []", "allowed_hosts: no allowed hosts"),
            ("allowed_hosts = 1", "allowed_hosts: expected a string or a list of strings"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.starts_with("config file test.toml: "), "{text}: {e}");
            assert!(e.contains(want), "{text}: {e}");
            assert_eq!(e.lines().count(), 1, "one line: {e}");
        }
    }
}
