#!/usr/bin/env python3
"""Write the small example data set the README, sql-examples/ and the CLI tests use.

Run from anywhere: python3 sql-examples/data/make_data.py  (needs numpy). Deterministic.

- ds.npz            np.savez: features (1000, 16) float32, labels (1000,) int64 in 0..4
- ds_compressed.npz np.savez_compressed of the same arrays
- embeddings.npy    (500, 8) float32
- events.npy        structured: id <i8, ts <M8[ms] (some NaT), kind <U8, value <f8
- readings/         shards part-1.npy .. part-12.npy, structured: sensor <i4, value <f4 (natural order)
- sales/year=2023/, sales/year=2024/   partitioned directories of amount <f8
"""
import os
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    rng = np.random.default_rng(42)
    features = rng.standard_normal((1000, 16)).astype(np.float32)
    labels = rng.integers(0, 5, size=1000).astype(np.int64)
    np.savez(os.path.join(HERE, "ds.npz"), features=features, labels=labels)
    np.savez_compressed(os.path.join(HERE, "ds_compressed.npz"), features=features, labels=labels)

    np.save(os.path.join(HERE, "embeddings.npy"), rng.standard_normal((500, 8)).astype(np.float32))

    ev = np.dtype([("id", "<i8"), ("ts", "<M8[ms]"), ("kind", "<U8"), ("value", "<f8")])
    n = 200
    events = np.zeros(n, dtype=ev)
    events["id"] = np.arange(n)
    events["ts"] = np.datetime64("2026-01-01T00:00:00", "ms") + rng.integers(0, 86_400_000 * 30, size=n).astype("m8[ms]")
    events["ts"][::17] = np.datetime64("NaT")
    events["kind"] = rng.choice(["click", "view", "purchase", "héllo"], size=n)
    events["value"] = rng.random(n) * 100
    np.save(os.path.join(HERE, "events.npy"), events)

    rd = np.dtype([("sensor", "<i4"), ("value", "<f4")])
    os.makedirs(os.path.join(HERE, "readings"), exist_ok=True)
    for part in range(1, 13):
        r = np.zeros(100, dtype=rd)
        r["sensor"] = rng.integers(0, 8, size=100)
        r["value"] = rng.standard_normal(100).astype(np.float32) + part
        np.save(os.path.join(HERE, "readings", f"part-{part}.npy"), r)

    for year, n in [(2023, 50), (2024, 70)]:
        d = os.path.join(HERE, "sales", f"year={year}")
        os.makedirs(d, exist_ok=True)
        np.save(os.path.join(d, "amount.npy"), np.round(rng.random(n) * 1000, 2))


if __name__ == "__main__":
    main()
