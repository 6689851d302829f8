//! The open-loop send schedule, and coordinated-omission correction.
//!
//! With `--rate R`, request *n* overall is meant to be sent at `n / R` seconds after the
//! start, whatever happens to earlier requests. Each worker thread (a "lane") takes every
//! `lanes`-th slot of that schedule. When a request's time comes and the thread has a
//! connection with room for it, it is sent at once; when all connections are busy (the
//! server is slow), it waits, and is sent as soon as one frees up.
//!
//! Its latency is then measured from the **intended** time, not from when it was actually
//! sent. A load generator that measures from the actual send time silently stops sending
//! while the server stalls, and so records one slow request where a real client population
//! would have seen hundreds: that is *coordinated omission*. Measuring from the schedule
//! charges the stall to every request that should have been sent during it (see the
//! `stall_*` tests below).

/// A lane's share of a fixed-rate schedule: intended send times in nanoseconds after the
/// start of the run.
#[derive(Debug, Clone)]
pub struct Schedule {
    rate: f64,
    lanes: u64,
    lane: u64,
    next: u64,
}

impl Schedule {
    /// Lane `lane` (of `lanes`) of a schedule of `rate` requests per second in total: this
    /// lane's requests are the global slots `lane, lane + lanes, lane + 2 * lanes, ...`.
    pub fn new(rate: f64, lanes: usize, lane: usize) -> Self {
        Schedule {
            rate,
            lanes: lanes as u64,
            lane: lane as u64,
            next: 0,
        }
    }

    /// Intended send time of this lane's `n`-th request.
    pub fn intended_ns(&self, n: u64) -> u64 {
        let slot = n * self.lanes + self.lane;
        (slot as f64 * 1e9 / self.rate).round() as u64
    }

    /// Intended send time of the next request not yet sent.
    pub fn next_due(&self) -> u64 {
        self.intended_ns(self.next)
    }

    /// Marks the next request as sent.
    pub fn advance(&mut self) {
        self.next += 1;
    }

    /// How many requests of this lane have been sent.
    pub fn sent(&self) -> u64 {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Recorder;

    #[test]
    fn lanes_interleave_evenly() {
        let lanes: Vec<Schedule> = (0..4).map(|l| Schedule::new(1000.0, 4, l)).collect();
        let mut all: Vec<u64> = lanes
            .iter()
            .flat_map(|s| (0..250).map(|n| s.intended_ns(n)))
            .collect();
        all.sort_unstable();
        for (i, t) in all.iter().enumerate() {
            assert_eq!(*t, i as u64 * 1_000_000);
        }
    }

    #[test]
    fn fractional_rates_do_not_drift() {
        let s = Schedule::new(3.0, 1, 0);
        assert_eq!(s.intended_ns(3), 1_000_000_000);
        assert_eq!(s.intended_ns(3_000_000) / 1_000_000_000, 1_000_000);
    }

    #[test]
    fn advance_walks_the_schedule() {
        let mut s = Schedule::new(100.0, 2, 1);
        assert_eq!(s.next_due(), 10_000_000);
        s.advance();
        assert_eq!(s.next_due(), 30_000_000);
        assert_eq!(s.sent(), 1);
    }

    /// Simulates one connection, one request at a time, at 1000 requests/s for 2 s, against a
    /// server that answers in 50 µs but freezes from t = 1.0 s to t = 1.1 s. The send rule is
    /// the worker's: a request goes out at its intended time or, if the connection is still
    /// busy, as soon as the previous response is in.
    fn simulate_stall() -> Recorder {
        const SERVICE_NS: u64 = 50_000;
        const STALL: (u64, u64) = (1_000_000_000, 1_100_000_000);
        let mut schedule = Schedule::new(1000.0, 1, 0);
        let mut recorder = Recorder::new(true);
        let mut free_at = 0;
        while schedule.next_due() < 2_000_000_000 {
            let intended = schedule.next_due();
            schedule.advance();
            let sent = intended.max(free_at);
            let start = if (STALL.0..STALL.1).contains(&sent) {
                STALL.1
            } else {
                sent
            };
            let done = start + SERVICE_NS;
            free_at = done;
            recorder.record(intended, sent, done);
        }
        recorder
    }

    #[test]
    fn stall_shows_in_corrected_p99() {
        let r = simulate_stall();
        assert_eq!(r.corrected.len(), 2000);
        // ~100 of 2000 requests (5 %) were due during the stall: p99 lands well inside it.
        let p99 = r.corrected.value_at_quantile(0.99);
        assert!(
            p99 >= 50_000,
            "corrected p99 {p99} µs should reflect the 100 ms stall"
        );
        assert!(r.corrected.max() >= 99_000);
    }

    #[test]
    fn stall_is_hidden_without_correction() {
        let r = simulate_stall();
        let unc = r.uncorrected.as_ref().unwrap();
        // Only the one request in flight when the stall began waited; p99 is service time.
        let p99 = unc.value_at_quantile(0.99);
        assert!(p99 < 1_000, "uncorrected p99 {p99} µs");
        assert!(
            unc.max() >= 99_000,
            "the single stalled request is still the max"
        );
        assert_eq!(unc.count_between(1_000, 200_000), 1);
    }
}
