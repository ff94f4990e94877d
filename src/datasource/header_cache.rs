//! [`HeaderCache`]: what each file's headers say (columns, rows, how it is stored), kept for the
//! session so that a file's header is read once, not once per planning step and query.
//!
//! An entry is keyed by the file's identity as the object store lists it: location, size,
//! modification time and ETag (when the store gives one). Listings are fresh on every query, so a
//! file that changed (another size, time or ETag) misses and is read again; an unchanged one is
//! answered from memory. Schema inference, statistics, scan planning and header-only scans
//! (`count(*)`, `_row`) all ask here; [`super::SessionContextNpyExt::register_npy_format`] puts
//! one cache in the session's config ([`HeaderCache::of_session`]) for the catalog, the formats
//! and the scans to share.
//!
//! Misses are read concurrently, with a bounded number of reads in flight: files of a local
//! store in batches on the blocking pool (one open and one small read each, no map: see
//! [`NpyTable::read_summary`]), so 100,000 shards cost a few hundred thread hand-offs, not
//! 100,000; other stores' `.npy` objects by a ranged read of their header, `.npz` objects by
//! ranged reads of their zip directory and member headers (`super::remote`).
//!
//! Memory: about 60 bytes per file (128 bits of hash of its location, 64 of its size, time and
//! ETag, the row count and flags, and the hash table's slack); schemas are shared between files
//! that have the same one.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::config::SessionConfig;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectMeta, ObjectStore};
use futures::StreamExt;

use super::file_format::NpyFormatOptions;
use super::local::{blocking, df_err, local_file, LocalRoot};
use super::remote::{is_npz, object_url, open_ranged, open_ranged_npz, reads_by_range};
use crate::format::table::{NpyTable, Storage, TableSummary};

/// Files read per task on the blocking pool: enough to make the hand-off negligible, few
/// enough that both cores get work on a directory of a few hundred files.
const FILES_PER_TASK: usize = 64;

/// Entries kept at most by default (about 64 MB at 60 bytes each); when full, the cache
/// starts over rather than grow (a rare, cheap event: the next query re-reads headers).
const DEFAULT_MAX_ENTRIES: usize = 1 << 20;

/// What a file's headers say, as a table of this crate sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSummary {
    /// The file's columns (without `_row`). The one column of a plain (non-record) `.npy`
    /// array has an empty name here: the table names it (after the file or its directory).
    pub schema: SchemaRef,
    pub rows: u64,
    /// A `.npy` (read without `member`) holding a plain array: one column, unnamed here.
    pub plain_npy: bool,
    /// An `.npz` member is deflated (the file cannot be split into byte ranges cheaply).
    pub deflated: bool,
}

/// Headers of files, by file identity; see the module docs.
pub struct HeaderCache {
    state: Mutex<State>,
    /// Headers read (cache misses), since the cache was made.
    header_reads: AtomicU64,
    max_entries: usize,
    /// Reads (or batches of local reads) in flight at most.
    concurrency: usize,
}

#[derive(Default)]
struct State {
    scopes: HashMap<Scope, HashMap<LocationKey, Entry, BuildHasherDefault<Prehashed>>>,
    entries: usize,
    /// Distinct schemas seen lately, so that files with equal schemas share one allocation.
    schemas: Vec<SchemaRef>,
}

/// What else decides a summary besides the file: its store and how it is read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Scope {
    /// The store's address: stores live as long as the session's registry holds them.
    store: usize,
    member: Option<String>,
    max_header_len: u64,
}

/// A file's location as 128 bits of hash: the cache keeps no copy of 100,000 paths (48 bytes an
/// entry, not 80 and the path). Two locations of one table share a key with a probability of
/// about 2^-128 per pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct LocationKey(u64, u64);

impl LocationKey {
    fn of(location: &Path) -> Self {
        LocationKey(hash_of(&(0u8, location.as_ref())), hash_of(&(1u8, location.as_ref())))
    }
}

/// The map of [`LocationKey`]s hashes them no further: they are hashes already.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached through `write_u64` below for a `LocationKey`; any other key still hashes.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.0 ^= word;
    }
}

struct Entry {
    /// Hash of the size, modification time and ETag the file had when read.
    version: u64,
    summary: FileSummary,
}

/// A hash of the size, modification time (ns) and ETag: what tells one version of a file from
/// another.
fn version_of(meta: &ObjectMeta) -> u64 {
    let modified = meta.last_modified.timestamp_nanos_opt().unwrap_or_else(|| meta.last_modified.timestamp());
    hash_of(&(meta.size, modified, meta.e_tag.as_deref()))
}

fn hash_of(value: &impl Hash) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

impl Default for HeaderCache {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HeaderCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderCache").field("entries", &self.len()).field("header_reads", &self.header_reads()).finish()
    }
}

impl HeaderCache {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        HeaderCache {
            state: Mutex::new(State::default()),
            header_reads: AtomicU64::new(0),
            max_entries: DEFAULT_MAX_ENTRIES,
            concurrency: cores.max(2),
        }
    }

    /// Keep at most this many files (default 1,048,576); when full, the cache starts over.
    pub fn with_max_entries(mut self, entries: usize) -> Self {
        self.max_entries = entries.max(1);
        self
    }

    /// Read at most this many headers (or batches of local files) at once. Default: the
    /// number of cores, at least 2.
    pub fn with_concurrency(mut self, reads: usize) -> Self {
        self.concurrency = reads.max(1);
        self
    }

    /// The session's cache (installed by `register_npy_format`), if it has one.
    pub fn of_session(config: &SessionConfig) -> Option<Arc<HeaderCache>> {
        config.get_extension::<HeaderCache>()
    }

    /// Headers read so far (each miss is one read of one file's headers).
    pub fn header_reads(&self) -> u64 {
        self.header_reads.load(Ordering::Relaxed)
    }

    /// Files held.
    pub fn len(&self) -> usize {
        self.state.lock().map(|s| s.entries).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget every file.
    pub fn clear(&self) {
        if let Ok(mut state) = self.state.lock() {
            *state = State::default();
        }
    }

    /// The summary of each of `files` (in the same order), from memory where the file is
    /// unchanged, else read (concurrently) and remembered. The first error in `files` order
    /// is returned; it names the file (a remote one by its whole URL: `store_url`, the store's
    /// `s3://bucket/`, then its location; `None` when unknown).
    pub async fn summaries(
        &self,
        store: &Arc<dyn ObjectStore>,
        store_url: Option<&ObjectStoreUrl>,
        files: &[ObjectMeta],
        options: &NpyFormatOptions,
    ) -> Result<Vec<FileSummary>> {
        let scope = Scope {
            store: Arc::as_ptr(store) as *const () as usize,
            member: options.member.clone(),
            max_header_len: options.open.max_header_len,
        };
        let mut found: Vec<Option<FileSummary>> = self.lookup(&scope, files)?;
        let missing: Vec<usize> = (0..files.len()).filter(|&i| found[i].is_none()).collect();
        if !missing.is_empty() {
            let Read { found: read, first_error } = self.read(store, store_url, files, &missing, options, Read::filling(found)).await;
            found = read;
            self.header_reads.fetch_add(missing.len() as u64, Ordering::Relaxed);
            self.remember(&scope, files, &missing, &mut found)?;
            if let Some((_, e)) = first_error {
                return Err(e);
            }
        }
        found
            .into_iter()
            .zip(files)
            .map(|(s, meta)| s.ok_or_else(|| DataFusionError::Internal(format!("no header summary for {}", meta.location))))
            .collect()
    }

    fn lookup(&self, scope: &Scope, files: &[ObjectMeta]) -> Result<Vec<Option<FileSummary>>> {
        let state = self.state.lock().map_err(|_| poisoned())?;
        let Some(entries) = state.scopes.get(scope) else { return Ok(vec![None; files.len()]) };
        Ok(files
            .iter()
            .map(|meta| entries.get(&LocationKey::of(&meta.location)).filter(|e| e.version == version_of(meta)).map(|e| e.summary.clone()))
            .collect())
    }

    /// Store the summaries just read (`found[i]` for each `i` in `read`; their schemas shared
    /// with equal ones already held, also in `found`).
    fn remember(&self, scope: &Scope, files: &[ObjectMeta], read: &[usize], found: &mut [Option<FileSummary>]) -> Result<()> {
        let mut state = self.state.lock().map_err(|_| poisoned())?;
        if state.entries.saturating_add(read.len()) > self.max_entries {
            *state = State::default();
        }
        let State { scopes, entries: held, schemas } = &mut *state;
        let entries = scopes.entry(scope.clone()).or_default();
        // Room for all at once: growing by doubling would hold the old and the new table.
        entries.reserve(read.len());
        // A batch of reads shares one schema among its files: compare it with the held ones
        // once, not once per file.
        let mut last: Option<(SchemaRef, SchemaRef)> = None;
        for &index in read {
            // A file whose read failed has none (the first failure is the caller's error).
            let Some(summary) = found[index].as_mut() else { continue };
            summary.schema = match &last {
                Some((read, shared)) if Arc::ptr_eq(read, &summary.schema) => Arc::clone(shared),
                _ => {
                    let shared = shared_schema(schemas, Arc::clone(&summary.schema));
                    last = Some((Arc::clone(&summary.schema), Arc::clone(&shared)));
                    shared
                }
            };
            let entry = Entry { version: version_of(&files[index]), summary: summary.clone() };
            if entries.insert(LocationKey::of(&files[index].location), entry).is_none() {
                *held += 1;
            }
        }
        Ok(())
    }

    /// Read the headers of `files[i]` for each `i` in `indices`, at most `concurrency` at once,
    /// into `into`'s places.
    async fn read(
        &self,
        store: &Arc<dyn ObjectStore>,
        store_url: Option<&ObjectStoreUrl>,
        files: &[ObjectMeta],
        indices: &[usize],
        options: &NpyFormatOptions,
        into: Read,
    ) -> Read {
        if let Some(root) = LocalRoot::of(store.as_ref()) {
            // Each batch's paths are made as it is handed out: only the batches in flight hold
            // theirs (100,000 paths at once are megabytes at the planner's peak).
            // By start (a closure over `&[usize]` chunks trips the `Send` check of the async fns
            // that await this).
            let read = futures::stream::iter((0..indices.len()).step_by(FILES_PER_TASK))
                .map(|start| {
                    let chunk = &indices[start..(start + FILES_PER_TASK).min(indices.len())];
                    let batch: Vec<(usize, Result<PathBuf>, u64)> = chunk
                        .iter()
                        .map(|&i| {
                            let location = &files[i].location;
                            let path = root.path(location).ok_or_else(|| DataFusionError::Execution(format!("{location}: no local path for it")));
                            (i, path, files[i].size)
                        })
                        .collect();
                    let options = options.clone();
                    blocking(move || {
                        // Shards share a schema: keep one per batch, not one per file, until
                        // `remember` shares them across batches.
                        let mut last: Option<SchemaRef> = None;
                        let mut read = Vec::with_capacity(batch.len());
                        for (i, path, len) in batch {
                            let summary = path.and_then(|path| summarize(&path, len, &options)).map(|mut summary| {
                                match &last {
                                    Some(same) if **same == *summary.schema => summary.schema = Arc::clone(same),
                                    _ => last = Some(Arc::clone(&summary.schema)),
                                }
                                summary
                            });
                            read.push((i, summary));
                        }
                        read
                    })
                })
                .buffer_unordered(self.concurrency)
                .fold(into, |mut read, batch| {
                    match batch {
                        Ok(batch) => batch.into_iter().for_each(|(i, summary)| read.add(i, summary)),
                        Err(e) => read.add(usize::MAX, Err(e)),
                    }
                    std::future::ready(read)
                });
            return read.await;
        }
        futures::stream::iter(indices.iter().copied())
            .map(|i| {
                let store = Arc::clone(store);
                let options = options.clone();
                let location = files[i].location.clone();
                let url = object_url(store_url, &location);
                async move {
                    let meta = files[i].clone();
                    let summary = async {
                        if reads_by_range(location.as_ref(), options.member.as_deref()) {
                            // Only the header's bytes, by range.
                            let ranged = open_ranged(store.as_ref(), &meta, &url, &options.open).await?;
                            return Ok(summary_of(ranged.summary(), &options));
                        }
                        if is_npz(location.as_ref()) {
                            // The zip directory and the members' headers, by range.
                            let npz = open_ranged_npz(store.as_ref(), &meta, &url, &options.open, options.member.as_deref()).await?;
                            return Ok(summary_of(npz.summary(), &options));
                        }
                        let local = local_file(store.as_ref(), &location).await?;
                        blocking(move || summarize(local.path(), meta.size, &options)).await?
                    };
                    (i, summary.await)
                }
            })
            .buffer_unordered(self.concurrency)
            .fold(into, |mut read, (i, summary)| {
                read.add(i, summary);
                std::future::ready(read)
            })
            .await
    }
}

/// Headers read: each file's summary in its place (the places of files found in memory
/// already filled), and the first failure in `files` order.
struct Read {
    found: Vec<Option<FileSummary>>,
    first_error: Option<(usize, DataFusionError)>,
}

impl Read {
    fn filling(found: Vec<Option<FileSummary>>) -> Self {
        Read { found, first_error: None }
    }

    fn add(&mut self, index: usize, summary: Result<FileSummary>) {
        match summary {
            Ok(summary) => self.found[index] = Some(summary),
            Err(e) if self.first_error.as_ref().is_none_or(|(at, _)| index < *at) => self.first_error = Some((index, e)),
            Err(_) => {}
        }
    }
}

/// `schema`, or an equal one of the recent `schemas` (then shared), which it joins.
fn shared_schema(schemas: &mut Vec<SchemaRef>, schema: SchemaRef) -> SchemaRef {
    if let Some(same) = schemas.iter().find(|s| Arc::ptr_eq(s, &schema) || **s == schema) {
        return Arc::clone(same);
    }
    // A handful of recent schemas covers directories of shards, which share one.
    if schemas.len() >= 16 {
        schemas.remove(0);
    }
    schemas.push(Arc::clone(&schema));
    schema
}

/// The summary of the file at `path`, `len` bytes long as listed.
fn summarize(path: &std::path::Path, len: u64, options: &NpyFormatOptions) -> Result<FileSummary> {
    let summary = NpyTable::read_summary_of_len(path, Some(len), options.member.as_deref(), &options.open).map_err(df_err)?;
    Ok(summary_of(summary, options))
}

fn summary_of(summary: TableSummary, options: &NpyFormatOptions) -> FileSummary {
    let TableSummary { schema, num_rows, storage, is_record } = summary;
    let plain_npy = options.member.is_none() && !is_record && storage == [Storage::NpyFile];
    let schema = if plain_npy { unnamed(&schema) } else { schema };
    FileSummary { schema, rows: num_rows, plain_npy, deflated: storage.contains(&Storage::ZipDeflated) }
}

/// `schema` with its columns' names left empty: a plain array's column is named after its
/// file, so shards would each have their own schema (and 400-odd bytes of it) otherwise.
fn unnamed(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone().with_name("")).collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn poisoned() -> DataFusionError {
    DataFusionError::Internal("header cache lock poisoned".into())
}
