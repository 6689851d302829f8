//! Fuzz target `chunked`: see `peregrine_fuzz::check_chunked` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peregrine_fuzz::check_chunked(data));
