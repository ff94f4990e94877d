#!/usr/bin/env python3
"""Write the embedding fixtures of the vector-function tests, and numpy's answers.

Run from anywhere: python3 tests/sql/data/vectors/make_vectors.py  (needs numpy). Deterministic.

- emb_f32.npy  (300, 24) float32, standard normal; rows 120 and 240 are copies of row 7
               (exact ties for top-k, broken by _row)
- emb_f16.npy  the same values as float16
- emb_f64.npy  the same float16-representable values as float64
- edge.npy     (5, 3) float32: a zero row, a row holding NaN, an infinite row, two plain rows
- queries.npy  (40, 24) float32 queries for knn(): row 0 is corpus row 7 (ties with rows 120
               and 240), row 1 a zero vector, the rest standard normal (float16-exact)
- queries_f64.npy  the same queries as float64 (knn computes in f64 only when both are)

knn.json holds numpy's knn answers: for each corpus dtype and metric, each query's KNN_LIST
nearest rows (ties by row, NaN last) and their distances (null for NaN); knn() with k = KNN_K must return
the first KNN_K (a row past them may stand in for one at a distance equal within rounding).

expected.json holds, per dtype, numpy's answers for query = row 7 and for the literal query
QUERY below: cosine distance and similarity, inner product, L2 distance, each row's norm, and
the top-10 rows by cosine distance (ties by row); and each row divided by its norm
("normalized", for l2_normalize), in the data's dtype. For float32 and float64 the arithmetic is
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


KNN_K = 5
KNN_LIST = 8


def knn_answers(X, Q):
    """numpy's k nearest rows of X for each row of Q, per metric, in X's dtype."""
    norms = np.linalg.norm(X, axis=1)
    out = {}
    for metric in ["cosine", "l2", "ip"]:
        per_query = []
        for q in Q:
            with np.errstate(invalid="ignore", divide="ignore"):
                if metric == "cosine":
                    d = X.dtype.type(1) - (X @ q) / (norms * np.linalg.norm(q))
                elif metric == "l2":
                    d = np.linalg.norm(X - q, axis=1)
                else:
                    d = -(X @ q)
            order = np.lexsort((np.arange(len(X)), d))[:KNN_LIST]
            per_query.append({"rows": [int(i) for i in order], "distances": [None if np.isnan(d[i]) else float(d[i]) for i in order]})
        out[metric] = per_query
    return out


def write_knn(base, rng):
    queries = rng.standard_normal((40, D)).astype(np.float16).astype(np.float32)
    queries[0] = base[7]
    queries[1] = 0
    np.save(os.path.join(HERE, "queries.npy"), queries)
    np.save(os.path.join(HERE, "queries_f64.npy"), queries.astype(np.float64))
    knn = {"k": KNN_K}
    # float32 queries: f32 arithmetic against every corpus (float16 values read as float32).
    for name, dtype in [("f32", np.float32), ("f16", np.float16), ("f64", np.float64)]:
        knn[name] = knn_answers(base.astype(dtype).astype(np.float32), queries)
    # float64 queries against the float64 corpus: f64 arithmetic.
    knn["f64_f64"] = knn_answers(base.astype(np.float64), queries.astype(np.float64))
    with open(os.path.join(HERE, "knn.json"), "w") as f:
        json.dump(knn, f, indent=1)
        f.write("\n")


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
            # l2_normalize: in the compute dtype, returned in the data's dtype.
            "normalized": [[float(v) for v in row] for row in (Xc / np.linalg.norm(Xc, axis=1, keepdims=True)).astype(dtype)],
        }
    edge = np.array([[0, 0, 0], [1, np.nan, 2], [np.inf, 1, 1], [1, 2, 3], [3, 2, 1]], dtype=np.float32)
    np.save(os.path.join(HERE, "edge.npy"), edge)
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    write_knn(base, rng)


if __name__ == "__main__":
    main()
