//! Request and response limits shared by every engine (Kestrel's `KestrelServerLimits`).
//!
//! Every limit, its default, the status it produces and how to change it is listed in
//! `docs/limits.md`.

use std::time::Duration;

use crate::base::MinDataRate;
use crate::proto::h1::{BareLineFeedPolicy, HeadLimits};
use crate::proto::h2::Http2Limits;
use crate::proto::ws::WebSocketLimits;

/// Limits applied to every connection. Defaults follow Kestrel's.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Longest request line (method, target, version) in bytes; longer gets `414`. Default 8 KiB.
    pub max_request_line_size: usize,
    /// Largest header section in bytes; larger gets `431`. Default 32 KiB.
    pub max_request_headers_total_size: usize,
    /// Most header fields in one request; more gets `431`. Default 100.
    pub max_request_header_count: usize,
    /// Largest request body in bytes, `None` for no limit. Checked when the application starts
    /// reading the body: a larger `Content-Length` fails at once, a chunked body once it passes
    /// the limit; either way the response is `413`. A handler can change it for its request
    /// (the [`MaxRequestBodySize`](crate::http::MaxRequestBodySize) feature). Default 30,000,000.
    pub max_request_body_size: Option<u64>,
    /// Response body bytes a handler may buffer before
    /// [`HttpContext::write_all`](crate::HttpContext::write_all) waits for the client. Default
    /// 64 KiB.
    pub max_response_buffer_size: usize,
    /// Time allowed to receive a whole request head, from its first byte; then `408` and close
    /// (slowloris). Default 30 s.
    pub request_headers_timeout: Duration,
    /// Time an idle connection is kept open waiting for its next request. Default 130 s.
    pub keep_alive_timeout: Duration,
    /// Slowest request body upload accepted while the application reads it; slower gets `408`
    /// and close. `None` disables. A handler can change it for its request (the
    /// [`MinRequestBodyDataRate`](crate::http::MinRequestBodyDataRate) feature). Default 240 B/s
    /// after 5 s.
    pub min_request_body_data_rate: Option<MinDataRate>,
    /// Slowest response download accepted; a client that reads slower (or not at all) is
    /// disconnected. `None` disables. Default 240 B/s after 5 s.
    pub min_response_data_rate: Option<MinDataRate>,
    /// Most connections open at once across all workers, `None` for no limit. Over it, a new
    /// connection is accepted and closed at once (counted). Default: no limit.
    pub max_concurrent_connections: Option<usize>,
    /// Most upgraded connections (`101 Switching Protocols`) open at once across all workers,
    /// `None` for no limit. Over it, [`HttpContext::upgrade`](crate::HttpContext::upgrade)
    /// fails and the application answers (e.g. `503`). Default: no limit.
    pub max_concurrent_upgraded_connections: Option<usize>,
    /// What a line of the head or of the trailer section that ends in a bare LF gets:
    /// [`Reject`](BareLineFeedPolicy::Reject) (`400`, the default) or
    /// [`Accept`](BareLineFeedPolicy::Accept) (RFC 9112 2.2 permits it). Either way the
    /// requests that used one are counted (`peregrine_bare_line_feed_requests_total`).
    pub bare_line_feed: BareLineFeedPolicy,
    /// The server's WebSocket limits: what
    /// [`HttpContext::accept_websocket`](crate::HttpContext::accept_websocket) uses unless the
    /// application's [`WebSocketOptions`](crate::websocket::WebSocketOptions) give their own (the
    /// `ws-*` settings; defaults in [`WebSocketLimits`]).
    pub websocket: WebSocketLimits,
    /// HTTP/2 limits (Kestrel's `Http2Limits`): streams, windows, frame and header sizes,
    /// keep-alive PING, and the flood budgets. See `docs/limits.md`.
    pub http2: Http2Limits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line_size: 8 * 1024,
            max_request_headers_total_size: 32 * 1024,
            max_request_header_count: 100,
            max_request_body_size: Some(30_000_000),
            max_response_buffer_size: 64 * 1024,
            request_headers_timeout: Duration::from_secs(30),
            keep_alive_timeout: Duration::from_secs(130),
            min_request_body_data_rate: Some(MinDataRate::DEFAULT),
            min_response_data_rate: Some(MinDataRate::DEFAULT),
            max_concurrent_connections: None,
            max_concurrent_upgraded_connections: None,
            bare_line_feed: BareLineFeedPolicy::Reject,
            websocket: WebSocketLimits::default(),
            http2: Http2Limits::default(),
        }
    }
}

impl Limits {
    /// The head-parsing part of the limits.
    pub fn head_limits(&self) -> HeadLimits {
        HeadLimits {
            max_request_line: self.max_request_line_size,
            max_header_bytes: self.max_request_headers_total_size,
            max_headers: self.max_request_header_count,
            bare_line_feed: self.bare_line_feed,
        }
    }

    /// Checks that every limit is usable; the message names the one that is not.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_request_line_size < 16 {
            return Err("max_request_line_size must be at least 16 bytes".into());
        }
        if self.max_request_headers_total_size < 64 {
            return Err("max_request_headers_total_size must be at least 64 bytes".into());
        }
        if !(1..=crate::proto::h1::HEADER_SLOTS).contains(&self.max_request_header_count) {
            return Err(format!(
                "max_request_header_count must be from 1 to {}",
                crate::proto::h1::HEADER_SLOTS
            ));
        }
        let h2 = &self.http2;
        if h2.max_streams_per_connection == 0 {
            return Err("http2.max_streams_per_connection must be at least 1".into());
        }
        if !(16_384..=16_777_215).contains(&h2.max_frame_size) {
            return Err(
                "http2.max_frame_size must be from 16384 to 16777215 (RFC 9113 6.5.2)".into(),
            );
        }
        if h2.initial_stream_window_size > 0x7fff_ffff
            || h2.initial_connection_window_size > 0x7fff_ffff
        {
            return Err("http2 window sizes must be at most 2^31-1 (RFC 9113 6.9.1)".into());
        }
        if h2.initial_connection_window_size < 65_535 {
            return Err("http2.initial_connection_window_size must be at least 65535".into());
        }
        if h2.max_request_header_field_size < 64 {
            return Err("http2.max_request_header_field_size must be at least 64 bytes".into());
        }
        if h2
            .keep_alive_ping_delay
            .is_some_and(|d| d < Duration::from_secs(1))
        {
            return Err("http2.keep_alive_ping_delay must be at least 1s (or off)".into());
        }
        if h2.response_stall_timeout < Duration::from_secs(1) {
            return Err("http2.response_stall_timeout must be at least 1s".into());
        }
        if self.max_response_buffer_size == 0 {
            return Err("max_response_buffer_size must be at least 1 byte".into());
        }
        if self.request_headers_timeout < Duration::from_secs(1) {
            return Err("request_headers_timeout must be at least 1s".into());
        }
        if self.keep_alive_timeout < Duration::from_secs(1) {
            return Err("keep_alive_timeout must be at least 1s".into());
        }
        if let Some(r) = &self.min_request_body_data_rate {
            r.validate()
                .map_err(|e| format!("min_request_body_data_rate: {e}"))?;
        }
        if let Some(r) = &self.min_response_data_rate {
            r.validate()
                .map_err(|e| format!("min_response_data_rate: {e}"))?;
        }
        if self.max_concurrent_connections == Some(0) {
            return Err("max_concurrent_connections must be at least 1".into());
        }
        if self.max_concurrent_upgraded_connections == Some(0) {
            return Err("max_concurrent_upgraded_connections must be at least 1".into());
        }
        validate_websocket(&self.websocket)
    }
}

/// Checks the WebSocket limits; the message names the setting.
pub(crate) fn validate_websocket(l: &WebSocketLimits) -> Result<(), String> {
    {
        let s = l;
        if s.max_frame_size < 125 {
            return Err("ws-max-frame-size must be at least 125 bytes".into());
        }
        if s.max_message_size < 125 {
            return Err("ws-max-message-size must be at least 125 bytes".into());
        }
        if s.max_output_buffer_size == 0 {
            return Err("ws-max-output-buffer-size must be at least 1 byte".into());
        }
        if s.keep_alive_interval
            .is_some_and(|d| d < Duration::from_millis(10))
        {
            return Err("ws-keep-alive-interval must be at least 10ms (or off)".into());
        }
        if s.keep_alive_timeout
            .is_some_and(|d| d < Duration::from_millis(10))
        {
            return Err("ws-keep-alive-timeout must be at least 10ms (or off)".into());
        }
        if s.close_timeout < Duration::from_millis(10) {
            return Err("ws-close-timeout must be at least 10ms".into());
        }
        if s.compression_level > 9 {
            return Err(format!(
                "ws-compression-level must be 0 to 9, not {}",
                s.compression_level
            ));
        }
        Ok(())
    }
}

/// Every limit by the name flags, environment variables and configuration use, with the form
/// of its value. The binary takes each as `--NAME VALUE` and as `PEREGRINE_NAME` (upper case,
/// `_` for `-`).
pub const LIMIT_SETTINGS: &[(&str, &str)] = &[
    ("max-request-line-size", "SIZE"),
    ("max-request-headers-size", "SIZE"),
    ("max-request-header-count", "N"),
    ("max-request-body-size", "SIZE|unlimited"),
    ("max-response-buffer-size", "SIZE"),
    ("request-headers-timeout", "DURATION"),
    ("keep-alive-timeout", "DURATION"),
    ("min-request-body-data-rate", "BYTES_PER_SEC[/GRACE]|off"),
    ("min-response-data-rate", "BYTES_PER_SEC[/GRACE]|off"),
    ("max-connections", "N|unlimited"),
    ("max-upgraded-connections", "N|unlimited"),
    ("bare-line-feed", "reject|accept"),
    ("ws-max-frame-size", "SIZE"),
    ("ws-max-message-size", "SIZE"),
    ("ws-max-output-buffer-size", "SIZE"),
    ("ws-keep-alive-interval", "DURATION|off"),
    ("ws-keep-alive-timeout", "DURATION|off"),
    ("ws-close-timeout", "DURATION"),
    ("ws-compression-threshold", "SIZE"),
    ("ws-compression-level", "0-9"),
    ("http2-max-streams", "N"),
    ("http2-header-table-size", "SIZE"),
    ("http2-max-frame-size", "SIZE"),
    ("http2-max-request-header-field-size", "SIZE"),
    ("http2-connection-window-size", "SIZE"),
    ("http2-stream-window-size", "SIZE"),
    ("http2-keep-alive-ping-delay", "DURATION|off"),
    ("http2-keep-alive-ping-timeout", "DURATION"),
    ("http2-response-stall-timeout", "DURATION"),
    ("http2-reset-budget", "N"),
    ("http2-control-frame-budget", "N"),
    ("http2-extended-connect", "on|off"),
];

impl Limits {
    /// Sets the limit called `name` (see [`LIMIT_SETTINGS`]) from text: sizes in bytes with an
    /// optional `K`/`KiB`, `M`/`MiB`, `G`/`GiB` suffix (powers of 1024), durations as `30s`,
    /// `500ms`, `2m` or plain seconds, rates as `240` or `240/5s`. The error names the setting
    /// and the value.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let v = value.trim();
        let bad = |what: &str| format!("invalid {name} {value:?}: expected {what}");
        match name {
            "max-request-line-size" => {
                self.max_request_line_size = parse_size(v).ok_or_else(|| bad("a size"))?
            }
            "max-request-headers-size" => {
                self.max_request_headers_total_size = parse_size(v).ok_or_else(|| bad("a size"))?
            }
            "max-request-header-count" => {
                self.max_request_header_count = v.parse().map_err(|_| bad("a number"))?
            }
            "max-request-body-size" => {
                self.max_request_body_size = if is_unlimited(v) {
                    None
                } else {
                    Some(parse_size(v).ok_or_else(|| bad("a size or unlimited"))? as u64)
                }
            }
            "max-response-buffer-size" => {
                self.max_response_buffer_size = parse_size(v).ok_or_else(|| bad("a size"))?
            }
            "request-headers-timeout" => {
                self.request_headers_timeout = parse_duration(v).ok_or_else(|| bad("a duration"))?
            }
            "keep-alive-timeout" => {
                self.keep_alive_timeout = parse_duration(v).ok_or_else(|| bad("a duration"))?
            }
            "min-request-body-data-rate" => {
                self.min_request_body_data_rate =
                    parse_rate(v).ok_or_else(|| bad("BYTES_PER_SEC[/GRACE] or off"))?
            }
            "min-response-data-rate" => {
                self.min_response_data_rate =
                    parse_rate(v).ok_or_else(|| bad("BYTES_PER_SEC[/GRACE] or off"))?
            }
            "max-connections" => {
                self.max_concurrent_connections = if is_unlimited(v) {
                    None
                } else {
                    Some(v.parse().map_err(|_| bad("a number or unlimited"))?)
                }
            }
            "max-upgraded-connections" => {
                self.max_concurrent_upgraded_connections = if is_unlimited(v) {
                    None
                } else {
                    Some(v.parse().map_err(|_| bad("a number or unlimited"))?)
                }
            }
            "bare-line-feed" => {
                self.bare_line_feed = match v.to_ascii_lowercase().as_str() {
                    "reject" => BareLineFeedPolicy::Reject,
                    "accept" => BareLineFeedPolicy::Accept,
                    _ => return Err(bad("reject or accept")),
                }
            }
            "ws-max-frame-size" => {
                self.websocket.max_frame_size = parse_size(v).ok_or_else(|| bad("a size"))? as u64
            }
            "ws-max-message-size" => {
                self.websocket.max_message_size = parse_size(v).ok_or_else(|| bad("a size"))? as u64
            }
            "ws-max-output-buffer-size" => {
                self.websocket.max_output_buffer_size =
                    parse_size(v).ok_or_else(|| bad("a size"))?
            }
            "ws-keep-alive-interval" => {
                self.websocket.keep_alive_interval = if is_off(v) {
                    None
                } else {
                    Some(parse_duration(v).ok_or_else(|| bad("a duration or off"))?)
                }
            }
            "ws-keep-alive-timeout" => {
                self.websocket.keep_alive_timeout = if is_off(v) {
                    None
                } else {
                    Some(parse_duration(v).ok_or_else(|| bad("a duration or off"))?)
                }
            }
            "ws-close-timeout" => {
                self.websocket.close_timeout = parse_duration(v).ok_or_else(|| bad("a duration"))?
            }
            "ws-compression-threshold" => {
                self.websocket.compression_threshold = parse_size(v).ok_or_else(|| bad("a size"))?
            }
            "ws-compression-level" => {
                self.websocket.compression_level = v
                    .parse()
                    .ok()
                    .filter(|l| *l <= 9)
                    .ok_or_else(|| bad("a level from 0 to 9"))?
            }
            "http2-max-streams" => {
                self.http2.max_streams_per_connection = v.parse().map_err(|_| bad("a number"))?
            }
            "http2-header-table-size" => {
                self.http2.header_table_size = parse_u32_size(v).ok_or_else(|| bad("a size"))?
            }
            "http2-max-frame-size" => {
                self.http2.max_frame_size = parse_u32_size(v).ok_or_else(|| bad("a size"))?
            }
            "http2-max-request-header-field-size" => {
                self.http2.max_request_header_field_size =
                    parse_u32_size(v).ok_or_else(|| bad("a size"))?
            }
            "http2-connection-window-size" => {
                self.http2.initial_connection_window_size =
                    parse_u32_size(v).ok_or_else(|| bad("a size"))?
            }
            "http2-stream-window-size" => {
                self.http2.initial_stream_window_size =
                    parse_u32_size(v).ok_or_else(|| bad("a size"))?
            }
            "http2-keep-alive-ping-delay" => {
                self.http2.keep_alive_ping_delay = if v.eq_ignore_ascii_case("off") {
                    None
                } else {
                    Some(parse_duration(v).ok_or_else(|| bad("a duration or off"))?)
                }
            }
            "http2-keep-alive-ping-timeout" => {
                self.http2.keep_alive_ping_timeout =
                    parse_duration(v).ok_or_else(|| bad("a duration"))?
            }
            "http2-response-stall-timeout" => {
                self.http2.response_stall_timeout =
                    parse_duration(v).ok_or_else(|| bad("a duration"))?
            }
            "http2-reset-budget" => {
                self.http2.reset_budget = v.parse().map_err(|_| bad("a number"))?
            }
            "http2-control-frame-budget" => {
                self.http2.control_frame_budget = v.parse().map_err(|_| bad("a number"))?
            }
            "http2-extended-connect" => {
                self.http2.enable_connect_protocol = match v.to_ascii_lowercase().as_str() {
                    "on" => true,
                    "off" => false,
                    _ => return Err(bad("on or off")),
                }
            }
            _ => return Err(format!("unknown limit {name:?}")),
        }
        Ok(())
    }
}

fn is_off(v: &str) -> bool {
    v.eq_ignore_ascii_case("off") || v.eq_ignore_ascii_case("none")
}

/// A size that fits HTTP/2's 32-bit settings.
fn parse_u32_size(v: &str) -> Option<u32> {
    parse_size(v).and_then(|n| u32::try_from(n).ok())
}

fn is_unlimited(v: &str) -> bool {
    v.eq_ignore_ascii_case("unlimited") || v.eq_ignore_ascii_case("none")
}

/// `1024`, `8K`, `8KiB`, `30M`, `1G` (powers of 1024).
fn parse_size(v: &str) -> Option<usize> {
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(digits);
    let n: usize = n.parse().ok()?;
    let scale: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale)
}

/// `30s`, `500ms`, `2m`, `1h`, or plain seconds (`30`, `2.5`).
pub(crate) fn parse_duration(v: &str) -> Option<Duration> {
    let (n, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = v.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (v, 1.0)
    };
    let secs = n.trim().parse::<f64>().ok()? * scale;
    (secs.is_finite() && (0.0..1e9).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

/// `240`, `240/5s`, or `off`.
fn parse_rate(v: &str) -> Option<Option<MinDataRate>> {
    if v.eq_ignore_ascii_case("off") || v.eq_ignore_ascii_case("none") {
        return Some(None);
    }
    let (rate, grace) = match v.split_once('/') {
        Some((r, g)) => (r, parse_duration(g.trim())?),
        None => (v, MinDataRate::DEFAULT.grace_period),
    };
    let bytes_per_second: f64 = rate.trim().parse().ok()?;
    Some(Some(MinDataRate {
        bytes_per_second,
        grace_period: grace,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_parses_and_bad_values_are_named() {
        let mut l = Limits::default();
        for (name, value) in [
            ("max-request-line-size", "16K"),
            ("max-request-headers-size", "64KiB"),
            ("max-request-header-count", "50"),
            ("max-request-body-size", "unlimited"),
            ("max-response-buffer-size", "1M"),
            ("request-headers-timeout", "10s"),
            ("keep-alive-timeout", "2m"),
            ("min-request-body-data-rate", "100/3s"),
            ("min-response-data-rate", "off"),
            ("max-connections", "1000"),
            ("max-upgraded-connections", "7"),
            ("bare-line-feed", "Accept"),
            ("ws-max-frame-size", "64K"),
            ("ws-max-message-size", "2M"),
            ("ws-max-output-buffer-size", "256K"),
            ("ws-keep-alive-interval", "off"),
            ("ws-keep-alive-timeout", "10s"),
            ("ws-close-timeout", "500ms"),
            ("ws-compression-threshold", "4K"),
            ("ws-compression-level", "6"),
            ("http2-max-streams", "250"),
            ("http2-header-table-size", "8K"),
            ("http2-max-frame-size", "32K"),
            ("http2-max-request-header-field-size", "8K"),
            ("http2-connection-window-size", "4M"),
            ("http2-stream-window-size", "1M"),
            ("http2-keep-alive-ping-delay", "30s"),
            ("http2-keep-alive-ping-timeout", "10s"),
            ("http2-response-stall-timeout", "1m"),
            ("http2-reset-budget", "50"),
            ("http2-control-frame-budget", "500"),
            ("http2-extended-connect", "OFF"),
        ] {
            l.set(name, value).unwrap();
        }
        assert_eq!(l.http2.max_streams_per_connection, 250);
        assert_eq!(l.http2.header_table_size, 8192);
        assert_eq!(l.http2.max_frame_size, 32768);
        assert_eq!(l.http2.max_request_header_field_size, 8192);
        assert_eq!(l.http2.initial_connection_window_size, 4 << 20);
        assert_eq!(l.http2.initial_stream_window_size, 1 << 20);
        assert_eq!(l.http2.keep_alive_ping_delay, Some(Duration::from_secs(30)));
        assert_eq!(l.http2.keep_alive_ping_timeout, Duration::from_secs(10));
        assert_eq!(l.http2.response_stall_timeout, Duration::from_secs(60));
        assert_eq!(l.http2.reset_budget, 50);
        assert_eq!(l.http2.control_frame_budget, 500);
        assert!(!l.http2.enable_connect_protocol);
        l.validate().unwrap();
        assert_eq!(l.max_request_line_size, 16 * 1024);
        assert_eq!(l.max_request_headers_total_size, 64 * 1024);
        assert_eq!(l.max_request_header_count, 50);
        assert_eq!(l.max_request_body_size, None);
        assert_eq!(l.max_response_buffer_size, 1 << 20);
        assert_eq!(l.request_headers_timeout, Duration::from_secs(10));
        assert_eq!(l.keep_alive_timeout, Duration::from_secs(120));
        assert_eq!(
            l.min_request_body_data_rate,
            Some(MinDataRate {
                bytes_per_second: 100.0,
                grace_period: Duration::from_secs(3)
            })
        );
        assert_eq!(l.min_response_data_rate, None);
        assert_eq!(l.max_concurrent_connections, Some(1000));
        assert!(l.validate().is_ok());
        assert_eq!(l.max_concurrent_upgraded_connections, Some(7));
        assert_eq!(l.bare_line_feed, BareLineFeedPolicy::Accept);
        assert_eq!(l.websocket.max_frame_size, 64 * 1024);
        assert_eq!(l.websocket.max_message_size, 2 << 20);
        assert_eq!(l.websocket.max_output_buffer_size, 256 * 1024);
        assert_eq!(l.websocket.keep_alive_interval, None);
        assert_eq!(
            l.websocket.keep_alive_timeout,
            Some(Duration::from_secs(10))
        );
        assert_eq!(l.websocket.close_timeout, Duration::from_millis(500));
        assert_eq!(l.websocket.compression_threshold, 4096);
        assert_eq!(l.websocket.compression_level, 6);
        assert_eq!(LIMIT_SETTINGS.len(), 32, "every setting is in the table");

        for (name, value, want) in [
            (
                "max-request-body-size",
                "lots",
                "invalid max-request-body-size \"lots\"",
            ),
            ("keep-alive-timeout", "-1s", "invalid keep-alive-timeout"),
            (
                "min-response-data-rate",
                "fast",
                "invalid min-response-data-rate",
            ),
            (
                "max-request-line-size",
                "8X",
                "invalid max-request-line-size",
            ),
            (
                "bare-line-feed",
                "sometimes",
                "invalid bare-line-feed \"sometimes\": expected reject or accept",
            ),
            (
                "ws-keep-alive-interval",
                "sometimes",
                "invalid ws-keep-alive-interval \"sometimes\": expected a duration or off",
            ),
            ("ws-max-message-size", "big", "invalid ws-max-message-size"),
            (
                "ws-compression-level",
                "10",
                "invalid ws-compression-level \"10\": expected a level from 0 to 9",
            ),
            (
                "ws-compression-threshold",
                "-1",
                "invalid ws-compression-threshold \"-1\": expected a size",
            ),
            (
                "http2-extended-connect",
                "yes",
                "invalid http2-extended-connect \"yes\": expected on or off",
            ),
            ("nonsense", "1", "unknown limit"),
        ] {
            let e = l.set(name, value).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn a_compression_level_set_in_code_is_validated() {
        let mut l = Limits::default();
        l.websocket.compression_level = 12;
        assert_eq!(
            l.validate().unwrap_err(),
            "ws-compression-level must be 0 to 9, not 12"
        );
    }

    #[test]
    fn validation_names_the_bad_limit() {
        for (name, value, want) in [
            ("keep-alive-timeout", "0", "keep_alive_timeout"),
            (
                "request-headers-timeout",
                "100ms",
                "request_headers_timeout",
            ),
            (
                "min-request-body-data-rate",
                "0",
                "min_request_body_data_rate",
            ),
            ("min-response-data-rate", "240/0.5s", "grace period"),
            ("max-connections", "0", "max_concurrent_connections"),
            ("http2-max-frame-size", "1K", "http2.max_frame_size"),
            ("http2-max-streams", "0", "http2.max_streams_per_connection"),
            ("http2-stream-window-size", "3G", "window sizes"),
            (
                "http2-keep-alive-ping-delay",
                "10ms",
                "keep_alive_ping_delay",
            ),
            (
                "max-request-header-count",
                "1000",
                "max_request_header_count",
            ),
            ("ws-max-frame-size", "100", "ws-max-frame-size"),
            (
                "ws-max-output-buffer-size",
                "0",
                "ws-max-output-buffer-size",
            ),
            ("ws-close-timeout", "1ms", "ws-close-timeout"),
            ("ws-keep-alive-timeout", "0s", "ws-keep-alive-timeout"),
        ] {
            let mut l = Limits::default();
            l.set(name, value).unwrap();
            let e = l.validate().unwrap_err();
            assert!(e.contains(want), "{name}={value}: {e}");
        }
    }
}
