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
    pub(crate) method: Padded<'a>,
    pub(crate) target: Padded<'a>,
    pub(crate) status: u16,
    /// Response body bytes.
    pub(crate) bytes: u64,
    /// When the request's head was received ([`wall_micros`]).
    pub(crate) started: u64,
}

/// Bytes for a line, with the bytes that follow them where they were read from (the rest of
/// the request head), so a short field is copied as one fixed-size block rather than by a
/// `memcpy` of a length known only at run time. The bytes after the field are read, never
/// written to the line: it ends where the field does.
#[derive(Clone, Copy)]
pub(crate) struct Padded<'a> {
    /// The field's bytes, then whatever followed them.
    with_after: &'a [u8],
    len: usize,
}

impl<'a> Padded<'a> {
    /// `bytes`, with nothing after them.
    pub(crate) fn exact(bytes: &'a [u8]) -> Self {
        Padded {
            with_after: bytes,
            len: bytes.len(),
        }
    }

    /// `buf[start..end]`, followed by the rest of `buf`. Panics, as slicing would, if `start`
    /// is past the end of `buf` (its [`bytes`](Self::bytes) would if `end` were).
    pub(crate) fn within(buf: &'a [u8], start: usize, end: usize) -> Self {
        Padded {
            with_after: &buf[start..],
            len: end.wrapping_sub(start),
        }
    }

    /// The field's bytes.
    pub(crate) fn bytes(&self) -> &'a [u8] {
        &self.with_after[..self.len]
    }
}

/// The wall clock in microseconds since the Unix epoch: when a request's head was received,
/// and (with the clock read when its line is written) the time it took.
pub(crate) fn wall_micros() -> u64 {
    let (secs, micros) = wall_clock();
    secs.wrapping_mul(1_000_000) + u64::from(micros)
}

/// The wall clock since the Unix epoch, as whole seconds and the microseconds of the second.
/// One `clock_gettime` (the vDSO, no system call) and no division.
fn wall_clock() -> (u64, u32) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_REALTIME always exists; the call
    // only writes `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    (ts.tv_sec as u64, (ts.tv_nsec as u32) / 1_000)
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
    /// The second in `prefix` (`u64::MAX`: none yet).
    second: u64,
    /// The client address in `prefix`, when `remote_known`.
    remote: Option<SocketAddr>,
    remote_known: bool,
    /// The start of a line up to its method, as the lines of one second and one client share
    /// it: `YYYY-MM-DDTHH:MM:SS.uuuuuuZ  INFO peregrine::access: remote=ADDRESS method=` (the
    /// microseconds are each line's own). `prefix[..prefix_len]` is the text; a line starts
    /// with a copy of the whole array.
    prefix: [u8; PREFIX_MAX],
    prefix_len: usize,
}

impl Default for State {
    fn default() -> Self {
        let mut prefix = [0; PREFIX_MAX];
        prefix[STAMP_LEN] = b'.';
        prefix[MICROS_AT + 6..REMOTE_AT].copy_from_slice(LEVEL_AND_TARGET);
        State {
            buf: Vec::new(),
            used: 0,
            second: u64::MAX,
            remote: None,
            remote_known: false,
            prefix,
            prefix_len: 0,
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS`.
const STAMP_LEN: usize = 19;
/// Where the six digits of the microseconds go in a line.
const MICROS_AT: usize = STAMP_LEN + 1;
/// What follows the time stamp, up to the client address.
const LEVEL_AND_TARGET: &[u8; 34] = b"Z  INFO peregrine::access: remote=";
/// Where the client address starts in a line.
const REMOTE_AT: usize = MICROS_AT + 6 + LEVEL_AND_TARGET.len();
/// Room for a client address's text (an IPv6 address with a scope and a port is at most 65).
const REMOTE_MAX: usize = 72;
/// What follows the client address.
const METHOD_KEY: &[u8; 8] = b" method=";
/// The prefix's array: its longest text (140 bytes), rounded up for whole-block copies.
const PREFIX_MAX: usize = 144;

/// The most a line takes besides its method and target: the prefix (copied as [`PREFIX_MAX`]
/// bytes), the rest of the literal text (26 bytes), a status and two numbers (up to 20 digits
/// each), and what the fixed-size copies write past a field's end (up to 32 bytes), with room
/// to spare.
const LINE_SLACK: usize = 320;

/// A worker's buffer: a batch and the longest usual line.
const BATCH: usize = FLUSH_AT + 8 * 1024;

/// The two-digit numbers 00 to 99, for writing numbers two digits at a time.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// The two digits of `n` (below 100).
fn pair(n: u64) -> [u8; 2] {
    let i = n as usize * 2;
    [PAIRS[i], PAIRS[i + 1]]
}

/// A writer over the room set aside for one line. Fixed-size pieces are copied whole (the room
/// after the line's end is scratch), so only long methods and targets need a copy of a length
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

    /// Writes a field, as one block of 16 or 32 bytes when it is that short and its buffer
    /// holds that many from its start.
    #[inline(always)]
    fn put_padded(&mut self, field: Padded<'_>) {
        if field.len <= 16 {
            if let Some(block) = field.with_after.first_chunk::<16>() {
                return self.put_prefix(block, field.len);
            }
        } else if field.len <= 32 {
            if let Some(block) = field.with_after.first_chunk::<32>() {
                return self.put_prefix(block, field.len);
            }
        }
        self.put(field.bytes());
    }

    /// `n` in decimal; up to four digits (the usual sizes and microseconds) take a store or two.
    #[inline(always)]
    fn put_num(&mut self, n: u64) {
        if n < 10 {
            self.put_fixed(&[b'0' + n as u8]);
        } else if n < 100 {
            self.put_fixed(&pair(n));
        } else if n < 1_000 {
            let [a, b] = pair(n % 100);
            self.put_fixed(&[b'0' + (n / 100) as u8, a, b]);
        } else if n < 10_000 {
            let ([a, b], [c, d]) = (pair(n / 100), pair(n % 100));
            self.put_fixed(&[a, b, c, d]);
        } else {
            self.put_long(n);
        }
    }

    /// `n` (10,000 or more) in decimal, two digits at a time.
    #[cold]
    fn put_long(&mut self, mut n: u64) {
        // Digits end at 20; the 20 bytes from the first are copied whole.
        let mut digits = [0u8; 40];
        let mut i = 20;
        while n >= 100 {
            i -= 2;
            digits[i..i + 2].copy_from_slice(&pair(n % 100));
            n /= 100;
        }
        if n >= 10 {
            i -= 2;
            digits[i..i + 2].copy_from_slice(&pair(n));
        } else {
            i -= 1;
            digits[i] = b'0' + n as u8;
        }
        let window: &[u8; 20] = digits[i..i + 20].try_into().expect("20 bytes");
        self.put_prefix(window, 20 - i);
    }

    /// A status code (100 to 999, three digits).
    fn put_status(&mut self, status: u16) {
        let status = u64::from(status.clamp(100, 999));
        let [a, b] = pair(status % 100);
        self.put_fixed(&[b'0' + (status / 100) as u8, a, b]);
    }

    /// `n` (below a million) as six digits at `at`, which must be in what was written already.
    fn put_six_at(&mut self, at: usize, n: u32) {
        let n = u64::from(n);
        let ([a, b], [c, d], [e, f]) = (pair(n / 10_000), pair(n / 100 % 100), pair(n % 100));
        self.buf[at..at + 6].copy_from_slice(&[a, b, c, d, e, f]);
    }
}

impl AccessLog {
    /// Logs the line of one answered request.
    pub(crate) fn log(&self, entry: &AccessEntry<'_>) {
        let (secs, sub) = wall_clock();
        let micros = (secs.wrapping_mul(1_000_000) + u64::from(sub)).saturating_sub(entry.started);
        let Some(writer) = WRITER.get() else {
            tracing::info!(
                target: "peregrine::access",
                remote = %OrDash(entry.remote),
                method = %String::from_utf8_lossy(entry.method.bytes()),
                target = %String::from_utf8_lossy(entry.target.bytes()),
                status = entry.status,
                bytes = entry.bytes,
                micros,
            );
            return;
        };
        let mut state = self.state.borrow_mut();
        let room = LINE_SLACK + entry.method.len + entry.target.len;
        if state.used + room > state.buf.len() {
            if state.used > 0 {
                hand_over(writer, &mut state);
            }
            let size = room.max(BATCH);
            if state.buf.len() < size {
                state.buf.resize(size, 0);
            }
        }
        format_line(&mut state, (secs, sub), entry, micros);
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

impl State {
    /// Makes the prefix name `remote`.
    fn set_remote(&mut self, remote: Option<SocketAddr>) {
        self.remote = remote;
        self.remote_known = true;
        let mut text = std::io::Cursor::new(&mut self.prefix[REMOTE_AT..REMOTE_AT + REMOTE_MAX]);
        let _ = match remote {
            Some(a) => write!(text, "{a}"),
            None => text.write_all(b"-"),
        };
        let end = REMOTE_AT + text.position() as usize;
        self.prefix[end..end + METHOD_KEY.len()].copy_from_slice(METHOD_KEY);
        self.prefix_len = end + METHOD_KEY.len();
    }
}

/// Writes one line at `state.buf[state.used..]`, which has room for it; `now` is the time
/// stamp (seconds and microseconds since the Unix epoch).
fn format_line(state: &mut State, now: (u64, u32), e: &AccessEntry<'_>, micros: u64) {
    let (secs, sub) = now;
    if state.second != secs {
        state.second = secs;
        state.prefix[..STAMP_LEN].copy_from_slice(&civil_time(secs));
    }
    if !state.remote_known || state.remote != e.remote {
        state.set_remote(e.remote);
    }
    let mut line = Line {
        buf: &mut state.buf[state.used..],
        at: 0,
    };
    // One block of 128 bytes (which the compiler copies inline) unless the address is a long
    // IPv6 one.
    match state.prefix.first_chunk::<128>() {
        Some(block) if state.prefix_len <= 128 => line.put_prefix(block, state.prefix_len),
        _ => line.put_prefix(&state.prefix, state.prefix_len),
    }
    line.put_six_at(MICROS_AT, sub);
    line.put_padded(e.method);
    line.put_fixed(b" target=");
    line.put_padded(e.target);
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
            method: Padded::exact(b"GET"),
            target: Padded::exact(b"/missing?x=1"),
            status: 404,
            bytes: 9,
            started: 0,
        };
        let now = (unix_micros / 1_000_000, (unix_micros % 1_000_000) as u32);
        format_line(&mut state, now, &entry, 17);
        // The caches give the same line again.
        format_line(&mut state, now, &entry, 17);
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
            line.put_six_at(0, n);
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
