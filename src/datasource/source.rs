//! [`NpySource`] and [`NpyOpener`]: the one scan path of every `.npy`/`.npz` table, whether it is
//! planned by a `ListingTable` (through [`super::NpyFormat`]) or by a custom provider that builds
//! a `FileScanConfig` itself.
//!
//! What the opener reads of one file:
//! - only the projected columns (the format layer never maps, copies or inflates the others);
//! - only the rows of its byte range, mapped proportionally to rows (`[start·N/len, end·N/len)`),
//!   so DataFusion's byte-range repartitioning splits a file into row ranges;
//! - only the rows a `_row` filter can keep (see `row_filter`);
//! - at most `limit` rows;
//! - zero-copy columns in batches of [`ZERO_COPY_BATCH_BYTES`], others in `batch_size` rows;
//! - nothing at all when the scan needs no data column (`count(*)`, `_row`): a [`RowSpan`]
//!   gives its rows, else the session's [`HeaderCache`] (read once, not mapped).
//!
//! `_row` is numbered from the file's [`FileRows`] extension, which
//! `NpyFormat::create_physical_plan` attaches (offset = rows of the files before it, in natural
//! order). A custom provider attaches it itself; without it a file's rows start at 0.

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileGroupPartitioner, FileOpenFuture, FileOpener, FileScanConfig, FileSource};
use datafusion::datasource::projection::{ProjectionOpener, SplitProjection};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::{ObjectMeta, ObjectStore};
use datafusion::physical_expr::utils::conjunction_opt;
use datafusion::physical_expr::{LexOrdering, PhysicalExpr};
use datafusion::physical_plan::filter_pushdown::{FilterPushdownPropagation, PushedDown};
use datafusion::physical_plan::metrics::ExecutionPlanMetricsSet;
use datafusion::physical_plan::projection::ProjectionExprs;
use datafusion::physical_plan::{apply_expression_roots, DisplayFormatType};
use futures::StreamExt;

use super::file_format::NpyFormatOptions;
use super::header_cache::HeaderCache;
use super::local::{df_err, local_file, local_path};
use super::remote::{chunks, fetch, is_npz, object_url, npz_chunks, npz_streams, open_ranged, open_ranged_npz, prefetched, reads_by_range, CHUNK_BYTES};
use super::row_filter::{local_rows, row_range};
use super::ROW_COLUMN;
use crate::error::{ErrorKind, NpyError, ResultExt};
use crate::format::table::NpyTable;

/// Batches of zero-copy columns (slices of the map) hold up to this many bytes of array data,
/// more rows than the session's `batch_size` if need be: they cost nothing per row, only per
/// batch (1 MiB is 262,144 float32 values; summing 1 GiB in 8,192-row batches spent ~0.05 s of
/// CPU on the 32,768 batches alone).
const ZERO_COPY_BATCH_BYTES: usize = 1 << 20;

/// The bytes of file per chunk when a scan is dealt out for an order-keeping merge: a few
/// zero-copy batches, and one file open per chunk (about 256 per GiB).
pub const ROW_ORDER_CHUNK_BYTES: u64 = 4 << 20;

/// [`ROW_ORDER_CHUNK_BYTES`] for objects of a remote store: two ranged requests of
/// [`CHUNK_BYTES`](super::remote::CHUNK_BYTES) per piece. A partition's requests stop between
/// its pieces (DataFusion opens a partition's next file when the last is done), so a 4 MiB
/// piece fetched one request at a time (a scan then ran at 30% of the same ranged `GET`s'
/// throughput); with two partitions, two requests each keep four in flight. Larger pieces
/// are not faster and cost memory: an order-keeping merge holds a piece of one partition
/// while it drains the other's (32 MiB pieces took a 4 GiB remote convert from 108 to 245 MiB
/// of heap).
pub const REMOTE_ROW_ORDER_CHUNK_BYTES: u64 = 2 * super::remote::CHUNK_BYTES;

/// Where a file's rows sit in its table: the `_row` of its first row, and how many it has
/// (from its header). A `PartitionedFile` extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRows {
    pub offset: u64,
    pub rows: u64,
}

/// Whether a file may be split into byte ranges (`false` for an `.npz` with deflated members,
/// whose every range would inflate the stream from its start). A `PartitionedFile` extension;
/// without it a file may be split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Splittable(pub bool);

/// A `PartitionedFile` that stands for this many consecutive files of a table, read for row
/// positions only (its [`FileRows`] cover them all): planned for scans that need no data
/// column, so that `count(*)` over 100,000 shards does not carry 100,000 files. The opener
/// reads nothing for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowSpan {
    pub files: u64,
}

/// The `FileSource` of `.npy`/`.npz` tables.
#[derive(Clone)]
pub struct NpySource {
    table_schema: TableSchema,
    projection: SplitProjection,
    options: NpyFormatOptions,
    batch_size: usize,
    metrics: ExecutionPlanMetricsSet,
    /// Filters that bound `_row` (kept for `filter()`: they make statistics inexact).
    row_filter: Option<Arc<dyn PhysicalExpr>>,
    /// The `_row` values those filters allow.
    row_range: Option<Range<i64>>,
    /// Headers of files already read (by planning or earlier queries): a scan that needs no
    /// data column (`count(*)`, `_row`) opens no file whose header is there.
    headers: Option<Arc<HeaderCache>>,
    /// Lay partitions out for an order-keeping merge (see [`NpySource::with_row_order`]).
    row_order: bool,
    /// Who runs the scan, to start its errors with (`worker 10.0.0.7:50051`): set on a
    /// distributed worker, so that the coordinator's error says where a read failed.
    origin: Option<Arc<str>>,
}

impl NpySource {
    /// A source over tables whose file schema is `table_schema.file_schema()` (ending in `_row`
    /// if the table has one) plus its partition columns.
    pub fn new(table_schema: impl Into<TableSchema>, options: NpyFormatOptions) -> Self {
        let table_schema = table_schema.into();
        NpySource {
            projection: SplitProjection::unprojected(&table_schema),
            table_schema,
            options,
            batch_size: 8192,
            metrics: ExecutionPlanMetricsSet::new(),
            row_filter: None,
            row_range: None,
            headers: None,
            row_order: false,
            origin: None,
        }
    }

    /// Start the scan's errors with `origin` (e.g. `worker 10.0.0.7:50051`); not carried to
    /// other processes (each names itself).
    pub fn with_error_origin(mut self, origin: impl Into<Arc<str>>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Answer scans that need no data column from `cache` (see [`HeaderCache`]).
    pub fn with_header_cache(mut self, cache: Arc<HeaderCache>) -> Self {
        self.headers = Some(cache);
        self
    }

    /// Whether the scan's rows are to come out in `_row` order (`npy.preserve_row_order`).
    /// Then repartitioning deals the table out in chunks of about [`ROW_ORDER_CHUNK_BYTES`],
    /// round robin (partition `p` reads chunks `p`, `p + n`, …), instead of one contiguous range
    /// per partition: every partition stays ascending in `_row`, and an order-keeping merge
    /// (`crate::engine::row_order`) that needs the smallest `_row` next finds it in a
    /// partition that is never far behind, so all of them keep scanning with bounded buffers.
    pub fn with_row_order(mut self, row_order: bool) -> Self {
        self.row_order = row_order;
        self
    }

    /// This source with its projection replaced (expressions over the table schema).
    pub(crate) fn with_projection_exprs(&self, projection: &ProjectionExprs) -> Self {
        NpySource { projection: SplitProjection::new(self.table_schema.file_schema(), projection), ..self.clone() }
    }

    /// The `_row` values a pushed-down filter allows (`None`: all).
    pub fn row_range(&self) -> Option<Range<i64>> {
        self.row_range.clone()
    }

    /// Whether a scan with this source reads any column from the files (not only `_row`).
    pub fn reads_data_columns(&self) -> bool {
        let row = self.row_index();
        self.projection.file_indices.iter().any(|&c| Some(c) != row)
    }

    fn row_index(&self) -> Option<usize> {
        row_column_index(self.table_schema.file_schema())
    }

    /// What a plan codec must carry to rebuild this source elsewhere (`crate::distributed`):
    /// options, pushed `_row` filter and range, row-order layout. The projection and files
    /// travel in the `FileScanConfig`.
    #[cfg_attr(not(feature = "distributed"), allow(dead_code))]
    pub(crate) fn wire_parts(&self) -> (&NpyFormatOptions, Option<&Arc<dyn PhysicalExpr>>, Option<Range<i64>>, bool) {
        (&self.options, self.row_filter.as_ref(), self.row_range.clone(), self.row_order)
    }

    /// This source with a pushed `_row` filter and range restored (the inverse of `wire_parts`).
    #[cfg_attr(not(feature = "distributed"), allow(dead_code))]
    pub(crate) fn with_row_bounds(mut self, filter: Option<Arc<dyn PhysicalExpr>>, range: Option<Range<i64>>) -> Self {
        self.row_filter = filter;
        self.row_range = range;
        self
    }
}

/// Index of `_row` in a file schema (it is the last column when present).
pub(crate) fn row_column_index(file_schema: &Schema) -> Option<usize> {
    let last = file_schema.fields().len().checked_sub(1)?;
    (file_schema.field(last).name() == ROW_COLUMN).then_some(last)
}

impl FileSource for NpySource {
    fn create_file_opener(
        &self,
        object_store: Arc<dyn ObjectStore>,
        base_config: &FileScanConfig,
        _partition: usize,
    ) -> Result<Arc<dyn FileOpener>> {
        let file_schema = Arc::clone(self.table_schema.file_schema());
        let columns = self.projection.file_indices.clone();
        let output_schema = Arc::new(file_schema.project(&columns)?);
        let row_index = self.row_index();
        let data_columns: Vec<usize> = columns.iter().copied().filter(|&c| Some(c) != row_index).collect();
        // Where each output column is in a reader batch (data columns in order, then `_row`).
        let reader_positions = columns
            .iter()
            .map(|&c| data_columns.iter().position(|&d| d == c).unwrap_or(data_columns.len()))
            .collect();
        let opener = NpyOpener {
            store: object_store,
            store_url: base_config.object_store_url.clone(),
            origin: self.origin.clone(),
            headers: self.headers.clone(),
            plan: Arc::new(OpenPlan {
                row_index,
                file_schema: Arc::clone(&file_schema),
                output_schema,
                wants_row: row_index.is_some_and(|r| columns.contains(&r)),
                data_columns,
                reader_positions,
                options: self.options.clone(),
                batch_size: self.batch_size,
                limit: base_config.limit,
                row_range: self.row_range.clone(),
            }),
            last_opened: Arc::default(),
        };
        ProjectionOpener::try_new(self.projection.clone(), Arc::new(opener), &file_schema)
    }

    fn table_schema(&self) -> &TableSchema {
        &self.table_schema
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        Arc::new(NpySource { batch_size: batch_size.max(1), ..self.clone() })
    }

    fn filter(&self) -> Option<Arc<dyn PhysicalExpr>> {
        self.row_filter.clone()
    }

    fn projection(&self) -> Option<&ProjectionExprs> {
        Some(&self.projection.source)
    }

    fn metrics(&self) -> &ExecutionPlanMetricsSet {
        &self.metrics
    }

    fn file_type(&self) -> &str {
        "npy"
    }

    fn fmt_extra(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        if let Some(member) = &self.options.member {
            match t {
                DisplayFormatType::TreeRender => writeln!(f, "member={member}")?,
                _ => write!(f, ", member={member}")?,
            }
        }
        if let Some(range) = &self.row_range {
            let bound = |v: i64| match v {
                i64::MIN => "-∞".to_string(),
                i64::MAX => "∞".to_string(),
                v => v.to_string(),
            };
            let text = format!("row_range=[{}, {})", bound(range.start), bound(range.end));
            match t {
                DisplayFormatType::TreeRender => writeln!(f, "{text}")?,
                _ => write!(f, ", {text}")?,
            }
        }
        Ok(())
    }

    /// Filters bounding `_row` become a row range the opener reads; the filters themselves stay
    /// above the scan (`PushedDown::No`), so the answer never depends on the range being tight.
    fn try_pushdown_filters(
        &self,
        filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn FileSource>>> {
        let verdicts = vec![PushedDown::No; filters.len()];
        let Some(row_index) = self.row_index() else {
            return Ok(FilterPushdownPropagation::with_parent_pushdown_result(verdicts));
        };
        let bounding: Vec<_> = filters
            .iter()
            .filter_map(|f| row_range(f, row_index).map(|r| (Arc::clone(f), r)))
            .collect();
        if bounding.is_empty() {
            return Ok(FilterPushdownPropagation::with_parent_pushdown_result(verdicts));
        }
        let mut source = self.clone();
        let mut range = source.row_range.clone().unwrap_or(i64::MIN..i64::MAX);
        for (_, r) in &bounding {
            range = range.start.max(r.start)..range.end.min(r.end);
        }
        source.row_range = Some(range);
        source.row_filter = conjunction_opt(source.row_filter.clone().into_iter().chain(bounding.into_iter().map(|(f, _)| f)));
        Ok(FilterPushdownPropagation::with_parent_pushdown_result(verdicts)
            .with_updated_node(Arc::new(source) as Arc<dyn FileSource>))
    }

    /// DataFusion's byte-range splitting (each range read as its proportional rows), unless a
    /// file of the scan is not [`Splittable`]: then the scan keeps whole files per partition.
    fn repartitioned(
        &self,
        target_partitions: usize,
        repartition_file_min_size: usize,
        output_ordering: Option<LexOrdering>,
        config: &FileScanConfig,
    ) -> Result<Option<FileScanConfig>> {
        if self.row_order {
            return Ok(interleaved(target_partitions, repartition_file_min_size, config));
        }
        let whole_files_only =
            config.file_groups.iter().flat_map(|g| g.files()).any(|f| f.extension::<Splittable>().is_some_and(|s| !s.0));
        if whole_files_only {
            return Ok(None);
        }
        let groups = FileGroupPartitioner::new()
            .with_target_partitions(target_partitions)
            .with_repartition_file_min_size(repartition_file_min_size)
            .with_preserve_order_within_groups(output_ordering.is_some())
            .repartition_file_groups(&config.file_groups);
        Ok(groups.map(|file_groups| {
            let mut config = config.clone();
            config.file_groups = file_groups;
            config
        }))
    }

    fn try_pushdown_projection(&self, projection: &ProjectionExprs) -> Result<Option<Arc<dyn FileSource>>> {
        let mut source = self.clone();
        let merged = source.projection.source.try_merge(projection)?;
        source.projection = SplitProjection::new(self.table_schema.file_schema(), &merged);
        Ok(Some(Arc::new(source)))
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        let projection = self.projection.source.iter().map(|p| &p.expr);
        apply_expression_roots(projection.chain(self.row_filter.iter()), f)
    }
}

/// The scan dealt out for an order-keeping merge (see [`NpySource::with_row_order`]): its files
/// in their order (natural order, as planned), each cut into byte ranges of about
/// [`ROW_ORDER_CHUNK_BYTES`] (less for a table smaller than that per partition) unless it is
/// not [`Splittable`], the pieces dealt round robin to
/// `target_partitions` groups. `None` (the layout stays) for fewer than two pieces, for a scan
/// smaller than `min_size` (as DataFusion's own splitting) and for a scan already split.
fn interleaved(target_partitions: usize, min_size: usize, config: &FileScanConfig) -> Option<FileScanConfig> {
    let files: Vec<&PartitionedFile> = config.file_groups.iter().flat_map(|g| g.files()).collect();
    if target_partitions < 2 || files.iter().any(|f| f.range.is_some()) {
        return None;
    }
    let total: u64 = files.iter().map(|f| f.object_meta.size).sum();
    if total < min_size as u64 {
        return None;
    }
    // A smaller table still gives every partition a piece.
    let piece_bytes = if config.object_store_url.as_str().starts_with("file:") { ROW_ORDER_CHUNK_BYTES } else { REMOTE_ROW_ORDER_CHUNK_BYTES };
    let chunk_bytes = piece_bytes.min(total.div_ceil(target_partitions as u64)).max(1);
    let pieces_of = |file: &PartitionedFile| -> u64 {
        let size = file.object_meta.size;
        let splittable = file.extension::<Splittable>().is_none_or(|s| s.0);
        if !splittable || size <= chunk_bytes {
            1
        } else {
            size.div_ceil(chunk_bytes)
        }
    };
    // Counted first, so that each group is allocated once at its size, with no list of pieces
    // beside them (over 100,000 shards: peak heap 210 -> 199 MB, heaptrack).
    let piece_count = files.iter().map(|f| pieces_of(f)).sum::<u64>() as usize;
    if piece_count < 2 {
        return None;
    }
    let groups = target_partitions.min(piece_count);
    let mut dealt: Vec<Vec<PartitionedFile>> = (0..groups).map(|_| Vec::with_capacity(piece_count.div_ceil(groups))).collect();
    let mut next = 0;
    for file in files {
        let count = pieces_of(file);
        if count == 1 {
            dealt[next % groups].push(file.clone());
            next += 1;
            continue;
        }
        let size = file.object_meta.size;
        for i in 0..count {
            // Equal cuts (not 4 MiB and a remainder), so no piece is a sliver.
            let start = (i as u128 * size as u128 / count as u128) as i64;
            let end = ((i + 1) as u128 * size as u128 / count as u128) as i64;
            dealt[next % groups].push(file.clone().with_range(start, end));
            next += 1;
        }
    }
    let mut config = config.clone();
    config.file_groups = dealt.into_iter().map(FileGroup::new).collect();
    // Each partition reads its own pieces, in order (DataFusion would otherwise let idle
    // partitions take pieces from the others).
    config.preserve_order = true;
    Some(config)
}

/// See [`OpenPlan::wanted`].
enum Wanted {
    /// The scan of the file, made without touching its data.
    Answered(futures::stream::BoxStream<'static, Result<RecordBatch>>),
    /// Rows `wanted` of the file's data are to be read; the file sits at `place` in its table.
    Rows { wanted: Range<u64>, place: FileRows },
}

/// Opens one file of a scan: see the module docs.
pub struct NpyOpener {
    store: Arc<dyn ObjectStore>,
    /// The store's URL (`s3://bucket/`), to name remote objects in errors.
    store_url: ObjectStoreUrl,
    /// See [`NpySource::with_error_origin`].
    origin: Option<Arc<str>>,
    headers: Option<Arc<HeaderCache>>,
    plan: Arc<OpenPlan>,
    /// The local file this partition opened last. A row-order scan deals each partition
    /// consecutive pieces of a file (see [`interleaved`]): without this, every piece opened,
    /// `stat`ed and mapped the file again, and unmapped it after (256 times over a 1 GiB file,
    /// with the TLB shootdowns of unmapping under the other partition's thread). Kept until
    /// the partition opens another file or ends.
    last_opened: Arc<Mutex<Option<Opened>>>,
}

/// A local file as it was opened, and the version (size, modification time) it was opened at.
struct Opened {
    location: datafusion::object_store::path::Path,
    size: u64,
    modified: chrono::DateTime<chrono::Utc>,
    table: Arc<NpyTable>,
}

impl Opened {
    fn is_of(&self, meta: &ObjectMeta) -> bool {
        self.location == meta.location && self.size == meta.size && self.modified == meta.last_modified
    }
}

/// What every file of one scan partition shares.
struct OpenPlan {
    /// The table's logical file schema (data columns, then `_row` if `row_index` is set).
    file_schema: SchemaRef,
    /// `file_schema` projected to `columns`: the schema of the batches handed back.
    output_schema: SchemaRef,
    /// The projected columns (indices into `file_schema`) without `_row`: what the reader reads, in this order.
    data_columns: Vec<usize>,
    /// For each output column, its index in a reader batch.
    reader_positions: Vec<usize>,
    wants_row: bool,
    row_index: Option<usize>,
    options: NpyFormatOptions,
    batch_size: usize,
    limit: Option<usize>,
    row_range: Option<Range<i64>>,
}

impl FileOpener for NpyOpener {
    fn open(&self, file: PartitionedFile) -> Result<FileOpenFuture> {
        let opened = self.open_file(file)?;
        let Some(origin) = self.origin.clone() else { return Ok(opened) };
        let named = move |e: DataFusionError| match e {
            DataFusionError::Execution(message) => DataFusionError::Execution(format!("{origin}: {message}")),
            other => DataFusionError::Execution(format!("{origin}: {other}")),
        };
        Ok(Box::pin(async move {
            let batches = opened.await.map_err(named.clone())?;
            Ok(batches.map(move |batch| batch.map_err(named.clone())).boxed())
        }))
    }
}

impl NpyOpener {
    fn open_file(&self, file: PartitionedFile) -> Result<FileOpenFuture> {
        let store = Arc::clone(&self.store);
        let headers = self.headers.clone();
        let plan = Arc::clone(&self.plan);
        let store_url = self.store_url.clone();
        let last_opened = Arc::clone(&self.last_opened);
        Ok(Box::pin(async move {
            // A file the `_row` range excludes is not even opened.
            if let Some(place) = file.extension::<FileRows>() {
                if plan.rows_to_read(&file, place.rows, place.offset).is_empty() {
                    return Ok(futures::stream::empty().boxed());
                }
            }
            if let (Some(place), Some(_)) = (file.extension::<FileRows>(), file.extension::<RowSpan>()) {
                let wanted = plan.rows_to_read(&file, place.rows, place.offset);
                return Ok(futures::stream::iter(plan.positions_only(wanted, place.offset)).boxed());
            }
            if let (true, Some(headers)) = (plan.data_columns.is_empty(), headers) {
                // Only `_row` (or nothing, for count(*)): the header says all, and planning
                // has usually read it already.
                let summary = headers.summaries(&store, Some(&store_url), std::slice::from_ref(&file.object_meta), &plan.options).await?;
                let summary = summary.into_iter().next().ok_or_else(|| DataFusionError::Internal("no header summary".into()))?;
                let path = || local_path(store.as_ref(), &file.object_meta.location).unwrap_or_else(|| object_url(Some(&store_url), &file.object_meta.location).into());
                plan.check_columns(&summary.schema).map_err(|e| df_err(e.in_file(path())))?;
                let place = plan.place(&file, summary.rows).map_err(|e| df_err(e.in_file(path())))?;
                let wanted = plan.rows_to_read(&file, summary.rows, place.offset);
                return Ok(futures::stream::iter(plan.positions_only(wanted, place.offset)).boxed());
            }
            let remote = local_path(store.as_ref(), &file.object_meta.location).is_none();
            if remote && reads_by_range(file.object_meta.location.as_ref(), plan.options.member.as_deref()) {
                let url = object_url(Some(&store_url), &file.object_meta.location);
                return plan.scan_by_range(store, file, url).await;
            }
            if remote && is_npz(file.object_meta.location.as_ref()) {
                let url = object_url(Some(&store_url), &file.object_meta.location);
                return plan.scan_npz_by_range(store, file, url).await;
            }
            let local = local_file(store.as_ref(), &file.object_meta.location).await?;
            let table = plan.open_local(local.path(), &file.object_meta, remote, &last_opened)?;
            let (wanted, place) = match plan.wanted(&file, &table.schema(), table.num_rows(), local.path())? {
                Wanted::Rows { wanted, place } => (wanted, place),
                Wanted::Answered(batches) => return Ok(batches),
            };
            let reader = plan.reader(&table, wanted, place.offset).in_file(local.path()).map_err(df_err)?;
            let plan_for_batches = Arc::clone(&plan);
            let batches = reader.map(move |batch| {
                let _keep_file = &local;
                batch.map_err(DataFusionError::from).and_then(|b| plan_for_batches.to_output(b))
            });
            Ok(futures::stream::iter(batches).boxed())
        }))
    }
}

impl OpenPlan {
    /// A remote `.npy` read by byte range (see `super::remote`): its header, then its wanted
    /// rows in chunks fetched a few at a time, decoded in order.
    async fn scan_by_range(self: Arc<Self>, store: Arc<dyn ObjectStore>, file: PartitionedFile, url: String) -> Result<futures::stream::BoxStream<'static, Result<RecordBatch>>> {
        let ranged = Arc::new(open_ranged(store.as_ref(), &file.object_meta, &url, &self.options.open).await?);
        let (wanted, place) = match self.wanted(&file, &ranged.schema(), ranged.num_rows(), Path::new(&url))? {
            Wanted::Rows { wanted, place } => (wanted, place),
            Wanted::Answered(batches) => return Ok(batches),
        };
        let meta = Arc::new(file.object_meta.clone());
        let url = Arc::new(url);
        let fetches = {
            let ranged = Arc::clone(&ranged);
            let url = Arc::clone(&url);
            futures::stream::iter(chunks(&ranged, wanted)).map(move |rows| {
                let (store, meta, ranged, url) = (Arc::clone(&store), Arc::clone(&meta), Arc::clone(&ranged), Arc::clone(&url));
                async move {
                    let bytes = fetch(store.as_ref(), &meta, ranged.byte_range(rows.clone()), &url).await?;
                    Ok::<_, DataFusionError>((rows, bytes))
                }
            })
        };
        let plan = Arc::clone(&self);
        let batches = prefetched(fetches).flat_map(move |fetched| {
            let batches: Vec<Result<RecordBatch>> = match fetched.and_then(|(rows, bytes)| {
                let (table, local) = ranged.table(rows.clone(), bytes.into()).map_err(df_err)?;
                // `_row` counts from the file's first row: a piece's row `local.start` is the
                // file's `rows.start`.
                let first = rows.start - local.start;
                let reader = plan.reader(&table, local, place.offset + first).in_file(Path::new(url.as_str())).map_err(df_err)?;
                Ok(reader.map(|batch| batch.map_err(DataFusionError::from).and_then(|b| plan.to_output(b))).collect())
            }) {
                Ok(batches) => batches,
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(batches)
        });
        Ok(batches.boxed())
    }

    /// A remote `.npz` read by byte range (see `super::remote::open_ranged_npz`): its directory
    /// and member headers (remembered across queries), then the projected members' rows: a
    /// stored member's in chunks by range as a `.npy`'s, a deflated member's compressed bytes
    /// (only that member's) inflated batch by batch.
    async fn scan_npz_by_range(self: Arc<Self>, store: Arc<dyn ObjectStore>, file: PartitionedFile, url: String) -> Result<futures::stream::BoxStream<'static, Result<RecordBatch>>> {
        let npz = open_ranged_npz(store.as_ref(), &file.object_meta, &url, &self.options.open, self.options.member.as_deref()).await?;
        let (wanted, place) = match self.wanted(&file, &npz.schema(), npz.num_rows(), Path::new(&url))? {
            Wanted::Rows { wanted, place } => (wanted, place),
            Wanted::Answered(batches) => return Ok(batches),
        };
        let members = Arc::new(npz.members_of(&self.data_columns));
        if npz_streams(&npz, &members) {
            return Ok(self.scan_npz_streamed(store, file.object_meta.clone(), url, npz, members.to_vec(), wanted, place.offset));
        }
        let by_rows = npz.by_rows(&members);
        let meta = Arc::new(file.object_meta.clone());
        let url = Arc::new(url);
        let fetches = {
            let (npz, url, members) = (Arc::clone(&npz), Arc::clone(&url), Arc::clone(&members));
            futures::stream::iter(npz_chunks(&npz, &members, wanted)).map(move |rows| {
                let (store, meta, npz, url, members) = (Arc::clone(&store), Arc::clone(&meta), Arc::clone(&npz), Arc::clone(&url), Arc::clone(&members));
                async move {
                    let fetch_rows = if by_rows { rows.clone() } else { 0..npz.num_rows() };
                    let mut fetched = Vec::with_capacity(members.len());
                    for &m in members.iter() {
                        let range = npz.members()[m].byte_range(fetch_rows.clone());
                        fetched.push((m, fetch(store.as_ref(), &meta, range, &url).await?.into()));
                    }
                    Ok::<_, DataFusionError>((rows, fetched))
                }
            })
        };
        let plan = Arc::clone(&self);
        let batches = prefetched(fetches).flat_map(move |fetched| {
            let batches: Vec<Result<RecordBatch>> = match fetched.and_then(|(rows, fetched)| {
                let (table, local) = npz.table(rows.clone(), &fetched).map_err(df_err)?;
                let first = rows.start - local.start;
                let reader = plan.reader(&table, local, place.offset + first).in_file(Path::new(url.as_str())).map_err(df_err)?;
                Ok(reader.map(|batch| batch.map_err(DataFusionError::from).and_then(|b| plan.to_output(b))).collect())
            }) {
                Ok(batches) => batches,
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(batches)
        });
        Ok(batches.boxed())
    }

    /// Runs of `wanted` rows of `members`, in order: a stored member's rows by range, a
    /// deflated member's inflated from its compressed bytes fetched [`CHUNK_BYTES`] at a time
    /// (so memory holds a run of rows and a piece of compressed bytes, not the member).
    #[allow(clippy::too_many_arguments)]
    fn scan_npz_streamed(
        self: Arc<Self>,
        store: Arc<dyn ObjectStore>,
        meta: ObjectMeta,
        url: String,
        npz: Arc<crate::format::RangedNpz>,
        members: Vec<usize>,
        wanted: Range<u64>,
        offset: u64,
    ) -> futures::stream::BoxStream<'static, Result<RecordBatch>> {
        use crate::format::ranged_npz::MemberInflater;
        struct State {
            plan: Arc<OpenPlan>,
            store: Arc<dyn ObjectStore>,
            meta: ObjectMeta,
            url: String,
            npz: Arc<crate::format::RangedNpz>,
            stored: Vec<usize>,
            inflaters: Vec<(usize, MemberInflater, Vec<u8>)>,
            runs: std::collections::VecDeque<Range<u64>>,
            offset: u64,
        }
        async fn next_run(state: &mut State, rows: Range<u64>) -> Result<Vec<Result<RecordBatch>>> {
            let count = rows.end - rows.start;
            let mut fetched = Vec::new();
            for &m in &state.stored {
                let range = state.npz.members()[m].byte_range(rows.clone());
                fetched.push((m, fetch(state.store.as_ref(), &state.meta, range, &state.url).await?.into()));
            }
            for (m, inflater, partial) in &mut state.inflaters {
                loop {
                    if let Some(bytes) = inflater.rows(count, partial).map_err(df_err)? {
                        fetched.push((*m, bytes));
                        break;
                    }
                    let range = inflater.next_range(CHUNK_BYTES).ok_or_else(|| DataFusionError::Internal("inflater starved".into()))?;
                    let bytes = fetch(state.store.as_ref(), &state.meta, range, &state.url).await?;
                    inflater.push(&bytes);
                }
            }
            let table = state.npz.rows_table(rows.clone(), &fetched).map_err(df_err)?;
            let reader = state.plan.reader(&table, 0..count, state.offset + rows.start).in_file(Path::new(state.url.as_str())).map_err(df_err)?;
            Ok(reader.map(|batch| batch.map_err(DataFusionError::from).and_then(|b| state.plan.to_output(b))).collect())
        }
        let path = Path::new(&url).to_path_buf();
        let mut stored = Vec::new();
        let mut inflaters = Vec::new();
        for &m in &members {
            let member = &npz.members()[m];
            if member.is_deflated() {
                match MemberInflater::new(&path, member, wanted.start) {
                    Ok(inflater) => inflaters.push((m, inflater, Vec::new())),
                    Err(e) => return futures::stream::once(async move { Err(df_err(e)) }).boxed(),
                }
            } else {
                stored.push(m);
            }
        }
        let runs = npz_chunks(&npz, &members, wanted).into();
        let state = State { plan: self, store, meta, url, npz, stored, inflaters, runs, offset };
        futures::stream::unfold(Some(state), |state| async move {
            let mut state = state?;
            let rows = state.runs.pop_front()?;
            match next_run(&mut state, rows).await {
                Ok(batches) => Some((futures::stream::iter(batches), Some(state))),
                Err(e) => Some((futures::stream::iter(vec![Err(e)]), None)),
            }
        })
        .flatten()
        .boxed()
    }

    /// What a scan of `file` (named `name` in errors), whose headers say it holds `schema` and
    /// `rows`, reads of it: nothing (no wanted rows), only positions (no data column: `_row`
    /// alone, or nothing for `count(*)`), or the wanted rows of its data.
    fn wanted(&self, file: &PartitionedFile, schema: &Schema, rows: u64, name: &Path) -> Result<Wanted> {
        let in_file = |e: NpyError| df_err(e.in_file(name));
        self.check_columns(schema).map_err(in_file)?;
        let place = self.place(file, rows).map_err(in_file)?;
        let wanted = self.rows_to_read(file, rows, place.offset);
        if wanted.is_empty() {
            return Ok(Wanted::Answered(futures::stream::empty().boxed()));
        }
        if self.data_columns.is_empty() {
            return Ok(Wanted::Answered(futures::stream::iter(self.positions_only(wanted, place.offset)).boxed()));
        }
        Ok(Wanted::Rows { wanted, place })
    }

    fn open_table(&self, path: &Path) -> Result<NpyTable> {
        self.options.open(path).map_err(df_err)
    }

    /// The table of the file at `path` (`meta` as planned): the one the partition opened last
    /// when it is the same version of the same local file, else opened now (and remembered,
    /// unless it is a downloaded copy, which lives only as long as its scan).
    fn open_local(&self, path: &Path, meta: &ObjectMeta, downloaded: bool, last_opened: &Mutex<Option<Opened>>) -> Result<Arc<NpyTable>> {
        let mut last = last_opened.lock().map_err(|_| DataFusionError::Internal("opened-file lock poisoned".into()))?;
        if let Some(opened) = last.as_ref().filter(|opened| opened.is_of(meta)) {
            return Ok(Arc::clone(&opened.table));
        }
        let table = Arc::new(self.open_table(path)?);
        *last = (!downloaded).then(|| Opened {
            location: meta.location.clone(),
            size: meta.size,
            modified: meta.last_modified,
            table: Arc::clone(&table),
        });
        Ok(table)
    }


    /// The file's place in the table (its `FileRows`, or its own rows from 0), which must
    /// agree with the `rows` it has now.
    fn place(&self, file: &PartitionedFile, rows: u64) -> crate::Result<FileRows> {
        let place = file.extension::<FileRows>().copied().unwrap_or(FileRows { offset: 0, rows });
        if place.rows != rows {
            return Err(NpyError::from(ErrorKind::InvalidArgument(format!(
                "the file changed while the query ran: it had {} rows when planned, {rows} now",
                place.rows
            ))));
        }
        Ok(place)
    }

    /// A file joins a table only with the table's column types, in the table's order.
    fn check_columns(&self, found: &Schema) -> crate::Result<()> {
        let expected = self.file_schema.fields().iter().take(self.row_index.unwrap_or(usize::MAX));
        let same = found.fields().len() == expected.len()
            && found.fields().iter().zip(expected).all(|(a, b)| a.data_type() == b.data_type());
        if same {
            return Ok(());
        }
        let describe = |s: &mut dyn Iterator<Item = &Arc<datafusion::arrow::datatypes::Field>>| {
            s.map(|f| format!("{}: {}", f.name(), f.data_type())).collect::<Vec<_>>().join(", ")
        };
        let message = format!(
            "its columns ({}) differ from the table's ({})",
            describe(&mut found.fields().iter()),
            describe(&mut self.file_schema.fields().iter().take(self.row_index.unwrap_or(usize::MAX)))
        );
        Err(NpyError::from(ErrorKind::InvalidArgument(message)))
    }

    /// Rows of this file to read: its byte range as rows, within the `_row` range, at most `limit`.
    fn rows_to_read(&self, file: &PartitionedFile, rows: u64, offset: u64) -> Range<u64> {
        let mut wanted = match &file.range {
            Some(range) => byte_range_as_rows(range.start, range.end, file.object_meta.size, rows),
            None => 0..rows,
        };
        if let Some(range) = &self.row_range {
            let allowed = local_rows(range, offset, rows);
            wanted = wanted.start.max(allowed.start)..wanted.end.min(allowed.end);
        }
        if let Some(limit) = self.limit {
            wanted.end = wanted.end.min(wanted.start.saturating_add(limit as u64));
        }
        wanted.start..wanted.end.max(wanted.start)
    }

    fn reader(&self, table: &NpyTable, rows: Range<u64>, offset: u64) -> crate::Result<crate::NpyReader> {
        let mut builder = table
            .reader()
            .with_projection(self.data_columns.clone())
            .with_row_range(rows)
            .with_batch_size(self.batch_size)
            .with_zero_copy_batch_bytes(ZERO_COPY_BATCH_BYTES);
        if self.wants_row {
            let offset = i64::try_from(offset).map_err(|_| ErrorKind::InvalidArgument("row offset overflows Int64".into()))?;
            builder = builder.with_row_number(ROW_COLUMN, offset);
        }
        builder.build()
    }

    /// A reader batch (data columns in order, then `_row` if wanted) as an output batch
    /// (columns in the projection's order, the table's field names).
    fn to_output(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = self
            .reader_positions
            .iter()
            .map(|&at| {
                batch.columns().get(at).cloned().ok_or_else(|| {
                    DataFusionError::Internal(format!("reader batch has {} columns, no column {at}", batch.num_columns()))
                })
            })
            .collect::<Result<_>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        Ok(RecordBatch::try_new_with_options(Arc::clone(&self.output_schema), columns, &options)?)
    }

    /// Batches for a scan that needs no data column: `_row` values, or just row counts.
    fn positions_only(&self, rows: Range<u64>, offset: u64) -> Vec<Result<RecordBatch>> {
        let batch_size = self.batch_size as u64;
        let mut batches = Vec::new();
        let mut start = rows.start;
        while start < rows.end {
            let end = rows.end.min(start.saturating_add(batch_size));
            let count = (end - start) as usize;
            let columns: Vec<ArrayRef> = if self.wants_row {
                let first = offset.saturating_add(start) as i64;
                vec![Arc::new(Int64Array::from_iter_values(first..first + count as i64))]
            } else {
                vec![]
            };
            let options = RecordBatchOptions::new().with_row_count(Some(count));
            batches.push(
                RecordBatch::try_new_with_options(Arc::clone(&self.output_schema), columns, &options)
                    .map_err(DataFusionError::from),
            );
            start = end;
        }
        batches
    }
}

/// Bytes `[start, end)` of a file of `size` bytes holding `rows` rows, as rows: each byte range
/// of a partition of the file owns the rows proportional to it, so adjacent ranges own adjacent,
/// disjoint rows and together all of them.
pub(crate) fn byte_range_as_rows(start: i64, end: i64, size: u64, rows: u64) -> Range<u64> {
    if size == 0 {
        return 0..rows;
    }
    let at = |byte: i64| -> u64 {
        let byte = (byte.max(0) as u128).min(size as u128);
        (byte * rows as u128 / size as u128) as u64
    };
    at(start)..at(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.npy` of four float32 values, by the crate's writer.
    fn write_npy(path: &Path) {
        let values: ArrayRef = Arc::new(datafusion::arrow::array::Float32Array::from(vec![1.0f32, 2.0, 3.0, 4.0]));
        let batch = RecordBatch::try_from_iter([("x", values)]).unwrap();
        let mut writer = crate::format::ArrayFileWriter::try_new(path, batch.schema(), Default::default()).unwrap();
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
    }

    /// The pieces of one file that a partition reads one after another share one opened table;
    /// another version of the file, or another file, is opened anew; a downloaded copy is not
    /// kept (it lives only as long as its scan).
    #[test]
    fn a_partition_opens_a_file_once_for_its_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        write_npy(&path);
        let schema = Arc::new(Schema::empty());
        let plan = OpenPlan {
            file_schema: Arc::clone(&schema),
            output_schema: schema,
            data_columns: vec![0],
            reader_positions: vec![0],
            wants_row: false,
            row_index: None,
            options: NpyFormatOptions::default(),
            batch_size: 1024,
            limit: None,
            row_range: None,
        };
        let meta = ObjectMeta {
            location: datafusion::object_store::path::Path::from("x.npy"),
            last_modified: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            size: std::fs::metadata(&path).unwrap().len(),
            e_tag: None,
            version: None,
        };
        let last = Mutex::new(None);
        let first = plan.open_local(&path, &meta, false, &last).unwrap();
        assert_eq!(first.num_rows(), 4);
        let again = plan.open_local(&path, &meta, false, &last).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "the same version of the same file: reused");
        let newer = ObjectMeta { last_modified: meta.last_modified + chrono::Duration::seconds(1), ..meta.clone() };
        let reopened = plan.open_local(&path, &newer, false, &last).unwrap();
        assert!(!Arc::ptr_eq(&first, &reopened), "another version: opened anew");
        let downloaded = plan.open_local(&path, &meta, true, &last).unwrap();
        let after = plan.open_local(&path, &meta, false, &last).unwrap();
        assert!(!Arc::ptr_eq(&downloaded, &after), "a downloaded copy is not kept");
        assert!(Arc::ptr_eq(&after, &plan.open_local(&path, &meta, false, &last).unwrap()));
    }

    #[test]
    fn byte_ranges_cover_all_rows_once() {
        let (size, rows) = (1000u64, 37u64);
        let cuts = [0i64, 333, 666, 1000];
        let ranges: Vec<_> = cuts.windows(2).map(|w| byte_range_as_rows(w[0], w[1], size, rows)).collect();
        assert_eq!(ranges.first().map(|r| r.start), Some(0));
        assert_eq!(ranges.last().map(|r| r.end), Some(rows));
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
        }
    }
}
