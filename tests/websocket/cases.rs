//! The WebSocket conformance table: what a client sends over a real socket to the demo's `/ws`
//! echo, and the frames the server must answer, by Autobahn TestSuite section. The server runs
//! with `ws-max-frame-size` 128 KiB and `ws-max-message-size` 256 KiB, keep-alive Pings off.
//!
//! A case ends either with a Close from the server (then the TCP connection must close), or
//! open: the runner then sends a Close 1000 and expects its echo and the TCP close.

use super::client::{binary, close, frame, raw, text};

/// What the server must send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exp {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Pong(Vec<u8>),
    /// A Close with this code (`None`: an empty Close).
    Close(Option<u16>),
}

/// What the client sends: frames written one by one (a pause between them, so they arrive in
/// separate reads), or the same compressed by the client first.
pub enum Send {
    Bytes(Vec<u8>),
    /// A text message compressed with the connection's context, RSV1 set.
    Compressed(Vec<u8>),
}

pub struct Case {
    pub name: &'static str,
    /// The Autobahn TestSuite section this case belongs to.
    pub section: &'static str,
    pub deflate: bool,
    pub send: Vec<Send>,
    pub expect: Vec<Exp>,
}

fn case(name: &'static str, section: &'static str, send: Vec<Vec<u8>>, expect: Vec<Exp>) -> Case {
    Case {
        name,
        section,
        deflate: false,
        send: send.into_iter().map(Send::Bytes).collect(),
        expect,
    }
}

fn t(s: &[u8]) -> Exp {
    Exp::Text(s.to_vec())
}

fn repeat(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

pub fn cases() -> Vec<Case> {
    let mut v = vec![
        // 1: framing, every length encoding.
        case("text empty", "1.1.1", vec![text("")], vec![t(b"")]),
        case(
            "text 125",
            "1.1.2",
            vec![frame(true, 1, &repeat(125))],
            vec![t(&repeat(125))],
        ),
        case(
            "text 126",
            "1.1.3",
            vec![frame(true, 1, &repeat(126))],
            vec![t(&repeat(126))],
        ),
        case(
            "text 65535",
            "1.1.5",
            vec![frame(true, 1, &repeat(65535))],
            vec![t(&repeat(65535))],
        ),
        case(
            "text 65536",
            "1.1.6",
            vec![frame(true, 1, &repeat(65536))],
            vec![t(&repeat(65536))],
        ),
        case(
            "binary empty",
            "1.2.1",
            vec![binary(b"")],
            vec![Exp::Binary(vec![])],
        ),
        case(
            "binary 126",
            "1.2.3",
            vec![binary(&[0xfe; 126])],
            vec![Exp::Binary(vec![0xfe; 126])],
        ),
        case(
            "binary 128K",
            "1.2.8",
            vec![binary(&vec![0x81; 128 * 1024])],
            vec![Exp::Binary(vec![0x81; 128 * 1024])],
        ),
        case(
            "two messages in one write",
            "1.1.8",
            vec![[text("one"), text("two")].concat()],
            vec![t(b"one"), t(b"two")],
        ),
        // 2: pings and pongs.
        case(
            "ping empty",
            "2.1",
            vec![frame(true, 9, b"")],
            vec![Exp::Pong(vec![])],
        ),
        case(
            "ping text",
            "2.2",
            vec![frame(true, 9, b"Hello, world!")],
            vec![Exp::Pong(b"Hello, world!".to_vec())],
        ),
        case(
            "ping binary",
            "2.3",
            vec![frame(true, 9, &[0, 0xff, 0xfe, 0xfd, 0xfc])],
            vec![Exp::Pong(vec![0, 0xff, 0xfe, 0xfd, 0xfc])],
        ),
        case(
            "ping 125",
            "2.4",
            vec![frame(true, 9, &[0xfe; 125])],
            vec![Exp::Pong(vec![0xfe; 125])],
        ),
        case(
            "ping 126",
            "2.5",
            vec![frame(true, 9, &[0xfe; 126])],
            vec![Exp::Close(Some(1002))],
        ),
        case(
            "unsolicited pong",
            "2.6",
            vec![frame(true, 10, b"x"), text("after")],
            vec![t(b"after")],
        ),
        case(
            "ten pings",
            "2.10",
            vec![(0..10)
                .flat_map(|i| frame(true, 9, format!("p{i}").as_bytes()))
                .collect()],
            (0..10)
                .map(|i| Exp::Pong(format!("p{i}").into_bytes()))
                .collect(),
        ),
        // 3: reserved bits.
        case(
            "RSV1 without deflate",
            "3.1",
            vec![raw(0xc1, b"x")],
            vec![Exp::Close(Some(1002))],
        ),
        case(
            "RSV2 after a valid message",
            "3.2",
            vec![text("ok"), raw(0xa1, b"x")],
            vec![t(b"ok"), Exp::Close(Some(1002))],
        ),
        case(
            "RSV2 after a valid message, in one read",
            "3.2",
            vec![[text("ok"), raw(0xa1, b"x")].concat()],
            vec![t(b"ok"), Exp::Close(Some(1002))],
        ),
        case(
            "RSV3 on a ping",
            "3.6",
            vec![raw(0x99, b"")],
            vec![Exp::Close(Some(1002))],
        ),
        case(
            "RSV1|RSV2|RSV3 binary",
            "3.7",
            vec![raw(0xf2, b"x")],
            vec![Exp::Close(Some(1002))],
        ),
        // 4: opcodes.
        case(
            "opcode 3",
            "4.1.1",
            vec![raw(0x83, b"")],
            vec![Exp::Close(Some(1002))],
        ),
        case(
            "opcode 4 after text",
            "4.1.2",
            vec![text("ok"), raw(0x84, b"x")],
            vec![t(b"ok"), Exp::Close(Some(1002))],
        ),
        case(
            "opcode 7",
            "4.1.5",
            vec![raw(0x87, b"")],
            vec![Exp::Close(Some(1002))],
        ),
        case(
            "opcode 0xB",
            "4.2.1",
            vec![raw(0x8b, b"")],
            vec![Exp::Close(Some(1002))],
        ),
        case(
            "opcode 0xF",
            "4.2.5",
            vec![raw(0x8f, b"x")],
            vec![Exp::Close(Some(1002))],
        ),
        // 5: fragmentation.
        case(
            "fragmented ping",
            "5.1",
            vec![frame(false, 9, b"a"), frame(true, 0, b"b")],
            vec![Exp::Close(Some(1002))],
        ),
        case(
            "fragmented pong",
            "5.2",
            vec![frame(false, 10, b"a")],
            vec![Exp::Close(Some(1002))],
        ),
        case(
            "text in two fragments",
            "5.3",
            vec![frame(false, 1, b"frag"), frame(true, 0, b"ment")],
            vec![t(b"fragment")],
        ),
        case(
            "fragments in one write",
            "5.5",
            vec![[
                frame(false, 1, b"a"),
                frame(false, 0, b"b"),
                frame(true, 0, b"c"),
            ]
            .concat()],
            vec![t(b"abc")],
        ),
        case(
            "ping between fragments",
            "5.6",
            vec![
                frame(false, 1, b"frag"),
                frame(true, 9, b"p"),
                frame(true, 0, b"ment"),
            ],
            vec![Exp::Pong(b"p".to_vec()), t(b"fragment")],
        ),
        case(
            "binary in 3 fragments with a pong between",
            "5.8",
            vec![
                frame(false, 2, &[1]),
                frame(true, 10, b""),
                frame(false, 0, &[2]),
                frame(true, 0, &[3]),
            ],
            vec![Exp::Binary(vec![1, 2, 3])],
        ),
        case(
            "continuation without a message",
            "5.9",
            vec![frame(true, 0, b"x")],
            vec![Exp::Close(Some(1002))],
        ),
        case(
            "continuation unfinished, no message",
            "5.10",
            vec![frame(false, 0, b"x")],
            vec![Exp::Close(Some(1002))],
        ),
        case(
            "new text inside a fragmented one",
            "5.18",
            vec![frame(false, 1, b"a"), frame(true, 1, b"b")],
            vec![Exp::Close(Some(1002))],
        ),
        case(
            "empty fragments",
            "5.20",
            vec![
                frame(false, 1, b""),
                frame(false, 0, b""),
                frame(true, 0, b""),
            ],
            vec![t(b"")],
        ),
        // 6: UTF-8.
        case(
            "valid UTF-8",
            "6.2.1",
            vec![text("Hello-µ@ßöäüàá-UTF-8!!")],
            vec![t("Hello-µ@ßöäüàá-UTF-8!!".as_bytes())],
        ),
        case(
            "valid UTF-8 split inside characters",
            "6.2.3",
            {
                let b = "κόσμε".as_bytes();
                vec![
                    frame(false, 1, &b[..1]),
                    frame(false, 0, &b[1..4]),
                    frame(true, 0, &b[4..]),
                ]
            },
            vec![t("κόσμε".as_bytes())],
        ),
        case(
            "invalid UTF-8 in one frame",
            "6.3.1",
            vec![frame(
                true,
                1,
                &[
                    0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed, 0xa0,
                    0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64,
                ],
            )],
            vec![Exp::Close(Some(1007))],
        ),
        case(
            "invalid sequence split across frames fails before the message ends",
            "6.4.1",
            // F4 90 is past U+10FFFF: certain at the second frame; no final frame is ever sent.
            vec![
                frame(false, 1, &[0xce, 0xba, 0xf4]),
                frame(false, 0, &[0x90, 0x80, 0x80]),
            ],
            vec![Exp::Close(Some(1007))],
        ),
        case(
            "surrogate",
            "6.3.2",
            vec![frame(true, 1, &[0xed, 0xa0, 0x80])],
            vec![Exp::Close(Some(1007))],
        ),
        case(
            "truncated at the message end",
            "6.6.1",
            vec![frame(true, 1, &[0xce])],
            vec![Exp::Close(Some(1007))],
        ),
        case(
            "overlong encoding",
            "6.8.1",
            vec![frame(true, 1, &[0xc0, 0xaf])],
            vec![Exp::Close(Some(1007))],
        ),
        case(
            "binary is not validated",
            "6.x",
            vec![binary(&[0xff, 0xfe])],
            vec![Exp::Binary(vec![0xff, 0xfe])],
        ),
        // 7: close.
        case(
            "close 1000 with reason",
            "7.1.1",
            vec![close(1000, "bye")],
            vec![Exp::Close(Some(1000))],
        ),
        case(
            "empty close",
            "7.3.1",
            vec![frame(true, 8, b"")],
            vec![Exp::Close(None)],
        ),
        case(
            "close with 1 byte",
            "7.3.2",
            vec![frame(true, 8, b"x")],
            vec![Exp::Close(Some(1002))],
        ),
        case(
            "close reason 123 bytes",
            "7.3.5",
            vec![close(1000, &"r".repeat(123))],
            vec![Exp::Close(Some(1000))],
        ),
        case(
            "close payload 126 bytes",
            "7.3.6",
            vec![close(1000, &"r".repeat(124))],
            vec![Exp::Close(Some(1002))],
        ),
        case(
            "close after text",
            "7.1.3",
            vec![text("x"), close(1000, "")],
            vec![t(b"x"), Exp::Close(Some(1000))],
        ),
        case(
            "close after text, in one read",
            "7.1.3",
            vec![[text("x"), close(1000, "")].concat()],
            vec![t(b"x"), Exp::Close(Some(1000))],
        ),
        case(
            "text after close is ignored",
            "7.1.5",
            vec![[close(1000, ""), text("ignored")].concat()],
            vec![Exp::Close(Some(1000))],
        ),
        case(
            "close mid-message",
            "7.1.6",
            vec![frame(false, 1, b"half"), close(1000, "")],
            vec![Exp::Close(Some(1000))],
        ),
        case(
            "close reason not UTF-8",
            "7.5.1",
            vec![frame(true, 8, &[0x03, 0xe8, 0xce, 0xba, 0xed, 0xa0])],
            vec![Exp::Close(Some(1007))],
        ),
    ];
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        v.push(case(
            "valid close code",
            "7.7",
            vec![close(code, "")],
            vec![Exp::Close(Some(code))],
        ));
    }
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
    ] {
        v.push(case(
            "invalid close code",
            "7.9",
            vec![close(code, "")],
            vec![Exp::Close(Some(1002))],
        ));
    }
    v.extend([
        // 9: limits (the server: 128 KiB frames, 256 KiB messages).
        case(
            "frame over the frame limit fails at its header",
            "9.1",
            vec![{
                // Only the header of a 200 KiB frame: the server must not wait for its payload.
                let mut f = vec![0x82, 0xff];
                f.extend_from_slice(&(200u64 * 1024).to_be_bytes());
                f.extend_from_slice(&[1, 2, 3, 4]);
                f
            }],
            vec![Exp::Close(Some(1009))],
        ),
        case(
            "message over the message limit in fragments",
            "9.2",
            vec![
                frame(false, 2, &vec![0; 100 * 1024]),
                frame(false, 0, &vec![0; 100 * 1024]),
                frame(true, 0, &vec![0; 100 * 1024]),
            ],
            vec![Exp::Close(Some(1009))],
        ),
        case(
            "non-minimal 16-bit length",
            "1.x (RFC 6455 5.2)",
            vec![{
                let mut f = vec![0x81, 0x80 | 126, 0, 5, 0, 0, 0, 0];
                f.extend_from_slice(b"hello");
                f
            }],
            vec![Exp::Close(Some(1002))],
        ),
        case(
            "unmasked frame",
            "1.x (RFC 6455 5.1)",
            vec![vec![0x81, 0x02, b'h', b'i']],
            vec![Exp::Close(Some(1002))],
        ),
    ]);
    // 12 and 13: permessage-deflate.
    let deflate = |name, section, send: Vec<Send>, expect| Case {
        name,
        section,
        deflate: true,
        send,
        expect,
    };
    v.extend([
        deflate(
            "compressed text echoed compressed",
            "12.1.1",
            vec![Send::Compressed(b"Hello".to_vec())],
            vec![t(b"Hello")],
        ),
        deflate(
            "context takeover across messages",
            "12.1.2",
            (0..5).map(|_| Send::Compressed(repeat(1000))).collect(),
            (0..5).map(|_| t(&repeat(1000))).collect(),
        ),
        deflate(
            "uncompressed message on a deflate connection",
            "12.1.3",
            vec![Send::Bytes(text("plain"))],
            vec![t(b"plain")],
        ),
        deflate(
            "compressed 64 KiB",
            "12.2.10",
            vec![Send::Compressed(repeat(65536))],
            vec![t(&repeat(65536))],
        ),
        deflate(
            "RFC 7692 7.2.3.1 example: compressed Hello",
            "13.1",
            vec![Send::Bytes(raw(
                0xc1,
                &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
            ))],
            vec![t(b"Hello")],
        ),
        deflate(
            "RSV1 on a continuation",
            "13.x",
            vec![
                Send::Bytes(raw(0x41, &[0xf2])),
                Send::Bytes(raw(0xc0, &[0x00])),
            ],
            vec![Exp::Close(Some(1002))],
        ),
        deflate(
            "corrupt compressed data",
            "13.x",
            vec![Send::Bytes(raw(0xc1, &[0xff, 0xff, 0xff, 0xff]))],
            vec![Exp::Close(Some(1007))],
        ),
        deflate(
            "compression bomb: 4 MiB of zeros against a 256 KiB limit",
            "9.x/13.x",
            vec![Send::Compressed(vec![0; 4 << 20])],
            vec![Exp::Close(Some(1009))],
        ),
    ]);
    v
}
