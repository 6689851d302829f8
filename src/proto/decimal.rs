//! Decimal numbers written straight into a caller's fixed-size block, two digits at a time: the
//! `Content-Length` of a response head, the numbers of an access log line, HTTP/2's
//! `content-length`. The usual values (up to four digits) take a store or two; no allocation.

/// The two-digit numbers 00 to 99, for writing numbers two digits at a time.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// The two digits of `n` (below 100; larger values give `99`).
#[inline(always)]
pub(crate) fn pair(n: u64) -> [u8; 2] {
    let i = n.min(99) as usize * 2;
    [PAIRS[i], PAIRS[i + 1]]
}

/// Writes `n` in decimal at `out[at..]` and returns how many digits it took (1 to 20). Up to
/// four digits take a store or two; longer numbers write a block of 20 bytes, so `out` must
/// have 20 bytes of room from `at` whatever `n` is (it panics otherwise, as indexing does).
#[inline(always)]
pub(crate) fn put_decimal<const W: usize>(out: &mut [u8; W], at: usize, n: u64) -> usize {
    if n < 10 {
        out[at] = b'0' + n as u8;
        1
    } else if n < 100 {
        out[at..at + 2].copy_from_slice(&pair(n));
        2
    } else if n < 1_000 {
        let [a, b] = pair(n % 100);
        out[at..at + 3].copy_from_slice(&[b'0' + (n / 100) as u8, a, b]);
        3
    } else if n < 10_000 {
        let ([a, b], [c, d]) = (pair(n / 100), pair(n % 100));
        out[at..at + 4].copy_from_slice(&[a, b, c, d]);
        4
    } else {
        let (digits, len) = decimal(n);
        out[at..at + 20].copy_from_slice(&digits);
        len
    }
}

/// `n` in decimal, left-aligned in 20 bytes, and how many digits it took. (Not inlined: in
/// [`put_decimal`] it is the rare case, and it would make every caller larger.)
#[inline(never)]
pub(crate) fn decimal(mut n: u64) -> ([u8; 20], usize) {
    // Digits end at 20, written two at a time; then the 20 bytes from the first are taken.
    let mut digits = [0u8; 40];
    let mut i = 20;
    while n >= 100 {
        i -= 2;
        digits[i..i + 2].copy_from_slice(&pair(n % 100));
        n /= 100;
    }
    if n >= 10 {
        i -= 2;
        digits[i..i + 2].copy_from_slice(&pair(n));
    } else {
        i -= 1;
        digits[i] = b'0' + n as u8;
    }
    let window: [u8; 20] = digits[i..i + 20].try_into().expect("20 bytes");
    (window, 20 - i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NUMBERS: [u64; 15] = [
        0,
        7,
        10,
        99,
        100,
        101,
        999,
        1_000,
        9_999,
        10_000,
        65_535,
        1_000_000,
        u32::MAX as u64,
        u64::MAX - 1,
        u64::MAX,
    ];

    #[test]
    fn every_width_is_written_as_display_writes_it() {
        for n in NUMBERS.into_iter().chain(0..=10_001) {
            let mut buf = [0u8; 64];
            let len = put_decimal(&mut buf, 3, n);
            assert_eq!(std::str::from_utf8(&buf[3..3 + len]), Ok(&*n.to_string()));
            let (digits, len) = decimal(n);
            assert_eq!(std::str::from_utf8(&digits[..len]), Ok(&*n.to_string()));
        }
        for n in 0..100 {
            assert_eq!(pair(n), *format!("{n:02}").as_bytes());
        }
    }
}
