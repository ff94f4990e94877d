//! Integration tests: the `.npy`/`.npz` writer (SPEC §7) and `COPY ... TO` (SPEC §5).
//!
//! The oracle is numpy: `tests/data/roundtrip/make_roundtrip.py` wrote the fixtures.
//! - `built`: batches built here, written, and compared byte for byte with numpy's files.
//! - `roundtrip`: numpy files read with the library, written back, compared with the originals.
//! - `sink`: the DataFusion sink behind `COPY (query) TO 'x.npy'`.

mod built;
mod provenance;
mod roundtrip;
mod sink;

use std::path::{Path, PathBuf};

/// A fixture in `tests/data/roundtrip/`.
fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/roundtrip").join(name)
}

/// With `NPY_WRITER_OUT=<dir>` set, keep a copy of a file we wrote under the name of its numpy
/// counterpart, for `tests/data/roundtrip/check_with_numpy.py` to load with numpy.
fn keep_for_numpy(written: &Path, numpy_name: &str) {
    if let Some(dir) = std::env::var_os("NPY_WRITER_OUT") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(written, dir.join(numpy_name)).unwrap();
    }
}

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    let path = path.as_ref();
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every member of an `.npz`: name, compression method, and the member's (inflated) bytes.
pub(crate) fn npz_members(path: &Path) -> Vec<(String, zip::CompressionMethod, Vec<u8>)> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut member = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            member.read_to_end(&mut bytes).unwrap();
            (member.name().unwrap().to_string(), member.compression(), bytes)
        })
        .collect()
}

/// Names of the files in `dir` (to check that no temporary file is left behind).
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// Show where two byte strings first differ (the header text, when it is in the header).
#[track_caller]
fn assert_same_bytes(ours: &[u8], numpy: &[u8], what: &str) {
    if ours == numpy {
        return;
    }
    let at = ours.iter().zip(numpy).position(|(a, b)| a != b).unwrap_or(ours.len().min(numpy.len()));
    let show = |b: &[u8]| String::from_utf8_lossy(&b[..b.len().min(256)]).into_owned();
    panic!(
        "{what}: bytes differ at offset {at} (lengths {} vs numpy's {})\n ours:  {:?}\n numpy: {:?}",
        ours.len(),
        numpy.len(),
        show(ours),
        show(numpy)
    );
}
