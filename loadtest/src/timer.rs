//! A precise wake-up for the open-loop schedule: a `timerfd` registered with the worker's
//! epoll. epoll's own timeout has a 1 ms granularity, which would make sends up to a
//! millisecond late (and corrected latencies that much worse); the timer fires within
//! microseconds.

use std::io;
use std::num::NonZeroU64;
use std::os::fd::{AsRawFd, OwnedFd};

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use rustix::time::Timespec;
use rustix::time::{
    timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags,
};

/// A one-shot timer that wakes the event loop at a given time.
pub(crate) struct SendTimer {
    fd: OwnedFd,
    armed_for: Option<u64>,
}

impl SendTimer {
    /// Creates the timer and registers it under `token`. Also lowers the calling thread's
    /// timer slack to 1 ns, so the kernel does not defer the wake-up by the default 50 µs.
    pub fn new(registry: &Registry, token: Token) -> io::Result<Self> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
        let _ = rustix::thread::set_current_timer_slack(NonZeroU64::new(1));
        Ok(SendTimer {
            fd,
            armed_for: None,
        })
    }

    /// Arms the timer to fire `due_ns - now_ns` from now, unless it is already armed for
    /// `due_ns` (times are nanoseconds on the worker's clock).
    pub fn arm(&mut self, due_ns: u64, now_ns: u64) -> io::Result<()> {
        if self.armed_for == Some(due_ns) {
            return Ok(());
        }
        let wait = due_ns.saturating_sub(now_ns).max(1);
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: (wait / 1_000_000_000) as i64,
                tv_nsec: (wait % 1_000_000_000) as i64,
            },
        };
        timerfd_settime(&self.fd, TimerfdTimerFlags::empty(), &spec)?;
        self.armed_for = Some(due_ns);
        Ok(())
    }

    /// The timer fired: consume the expiration so the next one is reported.
    pub fn fired(&mut self) {
        let mut expirations = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut expirations);
        self.armed_for = None;
    }
}
