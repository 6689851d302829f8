//! The host's settings as one table: each row is a command-line flag, its value form, its
//! environment variable, its default and its help. The parser ([`parse_layers`]) and the help
//! text ([`help`]) both read it, so they cannot drift apart. The limit rows are made from
//! [`LIMIT_SETTINGS`] at run time: a limit added there is a flag, a variable, a `[limits]` key
//! and a help line without any edit here.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use super::config::{parse_cpu_list, parse_mode, Config};
use crate::middleware::{HostFiltering, IpNetwork};
use crate::server::{Limits, LIMIT_SETTINGS};

/// Where a setting's help goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// OPTIONS.
    General,
    /// BEHIND A REVERSE PROXY.
    Proxy,
    /// LIMITS (the rows made from [`LIMIT_SETTINGS`]).
    Limits,
}

/// How a flag's value is applied to a layer.
#[derive(Clone, Copy)]
enum Apply {
    /// A host setting with its own parser.
    Host(fn(&mut Config, &str) -> Result<(), String>),
    /// The limit of that name ([`Limits::set`]).
    Limit(&'static str),
    /// `--config`: read before the other layers.
    ConfigFile,
    /// `--help`.
    Help,
    /// `--version`.
    Version,
}

/// One row of the table: a flag (`--NAME`), and the environment variable `PEREGRINE_NAME`.
#[derive(Clone, Copy)]
pub struct Setting {
    /// The flag's name without `--`.
    pub name: &'static str,
    /// The value's form (`URLS`, `N`, `SIZE`); `None` for a switch, which takes no value
    /// (`--access-log`) or an inline one (`--access-log=false`).
    pub value: Option<&'static str>,
    /// Whether `PEREGRINE_NAME` sets it too.
    pub env: bool,
    /// The default, as help shows it.
    pub default: Option<&'static str>,
    /// One sentence or two of help.
    pub help: &'static str,
    /// Its help section.
    pub section: Section,
    apply: Apply,
}

impl Setting {
    /// The environment variable: `PEREGRINE_` and the name in upper case, `_` for `-`.
    pub fn env_var(&self) -> Option<String> {
        self.env.then(|| env_var(self.name))
    }
}

/// `PEREGRINE_KEEP_ALIVE_TIMEOUT` for `keep-alive-timeout`.
pub fn env_var(name: &str) -> String {
    format!("PEREGRINE_{}", name.to_ascii_uppercase().replace('-', "_"))
}

const fn row(
    name: &'static str,
    value: Option<&'static str>,
    default: Option<&'static str>,
    help: &'static str,
    section: Section,
    apply: fn(&mut Config, &str) -> Result<(), String>,
) -> Setting {
    Setting {
        name,
        value,
        env: true,
        default,
        help,
        section,
        apply: Apply::Host(apply),
    }
}

/// The host's own rows (the limits follow, from [`LIMIT_SETTINGS`]).
const HOST_SETTINGS: &[Setting] = &[
    row(
        "urls",
        Some("URLS"),
        Some("http://127.0.0.1:8080"),
        "Listen URLs, separated by ';' or given several times: http://IP:PORT, http://*:PORT \
         (all interfaces), http://localhost:PORT, unix:/PATH (PORT 0: any free port), \
         https://IP:PORT (with --cert, --key)",
        Section::General,
        |c, v| {
            c.urls.get_or_insert_with(Vec::new).extend(split_urls(v));
            Ok(())
        },
    ),
    Setting {
        name: "config",
        value: Some("FILE"),
        env: true,
        default: None,
        help: "TOML configuration file (docs/hosting.md); the environment and flags override it",
        section: Section::General,
        apply: Apply::ConfigFile,
    },
    row(
        "unix-socket-mode",
        Some("MODE"),
        None,
        "File mode of unix: sockets, octal, e.g. 660",
        Section::General,
        |c, v| {
            c.unix_socket_mode = Some(parse_mode_arg(v)?);
            Ok(())
        },
    ),
    row(
        "engine",
        Some("ENGINE"),
        Some("auto"),
        "auto (io_uring if the kernel allows it, else portable), uring or portable",
        Section::General,
        |c, v| {
            c.engine = Some(v.parse()?);
            Ok(())
        },
    ),
    row(
        "protocols",
        Some("PROTOCOLS"),
        Some("Http1AndHttp2"),
        "HTTP versions of --urls: Http1AndHttp2 (HTTP/2 by ALPN over TLS and by its preface in \
         cleartext), Http1 or Http2",
        Section::General,
        |c, v| {
            c.protocols = Some(v.parse()?);
            Ok(())
        },
    ),
    row(
        "workers",
        Some("N"),
        Some("one per CPU"),
        "Worker threads",
        Section::General,
        |c, v| {
            c.workers = Some(parse_workers(v)?);
            Ok(())
        },
    ),
    row(
        "cpus",
        Some("LIST"),
        Some("all the process may use"),
        "CPUs to pin workers to, e.g. 0,2-3",
        Section::General,
        |c, v| {
            c.cpus = Some(parse_cpu_list(v)?);
            Ok(())
        },
    ),
    row(
        "proxy-protocol-urls",
        Some("URLS"),
        Some("none"),
        "More listen URLs, whose connections start with a PROXY protocol v1/v2 header (from \
         HAProxy, nginx stream, a load balancer)",
        Section::General,
        |c, v| {
            c.proxy_protocol_urls
                .get_or_insert_with(Vec::new)
                .extend(split_urls(v));
            Ok(())
        },
    ),
    row(
        "admin-urls",
        Some("URLS"),
        Some("none"),
        "Serve /metrics (Prometheus), /healthz (readiness) and /livez (liveness) on these URLs, \
         apart from the application",
        Section::General,
        |c, v| {
            c.admin_urls
                .get_or_insert_with(Vec::new)
                .extend(split_urls(v));
            Ok(())
        },
    ),
    row(
        "shutdown-timeout",
        Some("SECONDS"),
        Some("30"),
        "Seconds in-flight requests get on SIGINT/SIGTERM; a second signal exits at once \
         (code 130)",
        Section::General,
        |c, v| {
            c.shutdown_timeout = Some(parse_shutdown_timeout(v)?);
            Ok(())
        },
    ),
    row(
        "cert",
        Some("FILE"),
        None,
        "PEM certificate chain (leaf first) for the https:// URLs; reloaded when the file \
         changes or on SIGHUP",
        Section::General,
        |c, v| {
            c.cert = Some(non_empty_path(v, "--cert")?);
            Ok(())
        },
    ),
    row(
        "key",
        Some("FILE"),
        None,
        "PEM private key of --cert (PKCS#8, PKCS#1 or SEC1)",
        Section::General,
        |c, v| {
            c.key = Some(non_empty_path(v, "--key")?);
            Ok(())
        },
    ),
    row(
        "client-certificate-mode",
        Some("MODE"),
        Some("NoCertificate"),
        "Ask https:// clients for certificates: NoCertificate, AllowCertificate or \
         RequireCertificate (needs --client-ca)",
        Section::General,
        |c, v| {
            c.client_certificate_mode = Some(v.parse()?);
            Ok(())
        },
    ),
    row(
        "client-ca",
        Some("FILE"),
        None,
        "PEM bundle of the CAs client certificates must chain to",
        Section::General,
        |c, v| {
            c.client_ca = Some(non_empty_path(v, "--client-ca")?);
            Ok(())
        },
    ),
    row(
        "tls-handshake-timeout",
        Some("SECONDS"),
        Some("10"),
        "Seconds a client may take to complete the TLS handshake",
        Section::General,
        |c, v| {
            let t = parse_shutdown_timeout(v)
                .ok()
                .filter(|t| !t.is_zero())
                .ok_or_else(|| {
                    format!("invalid TLS handshake timeout {v:?}: expected seconds, more than 0")
                })?;
            c.tls_handshake_timeout = Some(t);
            Ok(())
        },
    ),
    Setting {
        name: "no-server-header",
        value: None,
        env: false,
        default: None,
        help: "Do not send the Server response header",
        section: Section::General,
        apply: Apply::Host(|c, v| {
            if parse_switch(v)? {
                c.server_header = Some(None);
            }
            Ok(())
        }),
    },
    row(
        "access-log",
        None,
        Some("off"),
        "Log every request (client, method, target, status, bytes, time) to stderr at INFO",
        Section::General,
        |c, v| {
            c.access_log =
                Some(parse_switch(v).map_err(|_| format!("expected 1 or 0, got {v:?}"))?);
            Ok(())
        },
    ),
    Setting {
        name: "help",
        value: None,
        env: false,
        default: None,
        help: "Print this help (-h)",
        section: Section::General,
        apply: Apply::Help,
    },
    Setting {
        name: "version",
        value: None,
        env: false,
        default: None,
        help: "Print the version (-V)",
        section: Section::General,
        apply: Apply::Version,
    },
    row(
        "forwarded-headers",
        None,
        Some("off"),
        "Show the application the client address and scheme from the X-Forwarded-For and \
         X-Forwarded-Proto headers of trusted proxies (loopback: 127.0.0.0/8 and ::1)",
        Section::Proxy,
        |c, v| {
            c.forwarded_headers = Some(parse_switch(v)?);
            Ok(())
        },
    ),
    row(
        "known-proxies",
        Some("LIST"),
        None,
        "Also trust these proxy addresses, e.g. 10.0.0.5,fd00::5 (implies --forwarded-headers)",
        Section::Proxy,
        |c, v| {
            c.known_proxies
                .get_or_insert_with(Vec::new)
                .extend(parse_known_proxies(v)?);
            Ok(())
        },
    ),
    row(
        "known-networks",
        Some("LIST"),
        None,
        "Also trust these networks, e.g. 10.0.0.0/8,fd00::/8 (implies --forwarded-headers)",
        Section::Proxy,
        |c, v| {
            c.known_networks
                .get_or_insert_with(Vec::new)
                .extend(parse_known_networks(v)?);
            Ok(())
        },
    ),
    row(
        "allowed-hosts",
        Some("LIST"),
        Some("any"),
        "Answer 400 to requests whose Host is not one of these, e.g. \
         example.com,*.example.com",
        Section::Proxy,
        |c, v| {
            let hosts = c.allowed_hosts.get_or_insert_with(Vec::new);
            hosts.extend(split_list(v));
            check_allowed_hosts(hosts)
        },
    ),
];

/// A file path flag's value; empty is an error naming the flag.
fn non_empty_path(v: &str, flag: &str) -> Result<std::path::PathBuf, String> {
    if v.trim().is_empty() {
        return Err(format!("{flag} needs a file path"));
    }
    Ok(v.into())
}

/// Default and help of each limit, by name, for the help text. A limit missing here still has
/// its flag, variable, key and help line (pointing at docs/limits.md).
const LIMIT_HELP: &[(&str, &str, &str)] = &[
    ("max-request-line-size", "8K", "longer: 414"),
    ("max-request-headers-size", "32K", "larger: 431"),
    ("max-request-header-count", "100", "more: 431"),
    ("max-request-body-size", "30000000", "larger: 413"),
    (
        "max-response-buffer-size",
        "64K",
        "response bytes buffered before a write waits for the client",
    ),
    ("request-headers-timeout", "30s", "slower: 408"),
    (
        "keep-alive-timeout",
        "130s",
        "idle connections close after it",
    ),
    ("min-request-body-data-rate", "240/5s", "slower: 408"),
    ("min-response-data-rate", "240/5s", "slower: disconnect"),
    ("max-connections", "unlimited", "over: accept and close"),
    (
        "max-upgraded-connections",
        "unlimited",
        "over: upgrade refused",
    ),
    (
        "bare-line-feed",
        "reject",
        "reject a bare LF line terminator (400) or accept it as RFC 9112 2.2 permits",
    ),
    (
        "ws-max-frame-size",
        "1M",
        "WebSocket frames larger: close 1009",
    ),
    (
        "ws-max-message-size",
        "16M",
        "WebSocket messages larger (inflated): close 1009",
    ),
    (
        "ws-max-output-buffer-size",
        "1M",
        "WebSocket bytes queued before a send waits for the client",
    ),
    (
        "ws-keep-alive-interval",
        "2m",
        "WebSocket keep-alive Ping interval",
    ),
    (
        "ws-keep-alive-timeout",
        "30s",
        "no Pong within it: the WebSocket closes",
    ),
    (
        "ws-close-timeout",
        "5s",
        "wait for the client's Close after ours",
    ),
    (
        "ws-compression-threshold",
        "1K",
        "permessage-deflate: shorter WebSocket messages go uncompressed",
    ),
    (
        "ws-compression-level",
        "1",
        "permessage-deflate level, 0 (stored) to 9 (smallest)",
    ),
];

/// Every setting: the host's rows, then one per limit.
pub fn settings() -> impl Iterator<Item = Setting> {
    let limits = LIMIT_SETTINGS.iter().map(|&(name, form)| {
        let doc = LIMIT_HELP.iter().find(|(n, ..)| *n == name);
        Setting {
            name,
            value: Some(form),
            env: true,
            default: doc.map(|d| d.1),
            help: doc.map_or("see docs/limits.md", |d| d.2),
            section: Section::Limits,
            apply: Apply::Limit(name),
        }
    });
    HOST_SETTINGS.iter().copied().chain(limits)
}

/// What the command line asks for.
pub(crate) enum Parsed {
    /// Run with these layers.
    Run(Box<Layers>),
    /// `--help` or `--version`: print this and exit 0.
    Exit(String),
}

/// The configuration layers, lowest first after the code defaults.
#[derive(Debug, Default)]
pub(crate) struct Layers {
    /// The configuration file, if one was named.
    pub(crate) file: Option<(String, Config)>,
    /// The environment.
    pub(crate) env: Config,
    /// The command line.
    pub(crate) flags: Config,
}

/// Reads the command line, the environment (`env`) and the file they name into layers. A
/// variable is read only for settings no flag gave, so a flag hides a bad variable, as before.
pub(crate) fn parse_layers(
    args: impl IntoIterator<Item = String>,
    env: &dyn Fn(&str) -> Option<String>,
    name: &str,
    version: &str,
    help_text: &dyn Fn() -> String,
) -> Result<Parsed, String> {
    let mut flags = Config::default();
    let mut given: Vec<&'static str> = Vec::new();
    let mut config_path = None;
    let table: Vec<Setting> = settings().collect();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let flag = match flag.as_str() {
            "-h" => "--help".to_owned(),
            "-V" => "--version".to_owned(),
            _ => flag,
        };
        let Some(setting) = flag
            .strip_prefix("--")
            .and_then(|n| table.iter().find(|s| s.name == n))
        else {
            return Err(format!("unknown argument {flag:?} (see --help)"));
        };
        let value = match (setting.value, inline) {
            (_, Some(v)) => v,
            (Some(_), None) => args.next().ok_or_else(|| format!("{flag} needs a value"))?,
            (None, None) => "true".to_owned(),
        };
        given.push(setting.name);
        match setting.apply {
            Apply::Help => return Ok(Parsed::Exit(help_text())),
            Apply::Version => return Ok(Parsed::Exit(format!("{name} {version}\n"))),
            Apply::ConfigFile => config_path = Some(value),
            Apply::Host(apply) => apply(&mut flags, &value).map_err(|e| named(&flag, e))?,
            Apply::Limit(limit) => {
                Limits::default().set(limit, &value)?;
                flags.limits.push((limit, value));
            }
        }
    }
    let mut layers = Layers {
        flags,
        ..Layers::default()
    };
    for setting in &table {
        let Some(var) = setting.env_var() else {
            continue;
        };
        if given.contains(&setting.name) {
            continue;
        }
        let Some(value) = env(&var) else { continue };
        match setting.apply {
            Apply::ConfigFile => config_path = Some(value),
            Apply::Host(apply) => {
                apply(&mut layers.env, &value).map_err(|e| format!("{var}: {e}"))?
            }
            Apply::Limit(limit) => {
                Limits::default()
                    .set(limit, &value)
                    .map_err(|e| format!("{var}: {e}"))?;
                layers.env.limits.push((limit, value));
            }
            Apply::Help | Apply::Version => {}
        }
    }
    if let Some(path) = config_path {
        let config = Config::load(path.as_ref()).map_err(|e| e.to_string())?;
        layers.file = Some((path, config));
    }
    Ok(Parsed::Run(Box::new(layers)))
}

/// Prefixes `--flag: ` to a message that does not already name the setting.
fn named(flag: &str, e: String) -> String {
    if e.contains(flag.trim_start_matches('-')) {
        e
    } else {
        format!("{flag}: {e}")
    }
}

/// The help text: `about`, usage, then each section's rows, then `extra`.
pub(crate) fn help(name: &str, about: &str, extra: &[(String, String)]) -> String {
    let mut out = format!("{name}: {about}\n\nUSAGE:\n    {name} [OPTIONS]\n");
    let table: Vec<Setting> = settings().collect();
    for (section, title) in [
        (Section::General, "OPTIONS:"),
        (Section::Proxy, "BEHIND A REVERSE PROXY (docs/deploy.md):"),
        (
            Section::Limits,
            "LIMITS (docs/limits.md; SIZE: bytes, or with K/M/G; DURATION: 30s, 500ms, 2m;\n\
             RATE: bytes/s[/grace]):",
        ),
    ] {
        let _ = write!(out, "\n{title}\n");
        for s in table.iter().filter(|s| s.section == section) {
            let mut head = format!("    --{}", s.name);
            if let Some(v) = s.value {
                let _ = write!(head, " <{v}>");
            }
            let mut text = s.help.to_owned();
            // A tag is never broken across lines (U+0001 inside it, a space again once wrapped).
            if let Some(d) = s.default {
                let _ = write!(text, " [default:\u{1}{}]", d.replace(' ', "\u{1}"));
            }
            if let Some(var) = s.env_var() {
                let _ = write!(text, " [env:\u{1}{var}]");
            }
            out.push_str(&two_columns(&head, &text));
        }
    }
    for (title, body) in extra {
        let _ = write!(out, "\n{title}:\n");
        for line in body.lines() {
            let _ = writeln!(out, "    {line}");
        }
    }
    out
}

/// `head` in a 34-column first column (alone on its line when longer), `text` wrapped at 100.
fn two_columns(head: &str, text: &str) -> String {
    const INDENT: usize = 34;
    const WIDTH: usize = 100;
    let mut out = String::new();
    let mut line = head.to_owned();
    if line.len() + 1 >= INDENT {
        out.push_str(&line);
        out.push('\n');
        line = String::new();
    }
    let pad = |line: &mut String| {
        while line.len() < INDENT {
            line.push(' ');
        }
    };
    pad(&mut line);
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.len() + 1 + word.len() > WIDTH {
            out.push_str(line.trim_end());
            out.push('\n');
            line = String::new();
            pad(&mut line);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out.replace('\u{1}', " ")
}

/// The entries of a comma-separated list, trimmed, empty ones skipped.
pub(crate) fn split_list(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
}

/// The URLs of a `;`-separated list, trimmed, empty ones skipped.
pub(crate) fn split_urls(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split(';')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
}

/// `true`/`false` and their usual spellings (`1`, `yes`, `on`; `0`, `no`, `off`, empty).
pub(crate) fn parse_switch(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(format!("invalid value {v:?}: expected true or false")),
    }
}

/// A comma-separated list of IP addresses (`[::1]` as well as `::1`), not empty.
pub(crate) fn parse_known_proxies(v: &str) -> Result<Vec<IpAddr>, String> {
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

/// A comma-separated list of networks (`10.0.0.0/8`), not empty.
pub(crate) fn parse_known_networks(v: &str) -> Result<Vec<IpNetwork>, String> {
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

/// A comma-separated list of allowed hosts, checked as host filtering will use it.
pub(crate) fn parse_allowed_hosts(v: &str) -> Result<Vec<String>, String> {
    let hosts: Vec<String> = split_list(v).collect();
    check_allowed_hosts(&hosts)?;
    Ok(hosts)
}

fn check_allowed_hosts(hosts: &[String]) -> Result<(), String> {
    HostFiltering::new((), hosts.iter().cloned())
        .map(|_| ())
        .map_err(|e| e.to_string())
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
    parse_mode(v).ok_or_else(|| {
        format!("invalid --unix-socket-mode {v:?}: expected an octal file mode such as 660")
    })
}
