//! Request body decoding: Content-Length and chunked framing (RFC 9112 6-7).
//!
//! [`BodyDecoder`] is a small `Copy` state machine in the style of hyper's
//! `decode.rs`: it never buffers and never allocates. Each call to
//! [`BodyDecoder::decode`] consumes framing bytes from the front of the input
//! and hands back the next contiguous run of body bytes as a [`Span`] of that
//! same input (zero-copy), so the engine can pass body data to the
//! application straight out of its read buffer.

use super::{BodyKind, RejectReason, Span};

/// Default limit for the trailer section of a chunked body.
pub const DEFAULT_MAX_TRAILER_BYTES: usize = 8 * 1024;

/// Bytes of chunk extensions (everything between the chunk size and its
/// CRLF) allowed per chunk header. Extensions are skipped, never stored; the
/// bound only stops a peer from streaming an endless chunk header.
pub const MAX_CHUNK_EXTENSION_BYTES: usize = 4 * 1024;

/// A chunk size has at most 16 hex digits: enough for any `u64`, and the
/// check makes overflow impossible without a multiply-overflow test.
const MAX_CHUNK_SIZE_DIGITS: u8 = 16;

/// What one [`BodyDecoder::decode`] call did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes to drop from the front of the input: framing plus `data`.
    pub consumed: usize,
    /// Body bytes found, as a span of the input passed to `decode`
    /// (possibly empty). Always ends at `consumed`.
    pub data: Span,
    /// The body is complete; bytes after `consumed` belong to the next
    /// request on the connection.
    pub done: bool,
}

/// Decodes a request body's framing.
///
/// # Contract
///
/// Call [`decode`](Self::decode) with the unconsumed input, take `data`
/// (resolved against *that* input), drop `consumed` bytes from the front of
/// the input, and repeat:
///
/// * `done == true`: the body is complete; stop. Later calls return
///   `consumed == 0`, empty `data`, `done == true`.
/// * `consumed == 0 && data.is_empty() && !done`: more must be read. This
///   happens exactly when `input` is empty: a non-empty input always makes
///   progress (or fails).
/// * otherwise progress was made: call again with the rest.
///
/// A call never returns `consumed == 0` unless it needs more bytes or the
/// body is done, and when it returns `data.is_empty() && !done` with
/// `consumed > 0`, it consumed the whole input. Body bytes are returned at
/// most one contiguous run per call. Bytes that follow the body (a pipelined
/// request) are never consumed. Any split of the input into calls yields
/// the same body bytes and the same errors.
///
/// If the connection reaches EOF before `done`, call
/// [`finish_eof`](Self::finish_eof) to turn that into
/// [`RejectReason::UnexpectedEof`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyDecoder {
    kind: Kind,
    max_trailer_bytes: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Content-Length: body bytes still expected.
    Length(u64),
    Chunked(Chunked),
    Done,
}

/// Chunked decoder state (RFC 9112 7.1):
///
/// ```text
/// chunked-body   = *chunk last-chunk trailer-section CRLF
/// chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
/// last-chunk     = 1*("0") [ chunk-ext ] CRLF
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Chunked {
    state: ChunkedState,
    /// The chunk size being parsed, then the chunk bytes still to come.
    size: u64,
    /// Hex digits seen in the current chunk size.
    digits: u8,
    /// Bytes of chunk extensions (incl. whitespace) in the current header.
    ext_bytes: usize,
    /// Bytes of the trailer section so far.
    trailer_bytes: usize,
}

/// Byte-level states, named after hyper's `ChunkedState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkedState {
    /// Expecting the first hex digit of a chunk size.
    Start,
    /// In the hex digits of a chunk size.
    Size,
    /// Whitespace after the size; only `;` (an extension) may follow.
    SizeLws,
    /// In chunk extensions, skipped up to CR.
    Extension,
    /// Expecting the LF that ends the chunk header.
    SizeLf,
    /// In chunk data (`size` bytes remain).
    Body,
    /// Expecting the CR after chunk data.
    BodyCr,
    /// Expecting the LF after chunk data.
    BodyLf,
    /// In a trailer field line, skipped up to CR.
    Trailer,
    /// Expecting the LF that ends a trailer field line.
    TrailerLf,
    /// At the start of a line after the last chunk: CR ends the body,
    /// anything else starts a trailer field line.
    EndCr,
    /// Expecting the final LF.
    EndLf,
    /// The body is complete.
    End,
}

impl BodyDecoder {
    /// A decoder for `kind` with the default trailer limit
    /// ([`DEFAULT_MAX_TRAILER_BYTES`]). [`BodyKind::None`] and
    /// `BodyKind::Length(0)` are done immediately.
    pub fn new(kind: BodyKind) -> Self {
        Self::with_limits(kind, DEFAULT_MAX_TRAILER_BYTES)
    }

    /// A decoder whose chunked trailer section (every byte after the
    /// last-chunk line, including the final CRLF) may be at most
    /// `max_trailer_bytes` long.
    pub fn with_limits(kind: BodyKind, max_trailer_bytes: usize) -> Self {
        let kind = match kind {
            BodyKind::None | BodyKind::Length(0) => Kind::Done,
            BodyKind::Length(n) => Kind::Length(n),
            BodyKind::Chunked => Kind::Chunked(Chunked {
                state: ChunkedState::Start,
                size: 0,
                digits: 0,
                ext_bytes: 0,
                trailer_bytes: 0,
            }),
        };
        BodyDecoder {
            kind,
            max_trailer_bytes,
        }
    }

    /// Whether the whole body has been decoded.
    pub fn is_done(&self) -> bool {
        matches!(self.kind, Kind::Done)
    }

    /// For a Content-Length body, the body bytes still expected (`Some(0)`
    /// once done); `None` for a chunked body still in progress.
    pub fn remaining(&self) -> Option<u64> {
        match self.kind {
            Kind::Length(n) => Some(n),
            Kind::Done => Some(0),
            Kind::Chunked(_) => None,
        }
    }

    /// To be called when the peer closed its side: a body that is not
    /// complete is an incomplete message (RFC 9112 8).
    pub fn finish_eof(&self) -> Result<(), RejectReason> {
        if self.is_done() {
            Ok(())
        } else {
            Err(RejectReason::UnexpectedEof)
        }
    }

    /// Decodes framing and at most one contiguous run of body data from the
    /// front of `input`. See the [type-level contract](BodyDecoder).
    ///
    /// After an error the decoder must not be used again (the connection is
    /// closed: its framing is lost).
    pub fn decode(&mut self, input: &[u8]) -> Result<Decoded, RejectReason> {
        // Spans are u32; a larger input is simply decoded over several calls.
        let input = &input[..input.len().min(u32::MAX as usize)];
        match &mut self.kind {
            Kind::Done => Ok(Decoded {
                consumed: 0,
                data: Span::default(),
                done: true,
            }),
            Kind::Length(remaining) => {
                let n = usize::try_from(*remaining).map_or(input.len(), |r| r.min(input.len()));
                *remaining -= n as u64;
                let done = *remaining == 0;
                if done {
                    self.kind = Kind::Done;
                }
                Ok(Decoded {
                    consumed: n,
                    data: Span::new(0, n),
                    done,
                })
            }
            Kind::Chunked(chunked) => {
                let decoded = chunked.decode(input, self.max_trailer_bytes)?;
                if decoded.done {
                    self.kind = Kind::Done;
                }
                Ok(decoded)
            }
        }
    }
}

impl Chunked {
    fn decode(&mut self, input: &[u8], max_trailer_bytes: usize) -> Result<Decoded, RejectReason> {
        use ChunkedState::*;
        let mut pos = 0;
        while pos < input.len() {
            if self.state == Body {
                // Hand out as much of this chunk as the input holds, in one
                // run, and stop: one contiguous span per call.
                let avail = input.len() - pos;
                let n = usize::try_from(self.size).map_or(avail, |s| s.min(avail));
                self.size -= n as u64;
                if self.size == 0 {
                    self.state = BodyCr;
                }
                return Ok(Decoded {
                    consumed: pos + n,
                    data: Span::new(pos, pos + n),
                    done: false,
                });
            }
            let b = input[pos];
            pos += 1;
            self.state = match self.state {
                Start => {
                    let d = hex_value(b).ok_or(RejectReason::InvalidChunkSize)?;
                    self.size = u64::from(d);
                    self.digits = 1;
                    self.ext_bytes = 0;
                    Size
                }
                Size => match b {
                    b'\r' => SizeLf,
                    b';' => {
                        self.count_ext()?;
                        Extension
                    }
                    // BWS before `;` (RFC 9112 7.1.1).
                    b' ' | b'\t' => {
                        self.count_ext()?;
                        SizeLws
                    }
                    // A bare LF is a classic parser-disagreement vector for
                    // smuggling; require CRLF (RFC 9112 7.1).
                    b'\n' => return Err(RejectReason::InvalidChunkFraming),
                    _ => {
                        let d = hex_value(b).ok_or(RejectReason::InvalidChunkSize)?;
                        self.digits += 1;
                        if self.digits > MAX_CHUNK_SIZE_DIGITS {
                            return Err(RejectReason::ChunkSizeOverflow);
                        }
                        // Cannot overflow: at most 16 hex digits.
                        self.size = (self.size << 4) | u64::from(d);
                        Size
                    }
                },
                SizeLws => match b {
                    b' ' | b'\t' => {
                        self.count_ext()?;
                        SizeLws
                    }
                    b';' => {
                        self.count_ext()?;
                        Extension
                    }
                    // Whitespace is only allowed before an extension, never
                    // between the size and CRLF or inside the digits.
                    _ => return Err(RejectReason::InvalidChunkSize),
                },
                Extension => match b {
                    b'\r' => SizeLf,
                    // Extensions are tokens / quoted-strings: no CTLs other
                    // than HTAB, and in particular no bare LF.
                    b'\t' => {
                        self.count_ext()?;
                        Extension
                    }
                    0x00..=0x1f | 0x7f => return Err(RejectReason::InvalidChunkFraming),
                    _ => {
                        self.count_ext()?;
                        Extension
                    }
                },
                SizeLf => match b {
                    b'\n' if self.size == 0 => EndCr,
                    b'\n' => Body,
                    _ => return Err(RejectReason::InvalidChunkFraming),
                },
                BodyCr => match b {
                    b'\r' => BodyLf,
                    _ => return Err(RejectReason::InvalidChunkFraming),
                },
                BodyLf => match b {
                    b'\n' => Start,
                    _ => return Err(RejectReason::InvalidChunkFraming),
                },
                EndCr => {
                    self.count_trailer(max_trailer_bytes)?;
                    match b {
                        b'\r' => EndLf,
                        // A trailer field line starts (RFC 9112 7.1.2); we
                        // discard trailers, only bounding their size.
                        b'\n' => return Err(RejectReason::InvalidChunkFraming),
                        _ => Trailer,
                    }
                }
                Trailer => {
                    self.count_trailer(max_trailer_bytes)?;
                    match b {
                        b'\r' => TrailerLf,
                        b'\t' => Trailer,
                        0x00..=0x1f | 0x7f => return Err(RejectReason::InvalidChunkFraming),
                        _ => Trailer,
                    }
                }
                TrailerLf => {
                    self.count_trailer(max_trailer_bytes)?;
                    match b {
                        b'\n' => EndCr,
                        _ => return Err(RejectReason::InvalidChunkFraming),
                    }
                }
                EndLf => {
                    self.count_trailer(max_trailer_bytes)?;
                    match b {
                        b'\n' => {
                            self.state = End;
                            return Ok(Decoded {
                                consumed: pos,
                                data: Span::new(pos, pos),
                                done: true,
                            });
                        }
                        _ => return Err(RejectReason::InvalidChunkFraming),
                    }
                }
                // Handled above / by `BodyDecoder` (which becomes Done).
                Body | End => {
                    return Ok(Decoded {
                        consumed: pos - 1,
                        data: Span::new(pos - 1, pos - 1),
                        done: self.state == End,
                    })
                }
            };
        }
        // Input exhausted inside framing: all of it was consumed.
        Ok(Decoded {
            consumed: pos,
            data: Span::new(pos, pos),
            done: false,
        })
    }

    fn count_ext(&mut self) -> Result<(), RejectReason> {
        self.ext_bytes += 1;
        if self.ext_bytes > MAX_CHUNK_EXTENSION_BYTES {
            return Err(RejectReason::InvalidChunkFraming);
        }
        Ok(())
    }

    fn count_trailer(&mut self, max: usize) -> Result<(), RejectReason> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > max {
            return Err(RejectReason::TrailersTooLarge);
        }
        Ok(())
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Runs the caller loop from the contract over `input`, feeding it in
    /// pieces of at most `step` bytes (0 = all at once). Returns the body,
    /// how many input bytes were consumed, and whether it finished.
    fn drive(
        mut dec: BodyDecoder,
        input: &[u8],
        step: usize,
    ) -> Result<(Vec<u8>, usize, bool), RejectReason> {
        let mut body = Vec::new();
        let mut consumed = 0;
        let mut avail = if step == 0 { input.len() } else { 0 };
        loop {
            let window = &input[consumed..avail];
            let d = dec.decode(window)?;
            assert!(d.consumed <= window.len());
            assert_eq!(d.data.end as usize, d.consumed, "data must end at consumed");
            body.extend_from_slice(d.data.get(window));
            consumed += d.consumed;
            if d.done {
                assert!(dec.is_done());
                return Ok((body, consumed, true));
            }
            if d.consumed == 0 && d.data.is_empty() {
                // Needs more input.
                assert_eq!(consumed, avail, "must only stall on a fully consumed input");
                if avail == input.len() {
                    return Ok((body, consumed, false));
                }
                avail = (avail + step.max(1)).min(input.len());
            } else if d.data.is_empty() {
                assert_eq!(
                    consumed, avail,
                    "framing-only progress must consume all input"
                );
            }
        }
    }

    fn chunked() -> BodyDecoder {
        BodyDecoder::new(BodyKind::Chunked)
    }

    #[test]
    fn none_and_zero_length_are_done() {
        for kind in [BodyKind::None, BodyKind::Length(0)] {
            let mut d = BodyDecoder::new(kind);
            assert!(d.is_done());
            assert_eq!(d.remaining(), Some(0));
            assert_eq!(
                d.decode(b"GET / HTTP/1.1\r\n"),
                Ok(Decoded {
                    consumed: 0,
                    data: Span::default(),
                    done: true
                })
            );
            assert_eq!(d.finish_eof(), Ok(()));
        }
    }

    #[test]
    fn content_length_exact() {
        let mut d = BodyDecoder::new(BodyKind::Length(5));
        assert_eq!(d.remaining(), Some(5));
        let r = d.decode(b"hello").unwrap();
        assert_eq!((r.consumed, r.data, r.done), (5, Span::new(0, 5), true));
        assert!(d.is_done());
    }

    #[test]
    fn content_length_short_then_rest() {
        let mut d = BodyDecoder::new(BodyKind::Length(10));
        let r = d.decode(b"hell").unwrap();
        assert_eq!((r.consumed, r.done), (4, false));
        assert_eq!(d.remaining(), Some(6));
        let r = d.decode(b"").unwrap();
        assert_eq!((r.consumed, r.data.is_empty(), r.done), (0, true, false));
        assert_eq!(d.finish_eof(), Err(RejectReason::UnexpectedEof));
        let r = d.decode(b"o worldGET").unwrap();
        assert_eq!((r.consumed, r.data, r.done), (6, Span::new(0, 6), true));
    }

    #[test]
    fn content_length_does_not_consume_pipelined_bytes() {
        let input = b"helloGET / HTTP/1.1\r\n\r\n";
        assert_eq!(
            drive(BodyDecoder::new(BodyKind::Length(5)), input, 0),
            Ok((b"hello".to_vec(), 5, true))
        );
        assert_eq!(
            drive(BodyDecoder::new(BodyKind::Length(5)), input, 1),
            Ok((b"hello".to_vec(), 5, true))
        );
    }

    #[test]
    fn content_length_huge() {
        let mut d = BodyDecoder::new(BodyKind::Length(u64::MAX));
        let r = d.decode(&[0; 100]).unwrap();
        assert_eq!((r.consumed, r.done), (100, false));
        assert_eq!(d.remaining(), Some(u64::MAX - 100));
    }

    #[test]
    fn chunked_simple() {
        let input = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT";
        let (body, consumed, done) = drive(chunked(), input, 0).unwrap();
        assert_eq!(body, b"hello world");
        assert_eq!(consumed, input.len() - 4);
        assert!(done);
    }

    #[test]
    fn chunked_one_call_per_run() {
        let mut d = chunked();
        let input = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let r = d.decode(input).unwrap();
        assert_eq!((r.consumed, r.data, r.done), (8, Span::new(3, 8), false));
        let r = d.decode(&input[8..]).unwrap();
        assert_eq!(r.data.get(&input[8..]), b" world");
        assert!(!r.done);
        let r = d.decode(&input[8 + r.consumed..]).unwrap();
        assert!(r.done && r.data.is_empty());
        assert_eq!(d.remaining(), Some(0));
    }

    #[test]
    fn chunked_extensions_and_trailers() {
        let input = b"4;name=value;flag\r\nWiki\r\nA ; q=\"x y\"\r\n0123456789\r\n0;last\r\nExpires: never\r\nX-Sum: 1\r\n\r\n";
        let (body, consumed, done) = drive(chunked(), input, 0).unwrap();
        assert_eq!(body, b"Wiki0123456789");
        assert_eq!(consumed, input.len());
        assert!(done);
    }

    #[test]
    fn chunked_hex_case_and_leading_zeros() {
        let input = b"000a\r\n0123456789\r\nA\r\n0123456789\r\n00\r\n\r\n";
        let (body, _, done) = drive(chunked(), input, 0).unwrap();
        assert_eq!(body.len(), 20);
        assert!(done);
    }

    #[test]
    fn chunked_max_size() {
        let mut d = chunked();
        let r = d.decode(b"ffffffffffffffff\r\nab").unwrap();
        assert_eq!(r.data, Span::new(18, 20));
        assert_eq!(d.remaining(), None);
    }

    #[test]
    fn chunked_errors() {
        use RejectReason::*;
        let cases: &[(&[u8], RejectReason)] = &[
            (b"10000000000000000\r\n", ChunkSizeOverflow),
            (b"00000000000000001\r\n", ChunkSizeOverflow),
            (b"\r\n", InvalidChunkSize),
            (b"x\r\n", InvalidChunkSize),
            (b"-1\r\n", InvalidChunkSize),
            (b"5x\r\nhello\r\n", InvalidChunkSize),
            (b"5 \r\nhello\r\n0\r\n\r\n", InvalidChunkSize),
            (b"5\nhello\r\n0\r\n\r\n", InvalidChunkFraming),
            (b"5\rhello", InvalidChunkFraming),
            (b"5;a\nhello", InvalidChunkFraming),
            (b"5;a\x00\r\nhello", InvalidChunkFraming),
            (b"5\r\nhelloX\r\n", InvalidChunkFraming),
            (b"5\r\nhello\rX", InvalidChunkFraming),
            (b"5\r\nhello\n0\r\n\r\n", InvalidChunkFraming),
            (b"5\r\nhello0\r\n\r\n", InvalidChunkFraming),
            (b"0\r\n\n", InvalidChunkFraming),
            (b"0\r\nX: y\n\r\n", InvalidChunkFraming),
            (b"0\r\nX: y\r\r\n", InvalidChunkFraming),
            (b"0\r\n\rX", InvalidChunkFraming),
            (b"0\r\nX: \x01\r\n\r\n", InvalidChunkFraming),
        ];
        for (input, err) in cases {
            for step in [0, 1, 3] {
                assert_eq!(
                    drive(chunked(), input, step),
                    Err(*err),
                    "{:?} step {step}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    #[test]
    fn chunk_extension_limit() {
        let mut input = b"1;".to_vec();
        input.resize(2 + MAX_CHUNK_EXTENSION_BYTES - 1, b'x');
        input.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
        assert_eq!(drive(chunked(), &input, 0).map(|r| r.0), Ok(b"a".to_vec()));
        let mut input = b"1;".to_vec();
        input.resize(2 + MAX_CHUNK_EXTENSION_BYTES, b'x');
        input.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
        assert_eq!(
            drive(chunked(), &input, 0),
            Err(RejectReason::InvalidChunkFraming)
        );
    }

    #[test]
    fn trailer_limit() {
        // Trailer section "X: yy\r\n\r\n" is 9 bytes.
        let input = b"0\r\nX: yy\r\n\r\n";
        let ok = BodyDecoder::with_limits(BodyKind::Chunked, 9);
        assert_eq!(drive(ok, input, 1).map(|r| r.2), Ok(true));
        let small = BodyDecoder::with_limits(BodyKind::Chunked, 8);
        assert_eq!(drive(small, input, 1), Err(RejectReason::TrailersTooLarge));
        let mut endless = b"0\r\nX: ".to_vec();
        endless.resize(DEFAULT_MAX_TRAILER_BYTES + 10, b'y');
        assert_eq!(
            drive(chunked(), &endless, 0),
            Err(RejectReason::TrailersTooLarge)
        );
        // Endless empty-looking trailer lines are bounded too.
        let lines = [&b"0\r\n"[..], &b"X:\r\n".repeat(DEFAULT_MAX_TRAILER_BYTES)].concat();
        assert_eq!(
            drive(chunked(), &lines, 0),
            Err(RejectReason::TrailersTooLarge)
        );
    }

    #[test]
    fn chunked_eof() {
        let mut d = chunked();
        d.decode(b"5\r\nhel").unwrap();
        assert_eq!(d.finish_eof(), Err(RejectReason::UnexpectedEof));
        let (_, _, done) = drive(chunked(), b"0\r\n\r", 0).unwrap();
        assert!(!done);
    }

    #[test]
    fn decoder_is_small_and_copy() {
        fn assert_copy<T: Copy>() {}
        assert_copy::<BodyDecoder>();
        assert!(std::mem::size_of::<BodyDecoder>() <= 48);
    }

    /// Encodes `chunks` with random-ish extensions and trailers.
    fn encode_chunked(
        chunks: &[Vec<u8>],
        ext: bool,
        trailers: &[(String, String)],
        upper: bool,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        for c in chunks.iter().filter(|c| !c.is_empty()) {
            let size = if upper {
                format!("{:X}", c.len())
            } else {
                format!("{:x}", c.len())
            };
            out.extend_from_slice(size.as_bytes());
            if ext {
                out.extend_from_slice(b" ; foo=\"bar baz\";x");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(c);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(if ext { b"0;end\r\n" } else { b"0\r\n" });
        for (n, v) in trailers {
            out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    proptest! {
        #[test]
        fn chunked_any_split_same_body(
            chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8),
            ext in any::<bool>(),
            upper in any::<bool>(),
            trailers in prop::collection::vec(("[A-Za-z-]{1,10}", "[ -~]{0,20}"), 0..3),
            step in 1usize..40,
            extra in prop::collection::vec(any::<u8>(), 0..16),
        ) {
            let encoded = encode_chunked(&chunks, ext, &trailers, upper);
            let expected: Vec<u8> = chunks.concat();
            let mut input = encoded.clone();
            input.extend_from_slice(&extra);
            let whole = drive(chunked(), &input, 0).unwrap();
            prop_assert_eq!(&whole, &(expected.clone(), encoded.len(), true));
            prop_assert_eq!(drive(chunked(), &input, step).unwrap(), whole.clone());
            prop_assert_eq!(drive(chunked(), &input, 1).unwrap(), whole);
        }

        #[test]
        fn length_any_split_same_body(body in prop::collection::vec(any::<u8>(), 0..500), step in 1usize..50, extra in prop::collection::vec(any::<u8>(), 0..16)) {
            let mut input = body.clone();
            input.extend_from_slice(&extra);
            let kind = BodyKind::Length(body.len() as u64);
            prop_assert_eq!(drive(BodyDecoder::new(kind), &input, step).unwrap(), (body.clone(), body.len(), true));
        }

        #[test]
        fn arbitrary_input_never_panics_and_split_agrees(input in prop::collection::vec(
            prop::sample::select(b"0123456789abcdefABCDEFxX;= \t\r\n\x00".to_vec()), 0..200), step in 1usize..8) {
            // Same outcome (body, error) whatever the split.
            let a = drive(chunked(), &input, 0);
            let b = drive(chunked(), &input, step);
            match (&a, &b) {
                (Ok(x), Ok(y)) => prop_assert_eq!(x, y),
                _ => prop_assert_eq!(a, b),
            }
        }
    }
}
