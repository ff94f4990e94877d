//! [`KnnExec`]: the physical plan of `knn(...)`. Two children, each a scan projected to
//! `(vector column, _row)`: the queries and the corpus. It reads the queries a block at a time
//! ([`KnnSpec::query_block`] rows held in memory), and for each block streams every partition
//! of the corpus once, each partition in its own task with its own top-k heaps, merged when all
//! are done. One output partition; rows come out block by block, each query's neighbours
//! nearest first.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{Int64Type, SchemaRef};
use datafusion::common::runtime::SpawnedTask;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{exec_err, internal_err, DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::{EquivalenceProperties, Partitioning, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{reset_plan_states, Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, PlanProperties, SendableRecordBatchStream,
};
use futures::StreamExt;

use super::search::{search_chunk, KnnFloat, KnnMetric, QueryBlock, Scratch, TopK};
use crate::engine::vector::vectors::{FlatRowsError, Vectors};

/// Corpus rows per GEMM: bounds the score matrix at `query_block × CORPUS_CHUNK` values
/// (4 MiB for 256 queries in f32) whatever the scan's batch size, and keeps it in cache.
pub const CORPUS_CHUNK: usize = 4096;

/// What a `knn` call asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct KnnSpec {
    pub k: usize,
    pub metric: KnnMetric,
    /// Query rows held in memory per pass over the corpus.
    pub query_block: usize,
    /// Compute in `f64` (both columns float64) rather than `f32`.
    pub in_f64: bool,
    /// The vectors' length when a column's type fixes it; else the first query's.
    pub dims: Option<usize>,
    /// For messages: `'emb' of corpus`, `'q' of queries`.
    pub corpus_name: String,
    pub query_name: String,
}

/// A child's columns: the vectors and `_row`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VectorInput {
    pub vector: usize,
    pub row: usize,
}

/// See the [module documentation](self).
#[derive(Debug)]
pub struct KnnExec {
    queries: Arc<dyn ExecutionPlan>,
    corpus: Arc<dyn ExecutionPlan>,
    query_input: VectorInput,
    corpus_input: VectorInput,
    spec: Arc<KnnSpec>,
    /// Which of `(query_row, corpus_row, distance, rank)` are output.
    projection: Vec<usize>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl KnnExec {
    pub fn new(
        queries: Arc<dyn ExecutionPlan>,
        query_input: VectorInput,
        corpus: Arc<dyn ExecutionPlan>,
        corpus_input: VectorInput,
        spec: KnnSpec,
        projection: Vec<usize>,
        schema: SchemaRef,
    ) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        KnnExec {
            queries,
            corpus,
            query_input,
            corpus_input,
            spec: Arc::new(spec),
            projection,
            schema,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl KnnExec {
    /// What a plan codec carries (`crate::distributed`): the columns of each child, the spec
    /// and the output projection (the children travel as children; the schema is
    /// [`super::knn_schema`] projected).
    #[cfg_attr(not(feature = "distributed"), allow(dead_code))]
    pub(crate) fn wire_parts(&self) -> (VectorInput, VectorInput, &KnnSpec, &[usize]) {
        (self.query_input, self.corpus_input, &self.spec, &self.projection)
    }
}

impl DisplayAs for KnnExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let s = &self.spec;
        write!(
            f,
            "KnnExec: corpus={}, queries={}, k={}, metric={}, query_block={}, compute={}",
            s.corpus_name,
            s.query_name,
            s.k,
            s.metric.name(),
            s.query_block,
            if s.in_f64 { "f64" } else { "f32" }
        )
    }
}

impl ExecutionPlan for KnnExec {
    fn name(&self) -> &str {
        "KnnExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.queries, &self.corpus]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![false, false]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        // The corpus is executed again for every query block, which a repartition (run once)
        // cannot be; its scan's own partitions (file ranges) are searched in parallel.
        vec![false, false]
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        let [queries, corpus] = <[_; 2]>::try_from(children)
            .map_err(|c| DataFusionError::Internal(format!("KnnExec takes 2 children, got {}", c.len())))?;
        Ok(Arc::new(KnnExec::new(
            queries,
            self.query_input,
            corpus,
            self.corpus_input,
            (*self.spec).clone(),
            self.projection.clone(),
            Arc::clone(&self.schema),
        )))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("KnnExec has one partition, asked for {partition}");
        }
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let stream = if self.spec.in_f64 { self.run::<f64>(context) } else { self.run::<f32>(context) };
        let stream = stream.map(move |batch| {
            if let Ok(batch) = &batch {
                baseline.record_output(batch.num_rows());
            }
            batch
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema(), stream)))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

impl KnnExec {
    fn run<T: KnnFloat>(&self, context: Arc<TaskContext>) -> futures::stream::BoxStream<'static, Result<RecordBatch>> {
        let run = Run::<T> {
            queries: Arc::clone(&self.queries),
            corpus: Arc::clone(&self.corpus),
            query_input: self.query_input,
            corpus_input: self.corpus_input,
            spec: Arc::clone(&self.spec),
            projection: self.projection.clone(),
            schema: Arc::clone(&self.schema),
            context,
            next_partition: 0,
            current: None,
            pending: None,
            dims: self.spec.dims,
            done: false,
            scratch: Vec::new(),
        };
        futures::stream::unfold(run, |mut run| async move {
            if run.done {
                return None;
            }
            match run.next_block().await {
                Ok(Some(batch)) => Some((Ok(batch), run)),
                Ok(None) => None,
                Err(e) => {
                    run.done = true;
                    Some((Err(e), run))
                }
            }
        })
        .boxed()
    }
}

/// One execution: where the queries have been read to.
struct Run<T> {
    queries: Arc<dyn ExecutionPlan>,
    corpus: Arc<dyn ExecutionPlan>,
    query_input: VectorInput,
    corpus_input: VectorInput,
    spec: Arc<KnnSpec>,
    projection: Vec<usize>,
    schema: SchemaRef,
    context: Arc<TaskContext>,
    next_partition: usize,
    current: Option<SendableRecordBatchStream>,
    /// A query batch and how far into it the last block went.
    pending: Option<(RecordBatch, usize)>,
    dims: Option<usize>,
    done: bool,
    scratch: Vec<T>,
}

fn row_ids<'a>(batch: &'a RecordBatch, index: usize, what: &str) -> Result<&'a Int64Array> {
    match batch.columns().get(index).and_then(|c| c.as_primitive_opt::<Int64Type>()) {
        Some(rows) => Ok(rows),
        None => exec_err!("knn: {what}: _row is not an Int64 column"),
    }
}

fn size_mismatch(spec: &KnnSpec, query_len: usize, corpus_len: usize) -> DataFusionError {
    DataFusionError::Execution(format!(
        "knn: arrays of different sizes: {} has {query_len} elements, {} has {corpus_len}",
        spec.query_name, spec.corpus_name
    ))
}

impl<T: KnnFloat> Run<T> {
    /// The next query batch (and where in it to start), or `None` when all are read.
    async fn next_query_batch(&mut self) -> Result<Option<(RecordBatch, usize)>> {
        if let Some(pending) = self.pending.take() {
            return Ok(Some(pending));
        }
        loop {
            if self.current.is_none() {
                if self.next_partition >= self.queries.output_partitioning().partition_count() {
                    return Ok(None);
                }
                self.current = Some(self.queries.execute(self.next_partition, Arc::clone(&self.context))?);
                self.next_partition += 1;
            }
            match self.current.as_mut().map(|s| s.next()) {
                Some(next) => match next.await {
                    Some(batch) => return Ok(Some((batch?, 0))),
                    None => self.current = None,
                },
                None => self.current = None,
            }
        }
    }

    /// Read up to `query_block` queries; search the corpus for them; their neighbours.
    async fn next_block(&mut self) -> Result<Option<RecordBatch>> {
        let spec = Arc::clone(&self.spec);
        let mut block: Option<QueryBlock<T>> = self.dims.map(QueryBlock::new);
        let mut row_values: Vec<T> = Vec::new();
        while block.as_ref().is_none_or(|b| b.len() < spec.query_block) {
            let Some((batch, start)) = self.next_query_batch().await? else { break };
            let vectors = Vectors::try_new(batch.column(self.query_input.vector).as_ref(), &format!("knn: {}", spec.query_name))?;
            let ids = row_ids(&batch, self.query_input.row, &spec.query_name)?;
            let mut at = start;
            while at < batch.num_rows() && block.as_ref().is_none_or(|b| b.len() < spec.query_block) {
                let row = at;
                at += 1;
                // A NULL query has no neighbours; a NULL element is DuckDB's error.
                if vectors.is_null(row) {
                    continue;
                }
                if vectors.has_null_element(row) {
                    return exec_err!("knn: {} contains NULL values (_row {})", spec.query_name, ids.value(row));
                }
                let Some(values) = vectors.row::<T>(row, &mut row_values) else {
                    return exec_err!("knn: malformed array {}", spec.query_name);
                };
                let block = block.get_or_insert_with(|| QueryBlock::new(values.len()));
                if values.len() != block.dims() {
                    return Err(size_mismatch(&spec, values.len(), block.dims()));
                }
                block.push(ids.value(row), values);
            }
            if at < batch.num_rows() {
                self.pending = Some((batch, at));
            }
        }
        let Some(block) = block.filter(|b| !b.is_empty()) else { return Ok(None) };
        self.dims = Some(block.dims());
        let block = Arc::new(block);
        let tops = self.search_corpus(Arc::clone(&block)).await?;
        self.output(&block, tops).map(Some)
    }

    /// Every corpus partition in its own task, then their heaps merged.
    async fn search_corpus(&mut self, block: Arc<QueryBlock<T>>) -> Result<Vec<TopK<T>>> {
        // A file scan hands its files out from a queue its partitions share, emptied by the
        // first pass: each pass runs a fresh copy of the plan.
        let corpus = reset_plan_states(Arc::clone(&self.corpus))?;
        let partitions = corpus.output_partitioning().partition_count();
        let mut tasks = Vec::with_capacity(partitions);
        for p in 0..partitions {
            let stream = corpus.execute(p, Arc::clone(&self.context))?;
            let (block, spec, input) = (Arc::clone(&block), Arc::clone(&self.spec), self.corpus_input);
            tasks.push(SpawnedTask::spawn(search_partition(stream, block, spec, input)));
        }
        let mut merged: Vec<TopK<T>> = (0..block.len()).map(|_| TopK::new(self.spec.k)).collect();
        for task in tasks {
            let tops = task.join_unwind().await.map_err(|e| DataFusionError::ExecutionJoin(Box::new(e)))??;
            for (into, from) in merged.iter_mut().zip(tops) {
                into.merge(from);
            }
        }
        self.scratch.clear();
        Ok(merged)
    }

    fn output(&self, block: &QueryBlock<T>, tops: Vec<TopK<T>>) -> Result<RecordBatch> {
        let (mut query_rows, mut corpus_rows, mut distances, mut ranks) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (query_row, top) in block.rows().iter().zip(tops) {
            for (rank, neighbour) in top.into_sorted().into_iter().enumerate() {
                query_rows.push(*query_row);
                corpus_rows.push(neighbour.row);
                distances.push(self.spec.metric.distance(neighbour.score));
                ranks.push(rank as i64 + 1);
            }
        }
        let rows = query_rows.len();
        let columns: [ArrayRef; 4] = [
            Arc::new(Int64Array::from(query_rows)),
            Arc::new(Int64Array::from(corpus_rows)),
            Arc::new(Float64Array::from(distances)),
            Arc::new(Int64Array::from(ranks)),
        ];
        let projected: Vec<ArrayRef> = self.projection.iter().map(|i| Arc::clone(&columns[*i])).collect();
        let options = datafusion::arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(Arc::clone(&self.schema), projected, &options)?)
    }
}

/// One corpus partition against a query block.
async fn search_partition<T: KnnFloat>(
    mut stream: SendableRecordBatchStream,
    block: Arc<QueryBlock<T>>,
    spec: Arc<KnnSpec>,
    input: VectorInput,
) -> Result<Vec<TopK<T>>> {
    let mut tops: Vec<TopK<T>> = (0..block.len()).map(|_| TopK::new(spec.k)).collect();
    let mut scratch = Scratch::default();
    let mut converted: Vec<T> = Vec::new();
    let d = block.dims();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let vectors = Vectors::try_new(batch.column(input.vector).as_ref(), &format!("knn: {}", spec.corpus_name))?;
        let ids = row_ids(&batch, input.row, &spec.corpus_name)?;
        if vectors.element_nulls.is_some() {
            if let Some(row) = (0..vectors.len).find(|r| !vectors.is_null(*r) && vectors.has_null_element(*r)) {
                return exec_err!("knn: {} contains NULL values (_row {})", spec.corpus_name, ids.value(row));
            }
        }
        for start in (0..vectors.len).step_by(CORPUS_CHUNK) {
            let end = (start + CORPUS_CHUNK).min(vectors.len);
            let chunk = match vectors.flat_rows::<T>(start..end, d, &mut converted) {
                Ok(chunk) => chunk,
                Err(FlatRowsError::Length { len, .. }) => return Err(size_mismatch(&spec, d, len)),
                Err(FlatRowsError::Malformed) => return exec_err!("knn: malformed array {}", spec.corpus_name),
            };
            let chunk_ids = &ids.values()[start..end];
            let valid = |j: usize| !vectors.is_null(start + j) && ids.is_valid(start + j);
            if !search_chunk(spec.metric, &block, chunk, chunk_ids, valid, &mut tops, &mut scratch) {
                return exec_err!("knn: malformed array {}", spec.corpus_name);
            }
        }
    }
    Ok(tops)
}
