//! Oracle tests: the reader must return, value by value, what numpy reads back.
//!
//! Two manifests drive them, both written by numpy and committed with their generating scripts:
//! `tests/data/corpus/` (the shared corpus) and `tests/data/fixtures/` (ours, from
//! `tests/data/make_fixtures.py`: every SPEC §3 row the corpus lacks, files as other writers
//! write them, archives, and hostile files). One checker walks both; each test below takes one
//! group of cases and fails listing every case that differs, with the value, expected and got.
//! The checker's reading of SPEC §3 (`corpus/dtype.rs`) is independent of the crate's own.

mod check;
mod dtype;
mod expected;
mod reading;
mod truncation;
mod values;

use check::{run_group, run_group_with};
use expected::{case_name, Manifest};
use serde_json::Value;

fn is_error(case: &Value) -> bool {
    case.get("error").is_some()
}

fn is_archive(case: &Value) -> bool {
    case.get("archive").is_some()
}

fn is_plain_file(case: &Value) -> bool {
    !is_error(case) && !is_archive(case)
}

fn named(prefixes: &'static [&'static str]) -> impl Fn(&Value) -> bool {
    move |case| is_plain_file(case) && prefixes.iter().any(|p| case_name(case).starts_with(p))
}

const TIME: &[&str] = &["datetime64_", "timedelta64_"];
const BIG_ENDIAN: &[&str] = &["be_"];
const OTHER_WRITERS: &[&str] = &["hdr_", "version_"];
const ZOO: &[&str] = &["zoo_"];
const LITERALS: &[&str] = &["lit_"];

fn is_layout(case: &Value) -> bool {
    is_plain_file(case) && ![TIME, BIG_ENDIAN, OTHER_WRITERS, ZOO, LITERALS].iter().any(|g| named(g)(case))
}

#[test]
fn corpus_npy_files_equal_numpy() {
    run_group(&Manifest::load("corpus/files"), is_plain_file);
}

#[test]
fn corpus_npz_archives_equal_numpy() {
    run_group(&Manifest::load("corpus/files"), is_archive);
}

#[test]
fn corpus_bad_files_are_refused_naming_the_file() {
    run_group(&Manifest::load("corpus/files"), is_error);
}

#[test]
fn fixtures_datetime_and_timedelta_units_equal_numpy() {
    run_group(&Manifest::load("fixtures"), named(TIME));
}

#[test]
fn fixtures_big_endian_equal_numpy() {
    run_group(&Manifest::load("fixtures"), named(BIG_ENDIAN));
}

#[test]
fn fixtures_layouts_equal_numpy() {
    // Fortran order, 0-d, empty, strings, sub-arrays, nested records, padding, titles, many rows.
    run_group(&Manifest::load("fixtures"), is_layout);
}

#[test]
fn fixtures_other_writers_headers_equal_numpy() {
    run_group(&Manifest::load("fixtures"), named(OTHER_WRITERS));
}

#[test]
fn fixtures_python_literal_headers_equal_numpy() {
    // Literal forms no numpy writes but numpy reads (comments, 0x3, u'', implicit concatenation).
    run_group(&Manifest::load("fixtures"), named(LITERALS));
}

#[test]
fn fixtures_random_dtype_zoo_equals_numpy() {
    // Random records (nested, sub-arrays, aligned, gaps full of garbage) and random plain arrays
    // in C and Fortran order, filled with random bytes: combinations no hand-written case tries.
    run_group(&Manifest::load("fixtures"), named(ZOO));
}

#[test]
fn fixtures_npz_archives_equal_numpy() {
    run_group(&Manifest::load("fixtures"), is_archive);
}

#[test]
fn fixtures_hostile_files_are_refused_naming_the_file() {
    run_group(&Manifest::load("fixtures"), is_error);
}

/// `OpenOptions::mmap = false` (a private copy instead of a map, for files that may change):
/// every case again, with the same values and the same refusals.
#[test]
fn every_case_reads_the_same_from_a_private_copy() {
    let copy = datafusion_npy::OpenOptions { mmap: false, ..Default::default() };
    for sub in ["corpus/files", "fixtures"] {
        run_group_with(&Manifest::load(sub), |_| true, &copy);
    }
}

/// Every case of both manifests is in some group above, so none is silently skipped.
#[test]
fn every_case_belongs_to_a_group() {
    for sub in ["corpus/files", "fixtures"] {
        let manifest = Manifest::load(sub);
        for case in &manifest.cases {
            let groups = [is_error(case), is_archive(case), is_plain_file(case)];
            assert_eq!(groups.iter().filter(|g| **g).count(), 1, "{sub}: case {}", case_name(case));
        }
        assert!(manifest.cases.len() > 40, "{sub}: only {} cases", manifest.cases.len());
    }
}

/// Asking for a column that is not there is an error, not a panic; the reader can move to
/// another thread (DataFusion runs scans on its own).
#[test]
fn projection_out_of_range_is_an_error() {
    fn send_static<T: Send + 'static>() {}
    send_static::<datafusion_npy::NpyReader>();

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/corpus/files/records.npy");
    let table = datafusion_npy::NpyTable::open(&path).expect("records.npy opens");
    let outcome = std::panic::catch_unwind(|| match table.reader().with_projection(vec![0, 9]).build() {
        Err(e) => Err(e.to_string()),
        Ok(mut reader) => reader.try_for_each(|b| b.map(|_| ()).map_err(|e| e.to_string())),
    });
    match outcome {
        Ok(Err(message)) => {
            assert!(message.contains('9'), "the error does not name the column index: {message}")
        }
        Ok(Ok(())) => panic!("projection [0, 9] over 4 columns was accepted"),
        Err(_) => panic!("projection [0, 9] over 4 columns panicked"),
    }
}

/// SPEC §2: the header length cap is an option; a longer header is refused naming the file and
/// the length, before anything is allocated for it.
#[test]
fn header_length_cap_is_an_option() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fixtures/version_2_0_wide_header.npy");
    let bytes = std::fs::read(&path).expect("the fixture");
    let header_len = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    let tight =
        datafusion_npy::OpenOptions { max_header_len: u64::from(header_len) - 1, ..Default::default() };
    match datafusion_npy::NpyTable::open_with(&path, &tight) {
        Ok(_) => panic!("a {header_len}-byte header was accepted under a cap of {}", header_len - 1),
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains("version_2_0_wide_header.npy"), "{message}");
            assert!(
                message.contains(&header_len.to_string()),
                "the error does not give the length: {message}"
            );
        }
    }
    let exact = datafusion_npy::OpenOptions { max_header_len: u64::from(header_len), ..Default::default() };
    datafusion_npy::NpyTable::open_with(&path, &exact).expect("a header exactly at the cap is accepted");
}

/// Two readers of one table keep their own state: pulled in turns, each returns every value.
#[test]
fn readers_of_one_table_are_independent() {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::Int32Type;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures/long_deflated.npz");
    let table = datafusion_npy::NpyTable::open_npz_member(&path, "big", &Default::default()).expect("opens");
    let mut first = table.reader().with_batch_size(3000).build().expect("reader");
    let mut second =
        table.reader().with_batch_size(7001).with_row_range(500..100_000).build().expect("reader");
    let numpy = |row: usize| (row as i64 * 5) % 1_000_003 - 3; // make_fixtures.py
    let (mut row1, mut row2) = (0, 500);
    loop {
        let a = first.next().map(|b| b.expect("first reader's batch"));
        let b = second.next().map(|b| b.expect("second reader's batch"));
        if a.is_none() && b.is_none() {
            break;
        }
        for (batch, row) in [(a, &mut row1), (b, &mut row2)] {
            if let Some(batch) = batch {
                for v in batch.column(0).as_primitive::<Int32Type>().values() {
                    assert_eq!(i64::from(*v), numpy(*row), "row {row}");
                    *row += 1;
                }
            }
        }
    }
    assert_eq!((row1, row2), (100_000, 100_000));
}
