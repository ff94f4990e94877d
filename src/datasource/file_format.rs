//! [`NpyFormat`]: `.npy`/`.npz` as a DataFusion `FileFormat`, so that DataFusion's own listing
//! machinery (object-store listing, partition columns, statistics, repartitioning) serves numpy
//! files; [`NpyFormatFactory`] for `STORED AS NPY` in `COPY` and [`NpyTableFactory`] for
//! `CREATE EXTERNAL TABLE ... STORED AS NPY LOCATION 'file or directory'`.
//!
//! Table layout (SPEC §5): a `.npy` gives its record fields (or the array itself) as columns;
//! an `.npz` one column per member, or with the option `member` one member as the table. A
//! directory of such files is one table, in natural order. Every table ends with `_row`.
//!
//! Planning a scan ([`FileFormat::create_physical_plan`]) is where the numbering happens: the
//! table's files are put in natural order, each gets its `_row` offset ([`FileRows`]) and exact
//! statistics from its header (row count, `_row` min/max), so `count(*)` reads no data.
//!
//! Options (`OPTIONS ('member' 'features')`; DataFusion passes them as `format.member`):
//! - `member`: read this member of each `.npz` as the table;
//! - `files`: `npy` or `npz`, the files that make the table of a directory holding both
//!   (`STORED AS NPZ` implies `npz`; without either, such a directory is an error);
//! - `max_header_len`: longest header accepted, in bytes;
//! - `mmap`: `false` reads private copies of the files instead of mapping them (for files that
//!   another process may truncate while they are read);
//! - for `COPY` (see `sink`): `compression` (`stored`|`deflated` `.npz` members) and `nulls`
//!   (`error`|`zero`).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::parsers::CompressionTypeVariant;
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, GetExt, ScalarValue, Statistics};
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::{FileFormat, FileFormatFactory};
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl, PartitionedFile};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileScanConfigBuilder, FileSinkConfig, FileSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::CreateExternalTable;
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectMeta, ObjectStore};
use datafusion::physical_expr::LexRequirement;
use datafusion::physical_plan::ExecutionPlan;
use futures::TryStreamExt;

use super::context::NpySessionOptions;
use super::files_table::NpyFilesTable;
use super::header_cache::{FileSummary, HeaderCache};
use super::local::{df_err, local_path};
use super::remote::object_url;
use super::natural::{natural_cmp, natural_order};
use super::source::{row_column_index, FileRows, NpySource, RowSpan, Splittable};
use super::ROW_COLUMN;
use crate::error::{ErrorKind, NpyError, ResultExt};
use crate::format::table::{NpyTable, OpenOptions};
use crate::format::writer::{NullPolicy, WriteOptions};

/// How files are read as tables.
#[derive(Debug, Clone, Default)]
pub struct NpyFormatOptions {
    /// Read only this member of each `.npz` (its record fields, or itself, as columns).
    /// Default: every member is a column.
    pub member: Option<String>,
    /// Header limits, memory maps. Default: [`OpenOptions::default`].
    pub open: OpenOptions,
    /// How `COPY ... STORED AS NPY` writes (`.npz` compression). Default: stored members.
    pub write: WriteOptions,
    /// What `COPY` writes for a null of a type without a numpy missing value. Default: an error.
    pub nulls: NullPolicy,
    /// Which files make the table of a directory that holds both `.npy` and `.npz` files.
    /// Default: none, and such a directory is an error rather than a silent half of the data.
    pub files: Option<Extension>,
}

impl NpyFormatOptions {
    /// Options from `OPTIONS (...)` of `CREATE EXTERNAL TABLE`/`COPY` (keys with or without
    /// the `format.` prefix). Unknown keys are an error.
    pub fn from_map(options: &HashMap<String, String>) -> Result<Self> {
        let mut parsed = NpyFormatOptions::default();
        for (key, value) in options {
            match key.strip_prefix("format.").unwrap_or(key) {
                "member" => parsed.member = Some(value.clone()),
                "files" => {
                    parsed.files = Some(match value.to_ascii_lowercase().trim_start_matches('.') {
                        "npy" => Extension::Npy,
                        "npz" => Extension::Npz,
                        _ => {
                            return Err(DataFusionError::Configuration(format!(
                                "NPY option files: 'npy' or 'npz', not '{value}'"
                            )))
                        }
                    })
                }
                "max_header_len" => {
                    parsed.open.max_header_len = value.parse().map_err(|_| {
                        DataFusionError::Configuration(format!("NPY option max_header_len: not a byte count: {value}"))
                    })?
                }
                "mmap" => {
                    parsed.open.mmap = value.parse().map_err(|_| {
                        DataFusionError::Configuration(format!("NPY option mmap: not true or false: {value}"))
                    })?
                }
                // Writing options: parsed by the sink, below.
                "compression" | "compress" | "nulls" => {}
                // Object store options (`'aws.endpoint' '...'`): `super::object_stores`'.
                store if ["aws.", "gcp.", "azure."].iter().any(|p| store.starts_with(p)) => {}
                other => {
                    return Err(DataFusionError::Configuration(format!(
                        "unknown NPY option '{other}' (known: member, files, max_header_len, mmap, compression, nulls)"
                    )))
                }
            }
        }
        (parsed.write, parsed.nulls) = super::sink::write_options_from_map(options)?;
        Ok(parsed)
    }

    pub(crate) fn open(&self, path: &std::path::Path) -> crate::Result<NpyTable> {
        match &self.member {
            None => NpyTable::open_with(path, &self.open),
            Some(member) => NpyTable::open_npz_member(path, member, &self.open),
        }
        .in_file(path)
    }
}

/// The file extension a format is registered under and writes (`STORED AS NPY` / `NPZ`, and
/// `COPY ... TO 'x.npy' | 'x.npz'`). Both read `.npy` and `.npz` files alike.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Extension {
    #[default]
    Npy,
    Npz,
}

impl Extension {
    /// `"npy"` or `"npz"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Extension::Npy => "npy",
            Extension::Npz => "npz",
        }
    }
}

/// Makes [`NpyFormat`]s; registered under the extension `npy` (and, made with
/// [`NpyFormatFactory::npz`], `npz`).
#[derive(Debug, Default)]
pub struct NpyFormatFactory {
    options: NpyFormatOptions,
    extension: Extension,
    /// For formats made without a session that has one ([`HeaderCache::of_session`]).
    headers: Option<Arc<HeaderCache>>,
}

impl NpyFormatFactory {
    pub fn new() -> Self {
        <Self as Default>::default()
    }
    /// The factory of `STORED AS NPZ` and `COPY ... TO 'x.npz'`.
    pub fn npz() -> Self {
        NpyFormatFactory { extension: Extension::Npz, ..<Self as Default>::default() }
    }
    pub fn with_options(mut self, options: NpyFormatOptions) -> Self {
        self.options = options;
        self
    }
    /// Formats made by this factory keep headers in `cache` (unless the session has its own).
    pub fn with_header_cache(mut self, cache: Arc<HeaderCache>) -> Self {
        self.headers = Some(cache);
        self
    }

    fn format(&self, options: NpyFormatOptions, session: Option<&dyn Session>) -> NpyFormat {
        let mut format = NpyFormat { extension: self.extension, ..NpyFormat::new(options) };
        if let Some(cache) = session.and_then(|s| HeaderCache::of_session(s.config())).or_else(|| self.headers.clone()) {
            format = format.with_header_cache(cache);
        }
        format
    }
}

impl GetExt for NpyFormatFactory {
    fn get_ext(&self) -> String {
        self.extension.as_str().to_string()
    }
}

impl FileFormatFactory for NpyFormatFactory {
    fn create(&self, state: &dyn Session, format_options: &HashMap<String, String>) -> Result<Arc<dyn FileFormat>> {
        let options = if format_options.is_empty() {
            self.options.clone()
        } else {
            NpyFormatOptions::from_map(format_options)?
        };
        Ok(Arc::new(self.format(options, Some(state))))
    }

    fn default(&self) -> Arc<dyn FileFormat> {
        Arc::new(self.format(self.options.clone(), None))
    }
}

/// `.npy`/`.npz` files as a DataFusion `FileFormat`.
#[derive(Debug, Clone, Default)]
pub struct NpyFormat {
    options: NpyFormatOptions,
    extension: Extension,
    /// The table's location and file extension, when known. Then `_row` offsets count every
    /// file of the table, also those a partition filter or a limit left out of a scan;
    /// otherwise they count the files of the scan.
    table: Option<(ListingTableUrl, String)>,
    /// Where headers are read and kept: the session's cache when the format was made for a
    /// session that has one, else the format's own.
    headers: Arc<HeaderCache>,
}

impl NpyFormat {
    pub fn new(options: NpyFormatOptions) -> Self {
        NpyFormat { options, extension: Extension::Npy, table: None, headers: Arc::default() }
    }

    /// Read and keep headers in `cache` (shared with the session's catalog and other tables).
    pub fn with_header_cache(mut self, cache: Arc<HeaderCache>) -> Self {
        self.headers = cache;
        self
    }

    /// The cache this format reads headers through.
    pub fn header_cache(&self) -> &Arc<HeaderCache> {
        &self.headers
    }

    /// Number `_row` over all files of the table at `url` with extension `ext` (".npy"/".npz").
    pub fn with_table(mut self, url: ListingTableUrl, ext: impl Into<String>) -> Self {
        self.table = Some((url, ext.into()));
        self
    }

    pub fn options(&self) -> &NpyFormatOptions {
        &self.options
    }

    /// The URL of the table's store (`s3://bucket/`), when the table is known: errors name
    /// remote objects by their whole URL.
    fn store_url(&self) -> Option<ObjectStoreUrl> {
        self.table.as_ref().map(|(url, _)| url.object_store())
    }

    /// Every file of the table, for numbering: the table's listing when known, else the scan's.
    async fn table_files(&self, state: &dyn Session, store: &Arc<dyn ObjectStore>, conf: &FileScanConfig) -> Result<Vec<ObjectMeta>> {
        // Without partition columns or a limit, the listing left no file out of the scan.
        let scan_has_all = conf.table_partition_cols().is_empty() && conf.limit.is_none();
        let mut files: Vec<ObjectMeta> = match (&self.table, scan_has_all) {
            (Some((url, ext)), false) => url.list_all_files(state, store.as_ref(), ext).await?.try_collect().await?,
            _ => Vec::new(),
        };
        let listed: HashSet<&Path> = files.iter().map(|m| &m.location).collect();
        let mut scanned = HashSet::new();
        let unlisted: Vec<ObjectMeta> = conf
            .file_groups
            .iter()
            .flat_map(|g| g.files())
            .map(|f| &f.object_meta)
            .filter(|m| !listed.contains(&m.location) && scanned.insert(&m.location))
            .cloned()
            .collect();
        drop(listed);
        files.extend(unlisted);
        files.sort_by(|a, b| natural_cmp(a.location.as_ref(), b.location.as_ref()));
        Ok(files)
    }

    /// Every file of the table in natural order, with its place: `_row` of its first row, and
    /// its row count (from the scan's statistics when it has them, else from the header).
    async fn place_files(&self, state: &dyn Session, store: &Arc<dyn ObjectStore>, conf: &FileScanConfig) -> Result<Vec<(ObjectMeta, FileRows)>> {
        let known: HashMap<&Path, u64> = conf
            .file_groups
            .iter()
            .flat_map(|g| g.files())
            .filter_map(|f| match f.statistics.as_deref().map(|s| &s.num_rows) {
                Some(Precision::Exact(n)) if f.range.is_none() => Some((&f.object_meta.location, *n as u64)),
                _ => None,
            })
            .collect();
        let files = self.table_files(state, store, conf).await?;
        let unknown: Vec<ObjectMeta> = files.iter().filter(|m| !known.contains_key(&m.location)).cloned().collect();
        let read = self.headers.summaries(store, Some(&conf.object_store_url), &unknown, &self.options).await?;
        let read: HashMap<&Path, u64> = unknown.iter().map(|m| &m.location).zip(read.iter().map(|s| s.rows)).collect();
        let mut placed = Vec::with_capacity(files.len());
        let mut offset = 0u64;
        for meta in files {
            let rows = known.get(&meta.location).or_else(|| read.get(&meta.location)).copied().ok_or_else(|| {
                DataFusionError::Internal(format!("no row count for {}", meta.location))
            })?;
            placed.push((meta, FileRows { offset, rows }));
            offset = offset.saturating_add(rows);
        }
        Ok(placed)
    }

    /// For `LIMIT n` without filters, the listing kept some files with `n` rows, in no
    /// particular order; read the first files in natural order instead, so that a limit shows
    /// the table's first rows.
    fn first_files(&self, conf: FileScanConfig, placed: &[(ObjectMeta, FileRows)]) -> FileScanConfig {
        let Some(limit) = conf.limit else { return conf };
        let simple = self.table.is_some()
            && conf.table_partition_cols().is_empty()
            && conf.output_partitioning.is_none()
            && conf.file_groups.iter().flat_map(|g| g.files()).all(|f| f.range.is_none());
        if !simple {
            return conf;
        }
        let mut files = Vec::new();
        let mut rows = 0u64;
        for (meta, place) in placed {
            if rows >= limit as u64 {
                break;
            }
            files.push(PartitionedFile::new_from_meta(meta.clone()));
            rows = rows.saturating_add(place.rows);
        }
        FileScanConfigBuilder::from(conf).with_file_groups(vec![FileGroup::new(files)]).build()
    }

    /// The scan's `.npz` files with a deflated member in the table: splitting such a file into
    /// byte ranges would make every range inflate the stream from its start.
    async fn deflated_files(&self, store: &Arc<dyn ObjectStore>, conf: &FileScanConfig) -> Result<HashSet<Path>> {
        let mut seen = HashSet::new();
        let archives: Vec<ObjectMeta> = conf
            .file_groups
            .iter()
            .flat_map(|g| g.files())
            .map(|f| &f.object_meta)
            .filter(|m| m.location.as_ref().ends_with(".npz") && seen.insert(&m.location))
            .cloned()
            .collect();
        let summaries = self.headers.summaries(store, Some(&conf.object_store_url), &archives, &self.options).await?;
        Ok(archives.into_iter().zip(summaries).filter(|(_, s)| s.deflated).map(|(m, _)| m.location).collect())
    }

    /// The scan's files in natural order with their places and exact statistics, in as many
    /// groups as before (unless the groups carry a declared partitioning or byte ranges).
    fn arrange(&self, conf: FileScanConfig, places: &HashMap<Path, FileRows>, deflated: &HashSet<Path>) -> Result<FileScanConfig> {
        let file_schema = Arc::clone(conf.file_schema());
        let table_schema = Arc::clone(conf.file_source.table_schema().table_schema());
        let place = |file: PartitionedFile| -> Result<PartitionedFile> {
            let rows = *places.get(&file.object_meta.location).ok_or_else(|| {
                DataFusionError::Internal(format!("no row count for {}", file.object_meta.location))
            })?;
            let stats = file_statistics(&file_schema, rows.rows, Some(rows.offset), file.object_meta.size);
            let splittable = Splittable(!deflated.contains(&file.object_meta.location));
            Ok(file.with_extension(rows).with_extension(splittable).with_statistics(Arc::new(stats)))
        };
        let keep_groups = conf.output_partitioning.is_some()
            || conf.file_groups.iter().flat_map(|g| g.files()).any(|f| f.range.is_some());
        let groups: Vec<Vec<PartitionedFile>> = if keep_groups {
            conf.file_groups.iter().map(|g| g.files().iter().cloned().map(place).collect()).collect::<Result<_>>()?
        } else {
            let mut files: Vec<PartitionedFile> =
                conf.file_groups.iter().flat_map(|g| g.files().iter().cloned()).map(place).collect::<Result<_>>()?;
            files.sort_by(|a, b| natural_cmp(a.object_meta.location.as_ref(), b.object_meta.location.as_ref()));
            let chunk = files.len().div_ceil(conf.file_groups.len().max(1)).max(1);
            files.chunks(chunk).map(|c| c.to_vec()).collect()
        };
        let mut group_stats = Vec::with_capacity(groups.len());
        let mut file_groups = Vec::with_capacity(groups.len());
        for files in groups {
            let stats = Statistics::try_merge_iter(files.iter().filter_map(|f| f.statistics.as_deref()), &table_schema)?;
            group_stats.push(stats.clone());
            file_groups.push(FileGroup::new(files).with_statistics(Arc::new(stats)));
        }
        let stats = Statistics::try_merge_iter(group_stats.iter(), &table_schema)?;
        Ok(FileScanConfigBuilder::from(conf).with_file_groups(file_groups).with_statistics(stats).build())
    }
}

/// A scan that reads no data column (`count(*)`, `_row` alone) of a table without partition
/// columns needs no file, only row positions: its files become one [`RowSpan`] per run of
/// consecutive files (usually one for the whole table), so the plan does not carry one
/// `PartitionedFile` (with its statistics) per shard. A span shows as its first file in
/// `EXPLAIN`. Any other scan is handed back (`Err`) unchanged.
fn row_spans(conf: FileScanConfig, places: &HashMap<Path, FileRows>) -> Result<std::result::Result<FileScanConfig, FileScanConfig>> {
    let reads_data = match conf.file_source.downcast_ref::<NpySource>() {
        Some(source) => source.reads_data_columns(),
        None => true,
    };
    let byte_ranges = conf.file_groups.iter().flat_map(|g| g.files()).any(|f| f.range.is_some());
    if reads_data || byte_ranges || !conf.table_partition_cols().is_empty() || conf.output_partitioning.is_some() {
        return Ok(Err(conf));
    }
    let mut files: Vec<(&PartitionedFile, FileRows)> = Vec::new();
    for file in conf.file_groups.iter().flat_map(|g| g.files()) {
        let place = *places.get(&file.object_meta.location).ok_or_else(|| {
            DataFusionError::Internal(format!("no row count for {}", file.object_meta.location))
        })?;
        files.push((file, place));
    }
    files.sort_by_key(|(_, place)| place.offset);
    let mut spans: Vec<PartitionedFile> = Vec::new();
    let mut current: Option<(ObjectMeta, FileRows, u64)> = None;
    let file_schema = Arc::clone(conf.file_schema());
    let finish = |(mut meta, place, files): (ObjectMeta, FileRows, u64)| {
        let stats = file_statistics(&file_schema, place.rows, Some(place.offset), meta.size);
        meta.e_tag = None;
        meta.version = None;
        PartitionedFile::new_from_meta(meta).with_extension(place).with_extension(RowSpan { files }).with_statistics(Arc::new(stats))
    };
    for (file, place) in files {
        current = match current {
            Some((mut meta, mut span, n)) if span.offset.saturating_add(span.rows) == place.offset => {
                span.rows = span.rows.saturating_add(place.rows);
                meta.size = meta.size.saturating_add(file.object_meta.size);
                Some((meta, span, n + 1))
            }
            previous => {
                spans.extend(previous.map(&finish));
                Some((file.object_meta.clone(), place, 1))
            }
        };
    }
    spans.extend(current.map(&finish));
    let table_schema = Arc::clone(conf.file_source.table_schema().table_schema());
    let chunk = spans.len().div_ceil(conf.file_groups.len().max(1)).max(1);
    let mut groups = Vec::new();
    for files in spans.chunks(chunk) {
        let stats = Statistics::try_merge_iter(files.iter().filter_map(|f| f.statistics.as_deref()), &table_schema)?;
        groups.push(FileGroup::new(files.to_vec()).with_statistics(Arc::new(stats)));
    }
    let stats = Statistics::try_merge_iter(groups.iter().filter_map(|g| g.file_statistics(None)), &table_schema)?;
    Ok(Ok(FileScanConfigBuilder::from(conf).with_file_groups(groups).with_statistics(stats).build()))
}

/// `conf` with its `NpySource` told whether rows are to come out in `_row` order.
pub(crate) fn with_row_order(conf: FileScanConfig, row_order: bool) -> FileScanConfig {
    let Some(source) = conf.file_source.downcast_ref::<NpySource>() else {
        return conf;
    };
    let source = source.clone().with_row_order(row_order);
    FileScanConfigBuilder::from(conf).with_source(Arc::new(source)).build()
}

/// Exact statistics of one file from its header: rows, and `_row`'s range once the file's
/// offset in the table is known; the rest unknown.
pub(crate) fn file_statistics(file_schema: &Schema, rows: u64, offset: Option<u64>, size: u64) -> Statistics {
    let mut stats = Statistics::new_unknown(file_schema)
        .with_num_rows(Precision::Exact(rows as usize))
        .with_total_byte_size(Precision::Inexact(size as usize));
    if let Some(row) = row_column_index(file_schema) {
        let mut column = ColumnStatistics::new_unknown().with_null_count(Precision::Exact(0));
        if let (Some(offset), true) = (offset, rows > 0) {
            let first = offset as i64;
            let last = first.saturating_add(rows as i64 - 1);
            column = column
                .with_min_value(Precision::Exact(ScalarValue::Int64(Some(first))))
                .with_max_value(Precision::Exact(ScalarValue::Int64(Some(last))));
        }
        stats.column_statistics[row] = column;
    }
    stats
}

#[async_trait]
impl FileFormat for NpyFormat {
    fn get_ext(&self) -> String {
        self.extension.as_str().to_string()
    }

    fn get_ext_with_compression(&self, compression: &FileCompressionType) -> Result<String> {
        match compression.get_variant() {
            CompressionTypeVariant::UNCOMPRESSED => Ok(self.get_ext()),
            _ => Err(DataFusionError::NotImplemented(
                "NPY files are not compressed as a whole (use .npz members with deflate)".into(),
            )),
        }
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        None
    }

    async fn infer_schema(&self, _state: &dyn Session, store: &Arc<dyn ObjectStore>, objects: &[ObjectMeta]) -> Result<SchemaRef> {
        let store_url = self.store_url();
        let summaries = self.headers.summaries(store, store_url.as_ref(), objects, &self.options).await?;
        table_schema_of(store, store_url.as_ref(), objects, &summaries)
    }

    async fn infer_stats(&self, _state: &dyn Session, store: &Arc<dyn ObjectStore>, table_schema: SchemaRef, object: &ObjectMeta) -> Result<Statistics> {
        let summary = self.headers.summaries(store, self.store_url().as_ref(), std::slice::from_ref(object), &self.options).await?;
        let rows = summary.first().map(|s| s.rows).unwrap_or(0);
        // The file's offset in the table is known only when a scan is planned.
        Ok(file_statistics(&table_schema, rows, None, object.size))
    }

    async fn create_physical_plan(&self, state: &dyn Session, conf: FileScanConfig) -> Result<Arc<dyn ExecutionPlan>> {
        if conf.file_groups.iter().all(|g| g.is_empty()) {
            return Ok(DataSourceExec::from_data_source(conf));
        }
        let store = state.runtime_env().object_store(&conf.object_store_url)?;
        let placed = self.place_files(state, &store, &conf).await?;
        let conf = self.first_files(conf, &placed);
        let places: HashMap<Path, FileRows> = placed.into_iter().map(|(meta, place)| (meta.location, place)).collect();
        let conf = match row_spans(conf, &places)? {
            Ok(spans) => return Ok(DataSourceExec::from_data_source(spans)),
            Err(conf) => conf,
        };
        let deflated = self.deflated_files(&store, &conf).await?;
        let conf = with_row_order(conf, NpySessionOptions::preserve_row_order(state.config_options()));
        Ok(DataSourceExec::from_data_source(self.arrange(conf, &places, &deflated)?))
    }

    async fn create_writer_physical_plan(
        &self,
        input: Arc<dyn ExecutionPlan>,
        state: &dyn Session,
        conf: FileSinkConfig,
        order_requirements: Option<LexRequirement>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (write, nulls) = (self.options.write.clone(), self.options.nulls);
        super::sink::create_writer_physical_plan_with_options(input, state, conf, order_requirements, write, nulls).await
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        Arc::new(NpySource::new(table_schema, self.options.clone()).with_header_cache(Arc::clone(&self.headers)))
    }
}

/// The table schema of `objects` (any order) from their headers' `summaries` (same order):
/// see [`merge_file_schemas`].
fn table_schema_of(
    store: &Arc<dyn ObjectStore>,
    store_url: Option<&ObjectStoreUrl>,
    objects: &[ObjectMeta],
    summaries: &[FileSummary],
) -> Result<SchemaRef> {
    // Usually sorted already (then found so in one pass); as `u32`s and described only as
    // the merge looks at them: over 100,000 shards a list of descriptions was 4 MB at the
    // planner's peak.
    let order = natural_order(objects.len(), |i| objects[i].location.as_ref());
    let name = order.first().map(|&i| table_dir_name(&objects[i as usize].location));
    // A remote file is named by its whole URL (s3://bucket/key), a local one by its path.
    let file_path = |location: &Path| local_path(store.as_ref(), location).unwrap_or_else(|| PathBuf::from(object_url(store_url, location)));
    let file = |k: usize| FileColumns { location: &objects[order[k] as usize].location, summary: &summaries[order[k] as usize] };
    Ok(Arc::new(merge_file_schemas(order.len(), file, name.flatten().as_deref(), file_path).map_err(df_err)?))
}

/// One file's columns, as its headers give them.
struct FileColumns<'a> {
    location: &'a Path,
    summary: &'a FileSummary,
}

impl<'a> FileColumns<'a> {
    fn schema(&self) -> &'a SchemaRef {
        &self.summary.schema
    }

    /// For a plain (non-record) `.npy` array: the file stem its one column is named after.
    fn plain_stem(&self) -> Option<&'a str> {
        let stem = self.location.filename().and_then(|name| std::path::Path::new(name).file_stem()).and_then(|s| s.to_str());
        stem.filter(|_| self.summary.plain_npy)
    }
}

/// The directory a table's files are in, without `key=value` partition levels: the name of a
/// column of plain arrays whose files are named differently (`readings/part-1.npy`, ...).
fn table_dir_name(location: &Path) -> Option<String> {
    let parts: Vec<String> = location.parts().map(|p| p.as_ref().to_string()).collect();
    let dirs = parts.split_last().map(|(_, dirs)| dirs).unwrap_or(&[]);
    dirs.iter().rev().find(|d| !d.contains('=')).cloned()
}

/// The table's file schema: the columns every file shares (same types, in the same order),
/// then `_row`. Plain arrays from files with different stems get one column name: the
/// directory's (`dir_name`).
/// `file_path` names a file in errors.
fn merge_file_schemas<'a>(
    count: usize,
    file: impl Fn(usize) -> FileColumns<'a>,
    dir_name: Option<&str>,
    file_path: impl Fn(&Path) -> PathBuf,
) -> crate::Result<Schema> {
    if count == 0 {
        return Err(ErrorKind::InvalidArgument("no .npy or .npz files".into()).into());
    }
    let first = file(0);
    let first_stem = first.plain_stem();
    let stems_differ = (1..count).any(|k| file(k).plain_stem() != first_stem);
    let rename = |f: &FileColumns| -> Vec<Field> {
        let stem = f.plain_stem();
        f.schema()
            .fields()
            .iter()
            .map(|field| match (stem, dir_name) {
                (Some(_), Some(dir)) if stems_differ => field.as_ref().clone().with_name(dir),
                (Some(stem), _) => field.as_ref().clone().with_name(stem),
                (None, _) => field.as_ref().clone(),
            })
            .collect()
    };
    let fields = rename(&first);
    for other in (1..count).map(&file) {
        // Shards share one schema (the header cache hands out one allocation): nothing to compare.
        if Arc::ptr_eq(other.schema(), first.schema()) && other.plain_stem().is_some() == first_stem.is_some() {
            continue;
        }
        let theirs = rename(&other);
        let same = theirs.len() == fields.len()
            && theirs.iter().zip(&fields).all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if !same {
            let describe = |fs: &[Field]| fs.iter().map(|f| format!("{}: {}", f.name(), f.data_type())).collect::<Vec<_>>().join(", ");
            let message = format!(
                "its columns ({}) differ from those of {} ({})",
                describe(&theirs),
                file_path(first.location).display(),
                describe(&fields)
            );
            return Err(NpyError::from(ErrorKind::InvalidArgument(message)).in_file(file_path(other.location)));
        }
    }
    if fields.iter().any(|f| f.name() == ROW_COLUMN) {
        return Err(NpyError::from(ErrorKind::InvalidArgument(format!(
            "a column is named '{ROW_COLUMN}', the name of the row-position column"
        )))
        .in_file(file_path(first.location)));
    }
    let mut fields = fields;
    fields.push(Field::new(ROW_COLUMN, DataType::Int64, false));
    // The numpy facts about the array the columns are the fields of (a record's descr and
    // shape), when every file agrees: `COPY ... TO 'x.npy'` then writes that array back.
    let metadata = first.schema().metadata();
    let agreed = (1..count).all(|k| {
        let schema = file(k).schema();
        Arc::ptr_eq(schema, first.schema()) || schema.metadata() == metadata
    });
    Ok(Schema::new_with_metadata(fields, if agreed { metadata.clone() } else { Default::default() }))
}

/// `CREATE EXTERNAL TABLE t STORED AS NPY LOCATION 'file.npy' | 'file.npz' | 'dir/'`, with
/// `OPTIONS ('member' 'name')` for one `.npz` member. Partition columns (`key=value/`
/// directories) are found by DataFusion's listing. The files' headers define the columns: a
/// column list, if given, must name columns the files have, with their types.
#[derive(Debug, Default)]
pub struct NpyTableFactory;

#[async_trait]
impl TableProviderFactory for NpyTableFactory {
    async fn create(&self, state: &dyn Session, cmd: &CreateExternalTable) -> Result<Arc<dyn TableProvider>> {
        let [location] = cmd.locations.as_slice() else {
            return Err(DataFusionError::Plan("an NPY table has exactly one LOCATION".into()));
        };
        let mut options = NpyFormatOptions::from_map(&cmd.options)?;
        if options.files.is_none() && cmd.file_type.eq_ignore_ascii_case("npz") {
            options.files = Some(Extension::Npz);
        }
        super::object_stores::ensure_object_store(state.runtime_env(), location, &cmd.options)?;
        // Keyed by the table's name in DataFusion's list-files cache, as the stock factory does.
        let url = ListingTableUrl::parse(location)?.with_table_ref(cmd.name.clone());
        let table = listing_table(state, url, options, &cmd.table_partition_cols).await?;
        check_declared_columns(cmd.schema.inner(), &table.schema(), location)?;
        Ok(table)
    }
}

/// A declared column must be one the files provide, with the same type.
fn check_declared_columns(declared: &Schema, found: &Schema, location: &str) -> Result<()> {
    for field in declared.fields() {
        match found.field_with_name(field.name()) {
            Ok(have) if have.data_type() == field.data_type() => {}
            Ok(have) => {
                return Err(DataFusionError::Plan(format!(
                    "{location}: column '{}' is declared {} but the files hold {}",
                    field.name(),
                    field.data_type(),
                    have.data_type()
                )))
            }
            Err(_) => {
                let names: Vec<&str> = found.fields().iter().map(|f| f.name().as_str()).collect();
                return Err(DataFusionError::Plan(format!(
                    "{location}: no column '{}' in the files (columns: {})",
                    field.name(),
                    names.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// A table over a `.npy`/`.npz` file or a directory (prefix) of them: the one way every table
/// of this crate is made. Without `key=value` levels an [`NpyFilesTable`] (one small record per
/// file, headers read now); with them (`partition_cols`, or found when empty) a `ListingTable`,
/// which prunes partitions and fills partition columns.
pub async fn listing_table(
    state: &dyn Session,
    url: ListingTableUrl,
    options: NpyFormatOptions,
    partition_cols: &[String],
) -> Result<Arc<dyn TableProvider>> {
    let store = state.runtime_env().object_store(&url)?;
    // One listing for the kind of files, the partition levels and the schema (DataFusion's
    // `ListingOptions` would list the directory once for each).
    let named = |e: DataFusionError| super::remote::naming(url.as_str(), e);
    let listed: Vec<ObjectMeta> = super::listing::list_table_files(state, &store, &url).await.map_err(named)?;
    let ext = table_extension(&url, &listed, options.files)?;
    let files: Vec<ObjectMeta> = listed.into_iter().filter(|f| f.location.as_ref().ends_with(ext.as_str())).collect();
    let headers = HeaderCache::of_session(state.config()).unwrap_or_default();
    let format = NpyFormat::new(options).with_table(url.clone(), ext.clone()).with_header_cache(headers);
    let partitions =
        if partition_cols.is_empty() && url.is_collection() { infer_partitions(&url, &files)? } else { partition_cols.to_vec() };
    if partitions.is_empty() {
        // In natural order once: the later sorts (schema, records) then find them sorted, and
        // the first bad header reported is the first in that order.
        let mut files = files;
        // Unstable (locations are unique) and in place: cached sort keys were faster by a
        // noise-sized margin and 3 MB more at the planner's peak over 100,000 shards; sorting
        // on another thread while the headers were read gained nothing measurable.
        files.sort_unstable_by(|a, b| natural_cmp(a.location.as_ref(), b.location.as_ref()));
        // Every file's header, for the schema and for each file's rows.
        let store_url = url.object_store();
        let summaries = format.headers.summaries(&store, Some(&store_url), &files, &format.options).await.map_err(named)?;
        let schema = table_schema_of(&store, Some(&store_url), &files, &summaries).map_err(named)?;
        return Ok(Arc::new(NpyFilesTable::new(url, schema, format, files, &summaries)));
    }
    // As `ListingOptions::infer_schema`: empty files say nothing of the schema.
    let nonempty: Vec<ObjectMeta> = files.into_iter().filter(|f| f.size > 0).collect();
    let schema = format.infer_schema(state, &store, &nonempty).await.map_err(named)?;
    drop(nonempty);
    let partition_type = DataType::Dictionary(Box::new(DataType::UInt16), Box::new(DataType::Utf8));
    let listing = ListingOptions::new(Arc::new(format))
        .with_file_extension(ext)
        .with_table_partition_cols(partitions.into_iter().map(|p| (p, partition_type.clone())).collect());
    let config = ListingTableConfig::new(url).with_listing_options(listing).with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// Which files of a directory make its table, from how many `.npy` and `.npz` files it holds:
/// the one kind it has, or `chosen` when it has both (without `chosen`, the reason it cannot
/// be read, to follow the directory's name). The one rule of SQL tables and `npyq convert DIR`.
pub fn directory_file_kind(npy: usize, npz: usize, chosen: Option<Extension>) -> std::result::Result<Extension, String> {
    let kind = match (npy, npz, chosen) {
        (0, 0, _) => return Err("holds no .npy or .npz files".into()),
        (_, _, Some(kind)) => kind,
        (_, 0, None) => Extension::Npy,
        (0, _, None) => Extension::Npz,
        (_, _, None) => {
            return Err(format!(
                "holds both .npy ({npy}) and .npz ({npz}) files; a table is one kind: say which \
                 (SQL: CREATE EXTERNAL TABLE ... STORED AS NPY LOCATION '...' OPTIONS ('files' 'npy') or 'npz')"
            ))
        }
    };
    let have = if kind == Extension::Npy { npy } else { npz };
    if have == 0 {
        return Err(format!("holds no .{} files", kind.as_str()));
    }
    Ok(kind)
}

/// The `key=value` levels of a table's files, as `ListingOptions::infer_partitions` finds them
/// (from the first ten files; levels that differ are an error), from a listing already made.
fn infer_partitions(url: &ListingTableUrl, files: &[ObjectMeta]) -> Result<Vec<String>> {
    let mut keys_per_file = files.iter().take(10).map(|file| {
        let parts: Vec<&str> = url.strip_prefix(&file.location).map(|p| p.collect()).unwrap_or_default();
        let dirs = parts.split_last().map(|(_, dirs)| dirs).unwrap_or(&[]);
        dirs.iter().filter(|d| d.contains('=')).map(|d| d.split('=').next().unwrap_or_default().to_string()).collect::<Vec<_>>()
    });
    let Some(first) = keys_per_file.next() else { return Ok(vec![]) };
    for other in keys_per_file {
        if other != first {
            let mut found = vec![first, other];
            found.sort();
            return Err(DataFusionError::Plan(format!("Found mixed partition values on disk {found:?}")));
        }
    }
    Ok(first)
}

/// ".npy" or ".npz": a file's own; for a directory, the kind of file it holds, or `files` if
/// it holds both (without `files`, an error naming the directory).
fn table_extension(url: &ListingTableUrl, listed: &[ObjectMeta], files: Option<Extension>) -> Result<String> {
    if listed.is_empty() {
        return Err(DataFusionError::Plan(format!("{url}: no such file or directory (or it is empty)")));
    }
    let count = |ext: &str| listed.iter().filter(|f| f.location.as_ref().ends_with(ext)).count();
    let chosen = directory_file_kind(count(".npy"), count(".npz"), files)
        .map_err(|why| DataFusionError::Plan(format!("{url} {why}")))?;
    Ok(format!(".{}", chosen.as_str()))
}

impl fmt::Display for NpyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.options.member {
            Some(member) => write!(f, "NPY(member={member})"),
            None => write!(f, "NPY"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain array's file: where it is, and its header's summary (its column unnamed, as
    /// the header cache keeps it).
    fn plain(location: &str, dtype: DataType) -> (Path, FileSummary) {
        let schema = Arc::new(Schema::new(vec![Field::new("", dtype, false)]));
        (Path::from(location), FileSummary { schema, rows: 1, plain_npy: true, deflated: false })
    }

    fn merge(files: &[(Path, FileSummary)], dir: &str) -> crate::Result<Schema> {
        let file = |k: usize| FileColumns { location: &files[k].0, summary: &files[k].1 };
        merge_file_schemas(files.len(), file, Some(dir), |location| PathBuf::from(location.as_ref()))
    }

    #[test]
    fn shards_of_plain_arrays_take_the_directory_name() {
        let schema = merge(&[plain("d/part-1.npy", DataType::Int16), plain("d/part-2.npy", DataType::Int16)], "d").unwrap();
        let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["d", "_row"]);
    }

    #[test]
    fn same_stems_keep_their_name_and_types_must_agree() {
        let schema = merge(&[plain("s/y=1/amount.npy", DataType::Float64), plain("s/y=2/amount.npy", DataType::Float64)], "s").unwrap();
        assert_eq!(schema.field(0).name(), "amount");
        let err = merge(&[plain("d/a.npy", DataType::Int64), plain("d/b.npy", DataType::Float64)], "d").unwrap_err().to_string();
        assert!(err.starts_with("d/b.npy: ") && err.contains("(d: Float64) differ from those of d/a.npy (d: Int64)"), "{err}");
    }

    #[test]
    fn directory_name_skips_partition_levels() {
        assert_eq!(table_dir_name(&Path::from("data/sales/year=2023/amount.npy")).as_deref(), Some("sales"));
        assert_eq!(table_dir_name(&Path::from("x.npy")), None);
    }
}
