//! `.npy` objects of remote stores read by byte range, never downloaded whole: the header from a
//! first small range ([`HEADER_PROBE_LEN`], a second range only for a longer header), then the
//! rows a scan wants as ranges of about [`CHUNK_BYTES`], [`IN_FLIGHT`] of them fetched at once
//! and decoded in order (zero-copy where the fetched bytes are aligned). What to fetch and how
//! to decode it is the format layer's ([`RangedNpy`]); this module only fetches.
//!
//! Every fetch names the object's URL in its errors, checks it got the bytes it asked for (a
//! truncated object is an error, not short data), and checks the object is still the one that
//! was listed (same ETag, when the store gives one): an object replaced between listing and
//! reading is an error, not a mix of two versions.
//!
//! `.npz` archives are read by range too ([`open_ranged_npz`]): the zip directory from a tail
//! read, each needed member's headers from one small read, then a stored member's rows as a
//! `.npy`'s and a deflated member's compressed bytes in [`CHUNK_BYTES`] pieces, inflated as they
//! come (`super::source`). What was read of an archive's directory is kept per object identity.

use std::ops::Range;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use datafusion::common::runtime::SpawnedTask;
use datafusion::error::{DataFusionError, Result};
use datafusion::object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore};
use futures::{Stream, StreamExt};

use super::local::df_err;
use crate::format::table::OpenOptions;
use crate::format::{RangedNpy, RangedNpz, HEADER_PROBE_LEN};

/// Bytes of rows per ranged request: large enough that request overhead is small next to the
/// transfer, small enough that [`IN_FLIGHT`] of them bound a scan's memory (32 MiB).
pub const CHUNK_BYTES: u64 = 8 << 20;

/// Ranged requests of one file in flight at once.
pub const IN_FLIGHT: usize = 4;

/// Whether a file is read by range (a `.npy`, no member) rather than downloaded.
pub fn reads_by_range(location: &str, member: Option<&str>) -> bool {
    member.is_none() && !Path::new(location).extension().is_some_and(|e| e.eq_ignore_ascii_case("npz"))
}

/// The whole URL of the object at `location` of the store at `store_url` (`s3://bucket/` +
/// `dir/x.npy`), as errors name it; the bare location when the store's URL is not known.
pub fn object_url(store_url: Option<&datafusion::execution::object_store::ObjectStoreUrl>, location: &datafusion::object_store::path::Path) -> String {
    match store_url {
        Some(store) => format!("{}{location}", store.as_str()),
        None => location.to_string(),
    }
}

/// One error line naming the object.
pub fn remote_error(url: &str, e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("{url}: {e}"))
}

/// `e`, naming the remote object or prefix at `url` (`s3://bucket/key`) if it does not yet:
/// errors of the store itself name only the key, or the endpoint's HTTP address. Errors about
/// local paths are left as they are.
pub fn naming(url: &str, e: DataFusionError) -> DataFusionError {
    if !super::object_stores::is_remote(url) || e.to_string().contains(url) {
        return e;
    }
    remote_error(url, e)
}

/// Bytes `range` of the object `meta` describes, checked to be all there and of the listed
/// version.
pub async fn fetch(store: &dyn ObjectStore, meta: &ObjectMeta, range: Range<u64>, url: &str) -> Result<Bytes> {
    if range.is_empty() {
        return Ok(Bytes::new());
    }
    let options = GetOptions { range: Some(GetRange::Bounded(range.clone())), if_match: meta.e_tag.clone(), ..GetOptions::default() };
    let got = store.get_opts(&meta.location, options).await.map_err(|e| remote_error(url, e))?;
    if let (Some(listed), Some(now)) = (&meta.e_tag, &got.meta.e_tag) {
        // Not every server honours If-Match: compare the tags too.
        if listed != now {
            return Err(remote_error(url, format!("the object changed while it was read (ETag {listed} when listed, {now} now)")));
        }
    }
    let bytes = got.bytes().await.map_err(|e| remote_error(url, e))?;
    let wanted = range.end - range.start;
    if bytes.len() as u64 != wanted {
        return Err(remote_error(url, format!("asked for bytes {}..{} and got {} bytes (truncated object?)", range.start, range.end, bytes.len())));
    }
    Ok(bytes)
}

/// `fetches` run [`IN_FLIGHT`] at a time, each as a task of its own, their results yielded in
/// order. As tasks they move while the consumer is busy with the rows of an earlier fetch: a
/// future inside `buffered` moves only when its stream is polled, and the HTTP client reads a
/// response body only while it is polled, so without tasks a scan fetches and decodes by turns
/// (its throughput was 30% of the same ranged `GET`s'). Dropping the stream aborts the fetches.
pub fn prefetched<T, F>(fetches: impl Stream<Item = F> + Send + 'static) -> impl Stream<Item = Result<T>> + Send + 'static
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T>> + Send + 'static,
{
    fetches
        .map(|fetch| {
            let task = SpawnedTask::spawn(fetch);
            async move { task.join().await.map_err(|e| DataFusionError::ExecutionJoin(Box::new(e)))? }
        })
        .buffered(IN_FLIGHT)
}

/// The header of the `.npy` object `meta` describes, from one ranged request (two when the
/// header is longer than [`HEADER_PROBE_LEN`]); none when this process read the header of the
/// same version of the object lately (a scan reads an object as several pieces, each opened
/// on its own, and the next query reads them again).
pub async fn open_ranged(store: &dyn ObjectStore, meta: &ObjectMeta, url: &str, options: &OpenOptions) -> Result<RangedNpy> {
    let key = ObjectKey::new(store, meta, None, options);
    if let Some(known) = NPY_HEADERS.lock().ok().and_then(|cache| cache.get(&key).cloned()) {
        return Ok(known);
    }
    let name = Path::new(url);
    let probe = HEADER_PROBE_LEN.min(meta.size);
    let mut prefix = fetch(store, meta, 0..probe, url).await?;
    let needed = RangedNpy::header_len(&prefix, options.max_header_len, name).map_err(df_err)?;
    if needed > probe && needed <= meta.size {
        let rest = fetch(store, meta, probe..needed, url).await?;
        let mut whole = BytesMut::with_capacity(needed as usize);
        whole.extend_from_slice(&prefix);
        whole.extend_from_slice(&rest);
        prefix = whole.freeze();
    }
    let ranged = RangedNpy::from_prefix(name, &prefix, meta.size, options).map_err(df_err)?;
    remember(&NPY_HEADERS, key, ranged.clone());
    Ok(ranged)
}

/// The row ranges to fetch for `rows`: runs of about [`CHUNK_BYTES`], or all of them at once
/// for an array whose rows are spread over its whole data.
pub fn chunks(ranged: &RangedNpy, rows: Range<u64>) -> Vec<Range<u64>> {
    if ranged.needs_all_data() || ranged.header().shape.is_empty() {
        return vec![rows];
    }
    runs_of_chunk_bytes(rows, ranged.row_len())
}

/// `rows` cut into runs of about [`CHUNK_BYTES`] of `row_len`-byte rows (at least one row each).
fn runs_of_chunk_bytes(rows: Range<u64>, row_len: u64) -> Vec<Range<u64>> {
    let per_chunk = (CHUNK_BYTES / row_len.max(1)).max(1);
    let mut out = Vec::new();
    let mut start = rows.start;
    while start < rows.end {
        let end = rows.end.min(start.saturating_add(per_chunk));
        out.push(start..end);
        start = end;
    }
    out
}

/// Upload the local `file` to `location` of `store` by multipart upload, streamed from the file
/// in 8 MiB parts (4 in flight); a failed upload is aborted, so the object appears complete or
/// not at all. `url` names it in errors.
pub async fn upload_file(store: &dyn ObjectStore, file: &Path, location: &datafusion::object_store::path::Path, url: &str) -> Result<()> {
    use datafusion::object_store::{ObjectStoreExt, WriteMultipart};
    use tokio::io::AsyncReadExt;
    let failed = |e: &dyn std::fmt::Display| remote_error(url, format!("upload failed: {e}"));
    let upload = store.put_multipart(location).await.map_err(|e| failed(&e))?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, CHUNK_BYTES as usize);
    let copied = async {
        let mut input = tokio::fs::File::open(file).await?;
        let mut chunk = vec![0u8; CHUNK_BYTES as usize];
        loop {
            let n = input.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            writer.wait_for_capacity(IN_FLIGHT).await.map_err(std::io::Error::other)?;
            writer.write(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(())
    }
    .await;
    match copied {
        Ok(()) => writer.finish().await.map(drop).map_err(|e| failed(&e)),
        Err(e) => {
            let _ = writer.abort().await;
            Err(failed(&e))
        }
    }
}

/// Upload the local `file` to the object at `url` (`s3://bucket/key`), the store made as
/// [`super::object_stores::ensure_object_store`] makes it.
pub async fn upload_to_url(runtime: &datafusion::execution::runtime_env::RuntimeEnv, file: &Path, url: &str) -> Result<()> {
    super::object_stores::ensure_object_store(runtime, url, &Default::default())?;
    let parsed = url::Url::parse(url).map_err(|e| remote_error(url, e))?;
    let store = runtime.object_store(datafusion::execution::object_store::ObjectStoreUrl::parse(&parsed[..url::Position::BeforePath])?)?;
    let location = datafusion::object_store::path::Path::from_url_path(parsed.path()).map_err(|e| remote_error(url, e))?;
    upload_file(store.as_ref(), file, &location, url).await
}

/// Headers of remote objects read lately, by [`ObjectKey`]: `.npy` headers
/// ([`open_ranged`]) and what was read of `.npz` archives' directories and member headers
/// ([`open_ranged_npz`]), so that the pieces of one scan and the next query over an unchanged
/// object fetch only rows. Bounded: when full, a cache starts over.
type Remembered<T> = std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<ObjectKey, T>>>;
static NPY_HEADERS: Remembered<RangedNpy> = std::sync::LazyLock::new(Default::default);
static NPZ_DIRECTORIES: Remembered<std::sync::Arc<RangedNpz>> = std::sync::LazyLock::new(Default::default);

/// Objects remembered at most per cache (each entry a few hundred bytes, per member for an
/// archive).
const REMEMBERED_MAX: usize = 4096;

fn remember<T>(cache: &Remembered<T>, key: ObjectKey, value: T) {
    if let Ok(mut cache) = cache.lock() {
        if cache.len() >= REMEMBERED_MAX {
            cache.clear();
        }
        cache.insert(key, value);
    }
}

/// Requests allowed for one directory or one member's headers (each asks for more than the last).
const NPZ_MAX_ASKS: usize = 4;

/// Member header probes at most this far apart are fetched in one request (the bytes between
/// them fetched too): small members' headers in one `GET`, large members' each in its own.
const PROBE_COALESCE: u64 = 4 << 10;

/// One version of an object as read with given options: the store's address and the object's
/// location (URLs as callers spell them differ: planning knows the location, a scan the whole
/// URL), its identity (size, modification time, ETag), the member asked for and the header cap.
#[derive(Hash, PartialEq, Eq)]
struct ObjectKey {
    store: usize,
    location: String,
    size: u64,
    modified: i64,
    e_tag: Option<String>,
    member: Option<String>,
    max_header_len: u64,
}

impl ObjectKey {
    fn new(store: &dyn ObjectStore, meta: &ObjectMeta, member: Option<&str>, options: &OpenOptions) -> Self {
        ObjectKey {
            store: store as *const dyn ObjectStore as *const () as usize,
            location: meta.location.to_string(),
            size: meta.size,
            modified: meta.last_modified.timestamp_nanos_opt().unwrap_or_default(),
            e_tag: meta.e_tag.clone(),
            member: member.map(str::to_string),
            max_header_len: options.max_header_len,
        }
    }
}

/// Whether `location` is an `.npz` (read by [`open_ranged_npz`] when remote).
pub fn is_npz(location: &str) -> bool {
    Path::new(location).extension().is_some_and(|e| e.eq_ignore_ascii_case("npz"))
}

/// The `.npz` object `meta` describes as a table (or its `member` as one), from its zip
/// directory and its members' headers fetched by range: a tail read (a second for a longer
/// directory), then one small read per member needed, a few at once.
pub async fn open_ranged_npz(store: &dyn ObjectStore, meta: &ObjectMeta, url: &str, options: &OpenOptions, member: Option<&str>) -> Result<std::sync::Arc<RangedNpz>> {
    use crate::format::ranged_npz::{zip_directory, zip_tail_range};
    use crate::format::{ErrorKind, NpyError, RangedMember};
    use futures::TryStreamExt;
    let key = ObjectKey::new(store, meta, member, options);
    if let Some(known) = NPZ_DIRECTORIES.lock().ok().and_then(|cache| cache.get(&key).cloned()) {
        return Ok(known);
    }
    let path = Path::new(url);
    let len = meta.size;
    let tail = zip_tail_range(len);
    let mut pieces: Vec<(u64, Bytes)> = vec![(tail.start, fetch(store, meta, tail, url).await?)];
    let mut members = None;
    for _ in 0..NPZ_MAX_ASKS {
        let borrowed: Vec<(u64, &[u8])> = pieces.iter().map(|(s, b)| (*s, b.as_ref())).collect();
        match zip_directory(path, len, &borrowed).map_err(df_err)? {
            Ok(found) => {
                members = Some(found);
                break;
            }
            Err(range) => {
                let bytes = fetch(store, meta, range.clone(), url).await?;
                pieces.push((range.start, bytes));
            }
        }
    }
    let members = members.ok_or_else(|| remote_error(url, "not a whole zip archive: its end records or directory are not where they should be (a truncated object?)"))?;
    drop(pieces);
    let chosen: Vec<_> = match member {
        None => members.iter().filter(|m| m.array_name().is_some()).cloned().collect(),
        Some(wanted) => {
            let Some(found) = members.iter().find(|m| m.array_name() == Some(wanted) || m.raw_name() == wanted) else {
                let available = members.iter().filter_map(|m| m.array_name().map(str::to_string)).collect();
                return Err(df_err(NpyError::from(ErrorKind::NoSuchMember { name: wanted.to_string(), available }).in_file(path)));
            };
            if found.array_name().is_none() {
                return Err(df_err(NpyError::from(ErrorKind::NotAnNpyMember).in_member(wanted).in_file(path)));
            }
            vec![found.clone()]
        }
    };
    // The members' first probes together: object_store's `coalesce_ranges` merges probes less
    // than PROBE_COALESCE apart into one request (the headers of small members sit side by
    // side) and fetches the others in parallel. A header longer than its probe asks again.
    let first_ranges: Vec<Range<u64>> = chosen.iter().map(|zipped| zipped.probe_range(len)).collect();
    let first_probes = datafusion::object_store::coalesce_ranges(&first_ranges, |range| fetch(store, meta, range, url), PROBE_COALESCE).await?;
    let opened: Vec<RangedMember> = futures::stream::iter(chosen.into_iter().zip(first_ranges).zip(first_probes))
        .map(|((zipped, first_range), first_probe)| async move {
            let (mut range, mut probe) = (first_range, first_probe);
            for _ in 0..NPZ_MAX_ASKS {
                match RangedMember::open(path, &zipped, range.start, &probe, len, options).map_err(df_err)? {
                    Ok(done) => return Ok(done),
                    Err(more) => {
                        probe = fetch(store, meta, more.clone(), url).await?;
                        range = more;
                    }
                }
            }
            Err(remote_error(url, format!("member '{}': its header could not be read", zipped.raw_name())))
        })
        .buffered(IN_FLIGHT * 4)
        .try_collect()
        .await?;
    let npz = std::sync::Arc::new(RangedNpz::new(path, opened, member.is_none()).map_err(df_err)?);
    remember(&NPZ_DIRECTORIES, key, std::sync::Arc::clone(&npz));
    Ok(npz)
}

/// The names of the `.npy` members of the archive `meta` describes (read by range as
/// [`open_ranged_npz`] reads it): the tables of its member schema. Members of different
/// lengths make no one table, but each is a table of the schema.
pub async fn npz_member_names(store: &dyn ObjectStore, meta: &ObjectMeta, url: &str, options: &OpenOptions) -> Result<Vec<String>> {
    use crate::format::ErrorKind;
    match open_ranged_npz(store, meta, url, options, None).await {
        Ok(npz) => Ok(npz.members().iter().filter_map(|m| m.member().array_name().map(str::to_string)).collect()),
        Err(DataFusionError::External(e)) => match e.downcast_ref::<crate::format::NpyError>().map(|e| &e.kind) {
            Some(ErrorKind::LengthMismatch { lengths }) => Ok(lengths.iter().map(|(name, _)| name.clone()).collect()),
            _ => Err(DataFusionError::External(e)),
        },
        Err(e) => Err(e),
    }
}

/// The runs of rows to fetch of `members` of `npz` (each run about [`CHUNK_BYTES`]), or all of
/// `rows` at once when a member must be fetched whole (its rows spread over its data).
pub fn npz_chunks(npz: &RangedNpz, members: &[usize], rows: Range<u64>) -> Vec<Range<u64>> {
    if !npz.by_rows(members) && !npz_streams(npz, members) {
        return vec![rows];
    }
    runs_of_chunk_bytes(rows, npz.row_len(members))
}

/// The store of the object at `url` (made as [`super::object_stores::ensure_object_store`]
/// makes it) and what the store says of the object (a `HEAD`).
pub async fn head_url(runtime: &datafusion::execution::runtime_env::RuntimeEnv, url: &str) -> Result<(std::sync::Arc<dyn ObjectStore>, ObjectMeta)> {
    use datafusion::object_store::ObjectStoreExt;
    super::object_stores::ensure_object_store(runtime, url, &Default::default())?;
    let parsed = url::Url::parse(url).map_err(|e| remote_error(url, e))?;
    let store = runtime.object_store(datafusion::execution::object_store::ObjectStoreUrl::parse(&parsed[..url::Position::BeforePath])?)?;
    let location = datafusion::object_store::path::Path::from_url_path(parsed.path()).map_err(|e| remote_error(url, e))?;
    let meta = store.head(&location).await.map_err(|e| remote_error(url, e))?;
    Ok((store, meta))
}

/// Whether `members` of `npz` are read run by run, deflated ones inflated from their compressed
/// bytes as fetched ([`crate::format::ranged_npz::MemberInflater`]): all in C order, some
/// deflated.
pub fn npz_streams(npz: &RangedNpz, members: &[usize]) -> bool {
    !npz.by_rows(members) && members.iter().all(|&m| npz.members().get(m).is_some_and(|m| !m.rows_spread()))
}
