//! What operators rely on, on both engines: metrics that count what happened, a readiness
//! probe that turns to 503 when a drain begins, and workers that come back after they die.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use peregrine::demo::DemoApp;
use peregrine::http::HttpContext;
use peregrine::metrics::{AdminApp, ServerMetrics, TimeoutKind};
use peregrine::proto::h1::RejectReason;
use peregrine::{AppResult, Application, EngineChoice, Server};

fn metrics_of(server: &impl Server) -> Arc<ServerMetrics> {
    server
        .features()
        .get::<Arc<ServerMetrics>>()
        .expect("a started server exposes its metrics")
        .clone()
}

fn metrics_count_requests_bytes_and_rejections(engine: EngineChoice) {
    let (mut server, addr) = start(engine, DemoApp, 1);
    let metrics = metrics_of(&server);
    for _ in 0..3 {
        assert_eq!(get(addr, "/plaintext").status, 200);
    }
    let bad = roundtrip(addr, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    assert_eq!(bad.status, 400);
    // The counters are written by the worker after the response is encoded; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    let snap = loop {
        let snap = metrics.snapshot();
        if snap.connections_closed >= 4 || Instant::now() > deadline {
            break snap;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(snap.requests, 4, "{snap:?}");
    assert_eq!(snap.connections_accepted, 4, "{snap:?}");
    assert_eq!(snap.connections_active(), 0, "{snap:?}");
    assert_eq!(snap.rejections_of(RejectReason::MultipleHost), 1);
    assert!(snap.bytes_received > 4 * 30, "{snap:?}");
    assert!(snap.bytes_sent > 3 * 100, "{snap:?}");
    assert_eq!(snap.timeouts_of(TimeoutKind::RequestHeaders), 0);
    let mut text = String::new();
    metrics.render_prometheus(&mut text);
    assert!(
        text.contains("peregrine_requests_total{worker=\"0\"} 4"),
        "{text}"
    );
    assert!(
        text.contains(
            "peregrine_rejections_total{worker=\"0\",reason=\"multiple_host\",status=\"400\"} 1"
        ),
        "{text}"
    );
    server.stop(Duration::from_secs(1));
}

fn the_admin_app_serves_metrics_and_a_readiness_probe_that_fails_while_draining(
    engine: EngineChoice,
) {
    let (mut server, addr) = start(engine, DemoApp, 1);
    let metrics = metrics_of(&server);
    let (mut admin, admin_addr) = start(engine, AdminApp::new(metrics.clone()), 1);
    assert_eq!(get(addr, "/plaintext").status, 200);

    let healthz = get(admin_addr, "/healthz");
    assert_eq!((healthz.status, healthz.text().as_str()), (200, "ready\n"));
    let scrape = get(admin_addr, "/metrics");
    assert_eq!(scrape.status, 200);
    assert!(
        scrape
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{scrape:?}"
    );
    assert!(
        scrape
            .text()
            .contains("# TYPE peregrine_requests_total counter"),
        "{}",
        scrape.text()
    );
    assert_eq!(get(admin_addr, "/nope").status, 404);

    server.stop(Duration::from_secs(1));
    let healthz = get(admin_addr, "/healthz");
    assert_eq!(
        (healthz.status, healthz.text().as_str()),
        (503, "draining\n")
    );
    admin.stop(Duration::from_secs(1));
}

/// Serves the demo, except that `/die` panics in `create_context`, outside the request's
/// panic guard, which kills the worker thread's loop.
struct Fragile;

impl Application for Fragile {
    type Context = ();

    fn create_context(&self, _: &mut (), http: &mut HttpContext<'_>) {
        if http.request().path() == "/die" {
            panic!("a context hook failed (deliberately, to test supervision)");
        }
    }

    async fn process_request(&self, _: &mut (), http: &mut HttpContext<'_>) -> AppResult {
        http.write(b"alive");
        Ok(())
    }
}

fn a_worker_that_dies_is_restarted_on_its_listener(engine: EngineChoice) {
    let (mut server, addr) = start(engine, Fragile, 1);
    let metrics = metrics_of(&server);
    assert_eq!(get(addr, "/").text(), "alive");
    // The request that kills the worker gets no response: its connection closes.
    let mut s = connect(addr);
    std::io::Write::write_all(&mut s, b"GET /die HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    assert!(is_closed(&mut s), "the dying worker's connection closes");
    // The one worker is back: a new connection (queued while it restarts) is served.
    assert_eq!(get(addr, "/").text(), "alive");
    assert_eq!(metrics.snapshot().restarts, 1);
    let report = server.stop(Duration::from_secs(1));
    assert_eq!(report.workers_restarted, 1, "{report}");
}

engine_tests!(
    metrics_count_requests_bytes_and_rejections,
    the_admin_app_serves_metrics_and_a_readiness_probe_that_fails_while_draining,
    a_worker_that_dies_is_restarted_on_its_listener,
);
