//! Rows in `_row` order out of a parallel scan: for an array, a row's position is its identity.
//!
//! A numpy scan is split across partitions, and DataFusion merges partitions in whatever order
//! their batches arrive (`CoalescePartitionsExec`, also added at run time by `collect` and
//! `execute_stream` when a plan ends in several partitions). [`KeepRowOrderRule`] replaces that
//! merge, where it sits above an order-keeping chain over one `.npy`/`.npz` scan, by a
//! [`RowOrderMergeExec`]:
//!
//! - The chain is what keeps each partition ascending in `_row`: projections, filters, local
//!   limits, batch coalescing, a round-robin repartition of a single partition, positional
//!   joins (along their probe side), down to an `NpySource` scan whose file groups each read
//!   ascending, disjoint `_row` ranges (natural file order, as planned). Anything else
//!   (aggregates, sorts, hash joins, unions) leaves the plan alone.
//! - `_row` is made to flow up to the merge: appended to the scan's projection and to the
//!   projections above it if they dropped it, and projected away again above the merge, so the
//!   plan's schema does not change.
//! - The merge points are found from the root down through nodes that pass rows on in order
//!   (projection, filter, limits, `DataSinkExec` for `COPY`): a `CoalescePartitionsExec` (with
//!   its `fetch`), or the first node with several partitions, which becomes the merge's input so
//!   the root ends in one partition.
//!
//! [`RowOrderMergeExec`] merges by runs, not rows: of the partitions' head batches it takes the
//! one whose next `_row` is smallest and emits, as one zero-copy slice, all its rows below every
//! other head's next `_row` (a binary search: each partition is ascending). Each partition runs
//! in its own task with a bounded buffer of rows; with the scan dealt out in interleaved chunks
//! (`NpySource::with_row_order`), the partition holding the next chunk is never far behind, so
//! all partitions keep scanning. Every input row is emitted exactly once whatever the input
//! order: were a partition not ascending, rows would come out of order, never lost or doubled.
//!
//! `SET npy.preserve_row_order = false` ([`NpySessionOptions`]) turns the rule off: DataFusion's
//! own plan, partitions interleaved as they finish.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Array};
use datafusion::arrow::datatypes::{Int64Type, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::internal_err;
use datafusion::common::runtime::SpawnedTask;
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder, FileSource};
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};
use datafusion::physical_plan::limit::{GlobalLimitExec, LocalLimitExec};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr, ProjectionExprs};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    replace_children_if_necessary, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
    SendableRecordBatchStream,
};
use futures::StreamExt;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::datasource::context::NpySessionOptions;
use crate::datasource::positional_join::PositionalJoinExec;
use crate::datasource::source::{byte_range_as_rows, row_column_index, FileRows, NpySource, ROW_ORDER_CHUNK_BYTES};
use crate::datasource::ROW_COLUMN;

/// The physical optimizer rule: see the module docs. Its name is [`KeepRowOrderRule::NAME`].
#[derive(Debug, Default)]
pub struct KeepRowOrderRule;

impl KeepRowOrderRule {
    pub const NAME: &'static str = "npy_keep_row_order";

    /// `rules` with this rule inserted before DataFusion's `EnsureCooperative` (so after every
    /// rule that adds or moves merges and limits; at the end if there is none); `None` if it is
    /// already there.
    pub fn insert_into(
        rules: &[Arc<dyn PhysicalOptimizerRule + Send + Sync>],
    ) -> Option<Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>>> {
        if rules.iter().any(|r| r.name() == Self::NAME) {
            return None;
        }
        let at = rules.iter().position(|r| r.name() == "EnsureCooperative").unwrap_or(rules.len());
        let mut rules = rules.to_vec();
        rules.insert(at, Arc::new(KeepRowOrderRule));
        Some(rules)
    }
}

impl PhysicalOptimizerRule for KeepRowOrderRule {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        if !NpySessionOptions::preserve_row_order(config) {
            return Ok(plan);
        }
        keep_order(plan, config.execution.batch_size.get())
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` with its first merge of partitions below the root (through nodes that pass rows on
/// in order) made order-keeping, where it can be.
fn keep_order(plan: Arc<dyn ExecutionPlan>, batch_size: usize) -> Result<Arc<dyn ExecutionPlan>> {
    if plan.output_partitioning().partition_count() > 1 {
        if let Some(merge) = ordered_merge(&plan, None, batch_size)? {
            return Ok(merge);
        }
    }
    if let Some(coalesce) = plan.downcast_ref::<CoalescePartitionsExec>() {
        return Ok(ordered_merge(coalesce.input(), coalesce.fetch(), batch_size)?.unwrap_or(plan));
    }
    if let Some(repartition) = plan.downcast_ref::<RepartitionExec>() {
        // DataFusion deals one ordered partition (a `LIMIT`'s output, say) round robin to
        // parallelise the expressions above it, and its partitions are then merged as they come.
        // Over numpy rows in order, keep the one partition instead.
        if matches!(repartition.partitioning(), Partitioning::RoundRobinBatch(_))
            && repartition.input().output_partitioning().partition_count() == 1
        {
            let input = keep_order(Arc::clone(repartition.input()), batch_size)?;
            if reads_npy_rows_in_order(&input) {
                return Ok(input);
            }
            return replace_children_if_necessary(plan, vec![input]);
        }
    }
    let passes_rows_in_order = plan.downcast_ref::<ProjectionExec>().is_some()
        || plan.downcast_ref::<FilterExec>().is_some()
        || plan.downcast_ref::<GlobalLimitExec>().is_some()
        || plan.downcast_ref::<LocalLimitExec>().is_some()
        || plan.downcast_ref::<DataSinkExec>().is_some();
    let [child] = plan.children()[..] else {
        return Ok(plan);
    };
    if !passes_rows_in_order {
        return Ok(plan);
    }
    let child = keep_order(Arc::clone(child), batch_size)?;
    replace_children_if_necessary(plan, vec![child])
}

/// Whether `plan` is one partition of numpy rows in `_row` order: an npy scan of one partition
/// or an order-keeping merge, under nodes that pass rows on in order.
fn reads_npy_rows_in_order(plan: &Arc<dyn ExecutionPlan>) -> bool {
    if plan.output_partitioning().partition_count() != 1 {
        return false;
    }
    if plan.downcast_ref::<RowOrderMergeExec>().is_some() {
        return true;
    }
    if let Some(scan) = plan.downcast_ref::<DataSourceExec>() {
        return scan.downcast_to_file_source::<NpySource>().is_some();
    }
    if let Some(join) = plan.downcast_ref::<PositionalJoinExec>() {
        return reads_npy_rows_in_order(join.probe());
    }
    let passes_rows_in_order = plan.downcast_ref::<ProjectionExec>().is_some()
        || plan.downcast_ref::<FilterExec>().is_some()
        || plan.downcast_ref::<GlobalLimitExec>().is_some()
        || plan.downcast_ref::<LocalLimitExec>().is_some();
    match plan.children()[..] {
        [child] if passes_rows_in_order => reads_npy_rows_in_order(child),
        _ => false,
    }
}

/// The partitions of `input` merged in `_row` order (at most `fetch` rows), with `input`'s
/// schema; `None` if `input` is not an order-keeping chain over an npy scan.
fn ordered_merge(
    input: &Arc<dyn ExecutionPlan>,
    fetch: Option<usize>,
    batch_size: usize,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if input.output_partitioning().partition_count() < 2 {
        return Ok(None);
    }
    let Some(carried) = carry_row(input)? else {
        return Ok(None);
    };
    // Two chunks per partition: it can scan its next chunk while the merge drains the others'.
    let budget = carried.chunk_rows.map_or(batch_size, |rows| usize::try_from(rows.saturating_mul(2)).unwrap_or(usize::MAX));
    let merge: Arc<dyn ExecutionPlan> =
        Arc::new(
            RowOrderMergeExec::new(carried.plan, carried.row, fetch, budget.max(batch_size))
                .with_schema_metadata(input.schema().metadata().clone()),
        );
    let schema = input.schema();
    if merge.schema().fields().len() == schema.fields().len() {
        return Ok(Some(merge));
    }
    let columns = schema.fields().iter().enumerate().map(|(i, field)| {
        ProjectionExpr::new(Arc::new(Column::new(field.name(), i)), field.name().clone())
    });
    Ok(Some(Arc::new(ProjectionExec::try_new(columns, merge)?)))
}

/// An order-keeping chain rebuilt to output `_row` too: the new plan (the old columns first),
/// where `_row` is in its output, and the most rows a scan partition reads per chunk (if known).
struct Carried {
    plan: Arc<dyn ExecutionPlan>,
    row: usize,
    chunk_rows: Option<u64>,
}

/// `plan` rebuilt to carry `_row` up, if every node from it down to an npy scan keeps each
/// partition ascending in `_row` (see the module docs).
fn carry_row(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Carried>> {
    if let Some(scan) = plan.downcast_ref::<DataSourceExec>() {
        return Ok(carry_row_in_scan(scan));
    }
    if let Some(projection) = plan.downcast_ref::<ProjectionExec>() {
        let Some(below) = carry_row(projection.input())? else { return Ok(None) };
        let mut exprs = projection.expr().to_vec();
        let row = match exprs.iter().position(|p| is_column(&p.expr, below.row)) {
            Some(at) => at,
            None => {
                exprs.push(ProjectionExpr::new(Arc::new(Column::new(ROW_COLUMN, below.row)), ROW_COLUMN));
                exprs.len() - 1
            }
        };
        let plan = Arc::new(ProjectionExec::try_new(exprs, below.plan)?);
        return Ok(Some(Carried { plan, row, ..below }));
    }
    if let Some(filter) = plan.downcast_ref::<FilterExec>() {
        let Some(below) = carry_row(filter.input())? else { return Ok(None) };
        let (projection, row) = match filter.projection() {
            None => (None, below.row),
            Some(columns) => {
                let mut columns = columns.to_vec();
                let at = match columns.iter().position(|&c| c == below.row) {
                    Some(at) => at,
                    None => {
                        columns.push(below.row);
                        columns.len() - 1
                    }
                };
                (Some(columns), at)
            }
        };
        let rebuilt = FilterExecBuilder::new(Arc::clone(filter.predicate()), below.plan)
            .with_default_selectivity(filter.default_selectivity())
            .with_batch_size(filter.batch_size())
            .with_fetch(filter.fetch())
            .apply_projection(projection)?
            .build()?;
        return Ok(Some(Carried { plan: Arc::new(rebuilt), row, ..below }));
    }
    if let Some(join) = plan.downcast_ref::<PositionalJoinExec>() {
        // Each output partition is a probe partition's rows, in its order.
        let Some(below) = carry_row(join.probe())? else { return Ok(None) };
        let (rebuilt, row) = join.carrying_probe_column(below.plan, below.row)?;
        return Ok(Some(Carried { plan: Arc::new(rebuilt), row, ..below }));
    }
    let passes_partitions_in_order = plan.downcast_ref::<LocalLimitExec>().is_some()
        // Batches of one partition dealt round robin: each output keeps their order.
        || plan.downcast_ref::<RepartitionExec>().is_some_and(|r| {
            matches!(r.partitioning(), Partitioning::RoundRobinBatch(_))
                && r.input().output_partitioning().partition_count() == 1
        });
    if !passes_partitions_in_order {
        return Ok(None);
    }
    let [child] = plan.children()[..] else { return Ok(None) };
    let Some(below) = carry_row(child)? else { return Ok(None) };
    let plan = Arc::clone(plan).replace_children(vec![below.plan], ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))?;
    Ok(Some(Carried { plan, ..below }))
}

fn is_column(expr: &Arc<dyn PhysicalExpr>, index: usize) -> bool {
    expr.downcast_ref::<Column>().is_some_and(|c| c.index() == index)
}

/// An npy scan carrying `_row` (added to its projection if need be), if each of its file groups
/// reads ascending, disjoint `_row` ranges.
fn carry_row_in_scan(scan: &DataSourceExec) -> Option<Carried> {
    let (config, source) = scan.downcast_to_file_source::<NpySource>()?;
    let row_index = row_column_index(source.table_schema().file_schema())?;
    let chunk_rows = ascending_groups(config)?;
    let exprs = source.projection()?;
    // DataFusion lets idle partitions of a scan take files from the others' groups unless
    // told that order matters: each partition must read its own group, in order.
    let keep_groups = |config: FileScanConfig| FileScanConfigBuilder::from(config).with_preserve_order(true).build();
    if let Some(at) = exprs.iter().position(|p| is_column(&p.expr, row_index)) {
        let plan = DataSourceExec::from_data_source(keep_groups(config.clone()));
        return Some(Carried { plan, row: at, chunk_rows });
    }
    let mut with_row: Vec<ProjectionExpr> = exprs.iter().cloned().collect();
    with_row.push(ProjectionExpr::new(Arc::new(Column::new(ROW_COLUMN, row_index)), ROW_COLUMN));
    let row = with_row.len() - 1;
    let source = source.with_projection_exprs(&ProjectionExprs::new(with_row));
    let config = keep_groups(FileScanConfigBuilder::from(config.clone()).with_source(Arc::new(source)).build());
    Some(Carried { plan: DataSourceExec::from_data_source(config), row, chunk_rows })
}

/// Whether every file group of `config` reads ascending, disjoint `_row` ranges; if so, the
/// most rows one of its pieces holds in a chunk of [`ROW_ORDER_CHUNK_BYTES`] (`Some(None)` when
/// the files carry no [`FileRows`]: then they must be ranges of one file).
fn ascending_groups(config: &FileScanConfig) -> Option<Option<u64>> {
    let files: Vec<_> = config.file_groups.iter().flat_map(|g| g.files()).collect();
    if files.iter().any(|f| f.extension::<FileRows>().is_none()) {
        // Numbered from 0 in each file: ascending only as byte ranges of a single file.
        let one_file = files.windows(2).all(|w| w[0].object_meta.location == w[1].object_meta.location);
        let ascending = config.file_groups.iter().all(|g| {
            g.files().windows(2).all(|w| match (&w[0].range, &w[1].range) {
                (Some(a), Some(b)) => a.end <= b.start,
                _ => false,
            })
        });
        return (one_file && ascending).then_some(None);
    }
    let mut most = 0u64;
    for group in &config.file_groups {
        let mut end = 0u64;
        for file in group.files() {
            let place = file.extension::<FileRows>()?;
            let size = file.object_meta.size;
            let rows = match &file.range {
                Some(range) => byte_range_as_rows(range.start, range.end, size, place.rows),
                None => 0..place.rows,
            };
            if rows.is_empty() {
                continue;
            }
            let first = place.offset.checked_add(rows.start)?;
            if first < end {
                return None;
            }
            end = place.offset.checked_add(rows.end)?;
            let per_chunk = if size == 0 {
                place.rows
            } else {
                (ROW_ORDER_CHUNK_BYTES as u128 * place.rows as u128).div_ceil(size as u128).min(u64::MAX as u128) as u64
            };
            most = most.max(per_chunk.min(rows.end - rows.start));
        }
    }
    Some(Some(most.max(1)))
}

/// Merges the partitions of its input, each ascending in column `row` (`_row`), into one
/// partition in `_row` order: see the module docs.
#[derive(Debug)]
pub struct RowOrderMergeExec {
    input: Arc<dyn ExecutionPlan>,
    row: usize,
    fetch: Option<usize>,
    /// Rows each partition may buffer ahead of the merge.
    budget_rows: usize,
    /// The input's schema, with the schema-level metadata of the plan this merge replaces (see
    /// [`RowOrderMergeExec::with_schema_metadata`]).
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl RowOrderMergeExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, row: usize, fetch: Option<usize>, budget_rows: usize) -> Self {
        let schema = input.schema();
        Self::with_schema(input, row, fetch, budget_rows, schema)
    }

    /// This merge handing out its batches with `metadata` as their schema's metadata. Carrying
    /// `_row` up rebuilds joins and projections, and a join of two numpy record tables has the
    /// schema-level metadata (`numpy.descr`) of one of them, not necessarily the one DataFusion
    /// chose; the merge restores the replaced plan's, so the plan's schema does not change.
    pub fn with_schema_metadata(self, metadata: std::collections::HashMap<String, String>) -> Self {
        if &metadata == self.schema.metadata() {
            return self;
        }
        let schema = Arc::new(self.schema.as_ref().clone().with_metadata(metadata));
        Self::with_schema(self.input, self.row, self.fetch, self.budget_rows, schema)
    }

    fn with_schema(
        input: Arc<dyn ExecutionPlan>,
        row: usize,
        fetch: Option<usize>,
        budget_rows: usize,
        schema: SchemaRef,
    ) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            input.pipeline_behavior(),
            input.boundedness(),
        );
        RowOrderMergeExec {
            input,
            row,
            fetch,
            budget_rows: budget_rows.max(1),
            schema,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl RowOrderMergeExec {
    /// What a plan codec carries (`crate::distributed`): `_row`'s column, the fetch, the
    /// per-partition budget and the schema metadata (the input travels as the child).
    #[cfg_attr(not(feature = "distributed"), allow(dead_code))]
    pub(crate) fn wire_parts(&self) -> (usize, Option<usize>, usize, &std::collections::HashMap<String, String>) {
        (self.row, self.fetch, self.budget_rows, self.schema.metadata())
    }
}

impl DisplayAs for RowOrderMergeExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let schema = self.input.schema();
        let name = schema.fields().get(self.row).map(|f| f.name().as_str()).unwrap_or("?");
        match t {
            DisplayFormatType::TreeRender => {
                writeln!(f, "order={name}")?;
                if let Some(fetch) = self.fetch {
                    writeln!(f, "fetch={fetch}")?;
                }
                Ok(())
            }
            _ => {
                write!(f, "RowOrderMergeExec: order={name}@{}", self.row)?;
                if let Some(fetch) = self.fetch {
                    write!(f, ", fetch={fetch}")?;
                }
                Ok(())
            }
        }
    }
}

impl ExecutionPlan for RowOrderMergeExec {
    fn name(&self) -> &str {
        "RowOrderMergeExec"
    }

    fn static_name() -> &'static str {
        "RowOrderMergeExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [input] = <[_; 1]>::try_from(children)
            .map_err(|c| DataFusionError::Internal(format!("RowOrderMergeExec takes 1 child, got {}", c.len())))?;
        let merge = RowOrderMergeExec::new(input, self.row, self.fetch, self.budget_rows);
        Ok(Arc::new(merge.with_schema_metadata(self.schema.metadata().clone())))
    }

    #[allow(deprecated)]
    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn fetch(&self) -> Option<usize> {
        self.fetch
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("RowOrderMergeExec has one partition, asked for {partition}");
        }
        let count = self.input.output_partitioning().partition_count();
        let budget = u32::try_from(self.budget_rows).unwrap_or(u32::MAX).min(Semaphore::MAX_PERMITS as u32);
        let mut inputs = Vec::with_capacity(count);
        for p in 0..count {
            let stream = self.input.execute(p, Arc::clone(&context))?;
            inputs.push(Input::spawn(stream, budget));
        }
        let merger = Merger { inputs, row: self.row, remaining: self.fetch };
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let (output_rows, output_batches) = (baseline.output_rows().clone(), baseline.output_batches().clone());
        let schema = self.schema();
        let relabel = !Arc::ptr_eq(&schema, &self.input.schema());
        let stream = futures::stream::unfold(merger, |mut merger| async move {
            let next = merger.next().await?;
            Some((next, merger))
        })
        .map(move |batch| match batch {
            // Same columns; only the schema-level metadata differs (`with_schema` would refuse
            // a different value under the same key).
            Ok(batch) if relabel => {
                let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
                Ok(RecordBatch::try_new_with_options(Arc::clone(&schema), batch.columns().to_vec(), &options)?)
            }
            other => other,
        })
        .inspect(move |batch| {
            if let Ok(batch) = batch {
                output_batches.add(1);
                output_rows.add(batch.num_rows());
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema(), stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }
}

/// A batch buffered ahead of the merge, holding its rows' share of the partition's budget.
struct Buffered {
    batch: RecordBatch,
    _permit: OwnedSemaphorePermit,
}

/// One input partition: its task, and the batch the merge is taking rows from.
struct Input {
    receiver: mpsc::UnboundedReceiver<Result<Buffered>>,
    task: Option<SpawnedTask<()>>,
    head: Option<Head>,
    done: bool,
}

struct Head {
    buffered: Buffered,
    rows: Int64Array,
    /// Rows before this one were emitted.
    offset: usize,
}

impl Head {
    fn next_row(&self) -> i64 {
        self.rows.values()[self.offset]
    }
}

impl Input {
    /// Runs `stream` in a task that stays at most `budget` rows ahead of the merge (a batch
    /// larger than the budget is let through alone).
    fn spawn(mut stream: SendableRecordBatchStream, budget: u32) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        let semaphore = Arc::new(Semaphore::new(budget as usize));
        let task = SpawnedTask::spawn(async move {
            while let Some(item) = stream.next().await {
                let message = match item {
                    Ok(batch) if batch.num_rows() == 0 => continue,
                    Ok(batch) => {
                        let rows = u32::try_from(batch.num_rows()).unwrap_or(u32::MAX).min(budget);
                        let Ok(permit) = Arc::clone(&semaphore).acquire_many_owned(rows).await else { return };
                        Ok(Buffered { batch, _permit: permit })
                    }
                    Err(e) => Err(e),
                };
                let failed = message.is_err();
                if sender.send(message).is_err() || failed {
                    return;
                }
            }
        });
        Input { receiver, task: Some(task), head: None, done: false }
    }

    /// Wait until this input has a head batch or is finished.
    async fn fill(&mut self, row: usize) -> Result<()> {
        while self.head.is_none() && !self.done {
            match self.receiver.recv().await {
                Some(Ok(buffered)) => {
                    let Some(rows) = buffered.batch.columns().get(row).and_then(|c| c.as_primitive_opt::<Int64Type>()) else {
                        return internal_err!("RowOrderMergeExec: column {row} is not an Int64 _row");
                    };
                    if rows.null_count() > 0 {
                        return internal_err!("RowOrderMergeExec: _row has nulls");
                    }
                    let rows = rows.clone();
                    self.head = Some(Head { buffered, rows, offset: 0 });
                }
                Some(Err(e)) => return Err(e),
                None => {
                    self.done = true;
                    // The task ended: normally, or by a panic, which is reported, not swallowed.
                    if let Some(task) = self.task.take() {
                        task.join().await.map_err(|e| DataFusionError::ExecutionJoin(Box::new(e)))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The merge's state: see the module docs.
struct Merger {
    inputs: Vec<Input>,
    row: usize,
    remaining: Option<usize>,
}

impl Merger {
    async fn next(&mut self) -> Option<Result<RecordBatch>> {
        if self.remaining == Some(0) {
            return None;
        }
        for input in &mut self.inputs {
            if let Err(e) = input.fill(self.row).await {
                return Some(Err(e));
            }
        }
        // The head with the smallest next `_row` (the first such partition on ties), and the
        // smallest next `_row` of the others: its rows below that bound come next.
        let nexts: Vec<(usize, i64)> =
            self.inputs.iter().enumerate().filter_map(|(i, input)| Some((i, input.head.as_ref()?.next_row()))).collect();
        let smallest = nexts.iter().copied().min_by_key(|&(i, next)| (next, i));
        let bound = nexts.iter().filter(|&&(i, _)| Some(i) != smallest.map(|s| s.0)).map(|&(_, next)| next).min();
        let (at, _) = smallest?;
        let input = &mut self.inputs[at];
        let head = input.head.as_mut()?;
        let ahead = &head.rows.values()[head.offset..];
        let mut take = match bound {
            Some(bound) => ahead.partition_point(|&r| r < bound),
            None => ahead.len(),
        };
        // At least one row, so that equal `_row`s in two partitions cannot stall the merge.
        take = take.max(1);
        if let Some(remaining) = &mut self.remaining {
            take = take.min(*remaining);
            *remaining -= take;
        }
        let piece = head.buffered.batch.slice(head.offset, take);
        head.offset += take;
        if head.offset == head.rows.len() {
            input.head = None;
        }
        Some(Ok(piece))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, Int32Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::memory::MemorySourceConfig;
    use datafusion::prelude::SessionContext;

    fn batch(schema: &SchemaRef, rows: std::ops::Range<i64>) -> RecordBatch {
        let values: ArrayRef = Arc::new(Int32Array::from_iter_values(rows.clone().map(|r| (r * 10) as i32)));
        let rows: ArrayRef = Arc::new(Int64Array::from_iter_values(rows));
        RecordBatch::try_new(Arc::clone(schema), vec![values, rows]).unwrap()
    }

    async fn merged(partitions: Vec<Vec<std::ops::Range<i64>>>, fetch: Option<usize>, budget: usize) -> Vec<i64> {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false), Field::new("_row", DataType::Int64, false)]));
        let data: Vec<Vec<RecordBatch>> =
            partitions.into_iter().map(|p| p.into_iter().map(|r| batch(&schema, r)).collect()).collect();
        let input = MemorySourceConfig::try_new_exec(&data, Arc::clone(&schema), None).unwrap();
        let merge = Arc::new(RowOrderMergeExec::new(input, 1, fetch, budget));
        let ctx = SessionContext::new();
        let batches = datafusion::physical_plan::collect(merge, ctx.task_ctx()).await.unwrap();
        let mut rows = Vec::new();
        for b in &batches {
            let x = b.column(0).as_primitive::<datafusion::arrow::datatypes::Int32Type>();
            let r = b.column(1).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                assert_eq!(x.value(i) as i64, r.value(i) * 10, "columns stay aligned");
                rows.push(r.value(i));
            }
        }
        rows
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn interleaved_chunks_come_out_in_order() {
        // Partition p holds chunks p, p + 3, …; batches cut across chunk boundaries.
        let parts = vec![
            vec![0..5, 5..10, 30..35, 35..40],
            vec![10..13, 13..20, 40..50],
            vec![20..30, 50..60, 60..61],
        ];
        for budget in [1, 4, 100] {
            assert_eq!(merged(parts.clone(), None, budget).await, (0..61).collect::<Vec<_>>());
        }
        assert_eq!(merged(parts, Some(23), 8).await, (0..23).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_with_holes_and_empty_partitions() {
        // Filtered partitions: gaps, single rows, an empty partition.
        let parts = vec![vec![1..3, 7..8, 20..25], vec![], vec![3..7, 9..12, 25..26]];
        let expected: Vec<i64> = [1..3, 3..7, 7..8, 9..12, 20..25, 25..26].into_iter().flatten().collect();
        assert_eq!(merged(parts, None, 2).await, expected);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unsorted_input_loses_no_row() {
        // Not the merge's premise, but every row still comes out exactly once.
        let parts = vec![vec![5..9, 0..3], vec![3..5, 2..4]];
        let mut rows = merged(parts, None, 3).await;
        rows.sort();
        assert_eq!(rows, vec![0, 1, 2, 2, 3, 3, 4, 5, 6, 7, 8]);
    }
}
