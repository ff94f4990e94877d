//! NumPy's `.npy` and `.npz` files as Apache Arrow record batches: a [`Reader`] that yields
//! [`RecordBatch`](arrow_array::RecordBatch)es from a file (memory-mapped, and zero-copy where
//! the bytes allow it) and a [`Writer`] that writes batches back as files `numpy.load` reads.
//! Built on the `arrow-*` crates alone, in the style of `arrow-csv` and `arrow-ipc`; engines
//! (`datafusion-npy` for DataFusion) build on it.
//!
//! ```
//! use std::sync::Arc;
//!
//! use arrow_array::{Float32Array, Int64Array, RecordBatch, RecordBatchReader};
//! use arrow_npy::{ReaderBuilder, WriteOptions, Writer};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let path = dir.path().join("ds.npz");
//! let batch = RecordBatch::try_from_iter([
//!     ("labels", Arc::new(Int64Array::from(vec![0, 1, 1])) as _),
//!     ("score", Arc::new(Float32Array::from(vec![0.5, 0.25, 0.125])) as _),
//! ])?;
//!
//! // One member per column, like `np.savez(path, labels=..., score=...)`.
//! let mut writer = Writer::try_new(&path, batch.schema(), WriteOptions::default())?;
//! writer.write(&batch)?;
//! writer.finish()?;
//!
//! // Back as Arrow: one column per member, read lazily in batches.
//! let reader = ReaderBuilder::new(&path).with_batch_size(2).build()?;
//! assert_eq!(reader.schema().field(1).name(), "score");
//! let batches = reader.collect::<Result<Vec<_>, _>>()?;
//! assert_eq!(batches.len(), 2);
//! let read = arrow_select::concat::concat_batches(&batches[0].schema(), &batches)?;
//! assert_eq!(read.columns(), batch.columns());
//!
//! // One member alone, its header only opened until batches are pulled.
//! let labels = ReaderBuilder::new(&path).with_member("labels").build()?;
//! assert_eq!(labels.schema().fields().len(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! # What is where
//!
//! - Reading: [`ReaderBuilder`] → [`Reader`] (an `Iterator` of `Result<RecordBatch,
//!   ArrowError>` and a `RecordBatchReader`), with [`OpenOptions`] for how files are opened.
//!   [`NpyTable`] is an opened file (headers read, schema and row count known) that can hand
//!   out many readers, e.g. one per row range.
//! - Writing: [`Writer`] with [`WriteOptions`]: one column → a plain array (a `FixedSizeList`
//!   column adds dimensions), several → a structured array in a `.npy` or one member each in an
//!   `.npz`; the output appears only when it is complete.
//! - Types: [`type_table`] has the numpy dtype ↔ Arrow table, both ways.
//! - Errors: [`NpyError`] names the file, `.npz` member and column, and converts into
//!   `ArrowError` at the Arrow boundary (the reader's batches).
//!
//! Reading goes: [`header`] (magic, version, the Python-literal dict via [`literal`]) →
//! [`dtype`] (the numpy type model) → [`schema`] (the one dtype → Arrow mapping) → `array`
//! (where a `.npy` file's or `.npz` member's rows are: mapped, inflated whole, or inflated as a stream) →
//! [`decode`] (bytes → Arrow arrays, zero-copy where possible) → [`table`] (tables and the
//! lazy batch reader).
//!
//! # Safety of input
//!
//! Nothing from a file is evaluated or unpickled; header lengths are capped
//! ([`OpenOptions::with_max_header_len`]) and every size is checked against the file before
//! anything is allocated. A damaged or hostile file gives an [`NpyError`], never a panic.
//! A file another process truncates while it is memory-mapped is checked between batches;
//! see [`OpenOptions::with_mmap`] for inputs that may change while read.

mod array;
mod bytes;
pub mod decode;
pub mod dtype;
pub mod error;
pub mod header;
pub mod literal;
mod npz;
pub mod ranged;
pub mod ranged_npz;
pub mod schema;
pub mod table;
pub mod writer;

#[doc = include_str!("type_table.md")]
pub mod type_table {}

pub use error::{ErrorKind, Location, NpyError, Result};
pub use ranged::{RangedNpy, HEADER_PROBE_LEN};
pub use ranged_npz::{RangedMember, RangedNpz, ZipMember};
pub use table::{NpyReader, NpyTable, OpenOptions, ReaderBuilder, DEFAULT_INFLATE_IN_MEMORY_BYTES};
pub use writer::{ArrayFileWriter, NpzCompression, NullPolicy, WriteOptions};

/// The batch reader, under the name arrow-rs readers have (`arrow_csv::Reader`, ...).
pub type Reader = NpyReader;

/// The `.npy`/`.npz` writer, under the name arrow-rs writers have (`arrow_csv::Writer`, ...).
pub type Writer = ArrayFileWriter;

/// The Arrow paths this crate uses, laid out as the `arrow` crate lays them out (`array`,
/// `datatypes`, ...), but taken from the `arrow-*` crates themselves: depending on `arrow` would
/// compile kernels (arithmetic, sorting, string functions) this crate never calls.
mod arrow {
    pub mod array {
        pub use arrow_array::cast::*;
        pub use arrow_array::*;
        pub use arrow_data::ArrayData;
    }
    pub use arrow_buffer as buffer;
    pub mod compute {
        pub use arrow_cast::{cast, cast_with_options, CastOptions};
        #[cfg(test)]
        pub use arrow_select::concat::concat_batches;
    }
    pub mod datatypes {
        pub use arrow_array::types::*;
        pub use arrow_buffer::ArrowNativeType;
        pub use arrow_schema::*;
    }
    pub mod error {
        pub use arrow_schema::ArrowError;
    }
    pub use arrow_ipc as ipc;
    pub mod record_batch {
        pub use arrow_array::{RecordBatch, RecordBatchOptions, RecordBatchReader};
    }
}
