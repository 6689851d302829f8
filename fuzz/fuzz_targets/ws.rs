//! Fuzz target `ws`: see `peregrine_fuzz::check_ws` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peregrine_fuzz::check_ws(data));
