//! Request body decoding: Content-Length and chunked framing (RFC 9112 6-7).
//!
//! [`BodyDecoder`] is a small `Copy` state machine in the style of hyper's
//! `decode.rs`: it never buffers and never allocates. Each call to
//! [`BodyDecoder::decode`] consumes framing bytes from the front of the input
//! and hands back the next contiguous run of body bytes as a [`Span`] of that
//! same input (zero-copy), so the engine can pass body data to the
//! application straight out of its read buffer.

use super::token::{is_field_value_char, is_qdtext, is_quoted_pair_char, is_tchar};
use super::{BareLineFeedPolicy, BodyKind, RejectReason, Span};

/// Default limit for the trailer section of a chunked body.
pub const DEFAULT_MAX_TRAILER_BYTES: usize = 8 * 1024;

/// Bytes of chunk extensions (everything between the chunk size and its
/// CRLF) allowed per chunk header. Extensions are skipped, never stored; the
/// bound only stops a peer from streaming an endless chunk header. (At most
/// `u16::MAX`: the count is kept in 16 bits.)
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
    trailers: TrailerRules,
    /// A trailer line ended in a bare LF (accepted under
    /// [`BareLineFeedPolicy::Accept`]).
    used_bare_line_feed: bool,
}

/// How the trailer section is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TrailerRules {
    /// Bytes the trailer section may take (limits above 4 GiB are clamped).
    max_bytes: u32,
    bare_line_feed: BareLineFeedPolicy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Content-Length: body bytes still expected.
    Length(u64),
    Chunked(Chunked),
    Done,
}

/// Chunked decoder state (RFC 9112 7.1, 7.1.1, 7.1.2; RFC 9110 5.5, 5.6):
///
/// ```text
/// chunked-body   = *chunk last-chunk trailer-section CRLF
/// chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
/// last-chunk     = 1*("0") [ chunk-ext ] CRLF
/// chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
/// chunk-ext-name = token
/// chunk-ext-val  = token / quoted-string
/// trailer-section = *( field-line CRLF )
/// field-line     = field-name ":" OWS field-value OWS
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Chunked {
    state: ChunkedState,
    /// The chunk size being parsed, then the chunk bytes still to come.
    size: u64,
    /// Hex digits seen in the current chunk size.
    digits: u8,
    /// Bytes of chunk extensions (incl. whitespace) in the current header.
    ext_bytes: u16,
    /// Bytes of the trailer section so far.
    trailer_bytes: u32,
}

/// Byte-level states, named after hyper's `ChunkedState`, with the chunk
/// extension and trailer grammars spelled out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkedState {
    /// Expecting the first hex digit of a chunk size.
    Start,
    /// In the hex digits of a chunk size.
    Size,
    /// Whitespace after the size; only `;` (an extension) may follow.
    SizeLws,
    /// After `;`: optional whitespace, then the extension's name.
    ExtNameStart,
    /// In an extension name (a token).
    ExtName,
    /// Whitespace after a name: `=` or `;` must follow.
    ExtNameWs,
    /// After `=`: optional whitespace, then a token or a quoted-string.
    ExtValueStart,
    /// In a token value.
    ExtToken,
    /// In a quoted-string value.
    ExtQuoted,
    /// After `\` in a quoted-string.
    ExtQuotedPair,
    /// After a quoted-string's closing quote: `;`, whitespace or CR.
    ExtQuotedEnd,
    /// Whitespace after a value: only `;` may follow.
    ExtValueWs,
    /// Expecting the LF that ends the chunk header.
    SizeLf,
    /// In chunk data (`size` bytes remain).
    Body,
    /// Expecting the CR after chunk data.
    BodyCr,
    /// Expecting the LF after chunk data.
    BodyLf,
    /// In a trailer field's name.
    TrailerName,
    /// In a trailer field's value (after the colon).
    TrailerValue,
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

impl Chunked {
    /// Counts `n` framing bytes read in the current state against its bound: chunk-line
    /// extensions against [`MAX_CHUNK_EXTENSION_BYTES`], the trailer section (everything after
    /// the last-chunk line, the final CRLF included) against its limit.
    #[inline]
    fn count(&mut self, n: usize, max_trailer_bytes: u32) -> Result<(), RejectReason> {
        use ChunkedState::*;
        match self.state {
            SizeLws | ExtNameStart | ExtName | ExtNameWs | ExtValueStart | ExtToken | ExtQuoted
            | ExtQuotedPair | ExtQuotedEnd | ExtValueWs => {
                let total = usize::from(self.ext_bytes) + n;
                if total > MAX_CHUNK_EXTENSION_BYTES {
                    return Err(RejectReason::InvalidChunkExtension);
                }
                self.ext_bytes = total as u16;
            }
            EndCr | EndLf | TrailerName | TrailerValue | TrailerLf => {
                let total = u64::from(self.trailer_bytes) + n as u64;
                if total > u64::from(max_trailer_bytes) {
                    return Err(RejectReason::TrailersTooLarge);
                }
                self.trailer_bytes = total as u32;
            }
            _ => {}
        }
        Ok(())
    }
}

/// How many bytes at the start of `bytes` are in `class`.
#[inline]
fn run_len(bytes: &[u8], class: fn(u8) -> bool) -> usize {
    bytes.iter().position(|&b| !class(b)).unwrap_or(bytes.len())
}

impl BodyDecoder {
    /// A decoder for `kind` with the default trailer limit
    /// ([`DEFAULT_MAX_TRAILER_BYTES`]) that rejects bare LFs. [`BodyKind::None`]
    /// and `BodyKind::Length(0)` are done immediately.
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
            trailers: TrailerRules {
                max_bytes: u32::try_from(max_trailer_bytes).unwrap_or(u32::MAX),
                bare_line_feed: BareLineFeedPolicy::Reject,
            },
            used_bare_line_feed: false,
        }
    }

    /// Whether a trailer field line may end in a bare LF (RFC 9112 2.2, as
    /// for the head). Chunk lines always need CRLF.
    pub fn bare_line_feed(mut self, policy: BareLineFeedPolicy) -> Self {
        self.trailers.bare_line_feed = policy;
        self
    }

    /// Whether a trailer line ended in a bare LF that was accepted.
    pub fn used_bare_line_feed(&self) -> bool {
        self.used_bare_line_feed
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

    /// Body bytes the framing has announced but not yet handed out: the
    /// rest of a Content-Length body, or the rest of the current chunk once
    /// its size line is complete. A body-size limit compares the bytes
    /// received plus this, so a too-large body is refused as soon as its
    /// framing says so, before its bytes arrive.
    pub fn announced(&self) -> u64 {
        match self.kind {
            Kind::Length(n) => n,
            Kind::Chunked(Chunked {
                state: ChunkedState::Body,
                size,
                ..
            }) => size,
            Kind::Chunked(_) | Kind::Done => 0,
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
                let decoded =
                    chunked.decode(input, self.trailers, &mut self.used_bare_line_feed)?;
                if decoded.done {
                    self.kind = Kind::Done;
                }
                Ok(decoded)
            }
        }
    }
}

impl Chunked {
    fn decode(
        &mut self,
        input: &[u8],
        trailers: TrailerRules,
        used_bare_line_feed: &mut bool,
    ) -> Result<Decoded, RejectReason> {
        use ChunkedState::*;
        use RejectReason::{
            BareCarriageReturn, BareLineFeed, InvalidChunkExtension, InvalidChunkFraming,
            InvalidChunkSize, InvalidTrailer,
        };
        // A bare LF ending a trailer line: an error, or accepted and noted.
        let mut trailer_lf = || match trailers.bare_line_feed {
            BareLineFeedPolicy::Reject => Err(BareLineFeed),
            BareLineFeedPolicy::Accept => {
                *used_bare_line_feed = true;
                Ok(())
            }
        };
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
            // The states that take a run of bytes (a name, a value) take the whole run at once:
            // one class lookup per byte, no state dispatch.
            let run = match self.state {
                ExtName | ExtToken => run_len(&input[pos..], is_tchar),
                TrailerName => run_len(&input[pos..], is_tchar),
                TrailerValue => run_len(&input[pos..], is_field_value_char),
                ExtQuoted => run_len(&input[pos..], is_qdtext),
                _ => 0,
            };
            if run > 0 {
                self.count(run, trailers.max_bytes)?;
                pos += run;
                continue;
            }
            let b = input[pos];
            pos += 1;
            self.count(1, trailers.max_bytes)?;
            self.state = match self.state {
                Start => {
                    let d = hex_value(b).ok_or(InvalidChunkSize)?;
                    self.size = u64::from(d);
                    self.digits = 1;
                    self.ext_bytes = 0;
                    Size
                }
                Size => match b {
                    b'\r' => SizeLf,
                    b';' => ExtNameStart,
                    // BWS before `;` (RFC 9112 7.1.1).
                    b' ' | b'\t' => SizeLws,
                    // A bare LF is a classic parser-disagreement vector for
                    // smuggling; chunk lines need CRLF (RFC 9112 7.1).
                    b'\n' => return Err(BareLineFeed),
                    _ => {
                        let d = hex_value(b).ok_or(InvalidChunkSize)?;
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
                    b' ' | b'\t' => SizeLws,
                    b';' => ExtNameStart,
                    // Whitespace is only allowed before an extension, never
                    // between the size and CRLF or inside the digits.
                    _ => return Err(InvalidChunkSize),
                },
                ExtNameStart => match b {
                    b' ' | b'\t' => ExtNameStart,
                    _ if is_tchar(b) => ExtName,
                    _ => return Err(InvalidChunkExtension),
                },
                // (A run of tchars was taken above.)
                ExtName => match b {
                    b' ' | b'\t' => ExtNameWs,
                    b'=' => ExtValueStart,
                    b';' => ExtNameStart,
                    b'\r' => SizeLf,
                    b'\n' => return Err(BareLineFeed),
                    _ => return Err(InvalidChunkExtension),
                },
                ExtNameWs => match b {
                    b' ' | b'\t' => ExtNameWs,
                    b'=' => ExtValueStart,
                    b';' => ExtNameStart,
                    _ => return Err(InvalidChunkExtension),
                },
                ExtValueStart => match b {
                    b' ' | b'\t' => ExtValueStart,
                    b'"' => ExtQuoted,
                    _ if is_tchar(b) => ExtToken,
                    _ => return Err(InvalidChunkExtension),
                },
                ExtToken | ExtQuotedEnd => match b {
                    b' ' | b'\t' => ExtValueWs,
                    b';' => ExtNameStart,
                    b'\r' => SizeLf,
                    b'\n' => return Err(BareLineFeed),
                    _ => return Err(InvalidChunkExtension),
                },
                ExtQuoted => match b {
                    b'"' => ExtQuotedEnd,
                    b'\\' => ExtQuotedPair,
                    _ => return Err(InvalidChunkExtension),
                },
                ExtQuotedPair if is_quoted_pair_char(b) => ExtQuoted,
                ExtValueWs => match b {
                    b' ' | b'\t' => ExtValueWs,
                    b';' => ExtNameStart,
                    _ => return Err(InvalidChunkExtension),
                },
                ExtQuotedPair => return Err(InvalidChunkExtension),
                SizeLf => match b {
                    b'\n' if self.size == 0 => EndCr,
                    b'\n' => Body,
                    _ => return Err(BareCarriageReturn),
                },
                BodyCr => match b {
                    b'\r' => BodyLf,
                    b'\n' => return Err(BareLineFeed),
                    _ => return Err(InvalidChunkFraming),
                },
                // Every line ends in CRLF: a CR followed by anything else is a
                // lone CR.
                BodyLf | TrailerLf | EndLf if b != b'\n' => return Err(BareCarriageReturn),
                BodyLf => Start,
                TrailerLf => EndCr,
                // A line after the last chunk: the end of the trailer section
                // (the body), or a trailer field line, which we validate and
                // discard, bounding its size.
                EndCr | EndLf => match b {
                    b'\r' if self.state == EndCr => EndLf,
                    b'\n' => {
                        if self.state == EndCr {
                            trailer_lf()?;
                        }
                        self.state = End;
                        return Ok(Decoded {
                            consumed: pos,
                            data: Span::new(pos, pos),
                            done: true,
                        });
                    }
                    _ if is_tchar(b) => TrailerName,
                    _ => return Err(InvalidTrailer),
                },
                // (A run of tchars was taken above.)
                TrailerName => match b {
                    b':' => TrailerValue,
                    _ => return Err(InvalidTrailer),
                },
                // (A run of field-value bytes was taken above.)
                TrailerValue => match b {
                    b'\r' => TrailerLf,
                    b'\n' => {
                        trailer_lf()?;
                        EndCr
                    }
                    _ => return Err(InvalidTrailer),
                },
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
            (b"5\nhello\r\n0\r\n\r\n", BareLineFeed),
            (b"5\rhello", BareCarriageReturn),
            (b"5;a\nhello", BareLineFeed),
            (b"5;a=b\nhello", BareLineFeed),
            (b"5;a=\"b\"\nhello", BareLineFeed),
            (b"5;a\x00\r\nhello", InvalidChunkExtension),
            (b"5\r\nhelloX\r\n", InvalidChunkFraming),
            (b"5\r\nhello\rX", BareCarriageReturn),
            (b"5\r\nhello\n0\r\n\r\n", BareLineFeed),
            (b"5\r\nhello0\r\n\r\n", InvalidChunkFraming),
            (b"0\r\n\n", BareLineFeed),
            (b"0\r\nX: y\n\r\n", BareLineFeed),
            (b"0\r\nX: y\r\r\n", BareCarriageReturn),
            (b"0\r\n\rX", BareCarriageReturn),
            (b"0\r\nX: \x01\r\n\r\n", InvalidTrailer),
            // Chunk extensions (RFC 9112 7.1.1): a name is a token, a value a
            // token or a quoted-string, whitespace only around `;` and `=`.
            (b"2;\r\naa\r\n0\r\n\r\n", InvalidChunkExtension),
            (b"2; \r\naa\r\n0\r\n\r\n", InvalidChunkExtension),
            (b"2;;a\r\naa\r\n0\r\n\r\n", InvalidChunkExtension),
            (b"2;=b\r\naa\r\n0\r\n\r\n", InvalidChunkExtension),
            (b"2;a=\r\naa\r\n0\r\n\r\n", InvalidChunkExtension),
            (b"2;a=b=c\r\naa\r\n0\r\n\r\n", InvalidChunkExtension),
            (b"2;a b\r\naa\r\n0\r\n\r\n", InvalidChunkExtension),
            (b"2;a \r\naa\r\n0\r\n\r\n", InvalidChunkExtension),
            (b"2;a=b \r\naa\r\n0\r\n\r\n", InvalidChunkExtension),
            (b"2;a(b)\r\naa\r\n0\r\n\r\n", InvalidChunkExtension),
            (b"2;a=b\"c\"\r\naa\r\n0\r\n\r\n", InvalidChunkExtension),
            (b"2;a=\"b\r\naa\r\n0\r\n\r\n", InvalidChunkExtension),
            (b"2;a=\"b\"c\r\naa\r\n0\r\n\r\n", InvalidChunkExtension),
            (b"2;a=\"\\\x01\"\r\naa\r\n0\r\n\r\n", InvalidChunkExtension),
            (b"2;a=\"\x7f\"\r\naa\r\n0\r\n\r\n", InvalidChunkExtension),
            (b"2;\xc3\xa9\r\naa\r\n0\r\n\r\n", InvalidChunkExtension),
            (b"2 x\r\naa\r\n0\r\n\r\n", InvalidChunkSize),
            // Trailer field lines (RFC 9112 7.1.2, 5).
            (b"0\r\n: y\r\n\r\n", InvalidTrailer),
            (b"0\r\nX : y\r\n\r\n", InvalidTrailer),
            (b"0\r\nX\r\n\r\n", InvalidTrailer),
            (b"0\r\n X: y\r\n\r\n", InvalidTrailer),
            (b"0\r\nX: y\r\n z\r\n\r\n", InvalidTrailer),
            (b"0\r\nX(: y\r\n\r\n", InvalidTrailer),
            (b"0\r\nX: a\x00b\r\n\r\n", InvalidTrailer),
            (b"0\r\nX: a\x7fb\r\n\r\n", InvalidTrailer),
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
            Err(RejectReason::InvalidChunkExtension)
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
    fn chunk_extensions_that_follow_the_grammar() {
        for ext in [
            &b";a"[..],
            b";a=b",
            b" ;a",
            b"\t; \ta \t= \tb",
            b";a=\"\"",
            b";a=\"x y;z=\\\"q\\\\\"",
            b";a;b=1;c=\"2\"",
            b";a=\"\xc3\xa9\"",
            b";!#$%&'*+-.^_`|~09AZaz=!#$%&'*+-.^_`|~09AZaz",
        ] {
            let input = [&b"2"[..], ext, b"\r\naa\r\n0", ext, b"\r\n\r\n"].concat();
            for step in [0, 1, 2] {
                assert_eq!(
                    drive(chunked(), &input, step),
                    Ok((b"aa".to_vec(), input.len(), true)),
                    "{:?} step {step}",
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }

    #[test]
    fn bare_line_feed_in_trailers_under_each_policy() {
        let accept = || chunked().bare_line_feed(BareLineFeedPolicy::Accept);
        for input in [
            &b"1\r\na\r\n0\r\n\n"[..],
            b"1\r\na\r\n0\r\nX: y\n\r\n",
            b"1\r\na\r\n0\r\nX: y\r\nZ: w\n\n",
        ] {
            for step in [0, 1] {
                assert_eq!(
                    drive(chunked(), input, step),
                    Err(RejectReason::BareLineFeed)
                );
                let (body, consumed, done) = drive(accept(), input, step).unwrap();
                assert_eq!((&body[..], consumed, done), (&b"a"[..], input.len(), true));
            }
            let mut dec = accept();
            let mut at = 0;
            while !dec.is_done() {
                at += dec.decode(&input[at..]).unwrap().consumed;
            }
            assert!(dec.used_bare_line_feed());
        }
        // Chunk lines need CRLF under either policy.
        for input in [&b"1\na\r\n0\r\n\r\n"[..], b"1\r\na\n0\r\n\r\n"] {
            assert_eq!(drive(accept(), input, 0), Err(RejectReason::BareLineFeed));
        }
        let mut dec = chunked();
        let mut at = 0;
        let input = b"1\r\na\r\n0\r\n\r\n";
        while !dec.is_done() {
            at += dec.decode(&input[at..]).unwrap().consumed;
        }
        assert!(!dec.used_bare_line_feed());
    }

    #[test]
    fn announced_is_what_the_framing_promised() {
        assert_eq!(BodyDecoder::new(BodyKind::Length(10)).announced(), 10);
        assert_eq!(BodyDecoder::new(BodyKind::None).announced(), 0);
        let mut d = chunked();
        assert_eq!(d.announced(), 0);
        // A 1 TB chunk is announced as soon as its size line is complete,
        // before any of its data.
        let r = d.decode(b"E8D4A51000").unwrap();
        assert_eq!((r.consumed, d.announced()), (10, 0));
        let r = d.decode(b"\r\n").unwrap();
        assert_eq!((r.consumed, d.announced()), (2, 1_000_000_000_000));
        let r = d.decode(b"aa").unwrap();
        assert_eq!((r.data.len(), d.announced()), (2, 999_999_999_998));
        let mut d = BodyDecoder::new(BodyKind::Length(10));
        d.decode(b"abc").unwrap();
        assert_eq!(d.announced(), 7);
    }

    #[test]
    fn decoder_is_small_and_copy() {
        fn assert_copy<T: Copy>() {}
        assert_copy::<BodyDecoder>();
        assert!(std::mem::size_of::<BodyDecoder>() <= 40);
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

    /// An independent recognizer of RFC 9112's `chunked-body` (7.1, 7.1.1,
    /// 7.1.2), written straight from the ABNF as a backtracking descent over
    /// the whole input, to check the byte-level state machine against:
    /// `Ok((body, length))`, or why not.
    mod grammar {
        use crate::proto::h1::token::{
            is_field_value_char, is_qdtext, is_quoted_pair_char, is_tchar,
        };

        #[derive(Debug, PartialEq, Eq)]
        pub enum No {
            /// A prefix of a valid body: more input could complete it.
            Incomplete,
            /// No continuation is valid.
            Invalid,
        }
        use No::*;

        struct P<'a> {
            b: &'a [u8],
            i: usize,
        }

        impl P<'_> {
            fn peek(&self) -> Result<u8, No> {
                self.b.get(self.i).copied().ok_or(Incomplete)
            }
            fn take(&mut self, f: impl Fn(u8) -> bool) -> Result<bool, No> {
                let hit = f(self.peek()?);
                self.i += usize::from(hit);
                Ok(hit)
            }
            fn expect(&mut self, c: u8) -> Result<(), No> {
                if self.take(|b| b == c)? {
                    Ok(())
                } else {
                    Err(Invalid)
                }
            }
            /// OWS / BWS = *( SP / HTAB )
            fn ows(&mut self) -> Result<(), No> {
                while self.take(|b| b == b' ' || b == b'\t')? {}
                Ok(())
            }
            /// token = 1*tchar
            fn token(&mut self) -> Result<(), No> {
                if !self.take(is_tchar)? {
                    return Err(Invalid);
                }
                while self.take(is_tchar)? {}
                Ok(())
            }
            /// quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
            fn quoted_string(&mut self) -> Result<(), No> {
                self.expect(b'"')?;
                loop {
                    match self.peek()? {
                        b'"' => return self.expect(b'"'),
                        b'\\' => {
                            self.i += 1;
                            if !self.take(is_quoted_pair_char)? {
                                return Err(Invalid);
                            }
                        }
                        b if is_qdtext(b) => self.i += 1,
                        _ => return Err(Invalid),
                    }
                }
            }
            /// chunk-ext = *( BWS ";" BWS chunk-ext-name
            ///               [ BWS "=" BWS chunk-ext-val ] )
            fn chunk_ext(&mut self) -> Result<(), No> {
                loop {
                    let at = self.i;
                    self.ows()?;
                    if !self.take(|b| b == b';')? {
                        self.i = at;
                        return Ok(());
                    }
                    self.ows()?;
                    self.token()?;
                    let at = self.i;
                    self.ows()?;
                    if self.take(|b| b == b'=')? {
                        self.ows()?;
                        if self.peek()? == b'"' {
                            self.quoted_string()?;
                        } else {
                            self.token()?;
                        }
                    } else {
                        self.i = at;
                    }
                }
            }
            /// CRLF, or also a bare LF where `lf` allows it.
            fn eol(&mut self, lf: bool) -> Result<(), No> {
                if lf && self.take(|b| b == b'\n')? {
                    return Ok(());
                }
                self.expect(b'\r')?;
                self.expect(b'\n')
            }
        }

        /// `lf`: trailer lines may end in a bare LF (`BareLineFeedPolicy::Accept`).
        pub fn chunked_body(b: &[u8], lf: bool) -> Result<(Vec<u8>, usize), No> {
            let mut p = P { b, i: 0 };
            let mut body = Vec::new();
            loop {
                // chunk-size = 1*HEXDIG (at most 16 digits: a u64)
                let mut size = 0u64;
                let mut digits = 0;
                while let Some(d) = (p.peek()? as char).to_digit(16) {
                    p.i += 1;
                    digits += 1;
                    if digits > 16 {
                        return Err(Invalid);
                    }
                    size = size * 16 + u64::from(d);
                }
                if digits == 0 {
                    return Err(Invalid);
                }
                p.chunk_ext()?;
                p.eol(false)?;
                if size == 0 {
                    break;
                }
                let end = p.i.checked_add(size as usize).ok_or(Incomplete)?;
                body.extend_from_slice(b.get(p.i..end).ok_or(Incomplete)?);
                p.i = end;
                p.eol(false)?;
            }
            // trailer-section = *( field-line CRLF ) ; then the final CRLF
            loop {
                match p.peek()? {
                    b'\r' | b'\n' => {
                        p.eol(lf)?;
                        return Ok((body, p.i));
                    }
                    _ => {
                        // field-line = field-name ":" OWS field-value OWS
                        p.token()?;
                        p.expect(b':')?;
                        while p.take(is_field_value_char)? {}
                        p.eol(lf)?;
                    }
                }
            }
        }
    }

    /// Runs the decoder (whole, and one byte at a time) and the grammar on
    /// `input` and checks they agree on the body, its end, and validity.
    fn agrees_with_grammar(input: &[u8], policy: BareLineFeedPolicy) -> Result<(), TestCaseError> {
        let lf = policy == BareLineFeedPolicy::Accept;
        let want = grammar::chunked_body(input, lf);
        for step in [0, 1] {
            let got = drive(chunked().bare_line_feed(policy), input, step);
            let text = String::from_utf8_lossy(input);
            match (&want, &got) {
                (Ok((body, n)), Ok(got)) => {
                    prop_assert_eq!(got, &(body.clone(), *n, true), "{:?}", text)
                }
                (Err(grammar::No::Incomplete), Ok((_, _, done))) => {
                    prop_assert!(!done, "{:?}: decoder finished, grammar wants more", text)
                }
                (Err(grammar::No::Invalid), Err(_)) => {}
                _ => prop_assert!(false, "{:?}: grammar {:?}, decoder {:?}", text, want, got),
            }
        }
        Ok(())
    }

    /// A random token.
    fn token() -> impl Strategy<Value = String> {
        "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,6}"
    }

    /// A random chunk extension, BWS included: `;name`, `;name=token` or
    /// `;name="quoted \"string\""`.
    fn extension() -> impl Strategy<Value = Vec<u8>> {
        let bws = || prop::sample::select(vec!["", " ", "\t", " \t "]);
        let quoted = prop::collection::vec(
            prop_oneof![
                prop::sample::select(b" \t!#[]~az\x80\xff".to_vec()).prop_map(|b| vec![b]),
                prop::sample::select(b"\"\\ \ta\x80".to_vec()).prop_map(|b| vec![b'\\', b]),
            ],
            0..5,
        )
        .prop_map(|parts| [&b"\""[..], &parts.concat(), b"\""].concat());
        let value = prop_oneof![
            Just(Vec::new()),
            (bws(), bws(), token()).prop_map(|(a, b, t)| format!("{a}={b}{t}").into_bytes()),
            (bws(), bws(), quoted)
                .prop_map(|(a, b, q)| [format!("{a}={b}").as_bytes(), &q].concat()),
        ];
        (bws(), bws(), token(), value)
            .prop_map(|(a, b, name, value)| [format!("{a};{b}{name}").as_bytes(), &value].concat())
    }

    /// A random chunked body (its chunks with random extensions, trailers
    /// with random fields), with bare-LF trailer lines if `lf`: the bytes,
    /// the body they carry, and where their line terminators (CR and LF
    /// bytes outside chunk data) are.
    fn chunked_encoding(lf: bool) -> impl Strategy<Value = (Vec<u8>, Vec<u8>, Vec<usize>)> {
        (
            prop::collection::vec(
                (
                    prop::collection::vec(any::<u8>(), 1..40),
                    prop::collection::vec(extension(), 0..3),
                ),
                0..5,
            ),
            prop::collection::vec(extension(), 0..3),
            prop::collection::vec(
                (
                    token(),
                    "[ \t]{0,2}",
                    "[ -~\t\u{80}-\u{ff}]{0,12}",
                    any::<bool>(),
                ),
                0..4,
            ),
            any::<bool>(),
        )
            .prop_map(move |(chunks, last_ext, trailers, lf_end)| {
                let mut out = Vec::new();
                let mut ends = Vec::new();
                let mut eol = |out: &mut Vec<u8>, bare: bool| {
                    let eol: &[u8] = if lf && bare { b"\n" } else { b"\r\n" };
                    ends.extend(out.len()..out.len() + eol.len());
                    out.extend_from_slice(eol);
                };
                for (data, exts) in &chunks {
                    out.extend_from_slice(format!("{:x}", data.len()).as_bytes());
                    out.extend_from_slice(&exts.concat());
                    eol(&mut out, false);
                    out.extend_from_slice(data);
                    eol(&mut out, false);
                }
                out.push(b'0');
                out.extend_from_slice(&last_ext.concat());
                eol(&mut out, false);
                for (name, ows, value, bare) in &trailers {
                    // A value's characters in 0x80..=0xff stand for obs-text bytes.
                    let value: Vec<u8> = value.chars().map(|c| c as u32 as u8).collect();
                    out.extend_from_slice(format!("{name}:{ows}").as_bytes());
                    out.extend_from_slice(&value);
                    eol(&mut out, *bare);
                }
                eol(&mut out, lf_end);
                let body = chunks.into_iter().flat_map(|(data, _)| data).collect();
                (out, body, ends)
            })
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
        fn grammar_encodings_decode_to_their_body(
            (lf, (encoded, body, _)) in any::<bool>().prop_flat_map(|lf| (Just(lf), chunked_encoding(lf))),
            extra in prop::collection::vec(any::<u8>(), 0..8),
        ) {
            let policy = if lf { BareLineFeedPolicy::Accept } else { BareLineFeedPolicy::Reject };
            let input = [&encoded[..], &extra].concat();
            prop_assert_eq!(grammar::chunked_body(&input, policy == BareLineFeedPolicy::Accept), Ok((body.clone(), encoded.len())));
            prop_assert_eq!(drive(chunked().bare_line_feed(policy), &input, 0), Ok((body, encoded.len(), true)));
            agrees_with_grammar(&input, policy)?;
        }

        #[test]
        fn one_byte_mutations_agree_with_the_grammar(
            (encoded, _, _) in any::<bool>().prop_flat_map(chunked_encoding),
            at in any::<prop::sample::Index>(),
            edit in 0u8..3,
            byte in prop::sample::select(b"\r\n \t;=\"\\:0aZ\x00\x7f\x80(".to_vec()),
        ) {
            // Replace, insert or delete one byte anywhere: the decoder
            // accepts exactly what the grammar accepts, with the same body.
            let mut input = encoded;
            let i = at.index(input.len());
            match edit {
                0 => input[i] = byte,
                1 => input.insert(i, byte),
                _ => { input.remove(i); }
            }
            agrees_with_grammar(&input, BareLineFeedPolicy::Reject)?;
            agrees_with_grammar(&input, BareLineFeedPolicy::Accept)?;
        }

        #[test]
        fn a_mutated_terminator_is_refused_or_changes_nothing(
            (encoded, body, ends) in chunked_encoding(false),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            // Change one byte of a CR or LF: the body is refused, or decodes
            // exactly as before (never a different body or length).
            let mut input = encoded.clone();
            input[*at.get(&ends)] = byte;
            match drive(chunked(), &input, 0) {
                Err(_) => {}
                Ok((got, n, done)) => prop_assert!(
                    !done || (got == body && n == encoded.len()),
                    "{:?} decoded as {:?}", String::from_utf8_lossy(&input), String::from_utf8_lossy(&got)
                ),
            }
        }

        #[test]
        fn arbitrary_input_agrees_with_the_grammar(input in prop::collection::vec(
            prop::sample::select(b"0123456789abcdefABCDEFxX;=: \t\r\n\"\\\x00".to_vec()), 0..80)) {
            agrees_with_grammar(&input, BareLineFeedPolicy::Reject)?;
            agrees_with_grammar(&input, BareLineFeedPolicy::Accept)?;
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
