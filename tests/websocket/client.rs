//! A small WebSocket client over std sockets for the tests: the handshake, masked frames of any
//! shape (reserved bits, bad opcodes, bad lengths), frames read back exactly, and
//! permessage-deflate both ways with flate2.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

/// The RFC 6455 sample key.
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A frame as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub rsv1: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// The status line's code and the header fields of a handshake response.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A masked frame: `b0` is the first byte (FIN, RSV, opcode) as given.
pub fn raw(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![b0];
    let mask = [0x37, 0xfa, 0x21, 0x3d];
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
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// A masked frame with FIN as given and no reserved bit.
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw(if fin { 0x80 } else { 0 } | opcode, payload)
}

pub fn text(s: &str) -> Vec<u8> {
    frame(true, 1, s.as_bytes())
}

pub fn binary(b: &[u8]) -> Vec<u8> {
    frame(true, 2, b)
}

pub fn close(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    frame(true, 8, &p)
}

/// A client connection after a handshake.
pub struct Client {
    pub reader: BufReader<TcpStream>,
    pub head: Head,
    deflate: Option<(Compress, Decompress)>,
}

/// Sends an upgrade request for `path` with `extra` header lines (each ending in CRLF) and
/// reads the response head.
pub fn handshake(addr: SocketAddr, path: &str, extra: &str) -> (BufReader<TcpStream>, Head) {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    let mut w = s.try_clone().unwrap();
    write!(w, "GET {path} HTTP/1.1\r\nHost: test\r\n{extra}\r\n").unwrap();
    let mut reader = BufReader::new(s);
    let head = read_head(&mut reader).expect("a response head");
    (reader, head)
}

/// The standard upgrade header lines.
pub fn upgrade_headers() -> String {
    format!(
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n\
         Sec-WebSocket-Version: 13\r\n"
    )
}

pub fn read_head<R: BufRead>(r: &mut R) -> io::Result<Head> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').unwrap_or((l, ""));
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    Ok(Head { status, headers })
}

impl Client {
    /// Connects to `path` and completes the handshake (with permessage-deflate offered when
    /// `deflate`); panics unless the answer is `101`.
    pub fn connect(addr: SocketAddr, path: &str, deflate: bool) -> Client {
        let mut extra = upgrade_headers();
        if deflate {
            extra.push_str("Sec-WebSocket-Extensions: permessage-deflate\r\n");
        }
        let (reader, head) = handshake(addr, path, &extra);
        assert_eq!(head.status, 101, "{head:?}");
        let negotiated = head
            .header("sec-websocket-extensions")
            .is_some_and(|v| v.starts_with("permessage-deflate"));
        assert_eq!(negotiated, deflate, "{head:?}");
        Client {
            reader,
            head,
            deflate: deflate.then(|| {
                (
                    Compress::new(Compression::default(), false),
                    Decompress::new(false),
                )
            }),
        }
    }

    /// A client over a handshake already done (no deflate).
    pub fn from_parts(reader: BufReader<TcpStream>, head: Head) -> Client {
        Client {
            reader,
            head,
            deflate: None,
        }
    }

    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).expect("write");
    }

    /// Compresses `data` as one permessage-deflate message body (sync flush, tail stripped).
    pub fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        let (c, _) = self.deflate.as_mut().expect("deflate negotiated");
        compress_with(c, data)
    }

    /// Reads one frame (payload inflated when RSV1 is set).
    pub fn read_frame(&mut self) -> io::Result<Frame> {
        let mut h = [0u8; 2];
        self.reader.read_exact(&mut h)?;
        let mut len = u64::from(h[1] & 0x7f);
        assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
        if len == 126 {
            let mut b = [0u8; 2];
            self.reader.read_exact(&mut b)?;
            len = u64::from(u16::from_be_bytes(b));
        } else if len == 127 {
            let mut b = [0u8; 8];
            self.reader.read_exact(&mut b)?;
            len = u64::from_be_bytes(b);
        }
        let mut payload = vec![0u8; len as usize];
        self.reader.read_exact(&mut payload)?;
        let rsv1 = h[0] & 0x40 != 0;
        if rsv1 {
            let (_, d) = self.deflate.as_mut().expect("RSV1 only with deflate");
            payload = inflate_with(d, &payload);
        }
        Ok(Frame {
            fin: h[0] & 0x80 != 0,
            rsv1,
            opcode: h[0] & 0x0f,
            payload,
        })
    }

    /// Whether the server closed the TCP connection (end of stream or reset) next.
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0) | Err(_))
    }
}

pub fn compress_with(c: &mut Compress, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    let mut input = data;
    loop {
        out.reserve(64 * 1024);
        let before = c.total_in();
        c.compress_vec(input, &mut out, FlushCompress::Sync)
            .expect("compress");
        input = &input[(c.total_in() - before) as usize..];
        if input.is_empty() && out.len() < out.capacity() {
            break;
        }
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

pub fn inflate_with(d: &mut Decompress, data: &[u8]) -> Vec<u8> {
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        out.reserve(64 * 1024);
        let before = d.total_in();
        d.decompress_vec(&input[pos..], &mut out, FlushDecompress::Sync)
            .expect("inflate");
        pos += (d.total_in() - before) as usize;
        if pos == input.len() && out.len() < out.capacity() {
            break;
        }
    }
    out
}
