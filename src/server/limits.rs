//! Request and response limits shared by every engine (Kestrel's `KestrelServerLimits`).

use crate::proto::h1::HeadLimits;

/// Limits applied to every connection. Defaults follow Kestrel's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line (method, target, version) in bytes; longer gets `414`. Default 8 KiB.
    pub max_request_line_size: usize,
    /// Largest header section in bytes; larger gets `431`. Default 32 KiB.
    pub max_request_headers_total_size: usize,
    /// Most header fields in one request; more gets `431`. Default 100.
    pub max_request_header_count: usize,
    /// Largest request body in bytes, `None` for no limit; a larger declared `Content-Length`
    /// gets `413` before the body is read, a chunked body fails once it passes the limit.
    /// Default 30,000,000.
    pub max_request_body_size: Option<u64>,
    /// Response body bytes a handler may buffer before
    /// [`HttpContext::write_all`](crate::HttpContext::write_all) waits for the client. Default
    /// 64 KiB.
    pub max_response_buffer_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line_size: 8 * 1024,
            max_request_headers_total_size: 32 * 1024,
            max_request_header_count: 100,
            max_request_body_size: Some(30_000_000),
            max_response_buffer_size: 64 * 1024,
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
        if self.max_request_header_count == 0 {
            return Err("max_request_header_count must be at least 1".into());
        }
        if self.max_response_buffer_size == 0 {
            return Err("max_response_buffer_size must be at least 1 byte".into());
        }
        Ok(())
    }
}
