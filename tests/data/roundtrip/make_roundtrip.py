#!/usr/bin/env python3
"""Fixtures for the writer's round-trip tests (tests/integration/writer/), made by numpy.

    python3 tests/data/roundtrip/make_roundtrip.py [OUT_DIR]   # default: this script's folder

Two kinds of files:

* `rt_*.npy` / `rt_*.npz`: one array per numpy dtype that has an Arrow inverse (SPEC §3/§7).
  The Rust test reads each with the library reader, writes it back with `ArrayFileWriter`, and
  expects numpy's bytes (header included), except for the cases listed in VALUE_ONLY below,
  where the reader changes the type (scaled units, byte order, Fortran order, 0-d) and only the
  values must survive.
* `built_*.npy` / `built_*.npz`: what numpy writes for data the Rust tests build themselves as
  Arrow batches (the values are spelled out next to each, and must match the Rust side).

The Rust tests need no Python; rerun this only to change the fixtures.
"""
import os
import sys

import numpy as np

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))

# Files whose bytes we do not expect back, with why (the Rust test keeps the same list).
VALUE_ONLY = {
    "rt_M8_h.npy": "M8[h] is read as Timestamp(s) and written back as M8[s]",
    "rt_m8_D.npy": "m8[D] is read as Duration(s) and written back as m8[s]",
    "rt_bigendian_i4.npy": "read byte-swapped, written little-endian",
    "rt_fortran_f8.npy": "read in C order, written in C order",
    "rt_zero_d.npy": "a 0-d array is one row, written as shape (1,)",
}


def save(name, array):
    np.save(os.path.join(OUT, name), array)


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
