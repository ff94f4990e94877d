//! `SELECT count(*)` over a directory of many tiny `.npy` shards (2,000 files of 16 float32):
//!
//! - `first_query`: a new session each time, so every header is read (one open and one small
//!   read per file, concurrently);
//! - `repeated_query`: the same session each time, the directory unchanged: it is listed again,
//!   and no header is read (the session's `HeaderCache`);
//! - `sum`: `SELECT sum(x)` in one session (every shard mapped and read).
//!
//! Throughput is in files. Whole-process figures for 10,000 and 100,000 shards, against a
//! numpy loop, come from `benches/shards_compare.py`.
//!
//! Run: `cargo bench --bench shards`.

#[allow(dead_code)]
#[path = "../read/data.rs"]
mod data;

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datafusion::arrow::array::Int64Array;
use datafusion::prelude::SessionContext;
use datafusion_npy::datasource::{HeaderCache, SessionContextNpyExt};
use tokio::runtime::Runtime;

use data::write_npy;

const SHARDS: usize = 2_000;
const ROWS: usize = 16;
const COUNT: &str = "SELECT count(*) FROM shards";
const SUM: &str = "SELECT sum(shards) FROM shards";

fn session(dir: &Path) -> SessionContext {
    let ctx = SessionContext::new();
    ctx.register_npy_dir(dir).expect("register");
    ctx
}

fn count(rt: &Runtime, ctx: &SessionContext, sql: &str) -> usize {
    rt.block_on(async {
        let batches = ctx.sql(sql).await.expect("plan").collect().await.expect("run");
        batches.iter().map(|b| b.num_rows()).sum()
    })
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::Builder::new().prefix("npyq-shards-bench").tempdir().expect("temp dir");
    let shards = dir.path().join("shards");
    std::fs::create_dir_all(&shards).expect("mkdir");
    for i in 0..SHARDS {
        let values: Vec<u8> = (0..ROWS).flat_map(|v| ((i * ROWS + v) as f32).to_le_bytes()).collect();
        write_npy(&shards.join(format!("part-{i}.npy")), "'<f4'", &[ROWS], &values);
    }
    let rt = Runtime::new().expect("tokio runtime");

    // The repeated query reads no header, and counts every row.
    let repeated = session(dir.path());
    let headers = HeaderCache::of_session(repeated.state().config()).expect("header cache");
    let total = rt.block_on(async {
        let batches = repeated.sql(COUNT).await.expect("plan").collect().await.expect("run");
        batches[0].column(0).as_any().downcast_ref::<Int64Array>().expect("count").value(0)
    });
    assert_eq!(total as usize, SHARDS * ROWS);
    let reads = headers.header_reads();
    assert_eq!(count(&rt, &repeated, COUNT), 1);
    assert_eq!(headers.header_reads(), reads, "a repeated query reads no header");

    let mut g = c.benchmark_group("count_2000_shards");
    g.throughput(Throughput::Elements(SHARDS as u64));
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    g.bench_function("first_query", |b| b.iter(|| count(&rt, &session(dir.path()), COUNT)));
    g.bench_function("repeated_query", |b| b.iter(|| count(&rt, &repeated, COUNT)));
    g.bench_function("sum", |b| b.iter(|| count(&rt, &repeated, SUM)));
    g.finish();
}

criterion_group!(shards, benches);
criterion_main!(shards);
