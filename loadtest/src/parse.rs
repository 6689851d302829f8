//! Incremental HTTP/1.1 response parser.
//!
//! The status line and headers are parsed with `httparse`; bodies are *skipped*, not
//! buffered: [`ResponseParser::parse`] consumes body bytes as they arrive, so a connection's
//! read buffer only ever has to hold one response head. Handles `Content-Length`, chunked
//! bodies (extensions, trailers), bodies delimited by the end of the connection, responses
//! without a body (HEAD, 204, 304), interim `1xx` responses, and `Connection: close` /
//! HTTP/1.0 connection semantics. Nothing is allocated.

use std::fmt;

use httparse::{Status, EMPTY_HEADER};

/// Most headers a response may carry; more is a protocol error.
pub const MAX_HEADERS: usize = 64;

/// A complete response, as far as a load generator cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// The server will close the connection after this response (`Connection: close`,
    /// HTTP/1.0 without keep-alive, or a body delimited by the end of the connection).
    pub close: bool,
}

/// Why a response could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Malformed status line or headers.
    Head(httparse::Error),
    /// Unparsable or conflicting `Content-Length`.
    ContentLength,
    /// Malformed chunked body.
    Chunk,
    /// `101 Switching Protocols`: nothing a load generator can follow.
    Upgrade,
    /// The connection ended in the middle of a response.
    UnexpectedEof,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Head(e) => write!(f, "malformed response head: {e}"),
            ParseError::ContentLength => f.write_str("invalid Content-Length"),
            ParseError::Chunk => f.write_str("malformed chunked body"),
            ParseError::Upgrade => f.write_str("unexpected 101 Switching Protocols"),
            ParseError::UnexpectedEof => f.write_str("connection closed mid-response"),
        }
    }
}

impl std::error::Error for ParseError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// In the hex size; `digits` read so far.
    Size {
        value: u64,
        digits: u8,
    },
    /// In a chunk extension (`;name=value`), skipped.
    Ext {
        value: u64,
    },
    /// Saw the CR ending the size line.
    SizeLf {
        value: u64,
    },
    /// Chunk data left to skip.
    Data(u64),
    DataCr,
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    TrailerLine,
    TrailerLf {
        empty: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Length { resp: Response, remaining: u64 },
    Chunked { resp: Response, chunk: Chunk },
    UntilClose { resp: Response },
}

enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// Parses the responses of one connection, in order.
#[derive(Debug, Clone)]
pub struct ResponseParser {
    head_request: bool,
    state: State,
}

impl ResponseParser {
    /// A parser for a connection whose requests are `HEAD` (`head_request`, so responses
    /// have no body whatever their headers say) or not.
    pub fn new(head_request: bool) -> Self {
        ResponseParser {
            head_request,
            state: State::Head,
        }
    }

    /// Forgets any response in progress (for a new connection).
    pub fn reset(&mut self) {
        self.state = State::Head;
    }

    /// True between responses: no response head or body is partly consumed.
    pub fn is_idle(&self) -> bool {
        self.state == State::Head
    }

    /// Consumes a prefix of `data` and returns how many bytes it consumed, plus the response
    /// those bytes completed, if any.
    ///
    /// Stops right after a completed response, so call it again on the rest of the data;
    /// `(n, None)` means "consumed `n` bytes and needs more data". An incomplete head is not
    /// consumed (`(0, None)`): keep it and call again with more bytes appended.
    pub fn parse(&mut self, data: &[u8]) -> Result<(usize, Option<Response>), ParseError> {
        let mut pos = 0;
        loop {
            match self.state {
                State::Head => {
                    let mut headers = [EMPTY_HEADER; MAX_HEADERS];
                    let mut head = httparse::Response::new(&mut headers);
                    let len = match head.parse(&data[pos..]).map_err(ParseError::Head)? {
                        Status::Complete(len) => len,
                        Status::Partial => return Ok((pos, None)),
                    };
                    pos += len;
                    let status = head.code.unwrap_or(0);
                    if status == 101 {
                        return Err(ParseError::Upgrade);
                    }
                    if (100..200).contains(&status) {
                        continue; // interim response (100 Continue, 103 Early Hints)
                    }
                    let (resp, framing) =
                        classify(status, head.version, head.headers, self.head_request)?;
                    self.state = match framing {
                        Framing::None => return Ok((pos, Some(resp))),
                        Framing::Length(remaining) => State::Length { resp, remaining },
                        Framing::Chunked => State::Chunked {
                            resp,
                            chunk: Chunk::Size {
                                value: 0,
                                digits: 0,
                            },
                        },
                        Framing::UntilClose => State::UntilClose { resp },
                    };
                }
                State::Length { resp, remaining } => {
                    let take = remaining.min((data.len() - pos) as u64);
                    pos += take as usize;
                    if take == remaining {
                        self.state = State::Head;
                        return Ok((pos, Some(resp)));
                    }
                    self.state = State::Length {
                        resp,
                        remaining: remaining - take,
                    };
                    return Ok((pos, None));
                }
                State::Chunked { resp, mut chunk } => {
                    let (used, done) = advance_chunked(&mut chunk, &data[pos..])?;
                    pos += used;
                    if done {
                        self.state = State::Head;
                        return Ok((pos, Some(resp)));
                    }
                    self.state = State::Chunked { resp, chunk };
                    return Ok((pos, None));
                }
                State::UntilClose { .. } => return Ok((data.len(), None)),
            }
        }
    }

    /// The connection ended. Completes a response whose body runs to the end of the
    /// connection; `Ok(None)` if no response was in progress; an error if one was cut off.
    /// (A partly received *head* is not seen here: it stays unconsumed in the caller's
    /// buffer, which the caller must check.)
    pub fn eof(&mut self) -> Result<Option<Response>, ParseError> {
        match self.state {
            State::Head => Ok(None),
            State::UntilClose { resp } => {
                self.state = State::Head;
                Ok(Some(resp))
            }
            State::Length { .. } | State::Chunked { .. } => Err(ParseError::UnexpectedEof),
        }
    }
}

fn classify(
    status: u16,
    version: Option<u8>,
    headers: &[httparse::Header<'_>],
    head_request: bool,
) -> Result<(Response, Framing), ParseError> {
    let http10 = version == Some(0);
    let mut close = http10;
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding = false;
    let mut chunked = false;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = parse_content_length(h.value)?;
            if content_length.is_some_and(|m| m != n) {
                return Err(ParseError::ContentLength);
            }
            content_length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or(b"");
            chunked = trim(last).eq_ignore_ascii_case(b"chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = trim(token);
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if http10 && token.eq_ignore_ascii_case(b"keep-alive") {
                    close = false;
                }
            }
        }
    }
    let framing = if head_request || status == 204 || status == 304 {
        Framing::None
    } else if transfer_encoding {
        if chunked {
            Framing::Chunked
        } else {
            Framing::UntilClose
        }
    } else {
        match content_length {
            Some(0) => Framing::None,
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        }
    };
    if matches!(framing, Framing::UntilClose) {
        close = true;
    }
    Ok((Response { status, close }, framing))
}

fn parse_content_length(value: &[u8]) -> Result<u64, ParseError> {
    let digits = trim(value);
    if digits.is_empty() {
        return Err(ParseError::ContentLength);
    }
    let mut n: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return Err(ParseError::ContentLength);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(ParseError::ContentLength)?;
    }
    Ok(n)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn end_of_size_line(value: u64) -> Chunk {
    if value == 0 {
        Chunk::TrailerStart
    } else {
        Chunk::Data(value)
    }
}

/// Runs the chunked-body state machine over `data`; returns the bytes consumed and whether
/// the body ended (then the bytes after it belong to the next response).
fn advance_chunked(chunk: &mut Chunk, data: &[u8]) -> Result<(usize, bool), ParseError> {
    let mut i = 0;
    while i < data.len() {
        if let Chunk::Data(remaining) = *chunk {
            let take = remaining.min((data.len() - i) as u64);
            i += take as usize;
            *chunk = if take == remaining {
                Chunk::DataCr
            } else {
                Chunk::Data(remaining - take)
            };
            continue;
        }
        let b = data[i];
        i += 1;
        *chunk = match *chunk {
            Chunk::Size { value, digits } => match b {
                b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                    if digits >= 16 {
                        return Err(ParseError::Chunk);
                    }
                    let d = (b as char).to_digit(16).unwrap_or(0);
                    Chunk::Size {
                        value: (value << 4) | u64::from(d),
                        digits: digits + 1,
                    }
                }
                b';' | b' ' | b'\t' if digits > 0 => Chunk::Ext { value },
                b'\r' if digits > 0 => Chunk::SizeLf { value },
                b'\n' if digits > 0 => end_of_size_line(value),
                _ => return Err(ParseError::Chunk),
            },
            Chunk::Ext { value } => match b {
                b'\r' => Chunk::SizeLf { value },
                b'\n' => end_of_size_line(value),
                _ => Chunk::Ext { value },
            },
            Chunk::SizeLf { value } if b == b'\n' => end_of_size_line(value),
            Chunk::DataCr if b == b'\r' => Chunk::DataLf,
            Chunk::DataCr | Chunk::DataLf if b == b'\n' => Chunk::Size {
                value: 0,
                digits: 0,
            },
            Chunk::TrailerStart => match b {
                b'\r' => Chunk::TrailerLf { empty: true },
                b'\n' => return Ok((i, true)),
                _ => Chunk::TrailerLine,
            },
            Chunk::TrailerLine => match b {
                b'\r' => Chunk::TrailerLf { empty: false },
                b'\n' => Chunk::TrailerStart,
                _ => Chunk::TrailerLine,
            },
            Chunk::TrailerLf { empty } if b == b'\n' => {
                if empty {
                    return Ok((i, true));
                }
                Chunk::TrailerStart
            }
            _ => return Err(ParseError::Chunk),
        };
    }
    Ok((i, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` one after another the way a connection does (append to a buffer,
    /// parse, drop what was consumed), then signals end of connection if `eof`.
    fn feed(head: bool, chunks: &[&[u8]], eof: bool) -> Result<Vec<Response>, ParseError> {
        let mut parser = ResponseParser::new(head);
        let mut buf: Vec<u8> = Vec::new();
        let mut out = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                let (n, resp) = parser.parse(&buf)?;
                buf.drain(..n);
                match resp {
                    Some(r) => out.push(r),
                    None => break,
                }
            }
        }
        if eof {
            if let Some(r) = parser.eof()? {
                out.push(r);
            }
            if !buf.is_empty() {
                return Err(ParseError::UnexpectedEof);
            }
        }
        Ok(out)
    }

    fn ok(status: u16) -> Response {
        Response {
            status,
            close: false,
        }
    }

    fn closing(status: u16) -> Response {
        Response {
            status,
            close: true,
        }
    }

    const HELLO: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";

    /// Several keep-alive responses of every framing, back to back.
    fn pipelined_stream() -> Vec<u8> {
        let mut s = Vec::new();
        s.extend_from_slice(HELLO);
        s.extend_from_slice(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n");
        s.extend_from_slice(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nHello\r\n8;ext=1\r\n, World!\r\n0\r\nX-Trailer: yes\r\n\r\n",
        );
        s.extend_from_slice(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
        );
        s.extend_from_slice(b"HTTP/1.1 204 No Content\r\nContent-Length: 99\r\n\r\n");
        s.extend_from_slice(b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n");
        s.extend_from_slice(b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, CHUNKED\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n");
        s.extend_from_slice(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx",
        );
        s.extend_from_slice(
            b"HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbusy",
        );
        s
    }

    fn pipelined_expected() -> Vec<Response> {
        vec![
            ok(200),
            ok(404),
            ok(200),
            ok(201),
            ok(204),
            ok(304),
            ok(200),
            ok(200),
            closing(503),
        ]
    }

    #[test]
    fn single_response() {
        assert_eq!(feed(false, &[HELLO], false).unwrap(), vec![ok(200)]);
    }

    #[test]
    fn pipelined_in_one_read() {
        let stream = pipelined_stream();
        assert_eq!(feed(false, &[&stream], true).unwrap(), pipelined_expected());
    }

    #[test]
    fn split_at_every_byte() {
        let stream = pipelined_stream();
        for i in 0..=stream.len() {
            let (a, b) = stream.split_at(i);
            assert_eq!(
                feed(false, &[a, b], true).unwrap(),
                pipelined_expected(),
                "split at {i}"
            );
        }
    }

    #[test]
    fn split_at_every_pair_of_bytes() {
        let stream = pipelined_stream();
        for i in (0..stream.len()).step_by(3) {
            for j in i..=stream.len() {
                let chunks = [&stream[..i], &stream[i..j], &stream[j..]];
                assert_eq!(
                    feed(false, &chunks, true).unwrap(),
                    pipelined_expected(),
                    "split at {i}, {j}"
                );
            }
        }
    }

    #[test]
    fn one_byte_at_a_time() {
        let stream = pipelined_stream();
        let chunks: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(feed(false, &chunks, true).unwrap(), pipelined_expected());
    }

    #[test]
    fn partial_head_is_not_consumed() {
        let mut p = ResponseParser::new(false);
        assert_eq!(
            p.parse(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(),
            (0, None)
        );
        assert!(p.is_idle());
    }

    #[test]
    fn body_bytes_are_consumed_as_they_come() {
        let mut p = ResponseParser::new(false);
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        let mut data = head.to_vec();
        data.extend_from_slice(b"0123");
        assert_eq!(p.parse(&data).unwrap(), (data.len(), None));
        assert!(!p.is_idle());
        assert_eq!(p.parse(b"456789HTTP").unwrap(), (6, Some(ok(200))));
        assert!(p.is_idle());
    }

    #[test]
    fn head_request_has_no_body() {
        let stream = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(feed(true, &[stream], true).unwrap(), vec![ok(200), ok(200)]);
    }

    #[test]
    fn connection_close_and_http10() {
        assert_eq!(
            feed(false, &[b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n"], false).unwrap(),
            vec![closing(200)]
        );
        assert_eq!(
            feed(
                false,
                &[b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"],
                false
            )
            .unwrap(),
            vec![closing(200)]
        );
    }

    #[test]
    fn body_until_close() {
        let stream = b"HTTP/1.1 200 OK\r\n\r\nsome body that ends with the connection";
        assert_eq!(feed(false, &[stream], false).unwrap(), vec![]);
        assert_eq!(feed(false, &[stream], true).unwrap(), vec![closing(200)]);
        let te = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx";
        assert_eq!(feed(false, &[te], true).unwrap(), vec![closing(200)]);
    }

    #[test]
    fn eof_mid_response_is_an_error() {
        for cut in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"HTTP/1.1 200 OK\r\nContent-Len",
        ] {
            assert_eq!(
                feed(false, &[cut], true),
                Err(ParseError::UnexpectedEof),
                "{}",
                String::from_utf8_lossy(cut)
            );
        }
    }

    #[test]
    fn malformed_responses() {
        type Check = fn(&ParseError) -> bool;
        let cases: &[(&[u8], Check)] = &[
            (b"HTP/1.1 200 OK\r\n\r\n", |e| {
                matches!(e, ParseError::Head(_))
            }),
            (b"HTTP/1.1 2x0 OK\r\n\r\n", |e| {
                matches!(e, ParseError::Head(_))
            }),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", |e| {
                *e == ParseError::ContentLength
            }),
            (b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", |e| {
                *e == ParseError::ContentLength
            }),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                |e| *e == ParseError::ContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                |e| *e == ParseError::ContentLength,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                |e| *e == ParseError::Chunk,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
                |e| *e == ParseError::Chunk,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX",
                |e| *e == ParseError::Chunk,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n",
                |e| *e == ParseError::Chunk,
            ),
            (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", |e| {
                *e == ParseError::Upgrade
            }),
        ];
        for (input, check) in cases {
            let err = feed(false, &[input], false).unwrap_err();
            assert!(
                check(&err),
                "{}: got {err:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn too_many_headers() {
        let mut s = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            s.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        s.extend_from_slice(b"\r\n");
        assert!(matches!(
            feed(false, &[&s], false),
            Err(ParseError::Head(_))
        ));
    }

    #[test]
    fn same_content_length_twice_is_fine() {
        let s = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab";
        assert_eq!(feed(false, &[s], false).unwrap(), vec![ok(200)]);
    }
}
