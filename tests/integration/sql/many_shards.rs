//! A directory of many shards: the table keeps a small record per file, a `count(*)` plan
//! carries no file per shard (it carries no scan at all), a data scan has its files in
//! `target_partitions` groups, and the answers equal numpy's.
//!
//! The shards are copies of numpy's `tests/data/shards/parts/part-{1,2,10}.npy` (values in
//! `tests/data/shards/expected.json`, written by numpy with `tests/data/make_fixtures.py`).

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, Int64Array};
use datafusion::arrow::datatypes::{Float64Type, Int32Type, Int64Type};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_npy::datasource::{NpyFilesTable, SessionContextNpyExt};
use serde_json::Value;

/// The three numpy parts, in natural order, with their `(id, x)` values as numpy wrote them.
fn numpy_parts() -> Vec<(&'static str, Vec<(i32, f64)>)> {
    let text = std::fs::read_to_string("tests/data/shards/expected.json").unwrap();
    let manifest: Value = serde_json::from_str(&text).unwrap();
    let case = manifest["cases"].as_array().unwrap().iter().find(|c| c["name"] == "parts").unwrap();
    let values: Vec<(i32, f64)> =
        case["values"].as_array().unwrap().iter().map(|v| (v["id"].as_i64().unwrap() as i32, v["x"].as_f64().unwrap())).collect();
    // part-1 holds rows 0..3, part-2 rows 3..7, part-10 rows 7..9 (the table in natural order).
    vec![("part-1", values[..3].to_vec()), ("part-2", values[3..7].to_vec()), ("part-10", values[7..].to_vec())]
}

/// `n` shards `s-0.npy` … `s-{n-1}.npy`, shard `i` a copy of part `i % 3`; the rows numpy
/// would give for them concatenated in natural order.
fn write_shards(dir: &Path, n: usize) -> Vec<(i32, f64)> {
    let parts = numpy_parts();
    std::fs::create_dir(dir).unwrap();
    let mut rows = Vec::new();
    for i in 0..n {
        let (part, values) = &parts[i % 3];
        std::fs::copy(format!("tests/data/shards/parts/{part}.npy"), dir.join(format!("s-{i}.npy"))).unwrap();
        rows.extend(values.iter().copied());
    }
    rows
}

/// The `FileScanConfig`s of every `DataSourceExec` in `plan`.
fn scans(plan: &Arc<dyn ExecutionPlan>) -> Vec<FileScanConfig> {
    let mut found = Vec::new();
    if let Some(exec) = plan.downcast_ref::<DataSourceExec>() {
        if let Some(conf) = exec.data_source().downcast_ref::<FileScanConfig>() {
            found.push(conf.clone());
        }
    }
    for child in plan.children() {
        found.extend(scans(child));
    }
    found
}

async fn plan_of(ctx: &SessionContext, sql: &str) -> Arc<dyn ExecutionPlan> {
    ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap()
}

#[tokio::test]
async fn many_shards_keep_small_records_and_equal_numpy() {
    let n = 600;
    let dir = tempfile::tempdir().unwrap();
    let expected = write_shards(&dir.path().join("shards"), n);
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(4));
    ctx.register_npy_dir(dir.path()).unwrap();

    // The table: one record per shard, a few hundred bytes at most.
    let table = ctx.table_provider("shards").await.unwrap();
    let table = table.downcast_ref::<NpyFilesTable>().expect("a directory without key=value levels is an NpyFilesTable");
    assert_eq!(table.file_count(), n);
    assert_eq!(table.num_rows(), expected.len() as u64);
    assert!(table.shard_bytes() < 300, "{} bytes per shard", table.shard_bytes());

    // count(*) is folded to a literal: no scan, so no file in the plan.
    let count = plan_of(&ctx, "SELECT count(*) FROM shards").await;
    assert!(scans(&count).is_empty(), "count(*) planned a scan");
    // A scan of `_row` alone: one span per partition, not one file per shard.
    let rows_only = scans(&plan_of(&ctx, "SELECT count(*) FROM shards WHERE _row % 2 = 0").await);
    let files: usize = rows_only.iter().flat_map(|c| c.file_groups.iter()).map(|g| g.len()).sum();
    assert!(files <= 4, "a _row scan over {n} shards carries {files} files");
    // A data scan reads every shard, dealt into the partitions in natural order.
    let data = scans(&plan_of(&ctx, "SELECT sum(x) FROM shards").await);
    let groups: Vec<usize> = data.iter().flat_map(|c| c.file_groups.iter()).map(|g| g.len()).collect();
    assert_eq!((groups.len(), groups.iter().sum::<usize>()), (4, n), "{groups:?}");

    // The answers are numpy's, in numpy's order.
    let batches = ctx.sql("SELECT count(*), sum(x), max(_row) FROM shards").await.unwrap().collect().await.unwrap();
    assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0), expected.len() as i64);
    let sum: f64 = expected.iter().map(|(_, x)| x).sum();
    assert!((batches[0].column(1).as_primitive::<Float64Type>().value(0) - sum).abs() < 1e-9);
    assert_eq!(batches[0].column(2).as_primitive::<Int64Type>().value(0), expected.len() as i64 - 1);
    let batches = ctx.sql("SELECT id, _row FROM shards").await.unwrap().collect().await.unwrap();
    let ids: Vec<i32> = batches.iter().flat_map(|b| b.column(0).as_primitive::<Int32Type>().values().to_vec()).collect();
    let positions: Vec<i64> = batches.iter().flat_map(|b| b.column(1).as_primitive::<Int64Type>().values().to_vec()).collect();
    assert_eq!(ids, expected.iter().map(|(id, _)| *id).collect::<Vec<_>>());
    assert_eq!(positions, (0..expected.len() as i64).collect::<Vec<_>>());

    // A limit reads the first shards only, and gives the table's first rows.
    let limited = scans(&plan_of(&ctx, "SELECT id FROM shards LIMIT 5").await);
    let files: usize = limited.iter().flat_map(|c| c.file_groups.iter()).map(|g| g.len()).sum();
    assert_eq!(files, 2, "rows 0..5 are in the first two shards (3 + 4 rows)");
    let batches = ctx.sql("SELECT id FROM shards LIMIT 5").await.unwrap().collect().await.unwrap();
    let ids: Vec<i32> = batches.iter().flat_map(|b| b.column(0).as_primitive::<Int32Type>().values().to_vec()).collect();
    assert_eq!(ids, expected[..5].iter().map(|(id, _)| *id).collect::<Vec<_>>());
    let batches = ctx.sql("SELECT sum(_row) FROM shards WHERE _row >= 100 AND _row < 110").await.unwrap().collect().await.unwrap();
    let column = batches[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(column.value(0), (100..110).sum::<i64>());
}
