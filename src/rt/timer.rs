//! [`sleep`]: a timeout on the worker's ring, or a shared timer thread off the workers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use io_uring::{opcode, types};

use crate::engine::uring::driver::Hold;
use crate::engine::uring::runtime;

/// Waits for `duration`.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        deadline: Instant::now() + duration,
        op: None,
        _not_send: PhantomData,
    }
}

/// The future of [`sleep`]. It is `!Send`: a ring timeout belongs to the worker that armed it.
pub struct Sleep {
    deadline: Instant,
    /// The ring timeout, when armed on a worker.
    op: Option<usize>,
    _not_send: PhantomData<*const ()>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(id) = self.op {
            return match runtime::with_driver(|d| d.poll_op(id, cx)) {
                Poll::Ready(_) => {
                    self.op = None;
                    Poll::Ready(())
                }
                Poll::Pending => Poll::Pending,
            };
        }
        let now = Instant::now();
        if now >= self.deadline {
            return Poll::Ready(());
        }
        let left = self.deadline - now;
        let armed = runtime::with_current(|rt| {
            let ts = Box::new(types::Timespec::from(left));
            let entry = opcode::Timeout::new(&*ts as *const types::Timespec).build();
            let mut driver = rt.driver.borrow_mut();
            // SAFETY: the entry points only to the boxed timespec, which the op holds until its
            // completion.
            let id = unsafe { driver.push(entry, Hold::Timespec(ts)) };
            let _ = driver.poll_op(id, cx);
            id
        });
        match armed {
            Some(id) => self.op = Some(id),
            None => timer_thread().register(self.deadline, cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.op {
            runtime::with_driver(|d| d.drop_op(id));
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
