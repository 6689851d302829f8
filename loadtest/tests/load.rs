//! End-to-end runs of the library against a test server started by each test.

mod common;

use std::time::Duration;

use common::{closed_port, config, Reply, Server};
use peregrine_load::{run, Outcome};

fn go(c: &peregrine_load::Config) -> Outcome {
    run(c, |_| {}).expect("run")
}

/// The client counts a response once it has arrived within the window; the server counts it
/// once written. They may differ only by what was in flight when the run ended.
fn assert_counts_match(outcome: &Outcome, answered: u64, in_flight: u64) {
    let client = outcome.summary.requests + outcome.summary.errors.status_total();
    assert!(
        client <= answered && answered <= client + in_flight,
        "client counted {client}, server answered {answered}, in flight at most {in_flight}"
    );
}

#[test]
fn closed_loop_counts_match_server() {
    let server = Server::start(|_, _| Reply::ok());
    let mut c = config(&[server.url("/")], 4, 400);
    c.threads = 2;
    let out = go(&c);
    let s = &out.summary;
    assert!(s.requests > 100, "only {} requests", s.requests);
    assert_eq!(s.errors_total, 0, "{:?}", s.errors);
    assert_eq!(s.latency_us.count, s.requests);
    assert!(s.latency_us.p50 > 0 && s.latency_us.max >= s.latency_us.p99);
    assert!(s.bytes_read > s.requests * 13);
    assert_eq!(s.mode, "closed-loop");
    assert!(s.uncorrected_latency_us.is_none());
    assert_counts_match(&out, server.answered_settled(), 4);
}

#[test]
fn pipelined_chunked_responses() {
    let server = Server::start(|_, _| Reply {
        chunked: true,
        ..Reply::ok()
    });
    let mut c = config(&[server.url("/chunked")], 2, 400);
    c.pipeline = 8;
    let out = go(&c);
    assert!(out.summary.requests > 100);
    assert_eq!(out.summary.errors_total, 0, "{:?}", out.summary.errors);
    assert_counts_match(&out, server.answered_settled(), 2 * 8);
}

#[test]
fn connection_close_reconnects_without_errors() {
    let server = Server::start(|_, _| Reply {
        close: true,
        ..Reply::ok()
    });
    let out = go(&config(&[server.url("/")], 2, 400));
    let s = &out.summary;
    assert!(s.requests > 20, "only {} requests", s.requests);
    assert_eq!(s.errors_total, 0, "{:?}", s.errors);
    assert_eq!(s.reconnects, s.requests);
    assert_counts_match(&out, server.answered_settled(), 2);
}

#[test]
fn connect_errors_against_a_closed_port() {
    let url = format!("http://127.0.0.1:{}/", closed_port());
    let out = go(&config(&[url], 2, 300));
    let s = &out.summary;
    assert_eq!(s.requests, 0);
    assert_eq!(s.requests_per_sec, 0.0);
    assert!(s.errors.connect >= 2, "{:?}", s.errors);
    assert_eq!(s.errors_total, s.errors.connect);
}

#[test]
fn non_2xx_statuses_are_errors_by_code() {
    let server = Server::start(|n, _| {
        if n % 2 == 0 {
            Reply::status(503)
        } else {
            Reply::status(if n % 3 == 0 { 302 } else { 200 })
        }
    });
    let out = go(&config(&[server.url("/")], 2, 400));
    let s = &out.summary;
    let failed = s.errors.status[&503];
    assert!(
        failed > 20 && s.requests > 20,
        "{failed} 503s, {} ok",
        s.requests
    );
    assert_eq!(
        s.errors.status.len(),
        1,
        "302 is a success: {:?}",
        s.errors.status
    );
    assert_eq!(s.errors_total, failed);
    // Successes and failures alternate: the rate counts only the successes.
    assert!(s.requests.abs_diff(failed) <= 2);
    assert_eq!(s.latency_us.count, s.requests);
    assert_counts_match(&out, server.answered_settled(), 2);
}

#[test]
fn stalling_server_times_out() {
    let server = Server::start(|_, _| Reply {
        stall: true,
        ..Reply::ok()
    });
    let mut c = config(&[server.url("/")], 2, 500);
    c.timeout = Duration::from_millis(100);
    let out = go(&c);
    let s = &out.summary;
    assert_eq!(s.requests, 0);
    // Each connection times out about every 100 ms, then reconnects and stalls again.
    assert!(s.errors.timeout >= 4, "{:?}", s.errors);
    assert_eq!(s.errors_total, s.errors.timeout);
}

#[test]
fn head_responses_have_no_body() {
    let server = Server::start(|_, req| {
        assert_eq!(req.method, "HEAD");
        Reply::ok()
    });
    let mut c = config(&[server.url("/")], 2, 300);
    c.method = "HEAD".to_string();
    c.pipeline = 4;
    c.timeout = Duration::from_millis(200);
    let out = go(&c);
    assert!(out.summary.requests > 50);
    assert_eq!(out.summary.errors_total, 0, "{:?}", out.summary.errors);
}

#[test]
fn body_and_headers_are_sent() {
    let server = Server::start(|_, req| {
        if req.method == "POST" && req.body == b"hello body" {
            Reply::ok()
        } else {
            Reply::status(400)
        }
    });
    let mut c = config(&[server.url("/submit")], 2, 300);
    c.method = "POST".to_string();
    c.body = Some(b"hello body".to_vec());
    c.headers = vec![("X-Test".to_string(), "1".to_string())];
    let out = go(&c);
    assert!(out.summary.requests > 50);
    assert_eq!(out.summary.errors_total, 0, "{:?}", out.summary.errors);
}

#[test]
fn urls_are_used_round_robin() {
    let server = Server::start(|_, _| Reply::ok());
    let other = Server::start(|_, _| Reply::ok());
    let urls = [server.url("/a"), server.url("/b"), other.url("/c")];
    let out = go(&config(&urls, 4, 300));
    assert_eq!(out.summary.errors_total, 0);
    server.answered_settled();
    let paths = server.paths.lock().unwrap();
    let (a, b) = (paths["/a"], paths["/b"]);
    assert!(a > 20 && a.abs_diff(b) <= 4, "/a {a}, /b {b}");
    assert!(other.paths.lock().unwrap()["/c"] > 20);
}

#[test]
fn open_loop_holds_the_rate() {
    let server = Server::start(|_, _| Reply::ok());
    let mut c = config(&[server.url("/")], 4, 1000);
    c.threads = 2;
    c.rate = Some(2000.0);
    let out = go(&c);
    let s = &out.summary;
    assert_eq!(s.mode, "open-loop");
    assert_eq!(s.errors_total, 0, "{:?}", s.errors);
    assert!(
        (1800..=2010).contains(&s.requests),
        "{} requests at 2000/s for 1 s",
        s.requests
    );
    assert!(s.uncorrected_latency_us.is_some());
}

/// A 300 ms stall at 1000 requests/s: the corrected p99 shows it, the uncorrected one does
/// not (only the one request in flight waited).
#[test]
fn open_loop_corrects_for_a_stall() {
    let server = Server::start(|n, _| Reply {
        delay: if n == 200 {
            Duration::from_millis(300)
        } else {
            Duration::ZERO
        },
        ..Reply::ok()
    });
    let mut c = config(&[server.url("/")], 1, 1000);
    c.rate = Some(1000.0);
    let out = go(&c);
    let s = &out.summary;
    assert_eq!(s.errors_total, 0, "{:?}", s.errors);
    assert!(s.requests >= 900, "{} requests", s.requests);
    let corrected = s.latency_us;
    let uncorrected = s.uncorrected_latency_us.unwrap();
    assert!(
        corrected.p99 >= 150_000,
        "corrected p99 {} µs",
        corrected.p99
    );
    assert!(
        uncorrected.p99 < 100_000,
        "uncorrected p99 {} µs",
        uncorrected.p99
    );
    assert!(
        uncorrected.max >= 290_000,
        "uncorrected max {} µs",
        uncorrected.max
    );
    let unc_hist = out.stats.latency.uncorrected.as_ref().unwrap();
    assert!(unc_hist.count_between(100_000, 1_000_000) <= 2);
}

#[test]
fn warmup_is_not_counted() {
    let server = Server::start(|_, _| Reply::ok());
    let mut c = config(&[server.url("/")], 2, 200);
    c.warmup = Duration::from_millis(300);
    let out = go(&c);
    let answered = server.answered_settled();
    assert!(out.summary.requests > 10);
    // Roughly 60 % of what the server answered came during the warmup.
    assert!(
        out.summary.requests < answered * 3 / 4,
        "{} counted of {answered} answered",
        out.summary.requests
    );
}
