//! PROXY protocol listeners (opt-in per address), on both engines: the header's client address
//! becomes the connection's, split headers are reassembled, and a malformed or missing header
//! closes the connection without an answer.

mod common;

use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use peregrine::metrics::ServerMetrics;
use peregrine::{AppResult, EngineChoice, Handler, HttpContext, Server, ServerOptions};

/// Answers with the addresses the application sees.
struct Peer;

impl Handler for Peer {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        let c = *http.connection().expect("a connection feature");
        let text = format!("remote={:?} local={:?}", c.remote_addr, c.local_addr);
        http.write(text.as_bytes());
        Ok(())
    }
}

/// A server with one plain and one PROXY protocol listener; returns (server, plain, proxied).
fn start_both(engine: EngineChoice) -> (peregrine::HttpServer, SocketAddr, SocketAddr) {
    let mut options = ServerOptions::with_urls(["http://127.0.0.1:0"]).workers(1);
    options.proxy_protocol_urls = vec!["http://127.0.0.1:0".into()];
    options.limits.request_headers_timeout = Duration::from_secs(1);
    let (server, plain) = start_with(engine, Peer, options);
    let addrs = server.features().addresses().to_vec();
    assert_eq!(addrs.len(), 2, "both listeners are reported: {addrs:?}");
    assert_eq!(addrs[0], plain);
    (server, plain, addrs[1])
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";

fn v2_header_tcp6() -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.push(0x21); // version 2, PROXY
    h.push(0x21); // AF_INET6, STREAM
    h.extend_from_slice(&36u16.to_be_bytes());
    h.extend_from_slice(
        &"2001:db8::7"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    h.extend_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets(),
    );
    h.extend_from_slice(&4711u16.to_be_bytes());
    h.extend_from_slice(&443u16.to_be_bytes());
    h
}

fn the_header_address_becomes_the_connection_address(engine: EngineChoice) {
    let (mut server, _, proxied) = start_both(engine);
    // v1, in one write with the request.
    let mut request = b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 80\r\n".to_vec();
    request.extend_from_slice(GET);
    let r = roundtrip(proxied, &request);
    assert_eq!(
        r.text(),
        "remote=Some(203.0.113.7:51234) local=Some(10.0.0.1:80)"
    );
    // v2 over IPv6, the header trickled in three writes, then two requests on the connection.
    let mut s = connect(proxied);
    let header = v2_header_tcp6();
    for part in [&header[..5], &header[5..20], &header[20..]] {
        s.write_all(part).unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    s.write_all(GET).unwrap();
    s.write_all(GET).unwrap();
    let mut r = BufReader::new(s);
    for _ in 0..2 {
        assert_eq!(
            read_response(&mut r, false).unwrap().text(),
            "remote=Some([2001:db8::7]:4711) local=Some([2001:db8::1]:443)"
        );
    }
    server.stop(Duration::from_secs(1));
}

fn a_local_header_keeps_the_socket_addresses(engine: EngineChoice) {
    let (mut server, _, proxied) = start_both(engine);
    let mut request = b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00".to_vec(); // v2 LOCAL, no address
    request.extend_from_slice(GET);
    let text = roundtrip(proxied, &request).text();
    assert!(text.starts_with("remote=Some(127.0.0.1:"), "{text}");
    server.stop(Duration::from_secs(1));
}

fn malformed_or_missing_headers_close_the_connection_unanswered(engine: EngineChoice) {
    let (mut server, plain, proxied) = start_both(engine);
    let metrics = server
        .features()
        .get::<Arc<ServerMetrics>>()
        .unwrap()
        .clone();
    // No header at all: an HTTP request where a PROXY header must come first.
    let mut s = connect(proxied);
    s.write_all(GET).unwrap();
    assert!(
        is_closed(&mut s),
        "a request without the header is not served"
    );
    // A malformed v1 header (port out of range).
    let mut s = connect(proxied);
    s.write_all(b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\n")
        .unwrap();
    s.write_all(GET).unwrap();
    assert!(is_closed(&mut s));
    // Nothing at all: closed after the request headers timeout (1 s, judged by a 1 s beat).
    let began = Instant::now();
    let mut s = connect(proxied);
    assert!(is_closed(&mut s));
    let waited = began.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(metrics.snapshot().proxy_header_errors, 3);
    // The plain listener does not read PROXY headers: to it, that line is a bad request.
    let r = roundtrip(
        plain,
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 80\r\nGET / HTTP/1.1\r\n\r\n",
    );
    assert_eq!(r.status, 400);
    assert!(get(plain, "/").text().starts_with("remote=Some(127.0.0.1:"));
    server.stop(Duration::from_secs(1));
}

engine_tests!(
    the_header_address_becomes_the_connection_address,
    a_local_header_keeps_the_socket_addresses,
    malformed_or_missing_headers_close_the_connection_unanswered,
);
