//! [`NpyFilesTable`]: a `.npy`/`.npz` file, or a directory (or object-store prefix) of them
//! without `key=value` levels, as one table that keeps one small record per file.
//!
//! DataFusion's `ListingTable` keeps, for every file of every scan, a `PartitionedFile` with
//! its `ObjectMeta` and an `Arc<Statistics>` (a few kilobytes with the column statistics), in
//! the plan and again in the session's file-statistics cache; over 100,000 shards that is
//! hundreds of megabytes and most of a `count(*)`'s time. This table lists and reads the headers
//! once when it is built (concurrently, through the session's [`HeaderCache`]) and keeps, per
//! file, a [`Shard`]: location, size, modification time, ETag, row count and `_row` offset, in
//! one shared `Arc<Vec<Shard>>` (about 100 bytes and the path; see [`NpyFilesTable::shard_bytes`]).
//!
//! A scan is the same `DataSourceExec` over [`NpySource`] that a `ListingTable` would plan, but
//! made from those records:
//! - a scan that reads no data column (`count(*)`, `_row` alone) gets one [`RowSpan`] per
//!   partition, not one file per shard, and exact statistics (rows, `_row` range) from the
//!   records, so DataFusion answers `count(*)` from them without running the scan;
//! - a scan that reads data gets the shards in natural order, dealt into `target_partitions`
//!   runs of consecutive files, each file with its place ([`FileRows`]) and no statistics of
//!   its own (those of its group and of the scan are summed from the records);
//! - `LIMIT n` (without filters) reads the first files, in natural order, that hold `n` rows.
//!
//! Tables over `key=value` directories stay `ListingTable`s (partition pruning and partition
//! values are its job): [`super::file_format::listing_table`] picks.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Statistics;
use datafusion::datasource::listing::{ListingTableUrl, PartitionedFile};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::object_store::path::Path;
use datafusion::object_store::ObjectMeta;
use datafusion::physical_plan::ExecutionPlan;

use super::context::NpySessionOptions;
use super::file_format::{file_statistics, with_row_order, NpyFormat};
use super::header_cache::FileSummary;
use super::source::{row_column_index, FileRows, RowSpan, Splittable};

/// What planning keeps of one file of a table.
#[derive(Debug, Clone)]
pub struct Shard {
    location: Path,
    size: u64,
    /// As listed (with size and ETag: the file's identity for the header cache when a scan asks
    /// it again).
    modified: chrono::DateTime<chrono::Utc>,
    e_tag: Option<Box<str>>,
    /// `_row` of its first row.
    offset: u64,
    rows: u64,
    /// An `.npz` with a deflated member: not to be split into byte ranges.
    deflated: bool,
}

impl Shard {
    fn object_meta(&self) -> ObjectMeta {
        ObjectMeta {
            location: self.location.clone(),
            last_modified: self.modified,
            size: self.size,
            e_tag: self.e_tag.as_deref().map(str::to_string),
            version: None,
        }
    }

    fn place(&self) -> FileRows {
        FileRows { offset: self.offset, rows: self.rows }
    }
}

/// A table over files listed and summarised once; see the module docs.
pub struct NpyFilesTable {
    url: ListingTableUrl,
    /// The files' columns, then `_row`.
    schema: SchemaRef,
    /// Options, the header cache, and the scan's `FileSource`.
    format: Arc<NpyFormat>,
    /// In natural order of their locations; offsets ascending.
    /// An `Arc<Vec>`, not an `Arc<[Shard]>`: making one of those copies the whole list.
    shards: Arc<Vec<Shard>>,
}

impl fmt::Debug for NpyFilesTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NpyFilesTable").field("url", &self.url.as_str()).field("files", &self.shards.len()).finish()
    }
}

impl NpyFilesTable {
    /// A table over `files` (listed at `url`; any order), whose headers say `summaries` (same
    /// order), with the columns `schema`.
    pub(crate) fn new(url: ListingTableUrl, schema: SchemaRef, format: NpyFormat, files: Vec<ObjectMeta>, summaries: &[FileSummary]) -> Self {
        // Collected in place (a `Shard` is smaller than an `ObjectMeta`): over 100,000 shards a
        // second list would be megabytes more at the planner's peak.
        let mut shards: Vec<Shard> = files
            .into_iter()
            .enumerate()
            .map(|(i, meta)| Shard {
                modified: meta.last_modified,
                location: meta.location,
                size: meta.size,
                e_tag: meta.e_tag.map(String::into_boxed_str),
                offset: 0,
                rows: summaries[i].rows,
                deflated: summaries[i].deflated,
            })
            .collect();
        // Unstable: locations are unique, and this sort allocates nothing (a stable one takes a
        // scratch buffer even for the sorted list the callers give).
        shards.sort_unstable_by(|a, b| super::natural::natural_cmp(a.location.as_ref(), b.location.as_ref()));
        let mut offset = 0u64;
        for shard in &mut shards {
            shard.offset = offset;
            offset = offset.saturating_add(shard.rows);
        }
        NpyFilesTable { url, schema, format: Arc::new(format), shards: Arc::new(shards) }
    }

    /// Files of the table.
    pub fn file_count(&self) -> usize {
        self.shards.len()
    }

    /// Rows of the table (all files).
    pub fn num_rows(&self) -> u64 {
        self.shards.last().map(|s| s.offset.saturating_add(s.rows)).unwrap_or(0)
    }

    /// Bytes the table keeps per file, on average: its record and the heap its path and ETag use.
    pub fn shard_bytes(&self) -> usize {
        let heap: usize = self.shards.iter().map(|s| s.location.as_ref().len() + s.e_tag.as_ref().map_or(0, |t| t.len())).sum();
        std::mem::size_of::<Shard>() + heap / self.shards.len().max(1)
    }

    /// Exact statistics of consecutive `shards`: rows, `_row` range, size (inexact).
    fn statistics_of(&self, shards: &[Shard]) -> Statistics {
        let rows: u64 = shards.iter().map(|s| s.rows).sum();
        let size: u64 = shards.iter().map(|s| s.size).sum();
        file_statistics(&self.schema, rows, shards.first().map(|s| s.offset), size)
    }

    /// One [`RowSpan`] standing for consecutive `shards`: their first file (for `EXPLAIN`), the
    /// size and rows of all of them.
    fn row_span(&self, shards: &[Shard]) -> PartitionedFile {
        let mut meta = shards[0].object_meta();
        meta.size = shards.iter().map(|s| s.size).sum();
        meta.e_tag = None;
        let place = FileRows { offset: shards[0].offset, rows: shards.iter().map(|s| s.rows).sum() };
        PartitionedFile::new_from_meta(meta)
            .with_extension(place)
            .with_extension(RowSpan { files: shards.len() as u64 })
            .with_statistics(Arc::new(self.statistics_of(shards)))
    }

    fn partitioned_file(shard: &Shard) -> PartitionedFile {
        let file = PartitionedFile::new_from_meta(shard.object_meta()).with_extension(shard.place());
        if shard.deflated {
            file.with_extension(Splittable(false))
        } else {
            file
        }
    }

    /// The shards a scan reads: all, or for a `limit` the first ones that hold that many rows.
    fn scanned(&self, limit: Option<usize>) -> &[Shard] {
        let Some(limit) = limit else { return &self.shards };
        let needed = self.shards.partition_point(|s| s.offset < limit as u64);
        &self.shards[..needed.max(1).min(self.shards.len())]
    }
}

#[async_trait]
impl TableProvider for NpyFilesTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// As a `ListingTable`: filters are offered to the scan (whose source turns those on `_row`
    /// into a row range) and still applied above it.
    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    fn statistics(&self) -> Option<Statistics> {
        Some(self.statistics_of(&self.shards))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let source = self.format.file_source(TableSchema::from(Arc::clone(&self.schema)));
        let builder = FileScanConfigBuilder::new(self.url.object_store(), source)
            .with_projection_indices(projection.cloned())?
            .with_limit(limit);
        if self.shards.is_empty() {
            return Ok(DataSourceExec::from_data_source(builder.build()));
        }
        let row = row_column_index(&self.schema);
        let reads_data = match projection {
            Some(columns) => columns.iter().any(|&c| Some(c) != row),
            None => self.schema.fields().len() > usize::from(row.is_some()),
        };
        let shards = if reads_data { self.scanned(limit) } else { &self.shards[..] };
        let groups_wanted = state.config_options().execution.target_partitions.max(1);
        let per_group = shards.len().div_ceil(groups_wanted).max(1);
        let mut groups = Vec::with_capacity(groups_wanted);
        for run in shards.chunks(per_group) {
            let files = if reads_data { run.iter().map(Self::partitioned_file).collect() } else { vec![self.row_span(run)] };
            groups.push(FileGroup::new(files).with_statistics(Arc::new(self.statistics_of(run))));
        }
        let conf = builder.with_file_groups(groups).with_statistics(self.statistics_of(shards)).build();
        let conf = with_row_order(conf, NpySessionOptions::preserve_row_order(state.config_options()));
        Ok(DataSourceExec::from_data_source(conf))
    }
}
