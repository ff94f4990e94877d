//! Property tests over hostile input: every corpus file, mutated (bit flips, truncation,
//! inserted and overwritten bytes, lying length fields), is opened and read. The reader may
//! refuse it, but must not panic, and must not spend unbounded time or memory (reads are capped
//! at a few batches, so a legitimately huge zero-byte array does not count as a hang).
//!
//! This is the bounded-time fuzzing that runs in CI; `PROPTEST_CASES` raises the case count
//! for a longer local run.

use std::path::{Path, PathBuf};

use datafusion_npy::{NpyTable, OpenOptions};
use proptest::prelude::*;

fn corpus_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus/files");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "npy" || e == "npz"))
        .filter(|p| std::fs::metadata(p).unwrap().len() < 4096)
        .collect();
    files.sort();
    files
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit { at: usize, bit: u8 },
    Truncate { len: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Overwrite { at: usize, bytes: Vec<u8> },
    /// Overwrite a little-endian u16/u32/u64 at `at` (header lengths, zip sizes) with `value`.
    Integer { at: usize, width: usize, value: u64 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = prop_oneof![Just(0u64), Just(1), Just(0xffff), Just(0xffff_ffff), Just(u64::MAX), any::<u64>()];
    prop_oneof![
        (0usize..4096, 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        (0usize..4096).prop_map(|len| Mutation::Truncate { len }),
        (0usize..4096, proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (0usize..4096, proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| Mutation::Overwrite { at, bytes }),
        (0usize..4096, prop_oneof![Just(2usize), Just(4), Just(8)], interesting)
            .prop_map(|(at, width, value)| Mutation::Integer { at, width, value }),
        // Header text is where parsers break: aim at the first 128 bytes more often.
        (8usize..128, proptest::collection::vec(prop_oneof![Just(b'('), Just(b'['), Just(b'\''), Just(b','), Just(b'9'), any::<u8>()], 1..8))
            .prop_map(|(at, bytes)| Mutation::Overwrite { at, bytes }),
    ]
}

fn apply(mut data: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = data.len().max(1);
        match m {
            Mutation::FlipBit { at, bit } => {
                if let Some(b) = data.get_mut(at % len) {
                    *b ^= 1 << bit;
                }
            }
            Mutation::Truncate { len: keep } => data.truncate(keep % len),
            Mutation::Insert { at, bytes } => {
                let at = at % len;
                data.splice(at.min(data.len())..at.min(data.len()), bytes.iter().copied());
            }
            Mutation::Overwrite { at, bytes } => {
                for (i, b) in bytes.iter().enumerate() {
                    if let Some(slot) = data.get_mut((at % len) + i) {
                        *slot = *b;
                    }
                }
            }
            Mutation::Integer { at, width, value } => {
                for (i, b) in value.to_le_bytes().iter().take(*width).enumerate() {
                    if let Some(slot) = data.get_mut((at % len) + i) {
                        *slot = *b;
                    }
                }
            }
        }
    }
    data
}

/// Open and read a few batches every way the library offers; errors are fine, panics are not.
fn exercise(path: &Path) {
    let options = OpenOptions { max_header_len: 1 << 20, ..OpenOptions::default() };
    if let Ok(table) = NpyTable::open_with(path, &options) {
        let _ = table.arrays();
        if let Ok(reader) = table.reader().with_batch_size(3).build() {
            for batch in reader.take(4) {
                if batch.is_err() {
                    break;
                }
            }
        }
    }
    if path.extension().is_some_and(|e| e == "npz") {
        if let Ok(names) = NpyTable::npz_member_names(path) {
            for name in names.iter().take(4) {
                if let Ok(table) = NpyTable::open_npz_member(path, name, &options) {
                    if let Ok(reader) = table.reader().with_batch_size(2).build() {
                        for batch in reader.take(4) {
                            if batch.is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_corpus_files_never_panic(file in 0usize..1000, mutations in proptest::collection::vec(mutation(), 1..4)) {
        let files = corpus_files();
        let source = &files[file % files.len()];
        let data = apply(std::fs::read(source).unwrap(), &mutations);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(source.file_name().unwrap());
        std::fs::write(&path, &data).unwrap();
        exercise(&path);
    }

    #[test]
    fn random_bytes_after_the_magic_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..300), npz in any::<bool>()) {
        let mut data = if npz { b"PK\x03\x04".to_vec() } else { b"\x93NUMPY".to_vec() };
        data.extend(tail);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(if npz { "random.npz" } else { "random.npy" });
        std::fs::write(&path, &data).unwrap();
        exercise(&path);
    }
}
