//! Allocations per echoed WebSocket message, counted on the worker thread (the counting
//! allocator of tests/common/alloc.rs), on one socket after a warm-up: 64 B text and 16 KiB
//! binary, plain and with permessage-deflate (context taken over both ways, as browsers do;
//! the 64 B echo is under the default compression threshold, the 16 KiB one is compressed).
//! An echo that gives each message back with `WebSocket::recycle` allocates nothing; one that
//! drops its messages allocates one buffer per message (an inflated one now and then two). See docs/websockets.md,
//! "Allocations".

#[path = "websocket/client.rs"]
mod client;
mod common;

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::Duration;

use client::Client;
use common::alloc::{Counting, ALLOCATIONS};
use common::*;
use peregrine::websocket::{Message, WebSocketOptions};
use peregrine::{AppResult, EngineChoice, Handler, HttpContext, Server};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// An echo at `/ws` (recycling each message, as the demo does) and `/ws-drop` (dropping each
/// message); the text message `count` is answered with this worker thread's allocation count.
struct App;

impl Handler for App {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        let recycle = http.request().path() == "/ws";
        let options = WebSocketOptions::new().permessage_deflate(true);
        let Ok(mut ws) = http.accept_websocket(&options).await else {
            return Ok(());
        };
        loop {
            let message = ws.receive().await;
            let sent = match &message {
                Message::Text(t) if t == "count" => {
                    let n = ALLOCATIONS.with(Cell::get);
                    ws.send_text(itoa::Buffer::new().format(n)).await
                }
                Message::Text(t) => ws.send_text(t).await,
                Message::Binary(b) => ws.send_binary(b).await,
                Message::Close(_) => return Ok(()),
                _ => Ok(()),
            };
            if recycle {
                ws.recycle(message);
            }
            if sent.is_err() {
                return Ok(());
            }
        }
    }
}

/// Sends a message (compressed when `deflate`; text when `text`) and reads its echo.
fn echo(c: &mut Client, deflate: bool, text: bool, payload: &[u8]) {
    let b0 = if text { 0x81 } else { 0x82 };
    let frame = if deflate {
        let z = c.compress(payload);
        client::raw(b0 | 0x40, &z)
    } else {
        client::raw(b0, payload)
    };
    c.send(&frame);
    let f = c.read_frame().expect("the echo");
    assert_eq!(f.payload, payload, "the echo");
}

/// The worker's allocation count so far (the `count` message).
fn count(c: &mut Client, deflate: bool) -> u64 {
    let frame = if deflate {
        let z = c.compress(b"count");
        client::raw(0xc1, &z)
    } else {
        client::text("count")
    };
    c.send(&frame);
    let f = c.read_frame().expect("the count");
    String::from_utf8(f.payload).unwrap().parse().unwrap()
}

/// Allocations on the worker across `n` echoes of `payload` (after `n / 2` of warm-up), and
/// the messages they span (the `count` request is one more).
fn measure(addr: SocketAddr, path: &str, deflate: bool, text: bool, payload: &[u8]) -> (u64, u64) {
    const N: usize = 400;
    let mut c = Client::connect(addr, path, deflate);
    for _ in 0..N / 2 {
        echo(&mut c, deflate, text, payload);
    }
    let before = count(&mut c, deflate);
    for _ in 0..N {
        echo(&mut c, deflate, text, payload);
    }
    let after = count(&mut c, deflate);
    (after - before, N as u64 + 1)
}

fn echoes_allocate_nothing_when_recycled(engine: EngineChoice) {
    let (mut server, addr) = start(engine, App, 1);
    let small: Vec<u8> = (0..64).map(|i| b'a' + (i % 26) as u8).collect();
    let large: Vec<u8> = (0..16384u32)
        .map(|i| b"peregrine echo "[i as usize % 15])
        .collect();
    let mut failures = Vec::new();
    for (what, deflate, text, payload) in [
        ("64 B text", false, true, &small),
        ("16 KiB binary", false, false, &large),
        ("64 B text, deflate", true, true, &small),
        ("16 KiB binary, deflate", true, false, &large),
    ] {
        // Recycled: none. The message buffer comes back for the next message; the outgoing
        // frames go to the connection by exchanging buffers with the worker's pool; the
        // compressor and decompressor keep their state and scratch.
        let (n, messages) = measure(addr, "/ws", deflate, text, payload);
        eprintln!("{engine:?} {what}: {n} allocations across {messages} recycled echoes");
        if n != 0 {
            failures.push(format!(
                "{what}: {n} allocations across {messages} recycled echoes"
            ));
        }
        // Dropped: the buffer each received message is delivered in (an inflated message
        // grows its buffer as the output comes, now and then once more).
        let (n, messages) = measure(addr, "/ws-drop", deflate, text, payload);
        eprintln!("{engine:?} {what}: {n} allocations across {messages} dropped echoes");
        if n < messages || n > messages + messages / 50 {
            failures.push(format!(
                "{what}: {n} allocations across {messages} echoes that drop their message \
                 (about one each expected)"
            ));
        }
    }
    server.stop(Duration::from_secs(1));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

engine_tests!(echoes_allocate_nothing_when_recycled);
