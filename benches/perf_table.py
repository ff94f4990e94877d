#!/usr/bin/env python3
"""Regenerate the README's performance tables from one run of every side-by-side script.

    cargo build --release && python3 benches/perf_table.py            # all sections, README rewritten
    python3 benches/perf_table.py --only shards --dry-run              # one section, printed only

Each section below is one comparison script (they each print a Markdown table, medians of whole
processes, contender / npyq ratios). This script runs them one after another, in one go on one
machine, and puts their output into README.md between the markers

    <!-- perf-table:begin -->  ...  <!-- perf-table:end -->

with a heading that names the machine, the date and the commit, so that every figure in that
part of the README comes from the same run. A section whose script fails is written as such
(with the last lines of its error), never silently dropped. Options: --runs N for every script,
--only NAME[,NAME] for some sections, --dry-run to print instead of writing the README,
--npyq PATH (default $CARGO_TARGET_DIR/release/npyq or target/release/npyq).

Sections are the Python scripts below and one Rust program, `cargo bench --bench remote` (it
starts its own S3 server on loopback), whose report is shown as printed. The `python` section
needs the package built in release (`pip install ./python`) in the interpreter that runs this.
"""

import argparse
import datetime
import os
import subprocess
import sys

import compare  # benches/compare.py: machine(), the same description every table names

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
BEGIN = "<!-- perf-table:begin -->"
END = "<!-- perf-table:end -->"


def default_npyq():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    return os.environ.get("NPYQ", os.path.join(target, "release", "npyq"))


# (name, title, argv after the script path). `{npyq}` and `{runs}` are filled in.
SECTIONS = [
    ("compare", "Single files: convert, sum, join (against numpy, pyarrow, chdb, DuckDB, C)",
     ["compare.py", "--runs", "{runs}"]),
    ("convert", "Parquet → `.npy` and `.npy` → Parquet (against pyarrow)",
     ["convert_compare.py", "--npyq", "npyq={npyq}", "--runs", "{runs}"]),
    ("shards", "Many small files: `count(*)` and `sum` over 10,000 and 100,000 shards (against a numpy loop)",
     ["shards_compare.py", "--npyq", "{npyq}", "--runs", "{runs}"]),
    ("vector", "Similarity search: top-10 cosine over 1,000,000 × 384 (against numpy and DuckDB)",
     ["vector_compare.py", "--runs", "{runs}"]),
    # Needs the Python package installed in release (`pip install ./python`).
    ("python", "Python: reading into pyarrow, and a group-by through datafusion-python's FFI",
     ["python_compare.py", "--runs", "{runs}"]),
    # A Rust program (it starts the in-process S3 server); its plain-text report is shown as is.
    ("remote", "Remote scans on loopback S3: `object_store` alone, npyq, `s3fs` + `np.load`",
     ["cargo", "bench", "--bench", "remote"]),
]


def commit():
    out = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return (out.stdout.strip() or "unknown") + (" (with uncommitted changes)" if dirty else "")


def run_section(name, title, argv, npyq, runs):
    rust = argv[0] == "cargo"
    if rust:
        cmd = list(argv)
    else:
        cmd = [sys.executable, os.path.join(HERE, argv[0])] + [a.format(npyq=npyq, runs=runs) for a in argv[1:]]
    env = dict(os.environ, NPYQ=npyq)
    if rust:
        # The bench's Python contender (s3fs) is run with this interpreter's environment.
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    print(f"== {name}: {' '.join(cmd)}", file=sys.stderr)
    started = datetime.datetime.now(datetime.timezone.utc)
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    minutes = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds() / 60
    if rust:
        shown = " ".join(argv)
    else:
        shown = " ".join(["python3", "benches/" + argv[0]] + [a.format(npyq="target/release/npyq", runs=runs) for a in argv[1:]])
    lines = [f"#### {title}", "", f"`{shown}` ({minutes:.0f} min)", ""]
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        lines += [f"**Failed** (exit {done.returncode}):", "", "```", tail, "```"]
        print(f"   FAILED:\n{tail}", file=sys.stderr)
    elif rust:
        lines += ["```", done.stdout.strip(), "```"]
    else:
        lines.append(done.stdout.strip())
    return "\n".join(lines)


def splice(readme, body):
    with open(readme) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit(f"{readme}: the markers {BEGIN} and {END} are missing")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(readme + ".tmp", "w") as f:
        f.write(head + BEGIN + "\n" + body + "\n" + END + tail)
    os.replace(readme + ".tmp", readme)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--npyq", default=default_npyq())
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default=None, help="comma-separated section names: " + ", ".join(s[0] for s in SECTIONS))
    parser.add_argument("--dry-run", action="store_true", help="print the tables instead of rewriting README.md")
    args = parser.parse_args()
    if not os.access(args.npyq, os.X_OK):
        sys.exit(f"{args.npyq}: no npyq binary there (cargo build --release first, or --npyq PATH)")
    wanted = set(args.only.split(",")) if args.only else {s[0] for s in SECTIONS}
    unknown = wanted - {s[0] for s in SECTIONS}
    if unknown:
        sys.exit(f"unknown section(s): {', '.join(sorted(unknown))}")

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"Generated by `python3 benches/perf_table.py --runs {args.runs}` on {now}, commit {commit()}, "
             f"release build. Machine: {compare.machine()}. Ratios are contender time / npyq time (> 1: npyq faster), "
             "medians of whole processes measured side by side in this one run."]
    for name, title, argv in SECTIONS:
        if name in wanted:
            parts.append(run_section(name, title, argv, args.npyq, args.runs))
    body = "\n\n".join(parts)
    if args.dry_run:
        print(body)
    else:
        splice(os.path.join(REPO, "README.md"), body)
        print("README.md updated", file=sys.stderr)


if __name__ == "__main__":
    main()
