//! Zero-downtime restart on one port: a second process binds the same port (`SO_REUSEPORT`),
//! the first is told to stop, and clients that open new connections all along see no failure.
//! On both engines.
//!
//! The stopping process takes what is queued on its listeners and closes them at once; a
//! connection the kernel queues on one in the instant between is reset unless
//! `net.ipv4.tcp_migrate_req=1` moves it to the other process's listener (docs/deploy.md). The
//! test enables that setting (as root), or fails saying it is needed.

mod common;

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

engine_tests!(a_restart_on_the_same_port_fails_no_request);
