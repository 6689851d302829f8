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
//! `micros` is the time from the receive that completed the request's head to the line (the
//! response complete): requests that arrived in one receive (pipelined) share its clock read,
//! so a request costs one clock read, for its line's time stamp.
//!
//! Formatting a line costs about two hundred instructions; going through `tracing` cost about
//! ten thousand. What the lines of one worker repeat is cached: the time stamp's second, the
//! client address, and the middle of the line (method to size) when a request and its answer
//! are those of the line before; a line is then a few block copies and two numbers. Lines wait
//! in the worker's buffer until it holds [`FLUSH_AT`] bytes, the next heartbeat (at most a
//! second) or the worker stops; then the worker swaps the buffer for a spare one and sends the
//! full one to the access log writer thread, which writes every batch queued when it wakes with
//! one `writev` and sends them back to be reused: no copy, and no allocation once the buffers
//! exist (a worker allocates at most [`OWN_BUFFERS`], then waits for the writer to give one
//! back: at most 8 x 72 KiB, 576 KiB, per worker). Large batches matter more than the hand-offs:
//! what the log costs the writer thread is the kernel's page-cache write, cheaper per byte the
//! larger the write (`bench/performance-notes.md`, issue 13's sixth session). Without a writer (an
//! embedder that installed its own subscriber, or none) each line is a `tracing` event as
//! before.

use std::cell::RefCell;
use std::io::Write;
use std::net::SocketAddr;

mod writer;

pub(crate) use writer::{start_access_log_writer, AccessLogWriter};
use writer::{Channels, Msg, WRITER};

use crate::proto::decimal::{pair, put_decimal};

/// A worker hands its lines over when this many bytes are buffered (about 480 lines): at
/// 200,000 lines a second, about 400 hand-offs.
const FLUSH_AT: usize = 64 * 1024;

/// What one line says about a request.
pub(crate) struct AccessEntry<'a> {
    /// The client address as the application saw it (after forwarded headers).
    pub(crate) remote: Option<&'a SocketAddr>,
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
    /// Buffers this worker allocated (at most [`OWN_BUFFERS`]; then it reuses what the writer
    /// thread gives back).
    allocated: usize,
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
    /// The last line's middle, `METHOD target=TARGET status=SSS bytes=N micros=`, and what it
    /// was written from: the lines of a busy endpoint repeat it (`middle_len` 0: none).
    middle_key: MiddleKey,
    middle: [u8; MIDDLE_MAX],
    middle_len: usize,
}

/// What a line's middle is written from, when its method and target are at most 16 bytes and
/// the buffer they were read from holds 16 from each one's start: each as that block of 16
/// (the bytes after the field are compared too, which only makes a match rarer) and its
/// length, the status and the size.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct MiddleKey {
    method: [u8; 16],
    target: [u8; 16],
    method_len: u8,
    target_len: u8,
    status: u16,
    bytes: u64,
}

impl MiddleKey {
    /// The key of `e`'s middle, if it can be cached.
    #[inline(always)]
    fn of(e: &AccessEntry<'_>) -> Option<MiddleKey> {
        match (
            e.method.with_after.first_chunk::<16>(),
            e.target.with_after.first_chunk::<16>(),
        ) {
            (Some(method), Some(target)) if e.method.len <= 16 && e.target.len <= 16 => {
                Some(MiddleKey {
                    method: *method,
                    target: *target,
                    method_len: e.method.len as u8,
                    target_len: e.target.len as u8,
                    status: e.status,
                    bytes: e.bytes,
                })
            }
            _ => None,
        }
    }
}

impl Default for State {
    fn default() -> Self {
        let mut prefix = [0; PREFIX_MAX];
        prefix[STAMP_LEN] = b'.';
        prefix[MICROS_AT + 6..REMOTE_AT].copy_from_slice(LEVEL_AND_TARGET);
        State {
            buf: Vec::new(),
            used: 0,
            allocated: 0,
            second: u64::MAX,
            remote: None,
            remote_known: false,
            prefix,
            prefix_len: 0,
            middle_key: MiddleKey::default(),
            middle: [0; MIDDLE_MAX],
            middle_len: 0,
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

/// ` status=SSS bytes=N micros=` is at most 46 bytes (a size of up to 20 digits); it is
/// written into a block of this many.
const STATUS_MAX: usize = 64;

/// The microseconds a request took (up to 20 digits) and the line's end are written into a
/// block of this many bytes.
const END_MAX: usize = 32;

/// What a line says from its method to ` micros=`, when the method and target are at most 16
/// bytes: at most 86 bytes, kept (and copied) as a block of this many.
const MIDDLE_MAX: usize = 96;

/// The most a line takes besides its method and target: the prefix (at most 140 bytes, copied
/// as [`PREFIX_MAX`]), ` target=`, the status and size (written as [`STATUS_MAX`] bytes), the
/// end ([`END_MAX`]) and what the block copies of short fields write past their end (up to 32
/// bytes), with room to spare.
const LINE_SLACK: usize = 320;

/// A worker's buffer: a batch and the longest usual line.
const BATCH: usize = FLUSH_AT + 8 * 1024;

/// Buffers a worker allocates for its lines (576 KiB in all): one to fill while the writer
/// thread writes the others. When none has come back, the worker waits for one rather than allocate (and zero)
/// another: that keeps the log allocation-free however the writer thread is scheduled, and
/// workers already wait when the writer falls a whole queue behind.
const OWN_BUFFERS: usize = 8;

/// `n` (below a million) as six digits.
fn six_digits(n: u32) -> [u8; 6] {
    let n = u64::from(n.min(999_999));
    let ([a, b], [c, d], [e, f]) = (pair(n / 10_000), pair(n / 100 % 100), pair(n % 100));
    [a, b, c, d, e, f]
}

/// A status code (100 to 999) as three digits.
fn status_digits(status: u16) -> [u8; 3] {
    let status = u64::from(status.clamp(100, 999));
    let [a, b] = pair(status % 100);
    [b'0' + (status / 100) as u8, a, b]
}

/// Writes `field` at `line[at..]` and returns where it ends: as one block of 16 or 32 bytes
/// when it is that short and its buffer holds that many from its start (the line's room past
/// the field is scratch), else by a copy of its length.
#[inline(always)]
fn put_field(line: &mut [u8], at: usize, field: Padded<'_>) -> usize {
    let end = at + field.len;
    let dst = line.get_mut(at..).unwrap_or_default();
    if field.len <= 16 {
        if let (Some(src), Some(dst)) = (
            field.with_after.first_chunk::<16>(),
            dst.first_chunk_mut::<16>(),
        ) {
            *dst = *src;
            return end;
        }
    } else if field.len <= 32 {
        if let (Some(src), Some(dst)) = (
            field.with_after.first_chunk::<32>(),
            dst.first_chunk_mut::<32>(),
        ) {
            *dst = *src;
            return end;
        }
    }
    line[at..end].copy_from_slice(field.bytes());
    end
}

/// Writes ` status=SSS bytes=N micros=` and returns its length.
#[inline(always)]
fn put_status(out: &mut [u8; STATUS_MAX], status: u16, bytes: u64) -> usize {
    out[..8].copy_from_slice(b" status=");
    out[8..11].copy_from_slice(&status_digits(status));
    out[11..18].copy_from_slice(b" bytes=");
    let at = 18 + put_decimal(out, 18, bytes);
    out[at..at + 8].copy_from_slice(b" micros=");
    at + 8
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

/// Sends the lines to the writer thread and takes a spare buffer in place of theirs: one the
/// writer gave back (still initialised), a new zeroed one while this worker has fewer than
/// [`OWN_BUFFERS`], else the next one the writer gives back.
fn hand_over(writer: &Channels, state: &mut State) {
    let mut spare = match writer.spare.try_recv() {
        Ok(spare) => spare,
        Err(_) if state.allocated < OWN_BUFFERS => {
            state.allocated += 1;
            vec![0; BATCH]
        }
        // The writer thread gives a buffer back as soon as it has written one, and ends (so
        // this returns) only when the server stops.
        Err(_) => writer.spare.recv().unwrap_or_else(|_| vec![0; BATCH]),
    };
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
    if !state.remote_known || state.remote.as_ref() != e.remote {
        state.set_remote(e.remote.copied());
    }
    let line = &mut state.buf[state.used..];
    // The prefix as one block of 128 bytes (which the compiler copies inline) unless the
    // address is a long IPv6 one; then the line's own microseconds.
    match (
        line.first_chunk_mut::<128>(),
        state.prefix.first_chunk::<128>(),
    ) {
        (Some(dst), Some(src)) if state.prefix_len <= 128 => {
            *dst = *src;
            dst[MICROS_AT..MICROS_AT + 6].copy_from_slice(&six_digits(sub));
        }
        _ => {
            line[..PREFIX_MAX].copy_from_slice(&state.prefix);
            line[MICROS_AT..MICROS_AT + 6].copy_from_slice(&six_digits(sub));
        }
    }
    let at = state.prefix_len;
    // The middle: the cached one if this line's is the same, else written (and cached).
    let key = MiddleKey::of(e);
    let at = match (
        key,
        line.get_mut(at..)
            .and_then(|l| l.first_chunk_mut::<MIDDLE_MAX>()),
    ) {
        (Some(key), Some(dst)) if state.middle_len > 0 && key == state.middle_key => {
            *dst = state.middle;
            at + state.middle_len
        }
        _ => {
            let end = put_field(line, at, e.method);
            line[end..end + 8].copy_from_slice(b" target=");
            let end = put_field(line, end + 8, e.target);
            let status = line[end..]
                .first_chunk_mut::<STATUS_MAX>()
                .expect("a line's room holds its status");
            let end = end + put_status(status, e.status, e.bytes);
            match (key, line[at..].first_chunk::<MIDDLE_MAX>()) {
                (Some(key), Some(middle)) => {
                    state.middle_key = key;
                    state.middle = *middle;
                    state.middle_len = end - at;
                }
                _ => state.middle_len = 0,
            }
            end
        }
    };
    let end = line[at..]
        .first_chunk_mut::<END_MAX>()
        .expect("a line's room holds its end");
    let n = put_decimal(end, 0, micros);
    end[n] = b'\n';
    state.used += at + n + 1;
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

    /// The line `tracing-subscriber` would write, built with `format!`.
    fn reference(now: (u64, u32), e: &AccessEntry<'_>, micros: u64) -> String {
        format!(
            "{}.{:06}Z  INFO peregrine::access: remote={} method={} target={} status={} \
             bytes={} micros={micros}\n",
            std::str::from_utf8(&civil_time(now.0)).unwrap(),
            now.1,
            OrDash(e.remote),
            String::from_utf8_lossy(e.method.bytes()),
            String::from_utf8_lossy(e.target.bytes()),
            e.status,
            e.bytes,
        )
    }

    /// Formats `entries` one after the other into one buffer (of exactly the room `log`
    /// reserves when `exact_room`) and checks each line against [`reference`].
    fn check(entries: &[((u64, u32), AccessEntry<'_>, u64)], exact_room: bool) {
        let mut state = State::default();
        for (now, e, micros) in entries {
            let room = LINE_SLACK + e.method.len + e.target.len;
            let used = state.used;
            let len = if exact_room { used + room } else { BATCH };
            state.buf.resize(len.max(used + room), 0);
            format_line(&mut state, *now, e, *micros);
            assert_eq!(
                std::str::from_utf8(&state.buf[used..state.used]).unwrap(),
                reference(*now, e, *micros)
            );
            state.buf.truncate(state.used);
        }
    }

    fn entry<'a>(
        remote: Option<&'a SocketAddr>,
        method: Padded<'a>,
        target: Padded<'a>,
        status: u16,
        bytes: u64,
    ) -> AccessEntry<'a> {
        AccessEntry {
            remote,
            method,
            target,
            status,
            bytes,
            started: 0,
        }
    }

    /// The method and target of `head` as the HTTP/1.1 connection passes them: within the head.
    fn from_head(head: &[u8]) -> (Padded<'_>, Padded<'_>) {
        let m = head.iter().position(|&b| b == b' ').unwrap();
        let t = m + 1 + head[m + 1..].iter().position(|&b| b == b' ').unwrap();
        (Padded::within(head, 0, m), Padded::within(head, m + 1, t))
    }

    #[test]
    fn numbers() {
        for status in [100, 101, 200, 204, 404, 500, 999] {
            assert_eq!(status_digits(status), status.to_string().as_bytes());
        }
        for n in [0, 5, 42, 100, 123_456, 999_999] {
            assert_eq!(six_digits(n), format!("{n:06}").as_bytes());
        }
    }

    #[test]
    fn the_line_is_tracing_subscribers() {
        let remote: SocketAddr = "127.0.0.1:41234".parse().unwrap();
        let e = entry(
            Some(&remote),
            Padded::exact(b"GET"),
            Padded::exact(b"/missing?x=1"),
            404,
            9,
        );
        let mut state = State {
            buf: vec![0; BATCH],
            ..State::default()
        };
        format_line(&mut state, (1_764_629_808, 42), &e, 17);
        let e = entry(None, e.method, e.target, 404, 9);
        format_line(&mut state, (0, 0), &e, 17);
        state.buf.truncate(state.used);
        assert_eq!(
            String::from_utf8(state.buf).unwrap(),
            "2025-12-01T22:56:48.000042Z  INFO peregrine::access: remote=127.0.0.1:41234 \
             method=GET target=/missing?x=1 status=404 bytes=9 micros=17\n\
             1970-01-01T00:00:00.000000Z  INFO peregrine::access: remote=- \
             method=GET target=/missing?x=1 status=404 bytes=9 micros=17\n"
        );
    }

    /// Each cache (time stamp, client address, the middle of the line) gives way when what it
    /// was made from changes, whether the fields come from a head (block copies, the middle
    /// cached) or not.
    #[test]
    fn the_caches_follow_every_field() {
        let v4: SocketAddr = "127.0.0.1:41234".parse().unwrap();
        let other: SocketAddr = "10.1.2.3:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:8080".parse().unwrap();
        let get = b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n";
        let post = b"POST /plaintext HTTP/1.1\r\nHost: a\r\n\r\n";
        let json = b"GET /json HTTP/1.1\r\nHost: a\r\n\r\n";
        let long = b"GET /a/path/of/thirty/bytes/long?q HTTP/1.1\r\nHost: a\r\n\r\n";
        let longer = b"GET /a/path/well/over/thirty/two/bytes/long?query=1 HTTP/1.1\r\n\r\n";
        let short = b"GET / HTTP/1.0\r\n\r\n";
        let (gm, gt) = from_head(get);
        let (pm, pt) = from_head(post);
        let (jm, jt) = from_head(json);
        let (lm, lt) = from_head(long);
        let (xm, xt) = from_head(longer);
        let (sm, st) = from_head(short);
        let t = (1_764_629_808, 123_456);
        let later = (1_764_629_809, 7);
        let lines = [
            (t, entry(Some(&v4), gm, gt, 200, 13), 5),
            (t, entry(Some(&v4), gm, gt, 200, 13), 12_345),
            (later, entry(Some(&v4), gm, gt, 200, 13), 0),
            (later, entry(Some(&other), gm, gt, 200, 13), 1),
            (later, entry(Some(&other), pm, pt, 200, 13), 1),
            (later, entry(Some(&other), gm, gt, 200, 13), 1),
            (later, entry(Some(&other), jm, jt, 200, 13), 1),
            (later, entry(Some(&other), jm, jt, 404, 13), 1),
            (later, entry(Some(&other), jm, jt, 404, 1_000_000), 1),
            (later, entry(None, jm, jt, 404, 1_000_000), 999),
            (later, entry(Some(&v6), lm, lt, 200, 0), 99),
            (later, entry(Some(&v6), xm, xt, 200, 0), 99),
            (later, entry(Some(&v6), sm, st, 101, 0), 100),
            (
                t,
                entry(
                    Some(&v6),
                    Padded::exact(b"GET"),
                    Padded::exact(b"/"),
                    200,
                    2,
                ),
                3,
            ),
            (t, entry(Some(&v6), sm, st, 200, 2), 3),
        ];
        check(&lines, false);
        check(&lines, true);
    }

    /// The longest line fits the room `log` reserves: the longest client address, long fields,
    /// the largest numbers.
    #[test]
    fn the_longest_line_fits_its_room() {
        let remote: SocketAddr = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535"
            .parse()
            .unwrap();
        let method = [b'M'; 40];
        let target = [b'/'; 300];
        let head = [&method[..], b" ", &target[..], b" HTTP/1.1\r\n\r\n"].concat();
        let (m, t) = from_head(&head);
        let max = (253_402_300_799, 999_999);
        check(
            &[
                (max, entry(Some(&remote), m, t, 999, u64::MAX), u64::MAX),
                (
                    max,
                    entry(
                        Some(&remote),
                        Padded::exact(&method),
                        Padded::exact(&target),
                        100,
                        u64::MAX,
                    ),
                    u64::MAX,
                ),
                (max, entry(Some(&remote), m, t, 999, u64::MAX), u64::MAX),
            ],
            true,
        );
    }

    /// A worker that allocated its share of buffers waits for one the writer thread gives back
    /// rather than allocate another; while it has fewer, it allocates.
    #[test]
    fn hand_over_reuses_the_writers_buffers() {
        let (lines, to_write) = crossbeam_channel::bounded::<Msg>(4);
        let (give_back, spare) = crossbeam_channel::bounded::<Vec<u8>>(4);
        let channels = Channels { lines, spare };
        let mut state = State {
            buf: vec![b'x'; BATCH],
            used: 10,
            ..State::default()
        };
        hand_over(&channels, &mut state);
        assert_eq!(state.allocated, 1);
        assert_eq!(state.used, 0);
        let Ok(Msg::Lines(first, 10)) = to_write.try_recv() else {
            panic!("the lines went to the writer");
        };
        state.allocated = OWN_BUFFERS;
        state.used = 5;
        let first_ptr = first.as_ptr();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            give_back.send(first).unwrap();
            to_write.recv().unwrap()
        });
        hand_over(&channels, &mut state);
        assert_eq!(
            state.buf.as_ptr(),
            first_ptr,
            "the buffer given back is reused"
        );
        assert_eq!(state.allocated, OWN_BUFFERS);
        assert!(matches!(writer.join().unwrap(), Msg::Lines(_, 5)));
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
