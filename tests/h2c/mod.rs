//! A minimal HTTP/2 client over cleartext (prior knowledge) for tests that must count or time
//! exactly what goes over the wire: requests as HPACK literals (no Huffman, no dynamic table),
//! frames read one by one, SETTINGS and PING acknowledged. Included with `mod h2c;`.

#![allow(dead_code)] // each test uses a part

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// DATA.
pub const DATA: u8 = 0x0;
/// HEADERS.
pub const HEADERS: u8 = 0x1;
/// RST_STREAM.
pub const RST_STREAM: u8 = 0x3;
/// SETTINGS.
pub const SETTINGS: u8 = 0x4;
/// PING.
pub const PING: u8 = 0x6;
/// GOAWAY.
pub const GOAWAY: u8 = 0x7;
/// END_STREAM (DATA, HEADERS).
pub const END_STREAM: u8 = 0x1;
/// ACK (SETTINGS, PING).
pub const ACK: u8 = 0x1;
/// END_HEADERS.
pub const END_HEADERS: u8 = 0x4;

/// Appends a frame to `out`.
pub fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// A frame received.
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// A HEADERS frame whose block starts with `:status 200` (static index 8, as every
    /// encoder writes it).
    pub fn is_200(&self) -> bool {
        self.kind == HEADERS && self.payload.first() == Some(&0x88)
    }

    /// GOAWAY's last stream id and error code.
    pub fn goaway(&self) -> (u32, u32) {
        let p = &self.payload;
        (
            u32::from_be_bytes(p[0..4].try_into().unwrap()) & 0x7fff_ffff,
            u32::from_be_bytes(p[4..8].try_into().unwrap()),
        )
    }
}

/// One h2c connection.
pub struct Client {
    pub s: TcpStream,
    next_id: u32,
    buf: Vec<u8>,
}

impl Client {
    /// Connects and sends the preface, SETTINGS (stream windows of 2^31 - 1) and a connection
    /// WINDOW_UPDATE to the same: the client never runs out of receive window.
    pub fn connect(addr: SocketAddr) -> io::Result<Client> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.set_nodelay(true)?;
        let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        frame(&mut out, SETTINGS, 0, 0, &[0, 4, 0x7f, 0xff, 0xff, 0xff]);
        frame(
            &mut out,
            0x8,
            0,
            0,
            &(0x7fff_ffffu32 - 65_535).to_be_bytes(),
        );
        s.write_all(&out)?;
        Ok(Client {
            s,
            next_id: 1,
            buf: Vec::new(),
        })
    }

    /// Appends a request's HEADERS to `out` (`:method`: GET, or POST when `post`; `:scheme`
    /// http; `:path`; `:authority` t), with END_STREAM when `end`; returns its stream id.
    pub fn request(&mut self, out: &mut Vec<u8>, post: bool, path: &str, end: bool) -> u32 {
        let id = self.next_id;
        self.next_id += 2;
        let mut block = vec![if post { 0x83 } else { 0x82 }, 0x86];
        block.extend_from_slice(&[0x04, path.len() as u8]);
        block.extend_from_slice(path.as_bytes());
        block.extend_from_slice(&[0x01, 1, b't']);
        let flags = END_HEADERS | if end { END_STREAM } else { 0 };
        frame(out, HEADERS, flags, id, &block);
        id
    }

    /// Writes `out`.
    pub fn send(&mut self, out: &[u8]) -> io::Result<()> {
        self.s.write_all(out)
    }

    /// The next frame; SETTINGS and PING that want one are acknowledged (and returned too).
    /// End of stream is `UnexpectedEof`.
    pub fn read_frame(&mut self) -> io::Result<Frame> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let f = Frame {
                        kind: self.buf[3],
                        flags: self.buf[4],
                        stream: u32::from_be_bytes(self.buf[5..9].try_into().unwrap())
                            & 0x7fff_ffff,
                        payload: self.buf[9..9 + len].to_vec(),
                    };
                    self.buf.drain(..9 + len);
                    if (f.kind == SETTINGS || f.kind == PING) && f.flags & ACK == 0 {
                        let mut ack = Vec::new();
                        // A SETTINGS ACK is empty, a PING ACK echoes the data.
                        let payload: &[u8] = if f.kind == PING { &f.payload } else { &[] };
                        frame(&mut ack, f.kind, ACK, 0, payload);
                        self.s.write_all(&ack)?;
                    }
                    return Ok(f);
                }
            }
            let got = self.s.read(&mut chunk)?;
            if got == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..got]);
        }
    }
}
