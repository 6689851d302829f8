//! Request features: the typed interfaces through which a server exposes one request.
//!
//! As in ASP.NET Core, a server implements a *feature collection* ([`Features`]) for each request.
//! Two features are required and are what a custom server must provide: [`RequestFeature`] and
//! [`ResponseFeature`]. Everything else (connection, request lifetime, request identifier, and
//! whatever a server or middleware adds) is optional and looked up by type with
//! [`Features::get`](trait.Features.html#method.get).
//!
//! The io_uring engine implements all of these on its per-connection protocol object, which is
//! reset and reused for every request (Kestrel's `HttpProtocol`), so none of them allocates.

use std::any::{Any, TypeId};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll, Waker};

use crate::base::MinDataRate;
use crate::proto::h1::{Method, ResponseHeaders, Version};

/// The request side of a request: its head and its body (ASP.NET Core's `IHttpRequestFeature`).
pub trait RequestFeature {
    /// The method, parsed.
    fn method(&self) -> Method;
    /// The method as sent (useful for extension methods, where [`method`](Self::method) is `Other`).
    fn method_str(&self) -> &str;
    /// `HTTP/1.0` or `HTTP/1.1`.
    fn version(&self) -> Version;
    /// The URI scheme the request arrived on (`"http"`). Applications that may run behind a
    /// proxy read [`HttpContext::scheme`](crate::HttpContext::scheme), which honours a
    /// [`RequestOverride`].
    fn scheme(&self) -> &str;
    /// The target's host and optional port (`uri-host [ ":" port ]`, as sent): the authority of
    /// an absolute-form target, else the Host header; `None` when the request has neither
    /// (HTTP/1.0). The default reads the Host header. Applications that may run behind a proxy
    /// read [`HttpContext::host`](crate::HttpContext::host), which honours a [`RequestOverride`].
    fn host(&self) -> Option<&str> {
        self.header("host")
            .and_then(|v| std::str::from_utf8(v).ok())
            .filter(|h| !h.is_empty())
    }
    /// The request target exactly as sent (`/a/b?x=1`, `*`, or an absolute URI).
    fn raw_target(&self) -> &str;
    /// The path of the target, not percent-decoded (`/a/b`).
    fn path(&self) -> &str;
    /// The query of the target without the `?`, empty when there is none.
    fn query(&self) -> &str;
    /// The first value of the header `name` (ASCII case-insensitive).
    fn header(&self, name: &str) -> Option<&[u8]>;
    /// How many header fields the request has.
    fn header_count(&self) -> usize;
    /// The header field at `index` (in the order received) as `(name, value)`.
    fn header_at(&self, index: usize) -> Option<(&[u8], &[u8])>;
    /// The declared body length, `None` for chunked bodies.
    fn content_length(&self) -> Option<u64>;
    /// Whether the request has a body at all (a `Content-Length` above zero or chunked framing).
    fn has_body(&self) -> bool;
    /// Reads body bytes into `buf`; `Ok(0)` means the body is complete (or `buf` is empty).
    ///
    /// The first read of a request that sent `Expect: 100-continue` makes the server send the
    /// interim `100 Continue` response.
    fn poll_read_body(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
}

/// Why a change to the response was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseError {
    /// The response head was already sent; status and headers can no longer change.
    Started,
    /// A header name is not a token, or a value contains CR, LF or NUL.
    InvalidHeader,
    /// A status code outside 100..=999.
    InvalidStatus,
    /// The response cannot carry what was asked (trailers on a protocol without them).
    Unsupported,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResponseError::Started => "the response has already started",
            ResponseError::InvalidHeader => "invalid response header name or value",
            ResponseError::InvalidStatus => "invalid status code (must be 100..=999)",
            ResponseError::Unsupported => "the response cannot carry this on this protocol",
        })
    }
}

impl std::error::Error for ResponseError {}

impl From<crate::proto::h1::InvalidHeader> for ResponseError {
    fn from(_: crate::proto::h1::InvalidHeader) -> Self {
        ResponseError::InvalidHeader
    }
}

/// The response side of a request (ASP.NET Core's `IHttpResponseFeature` and
/// `IHttpResponseBodyFeature`).
///
/// Body bytes are buffered by [`write`](Self::write). A response whose body is all written before
/// the application returns is sent with `Content-Length`; one that is flushed earlier is sent
/// chunked unless the application set `Content-Length` itself.
pub trait ResponseFeature {
    /// The status code (200 until set).
    fn status(&self) -> u16;
    /// Sets the status code.
    fn set_status(&mut self, status: u16) -> Result<(), ResponseError>;
    /// The response headers set so far.
    fn headers(&self) -> &ResponseHeaders;
    /// The response headers, for changing; refused once the response has started.
    fn headers_mut(&mut self) -> Result<&mut ResponseHeaders, ResponseError>;
    /// Whether the head has been sent (status and headers are then fixed).
    fn has_started(&self) -> bool;
    /// Appends body bytes to the response buffer.
    fn write(&mut self, data: &[u8]);
    /// How many body bytes are buffered and not yet handed to the transport.
    fn buffered(&self) -> usize;
    /// How many buffered bytes [`HttpContext::write_all`](crate::HttpContext::write_all) allows
    /// before it waits for a flush (backpressure).
    fn buffer_limit(&self) -> usize;
    /// Starts the response if needed and hands buffered body bytes to the transport.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// The connection a request arrived on (ASP.NET Core's `IHttpConnectionFeature`).
///
/// Middleware such as [`ForwardedHeaders`](crate::middleware::ForwardedHeaders) that must show
/// the application another peer *inserts* a changed copy with
/// [`Features::insert_any`]: it overrides the server's own for the rest of that request only (the
/// server's copy describes the connection and serves the next request unchanged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionFeature {
    /// The local address the connection was accepted on; `None` on a Unix domain socket.
    pub local_addr: Option<SocketAddr>,
    /// The peer's address; `None` on a Unix domain socket.
    pub remote_addr: Option<SocketAddr>,
    /// A server-unique identifier of the connection.
    pub connection_id: u64,
}

/// The TLS session of a connection that arrived over HTTPS (ASP.NET Core's
/// `ITlsConnectionFeature` and `ITlsHandshakeFeature`): the negotiated protocol version and
/// cipher suite, the server name the client asked for (SNI), the ALPN protocol, and the client's
/// certificate chain where it sent one that verified. Absent on cleartext connections.
///
/// ```
/// # use peregrine::{HttpContext, AppResult};
/// # fn f(http: &HttpContext<'_>) {
/// if let Some(tls) = http.features().get::<peregrine::http::TlsConnectionFeature>() {
///     println!("{} {} sni={:?}", tls.protocol_version, tls.cipher_suite, tls.server_name);
/// }
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsConnectionFeature {
    /// `"TLSv1.3"` or `"TLSv1.2"`.
    pub protocol_version: &'static str,
    /// The IANA name of the cipher suite, e.g. `"TLS13_AES_128_GCM_SHA256"`.
    pub cipher_suite: &'static str,
    /// The host name the client sent in its ClientHello (SNI), lowercase; `None` without one.
    pub server_name: Option<String>,
    /// The protocol agreed by ALPN (`b"http/1.1"`), if the client offered ALPN.
    pub alpn_protocol: Option<Vec<u8>>,
    /// The client's certificate chain, DER, leaf first: empty unless the endpoint asks for client
    /// certificates and the client sent one that verified against the endpoint's CA bundle.
    pub peer_certificates: Vec<Vec<u8>>,
}

impl TlsConnectionFeature {
    /// The client's (leaf) certificate, DER, if it sent one that verified.
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.peer_certificates.first().map(Vec::as_slice)
    }
}

/// The HTTP version a request arrived over (ASP.NET Core's `HttpRequest.Protocol`): every
/// socket connection serves it, so an application can tell an HTTP/2 stream from an HTTP/1.1
/// request (`http.protocol()`). [`RequestFeature::version`] stays `HTTP/1.1` for HTTP/2
/// requests, which share HTTP/1.1's semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpProtocol {
    /// `HTTP/1.0`.
    Http10,
    /// `HTTP/1.1`.
    Http11,
    /// `HTTP/2` (RFC 9113), over TLS (ALPN `h2`) or cleartext (prior knowledge).
    Http2,
}

impl HttpProtocol {
    /// The protocol as ASP.NET Core names it: `HTTP/1.0`, `HTTP/1.1`, `HTTP/2`.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpProtocol::Http10 => "HTTP/1.0",
            HttpProtocol::Http11 => "HTTP/1.1",
            HttpProtocol::Http2 => "HTTP/2",
        }
    }
}

/// The `:protocol` of an HTTP/2 extended CONNECT (RFC 8441 4; ASP.NET Core's
/// `IHttpExtendedConnectFeature.Protocol`), e.g. `websocket`: present only on such a stream.
/// The stream is then a tunnel: [`Features::upgrade`] answers it with `200` and runs the
/// tunnel over the stream's DATA frames (that is how WebSockets run over HTTP/2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectProtocol(pub String);

/// Response trailers (ASP.NET Core's `IHttpResponseTrailersFeature`): fields sent after the
/// body, such as gRPC's `grpc-status`. HTTP/2 sends them as a HEADERS frame that ends the
/// stream. Look it up with `features_mut().get_mut::<ResponseTrailers>()` (or
/// [`HttpContext::set_trailer`](crate::HttpContext::set_trailer)); a server or protocol that
/// cannot send trailers does not offer the feature.
#[derive(Debug, Default)]
pub struct ResponseTrailers {
    fields: Vec<(String, Vec<u8>)>,
}

impl ResponseTrailers {
    /// Sets trailer `name` (any case; sent lowercase), replacing earlier values. The name must
    /// be a token and the value free of CR, LF and NUL.
    pub fn set(&mut self, name: &str, value: &[u8]) -> Result<(), ResponseError> {
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid_name || value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(ResponseError::InvalidHeader);
        }
        self.fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.fields
            .push((name.to_ascii_lowercase(), value.to_vec()));
        Ok(())
    }

    /// The value of trailer `name`, if set.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Every trailer, in the order set.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_slice()))
    }

    /// Whether no trailer is set.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Removes every trailer.
    pub fn clear(&mut self) {
        self.fields.clear();
    }
}

/// The scheme and host a request is to be treated as having where they differ from what
/// arrived, e.g. the client's `https` and `Host` behind a TLS-terminating proxy (ASP.NET Core's
/// middleware sets `Request.Scheme` and `Request.Host` for this).
///
/// Middleware inserts it with [`Features::insert_any`]; [`HttpContext::scheme`] and
/// [`HttpContext::host`] return its values where set, and the request's own otherwise. The
/// request feature and its headers stay as received.
///
/// [`HttpContext::scheme`]: crate::HttpContext::scheme
/// [`HttpContext::host`]: crate::HttpContext::host
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestOverride {
    /// The scheme (lowercase, e.g. `"https"`), if overridden.
    pub scheme: Option<String>,
    /// The host and optional port (`uri-host [ ":" port ]`), if overridden.
    pub host: Option<String>,
}

/// The request's lifetime (ASP.NET Core's `IHttpRequestLifetimeFeature`): whether the client went
/// away, and a way for the application to abort the connection.
#[derive(Debug, Default)]
pub struct RequestLifetime {
    aborted: bool,
    abort_requested: bool,
    waker: Option<Waker>,
}

impl RequestLifetime {
    /// Whether the connection was aborted (client reset, transport error, or [`abort`](Self::abort)).
    pub fn is_aborted(&self) -> bool {
        self.aborted || self.abort_requested
    }

    /// Aborts the connection: the server stops the response and closes it without a reply.
    pub fn abort(&mut self) {
        self.abort_requested = true;
        self.wake();
    }

    /// Whether the application asked for the abort.
    pub fn abort_requested(&self) -> bool {
        self.abort_requested
    }

    /// Ready once the request is aborted; the future form is
    /// [`HttpContext::aborted`](crate::HttpContext::aborted).
    pub fn poll_aborted(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_aborted() {
            return Poll::Ready(());
        }
        match &self.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => self.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Marks the request aborted by the transport and wakes whoever waits on it. For servers.
    pub fn set_aborted(&mut self) {
        self.aborted = true;
        self.wake();
    }

    /// Clears the state for the next request on the connection. For servers.
    pub fn reset(&mut self) {
        self.aborted = false;
        self.abort_requested = false;
        self.waker = None;
    }

    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// A server-assigned identifier of the request (ASP.NET Core's `IHttpRequestIdentifierFeature`),
/// `"{connection id:X}:{request number:08X}"` like Kestrel's. It is formatted on first use,
/// without allocating, so requests that never ask for it pay nothing.
#[derive(Clone)]
pub struct RequestIdentifier {
    connection: u64,
    request: u32,
    text: std::cell::OnceCell<([u8; 25], u8)>,
}

impl RequestIdentifier {
    /// The identifier of request number `request` on connection `connection`.
    pub fn new(connection: u64, request: u32) -> Self {
        RequestIdentifier {
            connection,
            request,
            text: std::cell::OnceCell::new(),
        }
    }

    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        let (buf, len) = self.text.get_or_init(|| {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            let mut buf = [0u8; 25];
            let mut len = 0;
            let digits = (16 - self.connection.leading_zeros() as usize / 4).max(1);
            for i in (0..digits).rev() {
                buf[len] = HEX[((self.connection >> (i * 4)) & 0xF) as usize];
                len += 1;
            }
            buf[len] = b':';
            len += 1;
            for i in (0..8).rev() {
                buf[len] = HEX[((self.request >> (i * 4)) & 0xF) as usize];
                len += 1;
            }
            (buf, len as u8)
        });
        // Only ASCII hex digits and ':' are ever written.
        std::str::from_utf8(&buf[..*len as usize]).unwrap_or("")
    }
}

impl fmt::Debug for RequestIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequestIdentifier")
            .field(&self.as_str())
            .finish()
    }
}

/// The body-size limit of one request (ASP.NET Core's `IHttpMaxRequestBodySizeFeature`).
///
/// Starts at [`Limits::max_request_body_size`](crate::Limits::max_request_body_size); a handler
/// may raise or lower it until it starts reading the body, after which it is read-only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxRequestBodySize {
    limit: Option<u64>,
    read_only: bool,
}

/// A per-request setting that can no longer change (the body is already being read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOnly;

impl fmt::Display for ReadOnly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request body is already being read; its limits are fixed")
    }
}

impl std::error::Error for ReadOnly {}

impl MaxRequestBodySize {
    /// A feature holding `limit` (`None`: no limit).
    pub fn new(limit: Option<u64>) -> Self {
        MaxRequestBodySize {
            limit,
            read_only: false,
        }
    }

    /// The limit in bytes, `None` for none.
    pub fn get(&self) -> Option<u64> {
        self.limit
    }

    /// Whether the limit can still change.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Changes the limit for this request.
    pub fn set(&mut self, limit: Option<u64>) -> Result<(), ReadOnly> {
        if self.read_only {
            return Err(ReadOnly);
        }
        self.limit = limit;
        Ok(())
    }

    /// Fixes the limit (the body is being read). For servers.
    pub fn freeze(&mut self) {
        self.read_only = true;
    }
}

/// The minimum upload rate of one request's body (ASP.NET Core's
/// `IHttpMinRequestBodyDataRateFeature`); a handler may change it before reading the body.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MinRequestBodyDataRate {
    rate: Option<MinDataRate>,
    read_only: bool,
}

impl MinRequestBodyDataRate {
    /// A feature holding `rate` (`None`: no minimum).
    pub fn new(rate: Option<MinDataRate>) -> Self {
        MinRequestBodyDataRate {
            rate,
            read_only: false,
        }
    }

    /// The minimum rate, `None` for none.
    pub fn get(&self) -> Option<MinDataRate> {
        self.rate
    }

    /// Changes the minimum rate for this request.
    pub fn set(&mut self, rate: Option<MinDataRate>) -> Result<(), ReadOnly> {
        if self.read_only {
            return Err(ReadOnly);
        }
        self.rate = rate;
        Ok(())
    }

    /// Fixes the rate (the body is being read). For servers.
    pub fn freeze(&mut self) {
        self.read_only = true;
    }
}

/// Switching the connection to another protocol (ASP.NET Core's `IHttpUpgradeFeature`), e.g.
/// WebSocket: after `101 Switching Protocols` the connection is an opaque byte stream. An
/// HTTP/2 extended CONNECT stream (RFC 8441) offers it too: after its `200` the stream's DATA
/// frames are the byte stream, and ending it sends END_STREAM.
pub trait UpgradeFeature {
    /// Whether the request asks for an upgrade: HTTP/1.1, `Connection: upgrade`, an `Upgrade`
    /// header, and no body; or an HTTP/2 extended CONNECT whose response has not started.
    fn is_upgradable_request(&self) -> bool;
    /// Sends `101 Switching Protocols` with the response headers set so far (the application
    /// sets `Upgrade`); on an HTTP/2 extended CONNECT ([`ConnectProtocol`]), `200` without
    /// ending the stream. Fails if the request is not upgradable, the response has started, or
    /// the server's upgraded-connection limit is reached.
    fn poll_upgrade(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Reads upgraded-stream bytes; `Ok(0)` when the client closed its side.
    fn poll_read_upgraded(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>>;
    /// Writes `data` to the upgraded stream (sent before this returns `Ready`).
    fn poll_write_upgraded(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<()>>;
    /// Like [`poll_write_upgraded`](Self::poll_write_upgraded), with the bytes in a buffer the
    /// server may take rather than copy: on return `data` is empty, and its storage may have
    /// been exchanged for an empty buffer of the server's (so a caller that keeps writing
    /// through one `Vec` neither copies nor allocates). A `Pending` write is polled again with
    /// `poll_write_upgraded(cx, &[])`. The default copies.
    fn poll_write_upgraded_vec(
        &mut self,
        cx: &mut Context<'_>,
        data: &mut Vec<u8>,
    ) -> Poll<io::Result<()>> {
        let r = self.poll_write_upgraded(cx, data);
        data.clear();
        r
    }
    /// Reads upgraded-stream bytes into the server's own input buffer, behind those received
    /// and not yet [consumed](Self::consume_upgraded), so that a caller can parse them where
    /// they lie ([`upgraded_input`](Self::upgraded_input)) instead of copying them out with
    /// [`poll_read_upgraded`](Self::poll_read_upgraded). `Ok(n)`: `n` more bytes; `Ok(0)`:
    /// the client closed its side. `want` is a hint: how many bytes the caller expects next
    /// (the rest of a frame), for a server that sizes its read by it (0: no idea).
    ///
    /// The default answers [`io::ErrorKind::Unsupported`]: a server that does not lend its
    /// buffer, and the caller reads with `poll_read_upgraded` (both ways may not be mixed on
    /// one stream: bytes lent and not consumed are not read again by `poll_read_upgraded`).
    fn poll_fill_upgraded(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<usize>> {
        let _ = (cx, want);
        Poll::Ready(Err(io::ErrorKind::Unsupported.into()))
    }
    /// The upgraded-stream bytes received and not yet consumed, lent for parsing in place (a
    /// caller may change them, e.g. unmask a WebSocket payload, before consuming them). Empty
    /// by default (see [`poll_fill_upgraded`](Self::poll_fill_upgraded)).
    fn upgraded_input(&mut self) -> &mut [u8] {
        &mut []
    }
    /// Marks the first `n` bytes of [`upgraded_input`](Self::upgraded_input) consumed (`n`
    /// past its length counts as all of it). Does nothing by default.
    fn consume_upgraded(&mut self, n: usize) {
        let _ = n;
    }
}

/// A request's feature collection (ASP.NET Core's `IFeatureCollection`).
///
/// A server provides the request and response features by implementing [`RequestFeature`] and
/// [`ResponseFeature`] on the same object (Kestrel's protocol object implements its features
/// itself); [`HttpContext`](super::HttpContext) reaches them through the supertraits, with no
/// call to find them. Everything else is optional: the upgrade feature, and features found by
/// type through [`get_any`](Self::get_any) (use the typed `get::<T>()`/`get_mut::<T>()` on
/// `dyn Features`). Features added with [`insert_any`](Self::insert_any) live until the end of
/// the request, and take precedence over the server's own feature of the same type for that
/// time: a server that takes inserted features must look them up first in `get_any` and
/// `get_any_mut`. That is how middleware overrides a feature for one request (a
/// [`ConnectionFeature`] with the client's address behind a proxy) without changing the
/// connection's.
pub trait Features: RequestFeature + ResponseFeature {
    /// The upgrade feature, where the server supports upgrades.
    fn upgrade(&mut self) -> Option<&mut dyn UpgradeFeature> {
        None
    }
    /// The optional feature of type `type_id`, if this server or a middleware provides it.
    fn get_any(&self, type_id: TypeId) -> Option<&dyn Any> {
        let _ = type_id;
        None
    }
    /// The optional feature of type `type_id`, mutably.
    fn get_any_mut(&mut self, type_id: TypeId) -> Option<&mut dyn Any> {
        let _ = type_id;
        None
    }
    /// Adds (or replaces) a feature for the rest of the request; gives it back if this collection
    /// does not take extra features.
    fn insert_any(&mut self, feature: Box<dyn Any>) -> Result<(), Box<dyn Any>> {
        Err(feature)
    }
}

impl dyn Features + '_ {
    /// The feature of type `T`, if present.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.get_any(TypeId::of::<T>())?.downcast_ref()
    }

    /// The feature of type `T`, mutably, if present.
    pub fn get_mut<T: Any>(&mut self) -> Option<&mut T> {
        self.get_any_mut(TypeId::of::<T>())?.downcast_mut()
    }

    /// Adds (or replaces) the feature `feature` for the rest of the request.
    pub fn insert<T: Any>(&mut self, feature: T) -> Result<(), T> {
        self.insert_any(Box::new(feature)).map_err(|b| {
            *b.downcast::<T>()
                .expect("insert_any returns the feature it was given")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_identifier_formats_like_kestrel() {
        assert_eq!(RequestIdentifier::new(0x1F, 2).as_str(), "1F:00000002");
        assert_eq!(RequestIdentifier::new(0, 0).as_str(), "0:00000000");
        assert_eq!(
            RequestIdentifier::new(u64::MAX, u32::MAX).as_str(),
            "FFFFFFFFFFFFFFFF:FFFFFFFF"
        );
    }
}
