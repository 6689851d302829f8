//! The character classes of HTTP's ABNF (RFC 9110 5.5 and 5.6), shared by the parsers and
//! the response encoder so that every place that checks a token checks the same set.

/// `tchar` (RFC 9110 5.6.2): the bytes of a `token` (method, field name, transfer coding,
/// chunk extension name or value).
#[inline]
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Whether `s` is a `token`: one or more [`is_tchar`] bytes.
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// `qdtext` (RFC 9110 5.6.4): a byte of a quoted-string that needs no escape. Excludes `"`,
/// `\` and every control character but HTAB.
#[inline]
pub fn is_qdtext(b: u8) -> bool {
    matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..)
}

/// A byte that may follow `\` in a `quoted-pair` (RFC 9110 5.6.4): HTAB, SP, VCHAR or
/// obs-text.
#[inline]
pub fn is_quoted_pair_char(b: u8) -> bool {
    matches!(b, b'\t' | b' '..=0x7e | 0x80..)
}

/// A byte of a field value (RFC 9110 5.5: `field-vchar`, SP and HTAB): anything but the
/// control characters other than HTAB (so never CR, LF or NUL) and DEL.
#[inline]
pub fn is_field_value_char(b: u8) -> bool {
    matches!(b, b'\t' | b' '..=0x7e | 0x80..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_match_the_abnf() {
        let tchars: Vec<u8> = (0..=255u8).filter(|&b| is_tchar(b)).collect();
        assert_eq!(
            tchars,
            b"!#$%&'*+-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz|~"
        );
        assert!(is_token(b"chunked") && !is_token(b"") && !is_token(b"a b"));
        for b in 0..=255u8 {
            let ctl = b < 0x20 || b == 0x7f;
            assert_eq!(is_field_value_char(b), !ctl || b == b'\t', "{b:#x}");
            assert_eq!(is_quoted_pair_char(b), is_field_value_char(b), "{b:#x}");
            assert_eq!(
                is_qdtext(b),
                is_field_value_char(b) && b != b'"' && b != b'\\',
                "{b:#x}"
            );
        }
    }
}
