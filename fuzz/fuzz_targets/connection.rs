//! Fuzz target `connection`: see `peregrine_fuzz::check_connection` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peregrine_fuzz::check_connection(data));
