//! A shared thread pool for blocking work, with results brought back to the awaiting task.
//!
//! Jobs travel to the pool over a crossbeam channel; the result is stored in the handle and the
//! task's waker is woken, which on an io_uring worker is a message plus an eventfd write that the
//! worker's ring reads.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::thread;

use crossbeam_channel::Sender;

type Job = Box<dyn FnOnce() + Send>;

/// Threads in the blocking pool.
const POOL_THREADS: usize = 8;

fn pool() -> &'static Sender<Job> {
    static POOL: OnceLock<Sender<Job>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        for i in 0..POOL_THREADS {
            let rx = rx.clone();
            thread::Builder::new()
                .name(format!("peregrine-blocking-{i}"))
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                })
                .expect("spawning a blocking-pool thread");
        }
        tx
    })
}

struct Shared<T> {
    result: Option<thread::Result<T>>,
    waker: Option<Waker>,
}

/// The result of [`spawn_blocking`]; resolves to the closure's value, or re-raises its panic.
pub struct JoinHandle<T> {
    shared: Arc<Mutex<Shared<T>>>,
}

/// Runs `f` on the blocking thread pool, so a handler can wait for it without stalling the
/// worker's other connections.
pub fn spawn_blocking<T, F>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let shared = Arc::new(Mutex::new(Shared {
        result: None,
        waker: None,
    }));
    let job_shared = shared.clone();
    let job: Job = Box::new(move || {
        let result = catch_unwind(AssertUnwindSafe(f));
        let waker = {
            let mut s = job_shared.lock().unwrap_or_else(|e| e.into_inner());
            s.result = Some(result);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    });
    pool()
        .send(job)
        .expect("the blocking pool never shuts down");
    JoinHandle { shared }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        match s.result.take() {
            Some(Ok(v)) => Poll::Ready(v),
            Some(Err(panic)) => {
                drop(s);
                std::panic::resume_unwind(panic)
            }
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
