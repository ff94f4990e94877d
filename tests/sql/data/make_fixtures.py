#!/usr/bin/env python3
"""Write the small fixtures of tests/sql/*.slt (needs numpy; deterministic).

Run from anywhere: python3 tests/sql/data/make_fixtures.py

errors/      a directory where some files are bad, to check that each error names its file and
             that the other tables still work:
  good.npy             int64 0..4
  broken.npy           not an .npy file (wrong magic)
  mismatch.npz         members a (3,) and b (4,): table `mismatch` is an error, `mismatch.a` works
  corrupt_member.npz   np.savez_compressed x=0..999, y=2x, with y's deflate stream corrupted
                       after its header:
                       queries that do not use y must succeed (y is never inflated)
  bad_shards/          part-1.npy fine, part-2.npy truncated
  mixed_shards/        part-1.npy int64, part-2.npy float64: shards that do not agree
  has_row.npy          a record with a field named _row (the row-position column's name)
  both_kinds/          a.npy (0, 1, 2) and b.npz (member v: 10, 20): which files make the table?
types/       columns of every family SQL sees:
  nested.npy           record: id <i4, pos {x <f4, y <f4}, z <c8, grid <i2 (2, 3)
  matrix.npy           (4, 2, 3) float64 = arange(24) / 2
  rec.npz              member pts (record: a <i8, b <f8) and member w (plain f4), 3 rows
  shards_npz/          part-1.npz, part-2.npz, part-10.npz: members u <i4 and v <f8, 2 rows each
  be.npy               big-endian >i4 [1, 2, 3]
  empty.npy            float64, shape (0,)
  gaps/                part-1.npy (3 rows), part-2.npy (0 rows), part-3.npy (2 rows) of int16
"""
import os
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def corrupt_member(path, member):
    """Overwrite 64 bytes in the middle of `member`'s deflate stream with 0xFF: its header still
    inflates (so the archive opens), its data do not."""
    data = bytearray(open(path, "rb").read())
    name = (member + ".npy").encode()
    at = data.find(b"PK\x03\x04" + b"")
    while at != -1:
        name_len = int.from_bytes(data[at + 26:at + 28], "little")
        extra_len = int.from_bytes(data[at + 28:at + 30], "little")
        if data[at + 30:at + 30 + name_len] == name:
            start = at + 30 + name_len + extra_len
            size = int.from_bytes(data[at + 18:at + 22], "little")
            if size == 0xFFFFFFFF:  # zip64: the size is in the extra field
                size = int.from_bytes(data[at + 30 + name_len + 12:at + 30 + name_len + 20], "little")
            middle = start + size // 2
            data[middle:middle + 64] = b"\xff" * 64
            open(path, "wb").write(bytes(data))
            return
        at = data.find(b"PK\x03\x04", at + 4)
    raise SystemExit(f"member {member} not found in {path}")


def errors():
    d = os.path.join(HERE, "errors")
    os.makedirs(os.path.join(d, "bad_shards"), exist_ok=True)
    np.save(os.path.join(d, "good.npy"), np.arange(5, dtype=np.int64))
    with open(os.path.join(d, "broken.npy"), "wb") as f:
        f.write(b"this is not a numpy file at all\n")
    np.savez(os.path.join(d, "mismatch.npz"), a=np.arange(3, dtype=np.int64), b=np.arange(4, dtype=np.int64))
    x = np.random.default_rng(7).integers(0, 1000, size=20000)
    path = os.path.join(d, "corrupt_member.npz")
    np.savez_compressed(path, x=x, y=2 * x)
    corrupt_member(path, "y")
    np.save(os.path.join(d, "bad_shards", "part-1.npy"), np.arange(10, dtype=np.float64))
    np.save(os.path.join(d, "bad_shards", "part-2.npy"), np.arange(10, dtype=np.float64))
    p2 = os.path.join(d, "bad_shards", "part-2.npy")
    data = open(p2, "rb").read()
    open(p2, "wb").write(data[:-20])
    os.makedirs(os.path.join(d, "mixed_shards"), exist_ok=True)
    np.save(os.path.join(d, "mixed_shards", "part-1.npy"), np.arange(3, dtype=np.int64))
    np.save(os.path.join(d, "mixed_shards", "part-2.npy"), np.arange(3, dtype=np.float64))
    np.save(os.path.join(d, "has_row.npy"), np.zeros(2, dtype=[("_row", "<i8"), ("v", "<f4")]))
    os.makedirs(os.path.join(d, "both_kinds"), exist_ok=True)
    np.save(os.path.join(d, "both_kinds", "a.npy"), np.arange(3, dtype=np.int64))
    np.savez(os.path.join(d, "both_kinds", "b.npz"), v=np.array([10, 20], dtype=np.int64))


def types():
    d = os.path.join(HERE, "types")
    os.makedirs(os.path.join(d, "shards_npz"), exist_ok=True)
    dt = np.dtype([("id", "<i4"), ("pos", [("x", "<f4"), ("y", "<f4")]), ("z", "<c8"), ("grid", "<i2", (2, 3))])
    a = np.zeros(3, dtype=dt)
    a["id"] = [10, 20, 30]
    a["pos"]["x"] = [0.5, 1.5, 2.5]
    a["pos"]["y"] = [-1, -2, -3]
    a["z"] = [1 + 2j, 3 - 4j, -5j]
    a["grid"] = np.arange(18, dtype=np.int16).reshape(3, 2, 3)
    np.save(os.path.join(d, "nested.npy"), a)
    np.save(os.path.join(d, "matrix.npy"), np.arange(24, dtype=np.float64).reshape(4, 2, 3) / 2)
    pts = np.zeros(3, dtype=[("a", "<i8"), ("b", "<f8")])
    pts["a"] = [1, 2, 3]
    pts["b"] = [0.25, 0.5, 0.75]
    np.savez(os.path.join(d, "rec.npz"), pts=pts, w=np.array([7, 8, 9], dtype=np.float32))
    for part in (1, 2, 10):
        np.savez(os.path.join(d, "shards_npz", f"part-{part}.npz"),
                 u=np.array([part, part], dtype=np.int32), v=np.array([part / 4, -part / 4]))
    np.save(os.path.join(d, "be.npy"), np.array([1, 2, 3], dtype=">i4"))
    np.save(os.path.join(d, "empty.npy"), np.zeros(0, dtype=np.float64))
    os.makedirs(os.path.join(d, "gaps"), exist_ok=True)
    for part, n in [(1, 3), (2, 0), (3, 2)]:
        np.save(os.path.join(d, "gaps", f"part-{part}.npy"), np.arange(n, dtype=np.int16) + 10 * part)


if __name__ == "__main__":
    errors()
    types()
