//! An `.npz` archive read: central directory, stored and deflated members (inflated whole and
//! streamed, CRC checks), the decompression-bomb cap, then every column path as for `.npy`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = common::read_all("fuzzed.npz", data);
});
