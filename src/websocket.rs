//! WebSockets for applications (ASP.NET Core's `HttpContext.WebSockets`): accept an upgrade
//! request with [`HttpContext::accept_websocket`], then send and receive messages on a
//! [`WebSocket`].
//!
//! The protocol is the sans-I/O core in [`crate::proto::ws`]; this module drives it over the
//! upgraded byte stream of the connection, inside the handler's own future, so a WebSocket runs
//! on the worker that owns its connection, like the request it came from. Its timers (keep-alive
//! Ping, Pong timeout, close timeout) are the worker's own ([`crate::rt::sleep`]): they run while
//! the application awaits the socket ([`WebSocket::receive`], a send, [`WebSocket::flush`],
//! [`WebSocket::close`]).
//!
//! It sits with [`crate::rt`] in the layering (docs/architecture.md): it needs the worker's
//! timers and counters, so `HttpContext::accept_websocket` is defined here, not in `http`.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::http::{ConnectProtocol, HttpContext, UpgradeFeature, Version};
use crate::metrics::WorkerMetrics;
use crate::proto::ws::{
    accept, accept_extended_connect, Connection, Event, HandshakeConfig, HandshakeRequest, Timeout,
};
use crate::rt::{sleep, Sleep};

pub use crate::proto::ws::conn::RECYCLE_MAX;
pub use crate::proto::ws::{CloseCode, MessageKind, Rejection, SendError, State, WebSocketLimits};

/// Bytes read from the upgraded stream at a time by a server that does not lend its input
/// buffer ([`UpgradeFeature::poll_fill_upgraded`]): a buffer on the stack while reading, so an
/// idle WebSocket holds none.
const READ_CHUNK: usize = 16 * 1024;

/// How an application accepts WebSockets (ASP.NET Core's `WebSocketOptions` and
/// `WebSocketAcceptContext`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebSocketOptions {
    /// Subprotocols spoken, by preference; the first one the client offers in
    /// `Sec-WebSocket-Protocol` is chosen ([`WebSocket::protocol`]). Empty: none is chosen.
    pub protocols: Vec<String>,
    /// Origins allowed (`scheme://host[:port]`, compared case-insensitively); `None` allows any.
    /// A request from another origin gets `403`; a request without `Origin` (not a browser) is
    /// not refused.
    pub allowed_origins: Option<Vec<String>>,
    /// Accept permessage-deflate (RFC 7692) when the client offers it. Off by default, as in
    /// Kestrel: compression costs CPU per message, and compressing secrets next to
    /// attacker-controlled text in one context leaks them (CRIME/BREACH).
    pub permessage_deflate: bool,
    /// With permessage-deflate, ask the client to reset its compressor after every message
    /// (saves the 32 KiB inflate window per idle connection).
    pub request_client_no_context_takeover: bool,
    /// Limits for this socket; `None`: the server's ([`crate::server::Limits::websocket`], the
    /// `ws-*` settings).
    pub limits: Option<WebSocketLimits>,
}

impl WebSocketOptions {
    /// Options with the defaults: no subprotocol, any origin, no compression, the server's
    /// limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the subprotocols spoken, by preference.
    pub fn protocols<S: Into<String>>(mut self, protocols: impl IntoIterator<Item = S>) -> Self {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the allowed origins.
    pub fn allowed_origins<S: Into<String>>(
        mut self,
        origins: impl IntoIterator<Item = S>,
    ) -> Self {
        self.allowed_origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Accepts permessage-deflate when offered (or not).
    pub fn permessage_deflate(mut self, on: bool) -> Self {
        self.permessage_deflate = on;
        self
    }

    /// Sets this socket's limits.
    pub fn limits(mut self, limits: WebSocketLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    fn handshake(&self) -> HandshakeConfig {
        HandshakeConfig {
            protocols: self.protocols.clone(),
            allowed_origins: self.allowed_origins.clone(),
            permessage_deflate: self.permessage_deflate,
            request_client_no_context_takeover: self.request_client_no_context_takeover,
        }
    }
}

/// Why [`HttpContext::accept_websocket`] did not open a WebSocket. In every case but
/// [`Io`](AcceptError::Io) the response (status, fields, a short body) is already set: the
/// handler returns, and the server sends it.
#[derive(Debug)]
pub enum AcceptError {
    /// The handshake is invalid: `400`, `403` or `426` (with `Sec-WebSocket-Version: 13` for a
    /// wrong version), from the core's [`Rejection`].
    Handshake(Rejection),
    /// The request has a body (`400`).
    HasBody,
    /// `max_concurrent_upgraded_connections` are open (`503`).
    LimitReached,
    /// The server cannot upgrade connections (`501`; e.g. the in-memory `TestServer`), or the
    /// `101` response could not be sent (the connection is gone).
    Io(io::Error),
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcceptError::Handshake(r) => write!(f, "WebSocket handshake refused: {r:?}"),
            AcceptError::HasBody => f.write_str("a WebSocket request cannot have a body"),
            AcceptError::LimitReached => f.write_str("the upgraded-connection limit is reached"),
            AcceptError::Io(e) => write!(f, "WebSocket upgrade failed: {e}"),
        }
    }
}

impl std::error::Error for AcceptError {}

/// How a WebSocket ended: the code and reason of the client's Close, of the Close the server
/// sent when it failed the connection, or 1006 ([`CloseCode::ABNORMAL`]) when it ended without
/// a Close (the client vanished, a keep-alive or close timeout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The close code; 1005 ([`CloseCode::NO_STATUS`]) for a Close without one.
    pub code: CloseCode,
    /// The reason: the client's, or why the server ended the connection.
    pub reason: String,
}

/// What [`WebSocket::receive`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A whole text message (validated UTF-8).
    Text(String),
    /// A whole binary message.
    Binary(Vec<u8>),
    /// A piece of a message, in streaming mode ([`WebSocket::set_streaming`]); the pieces
    /// of a text message concatenated are UTF-8, but one piece may end inside a character.
    Fragment {
        /// Text or binary.
        kind: MessageKind,
        /// The bytes.
        data: Vec<u8>,
        /// The last piece of the message.
        fin: bool,
    },
    /// The client sent a Ping (already answered with a Pong).
    Ping(Vec<u8>),
    /// The client sent a Pong.
    Pong(Vec<u8>),
    /// The WebSocket ended; every later call returns it again. The handler returns, and the
    /// server closes the TCP connection.
    Close(CloseFrame),
}

/// Why a send, a ping, a flush or a close failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebSocketError {
    /// The WebSocket has ended (or the application already sent its Close).
    Closed(CloseFrame),
    /// The arguments cannot be sent: a control payload over 125 bytes, a close code that may
    /// not be sent, a whole message while a fragmented one is being sent.
    Invalid(SendError),
}

impl fmt::Display for WebSocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebSocketError::Closed(c) => {
                write!(f, "the WebSocket is closed ({} {})", c.code, c.reason)
            }
            WebSocketError::Invalid(e) => write!(f, "cannot send: {e:?}"),
        }
    }
}

impl std::error::Error for WebSocketError {}

impl<'a> HttpContext<'a> {
    /// Whether the request asks for a WebSocket: `GET` with an `Upgrade` field naming
    /// `websocket`, or an HTTP/2 extended CONNECT with `:protocol = websocket` (RFC 8441 4;
    /// see [`ConnectProtocol`]). The rest is checked by
    /// [`accept_websocket`](Self::accept_websocket), which answers a malformed handshake
    /// itself.
    pub fn is_websocket_request(&self) -> bool {
        if let Some(ConnectProtocol(p)) = self.features().get::<ConnectProtocol>() {
            return self.request().method_str() == "CONNECT" && p.eq_ignore_ascii_case("websocket");
        }
        if self.request().method_str() != "GET" {
            return false;
        }
        let r = self.request();
        (0..r.header_count())
            .filter_map(|i| r.header_at(i))
            .any(|(n, v)| {
                n.eq_ignore_ascii_case(b"upgrade")
                    && v.split(|&b| b == b',')
                        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"websocket"))
            })
    }

    /// Accepts a WebSocket (RFC 6455 4.2): validates the handshake, chooses the subprotocol,
    /// checks `Origin`, negotiates permessage-deflate, sends `101 Switching Protocols`, and
    /// returns the socket. On failure the response is set (see [`AcceptError`]) and the handler
    /// should return. The connection counts against `max_concurrent_upgraded_connections`
    /// until the handler returns.
    ///
    /// Over HTTP/2 (RFC 8441) the request is an extended CONNECT: the answer is `200` with
    /// only the negotiated `Sec-WebSocket-Protocol` / `Sec-WebSocket-Extensions` (no key, no
    /// `Sec-WebSocket-Accept`), a wrong version gets `400` (HTTP/2 has no `426`), and the
    /// socket runs over the stream's DATA frames: the same [`WebSocket`], with the stream's
    /// flow control as back-pressure, END_STREAM when the handler returns, and 1006 when the
    /// client resets the stream. The stream, not the connection, counts against
    /// `max_concurrent_upgraded_connections`.
    pub async fn accept_websocket(
        &mut self,
        options: &WebSocketOptions,
    ) -> Result<WebSocket<'_, 'a>, AcceptError> {
        let metrics = self.features().get::<Arc<WorkerMetrics>>().cloned();
        let rejected = |http: &mut Self, status: u16, fields: &[(&str, &str)], body: &str| {
            if let Some(m) = &metrics {
                m.websocket_rejected();
            }
            let _ = http.set_status(status);
            for (name, value) in fields {
                let _ = http.set_header(name, value);
            }
            let _ = http.set_header("Content-Type", "text/plain; charset=utf-8");
            http.write(body.as_bytes());
        };
        // An HTTP/2 extended CONNECT (RFC 8441) carries its `:protocol` as a feature.
        let h2 = self.features().get::<ConnectProtocol>().cloned();
        let accepted = {
            let r = self.request();
            let headers: Vec<(&[u8], &[u8])> = (0..r.header_count())
                .filter_map(|i| r.header_at(i))
                .collect();
            let req = HandshakeRequest {
                method: r.method_str().as_bytes(),
                http_minor_version: match r.version() {
                    Version::Http10 => 0,
                    Version::Http11 => 1,
                },
                headers: &headers,
            };
            match &h2 {
                Some(p) => accept_extended_connect(&req, p.0.as_bytes(), &options.handshake()),
                None => accept(&req, &options.handshake()),
            }
        };
        let accepted = match accepted {
            Ok(a) => a,
            Err(r) => {
                let body = format!("WebSocket handshake refused: {r:?}\n");
                if h2.is_some() {
                    rejected(self, r.h2_status(), r.h2_response_headers(), &body);
                } else {
                    rejected(self, r.status(), r.response_headers(), &body);
                }
                return Err(AcceptError::Handshake(r));
            }
        };
        if self.features_mut().upgrade().is_none() {
            rejected(self, 501, &[], "this server cannot upgrade connections\n");
            return Err(AcceptError::Io(io::Error::new(
                io::ErrorKind::Unsupported,
                "this server cannot upgrade connections",
            )));
        }
        if !self.is_upgradable_request() {
            // Everything else `is_upgradable_request` checks, the handshake checked.
            rejected(self, 400, &[], "a WebSocket request cannot have a body\n");
            return Err(AcceptError::HasBody);
        }
        let fields = if h2.is_some() {
            accepted.negotiated_headers()
        } else {
            accepted.response_headers()
        };
        for (name, value) in fields {
            let _ = self.set_header(name, value);
        }
        if let Err(e) = self.upgrade().await.map(drop) {
            if self.response().has_started() {
                return Err(AcceptError::Io(e));
            }
            // Refused before anything was sent: the upgraded-connection limit.
            if let Ok(h) = self.response_mut().headers_mut() {
                for name in [
                    "Upgrade",
                    "Connection",
                    "Sec-WebSocket-Accept",
                    "Sec-WebSocket-Protocol",
                    "Sec-WebSocket-Extensions",
                ] {
                    h.remove(name);
                }
            }
            rejected(
                self,
                503,
                &[("Retry-After", "1")],
                "too many upgraded connections\n",
            );
            return Err(AcceptError::LimitReached);
        }
        let limits = options
            .limits
            .clone()
            .or_else(|| self.features().get::<WebSocketLimits>().cloned())
            .unwrap_or_default();
        if let Some(m) = &metrics {
            m.websocket_opened();
        }
        Ok(WebSocket {
            compressed: accepted.deflate.is_some(),
            core: Connection::new(limits, accepted.deflate),
            protocol: accepted.protocol,
            http: self,
            pending: Vec::new(),
            in_place: true,
            writing: false,
            timer: None,
            ending: None,
            closing_timer: None,
            end: None,
            metrics,
        })
    }
}

/// An open WebSocket (server side), from [`HttpContext::accept_websocket`].
///
/// Sends wait while the client is not taking the bytes (back-pressure: the socket never
/// buffers more than one message past
/// [`WebSocketLimits::max_output_buffer_size`]); [`receive`](Self::receive) is cancel-safe (a
/// receive dropped before it completes loses nothing), so it can be raced against other
/// futures. The keep-alive Ping, the Pong timeout and the close timeout run while one of the
/// socket's methods is awaited. The TCP connection closes when the handler returns.
pub struct WebSocket<'h, 'a> {
    http: &'h mut HttpContext<'a>,
    core: Connection,
    protocol: Option<String>,
    compressed: bool,
    /// Input the core did not consume yet (an incomplete frame header, or more while the
    /// output is full), when reading by copy.
    pending: Vec<u8>,
    /// Frames are parsed where the server's input buffer holds them (until the server says it
    /// does not lend it: then read by copy, through `pending`).
    in_place: bool,
    /// Bytes are handed to the connection and not yet all sent.
    writing: bool,
    /// The armed timer and its deadline.
    timer: Option<(Instant, Sleep)>,
    /// The connection ended; what is left of the output (a Close) is being written.
    ending: Option<CloseFrame>,
    /// Bounds that last write by the close timeout.
    closing_timer: Option<Sleep>,
    /// The connection ended and the application was told.
    end: Option<CloseFrame>,
    metrics: Option<Arc<WorkerMetrics>>,
}

fn upgrade<'s>(http: &'s mut HttpContext<'_>) -> &'s mut dyn UpgradeFeature {
    http.features_mut()
        .upgrade()
        .expect("an upgraded connection keeps its upgrade feature")
}

fn abnormal(reason: &str) -> CloseFrame {
    CloseFrame {
        code: CloseCode::ABNORMAL,
        reason: reason.to_string(),
    }
}

impl WebSocket<'_, '_> {
    /// The subprotocol chosen from the client's `Sec-WebSocket-Protocol`, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Whether permessage-deflate was negotiated.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// The close handshake's state.
    pub fn state(&self) -> State {
        self.core.state()
    }

    /// The limits this socket runs under.
    pub fn limits(&self) -> &WebSocketLimits {
        self.core.limits()
    }

    /// How the WebSocket ended, once it has.
    pub fn close_frame(&self) -> Option<&CloseFrame> {
        self.end.as_ref()
    }

    /// Deliver messages as [`Message::Fragment`]s as they arrive (each frame, and every 64 KiB
    /// of a large one) instead of whole: a message may then be as large as
    /// `max_message_size` allows without being buffered. Set it between messages.
    pub fn set_streaming(&mut self, streaming: bool) {
        self.core.set_streaming(streaming);
    }

    /// The next message, control frame or the end ([`Message::Close`]; 1006 when the client
    /// vanished without a Close). Answers Pings and sends the keep-alive Ping while it waits.
    pub async fn receive(&mut self) -> Message {
        poll_fn(|cx| self.poll_receive(cx)).await
    }

    /// Gives a received message's buffer back to the socket, which receives the next message
    /// into it instead of allocating one (a message up to 64 KiB, [`RECYCLE_MAX`]; a larger
    /// buffer, or a message without data, is dropped). An echo that recycles each message
    /// receives without allocating:
    ///
    /// ```rust,no_run
    /// # async fn echo(mut ws: peregrine::websocket::WebSocket<'_, '_>) {
    /// use peregrine::websocket::Message;
    /// loop {
    ///     let message = ws.receive().await;
    ///     let sent = match &message {
    ///         Message::Text(t) => ws.send_text(t).await,
    ///         Message::Binary(b) => ws.send_binary(b).await,
    ///         Message::Close(_) => return,
    ///         _ => Ok(()),
    ///     };
    ///     ws.recycle(message);
    ///     if sent.is_err() {
    ///         return;
    ///     }
    /// }
    /// # }
    /// ```
    pub fn recycle(&mut self, message: Message) {
        match message {
            Message::Text(t) => self.core.recycle(t.into_bytes()),
            Message::Binary(data) | Message::Fragment { data, .. } => self.core.recycle(data),
            _ => {}
        }
    }

    /// Sends a text message (compressed when permessage-deflate was negotiated and it is at
    /// least [`WebSocketLimits::compression_threshold`] bytes); waits while the client is not
    /// taking bytes.
    pub async fn send_text(&mut self, text: &str) -> Result<(), WebSocketError> {
        self.send(|c| c.send_text(text), 1, text.len()).await
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, data: &[u8]) -> Result<(), WebSocketError> {
        self.send(|c| c.send_binary(data), 1, data.len()).await
    }

    /// Sends a piece of a text message: the first call starts it, the one with `fin` ends it;
    /// Pings and Pongs may go out in between. Each piece is whole characters.
    pub async fn send_text_fragment(
        &mut self,
        text: &str,
        fin: bool,
    ) -> Result<(), WebSocketError> {
        let bytes = text.as_bytes();
        self.send(
            |c| c.send_fragment(MessageKind::Text, bytes, fin),
            u64::from(fin),
            bytes.len(),
        )
        .await
    }

    /// Sends a piece of a binary message (see [`send_text_fragment`](Self::send_text_fragment)).
    pub async fn send_binary_fragment(
        &mut self,
        data: &[u8],
        fin: bool,
    ) -> Result<(), WebSocketError> {
        self.send(
            |c| c.send_fragment(MessageKind::Binary, data, fin),
            u64::from(fin),
            data.len(),
        )
        .await
    }

    /// Sends a Ping (at most 125 bytes); its Pong comes from [`receive`](Self::receive).
    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), WebSocketError> {
        self.send(|c| c.ping(payload), 0, 0).await
    }

    /// Waits until every queued byte is handed to the kernel.
    pub async fn flush(&mut self) -> Result<(), WebSocketError> {
        poll_fn(|cx| self.poll_drain(cx)).await
    }

    /// Closes the WebSocket (RFC 6455 7.1.2): sends a Close with `code` and `reason` (at most
    /// 123 bytes), then reads, dropping data messages, until the client's Close or the close
    /// timeout; returns how it ended (the client's Close, or 1006 at the timeout).
    pub async fn close(
        &mut self,
        code: CloseCode,
        reason: &str,
    ) -> Result<CloseFrame, WebSocketError> {
        if let Some(end) = self.end.clone().or_else(|| self.ending.clone()) {
            return Err(WebSocketError::Closed(end));
        }
        match self.core.close(code, reason) {
            Ok(()) => {}
            Err(SendError::Closed) => return Err(WebSocketError::Closed(self.closed_frame())),
            Err(e) => return Err(WebSocketError::Invalid(e)),
        }
        loop {
            if let Message::Close(frame) = self.receive().await {
                return Ok(frame);
            }
        }
    }

    async fn send(
        &mut self,
        mut f: impl FnMut(&mut Connection) -> Result<(), SendError>,
        messages: u64,
        bytes: usize,
    ) -> Result<(), WebSocketError> {
        poll_fn(|cx| loop {
            if self.end.is_some() || self.ending.is_some() {
                return Poll::Ready(Err(WebSocketError::Closed(self.closed_frame())));
            }
            match f(&mut self.core) {
                Ok(()) => return Poll::Ready(Ok(())),
                // Back-pressure: wait for the client to take what is queued.
                Err(SendError::Full) => {
                    if let Err(e) = std::task::ready!(self.poll_drain(cx)) {
                        return Poll::Ready(Err(e));
                    }
                }
                Err(SendError::Closed) => {
                    return Poll::Ready(Err(WebSocketError::Closed(self.closed_frame())))
                }
                Err(e) => return Poll::Ready(Err(WebSocketError::Invalid(e))),
            }
        })
        .await?;
        if let Some(m) = &self.metrics {
            m.websocket_sent(messages, bytes);
        }
        poll_fn(|cx| self.poll_drain(cx)).await
    }

    /// Writes the core's output to the connection: `Ready(Ok)` once all of it was sent.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.writing {
                // The bytes were appended on the first call; this polls the send.
                let r = upgrade(self.http).poll_write_upgraded(cx, &[]);
                match r {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(r) => {
                        self.writing = false;
                        r?;
                    }
                }
            }
            let out = self.core.output_buffer();
            if out.is_empty() {
                return Poll::Ready(Ok(()));
            }
            // The connection holds the bytes now, whether sent or not (over HTTP/1.1 it takes
            // the buffer itself and leaves us an empty one: no copy).
            let r = upgrade(self.http).poll_write_upgraded_vec(cx, out);
            match r {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    self.writing = true;
                    return Poll::Pending;
                }
            }
        }
    }

    /// Runs the core's timers: `Ready` when [`Connection::tick`] ran (something may have
    /// happened), `Pending` with a timer armed otherwise.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let now = Instant::now();
        let Some(deadline) = self.core.next_deadline(now) else {
            self.timer = None;
            return Poll::Pending;
        };
        if deadline <= now {
            self.timer = None;
            self.tick(now);
            return Poll::Ready(());
        }
        if self.timer.as_ref().map(|(d, _)| *d) != Some(deadline) {
            self.timer = Some((deadline, sleep(deadline - now)));
        }
        let (_, s) = self.timer.as_mut().expect("armed above");
        if Pin::new(s).poll(cx).is_ready() {
            self.timer = None;
            self.tick(Instant::now());
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Ticks the core; a timer that ends the connection ends it here (its event stays queued
    /// behind any messages, and `end` is what every later call reports).
    fn tick(&mut self, now: Instant) {
        let before = self.core.state();
        self.core.tick(now);
        if before != State::Closed && self.core.state() == State::Closed {
            self.finish(abnormal(if before == State::CloseSent {
                "no Close from the client within the close timeout"
            } else {
                "no Pong within the keep-alive timeout"
            }));
        }
    }

    /// Writes what is queued, running the timers meanwhile (a client that takes nothing is
    /// ended by the keep-alive Pong timeout).
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WebSocketError>> {
        loop {
            if let Some(end) = &self.end {
                return Poll::Ready(Err(WebSocketError::Closed(end.clone())));
            }
            if self.core.state() == State::Closed && self.ending.is_none() {
                // Ended (a timer, or the client's Close not yet received): `receive` says how.
                return Poll::Ready(Err(WebSocketError::Closed(self.closed_frame())));
            }
            match self.poll_flush(cx) {
                Poll::Ready(Ok(())) => return Poll::Ready(Ok(())),
                Poll::Ready(Err(e)) => {
                    let frame = abnormal(&format!("the connection failed: {e}"));
                    self.finish(frame.clone());
                    return Poll::Ready(Err(WebSocketError::Closed(frame)));
                }
                Poll::Pending => {}
            }
            if self.poll_timer(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    /// How the socket ended, for a refused send: as far as known.
    fn closed_frame(&self) -> CloseFrame {
        if let Some(f) = self.end.as_ref().or(self.ending.as_ref()) {
            return f.clone();
        }
        if self.core.state() == State::CloseSent {
            return CloseFrame {
                code: CloseCode::NORMAL,
                reason: "the application sent its Close".into(),
            };
        }
        abnormal("the WebSocket ended; receive() reports how")
    }

    fn finish(&mut self, frame: CloseFrame) {
        self.ending = None;
        self.closing_timer = None;
        self.timer = None;
        self.end = Some(frame);
    }

    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<Message> {
        let mut read_buf: Option<[u8; READ_CHUNK]> = None;
        loop {
            if let Some(end) = &self.end {
                return Poll::Ready(Message::Close(end.clone()));
            }
            if let Some(frame) = self.ending.clone() {
                // Send what is left (the Close) within the close timeout, then report the end.
                let done = match self.poll_flush(cx) {
                    Poll::Ready(_) => true,
                    Poll::Pending => {
                        let timeout = self.core.limits().close_timeout;
                        let t = self.closing_timer.get_or_insert_with(|| sleep(timeout));
                        Pin::new(t).poll(cx).is_ready()
                    }
                };
                if !done {
                    return Poll::Pending;
                }
                self.finish(frame);
                continue;
            }
            if let Some(ev) = self.core.poll_event() {
                if let Some(msg) = self.on_event(ev) {
                    return Poll::Ready(msg);
                }
                continue;
            }
            let flushed = match self.poll_flush(cx) {
                Poll::Ready(Ok(())) => true,
                Poll::Ready(Err(e)) => {
                    self.finish(abnormal(&format!("the connection failed: {e}")));
                    continue;
                }
                Poll::Pending => false,
            };
            if self.poll_timer(cx).is_ready() {
                continue;
            }
            if !flushed && self.core.is_output_full() {
                // The client is not taking our Pongs: read nothing more until it does.
                return Poll::Pending;
            }
            if self.in_place {
                match self.poll_read_in_place(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(()) => continue,
                }
            }
            if !self.pending.is_empty() {
                let mut input = std::mem::take(&mut self.pending);
                let used = self.core.recv(&mut input);
                input.drain(..used);
                self.pending = input;
                if used > 0 {
                    continue;
                }
                // An incomplete frame header: more bytes come behind it.
            }
            // Zeroed once per poll, not once per read: a 16 KiB message takes three reads.
            let buf = read_buf.get_or_insert([0u8; READ_CHUNK]);
            let p = self.pending.len();
            buf[..p].copy_from_slice(&self.pending);
            match upgrade(self.http).poll_read_upgraded(cx, &mut buf[p..]) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => self.finish(abnormal(
                    "the client closed the connection without a Close frame",
                )),
                Poll::Ready(Err(e)) => {
                    self.finish(abnormal(&format!("the connection failed: {e}")))
                }
                Poll::Ready(Ok(n)) => {
                    let len = p + n;
                    let used = self.core.recv(&mut buf[..len]);
                    self.pending.clear();
                    self.pending.extend_from_slice(&buf[used..len]);
                }
            }
        }
    }

    /// Gives the core what the server's input buffer holds, in place (unmasked there, then
    /// consumed); reads more when it holds no whole frame header. `Ready` when something
    /// happened: input consumed, the end of the stream, or a server that does not lend its
    /// buffer (`in_place` is cleared).
    fn poll_read_in_place(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let http = upgrade(self.http);
        let input = http.upgraded_input();
        if !input.is_empty() {
            let used = self.core.recv(input);
            http.consume_upgraded(used);
            if used > 0 {
                return Poll::Ready(());
            }
            // An incomplete frame header: it stays, and more bytes come behind it.
        }
        match http.poll_fill_upgraded(cx, self.core.read_hint()) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(0)) => self.finish(abnormal(
                "the client closed the connection without a Close frame",
            )),
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Unsupported => {
                self.in_place = false;
            }
            Poll::Ready(Err(e)) => self.finish(abnormal(&format!("the connection failed: {e}"))),
        }
        Poll::Ready(())
    }

    /// Turns a core event into what `receive` returns (`None`: nothing for the application
    /// yet).
    fn on_event(&mut self, ev: Event) -> Option<Message> {
        match ev {
            Event::Text(text) => {
                if let Some(m) = &self.metrics {
                    m.websocket_received(1, text.len());
                }
                Some(Message::Text(text))
            }
            Event::Binary(data) => {
                if let Some(m) = &self.metrics {
                    m.websocket_received(1, data.len());
                }
                Some(Message::Binary(data))
            }
            Event::Fragment { kind, data, fin } => {
                if let Some(m) = &self.metrics {
                    m.websocket_received(u64::from(fin), data.len());
                }
                Some(Message::Fragment { kind, data, fin })
            }
            Event::Ping(p) => Some(Message::Ping(p)),
            Event::Pong(p) => Some(Message::Pong(p)),
            Event::Close { code, reason } => {
                self.ending = Some(CloseFrame {
                    code: code.unwrap_or(CloseCode::NO_STATUS),
                    reason,
                });
                None
            }
            Event::Failed(e) => {
                if self.core.refused_while_inflating() {
                    if let Some(m) = &self.metrics {
                        m.websocket_bomb_refused();
                    }
                }
                self.ending = Some(CloseFrame {
                    code: e.close_code(),
                    reason: e.to_string(),
                });
                None
            }
            Event::TimedOut(t) => {
                if self.end.is_none() {
                    self.finish(abnormal(match t {
                        Timeout::Pong => "no Pong within the keep-alive timeout",
                        Timeout::Close => "no Close from the client within the close timeout",
                    }));
                }
                None
            }
        }
    }
}

impl Drop for WebSocket<'_, '_> {
    fn drop(&mut self) {
        if let Some(m) = &self.metrics {
            let code = self
                .end
                .as_ref()
                .or(self.ending.as_ref())
                .map_or(CloseCode::ABNORMAL, |f| f.code);
            m.websocket_closed(code.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::http::{
        Features, Method, RequestFeature, ResponseError, ResponseFeature, ResponseHeaders, Version,
    };
    use crate::testing::{block_on, TestFeatures, TestRequest};

    /// A custom server's upgrade: the trait's required methods only (no lent input buffer),
    /// the client's bytes arriving in the given pieces.
    struct CopyingServer {
        inner: TestFeatures,
        reads: VecDeque<Vec<u8>>,
        written: Vec<u8>,
    }

    // The request and response features are the inner test server's.
    impl RequestFeature for CopyingServer {
        fn method(&self) -> Method {
            self.inner.method()
        }
        fn method_str(&self) -> &str {
            self.inner.method_str()
        }
        fn version(&self) -> Version {
            self.inner.version()
        }
        fn scheme(&self) -> &str {
            self.inner.scheme()
        }
        fn raw_target(&self) -> &str {
            self.inner.raw_target()
        }
        fn path(&self) -> &str {
            self.inner.path()
        }
        fn query(&self) -> &str {
            self.inner.query()
        }
        fn header(&self, name: &str) -> Option<&[u8]> {
            self.inner.header(name)
        }
        fn header_count(&self) -> usize {
            self.inner.header_count()
        }
        fn header_at(&self, index: usize) -> Option<(&[u8], &[u8])> {
            self.inner.header_at(index)
        }
        fn content_length(&self) -> Option<u64> {
            self.inner.content_length()
        }
        fn has_body(&self) -> bool {
            self.inner.has_body()
        }
        fn poll_read_body(
            &mut self,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            self.inner.poll_read_body(cx, buf)
        }
    }

    impl ResponseFeature for CopyingServer {
        fn status(&self) -> u16 {
            self.inner.status()
        }
        fn set_status(&mut self, status: u16) -> Result<(), ResponseError> {
            self.inner.set_status(status)
        }
        fn headers(&self) -> &ResponseHeaders {
            self.inner.headers()
        }
        fn headers_mut(&mut self) -> Result<&mut ResponseHeaders, ResponseError> {
            self.inner.headers_mut()
        }
        fn has_started(&self) -> bool {
            self.inner.has_started()
        }
        fn write(&mut self, data: &[u8]) {
            self.inner.write(data)
        }
        fn buffered(&self) -> usize {
            self.inner.buffered()
        }
        fn buffer_limit(&self) -> usize {
            self.inner.buffer_limit()
        }
        fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.inner.poll_flush(cx)
        }
    }

    impl Features for CopyingServer {
        fn upgrade(&mut self) -> Option<&mut dyn UpgradeFeature> {
            Some(self)
        }
    }

    impl UpgradeFeature for CopyingServer {
        fn is_upgradable_request(&self) -> bool {
            true
        }
        fn poll_upgrade(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_read_upgraded(
            &mut self,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let Some(piece) = self.reads.front_mut() else {
                return Poll::Ready(Ok(0));
            };
            let n = piece.len().min(buf.len());
            buf[..n].copy_from_slice(&piece[..n]);
            piece.drain(..n);
            if piece.is_empty() {
                self.reads.pop_front();
            }
            Poll::Ready(Ok(n))
        }
        fn poll_write_upgraded(
            &mut self,
            _: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<()>> {
            self.written.extend_from_slice(data);
            Poll::Ready(Ok(()))
        }
    }

    /// A masked client frame.
    fn client_frame(op: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let mut f = vec![0x80 | op];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n < 65536 => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    /// A server that does not lend its input buffer is read by copy (the trait's default
    /// `poll_fill_upgraded` answers `Unsupported`): headers split over reads, a frame larger
    /// than the 16 KiB read buffer, several frames in one read, and the end of the stream.
    #[test]
    fn a_server_without_a_lent_buffer_is_read_by_copy() {
        let request = TestRequest::get("/ws")
            .header("upgrade", "websocket")
            .header("connection", "Upgrade")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("sec-websocket-version", "13");
        let big = "ab€".repeat(8000);
        let mut stream = Vec::new();
        stream.extend(client_frame(1, b"one"));
        stream.extend(client_frame(2, &[9; 40]));
        stream.extend(client_frame(1, big.as_bytes()));
        stream.extend(client_frame(1, b"last"));
        // Pieces: inside the first header, then two whole frames and part of the big one's
        // header, then the rest in reads larger and smaller than the read buffer.
        let cuts = [1, 3, 9 + 46 + 3, 9 + 46 + 3 + 20_000, stream.len() - 2];
        let mut reads = VecDeque::new();
        let mut at = 0;
        for cut in cuts.into_iter().chain([stream.len()]) {
            reads.push_back(stream[at..cut].to_vec());
            at = cut;
        }
        let mut server = CopyingServer {
            inner: TestFeatures::new(&request),
            reads,
            written: Vec::new(),
        };
        let got = block_on(async {
            let mut http = HttpContext::new(&mut server);
            // No keep-alive timer: nothing here drives timers.
            let options = WebSocketOptions {
                limits: Some(WebSocketLimits {
                    keep_alive_interval: None,
                    ..WebSocketLimits::default()
                }),
                ..WebSocketOptions::default()
            };
            let mut ws = http.accept_websocket(&options).await.expect("accepted");
            let mut got = Vec::new();
            loop {
                match ws.receive().await {
                    Message::Close(f) => {
                        got.push(format!("close {}", f.code.0));
                        break;
                    }
                    Message::Text(t) => got.push(format!("text {}", t.len())),
                    Message::Binary(b) => got.push(format!("binary {}", b.len())),
                    other => got.push(format!("{other:?}")),
                }
            }
            got
        });
        assert_eq!(
            got,
            [
                "text 3".to_string(),
                "binary 40".into(),
                format!("text {}", big.len()),
                "text 4".into(),
                // The stream ended without a Close frame.
                "close 1006".into(),
            ]
        );
    }
}
