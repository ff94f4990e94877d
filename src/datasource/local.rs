//! From an object-store location to a file the format layer can memory-map.
//!
//! The format layer maps files by path. For a `LocalFileSystem` store, `get` answers with the
//! open file and its filesystem path (nothing is read), so the file is mapped in place. Any other
//! store's object is downloaded once into a temporary file with the same extension, which lives
//! as long as the returned [`LocalFile`].

use std::io::Write;
use std::path::{Path as FsPath, PathBuf};

use datafusion::error::{DataFusionError, Result};
use datafusion::object_store::path::Path;
use datafusion::object_store::{GetResultPayload, ObjectStore, ObjectStoreExt};

/// A file on the local filesystem holding an object's bytes.
pub struct LocalFile {
    path: PathBuf,
    /// Deleted on drop; `None` when the object is itself a local file.
    _temp: Option<tempfile::TempPath>,
}

impl LocalFile {
    pub fn path(&self) -> &FsPath {
        &self.path
    }
}

/// The local file behind `location` (downloaded first when the store is not local).
pub async fn local_file(store: &dyn ObjectStore, location: &Path) -> Result<LocalFile> {
    // A local store's file is opened by whoever reads it: asking the store would open it once
    // more (and hand off to another thread) only to learn its path.
    if let Some(path) = local_path(store, location) {
        return Ok(LocalFile { path, _temp: None });
    }
    let got = store.get(location).await?;
    match got.payload {
        GetResultPayload::File(_file, path) => Ok(LocalFile { path, _temp: None }),
        GetResultPayload::Stream(_) => {
            let bytes = got.bytes().await?;
            let suffix = location.extension().map(|e| format!(".{e}")).unwrap_or_default();
            let mut temp = tempfile::Builder::new().prefix("npyq-").suffix(&suffix).tempfile()?;
            temp.write_all(&bytes)?;
            temp.flush()?;
            let temp = temp.into_temp_path();
            Ok(LocalFile { path: temp.to_path_buf(), _temp: Some(temp) })
        }
    }
}

/// The filesystem path of `location` when `store` is a `LocalFileSystem`, mapped as the store
/// maps it (its root URL joined with the location's parts). The store is known by what it
/// prints (`LocalFileSystem(file:///root/)`): `ObjectStore` offers no downcast.
pub fn local_path(store: &dyn ObjectStore, location: &Path) -> Option<PathBuf> {
    LocalRoot::of(store)?.path(location)
}

/// The root of a `LocalFileSystem` store, for mapping many locations (see [`local_path`]).
pub struct LocalRoot {
    url: url::Url,
    /// The root's own path: a location without `%` escapes is this joined with the location's
    /// text, with none of the URL work (a few microseconds a file over 100,000 shards).
    path: Option<PathBuf>,
}

impl LocalRoot {
    pub fn of(store: &dyn ObjectStore) -> Option<Self> {
        let name = store.to_string();
        let root = name.strip_prefix("LocalFileSystem(")?.strip_suffix(')')?;
        let url = url::Url::parse(root).ok()?;
        let path = url.to_file_path().ok();
        Some(LocalRoot { url, path })
    }

    pub fn path(&self, location: &Path) -> Option<PathBuf> {
        let text = location.as_ref();
        match &self.path {
            // The store extends its root URL by the location's parts (escaping what URLs must)
            // and turns that into a path (unescaping all): without a `%` in the location, the
            // round trip gives back its bytes.
            Some(root) if !text.is_empty() && !text.contains('%') => Some(root.join(text)),
            _ => {
                let mut url = self.url.clone();
                url.path_segments_mut().ok()?.pop_if_empty().extend(location.parts());
                url.to_file_path().ok()
            }
        }
    }
}

/// `items` in runs of `size` (the last shorter), each to be handed to the blocking pool whole.
pub(crate) fn batches<T>(items: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut runs = Vec::with_capacity(items.len().div_ceil(size.max(1)));
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        runs.push(items.by_ref().take(size.max(1)).collect());
    }
    runs
}

/// Run `work` on the runtime's blocking pool (in place when there is no tokio runtime).
pub(crate) async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(work).await.map_err(|e| DataFusionError::External(Box::new(e))),
        Err(_) => Ok(work()),
    }
}

/// Wraps a crate error as a DataFusion error (the message already names file, member, column).
pub fn df_err(e: crate::error::NpyError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::object_store::local::LocalFileSystem;
    use datafusion::object_store::memory::InMemory;

    #[test]
    fn local_paths_are_the_stores_own() {
        let dir = tempfile::tempdir().unwrap();
        let stores = [LocalFileSystem::new(), LocalFileSystem::new_with_prefix(dir.path()).unwrap()];
        for store in &stores {
            for location in ["tmp/x.npy", "data/a b/part-1.npy", "d/y=2023/caf\u{e9}.npz", "x%20y.npy", "a#b/c?d.npy", "x%2Fy.npy"] {
                let location = Path::from(location);
                assert_eq!(local_path(store, &location), Some(store.path_to_filesystem(&location).unwrap()), "{location}");
            }
        }
        assert_eq!(local_path(&InMemory::new(), &Path::from("x.npy")), None);
    }
}
