//! `COPY (query) TO 'out.npy' | 'out.npz' STORED AS NPY`: a DataFusion `DataSink` that streams
//! batches into `crate::format::writer::ArrayFileWriter`.

use std::sync::Arc;

use datafusion::catalog::Session;
use datafusion::datasource::physical_plan::FileSinkConfig;
use datafusion::error::Result;
use datafusion::physical_expr::LexRequirement;
use datafusion::physical_plan::ExecutionPlan;

/// The body of `NpyFormat::create_writer_physical_plan` (same arguments).
pub async fn create_writer_physical_plan(
    input: Arc<dyn ExecutionPlan>,
    state: &dyn Session,
    conf: FileSinkConfig,
    order_requirements: Option<LexRequirement>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let _ = (input, state, conf, order_requirements);
    datafusion::common::not_impl_err!("COPY TO .npy/.npz is not implemented yet")
}
