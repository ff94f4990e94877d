//! numpy's files (`tests/data/roundtrip/rt_*`) read with the library reader, written back with
//! `ArrayFileWriter`, and compared byte for byte (header included) with the originals, or,
//! where numpy would write the same array differently (byte order, Fortran order, datetime
//! units: `VALUE_ONLY` in `make_roundtrip.py`), with numpy's file in `expected/`.

use std::path::{Path, PathBuf};

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion_npy::{ArrayFileWriter, NpyTable, NpzCompression, WriteOptions};

use super::{assert_same_bytes, files_in, fixture, keep_for_numpy, npz_members, read};

/// What numpy writes for the array the writer should give back for fixture `name`: the fixture
/// itself, or `expected/<name>` where the two differ.
pub fn expected_bytes(name: &str) -> Vec<u8> {
    let different = fixture("expected").join(name);
    read(if different.exists() { different } else { fixture(name) })
}

/// Read `input` with the library (two rows per batch, to stream through many batches) and
/// write it to `output`.
fn rewrite(input: &Path, output: &Path, options: WriteOptions) {
    let table = NpyTable::open(input).unwrap_or_else(|e| panic!("reading {}: {e}", input.display()));
    let mut writer = ArrayFileWriter::try_new(output, table.schema(), options)
        .unwrap_or_else(|e| panic!("writer for {}: {e}", input.display()));
    for batch in table.reader().with_batch_size(2).build().unwrap() {
        let batch = batch.unwrap_or_else(|e| panic!("reading {}: {e}", input.display()));
        writer.write(&batch).unwrap_or_else(|e| panic!("writing {}: {e}", input.display()));
    }
    writer.finish().unwrap_or_else(|e| panic!("finishing {}: {e}", input.display()));
}

/// All rows of a file, read with the library, without field metadata (which holds the descr).
fn all_rows(path: &Path) -> RecordBatch {
    let table = NpyTable::open(path).unwrap();
    let batches: Vec<RecordBatch> = table.reader().build().unwrap().map(Result::unwrap).collect();
    let batch = concat_batches(&table.schema(), &batches).unwrap();
    let plain = std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(
        batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_metadata(Default::default()))
            .collect::<Vec<_>>(),
    ));
    let rows = datafusion::arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(plain, batch.columns().to_vec(), &rows).unwrap()
}

fn npy_fixtures() -> Vec<PathBuf> {
    let dir = fixture("");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("rt_") && name.ends_with(".npy")
        })
        .collect();
    files.sort();
    assert!(files.len() >= 63, "fixtures missing: run make_roundtrip.py ({} found)", files.len());
    files
}

#[test]
fn every_numpy_dtype_with_an_inverse_comes_back_as_numpy_wrote_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for original in npy_fixtures() {
        let name = original.file_name().unwrap().to_string_lossy().into_owned();
        let ours = dir.path().join(&name);
        let outcome = std::panic::catch_unwind(|| {
            rewrite(&original, &ours, WriteOptions::default());
            keep_for_numpy(&ours, &name);
            assert_same_bytes(&read(&ours), &expected_bytes(&name), &name);
        });
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{name}: {message}"));
        }
    }
    assert!(failures.is_empty(), "{} fixture(s) did not round-trip:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_cases_numpy_writes_differently_keep_their_values() {
    // The expected files hold the same values as numpy's originals (the library reads both to
    // the same rows): only the byte order, the storage order or the unit changed.
    let expected = fixture("expected");
    for entry in std::fs::read_dir(&expected).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("rt_") {
            assert_eq!(all_rows(&path), all_rows(&fixture(&name)), "{name}");
        }
    }
}

#[test]
fn value_only_cases_change_only_what_the_reader_changed() {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("h.npy");
    rewrite(&fixture("rt_M8_h.npy"), &ours, WriteOptions::default());
    assert!(String::from_utf8_lossy(&read(&ours)).contains("'descr': '<M8[s]'"));
    let ours = dir.path().join("be.npy");
    rewrite(&fixture("rt_bigendian_i4.npy"), &ours, WriteOptions::default());
    let bytes = read(&ours);
    assert!(String::from_utf8_lossy(&bytes).contains("'descr': '<i4'"));
    assert_eq!(&bytes[bytes.len() - 4..], &70000i32.to_le_bytes());
}

fn npz_round_trip(numpy_file: &str, compression: NpzCompression, method: zip::CompressionMethod) {
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("out.npz");
    rewrite(&fixture(numpy_file), &ours, WriteOptions::default().with_compression(compression));
    keep_for_numpy(&ours, numpy_file);
    let (mine, theirs) = (npz_members(&ours), npz_members(&fixture(numpy_file)));
    assert_eq!(mine.len(), theirs.len());
    for ((name, m, bytes), (their_name, _, their_bytes)) in mine.iter().zip(&theirs) {
        assert_eq!(name, their_name);
        assert_eq!(*m, method, "{name}");
        assert_same_bytes(bytes, their_bytes, name);
    }
    // And the library reads our archive back to the same rows.
    assert_eq!(all_rows(&ours), all_rows(&fixture(numpy_file)));
    assert_eq!(files_in(dir.path()), ["out.npz"]);
}

#[test]
fn npz_savez_round_trips() {
    npz_round_trip("rt_stored.npz", NpzCompression::Stored, zip::CompressionMethod::Stored);
}

#[test]
fn npz_savez_compressed_round_trips() {
    npz_round_trip("rt_deflated.npz", NpzCompression::Deflated, zip::CompressionMethod::Deflated);
}

#[test]
fn npz_members_keep_their_shapes() {
    // 0-d members, a 2-d record, a record of one field, a string wider than its values.
    npz_round_trip("rt_zero_d_members.npz", NpzCompression::Stored, zip::CompressionMethod::Stored);
    npz_round_trip("rt_shaped_members.npz", NpzCompression::Stored, zip::CompressionMethod::Stored);
}

#[test]
fn an_npz_without_members_is_a_table_of_nothing_and_writes_back_empty() {
    let table = NpyTable::open(fixture("rt_empty.npz")).unwrap();
    assert_eq!((table.schema().fields().len(), table.num_rows()), (0, 0));
    npz_round_trip("rt_empty.npz", NpzCompression::Stored, zip::CompressionMethod::Stored);
    // numpy's np.savez() archive is the bare end-of-directory record; so is ours.
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("e.npz");
    rewrite(&fixture("rt_empty.npz"), &ours, WriteOptions::default());
    assert_same_bytes(&read(&ours), &read(fixture("rt_empty.npz")), "rt_empty.npz");
}

#[tokio::test]
async fn copy_to_npy_of_a_whole_table_gives_numpy_its_array_back() {
    use datafusion_npy::SessionContextNpyExt;
    // A structured array of one field, of two dimensions, with padding; a 0-d array.
    let names = ["rt_one_field.npy", "rt_record_3d_subarray.npy", "rt_padded_record.npy", "rt_zero_d_record.npy"];
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    for name in names {
        std::fs::copy(fixture(name), data.join(name)).unwrap();
    }
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.register_npy_dir(data.to_str().unwrap()).unwrap();
    for name in names {
        let table = name.trim_end_matches(".npy");
        let out = dir.path().join(name);
        let copy = format!("COPY (SELECT * EXCLUDE (_row) FROM {table}) TO '{}' STORED AS NPY", out.display());
        ctx.sql(&copy).await.unwrap().collect().await.unwrap();
        assert_same_bytes(&read(&out), &read(fixture(name)), name);
    }
    // A filter keeps the record (its shape leaves the row count free); dropping a field does not.
    let out = dir.path().join("filtered.npy");
    let copy = format!("COPY (SELECT x FROM rt_one_field WHERE x > 0) TO '{}' STORED AS NPY", out.display());
    ctx.sql(&copy).await.unwrap().collect().await.unwrap();
    assert!(String::from_utf8_lossy(&read(&out)).contains("'descr': [('x', '<i4')], 'fortran_order': False, 'shape': (2,)"));
    let copy = format!("COPY (SELECT a FROM rt_padded_record) TO '{}' STORED AS NPY", out.display());
    ctx.sql(&copy).await.unwrap().collect().await.unwrap();
    assert!(String::from_utf8_lossy(&read(&out)).contains("'descr': '<i2'"));
}
