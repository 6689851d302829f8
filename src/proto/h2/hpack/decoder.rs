//! The HPACK decoder with decoded-size bounds (RFC 7541 sections 3, 6).

use super::huffman;
use super::table::{DynamicTable, ENTRY_OVERHEAD};
use super::HpackError;

/// A decoded header list: every name and value in one buffer, in order.
///
/// Cleared and reused between header blocks; it grows to the largest list
/// seen, which the decoder bounds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HeaderList {
    buf: Vec<u8>,
    /// `(name start, value start, value end)` into `buf`.
    fields: Vec<(u32, u32, u32)>,
    size: usize,
}

impl HeaderList {
    /// An empty list.
    pub fn new() -> Self {
        HeaderList::default()
    }

    /// Empties the list, keeping its storage.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.fields.clear();
        self.size = 0;
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the list has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The list size as RFC 7541 4.1 counts it (name + value + 32 per field),
    /// which `SETTINGS_MAX_HEADER_LIST_SIZE` limits.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Field `i` as `(name, value)`.
    pub fn get(&self, i: usize) -> (&[u8], &[u8]) {
        let (n, v, e) = self.fields[i];
        (
            &self.buf[n as usize..v as usize],
            &self.buf[v as usize..e as usize],
        )
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        (0..self.fields.len()).map(|i| self.get(i))
    }

    /// The value of the first field named `name`.
    pub fn value(&self, name: &[u8]) -> Option<&[u8]> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Appends a field.
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        let n = self.buf.len() as u32;
        self.buf.extend_from_slice(name);
        let v = self.buf.len() as u32;
        self.buf.extend_from_slice(value);
        self.fields.push((n, v, self.buf.len() as u32));
        self.size += name.len() + value.len() + ENTRY_OVERHEAD;
    }
}

/// Decodes header blocks, keeping the dynamic table between them.
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    /// The largest table size the peer may ask for (our
    /// `SETTINGS_HEADER_TABLE_SIZE`).
    max_table_size: usize,
    /// Bytes of one string being decoded, before it lands in the list.
    scratch: Vec<u8>,
}

/// A cursor over a header block.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn byte(&mut self) -> Result<u8, HpackError> {
        let b = *self.buf.get(self.pos).ok_or(HpackError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    /// An integer with an `n`-bit prefix whose first byte is `first`.
    fn int(&mut self, first: u8, n: u8) -> Result<usize, HpackError> {
        let max = (1u32 << n) - 1;
        let mut value = u32::from(first) & max;
        if value < max {
            return Ok(value as usize);
        }
        let mut shift = 0u32;
        loop {
            let b = self.byte()?;
            let add = u32::from(b & 0x7f)
                .checked_shl(shift)
                .filter(|v| v >> shift == u32::from(b & 0x7f))
                .ok_or(HpackError::IntegerOverflow)?;
            value = value.checked_add(add).ok_or(HpackError::IntegerOverflow)?;
            if b & 0x80 == 0 {
                return Ok(value as usize);
            }
            shift += 7;
            if shift > 28 {
                return Err(HpackError::IntegerOverflow);
            }
        }
    }

    /// A string literal, appended to `dst`, at most `limit` decoded bytes.
    fn string(&mut self, dst: &mut Vec<u8>, limit: usize) -> Result<(), HpackError> {
        let first = self.byte()?;
        let len = self.int(first, 7)?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.buf.len())
            .ok_or(HpackError::Truncated)?;
        let raw = &self.buf[self.pos..end];
        self.pos = end;
        if first & 0x80 != 0 {
            huffman::decode(raw, dst, limit)
        } else if raw.len() > limit {
            Err(HpackError::FieldTooLarge)
        } else {
            dst.extend_from_slice(raw);
            Ok(())
        }
    }
}

impl Decoder {
    /// A decoder whose dynamic table may grow to `max_table_size` bytes.
    pub fn new(max_table_size: usize) -> Self {
        Decoder {
            table: DynamicTable::new(max_table_size),
            max_table_size,
            scratch: Vec::new(),
        }
    }

    /// The dynamic table (for tests and stats).
    pub fn table(&self) -> &DynamicTable {
        &self.table
    }

    /// Decodes one complete header block into `out` (cleared first).
    ///
    /// No field may exceed `max_field` bytes (name + value) and the list may
    /// not exceed `max_list` (RFC 7541 4.1 sizes); both are checked before a
    /// field's bytes are copied, so decoding stops at the limit. An error
    /// leaves the dynamic table out of step with the peer's: the connection
    /// must end.
    pub fn decode(
        &mut self,
        block: &[u8],
        max_field: usize,
        max_list: usize,
        out: &mut HeaderList,
    ) -> Result<(), HpackError> {
        out.clear();
        let mut cur = Cursor { buf: block, pos: 0 };
        let mut seen_field = false;
        while cur.pos < block.len() {
            let first = cur.byte()?;
            if first & 0x80 != 0 {
                // 6.1 Indexed header field.
                let index = cur.int(first, 7)?;
                let (name, value) = self.table.get(index).ok_or(HpackError::InvalidIndex)?;
                check(out, name.len() + value.len(), max_field, max_list)?;
                out.push(name, value);
                seen_field = true;
            } else if first & 0xe0 == 0x20 {
                // 6.3 Dynamic table size update: only before the first field.
                if seen_field {
                    return Err(HpackError::LateTableSizeUpdate);
                }
                let size = cur.int(first, 5)?;
                if size > self.max_table_size {
                    return Err(HpackError::TableSizeTooLarge);
                }
                self.table.set_max_size(size);
            } else {
                // 6.2 Literals: with incremental indexing (01), without (0000),
                // never indexed (0001).
                let (prefix, indexing) = if first & 0x40 != 0 {
                    (6, true)
                } else {
                    (4, false)
                };
                let index = cur.int(first, prefix)?;
                self.scratch.clear();
                let name_len = if index == 0 {
                    cur.string(&mut self.scratch, max_field)?;
                    self.scratch.len()
                } else {
                    let (name, _) = self.table.get(index).ok_or(HpackError::InvalidIndex)?;
                    if name.len() > max_field {
                        return Err(HpackError::FieldTooLarge);
                    }
                    self.scratch.extend_from_slice(name);
                    name.len()
                };
                let budget = (max_field - name_len)
                    .min(max_list.saturating_sub(out.size() + name_len + ENTRY_OVERHEAD));
                if let Err(e) = cur.string(&mut self.scratch, budget) {
                    if e == HpackError::FieldTooLarge && budget < max_field - name_len {
                        return Err(HpackError::ListTooLarge);
                    }
                    return Err(e);
                }
                check(out, self.scratch.len(), max_field, max_list)?;
                let (name, value) = self.scratch.split_at(name_len);
                out.push(name, value);
                if indexing {
                    self.table.insert(name, value);
                }
                seen_field = true;
            }
        }
        Ok(())
    }
}

/// Whether a field of `len` bytes (name + value) fits both limits.
fn check(
    out: &HeaderList,
    len: usize,
    max_field: usize,
    max_list: usize,
) -> Result<(), HpackError> {
    if len > max_field {
        Err(HpackError::FieldTooLarge)
    } else if out.size() + len + ENTRY_OVERHEAD > max_list {
        Err(HpackError::ListTooLarge)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::encoder;
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn fields(list: &HeaderList) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| {
                (
                    String::from_utf8_lossy(n).into(),
                    String::from_utf8_lossy(v).into(),
                )
            })
            .collect()
    }

    /// One step of an RFC 7541 Appendix C sequence: block (hex), expected list, table size after.
    type Step = (&'static str, &'static [(&'static str, &'static str)], usize);

    /// Runs an RFC 7541 Appendix C sequence.
    fn run(table_size: usize, steps: &[Step]) {
        let mut d = Decoder::new(table_size);
        let mut out = HeaderList::new();
        for (i, (block, want, size)) in steps.iter().enumerate() {
            d.decode(&hex(block), usize::MAX / 4, usize::MAX / 4, &mut out)
                .unwrap();
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            assert_eq!(fields(&out), want, "step {i}");
            assert_eq!(d.table().size(), *size, "table size after step {i}");
        }
    }

    #[test]
    fn rfc7541_c2_literals_and_indexed() {
        // C.2.1 literal with indexing.
        run(
            4096,
            &[(
                "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
                &[("custom-key", "custom-header")],
                55,
            )],
        );
        // C.2.2 literal without indexing.
        run(
            4096,
            &[(
                "040c 2f73 616d 706c 652f 7061 7468",
                &[(":path", "/sample/path")],
                0,
            )],
        );
        // C.2.3 never indexed.
        run(
            4096,
            &[(
                "1008 7061 7373 776f 7264 0673 6563 7265 74",
                &[("password", "secret")],
                0,
            )],
        );
        // C.2.4 indexed.
        run(4096, &[("82", &[(":method", "GET")], 0)]);
    }

    const C3: [Step; 3] = [
        (
            "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
            ],
            57,
        ),
        (
            "8286 84be 5808 6e6f 2d63 6163 6865",
            &[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
                ("cache-control", "no-cache"),
            ],
            110,
        ),
        (
            "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
            &[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value"),
            ],
            164,
        ),
    ];

    #[test]
    fn rfc7541_c3_requests_without_huffman() {
        run(4096, &C3);
    }

    #[test]
    fn rfc7541_c4_requests_with_huffman() {
        run(
            4096,
            &[
                ("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", C3[0].1, 57),
                ("8286 84be 5886 a8eb 1064 9cbf", C3[1].1, 110),
                (
                    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
                    C3[2].1,
                    164,
                ),
            ],
        );
    }

    const C5_1: &[(&str, &str)] = &[
        (":status", "302"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    ];
    const C5_2: &[(&str, &str)] = &[
        (":status", "307"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:21 GMT"),
        ("location", "https://www.example.com"),
    ];
    const C5_3: &[(&str, &str)] = &[
        (":status", "200"),
        ("cache-control", "private"),
        ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
        ("location", "https://www.example.com"),
        ("content-encoding", "gzip"),
        (
            "set-cookie",
            "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        ),
    ];

    #[test]
    fn rfc7541_c5_responses_with_eviction() {
        run(256, &[
            ("4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", C5_1, 222),
            ("4803 3330 37c1 c0bf", C5_2, 222),
            ("88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31", C5_3, 215),
        ]);
    }

    #[test]
    fn rfc7541_c6_responses_with_huffman() {
        run(256, &[
            ("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3", C5_1, 222),
            ("4883 640e ffc1 c0bf", C5_2, 222),
            ("88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07", C5_3, 215),
        ]);
    }

    #[test]
    fn malformed_blocks_are_named() {
        let cases: &[(&str, HpackError)] = &[
            ("80", HpackError::InvalidIndex),
            ("be", HpackError::InvalidIndex), // 62: empty dynamic table
            ("40", HpackError::Truncated),
            ("400a 6375", HpackError::Truncated),
            ("ff ff ff ff ff 0f", HpackError::IntegerOverflow),
            ("3fe2 1f", HpackError::TableSizeTooLarge), // 4097
            ("82 20", HpackError::LateTableSizeUpdate),
            ("0081 00", HpackError::InvalidPadding),
        ];
        for (block, want) in cases {
            let mut out = HeaderList::new();
            let got = Decoder::new(4096).decode(&hex(block), 1 << 16, 1 << 16, &mut out);
            assert_eq!(got, Err(*want), "{block}");
        }
    }

    #[test]
    fn hpack_bomb_stops_at_the_list_limit() {
        // One 4000-byte entry inserted, then referenced 1000 times: a block of
        // ~4 KiB + 1000 bytes that would decode to 4 MB.
        let mut block = Vec::new();
        encoder::encode_int(0, 6, 0x40, &mut block);
        encoder::encode_str(b"x-bomb", &mut block);
        encoder::encode_int(3990, 7, 0, &mut block);
        block.extend(std::iter::repeat_n(b'a', 3990));
        block.extend(std::iter::repeat_n(0x80 | 62, 1000)); // index 62
        let mut d = Decoder::new(4096);
        let mut out = HeaderList::new();
        assert_eq!(
            d.decode(&block, 16 * 1024, 32 * 1024, &mut out),
            Err(HpackError::ListTooLarge)
        );
        assert!(out.size() <= 32 * 1024);
        // A single field over the field limit.
        let mut d = Decoder::new(4096);
        assert_eq!(
            d.decode(&block, 1000, 1 << 20, &mut out),
            Err(HpackError::FieldTooLarge)
        );
    }

    #[test]
    fn huffman_values_are_bounded_before_they_are_decoded() {
        // A Huffman value of 1000 bytes that decodes to 1600 bytes ('0's).
        let mut block = vec![0x00];
        encoder::encode_str(b"x", &mut block);
        let mut val = Vec::new();
        huffman::encode(&[b'0'; 1600], &mut val);
        encoder::encode_int(val.len(), 7, 0x80, &mut block);
        block.extend_from_slice(&val);
        let mut out = HeaderList::new();
        assert_eq!(
            Decoder::new(4096).decode(&block, 1024, 1 << 20, &mut out),
            Err(HpackError::FieldTooLarge)
        );
        assert_eq!(
            Decoder::new(4096).decode(&block, 1 << 20, 1024, &mut out),
            Err(HpackError::ListTooLarge)
        );
    }

    #[test]
    fn encoder_output_decodes_to_its_input() {
        let input: &[(&[u8], &[u8])] = &[
            (b":status", b"200"),
            (b":status", b"418"),
            (b"content-type", b"text/plain"),
            (b"x-custom", b"\x00\xffbinary"),
            (b"server", b""),
        ];
        let mut block = Vec::new();
        for (n, v) in input {
            encoder::encode_field(n, v, &mut block);
        }
        let mut out = HeaderList::new();
        Decoder::new(4096)
            .decode(&block, 1 << 16, 1 << 16, &mut out)
            .unwrap();
        assert_eq!(out.iter().collect::<Vec<_>>(), input.to_vec());
    }
}
