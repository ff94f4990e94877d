//! Integration tests: the `npyq` binary, run as a user runs it (`schema`, `convert`).
//!
//! Expected values come from numpy-written files read through the library (the format layer
//! has its own tests against numpy); these tests check what the CLI adds: the report, the
//! conversions, the order of shards, the error line, and that failed outputs leave no file.

mod convert;
mod corpus_sweep;
mod errors;
mod executable;
mod roundtrip;
mod schema;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use datafusion::arrow::array::Array;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion_npy::{NpyTable, OpenOptions};

/// The package root: the CLI runs there, so reports show repository-relative paths.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn example(name: &str) -> PathBuf {
    root().join("sql-examples/data").join(name)
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/golden/data").join(name)
}

/// Run `npyq` with `args` in the package root.
pub fn npyq<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_npyq")).current_dir(root()).args(args).output().expect("npyq runs")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Panic with npyq's stderr unless it succeeded.
pub fn assert_ok(output: &Output) {
    assert!(output.status.success(), "npyq failed ({:?}): {}", output.status.code(), stderr(output));
}

/// npyq failed the way every failure must: exit code 1, one line on stderr starting `npyq: `
/// and containing `needle`, no panic, nothing on stdout.
pub fn assert_one_line_error(output: &Output, needle: &str) -> String {
    let text = stderr(output);
    assert_eq!(output.status.code(), Some(1), "exit code; stderr: {text}");
    assert!(text.starts_with("npyq: "), "stderr: {text}");
    assert_eq!(text.trim_end().lines().count(), 1, "one line expected: {text}");
    assert!(!text.contains("panicked") && !text.contains("RUST_BACKTRACE"), "a panic: {text}");
    assert!(text.contains(needle), "stderr should mention {needle:?}: {text}");
    assert!(output.stdout.is_empty(), "stdout: {}", String::from_utf8_lossy(&output.stdout));
    text
}

/// A `.npy`/`.npz` (or one member) read whole through the library, as the expected table.
pub fn read_table(path: &Path, member: Option<&str>) -> RecordBatch {
    let table = match member {
        Some(m) => NpyTable::open_npz_member(path, m, &OpenOptions::default()),
        None => NpyTable::open(path),
    }
    .unwrap_or_else(|e| panic!("{e}"));
    let batches: Vec<RecordBatch> =
        table.reader().build().unwrap().collect::<Result<_, _>>().unwrap_or_else(|e| panic!("{e}"));
    concat_batches(&table.schema(), &batches).unwrap()
}

/// Same column names, and each column equal in type and values (field metadata aside).
pub fn assert_same_data(expected: &RecordBatch, actual: &RecordBatch) {
    let names = |b: &RecordBatch| b.schema().fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>();
    assert_eq!(names(actual), names(expected), "column names");
    assert_eq!(actual.num_rows(), expected.num_rows(), "rows");
    for (i, name) in names(expected).iter().enumerate() {
        let (e, a) = (expected.column(i), actual.column(i));
        assert_eq!(a.data_type(), e.data_type(), "type of column {name}");
        assert!(a.to_data() == e.to_data(), "values of column {name} differ:\nexpected {e:?}\nactual {a:?}");
    }
}

/// Bytes of a version-1.0 `.npy` with the given header dict and data (padded like numpy).
pub fn npy_bytes(header: &str, data: &[u8]) -> Vec<u8> {
    let mut text = header.to_string();
    let unpadded = 10 + text.len() + 1;
    text.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    text.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(data);
    out
}

/// The names in a directory, sorted.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
