//! Why a request was rejected, and the status code that says so.
//!
//! Like Kestrel's `RequestRejectionReason`, every protocol error the HTTP/1.1
//! core can detect is one variant of one enum, and the mapping to a status
//! code lives in exactly one place ([`RejectReason::status`]). After any
//! rejection the connection's framing can no longer be trusted, so the engine
//! answers with [`status`](RejectReason::status) and closes the connection
//! (RFC 9112 9.6 / 11.2: never reuse a connection after a framing error).

use std::fmt;

/// A protocol error in a request, detected while parsing its head or
/// decoding its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The request line is malformed: bad method token, missing or doubled
    /// spaces, bad line ending, or an HTTP version that is not
    /// `HTTP/<digit>.<digit>` (RFC 9112 3).
    InvalidRequestLine,
    /// The request-target is none of the four forms of RFC 9112 3.2, or the
    /// form does not match the method (`*` without OPTIONS, authority-form
    /// without CONNECT), or it contains bytes a URI cannot (non-ASCII, `#`).
    InvalidRequestTarget,
    /// A header field line is malformed: invalid name token, control
    /// character in a value, or obsolete line folding (RFC 9112 5).
    InvalidHeader,
    /// A line of the request line, the header section or the trailer section
    /// ends in a bare LF (no CR before it), or a chunk line does. RFC 9112
    /// 2.2 lets a recipient accept a lone LF in the head and trailers; by
    /// default peregrine does not, since a front end that keeps the LF inside
    /// a field value and a back end that splits on it disagree about where
    /// the message ends (request smuggling). `BareLineFeed::Accept` accepts it
    /// in the head and trailers; chunk lines always need CRLF (RFC 9112 7.1).
    BareLineFeed,
    /// A CR that is not followed by LF, anywhere in the head, a chunk line or
    /// the trailer section (RFC 9112 2.2: MUST be treated as invalid).
    BareCarriageReturn,
    /// The request line is longer than `HeadLimits::max_request_line`
    /// (414 URI Too Long, RFC 9112 3 / RFC 9110 15.5.15).
    RequestLineTooLong,
    /// The header section is larger than `HeadLimits::max_header_bytes`
    /// (431, RFC 6585 5).
    HeadersTooLarge,
    /// There are more header field lines than `HeadLimits::max_headers`
    /// (431, RFC 6585 5).
    TooManyHeaders,
    /// An HTTP/1.1 request without a Host header field (RFC 9112 3.2: MUST
    /// respond 400).
    MissingHost,
    /// More than one Host header field line (RFC 9112 3.2: MUST respond 400).
    MultipleHost,
    /// A Host header field (or the authority of an absolute-form or
    /// authority-form target) that is not `uri-host [ ":" port ]`
    /// (RFC 9112 3.2: MUST respond 400).
    InvalidHost,
    /// A Content-Length value that is not `1*DIGIT` fitting in `u64`
    /// (RFC 9110 8.6; lists and signs are rejected, not repaired).
    InvalidContentLength,
    /// Several Content-Length field lines with different values
    /// (RFC 9112 6.3 item 5: unrecoverable framing error).
    MultipleContentLength,
    /// Both Content-Length and Transfer-Encoding (RFC 9112 6.3 item 3: a
    /// server MAY reject; we do, since it is the classic smuggling vector).
    ContentLengthWithTransferEncoding,
    /// Transfer-Encoding ends in `chunked` but also lists a coding we do not
    /// implement, e.g. `gzip, chunked` (501, RFC 9112 6.1).
    UnsupportedTransferEncoding,
    /// Transfer-Encoding whose final coding is not `chunked`, e.g. `gzip`
    /// or `chunked, gzip`, or which applies `chunked` twice, or is empty:
    /// the body length cannot be determined (RFC 9112 6.3 item 4: MUST
    /// respond 400 and close).
    InvalidTransferEncoding,
    /// Transfer-Encoding in an HTTP/1.0 request (RFC 9112 6.1: MUST be
    /// treated as faulty framing).
    TransferEncodingInHttp10,
    /// A well-formed `HTTP/<digit>.<digit>` version other than 1.0 and 1.1
    /// (505, RFC 9110 15.6.6).
    UnsupportedVersion,
    /// An Expect header field other than `100-continue` (417, RFC 9110 10.1.1).
    UnknownExpectation,
    /// A chunk-size line that does not start with a hex digit or has junk
    /// after the digits (RFC 9112 7.1).
    InvalidChunkSize,
    /// Chunked framing error: a chunk's data not followed by CRLF (RFC 9112 7.1).
    InvalidChunkFraming,
    /// A chunk extension that is not `*( BWS ";" BWS token [ BWS "=" BWS
    /// ( token / quoted-string ) ] )` (RFC 9112 7.1.1), e.g. an empty name, a
    /// byte outside a token or an unterminated quoted-string, or longer than
    /// `MAX_CHUNK_EXTENSION_BYTES`.
    InvalidChunkExtension,
    /// A trailer field line that is not `field-name ":" field-value` (RFC 9112
    /// 7.1.2 and 5): a name that is not a token, whitespace before the colon,
    /// obs-fold, or a control character in the value.
    InvalidTrailer,
    /// A chunk size with more than 16 hex digits, i.e. possibly beyond `u64`.
    ChunkSizeOverflow,
    /// The trailer section of a chunked body exceeds its limit
    /// (RFC 9112 7.1.2).
    TrailersTooLarge,
    /// The connection ended before the body framing said the body was
    /// complete (RFC 9112 8: an incomplete message).
    UnexpectedEof,
    /// The body is larger than the configured maximum request body size, by its declared
    /// Content-Length or as it streams in (413 Content Too Large, RFC 9110 15.5.14).
    RequestBodyTooLarge,
    /// The request head did not arrive within the request-headers timeout
    /// (408 Request Timeout, RFC 9110 15.5.9; the slowloris defence).
    RequestHeadersTimeout,
    /// The request body arrived slower than the minimum data rate (408).
    RequestBodyTimeout,
}

impl RejectReason {
    /// Every variant, for metrics registration and exhaustive tests.
    pub const ALL: &'static [RejectReason] = &[
        RejectReason::InvalidRequestLine,
        RejectReason::InvalidRequestTarget,
        RejectReason::InvalidHeader,
        RejectReason::BareLineFeed,
        RejectReason::BareCarriageReturn,
        RejectReason::RequestLineTooLong,
        RejectReason::HeadersTooLarge,
        RejectReason::TooManyHeaders,
        RejectReason::MissingHost,
        RejectReason::MultipleHost,
        RejectReason::InvalidHost,
        RejectReason::InvalidContentLength,
        RejectReason::MultipleContentLength,
        RejectReason::ContentLengthWithTransferEncoding,
        RejectReason::UnsupportedTransferEncoding,
        RejectReason::InvalidTransferEncoding,
        RejectReason::TransferEncodingInHttp10,
        RejectReason::UnsupportedVersion,
        RejectReason::UnknownExpectation,
        RejectReason::InvalidChunkSize,
        RejectReason::InvalidChunkFraming,
        RejectReason::InvalidChunkExtension,
        RejectReason::InvalidTrailer,
        RejectReason::ChunkSizeOverflow,
        RejectReason::TrailersTooLarge,
        RejectReason::UnexpectedEof,
        RejectReason::RequestBodyTooLarge,
        RejectReason::RequestHeadersTimeout,
        RejectReason::RequestBodyTimeout,
    ];

    /// The response status code for this rejection. The single place where
    /// rejections map to status codes.
    pub fn status(self) -> u16 {
        match self {
            RejectReason::RequestLineTooLong => 414,
            RejectReason::HeadersTooLarge | RejectReason::TooManyHeaders => 431,
            RejectReason::UnsupportedTransferEncoding => 501,
            RejectReason::UnsupportedVersion => 505,
            RejectReason::UnknownExpectation => 417,
            RejectReason::RequestBodyTooLarge => 413,
            RejectReason::RequestHeadersTimeout | RejectReason::RequestBodyTimeout => 408,
            RejectReason::InvalidRequestLine
            | RejectReason::InvalidRequestTarget
            | RejectReason::InvalidHeader
            | RejectReason::BareLineFeed
            | RejectReason::BareCarriageReturn
            | RejectReason::MissingHost
            | RejectReason::MultipleHost
            | RejectReason::InvalidHost
            | RejectReason::InvalidContentLength
            | RejectReason::MultipleContentLength
            | RejectReason::ContentLengthWithTransferEncoding
            | RejectReason::InvalidTransferEncoding
            | RejectReason::TransferEncodingInHttp10
            | RejectReason::InvalidChunkSize
            | RejectReason::InvalidChunkFraming
            | RejectReason::InvalidChunkExtension
            | RejectReason::InvalidTrailer
            | RejectReason::ChunkSizeOverflow
            | RejectReason::TrailersTooLarge
            | RejectReason::UnexpectedEof => 400,
        }
    }

    /// Stable snake_case name for logs and metric labels. Never changes once
    /// released; new variants get new names.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::InvalidRequestLine => "invalid_request_line",
            RejectReason::InvalidRequestTarget => "invalid_request_target",
            RejectReason::InvalidHeader => "invalid_header",
            RejectReason::BareLineFeed => "bare_line_feed",
            RejectReason::BareCarriageReturn => "bare_carriage_return",
            RejectReason::RequestLineTooLong => "request_line_too_long",
            RejectReason::HeadersTooLarge => "headers_too_large",
            RejectReason::TooManyHeaders => "too_many_headers",
            RejectReason::MissingHost => "missing_host",
            RejectReason::MultipleHost => "multiple_host",
            RejectReason::InvalidHost => "invalid_host",
            RejectReason::InvalidContentLength => "invalid_content_length",
            RejectReason::MultipleContentLength => "multiple_content_length",
            RejectReason::ContentLengthWithTransferEncoding => {
                "content_length_with_transfer_encoding"
            }
            RejectReason::UnsupportedTransferEncoding => "unsupported_transfer_encoding",
            RejectReason::InvalidTransferEncoding => "invalid_transfer_encoding",
            RejectReason::TransferEncodingInHttp10 => "transfer_encoding_in_http10",
            RejectReason::UnsupportedVersion => "unsupported_version",
            RejectReason::UnknownExpectation => "unknown_expectation",
            RejectReason::InvalidChunkSize => "invalid_chunk_size",
            RejectReason::InvalidChunkFraming => "invalid_chunk_framing",
            RejectReason::InvalidChunkExtension => "invalid_chunk_extension",
            RejectReason::InvalidTrailer => "invalid_trailer",
            RejectReason::ChunkSizeOverflow => "chunk_size_overflow",
            RejectReason::TrailersTooLarge => "trailers_too_large",
            RejectReason::UnexpectedEof => "unexpected_eof",
            RejectReason::RequestBodyTooLarge => "request_body_too_large",
            RejectReason::RequestHeadersTimeout => "request_headers_timeout",
            RejectReason::RequestBodyTimeout => "request_body_timeout",
        }
    }

    fn description(self) -> &'static str {
        match self {
            RejectReason::InvalidRequestLine => "invalid request line",
            RejectReason::InvalidRequestTarget => "invalid request target",
            RejectReason::InvalidHeader => "invalid request header",
            RejectReason::BareLineFeed => "bare LF line terminator",
            RejectReason::BareCarriageReturn => "CR not followed by LF",
            RejectReason::RequestLineTooLong => "request line too long",
            RejectReason::HeadersTooLarge => "request header section too large",
            RejectReason::TooManyHeaders => "too many request headers",
            RejectReason::MissingHost => "missing Host header",
            RejectReason::MultipleHost => "multiple Host headers",
            RejectReason::InvalidHost => "invalid Host header",
            RejectReason::InvalidContentLength => "invalid Content-Length",
            RejectReason::MultipleContentLength => "conflicting Content-Length headers",
            RejectReason::ContentLengthWithTransferEncoding => {
                "both Content-Length and Transfer-Encoding"
            }
            RejectReason::UnsupportedTransferEncoding => "unsupported transfer coding",
            RejectReason::InvalidTransferEncoding => "chunked is not the final transfer coding",
            RejectReason::TransferEncodingInHttp10 => "Transfer-Encoding in an HTTP/1.0 request",
            RejectReason::UnsupportedVersion => "unsupported HTTP version",
            RejectReason::UnknownExpectation => "unsupported expectation",
            RejectReason::InvalidChunkSize => "invalid chunk size",
            RejectReason::InvalidChunkFraming => "invalid chunked framing",
            RejectReason::InvalidChunkExtension => "invalid chunk extension",
            RejectReason::InvalidTrailer => "invalid trailer field",
            RejectReason::ChunkSizeOverflow => "chunk size too large",
            RejectReason::TrailersTooLarge => "trailer section too large",
            RejectReason::UnexpectedEof => "connection closed before the request body ended",
            RejectReason::RequestBodyTooLarge => "request body too large",
            RejectReason::RequestHeadersTimeout => "request headers not received in time",
            RejectReason::RequestBodyTimeout => "request body arrived below the minimum data rate",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for RejectReason {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exhaustive (no wildcard) so that adding a variant fails to compile
    /// here until it is also added to `ALL` and this list.
    fn ordinal(r: RejectReason) -> usize {
        use RejectReason::*;
        match r {
            InvalidRequestLine => 0,
            InvalidRequestTarget => 1,
            InvalidHeader => 2,
            BareLineFeed => 3,
            BareCarriageReturn => 4,
            RequestLineTooLong => 5,
            HeadersTooLarge => 6,
            TooManyHeaders => 7,
            MissingHost => 8,
            MultipleHost => 9,
            InvalidHost => 10,
            InvalidContentLength => 11,
            MultipleContentLength => 12,
            ContentLengthWithTransferEncoding => 13,
            UnsupportedTransferEncoding => 14,
            InvalidTransferEncoding => 15,
            TransferEncodingInHttp10 => 16,
            UnsupportedVersion => 17,
            UnknownExpectation => 18,
            InvalidChunkSize => 19,
            InvalidChunkFraming => 20,
            InvalidChunkExtension => 21,
            InvalidTrailer => 22,
            ChunkSizeOverflow => 23,
            TrailersTooLarge => 24,
            UnexpectedEof => 25,
            RequestBodyTooLarge => 26,
            RequestHeadersTimeout => 27,
            RequestBodyTimeout => 28,
        }
    }

    #[test]
    fn all_is_complete_and_names_are_unique_snake_case() {
        assert_eq!(RejectReason::ALL.len(), 29);
        for (i, r) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(ordinal(*r), i, "{r:?} out of place in ALL");
        }
        for (i, a) in RejectReason::ALL.iter().enumerate() {
            let name = a.as_str();
            assert!(name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
            assert!(!a.to_string().is_empty());
            for b in &RejectReason::ALL[i + 1..] {
                assert_ne!(a, b);
                assert_ne!(name, b.as_str());
            }
        }
    }

    #[test]
    fn status_codes() {
        use RejectReason::*;
        let cases = [
            (RequestLineTooLong, 414),
            (HeadersTooLarge, 431),
            (TooManyHeaders, 431),
            (UnsupportedTransferEncoding, 501),
            (UnsupportedVersion, 505),
            (UnknownExpectation, 417),
            (InvalidTransferEncoding, 400),
            (UnexpectedEof, 400),
            (RequestBodyTooLarge, 413),
            (RequestHeadersTimeout, 408),
            (RequestBodyTimeout, 408),
            (MissingHost, 400),
        ];
        for (reason, status) in cases {
            assert_eq!(reason.status(), status, "{reason:?}");
        }
        for r in RejectReason::ALL {
            assert!(matches!(
                r.status(),
                400 | 408 | 413 | 414 | 417 | 431 | 501 | 505
            ));
        }
    }
}
