//! `uri-host [ ":" port ]` (RFC 3986 3.2.2-3.2.3), as the middleware reads and compares it.

use std::net::Ipv6Addr;

/// A host split from its port: `name` is a registered name or IPv4 address (as written), or an
/// IPv6 literal (without its brackets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostName<'a> {
    /// A registered name or a dotted IPv4 address.
    Name(&'a str),
    /// A bracketed IPv6 literal, parsed.
    Ipv6(Ipv6Addr),
}

/// Splits and validates `host [ ":" port ]`, conservatively: a name of ASCII letters, digits,
/// `-`, `.`, `_` and `~` (no percent-encoding, no sub-delimiters), or `[IPv6]`; a port of 1 to 5
/// digits. Returns the host and the port text.
pub(crate) fn split_host_port(s: &str) -> Option<(HostName<'_>, Option<&str>)> {
    let (host, rest) = if let Some(inner) = s.strip_prefix('[') {
        let end = inner.find(']')?;
        let ip: Ipv6Addr = inner[..end].parse().ok()?;
        (HostName::Ipv6(ip), &inner[end + 1..])
    } else {
        let end = s.find(':').unwrap_or(s.len());
        let name = &s[..end];
        let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        if name.is_empty() || !name.bytes().all(ok) {
            return None;
        }
        (HostName::Name(name), &s[end..])
    };
    let port = match rest {
        "" => None,
        _ => {
            let port = rest.strip_prefix(':')?;
            if port.is_empty() || port.len() > 5 || !port.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(port)
        }
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_split_and_validate() {
        assert_eq!(
            split_host_port("example.com:8080"),
            Some((HostName::Name("example.com"), Some("8080")))
        );
        assert_eq!(
            split_host_port("[::1]:80"),
            Some((HostName::Ipv6(Ipv6Addr::LOCALHOST), Some("80")))
        );
        assert_eq!(
            split_host_port("[0:0::1]"),
            Some((HostName::Ipv6(Ipv6Addr::LOCALHOST), None))
        );
        assert_eq!(
            split_host_port("10.0.0.1"),
            Some((HostName::Name("10.0.0.1"), None))
        );
        for bad in [
            "", ":80", "a b", "a:", "a:123456", "a:8x", "[::1", "[::1]x", "[x]", "::1", "a/b",
            "a@b", "a%20b", "a,b",
        ] {
            assert_eq!(split_host_port(bad), None, "{bad:?}");
        }
    }
}
