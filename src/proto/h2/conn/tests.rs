//! Connection tests: a byte-exact conversation, flow control, request
//! validation, graceful stop, split invariance (proptest) and one test per
//! flood defense.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::proto::h2::frame::{
    encode_data, encode_ping, encode_rst_stream, encode_settings, encode_window_update,
};
use crate::proto::h2::hpack::encoder::encode_field;

/// Builds client bytes.
#[derive(Default)]
struct Client {
    buf: Vec<u8>,
}

const GET: &[(&[u8], &[u8])] = &[
    (b":method", b"GET"),
    (b":scheme", b"http"),
    (b":path", b"/"),
    (b":authority", b"x"),
];

fn block(fields: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (n, v) in fields {
        encode_field(n, v, &mut b);
    }
    b
}

impl Client {
    fn new() -> Self {
        let mut c = Client::default();
        c.buf.extend_from_slice(PREFACE);
        encode_settings(&[], &mut c.buf);
        c
    }
    fn raw(mut self, kind: u8, flags: u8, sid: u32, payload: &[u8]) -> Self {
        FrameHeader {
            length: payload.len() as u32,
            kind,
            flags,
            stream_id: sid,
        }
        .encode(&mut self.buf);
        self.buf.extend_from_slice(payload);
        self
    }
    fn headers(self, sid: u32, fields: &[(&[u8], &[u8])], end_stream: bool) -> Self {
        let flags = flag::END_HEADERS | if end_stream { flag::END_STREAM } else { 0 };
        self.raw(kind::HEADERS, flags, sid, &block(fields))
    }
    fn get(self, sid: u32) -> Self {
        self.headers(sid, GET, true)
    }
    fn data(mut self, sid: u32, data: &[u8], end: bool) -> Self {
        encode_data(sid, data, end, &mut self.buf);
        self
    }
    fn rst(mut self, sid: u32) -> Self {
        encode_rst_stream(sid, ErrorCode::CANCEL, &mut self.buf);
        self
    }
    fn settings(mut self, params: &[(u16, u32)]) -> Self {
        encode_settings(params, &mut self.buf);
        self
    }
    fn window_update(mut self, sid: u32, inc: u32) -> Self {
        encode_window_update(sid, inc, &mut self.buf);
        self
    }
}

fn t0() -> Instant {
    Instant::now()
}

fn conn() -> Connection {
    Connection::new(Http2Limits::default(), t0())
}

/// Feeds all of `input`, returning the events.
fn feed(c: &mut Connection, input: &[u8]) -> Vec<Event> {
    let n = c.recv(input);
    assert_eq!(n, input.len(), "all input consumed");
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// The frames in `out`: (header, payload).
fn frames(out: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
    let mut v = Vec::new();
    let mut pos = 0;
    while let Some(h) = FrameHeader::parse(&out[pos..]) {
        let end = pos + HEADER_LEN + h.length as usize;
        v.push((h, out[pos + HEADER_LEN..end].to_vec()));
        pos = end;
    }
    assert_eq!(pos, out.len(), "output is whole frames");
    v
}

/// The output since the last call, as frames, and clears it.
fn take(c: &mut Connection) -> Vec<(FrameHeader, Vec<u8>)> {
    let f = frames(c.output());
    let n = c.output().len();
    c.advance_output(n);
    f
}

/// The (kind, stream, error code) of each RST_STREAM / GOAWAY in `f`.
fn errors(f: &[(FrameHeader, Vec<u8>)]) -> Vec<(u8, u32, ErrorCode)> {
    f.iter()
        .filter_map(|(h, p)| match h.kind {
            kind::RST_STREAM => Some((
                h.kind,
                h.stream_id,
                ErrorCode(u32::from_be_bytes(p[..4].try_into().unwrap())),
            )),
            kind::GOAWAY => Some((
                h.kind,
                u32::from_be_bytes(p[..4].try_into().unwrap()),
                ErrorCode(u32::from_be_bytes(p[4..8].try_into().unwrap())),
            )),
            _ => None,
        })
        .collect()
}

fn goaway(last: u32, code: ErrorCode) -> (u8, u32, ErrorCode) {
    (kind::GOAWAY, last, code)
}

fn rst(sid: u32, code: ErrorCode) -> (u8, u32, ErrorCode) {
    (kind::RST_STREAM, sid, code)
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn conversation_is_byte_exact() {
    let mut c = conn();
    let input = Client::new().get(1).buf;
    let events = feed(&mut c, &input);
    let [Event::Request {
        stream_id: 1,
        head,
        end_stream: true,
    }] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(head.method(), b"GET");
    assert_eq!(head.scheme(), Some(&b"http"[..]));
    assert_eq!(head.path(), Some(&b"/"[..]));
    assert_eq!(head.authority(), Some(&b"x"[..]));
    assert_eq!(head.headers().count(), 0);
    c.send_headers(1, 200, &[(b"Content-Type", b"text/plain")], false)
        .unwrap();
    assert_eq!(c.send_data(1, b"hello", true), Ok(5));
    let want = hex(concat!(
        // SETTINGS: table 4096, 100 streams, window 768 KiB, frame 16384, list 32 KiB,
        // extended CONNECT (RFC 8441).
        "000024 04 00 00000000",
        "0001 00001000 0003 00000064 0004 000c0000 0005 00004000 0006 00008000 0008 00000001",
        // WINDOW_UPDATE connection +983041 (1 MiB - 65535).
        "000004 08 00 00000000 000f0001",
        // SETTINGS ACK.
        "000000 04 01 00000000",
        // HEADERS stream 1, END_HEADERS: :status 200 (0x88), content-type
        // (static 31, 4-bit prefix: 0f 10) "text/plain" Huffman (8 bytes).
        "00000b 01 04 00000001 88 0f10 87 497ca58ae819aa",
        // DATA stream 1, END_STREAM: "hello".
        "000005 00 01 00000001 68656c6c6f",
    ));
    assert_eq!(hex_dump(c.output()), hex_dump(&want));
    assert_eq!(c.open_streams(), 0);
    assert_eq!(c.stats().streams_opened, 1);
}

fn hex_dump(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn request_body_flows_and_windows_reopen() {
    let mut c = conn();
    take(&mut c);
    let post: &[(&[u8], &[u8])] = &[
        (b":method", b"POST"),
        (b":scheme", b"https"),
        (b":path", b"/up"),
        (b"content-length", b"8"),
        (b"te", b"trailers"),
    ];
    let input = Client::new()
        .headers(3, post, false)
        .data(3, b"1234", false)
        .data(3, b"5678", true)
        .buf;
    let ev = feed(&mut c, &input);
    assert!(
        matches!(&ev[0], Event::Request { stream_id: 3, end_stream: false, head } if head.content_length() == Some(8))
    );
    assert_eq!(
        ev[1],
        Event::Data {
            stream_id: 3,
            data: b"1234".to_vec(),
            end_stream: false
        }
    );
    assert_eq!(
        ev[2],
        Event::Data {
            stream_id: 3,
            data: b"5678".to_vec(),
            end_stream: true
        }
    );
    // Releasing half the connection window sends a connection WINDOW_UPDATE.
    take(&mut c);
    c.release_capacity(3, 8);
    assert!(take(&mut c).is_empty());
    c.release_capacity(3, 512 * 1024);
    let f = take(&mut c);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].0.kind, f[0].0.stream_id), (kind::WINDOW_UPDATE, 0));
}

#[test]
fn request_trailers_end_the_body() {
    let mut c = conn();
    let trailers = block(&[(b"x-checksum", b"abc")]);
    let input = Client::new()
        .headers(
            1,
            &[
                (b":method", b"POST"),
                (b":scheme", b"http"),
                (b":path", b"/"),
            ],
            false,
        )
        .data(1, b"body", false)
        .raw(
            kind::HEADERS,
            flag::END_HEADERS | flag::END_STREAM,
            1,
            &trailers,
        )
        .buf;
    let ev = feed(&mut c, &input);
    let Event::Trailers {
        stream_id: 1,
        trailers,
    } = &ev[2]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(trailers.value(b"x-checksum"), Some(&b"abc"[..]));
}

#[test]
fn a_response_before_the_body_takes_a_short_declared_rest_and_resets_otherwise() {
    let post = |len: Option<&'static [u8]>| {
        let mut f: Vec<(&[u8], &[u8])> = vec![
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", b"/"),
        ];
        if let Some(l) = len {
            f.push((b"content-length", l));
        }
        Client::new().headers(1, &f, false).buf
    };
    // Content-Length 16, none sent yet: the response ends, no reset; the body then arrives,
    // is reported (the engine drops it) and the stream is gone.
    let mut c = conn();
    feed(&mut c, &post(Some(b"16")));
    take(&mut c);
    c.send_headers(1, 413, &[], true).unwrap();
    assert!(errors(&take(&mut c)).is_empty(), "no RST_STREAM");
    assert_eq!(c.open_streams(), 1);
    let ev = feed(
        &mut c,
        &Client::default().data(1, b"0123456789abcdef", true).buf,
    );
    assert!(
        matches!(
            ev[0],
            Event::Data {
                stream_id: 1,
                end_stream: true,
                ..
            }
        ),
        "{ev:?}"
    );
    assert_eq!(c.open_streams(), 0);
    assert!(errors(&take(&mut c)).is_empty());
    // No Content-Length (or a long rest): RST_STREAM(NO_ERROR) at once (RFC 9113 8.1).
    let mut c = conn();
    feed(&mut c, &post(None));
    take(&mut c);
    c.send_headers(1, 413, &[], true).unwrap();
    assert_eq!(errors(&take(&mut c)), [rst(1, ErrorCode::NO_ERROR)]);
    assert_eq!(c.open_streams(), 0);
    let mut c = conn();
    feed(&mut c, &post(Some(b"10000000")));
    take(&mut c);
    c.send_headers(1, 413, &[], true).unwrap();
    assert_eq!(errors(&take(&mut c)), [rst(1, ErrorCode::NO_ERROR)]);
}

#[test]
fn response_trailers_follow_the_data() {
    let mut c = conn();
    feed(&mut c, &Client::new().get(1).buf);
    take(&mut c);
    c.send_headers(1, 200, &[], false).unwrap();
    c.send_data(1, b"abc", false).unwrap();
    c.send_trailers(1, &[(b"grpc-status", b"0")]).unwrap();
    let f = take(&mut c);
    let kinds: Vec<(u8, u8)> = f.iter().map(|(h, _)| (h.kind, h.flags)).collect();
    assert_eq!(
        kinds,
        [
            (kind::HEADERS, flag::END_HEADERS),
            (kind::DATA, 0),
            (kind::HEADERS, flag::END_HEADERS | flag::END_STREAM)
        ]
    );
    let mut list = HeaderList::new();
    Decoder::new(4096)
        .decode(&f[2].1, 1 << 16, 1 << 16, &mut list)
        .unwrap();
    assert_eq!(list.value(b"grpc-status"), Some(&b"0"[..]));
    assert_eq!(c.send_data(1, b"x", false), Err(SendError::UnknownStream));
}

#[test]
fn response_data_waits_for_the_client_window_with_bounded_buffer() {
    let mut c = conn();
    let input = Client::new()
        .settings(&[(setting::INITIAL_WINDOW_SIZE, 10)])
        .get(1)
        .buf;
    feed(&mut c, &input);
    take(&mut c);
    c.send_headers(1, 200, &[], false).unwrap();
    // 100 KiB offered: 64 KiB taken, 10 bytes sent.
    let body = vec![b'z'; 100 * 1024];
    assert_eq!(c.send_data(1, &body, false), Ok(64 * 1024));
    let f = take(&mut c);
    assert_eq!(
        f.iter()
            .filter(|(h, _)| h.kind == kind::DATA)
            .map(|(_, p)| p.len())
            .sum::<usize>(),
        10
    );
    assert_eq!(c.buffered_response_bytes(), 64 * 1024 - 10);
    // Only what fits in the buffer is taken.
    assert_eq!(c.send_data(1, b"more", false), Ok(4));
    // The stream window opens: frames of at most 16384 bytes, capped by the
    // connection window (65535 - 10).
    feed(&mut c, &Client::default().window_update(1, 1 << 20).buf);
    let f = take(&mut c);
    let sizes: Vec<usize> = f
        .iter()
        .filter(|(h, _)| h.kind == kind::DATA)
        .map(|(_, p)| p.len())
        .collect();
    assert_eq!(sizes, [16384, 16384, 16384, 16384 - 11]);
    // The connection window opens: the rest drains, the engine is told.
    let ev = feed(&mut c, &Client::default().window_update(0, 1 << 20).buf);
    assert_eq!(ev, [Event::SendCapacity { stream_id: 1 }]);
    assert_eq!(c.buffered_response_bytes(), 0);
}

#[test]
fn a_client_that_never_opens_its_window_gets_its_stream_reset() {
    let mut c = conn();
    feed(
        &mut c,
        &Client::new()
            .settings(&[(setting::INITIAL_WINDOW_SIZE, 0)])
            .get(1)
            .get(3)
            .buf,
    );
    c.send_headers(1, 200, &[], false).unwrap();
    assert_eq!(c.send_data(1, &[0; 100_000], false), Ok(65_536));
    take(&mut c);
    c.tick(t0() + Duration::from_secs(10));
    assert!(take(&mut c).is_empty());
    c.tick(t0() + Duration::from_secs(60));
    assert_eq!(errors(&take(&mut c)), [rst(1, ErrorCode::CANCEL)]);
    assert_eq!(c.buffered_response_bytes(), 0);
    assert_eq!(c.stats().stalled_responses, 1);
    // The other stream is untouched.
    assert_eq!(c.send_headers(3, 204, &[], true), Ok(()));
}

#[test]
fn too_many_streams_are_refused() {
    let limits = Http2Limits {
        max_streams_per_connection: 2,
        ..Http2Limits::default()
    };
    let mut c = Connection::new(limits, t0());
    let ev = feed(&mut c, &Client::new().get(1).get(3).get(5).buf);
    assert_eq!(ev.len(), 2);
    assert_eq!(errors(&take(&mut c)), [rst(5, ErrorCode::REFUSED_STREAM)]);
    assert_eq!(c.stats().streams_refused, 1);
    // Finishing one makes room.
    c.send_headers(1, 200, &[], true).unwrap();
    assert_eq!(feed(&mut c, &Client::default().get(7).buf).len(), 1);
}

#[test]
fn malformed_requests_are_reset_with_protocol_error() {
    type F = &'static [(&'static [u8], &'static [u8])];
    let cases: &[(&str, F)] = &[
        ("no :method", &[(b":scheme", b"http"), (b":path", b"/")]),
        ("no :scheme", &[(b":method", b"GET"), (b":path", b"/")]),
        ("no :path", &[(b":method", b"GET"), (b":scheme", b"http")]),
        (
            "empty :path",
            &[(b":method", b"GET"), (b":scheme", b"http"), (b":path", b"")],
        ),
        (
            "duplicate :path",
            &[
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":path", b"/"),
                (b":path", b"/"),
            ],
        ),
        (
            "unknown pseudo",
            &[
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":path", b"/"),
                (b":status", b"200"),
            ],
        ),
        (
            "pseudo after regular",
            &[
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b"a", b"b"),
                (b":path", b"/"),
            ],
        ),
        (
            "uppercase name",
            &[
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":path", b"/"),
                (b"X-A", b"b"),
            ],
        ),
        (
            "connection",
            &[
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":path", b"/"),
                (b"connection", b"close"),
            ],
        ),
        (
            "transfer-encoding",
            &[
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":path", b"/"),
                (b"transfer-encoding", b"chunked"),
            ],
        ),
        (
            "te gzip",
            &[
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":path", b"/"),
                (b"te", b"gzip"),
            ],
        ),
        (
            "value with LF",
            &[
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":path", b"/"),
                (b"a", b"b\nc"),
            ],
        ),
        (
            "value with leading space",
            &[
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":path", b"/"),
                (b"a", b" b"),
            ],
        ),
        (
            "bad content-length",
            &[
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":path", b"/"),
                (b"content-length", b"1x"),
            ],
        ),
        (
            "CONNECT with :path",
            &[
                (b":method", b"CONNECT"),
                (b":authority", b"h:1"),
                (b":path", b"/"),
            ],
        ),
        ("CONNECT without :authority", &[(b":method", b"CONNECT")]),
        (
            "content-length on END_STREAM",
            &[
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":path", b"/"),
                (b"content-length", b"3"),
            ],
        ),
    ];
    for (name, fields) in cases {
        let mut c = conn();
        let ev = feed(&mut c, &Client::new().headers(1, fields, true).buf);
        assert!(ev.is_empty(), "{name}: {ev:?}");
        let errs = errors(&take(&mut c));
        assert_eq!(errs, [rst(1, ErrorCode::PROTOCOL_ERROR)], "{name}");
        // The connection goes on.
        assert_eq!(
            feed(&mut c, &Client::default().get(3).buf).len(),
            1,
            "{name}"
        );
    }
    let ok: &[(&str, F)] = &[
        (
            "CONNECT",
            &[(b":method", b"CONNECT"), (b":authority", b"h:1")],
        ),
        (
            "te trailers",
            &[
                (b":method", b"GET"),
                (b":scheme", b"http"),
                (b":path", b"/"),
                (b"te", b"trailers"),
            ],
        ),
        (
            "OPTIONS *",
            &[
                (b":method", b"OPTIONS"),
                (b":scheme", b"http"),
                (b":path", b"*"),
            ],
        ),
    ];
    for (name, fields) in ok {
        let mut c = conn();
        let ev = feed(&mut c, &Client::new().headers(1, fields, true).buf);
        assert!(matches!(ev[..], [Event::Request { .. }]), "{name}: {ev:?}");
    }
}

#[test]
fn content_length_must_match_the_data() {
    let post: &[(&[u8], &[u8])] = &[
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", b"/"),
        (b"content-length", b"3"),
    ];
    for body in [&b"ab"[..], b"abcd"] {
        let mut c = conn();
        let ev = feed(
            &mut c,
            &Client::new()
                .headers(1, post, false)
                .data(1, body, true)
                .buf,
        );
        assert_eq!(
            ev.last(),
            Some(&Event::Reset {
                stream_id: 1,
                code: ErrorCode::PROTOCOL_ERROR,
                by_peer: false
            })
        );
        assert_eq!(errors(&take(&mut c)), [rst(1, ErrorCode::PROTOCOL_ERROR)]);
    }
}

#[test]
fn stream_state_and_flow_control_errors() {
    type Case = (&'static str, Client, Vec<(u8, u32, ErrorCode)>);
    let cases: Vec<Case> = vec![
        (
            "DATA on idle stream",
            Client::new().data(1, b"x", false),
            vec![goaway(0, ErrorCode::PROTOCOL_ERROR)],
        ),
        (
            "DATA after END_STREAM",
            Client::new().get(1).data(1, b"x", false),
            vec![rst(1, ErrorCode::STREAM_CLOSED)],
        ),
        (
            "HEADERS on even stream",
            Client::new().get(2),
            vec![goaway(0, ErrorCode::PROTOCOL_ERROR)],
        ),
        (
            "HEADERS reusing a closed id",
            Client::new().get(3).rst(3).get(3),
            vec![goaway(3, ErrorCode::STREAM_CLOSED)],
        ),
        (
            // RFC 9113 5.1.1: an unexpected (lower, never used) stream identifier.
            "HEADERS on a lower id never opened",
            Client::new().get(3).rst(3).get(1),
            vec![goaway(3, ErrorCode::PROTOCOL_ERROR)],
        ),
        (
            "Host naming another entity than :authority",
            Client::new().headers(
                1,
                &[
                    (b":method", b"GET"),
                    (b":scheme", b"http"),
                    (b":path", b"/"),
                    (b":authority", b"a.example"),
                    (b"host", b"b.example"),
                ],
                true,
            ),
            vec![rst(1, ErrorCode::PROTOCOL_ERROR)],
        ),
        (
            "RST on idle stream",
            Client::new().rst(1),
            vec![goaway(0, ErrorCode::PROTOCOL_ERROR)],
        ),
        (
            "WINDOW_UPDATE on idle stream",
            Client::new().window_update(1, 1),
            vec![goaway(0, ErrorCode::PROTOCOL_ERROR)],
        ),
        (
            "connection window overflow",
            Client::new().window_update(0, MAX_WINDOW),
            vec![goaway(0, ErrorCode::FLOW_CONTROL_ERROR)],
        ),
        (
            "stream window overflow",
            Client::new()
                .headers(1, GET, false)
                .window_update(1, MAX_WINDOW),
            vec![rst(1, ErrorCode::FLOW_CONTROL_ERROR)],
        ),
        (
            "DATA over the stream window (768 KiB)",
            (0..49).fold(
                Client::new().headers(
                    1,
                    &[
                        (b":method", b"POST"),
                        (b":scheme", b"http"),
                        (b":path", b"/"),
                    ],
                    false,
                ),
                |c, _| c.data(1, &[0; 16384], false),
            ),
            vec![rst(1, ErrorCode::FLOW_CONTROL_ERROR)],
        ),
        (
            "PUSH_PROMISE",
            Client::new().raw(kind::PUSH_PROMISE, 4, 1, &[0, 0, 0, 2]),
            vec![goaway(0, ErrorCode::PROTOCOL_ERROR)],
        ),
        (
            "frame over max size",
            Client::new().raw(kind::DATA, 0, 1, &[0; 16385]),
            vec![goaway(0, ErrorCode::FRAME_SIZE_ERROR)],
        ),
        (
            "CONTINUATION without HEADERS",
            Client::new().raw(kind::CONTINUATION, 4, 1, &[0x82]),
            vec![goaway(0, ErrorCode::PROTOCOL_ERROR)],
        ),
        (
            "frame inside a header block",
            Client::new()
                .raw(kind::HEADERS, 0, 1, &block(GET))
                .raw(kind::PING, 0, 0, &[0; 8]),
            vec![goaway(0, ErrorCode::PROTOCOL_ERROR)],
        ),
        (
            "bad HPACK",
            Client::new().raw(kind::HEADERS, 5, 1, &[0x80]),
            vec![goaway(0, ErrorCode::COMPRESSION_ERROR)],
        ),
        (
            "SETTINGS bad window",
            Client::new().settings(&[(4, 1 << 31)]),
            vec![goaway(0, ErrorCode::FLOW_CONTROL_ERROR)],
        ),
    ];
    for (name, client, want) in cases {
        let mut c = conn();
        take(&mut c);
        feed(&mut c, &client.buf);
        assert_eq!(errors(&take(&mut c)), want, "{name}");
    }
}

#[test]
fn bad_preface_and_missing_settings_end_the_connection() {
    let mut c = conn();
    take(&mut c);
    let ev = feed(&mut c, b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(
        ev,
        [Event::Closed {
            reason: Reason::BadPreface
        }]
    );
    assert_eq!(
        errors(&take(&mut c)),
        [goaway(0, ErrorCode::PROTOCOL_ERROR)]
    );
    assert!(c.is_closed());
    let mut c = conn();
    take(&mut c);
    let mut input = PREFACE.to_vec();
    encode_ping(false, [0; 8], &mut input);
    feed(&mut c, &input);
    assert_eq!(
        errors(&take(&mut c)),
        [goaway(0, ErrorCode::PROTOCOL_ERROR)]
    );
}

#[test]
fn settings_and_ping_are_acknowledged() {
    let mut c = conn();
    take(&mut c);
    let mut input = Client::new()
        .settings(&[(setting::MAX_FRAME_SIZE, 20_000)])
        .buf;
    encode_ping(false, *b"pingpong", &mut input);
    feed(&mut c, &input);
    let f = take(&mut c);
    let kinds: Vec<(u8, u8, &[u8])> = f.iter().map(|(h, p)| (h.kind, h.flags, &p[..])).collect();
    assert_eq!(
        kinds,
        [
            (kind::SETTINGS, flag::ACK, &b""[..]),
            (kind::SETTINGS, flag::ACK, b""),
            (kind::PING, flag::ACK, b"pingpong")
        ]
    );
    c.ping(*b"12345678");
    take(&mut c);
    let mut input = Vec::new();
    encode_ping(true, *b"12345678", &mut input);
    assert_eq!(
        feed(&mut c, &input),
        [Event::PingAck { data: *b"12345678" }]
    );
}

#[test]
fn keep_alive_ping_is_off_by_default_and_times_out_when_on() {
    let mut c = conn();
    feed(&mut c, &Client::new().buf);
    take(&mut c);
    c.tick(t0() + Duration::from_secs(3600));
    assert!(take(&mut c).is_empty());
    let limits = Http2Limits {
        keep_alive_ping_delay: Some(Duration::from_secs(10)),
        ..Http2Limits::default()
    };
    let mut c = Connection::new(limits, t0());
    feed(&mut c, &Client::new().buf);
    take(&mut c);
    c.tick(t0() + Duration::from_secs(11));
    assert_eq!(take(&mut c)[0].0.kind, kind::PING);
    c.tick(t0() + Duration::from_secs(32));
    assert_eq!(errors(&take(&mut c)), [goaway(0, ErrorCode::NO_ERROR)]);
    assert!(c.is_closed());
}

#[test]
fn graceful_stop_sends_goaway_with_the_last_stream_and_drains() {
    let mut c = conn();
    feed(&mut c, &Client::new().get(1).get(3).buf);
    take(&mut c);
    c.go_away();
    assert_eq!(errors(&take(&mut c)), [goaway(3, ErrorCode::NO_ERROR)]);
    // A stream opened after the GOAWAY is ignored.
    assert!(feed(&mut c, &Client::default().get(5).buf).is_empty());
    c.send_headers(1, 200, &[], true).unwrap();
    assert!(!c.is_closed());
    c.send_headers(3, 200, &[], true).unwrap();
    assert!(c.is_closed());
}

#[test]
fn peer_goaway_and_reset_are_reported() {
    let mut c = conn();
    let mut input = Client::new().headers(1, GET, false).rst(1).buf;
    frame::encode_goaway(0, ErrorCode::NO_ERROR, b"bye", &mut input);
    let ev = feed(&mut c, &input);
    assert_eq!(
        ev[1],
        Event::Reset {
            stream_id: 1,
            code: ErrorCode::CANCEL,
            by_peer: true
        }
    );
    assert_eq!(
        ev[2],
        Event::GoAway {
            last_stream_id: 0,
            code: ErrorCode::NO_ERROR
        }
    );
}

// ---- Flood defenses: each ends in its GOAWAY within bounded input. ----

/// Feeds `unit` up to `max_rounds` times after `prefix`; returns the round
/// at which the connection closed and the error frames it sent.
fn flood(
    c: &mut Connection,
    prefix: &[u8],
    unit: impl Fn(u32) -> Vec<u8>,
    max_rounds: u32,
) -> (u32, Vec<(u8, u32, ErrorCode)>) {
    feed(c, prefix);
    let mut errs = errors(&take(c));
    for round in 0..max_rounds {
        feed(c, &unit(round));
        errs.extend(errors(&take(c)));
        if c.is_closed() {
            return (round, errs);
        }
    }
    panic!("still open after {max_rounds} rounds");
}

#[test]
fn rapid_reset_ends_in_enhance_your_calm() {
    let mut c = conn();
    let (round, errs) = flood(
        &mut c,
        &Client::new().buf,
        |i| {
            Client::default()
                .headers(2 * i + 1, GET, false)
                .rst(2 * i + 1)
                .buf
        },
        10_000,
    );
    assert_eq!(round, 200);
    assert_eq!(errs, [goaway(401, ErrorCode::ENHANCE_YOUR_CALM)]);
    assert_eq!(c.stats().rapid_reset_floods, 1);
    // Streams that complete earn the budget back: a client that resets
    // some of its streams is left alone.
    let mut c = conn();
    feed(&mut c, &Client::new().buf);
    for i in 0..1000 {
        let sid = 4 * i + 1;
        feed(
            &mut c,
            &Client::default()
                .get(sid)
                .headers(sid + 2, GET, false)
                .rst(sid + 2)
                .buf,
        );
        c.send_headers(sid, 200, &[], true).unwrap();
    }
    assert!(!c.is_closed());
}

#[test]
fn refused_streams_count_against_the_reset_budget() {
    let limits = Http2Limits {
        max_streams_per_connection: 1,
        ..Http2Limits::default()
    };
    let mut c = Connection::new(limits, t0());
    let (round, errs) = flood(
        &mut c,
        &Client::new().get(1).buf,
        |i| Client::default().get(2 * i + 3).buf,
        10_000,
    );
    assert_eq!(round, 200);
    assert_eq!(errs.len(), 201);
    assert_eq!(errs[0], rst(3, ErrorCode::REFUSED_STREAM));
    assert_eq!(errs[200], goaway(403, ErrorCode::ENHANCE_YOUR_CALM));
}

#[test]
fn resets_the_client_makes_us_send_spend_the_reset_budget() {
    // Malformed requests in a loop (each answered with RST_STREAM).
    let mut c = conn();
    let bad: &[(&[u8], &[u8])] = &[(b":method", b"GET"), (b":path", b"/")];
    let (round, errs) = flood(
        &mut c,
        &Client::new().buf,
        |i| Client::default().headers(2 * i + 1, bad, true).buf,
        10_000,
    );
    assert_eq!(round, 200);
    assert_eq!(errs.len(), 201);
    assert!(errs[..200]
        .iter()
        .enumerate()
        .all(|(i, e)| *e == rst(2 * i as u32 + 1, ErrorCode::PROTOCOL_ERROR)));
    assert_eq!(errs[200], goaway(401, ErrorCode::ENHANCE_YOUR_CALM));
    assert_eq!(c.stats().rapid_reset_floods, 1);
    assert_eq!(c.stats().malformed_requests, 201);
    // DATA on a closed stream in a loop (each answered with RST_STREAM): the
    // reset of the prefix spent one already.
    let mut c = conn();
    let prefix = Client::new().get(1).rst(1).buf;
    let (round, errs) = flood(
        &mut c,
        &prefix,
        |_| Client::default().data(1, b"x", false).buf,
        10_000,
    );
    assert_eq!(round, 199);
    assert_eq!(errs[..199], [rst(1, ErrorCode::STREAM_CLOSED); 199]);
    assert_eq!(errs[199..], [goaway(1, ErrorCode::ENHANCE_YOUR_CALM)]);
}

#[test]
fn continuation_flood_ends_in_enhance_your_calm() {
    // Endless empty CONTINUATION frames: bounded by their count.
    let mut c = conn();
    let prefix = Client::new().raw(kind::HEADERS, 0, 1, &block(GET)).buf;
    let (round, errs) = flood(
        &mut c,
        &prefix,
        |_| Client::default().raw(kind::CONTINUATION, 0, 1, &[]).buf,
        10_000,
    );
    assert_eq!(round, 32);
    assert_eq!(errs, [goaway(0, ErrorCode::ENHANCE_YOUR_CALM)]);
    assert_eq!(c.stats().continuation_floods, 1);
    // Full CONTINUATION frames: bounded by the block size (64 KiB).
    let mut c = conn();
    let (round, _) = flood(
        &mut c,
        &prefix,
        |_| {
            Client::default()
                .raw(kind::CONTINUATION, 0, 1, &[0x82; 16384])
                .buf
        },
        10_000,
    );
    assert_eq!(round, 3);
    assert_eq!(c.stats().continuation_floods, 1);
    assert_eq!(c.stats().connection_errors, 1);
}

#[test]
fn hpack_bomb_ends_in_enhance_your_calm() {
    // One 4000-byte field inserted into the dynamic table, then indexed
    // until the list passes 32 KiB: ~4 KiB of input, never 4 MiB of output.
    let mut b = Vec::new();
    encoder::encode_int(0, 6, 0x40, &mut b);
    encoder::encode_str(b"x-bomb", &mut b);
    encoder::encode_int(3990, 7, 0, &mut b);
    b.extend(std::iter::repeat_n(b'a', 3990));
    b.extend(std::iter::repeat_n(0x80 | 62, 12_000));
    let mut c = conn();
    let head = block(GET);
    let input = Client::new()
        .raw(kind::HEADERS, 0, 1, &head)
        .raw(kind::CONTINUATION, 0, 1, &b[..8000])
        .raw(kind::CONTINUATION, 4, 1, &b[8000..])
        .buf;
    let ev = feed(&mut c, &input);
    assert_eq!(
        ev,
        [Event::Closed {
            reason: Reason::HeaderListTooLarge
        }]
    );
    assert_eq!(
        errors(&take(&mut c)),
        [goaway(0, ErrorCode::ENHANCE_YOUR_CALM)]
    );
    assert_eq!(c.stats().hpack_bombs, 1);
}

#[test]
fn control_frame_floods_end_in_enhance_your_calm() {
    type Unit = fn(u32) -> Vec<u8>;
    let cases: &[(&str, Unit)] = &[
        ("SETTINGS", |_| Client::default().settings(&[]).buf),
        ("PING", |_| {
            let mut b = Vec::new();
            encode_ping(false, [0; 8], &mut b);
            b
        }),
        ("empty DATA", |_| Client::default().data(1, b"", false).buf),
        ("PRIORITY", |_| {
            Client::default()
                .raw(kind::PRIORITY, 0, 3, &[0, 0, 0, 0, 16])
                .buf
        }),
        ("WINDOW_UPDATE", |_| {
            Client::default().window_update(0, 1).buf
        }),
        ("unknown frames", |_| {
            Client::default().raw(0xee, 0, 0, b"").buf
        }),
        ("RST of closed streams", |_| Client::default().rst(1).buf),
    ];
    for (name, unit) in cases {
        let mut c = conn();
        let prefix = Client::new()
            .headers(
                1,
                &[
                    (b":method", b"POST"),
                    (b":scheme", b"http"),
                    (b":path", b"/"),
                ],
                false,
            )
            .buf;
        let prefix = if *name == "RST of closed streams" {
            Client::new().get(1).rst(1).buf
        } else {
            prefix
        };
        let (round, errs) = flood(&mut c, &prefix, unit, 100_000);
        assert_eq!(round, 1000, "{name}");
        assert_eq!(errs, [goaway(1, ErrorCode::ENHANCE_YOUR_CALM)], "{name}");
        assert_eq!(c.stats().control_floods, 1, "{name}");
    }
}

#[test]
fn progress_refills_the_control_budget() {
    // 900 PINGs, a DATA frame with bytes, 900 more: a busy but honest client.
    let mut c = conn();
    feed(
        &mut c,
        &Client::new()
            .headers(
                1,
                &[
                    (b":method", b"POST"),
                    (b":scheme", b"http"),
                    (b":path", b"/"),
                ],
                false,
            )
            .buf,
    );
    for round in 0..10 {
        let mut b = Vec::new();
        for _ in 0..900 {
            encode_ping(false, [0; 8], &mut b);
        }
        encode_data(1, b"x", false, &mut b);
        feed(&mut c, &b);
        take(&mut c);
        assert!(!c.is_closed(), "round {round}");
    }
}

#[test]
fn a_client_that_does_not_read_stops_our_reading() {
    let limits = Http2Limits {
        max_output_buffer_size: 1000,
        ..Http2Limits::default()
    };
    let mut c = Connection::new(limits, t0());
    let mut input = Client::new().buf;
    for _ in 0..500 {
        encode_ping(false, [0; 8], &mut input);
    }
    let n = c.recv(&input);
    assert!(n < input.len());
    assert!(c.output().len() < 1100);
    assert!(c.stats().output_backpressure >= 1);
    // Once the output is written, reading goes on.
    c.advance_output(c.output().len());
    assert!(c.recv(&input[n..]) > 0);
}

#[test]
fn a_stalled_request_body_is_reset_and_a_stalled_header_block_closes() {
    let mut c = conn();
    feed(
        &mut c,
        &Client::new()
            .headers(
                1,
                &[
                    (b":method", b"POST"),
                    (b":scheme", b"http"),
                    (b":path", b"/"),
                ],
                false,
            )
            .get(3)
            .buf,
    );
    take(&mut c);
    c.tick(t0() + Duration::from_secs(4));
    assert!(take(&mut c).is_empty());
    c.tick(t0() + Duration::from_secs(6));
    assert_eq!(errors(&take(&mut c)), [rst(1, ErrorCode::CANCEL)]);
    assert_eq!(c.stats().min_rate_resets, 1);
    assert_eq!(
        c.poll_event(),
        Some(Event::Reset {
            stream_id: 1,
            code: ErrorCode::CANCEL,
            by_peer: false
        })
    );
    // A header block that never ends.
    let mut c = conn();
    feed(
        &mut c,
        &Client::new().raw(kind::HEADERS, 0, 1, &block(GET)).buf,
    );
    take(&mut c);
    c.tick(t0() + Duration::from_secs(31));
    assert_eq!(errors(&take(&mut c)), [goaway(0, ErrorCode::CANCEL)]);
    assert_eq!(c.stats().header_timeouts, 1);
}

#[test]
fn request_body_over_the_limit_is_reset() {
    let limits = Http2Limits {
        max_request_body_size: Some(10),
        ..Http2Limits::default()
    };
    let mut c = Connection::new(limits, t0());
    let post: &[(&[u8], &[u8])] = &[
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", b"/"),
    ];
    feed(
        &mut c,
        &Client::new()
            .headers(1, post, false)
            .data(1, b"0123456789", false)
            .data(1, b"x", false)
            .buf,
    );
    assert_eq!(errors(&take(&mut c)), [rst(1, ErrorCode::CANCEL)]);
}

#[test]
fn a_flood_on_one_connection_leaves_another_alone() {
    let mut bad = conn();
    let mut good = conn();
    flood(
        &mut bad,
        &Client::new().buf,
        |_| Client::default().settings(&[]).buf,
        10_000,
    );
    assert!(bad.is_closed());
    let ev = feed(&mut good, &Client::new().get(1).buf);
    assert_eq!(ev.len(), 1);
    assert_eq!(good.stats().connection_errors, 0);
}

/// A conversation with every frame kind a client sends.
fn rich_input() -> Vec<u8> {
    let post: &[(&[u8], &[u8])] = &[
        (b":method", b"POST"),
        (b":scheme", b"https"),
        (b":path", b"/p"),
        (b"content-length", b"6"),
    ];
    let mut b = Client::new()
        .settings(&[(setting::INITIAL_WINDOW_SIZE, 100)])
        .get(1)
        .headers(3, post, false)
        .raw(kind::DATA, flag::PADDED, 3, b"\x03abc\0\0\0")
        .raw(kind::PRIORITY, 0, 5, &[0, 0, 0, 1, 7])
        .headers(5, GET, false)
        .rst(5)
        .window_update(0, 1000)
        .data(3, b"def", true)
        .buf;
    encode_ping(false, *b"01234567", &mut b);
    b
}

proptest! {
    #[test]
    fn any_split_gives_the_same_events_and_output(cuts in proptest::collection::vec(0usize..400, 0..12)) {
        let input = rich_input();
        let mut whole = conn();
        let want_events = feed(&mut whole, &input);
        let want_out = whole.output().to_vec();
        let mut c = conn();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|x| x % (input.len() + 1)).collect();
        cuts.push(input.len());
        cuts.sort_unstable();
        let mut buf = Vec::new();
        let mut last = 0;
        let mut events = Vec::new();
        for cut in cuts {
            buf.extend_from_slice(&input[last..cut]);
            last = cut;
            let n = c.recv(&buf);
            buf.drain(..n);
            events.extend(std::iter::from_fn(|| c.poll_event()));
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(events, want_events);
        prop_assert_eq!(c.output(), &want_out[..]);
    }

    #[test]
    fn arbitrary_input_never_panics(input in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut c = conn();
        let mut bytes = Client::new().buf;
        bytes.extend_from_slice(&input);
        c.recv(&bytes);
        while c.poll_event().is_some() {}
    }
}

/// What the Python `h2` client (4.x) sends for a GET and a POST with a body:
/// Huffman strings, dynamic table insertions and references, its own
/// SETTINGS (ENABLE_CONNECT_PROTOCOL = 0 included: what the client allows, which we ignore).
const PYTHON_H2_CLIENT: &str = "505249202a20485454502f322e300d0a0d0a534d0d0a0d0a00002a04000000000000010000100000020000000100040000ffff0005000040000008000000000003000000640006000100000000240105000000018244886272d141ffcf30078741882f91d35d055c87a77a87afd2673d4b4e2f5383f963e700000e01040000000383448460a49cff87c1c05c82087f00000b00010000000368656c6c6f20776f726c64";

/// Our answer to [`PYTHON_H2_CLIENT`]; checked once by feeding it to the
/// Python client (`h2.connection.H2Connection.receive_data`), which reported
/// both responses, the trailers and no error.
fn answer_python_client() -> Vec<u8> {
    let mut c = conn();
    let ev = feed(&mut c, &hex(PYTHON_H2_CLIENT));
    assert_eq!(ev.len(), 3, "{ev:?}");
    let Event::Request {
        stream_id: 1,
        head,
        end_stream: true,
    } = &ev[0]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(
        (head.method(), head.path(), head.authority()),
        (
            &b"GET"[..],
            Some(&b"/hello?x=1"[..]),
            Some(&b"example.com"[..])
        )
    );
    let headers: Vec<_> = head.headers().collect();
    assert_eq!(
        headers,
        [(&b"user-agent"[..], &b"python-h2"[..]), (b"accept", b"*/*")]
    );
    let Event::Request {
        stream_id: 3,
        head,
        end_stream: false,
    } = &ev[1]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(
        (head.method(), head.content_length()),
        (&b"POST"[..], Some(11))
    );
    assert_eq!(
        head.headers().next(),
        Some((&b"user-agent"[..], &b"python-h2"[..]))
    );
    assert_eq!(
        ev[2],
        Event::Data {
            stream_id: 3,
            data: b"hello world".to_vec(),
            end_stream: true
        }
    );
    c.send_headers(
        1,
        200,
        &[(b"content-type", b"text/plain"), (b"server", b"peregrine")],
        false,
    )
    .unwrap();
    c.send_data(1, b"hi", true).unwrap();
    c.send_headers(3, 201, &[(b"x-echo", b"yes")], false)
        .unwrap();
    c.send_data(3, b"hello world", false).unwrap();
    c.send_trailers(3, &[(b"x-trailer", b"done")]).unwrap();
    c.output().to_vec()
}

#[test]
fn a_python_h2_client_is_understood() {
    let out = answer_python_client();
    let kinds: Vec<u8> = frames(&out).iter().map(|(h, _)| h.kind).collect();
    assert_eq!(
        kinds,
        [
            kind::SETTINGS,
            kind::WINDOW_UPDATE,
            kind::SETTINGS,
            kind::HEADERS,
            kind::DATA,
            kind::HEADERS,
            kind::DATA,
            kind::HEADERS
        ]
    );
    if std::env::var_os("PEREGRINE_H2_DUMP").is_some() {
        println!("ANSWER {}", hex_dump(&out));
    }
}

#[test]
fn a_self_dependent_stream_is_reset_and_hpack_stays_in_step() {
    // Stream 1 depends on itself, and its block inserts `x-a: b` into the
    // dynamic table; stream 3 refers to that entry (index 62).
    let mut first = vec![0, 0, 0, 1, 16];
    first.extend(block(GET));
    first.extend([0x40, 3, b'x', b'-', b'a', 1, b'b']);
    let mut second = block(GET);
    second.push(0x80 | 62);
    let input = Client::new()
        .raw(
            kind::HEADERS,
            flag::END_HEADERS | flag::END_STREAM | flag::PRIORITY,
            1,
            &first,
        )
        .raw(
            kind::HEADERS,
            flag::END_HEADERS | flag::END_STREAM,
            3,
            &second,
        )
        .buf;
    let mut c = conn();
    take(&mut c);
    let ev = feed(&mut c, &input);
    assert_eq!(errors(&take(&mut c)), [rst(1, ErrorCode::PROTOCOL_ERROR)]);
    let [Event::Request {
        stream_id: 3, head, ..
    }] = &ev[..]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(
        head.headers().collect::<Vec<_>>(),
        [(&b"x-a"[..], &b"b"[..])]
    );
}

/// An extended CONNECT (RFC 8441 4) as RFC 8441 5.1's example sends it.
const WS_CONNECT: &[(&[u8], &[u8])] = &[
    (b":method", b"CONNECT"),
    (b":protocol", b"websocket"),
    (b":scheme", b"https"),
    (b":path", b"/chat"),
    (b":authority", b"server.example.com"),
    (b"sec-websocket-version", b"13"),
];

/// The server's first SETTINGS: its parameters.
fn server_settings(c: &mut Connection) -> Vec<(u16, u32)> {
    let f = take(c);
    let (h, p) = &f[0];
    assert_eq!(h.kind, kind::SETTINGS);
    frame::settings(p).collect()
}

#[test]
fn extended_connect_is_announced_and_accepted() {
    let mut c = conn();
    assert!(server_settings(&mut c).contains(&(setting::ENABLE_CONNECT_PROTOCOL, 1)));
    let ev = feed(&mut c, &Client::new().headers(1, WS_CONNECT, false).buf);
    let [Event::Request {
        stream_id: 1,
        head,
        end_stream: false,
    }] = &ev[..]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(head.method(), b"CONNECT");
    assert_eq!(head.protocol(), Some(&b"websocket"[..]));
    assert_eq!(head.path(), Some(&b"/chat"[..]));
    assert_eq!(head.scheme(), Some(&b"https"[..]));
    assert_eq!(head.authority(), Some(&b"server.example.com"[..]));
    assert_eq!(head.headers().count(), 1);
    // 200 without END_STREAM, then DATA both ways: a tunnel.
    c.send_headers(1, 200, &[], false).unwrap();
    let ev = feed(
        &mut c,
        &Client::default().data(1, b"\x81\x80abcd", false).buf,
    );
    assert!(
        matches!(&ev[..], [Event::Data { stream_id: 1, .. }]),
        "{ev:?}"
    );
    assert_eq!(c.send_data(1, b"\x81\x00", false), Ok(2));
    // An idle tunnel is not a slow request body: no minimum rate (which would reset it
    // after 5 s).
    take(&mut c);
    c.tick(t0() + Duration::from_secs(60));
    assert!(errors(&take(&mut c)).is_empty());
    assert_eq!(c.open_streams(), 1);
    // END_STREAM both ways ends it (the client's first: a half-closed tunnel still sends).
    feed(&mut c, &Client::default().data(1, b"", true).buf);
    assert_eq!(c.send_data(1, b"\x88\x00", true), Ok(2));
    assert_eq!(c.open_streams(), 0);
    assert!(errors(&take(&mut c)).is_empty());
    // The server's first: the rest of the client's side is cut short with
    // RST_STREAM(NO_ERROR) (RFC 9113 8.1), as for any request whose response is complete.
    feed(&mut c, &Client::default().headers(3, WS_CONNECT, false).buf);
    c.send_headers(3, 200, &[], false).unwrap();
    assert_eq!(c.send_data(3, b"", true), Ok(0));
    assert_eq!(errors(&take(&mut c)), [rst(3, ErrorCode::NO_ERROR)]);
    assert_eq!(c.open_streams(), 0);
}

#[test]
fn extended_connect_needs_the_setting_and_its_pseudo_headers() {
    type F = &'static [(&'static [u8], &'static [u8])];
    // Not enabled: `:protocol` is an unknown pseudo-header, and the setting is not sent.
    let mut c = Connection::new(
        Http2Limits {
            enable_connect_protocol: false,
            ..Http2Limits::default()
        },
        t0(),
    );
    assert!(!server_settings(&mut c)
        .iter()
        .any(|&(id, _)| id == setting::ENABLE_CONNECT_PROTOCOL));
    let ev = feed(&mut c, &Client::new().headers(1, WS_CONNECT, false).buf);
    assert!(ev.is_empty(), "{ev:?}");
    assert_eq!(errors(&take(&mut c)), [rst(1, ErrorCode::PROTOCOL_ERROR)]);
    // A plain CONNECT keeps its rules there.
    let ev = feed(
        &mut c,
        &Client::default()
            .headers(
                3,
                &[(b":method", b"CONNECT"), (b":authority", b"h:1")],
                false,
            )
            .buf,
    );
    assert!(matches!(&ev[..], [Event::Request { head, .. }] if head.protocol().is_none()));
    let bad: &[(&str, F)] = &[
        (
            ":protocol on GET",
            &[
                (b":method", b"GET"),
                (b":protocol", b"websocket"),
                (b":scheme", b"http"),
                (b":path", b"/"),
                (b":authority", b"x"),
            ],
        ),
        (
            "extended CONNECT without :path",
            &[
                (b":method", b"CONNECT"),
                (b":protocol", b"websocket"),
                (b":scheme", b"http"),
                (b":authority", b"x"),
            ],
        ),
        (
            "extended CONNECT without :scheme",
            &[
                (b":method", b"CONNECT"),
                (b":protocol", b"websocket"),
                (b":path", b"/"),
                (b":authority", b"x"),
            ],
        ),
        (
            "extended CONNECT without :authority",
            &[
                (b":method", b"CONNECT"),
                (b":protocol", b"websocket"),
                (b":scheme", b"http"),
                (b":path", b"/"),
            ],
        ),
        (
            "empty :protocol",
            &[
                (b":method", b"CONNECT"),
                (b":protocol", b""),
                (b":scheme", b"http"),
                (b":path", b"/"),
                (b":authority", b"x"),
            ],
        ),
        (
            ":protocol twice",
            &[
                (b":method", b"CONNECT"),
                (b":protocol", b"websocket"),
                (b":protocol", b"websocket"),
                (b":scheme", b"http"),
                (b":path", b"/"),
                (b":authority", b"x"),
            ],
        ),
    ];
    for (name, fields) in bad {
        let mut c = conn();
        let ev = feed(&mut c, &Client::new().headers(1, fields, false).buf);
        assert!(ev.is_empty(), "{name}: {ev:?}");
        let errs = errors(&take(&mut c));
        assert!(
            errs.ends_with(&[rst(1, ErrorCode::PROTOCOL_ERROR)]),
            "{name}: {errs:?}"
        );
    }
}

#[test]
fn a_client_setting_enable_connect_protocol_above_one_is_a_connection_error() {
    let mut c = conn();
    take(&mut c);
    feed(
        &mut c,
        &Client::new()
            .settings(&[(setting::ENABLE_CONNECT_PROTOCOL, 2)])
            .buf,
    );
    let errs = errors(&take(&mut c));
    assert_eq!(errs, [goaway(0, ErrorCode::PROTOCOL_ERROR)]);
}
