//! A table-driven HTTP/1.1 conformance suite over raw bytes, for any server.
//!
//! Each [`Case`] (in [`cases`]) is one rule: the request bytes (possibly several writes), the
//! statuses RFC 9110/9112 allow for each response, and whether the connection must close
//! afterwards. [`run_case`] sends a case over a real TCP connection and reads back exactly the
//! responses it expects; a response beyond those (the answer to a smuggled request) fails the
//! case whatever else happened. Used by `tests/conformance.rs` (against peregrine, as a cargo
//! test) and `examples/conformance.rs` (against any `host:port`, e.g. nginx).
#![allow(dead_code)]

pub mod cases;

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// In an expected status set: "the connection closed without any response" is acceptable.
pub const NO_RESPONSE: u16 = 0;

/// What must happen to the connection after the expected responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// The server must close it (and send nothing more).
    Must,
    /// The server must keep it open: a follow-up request on it gets a response.
    Open,
    /// The server must close it if it answered with an error (4xx/5xx) or not at all;
    /// otherwise either is fine.
    OnError,
    /// Either is fine.
    Any,
}

/// One conformance rule as raw bytes.
#[derive(Clone, Debug)]
pub struct Case {
    /// Short snake_case name.
    pub name: &'static str,
    /// The rule, with its RFC section.
    pub rule: &'static str,
    /// The request bytes, one element per `write` (with a short pause between writes).
    pub writes: Vec<Vec<u8>>,
    /// For each expected final response in order, the acceptable statuses.
    pub expect: Vec<&'static [u16]>,
    /// What must happen to the connection afterwards.
    pub close: Close,
    /// The requests are HEAD requests: responses carry no body.
    pub head: bool,
    /// Shut down the sending side after the last write (the client's end of stream).
    pub eof: bool,
    /// Peregrine's own statuses where `expect` allows several (its documented choice).
    pub peregrine: Option<Vec<u16>>,
    /// A known peregrine bug this case shows: `tests/conformance.rs` expects the case to fail
    /// (and fails once it passes, so the marker gets removed with the fix).
    pub peregrine_known_issue: Option<&'static str>,
}

impl Case {
    /// A case with no bytes and no expectations yet.
    pub fn new(name: &'static str, rule: &'static str) -> Case {
        Case {
            name,
            rule,
            writes: Vec::new(),
            expect: Vec::new(),
            close: Close::Any,
            head: false,
            eof: false,
            peregrine: None,
            peregrine_known_issue: None,
        }
    }

    /// Adds one write of `bytes`.
    pub fn send(mut self, bytes: impl AsRef<[u8]>) -> Case {
        self.writes.push(bytes.as_ref().to_vec());
        self
    }

    /// Adds one expected response, with the statuses that are acceptable for it.
    pub fn expect(mut self, statuses: &'static [u16]) -> Case {
        self.expect.push(statuses);
        self
    }

    /// The connection must close after the responses.
    pub fn closes(mut self) -> Case {
        self.close = Close::Must;
        self
    }

    /// The connection must stay open after the responses.
    pub fn stays_open(mut self) -> Case {
        self.close = Close::Open;
        self
    }

    /// The connection must close if the (last) response is an error.
    pub fn closes_on_error(mut self) -> Case {
        self.close = Close::OnError;
        self
    }

    /// The requests are HEAD requests.
    pub fn head(mut self) -> Case {
        self.head = true;
        self
    }

    /// Ends the client's side of the stream after the last write.
    pub fn eof(mut self) -> Case {
        self.eof = true;
        self
    }

    /// Peregrine's statuses, where the RFC allows several.
    pub fn peregrine(mut self, statuses: &[u16]) -> Case {
        self.peregrine = Some(statuses.to_vec());
        self
    }

    /// Marks a known peregrine bug (see [`Case::peregrine_known_issue`]).
    pub fn peregrine_known_issue(mut self, issue: &'static str) -> Case {
        self.peregrine_known_issue = Some(issue);
        self
    }

    /// Whether the request bytes are HTTP/1.0 (which closes by default).
    fn is_http10(&self) -> bool {
        self.writes
            .concat()
            .windows(9)
            .any(|w| w == b" HTTP/1.0\r" || w == b" HTTP/1.0\n")
    }

    /// The expected statuses as text: `200`, `400/200`, `400/-` (`-`: no response).
    pub fn expected_text(&self) -> String {
        let sets: Vec<String> = self
            .expect
            .iter()
            .map(|set| {
                set.iter()
                    .map(|&s| status_text(s))
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect();
        let close = match self.close {
            Close::Must => ", close",
            Close::Open => ", open",
            Close::OnError => ", close if error",
            Close::Any => "",
        };
        format!("{}{close}", sets.join(" "))
    }
}

fn status_text(s: u16) -> String {
    if s == NO_RESPONSE {
        "-".to_owned()
    } else {
        s.to_string()
    }
}

/// How long a run waits for responses and for the connection to close.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Connecting, and reading each expected response.
    pub response: Duration,
    /// How long a connection that may stay open is watched for unexpected extra bytes or a
    /// close.
    pub linger: Duration,
    /// Pause between two writes of one case, so that they arrive as separate reads.
    pub between_writes: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            response: Duration::from_secs(5),
            linger: Duration::from_millis(250),
            between_writes: Duration::from_millis(30),
        }
    }
}

/// What the server did with a case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Final statuses, in order; [`NO_RESPONSE`] where the connection ended instead.
    pub statuses: Vec<u16>,
    /// Interim (1xx) statuses.
    pub interim: Vec<u16>,
    /// Whether the connection was closed by the server after the responses (`None`: not
    /// determined, e.g. after an error).
    pub closed: Option<bool>,
    /// Bytes that arrived after the expected responses (a response too many).
    pub extra: Option<String>,
    /// The server closed after a final response that did not say `Connection: close`.
    pub unannounced_close: bool,
    /// A malformed response, a timeout, an I/O error; or, for a connection that had to stay
    /// open, a follow-up request that got no response.
    pub error: Option<String>,
}

impl Outcome {
    /// The received statuses and connection state as text, e.g. `400, closed`.
    pub fn text(&self) -> String {
        let mut s = if self.statuses.is_empty() {
            "none".to_owned()
        } else {
            self.statuses
                .iter()
                .map(|&s| status_text(s))
                .collect::<Vec<_>>()
                .join(" ")
        };
        if !self.interim.is_empty() {
            let interim: Vec<String> = self.interim.iter().map(u16::to_string).collect();
            s = format!("({}) {s}", interim.join(" "));
        }
        match self.closed {
            Some(true) => s.push_str(", closed"),
            Some(false) => s.push_str(", open"),
            None => {}
        }
        if self.unannounced_close {
            s.push_str(" (unannounced)");
        }
        if self.extra.is_some() {
            s.push_str(", EXTRA RESPONSE");
        }
        if let Some(e) = &self.error {
            let _ = write!(s, ", {e}");
        }
        s
    }
}

/// A response head and body as read from the wire.
struct Parsed {
    status: u16,
    /// The response said `Connection: close`.
    close: bool,
    /// The body was delimited by the end of the connection.
    read_to_eof: bool,
}

/// A byte buffer over the connection, reading more on demand until a deadline.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

enum Fill {
    Data,
    Eof,
    TimedOut,
}

impl Conn {
    /// Reads more bytes, waiting until `deadline` at most. A reset counts as end of stream.
    fn fill(&mut self, deadline: Instant) -> io::Result<Fill> {
        if self.eof {
            return Ok(Fill::Eof);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(Fill::TimedOut);
        }
        self.stream.set_read_timeout(Some(deadline - now))?;
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                Ok(Fill::Eof)
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(Fill::Data)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(Fill::TimedOut)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                ) =>
            {
                self.eof = true;
                Ok(Fill::Eof)
            }
            Err(e) => Err(e),
        }
    }

    /// Makes sure `n` bytes are buffered.
    fn need(&mut self, n: usize, deadline: Instant) -> Result<(), String> {
        while self.buf.len() < n {
            match self.fill(deadline).map_err(|e| e.to_string())? {
                Fill::Data => {}
                Fill::Eof => return Err("connection closed inside a response".into()),
                Fill::TimedOut => return Err("timed out inside a response".into()),
            }
        }
        Ok(())
    }

    /// Reads one CRLF-terminated line (without it) from the front of the buffer.
    fn line(&mut self, deadline: Instant) -> Result<Vec<u8>, String> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.buf.len() > 64 * 1024 {
                return Err("line longer than 64 KiB in a response".into());
            }
            let n = self.buf.len() + 1;
            self.need(n, deadline)?;
        }
    }

    /// Reads one response; `Ok(None)` if the connection ended before its first byte.
    fn response(
        &mut self,
        head_request: bool,
        deadline: Instant,
    ) -> Result<Option<Parsed>, String> {
        // The head.
        let (status, close, framing, n) = loop {
            if !self.buf.is_empty() {
                let mut slots = [httparse::EMPTY_HEADER; 100];
                let mut resp = httparse::Response::new(&mut slots);
                match resp.parse(&self.buf) {
                    Ok(httparse::Status::Complete(n)) => {
                        let status = resp.code.unwrap_or(0);
                        let framing = framing(resp.headers, status, head_request)?;
                        let close = resp.headers.iter().any(|h| {
                            h.name.eq_ignore_ascii_case("connection")
                                && h.value
                                    .split(|&b| b == b',')
                                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
                        });
                        break (status, close, framing, n);
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(e) => {
                        return Err(format!(
                            "malformed response ({e}): {:?}",
                            String::from_utf8_lossy(&self.buf[..self.buf.len().min(80)])
                        ))
                    }
                }
            }
            match self.fill(deadline).map_err(|e| e.to_string())? {
                Fill::Data => {}
                Fill::Eof if self.buf.is_empty() => return Ok(None),
                Fill::Eof => return Err("connection closed inside a response head".into()),
                Fill::TimedOut if self.buf.is_empty() => return Err("no response (timeout)".into()),
                Fill::TimedOut => return Err("timed out inside a response head".into()),
            }
        };
        self.buf.drain(..n);
        // The body.
        let mut read_to_eof = false;
        match framing {
            Framing::None => {}
            Framing::Length(len) => {
                self.need(len, deadline)?;
                self.buf.drain(..len);
            }
            Framing::Chunked => loop {
                let line = self.line(deadline)?;
                let hex: Vec<u8> = line
                    .iter()
                    .copied()
                    .take_while(u8::is_ascii_hexdigit)
                    .collect();
                let size = std::str::from_utf8(&hex)
                    .ok()
                    .and_then(|h| usize::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad chunk size line {line:?}"))?;
                if size == 0 {
                    // Trailer fields, then the blank line.
                    while !self.line(deadline)?.is_empty() {}
                    break;
                }
                self.need(size + 2, deadline)?;
                if &self.buf[size..size + 2] != b"\r\n" {
                    return Err("chunk data not followed by CRLF".into());
                }
                self.buf.drain(..size + 2);
            },
            Framing::UntilEof => {
                loop {
                    match self.fill(deadline).map_err(|e| e.to_string())? {
                        Fill::Data => {}
                        Fill::Eof => break,
                        Fill::TimedOut => {
                            return Err("timed out reading a close-delimited body".into())
                        }
                    }
                }
                self.buf.clear();
                read_to_eof = true;
            }
        }
        Ok(Some(Parsed {
            status,
            close,
            read_to_eof,
        }))
    }
}

enum Framing {
    None,
    Length(usize),
    Chunked,
    UntilEof,
}

/// The body framing of a response (RFC 9112 6.3).
fn framing(headers: &[httparse::Header<'_>], status: u16, head: bool) -> Result<Framing, String> {
    if head || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Framing::None);
    }
    let value = |name: &str| {
        headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    if let Some(te) = value("transfer-encoding") {
        return if te.ends_with("chunked") {
            Ok(Framing::Chunked)
        } else {
            Ok(Framing::UntilEof)
        };
    }
    match value("content-length") {
        Some(cl) => cl
            .parse()
            .map(Framing::Length)
            .map_err(|_| format!("bad Content-Length {cl:?} in a response")),
        None => Ok(Framing::UntilEof),
    }
}

/// The request that checks a connection is still usable.
const PROBE: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// Sends `case` to `addr` on a new connection and records what the server did.
pub fn run_case(addr: SocketAddr, case: &Case, t: Timeouts) -> Outcome {
    let mut out = Outcome::default();
    let stream = match TcpStream::connect_timeout(&addr, t.response) {
        Ok(s) => s,
        Err(e) => {
            out.error = Some(format!("connect: {e}"));
            return out;
        }
    };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(t.response));
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
        eof: false,
    };
    for (i, w) in case.writes.iter().enumerate() {
        if i > 0 {
            thread::sleep(t.between_writes);
        }
        // The server may answer and close before it has read everything: stop writing then,
        // and read what it said.
        if conn.stream.write_all(w).is_err() {
            break;
        }
    }
    if case.eof {
        let _ = conn.stream.shutdown(Shutdown::Write);
    }

    let mut last_read_to_eof = false;
    let mut last_announced_close = false;
    while out.statuses.len() < case.expect.len() {
        let deadline = Instant::now() + t.response;
        match conn.response(case.head, deadline) {
            Ok(Some(p)) if p.status < 200 => out.interim.push(p.status),
            Ok(Some(p)) => {
                out.statuses.push(p.status);
                last_read_to_eof = p.read_to_eof;
                last_announced_close = p.close;
                if p.read_to_eof {
                    break;
                }
            }
            Ok(None) => {
                out.statuses.push(NO_RESPONSE);
                out.closed = Some(true);
                return out;
            }
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        }
    }
    if last_read_to_eof {
        out.closed = Some(true);
        return out;
    }

    // Is anything else coming, and does the connection close?
    let must_close = match case.close {
        Close::Must => true,
        Close::OnError => out.statuses.iter().any(|&s| s >= 400),
        Close::Open | Close::Any => false,
    };
    let deadline = Instant::now() + if must_close { t.response } else { t.linger };
    loop {
        if !conn.buf.is_empty() {
            out.extra =
                Some(String::from_utf8_lossy(&conn.buf[..conn.buf.len().min(60)]).into_owned());
            // Whatever follows, the connection is not in a state to reuse.
            out.closed = Some(
                conn.fill(Instant::now() + t.linger)
                    .is_ok_and(|f| matches!(f, Fill::Eof)),
            );
            return out;
        }
        match conn.fill(deadline) {
            Ok(Fill::Data) => {}
            Ok(Fill::Eof) => {
                out.closed = Some(true);
                out.unannounced_close = !last_announced_close;
                return out;
            }
            Ok(Fill::TimedOut) => break,
            Err(e) => {
                out.error = Some(e.to_string());
                return out;
            }
        }
    }
    out.closed = Some(false);
    if case.close == Close::Open {
        // Still open: prove it is usable.
        let ok = conn.stream.write_all(PROBE).is_ok()
            && matches!(
                conn.response(false, Instant::now() + t.response),
                Ok(Some(p)) if p.status >= 200
            );
        if !ok {
            out.error = Some("a follow-up request got no response".into());
        }
    }
    out
}

/// Whether `outcome` satisfies `case`; the error says why not.
pub fn check(case: &Case, outcome: &Outcome) -> Result<(), String> {
    if let Some(e) = &outcome.error {
        return Err(e.clone());
    }
    if let Some(extra) = &outcome.extra {
        return Err(format!("a response too many: {extra:?}"));
    }
    let got = &outcome.statuses;
    if got.len() != case.expect.len() && got.last() != Some(&NO_RESPONSE) {
        return Err(format!(
            "{} responses, expected {}",
            got.len(),
            case.expect.len()
        ));
    }
    for (i, (&status, set)) in got.iter().zip(&case.expect).enumerate() {
        if !set.contains(&status) {
            return Err(format!(
                "response {}: {}, expected {}",
                i + 1,
                status_text(status),
                set.iter()
                    .map(|&s| status_text(s))
                    .collect::<Vec<_>>()
                    .join("/")
            ));
        }
    }
    if got.len() < case.expect.len() {
        return Err(format!(
            "closed after {} of {} responses",
            got.len() - 1,
            case.expect.len()
        ));
    }
    // RFC 9112 9.6 (and RFC 9110 10.1.1 for a body left unread): a server that closes after
    // a response SHOULD say so in it, so that the client does not send more on it. The client
    // ending the stream, or HTTP/1.0 (closes by default), need no announcement.
    if outcome.unannounced_close && !case.eof && !case.is_http10() {
        return Err("closed without Connection: close in the response (RFC 9112 9.6)".into());
    }
    let error = got.iter().any(|&s| s >= 400 || s == NO_RESPONSE);
    match (case.close, outcome.closed) {
        (Close::Must, Some(false)) => Err("connection left open, must close".into()),
        (Close::OnError, Some(false)) if error => Err("connection left open after an error".into()),
        (Close::Open, Some(true)) => Err("connection closed, must stay open".into()),
        _ => Ok(()),
    }
}

/// One case's result.
#[derive(Clone, Debug)]
pub struct CaseResult {
    /// The case.
    pub case: Case,
    /// What the server did.
    pub outcome: Outcome,
    /// Whether that conforms.
    pub verdict: Result<(), String>,
}

/// Runs every case against `addr`, a few connections at a time, in the order given.
pub fn run_all(addr: SocketAddr, cases: Vec<Case>, t: Timeouts) -> Vec<CaseResult> {
    const PARALLEL: usize = 8;
    let mut results = Vec::with_capacity(cases.len());
    for batch in cases.chunks(PARALLEL) {
        let outcomes: Vec<Outcome> = thread::scope(|s| {
            let handles: Vec<_> = batch
                .iter()
                .map(|case| s.spawn(move || run_case(addr, case, t)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a case panicked"))
                .collect()
        });
        for (case, outcome) in batch.iter().zip(outcomes) {
            let verdict = check(case, &outcome);
            results.push(CaseResult {
                case: case.clone(),
                outcome,
                verdict,
            });
        }
    }
    results
}

/// The results as a Markdown table: case, rule, expected, got, result.
pub fn table(results: &[CaseResult]) -> String {
    let mut s = String::from("| case | rule | expected | got | result |\n|---|---|---|---|---|\n");
    for r in results {
        let verdict = match &r.verdict {
            Ok(()) => "pass".to_owned(),
            Err(e) => format!("FAIL: {e}"),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            r.case.name,
            r.case.rule,
            r.case.expected_text(),
            r.outcome.text(),
            verdict
        );
    }
    let passed = results.iter().filter(|r| r.verdict.is_ok()).count();
    let _ = writeln!(s, "\n{passed}/{} cases pass", results.len());
    s
}
