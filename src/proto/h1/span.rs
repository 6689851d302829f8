//! Byte ranges into a caller-owned buffer.
//!
//! A parsed request head does not borrow the read buffer (that would pin the
//! buffer for the lifetime of the request and fight the io_uring engine,
//! which owns and recycles it); it records `u32` offsets instead, like
//! hyper's `HeaderIndices`. The owner of the buffer resolves a [`Span`]
//! with [`Span::get`] whenever it needs the bytes.

/// A byte range `[start, end)` into the buffer a head (or body chunk) was
/// parsed from.
///
/// Offsets are `u32`: heads are bounded by [`HeadLimits`](super::HeadLimits)
/// far below 4 GiB, and two `u32`s keep [`Header`](super::Header) at 16 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// Offset of the first byte.
    pub start: u32,
    /// Offset one past the last byte.
    pub end: u32,
}

impl Span {
    /// Creates a span covering `buf[start..end]`.
    ///
    /// Both offsets must fit in `u32` and `start <= end`; the parsers in this
    /// module guarantee that by bounding the bytes they look at.
    #[inline]
    pub fn new(start: usize, end: usize) -> Span {
        debug_assert!(start <= end, "span start {start} > end {end}");
        debug_assert!(end <= u32::MAX as usize, "span end {end} exceeds u32");
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// Resolves the span against the buffer it was produced from.
    ///
    /// # Panics
    ///
    /// Panics like slice indexing if the span is out of bounds for `buf`,
    /// i.e. if it is resolved against the wrong (or a shrunk) buffer.
    #[inline]
    pub fn get<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        &buf[self.start as usize..self.end as usize]
    }

    /// Number of bytes covered.
    #[inline]
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// Whether the span covers no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Shifts both ends by `by` bytes, for when the bytes the span points at
    /// are moved `by` bytes further into a buffer (or the span was produced
    /// from a sub-slice starting at offset `by`).
    #[inline]
    #[must_use]
    pub fn offset(self, by: usize) -> Span {
        Span::new(self.start as usize + by, self.end as usize + by)
    }

    /// Span of `part`, which must be a sub-slice of `whole`, relative to
    /// `whole`. Returns an empty span at 0 if `part` does not lie inside
    /// `whole` (never the case for slices handed out by httparse, but it
    /// keeps the conversion panic-free without `unsafe`).
    #[inline]
    pub(crate) fn of(whole: &[u8], part: &[u8]) -> Span {
        let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
        if start <= whole.len() && part.len() <= whole.len() - start {
            Span::new(start, start + part.len())
        } else {
            debug_assert!(false, "Span::of: part is not inside whole");
            Span::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        let buf = b"hello world";
        let s = Span::new(6, 11);
        assert_eq!(s.get(buf), b"world");
        assert_eq!(s.len(), 5);
        assert!(!s.is_empty());
        assert!(Span::default().is_empty());
        assert_eq!(Span::new(0, 5).offset(6), s);
    }

    #[test]
    fn of_sub_slice() {
        let buf = b"GET / HTTP/1.1";
        assert_eq!(Span::of(buf, &buf[4..5]), Span::new(4, 5));
        assert_eq!(Span::of(buf, &buf[14..]), Span::new(14, 14));
        assert_eq!(Span::of(&buf[..], &buf[..]), Span::new(0, 14));
    }
}
