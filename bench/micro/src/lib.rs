//! Benchmarks only: see `benches/h1.rs` and `cd bench/micro && cargo bench`.
