//! A custom server written outside peregrine: it serves requests read from files of raw HTTP.
//!
//! ```sh
//! cargo run --example custom_server -- examples/requests/*.http      # responses to stdout
//! cargo run --example custom_server -- -w examples/requests/*.http   # to <file>.response
//! printf 'GET /json HTTP/1.1\r\nHost: x\r\n\r\n' | cargo run --example custom_server
//! ```
//!
//! This is ASP.NET Core's "custom `IServer`" done with peregrine's public API only: [`FileServer`]
//! implements [`Server`], gives each request a feature collection with nothing but the two
//! required features ([`RequestFeature`] and [`ResponseFeature`]), and runs the unchanged
//! [`DemoApp`] through the [`Application`] contract. `docs/custom-server.md` walks through it.
//!
//! Each input (a file, or stdin for `-` or no arguments) is one "connection": it holds one or more
//! requests back to back, each with a `Content-Length` body or none, and gets the raw responses
//! in order, as a client on a keep-alive connection would. What the server answers by itself:
//!
//! - a malformed or truncated request: `400 Bad Request` with the reason as a `text/plain`
//!   body, then the connection closes (the rest of the input is ignored);
//! - `Transfer-Encoding` (chunked bodies): `501 Not Implemented`, then the connection closes;
//! - an HTTP version other than 1.0 and 1.1: `505`, then the connection closes;
//! - an application error, or a panic, before the response started: `500`, and a panic closes
//!   the connection; after the response started: the response is cut short and the connection
//!   closes.
//!
//! A request with `Connection: close` (or an HTTP/1.0 request without `keep-alive`) ends its
//! connection. Responses carry no `Date` or `Server` header, so the output is deterministic.

use std::future::Future;
use std::io::{self, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, LazyLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use peregrine::demo::DemoApp;
use peregrine::http::{
    Features, HttpContext, Method, RequestFeature, ResponseError, ResponseFeature, ResponseHeaders,
    Version,
};
use peregrine::proto::h1::{
    encode_head, status_allows_body, ResponseFraming, ResponseHeadInfo, ServerHeaders,
};
use peregrine::{Application, BoxError, Server, ServerFeatures, StartError, StopReport};

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            eprintln!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(why) => {
            eprintln!("custom_server: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let inputs = match read_inputs(&args.files) {
        Ok(inputs) => inputs,
        Err(why) => {
            eprintln!("custom_server: {why}");
            return ExitCode::from(2);
        }
    };
    let many = inputs.len() > 1;
    let mut server = FileServer::new(inputs);
    if let Err(e) = server.start(DemoApp) {
        eprintln!("custom_server: {e}");
        return ExitCode::from(2);
    }
    let mut status = ExitCode::SUCCESS;
    let stdout = io::stdout();
    while let Some(served) = server.next_response() {
        if let Err(why) = emit(&served, args.write_files, many, &mut stdout.lock()) {
            eprintln!("custom_server: {why}");
            status = ExitCode::FAILURE;
        }
    }
    eprintln!("custom_server: {}", server.stop(Duration::from_secs(5)));
    status
}

const USAGE: &str = "usage: custom_server [-w | --write-files] [FILE.http ...]
  Serves the raw HTTP requests in each FILE (stdin for '-' or no FILE) with peregrine's demo
  application and writes the raw responses to stdout, or with -w to FILE.response.";

/// The command line.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    write_files: bool,
    files: Vec<String>,
}

impl Args {
    /// `Ok(None)` for `--help`.
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
        let mut parsed = Args {
            write_files: false,
            files: Vec::new(),
        };
        let mut options = true;
        for arg in args {
            match arg.as_str() {
                "-h" | "--help" if options => return Ok(None),
                "-w" | "--write-files" if options => parsed.write_files = true,
                "--" if options => options = false,
                s if options && s.starts_with('-') && s != "-" => {
                    return Err(format!("unknown option {s:?}"))
                }
                _ => parsed.files.push(arg),
            }
        }
        if parsed.files.is_empty() {
            parsed.files.push("-".to_owned());
        }
        Ok(Some(parsed))
    }
}

/// Reads every input before the server starts, so an unreadable file is one clear error.
fn read_inputs(files: &[String]) -> Result<Vec<Input>, String> {
    files
        .iter()
        .map(|name| {
            let bytes = if name == "-" {
                let mut bytes = Vec::new();
                io::stdin()
                    .read_to_end(&mut bytes)
                    .map_err(|e| format!("cannot read stdin: {e}"))?;
                bytes
            } else {
                std::fs::read(name).map_err(|e| format!("cannot read {name}: {e}"))?
            };
            Ok(Input {
                name: name.clone(),
                bytes,
            })
        })
        .collect()
}

/// Writes one connection's responses to `<name>.response` or to `stdout` (after a
/// `==> name <==` line when there are several inputs, as `tail` does, and a newline after a
/// response that does not end with one).
fn emit(served: &Served, write_files: bool, many: bool, stdout: &mut dyn Write) -> io::Result<()> {
    if write_files && served.name != "-" {
        let path = format!("{}.response", served.name);
        std::fs::write(&path, &served.response)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot write {path}: {e}")))?;
        eprintln!("custom_server: wrote {path}");
        return Ok(());
    }
    if many {
        writeln!(stdout, "==> {} <==", served.name)?;
    }
    stdout.write_all(&served.response)?;
    if many && !served.response.ends_with(b"\n") {
        // So the next `==>` line starts a line; a single input's output stays byte-exact.
        writeln!(stdout)?;
    }
    stdout.flush()
}

/// One input: a name (for messages and `<name>.response`) and its raw bytes.
#[derive(Clone, Debug)]
pub struct Input {
    /// The file name, or `-` for stdin.
    pub name: String,
    /// The raw HTTP requests.
    pub bytes: Vec<u8>,
}

/// What the server wrote back for one input.
#[derive(Clone, Debug)]
pub struct Served {
    /// The input's name.
    pub name: String,
    /// The raw HTTP responses, in request order.
    pub response: Vec<u8>,
}

/// A server feature of this server: the names of its inputs (servers may expose any type as a
/// feature; peregrine's engines expose `ServerAddresses` and `EngineInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputNames(pub Vec<String>);

/// A [`Server`] whose "connections" are inputs of raw HTTP. [`start`](Server::start) starts one
/// thread that serves them in order; [`next_response`](FileServer::next_response) hands back
/// each input's responses as it finishes.
pub struct FileServer {
    inputs: Vec<Input>,
    features: ServerFeatures,
    shared: Arc<Shared>,
    started: bool,
    worker: Option<JoinHandle<()>>,
    responses: Option<mpsc::Receiver<Served>>,
}

/// State the worker and [`Server::stop`] share.
#[derive(Debug, Default)]
struct Shared {
    /// Set by `stop`: serve no new input, and close the current one after its request.
    stopping: AtomicBool,
    /// Set by `stop` at the deadline: drop the request in progress.
    abort: AtomicBool,
    /// Inputs being served (0 or 1).
    active: AtomicUsize,
    /// Requests that went through the application.
    served: AtomicU64,
    /// Requests answered by the server itself as malformed (400) or unsupported (501).
    rejected: AtomicU64,
}

/// How long `stop` waits for the worker to notice an abort before leaving it behind.
const ABORT_GRACE: Duration = Duration::from_millis(500);

impl FileServer {
    /// A server for `inputs`; nothing runs until [`Server::start`].
    pub fn new(inputs: Vec<Input>) -> Self {
        let mut features = ServerFeatures::default();
        features.insert(InputNames(inputs.iter().map(|i| i.name.clone()).collect()));
        FileServer {
            inputs,
            features,
            shared: Arc::default(),
            started: false,
            worker: None,
            responses: None,
        }
    }

    /// The next input's responses, waiting for the worker; `None` once every input started is
    /// done (or before `start`, or after `stop` left a stuck worker behind).
    pub fn next_response(&self) -> Option<Served> {
        self.responses.as_ref()?.recv().ok()
    }
}

impl Server for FileServer {
    fn start<A: Application>(&mut self, app: A) -> Result<(), StartError> {
        if self.started {
            return Err(StartError::AlreadyStarted);
        }
        let (tx, rx) = mpsc::channel();
        let inputs = std::mem::take(&mut self.inputs);
        let shared = Arc::clone(&self.shared);
        let worker = thread::Builder::new()
            .name("file-server".into())
            .spawn(move || serve_inputs(&app, inputs, &shared, &tx))
            .map_err(StartError::Io)?;
        self.started = true;
        self.worker = Some(worker);
        self.responses = Some(rx);
        Ok(())
    }

    fn features(&self) -> &ServerFeatures {
        &self.features
    }

    fn stop(&mut self, deadline: Duration) -> StopReport {
        let began = Instant::now();
        let shared = &self.shared;
        shared.stopping.store(true, Ordering::SeqCst);
        let open = shared.active.load(Ordering::SeqCst);
        let mut aborted = 0;
        if let Some(worker) = self.worker.take() {
            if !wait_until_finished(&worker, began + deadline) {
                aborted = shared.active.load(Ordering::SeqCst);
                shared.abort.store(true, Ordering::SeqCst);
                worker.thread().unpark();
                // An application that blocks its thread cannot be interrupted: after the grace
                // period the worker is left behind, its connection still counts as aborted, and
                // whatever it produces later is discarded.
                if !wait_until_finished(&worker, Instant::now() + ABORT_GRACE) {
                    self.responses = None;
                }
            }
        }
        let at_stop = open.max(aborted);
        StopReport {
            connections_at_stop: at_stop,
            connections_drained: at_stop - aborted,
            connections_aborted: aborted,
            requests_served: shared.served.load(Ordering::SeqCst),
            requests_rejected: shared.rejected.load(Ordering::SeqCst),
            elapsed: began.elapsed(),
            ..StopReport::default()
        }
    }
}

/// Whether `worker` finished before `until`.
fn wait_until_finished(worker: &JoinHandle<()>, until: Instant) -> bool {
    while !worker.is_finished() {
        let now = Instant::now();
        if now >= until {
            return false;
        }
        thread::sleep((until - now).min(Duration::from_millis(2)));
    }
    true
}

/// The worker: serves each input as one connection, with one application context per
/// connection, reused for each of its requests (as peregrine's engines do).
fn serve_inputs<A: Application>(
    app: &A,
    inputs: Vec<Input>,
    shared: &Shared,
    tx: &mpsc::Sender<Served>,
) {
    for input in inputs {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        shared.active.fetch_add(1, Ordering::SeqCst);
        let mut context = A::Context::default();
        let (response, aborted) = serve_connection(app, &mut context, &input.bytes, shared);
        shared.active.fetch_sub(1, Ordering::SeqCst);
        // The receiver may be gone (the server was dropped); the response then has no reader.
        let _ = tx.send(Served {
            name: input.name,
            response,
        });
        if aborted {
            return;
        }
    }
}

/// Serves the requests in `input` until it ends or the connection is to close; returns the
/// bytes written back and whether the stop deadline aborted it.
fn serve_connection<A: Application>(
    app: &A,
    context: &mut A::Context,
    input: &[u8],
    shared: &Shared,
) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut rest = input;
    loop {
        // RFC 9112 2.2: a server SHOULD ignore empty lines before a request line (and files
        // usually end with a newline).
        while let [b'\r' | b'\n', tail @ ..] = rest {
            rest = tail;
        }
        if rest.is_empty() {
            return (out, false);
        }
        let request = match parse_request(rest) {
            Ok((request, used)) => {
                rest = &rest[used..];
                request
            }
            Err(rejection) => {
                shared.rejected.fetch_add(1, Ordering::SeqCst);
                write_rejection(&mut out, &rejection);
                return (out, false);
            }
        };
        shared.served.fetch_add(1, Ordering::SeqCst);
        match serve_request(app, context, request, shared, &mut out) {
            Next::KeepAlive => {}
            Next::Close => return (out, false),
            Next::Aborted => return (out, true),
        }
    }
}

/// What a connection does after a request.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    KeepAlive,
    Close,
    Aborted,
}

/// How the application's part of a request ended.
enum Outcome {
    Ok,
    Failed,
    Panicked,
    Aborted,
}

/// Runs one request through the application (create, process, dispose) and writes its response.
fn serve_request<A: Application>(
    app: &A,
    context: &mut A::Context,
    request: Request,
    shared: &Shared,
    out: &mut Vec<u8>,
) -> Next {
    let mut exchange = Exchange::new(request);
    let outcome = {
        let mut http = HttpContext::new(&mut exchange);
        app.create_context(context, &mut http);
        let result = catch_unwind(AssertUnwindSafe(|| {
            run_until_aborted(app.process_request(context, &mut http), shared)
        }));
        let (outcome, error): (_, Option<BoxError>) = match result {
            Ok(Some(Ok(()))) => (Outcome::Ok, None),
            Ok(Some(Err(e))) => (Outcome::Failed, Some(e)),
            Ok(None) => (
                Outcome::Aborted,
                Some("aborted at the server's stop deadline".into()),
            ),
            Err(_) => (Outcome::Panicked, Some("the application panicked".into())),
        };
        if let Some(e) = &error {
            let request = http.request();
            eprintln!(
                "custom_server: {} {}: {e}",
                request.method_str(),
                request.raw_target()
            );
        }
        app.dispose_context(context, error.as_ref());
        outcome
    };
    let keep_alive = exchange.request.keep_alive && !shared.stopping.load(Ordering::SeqCst);
    match outcome {
        Outcome::Aborted => Next::Aborted,
        Outcome::Ok => exchange.write_response(out, keep_alive),
        Outcome::Failed if !exchange.started => {
            write_error(out, exchange.request.version, 500, keep_alive)
        }
        Outcome::Panicked if !exchange.started => {
            write_error(out, exchange.request.version, 500, false)
        }
        // The head is already out: all the server can do is end the body early and close.
        Outcome::Failed | Outcome::Panicked => exchange.write_truncated(out),
    }
}

/// Runs `fut` on this thread until it completes (`Some`), or until `stop` reaches its deadline
/// (`None`: the future is dropped, which aborts the request).
fn run_until_aborted<F: Future>(fut: F, shared: &Shared) -> Option<F::Output> {
    struct ThreadWaker(Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = fut.as_mut().poll(&mut cx) {
            return Some(output);
        }
        if shared.abort.load(Ordering::SeqCst) {
            return None;
        }
        // Woken by the future's waker, or by `stop` at the deadline (an unpark that comes
        // before this park makes it return at once).
        thread::park();
    }
}

/// The most header fields a request may have.
const MAX_HEADERS: usize = 64;

/// One parsed request, owning its bytes.
#[derive(Debug)]
struct Request {
    method: String,
    target: String,
    version: Version,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    keep_alive: bool,
}

/// A request the server answers by itself, then closes the connection.
#[derive(Debug, PartialEq, Eq)]
struct Rejection {
    status: u16,
    reason: String,
}

fn bad_request(reason: impl Into<String>) -> Rejection {
    Rejection {
        status: 400,
        reason: reason.into(),
    }
}

fn incomplete_head() -> Rejection {
    bad_request("incomplete request head (the input ends before the blank line after the headers)")
}

fn unsupported_version() -> Rejection {
    Rejection {
        status: 505,
        reason: "unsupported HTTP version (only HTTP/1.0 and HTTP/1.1 are served)".into(),
    }
}

/// Parses the request at the start of `input`; returns it and how many bytes it took.
fn parse_request(input: &[u8]) -> Result<(Request, usize), Rejection> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut head = httparse::Request::new(&mut slots);
    let head_len = match head.parse(input) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Err(incomplete_head()),
        // Kestrel's rule: a version it does not recognise is 505, not 400.
        Err(httparse::Error::Version) => return Err(unsupported_version()),
        Err(e) => return Err(bad_request(format!("malformed request head: {e}"))),
    };
    let version = match head.version {
        Some(0) => Version::Http10,
        Some(1) => Version::Http11,
        _ => return Err(unsupported_version()),
    };
    let mut content_length: Option<u64> = None;
    let mut close = version == Version::Http10;
    for h in head.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Rejection {
                status: 501,
                reason: "Transfer-Encoding is not supported; send the body with Content-Length"
                    .into(),
            });
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let n = parse_content_length(h.value)
                .ok_or_else(|| bad_request("invalid Content-Length"))?;
            if content_length.is_some_and(|m| m != n) {
                return Err(bad_request("conflicting Content-Length headers"));
            }
            content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && version == Version::Http10 {
                    close = false;
                }
            }
        }
    }
    let available = input.len() - head_len;
    let body_len = content_length.unwrap_or(0);
    let body_len = match usize::try_from(body_len) {
        Ok(n) if n <= available => n,
        _ => {
            return Err(bad_request(format!(
                "incomplete body: Content-Length is {body_len} but only {available} byte(s) follow"
            )))
        }
    };
    let request = Request {
        // `Complete` means httparse set the method and path.
        method: head.method.unwrap_or_default().to_owned(),
        target: head.path.unwrap_or_default().to_owned(),
        version,
        headers: head
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect(),
        body: input[head_len..head_len + body_len].to_vec(),
        keep_alive: !close,
    };
    Ok((request, head_len + body_len))
}

/// `1*DIGIT` (RFC 9110 8.6), without overflow.
fn parse_content_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |n, &d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// This server sends neither `Server` nor `Date`: its output depends only on its input.
static NO_SERVER_HEADERS: LazyLock<ServerHeaders> =
    LazyLock::new(|| ServerHeaders::with_date(None, None));

/// The server's own answer to a request it could not serve; the connection closes after it.
fn write_rejection(out: &mut Vec<u8>, rejection: &Rejection) {
    let mut headers = ResponseHeaders::default();
    let mut body = rejection.reason.clone().into_bytes();
    body.push(b'\n');
    // A fixed, valid header: `set` cannot fail.
    let _ = headers.set("content-type", b"text/plain");
    encode_head(
        out,
        &ResponseHeadInfo {
            version: Version::Http11,
            status: rejection.status,
            headers: &headers,
            framing: ResponseFraming::Length(body.len() as u64),
            keep_alive: false,
            server_headers: &NO_SERVER_HEADERS,
        },
    );
    out.extend_from_slice(&body);
}

/// An empty error response (the application's headers are dropped).
fn write_error(out: &mut Vec<u8>, version: Version, status: u16, keep_alive: bool) -> Next {
    encode_head(
        out,
        &ResponseHeadInfo {
            version,
            status,
            headers: &ResponseHeaders::default(),
            framing: ResponseFraming::Length(0),
            keep_alive,
            server_headers: &NO_SERVER_HEADERS,
        },
    );
    if keep_alive {
        Next::KeepAlive
    } else {
        Next::Close
    }
}

/// One request and its response: the only two features this server implements.
struct Exchange {
    request: Request,
    body_read: usize,
    status: u16,
    headers: ResponseHeaders,
    body: Vec<u8>,
    started: bool,
}

impl Exchange {
    fn new(request: Request) -> Self {
        Exchange {
            request,
            body_read: 0,
            status: 200,
            headers: ResponseHeaders::default(),
            body: Vec::new(),
            started: false,
        }
    }

    /// The response as the application left it, framed with the length of what it wrote (any
    /// `Content-Length` it set is replaced: the encoder owns the framing headers).
    fn write_response(&self, out: &mut Vec<u8>, keep_alive: bool) -> Next {
        let (framing, body): (_, &[u8]) = if !status_allows_body(self.status) {
            (ResponseFraming::NoBody, b"")
        } else if self.request.method == "HEAD" {
            (ResponseFraming::Length(self.body.len() as u64), b"")
        } else {
            (ResponseFraming::Length(self.body.len() as u64), &self.body)
        };
        self.write_head(out, framing, keep_alive);
        out.extend_from_slice(body);
        if keep_alive {
            Next::KeepAlive
        } else {
            Next::Close
        }
    }

    /// A response that failed after it started: the body written so far, delimited by the
    /// connection closing (RFC 9112 6.3), so a client can tell it is incomplete only if it
    /// knew the length. A socket server would abort the connection instead.
    fn write_truncated(&self, out: &mut Vec<u8>) -> Next {
        self.write_head(out, ResponseFraming::NoBody, false);
        if self.request.method != "HEAD" && status_allows_body(self.status) {
            out.extend_from_slice(&self.body);
        }
        Next::Close
    }

    fn write_head(&self, out: &mut Vec<u8>, framing: ResponseFraming, keep_alive: bool) {
        encode_head(
            out,
            &ResponseHeadInfo {
                version: self.request.version,
                status: self.status,
                headers: &self.headers,
                framing,
                keep_alive,
                server_headers: &NO_SERVER_HEADERS,
            },
        );
    }

    fn split_target(&self) -> (&str, &str) {
        let target = self.request.target.as_str();
        target.split_once('?').unwrap_or((target, ""))
    }
}

impl RequestFeature for Exchange {
    fn method(&self) -> Method {
        Method::from_bytes(self.request.method.as_bytes())
    }
    fn method_str(&self) -> &str {
        &self.request.method
    }
    fn version(&self) -> Version {
        self.request.version
    }
    fn scheme(&self) -> &str {
        "http"
    }
    fn raw_target(&self) -> &str {
        &self.request.target
    }
    fn path(&self) -> &str {
        self.split_target().0
    }
    fn query(&self) -> &str {
        self.split_target().1
    }
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
    fn header_count(&self) -> usize {
        self.request.headers.len()
    }
    fn header_at(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.request
            .headers
            .get(index)
            .map(|(n, v)| (n.as_bytes(), v.as_slice()))
    }
    fn content_length(&self) -> Option<u64> {
        // Transfer-Encoding is refused, so every body here has a known length.
        Some(self.request.body.len() as u64)
    }
    fn has_body(&self) -> bool {
        !self.request.body.is_empty()
    }
    fn poll_read_body(&mut self, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let rest = &self.request.body[self.body_read..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.body_read += n;
        Poll::Ready(Ok(n))
    }
}

impl ResponseFeature for Exchange {
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
        &self.headers
    }
    fn headers_mut(&mut self) -> Result<&mut ResponseHeaders, ResponseError> {
        if self.started {
            return Err(ResponseError::Started);
        }
        Ok(&mut self.headers)
    }
    fn has_started(&self) -> bool {
        self.started
    }
    fn write(&mut self, data: &[u8]) {
        self.body.extend_from_slice(data);
    }
    fn buffered(&self) -> usize {
        self.body.len()
    }
    fn buffer_limit(&self) -> usize {
        // The whole response is kept and written when the application returns.
        usize::MAX
    }
    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing goes out before the application returns, but a flush still starts the
        // response: status and headers are fixed from here on, as on a socket server.
        self.started = true;
        Poll::Ready(Ok(()))
    }
}

/// The feature collection: the request and response features (the supertraits, implemented
/// above) and nothing optional (`get_any` keeps its default, `None`), so `http.connection()` and
/// `http.trace_identifier()` are `None` here.
impl Features for Exchange {}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine::{AppResult, Handler};

    /// One response, parsed back from the bytes the server wrote.
    #[derive(Debug)]
    struct Parsed {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Parsed {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }

        fn text(&self) -> &str {
            std::str::from_utf8(&self.body).expect("a UTF-8 body")
        }
    }

    /// Splits raw responses: `Content-Length` bodies, or (no length) the rest of the bytes.
    fn parse_responses(mut bytes: &[u8], head_request: bool) -> Vec<Parsed> {
        let mut all = Vec::new();
        while !bytes.is_empty() {
            let mut slots = [httparse::EMPTY_HEADER; 32];
            let mut r = httparse::Response::new(&mut slots);
            let n = match r.parse(bytes) {
                Ok(httparse::Status::Complete(n)) => n,
                other => panic!(
                    "not a response ({other:?}): {:?}",
                    String::from_utf8_lossy(bytes)
                ),
            };
            let headers: Vec<(String, String)> = r
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_owned(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let length = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse::<usize>().expect("a numeric Content-Length"));
            let body_len = match length {
                _ if head_request => 0,
                Some(len) => len,
                None => bytes.len() - n,
            };
            all.push(Parsed {
                status: r.code.expect("a status code"),
                headers,
                body: bytes[n..n + body_len].to_vec(),
            });
            bytes = &bytes[n + body_len..];
        }
        all
    }

    /// Runs `app` over `inputs` through the `Server` trait; returns each input's output and the
    /// stop report.
    fn run<A: Application>(app: A, inputs: &[&[u8]]) -> (Vec<Vec<u8>>, StopReport) {
        let inputs = inputs
            .iter()
            .enumerate()
            .map(|(i, bytes)| Input {
                name: format!("input{i}"),
                bytes: bytes.to_vec(),
            })
            .collect();
        let mut server = FileServer::new(inputs);
        server.start(app).expect("start");
        let mut outputs = Vec::new();
        while let Some(served) = server.next_response() {
            outputs.push(served.response);
        }
        let report = server.stop(Duration::from_secs(5));
        (outputs, report)
    }

    /// The demo application's responses to one input.
    fn demo(input: &[u8]) -> Vec<Parsed> {
        let (outputs, _) = run(DemoApp, &[input]);
        assert_eq!(outputs.len(), 1);
        parse_responses(&outputs[0], false)
    }

    fn only(mut responses: Vec<Parsed>) -> Parsed {
        assert_eq!(responses.len(), 1, "{responses:?}");
        responses.remove(0)
    }

    #[test]
    fn get_plaintext() {
        let raw = run(DemoApp, &[b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"]).0;
        assert_eq!(
            String::from_utf8_lossy(&raw[0]),
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nContent-Length: 13\r\n\r\n\
             Hello, World!"
        );
    }

    #[test]
    fn get_json() {
        let r = only(demo(b"GET /json HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.text(), r#"{"message":"Hello, World!"}"#);
    }

    #[test]
    fn post_echo_returns_the_body() {
        let r = only(demo(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/x-test\r\n\
              Content-Length: 11\r\n\r\nhello\r\nbody",
        ));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/x-test"));
        assert_eq!(r.header("content-length"), Some("11"));
        assert_eq!(r.body, b"hello\r\nbody");
    }

    #[test]
    fn unknown_route_is_404_and_wrong_method_405() {
        let r =
            demo(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\nDELETE /json HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].status, r[0].text()), (404, "Not Found"));
        assert_eq!(r[1].status, 405);
        assert_eq!(r[1].header("allow"), Some("GET, HEAD"));
    }

    #[test]
    fn head_has_the_length_but_no_body() {
        let (raw, _) = run(DemoApp, &[b"HEAD /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"]);
        let r = only(parse_responses(&raw[0], true));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), Some("13"));
        assert!(raw[0].ends_with(b"\r\n\r\n"), "no body after the head");
    }

    #[test]
    fn malformed_request_is_400_and_closes() {
        let (raw, report) = run(
            DemoApp,
            &[
                b"GET /json HTTP/1.1\r\nHost: x\r\n\r\nGET /json HTTP/1.1\r\nBad Header\r\n\r\n\
                GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n",
            ],
        );
        let r = parse_responses(&raw[0], false);
        assert_eq!(r.len(), 2, "nothing is served after the malformed request");
        assert_eq!(r[0].status, 200);
        assert_eq!(r[1].status, 400);
        assert_eq!(r[1].header("connection"), Some("close"));
        assert!(
            r[1].text().starts_with("malformed request head:"),
            "{}",
            r[1].text()
        );
        assert_eq!((report.requests_served, report.requests_rejected), (1, 1));
    }

    #[test]
    fn truncated_head_and_body_are_400() {
        let head = only(demo(b"GET /json HTTP/1.1\r\nHost: x\r\n"));
        assert_eq!(head.status, 400);
        assert!(head.text().starts_with("incomplete request head"));
        let body = only(demo(
            b"POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nshort",
        ));
        assert_eq!(body.status, 400);
        assert_eq!(
            body.text(),
            "incomplete body: Content-Length is 10 but only 5 byte(s) follow\n"
        );
        for cl in ["ten", "-1", "", "99999999999999999999999"] {
            let input = format!("POST /echo HTTP/1.1\r\nContent-Length: {cl}\r\n\r\n");
            assert_eq!(only(demo(input.as_bytes())).status, 400, "{cl:?}");
        }
        let conflicting =
            b"POST /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab";
        assert_eq!(only(demo(conflicting)).status, 400);
    }

    #[test]
    fn other_versions_are_505() {
        for line in [
            "GET /json HTTP/2.0",
            "GET /json HTTP/1.2",
            "GET /json HTTX/1.1",
        ] {
            let r = only(demo(format!("{line}\r\n\r\n").as_bytes()));
            assert_eq!(r.status, 505, "{line}");
            assert_eq!(r.header("connection"), Some("close"));
        }
    }

    #[test]
    fn chunked_bodies_are_501() {
        let r = only(demo(
            b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ));
        assert_eq!(r.status, 501);
        assert_eq!(r.header("connection"), Some("close"));
    }

    #[test]
    fn connection_close_and_http10_end_the_connection() {
        let r = demo(b"GET /json HTTP/1.1\r\nConnection: close\r\n\r\nGET /json HTTP/1.1\r\n\r\n");
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].header("connection"), Some("close"));
        let r = demo(b"GET /json HTTP/1.0\r\n\r\nGET /json HTTP/1.1\r\n\r\n");
        assert_eq!(r.len(), 1);
        let r = demo(
            b"GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /plaintext HTTP/1.1\r\n\r\n",
        );
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].header("connection"), Some("keep-alive"));
    }

    #[test]
    fn empty_lines_between_requests_are_ignored() {
        let r = demo(b"\r\n\nGET /json HTTP/1.1\r\n\r\n\r\nGET /plaintext HTTP/1.1\n\n\n");
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].text(), "Hello, World!");
        assert!(demo(b"\r\n\n").is_empty());
    }

    #[test]
    fn the_sample_files_are_served() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/requests");
        let files = ["plaintext.http", "echo.http", "pipelined.http"].map(|f| format!("{dir}/{f}"));
        let inputs = read_inputs(&files).expect("the sample files");
        let mut server = FileServer::new(inputs);
        server.start(DemoApp).expect("start");
        let names = &server.features().get::<InputNames>().expect("InputNames").0;
        assert_eq!(names, &files);
        let mut statuses = Vec::new();
        let mut bodies = Vec::new();
        while let Some(served) = server.next_response() {
            let mut stdout = Vec::new();
            emit(&served, false, true, &mut stdout).expect("emit");
            let mut expected = format!("==> {} <==\n", served.name).into_bytes();
            expected.extend_from_slice(&served.response);
            if !served.response.ends_with(b"\n") {
                expected.push(b'\n');
            }
            assert_eq!(stdout, expected);
            for r in parse_responses(&served.response, false) {
                statuses.push(r.status);
                bodies.push(r.text().to_owned());
            }
        }
        assert_eq!(statuses, [200, 200, 200, 404, 200]);
        assert_eq!(bodies[0], "Hello, World!");
        assert_eq!(bodies[1], "{\"greeting\": \"hello from a file\"}\n");
        assert_eq!(bodies[4], "Hello, World!");
        let report = server.stop(Duration::from_secs(1));
        assert_eq!(report.requests_served, 5);
        assert!(report.is_graceful());
    }

    #[test]
    fn args() {
        let parse = |a: &[&str]| Args::parse(a.iter().map(|s| s.to_string()));
        assert_eq!(
            parse(&[]),
            Ok(Some(Args {
                write_files: false,
                files: vec!["-".into()]
            }))
        );
        assert_eq!(
            parse(&["-w", "a.http", "--", "-b.http"]),
            Ok(Some(Args {
                write_files: true,
                files: vec!["a.http".into(), "-b.http".into()]
            }))
        );
        assert_eq!(parse(&["--help"]), Ok(None));
        assert!(parse(&["--bogus"]).is_err());
        let missing = read_inputs(&["/nonexistent/x.http".into()]).unwrap_err();
        assert!(
            missing.starts_with("cannot read /nonexistent/x.http"),
            "{missing}"
        );
    }

    /// Reports which optional features the request has: none, on this server.
    struct Probe;
    impl Handler for Probe {
        async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
            let line = format!(
                "connection={} trace_id={} aborted={} upgradable={}",
                http.connection().is_some(),
                http.trace_identifier().is_some(),
                http.is_aborted(),
                http.is_upgradable_request(),
            );
            http.write(line.as_bytes());
            Ok(())
        }
    }

    #[test]
    fn optional_features_are_absent() {
        let (raw, _) = run(
            Probe,
            &[b"GET / HTTP/1.1\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"],
        );
        let r = only(parse_responses(&raw[0], false));
        assert_eq!(
            r.text(),
            "connection=false trace_id=false aborted=false upgradable=false"
        );
    }

    /// Fails, panics, hangs or sleeps depending on the path; counts disposals with an error.
    #[derive(Default)]
    struct Faulty {
        disposed_with_error: Arc<AtomicUsize>,
    }
    impl Application for Faulty {
        type Context = ();
        async fn process_request(&self, _: &mut (), http: &mut HttpContext<'_>) -> AppResult {
            http.set_header("x-set-before-failing", "1")?;
            match http.request().path() {
                "/error" => Err("refused".into()),
                "/panic" => panic!("a test panic"),
                "/late-error" => {
                    http.write(b"partial");
                    http.flush().await?;
                    Err("failed after the response started".into())
                }
                // A real wake-up from peregrine's timer thread, on this server's own thread.
                "/slow" => {
                    peregrine::rt::sleep(Duration::from_millis(300)).await;
                    Ok(())
                }
                // No lifetime feature here, so this waits until the stop deadline.
                "/hang" => {
                    http.aborted().await;
                    Ok(())
                }
                _ => Ok(()),
            }
        }
        fn dispose_context(&self, _: &mut (), error: Option<&BoxError>) {
            if error.is_some() {
                self.disposed_with_error.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn errors_and_panics_become_500() {
        let app = Faulty::default();
        let errors = Arc::clone(&app.disposed_with_error);
        let (raw, report) = run(
            app,
            &[
                b"GET /error HTTP/1.1\r\n\r\nGET /ok HTTP/1.1\r\n\r\n",
                b"GET /panic HTTP/1.1\r\n\r\nGET /ok HTTP/1.1\r\n\r\n",
                b"GET /late-error HTTP/1.1\r\n\r\nGET /ok HTTP/1.1\r\n\r\n",
            ],
        );
        let error = parse_responses(&raw[0], false);
        assert_eq!(error.len(), 2, "an error keeps the connection");
        assert_eq!((error[0].status, error[1].status), (500, 200));
        assert_eq!(error[0].header("x-set-before-failing"), None);
        let panic = only(parse_responses(&raw[1], false));
        assert_eq!(panic.status, 500);
        assert_eq!(panic.header("connection"), Some("close"));
        let late = only(parse_responses(&raw[2], false));
        assert_eq!(late.status, 200);
        assert_eq!(late.header("content-length"), None);
        assert_eq!(late.header("connection"), Some("close"));
        assert_eq!(late.body, b"partial");
        assert_eq!(errors.load(Ordering::SeqCst), 3);
        assert_eq!(report.requests_served, 4);
    }

    #[test]
    fn stop_drains_the_request_in_progress() {
        let mut server = FileServer::new(vec![
            Input {
                name: "slow".into(),
                bytes: b"GET /slow HTTP/1.1\r\n\r\nGET /ok HTTP/1.1\r\n\r\n".to_vec(),
            },
            Input {
                name: "never started".into(),
                bytes: b"GET /ok HTTP/1.1\r\n\r\n".to_vec(),
            },
        ]);
        server.start(Faulty::default()).expect("start");
        while server.shared.served.load(Ordering::SeqCst) < 1 {
            thread::sleep(Duration::from_millis(1));
        }
        let report = server.stop(Duration::from_secs(10));
        assert_eq!(
            (
                report.connections_at_stop,
                report.connections_drained,
                report.connections_aborted
            ),
            (1, 1, 0)
        );
        assert_eq!(report.requests_served, 1, "no request starts after stop");
        let served = server.next_response().expect("the drained input's output");
        let r = only(parse_responses(&served.response, false));
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), Some("close"), "stopping closes");
        assert!(
            server.next_response().is_none(),
            "no input starts after stop"
        );
    }

    #[test]
    fn stop_aborts_a_request_at_the_deadline() {
        let app = Faulty::default();
        let errors = Arc::clone(&app.disposed_with_error);
        let mut server = FileServer::new(vec![
            Input {
                name: "hangs".into(),
                bytes: b"GET /ok HTTP/1.1\r\n\r\nGET /hang HTTP/1.1\r\n\r\n".to_vec(),
            },
            Input {
                name: "never started".into(),
                bytes: b"GET /ok HTTP/1.1\r\n\r\n".to_vec(),
            },
        ]);
        server.start(app).expect("start");
        while server.shared.served.load(Ordering::SeqCst) < 2 {
            thread::sleep(Duration::from_millis(1));
        }
        let report = server.stop(Duration::from_millis(50));
        assert_eq!(report.connections_at_stop, 1);
        assert_eq!(report.connections_aborted, 1);
        assert!(!report.is_graceful());
        assert!(report.elapsed >= Duration::from_millis(50));
        let served = server.next_response().expect("the aborted input's output");
        assert_eq!(served.name, "hangs");
        assert_eq!(only(parse_responses(&served.response, false)).status, 200);
        assert!(
            server.next_response().is_none(),
            "no input starts after stop"
        );
        assert_eq!(errors.load(Ordering::SeqCst), 1, "disposed with an error");
        assert!(matches!(
            server.start(DemoApp),
            Err(StartError::AlreadyStarted)
        ));
    }
}
