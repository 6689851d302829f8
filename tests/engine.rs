//! Integration tests of both engines (each test runs once per engine, see `engine_tests!`):
//! real sockets on 127.0.0.1, raw HTTP bytes.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use peregrine::demo::DemoApp;
use peregrine::{
    AppResult, EngineChoice, EngineInfo, Handler, HttpContext, HttpServer, Server, ServerOptions,
    StartError,
};

fn serves_the_demo_routes(engine: EngineChoice) {
    let (mut server, addr) = start(engine, DemoApp, 1);
    let r = get(addr, "/plaintext");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "Hello, World!");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("content-length"), Some("13"));
    assert_eq!(r.header("server"), Some("peregrine"));
    assert_eq!(r.header("date").map(str::len), Some(29));

    let r = get(addr, "/json");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, r#"{"message":"Hello, World!"}"#)
    );
    assert_eq!(r.header("content-type"), Some("application/json"));

    assert!(get(addr, "/").text().contains("peregrine"));
    assert_eq!(get(addr, "/nope").status, 404);

    let r = roundtrip(addr, b"DELETE /json HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!((r.status, r.header("allow")), (405, Some("GET, HEAD")));

    let r = roundtrip(addr, b"HEAD /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length"),
        Some("13"),
        "HEAD reports the GET length"
    );
    assert!(r.body.is_empty());
    server.stop(Duration::from_secs(1));
}

fn server_addresses_report_the_bound_port_and_workers_listen_on_it(engine: EngineChoice) {
    let mut server = HttpServer::new(
        ServerOptions::with_urls(["http://127.0.0.1:0", "http://[::1]:0"])
            .workers(2)
            .engine(engine),
    );
    server.start(DemoApp).unwrap();
    let addrs = server.features().addresses().to_vec();
    assert_eq!(addrs.len(), 2);
    for a in &addrs {
        assert_ne!(a.port(), 0, "port 0 is replaced by the real port");
        assert_eq!(get(*a, "/plaintext").status, 200);
    }
    let info = server.features().get::<EngineInfo>().unwrap();
    let name = match engine {
        EngineChoice::Portable => "portable",
        _ => "io_uring",
    };
    assert_eq!((info.name(), info.workers), (name, 2));
    assert_eq!(
        info.ring.is_some(),
        name == "io_uring",
        "ring flags only on io_uring"
    );
    assert_eq!(
        info.fallback_reason, None,
        "an engine asked for is not a fallback"
    );
    server.stop(Duration::from_secs(1));
}

fn keep_alive_serves_many_requests_on_one_connection(engine: EngineChoice) {
    let (mut server, addr) = start(engine, DemoApp, 1);
    let s = connect(addr);
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    for i in 0..1000 {
        let path = if i % 2 == 0 { "/plaintext" } else { "/json" };
        write!(w, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("connection"), None);
    }
    server.stop(Duration::from_secs(1));
}

fn pipelined_requests_are_answered_in_order(engine: EngineChoice) {
    let (mut server, addr) = start(engine, DemoApp, 1);
    let s = connect(addr);
    let mut w = s.try_clone().unwrap();
    let mut batch = Vec::new();
    for i in 0..100 {
        let body = format!("request {i}");
        batch.extend_from_slice(
            format!(
                "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
    }
    w.write_all(&batch).unwrap();
    let mut r = BufReader::new(s);
    for i in 0..100 {
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.text(), format!("request {i}"));
    }
    server.stop(Duration::from_secs(1));
}

fn http10_closes_unless_keep_alive(engine: EngineChoice) {
    let (mut server, addr) = start(engine, DemoApp, 1);
    let mut s = connect(addr);
    s.write_all(b"GET /plaintext HTTP/1.0\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!((resp.status, resp.text().as_str()), (200, "Hello, World!"));
    assert!(is_closed(&mut r));

    let mut s = connect(addr);
    s.write_all(b"GET /plaintext HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.header("connection"), Some("keep-alive"));
    s.write_all(b"GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    server.stop(Duration::from_secs(1));
}

fn connection_close_is_honoured(engine: EngineChoice) {
    let (mut server, addr) = start(engine, DemoApp, 1);
    let mut s = connect(addr);
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /json HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(
        is_closed(&mut r),
        "nothing is served after Connection: close"
    );
    server.stop(Duration::from_secs(1));
}

fn chunked_upload_is_streamed_to_the_handler(engine: EngineChoice) {
    let (mut server, addr) = start(engine, DemoApp, 1);
    let mut s = connect(addr);
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Type: text/x-test\r\n\r\n5;ext=1\r\nhello\r\n").unwrap();
    thread::sleep(Duration::from_millis(50));
    s.write_all(b"7\r\n, world\r\n0\r\nTrailer: x\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.text(), "hello, world");
    assert_eq!(
        resp.header("content-length"),
        Some("12"),
        "a body written whole before the handler returns gets a Content-Length"
    );
    assert_eq!(resp.header("content-type"), Some("text/x-test"));
    // The connection is still usable.
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    server.stop(Duration::from_secs(1));
}

fn expect_100_continue_gets_an_interim_response(engine: EngineChoice) {
    let (mut server, addr) = start(engine, DemoApp, 1);
    let mut s = connect(addr);
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let interim = read_response(&mut r, false).unwrap();
    assert_eq!(interim.status, 100);
    s.write_all(b"ping").unwrap();
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!((resp.status, resp.text().as_str()), (200, "ping"));
    server.stop(Duration::from_secs(1));
}

fn echoes_8_mib(engine: EngineChoice) {
    let (mut server, addr) = start(engine, DemoApp, 1);
    let body: Vec<u8> = (0..8 * 1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let s = connect(addr);
    let mut w = s.try_clone().unwrap();
    let sent = body.clone();
    let writer = thread::spawn(move || {
        write!(
            w,
            "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
            sent.len()
        )
        .unwrap();
        w.write_all(&sent).unwrap();
    });
    let resp = read_response(&mut BufReader::new(s), false).unwrap();
    writer.join().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body.len(), body.len());
    assert!(resp.body == body, "echoed bytes differ");
    server.stop(Duration::from_secs(1));
}

fn a_thousand_concurrent_connections(engine: EngineChoice) {
    let limit = raise_fd_limit();
    assert!(limit >= 2200, "need 2200 file descriptors, have {limit}");
    let (mut server, addr) = start(engine, DemoApp, 2);
    let conns: Vec<_> = (0..1000).map(|_| connect(addr)).collect();
    for mut c in &conns {
        c.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
    }
    for c in &conns {
        let resp = read_response(&mut BufReader::new(c), false).unwrap();
        assert_eq!(resp.text(), "Hello, World!");
    }
    drop(conns);
    server.stop(Duration::from_secs(2));
}

fn malformed_request_gets_400_and_close(engine: EngineChoice) {
    let (mut server, addr) = start(engine, DemoApp, 1);
    for bad in [
        &b"GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\n\r\n",
        b"GARBAGE\r\n\r\n",
        b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let mut s = connect(addr);
        s.write_all(bad).unwrap();
        let mut r = BufReader::new(s);
        let resp = read_response(&mut r, false).unwrap();
        assert_eq!(resp.status, 400, "{}", String::from_utf8_lossy(bad));
        assert!(is_closed(&mut r), "{}", String::from_utf8_lossy(bad));
    }
    let r = roundtrip(addr, b"GET / HTTP/2.0\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 505);
    // Still healthy.
    assert_eq!(get(addr, "/plaintext").status, 200);
    server.stop(Duration::from_secs(1));
}

/// A handler that misbehaves on purpose.
struct Faulty;

impl Handler for Faulty {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        match http.request().path() {
            "/panic" => panic!("handler panic (expected by the test)"),
            "/error" => Err("application error".into()),
            "/slow" => {
                peregrine::rt::sleep(Duration::from_millis(300)).await;
                http.write(b"slow done");
                Ok(())
            }
            "/stuck" => {
                peregrine::rt::sleep(Duration::from_secs(30)).await;
                Ok(())
            }
            "/blocking" => {
                let v = peregrine::rt::spawn_blocking(|| {
                    thread::sleep(Duration::from_millis(20));
                    6 * 7
                })
                .await;
                http.write(v.to_string().as_bytes());
                Ok(())
            }
            "/id" => {
                let id = http.trace_identifier().unwrap_or("none").to_owned();
                let peer = http.connection().and_then(|c| c.remote_addr).is_some();
                http.write(format!("{id} {peer}").as_bytes());
                Ok(())
            }
            "/stream" => {
                for i in 0..3 {
                    http.write(format!("part{i};").as_bytes());
                    http.flush().await?;
                }
                Ok(())
            }
            _ => {
                http.write(b"ok");
                Ok(())
            }
        }
    }
}

fn a_panicking_handler_costs_one_request(engine: EngineChoice) {
    let (mut server, addr) = start(engine, Faulty, 1);
    let mut s = connect(addr);
    s.write_all(b"GET /panic HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(read_response(&mut r, false).unwrap().status, 500);
    assert!(is_closed(&mut r), "a panic closes the connection");
    let resp = get(addr, "/error");
    assert_eq!(resp.status, 500);
    assert_eq!(get(addr, "/ok").text(), "ok", "the worker survives");
    server.stop(Duration::from_secs(1));
}

fn request_identifiers_and_connection_features(engine: EngineChoice) {
    let (mut server, addr) = start(engine, Faulty, 1);
    let s = connect(addr);
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut ids = Vec::new();
    for _ in 0..2 {
        w.write_all(b"GET /id HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
        ids.push(read_response(&mut r, false).unwrap().text());
    }
    let (conn0, rest0) = ids[0].split_once(':').unwrap();
    let (conn1, rest1) = ids[1].split_once(':').unwrap();
    assert_eq!(conn0, conn1, "same connection id on one connection");
    assert!(conn0.bytes().all(|b| b.is_ascii_hexdigit()), "{ids:?}");
    assert_eq!(
        (rest0, rest1),
        ("00000001 true", "00000002 true"),
        "{ids:?}"
    );
    server.stop(Duration::from_secs(1));
}

fn timers_blocking_work_and_streaming(engine: EngineChoice) {
    let (mut server, addr) = start(engine, Faulty, 1);
    assert_eq!(get(addr, "/slow").text(), "slow done");
    assert_eq!(get(addr, "/blocking").text(), "42");
    let r = get(addr, "/stream");
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "part0;part1;part2;");
    server.stop(Duration::from_secs(1));
}

fn graceful_stop_finishes_in_flight_requests(engine: EngineChoice) {
    let (mut server, addr) = start(engine, Faulty, 1);
    let idle = connect(addr);
    let mut busy = connect(addr);
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    thread::sleep(Duration::from_millis(50));
    let began = Instant::now();
    let report = server.stop(Duration::from_secs(5));
    let resp = read_response(&mut BufReader::new(&busy), false).unwrap();
    assert_eq!((resp.status, resp.text().as_str()), (200, "slow done"));
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(
        is_closed(&mut &idle),
        "idle keep-alive connections are closed"
    );
    assert!(report.is_graceful(), "{report}");
    assert_eq!(report.connections_at_stop, 2, "{report}");
    assert_eq!(report.connections_drained, 2, "{report}");
    assert!(began.elapsed() < Duration::from_secs(3), "{report}");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the listener is closed after stop"
    );
}

fn stop_deadline_aborts_what_is_left(engine: EngineChoice) {
    let (mut server, addr) = start(engine, Faulty, 1);
    let mut stuck = connect(addr);
    stuck
        .write_all(b"GET /stuck HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    thread::sleep(Duration::from_millis(50));
    let began = Instant::now();
    let report = server.stop(Duration::from_millis(200));
    assert!(began.elapsed() < Duration::from_secs(2));
    assert_eq!(report.connections_aborted, 1, "{report}");
    assert!(is_closed(&mut stuck));
}

fn address_in_use_is_a_bind_error(engine: EngineChoice) {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut server = HttpServer::new(
        ServerOptions::with_urls([format!("http://127.0.0.1:{port}")]).engine(engine),
    );
    match server.start(DemoApp) {
        Err(StartError::Bind { addr, source }) => {
            assert_eq!(addr.port(), port);
            assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
        }
        other => panic!("expected a bind error, got {other:?}"),
    }
}

fn many_clients_in_parallel_on_two_workers(engine: EngineChoice) {
    let (mut server, addr) = start(engine, DemoApp, 2);
    let ok = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let ok = ok.clone();
            thread::spawn(move || {
                let s = connect(addr);
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                for _ in 0..500 {
                    w.write_all(b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n")
                        .unwrap();
                    if read_response(&mut r, false).unwrap().status == 200 {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(ok.load(Ordering::Relaxed), 4000);
    let report = server.stop(Duration::from_secs(1));
    assert_eq!(report.requests_served, 4000, "{report}");
}

fn a_client_that_vanishes_mid_request_does_not_hurt(engine: EngineChoice) {
    let (mut server, addr) = start(engine, DemoApp, 1);
    for _ in 0..50 {
        let mut s = connect(addr);
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\npartial")
            .unwrap();
        drop(s);
        let mut s = connect(addr);
        s.write_all(b"GET /plaint").unwrap();
        drop(s);
    }
    let mut buf = Vec::new();
    let mut s = connect(addr);
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    s.read_to_end(&mut buf).unwrap();
    assert!(buf.ends_with(b"Hello, World!"));
    server.stop(Duration::from_secs(1));
}

/// Upgrades `/echo-protocol` requests and echoes the upgraded stream line by line; answers 503
/// when the server refuses the upgrade.
struct Upgrader;

impl Handler for Upgrader {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        if !http.is_upgradable_request() {
            http.set_status(426)?;
            return Ok(());
        }
        http.set_header("upgrade", "echo")?;
        let mut stream = match http.upgrade().await {
            Ok(s) => s,
            Err(_) => {
                http.set_status(503)?;
                return Ok(());
            }
        };
        let mut buf = [0u8; 256];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            stream.write_all(&buf[..n]).await?;
        }
    }
}

const UPGRADE: &[u8] =
    b"GET /echo-protocol HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, Upgrade\r\nUpgrade: echo\r\n\r\n";

fn upgraded_connections_are_byte_streams(engine: EngineChoice) {
    let (mut server, addr) = start(engine, Upgrader, 1);
    let mut s = connect(addr);
    // The first upgraded bytes ride in the same packet as the head.
    let mut first = UPGRADE.to_vec();
    first.extend_from_slice(b"early ");
    s.write_all(&first).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.status, 101);
    assert_eq!(resp.header("upgrade"), Some("echo"));
    assert_eq!(resp.header("connection"), Some("upgrade"));
    s.write_all(b"ping").unwrap();
    let mut got = [0u8; 10];
    r.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"early ping");
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(
        is_closed(&mut r),
        "the connection ends with the application"
    );
    assert_eq!(get(addr, "/plain").status, 426, "not an upgrade request");
    server.stop(Duration::from_secs(1));
}

fn the_upgraded_connection_limit_is_enforced(engine: EngineChoice) {
    let mut options = ServerOptions::with_urls(["http://127.0.0.1:0"]).workers(1);
    options.limits.max_concurrent_upgraded_connections = Some(1);
    let (mut server, addr) = start_with(engine, Upgrader, options);
    let mut first = connect(addr);
    first.write_all(UPGRADE).unwrap();
    let mut r1 = BufReader::new(first.try_clone().unwrap());
    assert_eq!(read_response(&mut r1, false).unwrap().status, 101);
    assert_eq!(
        roundtrip(addr, UPGRADE).status,
        503,
        "a second upgrade is refused"
    );
    drop((first, r1));
    thread::sleep(Duration::from_millis(200));
    let mut again = connect(addr);
    again.write_all(UPGRADE).unwrap();
    let mut r = BufReader::new(again);
    assert_eq!(
        read_response(&mut r, false).unwrap().status,
        101,
        "room again"
    );
    server.stop(Duration::from_secs(1));
}

engine_tests!(
    serves_the_demo_routes,
    server_addresses_report_the_bound_port_and_workers_listen_on_it,
    keep_alive_serves_many_requests_on_one_connection,
    pipelined_requests_are_answered_in_order,
    http10_closes_unless_keep_alive,
    connection_close_is_honoured,
    chunked_upload_is_streamed_to_the_handler,
    expect_100_continue_gets_an_interim_response,
    echoes_8_mib,
    a_thousand_concurrent_connections,
    malformed_request_gets_400_and_close,
    a_panicking_handler_costs_one_request,
    request_identifiers_and_connection_features,
    timers_blocking_work_and_streaming,
    graceful_stop_finishes_in_flight_requests,
    stop_deadline_aborts_what_is_left,
    address_in_use_is_a_bind_error,
    many_clients_in_parallel_on_two_workers,
    a_client_that_vanishes_mid_request_does_not_hurt,
    upgraded_connections_are_byte_streams,
    the_upgraded_connection_limit_is_enforced,
);
