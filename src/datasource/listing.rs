//! The files of a table: what DataFusion's `ListingTableUrl::list_all_files` gives, but for a
//! local directory listed with one `statx` per file.
//!
//! object_store's `LocalFileSystem::list` walks with `walkdir` and asks three times per file
//! (the entry's metadata, then `symlink_metadata` and `is_file` by its whole path, each walking
//! the path from `/` again), and turns every path into a URL and back: over 100,000 shards that
//! is most of a `count(*)`'s time. [`list_table_files`] reads each local directory once
//! (`getdents`, whose entry types say what is a file) and asks each file's metadata once,
//! relative to its directory, on both cores. It yields what the store would: the same
//! locations, sizes, modification times and ETags, symlinks followed and broken ones skipped,
//! and the same `ListingTableUrl::contains` filter (globs,
//! `listing_table_ignore_subdirectory`). Whatever it does not decide the same way for sure (a
//! name that object_store would escape, a symlinked directory) goes to DataFusion's own listing.

use std::fs::{DirEntry, Metadata};
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use datafusion::catalog::Session;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::error::{DataFusionError, Result};
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectMeta, ObjectStore};
use futures::{StreamExt, TryStreamExt};

use super::local::{batches, blocking, LocalRoot};

/// Files whose metadata one task asks for: enough that the hand-off to the blocking pool is
/// negligible, few enough that both cores share a directory of a few thousand files.
const FILES_PER_TASK: usize = 2048;

/// Every file of the table at `url` (any order), as `url.list_all_files(state, store, "")`
/// lists them; see the module docs.
pub async fn list_table_files(state: &dyn Session, store: &Arc<dyn ObjectStore>, url: &ListingTableUrl) -> Result<Vec<ObjectMeta>> {
    let ignore_subdirectory = state.config_options().execution.listing_table_ignore_subdirectory;
    if let Some(listed) = list_local(store.as_ref(), url, ignore_subdirectory).await? {
        return Ok(listed);
    }
    url.list_all_files(state, store.as_ref(), "").await?.try_collect().await
}

/// The local listing, or `None` when the store is not local or the walk met something it
/// leaves to object_store (see [`Walk::Unsure`]).
async fn list_local(store: &dyn ObjectStore, url: &ListingTableUrl, ignore_subdirectory: bool) -> Result<Option<Vec<ObjectMeta>>> {
    let Some(base) = LocalRoot::of(store).and_then(|root| root.path(url.prefix())) else { return Ok(None) };
    let prefix = url.prefix().clone();
    let is_collection = url.is_collection();
    // Descend into a subdirectory unless no file below it could pass `contains`: without a
    // glob and with subdirectories ignored, only `key=value` levels are listed.
    let descend_all = !ignore_subdirectory || url.get_glob().is_some();
    let walked = blocking(move || walk(base, prefix, is_collection, descend_all)).await??;
    let Walk::Found { mut files, entries } = walked else { return Ok(None) };
    // One metadata call per directory entry, in chunks on the blocking pool.
    let listed_len = entries.len();
    let chunks = batches(entries, FILES_PER_TASK);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    // Each chunk joins the list as it comes (in order), so only the chunks in flight exist
    // beside it: collected first, all of them were a second list (9.6 MB over 100,000 files).
    files.reserve(listed_len);
    let mut files = futures::stream::iter(chunks)
        .map(|chunk| async move { blocking(move || describe(chunk)).await? })
        .buffered(cores)
        .try_fold(files, |mut files, chunk| {
            files.extend(chunk);
            std::future::ready(Ok(files))
        })
        .await?;
    files.retain(|meta| url.contains(&meta.location, ignore_subdirectory));
    Ok(Some(files))
}

/// A file's directory entry to describe, and its directory's object location.
struct Listed {
    entry: DirEntry,
    dir: Arc<Path>,
}

enum Walk {
    /// Files already described (the table's one file, symlinks' targets), and entries to
    /// describe.
    Found { files: Vec<ObjectMeta>, entries: Vec<Listed> },
    /// Something object_store may see otherwise: let it list.
    Unsure,
}

/// Read the directories under `base` (whose location is `prefix`); see [`list_local`].
fn walk(base: PathBuf, prefix: Path, is_collection: bool, descend_all: bool) -> Result<Walk> {
    if !is_collection {
        // A file's own URL (DataFusion asks the store for its head first); a directory named
        // without a trailing '/' is listed like one.
        match std::fs::metadata(&base) {
            Ok(meta) if meta.is_file() => return Ok(Walk::Found { files: vec![object_meta(prefix, &meta)], entries: vec![] }),
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Ok(Walk::Unsure),
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Walk::Found { files: vec![], entries: vec![] }),
            Err(e) => return Err(io_error(&base, e)),
        }
    }
    let (mut files, mut entries) = (Vec::new(), Vec::new());
    let mut dirs = vec![(base, Arc::new(prefix))];
    while let Some((dir, location)) = dirs.pop() {
        let read = match std::fs::read_dir(&dir) {
            Ok(read) => read,
            // Gone since it was listed (or never there): nothing in it, as object_store says.
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error(&dir, e)),
        };
        for entry in read {
            let entry = entry.map_err(|e| io_error(&dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str().filter(|n| kept_as_is(n)) else { return Ok(Walk::Unsure) };
            let kind = entry.file_type().map_err(|e| io_error(&entry.path(), e))?;
            if kind.is_symlink() {
                // Described by its target, as object_store follows it; a symlinked directory
                // (and its loops) is object_store's to walk; a broken link is left out.
                match std::fs::metadata(entry.path()) {
                    Ok(target) if target.is_dir() => return Ok(Walk::Unsure),
                    Ok(target) if target.is_file() => files.push(object_meta(location.as_ref().clone().join(name), &target)),
                    _ => {}
                }
            } else if kind.is_dir() {
                if descend_all || name.contains('=') {
                    dirs.push((entry.path(), Arc::new(location.as_ref().clone().join(name))));
                }
            } else if kind.is_file() {
                entries.push(Listed { entry, dir: Arc::clone(&location) });
            }
        }
    }
    Ok(Walk::Found { files, entries })
}

/// Each entry's object metadata; entries gone since the directory was read are left out.
fn describe(entries: Vec<Listed>) -> Result<Vec<ObjectMeta>> {
    let mut described = Vec::with_capacity(entries.len());
    let mut scratch = String::new();
    for Listed { entry, dir } in entries {
        match entry.metadata() {
            Ok(meta) if meta.is_file() => {
                // `walk` kept only names that are valid UTF-8.
                let name = entry.file_name();
                let location = child(&dir, &name.to_string_lossy(), &mut scratch);
                described.push(object_meta(location, &meta))
            }
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&entry.path(), e)),
        }
    }
    Ok(described)
}

/// `dir.clone().join(name)`, its text allocated at its exact length: `join` grows the text
/// by doubling, which over 100,000 shards gave each 44-byte path 78 bytes of heap.
fn child(dir: &Path, name: &str, scratch: &mut String) -> Path {
    scratch.clear();
    if !dir.as_ref().is_empty() {
        scratch.push_str(dir.as_ref());
        scratch.push('/');
    }
    scratch.push_str(name);
    // `parse` checks the parts (all already valid) and copies the text at its length.
    Path::parse(scratch.as_str()).unwrap_or_else(|_| dir.clone().join(name))
}

/// A file's `ObjectMeta` as object_store's `LocalFileSystem` makes it (its ETag is
/// `<inode>-<mtime µs>-<size>` in hex).
fn object_meta(location: Path, meta: &Metadata) -> ObjectMeta {
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    let micros = modified.duration_since(UNIX_EPOCH).unwrap_or_default().as_micros();
    ObjectMeta {
        location,
        last_modified: modified.into(),
        size: meta.len(),
        e_tag: Some(local_e_tag(meta.ino(), micros, meta.len())),
        version: None,
    }
}

/// `format!("{inode:x}-{micros:x}-{size:x}")` without the formatting machinery (a tenth of
/// the listing's time over 100,000 files).
fn local_e_tag(inode: u64, micros: u128, size: u64) -> String {
    /// Writes `value` in hex at the end of `out[..end]`; returns where it starts.
    fn hex(out: &mut [u8], end: usize, mut value: u128) -> usize {
        let mut at = end;
        loop {
            at -= 1;
            out[at] = b"0123456789abcdef"[(value & 0xf) as usize];
            value >>= 4;
            if value == 0 {
                return at;
            }
        }
    }
    // Written backwards into a buffer on the stack, then copied into a `String` of its exact
    // length (one allocation; 24-odd bytes, not 40, per file of a listing).
    const LONGEST: usize = 16 + 1 + 32 + 1 + 16;
    let mut text = [0u8; LONGEST];
    let mut at = hex(&mut text, LONGEST, size.into());
    at -= 1;
    text[at] = b'-';
    at = hex(&mut text, at, micros);
    at -= 1;
    text[at] = b'-';
    at = hex(&mut text, at, inode.into());
    std::str::from_utf8(&text[at..]).expect("hex digits and dashes").to_owned()
}

/// Whether object_store keeps `name` as it is in a location: letters, digits and `._-=+`.
/// Anything else (percent-escaped between its path and URL forms; `#`, which marks its
/// unfinished uploads `name#123`) goes to object_store's own listing.
fn kept_as_is(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-=+".contains(&b))
}

fn io_error(path: &std::path::Path, e: std::io::Error) -> DataFusionError {
    DataFusionError::Execution(format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::object_store::local::LocalFileSystem;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// The listing equals object_store's + DataFusion's, in every case it decides.
    async fn same_as_datafusion(url: &str, ignore_subdirectory: bool) -> Vec<String> {
        let config = SessionConfig::new().set_bool("datafusion.execution.listing_table_ignore_subdirectory", ignore_subdirectory);
        let state = SessionContext::new_with_config(config).state();
        let url = ListingTableUrl::parse(url).unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new());
        let mut ours = list_local(store.as_ref(), &url, ignore_subdirectory).await.unwrap().expect("decided locally");
        let mut theirs: Vec<ObjectMeta> = url.list_all_files(&state, store.as_ref(), "").await.unwrap().try_collect().await.unwrap();
        ours.sort_by(|a, b| a.location.cmp(&b.location));
        theirs.sort_by(|a, b| a.location.cmp(&b.location));
        assert_eq!(ours, theirs, "{url}");
        ours.iter().map(|m| m.location.filename().unwrap().to_string()).collect()
    }

    #[tokio::test]
    async fn lists_what_object_store_and_datafusion_list() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in ["a.npy", "b.npz", "notes.txt", "year=2024/c.npy", "sub/d.npy", "sub/year=1/e.npy", "part+1.npy"] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, file).unwrap();
        }
        std::os::unix::fs::symlink(root.join("a.npy"), root.join("link.npy")).unwrap();
        std::os::unix::fs::symlink(root.join("missing.npy"), root.join("broken.npy")).unwrap();
        let url = format!("{}/", root.display());
        let top = same_as_datafusion(&url, true).await;
        assert_eq!(top, ["a.npy", "b.npz", "link.npy", "notes.txt", "part+1.npy", "c.npy"]);
        let all = same_as_datafusion(&url, false).await;
        assert_eq!(all.len(), 8, "{all:?}");
        same_as_datafusion(&format!("{}/a.npy", root.display()), true).await;
        same_as_datafusion(&format!("{}/*.npz", root.display()), true).await;
        same_as_datafusion(&format!("{}/*.npz", root.display()), false).await;
        same_as_datafusion(&format!("{}/sub", root.display()), true).await;
        assert!(same_as_datafusion(&format!("{}/nothing/", root.display()), true).await.is_empty());
    }

    #[test]
    fn children_are_joins() {
        let mut scratch = String::new();
        for (dir, name) in [("", "a.npy"), ("tmp/x", "part-1.npy"), ("d/year=2024", "k=v+1.npy"), ("a", "..npy")] {
            let dir = Path::parse(dir).unwrap();
            let joined = dir.clone().join(name);
            assert_eq!(child(&dir, name, &mut scratch), joined);
            assert_eq!(child(&dir, name, &mut scratch).as_ref(), joined.as_ref());
        }
    }

    #[test]
    fn e_tags_are_object_stores() {
        for (inode, micros, size) in [(0, 0, 0), (1, 255, 16), (u64::MAX, u128::from(u64::MAX) * 7, u64::MAX), (0xabc, 1_733_000_000_000_000, 4096)] {
            assert_eq!(local_e_tag(inode, micros, size), format!("{inode:x}-{micros:x}-{size:x}"));
        }
    }

    #[tokio::test]
    async fn leaves_escaped_names_and_symlinked_directories_to_object_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalFileSystem::new();
        let url = ListingTableUrl::parse(format!("{}/", dir.path().display())).unwrap();
        std::fs::write(dir.path().join("a b.npy"), "x").unwrap();
        assert!(list_local(&store, &url, true).await.unwrap().is_none());
        std::fs::remove_file(dir.path().join("a b.npy")).unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("linked")).unwrap();
        assert!(list_local(&store, &url, true).await.unwrap().is_none());
    }
}
