//! Writing `.npy` / `.npz` (SPEC §7): the inverse of `super::schema`.

use std::path::Path;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Result;

/// How `.npz` members are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NpzCompression {
    /// `np.savez`: stored.
    #[default]
    Stored,
    /// `np.savez_compressed`: deflated.
    Deflated,
}

/// Options for [`ArrayFileWriter`].
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub compression: NpzCompression,
}

/// A streaming writer of `.npy` (one column → a plain array, several → a structured array) or
/// `.npz` (one member per column), chosen by the output path's extension. The output appears
/// at `path` only when [`ArrayFileWriter::finish`] succeeds.
pub struct ArrayFileWriter {
    _private: (),
}

impl ArrayFileWriter {
    pub fn try_new(path: impl AsRef<Path>, schema: SchemaRef, options: WriteOptions) -> Result<Self> {
        let _ = (path.as_ref(), schema, options);
        todo!("H7")
    }
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let _ = batch;
        todo!("H7")
    }
    /// Complete the file (patch the header's row count, rename into place).
    pub fn finish(self) -> Result<()> {
        todo!("H7")
    }
}
