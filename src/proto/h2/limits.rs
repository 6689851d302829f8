//! [`Http2Limits`]: every HTTP/2 limit in one place, with Kestrel's
//! `Http2Limits` defaults, and the flood budgets of this core.

use std::time::Duration;

/// Limits for one HTTP/2 connection. The defaults are Kestrel's
/// (`KestrelServerLimits.Http2` and the per-request limits), plus the
/// budgets of the flood defenses, whose defaults are chosen so that no
/// well-behaved client comes near them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http2Limits {
    /// SETTINGS_MAX_CONCURRENT_STREAMS: streams a client may have open at
    /// once; more are refused with RST_STREAM(REFUSED_STREAM). Default 100.
    pub max_streams_per_connection: u32,
    /// SETTINGS_HEADER_TABLE_SIZE: the largest HPACK dynamic table the
    /// client may make us keep. Default 4096.
    pub header_table_size: u32,
    /// SETTINGS_MAX_FRAME_SIZE: the largest frame payload we accept.
    /// Default 16,384 (allowed: 16,384..=16,777,215).
    pub max_frame_size: u32,
    /// The largest decoded request header field (name + value). Default
    /// 16 KiB (Kestrel's `MaxRequestHeaderFieldSize`).
    pub max_request_header_field_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE: the largest decoded header list (RFC
    /// 7541 4.1 sizes), enforced while decoding. Default 32 KiB (Kestrel's
    /// `MaxRequestHeadersTotalSize`).
    pub max_request_headers_total_size: u32,
    /// The connection's receive window. Default 1 MiB.
    pub initial_connection_window_size: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE: each stream's receive window. Default
    /// 768 KiB.
    pub initial_stream_window_size: u32,
    /// Send a PING after this much idle time; `None` (the default) turns
    /// keep-alive pings off.
    pub keep_alive_ping_delay: Option<Duration>,
    /// End the connection when a keep-alive PING is not answered in this
    /// long. Default 20 s.
    pub keep_alive_ping_timeout: Duration,
    /// A request's header block must complete within this long of its
    /// first frame. Default 30 s (Kestrel's `RequestHeadersTimeout`).
    pub request_headers_timeout: Duration,
    /// The minimum request body rate in bytes per second, after
    /// `min_request_body_grace`; `None` turns it off. Default 240 B/s.
    pub min_request_body_data_rate: Option<u32>,
    /// The grace period of the minimum body rate. Default 5 s.
    pub min_request_body_grace: Duration,
    /// The largest request body per stream; `None` for no limit. Default
    /// 30,000,000 bytes (Kestrel's `MaxRequestBodySize`).
    pub max_request_body_size: Option<u64>,
    /// A response that has buffered data but no window for this long is
    /// reset (the client that never opens its window). Default 30 s.
    pub response_stall_timeout: Duration,
    /// Response bytes one stream may buffer while the client's window is
    /// closed; beyond it [`super::Connection::send_data`] takes no more.
    /// Default 64 KiB (Kestrel's `MaxResponseBufferSize`).
    pub max_response_buffer_size: u32,
    /// Bytes of frames waiting to be written, beyond which the connection
    /// stops reading (PING/SETTINGS floods by a client that does not
    /// read). Default 1 MiB.
    pub max_output_buffer_size: u32,
    /// The encoded header block (HEADERS + CONTINUATION) limit: twice the
    /// header list limit by default, 64 KiB.
    pub max_header_block_size: u32,
    /// CONTINUATION frames one header block may use. Default 32.
    pub max_continuation_frames: u32,
    /// Rapid reset budget: client resets of streams whose response had not
    /// finished, and every RST_STREAM the client's frames make us send
    /// (refused streams, malformed requests, DATA on closed streams, stream
    /// flow-control errors). Each stream that completes normally earns one
    /// back. At 0: GOAWAY(ENHANCE_YOUR_CALM). Default 200.
    pub reset_budget: u32,
    /// Frames that make us work without progress (SETTINGS, PING,
    /// PRIORITY, WINDOW_UPDATE with nothing to send, empty DATA, RST on
    /// unknown streams, unknown frames) allowed between two frames that
    /// progress (a new stream, non-empty DATA, a response data frame).
    /// Default 1000.
    pub control_frame_budget: u32,
    /// Send SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 and accept extended CONNECT (RFC 8441: a
    /// CONNECT with `:protocol`, how WebSockets run over HTTP/2). Off: `:protocol` makes a
    /// request malformed (RST_STREAM PROTOCOL_ERROR), as RFC 8441 4 requires. Default on.
    pub enable_connect_protocol: bool,
}

impl Default for Http2Limits {
    fn default() -> Self {
        Http2Limits {
            max_streams_per_connection: 100,
            header_table_size: 4096,
            max_frame_size: 16_384,
            max_request_header_field_size: 16 * 1024,
            max_request_headers_total_size: 32 * 1024,
            initial_connection_window_size: 1024 * 1024,
            initial_stream_window_size: 768 * 1024,
            keep_alive_ping_delay: None,
            keep_alive_ping_timeout: Duration::from_secs(20),
            request_headers_timeout: Duration::from_secs(30),
            min_request_body_data_rate: Some(240),
            min_request_body_grace: Duration::from_secs(5),
            max_request_body_size: Some(30_000_000),
            response_stall_timeout: Duration::from_secs(30),
            max_response_buffer_size: 64 * 1024,
            max_output_buffer_size: 1024 * 1024,
            max_header_block_size: 64 * 1024,
            max_continuation_frames: 32,
            reset_budget: 200,
            control_frame_budget: 1000,
            enable_connect_protocol: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kestrels() {
        let l = Http2Limits::default();
        assert_eq!(l.max_streams_per_connection, 100);
        assert_eq!(l.header_table_size, 4096);
        assert_eq!(l.max_frame_size, 16_384);
        assert_eq!(l.max_request_header_field_size, 16_384);
        assert_eq!(l.initial_connection_window_size, 1_048_576);
        assert_eq!(l.initial_stream_window_size, 786_432);
        assert_eq!(l.keep_alive_ping_delay, None);
        assert_eq!(l.keep_alive_ping_timeout, Duration::from_secs(20));
    }
}
