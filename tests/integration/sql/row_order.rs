//! Row order is identity: queries over one numpy table that keep rows in order (projection,
//! filter, `LIMIT`, positional join) give their rows in `_row` order in every output, with the
//! scan split across partitions.
//!
//! The tables are written by the test with the crate's own writer, large enough to be split
//! (3,000,000 `i4` rows, 12 MB, above DataFusion's 10 MiB `repartition_file_min_size`); every
//! value is a function of its row, so an output is right only if it is that function of
//! 0, 1, 2, … in order. Sessions use 3 target partitions, so scans split on any machine, and
//! the checks run several times (an interleaving that happens to come out right once would not
//! every time).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, Float32Array, Int32Array, Int64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::physical_plan::displayable;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_npy::datasource::SessionContextNpyExt;
use datafusion_npy::{ArrayFileWriter, NpyTable, NpzCompression, WriteOptions};
use futures::StreamExt;

const ROWS: i64 = 3_000_000;
const SHARDS: i64 = 12;
const SHARD_ROWS: i64 = 300_000;
const RUNS: usize = 3;

/// The test tables, written once per test process: `big.npy` (big = row), `pair.npy`
/// (pair = 2·row, i8), `zipped.npz` (stored: a = row, b = row as f4), `packed.npz` (the same,
/// deflated) and `shards/part-1.npy` … `part-12.npy` (shards = row, numbered across files in
/// natural order).
fn data_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(&root.join("big.npy"), &[("big", 0..ROWS, DataType::Int32)], WriteOptions::default());
        write(&root.join("pair.npy"), &[("pair", 0..ROWS, DataType::Int64)], WriteOptions::default());
        let members = [("a", 0..ROWS, DataType::Int32), ("b", 0..ROWS, DataType::Float32)];
        write(&root.join("zipped.npz"), &members, WriteOptions::default());
        write(&root.join("packed.npz"), &members, WriteOptions::default().with_compression(NpzCompression::Deflated));
        std::fs::create_dir(root.join("shards")).unwrap();
        for shard in 0..SHARDS {
            let rows = shard * SHARD_ROWS..(shard + 1) * SHARD_ROWS;
            let path = root.join("shards").join(format!("part-{}.npy", shard + 1));
            write(&path, &[("shards", rows, DataType::Int32)], WriteOptions::default());
        }
        dir
    })
    .path()
}

/// Values of column `name` for `rows`: the row itself, doubled for `pair`.
fn column(name: &str, rows: std::ops::Range<i64>, data_type: &DataType) -> ArrayRef {
    let factor = if name == "pair" { 2 } else { 1 };
    match data_type {
        DataType::Int32 => Arc::new(Int32Array::from_iter_values(rows.map(|r| (r * factor) as i32))),
        DataType::Int64 => Arc::new(Int64Array::from_iter_values(rows.map(|r| r * factor))),
        DataType::Float32 => Arc::new(Float32Array::from_iter_values(rows.map(|r| (r * factor) as f32))),
        other => panic!("no test column of type {other}"),
    }
}

fn write(path: &Path, columns: &[(&str, std::ops::Range<i64>, DataType)], options: WriteOptions) {
    let schema: SchemaRef =
        Arc::new(Schema::new(columns.iter().map(|(name, _, t)| Field::new(*name, t.clone(), false)).collect::<Vec<_>>()));
    let mut writer = ArrayFileWriter::try_new(path, Arc::clone(&schema), options).unwrap();
    let rows = columns[0].1.clone();
    let mut start = rows.start;
    while start < rows.end {
        let end = rows.end.min(start + (1 << 20));
        let arrays = columns.iter().map(|(name, _, t)| column(name, start..end, t)).collect();
        writer.write(&RecordBatch::try_new(Arc::clone(&schema), arrays).unwrap()).unwrap();
        start = end;
    }
    writer.finish().unwrap();
}

fn session() -> SessionContext {
    let config = SessionConfig::new().with_target_partitions(3);
    let ctx = SessionContext::new_with_config(config);
    ctx.register_npy_dir(data_dir()).unwrap();
    ctx
}

/// A query, and the rows it must give in order: for each output column, its value at each row
/// of the answer as a function of that row's `_row`.
struct Case {
    sql: &'static str,
    /// The `_row`s of the answer, in order.
    rows: fn() -> Vec<i64>,
    /// Each output column's value for a `_row`.
    columns: &'static [fn(i64) -> f64],
}

fn same(r: i64) -> f64 {
    r as f64
}

fn double(r: i64) -> f64 {
    (2 * r) as f64
}

fn all_rows() -> Vec<i64> {
    (0..ROWS).collect()
}

fn all_shard_rows() -> Vec<i64> {
    (0..SHARDS * SHARD_ROWS).collect()
}

fn multiples_of_7() -> Vec<i64> {
    (0..ROWS).filter(|r| r % 7 == 0).collect()
}

fn first_2m() -> Vec<i64> {
    (0..2_000_000).collect()
}

fn offset_window() -> Vec<i64> {
    (1_500_000..1_500_100).collect()
}

fn cases() -> Vec<Case> {
    vec![
        Case { sql: "SELECT big FROM big", rows: all_rows, columns: &[same] },
        Case { sql: "SELECT * EXCLUDE (_row) FROM big", rows: all_rows, columns: &[same] },
        Case { sql: "SELECT big * 2 AS twice, big FROM big", rows: all_rows, columns: &[double, same] },
        Case { sql: "SELECT big FROM big WHERE big % 7 = 0", rows: multiples_of_7, columns: &[same] },
        Case { sql: "SELECT big FROM big LIMIT 2000000", rows: first_2m, columns: &[same] },
        Case { sql: "SELECT big FROM big WHERE big >= 1000000 - 1000000 LIMIT 100 OFFSET 1500000", rows: offset_window, columns: &[same] },
        Case { sql: "SELECT a, b FROM zipped", rows: all_rows, columns: &[same, same] },
        Case { sql: "SELECT b FROM zipped WHERE a % 7 = 0", rows: multiples_of_7, columns: &[same] },
        Case { sql: "SELECT a, b FROM packed", rows: all_rows, columns: &[same, same] },
        Case { sql: "SELECT shards FROM shards", rows: all_shard_rows, columns: &[same] },
        Case { sql: "SELECT p.pair, b.big FROM big b JOIN pair p ON b._row = p._row", rows: all_rows, columns: &[double, same] },
        Case {
            sql: "SELECT z.a, p.pair FROM zipped.a z JOIN pair p ON p._row = z._row WHERE p.pair % 14 = 0",
            rows: multiples_of_7,
            columns: &[same, double],
        },
    ]
}

/// Column `index` of `batches` as f64 values.
fn values(batches: &[RecordBatch], index: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for batch in batches {
        let column = cast(batch.column(index), &DataType::Float64).unwrap();
        let column = column.as_any().downcast_ref::<datafusion::arrow::array::Float64Array>().unwrap();
        assert_eq!(column.null_count(), 0);
        out.extend(column.values().iter().copied());
    }
    out
}

/// The answer is `case`'s rows in order (the first wrong row is named, not 3 million values).
fn check(case: &Case, batches: &[RecordBatch], how: &str) {
    let rows = (case.rows)();
    for (index, expected_of) in case.columns.iter().enumerate() {
        let got = values(batches, index);
        assert_eq!(got.len(), rows.len(), "{how}: {}: column {index}: row count", case.sql);
        if let Some(at) = rows.iter().zip(&got).position(|(&r, &v)| expected_of(r) != v) {
            panic!(
                "{how}: {}: column {index}: row {at} is {} but should be {} (the value of _row {}): rows out of order",
                case.sql,
                got[at],
                expected_of(rows[at]),
                rows[at]
            );
        }
    }
}

fn plan_text(plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>) -> String {
    displayable(plan.as_ref()).indent(false).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collect_and_streams_keep_row_order() {
    let ctx = session();
    for case in cases() {
        let plan = ctx.sql(case.sql).await.unwrap().create_physical_plan().await.unwrap();
        // A deflated archive is not split: one partition, nothing to merge.
        let split = !case.sql.contains("packed");
        assert_eq!(plan_text(&plan).contains("RowOrderMergeExec"), split, "{}:\n{}", case.sql, plan_text(&plan));
        for _ in 0..RUNS {
            let batches = ctx.sql(case.sql).await.unwrap().collect().await.unwrap();
            check(&case, &batches, "collect");
            let mut stream = ctx.sql(case.sql).await.unwrap().execute_stream().await.unwrap();
            let mut streamed = Vec::new();
            while let Some(batch) = stream.next().await {
                streamed.push(batch.unwrap());
            }
            check(&case, &streamed, "execute_stream");
        }
    }
}

/// The scan is dealt out in interleaved chunks: partition 0 reads chunks 0 and 3 of six.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scan_is_dealt_out_in_chunks() {
    let ctx = session();
    let plan = ctx.sql("SELECT pair FROM pair").await.unwrap().create_physical_plan().await.unwrap();
    let text = plan_text(&plan);
    assert!(text.contains("RowOrderMergeExec") && text.contains("3 groups"), "{text}");
    let first_group = text.split("[[").nth(1).and_then(|g| g.split(']').next()).unwrap_or_default();
    let pieces: Vec<&str> = first_group.split(", ").filter_map(|p| p.rsplit("pair.npy:").next()).collect();
    assert_eq!(pieces.len(), 2, "{text}");
    assert!(pieces[0].starts_with("0..4000"), "{text}");
    assert!(pieces[1].starts_with("12000"), "{text}");
}

/// Read back a file written by `COPY` or `npyq sql --output`, by extension.
fn read_back(path: &Path) -> Vec<RecordBatch> {
    let file = || std::fs::File::open(path).unwrap();
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy" | "npz") => NpyTable::open(path).unwrap().reader().build().unwrap().map(|b| b.unwrap()).collect(),
        Some("parquet") => datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file())
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect(),
        Some("arrow") => datafusion::arrow::ipc::reader::FileReader::try_new(file(), None).unwrap().map(|b| b.unwrap()).collect(),
        Some("csv") => {
            // Every test column is a number: read them all as Float64.
            let header = std::io::BufRead::lines(std::io::BufReader::new(file())).next().unwrap().unwrap();
            let fields: Vec<Field> = header.split(',').map(|name| Field::new(name, DataType::Float64, false)).collect();
            datafusion::arrow::csv::ReaderBuilder::new(Arc::new(Schema::new(fields)))
                .with_header(true)
                .build(file())
                .unwrap()
                .map(|b| b.unwrap())
                .collect()
        }
        other => panic!("no reader for {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_to_keeps_row_order() {
    let ctx = session();
    let out = tempfile::tempdir().unwrap();
    // COPY writes every case to .npy, the filtered and joined ones twice; the other formats
    // get those (they share the plan: a DataSinkExec over the merge).
    let repeated = |c: &Case| c.sql.contains("% 7") || c.sql.contains("JOIN");
    let mut runs: Vec<(Case, &str, usize)> = cases().into_iter().map(|c| { let n = if repeated(&c) { 2 } else { 1 }; (c, "npy", n) }).collect();
    for ext in ["parquet", "arrow", "csv"] {
        runs.extend(cases().into_iter().filter(|c| repeated(c)).map(|c| (c, ext, 1)));
    }
    for (i, (case, ext, times)) in runs.iter().enumerate() {
        for run in 0..*times {
            let path: PathBuf = out.path().join(format!("out-{i}-{run}.{ext}"));
            let stored_as = if *ext == "npy" { "STORED AS NPY".to_string() } else { String::new() };
            let copy = format!("COPY ({}) TO '{}' {stored_as}", case.sql, path.display());
            ctx.sql(&copy).await.unwrap_or_else(|e| panic!("{copy}: {e}")).collect().await.unwrap_or_else(|e| panic!("{copy}: {e}"));
            check(case, &read_back(&path), &format!("COPY TO .{ext}"));
            std::fs::remove_file(&path).unwrap();
        }
    }
}

fn npyq(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_npyq")).args(args).output().expect("npyq runs");
    assert!(out.status.success(), "npyq {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn npyq_sql_outputs_keep_row_order() {
    let dir = data_dir().to_str().unwrap().to_string();
    let out = tempfile::tempdir().unwrap();
    // Three partitions whatever the machine's cores.
    let split = "SET datafusion.execution.target_partitions = 3; ";
    let chosen: Vec<Case> =
        cases().into_iter().filter(|c| c.sql.contains("% 7") || c.sql.contains("shards") || c.sql.contains("JOIN")).collect();
    for (i, case) in chosen.iter().enumerate() {
        for format in ["parquet", "arrow", "csv"] {
            let path = out.path().join(format!("cli-{i}.{format}"));
            let sql = format!("{split}{}", case.sql);
            npyq(&["sql", "--dir", &dir, "--format", format, "--output", path.to_str().unwrap(), &sql]);
            check(case, &read_back(&path), &format!("npyq sql --format {format}"));
        }
    }
    // The table format (rows read off the text), on fewer rows.
    let sql = format!("{split}SELECT big FROM big WHERE big % 1000 = 7");
    for _ in 0..RUNS {
        let text = String::from_utf8(npyq(&["sql", "--dir", &dir, &sql]).stdout).unwrap();
        let got: Vec<i64> = text.lines().filter_map(|l| l.trim_matches(|c| c == '|' || c == ' ').parse().ok()).collect();
        let expected: Vec<i64> = (0..ROWS).filter(|r| r % 1000 == 7).collect();
        assert!(got == expected, "npyq sql table output: {} rows, first difference at {:?}", got.len(),
            got.iter().zip(&expected).position(|(a, b)| a != b));
    }
}

/// `SET npy.preserve_row_order = false` and `npyq sql --any-order` give DataFusion's own plan:
/// contiguous byte ranges per partition, merged as they come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_it_off_gives_the_plain_plan() {
    let ctx = session();
    ctx.sql("SET npy.preserve_row_order = false").await.unwrap().collect().await.unwrap();
    let plan = ctx.sql("SELECT big FROM big WHERE big % 7 = 0 LIMIT 10").await.unwrap().create_physical_plan().await.unwrap();
    let text = plan_text(&plan);
    assert!(!text.contains("RowOrderMergeExec"), "{text}");
    assert!(text.contains("CoalescePartitionsExec"), "{text}");
    // FileGroupPartitioner's three contiguous ranges.
    assert!(text.contains("[[big.npy:0..4000043], [big.npy:4000043..8000086], [big.npy:8000086..12000128]]")
        || text.contains("big.npy:0..4000043]"), "{text}");
    let batches = ctx.sql("SELECT big FROM big").await.unwrap().collect().await.unwrap();
    let mut got = values(&batches, 0);
    got.sort_by(f64::total_cmp);
    assert!(got.iter().enumerate().all(|(i, &v)| v == i as f64), "the same rows, in some order");

    let dir = data_dir().to_str().unwrap().to_string();
    let explain = String::from_utf8(
        npyq(&["sql", "--any-order", "--dir", &dir, "--format", "csv", "EXPLAIN SELECT big FROM big"]).stdout,
    )
    .unwrap();
    assert!(!explain.contains("RowOrderMergeExec"), "{explain}");
    let explain = String::from_utf8(npyq(&["sql", "--dir", &dir, "--format", "csv", "EXPLAIN SELECT big FROM big"]).stdout).unwrap();
    assert!(explain.contains("RowOrderMergeExec"), "{explain}");
}

/// Aggregates, sorts and unions keep DataFusion's plans: no ordered merge where order is not
/// the rows' own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_that_do_not_keep_order_are_left_alone() {
    let ctx = session();
    for sql in [
        "SELECT big % 10 AS k, count(*) FROM big GROUP BY k",
        "SELECT big FROM big ORDER BY big DESC LIMIT 5",
        "SELECT big FROM big UNION ALL SELECT shards FROM shards",
        "SELECT b.big FROM big b JOIN pair p ON b.big = p.pair",
    ] {
        let plan = ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap();
        assert!(!plan_text(&plan).contains("RowOrderMergeExec"), "{sql}:\n{}", plan_text(&plan));
    }
}
