//! The protocol object's (`crate::connection`) behaviours, driven through [`serve_bytes`]: bytes
//! in, bytes out, no sockets, deterministic but for the `Date` header (blanked here).

use crate::app::{AppResult, Handler};
use crate::http::HttpContext;
use crate::server::Limits;
use crate::testing::serve_bytes;

/// An application whose behaviour is chosen by the request path.
struct Script;

impl Handler for Script {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        let path = http.request().path().to_owned();
        match path.as_str() {
            "/hello" => http.write(b"hi"),
            "/close" => {
                http.set_header("connection", "close")?;
                http.write(b"bye");
            }
            "/stream" => {
                http.write(b"ab");
                http.flush().await?;
                http.write(b"cd");
            }
            "/stream-length" => {
                http.set_header("content-length", "4")?;
                http.write(b"ab");
                http.flush().await?;
                http.write(b"cd");
            }
            "/wrong-length" => {
                http.set_header("content-length", "10")?;
                http.write(b"abc");
            }
            "/read-body" => {
                let mut body = Vec::new();
                let n = http.read_body_to_end(&mut body, 1 << 20).await?;
                http.write(n.to_string().as_bytes());
            }
            "/no-content" => {
                http.set_status(204)?;
                http.write(b"ignored");
            }
            "/fail" => return Err("failed".into()),
            "/panic" => panic!("the application panicked"),
            "/upgrade" => {
                http.set_header("upgrade", "echo")?;
                let mut stream = http.upgrade().await?;
                let mut buf = [0u8; 64];
                loop {
                    let n = stream.read(&mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    stream.write_all(&buf[..n]).await?;
                }
            }
            // "/ignore-body" and anything else: answer without reading the body.
            _ => http.write(b"ok"),
        }
        Ok(())
    }
}

/// The responses `chunks` (one receive each) get, `Date` values blanked and CRLF shown as `|`.
fn serve_with(limits: Limits, chunks: &[&[u8]]) -> String {
    let out = serve_bytes(&Script, limits, chunks);
    String::from_utf8_lossy(&out)
        .split("\r\n")
        .map(|l| {
            if l.starts_with("Date: ") {
                "Date: *"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("|")
}

fn serve(chunks: &[&[u8]]) -> String {
    serve_with(Limits::default(), chunks)
}

/// A response head as `serve` shows it, with `Server` and `Date`, then `rest` (`|`-separated
/// headers, `||`, the body).
fn response(status: &str, rest: &str) -> String {
    format!("HTTP/1.1 {status}|Server: peregrine|Date: *|{rest}")
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let out = serve(&[b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\n\
        GET /x HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n"]);
    let hi = response("200 OK", "Content-Length: 2||hi");
    let ok = response("200 OK", "Content-Length: 2||ok");
    assert_eq!(out, format!("{hi}{ok}{hi}"));
}

#[test]
fn a_request_split_over_reads_is_one_request() {
    let out = serve(&[b"GET /hel", b"lo HTTP/1.1\r\nHo", b"st: a\r\n\r", b"\n"]);
    assert_eq!(out, response("200 OK", "Content-Length: 2||hi"));
}

#[test]
fn http11_closes_when_the_client_says_close() {
    let out = serve(&[
        b"GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n\
        GET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
    ]);
    assert_eq!(
        out,
        response("200 OK", "Content-Length: 2|Connection: close||hi")
    );
}

#[test]
fn http10_closes_unless_asked_to_keep_alive() {
    let out = serve(&[b"GET /hello HTTP/1.0\r\n\r\nGET /hello HTTP/1.0\r\n\r\n"]);
    assert_eq!(
        out,
        response("200 OK", "Content-Length: 2|Connection: close||hi")
    );
    let out = serve(&[b"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
        GET /hello HTTP/1.0\r\n\r\n"]);
    assert_eq!(
        out,
        response("200 OK", "Content-Length: 2|Connection: keep-alive||hi")
            + &response("200 OK", "Content-Length: 2|Connection: close||hi")
    );
}

#[test]
fn the_applications_connection_close_closes() {
    let out =
        serve(&[b"GET /close HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n"]);
    assert_eq!(
        out,
        response("200 OK", "Content-Length: 3|Connection: close||bye")
    );
}

#[test]
fn head_gets_the_length_and_no_body() {
    let out = serve(&[
        b"HEAD /hello HTTP/1.1\r\nHost: a\r\n\r\nHEAD /stream HTTP/1.1\r\nHost: a\r\n\r\n\
        GET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
    ]);
    assert_eq!(
        out,
        response("200 OK", "Content-Length: 2||")
            + &response("200 OK", "|")
            + &response("200 OK", "Content-Length: 2||hi")
    );
}

#[test]
fn a_flushed_response_is_chunked_or_has_its_declared_length() {
    let out = serve(&[b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n\
        GET /stream-length HTTP/1.1\r\nHost: a\r\n\r\n"]);
    assert_eq!(
        out,
        response("200 OK", "Transfer-Encoding: chunked||2|ab|2|cd|0||")
            + &response("200 OK", "Content-Length: 4||abcd")
    );
}

#[test]
fn a_flushed_response_to_http10_ends_with_the_connection() {
    let out = serve(&[b"GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
        GET /hello HTTP/1.0\r\n\r\n"]);
    assert_eq!(out, response("200 OK", "Connection: close||abcd"));
}

#[test]
fn no_content_has_no_body() {
    let out = serve(&[
        b"GET /no-content HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
    ]);
    assert_eq!(
        out,
        response("204 No Content", "|") + &response("200 OK", "Content-Length: 2||hi")
    );
}

#[test]
fn a_declared_length_that_is_not_written_becomes_500() {
    let out = serve(&[b"GET /wrong-length HTTP/1.1\r\nHost: a\r\n\r\n"]);
    assert_eq!(
        out,
        response("500 Internal Server Error", "Content-Length: 0||")
    );
}

#[test]
fn an_unread_body_is_drained_and_the_connection_kept() {
    let out = serve(&[
        b"POST /ignore-body HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel",
        b"loGET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
    ]);
    assert_eq!(
        out,
        response("200 OK", "Content-Length: 2||ok") + &response("200 OK", "Content-Length: 2||hi")
    );
}

#[test]
fn an_unread_body_too_large_to_skip_closes() {
    let out =
        serve(&[b"POST /ignore-body HTTP/1.1\r\nHost: a\r\nContent-Length: 300000\r\n\r\nabc"]);
    assert_eq!(
        out,
        response("200 OK", "Content-Length: 2|Connection: close||ok")
    );
}

#[test]
fn expect_100_continue_is_answered_when_the_body_is_read() {
    let out = serve(&[
        b"POST /read-body HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        b"abc",
    ]);
    assert_eq!(
        out,
        "HTTP/1.1 100 Continue||".to_owned() + &response("200 OK", "Content-Length: 1||3")
    );
}

#[test]
fn expect_100_continue_unanswered_closes() {
    // The body was never asked for: the client may or may not send it, so the connection
    // cannot find the next request and closes.
    let out = serve(&[
        b"POST /ignore-body HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
    ]);
    assert_eq!(
        out,
        response("200 OK", "Content-Length: 2|Connection: close||ok")
    );
}

#[test]
fn a_malformed_head_is_rejected_and_closes() {
    let out = serve(&[
        b"GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nBad Name: x\r\n\r\n\
        GET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
    ]);
    assert_eq!(
        out,
        response("200 OK", "Content-Length: 2||hi")
            + &response("400 Bad Request", "Content-Length: 0|Connection: close||")
    );
}

#[test]
fn a_body_over_the_limit_is_413_and_closes() {
    let limits = Limits {
        max_request_body_size: Some(4),
        ..Limits::default()
    };
    let out = serve_with(
        limits,
        &[
            b"POST /read-body HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
            GET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
        ],
    );
    assert_eq!(
        out,
        response(
            "413 Content Too Large",
            "Content-Length: 0|Connection: close||"
        )
    );
}

#[test]
fn a_body_cut_short_is_400_and_closes() {
    let out = serve(&[b"POST /read-body HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel"]);
    assert_eq!(
        out,
        response("400 Bad Request", "Content-Length: 0|Connection: close||")
    );
}

#[test]
fn a_failed_request_is_500_and_a_panic_closes() {
    let out = serve(&[
        b"GET /fail HTTP/1.1\r\nHost: a\r\n\r\nGET /panic HTTP/1.1\r\nHost: a\r\n\r\n\
        GET /hello HTTP/1.1\r\nHost: a\r\n\r\n",
    ]);
    assert_eq!(
        out,
        response("500 Internal Server Error", "Content-Length: 0||")
            + &response(
                "500 Internal Server Error",
                "Content-Length: 0|Connection: close||"
            )
    );
}

#[test]
fn an_upgrade_switches_to_a_byte_stream() {
    let out = serve(&[
        b"GET /upgrade HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nping",
        b"pong",
    ]);
    assert_eq!(
        out,
        response(
            "101 Switching Protocols",
            "upgrade: echo|Connection: upgrade||pingpong"
        )
    );
}
