//! Allocations per HTTP/2 request, counted on the worker thread (the counting allocator of
//! tests/zero_alloc.rs), on one h2c connection (prior knowledge) after a warm-up: GET one at a
//! time, GETs 100 in flight, and POSTs with a small body: none. See docs/http2.md,
//! "Allocations".
//!
//! The client (tests/h2c/) writes raw frames (HPACK literals, no Huffman, no dynamic table),
//! so the requests are exactly these.

mod common;
mod h2c;

use std::cell::Cell;
use std::time::Duration;

use common::alloc::{Counting, ALLOCATIONS};
use common::*;
use peregrine::{AppResult, EngineChoice, Handler, HttpContext, Server};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// `/plaintext` as the demo serves it, a POST route that reads its body into a stack buffer
/// and answers its length, and `/allocations`: this worker thread's count.
struct App;

impl Handler for App {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        match http.request().path() {
            "/allocations" => {
                let n = ALLOCATIONS.with(Cell::get);
                http.write(itoa::Buffer::new().format(n).as_bytes());
            }
            "/echo" => {
                let mut buf = [0u8; 256];
                let mut total = 0;
                loop {
                    let n = http.read_body(&mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    total += n;
                }
                http.write(itoa::Buffer::new().format(total).as_bytes());
            }
            _ => {
                http.set_header("content-type", "text/plain")?;
                http.write(b"Hello, World!");
            }
        }
        Ok(())
    }
}

/// Sends requests on an h2c connection and reads their responses.
struct Client(h2c::Client);

impl Client {
    /// Reads frames until `n` responses have ended (each a 200); returns the DATA of stream
    /// `keep`.
    fn responses(&mut self, mut n: usize, keep: u32) -> Vec<u8> {
        let mut kept = Vec::new();
        while n > 0 {
            let f = self.0.read_frame().expect("a frame");
            match f.kind {
                h2c::DATA | h2c::HEADERS => {
                    if f.kind == h2c::DATA && f.stream == keep {
                        kept.extend_from_slice(&f.payload);
                    }
                    if f.kind == h2c::HEADERS {
                        assert!(f.is_200(), "stream {}: not a :status 200", f.stream);
                    }
                    if f.flags & h2c::END_STREAM != 0 {
                        n -= 1;
                    }
                }
                h2c::RST_STREAM => panic!("stream {} reset: {:?}", f.stream, f.payload),
                h2c::GOAWAY => panic!("GOAWAY: {:?}", f.payload),
                _ => {}
            }
        }
        kept
    }

    fn allocations(&mut self) -> u64 {
        let mut out = Vec::new();
        let id = self.0.request(&mut out, false, "/allocations", true);
        self.0.send(&out).unwrap();
        let body = self.responses(1, id);
        String::from_utf8(body).unwrap().parse().unwrap()
    }

    /// `batches` writes of `per_batch` requests each (with `body` as one DATA frame, POST),
    /// every response read before the next write.
    fn run(&mut self, batches: usize, per_batch: usize, path: &str, body: Option<&[u8]>) {
        let mut out = Vec::new();
        for _ in 0..batches {
            out.clear();
            for _ in 0..per_batch {
                let id = self
                    .0
                    .request(&mut out, body.is_some(), path, body.is_none());
                if let Some(body) = body {
                    h2c::frame(&mut out, h2c::DATA, h2c::END_STREAM, id, body);
                }
            }
            self.0.send(&out).unwrap();
            self.responses(per_batch, 0);
        }
    }
}

/// Allocations on the worker (and requests counted) for GETs one at a time, GETs 100 in
/// flight, POSTs of 5 body bytes one at a time; each after a warm-up of the same traffic.
fn counts(engine: EngineChoice) -> [(u64, usize); 3] {
    let (mut server, addr) = start(engine, App, 1);
    let mut c = Client(h2c::Client::connect(addr).unwrap());
    let measure = |c: &mut Client, batches: usize, per_batch: usize, body: Option<&[u8]>| {
        let path = if body.is_some() {
            "/echo"
        } else {
            "/plaintext"
        };
        c.run(batches / 2, per_batch, path, body); // warm-up
        let before = c.allocations();
        c.run(batches, per_batch, path, body);
        let after = c.allocations();
        // The `/allocations` request is itself one GET.
        (after - before, batches * per_batch + 1)
    };
    let single = measure(&mut c, 2000, 1, None);
    let concurrent = measure(&mut c, 40, 100, None);
    let post = measure(&mut c, 2000, 1, Some(b"hello"));
    server.stop(Duration::from_secs(1));
    let per = |(n, requests): (u64, usize)| n as f64 / requests as f64;
    eprintln!(
        "{engine:?}: allocations per HTTP/2 request: {:.3} GET one at a time, {:.3} GET 100 in \
         flight, {:.3} POST with a 5-byte body",
        per(single),
        per(concurrent),
        per(post)
    );
    [single, concurrent, post]
}

fn steady_state_http2_allocates_nothing(engine: EngineChoice) {
    // None: the header list, response headers, body buffers, DATA buffers and the slot's body
    // queue are pooled per connection, the response fields are encoded from an iterator, and
    // stream tasks wait for the connection's next request instead of ending (runners). Before
    // that it was 12 per GET and 14 per POST (docs/http2.md, "Allocations"). A single new
    // allocation anywhere on these paths fails this.
    let [single, concurrent, post] = counts(engine);
    for (what, (n, requests)) in [
        ("GET one at a time", single),
        ("GET 100 in flight", concurrent),
        ("POST with a small body", post),
    ] {
        assert_eq!(
            n, 0,
            "{what}: {n} allocations on the worker across {requests} HTTP/2 requests \
             (docs/http2.md, \"Allocations\")"
        );
    }
}

engine_tests!(steady_state_http2_allocates_nothing);
