//! Joins on `_row` planned as positional joins give exactly the rows a hash join gives.
//!
//! Every query runs twice over the same directories: in a session with the positional-join rule
//! (as `register_npy_dir` sets it up) and in one with the rule taken out (DataFusion's own hash
//! join), with tiny batches, three partitions and files split into byte ranges, so build and
//! probe batches never line up. The sorted rows must be equal, and the plan must say which join
//! ran.

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::physical_plan::displayable;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_npy::datasource::positional_join::PositionalJoinRule;
use datafusion_npy::datasource::SessionContextNpyExt;

const DIRS: [&str; 2] = ["sql-examples/data", "tests/sql/data/types"];

fn session(positional: bool) -> SessionContext {
    let mut config = SessionConfig::new().with_target_partitions(3).with_batch_size(7);
    config.options_mut().optimizer.repartition_file_min_size = 64;
    let ctx = SessionContext::new_with_config(config);
    for dir in DIRS {
        ctx.register_npy_dir(dir).unwrap();
    }
    if positional {
        return ctx;
    }
    let state = ctx.state();
    let rules = state.physical_optimizers().iter().filter(|r| r.name() != PositionalJoinRule::NAME).cloned().collect();
    let state = SessionStateBuilder::new_from_existing(state).with_physical_optimizer_rules(rules).build();
    SessionContext::new_with_state(state)
}

/// The query's rows, sorted, and its physical plan.
async fn run(ctx: &SessionContext, sql: &str) -> (Vec<String>, String) {
    let frame = ctx.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let plan = frame.clone().create_physical_plan().await.unwrap();
    let plan_text = displayable(plan.as_ref()).indent(false).to_string();
    let batches = frame.collect().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let table = pretty_format_batches(&batches).unwrap().to_string();
    let mut rows: Vec<String> = table.lines().filter(|l| l.starts_with("| ")).skip(1).map(str::to_string).collect();
    rows.sort();
    (rows, plan_text)
}

async fn check(sql: &str, positional: bool, expected_rows: usize) {
    let (hash_rows, hash_plan) = run(&session(false), sql).await;
    assert!(!hash_plan.contains("PositionalJoinExec"), "{sql}: rule not removed:\n{hash_plan}");
    let (rows, plan) = run(&session(true), sql).await;
    assert_eq!(plan.contains("PositionalJoinExec"), positional, "{sql}: unexpected plan:\n{plan}");
    assert_eq!(plan.contains("HashJoinExec"), !positional, "{sql}: unexpected plan:\n{plan}");
    assert_eq!(rows.len(), expected_rows, "{sql}");
    assert_eq!(rows, hash_rows, "{sql}: positional and hash joins differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positional_joins_equal_hash_joins() {
    let cases: &[(&str, usize)] = &[
        // Two members of one archive.
        ("SELECT l._row, l.labels, f.features[1] AS f1 FROM ds.labels l JOIN ds.features f ON l._row = f._row", 1000),
        // Deflated members (one partition each: the archive is not split).
        ("SELECT l.labels, f.features[2] FROM ds_compressed.labels l JOIN ds_compressed.features f ON f._row = l._row", 1000),
        // Shards (twelve files, numbered across files) joined to themselves.
        ("SELECT a._row, a.sensor, b.value FROM readings a JOIN readings b ON a._row = b._row", 1200),
        // Tables of different lengths: the rows both have.
        ("SELECT r._row, r.sensor, e.embeddings[3] AS e3 FROM readings r JOIN embeddings e ON e._row = r._row", 500),
        ("SELECT e._row, e.embeddings[3] AS e3, r.sensor FROM embeddings e JOIN readings r ON e._row = r._row", 500),
        // Partitioned (key=value) tables, numbered across partitions; a pruned partition.
        ("SELECT a._row, a.amount, b.year, r.sensor FROM sales a JOIN sales b ON a._row = b._row JOIN readings r ON r._row = b._row", 120),
        ("SELECT a._row, a.amount, b.year FROM sales a JOIN sales b ON a._row = b._row WHERE b.year = '2024'", 70),
        // Shards with an empty file in between.
        ("SELECT a._row, a.gaps, b.gaps FROM gaps a JOIN gaps b ON a._row = b._row", 5),
        // Filters on either side (runs with holes), `_row` ranges, both at once.
        (
            "SELECT l._row, l.labels, f.features[1] FROM ds.labels l JOIN ds.features f ON l._row = f._row \
             WHERE f.features[1] > 0 AND l.labels <> 2",
            388,
        ),
        ("SELECT a._row, b.value FROM readings a JOIN readings b ON a._row = b._row WHERE a._row BETWEEN 95 AND 333 AND b._row > 200", 133),
        // Sorted and limited inputs (runs out of order, and a prefix).
        (
            "SELECT a._row, a.value, b.sensor FROM (SELECT * FROM readings ORDER BY value DESC LIMIT 50) a \
             JOIN readings b ON a._row = b._row",
            50,
        ),
        ("SELECT a._row, e.kind FROM (SELECT * FROM readings ORDER BY _row LIMIT 30) a JOIN events e ON a._row = e._row", 30),
        // Three tables: the second join sees a positional join below it.
        (
            "SELECT a._row, a.labels, b.sensor, c.id FROM ds.labels a JOIN readings b ON a._row = b._row \
             JOIN events c ON b._row = c._row",
            200,
        ),
        // Only the keys: batches with no data columns.
        ("SELECT count(*) FROM readings a JOIN embeddings b ON a._row = b._row", 1),
        ("SELECT a._row FROM readings a JOIN embeddings b ON a._row = b._row", 500),
        // Aggregation over the join.
        ("SELECT l.labels, count(*), round(sum(f.features[4]), 3) FROM ds.labels l JOIN ds.features f ON l._row = f._row GROUP BY l.labels", 5),
    ];
    for &(sql, rows) in cases {
        check(sql, true, rows).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_that_are_not_positional_stay_hash_joins() {
    let cases: &[(&str, usize)] = &[
        // Outer joins keep unmatched rows.
        ("SELECT r._row, e.id FROM readings r LEFT JOIN events e ON r._row = e._row", 1200),
        // A key that is not `_row` itself.
        ("SELECT a._row, b._row FROM events a JOIN events b ON a._row = b._row + 1", 199),
        ("SELECT a._row FROM events a JOIN (SELECT _row % 10 AS _row FROM events) b ON a._row = b._row", 200),
        // A second key.
        ("SELECT a._row FROM readings a JOIN readings b ON a._row = b._row AND a.sensor = b.sensor", 1200),
        // `_row` repeated on one side.
        (
            "SELECT a._row, b.id FROM (SELECT _row FROM events UNION ALL SELECT _row FROM events) a \
             JOIN events b ON a._row = b._row",
            400,
        ),
        // A join filter beyond the key.
        ("SELECT a._row FROM events a JOIN events b ON a._row = b._row AND a.value < b.value", 0),
    ];
    for &(sql, rows) in cases {
        check(sql, false, rows).await;
    }
}

#[tokio::test]
async fn explain_shows_the_positional_join_and_its_inputs() {
    let ctx = session(true);
    let (_, plan) = run(&ctx, "SELECT l.labels, f.features FROM ds.labels l JOIN ds.features f ON l._row = f._row").await;
    let join_line = plan.lines().find(|l| l.contains("PositionalJoinExec")).expect("a positional join");
    assert!(join_line.contains("on=[(_row@1, _row@1)]"), "{plan}");
    assert_eq!(plan.matches("DataSourceExec").count(), 2, "{plan}");
    assert!(!plan.contains("Hash(["), "no hash repartitioning on _row:\n{plan}");
}
