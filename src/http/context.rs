//! [`HttpContext`]: one request as the application sees it, composed from the server's features.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;

use super::features::{
    ConnectionFeature, Features, HttpProtocol, RequestFeature, RequestIdentifier, RequestLifetime,
    RequestOverride, ResponseError, ResponseFeature, ResponseTrailers, UpgradeFeature,
};
use super::StaticHeader;

/// One request and its response, over a server's [`Features`] (ASP.NET Core's `HttpContext`).
///
/// It is a thin view: everything lives in the server's per-connection protocol object, so
/// creating one costs nothing and application code is the same whichever server runs it.
pub struct HttpContext<'a> {
    features: &'a mut dyn Features,
}

impl<'a> HttpContext<'a> {
    /// Wraps a server's feature collection.
    pub fn new(features: &'a mut dyn Features) -> Self {
        HttpContext { features }
    }

    /// The feature collection, for optional or custom features (`features().get::<T>()`).
    pub fn features(&self) -> &dyn Features {
        &*self.features
    }

    /// The feature collection, mutably (to change or add features).
    pub fn features_mut(&mut self) -> &mut dyn Features {
        &mut *self.features
    }

    /// The request.
    pub fn request(&self) -> &dyn RequestFeature {
        &*self.features
    }

    /// The request, mutably (body reads).
    pub fn request_mut(&mut self) -> &mut dyn RequestFeature {
        &mut *self.features
    }

    /// The response.
    pub fn response(&self) -> &dyn ResponseFeature {
        &*self.features
    }

    /// The response, mutably.
    pub fn response_mut(&mut self) -> &mut dyn ResponseFeature {
        &mut *self.features
    }

    /// The connection feature, where the server has connections.
    pub fn connection(&self) -> Option<&ConnectionFeature> {
        self.features().get::<ConnectionFeature>()
    }

    /// The client's address: the connection feature's `remote_addr` (which middleware such as
    /// [`ForwardedHeaders`](crate::middleware::ForwardedHeaders) may override for the request).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.connection().and_then(|c| c.remote_addr)
    }

    /// The request's scheme: a [`RequestOverride`]'s where middleware set one, else the
    /// request's own ([`RequestFeature::scheme`]).
    pub fn scheme(&self) -> &str {
        match self.features().get::<RequestOverride>() {
            Some(RequestOverride {
                scheme: Some(s), ..
            }) => s,
            _ => self.request().scheme(),
        }
    }

    /// The request's host and optional port: a [`RequestOverride`]'s where middleware set one,
    /// else the request's own ([`RequestFeature::host`]).
    pub fn host(&self) -> Option<&str> {
        match self.features().get::<RequestOverride>() {
            Some(RequestOverride { host: Some(h), .. }) => Some(h),
            _ => self.request().host(),
        }
    }

    /// The server-assigned request identifier, where the server provides one.
    pub fn trace_identifier(&self) -> Option<&str> {
        self.features()
            .get::<RequestIdentifier>()
            .map(RequestIdentifier::as_str)
    }

    /// The HTTP version the request arrived over (`HTTP/1.1`, `HTTP/2`); `None` where the
    /// server does not say (the in-memory [`TestServer`](crate::TestServer)).
    pub fn protocol(&self) -> Option<HttpProtocol> {
        self.features().get::<HttpProtocol>().copied()
    }

    /// Sets a response trailer (see [`ResponseTrailers`]). Fails with
    /// [`ResponseError::InvalidHeader`] for a bad name or value, and with
    /// [`ResponseError::Unsupported`] where the response cannot carry trailers (no
    /// [`ResponseTrailers`] feature: HTTP/1.x, the in-memory test server).
    pub fn set_trailer(
        &mut self,
        name: &str,
        value: impl AsRef<[u8]>,
    ) -> Result<(), ResponseError> {
        match self.features_mut().get_mut::<ResponseTrailers>() {
            Some(t) => t.set(name, value.as_ref()),
            None => Err(ResponseError::Unsupported),
        }
    }

    /// Whether the client went away or the request was aborted (false where the server has no
    /// lifetime feature).
    pub fn is_aborted(&self) -> bool {
        self.features()
            .get::<RequestLifetime>()
            .is_some_and(RequestLifetime::is_aborted)
    }

    /// Aborts the connection (no response is sent). Does nothing where the server has no lifetime
    /// feature.
    pub fn abort(&mut self) {
        if let Some(l) = self.features_mut().get_mut::<RequestLifetime>() {
            l.abort();
        }
    }

    /// Completes when the request is aborted; never completes where the server cannot tell.
    pub async fn aborted(&mut self) {
        poll_fn(
            |cx| match self.features_mut().get_mut::<RequestLifetime>() {
                Some(l) => l.poll_aborted(cx),
                None => std::task::Poll::Pending,
            },
        )
        .await
    }

    /// Sets the response status code.
    pub fn set_status(&mut self, status: u16) -> Result<(), ResponseError> {
        self.response_mut().set_status(status)
    }

    /// Sets a response header, replacing any value it had.
    pub fn set_header(&mut self, name: &str, value: impl AsRef<[u8]>) -> Result<(), ResponseError> {
        self.response_mut()
            .headers_mut()?
            .set(name, value.as_ref())
            .map_err(ResponseError::from)
    }

    /// Sets a response header fixed when the program was built (checked then), replacing any
    /// value it had: [`set_header`](Self::set_header) without the checks of every call.
    pub fn set_static_header(&mut self, header: &StaticHeader) -> Result<(), ResponseError> {
        self.response_mut().headers_mut()?.set_static(header);
        Ok(())
    }

    /// Appends body bytes to the response buffer (no waiting; see [`write_all`](Self::write_all)
    /// for large bodies).
    pub fn write(&mut self, data: &[u8]) {
        self.response_mut().write(data);
    }

    /// Appends body bytes, first waiting for a flush while the buffer is over the server's limit,
    /// so a handler producing a large body is paced by the client instead of buffering it whole.
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        let limit = self.response().buffer_limit();
        for piece in data.chunks(limit.max(1)) {
            if self.response().buffered() + piece.len() > limit {
                self.flush().await?;
            }
            self.response_mut().write(piece);
        }
        Ok(())
    }

    /// Sends the response head (if not yet sent) and every buffered body byte.
    pub async fn flush(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.response_mut().poll_flush(cx)).await
    }

    /// Whether the request asks to switch protocols and the server can do it.
    pub fn is_upgradable_request(&mut self) -> bool {
        self.features
            .upgrade()
            .is_some_and(|u| u.is_upgradable_request())
    }

    /// Switches protocols: sends `101 Switching Protocols` with the response headers set so far
    /// (set `Upgrade` first) and returns the connection as a byte stream. The connection closes
    /// when the application returns. On an HTTP/2 extended CONNECT (RFC 8441, see
    /// [`ConnectProtocol`](crate::http::ConnectProtocol)) it sends `200` and the stream's DATA
    /// frames are the byte stream; the stream ends (END_STREAM) when the application returns.
    pub async fn upgrade(&mut self) -> io::Result<Upgraded<'_, 'a>> {
        let upgrade = self.features.upgrade().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "this server cannot upgrade connections",
            )
        })?;
        poll_fn(|cx| upgrade.poll_upgrade(cx)).await?;
        Ok(Upgraded { http: self })
    }

    /// Reads request body bytes into `buf`; `Ok(0)` at the end of the body.
    pub async fn read_body(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.request_mut().poll_read_body(cx, buf)).await
    }

    /// Reads the rest of the request body into `out`, refusing bodies larger than `max` bytes
    /// (the error kind is `InvalidData`; the connection's own body limit still applies).
    pub async fn read_body_to_end(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        let start = out.len();
        if let Some(n) = self.request().content_length() {
            out.reserve(usize::try_from(n).unwrap_or(usize::MAX).min(max));
        }
        let mut chunk = [0u8; 8192];
        loop {
            let n = self.read_body(&mut chunk).await?;
            if n == 0 {
                return Ok(out.len() - start);
            }
            if out.len() - start + n > max {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("request body larger than {max} bytes"),
                ));
            }
            out.extend_from_slice(&chunk[..n]);
        }
    }
}

/// An upgraded connection: an opaque byte stream, from [`HttpContext::upgrade`].
pub struct Upgraded<'h, 'a> {
    http: &'h mut HttpContext<'a>,
}

impl Upgraded<'_, '_> {
    fn feature(&mut self) -> &mut dyn UpgradeFeature {
        self.http
            .features
            .upgrade()
            .expect("an upgraded connection keeps its upgrade feature")
    }

    /// Reads bytes from the client; `Ok(0)` when it closed its side.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.feature().poll_read_upgraded(cx, buf)).await
    }

    /// Writes `data` to the client.
    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        poll_fn(|cx| self.feature().poll_write_upgraded(cx, data)).await
    }
}
