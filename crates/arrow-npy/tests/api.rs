//! The crate's public, arrow-rs-style API (`ReaderBuilder` → `Reader`, `Writer`,
//! `NpyTable::from_bytes`, errors as `ArrowError`), against files numpy wrote: the shared corpus
//! in the repository's `tests/data/` (written by `tests/data/corpus/make_corpus.py` and
//! `tests/data/make_fixtures.py`; `expected.json` holds what `np.load` returned). The format
//! layer's value-by-value checks are the unit tests and the root package's corpus tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, Int64Array, RecordBatch, RecordBatchReader, RecordBatchWriter, StringArray,
};
use arrow_npy::{ErrorKind, NpyError, NpyTable, OpenOptions, Reader, ReaderBuilder, WriteOptions, Writer};
use arrow_schema::{ArrowError, DataType, Field};
use serde_json::Value;

fn data(dir: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(dir).join(name)
}

fn corpus(name: &str) -> PathBuf {
    data("corpus/files", name)
}

/// The corpus case numpy recorded for `file`.
fn expected(file: &str) -> Value {
    let text = std::fs::read_to_string(corpus("expected.json")).expect("expected.json");
    let manifest: Value = serde_json::from_str(&text).expect("valid JSON");
    let cases = manifest["cases"].as_array().expect("cases");
    cases.iter().find(|case| case["file"] == file).unwrap_or_else(|| panic!("no case for {file}")).clone()
}

fn int64_values(case: &Value) -> Vec<i64> {
    case["values"].as_array().expect("values").iter().map(|v| v.as_i64().expect("an integer")).collect()
}

fn read_all(reader: Reader) -> Vec<RecordBatch> {
    reader.collect::<Result<Vec<_>, ArrowError>>().expect("batches read")
}

fn column_values(batches: &[RecordBatch], column: &str) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| b.column_by_name(column).expect("column").as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

#[test]
fn builder_reads_a_numpy_file_in_batches() {
    let path = corpus("int64.npy");
    let reader = ReaderBuilder::new(&path).with_batch_size(2).build().unwrap();
    // The schema is known before any batch is read; a plain array's column is the file's stem.
    assert_eq!(reader.schema().field(0).name(), "int64");
    assert_eq!(reader.schema().field(0).data_type(), &DataType::Int64);
    let batches = read_all(reader);
    assert_eq!(batches.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(), vec![2, 2, 1]);
    assert_eq!(column_values(&batches, "int64"), int64_values(&expected("int64.npy")));
}

#[test]
fn builder_reads_an_archive_whole_or_one_member() {
    for file in ["dataset.npz", "dataset_compressed.npz"] {
        let case = expected(file);
        let labels = int64_values(&case["members"]["labels"]);

        let whole = ReaderBuilder::new(corpus(file)).build().unwrap();
        let names: Vec<String> = whole.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["features", "labels"], "{file}");
        assert_eq!(column_values(&read_all(whole), "labels"), labels, "{file}");

        let member = ReaderBuilder::new(corpus(file)).with_member("labels").build().unwrap();
        assert_eq!(member.schema().fields().len(), 1, "{file}");
        assert_eq!(column_values(&read_all(member), "labels"), labels, "{file}");
    }
}

#[test]
fn builder_over_a_file_matches_a_reader_of_the_opened_table() {
    for file in ["records.npy", "matrix_f32_5x3.npy", "bigendian_f8.npy", "dataset_compressed.npz"] {
        let table = NpyTable::open(corpus(file)).unwrap();
        let from_table = read_all(table.reader().with_projection(vec![0]).with_row_range(1..3).build().unwrap());
        let from_path = read_all(ReaderBuilder::new(corpus(file)).with_projection(vec![0]).with_row_range(1..3).build().unwrap());
        assert_eq!(from_table, from_path, "{file}");
    }
}

#[test]
fn from_bytes_reads_as_the_file_does() {
    for file in ["int64.npy", "records.npy", "fortran_f64_4x3.npy", "dataset.npz", "dataset_compressed.npz"] {
        let bytes = std::fs::read(corpus(file)).unwrap();
        let in_memory = NpyTable::from_bytes(file, bytes, &OpenOptions::default()).unwrap();
        let on_disk = NpyTable::open(corpus(file)).unwrap();
        assert_eq!(in_memory.schema(), on_disk.schema(), "{file}");
        assert_eq!(in_memory.num_rows(), on_disk.num_rows(), "{file}");
        assert_eq!(read_all(in_memory.reader().build().unwrap()), read_all(on_disk.reader().build().unwrap()), "{file}");
    }
}

#[test]
fn from_bytes_of_a_truncated_file_is_an_error_naming_it() {
    for file in ["int64.npy", "dataset.npz"] {
        let bytes = std::fs::read(corpus(file)).unwrap();
        for len in 0..bytes.len() {
            let name = format!("cut/{file}");
            // Refused when opened (sizes are checked against the bytes there), or when read.
            let outcome = NpyTable::from_bytes(&name, bytes[..len].to_vec(), &OpenOptions::default())
                .and_then(|table| table.reader().build())
                .map_err(|e| e.to_string())
                .and_then(|reader| reader.collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string()));
            match outcome {
                Ok(_) => panic!("{file} cut to {len} bytes was read"),
                Err(message) => assert!(message.contains(&name), "{file} cut to {len}: {message}"),
            }
        }
    }
}

#[test]
fn open_options_reach_the_file() {
    let path = corpus("int64.npy");
    let tight = OpenOptions::default().with_max_header_len(10);
    let Err(e) = ReaderBuilder::new(&path).with_open_options(tight).build() else { panic!("a 10-byte header cap accepted") };
    assert!(matches!(e.kind, ErrorKind::HeaderTooLong { limit: 10, .. }), "{e}");
    assert_eq!(e.location.file.as_deref(), Some(path.as_path()));

    let copied = ReaderBuilder::new(&path).with_open_options(OpenOptions::default().with_mmap(false)).build().unwrap();
    assert_eq!(column_values(&read_all(copied), "int64"), int64_values(&expected("int64.npy")));
}

#[test]
fn errors_while_reading_are_arrow_errors_that_name_the_file_and_column() {
    // numpy wrote this file with a code point above U+10FFFF: found when the column is decoded.
    let path = data("fixtures", "bad_unicode_invalid.npy");
    let mut reader = ReaderBuilder::new(&path).build().expect("the header is valid");
    let Some(Err(error)) = reader.next() else { panic!("an invalid code point was read") };
    let ArrowError::ExternalError(inner) = &error else { panic!("not an external error: {error:?}") };
    let npy = inner.downcast_ref::<NpyError>().expect("the crate's error inside");
    assert!(matches!(npy.kind, ErrorKind::InvalidCodePoint { .. }), "{npy}");
    assert_eq!(npy.location.file.as_deref(), Some(path.as_path()));
    assert_eq!(npy.location.column.as_deref(), Some("bad_unicode_invalid"));
    assert!(error.to_string().contains("bad_unicode_invalid.npy"), "{error}");
    assert!(reader.next().is_none(), "the reader went on after an error");
}

#[test]
fn open_settings_are_refused_on_an_opened_table() {
    // Only a builder that opens its own file can honour them; a 'static table can reach them.
    let table: &'static NpyTable = Box::leak(Box::new(NpyTable::open(corpus("dataset.npz")).unwrap()));
    let Err(e) = table.reader().with_member("labels").build() else { panic!("with_member on an opened table accepted") };
    assert!(matches!(e.kind, ErrorKind::InvalidArgument(_)), "{e}");
}

fn sample_batches() -> Vec<RecordBatch> {
    let batch = |ids: Vec<i64>, names: Vec<&str>, vectors: Vec<Option<Vec<Option<f32>>>>| {
        let vectors = FixedSizeListArray::from_iter_primitive::<arrow_array::types::Float32Type, _, _>(vectors, 2);
        RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
            ("name", Arc::new(StringArray::from(names)) as ArrayRef),
            ("vector", Arc::new(vectors) as ArrayRef),
        ])
        .unwrap()
    };
    vec![
        batch(vec![1, 2], vec!["a", "bb"], vec![Some(vec![Some(0.5), Some(1.0)]), Some(vec![Some(-1.0), Some(2.5)])]),
        batch(vec![3], vec!["cccc"], vec![Some(vec![Some(3.0), Some(4.0)])]),
    ]
}

/// Any arrow-rs writer: the crate's writer must fit code written for them.
fn write_with(mut writer: impl RecordBatchWriter, batches: &[RecordBatch]) -> Result<(), ArrowError> {
    for batch in batches {
        writer.write(batch)?;
    }
    writer.close()
}

#[test]
fn writer_is_a_record_batch_writer_whose_output_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let batches = sample_batches();
    for name in ["table.npy", "table.npz"] {
        let path = dir.path().join(name);
        let writer = Writer::try_new(&path, batches[0].schema(), WriteOptions::default()).unwrap();
        write_with(writer, &batches).unwrap();

        let read = read_all(ReaderBuilder::new(&path).build().unwrap());
        let read = arrow_select::concat::concat_batches(&read[0].schema(), &read).unwrap();
        let written = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
        assert_eq!(read.num_rows(), 3, "{name}");
        for field in written.schema().fields() {
            let (mut written, mut read) = (written.column_by_name(field.name()).unwrap().clone(), read.column_by_name(field.name()).unwrap().clone());
            if let (Some(w), Some(r)) = (written.as_fixed_size_list_opt(), read.as_fixed_size_list_opt()) {
                // The item fields differ (numpy.descr metadata, nullability): compare the items.
                assert_eq!(w.value_length(), r.value_length(), "{name}");
                (written, read) = (w.values().clone(), r.values().clone());
            }
            // Strings come back as numpy's fixed-width `U<n>` read as Utf8: the same values.
            assert_eq!(written.to_data(), read.to_data(), "{name}: column {}", field.name());
        }
    }
}

#[test]
fn writer_errors_are_arrow_errors_and_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.npy");
    let schema = Arc::new(arrow_schema::Schema::new(vec![Field::new("x", DataType::Float32, false)]));
    let writer = Writer::try_new(&path, schema, WriteOptions::default()).unwrap();
    let wrong = RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]).unwrap();
    let error = write_with(writer, &[wrong]).expect_err("an Int64 batch for a Float32 schema");
    assert!(matches!(error, ArrowError::ExternalError(_)), "{error:?}");
    assert!(error.to_string().contains("out.npy"), "{error}");
    assert!(!path.exists(), "a failed write left {}", path.display());
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");

    // And the values a good batch writes are numpy's float32 bits, read back exactly.
    let good = RecordBatch::try_from_iter([("x", Arc::new(Float32Array::from(vec![0.1f32, -2.5])) as ArrayRef)]).unwrap();
    let writer = Writer::try_new(&path, good.schema(), WriteOptions::default()).unwrap();
    write_with(writer, std::slice::from_ref(&good)).unwrap();
    let read = read_all(ReaderBuilder::new(&path).build().unwrap());
    assert_eq!(read[0].column(0).as_primitive::<arrow_array::types::Float32Type>().values(), &[0.1f32, -2.5]);
}
