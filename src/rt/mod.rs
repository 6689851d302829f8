//! What a handler can await besides its request: timers, local tasks and blocking work.
//!
//! On a worker of either engine, [`sleep`] is a timer of the worker's own (a ring timeout, or a
//! reactor timer) and [`spawn`] puts a task on the worker's executor. Anywhere else (the [`TestServer`](crate::TestServer), a custom
//! server) [`sleep`] falls back to a shared timer thread and [`spawn`] is refused, so application
//! code that only sleeps and uses [`spawn_blocking`] runs unchanged on every server.

mod blocking;
mod timer;

pub use blocking::{spawn_blocking, JoinHandle};
pub use timer::{sleep, Sleep};

use std::future::Future;

use crate::engine::executor;

/// Spawns a task on the current worker (it need not be `Send`); it runs until it
/// completes or the server stops. Gives the future back when called off a worker thread.
pub fn spawn<F: Future<Output = ()> + 'static>(fut: F) -> Result<(), F> {
    let mut fut = Some(fut);
    let spawned = executor::with_current(|rt| {
        rt.spawn(fut.take().expect("taken once"));
    });
    match (spawned, fut) {
        (Some(()), _) => Ok(()),
        (None, Some(fut)) => Err(fut),
        (None, None) => unreachable!("future taken but not spawned"),
    }
}
