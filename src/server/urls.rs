//! Parsing of listen URLs (`--urls`, `PEREGRINE_URLS`): `http://127.0.0.1:8080`, `http://[::1]:0`,
//! `http://localhost:8080`, `http://*:8080`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

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

/// Parses one listen URL into the socket addresses to bind.
///
/// `localhost` binds both loopbacks (`127.0.0.1` and `[::1]`), `*` and `+` bind all IPv4
/// interfaces (`0.0.0.0`; use `http://[::]:PORT` for IPv6). Only `http` is accepted: TLS is
/// terminated by a proxy in front of peregrine.
pub fn parse_listen_url(url: &str) -> Result<Vec<SocketAddr>, UrlError> {
    let err = |problem| UrlError {
        url: url.to_owned(),
        problem,
    };
    let rest = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
            return Err(err("https is not supported; terminate TLS in a proxy"))
        }
        Some(_) => return Err(err("the scheme must be http")),
        None => return Err(err("expected http://HOST:PORT")),
    };
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
    let ips: Vec<IpAddr> = match host {
        "localhost" => vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()],
        "*" | "+" => vec![Ipv4Addr::UNSPECIFIED.into()],
        "" => return Err(err("missing host")),
        h => vec![h
            .parse::<IpAddr>()
            .map_err(|_| err("the host must be an IP address, localhost or *"))?],
    };
    Ok(ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect())
}

/// Formats a bound address as a URL (`http://127.0.0.1:8080`, `http://[::1]:8080`).
pub fn format_url(addr: &SocketAddr) -> String {
    format!("http://{addr}")
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(one("http://*:9000"), vec!["0.0.0.0:9000".parse().unwrap()]);
        assert_eq!(
            one("http://localhost:1"),
            vec!["127.0.0.1:1".parse().unwrap(), "[::1]:1".parse().unwrap()]
        );
    }

    #[test]
    fn rejects_bad_urls_with_a_reason() {
        for (url, why) in [
            ("127.0.0.1:8080", "expected http://HOST:PORT"),
            ("https://127.0.0.1:443", "https is not supported"),
            ("ftp://127.0.0.1:21", "scheme must be http"),
            ("http://127.0.0.1", "missing :PORT"),
            ("http://127.0.0.1:99999", "port must be a number"),
            ("http://127.0.0.1:x", "port must be a number"),
            ("http://example.com:80", "host must be an IP address"),
            ("http://[::1:80", "missing ']'"),
            ("http://127.0.0.1:80/app", "a path is not allowed"),
            ("http://:80", "missing host"),
        ] {
            let e = parse_listen_url(url).unwrap_err().to_string();
            assert!(e.contains(why), "{url}: {e}");
            assert!(e.contains(url), "{url}: {e}");
        }
    }
}
