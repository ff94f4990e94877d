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
- full scans of the same file: npyq `SELECT sum(emb[1]) FROM emb` (touches every page of the
  map) and a C mmap-and-sum loop over every value (one core): the memory map's limit

and the heap (peak RssAnon) of the npyq top-10 process.

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
    open(stamp, "w").close()


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
            ("npyq SELECT sum(emb[1]) (full scan)", [npyq, "sql", "--dir", directory, "SELECT sum(emb[1]) FROM emb"], 1 / 1.5),
        ]
        if dtype == "f32":
            others.append(("C mmap + sum of every value, gcc -O2, one core", [c_sum, path], 1 / 1.5))
        yield {
            "title": f"top-10 cosine, {rows:,} x {DIMS} {dtype}",
            "npyq": [npyq, "sql", "--dir", directory, "--format", "csv", top10_sql(QUERY_ROW)],
            "others": others,
            "cleanup": lambda: None,
        }


def hits(stdout):
    """The row numbers a contender printed (npyq's CSV or the Python contenders' last line)."""
    lines = [l for l in stdout.strip().splitlines() if l and not l.startswith("__seconds__")]
    if not lines:
        return None
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
