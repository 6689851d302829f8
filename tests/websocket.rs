//! WebSockets on both engines, over real sockets: the conformance table (`tests/websocket/`,
//! the Autobahn TestSuite's areas) against the demo's `/ws`, the handshake's answers, real
//! clients no one here wrote (Python `websockets`, the `tungstenite` client), both through
//! nginx, the server's own close and keep-alive, and abuse (many idle sockets, a client that
//! never reads, a ping flood, a compression bomb), with the metrics.
//!
//! Python 3 with `websockets` (PyPI) and nginx must be installed (`.ci/run` installs them);
//! without them those tests fail, saying so.

#[path = "websocket/cases.rs"]
mod cases;
#[path = "websocket/client.rs"]
mod client;
mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cases::{cases, Exp, Send};
use client::{binary, close, frame, handshake, text, upgrade_headers, Client, Frame};
use common::{self_signed_certificate, start_with};
use peregrine::demo::DemoApp;
use peregrine::metrics::ServerMetrics;
use peregrine::websocket::{CloseCode, Message, WebSocketLimits, WebSocketOptions};
use peregrine::{AppResult, EngineChoice, Handler, HttpContext, HttpServer, Server, ServerOptions};

engine_tests!(
    conformance_table,
    handshake_answers,
    subprotocol_and_origin,
    upgraded_connection_limit,
    server_closes_first,
    keep_alive_ping_and_pong_timeout,
    peer_vanishing_is_1006,
    streamed_fragments_and_sent_fragments,
    client_that_never_reads,
    ping_flood,
    many_idle_websockets,
    python_websockets_client,
    tungstenite_client,
    python_and_tungstenite_through_nginx,
    h2_extended_connect_echo,
    h2_bad_version_and_setting_off,
    h2_reset_stream_is_1006,
    h2_client_that_never_reads,
    h2_upgraded_connection_limit,
    h2_over_tls,
    compression_policy,
    frames_read_in_place_across_reads,
);

fn options() -> ServerOptions {
    let mut o = ServerOptions::with_urls(["http://127.0.0.1:0"]).workers(1);
    o.limits.websocket.max_frame_size = 128 * 1024;
    o.limits.websocket.max_message_size = 256 * 1024;
    o.limits.websocket.keep_alive_interval = None;
    o
}

/// [`options`] with every message compressed (no threshold): the conformance cases (Autobahn
/// sections 12 and 13) and the RFC 8441 deflate echo expect even short echoes compressed.
fn compress_all() -> ServerOptions {
    let mut o = options();
    o.limits.websocket.compression_threshold = 0;
    o
}

fn metrics_of(server: &HttpServer) -> Arc<ServerMetrics> {
    server
        .features()
        .get::<Arc<ServerMetrics>>()
        .unwrap()
        .clone()
}

/// Waits (bounded) until `f` holds.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn got(f: &Frame) -> Exp {
    match f.opcode {
        1 => Exp::Text(f.payload.clone()),
        2 => Exp::Binary(f.payload.clone()),
        10 => Exp::Pong(f.payload.clone()),
        8 if f.payload.is_empty() => Exp::Close(None),
        8 => Exp::Close(Some(u16::from_be_bytes([f.payload[0], f.payload[1]]))),
        op => panic!("unexpected opcode {op}: {f:?}"),
    }
}

/// Runs one case; `Err` says what differed.
fn run_case(addr: SocketAddr, case: &cases::Case) -> Result<(), String> {
    let mut c = Client::connect(addr, "/ws", case.deflate);
    for s in &case.send {
        let bytes = match s {
            Send::Bytes(b) => b.clone(),
            Send::Compressed(data) => {
                let payload = c.compress(data);
                client::raw(0xc1, &payload)
            }
        };
        c.send(&bytes);
        std::thread::sleep(Duration::from_millis(2));
    }
    for want in &case.expect {
        let f = c
            .read_frame()
            .map_err(|e| format!("expected {want:?}, read failed: {e}"))?;
        let g = got(&f);
        if &g != want {
            let short = |e: &Exp| format!("{e:?}").chars().take(120).collect::<String>();
            return Err(format!("expected {}, got {}", short(want), short(&g)));
        }
        if matches!(g, Exp::Text(_) | Exp::Binary(_)) && case.deflate != f.rsv1 {
            return Err(format!(
                "RSV1 {} on a deflate={} connection",
                f.rsv1, case.deflate
            ));
        }
    }
    if !matches!(case.expect.last(), Some(Exp::Close(_))) {
        // Still open: close it ourselves.
        c.send(&close(1000, "done"));
        let f = c.read_frame().map_err(|e| format!("no Close echo: {e}"))?;
        if got(&f) != Exp::Close(Some(1000)) {
            return Err(format!("expected the Close echo, got {f:?}"));
        }
    }
    if !c.closed() {
        return Err("the server did not close the TCP connection after the close".into());
    }
    Ok(())
}

fn conformance_table(engine: EngineChoice) {
    let (server, addr) = start_with(engine, DemoApp, compress_all());
    let all = cases();
    let mut failures = Vec::new();
    let mut by_section = std::collections::BTreeMap::<&str, usize>::new();
    for case in &all {
        *by_section
            .entry(case.section.split('.').next().unwrap())
            .or_default() += 1;
        if let Err(e) = run_case(addr, case) {
            failures.push(format!("{} ({}): {e}", case.name, case.section));
        }
    }
    println!("{} cases by Autobahn section: {by_section:?}", all.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let ws = metrics_of(&server).snapshot().websocket;
    assert_eq!(ws.bombs_refused, 1, "the bomb is counted");
    assert!(
        ws.closes_with(1002) >= 20 && ws.closes_with(1007) >= 5,
        "{ws:?}"
    );
    eventually("every socket counted closed", || {
        metrics_of(&server).snapshot().websocket.active() == 0
    });
}

fn handshake_answers(engine: EngineChoice) {
    let (server, addr) = start_with(engine, DemoApp, options());
    let key = format!("Sec-WebSocket-Key: {}\r\n", client::KEY);
    for (name, request_extra, status, field) in [
        (
            "wrong version",
            format!(
                "Upgrade: websocket\r\nConnection: Upgrade\r\n{key}Sec-WebSocket-Version: 8\r\n"
            ),
            426,
            Some(("sec-websocket-version", "13")),
        ),
        (
            "no version",
            format!("Upgrade: websocket\r\nConnection: Upgrade\r\n{key}"),
            426,
            Some(("sec-websocket-version", "13")),
        ),
        (
            "not a WebSocket upgrade",
            "Upgrade: h2c\r\nConnection: Upgrade\r\n".to_string(),
            426,
            Some(("upgrade", "websocket")),
        ),
        ("plain GET", String::new(), 426, None),
        (
            "no Connection: upgrade",
            format!("Upgrade: websocket\r\n{key}Sec-WebSocket-Version: 13\r\n"),
            400,
            None,
        ),
        (
            "key not 16 bytes",
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\n\
             Sec-WebSocket-Version: 13\r\n"
                .to_string(),
            400,
            None,
        ),
        ("two keys", format!("{}{key}", upgrade_headers()), 400, None),
    ] {
        let (mut r, head) = handshake(addr, "/ws", &request_extra);
        assert_eq!(head.status, status, "{name}: {head:?}");
        if let Some((n, v)) = field {
            assert_eq!(head.header(n), Some(v), "{name}: {head:?}");
        }
        let _ = &mut r;
    }
    // A body: 400.
    let (_, head) = handshake(
        addr,
        "/ws",
        &format!("{}Content-Length: 2\r\n\r\nhi", upgrade_headers()),
    );
    assert_eq!(head.status, 400);
    // POST: 400.
    let mut s = common::connect(addr);
    write!(
        s,
        "POST /ws HTTP/1.1\r\nHost: t\r\n{}Content-Length: 0\r\n\r\n",
        upgrade_headers()
    )
    .unwrap();
    let resp = common::read_response(&mut std::io::BufReader::new(s), false).unwrap();
    assert_eq!(resp.status, 400);
    // The accepted handshake: RFC 6455's sample key and answer.
    let c = Client::connect(addr, "/ws", false);
    assert_eq!(
        c.head.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    assert!(
        metrics_of(&server)
            .snapshot()
            .websocket
            .handshake_rejections
            >= 9
    );
}

/// Chat-like options: subprotocols by preference, an Origin allow list.
#[derive(Clone)]
struct Restricted;

impl Handler for Restricted {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        let opts = WebSocketOptions::new()
            .protocols(["v2.chat", "v1.chat"])
            .allowed_origins(["https://good.example"]);
        let Ok(mut ws) = http.accept_websocket(&opts).await else {
            return Ok(());
        };
        let p = ws.protocol().unwrap_or("none").to_string();
        ws.send_text(&p).await?;
        ws.close(CloseCode::NORMAL, "").await?;
        Ok(())
    }
}

fn subprotocol_and_origin(engine: EngineChoice) {
    let (_server, addr) = start_with(engine, Restricted, options());
    let h = upgrade_headers();
    let (_, head) = handshake(addr, "/", &format!("{h}Origin: https://evil.example\r\n"));
    assert_eq!(head.status, 403);
    for (offer, chosen) in [
        ("v1.chat, v2.chat", "v2.chat"),
        ("v1.chat", "v1.chat"),
        ("other", "none"),
    ] {
        let extra =
            format!("{h}Origin: https://GOOD.example\r\nSec-WebSocket-Protocol: {offer}\r\n");
        let (reader, head) = handshake(addr, "/", &extra);
        assert_eq!(head.status, 101, "{head:?}");
        let header = head.header("sec-websocket-protocol").map(str::to_string);
        assert_eq!(header.as_deref().unwrap_or("none"), chosen);
        let mut c = Client::from_parts(reader, head);
        let f = c.read_frame().unwrap();
        assert_eq!(f.payload, chosen.as_bytes());
        // The server closes: 1000, then waits for ours.
        let f = c.read_frame().unwrap();
        assert_eq!(got(&f), Exp::Close(Some(1000)));
        c.send(&close(1000, ""));
        assert!(c.closed());
    }
}

fn upgraded_connection_limit(engine: EngineChoice) {
    let mut o = options();
    o.limits.max_concurrent_upgraded_connections = Some(2);
    let (server, addr) = start_with(engine, DemoApp, o);
    let mut a = Client::connect(addr, "/ws", false);
    let _b = Client::connect(addr, "/ws", false);
    let (_, head) = handshake(addr, "/ws", &upgrade_headers());
    assert_eq!(head.status, 503);
    assert_eq!(head.header("sec-websocket-accept"), None);
    // One closes (the client keeps its socket open): its slot frees at once, the server
    // closing first after the close handshake rather than lingering on it.
    a.send(&close(1000, ""));
    a.read_frame().unwrap();
    assert!(a.closed());
    let freed = Instant::now();
    eventually("a slot frees", || {
        let (_, head) = handshake(addr, "/ws", &upgrade_headers());
        head.status == 101
    });
    assert!(
        freed.elapsed() < Duration::from_secs(2),
        "{:?}",
        freed.elapsed()
    );
    drop(server);
}

/// Sends "hello", then closes with 4000 "bye" and records how the close ended.
#[derive(Clone, Default)]
struct Closer(Arc<Mutex<Vec<String>>>);

impl Handler for Closer {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        let Ok(mut ws) = http.accept_websocket(&WebSocketOptions::new()).await else {
            return Ok(());
        };
        ws.send_text("hello").await?;
        let r = ws.close(CloseCode(4000), "bye").await;
        self.0.lock().unwrap().push(format!("{r:?}"));
        // After our Close nothing more may be sent.
        let again = ws.send_text("late").await;
        self.0.lock().unwrap().push(format!("{}", again.is_err()));
        Ok(())
    }
}

fn server_closes_first(engine: EngineChoice) {
    let mut o = options();
    o.limits.websocket.close_timeout = Duration::from_millis(300);
    let app = Closer::default();
    let (_server, addr) = start_with(engine, app.clone(), o);
    // A client that answers the Close (after sending data, which the server drops).
    let mut c = Client::connect(addr, "/", false);
    assert_eq!(c.read_frame().unwrap().payload, b"hello");
    let f = c.read_frame().unwrap();
    assert_eq!(f.payload, [&4000u16.to_be_bytes()[..], b"bye"].concat());
    c.send(&text("dropped"));
    c.send(&close(4000, ""));
    assert!(c.closed(), "closed after the client's Close");
    // A client that never answers: the close timeout ends it (1006).
    let mut c = Client::connect(addr, "/", false);
    c.read_frame().unwrap();
    c.read_frame().unwrap();
    let t = Instant::now();
    assert!(c.closed());
    assert!(t.elapsed() < Duration::from_secs(5));
    eventually("both recorded", || app.0.lock().unwrap().len() == 4);
    let log = app.0.lock().unwrap().clone();
    assert!(log[0].contains("CloseCode(4000)"), "{log:?}");
    assert_eq!(log[1], "true");
    assert!(
        log[2].contains("1006") && log[2].contains("close timeout"),
        "{log:?}"
    );
}

fn keep_alive_ping_and_pong_timeout(engine: EngineChoice) {
    let mut o = options();
    o.limits.websocket.keep_alive_interval = Some(Duration::from_millis(100));
    o.limits.websocket.keep_alive_timeout = Some(Duration::from_millis(300));
    let (server, addr) = start_with(engine, DemoApp, o);
    // Answering Pongs keeps the socket open across several intervals.
    let mut c = Client::connect(addr, "/ws", false);
    for _ in 0..4 {
        let f = c.read_frame().unwrap();
        assert_eq!(f.opcode, 9, "a keep-alive Ping");
        c.send(&frame(true, 10, &f.payload));
    }
    c.send(&text("still open"));
    loop {
        let f = c.read_frame().unwrap();
        if f.opcode == 1 {
            assert_eq!(f.payload, b"still open");
            break;
        }
        c.send(&frame(true, 10, &f.payload));
    }
    // Not answering: closed after the Pong timeout, without a Close (1006).
    let mut c = Client::connect(addr, "/ws", false);
    assert_eq!(c.read_frame().unwrap().opcode, 9);
    let t = Instant::now();
    let mut frames = Vec::new();
    while let Ok(f) = c.read_frame() {
        frames.push(f.opcode);
    }
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(
        !frames.contains(&8),
        "no Close after a Pong timeout: {frames:?}"
    );
    eventually("1006 counted", || {
        metrics_of(&server).snapshot().websocket.closes_with(1006) >= 1
    });
}

/// Records the end `receive` reports.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

impl Handler for Recorder {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        let Ok(mut ws) = http.accept_websocket(&WebSocketOptions::new()).await else {
            return Ok(());
        };
        loop {
            if let Message::Close(f) = ws.receive().await {
                self.0
                    .lock()
                    .unwrap()
                    .push(format!("{} {}", f.code, f.reason));
                return Ok(());
            }
        }
    }
}

fn peer_vanishing_is_1006(engine: EngineChoice) {
    let app = Recorder::default();
    let (_server, addr) = start_with(engine, app.clone(), options());
    let mut c = Client::connect(addr, "/", false);
    c.send(&frame(false, 1, b"half a mess"));
    drop(c);
    eventually("the end reported", || !app.0.lock().unwrap().is_empty());
    let log = app.0.lock().unwrap().clone();
    assert!(log[0].starts_with("1006"), "{log:?}");
}

/// Streams: reports each fragment's size and fin, and sends the message back in 3 pieces.
#[derive(Clone, Default)]
struct Streamer(Arc<Mutex<Vec<(usize, bool)>>>);

impl Handler for Streamer {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        let opts = WebSocketOptions::new().limits(WebSocketLimits {
            max_message_size: 8 << 20,
            ..WebSocketLimits::default()
        });
        let Ok(mut ws) = http.accept_websocket(&opts).await else {
            return Ok(());
        };
        ws.set_streaming(true);
        let mut total = 0;
        loop {
            match ws.receive().await {
                Message::Fragment { data, fin, .. } => {
                    total += data.len();
                    self.0.lock().unwrap().push((data.len(), fin));
                    if fin {
                        ws.send_text_fragment("a", false).await?;
                        ws.ping(b"between").await?;
                        ws.send_text_fragment("b", false).await?;
                        ws.send_text_fragment(&total.to_string(), true).await?;
                    }
                }
                Message::Close(_) => return Ok(()),
                _ => {}
            }
        }
    }
}

fn streamed_fragments_and_sent_fragments(engine: EngineChoice) {
    let app = Streamer::default();
    let (_server, addr) = start_with(engine, app.clone(), options());
    let mut c = Client::connect(addr, "/", false);
    // 3 MiB in frames of 1 MiB: more than the 256 KiB message limit buffered whole would allow
    // here, but streamed with the handler's own limit of 8 MiB.
    let mb = vec![b'x'; 1 << 20];
    c.send(&frame(false, 2, &mb));
    c.send(&frame(false, 0, &mb));
    c.send(&frame(true, 0, &mb));
    let frames: Vec<Frame> = (0..4).map(|_| c.read_frame().unwrap()).collect();
    assert_eq!(
        (frames[0].opcode, frames[0].fin, &frames[0].payload[..]),
        (1, false, &b"a"[..])
    );
    assert_eq!(
        (frames[1].opcode, &frames[1].payload[..]),
        (9, &b"between"[..])
    );
    assert_eq!(
        (frames[2].opcode, frames[2].fin, &frames[2].payload[..]),
        (0, false, &b"b"[..])
    );
    assert_eq!((frames[3].opcode, frames[3].fin), (0, true));
    assert_eq!(frames[3].payload, (3usize << 20).to_string().as_bytes());
    let pieces = app.0.lock().unwrap().clone();
    assert!(
        pieces.len() >= 3 && pieces.iter().all(|(n, _)| *n <= 1 << 20),
        "{pieces:?}"
    );
    assert_eq!(pieces.iter().filter(|(_, fin)| *fin).count(), 1);
    c.send(&close(1000, ""));
}

/// Sends 64 KiB messages until a send fails; records the bytes sent and the error.
#[derive(Clone, Default)]
struct Pusher(Arc<Mutex<Option<(usize, String)>>>);

impl Handler for Pusher {
    async fn handle(&self, http: &mut HttpContext<'_>) -> AppResult {
        let Ok(mut ws) = http.accept_websocket(&WebSocketOptions::new()).await else {
            return Ok(());
        };
        let msg = vec![7u8; 64 * 1024];
        let mut sent = 0;
        let err = loop {
            match ws.send_binary(&msg).await {
                Ok(()) => sent += msg.len(),
                Err(e) => break e,
            }
            if sent > 1 << 30 {
                break peregrine::websocket::WebSocketError::Invalid(
                    peregrine::websocket::SendError::Full,
                );
            }
        };
        *self.0.lock().unwrap() = Some((sent, err.to_string()));
        Ok(())
    }
}

fn client_that_never_reads(engine: EngineChoice) {
    let mut o = options();
    o.limits.websocket.keep_alive_interval = Some(Duration::from_millis(200));
    o.limits.websocket.keep_alive_timeout = Some(Duration::from_millis(500));
    let app = Pusher::default();
    let (_server, addr) = start_with(engine, app.clone(), o);
    let c = Client::connect(addr, "/", false);
    eventually("the sender gives up", || app.0.lock().unwrap().is_some());
    let (sent, err) = app.0.lock().unwrap().clone().unwrap();
    println!("sent {sent} bytes to a client that never reads, then: {err}");
    // Bounded by the socket buffers (a few MiB on loopback) plus one message, not growing.
    assert!(sent < 64 << 20, "{sent}");
    assert!(err.contains("1006") && err.contains("keep-alive"), "{err}");
    drop(c);
}

fn ping_flood(engine: EngineChoice) {
    let (_server, addr) = start_with(engine, DemoApp, options());
    let mut c = Client::connect(addr, "/ws", false);
    let mut w = c.stream().try_clone().unwrap();
    const PINGS: usize = 20_000;
    // Write them all without reading (the server stops reading while its Pongs are not
    // taken), then read every Pong.
    let writer = std::thread::spawn(move || {
        let one = frame(true, 9, &[b'p'; 125]);
        let all: Vec<u8> = one
            .iter()
            .copied()
            .cycle()
            .take(one.len() * PINGS)
            .collect();
        w.write_all(&all).unwrap();
        w.write_all(&close(1000, "")).unwrap();
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut pongs = 0;
    loop {
        let f = c.read_frame().unwrap();
        match f.opcode {
            10 => pongs += 1,
            8 => break,
            op => panic!("opcode {op}"),
        }
    }
    writer.join().unwrap();
    assert_eq!(pongs, PINGS);
    assert!(c.closed());
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// `PEREGRINE_IDLE_WEBSOCKETS` (default 300) idle sockets: all open at once, each still
/// answers; the memory per socket is printed (the 10,000 run: docs/websockets.md).
fn many_idle_websockets(engine: EngineChoice) {
    common::raise_fd_limit();
    let n: usize = std::env::var("PEREGRINE_IDLE_WEBSOCKETS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let (server, addr) = start_with(engine, DemoApp, options());
    // Warm up one, so that buffers pooled once are not counted per connection.
    let mut first = Client::connect(addr, "/ws", false);
    first.send(&text("warm"));
    first.read_frame().unwrap();
    let before = rss_kib();
    let mut all: Vec<Client> = (0..n)
        .map(|_| Client::connect(addr, "/ws", false))
        .collect();
    eventually("all open", || {
        metrics_of(&server).snapshot().websocket.active() as usize == n + 1
    });
    let after = rss_kib();
    let per = (after.saturating_sub(before)) * 1024 / n as u64;
    println!(
        "{n} idle WebSockets: {per} bytes of server RSS each (client sockets are kernel memory)"
    );
    for (i, c) in all.iter_mut().enumerate().step_by(37) {
        let msg = format!("still here {i}");
        c.send(&text(&msg));
        assert_eq!(c.read_frame().unwrap().payload, msg.as_bytes());
    }
    assert!(per < 256 * 1024, "{per} bytes per idle WebSocket");
}

/// The Python `websockets` client (with its default permessage-deflate offer): text, binary,
/// 200 messages, a ping, a 1 MiB-free 100 KiB message, close 1000.
const PYTHON_CLIENT: &str = r#"
import asyncio, sys
from websockets.asyncio.client import connect

async def main(url):
    async with connect(url, subprotocols=["echo"], max_size=2**20) as ws:
        assert ws.subprotocol == "echo", ws.subprotocol
        ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert ext.startswith("permessage-deflate"), ext
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        await ws.send(b"\x00\xff" * 1000)
        assert await ws.recv() == b"\x00\xff" * 1000
        for i in range(200):
            await ws.send(f"m{i}")
        for i in range(200):
            assert await ws.recv() == f"m{i}"
        big = "x" * 100_000
        await ws.send(big)
        assert await ws.recv() == big
        pong = await ws.ping(b"hi")
        await asyncio.wait_for(pong, 5)
        await ws.close(1000, "bye")
        assert ws.close_code == 1000, ws.close_code
    print("ok")

asyncio.run(main(sys.argv[1]))
"#;

fn run_python(url: &str) {
    let out = Command::new("python3")
        .args(["-c", PYTHON_CLIENT, url])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("python3 is not installed ({e}); .ci/run installs it"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'websockets'"),
        "Python websockets is not installed: pip install websockets (.ci/run does)"
    );
    assert!(out.status.success(), "python client failed: {stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

fn python_websockets_client(engine: EngineChoice) {
    let (server, addr) = start_with(engine, DemoApp, options());
    run_python(&format!("ws://{addr}/ws"));
    let ws = metrics_of(&server).snapshot().websocket;
    assert!(
        ws.messages_received >= 203 && ws.messages_sent >= 203,
        "{ws:?}"
    );
    eventually("closed with 1000", || {
        metrics_of(&server).snapshot().websocket.closes_with(1000) == 1
    });
}

fn run_tungstenite(url: &str) {
    let (mut ws, resp) = tungstenite::connect(url).expect("tungstenite connects");
    assert_eq!(resp.status(), 101);
    use tungstenite::Message as M;
    ws.send(M::text("hello")).unwrap();
    assert_eq!(ws.read().unwrap(), M::text("hello"));
    let blob: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    ws.send(M::binary(blob.clone())).unwrap();
    assert_eq!(ws.read().unwrap(), M::binary(blob));
    for i in 0..100 {
        ws.send(M::text(format!("n{i}"))).unwrap();
    }
    for i in 0..100 {
        assert_eq!(ws.read().unwrap(), M::text(format!("n{i}")));
    }
    ws.send(M::Ping(b"p".to_vec().into())).unwrap();
    assert_eq!(ws.read().unwrap(), M::Pong(b"p".to_vec().into()));
    ws.close(None).unwrap();
    loop {
        match ws.read() {
            Ok(M::Close(_)) | Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("{e}"),
        }
    }
}

fn tungstenite_client(engine: EngineChoice) {
    let (_server, addr) = start_with(engine, DemoApp, options());
    run_tungstenite(&format!("ws://{addr}/ws"));
}

fn nginx_conf(dir: &Path, port: u16, upstream: u16) -> String {
    let dir = dir.display();
    format!(
        r#"# WebSockets behind nginx (tests/websocket.rs; docs/websockets.md)
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            # An idle WebSocket outlives nginx's default 60 s read timeout only with
            # keep-alive Pings more often than this.
            proxy_read_timeout 1h;
        }}
    }}
}}
"#
    )
}

fn nginx() -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain([
        "/usr/sbin",
        "/usr/local/sbin",
        "/sbin",
    ]) {
        let p = Path::new(dir).join("nginx");
        if p.is_file() {
            return p;
        }
    }
    panic!("nginx is not installed: apt-get install nginx-light (.ci/run does)");
}

struct Nginx(std::process::Child, PathBuf);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn python_and_tungstenite_through_nginx(engine: EngineChoice) {
    let (_server, addr) = start_with(engine, DemoApp, options());
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir =
        std::env::temp_dir().join(format!("peregrine-ws-nginx-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, nginx_conf(&dir, port, addr.port())).unwrap();
    let child = Command::new(nginx())
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf)
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    let _nginx = Nginx(child, dir);
    eventually("nginx listens", || {
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
    });
    let url = format!("ws://127.0.0.1:{port}/ws");
    run_python(&url);
    run_tungstenite(&url);
    // A raw client through nginx: a Close from the server's side arrives too.
    let mut c = Client::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), "/ws", false);
    c.send(&frame(true, 1, &[0xff]));
    assert_eq!(got(&c.read_frame().unwrap()), Exp::Close(Some(1007)));
    let mut rest = Vec::new();
    let _ = c.reader.read_to_end(&mut rest);
}

/// The binary: the `ws-*` settings as flags, environment and `[limits]` keys (a bad value is a
/// one-line error naming it, exit 2), and the WebSocket metrics on the admin listener.
#[test]
fn binary_ws_settings_and_metrics() {
    use std::io::BufRead;
    let bin = env!("CARGO_BIN_EXE_peregrine");
    let dir = std::env::temp_dir().join(format!("peregrine-ws-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = dir.join("bad.toml");
    std::fs::write(&toml, "[limits]\nws-close-timeout = \"soon\"\n").unwrap();
    let toml_arg = toml.display().to_string();
    for (args, envs, want) in [
        (
            vec!["--ws-keep-alive-interval", "sometimes"],
            vec![],
            "invalid ws-keep-alive-interval \"sometimes\": expected a duration or off",
        ),
        (
            vec![],
            vec![("PEREGRINE_WS_MAX_MESSAGE_SIZE", "huge")],
            "invalid ws-max-message-size \"huge\": expected a size",
        ),
        (
            vec!["--ws-max-frame-size", "100"],
            vec![],
            "ws-max-frame-size must be at least 125 bytes",
        ),
        (
            vec!["--ws-compression-level", "12"],
            vec![],
            "invalid ws-compression-level \"12\": expected a level from 0 to 9",
        ),
        (
            vec![],
            vec![("PEREGRINE_WS_COMPRESSION_THRESHOLD", "lots")],
            "invalid ws-compression-threshold \"lots\": expected a size",
        ),
        (
            vec!["--config", toml_arg.as_str()],
            vec![],
            "ws-close-timeout",
        ),
    ] {
        let out = Command::new(bin)
            .args(&args)
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(want), "{args:?} {envs:?}: {err}");
    }
    let help = Command::new(bin).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--ws-keep-alive-interval",
        "--ws-compression-threshold",
        "--ws-compression-level",
    ] {
        assert!(help.contains(flag), "{flag} in --help");
    }

    let (mut child, addr, mut out) = common::spawn_server(
        Command::new(bin)
            .args(["--urls", "http://127.0.0.1:0", "--workers", "1"])
            .args([
                "--admin-urls",
                "http://127.0.0.1:0",
                "--ws-max-message-size",
                "1K",
            ])
            .env("PEREGRINE_WS_KEEP_ALIVE_INTERVAL", "off")
            .stderr(Stdio::null()),
    );
    let mut line = String::new();
    let admin: SocketAddr = loop {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "no admin line");
        if line.contains("admin endpoints") {
            break line
                .trim()
                .split_once(" on http://")
                .unwrap()
                .1
                .parse()
                .unwrap();
        }
    };
    let mut c = Client::connect(addr, "/ws", true);
    c.send(&text("small"));
    assert_eq!(c.read_frame().unwrap().payload, b"small");
    c.send(&frame(true, 2, &[0u8; 2000]));
    assert_eq!(got(&c.read_frame().unwrap()), Exp::Close(Some(1009)));
    assert!(c.closed());
    let scrape = || common::get(admin, "/metrics").text();
    eventually("the close counted", || {
        scrape().contains("peregrine_websocket_closes_total{worker=\"0\",code=\"1009\"} 1")
    });
    let s = scrape();
    for want in [
        "peregrine_websockets_opened_total{worker=\"0\"} 1",
        "peregrine_websockets_active{worker=\"0\"} 0",
        "peregrine_websocket_messages_total{worker=\"0\",direction=\"received\"} 1",
        "peregrine_websocket_messages_total{worker=\"0\",direction=\"sent\"} 1",
        "peregrine_websocket_payload_bytes_total{worker=\"0\",direction=\"sent\"} 5",
        "peregrine_websocket_bombs_refused_total{worker=\"0\"} 0",
    ] {
        assert!(s.contains(want), "{want} in\n{s}");
    }
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// On the in-memory `TestServer` the same application answers: a bad handshake gets its
/// status, a valid one `501` (that server cannot upgrade connections).
#[test]
fn test_server_answers_handshakes_without_upgrading() {
    use peregrine::testing::TestRequest;
    use peregrine::TestServer;
    let mut server = TestServer::new();
    server.start(DemoApp).unwrap();
    let ws = |version: &str| {
        TestRequest::get("/ws")
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Key", client::KEY)
            .header("Sec-WebSocket-Version", version)
    };
    let r = server.send(ws("8"));
    assert_eq!(r.status, 426);
    assert_eq!(r.header("sec-websocket-version"), Some(&b"13"[..]));
    let r = server.send(ws("13"));
    assert_eq!(r.status, 501, "{}", r.text());
}

/// Runs tests/websocket/h2_client.py in `mode` against `addr`; its output lines.
fn run_h2_client(mode: &str, addr: SocketAddr) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/websocket/h2_client.py");
    let out = Command::new("python3")
        .arg(&script)
        .args([mode, &addr.port().to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("python3 is not installed ({e}); .ci/run installs it"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'h2'"),
        "Python h2 is not installed: pip install h2 (.ci/run does)"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "h2_client.py {mode} failed: {stdout}{stderr}"
    );
    stdout.lines().map(str::to_string).collect()
}

/// RFC 8441 with Python's `h2` (frame level): the server announces
/// SETTINGS_ENABLE_CONNECT_PROTOCOL, answers the extended CONNECT with `200` (no
/// `Sec-WebSocket-Accept`, the chosen subprotocol), echoes masked frames carried in DATA frames
/// (one frame split across DATA frames, a fragmented message with a Ping between, 100 KB past
/// the 64 KiB windows), completes the close handshake and ends the stream; a second WebSocket
/// runs on the same connection, with permessage-deflate negotiated in the `200`. The metrics count them as HTTP/1.1 WebSockets.
fn h2_extended_connect_echo(engine: EngineChoice) {
    let (server, addr) = start_with(engine, DemoApp, compress_all());
    let lines = run_h2_client("echo", addr);
    assert_eq!(
        lines,
        [
            "setting=1",
            "status=200",
            "accept=-",
            "upgrade=-",
            "subprotocol=echo",
            "echo=1:hello",
            "split=1:split across DATA frames: é",
            "pong=10:ping!",
            "fragmented=1:fragmented",
            "binary=2:100000:True",
            "close=8:1000",
            "end_stream=True",
            "extensions=permessage-deflate",
            "second=65:True",
            "ok",
        ]
    );
    eventually("both closed with 1000", || {
        let ws = metrics_of(&server).snapshot().websocket;
        ws.opened == 2 && ws.closes_with(1000) == 2 && ws.active() == 0
    });
    let ws = metrics_of(&server).snapshot().websocket;
    assert!(ws.messages_received >= 5 && ws.messages_sent >= 5, "{ws:?}");
}

/// A wrong version is `400` with `Sec-WebSocket-Version: 13` over HTTP/2 (no `426`: HTTP/2
/// has no Upgrade); with `enable_connect_protocol` off the setting is not sent, an extended
/// CONNECT is malformed (RST_STREAM PROTOCOL_ERROR) and the connection goes on.
fn h2_bad_version_and_setting_off(engine: EngineChoice) {
    let (server, addr) = start_with(engine, DemoApp, options());
    assert_eq!(
        run_h2_client("badversion", addr),
        ["status=400", "version=13", "ok"]
    );
    assert_eq!(
        metrics_of(&server)
            .snapshot()
            .websocket
            .handshake_rejections,
        1
    );
    drop(server);
    let mut o = options();
    o.limits.http2.enable_connect_protocol = false;
    let (_server, addr) = start_with(engine, DemoApp, o);
    assert_eq!(
        run_h2_client("disabled", addr),
        ["setting=0", "reset=1", "get=200", "ok"]
    );
}

/// RST_STREAM on an open WebSocket stream: the application's `receive` reports 1006 (its
/// handler is not cancelled), and another WebSocket on the connection closes normally.
fn h2_reset_stream_is_1006(engine: EngineChoice) {
    let app = Recorder::default();
    let (server, addr) = start_with(engine, app.clone(), options());
    assert_eq!(
        run_h2_client("reset", addr),
        ["status=200", "second_status=200", "ok"]
    );
    eventually("both ends reported", || app.0.lock().unwrap().len() == 2);
    let mut log = app.0.lock().unwrap().clone();
    log.sort();
    assert!(
        log[0].starts_with("1000") && log[1].starts_with("1006"),
        "{log:?}"
    );
    eventually("both counted", || {
        let ws = metrics_of(&server).snapshot().websocket;
        ws.closes_with(1006) == 1 && ws.closes_with(1000) == 1
    });
}

/// A client that never reads an HTTP/2 WebSocket: the stream's and the connection's windows
/// (64 KiB each by default) fill, the application's sends wait (what is held is bounded by the
/// windows, the stream's response buffer and the socket's output limit), and the keep-alive
/// Pong timeout ends the socket with 1006.
fn h2_client_that_never_reads(engine: EngineChoice) {
    let mut o = options();
    o.limits.websocket.keep_alive_interval = Some(Duration::from_millis(200));
    o.limits.websocket.keep_alive_timeout = Some(Duration::from_millis(500));
    let app = Pusher::default();
    let (_server, addr) = start_with(engine, app.clone(), o);
    let client = std::thread::spawn(move || run_h2_client("noread", addr));
    eventually("the sender gives up", || app.0.lock().unwrap().is_some());
    let (sent, err) = app.0.lock().unwrap().clone().unwrap();
    println!("sent {sent} bytes to an HTTP/2 client that never reads, then: {err}");
    // 64 KiB window + 64 KiB stream buffer + 1 MiB WebSocket output + one 64 KiB message.
    assert!(sent < 2 << 20, "{sent}");
    assert!(err.contains("1006") && err.contains("keep-alive"), "{err}");
    assert_eq!(client.join().unwrap(), ["status=200", "ok"]);
}

/// HTTP/2 WebSocket streams count against `max-upgraded-connections` as upgraded HTTP/1.1
/// connections do: `503` with `Retry-After` and no WebSocket fields at the limit, and the slot
/// is free again once a socket's handler returned.
fn h2_upgraded_connection_limit(engine: EngineChoice) {
    let mut o = options();
    o.limits.max_concurrent_upgraded_connections = Some(1);
    let (server, addr) = start_with(engine, DemoApp, o);
    assert_eq!(
        run_h2_client("limit", addr),
        ["first=200", "second=503:1:-", "third=200", "ok"]
    );
    assert_eq!(
        metrics_of(&server)
            .snapshot()
            .websocket
            .handshake_rejections,
        1
    );
}

/// RFC 8441 over TLS: HTTP/2 chosen by ALPN, the same extended CONNECT, echo and close.
fn h2_over_tls(engine: EngineChoice) {
    use peregrine::server::TlsOptions;
    let (dir, files) = self_signed_certificate(&format!("ws-h2-tls-{engine:?}"));
    let mut o = options();
    o.urls.clear();
    o.endpoints.push(
        peregrine::server::Endpoint::new("secure", "https://127.0.0.1:0")
            .tls(TlsOptions::new(files)),
    );
    let (server, addr) = start_with(engine, DemoApp, o);
    assert_eq!(
        run_h2_client("tls", addr),
        [
            "alpn=h2",
            "setting=1",
            "status=200",
            "echo=1:over TLS",
            "close=8:1000",
            "ok"
        ]
    );
    eventually("closed with 1000", || {
        metrics_of(&server).snapshot().websocket.closes_with(1000) == 1
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// The compression policy over a real socket: with the defaults (1 KiB threshold, level 1) a
/// short echo goes out with RSV1 clear and a long one compressed, both inflating to what was
/// sent; with the threshold at 0 the short one is compressed too; and the level is applied
/// (level 9 makes a smaller frame than level 0, which stores).
fn compression_policy(engine: EngineChoice) {
    let long: String = (0..400).map(|i| format!("word{} ", i % 37)).collect();
    let echo = |c: &mut Client, data: &str| {
        let z = c.compress(data.as_bytes());
        c.send(&client::raw(0xc1, &z));
        let f = c.read_frame().expect("the echo");
        assert_eq!(f.payload, data.as_bytes());
        f.rsv1
    };
    let (_server, addr) = start_with(engine, DemoApp, options());
    let mut c = Client::connect(addr, "/ws", true);
    assert!(!echo(&mut c, "short"), "under 1 KiB: sent as it is");
    assert!(!echo(&mut c, &long[..1023]));
    assert!(echo(&mut c, &long[..1024]), "1 KiB: compressed");
    assert!(echo(&mut c, &long), "compressed");
    assert!(!echo(&mut c, "short again"), "the choice is per message");

    let mut o = options();
    o.limits.websocket.compression_threshold = 0;
    let (_server, addr) = start_with(engine, DemoApp, o);
    let mut c = Client::connect(addr, "/ws", true);
    assert!(echo(&mut c, "short"), "no threshold: compressed");

    // The frame's size on the wire at two levels (read without inflating).
    let wire_len = |level: u32| {
        let mut o = options();
        o.limits.websocket.compression_level = level;
        let (_server, addr) = start_with(engine, DemoApp, o);
        let (mut reader, head) = client::handshake(
            addr,
            "/ws",
            &(client::upgrade_headers()
                + "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n"),
        );
        assert_eq!(head.status, 101);
        reader
            .get_mut()
            .write_all(&client::text(&long))
            .expect("write");
        let mut h = [0u8; 2];
        reader.read_exact(&mut h).expect("the echo's header");
        assert_ne!(h[0] & 0x40, 0, "level {level}: RSV1 set");
        match h[1] {
            126 => {
                reader.read_exact(&mut h).expect("the 16-bit length");
                u16::from_be_bytes(h) as usize
            }
            n => usize::from(n),
        }
    };
    let (stored, best) = (wire_len(0), wire_len(9));
    assert!(stored > long.len(), "level 0 stores: {stored}");
    assert!(best < long.len() / 4, "level 9 compresses: {best}");
}

/// Frames are parsed where the connection's input buffer holds them: a frame header split
/// over several reads (byte by byte), a text message whose reads end inside characters, a
/// frame larger than any one read (and than the input buffer's largest room, 64 KiB), and
/// many frames (data, a Ping, a fragmented message) in one read, each echoed whole and in
/// order.
fn frames_read_in_place_across_reads(engine: EngineChoice) {
    let (_server, addr) = start_with(engine, DemoApp, options());
    let mut c = Client::connect(addr, "/ws", false);
    c.stream().set_nodelay(true).unwrap();
    c.stream()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // Sends `bytes` in pieces cut at `cuts`, pausing so that each is its own read.
    let send_split = |c: &mut Client, bytes: &[u8], cuts: &[usize]| {
        let mut at = 0;
        for &cut in cuts.iter().chain([bytes.len()].iter()) {
            c.send(&bytes[at..cut]);
            at = cut;
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let echo = |c: &mut Client| {
        let f = c.read_frame().expect("an echo");
        assert!(f.fin, "{f:?}");
        (f.opcode, f.payload)
    };

    // The header of a 16-bit-length text frame (2 + 2 + 4 mask bytes) a byte at a time, then
    // the payload cut inside a two-byte character.
    let msg = "héllo wörld ".repeat(20);
    let bytes = text(&msg);
    let inside_char = 8 + msg.find('é').unwrap() + 1;
    send_split(&mut c, &bytes, &[1, 2, 3, 4, 5, 6, 7, inside_char]);
    assert_eq!(
        echo(&mut c),
        (1, msg.clone().into_bytes()),
        "header split byte by byte"
    );

    // Larger than one read: 100 KiB (a 64-bit length), binary then text of three-byte
    // characters, the header cut after its length.
    let big: Vec<u8> = (0..100 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    send_split(&mut c, &binary(&big), &[5, 10]);
    assert_eq!(echo(&mut c), (2, big), "a 100 KiB binary frame");
    let big_text = "€uro ".repeat(100 * 1024 / 7);
    let bytes = text(&big_text);
    send_split(&mut c, &bytes, &[3, 14, 14 + 4097, 14 + 30_001]);
    assert_eq!(
        echo(&mut c),
        (1, big_text.into_bytes()),
        "a 100 KiB text frame"
    );

    // Many frames in one read: 20 texts, a Ping, a message in three fragments, and the
    // header of one more cut off at the end of the read.
    let mut batch = Vec::new();
    for i in 0..20 {
        batch.extend(text(&format!("m{i}")));
    }
    batch.extend(frame(true, 9, b"p"));
    batch.extend(frame(false, 1, "fr".as_bytes()));
    batch.extend(frame(false, 0, &"ag€".as_bytes()[..3]));
    batch.extend(frame(true, 0, &"ag€".as_bytes()[3..]));
    let last = text("last");
    batch.extend(&last[..3]);
    send_split(&mut c, &batch, &[]);
    c.send(&last[3..]);
    let mut texts = Vec::new();
    let mut pongs = 0;
    while texts.len() < 22 {
        match echo(&mut c) {
            (1, t) => texts.push(String::from_utf8(t).unwrap()),
            (10, p) => {
                assert_eq!(p, b"p");
                pongs += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut want: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
    want.push("frag€".into());
    want.push("last".into());
    assert_eq!(texts, want);
    assert_eq!(pongs, 1);

    // The Close split inside its header ends it cleanly.
    send_split(&mut c, &close(1000, "bye"), &[1]);
    let f = c.read_frame().expect("the Close echo");
    assert_eq!((f.opcode, &f.payload[..]), (8, &1000u16.to_be_bytes()[..]));
    assert!(c.closed());
}
