//! The HPACK Huffman code (RFC 7541 section 5.2, Appendix B).
//!
//! The code is canonical (codes of one length are consecutive, shorter codes
//! come first), so decoding needs no tree: per bit length, the first code and
//! the symbols of that length in order, all computed at compile time.

use super::huffman_codes::CODES;
use super::HpackError;

/// The longest code, in bits (EOS).
const MAX_LEN: usize = 30;

/// Canonical decoding tables: per length, the first code, how many codes,
/// and where that length's symbols start in `SORTED`.
struct Canonical {
    first: [u32; MAX_LEN + 1],
    count: [u16; MAX_LEN + 1],
    offset: [u16; MAX_LEN + 1],
    sorted: [u16; 257],
}

const fn build() -> Canonical {
    let mut t = Canonical {
        first: [0; MAX_LEN + 1],
        count: [0; MAX_LEN + 1],
        offset: [0; MAX_LEN + 1],
        sorted: [0; 257],
    };
    let mut n = 0;
    let mut len = 1;
    while len <= MAX_LEN {
        t.offset[len] = n as u16;
        let mut sym = 0;
        while sym < 257 {
            if CODES[sym].1 as usize == len {
                if t.count[len] == 0 {
                    t.first[len] = CODES[sym].0;
                }
                t.sorted[n] = sym as u16;
                t.count[len] += 1;
                n += 1;
            }
            sym += 1;
        }
        len += 1;
    }
    t
}

static TABLE: Canonical = build();

/// Appends the Huffman decoding of `src` to `dst`, failing on EOS in the
/// data, padding longer than 7 bits, or padding that is not all ones.
/// `limit` bounds how many bytes may be appended (the HPACK bomb defense: a
/// Huffman string decodes to at most 8/5 of its length, but the caller's
/// budget is enforced here, before the bytes exist).
pub fn decode(src: &[u8], dst: &mut Vec<u8>, limit: usize) -> Result<(), HpackError> {
    let start = dst.len();
    let mut code: u32 = 0;
    let mut len: usize = 0;
    for &byte in src {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            len += 1;
            let count = u32::from(TABLE.count[len]);
            if count != 0 && code >= TABLE.first[len] && code - TABLE.first[len] < count {
                let sym = TABLE.sorted
                    [usize::from(TABLE.offset[len]) + (code - TABLE.first[len]) as usize];
                if sym == 256 {
                    return Err(HpackError::HuffmanEos);
                }
                if dst.len() - start >= limit {
                    return Err(HpackError::FieldTooLarge);
                }
                dst.push(sym as u8);
                code = 0;
                len = 0;
            } else if len >= MAX_LEN {
                return Err(HpackError::InvalidHuffman);
            }
        }
    }
    // Padding: at most 7 bits, all ones (the most significant bits of EOS).
    if len > 7 || code != (1u32 << len) - 1 {
        return Err(HpackError::InvalidPadding);
    }
    Ok(())
}

/// The number of bytes [`encode`] writes for `src`.
pub fn encoded_len(src: &[u8]) -> usize {
    let bits: usize = src
        .iter()
        .map(|&b| usize::from(CODES[usize::from(b)].1))
        .sum();
    bits.div_ceil(8)
}

/// Appends the Huffman encoding of `src` to `dst`, padded with ones.
pub fn encode(src: &[u8], dst: &mut Vec<u8>) {
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    for &b in src {
        let (code, len) = CODES[usize::from(b)];
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            dst.push((acc >> bits) as u8);
        }
        acc &= (1u64 << bits) - 1;
    }
    if bits > 0 {
        let pad = 8 - bits;
        dst.push(((acc << pad) | ((1u64 << pad) - 1)) as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_canonical() {
        let mut order: Vec<usize> = (0..257).collect();
        order.sort_by_key(|&s| (CODES[s].1, s));
        let mut code = 0u32;
        for w in order.windows(2) {
            let (a, b) = (CODES[w[0]], CODES[w[1]]);
            assert_eq!(a.0, code, "symbol {}", w[0]);
            code = (code + 1) << (b.1 - a.1);
        }
        assert_eq!(CODES[256], (0x3fff_ffff, 30));
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let mut enc = Vec::new();
        encode(&all, &mut enc);
        assert_eq!(enc.len(), encoded_len(&all));
        let mut dec = Vec::new();
        decode(&enc, &mut dec, usize::MAX).unwrap();
        assert_eq!(dec, all);
    }

    #[test]
    fn rfc7541_c4_strings() {
        // C.4.1: "www.example.com"
        let enc = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        let mut out = Vec::new();
        encode(b"www.example.com", &mut out);
        assert_eq!(out, enc);
        let mut dec = Vec::new();
        decode(&enc, &mut dec, 64).unwrap();
        assert_eq!(dec, b"www.example.com");
    }

    #[test]
    fn rejects_bad_padding_eos_and_overlong_output() {
        let cases: &[(&[u8], HpackError)] = &[
            // 'a' (00011, 5 bits) padded with zeros.
            (&[0x18], HpackError::InvalidPadding),
            // A full byte of ones after a complete symbol: 8 bits of padding.
            (&[0x1f, 0xff], HpackError::InvalidPadding),
            // EOS itself (30 ones), then padding.
            (&[0xff, 0xff, 0xff, 0xff], HpackError::HuffmanEos),
        ];
        for (input, want) in cases {
            let mut dst = Vec::new();
            assert_eq!(decode(input, &mut dst, 100), Err(*want), "{input:02x?}");
        }
        let mut enc = Vec::new();
        encode(b"aaaaaaaa", &mut enc);
        let mut dst = Vec::new();
        assert_eq!(decode(&enc, &mut dst, 7), Err(HpackError::FieldTooLarge));
    }
}
