//! HTTP/2 error codes (RFC 9113 section 7) and every reason this core ends a
//! stream or the connection, each mapped to its code in one place (the
//! HTTP/2 counterpart of the h1 `RejectReason`).

use std::fmt;

/// An HTTP/2 error code as carried by RST_STREAM and GOAWAY. Codes this
/// crate does not know are kept as they came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// Graceful shutdown, or no error.
    pub const NO_ERROR: ErrorCode = ErrorCode(0x0);
    /// An unspecific protocol error.
    pub const PROTOCOL_ERROR: ErrorCode = ErrorCode(0x1);
    /// An unexpected internal error.
    pub const INTERNAL_ERROR: ErrorCode = ErrorCode(0x2);
    /// The flow-control protocol was violated.
    pub const FLOW_CONTROL_ERROR: ErrorCode = ErrorCode(0x3);
    /// A SETTINGS frame was not acknowledged in time.
    pub const SETTINGS_TIMEOUT: ErrorCode = ErrorCode(0x4);
    /// A frame arrived after the stream was half-closed.
    pub const STREAM_CLOSED: ErrorCode = ErrorCode(0x5);
    /// A frame of invalid size.
    pub const FRAME_SIZE_ERROR: ErrorCode = ErrorCode(0x6);
    /// The stream was refused before any application processing.
    pub const REFUSED_STREAM: ErrorCode = ErrorCode(0x7);
    /// The stream is no longer needed.
    pub const CANCEL: ErrorCode = ErrorCode(0x8);
    /// The header compression context cannot be maintained.
    pub const COMPRESSION_ERROR: ErrorCode = ErrorCode(0x9);
    /// A CONNECT tunnel failed.
    pub const CONNECT_ERROR: ErrorCode = ErrorCode(0xa);
    /// The peer generates excessive load.
    pub const ENHANCE_YOUR_CALM: ErrorCode = ErrorCode(0xb);
    /// The transport's security is inadequate.
    pub const INADEQUATE_SECURITY: ErrorCode = ErrorCode(0xc);
    /// HTTP/1.1 is required instead.
    pub const HTTP_1_1_REQUIRED: ErrorCode = ErrorCode(0xd);

    /// The RFC name of the code, or `"UNKNOWN"`.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 14] = [
            "NO_ERROR",
            "PROTOCOL_ERROR",
            "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR",
            "SETTINGS_TIMEOUT",
            "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",
            "REFUSED_STREAM",
            "CANCEL",
            "COMPRESSION_ERROR",
            "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY",
            "HTTP_1_1_REQUIRED",
        ];
        NAMES.get(self.0 as usize).copied().unwrap_or("UNKNOWN")
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:x})", self.name(), self.0)
    }
}

/// Why this core ended a stream or the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The client connection preface was wrong.
    BadPreface,
    /// The first frame after the preface was not SETTINGS.
    FirstFrameNotSettings,
    /// A frame longer than our SETTINGS_MAX_FRAME_SIZE.
    FrameTooLarge,
    /// A fixed-size frame (PRIORITY, RST_STREAM, PING, WINDOW_UPDATE,
    /// SETTINGS) with the wrong length.
    BadFrameLength,
    /// A frame that needs a stream id had 0.
    MissingStreamId,
    /// A connection-level frame had a stream id.
    UnexpectedStreamId,
    /// Padding as long as or longer than the payload.
    BadPadding,
    /// SETTINGS_ENABLE_PUSH other than 0 or 1.
    BadEnablePush,
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL other than 0 or 1 (RFC 8441 3).
    BadEnableConnectProtocol,
    /// SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1.
    InitialWindowTooLarge,
    /// SETTINGS_MAX_FRAME_SIZE outside 16,384..=16,777,215.
    BadMaxFrameSize,
    /// A WINDOW_UPDATE with increment 0.
    ZeroWindowIncrement,
    /// A window grew past 2^31-1.
    WindowOverflow,
    /// The peer sent more DATA than its window allowed.
    WindowExceeded,
    /// A frame other than CONTINUATION in the middle of a header block.
    ExpectedContinuation,
    /// A CONTINUATION with no header block open.
    UnexpectedContinuation,
    /// A client sent PUSH_PROMISE.
    PushPromiseFromClient,
    /// A stream that depends on itself.
    SelfDependency,
    /// A new stream id not above every earlier one, or an even one.
    BadStreamId,
    /// A frame on an idle stream that only an open stream may get.
    IdleStream,
    /// A frame on a stream that is closed, or half-closed by the peer.
    StreamClosed,
    /// HEADERS beyond SETTINGS_MAX_CONCURRENT_STREAMS.
    TooManyStreams,
    /// The header block could not be decoded.
    Compression,
    /// The decoded header list exceeded its limits (HPACK bomb).
    HeaderListTooLarge,
    /// The encoded header block (HEADERS + CONTINUATION) exceeded its limit,
    /// or had too many CONTINUATION frames (CONTINUATION flood).
    HeaderBlockTooLarge,
    /// A malformed request (RFC 9113 8.1.1, 8.2, 8.3): pseudo-headers,
    /// uppercase names, connection-specific fields, `te`.
    MalformedRequest,
    /// DATA that disagrees with the request's Content-Length.
    ContentLengthMismatch,
    /// A request body over the per-stream limit.
    BodyTooLarge,
    /// Too many streams reset by the client (rapid reset, CVE-2023-44487).
    RapidReset,
    /// Too many frames that cost us work without progress (SETTINGS, PING,
    /// PRIORITY, WINDOW_UPDATE, empty DATA, RST_STREAM floods).
    ControlFlood,
    /// The request headers did not complete in time.
    RequestHeadersTimeout,
    /// A request body slower than the minimum data rate.
    MinDataRate,
    /// A response the client's window has held back for too long.
    ResponseStalled,
    /// The client did not answer our keep-alive PING in time.
    KeepAliveTimeout,
    /// The peer sent GOAWAY with an error.
    PeerError,
}

impl Reason {
    /// The error code sent in RST_STREAM or GOAWAY.
    pub fn code(self) -> ErrorCode {
        use Reason::*;
        match self {
            FrameTooLarge | BadFrameLength => ErrorCode::FRAME_SIZE_ERROR,
            InitialWindowTooLarge | WindowOverflow | WindowExceeded => {
                ErrorCode::FLOW_CONTROL_ERROR
            }
            StreamClosed => ErrorCode::STREAM_CLOSED,
            TooManyStreams => ErrorCode::REFUSED_STREAM,
            Compression => ErrorCode::COMPRESSION_ERROR,
            HeaderListTooLarge | HeaderBlockTooLarge | RapidReset | ControlFlood => {
                ErrorCode::ENHANCE_YOUR_CALM
            }
            BodyTooLarge | RequestHeadersTimeout | MinDataRate | ResponseStalled => {
                ErrorCode::CANCEL
            }
            KeepAliveTimeout | PeerError => ErrorCode::NO_ERROR,
            BadPreface
            | FirstFrameNotSettings
            | MissingStreamId
            | UnexpectedStreamId
            | BadPadding
            | BadEnablePush
            | BadEnableConnectProtocol
            | BadMaxFrameSize
            | ZeroWindowIncrement
            | ExpectedContinuation
            | UnexpectedContinuation
            | PushPromiseFromClient
            | SelfDependency
            | BadStreamId
            | IdleStream
            | MalformedRequest
            | ContentLengthMismatch => ErrorCode::PROTOCOL_ERROR,
        }
    }
}

/// An error with its scope: a connection error ends the connection with
/// GOAWAY, a stream error ends one stream with RST_STREAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H2Error {
    /// Ends the connection (RFC 9113 5.4.1).
    Connection(Reason),
    /// Ends stream `.0` (RFC 9113 5.4.2).
    Stream(u32, Reason),
}

impl H2Error {
    /// The reason, whatever the scope.
    pub fn reason(self) -> Reason {
        match self {
            H2Error::Connection(r) | H2Error::Stream(_, r) => r,
        }
    }
}

impl fmt::Display for H2Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            H2Error::Connection(r) => write!(f, "connection error {}: {r:?}", r.code()),
            H2Error::Stream(id, r) => write!(f, "stream {id} error {}: {r:?}", r.code()),
        }
    }
}

impl std::error::Error for H2Error {}
