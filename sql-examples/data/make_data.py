#!/usr/bin/env python3
"""Write the small example data set the README, sql-examples/ and the CLI tests use.

Run from anywhere: python3 sql-examples/data/make_data.py  (needs numpy). Deterministic.

- ds.npz            np.savez: features (1000, 16) float32, labels (1000,) int64 in 0..4
- ds_compressed.npz np.savez_compressed of the same arrays
- embeddings.npy    (500, 8) float32 (nearest-neighbour examples: nearest.sql)
- events.npy        structured: id <i8, ts <M8[ms] (some NaT), kind <U8, value <f8
- readings/         shards part-1.npy .. part-12.npy, structured: sensor <i4, value <f4 (natural order)
- sales/year=2023/, sales/year=2024/   partitioned directories of amount <f8

It also writes expected.json: answers computed here with numpy, which the .slt files of
sql-examples/ and tests/sql/ state as their expected output (SQL indices are 1-based:
features[1] is numpy's features[:, 0]; aggregates are rounded as the SQL rounds them).
"""
import json
import os
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def rnd(x, digits):
    """Round like SQL's round(x, digits) on a float64 (half away from zero is irrelevant here)."""
    return float(np.round(np.float64(x), digits))


# The literal query of sql-examples/nearest.sql's L2 search.
L2_QUERY = [0.5, -0.5, 0.25, 0.0, 1.0, -1.0, 0.5, 0.0]


def cosine_distance(X, q):
    """numpy's float32 cosine distance of each row of X to q."""
    return 1 - (X @ q) / (np.linalg.norm(X, axis=1) * np.linalg.norm(q))


def nearest(X, d, k=5):
    """The k rows nearest by distance d (ties by row): [row, distance rounded to 4 digits]."""
    order = np.lexsort((np.arange(len(X)), d))[:k]
    return [[int(i), rnd(d[i], 4)] for i in order]


def expected(features, labels, embeddings, events, readings, sales):
    f64 = features.astype(np.float64)
    exp = {
        "ds_count": int(len(labels)),
        "labels_histogram": {int(k): int(v) for k, v in zip(*np.unique(labels, return_counts=True))},
        "features1_avg_r6": rnd(f64[:, 0].mean(), 6),
        "features16_sum_r4": rnd(f64[:, 15].sum(), 4),
        "features_min_max_r6": [rnd(f64.min(), 6), rnd(f64.max(), 6)],
        "features2_avg_by_label_r6": {int(k): rnd(f64[labels == k, 1].mean(), 6) for k in np.unique(labels)},
        "features1_row_123": str(features[123, 0]),
        "label_row_123": int(labels[123]),
        "embeddings_count": int(len(embeddings)),
        "embeddings8_sum_r4": rnd(embeddings.astype(np.float64)[:, 7].sum(), 4),
        "events_by_kind": {
            k: {
                "count": int((events["kind"] == k).sum()),
                "count_ts": int((~np.isnat(events["ts"][events["kind"] == k])).sum()),
                "sum_value_r4": rnd(events["value"][events["kind"] == k].sum(), 4),
            }
            for k in sorted(set(events["kind"].tolist()))
        },
        "events_nat_ids": [int(i) for i in events["id"][np.isnat(events["ts"])]],
        "events_ts_min": str(events["ts"][~np.isnat(events["ts"])].min()),
        "events_ts_max": str(events["ts"][~np.isnat(events["ts"])].max()),
        "readings_count": int(len(readings)),
        "readings_value_avg_r6": rnd(readings["value"].astype(np.float64).mean(), 6),
        "readings_rows_99_100_1199": [[i, int(readings["sensor"][i]), str(readings["value"][i])] for i in (99, 100, 1199)],
        "readings_by_sensor_r4": {
            int(s): [int((readings["sensor"] == s).sum()), rnd(readings["value"][readings["sensor"] == s].astype(np.float64).sum(), 4)]
            for s in np.unique(readings["sensor"])
        },
        "sales_by_year_r2": {y: [int(len(a)), rnd(a.sum(), 2)] for y, a in sales},
        # Nearest neighbours (float32 arithmetic, as numpy computes float32; ties by row).
        "embeddings_nearest_cosine_row42_r4": nearest(embeddings, cosine_distance(embeddings, embeddings[42])),
        "embeddings_nearest_l2_query_r4": nearest(embeddings, np.linalg.norm(embeddings - np.array(L2_QUERY, np.float32), axis=1)),
        "embeddings_rows0_2_inner_norm_r4_first": [
            [rnd(x @ x, 4), rnd(np.linalg.norm(x), 4), str(x[0])] for x in embeddings[:3]
        ],
        # knn(): each query's 3 nearest rows (rank 1 is the row itself), cosine over embeddings
        # for rows 0 and 42, L2 over ds.features for row 0.
        "embeddings_knn_cosine_rows0_42_r4": [
            [q] + row + [rank + 1]
            for q in (0, 42)
            for rank, row in enumerate(nearest(embeddings, cosine_distance(embeddings, embeddings[q]), k=3))
        ],
        "ds_knn_l2_row0_r4": [
            [0] + row + [rank + 1] for rank, row in enumerate(nearest(features, np.linalg.norm(features - features[0], axis=1), k=3))
        ],
        # Slices (1-based, inclusive; negative from the end) of rows 0 and 1.
        "embeddings_slices_rows0_1": [
            [str(v) for v in embeddings[r, 0:3]] + ["|"] + [str(v) for v in embeddings[r, -2:]] for r in (0, 1)
        ],
        "ds_nearest_cosine_row0_r4": [
            row + [int(labels[row[0]])] for row in nearest(features, cosine_distance(features, features[0]))
        ],
    }
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1, ensure_ascii=False)
        f.write("\n")


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
    shards = []
    os.makedirs(os.path.join(HERE, "readings"), exist_ok=True)
    for part in range(1, 13):
        r = np.zeros(100, dtype=rd)
        r["sensor"] = rng.integers(0, 8, size=100)
        r["value"] = rng.standard_normal(100).astype(np.float32) + part
        np.save(os.path.join(HERE, "readings", f"part-{part}.npy"), r)
        shards.append(r)

    sales = []
    for year, n in [(2023, 50), (2024, 70)]:
        d = os.path.join(HERE, "sales", f"year={year}")
        os.makedirs(d, exist_ok=True)
        amount = np.round(rng.random(n) * 1000, 2)
        np.save(os.path.join(d, "amount.npy"), amount)
        sales.append((str(year), amount))

    embeddings = np.load(os.path.join(HERE, "embeddings.npy"))
    expected(features, labels, embeddings, events, np.concatenate(shards), sales)


if __name__ == "__main__":
    main()
