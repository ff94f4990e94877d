#!/usr/bin/env python3
"""Side-by-side timings of similarity search: `npyq` top-10 cosine against numpy and DuckDB,
and against full scans of the same file in the same run.

    cargo build --release && python3 benches/vector_compare.py

Makes its test data once under $NPYQ_VECTOR_DATA (default /tmp/npyq-vector-bench):

    f32/emb.npy   1,000,000 x 384 float32, standard normal (1.43 GiB)
    f16/emb.npy   the same values as float16 (LAION-style; 0.72 GiB)

The query is row 123,456 of the table; every contender returns the 10 nearest rows by cosine
distance, and the script checks that they all return the same rows. Contenders, each a whole
process (interpreter start and imports included), in interleaved rounds (see compare.py,
whose runner this script uses):

- npyq: `SELECT _row, array_cosine_distance(emb, (SELECT emb FROM emb WHERE _row = Q)) AS d
  FROM emb ORDER BY d, _row LIMIT 10`
- numpy: `np.load(mmap_mode='r')`, `X @ q` (BLAS), `np.linalg.norm(X, axis=1)`, `argpartition`
  (float16 converted to float32 first: numpy's float16 matmul rounds each result to float16)
- DuckDB: the memory-mapped array handed to DuckDB as a pyarrow table (zero-copy
  FixedSizeList; float16 converted to float32 first, DuckDB reads no float16 from Arrow),
  `array_cosine_distance(emb, $q::FLOAT[384]) ... ORDER BY d LIMIT 10`
- full scans of the same file, the memory map's limit: npyq `SELECT sum(l2_norm(emb)) FROM emb`
  (reads every value, as the search does; the target is against this one), and for float32 C
  mmap-and-sum loops over every value on one core and on both (the machine's bound). Also shown,
  without a target, `SELECT sum(emb[1]) FROM emb`: it touches every page of the map but reads
  one value of each 384, served from the flat buffer, so it is no longer a full read.

and the heap (peak RssAnon) of the npyq top-10 process.

Many queries at once: knn/queries.npy holds KNN_QUERIES x 384 float32 queries (knn/emb.npy links
to f32/emb.npy); the 10 nearest corpus rows by cosine distance for every query:

- npyq: `SELECT query_row, corpus_row FROM knn(emb, 'emb', queries, 'queries', 10, 'cosine')`
- numpy: the corpus memory-mapped and read in blocks of 16,384 rows; per block the normalised
  queries times the block (BLAS), divided by the rows' norms, `argpartition` per query, merged
  with the best so far

and both print a digest of the (query, row) pairs, which must agree.

Options: --runs N (rounds, default 5), --only SUBSTRING, --rows N (shrink the data to try the
script). Environment: NPYQ (the binary; default $CARGO_TARGET_DIR/release/npyq).
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare  # noqa: E402  (the runner, report and C sum loop are shared)
from compare import python  # noqa: E402

DIMS = 384
QUERY_ROW = 123_456
KNN_QUERIES = 1_000


def make_data(root, rows):
    """Write the inputs unless a stamp says they are there with these sizes."""
    import numpy as np

    stamp = os.path.join(root, f"stamp-{rows}x{DIMS}")
    if os.path.exists(stamp):
        return
    rng = np.random.default_rng(384)
    os.makedirs(os.path.join(root, "f32"), exist_ok=True)
    os.makedirs(os.path.join(root, "f16"), exist_ok=True)
    f32 = np.lib.format.open_memmap(os.path.join(root, "f32", "emb.npy"), mode="w+", dtype=np.float32, shape=(rows, DIMS))
    f16 = np.lib.format.open_memmap(os.path.join(root, "f16", "emb.npy"), mode="w+", dtype=np.float16, shape=(rows, DIMS))
    block = 65_536
    for start in range(0, rows, block):
        part = rng.standard_normal((min(block, rows - start), DIMS), dtype=np.float32)
        f32[start:start + len(part)] = part
        f16[start:start + len(part)] = part.astype(np.float16)
    f32.flush()
    f16.flush()
    del f32, f16
    os.makedirs(os.path.join(root, "knn"), exist_ok=True)
    np.save(os.path.join(root, "knn", "queries.npy"), np.random.default_rng(1000).standard_normal((KNN_QUERIES, DIMS), dtype=np.float32))
    link = os.path.join(root, "knn", "emb.npy")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(os.path.join("..", "f32", "emb.npy"), link)
    open(stamp, "w").close()


KNN_SQL = "SELECT query_row, corpus_row FROM knn(emb, 'emb', queries, 'queries', 10, 'cosine') ORDER BY query_row, rank"


def knn_digest(pairs):
    """One line naming a set of (query, row) pairs, the same from every contender."""
    import hashlib

    text = "\n".join(f"{q},{r}" for q, r in sorted(pairs))
    return f"knn-digest {len(pairs)} {hashlib.sha256(text.encode()).hexdigest()[:16]}"


def numpy_knn(root):
    corpus = os.path.join(root, "knn", "emb.npy")
    queries = os.path.join(root, "knn", "queries.npy")
    return python(f"""
        import time, hashlib, numpy as np
        t0 = time.perf_counter()
        X = np.load({corpus!r}, mmap_mode='r')
        Q = np.load({queries!r})
        Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)
        k, block = 10, 16_384
        best_d = np.full((len(Q), k), np.inf, dtype=np.float32)
        best_i = np.zeros((len(Q), k), dtype=np.int64)
        for start in range(0, len(X), block):
            Xb = np.asarray(X[start:start + block])
            D = 1 - (Qn @ Xb.T) / np.linalg.norm(Xb, axis=1)
            kk = min(k, D.shape[1] - 1)
            idx = np.argpartition(D, kk, axis=1)[:, :k]
            cand_d = np.take_along_axis(D, idx, axis=1)
            all_d = np.concatenate([best_d, cand_d], axis=1)
            all_i = np.concatenate([best_i, idx + start], axis=1)
            keep = np.argpartition(all_d, k, axis=1)[:, :k]
            best_d = np.take_along_axis(all_d, keep, axis=1)
            best_i = np.take_along_axis(all_i, keep, axis=1)
        print('__seconds__', time.perf_counter() - t0)
        pairs = sorted((q, int(r)) for q in range(len(Q)) for r in best_i[q])
        text = "\\n".join(f"{{q}},{{r}}" for q, r in pairs)
        print(f"knn-digest {{len(pairs)}} {{hashlib.sha256(text.encode()).hexdigest()[:16]}}")
    """)


def top10_sql(query_row):
    return (f"SELECT _row, array_cosine_distance(emb, (SELECT emb FROM emb WHERE _row = {query_row})) AS d "
            "FROM emb ORDER BY d, _row LIMIT 10")


def numpy_top10(path, query_row):
    return python(f"""
        import time, numpy as np
        t0 = time.perf_counter()
        X = np.load({path!r}, mmap_mode='r')
        if X.dtype == np.float16:
            X = X.astype(np.float32)  # numpy's float16 matmul rounds every result to float16
        q = np.array(X[{query_row}])
        d = 1 - (X @ q) / (np.linalg.norm(X, axis=1) * np.linalg.norm(q))
        top = np.argpartition(d, 10)[:10]
        top = top[np.lexsort((top, d[top]))]
        print('__seconds__', time.perf_counter() - t0)
        print(' '.join(str(int(i)) for i in top))
    """)


def duckdb_top10(path, query_row):
    return python(f"""
        import time, numpy as np, pyarrow as pa, duckdb
        t0 = time.perf_counter()
        X = np.load({path!r}, mmap_mode='r')
        rows, dims = X.shape
        if X.dtype == np.float16:
            X = X.astype(np.float32)  # DuckDB reads no float16 from Arrow
        emb = pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), dims)
        t = pa.table({{'i': pa.array(np.arange(rows)), 'emb': emb}})
        q = [float(v) for v in X[{query_row}]]
        con = duckdb.connect()
        res = con.execute(f"SELECT i, array_cosine_distance(emb::FLOAT[{{dims}}], $1::FLOAT[{{dims}}]) AS d FROM t ORDER BY d, i LIMIT 10", [q]).fetchall()
        print('__seconds__', time.perf_counter() - t0)
        print(' '.join(str(r[0]) for r in res))
    """)


def cases(npyq, root, c_sum, rows):
    for dtype in ["f32", "f16"]:
        path = os.path.join(root, dtype, "emb.npy")
        directory = os.path.dirname(path)
        others = [
            ("numpy mmap, BLAS matmul, norms, argpartition", numpy_top10(path, QUERY_ROW), 3.0),
            ("DuckDB array_cosine_distance via pyarrow", duckdb_top10(path, QUERY_ROW), 3.0),
            ("npyq SELECT sum(l2_norm(emb)) (full scan, every value)", [npyq, "sql", "--dir", directory, "SELECT sum(l2_norm(emb)) FROM emb"], 1 / 1.5),
            ("npyq SELECT sum(emb[1]) (every page, one value per row)", [npyq, "sql", "--dir", directory, "SELECT sum(emb[1]) FROM emb"], None),
        ]
        if dtype == "f32":
            others.append(("C mmap + sum of every value, gcc -O2, one core", [c_sum["mmap_sum"], path], 1 / 1.5))
            others.append(("C mmap + sum of every value, two threads, gcc -O3 -march=native (the machine's bound)",
                           [c_sum["mmap_sum_threads"], path, "2"], None))
        yield {
            "title": f"top-10 cosine, {rows:,} x {DIMS} {dtype}",
            "npyq": [npyq, "sql", "--dir", directory, "--format", "csv", top10_sql(QUERY_ROW)],
            "others": others,
            "cleanup": lambda: None,
        }
    directory = os.path.join(root, "knn")
    yield {
        "title": f"knn: {KNN_QUERIES:,} queries x top-10 cosine, {rows:,} x {DIMS} f32",
        "npyq": [npyq, "sql", "--dir", directory, "--format", "csv", KNN_SQL],
        "others": [("numpy blocked matmul + argpartition", numpy_knn(root), 2.0)],
        "cleanup": lambda: None,
    }


def hits(stdout):
    """The row numbers a contender printed (npyq's CSV or the Python contenders' last line)."""
    lines = [l for l in stdout.strip().splitlines() if l and not l.startswith("__seconds__")]
    if not lines:
        return None
    if lines[0].startswith("query_row"):
        return knn_digest([tuple(int(v) for v in l.split(",")[:2]) for l in lines[1:]])
    if lines[-1].startswith("knn-digest"):
        return lines[-1]
    if lines[0].startswith("_row"):
        return [int(l.split(",")[0]) for l in lines[1:]]
    return [int(v) for v in lines[-1].split()]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default=None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--data", default=os.environ.get("NPYQ_VECTOR_DATA", "/tmp/npyq-vector-bench"))
    args = parser.parse_args()
    global QUERY_ROW
    QUERY_ROW = min(QUERY_ROW, args.rows - 1)

    npyq = compare.default_npyq()
    if not os.path.exists(npyq):
        sys.exit(f"no npyq binary at {npyq}: run `cargo build --release` or set NPYQ")
    os.makedirs(args.data, exist_ok=True)
    make_data(args.data, args.rows)
    compare.warm_page_cache([os.path.join(args.data, d, "emb.npy") for d in ["f32", "f16"]] + [os.path.join(args.data, "knn", "queries.npy")])
    c_sum = compare.compile_c_sum(args.data)

    lines = [
        "| Task | npyq (s) | Contender | Contender (s) | Ratio | Target | Met |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    verdicts = []
    memory = []
    for case in cases(npyq, args.data, c_sum, args.rows):
        if args.only and args.only.lower() not in case["title"].lower():
            continue
        print(case["title"], file=sys.stderr)
        contenders = [("npyq", case["npyq"])] + [(name, argv) for name, argv, _ in case["others"]]
        results, failed = compare.measure(contenders, args.runs, case["cleanup"])
        compare.report(case, results, failed, lines, verdicts)
        # The same ten rows from every top-10 contender.
        answers = {name: hits(runs[0].stdout) for name, runs in results.items() if runs and "sum" not in name}
        if len({tuple(a or []) for a in answers.values()}) > 1:
            verdicts.append((f"{case['title']}: contenders disagree", str(answers)))
        # The heap of npyq's top-10.
        run = compare.run_process(case["npyq"], sample_memory=True)
        memory.append((case["title"], run))

    print()
    print(f"Machine: {compare.machine()}; {args.runs} runs, medians; times are whole processes, "
          "[bracketed] the timed call inside a Python process; ratio = contender / npyq.")
    print()
    print("\n".join(lines))
    print()
    print("| npyq process | peak RssAnon (heap, MiB) | max RSS (MiB, includes the mapped file) | Target: heap < 64 MiB |")
    print("|---|---:|---:|---|")
    for title, run in memory:
        anon = run.memory.get("RssAnon", 0) / 1024
        rss = run.memory.get("max RSS", 0) / 1024
        print(f"| {title} | {anon:.0f} | {rss:.0f} | {'yes' if anon < 64 else '**no**'} |")
        verdicts.append((f"memory: {title}", "met" if anon < 64 else "missed"))
    print()
    for what, verdict in verdicts:
        print(f"- {what}: {verdict}")


if __name__ == "__main__":
    main()
