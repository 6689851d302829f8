//! permessage-deflate (RFC 7692): parameter negotiation, compression of
//! outgoing messages, and inflation of incoming ones bounded while it runs.
//!
//! The backend is `flate2` over `miniz_oxide` (pure Rust). miniz_oxide
//! always compresses with, and inflates up to, a 32 KiB window (15 bits).
//! Inflating with a 32 KiB window reads any smaller window, so every
//! `client_max_window_bits` offer is accepted without naming a value; but
//! the compressor cannot be held to a smaller window, so an offer with
//! `server_max_window_bits` below 15 is declined (the next offer, or no
//! compression, is used) rather than answered with a window we would not
//! honour.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::handshake::ExtensionOffer;

/// The tail a sender strips from each compressed message and a receiver
/// appends before inflating it (RFC 7692 7.2.1, 7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// The inflate output chunk: what is held at most between two checks of
/// the message limit.
const CHUNK: usize = 16 * 1024;

/// Negotiated permessage-deflate parameters (RFC 7692 7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeflateParams {
    /// We reset our compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message, so we may
    /// reset our decompressor too.
    pub client_no_context_takeover: bool,
    /// The client asked for `server_max_window_bits=15`; we echo it.
    pub server_max_window_bits_15: bool,
}

impl DeflateParams {
    /// Accepts one offer, or declines it (`None`): another extension, a
    /// repeated or unknown parameter, a value out of range, or a
    /// `server_max_window_bits` below 15 (see the module docs).
    /// `request_client_no_context_takeover` adds `client_no_context_takeover`
    /// to the response even when the client did not offer it (RFC 7692
    /// 7.1.1.2 allows this).
    pub fn negotiate(
        offer: &ExtensionOffer,
        request_client_no_context_takeover: bool,
    ) -> Option<Self> {
        if offer.name != "permessage-deflate" {
            return None;
        }
        let mut p = DeflateParams {
            client_no_context_takeover: request_client_no_context_takeover,
            ..Default::default()
        };
        let mut seen: Vec<&str> = Vec::new();
        for (k, v) in &offer.params {
            if seen.contains(&k.as_str()) {
                return None;
            }
            seen.push(k);
            let bits = |v: &Option<String>| {
                v.as_deref()
                    .map(|v| v.parse::<u8>().ok().filter(|b| (8..=15).contains(b)))
            };
            match (k.as_str(), v) {
                ("server_no_context_takeover", None) => p.server_no_context_takeover = true,
                ("client_no_context_takeover", None) => p.client_no_context_takeover = true,
                ("server_max_window_bits", Some(_)) => match bits(v) {
                    Some(Some(15)) => p.server_max_window_bits_15 = true,
                    _ => return None,
                },
                ("client_max_window_bits", None) => {}
                ("client_max_window_bits", Some(_)) => {
                    bits(v)??;
                }
                _ => return None,
            };
        }
        Some(p)
    }

    /// The `Sec-WebSocket-Extensions` response value.
    pub fn response_value(&self) -> String {
        let mut s = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits_15 {
            s.push_str("; server_max_window_bits=15");
        }
        s
    }
}

/// Why inflating failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// The inflated message passed its limit.
    TooLarge,
    /// The data is not DEFLATE.
    Corrupt,
}

/// The receiving side: one raw-DEFLATE decompressor for the connection.
#[derive(Debug)]
pub struct Inflater {
    d: Decompress,
    scratch: Vec<u8>,
    reset_each_message: bool,
    ended: bool,
}

impl Inflater {
    /// A decompressor for `params` (reset after each message when the
    /// client does not take over its context).
    pub fn new(params: &DeflateParams) -> Self {
        Inflater {
            d: Decompress::new(false),
            scratch: vec![0; CHUNK],
            reset_each_message: params.client_no_context_takeover,
            ended: false,
        }
    }

    /// Inflates the next piece of a compressed message, passing the output
    /// to `sink` in chunks of at most 16 KiB; `budget` is what the message
    /// may still grow by, and is spent as output comes. Output past the
    /// budget is refused before it reaches `sink`: a bomb costs one chunk.
    /// A `sink` that returns `false` ends inflation with `Corrupt` (the
    /// caller knows why). The outcome does not depend on how the input is
    /// split: the output before an error or before the limit reaches the
    /// sink first.
    pub fn inflate(
        &mut self,
        mut input: &[u8],
        budget: &mut u64,
        sink: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<(), InflateError> {
        while !self.ended {
            let (in0, out0) = (self.d.total_in(), self.d.total_out());
            let result = self
                .d
                .decompress(input, &mut self.scratch, FlushDecompress::None);
            let used = (self.d.total_in() - in0) as usize;
            let produced = (self.d.total_out() - out0) as usize;
            input = &input[used..];
            // What came out before an error is checked first, so that the
            // outcome does not depend on where the input was split.
            // The same goes for the limit: the bytes up to it still reach
            // the sink (which validates them), the rest never does.
            if produced as u64 > *budget {
                let allowed = *budget as usize;
                *budget = 0;
                if allowed > 0 && !sink(&self.scratch[..allowed]) {
                    return Err(InflateError::Corrupt);
                }
                return Err(InflateError::TooLarge);
            }
            *budget -= produced as u64;
            if produced > 0 && !sink(&self.scratch[..produced]) {
                return Err(InflateError::Corrupt);
            }
            let status = result.map_err(|_| InflateError::Corrupt)?;
            if status == Status::StreamEnd {
                // A final block: the rest of this message is ignored and the
                // stream starts again with the next one.
                self.ended = true;
            }
            let full = produced == self.scratch.len();
            if (input.is_empty() && !full) || (used == 0 && produced == 0) {
                break;
            }
        }
        Ok(())
    }

    /// Ends a compressed message: inflates the stripped tail, and resets the
    /// context when it is not taken over.
    pub fn finish_message(
        &mut self,
        budget: &mut u64,
        sink: &mut dyn FnMut(&[u8]) -> bool,
    ) -> Result<(), InflateError> {
        let r = self.inflate(&TAIL, budget, sink);
        if self.reset_each_message || self.ended {
            self.d.reset(false);
            self.ended = false;
        }
        r
    }
}

/// The sending side: one raw-DEFLATE compressor for the connection.
#[derive(Debug)]
pub struct Deflater {
    c: Compress,
    reset_each_message: bool,
}

impl Deflater {
    /// A compressor for `params` at `level` (0-9).
    pub fn new(params: &DeflateParams, level: u32) -> Self {
        Deflater {
            c: Compress::new(Compression::new(level), false),
            reset_each_message: params.server_no_context_takeover,
        }
    }

    /// Compresses one piece of a message, appending to `out` (sync flushed,
    /// so the piece can be sent as a frame); at the end of the message
    /// (`fin`), the trailing `00 00 FF FF` is stripped and the context reset
    /// if it is not taken over.
    pub fn compress(&mut self, mut input: &[u8], fin: bool, out: &mut Vec<u8>) {
        let start = out.len();
        loop {
            out.reserve(input.len() / 2 + 64);
            let before = self.c.total_in();
            // A raw deflate stream with a sync flush into spare capacity
            // cannot fail.
            let _ = self.c.compress_vec(input, out, FlushCompress::Sync);
            input = &input[(self.c.total_in() - before) as usize..];
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        if fin {
            if out[start..].ends_with(&TAIL) {
                out.truncate(out.len() - TAIL.len());
            }
            if out.len() == start {
                // An empty message compresses to one empty stored block
                // (RFC 7692 7.2.3.6).
                out.push(0x00);
            }
            if self.reset_each_message {
                self.c.reset();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(s: &str) -> ExtensionOffer {
        let mut parts = s.split(';');
        ExtensionOffer {
            name: parts.next().unwrap().trim().to_string(),
            params: parts
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
                    None => (p.trim().to_string(), None),
                })
                .collect(),
        }
    }

    #[test]
    fn negotiation_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("permessage-deflate", Some("permessage-deflate")),
            (
                "permessage-deflate; client_max_window_bits",
                Some("permessage-deflate"),
            ),
            (
                "permessage-deflate; client_max_window_bits=10",
                Some("permessage-deflate"),
            ),
            ("permessage-deflate; client_max_window_bits=16", None),
            ("permessage-deflate; client_max_window_bits=7", None),
            (
                "permessage-deflate; server_max_window_bits=15",
                Some("permessage-deflate; server_max_window_bits=15"),
            ),
            ("permessage-deflate; server_max_window_bits=10", None),
            ("permessage-deflate; server_max_window_bits", None),
            (
                "permessage-deflate; server_no_context_takeover",
                Some("permessage-deflate; server_no_context_takeover"),
            ),
            (
                "permessage-deflate; client_no_context_takeover",
                Some("permessage-deflate; client_no_context_takeover"),
            ),
            ("permessage-deflate; server_no_context_takeover=1", None),
            (
                "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
                None,
            ),
            ("permessage-deflate; mystery", None),
            ("x-webkit-deflate-frame", None),
        ];
        for (o, want) in cases {
            let got = DeflateParams::negotiate(&offer(o), false).map(|p| p.response_value());
            assert_eq!(got.as_deref(), *want, "{o}");
        }
        let p = DeflateParams::negotiate(&offer("permessage-deflate"), true).unwrap();
        assert_eq!(
            p.response_value(),
            "permessage-deflate; client_no_context_takeover"
        );
    }

    fn inflate_all(inf: &mut Inflater, msg: &[u8], limit: u64) -> Result<Vec<u8>, InflateError> {
        let mut out = Vec::new();
        let mut budget = limit;
        inf.inflate(msg, &mut budget, &mut |c| {
            out.extend_from_slice(c);
            true
        })?;
        inf.finish_message(&mut budget, &mut |c| {
            out.extend_from_slice(c);
            true
        })?;
        Ok(out)
    }

    #[test]
    fn round_trips_with_and_without_context_takeover() {
        for (snct, cnct) in [(false, false), (true, false), (false, true), (true, true)] {
            let p = DeflateParams {
                server_no_context_takeover: snct,
                client_no_context_takeover: cnct,
                server_max_window_bits_15: false,
            };
            // Our deflater plays the client here, with the client's reset rule.
            let mut def = Deflater::new(
                &DeflateParams {
                    server_no_context_takeover: cnct,
                    ..p
                },
                6,
            );
            let mut inf = Inflater::new(&p);
            for msg in [
                &b"Hello"[..],
                b"Hello",
                b"",
                &[7u8; 100_000],
                b"Hello, Hello, Hello",
            ] {
                let mut c = Vec::new();
                def.compress(msg, true, &mut c);
                assert_eq!(inflate_all(&mut inf, &c, u64::MAX).unwrap(), msg);
            }
        }
    }

    /// RFC 7692 7.2.3.1/7.2.3.2: "Hello" compressed, and the second message
    /// using the first's context is shorter.
    #[test]
    fn rfc_hello_examples() {
        let mut inf = Inflater::new(&DeflateParams::default());
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(inflate_all(&mut inf, &hello, 100).unwrap(), b"Hello");
        let hello_again = [0xf2, 0x00, 0x11, 0x00, 0x00];
        assert_eq!(inflate_all(&mut inf, &hello_again, 100).unwrap(), b"Hello");
        // 7.2.3.3: a stored (uncompressed) block.
        let mut inf = Inflater::new(&DeflateParams::default());
        let stored = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        assert_eq!(inflate_all(&mut inf, &stored, 100).unwrap(), b"Hello");
        // 7.2.3.4: two deflate blocks in one message.
        let mut inf = Inflater::new(&DeflateParams::default());
        let two = [
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ];
        assert_eq!(inflate_all(&mut inf, &two, 100).unwrap(), b"Hello");
        // 7.2.3.5: a final (BFINAL) block.
        let mut inf = Inflater::new(&DeflateParams::default());
        let fin = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        assert_eq!(inflate_all(&mut inf, &fin, 100).unwrap(), b"Hello");
        assert_eq!(inflate_all(&mut inf, &hello, 100).unwrap(), b"Hello");
    }

    #[test]
    fn a_bomb_is_refused_after_one_chunk() {
        let mut def = Deflater::new(&DeflateParams::default(), 9);
        let mut c = Vec::new();
        def.compress(&vec![0u8; 10 * 1024 * 1024], true, &mut c);
        assert!(c.len() < 20 * 1024, "{}", c.len());
        let mut inf = Inflater::new(&DeflateParams::default());
        let mut held = 0usize;
        let mut budget = 64 * 1024;
        let r = inf.inflate(&c, &mut budget, &mut |chunk| {
            held += chunk.len();
            true
        });
        assert_eq!(r, Err(InflateError::TooLarge));
        assert!(held <= 64 * 1024, "{held}");
    }

    #[test]
    fn garbage_is_corrupt() {
        let mut inf = Inflater::new(&DeflateParams::default());
        assert_eq!(
            inflate_all(&mut inf, &[0xff, 0xff, 0xff, 0xff], 100),
            Err(InflateError::Corrupt)
        );
    }
}
