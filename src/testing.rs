//! [`TestServer`]: an in-memory server for testing applications, with no sockets.
//!
//! It implements the same [`Server`] trait as the io_uring engine but gives each request only the
//! two required features, request and response. That it runs every application unchanged is the
//! proof that a custom server needs nothing more.

#[cfg(test)]
mod connection_tests;

use std::any::Any;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use std::rc::Rc;

use crate::app::Application;
use crate::connection::{serve, Closing, Http1Connection, Transport, WorkerContext};
use crate::http::{
    ConnectionFeature, Features, HttpContext, RequestFeature, ResponseError, ResponseFeature,
};
use crate::proto::h1::{Method, ResponseHeaders, Version};
use crate::server::Limits;
use crate::server::{Server, ServerFeatures, StartError, StopReport};

/// A request to send through a [`TestServer`].
#[derive(Clone, Debug)]
pub struct TestRequest {
    method: String,
    target: String,
    version: Version,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl TestRequest {
    /// A request with `method` and `target` (`/path?query`), HTTP/1.1, no headers, no body.
    pub fn new(method: &str, target: &str) -> Self {
        TestRequest {
            method: method.to_owned(),
            target: target.to_owned(),
            version: Version::Http11,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `GET` request.
    pub fn get(target: &str) -> Self {
        TestRequest::new("GET", target)
    }

    /// A `POST` request with `body`.
    pub fn post(target: &str, body: impl Into<Vec<u8>>) -> Self {
        TestRequest::new("POST", target).body(body)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets the HTTP version.
    pub fn version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }
}

/// The response a [`TestServer`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResponse {
    /// Status code.
    pub status: u16,
    /// Headers in the order the application set them.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body (empty for `HEAD`).
    pub body: Vec<u8>,
}

impl TestResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

type Runner = dyn Fn(&TestRequest) -> TestResponse + Send + Sync;

/// An in-memory [`Server`]: [`send`](Self::send) runs one request through the application on
/// the calling thread.
#[derive(Default)]
pub struct TestServer {
    runner: Option<Arc<Runner>>,
    features: ServerFeatures,
    served: Arc<Mutex<u64>>,
}

impl TestServer {
    /// A server with no application yet.
    pub fn new() -> Self {
        TestServer::default()
    }

    /// Sends `request` to the application and returns its response.
    ///
    /// # Panics
    ///
    /// If the server is not started.
    pub fn send(&self, request: TestRequest) -> TestResponse {
        let runner = self.runner.as_ref().expect("TestServer::send before start");
        let response = runner(&request);
        *self.served.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        response
    }
}

impl Server for TestServer {
    fn start<A: Application>(&mut self, app: A) -> Result<(), StartError> {
        if self.runner.is_some() {
            return Err(StartError::AlreadyStarted);
        }
        let app = Arc::new(app);
        self.runner = Some(Arc::new(move |request: &TestRequest| {
            let mut features = TestFeatures::new(request);
            // Each request gets a fresh context: requests may run on any thread here, and an
            // application's context need not be `Send`.
            let mut context = A::Context::default();
            let outcome = {
                let mut http = HttpContext::new(&mut features);
                app.create_context(&mut context, &mut http);
                let result = catch_unwind(AssertUnwindSafe(|| {
                    block_on(app.process_request(&mut context, &mut http))
                }));
                let error = match result {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e),
                    Err(_) => Some("the application panicked".into()),
                };
                app.dispose_context(&mut context, error.as_ref());
                error.is_none()
            };
            features.into_response(outcome)
        }));
        Ok(())
    }

    fn features(&self) -> &ServerFeatures {
        &self.features
    }

    fn stop(&mut self, _deadline: Duration) -> StopReport {
        let began = Instant::now();
        self.runner = None;
        StopReport {
            requests_served: *self.served.lock().unwrap_or_else(|e| e.into_inner()),
            elapsed: began.elapsed(),
            ..StopReport::default()
        }
    }
}

/// The request and response features of one in-memory request, and nothing else.
pub(crate) struct TestFeatures {
    method: String,
    target: String,
    version: Version,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    body_read: usize,
    status: u16,
    response_headers: ResponseHeaders,
    response_body: Vec<u8>,
    started: bool,
}

impl TestFeatures {
    pub(crate) fn new(r: &TestRequest) -> Self {
        TestFeatures {
            method: r.method.clone(),
            target: r.target.clone(),
            version: r.version,
            headers: r.headers.clone(),
            body: r.body.clone(),
            body_read: 0,
            status: 200,
            response_headers: ResponseHeaders::default(),
            response_body: Vec::new(),
            started: false,
        }
    }

    fn into_response(self, succeeded: bool) -> TestResponse {
        if !succeeded && !self.started {
            return TestResponse {
                status: 500,
                headers: Vec::new(),
                body: Vec::new(),
            };
        }
        let is_head = self.method == "HEAD";
        TestResponse {
            status: self.status,
            headers: self
                .response_headers
                .iter()
                .map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), v.to_vec()))
                .collect(),
            body: if is_head {
                Vec::new()
            } else {
                self.response_body
            },
        }
    }

    fn split_target(&self) -> (&str, &str) {
        self.target.split_once('?').unwrap_or((&self.target, ""))
    }
}

impl RequestFeature for TestFeatures {
    fn method(&self) -> Method {
        Method::from_bytes(self.method.as_bytes())
    }
    fn method_str(&self) -> &str {
        &self.method
    }
    fn version(&self) -> Version {
        self.version
    }
    fn scheme(&self) -> &str {
        "http"
    }
    fn raw_target(&self) -> &str {
        &self.target
    }
    fn path(&self) -> &str {
        self.split_target().0
    }
    fn query(&self) -> &str {
        self.split_target().1
    }
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
    fn header_count(&self) -> usize {
        self.headers.len()
    }
    fn header_at(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.headers
            .get(index)
            .map(|(n, v)| (n.as_bytes(), v.as_slice()))
    }
    fn content_length(&self) -> Option<u64> {
        Some(self.body.len() as u64)
    }
    fn has_body(&self) -> bool {
        !self.body.is_empty()
    }
    fn poll_read_body(&mut self, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let rest = &self.body[self.body_read..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.body_read += n;
        Poll::Ready(Ok(n))
    }
}

impl ResponseFeature for TestFeatures {
    fn status(&self) -> u16 {
        self.status
    }
    fn set_status(&mut self, status: u16) -> Result<(), ResponseError> {
        if self.started {
            return Err(ResponseError::Started);
        }
        if !(100..=999).contains(&status) {
            return Err(ResponseError::InvalidStatus);
        }
        self.status = status;
        Ok(())
    }
    fn headers(&self) -> &ResponseHeaders {
        &self.response_headers
    }
    fn headers_mut(&mut self) -> Result<&mut ResponseHeaders, ResponseError> {
        if self.started {
            return Err(ResponseError::Started);
        }
        Ok(&mut self.response_headers)
    }
    fn has_started(&self) -> bool {
        self.started
    }
    fn write(&mut self, data: &[u8]) {
        self.response_body.extend_from_slice(data);
    }
    fn buffered(&self) -> usize {
        0
    }
    fn buffer_limit(&self) -> usize {
        usize::MAX
    }
    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.started = true;
        Poll::Ready(Ok(()))
    }
}

impl Features for TestFeatures {
    fn get_any(&self, _: std::any::TypeId) -> Option<&dyn Any> {
        None
    }
}

/// Runs the real HTTP/1.1 protocol object (the one every socket engine uses) over in-memory
/// bytes: `chunks` arrive one receive at a time, then the stream ends; returns every byte the
/// server wrote. No sockets, no threads, deterministic but for the `Date` header.
///
/// This is Kestrel's in-memory transport for byte-level tests, and the fuzzer's way into the
/// connection state machine.
pub fn serve_bytes<A: Application>(app: &A, limits: Limits, chunks: &[&[u8]]) -> Vec<u8> {
    serve_in_memory(app, limits, chunks, false)
}

/// [`serve_bytes`] with the access log on: each request's line is formatted on the worker and
/// handed to the access log writer thread, which writes to `log`. The writer is the process's
/// one access log writer: if one was started already (by an earlier call or a server in the
/// same process), the lines go to it and `log` is not used. The writer is stopped, its lines
/// written, before this returns.
///
/// `bench/instructions.sh` uses it to count what the access log costs per request.
pub fn serve_bytes_with_access_log<A: Application>(
    app: &A,
    limits: Limits,
    chunks: &[&[u8]],
    log: impl io::Write + Send + 'static,
) -> Vec<u8> {
    let writer = crate::connection::start_access_log_writer(log);
    let out = serve_in_memory(app, limits, chunks, true);
    drop(writer);
    out
}

fn serve_in_memory<A: Application>(
    app: &A,
    limits: Limits,
    chunks: &[&[u8]],
    access_log: bool,
) -> Vec<u8> {
    let mut worker = WorkerContext::new(
        limits,
        Some("peregrine"),
        Default::default(),
        Default::default(),
    );
    worker.access_log = access_log;
    let worker = Rc::new(worker);
    let transport = MemoryTransport {
        input: chunks.concat(),
        ends: chunks
            .iter()
            .scan(0, |end, c| {
                *end += c.len();
                Some(*end)
            })
            .collect(),
        next: 0,
        pos: 0,
        output: Vec::new(),
    };
    let feature = ConnectionFeature {
        local_addr: None,
        remote_addr: None,
        connection_id: 1,
    };
    let mut conn = Http1Connection::new(transport, worker, feature);
    let mut context = A::Context::default();
    block_on(async {
        if serve(&mut conn, app, &mut context).await == Closing::Linger {
            std::future::poll_fn(|cx| conn.poll_linger(cx)).await;
        }
    });
    std::mem::take(&mut conn.transport_mut().output)
}

/// Bytes in from one buffer, a receive at a time, bytes out to a vector. (One buffer rather than
/// one allocation per receive, so that `bench/instructions.sh` counts the connection's work and
/// not the harness's.)
struct MemoryTransport {
    /// Every receive's bytes, back to back.
    input: Vec<u8>,
    /// Where each receive ends in `input`; an empty chunk (a receive of nothing) is skipped.
    ends: Vec<usize>,
    /// The next receive's index in `ends`.
    next: usize,
    /// How much of `input` was received.
    pos: usize,
    output: Vec<u8>,
}

impl Transport for MemoryTransport {
    fn poll_recv(&mut self, _: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>> {
        while let Some(&end) = self.ends.get(self.next) {
            self.next += 1;
            if end > self.pos {
                buf.extend_from_slice(&self.input[self.pos..end]);
                let n = end - self.pos;
                self.pos = end;
                return Poll::Ready(Ok(n));
            }
        }
        Poll::Ready(Ok(0))
    }

    fn poll_send(&mut self, _: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<()>> {
        self.output.extend_from_slice(buf);
        buf.clear();
        Poll::Ready(Ok(()))
    }

    fn close(&mut self) {
        self.next = self.ends.len();
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `fut` to completion on this thread (parking between wake-ups).
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}
