//! SPEC §9: a file truncated by someone else while it is mapped must give an error (or, if the
//! reader copied it first, numpy's values), never a SIGBUS.
//!
//! A SIGBUS would kill the whole test binary, so the dangerous part runs in a child process: the
//! test binary itself, re-run with only the (ignored) child test selected.

use std::path::Path;
use std::process::Command;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int32Type;
use datafusion_npy::NpyTable;

const CHILD_ENV: &str = "DATAFUSION_NPY_TRUNCATION_CHILD";
const CHILD_TEST: &str = "corpus::truncation::truncated_while_mapped_child";

#[test]
fn file_truncated_while_mapped_is_an_error_not_a_signal() {
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = Command::new(exe)
        .args([CHILD_TEST, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("1 passed"),
        "the child test did not run and pass: status {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(out.status.success(), "reading a file truncated while mapped ended with {:?} (a signal means SIGBUS)\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
}

/// The child: open 200,000 rows, read one batch, truncate the file to a tenth, read the rest.
#[test]
#[ignore = "run by file_truncated_while_mapped_is_an_error_not_a_signal in a child process"]
fn truncated_while_mapped_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures/many_rows_i32.npy");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("shrinking.npy");
    std::fs::copy(&source, &path).expect("copy the fixture");
    let len = std::fs::metadata(&path).expect("file length").len();

    let table = NpyTable::open(&path).expect("open before truncation");
    let mut reader = table.reader().with_batch_size(10_000).build().expect("reader");
    let first = reader.next().expect("a first batch").expect("the first batch reads");
    check_rows(first.column(0).as_primitive::<Int32Type>().values(), 0);
    drop(first); // its buffers may point into the map, which is about to shrink

    let file = std::fs::OpenOptions::new().write(true).open(&path).expect("open for truncation");
    file.set_len(len / 10).expect("truncate");

    let mut row = 10_000;
    for batch in reader {
        match batch {
            Ok(b) => {
                // Only acceptable if the reader copied the data before it shrank: then the
                // values must still be numpy's (`arange(200000) - 1000`).
                check_rows(b.column(0).as_primitive::<Int32Type>().values(), row);
                row += b.num_rows();
            }
            Err(e) => {
                assert!(e.to_string().contains("shrinking.npy"), "the error does not name the file: {e}");
                println!("truncation reported as: {e}");
                return;
            }
        }
    }
    assert_eq!(row, 200_000, "rows went missing without an error");
}

fn check_rows(values: &[i32], first_row: usize) {
    for (i, &v) in values.iter().enumerate() {
        assert_eq!(v as i64, (first_row + i) as i64 - 1000, "row {}", first_row + i);
    }
}
