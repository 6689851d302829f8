//! Allocations per HTTP/2 request, counted on the worker thread (the counting allocator of
//! tests/zero_alloc.rs), on one h2c connection (prior knowledge) after a warm-up: GET one at a
//! time, GETs 100 in flight, and POSTs with a small body. See docs/http2.md, "Allocations".
//!
//! The client is a few lines of raw frames (HPACK literals, no Huffman, no dynamic table), so
//! that nothing but the server runs on the counted thread and the requests are exactly these.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use peregrine::{AppResult, EngineChoice, Handler, HttpContext, Server};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: delegates to the system allocator; the counter is a const-initialised thread-local
// Cell, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

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

const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// A minimal h2c client: one connection, requests as HPACK literals.
struct Client {
    s: TcpStream,
    next_id: u32,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: std::net::SocketAddr) -> Client {
        let mut s = connect(addr);
        let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        // SETTINGS_INITIAL_WINDOW_SIZE = 2^31 - 1, and the connection window to the same: the
        // client never runs out of receive window.
        frame(&mut out, 0x4, 0, 0, &[0, 4, 0x7f, 0xff, 0xff, 0xff]);
        frame(
            &mut out,
            0x8,
            0,
            0,
            &(0x7fff_ffffu32 - 65_535).to_be_bytes(),
        );
        s.write_all(&out).unwrap();
        Client {
            s,
            next_id: 1,
            buf: Vec::new(),
        }
    }

    /// Appends a request's frames to `out`; returns its stream id.
    fn request(&mut self, out: &mut Vec<u8>, path: &str, body: Option<&[u8]>) -> u32 {
        let id = self.next_id;
        self.next_id += 2;
        // :method GET (static 2) or POST (static 3), :scheme http (static 6), then :path
        // (name 4) and :authority (name 1) as literals without indexing.
        let mut block = vec![if body.is_some() { 0x83 } else { 0x82 }, 0x86];
        block.extend_from_slice(&[0x04, path.len() as u8]);
        block.extend_from_slice(path.as_bytes());
        block.extend_from_slice(&[0x01, 1, b't']);
        let flags = END_HEADERS | if body.is_none() { END_STREAM } else { 0 };
        frame(out, 0x1, flags, id, &block);
        if let Some(body) = body {
            frame(out, 0x0, END_STREAM, id, body);
        }
        id
    }

    /// Reads frames until `n` responses have ended; returns the DATA of stream `keep`.
    fn responses(&mut self, mut n: usize, keep: u32) -> Vec<u8> {
        let mut kept = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        while n > 0 {
            while self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() < 9 + len {
                    break;
                }
                let (kind, flags) = (self.buf[3], self.buf[4]);
                let stream = u32::from_be_bytes(self.buf[5..9].try_into().unwrap()) & 0x7fff_ffff;
                let payload = self.buf[9..9 + len].to_vec();
                self.buf.drain(..9 + len);
                match kind {
                    0x0 | 0x1 => {
                        if kind == 0x0 && stream == keep {
                            kept.extend_from_slice(&payload);
                        }
                        if kind == 0x1 {
                            assert_eq!(payload[0], 0x88, "stream {stream}: not a :status 200");
                        }
                        if flags & END_STREAM != 0 {
                            n -= 1;
                        }
                    }
                    0x3 => panic!("stream {stream} reset: {payload:?}"),
                    0x4 if flags & 0x1 == 0 => {
                        let mut ack = Vec::new();
                        frame(&mut ack, 0x4, 0x1, 0, &[]);
                        self.s.write_all(&ack).unwrap();
                    }
                    0x6 if flags & 0x1 == 0 => {
                        let mut ack = Vec::new();
                        frame(&mut ack, 0x6, 0x1, 0, &payload);
                        self.s.write_all(&ack).unwrap();
                    }
                    0x7 => panic!("GOAWAY: {payload:?}"),
                    _ => {}
                }
            }
            if n == 0 {
                break;
            }
            let got = self.s.read(&mut chunk).unwrap();
            assert!(got > 0, "the server closed the connection");
            self.buf.extend_from_slice(&chunk[..got]);
        }
        kept
    }

    fn allocations(&mut self) -> u64 {
        let mut out = Vec::new();
        let id = self.request(&mut out, "/allocations", None);
        self.s.write_all(&out).unwrap();
        let body = self.responses(1, id);
        String::from_utf8(body).unwrap().parse().unwrap()
    }

    /// `batches` writes of `per_batch` requests each, every response read before the next.
    fn run(&mut self, batches: usize, per_batch: usize, path: &str, body: Option<&[u8]>) {
        let mut out = Vec::new();
        for _ in 0..batches {
            out.clear();
            for _ in 0..per_batch {
                self.request(&mut out, path, body);
            }
            self.s.write_all(&out).unwrap();
            self.responses(per_batch, 0);
        }
    }
}

/// Allocations on the worker per request: GETs one at a time, GETs 100 in flight, POSTs of 5
/// body bytes one at a time; each after a warm-up of the same traffic.
fn per_request(engine: EngineChoice) -> [f64; 3] {
    let (mut server, addr) = start(engine, App, 1);
    let mut c = Client::connect(addr);
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
        (after - before) as f64 / (batches * per_batch + 1) as f64
    };
    let single = measure(&mut c, 2000, 1, None);
    let concurrent = measure(&mut c, 40, 100, None);
    let post = measure(&mut c, 2000, 1, Some(b"hello"));
    server.stop(Duration::from_secs(1));
    eprintln!(
        "{engine:?}: allocations per HTTP/2 request: {single:.3} GET one at a time, \
         {concurrent:.3} GET 100 in flight, {post:.3} POST with a 5-byte body"
    );
    [single, concurrent, post]
}

fn http2_request_allocations_are_pinned(engine: EngineChoice) {
    let [single, concurrent, post] = per_request(engine);
    // What is left, once per stream whatever the traffic: the box of the stream's task
    // (`Box::pin(task)` in src/connection/h2/mod.rs, `handle_event`), a future of the
    // application's type that the worker's executor holds as `Pin<Box<dyn Future>>`. The
    // header list, response headers, body buffers, DATA buffers and the slot's body queue are
    // pooled per connection; the response fields are encoded from an iterator. Before the pools
    // it was 12 per GET and 14 per POST.
    let expected = [1.0, 1.0, 1.0];
    for (what, got, want) in [
        ("GET one at a time", single, expected[0]),
        ("GET 100 in flight", concurrent, expected[1]),
        ("POST with a small body", post, expected[2]),
    ] {
        assert!(
            (got - want).abs() < 0.05,
            "{what}: {got:.3} allocations per request, pinned at {want} (docs/http2.md, \
             \"Allocations\")"
        );
    }
}

engine_tests!(http2_request_allocations_are_pinned);
