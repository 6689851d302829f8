//! The access log: one line per request, formatted on the worker into a buffer it reuses and
//! handed to the log writer thread as bytes, a batch at a time.
//!
//! The line is the one the `tracing-subscriber` formatter the host installs would write for an
//! INFO event of the target `peregrine::access` (so tools that read it see no change):
//!
//! ```text
//! 2026-12-01T22:56:48.123456Z  INFO peregrine::access: remote=127.0.0.1:41234 method=GET target=/plaintext status=200 bytes=13 micros=12
//! ```
//!
//! Formatting it here costs a few hundred instructions; going through `tracing` cost about
//! ten thousand. Lines wait in the worker's buffer until it holds [`FLUSH_AT`] bytes, the next
//! heartbeat (at most a second) or the worker stops; then the worker swaps the buffer for a spare
//! one and sends the full one to the access log writer thread, which writes it with one
//! `write_all` and sends it back to be reused: no copy, and no allocation once the buffers exist.
//! Without a writer (an embedder that installed its own subscriber, or none) each line is a
//! `tracing` event as before.

use std::cell::RefCell;
use std::io::Write;
use std::net::SocketAddr;

mod writer;

pub(crate) use writer::{start_access_log_writer, AccessLogWriter};
use writer::{Channels, Msg, WRITER};

/// A worker hands its lines over when this many bytes are buffered.
const FLUSH_AT: usize = 16 * 1024;

/// What one line says about a request.
pub(crate) struct AccessEntry<'a> {
    /// The client address as the application saw it (after forwarded headers).
    pub(crate) remote: Option<SocketAddr>,
    pub(crate) method: &'a [u8],
    pub(crate) target: &'a [u8],
    pub(crate) status: u16,
    /// Response body bytes.
    pub(crate) bytes: u64,
    /// When the request's head was parsed ([`wall_micros`]).
    pub(crate) started: u64,
}

/// The wall clock in microseconds since the Unix epoch: a line's time stamp, and (two of them)
/// the time a request took, as `tracing` would have stamped and timed it. One `clock_gettime`
/// (the vDSO, no system call) and no conversions.
pub(crate) fn wall_micros() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_REALTIME always exists; the call
    // only writes `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000) + (ts.tv_nsec as u64) / 1_000
}

/// One worker's access log: the lines not yet handed over, and what it caches to write them.
#[derive(Default)]
pub(crate) struct AccessLog {
    state: RefCell<State>,
}

/// The buffer and the caches behind one borrow.
struct State {
    /// Lines in `buf[..used]`; the rest is room to write the next ones (kept initialised, so a
    /// line is written by plain stores and copies of known sizes).
    buf: Vec<u8>,
    used: usize,
    /// The second last written (`u64::MAX`: none yet) and its `YYYY-MM-DDTHH:MM:SS`.
    second: u64,
    stamp: [u8; 19],
    /// The client address last written and its text (the lines of a connection repeat it).
    remote: Option<SocketAddr>,
    remote_text: [u8; REMOTE_MAX],
    remote_len: usize,
}

impl Default for State {
    fn default() -> Self {
        State {
            buf: Vec::new(),
            used: 0,
            second: u64::MAX,
            stamp: [0; 19],
            remote: None,
            remote_text: [0; REMOTE_MAX],
            remote_len: 0,
        }
    }
}

/// Room for a client address's text (an IPv6 address with a scope and a port is at most 65).
const REMOTE_MAX: usize = 72;

/// The most a line takes besides its method and target: the time stamp and the literal text
/// (104 bytes), the client address (written as [`REMOTE_MAX`] bytes) and three numbers
/// (up to 20 digits each), with room to spare.
const LINE_SLACK: usize = 256;

/// A worker's buffer: a batch and the longest usual line.
const BATCH: usize = FLUSH_AT + 8 * 1024;

/// The two-digit numbers 00 to 99, for writing numbers two digits at a time.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// A writer over the room set aside for one line. Fixed-size pieces are copied whole (the room
/// after the line's end is scratch), so only the method and the target need a copy of a length
/// known at run time.
struct Line<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Line<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }

    fn put_fixed<const N: usize>(&mut self, bytes: &[u8; N]) {
        self.buf[self.at..self.at + N].copy_from_slice(bytes);
        self.at += N;
    }

    /// Writes `bytes[..len]`, copying all of `bytes`.
    fn put_prefix<const N: usize>(&mut self, bytes: &[u8; N], len: usize) {
        self.buf[self.at..self.at + N].copy_from_slice(bytes);
        self.at += len.min(N);
    }

    /// `n` in decimal, two digits at a time; one and two digits (the usual microseconds) take
    /// a store or two.
    fn put_num(&mut self, mut n: u64) {
        if n < 10 {
            self.put_fixed(&[b'0' + n as u8]);
            return;
        }
        if n < 100 {
            let pair = n as usize * 2;
            self.put_fixed(&[PAIRS[pair], PAIRS[pair + 1]]);
            return;
        }
        // Digits end at 20; the 20 bytes from the first are copied whole.
        let mut digits = [0u8; 40];
        let mut i = 20;
        while n >= 100 {
            let pair = (n % 100) as usize * 2;
            n /= 100;
            i -= 2;
            digits[i] = PAIRS[pair];
            digits[i + 1] = PAIRS[pair + 1];
        }
        if n >= 10 {
            let pair = n as usize * 2;
            i -= 2;
            digits[i] = PAIRS[pair];
            digits[i + 1] = PAIRS[pair + 1];
        } else {
            i -= 1;
            digits[i] = b'0' + n as u8;
        }
        let window: &[u8; 20] = digits[i..i + 20].try_into().expect("20 bytes");
        self.put_prefix(window, 20 - i);
    }

    /// A status code (100 to 999, three digits).
    fn put_status(&mut self, status: u16) {
        let status = status.clamp(100, 999) as usize;
        let pair = status % 100 * 2;
        let three = [b'0' + (status / 100) as u8, PAIRS[pair], PAIRS[pair + 1]];
        self.put_fixed(&three);
    }

    /// `n` (below a million) as six digits.
    fn put_six(&mut self, n: u32) {
        let high = (n / 10_000) as usize * 2;
        let mid = (n / 100 % 100) as usize * 2;
        let low = (n % 100) as usize * 2;
        let mut six = [0u8; 6];
        six[0..2].copy_from_slice(&PAIRS[high..high + 2]);
        six[2..4].copy_from_slice(&PAIRS[mid..mid + 2]);
        six[4..6].copy_from_slice(&PAIRS[low..low + 2]);
        self.put_fixed(&six);
    }
}

impl AccessLog {
    /// Logs the line of one answered request.
    pub(crate) fn log(&self, entry: &AccessEntry<'_>) {
        let now = wall_micros();
        let micros = now.saturating_sub(entry.started);
        let Some(writer) = WRITER.get() else {
            tracing::info!(
                target: "peregrine::access",
                remote = %OrDash(entry.remote),
                method = %String::from_utf8_lossy(entry.method),
                target = %String::from_utf8_lossy(entry.target),
                status = entry.status,
                bytes = entry.bytes,
                micros,
            );
            return;
        };
        let mut state = self.state.borrow_mut();
        let room = LINE_SLACK + entry.method.len() + entry.target.len();
        if state.used + room > state.buf.len() {
            if state.used > 0 {
                hand_over(writer, &mut state);
            }
            let size = room.max(BATCH);
            if state.buf.len() < size {
                state.buf.resize(size, 0);
            }
        }
        format_line(&mut state, now, entry, micros);
        if state.used >= FLUSH_AT {
            hand_over(writer, &mut state);
        }
    }

    /// Hands the buffered lines to the writer thread (the heartbeat does, once a second).
    pub(crate) fn flush(&self) {
        let mut state = self.state.borrow_mut();
        if state.used > 0 {
            match WRITER.get() {
                Some(writer) => hand_over(writer, &mut state),
                None => state.used = 0,
            }
        }
    }
}

/// Sends the lines to the writer thread and takes a spare buffer in place of theirs (one it
/// gave back, still initialised, or a new zeroed one).
fn hand_over(writer: &Channels, state: &mut State) {
    let mut spare = writer.spare.try_recv().unwrap_or_else(|_| vec![0; BATCH]);
    if spare.len() < state.buf.len() {
        spare.resize(state.buf.len(), 0);
    }
    let full = std::mem::replace(&mut state.buf, spare);
    let _ = writer.lines.send(Msg::Lines(full, state.used));
    state.used = 0;
}

/// Writes one line at `state.buf[state.used..]`, which has room for it.
fn format_line(state: &mut State, unix_micros: u64, e: &AccessEntry<'_>, micros: u64) {
    let secs = unix_micros / 1_000_000;
    if state.second != secs {
        state.second = secs;
        state.stamp = civil_time(secs);
    }
    if state.remote != e.remote || state.remote_len == 0 {
        state.remote = e.remote;
        let mut text = std::io::Cursor::new(&mut state.remote_text[..]);
        let _ = match e.remote {
            Some(a) => write!(text, "{a}"),
            None => text.write_all(b"-"),
        };
        state.remote_len = text.position() as usize;
    }
    let mut line = Line {
        buf: &mut state.buf[state.used..],
        at: 0,
    };
    line.put_fixed(&state.stamp);
    line.put_fixed(b".");
    line.put_six((unix_micros % 1_000_000) as u32);
    line.put_fixed(b"Z  INFO peregrine::access: remote=");
    line.put_prefix(&state.remote_text, state.remote_len);
    line.put_fixed(b" method=");
    line.put(e.method);
    line.put_fixed(b" target=");
    line.put(e.target);
    line.put_fixed(b" status=");
    line.put_status(e.status);
    line.put_fixed(b" bytes=");
    line.put_num(e.bytes);
    line.put_fixed(b" micros=");
    line.put_num(micros);
    line.put_fixed(b"\n");
    state.used += line.at;
}

impl Drop for AccessLog {
    /// A stopping worker hands over what it still holds.
    fn drop(&mut self) {
        self.flush();
    }
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) of a Unix time, for years 1970..=9999 (Howard Hinnant's
/// `civil_from_days`).
fn civil_time(secs: u64) -> [u8; 19] {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut s = [0u8; 19];
    let two = |s: &mut [u8], v: u64| {
        s[0] = b'0' + (v / 10 % 10) as u8;
        s[1] = b'0' + (v % 10) as u8;
    };
    let year = year.clamp(0, 9999) as u64;
    two(&mut s[0..2], year / 100);
    two(&mut s[2..4], year % 100);
    s[4] = b'-';
    two(&mut s[5..7], month as u64);
    s[7] = b'-';
    two(&mut s[8..10], day as u64);
    s[10] = b'T';
    two(&mut s[11..13], rem / 3_600);
    s[13] = b':';
    two(&mut s[14..16], rem / 60 % 60);
    s[16] = b':';
    two(&mut s[17..19], rem % 60);
    s
}

/// Displays a value, or `-` when there is none (the access log's convention).
struct OrDash<D>(Option<D>);

impl<D: std::fmt::Display> std::fmt::Display for OrDash<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(d) => d.fmt(f),
            None => f.write_str("-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(unix_micros: u64, remote: Option<SocketAddr>) -> String {
        let mut state = State {
            buf: vec![0; BATCH],
            ..State::default()
        };
        let entry = AccessEntry {
            remote,
            method: b"GET",
            target: b"/missing?x=1",
            status: 404,
            bytes: 9,
            started: 0,
        };
        format_line(&mut state, unix_micros, &entry, 17);
        // The caches give the same line again.
        format_line(&mut state, unix_micros, &entry, 17);
        state.buf.truncate(state.used);
        let text = String::from_utf8(state.buf).unwrap();
        let (first, second) = text.split_at(text.len() / 2);
        assert_eq!(first, second);
        first.to_owned()
    }

    #[test]
    fn numbers() {
        for n in [
            0,
            7,
            10,
            99,
            100,
            101,
            999,
            1_000,
            65_535,
            1_000_000,
            u64::MAX,
        ] {
            let mut buf = [0u8; 64];
            let mut line = Line {
                buf: &mut buf,
                at: 0,
            };
            line.put_num(n);
            let at = line.at;
            assert_eq!(std::str::from_utf8(&buf[..at]).unwrap(), n.to_string());
        }
        for status in [100, 101, 200, 204, 404, 500, 999] {
            let mut buf = [0u8; 64];
            let mut line = Line {
                buf: &mut buf,
                at: 0,
            };
            line.put_status(status);
            assert_eq!(std::str::from_utf8(&buf[..3]).unwrap(), status.to_string());
        }
        for n in [0, 5, 42, 100, 123_456, 999_999] {
            let mut buf = [0u8; 64];
            let mut line = Line {
                buf: &mut buf,
                at: 0,
            };
            line.put_six(n);
            assert_eq!(std::str::from_utf8(&buf[..6]).unwrap(), format!("{n:06}"));
        }
    }

    #[test]
    fn the_line_is_tracing_subscribers() {
        assert_eq!(
            line(
                1_764_629_808_000_042,
                Some("127.0.0.1:41234".parse().unwrap())
            ),
            "2025-12-01T22:56:48.000042Z  INFO peregrine::access: remote=127.0.0.1:41234 \
             method=GET target=/missing?x=1 status=404 bytes=9 micros=17\n"
        );
        assert_eq!(
            line(0, None),
            "1970-01-01T00:00:00.000000Z  INFO peregrine::access: remote=- \
             method=GET target=/missing?x=1 status=404 bytes=9 micros=17\n"
        );
        assert!(
            line(951_782_400_999_999, Some("[::1]:8080".parse().unwrap())).starts_with(
                "2000-02-29T00:00:00.999999Z  INFO peregrine::access: remote=[::1]:8080 method="
            )
        );
    }

    #[test]
    fn civil_time_matches_known_dates() {
        for (secs, want) in [
            (0, "1970-01-01T00:00:00"),
            (68_255_999, "1972-02-29T23:59:59"),
            (946_684_800, "2000-01-01T00:00:00"),
            (4_102_444_799, "2099-12-31T23:59:59"),
            (253_402_300_799, "9999-12-31T23:59:59"),
        ] {
            assert_eq!(std::str::from_utf8(&civil_time(secs)).unwrap(), want);
        }
    }
}
