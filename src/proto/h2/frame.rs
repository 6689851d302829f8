//! HTTP/2 frames (RFC 9113 sections 4, 6): the 9-byte header, parsing of
//! every frame type with its padding and flags, and encoding of the frames a
//! server sends. Parsing borrows from the input; encoding appends to a
//! caller-owned `Vec<u8>`.

use super::error::{ErrorCode, H2Error, Reason};

/// The client connection preface (RFC 9113 3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The length of a frame header.
pub const HEADER_LEN: usize = 9;

/// The default and minimum SETTINGS_MAX_FRAME_SIZE.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// The largest SETTINGS_MAX_FRAME_SIZE.
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;

/// The largest flow-control window.
pub const MAX_WINDOW: u32 = (1 << 31) - 1;

/// Frame type codes (RFC 9113 6).
pub mod kind {
    /// DATA.
    pub const DATA: u8 = 0x0;
    /// HEADERS.
    pub const HEADERS: u8 = 0x1;
    /// PRIORITY.
    pub const PRIORITY: u8 = 0x2;
    /// RST_STREAM.
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS.
    pub const SETTINGS: u8 = 0x4;
    /// PUSH_PROMISE.
    pub const PUSH_PROMISE: u8 = 0x5;
    /// PING.
    pub const PING: u8 = 0x6;
    /// GOAWAY.
    pub const GOAWAY: u8 = 0x7;
    /// WINDOW_UPDATE.
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION.
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags (RFC 9113 6).
pub mod flag {
    /// END_STREAM (DATA, HEADERS).
    pub const END_STREAM: u8 = 0x1;
    /// ACK (SETTINGS, PING).
    pub const ACK: u8 = 0x1;
    /// END_HEADERS (HEADERS, PUSH_PROMISE, CONTINUATION).
    pub const END_HEADERS: u8 = 0x4;
    /// PADDED (DATA, HEADERS, PUSH_PROMISE).
    pub const PADDED: u8 = 0x8;
    /// PRIORITY (HEADERS).
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS identifiers (RFC 9113 6.5.2).
pub mod setting {
    /// SETTINGS_HEADER_TABLE_SIZE.
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    /// SETTINGS_ENABLE_PUSH.
    pub const ENABLE_PUSH: u16 = 0x2;
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// SETTINGS_INITIAL_WINDOW_SIZE.
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// SETTINGS_MAX_FRAME_SIZE.
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 3): extended CONNECT, the `:protocol`
    /// pseudo-header.
    pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;
}

/// The 9-byte frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length (24 bits).
    pub length: u32,
    /// Frame type.
    pub kind: u8,
    /// Flags.
    pub flags: u8,
    /// Stream identifier (the reserved bit cleared).
    pub stream_id: u32,
}

impl FrameHeader {
    /// Parses a header from the first 9 bytes of `b`, if there are 9.
    pub fn parse(b: &[u8]) -> Option<FrameHeader> {
        let b: &[u8; HEADER_LEN] = b.get(..HEADER_LEN)?.try_into().ok()?;
        Some(FrameHeader {
            length: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream_id: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & MAX_WINDOW,
        })
    }

    /// Appends this header.
    pub fn encode(&self, dst: &mut Vec<u8>) {
        dst.extend_from_slice(&self.length.to_be_bytes()[1..]);
        dst.push(self.kind);
        dst.push(self.flags);
        dst.extend_from_slice(&self.stream_id.to_be_bytes());
    }

    fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// Stream dependency and weight (RFC 9113 5.3.2, deprecated but parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// The stream depended on.
    pub dependency: u32,
    /// The exclusive flag.
    pub exclusive: bool,
    /// Weight minus one.
    pub weight: u8,
}

/// One parsed frame, borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// DATA (6.1); `flow_len` is the whole payload, padding included, which
    /// flow control counts.
    Data {
        /// Stream.
        stream_id: u32,
        /// The data, padding removed.
        data: &'a [u8],
        /// END_STREAM.
        end_stream: bool,
        /// Bytes that count against the windows.
        flow_len: u32,
    },
    /// HEADERS (6.2).
    Headers {
        /// Stream.
        stream_id: u32,
        /// The header block fragment.
        block: &'a [u8],
        /// END_STREAM.
        end_stream: bool,
        /// END_HEADERS.
        end_headers: bool,
        /// The PRIORITY fields, when the flag is set.
        priority: Option<Priority>,
    },
    /// PRIORITY (6.3).
    Priority {
        /// Stream.
        stream_id: u32,
        /// Dependency and weight.
        priority: Priority,
    },
    /// RST_STREAM (6.4).
    RstStream {
        /// Stream.
        stream_id: u32,
        /// Error code.
        code: ErrorCode,
    },
    /// SETTINGS (6.5); the parameters are validated, see [`settings`].
    Settings {
        /// ACK.
        ack: bool,
        /// The parameters, 6 bytes each.
        payload: &'a [u8],
    },
    /// PUSH_PROMISE (6.6): a server must never receive one.
    PushPromise {
        /// Stream.
        stream_id: u32,
    },
    /// PING (6.7).
    Ping {
        /// ACK.
        ack: bool,
        /// Opaque data.
        data: [u8; 8],
    },
    /// GOAWAY (6.8).
    GoAway {
        /// Last stream id.
        last_stream_id: u32,
        /// Error code.
        code: ErrorCode,
        /// Debug data.
        debug: &'a [u8],
    },
    /// WINDOW_UPDATE (6.9).
    WindowUpdate {
        /// Stream, 0 for the connection.
        stream_id: u32,
        /// Window size increment (1..=2^31-1).
        increment: u32,
    },
    /// CONTINUATION (6.10).
    Continuation {
        /// Stream.
        stream_id: u32,
        /// The header block fragment.
        block: &'a [u8],
        /// END_HEADERS.
        end_headers: bool,
    },
    /// A frame type this endpoint ignores (5.5).
    Unknown {
        /// Frame type.
        kind: u8,
        /// Stream.
        stream_id: u32,
    },
}

/// Removes padding when PADDED is set: the pad length byte and the padding.
fn unpad(h: &FrameHeader, payload: &[u8]) -> Result<(usize, usize), H2Error> {
    if !h.has(flag::PADDED) {
        return Ok((0, payload.len()));
    }
    let pad = usize::from(
        *payload
            .first()
            .ok_or(H2Error::Connection(Reason::BadFrameLength))?,
    );
    if pad >= payload.len() {
        return Err(H2Error::Connection(Reason::BadPadding));
    }
    Ok((1, payload.len() - pad))
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn priority_at(b: &[u8]) -> Priority {
    let dep = u32_at(b, 0);
    Priority {
        dependency: dep & MAX_WINDOW,
        exclusive: dep >> 31 == 1,
        weight: b[4],
    }
}

/// Parses one frame whose header is `h` and payload is `payload` (exactly
/// `h.length` bytes). Frame-size limits are checked by the caller, which
/// knows the negotiated maximum.
pub fn parse<'a>(h: &FrameHeader, payload: &'a [u8]) -> Result<Frame<'a>, H2Error> {
    use H2Error::{Connection, Stream};
    let sid = h.stream_id;
    let need_stream = || {
        if sid == 0 {
            Err(Connection(Reason::MissingStreamId))
        } else {
            Ok(())
        }
    };
    let no_stream = || {
        if sid != 0 {
            Err(Connection(Reason::UnexpectedStreamId))
        } else {
            Ok(())
        }
    };
    Ok(match h.kind {
        kind::DATA => {
            need_stream()?;
            let (start, end) = unpad(h, payload)?;
            Frame::Data {
                stream_id: sid,
                data: &payload[start..end],
                end_stream: h.has(flag::END_STREAM),
                flow_len: h.length,
            }
        }
        kind::HEADERS => {
            need_stream()?;
            let (mut start, end) = unpad(h, payload)?;
            let priority = if h.has(flag::PRIORITY) {
                if end < start + 5 {
                    return Err(Connection(Reason::BadFrameLength));
                }
                // A self-dependency is a stream error, which the connection
                // raises after decoding the block (HPACK must stay in step).
                start += 5;
                Some(priority_at(&payload[start - 5..]))
            } else {
                None
            };
            Frame::Headers {
                stream_id: sid,
                block: &payload[start..end],
                end_stream: h.has(flag::END_STREAM),
                end_headers: h.has(flag::END_HEADERS),
                priority,
            }
        }
        kind::PRIORITY => {
            need_stream()?;
            if payload.len() != 5 {
                return Err(Stream(sid, Reason::BadFrameLength));
            }
            let priority = priority_at(payload);
            if priority.dependency == sid {
                return Err(Stream(sid, Reason::SelfDependency));
            }
            Frame::Priority {
                stream_id: sid,
                priority,
            }
        }
        kind::RST_STREAM => {
            need_stream()?;
            if payload.len() != 4 {
                return Err(Connection(Reason::BadFrameLength));
            }
            Frame::RstStream {
                stream_id: sid,
                code: ErrorCode(u32_at(payload, 0)),
            }
        }
        kind::SETTINGS => {
            no_stream()?;
            let ack = h.has(flag::ACK);
            if (ack && !payload.is_empty()) || !payload.len().is_multiple_of(6) {
                return Err(Connection(Reason::BadFrameLength));
            }
            for s in settings(payload) {
                validate_setting(s)?;
            }
            Frame::Settings { ack, payload }
        }
        kind::PUSH_PROMISE => {
            need_stream()?;
            Frame::PushPromise { stream_id: sid }
        }
        kind::PING => {
            no_stream()?;
            let data: [u8; 8] = payload
                .try_into()
                .map_err(|_| Connection(Reason::BadFrameLength))?;
            Frame::Ping {
                ack: h.has(flag::ACK),
                data,
            }
        }
        kind::GOAWAY => {
            no_stream()?;
            if payload.len() < 8 {
                return Err(Connection(Reason::BadFrameLength));
            }
            Frame::GoAway {
                last_stream_id: u32_at(payload, 0) & MAX_WINDOW,
                code: ErrorCode(u32_at(payload, 4)),
                debug: &payload[8..],
            }
        }
        kind::WINDOW_UPDATE => {
            if payload.len() != 4 {
                return Err(Connection(Reason::BadFrameLength));
            }
            let increment = u32_at(payload, 0) & MAX_WINDOW;
            if increment == 0 {
                return Err(if sid == 0 {
                    Connection(Reason::ZeroWindowIncrement)
                } else {
                    Stream(sid, Reason::ZeroWindowIncrement)
                });
            }
            Frame::WindowUpdate {
                stream_id: sid,
                increment,
            }
        }
        kind::CONTINUATION => {
            need_stream()?;
            Frame::Continuation {
                stream_id: sid,
                block: payload,
                end_headers: h.has(flag::END_HEADERS),
            }
        }
        other => Frame::Unknown {
            kind: other,
            stream_id: sid,
        },
    })
}

/// The `(identifier, value)` pairs of a SETTINGS payload.
pub fn settings(payload: &[u8]) -> impl Iterator<Item = (u16, u32)> + '_ {
    payload
        .chunks_exact(6)
        .map(|c| (u16::from_be_bytes([c[0], c[1]]), u32_at(c, 2)))
}

fn validate_setting((id, value): (u16, u32)) -> Result<(), H2Error> {
    let bad = match id {
        setting::ENABLE_PUSH if value > 1 => Some(Reason::BadEnablePush),
        setting::ENABLE_CONNECT_PROTOCOL if value > 1 => Some(Reason::BadEnableConnectProtocol),
        setting::INITIAL_WINDOW_SIZE if value > MAX_WINDOW => Some(Reason::InitialWindowTooLarge),
        setting::MAX_FRAME_SIZE
            if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) =>
        {
            Some(Reason::BadMaxFrameSize)
        }
        _ => None,
    };
    bad.map_or(Ok(()), |r| Err(H2Error::Connection(r)))
}

fn header(dst: &mut Vec<u8>, length: usize, kind: u8, flags: u8, stream_id: u32) {
    FrameHeader {
        length: length as u32,
        kind,
        flags,
        stream_id,
    }
    .encode(dst);
}

/// Appends a SETTINGS frame with `params`.
pub fn encode_settings(params: &[(u16, u32)], dst: &mut Vec<u8>) {
    header(dst, params.len() * 6, kind::SETTINGS, 0, 0);
    for (id, v) in params {
        dst.extend_from_slice(&id.to_be_bytes());
        dst.extend_from_slice(&v.to_be_bytes());
    }
}

/// Appends a SETTINGS ACK.
pub fn encode_settings_ack(dst: &mut Vec<u8>) {
    header(dst, 0, kind::SETTINGS, flag::ACK, 0);
}

/// Appends a PING (or its ACK).
pub fn encode_ping(ack: bool, data: [u8; 8], dst: &mut Vec<u8>) {
    header(dst, 8, kind::PING, if ack { flag::ACK } else { 0 }, 0);
    dst.extend_from_slice(&data);
}

/// Appends a GOAWAY.
pub fn encode_goaway(last_stream_id: u32, code: ErrorCode, debug: &[u8], dst: &mut Vec<u8>) {
    header(dst, 8 + debug.len(), kind::GOAWAY, 0, 0);
    dst.extend_from_slice(&last_stream_id.to_be_bytes());
    dst.extend_from_slice(&code.0.to_be_bytes());
    dst.extend_from_slice(debug);
}

/// Appends a RST_STREAM.
pub fn encode_rst_stream(stream_id: u32, code: ErrorCode, dst: &mut Vec<u8>) {
    header(dst, 4, kind::RST_STREAM, 0, stream_id);
    dst.extend_from_slice(&code.0.to_be_bytes());
}

/// Appends a WINDOW_UPDATE.
pub fn encode_window_update(stream_id: u32, increment: u32, dst: &mut Vec<u8>) {
    header(dst, 4, kind::WINDOW_UPDATE, 0, stream_id);
    dst.extend_from_slice(&increment.to_be_bytes());
}

/// Appends one DATA frame (no padding); `data` must fit the peer's maximum
/// frame size.
pub fn encode_data(stream_id: u32, data: &[u8], end_stream: bool, dst: &mut Vec<u8>) {
    header(
        dst,
        data.len(),
        kind::DATA,
        if end_stream { flag::END_STREAM } else { 0 },
        stream_id,
    );
    dst.extend_from_slice(data);
}

/// Appends a header block as HEADERS followed by as many CONTINUATION frames
/// as `max_frame_size` requires.
pub fn encode_headers(
    stream_id: u32,
    block: &[u8],
    end_stream: bool,
    max_frame_size: usize,
    dst: &mut Vec<u8>,
) {
    let mut chunks = block.chunks(max_frame_size.max(1));
    let first = chunks.next().unwrap_or(&[]);
    let rest = block.len() - first.len();
    let mut flags = if end_stream { flag::END_STREAM } else { 0 };
    if rest == 0 {
        flags |= flag::END_HEADERS;
    }
    header(dst, first.len(), kind::HEADERS, flags, stream_id);
    dst.extend_from_slice(first);
    let mut left = rest;
    for c in chunks {
        left -= c.len();
        header(
            dst,
            c.len(),
            kind::CONTINUATION,
            if left == 0 { flag::END_HEADERS } else { 0 },
            stream_id,
        );
        dst.extend_from_slice(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, sid: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        header(&mut v, payload.len(), kind, flags, sid);
        v.extend_from_slice(payload);
        v
    }

    fn parse_bytes(b: &[u8]) -> Result<Frame<'_>, H2Error> {
        let h = FrameHeader::parse(b).unwrap();
        assert_eq!(h.length as usize, b.len() - HEADER_LEN);
        parse(&h, &b[HEADER_LEN..])
    }

    #[test]
    fn header_round_trips_and_clears_the_reserved_bit() {
        let b = [0x00, 0x40, 0x00, 0x01, 0x25, 0x80, 0x00, 0x00, 0x03];
        let h = FrameHeader::parse(&b).unwrap();
        assert_eq!(
            h,
            FrameHeader {
                length: 16384,
                kind: 1,
                flags: 0x25,
                stream_id: 3
            }
        );
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out, [0x00, 0x40, 0x00, 0x01, 0x25, 0x00, 0x00, 0x00, 0x03]);
        assert_eq!(FrameHeader::parse(&b[..8]), None);
    }

    #[test]
    fn frames_parse_to_their_values() {
        let prio = Priority {
            dependency: 3,
            exclusive: true,
            weight: 15,
        };
        let cases: Vec<(Vec<u8>, Frame<'static>)> = vec![
            (
                frame(0, 1, 1, b"hello"),
                Frame::Data {
                    stream_id: 1,
                    data: b"hello",
                    end_stream: true,
                    flow_len: 5,
                },
            ),
            (
                frame(0, 8, 1, b"\x02hi\0\0"),
                Frame::Data {
                    stream_id: 1,
                    data: b"hi",
                    end_stream: false,
                    flow_len: 5,
                },
            ),
            (
                frame(0, 8, 1, b"\x00"),
                Frame::Data {
                    stream_id: 1,
                    data: b"",
                    end_stream: false,
                    flow_len: 1,
                },
            ),
            (
                frame(1, 4, 5, b"\x82"),
                Frame::Headers {
                    stream_id: 5,
                    block: b"\x82",
                    end_stream: false,
                    end_headers: true,
                    priority: None,
                },
            ),
            (
                frame(1, 0x2d, 5, b"\x01\x80\0\0\x03\x0f\x82\0"),
                Frame::Headers {
                    stream_id: 5,
                    block: b"\x82",
                    end_stream: true,
                    end_headers: true,
                    priority: Some(prio),
                },
            ),
            (
                frame(2, 0, 5, b"\x80\0\0\x03\x0f"),
                Frame::Priority {
                    stream_id: 5,
                    priority: prio,
                },
            ),
            (
                frame(3, 0, 5, b"\0\0\0\x08"),
                Frame::RstStream {
                    stream_id: 5,
                    code: ErrorCode::CANCEL,
                },
            ),
            (
                frame(4, 0, 0, b"\0\x03\0\0\0\x64"),
                Frame::Settings {
                    ack: false,
                    payload: b"\0\x03\0\0\0\x64",
                },
            ),
            (
                frame(4, 1, 0, b""),
                Frame::Settings {
                    ack: true,
                    payload: b"",
                },
            ),
            (
                frame(4, 0, 0, b"\0\x99\xff\xff\xff\xff"),
                Frame::Settings {
                    ack: false,
                    payload: b"\0\x99\xff\xff\xff\xff",
                },
            ),
            (
                frame(5, 4, 1, b"\0\0\0\x02"),
                Frame::PushPromise { stream_id: 1 },
            ),
            (
                frame(1, 0x24, 1, b"\0\0\0\x01\x10"),
                Frame::Headers {
                    stream_id: 1,
                    block: b"",
                    end_stream: false,
                    end_headers: true,
                    priority: Some(Priority {
                        dependency: 1,
                        exclusive: false,
                        weight: 16,
                    }),
                },
            ),
            (
                frame(6, 1, 0, b"12345678"),
                Frame::Ping {
                    ack: true,
                    data: *b"12345678",
                },
            ),
            (
                frame(7, 0, 0, b"\0\0\0\x07\0\0\0\x0bcalm"),
                Frame::GoAway {
                    last_stream_id: 7,
                    code: ErrorCode::ENHANCE_YOUR_CALM,
                    debug: b"calm",
                },
            ),
            (
                frame(8, 0, 0, b"\x80\0\x10\0"),
                Frame::WindowUpdate {
                    stream_id: 0,
                    increment: 4096,
                },
            ),
            (
                frame(9, 4, 3, b"\x84"),
                Frame::Continuation {
                    stream_id: 3,
                    block: b"\x84",
                    end_headers: true,
                },
            ),
            (
                frame(0xfa, 0xff, 9, b"whatever"),
                Frame::Unknown {
                    kind: 0xfa,
                    stream_id: 9,
                },
            ),
        ];
        for (bytes, want) in &cases {
            assert_eq!(parse_bytes(bytes).as_ref(), Ok(want), "{bytes:02x?}");
        }
    }

    #[test]
    fn malformed_frames_are_named_with_their_scope() {
        use H2Error::{Connection as C, Stream as S};
        let cases: Vec<(Vec<u8>, H2Error)> = vec![
            (frame(0, 0, 0, b"x"), C(Reason::MissingStreamId)),
            (frame(0, 8, 1, b"\x02x"), C(Reason::BadPadding)),
            (frame(0, 8, 1, b""), C(Reason::BadFrameLength)),
            (frame(1, 8, 1, b"\x05abc"), C(Reason::BadPadding)),
            (frame(1, 0x24, 1, b"\0\0\0"), C(Reason::BadFrameLength)),
            (frame(2, 0, 1, b"\0\0\0\x03"), S(1, Reason::BadFrameLength)),
            (
                frame(2, 0, 3, b"\0\0\0\x03\x10"),
                S(3, Reason::SelfDependency),
            ),
            (
                frame(2, 0, 0, b"\0\0\0\x03\x10"),
                C(Reason::MissingStreamId),
            ),
            (frame(3, 0, 1, b"\0\0\0"), C(Reason::BadFrameLength)),
            (frame(3, 0, 0, b"\0\0\0\0"), C(Reason::MissingStreamId)),
            (frame(4, 0, 1, b""), C(Reason::UnexpectedStreamId)),
            (frame(4, 1, 0, b"\0\x01\0\0\0\0"), C(Reason::BadFrameLength)),
            (frame(4, 0, 0, b"\0\x01\0\0\0"), C(Reason::BadFrameLength)),
            (
                frame(4, 0, 0, b"\0\x02\0\0\0\x02"),
                C(Reason::BadEnablePush),
            ),
            (
                frame(4, 0, 0, b"\0\x08\0\0\0\x02"),
                C(Reason::BadEnableConnectProtocol),
            ),
            (
                frame(4, 0, 0, b"\0\x04\x80\0\0\0"),
                C(Reason::InitialWindowTooLarge),
            ),
            (
                frame(4, 0, 0, b"\0\x05\0\0\x3f\xff"),
                C(Reason::BadMaxFrameSize),
            ),
            (
                frame(4, 0, 0, b"\0\x05\x01\0\0\0"),
                C(Reason::BadMaxFrameSize),
            ),
            (frame(6, 0, 0, b"1234567"), C(Reason::BadFrameLength)),
            (frame(6, 0, 3, b"12345678"), C(Reason::UnexpectedStreamId)),
            (frame(7, 0, 0, b"\0\0\0\0\0\0\0"), C(Reason::BadFrameLength)),
            (
                frame(7, 0, 1, b"\0\0\0\0\0\0\0\0"),
                C(Reason::UnexpectedStreamId),
            ),
            (frame(8, 0, 0, b"\0\0\0\0"), C(Reason::ZeroWindowIncrement)),
            (
                frame(8, 0, 7, b"\x80\0\0\0"),
                S(7, Reason::ZeroWindowIncrement),
            ),
            (frame(8, 0, 7, b"\0\0\x01"), C(Reason::BadFrameLength)),
            (frame(9, 4, 0, b""), C(Reason::MissingStreamId)),
        ];
        for (bytes, want) in &cases {
            assert_eq!(parse_bytes(bytes), Err(*want), "{bytes:02x?}");
        }
    }

    #[test]
    fn error_codes_follow_rfc9113_section_7() {
        assert_eq!(Reason::FrameTooLarge.code(), ErrorCode::FRAME_SIZE_ERROR);
        assert_eq!(Reason::RapidReset.code(), ErrorCode::ENHANCE_YOUR_CALM);
        assert_eq!(Reason::TooManyStreams.code(), ErrorCode::REFUSED_STREAM);
        assert_eq!(Reason::Compression.code(), ErrorCode::COMPRESSION_ERROR);
        assert_eq!(
            Reason::InitialWindowTooLarge.code(),
            ErrorCode::FLOW_CONTROL_ERROR
        );
        assert_eq!(ErrorCode(0xb).name(), "ENHANCE_YOUR_CALM");
        assert_eq!(ErrorCode(0x99).name(), "UNKNOWN");
    }

    #[test]
    fn encoders_produce_parseable_frames() {
        let mut out = Vec::new();
        encode_settings(&[(setting::MAX_CONCURRENT_STREAMS, 100)], &mut out);
        assert_eq!(out, frame(4, 0, 0, b"\0\x03\0\0\0\x64"));
        out.clear();
        encode_goaway(9, ErrorCode::NO_ERROR, b"", &mut out);
        assert_eq!(
            parse_bytes(&out),
            Ok(Frame::GoAway {
                last_stream_id: 9,
                code: ErrorCode::NO_ERROR,
                debug: b""
            })
        );
        out.clear();
        encode_window_update(3, 77, &mut out);
        assert_eq!(
            parse_bytes(&out),
            Ok(Frame::WindowUpdate {
                stream_id: 3,
                increment: 77
            })
        );
        out.clear();
        encode_rst_stream(3, ErrorCode::REFUSED_STREAM, &mut out);
        assert_eq!(
            parse_bytes(&out),
            Ok(Frame::RstStream {
                stream_id: 3,
                code: ErrorCode::REFUSED_STREAM
            })
        );
        out.clear();
        encode_ping(true, *b"abcdefgh", &mut out);
        assert_eq!(
            parse_bytes(&out),
            Ok(Frame::Ping {
                ack: true,
                data: *b"abcdefgh"
            })
        );
        // A 10-byte block at max frame size 4: HEADERS(4) + CONTINUATION(4) + CONTINUATION(2, END_HEADERS).
        out.clear();
        encode_headers(1, b"0123456789", true, 4, &mut out);
        assert_eq!(
            out,
            [
                frame(1, 1, 1, b"0123"),
                frame(9, 0, 1, b"4567"),
                frame(9, 4, 1, b"89")
            ]
            .concat()
        );
    }
}
