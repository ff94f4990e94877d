#!/usr/bin/env python3
"""Write the small numpy files the `npyq` CLI tests use beside the bundled examples.

Run: python3 tests/golden/data/make_fixtures.py  (needs numpy). Deterministic.

- mixed.npy     structured: complex64 z, nested record pos{x,y}, sub-array v (2, 3) f4,
                big-endian >i4 b, datetime64[D] day (one NaT), bytes S3 tag
- fortran.npy   (3, 2) float64 in Fortran order
- mismatch.npz  members a (3,) int32 and b (4,) float64: no single table
"""
import os
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    dt = np.dtype([
        ("z", "<c8"),
        ("pos", [("x", "<f4"), ("y", "<f4")]),
        ("v", "<f4", (2, 3)),
        ("b", ">i4"),
        ("day", "<M8[D]"),
        ("tag", "S3"),
    ])
    mixed = np.zeros(4, dtype=dt)
    mixed["z"] = np.array([1 + 2j, -0.5j, 3.25, 0], dtype=np.complex64)
    mixed["pos"]["x"] = [0.5, 1.5, 2.5, 3.5]
    mixed["pos"]["y"] = [-1, -2, -3, -4]
    mixed["v"] = np.arange(24, dtype=np.float32).reshape(4, 2, 3) / 4
    mixed["b"] = [1, -2, 300000, 7]
    mixed["day"] = np.array(["2026-01-01", "NaT", "1969-12-31", "2000-02-29"], dtype="M8[D]")
    mixed["tag"] = [b"ab", b"", b"xyz", b"q"]
    np.save(os.path.join(HERE, "mixed.npy"), mixed)

    np.save(os.path.join(HERE, "fortran.npy"), np.asfortranarray(np.arange(6, dtype=np.float64).reshape(3, 2) + 0.5))

    np.savez(os.path.join(HERE, "mismatch.npz"), a=np.array([1, 2, 3], dtype=np.int32), b=np.array([0.5, 1.5, 2.5, 3.5]))


if __name__ == "__main__":
    main()
