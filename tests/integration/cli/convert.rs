//! `npyq convert`: each output format read back with Arrow's own readers and compared with the
//! input as the library reads it; `--member`; shard directories in natural order.

use std::fs::{self, File};
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, RecordBatchReader};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Int64Type, Schema, SchemaRef};
use datafusion::arrow::ipc::reader::{FileReader, StreamReader};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, Encoding};
use datafusion_npy::format::table::Storage;
use datafusion_npy::NpyTable;

use super::{assert_ok, assert_same_data, example, fixture, npyq, read_table};

fn convert(input: &Path, output: &Path, extra: &[&str]) {
    let mut args = vec![std::ffi::OsString::from("convert"), input.into(), output.into()];
    args.extend(extra.iter().map(Into::into));
    let run = npyq(args);
    assert_ok(&run);
    assert!(run.stderr.is_empty(), "no progress bar when stderr is not a terminal: {}", super::stderr(&run));
    assert!(output.exists(), "{} was not written", output.display());
}

fn concat(schema: SchemaRef, batches: Vec<RecordBatch>) -> RecordBatch {
    concat_batches(&schema, &batches).unwrap()
}

fn read_parquet(path: &Path) -> RecordBatch {
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap().build().unwrap();
    let schema = reader.schema();
    concat(schema, reader.collect::<Result<_, _>>().unwrap())
}

fn read_ipc_file(path: &Path) -> RecordBatch {
    let reader = FileReader::try_new(File::open(path).unwrap(), None).unwrap();
    let schema = reader.schema();
    concat(schema, reader.collect::<Result<_, _>>().unwrap())
}

fn read_ipc_stream(path: &Path) -> RecordBatch {
    let reader = StreamReader::try_new(BufReader::new(File::open(path).unwrap()), None).unwrap();
    let schema = reader.schema();
    concat(schema, reader.collect::<Result<_, _>>().unwrap())
}

/// The table without field metadata, for readers that do not keep it (CSV, JSON).
fn plain_schema(batch: &RecordBatch) -> SchemaRef {
    let fields: Vec<Field> =
        batch.schema().fields().iter().map(|f| Field::new(f.name(), f.data_type().clone(), true)).collect();
    Arc::new(Schema::new(fields))
}

// --- Parquet -------------------------------------------------------------------------------

#[test]
fn npz_to_parquet_round_trips_with_numeric_settings() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ds.parquet");
    convert(&example("ds.npz"), &out, &[]);
    let expected = read_table(&example("ds.npz"), None);
    assert_same_data(&expected, &read_parquet(&out));

    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&out).unwrap()).unwrap();
    let metadata = builder.metadata();
    assert_eq!(metadata.num_row_groups(), 1, "1000 rows fit one row group");
    for column in metadata.row_group(0).columns() {
        assert_eq!(column.compression(), Compression::SNAPPY, "{}", column.column_path());
        let dictionary =
            column.encodings().any(|e| matches!(e, Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY));
        let path = column.column_path().string();
        assert!(column.statistics().is_some(), "{path} has row-group statistics");
        if path.starts_with("features") {
            assert!(!dictionary, "float column {path} must not be dictionary-encoded");
            assert!(column.column_index_offset().is_none(), "list items get no page index: {path}");
        } else {
            assert!(dictionary, "integer column {path} keeps dictionary encoding");
            assert!(column.column_index_offset().is_some(), "scalar columns keep a page index: {path}");
        }
    }
}

#[test]
fn parquet_compression_option() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.parquet");
    convert(&example("events.npy"), &out, &["--compression", "zstd"]);
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&out).unwrap()).unwrap();
    for column in builder.metadata().row_group(0).columns() {
        assert!(matches!(column.compression(), Compression::ZSTD(_)), "{:?}", column.compression());
    }
    assert_same_data(&read_table(&example("events.npy"), None), &read_parquet(&out));
}

#[test]
fn nested_types_to_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mixed.parquet");
    convert(&fixture("mixed.npy"), &out, &[]);
    let expected = read_table(&fixture("mixed.npy"), None);
    assert_same_data(&expected, &read_parquet(&out));
    // And from Parquet back to a structured .npy.
    let back = dir.path().join("mixed.npy");
    convert(&out, &back, &[]);
    assert_same_data(&expected, &read_table(&back, None));
}

// --- Arrow IPC -----------------------------------------------------------------------------

#[test]
fn npy_to_arrow_file_keeps_schema_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.arrow");
    convert(&example("events.npy"), &out, &[]);
    let expected = read_table(&example("events.npy"), None);
    let actual = read_ipc_file(&out);
    assert_eq!(actual.schema(), expected.schema(), "IPC keeps types, nullability and numpy.descr metadata");
    assert_same_data(&expected, &actual);
    let ts = actual.column_by_name("ts").unwrap();
    assert_eq!(ts.null_count(), 12, "NaT every 17th of 200 rows stays null");
}

#[test]
fn npy_to_arrow_stream() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mixed.arrows");
    convert(&fixture("mixed.npy"), &out, &["--compression", "lz4"]);
    assert_same_data(&read_table(&fixture("mixed.npy"), None), &read_ipc_stream(&out));
}

#[test]
fn parquet_and_arrow_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("events.parquet");
    let arrow = dir.path().join("events.arrow");
    let arrows = dir.path().join("events.arrows");
    convert(&example("events.npy"), &parquet, &[]);
    convert(&parquet, &arrow, &[]);
    convert(&arrow, &arrows, &[]);
    assert_same_data(&read_table(&example("events.npy"), None), &read_ipc_stream(&arrows));
}

// --- CSV -----------------------------------------------------------------------------------

#[test]
fn record_npy_to_csv() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.csv");
    convert(&example("events.npy"), &out, &[]);
    let expected = read_table(&example("events.npy"), None);
    let text = fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().next(), Some("id,ts,kind,value"));
    let reader = datafusion::arrow::csv::ReaderBuilder::new(plain_schema(&expected))
        .with_header(true)
        .build(File::open(&out).unwrap())
        .unwrap();
    let actual = concat(plain_schema(&expected), reader.collect::<Result<_, _>>().unwrap());
    assert_same_data(&expected, &actual);
}

#[test]
fn csv_flattens_structs_and_writes_lists_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mixed.csv");
    convert(&fixture("mixed.npy"), &out, &[]);
    let text = fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "z.real,z.imag,pos.x,pos.y,v,b,day,tag");
    // Values from make_fixtures.py: z=1+2j, pos=(0.5, -1), v=arange(6)/4, b=1, day 2026-01-01, tag b"ab"
    // (bytes as PostgreSQL's `\x` hex text, which no reader takes for a number).
    assert_eq!(lines[1], r#"1.0,2.0,0.5,-1.0,"[[0.0,0.25,0.5],[0.75,1.0,1.25]]",1,2026-01-01,\x6162"#);
    // Row 1: NaT is an empty cell, b"" is `\x` (empty bytes, not null).
    assert!(lines[2].ends_with(",-2,,\\x"), "{}", lines[2]);
    assert_eq!(lines.len(), 5);
}

#[test]
fn matrix_npz_to_csv() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ds.csv");
    convert(&example("ds.npz"), &out, &[]);
    let expected = read_table(&example("ds.npz"), None);
    let features = expected.column(0).as_fixed_size_list();
    let labels = expected.column(1).as_primitive::<Int64Type>();
    let mut reader = datafusion::arrow::csv::ReaderBuilder::new(Arc::new(Schema::new(vec![
        Field::new("features", DataType::Utf8, false),
        Field::new("labels", DataType::Int64, false),
    ])))
    .with_header(true)
    .build(File::open(&out).unwrap())
    .unwrap();
    let batch = reader.next().unwrap().unwrap();
    let mut row = 0;
    for batch in std::iter::once(batch).chain(reader.map(Result::unwrap)) {
        let texts = batch.column(0).as_string::<i32>();
        for i in 0..batch.num_rows() {
            let parsed = json_floats(texts.value(i));
            let want = features.value(row);
            let want = want.as_primitive::<Float32Type>();
            assert_eq!(parsed.len(), want.len());
            for (p, w) in parsed.iter().zip(want.values()) {
                assert_eq!(p, w, "row {row}");
            }
            assert_eq!(batch.column(1).as_primitive::<Int64Type>().value(i), labels.value(row));
            row += 1;
        }
    }
    assert_eq!(row, 1000);
}

/// `[1.5,-2.0,...]` parsed exactly (serde_json's default float parsing may be off by one ulp).
fn json_floats(text: &str) -> Vec<f32> {
    let inner = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).expect("a JSON array");
    inner.split(',').map(|v| v.parse::<f32>().unwrap_or_else(|e| panic!("{v}: {e}"))).collect()
}

// --- JSON ----------------------------------------------------------------------------------

#[test]
fn npy_to_ndjson() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("events.json");
    convert(&example("events.npy"), &out, &[]);
    let expected = read_table(&example("events.npy"), None);
    let text = fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), expected.num_rows());
    // Row 0 is NaT: the key is there, with null.
    assert!(text.lines().next().unwrap().contains(r#""ts":null"#), "{}", text.lines().next().unwrap());
    let reader = datafusion::arrow::json::ReaderBuilder::new(plain_schema(&expected))
        .build(BufReader::new(File::open(&out).unwrap()))
        .unwrap();
    let actual = concat(plain_schema(&expected), reader.collect::<Result<_, _>>().unwrap());
    assert_same_data(&expected, &actual);
}

// --- .npy / .npz ---------------------------------------------------------------------------

#[test]
fn npz_to_npz_and_npy() {
    let dir = tempfile::tempdir().unwrap();
    let stored = dir.path().join("copy.npz");
    let deflated = dir.path().join("small.npz");
    let labels = dir.path().join("labels.npy");
    convert(&example("ds.npz"), &stored, &[]);
    convert(&example("ds.npz"), &deflated, &["--compression", "deflate"]);
    convert(&example("ds.npz"), &labels, &["--member", "labels"]);
    let expected = read_table(&example("ds.npz"), None);
    assert_same_data(&expected, &read_table(&stored, None));
    assert_same_data(&expected, &read_table(&deflated, None));
    let storages: Vec<Storage> =
        NpyTable::open(&deflated).unwrap().arrays().iter().map(|a| a.storage).collect();
    assert_eq!(storages, [Storage::ZipDeflated, Storage::ZipDeflated]);
    let labels_table = read_table(&labels, None);
    assert!(labels_table.column(0).to_data() == expected.column(1).to_data());
}

#[test]
fn parquet_back_to_npy() {
    let dir = tempfile::tempdir().unwrap();
    let parquet = dir.path().join("embeddings.parquet");
    let npy = dir.path().join("embeddings.npy");
    convert(&example("embeddings.npy"), &parquet, &[]);
    convert(&parquet, &npy, &[]);
    assert_same_data(&read_table(&example("embeddings.npy"), None), &read_table(&npy, None));
}

// --- members and directories ---------------------------------------------------------------

#[test]
fn one_member() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("labels.parquet");
    convert(&example("ds.npz"), &out, &["--member", "labels"]);
    let actual = read_parquet(&out);
    assert_eq!(actual.num_columns(), 1);
    assert_same_data(&read_table(&example("ds.npz"), Some("labels")), &actual);
}

#[test]
fn shard_directory_in_natural_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("readings.arrow");
    convert(&example("readings"), &out, &[]);
    let parts: Vec<RecordBatch> =
        (1..=12).map(|i| read_table(&example(&format!("readings/part-{i}.npy")), None)).collect();
    let expected = concat(parts[0].schema(), parts);
    assert_same_data(&expected, &read_ipc_file(&out));
}

#[test]
fn plain_shards_take_the_directory_name() {
    let dir = tempfile::tempdir().unwrap();
    let shards = dir.path().join("amounts");
    fs::create_dir(&shards).unwrap();
    fs::copy(example("sales/year=2023/amount.npy"), shards.join("part-10.npy")).unwrap();
    fs::copy(example("sales/year=2024/amount.npy"), shards.join("part-2.npy")).unwrap();
    let out = dir.path().join("amounts.parquet");
    convert(&shards, &out, &[]);
    let actual = read_parquet(&out);
    assert_eq!(actual.schema().field(0).name(), "amounts");
    let first = read_table(&example("sales/year=2024/amount.npy"), None);
    let second = read_table(&example("sales/year=2023/amount.npy"), None);
    assert_eq!(actual.num_rows(), first.num_rows() + second.num_rows());
    assert!(actual.column(0).slice(0, 70).to_data() == first.column(0).to_data(), "part-2 comes first");
    assert!(actual.column(0).slice(70, 50).to_data() == second.column(0).to_data());
}
