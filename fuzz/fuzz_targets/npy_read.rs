//! A whole `.npy` read through every column path: all projections, zero-copy and copied,
//! row ranges, batch sizes, row numbers.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = common::read_all("fuzzed.npy", data);
});
