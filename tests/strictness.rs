//! Strict HTTP/1.1 framing against the real engines (issue 11): a bare LF in the head or the
//! trailers is refused by default and accepted only when configured, counted either way; a
//! body whose framing announces more than the body limit is refused with 413 as soon as it
//! says so, not when the minimum data rate runs out.

mod common;

use std::io::{BufReader, Write};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use peregrine::demo::DemoApp;
use peregrine::metrics::ServerMetrics;
use peregrine::proto::h1::{BareLineFeedPolicy, RejectReason};
use peregrine::{EngineChoice, Limits, MinDataRate, Server, ServerOptions};

/// The request from the issue: the `Content-Length` after the bare LF frames a body, and a
/// request follows it on the same connection. A front end that keeps the LF inside the
/// `Dummy` value sees one request with no body, then `helloGET /json ...` as the next.
const SMUGGLE: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: a\r\nDummy: x\nContent-Length: 5\r\n\r\n\
helloGET /json HTTP/1.1\r\nHost: a\r\n\r\n";

fn options(limits: Limits) -> ServerOptions {
    let mut o = ServerOptions::with_urls(["http://127.0.0.1:0"]).workers(1);
    o.limits = limits;
    o
}

fn metrics_of(server: &impl Server) -> Arc<ServerMetrics> {
    server
        .features()
        .get::<Arc<ServerMetrics>>()
        .expect("the metrics feature")
        .clone()
}

/// Sends `request` on a new connection, reads one response, and checks the server then closed
/// the connection without answering anything more.
fn answered_once_then_closed(addr: std::net::SocketAddr, request: &[u8]) -> Response {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).expect("a response");
    assert!(
        is_closed(&mut r),
        "the connection must close after {}",
        resp.status
    );
    resp
}

fn bare_lf_is_refused_by_default_and_counted(engine: EngineChoice) {
    let (mut server, addr) = start_with(engine, DemoApp, options(Limits::default()));
    let metrics = metrics_of(&server);
    let resp = answered_once_then_closed(addr, SMUGGLE);
    assert_eq!(resp.status, 400);
    assert_eq!(resp.header("connection"), Some("close"));

    for request in [
        &b"GET / HTTP/1.1\nHost: a\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: a\r\n\n",
        b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX: y\n\r\n",
        // Chunk lines need CRLF under either policy.
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\na\r\n0\r\n\r\n",
    ] {
        let resp = answered_once_then_closed(addr, request);
        assert_eq!(resp.status, 400, "{:?}", String::from_utf8_lossy(request));
    }
    // A lone CR is refused, and named apart.
    let resp = answered_once_then_closed(addr, b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n");
    assert_eq!(resp.status, 400);

    let m = metrics.snapshot();
    assert_eq!(m.bare_line_feed_rejected, 6, "{m:?}");
    assert_eq!(m.bare_line_feed_accepted, 0);
    assert_eq!(m.rejections_of(RejectReason::BareLineFeed), 6);
    assert_eq!(m.rejections_of(RejectReason::BareCarriageReturn), 1);
    let mut text = String::new();
    metrics.render_prometheus(&mut text);
    assert!(
        text.contains(
            "peregrine_bare_line_feed_requests_total{worker=\"0\",outcome=\"rejected\"} 6"
        ),
        "{text}"
    );
    assert!(text.contains(
        "peregrine_rejections_total{worker=\"0\",reason=\"bare_line_feed\",status=\"400\"} 6"
    ));
    server.stop(Duration::from_secs(1));
}

fn bare_lf_is_accepted_when_configured_and_counted(engine: EngineChoice) {
    let limits = Limits {
        bare_line_feed: BareLineFeedPolicy::Accept,
        ..Limits::default()
    };
    let (mut server, addr) = start_with(engine, DemoApp, options(limits));
    let metrics = metrics_of(&server);

    // The LF ends the `Dummy` line, as RFC 9112 2.2 permits: the Content-Length frames
    // `hello`, and `/json` is the next request on the connection.
    let mut s = connect(addr);
    s.write_all(SMUGGLE).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let first = read_response(&mut r, false).unwrap();
    assert_eq!(
        (first.status, first.text().as_str()),
        (200, "Hello, World!")
    );
    let second = read_response(&mut r, false).unwrap();
    assert_eq!(second.status, 200);
    assert!(second.text().contains("Hello, World!"), "{}", second.text());

    // Trailers may end in a bare LF too; a request with a bare LF in both its head and its
    // trailers is counted once. Chunk lines still need CRLF.
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX: y\n\r\n",
    )
    .unwrap();
    let echo = read_response(&mut r, false).unwrap();
    assert_eq!((echo.status, echo.text().as_str()), (200, "a"));
    s.write_all(b"POST /echo HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n2\r\nbc\r\n0\r\n\n")
        .unwrap();
    let echo = read_response(&mut r, false).unwrap();
    assert_eq!((echo.status, echo.text().as_str()), (200, "bc"));
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    let resp = answered_once_then_closed(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\na\r\n0\r\n\r\n",
    );
    assert_eq!(resp.status, 400);

    let m = metrics.snapshot();
    assert_eq!(
        (m.bare_line_feed_accepted, m.bare_line_feed_rejected),
        (3, 1),
        "{m:?}"
    );
    let mut text = String::new();
    metrics.render_prometheus(&mut text);
    assert!(text
        .contains("peregrine_bare_line_feed_requests_total{worker=\"0\",outcome=\"accepted\"} 3"));
    server.stop(Duration::from_secs(1));
}

fn a_body_announced_over_the_limit_is_413_at_once(engine: EngineChoice) {
    // A grace period of a minute: were the answer left to the minimum data rate, the client's
    // 10 s read timeout would fail the test.
    let limits = Limits {
        max_request_body_size: Some(1000),
        min_request_body_data_rate: Some(MinDataRate {
            bytes_per_second: 240.0,
            grace_period: Duration::from_secs(60),
        }),
        ..Limits::default()
    };
    let (mut server, addr) = start_with(engine, DemoApp, options(limits));
    let chunked = "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    for body in [
        // 1 TB in the first chunk's size line, two bytes of it sent.
        "E8D4A51000\r\naa".to_string(),
        // The size line alone, no data yet.
        "E8D4A51000\r\n".to_string(),
        // 600 bytes in, then a chunk of 500: within the limit alone, over the allowance left.
        format!("258\r\n{}\r\n1F4\r\n", "x".repeat(600)),
        // Exactly the limit is fine up to its last chunk, one more byte is not.
        format!("3E8\r\n{}\r\n1\r\n", "x".repeat(1000)),
    ] {
        let resp = answered_once_then_closed(addr, format!("{chunked}{body}").as_bytes());
        assert_eq!(resp.status, 413, "{body:.40}");
    }
    // A Content-Length over the limit is refused when the application reads, before the body.
    let resp = answered_once_then_closed(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000\r\n\r\n",
    );
    assert_eq!(resp.status, 413);
    // At the limit, chunked, the body is read whole.
    let at_limit = format!("{chunked}3E8\r\n{}\r\n0\r\n\r\n", "y".repeat(1000));
    let resp = roundtrip(addr, at_limit.as_bytes());
    assert_eq!((resp.status, resp.body.len()), (200, 1000));
    let m = metrics_of(&server).snapshot();
    assert_eq!(m.rejections_of(RejectReason::RequestBodyTooLarge), 5);
    assert_eq!(m.rejections_of(RejectReason::RequestBodyTimeout), 0);
    server.stop(Duration::from_secs(1));
}

fn an_unread_body_announced_past_the_discard_limit_closes(engine: EngineChoice) {
    // /plaintext does not read its body: a chunk too large to skip closes the connection after
    // the response, without waiting for the chunk's data.
    let (mut server, addr) = start_with(engine, DemoApp, options(Limits::default()));
    let resp = answered_once_then_closed(
        addr,
        b"GET /plaintext HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nE8D4A51000\r\naa",
    );
    assert_eq!(resp.status, 200);
    server.stop(Duration::from_secs(1));
}

engine_tests!(
    bare_lf_is_refused_by_default_and_counted,
    bare_lf_is_accepted_when_configured_and_counted,
    a_body_announced_over_the_limit_is_413_at_once,
    an_unread_body_announced_past_the_discard_limit_closes,
);
