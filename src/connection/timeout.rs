//! Connection timeouts judged by a once-a-second heartbeat (Kestrel's `TimeoutControl`).
//!
//! No timer is armed per request: a connection writes what it is waiting for into its
//! [`ConnTimer`] (a few `Cell` stores, in heartbeat time, so no clock read either), and the
//! worker's heartbeat walks every timer once a second, marks the ones that ran out and wakes
//! their tasks. The connection notices on its next poll and acts: close an idle connection,
//! answer `408` to a slow head or body, drop a client that does not read.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::metrics::TimeoutKind;
use crate::server::MinDataRate;

/// What ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expired {
    /// No request arrived within the keep-alive timeout.
    KeepAlive,
    /// The request head did not complete within the headers timeout.
    RequestHeaders,
    /// The request body arrived slower than its minimum rate.
    RequestBodyRate,
    /// The client did not take a send within its time (grace period plus its size at the
    /// minimum response rate, Kestrel's rule).
    ResponseRate,
    /// A lingering close has waited long enough.
    Linger,
}

impl Expired {
    /// The metric label of this timeout.
    pub(crate) fn kind(self) -> TimeoutKind {
        match self {
            Expired::KeepAlive => TimeoutKind::KeepAlive,
            Expired::RequestHeaders => TimeoutKind::RequestHeaders,
            Expired::RequestBodyRate => TimeoutKind::RequestBodyRate,
            Expired::ResponseRate => TimeoutKind::ResponseRate,
            Expired::Linger => TimeoutKind::Linger,
        }
    }
}

/// Time spent waiting on a transfer and bytes moved while waiting, for a data-rate check.
#[derive(Clone, Copy, Debug)]
struct RateWindow {
    rate: MinDataRate,
    /// Waiting time accumulated before the current wait.
    waited: Duration,
    bytes: u64,
    /// When the current wait began, if waiting now.
    since: Option<Instant>,
}

impl RateWindow {
    fn violated(&self, now: Instant) -> bool {
        let waited = self.waited + self.since.map_or(Duration::ZERO, |s| now - s);
        self.since.is_some() && self.rate.is_violated(self.bytes, waited)
    }
}

/// One connection's timeout state, shared with the worker's heartbeat.
#[derive(Debug, Default)]
pub(crate) struct ConnTimer {
    deadline: Cell<Option<(Instant, Expired)>>,
    read: Cell<Option<RateWindow>>,
    write_deadline: Cell<Option<Instant>>,
    expired: Cell<Option<Expired>>,
    waker: RefCell<Option<Waker>>,
}

impl ConnTimer {
    /// Expires with `what` at `at` unless cleared or replaced first.
    pub(crate) fn set_deadline(&self, at: Instant, what: Expired) {
        self.deadline.set(Some((at, what)));
    }

    /// The pending deadline's kind, if any.
    pub(crate) fn deadline_kind(&self) -> Option<Expired> {
        self.deadline.get().map(|(_, k)| k)
    }

    /// The pending deadline, if any.
    pub(crate) fn deadline(&self) -> Option<(Instant, Expired)> {
        self.deadline.get()
    }

    /// Cancels the deadline.
    pub(crate) fn clear_deadline(&self) {
        self.deadline.set(None);
    }

    /// Starts judging the request body's upload rate (`None`: no minimum).
    pub(crate) fn start_read_rate(&self, rate: Option<MinDataRate>) {
        self.read.set(rate.map(|rate| RateWindow {
            rate,
            waited: Duration::ZERO,
            bytes: 0,
            since: None,
        }));
    }

    /// Stops judging the upload rate (the body is complete).
    pub(crate) fn stop_read_rate(&self) {
        self.read.set(None);
    }

    /// The connection starts waiting for body bytes.
    pub(crate) fn read_waiting(&self, now: Instant) {
        update(&self.read, |w| {
            w.since.get_or_insert(now);
        });
    }

    /// `bytes` of body arrived; the wait (if any) ends.
    pub(crate) fn read_progress(&self, now: Instant, bytes: u64) {
        update(&self.read, |w| {
            if let Some(s) = w.since.take() {
                w.waited += now.saturating_duration_since(s);
            }
            w.bytes += bytes;
        });
    }

    /// Sets (or clears) the deadline of the send in flight: a client too slow to take it by
    /// then is dropped.
    pub(crate) fn set_write_deadline(&self, at: Option<Instant>) {
        self.write_deadline.set(at);
    }

    /// Remembers whom to wake when something expires.
    pub(crate) fn register(&self, waker: &Waker) {
        let mut w = self.waker.borrow_mut();
        match &*w {
            Some(old) if old.will_wake(waker) => {}
            _ => *w = Some(waker.clone()),
        }
    }

    /// What expired since the last call, if anything.
    pub(crate) fn take_expired(&self) -> Option<Expired> {
        self.expired.take()
    }

    /// Whether `what` expired; consumes it only in that case, so a waiter for another kind
    /// still sees its own.
    pub(crate) fn take_if(&self, what: Expired) -> bool {
        if self.expired.get() == Some(what) {
            self.expired.set(None);
            true
        } else {
            false
        }
    }

    /// Clears everything (a pooled connection starts over).
    pub(crate) fn reset(&self) {
        self.deadline.set(None);
        self.read.set(None);
        self.write_deadline.set(None);
        self.expired.set(None);
        self.waker.borrow_mut().take();
    }

    /// Judges the timer at `now`; marks and wakes it if something ran out.
    fn check(&self, now: Instant) {
        let expired = match self.deadline.get() {
            Some((at, what)) if now >= at => Some(what),
            _ if self.read.get().is_some_and(|w| w.violated(now)) => Some(Expired::RequestBodyRate),
            _ if self.write_deadline.get().is_some_and(|at| now >= at) => {
                Some(Expired::ResponseRate)
            }
            _ => None,
        };
        if let Some(what) = expired {
            self.deadline.set(None);
            self.read.set(None);
            self.write_deadline.set(None);
            self.expired.set(Some(what));
            if let Some(w) = self.waker.borrow_mut().take() {
                w.wake();
            }
        }
    }
}

fn update(cell: &Cell<Option<RateWindow>>, f: impl FnOnce(&mut RateWindow)) {
    if let Some(mut w) = cell.get() {
        f(&mut w);
        cell.set(Some(w));
    }
}

/// A worker's timers and its coarse clock.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    now: Cell<Instant>,
    timers: RefCell<Vec<Weak<ConnTimer>>>,
}

impl Heartbeat {
    /// A heartbeat whose clock reads now.
    pub(crate) fn new() -> Self {
        Heartbeat {
            now: Cell::new(Instant::now()),
            timers: RefCell::new(Vec::new()),
        }
    }

    /// The time of the last beat (at most a second old).
    pub(crate) fn now(&self) -> Instant {
        self.now.get()
    }

    /// A new timer, judged by this heartbeat for as long as it lives.
    pub(crate) fn timer(&self) -> Rc<ConnTimer> {
        let t = Rc::new(ConnTimer::default());
        self.timers.borrow_mut().push(Rc::downgrade(&t));
        t
    }

    /// Advances the clock to `now` and judges every timer.
    pub(crate) fn beat(&self, now: Instant) {
        self.now.set(now);
        // Wakes only queue tasks, so no timer is touched re-entrantly while the list is borrowed.
        self.timers.borrow_mut().retain(|w| match w.upgrade() {
            Some(t) => {
                t.check(now);
                true
            }
            None => false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_expire_once_and_can_be_cleared() {
        let hb = Heartbeat::new();
        let t0 = hb.now();
        let t = hb.timer();
        t.set_deadline(t0 + Duration::from_secs(2), Expired::KeepAlive);
        hb.beat(t0 + Duration::from_secs(1));
        assert_eq!(t.take_expired(), None);
        hb.beat(t0 + Duration::from_secs(2));
        assert_eq!(t.take_expired(), Some(Expired::KeepAlive));
        assert_eq!(t.take_expired(), None, "reported once");
        t.set_deadline(t0 + Duration::from_secs(3), Expired::RequestHeaders);
        t.clear_deadline();
        hb.beat(t0 + Duration::from_secs(10));
        assert_eq!(t.take_expired(), None);
    }

    #[test]
    fn a_slow_upload_fails_after_the_grace_period_only_while_waiting() {
        let hb = Heartbeat::new();
        let t0 = hb.now();
        let t = hb.timer();
        t.start_read_rate(Some(MinDataRate::DEFAULT)); // 240 B/s after 5 s
        t.read_waiting(t0);
        t.read_progress(t0 + Duration::from_secs(2), 1000); // fast enough so far
                                                            // The application is busy (not reading) for a long time: not the client's fault.
        hb.beat(t0 + Duration::from_secs(60));
        assert_eq!(t.take_expired(), None);
        t.read_waiting(t0 + Duration::from_secs(60));
        hb.beat(t0 + Duration::from_secs(63)); // waited 5 s in all, 1000 B: fine
        assert_eq!(t.take_expired(), None);
        hb.beat(t0 + Duration::from_secs(66)); // waited 8 s, needs 1920 B
        assert_eq!(t.take_expired(), Some(Expired::RequestBodyRate));
    }

    #[test]
    fn dropped_timers_leave_the_heartbeat() {
        let hb = Heartbeat::new();
        let t = hb.timer();
        drop(t);
        hb.beat(Instant::now());
        assert!(hb.timers.borrow().is_empty());
    }
}
