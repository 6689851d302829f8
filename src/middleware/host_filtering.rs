//! Host filtering (ASP.NET Core's `HostFilteringMiddleware`): answer `400` to requests whose
//! Host is not one this application serves, before the application sees them.
//!
//! It protects applications that build links or redirects from the Host header against
//! host-header injection, and keeps requests for other names (scanners, DNS rebinding) away from
//! them. The allowed list holds:
//!
//! - exact names, `example.com` (ASCII case-insensitive);
//! - subdomain wildcards, `*.example.com`, matching `a.example.com` and `a.b.example.com` but
//!   not `example.com` itself (list both if both are served);
//! - IP addresses, `10.0.0.1`, `[::1]` or `::1` (IPv6 compared as addresses, so `[0:0::1]` is
//!   `[::1]`);
//! - `*`, which allows every host (and makes the filter a no-op).
//!
//! Ports are ignored on both sides (`example.com:8080` in the list is `example.com`). The host
//! checked is [`HttpContext::host`]: the request's own, or what
//! [`ForwardedHeaders`](super::ForwardedHeaders) applied when it wraps this middleware.
//!
//! A request with no Host (HTTP/1.0; HTTP/1.1 requires one and the parser rejects requests
//! without) is allowed unless [`HostFilteringOptions::allow_empty_hosts`] is off. A Host that is
//! not `name[:port]` or `[IPv6][:port]` with conservative characters (letters, digits, `-`, `.`,
//! `_`, `~`) matches nothing but `*`.

use std::fmt;
use std::net::Ipv6Addr;

use super::host::{split_host_port, HostName};
use crate::app::{AppResult, Application, BoxError};
use crate::http::HttpContext;

/// The body of the `400` response (when [`HostFilteringOptions::include_failure_message`]).
pub const FAILURE_MESSAGE: &[u8] = b"400 Bad Request: invalid host name\n";

/// What [`HostFiltering`] allows (ASP.NET Core's `HostFilteringOptions`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFilteringOptions {
    /// The allowed hosts (see the [module documentation](self)); must not be empty.
    pub allowed_hosts: Vec<String>,
    /// Whether a request without a Host (HTTP/1.0) is allowed. Default: `true`, as in ASP.NET
    /// Core.
    pub allow_empty_hosts: bool,
    /// Whether the `400` response has a short plain-text body ([`FAILURE_MESSAGE`]) or none.
    /// Default: `true`.
    pub include_failure_message: bool,
}

impl HostFilteringOptions {
    /// Options allowing `hosts`, with the defaults for the rest.
    pub fn new<I, S>(hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        HostFilteringOptions {
            allowed_hosts: hosts.into_iter().map(Into::into).collect(),
            allow_empty_hosts: true,
            include_failure_message: true,
        }
    }
}

/// A host-filtering configuration that cannot work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostFilteringError {
    /// The allowed list is empty (every request would be refused). Use `*` to allow all.
    NoAllowedHosts,
    /// An entry is not a host name, IP address, `*.name` or `*`.
    InvalidHost(String),
}

impl fmt::Display for HostFilteringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostFilteringError::NoAllowedHosts => {
                f.write_str("no allowed hosts configured (use \"*\" to allow all)")
            }
            HostFilteringError::InvalidHost(h) => write!(f, "invalid allowed host {h:?}"),
        }
    }
}

impl std::error::Error for HostFilteringError {}

/// One allowed-host entry, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    Any,
    /// A name or IPv4 address, lowercase.
    Exact(String),
    /// `.example.com` for `*.example.com`, lowercase.
    Subdomain(String),
    Ipv6(Ipv6Addr),
}

impl Pattern {
    fn parse(entry: &str) -> Option<Pattern> {
        let entry = entry.trim();
        if entry == "*" {
            return Some(Pattern::Any);
        }
        if let Some(suffix) = entry.strip_prefix("*.") {
            return match split_host_port(suffix)? {
                (HostName::Name(n), _) if !n.contains('*') => {
                    Some(Pattern::Subdomain(format!(".{}", n.to_ascii_lowercase())))
                }
                _ => None,
            };
        }
        if let Ok(ip) = entry.parse::<Ipv6Addr>() {
            return Some(Pattern::Ipv6(ip));
        }
        match split_host_port(entry)? {
            (HostName::Name(n), _) => Some(Pattern::Exact(n.to_ascii_lowercase())),
            (HostName::Ipv6(ip), _) => Some(Pattern::Ipv6(ip)),
        }
    }

    fn matches(&self, host: &HostName<'_>) -> bool {
        match (self, host) {
            (Pattern::Any, _) => true,
            (Pattern::Exact(p), HostName::Name(n)) => p.eq_ignore_ascii_case(n),
            (Pattern::Subdomain(suffix), HostName::Name(n)) => {
                n.len() > suffix.len()
                    && n.is_char_boundary(n.len() - suffix.len())
                    && n[n.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            }
            (Pattern::Ipv6(p), HostName::Ipv6(ip)) => p == ip,
            _ => false,
        }
    }
}

/// The host-filtering middleware: wraps an application and answers `400` (without calling it)
/// to requests whose Host is not allowed. See the [module documentation](self).
pub struct HostFiltering<A> {
    inner: A,
    patterns: Vec<Pattern>,
    allow_all: bool,
    allow_empty_hosts: bool,
    include_failure_message: bool,
}

impl<A> HostFiltering<A> {
    /// Wraps `inner`, allowing `hosts` (with the other options at their defaults).
    pub fn new<I, S>(inner: A, hosts: I) -> Result<Self, HostFilteringError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::with_options(inner, HostFilteringOptions::new(hosts))
    }

    /// Wraps `inner` with `options`. Fails if the allowed list is empty or has an invalid entry.
    pub fn with_options(
        inner: A,
        options: HostFilteringOptions,
    ) -> Result<Self, HostFilteringError> {
        if options.allowed_hosts.is_empty() {
            return Err(HostFilteringError::NoAllowedHosts);
        }
        let patterns = options
            .allowed_hosts
            .iter()
            .map(|h| Pattern::parse(h).ok_or_else(|| HostFilteringError::InvalidHost(h.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(HostFiltering {
            inner,
            allow_all: patterns.contains(&Pattern::Any),
            patterns,
            allow_empty_hosts: options.allow_empty_hosts,
            include_failure_message: options.include_failure_message,
        })
    }

    /// The wrapped application.
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// Whether a request with `host` (`None` or empty: no Host) is allowed.
    pub fn is_allowed(&self, host: Option<&str>) -> bool {
        if self.allow_all {
            return true;
        }
        match host.filter(|h| !h.is_empty()) {
            None => self.allow_empty_hosts,
            Some(h) => match split_host_port(h) {
                Some((name, _)) => self.patterns.iter().any(|p| p.matches(&name)),
                None => false,
            },
        }
    }

    fn reject(&self, http: &mut HttpContext<'_>) -> AppResult {
        http.set_status(400)?;
        if self.include_failure_message {
            http.set_header("content-type", "text/plain; charset=utf-8")?;
            http.write(FAILURE_MESSAGE);
        }
        Ok(())
    }
}

impl<A: Application> Application for HostFiltering<A> {
    type Context = A::Context;

    fn create_context(&self, context: &mut A::Context, http: &mut HttpContext<'_>) {
        self.inner.create_context(context, http);
    }

    async fn process_request(
        &self,
        context: &mut A::Context,
        http: &mut HttpContext<'_>,
    ) -> AppResult {
        if !self.is_allowed(http.host()) {
            return self.reject(http);
        }
        self.inner.process_request(context, http).await
    }

    fn dispose_context(&self, context: &mut A::Context, error: Option<&BoxError>) {
        self.inner.dispose_context(context, error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl crate::Handler for Nothing {
        async fn handle(&self, _: &mut HttpContext<'_>) -> AppResult {
            Ok(())
        }
    }

    fn filter(hosts: &[&str]) -> HostFiltering<Nothing> {
        HostFiltering::new(Nothing, hosts.iter().copied()).unwrap()
    }

    #[test]
    fn exact_names_ignore_case_and_ports() {
        let f = filter(&["example.com", "localhost:8080"]);
        for ok in ["example.com", "EXAMPLE.com:443", "localhost", "localhost:1"] {
            assert!(f.is_allowed(Some(ok)), "{ok}");
        }
        for no in [
            "example.org",
            "a.example.com",
            "example.com.evil",
            "xexample.com",
        ] {
            assert!(!f.is_allowed(Some(no)), "{no}");
        }
    }

    #[test]
    fn subdomain_wildcards() {
        let f = filter(&["*.example.com"]);
        for ok in ["a.example.com", "a.b.example.com:80", "A.EXAMPLE.COM"] {
            assert!(f.is_allowed(Some(ok)), "{ok}");
        }
        for no in [
            "example.com",
            ".example.com",
            "aexample.com",
            "a.example.org",
        ] {
            assert!(!f.is_allowed(Some(no)), "{no}");
        }
    }

    #[test]
    fn ip_literals() {
        let f = filter(&["10.0.0.1", "[::1]", "2001:db8::1"]);
        for ok in ["10.0.0.1:80", "[::1]", "[0:0::1]:8080", "[2001:db8::1]"] {
            assert!(f.is_allowed(Some(ok)), "{ok}");
        }
        for no in ["10.0.0.2", "[::2]", "::1"] {
            assert!(!f.is_allowed(Some(no)), "{no}");
        }
    }

    #[test]
    fn star_allows_everything() {
        let f = filter(&["example.com", "*"]);
        assert!(f.is_allowed(Some("anything")));
        assert!(f.is_allowed(Some("a!b")));
        assert!(f.is_allowed(None));
    }

    #[test]
    fn missing_host() {
        let f = filter(&["example.com"]);
        assert!(f.is_allowed(None));
        assert!(f.is_allowed(Some("")));
        let mut o = HostFilteringOptions::new(["example.com"]);
        o.allow_empty_hosts = false;
        let f = HostFiltering::with_options(Nothing, o).unwrap();
        assert!(!f.is_allowed(None));
        assert!(f.is_allowed(Some("example.com")));
    }

    #[test]
    fn configuration_errors() {
        assert_eq!(
            HostFiltering::new(Nothing, Vec::<String>::new()).err(),
            Some(HostFilteringError::NoAllowedHosts)
        );
        for bad in [
            "",
            "a b",
            "*example.com",
            "*.",
            "*.*.example.com",
            "a/b",
            "[::1",
            "exa*mple.com",
        ] {
            assert_eq!(
                HostFiltering::new(Nothing, [bad]).err(),
                Some(HostFilteringError::InvalidHost(bad.into())),
                "{bad:?}"
            );
        }
        assert!(!HostFilteringError::NoAllowedHosts.to_string().is_empty());
    }
}
