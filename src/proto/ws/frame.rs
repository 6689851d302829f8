//! The WebSocket frame layer (RFC 6455 5.2): parsing client frame headers
//! with every structural check, unmasking in place, and encoding the
//! unmasked frames a server sends.

use super::error::ProtocolError;

/// Frame opcodes (RFC 6455 5.2, 11.8).
pub mod opcode {
    /// A continuation frame of a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// The first frame of a text message.
    pub const TEXT: u8 = 0x1;
    /// The first frame of a binary message.
    pub const BINARY: u8 = 0x2;
    /// Close (control).
    pub const CLOSE: u8 = 0x8;
    /// Ping (control).
    pub const PING: u8 = 0x9;
    /// Pong (control).
    pub const PONG: u8 = 0xA;

    /// Whether the opcode is a control frame's (the high bit set).
    pub fn is_control(op: u8) -> bool {
        op & 0x8 != 0
    }

    /// Whether the opcode is one RFC 6455 defines.
    pub fn is_known(op: u8) -> bool {
        matches!(op, 0x0..=0x2 | 0x8..=0xA)
    }
}

/// The largest control frame payload (RFC 6455 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The longest frame header: 2 bytes, an 8-byte length, a 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The final fragment of a message.
    pub fin: bool,
    /// RSV1 ("compressed" under permessage-deflate).
    pub rsv1: bool,
    /// The opcode (known: checked by [`parse_header`]).
    pub opcode: u8,
    /// The masking key; `None` for an unmasked (server) frame.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
    /// The header's length on the wire.
    pub header_len: usize,
}

/// What [`parse_header`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed for the header.
    Incomplete,
    /// A complete, structurally valid header.
    Complete(FrameHeader),
}

/// Parses a client frame header at the start of `buf`, checking what can
/// be checked without the connection's state: the mask bit (client frames
/// must be masked), RSV2/RSV3 (no extension defines them), RSV1 (only when
/// `rsv1_allowed`, i.e. permessage-deflate was negotiated, and never on a
/// control frame), reserved opcodes, the minimal length encoding, and the
/// control frame rules (at most 125 bytes, FIN set).
pub fn parse_header(buf: &[u8], rsv1_allowed: bool) -> Result<Parsed, ProtocolError> {
    let [b0, b1, ..] = *buf else {
        return Ok(Parsed::Incomplete);
    };
    let fin = b0 & 0x80 != 0;
    let rsv1 = b0 & 0x40 != 0;
    let op = b0 & 0x0F;
    if !opcode::is_known(op) {
        return Err(ProtocolError::ReservedOpcode);
    }
    if b0 & 0x30 != 0 || (rsv1 && (!rsv1_allowed || opcode::is_control(op))) {
        return Err(ProtocolError::ReservedBits);
    }
    if b1 & 0x80 == 0 {
        return Err(ProtocolError::UnmaskedFrame);
    }
    let (payload_len, mut at) = match b1 & 0x7F {
        126 => {
            let Some(b) = buf.get(2..4) else {
                return Ok(Parsed::Incomplete);
            };
            let n = u16::from_be_bytes([b[0], b[1]]) as u64;
            if n < 126 {
                return Err(ProtocolError::NonMinimalLength);
            }
            (n, 4)
        }
        127 => {
            let Some(b) = buf.get(2..10) else {
                return Ok(Parsed::Incomplete);
            };
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            let n = u64::from_be_bytes(a);
            if n <= u16::MAX as u64 || n >> 63 != 0 {
                return Err(ProtocolError::NonMinimalLength);
            }
            (n, 10)
        }
        n => (n as u64, 2),
    };
    if opcode::is_control(op) {
        if payload_len > MAX_CONTROL_PAYLOAD as u64 {
            return Err(ProtocolError::ControlFrameTooLong);
        }
        if !fin {
            return Err(ProtocolError::FragmentedControlFrame);
        }
    }
    let Some(m) = buf.get(at..at + 4) else {
        return Ok(Parsed::Incomplete);
    };
    let mask = [m[0], m[1], m[2], m[3]];
    at += 4;
    Ok(Parsed::Complete(FrameHeader {
        fin,
        rsv1,
        opcode: op,
        mask: Some(mask),
        payload_len,
        header_len: at,
    }))
}

/// Unmasks (or masks: the operation is its own inverse) `data` in place,
/// where `data` starts `offset` bytes into the frame's payload.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4], offset: u64) {
    // Rotate the key so that it lines up with data[0], then work a word at
    // a time; the compiler vectorises the loop over 8-byte chunks.
    let shift = (offset % 4) as usize;
    let key = [
        mask[shift],
        mask[(shift + 1) % 4],
        mask[(shift + 2) % 4],
        mask[(shift + 3) % 4],
    ];
    let key64 = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let v = u64::from_ne_bytes(w) ^ key64;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

/// Appends a server frame (unmasked) with `payload` to `out`.
pub fn encode_frame(out: &mut Vec<u8>, fin: bool, rsv1: bool, op: u8, payload: &[u8]) {
    encode_header(out, fin, rsv1, op, payload.len() as u64);
    out.extend_from_slice(payload);
}

/// Appends an unmasked frame header for a payload of `len` bytes.
pub fn encode_header(out: &mut Vec<u8>, fin: bool, rsv1: bool, op: u8, len: u64) {
    out.push((u8::from(fin) << 7) | (u8::from(rsv1) << 6) | (op & 0x0F));
    if len < 126 {
        out.push(len as u8);
    } else if len <= u16::MAX as u64 {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(buf: &[u8]) -> FrameHeader {
        match parse_header(buf, false) {
            Ok(Parsed::Complete(h)) => h,
            other => panic!("{other:?}"),
        }
    }

    /// RFC 6455 5.7: a single-frame masked text message "Hello".
    #[test]
    fn rfc_masked_hello() {
        let mut f = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let h = header(&f);
        assert!(h.fin);
        assert_eq!(h.opcode, opcode::TEXT);
        assert_eq!(h.payload_len, 5);
        assert_eq!(h.header_len, 6);
        let mask = h.mask.unwrap();
        apply_mask(&mut f[6..], mask, 0);
        assert_eq!(&f[6..], b"Hello");
    }

    /// RFC 6455 5.7: the unmasked examples are what a server encodes.
    #[test]
    fn rfc_unmasked_examples_encode() {
        let mut out = Vec::new();
        encode_frame(&mut out, true, false, opcode::TEXT, b"Hello");
        assert_eq!(out, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        out.clear();
        // A fragmented unmasked text message: "Hel", "lo".
        encode_frame(&mut out, false, false, opcode::TEXT, b"Hel");
        encode_frame(&mut out, true, false, opcode::CONTINUATION, b"lo");
        assert_eq!(out, [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]);
        out.clear();
        // Unmasked Ping "Hello".
        encode_frame(&mut out, true, false, opcode::PING, b"Hello");
        assert_eq!(out, [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        out.clear();
        // 256 bytes binary in a single unmasked frame: 0x82 0x7E 0x0100.
        encode_frame(&mut out, true, false, opcode::BINARY, &[0; 256]);
        assert_eq!(out[..4], [0x82, 0x7E, 0x01, 0x00]);
        out.clear();
        // 64 KiB: 0x82 0x7F 0x0000000000010000.
        encode_header(&mut out, true, false, opcode::BINARY, 65536);
        assert_eq!(out, [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn lengths_and_incomplete_headers() {
        // 16-bit length 126 and 64-bit length 65536, both minimal.
        let h = header(&[0x82, 0xFE, 0x00, 0x7E, 1, 2, 3, 4]);
        assert_eq!((h.payload_len, h.header_len), (126, 8));
        let h = header(&[0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4]);
        assert_eq!((h.payload_len, h.header_len), (65536, 14));
        let full = [0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4];
        for n in 0..full.len() {
            assert_eq!(
                parse_header(&full[..n], false),
                Ok(Parsed::Incomplete),
                "{n}"
            );
        }
    }

    /// Malformed headers, each with its error and close code.
    #[test]
    fn malformed_headers() {
        use ProtocolError::*;
        let cases: &[(&str, &[u8], bool, ProtocolError, u16)] = &[
            ("unmasked text", &[0x81, 0x00], false, UnmaskedFrame, 1002),
            (
                "rsv1 without deflate",
                &[0xC1, 0x80],
                false,
                ReservedBits,
                1002,
            ),
            ("rsv2", &[0xA1, 0x80], true, ReservedBits, 1002),
            ("rsv3", &[0x91, 0x80], true, ReservedBits, 1002),
            (
                "rsv1 on ping with deflate",
                &[0xC9, 0x80],
                true,
                ReservedBits,
                1002,
            ),
            ("opcode 3", &[0x83, 0x80], false, ReservedOpcode, 1002),
            ("opcode 7", &[0x87, 0x80], false, ReservedOpcode, 1002),
            ("opcode B", &[0x8B, 0x80], false, ReservedOpcode, 1002),
            ("opcode F", &[0x8F, 0x80], false, ReservedOpcode, 1002),
            (
                "16-bit length 125",
                &[0x82, 0xFE, 0x00, 0x7D],
                false,
                NonMinimalLength,
                1002,
            ),
            (
                "64-bit length 65535",
                &[0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF],
                false,
                NonMinimalLength,
                1002,
            ),
            (
                "64-bit length MSB",
                &[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0],
                false,
                NonMinimalLength,
                1002,
            ),
            (
                "ping 126 bytes",
                &[0x89, 0xFE, 0x00, 0x7E],
                false,
                ControlFrameTooLong,
                1002,
            ),
            (
                "close without fin",
                &[0x08, 0x80],
                false,
                FragmentedControlFrame,
                1002,
            ),
            (
                "ping without fin",
                &[0x09, 0x80],
                false,
                FragmentedControlFrame,
                1002,
            ),
        ];
        for (name, bytes, deflate, err, code) in cases {
            assert_eq!(parse_header(bytes, *deflate), Err(*err), "{name}");
            assert_eq!(err.close_code().0, *code, "{name}");
        }
        // RSV1 on a data frame is fine once deflate is negotiated.
        assert!(matches!(
            parse_header(&[0xC1, 0x80, 0, 0, 0, 0], true),
            Ok(Parsed::Complete(_))
        ));
    }

    proptest! {
        #[test]
        fn masking_round_trips_at_any_offset(data in proptest::collection::vec(any::<u8>(), 0..100),
                                              mask in any::<[u8; 4]>(), split in 0usize..100) {
            let mut whole = data.clone();
            apply_mask(&mut whole, mask, 0);
            // The naive definition.
            let naive: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
            prop_assert_eq!(&whole, &naive);
            // In two pieces, the second at its offset.
            let mut parts = data.clone();
            let s = split.min(parts.len());
            let (a, b) = parts.split_at_mut(s);
            apply_mask(a, mask, 0);
            apply_mask(b, mask, s as u64);
            prop_assert_eq!(&parts, &whole);
            // And back.
            apply_mask(&mut parts, mask, 0);
            prop_assert_eq!(parts, data);
        }

        #[test]
        fn encoded_lengths_parse_back(len in prop_oneof![0u64..200, 60000u64..70000, any::<u64>().prop_map(|n| n >> 1)]) {
            let mut out = Vec::new();
            encode_header(&mut out, true, false, opcode::BINARY, len);
            out[1] |= 0x80; // as a client would send it
            out.extend_from_slice(&[9, 9, 9, 9]);
            let h = header(&out);
            prop_assert_eq!(h.payload_len, len);
            prop_assert_eq!(h.header_len, out.len());
        }
    }
}
