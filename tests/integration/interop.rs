//! Interop: what other tools read in the files npyq writes.
//!
//! - [`parquet_types`]: one test per Arrow type the reader produces, checking the Parquet
//!   physical and logical type of its column (the `parquet` crate's schema API) in the files of
//!   all three Parquet writers: `npyq convert`, `npyq sql --format parquet --output`, and
//!   `COPY ... STORED AS PARQUET` in the library. Second-precision timestamps must be
//!   `TIMESTAMP(MILLIS)` as pyarrow writes them, not a bare `INT64`.
//! - [`text`]: CSV and JSON of bytes, structs, lists and datetimes against golden files, and
//!   the same bytes whether `convert` or `sql` wrote them.
//!
//! The input is `tests/data/interop/types.npy` (numpy-made: `make_interop.py`, one field per
//! Arrow type). What pyarrow, DuckDB, Polars and pandas make of every output is checked by hand
//! with `tests/data/interop/interop_matrix.py` (it needs Python; these tests do not).

mod parquet_types;
mod text;

use std::path::PathBuf;

use super::cli::root;

/// The numpy-made file with one field per Arrow type.
pub fn types_npy() -> PathBuf {
    root().join("tests/data/interop/types.npy")
}

/// The directory served to `npyq sql` (table `types`).
pub fn types_dir() -> PathBuf {
    root().join("tests/data/interop")
}
