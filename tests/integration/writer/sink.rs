//! The DataFusion sink behind `COPY (query) TO 'out.npy' STORED AS NPY`, driven directly: a
//! query's physical plan goes into `create_writer_physical_plan` with the `FileSinkConfig` that
//! DataFusion's `COPY` builds, and the plan is run. (`COPY` statements through a registered
//! format are the SQL tests' business.)

use std::path::Path;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::UInt64Type;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::datasource::physical_plan::{FileGroup, FileOutputMode, FileSinkConfig};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::physical_plan::collect;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_npy::datasource::sink::create_writer_physical_plan;

use super::{assert_same_bytes, files_in, fixture, keep_for_numpy, npz_members, read};

/// a = [1, 2, 3], s = ['x', 'yz', 'é'], and the `_row` column every table of the crate has.
const QUERY: &str = "SELECT column1 AS a, column2 AS s, column1 - 1 AS _row \
                     FROM (VALUES (1, 'x'), (2, 'yz'), (3, 'é'))";

/// Run `COPY (query) TO target` and return the row count the sink reports.
async fn copy_to(query: &str, target: &str) -> datafusion::error::Result<u64> {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
    let input = ctx.sql(query).await?.create_physical_plan().await?;
    let config = FileSinkConfig {
        original_url: target.to_string(),
        object_store_url: ObjectStoreUrl::local_filesystem(),
        file_group: FileGroup::default(),
        table_paths: vec![ListingTableUrl::parse(target)?],
        output_schema: input.schema(),
        table_partition_cols: vec![],
        insert_op: InsertOp::Append,
        keep_partition_by_columns: false,
        file_extension: "npy".to_string(),
        file_output_mode: FileOutputMode::Automatic,
    };
    let plan = create_writer_physical_plan(input, &ctx.state(), config, None).await?;
    let batches: Vec<RecordBatch> = collect(plan, ctx.task_ctx()).await?;
    Ok(batches[0].column(0).as_primitive::<UInt64Type>().value(0))
}

fn target(dir: &Path, name: &str) -> String {
    format!("{}/{name}", dir.display())
}

#[tokio::test]
async fn copy_to_an_npy_file_writes_a_structured_array_without_row() {
    let dir = tempfile::tempdir().unwrap();
    let rows = copy_to(QUERY, &target(dir.path(), "out.npy")).await.unwrap();
    assert_eq!(rows, 3);
    let out = dir.path().join("out.npy");
    keep_for_numpy(&out, "built_sql.npy");
    assert_same_bytes(&read(&out), &read(fixture("built_sql.npy")), "built_sql.npy");
    assert_eq!(files_in(dir.path()), ["out.npy"]);
}

#[tokio::test]
async fn copy_to_an_npz_file_writes_one_member_per_column() {
    let dir = tempfile::tempdir().unwrap();
    copy_to(QUERY, &target(dir.path(), "out.npz")).await.unwrap();
    let out = dir.path().join("out.npz");
    keep_for_numpy(&out, "built_sql.npz");
    let (ours, numpy) = (npz_members(&out), npz_members(&fixture("built_sql.npz")));
    assert_eq!(ours.iter().map(|m| m.0.as_str()).collect::<Vec<_>>(), ["a.npy", "s.npy"]);
    for ((name, _, mine), (_, _, theirs)) in ours.iter().zip(&numpy) {
        assert_same_bytes(mine, theirs, name);
    }
}

#[tokio::test]
async fn copy_to_a_directory_writes_numbered_parts() {
    let dir = tempfile::tempdir().unwrap();
    let rows = copy_to(QUERY, &format!("{}/", target(dir.path(), "parts"))).await.unwrap();
    assert_eq!(rows, 3);
    let parts = files_in(&dir.path().join("parts"));
    assert!(!parts.is_empty());
    for (n, name) in parts.iter().enumerate() {
        assert_eq!(name, &format!("part-{n}.npy"));
    }
}

#[tokio::test]
async fn a_null_without_numpy_form_fails_the_copy_and_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let query = "SELECT column1 AS n FROM (VALUES (1), (NULL), (3))";
    let error = copy_to(query, &target(dir.path(), "bad.npy")).await.unwrap_err().to_string();
    assert!(error.contains("column 'n'") && error.contains("null"), "{error}");
    assert!(files_in(dir.path()).is_empty(), "left behind: {:?}", files_in(dir.path()));
}

#[tokio::test]
async fn a_failing_query_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let query = "SELECT column1 / column2 AS q FROM (VALUES (1, 1), (2, 0))";
    let error = copy_to(query, &target(dir.path(), "bad.npy")).await.unwrap_err().to_string();
    assert!(error.to_lowercase().contains("divide by zero"), "{error}");
    assert!(files_in(dir.path()).is_empty(), "left behind: {:?}", files_in(dir.path()));
}

#[tokio::test]
async fn an_unwritable_column_type_fails_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    // Lists of one length are an (N, k) array; these are ragged.
    let query = "SELECT l FROM (VALUES (make_array(1, 2)), (make_array(3))) AS t(l)";
    let error = copy_to(query, &target(dir.path(), "l.npy")).await.unwrap_err().to_string();
    assert!(error.contains("column 'l'") && error.contains("a list of 1 items after lists of 2"), "{error}");
    assert!(files_in(dir.path()).is_empty());
}
