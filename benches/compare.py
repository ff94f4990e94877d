#!/usr/bin/env python3
"""Side-by-side timings: `npyq` against numpy + pyarrow, chdb, DuckDB and a C mmap-and-sum loop.

    cargo build --release && python3 benches/compare.py

Makes its test data once under $NPYQ_BENCH_DATA (default /work/bench-data; about 2.6 GiB):

    f32/x.npy                       1 GiB float32, uniform in [0, 1)
    ds/ds.npz                       np.savez: features (4M, 64) float32 + labels (4M,) int64
    compressed/big_compressed.npz   np.savez_compressed: x, 64M float32 (256 MiB), whole numbers
    many/parts/part-N.npy           1,000 files of 1,000 float32

Every contender runs as a whole process (interpreter start and imports included, as a user
would run it), in interleaved rounds so that noise on a shared machine hits all of them alike;
the table shows medians and the ratio contender / npyq (> 1: npyq is faster). On a noisy machine
trust the ratios of one run over the absolute times. Python contenders also report the time of
their timed call alone (after imports), shown in brackets. All runs are warm: the inputs sit in
the page cache (the machine has RAM to spare), which is also what a repeated query sees. Before
the first round each input is dropped from the cache and read once from start to end
(`warm_page_cache`), so that every run finds it cached the same way whatever read it before.

Needs: numpy, pyarrow, chdb, duckdb (`pip install numpy pyarrow chdb duckdb`), gcc. A contender
whose package is missing, or an npyq subcommand that fails, is reported and skipped.

Environment: NPYQ (the binary; default target/release/npyq, or $CARGO_TARGET_DIR/release/npyq),
NPYQ_BENCH_DATA, NPYQ_BENCH_RUNS (rounds, default 5). Options: --runs N, --only SUBSTRING
(run the cases whose title contains it), --scale F (shrink the data, for trying the script).
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MIB = 1 << 20
GIB = 1 << 30


def default_npyq():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    return os.environ.get("NPYQ", os.path.join(target, "release", "npyq"))


# ---------------------------------------------------------------------------------------------
# Test data


def make_data(root, scale):
    """Write the inputs unless a stamp says they are there with these sizes."""
    import numpy as np

    sizes = {
        "f32_values": int(GIB // 4 * scale),
        "ds_rows": int(4_000_000 * scale),
        "compressed_values": int(64 * MIB * scale),
        "parts": 1000,
        "part_rows": 1000,
    }
    stamp = os.path.join(root, "stamp.json")
    if os.path.exists(stamp):
        with open(stamp) as f:
            if json.load(f) == sizes:
                return sizes
    print(f"writing test data under {root} ...", file=sys.stderr)
    for sub in ["f32", "ds", "compressed", "many"]:
        shutil.rmtree(os.path.join(root, sub), ignore_errors=True)
        os.makedirs(os.path.join(root, sub))
    rng = np.random.default_rng(7)

    np.save(os.path.join(root, "f32", "x.npy"), rng.random(sizes["f32_values"], dtype=np.float32))

    features = rng.standard_normal((sizes["ds_rows"], 64), dtype=np.float32)
    labels = rng.integers(0, 10, size=sizes["ds_rows"]).astype(np.int64)
    np.savez(os.path.join(root, "ds", "ds.npz"), features=features, labels=labels)
    del features

    # Whole numbers: their low mantissa bytes are zero, so deflate has something to do (about
    # what quantised sensor or pixel data give), unlike full-precision noise.
    x = np.round(rng.standard_normal(sizes["compressed_values"]) * 100).astype(np.float32)
    np.savez_compressed(os.path.join(root, "compressed", "big_compressed.npz"), x=x)
    del x

    parts = os.path.join(root, "many", "parts")
    os.makedirs(parts)
    for i in range(sizes["parts"]):
        np.save(os.path.join(parts, f"part-{i}.npy"), rng.random(sizes["part_rows"], dtype=np.float32))

    with open(stamp, "w") as f:
        json.dump(sizes, f)
    return sizes


def compile_c_sum(root):
    """Two mmap-and-sum loops in C: a plain one on one core (`gcc -O2`), and the same split over
    two threads, vectorised for this CPU (`-O3 -march=native`): about what the machine's two
    cores and memory allow, a bound for any reader of the file."""
    binaries = {}
    for name, code, flags in [("mmap_sum", C_SUM, ["-O2"]), ("mmap_sum_threads", C_SUM_THREADS, ["-O3", "-march=native", "-pthread"])]:
        source = os.path.join(root, name + ".c")
        binaries[name] = os.path.join(root, name)
        with open(source, "w") as f:
            f.write(code)
        subprocess.run(["gcc"] + flags + ["-o", binaries[name], source], check=True)
    return binaries


C_MAP_NPY = r"""
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* The float32 values of a version 1.0 .npy file, memory-mapped, and how many; NULL on failure. */
static const float *map_f32_npy(const char *path, size_t *n) {
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) return NULL;
    const unsigned char *p = mmap(0, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) return NULL;
    uint16_t header_len;
    memcpy(&header_len, p + 8, 2);
    size_t offset = 10 + (size_t)header_len;
    *n = (st.st_size - offset) / 4;
    return (const float *)(p + offset);
}
"""

C_SUM = C_MAP_NPY + r"""
/* Sum them: one pass, eight accumulators. */
int main(int argc, char **argv) {
    size_t n;
    const float *x = argc == 2 ? map_f32_npy(argv[1], &n) : NULL;
    if (!x) return 1;
    double s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) s[k] += x[i + k];
    for (; i < n; i++) s[0] += x[i];
    double total = 0;
    for (int k = 0; k < 8; k++) total += s[k];
    printf("%.3f\n", total);
    return 0;
}
"""

C_SUM_THREADS = C_MAP_NPY + r"""
/* Sum them on N threads (argv[2]), each a contiguous part into sixteen double accumulators
   (as npyq's widening sum). */
typedef struct { const float *x; size_t n; double sum; } Part;

static void *sum_part(void *arg) {
    Part *p = arg;
    double s[16] = {0};
    size_t i = 0;
    for (; i + 16 <= p->n; i += 16)
        for (int k = 0; k < 16; k++) s[k] += p->x[i + k];
    for (; i < p->n; i++) s[0] += p->x[i];
    double total = 0;
    for (int k = 0; k < 16; k++) total += s[k];
    p->sum = total;
    return 0;
}

int main(int argc, char **argv) {
    int threads = argc == 3 ? atoi(argv[2]) : 0;
    if (threads < 1 || threads > 64) return 2;
    size_t n;
    const float *x = map_f32_npy(argv[1], &n);
    if (!x) return 1;
    pthread_t ids[64];
    Part parts[64];
    for (int t = 0; t < threads; t++) {
        size_t start = n / threads * t, end = t == threads - 1 ? n : n / threads * (t + 1);
        parts[t] = (Part){x + start, end - start, 0};
        pthread_create(&ids[t], 0, sum_part, &parts[t]);
    }
    double total = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(ids[t], 0);
        total += parts[t].sum;
    }
    printf("%.3f\n", total);
    return 0;
}
"""


# ---------------------------------------------------------------------------------------------
# Running contenders


class Run:
    def __init__(self, seconds, inproc, stdout, error):
        self.seconds = seconds
        self.inproc = inproc  # seconds of the timed call, as the process reported it
        self.stdout = stdout
        self.error = error
        self.memory = {}  # KiB: "max RSS", and peaks of RssAnon, RssFile, VmHWM when sampled


TIME = "/usr/bin/time"


def run_process(argv, sample_memory=False):
    """Run argv to the end and time it. With `sample_memory`, also its memory: max RSS from
    /usr/bin/time (wait4 of a small parent: a child forked from this Python process would
    inherit Python's high-water mark), and peaks of RssAnon / RssFile / VmHWM sampled from
    /proc every few milliseconds."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss:
        wrapped = argv
        if sample_memory and os.path.exists(TIME):
            wrapped = [TIME, "-f", "%M", "-o", rss.name] + argv
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=out, stderr=err)
        peaks = {"RssAnon": 0, "RssFile": 0, "VmHWM": 0}
        if sample_memory:
            while proc.poll() is None:
                target = proc.pid if wrapped is argv else child_of(proc.pid)
                if target:
                    sample_status(target, peaks)
                time.sleep(0.003)
        else:
            proc.wait()
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
        max_rss = rss.read().strip().splitlines()
    error = None
    if proc.returncode != 0:
        lines = [l for l in stderr.strip().splitlines() if l.strip() and not l.startswith("Command exited")]
        error = (lines or [f"exit code {proc.returncode}"])[-1][:160]
    inproc = None
    for line in stdout.splitlines():
        if line.startswith("__seconds__ "):
            inproc = float(line.split()[1])
    run = Run(seconds, inproc, stdout, error)
    if sample_memory:
        run.memory = dict(peaks)
        if max_rss and max_rss[-1].isdigit():
            run.memory["max RSS"] = int(max_rss[-1])
    return run


def child_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = f.read().split()
        return int(children[0]) if children else None
    except (OSError, ValueError):
        return None


def sample_status(pid, peaks):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in peaks:
                    peaks[key] = max(peaks[key], int(value.split()[0]))
    except (OSError, ValueError):
        pass


def python(code):
    """A Python contender: code that imports what it needs and prints `__seconds__ T` for
    the timed part (the start time `t0` is set after the imports by the code itself)."""
    return [sys.executable, "-c", textwrap.dedent(code)]


def measure(contenders, runs, cleanup):
    """Interleaved rounds: one warm-up (not counted, also checks the contender works), then
    `runs` rounds of each. Returns {name: [Run]}; a failing contender stops at its error."""
    results = {name: [] for name, _ in contenders}
    failed = {}
    for round_ in range(runs + 1):
        for name, argv in contenders:
            if name in failed:
                continue
            cleanup()
            run = run_process(argv)
            if run.error:
                failed[name] = run
                print(f"  {name}: FAILED: {run.error}", file=sys.stderr)
                continue
            if round_ == 0:
                print(f"  {name}: warm-up {run.seconds:.2f}s -> {run.stdout.strip()[-120:]!r}", file=sys.stderr)
            else:
                results[name].append(run)
    cleanup()
    return results, failed


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# ---------------------------------------------------------------------------------------------
# The cases


def cases(npyq, root, c_sum):
    f32 = os.path.join(root, "f32", "x.npy")
    ds_dir = os.path.join(root, "ds")
    ds = os.path.join(ds_dir, "ds.npz")
    compressed = os.path.join(root, "compressed", "big_compressed.npz")
    out = os.path.join(root, "out")
    os.makedirs(out, exist_ok=True)

    def clear_out():
        for name in os.listdir(out):
            os.remove(os.path.join(out, name))

    arrow_out = os.path.join(out, "x.arrow")
    parquet_out = os.path.join(out, "x.parquet")
    join_sql = (
        "SELECT l.labels, count(*) AS n, avg(f.features[1]) AS mean_f0 "
        "FROM {labels} l JOIN {features} f ON l._row = f._row GROUP BY l.labels ORDER BY l.labels"
    )
    yield {
        "title": "npy → Arrow IPC (1 GiB f32)",
        "npyq": [npyq, "convert", f32, arrow_out],
        "others": [
            ("numpy mmap + pyarrow IPC writer", python(f"""
                import time, numpy as np, pyarrow as pa
                t0 = time.perf_counter()
                a = np.load({f32!r}, mmap_mode='r')
                table = pa.table({{'x': a}})
                with pa.OSFile({arrow_out!r}, 'wb') as sink, pa.ipc.new_file(sink, table.schema) as w:
                    w.write_table(table)
                print('__seconds__', time.perf_counter() - t0)
            """), 1.0),
        ],
        "cleanup": clear_out,
    }
    yield {
        "title": "npy → Parquet, snappy (1 GiB f32)",
        "npyq": [npyq, "convert", f32, parquet_out],
        "others": [
            ("numpy mmap + pq.write_table (defaults)", python(f"""
                import time, numpy as np, pyarrow as pa, pyarrow.parquet as pq
                t0 = time.perf_counter()
                table = pa.table({{'x': np.load({f32!r}, mmap_mode='r')}})
                pq.write_table(table, {parquet_out!r})
                print('__seconds__', time.perf_counter() - t0)
            """), 2.0),
            ("chdb file(Npy) INTO OUTFILE Parquet (snappy)", python(f"""
                import time, chdb
                t0 = time.perf_counter()
                chdb.query("SELECT * FROM file({f32!r}, Npy) INTO OUTFILE {parquet_out!r} TRUNCATE FORMAT Parquet "
                           "SETTINGS output_format_parquet_compression_method = 'snappy'")
                print('__seconds__', time.perf_counter() - t0)
            """), 5.0),
        ],
        "cleanup": clear_out,
    }
    # The cost of keeping rows in `_row` order: the same query with the order-keeping merge and
    # without it (`--any-order`); ratio < 1 is what the order costs.
    f32_dir = os.path.dirname(f32)
    yield {
        "title": "sql SELECT x → Parquet in _row order vs --any-order (1 GiB f32)",
        "npyq": [npyq, "sql", "--dir", f32_dir, "--format", "parquet", "--output", parquet_out, "SELECT x FROM x"],
        "others": [
            ("npyq sql --any-order (partitions as they come)",
             [npyq, "sql", "--any-order", "--dir", f32_dir, "--format", "parquet", "--output", parquet_out, "SELECT x FROM x"],
             None),
        ],
        "cleanup": clear_out,
    }
    yield {
        "title": "COPY (SELECT x WHERE x > 0.5) TO .parquet in _row order vs --any-order (1 GiB f32)",
        "npyq": [npyq, "sql", "--dir", f32_dir, f"COPY (SELECT x FROM x WHERE x > 0.5) TO '{parquet_out}'"],
        "others": [
            ("npyq sql --any-order",
             [npyq, "sql", "--any-order", "--dir", f32_dir, f"COPY (SELECT x FROM x WHERE x > 0.5) TO '{parquet_out}'"],
             None),
        ],
        "cleanup": clear_out,
    }
    yield {
        "title": "deflated npz member → Arrow IPC (256 MiB f32)",
        "npyq": [npyq, "convert", compressed, arrow_out],
        "others": [
            ("np.load(npz)['x'] (inflate only)", python(f"""
                import time, numpy as np
                t0 = time.perf_counter()
                x = np.load({compressed!r})['x']
                print('__seconds__', time.perf_counter() - t0, x.shape)
            """), 2.0),
        ],
        "cleanup": clear_out,
    }
    yield {
        "title": "deflated npz member: SELECT sum(x) (256 MiB f32)",
        "npyq": [npyq, "sql", "--dir", os.path.dirname(compressed), "SELECT sum(x) FROM big_compressed"],
        "others": [
            ("np.load(npz)['x'].sum()", python(f"""
                import time, numpy as np
                t0 = time.perf_counter()
                print(np.load({compressed!r})['x'].sum())
                print('__seconds__', time.perf_counter() - t0)
            """), 1.5),
        ],
        "cleanup": clear_out,
    }
    yield {
        "title": "SELECT sum(x) over 1 GiB f32 .npy",
        "npyq": [npyq, "sql", "--dir", os.path.dirname(f32), "SELECT sum(x) FROM x"],
        "others": [
            ("np.load(mmap_mode='r').sum()", python(f"""
                import time, numpy as np
                t0 = time.perf_counter()
                print(np.load({f32!r}, mmap_mode='r').sum())
                print('__seconds__', time.perf_counter() - t0)
            """), 2.5),
            ("C mmap + sum loop, gcc -O2, one core", [c_sum["mmap_sum"], f32], 1 / 1.5),
            # The bound: no target, the ratio says how close npyq comes (the 2.5× numpy
            # target asks for about this machine's bound).
            ("C mmap + sum, two threads, gcc -O3 -march=native (the machine's bound)", [c_sum["mmap_sum_threads"], f32, "2"], None),
            ("chdb SELECT sum(array) FROM file(Npy)", python(f"""
                import time, chdb
                t0 = time.perf_counter()
                print(chdb.query("SELECT sum(array) FROM file({f32!r}, Npy)", 'CSV'))
                print('__seconds__', time.perf_counter() - t0)
            """), 20.0),
        ],
        "cleanup": clear_out,
    }
    yield {
        "title": "join labels↔features on _row, GROUP BY label (4M×64 f32 npz)",
        "npyq": [npyq, "sql", "--dir", ds_dir, join_sql.format(labels="ds.labels", features="ds.features")],
        "others": [
            ("np.load + pyarrow + DuckDB (load included)", python(f"""
                import time, numpy as np, pyarrow as pa, duckdb
                t0 = time.perf_counter()
                d = np.load({ds!r})
                features, labels = d['features'], d['labels']
                row = pa.array(np.arange(len(labels), dtype=np.int64))
                width = features.shape[1]
                f = pa.table({{'_row': row, 'features': pa.FixedSizeListArray.from_arrays(pa.array(features.reshape(-1)), width)}})
                l = pa.table({{'_row': row, 'labels': pa.array(labels)}})
                con = duckdb.connect()
                con.register('f_arrow', f)
                con.register('l_arrow', l)
                print(con.sql({join_sql.format(labels="l_arrow", features="f_arrow")!r}).fetchall())
                print('__seconds__', time.perf_counter() - t0)
            """), 3.0),
        ],
        "cleanup": clear_out,
    }
    yield {
        "title": "SELECT count(*) over a directory of 1,000 .npy",
        "npyq": [npyq, "sql", "--dir", os.path.join(root, "many"), "SELECT count(*) FROM parts"],
        "others": [],
        "absolute": 0.5,
        "cleanup": clear_out,
    }


def memory_case(npyq, root, runs):
    """Peak memory of `npyq convert` on the 1 GiB file. ru_maxrss counts the pages of the
    mapped input that were touched (file-backed, reclaimable, shared with the page cache), so
    the anonymous part (heap: what npyq allocates) is sampled from /proc as well."""
    f32 = os.path.join(root, "f32", "x.npy")
    out = os.path.join(root, "out")
    os.makedirs(out, exist_ok=True)
    rows = []
    for ext in ["parquet", "arrow"]:
        target = os.path.join(out, f"x.{ext}")
        samples = []
        for _ in range(max(1, min(runs, 3))):
            if os.path.exists(target):
                os.remove(target)
            run = run_process([npyq, "convert", f32, target], sample_memory=True)
            if run.error:
                rows.append((ext, None, run.error))
                break
            samples.append(run)
        if os.path.exists(target):
            os.remove(target)
        if samples:
            rows.append((ext, samples, None))
    return rows


# ---------------------------------------------------------------------------------------------
# Report


def fmt_seconds(runs):
    wall = median([r.seconds for r in runs])
    inproc = median([r.inproc for r in runs])
    text = f"{wall:.2f}"
    if inproc is not None:
        text += f" [{inproc:.2f}]"
    return text, wall


def report(case, results, failed, lines, verdicts):
    npyq_runs = results.get("npyq") or []
    title = case["title"]
    if "npyq" in failed or not npyq_runs:
        error = failed["npyq"].error if "npyq" in failed else "no runs"
        lines.append(f"| {title} | npyq failed: `{error}` | | | | | |")
        verdicts.append((title, "skipped (npyq failed)"))
        return
    npyq_text, npyq_wall = fmt_seconds(npyq_runs)
    if "absolute" in case:
        met = npyq_wall < case["absolute"]
        lines.append(f"| {title} | {npyq_text} | — | — | — | < {case['absolute']} s | {'yes' if met else '**no**'} |")
        verdicts.append((title, "met" if met else "missed"))
        return
    for name, _argv, target in case["others"]:
        if name in failed or not results.get(name):
            error = failed[name].error if name in failed else "no runs"
            lines.append(f"| {title} | {npyq_text} | {name}: failed `{error}` | | | | |")
            continue
        other_text, other_wall = fmt_seconds(results[name])
        ratio = other_wall / npyq_wall
        if target is None:  # a measurement, not a race (e.g. the cost of an option)
            lines.append(f"| {title} | {npyq_text} | {name} | {other_text} | {ratio:.2f}× | — | — |")
            continue
        target_text = f"≥ {target:g}×" if target >= 1 else f"within {1 / target:g}× (≥ {target:.2f}×)"
        met = ratio >= target
        lines.append(f"| {title} | {npyq_text} | {name} | {other_text} | {ratio:.2f}× | {target_text} | {'yes' if met else '**no**'} |")
        verdicts.append((f"{title} vs {name}", "met" if met else "missed"))


def warm_page_cache(paths):
    """Drop each file from the page cache (where the kernel lets us) and read it once, start to
    end, so every contender maps the same cached pages, whatever happened to read the file before.

    Why: how a file's pages entered the cache decides what a warm memory map of it costs. Read
    sequentially (or written by `np.save`) the kernel caches it in large folios, and mapping a
    1 GiB file costs about 2 ms of kernel time; paged in by a plain map's faults it is cached in
    4 KiB pages and the same map costs 30-50 ms, for npyq, numpy and the C loop alike."""
    buffer = bytearray(8 * MIB)
    for path in paths:
        with open(path, "rb", buffering=0) as f:
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            while f.readinto(buffer):
                pass


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}, {time.strftime('%Y-%m-%d %H:%M')}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("NPYQ_BENCH_RUNS", "5")))
    parser.add_argument("--only", default=None, help="run only the cases whose title contains this (and 'memory')")
    parser.add_argument("--scale", type=float, default=1.0, help="shrink the data (e.g. 0.05) to try the script")
    parser.add_argument("--data", default=os.environ.get("NPYQ_BENCH_DATA", "/work/bench-data"))
    args = parser.parse_args()

    npyq = default_npyq()
    if not os.path.exists(npyq):
        sys.exit(f"no npyq binary at {npyq}: run `cargo build --release` or set NPYQ")
    os.makedirs(args.data, exist_ok=True)
    make_data(args.data, args.scale)
    warm_page_cache([os.path.join(args.data, p) for p in ["f32/x.npy", "ds/ds.npz", "compressed/big_compressed.npz"]])
    c_sum = compile_c_sum(args.data)

    lines = [
        "| Task | npyq (s) | Contender | Contender (s) | Ratio | Target | Met |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    verdicts = []
    for case in cases(npyq, args.data, c_sum):
        if args.only and args.only.lower() not in case["title"].lower():
            continue
        print(f"{case['title']}", file=sys.stderr)
        contenders = [("npyq", case["npyq"])] + [(name, argv) for name, argv, _ in case["others"]]
        results, failed = measure(contenders, args.runs, case["cleanup"])
        report(case, results, failed, lines, verdicts)

    memory_lines = []
    if not args.only or "memory" in args.only.lower():
        print("memory of npyq convert", file=sys.stderr)
        memory_lines = [
            "| `npyq convert x.npy x.<ext>` (1 GiB f32) | max RSS (MiB) | sampled VmHWM (MiB) | peak RssAnon (MiB) | peak RssFile (MiB) | Target: heap < 256 MiB |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for ext, samples, error in memory_case(npyq, args.data, args.runs):
            if error:
                memory_lines.append(f"| .{ext} | failed: `{error}` | | | | |")
                verdicts.append((f"memory .{ext}", "skipped (npyq failed)"))
                continue
            peak = lambda key: max(r.memory.get(key, 0) for r in samples) / 1024
            max_rss, hwm, anon, file_backed = peak("max RSS"), peak("VmHWM"), peak("RssAnon"), peak("RssFile")
            met = anon < 256
            memory_lines.append(f"| .{ext} | {max_rss:.0f} | {hwm:.0f} | {anon:.0f} | {file_backed:.0f} | {'yes' if met else '**no**'} |")
            verdicts.append((f"memory .{ext}", "met" if met else "missed"))

    print()
    print(f"Machine: {machine()}; {args.runs} runs, medians; times are whole processes, "
          "[bracketed] the timed call inside a Python process; ratio = contender / npyq.")
    if len(lines) > 2:
        print()
        print("\n".join(lines))
    if memory_lines:
        print()
        print("\n".join(memory_lines))
        print()
        print("max RSS counts the touched pages of the memory-mapped input (file-backed, shared with the "
              "page cache, dropped under pressure); RssAnon is the memory npyq itself allocates.")
    print()
    for what, verdict in verdicts:
        print(f"- {what}: {verdict}")


if __name__ == "__main__":
    main()
