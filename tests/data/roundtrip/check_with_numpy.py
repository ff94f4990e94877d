#!/usr/bin/env python3
"""Check the writer's output with numpy itself (run by a human; the Rust tests need no Python).

    NPY_WRITER_OUT=/tmp/npy-out cargo test --test integration writer
    python3 tests/data/roundtrip/check_with_numpy.py /tmp/npy-out

With NPY_WRITER_OUT set, the writer tests keep a copy of every file they write that has a numpy
counterpart here, under the counterpart's name. This script loads each with `numpy.load`
(no pickles) and compares it with numpy's original: same dtype, shape and bytes; for the cases
numpy would write differently (VALUE_ONLY in make_roundtrip.py) with `expected/<name>`, after
checking that those hold numpy's original values. Exit status 1 if anything differs.
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


def same_values(expected, original):
    """The expected array holds the original's values (only byte order, order, units differ)."""
    if expected.shape != original.shape:
        return f"expected shape {expected.shape} != the original's {original.shape}"
    converted = np.zeros(original.shape, dtype=expected.dtype)
    converted[...] = original
    if converted.tobytes() != expected.tobytes():
        return "expected values differ from the original's"
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
    load = lambda path: np.load(path, allow_pickle=False, max_header_size=1 << 20)  # noqa: E731
    ours, theirs = load(ours_path), load(theirs_path)
    if name in VALUE_ONLY:
        expected = load(os.path.join(HERE, "expected", name))
        return same_values(expected, theirs) or same_array(ours, expected)
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
