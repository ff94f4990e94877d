//! Every file of the numpy-made corpus (`tests/data/corpus/files/`, described by its `expected.json`)
//! through `npyq schema` and `npyq convert` to each output format (and back to numpy): files numpy accepts convert
//! and read back equal, files it must refuse give the one-line error and no output.

use std::ffi::OsString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::ipc::reader::FileReader;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion_npy::datasource::parquet_types::{cast_to_schema, parquet_storable_schema};
use serde_json::Value;

use super::{assert_ok, assert_one_line_error, assert_same_data, dir_names, npyq, read_table, root};

fn corpus_dir() -> PathBuf {
    root().join("tests/data/corpus/files")
}

fn cases() -> Vec<Value> {
    let path = corpus_dir().join("expected.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let expected: Value = serde_json::from_str(&text).unwrap();
    let cases = expected["cases"].as_array().expect("cases").clone();
    assert!(cases.len() >= 40, "the corpus has its cases");
    cases
}

fn shape_text(shape: &Value) -> String {
    let dims: Vec<String> = shape.as_array().unwrap().iter().map(|d| d.to_string()).collect();
    match dims.len() {
        0 => "()".into(),
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    }
}

/// The header facts `npyq schema` reports agree with numpy's for every array of a case.
fn check_schema_report(file: &Path, case: &Value) {
    let output = npyq([OsString::from("schema"), file.into()]);
    assert_ok(&output);
    let report = String::from_utf8(output.stdout).unwrap();
    let arrays: Vec<(&str, &Value)> = match case["members"].as_object() {
        Some(members) => members.iter().map(|(name, facts)| (name.as_str(), facts)).collect(),
        None => vec![(file.file_stem().unwrap().to_str().unwrap(), case)],
    };
    let rows = arrays[0].1["rows"].as_u64().unwrap();
    let first = report.lines().next().unwrap();
    assert!(first.contains(&format!(": {rows} row")), "{}: {first}", file.display());
    for (name, facts) in arrays {
        let section = report.split(&format!("array {name}:\n")).nth(1).unwrap_or_else(|| panic!("{report}"));
        assert!(
            section.contains(&format!("  shape        {}\n", shape_text(&facts["shape"]))),
            "{name}: {report}"
        );
        let order = if facts["fortran_order"].as_bool().unwrap() { "Fortran" } else { "C" };
        assert!(section.contains(&format!("  order        {order}\n")), "{name}: {report}");
    }
}

/// `batch` as Parquet holds it: second-precision timestamps in milliseconds, as pyarrow writes
/// them (`datafusion_npy::datasource::parquet_types`).
fn as_parquet_stores(batch: &RecordBatch) -> RecordBatch {
    match parquet_storable_schema(&batch.schema()) {
        Some(schema) => cast_to_schema(batch, &schema).unwrap(),
        None => batch.clone(),
    }
}

fn convert(file: &Path, out: &Path) -> std::process::Output {
    npyq([OsString::from("convert"), file.into(), out.into()])
}

fn read_back(out: &Path) -> RecordBatch {
    let batches: Vec<RecordBatch>;
    let schema;
    if out.extension().unwrap() == "arrow" {
        let reader = FileReader::try_new(File::open(out).unwrap(), None).unwrap();
        schema = reader.schema();
        batches = reader.collect::<Result<_, _>>().unwrap();
    } else {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(File::open(out).unwrap()).unwrap().build().unwrap();
        schema = datafusion::arrow::record_batch::RecordBatchReader::schema(&reader);
        batches = reader.collect::<Result<_, _>>().unwrap();
    }
    concat_batches(&schema, &batches).unwrap()
}

#[test]
fn every_corpus_file_converts_or_is_refused() {
    let work = tempfile::tempdir().unwrap();
    for case in cases() {
        let file = corpus_dir().join(case["file"].as_str().unwrap());
        let name = case["name"].as_str().unwrap();
        if case.get("error").is_some() {
            let refused = tempfile::tempdir().unwrap();
            let out = refused.path().join(format!("{name}.parquet"));
            assert_one_line_error(&convert(&file, &out), case["file"].as_str().unwrap());
            assert_one_line_error(
                &npyq([OsString::from("schema"), file.clone().into()]),
                case["file"].as_str().unwrap(),
            );
            assert!(dir_names(refused.path()).is_empty(), "{name}: output left behind");
            continue;
        }
        check_schema_report(&file, &case);
        let expected = read_table(&file, None);
        for extension in ["arrow", "parquet"] {
            let out = work.path().join(format!("{name}.{extension}"));
            assert_ok(&convert(&file, &out));
            let written = if extension == "parquet" { as_parquet_stores(&expected) } else { expected.clone() };
            assert_same_data(&written, &read_back(&out));
        }
        // And back to numpy: the same kind of file reads back as the same table.
        let numpy = work.path().join(format!("{name}.{}", file.extension().unwrap().to_str().unwrap()));
        assert_ok(&convert(&file, &numpy));
        assert_same_data(&expected, &read_table(&numpy, None));
        let json = work.path().join(format!("{name}.json"));
        assert_ok(&convert(&file, &json));
        assert_eq!(
            fs::read_to_string(&json).unwrap().lines().count(),
            expected.num_rows(),
            "{name}.json lines"
        );
        let csv = work.path().join(format!("{name}.csv"));
        assert_ok(&convert(&file, &csv));
        assert!(!fs::read_to_string(&csv).unwrap().is_empty(), "{name}.csv has a header");
    }
}
