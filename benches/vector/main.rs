//! Similarity search over a float32 embeddings `.npy` (384 dimensions, 64 MiB), in one process:
//!
//! - `vector_top10_cosine`: `ORDER BY array_cosine_distance(emb, q) LIMIT 10` with this
//!   crate's kernels (as `register_npy_dir` installs them), the same with DataFusion's
//!   `cosine_distance` under both names (ours, and the built-in put back, which casts the
//!   column to `List<Float64>` first), and a full scan `SELECT sum(emb[1])` for reference;
//! - `vector_top10_cosine_f16`: the same over the float16 file (ours only);
//! - `vector_knn`: `knn(emb, 'emb', queries, 'queries', 10, 'cosine')` for 256 queries (the
//!   corpus's first 256 rows, one query block: one pass over the corpus).
//!
//! Throughput is the bytes of array data the query reads. Every iteration plans and runs the
//! query anew. Run: `cargo bench --bench vector`.

#[allow(dead_code)]
#[path = "../read/data.rs"]
mod data;

use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datafusion::functions_nested::cosine_distance::cosine_distance_udf;
use datafusion::prelude::SessionContext;
use datafusion_npy::datasource::SessionContextNpyExt;
use tokio::runtime::Runtime;

use data::{bench_group, f32_bytes, write_npy, DATA_BYTES};

const DIMS: usize = 384;

fn top10(function: &str) -> String {
    format!(
        "SELECT _row, {function}(emb, (SELECT emb FROM emb WHERE _row = 1234)) AS d FROM emb ORDER BY d, _row LIMIT 10"
    )
}

const SCAN: &str = "SELECT sum(emb[1]) FROM emb";

const KNN_QUERIES: usize = 256;
const KNN: &str = "SELECT corpus_row FROM knn(emb, 'emb', queries, 'queries', 10, 'cosine') WHERE rank = 1 ORDER BY query_row";

fn session(dir: &Path) -> SessionContext {
    let ctx = SessionContext::new();
    ctx.register_npy_dir(dir).expect("register");
    ctx
}

/// A session as `session`, with DataFusion's own `cosine_distance` put back.
fn session_with_stock_cosine(dir: &Path) -> SessionContext {
    let ctx = session(dir);
    ctx.register_udf(Arc::unwrap_or_clone(cosine_distance_udf()));
    ctx
}

/// Runs `sql`; the `_row`s (or the one value) it returned, as text.
fn run(rt: &Runtime, ctx: &SessionContext, sql: &str) -> String {
    rt.block_on(async {
        let batches = ctx.sql(sql).await.expect("plan").collect().await.expect("run");
        let columns: Vec<_> = batches.iter().map(|b| b.project(&[0]).expect("column 0")).collect();
        datafusion::arrow::util::pretty::pretty_format_batches(&columns).expect("format").to_string()
    })
}

fn plan(rt: &Runtime, ctx: &SessionContext, sql: &str) -> String {
    rt.block_on(async {
        let batches = ctx.sql(&format!("EXPLAIN {sql}")).await.expect("plan").collect().await.expect("explain");
        datafusion::arrow::util::pretty::pretty_format_batches(&batches).expect("format").to_string()
    })
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::Builder::new().prefix("npyq-vector-bench").tempdir().expect("temp dir");
    let rows = DATA_BYTES / 4 / DIMS;
    let floats = f32_bytes(rows * DIMS, 3, false);
    let f32_dir = dir.path().join("f32");
    let f16_dir = dir.path().join("f16");
    std::fs::create_dir_all(&f32_dir).expect("mkdir");
    std::fs::create_dir_all(&f16_dir).expect("mkdir");
    write_npy(&f32_dir.join("emb.npy"), "'<f4'", &[rows, DIMS], &floats);
    let halves: Vec<u8> = floats
        .chunks_exact(4)
        .flat_map(|b| half::f16::from_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes())
        .collect();
    write_npy(&f16_dir.join("emb.npy"), "'<f2'", &[rows, DIMS], &halves);
    // knn's queries: copies of the corpus's first rows (each is its own nearest row).
    write_npy(&f32_dir.join("queries.npy"), "'<f4'", &[KNN_QUERIES, DIMS], &floats[..KNN_QUERIES * DIMS * 4]);
    let rt = Runtime::new().expect("tokio runtime");

    let ours = session(&f32_dir);
    let stock = session_with_stock_cosine(&f32_dir);
    let half = session(&f16_dir);
    // The sessions plan what they claim to, and agree on the answer.
    assert!(!plan(&rt, &ours, &top10("cosine_distance")).contains("CAST"), "ours reads the column as it is");
    assert!(plan(&rt, &stock, &top10("cosine_distance")).contains("CAST"), "the built-in casts to List<Float64>");
    let expected = run(&rt, &stock, &top10("cosine_distance"));
    assert_eq!(run(&rt, &ours, &top10("array_cosine_distance")), expected);
    assert_eq!(run(&rt, &ours, &top10("cosine_distance")), expected);

    let mut g = bench_group(c, "vector_top10_cosine");
    g.bench_function("array_cosine_distance", |b| b.iter(|| run(&rt, &ours, &top10("array_cosine_distance"))));
    g.bench_function("cosine_distance_native", |b| b.iter(|| run(&rt, &ours, &top10("cosine_distance"))));
    g.bench_function("cosine_distance_stock_datafusion", |b| b.iter(|| run(&rt, &stock, &top10("cosine_distance"))));
    g.bench_function("scan_sum_emb1_for_reference", |b| b.iter(|| run(&rt, &ours, SCAN)));
    g.finish();

    let mut g = bench_group(c, "vector_top10_cosine_f16");
    g.throughput(Throughput::Bytes((DATA_BYTES / 2) as u64));
    g.bench_function("array_cosine_distance", |b| b.iter(|| run(&rt, &half, &top10("array_cosine_distance"))));
    g.finish();

    let nearest = run(&rt, &ours, KNN);
    assert_eq!(nearest.lines().filter(|l| l.starts_with("| ")).count(), KNN_QUERIES + 1, "one row per query (and the header)");
    assert!(nearest.contains("| 255 "), "query 255's nearest row is itself: {nearest}");
    let mut g = bench_group(c, "vector_knn");
    g.bench_function("knn_256_queries_top10_cosine", |b| b.iter(|| run(&rt, &ours, KNN)));
    g.finish();
}

criterion_group!(vector, benches);
criterion_main!(vector);
