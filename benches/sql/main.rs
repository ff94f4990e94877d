//! SQL over numpy files, each query against the plan stock DataFusion would run, in one process:
//!
//! - `sql_sum_f32`: `SELECT sum(x)` over a 64 MiB float32 `.npy`, with this crate's widening
//!   `sum` (as `register_npy_dir` installs it) and with DataFusion's own `sum` put back (which
//!   plans `sum(CAST(x AS Float64))`); `max(x)`, which needs no cast, for reference.
//! - `sql_join_on_row`: labels joined to 64-wide float32 features on `_row` and grouped, over a
//!   stored `.npz` (64 MiB of features), as a positional join and as DataFusion's hash join
//!   (the rule taken out).
//!
//! Throughput is the bytes of array data the query reads. Every iteration plans and runs the
//! query anew (the catalog re-lists the directory, as it does per query).
//!
//! Run: `cargo bench --bench sql` (add a filter, e.g. `-- join`, to run some).

#[allow(dead_code)]
#[path = "../read/data.rs"]
mod data;

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::functions_aggregate::sum::sum_udaf;
use datafusion::prelude::SessionContext;
use datafusion_npy::datasource::positional_join::PositionalJoinRule;
use datafusion_npy::datasource::SessionContextNpyExt;
use tokio::runtime::Runtime;

use data::{bench_group, f32_bytes, write_npy, write_npz, DATA_BYTES};

const WIDTH: usize = 64;

const SUM: &str = "SELECT sum(x) FROM x";
const MAX: &str = "SELECT max(x) FROM x";
const JOIN: &str = "SELECT l.labels, count(*), avg(f.features[1]) FROM ds.labels l \
                    JOIN ds.features f ON l._row = f._row GROUP BY l.labels";

fn session(dir: &Path) -> SessionContext {
    let ctx = SessionContext::new();
    ctx.register_npy_dir(dir).expect("register");
    ctx
}

/// A session as `session`, with DataFusion's own `sum` instead of the widening one.
fn session_with_stock_sum(dir: &Path) -> SessionContext {
    let ctx = session(dir);
    ctx.register_udaf(sum_udaf().as_ref().clone());
    ctx
}

/// A session as `session`, without the positional-join rule.
fn session_with_hash_joins(dir: &Path) -> SessionContext {
    let state = session(dir).state();
    let rules = state.physical_optimizers().iter().filter(|r| r.name() != PositionalJoinRule::NAME).cloned().collect();
    SessionContext::new_with_state(SessionStateBuilder::new_from_existing(state).with_physical_optimizer_rules(rules).build())
}

/// Runs `sql`; the rows it returned.
fn run(rt: &Runtime, ctx: &SessionContext, sql: &str) -> usize {
    rt.block_on(async {
        let batches = ctx.sql(sql).await.expect("plan").collect().await.expect("run");
        batches.iter().map(|b| b.num_rows()).sum()
    })
}

/// The plan `ctx` makes of `sql`, as EXPLAIN shows it.
fn plan(rt: &Runtime, ctx: &SessionContext, sql: &str) -> String {
    rt.block_on(async {
        let batches = ctx.sql(&format!("EXPLAIN {sql}")).await.expect("plan").collect().await.expect("explain");
        datafusion::arrow::util::pretty::pretty_format_batches(&batches).expect("format").to_string()
    })
}


fn benches(c: &mut Criterion) {
    let dir = tempfile::Builder::new().prefix("npyq-sql-bench").tempdir().expect("temp dir");
    let floats = f32_bytes(DATA_BYTES / 4, 1, false);
    let rows = DATA_BYTES / 4 / WIDTH;
    let labels: Vec<u8> = (0..rows as i64).flat_map(|i| (i % 10).to_le_bytes()).collect();
    let sum_dir = dir.path().join("sum");
    let join_dir = dir.path().join("join");
    std::fs::create_dir_all(&sum_dir).expect("mkdir");
    std::fs::create_dir_all(&join_dir).expect("mkdir");
    write_npy(&sum_dir.join("x.npy"), "'<f4'", &[DATA_BYTES / 4], &floats);
    write_npz(
        &join_dir.join("ds.npz"),
        false,
        &[("features", "'<f4'", &[rows, WIDTH], &floats), ("labels", "'<i8'", &[rows], &labels)],
    );
    let rt = Runtime::new().expect("tokio runtime");

    // The sessions plan what they claim to.
    let widening = session(&sum_dir);
    let stock = session_with_stock_sum(&sum_dir);
    assert!(!plan(&rt, &widening, SUM).contains("CAST"), "widening sum should not cast");
    assert!(plan(&rt, &stock, SUM).contains("CAST(x.x AS Float64)"), "stock sum casts");
    let positional = session(&join_dir);
    let hash = session_with_hash_joins(&join_dir);
    assert!(plan(&rt, &positional, JOIN).contains("PositionalJoinExec"));
    assert!(plan(&rt, &hash, JOIN).contains("HashJoinExec"));
    assert_eq!(run(&rt, &positional, JOIN), 10);
    assert_eq!(run(&rt, &hash, JOIN), 10);

    let mut g = bench_group(c, "sql_sum_f32");
    g.bench_function("widening_sum", |b| b.iter(|| run(&rt, &widening, SUM)));
    g.bench_function("stock_sum_with_cast", |b| b.iter(|| run(&rt, &stock, SUM)));
    g.bench_function("max_for_reference", |b| b.iter(|| run(&rt, &widening, MAX)));
    g.finish();

    let mut g = bench_group(c, "sql_join_on_row");
    g.bench_function("positional_join", |b| b.iter(|| run(&rt, &positional, JOIN)));
    g.bench_function("hash_join", |b| b.iter(|| run(&rt, &hash, JOIN)));
    g.finish();
}

criterion_group!(sql, benches);
criterion_main!(sql);
