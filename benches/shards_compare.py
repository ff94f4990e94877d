"""count(*) and sum over directories of many tiny .npy shards: npyq against a numpy loop, as
whole processes (wall time and peak RSS from /usr/bin/time), side by side in one run.

    python3 benches/shards_compare.py --npyq target/release/npyq [--baseline OTHER_NPYQ]
        [--shards 10000 100000] [--runs 3] [--dir /tmp/npyq-shards]

Each directory `<dir>/<N>/shards/part-<i>.npy` holds N files of 16 float32 values (made once,
reused). npyq runs `SELECT count(*) FROM shards` once, then twice in one process: the second
figure minus the first is the repeated query (same session, unchanged directory). Times are
medians of `--runs`; memory is the largest max RSS of those runs and, from one more run sampled
every few milliseconds, the peak of RssAnon: what the process allocated, without the pages of
its own executable that it has touched (file-backed; about 50 MB of a release npyq's RSS for
any query, `SELECT 1` included).
"""

import argparse
import os
import statistics
import subprocess
import sys

import numpy as np

import compare  # benches/compare.py: run_process samples RssAnon


def make_shards(root, n):
    shards = os.path.join(root, str(n), "shards")
    if os.path.isdir(shards) and len(os.listdir(shards)) == n:
        return os.path.dirname(shards)
    os.makedirs(shards, exist_ok=True)
    for i in range(n):
        np.save(os.path.join(shards, f"part-{i}.npy"), np.arange(i * 16, i * 16 + 16, dtype=np.float32))
    return os.path.dirname(shards)


def timed(cmd):
    """Wall seconds and peak RSS (MB) of one whole process; its stdout."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M"] + cmd, capture_output=True, text=True, check=True)
    wall, rss_kb = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss_kb) / 1024, out.stdout


def median_run(cmd, runs):
    """Median wall seconds, max RSS (MB), peak RssAnon (MB, one more run), stdout."""
    results = [timed(cmd) for _ in range(runs)]
    anon = compare.run_process(cmd, sample_memory=True).memory.get("RssAnon", 0) / 1024
    return statistics.median(r[0] for r in results), max(r[1] for r in results), anon, results[0][2]


NUMPY_COUNT = (
    "import numpy as np, os, sys; d = sys.argv[1]; "
    "print(sum(np.load(os.path.join(d, f), mmap_mode='r').shape[0] for f in os.listdir(d) if f.endswith('.npy')))"
)
NUMPY_SUM = (
    "import numpy as np, os, sys; d = sys.argv[1]; "
    "print(sum(float(np.load(os.path.join(d, f), mmap_mode='r').sum(dtype=np.float64)) for f in os.listdir(d) if f.endswith('.npy')))"
)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--npyq", required=True)
    parser.add_argument("--baseline", help="another npyq binary to measure alongside (e.g. main's)")
    parser.add_argument("--shards", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", default="/tmp/npyq-shards")
    args = parser.parse_args()

    binaries = [("npyq", args.npyq)] + ([("baseline", args.baseline)] if args.baseline else [])
    print("Wall time (median), max RSS and peak RssAnon of whole processes.\n")
    print(f"| shards | case | {' | '.join(name for name, _ in binaries)} | numpy loop | ratio (numpy / npyq) |")
    print("|---:|---|" + "---:|" * (len(binaries) + 2))
    for n in args.shards:
        root = make_shards(args.dir, n)
        shards = os.path.join(root, "shards")
        count = "SELECT count(*) FROM shards"
        total = "SELECT sum(shards) FROM shards"
        numpy_count = median_run([sys.executable, "-c", NUMPY_COUNT, shards], args.runs)
        numpy_sum = median_run([sys.executable, "-c", NUMPY_SUM, shards], args.runs)
        rows = {"count(*), first query": [], "count(*), repeated query": [], "sum(x)": []}
        for _, binary in binaries:
            once = median_run([binary, "sql", "--format", "csv", "--dir", root, count], args.runs)
            twice = median_run([binary, "sql", "--format", "csv", "--dir", root, f"{count}; {count}"], args.runs)
            summed = median_run([binary, "sql", "--format", "csv", "--dir", root, total], args.runs)
            assert once[3].split()[-1] == str(16 * n), once[3]
            rows["count(*), first query"].append(once)
            rows["count(*), repeated query"].append((max(twice[0] - once[0], 0.0), twice[1], twice[2], twice[3]))
            rows["sum(x)"].append(summed)
        for case, measured in rows.items():
            contender = numpy_sum if case == "sum(x)" else numpy_count
            cells = [f"{t:.2f} s, {rss:.0f} MB ({anon:.0f} MB anon)" for t, rss, anon, _ in measured]
            numpy_cell = (
                f"{contender[0]:.2f} s, {contender[1]:.0f} MB ({contender[2]:.0f} MB anon)" if "repeated" not in case else "(same as first)"
            )
            ratio = f"{contender[0] / measured[0][0]:.1f}×" if "repeated" not in case and measured[0][0] > 0 else ""
            print(f"| {n:,} | {case} | {' | '.join(cells)} | {numpy_cell} | {ratio} |")


if __name__ == "__main__":
    main()
