//! SQL behaviour: the `.slt` files of `tests/sql/` and `sql-examples/`, run by a sqllogictest
//! harness over a `SessionContext` with the NPY format registered; plus the checks `.slt` cannot
//! express (files added after registration).
//!
//! Each `.slt` file gets a fresh session (2 target partitions, so plans are stable) with the
//! directories named by its `# dir: PATH` lines registered (default: `sql-examples/data`).
//! Paths are relative to the package root.
//!
//! `SLT_COMPLETE=1 cargo test --test integration sql` rewrites the expected output in place
//! (check the diff!); `SLT_FILTER=name` runs only files whose path contains `name`.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_npy::datasource::{NpyFormatOptions, SessionContextNpyExt};
use sqllogictest::{DBOutput, DefaultColumnType};

mod cli_sql;
mod copy_options;
mod custom_scan;
mod files_added;
mod header_cache;
mod many_shards;
mod positional_join;
mod remote_store;
mod row_order;

/// One session per `.slt` file.
struct NpyDb {
    ctx: SessionContext,
}

impl NpyDb {
    fn new(dirs: &[PathBuf]) -> Result<Self, DataFusionError> {
        let config = SessionConfig::new().with_target_partitions(2).with_information_schema(true);
        let ctx = SessionContext::new_with_config(config);
        ctx.register_npy_format()?;
        for dir in dirs {
            ctx.register_npy_dir(dir)?;
        }
        Ok(NpyDb { ctx })
    }
}

#[async_trait]
impl sqllogictest::AsyncDB for NpyDb {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        let frame = self.ctx.sql(sql).await?;
        let schema = frame.schema().inner().clone();
        let batches = frame.collect().await?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema.fields().iter().map(|f| column_type(f.data_type())).collect();
        let mut rows = Vec::new();
        for batch in &batches {
            rows.extend(batch_rows(batch)?.into_iter().flat_map(split_lines));
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "datafusion-npy"
    }
}

fn column_type(t: &DataType) -> DefaultColumnType {
    if t.is_integer() {
        DefaultColumnType::Integer
    } else if t.is_floating() {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

/// Absolute paths in plans, as DataFusion prints them (no leading `/`), become relative to the
/// package root, so expected output does not depend on where the checkout is.
fn relative_paths(text: String) -> String {
    let root = std::env::current_dir().map(|d| d.to_string_lossy().trim_start_matches('/').to_string() + "/");
    match root {
        Ok(root) => text.replace(&root, ""),
        Err(_) => text,
    }
}

fn batch_rows(batch: &RecordBatch) -> Result<Vec<Vec<String>>, DataFusionError> {
    let options = FormatOptions::default().with_null("NULL");
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()?;
    let rows = (0..batch.num_rows())
        .map(|row| {
            formatters
                .iter()
                .zip(batch.columns())
                .map(|(f, column)| {
                    let text = relative_paths(f.value(row).to_string());
                    // An empty string would be read as a missing column.
                    if text.is_empty() && !column.is_null(row) { "(empty)".to_string() } else { text }
                })
                .collect()
        })
        .collect();
    Ok(rows)
}

/// A row whose cells span lines (EXPLAIN's plans) as one row per line: the first holds every
/// cell's first line, each further line is a row of its own (blank lines dropped), so that
/// expected output reads like the plan.
fn split_lines(row: Vec<String>) -> Vec<Vec<String>> {
    if !row.iter().any(|cell| cell.contains('\n')) {
        return vec![row];
    }
    let mut first = Vec::with_capacity(row.len());
    let mut more = Vec::new();
    for cell in &row {
        let mut lines = cell.lines().filter(|l| !l.trim().is_empty());
        first.push(lines.next().unwrap_or_default().to_string());
        more.extend(lines.map(|l| vec![l.to_string()]));
    }
    std::iter::once(first).chain(more).collect()
}

/// The `.slt` files to run, in a stable order.
fn slt_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["tests/sql", "sql-examples"] {
        let Ok(read) = std::fs::read_dir(dir) else { continue };
        files.extend(read.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "slt")));
    }
    files.sort();
    if let Ok(filter) = std::env::var("SLT_FILTER") {
        files.retain(|f| f.to_string_lossy().contains(&filter));
    }
    files
}

/// The directories a file asks for with `# dir: PATH` lines.
fn dirs_of(file: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let dirs: Vec<PathBuf> =
        text.lines().filter_map(|l| l.strip_prefix("# dir:")).map(|d| PathBuf::from(d.trim())).collect();
    if dirs.is_empty() { vec![PathBuf::from("sql-examples/data")] } else { dirs }
}

async fn run_file(file: &Path) -> Result<(), String> {
    let dirs = dirs_of(file);
    let mut runner = sqllogictest::Runner::new(move || {
        let dirs = dirs.clone();
        async move { NpyDb::new(&dirs) }
    });
    if std::env::var_os("SLT_COMPLETE").is_some() {
        runner
            .update_test_file(
                file,
                " ",
                sqllogictest::default_validator,
                sqllogictest::default_normalizer,
                sqllogictest::default_column_validator,
            )
            .await
            .map_err(|e| e.to_string())
    } else {
        runner.run_file_async(file).await.map_err(|e| e.display(true).to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slt_files_pass() {
    let files = slt_files();
    assert!(!files.is_empty(), "no .slt files found (run from the package root)");
    let mut failures = Vec::new();
    for file in &files {
        if let Err(e) = run_file(file).await {
            failures.push(format!("{}:\n{e}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{} of {} .slt files failed:\n\n{}", failures.len(), files.len(), failures.join("\n\n"));
}

/// Every statement of an example `.sql` appears, as written, in the `.slt` that checks it.
#[test]
fn sql_examples_match_their_slt() {
    for entry in std::fs::read_dir("sql-examples").unwrap() {
        let sql_path = entry.unwrap().path();
        if sql_path.extension().is_none_or(|e| e != "sql") {
            continue;
        }
        let sql = std::fs::read_to_string(&sql_path).unwrap();
        let slt = std::fs::read_to_string(sql_path.with_extension("slt")).unwrap_or_default();
        let code: String = sql.lines().filter(|l| !l.trim_start().starts_with("--")).collect::<Vec<_>>().join("\n");
        for statement in code.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            assert!(slt.contains(statement), "{}: statement not in its .slt:\n{statement}", sql_path.display());
        }
    }
}

/// `read_npy` and `register_npy` give the same table as the directory catalog.
#[tokio::test]
async fn read_npy_and_register_npy() {
    let ctx = SessionContext::new();
    let frame = ctx.read_npy("sql-examples/data/readings", NpyFormatOptions::default()).await.unwrap();
    let batches = frame.aggregate(vec![], vec![datafusion::functions_aggregate::count::count_all()]).unwrap().collect().await.unwrap();
    let count = batches[0].column(0).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().unwrap().value(0);
    assert_eq!(count, 1200);

    let options = NpyFormatOptions { member: Some("labels".into()), ..Default::default() };
    ctx.register_npy("labels", "sql-examples/data/ds.npz", options).await.unwrap();
    let batches = ctx.sql("SELECT max(_row), count(*) FROM labels").await.unwrap().collect().await.unwrap();
    let rows = batch_rows(&batches[0]).unwrap();
    assert_eq!(rows, vec![vec!["999".to_string(), "1000".to_string()]]);
}
