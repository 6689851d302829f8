//! The HPACK encoder for responses.
//!
//! It never inserts into the dynamic table (every field is an indexed static
//! entry or a literal without indexing), so the peer's
//! `SETTINGS_HEADER_TABLE_SIZE` needs no size update, and header blocks may be
//! encoded in any order (a stream's trailers before another stream's headers)
//! without the two tables drifting apart.

use super::huffman;
use super::table::STATIC;

/// Appends an HPACK integer with an `n`-bit prefix; `first` holds the bits
/// above the prefix (RFC 7541 5.1).
pub fn encode_int(value: usize, n: u8, first: u8, dst: &mut Vec<u8>) {
    let max = (1usize << n) - 1;
    if value < max {
        dst.push(first | value as u8);
        return;
    }
    dst.push(first | max as u8);
    let mut rest = value - max;
    while rest >= 128 {
        dst.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    dst.push(rest as u8);
}

/// Appends a string literal, Huffman-coded when that is shorter (5.2).
pub fn encode_str(s: &[u8], dst: &mut Vec<u8>) {
    let hlen = huffman::encoded_len(s);
    if hlen < s.len() {
        encode_int(hlen, 7, 0x80, dst);
        huffman::encode(s, dst);
    } else {
        encode_int(s.len(), 7, 0, dst);
        dst.extend_from_slice(s);
    }
}

/// Appends one header field: an indexed static entry on an exact match, else
/// a literal without indexing (6.2.2), with an indexed name when the static
/// table has it. `name` must be lowercase.
pub fn encode_field(name: &[u8], value: &[u8], dst: &mut Vec<u8>) {
    let mut name_index = 0;
    for (i, (n, v)) in STATIC.iter().enumerate() {
        if *n == name {
            if *v == value {
                encode_int(i + 1, 7, 0x80, dst);
                return;
            }
            if name_index == 0 {
                name_index = i + 1;
            }
        }
    }
    encode_int(name_index, 4, 0x00, dst);
    if name_index == 0 {
        encode_str(name, dst);
    }
    encode_str(value, dst);
}

/// Appends `:status` (indexed for the seven statuses in the static table).
pub fn encode_status(status: u16, dst: &mut Vec<u8>) {
    let mut digits = [b'0'; 3];
    digits[0] += (status / 100 % 10) as u8;
    digits[1] += (status / 10 % 10) as u8;
    digits[2] += (status % 10) as u8;
    encode_field(b":status", &digits, dst);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_match_rfc7541_c1() {
        let cases: &[(usize, u8, &[u8])] = &[
            (10, 5, &[0x0a]),               // C.1.1
            (1337, 5, &[0x1f, 0x9a, 0x0a]), // C.1.2
            (42, 8, &[0x2a]),               // C.1.3
            (31, 5, &[0x1f, 0x00]),
        ];
        for &(v, n, want) in cases {
            let mut out = Vec::new();
            encode_int(v, n, 0, &mut out);
            assert_eq!(out, want, "{v} with {n}-bit prefix");
        }
    }

    #[test]
    fn fields_use_the_static_table() {
        let cases: &[(&[u8], &[u8], &[u8])] = &[
            (b":status", b"200", &[0x88]),
            (b":status", b"404", &[0x8d]),
            // Literal without indexing, name index 8, raw "201"? Huffman "201" is 2 bytes.
            (b":status", b"201", &[0x08, 0x82, 0x10, 0x03]),
            (b"content-length", b"0", &[0x0f, 0x0d, 0x01, b'0']),
        ];
        for &(n, v, want) in cases {
            let mut out = Vec::new();
            encode_field(n, v, &mut out);
            assert_eq!(out, want, "{}", String::from_utf8_lossy(n));
        }
        let mut out = Vec::new();
        encode_status(503, &mut out);
        assert_eq!(out[0], 0x08);
    }
}
