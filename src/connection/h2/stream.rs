//! One HTTP/2 stream as one request: its features (request from the pseudo-headers and
//! fields, streamed body with flow control, response headers, body and trailers) and the task
//! that runs the application on it.

use std::any::{Any, TypeId};
use std::future::{poll_fn, Future};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use super::{register, SharedRef};
use crate::app::Application;
use crate::connection::common_features::CommonFeatures;
use crate::connection::WorkerContext;
use crate::http::{
    ConnectProtocol, Features, HttpContext, HttpProtocol, RequestFeature, ResponseError,
    ResponseFeature, ResponseTrailers, TlsConnectionFeature, UpgradeFeature,
};
use crate::proto::decimal::decimal;
use crate::proto::h1::{Method, ResponseHeaders, Version};
use crate::proto::h2::{ErrorCode, RequestHead, SendError};

/// `bytes` as text (`""` when not UTF-8).
fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or("")
}

/// Where the response is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Writing {
    /// Status and headers can still change.
    NotStarted,
    /// HEADERS went out; DATA follows.
    Streaming,
    /// END_STREAM went out (or the stream is gone).
    Done,
}

/// A stream's request and response: the feature collection its application sees.
pub(crate) struct H2Stream {
    shared: SharedRef,
    id: u32,
    head: RequestHead,
    method: Method,
    /// `:path` split at `?`.
    path_end: usize,
    https: bool,
    /// The features every protocol's requests carry (looked up by type).
    features: CommonFeatures,
    tls: Option<std::rc::Rc<TlsConnectionFeature>>,
    /// Request body bytes the application read.
    body_read: u64,
    /// The body broke the size limit: a response not yet started becomes `413`.
    body_too_large: bool,
    status: u16,
    headers: ResponseHeaders,
    trailers: ResponseTrailers,
    /// Response body bytes written and not yet taken by the core.
    body: Vec<u8>,
    body_len: u64,
    /// Whether the application flushed before it returned (then no Content-Length is added).
    flushed: bool,
    writing: Writing,
    worker: Rc<WorkerContext>,
    /// `:protocol` of an extended CONNECT (RFC 8441): the stream can become a tunnel.
    connect_protocol: Option<ConnectProtocol>,
    /// The tunnel is open (`200` sent; counted in `WorkerContext::upgraded`).
    upgraded: bool,
    /// A tunnel write's bytes are in `body` and not yet all taken by the core.
    upgrade_write_pending: bool,
    /// Tunnel bytes taken from the stream for [`UpgradeFeature::upgraded_input`]; those before
    /// `tunnel_pos` are consumed.
    tunnel_input: Vec<u8>,
    tunnel_pos: usize,
}

impl Drop for H2Stream {
    fn drop(&mut self) {
        if self.upgraded {
            self.worker.upgraded.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl H2Stream {
    fn new(shared: SharedRef, id: u32, head: RequestHead, requests: u32) -> H2Stream {
        let (connection, tls, worker, (headers, body)) = {
            let mut sh = shared.borrow_mut();
            // A finished stream's buffers, when there is one (no allocation per stream).
            let spare = sh
                .spare_responses
                .pop()
                .unwrap_or_else(|| (ResponseHeaders::with_capacity(256, 16), Vec::new()));
            (sh.connection, sh.tls.clone(), sh.worker.clone(), spare)
        };
        let limits = &worker.limits;
        let connect_protocol = head
            .protocol()
            .map(|p| ConnectProtocol(String::from_utf8_lossy(p).into_owned()));
        let path = head.path().unwrap_or(b"");
        let path_end = path.iter().position(|&b| b == b'?').unwrap_or(path.len());
        H2Stream {
            method: Method::from_bytes(head.method()),
            path_end,
            https: tls.is_some(),
            features: CommonFeatures::new(connection, requests, limits),
            tls,
            body_read: 0,
            body_too_large: false,
            status: 200,
            headers,
            trailers: ResponseTrailers::default(),
            body,
            body_len: 0,
            flushed: false,
            writing: Writing::NotStarted,
            connect_protocol,
            upgraded: false,
            upgrade_write_pending: false,
            tunnel_input: Vec::new(),
            tunnel_pos: 0,
            worker,
            shared,
            id,
            head,
        }
    }

    /// Whether the client or the core reset the stream (or the connection ended).
    fn is_reset(&self) -> bool {
        let sh = self.shared.borrow();
        sh.streams.get(&self.id).is_none_or(|s| s.reset.is_some())
    }

    /// Sends the response HEADERS (`end`: with END_STREAM; `complete`: the application has
    /// returned, so the body's length is known).
    fn send_head(&mut self, end: bool, complete: bool) -> io::Result<()> {
        let mut sh = self.shared.borrow_mut();
        let worker = sh.worker.clone();
        let server_headers = worker.server_headers.borrow();
        let (digits, len) = decimal(self.body_len);
        let date_field = server_headers
            .date()
            .filter(|_| !self.headers.contains("date"))
            .map(|date| (&b"date"[..], date));
        let server_field = server_headers
            .server()
            .filter(|_| !self.headers.contains("server"))
            .map(|server| (&b"server"[..], server));
        // A response the application wrote whole gets its length (clients use it for
        // progress; HEAD answers carry what GET would have sent).
        let has_body = crate::proto::h1::status_allows_body(self.status);
        // Not with trailers: a length would tell proxies (nginx's grpc_pass) the response ends
        // with its body.
        let length_field = (complete
            && !self.flushed
            && self.trailers.is_empty()
            && has_body
            && !self.headers.contains("content-length")
            && (self.body_len > 0 || self.method != Method::Head))
            .then(|| (&b"content-length"[..], &digits[..len]));
        // The fields as an iterator: no list is built (no allocation per response).
        let fields = date_field
            .into_iter()
            .chain(server_field)
            .chain(length_field)
            .chain(self.headers.iter());
        let r = sh.conn.send_headers_iter(self.id, self.status, fields, end);
        drop(server_headers);
        sh.wake_driver();
        self.writing = if end {
            Writing::Done
        } else {
            Writing::Streaming
        };
        r.map_err(send_error)
    }

    /// Hands buffered body bytes to the core; Ready once every byte is taken (`end`: and the
    /// stream ended with them, or with the trailers).
    fn poll_send_body(&mut self, cx: &mut Context<'_>, end: bool) -> Poll<io::Result<()>> {
        if self.writing == Writing::NotStarted {
            let trailers = end && !self.trailers.is_empty();
            self.send_head(end && self.body.is_empty() && !trailers, end)?;
        }
        if self.writing == Writing::Done {
            self.body.clear();
            return Poll::Ready(Ok(()));
        }
        if self.is_reset() {
            return Poll::Ready(Err(reset_error()));
        }
        let mut sh = self.shared.borrow_mut();
        let trailers = end && !self.trailers.is_empty();
        if !self.body.is_empty() || (end && self.writing == Writing::Streaming) {
            let data_end = end && !trailers;
            let n = match sh.conn.send_data(self.id, &self.body, data_end) {
                Ok(n) => n,
                Err(e) => {
                    sh.wake_driver();
                    return Poll::Ready(Err(send_error(e)));
                }
            };
            self.body.drain(..n);
            sh.wake_driver();
            if !self.body.is_empty() {
                register(&mut sh, self.id, cx);
                return Poll::Pending;
            }
            if end {
                if trailers {
                    let fields: Vec<(&[u8], &[u8])> = self.trailers.iter().collect();
                    let r = sh.conn.send_trailers(self.id, &fields);
                    sh.wake_driver();
                    r.map_err(send_error)?;
                }
                self.writing = Writing::Done;
            }
        }
        Poll::Ready(Ok(()))
    }
}

fn send_error(e: SendError) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        format!("the HTTP/2 stream is gone ({e:?})"),
    )
}

fn reset_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "the client reset the HTTP/2 stream",
    )
}

impl RequestFeature for H2Stream {
    fn method(&self) -> Method {
        self.method
    }

    fn method_str(&self) -> &str {
        text(self.head.method())
    }

    fn version(&self) -> Version {
        // HTTP/2 carries HTTP/1.1's semantics; `HttpProtocol` tells the versions apart.
        Version::Http11
    }

    fn scheme(&self) -> &str {
        if self.https {
            "https"
        } else {
            "http"
        }
    }

    fn host(&self) -> Option<&str> {
        // `:authority` is the Host (RFC 9113 8.3.1); a `host` field where it is absent.
        self.head
            .authority()
            .or_else(|| self.header_bytes("host"))
            .map(text)
            .filter(|h| !h.is_empty())
    }

    fn raw_target(&self) -> &str {
        text(self.head.path().unwrap_or(b""))
    }

    fn path(&self) -> &str {
        &self.raw_target()[..self.path_end]
    }

    fn query(&self) -> &str {
        self.raw_target().get(self.path_end + 1..).unwrap_or("")
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        self.header_bytes(name)
    }

    fn header_count(&self) -> usize {
        self.head.headers().count()
    }

    fn header_at(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.head.headers().nth(index)
    }

    fn content_length(&self) -> Option<u64> {
        self.head.content_length().or_else(|| {
            let sh = self.shared.borrow();
            let slot = sh.streams.get(&self.id)?;
            (slot.end && slot.body.is_empty() && self.body_read == 0).then_some(0)
        })
    }

    fn has_body(&self) -> bool {
        if self.head.content_length() == Some(0) {
            return false;
        }
        let sh = self.shared.borrow();
        sh.streams
            .get(&self.id)
            .is_some_and(|s| !(s.end && s.body.is_empty() && self.body_read == 0))
    }

    fn poll_read_body(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.features.body_size.freeze();
        self.features.body_rate.freeze();
        let limit = self.features.body_size.get();
        let too_large = |this: &mut H2Stream| {
            this.body_too_large = true;
            Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request body larger than the limit",
            )))
        };
        if let (Some(limit), Some(len)) = (limit, self.head.content_length()) {
            if len > limit {
                return too_large(self);
            }
        }
        let n = ready!(poll_take_data(&self.shared, self.id, cx, |body| {
            drain_into(body, buf)
        }))?;
        self.body_read += n as u64;
        if limit.is_some_and(|l| self.body_read > l) {
            return too_large(self);
        }
        Poll::Ready(Ok(n))
    }
}

impl H2Stream {
    fn header_bytes(&self, name: &str) -> Option<&[u8]> {
        self.head
            .headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }
}

impl ResponseFeature for H2Stream {
    fn status(&self) -> u16 {
        self.status
    }

    fn set_status(&mut self, status: u16) -> Result<(), ResponseError> {
        if self.writing != Writing::NotStarted {
            return Err(ResponseError::Started);
        }
        if !(100..=999).contains(&status) {
            return Err(ResponseError::InvalidStatus);
        }
        self.status = status;
        Ok(())
    }

    fn headers(&self) -> &ResponseHeaders {
        &self.headers
    }

    fn headers_mut(&mut self) -> Result<&mut ResponseHeaders, ResponseError> {
        if self.writing != Writing::NotStarted {
            return Err(ResponseError::Started);
        }
        Ok(&mut self.headers)
    }

    fn has_started(&self) -> bool {
        self.writing != Writing::NotStarted
    }

    fn write(&mut self, data: &[u8]) {
        self.body_len += data.len() as u64;
        if self.method != Method::Head && self.writing != Writing::Done {
            self.body.extend_from_slice(data);
        }
    }

    fn buffered(&self) -> usize {
        self.body.len()
    }

    fn buffer_limit(&self) -> usize {
        self.shared.borrow().worker.limits.max_response_buffer_size
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flushed = true;
        self.poll_send_body(cx, false)
    }
}

static HTTP2: HttpProtocol = HttpProtocol::Http2;

impl Features for H2Stream {
    fn get_any(&self, type_id: TypeId) -> Option<&dyn Any> {
        if let Some(common) = self.features.get(type_id, &self.worker) {
            Some(common)
        } else if type_id == TypeId::of::<ResponseTrailers>() {
            Some(&self.trailers)
        } else if type_id == TypeId::of::<HttpProtocol>() {
            Some(&HTTP2)
        } else if type_id == TypeId::of::<TlsConnectionFeature>() {
            self.tls.as_deref().map(|t| t as &dyn Any)
        } else if type_id == TypeId::of::<ConnectProtocol>() {
            self.connect_protocol.as_ref().map(|p| p as &dyn Any)
        } else {
            None
        }
    }

    fn upgrade(&mut self) -> Option<&mut dyn UpgradeFeature> {
        // Only an extended CONNECT can become a tunnel (RFC 8441); HTTP/2 has no `Upgrade`.
        if self.connect_protocol.is_some() {
            Some(self)
        } else {
            None
        }
    }

    fn get_any_mut(&mut self, type_id: TypeId) -> Option<&mut dyn Any> {
        if type_id == TypeId::of::<ResponseTrailers>() && self.features.extra.get(type_id).is_none()
        {
            Some(&mut self.trailers)
        } else {
            self.features.get_mut(type_id)
        }
    }

    fn insert_any(&mut self, feature: Box<dyn Any>) -> Result<(), Box<dyn Any>> {
        self.features.extra.insert(feature);
        Ok(())
    }
}

/// An extended CONNECT stream as a tunnel (RFC 8441 5): `200` without END_STREAM, then the
/// request's DATA frames are read and the response's written, with the stream's flow control
/// as back-pressure; the handler's return ends the stream (END_STREAM).
impl UpgradeFeature for H2Stream {
    fn is_upgradable_request(&self) -> bool {
        self.connect_protocol.is_some() && self.writing == Writing::NotStarted
    }

    fn poll_upgrade(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.upgraded {
            return Poll::Ready(Ok(()));
        }
        let refuse = |why: &str| Poll::Ready(Err(io::Error::other(why.to_owned())));
        if self.connect_protocol.is_none() {
            return refuse("the request is not an extended CONNECT");
        }
        if self.writing != Writing::NotStarted {
            return refuse("the response has already started");
        }
        if self.is_reset() {
            return Poll::Ready(Err(reset_error()));
        }
        let open = self.worker.upgraded.fetch_add(1, Ordering::Relaxed);
        if self
            .worker
            .limits
            .max_concurrent_upgraded_connections
            .is_some_and(|max| open >= max)
        {
            self.worker.upgraded.fetch_sub(1, Ordering::Relaxed);
            return refuse("the upgraded-connection limit is reached");
        }
        self.upgraded = true;
        // The reset of a tunnel reaches the handler as a failed read or write (a WebSocket's
        // 1006), not as the cancellation of its future.
        if let Some(slot) = self.shared.borrow_mut().streams.get_mut(&self.id) {
            slot.tunnel = true;
        }
        // A tunnel has its own pace: no minimum data rates.
        self.features.body_rate.freeze();
        self.body.clear();
        self.status = 200;
        // The bytes of a tunnel have no declared length: no Content-Length.
        self.flushed = true;
        Poll::Ready(self.send_head(false, false))
    }

    fn poll_read_upgraded(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if !self.upgraded {
            return Poll::Ready(Err(io::Error::other("the stream is not a tunnel")));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = ready!(poll_take_data(&self.shared, self.id, cx, |body| {
            let n = drain_into(body, buf);
            shrink_if_idle(body);
            n
        }))?;
        self.body_read += n as u64;
        Poll::Ready(Ok(n))
    }

    fn poll_fill_upgraded(
        &mut self,
        cx: &mut Context<'_>,
        _want: usize,
    ) -> Poll<io::Result<usize>> {
        if !self.upgraded {
            return Poll::Ready(Err(io::Error::other("the stream is not a tunnel")));
        }
        // Consumed bytes go; the rest (a partial frame header) moves to the front.
        self.tunnel_input.drain(..self.tunnel_pos);
        self.tunnel_pos = 0;
        let input = &mut self.tunnel_input;
        let taken = poll_take_data(&self.shared, self.id, cx, |body| {
            // All of it: the stream's flow-control window bounds it.
            let (a, b) = body.as_slices();
            let n = a.len() + b.len();
            input.reserve(n);
            input.extend_from_slice(a);
            input.extend_from_slice(b);
            body.clear();
            shrink_if_idle(body);
            n
        });
        if taken.is_pending() && input.is_empty() && input.capacity() > IDLE_TUNNEL_BUFFER {
            // An idle tunnel keeps no large receive buffer.
            *input = Vec::new();
        }
        let n = ready!(taken)?;
        self.body_read += n as u64;
        Poll::Ready(Ok(n))
    }

    fn upgraded_input(&mut self) -> &mut [u8] {
        &mut self.tunnel_input[self.tunnel_pos..]
    }

    fn consume_upgraded(&mut self, n: usize) {
        self.tunnel_pos = self
            .tunnel_pos
            .saturating_add(n)
            .min(self.tunnel_input.len());
    }

    fn poll_write_upgraded(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<()>> {
        if !self.upgraded {
            return Poll::Ready(Err(io::Error::other("the stream is not a tunnel")));
        }
        // `data` is appended once: a pending write is polled again with nothing new.
        if !self.upgrade_write_pending {
            self.body_len += data.len() as u64;
            self.body.extend_from_slice(data);
            self.upgrade_write_pending = true;
        }
        let r = std::task::ready!(self.poll_send_body(cx, false));
        self.upgrade_write_pending = false;
        if self.body.is_empty() && self.body.capacity() > 16 * 1024 {
            self.body = Vec::new();
        }
        Poll::Ready(r)
    }
}

/// How the application's run ended.
enum Ran {
    Ok,
    Failed,
    Panicked,
    /// The stream was reset while the handler ran: it was cancelled (dropped).
    Reset,
}

/// The task of stream `id`: runs the application on it and sends the response.
pub(super) async fn run<A: Application>(
    app: Arc<A>,
    shared: SharedRef,
    id: u32,
    head: RequestHead,
) {
    let (requests, access_log) = {
        let sh = shared.borrow();
        (sh.requests, sh.worker.access_log)
    };
    // The access log's clock, read only when the log is on (as for HTTP/1.1).
    let started = access_log.then(crate::connection::access::wall_micros);
    let mut s = H2Stream::new(shared.clone(), id, head, requests);
    let mut context = A::Context::default();
    let ran = {
        let mut http = HttpContext::new(&mut s);
        app.create_context(&mut context, &mut http);
        let result = {
            let mut request = pin!(app.process_request(&mut context, &mut http));
            poll_fn(|cx| {
                {
                    // RST_STREAM cancels the handler: its future is dropped unpolled.
                    let mut sh = shared.borrow_mut();
                    match sh.streams.get(&id) {
                        // A tunnel's handler learns of the reset from its reads and writes.
                        Some(slot) if slot.reset.is_none() || slot.tunnel => {
                            register(&mut sh, id, cx)
                        }
                        _ => return Poll::Ready(None),
                    }
                }
                match catch_unwind(AssertUnwindSafe(|| request.as_mut().poll(cx))) {
                    Ok(Poll::Ready(r)) => Poll::Ready(Some(Ok(r))),
                    Ok(Poll::Pending) => Poll::Pending,
                    Err(_) => Poll::Ready(Some(Err(()))),
                }
            })
            .await
        };
        let (ran, error) = match result {
            None => (Ran::Reset, Some("the client reset the stream".into())),
            Some(Ok(Ok(()))) => (Ran::Ok, None),
            Some(Ok(Err(e))) => {
                tracing::warn!(error = %e, "the application failed a request");
                (Ran::Failed, Some(e))
            }
            Some(Err(())) => (Ran::Panicked, Some("the application panicked".into())),
        };
        app.dispose_context(&mut context, error.as_ref());
        ran
    };
    let worker = shared.borrow().worker.clone();
    worker.metrics.request();
    match ran {
        Ran::Reset => {}
        Ran::Ok if !s.body_too_large || s.writing != Writing::NotStarted => {
            let _ = poll_fn(|cx| s.poll_send_body(cx, true)).await;
        }
        Ran::Ok | Ran::Failed | Ran::Panicked => {
            if s.writing == Writing::NotStarted {
                // Nothing went out: the status says what happened (413 for a body over the
                // limit, as Kestrel answers, 500 for a failure).
                s.status = if s.body_too_large { 413 } else { 500 };
                s.headers.clear();
                s.body.clear();
                s.body_len = 0;
                s.trailers.clear();
                let _ = s.send_head(true, true);
            } else {
                // Too late for a status: the stream is reset so the client sees the failure.
                let mut sh = shared.borrow_mut();
                let _ = sh.conn.reset(id, ErrorCode::INTERNAL_ERROR);
                sh.wake_driver();
            }
        }
    }
    if let Some(started) = started {
        // The client address as the application saw it (after forwarded headers).
        let remote = s.features.remote_addr();
        let status = if matches!(ran, Ran::Reset) {
            499
        } else {
            s.status
        };
        worker.access.log(&crate::connection::access::AccessEntry {
            remote,
            method: crate::connection::access::Padded::exact(s.head.method()),
            target: crate::connection::access::Padded::exact(s.head.path().unwrap_or(b"")),
            status,
            bytes: s.body_len,
            started,
        });
    }
    // (Taken out without allocating: empty `Vec`s.)
    let headers = std::mem::replace(&mut s.headers, ResponseHeaders::with_capacity(0, 0));
    let body = std::mem::take(&mut s.body);
    let mut sh = shared.borrow_mut();
    if let Some(slot) = sh.streams.remove(&id) {
        // Body bytes the handler left unread: their window opens again.
        let unread = slot.body.len() as u32;
        if unread > 0 {
            sh.conn.release_capacity(id, unread);
        }
        sh.recycle_body(slot.body);
    }
    // The stream's buffers serve the next streams of the connection.
    sh.conn.recycle_head(&mut s.head);
    sh.recycle_response(headers, body);
    sh.wake_driver();
}

/// Moves the front of a stream's received body into `buf`, as much as fits (both halves of the
/// ring); returns how many bytes it moved.
/// The most receive-queue capacity an idle tunnel (a WebSocket) keeps.
const IDLE_TUNNEL_BUFFER: usize = 16 * 1024;

/// Takes DATA the stream `id` received: `take` moves bytes out of its queue and says how many,
/// and the flow-control window is given back for them. `Ok(0)` at the end of the stream,
/// `Pending` (the task registered for a wake-up) while nothing is queued, an error once the
/// stream is reset or gone. Shared by the request body and the tunnel's two ways of reading.
fn poll_take_data(
    shared: &SharedRef,
    id: u32,
    cx: &Context<'_>,
    take: impl FnOnce(&mut std::collections::VecDeque<u8>) -> usize,
) -> Poll<io::Result<usize>> {
    let mut sh = shared.borrow_mut();
    let Some(slot) = sh.streams.get_mut(&id) else {
        return Poll::Ready(Err(reset_error()));
    };
    if slot.reset.is_some() {
        return Poll::Ready(Err(reset_error()));
    }
    if slot.body.is_empty() {
        if slot.end {
            return Poll::Ready(Ok(0));
        }
        register(&mut sh, id, cx);
        return Poll::Pending;
    }
    let n = take(&mut slot.body);
    sh.conn.release_capacity(id, n as u32);
    sh.wake_driver();
    Poll::Ready(Ok(n))
}

/// An emptied receive queue of a tunnel keeps no large buffer while it waits.
fn shrink_if_idle(body: &mut std::collections::VecDeque<u8>) {
    if body.is_empty() && body.capacity() > IDLE_TUNNEL_BUFFER {
        *body = std::collections::VecDeque::new();
    }
}

fn drain_into(body: &mut std::collections::VecDeque<u8>, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        let (a, _) = body.as_slices();
        let take = a.len().min(buf.len() - n);
        if take == 0 {
            break;
        }
        buf[n..n + take].copy_from_slice(&a[..take]);
        body.drain(..take);
        n += take;
    }
    n
}
