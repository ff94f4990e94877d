//! Errors as Python exceptions: `NpyError` (a `ValueError`), and `NpyIOError` (an `NpyError` that
//! is also an `OSError`) when the cause is the file system. The message is the one line the CLI
//! prints after `npyq: `.

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

use datafusion::error::DataFusionError;

pyo3::create_exception!(
    datafusion_npy,
    NpyError,
    PyValueError,
    "A .npy/.npz file, query or argument that cannot be used; the message names the file, member or column."
);

static IO_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// `class NpyIOError(NpyError, OSError)`, made once (pyo3's `create_exception!` takes one base;
/// the two bases are compatible as in `io.UnsupportedOperation(OSError, ValueError)`).
pub fn io_error_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    IO_ERROR
        .get_or_try_init(py, || {
            let bases = PyTuple::new(py, [py.get_type::<NpyError>().into_any(), py.get_type::<PyOSError>().into_any()])?;
            let namespace = PyDict::new(py);
            namespace.set_item("__module__", "datafusion_npy")?;
            namespace.set_item("__doc__", "An NpyError caused by the file system (missing file, permissions, I/O).")?;
            let made = py.get_type::<PyType>().call1(("NpyIOError", bases, namespace))?;
            Ok::<_, PyErr>(made.cast_into::<PyType>()?.unbind())
        })
        .map(|t| t.bind(py))
}

/// An error of the bindings, its causes kept for the message and the exception class.
pub fn to_py(e: anyhow::Error) -> PyErr {
    let message = one_line(&e);
    let is_io = e.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some()
            || cause
                .downcast_ref::<datafusion_npy::NpyError>()
                .is_some_and(|npy| matches!(npy.kind, datafusion_npy::ErrorKind::Io(_)))
    });
    Python::attach(|py| {
        if is_io {
            if let Ok(class) = io_error_type(py) {
                return PyErr::from_type(class.clone(), message);
            }
        }
        NpyError::new_err(message)
    })
}

/// The error and its causes on one line, without repeating a cause already in the message (as
/// `npyq` prints them).
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out.replace('\n', " ")
}

/// A DataFusion error as `npyq sql` words it: a file's error as the crate words it, without the
/// `External error: ` / `Arrow error: ` wrappers; a syntax error as the parser words it.
pub fn plain(e: DataFusionError) -> anyhow::Error {
    if let DataFusionError::SQL(parse_error, _) = &e {
        return anyhow::anyhow!("{parse_error}");
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(current) = cause {
        if let Some(npy) = current.downcast_ref::<datafusion_npy::NpyError>() {
            return anyhow::anyhow!("{npy}");
        }
        cause = current.source();
    }
    e.into()
}
