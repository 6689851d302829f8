//! Forwarded headers (ASP.NET Core's `ForwardedHeadersMiddleware`): behind a reverse proxy, show
//! the application the client's address, scheme and host instead of the proxy's.
//!
//! A proxy reports the hop it received a request from in `X-Forwarded-For` (the client's address),
//! `X-Forwarded-Proto` (the scheme it was received on) and `X-Forwarded-Host` (the Host it was
//! sent to), or all three in the standard `Forwarded` header (RFC 7239). Each proxy on the way
//! appends its own entry, so the lists read left (the client) to right (the last proxy).
//!
//! Anybody can send these headers, so they are believed only from **trusted** proxies
//! ([`ForwardedHeadersOptions::known_proxies`] and [`known_networks`]; by default only loopback,
//! as in ASP.NET Core). [`ForwardedHeaders`] walks the entries right to left:
//!
//! 1. If the address the entry came from (first the connection's peer, then each address
//!    already taken from the list) is not trusted, stop.
//! 2. Take the entry: its address becomes the client address, its scheme and host (where
//!    present and valid) the request's.
//! 3. Stop after [`forward_limit`] entries (default 1: one proxy), or at the first entry whose
//!    address is not an IP address (`unknown`, an obfuscated `_name`, or garbage).
//!
//! What it changes is inserted as per-request features, so the connection's own state is never
//! touched: a [`ConnectionFeature`] with the new `remote_addr` (read it with
//! [`HttpContext::remote_addr`]), a [`RequestOverride`] with the scheme and host (read them with
//! [`HttpContext::scheme`] and [`HttpContext::host`]), and [`ForwardedOriginal`] with the values
//! before the change (ASP.NET Core's `X-Original-*` headers). The request headers themselves stay
//! as received. A server that does not take inserted features or has no peer address (the
//! in-memory [`TestServer`](crate::TestServer)) is left alone.
//!
//! **Malformed headers are ignored, never an error:** a `Forwarded` header that does not follow
//! RFC 7239's grammar (or repeats a parameter within an element) is ignored as a whole; a header
//! value that is not UTF-8 counts as absent; an address that does not parse stops the walk; a
//! scheme or host that does not parse is not applied (the rest of its entry is).
//!
//! When [`ForwardedHeaderSet::FORWARDED`] is enabled and the request has a `Forwarded` header,
//! it is used and the `X-Forwarded-*` headers are not. Enable only the headers your proxy
//! actually sets (and overwrites or strips when the client sends them).
//!
//! [`known_networks`]: ForwardedHeadersOptions::known_networks
//! [`forward_limit`]: ForwardedHeadersOptions::forward_limit
//! [`ConnectionFeature`]: crate::http::ConnectionFeature
//! [`RequestOverride`]: crate::http::RequestOverride

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::BitOr;

use super::host::split_host_port;
use super::ip_network::IpNetwork;
use crate::app::{AppResult, Application, BoxError};
use crate::http::{ConnectionFeature, HttpContext, RequestOverride};
use crate::proto::h1::token::is_tchar;

/// Which forwarding headers to honour (ASP.NET Core's `ForwardedHeaders` flags). Combine with `|`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ForwardedHeaderSet(u8);

impl ForwardedHeaderSet {
    /// None: the middleware does nothing.
    pub const NONE: Self = ForwardedHeaderSet(0);
    /// `X-Forwarded-For`: the client address.
    pub const X_FORWARDED_FOR: Self = ForwardedHeaderSet(1);
    /// `X-Forwarded-Proto`: the scheme.
    pub const X_FORWARDED_PROTO: Self = ForwardedHeaderSet(2);
    /// `X-Forwarded-Host`: the host.
    pub const X_FORWARDED_HOST: Self = ForwardedHeaderSet(4);
    /// The three `X-Forwarded-*` headers.
    pub const X_FORWARDED_ALL: Self = ForwardedHeaderSet(7);
    /// `Forwarded` (RFC 7239): its `for`, `proto` and `host` parameters (`by` is not used).
    pub const FORWARDED: Self = ForwardedHeaderSet(8);

    /// Whether every header in `other` is in `self`.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether some header in `other` is in `self`.
    pub fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }
}

impl BitOr for ForwardedHeaderSet {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        ForwardedHeaderSet(self.0 | rhs.0)
    }
}

/// What [`ForwardedHeaders`] honours and whom it trusts (ASP.NET Core's
/// `ForwardedHeadersOptions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardedHeadersOptions {
    /// The headers to honour. Default: `X-Forwarded-For` and `X-Forwarded-Proto` (what the
    /// common proxies send). ASP.NET Core's default is none; here wrapping an application in
    /// the middleware is the opt-in.
    pub headers: ForwardedHeaderSet,
    /// Proxies trusted by address. Default: `::1`. Clear it (and
    /// [`known_networks`](Self::known_networks)) before adding your proxies if they should be
    /// the only ones trusted.
    pub known_proxies: Vec<IpAddr>,
    /// Proxies trusted by network. Default: `127.0.0.0/8`.
    pub known_networks: Vec<IpNetwork>,
    /// How many entries (proxies) to take at most; `None` for no limit. Default: `Some(1)`.
    pub forward_limit: Option<usize>,
}

impl Default for ForwardedHeadersOptions {
    fn default() -> Self {
        ForwardedHeadersOptions {
            headers: ForwardedHeaderSet::X_FORWARDED_FOR | ForwardedHeaderSet::X_FORWARDED_PROTO,
            known_proxies: vec![IpAddr::V6(Ipv6Addr::LOCALHOST)],
            known_networks: vec![IpNetwork::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8)
                .expect("a valid network")],
            forward_limit: Some(1),
        }
    }
}

impl ForwardedHeadersOptions {
    /// Options that honour `headers` and trust nobody yet (add proxies with
    /// [`known_proxy`](Self::known_proxy) and [`known_network`](Self::known_network)).
    pub fn trusting_none(headers: ForwardedHeaderSet) -> Self {
        ForwardedHeadersOptions {
            headers,
            known_proxies: Vec::new(),
            known_networks: Vec::new(),
            forward_limit: Some(1),
        }
    }

    /// Adds a trusted proxy address.
    pub fn known_proxy(mut self, addr: IpAddr) -> Self {
        self.known_proxies.push(addr);
        self
    }

    /// Adds a trusted network.
    pub fn known_network(mut self, network: IpNetwork) -> Self {
        self.known_networks.push(network);
        self
    }

    /// Sets the forward limit (`None`: no limit).
    pub fn forward_limit(mut self, limit: Option<usize>) -> Self {
        self.forward_limit = limit;
        self
    }

    /// Whether `ip` is a trusted proxy (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.known_proxies.iter().any(|p| p.to_canonical() == ip)
            || self.known_networks.iter().any(|n| n.contains(ip))
    }

    /// The walk over `headers` (every request header, in order) for a request from `peer`:
    /// `None` if no entry was taken.
    fn resolve<'a, I>(&self, peer: SocketAddr, headers: I) -> Option<Resolved>
    where
        I: Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    {
        let use_forwarded = self.headers.contains(ForwardedHeaderSet::FORWARDED)
            && values(headers.clone(), "forwarded").next().is_some();
        let hops = if use_forwarded {
            let mut hops = Vec::new();
            for value in values(headers, "forwarded") {
                parse_forwarded(value, &mut hops)?;
            }
            hops
        } else {
            x_forwarded_hops(self.headers, headers)
        };
        let honour_for =
            use_forwarded || self.headers.contains(ForwardedHeaderSet::X_FORWARDED_FOR);
        let limit = self.forward_limit.unwrap_or(usize::MAX);
        let mut current = peer;
        let mut taken = None::<Resolved>;
        for hop in hops.iter().rev().take(limit) {
            if !self.is_trusted(current.ip()) {
                break;
            }
            let mut next = taken.take().unwrap_or(Resolved {
                remote_addr: peer,
                scheme: None,
                host: None,
            });
            if honour_for {
                match hop.node.as_deref().map(|n| parse_node(n, use_forwarded)) {
                    Some(Some(addr)) => next.remote_addr = addr,
                    // `unknown`, obfuscated or invalid: the hops before it cannot be trusted.
                    Some(None) => {
                        taken = Some(next).filter(|n| *n != Resolved::unchanged(peer));
                        break;
                    }
                    None => {}
                }
            }
            if let Some(scheme) = hop.proto.as_deref().filter(|s| is_scheme(s)) {
                next.scheme = Some(scheme.to_ascii_lowercase());
            }
            if let Some(host) = hop.host.as_deref().filter(|h| split_host_port(h).is_some()) {
                next.host = Some(host.to_owned());
            }
            current = next.remote_addr;
            taken = Some(next);
        }
        taken.filter(|t| *t != Resolved::unchanged(peer))
    }
}

/// The outcome of the walk: the client address, and the scheme and host where an entry gave one.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Resolved {
    remote_addr: SocketAddr,
    scheme: Option<String>,
    host: Option<String>,
}

impl Resolved {
    fn unchanged(peer: SocketAddr) -> Self {
        Resolved {
            remote_addr: peer,
            scheme: None,
            host: None,
        }
    }
}

/// What the request looked like before [`ForwardedHeaders`] changed it (ASP.NET Core's
/// `X-Original-For`, `X-Original-Proto` and `X-Original-Host`). Present only on requests it
/// changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardedOriginal {
    /// The peer address (the proxy's).
    pub remote_addr: Option<SocketAddr>,
    /// The scheme.
    pub scheme: String,
    /// The host and optional port.
    pub host: Option<String>,
}

/// The forwarded-headers middleware: wraps an application and, before it sees a request from a
/// trusted proxy, applies the client address, scheme and host the proxy reported (see the
/// [module documentation](self)).
pub struct ForwardedHeaders<A> {
    inner: A,
    options: ForwardedHeadersOptions,
}

impl<A> ForwardedHeaders<A> {
    /// Wraps `inner`.
    pub fn new(inner: A, options: ForwardedHeadersOptions) -> Self {
        ForwardedHeaders { inner, options }
    }

    /// The options.
    pub fn options(&self) -> &ForwardedHeadersOptions {
        &self.options
    }

    /// The wrapped application.
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// Applies the forwarded headers of the request in `http`, if its peer is trusted. Called
    /// for every request before the wrapped application sees it; public for servers and
    /// middleware that compose differently.
    pub fn apply(&self, http: &mut HttpContext<'_>) {
        if self.options.headers == ForwardedHeaderSet::NONE {
            return;
        }
        let Some(connection) = http.connection().copied() else {
            return;
        };
        let Some(peer) = connection.remote_addr else {
            return;
        };
        let request = http.request();
        let headers = (0..request.header_count()).filter_map(|i| request.header_at(i));
        let Some(resolved) = self.options.resolve(peer, headers) else {
            return;
        };
        let original = ForwardedOriginal {
            remote_addr: Some(peer),
            scheme: http.scheme().to_owned(),
            host: http.host().map(str::to_owned),
        };
        let mut overrides = http
            .features()
            .get::<RequestOverride>()
            .cloned()
            .unwrap_or_default();
        let changes_request = resolved.scheme.is_some() || resolved.host.is_some();
        if resolved.scheme.is_some() {
            overrides.scheme = resolved.scheme;
        }
        if resolved.host.is_some() {
            overrides.host = resolved.host;
        }
        let features = http.features_mut();
        if resolved.remote_addr != peer {
            let _ = features.insert(ConnectionFeature {
                remote_addr: Some(resolved.remote_addr),
                ..connection
            });
        }
        if changes_request {
            let _ = features.insert(overrides);
        }
        let _ = features.insert(original);
    }
}

impl<A: Application> Application for ForwardedHeaders<A> {
    type Context = A::Context;

    fn create_context(&self, context: &mut A::Context, http: &mut HttpContext<'_>) {
        self.apply(http);
        self.inner.create_context(context, http);
    }

    async fn process_request(
        &self,
        context: &mut A::Context,
        http: &mut HttpContext<'_>,
    ) -> AppResult {
        self.inner.process_request(context, http).await
    }

    fn dispose_context(&self, context: &mut A::Context, error: Option<&BoxError>) {
        self.inner.dispose_context(context, error);
    }
}

// ---- header parsing ---------------------------------------------------------------------------

/// One proxy's entry: the node it received the request from, and the scheme and host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Hop<'a> {
    node: Option<Cow<'a, str>>,
    proto: Option<Cow<'a, str>>,
    host: Option<Cow<'a, str>>,
}

/// The UTF-8 values of every header line called `name`, in order (others are skipped).
fn values<'a, I>(headers: I, name: &'static str) -> impl Iterator<Item = &'a str>
where
    I: Iterator<Item = (&'a [u8], &'a [u8])>,
{
    headers
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
        .filter_map(|(_, v)| std::str::from_utf8(v).ok())
}

/// The comma-separated elements of every `name` line, trimmed, empty ones skipped.
fn list<'a, I>(headers: I, name: &'static str) -> Vec<&'a str>
where
    I: Iterator<Item = (&'a [u8], &'a [u8])>,
{
    values(headers, name)
        .flat_map(|v| v.split(','))
        .map(|e| e.trim_matches([' ', '\t']))
        .filter(|e| !e.is_empty())
        .collect()
}

/// The `X-Forwarded-*` lists as entries, aligned from the right (the last element of each list
/// is the last proxy's), as ASP.NET Core reads them.
fn x_forwarded_hops<'a, I>(enabled: ForwardedHeaderSet, headers: I) -> Vec<Hop<'a>>
where
    I: Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
{
    let pick = |flag, name| {
        if enabled.contains(flag) {
            list(headers.clone(), name)
        } else {
            Vec::new()
        }
    };
    let fors = pick(ForwardedHeaderSet::X_FORWARDED_FOR, "x-forwarded-for");
    let protos = pick(ForwardedHeaderSet::X_FORWARDED_PROTO, "x-forwarded-proto");
    let hosts = pick(ForwardedHeaderSet::X_FORWARDED_HOST, "x-forwarded-host");
    let n = fors.len().max(protos.len()).max(hosts.len());
    // Entry i of n, counted from the left, is element i - (n - len) of a list of length len.
    let at = |l: &Vec<&'a str>, i: usize| (i + l.len()).checked_sub(n).map(|j| Cow::Borrowed(l[j]));
    (0..n)
        .map(|i| Hop {
            node: at(&fors, i),
            proto: at(&protos, i),
            host: at(&hosts, i),
        })
        .collect()
}

/// Appends the elements of one `Forwarded` value (RFC 7239 4) to `hops`; `None` if the value
/// does not follow the grammar:
///
/// ```text
/// Forwarded         = 1#forwarded-element
/// forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
/// forwarded-pair    = token "=" value
/// value             = token / quoted-string
/// ```
///
/// Whitespace is allowed only around the commas of the list. Parameter names are
/// case-insensitive, and one may not appear twice in an element; unknown ones are skipped.
fn parse_forwarded<'a>(value: &'a str, hops: &mut Vec<Hop<'a>>) -> Option<()> {
    let mut p = Cursor { s: value, at: 0 };
    loop {
        p.skip_ows();
        match p.peek() {
            None => return Some(()),
            Some(b',') => {
                p.at += 1;
                continue;
            }
            _ => {}
        }
        let mut hop = Hop::default();
        let mut by = false;
        loop {
            match p.peek() {
                Some(b';') => {
                    p.at += 1;
                    continue;
                }
                None | Some(b',' | b' ' | b'\t') => break,
                _ => {}
            }
            let name = p.token()?;
            p.expect(b'=')?;
            let value = if p.peek() == Some(b'"') {
                p.quoted_string()?
            } else {
                Cow::Borrowed(p.token()?)
            };
            let slot = if name.eq_ignore_ascii_case("for") {
                Some(&mut hop.node)
            } else if name.eq_ignore_ascii_case("proto") {
                Some(&mut hop.proto)
            } else if name.eq_ignore_ascii_case("host") {
                Some(&mut hop.host)
            } else if name.eq_ignore_ascii_case("by") {
                if std::mem::replace(&mut by, true) {
                    return None;
                }
                None
            } else {
                None
            };
            if let Some(slot) = slot {
                if slot.replace(value).is_some() {
                    return None;
                }
            }
            if p.peek() == Some(b';') {
                p.at += 1;
            } else {
                break;
            }
        }
        hops.push(hop);
        p.skip_ows();
        match p.peek() {
            None => return Some(()),
            Some(b',') => p.at += 1,
            Some(_) => return None,
        }
    }
}

/// A position in a header value.
struct Cursor<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.at).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.peek() == Some(b)).then(|| self.at += 1)
    }

    /// `1*tchar` (RFC 9110 5.6.2).
    fn token(&mut self) -> Option<&'a str> {
        let start = self.at;
        while self.peek().is_some_and(is_tchar) {
            self.at += 1;
        }
        (self.at > start).then(|| &self.s[start..self.at])
    }

    /// `DQUOTE *( qdtext / quoted-pair ) DQUOTE` (RFC 9110 5.6.4), unescaped; borrowed when
    /// there is nothing to unescape.
    fn quoted_string(&mut self) -> Option<Cow<'a, str>> {
        self.expect(b'"')?;
        let start = self.at;
        let mut owned: Option<String> = None;
        let mut run = start;
        loop {
            let b = self.peek()?;
            match b {
                b'"' => {
                    let value = match owned {
                        Some(mut o) => {
                            o.push_str(&self.s[run..self.at]);
                            Cow::Owned(o)
                        }
                        None => Cow::Borrowed(&self.s[start..self.at]),
                    };
                    self.at += 1;
                    return Some(value);
                }
                b'\\' => {
                    let o = owned.get_or_insert_with(String::new);
                    o.push_str(&self.s[run..self.at]);
                    self.at += 1;
                    let c = self.s[self.at..].chars().next()?;
                    if c.is_ascii_control() && c != '\t' {
                        return None;
                    }
                    o.push(c);
                    self.at += c.len_utf8();
                    run = self.at;
                }
                b'\t' | b' '..=b'~' | 0x80.. => self.at += 1,
                _ => return None,
            }
        }
    }
}

/// `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` (RFC 3986 3.1).
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

/// The address of a node, `None` for `unknown`, an obfuscated identifier or anything invalid.
///
/// `Forwarded` nodes (RFC 7239 6) are `IPv4[:port]` or `"[IPv6][:port]"`, where the port may be
/// obfuscated (`_name`, read as port 0). `X-Forwarded-For` entries may also be a bare IPv6
/// address. A missing port is 0.
fn parse_node(node: &str, forwarded: bool) -> Option<SocketAddr> {
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr);
    }
    let (host, port) = match node.strip_prefix('[') {
        Some(rest) => {
            let end = rest.find(']')?;
            let ip: Ipv6Addr = rest[..end].parse().ok()?;
            (IpAddr::V6(ip), &rest[end + 1..])
        }
        None => match node.split_once(':') {
            Some((v4, port)) if forwarded || v4.parse::<Ipv4Addr>().is_ok() => (
                IpAddr::V4(v4.parse().ok()?),
                node.get(v4.len()..).unwrap_or(port),
            ),
            // A bare IPv6 address (X-Forwarded-For only).
            Some(_) => return node.parse::<Ipv6Addr>().ok().map(|ip| (ip, 0).into()),
            None => (IpAddr::V4(node.parse().ok()?), ""),
        },
    };
    let port = match port {
        "" => 0,
        _ => {
            let port = port.strip_prefix(':')?;
            if forwarded && is_obfuscated_port(port) {
                0
            } else if !port.is_empty()
                && port.len() <= 5
                && port.bytes().all(|b| b.is_ascii_digit())
            {
                port.parse().ok()?
            } else {
                return None;
            }
        }
    };
    Some(SocketAddr::new(host, port))
}

/// `obfport = "_" 1*(ALPHA / DIGIT / "." / "_" / "-")` (RFC 7239 6.3).
fn is_obfuscated_port(s: &str) -> bool {
    s.strip_prefix('_').is_some_and(|rest| {
        !rest.is_empty()
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn forwarded(value: &str) -> Option<Vec<Hop<'_>>> {
        let mut hops = Vec::new();
        parse_forwarded(value, &mut hops)?;
        Some(hops)
    }

    fn hop<'a>(node: Option<&'a str>, proto: Option<&'a str>, host: Option<&'a str>) -> Hop<'a> {
        Hop {
            node: node.map(Cow::Borrowed),
            proto: proto.map(Cow::Borrowed),
            host: host.map(Cow::Borrowed),
        }
    }

    /// Resolves `headers` (name, value) for a request from `peer`.
    fn resolve(
        options: &ForwardedHeadersOptions,
        peer: &str,
        headers: &[(&str, &str)],
    ) -> Option<Resolved> {
        let it = headers.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()));
        options.resolve(addr(peer), it)
    }

    fn client(remote: &str) -> Option<Resolved> {
        Some(Resolved {
            remote_addr: addr(remote),
            scheme: None,
            host: None,
        })
    }

    #[test]
    fn forwarded_grammar() {
        assert_eq!(
            forwarded("for=192.0.2.60;proto=http;by=203.0.113.43").unwrap(),
            [hop(Some("192.0.2.60"), Some("http"), None)]
        );
        assert_eq!(
            forwarded("for=192.0.2.43, for=\"[2001:db8:cafe::17]:4711\" ,for=unknown").unwrap(),
            [
                hop(Some("192.0.2.43"), None, None),
                hop(Some("[2001:db8:cafe::17]:4711"), None, None),
                hop(Some("unknown"), None, None),
            ]
        );
        assert_eq!(
            forwarded("For=\"_gazonk\";HOST=example.com;ext=\"a,b;c\"").unwrap(),
            [hop(Some("_gazonk"), None, Some("example.com"))]
        );
        // Empty list elements and empty pairs are allowed.
        assert_eq!(forwarded(", ;for=1.2.3.4;,").unwrap().len(), 1);
        assert_eq!(forwarded("").unwrap(), []);
        // quoted-pair is unescaped.
        let hops = forwarded(r#"host="a\"b""#).unwrap();
        assert_eq!(hops[0].host.as_deref(), Some("a\"b"));
        for bad in [
            "for",
            "for=",
            "for =1.2.3.4",
            "for= 1.2.3.4",
            "for=1.2.3.4 ;proto=http",
            "for=1.2.3.4; proto=http",
            "for=[2001:db8::1]",
            "for=\"1.2.3.4",
            "for=\"a\x01\"",
            "for=1.2.3.4;for=5.6.7.8",
            "by=a;by=b",
            "for=1.2.3.4 for=5.6.7.8",
            "=x",
        ] {
            assert_eq!(forwarded(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn nodes() {
        assert_eq!(parse_node("192.0.2.60", true), Some(addr("192.0.2.60:0")));
        assert_eq!(
            parse_node("192.0.2.60:8080", true),
            Some(addr("192.0.2.60:8080"))
        );
        assert_eq!(
            parse_node("[2001:db8::1]:4711", true),
            Some(addr("[2001:db8::1]:4711"))
        );
        assert_eq!(
            parse_node("[2001:db8::1]", true),
            Some(addr("[2001:db8::1]:0"))
        );
        assert_eq!(
            parse_node("192.0.2.60:_abc", true),
            Some(addr("192.0.2.60:0"))
        );
        assert_eq!(
            parse_node("2001:db8::1", false),
            Some(addr("[2001:db8::1]:0"))
        );
        assert_eq!(
            parse_node("2001:db8::1", true),
            None,
            "Forwarded needs brackets"
        );
        for bad in [
            "unknown",
            "_hidden",
            "",
            "1.2.3",
            "1.2.3.4:",
            "1.2.3.4:65536",
            "1.2.3.4:_",
            "[::1]:x",
            "[::1",
            "example.com",
            "01.2.3.4",
        ] {
            assert_eq!(parse_node(bad, true), None, "{bad:?}");
            assert_eq!(parse_node(bad, false), None, "{bad:?}");
        }
        assert_eq!(parse_node("1.2.3.4:_abc", false), None);
    }

    #[test]
    fn x_forwarded_for_from_a_trusted_peer() {
        let o = ForwardedHeadersOptions::default();
        let xff = [("X-Forwarded-For", "203.0.113.7")];
        assert_eq!(resolve(&o, "127.0.0.1:5000", &xff), client("203.0.113.7:0"));
        assert_eq!(resolve(&o, "[::1]:5000", &xff), client("203.0.113.7:0"));
        assert_eq!(
            resolve(&o, "[::ffff:127.0.0.1]:5000", &xff),
            client("203.0.113.7:0"),
            "an IPv4-mapped loopback peer is loopback"
        );
        assert_eq!(resolve(&o, "10.0.0.1:5000", &xff), None, "untrusted peer");
        assert_eq!(
            resolve(
                &o,
                "127.0.0.1:1",
                &[("x-forwarded-for", "[2001:db8::1]:4711")]
            ),
            client("[2001:db8::1]:4711")
        );
        assert_eq!(resolve(&o, "127.0.0.1:1", &[]), None);
    }

    #[test]
    fn the_walk_goes_right_to_left_and_stops_at_the_first_untrusted_hop() {
        let o = ForwardedHeadersOptions::trusting_none(ForwardedHeaderSet::X_FORWARDED_ALL)
            .known_network("10.0.0.0/8".parse().unwrap())
            .forward_limit(None);
        let h = [
            ("x-forwarded-for", "198.51.100.1, 203.0.113.9"),
            ("x-forwarded-for", "10.0.0.2, 10.0.0.3"),
        ];
        // 10.0.0.9 (peer) → 10.0.0.3 → 10.0.0.2 → 203.0.113.9 (untrusted: stop, keep it).
        assert_eq!(resolve(&o, "10.0.0.9:1", &h), client("203.0.113.9:0"));
        // With a limit of 2 the walk stops at 10.0.0.2.
        let two = o.clone().forward_limit(Some(2));
        assert_eq!(resolve(&two, "10.0.0.9:1", &h), client("10.0.0.2:0"));
        // The default limit of 1 takes the last entry only.
        let one = o.clone().forward_limit(Some(1));
        assert_eq!(resolve(&one, "10.0.0.9:1", &h), client("10.0.0.3:0"));
        // Everyone trusted: the walk ends at the client.
        let all = o.clone().known_network("0.0.0.0/0".parse().unwrap());
        assert_eq!(resolve(&all, "10.0.0.9:1", &h), client("198.51.100.1:0"));
    }

    #[test]
    fn unknown_or_invalid_entries_stop_the_walk() {
        let o = ForwardedHeadersOptions::default().forward_limit(None);
        let o = o.known_network("0.0.0.0/0".parse().unwrap());
        let h = [("x-forwarded-for", "198.51.100.1, unknown, 203.0.113.9")];
        assert_eq!(resolve(&o, "127.0.0.1:1", &h), client("203.0.113.9:0"));
        let h = [("x-forwarded-for", "198.51.100.1, garbage")];
        assert_eq!(resolve(&o, "127.0.0.1:1", &h), None);
        let fwd = ForwardedHeadersOptions {
            headers: ForwardedHeaderSet::FORWARDED,
            ..o.clone()
        };
        let h = [(
            "forwarded",
            "for=198.51.100.1, for=_hidden, for=203.0.113.9",
        )];
        assert_eq!(resolve(&fwd, "127.0.0.1:1", &h), client("203.0.113.9:0"));
        let h = [("forwarded", "for=\"_hidden\";proto=https")];
        assert_eq!(resolve(&fwd, "127.0.0.1:1", &h), None);
    }

    #[test]
    fn proto_and_host() {
        let o = ForwardedHeadersOptions::default().known_network("0.0.0.0/0".parse().unwrap());
        let o = ForwardedHeadersOptions {
            headers: ForwardedHeaderSet::X_FORWARDED_ALL,
            ..o
        };
        let h = [
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "HTTPS"),
            ("x-forwarded-host", "example.com:8443"),
        ];
        assert_eq!(
            resolve(&o, "127.0.0.1:1", &h),
            Some(Resolved {
                remote_addr: addr("203.0.113.9:0"),
                scheme: Some("https".into()),
                host: Some("example.com:8443".into()),
            })
        );
        // Proto alone (no X-Forwarded-For) applies too; the address stays the peer's.
        assert_eq!(
            resolve(&o, "127.0.0.1:1", &[("x-forwarded-proto", "https")]),
            Some(Resolved {
                remote_addr: addr("127.0.0.1:1"),
                scheme: Some("https".into()),
                host: None,
            })
        );
        // Invalid scheme and host are not applied; the address still is.
        let h = [
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-proto", "ht tp"),
            ("x-forwarded-host", "a/b"),
        ];
        assert_eq!(resolve(&o, "127.0.0.1:1", &h), client("203.0.113.9:0"));
        // Lists are aligned from the right: the shorter proto list belongs to the last proxy.
        let h = [
            ("x-forwarded-for", "203.0.113.9, 10.0.0.1"),
            ("x-forwarded-proto", "https"),
        ];
        let o2 = o.clone().forward_limit(None);
        assert_eq!(
            resolve(&o2, "127.0.0.1:1", &h),
            Some(Resolved {
                remote_addr: addr("203.0.113.9:0"),
                scheme: Some("https".into()),
                host: None,
            })
        );
        // Headers that are not enabled are ignored.
        let d = ForwardedHeadersOptions::default();
        assert_eq!(
            resolve(&d, "127.0.0.1:1", &[("x-forwarded-host", "example.com")]),
            None
        );
    }

    #[test]
    fn forwarded_header() {
        let o = ForwardedHeadersOptions::default();
        let o = ForwardedHeadersOptions {
            headers: ForwardedHeaderSet::FORWARDED | ForwardedHeaderSet::X_FORWARDED_FOR,
            ..o
        };
        let h = [
            (
                "forwarded",
                "for=\"[2001:db8::1]:4711\";proto=https;host=example.com",
            ),
            ("x-forwarded-for", "198.51.100.1"),
        ];
        assert_eq!(
            resolve(&o, "127.0.0.1:1", &h),
            Some(Resolved {
                remote_addr: addr("[2001:db8::1]:4711"),
                scheme: Some("https".into()),
                host: Some("example.com".into()),
            }),
            "Forwarded wins over X-Forwarded-For"
        );
        // A malformed Forwarded header is ignored as a whole (and X-Forwarded-For too: the
        // request had a Forwarded header).
        let h = [
            ("forwarded", "for=1.2.3.4;for=5.6.7.8"),
            ("x-forwarded-for", "198.51.100.1"),
        ];
        assert_eq!(resolve(&o, "127.0.0.1:1", &h), None);
        // Without a Forwarded header, X-Forwarded-For is used.
        let h = [("x-forwarded-for", "198.51.100.1")];
        assert_eq!(resolve(&o, "127.0.0.1:1", &h), client("198.51.100.1:0"));
    }

    #[test]
    fn non_utf8_values_are_absent() {
        let o = ForwardedHeadersOptions::default();
        let it = [(&b"x-forwarded-for"[..], &b"1.2.3.4\xff"[..])].into_iter();
        assert_eq!(o.resolve(addr("127.0.0.1:1"), it), None);
    }

    #[test]
    fn header_set_flags() {
        let s = ForwardedHeaderSet::X_FORWARDED_FOR | ForwardedHeaderSet::FORWARDED;
        assert!(s.contains(ForwardedHeaderSet::FORWARDED));
        assert!(!s.contains(ForwardedHeaderSet::X_FORWARDED_ALL));
        assert!(s.intersects(ForwardedHeaderSet::X_FORWARDED_ALL));
        assert!(!ForwardedHeaderSet::NONE.intersects(s));
    }
}
