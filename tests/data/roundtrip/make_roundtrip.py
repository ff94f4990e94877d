#!/usr/bin/env python3
"""Fixtures for the writer's round-trip tests (tests/integration/writer/), made by numpy.

    python3 tests/data/roundtrip/make_roundtrip.py [OUT_DIR]   # default: this script's folder

Two kinds of files:

* `rt_*.npy` / `rt_*.npz`: one array per numpy dtype that has an Arrow inverse (SPEC §3/§7),
  and the shapes and layouts Arrow alone cannot say (0-d arrays, structured arrays of one
  field, of no field, of several dimensions, fields named '', padding, offsets, titles, string
  widths longer than the values), alone and combined with big-endian, Fortran order and
  sub-arrays. The Rust tests read each with the library reader (and through Arrow IPC and
  Parquet with `npyq convert`), write it back as `.npy`/`.npz`, and expect numpy's bytes
  (header included): those of the file itself, or, for the cases in VALUE_ONLY below (where
  numpy would write the same data differently: byte order, Fortran order, datetime units),
  those of `expected/<name>`, numpy's `np.save` of the array in the form the writer gives it.
* `list_*.parquet`: what pyarrow writes for embeddings (`list<float>`, all rows one length),
  with `expected/list_*.npy`, numpy's (N, k) array of the same values; and a ragged one.
* `built_*.npy` / `built_*.npz`: what numpy writes for data the Rust tests build themselves as
  Arrow batches (the values are spelled out next to each, and must match the Rust side).

The Rust tests need no Python; rerun this only to change the fixtures.
"""
import os
import sys

import numpy as np

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))

# Files whose bytes we do not expect back, with why; `expected/<name>` holds what we expect
# instead (numpy's own file for the array as the writer gives it back).
VALUE_ONLY = {
    "rt_M8_h.npy": "M8[h] is read as Timestamp(s) and written back as M8[s]",
    "rt_m8_D.npy": "m8[D] is read as Duration(s) and written back as m8[s]",
    "rt_bigendian_i4.npy": "read byte-swapped, written little-endian",
    "rt_fortran_f8.npy": "read in C order, written in C order",
    "rt_be_zero_d.npy": "read byte-swapped, written little-endian",
    "rt_be_padded_record.npy": "read byte-swapped, written little-endian (padding kept)",
    "rt_fortran_record_2d.npy": "read in C order, written in C order",
    "rt_be_fortran_record_3d.npy": "read byte-swapped in C order, written little-endian in C order",
}


def little_endian_c_order(array):
    """The array as the writer gives it back: native (little-endian) byte order, C order,
    datetime units Arrow has (M8[h] and m8[D] become seconds)."""
    def native(dtype):
        if dtype.names is not None:
            return np.dtype({
                "names": list(dtype.names),
                "formats": [native(dtype.fields[n][0]) for n in dtype.names],
                "offsets": [dtype.fields[n][1] for n in dtype.names],
                "titles": [dtype.fields[n][2] if len(dtype.fields[n]) > 2 else None for n in dtype.names],
                "itemsize": dtype.itemsize,
            })
        if dtype.subdtype is not None:
            base, shape = dtype.subdtype
            return np.dtype((native(base), shape))
        if dtype.kind in "mM":
            unit = np.datetime_data(dtype)[0]
            if unit in ("h", "m", "D", "W") and not (dtype.kind == "M" and unit in ("D",)):
                return np.dtype(f"<{dtype.kind}8[s]")
        return dtype.newbyteorder("<") if dtype.byteorder not in "|=" else dtype
    out = np.zeros(array.shape, dtype=native(array.dtype))
    out[...] = array
    return out  # np.zeros is C order (np.ascontiguousarray would make a 0-d array 1-d)


def save(name, array):
    np.save(os.path.join(OUT, name), array)


def zeros_with(dtype, **fields):
    """A record array of `dtype` from zeros (so padding is zero bytes), fields set by name."""
    rows = np.zeros(len(next(iter(fields.values()))), dtype=dtype)
    for name, values in fields.items():
        rows[name] = values
    return rows


def nat(unit):
    return np.datetime64("NaT", unit)


def main():
    os.makedirs(OUT, exist_ok=True)
    i = np.iinfo

    # --- scalars ---------------------------------------------------------------------------
    save("rt_b1.npy", np.array([True, False, True, True]))
    for t in ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"]:
        info = i(t)
        save(f"rt_{t}.npy", np.array([info.min, 0, 1, info.max], dtype="<" + t))
    for t in ["f2", "f4", "f8"]:
        save(f"rt_{t}.npy", np.array([1.5, np.nan, -0.0, np.inf, -np.inf, 65504], dtype="<" + t))
    save("rt_c8.npy", np.array([1 + 2j, complex(np.nan, 1), -0.5j, complex(3, np.inf)], dtype="<c8"))
    save("rt_c16.npy", np.array([1 + 2j, complex(1, np.nan), 1e300 - 1e-300j], dtype="<c16"))

    # --- strings and bytes (widths inferred by numpy = the longest value) ---------------------
    save("rt_S.npy", np.array([b"ab", b"", b"a\x00b", b"\xff\x01xyz"]))
    save("rt_U.npy", np.array(["", "h\u00e9llo", "\u6e29\u5ea6", "\U0001f600", "a b"]))
    save("rt_V.npy", np.array([b"\x01\x02\x03\x00", b"\x00\x00\x00\x00", b"\xff\xfe\xfd\xfc"], dtype="V4"))

    # --- datetimes and timedeltas, NaT included -----------------------------------------------
    for unit in ["s", "ms", "us", "ns", "D"]:
        save(
            f"rt_M8_{unit}.npy",
            np.array([np.datetime64("2024-02-29T12:34:56", unit), nat(unit), np.datetime64("1969-12-31", unit)]),
        )
    for unit in ["s", "ms", "us", "ns"]:
        save(f"rt_m8_{unit}.npy", np.array([1, -2, np.timedelta64("NaT", unit), 10**9], dtype=f"<m8[{unit}]"))
    save("rt_M8_h.npy", np.array(["2024-01-01T05", "NaT", "1900-06-30T23"], dtype="<M8[h]"))
    save("rt_m8_D.npy", np.array([1, -3, np.timedelta64("NaT", "D")], dtype="<m8[D]"))

    # --- shapes -----------------------------------------------------------------------------
    save("rt_2d_f4.npy", np.arange(12, dtype="<f4").reshape(3, 4) / 3)
    save("rt_3d_i2.npy", np.arange(24, dtype="<i2").reshape(2, 3, 4) - 12)
    save("rt_2d_U.npy", np.array([["a", "bcd"], ["", "\u00e9\u00e9"]]))
    save("rt_fortran_f8.npy", np.asfortranarray(np.arange(6, dtype="<f8").reshape(2, 3)))
    save("rt_bigendian_i4.npy", np.array([1, -2, 70000], dtype=">i4"))
    save("rt_zero_d.npy", np.array(2.5, dtype="<f8"))

    # --- records ------------------------------------------------------------------------------
    flat = np.dtype([("a", "<i4"), ("b", "<f8"), ("s", "<U4"), ("t", "S3"), ("ok", "?")])
    save("rt_record.npy", np.array([(1, 0.5, "x", b"ab", True), (-2, np.nan, "wxyz", b"abc", False)], dtype=flat))
    nested = np.dtype(
        [
            ("id", "<i8"),
            ("pos", [("x", "<f4"), ("y", "<f4"), ("tag", "<U2")]),
            ("v", "<f4", (2, 3)),
            ("z", "<c16"),
            ("when", "<M8[us]"),
            ("raw", "V2"),
        ]
    )
    rows = np.zeros(3, dtype=nested)
    rows["id"] = [10, 20, 30]
    rows["pos"]["x"] = [1, 2, 3]
    rows["pos"]["y"] = [-1, np.nan, 0.25]
    rows["pos"]["tag"] = ["a", "bc", ""]
    rows["v"] = np.arange(18, dtype="<f4").reshape(3, 2, 3)
    rows["z"] = [1j, np.nan, 2]
    rows["when"] = [np.datetime64("2000-01-01T00:00:00.000001"), nat("us"), np.datetime64("1970-01-01")]
    rows["raw"] = [b"\x01\x02", b"\x00\x00", b"\xff\x00"]
    save("rt_nested_record.npy", rows)
    sub_of_records = np.dtype([("pts", [("x", "<i2"), ("y", "<i2")], (2,)), ("n", "u1")])
    save("rt_subarray_of_records.npy", np.array([([(1, 2), (3, 4)], 5), ([(6, 7), (8, 9)], 10)], dtype=sub_of_records))

    # --- header versions ------------------------------------------------------------------------
    save("rt_v3_names.npy", np.array([(1.5, 2)], dtype=[("\u6e29\u5ea6", "<f8"), ("\u00e9t\u00e9", "<i4")]))
    wide = np.dtype([(f"field_{k:04}", "<i4") for k in range(4000)])
    wide_rows = np.zeros(2, dtype=wide)
    wide_rows["field_0000"] = [1, 2]
    wide_rows["field_3999"] = [3, 4]
    save("rt_v2_wide.npy", wide_rows)

    # --- shapes and layouts Arrow cannot say (numpy.shape / numpy.descr metadata) ---------------
    save("rt_zero_d_record.npy", np.array((7, 2.5, "ab"), dtype=[("a", "<i4"), ("b", "<f8"), ("s", "<U3")]))
    save("rt_zero_d_U.npy", np.array("h\u00e9"))
    # Fixed widths and a descr long enough that the 0-d header is 64 bytes shorter than one with
    # room for a first axis.
    save("rt_zero_d_record_fixed.npy", np.array((1, 0.5, True), dtype=[("alpha", "<i4"), ("beta", "<f8"), ("gamma", "|b1")]))
    save("rt_zero_d_subarray_field.npy", np.array(([1, 2, 3],), dtype=[("v", "<i2", (3,))]))
    save("rt_one_field.npy", np.array([(1,), (-2,), (3,)], dtype=[("x", "<i4")]))
    save("rt_one_field_subarray.npy", np.arange(6, dtype="<f4").reshape(3, 1, 2).view([("v", "<f4", (2,))]).reshape(3))
    save("rt_one_field_nested.npy", np.array([((1.5, 2),), ((3.5, 4),)], dtype=[("p", [("x", "<f8"), ("n", "u1")])]))
    rec2 = np.zeros((3, 2), dtype=[("a", "<i4"), ("b", "<f8")])
    rec2["a"] = np.arange(6).reshape(3, 2)
    rec2["b"] = np.arange(6).reshape(3, 2) / 4
    save("rt_record_2d.npy", rec2)
    rec3 = np.zeros((2, 2, 3), dtype=[("v", "<i2", (2,)), ("s", "<U3"), ("t", "<M8[us]")])
    rec3["v"] = np.arange(24).reshape(2, 2, 3, 2)
    rec3["s"] = np.array(["a", "bc", "def", "", "x", "yz"] * 2).reshape(2, 2, 3)
    rec3["t"] = np.array([0, 1, "NaT", 3, 4, 5] * 2, dtype="<M8[us]").reshape(2, 2, 3)
    save("rt_record_3d_subarray.npy", rec3)
    save("rt_one_field_2d.npy", np.arange(6, dtype="<u2").reshape(2, 3).astype([("k", "<u2")]))
    save("rt_empty_name.npy", np.array([(1,), (2,)], dtype=np.dtype({"names": [""], "formats": ["<i4"]})))
    save("rt_empty_name_and_other.npy", np.array([(1, 0.5), (2, -1)], dtype=np.dtype({"names": ["", "b"], "formats": ["<i8", "<f4"]})))
    save("rt_no_fields.npy", np.zeros(3, dtype=[]))
    save("rt_no_fields_itemsize.npy", np.zeros(2, dtype=np.dtype({"names": [], "formats": [], "itemsize": 4})))
    padded = np.dtype({"names": ["a", "b"], "formats": ["<i2", "<f8"], "offsets": [0, 8], "itemsize": 24})
    # Padding bytes are zeros, as in any array numpy made with np.zeros (np.array leaves
    # whatever was in memory there, and the writer writes zeros).
    save("rt_padded_record.npy", zeros_with(padded, a=[1, -2], b=[1.5, np.nan]))
    aligned = np.dtype([("a", "u1"), ("b", "<i4"), ("c", "<f2")], align=True)
    save("rt_aligned_record.npy", zeros_with(aligned, a=[1, 4], b=[2, 5], c=[3, 6]))
    save("rt_titles.npy", np.array([(1, 2.0), (3, 4.0)], dtype=[(("Temperature", "t"), "<i4"), ("b", "<f4")]))
    save("rt_U_wider_than_values.npy", np.array(["ab", "c", ""], dtype="<U6"))
    save("rt_S_wider_than_values.npy", np.array([b"ab", b"c"], dtype="S5"))
    save("rt_record_widths.npy", np.array([("a", b"x", 1)], dtype=[("s", "<U8"), ("b", "S4"), ("n", "<i2")]))
    save("rt_real_imag_record.npy", np.array([(1.0, 2.0), (3.0, -4.0)], dtype=[("real", "<f8"), ("imag", "<f8")]))
    # ... combined with big-endian, Fortran order and sub-arrays (written back little-endian, C order).
    save("rt_be_zero_d.npy", np.array(-5, dtype=">i8"))
    be_padded = np.dtype({"names": ["a", "v"], "formats": [">i4", (">f4", (2,))], "offsets": [4, 12], "itemsize": 24})
    be_rows = np.zeros(2, dtype=be_padded)
    be_rows["a"] = [1, -1]
    be_rows["v"] = [[0.5, 1], [2, 3]]
    save("rt_be_padded_record.npy", be_rows)
    save("rt_fortran_record_2d.npy", np.asfortranarray(rec2))
    be3 = np.zeros((2, 3, 2), dtype=[("x", ">f8"), ("y", ">i2", (2,))])
    be3["x"] = np.arange(12).reshape(2, 3, 2) / 8
    be3["y"] = np.arange(24).reshape(2, 3, 2, 2)
    save("rt_be_fortran_record_3d.npy", np.asfortranarray(be3))
    np.savez(os.path.join(OUT, "rt_zero_d_members.npz"), a=np.array(3.5), s=np.array("xyz"), r=np.array((1, 2), dtype=[("p", "<i2"), ("q", "u1")]))
    np.savez(os.path.join(OUT, "rt_shaped_members.npz"), r=rec2, one=np.array([(1,), (2,), (3,)], dtype=[("x", "<i4")]), u=np.array(["a", "", "bcd"], dtype="<U7"))
    np.savez(os.path.join(OUT, "rt_empty.npz"))

    # Expected files for VALUE_ONLY: numpy's bytes for the array as the writer gives it back.
    os.makedirs(os.path.join(OUT, "expected"), exist_ok=True)
    for name in VALUE_ONLY:
        array = np.load(os.path.join(OUT, name))
        np.save(os.path.join(OUT, "expected", name), little_endian_c_order(array))

    # --- Parquet lists as pyarrow writes them (embeddings) ------------------------------------
    import pyarrow as pa
    import pyarrow.parquet as pq

    emb = [[0.5, 1.0, -2.0], None, [3.0, 4.5, 6.0], [7.0, 8.0, 9.25]]
    pq.write_table(pa.table({"emb": pa.array(emb, type=pa.list_(pa.float32()))}), os.path.join(OUT, "list_f32.parquet"))
    # numpy's form: (N, 3) float32; a null row has no numpy form but NaN.
    np.save(os.path.join(OUT, "expected", "list_f32.npy"), np.array([r if r is not None else [np.nan] * 3 for r in emb], dtype="<f4"))
    nested = [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]
    pq.write_table(pa.table({"m": pa.array(nested, type=pa.large_list(pa.list_(pa.int16())))}), os.path.join(OUT, "list_nested_i2.parquet"))
    np.save(os.path.join(OUT, "expected", "list_nested_i2.npy"), np.array(nested, dtype="<i2"))
    pq.write_table(pa.table({"emb": pa.array([[1.0, 2.0], [3.0]], type=pa.list_(pa.float32()))}), os.path.join(OUT, "list_ragged.parquet"))

    # --- npz ------------------------------------------------------------------------------------
    members = dict(
        a=np.arange(5, dtype="<f8") / 4,
        b=np.arange(15, dtype="<i4").reshape(5, 3),
        s=np.array(["x", "yy", "", "zzz", "\u00e9"]),
    )
    np.savez(os.path.join(OUT, "rt_stored.npz"), **members)
    np.savez_compressed(os.path.join(OUT, "rt_deflated.npz"), **members)

    # --- data the Rust tests build as Arrow batches ------------------------------------------
    # built_stream.npy: n = 0..2999 (i64), x = n / 2 (f64), s = "s" + str(n) (str), written by
    # Rust in batches of varying sizes.
    n = np.arange(3000, dtype="<i8")
    stream = np.zeros(3000, dtype=[("n", "<i8"), ("x", "<f8"), ("s", "<U5")])
    stream["n"] = n
    stream["x"] = n / 2
    stream["s"] = ["s" + str(k) for k in n]
    save("built_stream.npy", stream)
    # built_fixed_stream.npy: the same without s (the direct, no-spill path).
    save("built_fixed_stream.npy", stream[["n", "x"]].astype([("n", "<i8"), ("x", "<f8")]))
    # built_empty.npy: a record of i64 `n` and str `s` with no rows.
    save("built_empty.npy", np.zeros(0, dtype=[("n", "<i8"), ("s", "<U1")]))
    # built_members.npz: a = [0.0, 0.5, NaN(null)], b = [[1, 2], [3, 4], [5, 6]] (i32),
    # t = timestamps in ms [0, NaT(null), 86400000]; stored and deflated.
    built = dict(
        a=np.array([0.0, 0.5, np.nan]),
        b=np.array([[1, 2], [3, 4], [5, 6]], dtype="<i4"),
        t=np.array([0, np.datetime64("NaT"), 86400000], dtype="<M8[ms]"),
    )
    np.savez(os.path.join(OUT, "built_members.npz"), **built)
    np.savez_compressed(os.path.join(OUT, "built_members_deflated.npz"), **built)
    # built_sql.npy / built_sql.npz: `COPY (SELECT a, s, _row ...)` of a = [1, 2, 3] (i64),
    # s = ['x', 'yz', 'é'] (str); `_row` is left out.
    sql = np.zeros(3, dtype=[("a", "<i8"), ("s", "<U2")])
    sql["a"] = [1, 2, 3]
    sql["s"] = ["x", "yz", "\u00e9"]
    save("built_sql.npy", sql)
    np.savez(os.path.join(OUT, "built_sql.npz"), a=sql["a"], s=sql["s"])
    # built_views.npy: the other Arrow string/binary layouts; u1 (LargeUtf8) = ['a', 'bcd'],
    # u2 (Utf8View) = ['a string longer than 12', ''], b1 (LargeBinary) = [b'\0\1', b''],
    # b2 (BinaryView) = [b'x' * 20, b'y'], h (Float16) = [0.5, -2].
    views = np.zeros(2, dtype=[("u1", "<U3"), ("u2", "<U23"), ("b1", "S2"), ("b2", "S20"), ("h", "<f2")])
    views["u1"] = ["a", "bcd"]
    views["u2"] = ["a string longer than 12", ""]
    views["b1"] = [b"\0\1", b""]
    views["b2"] = [b"x" * 20, b"y"]
    views["h"] = [0.5, -2]
    save("built_views.npy", views)


if __name__ == "__main__":
    main()
