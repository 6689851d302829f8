//! The host-filtering middleware over real sockets: allowed hosts reach the application, others
//! get `400` without it being called.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use peregrine::middleware::{ForwardedHeaderSet, ForwardedHeaders, ForwardedHeadersOptions};
use peregrine::middleware::{HostFiltering, HostFilteringOptions};
use peregrine::EngineChoice;
use peregrine::{AppResult, Handler, HttpContext, Server};

/// Counts the requests it sees.
struct Counter(Arc<AtomicUsize>);

impl Handler for Counter {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        self.0.fetch_add(1, Ordering::SeqCst);
        http.write(b"ok");
        Ok(())
    }
}

fn get_host(addr: std::net::SocketAddr, host: &str) -> Response {
    roundtrip(
        addr,
        format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes(),
    )
}

fn allowed_hosts_pass_and_others_get_400(engine: EngineChoice) {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = HostFiltering::new(
        Counter(calls.clone()),
        ["example.com", "*.example.net", "[::1]"],
    )
    .unwrap();
    let (mut server, addr) = start(engine, app, 1);
    for ok in [
        "example.com",
        "EXAMPLE.COM:8080",
        "a.example.net",
        "[::1]:80",
    ] {
        let r = get_host(addr, ok);
        assert_eq!((r.status, r.text().as_str()), (200, "ok"), "{ok}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    for bad in [
        "evil.com",
        "example.net",
        "example.com.evil.com",
        "127.0.0.1",
    ] {
        let r = get_host(addr, bad);
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.text(), "400 Bad Request: invalid host name\n");
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "rejected requests reach the app"
    );
    // HTTP/1.0 without Host is allowed by default.
    let r = roundtrip(addr, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 200);
    server.stop(Duration::from_secs(5));
}

fn missing_host_can_be_refused(engine: EngineChoice) {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut options = HostFilteringOptions::new(["example.com"]);
    options.allow_empty_hosts = false;
    options.include_failure_message = false;
    let app = HostFiltering::with_options(Counter(calls.clone()), options).unwrap();
    let (mut server, addr) = start(engine, app, 1);
    let r = roundtrip(addr, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(r.status, 400);
    assert!(r.body.is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    server.stop(Duration::from_secs(5));
}

fn forwarded_hosts_are_filtered(engine: EngineChoice) {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = HostFiltering::new(Counter(calls.clone()), ["example.com"]).unwrap();
    let options = ForwardedHeadersOptions {
        headers: ForwardedHeaderSet::X_FORWARDED_ALL,
        ..Default::default()
    };
    let (mut server, addr) = start(engine, ForwardedHeaders::new(app, options), 1);
    let send = |xfh: &str| {
        roundtrip(
            addr,
            format!("GET / HTTP/1.1\r\nHost: backend\r\nX-Forwarded-Host: {xfh}\r\n\r\n")
                .as_bytes(),
        )
    };
    assert_eq!(send("example.com").status, 200);
    assert_eq!(send("evil.com").status, 400);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    server.stop(Duration::from_secs(5));
}

engine_tests!(
    allowed_hosts_pass_and_others_get_400,
    missing_host_can_be_refused,
    forwarded_hosts_are_filtered,
);
