//! Fuzz target `head`: see `peregrine_fuzz::check_head` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peregrine_fuzz::check_head(data));
