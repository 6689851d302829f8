//! Target URLs: `http://host[:port][/path][?query]` and the same with `https://`.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// A parsed `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// The URL as given on the command line.
    pub original: String,
    /// Host name or address, without IPv6 brackets (what gets resolved).
    pub host: String,
    /// TCP port (80, or 443 for `https://`, when the URL names none).
    pub port: u16,
    /// `https://`: requests go over TLS, with `host` as the server name (SNI and the name the
    /// certificate must carry).
    pub tls: bool,
    /// The authority as written in the URL (`host[:port]`), sent as the `Host` header.
    pub authority: String,
    /// Request target: path plus query, at least `/`.
    pub path: String,
}

impl Url {
    /// Parses `http[s]://host[:port][/path][?query]`; other schemes are rejected with a
    /// message that says why.
    pub fn parse(input: &str) -> Result<Url, String> {
        let lower = input.to_ascii_lowercase();
        let (rest, tls) = if lower.starts_with("http://") {
            (&input["http://".len()..], false)
        } else if lower.starts_with("https://") {
            (&input["https://".len()..], true)
        } else if let Some(pos) = input.find("://") {
            return Err(format!(
                "'{input}': unsupported scheme '{}' (only http:// and https://)",
                &input[..pos]
            ));
        } else {
            return Err(format!(
                "'{input}': URL must start with http:// or https://"
            ));
        };

        let rest = rest.split('#').next().unwrap_or("");
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.is_empty() {
            return Err(format!("'{input}': URL has no host"));
        }
        if authority.contains('@') {
            return Err(format!(
                "'{input}': credentials in URLs are not supported (use -H 'Authorization: ...')"
            ));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) =
            split_host_port(authority, default_port).map_err(|e| format!("'{input}': {e}"))?;
        let path = if target.is_empty() {
            "/".to_string()
        } else if target.starts_with('?') {
            format!("/{target}")
        } else {
            target.to_string()
        };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!(
                "'{input}': the path contains spaces or control characters (percent-encode them)"
            ));
        }
        Ok(Url {
            original: input.to_string(),
            host,
            port,
            tls,
            authority: authority.to_string(),
            path,
        })
    }

    /// Resolves host and port to a socket address (the first one the resolver returns).
    pub fn resolve(&self) -> io::Result<SocketAddr> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address found"))
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

fn split_host_port(authority: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']').ok_or("unterminated '[' in IPv6 address")?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err("unexpected characters after ']'".to_string()),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("URL has no host".to_string());
    }
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("invalid port '{p}'")),
        },
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_path() {
        let u = Url::parse("http://127.0.0.1:8099/plaintext?x=1").unwrap();
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.port, 8099);
        assert_eq!(u.authority, "127.0.0.1:8099");
        assert_eq!(u.path, "/plaintext?x=1");
    }

    #[test]
    fn defaults_port_and_path() {
        let u = Url::parse("http://localhost").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
        let u = Url::parse("http://localhost?q").unwrap();
        assert_eq!(u.path, "/?q");
        let u = Url::parse("HTTP://localhost:81/a#frag").unwrap();
        assert_eq!((u.port, u.path.as_str()), (81, "/a"));
    }

    #[test]
    fn ipv6() {
        let u = Url::parse("http://[::1]:8080/").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.port, 8080);
        assert_eq!(u.authority, "[::1]:8080");
        assert_eq!(u.resolve().unwrap(), "[::1]:8080".parse().unwrap());
        assert_eq!(Url::parse("http://[::1]/").unwrap().port, 80);
    }

    #[test]
    fn https_urls() {
        let u = Url::parse("https://localhost/x").unwrap();
        assert!(u.tls);
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("localhost", 443, "/x")
        );
        let u = Url::parse("HTTPS://[::1]:8443").unwrap();
        assert_eq!(
            (u.tls, u.port, u.authority.as_str()),
            (true, 8443, "[::1]:8443")
        );
        assert!(!Url::parse("http://localhost/").unwrap().tls);
        let e = Url::parse("wss://localhost/").unwrap_err();
        assert!(e.contains("only http:// and https://"), "{e}");
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "ftp://x/",
            "127.0.0.1:80/",
            "http://",
            "http:///path",
            "http://h:0/",
            "http://h:99999/",
            "http://h:x/",
            "http://u:p@h/",
            "http://[::1/",
            "http://h/a b",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
