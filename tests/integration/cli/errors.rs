//! Failures: exit code 1, one line naming the file, and never a partial output file.

use std::ffi::OsString;
use std::fs;
use std::path::Path;

use super::{assert_one_line_error, dir_names, example, npy_bytes, npyq};

fn convert_args(input: &Path, output: &Path, extra: &[&str]) -> Vec<OsString> {
    let mut args = vec![OsString::from("convert"), input.into(), output.into()];
    args.extend(extra.iter().map(Into::into));
    args
}

#[test]
fn truncated_input_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("cut.npy");
    let events = fs::read(example("events.npy")).unwrap();
    fs::write(&bad, &events[..events.len() / 2]).unwrap();
    for out in ["out.parquet", "out.csv", "out.arrow", "out.npy"] {
        let output = npyq(convert_args(&bad, &dir.path().join(out), &[]));
        assert_one_line_error(&output, "cut.npy");
        assert_eq!(dir_names(dir.path()), ["cut.npy"], "nothing left behind by {out}");
    }
}

#[test]
fn failure_mid_stream_removes_the_partial_output() {
    // 70,000 one-character strings (more than one 65,536-row batch); the last holds a code
    // point beyond Unicode, so the error comes after the first batch was written.
    let rows = 70_000usize;
    let mut data: Vec<u8> = std::iter::repeat_n(u32::from('a').to_le_bytes(), rows).flatten().collect();
    let last = data.len() - 4;
    data[last..].copy_from_slice(&0x0011_0000u32.to_le_bytes());
    let header = format!("{{'descr': '<U1', 'fortran_order': False, 'shape': ({rows},), }}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("letters.npy");
    fs::write(&bad, npy_bytes(&header, &data)).unwrap();
    for out in ["out.parquet", "out.json", "out.arrows"] {
        let output = npyq(convert_args(&bad, &dir.path().join(out), &[]));
        assert_one_line_error(&output, "letters.npy");
        assert_eq!(dir_names(dir.path()), ["letters.npy"], "nothing left behind by {out}");
    }
}

#[test]
fn failure_keeps_an_existing_output_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("cut.npy");
    fs::write(&bad, b"\x93NUMPY\x01\x00").unwrap();
    let out = dir.path().join("out.parquet");
    fs::write(&out, b"previous contents").unwrap();
    assert_one_line_error(&npyq(convert_args(&bad, &out, &[])), "cut.npy");
    assert_eq!(fs::read(&out).unwrap(), b"previous contents");
    assert_eq!(dir_names(dir.path()), ["cut.npy", "out.parquet"]);
}

#[test]
fn object_arrays_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("objects.npy");
    fs::write(&bad, npy_bytes("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", &[0u8; 16]))
        .unwrap();
    let output = npyq(convert_args(&bad, &dir.path().join("out.csv"), &[]));
    let message = assert_one_line_error(&output, "objects.npy");
    assert!(message.contains('O'), "{message}");
    assert_eq!(dir_names(dir.path()), ["objects.npy"]);
}

#[test]
fn missing_input() {
    let dir = tempfile::tempdir().unwrap();
    let output = npyq(convert_args(&dir.path().join("nope.npy"), &dir.path().join("out.parquet"), &[]));
    assert_one_line_error(&output, "nope.npy");
    assert!(dir_names(dir.path()).is_empty());
}

#[test]
fn unknown_output_extension_lists_the_supported_ones() {
    let dir = tempfile::tempdir().unwrap();
    let output = npyq(convert_args(&example("ds.npz"), &dir.path().join("ds.xlsx"), &[]));
    let message = assert_one_line_error(&output, ".xlsx");
    for ext in [".parquet", ".arrow", ".arrows", ".csv", ".json", ".npy", ".npz"] {
        assert!(message.contains(ext), "{message}");
    }
    assert!(dir_names(dir.path()).is_empty());
}

#[test]
fn unknown_member_lists_the_members() {
    let dir = tempfile::tempdir().unwrap();
    let output =
        npyq(convert_args(&example("ds.npz"), &dir.path().join("x.parquet"), &["--member", "weights"]));
    let message = assert_one_line_error(&output, "ds.npz");
    assert!(
        message.contains("weights") && message.contains("features") && message.contains("labels"),
        "{message}"
    );
}

#[test]
fn member_needs_an_npz() {
    let dir = tempfile::tempdir().unwrap();
    let output =
        npyq(convert_args(&example("events.npy"), &dir.path().join("x.parquet"), &["--member", "id"]));
    assert_one_line_error(&output, "--member");
}

#[test]
fn unknown_compression() {
    let dir = tempfile::tempdir().unwrap();
    let output =
        npyq(convert_args(&example("ds.npz"), &dir.path().join("x.parquet"), &["--compression", "brotli9"]));
    let message = assert_one_line_error(&output, "brotli9");
    assert!(message.contains("zstd"), "{message}");
    assert!(dir_names(dir.path()).is_empty());
}

#[test]
fn shards_with_different_columns() {
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("mixed");
    fs::create_dir(&shards).unwrap();
    fs::copy(example("readings/part-1.npy"), shards.join("part-1.npy")).unwrap();
    fs::copy(example("events.npy"), shards.join("part-2.npy")).unwrap();
    let output = npyq(convert_args(&shards, &dir.path().join("out.parquet"), &[]));
    assert_one_line_error(&output, "part-2.npy");
    assert_eq!(dir_names(dir.path()), ["mixed"]);
}

#[test]
fn npz_members_of_different_lengths_suggest_member() {
    let dir = tempfile::tempdir().unwrap();
    let mismatch = super::fixture("mismatch.npz");
    let output = npyq(convert_args(&mismatch, &dir.path().join("x.parquet"), &[]));
    let message = assert_one_line_error(&output, "mismatch.npz");
    assert!(message.contains("a=3") && message.contains("b=4") && message.contains("--member"), "{message}");
    assert!(dir_names(dir.path()).is_empty());
    let output = npyq(convert_args(&mismatch, &dir.path().join("b.parquet"), &["--member", "b"]));
    super::assert_ok(&output);
}

#[test]
fn directory_with_both_kinds_is_refused_unless_a_member_is_asked_for() {
    let both = Path::new("tests/sql/data/errors/both_kinds");
    let dir = tempfile::tempdir().unwrap();
    let output = npyq(convert_args(both, &dir.path().join("out.parquet"), &[]));
    assert_one_line_error(&output, "both_kinds holds both .npy (1) and .npz (1) files");
    assert!(dir_names(dir.path()).is_empty(), "nothing written");
    // `--member` reads .npz files: the .npy is not one of them.
    let out = dir.path().join("v.csv");
    let output = npyq(convert_args(both, &out, &["--member", "v"]));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(fs::read_to_string(&out).unwrap(), "v\n10\n20\n");
}
