#!/usr/bin/env python3
"""`npyq convert` against pyarrow, side by side, on one float32 column (1 GiB by default).

Two tasks:

* npy -> parquet: `npyq convert x.npy out.parquet` against
  `pq.write_table(pa.table({'x': np.load(p, mmap_mode='r')}), out)` (pyarrow's defaults: snappy).
* parquet -> npy: `npyq convert x.parquet out.npy` against
  `np.save(out, pq.read_table(p).column(0).to_numpy())`; the input is written by pyarrow.

The machine this runs on is shared and noisy, so only ratios measured in one run mean much: the
contenders take turns (round-robin, `--runs` rounds), and the table shows each one's median.
pyarrow's time is measured inside its Python process around the call alone (no interpreter
start, no imports), which favours pyarrow; npyq's is the whole process. Peak memory is the
process's max RSS (GNU time's `%M`), which counts the pages of memory-mapped input it touched as well as
its heap: npyq maps the .npy, so its RSS for npy -> parquet is about the input's size in page-cache
pages (RssFile, shared and reclaimable), while its heap (RssAnon in /proc/PID/status) stays near 10 MiB. Every output is checked once against the input (values equal), untimed.

Outputs are written to each `--out` directory in turn: on a disk whose writeback is slow (as on
the shared build machine, about 300 MB/s) the disk sets the pace for everyone, so a tmpfs
(`/dev/shm`) shows the converters' own speed. Inputs are read from `--data-dir` (page-cached
after the first run).

    python3 benches/convert_compare.py --npyq before=/tmp/npyq-base --npyq after=/tmp/npyq-perf \
        --out disk=/work/bench-data/perf/out --out tmpfs=/dev/shm/npyq-bench
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

GENERATE_CHUNK = 1 << 24  # elements per step while generating, so generating stays small


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--npyq", action="append", default=[], metavar="LABEL=PATH",
                        help="an npyq binary to time (repeatable; copy it out of target/ first)")
    parser.add_argument("--data-dir", type=Path, default=Path("/work/bench-data/perf"))
    parser.add_argument("--out", action="append", default=[], metavar="LABEL=DIR",
                        help="where outputs go (repeatable); default: DATA_DIR/out")
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the float32 column")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tasks", default="npy2parquet,parquet2npy")
    args = parser.parse_args()
    if not args.npyq:
        args.npyq = [f"npyq={Path(__file__).resolve().parent.parent / 'target/release/npyq'}"]
    binaries = []
    for entry in args.npyq:
        label, sep, path = entry.partition("=")
        if not sep:
            label, path = Path(entry).name, entry
        binaries.append((label, Path(path)))
    args.npyq = binaries
    outs = []
    for entry in args.out or [f"disk={args.data_dir / 'out'}"]:
        label, sep, path = entry.partition("=")
        if not sep:
            label, path = entry, entry
        outs.append((label, Path(path)))
    args.out = outs
    return args


def make_inputs(data_dir: Path, size_mib: int):
    """x.npy: seeded standard normal float32; x.parquet: the same column written by pyarrow."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data_dir.mkdir(parents=True, exist_ok=True)
    npy = data_dir / f"x{size_mib}.npy"
    parquet = data_dir / f"x{size_mib}.parquet"
    rows = size_mib * (1 << 20) // 4
    if not npy.exists():
        rng = np.random.default_rng(0)
        partial = npy.with_suffix(".npy.partial")
        out = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32, shape=(rows,))
        for start in range(0, rows, GENERATE_CHUNK):
            stop = min(rows, start + GENERATE_CHUNK)
            out[start:stop] = rng.standard_normal(stop - start, dtype=np.float32)
        out.flush()
        del out
        partial.rename(npy)
    if not parquet.exists():
        partial = parquet.with_suffix(".parquet.partial")
        pq.write_table(pa.table({"x": np.load(npy, mmap_mode="r")}), partial)
        partial.rename(parquet)
    return npy, parquet


# Each first warms pyarrow up on a tiny table (its first call pays one-off set-up costs).
PYARROW_WRITE = """
import io, sys, time, numpy as np, pyarrow as pa, pyarrow.parquet as pq
pq.write_table(pa.table({'x': np.zeros(10, np.float32)}), io.BytesIO())
start = time.perf_counter()
pq.write_table(pa.table({'x': np.load(sys.argv[1], mmap_mode='r')}), sys.argv[2])
print(time.perf_counter() - start)
"""

PYARROW_READ = """
import io, sys, time, numpy as np, pyarrow as pa, pyarrow.parquet as pq
warm = io.BytesIO()
pq.write_table(pa.table({'x': np.zeros(10, np.float32)}), warm)
np.save(io.BytesIO(), pq.read_table(warm).column(0).to_numpy())
start = time.perf_counter()
np.save(sys.argv[2], pq.read_table(sys.argv[1]).column(0).to_numpy())
print(time.perf_counter() - start)
"""


def run(command, timed_inside: bool):
    """Run `command`; return (seconds, max RSS in MiB).

    The RSS comes from GNU time: a child forked straight from this Python process would report
    this process's RSS at the fork as its own maximum."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        start = time.perf_counter()
        process = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *command], capture_output=True)
        elapsed = time.perf_counter() - start
        if process.returncode != 0:
            sys.exit(f"failed ({process.returncode}): {' '.join(command)}\n{process.stderr.decode()}")
        max_rss_kib = int(rss.read().split()[-1])
    seconds = float(process.stdout.decode().strip().splitlines()[-1]) if timed_inside else elapsed
    return seconds, max_rss_kib / 1024


def check_parquet(output: Path, npy: Path):
    import pyarrow.parquet as pq

    expected = np.load(npy, mmap_mode="r")
    table = pq.read_table(output)
    if table.num_columns != 1 or table.num_rows != len(expected):
        sys.exit(f"{output}: {table.num_columns} columns, {table.num_rows} rows; expected 1, {len(expected)}")
    if not np.array_equal(table.column(0).to_numpy(), expected):
        sys.exit(f"{output}: values differ from {npy}")
    return pq.ParquetFile(output).metadata.num_row_groups


def check_npy(output: Path, npy: Path):
    if not np.array_equal(np.load(output, mmap_mode="r"), np.load(npy, mmap_mode="r")):
        sys.exit(f"{output}: values differ from {npy}")
    return None


def contenders(task, npy, parquet, out_dir, binaries):
    """(label, command, timed_inside, output, checker) for each contender of `task`."""
    python = sys.executable
    if task == "npy2parquet":
        out = out_dir / "out.parquet"
        yield "pyarrow", [python, "-c", PYARROW_WRITE, npy, out], True, out, check_parquet
        for label, binary in binaries:
            yield label, [binary, "convert", npy, out], False, out, check_parquet
    elif task == "parquet2npy":
        out = out_dir / "out.npy"
        yield "pyarrow", [python, "-c", PYARROW_READ, parquet, out], True, out, check_npy
        for label, binary in binaries:
            yield label, [binary, "convert", parquet, out], False, out, check_npy
    else:
        sys.exit(f"unknown task {task}")


def main():
    args = parse_args()
    npy, parquet = make_inputs(args.data_dir, args.size_mib)
    gib = args.size_mib / 1024
    rows = []
    for where, out_dir in args.out:
        out_dir.mkdir(parents=True, exist_ok=True)
        for task in args.tasks.split(","):
            rows += run_task(task, where, npy, parquet, out_dir, args, gib)
    print(textwrap.dedent(f"""
        {args.size_mib} MiB float32 column, {args.runs} runs each (round-robin), median.
        "× pyarrow" = pyarrow's median / this median (above 1: faster than pyarrow).
        """))
    print("| task | output on | contender | median s | runs s | GiB/s | × pyarrow | max RSS MiB | output |")
    print("|---|---|---|---:|---|---:|---:|---:|---|")
    for task, where, label, median, runs, speed, ratio, peak, note in rows:
        print(f"| {task} | {where} | {label} | {median:.2f} | {runs} | {speed:.2f} | {ratio:.2f} | {peak:.0f} "
              f"| {note} |")


def run_task(task, where, npy, parquet, out_dir, args, gib):
    """Time every contender of `task` (round-robin); one table row each."""
    entries = list(contenders(task, npy, parquet, out_dir, args.npyq))
    times = {label: [] for label, *_ in entries}
    rss = {label: 0.0 for label, *_ in entries}
    notes = {}
    for round_ in range(args.runs):
        for label, command, timed_inside, output, checker in entries:
            output.unlink(missing_ok=True)
            os.sync()  # the previous contender's dirty pages are not this one's bill
            seconds, peak = run([str(c) for c in command], timed_inside)
            times[label].append(seconds)
            rss[label] = max(rss[label], peak)
            if round_ == 0:
                row_groups = checker(output, npy)
                size = output.stat().st_size / (1 << 20)
                notes[label] = f"{size:.0f} MiB" + (f", {row_groups} row groups" if row_groups else "")
            print(f"{task} {where} {label} run {round_ + 1}: {seconds:.3f} s, max RSS {peak:.0f} MiB",
                  file=sys.stderr)
            output.unlink(missing_ok=True)
    baseline = statistics.median(times["pyarrow"])
    rows = []
    for label, *_ in entries:
        median = statistics.median(times[label])
        rows.append((task, where, label, median, " ".join(f"{t:.2f}" for t in times[label]),
                     gib / median, baseline / median, rss[label], notes[label]))
    return rows


if __name__ == "__main__":
    main()
