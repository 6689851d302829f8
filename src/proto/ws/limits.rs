//! [`WebSocketLimits`]: every limit of the WebSocket core in one place.

use std::time::Duration;

/// Limits for one WebSocket connection.
///
/// Where the defaults come from: Kestrel has no message size limit at all
/// (the application reads into its own buffer); tungstenite defaults to a
/// 64 MiB message and a 16 MiB frame. This core buffers whole messages for
/// [`super::Event::Text`] or [`super::Event::Binary`], so it picks smaller
/// defaults that no ordinary application reaches but that bound what one
/// connection can make a worker hold: 16 MiB per message (inflated size,
/// for compressed messages) and 1 MiB per frame. An application that streams fragments
/// ([`super::Connection::set_streaming`]) holds at most one inflate chunk
/// at a time, and can raise `max_message_size` accordingly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketLimits {
    /// The largest frame payload accepted (on the wire, before inflation);
    /// a longer frame fails the connection with 1009 as soon as its header
    /// is read. Default 1 MiB.
    pub max_frame_size: u64,
    /// The largest message accepted, summed over its fragments, and
    /// measured after inflation for compressed messages; a longer message
    /// fails the connection with 1009 as soon as it is certain (at a frame
    /// header for uncompressed data, during inflation for compressed data).
    /// Default 16 MiB.
    pub max_message_size: u64,
    /// Bytes of frames waiting in [`super::Connection::output`], beyond
    /// which the send methods refuse application messages with
    /// [`super::SendError::Full`] (back-pressure: the application waits for
    /// the engine to write), and [`super::Connection::recv`] stops
    /// reading, so that a client sending pings without reading the pongs
    /// cannot grow the output. Control frames the core itself must send
    /// (pongs, the close) are always queued. Default 1 MiB.
    pub max_output_buffer_size: usize,
    /// Send a Ping this often (from [`super::Connection::tick`]); `None`
    /// turns keep-alive pings off. Default 2 minutes, Kestrel's
    /// `WebSocketOptions.KeepAliveInterval`.
    pub keep_alive_interval: Option<Duration>,
    /// End the connection when a keep-alive Ping is not answered by a Pong
    /// in this long; `None` waits forever. Default 30 s: Kestrel's
    /// `KeepAliveTimeout` defaults to infinite, we pick a finite one so
    /// that a vanished client is found.
    pub keep_alive_timeout: Option<Duration>,
    /// After our Close, wait this long for the client's before closing the
    /// TCP connection anyway. Default 5 s (tungstenite and Kestrel leave it
    /// to the application).
    pub close_timeout: Duration,
    /// With permessage-deflate, whole messages shorter than this many bytes are sent
    /// uncompressed (RSV1 clear; RFC 7692 lets the sender choose per message), and so is a
    /// fragmented message whose first fragment is shorter. Deflating a short message costs
    /// more CPU than its bytes are worth, and often makes it longer. `0` compresses every
    /// message. Default 1 KiB: the Node.js `ws` server's `threshold` (Python `websockets`,
    /// Kestrel and soketto compress every message).
    pub compression_threshold: usize,
    /// The deflate level of outgoing messages, 0 (stored, no compression) to 9 (smallest,
    /// slowest). Default 1, the fastest level that compresses: gorilla/websocket's default,
    /// and the level soketto always uses. Level 6 (zlib's default, Python `websockets`'
    /// choice) made 16 KiB of text a quarter smaller than level 1 for five times the CPU
    /// (docs/performance.md, "WebSockets").
    pub compression_level: u32,
}

impl Default for WebSocketLimits {
    fn default() -> Self {
        WebSocketLimits {
            max_frame_size: 1024 * 1024,
            max_message_size: 16 * 1024 * 1024,
            max_output_buffer_size: 1024 * 1024,
            keep_alive_interval: Some(Duration::from_secs(120)),
            keep_alive_timeout: Some(Duration::from_secs(30)),
            close_timeout: Duration::from_secs(5),
            compression_threshold: 1024,
            compression_level: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let l = WebSocketLimits::default();
        assert_eq!(l.max_frame_size, 1_048_576);
        assert_eq!(l.max_message_size, 16_777_216);
        assert_eq!(l.max_output_buffer_size, 1_048_576);
        assert_eq!(l.keep_alive_interval, Some(Duration::from_secs(120)));
        assert_eq!(l.keep_alive_timeout, Some(Duration::from_secs(30)));
        assert_eq!(l.close_timeout, Duration::from_secs(5));
        assert_eq!(l.compression_threshold, 1024);
        assert_eq!(l.compression_level, 1);
    }
}
