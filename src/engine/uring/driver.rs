//! The ring and its in-flight operations: building SQEs is safe, pushing them is the one place
//! that promises the kernel its buffers stay valid.
//!
//! Every operation a task starts lives in the `ops` slab until its completion arrives, together
//! with whatever memory the kernel may touch ([`Hold`]). A task that stops waiting (its future was
//! dropped) turns its op into [`Lifecycle::Ignored`]: the memory stays parked in the slab and a
//! cancellation is submitted, so the kernel never writes into freed memory (tokio-uring's and
//! monoio's lifecycle model). The worker does not drop the ring before the slab is empty.
//!
//! A multishot receive (one per connection) posts many completions for one submission: they
//! queue in its slab entry until the task takes them, and the entry goes only with the last one
//! (the completion without `IORING_CQE_F_MORE`). Their provided buffers are shared by every
//! connection of the worker, so none is kept past the turn it arrived in ([`Driver::spill`]).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use io_uring::types::{self, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring};
use slab::Slab;

use super::bufring::BufRing;

/// `user_data` values at or above this are the worker's own long-lived operations (accept,
/// eventfd read, timers), not entries of the op slab.
pub(crate) const TOKEN_BASE: u64 = 1 << 62;
/// `user_data` of operations nobody waits for (cancellations, closes): their completions are
/// ignored.
pub(crate) const UNTRACKED_TOKEN: u64 = u64::MAX;

/// Memory an operation lends to the kernel, kept alive until its completion.
pub(crate) enum Hold {
    /// Nothing (the op uses a provided buffer, or none).
    None,
    /// A send buffer.
    Buf(Vec<u8>),
    /// A timeout's duration (held for the kernel, never read here).
    #[allow(dead_code)]
    Timespec(Box<Timespec>),
}

/// Where an operation is in its life.
enum Lifecycle {
    /// Submitted; nobody has polled it yet.
    Submitted,
    /// A task waits for it.
    Waiting(Waker),
    /// A send the task handed over without waiting for it (`UringTransport::poll_submit`): its
    /// completion wakes the task only if it comes back short or failed; a full one gives its
    /// buffer to the driver's spares and wakes nobody (one task poll per request, not two).
    Detached { waker: Waker, len: u32 },
    /// The completion arrived and waits to be taken.
    Completed { res: i32, flags: u32 },
    /// Its task stopped waiting; drop it (and give back any provided buffer) on completion.
    Ignored,
    /// A multishot receive still posting: its completions wait until the task takes them.
    Multishot(Multishot),
    /// A multishot receive its task stopped waiting for: each completion gives back its
    /// provided buffer, and the last one (without `MORE`) frees the slot.
    IgnoredMultishot,
}

/// The state of a multishot receive the task still wants.
struct Multishot {
    /// The task to wake when a completion arrives (`None` until it first waits).
    waker: Option<Waker>,
    /// Bytes that arrived before the completions in `queue`, copied out of their provided
    /// buffers because the task did not take them in the turn they arrived ([`Driver::spill`]).
    spilled: Vec<u8>,
    /// Completions not yet taken, oldest first, as `(res, flags)`; one with data holds its
    /// provided buffer until it is taken or spilled.
    queue: VecDeque<(i32, u32)>,
    /// A cancellation was submitted because the task fell behind ([`MAX_SPILLED`]).
    cancelling: bool,
}

/// Spilled bytes past which a multishot receive is cancelled: its task is not reading (its
/// application is busy while the client keeps sending), so the socket's own buffer, then TCP's
/// window, hold what comes next, as they would for a server that does not call `recv`. The task
/// arms the receive again when it reads. (The kernel may post a few more completions before the
/// cancellation lands: up to its per-wakeup retry limit of buffers.)
const MAX_SPILLED: usize = 64 * 1024;

/// A spill buffer larger than this is freed, not kept, once the task has taken its bytes.
const MAX_IDLE_SPILL_CAPACITY: usize = 16 * 1024;

struct Op {
    lifecycle: Lifecycle,
    hold: Hold,
    /// Distinguishes this op from earlier ones that used the same slab slot, so a late
    /// cancellation or completion can never touch the wrong op.
    generation: u32,
}

/// `user_data` of a slab op: generation in the high half (below [`TOKEN_BASE`]), slot below.
fn user_data(id: usize, generation: u32) -> u64 {
    u64::from(generation) << 32 | id as u64
}

/// A completed operation, handed back to the task that started it.
pub(crate) struct Completion {
    /// The result: a byte count, an fd, or `-errno`.
    pub(crate) res: i32,
    /// The memory the op held, returned to its owner.
    pub(crate) hold: Hold,
}

/// One worker's ring, operations and receive buffers.
pub(crate) struct Driver {
    ring: IoUring,
    ops: Slab<Op>,
    generation: u32,
    pub(crate) bufs: BufRing,
    /// Send buffers whose detached sends completed, emptied, for the next connection that hands
    /// one over (so a send without a wait costs no allocation).
    spare_bufs: Vec<Vec<u8>>,
    /// Multishot receives that got a completion since the last [`Driver::spill`].
    untaken: Vec<usize>,
}

/// Spare send buffers kept at most (more are freed): enough for every connection that sends in
/// one turn of a busy worker, without holding memory for idle ones.
const MAX_SPARE_BUFS: usize = 64;

/// A spare send buffer larger than this is freed rather than kept.
const MAX_SPARE_BUF_CAPACITY: usize = 64 * 1024;

impl Driver {
    /// Wraps a ring whose provided buffers are `bufs`.
    pub(crate) fn new(ring: IoUring, bufs: BufRing) -> Driver {
        Driver {
            ring,
            ops: Slab::with_capacity(1024),
            generation: 0,
            bufs,
            spare_bufs: Vec::new(),
            untaken: Vec::new(),
        }
    }

    /// Starts an operation; its memory `hold` stays here until the completion.
    ///
    /// # Safety
    ///
    /// Every pointer in `entry` must point into `hold`, into the provided-buffer ring, or into
    /// memory that outlives the driver.
    pub(crate) unsafe fn push(&mut self, entry: squeue::Entry, hold: Hold) -> usize {
        // Generations stay below 2^30 so user_data never reaches TOKEN_BASE.
        self.generation = (self.generation + 1) & ((1 << 30) - 1);
        let generation = self.generation;
        let id = self.ops.insert(Op {
            lifecycle: Lifecycle::Submitted,
            hold,
            generation,
        });
        assert!(id < 1 << 32, "too many operations in flight");
        let entry = entry.user_data(user_data(id, generation));
        // SAFETY: forwarded from the caller's promise; the hold now lives in the slab until the
        // completion for `id` removes it.
        unsafe { self.push_entry(&entry) };
        id
    }

    /// Pushes a worker-owned operation whose `user_data` is a token at or above [`TOKEN_BASE`].
    ///
    /// # Safety
    ///
    /// Memory the entry points to must stay valid until its completion (the worker keeps it and
    /// waits for every token op before dropping it).
    pub(crate) unsafe fn push_token(&mut self, entry: squeue::Entry) {
        // SAFETY: forwarded from the caller.
        unsafe { self.push_entry(&entry) }
    }

    /// Closes `fd` from the ring, after the operations already queued for it have been issued: a
    /// send handed over a moment ago but not yet submitted still goes out (a `close(2)` now would
    /// make it fail, or worse, reach another socket given the same number). Operations in flight
    /// hold their own reference to the socket, so it stays open until they finish.
    pub(crate) fn close(&mut self, fd: RawFd) {
        let entry = opcode::Close::new(types::Fd(fd))
            .build()
            .user_data(UNTRACKED_TOKEN);
        // SAFETY: a close carries no pointers.
        unsafe { self.push_entry(&entry) }
    }

    /// Submits a cancellation of the operation with `user_data`.
    pub(crate) fn cancel(&mut self, user_data: u64) {
        let entry = opcode::AsyncCancel::new(user_data)
            .build()
            .user_data(UNTRACKED_TOKEN);
        // SAFETY: a cancellation carries no pointers.
        unsafe { self.push_entry(&entry) }
    }

    /// # Safety
    ///
    /// See [`Driver::push`].
    unsafe fn push_entry(&mut self, entry: &squeue::Entry) {
        loop {
            // SAFETY: forwarded from the caller.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                return;
            }
            // The submission queue is full: hand what it holds to the kernel and retry.
            if let Err(e) = self.ring.submit() {
                if e.raw_os_error() != Some(libc::EBUSY) && e.raw_os_error() != Some(libc::EINTR) {
                    panic!("io_uring submit failed: {e}");
                }
                // EBUSY: the completion queue is full; reap before submitting more.
                let _ = self.ring.submit_and_wait(0);
            }
        }
    }

    /// Polls operation `id`: its completion once it arrived (the slab entry is then gone).
    pub(crate) fn poll_op(&mut self, id: usize, cx: &mut Context<'_>) -> Poll<Completion> {
        let op = self.ops.get_mut(id).expect("polled an unknown op");
        match &mut op.lifecycle {
            Lifecycle::Completed { res, .. } => {
                let res = *res;
                let op = self.ops.remove(id);
                Poll::Ready(Completion { res, hold: op.hold })
            }
            Lifecycle::Waiting(w) if w.will_wake(cx.waker()) => Poll::Pending,
            lifecycle => {
                *lifecycle = Lifecycle::Waiting(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// Starts a multishot receive: it stays in the slab, queueing its completions for
    /// [`Driver::poll_recv_multishot`], until its last one has been taken.
    ///
    /// # Safety
    ///
    /// As for [`Driver::push`]; the receive may only name provided buffers.
    pub(crate) unsafe fn push_multishot(&mut self, entry: squeue::Entry) -> usize {
        // SAFETY: forwarded from the caller.
        let id = unsafe { self.push(entry, Hold::None) };
        self.ops[id].lifecycle = Lifecycle::Multishot(Multishot {
            waker: None,
            spilled: Vec::new(),
            queue: VecDeque::new(),
            cancelling: false,
        });
        id
    }

    /// Takes what multishot receive `id` has for the task, oldest first: bytes are appended to
    /// `buf` and their count returned; otherwise the result is `0` (end of stream) or `-errno`.
    /// The flag says whether the receive is still armed: when it is not, that was its last
    /// completion, the slot is gone and `id` must not be polled again.
    pub(crate) fn poll_recv_multishot(
        &mut self,
        id: usize,
        cx: &mut Context<'_>,
        buf: &mut Vec<u8>,
    ) -> Poll<(i32, bool)> {
        let op = self.ops.get_mut(id).expect("polled an unknown op");
        let Lifecycle::Multishot(m) = &mut op.lifecycle else {
            unreachable!("poll_recv_multishot on a single-shot op");
        };
        if !m.spilled.is_empty() {
            let n = m.spilled.len();
            buf.extend_from_slice(&m.spilled);
            if m.spilled.capacity() > MAX_IDLE_SPILL_CAPACITY {
                m.spilled = Vec::new();
            } else {
                m.spilled.clear();
            }
            return Poll::Ready((i32::try_from(n).unwrap_or(i32::MAX), true));
        }
        let Some((res, flags)) = m.queue.pop_front() else {
            match &m.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => m.waker = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        };
        let more = cqueue::more(flags);
        if !more {
            self.ops.remove(id);
        }
        if let Some(bid) = cqueue::buffer_select(flags) {
            if res > 0 {
                buf.extend_from_slice(self.bufs.get(bid, res as usize));
            }
            self.bufs.release(bid);
        }
        Poll::Ready((res, more))
    }

    /// Copies the bytes of every receive completion no task took this turn out of its provided
    /// buffer (into its receive's spill buffer) and gives the buffer back: the worker calls this
    /// before it waits, so no connection keeps any of the buffers all of them share while its
    /// task is busy elsewhere. A receive whose spill passes [`MAX_SPILLED`] is cancelled.
    pub(crate) fn spill(&mut self) {
        if self.untaken.is_empty() {
            return;
        }
        let mut untaken = std::mem::take(&mut self.untaken);
        for id in untaken.drain(..) {
            let Some(op) = self.ops.get_mut(id) else {
                continue;
            };
            let generation = op.generation;
            let Lifecycle::Multishot(m) = &mut op.lifecycle else {
                continue;
            };
            while let Some(&(res, flags)) = m.queue.front() {
                if res <= 0 {
                    // The end of stream or an error: the receive's last completion, taken after
                    // the bytes before it.
                    break;
                }
                m.queue.pop_front();
                let bid =
                    cqueue::buffer_select(flags).expect("a receive with data names its buffer");
                m.spilled
                    .extend_from_slice(self.bufs.get(bid, res as usize));
                self.bufs.release(bid);
                if !cqueue::more(flags) {
                    // Its last completion carried data: keep the end as one without a buffer
                    // (the task arms the receive again).
                    m.queue.push_front((-libc::EAGAIN, 0));
                    break;
                }
            }
            let ended = m.queue.back().is_some_and(|&(_, f)| !cqueue::more(f));
            if m.spilled.len() > MAX_SPILLED && !ended && !m.cancelling {
                m.cancelling = true;
                self.cancel(user_data(id, generation));
            }
        }
        self.untaken = untaken;
    }

    /// Hands send `id` (of `len` bytes) over without waiting for it: see
    /// [`Lifecycle::Detached`]. `waker` is woken if the send comes back short or failed.
    pub(crate) fn detach(&mut self, id: usize, waker: &Waker, len: u32) {
        if let Some(op) = self.ops.get_mut(id) {
            if matches!(op.lifecycle, Lifecycle::Submitted | Lifecycle::Waiting(_)) {
                op.lifecycle = Lifecycle::Detached {
                    waker: waker.clone(),
                    len,
                };
            }
        }
    }

    /// Takes `id`'s completion if it has arrived, without waiting for it.
    pub(crate) fn try_take(&mut self, id: usize) -> Option<Completion> {
        let op = self.ops.get(id)?;
        let Lifecycle::Completed { res, .. } = op.lifecycle else {
            return None;
        };
        let op = self.ops.remove(id);
        Some(Completion { res, hold: op.hold })
    }

    /// An emptied send buffer from a completed detached send, or a new empty one.
    pub(crate) fn spare_buf(&mut self) -> Vec<u8> {
        self.spare_bufs.pop().unwrap_or_default()
    }

    /// Keeps `buf` (emptied) as a spare send buffer, within the bounds on how many and how large.
    pub(crate) fn give_spare(&mut self, mut buf: Vec<u8>) {
        if self.spare_bufs.len() < MAX_SPARE_BUFS && buf.capacity() <= MAX_SPARE_BUF_CAPACITY {
            buf.clear();
            self.spare_bufs.push(buf);
        }
    }

    /// The connection is done but a send it handed over is still in flight: let it finish (the
    /// op keeps its own reference to the socket and its buffer) instead of cancelling it, so the
    /// last response is not lost; the slab forgets it on completion.
    pub(crate) fn orphan(&mut self, id: usize) {
        if let Some(op) = self.ops.get_mut(id) {
            match op.lifecycle {
                Lifecycle::Completed { flags, .. } => {
                    self.ops.remove(id);
                    self.release_selected(flags);
                }
                _ => op.lifecycle = Lifecycle::Ignored,
            }
        }
    }

    /// The task that started `id` no longer wants it: cancel it, or clean up if it already
    /// completed.
    pub(crate) fn drop_op(&mut self, id: usize) {
        let Some(op) = self.ops.get_mut(id) else {
            return;
        };
        match &mut op.lifecycle {
            Lifecycle::Completed { flags, .. } => {
                let flags = *flags;
                self.ops.remove(id);
                self.release_selected(flags);
            }
            Lifecycle::Ignored | Lifecycle::IgnoredMultishot => {}
            Lifecycle::Multishot(m) => {
                let queue = std::mem::take(&mut m.queue);
                let (ended, cancelling) = (
                    queue.back().is_some_and(|&(_, f)| !cqueue::more(f)),
                    m.cancelling,
                );
                if ended {
                    self.ops.remove(id);
                } else {
                    op.lifecycle = Lifecycle::IgnoredMultishot;
                    if !cancelling {
                        let target = user_data(id, op.generation);
                        self.cancel(target);
                    }
                }
                for (_, flags) in queue {
                    self.release_selected(flags);
                }
            }
            _ => {
                op.lifecycle = Lifecycle::Ignored;
                let target = user_data(id, op.generation);
                self.cancel(target);
            }
        }
    }

    /// Records the completion of slab operation `user_data`.
    pub(crate) fn complete(&mut self, user_data: u64, res: i32, flags: u32) {
        let (id, generation) = ((user_data & 0xFFFF_FFFF) as usize, (user_data >> 32) as u32);
        let Some(op) = self
            .ops
            .get_mut(id)
            .filter(|op| op.generation == generation)
        else {
            return;
        };
        match &mut op.lifecycle {
            Lifecycle::Multishot(m) => {
                m.queue.push_back((res, flags));
                if m.queue.len() == 1 {
                    self.untaken.push(id);
                }
                if let Some(w) = m.waker.take() {
                    w.wake();
                }
                return;
            }
            Lifecycle::IgnoredMultishot => {
                if !cqueue::more(flags) {
                    self.ops.remove(id);
                }
                self.release_selected(flags);
                return;
            }
            _ => {}
        }
        match std::mem::replace(&mut op.lifecycle, Lifecycle::Completed { res, flags }) {
            Lifecycle::Waiting(w) => w.wake(),
            Lifecycle::Detached { waker, len } => {
                if u32::try_from(res).is_ok_and(|n| n == len) {
                    // Sent whole: nobody needs to hear of it. The buffer is the next sender's.
                    if let Hold::Buf(buf) = std::mem::replace(&mut op.hold, Hold::None) {
                        self.give_spare(buf);
                    }
                } else {
                    // Short or failed: the task must send the rest, or learn of the error.
                    waker.wake();
                }
            }
            Lifecycle::Submitted => {}
            Lifecycle::Ignored => {
                self.ops.remove(id);
                self.release_selected(flags);
            }
            Lifecycle::Completed { .. } => unreachable!("single-shot op completed twice"),
            Lifecycle::Multishot(_) | Lifecycle::IgnoredMultishot => unreachable!("handled above"),
        }
    }

    /// Gives back a provided buffer that a completion selected and nobody will read.
    fn release_selected(&mut self, flags: u32) {
        if let Some(bid) = cqueue::buffer_select(flags) {
            self.bufs.release(bid);
        }
    }

    /// Whether operations are still in flight.
    pub(crate) fn has_ops(&self) -> bool {
        !self.ops.is_empty()
    }

    /// Cancels every operation still in flight (shutdown).
    pub(crate) fn cancel_all(&mut self) {
        let ids: Vec<usize> = self.ops.iter().map(|(id, _)| id).collect();
        for id in ids {
            self.drop_op(id);
        }
    }

    /// Submits queued entries and waits for at least `want` completions.
    pub(crate) fn submit_and_wait(&mut self, want: usize) -> io::Result<()> {
        match self.ring.submit_and_wait(want) {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EBUSY | libc::ETIME)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Moves every available completion into `out` as `(user_data, res, flags)`.
    pub(crate) fn reap(&mut self, out: &mut Vec<(u64, i32, u32)>) {
        for cqe in self.ring.completion() {
            out.push((cqe.user_data(), cqe.result(), cqe.flags()));
        }
    }

    /// Hands the kernel what is still queued (closes), then unregisters the provided buffers
    /// (before the ring goes away).
    pub(crate) fn shutdown(&mut self) {
        let _ = self.ring.submit();
        self.bufs.unregister(&self.ring);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::uring::bufring::BUF_GROUP;
    use crate::engine::uring::ring::build_ring;
    use std::task::Waker;

    fn driver() -> Driver {
        let (ring, _) = build_ring(16).unwrap();
        let bufs = BufRing::new(&ring, 4, 512).unwrap();
        Driver::new(ring, bufs)
    }

    fn drain(d: &mut Driver) {
        let mut cqes = Vec::new();
        while d.has_ops() {
            d.submit_and_wait(1).unwrap();
            d.reap(&mut cqes);
            for (ud, res, flags) in cqes.drain(..) {
                if ud != UNTRACKED_TOKEN {
                    d.complete(ud, res, flags);
                }
            }
        }
    }

    fn timeout(d: &mut Driver, secs: u64) -> usize {
        let ts = Box::new(Timespec::new().sec(secs));
        let entry = opcode::Timeout::new(&*ts).build();
        // SAFETY: the entry points only into the boxed timespec the op holds.
        unsafe { d.push(entry, Hold::Timespec(ts)) }
    }

    /// A waker that counts its wakes.
    struct Count(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A detached send of `data` on one end of a fresh socket pair (the other end closed first
    /// if `peer_closed`); returns the driver, the op and the wake count once it completed.
    fn detached_send(peer_closed: bool) -> (Driver, usize, usize, Vec<u8>) {
        let mut d = driver();
        let mut fds = [0; 2];
        // SAFETY: socketpair writes two descriptors into the array we own.
        let made =
            unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
        assert_eq!(made, 0);
        if peer_closed {
            // SAFETY: closing a descriptor we own.
            unsafe { libc::close(fds[1]) };
        }
        let buf = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        let len = buf.len() as u32;
        let entry = opcode::Send::new(io_uring::types::Fd(fds[0]), buf.as_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build();
        // SAFETY: the entry points into `buf`'s heap storage, which the op holds.
        let id = unsafe { d.push(entry, Hold::Buf(buf)) };
        let count = std::sync::Arc::new(Count(Default::default()));
        d.detach(id, &Waker::from(count.clone()), len);
        let mut cqes = Vec::new();
        while cqes.is_empty() {
            d.submit_and_wait(1).unwrap();
            d.reap(&mut cqes);
        }
        for (ud, res, flags) in cqes {
            d.complete(ud, res, flags);
        }
        let mut received = vec![0u8; 64];
        if !peer_closed {
            // SAFETY: reading into a buffer we own; both descriptors are ours.
            let n = unsafe { libc::read(fds[1], received.as_mut_ptr().cast(), 64) };
            received.truncate(n.max(0) as usize);
            // SAFETY: closing a descriptor we own.
            unsafe { libc::close(fds[1]) };
        }
        // SAFETY: closing a descriptor we own.
        unsafe { libc::close(fds[0]) };
        let wakes = count.0.load(std::sync::atomic::Ordering::Relaxed);
        (d, id, wakes, received)
    }

    #[test]
    fn a_detached_send_that_goes_out_whole_wakes_nobody_and_leaves_a_spare() {
        let (mut d, id, wakes, received) = detached_send(false);
        assert_eq!(received, b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(wakes, 0, "a full send must not wake the task");
        let c = d.try_take(id).expect("the completion is there to take");
        assert_eq!(c.res, 19);
        assert!(
            matches!(c.hold, Hold::None),
            "the buffer went to the spares"
        );
        assert!(d.spare_buf().capacity() >= 19);
        assert!(!d.has_ops());
        d.shutdown();
    }

    #[test]
    fn a_detached_send_that_fails_wakes_its_task_and_keeps_its_buffer() {
        let (mut d, id, wakes, _) = detached_send(true);
        assert_eq!(wakes, 1);
        let c = d.try_take(id).expect("the completion is there to take");
        assert_eq!(c.res, -libc::EPIPE);
        assert!(matches!(c.hold, Hold::Buf(_)));
        d.shutdown();
    }

    /// A connected socket pair (both ends ours; the caller closes them).
    fn socket_pair() -> [RawFd; 2] {
        let mut fds = [0; 2];
        // SAFETY: socketpair writes two descriptors into the array we own.
        let made =
            unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
        assert_eq!(made, 0);
        fds
    }

    fn write(fd: RawFd, bytes: &[u8]) {
        // SAFETY: writing from a slice we own to a descriptor we own.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        assert_eq!(n, bytes.len() as isize);
    }

    fn close(fds: [RawFd; 2]) {
        for fd in fds {
            // SAFETY: closing descriptors we own.
            unsafe { libc::close(fd) };
        }
    }

    /// Submits, then routes completions into the driver until `done` holds.
    fn run_until(d: &mut Driver, mut done: impl FnMut(&mut Driver) -> bool) {
        let mut cqes = Vec::new();
        while !done(d) {
            d.submit_and_wait(1).unwrap();
            d.reap(&mut cqes);
            for (ud, res, flags) in cqes.drain(..) {
                if ud != UNTRACKED_TOKEN {
                    d.complete(ud, res, flags);
                }
            }
        }
    }

    fn queued(d: &Driver, id: usize) -> usize {
        match &d.ops[id].lifecycle {
            Lifecycle::Multishot(m) => m.queue.len(),
            _ => panic!("not a multishot op"),
        }
    }

    /// Takes what multishot receive `id` has (which must be something): its result, whether
    /// the receive is still armed, and the bytes.
    fn take(d: &mut Driver, id: usize) -> (i32, bool, Vec<u8>) {
        let mut cx = Context::from_waker(Waker::noop());
        let mut bytes = Vec::new();
        let Poll::Ready((res, armed)) = d.poll_recv_multishot(id, &mut cx, &mut bytes) else {
            panic!("nothing to take");
        };
        (res, armed, bytes)
    }

    fn multishot_recv(d: &mut Driver, fd: RawFd) -> usize {
        let entry = opcode::RecvMulti::new(io_uring::types::Fd(fd), BUF_GROUP).build();
        // SAFETY: the receive names only provided buffers.
        unsafe { d.push_multishot(entry) }
    }

    #[test]
    fn a_multishot_receive_queues_each_arrival_until_the_task_takes_it() {
        let mut d = driver();
        let fds = socket_pair();
        let id = multishot_recv(&mut d, fds[0]);
        let mut cx = Context::from_waker(Waker::noop());
        let mut sink = Vec::new();
        assert!(d.poll_recv_multishot(id, &mut cx, &mut sink).is_pending());
        for (i, part) in [&b"one"[..], b"two"].into_iter().enumerate() {
            write(fds[1], part);
            run_until(&mut d, |d| queued(d, id) > i);
        }
        for want in [&b"one"[..], b"two"] {
            assert_eq!(take(&mut d, id), (want.len() as i32, true, want.to_vec()));
        }
        assert!(d.poll_recv_multishot(id, &mut cx, &mut sink).is_pending());
        // End of stream is its last completion: the slot goes with it.
        // SAFETY: closing a descriptor we own.
        unsafe { libc::close(fds[1]) };
        run_until(&mut d, |d| queued(d, id) == 1);
        assert_eq!(take(&mut d, id), (0, false, Vec::new()));
        assert!(!d.has_ops());
        // SAFETY: closing a descriptor we own.
        unsafe { libc::close(fds[0]) };
        d.shutdown();
    }

    #[test]
    fn bytes_no_task_took_are_spilled_and_their_buffers_given_back() {
        let mut d = driver(); // four provided buffers
        let fds = socket_pair();
        let busy = multishot_recv(&mut d, fds[0]);
        // Far more arrivals than there are buffers, none taken: each turn's spill gives the
        // buffer back, so the receive never runs out (ENOBUFS would end it).
        let mut sent = Vec::new();
        for i in 0..12u8 {
            write(fds[1], &[b'a' + i]);
            sent.push(b'a' + i);
            run_until(&mut d, |d| queued(d, busy) == 1);
            d.spill();
            assert_eq!(queued(&d, busy), 0);
        }
        // The end of stream stays behind the spilled bytes.
        // SAFETY: closing a descriptor we own.
        unsafe { libc::close(fds[1]) };
        run_until(&mut d, |d| queued(d, busy) == 1);
        d.spill();
        assert_eq!(take(&mut d, busy), (12, true, sent));
        assert_eq!(take(&mut d, busy), (0, false, Vec::new()));
        assert!(!d.has_ops());
        // SAFETY: closing a descriptor we own.
        unsafe { libc::close(fds[0]) };
        d.shutdown();
    }

    #[test]
    fn a_receive_whose_spill_outgrows_its_bound_is_cancelled_without_losing_data() {
        let mut d = driver();
        let fds = socket_pair();
        let id = multishot_recv(&mut d, fds[0]);
        let chunk = [b'z'; 512]; // one provided buffer's worth
        let mut written = 0;
        while written <= MAX_SPILLED {
            write(fds[1], &chunk);
            written += chunk.len();
            run_until(&mut d, |d| queued(d, id) >= 1);
            d.spill();
        }
        // The cancellation lands: the receive's last completion comes after every byte.
        run_until(&mut d, |d| {
            d.spill();
            let Lifecycle::Multishot(m) = &d.ops[id].lifecycle else {
                unreachable!()
            };
            m.queue.back().is_some_and(|&(_, f)| !cqueue::more(f))
        });
        let (n, armed, bytes) = take(&mut d, id);
        assert!(armed && n as usize == bytes.len());
        let mut got = bytes.len();
        loop {
            let (res, armed, bytes) = take(&mut d, id);
            got += bytes.len();
            if !armed {
                assert!(res == -libc::ECANCELED || res >= 0, "ended with {res}");
                break;
            }
        }
        // Whatever the receive did not read stays in the socket for the next one.
        let mut rest = [0u8; 4096];
        loop {
            // SAFETY: reading into a buffer we own from a descriptor we own (non-blocking).
            let n = unsafe {
                libc::recv(
                    fds[0],
                    rest.as_mut_ptr().cast(),
                    rest.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n <= 0 {
                break;
            }
            got += n as usize;
        }
        assert_eq!(got, written);
        assert!(!d.has_ops(), "the last completion freed the slot");
        close(fds);
        d.shutdown();
    }

    #[test]
    fn a_dropped_multishot_receive_gives_back_its_buffers_and_frees_its_slot() {
        let mut d = driver();
        let fds = socket_pair();
        let id = multishot_recv(&mut d, fds[0]);
        write(fds[1], b"unread");
        run_until(&mut d, |d| queued(d, id) == 1);
        d.drop_op(id);
        drain(&mut d);
        assert!(!d.has_ops());
        // Every provided buffer is back: four arrivals in a row, untaken, each get one.
        let id = multishot_recv(&mut d, fds[0]);
        for i in 0..4 {
            write(fds[1], b"x");
            run_until(&mut d, |d| queued(d, id) > i);
        }
        for _ in 0..4 {
            let (res, _, _) = take(&mut d, id);
            assert_eq!(res, 1, "a buffer was missing (ENOBUFS)");
        }
        d.drop_op(id);
        drain(&mut d);
        close(fds);
        d.shutdown();
    }

    #[test]
    fn a_dropped_op_is_cancelled_and_its_slot_freed_on_completion() {
        let mut d = driver();
        let id = timeout(&mut d, 60);
        d.drop_op(id);
        assert!(d.has_ops(), "the slot lives until the kernel is done");
        drain(&mut d); // would hang for 60 s if the cancellation did not work
        assert!(!d.has_ops());
        d.shutdown();
    }

    #[test]
    fn completions_reach_the_op_and_stale_ones_are_ignored() {
        let mut d = driver();
        let id = timeout(&mut d, 0);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(d.poll_op(id, &mut cx).is_pending());
        let generation = d.ops[id].generation;
        // A completion for an earlier op in the same slot changes nothing.
        d.complete(user_data(id, generation.wrapping_sub(1)), 7, 0);
        assert!(d.poll_op(id, &mut cx).is_pending());
        let mut cqes = Vec::new();
        while cqes.is_empty() {
            d.submit_and_wait(1).unwrap();
            d.reap(&mut cqes);
        }
        let (ud, res, flags) = cqes[0];
        d.complete(ud, res, flags);
        match d.poll_op(id, &mut cx) {
            Poll::Ready(c) => assert_eq!(c.res, -libc::ETIME),
            Poll::Pending => panic!("the completion was lost"),
        }
        assert!(!d.has_ops());
        d.shutdown();
    }
}

thread_local! {
    /// The driver of the io_uring worker running on this thread, if any.
    static CURRENT: RefCell<Option<Rc<RefCell<Driver>>>> = const { RefCell::new(None) };
}

/// Makes `driver` this thread's current driver (the worker owns it; transports and timers reach
/// it through [`with_driver`]).
pub(crate) fn install(driver: Rc<RefCell<Driver>>) {
    CURRENT.with(|c| *c.borrow_mut() = Some(driver));
}

/// Removes this thread's current driver.
pub(crate) fn uninstall() {
    CURRENT.with(|c| c.borrow_mut().take());
}

/// Runs `f` with this thread's driver, or returns `None` off an io_uring worker thread.
pub(crate) fn try_with_driver<R>(f: impl FnOnce(&mut Driver) -> R) -> Option<R> {
    CURRENT.with(|c| c.borrow().as_deref().map(|d| f(&mut d.borrow_mut())))
}

/// Runs `f` with this thread's driver. Panics off an io_uring worker thread (engine-internal
/// use: only the engine's own transports call it).
pub(crate) fn with_driver<R>(f: impl FnOnce(&mut Driver) -> R) -> R {
    try_with_driver(f).expect("not on a peregrine io_uring worker thread")
}
