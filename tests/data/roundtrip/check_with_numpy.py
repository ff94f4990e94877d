#!/usr/bin/env python3
"""Check the writer's output with numpy itself (run by a human; the Rust tests need no Python).

    NPY_WRITER_OUT=/tmp/npy-out cargo test --test integration writer
    python3 tests/data/roundtrip/check_with_numpy.py /tmp/npy-out

With NPY_WRITER_OUT set, the writer tests keep a copy of every file they write that has a numpy
counterpart here, under the counterpart's name. This script loads each with `numpy.load`
(no pickles) and compares it with numpy's original: same dtype, shape and bytes, or, for the
cases where the library reader changes the type (VALUE_ONLY in make_roundtrip.py), the same
values. Exit status 1 if anything differs.
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_roundtrip import VALUE_ONLY  # noqa: E402


def same_array(ours, theirs):
    """Same dtype, shape and bytes (NaN and NaT compare equal this way)."""
    if ours.dtype != theirs.dtype:
        return f"dtype {ours.dtype.descr} != numpy's {theirs.dtype.descr}"
    if ours.shape != theirs.shape:
        return f"shape {ours.shape} != numpy's {theirs.shape}"
    if np.ascontiguousarray(ours).tobytes() != np.ascontiguousarray(theirs).tobytes():
        return "values differ"
    return None


def same_values(ours, theirs):
    """Equal values after converting numpy's array to our type (units, byte order, order, 0-d)."""
    theirs = np.ascontiguousarray(theirs.astype(ours.dtype)).reshape(-1)
    ours = ours.reshape(-1)
    if ours.shape != theirs.shape:
        return f"{ours.shape[0]} values, numpy has {theirs.shape[0]}"
    if ours.tobytes() != theirs.tobytes():
        return f"values differ: {ours!r} vs numpy's {theirs!r}"
    return None


def check(name, out_dir):
    ours_path, theirs_path = os.path.join(out_dir, name), os.path.join(HERE, name)
    if not os.path.exists(theirs_path):
        return "no numpy original of that name"
    if name.endswith(".npz"):
        with np.load(ours_path, allow_pickle=False, max_header_size=1 << 20) as ours, np.load(theirs_path, allow_pickle=False, max_header_size=1 << 20) as theirs:
            if list(ours.keys()) != list(theirs.keys()):
                return f"members {list(ours.keys())} != numpy's {list(theirs.keys())}"
            for key in ours.keys():
                problem = same_array(ours[key], theirs[key])
                if problem:
                    return f"member {key}: {problem}"
        return None
    ours, theirs = np.load(ours_path, allow_pickle=False, max_header_size=1 << 20), np.load(theirs_path, allow_pickle=False, max_header_size=1 << 20)
    if name in VALUE_ONLY:
        return same_values(ours, theirs)
    return same_array(ours, theirs)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    names = sorted(n for n in os.listdir(out_dir) if n.endswith((".npy", ".npz")))
    if not names:
        sys.exit(f"nothing to check in {out_dir}: run the tests with NPY_WRITER_OUT={out_dir}")
    failures = 0
    for name in names:
        problem = check(name, out_dir)
        note = f" (values only: {VALUE_ONLY[name]})" if name in VALUE_ONLY and not problem else ""
        print(f"{'FAIL' if problem else 'ok  '} {name}{': ' + problem if problem else note}")
        failures += bool(problem)
    print(f"{len(names) - failures} of {len(names)} files read back by numpy {np.__version__} as numpy wrote them")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
