//! tokio-uring peer: hand-rolled HTTP/1.1 on tokio-uring 0.5.
//!
//! This is the "tokio-uring vs driving io_uring directly" data point: the request
//! handling is as lean as peregrine's hot path (httparse, canned responses, one
//! `write_all` per read), so what differs is the runtime underneath. tokio-uring
//! runs on a tokio `current_thread` runtime, i.e. one core.
//!
//! Per connection: one owned input `Vec` that the kernel reads into (appending after
//! any partial request left over), every complete request in it is answered into one
//! owned output `Vec`, and that is written with a single `write_all`. Buffers move
//! into each operation and come back with its result (tokio-uring's owned-buffer
//! model), so nothing is copied on the way in or out.

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use tokio_uring::buf::BoundedBuf;
use tokio_uring::net::{TcpListener, TcpStream};

const PLAINTEXT: &[u8] = b"Hello, World!";
const JSON: &[u8] = br#"{"message":"Hello, World!"}"#;

/// Read buffer size; grown (up to `MAX_HEAD`) only for requests that do not fit.
const READ_BUF: usize = 16 * 1024;
/// A request head (plus body) larger than this closes the connection.
const MAX_HEAD: usize = 64 * 1024;
/// httparse needs a fixed header array; wrk and curl send far fewer.
const MAX_HEADERS: usize = 32;

/// Length of an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
const DATE_LEN: usize = 29;

thread_local! {
    /// The `Date` header value, refreshed once per second by `date_ticker`.
    /// A `Cell` of a `Copy` array: single-threaded runtime, no locking needed.
    static DATE: Cell<[u8; DATE_LEN]> = Cell::new(now_date());
}

fn now_date() -> [u8; DATE_LEN] {
    let s = httpdate::fmt_http_date(SystemTime::now());
    let mut out = [b' '; DATE_LEN];
    out.copy_from_slice(&s.as_bytes()[..DATE_LEN]);
    out
}

/// Refreshes the cached `Date` once per second, so requests never format a date.
async fn date_ticker() {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        DATE.with(|d| d.set(now_date()));
    }
}

/// Parses `--addr HOST:PORT` (default 127.0.0.1:8081); the only flag we take.
fn parse_addr() -> SocketAddr {
    let mut args = std::env::args().skip(1);
    let mut addr = String::from("127.0.0.1:8081");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            other => {
                eprintln!("unknown argument {other:?}; usage: tokio-uring-peer [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    addr.parse().expect("--addr must be HOST:PORT")
}

/// Appends one complete response (status line, headers, body) to `out`.
fn push_response(out: &mut Vec<u8>, status: &[u8], content_type: &[u8], body: &[u8], date: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status);
    out.extend_from_slice(b"\r\nServer: tokio-uring\r\nContent-Type: ");
    out.extend_from_slice(content_type);
    out.extend_from_slice(b"\r\nContent-Length: ");
    out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
}

/// What parsing the buffered bytes produced.
struct Parsed {
    /// Bytes of `input` consumed by complete requests.
    consumed: usize,
    /// Close after writing `out` (Connection: close, HTTP/1.0, or a bad request).
    close: bool,
}

/// Answers every complete request in `input` into `out`.
fn answer_all(input: &[u8], out: &mut Vec<u8>) -> Parsed {
    let date = DATE.with(Cell::get);
    let mut pos = 0;
    while pos < input.len() {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let head_len = match req.parse(&input[pos..]) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => break,
            Err(_) => {
                push_response(out, b"400 Bad Request", b"text/plain", b"", &date);
                return Parsed {
                    consumed: input.len(),
                    close: true,
                };
            }
        };

        // Just enough HTTP/1.1 to be a fair peer: honour Content-Length bodies,
        // refuse chunked bodies, and respect Connection: close / HTTP/1.0.
        let mut body_len = 0usize;
        let mut close = req.version == Some(0);
        for h in req.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                match std::str::from_utf8(h.value)
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                {
                    Some(n) => body_len = n,
                    None => {
                        push_response(out, b"400 Bad Request", b"text/plain", b"", &date);
                        return Parsed {
                            consumed: input.len(),
                            close: true,
                        };
                    }
                }
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                push_response(out, b"501 Not Implemented", b"text/plain", b"", &date);
                return Parsed {
                    consumed: input.len(),
                    close: true,
                };
            } else if h.name.eq_ignore_ascii_case("connection") {
                if h.value.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if h.value.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        }
        if input.len() - pos - head_len < body_len {
            break; // body not all here yet: wait for more bytes
        }

        match (req.method, req.path) {
            (Some("GET"), Some("/plaintext")) => {
                push_response(out, b"200 OK", b"text/plain", PLAINTEXT, &date)
            }
            (Some("GET"), Some("/json")) => {
                push_response(out, b"200 OK", b"application/json", JSON, &date)
            }
            _ => push_response(out, b"404 Not Found", b"text/plain", b"", &date),
        }
        pos += head_len + body_len;
        if close {
            return Parsed {
                consumed: pos,
                close: true,
            };
        }
    }
    Parsed {
        consumed: pos,
        close: false,
    }
}

async fn serve(stream: TcpStream) {
    let mut input: Vec<u8> = Vec::with_capacity(READ_BUF);
    let mut out: Vec<u8> = Vec::with_capacity(READ_BUF);
    loop {
        // Read after any partial request already buffered. `slice(filled..)` hands
        // the kernel the spare capacity; tokio-uring sets the Vec's length on return.
        let filled = input.len();
        if filled == input.capacity() {
            if filled >= MAX_HEAD {
                return;
            }
            input.reserve(READ_BUF);
        }
        let (res, slice) = stream.read(input.slice(filled..)).await;
        input = slice.into_inner();
        match res {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }

        let parsed = answer_all(&input, &mut out);
        if !out.is_empty() {
            let (res, buf) = stream.write_all(out).await;
            out = buf;
            out.clear();
            if res.is_err() {
                return;
            }
        }
        if parsed.close {
            return;
        }
        // Keep only the unconsumed tail (usually nothing, so no copy).
        if parsed.consumed == input.len() {
            input.clear();
        } else {
            input.drain(..parsed.consumed);
        }
    }
}

fn main() -> std::io::Result<()> {
    let addr = parse_addr();
    // Bigger rings than the default 256 so a 1000-connection run has headroom.
    let mut uring = tokio_uring::uring_builder();
    // COOP_TASKRUN: completions are not forced in by IPIs while we run; they come in
    // at our next syscall, which tokio-uring makes every time it parks. SINGLE_ISSUER:
    // only this thread touches the ring. (DEFER_TASKRUN is out: tokio-uring reaps
    // completions without io_uring_enter(GETEVENTS), so deferred work would never run.)
    uring.setup_coop_taskrun().setup_single_issuer();
    tokio_uring::builder()
        .entries(1024)
        .uring_builder(&uring)
        .start(async move {
            let listener = TcpListener::bind(addr)?;
            eprintln!("tokio-uring-peer listening on {addr}");
            tokio_uring::spawn(date_ticker());
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        // Small responses: do not let Nagle hold them back.
                        let _ = stream.set_nodelay(true);
                        tokio_uring::spawn(serve(stream));
                    }
                    // EMFILE and friends: keep serving, back off instead of spinning.
                    Err(e) => {
                        eprintln!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        })
}
