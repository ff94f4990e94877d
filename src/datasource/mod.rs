//! The DataFusion layer: a `FileFormat` for `.npy`/`.npz`, its `FileSource`/opener, a sink for
//! `COPY ... STORED AS NPY`, and the `SessionContext` extension that registers a directory.
//! Thin: all reading and writing is `crate::format`'s.
pub mod sink;
