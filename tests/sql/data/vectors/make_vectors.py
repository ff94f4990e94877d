#!/usr/bin/env python3
"""Write the embedding fixtures of the vector-function tests, and numpy's answers.

Run from anywhere: python3 tests/sql/data/vectors/make_vectors.py  (needs numpy). Deterministic.

- emb_f32.npy  (300, 24) float32, standard normal; rows 120 and 240 are copies of row 7
               (exact ties for top-k, broken by _row)
- emb_f16.npy  the same values as float16
- emb_f64.npy  the same float16-representable values as float64
- edge.npy     (5, 3) float32: a zero row, a row holding NaN, an infinite row, two plain rows

expected.json holds, per dtype, numpy's answers for query = row 7 and for the literal query
QUERY below: cosine distance and similarity, inner product, L2 distance, each row's norm, and
the top-10 rows by cosine distance (ties by row). For float32 and float64 the arithmetic is
numpy's in that dtype (`X @ q`, `np.linalg.norm`); for float16 it is numpy's float32 arithmetic
on the float16 values converted to float32 (exactly), which is how the kernels compute float16.
"""
import json
import os
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
N, D = 300, 24
# A literal query (shown in the tests as an SQL array), exactly representable in float16.
QUERY = [((i * 7) % 11 - 5) / 4 for i in range(D)]


def answers(X, q):
    """numpy's answers in X's dtype."""
    dot = X @ q
    norms = np.linalg.norm(X, axis=1)
    qn = np.linalg.norm(q)
    cos_sim = dot / (norms * qn)
    cos_dist = X.dtype.type(1) - cos_sim
    l2 = np.linalg.norm(X - q, axis=1)
    order = np.lexsort((np.arange(len(X)), cos_dist))[:10]
    return {
        "cosine_distance": [float(x) for x in cos_dist],
        "cosine_similarity": [float(x) for x in cos_sim],
        "inner_product": [float(x) for x in dot],
        "l2_distance": [float(x) for x in l2],
        "norm": [float(x) for x in norms],
        "top10_cosine": [int(i) for i in order],
        "top10_cosine_distance": [float(cos_dist[i]) for i in order],
    }


def main():
    rng = np.random.default_rng(14)
    base = rng.standard_normal((N, D)).astype(np.float16)  # float16-exact, so every dtype holds the same values
    base[120] = base[7]
    base[240] = base[7]
    expected = {"query": QUERY, "rows": N, "dims": D}
    for name, dtype, compute in [("f32", np.float32, np.float32), ("f16", np.float16, np.float32), ("f64", np.float64, np.float64)]:
        X = base.astype(dtype)
        np.save(os.path.join(HERE, f"emb_{name}.npy"), X)
        Xc = X.astype(compute)
        expected[name] = {
            "query_row7": answers(Xc, Xc[7]),
            "query_literal": answers(Xc, np.array(QUERY, dtype=compute)),
        }
    edge = np.array([[0, 0, 0], [1, np.nan, 2], [np.inf, 1, 1], [1, 2, 3], [3, 2, 1]], dtype=np.float32)
    np.save(os.path.join(HERE, "edge.npy"), edge)
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
