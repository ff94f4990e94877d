//! The scan path without a `ListingTable`: a custom provider builds a `FileScanConfig` with
//! `NpySource` itself (as distributed engines do), giving each file its place (`FileRows`).

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::{Float32Type, Int64Type};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::path::Path;
use datafusion::object_store::ObjectStoreExt;
use datafusion::physical_plan::collect;
use datafusion::prelude::SessionContext;
use datafusion_npy::datasource::{FileRows, NpyFormat, NpySource};

#[tokio::test]
async fn a_file_scan_config_built_by_hand() {
    let ctx = SessionContext::new();
    let state = ctx.state();
    let url = ObjectStoreUrl::local_filesystem();
    let store = state.runtime_env().object_store(&url).unwrap();
    let root = std::fs::canonicalize("sql-examples/data/readings").unwrap();
    let mut metas = Vec::new();
    for part in ["part-1.npy", "part-2.npy"] {
        let location = Path::from_filesystem_path(root.join(part)).unwrap();
        metas.push(store.head(&location).await.unwrap());
    }
    // The format infers the table's file schema: sensor, value, _row.
    let file_schema = NpyFormat::default().infer_schema(&state, &store, &metas).await.unwrap();
    let names: Vec<_> = file_schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["sensor", "value", "_row"]);

    let source = Arc::new(NpySource::new(TableSchema::from(file_schema), Default::default()));
    let files: Vec<PartitionedFile> = metas
        .iter()
        .enumerate()
        .map(|(i, meta)| PartitionedFile::new_from_meta(meta.clone()).with_extension(FileRows { offset: 100 * i as u64, rows: 100 }))
        .collect();
    let config = FileScanConfigBuilder::new(url, source)
        .with_projection_indices(Some(vec![2, 1]))
        .unwrap()
        .with_file_group(FileGroup::new(files))
        .build();
    let plan = DataSourceExec::from_data_source(config);
    let batches = collect(plan, ctx.task_ctx()).await.unwrap();
    let rows: Vec<i64> = batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect();
    assert_eq!(rows, (0..200).collect::<Vec<i64>>());
    // Row 100 is part-2's first row (numpy: expected.json readings_rows_99_100_1199).
    let values: Vec<f32> = batches.iter().flat_map(|b| b.column(1).as_primitive::<Float32Type>().values().to_vec()).collect();
    assert_eq!(values[100].to_string(), "2.8216403");
}
