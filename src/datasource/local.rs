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

/// Wraps a crate error as a DataFusion error (the message already names file, member, column).
pub fn df_err(e: crate::error::NpyError) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}
