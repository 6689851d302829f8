//! The sans-I/O HTTP/2 server connection (RFC 9113).
//!
//! [`Connection::recv`] takes the bytes the engine read and returns how many
//! it consumed (the rest is an incomplete frame the engine presents again
//! with more); what happened comes out of [`Connection::poll_event`]. The
//! application's actions ([`Connection::send_headers`],
//! [`Connection::send_data`], [`Connection::send_trailers`],
//! [`Connection::reset`], [`Connection::go_away`]) and the protocol's own
//! answers (SETTINGS ACK, PING ACK, WINDOW_UPDATE, RST_STREAM, GOAWAY) land in
//! [`Connection::output`], which the engine writes and then
//! [`Connection::advance_output`]s. [`Connection::tick`] brings the time.
//!
//! Flow control runs both ways. Inbound, the engine calls
//! [`Connection::release_capacity`] as the application consumes body bytes,
//! and WINDOW_UPDATEs are sent once half a window is consumed. Outbound,
//! response data waits in a per-stream buffer (bounded by
//! [`Http2Limits::max_response_buffer_size`]) until the client's windows
//! allow it.
//!
//! Every defense is a budget or a bound checked as frames arrive, so a flood
//! ends within a bounded amount of input, with the GOAWAY or RST_STREAM of
//! its [`Reason`], and is counted in [`H2Stats`].

use std::collections::VecDeque;
use std::time::Instant;

use super::error::{ErrorCode, H2Error, Reason};
use super::frame::{
    self, flag, kind, setting, Frame, FrameHeader, HEADER_LEN, MAX_WINDOW, PREFACE,
};
use super::hpack::{encoder, Decoder, HeaderList};
use super::limits::Http2Limits;

/// The most request body a stream whose response is complete still takes (and drops) rather
/// than being reset (see `Connection::maybe_remove`).
const DISCARD_AFTER_RESPONSE: u64 = 64 * 1024;

/// How many recently opened stream ids a connection remembers (see `Connection::opened`).
const OPENED_KEPT: usize = 128;

/// The default initial window of RFC 9113 (before SETTINGS change it).
const DEFAULT_WINDOW: i64 = 65_535;

/// A validated request head (RFC 9113 8.3.1): the decoded header list with
/// the pseudo-headers located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    list: HeaderList,
    method: usize,
    scheme: Option<usize>,
    authority: Option<usize>,
    path: Option<usize>,
    protocol: Option<usize>,
    first_regular: usize,
    content_length: Option<u64>,
}

impl RequestHead {
    /// `:method`.
    pub fn method(&self) -> &[u8] {
        self.list.get(self.method).1
    }

    /// `:scheme` (absent for a plain CONNECT).
    pub fn scheme(&self) -> Option<&[u8]> {
        self.scheme.map(|i| self.list.get(i).1)
    }

    /// `:authority`, when the client sent it.
    pub fn authority(&self) -> Option<&[u8]> {
        self.authority.map(|i| self.list.get(i).1)
    }

    /// `:path` (absent for a plain CONNECT).
    pub fn path(&self) -> Option<&[u8]> {
        self.path.map(|i| self.list.get(i).1)
    }

    /// `:protocol` of an extended CONNECT (RFC 8441 4), e.g. `websocket`; only ever present
    /// when the connection enabled it ([`Http2Limits::enable_connect_protocol`]).
    pub fn protocol(&self) -> Option<&[u8]> {
        self.protocol.map(|i| self.list.get(i).1)
    }

    /// The regular header fields, in order, pseudo-headers excluded.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        (self.first_regular..self.list.len()).map(|i| self.list.get(i))
    }

    /// The request's Content-Length, when it sent one.
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }
}

/// What the connection tells the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A request's headers are complete on `stream_id`.
    Request {
        /// The stream.
        stream_id: u32,
        /// Method, scheme, authority, path, headers.
        head: RequestHead,
        /// The request has no body.
        end_stream: bool,
    },
    /// Request body bytes. The engine calls
    /// [`Connection::release_capacity`] as the application consumes them.
    Data {
        /// The stream.
        stream_id: u32,
        /// The bytes (padding removed).
        data: Vec<u8>,
        /// The body is complete.
        end_stream: bool,
    },
    /// Request trailers; the body is complete.
    Trailers {
        /// The stream.
        stream_id: u32,
        /// The trailer fields.
        trailers: HeaderList,
    },
    /// A stream the application knows of ended early: reset by the client
    /// (`by_peer`), or by this core after a stream error or a timeout.
    Reset {
        /// The stream.
        stream_id: u32,
        /// The error code sent or received.
        code: ErrorCode,
        /// Whether the client sent the RST_STREAM.
        by_peer: bool,
    },
    /// Buffered response data drained: [`Connection::send_data`] takes more.
    SendCapacity {
        /// The stream.
        stream_id: u32,
    },
    /// The client acknowledged a PING from [`Connection::ping`].
    PingAck {
        /// The PING's opaque data.
        data: [u8; 8],
    },
    /// The client sent GOAWAY: it opens no more streams.
    GoAway {
        /// The last stream it may have processed.
        last_stream_id: u32,
        /// Its error code.
        code: ErrorCode,
    },
    /// This core ended the connection with GOAWAY carrying `reason`'s code;
    /// the engine writes the output and closes.
    Closed {
        /// Why.
        reason: Reason,
    },
}

/// Why an application action was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// No such open stream (never opened, reset, or finished).
    UnknownStream,
    /// Response headers were already sent on this stream.
    HeadersAlreadySent,
    /// Data or trailers before the response headers.
    HeadersNotSent,
    /// The response already ended.
    StreamEnded,
    /// The connection is closed.
    ConnectionClosed,
}

/// Counters of what the connection did and defended against (for `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct H2Stats {
    /// Frames received.
    pub frames_received: u64,
    /// Streams opened by requests.
    pub streams_opened: u64,
    /// Streams refused with REFUSED_STREAM (too many streams).
    pub streams_refused: u64,
    /// RST_STREAM frames received.
    pub resets_received: u64,
    /// RST_STREAM frames sent (stream errors, refusals, timeouts).
    pub resets_sent: u64,
    /// Rapid reset floods ended (GOAWAY ENHANCE_YOUR_CALM).
    pub rapid_reset_floods: u64,
    /// Control frame floods ended (GOAWAY ENHANCE_YOUR_CALM).
    pub control_floods: u64,
    /// Header blocks over their size or CONTINUATION count (CONTINUATION
    /// flood; GOAWAY ENHANCE_YOUR_CALM).
    pub continuation_floods: u64,
    /// Header lists over their decoded limits (HPACK bomb; GOAWAY
    /// ENHANCE_YOUR_CALM).
    pub hpack_bombs: u64,
    /// Flow-control violations by the client.
    pub flow_control_errors: u64,
    /// Streams reset for a request body below the minimum rate.
    pub min_rate_resets: u64,
    /// Streams reset for a response the client's window held too long.
    pub stalled_responses: u64,
    /// Connections ended for a header block that did not complete in time.
    pub header_timeouts: u64,
    /// Malformed requests reset with PROTOCOL_ERROR.
    pub malformed_requests: u64,
    /// Times `recv` stopped reading because the output was full.
    pub output_backpressure: u64,
    /// Every connection error (GOAWAY with an error code), floods included.
    pub connection_errors: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendState {
    /// No response headers yet.
    Idle,
    /// Headers sent, body open.
    Open,
    /// END_STREAM queued (it may still wait in `pending` for window).
    Ending,
    /// END_STREAM sent.
    Done,
}

#[derive(Debug)]
struct Stream {
    id: u32,
    /// The client may still send (not half-closed remote).
    recv_open: bool,
    send: SendState,
    recv_window: i64,
    recv_unacked: u32,
    send_window: i64,
    content_length: Option<u64>,
    received: u64,
    opened_at: Instant,
    /// Response data waiting for window.
    pending: Vec<u8>,
    /// Encoded trailers, sent once `pending` drains.
    trailers: Option<Vec<u8>>,
    /// Since when `pending` has waited with no window.
    stalled_since: Option<Instant>,
    /// `send_data` took less than offered: tell the engine when it drains.
    wants_capacity: bool,
    /// An extended CONNECT (RFC 8441): its DATA is a tunnel with its own pace, so the
    /// minimum request body rate does not apply.
    tunnel: bool,
}

/// Where reading stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    /// Bytes of the client preface matched so far.
    Preface(usize),
    /// Preface done, the first frame must be SETTINGS.
    FirstSettings,
    /// Frames.
    Frames,
    /// Closed: input is discarded.
    Closed,
}

/// A header block being assembled from HEADERS + CONTINUATION.
#[derive(Debug)]
struct Block {
    stream_id: u32,
    end_stream: bool,
    /// The HEADERS made the stream depend on itself: a stream error once the
    /// block is decoded (RFC 9113 5.3.1).
    self_dependent: bool,
    continuations: u32,
    started: Instant,
}

/// The sans-I/O HTTP/2 server connection.
#[derive(Debug)]
pub struct Connection {
    limits: Http2Limits,
    read: ReadState,
    decoder: Decoder,
    out: Vec<u8>,
    events: VecDeque<Event>,
    streams: Vec<Stream>,
    /// The highest stream id the client opened (or tried to).
    max_client_id: u32,
    /// The ids of the last streams the client opened (refused ones included), so a HEADERS on
    /// a stream that existed is told from one on an id never used (RFC 9113 5.1.1).
    opened: VecDeque<u32>,
    /// The last stream id of our GOAWAY, once sent.
    goaway_sent: Option<u32>,
    peer_max_frame_size: u32,
    peer_initial_window: i64,
    send_window: i64,
    recv_window: i64,
    recv_unacked: u32,
    block: Option<Block>,
    block_buf: Vec<u8>,
    list: HeaderList,
    encode_buf: Vec<u8>,
    /// Header lists given back by [`Connection::recycle_head`], reused for the next requests.
    spare_lists: Vec<HeaderList>,
    /// Byte buffers reused for streams' pending data and [`Event::Data`] (given back by
    /// [`Connection::recycle_data`]).
    spare_bufs: Vec<Vec<u8>>,
    reset_budget: u32,
    control_budget: u32,
    now: Instant,
    last_recv: Instant,
    ping_sent: Option<Instant>,
    user_pings: u32,
    stats: H2Stats,
}

impl Connection {
    /// A server connection, its SETTINGS (and the connection window
    /// increase) already in [`Connection::output`]. `now` starts the clocks
    /// [`Connection::tick`] checks.
    pub fn new(limits: Http2Limits, now: Instant) -> Self {
        let mut out = Vec::with_capacity(64);
        frame::encode_settings(
            &[
                (setting::HEADER_TABLE_SIZE, limits.header_table_size),
                (
                    setting::MAX_CONCURRENT_STREAMS,
                    limits.max_streams_per_connection,
                ),
                (
                    setting::INITIAL_WINDOW_SIZE,
                    limits.initial_stream_window_size.min(MAX_WINDOW),
                ),
                (setting::MAX_FRAME_SIZE, limits.max_frame_size),
                (
                    setting::MAX_HEADER_LIST_SIZE,
                    limits.max_request_headers_total_size,
                ),
                (
                    setting::ENABLE_CONNECT_PROTOCOL,
                    u32::from(limits.enable_connect_protocol),
                ),
            ][..if limits.enable_connect_protocol { 6 } else { 5 }],
            &mut out,
        );
        let conn_window = i64::from(limits.initial_connection_window_size.min(MAX_WINDOW));
        if conn_window > DEFAULT_WINDOW {
            frame::encode_window_update(0, (conn_window - DEFAULT_WINDOW) as u32, &mut out);
        }
        Connection {
            decoder: Decoder::new(limits.header_table_size as usize),
            read: ReadState::Preface(0),
            out,
            events: VecDeque::new(),
            streams: Vec::new(),
            max_client_id: 0,
            opened: VecDeque::new(),
            goaway_sent: None,
            peer_max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
            peer_initial_window: DEFAULT_WINDOW,
            send_window: DEFAULT_WINDOW,
            recv_window: conn_window.max(DEFAULT_WINDOW),
            recv_unacked: 0,
            block: None,
            block_buf: Vec::new(),
            list: HeaderList::new(),
            encode_buf: Vec::new(),
            spare_lists: Vec::new(),
            spare_bufs: Vec::new(),
            reset_budget: limits.reset_budget,
            control_budget: limits.control_frame_budget,
            now,
            last_recv: now,
            ping_sent: None,
            user_pings: 0,
            stats: H2Stats::default(),
            limits,
        }
    }

    /// The counters.
    pub fn stats(&self) -> &H2Stats {
        &self.stats
    }

    /// The limits this connection runs with.
    pub fn limits(&self) -> &Http2Limits {
        &self.limits
    }

    /// Bytes to write to the client.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// Drops the first `n` bytes of [`Connection::output`] (written), and
    /// moves held-back response data that now fits.
    pub fn advance_output(&mut self, n: usize) {
        self.out.drain(..n.min(self.out.len()));
        self.flush();
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether reading has ended (after a connection error, or a graceful
    /// stop whose streams have all finished). The engine closes the socket
    /// once [`Connection::output`] is written.
    pub fn is_closed(&self) -> bool {
        self.read == ReadState::Closed
    }

    /// How many streams are open (requests whose exchange is not over).
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Bytes of response data held back for the client's windows.
    pub fn buffered_response_bytes(&self) -> usize {
        self.streams.iter().map(|s| s.pending.len()).sum()
    }

    /// Consumes frames from `input` and returns how many bytes it used; an
    /// incomplete frame at the end is left for the next call. Reading pauses
    /// (returns early) while [`Connection::output`] holds more than
    /// [`Http2Limits::max_output_buffer_size`] bytes: a client that does not
    /// read cannot make us queue answers without bound.
    pub fn recv(&mut self, input: &[u8]) -> usize {
        let mut pos = 0;
        loop {
            match self.read {
                ReadState::Closed => return input.len(),
                ReadState::Preface(matched) => {
                    let want = &PREFACE[matched..];
                    let n = want.len().min(input.len() - pos);
                    if input[pos..pos + n] != want[..n] {
                        self.connection_error(Reason::BadPreface);
                        return input.len();
                    }
                    pos += n;
                    if n < want.len() {
                        self.read = ReadState::Preface(matched + n);
                        return pos;
                    }
                    self.read = ReadState::FirstSettings;
                }
                ReadState::FirstSettings | ReadState::Frames => {
                    if self.out.len() > self.limits.max_output_buffer_size as usize {
                        self.stats.output_backpressure += 1;
                        return pos;
                    }
                    let Some(h) = FrameHeader::parse(&input[pos..]) else {
                        return pos;
                    };
                    if h.length > self.limits.max_frame_size {
                        self.connection_error(Reason::FrameTooLarge);
                        return input.len();
                    }
                    let end = pos + HEADER_LEN + h.length as usize;
                    if input.len() < end {
                        return pos;
                    }
                    let payload = &input[pos + HEADER_LEN..end];
                    pos = end;
                    self.stats.frames_received += 1;
                    self.last_recv = self.now;
                    if self.read == ReadState::FirstSettings {
                        if h.kind != kind::SETTINGS || h.flags & flag::ACK != 0 {
                            self.connection_error(Reason::FirstFrameNotSettings);
                            return input.len();
                        }
                        self.read = ReadState::Frames;
                    }
                    if let Err(e) = self.on_frame(&h, payload) {
                        // Every RST_STREAM the client makes us send spends the reset
                        // budget as its own resets do (malformed requests, DATA on
                        // closed streams, refused streams: the "made you reset"
                        // variant of rapid reset).
                        match e {
                            H2Error::Stream(..) if self.spend_reset().is_err() => {
                                self.connection_error(Reason::RapidReset)
                            }
                            e => self.on_error(e),
                        }
                    }
                    self.flush();
                    self.maybe_finish_drain();
                }
            }
        }
    }

    fn on_frame(&mut self, h: &FrameHeader, payload: &[u8]) -> Result<(), H2Error> {
        use H2Error::{Connection as Conn, Stream as Strm};
        if let Some(b) = &self.block {
            if h.kind != kind::CONTINUATION || h.stream_id != b.stream_id {
                return Err(Conn(Reason::ExpectedContinuation));
            }
        }
        match frame::parse(h, payload)? {
            Frame::Data {
                stream_id,
                data,
                end_stream,
                flow_len,
            } => self.on_data(stream_id, data, end_stream, flow_len)?,
            Frame::Headers {
                stream_id,
                block,
                end_stream,
                end_headers,
                priority,
            } => {
                let self_dependent = priority.is_some_and(|p| p.dependency == stream_id);
                self.on_headers(stream_id, block, end_stream, end_headers, self_dependent)?
            }
            Frame::Continuation {
                block, end_headers, ..
            } => {
                let Some(b) = &mut self.block else {
                    return Err(Conn(Reason::UnexpectedContinuation));
                };
                b.continuations += 1;
                self.block_buf.extend_from_slice(block);
                if b.continuations > self.limits.max_continuation_frames
                    || self.block_buf.len() > self.limits.max_header_block_size as usize
                {
                    self.stats.continuation_floods += 1;
                    return Err(Conn(Reason::HeaderBlockTooLarge));
                }
                if end_headers {
                    self.end_block()?;
                }
            }
            Frame::Priority { .. } => self.spend_control()?,
            Frame::RstStream { stream_id, code } => {
                self.stats.resets_received += 1;
                if stream_id > self.max_client_id {
                    return Err(Conn(Reason::IdleStream));
                }
                match self.find(stream_id) {
                    Some(i) => {
                        let s = self.remove_stream(i);
                        self.events.push_back(Event::Reset {
                            stream_id,
                            code,
                            by_peer: true,
                        });
                        if s.send != SendState::Done {
                            self.spend_reset()?;
                        }
                    }
                    None => self.spend_control()?,
                }
            }
            Frame::Settings { ack, payload } => {
                self.spend_control()?;
                if !ack {
                    self.apply_settings(payload)?;
                    frame::encode_settings_ack(&mut self.out);
                }
            }
            Frame::PushPromise { .. } => return Err(Conn(Reason::PushPromiseFromClient)),
            Frame::Ping { ack, data } => {
                self.spend_control()?;
                if !ack {
                    frame::encode_ping(true, data, &mut self.out);
                } else if self.ping_sent.take().is_none() && self.user_pings > 0 {
                    self.user_pings -= 1;
                    self.events.push_back(Event::PingAck { data });
                }
            }
            Frame::GoAway {
                last_stream_id,
                code,
                ..
            } => {
                self.events.push_back(Event::GoAway {
                    last_stream_id,
                    code,
                });
            }
            Frame::WindowUpdate {
                stream_id,
                increment,
            } => {
                if self.streams.iter().all(|s| s.pending.is_empty()) {
                    self.spend_control()?;
                }
                let inc = i64::from(increment);
                if stream_id == 0 {
                    if self.send_window + inc > i64::from(MAX_WINDOW) {
                        self.stats.flow_control_errors += 1;
                        return Err(Conn(Reason::WindowOverflow));
                    }
                    self.send_window += inc;
                } else if stream_id > self.max_client_id {
                    return Err(Conn(Reason::IdleStream));
                } else if let Some(i) = self.find(stream_id) {
                    let s = &mut self.streams[i];
                    if s.send_window + inc > i64::from(MAX_WINDOW) {
                        self.stats.flow_control_errors += 1;
                        return Err(Strm(stream_id, Reason::WindowOverflow));
                    }
                    s.send_window += inc;
                }
            }
            Frame::Unknown { .. } => self.spend_control()?,
        }
        Ok(())
    }

    fn find(&self, id: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.id == id)
    }

    /// A frame that made us work without progress.
    fn spend_control(&mut self) -> Result<(), H2Error> {
        if self.control_budget == 0 {
            self.stats.control_floods += 1;
            return Err(H2Error::Connection(Reason::ControlFlood));
        }
        self.control_budget -= 1;
        Ok(())
    }

    /// Progress: a new stream, request body bytes, response bytes.
    fn progress(&mut self) {
        self.control_budget = self.limits.control_frame_budget;
    }

    /// A stream reset by the client before its response finished, or one
    /// the client made us reset (a stream error).
    fn spend_reset(&mut self) -> Result<(), H2Error> {
        if self.reset_budget == 0 {
            self.stats.rapid_reset_floods += 1;
            return Err(H2Error::Connection(Reason::RapidReset));
        }
        self.reset_budget -= 1;
        Ok(())
    }

    fn apply_settings(&mut self, payload: &[u8]) -> Result<(), H2Error> {
        for (id, value) in frame::settings(payload) {
            match id {
                setting::INITIAL_WINDOW_SIZE => {
                    let delta = i64::from(value) - self.peer_initial_window;
                    self.peer_initial_window = i64::from(value);
                    for s in &mut self.streams {
                        s.send_window += delta;
                        if s.send_window > i64::from(MAX_WINDOW) {
                            self.stats.flow_control_errors += 1;
                            return Err(H2Error::Connection(Reason::WindowOverflow));
                        }
                    }
                }
                setting::MAX_FRAME_SIZE => self.peer_max_frame_size = value,
                // We never insert into the dynamic table, so the client's
                // table size needs no answer; the other settings concern a
                // server only as advice.
                _ => {}
            }
        }
        Ok(())
    }

    fn on_headers(
        &mut self,
        id: u32,
        fragment: &[u8],
        end_stream: bool,
        end_headers: bool,
        self_dependent: bool,
    ) -> Result<(), H2Error> {
        use H2Error::{Connection as Conn, Stream as Strm};
        if id.is_multiple_of(2) {
            return Err(Conn(Reason::BadStreamId));
        }
        match self.find(id) {
            Some(i) => {
                // Trailers: only on an open stream, and they end it.
                if !self.streams[i].recv_open {
                    return Err(Strm(id, Reason::StreamClosed));
                }
                if !end_stream {
                    return Err(Strm(id, Reason::MalformedRequest));
                }
            }
            // A stream that existed and ended: STREAM_CLOSED (5.1); a lower id never opened is
            // an unexpected stream identifier (5.1.1): PROTOCOL_ERROR.
            None if id <= self.max_client_id && self.opened.contains(&id) => {
                return Err(Conn(Reason::StreamClosed))
            }
            None if id <= self.max_client_id => return Err(Conn(Reason::BadStreamId)),
            None => {}
        }
        if fragment.len() > self.limits.max_header_block_size as usize {
            self.stats.continuation_floods += 1;
            return Err(Conn(Reason::HeaderBlockTooLarge));
        }
        self.block_buf.clear();
        self.block_buf.extend_from_slice(fragment);
        self.block = Some(Block {
            stream_id: id,
            end_stream,
            self_dependent,
            continuations: 0,
            started: self.now,
        });
        if end_headers {
            self.end_block()?;
        }
        Ok(())
    }

    /// A complete header block: decode it (always, to keep the HPACK tables
    /// in step), then open, refuse or end the stream.
    fn end_block(&mut self) -> Result<(), H2Error> {
        use H2Error::{Connection as Conn, Stream as Strm};
        let Some(block) = self.block.take() else {
            return Ok(());
        };
        let id = block.stream_id;
        let mut list = std::mem::take(&mut self.list);
        let decoded = self.decoder.decode(
            &self.block_buf,
            self.limits.max_request_header_field_size as usize,
            self.limits.max_request_headers_total_size as usize,
            &mut list,
        );
        if let Err(e) = decoded {
            self.list = list;
            if e.is_size_limit() {
                self.stats.hpack_bombs += 1;
                return Err(Conn(Reason::HeaderListTooLarge));
            }
            return Err(Conn(Reason::Compression));
        }
        if let Some(i) = self.find(id) {
            // Trailers.
            let ok = validate_trailers(&list);
            if !ok {
                self.list = list;
                self.stats.malformed_requests += 1;
                return Err(Strm(id, Reason::MalformedRequest));
            }
            let s = &mut self.streams[i];
            if s.content_length.is_some_and(|cl| cl != s.received) {
                self.list = list;
                return Err(Strm(id, Reason::ContentLengthMismatch));
            }
            s.recv_open = false;
            self.events.push_back(Event::Trailers {
                stream_id: id,
                trailers: list,
            });
            self.list = self.spare_lists.pop().unwrap_or_default();
            self.maybe_remove(i);
            return Ok(());
        }
        self.max_client_id = id;
        if self.opened.len() == OPENED_KEPT {
            self.opened.pop_front();
        }
        self.opened.push_back(id);
        if block.self_dependent {
            self.list = list;
            return Err(Strm(id, Reason::SelfDependency));
        }
        if self.goaway_sent.is_some_and(|last| id > last) {
            // After our GOAWAY, new streams are ignored (RFC 9113 6.8).
            self.list = list;
            return Ok(());
        }
        if self.streams.len() >= self.limits.max_streams_per_connection as usize {
            self.list = list;
            self.stats.streams_refused += 1;
            return Err(Strm(id, Reason::TooManyStreams));
        }
        let head = match validate_request(list, self.limits.enable_connect_protocol) {
            Ok(head) => head,
            Err(list) => {
                self.list = list;
                self.stats.malformed_requests += 1;
                return Err(Strm(id, Reason::MalformedRequest));
            }
        };
        if block.end_stream && head.content_length.is_some_and(|cl| cl != 0) {
            self.list = head.list;
            return Err(Strm(id, Reason::ContentLengthMismatch));
        }
        self.progress();
        self.stats.streams_opened += 1;
        self.streams.push(Stream {
            id,
            recv_open: !block.end_stream,
            send: SendState::Idle,
            recv_window: i64::from(self.limits.initial_stream_window_size),
            recv_unacked: 0,
            send_window: self.peer_initial_window,
            content_length: head.content_length,
            received: 0,
            opened_at: self.now,
            pending: self.spare_bufs.pop().unwrap_or_default(),
            trailers: None,
            stalled_since: None,
            wants_capacity: false,
            tunnel: head.protocol.is_some(),
        });
        self.events.push_back(Event::Request {
            stream_id: id,
            head,
            end_stream: block.end_stream,
        });
        // The list went with the request: the next one is decoded into one an earlier
        // request gave back (`recycle_head`), when there is one.
        self.list = self.spare_lists.pop().unwrap_or_default();
        Ok(())
    }

    fn on_data(
        &mut self,
        id: u32,
        data: &[u8],
        end_stream: bool,
        flow_len: u32,
    ) -> Result<(), H2Error> {
        use H2Error::{Connection as Conn, Stream as Strm};
        let flow = i64::from(flow_len);
        if flow > self.recv_window {
            self.stats.flow_control_errors += 1;
            return Err(Conn(Reason::WindowExceeded));
        }
        self.recv_window -= flow;
        if id > self.max_client_id {
            return Err(Conn(Reason::IdleStream));
        }
        let Some(i) = self.find(id).filter(|&i| self.streams[i].recv_open) else {
            // Closed, or half-closed by the client: give the connection
            // window back, the stream gets a RST_STREAM, which costs us a
            // frame: it counts against the control budget.
            self.release_connection(flow_len);
            self.spend_control()?;
            return Err(Strm(id, Reason::StreamClosed));
        };
        let s = &mut self.streams[i];
        if flow > s.recv_window {
            self.stats.flow_control_errors += 1;
            self.release_connection(flow_len);
            return Err(Strm(id, Reason::WindowExceeded));
        }
        s.recv_window -= flow;
        s.received += data.len() as u64;
        let received = s.received;
        let bad_length = s
            .content_length
            .is_some_and(|cl| received > cl || (end_stream && received != cl));
        if end_stream {
            s.recv_open = false;
        }
        if bad_length {
            self.release_connection(flow_len);
            return Err(Strm(id, Reason::ContentLengthMismatch));
        }
        if self
            .limits
            .max_request_body_size
            .is_some_and(|max| received > max)
        {
            self.release_connection(flow_len);
            return Err(Strm(id, Reason::BodyTooLarge));
        }
        // Padding counts against the windows but is never consumed: give it back.
        let padding = flow_len - data.len() as u32;
        if padding > 0 {
            self.release(id, padding);
        }
        if data.is_empty() && !end_stream {
            self.spend_control()?;
        } else if !data.is_empty() {
            self.progress();
        }
        self.events.push_back(Event::Data {
            stream_id: id,
            data: {
                let mut buf = self.spare_bufs.pop().unwrap_or_default();
                buf.extend_from_slice(data);
                buf
            },
            end_stream,
        });
        if end_stream {
            if let Some(i) = self.find(id) {
                self.maybe_remove(i);
            }
        }
        Ok(())
    }

    /// The application consumed `n` body bytes of `stream_id`: reopen the
    /// windows, announcing them once half a window is consumed.
    pub fn release_capacity(&mut self, stream_id: u32, n: u32) {
        if self.read != ReadState::Closed {
            self.release(stream_id, n);
        }
    }

    fn release(&mut self, stream_id: u32, n: u32) {
        self.release_connection(n);
        let half = self.limits.initial_stream_window_size / 2;
        if let Some(i) = self.find(stream_id) {
            let s = &mut self.streams[i];
            if s.recv_open {
                s.recv_unacked += n;
                if s.recv_unacked >= half {
                    frame::encode_window_update(stream_id, s.recv_unacked, &mut self.out);
                    s.recv_window += i64::from(s.recv_unacked);
                    s.recv_unacked = 0;
                }
            }
        }
    }

    fn release_connection(&mut self, n: u32) {
        self.recv_unacked += n;
        if self.recv_unacked >= self.limits.initial_connection_window_size / 2 {
            frame::encode_window_update(0, self.recv_unacked, &mut self.out);
            self.recv_window += i64::from(self.recv_unacked);
            self.recv_unacked = 0;
        }
    }

    /// Removes stream `i`, keeping its data buffer for a later stream.
    fn remove_stream(&mut self, i: usize) -> Stream {
        let mut s = self.streams.remove(i);
        self.recycle_data(std::mem::take(&mut s.pending));
        s
    }

    /// Gives back the buffer of an [`Event::Data`] once its bytes are consumed: the next
    /// streams and DATA events reuse it instead of allocating (at most one per stream the
    /// connection allows, and none larger than a response buffer is kept).
    pub fn recycle_data(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() > 0
            && buf.capacity() <= self.limits.max_response_buffer_size.max(16 * 1024) as usize
            && self.spare_bufs.len() < self.limits.max_streams_per_connection as usize
        {
            buf.clear();
            self.spare_bufs.push(buf);
        }
    }

    /// Takes back the header list of a request head the application is done with (the head
    /// is left empty, not to be read again): it serves a later request without allocating (at
    /// most one per stream the connection allows).
    pub fn recycle_head(&mut self, head: &mut RequestHead) {
        let mut list = std::mem::take(&mut head.list);
        if self.spare_lists.len() < self.limits.max_streams_per_connection as usize {
            list.clear();
            self.spare_lists.push(list);
        }
    }

    /// Removes stream `i` once both directions are over. A response that
    /// ended before the request body did ends the request with
    /// RST_STREAM(NO_ERROR) (RFC 9113 8.1).
    fn maybe_remove(&mut self, i: usize) {
        let s = &self.streams[i];
        if s.send != SendState::Done {
            return;
        }
        if s.recv_open {
            // The response ended before the request body (RFC 9113 8.1). A short rest of a
            // body of declared length is taken and dropped (the engine releases its window
            // at once) and the stream ends with it: some clients (curl 7.x) take a
            // RST_STREAM that arrives with the response for a failure of the request. A
            // longer or unknown rest is cut short with RST_STREAM(NO_ERROR).
            let rest = s.content_length.map(|cl| cl.saturating_sub(s.received));
            if rest.is_some_and(|r| r <= DISCARD_AFTER_RESPONSE) {
                return;
            }
            frame::encode_rst_stream(s.id, ErrorCode::NO_ERROR, &mut self.out);
            self.stats.resets_sent += 1;
        }
        self.remove_stream(i);
        self.reset_budget = (self.reset_budget + 1).min(self.limits.reset_budget);
    }

    fn on_error(&mut self, e: H2Error) {
        match e {
            H2Error::Connection(reason) => self.connection_error(reason),
            H2Error::Stream(id, reason) => self.stream_error(id, reason),
        }
    }

    fn stream_error(&mut self, id: u32, reason: Reason) {
        let code = reason.code();
        frame::encode_rst_stream(id, code, &mut self.out);
        self.stats.resets_sent += 1;
        if let Some(i) = self.find(id) {
            self.remove_stream(i);
            self.events.push_back(Event::Reset {
                stream_id: id,
                code,
                by_peer: false,
            });
        }
    }

    fn connection_error(&mut self, reason: Reason) {
        if self.read == ReadState::Closed {
            return;
        }
        if reason.code() != ErrorCode::NO_ERROR {
            self.stats.connection_errors += 1;
        }
        frame::encode_goaway(self.max_client_id, reason.code(), b"", &mut self.out);
        self.read = ReadState::Closed;
        self.block = None;
        for s in self.streams.drain(..) {
            self.events.push_back(Event::Reset {
                stream_id: s.id,
                code: reason.code(),
                by_peer: false,
            });
        }
        self.events.push_back(Event::Closed { reason });
    }

    fn stream_for_send(&mut self, stream_id: u32) -> Result<usize, SendError> {
        if self.read == ReadState::Closed {
            return Err(SendError::ConnectionClosed);
        }
        self.find(stream_id).ok_or(SendError::UnknownStream)
    }

    /// Encodes a field list after `:status` (or none) into `encode_buf`,
    /// lowercasing names and leaving out connection-specific fields, which
    /// HTTP/2 forbids (RFC 9113 8.2.2).
    fn encode_block<'a>(
        &mut self,
        status: Option<u16>,
        fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
    ) {
        let mut buf = std::mem::take(&mut self.encode_buf);
        buf.clear();
        if let Some(status) = status {
            encoder::encode_status(status, &mut buf);
        }
        let mut lower = Vec::new();
        for (n, v) in fields {
            // Lowercase only when needed: no allocation for the usual lowercase names.
            let name: &[u8] = if n.iter().any(u8::is_ascii_uppercase) {
                lower.clear();
                lower.extend(n.iter().map(u8::to_ascii_lowercase));
                &lower
            } else {
                n
            };
            if is_connection_specific(name) {
                continue;
            }
            encoder::encode_field(name, v, &mut buf);
        }
        self.encode_buf = buf;
    }

    /// Sends the response headers of `stream_id`; `end_stream` for a
    /// response without a body.
    pub fn send_headers(
        &mut self,
        stream_id: u32,
        status: u16,
        fields: &[(&[u8], &[u8])],
        end_stream: bool,
    ) -> Result<(), SendError> {
        self.send_headers_iter(stream_id, status, fields.iter().copied(), end_stream)
    }

    /// [`send_headers`](Self::send_headers) with the fields from an iterator (no list to
    /// build first).
    pub fn send_headers_iter<'a>(
        &mut self,
        stream_id: u32,
        status: u16,
        fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        end_stream: bool,
    ) -> Result<(), SendError> {
        let i = self.stream_for_send(stream_id)?;
        if self.streams[i].send != SendState::Idle {
            return Err(SendError::HeadersAlreadySent);
        }
        self.encode_block(Some(status), fields);
        let max = self.peer_max_frame_size as usize;
        frame::encode_headers(stream_id, &self.encode_buf, end_stream, max, &mut self.out);
        self.streams[i].send = if end_stream {
            SendState::Done
        } else {
            SendState::Open
        };
        if end_stream {
            self.maybe_remove(i);
            self.maybe_finish_drain();
        }
        Ok(())
    }

    /// Queues response body bytes and sends what the windows allow. Returns
    /// how many bytes were taken: fewer than offered when the stream's
    /// buffer is full (the client's window is closed); an
    /// [`Event::SendCapacity`] follows when it drains. `end_stream` applies
    /// only when every byte was taken.
    pub fn send_data(
        &mut self,
        stream_id: u32,
        data: &[u8],
        end_stream: bool,
    ) -> Result<usize, SendError> {
        let i = self.stream_for_send(stream_id)?;
        let limit = self.limits.max_response_buffer_size as usize;
        let s = &mut self.streams[i];
        match s.send {
            SendState::Idle => return Err(SendError::HeadersNotSent),
            SendState::Ending | SendState::Done => return Err(SendError::StreamEnded),
            SendState::Open => {}
        }
        let n = data.len().min(limit.saturating_sub(s.pending.len()));
        s.pending.extend_from_slice(&data[..n]);
        if n < data.len() {
            s.wants_capacity = true;
        } else if end_stream {
            s.send = SendState::Ending;
        }
        self.flush();
        self.maybe_finish_drain();
        Ok(n)
    }

    /// Queues response trailers; they end the stream once the buffered data
    /// is sent.
    pub fn send_trailers(
        &mut self,
        stream_id: u32,
        fields: &[(&[u8], &[u8])],
    ) -> Result<(), SendError> {
        let i = self.stream_for_send(stream_id)?;
        match self.streams[i].send {
            SendState::Idle => return Err(SendError::HeadersNotSent),
            SendState::Ending | SendState::Done => return Err(SendError::StreamEnded),
            SendState::Open => {}
        }
        self.encode_block(None, fields.iter().copied());
        let s = &mut self.streams[i];
        s.trailers = Some(self.encode_buf.clone());
        s.send = SendState::Ending;
        self.flush();
        self.maybe_finish_drain();
        Ok(())
    }

    /// Resets `stream_id` (the application abandons it).
    pub fn reset(&mut self, stream_id: u32, code: ErrorCode) -> Result<(), SendError> {
        let i = self.stream_for_send(stream_id)?;
        self.remove_stream(i);
        frame::encode_rst_stream(stream_id, code, &mut self.out);
        self.stats.resets_sent += 1;
        self.maybe_finish_drain();
        Ok(())
    }

    /// Graceful stop: GOAWAY(NO_ERROR) with the last stream id; open
    /// streams finish, new ones are ignored, and the connection closes when
    /// the last stream ends.
    pub fn go_away(&mut self) {
        if self.read == ReadState::Closed || self.goaway_sent.is_some() {
            return;
        }
        self.goaway_sent = Some(self.max_client_id);
        frame::encode_goaway(self.max_client_id, ErrorCode::NO_ERROR, b"", &mut self.out);
        self.maybe_finish_drain();
    }

    /// Sends a PING; its ACK comes back as [`Event::PingAck`].
    pub fn ping(&mut self, data: [u8; 8]) {
        if self.read != ReadState::Closed {
            self.user_pings += 1;
            frame::encode_ping(false, data, &mut self.out);
        }
    }

    fn maybe_finish_drain(&mut self) {
        if self.goaway_sent.is_some()
            && self.streams.is_empty()
            && self.block.is_none()
            && self.read != ReadState::Closed
        {
            self.read = ReadState::Closed;
        }
    }

    /// Moves held-back response data into the output as the windows and
    /// the output bound allow, then trailers and END_STREAM.
    fn flush(&mut self) {
        let max_out = self.limits.max_output_buffer_size as usize;
        let mut i = 0;
        while i < self.streams.len() {
            let s = &mut self.streams[i];
            let mut sent = false;
            while !s.pending.is_empty() && self.out.len() < max_out {
                let n = (s.pending.len() as i64)
                    .min(s.send_window)
                    .min(self.send_window)
                    .min(i64::from(self.peer_max_frame_size));
                if n <= 0 {
                    break;
                }
                let n = n as usize;
                let last =
                    n == s.pending.len() && s.send == SendState::Ending && s.trailers.is_none();
                frame::encode_data(s.id, &s.pending[..n], last, &mut self.out);
                s.pending.drain(..n);
                s.send_window -= n as i64;
                self.send_window -= n as i64;
                sent = true;
                if last {
                    s.send = SendState::Done;
                }
            }
            if s.pending.is_empty() {
                s.stalled_since = None;
                if s.send == SendState::Ending {
                    match s.trailers.take() {
                        Some(block) => {
                            let max = self.peer_max_frame_size as usize;
                            frame::encode_headers(s.id, &block, true, max, &mut self.out);
                        }
                        None => frame::encode_data(s.id, &[], true, &mut self.out),
                    }
                    s.send = SendState::Done;
                }
                if s.wants_capacity {
                    s.wants_capacity = false;
                    self.events
                        .push_back(Event::SendCapacity { stream_id: s.id });
                }
            } else if s.stalled_since.is_none() && (s.send_window <= 0 || self.send_window <= 0) {
                s.stalled_since = Some(self.now);
            } else if sent {
                s.stalled_since = None;
            }
            if sent {
                self.control_budget = self.limits.control_frame_budget;
            }
            if self.streams[i].send == SendState::Done {
                let before = self.streams.len();
                self.maybe_remove(i);
                if self.streams.len() < before {
                    continue;
                }
            }
            i += 1;
        }
    }

    /// Brings the time: ends a header block that did not complete in time,
    /// request bodies below the minimum rate, responses the client's window
    /// held too long, and runs the keep-alive PING.
    pub fn tick(&mut self, now: Instant) {
        self.now = now;
        if self.read == ReadState::Closed {
            return;
        }
        let l = self.limits.clone();
        if self
            .block
            .as_ref()
            .is_some_and(|b| now.duration_since(b.started) > l.request_headers_timeout)
        {
            self.stats.header_timeouts += 1;
            self.connection_error(Reason::RequestHeadersTimeout);
            return;
        }
        let mut errors = Vec::new();
        for s in &self.streams {
            if let (true, Some(rate)) = (
                s.recv_open && s.recv_window > 0 && !s.tunnel,
                l.min_request_body_data_rate,
            ) {
                let elapsed = now.duration_since(s.opened_at);
                if elapsed > l.min_request_body_grace
                    && (s.received as f64) < f64::from(rate) * elapsed.as_secs_f64()
                {
                    errors.push((s.id, Reason::MinDataRate));
                    continue;
                }
            }
            if s.stalled_since
                .is_some_and(|t| now.duration_since(t) > l.response_stall_timeout)
            {
                errors.push((s.id, Reason::ResponseStalled));
            }
        }
        for (id, reason) in errors {
            match reason {
                Reason::MinDataRate => self.stats.min_rate_resets += 1,
                _ => self.stats.stalled_responses += 1,
            }
            self.stream_error(id, reason);
        }
        if let Some(delay) = self.limits.keep_alive_ping_delay {
            match self.ping_sent {
                Some(sent) if now.duration_since(sent) > self.limits.keep_alive_ping_timeout => {
                    self.connection_error(Reason::KeepAliveTimeout);
                    return;
                }
                None if now.duration_since(self.last_recv) > delay => {
                    self.ping_sent = Some(now);
                    frame::encode_ping(false, [0; 8], &mut self.out);
                }
                _ => {}
            }
        }
        self.flush();
        self.maybe_finish_drain();
    }
}

/// Connection-specific fields, which HTTP/2 forbids (RFC 9113 8.2.2).
fn is_connection_specific(name: &[u8]) -> bool {
    matches!(
        name,
        b"connection" | b"proxy-connection" | b"keep-alive" | b"transfer-encoding" | b"upgrade"
    )
}

/// A field name: lowercase tchars (RFC 9113 8.2.1), `:` only first.
fn valid_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.iter().enumerate().all(|(i, &b)| {
            !(b <= 0x20 || b >= 0x7f || b.is_ascii_uppercase() || (b == b':' && i > 0))
        })
}

/// A field value: no NUL, CR or LF, no leading or trailing whitespace.
fn valid_value(v: &[u8]) -> bool {
    !v.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n')
        && !v.first().is_some_and(|&b| b == b' ' || b == b'\t')
        && !v.last().is_some_and(|&b| b == b' ' || b == b'\t')
}

fn parse_content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// RFC 9113 8.2, 8.3.1: pseudo-headers known, first, once each, required
/// ones present; lowercase names; no connection-specific fields; `te` only
/// `trailers`; one Content-Length value. `extended_connect`: `:protocol` is
/// allowed on a CONNECT (RFC 8441 4).
fn validate_request(list: HeaderList, extended_connect: bool) -> Result<RequestHead, HeaderList> {
    match locate(&list, extended_connect) {
        Some(l) => Ok(RequestHead {
            list,
            method: l.method,
            scheme: l.scheme,
            authority: l.authority,
            path: l.path,
            protocol: l.protocol,
            first_regular: l.first_regular,
            content_length: l.content_length,
        }),
        None => Err(list),
    }
}

/// The positions [`RequestHead`] keeps.
struct Located {
    method: usize,
    scheme: Option<usize>,
    authority: Option<usize>,
    path: Option<usize>,
    protocol: Option<usize>,
    first_regular: usize,
    content_length: Option<u64>,
}

/// Locates the pseudo-headers; `None` for a malformed request.
fn locate(list: &HeaderList, extended_connect: bool) -> Option<Located> {
    let mut pseudo: [Option<usize>; 5] = [None; 5];
    let mut first_regular = list.len();
    let mut content_length = None;
    let mut host = None;
    for (i, (name, value)) in list.iter().enumerate() {
        if !valid_name(name) || !valid_value(value) {
            return None;
        }
        if name[0] == b':' {
            if first_regular < i {
                return None;
            }
            let slot = match name {
                b":method" => 0,
                b":scheme" => 1,
                b":authority" => 2,
                b":path" => 3,
                // Unknown (a malformed request) unless the connection enabled it (RFC 8441 4).
                b":protocol" if extended_connect => 4,
                _ => return None,
            };
            if pseudo[slot].replace(i).is_some() {
                return None;
            }
            continue;
        }
        first_regular = first_regular.min(i);
        if is_connection_specific(name) || (name == b"te" && value != b"trailers") {
            return None;
        }
        if name == b"host" {
            host = Some(value);
        }
        if name == b"content-length" {
            match (parse_content_length(value), content_length) {
                (Some(n), None) => content_length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => return None,
            }
        }
    }
    let [method, scheme, authority, path, protocol] = pseudo;
    // A Host that names another entity than :authority is malformed (RFC 9113 8.3.1).
    if let (Some(a), Some(h)) = (authority, host) {
        if !list.get(a).1.eq_ignore_ascii_case(h) {
            return None;
        }
    }
    let method = method?;
    let connect = list.get(method).1 == b"CONNECT";
    let ok = match (connect, protocol) {
        // Extended CONNECT (RFC 8441 4): `:scheme`, `:path` and `:authority` as for any
        // request, and a non-empty `:protocol`.
        (true, Some(p)) => {
            !list.get(p).1.is_empty()
                && scheme.is_some()
                && authority.is_some()
                && path.is_some_and(|p| !list.get(p).1.is_empty())
        }
        // A plain CONNECT (RFC 9113 8.5): only `:authority`.
        (true, None) => scheme.is_none() && path.is_none() && authority.is_some(),
        // `:protocol` belongs to CONNECT only.
        (false, Some(_)) => false,
        (false, None) => scheme.is_some() && path.is_some_and(|p| !list.get(p).1.is_empty()),
    };
    ok.then_some(Located {
        method,
        scheme,
        authority,
        path,
        protocol,
        first_regular,
        content_length,
    })
}

/// Trailers: regular fields only, same rules as request fields.
fn validate_trailers(list: &HeaderList) -> bool {
    list.iter()
        .all(|(n, v)| valid_name(n) && n[0] != b':' && valid_value(v) && !is_connection_specific(n))
}

#[cfg(test)]
mod tests;
