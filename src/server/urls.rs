//! Parsing of listen URLs (`--urls`, `PEREGRINE_URLS`, `urls` in a configuration file).
//!
//! | form | listens on |
//! |---|---|
//! | `http://127.0.0.1:8080`, `http://[::1]:8080` | that address |
//! | `http://0.0.0.0:8080` | every IPv4 interface only |
//! | `http://*:8080`, `http://+:8080`, `http://[::]:8080` | every interface, IPv4 and IPv6 (see [`ListenAddress::AnyIp`]) |
//! | `http://localhost:8080` | `127.0.0.1` and `[::1]` (see [`ListenAddress::Localhost`]) |
//! | `unix:/run/app.sock`, `http://unix:/run/app.sock` | a Unix domain socket |
//!
//! Port 0 asks the system for a free port; the server reports the one it got.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Longest Unix socket path the kernel takes (`sun_path` is 108 bytes with its NUL).
pub const MAX_UNIX_PATH: usize = 107;

/// A listen URL that could not be understood; the message names the URL and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError {
    url: String,
    problem: &'static str,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid listen URL {:?}: {}", self.url, self.problem)
    }
}

impl std::error::Error for UrlError {}

/// Where one listen URL says to listen.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListenAddress {
    /// One IP address and port (`http://127.0.0.1:8080`, `http://[::1]:0`, `http://0.0.0.0:80`).
    Ip(SocketAddr),
    /// Every interface on this port (`http://*:PORT`, `http://+:PORT`, `http://[::]:PORT`):
    /// one dual-stack socket bound to `[::]` with `IPV6_V6ONLY` off, so it takes IPv4
    /// connections too (as IPv4-mapped addresses); where the system has no IPv6, `0.0.0.0`.
    /// (`http://0.0.0.0:PORT` is IPv4 only.)
    AnyIp(u16),
    /// Both loopbacks on this port (`http://localhost:PORT`): `127.0.0.1` and `[::1]`. With
    /// port 0 the IPv6 socket takes the port the IPv4 one got. Where `::1` cannot be bound
    /// (IPv6 disabled) a warning is logged and the server listens on IPv4 only.
    Localhost(u16),
    /// A Unix domain socket at this absolute path (`unix:/run/app.sock`).
    Unix(PathBuf),
}

impl ListenAddress {
    /// The IP socket addresses it names: `[::]:PORT` for [`AnyIp`](Self::AnyIp), both
    /// loopbacks for [`Localhost`](Self::Localhost), none for a Unix socket.
    pub fn socket_addrs(&self) -> Vec<SocketAddr> {
        match self {
            ListenAddress::Ip(a) => vec![*a],
            ListenAddress::AnyIp(port) => {
                vec![SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), *port)]
            }
            ListenAddress::Localhost(port) => vec![
                SocketAddr::new(Ipv4Addr::LOCALHOST.into(), *port),
                SocketAddr::new(Ipv6Addr::LOCALHOST.into(), *port),
            ],
            ListenAddress::Unix(_) => Vec::new(),
        }
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::Ip(a) => write!(f, "http://{a}"),
            ListenAddress::AnyIp(port) => write!(f, "http://*:{port}"),
            ListenAddress::Localhost(port) => write!(f, "http://localhost:{port}"),
            ListenAddress::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Whether a listen URL asks for TLS (`https://`).
pub fn is_https(url: &str) -> bool {
    url.split_once("://")
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("https"))
}

/// Parses one listen URL (see [`ListenAddress`] for the forms): `http://` or `https://` (the
/// address is the same; [`is_https`] tells them apart), or `unix:/PATH`.
pub fn parse_listen_address(url: &str) -> Result<ListenAddress, UrlError> {
    let err = |problem| UrlError {
        url: url.to_owned(),
        problem,
    };
    if let Some(path) = url.strip_prefix("unix:") {
        return unix_path(path).map_err(err);
    }
    let rest = match url.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            rest
        }
        Some(_) => return Err(err("the scheme must be http or https (or unix:PATH)")),
        None => return Err(err("expected http://HOST:PORT or unix:/PATH")),
    };
    if let Some(path) = rest.strip_prefix("unix:") {
        return unix_path(path).map_err(err);
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains('/') {
        return Err(err("a path is not allowed, only http://HOST:PORT"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| err("missing ']'"))?;
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| err("missing :PORT"))?;
        (host, port)
    } else {
        authority
            .rsplit_once(':')
            .ok_or_else(|| err("missing :PORT"))?
    };
    let port: u16 = port
        .parse()
        .map_err(|_| err("the port must be a number from 0 to 65535"))?;
    Ok(match host {
        "localhost" => ListenAddress::Localhost(port),
        "*" | "+" => ListenAddress::AnyIp(port),
        "" => return Err(err("missing host")),
        h => match h.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) if ip.is_unspecified() => ListenAddress::AnyIp(port),
            Ok(ip) => ListenAddress::Ip(SocketAddr::new(ip, port)),
            Err(_) => return Err(err("the host must be an IP address, localhost, * or +")),
        },
    })
}

fn unix_path(path: &str) -> Result<ListenAddress, &'static str> {
    if path.is_empty() {
        return Err("missing the Unix socket path (unix:/path/to.sock)");
    }
    if !path.starts_with('/') {
        return Err("a Unix socket path must be absolute (unix:/path/to.sock)");
    }
    if path.ends_with('/') {
        return Err("a Unix socket path must name a file, not a directory");
    }
    if path.contains('\0') {
        return Err("a Unix socket path must not contain NUL");
    }
    if path.len() > MAX_UNIX_PATH {
        return Err("the Unix socket path is longer than 107 bytes");
    }
    Ok(ListenAddress::Unix(Path::new(path).to_path_buf()))
}

/// Parses one listen URL into the IP socket addresses it names (see
/// [`ListenAddress::socket_addrs`]); a Unix socket URL names none. Prefer
/// [`parse_listen_address`], which keeps what the URL means.
pub fn parse_listen_url(url: &str) -> Result<Vec<SocketAddr>, UrlError> {
    parse_listen_address(url).map(|a| a.socket_addrs())
}

/// Formats a bound address as a URL (`http://127.0.0.1:8080`, `http://[::1]:8080`).
pub fn format_url(addr: &SocketAddr) -> String {
    format!("http://{addr}")
}

/// Formats a bound Unix socket path as a URL (`unix:/run/app.sock`).
pub fn format_unix_url(path: &Path) -> String {
    format!("unix:{}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(url: &str) -> ListenAddress {
        parse_listen_address(url).unwrap()
    }

    #[test]
    fn parses_valid_urls() {
        let one = |u: &str| parse_listen_url(u).unwrap();
        assert_eq!(
            one("http://127.0.0.1:8080"),
            vec!["127.0.0.1:8080".parse().unwrap()]
        );
        assert_eq!(
            one("http://127.0.0.1:0/"),
            vec!["127.0.0.1:0".parse().unwrap()]
        );
        assert_eq!(one("HTTP://[::1]:80"), vec!["[::1]:80".parse().unwrap()]);
        assert_eq!(one("http://*:9000"), vec!["[::]:9000".parse().unwrap()]);
        assert_eq!(
            one("http://localhost:1"),
            vec!["127.0.0.1:1".parse().unwrap(), "[::1]:1".parse().unwrap()]
        );
        assert_eq!(one("unix:/run/a.sock"), vec![]);
    }

    #[test]
    fn every_address_form() {
        assert_eq!(
            addr("http://127.0.0.1:8080"),
            ListenAddress::Ip("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            addr("http://[::1]:0"),
            ListenAddress::Ip("[::1]:0".parse().unwrap())
        );
        assert_eq!(
            addr("http://0.0.0.0:80"),
            ListenAddress::Ip("0.0.0.0:80".parse().unwrap()),
            "0.0.0.0 stays IPv4 only"
        );
        for any in [
            "http://*:81",
            "http://+:81",
            "http://[::]:81",
            "http://[0::0]:81/",
        ] {
            assert_eq!(addr(any), ListenAddress::AnyIp(81), "{any}");
        }
        assert_eq!(addr("http://localhost:0"), ListenAddress::Localhost(0));
        assert_eq!(
            addr("http://localhost:8080"),
            ListenAddress::Localhost(8080)
        );
        for unix in [
            "unix:/tmp/p.sock",
            "http://unix:/tmp/p.sock",
            "HTTP://unix:/tmp/p.sock",
        ] {
            assert_eq!(
                addr(unix),
                ListenAddress::Unix("/tmp/p.sock".into()),
                "{unix}"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for url in [
            "http://127.0.0.1:8080",
            "http://[::1]:0",
            "http://*:81",
            "http://localhost:9",
            "unix:/tmp/p.sock",
        ] {
            assert_eq!(addr(url).to_string(), url);
            assert_eq!(addr(&addr(url).to_string()), addr(url));
        }
    }

    #[test]
    fn rejects_bad_urls_with_a_reason() {
        let long = format!("unix:/{}", "a".repeat(MAX_UNIX_PATH));
        for (url, why) in [
            ("127.0.0.1:8080", "expected http://HOST:PORT"),
            ("ftp://127.0.0.1:21", "scheme must be http or https"),
            ("http://127.0.0.1", "missing :PORT"),
            ("http://127.0.0.1:99999", "port must be a number"),
            ("http://127.0.0.1:x", "port must be a number"),
            ("http://example.com:80", "host must be an IP address"),
            ("http://[::1:80", "missing ']'"),
            ("http://[::1]", "missing :PORT"),
            ("http://127.0.0.1:80/app", "a path is not allowed"),
            ("http://:80", "missing host"),
            ("unix:", "missing the Unix socket path"),
            ("http://unix:", "missing the Unix socket path"),
            ("unix:relative.sock", "must be absolute"),
            ("http://unix:run/a.sock", "must be absolute"),
            ("unix:/run/dir/", "not a directory"),
            ("unix:/run/a\0b", "NUL"),
            (long.as_str(), "longer than 107 bytes"),
        ] {
            let e = parse_listen_address(url).unwrap_err().to_string();
            assert!(e.contains(why), "{url}: {e}");
            assert!(e.contains(&format!("{url:?}")), "{url}: {e}");
        }
        // The longest path that fits is accepted.
        let fits = format!("unix:/{}", "a".repeat(MAX_UNIX_PATH - 1));
        assert!(parse_listen_address(&fits).is_ok());
    }
}
