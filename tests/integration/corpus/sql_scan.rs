//! The same oracle through DataFusion: every case read as a table of a `SessionContext` whose
//! scans are split over several partitions (row ranges) and cut into small batches must equal
//! numpy, row by row as `_row` places them; so must a `_row` range filter and `count(*)`.
//! Refused files must be refused there too, naming the file.
//!
//! Rows are matched by `_row` rather than sorted with `ORDER BY _row`: arrow's `take` rebuilds
//! a `FixedSizeList` of size 0 with length 0, so sorting a table with a zero-width column fails
//! in DataFusion itself (an arrow-rs limitation, not the reader's).

use std::path::Path;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::{col, lit, SessionConfig, SessionContext};
use datafusion_npy::{NpyFormatOptions, SessionContextNpyExt};
use serde_json::Value;

use super::dtype::type_shape;
use super::check::check_cases;
use super::expected::{case_name, expected_columns, rows_of, ExpectedColumn, Manifest};
use super::reading::compare_column;

/// Run every selected case through DataFusion; panic listing the cases that differ.
pub fn run_group_sql(manifest: &Manifest, select: impl Fn(&Value) -> bool) {
    check_cases(manifest, select, "differ from numpy through SQL", |case| {
        let path = manifest.dir.join(case["file"].as_str().unwrap_or_default());
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        runtime.block_on(check_case(&path, case))
    });
}

/// Which cases a whole-file scan can check: plain files, archives that open as one table, and
/// refusals of whole files.
pub fn sql_checkable(case: &Value) -> bool {
    let has = |key: &str| case.get(key).is_some();
    !has("whole_table") && !has("unreadable_members") && !has("bad_members")
}

/// Three partitions: scans are split into row ranges. Batches of 7 rows: many boundaries
/// (4099 for big files, to keep debug builds quick).
fn context(rows: u64) -> SessionContext {
    let batch = if rows > 10_000 { 4099 } else { 7 };
    SessionContext::new_with_config(SessionConfig::new().with_target_partitions(3).with_batch_size(batch))
}

async fn check_case(path: &Path, case: &Value) -> Vec<String> {
    let biggest = case
        .get("members")
        .and_then(Value::as_object)
        .map_or(rows_of(case), |m| m.values().map(rows_of).max().unwrap_or(0));
    let ctx = context(biggest);
    let location = path.to_string_lossy().into_owned();
    let member = case.get("member").and_then(Value::as_str).map(str::to_string);
    if case.get("error").is_some() || case.get("table_error").is_some() {
        return match read_all(&ctx, &location, options(member)).await {
            Ok(batches) => vec![format!(
                "expected an error ({}), but it read {} rows",
                case.get("error").or(case.get("table_error")).unwrap_or(&Value::Null),
                batches.iter().map(RecordBatch::num_rows).sum::<usize>()
            )],
            Err(message) if !message.contains(&*path.file_name().unwrap_or_default().to_string_lossy()) => {
                vec![format!("the error does not name the file: {message:?}")]
            }
            Err(_) => Vec::new(),
        };
    }
    let (columns, rows) = match columns_of(path, case) {
        Ok(c) => c,
        Err(e) => return vec![format!("test cannot read the case: {e}")],
    };
    let mut problems = check_table(&ctx, &location, None, &columns, rows).await;
    // Each member of an archive alone (`OPTIONS ('member' ...)`): its fields, or itself.
    for (member, array) in case.get("members").and_then(Value::as_object).into_iter().flatten() {
        match expected_columns(member, array, true) {
            Ok(columns) => problems.extend(
                check_table(&ctx, &location, Some(member.clone()), &columns, rows_of(array))
                    .await
                    .into_iter()
                    .map(|p| format!("member '{member}': {p}")),
            ),
            Err(e) => problems.push(format!("member '{member}': test cannot read the case: {e}")),
        }
    }
    problems
}

/// A column named `_row` cannot sit beside the row-position column: a clear refusal naming the
/// file and the column is the answer (the reader itself reads such files).
fn expect_row_conflict(outcome: Result<Vec<RecordBatch>, String>, location: &str) -> Vec<String> {
    let file = Path::new(location).file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    match outcome {
        Ok(_) => vec!["a column named _row was accepted beside the row-position column _row".into()],
        Err(e) if e.contains(&file) && e.contains("_row") => Vec::new(),
        Err(e) => {
            vec![format!("the refusal of a column named _row does not name the file and the column: {e}")]
        }
    }
}

fn options(member: Option<String>) -> NpyFormatOptions {
    NpyFormatOptions { member, ..NpyFormatOptions::default() }
}

/// One table (a whole file, or one member of it): everything, a `_row` range, `count(*)`.
async fn check_table(
    ctx: &SessionContext,
    location: &str,
    member: Option<String>,
    columns: &[ExpectedColumn],
    rows: u64,
) -> Vec<String> {
    if columns.iter().any(|c| c.name == "_row") {
        return expect_row_conflict(read_all(ctx, location, options(member)).await, location);
    }
    let mut problems = Vec::new();

    // Everything.
    match read(ctx, location, options(member.clone()), None).await {
        Ok(batches) => {
            problems.extend(compare(columns, &batches, 0..rows).into_iter().map(|p| format!("SELECT *: {p}")))
        }
        Err(e) => problems.push(format!("SELECT *: {e}")),
    }
    // A `_row` range, as a filter (pushed down to the scan as a row range where it can be).
    let range = rows / 3..rows - rows / 4 + 1;
    match read(ctx, location, options(member.clone()), Some(range.clone())).await {
        Ok(batches) => problems.extend(
            compare(columns, &batches, range.start.min(rows)..range.end.min(rows))
                .into_iter()
                .map(|p| format!("WHERE _row in {range:?}: {p}")),
        ),
        Err(e) => problems.push(format!("WHERE _row in {range:?}: {e}")),
    }
    // Other shapes of `_row` predicates: one row, none, the last, a range starting below zero.
    let k = (rows / 2) as i64;
    let n = rows as i64;
    let filters = [
        (format!("_row = {k}"), col("_row").eq(lit(k)), (k as u64).min(rows)..(k as u64 + 1).min(rows)),
        ("_row < 0".to_string(), col("_row").lt(lit(0i64)), 0..0),
        (format!("_row >= {}", n - 1), col("_row").gt_eq(lit(n - 1)), rows.saturating_sub(1)..rows),
        ("_row BETWEEN -5 AND 1".to_string(), col("_row").between(lit(-5i64), lit(1i64)), 0..rows.min(2)),
    ];
    for (label, filter, range) in filters {
        let filtered = async {
            let df = ctx.read_npy(location, options(member.clone())).await.map_err(|e| e.to_string())?;
            df.filter(filter).map_err(|e| e.to_string())?.collect().await.map_err(|e| e.to_string())
        };
        match filtered.await {
            Ok(batches) => problems
                .extend(compare(columns, &batches, range).into_iter().map(|p| format!("WHERE {label}: {p}"))),
            Err(e) => problems.push(format!("WHERE {label}: {e}")),
        }
    }
    // LIMIT (pushed into the scan): any 5 rows, each as numpy has it.
    let limited = async {
        let df = ctx.read_npy(location, options(member.clone())).await.map_err(|e| e.to_string())?;
        df.limit(0, Some(5)).map_err(|e| e.to_string())?.collect().await.map_err(|e| e.to_string())
    };
    match limited.await {
        Ok(batches) => problems.extend(
            compare_rows(columns, &batches, Expect::AnyOf(rows.min(5) as usize))
                .into_iter()
                .map(|p| format!("LIMIT 5: {p}")),
        ),
        Err(e) => problems.push(format!("LIMIT 5: {e}")),
    }
    // One column (the last) and `_row`: projection pushed into the scan.
    if let Some(last) = columns.last() {
        let projected = async {
            let df = ctx.read_npy(location, options(member.clone())).await.map_err(|e| e.to_string())?;
            let df = df.select_columns(&[last.name.as_str(), "_row"]).map_err(|e| e.to_string())?;
            df.collect().await.map_err(|e| e.to_string())
        };
        let label = format!("SELECT \"{}\", _row", last.name);
        match projected.await {
            Ok(batches) => problems.extend(
                compare(std::slice::from_ref(last), &batches, 0..rows)
                    .into_iter()
                    .map(|p| format!("{label}: {p}")),
            ),
            Err(e) => problems.push(format!("{label}: {e}")),
        }
    }
    // count(*), from statistics or not.
    match count(ctx, location, options(member)).await {
        Ok(n) if n as u64 == rows => {}
        Ok(n) => problems.push(format!("count(*) is {n}, numpy has {rows} rows")),
        Err(e) => problems.push(format!("count(*): {e}")),
    }
    problems
}

/// The expected columns of the table a whole file is: a `.npy`'s fields (or itself), an
/// archive's members in archive order.
fn columns_of(path: &Path, case: &Value) -> Result<(Vec<ExpectedColumn>, u64), String> {
    if let Some(members) = case.get("members").and_then(Value::as_object) {
        let order = super::check::npy_members_in_archive_order(path)?;
        let mut columns = Vec::new();
        for member in &order {
            let array =
                members.get(member).ok_or_else(|| format!("no member '{member}' in expected.json"))?;
            columns.extend(expected_columns(member, array, false)?);
        }
        Ok((columns, members.values().next().map_or(0, rows_of)))
    } else {
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        Ok((expected_columns(&stem, case, true)?, rows_of(case)))
    }
}

async fn read_all(
    ctx: &SessionContext,
    location: &str,
    options: NpyFormatOptions,
) -> Result<Vec<RecordBatch>, String> {
    let df = ctx.read_npy(location, options).await.map_err(|e| e.to_string())?;
    df.collect().await.map_err(|e| e.to_string())
}

async fn read(
    ctx: &SessionContext,
    location: &str,
    options: NpyFormatOptions,
    rows: Option<std::ops::Range<u64>>,
) -> Result<Vec<RecordBatch>, String> {
    let mut df = ctx.read_npy(location, options).await.map_err(|e| e.to_string())?;
    if let Some(r) = rows {
        let filter = col("_row").gt_eq(lit(r.start as i64)).and(col("_row").lt(lit(r.end as i64)));
        df = df.filter(filter).map_err(|e| e.to_string())?;
    }
    df.collect().await.map_err(|e| e.to_string())
}

async fn count(ctx: &SessionContext, location: &str, options: NpyFormatOptions) -> Result<usize, String> {
    let df = ctx.read_npy(location, options).await.map_err(|e| e.to_string())?;
    df.count().await.map_err(|e| e.to_string())
}

/// The batches' columns (all but `_row`) against numpy's values, row by row as `_row` places
/// them; `_row` must hold each row of `range` exactly once.
fn compare(columns: &[ExpectedColumn], batches: &[RecordBatch], range: std::ops::Range<u64>) -> Vec<String> {
    compare_rows(columns, batches, Expect::Exactly(range))
}

/// Which rows a query must return.
enum Expect {
    /// Each row of the range, once.
    Exactly(std::ops::Range<u64>),
    /// This many distinct rows, any of them (`LIMIT` without `ORDER BY`).
    AnyOf(usize),
}

fn compare_rows(columns: &[ExpectedColumn], batches: &[RecordBatch], expect: Expect) -> Vec<String> {
    let Some(first) = batches.first() else {
        return match expect {
            Expect::Exactly(range) if !range.is_empty() => {
                vec![format!("no batches, numpy has rows {range:?}")]
            }
            Expect::AnyOf(n) if n > 0 => vec![format!("no batches, expected {n} rows")],
            _ => Vec::new(),
        };
    };
    let schema = first.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut want: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    want.push("_row");
    if names != want {
        return vec![format!("columns {names:?}, expected {want:?}")];
    }
    let row_ids: Vec<u64> = match concat_column(batches, columns.len()) {
        Ok(array) => match array.as_primitive_opt::<Int64Type>() {
            Some(rows) if rows.null_count() == 0 => rows.values().iter().map(|&r| r as u64).collect(),
            _ => return vec![format!("_row is {:?} with nulls or of another type", array.data_type())],
        },
        Err(e) => return vec![e],
    };
    let mut sorted = row_ids.clone();
    sorted.sort_unstable();
    let total = columns.first().map_or(0, |c| c.values.len() as u64);
    let (ok, wanted) = match &expect {
        Expect::Exactly(range) => {
            (sorted.iter().copied().eq(range.clone()), format!("each of {range:?} once"))
        }
        Expect::AnyOf(n) => {
            let distinct = sorted.windows(2).all(|w| w[0] != w[1]);
            let inside = sorted.last().is_none_or(|&r| r < total);
            (sorted.len() == *n && distinct && inside, format!("{n} distinct rows of 0..{total}"))
        }
    };
    if !ok {
        return vec![format!(
            "_row holds {} rows ({:?}...), expected {wanted}",
            row_ids.len(),
            &sorted[..sorted.len().min(5)]
        )];
    }
    let mut problems = Vec::new();
    for (i, column) in columns.iter().enumerate() {
        let field = schema.field(i);
        match column.dt.arrow_type() {
            Ok(t) if type_shape(&t) == type_shape(field.data_type()) => {}
            Ok(t) => {
                problems.push(format!(
                    "column '{}': type {}, SPEC §3 says {}",
                    column.name,
                    type_shape(field.data_type()),
                    type_shape(&t)
                ));
                continue;
            }
            Err(e) => {
                problems.push(format!("column '{}': {e}", column.name));
                continue;
            }
        }
        // numpy's values in the order the rows came.
        let in_arrival_order = ExpectedColumn {
            values: row_ids.iter().map(|&r| column.values[r as usize].clone()).collect(),
            ..column.clone()
        };
        match concat_column(batches, i) {
            Ok(array) => problems.extend(compare_column(&in_arrival_order, &array, 0..row_ids.len() as u64)),
            Err(e) => problems.push(e),
        }
    }
    problems
}

fn concat_column(batches: &[RecordBatch], index: usize) -> Result<ArrayRef, String> {
    let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(index).as_ref()).collect();
    concat(&parts).map_err(|e| format!("cannot concatenate the batches: {e}"))
}

/// Directories that are one table each (`tests/data/shards`): files in natural order, `_row`
/// over the whole directory; both through the directory catalog and `read_npy` of the directory.
pub fn run_shards() {
    let manifest = Manifest::load("shards");
    let mut failures = Vec::new();
    for case in &manifest.cases {
        let name = case_name(case);
        let columns = match case.get("members").and_then(Value::as_object) {
            // Members in the order numpy's savez wrote them (make_fixtures.py: alphabetical).
            Some(members) => members
                .iter()
                .map(|(member, array)| expected_columns(member, array, false))
                .collect::<Result<Vec<_>, _>>()
                .map(|c| c.into_iter().flatten().collect::<Vec<_>>()),
            None => expected_columns(name, case, true),
        };
        let columns = match columns {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{name}: test cannot read the case: {e}"));
                continue;
            }
        };
        let rows = case
            .get("members")
            .and_then(Value::as_object)
            .map_or(rows_of(case), |m| m.values().next().map_or(0, rows_of));
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        let problems = runtime.block_on(async {
            let ctx = context(rows);
            let mut problems = Vec::new();
            let by_catalog = async {
                ctx.register_npy_dir(&manifest.dir).map_err(|e| e.to_string())?;
                let df = ctx.sql(&format!("SELECT * FROM {name}")).await.map_err(|e| e.to_string())?;
                df.collect().await.map_err(|e| e.to_string())
            };
            match by_catalog.await {
                Ok(batches) => problems.extend(
                    compare(&columns, &batches, 0..rows).into_iter().map(|p| format!("catalog: {p}")),
                ),
                Err(e) => problems.push(format!("catalog: {e}")),
            }
            let dir = manifest.dir.join(name).to_string_lossy().into_owned();
            match read(&ctx, &dir, NpyFormatOptions::default(), None).await {
                Ok(batches) => problems.extend(
                    compare(&columns, &batches, 0..rows).into_iter().map(|p| format!("read_npy: {p}")),
                ),
                Err(e) => problems.push(format!("read_npy: {e}")),
            }
            problems
        });
        failures.extend(problems.into_iter().map(|p| format!("{name}: {p}")));
    }
    assert!(failures.is_empty(), "directories as tables differ from numpy:\n{}", failures.join("\n"));
}

/// The fixtures directory as a catalog (SPEC §5, §9): every file is a table by its stem; the
/// good ones equal numpy although hostile files sit beside them, the hostile ones fail naming
/// their file, and listing the tables survives them all.
pub fn run_catalog() {
    let manifest = Manifest::load("fixtures");
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let ctx = SessionContext::new_with_config(
        SessionConfig::new().with_target_partitions(3).with_batch_size(4099).with_information_schema(true),
    );
    ctx.register_npy_dir(&manifest.dir).expect("the fixtures directory registers");
    let mut failures = Vec::new();
    let listed = runtime.block_on(async {
        let df = ctx.sql("SHOW TABLES").await.map_err(|e| e.to_string())?;
        df.collect().await.map_err(|e| e.to_string())
    });
    if let Err(e) = listed {
        failures.push(format!("SHOW TABLES: {e}"));
    }
    for case in manifest.cases.iter().filter(|c| sql_checkable(c) && c.get("member").is_none()) {
        let path = manifest.dir.join(case["file"].as_str().unwrap_or_default());
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let file_name = path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let query = format!("SELECT * FROM \"{stem}\"");
        let outcome = runtime.block_on(async {
            let df = ctx.sql(&query).await.map_err(|e| e.to_string())?;
            df.collect().await.map_err(|e| e.to_string())
        });
        let refused = case.get("error").is_some() || case.get("table_error").is_some();
        let columns = columns_of(&path, case);
        if let Ok((columns, _)) = &columns {
            if columns.iter().any(|c| c.name == "_row") {
                failures.extend(
                    expect_row_conflict(outcome, &path.to_string_lossy())
                        .into_iter()
                        .map(|p| format!("{}: {p}", case_name(case))),
                );
                continue;
            }
        }
        match (outcome, refused) {
            (Ok(batches), false) => match columns {
                Ok((columns, rows)) => failures.extend(
                    compare(&columns, &batches, 0..rows)
                        .into_iter()
                        .map(|p| format!("{}: {query}: {p}", case_name(case))),
                ),
                Err(e) => failures.push(format!("{}: test cannot read the case: {e}", case_name(case))),
            },
            (Err(e), false) => failures.push(format!("{}: {query}: {e}", case_name(case))),
            (Ok(_), true) => {
                failures.push(format!("{}: {query} succeeded, numpy refuses the file", case_name(case)))
            }
            (Err(e), true) if !e.contains(&file_name) => failures
                .push(format!("{}: {query}: the error does not name {file_name}: {e}", case_name(case))),
            (Err(_), true) => {}
        }
        // An archive is also a schema with a table per member (its fields, or itself).
        for (member, array) in case.get("members").and_then(Value::as_object).into_iter().flatten() {
            if case.get("error").is_some() || member.contains('/') {
                continue;
            }
            let query = format!("SELECT * FROM \"{stem}\".\"{member}\"");
            let outcome = runtime.block_on(async {
                let df = ctx.sql(&query).await.map_err(|e| e.to_string())?;
                df.collect().await.map_err(|e| e.to_string())
            });
            match (outcome, expected_columns(member, array, true)) {
                (Ok(batches), Ok(columns)) => failures.extend(
                    compare(&columns, &batches, 0..rows_of(array))
                        .into_iter()
                        .map(|p| format!("{}: {query}: {p}", case_name(case))),
                ),
                (Err(e), _) => failures.push(format!("{}: {query}: {e}", case_name(case))),
                (_, Err(e)) => failures.push(format!("{}: test cannot read the case: {e}", case_name(case))),
            }
        }
    }
    assert!(failures.is_empty(), "the fixtures directory as a catalog:\n{}", failures.join("\n"));
}
