//! # datafusion-npy
//!
//! NumPy's `.npy` and `.npz` files as Apache Arrow record batches and Apache DataFusion tables.
//!
//! - [`format`]: the format layer (headers, dtypes, dtype → Arrow, zero-copy reading from
//!   memory maps, `.npz` archives, writing). Knows nothing of DataFusion's planning.
//! - [`datasource`]: the DataFusion layer (file format, scans, catalog of a directory, sink).
//! - [`engine`]: operators and plan rules beyond scanning (rows kept in `_row` order).

pub mod datasource;
pub mod engine;
pub mod error;
pub mod format;

pub use error::{ErrorKind, Location, NpyError, Result};
pub use format::table::{NpyReader, NpyTable, OpenOptions, ReaderBuilder};
pub use format::writer::{ArrayFileWriter, NpzCompression, NullPolicy, WriteOptions};
pub use datasource::{NpyFormat, NpyFormatFactory, NpyFormatOptions, NpyTableFactory, SessionContextNpyExt};
