//! The sample application the `peregrine` binary serves, also used by the tests.
//!
//! | route | methods | response |
//! |---|---|---|
//! | `/` | GET, HEAD | a short HTML index |
//! | `/plaintext` | GET, HEAD | `Hello, World!` (`text/plain`) |
//! | `/json` | GET, HEAD | `{"message":"Hello, World!"}` (`application/json`) |
//! | `/echo` | POST, PUT | the request body, streamed back |
//! | `/upload` | POST, PUT | the request body read to its end (not kept), then `length` and `fnv1a64` (its [FNV-1a] 64-bit hash in hex) lines (`text/plain`) |
//! | `/whoami` | GET, HEAD | what the application sees of the request: `remote_addr`, `scheme` and `host` lines (`text/plain`), e.g. behind a proxy with `--forwarded-headers` |
//! | `/bytes/N` | GET, HEAD | `N` bytes (at most [`MAX_BYTES`], 1 GiB), byte `i` being `i % 256`, streamed in 16 KiB pieces (`application/octet-stream`) |
//! | `/ws` | GET (WebSocket), or CONNECT with `:protocol websocket` over HTTP/2 (RFC 8441) | a WebSocket echoing every text and binary message (subprotocol `echo` when offered, permessage-deflate when offered, the server's `ws-*` limits); `Close` is answered; a request that is not a valid WebSocket handshake gets `400`, `403` or `426` (`400` over HTTP/2) |
//!
//! Other paths get `404` (so does `/bytes/N` with `N` not a decimal number up to [`MAX_BYTES`]);
//! other methods on these paths get `405` with `Allow`.
//!
//! `/echo` starts answering while the body still arrives, so a client must read while it sends.
//! Reverse proxies such as nginx and Apache httpd do not: they read the response only once they
//! have sent the whole request body, and an echo of a body larger than the socket buffers stalls
//! behind them. `/upload` reads the whole body first, so it works behind any proxy.
//!
//! [FNV-1a]: http://www.isthe.com/chongo/tech/comp/fnv/index.html

use std::future::Future;
use std::pin::Pin;

use crate::app::{AppResult, Handler};
use crate::http::{HttpContext, Method, StaticHeader};
use crate::websocket::{Message, WebSocketOptions};

const INDEX: &[u8] = b"<!doctype html>\n<html><head><title>peregrine</title></head><body>\n\
<h1>peregrine</h1>\n<p>An io_uring, thread-per-core HTTP/1.1 server.</p>\n<ul>\n\
<li><a href=\"/plaintext\">GET /plaintext</a></li>\n<li><a href=\"/json\">GET /json</a></li>\n\
<li>POST or PUT /echo: echoes the request body</li>\n\
<li>POST or PUT /upload: the request body's length and FNV-1a hash</li>\n\
<li><a href=\"/whoami\">GET /whoami</a>: the client address, scheme and host</li>\n\
<li><a href=\"/bytes/1024\">GET /bytes/N</a>: N bytes</li>\n\
<li>GET /ws: a WebSocket echo</li>\n</ul>\n</body></html>\n";

/// The content types of the fixed routes, checked when the program is built.
const TEXT_PLAIN: StaticHeader = StaticHeader::new("content-type: text/plain");
const APPLICATION_JSON: StaticHeader = StaticHeader::new("content-type: application/json");
const TEXT_HTML: StaticHeader = StaticHeader::new("content-type: text/html; charset=utf-8");

/// The most `/bytes/N` sends: 1 GiB.
pub const MAX_BYTES: u64 = 1 << 30;

/// The demo application (see the module documentation for its routes).
#[derive(Clone, Copy, Debug, Default)]
pub struct DemoApp;

impl Handler for DemoApp {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        let method = http.request().method();
        let is_get = matches!(method, Method::Get | Method::Head);
        match http.request().path() {
            "/plaintext" if is_get => {
                http.set_static_header(&TEXT_PLAIN)?;
                http.write(b"Hello, World!");
            }
            "/json" if is_get => {
                http.set_static_header(&APPLICATION_JSON)?;
                http.write(br#"{"message":"Hello, World!"}"#);
            }
            "/" if is_get => {
                http.set_static_header(&TEXT_HTML)?;
                http.write(INDEX);
            }
            "/echo" if matches!(method, Method::Post | Method::Put) => echo(http).await?,
            "/upload" if matches!(method, Method::Post | Method::Put) => upload(http).await?,
            "/whoami" if is_get => whoami(http)?,
            // Boxed: a WebSocket's state is large, and every connection's task would otherwise
            // carry room for it (the application future is part of the connection's task). As
            // a `dyn Future`, so that its poll (with a 16 KiB read buffer on its stack) is not
            // inlined here, where every request's call would probe that stack.
            "/ws" => {
                let ws: Pin<Box<dyn Future<Output = AppResult> + '_>> =
                    Box::pin(websocket_echo(http));
                ws.await?
            }
            path if path.starts_with("/bytes/") => match parse_byte_count(&path[7..]) {
                Some(n) if is_get => bytes(http, n, method == Method::Head).await?,
                Some(_) => method_not_allowed(http, "GET, HEAD")?,
                None => not_found(http)?,
            },
            "/plaintext" | "/json" | "/" | "/whoami" => method_not_allowed(http, "GET, HEAD")?,
            "/echo" | "/upload" => method_not_allowed(http, "POST, PUT")?,
            _ => not_found(http)?,
        }
        Ok(())
    }
}

/// `/ws`: echoes every message until the client closes (the handshake's failures are answered
/// by `accept_websocket`).
async fn websocket_echo(http: &mut HttpContext<'_>) -> AppResult {
    let options = WebSocketOptions::new()
        .protocols(["echo"])
        .permessage_deflate(true);
    let Ok(mut ws) = http.accept_websocket(&options).await else {
        return Ok(());
    };
    loop {
        let message = ws.receive().await;
        let sent = match &message {
            Message::Text(t) => ws.send_text(t).await,
            Message::Binary(b) => ws.send_binary(b).await,
            Message::Close(_) => return Ok(()),
            Message::Fragment { .. } | Message::Ping(_) | Message::Pong(_) => Ok(()),
        };
        // The next message is received into this one's buffer: no allocation per message.
        ws.recycle(message);
        if sent.is_err() {
            return Ok(());
        }
    }
}

fn not_found(http: &mut HttpContext<'_>) -> AppResult {
    http.set_status(404)?;
    http.set_static_header(&TEXT_PLAIN)?;
    http.write(b"Not Found");
    Ok(())
}

/// The FNV-1a 64-bit offset basis: the hash of no bytes, where [`fnv1a64`] starts.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// The FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Folds `data` into the FNV-1a 64-bit hash `hash` (start from [`FNV_OFFSET`]), as `/upload`
/// does. Not a cryptographic hash: it checks that bytes arrived intact.
pub fn fnv1a64(mut hash: u64, data: &[u8]) -> u64 {
    for b in data {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// Reads the whole request body without keeping it, then answers with its length and hash.
async fn upload(http: &mut HttpContext<'_>) -> AppResult {
    let mut buf = vec![0u8; 16 * 1024];
    let (mut length, mut hash) = (0u64, FNV_OFFSET);
    loop {
        let n = http.read_body(&mut buf).await?;
        if n == 0 {
            break;
        }
        length += n as u64;
        hash = fnv1a64(hash, &buf[..n]);
    }
    http.set_static_header(&TEXT_PLAIN)?;
    http.write(format!("length: {length}\nfnv1a64: {hash:016x}\n").as_bytes());
    Ok(())
}

/// What the application sees of the request, one `name: value` line each: the client address
/// (`-` where there is none, as on a Unix socket), the scheme and the host (`-` without one).
/// Behind a proxy, [`ForwardedHeaders`](crate::middleware::ForwardedHeaders) changes all three.
fn whoami(http: &mut HttpContext<'_>) -> AppResult {
    let text = format!(
        "remote_addr: {}\nscheme: {}\nhost: {}\n",
        http.remote_addr()
            .map_or_else(|| "-".to_owned(), |a| a.to_string()),
        http.scheme(),
        http.host().unwrap_or("-"),
    );
    http.set_static_header(&TEXT_PLAIN)?;
    http.set_header("cache-control", "no-store")?;
    http.write(text.as_bytes());
    Ok(())
}

/// `N` of `/bytes/N`: decimal digits only, at most [`MAX_BYTES`].
fn parse_byte_count(digits: &str) -> Option<u64> {
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n <= MAX_BYTES)
}

/// The `/bytes/N` pattern: byte `i` is `i % 256`. Its length is a multiple of 256, so every
/// piece sent from its start continues the pattern.
static PATTERN: [u8; 16 * 1024] = {
    let mut p = [0u8; 16 * 1024];
    let mut i = 0;
    while i < p.len() {
        p[i] = i as u8;
        i += 1;
    }
    p
};

/// Sends `n` pattern bytes with a `Content-Length`, piece by piece: `write_all` waits for the
/// client whenever the response buffer is full, so memory stays bounded whatever `n` is.
async fn bytes(http: &mut HttpContext<'_>, n: u64, head: bool) -> AppResult {
    let mut digits = itoa::Buffer::new();
    http.set_header("content-type", "application/octet-stream")?;
    http.set_header("content-length", digits.format(n))?;
    if head {
        return Ok(());
    }
    let mut left = n;
    while left > 0 {
        let piece = left.min(PATTERN.len() as u64) as usize;
        http.write_all(&PATTERN[..piece]).await?;
        left -= piece as u64;
    }
    Ok(())
}

fn method_not_allowed(http: &mut HttpContext<'_>, allow: &str) -> AppResult {
    http.set_status(405)?;
    http.set_header("allow", allow)?;
    Ok(())
}

/// Streams the request body back, with the request's length and content type when known.
async fn echo(http: &mut HttpContext<'_>) -> AppResult {
    let content_type = http.request().header("content-type").map(<[u8]>::to_vec);
    let length = http.request().content_length();
    http.set_header(
        "content-type",
        content_type
            .as_deref()
            .unwrap_or(&b"application/octet-stream"[..]),
    )?;
    if let Some(n) = length {
        let mut digits = itoa::Buffer::new();
        http.set_header("content-length", digits.format(n))?;
    }
    // On the heap, not the stack: a handler's future lives inside its connection's task for
    // the connection's whole life, so a 16 KiB stack buffer here would cost every connection,
    // idle or not, 16 KiB. (One allocation per echo request; plaintext and json allocate none.)
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = http.read_body(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        http.write_all(&buf[..n]).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Server;
    use crate::testing::{TestRequest, TestServer};

    fn server() -> TestServer {
        let mut server = TestServer::new();
        server.start(DemoApp).unwrap();
        server
    }

    #[test]
    fn bytes_sends_the_pattern_with_its_length() {
        let server = server();
        for n in [0usize, 1, 255, 16 * 1024, 16 * 1024 + 7, 100_000] {
            let r = server.send(TestRequest::get(&format!("/bytes/{n}")));
            assert_eq!(r.status, 200);
            assert_eq!(r.header("content-length"), Some(n.to_string().as_bytes()));
            assert_eq!(r.body.len(), n);
            assert!(r.body.iter().enumerate().all(|(i, b)| *b == i as u8), "{n}");
        }
        let r = server.send(TestRequest::new("HEAD", "/bytes/1073741824"));
        assert_eq!((r.status, r.body.len()), (200, 0));
        for bad in [
            "/bytes/",
            "/bytes/x",
            "/bytes/-1",
            "/bytes/+5",
            "/bytes/1073741825",
        ] {
            assert_eq!(server.send(TestRequest::get(bad)).status, 404, "{bad}");
        }
        assert_eq!(server.send(TestRequest::post("/bytes/5", "")).status, 405);
    }

    #[test]
    fn upload_reports_length_and_hash() {
        let server = server();
        // FNV-1a 64 test vectors: "" and "a".
        let r = server.send(TestRequest::post("/upload", ""));
        assert_eq!(r.text(), "length: 0\nfnv1a64: cbf29ce484222325\n");
        let r = server.send(TestRequest::post("/upload", "a"));
        assert_eq!(r.text(), "length: 1\nfnv1a64: af63dc4c8601ec8c\n");
        let body = vec![7u8; 100_000];
        let r = server.send(TestRequest::new("PUT", "/upload").body(body.clone()));
        let want = format!(
            "length: 100000\nfnv1a64: {:016x}\n",
            fnv1a64(FNV_OFFSET, &body)
        );
        assert_eq!(r.text(), want);
        assert_eq!(server.send(TestRequest::get("/upload")).status, 405);
    }

    #[test]
    fn whoami_reports_scheme_and_host() {
        let server = server();
        let r = server.send(TestRequest::get("/whoami").header("host", "example.com:81"));
        assert_eq!(r.status, 200);
        // The in-memory server has no connection, so no address.
        assert_eq!(
            r.text(),
            "remote_addr: -\nscheme: http\nhost: example.com:81\n"
        );
        assert_eq!(server.send(TestRequest::post("/whoami", "")).status, 405);
    }
}
