//! [`NpyCodec`]: the one `PhysicalExtensionCodec` that lets this crate's plan nodes travel to a
//! datafusion-distributed worker and back.
//!
//! - A `DataSourceExec` over a `FileScanConfig` with an [`NpySource`]: `datafusion-proto` asks
//!   the codec for the whole `DataSourceExec` (`NpySource` has no proto hook of its own). The
//!   shared part (files with their byte ranges and statistics, schema, projection, limit,
//!   ordering) goes through `datafusion-proto`'s own `FileScanExecConf`; beside it go what
//!   protobuf cannot know: the NPY options, the pushed `_row` filter and range, the row-order
//!   layout, `preserve_order`, and each file's [`FileRows`] / [`Splittable`] / [`RowSpan`]
//!   extensions (`PartitionedFile.extensions` is an `Any` that the protobuf form drops; without
//!   `FileRows` a worker would number `_row` from 0 in every file).
//! - [`PositionalJoinExec`] and [`RowOrderMergeExec`]: their few fields; children travel as
//!   the extension node's inputs.
//! - The `DataSinkExec` of `COPY ... STORED AS NPY` ([`NpySink`]): its `FileSinkConfig`
//!   (`datafusion-proto`'s form) and writing options.
//! - [`KnnExec`] of `knn(...)`: its spec, the columns it reads from each child and its output
//!   projection; the queries and corpus scans travel as its two inputs.
//!
//! The widening `sum`/`avg` and the vector functions travel by name: a worker's session has
//! them from `register_npy_format`, as the coordinator's does.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::Schema;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileSource};
use datafusion::datasource::physical_plan::FileSinkConfig;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::physical_plan::from_proto::{parse_protobuf_file_scan_config, parse_table_schema_from_proto};
use datafusion_proto::physical_plan::to_proto::serialize_file_scan_config;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalPlanDecodeContext, PhysicalProtoConverterExtension};
use datafusion_proto::protobuf;
use prost::Message;

use crate::datasource::file_format::{Extension, NpyFormatOptions};
use crate::datasource::header_cache::HeaderCache;
use crate::datasource::positional_join::PositionalJoinExec;
use crate::datasource::sink::NpySink;
use crate::format::writer::{NpzCompression, NullPolicy, WriteOptions};
use crate::datasource::source::{FileRows, NpySource, RowSpan, Splittable};
use crate::engine::row_order::RowOrderMergeExec;
use crate::engine::vector::knn::{knn_schema, KnnExec, KnnMetric, KnnSpec, VectorInput};

/// The codec of this crate's plan nodes; register it on the coordinator and on every worker
/// (`DistributedExt::with_distributed_user_codec`; [`super::distribute`] and
/// [`super::worker`] do).
#[derive(Debug, Default, Clone, Copy)]
pub struct NpyCodec;

#[derive(Clone, PartialEq, Message)]
struct NpyPlanNode {
    #[prost(oneof = "Node", tags = "1, 2, 3, 4, 5")]
    node: Option<Node>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Node {
    #[prost(message, tag = "1")]
    Scan(ScanNode),
    #[prost(message, tag = "2")]
    Join(JoinNode),
    #[prost(message, tag = "3")]
    Merge(MergeNode),
    #[prost(message, tag = "4")]
    Sink(SinkNode),
    #[prost(message, tag = "5")]
    Knn(KnnNode),
}

#[derive(Clone, PartialEq, Message)]
struct KnnNode {
    /// Column indexes in the queries child (input 0) and the corpus child (input 1).
    #[prost(uint64, tag = "1")]
    query_vector: u64,
    #[prost(uint64, tag = "2")]
    query_row: u64,
    #[prost(uint64, tag = "3")]
    corpus_vector: u64,
    #[prost(uint64, tag = "4")]
    corpus_row: u64,
    #[prost(uint64, tag = "5")]
    k: u64,
    /// [`KnnMetric::name`].
    #[prost(string, tag = "6")]
    metric: String,
    #[prost(uint64, tag = "7")]
    query_block: u64,
    #[prost(bool, tag = "8")]
    in_f64: bool,
    #[prost(uint64, optional, tag = "9")]
    dims: Option<u64>,
    #[prost(string, tag = "10")]
    corpus_name: String,
    #[prost(string, tag = "11")]
    query_name: String,
    /// Output columns, indexes into [`knn_schema`].
    #[prost(uint64, repeated, tag = "12")]
    projection: Vec<u64>,
}

#[derive(Clone, PartialEq, Message)]
struct SinkNode {
    /// `protobuf::FileSinkConfig`, encoded.
    #[prost(bytes = "vec", tag = "1")]
    config: Vec<u8>,
    #[prost(bool, tag = "2")]
    deflated: bool,
    #[prost(bool, tag = "3")]
    nulls_zero: bool,
    /// `FileSinkConfig::original_url` (not in the protobuf form; the sink shows it).
    #[prost(string, tag = "4")]
    original_url: String,
}

#[derive(Clone, PartialEq, Message)]
struct ScanNode {
    /// `protobuf::FileScanExecConf`, encoded.
    #[prost(bytes = "vec", tag = "1")]
    conf: Vec<u8>,
    #[prost(string, optional, tag = "2")]
    member: Option<String>,
    #[prost(uint64, tag = "3")]
    max_header_len: u64,
    #[prost(bool, tag = "4")]
    mmap: bool,
    /// 0: unset, 1: npy, 2: npz.
    #[prost(uint32, tag = "5")]
    files: u32,
    #[prost(int64, optional, tag = "6")]
    row_range_start: Option<i64>,
    #[prost(int64, optional, tag = "7")]
    row_range_end: Option<i64>,
    /// `protobuf::PhysicalExprNode` of the pushed `_row` filter, encoded.
    #[prost(bytes = "vec", optional, tag = "8")]
    row_filter: Option<Vec<u8>>,
    #[prost(bool, tag = "9")]
    row_order: bool,
    #[prost(bool, tag = "10")]
    preserve_order: bool,
    /// One per file, in file-group order.
    #[prost(message, repeated, tag = "11")]
    files_ext: Vec<FileExt>,
}

#[derive(Clone, PartialEq, Message)]
struct FileExt {
    #[prost(uint64, optional, tag = "1")]
    offset: Option<u64>,
    #[prost(uint64, optional, tag = "2")]
    rows: Option<u64>,
    #[prost(bool, optional, tag = "3")]
    splittable: Option<bool>,
    #[prost(uint64, optional, tag = "4")]
    span_files: Option<u64>,
}

#[derive(Clone, PartialEq, Message)]
struct JoinNode {
    /// `protobuf::PhysicalExprNode`s of the two `_row` keys, encoded.
    #[prost(bytes = "vec", tag = "1")]
    left_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    right_key: Vec<u8>,
    #[prost(bool, tag = "3")]
    has_projection: bool,
    #[prost(uint64, repeated, tag = "4")]
    projection: Vec<u64>,
    /// `protobuf::Schema` of the output, encoded.
    #[prost(bytes = "vec", tag = "5")]
    schema: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct MergeNode {
    #[prost(uint64, tag = "1")]
    row: u64,
    #[prost(uint64, optional, tag = "2")]
    fetch: Option<u64>,
    #[prost(uint64, tag = "3")]
    budget_rows: u64,
    #[prost(map = "string, string", tag = "4")]
    metadata: HashMap<String, String>,
}

fn wire_err(what: &str, e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Internal(format!("NPY plan codec: {what}: {e}"))
}

/// The `NpySource` scan under `plan`, if it is one.
fn npy_scan(plan: &dyn ExecutionPlan) -> Option<(&FileScanConfig, &NpySource)> {
    let exec = plan.downcast_ref::<DataSourceExec>()?;
    let config = exec.data_source().downcast_ref::<FileScanConfig>()?;
    let source = config.file_source().downcast_ref::<NpySource>()?;
    Some((config, source))
}

impl NpyCodec {
    fn encode_scan(
        &self,
        config: &FileScanConfig,
        source: &NpySource,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<ScanNode> {
        let conf = serialize_file_scan_config(config, self, converter)?;
        let (options, row_filter, row_range, row_order) = source.wire_parts();
        let row_filter = row_filter.map(|f| converter.physical_expr_to_proto(f, self).map(|n| n.encode_to_vec())).transpose()?;
        let files_ext = config
            .file_groups
            .iter()
            .flat_map(|g| g.files())
            .map(|f| {
                let rows = f.extension::<FileRows>();
                FileExt {
                    offset: rows.map(|r| r.offset),
                    rows: rows.map(|r| r.rows),
                    splittable: f.extension::<Splittable>().map(|s| s.0),
                    span_files: f.extension::<RowSpan>().map(|s| s.files),
                }
            })
            .collect();
        Ok(ScanNode {
            conf: conf.encode_to_vec(),
            member: options.member.clone(),
            max_header_len: options.open.max_header_len,
            mmap: options.open.mmap,
            files: match options.files {
                None => 0,
                Some(Extension::Npy) => 1,
                Some(Extension::Npz) => 2,
            },
            row_range_start: row_range.as_ref().map(|r| r.start),
            row_range_end: row_range.as_ref().map(|r| r.end),
            row_filter,
            row_order,
            preserve_order: config.preserve_order,
            files_ext,
        })
    }

    fn decode_scan(
        &self,
        node: &ScanNode,
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let conf = protobuf::FileScanExecConf::decode(node.conf.as_slice()).map_err(|e| wire_err("scan", e))?;
        let table_schema = parse_table_schema_from_proto(&conf)?;
        let mut options = NpyFormatOptions { member: node.member.clone(), ..Default::default() };
        options.open.max_header_len = node.max_header_len;
        options.open.mmap = node.mmap;
        options.files = match node.files {
            1 => Some(Extension::Npy),
            2 => Some(Extension::Npz),
            _ => None,
        };
        let decode_ctx = PhysicalPlanDecodeContext::new(ctx, self);
        // The pushed filter is over the table's columns (file columns, then partition columns).
        let full_schema = Schema::new(
            table_schema.file_schema().fields().iter().cloned().chain(table_schema.table_partition_cols().iter().cloned()).collect::<Vec<_>>(),
        );
        let row_filter = node
            .row_filter
            .as_ref()
            .map(|bytes| {
                let expr = protobuf::PhysicalExprNode::decode(bytes.as_slice()).map_err(|e| wire_err("_row filter", e))?;
                converter.proto_to_physical_expr(&expr, &full_schema, &decode_ctx)
            })
            .transpose()?;
        let row_range = match (node.row_range_start, node.row_range_end) {
            (Some(start), Some(end)) => Some(start..end),
            _ => None,
        };
        let mut source = NpySource::new(table_schema, options).with_row_order(node.row_order).with_row_bounds(row_filter, row_range);
        // The worker's session has its own header cache (register_npy_format puts one there).
        if let Some(headers) = HeaderCache::of_session(ctx.session_config()) {
            source = source.with_header_cache(headers);
        }
        let mut config = parse_protobuf_file_scan_config(&conf, &decode_ctx, converter, Arc::new(source) as Arc<dyn FileSource>)?;
        config.preserve_order = node.preserve_order;
        let count: usize = config.file_groups.iter().map(|g| g.len()).sum();
        if count != node.files_ext.len() {
            return Err(wire_err("scan", format!("{count} files but {} file extensions", node.files_ext.len())));
        }
        let mut exts = node.files_ext.iter();
        for group in config.file_groups.iter_mut() {
            let files: Vec<PartitionedFile> = group
                .iter()
                .map(|file| {
                    let ext = exts.next().expect("counted above");
                    restore_extensions(file.clone(), ext)
                })
                .collect();
            let statistics = group.file_statistics(None).cloned();
            let mut rebuilt = FileGroup::new(files);
            if let Some(statistics) = statistics {
                rebuilt = rebuilt.with_statistics(Arc::new(statistics));
            }
            *group = rebuilt;
        }
        Ok(DataSourceExec::from_data_source(config))
    }
}

impl KnnNode {
    fn encode(exec: &KnnExec) -> Self {
        let (query, corpus, spec, projection) = exec.wire_parts();
        KnnNode {
            query_vector: query.vector as u64,
            query_row: query.row as u64,
            corpus_vector: corpus.vector as u64,
            corpus_row: corpus.row as u64,
            k: spec.k as u64,
            metric: spec.metric.name().to_string(),
            query_block: spec.query_block as u64,
            in_f64: spec.in_f64,
            dims: spec.dims.map(|d| d as u64),
            corpus_name: spec.corpus_name.clone(),
            query_name: spec.query_name.clone(),
            projection: projection.iter().map(|&i| i as u64).collect(),
        }
    }

    fn decode(self, inputs: &[Arc<dyn ExecutionPlan>]) -> Result<Arc<dyn ExecutionPlan>> {
        let [queries, corpus] = inputs else {
            return Err(wire_err("knn", format!("{} inputs, not 2", inputs.len())));
        };
        // The columns index the children's batches: checked here rather than panicking there.
        let input = |plan: &Arc<dyn ExecutionPlan>, vector: u64, row: u64, what: &str| {
            let width = plan.schema().fields().len() as u64;
            if vector >= width || row >= width {
                return Err(wire_err("knn", format!("{what} columns {vector}, {row} of {width}")));
            }
            Ok(VectorInput { vector: vector as usize, row: row as usize })
        };
        let query_input = input(queries, self.query_vector, self.query_row, "queries")?;
        let corpus_input = input(corpus, self.corpus_vector, self.corpus_row, "corpus")?;
        let metric = KnnMetric::parse(&self.metric).ok_or_else(|| wire_err("knn", format!("unknown metric '{}'", self.metric)))?;
        let projection: Vec<usize> = self.projection.iter().map(|&i| i as usize).collect();
        let schema = knn_schema().project(&projection).map_err(|e| wire_err("knn projection", e))?;
        let spec = KnnSpec {
            k: usize::try_from(self.k).map_err(|e| wire_err("knn k", e))?,
            metric,
            query_block: usize::try_from(self.query_block).map_err(|e| wire_err("knn query block", e))?.max(1),
            in_f64: self.in_f64,
            dims: self.dims.map(|d| d as usize),
            corpus_name: self.corpus_name,
            query_name: self.query_name,
        };
        let exec = KnnExec::new(Arc::clone(queries), query_input, Arc::clone(corpus), corpus_input, spec, projection, Arc::new(schema));
        Ok(Arc::new(exec))
    }
}

/// The `PartitionedFile` extensions (`FileRows`, `Splittable`, `RowSpan`) put back.
fn restore_extensions(file: PartitionedFile, ext: &FileExt) -> PartitionedFile {
    let mut file = file;
    if let (Some(offset), Some(rows)) = (ext.offset, ext.rows) {
        file = file.with_extension(FileRows { offset, rows });
    }
    if let Some(splittable) = ext.splittable {
        file = file.with_extension(Splittable(splittable));
    }
    if let Some(files) = ext.span_files {
        file = file.with_extension(RowSpan { files });
    }
    file
}

impl PhysicalExtensionCodec for NpyCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let node = NpyPlanNode::decode(buf).map_err(|e| wire_err("plan node", e))?;
        match node.node {
            Some(Node::Scan(scan)) => self.decode_scan(&scan, ctx, converter),
            Some(Node::Join(join)) => {
                let [left, right] = inputs else {
                    return Err(wire_err("positional join", format!("{} inputs, not 2", inputs.len())));
                };
                let decode_ctx = PhysicalPlanDecodeContext::new(ctx, self);
                let key = |bytes: &[u8], side: &Arc<dyn ExecutionPlan>| {
                    let expr = protobuf::PhysicalExprNode::decode(bytes).map_err(|e| wire_err("join key", e))?;
                    converter.proto_to_physical_expr(&expr, side.schema().as_ref(), &decode_ctx)
                };
                let on = (key(&join.left_key, left)?, key(&join.right_key, right)?);
                let schema = protobuf::Schema::decode(join.schema.as_slice()).map_err(|e| wire_err("join schema", e))?;
                let schema = Schema::try_from(&schema).map_err(|e| wire_err("join schema", e))?;
                let projection = join.has_projection.then(|| join.projection.iter().map(|&i| i as usize).collect());
                Ok(Arc::new(PositionalJoinExec::new(Arc::clone(left), Arc::clone(right), on, projection, Arc::new(schema))))
            }
            Some(Node::Merge(merge)) => {
                let [input] = inputs else {
                    return Err(wire_err("row-order merge", format!("{} inputs, not 1", inputs.len())));
                };
                let exec = RowOrderMergeExec::new(
                    Arc::clone(input),
                    merge.row as usize,
                    merge.fetch.map(|f| f as usize),
                    merge.budget_rows as usize,
                )
                .with_schema_metadata(merge.metadata);
                Ok(Arc::new(exec))
            }
            Some(Node::Sink(sink)) => {
                let [input] = inputs else {
                    return Err(wire_err("NPY sink", format!("{} inputs, not 1", inputs.len())));
                };
                let config = protobuf::FileSinkConfig::decode(sink.config.as_slice()).map_err(|e| wire_err("NPY sink", e))?;
                let mut config = FileSinkConfig::try_from(&config)?;
                config.original_url = sink.original_url;
                let compression = if sink.deflated { NpzCompression::Deflated } else { NpzCompression::Stored };
                let nulls = if sink.nulls_zero { NullPolicy::Zero } else { NullPolicy::Error };
                let sink = NpySink::new(config, WriteOptions::default().with_compression(compression), nulls);
                Ok(Arc::new(DataSinkExec::new(Arc::clone(input), Arc::new(sink), None)))
            }
            Some(Node::Knn(knn)) => knn.decode(inputs),
            None => Err(wire_err("plan node", "empty")),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let encoded = if let Some((config, source)) = npy_scan(node.as_ref()) {
            Node::Scan(self.encode_scan(config, source, converter)?)
        } else if let Some(join) = node.downcast_ref::<PositionalJoinExec>() {
            let ((left, right), projection, schema) = join.wire_parts();
            let schema: protobuf::Schema = schema.as_ref().try_into().map_err(|e| wire_err("join schema", e))?;
            Node::Join(JoinNode {
                left_key: converter.physical_expr_to_proto(left, self)?.encode_to_vec(),
                right_key: converter.physical_expr_to_proto(right, self)?.encode_to_vec(),
                has_projection: projection.is_some(),
                projection: projection.unwrap_or_default().iter().map(|&i| i as u64).collect(),
                schema: schema.encode_to_vec(),
            })
        } else if let Some(merge) = node.downcast_ref::<RowOrderMergeExec>() {
            let (row, fetch, budget_rows, metadata) = merge.wire_parts();
            Node::Merge(MergeNode { row: row as u64, fetch: fetch.map(|f| f as u64), budget_rows: budget_rows as u64, metadata: metadata.clone() })
        } else if let Some((exec, sink)) =
            node.downcast_ref::<DataSinkExec>().and_then(|e| e.sink().downcast_ref::<NpySink>().map(|s| (e, s)))
        {
            if exec.sort_order().is_some() {
                return Err(DataFusionError::NotImplemented("NPY plan codec: a sink with a sort requirement".into()));
            }
            let (config, options, nulls) = sink.wire_parts();
            let config = protobuf::FileSinkConfig::try_from(config)?;
            Node::Sink(SinkNode {
                config: config.encode_to_vec(),
                deflated: options.compression == NpzCompression::Deflated,
                nulls_zero: nulls == NullPolicy::Zero,
                original_url: sink.wire_parts().0.original_url.clone(),
            })
        } else if let Some(knn) = node.downcast_ref::<KnnExec>() {
            Node::Knn(KnnNode::encode(knn))
        } else {
            return Err(DataFusionError::NotImplemented(format!("NPY plan codec: no encoding for {}", node.name())));
        };
        NpyPlanNode { node: Some(encoded) }.encode(buf).map_err(|e| wire_err("encoding", e))
    }
}

#[cfg(test)]
mod tests {
    //! Every plan node of ours, encoded and decoded as the engine does (`datafusion-proto` with
    //! this codec): the same `EXPLAIN` text and the same answers after the round trip.

    use super::*;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::{SessionConfig, SessionContext};
    use datafusion_proto::physical_plan::AsExecutionPlan;
    use datafusion_proto::protobuf::PhysicalPlanNode;

    use crate::datasource::SessionContextNpyExt;

    fn examples() -> String {
        format!("{}/sql-examples/data", env!("CARGO_MANIFEST_DIR"))
    }

    /// A session that splits files into byte ranges (4 partitions, no minimum size).
    fn session() -> SessionContext {
        // Small batches: DataFusion splits a scan only when it holds more rows than a batch.
        let config = SessionConfig::new().with_target_partitions(4).with_repartition_file_min_size(0).with_batch_size(16);
        let ctx = SessionContext::new_with_config(config);
        ctx.register_npy_dir(examples()).unwrap();
        ctx
    }

    fn names(plan: &Arc<dyn ExecutionPlan>, out: &mut Vec<String>) {
        out.push(plan.name().to_string());
        if let Some((config, _)) = npy_scan(plan.as_ref()) {
            out.push("NpySource".into());
            if config.file_groups.iter().flat_map(|g| g.iter()).any(|f| f.range.is_some()) {
                out.push("byte-range".into());
            }
        }
        for child in plan.children() {
            names(child, out);
        }
    }

    /// Round-trip `sql`'s physical plan; the node names it contains.
    async fn round_trip(ctx: &SessionContext, sql: &str) -> Vec<String> {
        let plan = ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap();
        let proto = PhysicalPlanNode::try_from_physical_plan(Arc::clone(&plan), &NpyCodec).unwrap();
        let bytes = proto.encode_to_vec();
        let proto = PhysicalPlanNode::decode(bytes.as_slice()).unwrap();
        let back = proto.try_into_physical_plan(&ctx.task_ctx(), &NpyCodec).unwrap();
        let show = |p: &Arc<dyn ExecutionPlan>| displayable(p.as_ref()).indent(true).to_string();
        assert_eq!(show(&back), show(&plan), "EXPLAIN of {sql}");
        let before = pretty_format_batches(&collect(plan.clone(), ctx.task_ctx()).await.unwrap()).unwrap().to_string();
        let after = pretty_format_batches(&collect(back, ctx.task_ctx()).await.unwrap()).unwrap().to_string();
        assert_eq!(after, before, "answers of {sql}");
        assert!(before.lines().count() > 4, "{before}");
        let mut out = Vec::new();
        names(&plan, &mut out);
        out
    }

    #[tokio::test]
    async fn scan_with_byte_ranges_and_file_rows() {
        let ctx = session();
        let nodes = round_trip(&ctx, "SELECT * FROM events WHERE _row % 3 = 1").await;
        assert!(nodes.iter().any(|n| n == "byte-range"), "{nodes:?}");
        assert!(nodes.iter().any(|n| n == "RowOrderMergeExec"), "{nodes:?}");
    }

    #[tokio::test]
    async fn scan_with_row_range() {
        let ctx = session();
        let nodes = round_trip(&ctx, "SELECT _row, value FROM readings WHERE _row >= 95 AND _row < 1105 AND value > 0").await;
        assert!(nodes.iter().any(|n| n == "NpySource"), "{nodes:?}");
    }

    #[tokio::test]
    async fn aggregate_without_row_order() {
        let ctx = session();
        round_trip(&ctx, "SELECT sensor, count(*), sum(value), avg(value) FROM readings GROUP BY sensor ORDER BY sensor").await;
    }

    #[tokio::test]
    async fn positional_join() {
        let ctx = session();
        let nodes = round_trip(&ctx, "SELECT a._row, a.value, b.sensor FROM readings a JOIN readings b ON a._row = b._row WHERE a._row % 7 = 0").await;
        assert!(nodes.iter().any(|n| n == "PositionalJoinExec"), "{nodes:?}");
    }

    #[tokio::test]
    async fn copy_sink() {
        let ctx = session();
        let dir = tempfile::tempdir().unwrap();
        let plan_of = |name: &str| format!("COPY (SELECT sensor, value FROM readings ORDER BY _row) TO '{}/{name}.npz' STORED AS NPY OPTIONS ('compression' 'deflated')", dir.path().display());
        let plan = ctx.sql(&plan_of("a")).await.unwrap().create_physical_plan().await.unwrap();
        assert!(plan.downcast_ref::<DataSinkExec>().is_some(), "{}", plan.name());
        let proto = PhysicalPlanNode::try_from_physical_plan(Arc::clone(&plan), &NpyCodec).unwrap();
        let back = proto.try_into_physical_plan(&ctx.task_ctx(), &NpyCodec).unwrap();
        let show = |p: &Arc<dyn ExecutionPlan>| displayable(p.as_ref()).indent(true).to_string();
        assert_eq!(show(&back), show(&plan));
        collect(plan, ctx.task_ctx()).await.unwrap();
        let a = std::fs::read(dir.path().join("a.npz")).unwrap();
        std::fs::remove_file(dir.path().join("a.npz")).unwrap();
        collect(back, ctx.task_ctx()).await.unwrap();
        assert_eq!(std::fs::read(dir.path().join("a.npz")).unwrap(), a);
    }

    #[tokio::test]
    async fn knn() {
        let ctx = session();
        // Blocks of 50 queries: the decoded plan rescans its decoded corpus scan 10 times.
        ctx.sql("SET npy.knn_query_block = 50").await.unwrap();
        let nodes = round_trip(&ctx, "SELECT * FROM knn(embeddings, 'embeddings', embeddings, 'embeddings', 3, 'l2') ORDER BY query_row, rank").await;
        assert!(nodes.iter().any(|n| n == "KnnExec"), "{nodes:?}");
        // A projection of the output, over an npz member.
        let nodes = round_trip(&ctx, "SELECT corpus_row, distance FROM knn(ds.features, 'features', ds.features, 'features', 2, 'ip') ORDER BY query_row, rank").await;
        assert!(nodes.iter().any(|n| n == "KnnExec"), "{nodes:?}");
    }

    #[tokio::test]
    async fn npz_member_and_record_tables() {
        let ctx = session();
        for table in ["ds", "ds_compressed", "events"] {
            round_trip(&ctx, &format!("SELECT * FROM {table}")).await;
        }
    }
}
