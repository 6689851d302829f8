//! The cached `Date` header value.
//!
//! RFC 9110 6.6.1: an origin server with a clock MUST send Date; its
//! resolution is one second, so each worker formats it once per second (on
//! its timer tick) rather than once per response, like hyper's and
//! Kestrel's date caches. The cache is per thread: no atomics, no sharing.

use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub const DATE_LEN: usize = 29;

/// Last second representable as an IMF-fixdate (9999-12-31T23:59:59Z);
/// httpdate panics past it.
const MAX_SECS: u64 = 253_402_300_799;

/// A formatted IMF-fixdate (RFC 9110 5.6.7), refreshed at most once per
/// second.
#[derive(Clone, Debug)]
pub struct DateCache {
    /// Seconds since the epoch of the formatted date.
    secs: u64,
    bytes: [u8; DATE_LEN],
}

impl Default for DateCache {
    fn default() -> Self {
        Self::new()
    }
}

impl DateCache {
    /// A cache holding the current time.
    pub fn new() -> Self {
        let mut cache = DateCache {
            secs: 0,
            bytes: *b"Thu, 01 Jan 1970 00:00:00 GMT",
        };
        cache.update(SystemTime::now());
        cache
    }

    /// Reformats the date if `now` is in a different second than the cached
    /// value; returns whether it changed. Times before 1970 or after 9999
    /// are clamped (a broken clock must not panic the server).
    pub fn update(&mut self, now: SystemTime) -> bool {
        let secs = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .min(MAX_SECS);
        if secs == self.secs {
            return false;
        }
        self.secs = secs;
        let date = httpdate::HttpDate::from(UNIX_EPOCH + Duration::from_secs(secs));
        // `HttpDate`'s Display formats into a stack array and writes it with
        // one `write_str`; writing into a fixed slice never allocates.
        let mut out = &mut self.bytes[..];
        let written = write!(out, "{date}");
        debug_assert!(
            written.is_ok() && out.is_empty(),
            "IMF-fixdate is {DATE_LEN} bytes"
        );
        true
    }

    /// The formatted date, 29 bytes, for the `Date` header.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn matches_httpdate() {
        let mut cache = DateCache::new();
        for secs in [
            784_111_777u64, // the RFC's example
            0,
            951_782_400, // 2000-02-29 (leap day)
            1_700_000_000,
            4_102_444_799, // 2099-12-31T23:59:59
            MAX_SECS,
        ] {
            cache.update(at(secs));
            assert_eq!(
                cache.as_bytes(),
                httpdate::fmt_http_date(at(secs)).as_bytes(),
                "{secs}"
            );
            assert_eq!(cache.as_bytes().len(), DATE_LEN);
        }
        cache.update(at(784_111_777));
        assert_eq!(cache.as_bytes(), b"Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn update_reports_second_changes() {
        let mut cache = DateCache::new();
        assert!(cache.update(at(1_000)));
        assert!(!cache.update(at(1_000) + Duration::from_millis(999)));
        assert!(cache.update(at(1_001)));
        assert!(!cache.update(at(1_001)));
    }

    #[test]
    fn out_of_range_clock_is_clamped() {
        let mut cache = DateCache::new();
        cache.update(UNIX_EPOCH - Duration::from_secs(10));
        assert_eq!(cache.as_bytes(), b"Thu, 01 Jan 1970 00:00:00 GMT");
        cache.update(at(MAX_SECS + 1_000_000));
        assert_eq!(cache.as_bytes(), b"Fri, 31 Dec 9999 23:59:59 GMT");
    }
}
