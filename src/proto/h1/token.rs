//! The character classes of HTTP's ABNF (RFC 9110 5.5 and 5.6), shared by the parsers and
//! the response encoder so that every place that checks a token checks the same set.

const TCHAR: u8 = 1;
const QDTEXT: u8 = 2;
const QUOTED_PAIR: u8 = 4;
const FIELD_VALUE: u8 = 8;
const REG_NAME: u8 = 16;
const IP_LITERAL: u8 = 32;

/// Each byte's classes, built at compile time so that a check is one load and one test (the
/// parsers run these over every byte of names and values).
static CLASSES: [u8; 256] = CLASS_TABLE;

/// The table behind [`CLASSES`], as a constant so that `const fn`s can read it too.
const CLASS_TABLE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if b.is_ascii_alphanumeric()
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
        {
            c |= TCHAR;
        }
        // HTAB, SP, VCHAR and obs-text: no control but HTAB, no DEL.
        if matches!(b, b'\t' | b' '..=0x7e | 0x80..=0xff) {
            c |= QUOTED_PAIR | FIELD_VALUE;
            if b != b'"' && b != b'\\' {
                c |= QDTEXT;
            }
        }
        // RFC 3986 2.2, 2.3: unreserved / sub-delims.
        let uri_char = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        if uri_char || b == b'%' {
            c |= REG_NAME;
        }
        if uri_char || b == b':' {
            c |= IP_LITERAL;
        }
        table[i] = c;
        i += 1;
    }
    table
};

/// `tchar` (RFC 9110 5.6.2): the bytes of a `token` (method, field name, transfer coding,
/// chunk extension name or value).
#[inline]
pub fn is_tchar(b: u8) -> bool {
    CLASSES[usize::from(b)] & TCHAR != 0
}

/// [`is_tchar`] for `const` code (a check made when the program is compiled).
pub(super) const fn is_tchar_const(b: u8) -> bool {
    CLASS_TABLE[b as usize] & TCHAR != 0
}

/// [`is_field_value_char`] for `const` code.
pub(super) const fn is_field_value_char_const(b: u8) -> bool {
    CLASS_TABLE[b as usize] & FIELD_VALUE != 0
}

/// Whether `s` is a `token`: one or more [`is_tchar`] bytes.
///
/// Without a branch per byte (the classes of every byte ANDed together): tokens are short
/// (header names, methods, codings), so reading all of one costs less than deciding after each
/// byte whether to go on.
#[inline]
pub fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .fold(TCHAR, |all, &b| all & CLASSES[usize::from(b)])
            != 0
}

/// Whether the token `name` is `lower` (lowercase letters, digits and `-`) ignoring ASCII case,
/// four or eight bytes at a time: setting each byte's `0x20` bit lowercases a letter and maps
/// no other `tchar` onto a lowercase letter, a digit or `-` (only controls would), so for a
/// token the folded compare is exact. For the field names the parsers look for.
#[inline]
pub fn token_eq_lower(name: &[u8], lower: &[u8]) -> bool {
    debug_assert!(name.is_empty() || is_token(name));
    folded_eq(name, lower)
}

/// [`token_eq_lower`] for a field value (the bytes a parser admits in one: HTAB, SP, VCHAR and
/// obs-text): none of those but the letters maps onto a lowercase letter, a digit or `-` with
/// its `0x20` bit set (SP onto SP, HTAB onto `)`), so the folded compare is exact here too. For
/// the usual one-token values, `keep-alive` and `close`.
#[inline]
pub fn value_eq_lower(value: &[u8], lower: &[u8]) -> bool {
    // What the compare needs: no control but HTAB (CR would fold onto `-`, DLE onto `0`).
    debug_assert!(value.iter().all(|&b| b >= 0x20 || b == b'\t'));
    folded_eq(value, lower)
}

/// Whether `name` with every byte's `0x20` bit set is `lower`, four or eight bytes at a time
/// (exact for the inputs of [`token_eq_lower`] and [`value_eq_lower`]).
#[inline]
fn folded_eq(name: &[u8], lower: &[u8]) -> bool {
    debug_assert!(lower
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-'));
    let n = name.len();
    if n != lower.len() {
        return false;
    }
    let four = |s: &[u8], i: usize| u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
    // Compared as `Option`s: a word past either end (none is read) could never be equal.
    let eight = |s: &[u8], i: usize| words::at(s, i);
    let folded = |s: &[u8], i: usize| words::at(s, i).map(|w| w | FOLD8);
    const FOLD4: u32 = 0x2020_2020;
    const FOLD8: u64 = 0x2020_2020_2020_2020;
    match n {
        0..=3 => name.eq_ignore_ascii_case(lower),
        // The first and the last four bytes (overlapping for five to seven).
        4..=7 => {
            four(name, 0) | FOLD4 == four(lower, 0)
                && four(name, n - 4) | FOLD4 == four(lower, n - 4)
        }
        _ => {
            let mut i = 0;
            while i + 8 < n {
                if folded(name, i) != eight(lower, i) {
                    return false;
                }
                i += 8;
            }
            folded(name, n - 8) == eight(lower, n - 8)
        }
    }
}

/// `qdtext` (RFC 9110 5.6.4): a byte of a quoted-string that needs no escape. Excludes `"`,
/// `\` and every control character but HTAB.
#[inline]
pub fn is_qdtext(b: u8) -> bool {
    CLASSES[usize::from(b)] & QDTEXT != 0
}

/// A byte that may follow `\` in a `quoted-pair` (RFC 9110 5.6.4): HTAB, SP, VCHAR or
/// obs-text.
#[inline]
pub fn is_quoted_pair_char(b: u8) -> bool {
    CLASSES[usize::from(b)] & QUOTED_PAIR != 0
}

/// A byte of a field value (RFC 9110 5.5: `field-vchar`, SP and HTAB): anything but the
/// control characters other than HTAB (so never CR, LF or NUL) and DEL.
#[inline]
pub fn is_field_value_char(b: u8) -> bool {
    CLASSES[usize::from(b)] & FIELD_VALUE != 0
}

/// A byte of a `reg-name` host (RFC 3986 3.2.2): unreserved, sub-delims, or the `%` of a
/// pct-encoding (whose escapes are the application's concern).
#[inline]
pub fn is_reg_name_char(b: u8) -> bool {
    CLASSES[usize::from(b)] & REG_NAME != 0
}

/// A byte inside the brackets of an IP-literal (RFC 3986 3.2.2: IPv6address or IPvFuture):
/// unreserved, sub-delims or `:`.
#[inline]
pub fn is_ip_literal_char(b: u8) -> bool {
    CLASSES[usize::from(b)] & IP_LITERAL != 0
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
        // Every byte each compare may be given (a name's tchars; a value's HTAB, SP, VCHAR and
        // obs-text), in every position of every word it is used for: only the letter's own two
        // cases match.
        let value_bytes: Vec<u8> = (0..=255u8).filter(|&b| b >= 0x20 || b == b'\t').collect();
        let names: &[&[u8]] = &[
            b"te",
            b"host",
            b"expect",
            b"connection",
            b"content-length",
            b"transfer-encoding",
        ];
        let values: &[&[u8]] = &[b"keep-alive", b"close"];
        type FoldedEq = fn(&[u8], &[u8]) -> bool;
        let compares = [
            (token_eq_lower as FoldedEq, &tchars[..], names),
            (value_eq_lower, &value_bytes[..], values),
        ];
        for (eq, bytes, words) in compares {
            for &lower in words {
                let upper = lower.to_ascii_uppercase();
                assert!(eq(lower, lower) && eq(&upper, lower));
                assert!(!eq(&lower[1..], lower));
                for i in 0..lower.len() {
                    for &b in bytes {
                        let mut input = lower.to_vec();
                        input[i] = b;
                        assert_eq!(
                            eq(&input, lower),
                            b.to_ascii_lowercase() == lower[i],
                            "{:?} vs {:?}",
                            String::from_utf8_lossy(&input),
                            String::from_utf8_lossy(lower)
                        );
                    }
                }
            }
        }
        // The exact word masks, for every byte in every place of a word whose other bytes are
        // each of a few neighbours (one that is flagged too, to catch a borrow or a carry).
        type Mask = fn(u64) -> u64;
        type Flagged = fn(u8) -> bool;
        let masks: [(Mask, Flagged, &str); 5] = [
            (
                |w| words::outside(w, 0x21, 0x7e),
                |b| !(0x21..=0x7e).contains(&b),
                "outside 21..=7e",
            ),
            (
                |w| words::outside(w, 0x30, 0x39),
                |b| !b.is_ascii_digit(),
                "outside 30..=39",
            ),
            (
                |w| words::eq_either(w, b'#', words::splat(b'?')),
                |b| b == b'#' || b == b'?',
                "# or ?",
            ),
            (
                |w| words::eq_either(w, b'#', words::splat(b'#')),
                |b| b == b'#',
                "# alone",
            ),
            (words::control, |b| b < 0x20 || b == 0x7f, "control or DEL"),
        ];
        for (mask, flagged, what) in masks {
            for place in 0..8 {
                for b in 0..=255u8 {
                    for other in [b'a', 0x00, 0x7f, 0x80, 0xff, b'#', b'?', b' ', b'0'] {
                        let mut bytes = [other; 8];
                        bytes[place] = b;
                        let got = mask(u64::from_le_bytes(bytes));
                        let want = bytes
                            .iter()
                            .enumerate()
                            .filter(|&(_, &b)| flagged(b))
                            .fold(0u64, |m, (i, _)| m | 0x80 << (8 * i));
                        assert_eq!(got, want, "{what}: {bytes:x?}");
                    }
                }
            }
        }
        let unreserved_sub_delims: Vec<u8> = (0..=255u8)
            .filter(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(b))
            .collect();
        for b in 0..=255u8 {
            let uri = unreserved_sub_delims.contains(&b);
            assert_eq!(is_reg_name_char(b), uri || b == b'%', "{b:#x}");
            assert_eq!(is_ip_literal_char(b), uri || b == b':', "{b:#x}");
        }
        for b in 0..=255u8 {
            let ctl = b < 0x20 || b == 0x7f;
            assert_eq!(
                is_qdtext(b),
                matches!(b, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..),
                "{b:#x}"
            );
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

/// Eight bytes at a time: whether a word holds a given byte, for scans that skip the bytes
/// nothing is wrong with a word at a time and look at single bytes only where a word has a
/// candidate.
pub(super) mod words {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    /// The high bit of every byte.
    pub(in super::super) const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);

    /// Nonzero exactly when some byte of `word` is `b` (the "has a zero byte" test of Hacker's
    /// Delight 6-1 on `word` XORed with `b` in every byte; exact as to whether, not where).
    #[inline]
    pub(in super::super) fn has_byte(word: u64, b: u8) -> u64 {
        let x = word ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGH
    }

    /// The high bit of each byte of `word` outside `lo..=hi` (`1 <= lo <= hi <= 0x7e`), and of
    /// no other: exact for every byte, as no byte's sum carries into the next (each is taken
    /// without its high bit, at most `0x7f`, and a byte with its high bit set is outside).
    #[inline]
    pub(in super::super) fn outside(word: u64, lo: u8, hi: u8) -> u64 {
        debug_assert!(1 <= lo && lo <= hi && hi <= 0x7e);
        let low = word & !HIGH;
        // High bit set where `low >= lo`, and where `low > hi`.
        let from_lo = low + ONES * u64::from(0x80 - lo);
        let above_hi = low + ONES * u64::from(0x7f - hi);
        (!from_lo | above_hi | word) & HIGH
    }

    /// `b` in every byte of a word, for [`eq_either`].
    #[inline]
    pub(in super::super) const fn splat(b: u8) -> u64 {
        ONES * b as u64
    }

    /// The high bit of each byte of `word` that is `a` or the byte [`splat`] in `b` (both below
    /// `0x80`), and of no other: exact for every byte, like [`outside`]. (`b` as a word, for a
    /// loop that changes it: no multiply a step.)
    #[inline]
    pub(in super::super) fn eq_either(word: u64, a: u8, b: u64) -> u64 {
        debug_assert!(a < 0x80 && b & HIGH == 0 && b == splat(b as u8));
        let low = word & !HIGH;
        // High bit set where the byte differs from `a` (from `b`) in its low seven bits.
        let not_a = (low ^ (ONES * u64::from(a))) + !HIGH;
        let not_b = (low ^ b) + !HIGH;
        !((not_a & not_b) | word) & HIGH
    }

    /// The high bit of each byte of `word` that is a control (below SP) or DEL, and of no other
    /// (exact for every byte, like [`outside`]): what may not be in a field value, HTAB aside.
    #[inline]
    pub(in super::super) fn control(word: u64) -> u64 {
        let low = word & !HIGH;
        // High bit set where `low >= 0x20`, and where `low == 0x7f`.
        let from_sp = low + ONES * 0x60;
        let del = low + ONES;
        (!from_sp | del) & !word & HIGH
    }

    /// The eight bytes of `bytes` from `at`, as a little-endian word (the first byte lowest,
    /// whatever the machine), if there are eight: the lowest byte a `has_*` mask flags is then
    /// the first such byte in memory ([`first`]).
    #[inline]
    pub(in super::super) fn at(bytes: &[u8], at: usize) -> Option<u64> {
        // From `at`, then its first eight: two compares, with no sum that could overflow.
        Some(u64::from_le_bytes(*bytes.get(at..)?.first_chunk()?))
    }

    /// The index in its word (from [`at`]) of the first byte a nonzero mask of `has_*` tests
    /// flags: a borrow only ever carries towards higher bytes, so a mask's lowest flag is a true
    /// one (Hacker's Delight 6-1), and so is the lowest flag of several masks ORed.
    #[inline]
    pub(in super::super) fn first(mask: u64) -> usize {
        debug_assert!(mask != 0);
        (mask.trailing_zeros() / 8) as usize
    }

    /// `bytes` as whole words (little-endian, as from [`at`]), and the bytes after the last
    /// whole word. For a loop over words: each step is a pointer's compare, where [`at`] checks
    /// an offset against the length twice.
    #[inline]
    pub(in super::super) fn split(bytes: &[u8]) -> (impl Iterator<Item = u64> + '_, &[u8]) {
        let chunks = bytes.chunks_exact(8);
        let rest = chunks.remainder();
        (
            chunks.map(|c| {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                u64::from_le_bytes(w)
            }),
            rest,
        )
    }
}
