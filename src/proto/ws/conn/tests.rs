//! Connection tests: RFC 6455 examples, malformed frames with their close
//! codes, fragmentation with interleaved control frames, UTF-8 across
//! frames (Autobahn section 6 style), the close handshake (section 7
//! style), permessage-deflate and the bomb (sections 12/13 style),
//! back-pressure, and split invariance (proptest).

use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::proto::ws::deflate::{DeflateParams, Deflater, Inflater};

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame.
fn frame(fin: bool, rsv1: bool, op: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode_header(&mut out, fin, rsv1, op, payload.len() as u64);
    out[1] |= 0x80;
    out.extend_from_slice(&MASK);
    let mut p = payload.to_vec();
    frame::apply_mask(&mut p, MASK, 0);
    out.extend_from_slice(&p);
    out
}

fn text(s: &[u8]) -> Vec<u8> {
    frame(true, false, opcode::TEXT, s)
}

fn close_frame(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    frame(true, false, opcode::CLOSE, &p)
}

fn conn() -> Connection {
    Connection::new(WebSocketLimits::default(), None)
}

/// Feeds `input` in one read, presenting what `recv` left (it stops after each event) again,
/// as an engine does; returns the events.
fn feed(c: &mut Connection, input: &[u8]) -> Vec<Event> {
    let mut buf = input.to_vec();
    assert_eq!(recv_all(c, &mut buf), input.len());
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// Calls `recv` on what it has not consumed until it consumes nothing more; returns how much
/// it consumed in all.
fn recv_all(c: &mut Connection, buf: &mut [u8]) -> usize {
    let mut at = 0;
    while at < buf.len() {
        let n = c.recv(&mut buf[at..]);
        if n == 0 {
            break;
        }
        at += n;
    }
    at
}

fn msg(kind: MessageKind, data: &[u8]) -> Event {
    match kind {
        MessageKind::Text => Event::Text(String::from_utf8(data.to_vec()).expect("text")),
        MessageKind::Binary => Event::Binary(data.to_vec()),
    }
}

/// A server frame, unmasked, as the output should hold it.
fn server(op: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode_frame(&mut out, true, false, op, payload);
    out
}

#[test]
fn rfc_examples() {
    let mut c = conn();
    // 5.7: a single-frame masked text message.
    let hello = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(feed(&mut c, &hello), [msg(MessageKind::Text, b"Hello")]);
    // A fragmented text message, "Hel" + "lo", masked.
    let mut f = frame(false, false, opcode::TEXT, b"Hel");
    f.extend(frame(true, false, opcode::CONTINUATION, b"lo"));
    assert_eq!(feed(&mut c, &f), [msg(MessageKind::Text, b"Hello")]);
    // A masked Ping "Hello" is answered with an unmasked Pong "Hello".
    assert_eq!(
        feed(&mut c, &frame(true, false, opcode::PING, b"Hello")),
        [Event::Ping(b"Hello".to_vec())]
    );
    assert_eq!(c.output(), [0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    c.advance_output(7);
    assert!(c.output().is_empty());
    // 256 bytes and 64 KiB binary messages (16- and 64-bit lengths).
    let big = vec![0xAB; 65536];
    for n in [256, 65536] {
        assert_eq!(
            feed(&mut c, &frame(true, false, opcode::BINARY, &big[..n])),
            [msg(MessageKind::Binary, &big[..n])]
        );
    }
    // Unsolicited pong: reported, nothing sent.
    assert_eq!(
        feed(&mut c, &frame(true, false, opcode::PONG, b"x")),
        [Event::Pong(b"x".to_vec())]
    );
    assert!(c.output().is_empty());
    assert_eq!(c.state(), State::Open);
}

/// Malformed input, each with its error and the close code sent
/// (Autobahn sections 1-5 and 9 style).
#[test]
fn malformed_frames_fail_with_their_code() {
    use ProtocolError::*;
    let limits = WebSocketLimits {
        max_frame_size: 1000,
        max_message_size: 1500,
        ..Default::default()
    };
    let unmasked = {
        let mut f = Vec::new();
        frame::encode_frame(&mut f, true, false, opcode::TEXT, b"hi");
        f
    };
    let cases: Vec<(&str, Vec<u8>, ProtocolError, u16)> = vec![
        ("unmasked frame", unmasked, UnmaskedFrame, 1002),
        (
            "rsv1 without extension",
            frame(true, true, opcode::TEXT, b"x"),
            ReservedBits,
            1002,
        ),
        (
            "reserved opcode 3",
            frame(true, false, 3, b""),
            ReservedOpcode,
            1002,
        ),
        (
            "reserved opcode B",
            frame(true, false, 0xB, b""),
            ReservedOpcode,
            1002,
        ),
        (
            "ping of 126 bytes",
            frame(true, false, opcode::PING, &[0; 126]),
            ControlFrameTooLong,
            1002,
        ),
        (
            "fragmented ping",
            frame(false, false, opcode::PING, b""),
            FragmentedControlFrame,
            1002,
        ),
        (
            "continuation first",
            frame(true, false, opcode::CONTINUATION, b"x"),
            UnexpectedContinuation,
            1002,
        ),
        (
            "text inside a fragmented message",
            [frame(false, false, opcode::TEXT, b"a"), text(b"b")].concat(),
            ExpectedContinuation,
            1002,
        ),
        (
            "close of one byte",
            frame(true, false, opcode::CLOSE, &[3]),
            BadClosePayload,
            1002,
        ),
        (
            "close code 1005",
            close_frame(1005, b""),
            InvalidCloseCode,
            1002,
        ),
        (
            "close code 999",
            close_frame(999, b""),
            InvalidCloseCode,
            1002,
        ),
        (
            "close code 2000",
            close_frame(2000, b""),
            InvalidCloseCode,
            1002,
        ),
        (
            "close reason not UTF-8",
            close_frame(1000, &[0xCE, 0xBA, 0xFF]),
            InvalidCloseReason,
            1007,
        ),
        ("text not UTF-8", text(&[0x80]), InvalidUtf8, 1007),
        (
            "text truncated UTF-8",
            text(&[b'a', 0xE2, 0x82]),
            InvalidUtf8,
            1007,
        ),
        (
            "frame over the limit",
            frame(true, false, opcode::BINARY, &[0; 1001]),
            FrameTooLarge,
            1009,
        ),
        (
            "message over the limit",
            [
                frame(false, false, opcode::BINARY, &[0; 1000]),
                frame(true, false, opcode::CONTINUATION, &[0; 501]),
            ]
            .concat(),
            MessageTooLarge,
            1009,
        ),
    ];
    for (name, input, err, code) in cases {
        let mut c = Connection::new(limits.clone(), None);
        let mut all = input.clone();
        all.extend(text(b"after")); // never delivered
        let events = feed(&mut c, &all);
        assert_eq!(
            events.last(),
            Some(&Event::Failed(err)),
            "{name}: {events:?}"
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::Text(_) | Event::Binary(_))),
            "{name}"
        );
        assert_eq!(
            c.output(),
            server(opcode::CLOSE, &code.to_be_bytes()),
            "{name}"
        );
        assert_eq!(c.state(), State::Closed, "{name}");
        // Afterwards input is ignored.
        assert!(feed(&mut c, &text(b"more")).is_empty(), "{name}");
    }
}

#[test]
fn a_too_large_frame_fails_at_its_header() {
    let mut c = Connection::new(
        WebSocketLimits {
            max_frame_size: 10,
            ..Default::default()
        },
        None,
    );
    let f = frame(true, false, opcode::BINARY, &[0; 11]);
    // Only the header: the payload never needs to arrive.
    assert_eq!(
        feed(&mut c, &f[..6]),
        [Event::Failed(ProtocolError::FrameTooLarge)]
    );
}

/// Autobahn section 5 style: fragments with control frames in between.
#[test]
fn fragmentation_with_interleaved_control_frames() {
    let mut c = conn();
    let input = [
        frame(false, false, opcode::TEXT, b"frag"),
        frame(true, false, opcode::PING, b"p1"),
        frame(false, false, opcode::CONTINUATION, b"men"),
        frame(true, false, opcode::PONG, b""),
        frame(false, false, opcode::CONTINUATION, b""),
        frame(true, false, opcode::PING, b""),
        frame(true, false, opcode::CONTINUATION, b"ts"),
    ]
    .concat();
    assert_eq!(
        feed(&mut c, &input),
        [
            Event::Ping(b"p1".to_vec()),
            Event::Pong(vec![]),
            Event::Ping(vec![]),
            msg(MessageKind::Text, b"fragments"),
        ]
    );
    assert_eq!(
        c.output(),
        [server(opcode::PONG, b"p1"), server(opcode::PONG, b"")].concat()
    );
    // An empty message, and many one-byte fragments.
    assert_eq!(feed(&mut c, &text(b"")), [msg(MessageKind::Text, b"")]);
    let mut many = frame(false, false, opcode::BINARY, b"0");
    for d in b"12345678" {
        many.extend(frame(false, false, opcode::CONTINUATION, &[*d]));
    }
    many.extend(frame(true, false, opcode::CONTINUATION, b"9"));
    assert_eq!(
        feed(&mut c, &many),
        [msg(MessageKind::Binary, b"0123456789")]
    );
}

/// Autobahn section 6 style: UTF-8 split across frames, valid and invalid;
/// an invalid sequence fails at the frame where it becomes certain.
#[test]
fn utf8_across_frames() {
    // Valid: "κόσμε" split at every byte.
    let kosme = "κόσμε".as_bytes();
    for cut in 0..=kosme.len() {
        let mut c = conn();
        let input = [
            frame(false, false, opcode::TEXT, &kosme[..cut]),
            frame(true, false, opcode::CONTINUATION, &kosme[cut..]),
        ]
        .concat();
        assert_eq!(
            feed(&mut c, &input),
            [msg(MessageKind::Text, kosme)],
            "cut {cut}"
        );
    }
    // Invalid: F4 90 (above U+10FFFF) split over two frames fails at the
    // second frame, with the message still open (fail fast).
    let mut c = conn();
    assert!(feed(
        &mut c,
        &frame(false, false, opcode::TEXT, &[b'o', b'k', 0xF4])
    )
    .is_empty());
    assert_eq!(
        feed(&mut c, &frame(false, false, opcode::CONTINUATION, &[0x90])),
        [Event::Failed(ProtocolError::InvalidUtf8)]
    );
    assert_eq!(c.output(), server(opcode::CLOSE, &1007u16.to_be_bytes()));
    // Invalid in the middle of a frame, even before the frame's end arrives.
    let mut c = conn();
    let f = frame(
        true,
        false,
        opcode::TEXT,
        &[b'a', 0xED, 0xA0, 0x80, b'b', b'c'],
    );
    assert_eq!(
        feed(&mut c, &f[..f.len() - 2]),
        [Event::Failed(ProtocolError::InvalidUtf8)]
    );
    // A sequence truncated at the end of the message.
    let mut c = conn();
    let input = [
        frame(false, false, opcode::TEXT, b"a"),
        frame(true, false, opcode::CONTINUATION, &[0xF0, 0x90, 0x80]),
    ]
    .concat();
    assert_eq!(
        feed(&mut c, &input),
        [Event::Failed(ProtocolError::InvalidUtf8)]
    );
    // Binary messages are not validated.
    let mut c = conn();
    assert_eq!(
        feed(&mut c, &frame(true, false, opcode::BINARY, &[0xFF])),
        [msg(MessageKind::Binary, &[0xFF])]
    );
}

/// Autobahn section 7 style: the close handshake.
#[test]
fn a_message_read_with_a_close_can_still_be_answered() {
    // A message and the Close (or a frame that fails the connection) in one read: `recv` stops
    // after the message, so the application's answer goes out before the connection's.
    let mut rsv2 = text(b"x");
    rsv2[0] |= 0x20;
    for (last, code) in [(close_frame(1000, b""), 1000u16), (rsv2, 1002)] {
        let mut c = conn();
        let mut input = [text(b"ok"), last.clone()].concat();
        let first = c.recv(&mut input);
        assert_eq!(first, text(b"ok").len(), "stops after the message");
        assert_eq!(c.poll_event(), Some(msg(MessageKind::Text, b"ok")));
        assert_eq!(c.output(), b"", "nothing answered yet");
        c.send_text("ok").unwrap();
        assert_eq!(c.recv(&mut input[first..]), last.len());
        assert!(c.poll_event().is_some());
        assert_eq!(
            c.output(),
            [
                server(opcode::TEXT, b"ok"),
                server(opcode::CLOSE, &code.to_be_bytes())
            ]
            .concat()
        );
        assert_eq!(c.state(), State::Closed);
    }
}

#[test]
fn close_handshake() {
    // The client closes: the code is echoed, the state is Closed, and later
    // frames are ignored.
    let mut c = conn();
    let input = [
        close_frame(1000, b"bye"),
        text(b"late"),
        frame(true, false, opcode::PING, b""),
    ]
    .concat();
    assert_eq!(
        feed(&mut c, &input),
        [Event::Close {
            code: Some(CloseCode::NORMAL),
            reason: "bye".into()
        }]
    );
    assert_eq!(c.output(), server(opcode::CLOSE, &1000u16.to_be_bytes()));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.send_text("x"), Err(SendError::Closed));
    // An empty Close is echoed empty.
    let mut c = conn();
    assert_eq!(
        feed(&mut c, &frame(true, false, opcode::CLOSE, b"")),
        [Event::Close {
            code: None,
            reason: String::new()
        }]
    );
    assert_eq!(c.output(), server(opcode::CLOSE, b""));
    // Every valid code is accepted, 3000-4999 included, with a 123-byte reason.
    for code in [
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        let mut c = conn();
        let reason = [b'r'; 123];
        let ev = feed(&mut c, &close_frame(code, &reason));
        assert_eq!(
            ev,
            [Event::Close {
                code: Some(CloseCode(code)),
                reason: "r".repeat(123)
            }],
            "{code}"
        );
    }
    // A Close in the middle of a fragmented message ends it.
    let mut c = conn();
    let input = [
        frame(false, false, opcode::TEXT, b"half"),
        close_frame(1001, b""),
    ]
    .concat();
    assert_eq!(
        feed(&mut c, &input),
        [Event::Close {
            code: Some(CloseCode::GOING_AWAY),
            reason: String::new()
        }]
    );
    // The server closes first: CloseSent, data still delivered, no Pong,
    // then the client's Close ends it without a second Close from us.
    let mut c = conn();
    c.close(CloseCode::NORMAL, "done").unwrap();
    assert_eq!(c.state(), State::CloseSent);
    assert_eq!(c.output(), server(opcode::CLOSE, b"\x03\xe8done"));
    c.advance_output(c.output().len());
    assert_eq!(c.ping(b""), Err(SendError::Closed));
    assert_eq!(c.close(CloseCode::NORMAL, ""), Err(SendError::Closed));
    let input = [
        text(b"in flight"),
        frame(true, false, opcode::PING, b"p"),
        close_frame(1000, b""),
    ]
    .concat();
    assert_eq!(
        feed(&mut c, &input),
        [
            msg(MessageKind::Text, b"in flight"),
            Event::Ping(b"p".to_vec()),
            Event::Close {
                code: Some(CloseCode::NORMAL),
                reason: String::new()
            }
        ]
    );
    assert!(c.output().is_empty());
    assert_eq!(c.state(), State::Closed);
    // Application close arguments are checked.
    let mut c = conn();
    assert_eq!(
        c.close(CloseCode(1005), ""),
        Err(SendError::InvalidCloseCode)
    );
    assert_eq!(
        c.close(CloseCode::NORMAL, &"x".repeat(124)),
        Err(SendError::ControlTooLong)
    );
    assert_eq!(c.ping(&[0; 126]), Err(SendError::ControlTooLong));
    assert_eq!(c.state(), State::Open);
}

#[test]
fn sending_messages_and_fragments() {
    let mut c = conn();
    c.send_text("Hello").unwrap();
    assert_eq!(c.output(), [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    c.advance_output(3);
    assert_eq!(c.output(), b"ello");
    c.advance_output(100);
    c.send_fragment(MessageKind::Text, b"Hel", false).unwrap();
    assert_eq!(c.send_binary(b"x"), Err(SendError::FragmentInProgress));
    c.ping(b"in between").unwrap();
    c.send_fragment(MessageKind::Text, b"lo", true).unwrap();
    let mut want = vec![0x01, 0x03, 0x48, 0x65, 0x6c];
    want.extend(server(opcode::PING, b"in between"));
    want.extend([0x80, 0x02, 0x6c, 0x6f]);
    assert_eq!(c.output(), want);
}

#[test]
fn output_back_pressure() {
    let mut c = Connection::new(
        WebSocketLimits {
            max_output_buffer_size: 1000,
            ..Default::default()
        },
        None,
    );
    let mut sent = 0;
    while c.send_binary(&[0; 100]).is_ok() {
        sent += 1;
    }
    assert_eq!(sent, 10);
    assert_eq!(c.send_binary(b""), Err(SendError::Full));
    assert!(c.is_output_full());
    // A client that keeps pinging is not read while the output is full.
    let mut ping = frame(true, false, opcode::PING, b"p");
    assert_eq!(c.recv(&mut ping), 0);
    c.advance_output(c.output().len());
    assert_eq!(c.recv(&mut ping), ping.len());
    assert!(c.send_binary(b"ok").is_ok());
    // A close is still queued when full.
    while c.send_binary(&[0; 100]).is_ok() {}
    assert!(c.close(CloseCode::GOING_AWAY, "").is_ok());
}

#[test]
fn streaming_mode_delivers_fragments() {
    let mut c = conn();
    c.set_streaming(true);
    let input = [
        frame(false, false, opcode::TEXT, "κό".as_bytes()),
        frame(false, false, opcode::CONTINUATION, b""),
        frame(true, false, opcode::CONTINUATION, "σμε".as_bytes()),
    ]
    .concat();
    assert_eq!(
        feed(&mut c, &input),
        [
            Event::Fragment {
                kind: MessageKind::Text,
                data: "κό".as_bytes().to_vec(),
                fin: false
            },
            Event::Fragment {
                kind: MessageKind::Text,
                data: "σμε".as_bytes().to_vec(),
                fin: true
            },
        ]
    );
    // A large frame read in 16 KiB pieces comes out in pieces of 64-80 KiB.
    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let input = frame(true, false, opcode::BINARY, &big);
    let mut ev = Vec::new();
    for piece in input.chunks(16 * 1024) {
        ev.extend(feed(&mut c, piece));
    }
    assert_eq!(ev.len(), 3, "{}", ev.len());
    assert!(ev
        .iter()
        .all(|e| matches!(e, Event::Fragment { data, .. } if data.len() <= 80 * 1024)));
    let joined: Vec<u8> = ev
        .iter()
        .flat_map(|e| match e {
            Event::Fragment { data, .. } => data.clone(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(joined, big);
    assert!(matches!(ev.last(), Some(Event::Fragment { fin: true, .. })));
}

#[test]
fn keep_alive_pings_and_pong_timeout() {
    let limits = WebSocketLimits {
        keep_alive_interval: Some(Duration::from_secs(10)),
        keep_alive_timeout: Some(Duration::from_secs(3)),
        ..Default::default()
    };
    let t0 = Instant::now();
    let s = Duration::from_secs;
    let mut c = Connection::new(limits.clone(), None);
    c.tick(t0);
    c.tick(t0 + s(9));
    assert!(c.output().is_empty());
    c.tick(t0 + s(10));
    assert_eq!(c.output(), server(opcode::PING, b""));
    c.advance_output(2);
    // Answered: the next Ping comes an interval later, no timeout.
    assert_eq!(
        feed(&mut c, &frame(true, false, opcode::PONG, b"")),
        [Event::Pong(vec![])]
    );
    c.tick(t0 + s(15));
    assert!(c.output().is_empty());
    assert_eq!(c.state(), State::Open);
    c.tick(t0 + s(20));
    assert_eq!(c.output(), server(opcode::PING, b""));
    // Not answered: the connection ends 3 s after the Ping.
    c.tick(t0 + s(22));
    assert_eq!(c.state(), State::Open);
    c.tick(t0 + s(23));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.poll_event(), Some(Event::TimedOut(Timeout::Pong)));
    // Keep-alive off: nothing is ever sent.
    let mut c = Connection::new(
        WebSocketLimits {
            keep_alive_interval: None,
            ..limits
        },
        None,
    );
    c.tick(t0);
    c.tick(t0 + s(1000));
    assert!(c.output().is_empty());
}

#[test]
fn close_timeout() {
    let t0 = Instant::now();
    let mut c = conn();
    c.tick(t0);
    c.close(CloseCode::GOING_AWAY, "").unwrap();
    c.tick(t0 + Duration::from_secs(1));
    c.tick(t0 + Duration::from_secs(5));
    assert_eq!(c.state(), State::CloseSent);
    c.tick(t0 + Duration::from_secs(6));
    assert_eq!(c.state(), State::Closed);
    assert_eq!(c.poll_event(), Some(Event::TimedOut(Timeout::Close)));
    // Afterwards the client's Close is ignored.
    assert!(feed(&mut c, &close_frame(1000, b"")).is_empty());
}

fn deflate_conn(limits: WebSocketLimits) -> Connection {
    Connection::new(limits, Some(DeflateParams::default()))
}

/// A client compressor (context taken over, like a browser's).
fn client_deflater() -> Deflater {
    Deflater::new(&DeflateParams::default(), 6)
}

/// Autobahn sections 12/13 style: compressed messages both ways.
#[test]
fn permessage_deflate_both_ways() {
    // Every message compressed, the short fragments too.
    let mut c = deflate_conn(WebSocketLimits {
        compression_threshold: 0,
        ..WebSocketLimits::default()
    });
    let mut d = client_deflater();
    // RFC 7692 7.2.3.1 "Hello" as a masked client frame.
    let hello = frame(
        true,
        true,
        opcode::TEXT,
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
    );
    assert_eq!(feed(&mut c, &hello), [msg(MessageKind::Text, b"Hello")]);
    // Our own client: a compressed message split in fragments, a ping in between.
    let body = "the quick brown fox ".repeat(500);
    let mut z = Vec::new();
    d.compress(body.as_bytes(), true, &mut z);
    // The second message can refer back to the first: context takeover.
    let mut z2 = Vec::new();
    d.compress(body.as_bytes(), true, &mut z2);
    assert!(z2.len() < z.len());
    let input = [
        frame(false, true, opcode::TEXT, &z[..z.len() / 2]),
        frame(true, false, opcode::PING, b""),
        frame(true, false, opcode::CONTINUATION, &z[z.len() / 2..]),
        frame(true, true, opcode::TEXT, &z2),
        frame(true, false, opcode::BINARY, b"plain"),
    ]
    .concat();
    assert_eq!(
        feed(&mut c, &input),
        [
            Event::Ping(vec![]),
            msg(MessageKind::Text, body.as_bytes()),
            msg(MessageKind::Text, body.as_bytes()),
            msg(MessageKind::Binary, b"plain"),
        ]
    );
    c.advance_output(c.output().len());
    // Outgoing: compressed, RSV1 on the first frame only.
    c.send_text(&body).unwrap();
    c.send_fragment(MessageKind::Binary, b"abc", false).unwrap();
    c.send_fragment(MessageKind::Binary, b"def", true).unwrap();
    let out = c.output().to_vec();
    let mut inf = Inflater::new(&DeflateParams::default());
    let mut at = 0;
    let mut messages = Vec::new();
    let mut cur = Vec::new();
    while at < out.len() {
        let h = out[at];
        let len = out[at + 1] as usize;
        let (len, hl) = if len == 126 {
            (u16::from_be_bytes([out[at + 2], out[at + 3]]) as usize, 4)
        } else {
            (len, 2)
        };
        let first = h & 0x0F != 0;
        assert_eq!(h & 0x40 != 0, first, "RSV1 on first frames only");
        let mut budget = u64::MAX;
        inf.inflate(&out[at + hl..at + hl + len], &mut budget, &mut |b| {
            cur.extend_from_slice(b);
            true
        })
        .unwrap();
        if h & 0x80 != 0 {
            inf.finish_message(&mut budget, &mut |b| {
                cur.extend_from_slice(b);
                true
            })
            .unwrap();
            messages.push(std::mem::take(&mut cur));
        }
        at += hl + len;
    }
    assert_eq!(messages, [body.as_bytes().to_vec(), b"abcdef".to_vec()]);
    assert!(out.len() < body.len() / 10);
}

/// Splits server frames into (first byte, payload) pairs (payloads under 64 KiB).
fn server_frames(out: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut at = 0;
    while at < out.len() {
        let (len, hl) = match out[at + 1] {
            126 => (u16::from_be_bytes([out[at + 2], out[at + 3]]) as usize, 4),
            n => (n as usize, 2),
        };
        frames.push((out[at], out[at + hl..at + hl + len].to_vec()));
        at += hl + len;
    }
    frames
}

/// The compression policy: messages under `compression_threshold` go out as they are (RSV1
/// clear), longer ones compressed; a fragmented message is decided by its first fragment.
#[test]
fn compression_threshold_and_level() {
    let long = "the quick brown fox jumps over the lazy dog ".repeat(100);
    let mut c = deflate_conn(WebSocketLimits {
        compression_threshold: 1000,
        ..WebSocketLimits::default()
    });
    c.send_text("short").unwrap();
    c.send_text(&long[..999]).unwrap();
    c.send_text(&long[..1000]).unwrap();
    c.send_fragment(MessageKind::Binary, &[b'x'; 10], false)
        .unwrap();
    c.send_fragment(MessageKind::Binary, &[b'y'; 2000], true)
        .unwrap();
    c.send_fragment(MessageKind::Binary, &[b'x'; 2000], false)
        .unwrap();
    c.send_fragment(MessageKind::Binary, b"yz", true).unwrap();
    let frames = server_frames(c.output());
    let rsv1: Vec<bool> = frames.iter().map(|(h, _)| h & 0x40 != 0).collect();
    assert_eq!(rsv1, [false, false, true, false, false, true, false]);
    assert_eq!(frames[0].1, b"short");
    assert_eq!(frames[1].1, &long.as_bytes()[..999]);
    assert!(frames[2].1.len() < 200, "compressed: {}", frames[2].1.len());
    assert_eq!(
        frames[4].1, [b'y'; 2000],
        "a continuation of an uncompressed start"
    );
    assert!(frames[5].1.len() < 100, "compressed: {}", frames[5].1.len());

    // The default threshold is 1 KiB.
    let mut c = deflate_conn(WebSocketLimits::default());
    c.send_text(&long[..1023]).unwrap();
    c.send_text(&long[..1024]).unwrap();
    let rsv1: Vec<bool> = server_frames(c.output())
        .iter()
        .map(|(h, _)| h & 0x40 != 0)
        .collect();
    assert_eq!(rsv1, [false, true]);

    // The level is the compressor's: 0 stores (RSV1 set, longer than the text), and every
    // level inflates back to the text.
    let mut sizes = Vec::new();
    for level in [0, 1, 9] {
        let mut c = deflate_conn(WebSocketLimits {
            compression_level: level,
            ..WebSocketLimits::default()
        });
        c.send_text(&long).unwrap();
        let frames = server_frames(c.output());
        assert_eq!(frames.len(), 1);
        assert_ne!(frames[0].0 & 0x40, 0);
        let mut inf = Inflater::new(&DeflateParams::default());
        let (mut budget, mut text) = (u64::MAX, Vec::new());
        let mut sink = |b: &[u8]| {
            text.extend_from_slice(b);
            true
        };
        inf.inflate(&frames[0].1, &mut budget, &mut sink).unwrap();
        inf.finish_message(&mut budget, &mut sink).unwrap();
        assert_eq!(text, long.as_bytes(), "level {level}");
        sizes.push(frames[0].1.len());
    }
    assert!(sizes[0] > long.len(), "level 0 stores: {sizes:?}");
    assert!(sizes[1] < long.len() / 10, "level 1 compresses: {sizes:?}");
    assert!(sizes[2] <= sizes[1], "level 9 at least as small: {sizes:?}");
}

/// Receiving into a recycled buffer: the next message reuses its storage, one larger than
/// [`RECYCLE_MAX`] is not kept, and a buffer given while one is held is dropped.
#[test]
fn recycled_buffers_hold_the_next_message() {
    let mut c = conn();
    let ev = feed(&mut c, &text(b"first"));
    let [Event::Text(data)] = &ev[..] else {
        panic!("{ev:?}")
    };
    let mut buf = data.clone().into_bytes();
    buf.reserve(100);
    let ptr = buf.as_ptr();
    c.recycle(buf);
    let ev = feed(&mut c, &text(b"second"));
    let [Event::Text(data)] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert_eq!(data, "second");
    assert_eq!(data.as_ptr(), ptr, "received into the recycled buffer");
    // Too large to keep: the next message gets a buffer of its own size.
    c.recycle(Vec::with_capacity(RECYCLE_MAX + 1));
    let ev = feed(&mut c, &text(b"third"));
    let [Event::Text(data)] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert!(data.capacity() < RECYCLE_MAX, "{}", data.capacity());
    // A connection holds one buffer at most.
    c.recycle(vec![1; 10]);
    let held = Vec::with_capacity(50);
    let ptr = held.as_ptr();
    c.recycle(held);
    let ev = feed(&mut c, &text(b"fourth"));
    let [Event::Text(data)] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert_ne!(data.as_ptr(), ptr);
    assert_eq!(data, "fourth");
}

/// The compression bomb: a few KiB that inflate to 100 MiB end with 1009
/// without the message being buffered.
#[test]
fn deflate_bomb_is_refused_without_buffering() {
    let limit = 1024 * 1024;
    let mut c = deflate_conn(WebSocketLimits {
        max_message_size: limit,
        ..Default::default()
    });
    let mut z = Vec::new();
    client_deflater().compress(&vec![0u8; 100 * 1024 * 1024], true, &mut z);
    assert!(z.len() < 200 * 1024, "{}", z.len());
    let mut input = frame(true, true, opcode::BINARY, &z);
    let n = input.len();
    assert_eq!(c.recv(&mut input), n);
    assert_eq!(
        c.poll_event(),
        Some(Event::Failed(ProtocolError::MessageTooLarge))
    );
    assert_eq!(c.output(), server(opcode::CLOSE, &1009u16.to_be_bytes()));
    assert!(
        c.buf.capacity() <= 2 * limit as usize + 64 * 1024,
        "{}",
        c.buf.capacity()
    );
    // At exactly the limit, it passes.
    let mut c = deflate_conn(WebSocketLimits {
        max_message_size: limit,
        ..Default::default()
    });
    let mut z = Vec::new();
    client_deflater().compress(&vec![1u8; limit as usize], true, &mut z);
    let ev = feed(&mut c, &frame(true, true, opcode::BINARY, &z));
    assert!(matches!(&ev[..], [Event::Binary(data)] if data.len() == limit as usize));
}

#[test]
fn deflate_errors() {
    // Not DEFLATE.
    let mut c = deflate_conn(WebSocketLimits::default());
    assert_eq!(
        feed(&mut c, &frame(true, true, opcode::TEXT, &[0xFF; 8])),
        [Event::Failed(ProtocolError::BadCompressedData)]
    );
    assert_eq!(c.output(), server(opcode::CLOSE, &1007u16.to_be_bytes()));
    // RSV1 on a continuation frame.
    let mut c = deflate_conn(WebSocketLimits::default());
    let input = [
        frame(false, true, opcode::TEXT, &[0xf2]),
        frame(true, true, opcode::CONTINUATION, &[0x48]),
    ]
    .concat();
    assert_eq!(
        feed(&mut c, &input),
        [Event::Failed(ProtocolError::ReservedBits)]
    );
    // Compressed text that inflates to invalid UTF-8.
    let mut c = deflate_conn(WebSocketLimits::default());
    let mut z = Vec::new();
    client_deflater().compress(&[b'a', 0xFF], true, &mut z);
    assert_eq!(
        feed(&mut c, &frame(true, true, opcode::TEXT, &z)),
        [Event::Failed(ProtocolError::InvalidUtf8)]
    );
}

/// A conversation exercising every path, for the split property.
fn conversation() -> Vec<u8> {
    let mut z = Vec::new();
    client_deflater().compress(b"compressed compressed compressed", true, &mut z);
    [
        text(b"Hello"),
        frame(false, false, opcode::TEXT, "κό".as_bytes()),
        frame(true, false, opcode::PING, b"ping"),
        frame(true, false, opcode::CONTINUATION, "σμε".as_bytes()),
        frame(true, false, opcode::BINARY, &[9; 300]),
        frame(true, true, opcode::TEXT, &z),
        frame(true, false, opcode::PONG, b""),
        close_frame(1000, b"bye"),
    ]
    .concat()
}

fn run_split(input: &[u8], cuts: &[usize]) -> (Vec<Event>, Vec<u8>) {
    let mut c = deflate_conn(WebSocketLimits::default());
    let mut cuts: Vec<usize> = cuts.iter().map(|&x| x.min(input.len())).collect();
    cuts.sort();
    cuts.push(input.len());
    // The engine's buffer: unconsumed bytes stay and more are appended.
    let mut pending: Vec<u8> = Vec::new();
    let mut at = 0;
    for cut in cuts {
        pending.extend_from_slice(&input[at..cut]);
        at = cut;
        let n = recv_all(&mut c, &mut pending);
        pending.drain(..n);
    }
    (
        std::iter::from_fn(|| c.poll_event()).collect(),
        c.output().to_vec(),
    )
}

proptest! {
    #[test]
    fn any_split_gives_the_same_events_and_output(cuts in proptest::collection::vec(0usize..800, 0..12)) {
        let input = conversation();
        let whole = run_split(&input, &[]);
        prop_assert_eq!(whole.0.len(), 7);
        prop_assert_eq!(run_split(&input, &cuts), whole);
    }

    #[test]
    fn arbitrary_input_never_panics(input in proptest::collection::vec(any::<u8>(), 0..600),
                                    deflate in any::<bool>()) {
        let mut c = Connection::new(WebSocketLimits { max_message_size: 4096, max_frame_size: 1024, ..Default::default() },
                                    deflate.then(DeflateParams::default));
        let mut buf = input;
        let n = c.recv(&mut buf);
        prop_assert!(n <= buf.len());
        while c.poll_event().is_some() {}
    }

    #[test]
    fn arbitrary_masked_frames_never_panic(frames in proptest::collection::vec(
            (any::<bool>(), any::<bool>(), 0u8..16, proptest::collection::vec(any::<u8>(), 0..140)), 0..8)) {
        let mut c = deflate_conn(WebSocketLimits::default());
        let mut input: Vec<u8> = frames.iter().flat_map(|(fin, rsv1, op, p)| frame(*fin, *rsv1, *op, p)).collect();
        c.recv(&mut input);
        while c.poll_event().is_some() {}
    }
}
