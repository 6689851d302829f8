//! The common head's byte-level scanner: a request line and field lines that are all well
//! formed and end in CRLF, recognised in one pass with no httparse call.
//!
//! It answers only "this is a simple, valid line, and here are its parts" or "not simple":
//! `None` sends the head to the general path ([`HeadParser::parse_bounded`]), which parses with
//! httparse, applies the limits first and names every error exactly. So the scanner needs no
//! error reporting, and each of its checks only has to be *at least as strict* as the general
//! path's (a property test in `head.rs` holds it to giving the same head wherever it answers).
//!
//! What "simple" admits, byte for byte what httparse's strict mode admits with the additions
//! [`HeadParser`] makes:
//! * request line: `token SP target SP HTTP/1.x CRLF`, the target one or more bytes of
//!   `0x21..=0x7e` but `#` (httparse admits obs-text, which the target check then refuses);
//! * field line: `token ":" OWS value OWS CRLF`, the value bytes HTAB, SP, VCHAR or obs-text.
//!
//! A bare LF, a lone CR, empty lines before the request line, obs-fold and anything malformed
//! are left to the general path, as is a head not complete yet.
//!
//! [`HeadParser`]: super::HeadParser
//! [`HeadParser::parse_bounded`]: super::HeadParser

use super::super::token::{is_field_value_char, is_tchar, is_token, words};
use super::{KnownHost, Method};

/// The parts of a request line, as offsets into the buffer it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RequestLine {
    /// The method, classified.
    pub method: Method,
    /// The method is `buf[..method_end]`.
    pub method_end: usize,
    /// The target is `buf[method_end + 1..target_end]`.
    pub target_end: usize,
    /// Where the target's path ends: at its first `?`, or at `target_end` without one.
    pub path_end: usize,
    /// The minor version: `HTTP/1.0` or `HTTP/1.1`.
    pub minor: u8,
    /// Just past the line's CRLF: where the field lines start.
    pub end: usize,
}

/// One line of the header section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FieldLine {
    /// `name: value`: the name is `buf[start..name_end]`, the value (without its surrounding
    /// whitespace) `buf[value_start..value_end]`; the next line starts at `next`. `host`: what
    /// the scan found out about the line being a Host line.
    Field {
        name_end: usize,
        value_start: usize,
        value_end: usize,
        next: usize,
        host: HostLine,
    },
    /// The blank line that ends the head; the head is `buf[..end]`.
    End { end: usize },
}

/// Whether a field line is the usual Host line, as far as the scan found out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum HostLine {
    /// `Host: ` (in any case) then the value this connection's last request had, which was found
    /// valid then ([`KnownHost`]), then CRLF.
    Known,
    /// `Host: ` (in any case), and another value.
    Name,
    /// Not singled out: another name, or a Host with no SP after its colon.
    No,
}

/// `"GET "` and `"POST "`'s first four bytes as a word, for the methods most requests have.
const GET_SP: u32 = u32::from_ne_bytes(*b"GET ");
const POST: u32 = u32::from_ne_bytes(*b"POST");

/// `HTTP/1.1` and `HTTP/1.0` as words from [`words::at`].
const HTTP_1_1: u64 = u64::from_le_bytes(*b"HTTP/1.1");
const HTTP_1_0: u64 = u64::from_le_bytes(*b"HTTP/1.0");
/// CRLF as a little-endian pair of bytes.
const CRLF: u16 = u16::from_le_bytes(*b"\r\n");

/// The request line at the start of `buf`, if it is simple and complete.
#[inline]
pub(super) fn request_line(buf: &[u8]) -> Option<RequestLine> {
    let (method, method_end) = method(buf)?;
    let target_start = method_end + 1;
    let (target_end, path_end) = target(buf, target_start)?;
    // ` HTTP/1.x\r\n`: `target` stopped at the SP. One slice, so one bounds check.
    let rest: &[u8; 10] = buf.get(target_end + 1..)?.first_chunk()?;
    let [v0, v1, v2, v3, v4, v5, v6, v7, cr, lf] = *rest;
    let minor = match u64::from_le_bytes([v0, v1, v2, v3, v4, v5, v6, v7]) {
        HTTP_1_1 => 1,
        HTTP_1_0 => 0,
        _ => return None,
    };
    if u16::from_le_bytes([cr, lf]) != CRLF {
        return None;
    }
    Some(RequestLine {
        method,
        method_end,
        target_end,
        path_end,
        minor,
        end: target_end + 11,
    })
}

/// The method token at the start of `buf`, and where it ends (at its SP).
#[inline]
fn method(buf: &[u8]) -> Option<(Method, usize)> {
    let first: [u8; 4] = buf.get(..4)?.try_into().ok()?;
    let first = u32::from_ne_bytes(first);
    if first == GET_SP {
        return Some((Method::Get, 3));
    }
    if first == POST && buf.get(4) == Some(&b' ') {
        return Some((Method::Post, 4));
    }
    let end = buf.iter().position(|&b| !is_tchar(b))?;
    (end > 0 && buf[end] == b' ').then(|| (Method::from_bytes(&buf[..end]), end))
}

/// Where the target starting at `start` ends (at its SP), and where its path does (at its first
/// `?`, or where the target does). A word at a time: the bytes of a word that are not plain (a
/// control, SP, `#`, DEL, a byte above `0x7e`, or the first `?`) are found from the word's
/// masks, not byte by byte.
#[inline]
fn target(buf: &[u8], start: usize) -> Option<(usize, usize)> {
    let (whole, rest) = words::split(buf.get(start..)?);
    let mut i = start;
    // The first `?`, if any yet: `usize::MAX` until then.
    let mut question = usize::MAX;
    // The byte a word is searched for besides `#`: `?` until the first is found, then `#` again
    // (so no branch decides whether to look for a `?`).
    let mut also = words::splat(b'?');
    for w in whole {
        let mut special = words::outside(w, 0x21, 0x7e) | words::eq_either(w, b'#', also);
        // Each flagged byte in turn (the masks are exact): the lowest, then the next.
        while special != 0 {
            let at = words::first(special);
            // The byte, from the word rather than from `buf` again.
            match (w >> (8 * at)) as u8 {
                b' ' if i + at > start => return Some((i + at, question.min(i + at))),
                b'?' => {
                    question = question.min(i + at);
                    also = words::splat(b'#');
                    special &= special - 1;
                }
                _ => return None,
            }
        }
        i += 8;
    }
    // Fewer than eight bytes left: the head is not complete (a request line is followed by
    // at least its version and two CRLFs), unless it ends here.
    for &b in rest {
        match b {
            b' ' if i > start => return Some((i, question.min(i))),
            b'?' => question = question.min(i),
            b'#' => return None,
            0x21..=0x7e => {}
            _ => return None,
        }
        i += 1;
    }
    None
}

/// `host: ` as the first six bytes of a word from [`words::at`], the name lowercase.
const HOST_COLON_SP: u64 = u64::from_le_bytes(*b"host: \0\0");
/// The first six bytes of a word from [`words::at`].
const FIRST_SIX: u64 = 0x0000_ffff_ffff_ffff;
/// The `0x20` bit of a word's first four bytes: set, it lowercases a letter.
const FOLD_FIRST_FOUR: u64 = 0x2020_2020;

/// The line of the header section starting at `at`, if it is simple and complete. `known`: the
/// Host value this connection's last request had.
#[inline]
pub(super) fn field_line(buf: &[u8], at: usize, known: &KnownHost) -> Option<FieldLine> {
    let rest = buf.get(at..)?;
    if rest.first() == Some(&b'\r') {
        return (rest.get(1) == Some(&b'\n')).then_some(FieldLine::End { end: at + 2 });
    }
    let (name_end, mut value_start, host) = match words::at(rest, 0) {
        // `Host: `, in any case, compared in one word: the name's four bytes folded to lowercase
        // can only be `host` if each is one of that letter's two cases, so the compare proves
        // the name a token and finds its `:` with no pass over it (the colon and the SP are
        // compared unfolded: a folded `:` could have been a control).
        Some(w) if (w | FOLD_FIRST_FOUR) & FIRST_SIX == HOST_COLON_SP => {
            // The value this connection's requests have, and CRLF: its bytes need no scan.
            if let Some(len) = known.line_at(buf, at + 6) {
                return Some(FieldLine::Field {
                    name_end: at + 4,
                    value_start: at + 6,
                    value_end: at + 6 + len,
                    next: at + 8 + len,
                    host: HostLine::Known,
                });
            }
            (at + 4, at + 6, HostLine::Name)
        }
        _ => {
            let name_end = at + colon(rest)?;
            // Everything before the first `:` must be the name: a token.
            if !is_token(&buf[at..name_end]) {
                return None;
            }
            // Usually one SP follows the colon: skipped here (`get`: the colon may end `buf`).
            let sp = buf.get(name_end + 1) == Some(&b' ');
            (name_end, name_end + 1 + usize::from(sp), HostLine::No)
        }
    };
    // Leading OWS: usually one SP, skipped already. A byte above SP starts the value; SP and
    // HTAB are skipped (CR, an empty value, or a control is the value scan's to judge).
    if buf.get(value_start).is_some_and(|&b| b <= b' ') {
        while let Some(b' ' | b'\t') = buf.get(value_start) {
            value_start += 1;
        }
    }
    let cr = value_end(buf, value_start)?;
    if buf.get(cr + 1) != Some(&b'\n') {
        return None;
    }
    // Trailing OWS: the byte before the CR is the colon, a skipped SP or HTAB, or a value byte,
    // and of those only SP and HTAB are not above SP, so one compare tells whether there is any.
    let mut value_end = cr;
    if buf[cr - 1] <= b' ' {
        while value_end > value_start && matches!(buf[value_end - 1], b' ' | b'\t') {
            value_end -= 1;
        }
    }
    Some(FieldLine::Field {
        name_end,
        value_start,
        value_end,
        next: cr + 2,
        host,
    })
}

/// Where the first `:` of `rest` is, a word at a time.
#[inline]
fn colon(rest: &[u8]) -> Option<usize> {
    let (whole, tail) = words::split(rest);
    let mut i = 0;
    for w in whole {
        let found = words::has_byte(w, b':');
        if found != 0 {
            return Some(i + words::first(found));
        }
        i += 8;
    }
    tail.iter().position(|&b| b == b':').map(|p| i + p)
}

/// Where the field value starting at `start` ends: at the CR of its line, after only value
/// bytes. A word at a time: the control bytes and DELs of a word are found from its masks; an
/// HTAB is a value byte, and the next flagged byte of the word is looked at.
#[inline]
fn value_end(buf: &[u8], start: usize) -> Option<usize> {
    let (whole, rest) = words::split(buf.get(start..)?);
    let mut i = start;
    for w in whole {
        let mut special = words::control(w);
        while special != 0 {
            let at = words::first(special);
            // The byte, from the word rather than from `buf` again.
            match (w >> (8 * at)) as u8 {
                b'\r' => return Some(i + at),
                b'\t' => special &= special - 1,
                _ => return None,
            }
        }
        i += 8;
    }
    for &b in rest {
        if b == b'\r' {
            return Some(i);
        }
        if !is_field_value_char(b) {
            return None;
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let line = |s: &[u8]| request_line(s);
        assert_eq!(
            line(b"GET /a?b?c HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(RequestLine {
                method: Method::Get,
                method_end: 3,
                target_end: 10,
                path_end: 6,
                minor: 1,
                end: 21,
            })
        );
        let post = line(b"POST /submit/form/long/path HTTP/1.0\r\n").unwrap();
        assert_eq!(
            (post.method, post.method_end, post.minor),
            (Method::Post, 4, 0)
        );
        assert_eq!(post.path_end, post.target_end);
        let other = line(b"PROPFIND * HTTP/1.1\r\n").unwrap();
        assert_eq!(
            (other.method, other.method_end, other.target_end),
            (Method::Other, 8, 10)
        );
        let put = line(b"PUT /x HTTP/1.1\r\n").unwrap();
        assert_eq!((put.method, put.method_end), (Method::Put, 3));
        assert_eq!(
            line(b"POSTS /x HTTP/1.1\r\n").unwrap().method,
            Method::Other
        );
        for not_simple in [
            &b"GET /a HTTP/1.1\r"[..],         // not complete
            b"GET /a HTTP/1.1\n",              // bare LF
            b"GET /a HTTP/1.2\r\n",            // another version
            b"GET /a HTTP/1.1 \r\n",           // trailing SP
            b"GET  /a HTTP/1.1\r\n",           // two SPs
            b"GET /a#f HTTP/1.1\r\n",          // a fragment
            b"GET /\x80 HTTP/1.1\r\n",         // obs-text
            b"GET /a\x7fb HTTP/1.1\r\n",       // DEL
            b"GET /abcdefgh\tij HTTP/1.1\r\n", // HTAB after a whole word
            b"G(T / HTTP/1.1\r\n",             // not a token
            b" / HTTP/1.1\r\n",                // no method
            b"\r\nGET / HTTP/1.1\r\n",         // an empty line first
            b"GET HTTP/1.1\r\n",               // no target
        ] {
            assert_eq!(
                line(not_simple),
                None,
                "{:?}",
                String::from_utf8_lossy(not_simple)
            );
        }
    }

    #[test]
    fn field_lines() {
        let buf = b"Host: example.com \t\r\nX-Empty:\r\nX-Sp:   \r\nA: b\tc\x80\r\nhOsT:  \t a\r\n\
            Host:b\r\nHost: \r\nHosts: c\r\nHOST: 127.0.0.1:8080\r\n\r\n";
        let mut known = KnownHost::default();
        known.remember(b"127.0.0.1:8080");
        let mut at = 0;
        for (name, value, host, what) in [
            (
                &b"Host"[..],
                &b"example.com"[..],
                HostLine::Name,
                "trailing whitespace trimmed",
            ),
            (b"X-Empty", b"", HostLine::No, "an empty field"),
            (b"X-Sp", b"", HostLine::No, "a blank field"),
            (
                b"A",
                b"b\tc\x80",
                HostLine::No,
                "a field with HTAB and obs-text",
            ),
            (b"hOsT", b"a", HostLine::Name, "Host with more whitespace"),
            (
                b"Host",
                b"b",
                HostLine::No,
                "Host with no SP, not singled out",
            ),
            (b"Host", b"", HostLine::Name, "an empty Host"),
            (b"Hosts", b"c", HostLine::No, "a longer name"),
            (
                b"HOST",
                b"127.0.0.1:8080",
                HostLine::Known,
                "the known Host",
            ),
        ] {
            let Some(FieldLine::Field {
                name_end,
                value_start,
                value_end,
                next,
                host: singled_out,
            }) = field_line(buf, at, &known)
            else {
                panic!("{what}: not a field line");
            };
            assert_eq!(&buf[at..name_end], name, "{what}");
            assert_eq!(&buf[value_start..value_end], value, "{what}");
            assert_eq!(singled_out, host, "{what}");
            at = next;
        }
        assert_eq!(
            field_line(buf, at, &known),
            Some(FieldLine::End { end: buf.len() })
        );
        for not_simple in [
            &b"Host : x\r\n"[..],      // SP before the colon
            b" Host: x\r\n",           // obs-fold
            b"Host: x\n",              // bare LF
            b"Host: x\ry\r\n",         // lone CR
            b"Host: a\x00b\r\n",       // NUL
            b"Host: abcdefgh\x7f\r\n", // DEL
            b"Ho(st: x\r\n",           // not a token
            b": x\r\n",                // no name
            b"Host: x\r",              // not complete
            b"\r",                     // not complete
            b"\n",                     // bare LF end
        ] {
            assert_eq!(
                field_line(not_simple, 0, &known),
                None,
                "{:?}",
                String::from_utf8_lossy(not_simple)
            );
        }
    }

    /// The one-word `Host: ` compare singles out a line exactly when its name is `host` in some
    /// case and a SP follows the colon, and the known value's compare exactly when the value and
    /// CRLF follow: every byte in each place of the line, the rest kept.
    #[test]
    fn host_compare_is_exact() {
        let mut known = KnownHost::default();
        known.remember(b"example.com");
        for i in 0..b"Host: example.com\r\n".len() {
            for b in 0..=255u8 {
                let mut line = b"Host: example.com\r\n".to_vec();
                line[i] = b;
                let name = line[..4].eq_ignore_ascii_case(b"host") && line[4..6] == *b": ";
                let expected = if !name {
                    HostLine::No
                } else if line[6..] == *b"example.com\r\n" {
                    HostLine::Known
                } else {
                    HostLine::Name
                };
                let Some(FieldLine::Field { host, .. }) = field_line(&line, 0, &known) else {
                    // Not a simple line: a name that is not a token, a control in the value,
                    // or no CRLF.
                    let control = (b < 0x20 && b != b'\t') || b == 0x7f;
                    assert!(!name || control || i >= line.len() - 2, "{line:?}");
                    continue;
                };
                assert_eq!(host, expected, "{:?}", String::from_utf8_lossy(&line));
            }
        }
        // Another value, or the known one with more after it, or none remembered.
        for (line, known_value) in [
            (&b"Host: example.co\r\n"[..], &b"example.com"[..]),
            (b"Host: example.comm\r\n", b"example.com"),
            (b"Host: example.com \r\n", b"example.com"),
            (b"Host: example.com\r\n", b""),
        ] {
            let mut known = KnownHost::default();
            known.remember(known_value);
            let Some(FieldLine::Field { host, .. }) = field_line(line, 0, &known) else {
                panic!("{:?}", String::from_utf8_lossy(line));
            };
            assert_eq!(host, HostLine::Name, "{:?}", String::from_utf8_lossy(line));
        }
    }
}
