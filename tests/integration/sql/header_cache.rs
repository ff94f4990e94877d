//! Each file's header is read once per session: a `count(*)` over N shards reads N headers,
//! the same query again reads none, and a file that changed (size or modification time) is read
//! again, alone. Counted by the session's `HeaderCache`, which every header read goes through.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use datafusion::arrow::array::Int64Array;
use datafusion::prelude::SessionContext;
use datafusion_npy::datasource::{HeaderCache, SessionContextNpyExt};

/// numpy: `tests/data/shards/parts/part-1.npy` holds 3 rows, `part-2.npy` 4 (same dtype).
const PART_1: &str = "tests/data/shards/parts/part-1.npy";
const PART_2: &str = "tests/data/shards/parts/part-2.npy";

async fn value(ctx: &SessionContext, sql: &str) -> i64 {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    batches[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0)
}

fn cache(ctx: &SessionContext) -> Arc<HeaderCache> {
    HeaderCache::of_session(ctx.state().config()).expect("register_npy_format installs a header cache")
}

fn shards(dir: &Path, n: usize) {
    std::fs::create_dir(dir).unwrap();
    for i in 0..n {
        std::fs::copy(PART_1, dir.join(format!("part-{i}.npy"))).unwrap();
    }
}

#[tokio::test]
async fn a_header_is_read_once_and_again_only_when_its_file_changed() {
    let n = 40;
    let dir = tempfile::tempdir().unwrap();
    shards(&dir.path().join("shards"), n);
    let ctx = SessionContext::new();
    ctx.register_npy_dir(dir.path()).unwrap();
    let headers = cache(&ctx);
    assert_eq!(headers.header_reads(), 0);

    let count = "SELECT count(*) FROM shards";
    assert_eq!(value(&ctx, count).await, 3 * n as i64);
    assert_eq!(headers.header_reads(), n as u64, "each header once (schema, statistics and plan share it)");
    assert_eq!(value(&ctx, count).await, 3 * n as i64);
    assert_eq!(value(&ctx, "SELECT max(_row) FROM shards").await, 3 * n as i64 - 1);
    // A scan of `_row` alone needs headers only, and has them.
    assert_eq!(value(&ctx, "SELECT count(*) FROM shards WHERE _row % 2 = 0").await, 3 * n as i64 / 2);
    assert_eq!(headers.header_reads(), n as u64, "unchanged files: no header read again");

    // Touch one file (same bytes, another modification time): that one is read again.
    let touched = std::fs::File::options().write(true).open(dir.path().join("shards/part-7.npy")).unwrap();
    touched.set_modified(SystemTime::now() - Duration::from_secs(3600)).unwrap();
    drop(touched);
    assert_eq!(value(&ctx, count).await, 3 * n as i64);
    assert_eq!(headers.header_reads(), n as u64 + 1);

    // Replace one with a file of another size and row count: read again, and counted right.
    std::fs::copy(PART_2, dir.path().join("shards/part-3.npy")).unwrap();
    assert_eq!(value(&ctx, count).await, 3 * n as i64 + 1);
    assert_eq!(value(&ctx, "SELECT max(_row) FROM shards").await, 3 * n as i64);
    assert_eq!(headers.header_reads(), n as u64 + 2);

    // A new shard: only its header is read.
    std::fs::copy(PART_1, dir.path().join("shards/part-1000.npy")).unwrap();
    assert_eq!(value(&ctx, count).await, 3 * n as i64 + 4);
    assert_eq!(headers.header_reads(), n as u64 + 3);
}

/// Tables made by `CREATE EXTERNAL TABLE` and a second directory share the session's cache.
#[tokio::test]
async fn tables_of_one_session_share_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    shards(&dir.path().join("shards"), 5);
    let ctx = SessionContext::new();
    ctx.register_npy_format().unwrap();
    let headers = cache(&ctx);
    let location = dir.path().join("shards");
    ctx.sql(&format!("CREATE EXTERNAL TABLE t STORED AS NPY LOCATION '{}/'", location.display())).await.unwrap();
    assert_eq!(headers.header_reads(), 5);
    assert_eq!(value(&ctx, "SELECT count(*) FROM t").await, 15);
    ctx.register_npy_dir(dir.path()).unwrap();
    assert_eq!(value(&ctx, "SELECT count(*) FROM shards").await, 15);
    assert_eq!(value(&ctx, "SELECT sum(id) FROM t").await, 5 * (0 + 1 + 2));
    assert_eq!(headers.header_reads(), 5);
}

/// A scan that reads no data column is planned as row spans (one per partition), not one file
/// per shard; its `_row` values are those of the files, in every partition.
#[tokio::test]
async fn header_only_scans_carry_row_spans_not_files() {
    let n = 30;
    let dir = tempfile::tempdir().unwrap();
    shards(&dir.path().join("shards"), n);
    let config = datafusion::prelude::SessionConfig::new().with_target_partitions(3);
    let ctx = SessionContext::new_with_config(config);
    ctx.register_npy_dir(dir.path()).unwrap();
    let rows = 3 * n as i64;

    let plan = ctx.sql("EXPLAIN SELECT count(*) FROM shards WHERE _row % 2 = 0").await.unwrap().collect().await.unwrap();
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan).unwrap().to_string();
    let scan = text.lines().find(|l| l.contains("DataSourceExec")).unwrap();
    // One span per partition (3), each standing for a run of 10 shards.
    assert_eq!(scan.matches(".npy").count(), 3, "a span per partition, not {n} files: {scan}");

    // _row % 3 = 1: rows 1, 4, ..., rows - 2.
    let batches = ctx
        .sql("SELECT count(*), min(_row), max(_row), sum(_row) FROM shards WHERE _row % 3 = 1")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let column = |i: usize| batches[0].column(i).as_any().downcast_ref::<Int64Array>().unwrap().value(0);
    let expected: Vec<i64> = (0..rows).filter(|r| r % 3 == 1).collect();
    assert_eq!(column(0), expected.len() as i64);
    assert_eq!((column(1), column(2)), (expected[0], *expected.last().unwrap()));
    assert_eq!(column(3), expected.iter().sum::<i64>());

    // A limit keeps the table's first rows; a `_row` range only its rows.
    let first = ctx.sql("SELECT _row FROM shards LIMIT 5").await.unwrap().collect().await.unwrap();
    let first: Vec<i64> = first.iter().flat_map(|b| b.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec()).collect();
    assert_eq!(first, vec![0, 1, 2, 3, 4]);
    assert_eq!(value(&ctx, "SELECT sum(_row) FROM shards WHERE _row >= 10 AND _row < 20").await, (10..20).sum::<i64>());
}
