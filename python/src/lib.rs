//! `datafusion_npy`, the Python extension: numpy `.npy`/`.npz` files as Arrow streams (the Arrow
//! PyCapsule interface) and as DataFusion tables for a stock datafusion-python `SessionContext`
//! (the `datafusion-ffi` PyCapsule protocols).
//!
//! Everything here is a thin binding: reading is `datafusion_npy::NpyReader`'s (zero-copy from the
//! memory map where the bytes allow), tables and catalogs are the library's, `convert` and
//! `schema` are the CLI's own code (`src/bin/npyq/`, included below), errors are worded as the
//! CLI words them.

// The CLI's input/output code, compiled here unchanged so `convert` writes exactly what
// `npyq convert` writes. They refer to each other as `crate::input` etc.
#[allow(dead_code)]
#[path = "../../src/bin/npyq/input.rs"]
mod input;
#[allow(dead_code)]
#[path = "../../src/bin/npyq/output.rs"]
mod output;
#[allow(dead_code)]
#[path = "../../src/bin/npyq/parquet_writer.rs"]
mod parquet_writer;
#[allow(dead_code)]
#[path = "../../src/bin/npyq/csv_flatten.rs"]
mod csv_flatten;
#[allow(dead_code)]
#[path = "../../src/bin/npyq/text_form.rs"]
mod text_form;
#[allow(dead_code)]
#[path = "../../src/bin/npyq/schema.rs"]
mod schema_text;

mod errors;
mod stream;
mod tables;

use std::path::PathBuf;

use pyo3::prelude::*;

use errors::NpyError;

/// `read(path_or_url, columns=None, member=None)`: see `__init__.pyi`.
#[pyfunction]
#[pyo3(signature = (path, columns = None, member = None))]
fn read(py: Python<'_>, path: String, columns: Option<Vec<String>>, member: Option<String>) -> PyResult<stream::NpyStream> {
    py.detach(|| stream::read(&path, columns, member)).map_err(errors::to_py)
}

/// `sql(query, dirs=[])`: see `__init__.pyi`.
#[pyfunction]
#[pyo3(signature = (query, dirs = Vec::new()))]
fn sql(py: Python<'_>, query: String, dirs: Vec<PathBuf>) -> PyResult<stream::NpyStream> {
    stream::sql(py, &query, &dirs)
}

/// `convert(src, dst, member=None, compression=None)`: see `__init__.pyi`.
#[pyfunction]
#[pyo3(signature = (src, dst, member = None, compression = None))]
fn convert(py: Python<'_>, src: PathBuf, dst: PathBuf, member: Option<String>, compression: Option<String>) -> PyResult<()> {
    py.detach(|| stream::convert(&src, &dst, member.as_deref(), compression.as_deref())).map_err(errors::to_py)
}

/// `schema(path)`: see `__init__.pyi`.
#[pyfunction]
fn schema(py: Python<'_>, path: String) -> PyResult<stream::NpySchema> {
    py.detach(|| stream::schema(&path)).map_err(errors::to_py)
}

/// `describe(path)`: the text `npyq schema PATH` prints.
#[pyfunction]
fn describe(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    py.detach(|| schema_text::describe(&path)).map_err(errors::to_py)
}

#[pymodule]
#[pyo3(name = "_internal")]
fn datafusion_npy_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("NpyError", py.get_type::<NpyError>())?;
    m.add("NpyIOError", errors::io_error_type(py)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(read, m)?)?;
    m.add_function(wrap_pyfunction!(sql, m)?)?;
    m.add_function(wrap_pyfunction!(convert, m)?)?;
    m.add_function(wrap_pyfunction!(schema, m)?)?;
    m.add_function(wrap_pyfunction!(describe, m)?)?;
    m.add_class::<stream::NpyStream>()?;
    m.add_class::<stream::NpySchema>()?;
    m.add_class::<tables::NpyTable>()?;
    m.add_class::<tables::NpyCatalog>()?;
    m.add_class::<tables::NpyScalarUDF>()?;
    m.add_function(wrap_pyfunction!(tables::vector_udfs, m)?)?;
    Ok(())
}
