//! `npyq schema` against golden files in `tests/golden/` (hand-checked against numpy's headers:
//! see `tests/golden/data/make_fixtures.py`). `NPYQ_BLESS=1` rewrites them; review the diff.

use std::fs;

use super::{assert_ok, assert_one_line_error, npyq, root};

fn check_golden(golden: &str, path: &str) {
    let output = npyq(["schema", path]);
    assert_ok(&output);
    let actual = String::from_utf8(output.stdout).expect("UTF-8 report");
    let file = root().join("tests/golden").join(golden);
    if std::env::var_os("NPYQ_BLESS").is_some() {
        fs::write(&file, &actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(
        actual == expected,
        "npyq schema {path} differs from {golden}\n--- expected\n{expected}--- actual\n{actual}(NPYQ_BLESS=1 rewrites the golden file)"
    );
}

#[test]
fn stored_npz() {
    check_golden("schema_ds.npz.txt", "sql-examples/data/ds.npz");
}

#[test]
fn deflated_npz() {
    check_golden("schema_ds_compressed.npz.txt", "sql-examples/data/ds_compressed.npz");
}

#[test]
fn record_npy() {
    check_golden("schema_events.npy.txt", "sql-examples/data/events.npy");
}

#[test]
fn zero_copy_matrix() {
    check_golden("schema_embeddings.npy.txt", "sql-examples/data/embeddings.npy");
}

#[test]
fn nested_types() {
    check_golden("schema_mixed.npy.txt", "tests/golden/data/mixed.npy");
}

#[test]
fn fortran_order() {
    check_golden("schema_fortran.npy.txt", "tests/golden/data/fortran.npy");
}

#[test]
fn npz_members_of_different_lengths() {
    check_golden("schema_mismatch.npz.txt", "tests/golden/data/mismatch.npz");
}

#[test]
fn not_a_numpy_file() {
    let output = npyq(["schema", "Cargo.toml"]);
    assert_one_line_error(&output, "Cargo.toml");
}

#[test]
fn truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("cut.npy");
    let events = fs::read(super::example("events.npy")).unwrap();
    fs::write(&bad, &events[..40]).unwrap();
    let output = npyq([std::ffi::OsStr::new("schema"), bad.as_os_str()]);
    assert_one_line_error(&output, "cut.npy");
}
