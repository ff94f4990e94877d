"""Scale-out on one machine: a scan-heavy query over a directory of shards, in one process and
through 1, 2 and 4 `npyq worker` processes (`npyq sql --workers`), plus the overhead of the
distributed path for a small query.

    python3 benches/distributed_compare.py --npyq target/release/npyq [--gib 8] [--shards 32]
        [--workers 1 2 4] [--runs 3] [--dir /tmp/npyq-dist]

Shards `<dir>/<gib>g/shards/part-<i>.npy` hold float32 records (sensor int32, value float32),
made once and reused. The scan query reads every value:
`SELECT count(*), sum(value), min(value), max(value) FROM shards`. Each figure is the median wall
time of `--runs`; for every worker count the script also reads each worker's CPU time (user +
system, from /proc) used by the query, so the scaling with one machine per worker can be
estimated on a 2-core box: wall ≈ the busiest worker's CPU time (+ coordinator time).

A stage of one task may run on the coordinator itself (the engine's routing), so "1 worker"
can show no worker CPU; the coordinator's CPU is printed beside.

A tiny run for a debug build (checks the script, not the speed):
    python3 benches/distributed_compare.py --npyq target/debug/npyq --gib 0.01 --shards 12 --runs 1 \
        --bytes-per-partition 65536
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

CLK = os.sysconf("SC_CLK_TCK")


def make_shards(root, gib, shards):
    base = os.path.join(root, f"{gib}g")
    d = os.path.join(base, "shards")
    if os.path.isdir(d) and len(os.listdir(d)) == shards:
        return base
    os.makedirs(d, exist_ok=True)
    rows = int(gib * (1 << 30) / 8 / shards)
    dt = np.dtype([("sensor", "<i4"), ("value", "<f4")])
    rng = np.random.default_rng(0)
    for i in range(shards):
        a = np.empty(rows, dtype=dt)
        a["sensor"] = rng.integers(0, 16, rows, dtype=np.int32)
        a["value"] = rng.random(rows, dtype=np.float32)
        np.save(os.path.join(d, f"part-{i}.npy"), a)
    return base


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


class Workers:
    def __init__(self, npyq, n):
        self.procs, self.addrs = [], []
        for _ in range(n):
            p = subprocess.Popen([npyq, "worker", "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
            line = p.stdout.readline().strip()
            assert line.startswith("listening on "), line
            self.procs.append(p)
            self.addrs.append(line.removeprefix("listening on "))

    def cpu(self):
        return [cpu_seconds(p.pid) for p in self.procs]

    def close(self):
        for p in self.procs:
            p.kill()
            p.wait()


SPREAD = ""


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(npyq, base, query, workers=None):
    """Wall seconds, stdout; the CPU seconds of the `npyq sql` process in LAST_CPU."""
    global LAST_CPU
    cmd = [npyq, "sql", "--dir", base, "--format", "csv", "--", query]
    if workers:
        cmd[2:2] = ["--workers", ",".join(workers)]
        cmd[-1] = SPREAD + query
    cpu = children_cpu()
    t = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    LAST_CPU = children_cpu() - cpu
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    return wall, out.stdout


def median(npyq, base, query, runs, workers=None):
    results = [run(npyq, base, query, workers) for _ in range(runs)]
    return statistics.median(r[0] for r in results), results[0][1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--npyq", required=True)
    ap.add_argument("--gib", type=float, default=8)
    ap.add_argument("--shards", type=int, default=32)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/npyq-dist")
    ap.add_argument("--bytes-per-partition", type=int, default=None,
                    help="distributed.file_scan_config_bytes_per_partition (engine default 16 MiB; "
                         "small inputs need less to spread at all)")
    a = ap.parse_args()
    global SPREAD
    if a.bytes_per_partition:
        SPREAD = f"SET distributed.file_scan_config_bytes_per_partition = {a.bytes_per_partition}; "
    base = make_shards(a.dir, a.gib, a.shards)
    scan = "SELECT count(*), sum(value), min(value), max(value) FROM shards"
    small = "SELECT sensor, count(*) FROM shards WHERE _row < 1000 GROUP BY sensor ORDER BY sensor"
    run(a.npyq, base, scan)  # warm the page cache
    local, expected = median(a.npyq, base, scan, a.runs)
    small_local, small_expected = median(a.npyq, base, small, a.runs)
    print(f"scan over {a.gib} GiB in {a.shards} shards")
    run(a.npyq, base, scan)
    local_cpu = LAST_CPU
    print(f"{'setup':<14}{'wall s':>9}{'vs 1 proc':>11}{'coord CPU s':>13}   per-worker CPU s (query)")
    print(f"{'1 process':<14}{local:>9.2f}{1.0:>11.2f}{local_cpu:>13.2f}")
    # The small query through 2 workers if measured (1 worker may keep it on the coordinator).
    small_n = 2 if 2 in a.workers else max(a.workers)
    for n in a.workers:
        w = Workers(a.npyq, n)
        try:
            walls, cpus, coord = [], [], []
            for _ in range(a.runs):
                before = w.cpu()
                wall, out = run(a.npyq, base, scan, w.addrs)
                cpus.append([x - y for x, y in zip(w.cpu(), before)])
                coord.append(LAST_CPU)
                walls.append(wall)
                if out != expected:
                    sys.exit(f"{n} workers: answer differs:\n{out}\nvs\n{expected}")
            wall = statistics.median(walls)
            i = walls.index(wall) if wall in walls else 0
            cpu = cpus[i]
            print(f"{str(n) + ' workers':<14}{wall:>9.2f}{local / wall:>11.2f}{coord[i]:>13.2f}   "
                  + " ".join(f"{c:.2f}" for c in cpu)
                  + f"   (one machine each: ~{max(cpu):.2f} s busiest worker)")
            if n == small_n:
                small_dist, out = median(a.npyq, base, small, a.runs, w.addrs)
                if out != small_expected:
                    sys.exit(f"small query differs:\n{out}\nvs\n{small_expected}")
        finally:
            w.close()
    print(f"small query: 1 process {small_local * 1000:.0f} ms, through {small_n} worker(s) "
          f"{small_dist * 1000:.0f} ms (overhead {(small_dist - small_local) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
