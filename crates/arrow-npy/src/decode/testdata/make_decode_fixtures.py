"""Writes the decode fixtures the shared corpus lacks, plus expected.json beside them.

Run from anywhere: `python3 make_decode_fixtures.py` (needs numpy). The Rust tests in
`crates/arrow-npy/src/decode/tests.rs` read the files; they never run Python. The corpus cases they also
use live in tests/data/corpus (shared with the integration tests).

Every value in expected.json is what numpy itself computes, in the form Arrow holds it:
- datetime64 in h/m/10s: `astype('M8[s]')` seconds; in D/W/M/Y: `astype('M8[D]')` days;
- timedelta64 in m/h/D/W: `astype('m8[s]')` seconds; ns/us/ms/s: the raw count;
- NaT: null; complex: [real, imag]; floats: numbers, NaN/inf as "nan"/"inf"/"-inf";
  str: the string; sub-arrays: nested lists; records: objects.
Cases with "error" must be refused with that ErrorKind.
"""
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def to_json(a):
    if a.dtype.names:
        return [{n: to_json_item(x[n], a.dtype.fields[n][0]) for n in a.dtype.names} for x in a]
    return [to_json_item(x, a.dtype) for x in a]


def to_json_item(x, dt):
    if dt.subdtype is not None:
        base, _ = dt.subdtype
        return nested(np.asarray(x), base)
    if dt.names:
        return {n: to_json_item(x[n], dt.fields[n][0]) for n in dt.names}
    return scalar(np.asarray(x, dtype=dt)[()], dt)


def nested(a, base):
    if a.ndim == 0:
        return scalar(a[()], base)
    return [nested(a[i], base) for i in range(a.shape[0])]


def scalar(v, dt):
    k = dt.kind
    if k in "Mm":
        if np.isnat(v):
            return None
        unit, _ = np.datetime_data(dt)
        if k == "M":
            target = "M8[D]" if unit in ("D", "W", "M", "Y") else ("M8[s]" if unit in ("h", "m", "s") else None)
        else:
            target = "m8[s]" if unit in ("m", "h", "D", "W", "s") else None
        if target is not None:
            return int(np.array(v).astype(target).astype(np.int64))
        return int(np.array(v).astype(np.int64))
    if k == "c":
        return [number(v.real), number(v.imag)]
    if k == "f":
        return number(v)
    if k in "iu":
        return int(v)
    if k == "U":
        return str(v)
    if k == "S":
        return bytes(v).hex()
    if k == "b":
        return bool(v)
    raise TypeError(dt)


def number(v):
    """A float as in the shared corpus: NaN and infinities as strings."""
    f = float(v)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return f


def cases():
    c = {}
    c["dt_h"] = np.array(["2020-01-01T05", "NaT", "1969-12-31T23", "1900-06-01T00"], dtype="M8[h]")
    c["dt_m"] = np.array(["2020-01-01T05:07", "1969-12-31T23:59", "NaT"], dtype="M8[m]")
    c["dt_W"] = np.array([0, 1, -1, 2600, "NaT"], dtype="M8[W]")
    c["dt_M"] = np.array([0, 1, 11, 12, -1, -12, -13, -25, 601, -8000, "NaT"], dtype="M8[M]")
    c["dt_Y"] = np.array(["1970", "2000", "1969", "1600", "2400", "NaT"], dtype="M8[Y]")
    c["dt_10s"] = np.array([0, 1, -3, 1000, "NaT"], dtype="M8[10s]")
    c["dt_3D"] = np.array([0, 1, -1, "NaT"], dtype="M8[3D]")
    c["dt_2M"] = np.array([0, 1, -1, 7], dtype="M8[2M]")
    c["td_m"] = np.array([0, 1, -90, "NaT"], dtype="m8[m]")
    c["td_h"] = np.array([0, 25, -1], dtype="m8[h]")
    c["td_D"] = np.array([0, 365, -2, "NaT"], dtype="m8[D]")
    c["td_W"] = np.array([0, 52, -1], dtype="m8[W]")
    c["td_ms"] = np.array([0, 1500, -7, "NaT"], dtype="m8[ms]")
    c["td_us"] = np.array([0, 1500, -7, "NaT"], dtype="m8[us]")
    c["be_unicode_u4"] = np.array(["abcd", "", "é日", "x\U0001F600", "a\x00b"], dtype=">U4")
    c["be_datetime_ns"] = np.array(["2020-01-01T00:00:00.123456789", "NaT", "1960-01-01"], dtype=">M8[ns]")
    c["be_datetime_D"] = np.array(["2020-01-01", "NaT", "1960-01-01"], dtype=">M8[D]")
    c["be_complex128"] = np.array([1 + 2j, -0.5j, np.inf - 1j], dtype=">c16")
    c["be_float16"] = np.array([0.5, -2.0, 65504], dtype=">f2")
    c["be_uint64"] = np.array([0, 1, 2**64 - 1, 2**40 + 3], dtype=">u8")
    c["unicode_astral"] = np.array(["\U0001F600\U00010348", "𝄞", "", "ab\U0010FFFF"], dtype="<U3")
    c["subarray_fields"] = np.array(
        [(1, np.arange(6).reshape(2, 3), [1, -2]), (2, -np.arange(6).reshape(2, 3) * 1.5, [3, 4])],
        dtype=[("id", "u1"), ("m", "<f4", (2, 3)), ("t", "<M8[s]", (2,))],
    )
    c["subarray_fields"]["t"][1, 0] = np.datetime64("NaT")
    c["bool_nonzero"] = np.frombuffer(bytes([0, 1, 2, 255, 0]), dtype=np.uint8).view("?")
    return c


def error_cases():
    return {
        "dt_D_out_of_range": (np.array([0, 2**40], dtype="M8[D]"), "ValueOutOfRange", 1),
        "dt_Y_out_of_range": (np.array([5, 10**10], dtype="M8[Y]"), "ValueOutOfRange", 1),
        "dt_h_overflow": (np.array([1, 2, 2**62], dtype="M8[h]"), "ValueOutOfRange", 2),
    }


def descr_str(dt):
    return dt.str if not dt.names else None


def main():
    manifest = {"numpy_version": np.__version__, "cases": []}
    for name, a in cases().items():
        path = f"{name}.npy"
        np.save(os.path.join(HERE, path), a)
        manifest["cases"].append(
            {"name": name, "file": path, "descr": descr_str(a.dtype), "rows": len(a), "values": to_json(a)}
        )
    for name, (a, kind, row) in error_cases().items():
        path = f"{name}.npy"
        np.save(os.path.join(HERE, path), a)
        manifest["cases"].append(
            {"name": name, "file": path, "descr": descr_str(a.dtype), "rows": len(a), "error": kind, "row": row}
        )
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1, ensure_ascii=False, allow_nan=False)


if __name__ == "__main__":
    main()
