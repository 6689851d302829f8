//! The sample application the `peregrine` binary serves, also used by the tests.
//!
//! | route | methods | response |
//! |---|---|---|
//! | `/` | GET, HEAD | a short HTML index |
//! | `/plaintext` | GET, HEAD | `Hello, World!` (`text/plain`) |
//! | `/json` | GET, HEAD | `{"message":"Hello, World!"}` (`application/json`) |
//! | `/echo` | POST, PUT | the request body, streamed back |
//!
//! Other paths get `404`; other methods on these paths get `405` with `Allow`.

use crate::app::{AppResult, Handler};
use crate::http::{HttpContext, Method};

const INDEX: &[u8] = b"<!doctype html>\n<html><head><title>peregrine</title></head><body>\n\
<h1>peregrine</h1>\n<p>An io_uring, thread-per-core HTTP/1.1 server.</p>\n<ul>\n\
<li><a href=\"/plaintext\">GET /plaintext</a></li>\n<li><a href=\"/json\">GET /json</a></li>\n\
<li>POST or PUT /echo: echoes the request body</li>\n</ul>\n</body></html>\n";

/// The demo application (see the module documentation for its routes).
#[derive(Clone, Copy, Debug, Default)]
pub struct DemoApp;

impl Handler for DemoApp {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        let method = http.request().method();
        let is_get = matches!(method, Method::Get | Method::Head);
        match http.request().path() {
            "/plaintext" if is_get => {
                http.set_header("content-type", "text/plain")?;
                http.write(b"Hello, World!");
            }
            "/json" if is_get => {
                http.set_header("content-type", "application/json")?;
                http.write(br#"{"message":"Hello, World!"}"#);
            }
            "/" if is_get => {
                http.set_header("content-type", "text/html; charset=utf-8")?;
                http.write(INDEX);
            }
            "/echo" if matches!(method, Method::Post | Method::Put) => echo(http).await?,
            "/plaintext" | "/json" | "/" => method_not_allowed(http, "GET, HEAD")?,
            "/echo" => method_not_allowed(http, "POST, PUT")?,
            _ => {
                http.set_status(404)?;
                http.set_header("content-type", "text/plain")?;
                http.write(b"Not Found");
            }
        }
        Ok(())
    }
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
