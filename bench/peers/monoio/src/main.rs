//! monoio peer: hand-rolled HTTP/1.1 on monoio 0.2's io_uring driver.
//!
//! The request handling is the tokio-uring peer's, line for line (httparse, canned
//! responses, every complete request of a read answered into one buffer and written
//! with one `write_all`), so the monoio vs tokio-uring vs peregrine difference is the
//! runtime underneath. monoio is thread-per-core by design: one runtime on this
//! thread is one core.

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

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
    let mut tick = monoio::time::interval(Duration::from_secs(1));
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
                eprintln!("unknown argument {other:?}; usage: monoio-peer [--addr HOST:PORT]");
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
    out.extend_from_slice(b"\r\nServer: monoio\r\nContent-Type: ");
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

async fn serve(mut stream: TcpStream) {
    let mut input: Vec<u8> = Vec::with_capacity(READ_BUF);
    let mut out: Vec<u8> = Vec::with_capacity(READ_BUF);
    loop {
        // Read after any partial request already buffered: `slice_mut(filled..)` hands
        // the kernel the spare capacity; monoio sets the Vec's length on return.
        let filled = input.len();
        if filled == input.capacity() {
            if filled >= MAX_HEAD {
                return;
            }
            input.reserve(READ_BUF);
        }
        let cap = input.capacity();
        let (res, slice) = stream.read(input.slice_mut(filled..cap)).await;
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
    // io_uring only: a peer that silently fell back to epoll would measure the wrong
    // thing. 1024 entries, like the tokio-uring peer, so c1000 has headroom.
    let mut rt = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(1024)
        .enable_timer()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(addr)?;
        eprintln!("monoio-peer listening on {addr}");
        monoio::spawn(date_ticker());
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    // Small responses: do not let Nagle hold them back.
                    let _ = stream.set_nodelay(true);
                    monoio::spawn(serve(stream));
                }
                // EMFILE and friends: keep serving, back off instead of spinning.
                Err(e) => {
                    eprintln!("accept: {e}");
                    monoio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    })
}
