"""NumPy ``.npy``/``.npz`` files as Arrow streams and DataFusion tables.

- :func:`read` / :func:`sql` return an :class:`NpyStream`, an Arrow stream (``__arrow_c_stream__``)
  that ``pyarrow``, DuckDB and Polars consume directly;
- :class:`NpyTable` / :class:`NpyCatalog` plug into a stock ``datafusion.SessionContext``
  (``register_table`` / ``register_catalog_provider``) through DataFusion's FFI;
- :func:`convert` / :func:`schema` mirror ``npyq convert`` / ``npyq schema``.

Errors are :class:`NpyError` (a ``ValueError``), or :class:`NpyIOError` (also an ``OSError``)
when the file system is the cause, with the one-line message ``npyq`` prints.
"""

from ._internal import (
    NpyCatalog,
    NpyError,
    NpyIOError,
    NpySchema,
    NpyStream,
    NpyScalarUDF,
    NpyTable,
    __version__,
    convert,
    describe,
    read,
    schema,
    sql,
    vector_udfs,
)

__all__ = [
    "NpyCatalog",
    "NpyError",
    "NpyIOError",
    "NpySchema",
    "NpyStream",
    "NpyScalarUDF",
    "NpyTable",
    "__version__",
    "convert",
    "describe",
    "read",
    "schema",
    "sql",
    "vector_udfs",
]
