//! The headers a server adds to every response, `Server` and `Date`, kept as the lines they are
//! on the wire (Kestrel's `DateHeaderValueManager`, which keeps `Date` and `Server` pre-encoded).

use std::time::SystemTime;

use super::encode::write_known_header;
use super::DateCache;

/// The status line of a `200 OK`, which the usual response head starts with.
const OK_LINE: &[u8] = b"HTTP/1.1 200 OK\r\n";

/// The `Server` and `Date` headers one worker adds to its responses (each unless the
/// application set its own), formatted when the date changes (once a second) rather than for
/// every response.
///
/// It also keeps the start of the usual head formatted, a `200 OK` status line followed by
/// both lines, so that [`encode_head`](super::encode_head) begins such a response with one
/// copy.
#[derive(Clone, Debug)]
pub struct ServerHeaders {
    server: Option<Box<[u8]>>,
    /// `None`: no `Date` (a server without a clock, RFC 9110 6.6.1).
    date: Option<DateCache>,
    /// `HTTP/1.1 200 OK\r\n`, then `Server: ...\r\n` and `Date: ...\r\n` as present.
    ok_start: Vec<u8>,
}

impl ServerHeaders {
    /// `Server: server` (none if `None`; the value is sent as given, so it must be valid field
    /// content, as the server's options check) and `Date` at the current time.
    pub fn new(server: Option<&[u8]>) -> ServerHeaders {
        ServerHeaders::with_date(server, Some(SystemTime::now()))
    }

    /// `Server: server` as in [`new`](Self::new), and `Date` at `now`, or no `Date` if `None`
    /// (for a server without a clock, or output that must not change from run to run).
    pub fn with_date(server: Option<&[u8]>, now: Option<SystemTime>) -> ServerHeaders {
        let mut headers = ServerHeaders {
            server: server.map(Box::from),
            date: now.map(|now| {
                let mut date = DateCache::new();
                date.update(now);
                date
            }),
            ok_start: Vec::new(),
        };
        headers.format_ok_start();
        headers
    }

    /// Moves the date to `now`, reformatting it if that is another second; returns whether it
    /// changed (never without a date).
    pub fn update(&mut self, now: SystemTime) -> bool {
        let changed = self.date.as_mut().is_some_and(|date| date.update(now));
        if changed {
            self.format_ok_start();
        }
        changed
    }

    /// The `Server` value, if one is sent.
    pub fn server(&self) -> Option<&[u8]> {
        self.server.as_deref()
    }

    /// The `Date` value (an IMF-fixdate, [`DATE_LEN`](super::DATE_LEN) bytes), if one is sent.
    pub fn date(&self) -> Option<&[u8]> {
        self.date.as_ref().map(DateCache::as_bytes)
    }

    /// The start of a `200 OK` head: its status line, then the `Server` and `Date` lines.
    pub(super) fn ok_start(&self) -> &[u8] {
        &self.ok_start
    }

    fn format_ok_start(&mut self) {
        let out = &mut self.ok_start;
        out.clear();
        out.extend_from_slice(OK_LINE);
        if let Some(server) = &self.server {
            write_known_header(out, b"Server: ", server);
        }
        if let Some(date) = &self.date {
            write_known_header(out, b"Date: ", date.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_ok_start_follows_the_date() {
        let mut h = ServerHeaders::with_date(Some(b"peregrine"), Some(at(784_111_777)));
        assert_eq!(h.server(), Some(&b"peregrine"[..]));
        assert_eq!(h.date(), Some(&b"Sun, 06 Nov 1994 08:49:37 GMT"[..]));
        assert_eq!(
            h.ok_start(),
            b"HTTP/1.1 200 OK\r\nServer: peregrine\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
        );
        assert!(!h.update(at(784_111_777) + Duration::from_millis(999)));
        assert!(h.update(at(784_111_778)));
        assert_eq!(
            h.ok_start(),
            b"HTTP/1.1 200 OK\r\nServer: peregrine\r\nDate: Sun, 06 Nov 1994 08:49:38 GMT\r\n"
        );
    }

    #[test]
    fn each_line_is_optional() {
        let h = ServerHeaders::with_date(None, Some(at(0)));
        assert_eq!(
            h.ok_start(),
            b"HTTP/1.1 200 OK\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
        );
        let mut h = ServerHeaders::with_date(Some(b"edge"), None);
        assert!(!h.update(at(1)));
        assert_eq!(h.date(), None);
        assert_eq!(h.ok_start(), b"HTTP/1.1 200 OK\r\nServer: edge\r\n");
        assert_eq!(
            ServerHeaders::with_date(None, None).ok_start(),
            b"HTTP/1.1 200 OK\r\n"
        );
    }
}
