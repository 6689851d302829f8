//! The per-worker executor, shared by both engines: a slab of `!Send` tasks, a ready queue, and
//! wakers that are a task index (no allocation to create, clone or wake).
//!
//! A waker woken on its own worker pushes the task onto that worker's ready queue. Woken from any
//! other thread (the blocking pool), it sends the task index through the worker's
//! [`Remote`] channel and writes the worker's eventfd, which the worker watches (a read on its
//! ring, or a registration in its epoll set).
//!
//! The executor knows nothing of I/O: each engine keeps its own driver (ring or reactor) in a
//! thread-local of its own and runs [`Runtime::run_ready`] between waits.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, RawWaker, RawWakerVTable, Waker};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use slab::Slab;

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// Messages other threads send to a worker.
pub(crate) enum RemoteMsg {
    /// Wake task `index`.
    Wake(usize),
    /// Stop gracefully: in-flight requests may run until the instant.
    Stop(Instant),
}

/// The cross-thread side of a worker: a channel and the eventfd that wakes its ring.
pub(crate) struct Remote {
    tx: Sender<RemoteMsg>,
    eventfd: RawFd,
}

impl Remote {
    /// Creates the channel and eventfd of a new worker.
    pub(crate) fn new() -> std::io::Result<(Arc<Remote>, Receiver<RemoteMsg>)> {
        // SAFETY: eventfd has no memory preconditions; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        Ok((Arc::new(Remote { tx, eventfd: fd }), rx))
    }

    /// The eventfd the worker reads.
    pub(crate) fn eventfd(&self) -> RawFd {
        self.eventfd
    }

    /// Sends `msg` and wakes the worker.
    pub(crate) fn send(&self, msg: RemoteMsg) {
        if self.tx.send(msg).is_ok() {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to an eventfd we own.
            unsafe { libc::write(self.eventfd, (&one as *const u64).cast(), 8) };
        }
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        // SAFETY: the fd was created by `Remote::new` and is closed only here.
        unsafe { libc::close(self.eventfd) };
    }
}

/// Every live worker's remote, by worker id, for wakes from foreign threads.
fn remotes() -> &'static Mutex<HashMap<u32, Arc<Remote>>> {
    static REMOTES: OnceLock<Mutex<HashMap<u32, Arc<Remote>>>> = OnceLock::new();
    REMOTES.get_or_init(Default::default)
}

/// Allocates a process-unique worker id.
pub(crate) fn next_worker_id() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A worker's runtime, reachable from its tasks through a thread-local.
pub(crate) struct Runtime {
    pub(crate) worker_id: u32,
    tasks: RefCell<Slab<Option<Task>>>,
    ready: RefCell<VecDeque<usize>>,
    /// Task being polled (so a waker of the running task can be recognised).
    polling: Cell<Option<usize>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Runtime>>> = const { RefCell::new(None) };
}

impl Runtime {
    /// Creates the runtime and installs it as this thread's current one; registers `remote`.
    pub(crate) fn enter(worker_id: u32, remote: Arc<Remote>) -> Rc<Runtime> {
        let rt = Rc::new(Runtime {
            worker_id,
            tasks: RefCell::new(Slab::with_capacity(1024)),
            ready: RefCell::new(VecDeque::with_capacity(1024)),
            polling: Cell::new(None),
        });
        remotes().lock().unwrap().insert(worker_id, remote);
        CURRENT.with(|c| *c.borrow_mut() = Some(rt.clone()));
        rt
    }

    /// Uninstalls the runtime from this thread and drops every task.
    pub(crate) fn exit(&self) {
        remotes().lock().unwrap().remove(&self.worker_id);
        self.drop_tasks();
        CURRENT.with(|c| c.borrow_mut().take());
    }

    /// Drops every task (the server is stopping and their time is up).
    pub(crate) fn drop_tasks(&self) {
        // Dropping a task may touch the driver or spawn through the thread-local, so the tasks
        // leave the slab before any is dropped.
        let tasks: Vec<Task> = self.tasks.borrow_mut().drain().flatten().collect();
        drop(tasks);
    }

    /// Spawns a task on this worker.
    pub(crate) fn spawn(&self, fut: impl Future<Output = ()> + 'static) -> usize {
        let id = self.tasks.borrow_mut().insert(Some(Box::pin(fut)));
        self.ready.borrow_mut().push_back(id);
        id
    }

    /// Spawns a task that is already boxed (an HTTP/2 stream's): no second box.
    pub(crate) fn spawn_boxed(&self, task: Pin<Box<dyn Future<Output = ()>>>) -> usize {
        let id = self.tasks.borrow_mut().insert(Some(task));
        self.ready.borrow_mut().push_back(id);
        id
    }

    /// Marks task `id` ready.
    pub(crate) fn wake(&self, id: usize) {
        self.ready.borrow_mut().push_back(id);
    }

    /// Marks every task ready (used when the worker starts draining).
    pub(crate) fn wake_all(&self) {
        let tasks = self.tasks.borrow();
        let mut ready = self.ready.borrow_mut();
        ready.extend(tasks.iter().map(|(id, _)| id));
    }

    /// Polls ready tasks until none is ready; returns how many polls ran.
    pub(crate) fn run_ready(&self) -> usize {
        let mut polls = 0;
        loop {
            let Some(id) = self.ready.borrow_mut().pop_front() else {
                return polls;
            };
            // Take the task out so it can spawn or wake others while it runs.
            let Some(mut task) = self.tasks.borrow_mut().get_mut(id).and_then(Option::take) else {
                continue; // finished already, or a stale wake, or running (re-entrant wake)
            };
            let waker = task_waker(self.worker_id, id);
            let mut cx = Context::from_waker(&waker);
            self.polling.set(Some(id));
            let done = task.as_mut().poll(&mut cx).is_ready();
            self.polling.set(None);
            polls += 1;
            let mut tasks = self.tasks.borrow_mut();
            if done {
                tasks.remove(id);
            } else if let Some(slot) = tasks.get_mut(id) {
                *slot = Some(task);
            }
        }
    }

    /// Whether any task is ready to run.
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.borrow().is_empty()
    }
}

/// Runs `f` with the current worker's runtime, if this thread is a worker.
pub(crate) fn with_current<R>(f: impl FnOnce(&Runtime) -> R) -> Option<R> {
    CURRENT.with(|c| c.borrow().as_deref().map(f))
}

// A waker's data word is `worker_id << 32 | task index`; task indexes stay below 2^32 because
// the slab of one worker never holds that many tasks.
fn task_waker(worker_id: u32, task: usize) -> Waker {
    let data = ((worker_id as usize) << 32 | (task & 0xFFFF_FFFF)) as *const ();
    // SAFETY: the vtable functions below treat `data` as a plain integer, never dereference it,
    // and are safe to call from any thread.
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_waker, wake, wake, drop_waker);

fn clone_waker(data: *const ()) -> RawWaker {
    RawWaker::new(data, &VTABLE)
}

fn drop_waker(_: *const ()) {}

fn wake(data: *const ()) {
    let data = data as usize;
    let (worker_id, task) = ((data >> 32) as u32, data & 0xFFFF_FFFF);
    let local = with_current(|rt| {
        if rt.worker_id == worker_id {
            rt.wake(task);
            true
        } else {
            false
        }
    });
    if local != Some(true) {
        let remote = remotes().lock().unwrap().get(&worker_id).cloned();
        if let Some(remote) = remote {
            remote.send(RemoteMsg::Wake(task));
        }
    }
}
