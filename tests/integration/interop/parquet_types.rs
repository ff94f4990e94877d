//! The Parquet type of every column of `types.npy`, in the file of each Parquet writer.

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, RecordBatchReader};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMillisecondType};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{LogicalType, TimeUnit as ParquetTimeUnit, Type as PhysicalType};
use datafusion::parquet::file::reader::{FileReader, SerializedFileReader};
use datafusion::parquet::schema::types::Type;
use datafusion::prelude::{SessionContext, ParquetReadOptions};
use datafusion_npy::datasource::SessionContextNpyExt;

use super::{types_dir, types_npy};
use crate::cli::{assert_ok, npyq};

/// The three writers' files, written once for all tests.
struct Written {
    _dir: tempfile::TempDir,
    files: Vec<(&'static str, PathBuf)>,
}

const SELECT_ALL: &str = "SELECT * EXCLUDE (_row) FROM types";

fn written() -> &'static Written {
    static WRITTEN: OnceLock<Written> = OnceLock::new();
    WRITTEN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (input, types) = (types_npy(), types_dir());
        let convert = dir.path().join("convert.parquet");
        assert_ok(&npyq([OsStr::new("convert"), input.as_os_str(), convert.as_os_str()]));
        let sql = dir.path().join("sql.parquet");
        let sql_args = ["sql", "--dir"].map(OsStr::new).into_iter().chain([types.as_os_str()]);
        let sql_args = sql_args.chain(["--format", "parquet", "--output"].map(OsStr::new)).chain([sql.as_os_str()]);
        assert_ok(&npyq(sql_args.chain([OsStr::new(SELECT_ALL)])));
        let copy = dir.path().join("copy.parquet");
        let write_df = dir.path().join("dataframe.parquet");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let ctx = SessionContext::new();
            ctx.register_npy_dir(types_dir()).unwrap();
            let statement = format!("COPY ({SELECT_ALL}) TO '{}' STORED AS PARQUET", copy.display());
            ctx.sql(&statement).await.unwrap().collect().await.unwrap();
            ctx.sql(SELECT_ALL)
                .await
                .unwrap()
                .write_parquet(write_df.to_str().unwrap(), Default::default(), None)
                .await
                .unwrap();
        });
        Written {
            files: vec![("convert", convert), ("sql --format parquet", sql), ("COPY", copy), ("write_parquet", write_df)],
            _dir: dir,
        }
    })
}

/// The top-level Parquet type of `column` in `path`.
fn column_type(path: &Path, column: &str) -> Type {
    let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap();
    let schema = reader.metadata().file_metadata().schema_descr().root_schema().clone();
    let found = schema.get_fields().iter().find(|f| f.name() == column).cloned();
    found.unwrap_or_else(|| panic!("{}: no column {column}", path.display())).as_ref().clone()
}

/// What a column must be in Parquet.
enum Expected {
    /// A primitive column: physical type and logical type.
    Leaf(PhysicalType, Option<LogicalType>),
    /// A list (a fixed-size list in Arrow) whose innermost leaf is this.
    List(Box<Expected>),
    /// A group (struct) with these children.
    Group(Vec<(&'static str, Expected)>),
}

use Expected::{Group, Leaf, List};

fn check(ty: &Type, expected: &Expected, at: &str) -> Result<(), String> {
    let info = ty.get_basic_info();
    match expected {
        Leaf(physical, logical) => {
            if !ty.is_primitive() {
                return Err(format!("{at}: a group, expected {physical}"));
            }
            if ty.get_physical_type() != *physical || info.logical_type_ref() != logical.as_ref() {
                return Err(format!(
                    "{at}: {} {:?}, expected {physical} {logical:?}",
                    ty.get_physical_type(),
                    info.logical_type_ref()
                ));
            }
            Ok(())
        }
        List(item) => {
            if info.logical_type_ref() != Some(&LogicalType::List) {
                return Err(format!("{at}: {:?}, expected a LIST", info.logical_type_ref()));
            }
            // LIST group → repeated group → the element.
            let repeated = ty.get_fields().first().ok_or(format!("{at}: an empty LIST"))?;
            let element = repeated.get_fields().first().ok_or(format!("{at}: a LIST without element"))?;
            check(element, item, &format!("{at}[]"))
        }
        Group(children) => {
            if ty.is_primitive() || info.logical_type_ref().is_some() {
                return Err(format!("{at}: expected a plain group (struct)"));
            }
            let names: Vec<&str> = ty.get_fields().iter().map(|f| f.name()).collect();
            let expected_names: Vec<&str> = children.iter().map(|(n, _)| *n).collect();
            if names != expected_names {
                return Err(format!("{at}: children {names:?}, expected {expected_names:?}"));
            }
            for (field, (name, child)) in ty.get_fields().iter().zip(children) {
                check(field, child, &format!("{at}.{name}"))?;
            }
            Ok(())
        }
    }
}

/// `column` has the `expected` Parquet type in every writer's file.
fn assert_parquet_type(column: &str, expected: Expected) {
    let failures: Vec<String> = written()
        .files
        .iter()
        .filter_map(|(writer, path)| check(&column_type(path, column), &expected, column).err().map(|e| format!("{writer}: {e}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn int(bits: i8, signed: bool) -> Option<LogicalType> {
    Some(LogicalType::integer(bits, signed))
}

fn timestamp(unit: ParquetTimeUnit) -> Expected {
    // numpy datetimes have no time zone: not adjusted to UTC, as pyarrow writes naive timestamps.
    Leaf(PhysicalType::INT64, Some(LogicalType::timestamp(false, unit)))
}

fn millis() -> Expected {
    timestamp(ParquetTimeUnit::MILLIS)
}

macro_rules! parquet_type_tests {
    ($($test:ident: $column:literal => $expected:expr;)*) => {
        $(
            #[test]
            fn $test() {
                assert_parquet_type($column, $expected);
            }
        )*
    };
}

parquet_type_tests! {
    boolean: "b1" => Leaf(PhysicalType::BOOLEAN, None);
    int8: "i1" => Leaf(PhysicalType::INT32, int(8, true));
    int16: "i2" => Leaf(PhysicalType::INT32, int(16, true));
    int32: "i4" => Leaf(PhysicalType::INT32, None);
    int64: "i8" => Leaf(PhysicalType::INT64, None);
    uint8: "u1" => Leaf(PhysicalType::INT32, int(8, false));
    uint16: "u2" => Leaf(PhysicalType::INT32, int(16, false));
    uint32: "u4" => Leaf(PhysicalType::INT32, int(32, false));
    uint64: "u8" => Leaf(PhysicalType::INT64, int(64, false));
    float16: "f2" => Leaf(PhysicalType::FIXED_LEN_BYTE_ARRAY, Some(LogicalType::Float16));
    float32: "f4" => Leaf(PhysicalType::FLOAT, None);
    float64: "f8" => Leaf(PhysicalType::DOUBLE, None);
    complex64_struct: "c8" => Group(vec![("real", Leaf(PhysicalType::FLOAT, None)), ("imag", Leaf(PhysicalType::FLOAT, None))]);
    complex128_struct: "c16" => Group(vec![("real", Leaf(PhysicalType::DOUBLE, None)), ("imag", Leaf(PhysicalType::DOUBLE, None))]);
    binary: "s" => Leaf(PhysicalType::BYTE_ARRAY, None);
    utf8: "u" => Leaf(PhysicalType::BYTE_ARRAY, Some(LogicalType::String));
    fixed_size_binary: "v" => Leaf(PhysicalType::FIXED_LEN_BYTE_ARRAY, None);
    timestamp_ns: "dt_ns" => timestamp(ParquetTimeUnit::NANOS);
    timestamp_us: "dt_us" => timestamp(ParquetTimeUnit::MICROS);
    timestamp_ms: "dt_ms" => millis();
    timestamp_s_as_millis: "dt_s" => millis();
    timestamp_minutes_as_millis: "dt_m" => millis();
    timestamp_hours_as_millis: "dt_h" => millis();
    date32_from_days: "date_D" => Leaf(PhysicalType::INT32, Some(LogicalType::Date));
    date32_from_months: "date_M" => Leaf(PhysicalType::INT32, Some(LogicalType::Date));
    // Parquet has no duration; pyarrow writes a bare INT64 too (the unit is in the Arrow schema).
    duration_ns: "td_ns" => Leaf(PhysicalType::INT64, None);
    duration_s: "td_s" => Leaf(PhysicalType::INT64, None);
    duration_hours_as_seconds: "td_h" => Leaf(PhysicalType::INT64, None);
    fixed_size_list: "vec" => List(Box::new(Leaf(PhysicalType::FLOAT, None)));
    fixed_size_list_of_lists: "mat" => List(Box::new(List(Box::new(Leaf(PhysicalType::INT32, int(16, true))))));
    timestamps_s_in_a_list: "ts_pair" => List(Box::new(millis()));
    timestamp_s_in_a_struct: "rec" => Group(vec![("x", Leaf(PhysicalType::DOUBLE, None)), ("when", millis())]);
}

/// The whole file as Arrow reads it back (with the embedded Arrow schema).
fn read_back(path: &Path) -> RecordBatch {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap().build().unwrap();
    let schema = reader.schema();
    concat_batches(&schema, &reader.collect::<Result<Vec<_>, _>>().unwrap()).unwrap()
}

/// numpy's `types.npy` values of a datetime field, in milliseconds (NaT → None).
fn numpy_millis(seconds: &[Option<i64>]) -> Vec<Option<i64>> {
    seconds.iter().map(|s| s.map(|s| s * 1000)).collect()
}

#[test]
fn second_timestamps_read_back_as_the_same_instants_in_milliseconds() {
    // From make_interop.py: 2024-02-29T12:34:56, NaT, 1969-07-20T20:17 (truncated to the unit).
    let at = 1_709_210_096_i64;
    let moon = -14_182_980_i64;
    let cases: [(&str, Vec<Option<i64>>); 3] = [
        ("dt_s", vec![Some(at), None, Some(moon)]),
        ("dt_m", vec![Some(at - 56), None, Some(moon)]),
        ("dt_h", vec![Some(at - 34 * 60 - 56), None, Some(moon - 17 * 60)]),
    ];
    for (writer, path) in &written().files {
        let batch = read_back(path);
        for (column, seconds) in &cases {
            let array = batch.column_by_name(column).unwrap();
            assert_eq!(array.data_type(), &DataType::Timestamp(TimeUnit::Millisecond, None), "{writer}: {column}");
            let values: Vec<Option<i64>> = array.as_primitive::<TimestampMillisecondType>().iter().collect();
            assert_eq!(values, numpy_millis(seconds), "{writer}: {column}");
        }
        let rec = batch.column_by_name("rec").unwrap().as_struct();
        let when: Vec<Option<i64>> =
            rec.column_by_name("when").unwrap().as_primitive::<TimestampMillisecondType>().iter().collect();
        assert_eq!(when, numpy_millis(&[Some(at), None, Some(at + 3600)]), "{writer}: rec.when");
        let pair = batch.column_by_name("ts_pair").unwrap().as_fixed_size_list();
        assert_eq!(pair.value_type(), DataType::Timestamp(TimeUnit::Millisecond, None), "{writer}: ts_pair");
        assert_eq!(pair.values().null_count(), 1, "{writer}: ts_pair keeps its NaT");
    }
}

#[test]
fn field_metadata_survives_the_cast() {
    for (writer, path) in &written().files {
        let batch = read_back(path);
        let field = batch.schema().field_with_name("dt_h").unwrap().clone();
        assert_eq!(field.metadata().get("numpy.descr").map(String::as_str), Some("'<M8[h]'"), "{writer}");
    }
}

#[test]
fn datafusion_reads_the_timestamps_as_timestamps() {
    // What failed before: comparing the column with a TIMESTAMP literal.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        for (writer, path) in &written().files {
            let ctx = SessionContext::new();
            // Without the embedded Arrow schema, as readers other than arrow-rs and pyarrow see it.
            ctx.sql("SET datafusion.execution.parquet.skip_metadata = true").await.unwrap();
            ctx.register_parquet("t", path.to_str().unwrap(), ParquetReadOptions::default()).await.unwrap();
            let batches = ctx
                .sql("SELECT count(*) AS n FROM t WHERE dt_s > TIMESTAMP '2000-01-01 00:00:00'")
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let n = batches[0].column(0).as_primitive::<datafusion::arrow::datatypes::Int64Type>().value(0);
            assert_eq!(n, 1, "{writer}");
        }
    });
}

#[test]
fn copy_of_a_query_without_such_columns_is_not_rewritten() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let ctx = SessionContext::new();
        ctx.register_npy_dir(types_dir()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let statement = format!("EXPLAIN COPY (SELECT i4, dt_ms FROM types) TO '{}/x.parquet' STORED AS PARQUET", dir.path().display());
        let plan = ctx.sql(&statement).await.unwrap().collect().await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan).unwrap().to_string();
        assert!(!text.contains("CAST"), "{text}");
        let statement = format!("EXPLAIN COPY (SELECT i4, dt_s FROM types) TO '{}/x.parquet' STORED AS PARQUET", dir.path().display());
        let plan = ctx.sql(&statement).await.unwrap().collect().await.unwrap();
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan).unwrap().to_string();
        assert!(text.contains("CAST(types.dt_s AS Timestamp("), "{text}");
    });
}
