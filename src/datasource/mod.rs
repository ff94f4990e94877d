//! The DataFusion layer: a `FileFormat` for `.npy`/`.npz`, its `FileSource`/opener, a sink for
//! `COPY ... STORED AS NPY`, and the `SessionContext` extension that registers a directory.
//! Thin: all reading and writing is `crate::format`'s.
//!
//! - [`file_format`]: [`NpyFormat`] / [`NpyFormatFactory`] (for `ListingTable`, `STORED AS NPY`
//!   or `NPZ`, `COPY`), and [`NpyTableFactory`] (`CREATE EXTERNAL TABLE ... STORED AS NPY`).
//!   Planning a scan puts the files in natural order, gives each its `_row` offset and exact row
//!   count.
//! - [`files_table`]: [`NpyFilesTable`], the table of a file or a directory of shards (without
//!   `key=value` levels): one small record per file, `count(*)` from those records, no
//!   per-file state in plans that read no data.
//! - [`source`]: [`NpySource`] / [`NpyOpener`], the one scan path every table uses (projection,
//!   limit, `_row` ranges, byte ranges mapped to row ranges).
//! - [`catalog`]: a directory as tables and schemas, re-listed on every query.
//! - [`header_cache`]: [`HeaderCache`], each file's header read once per session (again only
//!   when the file changed), shared by the catalog, schema inference, statistics and scans.
//! - [`sink`]: `COPY ... TO 'x.npy' | 'x.npz'`.
//! - [`parquet_types`]: Arrow types Parquet cannot hold (`Timestamp(Second)`), written as
//!   pyarrow writes them, by `COPY ... STORED AS PARQUET` and the CLI alike.
//! - [`positional_join`]: joins on `_row` planned as zipping two scans by position.
//! - [`object_stores`]: a URL (`s3://`, `gs://`, `az://`, `http(s)://`) to a store on the
//!   session, configured from the environment and table options; [`remote`]: `.npy` objects
//!   read by byte range.
//! - [`context`]: [`SessionContextNpyExt`] (`register_npy_dir`, `register_npy`, `read_npy`).
//! - [`widening_sum`]: `sum` and `avg` that sum `Float32` columns without first casting them to
//!   `Float64` ([`widening_sum_udaf`], [`widening_avg_udaf`]).
//!
//! Every table has an extra `Int64` column [`ROW_COLUMN`] (`_row`): the row's 0-based position
//! in the whole table (files in natural order). DataFusion 55 cannot hide a column, so it shows
//! in `SELECT *`.

pub mod catalog;
pub mod context;
pub mod file_format;
pub mod files_table;
pub mod header_cache;
mod listing;
mod local;
pub mod natural;
pub mod object_stores;
pub mod parquet_types;
pub mod positional_join;
pub mod remote;
mod row_filter;
pub mod sink;
pub mod source;
pub mod widening_sum;

pub use catalog::NpyDirCatalog;
pub use context::{NpySessionOptions, SessionContextNpyExt};
pub use parquet_types::ParquetStorableTypes;
pub use header_cache::{FileSummary, HeaderCache};
pub use file_format::{Extension, NpyFormat, NpyFormatFactory, NpyFormatOptions, NpyTableFactory};
pub use files_table::NpyFilesTable;
pub use source::{FileRows, NpyOpener, NpySource, RowSpan, Splittable};
pub use widening_sum::{widening_avg_udaf, widening_sum_udaf, WideningAvg, WideningSum};

/// Name of the row-position column every table gets.
pub const ROW_COLUMN: &str = "_row";
