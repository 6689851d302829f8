//! Response encoding: status line, headers, chunked framing (RFC 9112 4-7).
//!
//! Encoders append to a caller-owned `Vec<u8>` (the connection's write
//! buffer, allocated once); with enough capacity they never allocate.
//! Framing headers (`Content-Length`, `Transfer-Encoding`, `Connection`) are
//! owned by the encoder and derived from [`ResponseFraming`] and the
//! connection state, never copied from application headers: a framing header
//! that disagrees with how the body is actually written is how responses get
//! desynchronized.

use std::fmt;

use super::token::{is_token, words};
use super::{ServerHeaders, Span, StaticHeader, Version};
use crate::proto::decimal::put_decimal;

/// The interim response sent when a request has `Expect: 100-continue` and
/// the application starts reading its body (RFC 9110 10.1.1, 15.2.1).
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// The standard reason phrase for `status` (RFC 9110 15 and the IANA
/// registry), or `""` for an unknown code (the reason phrase is optional,
/// RFC 9112 4).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => "",
    }
}

/// Whether a response with this status may carry content: not 1xx, 204 or
/// 304 (RFC 9110 6.4.1, 15.3.5, 15.4.5).
pub fn status_allows_body(status: u16) -> bool {
    !(matches!(status, 100..=199 | 204 | 304))
}

/// A response header name or value was rejected by [`ResponseHeaders`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidHeader;

impl fmt::Display for InvalidHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid response header name or value")
    }
}

impl std::error::Error for InvalidHeader {}

/// Response headers set by the application, kept as the lines they will be on the wire.
///
/// Each header is appended to one `Vec<u8>` as `name: value\r\n` and indexed by [`Span`]s of
/// its name and value, so a response with N headers costs no allocation once the buffer has
/// grown to the connection's working size ([`clear`](Self::clear) keeps both capacities), and
/// [`encode_head`] writes all of them with one copy in the common case. Insertion order is
/// preserved (it is the order on the wire). [`remove`](Self::remove) and [`set`](Self::set)
/// leave the old bytes in the buffer until the next `clear`; the encoder then writes the live
/// headers one by one.
#[derive(Clone, Debug)]
pub struct ResponseHeaders {
    lines: Vec<u8>,
    entries: Vec<(Span, Span)>,
    /// Which names that the encoder treats specially may be present ([`Special`]).
    special: u8,
    /// `lines` holds bytes of a removed header: it is not the wire form of `entries`.
    holes: bool,
}

/// Bits of [`ResponseHeaders::special`]: a cheap over-approximation from a name's length and
/// first letter, so that a reader knows when it need not look (`Content-Length` and
/// `Connection` share length-and-letter with no other common header; `Date` and `Server` are
/// checked exactly when the bit is set).
pub(super) struct Special;

impl Special {
    /// `Content-Length`, `Connection` or `Transfer-Encoding` (owned by the encoder).
    const FRAMING: u8 = 1;
    /// `Server`.
    const SERVER: u8 = 2;
    /// `Date`.
    const DATE: u8 = 4;

    #[inline]
    pub(super) const fn of(name: &[u8]) -> u8 {
        if name.is_empty() {
            return 0;
        }
        match (name.len(), name[0] | 0x20) {
            (10 | 14, b'c') | (17, b't') => Special::FRAMING,
            (6, b's') => Special::SERVER,
            (4, b'd') => Special::DATE,
            _ => 0,
        }
    }
}

impl Default for ResponseHeaders {
    /// 1 KiB of header bytes and 32 entries.
    fn default() -> Self {
        ResponseHeaders::with_capacity(1024, 32)
    }
}

/// The checks behind [`ResponseHeaders::append`].
#[inline]
fn validate(name: &[u8], value: &[u8]) -> Result<(), InvalidHeader> {
    if !is_token(name) || !value_is_safe(value) {
        return Err(InvalidHeader);
    }
    Ok(())
}

/// Whether `value` holds no CR, LF or NUL, checked a word at a time.
#[inline]
fn value_is_safe(value: &[u8]) -> bool {
    let (whole, rest) = words::split(value);
    for w in whole {
        if words::has_byte(w, b'\r') | words::has_byte(w, b'\n') | words::has_byte(w, 0) != 0 {
            return false;
        }
    }
    !rest.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
}

impl ResponseHeaders {
    /// Creates an empty set with room for `bytes` bytes of header lines and `entries` headers.
    pub fn with_capacity(bytes: usize, entries: usize) -> Self {
        ResponseHeaders {
            lines: Vec::with_capacity(bytes),
            entries: Vec::with_capacity(entries),
            special: 0,
            holes: false,
        }
    }

    /// Appends a header, keeping any existing ones with the same name.
    ///
    /// The name must be a token (RFC 9110 5.6.2, which also rules out
    /// empty names and `:`) and the value must not contain CR, LF or NUL
    /// (RFC 9110 5.5): an application that copies user input into a header
    /// must not be able to split the response.
    pub fn append(&mut self, name: &str, value: &[u8]) -> Result<(), InvalidHeader> {
        validate(name.as_bytes(), value)?;
        self.push(name.as_bytes(), value);
        Ok(())
    }

    /// Replaces every header named `name` (ASCII case-insensitive) with one
    /// `name: value`, placed last. On error nothing is changed.
    pub fn set(&mut self, name: &str, value: &[u8]) -> Result<(), InvalidHeader> {
        validate(name.as_bytes(), value)?;
        self.remove(name);
        self.push(name.as_bytes(), value);
        Ok(())
    }

    /// [`set`](Self::set) for a header checked when it was made: replaces every header of its
    /// name with it, placed last, by one copy of its line.
    pub fn set_static(&mut self, header: &StaticHeader) {
        let (line, name_len, value_at, special) = header.line();
        // Most responses set each header once, into an empty set: no call then.
        if !self.entries.is_empty() {
            self.remove_present(&line[..name_len]);
        }
        self.special |= special;
        let start = self.lines.len();
        self.lines.reserve(line.len() + 2);
        self.lines.extend_from_slice(line);
        self.lines.extend_from_slice(b"\r\n");
        self.entries.push((
            Span::new(start, start + name_len),
            Span::new(start + value_at, start + line.len()),
        ));
    }

    #[inline]
    fn push(&mut self, name: &[u8], value: &[u8]) {
        self.special |= Special::of(name);
        let lines = &mut self.lines;
        lines.reserve(name.len() + value.len() + 4);
        let start = lines.len();
        lines.extend_from_slice(name);
        let mid = lines.len();
        lines.extend_from_slice(b": ");
        lines.extend_from_slice(value);
        let end = lines.len();
        lines.extend_from_slice(b"\r\n");
        self.entries
            .push((Span::new(start, mid), Span::new(mid + 2, end)));
    }

    /// The first entry named `name` (ASCII case-insensitive).
    #[inline]
    fn find(&self, name: &[u8]) -> Option<&(Span, Span)> {
        self.entries
            .iter()
            .find(|(n, _)| n.len() == name.len() && n.get(&self.lines).eq_ignore_ascii_case(name))
    }

    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.find(name.as_bytes()).map(|(_, v)| v.get(&self.lines))
    }

    /// Whether a header named `name` (ASCII case-insensitive) is present.
    pub fn contains(&self, name: &str) -> bool {
        self.find(name.as_bytes()).is_some()
    }

    /// Removes every header named `name` (ASCII case-insensitive); returns
    /// whether there was one.
    #[inline]
    pub fn remove(&mut self, name: &str) -> bool {
        // Most responses set each header once, into an empty set: no call then.
        !self.entries.is_empty() && self.remove_present(name.as_bytes())
    }

    fn remove_present(&mut self, name: &[u8]) -> bool {
        let before = self.entries.len();
        let lines = &self.lines;
        self.entries
            .retain(|(n, _)| !(n.len() == name.len() && n.get(lines).eq_ignore_ascii_case(name)));
        let removed = self.entries.len() != before;
        self.holes |= removed;
        removed
    }

    /// The headers as `(name, value)` in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries
            .iter()
            .map(|(n, v)| (n.get(&self.lines), v.get(&self.lines)))
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no headers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a `Content-Length` or `Connection` header may be present: `false` means
    /// neither is, so a server deciding the framing ([`decide_response`](super::decide_response))
    /// need not look. (`true` may also follow another header of the same length and first
    /// letter, or such a header that was removed, until [`clear`](Self::clear).)
    pub fn may_have_framing_headers(&self) -> bool {
        self.special & Special::FRAMING != 0
    }

    /// Whether a header named `name` is present, where `bit` says whether one may be.
    #[inline]
    fn has_special(&self, bit: u8, name: &str) -> bool {
        self.special & bit != 0 && self.contains(name)
    }

    /// Writes the headers in wire form, without those the encoder owns (framing headers).
    #[inline]
    fn encode(&self, out: &mut Vec<u8>) {
        if self.special & Special::FRAMING == 0 && !self.holes {
            // The common case: the buffer is exactly the wire form.
            out.extend_from_slice(&self.lines);
            return;
        }
        for &(name, value) in &self.entries {
            let name = name.get(&self.lines);
            if !is_framing_header(name) {
                write_header(out, name, value.get(&self.lines));
            }
        }
    }

    /// Removes all headers, keeping the allocated capacity.
    pub fn clear(&mut self) {
        self.lines.clear();
        self.entries.clear();
        self.special = 0;
        self.holes = false;
    }
}

/// How the response body is delimited on the wire (RFC 9112 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseFraming {
    /// `Content-Length: n`; exactly `n` body bytes follow. For a response
    /// to HEAD, the length a GET would have had (RFC 9110 9.3.2), with no
    /// body written.
    Length(u64),
    /// `Transfer-Encoding: chunked`; the body is written with
    /// [`encode_chunk`] and ended with [`encode_last_chunk`]. Only for
    /// HTTP/1.1 requests (an HTTP/1.0 client cannot decode it, RFC 9112
    /// 6.1): use `Length`, or `NoBody` with `keep_alive: false`, instead.
    Chunked,
    /// No framing header. Correct for 1xx, 204 and 304, and for HEAD
    /// responses. For any other response the client reads the body until
    /// the connection closes (RFC 9112 6.3 item 8), so it must be paired
    /// with `keep_alive: false`; an empty body on a keep-alive connection
    /// is `Length(0)`.
    NoBody,
}

/// Everything [`encode_head`] needs to write a response head.
#[derive(Clone, Copy, Debug)]
pub struct ResponseHeadInfo<'a> {
    /// The *request's* version: decides whether keep-alive must be
    /// announced. The status line always says HTTP/1.1.
    pub version: Version,
    /// Status code, 100..=999.
    pub status: u16,
    /// Headers set by the application.
    pub headers: &'a ResponseHeaders,
    /// How the body will be written.
    pub framing: ResponseFraming,
    /// Whether the connection stays open after this response (see
    /// [`decide_response`](super::decide_response)).
    pub keep_alive: bool,
    /// The `Server` and `Date` headers the server adds (each unless the application set its
    /// own).
    pub server_headers: &'a ServerHeaders,
}

/// Writes a response head (status line, headers, blank line) to `out`.
///
/// Order: status line, `Server` (unless the application set one), `Date`
/// (unless the application set one), application headers in insertion order
/// minus `Content-Length`, `Transfer-Encoding` and `Connection` (owned by
/// the encoder), the framing header, then `Connection: close` when
/// `!keep_alive` or `Connection: keep-alive` for a kept-alive HTTP/1.0
/// client. For 1xx and 204 no framing header is written whatever `framing`
/// says (RFC 9110 8.6, RFC 9112 6.1: MUST NOT). Interim 1xx responses get
/// no `Connection` header, except 101 which gets `Connection: upgrade` (the
/// application sets `Upgrade`).
///
/// Does not allocate when `out` has enough spare capacity.
pub fn encode_head(out: &mut Vec<u8>, info: &ResponseHeadInfo<'_>) {
    debug_assert!((100..=999).contains(&info.status), "status {}", info.status);
    // A server sends its highest supported minor version (RFC 9110 6.2),
    // also to HTTP/1.0 clients.
    let headers = info.headers;
    let server_headers = info.server_headers;
    if info.status == 200 && headers.special & (Special::SERVER | Special::DATE) == 0 {
        // The usual head: its status line, `Server` and `Date` are one formatted block.
        out.extend_from_slice(server_headers.ok_start());
    } else {
        match common_status_line(info.status) {
            Some(line) => out.extend_from_slice(line),
            None => {
                out.extend_from_slice(b"HTTP/1.1 ");
                out.extend_from_slice(itoa::Buffer::new().format(info.status).as_bytes());
                out.push(b' ');
                out.extend_from_slice(reason_phrase(info.status).as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        if let Some(server) = server_headers.server() {
            if !headers.has_special(Special::SERVER, "server") {
                write_known_header(out, b"Server: ", server);
            }
        }
        if let Some(date) = server_headers.date() {
            if !headers.has_special(Special::DATE, "date") {
                write_known_header(out, b"Date: ", date);
            }
        }
    }
    headers.encode(out);

    // The framing header, the `Connection` header and the blank line are built in one block
    // and written with one copy.
    let mut tail = [0u8; TAIL_MAX];
    let mut at = 0;
    let no_framing_allowed = matches!(info.status, 100..=199 | 204);
    match info.framing {
        _ if no_framing_allowed => {}
        ResponseFraming::Length(n) => {
            at = put(&mut tail, at, b"Content-Length: ");
            at += put_decimal(&mut tail, at, n);
            at = put(&mut tail, at, b"\r\n");
        }
        ResponseFraming::Chunked => at = put(&mut tail, at, b"Transfer-Encoding: chunked\r\n"),
        ResponseFraming::NoBody => {}
    }

    // RFC 9112 9.3 / 9.6: HTTP/1.1 persists by default and says `close`
    // when it won't; HTTP/1.0 closes by default and must be told
    // `keep-alive` when it will. Persistence is a property of the final
    // response, so interim (1xx) responses say nothing, except 101, whose
    // Upgrade header is hop-by-hop and must be listed in Connection
    // (RFC 9110 7.8).
    match info.status {
        101 => at = put(&mut tail, at, b"Connection: upgrade\r\n"),
        100..=199 => {}
        _ if !info.keep_alive => at = put(&mut tail, at, b"Connection: close\r\n"),
        _ if info.version == Version::Http10 => {
            at = put(&mut tail, at, b"Connection: keep-alive\r\n");
        }
        _ => {}
    }
    at = put(&mut tail, at, b"\r\n");
    out.extend_from_slice(&tail[..at]);
}

/// The most the end of a head takes: `Content-Length: ` and the 20 bytes a number is written
/// as, its CRLF, `Connection: keep-alive` and its CRLF, and the blank line.
const TAIL_MAX: usize = 16 + 20 + 2 + 24 + 2;

/// Writes `bytes` (a constant: a few stores) at `out[at..]`; returns where they end.
#[inline(always)]
fn put(out: &mut [u8; TAIL_MAX], at: usize, bytes: &[u8]) -> usize {
    out[at..at + bytes.len()].copy_from_slice(bytes);
    at + bytes.len()
}

fn is_framing_header(name: &[u8]) -> bool {
    match name.len() {
        10 => name.eq_ignore_ascii_case(b"connection"),
        14 => name.eq_ignore_ascii_case(b"content-length"),
        17 => name.eq_ignore_ascii_case(b"transfer-encoding"),
        _ => false,
    }
}

/// The whole status line of the statuses most responses have, so the common case is one copy.
fn common_status_line(status: u16) -> Option<&'static [u8]> {
    Some(match status {
        200 => b"HTTP/1.1 200 OK\r\n",
        204 => b"HTTP/1.1 204 No Content\r\n",
        301 => b"HTTP/1.1 301 Moved Permanently\r\n",
        302 => b"HTTP/1.1 302 Found\r\n",
        304 => b"HTTP/1.1 304 Not Modified\r\n",
        400 => b"HTTP/1.1 400 Bad Request\r\n",
        404 => b"HTTP/1.1 404 Not Found\r\n",
        500 => b"HTTP/1.1 500 Internal Server Error\r\n",
        _ => return None,
    })
}

/// A header whose name and `": "` are one constant (`b"Date: "`): one copy fewer, and one of a
/// size known at compile time (an array, not a slice), so that it stays a few stores whether or
/// not the optimiser inlines this function (whether it does moved with unrelated code before).
#[inline]
pub(super) fn write_known_header<const N: usize>(
    out: &mut Vec<u8>,
    name_colon: &[u8; N],
    value: &[u8],
) {
    out.extend_from_slice(name_colon);
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[inline]
fn write_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes one chunk: `{size in hex}\r\n{data}\r\n`. Writes nothing for
/// empty `data`, since a zero-size chunk would end the body.
pub fn encode_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    encode_chunk_header(out, data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Writes the size line of a chunk of `len` bytes (`{hex}\r\n`), for
/// callers that write the chunk data themselves (e.g. as a separate iovec)
/// followed by `\r\n`. `len` must not be 0.
pub fn encode_chunk_header(out: &mut Vec<u8>, len: usize) {
    debug_assert!(len != 0, "a zero-size chunk ends the body");
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 2 * std::mem::size_of::<usize>()];
    let mut i = digits.len();
    let mut n = len;
    loop {
        i -= 1;
        digits[i] = HEX[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\n");
}

/// Writes the last chunk and an empty trailer section: `0\r\n\r\n`.
pub fn encode_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_status_lines_are_the_generic_ones() {
        for status in 100..=999u16 {
            if let Some(line) = common_status_line(status) {
                let generic = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
                assert_eq!(line, generic.as_bytes(), "{status}");
            }
        }
    }
    use crate::proto::h1::{BodyDecoder, BodyKind};
    use proptest::prelude::*;
    use std::sync::LazyLock;
    use std::time::{Duration, UNIX_EPOCH};

    /// `Server: peregrine` and the RFC's example date.
    static OURS: LazyLock<ServerHeaders> = LazyLock::new(|| {
        ServerHeaders::with_date(Some(b"peregrine"), Some(UNIX_EPOCH + RFC_EXAMPLE))
    });
    /// Only the date.
    static DATE_ONLY: LazyLock<ServerHeaders> =
        LazyLock::new(|| ServerHeaders::with_date(None, Some(UNIX_EPOCH + RFC_EXAMPLE)));
    /// Neither.
    static NONE: LazyLock<ServerHeaders> = LazyLock::new(|| ServerHeaders::with_date(None, None));
    /// `Sun, 06 Nov 1994 08:49:37 GMT`.
    const RFC_EXAMPLE: Duration = Duration::from_secs(784_111_777);

    fn info<'a>(
        headers: &'a ResponseHeaders,
        status: u16,
        framing: ResponseFraming,
    ) -> ResponseHeadInfo<'a> {
        ResponseHeadInfo {
            version: Version::Http11,
            status,
            headers,
            framing,
            keep_alive: true,
            server_headers: &OURS,
        }
    }

    fn encode(info: &ResponseHeadInfo<'_>) -> String {
        let mut out = Vec::new();
        encode_head(&mut out, info);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ok_with_content_length() {
        let mut h = ResponseHeaders::default();
        h.append("Content-Type", b"text/plain").unwrap();
        assert_eq!(
            encode(&info(&h, 200, ResponseFraming::Length(13))),
            "HTTP/1.1 200 OK\r\nServer: peregrine\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Content-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
        );
    }

    #[test]
    fn framing_headers_are_noticed() {
        let mut h = ResponseHeaders::default();
        h.append("Content-Type", b"text/plain").unwrap();
        h.append("X-Connection", b"close").unwrap();
        h.append("Set-Cookie", b"a=b").unwrap();
        assert!(!h.may_have_framing_headers());
        h.set("content-LENGTH", b"3").unwrap();
        assert!(h.may_have_framing_headers());
        h.clear();
        assert!(!h.may_have_framing_headers());
        h.append("Connection", b"close").unwrap();
        assert!(h.may_have_framing_headers());
        assert!(h.remove("connection"));
        assert!(h.may_have_framing_headers(), "a maybe, until cleared");
    }

    #[test]
    fn chunked() {
        let h = ResponseHeaders::default();
        let mut i = info(&h, 201, ResponseFraming::Chunked);
        i.server_headers = &DATE_ONLY;
        assert_eq!(
            encode(&i),
            "HTTP/1.1 201 Created\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn no_content_drops_framing() {
        let h = ResponseHeaders::default();
        let mut i = info(&h, 204, ResponseFraming::Length(5));
        i.server_headers = &NONE;
        assert_eq!(encode(&i), "HTTP/1.1 204 No Content\r\n\r\n");
        i.framing = ResponseFraming::NoBody;
        assert_eq!(encode(&i), "HTTP/1.1 204 No Content\r\n\r\n");
        i.status = 103;
        i.framing = ResponseFraming::Chunked;
        i.keep_alive = false;
        assert_eq!(encode(&i), "HTTP/1.1 103 Early Hints\r\n\r\n");
        i.keep_alive = true;
        // 304 may carry the Content-Length a 200 would have had.
        i.status = 304;
        i.framing = ResponseFraming::Length(5);
        assert_eq!(
            encode(&i),
            "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"
        );
    }

    #[test]
    fn switching_protocols() {
        let mut h = ResponseHeaders::default();
        h.append("Upgrade", b"websocket").unwrap();
        h.append("Connection", b"keep-alive").unwrap();
        let mut i = info(&h, 101, ResponseFraming::Length(3));
        i.server_headers = &NONE;
        i.keep_alive = false;
        assert_eq!(
            encode(&i),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
        );
    }

    #[test]
    fn http10_keep_alive() {
        let h = ResponseHeaders::default();
        let mut i = info(&h, 200, ResponseFraming::Length(0));
        i.version = Version::Http10;
        i.server_headers = &NONE;
        assert_eq!(
            encode(&i),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
        );
        i.keep_alive = false;
        assert_eq!(
            encode(&i),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn every_length_fits_the_end_of_the_head() {
        let h = ResponseHeaders::default();
        for n in [0, 9, 10, 99, 100, 9_999, 10_000, 1 << 32, u64::MAX] {
            let mut i = info(&h, 200, ResponseFraming::Length(n));
            i.server_headers = &NONE;
            // The longest end a head has: a 20-digit length and `Connection: keep-alive`.
            i.version = Version::Http10;
            assert_eq!(
                encode(&i),
                format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nConnection: keep-alive\r\n\r\n")
            );
        }
    }

    #[test]
    fn connection_close() {
        let h = ResponseHeaders::default();
        let mut i = info(&h, 404, ResponseFraming::Length(0));
        i.keep_alive = false;
        assert_eq!(
            encode(&i),
            "HTTP/1.1 404 Not Found\r\nServer: peregrine\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn unknown_status_has_empty_reason() {
        let h = ResponseHeaders::default();
        let mut i = info(&h, 599, ResponseFraming::Length(0));
        i.server_headers = &NONE;
        assert_eq!(encode(&i), "HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n");
    }

    #[test]
    fn app_date_and_server_suppress_ours() {
        let mut h = ResponseHeaders::default();
        h.append("date", b"Mon, 07 Nov 1994 08:49:37 GMT").unwrap();
        h.append("SERVER", b"custom").unwrap();
        assert_eq!(
            encode(&info(&h, 200, ResponseFraming::Length(1))),
            "HTTP/1.1 200 OK\r\ndate: Mon, 07 Nov 1994 08:49:37 GMT\r\nSERVER: custom\r\nContent-Length: 1\r\n\r\n"
        );
        // Either one alone: the other is still ours.
        let mut h = ResponseHeaders::default();
        h.set_static(&StaticHeader::new("Server: custom"));
        assert_eq!(
            encode(&info(&h, 200, ResponseFraming::Length(1))),
            "HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: custom\r\nContent-Length: 1\r\n\r\n"
        );
        let mut h = ResponseHeaders::default();
        h.append("Date", b"Mon, 07 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            encode(&info(&h, 200, ResponseFraming::Length(1))),
            "HTTP/1.1 200 OK\r\nServer: peregrine\r\nDate: Mon, 07 Nov 1994 08:49:37 GMT\r\nContent-Length: 1\r\n\r\n"
        );
    }

    #[test]
    fn app_framing_headers_ignored() {
        let mut h = ResponseHeaders::default();
        h.append("Content-Length", b"999").unwrap();
        h.append("X-A", b"1").unwrap();
        h.append("transfer-encoding", b"gzip").unwrap();
        h.append("Connection", b"upgrade").unwrap();
        h.append("X-B", b"2").unwrap();
        let mut i = info(&h, 200, ResponseFraming::Length(2));
        i.server_headers = &NONE;
        assert_eq!(
            encode(&i),
            "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-B: 2\r\nContent-Length: 2\r\n\r\n"
        );
    }

    #[test]
    fn removed_and_replaced_headers_are_not_written() {
        let mut h = ResponseHeaders::default();
        h.append("X-A", b"1").unwrap();
        h.append("X-Gone", b"old").unwrap();
        h.set("x-a", b"2").unwrap();
        h.append("X-B", b"3").unwrap();
        assert!(h.remove("X-GONE"));
        assert!(!h.remove("x-gone"));
        let mut i = info(&h, 200, ResponseFraming::Length(0));
        i.server_headers = &NONE;
        assert_eq!(
            encode(&i),
            "HTTP/1.1 200 OK\r\nx-a: 2\r\nX-B: 3\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn names_that_look_like_owned_ones_are_written() {
        // Same length and first letter as Content-Length, Connection, Transfer-Encoding, Server
        // and Date: the cheap check flags them, the exact one lets them through.
        let mut h = ResponseHeaders::default();
        for name in [
            "Content-Digest",
            "Cache-Tags",
            "Timing-Allow-Orig",
            "Secret",
            "Dnt1",
        ] {
            h.append(name, b"v").unwrap();
        }
        assert!(h.may_have_framing_headers());
        assert_eq!(
            encode(&info(&h, 200, ResponseFraming::Length(0))),
            "HTTP/1.1 200 OK\r\nServer: peregrine\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Content-Digest: v\r\nCache-Tags: v\r\nTiming-Allow-Orig: v\r\nSecret: v\r\nDnt1: v\r\n\
             Content-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn invalid_headers_rejected() {
        let mut h = ResponseHeaders::default();
        for (name, value) in [
            ("a b", &b"x"[..]),
            ("", b"x"),
            ("a:b", b"x"),
            ("caf\u{e9}", b"x"),
            ("X-Split", b"a\r\nSet-Cookie: evil"),
            ("X-Lf", b"a\nb"),
            ("X-Cr", b"a\rb"),
            ("X-Nul", b"a\0b"),
        ] {
            assert_eq!(h.append(name, value), Err(InvalidHeader), "{name:?}");
            assert_eq!(h.set(name, value), Err(InvalidHeader), "{name:?}");
        }
        assert!(h.is_empty());
        assert_eq!(
            InvalidHeader.to_string(),
            "invalid response header name or value"
        );
        // Tabs, obs-text and empty values are fine.
        h.append("X-Ok", b"a\tb \xff").unwrap();
        h.append("X-Empty", b"").unwrap();
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn header_map_operations() {
        let mut h = ResponseHeaders::with_capacity(64, 4);
        h.append("Set-Cookie", b"a=1").unwrap();
        h.append("X-Other", b"o").unwrap();
        h.append("set-cookie", b"b=2").unwrap();
        assert_eq!(h.get("SET-COOKIE"), Some(&b"a=1"[..]));
        assert!(h.contains("x-other"));
        assert!(!h.contains("x-missing"));
        assert_eq!(h.len(), 3);

        h.set("Set-Cookie", b"c=3").unwrap();
        let all: Vec<(&[u8], &[u8])> = h.iter().collect();
        assert_eq!(all, [(&b"X-Other"[..], &b"o"[..]), (b"Set-Cookie", b"c=3")]);
        // A failed set leaves the old values alone.
        assert_eq!(h.set("Set-Cookie", b"\n"), Err(InvalidHeader));
        assert_eq!(h.get("set-cookie"), Some(&b"c=3"[..]));

        assert!(h.remove("x-other"));
        assert!(!h.remove("x-other"));
        assert_eq!(h.len(), 1);
        h.clear();
        assert!(h.is_empty());
        assert_eq!(h.get("set-cookie"), None);
    }

    #[test]
    fn response_headers_capacity_reused() {
        let mut h = ResponseHeaders::default();
        let (buf_cap, buf_ptr) = (h.lines.capacity(), h.lines.as_ptr());
        let (ent_cap, ent_ptr) = (h.entries.capacity(), h.entries.as_ptr());
        for i in 0..1000 {
            for j in 0..16 {
                h.append("X-Header-Name", b"some value of moderate length")
                    .unwrap();
                if j % 5 == 0 {
                    h.set(
                        "Content-Type",
                        if i % 2 == 0 {
                            b"text/plain"
                        } else {
                            b"application/json"
                        },
                    )
                    .unwrap();
                }
            }
            h.remove("x-header-name");
            h.clear();
            assert_eq!((h.lines.capacity(), h.lines.as_ptr()), (buf_cap, buf_ptr));
            assert_eq!(
                (h.entries.capacity(), h.entries.as_ptr()),
                (ent_cap, ent_ptr)
            );
        }
    }

    #[test]
    fn encode_head_does_not_allocate_with_capacity() {
        let mut h = ResponseHeaders::default();
        h.append("Content-Type", b"text/plain; charset=utf-8")
            .unwrap();
        h.append("Cache-Control", b"no-store").unwrap();
        let mut out = Vec::with_capacity(512);
        let ptr = out.as_ptr();
        for i in 0..1000u64 {
            out.clear();
            let framing = if i % 2 == 0 {
                ResponseFraming::Length(i * 1_000_003)
            } else {
                ResponseFraming::Chunked
            };
            encode_head(&mut out, &info(&h, 200, framing));
            encode_chunk(&mut out, b"hello");
            encode_last_chunk(&mut out);
            assert_eq!(out.capacity(), 512);
            assert_eq!(out.as_ptr(), ptr);
        }
    }

    #[test]
    fn chunks() {
        let mut out = Vec::new();
        encode_chunk(&mut out, b"");
        assert!(out.is_empty());
        encode_chunk(&mut out, b"hello");
        encode_chunk(&mut out, &[b'x'; 26]);
        encode_last_chunk(&mut out);
        let mut expected = b"5\r\nhello\r\n1a\r\n".to_vec();
        expected.extend_from_slice(&[b'x'; 26]);
        expected.extend_from_slice(b"\r\n0\r\n\r\n");
        assert_eq!(out, expected);
        out.clear();
        encode_chunk_header(&mut out, 0x1000);
        assert_eq!(out, b"1000\r\n");
    }

    #[test]
    fn continue_and_body_rules() {
        assert_eq!(CONTINUE_100, b"HTTP/1.1 100 Continue\r\n\r\n");
        for s in [100, 101, 103, 199, 204, 304] {
            assert!(!status_allows_body(s), "{s}");
        }
        for s in [200, 201, 205, 301, 400, 404, 500, 599] {
            assert!(status_allows_body(s), "{s}");
        }
        assert_eq!(reason_phrase(200), "OK");
        assert_eq!(reason_phrase(431), "Request Header Fields Too Large");
        assert_eq!(reason_phrase(299), "");
    }

    proptest! {
        /// The word-at-a-time check answers as a byte-at-a-time one would.
        #[test]
        fn value_check_matches_the_bytewise_check(
            v in prop::collection::vec(
                prop_oneof![Just(b'\r'), Just(b'\n'), Just(0u8), any::<u8>()],
                0..40,
            )
        ) {
            prop_assert_eq!(
                value_is_safe(&v),
                !v.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
            );
        }

        #[test]
        fn chunks_round_trip(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 0..10)) {
            let mut out = Vec::new();
            for c in &chunks {
                encode_chunk(&mut out, c);
            }
            encode_last_chunk(&mut out);
            let mut dec = BodyDecoder::new(BodyKind::Chunked);
            let mut body = Vec::new();
            let mut rest = &out[..];
            loop {
                let d = dec.decode(rest).unwrap();
                body.extend_from_slice(d.data.get(rest));
                rest = &rest[d.consumed..];
                if d.done {
                    break;
                }
                prop_assert!(d.consumed > 0);
            }
            prop_assert!(rest.is_empty());
            prop_assert_eq!(body, chunks.concat());
        }
    }
}
