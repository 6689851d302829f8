//! Fuzz target `proxy`: see `peregrine_fuzz::check_proxy` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peregrine_fuzz::check_proxy(data));
