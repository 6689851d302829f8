//! One client connection: its socket, read and write buffers, response parser, and the
//! requests it has in flight. Buffers are allocated once and reused for every request.

use std::collections::VecDeque;
use std::io::{self, Read, Write};

use mio::net::TcpStream;

use crate::parse::{ParseError, Response, ResponseParser};

/// Initial read buffer size; it only grows for response heads larger than this.
const INITIAL_READ_BUF: usize = 16 * 1024;
/// Largest read buffer (and so largest response head) accepted.
const MAX_READ_BUF: usize = 1024 * 1024;

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No socket; connect again at `retry_at_ns`.
    Down { retry_at_ns: u64 },
    /// Non-blocking connect under way since `since_ns`.
    Connecting { since_ns: u64 },
    /// Connected.
    Open,
}

/// A request written (or queued for writing) whose response has not arrived yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InFlight {
    /// When the schedule meant it to be sent (same as `sent_ns` in closed loop).
    pub intended_ns: u64,
    /// When it was actually handed to the socket.
    pub sent_ns: u64,
}

/// Result of one `read` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadOutcome {
    /// `len` bytes arrived; `short` if fewer than the free space, so the socket is drained.
    Data { len: usize, short: bool },
    /// The peer closed the connection.
    Eof,
    /// Nothing to read right now.
    WouldBlock,
    /// A response head did not fit in the largest read buffer.
    HeadTooLarge,
}

/// A client connection.
pub(crate) struct Conn {
    /// The socket, while connecting or open.
    pub stream: Option<TcpStream>,
    /// Life-cycle phase.
    pub phase: Phase,
    /// Bumped on every (re)connect; events for older sockets are ignored.
    pub generation: u32,
    /// Index of the target (address) this connection talks to.
    pub target: usize,
    /// Round-robin cursor over the target's URLs.
    pub next_url: usize,
    /// Requests awaiting a response, oldest first.
    pub inflight: VecDeque<InFlight>,
    /// Whether this connection is in the worker's open-loop ready queue.
    pub in_ready: bool,
    /// `https://`: the TLS session over `stream` (requests written before the handshake
    /// completes wait in it and go out right after).
    pub tls: Option<Box<rustls::ClientConnection>>,
    parser: ResponseParser,
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    wbuf: Vec<u8>,
    wpos: usize,
}

impl Conn {
    /// A connection (not yet connected) to `target`, starting its URL rotation at
    /// `first_url`, with room for `pipeline` requests in flight.
    pub fn new(target: usize, first_url: usize, head_request: bool, pipeline: usize) -> Self {
        Conn {
            stream: None,
            phase: Phase::Down { retry_at_ns: 0 },
            generation: 0,
            target,
            next_url: first_url,
            inflight: VecDeque::with_capacity(pipeline),
            in_ready: false,
            tls: None,
            parser: ResponseParser::new(head_request),
            rbuf: vec![0; INITIAL_READ_BUF],
            rstart: 0,
            rend: 0,
            wbuf: Vec::with_capacity(4096),
            wpos: 0,
        }
    }

    /// Closes the socket and forgets everything in flight; the buffers are kept.
    pub fn clear(&mut self) {
        self.stream = None;
        self.tls = None;
        self.inflight.clear();
        self.parser.reset();
        self.rstart = 0;
        self.rend = 0;
        self.wbuf.clear();
        self.wpos = 0;
    }

    /// Appends `request` to the write buffer and remembers it as in flight.
    pub fn queue(&mut self, request: &[u8], flight: InFlight) {
        self.wbuf.extend_from_slice(request);
        self.inflight.push_back(flight);
    }

    /// Writes as much of the write buffer as the socket takes. `Ok(true)`: all written;
    /// `Ok(false)`: the socket is full, wait until it is writable.
    pub fn flush(&mut self) -> io::Result<bool> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(true);
        };
        if let Some(tls) = self.tls.as_mut() {
            // Encrypted (or held until the handshake is done) in one go, then sent.
            if self.wpos < self.wbuf.len() {
                tls.writer().write_all(&self.wbuf[self.wpos..])?;
            }
            self.wbuf.clear();
            self.wpos = 0;
            return write_tls(tls, stream);
        }
        while self.wpos < self.wbuf.len() {
            match stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        Ok(true)
    }

    /// Reads once into the free end of the read buffer (compacting or growing it first if
    /// it is full).
    pub fn read(&mut self) -> io::Result<ReadOutcome> {
        if self.rend == self.rbuf.len() {
            if self.rstart > 0 {
                self.rbuf.copy_within(self.rstart..self.rend, 0);
                self.rend -= self.rstart;
                self.rstart = 0;
            } else if self.rbuf.len() < MAX_READ_BUF {
                let len = self.rbuf.len() * 2;
                self.rbuf.resize(len, 0);
            } else {
                return Ok(ReadOutcome::HeadTooLarge);
            }
        }
        let Some(stream) = self.stream.as_mut() else {
            return Ok(ReadOutcome::Eof);
        };
        let space = self.rbuf.len() - self.rend;
        if let Some(tls) = self.tls.as_mut() {
            let outcome = read_tls(tls, stream, &mut self.rbuf[self.rend..])?;
            if let ReadOutcome::Data { len, .. } = outcome {
                self.rend += len;
            }
            return Ok(outcome);
        }
        loop {
            return match stream.read(&mut self.rbuf[self.rend..]) {
                Ok(0) => Ok(ReadOutcome::Eof),
                Ok(len) => {
                    self.rend += len;
                    Ok(ReadOutcome::Data {
                        len,
                        short: len < space,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadOutcome::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }

    /// Parses the next complete response out of the read buffer, if there is one.
    pub fn next_response(&mut self) -> Result<Option<Response>, ParseError> {
        let (used, resp) = self.parser.parse(&self.rbuf[self.rstart..self.rend])?;
        self.rstart += used;
        if self.rstart == self.rend {
            self.rstart = 0;
            self.rend = 0;
        }
        Ok(resp)
    }

    /// The peer closed the connection: completes a response delimited by the close, or
    /// reports one that was cut off.
    pub fn eof(&mut self) -> Result<Option<Response>, ParseError> {
        if self.parser.is_idle() && self.rstart < self.rend {
            return Err(ParseError::UnexpectedEof); // partial head
        }
        self.parser.eof()
    }
}

/// Sends the TLS records `tls` has ready. `Ok(false)`: the socket is full.
fn write_tls(tls: &mut rustls::ClientConnection, stream: &mut TcpStream) -> io::Result<bool> {
    while tls.wants_write() {
        match tls.write_tls(stream) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// Decrypted response bytes into `buf`: what rustls holds first, else records from the
/// socket (answering the handshake on the way). `short` is never set: the caller reads
/// again until `WouldBlock`, which is when the socket is drained.
fn read_tls(
    tls: &mut rustls::ClientConnection,
    stream: &mut TcpStream,
    buf: &mut [u8],
) -> io::Result<ReadOutcome> {
    loop {
        match tls.reader().read(buf) {
            Ok(0) => return Ok(ReadOutcome::Eof), // close_notify
            Ok(len) => return Ok(ReadOutcome::Data { len, short: false }),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // The peer closed the socket without close_notify: an end of stream all the
            // same (a response cut short is caught by its framing).
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(ReadOutcome::Eof),
            Err(e) => return Err(e),
        }
        match tls.read_tls(stream) {
            Ok(0) => return Ok(ReadOutcome::Eof),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadOutcome::WouldBlock),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let state = tls
            .process_new_packets()
            .map_err(|e| io::Error::other(TlsError(e)));
        // Handshake flights, alerts, key updates: sent now (or on the next writable event).
        write_tls(tls, stream)?;
        state?;
    }
}

/// A TLS failure, told apart from socket errors (the worker reports the first one).
#[derive(Debug)]
pub(crate) struct TlsError(pub rustls::Error);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for TlsError {}
