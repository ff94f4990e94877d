"""`convert()` and `schema()`, as `npyq convert` / `npyq schema`."""

import subprocess

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import datafusion_npy
from conftest import DATA, ROOT


def test_convert_npy_to_parquet_and_back(tmp_path):
    src = DATA / "events.npy"
    dst = tmp_path / "events.parquet"
    datafusion_npy.convert(str(src), str(dst), compression="zstd")
    written = pq.read_table(dst)
    want = np.load(src)
    assert written.column_names == ["id", "ts", "kind", "value"]
    assert np.array_equal(written.column("id").to_numpy(), want["id"])
    back = tmp_path / "events.npy"
    datafusion_npy.convert(dst, back)
    again = np.load(back)
    assert np.array_equal(again["id"], want["id"])
    assert np.array_equal(again["value"], want["value"], equal_nan=True)


def test_convert_member_and_compression(tmp_path):
    dst = tmp_path / "labels.npz"
    datafusion_npy.convert(str(DATA / "ds.npz"), str(dst), member="labels", compression="deflate")
    with np.load(dst) as got, np.load(DATA / "ds.npz") as want:
        assert np.array_equal(got[got.files[0]], want["labels"])


def test_convert_equals_cli(tmp_path, npyq):
    ours, theirs = tmp_path / "ours.csv", tmp_path / "theirs.csv"
    datafusion_npy.convert(str(DATA / "events.npy"), str(ours))
    subprocess.run([npyq, "convert", str(DATA / "events.npy"), str(theirs)], check=True)
    assert ours.read_bytes() == theirs.read_bytes()


def test_convert_errors(tmp_path):
    with pytest.raises(datafusion_npy.NpyError, match="compression"):
        datafusion_npy.convert(str(DATA / "events.npy"), str(tmp_path / "x.parquet"), compression="nope")
    with pytest.raises(datafusion_npy.NpyError, match="x.unknown"):
        datafusion_npy.convert(str(DATA / "events.npy"), str(tmp_path / "x.unknown"))
    assert not (tmp_path / "x.parquet").exists()


def test_schema_and_describe(npyq):
    s = datafusion_npy.schema(str(DATA / "ds.npz"))
    with np.load(DATA / "ds.npz") as want:
        assert s.num_rows == len(want["labels"])
        assert sorted(s.names) == sorted(want.files)
    arrow = pa.schema(s)
    assert arrow.field("features").type.list_size == 16
    cli = subprocess.run([npyq, "schema", str(DATA / "ds.npz")], capture_output=True, check=True, text=True).stdout
    assert str(s) == cli == datafusion_npy.describe(str(DATA / "ds.npz"))
    with pytest.raises(datafusion_npy.NpyError, match="not a .npy or .npz"):
        datafusion_npy.schema(str(DATA / "expected.json"))


def test_version_is_the_crates():
    tomllib = pytest.importorskip("tomllib")

    with open(ROOT / "Cargo.toml", "rb") as f:
        crate = tomllib.load(f)["package"]["version"]
    with open(ROOT / "python" / "Cargo.toml", "rb") as f:
        binding = tomllib.load(f)["package"]["version"]
    assert datafusion_npy.__version__ == crate == binding
