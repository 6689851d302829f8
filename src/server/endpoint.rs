//! [`Endpoint`]: one place to listen and how to speak there (Kestrel's `ListenOptions`, the
//! `[endpoints.NAME]` section of the configuration file).

use std::fmt;
use std::str::FromStr;

use super::{is_https, parse_listen_address, ListenAddress, StartError, TlsOptions};

/// The HTTP versions an endpoint speaks (Kestrel's `HttpProtocols`).
///
/// Over TLS the client picks by ALPN among those offered (`h2`, `http/1.1`). In cleartext,
/// [`Http1AndHttp2`](Self::Http1AndHttp2) (the default) looks at the first bytes of each
/// connection: the HTTP/2 connection preface (`PRI * HTTP/2.0`, "prior knowledge") selects
/// HTTP/2, anything else HTTP/1.1. `Upgrade: h2c` is not supported (RFC 9113 deprecates it;
/// Kestrel does not do it either).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpProtocols {
    /// HTTP/1.1 and HTTP/1.0 only (an HTTP/2 preface gets `505`).
    Http1,
    /// HTTP/2 only (anything but the preface gets GOAWAY(PROTOCOL_ERROR) and the close).
    Http2,
    /// Either, detected per connection (the default).
    #[default]
    Http1AndHttp2,
}

impl HttpProtocols {
    /// The name the configuration file uses: `Http1`, `Http2`, `Http1AndHttp2`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpProtocols::Http1 => "Http1",
            HttpProtocols::Http2 => "Http2",
            HttpProtocols::Http1AndHttp2 => "Http1AndHttp2",
        }
    }

    /// Whether HTTP/1.x is spoken.
    pub fn http1(self) -> bool {
        !matches!(self, HttpProtocols::Http2)
    }

    /// Whether HTTP/2 is spoken.
    pub fn http2(self) -> bool {
        !matches!(self, HttpProtocols::Http1)
    }
}

impl fmt::Display for HttpProtocols {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HttpProtocols {
    type Err = String;

    /// `Http1` (also `http1`, `HTTP/1.1`), `Http2` (`h2`, `h2c`, `HTTP/2`), `Http1AndHttp2`.
    /// Kestrel's HTTP/3 names are recognised and refused with a message saying they are not
    /// supported.
    fn from_str(s: &str) -> Result<Self, String> {
        let key: String = s
            .chars()
            .filter(|c| !matches!(c, '/' | '.' | '-' | '_' | ' '))
            .collect::<String>()
            .to_ascii_lowercase();
        match key.as_str() {
            "http1" | "http11" | "http10" => Ok(HttpProtocols::Http1),
            "http2" | "h2" | "h2c" | "http20" => Ok(HttpProtocols::Http2),
            "http1andhttp2" => Ok(HttpProtocols::Http1AndHttp2),
            "http3" | "h3" | "http1andhttp2andhttp3" => Err(format!(
                "protocols {s:?} is not supported: peregrine speaks HTTP/1.x and HTTP/2 \
                 (Http1, Http2, Http1AndHttp2)"
            )),
            _ => Err(format!(
                "unknown protocols {s:?} (expected Http1, Http2 or Http1AndHttp2)"
            )),
        }
    }
}

/// One listening endpoint: an address (a URL, as in [`ServerOptions::urls`]) with what is
/// spoken there. [`ServerOptions::endpoints`] holds them; the configuration file's
/// `[endpoints.NAME]` sections become them (see `docs/hosting.md`).
///
/// ```
/// use peregrine::server::{Endpoint, ServerOptions};
///
/// let mut options = ServerOptions::with_urls(Vec::<String>::new());
/// options.endpoints.push(Endpoint::new("public", "http://127.0.0.1:0"));
/// options.endpoints.push(
///     Endpoint::new("from-haproxy", "unix:/run/app/proxy.sock")
///         .proxy_protocol(true)
///         .unix_socket_mode(0o660),
/// );
/// options.validate().unwrap();
/// ```
///
/// [`ServerOptions::urls`]: super::ServerOptions::urls
/// [`ServerOptions::endpoints`]: super::ServerOptions::endpoints
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The endpoint's name (the `NAME` of `[endpoints.NAME]`), used in messages.
    pub name: String,
    /// Where to listen: `http://IP:PORT`, `http://*:PORT`, `http://localhost:PORT`,
    /// `unix:/PATH` (see [`ListenAddress`]).
    pub url: String,
    /// The HTTP versions spoken. Default [`HttpProtocols::Http1AndHttp2`].
    pub protocols: HttpProtocols,
    /// Whether each connection starts with a PROXY protocol (v1 or v2) header, whose client
    /// address becomes the connection's remote address (as for
    /// [`ServerOptions::proxy_protocol_urls`](super::ServerOptions::proxy_protocol_urls)).
    pub proxy_protocol: bool,
    /// File mode of the socket file, for a `unix:` URL; `None` takes
    /// [`ServerOptions::unix_socket_mode`](super::ServerOptions::unix_socket_mode).
    pub unix_socket_mode: Option<u32>,
    /// TLS settings, required for an `https://` URL (and refused for any other).
    pub tls: Option<TlsOptions>,
}

impl Endpoint {
    /// An endpoint called `name` on `url` speaking HTTP/1.x and HTTP/2, without PROXY protocol.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Endpoint {
        Endpoint {
            name: name.into(),
            url: url.into(),
            protocols: HttpProtocols::Http1AndHttp2,
            proxy_protocol: false,
            unix_socket_mode: None,
            tls: None,
        }
    }

    /// Sets the TLS settings (for an `https://` URL).
    pub fn tls(mut self, tls: TlsOptions) -> Endpoint {
        self.tls = Some(tls);
        self
    }

    /// Sets the HTTP versions spoken.
    pub fn protocols(mut self, protocols: HttpProtocols) -> Endpoint {
        self.protocols = protocols;
        self
    }

    /// Sets whether connections start with a PROXY protocol header.
    pub fn proxy_protocol(mut self, on: bool) -> Endpoint {
        self.proxy_protocol = on;
        self
    }

    /// Sets the socket file's mode (for a `unix:` URL).
    pub fn unix_socket_mode(mut self, mode: u32) -> Endpoint {
        self.unix_socket_mode = Some(mode);
        self
    }

    /// The parsed address; checks the URL and that the settings fit it. The error names the
    /// endpoint.
    pub fn address(&self) -> Result<ListenAddress, StartError> {
        let err = |why: String| StartError::Config(format!("endpoint {}: {why}", self.name));
        let address = parse_listen_address(&self.url).map_err(|e| err(e.to_string()))?;
        if let Some(mode) = self.unix_socket_mode {
            if !matches!(address, ListenAddress::Unix(_)) {
                return Err(err(format!(
                    "unix_socket_mode applies to unix: URLs only, not {}",
                    self.url
                )));
            }
            if mode > 0o777 {
                return Err(err(format!(
                    "unix_socket_mode {mode:o} is not a file mode (at most 777, octal)"
                )));
            }
        }
        match (is_https(&self.url), &self.tls) {
            (true, Some(tls)) => tls.validate().map_err(err)?,
            (true, None) => {
                return Err(err(
                    "an https URL needs a certificate (a certificate table with \
                     path and key_path)"
                        .into(),
                ))
            }
            (false, Some(_)) => {
                return Err(err(format!(
                    "a certificate is set but {} is not an https URL",
                    self.url
                )))
            }
            (false, None) => {}
        }
        if self.proxy_protocol && self.protocols == HttpProtocols::Http2 {
            return Err(err(
                "PROXY protocol with protocols Http2 is not supported (a PROXY protocol \
                 listener speaks HTTP/1.x)"
                    .into(),
            ));
        }
        if self.proxy_protocol && self.tls.is_some() {
            return Err(err(
                "PROXY protocol on an https endpoint is not supported yet".into(),
            ));
        }
        Ok(address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_parse_and_http3_is_named_as_unsupported() {
        for s in ["Http1", "http1", "HTTP/1.1"] {
            assert_eq!(s.parse::<HttpProtocols>(), Ok(HttpProtocols::Http1));
        }
        for s in ["Http2", "h2", "h2c", "HTTP/2"] {
            assert_eq!(s.parse::<HttpProtocols>(), Ok(HttpProtocols::Http2));
        }
        assert_eq!(
            "Http1AndHttp2".parse::<HttpProtocols>(),
            Ok(HttpProtocols::Http1AndHttp2)
        );
        for s in ["Http3", "Http1AndHttp2AndHttp3"] {
            let e = s.parse::<HttpProtocols>().unwrap_err();
            assert!(e.contains("not supported"), "{e}");
        }
        let e = "spdy".parse::<HttpProtocols>().unwrap_err();
        assert!(e.contains("unknown protocols \"spdy\""), "{e}");
        assert_eq!(HttpProtocols::default(), HttpProtocols::Http1AndHttp2);
    }

    #[test]
    fn the_address_is_checked_and_errors_name_the_endpoint() {
        assert!(Endpoint::new("a", "http://127.0.0.1:0").address().is_ok());
        let e = Endpoint::new("a", "http://127.0.0.1:0")
            .unix_socket_mode(0o660)
            .address()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("endpoint a: unix_socket_mode applies to unix: URLs"),
            "{e}"
        );
        let e = Endpoint::new("b", "ftp://x:1")
            .address()
            .unwrap_err()
            .to_string();
        assert!(e.contains("endpoint b: invalid listen URL"), "{e}");
        let e = Endpoint::new("c", "unix:/tmp/x.sock")
            .unix_socket_mode(0o1777)
            .address()
            .unwrap_err()
            .to_string();
        assert!(e.contains("endpoint c: unix_socket_mode 1777"), "{e}");
        let e = Endpoint::new("d", "http://127.0.0.1:0")
            .proxy_protocol(true)
            .protocols(HttpProtocols::Http2)
            .address()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("endpoint d: PROXY protocol with protocols Http2 is not supported"),
            "{e}"
        );
    }
}
