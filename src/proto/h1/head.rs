//! Request head parsing: request line + header section (RFC 9112 2-6).
//!
//! [`HeadParser::parse`] is a push parser in the httparse mould: it is handed
//! everything received so far, returns [`ParseStatus::Partial`] until the
//! blank line that ends the head has arrived, and never copies or allocates.
//!
//! Two paths give the same answer. The common head (every line simple and
//! CRLF-terminated, complete, within the limits) is recognised in one pass by
//! `scan` (`head/scan.rs`), with no httparse call; every other input goes to the general path,
//! where httparse does the byte-level tokenizing (strict config: no obs-fold,
//! one SP between request-line elements) and each error gets its exact name.
//! Property tests and the `head` fuzzer hold the two to the same result and the
//! same head for every input. On top of the tokenizing, this module adds:
//!
//! * size limits, enforced Kestrel-style by *slicing the input before
//!   parsing*, so an oversized head is a typed rejection instead of a buffer
//!   that keeps growing while the client trickles bytes;
//! * the request-target form (RFC 9112 3.2) and its consistency with the
//!   method;
//! * message framing (RFC 9112 6.3), Host (RFC 9112 3.2), persistence
//!   (RFC 9112 9.3) and Expect (RFC 9110 10.1.1), derived once in a single
//!   pass over the headers so the request-feature layer never re-parses them.
//!
//! Everything derived is stored in a [`RequestHead`] as [`Span`]s into the
//! parsed buffer; the head's storage is allocated once per connection and
//! reused for every request on it.

use std::mem::MaybeUninit;

use super::token::{is_ip_literal_char, is_reg_name_char, token_eq_lower, value_eq_lower, words};
use super::{RejectReason, Span};
use scan::{FieldLine, HostLine};

mod scan;

/// The most header lines a single parse can hold.
///
/// httparse needs caller-provided storage for the header slices; we keep it
/// on the stack (`HEADER_SLOTS` x 32 bytes = 4 KiB) so parsing never touches
/// the allocator. [`HeadLimits::max_headers`] above this is clamped to it.
pub const HEADER_SLOTS: usize = 128;

/// Upper bound applied to the byte limits so that every offset inside a
/// parsed head fits in a [`Span`]'s `u32`.
const MAX_BYTE_LIMIT: usize = 1 << 30;

/// The HTTP version of a request. Only HTTP/1.0 and HTTP/1.1 are parsed;
/// other well-formed versions are rejected with
/// [`RejectReason::UnsupportedVersion`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// `HTTP/1.0`
    Http10,
    /// `HTTP/1.1`
    Http11,
}

impl Version {
    /// The protocol version as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// The request method, with the RFC 9110 9.3 methods broken out so that
/// dispatch does not compare strings. Anything else is
/// [`Method::Other`]; its bytes are in [`RequestHead::method_span`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `HEAD`
    Head,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `PATCH` (RFC 5789)
    Patch,
    /// `OPTIONS`
    Options,
    /// `CONNECT`
    Connect,
    /// `TRACE`
    Trace,
    /// Any other (syntactically valid) method token.
    Other,
}

impl Method {
    /// Classifies a method token. Case-sensitive: RFC 9110 9.1 defines
    /// method names as case-sensitive, so `get` is an extension method, not
    /// `GET`.
    pub fn from_bytes(bytes: &[u8]) -> Method {
        match bytes {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"PATCH" => Method::Patch,
            b"OPTIONS" => Method::Options,
            b"CONNECT" => Method::Connect,
            b"TRACE" => Method::Trace,
            _ => Method::Other,
        }
    }

    /// The method name; `""` for [`Method::Other`] (read
    /// [`RequestHead::method_span`] for its bytes).
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
            Method::Options => "OPTIONS",
            Method::Connect => "CONNECT",
            Method::Trace => "TRACE",
            Method::Other => "",
        }
    }
}

/// One header field line, as spans into the parsed buffer. The value has
/// leading and trailing whitespace (OWS) removed, per RFC 9112 5.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// The field name, as received (case preserved).
    pub name: Span,
    /// The field value, without surrounding whitespace.
    pub value: Span,
}

/// How the request body is framed (RFC 9112 6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// No Content-Length and no Transfer-Encoding: the request has no body
    /// (RFC 9112 6.3 item 7; requests are never close-delimited).
    None,
    /// `Content-Length: n` (possibly 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Size limits for a request head. Defaults match Kestrel's
/// `KestrelServerLimits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadLimits {
    /// Maximum length of the request line, excluding its CRLF. Default
    /// 8 KiB (Kestrel `MaxRequestLineSize`); longer lines get 414.
    ///
    /// Empty lines received before the request line (RFC 9112 2.2 lets a
    /// server skip them) count toward this limit, so a peer cannot keep the
    /// parser busy with an endless stream of CRLFs.
    pub max_request_line: usize,
    /// Maximum size of the header section: every byte after the request
    /// line's LF up to and including the blank line that ends the head.
    /// Default 32 KiB (Kestrel `MaxRequestHeadersTotalSize`); larger
    /// sections get 431.
    pub max_header_bytes: usize,
    /// Maximum number of header field lines. Default 100 (Kestrel
    /// `MaxRequestHeaderCount`); more get 431. Values above
    /// [`HEADER_SLOTS`] are clamped to it.
    pub max_headers: usize,
    /// Whether a bare LF may end a line of the head (and of a chunked body's
    /// trailer section). Default [`BareLineFeedPolicy::Reject`].
    pub bare_line_feed: BareLineFeedPolicy,
}

/// What to do with a line of the head or of the trailer section that ends in
/// a bare LF instead of CRLF.
///
/// RFC 9112 2.2 lets a recipient accept a lone LF as a line terminator (and
/// httparse does), but a front end that keeps the LF inside a field value and
/// a back end that splits on it disagree about where the message ends: that
/// is request smuggling. Node's llhttp rejects it in strict mode; Kestrel
/// accepts it unless `DisableHttp1LineFeedTerminators` is set, and plans to
/// reject it by default. Either way the server counts the requests that used
/// one (`peregrine_bare_line_feed_requests_total`). Chunk-size lines and the
/// CRLF after chunk data always need CRLF (RFC 9112 7.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BareLineFeedPolicy {
    /// Answer `400` ([`RejectReason::BareLineFeed`]) and close. The default.
    #[default]
    Reject,
    /// Accept a lone LF as a line terminator, as RFC 9112 2.2 permits.
    Accept,
}

impl BareLineFeedPolicy {
    /// The setting's value as configured: `reject` or `accept`.
    pub fn as_str(self) -> &'static str {
        match self {
            BareLineFeedPolicy::Reject => "reject",
            BareLineFeedPolicy::Accept => "accept",
        }
    }
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            max_request_line: 8 * 1024,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            bare_line_feed: BareLineFeedPolicy::Reject,
        }
    }
}

/// Result of a successful [`HeadParser::parse`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseStatus {
    /// The head is the bytes `[0, n)` of the buffer, including the final
    /// CRLFCRLF; the body (or the next pipelined request) starts at `n`.
    Complete(usize),
    /// The head is not complete yet (and no limit is exceeded): read more
    /// and call `parse` again with the whole head-so-far.
    Partial,
}

/// A parsed request head: the storage for one request's head, allocated
/// once (per connection) and reused for every request.
///
/// All [`Span`]s point into the buffer that was passed to
/// [`HeadParser::parse`]; resolve them against that buffer (or a copy with
/// the same layout).
#[derive(Debug, PartialEq, Eq)]
pub struct RequestHead {
    /// The method, classified.
    pub method: Method,
    /// The method token's bytes (needed for [`Method::Other`]).
    pub method_span: Span,
    /// The whole request-target, as received.
    pub target: Span,
    /// The path component of the target:
    /// * origin-form and absolute-form: the absolute path, starting with
    ///   `/`. For an absolute-form target with an empty path
    ///   (`http://example.com?q`) this is a one-byte span over one of the
    ///   slashes of `://`, i.e. the path `/` that RFC 9110 4.2.3 says an
    ///   empty path means;
    /// * asterisk-form: `*`;
    /// * authority-form (CONNECT): empty.
    pub path: Span,
    /// The query, after `?` (excluded); empty if there is none.
    pub query: Span,
    /// The protocol version.
    pub version: Version,
    /// How the body is framed.
    pub body: BodyKind,
    /// Whether the client wants the connection to stay open after this
    /// exchange (RFC 9112 9.3): HTTP/1.1 unless `Connection: close`,
    /// HTTP/1.0 only with `Connection: keep-alive`.
    pub keep_alive: bool,
    /// `Expect: 100-continue` on an HTTP/1.1 request: the client waits for
    /// a `100 Continue` (or a final status) before sending the body.
    pub expect_continue: bool,
    /// The target host: the Host header's value, or, for an absolute-form
    /// target, the target's authority (RFC 9112 3.2.2: the server MUST use
    /// it and ignore Host). Empty if absent (HTTP/1.0) or empty.
    pub host: Span,
    /// A line of the head ended in a bare LF, accepted because the parser's
    /// [`HeadLimits::bare_line_feed`] is [`BareLineFeedPolicy::Accept`].
    pub bare_line_feed: bool,
    headers: Vec<Header>,
    /// Kept across [`clear`](Self::clear): see [`KnownHost`].
    known_host: KnownHost,
}

/// The longest Host value [`KnownHost`] remembers; longer ones are validated every time.
const KNOWN_HOST_MAX: usize = 63;

/// The last Host value found valid in a head parsed into this [`RequestHead`], i.e. on this
/// connection. A client sends the same Host on every request of a connection, so checking that a
/// value is the one already validated (a compare of a few bytes) replaces validating it again
/// (about 100 instructions for `127.0.0.1:8080`); Kestrel reuses a connection's header values
/// across its requests the same way. Only a value that passed validation is remembered.
#[derive(Clone, Debug, PartialEq, Eq)]
struct KnownHost {
    /// The value's length; 0 when none is remembered.
    len: u8,
    /// The value, then CRLF (so that [`line_at`](Self::line_at) compares a line's end with it).
    bytes: [u8; KNOWN_HOST_MAX + 2],
}

impl Default for KnownHost {
    fn default() -> Self {
        KnownHost {
            len: 0,
            bytes: [0; KNOWN_HOST_MAX + 2],
        }
    }
}

impl KnownHost {
    /// Whether `value` is the remembered (valid) Host value.
    #[inline]
    fn is(&self, value: &[u8]) -> bool {
        let n = usize::from(self.len);
        n != 0 && value.len() == n && same_bytes(value, &self.bytes[..n])
    }

    /// The remembered value's length if `buf` holds it at `at`, followed by CRLF: a Host line's
    /// value and end, whose value needs no scan (a valid host has no control, SP or HTAB, so it
    /// is all value bytes, with no whitespace around it to trim).
    #[inline]
    fn line_at(&self, buf: &[u8], at: usize) -> Option<usize> {
        let n = usize::from(self.len);
        let line = buf.get(at..)?.get(..n + 2)?;
        (n != 0 && same_bytes(line, &self.bytes[..n + 2])).then_some(n)
    }

    /// Remembers `value`, which was just found valid, if it is short enough.
    fn remember(&mut self, value: &[u8]) {
        if let Some(slot) = self.bytes.get_mut(..value.len() + 2) {
            let (value_slot, crlf) = slot.split_at_mut(value.len());
            value_slot.copy_from_slice(value);
            crlf.copy_from_slice(b"\r\n");
            self.len = value.len() as u8;
        }
    }
}

/// Whether `a` and `b`, of one length, are equal: eight bytes at a time, the last word
/// overlapping, with no call to `memcmp` for the few words of a Host value.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len();
    let word = words::at;
    match n {
        0..=7 => return a == b,
        // The usual Host values (`localhost:8080`, `127.0.0.1:8080`): two words, no loop.
        8..=16 => return word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => {}
    }
    let mut i = 0;
    while i + 8 < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

impl RequestHead {
    /// Creates an empty head with room for `limits.max_headers` header
    /// lines (clamped to [`HEADER_SLOTS`]), so that parsing with the same
    /// limits never allocates.
    pub fn new(limits: &HeadLimits) -> Self {
        RequestHead {
            method: Method::Other,
            method_span: Span::default(),
            target: Span::default(),
            path: Span::default(),
            query: Span::default(),
            version: Version::Http11,
            body: BodyKind::None,
            keep_alive: false,
            expect_continue: false,
            host: Span::default(),
            bare_line_feed: false,
            headers: Vec::with_capacity(limits.max_headers.min(HEADER_SLOTS)),
            known_host: KnownHost::default(),
        }
    }

    /// Resets every field, keeping the header storage's capacity.
    pub fn clear(&mut self) {
        self.method = Method::Other;
        self.method_span = Span::default();
        self.target = Span::default();
        self.path = Span::default();
        self.query = Span::default();
        self.version = Version::Http11;
        self.body = BodyKind::None;
        self.keep_alive = false;
        self.expect_continue = false;
        self.host = Span::default();
        self.bare_line_feed = false;
        self.headers.clear();
    }

    /// All header lines in the order received.
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The value of the first header named `name` (ASCII case-insensitive,
    /// RFC 9110 5.1), resolved against `buf`.
    pub fn header<'a>(&self, buf: &'a [u8], name: &str) -> Option<&'a [u8]> {
        let name = name.as_bytes();
        self.headers
            .iter()
            .find(|h| h.name.len() == name.len() && h.name.get(buf).eq_ignore_ascii_case(name))
            .map(|h| h.value.get(buf))
    }

    /// Number of header lines.
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }
}

/// Parses request heads under a fixed set of [`HeadLimits`]. Cheap to copy;
/// one per listener or per worker.
#[derive(Clone, Debug, Default)]
pub struct HeadParser {
    limits: HeadLimits,
}

/// Where the request line ends, as far as the bytes received so far tell.
#[derive(Clone, Copy)]
enum RequestLine {
    /// Its LF is at `header_start - 1` and it is within the limit;
    /// `bare_lf`: it, or an empty line before it, ends in a bare LF.
    Complete { header_start: usize, bare_lf: bool },
    /// No LF yet, and the bytes so far are within the limit.
    Incomplete,
    /// Longer than `max_request_line` (with or without its LF).
    TooLong,
}

impl HeadParser {
    /// Creates a parser. Byte limits above 1 GiB are clamped to 1 GiB (so
    /// offsets fit in a [`Span`]) and `max_headers` to [`HEADER_SLOTS`].
    pub fn new(limits: HeadLimits) -> Self {
        HeadParser {
            limits: HeadLimits {
                max_request_line: limits.max_request_line.min(MAX_BYTE_LIMIT),
                max_header_bytes: limits.max_header_bytes.min(MAX_BYTE_LIMIT),
                max_headers: limits.max_headers.min(HEADER_SLOTS),
                bare_line_feed: limits.bare_line_feed,
            },
        }
    }

    /// The limits in force (after clamping).
    pub fn limits(&self) -> &HeadLimits {
        &self.limits
    }

    /// Parses a request head from the start of `buf` into `head` (spans
    /// point into `buf`).
    ///
    /// `buf` must hold everything received for this request so far, starting
    /// at its first byte; bytes after the head (body, pipelined requests)
    /// are not looked at. On `Partial` or `Err` the contents of `head` are
    /// unspecified (but valid to `clear` and reuse).
    ///
    /// Limits are checked against the bytes already received, so `Partial`
    /// is only returned while the head can still complete within them: a
    /// caller that reads until `Complete` or `Err` needs at most
    /// `max_request_line + 2 + max_header_bytes` bytes of buffer.
    pub fn parse(&self, buf: &[u8], head: &mut RequestHead) -> Result<ParseStatus, RejectReason> {
        if let Some(parsed) = self.parse_complete(buf, head) {
            return parsed;
        }
        // The fast path may have written any part of the head before it gave up.
        head.clear();
        self.parse_bounded(buf, head)
    }

    /// [`parse`](Self::parse) by the general path alone: the oracle the fuzzer holds the fast
    /// path to (both must give the same answer and the same head for every input).
    #[doc(hidden)]
    pub fn parse_general(
        &self,
        buf: &[u8],
        head: &mut RequestHead,
    ) -> Result<ParseStatus, RejectReason> {
        head.clear();
        self.parse_bounded(buf, head)
    }

    /// The common case without httparse: a complete head of simple CRLF-terminated lines
    /// ([`scan`]), within the limits. `None` leaves every other case (empty lines before the
    /// request line, a bare LF, a head not complete yet, a limit exceeded, a syntax error) to
    /// [`parse_bounded`](Self::parse_bounded), which names each exactly; both give the same
    /// answer for a head this path takes (the property tests compare them).
    ///
    /// Writes every part of `head` it answers for (the caller does not clear it first), and any
    /// part of it when it answers `None`.
    ///
    /// The lines are scanned to the end of the head before anything is answered that can fail,
    /// as the general path does, so a prefix of a head is never refused for a reason the whole
    /// head would not be: the target is classified and the fields are taken in as they are
    /// scanned, but the first error (the target's before any field's, as the general path names
    /// them) waits for the end of the head. The request line's parts are written to `head` before
    /// the field lines are scanned, so that the scan's loop does not keep them.
    #[inline]
    fn parse_complete(
        &self,
        buf: &[u8],
        head: &mut RequestHead,
    ) -> Option<Result<ParseStatus, RejectReason>> {
        let limits = &self.limits;
        let window = &buf[..buf
            .len()
            .min(limits.max_request_line + 2 + limits.max_header_bytes)];
        let line = scan::request_line(window)?;
        // The limit counts the line without its CRLF.
        if line.end - 2 > limits.max_request_line {
            return None;
        }
        let version = if line.minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        };
        head.method_span = Span::new(0, line.method_end);
        head.method = line.method;
        head.version = version;
        head.bare_line_feed = false;
        let target = Span::new(line.method_end + 1, line.target_end);
        let mut fields = Fields::default();
        let mut error = classify_target(head, buf, target, line.path_end)
            .map(|host| fields.target_host = host)
            .err();
        head.headers.clear();
        let mut at = line.end;
        let head_len = loop {
            match scan::field_line(window, at, &head.known_host)? {
                FieldLine::End { end } => break end,
                FieldLine::Field {
                    name_end,
                    value_start,
                    value_end,
                    next,
                    host,
                } => {
                    if head.headers.len() == limits.max_headers {
                        return None;
                    }
                    let header = Header {
                        name: Span::new(at, name_end),
                        value: Span::new(value_start, value_end),
                    };
                    // Capacity was reserved for `max_headers` in `RequestHead::new` (with the
                    // same limits), so this push does not allocate.
                    head.headers.push(header);
                    let known_host = &head.known_host;
                    let taken = match host {
                        HostLine::Known => fields.known_host(header.value),
                        HostLine::Name => {
                            fields.host(header.value.get(buf), header.value, known_host)
                        }
                        HostLine::No => fields.add(buf, header, version, known_host),
                    };
                    if let Err(e) = taken {
                        error.get_or_insert(e);
                    }
                    at = next;
                }
            }
        };
        if head_len - line.end > limits.max_header_bytes {
            return None;
        }
        // The fast path answers: now the Host value found valid may be remembered.
        if fields.learned_host {
            head.known_host.remember(fields.host.get(buf));
        }
        if let Some(e) = error {
            return Some(Err(e));
        }
        Some(
            fields
                .finish(head)
                .map(|()| ParseStatus::Complete(head_len)),
        )
    }

    /// Parses with the limits applied first, by slicing: the general case. (Not inlined: its
    /// httparse header array would make every parse's frame kilobytes large.)
    #[inline(never)]
    fn parse_bounded(
        &self,
        buf: &[u8],
        head: &mut RequestHead,
    ) -> Result<ParseStatus, RejectReason> {
        let limits = &self.limits;

        // Limits first, by slicing (Kestrel's `TakeStartLine`): httparse only
        // ever sees bytes that are within the limits, so the cost of a parse
        // is bounded by the limits and not by how much the peer sent.
        let line = scan_request_line(buf, limits.max_request_line);
        let parse_end = match line {
            RequestLine::Complete { header_start, .. } => {
                buf.len().min(header_start + limits.max_header_bytes)
            }
            RequestLine::Incomplete => buf.len(),
            // Cut before the earliest possible LF of the request line, so
            // httparse reports a syntax error in it if there is one (a TLS
            // ClientHello is an invalid request, not a long one) and
            // `Partial` otherwise.
            RequestLine::TooLong => buf.len().min(limits.max_request_line + 1),
        };
        let window = &buf[..parse_end];

        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; HEADER_SLOTS];
        let mut req = httparse::Request::new(&mut []);
        let parsed = req.parse_with_uninit_headers(window, &mut slots[..limits.max_headers]);
        let head_len = match parsed {
            Err(e) => {
                return match lone_cr(buf, window, limits.max_headers) {
                    LoneCr::Caused => Err(RejectReason::BareCarriageReturn),
                    // The CR is the last byte received: whether it starts a CRLF
                    // decides the error's name, and one more byte tells.
                    LoneCr::AtEnd => Ok(ParseStatus::Partial),
                    LoneCr::NotTheCause => Err(map_httparse_error(e, &req, window)),
                };
            }
            Ok(httparse::Status::Partial) => {
                return match line {
                    RequestLine::TooLong => Err(RejectReason::RequestLineTooLong),
                    // The head is not over yet and already fills the whole
                    // header budget: it cannot end within the limit.
                    RequestLine::Complete { header_start, .. }
                        if parse_end - header_start >= limits.max_header_bytes =>
                    {
                        Err(RejectReason::HeadersTooLarge)
                    }
                    _ => Ok(ParseStatus::Partial),
                };
            }
            Ok(httparse::Status::Complete(n)) => n,
        };
        let RequestLine::Complete {
            bare_lf: request_line_bare_lf,
            ..
        } = line
        else {
            // Unreachable: a complete head contains the request line's LF.
            // Kept as a rejection rather than a panic.
            return Err(RejectReason::RequestLineTooLong);
        };
        self.fill(buf, &req, head, head_len, request_line_bare_lf)
    }

    /// Fills `head` from a complete parse of `buf[..head_len]`, checking what httparse does not:
    /// line terminators, the target's form, the fields that decide framing and persistence.
    #[inline]
    fn fill(
        &self,
        buf: &[u8],
        req: &httparse::Request<'_, '_>,
        head: &mut RequestHead,
        head_len: usize,
        request_line_bare_lf: bool,
    ) -> Result<ParseStatus, RejectReason> {
        // Line terminators (RFC 9112 2.2). httparse takes a lone LF as a line
        // end; whether one did is read off the bytes at each line end it
        // found (the request line's, each field line's and the blank line's)
        // rather than by a second pass over the head.
        if request_line_bare_lf || buf[head_len - 2] != b'\r' {
            self.bare_line_feed(head)?;
        }

        // httparse only returns Complete with all three set.
        let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
            return Err(RejectReason::InvalidRequestLine);
        };
        head.method_span = Span::of(buf, method.as_bytes());
        head.method = Method::from_bytes(method.as_bytes());
        head.version = if minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        };
        let mut fields = Fields {
            target_host: parse_target(head, buf, Span::of(buf, path.as_bytes()))?,
            ..Fields::default()
        };
        for h in req.headers.iter() {
            let header = Header {
                name: Span::of(buf, h.name.as_bytes()),
                value: Span::of(buf, h.value),
            };
            if !line_ends_in_crlf(buf, header.value.end as usize) {
                self.bare_line_feed(head)?;
            }
            // Capacity was reserved for `max_headers` in `RequestHead::new`
            // (with the same limits), so this push does not allocate.
            head.headers.push(header);
            fields.add(buf, header, head.version, &head.known_host)?;
            if std::mem::take(&mut fields.learned_host) {
                head.known_host.remember(fields.host.get(buf));
            }
        }
        fields.finish(head)?;
        Ok(ParseStatus::Complete(head_len))
    }

    /// A line of the head ended in a bare LF: rejected, or noted in `head`
    /// under [`BareLineFeedPolicy::Accept`].
    fn bare_line_feed(&self, head: &mut RequestHead) -> Result<(), RejectReason> {
        match self.limits.bare_line_feed {
            BareLineFeedPolicy::Reject => Err(RejectReason::BareLineFeed),
            BareLineFeedPolicy::Accept => {
                head.bare_line_feed = true;
                Ok(())
            }
        }
    }
}

/// Whether the field line whose value ends at `value_end` ends in CRLF.
/// httparse trims the value's trailing whitespace and has checked that only
/// SP and HTAB stand between it and the line end (a lone CR is an error to
/// it), so this looks at a few bytes, not the line.
#[inline]
fn line_ends_in_crlf(buf: &[u8], value_end: usize) -> bool {
    match buf.get(value_end) {
        Some(b'\r') => true,
        // Trailing whitespace, which httparse trimmed off the value.
        Some(b' ' | b'\t') => {
            let rest = &buf[value_end..];
            let eol = rest
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .unwrap_or(rest.len());
            rest.get(eol) == Some(&b'\r')
        }
        _ => false,
    }
}

/// Whether httparse's error is a CR that is not followed by LF.
enum LoneCr {
    /// It is: [`RejectReason::BareCarriageReturn`].
    Caused,
    /// httparse stopped at a CR that is the last byte received.
    AtEnd,
    /// No such CR, or httparse failed before it.
    NotTheCause,
}

/// On the error path, tells whether httparse failed on a CR not followed by
/// LF (which it reports as a token, header or newline error). Looks only at
/// bytes up to that CR and the one after it, so every split of the input
/// into reads names the error the same way.
fn lone_cr(buf: &[u8], window: &[u8], max_headers: usize) -> LoneCr {
    let Some(cr) = window
        .iter()
        .enumerate()
        .position(|(i, &b)| b == b'\r' && buf.get(i + 1) != Some(&b'\n'))
    else {
        return LoneCr::NotTheCause;
    };
    // Every context in which httparse can meet a CR either rejects it or
    // requires LF next, so if everything before this CR is a valid prefix,
    // the CR is what it failed on.
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; HEADER_SLOTS];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(&window[..cr], &mut slots[..max_headers]) {
        Ok(httparse::Status::Partial) if cr + 1 < buf.len() => LoneCr::Caused,
        Ok(httparse::Status::Partial) => LoneCr::AtEnd,
        _ => LoneCr::NotTheCause,
    }
}

/// Finds the request line's end within the first `max_line + 2` bytes
/// (the line plus CRLF), skipping leading empty lines exactly like httparse
/// does (RFC 9112 2.2).
fn scan_request_line(buf: &[u8], max_line: usize) -> RequestLine {
    let window = &buf[..buf.len().min(max_line + 2)];
    let mut lead = 0;
    let mut bare_lf = false;
    loop {
        match window.get(lead) {
            Some(b'\n') => {
                bare_lf = true;
                lead += 1;
            }
            Some(b'\r') if window.get(lead + 1) == Some(&b'\n') => lead += 2,
            _ => break,
        }
    }
    match memchr::memchr(b'\n', &window[lead..]) {
        Some(i) => {
            let lf = lead + i;
            // A bare LF may end the line (RFC 9112 2.2 MAY); it carries no
            // CR to discount.
            let crlf = i > 0 && window[lf - 1] == b'\r';
            let content_end = lf - usize::from(crlf);
            if content_end > max_line {
                RequestLine::TooLong
            } else {
                RequestLine::Complete {
                    header_start: lf + 1,
                    bare_lf: bare_lf || !crlf,
                }
            }
        }
        None => {
            // A trailing CR may be the first half of the line's CRLF.
            let content = window.len() - usize::from(window.last() == Some(&b'\r'));
            if content > max_line {
                RequestLine::TooLong
            } else {
                RequestLine::Incomplete
            }
        }
    }
}

fn map_httparse_error(
    e: httparse::Error,
    req: &httparse::Request<'_, '_>,
    window: &[u8],
) -> RejectReason {
    match e {
        httparse::Error::Version => {
            if version_is_numeric(req, window) {
                RejectReason::UnsupportedVersion
            } else {
                RejectReason::InvalidRequestLine
            }
        }
        httparse::Error::HeaderName | httparse::Error::HeaderValue => RejectReason::InvalidHeader,
        httparse::Error::NewLine => {
            // httparse reports a bad line ending the same way in the request
            // line and at the end of the header section; tell them apart.
            if request_line_terminated(req, window) {
                RejectReason::InvalidHeader
            } else {
                RejectReason::InvalidRequestLine
            }
        }
        httparse::Error::TooManyHeaders => RejectReason::TooManyHeaders,
        httparse::Error::Token | httparse::Error::Status => RejectReason::InvalidRequestLine,
    }
}

/// Offset just past the SP that follows the request-target, if httparse got
/// that far (strict mode: exactly one SP between elements).
fn version_start(req: &httparse::Request<'_, '_>, window: &[u8]) -> Option<usize> {
    req.path
        .map(|p| Span::of(window, p.as_bytes()).end as usize + 1)
}

/// Whether the version that httparse rejected is a well-formed but
/// unsupported `HTTP/<digit>.<digit>` (505) rather than garbage (400).
///
/// httparse accepts exactly `HTTP/1.0` and `HTTP/1.1`. Any other major
/// version is unsupported whatever follows it (`HTTP/2`, `HTTP/2.0`, the h2
/// preface `PRI * HTTP/2.0`), so six bytes decide; for major version 1 the
/// minor digit decides (`HTTP/1.2` is 505, `HTTP/1.x` is 400). Looking at no
/// more bytes than httparse needed to fail keeps the answer the same however
/// the request is split across reads.
fn version_is_numeric(req: &httparse::Request<'_, '_>, window: &[u8]) -> bool {
    let Some(start) = version_start(req, window) else {
        return false;
    };
    match window.get(start..) {
        Some([b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor, ..]) => minor.is_ascii_digit(),
        Some([b'H', b'T', b'T', b'P', b'/', major, ..]) => major.is_ascii_digit() && *major != b'1',
        _ => false,
    }
}

/// Whether the request line parsed by httparse ended with a proper CRLF (or
/// LF), i.e. whether a `NewLine` error lies in the header section.
fn request_line_terminated(req: &httparse::Request<'_, '_>, window: &[u8]) -> bool {
    if req.version.is_none() {
        return false;
    }
    let Some(start) = version_start(req, window) else {
        return false;
    };
    let rest = window.get(start + 8..).unwrap_or(&[]);
    rest.starts_with(b"\r\n") || rest.starts_with(b"\n")
}

/// Classifies the request-target (RFC 9112 3.2) and fills `target`, `path`,
/// `query`. Returns the authority span for absolute-form targets, which
/// replaces the Host header (RFC 9112 3.2.2).
fn parse_target(
    head: &mut RequestHead,
    buf: &[u8],
    target: Span,
) -> Result<Option<Span>, RejectReason> {
    // httparse admits any visible ASCII plus UTF-8. A URI is ASCII
    // (RFC 3986 2), and a fragment is never part of a request-target
    // (RFC 9112 3.2: clients strip it), so `#` means a broken or hostile
    // client. The same pass finds the query's `?`.
    let question = scan_target(target.get(buf)).ok_or(RejectReason::InvalidRequestTarget)?;
    let path_end = question.map_or(target.end as usize, |q| target.start as usize + q);
    classify_target(head, buf, target, path_end)
}

/// [`parse_target`] for a target known to be ASCII without `#`, whose first `?` is at
/// `path_end` (or which has none, and ends there). Inlined down to the usual origin-form target.
#[inline]
fn classify_target(
    head: &mut RequestHead,
    buf: &[u8],
    target: Span,
    path_end: usize,
) -> Result<Option<Span>, RejectReason> {
    let (base, end) = (target.start as usize, target.end as usize);
    if head.method != Method::Connect && buf.get(base) == Some(&b'/') {
        // The usual target, in origin-form (RFC 9112 3.2.1): no call, each span written once;
        // the query is empty at the target's end without a `?`.
        head.target = target;
        head.path = Span::new(base, path_end);
        head.query = Span::new((path_end + 1).min(end), end);
        return Ok(None);
    }
    let question = (path_end < end).then(|| path_end - base);
    classify_other_target(head, buf, target, question)
}

/// [`classify_target`] for the other forms, and for any target of a CONNECT.
#[inline(never)]
fn classify_other_target(
    head: &mut RequestHead,
    buf: &[u8],
    target: Span,
    question: Option<usize>,
) -> Result<Option<Span>, RejectReason> {
    let t = target.get(buf);
    let base = target.start as usize;
    head.target = target;
    head.path = Span::new(base, base);
    head.query = Span::new(target.end as usize, target.end as usize);

    if head.method == Method::Connect {
        // authority-form = uri-host ":" port, and only for CONNECT
        // (RFC 9112 3.2.3; RFC 9110 9.3.6).
        return match parse_authority(t) {
            Some(Authority {
                host,
                port: Some(port),
            }) if !host.is_empty() && !port.is_empty() => Ok(None),
            _ => Err(RejectReason::InvalidRequestTarget),
        };
    }

    match t {
        // origin-form = absolute-path [ "?" query ] (RFC 9112 3.2.1).
        [b'/', ..] => {
            split_path_query(head, t, base, question);
            Ok(None)
        }
        // asterisk-form, only for a server-wide OPTIONS (RFC 9112 3.2.4).
        [b'*'] => {
            if head.method != Method::Options {
                return Err(RejectReason::InvalidRequestTarget);
            }
            head.path = target;
            Ok(None)
        }
        // absolute-form (RFC 9112 3.2.2): what a client sends to a proxy,
        // and which a server MUST accept. We only serve http(s) URIs.
        _ => {
            let colon = t
                .iter()
                .position(|&b| b == b':')
                .ok_or(RejectReason::InvalidRequestTarget)?;
            let scheme = &t[..colon];
            if !(scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https")) {
                return Err(RejectReason::InvalidRequestTarget);
            }
            let rest = &t[colon + 1..];
            if !rest.starts_with(b"//") {
                return Err(RejectReason::InvalidRequestTarget);
            }
            let auth_start = colon + 3;
            let auth_end = t[auth_start..]
                .iter()
                .position(|&b| b == b'/' || b == b'?')
                .map_or(t.len(), |i| auth_start + i);
            // RFC 9110 4.2.1: an http(s) URI with an empty host MUST be
            // rejected; userinfo (`@`) is deprecated and SHOULD be treated as
            // an error (RFC 9110 4.2.4). `parse_authority` rejects `@`.
            let authority = &t[auth_start..auth_end];
            match parse_authority(authority) {
                Some(a) if !a.host.is_empty() => {}
                _ => return Err(RejectReason::InvalidRequestTarget),
            }
            if t.get(auth_end) == Some(&b'/') {
                head.path = Span::new(base + auth_end, base + t.len());
                split_path_query(head, t, base, question);
            } else {
                // Empty path means "/" (RFC 9110 4.2.3). Point `path` at the
                // second slash of "://" so it reads as "/" without copying.
                head.path = Span::new(base + colon + 2, base + colon + 3);
                if auth_end < t.len() {
                    // t[auth_end] == '?'
                    head.query = Span::new(base + auth_end + 1, base + t.len());
                }
            }
            Ok(Some(Span::new(base + auth_start, base + auth_end)))
        }
    }
}

/// Where the target's first `?` is (`Some(None)` without one), or `None` if the target holds a
/// byte outside ASCII or a `#`.
///
/// Eight bytes at a time until a word holds one of those three (the "has a zero byte" test of
/// Hacker's Delight 6-1 on the word XORed with each byte, plus the high bits), then byte by byte
/// from that word: paths are mostly letters and `/`, so most of the target is skipped in words.
#[inline]
fn scan_target(t: &[u8]) -> Option<Option<usize>> {
    let (whole, _) = words::split(t);
    let mut from = 0;
    for w in whole {
        if (w & words::HIGH) | words::has_byte(w, b'#') | words::has_byte(w, b'?') != 0 {
            break;
        }
        from += 8;
    }
    let mut question = None;
    for (i, &b) in t.iter().enumerate().skip(from) {
        match b {
            b'#' | 0x80..=0xff => return None,
            b'?' if question.is_none() => question = Some(i),
            _ => {}
        }
    }
    Some(question)
}

/// Ends the path (which starts where `head.path` does) at the target's first `?`, if it has
/// one, and makes the rest the query. (The first `?` of an absolute-form target is after its
/// authority: the authority ends at the first `/` or `?`.)
fn split_path_query(head: &mut RequestHead, t: &[u8], base: usize, question: Option<usize>) {
    match question {
        Some(q) => {
            head.path.end = (base + q) as u32;
            head.query = Span::new(base + q + 1, base + t.len());
        }
        None => head.path.end = (base + t.len()) as u32,
    }
}

/// `uri-host [ ":" port ]`, split and validated (RFC 3986 3.2.2-3.2.3).
struct Authority<'a> {
    host: &'a [u8],
    port: Option<&'a [u8]>,
}

/// Validates `host [ ":" port ]` where host is an IP-literal in brackets or
/// a reg-name / IPv4address; rejects userinfo. `None` if invalid.
fn parse_authority(a: &[u8]) -> Option<Authority<'_>> {
    let (host, rest) = if a.first() == Some(&b'[') {
        // IP-literal: IPv6address or IPvFuture (which also allows ':').
        let close = a.iter().position(|&b| b == b']')?;
        let inner = &a[1..close];
        if inner.is_empty() || !inner.iter().all(|&b| is_ip_literal_char(b)) {
            return None;
        }
        (&a[..=close], &a[close + 1..])
    } else {
        // reg-name / IPv4address, in one pass: the host ends at the first byte that cannot be
        // in it, which must then be the port's `:` (or the end).
        let end = a
            .iter()
            .position(|&b| !is_reg_name_char(b))
            .unwrap_or(a.len());
        (&a[..end], &a[end..])
    };
    let port = match rest {
        [] => None,
        [b':', port @ ..] if port.iter().all(u8::is_ascii_digit) => Some(port),
        _ => return None,
    };
    Some(Authority { host, port })
}

/// Parses a Content-Length value: exactly `1*DIGIT`, fitting in `u64`
/// (RFC 9110 8.6). Signs, inner spaces and lists are rejected rather than
/// repaired: any leniency here is a request-smuggling lever.
fn parse_content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Accumulates the semantically relevant headers during the single pass
/// over the header lines.
#[derive(Default)]
struct Fields {
    /// The authority of an absolute-form target, which replaces Host (RFC 9112 3.2.2).
    target_host: Option<Span>,
    /// The Host value, if `has_host` (a span and a flag rather than an `Option`, so that
    /// [`finish`](Self::finish) picks the head's host with no unwrapping of two options).
    host: Span,
    has_host: bool,
    /// The Host value was found valid, and is not the one [`KnownHost`] remembers: the caller
    /// remembers it (the general path at once, the fast path only once it answers, so that a
    /// head it hands over leaves [`KnownHost`] as the general path alone would).
    learned_host: bool,
    /// What the fields but Host say, once one of them is seen: most heads have none, and then
    /// nothing of this is written but its tag, nor looked at by [`finish`](Self::finish).
    more: Option<MoreFields>,
}

/// The fields of [`Fields`] for framing, persistence and expectations.
#[derive(Default)]
struct MoreFields {
    content_length: Option<u64>,
    /// Transfer-Encoding seen at all.
    te: bool,
    /// Number of non-empty transfer-coding elements across all TE lines.
    te_codings: u32,
    /// Number of those that are `chunked`.
    te_chunked: u32,
    /// Whether the last coding seen is `chunked`.
    te_last_chunked: bool,
    conn_close: bool,
    conn_keep_alive: bool,
    expect_continue: bool,
}

impl Fields {
    /// Takes in one field line. Inlined down to its length dispatch (the fields it looks for are
    /// calls), so that a field with no meaning here, most of a browser's, costs a compare or two
    /// and no call.
    #[inline(always)]
    fn add(
        &mut self,
        buf: &[u8],
        header: Header,
        version: Version,
        known_host: &KnownHost,
    ) -> Result<(), RejectReason> {
        // Dispatch on length first: most headers are rejected by one compare. The name and the
        // value are resolved (bounds checked) only for a length that may be a field looked for.
        let is = |lower: &[u8]| token_eq_lower(header.name.get(buf), lower);
        let (value, value_span) = (|| header.value.get(buf), header.value);
        match header.name.len() {
            4 if is(b"host") => self.host(value(), value_span, known_host),
            6 if is(b"expect") => self.expect(value(), version),
            10 if is(b"connection") => {
                self.connection(value());
                Ok(())
            }
            14 if is(b"content-length") => self.content_length(value()),
            17 if is(b"transfer-encoding") => {
                self.transfer_encoding(value());
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Takes in a Host line. Inlined down to the usual Host: the first of its head, and the
    /// value this connection's last request had (so valid), checked without a call.
    #[inline(always)]
    fn host(
        &mut self,
        value: &[u8],
        value_span: Span,
        known_host: &KnownHost,
    ) -> Result<(), RejectReason> {
        if !self.has_host && known_host.is(value) {
            (self.host, self.has_host) = (value_span, true);
            return Ok(());
        }
        self.new_host(value, value_span, known_host)
    }

    /// [`host`](Self::host) for a line the scan found to hold this connection's known Host value.
    #[inline(always)]
    fn known_host(&mut self, value_span: Span) -> Result<(), RejectReason> {
        if self.has_host {
            return Err(RejectReason::MultipleHost);
        }
        (self.host, self.has_host) = (value_span, true);
        Ok(())
    }

    /// The fields other than Host, made on the first of them.
    #[inline]
    fn more(&mut self) -> &mut MoreFields {
        self.more.get_or_insert_with(MoreFields::default)
    }

    /// [`host`](Self::host) for a second Host, or a value not known valid.
    #[inline(never)]
    fn new_host(
        &mut self,
        value: &[u8],
        value_span: Span,
        known_host: &KnownHost,
    ) -> Result<(), RejectReason> {
        if self.has_host {
            return Err(RejectReason::MultipleHost);
        }
        // RFC 9112 3.2: a Host value that is not uri-host [":" port]
        // MUST get 400. An empty value is allowed (RFC 9112 3.2: sent
        // for targets without an authority).
        if !value.is_empty() && !known_host.is(value) {
            match parse_authority(value) {
                // Remembered by the caller (`learned_host`).
                Some(a) if !a.host.is_empty() => self.learned_host = true,
                _ => return Err(RejectReason::InvalidHost),
            }
        }
        (self.host, self.has_host) = (value_span, true);
        Ok(())
    }

    #[inline(never)]
    fn expect(&mut self, value: &[u8], version: Version) -> Result<(), RejectReason> {
        // RFC 9110 10.1.1: 100-continue is the only expectation
        // defined; a server MAY answer any other with 417.
        if !value.eq_ignore_ascii_case(b"100-continue") {
            return Err(RejectReason::UnknownExpectation);
        }
        // ... and MUST ignore it in an HTTP/1.0 request.
        self.more().expect_continue = version == Version::Http11;
        Ok(())
    }

    #[inline(never)]
    fn connection(&mut self, value: &[u8]) {
        let more = self.more();
        // The usual value is one of these alone: compared in words, without the list's pass.
        match value.len() {
            10 if value_eq_lower(value, b"keep-alive") => {
                more.conn_keep_alive = true;
                return;
            }
            5 if value_eq_lower(value, b"close") => {
                more.conn_close = true;
                return;
            }
            _ => {}
        }
        // Tokens may be spread over several lines (RFC 9110 7.6.1); one pass over the
        // elements, each compared by its length first.
        for element in value.split(|&b| b == b',') {
            let element = element.trim_ascii();
            match element.len() {
                5 => more.conn_close |= element.eq_ignore_ascii_case(b"close"),
                10 => more.conn_keep_alive |= element.eq_ignore_ascii_case(b"keep-alive"),
                _ => {}
            }
        }
    }

    #[inline(never)]
    fn content_length(&mut self, value: &[u8]) -> Result<(), RejectReason> {
        let n = parse_content_length(value).ok_or(RejectReason::InvalidContentLength)?;
        let more = self.more();
        // RFC 9112 6.3 item 5: repeated identical values MAY be
        // accepted; differing values are an unrecoverable error.
        match more.content_length {
            Some(prev) if prev != n => Err(RejectReason::MultipleContentLength),
            _ => {
                more.content_length = Some(n);
                Ok(())
            }
        }
    }

    #[inline(never)]
    fn transfer_encoding(&mut self, value: &[u8]) {
        let more = self.more();
        more.te = true;
        // Codings are a list, possibly over several lines, applied
        // in order (RFC 9112 6.1).
        for coding in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
            if coding.is_empty() {
                continue;
            }
            let chunked = coding.eq_ignore_ascii_case(b"chunked");
            more.te_codings = more.te_codings.saturating_add(1);
            more.te_chunked = more.te_chunked.saturating_add(u32::from(chunked));
            more.te_last_chunked = chunked;
        }
    }

    /// Fills the parts of `head` the fields decide. Inlined down to a head with no field but
    /// Host, which has no body and the version's default persistence.
    #[inline(always)]
    fn finish(self, head: &mut RequestHead) -> Result<(), RejectReason> {
        // Host (RFC 9112 3.2): exactly one in HTTP/1.1, still required (and
        // validated) when an absolute-form target overrides it.
        if head.version == Version::Http11 && !self.has_host {
            return Err(RejectReason::MissingHost);
        }
        // `host` is empty without a Host line.
        head.host = self.target_host.unwrap_or(self.host);
        match self.more {
            Some(more) => more.finish(head),
            None => {
                head.body = BodyKind::None;
                head.keep_alive = head.version == Version::Http11;
                head.expect_continue = false;
                Ok(())
            }
        }
    }
}

impl MoreFields {
    /// [`Fields::finish`] for a head with a field but Host.
    #[inline(never)]
    fn finish(self, head: &mut RequestHead) -> Result<(), RejectReason> {
        // Framing (RFC 9112 6.3), most specific error first.
        head.body = if self.te {
            if head.version == Version::Http10 {
                // RFC 9112 6.1: TE in 1.0 MUST be treated as faulty framing.
                return Err(RejectReason::TransferEncodingInHttp10);
            }
            if self.content_length.is_some() {
                return Err(RejectReason::ContentLengthWithTransferEncoding);
            }
            if !self.te_last_chunked || self.te_chunked > 1 {
                // chunked not final (or applied twice, RFC 9112 6.1 MUST
                // NOT): the length cannot be determined (6.3 item 4).
                return Err(RejectReason::InvalidTransferEncoding);
            }
            if self.te_codings > 1 {
                // `x, chunked`: framed, but we implement no other coding.
                return Err(RejectReason::UnsupportedTransferEncoding);
            }
            BodyKind::Chunked
        } else {
            match self.content_length {
                Some(n) => BodyKind::Length(n),
                None => BodyKind::None,
            }
        };

        // Persistence (RFC 9112 9.3): close always wins.
        head.keep_alive = match head.version {
            Version::Http11 => !self.conn_close,
            Version::Http10 => self.conn_keep_alive && !self.conn_close,
        };
        head.expect_continue = self.expect_continue;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse_with(
        limits: HeadLimits,
        buf: &[u8],
    ) -> (Result<ParseStatus, RejectReason>, RequestHead) {
        let mut head = RequestHead::new(&limits);
        let res = HeadParser::new(limits).parse(buf, &mut head);
        (res, head)
    }

    fn parse(buf: &[u8]) -> (Result<ParseStatus, RejectReason>, RequestHead) {
        parse_with(HeadLimits::default(), buf)
    }

    /// The default limits, accepting bare LF line terminators.
    fn lenient() -> HeadLimits {
        HeadLimits {
            bare_line_feed: BareLineFeedPolicy::Accept,
            ..HeadLimits::default()
        }
    }

    /// Table-driven cases in the style of httparse's `req!`:
    /// `req! { name, bytes, |head, buf| { asserts } }` expects the whole
    /// buffer to be one complete head; `req! { name, bytes, Err(reason) }`
    /// expects a rejection.
    macro_rules! req {
        ($name:ident, $buf:expr, |$head:ident, $b:ident| $body:block) => {
            #[test]
            fn $name() {
                let $b: &[u8] = $buf;
                let (res, $head) = parse($b);
                assert_eq!(res, Ok(ParseStatus::Complete($b.len())));
                $body
            }
        };
        ($name:ident, $buf:expr, Err($reason:ident)) => {
            #[test]
            fn $name() {
                let b: &[u8] = $buf;
                assert_eq!(parse(b).0, Err(RejectReason::$reason));
            }
        };
        ($name:ident, $buf:expr, Partial) => {
            #[test]
            fn $name() {
                let b: &[u8] = $buf;
                assert_eq!(parse(b).0, Ok(ParseStatus::Partial));
            }
        };
    }

    // ---- typical requests --------------------------------------------------

    req! {
        wrk_get,
        b"GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\n\r\n",
        |head, buf| {
            assert_eq!(head.method, Method::Get);
            assert_eq!(head.method_span.get(buf), b"GET");
            assert_eq!(head.target.get(buf), b"/plaintext");
            assert_eq!(head.path.get(buf), b"/plaintext");
            assert!(head.query.is_empty());
            assert_eq!(head.version, Version::Http11);
            assert_eq!(head.host.get(buf), b"localhost:8080");
            assert_eq!(head.body, BodyKind::None);
            assert!(head.keep_alive);
            assert!(!head.expect_continue);
            assert_eq!(head.header_count(), 1);
        }
    }

    req! {
        curl_get,
        b"GET /search?q=rust&lang=en HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
        |head, buf| {
            assert_eq!(head.path.get(buf), b"/search");
            assert_eq!(head.query.get(buf), b"q=rust&lang=en");
            assert_eq!(head.header(buf, "user-agent"), Some(&b"curl/8.5.0"[..]));
            assert_eq!(head.header(buf, "ACCEPT"), Some(&b"*/*"[..]));
            assert_eq!(head.header(buf, "missing"), None);
            assert_eq!(head.header_count(), 3);
            let names: Vec<&[u8]> = head.headers().iter().map(|h| h.name.get(buf)).collect();
            assert_eq!(names, [&b"Host"[..], b"User-Agent", b"Accept"]);
        }
    }

    req! {
        post_content_length,
        b"POST /api HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\nContent-Type: application/json\r\n\r\n",
        |head, _buf| {
            assert_eq!(head.method, Method::Post);
            assert_eq!(head.body, BodyKind::Length(13));
        }
    }

    req! {
        content_length_zero,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        |head, _buf| { assert_eq!(head.body, BodyKind::Length(0)); }
    }

    req! {
        content_length_max_u64,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n",
        |head, _buf| { assert_eq!(head.body, BodyKind::Length(u64::MAX)); }
    }

    req! {
        content_length_ows_trimmed,
        // Field values exclude surrounding OWS (RFC 9110 5.5), so this is
        // `5`, not ` 5 `.
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \t 5 \t\r\n\r\n",
        |head, _buf| { assert_eq!(head.body, BodyKind::Length(5)); }
    }

    req! {
        post_chunked,
        b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        |head, _buf| { assert_eq!(head.body, BodyKind::Chunked); }
    }

    req! {
        chunked_case_insensitive_and_list_syntax,
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , CHUNKED ,\r\n\r\n",
        |head, _buf| { assert_eq!(head.body, BodyKind::Chunked); }
    }

    req! {
        duplicate_identical_content_length,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
        |head, _buf| { assert_eq!(head.body, BodyKind::Length(5)); }
    }

    req! {
        expect_continue,
        b"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
        |head, _buf| {
            assert_eq!(head.method, Method::Put);
            assert!(head.expect_continue);
        }
    }

    req! {
        expect_continue_ignored_in_http10,
        b"PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
        |head, _buf| { assert!(!head.expect_continue); }
    }

    req! {
        leading_empty_lines_skipped,
        b"\r\n\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
        |head, buf| {
            assert_eq!(head.method_span.get(buf), b"GET");
            assert_eq!(head.method_span.start, 6);
            assert_eq!(head.path.get(buf), b"/x");
            assert_eq!(head.host.get(buf), b"a");
        }
    }

    // ---- line terminators (RFC 9112 2.2) -------------------------------------

    /// Each input with what it gets under the default policy (reject) and
    /// under `BareLineFeedPolicy::Accept`.
    /// What a head gets: parsed whole (`Ok`), or rejected.
    type Outcome = Result<(), RejectReason>;

    const LINE_ENDINGS: &[(&[u8], Outcome, Outcome)] = {
        use RejectReason::*;
        &[
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Ok(()), Ok(())),
            // A bare LF after the request line, a field line, the last line.
            (b"GET / HTTP/1.1\nHost: a\r\n\r\n", Err(BareLineFeed), Ok(())),
            (b"GET / HTTP/1.1\r\nHost: a\n\r\n", Err(BareLineFeed), Ok(())),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\n", Err(BareLineFeed), Ok(())),
            (b"GET / HTTP/1.1\nHost: a\n\n", Err(BareLineFeed), Ok(())),
            // Before the request line (an empty line is skipped).
            (b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Err(BareLineFeed), Ok(())),
            // After trailing whitespace, and after an empty value.
            (b"GET / HTTP/1.1\r\nHost: a \t\nX: 1\r\n\r\n", Err(BareLineFeed), Ok(())),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX:\nY: 1\r\n\r\n", Err(BareLineFeed), Ok(())),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: \nY: 1\r\n\r\n", Err(BareLineFeed), Ok(())),
            // The smuggling shape: a hidden Content-Length after a bare LF,
            // reported before any framing error it would cause.
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nDummy: x\nContent-Length: 5\r\n\r\n",
                Err(BareLineFeed),
                Ok(()),
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nDummy: x\nContent-Length: 5\r\n\r\n",
                Err(BareLineFeed),
                Err(MultipleContentLength),
            ),
            // A lone CR is never a line terminator (RFC 9112 2.2 MUST).
            (b"GET / HTTP/1.1\rHost: a\r\n\r\n", Err(BareCarriageReturn), Err(BareCarriageReturn)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", Err(BareCarriageReturn), Err(BareCarriageReturn)),
            (b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", Err(BareCarriageReturn), Err(BareCarriageReturn)),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", Err(BareCarriageReturn), Err(BareCarriageReturn)),
            (b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", Err(BareCarriageReturn), Err(BareCarriageReturn)),
            (b"GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n", Err(BareCarriageReturn), Err(BareCarriageReturn)),
            (b"GET\r/ HTTP/1.1\r\nHost: a\r\n\r\n", Err(BareCarriageReturn), Err(BareCarriageReturn)),
            // A LF inside the request line is no line end either way.
            (b"GET /a\nb HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestLine), Err(InvalidRequestLine)),
            // NUL and other controls: in the target, a name, a value.
            (b"GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestLine), Err(InvalidRequestLine)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX\0: 1\r\n\r\n", Err(InvalidHeader), Err(InvalidHeader)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\x002\r\n\r\n", Err(InvalidHeader), Err(InvalidHeader)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\x7f\r\n\r\n", Err(InvalidHeader), Err(InvalidHeader)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\x0b\r\n\r\n", Err(InvalidHeader), Err(InvalidHeader)),
            // obs-fold is refused in both modes, after CRLF or a bare LF.
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", Err(InvalidHeader), Err(InvalidHeader)),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\n\tb\r\n\r\n", Err(InvalidHeader), Err(InvalidHeader)),
        ]
    };

    #[test]
    fn line_terminators_under_both_policies() {
        for (input, strict, lenient) in LINE_ENDINGS {
            for (policy, want) in [
                (BareLineFeedPolicy::Reject, strict),
                (BareLineFeedPolicy::Accept, lenient),
            ] {
                let limits = HeadLimits {
                    bare_line_feed: policy,
                    ..HeadLimits::default()
                };
                let (res, head) = parse_with(limits, input);
                let got = res.map(|status| {
                    assert_eq!(status, ParseStatus::Complete(input.len()));
                });
                let text = String::from_utf8_lossy(input);
                assert_eq!(&got, want, "{policy:?}: {text:?}");
                if got.is_ok() {
                    let bare = input.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r')
                        || input[0] == b'\n';
                    assert_eq!(head.bare_line_feed, bare, "{text:?}");
                }
            }
        }
    }

    #[test]
    fn bare_line_feed_request_split_anywhere() {
        // Under Accept, a head with bare LFs is partial at every prefix and
        // complete at the end, like a CRLF one.
        let req = b"GET http://h/ HTTP/1.0\nContent-Length: 3\n\n";
        let limits = HeadLimits {
            bare_line_feed: BareLineFeedPolicy::Accept,
            ..HeadLimits::default()
        };
        for i in 0..req.len() {
            assert_eq!(parse_with(limits, &req[..i]).0, Ok(ParseStatus::Partial));
        }
        let (res, head) = parse_with(limits, req);
        assert_eq!(res, Ok(ParseStatus::Complete(req.len())));
        assert!(head.bare_line_feed);
        assert_eq!(head.body, BodyKind::Length(3));
        assert_eq!(parse(req).0, Err(RejectReason::BareLineFeed));
    }

    req! {
        empty_header_value,
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Spaces:   \r\n\r\n",
        |head, buf| {
            assert_eq!(head.header(buf, "x-empty"), Some(&b""[..]));
            assert_eq!(head.header(buf, "x-spaces"), Some(&b""[..]));
        }
    }

    req! {
        extension_method,
        b"PROPFIND /dav HTTP/1.1\r\nHost: a\r\n\r\n",
        |head, buf| {
            assert_eq!(head.method, Method::Other);
            assert_eq!(head.method.as_str(), "");
            assert_eq!(head.method_span.get(buf), b"PROPFIND");
        }
    }

    req! {
        lowercase_method_is_other,
        b"get / HTTP/1.1\r\nHost: a\r\n\r\n",
        |head, _buf| { assert_eq!(head.method, Method::Other); }
    }

    #[test]
    fn a_remembered_host_never_admits_another_value() {
        let limits = HeadLimits::default();
        let parser = HeadParser::new(limits);
        let mut head = RequestHead::new(&limits);
        let long_ok = format!("{}.example:80", "a".repeat(KNOWN_HOST_MAX));
        let long_bad = format!("{}.exa mple:80", "a".repeat(KNOWN_HOST_MAX));
        for (host, ok) in [
            ("a.example:80", true),
            ("a.example:80", true),
            ("a.example:8x", false),
            ("a.example:80 ", true),
            ("a.example:8", true),
            ("a.example:80", true),
            ("[::1]:80", true),
            ("[::1:80", false),
            (&long_ok, true),
            (&long_bad, false),
            (&long_ok, true),
            ("a.example:80", true),
        ] {
            let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            let got = parser.parse(req.as_bytes(), &mut head);
            if ok {
                assert_eq!(got, Ok(ParseStatus::Complete(req.len())), "{host:?}");
                assert_eq!(head.host.get(req.as_bytes()), host.trim_end().as_bytes());
            } else {
                assert_eq!(got, Err(RejectReason::InvalidHost), "{host:?}");
            }
        }
    }

    /// The fuzzer's find: the fast path took in a valid Host value, then handed the head over
    /// (a later line not simple, the head not complete); the Host value must not be remembered
    /// then, as the general path alone (`Partial`) would not.
    #[test]
    fn a_head_handed_over_leaves_the_known_host() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\nX:hhhh\r\nHost:!a\n";
        let parser = HeadParser::new(HeadLimits::default());
        let (mut whole, mut general) = (
            RequestHead::new(parser.limits()),
            RequestHead::new(parser.limits()),
        );
        assert_eq!(parser.parse(buf, &mut whole), Ok(ParseStatus::Partial));
        assert_eq!(
            parser.parse_general(buf, &mut general),
            Ok(ParseStatus::Partial)
        );
        assert_eq!(whole, general);
    }

    #[test]
    fn known_host_compares_every_byte() {
        for len in 1..=KNOWN_HOST_MAX {
            let value: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            let mut known = KnownHost::default();
            assert!(!known.is(&value));
            known.remember(&value);
            assert!(known.is(&value), "{len}");
            assert!(!known.is(&value[..len - 1]) && !known.is(b""));
            for i in 0..len {
                let mut other = value.clone();
                other[i] = b'-';
                assert!(!known.is(&other), "{len} bytes, byte {i}");
            }
        }
        let mut known = KnownHost::default();
        known.remember(&[b'a'; KNOWN_HOST_MAX + 1]);
        assert!(
            !known.is(&[b'a'; KNOWN_HOST_MAX + 1]),
            "too long to remember"
        );
    }

    #[test]
    fn method_round_trip() {
        for m in [
            Method::Get,
            Method::Head,
            Method::Post,
            Method::Put,
            Method::Delete,
            Method::Patch,
            Method::Options,
            Method::Connect,
            Method::Trace,
        ] {
            assert_eq!(Method::from_bytes(m.as_str().as_bytes()), m);
        }
        assert_eq!(Method::from_bytes(b"Get"), Method::Other);
        assert_eq!(Version::Http10.as_str(), "HTTP/1.0");
        assert_eq!(Version::Http11.as_str(), "HTTP/1.1");
    }

    // ---- request-target forms (RFC 9112 3.2) -------------------------------

    req! {
        absolute_form,
        b"GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: other\r\n\r\n",
        |head, buf| {
            assert_eq!(head.target.get(buf), b"http://example.com:8080/a/b?c=d");
            assert_eq!(head.path.get(buf), b"/a/b");
            assert_eq!(head.query.get(buf), b"c=d");
            // RFC 9112 3.2.2: the target's authority wins over Host.
            assert_eq!(head.host.get(buf), b"example.com:8080");
            assert_eq!(head.header(buf, "host"), Some(&b"other"[..]));
        }
    }

    req! {
        absolute_form_empty_path,
        b"OPTIONS HTTPS://example.com?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
        |head, buf| {
            assert_eq!(head.path.get(buf), b"/");
            assert_eq!(head.query.get(buf), b"x=1");
            assert_eq!(head.host.get(buf), b"example.com");
        }
    }

    req! {
        absolute_form_no_path_no_query,
        b"GET http://[::1]:80 HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
        |head, buf| {
            assert_eq!(head.path.get(buf), b"/");
            assert!(head.query.is_empty());
            assert_eq!(head.host.get(buf), b"[::1]:80");
        }
    }

    req! {
        asterisk_form,
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        |head, buf| {
            assert_eq!(head.method, Method::Options);
            assert_eq!(head.path.get(buf), b"*");
            assert!(head.query.is_empty());
        }
    }

    req! {
        authority_form,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        |head, buf| {
            assert_eq!(head.method, Method::Connect);
            assert_eq!(head.target.get(buf), b"example.com:443");
            assert!(head.path.is_empty());
            assert!(head.query.is_empty());
        }
    }

    req! {
        origin_form_empty_query,
        b"GET /p? HTTP/1.1\r\nHost: a\r\n\r\n",
        |head, buf| {
            assert_eq!(head.path.get(buf), b"/p");
            assert!(head.query.is_empty());
        }
    }

    req! { asterisk_without_options, b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestTarget) }
    req! { asterisk_with_suffix, b"OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestTarget) }
    req! { authority_form_without_connect, b"GET example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestTarget) }
    req! { connect_with_origin_form, b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestTarget) }
    req! { connect_without_port, b"CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestTarget) }
    req! { connect_empty_port, b"CONNECT example.com: HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestTarget) }
    req! { absolute_form_bad_scheme, b"GET ftp://example.com/ HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestTarget) }
    req! { absolute_form_no_slashes, b"GET http:example.com/ HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestTarget) }
    req! { absolute_form_empty_host, b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestTarget) }
    req! { absolute_form_userinfo, b"GET http://u:p@example.com/ HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestTarget) }
    req! { relative_target, b"GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestTarget) }
    req! { fragment_in_target, b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestTarget) }
    req! { non_ascii_target, "GET /caf\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n".as_bytes(), Err(InvalidRequestTarget) }

    // ---- persistence (RFC 9112 9.3) ----------------------------------------

    #[test]
    fn keep_alive_rules() {
        let cases: &[(&[u8], bool)] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                false,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n",
                false,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
                true,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, close\r\n\r\n",
                false,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n",
                true,
            ),
            (
                b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nConnection: close\r\n\r\n",
                false,
            ),
            (b"GET / HTTP/1.0\r\n\r\n", false),
            (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true),
            (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true),
            (
                b"GET / HTTP/1.0\r\nConnection: foo ,\t keep-alive \r\n\r\n",
                true,
            ),
            (
                b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
                false,
            ),
            (
                b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
                false,
            ),
            (
                b"GET / HTTP/1.0\r\nConnection: keep-alive-ish\r\n\r\n",
                false,
            ),
        ];
        for (buf, ka) in cases {
            let (res, head) = parse(buf);
            assert_eq!(
                res,
                Ok(ParseStatus::Complete(buf.len())),
                "{}",
                String::from_utf8_lossy(buf)
            );
            assert_eq!(head.keep_alive, *ka, "{}", String::from_utf8_lossy(buf));
        }
    }

    req! {
        http10_without_host,
        b"GET / HTTP/1.0\r\nUser-Agent: ab\r\n\r\n",
        |head, _buf| {
            assert_eq!(head.version, Version::Http10);
            assert!(head.host.is_empty());
            assert!(!head.keep_alive);
        }
    }

    req! {
        empty_host_allowed,
        b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
        |head, _buf| { assert!(head.host.is_empty()); }
    }

    // ---- pipelining and partial input --------------------------------------

    #[test]
    fn pipelined_stops_at_first_head() {
        let first = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut buf = first.to_vec();
        buf.extend_from_slice(b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
        let (res, head) = parse(&buf);
        assert_eq!(res, Ok(ParseStatus::Complete(first.len())));
        assert_eq!(head.path.get(&buf), b"/1");
        let rest = &buf[first.len()..];
        let (res, head) = parse(rest);
        assert_eq!(res, Ok(ParseStatus::Complete(rest.len())));
        assert_eq!(head.path.get(rest), b"/2");
    }

    #[test]
    fn head_followed_by_body_bytes() {
        let buf = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
        let (res, head) = parse(buf);
        assert_eq!(res, Ok(ParseStatus::Complete(buf.len() - 5)));
        assert_eq!(head.body, BodyKind::Length(5));
    }

    const VALID: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /plaintext HTTP/1.1\r\nHost: localhost:8080\r\nAccept: text/plain\r\nConnection: keep-alive\r\n\r\n",
        b"\r\nPOST /x?y HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n",
        b"GET http://h/ HTTP/1.0\r\nContent-Length: 3\r\n\r\n",
        b"OPTIONS * HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n",
        b"CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n",
    ];

    #[test]
    fn every_prefix_is_partial() {
        for req in VALID {
            for i in 0..req.len() {
                assert_eq!(
                    parse(&req[..i]).0,
                    Ok(ParseStatus::Partial),
                    "prefix {i} of {}",
                    String::from_utf8_lossy(req)
                );
            }
            assert_eq!(parse(req).0, Ok(ParseStatus::Complete(req.len())));
        }
    }

    // ---- rejections reachable from head parsing ----------------------------

    req! { bad_method_token, b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestLine) }
    req! { double_space, b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestLine) }
    req! { missing_version, b"GET /\r\nHost: a\r\n\r\n", Err(InvalidRequestLine) }
    req! { garbage_version, b"GET / HTTX/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestLine) }
    req! { two_digit_version, b"GET / HTTP/10.0\r\nHost: a\r\n\r\n", Err(InvalidRequestLine) }
    req! { junk_after_version, b"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", Err(InvalidRequestLine) }
    req! { bare_cr_in_leading_lines, b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", Err(BareCarriageReturn) }
    req! { control_char_in_target, b"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", Err(InvalidRequestLine) }
    req! { tls_client_hello, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", Err(InvalidRequestLine) }
    req! { http2_version, b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", Err(UnsupportedVersion) }
    req! { http12_version, b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", Err(UnsupportedVersion) }
    req! { http09_version, b"GET / HTTP/0.9\r\n\r\n", Err(UnsupportedVersion) }
    req! { h2_preface, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Err(UnsupportedVersion) }
    req! { http2_version_partial, b"GET / HTTP/2", Err(UnsupportedVersion) }
    req! { http11_version_partial, b"GET / HTTP/1.", Partial }
    req! { space_in_header_name, b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", Err(InvalidHeader) }
    req! { space_before_colon, b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", Err(InvalidHeader) }
    req! { nul_in_header_value, b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", Err(InvalidHeader) }
    req! { bare_cr_in_header_value, b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", Err(BareCarriageReturn) }
    req! { obs_fold, b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", Err(InvalidHeader) }
    req! { bad_final_line_ending, b"GET / HTTP/1.1\r\nHost: a\r\n\rX", Err(BareCarriageReturn) }
    req! { cr_at_end_of_error_waits_for_next_byte, b"GET\r", Partial }
    req! { crlf_after_method_is_invalid_request_line, b"GET\r\n", Err(InvalidRequestLine) }
    req! { missing_host, b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", Err(MissingHost) }
    req! { multiple_host, b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", Err(MultipleHost) }
    req! { multiple_host_http10, b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", Err(MultipleHost) }
    req! { invalid_host_userinfo, b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", Err(InvalidHost) }
    req! { invalid_host_bad_port, b"GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", Err(InvalidHost) }
    req! { invalid_host_slash, b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Err(InvalidHost) }
    req! { invalid_host_only_port, b"GET / HTTP/1.1\r\nHost: :80\r\n\r\n", Err(InvalidHost) }
    req! { invalid_host_open_bracket, b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", Err(InvalidHost) }
    req! { cl_plus_sign, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", Err(InvalidContentLength) }
    req! { cl_minus_sign, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n", Err(InvalidContentLength) }
    req! { cl_list, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,5\r\n\r\n", Err(InvalidContentLength) }
    req! { cl_list_spaced, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", Err(InvalidContentLength) }
    req! { cl_inner_space, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", Err(InvalidContentLength) }
    req! { cl_empty, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", Err(InvalidContentLength) }
    req! { cl_hex, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", Err(InvalidContentLength) }
    req! { cl_overflow, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", Err(InvalidContentLength) }
    req! { cl_differing, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", Err(MultipleContentLength) }
    req! { cl_with_te, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", Err(ContentLengthWithTransferEncoding) }
    req! { te_with_cl, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", Err(ContentLengthWithTransferEncoding) }
    req! { te_gzip_chunked, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Err(UnsupportedTransferEncoding) }
    req! { te_gzip_then_chunked_lines, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", Err(UnsupportedTransferEncoding) }
    req! { te_chunked_gzip, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Err(InvalidTransferEncoding) }
    req! { te_gzip_only, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", Err(InvalidTransferEncoding) }
    req! { te_chunked_twice, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Err(InvalidTransferEncoding) }
    req! { te_empty, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", Err(InvalidTransferEncoding) }
    req! { te_chunked_with_params, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", Err(InvalidTransferEncoding) }
    req! { te_in_http10, b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Err(TransferEncodingInHttp10) }
    req! { te_in_http10_with_cl, b"POST / HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", Err(TransferEncodingInHttp10) }
    req! { unknown_expectation, b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", Err(UnknownExpectation) }
    req! { expectation_list, b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, x\r\n\r\n", Err(UnknownExpectation) }

    // ---- limits ------------------------------------------------------------

    fn small_limits() -> HeadLimits {
        HeadLimits {
            max_request_line: 16,
            max_header_bytes: 32,
            max_headers: 3,
            ..HeadLimits::default()
        }
    }

    #[test]
    fn request_line_limit_boundary() {
        let limits = small_limits();
        // "GET /123456 HTTP/1.1" is 20 bytes; the longest allowed path makes
        // the line exactly 16.
        let ok = b"GET /234 HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(&ok[..17], b"GET /234 HTTP/1.1");
        let limits16 = HeadLimits {
            max_request_line: 17,
            ..limits
        };
        assert_eq!(
            parse_with(limits16, ok).0,
            Ok(ParseStatus::Complete(ok.len()))
        );
        assert_eq!(
            parse_with(limits, ok).0,
            Err(RejectReason::RequestLineTooLong)
        );
        // Also while the line is still incomplete: no buffer growth loop.
        for n in 17..=19 {
            assert_eq!(
                parse_with(limits, &ok[..n]).0,
                Err(RejectReason::RequestLineTooLong),
                "prefix {n}"
            );
        }
        // A CR at the edge may still be followed by LF.
        let limits17 = HeadLimits {
            max_request_line: 17,
            ..limits
        };
        assert_eq!(parse_with(limits17, &ok[..18]).0, Ok(ParseStatus::Partial));
        // Bare LF at the boundary.
        let lf = b"GET /234 HTTP/1.1\nHost: a\n\n";
        let limits17 = HeadLimits {
            bare_line_feed: BareLineFeedPolicy::Accept,
            ..limits17
        };
        assert_eq!(
            parse_with(limits17, lf).0,
            Ok(ParseStatus::Complete(lf.len()))
        );
        assert_eq!(
            parse_with(limits, lf).0,
            Err(RejectReason::RequestLineTooLong)
        );
    }

    #[test]
    fn request_line_limit_counts_leading_empty_lines() {
        let limits = HeadLimits {
            max_request_line: 16,
            ..HeadLimits::default()
        };
        let endless = b"\r\n".repeat(100);
        assert_eq!(
            parse_with(limits, &endless).0,
            Err(RejectReason::RequestLineTooLong)
        );
        assert_eq!(
            parse_with(limits, &endless[..16]).0,
            Ok(ParseStatus::Partial)
        );
    }

    #[test]
    fn long_garbage_line_is_invalid_not_too_long() {
        let limits = small_limits();
        assert_eq!(
            parse_with(limits, b"\x16\x03\x01 garbage garbage garbage garbage").0,
            Err(RejectReason::InvalidRequestLine)
        );
    }

    #[test]
    fn default_request_line_limit() {
        let mut buf = b"GET /".to_vec();
        buf.resize(8 * 1024 + 100, b'a');
        assert_eq!(parse(&buf).0, Err(RejectReason::RequestLineTooLong));
        assert_eq!(RejectReason::RequestLineTooLong.status(), 414);
        let mut ok = b"GET /".to_vec();
        ok.resize(8 * 1024 - b" HTTP/1.1".len(), b'a');
        ok.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(parse(&ok).0, Ok(ParseStatus::Complete(ok.len())));
    }

    #[test]
    fn header_bytes_limit_boundary() {
        let limits = small_limits();
        // Header section = "Host: a\r\n" (9) + "X: " + v + "\r\n" (5 + v) + "\r\n" (2).
        let make = |v: usize| {
            let mut b = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
            b.resize(b.len() + v, b'v');
            b.extend_from_slice(b"\r\n\r\n");
            b
        };
        let exact = make(32 - 16);
        assert_eq!(
            parse_with(limits, &exact).0,
            Ok(ParseStatus::Complete(exact.len()))
        );
        let over = make(32 - 16 + 1);
        assert_eq!(
            parse_with(limits, &over).0,
            Err(RejectReason::HeadersTooLarge)
        );
        // Rejected while still partial, once the budget is used up.
        assert_eq!(
            parse_with(limits, &over[..over.len() - 1]).0,
            Err(RejectReason::HeadersTooLarge)
        );
        assert_eq!(
            parse_with(limits, &exact[..exact.len() - 1]).0,
            Ok(ParseStatus::Partial)
        );
        let mut endless = b"GET / HTTP/1.1\r\nX: ".to_vec();
        endless.resize(10_000, b'v');
        assert_eq!(
            parse_with(limits, &endless).0,
            Err(RejectReason::HeadersTooLarge)
        );
        assert_eq!(RejectReason::HeadersTooLarge.status(), 431);
    }

    #[test]
    fn header_count_limit() {
        let limits = small_limits();
        let three = b"GET / HTTP/1.1\r\nHost: a\r\nB: b\r\nC: c\r\n\r\n";
        let big = HeadLimits {
            max_header_bytes: 1024,
            ..limits
        };
        assert_eq!(
            parse_with(big, three).0,
            Ok(ParseStatus::Complete(three.len()))
        );
        let four = b"GET / HTTP/1.1\r\nHost: a\r\nB: b\r\nC: c\r\nD: d\r\n\r\n";
        assert_eq!(parse_with(big, four).0, Err(RejectReason::TooManyHeaders));
        assert_eq!(RejectReason::TooManyHeaders.status(), 431);

        let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for _ in 0..100 {
            many.extend_from_slice(b"X: y\r\n");
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse(&many).0, Err(RejectReason::TooManyHeaders));
    }

    #[test]
    fn max_headers_clamped_to_slots() {
        let limits = HeadLimits {
            max_headers: 10_000,
            max_header_bytes: 1 << 20,
            ..HeadLimits::default()
        };
        let parser = HeadParser::new(limits);
        assert_eq!(parser.limits().max_headers, HEADER_SLOTS);
        let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for _ in 0..HEADER_SLOTS {
            buf.extend_from_slice(b"X: y\r\n");
        }
        buf.extend_from_slice(b"\r\n");
        let mut head = RequestHead::new(&limits);
        assert_eq!(
            parser.parse(&buf, &mut head),
            Err(RejectReason::TooManyHeaders)
        );
    }

    // ---- storage reuse -----------------------------------------------------

    #[test]
    fn header_storage_is_reused() {
        let limits = HeadLimits::default();
        let parser = HeadParser::new(limits);
        let mut head = RequestHead::new(&limits);
        let cap = head.headers.capacity();
        let ptr = head.headers.as_ptr();
        assert!(cap >= limits.max_headers);
        let mut full = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for _ in 1..limits.max_headers {
            full.extend_from_slice(b"X: y\r\n");
        }
        full.extend_from_slice(b"\r\n");
        for i in 0..1000 {
            let buf: &[u8] = if i % 2 == 0 {
                &full
            } else {
                VALID[i % VALID.len()]
            };
            assert!(matches!(
                parser.parse(buf, &mut head),
                Ok(ParseStatus::Complete(_))
            ));
            assert_eq!(head.headers.capacity(), cap);
            assert_eq!(head.headers.as_ptr(), ptr);
            head.clear();
            assert_eq!(head.header_count(), 0);
        }
    }

    // ---- properties --------------------------------------------------------

    /// A random valid request, with its path.
    fn valid_request() -> impl Strategy<Value = (Vec<u8>, String)> {
        (
            prop::sample::select(vec!["GET", "POST", "DELETE", "PATCH", "M-SEARCH"]),
            "/[a-zA-Z0-9/._~%-]{0,40}",
            prop::option::of("[a-z0-9=&]{0,20}"),
            prop::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,15}", "[ -~]{0,30}"), 0..10),
            0usize..3,
            any::<bool>(),
        )
            .prop_map(|(method, path, query, headers, leading, bare_lf)| {
                let nl = if bare_lf { "\n" } else { "\r\n" };
                let mut s = nl.repeat(leading);
                s.push_str(&format!("{method} {path}"));
                if let Some(q) = &query {
                    s.push_str(&format!("?{q}"));
                }
                s.push_str(&format!(" HTTP/1.1{nl}Host: example.com{nl}"));
                for (n, v) in &headers {
                    // Avoid names with semantics (and duplicate Host).
                    s.push_str(&format!("X-{n}: {}{nl}", v.trim()));
                }
                s.push_str(nl);
                (s.into_bytes(), path)
            })
    }

    /// A random valid request from [`valid_request`] with a body: none, `Content-Length`, or
    /// chunked (cut into chunks of `chunk` bytes). Returns the bytes and the body.
    fn with_body(req: &[u8], body: Option<(Vec<u8>, bool)>, chunk: usize) -> (Vec<u8>, Vec<u8>) {
        let Some((body, chunked)) = body else {
            return (req.to_vec(), Vec::new());
        };
        // The head ends with its blank line, CRLF or bare LF like the rest of it.
        let nl: &[u8] = if req.ends_with(b"\r\n\r\n") {
            b"\r\n"
        } else {
            b"\n"
        };
        let mut out = req[..req.len() - nl.len()].to_vec();
        if chunked {
            out.extend_from_slice(b"Transfer-Encoding: chunked");
            out.extend_from_slice(nl);
            out.extend_from_slice(nl);
            for c in body.chunks(chunk.max(1)) {
                out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                out.extend_from_slice(c);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else {
            out.extend_from_slice(format!("Content-Length: {}", body.len()).as_bytes());
            out.extend_from_slice(nl);
            out.extend_from_slice(nl);
            out.extend_from_slice(&body);
        }
        (out, body)
    }

    /// Both paths over `buf`: the fast path's answer, if it takes the head, and the general
    /// path's, each with the head it filled. Each parses into a head that parsed `before` first
    /// (so that it knows the Host value `before` has, if valid, as a connection's second request
    /// does).
    #[allow(clippy::type_complexity)]
    fn both_paths_after(
        limits: HeadLimits,
        buf: &[u8],
        before: &[u8],
    ) -> (
        Option<(Result<ParseStatus, RejectReason>, RequestHead)>,
        (Result<ParseStatus, RejectReason>, RequestHead),
    ) {
        let parser = HeadParser::new(limits);
        let head = || {
            let mut head = RequestHead::new(&limits);
            let _ = parser.parse_general(before, &mut head);
            head.clear();
            head
        };
        let mut fast = head();
        let fast = parser.parse_complete(buf, &mut fast).map(|r| (r, fast));
        let mut general = head();
        let general = (parser.parse_bounded(buf, &mut general), general);
        (fast, general)
    }

    /// [`fast_path_agrees`] for `head` (which the fast path must take if `must_take`) and for
    /// every prefix of it (none of which it need take).
    fn fast_path_agrees_with_prefixes(head: &[u8], must_take: bool) -> Result<(), TestCaseError> {
        fast_path_agrees(head, must_take)?;
        for cut in 0..head.len() {
            fast_path_agrees_after(&head[..cut], false, head)?;
        }
        Ok(())
    }

    /// Where the fast path answers, it answers as the general path does, head included; and
    /// over `every_limit` it answers for at least the complete, simple heads `must_take` says.
    fn fast_path_agrees(buf: &[u8], must_take: bool) -> Result<(), TestCaseError> {
        fast_path_agrees_after(buf, must_take, buf)
    }

    /// [`fast_path_agrees`], each time on a fresh head and on one that parsed `before` first,
    /// which knows its Host value (if valid) as a connection does after its first request.
    fn fast_path_agrees_after(
        buf: &[u8],
        must_take: bool,
        before: &[u8],
    ) -> Result<(), TestCaseError> {
        let limits = [HeadLimits::default(), lenient(), small_limits()];
        for (limits, before) in limits
            .into_iter()
            .flat_map(|l| [(l, &b""[..]), (l, before)])
        {
            // `parse` (the fast path, or the general one where it hands over) as the general
            // path alone: the answer, and the head where it is `Ok` (a head handed over is
            // left as the general path alone would leave it, Host value remembered included).
            let parser = HeadParser::new(limits);
            let primed = || {
                let mut head = RequestHead::new(&limits);
                let _ = parser.parse_general(before, &mut head);
                head
            };
            let (mut whole, mut general) = (primed(), primed());
            let answer = parser.parse(buf, &mut whole);
            prop_assert_eq!(answer, parser.parse_general(buf, &mut general));
            if answer.is_ok() {
                prop_assert_eq!(&whole, &general, "{:?}", String::from_utf8_lossy(buf));
            }
            let (fast, general) = both_paths_after(limits, buf, before);
            match fast {
                Some(fast) => {
                    prop_assert_eq!(&fast.0, &general.0, "{:?}", String::from_utf8_lossy(buf));
                    if fast.0.is_ok() {
                        prop_assert_eq!(&fast.1, &general.1);
                    }
                }
                None => prop_assert!(
                    !must_take || limits == small_limits(),
                    "the fast path left a simple head: {:?}",
                    String::from_utf8_lossy(buf)
                ),
            }
        }
        Ok(())
    }

    /// Heads the fast path must take: CRLF lines, any of the forms and fields that decide
    /// something, whitespace around values; valid or refused by the checks after the scan.
    fn simple_head() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::sample::select(vec![
                "GET", "POST", "HEAD", "OPTIONS", "CONNECT", "M-SEARCH",
            ]),
            prop::sample::select(vec![
                "/",
                "/plaintext",
                "/a/b?c=d?e",
                "/abcdefghijklmnop?q",
                "/abcdefgh?ijklmnopqrstu?vw",
                "*",
                "http://example.com/x?y",
                "https://example.com?y",
                "example.com:443",
                "/%41bc/..;x=y",
            ]),
            prop::sample::select(vec!["1.1", "1.0"]),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "Host",
                        "host",
                        "Content-Length",
                        "Transfer-Encoding",
                        "Connection",
                        "Expect",
                        "X-Long-Header-Name",
                        "A",
                    ]),
                    prop::sample::select(vec!["", " ", "\t", "  "]),
                    prop::sample::select(vec![
                        "example.com",
                        "127.0.0.1:8080",
                        "",
                        "5",
                        "chunked",
                        "gzip, chunked",
                        "close",
                        "keep-alive",
                        "100-continue",
                        "a value with spaces",
                        "obs\u{80}text and more words",
                        "x\ty",
                    ]),
                    prop::sample::select(vec!["", " ", "\t", " \t"]),
                ),
                0..6,
            ),
        )
            .prop_map(|(method, target, version, fields)| {
                let mut s = format!("{method} {target} HTTP/{version}\r\n");
                for (name, before, value, after) in fields {
                    s.push_str(&format!("{name}:{before}{value}{after}\r\n"));
                }
                s.push_str("\r\n");
                s.into_bytes()
            })
    }

    proptest! {
        #[test]
        fn the_fast_path_takes_every_simple_head_and_agrees(head in simple_head()) {
            fast_path_agrees_with_prefixes(&head, true)?;
        }

        #[test]
        fn the_fast_path_takes_simple_heads_and_agrees(
            (req, _) in valid_request(),
            extra in prop::collection::vec(any::<u8>(), 0..16),
        ) {
            let simple = req.first() != Some(&b'\r') && req.first() != Some(&b'\n')
                && req.windows(2).any(|w| w == b"\r\n");
            fast_path_agrees_with_prefixes(&req, simple)?;
            let mut buf = req.clone();
            buf.extend_from_slice(&extra);
            fast_path_agrees(&buf, simple)?;
        }

        #[test]
        fn the_fast_path_agrees_on_mutated_heads(
            (req, _) in valid_request(),
            edits in prop::collection::vec(
                (
                    any::<prop::sample::Index>(),
                    prop::sample::select(b"\r\n :/?#*\t\x00\x7f\x80HTP12.0,;aZ".to_vec()),
                ),
                1..4,
            ),
        ) {
            let mut req = req;
            for (at, byte) in edits {
                let i = at.index(req.len());
                req[i] = byte;
            }
            fast_path_agrees(&req, false)?;
        }

        #[test]
        fn the_fast_path_agrees_on_head_like_bytes(
            line in "[A-Z]{1,8} [ -~]{1,24} HTTP/1.[0-2]\r\n",
            fields in prop::collection::vec(
                (
                    prop::sample::select(vec!["Host", "host", "Content-Length", "Transfer-Encoding",
                        "Connection", "Expect", "X-A", "X A", ""]),
                    prop::sample::select(vec![":", " :", ": ", ":\t"]),
                    "[ -~\t\u{80}-\u{ff}]{0,24}",
                    prop::sample::select(vec!["\r\n", "\n", "\r", " \r\n"]),
                ),
                0..6,
            ),
            end in prop::sample::select(vec!["\r\n", "\n", ""]),
        ) {
            let mut buf = line.into_bytes();
            for (name, colon, value, nl) in fields {
                buf.extend_from_slice(name.as_bytes());
                buf.extend_from_slice(colon.as_bytes());
                buf.extend_from_slice(value.as_bytes());
                buf.extend_from_slice(nl.as_bytes());
            }
            buf.extend_from_slice(end.as_bytes());
            fast_path_agrees(&buf, false)?;
        }

        /// The word-at-a-time scan answers as a byte-at-a-time one would.
        #[test]
        fn scan_target_matches_the_bytewise_scan(
            t in prop::collection::vec(
                prop_oneof![Just(b'?'), Just(b'#'), Just(0x80u8), Just(0xffu8), 0x21u8..0x7f],
                0..40,
            )
        ) {
            let bytewise = if t.iter().any(|&b| b >= 0x80 || b == b'#') {
                None
            } else {
                Some(t.iter().position(|&b| b == b'?'))
            };
            prop_assert_eq!(scan_target(&t), bytewise);
        }

        #[test]
        fn pipelined_requests_parse_in_order_whatever_the_reads(
            reqs in prop::collection::vec(
                (
                    valid_request(),
                    prop::option::of((prop::collection::vec(any::<u8>(), 0..60), any::<bool>())),
                    1usize..20,
                ),
                1..6,
            ),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            // Each request alone: its head and its body.
            let mut stream = Vec::new();
            let mut expected = Vec::new();
            for ((req, _), body, chunk) in &reqs {
                let (bytes, body) = with_body(req, body.clone(), *chunk);
                let (res, head) = parse_with(lenient(), &bytes);
                let Ok(ParseStatus::Complete(n)) = res else {
                    return Err(TestCaseError::fail(format!("{res:?} for a valid request")));
                };
                expected.push((n, head, body));
                stream.extend_from_slice(&bytes);
            }
            // The same requests back to back, arriving in reads cut at `cuts`, consumed the
            // way a connection does: parse the head from everything buffered after the
            // previous request, then decode its body as more arrives.
            let mut ends: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            ends.push(stream.len());
            ends.sort_unstable();
            let mut reads = ends.into_iter();
            let mut avail = 0;
            let mut base = 0;
            let limits = lenient();
            let parser = HeadParser::new(limits);
            let mut head = RequestHead::new(&limits);
            for (i, (n, want_head, want_body)) in expected.iter().enumerate() {
                let head_len = loop {
                    match parser.parse(&stream[base..avail], &mut head) {
                        Ok(ParseStatus::Complete(n)) => break n,
                        Ok(ParseStatus::Partial) => {
                            avail = reads.next().expect("the head completes within the stream");
                        }
                        Err(e) => return Err(TestCaseError::fail(format!("request {i}: {e:?}"))),
                    }
                };
                prop_assert_eq!(head_len, *n, "request {}", i);
                prop_assert_eq!(&head, want_head, "request {}", i);
                let mut decoder = crate::proto::h1::BodyDecoder::new(head.body);
                let mut pos = base + head_len;
                let mut body = Vec::new();
                while !decoder.is_done() {
                    let d = decoder.decode(&stream[pos..avail]).unwrap();
                    body.extend_from_slice(d.data.get(&stream[pos..avail]));
                    pos += d.consumed;
                    if !d.done && d.consumed == 0 {
                        avail = reads.next().expect("the body completes within the stream");
                    }
                }
                prop_assert_eq!(&body, want_body, "request {}", i);
                base = pos;
            }
            prop_assert_eq!(base, stream.len(), "every byte belongs to a request");
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
            let _ = parse_with(small_limits(), &bytes);
        }

        #[test]
        fn arbitrary_head_like_bytes_never_panic(
            line in "[A-Z]{1,8} [ -~]{0,40} HTTP/[0-9].[0-9]\r\n",
            rest in prop::collection::vec(
                prop::sample::select(b"\r\n:, \tHhostcCnNtT-eEdkxX0123456789;/\x00\x80".to_vec()),
                0..200,
            ),
        ) {
            let mut buf = line.into_bytes();
            buf.extend_from_slice(&rest);
            let _ = parse(&buf);
            let _ = parse_with(small_limits(), &buf);
        }

        #[test]
        fn valid_request_any_split((req, path) in valid_request(), extra in prop::collection::vec(any::<u8>(), 0..32)) {
            let (whole, head) = parse_with(lenient(), &req);
            prop_assert_eq!(whole, Ok(ParseStatus::Complete(req.len())));
            prop_assert_eq!(head.path.get(&req), path.as_bytes());
            let bare_lf = !req.windows(2).any(|w| w == b"\r\n");
            prop_assert_eq!(head.bare_line_feed, bare_lf);
            // Under the default policy, the same bytes are refused exactly when they use a bare LF.
            let strict = if bare_lf { Err(RejectReason::BareLineFeed) } else { whole };
            prop_assert_eq!(parse(&req).0, strict);
            for i in 0..req.len() {
                prop_assert_eq!(parse_with(lenient(), &req[..i]).0, Ok(ParseStatus::Partial), "prefix {}", i);
                match parse(&req[..i]).0 {
                    Ok(ParseStatus::Partial) => {}
                    other => prop_assert_eq!(other, strict, "strict prefix {}", i),
                }
            }
            // Bytes after the head (body, next request) change nothing.
            let mut more = req.clone();
            more.extend_from_slice(&extra);
            let (res, head2) = parse_with(lenient(), &more);
            prop_assert_eq!(res, Ok(ParseStatus::Complete(req.len())));
            prop_assert_eq!(head2, head);
        }

        #[test]
        fn mutated_request_prefixes_agree(
            (req, _) in valid_request(),
            at in any::<prop::sample::Index>(),
            byte in prop::sample::select(b"\r\n :/?#*\t\x00\x7f\x80HTP12.0,;aZ".to_vec()),
        ) {
            // One corrupted byte anywhere in a valid head: every prefix is
            // Partial or has exactly the outcome of the whole buffer, i.e.
            // the result does not depend on how the bytes were split.
            let mut req = req;
            let i = at.index(req.len());
            req[i] = byte;
            let whole = parse(&req).0;
            let small = parse_with(small_limits(), &req).0;
            let whole_lenient = parse_with(lenient(), &req).0;
            for cut in 0..req.len() {
                match parse(&req[..cut]).0 {
                    Ok(ParseStatus::Partial) => {}
                    other => prop_assert_eq!(other, whole, "cut {}", cut),
                }
                match parse_with(lenient(), &req[..cut]).0 {
                    Ok(ParseStatus::Partial) => {}
                    other => prop_assert_eq!(other, whole_lenient, "lenient, cut {}", cut),
                }
                match parse_with(small_limits(), &req[..cut]).0 {
                    Ok(ParseStatus::Partial) => {}
                    other => prop_assert_eq!(other, small, "small limits, cut {}", cut),
                }
            }
        }

        #[test]
        fn prefix_never_contradicts_whole(bytes in prop::collection::vec(any::<u8>(), 0..128), cut in 0usize..128) {
            // A prefix is either Partial or fails exactly like the whole.
            let cut = cut.min(bytes.len());
            for limits in [HeadLimits::default(), lenient()] {
                let whole = parse_with(limits, &bytes).0;
                match parse_with(limits, &bytes[..cut]).0 {
                    Ok(ParseStatus::Partial) => {}
                    Ok(ParseStatus::Complete(n)) => prop_assert_eq!(whole, Ok(ParseStatus::Complete(n))),
                    Err(e) => prop_assert_eq!(whole, Err(e)),
                }
            }
        }
    }
}
