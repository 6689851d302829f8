//! Steady-state plaintext serving allocates nothing: a counting allocator records allocations
//! per thread, and a route reports the count of the worker thread it runs on.

mod common;

use std::cell::Cell;
use std::io::{BufReader, Write};
use std::time::Duration;

use common::alloc::{Counting, ALLOCATIONS};
use common::*;
use peregrine::{AppResult, EngineChoice, Handler, HttpContext, Server};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// `/plaintext` as the demo serves it, and `/allocations`: this worker thread's count.
struct App;

impl Handler for App {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        if http.request().path() == "/allocations" {
            let n = ALLOCATIONS.with(Cell::get);
            http.write(itoa::Buffer::new().format(n).as_bytes());
        } else {
            http.set_header("content-type", "text/plain")?;
            http.write(b"Hello, World!");
        }
        Ok(())
    }
}

fn allocations(w: &mut impl Write, r: &mut BufReader<std::net::TcpStream>) -> u64 {
    w.write_all(b"GET /allocations HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    read_response(r, false).unwrap().text().parse().unwrap()
}

fn steady_state_plaintext_allocates_nothing(engine: EngineChoice) {
    let (mut server, addr) = start(engine, App, 1);
    let s = connect(addr);
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let request = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";
    let pipelined = request.repeat(16);
    let round = |w: &mut std::net::TcpStream, r: &mut BufReader<std::net::TcpStream>| {
        for _ in 0..2000 {
            w.write_all(request).unwrap();
            assert_eq!(read_response(r, false).unwrap().status, 200);
        }
        for _ in 0..200 {
            w.write_all(&pipelined).unwrap();
            for _ in 0..16 {
                assert_eq!(read_response(r, false).unwrap().status, 200);
            }
        }
    };
    round(&mut w, &mut r); // warm-up: pools and buffers reach their working size
    let before = allocations(&mut w, &mut r);
    round(&mut w, &mut r);
    let after = allocations(&mut w, &mut r);
    assert_eq!(
        after - before,
        0,
        "allocations on the worker across 5,200 keep-alive and pipelined requests"
    );
    // And a second connection reuses the pooled connection object.
    drop((w, r));
    let s = connect(addr);
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    std::thread::sleep(Duration::from_millis(50));
    let before = allocations(&mut w, &mut r);
    round(&mut w, &mut r);
    assert_eq!(allocations(&mut w, &mut r) - before, 0);
    server.stop(Duration::from_secs(1));
}

engine_tests!(steady_state_plaintext_allocates_nothing);
