"""Every SQL example through a stock datafusion-python `SessionContext` with the FFI providers,
and through `datafusion_npy.sql()`, equal to the CLI's answers (`npyq sql --format arrows`)."""

import math
import os
import re
import signal
import subprocess
import threading
import time

import pyarrow as pa
import pytest

import datafusion
import datafusion_npy
from conftest import DATA, EXAMPLES


def statements(path):
    """The statements of an example file (comments dropped, split at `;` ending a line)."""
    text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", text) if s.strip()]


def is_setup(statement):
    return re.match(r"(?is)^\s*(CREATE|SET)\b", statement) is not None


def cli_answer(npyq, setup, statement):
    """The CLI's result of `statement` (after the `setup` statements) as an Arrow table."""
    sql = ";\n".join(setup + [statement]) + ";"
    done = subprocess.run(
        [npyq, "sql", "--dir", str(DATA), "--format", "arrows", sql], capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    return pa.ipc.open_stream(done.stdout).read_all()


def rows(table, ordered):
    out = [tuple(r.values()) for r in table.to_pylist()]
    return out if ordered else sorted(out, key=repr)


def assert_same_rows(got, want, statement):
    assert got.column_names == want.column_names, statement
    ordered = re.search(r"(?i)\border\s+by\b", statement) is not None
    got_rows, want_rows = rows(got, ordered), rows(want, ordered)
    assert len(got_rows) == len(want_rows), statement
    for g, w in zip(got_rows, want_rows):
        for a, b in zip(g, w):
            if isinstance(a, float) and isinstance(b, float):
                assert a == b or math.isclose(a, b, rel_tol=1e-12) or (math.isnan(a) and math.isnan(b)), statement
            else:
                assert a == b, statement


def stock_session():
    """A stock datafusion-python session: the directory as its default catalog (bare table names,
    as `npyq sql --dir`), and the vector functions."""
    ctx = datafusion.SessionContext()
    ctx.register_catalog_provider("datafusion", datafusion_npy.NpyCatalog(str(DATA)))
    for f in datafusion_npy.vector_udfs():
        ctx.register_udf(datafusion.udf(f))
    return ctx


EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.sql"))


@pytest.mark.parametrize("example", EXAMPLE_FILES)
def test_example_through_datafusion_python_equals_cli(example, npyq):
    ctx = stock_session()
    setup = []
    for statement in statements(EXAMPLES / example):
        if re.search(r"(?i)\bknn\s*\(", statement):
            # `knn(...)` looks its tables up in the session that plans it, which a table function
            # handed over the FFI cannot see: it is served by `datafusion_npy.sql()` (checked
            # below), not in a stock session.
            continue
        got = ctx.sql(statement).to_arrow_table()
        if is_setup(statement):
            setup.append(statement)
            continue
        if re.match(r"(?is)^\s*COPY\b", statement):
            # Writes a file (the next statements read it); its answer is a count.
            assert got.column_names == ["count"], statement
            continue
        assert_same_rows(got, cli_answer(npyq, setup, statement), statement)


@pytest.mark.parametrize("example", EXAMPLE_FILES)
def test_example_through_sql_equals_cli(example, npyq):
    setup = []
    for statement in statements(EXAMPLES / example):
        if is_setup(statement):
            setup.append(statement)
            continue
        got = pa.table(datafusion_npy.sql(";\n".join(setup + [statement]), dirs=[str(DATA)]))
        if re.match(r"(?is)^\s*COPY\b", statement):
            continue
        assert_same_rows(got, cli_answer(npyq, setup, statement), statement)


def test_npy_table_and_catalog_on_a_stock_session():
    ctx = datafusion.SessionContext()
    ctx.register_table("ds", datafusion_npy.NpyTable(str(DATA / "ds.npz")))
    ctx.register_catalog_provider("npy", datafusion_npy.NpyCatalog([str(DATA)]))
    n = ctx.sql("SELECT count(*) AS n FROM ds").to_arrow_table().column("n")[0].as_py()
    assert n == ctx.sql("SELECT count(*) AS n FROM npy.public.ds").to_arrow_table().column("n")[0].as_py()
    members = ctx.sql("SELECT count(*) AS n FROM npy.ds.labels").to_arrow_table().column("n")[0].as_py()
    assert members == n
    # `_row` filters, projection and limit reach the scan: the right rows come back.
    got = ctx.sql("SELECT _row, labels FROM ds WHERE _row >= 10 AND _row < 13 ORDER BY _row").to_arrow_table()
    assert got.column("_row").to_pylist() == [10, 11, 12]
    assert ctx.sql("SELECT labels FROM ds LIMIT 7").to_arrow_table().num_rows == 7
    # A member as its own table.
    labels = datafusion_npy.NpyTable(str(DATA / "ds.npz"), member="labels")
    assert labels.names == ["labels", "_row"]


def test_vector_udfs_on_a_stock_session_equal_numpy():
    # The kernels' answers across the FFI, against numpy's on the example embeddings.
    import numpy as np

    x = np.load(DATA / "embeddings.npy")
    ctx = stock_session()
    got = ctx.sql("SELECT l2_norm(embeddings) AS n, l2_normalize(embeddings) AS u FROM embeddings ORDER BY _row").to_arrow_table()
    unit_type = got.schema.field("u").type  # the column's own type: float32 vectors of 8
    assert pa.types.is_fixed_size_list(unit_type) and unit_type.value_type == pa.float32() and unit_type.list_size == x.shape[1]
    norms = np.linalg.norm(x, axis=1)
    np.testing.assert_allclose(got.column("n").to_numpy(), norms, rtol=1e-6)
    unit = np.stack(got.column("u").to_pylist())
    np.testing.assert_allclose(unit, x / norms[:, None], rtol=1e-6, atol=1e-7)


def explain(ctx, query):
    table = ctx.sql("EXPLAIN " + query).to_arrow_table().to_pylist()
    return {row["plan_type"]: row["plan"] for row in table}


def test_pushdown_and_statistics_cross_the_ffi():
    """The provider takes the projection and the `_row` filters (partial: DataFusion re-checks
    them), and its exact row count answers `count(*)` without a scan."""
    ctx = datafusion.SessionContext()
    ctx.register_table("ds", datafusion_npy.NpyTable(str(DATA / "ds.npz")))
    plan = explain(ctx, "SELECT labels FROM ds WHERE _row >= 5 AND _row < 9 LIMIT 3")
    assert "TableScan: ds projection=[labels, _row], partial_filters=[ds._row >= Int64(5), ds._row < Int64(9)]" in plan[
        "logical_plan"
    ]
    assert "FFI_ExecutionPlan: DataSourceExec" in plan["physical_plan"]
    rows = ctx.sql("SELECT count(*) AS n FROM ds").to_arrow_table().column("n")[0].as_py()
    assert f"ProjectionExec: expr=[{rows} as count(*)]" in explain(ctx, "SELECT count(*) FROM ds")["physical_plan"]


def test_errors_of_tables_and_sql():
    with pytest.raises(datafusion_npy.NpyIOError, match="no/such.npz"):
        datafusion_npy.NpyTable("no/such.npz")
    with pytest.raises(datafusion_npy.NpyError, match="nope"):
        datafusion_npy.NpyCatalog(["nope/"])
    with pytest.raises(datafusion_npy.NpyError, match="missing_table"):
        datafusion_npy.sql("SELECT * FROM missing_table", dirs=[str(DATA)])
    assert pa.table(datafusion_npy.sql("SET npy.preserve_row_order = false")).num_columns == 0
    with pytest.raises(datafusion_npy.NpyError) as info:
        datafusion_npy.sql("SELEC 1")
    assert "\n" not in str(info.value)


def test_sql_releases_the_gil():
    """While a query runs, other Python threads run."""
    ticks = 0
    done = threading.Event()

    def query():
        datafusion_npy.sql("SELECT count(*) FROM generate_series(1, 30000000) AS t(v) WHERE v % 7 = 3")
        done.set()

    worker = threading.Thread(target=query)
    worker.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    worker.join()
    assert ticks > 5


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="POSIX signals")
def test_ctrl_c_interrupts_a_long_query():
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        datafusion_npy.sql("SELECT sum(v) FROM generate_series(1, 100000000000) AS t(v)")
    timer.join()
    assert time.monotonic() - started < 10


def test_a_large_result_streams_instead_of_being_collected():
    """10^11 rows could never be collected: the first batch arrives, and dropping the reader
    cancels the rest."""
    started = time.monotonic()
    reader = pa.RecordBatchReader.from_stream(
        datafusion_npy.sql("SELECT v FROM generate_series(1, 100000000000) AS t(v)")
    )
    first = reader.read_next_batch()
    second = reader.read_next_batch()
    assert first.column(0)[0].as_py() == 1
    assert second.column(0)[0].as_py() == first.num_rows + 1
    del reader
    assert time.monotonic() - started < 10


def test_an_error_after_the_first_batch_is_raised_by_the_consumer_in_one_line():
    reader = pa.RecordBatchReader.from_stream(
        datafusion_npy.sql("SELECT 1 / (v - 1000000) AS q FROM generate_series(1, 2000000) AS t(v)")
    )
    with pytest.raises(Exception) as raised:
        reader.read_all()
    message = str(raised.value)
    assert "Divide by zero" in message
    assert "\n" not in message.strip()
