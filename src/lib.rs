//! # datafusion-npy
//!
//! NumPy's `.npy` and `.npz` files as Apache Arrow record batches and Apache DataFusion tables.
//!
//! - [`format`]: the format layer (headers, dtypes, dtype → Arrow, zero-copy reading from
//!   memory maps, `.npz` archives, writing): the crate [`arrow_npy`], which knows nothing of
//!   DataFusion, re-exported under its old path.
//! - [`datasource`]: the DataFusion layer (file format, scans, catalog of a directory, sink).
//! - [`engine`]: engine extensions (rows kept in `_row` order, vector search functions).
//! - `distributed` (feature `distributed`): the same SQL over datafusion-distributed workers.

pub mod datasource;
pub mod engine;
#[cfg(feature = "distributed")]
pub mod distributed;

pub use arrow_npy as format;
pub use arrow_npy::error;

pub use error::{ErrorKind, Location, NpyError, Result};
pub use format::table::{NpyReader, NpyTable, OpenOptions, ReaderBuilder};
pub use format::writer::{ArrayFileWriter, NpzCompression, NullPolicy, WriteOptions};
pub use datasource::{NpyFormat, NpyFormatFactory, NpyFormatOptions, NpyTableFactory, SessionContextNpyExt};
