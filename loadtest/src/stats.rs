//! Per-thread counters and latency histograms, and how they merge.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Lowest latency a histogram tracks, in microseconds.
pub const LOWEST_US: u64 = 1;
/// Highest latency a histogram tracks, in microseconds (60 s); larger values saturate.
pub const HIGHEST_US: u64 = 60_000_000;
/// Significant decimal digits the histograms keep.
pub const SIGFIGS: u8 = 3;

/// A latency histogram in microseconds, 1 µs .. 60 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LOWEST_US, HIGHEST_US, SIGFIGS)
        .expect("constant histogram bounds are valid")
}

/// The kinds of failure that are counted (status-code errors are counted separately, by code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Connecting failed (refused, unreachable, the TLS handshake failed, or not done within
    /// `--timeout`).
    Connect,
    /// Reading failed, or the server closed the connection with requests outstanding.
    Read,
    /// Writing a request failed.
    Write,
    /// The oldest outstanding request on a connection got no response within `--timeout`.
    Timeout,
    /// The response was malformed (or arrived with no request outstanding).
    Protocol,
}

/// Error counts by kind, plus responses with a status outside 2xx/3xx by status code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCounts {
    /// Failed connection attempts.
    pub connect: u64,
    /// Read failures and connections closed by the server with requests outstanding.
    pub read: u64,
    /// Write failures.
    pub write: u64,
    /// Requests that got no response within `--timeout` (one per connection that timed out).
    pub timeout: u64,
    /// Malformed responses.
    pub protocol: u64,
    /// Responses whose status is not 2xx or 3xx, by status code.
    pub status: BTreeMap<u16, u64>,
}

impl ErrorCounts {
    /// All errors, status-code errors included.
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout + self.protocol + self.status_total()
    }

    /// Responses with a status outside 2xx/3xx.
    pub fn status_total(&self) -> u64 {
        self.status.values().sum()
    }

    /// Counts one error of `kind`.
    pub fn count(&mut self, kind: ErrorKind) {
        match kind {
            ErrorKind::Connect => self.connect += 1,
            ErrorKind::Read => self.read += 1,
            ErrorKind::Write => self.write += 1,
            ErrorKind::Timeout => self.timeout += 1,
            ErrorKind::Protocol => self.protocol += 1,
        }
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &ErrorCounts) {
        self.connect += other.connect;
        self.read += other.read;
        self.write += other.write;
        self.timeout += other.timeout;
        self.protocol += other.protocol;
        for (&code, &n) in &other.status {
            *self.status.entry(code).or_insert(0) += n;
        }
    }
}

/// Latency histograms: `corrected` measures from each request's intended send time; in open
/// loop, `uncorrected` also measures from when it was actually sent. In closed loop the two
/// times are the same and only `corrected` is kept.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Latency from the intended send time (coordinated-omission corrected).
    pub corrected: Histogram<u64>,
    /// Latency from the actual send time (service time); open loop only.
    pub uncorrected: Option<Histogram<u64>>,
}

impl Recorder {
    /// A recorder; `open_loop` keeps the uncorrected histogram too.
    pub fn new(open_loop: bool) -> Self {
        Recorder {
            corrected: new_histogram(),
            uncorrected: open_loop.then(new_histogram),
        }
    }

    /// Records one response that arrived at `done_ns` for a request meant to be sent at
    /// `intended_ns` and actually sent at `sent_ns` (all nanoseconds on one clock).
    pub fn record(&mut self, intended_ns: u64, sent_ns: u64, done_ns: u64) {
        self.corrected
            .saturating_record(done_ns.saturating_sub(intended_ns) / 1000);
        if let Some(h) = &mut self.uncorrected {
            h.saturating_record(done_ns.saturating_sub(sent_ns) / 1000);
        }
    }

    /// Adds `other`'s samples to these.
    pub fn merge(&mut self, other: &Recorder) {
        // Same bounds everywhere, so adding cannot fail.
        let _ = self.corrected.add(&other.corrected);
        if let (Some(a), Some(b)) = (&mut self.uncorrected, &other.uncorrected) {
            let _ = a.add(b);
        }
    }
}

/// What one worker thread counted inside the measurement window.
#[derive(Debug, Clone)]
pub struct ThreadStats {
    /// Responses with a 2xx or 3xx status.
    pub ok: u64,
    /// Bytes read from the sockets.
    pub bytes_read: u64,
    /// Connections the server closed cleanly (`Connection: close`, or an idle close) and
    /// that were reopened. Not errors.
    pub reconnects: u64,
    /// Errors by kind.
    pub errors: ErrorCounts,
    /// Latencies of the successful responses.
    pub latency: Recorder,
    /// The first TLS error met (a refused certificate, an alert), to say why connects fail.
    pub tls_error: Option<String>,
}

impl ThreadStats {
    /// Empty stats; `open_loop` also keeps uncorrected latencies.
    pub fn new(open_loop: bool) -> Self {
        ThreadStats {
            ok: 0,
            bytes_read: 0,
            reconnects: 0,
            errors: ErrorCounts::default(),
            latency: Recorder::new(open_loop),
            tls_error: None,
        }
    }

    /// Counts a response: a 2xx/3xx status is a success and its latency is recorded; any
    /// other status is an error counted under its code.
    pub fn response(&mut self, status: u16, intended_ns: u64, sent_ns: u64, done_ns: u64) {
        if (200..400).contains(&status) {
            self.ok += 1;
            self.latency.record(intended_ns, sent_ns, done_ns);
        } else {
            *self.errors.status.entry(status).or_insert(0) += 1;
        }
    }

    /// Adds `other` to these stats.
    pub fn merge(&mut self, other: &ThreadStats) {
        self.ok += other.ok;
        self.bytes_read += other.bytes_read;
        self.reconnects += other.reconnects;
        self.errors.merge(&other.errors);
        self.latency.merge(&other.latency);
        if self.tls_error.is_none() {
            self.tls_error.clone_from(&other.tls_error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_split_into_ok_and_status_errors() {
        let mut s = ThreadStats::new(false);
        s.response(200, 0, 0, 5_000);
        s.response(302, 0, 0, 7_000);
        s.response(404, 0, 0, 1_000);
        s.response(503, 0, 0, 1_000);
        s.response(503, 0, 0, 1_000);
        assert_eq!(s.ok, 2);
        assert_eq!(s.latency.corrected.len(), 2);
        assert_eq!(s.errors.status_total(), 3);
        assert_eq!(s.errors.status[&503], 2);
        assert_eq!(s.errors.total(), 3);
    }

    #[test]
    fn merge_adds_everything() {
        let mut a = ThreadStats::new(true);
        let mut b = ThreadStats::new(true);
        a.response(200, 0, 0, 10_000);
        b.response(200, 0, 5_000, 20_000);
        b.response(500, 0, 0, 1);
        b.errors.count(ErrorKind::Timeout);
        b.errors.count(ErrorKind::Connect);
        b.bytes_read = 7;
        a.merge(&b);
        assert_eq!(a.ok, 2);
        assert_eq!(a.bytes_read, 7);
        assert_eq!(a.errors.total(), 3);
        assert_eq!((a.errors.timeout, a.errors.connect), (1, 1));
        assert_eq!(a.latency.corrected.len(), 2);
        assert_eq!(
            a.latency.corrected.max(),
            a.latency.corrected.highest_equivalent(20)
        );
        let unc = a.latency.uncorrected.as_ref().unwrap();
        assert_eq!(unc.len(), 2);
        assert_eq!(unc.max(), unc.highest_equivalent(15));
    }

    #[test]
    fn huge_latencies_saturate() {
        let mut r = Recorder::new(false);
        r.record(0, 0, 3_600_000_000_000); // one hour
        assert_eq!(r.corrected.len(), 1);
        assert!(r.corrected.max() >= HIGHEST_US);
    }
}
