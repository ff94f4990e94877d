#!/usr/bin/env python3
"""Write types.npy: one structured array with a field for every Arrow type the reader
produces (SPEC §3), for the interop tests (tests/integration/interop.rs) and the reader matrix
(interop_matrix.py).

Three rows; the second holds NaT (null) in every datetime/timedelta field. Deterministic.
Usage: python3 make_interop.py [OUT_DIR]   (default: this script's directory)
"""
import os
import sys

import numpy as np

FIELDS = [
    ("b1", "?"),
    ("i1", "<i1"), ("i2", "<i2"), ("i4", "<i4"), ("i8", "<i8"),
    ("u1", "<u1"), ("u2", "<u2"), ("u4", "<u4"), ("u8", "<u8"),
    ("f2", "<f2"), ("f4", "<f4"), ("f8", "<f8"),
    ("c8", "<c8"), ("c16", "<c16"),
    ("s", "S4"), ("u", "<U4"), ("v", "V3"),
    ("dt_ns", "<M8[ns]"), ("dt_us", "<M8[us]"), ("dt_ms", "<M8[ms]"), ("dt_s", "<M8[s]"),
    ("dt_m", "<M8[m]"), ("dt_h", "<M8[h]"), ("date_D", "<M8[D]"), ("date_M", "<M8[M]"),
    ("td_ns", "<m8[ns]"), ("td_us", "<m8[us]"), ("td_ms", "<m8[ms]"), ("td_s", "<m8[s]"), ("td_h", "<m8[h]"),
    ("vec", "<f4", (3,)),                              # FixedSizeList(Float32, 3)
    ("mat", "<i2", (2, 2)),                            # FixedSizeList(FixedSizeList(Int16, 2), 2)
    ("ts_pair", "<M8[s]", (2,)),                       # FixedSizeList(Timestamp(s), 2)
    ("rec", [("x", "<f8"), ("when", "<M8[s]")]),       # Struct with a timestamp inside
]


def make():
    a = np.zeros(3, dtype=FIELDS)
    a["b1"] = [True, False, True]
    for name in ("i1", "i2", "i4", "i8"):
        a[name] = [-1, 0, np.iinfo(a.dtype[name]).max]
    for name in ("u1", "u2", "u4", "u8"):
        a[name] = [1, 0, np.iinfo(a.dtype[name]).max]
    for name in ("f2", "f4", "f8"):
        a[name] = [1.5, -0.25, np.nan]
    a["c8"] = [1 + 2j, -0.5j, 3]
    a["c16"] = [1 + 2j, -0.5j, 3]
    a["s"] = [b"\x01\x02", b"ab", b"12"]               # "12": bytes a reader must not take for a number
    a["u"] = ["héé", "", "12"]
    a["v"] = [b"\x00\x01\x02", b"abc", b"\xff\xfe\xfd"]
    when = np.datetime64("2024-02-29T12:34:56", "s")
    for name, unit in (("dt_ns", "ns"), ("dt_us", "us"), ("dt_ms", "ms"), ("dt_s", "s"), ("dt_m", "m"), ("dt_h", "h")):
        base = when.astype(f"M8[{unit}]")
        a[name] = [base, np.datetime64("NaT"), np.datetime64("1969-07-20T20:17", unit)]
    a["date_D"] = [np.datetime64("2024-02-29"), np.datetime64("NaT"), np.datetime64("1900-01-01")]
    a["date_M"] = [np.datetime64("2024-02"), np.datetime64("NaT"), np.datetime64("1900-01")]
    for name, unit in (("td_ns", "ns"), ("td_us", "us"), ("td_ms", "ms"), ("td_s", "s"), ("td_h", "h")):
        a[name] = [np.timedelta64(90, unit), np.timedelta64("NaT"), np.timedelta64(-1, unit)]
    a["vec"] = [[1, 2, 3], [0.5, -0.5, 0], [7, 8, 9]]
    a["mat"] = [[[1, 2], [3, 4]], [[0, 0], [0, 0]], [[-1, -2], [-3, -4]]]
    a["ts_pair"] = [[when, when + 1], [np.datetime64("NaT"), when], [when - 60, when]]
    a["rec"]["x"] = [0.5, 1.5, 2.5]
    a["rec"]["when"] = [when, np.datetime64("NaT"), when + 3600]
    return a


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    a = make()
    path = os.path.join(out, "types.npy")
    np.save(path, a)
    back = np.load(path)
    assert back.dtype == a.dtype and back.tobytes() == a.tobytes()
    print(f"wrote {path}: {len(a.dtype.names)} fields, {len(a)} rows")


if __name__ == "__main__":
    main()
