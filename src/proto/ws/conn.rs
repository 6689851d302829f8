//! The sans-I/O WebSocket server connection: the message layer over
//! [`super::frame`].
//!
//! [`Connection::recv`] takes the bytes the engine read, unmasks payloads in
//! place in the engine's buffer, and returns how many it consumed (the rest
//! is an incomplete frame header the engine presents again with more; a
//! payload is consumed as it arrives, so the engine never holds a whole
//! frame). What happened comes out of [`Connection::poll_event`]. The
//! application's messages ([`Connection::send_text`],
//! [`Connection::send_binary`], [`Connection::send_fragment`],
//! [`Connection::ping`], [`Connection::close`]) and the protocol's own
//! answers (pongs, the close echo, the close that fails the connection) land
//! in [`Connection::output`], which the engine writes and then
//! [`Connection::advance_output`]s.
//!
//! The close handshake (RFC 6455 7): when the client closes first, the
//! Close is echoed and the state is [`State::Closed`]: the engine writes the
//! output and closes the TCP connection (the server closes first, RFC 6455
//! 7.1.1). When the application closes first, the state is
//! [`State::CloseSent`] until the client's Close arrives. A protocol error
//! sends a Close with its code ([`ProtocolError::close_code`]) and goes
//! straight to [`State::Closed`] (RFC 6455 7.1.7, "Fail the WebSocket
//! Connection").

use std::collections::VecDeque;
use std::time::Instant;

use super::deflate::{DeflateParams, Deflater, InflateError, Inflater};
use super::error::{CloseCode, ProtocolError};
use super::frame::{self, opcode, FrameHeader, Parsed, MAX_CONTROL_PAYLOAD};
use super::limits::WebSocketLimits;
use super::utf8::Utf8Validator;

/// In streaming mode, a fragment event is emitted at every frame end and
/// whenever this many bytes are waiting (inflation can make one frame large).
const STREAM_CHUNK: usize = 64 * 1024;

/// The largest buffer [`Connection::recycle`] keeps for the next message: what an ordinary
/// message needs, without letting one large message pin its memory to an idle connection.
pub const RECYCLE_MAX: usize = 64 * 1024;

/// A data message's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// UTF-8 text (validated before it is delivered).
    Text,
    /// Binary data.
    Binary,
}

/// What the connection tells the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole text message (the default mode), inflated and validated (once, as it
    /// arrived: the `String` is built from the validated pieces).
    Text(String),
    /// A whole binary message (the default mode), inflated.
    Binary(Vec<u8>),
    /// A piece of a message (streaming mode, [`Connection::set_streaming`]).
    /// The pieces of one message, concatenated, are the message; text
    /// pieces are validated so far, and the whole once `fin` is set, but a
    /// piece may end inside a UTF-8 sequence.
    Fragment {
        /// Text or binary.
        kind: MessageKind,
        /// The bytes.
        data: Vec<u8>,
        /// The last piece of the message.
        fin: bool,
    },
    /// The client sent a Ping; the Pong is already queued.
    Ping(Vec<u8>),
    /// The client sent a Pong (solicited or not).
    Pong(Vec<u8>),
    /// The client sent a Close. If the application had not closed, the
    /// echo is queued. The state is now [`State::Closed`].
    Close {
        /// The code, `None` for an empty Close (1005 to an application).
        code: Option<CloseCode>,
        /// The reason (UTF-8, at most 123 bytes).
        reason: String,
    },
    /// This core failed the connection: a Close with the error's code is
    /// queued (unless one was already sent) and the state is
    /// [`State::Closed`].
    Failed(ProtocolError),
    /// A timer of [`Connection::tick`] ran out; the state is
    /// [`State::Closed`] and nothing more is sent: the engine closes the
    /// TCP connection.
    TimedOut(Timeout),
}

/// Which timer ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeout {
    /// No Pong came within [`WebSocketLimits::keep_alive_timeout`] of a
    /// keep-alive Ping.
    Pong,
    /// The client did not answer our Close within
    /// [`WebSocketLimits::close_timeout`].
    Close,
}

/// The close handshake's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// The application sent a Close; reading goes on until the client's.
    CloseSent,
    /// Both Closes are done, or the connection failed: the engine writes
    /// what is left of the output, then closes the TCP connection.
    Closed,
}

/// Why an application action was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The output holds more than
    /// [`WebSocketLimits::max_output_buffer_size`]: wait until the engine
    /// has written some (back-pressure).
    Full,
    /// A Close was sent: no more messages.
    Closed,
    /// A whole message or a new message's first fragment while a fragmented
    /// message is being sent.
    FragmentInProgress,
    /// A control payload over 125 bytes (a Close's is 2 + reason).
    ControlTooLong,
    /// A close code that may not be sent ([`CloseCode::is_valid_on_wire`]).
    InvalidCloseCode,
}

#[derive(Debug, Clone, Copy)]
enum Rx {
    Header,
    Payload {
        header: FrameHeader,
        remaining: u64,
        offset: u64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Incoming {
    kind: MessageKind,
    compressed: bool,
    /// Delivered in fragments ([`Connection::set_streaming`] when it began).
    streaming: bool,
    len: u64,
}

impl Incoming {
    /// Whether the message is built as a `String` (a whole text message).
    fn builds_text(&self) -> bool {
        self.kind == MessageKind::Text && !self.streaming
    }
}

/// One WebSocket connection, server side.
#[derive(Debug)]
pub struct Connection {
    limits: WebSocketLimits,
    state: State,
    rx: Rx,
    msg: Option<Incoming>,
    buf: Vec<u8>,
    /// A whole text message being received (the default mode): built from validated pieces,
    /// in the storage of `buf` (swapped in at its start, and back by [`Connection::recycle`]).
    text: String,
    /// The payload length of the last data frame, for [`Connection::read_hint`].
    last_frame_len: u64,
    control: Vec<u8>,
    utf8: Utf8Validator,
    inflater: Option<Inflater>,
    deflater: Option<Deflater>,
    streaming: bool,
    out: Vec<u8>,
    scratch: Vec<u8>,
    events: VecDeque<Event>,
    tx_fragment: Option<bool>,
    next_ping: Option<Instant>,
    ping_sent: Option<Instant>,
    close_sent: Option<Instant>,
    refused_inflating: bool,
}

impl Connection {
    /// A connection after a successful handshake, with the negotiated
    /// permessage-deflate parameters, if any.
    pub fn new(limits: WebSocketLimits, deflate: Option<DeflateParams>) -> Self {
        Connection {
            state: State::Open,
            rx: Rx::Header,
            msg: None,
            buf: Vec::new(),
            text: String::new(),
            last_frame_len: 0,
            control: Vec::with_capacity(MAX_CONTROL_PAYLOAD),
            utf8: Utf8Validator::new(),
            inflater: deflate.as_ref().map(Inflater::new),
            deflater: deflate
                .as_ref()
                .map(|p| Deflater::new(p, limits.compression_level.min(9))),
            streaming: false,
            out: Vec::new(),
            scratch: Vec::new(),
            events: VecDeque::new(),
            tx_fragment: None,
            next_ping: None,
            ping_sent: None,
            close_sent: None,
            refused_inflating: false,
            limits,
        }
    }

    /// Deliver messages as [`Event::Fragment`]s as they arrive rather than
    /// whole (set it between messages).
    pub fn set_streaming(&mut self, streaming: bool) {
        self.streaming = streaming;
    }

    /// The close handshake's state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Brings the time: sends a keep-alive Ping every
    /// [`WebSocketLimits::keep_alive_interval`] (counted from the first
    /// tick), ends the connection when its Pong does not come within
    /// [`WebSocketLimits::keep_alive_timeout`] (any Pong answers it), and
    /// when the client does not answer our Close within
    /// [`WebSocketLimits::close_timeout`] (counted from the first tick
    /// after the Close was sent). The engine calls it from a timer, at
    /// least as often as the shortest of these.
    pub fn tick(&mut self, now: Instant) {
        match self.state {
            State::Closed => {}
            State::CloseSent => {
                let since = *self.close_sent.get_or_insert(now);
                if now.saturating_duration_since(since) >= self.limits.close_timeout {
                    self.time_out(Timeout::Close);
                }
            }
            State::Open => {
                if let (Some(sent), Some(timeout)) =
                    (self.ping_sent, self.limits.keep_alive_timeout)
                {
                    if now.saturating_duration_since(sent) >= timeout {
                        self.time_out(Timeout::Pong);
                        return;
                    }
                }
                let Some(interval) = self.limits.keep_alive_interval else {
                    return;
                };
                let next = *self.next_ping.get_or_insert(now + interval);
                if now >= next {
                    frame::encode_frame(&mut self.out, true, false, opcode::PING, b"");
                    self.ping_sent.get_or_insert(now);
                    self.next_ping = Some(now + interval);
                }
            }
        }
    }

    /// When [`Connection::tick`] next has something to do: the next keep-alive Ping, the end
    /// of the Pong wait or of the close wait; `now` while a timer has not started counting
    /// (before the first tick, or right after our Close); `None` when no timer runs.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            State::CloseSent => Some(
                self.close_sent
                    .map_or(now, |s| s + self.limits.close_timeout),
            ),
            State::Open => {
                let pong = match (self.ping_sent, self.limits.keep_alive_timeout) {
                    (Some(sent), Some(t)) => Some(sent + t),
                    _ => None,
                };
                let ping = self
                    .limits
                    .keep_alive_interval
                    .map(|_| self.next_ping.unwrap_or(now));
                match (pong, ping) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
        }
    }

    /// Whether the connection failed because a compressed message inflated past
    /// [`WebSocketLimits::max_message_size`] (a compression bomb refused).
    pub fn refused_while_inflating(&self) -> bool {
        self.refused_inflating
    }

    /// The limits this connection runs under.
    pub fn limits(&self) -> &WebSocketLimits {
        &self.limits
    }

    fn time_out(&mut self, t: Timeout) {
        self.state = State::Closed;
        self.msg = None;
        self.events.push_back(Event::TimedOut(t));
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Bytes waiting to be written.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// The output buffer itself, for an engine that sends it without copying: it may take
    /// the bytes and leave an empty buffer in its place (another `Vec`'s storage is fine);
    /// whatever it leaves in it is still output.
    pub fn output_buffer(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Gives back the buffer of a delivered message ([`Event::Binary`], [`Event::Text`] as
    /// `into_bytes()`, or [`Event::Fragment`] data) to receive the next one into, so that
    /// receiving allocates nothing. It is kept when the connection holds no buffer of its own
    /// at that moment and its capacity is at most [`RECYCLE_MAX`]; otherwise it is dropped. A
    /// connection holds at most one such buffer, idle or not.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.buf.capacity() == 0 && self.text.capacity() == 0 && buf.capacity() <= RECYCLE_MAX {
            buf.clear();
            self.buf = buf;
        }
    }

    /// The engine wrote `n` bytes of [`Connection::output`].
    pub fn advance_output(&mut self, n: usize) {
        self.out.drain(..n.min(self.out.len()));
    }

    /// How many bytes the engine's next read should make room for: the rest of the frame
    /// being received and the next frame's header or, between frames, as much as the last
    /// data frame took (the next one is likely alike). A hint: any amount may be read.
    pub fn read_hint(&self) -> usize {
        let rest = match self.rx {
            Rx::Payload { remaining, .. } => remaining,
            Rx::Header => self.last_frame_len,
        };
        usize::try_from(rest.saturating_add(frame::MAX_HEADER_LEN as u64)).unwrap_or(usize::MAX)
    }

    /// Whether the output is over its limit: `recv` reads nothing until the
    /// engine has written some.
    pub fn is_output_full(&self) -> bool {
        self.out.len() > self.limits.max_output_buffer_size
    }

    /// Takes bytes the engine read, unmasking payloads in place, and
    /// returns how many it consumed: all of them but an incomplete frame
    /// header, or fewer while the output is full, or up to the end of the
    /// first frame that produced an event. After [`State::Closed`], input is
    /// consumed and ignored.
    ///
    /// Stopping at an event keeps the connection's answers in order with the
    /// application's: a message and a Close that arrived in one read are a
    /// message the application can still answer (RFC 6455 5.5.1 lets it
    /// finish sending before the Close echo), not a Close echoed before it
    /// has seen the message. The engine presents the rest again once the
    /// event is taken.
    pub fn recv(&mut self, input: &mut [u8]) -> usize {
        let mut pos = 0;
        let events = self.events.len();
        while self.state != State::Closed {
            if self.is_output_full() || self.events.len() > events {
                return pos;
            }
            let step = match self.rx {
                Rx::Header => match frame::parse_header(&input[pos..], self.inflater.is_some()) {
                    Ok(Parsed::Incomplete) => return pos,
                    Ok(Parsed::Complete(h)) => {
                        pos += h.header_len;
                        self.start_frame(&h).and_then(|()| {
                            self.rx = Rx::Payload {
                                header: h,
                                remaining: h.payload_len,
                                offset: 0,
                            };
                            if h.payload_len == 0 {
                                self.rx = Rx::Header;
                                self.end_frame(&h)
                            } else {
                                Ok(())
                            }
                        })
                    }
                    Err(e) => Err(e),
                },
                Rx::Payload {
                    header,
                    remaining,
                    offset,
                } => {
                    let avail = input.len() - pos;
                    if avail == 0 {
                        return pos;
                    }
                    let n = remaining.min(avail as u64) as usize;
                    let chunk = &mut input[pos..pos + n];
                    if let Some(mask) = header.mask {
                        frame::apply_mask(chunk, mask, offset);
                    }
                    pos += n;
                    let remaining = remaining - n as u64;
                    self.rx = if remaining == 0 {
                        Rx::Header
                    } else {
                        Rx::Payload {
                            header,
                            remaining,
                            offset: offset + n as u64,
                        }
                    };
                    self.frame_data(&header, chunk).and_then(|()| {
                        if remaining == 0 {
                            self.end_frame(&header)
                        } else {
                            Ok(())
                        }
                    })
                }
            };
            if let Err(e) = step {
                self.fail(e);
            }
        }
        input.len()
    }

    fn start_frame(&mut self, h: &FrameHeader) -> Result<(), ProtocolError> {
        if opcode::is_control(h.opcode) {
            self.control.clear();
            return Ok(());
        }
        if h.payload_len > self.limits.max_frame_size {
            return Err(ProtocolError::FrameTooLarge);
        }
        let msg = match (h.opcode, self.msg) {
            (opcode::CONTINUATION, None) => return Err(ProtocolError::UnexpectedContinuation),
            (opcode::CONTINUATION, Some(_)) if h.rsv1 => return Err(ProtocolError::ReservedBits),
            (opcode::CONTINUATION, Some(m)) => m,
            (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (op, None) => {
                self.utf8 = Utf8Validator::new();
                if op == opcode::TEXT && !self.streaming && self.text.capacity() == 0 {
                    // The text is built in the message buffer's storage (empty here: taken at
                    // the last message's end, or recycled), so an empty `String`.
                    let mut storage = std::mem::take(&mut self.buf);
                    storage.clear();
                    self.text = String::from_utf8(storage).unwrap_or_default();
                }
                let m = Incoming {
                    kind: if op == opcode::TEXT {
                        MessageKind::Text
                    } else {
                        MessageKind::Binary
                    },
                    compressed: h.rsv1,
                    streaming: self.streaming,
                    len: 0,
                };
                self.msg = Some(m);
                m
            }
        };
        if !msg.compressed {
            if msg.len.saturating_add(h.payload_len) > self.limits.max_message_size {
                return Err(ProtocolError::MessageTooLarge);
            }
            // Room for the frame's payload, up to 64 KiB before any of it
            // has arrived: one allocation per ordinary message.
            let room = h.payload_len.min(STREAM_CHUNK as u64) as usize;
            if msg.builds_text() {
                self.text.reserve(room);
            } else {
                self.buf.reserve(room);
            }
        }
        if !opcode::is_control(h.opcode) {
            self.last_frame_len = h.payload_len;
        }
        Ok(())
    }

    fn frame_data(&mut self, h: &FrameHeader, chunk: &[u8]) -> Result<(), ProtocolError> {
        if opcode::is_control(h.opcode) {
            self.control.extend_from_slice(chunk);
            return Ok(());
        }
        let Some(mut msg) = self.msg else {
            return Ok(());
        };
        if msg.compressed {
            let mut budget = self.limits.max_message_size - msg.len;
            let r = match self.inflater.as_mut() {
                Some(inf) => {
                    let mut sink = Sink::new(
                        &mut self.buf,
                        &mut self.text,
                        &mut self.utf8,
                        &mut self.events,
                        msg.streaming,
                        msg.kind,
                    );
                    let r = inf.inflate(chunk, &mut budget, &mut |b| sink.put(b));
                    sink.result(r)
                }
                None => Err(ProtocolError::ReservedBits),
            };
            msg.len = self.limits.max_message_size - budget;
            self.msg = Some(msg);
            r
        } else {
            msg.len += chunk.len() as u64;
            self.msg = Some(msg);
            let mut sink = Sink::new(
                &mut self.buf,
                &mut self.text,
                &mut self.utf8,
                &mut self.events,
                msg.streaming,
                msg.kind,
            );
            let ok = sink.put(chunk);
            sink.result(if ok {
                Ok(())
            } else {
                Err(InflateError::Corrupt)
            })
        }
    }

    fn end_frame(&mut self, h: &FrameHeader) -> Result<(), ProtocolError> {
        match h.opcode {
            opcode::PING => {
                if self.state == State::Open {
                    frame::encode_frame(&mut self.out, true, false, opcode::PONG, &self.control);
                }
                self.events.push_back(Event::Ping(self.control.clone()));
                return Ok(());
            }
            opcode::PONG => {
                self.ping_sent = None;
                self.events.push_back(Event::Pong(self.control.clone()));
                return Ok(());
            }
            opcode::CLOSE => return self.on_close(),
            _ => {}
        }
        let Some(mut msg) = self.msg else {
            return Ok(());
        };
        if !h.fin {
            if msg.streaming && !self.buf.is_empty() {
                let data = std::mem::take(&mut self.buf);
                self.events.push_back(Event::Fragment {
                    kind: msg.kind,
                    data,
                    fin: false,
                });
            }
            return Ok(());
        }
        if msg.compressed {
            let mut budget = self.limits.max_message_size - msg.len;
            let r = match self.inflater.as_mut() {
                Some(inf) => {
                    let mut sink = Sink::new(
                        &mut self.buf,
                        &mut self.text,
                        &mut self.utf8,
                        &mut self.events,
                        msg.streaming,
                        msg.kind,
                    );
                    let r = inf.finish_message(&mut budget, &mut |b| sink.put(b));
                    sink.result(r)
                }
                None => Err(ProtocolError::ReservedBits),
            };
            msg.len = self.limits.max_message_size - budget;
            r?;
        }
        if msg.kind == MessageKind::Text && self.utf8.finish().is_err() {
            return Err(ProtocolError::InvalidUtf8);
        }
        self.msg = None;
        if msg.builds_text() {
            self.events
                .push_back(Event::Text(std::mem::take(&mut self.text)));
            return Ok(());
        }
        let data = std::mem::take(&mut self.buf);
        self.events.push_back(if msg.streaming {
            Event::Fragment {
                kind: msg.kind,
                data,
                fin: true,
            }
        } else {
            Event::Binary(data)
        });
        Ok(())
    }

    fn on_close(&mut self) -> Result<(), ProtocolError> {
        let (code, reason) = match self.control.len() {
            0 => (None, String::new()),
            1 => return Err(ProtocolError::BadClosePayload),
            _ => {
                let code = CloseCode(u16::from_be_bytes([self.control[0], self.control[1]]));
                if !code.is_valid_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode);
                }
                let reason = std::str::from_utf8(&self.control[2..])
                    .map_err(|_| ProtocolError::InvalidCloseReason)?;
                (Some(code), reason.to_string())
            }
        };
        if self.state == State::Open {
            // Echo the code (RFC 6455 5.5.1), not the reason.
            let payload = code.map(|c| c.0.to_be_bytes());
            frame::encode_frame(
                &mut self.out,
                true,
                false,
                opcode::CLOSE,
                payload.as_ref().map_or(&[][..], |p| &p[..]),
            );
        }
        self.state = State::Closed;
        self.msg = None;
        self.events.push_back(Event::Close { code, reason });
        Ok(())
    }

    fn fail(&mut self, e: ProtocolError) {
        self.refused_inflating =
            e == ProtocolError::MessageTooLarge && self.msg.is_some_and(|m| m.compressed);
        if self.state == State::Open {
            let code = e.close_code().0.to_be_bytes();
            frame::encode_frame(&mut self.out, true, false, opcode::CLOSE, &code);
        }
        self.state = State::Closed;
        self.msg = None;
        self.buf = Vec::new();
        self.text = String::new();
        self.events.push_back(Event::Failed(e));
    }

    fn check_send(&self) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        if self.is_output_full() {
            return Err(SendError::Full);
        }
        Ok(())
    }

    /// Sends a whole text message (compressed when permessage-deflate was
    /// negotiated and the message is at least
    /// [`WebSocketLimits::compression_threshold`] bytes long).
    pub fn send_text(&mut self, text: &str) -> Result<(), SendError> {
        self.send_message(MessageKind::Text, text.as_bytes())
    }

    /// Sends a whole binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.send_message(MessageKind::Binary, data)
    }

    fn send_message(&mut self, kind: MessageKind, data: &[u8]) -> Result<(), SendError> {
        if self.tx_fragment.is_some() {
            return Err(SendError::FragmentInProgress);
        }
        self.send_frame(kind, data, true, true)
    }

    /// Sends one fragment of a message: the first call opens a message of
    /// `kind`, later ones continue it (their `kind` is ignored), the one
    /// with `fin` ends it; control frames may be sent in between. The
    /// concatenated fragments of a text message must be UTF-8 (a piece may
    /// split a character).
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        fin: bool,
    ) -> Result<(), SendError> {
        let first = self.tx_fragment.is_none();
        self.send_frame(kind, data, first, fin)
    }

    fn send_frame(
        &mut self,
        kind: MessageKind,
        data: &[u8],
        first: bool,
        fin: bool,
    ) -> Result<(), SendError> {
        self.check_send()?;
        let op = match (first, kind) {
            (false, _) => opcode::CONTINUATION,
            (true, MessageKind::Text) => opcode::TEXT,
            (true, MessageKind::Binary) => opcode::BINARY,
        };
        let compressed = if first {
            // Below the threshold a message goes out as it is (RSV1 clear, RFC 7692 6.1).
            self.deflater.is_some() && data.len() >= self.limits.compression_threshold
        } else {
            self.tx_fragment.unwrap_or(false)
        };
        match (&mut self.deflater, compressed) {
            (Some(d), true) => {
                self.scratch.clear();
                d.compress(data, fin, &mut self.scratch);
                frame::encode_frame(&mut self.out, fin, first, op, &self.scratch);
            }
            _ => frame::encode_frame(&mut self.out, fin, false, op, data),
        }
        self.tx_fragment = if fin { None } else { Some(compressed) };
        Ok(())
    }

    /// Sends a Ping (at most 125 bytes); the client's Pong comes as
    /// [`Event::Pong`].
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlTooLong);
        }
        self.check_send()?;
        frame::encode_frame(&mut self.out, true, false, opcode::PING, payload);
        Ok(())
    }

    /// Starts the close handshake with `code` and `reason` (at most 123
    /// bytes): the state becomes [`State::CloseSent`] until the client's
    /// Close comes. The Close is queued even when the output is full.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if !code.is_valid_on_wire() {
            return Err(SendError::InvalidCloseCode);
        }
        if reason.len() + 2 > MAX_CONTROL_PAYLOAD {
            return Err(SendError::ControlTooLong);
        }
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
        payload[..2].copy_from_slice(&code.0.to_be_bytes());
        payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
        frame::encode_frame(
            &mut self.out,
            true,
            false,
            opcode::CLOSE,
            &payload[..2 + reason.len()],
        );
        self.state = State::CloseSent;
        Ok(())
    }
}

/// Where a message's bytes go: validated, then buffered (or emitted as
/// fragments in streaming mode).
struct Sink<'a> {
    buf: &'a mut Vec<u8>,
    text: &'a mut String,
    utf8: &'a mut Utf8Validator,
    events: &'a mut VecDeque<Event>,
    streaming: bool,
    kind: MessageKind,
    bad_utf8: bool,
}

impl<'a> Sink<'a> {
    fn new(
        buf: &'a mut Vec<u8>,
        text: &'a mut String,
        utf8: &'a mut Utf8Validator,
        events: &'a mut VecDeque<Event>,
        streaming: bool,
        kind: MessageKind,
    ) -> Self {
        Sink {
            buf,
            text,
            utf8,
            events,
            streaming,
            kind,
            bad_utf8: false,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> bool {
        if self.kind == MessageKind::Text && !self.streaming {
            // Validated once, as it comes, and appended as text.
            if self.utf8.feed_into(bytes, self.text).is_err() {
                self.bad_utf8 = true;
                return false;
            }
            return true;
        }
        if self.kind == MessageKind::Text && self.utf8.feed(bytes).is_err() {
            self.bad_utf8 = true;
            return false;
        }
        self.buf.extend_from_slice(bytes);
        if self.streaming && self.buf.len() >= STREAM_CHUNK {
            let data = std::mem::take(self.buf);
            self.events.push_back(Event::Fragment {
                kind: self.kind,
                data,
                fin: false,
            });
        }
        true
    }

    fn result(&self, r: Result<(), InflateError>) -> Result<(), ProtocolError> {
        if self.bad_utf8 {
            return Err(ProtocolError::InvalidUtf8);
        }
        match r {
            Ok(()) => Ok(()),
            Err(InflateError::TooLarge) => Err(ProtocolError::MessageTooLarge),
            Err(InflateError::Corrupt) => Err(ProtocolError::BadCompressedData),
        }
    }
}

#[cfg(test)]
mod tests;
