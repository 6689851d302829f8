//! A tiny blocking HTTP/1.1 test server (std threads), whose behaviour each test chooses.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use peregrine_load::url::Url;
use peregrine_load::Config;

/// A request as the test server saw it.
pub struct Req {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
}

/// How to answer one request.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub body: &'static str,
    pub chunked: bool,
    pub close: bool,
    pub delay: Duration,
    /// Never answer; hold the connection until the server stops.
    pub stall: bool,
}

impl Reply {
    pub fn ok() -> Self {
        Reply {
            status: 200,
            body: "Hello, World!",
            chunked: false,
            close: false,
            delay: Duration::ZERO,
            stall: false,
        }
    }

    pub fn status(status: u16) -> Self {
        Reply {
            status,
            ..Reply::ok()
        }
    }
}

type Handler = dyn Fn(u64, &Req) -> Reply + Send + Sync;

/// A running test server on 127.0.0.1; stops when dropped.
pub struct Server {
    pub addr: SocketAddr,
    /// Responses written completely.
    pub answered: Arc<AtomicU64>,
    /// Requests per path.
    pub paths: Arc<Mutex<HashMap<String, u64>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    pub fn start(handler: impl Fn(u64, &Req) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let paths = Arc::new(Mutex::new(HashMap::new()));
        let seen = Arc::new(AtomicU64::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        {
            let (stop, answered, paths) = (stop.clone(), answered.clone(), paths.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (stop, answered, paths, seen, handler) = (
                                stop.clone(),
                                answered.clone(),
                                paths.clone(),
                                seen.clone(),
                                handler.clone(),
                            );
                            thread::spawn(move || {
                                serve(stream, &stop, &answered, &paths, &seen, &*handler)
                            });
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(1))
                        }
                        Err(_) => thread::sleep(Duration::from_millis(1)),
                    }
                }
            });
        }
        Server {
            addr,
            answered,
            paths,
            stop,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Responses written, after giving in-flight writes a moment to finish.
    pub fn answered_settled(&self) -> u64 {
        thread::sleep(Duration::from_millis(100));
        self.answered.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(
    mut stream: TcpStream,
    stop: &AtomicBool,
    answered: &AtomicU64,
    paths: &Mutex<HashMap<String, u64>>,
    seen: &AtomicU64,
    handler: &Handler,
) {
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        // Answer every complete request in the buffer.
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            let head_len = match req.parse(&buf) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => break,
                Err(_) => return,
            };
            let body_len = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                .unwrap_or(0usize);
            if buf.len() < head_len + body_len {
                break;
            }
            let r = Req {
                method: req.method.unwrap_or("").to_string(),
                path: req.path.unwrap_or("").to_string(),
                body: buf[head_len..head_len + body_len].to_vec(),
            };
            buf.drain(..head_len + body_len);
            *paths.lock().unwrap().entry(r.path.clone()).or_insert(0) += 1;
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let reply = handler(n, &r);
            if reply.stall {
                while !stop.load(Ordering::Relaxed) {
                    thread::sleep(Duration::from_millis(5));
                }
                return;
            }
            if !reply.delay.is_zero() {
                thread::sleep(reply.delay);
            }
            if stream
                .write_all(&encode(&reply, r.method == "HEAD"))
                .is_err()
            {
                return;
            }
            answered.fetch_add(1, Ordering::SeqCst);
            if reply.close {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

fn encode(reply: &Reply, head: bool) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {} Test\r\n", reply.status);
    if reply.chunked {
        out.push_str("Transfer-Encoding: chunked\r\n");
    } else {
        out.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    if reply.close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    if !head {
        if reply.chunked {
            for piece in reply.body.as_bytes().chunks(4) {
                out.push_str(&format!("{:x};ext=1\r\n", piece.len()));
                out.push_str(std::str::from_utf8(piece).unwrap());
                out.push_str("\r\n");
            }
            out.push_str("0\r\nX-Trailer: 1\r\n\r\n");
        } else {
            out.push_str(reply.body);
        }
    }
    out.into_bytes()
}

/// A short closed-loop config for `urls`.
pub fn config(urls: &[String], connections: usize, millis: u64) -> Config {
    let mut c = Config::new(urls.iter().map(|u| Url::parse(u).unwrap()).collect());
    c.connections = connections;
    c.duration = Duration::from_millis(millis);
    c.timeout = Duration::from_secs(2);
    c
}

/// A port with nothing listening on it.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
