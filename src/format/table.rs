//! Tables over numpy arrays (SPEC §5 layout, format side): a `.npy` file, an `.npz` archive
//! (one column per member), or one `.npz` member; and the lazy batch reader over them.

use std::ops::Range;
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::SchemaRef;

use super::header::{NpyHeader, DEFAULT_MAX_HEADER_LEN};
use crate::error::Result;

/// Options for opening files.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Longest header text accepted, in bytes. Default: 16 MiB ([`DEFAULT_MAX_HEADER_LEN`]).
    pub max_header_len: u64,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { max_header_len: DEFAULT_MAX_HEADER_LEN }
    }
}

/// How an array's bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// A `.npy` file, memory-mapped.
    NpyFile,
    /// An `.npz` member stored without compression (`np.savez`), read from the archive's map.
    ZipStored,
    /// An `.npz` member compressed with deflate (`np.savez_compressed`), inflated as a stream.
    ZipDeflated,
}

/// What `npyq schema` shows of one array (a `.npy` file or an `.npz` member).
#[derive(Debug, Clone)]
pub struct ArrayInfo {
    /// The file stem or the member name (without `.npy`).
    pub name: String,
    pub header: NpyHeader,
    pub storage: Storage,
    /// Absolute offset of the data in the file (for a deflated member: inside the inflated stream).
    pub data_offset: u64,
    /// Names of the table columns this array provides, and whether each is zero-copy.
    pub columns: Vec<(String, bool)>,
}

/// A table over one `.npy` file, one `.npz` archive, or one `.npz` member.
pub struct NpyTable {
    _private: (),
}

impl NpyTable {
    /// Open a `.npy` (record fields or the array itself as columns) or an `.npz` (one column
    /// per member; first-axis lengths must agree) by extension.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &OpenOptions::default())
    }

    pub fn open_with(path: impl AsRef<Path>, options: &OpenOptions) -> Result<Self> {
        let _ = (path, options);
        todo!("integrator")
    }

    /// One member of an `.npz` as its own table (its record fields, or itself, as columns).
    pub fn open_npz_member(path: impl AsRef<Path>, member: &str, options: &OpenOptions) -> Result<Self> {
        let _ = (path, member, options);
        todo!("integrator")
    }

    /// Names of the members of an `.npz` archive, in archive order, without `.npy`.
    pub fn npz_member_names(path: impl AsRef<Path>) -> Result<Vec<String>> {
        let _ = path;
        todo!("integrator")
    }

    /// The path this table was opened from.
    pub fn path(&self) -> &Path {
        todo!("integrator")
    }

    pub fn schema(&self) -> SchemaRef {
        todo!("integrator")
    }

    /// Rows of the table, from the headers alone.
    pub fn num_rows(&self) -> u64 {
        todo!("integrator")
    }

    /// The arrays behind the table, in column order.
    pub fn arrays(&self) -> Vec<ArrayInfo> {
        todo!("integrator")
    }

    /// A reader over this table; nothing is read until batches are pulled.
    pub fn reader(&self) -> ReaderBuilder<'_> {
        ReaderBuilder { table: self, batch_size: 65536, batch_bytes: 16 << 20, projection: None, rows: None, row_number: None }
    }
}

/// Builds an [`NpyReader`] (arrow-csv style: consuming `with_*` setters).
pub struct ReaderBuilder<'a> {
    table: &'a NpyTable,
    batch_size: usize,
    batch_bytes: usize,
    projection: Option<Vec<usize>>,
    rows: Option<Range<u64>>,
    row_number: Option<(String, i64)>,
}

impl<'a> ReaderBuilder<'a> {
    /// Most rows in one batch. Default 65,536.
    pub fn with_batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows.max(1);
        self
    }
    /// Most bytes of array data behind one batch (wide rows get fewer rows per batch; at least
    /// one). Default 16 MiB.
    pub fn with_batch_bytes(mut self, bytes: usize) -> Self {
        self.batch_bytes = bytes.max(1);
        self
    }
    /// Only these columns (indices into [`NpyTable::schema`]), in this order. Default: all.
    pub fn with_projection(mut self, columns: Vec<usize>) -> Self {
        self.projection = Some(columns);
        self
    }
    /// Only these rows (clamped to the table). Default: all.
    pub fn with_row_range(mut self, rows: Range<u64>) -> Self {
        self.rows = Some(rows);
        self
    }
    /// Append an Int64 column `name` holding each row's position plus `offset` (for `_row`
    /// over a table of several files). Default: none.
    pub fn with_row_number(mut self, name: impl Into<String>, offset: i64) -> Self {
        self.row_number = Some((name.into(), offset));
        self
    }
    pub fn build(self) -> Result<NpyReader> {
        let _ = (self.table, self.batch_size, self.batch_bytes, self.projection, self.rows, self.row_number);
        todo!("integrator")
    }
}

/// Lazily reads batches of a table: an `Iterator` of `RecordBatch` and a `RecordBatchReader`.
/// It owns what it reads from (maps, inflaters), so it is `'static` and `Send`.
pub struct NpyReader {
    _private: (),
}

impl Iterator for NpyReader {
    type Item = std::result::Result<datafusion::arrow::record_batch::RecordBatch, datafusion::arrow::error::ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        todo!("integrator")
    }
}

impl datafusion::arrow::record_batch::RecordBatchReader for NpyReader {
    fn schema(&self) -> SchemaRef {
        todo!("integrator")
    }
}

#[allow(dead_code)]
fn _unused(_: PathBuf) {}
