//! One portable worker's readiness: an epoll set (through mio), the readiness of each
//! registered socket with the wakers of the tasks waiting on it, and the worker's timers.
//!
//! Sockets are registered once, edge-triggered, for both directions. A socket is assumed ready
//! until an operation on it says otherwise (`EAGAIN`, or a read shorter than the buffer, which
//! on a stream socket means its receive queue is empty); only then does a task wait for the
//! next edge. So a request that is already there when it is accepted costs no epoll round trip.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll as Epoll, Registry, Token};
use slab::Slab;

/// Tokens at or above this are the worker's own sources (listeners, eventfd), not sockets of
/// the `sockets` slab.
pub(crate) const WORKER_TOKEN_BASE: usize = 1 << 40;

/// What a socket's tasks wait for, and what the last operation said about it.
#[derive(Default)]
struct SocketState {
    readable: bool,
    writable: bool,
    /// The peer's FIN (or an error) was seen: reads stay ready, since a FIN that arrived with
    /// the last data brings no later edge (a short read must not park the reader).
    read_closed: bool,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

/// A timer armed by [`sleep`](crate::rt::sleep) on this worker.
struct Timer {
    deadline: Instant,
    waker: Waker,
}

/// The epoll set, socket readiness and timers of one worker.
pub(crate) struct Reactor {
    epoll: Epoll,
    sockets: Slab<SocketState>,
    timers: Slab<Timer>,
    /// Deadlines by timer key; an entry whose timer was removed (or replaced) is skipped.
    due: BinaryHeap<Reverse<(Instant, usize)>>,
}

/// Which way a socket operation goes.
#[derive(Clone, Copy)]
pub(crate) enum Direction {
    /// Receiving.
    Read,
    /// Sending.
    Write,
}

impl Reactor {
    /// A reactor with a new epoll set.
    pub(crate) fn new() -> io::Result<Reactor> {
        Ok(Reactor {
            epoll: Epoll::new()?,
            sockets: Slab::with_capacity(1024),
            timers: Slab::new(),
            due: BinaryHeap::new(),
        })
    }

    /// The epoll registry, for the worker's own sources.
    pub(crate) fn registry(&self) -> &Registry {
        self.epoll.registry()
    }

    /// Registers a socket for both directions; returns its key. It starts out ready both ways.
    pub(crate) fn register(&mut self, source: &mut impl mio::event::Source) -> io::Result<usize> {
        let entry = self.sockets.vacant_entry();
        let key = entry.key();
        self.epoll.registry().register(
            source,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        entry.insert(SocketState {
            readable: true,
            writable: true,
            ..SocketState::default()
        });
        Ok(key)
    }

    /// Forgets socket `key` (its fd is closed by its owner, which removes it from the epoll
    /// set; any wakers are dropped).
    pub(crate) fn forget(&mut self, key: usize) {
        self.sockets.try_remove(key);
    }

    /// Whether socket `key` may be ready for `dir`; when not, registers `cx`'s waker for the
    /// next edge.
    pub(crate) fn poll_ready(
        &mut self,
        key: usize,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        let s = &mut self.sockets[key];
        let (ready, waker) = match dir {
            Direction::Read => (s.readable, &mut s.read_waker),
            Direction::Write => (s.writable, &mut s.write_waker),
        };
        if ready {
            return Poll::Ready(());
        }
        match waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Records that socket `key` is drained for `dir` (the next edge makes it ready again).
    pub(crate) fn clear_ready(&mut self, key: usize, dir: Direction) {
        let s = &mut self.sockets[key];
        match dir {
            Direction::Read => s.readable = s.read_closed,
            Direction::Write => s.writable = false,
        }
    }

    /// Waits for events until `timeout`, into `events`.
    pub(crate) fn wait(
        &mut self,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        match self.epoll.poll(events, timeout) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            r => r,
        }
    }

    /// Applies one socket event: marks the directions it names ready and wakes their tasks.
    /// An error or hang-up makes both ready, so the next operation reports it.
    pub(crate) fn dispatch(&mut self, event: &mio::event::Event) {
        let Some(s) = self.sockets.get_mut(event.token().0) else {
            return; // the socket closed after the event was queued
        };
        let failed = event.is_error();
        if failed || event.is_read_closed() {
            s.read_closed = true;
        }
        if failed || event.is_readable() || event.is_read_closed() {
            s.readable = true;
            if let Some(w) = s.read_waker.take() {
                w.wake();
            }
        }
        if failed || event.is_writable() || event.is_write_closed() {
            s.writable = true;
            if let Some(w) = s.write_waker.take() {
                w.wake();
            }
        }
    }

    /// Arms a timer; returns its key.
    pub(crate) fn add_timer(&mut self, deadline: Instant, waker: Waker) -> usize {
        let key = self.timers.insert(Timer { deadline, waker });
        self.due.push(Reverse((deadline, key)));
        key
    }

    /// Replaces the waker of timer `key`.
    pub(crate) fn set_timer_waker(&mut self, key: usize, waker: &Waker) {
        if let Some(t) = self.timers.get_mut(key) {
            if !t.waker.will_wake(waker) {
                t.waker = waker.clone();
            }
        }
    }

    /// Disarms timer `key` (fired or not).
    pub(crate) fn remove_timer(&mut self, key: usize) {
        self.timers.try_remove(key);
    }

    /// Wakes every timer due by `now`; returns the next deadline still ahead.
    pub(crate) fn fire_timers(&mut self, now: Instant) -> Option<Instant> {
        while let Some(&Reverse((deadline, key))) = self.due.peek() {
            let live = self.timers.get(key).is_some_and(|t| t.deadline == deadline);
            if !live {
                self.due.pop(); // removed, or the key now belongs to a later timer
                continue;
            }
            if deadline > now {
                return Some(deadline);
            }
            self.due.pop();
            let timer = self.timers.remove(key);
            timer.waker.wake();
        }
        None
    }
}

thread_local! {
    /// The reactor of the portable worker running on this thread, if any.
    static CURRENT: RefCell<Option<Rc<RefCell<Reactor>>>> = const { RefCell::new(None) };
}

/// Makes `reactor` this thread's current reactor.
pub(crate) fn install(reactor: Rc<RefCell<Reactor>>) {
    CURRENT.with(|c| *c.borrow_mut() = Some(reactor));
}

/// Removes this thread's current reactor.
pub(crate) fn uninstall() {
    CURRENT.with(|c| c.borrow_mut().take());
}

/// Runs `f` with this thread's reactor, or returns `None` off a portable worker thread.
pub(crate) fn try_with_reactor<R>(f: impl FnOnce(&mut Reactor) -> R) -> Option<R> {
    CURRENT.with(|c| c.borrow().as_deref().map(|r| f(&mut r.borrow_mut())))
}

/// Runs `f` with this thread's reactor. Panics off a portable worker thread (engine-internal
/// use).
pub(crate) fn with_reactor<R>(f: impl FnOnce(&mut Reactor) -> R) -> R {
    try_with_reactor(f).expect("not on a peregrine portable worker thread")
}
