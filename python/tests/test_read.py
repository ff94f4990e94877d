"""`read()` against numpy (the oracle corpus), the consumers of its stream, zero-copy, errors."""

import json
import os

import numpy as np
import pyarrow as pa
import pytest

import datafusion_npy
from conftest import CORPUS, DATA, FIXTURES


def arrow_to_numpy(col):
    """An Arrow column as numpy values in numpy's layout: FixedSizeLists back to extra axes."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    t = col.type
    if pa.types.is_fixed_size_list(t):
        inner = arrow_to_numpy(col.flatten())
        return inner.reshape((len(col), t.list_size) + inner.shape[1:])
    if pa.types.is_struct(t):
        return {t.field(i).name: arrow_to_numpy(col.field(i)) for i in range(t.num_fields)}
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return np.array(col.to_pylist(), dtype=object)
    if pa.types.is_binary(t) or pa.types.is_fixed_size_binary(t) or pa.types.is_large_binary(t):
        return np.array(col.to_pylist(), dtype=object)
    return col.to_numpy(zero_copy_only=False)


def assert_same(got, want, where):
    """`got` (from Arrow) equals numpy's `want`."""
    if want.dtype.names:
        assert isinstance(got, dict), where
        for name in want.dtype.names:
            if name:
                assert_same(got[name], want[name], f"{where}.{name}")
        return
    if want.dtype.subdtype is not None:
        want = np.asarray(want)
    kind = want.dtype.kind
    if kind in "SV":
        wanted = [bytes(v).rstrip(b"\0") if kind == "S" else bytes(v) for v in want.reshape(-1)]
        got_list = [None if v is None else (v.rstrip(b"\0") if kind == "S" else v) for v in got.reshape(-1)]
        assert got_list == wanted, where
        return
    if kind == "U":
        assert list(got.reshape(-1)) == list(want.reshape(-1)), where
        return
    if kind in "Mm":
        # Arrow has no scaled units (10s, 3M, 2W): the same instants in a plain unit.
        got = np.asarray(got)
        assert got.dtype.kind == kind and got.shape == want.shape, where
        assert np.array_equal(got.view("i8"), want.astype(got.dtype).view("i8")), where
        return
    if kind == "c":
        # A complex number is a struct {real, imag}.
        assert isinstance(got, dict), where
        assert np.array_equal(got["real"], want.real, equal_nan=True), where
        assert np.array_equal(got["imag"], want.imag, equal_nan=True), where
        return
    got = np.asarray(got)
    assert got.shape == want.shape, f"{where}: shape {got.shape} != {want.shape}"
    assert np.array_equal(got.astype(want.dtype), want, equal_nan=kind == "f"), where


def corpus_npy_files():
    return sorted(
        p.name
        for p in CORPUS.glob("*.npy")
        if not p.name.startswith("bad_") and p.name not in ("object_pickled.npy", "scalar_0d.npy")
    )


@pytest.mark.parametrize("name", corpus_npy_files())
def test_corpus_npy_equals_np_load(name):
    path = CORPUS / name
    want = np.load(path)
    table = pa.table(datafusion_npy.read(str(path)))
    assert table.num_rows == want.shape[0]
    if want.dtype.names:
        names = [n for n in want.dtype.names if n]
        assert table.column_names == names
        for n in names:
            assert_same(arrow_to_numpy(table.column(n)), want[n], f"{name}:{n}")
    else:
        assert table.num_columns == 1
        assert_same(arrow_to_numpy(table.column(0)), want, name)


@pytest.mark.parametrize("name", ["dataset.npz", "dataset_compressed.npz"])
def test_corpus_npz_equals_np_load(name):
    path = CORPUS / name
    with np.load(path) as archive:
        members = {k: archive[k] for k in archive.files}
    table = pa.table(datafusion_npy.read(str(path)))
    assert sorted(table.column_names) == sorted(members)
    for member, want in members.items():
        assert_same(arrow_to_numpy(table.column(member)), want, f"{name}[{member}]")
    # One member, and a projection.
    first = sorted(members)[0]
    one = pa.table(datafusion_npy.read(str(path), member=first))
    assert one.num_rows == members[first].shape[0]
    only = pa.table(datafusion_npy.read(str(path), columns=[first]))
    assert only.column_names == [first]


def test_columns_select_and_order():
    table = pa.table(datafusion_npy.read(str(DATA / "events.npy"), columns=["value", "id"]))
    assert table.column_names == ["value", "id"]
    want = np.load(DATA / "events.npy")
    assert np.array_equal(table.column("id").to_numpy(), want["id"])


def test_file_url_through_datafusion():
    path = (DATA / "events.npy").resolve()
    table = pa.table(datafusion_npy.read(path.as_uri(), columns=["id", "value"]))
    want = np.load(path)
    assert table.column_names == ["id", "value"]
    assert np.array_equal(table.column("id").to_numpy(), want["id"])
    labels = pa.table(datafusion_npy.read((DATA / "ds.npz").resolve().as_uri(), member="labels"))
    assert labels.column_names == ["labels"]
    with pytest.raises(datafusion_npy.NpyError, match="no object store for scheme"):
        datafusion_npy.read("nosuchscheme://bucket/x.npy")


def test_consumers_pyarrow_duckdb_polars():
    path = str(DATA / "events.npy")
    want = np.load(path)
    reader = pa.RecordBatchReader.from_stream(datafusion_npy.read(path))
    assert reader.read_all().num_rows == len(want)

    import duckdb

    r = datafusion_npy.read(path, columns=["kind", "value"])
    rows = duckdb.sql("SELECT kind, count(*) AS n FROM r GROUP BY kind ORDER BY kind").fetchall()
    kinds, counts = np.unique(want["kind"], return_counts=True)
    assert rows == [(str(k), int(c)) for k, c in zip(kinds, counts)]

    import polars as pl

    # (`pl.from_arrow` of a stream gives one struct Series; `pl.DataFrame` takes the columns.)
    frame = pl.DataFrame(datafusion_npy.read(path, columns=["id", "value"]))
    assert frame.height == len(want)
    assert np.array_equal(frame["id"].to_numpy(), want["id"])
    assert np.allclose(frame["value"].to_numpy(), want["value"], equal_nan=True)


def test_stream_is_consumed_once():
    stream = datafusion_npy.read(str(DATA / "embeddings.npy"))
    assert pa.schema(stream).names == ["embeddings"]
    pa.table(stream)
    with pytest.raises(datafusion_npy.NpyError, match="consumed"):
        pa.table(stream)


def mapped_ranges(path):
    """The address ranges where this process maps `path` (from /proc/self/maps)."""
    real = os.path.realpath(path)
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].strip() == real:
                start, end = (int(x, 16) for x in parts[0].split("-"))
                ranges.append((start, end, int(parts[2], 16)))
    return ranges


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc/self/maps (Linux)")
def test_zero_copy_from_the_memory_map(tmp_path):
    path = tmp_path / "big.npy"
    want = np.arange(1_000_000, dtype=np.float32)
    np.save(path, want)
    data_offset = np.load(path, mmap_mode="r").offset
    table = pa.table(datafusion_npy.read(str(path)))
    column = table.column(0)
    assert column.num_chunks == 1, "one batch: a zero-copy column is not cut"
    values = column.to_numpy()  # zero_copy_only=True is the default: raises if it would copy
    assert np.array_equal(values, want)
    address = values.__array_interface__["data"][0]
    buffer_address = column.chunk(0).buffers()[1].address
    assert address == buffer_address
    ranges = mapped_ranges(path)
    assert ranges, "the file is memory-mapped"
    inside = [(s, e, off) for s, e, off in ranges if s <= address and address + values.nbytes <= e]
    assert inside, f"data at {address:#x} lie outside the file's maps {ranges}"
    start, _, file_offset = inside[0]
    assert address - start + file_offset == data_offset, "the column starts at the file's data offset"
    # The view keeps the map alive after the table is gone.
    del table, column
    assert values[123_456] == 123_456.0


def test_errors_are_npy_errors_with_the_cli_message(tmp_path):
    missing = tmp_path / "missing.npy"
    with pytest.raises(datafusion_npy.NpyIOError) as info:
        datafusion_npy.read(str(missing))
    assert isinstance(info.value, OSError) and isinstance(info.value, ValueError)
    assert str(missing) in str(info.value)

    bad = CORPUS / "bad_magic.npy"
    with pytest.raises(datafusion_npy.NpyError) as info:
        datafusion_npy.read(str(bad))
    assert not isinstance(info.value, OSError)
    message = str(info.value)
    assert str(bad) in message and "\n" not in message

    with pytest.raises(datafusion_npy.NpyError, match=r"no column 'nope' \(columns: id, ts, kind, value\)"):
        datafusion_npy.read(str(DATA / "events.npy"), columns=["nope"])
    with pytest.raises(datafusion_npy.NpyError, match="member"):
        datafusion_npy.read(str(DATA / "ds.npz"), member="nope")
    with pytest.raises(ValueError):
        datafusion_npy.read(str(DATA / "expected.json"))
    # An archive whose members differ in length is no one table; the message says what to do.
    mismatched = tmp_path / "mismatch.npz"
    np.savez(mismatched, a=np.zeros(3), b=np.zeros(4))
    with pytest.raises(datafusion_npy.NpyError, match="member=NAME"):
        datafusion_npy.read(str(mismatched))
    assert pa.table(datafusion_npy.read(str(mismatched), member="b")).num_rows == 4


def fixture_cases():
    with open(FIXTURES / "expected.json") as f:
        return json.load(f)["cases"]


def refused_fixtures():
    return [c["file"] for c in fixture_cases() if "error" in c and "member" not in c]


@pytest.mark.parametrize("name", refused_fixtures())
def test_refused_fixtures_raise_naming_the_file(name):
    """Every file the fixtures say must be refused is an error naming it (at open, or, for data
    found bad only when read, from the stream), never a crash."""
    path = FIXTURES / name
    with pytest.raises((datafusion_npy.NpyError, pa.ArrowException)) as info:
        pa.table(datafusion_npy.read(str(path)))
    message = str(info.value).strip()
    assert name in message and "\n" not in message


def readable_fixtures():
    out = []
    for case in fixture_cases():
        name = case.get("file", "")
        if "error" in case or not name.endswith(".npy") or "values" not in case:
            continue
        try:
            arr = np.load(FIXTURES / name)
        except Exception:
            continue
        if arr.ndim == 0 or arr.dtype.kind == "O":
            continue
        out.append(name)
    return out


@pytest.mark.parametrize("name", readable_fixtures())
def test_fixtures_equal_np_load(name):
    path = FIXTURES / name
    want = np.load(path)
    table = pa.table(datafusion_npy.read(str(path)))
    assert table.num_rows == want.shape[0]
    if want.dtype.names:
        for n in [n for n in want.dtype.names if n]:
            assert_same(arrow_to_numpy(table.column(n)), want[n], f"{name}:{n}")
    else:
        assert_same(arrow_to_numpy(table.column(0)), want, name)
