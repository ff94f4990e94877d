"""NumPy ``.npy``/``.npz`` files as Arrow streams and DataFusion tables.

Entry points:

- :func:`read` and :func:`sql` return an :class:`NpyStream` (Arrow PyCapsule stream);
- :class:`NpyTable` and :class:`NpyCatalog` are DataFusion FFI providers for a stock
  ``datafusion.SessionContext``;
- :func:`convert`, :func:`schema` and :func:`describe` mirror ``npyq convert`` / ``npyq schema``.
"""

from os import PathLike
from typing import Any, Sequence

__version__: str
"""The package version: the ``datafusion-npy`` crate's."""

class NpyError(ValueError):
    """A file, query or argument that cannot be used.

    The message is the one line ``npyq`` prints (it names the file, ``.npz`` member, column or
    URL), e.g. ``data/x.npy: not an .npy file (bad magic)``.
    """

class NpyIOError(NpyError, OSError):
    """An :class:`NpyError` whose cause is the file system (missing file, permission, I/O)."""

class NpyStream:
    """Record batches behind the Arrow PyCapsule stream interface.

    Consumed once: ``pyarrow.table(s)``, ``pyarrow.RecordBatchReader.from_stream(s)``,
    ``polars.DataFrame(s)`` or ``duckdb.sql("SELECT ... FROM s")`` (a Python variable named in
    the query) each take the batches; a second consumer raises :class:`NpyError`.
    (``polars.from_arrow(s)`` accepts it too, as one Series of structs.)
    """

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """An ``arrow_array_stream`` PyCapsule (the stream moves to the consumer)."""
    def __arrow_c_schema__(self) -> object:
        """An ``arrow_schema`` PyCapsule of the batches' schema (``pyarrow.schema(s)``)."""

class NpySchema:
    """What :func:`schema` returns: the Arrow schema of a file, from its headers only."""

    num_rows: int
    """Rows of the table (the length of the first axis)."""
    names: list[str]
    """Column names, in order."""
    def __arrow_c_schema__(self) -> object:
        """An ``arrow_schema`` PyCapsule (``pyarrow.schema(datafusion_npy.schema(p))``)."""
    def __str__(self) -> str:
        """The report ``npyq schema PATH`` prints (schema, then the numpy facts per array)."""

def read(
    path: str | PathLike[str],
    columns: Sequence[str] | None = None,
    member: str | None = None,
) -> NpyStream:
    """Read a ``.npy`` or ``.npz`` file as an Arrow stream.

    A ``.npy`` file's record fields (or the array itself) are the columns; an ``.npz`` has one
    column per member, or, with ``member=``, that member's fields. ``columns`` selects and orders
    columns. A local file is memory-mapped: a column whose bytes Arrow can use as they are
    (native-endian, aligned, no nulls) is handed over without a copy, and comes as one batch so
    ``pyarrow.table(read(p)).column(0).to_numpy()`` is a view of the mapped file. A URL
    (``s3://``, ``http://``, ``file://``) is read through DataFusion's object stores.

    Headers are read here (a bad file raises :class:`NpyError` at once); data are read as the
    consumer pulls batches.

    >>> import pyarrow as pa, datafusion_npy
    >>> t = pa.table(datafusion_npy.read("sql-examples/data/readings.npy"))
    """

def sql(query: str, dirs: Sequence[str | PathLike[str]] = ()) -> NpyStream:
    """Run SQL as ``npyq sql --dir D ... QUERY`` does and return the result as an Arrow stream.

    Every entry of ``dirs`` is served as tables (``x.npy`` -> ``x``, ``ds.npz`` -> ``ds`` and
    schema ``ds`` with a table per member, a folder of files -> one table); ``STORED AS NPY``,
    the widening ``sum``/``avg``, the vector functions and the positional join on ``_row`` are
    there. Several statements may be given; the result of the last one that returns columns is
    returned (an empty stream without columns if none does). The statements run with the GIL
    released until the result's first batch is ready (an aggregate, sort or join has done its
    work by then), and Ctrl-C (``KeyboardInterrupt``) cancels them; the rest of a streaming
    result (a scan, a filter) is produced as the consumer pulls it, so a large result is never
    held whole, and dropping the stream cancels the query.

    >>> import pyarrow as pa, datafusion_npy
    >>> pa.table(datafusion_npy.sql("SELECT count(*) AS n FROM readings", dirs=["sql-examples/data"]))
    """

def convert(
    src: str | PathLike[str],
    dst: str | PathLike[str],
    member: str | None = None,
    compression: str | None = None,
) -> None:
    """Convert as ``npyq convert SRC DST`` does: ``dst``'s extension chooses the format.

    Inputs: ``.npy``, ``.npz``, a directory of them, ``.parquet``, ``.arrow``, ``.arrows``.
    Outputs: those and ``.csv``, ``.json``/``.ndjson``. ``compression``: for ``.parquet`` snappy
    (default), zstd, gzip, lz4, none; for ``.arrow``/``.arrows`` none (default), lz4, zstd; for
    ``.npz`` stored (default) or deflate. ``dst`` appears only when everything succeeded.
    """

def schema(path: str | PathLike[str]) -> NpySchema:
    """The Arrow schema and row count of a ``.npy``/``.npz`` file, from its headers only.

    >>> import pyarrow as pa, datafusion_npy
    >>> pa.schema(datafusion_npy.schema("sql-examples/data/ds.npz"))
    """

def describe(path: str | PathLike[str]) -> str:
    """The text ``npyq schema PATH`` prints (also ``str(schema(path))``)."""

class NpyTable:
    """A ``.npy``/``.npz`` file, or a directory of them, as one DataFusion table.

    For a stock ``datafusion.SessionContext`` (PyPI ``datafusion`` 55) through DataFusion's FFI::

        ctx.register_table("ds", datafusion_npy.NpyTable("sql-examples/data/ds.npz"))

    The table is the library's (projection, ``LIMIT``, ``_row`` filters and statistics pushed
    into the scan); it has the extra column ``_row``, each row's position. ``member`` reads one
    ``.npz`` member's fields as columns; ``files`` (``"npy"``/``"npz"``) picks which files of a
    directory holding both make the table.
    """

    def __init__(self, path: str | PathLike[str], member: str | None = None, files: str | None = None) -> None: ...
    def __datafusion_table_provider__(self, session: Any) -> object:
        """A ``datafusion_table_provider`` PyCapsule (called by ``register_table``)."""
    names: list[str]
    """Column names, ``_row`` included."""

class NpyCatalog:
    """Directories of ``.npy``/``.npz`` files as a DataFusion catalog (as ``npyq sql --dir``)::

        ctx.register_catalog_provider("npy", datafusion_npy.NpyCatalog("sql-examples/data"))
        ctx.sql("SELECT count(*) FROM npy.public.readings")

    Tables are in schema ``schema`` (default ``public``); an ``.npz`` also gives a schema of its
    name with one table per member. Re-listed on every query. Registering it as catalog
    ``"datafusion"`` (the default catalog) makes bare table names work.
    """

    def __init__(self, dirs: str | PathLike[str] | Sequence[str | PathLike[str]], schema: str = "public") -> None: ...
    def __datafusion_catalog_provider__(self, session: Any) -> object:
        """A ``datafusion_catalog_provider`` PyCapsule (called by ``register_catalog_provider``)."""
    def schema_names(self) -> list[str]:
        """The schemas served now."""

class NpyScalarUDF:
    """One of the library's vector functions for a stock ``datafusion.SessionContext``::

        import datafusion
        for f in datafusion_npy.vector_udfs():
            ctx.register_udf(datafusion.udf(f))
    """

    name: str
    """The function's SQL name (its aliases come with it)."""
    def __datafusion_scalar_udf__(self) -> object:
        """A ``datafusion_scalar_udf`` PyCapsule."""

def vector_udfs() -> list[NpyScalarUDF]:
    """The vector functions of ``npyq sql`` (DuckDB's ``array_cosine_distance``,
    ``array_inner_product``, ..., ``l2_norm``, ``l2_normalize``; native kernels over
    ``FixedSizeList`` columns),
    for ``SessionContext.register_udf``."""
