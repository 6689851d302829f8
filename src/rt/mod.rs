//! What a handler can await besides its request: timers, local tasks and blocking work.
//!
//! On an io_uring worker, [`sleep`] is a timeout on the worker's ring and [`spawn`] puts a task
//! on the worker's executor. Anywhere else (the [`TestServer`](crate::TestServer), a custom
//! server) [`sleep`] falls back to a shared timer thread and [`spawn`] is refused, so application
//! code that only sleeps and uses [`spawn_blocking`] runs unchanged on every server.

mod blocking;
mod timer;

pub use blocking::{spawn_blocking, JoinHandle};
pub use timer::{sleep, Sleep};

use std::future::Future;

use crate::engine::uring::runtime;

/// Spawns a task on the current io_uring worker (it need not be `Send`); it runs until it
/// completes or the server stops. Gives the future back when called off a worker thread.
pub fn spawn<F: Future<Output = ()> + 'static>(fut: F) -> Result<(), F> {
    let mut fut = Some(fut);
    let spawned = runtime::with_current(|rt| {
        rt.spawn(fut.take().expect("taken once"));
    });
    match (spawned, fut) {
        (Some(()), _) => Ok(()),
        (None, Some(fut)) => Err(fut),
        (None, None) => unreachable!("future taken but not spawned"),
    }
}
