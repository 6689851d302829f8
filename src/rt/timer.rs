//! [`sleep`]: a timeout on an io_uring worker's ring, a timer in a portable worker's reactor, or
//! a shared timer thread off the workers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use io_uring::{opcode, types};

use crate::engine::portable::reactor;
use crate::engine::uring::driver::{self, Hold};

/// Waits for `duration`.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        deadline: Instant::now() + duration,
        armed: Armed::No,
        _not_send: PhantomData,
    }
}

/// The future of [`sleep`]. It is `!Send`: a worker's timer belongs to the worker that armed it.
pub struct Sleep {
    deadline: Instant,
    armed: Armed,
    _not_send: PhantomData<*const ()>,
}

/// Where a [`Sleep`] waits.
enum Armed {
    /// Not yet polled, or on the shared timer thread (which keeps no handle).
    No,
    /// A timeout op on this io_uring worker's ring.
    Ring(usize),
    /// A timer in this portable worker's reactor.
    Reactor(usize),
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.armed {
            Armed::Ring(id) => {
                return match driver::with_driver(|d| d.poll_op(id, cx)) {
                    Poll::Ready(_) => {
                        self.armed = Armed::No;
                        Poll::Ready(())
                    }
                    Poll::Pending => Poll::Pending,
                };
            }
            Armed::Reactor(key) => {
                if Instant::now() >= self.deadline {
                    reactor::with_reactor(|r| r.remove_timer(key));
                    self.armed = Armed::No;
                    return Poll::Ready(());
                }
                reactor::with_reactor(|r| r.set_timer_waker(key, cx.waker()));
                return Poll::Pending;
            }
            Armed::No => {}
        }
        let now = Instant::now();
        if now >= self.deadline {
            return Poll::Ready(());
        }
        let left = self.deadline - now;
        let ring = driver::try_with_driver(|driver| {
            let ts = Box::new(types::Timespec::from(left));
            let entry = opcode::Timeout::new(&*ts as *const types::Timespec).build();
            // SAFETY: the entry points only to the boxed timespec, which the op holds until its
            // completion.
            let id = unsafe { driver.push(entry, Hold::Timespec(ts)) };
            let _ = driver.poll_op(id, cx);
            id
        });
        if let Some(id) = ring {
            self.armed = Armed::Ring(id);
            return Poll::Pending;
        }
        let deadline = self.deadline;
        if let Some(key) = reactor::try_with_reactor(|r| r.add_timer(deadline, cx.waker().clone()))
        {
            self.armed = Armed::Reactor(key);
            return Poll::Pending;
        }
        timer_thread().register(self.deadline, cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        match self.armed {
            Armed::Ring(id) => driver::with_driver(|d| d.drop_op(id)),
            Armed::Reactor(key) => reactor::with_reactor(|r| r.remove_timer(key)),
            Armed::No => {}
        }
    }
}

/// Timers for threads that have no ring: one thread, a heap of deadlines.
struct TimerThread {
    heap: Mutex<BinaryHeap<Reverse<Entry>>>,
    changed: Condvar,
}

struct Entry(Instant, Waker);

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

fn timer_thread() -> &'static TimerThread {
    static TIMER: OnceLock<&'static TimerThread> = OnceLock::new();
    TIMER.get_or_init(|| {
        let t: &'static TimerThread = Box::leak(Box::new(TimerThread {
            heap: Mutex::new(BinaryHeap::new()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("peregrine-timer".into())
            .spawn(move || t.run())
            .expect("spawning the timer thread");
        t
    })
}

impl TimerThread {
    fn register(&self, deadline: Instant, waker: Waker) {
        self.heap
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Reverse(Entry(deadline, waker)));
        self.changed.notify_one();
    }

    fn run(&self) {
        let mut heap = self.heap.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let now = Instant::now();
            while heap.peek().is_some_and(|Reverse(e)| e.0 <= now) {
                if let Some(Reverse(Entry(_, waker))) = heap.pop() {
                    waker.wake();
                }
            }
            let wait = heap
                .peek()
                .map(|Reverse(e)| e.0 - now)
                .unwrap_or(Duration::from_secs(3600));
            heap = self
                .changed
                .wait_timeout(heap, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}
