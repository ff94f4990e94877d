//! The format layer: reading and writing `.npy` / `.npz`, with Arrow as the in-memory form.
//! Nothing here knows about DataFusion's planning; `crate::datasource` builds on it.
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
pub mod header;
pub mod literal;
mod npz;
pub mod schema;
pub mod table;
pub mod writer;
