#!/usr/bin/env python3
"""What pyarrow, DuckDB, Polars and pandas see in every output npyq writes (run by hand).

Writes types.npy (make_interop.py: one field per Arrow type the reader produces) with every
npyq writer (convert to Parquet, Arrow IPC, CSV and JSON; sql --format parquet; COPY ... STORED
AS PARQUET), reads each file with the four readers and prints a matrix: per format, one line
per column, per reader the type it saw and a verdict:

  OK     the reader's type is the right kind (a datetime is a datetime, a fixed-size list a
         fixed-size list or array, a struct a struct, bytes bytes, ...)
  =pa    not the right kind, but exactly what the reader sees in the file pyarrow itself writes
         for the same table (pq.write_table / feather): a limit of the format or the reader,
         not of npyq (e.g. Parquet has no duration type)
  TEXT   text where the format has no such type (CSV, JSON): documented in the README
  INFER  CSV/JSON: a number or date read as another number or date kind by the reader's own
         type inference (pyarrow reads 18446744073709551615 as a double, ISO dates in JSON as
         timestamps): the text is right, the guess is the reader's
  WRONG  anything else: a defect

Usage: python3 interop_matrix.py [NPYQ]   (default: $CARGO_TARGET_DIR or target, debug/npyq)
Needs numpy, pyarrow, duckdb, polars, pandas. Exit status 1 if any cell is WRONG.
"""
import json
import os
import subprocess
import sys
import tempfile

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.json as pajson
import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

# The kind each column must come back as (make_interop.py's fields).
KIND = {
    "b1": "bool",
    **{n: "int" for n in ("i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8")},
    **{n: "float" for n in ("f2", "f4", "f8")},
    "c8": "struct", "c16": "struct",
    "s": "bytes", "u": "string", "v": "bytes",
    **{n: "datetime" for n in ("dt_ns", "dt_us", "dt_ms", "dt_s", "dt_m", "dt_h")},
    "date_D": "date", "date_M": "date",
    **{n: "duration" for n in ("td_ns", "td_us", "td_ms", "td_s", "td_h")},
    "vec": "fixed list", "mat": "fixed list", "ts_pair": "fixed list",
    "rec": "struct",
}
READERS = ["pyarrow", "duckdb", "polars", "pandas"]


# Nested columns whose items must keep their datetime type (in the reader's type text).
DATETIME_INSIDE = {"ts_pair", "rec"}
DATETIME_MARKERS = ("ts[", "TIMESTAMP", "Datetime", "datetime", "Timestamp")

# --- what a reader saw, as (short type text, kind) ------------------------------------------

def kind_of_arrow(t):
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_timestamp(t):
        return "datetime"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_duration(t):
        return "duration"
    if pa.types.is_fixed_size_list(t):
        return "fixed list"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return "list"
    if pa.types.is_struct(t):
        return "struct"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t) or pa.types.is_binary_view(t):
        return "bytes"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    return "other"


def kind_of_duckdb(t):
    t = t.upper()
    if t.endswith("]") and "[" in t:
        inner = t[: t.rindex("[")]
        return "fixed list" if t[t.rindex("[") + 1:-1] else "list"
    if t.startswith("STRUCT"):
        return "struct"
    if t.startswith("TIMESTAMP"):
        return "datetime"
    return {
        "BOOLEAN": "bool", "DATE": "date", "INTERVAL": "duration", "BLOB": "bytes", "VARCHAR": "string",
        "FLOAT": "float", "DOUBLE": "float",
    }.get(t, "int" if any(k in t for k in ("INT",)) else "other")


def kind_of_polars(t):
    if t == pl.Boolean:
        return "bool"
    if t.is_integer():
        return "int"
    if t.is_float():
        return "float"
    if isinstance(t, pl.Datetime):
        return "datetime"
    if t == pl.Date:
        return "date"
    if isinstance(t, pl.Duration):
        return "duration"
    if isinstance(t, pl.Array):
        return "fixed list"
    if isinstance(t, pl.List):
        return "list"
    if isinstance(t, pl.Struct):
        return "struct"
    if t == pl.Binary:
        return "bytes"
    if t in (pl.String, pl.Utf8):
        return "string"
    return "other"


def kind_of_pandas(series):
    dtype = series.dtype
    text = str(dtype)
    if isinstance(dtype, pd.ArrowDtype):
        return text.replace("[pyarrow]", "") + "[pa]", kind_of_arrow(dtype.pyarrow_dtype)
    if text == "bool":
        return text, "bool"
    if text.startswith(("int", "uint", "Int", "UInt")):
        return text, "int"
    if text.startswith(("float", "Float")):
        return text, "float"
    if text.startswith("datetime64"):
        return text, "datetime"
    if text.startswith("timedelta64"):
        return text, "duration"
    if text in ("object", "str", "string"):
        # Look at the values: pandas keeps dates, bytes, dicts, arrays as Python objects.
        sample = next((v for v in series if v is not None and not (isinstance(v, float) and np.isnan(v))), None)
        if sample is None:
            return text, "other"
        name = type(sample).__name__
        kinds = {"bytes": "bytes", "str": "string", "date": "date", "dict": "struct", "Timestamp": "datetime",
                 "datetime": "datetime", "timedelta": "duration", "Timedelta": "duration"}
        if isinstance(sample, np.ndarray):
            return f"{text}(ndarray {sample.dtype})", "fixed list"
        if isinstance(sample, list):
            return f"{text}(list)", "list"
        if isinstance(sample, dict):
            inner = ",".join(type(v).__name__ for v in sample.values())
            return f"{text}(dict {inner})", "struct"
        return f"{text}({name})", kinds.get(name, "other")
    return text, "other"


def short_arrow(t):
    return str(t).replace("timestamp", "ts").replace("fixed_size_list", "fsl").replace("<item: ", "<")


# --- the readers, per format ------------------------------------------------------------------

def read_pyarrow(fmt, path):
    if fmt == "parquet":
        t = pq.read_table(path)
    elif fmt == "arrow":
        t = feather.read_table(path)
    elif fmt == "csv":
        t = pacsv.read_csv(path)
    else:
        t = pajson.read_json(path)
    return {f.name: (short_arrow(f.type), kind_of_arrow(f.type)) for f in t.schema}


def read_duckdb(fmt, path):
    """Column by column, values fetched: DuckDB refuses some Arrow types only when converting
    values, and one refused column should not hide what it makes of the others."""
    con = duckdb.connect()
    if fmt == "arrow":
        # DuckDB reads Arrow IPC through pyarrow here (its arrow extension is not installed).
        table = feather.read_table(path)
        source = lambda name: con.from_arrow(table.select([name]))  # noqa: E731
        names = table.column_names
    else:
        reader = {"parquet": f"read_parquet('{path}')", "csv": f"read_csv('{path}')",
                  "json": f"read_json('{path}', format='newline_delimited')"}[fmt]
        source = lambda name: con.sql(f'SELECT "{name}" FROM {reader}')  # noqa: E731
        names = con.sql(f"SELECT * FROM {reader}").columns
    out = {}
    for name in names:
        try:
            rel = source(name)
            rel.fetchall()
            t = str(rel.types[0])
            out[name] = (t, kind_of_duckdb(t))
        except Exception as e:
            out[name] = (f"{type(e).__name__}: {str(e).splitlines()[0][:40]}", "error")
    return out


def read_polars(fmt, path):
    if fmt == "parquet":
        df = pl.read_parquet(path)
    elif fmt == "arrow":
        df = pl.read_ipc(path)
    elif fmt == "csv":
        df = pl.read_csv(path)
    else:
        df = pl.read_ndjson(path)
    return {n: (str(t), kind_of_polars(t)) for n, t in df.schema.items()}


def read_pandas(fmt, path):
    if fmt == "parquet":
        df = pd.read_parquet(path)
    elif fmt == "arrow":
        df = pd.read_feather(path)
    elif fmt == "csv":
        df = pd.read_csv(path)
    else:
        df = pd.read_json(path, lines=True)
    out = {}
    for name in df.columns:
        text, kind = kind_of_pandas(df[name])
        out[name] = (text, kind)
    return out


READ = {"pyarrow": read_pyarrow, "duckdb": read_duckdb, "polars": read_polars, "pandas": read_pandas}


def seen(reader, fmt, path):
    try:
        return READ[reader](fmt, path), None
    except Exception as e:  # a reader refusing the whole file is a result too
        return {}, f"{type(e).__name__}: {str(e).splitlines()[0][:60]}"


# --- verdicts ----------------------------------------------------------------------------------

def text_format_cell(name, kind, columns):
    """CSV/JSON: what a column became, and the verdict."""
    if name in columns:
        text, got = columns[name]
        if got == kind or (kind == "fixed list" and got == "list"):
            return text, "OK"
        if got == "string":
            return text, "TEXT"
        if (kind, got) in (("int", "float"), ("date", "datetime")):
            return text, "INFER"
        return text, "WRONG"
    # CSV flattens a struct into name.child columns.
    children = {k: v for k, v in columns.items() if k.startswith(name + ".")}
    if kind == "struct" and children:
        inner = ",".join(sorted({v[1] for v in children.values()}))
        verdict = "TEXT" if "string" in inner else "OK"
        if any(v[1] not in ("float", "datetime", "string") for v in children.values()):
            verdict = "WRONG"
        return f"{len(children)} cols: {inner}"[:28], verdict
    return "missing", "WRONG"


def run(cmd):
    """Run an npyq command; its error line when it fails (the output then counts as WRONG)."""
    done = subprocess.run(cmd, capture_output=True, text=True)
    return None if done.returncode == 0 else done.stderr.strip().splitlines()[-1][:60]


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    npyq = sys.argv[1] if len(sys.argv) > 1 else os.path.join(target, "debug", "npyq")
    out = tempfile.mkdtemp(prefix="npyq-interop-")
    subprocess.run([sys.executable, os.path.join(HERE, "make_interop.py"), out], check=True, capture_output=True)
    src = os.path.join(out, "types.npy")
    query = "SELECT * EXCLUDE (_row) FROM types"

    outputs = []  # (label, format, path, npyq's error if it failed)
    for ext, fmt in (("parquet", "parquet"), ("arrow", "arrow"), ("csv", "csv"), ("json", "json")):
        path = os.path.join(out, f"convert.{ext}")
        outputs.append((f"convert .{ext}", fmt, path, run([npyq, "convert", src, path])))
    for fmt in ("parquet", "csv", "json"):
        path = os.path.join(out, f"sql.{fmt}")
        failed = run([npyq, "sql", "--dir", out, "--format", fmt, "--output", path, query])
        outputs.append((f"sql --format {fmt}", fmt, path, failed))
    path = os.path.join(out, "copy.parquet")
    failed = run([npyq, "sql", "--dir", out, f"COPY ({query}) TO '{path}' STORED AS PARQUET"])
    outputs.append(("COPY STORED AS PARQUET", "parquet", path, failed))

    # What the readers see in pyarrow's own files of the same table (the =pa reference).
    table = feather.read_table(os.path.join(out, "convert.arrow"))
    reference = {}
    pq.write_table(table, os.path.join(out, "pyarrow.parquet"))
    feather.write_feather(table, os.path.join(out, "pyarrow.arrow"), compression="uncompressed")
    for fmt in ("parquet", "arrow"):
        for reader in READERS:
            reference[(fmt, reader)] = seen(reader, fmt, os.path.join(out, f"pyarrow.{fmt}"))[0]

    wrong = 0
    counts = {}
    versions = (f"numpy {np.__version__}, pyarrow {pa.__version__}, duckdb {duckdb.__version__}, "
                f"polars {pl.__version__}, pandas {pd.__version__}")
    print(f"# npyq outputs of tests/data/interop/types.npy, read by: {versions}\n")
    for label, fmt, path, failed in outputs:
        print(f"## {label}\n")
        if failed:
            print(f"npyq failed: {failed}: WRONG\n")
            wrong += 1
            counts["WRONG"] = counts.get("WRONG", 0) + 1
            continue
        views = {reader: seen(reader, fmt, path) for reader in READERS}
        print("| column | kind | " + " | ".join(READERS) + " |")
        print("|---|---|" + "---|" * len(READERS))
        for name, kind in KIND.items():
            cells = []
            for reader in READERS:
                columns, error = views[reader]
                if error:
                    text, verdict = error[:40], "WRONG"
                elif fmt in ("csv", "json"):
                    text, verdict = text_format_cell(name, kind, columns)
                elif name not in columns:
                    text, verdict = "missing", "WRONG"
                else:
                    text, got = columns[name]
                    if got == kind and (name not in DATETIME_INSIDE or any(m in text for m in DATETIME_MARKERS)):
                        verdict = "OK"
                    elif reference.get((fmt, reader), {}).get(name) == (text, got):
                        verdict = "=pa"
                    else:
                        verdict = "WRONG"
                counts[verdict] = counts.get(verdict, 0) + 1
                wrong += verdict == "WRONG"
                cells.append(f"{text[:32]} {verdict}")
            print(f"| {name} | {kind} | " + " | ".join(cells) + " |")
        print()
    print("verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    sys.exit(1 if wrong else 0)


if __name__ == "__main__":
    main()
