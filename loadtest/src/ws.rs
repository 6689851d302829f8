//! WebSocket echo load (`--ws`): every connection upgrades at the URL's path, then sends text
//! messages of `--message-size` bytes and waits for the server to echo them. Closed loop by
//! default (`--pipeline` messages in flight per connection, the next sent when an echo
//! arrives); with `--rate`, messages follow a fixed schedule (round-robin over the thread's
//! open connections) and latency is measured from each message's intended send time.
//!
//! The client side costs little: the message frame is built (and with `--compress`
//! compressed, under `client_no_context_takeover`, so it is the same bytes every time) once,
//! masked with the all-zero key; echoes are only framed, not inflated (their RSV1 bit is
//! counted: `compressed_messages`). The offer asks for `server_no_context_takeover` too, so
//! that every server compresses each echo from a fresh context: servers that cannot take over
//! their context (soketto) then do the same work as those that can. Each thread runs a mio
//! loop over its connections.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use flate2::{Compress, Compression, FlushCompress};
use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use serde::Serialize;

use crate::cli::Config;
use crate::stats::new_histogram;

/// What a WebSocket run measured.
#[derive(Debug, Clone, Serialize)]
pub struct WsSummary {
    /// Connections that completed the handshake.
    pub connections: usize,
    /// Message size in bytes (before compression).
    pub message_size: usize,
    /// Whether permessage-deflate was used.
    pub compressed: bool,
    /// Measured seconds.
    pub seconds: f64,
    /// Echoes received in the measured window.
    pub messages: u64,
    /// Of those, the echoes that came compressed (RSV1 set on the frame that ended them; the
    /// servers measured send each echo as one frame): with `--compress`, how many the server
    /// chose to compress.
    pub compressed_messages: u64,
    /// Echoes per second.
    pub messages_per_sec: f64,
    /// Latency percentiles in microseconds: p50, p90, p99, p99.9, max.
    pub latency_us: [u64; 5],
    /// Failures: connect, handshake, read/write, protocol.
    pub errors: u64,
    /// The first error, if any.
    pub first_error: Option<String>,
}

struct Conn {
    stream: TcpStream,
    open: bool,
    rbuf: Vec<u8>,
    rlen: usize,
    wbuf: Vec<u8>,
    wpos: usize,
    /// Intended send times of the messages in flight.
    inflight: VecDeque<u64>,
    dead: bool,
}

struct Shared<'a> {
    frame: &'a [u8],
    request: &'a [u8],
    compress: bool,
    pipeline: usize,
    measure_start: u64,
    end: u64,
}

struct ThreadResult {
    hist: Histogram<u64>,
    messages: u64,
    compressed: u64,
    open: usize,
    errors: u64,
    first_error: Option<String>,
}

/// Text that compresses about 4:1 with deflate (words from a small vocabulary).
fn payload(size: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "peregrine",
        "websocket",
        "message",
        "echo",
        "latency",
        "worker",
        "frame",
        "deflate",
        "socket",
        "server",
        "client",
        "queue",
        "thread",
        "buffer",
        "kernel",
        "ring",
    ];
    let mut out = Vec::with_capacity(size + 16);
    let mut x: u32 = 0x9e37_79b9;
    while out.len() < size {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.extend_from_slice(WORDS[(x % 16) as usize].as_bytes());
        out.push(b' ');
    }
    out.truncate(size);
    out
}

/// A masked (all-zero key) client frame.
fn client_frame(rsv1: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x81 | if rsv1 { 0x40 } else { 0 }];
    let n = payload.len();
    if n < 126 {
        f.push(0x80 | n as u8);
    } else if n < 65536 {
        f.push(0x80 | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    c.compress_vec(data, &mut out, FlushCompress::Sync)
        .expect("deflate");
    while c.total_in() < data.len() as u64 || out.len() == out.capacity() {
        out.reserve(data.len() + 64);
        let done = c.total_in() as usize;
        c.compress_vec(&data[done..], &mut out, FlushCompress::Sync)
            .expect("deflate");
    }
    if out.ends_with(&[0, 0, 0xff, 0xff]) {
        out.truncate(out.len() - 4);
    }
    out
}

/// Runs the WebSocket load described by `config` (`config.ws` set).
pub fn run_ws(config: &Config) -> io::Result<WsSummary> {
    let url = &config.urls[0];
    let addr = url.resolve()?;
    let text = payload(config.message_size);
    let frame = if config.compress {
        client_frame(true, &deflate(&text))
    } else {
        client_frame(false, &text)
    };
    let mut request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        url.path, url.authority
    );
    if config.compress {
        request.push_str(
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
             client_no_context_takeover\r\n",
        );
    }
    request.push_str("\r\n");
    let start = Instant::now();
    let measure_start = config.warmup.as_nanos() as u64;
    let end = measure_start + config.duration.as_nanos() as u64;
    let shared = Shared {
        frame: &frame,
        request: request.as_bytes(),
        compress: config.compress,
        pipeline: config.pipeline,
        measure_start,
        end,
    };
    let threads = config.threads;
    let results: Vec<io::Result<ThreadResult>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let count =
                    config.connections / threads + usize::from(t < config.connections % threads);
                let cpu = config.cpus.as_ref().map(|c| c[t % c.len()]);
                let rate = config.rate.map(|r| r / threads as f64);
                let shared = &shared;
                s.spawn(move || {
                    if let Some(id) = cpu {
                        core_affinity::set_for_current(core_affinity::CoreId { id });
                    }
                    thread(shared, addr, count, rate, start)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a load thread panicked"))
            .collect()
    });
    let mut hist = new_histogram();
    let (mut messages, mut compressed, mut open, mut errors, mut first_error) = (0, 0, 0, 0, None);
    for r in results {
        let r = r?;
        hist.add(&r.hist).expect("same histogram bounds");
        messages += r.messages;
        compressed += r.compressed;
        open += r.open;
        errors += r.errors;
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    let seconds = config.duration.as_secs_f64();
    Ok(WsSummary {
        connections: open,
        message_size: config.message_size,
        compressed: config.compress,
        seconds,
        messages,
        compressed_messages: compressed,
        messages_per_sec: messages as f64 / seconds,
        latency_us: [
            hist.value_at_quantile(0.5),
            hist.value_at_quantile(0.9),
            hist.value_at_quantile(0.99),
            hist.value_at_quantile(0.999),
            hist.max(),
        ],
        errors,
        first_error,
    })
}

fn thread(
    shared: &Shared<'_>,
    addr: std::net::SocketAddr,
    count: usize,
    rate: Option<f64>,
    start: Instant,
) -> io::Result<ThreadResult> {
    let now = || start.elapsed().as_nanos() as u64;
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut res = ThreadResult {
        hist: new_histogram(),
        messages: 0,
        compressed: 0,
        open: 0,
        errors: 0,
        first_error: None,
    };
    let fail = |res: &mut ThreadResult, why: String| {
        res.errors += 1;
        res.first_error.get_or_insert(why);
    };
    let mut conns = Vec::with_capacity(count);
    for i in 0..count {
        let std = std::net::TcpStream::connect(addr)?;
        std.set_nodelay(true)?;
        std.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(std);
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let mut c = Conn {
            stream,
            open: false,
            rbuf: vec![0; (shared.frame.len() * 2).max(64 * 1024)],
            rlen: 0,
            wbuf: Vec::with_capacity(shared.frame.len() * shared.pipeline),
            wpos: 0,
            inflight: VecDeque::new(),
            dead: false,
        };
        c.wbuf.extend_from_slice(shared.request);
        conns.push(c);
    }
    let interval = rate.map(|r| (1e9 / r) as u64);
    let mut next_send = 0u64;
    let mut rr = 0usize;
    loop {
        let t = now();
        if t >= shared.end {
            break;
        }
        if let Some(iv) = interval {
            if next_send == 0 {
                next_send = t;
            }
            while next_send <= t {
                let open: Vec<usize> = (0..conns.len())
                    .filter(|&i| conns[i].open && !conns[i].dead)
                    .collect();
                if open.is_empty() {
                    next_send = t + iv;
                    break;
                }
                let i = open[rr % open.len()];
                rr += 1;
                let c = &mut conns[i];
                c.wbuf.extend_from_slice(shared.frame);
                c.inflight.push_back(next_send);
                next_send += iv;
                // A failed write shows again at the socket's next event.
                let _ = flush(c);
            }
        }
        let timeout = match interval {
            Some(_) => Duration::from_nanos(next_send.saturating_sub(now()).min(1_000_000)),
            None => Duration::from_millis(10),
        };
        poll.poll(&mut events, Some(timeout))?;
        for ev in events.iter() {
            let i = ev.token().0;
            let c = &mut conns[i];
            if c.dead {
                continue;
            }
            if let Err(e) = flush(c) {
                c.dead = true;
                fail(&mut res, format!("write: {e}"));
                continue;
            }
            loop {
                if c.rlen == c.rbuf.len() {
                    let n = c.rbuf.len() * 2;
                    c.rbuf.resize(n, 0);
                }
                match c.stream.read(&mut c.rbuf[c.rlen..]) {
                    Ok(0) => {
                        c.dead = true;
                        fail(&mut res, "the server closed the connection".into());
                        break;
                    }
                    Ok(n) => c.rlen += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        c.dead = true;
                        fail(&mut res, format!("read: {e}"));
                        break;
                    }
                }
            }
            if c.dead {
                continue;
            }
            let done = now();
            match process(c, shared, interval.is_none(), done, &mut res) {
                Ok(true) => res.open += 1,
                Ok(false) => {}
                Err(why) => {
                    c.dead = true;
                    fail(&mut res, why);
                }
            }
            if let Err(e) = flush(c) {
                c.dead = true;
                fail(&mut res, format!("write: {e}"));
            }
        }
    }
    Ok(res)
}

/// Writes what is queued; `Ok` also when the socket is full (the rest goes on the next
/// writable edge).
fn flush(c: &mut Conn) -> io::Result<()> {
    while c.wpos < c.wbuf.len() {
        match c.stream.write(&c.wbuf[c.wpos..]) {
            Ok(n) => c.wpos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    c.wbuf.clear();
    c.wpos = 0;
    Ok(())
}

/// Handles what was read: the handshake answer, then echoes. `Ok(true)` when the handshake
/// just completed.
fn process(
    c: &mut Conn,
    shared: &Shared<'_>,
    closed_loop: bool,
    now: u64,
    res: &mut ThreadResult,
) -> Result<bool, String> {
    let mut pos = 0;
    let mut opened = false;
    if !c.open {
        let Some(end) = c.rbuf[..c.rlen].windows(4).position(|w| w == b"\r\n\r\n") else {
            return Ok(false);
        };
        let head = String::from_utf8_lossy(&c.rbuf[..end]).to_ascii_lowercase();
        if !head.starts_with("http/1.1 101") {
            return Err(format!(
                "handshake refused: {}",
                head.lines().next().unwrap_or("")
            ));
        }
        if shared.compress && !head.contains("permessage-deflate") {
            return Err("the server did not accept permessage-deflate".into());
        }
        pos = end + 4;
        c.open = true;
        opened = true;
        if closed_loop {
            for _ in 0..shared.pipeline {
                c.wbuf.extend_from_slice(shared.frame);
                c.inflight.push_back(now);
            }
        }
    }
    loop {
        let b = &c.rbuf[pos..c.rlen];
        if b.len() < 2 {
            break;
        }
        let (len, hl) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u64::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => (
                u64::from_be_bytes(b[2..10].try_into().expect("8 bytes")),
                10,
            ),
            126 | 127 => break,
            n => (u64::from(n), 2),
        };
        let total = hl + len as usize;
        if b.len() < total {
            if total > c.rbuf.len() {
                c.rbuf.resize(total * 2, 0);
            }
            break;
        }
        let (fin, op) = (b[0] & 0x80 != 0, b[0] & 0x0f);
        match op {
            0..=2 if fin => {
                let sent = c
                    .inflight
                    .pop_front()
                    .ok_or("an echo with no message in flight")?;
                if sent >= shared.measure_start && now < shared.end {
                    res.messages += 1;
                    res.compressed += u64::from(b[0] & 0x40 != 0);
                    let _ = res.hist.record(((now - sent) / 1000).max(1));
                }
                if closed_loop {
                    c.wbuf.extend_from_slice(shared.frame);
                    c.inflight.push_back(now);
                }
            }
            0..=2 => {}
            9 => {
                // A keep-alive Ping: answer it.
                let payload = b[hl..total].to_vec();
                let mut pong = vec![0x8a, 0x80 | payload.len() as u8, 0, 0, 0, 0];
                pong.extend_from_slice(&payload);
                c.wbuf.extend_from_slice(&pong);
            }
            10 => {}
            8 => return Err("the server closed the WebSocket".into()),
            op => return Err(format!("unexpected opcode {op}")),
        }
        pos += total;
    }
    c.rbuf.copy_within(pos..c.rlen, 0);
    c.rlen -= pos;
    Ok(opened)
}

/// The summary as a short table.
pub fn render(s: &WsSummary) -> String {
    format!(
        "WebSocket echo: {} connections, {} B messages{}, {:.1} s\n\
         messages: {} ({:.0}/s, {} compressed)\n\
         latency (µs): p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n\
         errors: {}{}\n",
        s.connections,
        s.message_size,
        if s.compressed {
            " (permessage-deflate)"
        } else {
            ""
        },
        s.seconds,
        s.messages,
        s.messages_per_sec,
        s.compressed_messages,
        s.latency_us[0],
        s.latency_us[1],
        s.latency_us[2],
        s.latency_us[3],
        s.latency_us[4],
        s.errors,
        s.first_error
            .as_ref()
            .map_or(String::new(), |e| format!(" (first: {e})")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_payload() {
        let p = payload(1000);
        assert_eq!(p.len(), 1000);
        assert!(std::str::from_utf8(&p).is_ok());
        let z = deflate(&p);
        assert!(z.len() * 2 < p.len(), "compresses: {}", z.len());
        let f = client_frame(false, &[7; 200]);
        assert_eq!(&f[..8], &[0x81, 0x80 | 126, 0, 200, 0, 0, 0, 0]);
        assert_eq!(client_frame(true, b"x")[0], 0xc1);
    }
}
