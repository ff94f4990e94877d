//! The format layer: reading and writing `.npy` / `.npz`, with Arrow as the in-memory form.
//! Nothing here knows about DataFusion's planning; `crate::datasource` builds on it.

pub mod decode;
pub mod dtype;
pub mod header;
pub mod literal;
pub mod schema;
pub mod table;
pub mod writer;
