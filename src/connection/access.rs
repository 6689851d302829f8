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

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender};

/// A worker hands its lines over when this many bytes are buffered.
const FLUSH_AT: usize = 16 * 1024;

/// Batches in flight to the writer thread before workers wait (about 1 MiB): lines are never
/// dropped, as the `tracing` writer's `lossy(false)`.
const QUEUED_BATCHES: usize = 64;

/// A message to the writer thread.
enum Msg {
    /// Whole lines to write.
    Lines(Vec<u8>),
    /// Write nothing more and exit.
    Stop,
}

/// The process's access log writer, set once by the host.
static WRITER: OnceLock<Channels> = OnceLock::new();

/// Batches to the writer thread, and emptied buffers back from it.
struct Channels {
    lines: Sender<Msg>,
    spare: Receiver<Vec<u8>>,
}

/// The access log writer thread; dropping this writes what is queued and ends it.
pub(crate) struct AccessLogWriter {
    lines: Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for AccessLogWriter {
    fn drop(&mut self) {
        let _ = self.lines.send(Msg::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the thread that writes every worker's access log lines to `out` (a batch of whole
/// lines per `write_all`), unless one was started already. Lines are written while the returned
/// guard lives.
pub(crate) fn start_access_log_writer(
    mut out: impl Write + Send + 'static,
) -> Option<AccessLogWriter> {
    let (lines, to_write) = crossbeam_channel::bounded::<Msg>(QUEUED_BATCHES);
    let (give_back, spare) = crossbeam_channel::bounded::<Vec<u8>>(QUEUED_BATCHES);
    WRITER
        .set(Channels {
            lines: lines.clone(),
            spare,
        })
        .ok()?;
    let thread = std::thread::Builder::new()
        .name("peregrine-access".into())
        .spawn(move || {
            for msg in to_write {
                let Msg::Lines(mut batch) = msg else { break };
                let _ = out.write_all(&batch);
                let _ = out.flush();
                batch.clear();
                let _ = give_back.try_send(batch);
            }
        })
        .ok()?;
    Some(AccessLogWriter {
        lines,
        thread: Some(thread),
    })
}

/// What one line says about a request.
pub(crate) struct AccessEntry<'a> {
    /// The client address as the application saw it (after forwarded headers).
    pub(crate) remote: Option<SocketAddr>,
    pub(crate) method: &'a [u8],
    pub(crate) target: &'a [u8],
    pub(crate) status: u16,
    /// Response body bytes.
    pub(crate) bytes: u64,
    /// When the request's head was parsed.
    pub(crate) started: Instant,
}

/// One worker's access log: the lines not yet handed over, and what it caches to write them.
#[derive(Default)]
pub(crate) struct AccessLog {
    state: RefCell<State>,
    /// The wall clock (microseconds since the epoch) and the monotonic clock, read together;
    /// a line's time is taken from the monotonic read it needs anyway. Read again at every
    /// hand-over, so the wall clock's adjustments are followed.
    anchor: Cell<Option<(u64, Instant)>>,
}

/// The buffer and the caches behind one borrow.
struct State {
    buf: Vec<u8>,
    /// The second last written (`u64::MAX`: none yet) and its `YYYY-MM-DDTHH:MM:SS`.
    second: u64,
    stamp: [u8; 19],
    /// The client address last written and its text (the lines of a connection repeat it).
    remote: Option<SocketAddr>,
    remote_text: [u8; 72],
    remote_len: usize,
}

impl Default for State {
    fn default() -> Self {
        State {
            buf: Vec::new(),
            second: u64::MAX,
            stamp: [0; 19],
            remote: None,
            remote_text: [0; 72],
            remote_len: 0,
        }
    }
}

/// The longest line part that is not the method or the target: the time stamp and the literal
/// text (104 bytes), the client address (up to 72), three numbers (up to 45).
const LINE_SLACK: usize = 256;

/// A writer over bytes set aside for one line.
struct Line<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Line<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
}

impl AccessLog {
    /// Logs the line of one answered request.
    pub(crate) fn log(&self, entry: &AccessEntry<'_>) {
        let Some(writer) = WRITER.get() else {
            tracing::info!(
                target: "peregrine::access",
                remote = %OrDash(entry.remote),
                method = %String::from_utf8_lossy(entry.method),
                target = %String::from_utf8_lossy(entry.target),
                status = entry.status,
                bytes = entry.bytes,
                micros = entry.started.elapsed().as_micros() as u64,
            );
            return;
        };
        let now = Instant::now();
        let (wall, at) = match self.anchor.get() {
            Some(anchor) => anchor,
            None => self.set_anchor(),
        };
        let unix_micros = wall + now.saturating_duration_since(at).as_micros() as u64;
        let micros = now.saturating_duration_since(entry.started).as_micros() as u64;
        let mut state = self.state.borrow_mut();
        if state.buf.capacity() == 0 {
            state.buf.reserve(FLUSH_AT + 1024);
        }
        format_line(&mut state, unix_micros, entry, micros);
        if state.buf.len() >= FLUSH_AT {
            self.hand_over(writer, &mut state.buf);
        }
    }

    /// Hands the buffered lines to the writer thread (the heartbeat does, once a second).
    pub(crate) fn flush(&self) {
        let buf = &mut self.state.borrow_mut().buf;
        if !buf.is_empty() {
            match WRITER.get() {
                Some(writer) => self.hand_over(writer, buf),
                None => buf.clear(),
            }
        }
    }

    /// Sends the full buffer to the writer thread and takes a spare one in its place.
    fn hand_over(&self, writer: &Channels, buf: &mut Vec<u8>) {
        let spare = writer
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(FLUSH_AT + 1024));
        let full = std::mem::replace(buf, spare);
        let _ = writer.lines.send(Msg::Lines(full));
        self.set_anchor();
    }

    fn set_anchor(&self) -> (u64, Instant) {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let anchor = (wall, Instant::now());
        self.anchor.set(Some(anchor));
        anchor
    }
}

/// Appends one line to `state.buf`.
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
    let start = state.buf.len();
    state
        .buf
        .resize(start + LINE_SLACK + e.method.len() + e.target.len(), 0);
    let mut line = Line {
        buf: &mut state.buf[start..],
        at: 0,
    };
    let mut itoa = itoa::Buffer::new();
    line.put(&state.stamp);
    line.put(b".");
    line.put(&pad6((unix_micros % 1_000_000) as u32));
    line.put(b"Z  INFO peregrine::access: remote=");
    line.put(&state.remote_text[..state.remote_len]);
    line.put(b" method=");
    line.put(e.method);
    line.put(b" target=");
    line.put(e.target);
    line.put(b" status=");
    line.put(itoa.format(e.status).as_bytes());
    line.put(b" bytes=");
    line.put(itoa.format(e.bytes).as_bytes());
    line.put(b" micros=");
    line.put(itoa.format(micros).as_bytes());
    line.put(b"\n");
    let end = start + line.at;
    state.buf.truncate(end);
}

impl Drop for AccessLog {
    /// A stopping worker hands over what it still holds.
    fn drop(&mut self) {
        self.flush();
    }
}

/// `n` (below a million) as six digits.
fn pad6(mut n: u32) -> [u8; 6] {
    let mut digits = [b'0'; 6];
    for d in digits.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    digits
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
        let mut state = State::default();
        let entry = AccessEntry {
            remote,
            method: b"GET",
            target: b"/missing?x=1",
            status: 404,
            bytes: 9,
            started: Instant::now(),
        };
        format_line(&mut state, unix_micros, &entry, 17);
        // The caches give the same line again.
        format_line(&mut state, unix_micros, &entry, 17);
        let text = String::from_utf8(state.buf).unwrap();
        let (first, second) = text.split_at(text.len() / 2);
        assert_eq!(first, second);
        first.to_owned()
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
