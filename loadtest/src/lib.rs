//! `peregrine-load`: an HTTP/1.1 load generator.
//!
//! Two modes:
//!
//! - **closed loop** (the default, like wrk): every connection keeps `--pipeline` requests in
//!   flight and sends the next one as soon as a response arrives;
//! - **open loop** (`--rate R`, like wrk2 or `oha -q`): requests follow a fixed schedule of
//!   `R` per second, and each latency is measured from the request's *intended* send time, so
//!   a server stall is not hidden by the load generator slowing down with it (coordinated
//!   omission; see [`schedule`]).
//!
//! Each worker thread runs its own non-blocking event loop (mio, edge-triggered epoll) over
//! its share of the connections, parses responses by hand with `httparse` ([`parse`]) and
//! records latencies in its own `hdrhistogram`; the histograms are merged at the end.
//!
//! `--ws` is a third: WebSocket echo load ([`ws`]), messages instead of requests.
//!
//! The binary is a thin wrapper over [`run`] (see `src/main.rs`); everything it does is
//! reachable from this library so it can be tested.

#![warn(missing_docs)]

pub mod cli;
mod conn;
pub mod parse;
pub mod report;
pub mod request;
mod runner;
pub mod schedule;
pub mod stats;
mod timer;
pub mod tls;
pub mod url;
mod worker;
pub mod ws;

pub use cli::{parse_args, Command, Config};
pub use report::Summary;
pub use runner::{run, Outcome, RunError, Tick};
