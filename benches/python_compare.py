#!/usr/bin/env python3
"""The Python package side by side with what a NumPy user would otherwise run.

    pip install ./python            # a release build of the extension (maturin)
    cargo build --release           # npyq, for the SQL comparison
    python3 benches/python_compare.py

1. Reading the 1 GiB float32 `.npy` into a `pyarrow.Table`:
   `pa.table(datafusion_npy.read(p))` against `pa.array(np.load(p))` (a full read) and
   `pa.array(np.load(p, mmap_mode='r'))` (zero-copy, like ours). Goals: at least 5x faster than
   the first, no slower than the second.
2. A group-by over the 4M x 64 `.npz` (features float32 + labels int64):
   a stock `datafusion.SessionContext` with `NpyTable` (through the FFI) against `npyq sql` on
   the same query, and `datafusion_npy.sql()` for reference. Goal: within 1.2x of npyq.

Inputs are those of benches/compare.py (made once under $NPYQ_BENCH_DATA, default
/work/bench-data). Each contender runs in a fresh process (so no page of a previous run's map is
reused by the process; the file itself stays in the page cache: all runs are warm), one warm-up
then --runs interleaved rounds; medians are shown. Python contenders report the timed call
after their imports; npyq is timed as a whole process (start-up included, about 10-20 ms).

Options: --runs N (default 5), --only read|groupby, --scale F (smaller inputs, to try the script; a debug build of
the package works for that but its figures mean nothing).
"""

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from compare import default_npyq, make_data  # noqa: E402  (the shared inputs)


# pyarrow imports pandas lazily, the first time `pa.table`/`pa.array` checks whether its argument
# is a DataFrame (1-2 s here): every Python contender imports it before its clock starts.
PRELUDE = """
try:
    import pandas
except ImportError:
    pass
"""


def python_case(code):
    return [sys.executable, "-c", PRELUDE + textwrap.dedent(code)]


def run_timed(argv):
    """Wall time of the process, and the `__seconds__` it printed (its timed call), if any."""
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv[:3])} ...\n{done.stderr.strip()}")
    inner = None
    for line in done.stdout.splitlines():
        if line.startswith("__seconds__"):
            inner = float(line.split()[1])
    return wall, inner, done.stdout


def repeat_of(output):
    for line in output.splitlines():
        if line.startswith("__repeat__"):
            return float(line.split()[1])
    return None


def measure(contenders, runs):
    """Interleaved rounds after one warm-up of each; medians of the timed call (else the wall)."""
    results = {name: [] for name, _ in contenders}
    repeats = {name: [] for name, _ in contenders}
    for round_ in range(runs + 1):
        for name, argv in contenders:
            wall, inner, out = run_timed(argv)
            if round_ > 0:
                results[name].append(inner if inner is not None else wall)
                if repeat_of(out) is not None:
                    repeats[name].append(repeat_of(out))
    medians = {name: statistics.median(times) for name, times in results.items()}
    return medians, {name: statistics.median(r) for name, r in repeats.items() if r}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=int(os.environ.get("NPYQ_BENCH_RUNS", 5)))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--only", choices=["read", "groupby"], help="run one of the two comparisons")
    args = parser.parse_args()
    root = os.environ.get("NPYQ_BENCH_DATA", "/work/bench-data")
    os.makedirs(root, exist_ok=True)
    make_data(root, args.scale)
    npyq = default_npyq()
    f32 = os.path.join(root, "f32", "x.npy")
    ds = os.path.join(root, "ds", "ds.npz")

    import datafusion_npy

    print(f"datafusion_npy {datafusion_npy.__version__} from {datafusion_npy.__file__}; npyq {npyq}")
    print(f"runs: {args.runs}, inputs: {root} (scale {args.scale})\n")

    def read_case(setup, expr):
        # The first call of the process (what a script pays: page faults of the library's code
        # included), then the best of five more in the same process (the steady cost).
        return python_case(f"""
            import time, numpy as np, pyarrow as pa
            {setup}
            def once():
                t0 = time.perf_counter()
                t = {expr}
                return time.perf_counter() - t0, t
            first, t = once()
            assert t.num_rows == {rows}
            print('__seconds__', first)
            print('__repeat__', min(once()[0] for _ in range(5)))
        """)

    import numpy as np

    rows = len(np.load(f32, mmap_mode="r"))
    read_cases = [
        ("pa.table(datafusion_npy.read(p))", read_case("import datafusion_npy", f"pa.table(datafusion_npy.read({f32!r}))")),
        ("pa.array(np.load(p))", read_case("", f"pa.table({{'x': pa.array(np.load({f32!r}))}})")),
        ("pa.array(np.load(p, mmap_mode='r'))", read_case("", f"pa.table({{'x': pa.array(np.load({f32!r}, mmap_mode='r'))}})")),
    ]
    if args.only == "groupby":
        read_cases = []
    times, again = measure(read_cases, args.runs) if read_cases else ({}, {})
    ours = times.get(read_cases[0][0]) if read_cases else None
    size = os.path.getsize(f32) / (1 << 30)
    if read_cases:
        print(f"## .npy ({size:.2f} GiB float32) -> pyarrow.Table\n")
        print("| contender | first call (median) | / ours | repeated call (median of best-of-5) | / ours |")
        print("|---|---:|---:|---:|---:|")
        for name, _ in read_cases:
            a, b = again[name], again[read_cases[0][0]]
            print(f"| {name} | {times[name] * 1000:.2f} ms | {times[name] / ours:.2f} | {a * 1000:.3f} ms | {a / b:.2f} |")
        print()
    if args.only == "read":
        return

    queries = {
        "avg(features[1]) by label": "SELECT labels, count(*) AS n, avg(features[1]) AS m FROM ds GROUP BY labels ORDER BY labels",
        "sum(labels) by label": "SELECT labels, count(*) AS n, sum(labels) AS s FROM ds GROUP BY labels ORDER BY labels",
    }
    for title, query in queries.items():
        cases = [
            ("npyq sql (whole process)", [npyq, "sql", "--dir", os.path.dirname(ds), "--format", "csv", query]),
            ("datafusion-python + NpyTable", python_case(f"""
                import time, datafusion, datafusion_npy
                t0 = time.perf_counter()
                ctx = datafusion.SessionContext()
                ctx.register_table('ds', datafusion_npy.NpyTable({ds!r}))
                rows = ctx.sql({query!r}).to_arrow_table().to_pylist()
                print('__seconds__', time.perf_counter() - t0)
                print(rows)
            """)),
            ("datafusion_npy.sql()", python_case(f"""
                import time, pyarrow as pa, datafusion_npy
                t0 = time.perf_counter()
                rows = pa.table(datafusion_npy.sql({query!r}, dirs=[{os.path.dirname(ds)!r}])).to_pylist()
                print('__seconds__', time.perf_counter() - t0)
                print(rows)
            """)),
        ]
        times, _ = measure(cases, args.runs)
        base = times[cases[0][0]]
        print(f"## group-by over the 4M x 64 .npz: {title}\n\n`{query}`\n")
        print("| contender | median | contender / npyq |\n|---|---:|---:|")
        for name, _ in cases:
            print(f"| {name} | {times[name] * 1000:.1f} ms | {times[name] / base:.2f} |")
        print()


if __name__ == "__main__":
    main()
