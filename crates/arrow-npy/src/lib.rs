//! The format layer: reading and writing `.npy` / `.npz`, with Arrow as the in-memory form.
//! Nothing here knows about DataFusion; `datafusion-npy` builds its tables on it.
//!
//! Reading goes: [`header`] (magic, version, the Python-literal dict via [`literal`]) →
//! [`dtype`] (the numpy type model) → [`schema`] (the one dtype → Arrow mapping) → `array`
//! (where a `.npy` file's or `.npz` member's rows are: mapped, or inflated as a stream) →
//! [`decode`] (bytes → Arrow arrays, zero-copy where possible) → [`table`] (tables and the
//! lazy batch reader).

mod array;
mod bytes;
pub mod decode;
pub mod dtype;
pub mod error;
pub mod header;
pub mod literal;
mod npz;
pub mod schema;
pub mod table;
pub mod writer;

pub use error::{ErrorKind, Location, NpyError, Result};
pub use table::{NpyReader, NpyTable, OpenOptions, ReaderBuilder};
pub use writer::{ArrayFileWriter, NpzCompression, NullPolicy, WriteOptions};

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
        pub use arrow_cast::cast;
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
