//! Incremental UTF-8 validation for text messages that arrive in pieces
//! (fragments, partial reads, inflate output).
//!
//! [`Utf8Validator::feed`] fails as soon as the bytes so far cannot begin
//! any valid UTF-8 string, even when the offending sequence is split across
//! pieces (`F4 90` is refused at the `90`, not when the sequence ends);
//! [`Utf8Validator::finish`] refuses a sequence left unfinished at the end
//! of the message. The bulk of each piece goes through `std::str::from_utf8`.

/// The validation state between pieces: the bytes of an unfinished
/// sequence (at most three) carried over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    pending: [u8; 4],
    pending_len: u8,
}

/// The bytes are not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

/// The length of the sequence a lead byte starts (1 for anything that is
/// not a multi-byte lead; `from_utf8` refuses those).
fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xFF => 4,
        _ => 1,
    }
}

/// Where a multi-byte sequence that `input` leaves unfinished begins (its lead is in the
/// last three bytes, and it says more bytes follow than there are), or `input.len()`.
fn unfinished_tail(input: &[u8]) -> usize {
    let n = input.len();
    for back in 1..=n.min(3) {
        let b = input[n - back];
        if b & 0xC0 != 0x80 {
            return if sequence_len(b) > back { n - back } else { n };
        }
    }
    n
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates the next piece of the message.
    pub fn feed(&mut self, input: &[u8]) -> Result<(), InvalidUtf8> {
        self.feed_with(input, |_| {})
    }

    /// Validates the next piece of the message, like [`feed`](Self::feed), and appends it to
    /// `out` (what it completes of a sequence the last piece began, and all of its own but a
    /// sequence it leaves unfinished, carried over): the text is built from the validation
    /// itself, with one pass of `std::str::from_utf8` over the bytes, none after.
    pub fn feed_into(&mut self, input: &[u8], out: &mut String) -> Result<(), InvalidUtf8> {
        self.feed_with(input, |text| out.push_str(text))
    }

    /// Validates the next piece, handing each validated run of whole characters to `emit`.
    fn feed_with(
        &mut self,
        mut input: &[u8],
        mut emit: impl FnMut(&str),
    ) -> Result<(), InvalidUtf8> {
        if self.pending_len > 0 {
            let have = self.pending_len as usize;
            let need = sequence_len(self.pending[0]) - have;
            let take = need.min(input.len());
            let mut seq = self.pending;
            seq[have..have + take].copy_from_slice(&input[..take]);
            match std::str::from_utf8(&seq[..have + take]) {
                Ok(c) => {
                    emit(c);
                    self.pending_len = 0;
                }
                Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                Err(_) => {
                    // Still a valid prefix, and the input is used up.
                    self.pending = seq;
                    self.pending_len = (have + take) as u8;
                    return Ok(());
                }
            }
            input = &input[take..];
        }
        // A sequence the piece leaves unfinished is split off first, so that the rest is
        // whole characters and validates (into a `&str`) in one pass.
        let split = unfinished_tail(input);
        let (whole, tail) = input.split_at(split);
        emit(std::str::from_utf8(whole).map_err(|_| InvalidUtf8)?);
        if !tail.is_empty() {
            match std::str::from_utf8(tail) {
                Err(e) if e.error_len().is_none() => {}
                // Not even the start of a character (or whole after all: cannot happen).
                _ => return Err(InvalidUtf8),
            }
            self.pending[..tail.len()].copy_from_slice(tail);
            self.pending_len = tail.len() as u8;
        }
        Ok(())
    }

    /// Ends the message: an unfinished sequence is invalid. The validator
    /// is ready for the next message either way.
    pub fn finish(&mut self) -> Result<(), InvalidUtf8> {
        let unfinished = self.pending_len > 0;
        self.pending_len = 0;
        if unfinished {
            Err(InvalidUtf8)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Validates the pieces with `feed` and with `feed_into`, which must agree (on where
    /// they fail, too), and the text `feed_into` builds must be the pieces joined.
    fn check(pieces: &[&[u8]]) -> Result<(), (usize, InvalidUtf8)> {
        let fed = check_with(pieces, |v, p, _| v.feed(p)).map(|_| ());
        let built = check_with(pieces, |v, p, out| v.feed_into(p, out));
        assert_eq!(
            fed,
            built.as_ref().map(|_| ()).map_err(|e| *e),
            "{pieces:?}"
        );
        if let Ok(text) = built {
            assert_eq!(text.as_bytes(), pieces.concat(), "{pieces:?}");
        }
        fed
    }

    fn check_with(
        pieces: &[&[u8]],
        mut feed: impl FnMut(&mut Utf8Validator, &[u8], &mut String) -> Result<(), InvalidUtf8>,
    ) -> Result<String, (usize, InvalidUtf8)> {
        let mut v = Utf8Validator::new();
        let mut out = String::new();
        for (i, p) in pieces.iter().enumerate() {
            feed(&mut v, p, &mut out).map_err(|e| (i, e))?;
        }
        v.finish().map_err(|e| (pieces.len(), e))?;
        Ok(out)
    }

    /// Autobahn section 6 style: valid and invalid sequences, split at
    /// every place; `fails_at` is the piece where the failure must show.
    #[test]
    fn split_sequences_fail_fast() {
        // Valid: "κόσμε" split inside every character.
        let kosme = "κόσμε".as_bytes();
        for cut in 0..=kosme.len() {
            assert_eq!(check(&[&kosme[..cut], &kosme[cut..]]), Ok(()), "cut {cut}");
        }
        // 4-byte U+10FFFF byte by byte.
        assert_eq!(check(&[&[0xF4], &[0x8F], &[0xBF], &[0xBF]]), Ok(()));
        let cases: &[(&str, &[&[u8]], usize)] = &[
            (
                "F4 90: above U+10FFFF, known at the 90",
                &[b"ok", &[0xF4], &[0x90], &[0x80, 0x80]],
                2,
            ),
            (
                "ED A0: a surrogate, known at the A0",
                &[&[0xED], &[0xA0, 0x80]],
                1,
            ),
            (
                "E0 80: overlong, known at the 80",
                &[&[0xE0], &[0x80], &[0x80]],
                1,
            ),
            ("C0: never valid", &[b"abc", &[0xC0], &[0x80]], 1),
            ("lone continuation", &[b"a", &[0x80]], 1),
            ("F5 lead", &[&[0xF5]], 0),
            ("truncated at the end", &[b"a", &[0xE2, 0x82]], 2),
            (
                "truncated 4-byte across pieces",
                &[&[0xF0], &[0x90, 0x80]],
                2,
            ),
            (
                "valid then bad inside a piece",
                &[b"hello", &[0xCE, 0xBA, 0xFF]],
                1,
            ),
            ("pending completed by a bad byte", &[&[0xCE], &[0x41]], 1),
        ];
        for (name, pieces, fails_at) in cases {
            assert_eq!(check(pieces), Err((*fails_at, InvalidUtf8)), "{name}");
        }
    }

    #[test]
    fn finish_resets() {
        let mut v = Utf8Validator::new();
        v.feed(&[0xE2]).unwrap();
        assert_eq!(v.finish(), Err(InvalidUtf8));
        v.feed(b"fresh").unwrap();
        assert_eq!(v.finish(), Ok(()));
    }

    proptest! {
        /// Any split agrees with `from_utf8` on the whole.
        #[test]
        fn any_split_agrees_with_std(bytes in proptest::collection::vec(
                prop_oneof![any::<u8>(), Just(0x80u8), Just(0xE2), Just(0xF0)], 0..40),
                cuts in proptest::collection::vec(0usize..40, 0..6)) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort();
            let mut pieces = Vec::new();
            let mut at = 0;
            for c in cuts { pieces.push(&bytes[at..c]); at = c; }
            pieces.push(&bytes[at..]);
            prop_assert_eq!(check(&pieces).is_ok(), std::str::from_utf8(&bytes).is_ok());
        }

        #[test]
        fn valid_strings_pass_any_split(s in "\\PC{0,20}", cut in 0usize..80) {
            let b = s.as_bytes();
            let c = cut.min(b.len());
            prop_assert_eq!(check(&[&b[..c], &b[c..]]), Ok(()));
        }
    }
}
