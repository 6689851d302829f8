//! Response headers known when the program is built: checked once, when they are made, and
//! kept in their wire form (the `http` crate's `HeaderValue::from_static`, Kestrel's
//! pre-encoded known headers).

use std::fmt;

use super::encode::Special;
use super::token::{is_field_value_char_const, is_tchar_const};

/// A response header whose name and value are fixed, kept as the line it is on the wire
/// (`name: value`, without the CRLF).
///
/// It is checked when it is made, by a `const fn`: made in a `const` item, a name that is not a
/// token or a value with a control character is a compile-time error. Setting one
/// ([`ResponseHeaders::set_static`](super::ResponseHeaders::set_static),
/// [`HttpContext::set_static_header`](crate::http::HttpContext::set_static_header)) then checks
/// nothing and copies one line, where [`set`](super::ResponseHeaders::set) checks the name and
/// value of every call and copies them in four pieces.
///
/// ```
/// use peregrine::http::StaticHeader;
///
/// const TEXT_PLAIN: StaticHeader = StaticHeader::new("content-type: text/plain");
/// assert_eq!(TEXT_PLAIN.name(), "content-type");
/// assert_eq!(TEXT_PLAIN.value(), "text/plain");
/// ```
///
/// ```compile_fail
/// use peregrine::http::StaticHeader;
///
/// // A CR in the value would split the response: the build fails.
/// const SPLIT: StaticHeader = StaticHeader::new("x-a: 1\r\nx-b: 2");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StaticHeader {
    line: &'static str,
    /// The name is `line[..name_len]`.
    name_len: usize,
    /// The value is `line[value_at..]`.
    value_at: usize,
    /// What the name is to the encoder ([`Special`]).
    special: u8,
}

impl StaticHeader {
    /// The header `line`, written `name: value` (or `name:value`): the name a token (RFC 9110
    /// 5.6.2), the value field content (RFC 9110 5.5: visible characters, spaces and tabs
    /// between them, no control character, no leading or trailing whitespace; it may be empty).
    ///
    /// # Panics
    ///
    /// If `line` is not such a header; in a `const` item, the build fails instead.
    pub const fn new(line: &'static str) -> StaticHeader {
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() && bytes[i] != b':' {
            if !is_tchar_const(bytes[i]) {
                panic!("StaticHeader: the name is not a token (RFC 9110 5.6.2)");
            }
            i += 1;
        }
        if i == 0 || i == bytes.len() {
            panic!("StaticHeader: expected `name: value`");
        }
        let name_len = i;
        i += 1;
        if i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let value_at = i;
        while i < bytes.len() {
            if !is_field_value_char_const(bytes[i]) {
                panic!("StaticHeader: the value has a control character (RFC 9110 5.5)");
            }
            i += 1;
        }
        let value_len = bytes.len() - value_at;
        if value_len > 0
            && (is_whitespace(bytes[value_at]) || is_whitespace(bytes[bytes.len() - 1]))
        {
            panic!("StaticHeader: the value starts or ends with whitespace (RFC 9110 5.5)");
        }
        StaticHeader {
            line,
            name_len,
            value_at,
            special: Special::of(bytes.split_at(name_len).0),
        }
    }

    /// The header's name, as written.
    pub const fn name(&self) -> &'static str {
        self.line.split_at(self.name_len).0
    }

    /// The header's value.
    pub const fn value(&self) -> &'static str {
        self.line.split_at(self.value_at).1
    }

    /// The line, `name: value` as given, where its name ends and its value starts, and what
    /// its name is to the encoder.
    pub(super) fn line(&self) -> (&'static [u8], usize, usize, u8) {
        (
            self.line.as_bytes(),
            self.name_len,
            self.value_at,
            self.special,
        )
    }
}

const fn is_whitespace(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

impl fmt::Debug for StaticHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StaticHeader").field(&self.line).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::StaticHeader;

    #[test]
    fn splits_the_name_and_the_value() {
        for (line, name, value) in [
            ("content-type: text/plain", "content-type", "text/plain"),
            ("Cache-Control:no-store", "Cache-Control", "no-store"),
            ("x-empty:", "x-empty", ""),
            ("x-empty: ", "x-empty", ""),
            ("x-inner: a \t b", "x-inner", "a \t b"),
            ("x-obs-text: caf\u{e9}", "x-obs-text", "caf\u{e9}"),
        ] {
            let h = StaticHeader::new(line);
            assert_eq!((h.name(), h.value()), (name, value), "{line:?}");
        }
    }

    #[test]
    fn rejects_what_would_not_be_a_header() {
        for line in [
            "",
            "no-colon",
            ": no name",
            "bad name: v",
            "bad\"name: v",
            "x: a\r\nx-injected: b",
            "x: a\nb",
            "x: nul\0",
            "x: del\x7f",
            "x:  leading space",
            "x: \tleading tab",
            "x: trailing ",
        ] {
            let made = std::panic::catch_unwind(|| StaticHeader::new(line));
            assert!(made.is_err(), "{line:?} was accepted");
        }
    }
}
