//! Server engines: they accept connections and move bytes; the protocol lives elsewhere.

pub mod uring;
