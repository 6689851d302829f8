//! Hostile and broken clients against the real engine: slowloris, slow uploads, clients that
//! never read, resets, floods, idle hordes. Timeouts are shortened through `Limits`; the
//! heartbeat judges them once a second, so each test allows a few seconds and no more.

mod common;

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use peregrine::demo::DemoApp;
use peregrine::http::MaxRequestBodySize;
use peregrine::{
    AppResult, EngineChoice, Handler, HttpContext, Limits, MinDataRate, Server, ServerOptions,
};

fn options(limits: Limits) -> ServerOptions {
    let mut o = ServerOptions::with_urls(["http://127.0.0.1:0"]).workers(1);
    o.limits = limits;
    o
}

fn fast_rate() -> Option<MinDataRate> {
    Some(MinDataRate {
        bytes_per_second: 10_000.0,
        grace_period: Duration::from_secs(1),
    })
}

/// Serves the demo routes plus `/big` (64 MiB streamed), `/eight` (8 MiB streamed), `/upload` (body limit raised to
/// 100 MB for this request only, then reads and counts the body) and `/stall` (waits 2 s, then
/// reads and counts the body).
struct App;

impl Handler for App {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        match http.request().path() {
            "/big" => {
                let chunk = [b'x'; 64 * 1024];
                for _ in 0..1024 {
                    http.write_all(&chunk).await?;
                }
                Ok(())
            }
            "/eight" => {
                let chunk = [b'q'; 64 * 1024];
                for _ in 0..128 {
                    http.write_all(&chunk).await?;
                }
                Ok(())
            }
            "/stall" => {
                // Busy elsewhere for a while before it reads its body.
                peregrine::rt::sleep(Duration::from_secs(2)).await;
                let mut buf = [0u8; 8192];
                let mut total = 0;
                while let n @ 1.. = http.read_body(&mut buf).await? {
                    total += n;
                }
                http.write(total.to_string().as_bytes());
                Ok(())
            }
            "/upload" => {
                http.features_mut()
                    .get_mut::<MaxRequestBodySize>()
                    .expect("the engine provides the body-size feature")
                    .set(Some(100_000_000))?;
                let mut buf = [0u8; 8192];
                let mut total = 0;
                loop {
                    let n = http.read_body(&mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    total += n;
                }
                http.write(total.to_string().as_bytes());
                Ok(())
            }
            _ => DemoApp.handle(http).await,
        }
    }
}

fn slowloris_gets_408_and_the_connection_closes(engine: EngineChoice) {
    let limits = Limits {
        request_headers_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let (mut server, addr) = start_with(engine, App, options(limits));
    let mut s = connect(addr);
    let began = Instant::now();
    let head = b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Slow: ";
    // One byte every 100 ms: the head never completes, and more bytes do not extend the clock.
    let mut sent = 0;
    while began.elapsed() < Duration::from_secs(6) {
        if s.write_all(&[head[sent % head.len()]]).is_err() {
            break;
        }
        sent += 1;
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut peek = [0u8; 1];
        if let Ok(n) = s.peek(&mut peek) {
            if n > 0 {
                break;
            }
        }
    }
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).expect("a 408 response");
    assert_eq!(resp.status, 408);
    assert!(is_closed(&mut r));
    let took = began.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(
        get(addr, "/plaintext").status,
        200,
        "the next connection is served"
    );
    let report = server.stop(Duration::from_secs(1));
    assert_eq!(report.requests_rejected, 1, "{report}");
    assert_eq!(report.connections_timed_out, 1, "{report}");
}

fn a_slow_upload_gets_408(engine: EngineChoice) {
    let limits = Limits {
        min_request_body_data_rate: fast_rate(),
        ..Limits::default()
    };
    let (mut server, addr) = start_with(engine, App, options(limits));
    let mut s = connect(addr);
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    let began = Instant::now();
    let mut w = s.try_clone().unwrap();
    let trickle = thread::spawn(move || {
        for _ in 0..60 {
            if w.write_all(b"0123456789").is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).expect("a 408 response");
    assert_eq!(resp.status, 408);
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    trickle.join().unwrap();
    server.stop(Duration::from_secs(1));
}

fn a_client_that_never_reads_is_dropped(engine: EngineChoice) {
    // A send of 64 KiB may take 1 s + 64 KiB / 100 KB/s (+ up to a second of heartbeat).
    let limits = Limits {
        min_response_data_rate: Some(MinDataRate {
            bytes_per_second: 100_000.0,
            grace_period: Duration::from_secs(1),
        }),
        ..Limits::default()
    };
    let (mut server, addr) = start_with(engine, App, options(limits));
    let mut s = connect(addr);
    s.write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // Read nothing for a while: the socket buffers fill and the send stalls.
    thread::sleep(Duration::from_secs(4));
    // The server gave up: draining what it had sent ends in end-of-stream or a reset, well
    // short of the 64 MiB body.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut received = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => received += n,
        }
    }
    assert!(received < 32 << 20, "received {received} bytes");
    assert_eq!(get(addr, "/plaintext").status, 200, "the worker is healthy");
    let report = server.stop(Duration::from_secs(1));
    assert!(report.connections_timed_out >= 1, "{report}");
}

fn a_slow_reader_above_the_minimum_rate_gets_the_whole_response(engine: EngineChoice) {
    let limits = Limits {
        min_response_data_rate: fast_rate(), // 10,000 B/s after 1 s
        ..Limits::default()
    };
    let (mut server, addr) = start_with(engine, App, options(limits));
    let mut s = connect(addr);
    socket2::SockRef::from(&s)
        .set_recv_buffer_size(16 * 1024)
        .unwrap();
    s.write_all(b"GET /eight HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    // About 2 MB/s, far above the minimum, but slower than the server writes: once the kernel's
    // buffers are full, sends wait on the client for seconds in all, well past the grace
    // period. Only a send that stalls past its own allowance may count against the client.
    let began = Instant::now();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("cut off after {} bytes: {e}", got.len()),
        }
        thread::sleep(Duration::from_millis(30));
    }
    assert!(
        began.elapsed() > Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    let body = got.iter().filter(|&&b| b == b'q').count();
    assert_eq!(body, 8 << 20, "the whole body arrived");
    let report = server.stop(Duration::from_secs(1));
    assert_eq!(report.connections_timed_out, 0, "{report}");
}

fn idle_keep_alive_connections_are_closed_after_the_timeout(engine: EngineChoice) {
    let limits = Limits {
        keep_alive_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let (mut server, addr) = start_with(engine, App, options(limits));
    let mut s = connect(addr);
    s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s);
    assert_eq!(read_response(&mut r, false).unwrap().status, 200);
    let began = Instant::now();
    assert!(is_closed(&mut r));
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    server.stop(Duration::from_secs(1));
}

fn connections_over_the_limit_are_refused(engine: EngineChoice) {
    let limits = Limits {
        max_concurrent_connections: Some(4),
        ..Limits::default()
    };
    let (mut server, addr) = start_with(engine, App, options(limits));
    let held: Vec<_> = (0..4)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            assert_eq!(read_response(&mut r, false).unwrap().status, 200);
            s
        })
        .collect();
    let mut extra = connect(addr);
    let _ = extra.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n");
    assert!(
        is_closed(&mut extra),
        "the fifth connection is closed unanswered"
    );
    drop(held);
    thread::sleep(Duration::from_millis(200));
    assert_eq!(
        get(addr, "/plaintext").status,
        200,
        "room again once others leave"
    );
    let report = server.stop(Duration::from_secs(1));
    assert_eq!(report.connections_refused, 1, "{report}");
}

fn the_body_limit_is_413_unless_the_handler_raises_it(engine: EngineChoice) {
    let limits = Limits {
        max_request_body_size: Some(1000),
        ..Limits::default()
    };
    let (mut server, addr) = start_with(engine, App, options(limits));
    let body = vec![b'a'; 5000];
    let mut req = b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n".to_vec();
    req.extend_from_slice(&body);
    let resp = roundtrip(addr, &req);
    assert_eq!(resp.status, 413);
    let mut chunked =
        b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..5 {
        chunked.extend_from_slice(b"3e8\r\n");
        chunked.extend_from_slice(&body[..1000]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(
        roundtrip(addr, &chunked).status,
        413,
        "chunked bodies are counted too"
    );
    let mut up = b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n".to_vec();
    up.extend_from_slice(&body);
    let resp = roundtrip(addr, &up);
    assert_eq!((resp.status, resp.text().as_str()), (200, "5000"));
    server.stop(Duration::from_secs(1));
}

fn half_closed_clients_still_get_their_response(engine: EngineChoice) {
    let (mut server, addr) = start(engine, App, 1);
    let mut s = connect(addr);
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!(resp.text(), "hello");
    assert!(is_closed(&mut r));
    server.stop(Duration::from_secs(1));
}

fn resets_in_the_middle_of_a_large_response_do_not_hurt(engine: EngineChoice) {
    let (mut server, addr) = start(engine, App, 1);
    for _ in 0..20 {
        let mut s = connect(addr);
        s.write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        // SO_LINGER 0: close sends a reset.
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s);
    }
    assert_eq!(get(addr, "/plaintext").status, 200);
    let report = server.stop(Duration::from_secs(2));
    assert!(report.is_graceful(), "{report}");
}

fn a_flood_of_tiny_pipelined_requests_is_answered_in_order(engine: EngineChoice) {
    let (mut server, addr) = start(engine, App, 1);
    let s = connect(addr);
    let mut w = s.try_clone().unwrap();
    const N: usize = 50_000;
    let writer = thread::spawn(move || {
        let mut batch = Vec::new();
        for i in 0..N {
            let path = if i % 2 == 0 { "/plaintext" } else { "/json" };
            batch.extend_from_slice(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
        }
        w.write_all(&batch).unwrap();
    });
    let mut r = BufReader::new(s);
    for i in 0..N {
        let resp = read_response(&mut r, false).unwrap();
        let want = if i % 2 == 0 { 13 } else { 27 };
        assert_eq!(resp.body.len(), want, "response {i} out of order");
    }
    writer.join().unwrap();
    server.stop(Duration::from_secs(1));
}

/// Resident memory of a process, in KiB.
/// A handler that does not read while its client keeps sending must not take the receive
/// buffers the worker's other connections share (on io_uring, the provided-buffer ring: here
/// shrunk to 8 buffers of 512 bytes, which one unbounded receive would drain in a moment).
fn a_busy_handler_with_a_sending_client_does_not_starve_other_connections(engine: EngineChoice) {
    let mut o = options(Limits::default());
    o.recv_buffer_count = 8;
    o.recv_buffer_size = 512;
    let (mut server, addr) = start_with(engine, App, o);
    let began = Instant::now();
    let mut stalled = connect(addr);
    let body = vec![b'b'; 200_000];
    let sender = {
        let mut s = stalled.try_clone().unwrap();
        let body = body.clone();
        thread::spawn(move || {
            s.write_all(b"POST /stall HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n")
                .unwrap();
            // The body comes once the handler is busy: nobody reads it for a while.
            thread::sleep(Duration::from_millis(100));
            s.write_all(&body).unwrap();
        })
    };
    thread::sleep(Duration::from_millis(300));
    // Another connection is served while the first handler sleeps and its client sends.
    let mut other = BufReader::new(connect(addr));
    for _ in 0..20 {
        other
            .get_mut()
            .write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let resp = read_response(&mut other, false).unwrap();
        assert_eq!(resp.status, 200);
    }
    let served_after = began.elapsed();
    assert!(
        served_after < Duration::from_millis(1500),
        "the other connection waited for the stalled handler: {served_after:?}"
    );
    // And the stalled request loses nothing.
    sender.join().unwrap();
    let resp = read_response(&mut BufReader::new(&mut stalled), false).unwrap();
    assert_eq!(resp.text(), "200000");
    server.stop(Duration::from_secs(1));
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn ten_thousand_idle_connections(engine: EngineChoice) {
    // The server runs as its own process so each side has its own descriptor table.
    let limit = raise_fd_limit();
    assert!(limit >= 10_500, "need 10,500 descriptors, have {limit}");
    let (mut child, addr, _out) = spawn_server(
        std::process::Command::new(env!("CARGO_BIN_EXE_peregrine")).args([
            "--urls",
            "http://127.0.0.1:0",
            "--workers",
            "1",
            "--engine",
            engine.as_str(),
        ]),
    );
    // Warm up: the first requests size the pools.
    assert_eq!(get(addr, "/plaintext").status, 200);
    let before = rss_kib(child.id());
    let began = Instant::now();
    let idle: Vec<TcpStream> = (0..10_000)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    // Every connection is accepted (a request behind them all is answered).
    assert_eq!(
        get(addr, "/plaintext").status,
        200,
        "served beside 10,000 idle connections"
    );
    thread::sleep(Duration::from_millis(300));
    let per_connection = (rss_kib(child.id()).saturating_sub(before) * 1024) / 10_000;
    let took = began.elapsed();
    drop(idle);
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    println!("resident memory per idle connection: {per_connection} bytes");
    assert!(
        per_connection < 8 * 1024,
        "{per_connection} bytes per idle connection"
    );
}

engine_tests!(
    slowloris_gets_408_and_the_connection_closes,
    a_slow_upload_gets_408,
    a_client_that_never_reads_is_dropped,
    a_slow_reader_above_the_minimum_rate_gets_the_whole_response,
    idle_keep_alive_connections_are_closed_after_the_timeout,
    connections_over_the_limit_are_refused,
    the_body_limit_is_413_unless_the_handler_raises_it,
    half_closed_clients_still_get_their_response,
    resets_in_the_middle_of_a_large_response_do_not_hurt,
    a_flood_of_tiny_pipelined_requests_is_answered_in_order,
    a_busy_handler_with_a_sending_client_does_not_starve_other_connections,
    ten_thousand_idle_connections,
);
