//! The request features, implemented by the protocol object itself (no per-request objects).

use std::any::{Any, TypeId};
use std::io;
use std::task::{Context, Poll};

use super::access::{AccessEntry, Padded};
use super::{Http1Connection, Transport, Writing};
use crate::http::{
    Features, HttpProtocol, RequestFeature, ResponseError, ResponseFeature, ResponseTrailers,
    TlsConnectionFeature, UpgradeFeature,
};
use crate::proto::h1::{BodyKind, Method, ResponseHeaders, Span, Version};

/// `s` as text. The parser admits only visible ASCII in the method, the target and the host, so
/// this never falls back to `""` for them.
///
/// An ASCII check, not `str::from_utf8`: the answer is the same for these bytes, and UTF-8
/// validation walks byte by byte (about 100 instructions a call, once per request for routing).
#[inline]
fn text(s: &[u8]) -> &str {
    if is_ascii(s) {
        // SAFETY: every ASCII byte sequence is valid UTF-8, and `s` was just checked to be
        // ASCII (the check and the conversion see the same borrowed bytes).
        unsafe { std::str::from_utf8_unchecked(s) }
    } else {
        ""
    }
}

/// Whether every byte of `s` is ASCII. 8 to 16 bytes (a path such as `/plaintext`) are two
/// overlapping word loads here, about a dozen instructions fewer than `<[u8]>::is_ascii`, which
/// sets up its loops even for a short slice; longer slices are left to it.
#[inline]
fn is_ascii(s: &[u8]) -> bool {
    const HIGH_BITS: u64 = u64::from_ne_bytes([0x80; 8]);
    let word = |at: usize| u64::from_ne_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    match s.len() {
        0..8 => s.iter().fold(0, |any, &b| any | b) < 0x80,
        n @ 8..=16 => (word(0) | word(n - 8)) & HIGH_BITS == 0,
        _ => s.is_ascii(),
    }
}

impl<T: Transport> Http1Connection<T> {
    /// The text of `span` in the current head: one bounds check on the input, where resolving
    /// it in [`head_bytes`](Self::head_bytes) checks both slices (the parser's spans lie within
    /// the head).
    #[inline]
    fn head_text(&self, span: Span) -> &str {
        text(&self.input[self.base + span.start as usize..self.base + span.end as usize])
    }
}

impl<T: Transport> RequestFeature for Http1Connection<T> {
    fn method(&self) -> Method {
        self.head.method
    }

    fn method_str(&self) -> &str {
        self.head_text(self.head.method_span)
    }

    fn version(&self) -> Version {
        self.head.version
    }

    fn scheme(&self) -> &str {
        if self.transport.tls().is_some() {
            "https"
        } else {
            "http"
        }
    }

    fn host(&self) -> Option<&str> {
        Some(self.head_text(self.head.host)).filter(|h| !h.is_empty())
    }

    fn raw_target(&self) -> &str {
        self.head_text(self.head.target)
    }

    fn path(&self) -> &str {
        self.head_text(self.head.path)
    }

    fn query(&self) -> &str {
        self.head_text(self.head.query)
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        self.head.header(self.head_bytes(), name)
    }

    fn header_count(&self) -> usize {
        self.head.headers().len()
    }

    fn header_at(&self, index: usize) -> Option<(&[u8], &[u8])> {
        let h = self.head.headers().get(index)?;
        let bytes = self.head_bytes();
        Some((h.name.get(bytes), h.value.get(bytes)))
    }

    fn content_length(&self) -> Option<u64> {
        match self.head.body {
            BodyKind::Length(n) => Some(n),
            BodyKind::None => Some(0),
            BodyKind::Chunked => None,
        }
    }

    fn has_body(&self) -> bool {
        !matches!(self.head.body, BodyKind::None | BodyKind::Length(0))
    }

    fn poll_read_body(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_body(cx, buf)
    }
}

impl<T: Transport> ResponseFeature for Http1Connection<T> {
    fn status(&self) -> u16 {
        self.response.status
    }

    fn set_status(&mut self, status: u16) -> Result<(), ResponseError> {
        if self.response.writing != Writing::NotStarted {
            return Err(ResponseError::Started);
        }
        if !(100..=999).contains(&status) {
            return Err(ResponseError::InvalidStatus);
        }
        self.response.status = status;
        Ok(())
    }

    fn headers(&self) -> &ResponseHeaders {
        &self.response.headers
    }

    fn headers_mut(&mut self) -> Result<&mut ResponseHeaders, ResponseError> {
        if self.response.writing != Writing::NotStarted {
            return Err(ResponseError::Started);
        }
        Ok(&mut self.response.headers)
    }

    fn has_started(&self) -> bool {
        self.response.writing != Writing::NotStarted
    }

    fn write(&mut self, data: &[u8]) {
        self.response.body_len += data.len() as u64;
        if self.head.method != Method::Head {
            self.response.body.extend_from_slice(data);
        }
    }

    fn buffered(&self) -> usize {
        self.response.body.len() + self.out.len()
    }

    fn buffer_limit(&self) -> usize {
        self.worker.limits.max_response_buffer_size
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush_response(cx)
    }
}

impl<T: Transport> UpgradeFeature for Http1Connection<T> {
    fn is_upgradable_request(&self) -> bool {
        self.is_upgradable()
    }

    fn poll_upgrade(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Http1Connection::poll_upgrade(self, cx)
    }

    fn poll_read_upgraded(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Http1Connection::poll_read_upgraded(self, cx, buf)
    }

    fn poll_write_upgraded(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<()>> {
        Http1Connection::poll_write_upgraded(self, cx, data)
    }

    fn poll_write_upgraded_vec(
        &mut self,
        cx: &mut Context<'_>,
        data: &mut Vec<u8>,
    ) -> Poll<io::Result<()>> {
        Http1Connection::poll_write_upgraded_vec(self, cx, data)
    }

    fn poll_fill_upgraded(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<usize>> {
        Http1Connection::poll_fill_upgraded(self, cx, want)
    }

    fn upgraded_input(&mut self) -> &mut [u8] {
        Http1Connection::upgraded_input(self)
    }

    fn consume_upgraded(&mut self, n: usize) {
        Http1Connection::consume_upgraded(self, n)
    }
}

impl<T: Transport> Features for Http1Connection<T> {
    fn upgrade(&mut self) -> Option<&mut dyn UpgradeFeature> {
        Some(self)
    }

    // Inserted features come first: they override the connection's own for one request (see
    // `Features`). The map is empty unless middleware inserted something, so this costs a
    // length check on the usual path.
    fn get_any(&self, type_id: TypeId) -> Option<&dyn Any> {
        if let Some(common) = self.features.get(type_id, &self.worker) {
            Some(common)
        } else if type_id == TypeId::of::<TlsConnectionFeature>() {
            self.transport.tls().map(|t| t as &dyn Any)
        } else if type_id == TypeId::of::<HttpProtocol>() {
            Some(match self.head.version {
                Version::Http10 => &HTTP10,
                Version::Http11 => &HTTP11,
            })
        } else {
            None
        }
    }

    fn get_any_mut(&mut self, type_id: TypeId) -> Option<&mut dyn Any> {
        if type_id == TypeId::of::<ResponseTrailers>()
            && self.features.extra.get(type_id).is_none()
            && self.accepts_trailers()
        {
            // Made on first use (a request that sets no trailer allocates nothing); the map is
            // cleared for every request.
            self.features
                .extra
                .insert(Box::new(ResponseTrailers::default()));
        }
        self.features.get_mut(type_id)
    }

    fn insert_any(&mut self, feature: Box<dyn Any>) -> Result<(), Box<dyn Any>> {
        self.features.extra.insert(feature);
        Ok(())
    }
}

static HTTP10: HttpProtocol = HttpProtocol::Http10;
static HTTP11: HttpProtocol = HttpProtocol::Http11;

impl<T: Transport> Http1Connection<T> {
    /// Whether this response may carry trailers (RFC 9110 6.5.1): an HTTP/1.1 request whose
    /// `TE` lists `trailers`, and a response not yet complete. They go out in the chunked
    /// framing's trailer section, so only when the response is chunked (the handler flushed
    /// before it finished).
    fn accepts_trailers(&self) -> bool {
        self.head.version == Version::Http11
            && self.response.writing != Writing::Done
            && self.head.method != Method::Head
            && self.head.header(self.head_bytes(), "te").is_some_and(|te| {
                te.split(|&b| b == b',').any(|t| {
                    let t = t.split(|&b| b == b';').next().unwrap_or_default();
                    t.trim_ascii().eq_ignore_ascii_case(b"trailers")
                })
            })
    }

    /// Ends a chunked body: the last chunk, the trailers the application set (if the request
    /// accepted them), and the blank line.
    pub(super) fn encode_last_chunk_with_trailers(&mut self) {
        let Some(trailers) = self
            .features
            .extra
            .get(TypeId::of::<ResponseTrailers>())
            .and_then(|t| t.downcast_ref::<ResponseTrailers>())
            .filter(|t| !t.is_empty())
        else {
            crate::proto::h1::encode_last_chunk(&mut self.out);
            return;
        };
        self.out.extend_from_slice(b"0\r\n");
        for (name, value) in trailers.iter() {
            self.out.extend_from_slice(name);
            self.out.extend_from_slice(b": ");
            self.out.extend_from_slice(value);
            self.out.extend_from_slice(b"\r\n");
        }
        self.out.extend_from_slice(b"\r\n");
    }

    /// Logs the access log line of the request just answered (target `peregrine::access`,
    /// level INFO), when the server logs requests: the client address as the application saw it
    /// (after forwarded headers), method, target, status, body bytes and time taken.
    pub(crate) fn log_access(&self) {
        let Some(started) = self.started else {
            return;
        };
        let remote = self.features.remote_addr();
        let head = self.head_bytes();
        let (method, target) = (self.head.method_span, self.head.target);
        self.worker.access.log(&AccessEntry {
            remote,
            method: Padded::within(head, method.start as usize, method.end as usize),
            target: Padded::within(head, target.start as usize, target.end as usize),
            status: self.response_status(),
            bytes: self.response_body_len(),
            started,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::is_ascii;

    #[test]
    fn is_ascii_agrees_with_std_at_every_length_and_position() {
        for len in 0..40 {
            let ascii = vec![b'a'; len];
            assert!(is_ascii(&ascii), "len {len}");
            for at in 0..len {
                let mut s = ascii.clone();
                s[at] = 0x80;
                assert!(!is_ascii(&s), "len {len}, high byte at {at}");
                assert_eq!(is_ascii(&s), s.is_ascii());
            }
        }
    }
}
