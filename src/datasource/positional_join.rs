//! `a JOIN b ON a._row = b._row` as a positional join: rows are matched by their position, with
//! zero-copy slices, instead of hashing.
//!
//! DataFusion plans the join as a `HashJoinExec`: both sides are hash-repartitioned on `_row`
//! and the join output is gathered row by row, so a 1 GiB `features` column is copied twice
//! to pair it with its labels. But `_row` is a position: within one scan it is unique, and every
//! batch a scan yields is a run of consecutive values. [`PositionalJoinRule`] replaces an inner
//! hash join whose only key is `_row` of an `.npy`/`.npz` scan on both sides (seen through
//! nodes that only drop or move rows: filters, limits, sorts, repartitions, projections that keep
//! `_row`, and other positional joins) by a [`PositionalJoinExec`], which
//!
//! 1. collects the build (left) side and cuts every batch into runs of consecutive `_row` values
//!    (a filtered or sorted input just makes shorter runs), then
//! 2. streams each partition of the probe (right) side, cuts its batches into runs the same way,
//!    and for each overlap of a probe run with a build run emits the two slices side by side.
//!
//! That is an inner join on `_row` for any inputs in which `_row` is unique on each side, which
//! the rule checks from the plan (one scan, files with disjoint `_row` ranges); the output keeps
//! the join's schema and projection. The rule runs right after DataFusion's `join_selection`
//! (so the build side is the smaller one) and before distribution is enforced (so nothing above
//! relies on the hash join's output partitioning).

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, Int64Type, Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{internal_err, JoinType, Statistics};
use datafusion::datasource::physical_plan::FileSource;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::execution_plan::{Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions};
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::HashJoinExec;
use datafusion::physical_plan::limit::{GlobalLimitExec, LocalLimitExec};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    apply_expression_roots, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties,
    SendableRecordBatchStream,
};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::OnceCell;

use super::source::{row_column_index, FileRows, NpySource};

/// The physical optimizer rule: see the module docs. Its name is [`PositionalJoinRule::NAME`].
#[derive(Debug, Default)]
pub struct PositionalJoinRule;

impl PositionalJoinRule {
    pub const NAME: &'static str = "npy_positional_join";

    /// `rules` with this rule inserted right after DataFusion's `join_selection` (at the front
    /// if there is none); `None` if it is already there.
    pub fn insert_into(
        rules: &[Arc<dyn PhysicalOptimizerRule + Send + Sync>],
    ) -> Option<Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>>> {
        if rules.iter().any(|r| r.name() == Self::NAME) {
            return None;
        }
        let at = rules.iter().position(|r| r.name() == "join_selection").map_or(0, |i| i + 1);
        let mut rules = rules.to_vec();
        rules.insert(at, Arc::new(PositionalJoinRule));
        Some(rules)
    }
}

impl PhysicalOptimizerRule for PositionalJoinRule {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(join) = node.downcast_ref::<HashJoinExec>() else {
                return Ok(Transformed::no(node));
            };
            Ok(match PositionalJoinExec::try_from_hash_join(join) {
                Some(positional) => Transformed::yes(Arc::new(positional) as Arc<dyn ExecutionPlan>),
                None => Transformed::no(node),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Whether column `index` of `plan`'s output is `_row` of a single `.npy`/`.npz` scan, each of
/// whose rows appears at most once (so `_row` is unique in the output).
fn is_unique_row_position(plan: &Arc<dyn ExecutionPlan>, index: usize) -> bool {
    if let Some(projection) = plan.downcast_ref::<ProjectionExec>() {
        let passed_through = projection.expr().get(index).and_then(|e| e.expr.downcast_ref::<Column>().map(Column::index));
        return passed_through.is_some_and(|i| is_unique_row_position(projection.input(), i));
    }
    if let Some(filter) = plan.downcast_ref::<FilterExec>() {
        let input_index = match filter.projection() {
            Some(projection) => projection.get(index).copied(),
            None => Some(index),
        };
        return input_index.is_some_and(|i| is_unique_row_position(filter.input(), i));
    }
    // Nodes that pass every column through and only drop, reorder or move rows.
    let passes_rows_through = plan.downcast_ref::<RepartitionExec>().is_some()
        || plan.downcast_ref::<CoalescePartitionsExec>().is_some()
        || plan.downcast_ref::<GlobalLimitExec>().is_some()
        || plan.downcast_ref::<LocalLimitExec>().is_some()
        || plan.downcast_ref::<SortExec>().is_some();
    if passes_rows_through {
        return plan.children().first().is_some_and(|input| is_unique_row_position(input, index));
    }
    // A positional join's output: each side's `_row` stays unique (every row is matched once).
    if let Some(join) = plan.downcast_ref::<PositionalJoinExec>() {
        let joined = match &join.projection {
            Some(projection) => projection.get(index).copied(),
            None => Some(index),
        };
        let left_width = join.left.schema().fields().len();
        return match joined {
            Some(i) if i < left_width => is_unique_row_position(&join.left, i),
            Some(i) => is_unique_row_position(&join.right, i - left_width),
            None => false,
        };
    }
    plan.downcast_ref::<DataSourceExec>().is_some_and(|scan| scan_row_column(scan, index))
}

/// Whether output column `index` of an npy scan is its `_row`, numbered uniquely across files.
fn scan_row_column(scan: &DataSourceExec, index: usize) -> bool {
    let Some((config, source)) = scan.downcast_to_file_source::<NpySource>() else {
        return false;
    };
    let Some(row_index) = row_column_index(source.table_schema().file_schema()) else {
        return false;
    };
    let Some(projection) = FileSourceProjection::of(source) else {
        return false;
    };
    if projection.column_at(index) != Some(row_index) {
        return false;
    }
    // `_row` is unique if the files' `_row` ranges are disjoint. A file split into byte ranges
    // appears once per range, each range reading different rows of it.
    let mut places: HashMap<&str, Option<FileRows>> = HashMap::new();
    for file in config.file_groups.iter().flat_map(|g| g.files()) {
        places.insert(file.object_meta.location.as_ref(), file.extension::<FileRows>().copied());
    }
    if places.len() == 1 {
        return true;
    }
    let Some(mut ranges) = places.values().map(|p| p.map(|p| p.offset..p.offset + p.rows)).collect::<Option<Vec<_>>>()
    else {
        return false; // several files numbered from 0 each
    };
    ranges.retain(|r| !r.is_empty()); // an empty shard shares its offset with the next file
    ranges.sort_by_key(|r| r.start);
    ranges.windows(2).all(|w| w[0].end <= w[1].start)
}

/// The columns an `NpySource` hands out, as indices into its table schema (`None` for a
/// computed column).
struct FileSourceProjection(Vec<Option<usize>>);

impl FileSourceProjection {
    fn of(source: &NpySource) -> Option<Self> {
        let exprs = source.projection()?;
        Some(FileSourceProjection(exprs.iter().map(|p| p.expr.downcast_ref::<Column>().map(Column::index)).collect()))
    }

    fn column_at(&self, output: usize) -> Option<usize> {
        self.0.get(output).copied().flatten()
    }
}

/// An inner join on `_row`, by position: see the module docs.
#[derive(Debug)]
pub struct PositionalJoinExec {
    left: Arc<dyn ExecutionPlan>,
    right: Arc<dyn ExecutionPlan>,
    /// `_row` of each side (a column of that side's output).
    on: (Arc<dyn PhysicalExpr>, Arc<dyn PhysicalExpr>),
    /// Columns of `left ++ right` to output (all if `None`), as the replaced join had.
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    /// The build side, collected once for all output partitions.
    build: Arc<OnceCell<std::result::Result<Arc<BuildSide>, Arc<DataFusionError>>>>,
    metrics: ExecutionPlanMetricsSet,
}

impl PositionalJoinExec {
    /// The positional equivalent of `join`, if it is an inner join on `_row` alone between
    /// inputs in which `_row` is unique.
    pub fn try_from_hash_join(join: &HashJoinExec) -> Option<Self> {
        if *join.join_type() != JoinType::Inner || join.filter().is_some() || join.null_aware || join.fetch().is_some() {
            return None;
        }
        let [(left_key, right_key)] = join.on() else {
            return None;
        };
        let left_column = left_key.downcast_ref::<Column>()?;
        let right_column = right_key.downcast_ref::<Column>()?;
        let is_int64 = |plan: &Arc<dyn ExecutionPlan>, i: usize| plan.schema().field(i).data_type() == &DataType::Int64;
        if !is_int64(join.left(), left_column.index()) || !is_int64(join.right(), right_column.index()) {
            return None;
        }
        if !is_unique_row_position(join.left(), left_column.index())
            || !is_unique_row_position(join.right(), right_column.index())
        {
            return None;
        }
        let projection = join.projection.as_ref().map(|p| p.to_vec());
        Some(Self::new(
            Arc::clone(join.left()),
            Arc::clone(join.right()),
            (Arc::clone(left_key), Arc::clone(right_key)),
            projection,
            join.schema(),
        ))
    }

    pub(crate) fn new(
        left: Arc<dyn ExecutionPlan>,
        right: Arc<dyn ExecutionPlan>,
        on: (Arc<dyn PhysicalExpr>, Arc<dyn PhysicalExpr>),
        projection: Option<Vec<usize>>,
        schema: SchemaRef,
    ) -> Self {
        let partitions = right.output_partitioning().partition_count();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        PositionalJoinExec {
            left,
            right,
            on,
            projection,
            schema,
            properties: Arc::new(properties),
            build: Arc::new(OnceCell::new()),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The probe (right) side: each output partition is one of its partitions, in its order.
    pub(crate) fn probe(&self) -> &Arc<dyn ExecutionPlan> {
        &self.right
    }

    /// This join over `right`, a new probe side with the old one's columns first (and maybe
    /// more after them), whose output also carries `right`'s column `right_row`: the new join
    /// and where that column is in its output.
    pub(crate) fn carrying_probe_column(&self, right: Arc<dyn ExecutionPlan>, right_row: usize) -> Result<(Self, usize)> {
        let left_width = self.left.schema().fields().len();
        let old_right_width = self.right.schema().fields().len();
        let right_schema = right.schema();
        let Some(field) = right_schema.fields().get(right_row).cloned() else {
            return internal_err!("positional join: the probe side has no column {right_row}");
        };
        let joined = left_width + right_row;
        let mut fields: Vec<_> = self.schema.fields().iter().cloned().collect();
        let (projection, index) = match &self.projection {
            Some(projection) => match projection.iter().position(|&i| i == joined) {
                Some(at) => (Some(projection.clone()), at),
                None => {
                    fields.push(field);
                    let mut projection = projection.clone();
                    projection.push(joined);
                    (Some(projection), fields.len() - 1)
                }
            },
            None => {
                fields.extend(right_schema.fields().iter().skip(old_right_width).cloned());
                (None, joined)
            }
        };
        let schema = Arc::new(Schema::new_with_metadata(fields, self.schema.metadata().clone()));
        let join = PositionalJoinExec::new(Arc::clone(&self.left), right, self.on.clone(), projection, schema);
        Ok((join, index))
    }

    fn key_index(key: &Arc<dyn PhysicalExpr>) -> Result<usize> {
        match key.downcast_ref::<Column>() {
            Some(column) => Ok(column.index()),
            None => internal_err!("positional join key is not a column: {key}"),
        }
    }
}

impl PositionalJoinExec {
    /// What a plan codec carries (`crate::distributed`): the `_row` keys, the output
    /// projection and schema (the inputs travel as children).
    #[cfg_attr(not(feature = "distributed"), allow(dead_code))]
    pub(crate) fn wire_parts(&self) -> (&(Arc<dyn PhysicalExpr>, Arc<dyn PhysicalExpr>), Option<&[usize]>, &SchemaRef) {
        (&self.on, self.projection.as_deref(), &self.schema)
    }
}

impl DisplayAs for PositionalJoinExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        match t {
            DisplayFormatType::TreeRender => writeln!(f, "on=({}, {})", self.on.0, self.on.1),
            _ => {
                write!(f, "PositionalJoinExec: on=[({}, {})]", self.on.0, self.on.1)?;
                if let Some(projection) = &self.projection {
                    let names: Vec<String> =
                        self.schema.fields().iter().zip(projection).map(|(field, i)| format!("{}@{i}", field.name())).collect();
                    write!(f, ", projection=[{}]", names.join(", "))?;
                }
                Ok(())
            }
        }
    }
}

impl ExecutionPlan for PositionalJoinExec {
    fn name(&self) -> &str {
        "PositionalJoinExec"
    }

    fn static_name() -> &'static str {
        "PositionalJoinExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.left, &self.right]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        apply_expression_roots([&self.on.0, &self.on.1], f)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [left, right] = <[_; 2]>::try_from(children)
            .map_err(|c| DataFusionError::Internal(format!("PositionalJoinExec takes 2 children, got {}", c.len())))?;
        // Fresh state: a new build side for the new inputs.
        Ok(Arc::new(PositionalJoinExec::new(
            left,
            right,
            self.on.clone(),
            self.projection.clone(),
            Arc::clone(&self.schema),
        )))
    }

    #[allow(deprecated)]
    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let left_key = Self::key_index(&self.on.0)?;
        let right_key = Self::key_index(&self.on.1)?;
        let probe = self.right.execute(partition, Arc::clone(&context))?;
        let build_cell = Arc::clone(&self.build);
        let left = Arc::clone(&self.left);
        let schema = Arc::clone(&self.schema);
        let projection = self.projection.clone();
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let (output_rows, output_batches) = (baseline.output_rows().clone(), baseline.output_batches().clone());
        let stream = futures::stream::once(async move {
            let build = build_cell
                .get_or_init(|| async move { BuildSide::collect(left, left_key, context).await.map(Arc::new).map_err(Arc::new) })
                .await
                .clone()
                .map_err(DataFusionError::Shared)?;
            let joiner = Joiner { build, right_key, schema, projection };
            let elapsed = baseline.elapsed_compute().clone();
            let joined = probe
                .map(move |batch| {
                    let _timer = elapsed.timer();
                    batch.and_then(|b| joiner.join(&b))
                })
                .map_ok(|pieces| futures::stream::iter(pieces.into_iter().map(Ok)))
                .try_flatten();
            Ok::<_, DataFusionError>(joined)
        })
        .try_flatten()
        .inspect_ok(move |batch| {
            output_batches.add(1);
            output_rows.add(batch.num_rows());
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&self.schema), stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn partition_statistics(&self, _partition: Option<usize>) -> Result<Arc<Statistics>> {
        Ok(Arc::new(Statistics::new_unknown(&self.schema)))
    }
}

/// The collected left side, as runs of consecutive `_row` values sorted by their first value.
#[derive(Debug)]
struct BuildSide {
    batches: Vec<RecordBatch>,
    runs: Vec<Run>,
    _reservation: MemoryReservation,
}

/// `len` rows of `batches[batch]` from row `offset` on, whose `_row` values are
/// `first, first + 1, …`.
#[derive(Debug, Clone, Copy)]
struct Run {
    first: i64,
    batch: usize,
    offset: usize,
    len: usize,
}

impl Run {
    fn rows(&self) -> Range<i64> {
        self.first..self.first.saturating_add(self.len as i64)
    }
}

impl BuildSide {
    async fn collect(left: Arc<dyn ExecutionPlan>, key: usize, context: Arc<TaskContext>) -> Result<Self> {
        let reservation = MemoryConsumer::new("PositionalJoinExec[build]").register(context.memory_pool());
        let mut stream = datafusion::physical_plan::execute_stream(left, context)?;
        let mut batches = Vec::new();
        let mut runs = Vec::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            // The bytes this batch's slices hold, not the size of a memory map they may point into.
            let bytes: usize = batch.columns().iter().map(|c| c.to_data().get_slice_memory_size().unwrap_or(0)).sum();
            reservation.try_grow(bytes)?;
            runs.extend(consecutive_runs(row_positions(&batch, key)?).map(|(first, offset, len)| Run {
                first,
                batch: batches.len(),
                offset,
                len,
            }));
            batches.push(batch);
        }
        runs.sort_unstable_by_key(|r| r.first);
        if let Some(w) = runs.windows(2).find(|w| w[0].rows().end > w[1].first) {
            return internal_err!("positional join: _row {} appears twice on the build side", w[1].first);
        }
        Ok(BuildSide { batches, runs, _reservation: reservation })
    }

    /// The build runs that overlap `rows`.
    fn overlapping(&self, rows: Range<i64>) -> impl Iterator<Item = &Run> {
        let from = self.runs.partition_point(|r| r.rows().end <= rows.start);
        self.runs[from..].iter().take_while(move |r| r.first < rows.end)
    }
}

/// Joins probe batches against a collected build side.
struct Joiner {
    build: Arc<BuildSide>,
    right_key: usize,
    schema: SchemaRef,
    projection: Option<Vec<usize>>,
}

impl Joiner {
    /// The pieces of `probe` that have a partner, each beside its partner's slice.
    fn join(&self, probe: &RecordBatch) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        for (first, offset, len) in consecutive_runs(row_positions(probe, self.right_key)?) {
            let probe_rows = first..first.saturating_add(len as i64);
            for run in self.build.overlapping(probe_rows.clone()) {
                let start = run.first.max(probe_rows.start);
                let end = run.rows().end.min(probe_rows.end);
                let n = (end - start) as usize;
                let left = self.build.batches[run.batch].slice(run.offset + (start - run.first) as usize, n);
                let right = probe.slice(offset + (start - first) as usize, n);
                out.push(self.piece(&left, &right)?);
            }
        }
        Ok(out)
    }

    fn piece(&self, left: &RecordBatch, right: &RecordBatch) -> Result<RecordBatch> {
        let joined: Vec<&ArrayRef> = left.columns().iter().chain(right.columns()).collect();
        let columns: Vec<ArrayRef> = match &self.projection {
            Some(projection) => projection.iter().map(|&i| Arc::clone(joined[i])).collect(),
            None => joined.into_iter().cloned().collect(),
        };
        let options = RecordBatchOptions::new().with_row_count(Some(left.num_rows()));
        Ok(RecordBatch::try_new_with_options(Arc::clone(&self.schema), columns, &options)?)
    }
}

fn row_positions(batch: &RecordBatch, key: usize) -> Result<&Int64Array> {
    match batch.columns().get(key).and_then(|c| c.as_primitive_opt::<Int64Type>()) {
        Some(rows) => Ok(rows),
        None => internal_err!("positional join: column {key} is not an Int64 _row"),
    }
}

/// Maximal runs `(first value, offset, len)` of consecutive increasing values, nulls skipped.
fn consecutive_runs(rows: &Int64Array) -> impl Iterator<Item = (i64, usize, usize)> + '_ {
    let values = rows.values();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < values.len() && rows.is_null(i) {
            i += 1;
        }
        if i == values.len() {
            return None;
        }
        let start = i;
        i += 1;
        while i < values.len() && rows.is_valid(i) && values[i - 1].checked_add(1) == Some(values[i]) {
            i += 1;
        }
        Some((values[start], start, i - start))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_split_at_gaps_reversals_and_nulls() {
        let rows = Int64Array::from(vec![Some(5), Some(6), Some(7), Some(9), None, Some(10), Some(3), Some(4), Some(i64::MAX)]);
        let runs: Vec<_> = consecutive_runs(&rows).collect();
        assert_eq!(runs, vec![(5, 0, 3), (9, 3, 1), (10, 5, 1), (3, 6, 2), (i64::MAX, 8, 1)]);
        assert_eq!(consecutive_runs(&Int64Array::from(Vec::<i64>::new())).count(), 0);
        assert_eq!(consecutive_runs(&Int64Array::from(vec![None, None])).count(), 0);
    }
}
