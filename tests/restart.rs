//! Zero-downtime restart on one port: a second process binds the same port (`SO_REUSEPORT`),
//! the first is told to stop, and clients that open new connections all along see no failure.
//! On both engines, with HTTP/1.1 clients and with HTTP/2 clients that keep their connections
//! open across the restart.
//!
//! The stopping process takes what is queued on its listeners and closes them at once; a
//! connection the kernel queues on one in the instant between is reset unless
//! `net.ipv4.tcp_migrate_req=1` moves it to the other process's listener (docs/deploy.md). The
//! test enables that setting (as root), or fails saying it is needed.

mod common;
mod h2c;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::spawn_server;
use peregrine::EngineChoice;

/// Kills the child if the test fails before it stops it.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(engine: EngineChoice, port: u16) -> Guard {
    let (child, addr, out) = spawn_server(
        Command::new(env!("CARGO_BIN_EXE_peregrine"))
            .args(["--engine", engine.as_str(), "--workers", "2"])
            .args(["--urls", &format!("http://127.0.0.1:{port}")])
            .stderr(Stdio::null()),
    );
    assert_eq!(addr.port(), port);
    // Keep reading its output so it never blocks on a full pipe.
    thread::spawn(move || std::io::copy(&mut { out }, &mut std::io::sink()));
    Guard(child)
}

/// One request on a new connection; whether a 200 came back.
fn one_request(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut response = Vec::new();
    let _ = s.read_to_end(&mut response);
    response.starts_with(b"HTTP/1.1 200 ")
}

/// Makes sure `net.ipv4.tcp_migrate_req` is 1, setting it where allowed.
fn require_request_migration() {
    const PATH: &str = "/proc/sys/net/ipv4/tcp_migrate_req";
    let on = || std::fs::read_to_string(PATH).is_ok_and(|v| v.trim() == "1");
    if !on() {
        let _ = std::fs::write(PATH, "1");
    }
    assert!(
        on(),
        "zero-downtime restarts need net.ipv4.tcp_migrate_req=1 (Linux 5.14+); run \
         `sysctl -w net.ipv4.tcp_migrate_req=1` as root (.ci/run does), see docs/deploy.md"
    );
}

fn a_restart_on_the_same_port_fails_no_request(engine: EngineChoice) {
    require_request_migration();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut old = start(engine, port);

    let running = Arc::new(AtomicBool::new(true));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (running, ok, failed) = (running.clone(), ok.clone(), failed.clone());
            thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(20);
                while running.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let counter = if one_request(addr) { &ok } else { &failed };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    thread::sleep(Duration::from_millis(500));
    let mut new = start(engine, port);
    thread::sleep(Duration::from_millis(300));
    let before_stop = ok.load(Ordering::Relaxed);
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(old.0.id() as i32, libc::SIGTERM) };
    let status = old.0.wait().unwrap();
    assert!(
        status.success(),
        "the old process drains and exits 0: {status:?}"
    );
    thread::sleep(Duration::from_millis(700));
    running.store(false, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!("{ok} requests succeeded, {failed} failed");
    assert_eq!(failed, 0, "{failed} of {} requests failed", ok + failed);
    assert!(
        ok > before_stop + 50,
        "the new process served after the old stopped"
    );
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(new.0.id() as i32, libc::SIGTERM) };
    assert!(new.0.wait().unwrap().success());
}

/// What an HTTP/2 client saw.
#[derive(Default)]
struct H2Counts {
    ok: AtomicU64,
    failed: AtomicU64,
    /// GOAWAY(NO_ERROR) frames received on open connections.
    goaways: AtomicU64,
    /// Requests sent again on a new connection because a GOAWAY said they were not processed
    /// (stream id above its last stream id: RFC 9113 6.8 allows the retry).
    retried: AtomicU64,
}

/// An HTTP/2 client: GET /plaintext one at a time on one long-lived h2c connection, a new one
/// when the server sends GOAWAY or closes; a request the GOAWAY says was not processed is sent
/// again on the new connection, any other loss is a failure.
fn h2_client(addr: SocketAddr, running: &AtomicBool, counts: &H2Counts) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut retry = false;
    while running.load(Ordering::Relaxed) && Instant::now() < deadline {
        let Ok(mut c) = h2c::Client::connect(addr) else {
            counts.failed.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let mut last_id = u32::MAX;
        let mut out = Vec::new();
        'connection: while (retry || running.load(Ordering::Relaxed)) && Instant::now() < deadline {
            out.clear();
            let id = c.request(&mut out, false, "/plaintext", true);
            if id > last_id {
                break; // after a GOAWAY, no new stream on this connection
            }
            if c.send(&out).is_err() {
                // The server closed: sent anyway when the GOAWAY was read (below).
                retry = true;
                break;
            }
            let mut status_ok = false;
            loop {
                match c.read_frame() {
                    Ok(f) if f.kind == h2c::GOAWAY => {
                        let (last, code) = f.goaway();
                        assert_eq!(code, 0, "a graceful GOAWAY is NO_ERROR");
                        counts.goaways.fetch_add(1, Ordering::Relaxed);
                        last_id = last;
                        if id > last {
                            // Not processed: retried on a new connection.
                            counts.retried.fetch_add(1, Ordering::Relaxed);
                            retry = true;
                            break 'connection;
                        }
                    }
                    Ok(f) if f.stream == id && f.kind == h2c::HEADERS => status_ok = f.is_200(),
                    Ok(f) if f.stream == id && f.kind == h2c::RST_STREAM => {
                        eprintln!("stream {id} reset: {:?}", f.payload);
                        counts.failed.fetch_add(1, Ordering::Relaxed);
                        retry = false;
                        break 'connection;
                    }
                    Ok(f) if f.stream == id && f.flags & h2c::END_STREAM != 0 => {
                        let counter = if status_ok {
                            &counts.ok
                        } else {
                            &counts.failed
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        retry = false;
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("stream {id} lost: {e} (last id {last_id})");
                        // Closed or timed out with the stream unanswered, and no GOAWAY told
                        // us it was not processed.
                        counts.failed.fetch_add(1, Ordering::Relaxed);
                        retry = false;
                        break 'connection;
                    }
                }
            }
        }
    }
}

/// HTTP/2 clients hold h2c connections open across the restart: each gets GOAWAY(NO_ERROR)
/// with the last stream id from the old process, its streams in flight finish (one of them a
/// POST whose body is sent only after the GOAWAY), and new connections reach the new process;
/// a client that retries what GOAWAY says was not processed loses nothing.
fn http2_clients_get_goaway_and_lose_nothing(engine: EngineChoice) {
    require_request_migration();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut old = start(engine, port);

    let running = Arc::new(AtomicBool::new(true));
    let counts = Arc::new(H2Counts::default());
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (running, counts) = (running.clone(), counts.clone());
            thread::spawn(move || h2_client(addr, &running, &counts))
        })
        .collect();

    // A stream in flight on the old process: a POST whose body waits. A PING after its HEADERS
    // comes back once the server has read them, so the stream is open before the stop.
    let mut inflight = h2c::Client::connect(addr).unwrap();
    let mut out = Vec::new();
    let post = inflight.request(&mut out, true, "/echo", false);
    h2c::frame(&mut out, h2c::PING, 0, 0, b"inflight");
    inflight.send(&out).unwrap();
    while !matches!(inflight.read_frame(), Ok(f) if f.kind == h2c::PING && f.flags & h2c::ACK != 0)
    {
    }

    thread::sleep(Duration::from_millis(500));
    let mut new = start(engine, port);
    thread::sleep(Duration::from_millis(300));
    let before_stop = counts.ok.load(Ordering::Relaxed);
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(old.0.id() as i32, libc::SIGTERM) };

    // The in-flight connection gets GOAWAY(NO_ERROR) naming the POST as processed; its body,
    // sent now, is still read, and the response comes back.
    let goaway = loop {
        let f = inflight
            .read_frame()
            .expect("GOAWAY before the connection closes");
        assert_ne!(f.stream, post, "nothing on the POST before its body");
        if f.kind == h2c::GOAWAY {
            break f.goaway();
        }
    };
    assert_eq!(
        goaway,
        (post, 0),
        "GOAWAY(NO_ERROR) with the POST as the last stream id"
    );
    out.clear();
    h2c::frame(&mut out, h2c::DATA, h2c::END_STREAM, post, b"still served");
    inflight.send(&out).unwrap();
    let (mut status_ok, mut body) = (false, Vec::new());
    loop {
        let f = inflight.read_frame().expect("the POST's response");
        if f.stream != post {
            continue;
        }
        assert_ne!(f.kind, h2c::RST_STREAM, "the POST in flight was reset");
        if f.kind == h2c::HEADERS {
            status_ok = f.is_200();
        } else if f.kind == h2c::DATA {
            body.extend_from_slice(&f.payload);
        }
        if f.flags & h2c::END_STREAM != 0 {
            break;
        }
    }
    assert!(status_ok, "the POST in flight was answered 200");
    assert_eq!(body, b"still served");
    // Then the old process closes the connection.
    assert!(
        inflight.read_frame().is_err(),
        "closed after its last stream"
    );

    let status = old.0.wait().unwrap();
    assert!(
        status.success(),
        "the old process drains and exits 0: {status:?}"
    );
    thread::sleep(Duration::from_millis(700));
    running.store(false, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let ok = counts.ok.load(Ordering::Relaxed);
    let failed = counts.failed.load(Ordering::Relaxed);
    let goaways = counts.goaways.load(Ordering::Relaxed);
    let retried = counts.retried.load(Ordering::Relaxed);
    println!(
        "HTTP/2: {ok} requests succeeded, {failed} failed, {goaways} GOAWAY, {retried} retried"
    );
    assert_eq!(failed, 0, "{failed} of {} requests failed", ok + failed);
    assert!(goaways >= 1, "the clients' open connections got GOAWAY");
    assert!(
        ok > before_stop + 50,
        "the new process served after the old stopped"
    );
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(new.0.id() as i32, libc::SIGTERM) };
    assert!(new.0.wait().unwrap().success());
}

engine_tests!(
    a_restart_on_the_same_port_fails_no_request,
    http2_clients_get_goaway_and_lose_nothing
);
