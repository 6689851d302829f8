//! [`MinDataRate`]: the minimum data rate that limits, request features and the connection share.

use std::fmt;
use std::time::Duration;

/// A minimum data rate (Kestrel's `MinDataRate`): a transfer slower than `bytes_per_second`,
/// averaged over the time spent waiting on it, fails once `grace_period` has passed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MinDataRate {
    /// The slowest acceptable average rate.
    pub bytes_per_second: f64,
    /// How long a transfer may run below the rate before it is judged (at least 1 s, the
    /// heartbeat).
    pub grace_period: Duration,
}

impl MinDataRate {
    /// Kestrel's default: 240 bytes/s after a 5 s grace period.
    pub const DEFAULT: MinDataRate = MinDataRate {
        bytes_per_second: 240.0,
        grace_period: Duration::from_secs(5),
    };

    /// Checks the values; the message names the one at fault.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.bytes_per_second.is_finite() && self.bytes_per_second > 0.0) {
            return Err("a minimum data rate must be a positive number of bytes per second".into());
        }
        if self.grace_period < Duration::from_secs(1) {
            return Err("a data-rate grace period must be at least 1s (the heartbeat)".into());
        }
        Ok(())
    }

    /// Whether `bytes` moved in `elapsed` of waiting is too slow.
    pub fn is_violated(&self, bytes: u64, elapsed: Duration) -> bool {
        elapsed > self.grace_period
            && (bytes as f64) < self.bytes_per_second * elapsed.as_secs_f64()
    }
}

impl fmt::Display for MinDataRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} B/s after {:?}",
            self.bytes_per_second, self.grace_period
        )
    }
}
