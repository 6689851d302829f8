//! Fuzz target `h2`: see `peregrine_fuzz::check_h2` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peregrine_fuzz::check_h2(data));
