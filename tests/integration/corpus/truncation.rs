//! SPEC §9: a file truncated by someone else while it is mapped must give an error (or, if the
//! reader copied it first, numpy's values), never a SIGBUS.
//!
//! A SIGBUS would kill the whole test binary, so the dangerous part runs in a child process: the
//! test binary itself, re-run with only the (ignored) child test selected.

use std::path::Path;
use std::process::Command;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int32Type;
use datafusion_npy::{NpyTable, OpenOptions};

const CHILD_ENV: &str = "DATAFUSION_NPY_TRUNCATION_CHILD";
const CHILD_TEST: &str = "corpus::truncation::truncated_while_mapped_child";

/// The files truncated under the reader (between two batches, which SPEC §9 and `format::bytes`
/// promise to catch): a `.npy`, a deflated and a stored `.npz` member.
/// `*_copy`: the same with `OpenOptions::mmap = false` (a private copy: nothing may go missing).
const SCENARIOS: [&str; 5] = ["npy", "npz_deflated", "npz_stored", "npy_copy", "npz_stored_copy"];

#[test]
fn file_truncated_while_mapped_is_an_error_not_a_signal() {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut failures = Vec::new();
    for scenario in SCENARIOS {
        let out = Command::new(&exe)
            .args([CHILD_TEST, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, scenario)
            .env("RUST_BACKTRACE", "0")
            .output()
            .expect("the test binary runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || !stdout.contains("1 passed") {
            failures.push(format!(
                "{scenario}: the child ended with {:?} (signal 7 is SIGBUS)\nstdout:\n{stdout}\nstderr:\n{stderr}",
                out.status
            ));
        }
    }
    assert!(failures.is_empty(), "reading files truncated while mapped:\n{}", failures.join("\n"));
}

/// The child: open the scenario's file, read one batch, truncate the file to a tenth, read the
/// rest. Every batch read must hold numpy's values; the end must be an error naming the file.
#[test]
#[ignore = "run by file_truncated_while_mapped_is_an_error_not_a_signal in a child process"]
fn truncated_while_mapped_child() {
    let Some(scenario) = std::env::var_os(CHILD_ENV) else { return };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures");
    let dir = tempfile::tempdir().expect("a temporary directory");
    // numpy: (arange(100000, dtype=int32) * 5) % 1000003 - 3
    let big = |row: usize| (row as i64 * 5) % 1_000_003 - 3;
    match scenario.to_str() {
        Some("npy") => {
            let npy = dir.path().join("shrinking.npy");
            std::fs::copy(fixtures.join("many_rows_i32.npy"), &npy).expect("copy the fixture");
            read_while_truncating(&npy, None, &mapped(), 200_000, |row| row as i64 - 1000);
        }
        Some("npy_copy") => {
            let npy = dir.path().join("shrinking_copy.npy");
            std::fs::copy(fixtures.join("many_rows_i32.npy"), &npy).expect("copy the fixture");
            read_while_truncating(&npy, None, &copied(), 200_000, |row| row as i64 - 1000);
        }
        Some("npz_stored_copy") => {
            let stored = dir.path().join("shrinking_stored_copy.npz");
            restore_stored(&fixtures.join("long_deflated.npz"), &stored);
            read_while_truncating(&stored, Some("big"), &copied(), 100_000, big);
        }
        Some("npz_deflated") => {
            let deflated = dir.path().join("shrinking_deflated.npz");
            std::fs::copy(fixtures.join("long_deflated.npz"), &deflated).expect("copy the fixture");
            read_while_truncating(&deflated, Some("big"), &mapped(), 100_000, big);
        }
        Some("npz_stored") => {
            let stored = dir.path().join("shrinking_stored.npz");
            restore_stored(&fixtures.join("long_deflated.npz"), &stored);
            read_while_truncating(&stored, Some("big"), &mapped(), 100_000, big);
        }
        other => panic!("unknown scenario {other:?}"),
    }
}

/// Rewrite an archive with every member stored (the zip crate is a dependency already).
fn restore_stored(from: &Path, to: &Path) {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(from).expect("open")).expect("a zip");
    let mut out = zip::ZipWriter::new(std::fs::File::create(to).expect("create"));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    for i in 0..archive.len() {
        let mut member = archive.by_index(i).expect("a member");
        let name = member.name().expect("a name").to_string();
        out.start_file(name, options).expect("start a member");
        std::io::copy(&mut member, &mut out).expect("copy a member");
    }
    out.finish().expect("finish the zip");
}

fn mapped() -> OpenOptions {
    OpenOptions::default()
}

fn copied() -> OpenOptions {
    OpenOptions { mmap: false, ..OpenOptions::default() }
}

fn read_while_truncating(
    path: &Path,
    member: Option<&str>,
    options: &OpenOptions,
    rows: usize,
    numpy: impl Fn(usize) -> i64,
) {
    let name = path.file_name().and_then(|n| n.to_str()).expect("a file name").to_string();
    let len = std::fs::metadata(path).expect("file length").len();
    let table = match member {
        Some(m) => NpyTable::open_npz_member(path, m, options),
        None => NpyTable::open_with(path, options),
    }
    .expect("open before truncation");
    let mut reader = table.reader().with_batch_size(10_000).build().expect("reader");
    let first = reader.next().expect("a first batch").expect("the first batch reads");
    check_rows(&name, first.column(0).as_primitive::<Int32Type>().values(), 0, &numpy);
    drop(first); // its buffers may point into the map, which is about to shrink

    let file = std::fs::OpenOptions::new().write(true).open(path).expect("open for truncation");
    file.set_len(len / 10).expect("truncate");

    let mut row = 10_000;
    for batch in reader {
        match batch {
            Ok(b) => {
                // Only acceptable if the reader had the data before the file shrank.
                check_rows(&name, b.column(0).as_primitive::<Int32Type>().values(), row, &numpy);
                row += b.num_rows();
            }
            Err(e) => {
                assert!(e.to_string().contains(&name), "the error does not name {name}: {e}");
                println!("{name}: truncation reported as: {e}");
                return;
            }
        }
    }
    assert_eq!(row, rows, "{name}: rows went missing without an error");
    println!("{name}: read completely although truncated");
}

fn check_rows(name: &str, values: &[i32], first_row: usize, numpy: &impl Fn(usize) -> i64) {
    for (i, &v) in values.iter().enumerate() {
        assert_eq!(i64::from(v), numpy(first_row + i), "{name}: row {}", first_row + i);
    }
}
