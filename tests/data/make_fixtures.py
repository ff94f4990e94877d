#!/usr/bin/env python3
"""Write the project's own .npy/.npz fixtures: what the shared corpus (tests/data/corpus) lacks.

Same output format as corpus/make_corpus.py: files plus expected.json, whose values are what
numpy itself reads back (np.load), encoded as corpus/make_corpus.py's ENCODING says. Every
file numpy can read is checked by reading it back with np.load here, so numpy stays the oracle
even for files rewritten by hand (the "other writers" cases).

Case keys, beyond the corpus's:
- "error": the file (or, with "member", that .npz member) must be refused with an error naming
  the file, at open or at the latest while reading its batches.
- "table_error" (archives): opening the whole archive as one table must fail; each member in
  "members" still opens alone and has those values.
- "bad_members" (archives): member name -> why; opening that member alone must fail.
- "whole_table": "optional" (archives): opening the whole archive may fail or succeed; if it
  succeeds its columns are exactly "members".

Usage: python3 make_fixtures.py OUT_DIR   (the tests use tests/data/fixtures)
Deterministic: fixed seeds, no timestamps (zip entries get a fixed date).
"""
import io
import json
import os
import struct
import sys
import zipfile

import numpy as np
from numpy.lib import format as npformat

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus"))
import make_corpus  # noqa: E402
from make_corpus import ENCODING, describe, enc_value, rows_of  # noqa: E402


def enc_array(arr, dt):
    """make_corpus.enc_array, but also for str/bytes elements of multi-dimensional arrays
    (indexing those gives Python-like scalars that `[()]` cannot index)."""
    arr = np.asarray(arr)
    if arr.ndim == 0:
        return enc_value(arr[()], dt)
    return [enc_array(arr[i], dt) for i in range(arr.shape[0])]


make_corpus.enc_array = enc_array

FIXED_DATE = (2026, 1, 1, 0, 0, 0)

CASE_KEYS = {
    "descr, shape, fortran_order, rows, values": "as in the corpus: numpy's header facts and values",
    "archive, members": "an .npz: 'stored', 'deflated' or 'mixed', and each .npy member as a plain case",
    "error": "the file (or the member named by 'member') must be refused, naming the file",
    "mentions": "strings the error message must also contain",
    "table_error": "the archive as one table must be refused; each member still opens alone",
    "bad_members": "member name -> why opening that member alone must fail",
    "whole_table": "'optional': the archive as one table may be refused (then naming the file)",
    "unreadable_members": "member -> why it fails when read to its end; the archive still opens as one "
                          "table and a projection of the other members reads their values",
}


# --------------------------------------------------------------------------------------------
# Writing helpers


def npy_bytes(arr, version=None):
    buf = io.BytesIO()
    if version is None:
        np.save(buf, arr, allow_pickle=False)
    else:
        npformat.write_array(buf, arr, version=version, allow_pickle=False)
    return buf.getvalue()


def split_npy(raw):
    """(version, header text, data) of numpy's own output."""
    major = raw[6]
    if major == 1:
        (hlen,) = struct.unpack("<H", raw[8:10])
        start = 10
    else:
        (hlen,) = struct.unpack("<I", raw[8:12])
        start = 12
    return (major, raw[7]), raw[start:start + hlen], raw[start + hlen:]


def assemble_npy(dict_text, data, version=(1, 0), align=64, encoding="latin1"):
    """An .npy file with this header dict text, padded with spaces and a newline so that the
    data start at a multiple of `align` (numpy's writer uses 64; align=1 means no padding)."""
    body = dict_text.encode(encoding)
    prefix = 10 if version == (1, 0) else 12
    total = prefix + len(body) + 1
    pad = (-total) % align
    body = body + b" " * pad + b"\n"
    if version == (1, 0):
        length = struct.pack("<H", len(body))
    else:
        length = struct.pack("<I", len(body))
    return b"\x93NUMPY" + bytes(version) + length + body + data


def zip_write(path, members, compression=zipfile.ZIP_STORED):
    """A zip with these (name, bytes) members and a fixed date, as np.savez would (zip64 forced,
    as numpy does), but deterministic."""
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.compress_type = compression
            with zf.open(info, "w", force_zip64=True) as fh:
                fh.write(data)


def savez(path, compressed, *args, **kwargs):
    """np.savez / np.savez_compressed member layout (names arr_0.. for positional arrays),
    written deterministically."""
    members = [(f"arr_{i}.npy", npy_bytes(a)) for i, a in enumerate(args)]
    members += [(f"{k}.npy", npy_bytes(a)) for k, a in kwargs.items()]
    zip_write(path, members, zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED)


# --------------------------------------------------------------------------------------------
# Manifest helpers


class Manifest:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.cases = []

    def path(self, fn):
        return os.path.join(self.out_dir, fn)

    def npy(self, name, arr, version=None):
        """np.save (or write_array with a version) and record what numpy reads back."""
        fn = name + ".npy"
        with open(self.path(fn), "wb") as fh:
            fh.write(npy_bytes(arr, version))
        self.npy_file(name, fn)

    def raw_npy(self, name, raw, descr=None):
        """A hand-assembled .npy that numpy must accept; values are np.load's."""
        fn = name + ".npy"
        with open(self.path(fn), "wb") as fh:
            fh.write(raw)
        self.npy_file(name, fn, descr)

    def npy_file(self, name, fn, descr=None):
        back = np.load(self.path(fn), allow_pickle=False, max_header_size=1 << 20)
        case = {"name": name, "file": fn, **describe(back), "values": rows_of(back)}
        if descr is not None:
            case["descr"] = descr
        self.cases.append(case)

    def npz(self, name, fn, archive, extra=None):
        """Record an archive already written at fn: every .npy member as np.load reads it."""
        members = {}
        with zipfile.ZipFile(self.path(fn)) as zf:
            npy_names = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
        with np.load(self.path(fn), allow_pickle=False, max_header_size=1 << 20) as z:
            for member in npy_names:
                arr = z[member]
                members[member] = {**describe(arr), "values": rows_of(arr)}
        case = {"name": name, "file": fn, "archive": archive, "members": members}
        case.update(extra or {})
        self.cases.append(case)

    def error(self, name, fn, raw, why, member=None, mentions=None):
        with open(self.path(fn), "wb") as fh:
            fh.write(raw)
        case = {"name": name, "file": fn, "error": why}
        if member is not None:
            case["member"] = member
        if mentions:
            case["mentions"] = mentions
        self.cases.append(case)

    def write(self):
        manifest = {"numpy_version": np.__version__, "encoding": ENCODING, "case_keys": CASE_KEYS}
        head = json.dumps(manifest, ensure_ascii=False, allow_nan=False)[:-1]
        lines = [json.dumps(c, ensure_ascii=False, allow_nan=False, separators=(",", ":")) for c in self.cases]
        with open(self.path("expected.json"), "w", encoding="utf-8") as fh:
            fh.write(head + ', "cases": [\n' + ",\n".join(lines) + "\n]}\n")


# --------------------------------------------------------------------------------------------
# Cases


def dtype_cases(m, rng):
    """SPEC §3 rows the corpus lacks: datetime/timedelta units and multiples, NaT everywhere."""
    dt_values = ["2020-01-01T00:00", "NaT", "1969-12-31T23:00", "1900-03-01T12:34", "2262-01-01T00:00"]
    for unit in ["h", "m"]:
        m.npy(f"datetime64_{unit}", np.array(dt_values, dtype=f"M8[{unit}]"))
    m.npy("datetime64_W", np.array(["2020-01-02", "NaT", "1969-12-25", "1900-01-01", "1970-01-01"], dtype="M8[W]"))
    m.npy("datetime64_M", np.array(["2020-02", "NaT", "1969-12", "1900-01", "1970-01", "2000-03", "1600-02"], dtype="M8[M]"))
    m.npy("datetime64_Y", np.array(["2020", "NaT", "1969", "1900", "1970", "2400", "1600"], dtype="M8[Y]"))
    m.npy("datetime64_10s", np.array([0, 1, -1, 123456789, np.iinfo(np.int64).min], dtype="M8[10s]"))
    m.npy("datetime64_25ms", np.array([0, 7, -3, "NaT", 40_000_000_000], dtype="M8[25ms]"))
    m.npy("datetime64_2D", np.array([0, 1, -1, 9000, "NaT"], dtype="M8[2D]"))
    m.npy("datetime64_3M", np.array([0, 1, -1, 100, "NaT"], dtype="M8[3M]"))
    m.npy("datetime64_6h", np.array([0, 1, -1, 100000, "NaT"], dtype="M8[6h]"))
    m.npy("datetime64_us_fraction", np.array(["2020-01-01T00:00:00.123456", "NaT"], dtype="M8[us]"))
    for unit in ["ms", "us", "m", "h", "D", "W"]:
        m.npy(f"timedelta64_{unit}", np.array([0, 1, -1, 12345, "NaT", -98765], dtype=f"m8[{unit}]"))
    for spec in ["15m", "2W", "100us", "3h", "7D", "5ns", "30s"]:
        m.npy(f"timedelta64_{spec}", np.array([0, 1, -2, 1000, "NaT"], dtype=f"m8[{spec}]"))


def big_endian_cases(m, rng):
    """Byte-swapped to native; values equal numpy's."""
    m.npy("be_i2", np.array([1, -2, 0x1234, -32768], dtype=">i2"))
    m.npy("be_i8", np.array([1, -2, 0x0123456789ABCDEF, np.iinfo(np.int64).min], dtype=">i8"))
    m.npy("be_u2", np.array([1, 0xFFFE, 0x1234], dtype=">u2"))
    m.npy("be_u4", np.array([1, 0xFFFFFFFE, 0x12345678], dtype=">u4"))
    m.npy("be_u8", np.array([1, 0xFFFFFFFFFFFFFFFE, 0x0123456789ABCDEF], dtype=">u8"))
    m.npy("be_f2", np.array([0.5, -1.25, np.inf, np.nan, 65504, 6e-8], dtype=">f2"))
    m.npy("be_f4", rng.standard_normal(5).astype(">f4"))
    m.npy("be_c8", (rng.standard_normal(3) + 1j * rng.standard_normal(3)).astype(">c8"))
    m.npy("be_c16", np.array([1 + 2j, -0.5j, complex(np.nan, -np.inf)], dtype=">c16"))
    m.npy("be_U4", np.array(["abcd", "", "é日", "\U0001F600x"], dtype=">U4"))
    m.npy("be_M8_ns", np.array(["2020-01-01T00:00:00.000000001", "NaT", "1969-12-31T23:59:59.999999999"], dtype=">M8[ns]"))
    m.npy("be_M8_D", np.array(["2020-01-01", "NaT", "1900-01-01"], dtype=">M8[D]"))
    m.npy("be_M8_h", np.array(["2020-01-01T05", "NaT", "1960-01-01T00"], dtype=">M8[h]"))
    m.npy("be_m8_us", np.array([1, -1, "NaT", 10**12], dtype=">m8[us]"))
    m.npy("be_matrix_f8_3x2", rng.standard_normal((3, 2)).astype(">f8"))
    rec = np.dtype([("a", ">i4"), ("b", ">f8"), ("c", ">u2"), ("d", ">c8"), ("e", ">U2"),
                    ("t", ">M8[s]"), ("v", ">i2", (2,)), ("n", [("x", ">f4"), ("y", "<f4")])])
    m.npy("be_record", np.array([(1, 1.5, 7, 1 + 1j, "ab", "2020-01-01T00:00:01", (1, -1), (0.5, 1.5)),
                                 (-2, -0.0, 65535, -1j, "", "NaT", (300, -300), (-2.5, 3.0))], dtype=rec))


def layout_cases(m, rng):
    """Fortran order, 0-d, empty, 3-D, strings, sub-arrays, nested records, padding, titles."""
    f4 = rng.standard_normal((4, 3)).astype(np.float32)
    m.npy("fortran_f4_4x3", np.asfortranarray(f4))
    m.npy("fortran_f4_2x3x4", np.asfortranarray(rng.standard_normal((2, 3, 4)).astype(np.float32)))
    m.npy("fortran_i8_3x5", np.asfortranarray(np.arange(15, dtype=np.int64).reshape(3, 5) * -7))
    m.npy("fortran_i8_3x2x4", np.asfortranarray(np.arange(24, dtype=np.int64).reshape(3, 2, 4) ** 3))
    m.npy("fortran_bool_3x4", np.asfortranarray(rng.integers(0, 2, (3, 4)).astype(bool)))
    m.npy("fortran_bool_2x3x2", np.asfortranarray(rng.integers(0, 2, (2, 3, 2)).astype(bool)))
    words = np.array(["a", "bc", "déf", "日本", "", "xyz", "\U0001F600", "q", "rs", "tuv", "w", "zz"], dtype="U3")
    m.npy("fortran_U3_4x3", np.asfortranarray(words.reshape(4, 3)))
    m.npy("fortran_U3_2x3x2", np.asfortranarray(words.reshape(2, 3, 2)))
    rec = np.dtype([("id", "<i4"), ("x", "<f8"), ("s", "S3")])
    recs = np.array([(i, i / 4, b"r%d" % i) for i in range(6)], dtype=rec)
    m.npy("fortran_record_3x2", np.asfortranarray(recs.reshape(3, 2)))
    m.npy("fortran_record_1x3x2", np.asfortranarray(recs.reshape(1, 3, 2)))
    m.npy("fortran_be_i4_3x2", np.asfortranarray(np.array([[1, 2], [3, 4], [5, -6]], dtype=">i4")))

    m.npy("scalar_0d_int", np.array(-42, dtype=np.int16))
    m.npy("scalar_0d_U", np.array("héllo", dtype="U7"))
    m.npy("scalar_0d_record", np.array((7, 2.5, b"ok"), dtype=[("a", "<i4"), ("b", "<f8"), ("c", "S4")]))
    m.npy("empty_record", np.zeros((0,), dtype=[("a", "<i4"), ("b", "<f8"), ("c", "U2")]))
    m.npy("empty_i4_0x3", np.zeros((0, 3), dtype=np.int32))

    m.npy("bytes_interior_nul", np.array([b"a\x00b", b"\x00\x00c", b"\x00", b"ab\x00\x00", b"\xff\x00\xfe\x00\x01"], dtype="S5"))
    m.npy("unicode_interior_nul", np.array(["a\x00b", "\x00\x00c", "\x00", "ab\x00"], dtype="U4"))
    m.npy("unicode_astral", np.array(["\U0001D11E", "\U0001F600\U0001F600", "a\U0010FFFF", "\u00e9\U00020000z", ""], dtype="U4"))

    sub = np.dtype([("id", "<u2"), ("v", "<f4", (2, 3)), ("w", "<i8", (2,))])
    m.npy("subarray_field", np.array([(i, np.arange(6).reshape(2, 3) + i / 2, (i, -i)) for i in range(4)], dtype=sub))
    deep = np.dtype([("a", [("b", [("c", "<i2"), ("d", "<f8")]), ("e", "u1")]), ("z", "<i4")])
    m.npy("nested_two_deep", np.array([(((1, 0.5), 2), 3), (((-4, -1.5), 255), -6)], dtype=deep))
    padded = np.dtype({"names": ["a", "b"], "formats": ["u1", "<i8"], "offsets": [0, 12], "itemsize": 24})
    arr = np.zeros(3, dtype=padded)
    arr["a"] = [1, 2, 255]
    arr["b"] = [10, -20, 2**62]
    m.npy("padding_offsets", arr)
    titled = np.dtype([(("Title A", "a"), "<i4"), ("b", "<f8")])
    m.npy("titles", np.array([(1, 0.5), (-2, 1e100)], dtype=titled))

    # Zero-size inner dimensions: rows of empty lists, no data bytes at all.
    m.npy("inner_empty_f4_3x0", np.zeros((3, 0), dtype=np.float32))
    m.npy("inner_empty_i8_2x0x4", np.zeros((2, 0, 4), dtype=np.int64))
    m.npy("record_zero_size_subarray", np.array([(1, []), (2, [])], dtype=[("a", "<i4"), ("e", "<f4", (0,))]))
    # Void, complex and unicode fields side by side; datetimes at the edges of i64.
    m.npy("record_void_complex_unicode", np.array([(b"\x01\x02\x03", 1 - 2j, "é", "2020-01-01"), (b"\x00\x00\x00", np.nan + 0j, "", "NaT")],
                                                  dtype=[("v", "V3"), ("c", "<c8"), ("u", "<U1"), ("d", "<M8[D]")]))
    m.npy("datetime64_s_extremes", np.array([np.iinfo(np.int64).min + 1, np.iinfo(np.int64).max, 0], dtype="M8[s]"))
    # Thirty-one axes (numpy allows 64): thirty levels of FixedSizeList.
    m.npy("deep_31_axes", np.arange(2, dtype=np.int8).reshape((2,) + (1,) * 30))
    m.npy("many_rows_i32", np.arange(200_000, dtype=np.int32) - 1000)
    m.npy("tensor_f8_5x2x3", rng.standard_normal((5, 2, 3)))


def other_writer_cases(m):
    """numpy's own bytes with the header text rewritten the way other writers write it."""
    arr = np.arange(12, dtype=np.float32).reshape(3, 4) * 1.5
    _, _, data = split_npy(npy_bytes(arr))
    variants = {
        "hdr_trailing_comma_in_tuple": "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4, ), }",
        "hdr_no_trailing_comma": "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)}",
        "hdr_keys_reordered": "{'shape': (3, 4), 'fortran_order': False, 'descr': '<f4', }",
        "hdr_double_quotes": '{"descr": "<f4", "fortran_order": False, "shape": (3, 4), }',
        "hdr_python2_long": "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }",
        "hdr_no_spaces": "{'descr':'<f4','fortran_order':False,'shape':(3,4)}",
    }
    for name, text in variants.items():
        m.raw_npy(name, assemble_npy(text, data), descr="<f4")
    # Native and bare type strings.
    m.raw_npy("hdr_descr_native_eq", assemble_npy("{'descr': '=f4', 'fortran_order': False, 'shape': (3, 4), }", data), descr="=f4")
    m.raw_npy("hdr_descr_bare", assemble_npy("{'descr': 'f4', 'fortran_order': False, 'shape': (3, 4), }", data), descr="f4")
    # 1-D shape written as (12,) by numpy and as (12, ) or [12]-less forms by others.
    m.raw_npy("hdr_1d_space", assemble_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (12, ), }", data), descr="<f4")
    # Data not 64-byte aligned (and not even 8-byte aligned): must be read, copied if need be.
    f8 = np.array([1.5, -2.25, 1e300, np.nan], dtype="<f8")
    _, _, data8 = split_npy(npy_bytes(f8))
    m.raw_npy("hdr_unaligned_data_f8", assemble_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4,), } ", data8, align=1), descr="<f8")
    m.raw_npy("hdr_unaligned_data_i4_2d", assemble_npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }  ",
                                                       np.arange(6, dtype="<i4").tobytes(), align=1), descr="<i4")
    # More text numpy reads: newlines and tabs inside the dict, a 0-d shape, a record descr of
    # lists in double quotes.
    m.raw_npy("hdr_newlines_tabs", assemble_npy("{'descr':\t'<f4',\n 'fortran_order': False,\n 'shape': (3,\n 4), }", data), descr="<f4")
    m.raw_npy("hdr_shape_0d", assemble_npy("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", struct.pack("<q", -5)), descr="<i8")
    m.raw_npy("hdr_record_lists_double_quotes",
              assemble_npy('{"descr": [["a", "<i4"], ["b", "<f8", [2]]], "fortran_order": False, "shape": (2,)}',
                           np.array([(1, (0.5, 1.5)), (-1, (2.5, -3.5))], dtype=[("a", "<i4"), ("b", "<f8", (2,))]).tobytes()))
    # Bytes numpy reads as True although other writers put 2 or 255 there.
    m.raw_npy("hdr_bool_nonzero_bytes", assemble_npy("{'descr': '|b1', 'fortran_order': False, 'shape': (5,), }", bytes([0, 1, 2, 255, 0])),
              descr="|b1")
    # A version 1.0 header in latin-1 (numpy writes 1.0 when the text encodes in latin-1).
    latin = np.array([(1, 2.5), (3, -1.0)], dtype=[("température", "<i4"), ("b", "<f8")])
    raw = npy_bytes(latin)
    assert raw[6] == 1 and "température".encode("latin1") in raw, "numpy should have written latin-1 1.0"
    m.raw_npy("version_1_0_latin1_field_name", raw)
    # numpy's one-character type codes, which hand-written headers use.
    m.raw_npy("hdr_descr_question_mark", assemble_npy("{'descr': '?', 'fortran_order': False, 'shape': (3,), }", b"\x00\x01\x01"),
              descr="?")
    m.raw_npy("hdr_descr_char_d", assemble_npy("{'descr': 'd', 'fortran_order': False, 'shape': (3,), }", data8[:24]), descr="d")
    m.raw_npy("hdr_descr_char_codes_record",
              assemble_npy("{'descr': [('a', '?'), ('b', '<d'), ('c', 'B'), ('d', '<h')], 'fortran_order': False, 'shape': (1,), }",
                           b"\x01" + struct.pack("<d", 2.5) + b"\x07" + struct.pack("<h", -5)))
    # A header that does not end in a newline (numpy reads it).
    body = b"{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }"
    body += b" " * (64 - 10 - len(body))
    m.raw_npy("hdr_no_final_newline", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body + data8, descr="<f8")
    # A key given twice: Python's literal_eval keeps the last, so numpy reads '<f8', not '<i8'.
    m.raw_npy("hdr_duplicate_key", assemble_npy("{'descr': '<i8', 'descr': '<f8', 'fortran_order': False, 'shape': (3,), }",
                                                data8[:24]), descr="<f8")
    # Escapes in field names (\x and \u, as Python's repr writes non-ASCII in some versions).
    m.raw_npy("hdr_escaped_field_names",
              assemble_npy("{'descr': [('\\xe9', '<f8'), ('\\u65e5', '<i4')], 'fortran_order': False, 'shape': (1,), }",
                           struct.pack("<di", 2.5, -7)))
    # Bytes after the data (some writers pad files): numpy ignores them.
    m.raw_npy("hdr_trailing_bytes", npy_bytes(np.array([1, -2, 3], dtype="<i2")) + b"\x00" * 13 + b"junk", descr="<i2")
    # Header versions: a record header over 64 KiB (numpy picks 2.0 itself), and 3.0 with
    # non-Latin names.
    wide = np.dtype([(f"field_{i:04d}", "<i2") for i in range(4000)])
    warr = np.zeros(3, dtype=wide)
    for i in range(0, 4000, 7):
        warr[f"field_{i:04d}"] = [i, -i, i // 2]
    raw = npy_bytes(warr)
    assert raw[6] == 2, "numpy should have written a 2.0 header"
    m.raw_npy("version_2_0_wide_header", raw)
    v3 = np.array([(1, "α"), (2, "日本")], dtype=[("名前", "<i4"), ("Ωμέγα", "<U2")])
    m.npy("version_3_0_non_latin", v3, version=(3, 0))


def literal_cases(m):
    """The edge of "what ast.literal_eval and numpy accept" (SPEC §2): Python literal forms no
    numpy writes but numpy reads, and near misses numpy refuses."""
    data = (np.arange(12, dtype="<f8") - 3.5).tobytes()  # 3 rows, or 12 for (1_2,); the rest is trailing
    accepted = {
        "lit_comment": "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), } # a comment",
        "lit_hex_int": "{'descr': '<f8', 'fortran_order': False, 'shape': (0x3,), }",
        "lit_underscore_int": "{'descr': '<f8', 'fortran_order': False, 'shape': (1_2,), }",
        "lit_plus_sign": "{'descr': '<f8', 'fortran_order': False, 'shape': (+3,), }",
        "lit_parenthesized_str": "{'descr': ('<f8'), 'fortran_order': False, 'shape': (3,), }",
        "lit_concatenated_str": "{'descr': '<' 'f8', 'fortran_order': False, 'shape': (3,), }",
        "lit_u_prefix": "{'descr': u'<f8', 'fortran_order': False, 'shape': (3,), }",
        "lit_r_prefix": "{'descr': r'<f8', 'fortran_order': False, 'shape': (3,), }",
        "lit_triple_quotes": "{'descr': '''<f8''', 'fortran_order': False, 'shape': (3,), }",
    }
    for name, text in accepted.items():
        m.raw_npy(name, assemble_npy(text, data), descr="<f8")
    refused = {
        "bad_lit_trailing_garbage": "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), } garbage",
        "bad_lit_bytes_descr": "{'descr': b'<f8', 'fortran_order': False, 'shape': (3,), }",
        "bad_lit_int_fortran_order": "{'descr': '<f8', 'fortran_order': 0, 'shape': (3,), }",
        "bad_lit_list_shape": "{'descr': '<f8', 'fortran_order': False, 'shape': [3], }",
    }
    for name, text in refused.items():
        raw = assemble_npy(text, data)
        try:
            np.load(io.BytesIO(raw))
            raise AssertionError(f"numpy accepted {text}")
        except (ValueError, TypeError):
            pass
        m.error(name, name + ".npy", raw, f"numpy refuses this header: {text}")


def npz_cases(m, rng):
    feats = rng.standard_normal((4, 3)).astype(np.float32)
    labels = np.array([3, 1, 4, 1], dtype=np.int64)
    savez(m.path("positional.npz"), False, feats, labels)
    m.npz("npz_positional", "positional.npz", "stored")

    rec = np.array([(1, 0.5, b"a"), (2, -1.5, b"bb"), (3, 2.5, b""), (4, 1e10, b"dddd")],
                   dtype=[("id", "<i4"), ("score", "<f8"), ("tag", "S4")])
    cube = np.arange(24, dtype=np.int16).reshape(4, 3, 2)
    fort = np.asfortranarray(rng.standard_normal((4, 5)))
    names = np.array(["x", "yy", "zzz", "日本"], dtype="U3")
    when = np.array(["2020-01-01", "NaT", "1969-07-20", "2000-02-29"], dtype="M8[D]")
    for fn, compressed in [("mixed_stored.npz", False), ("mixed_deflated.npz", True)]:
        savez(m.path(fn), compressed, rec=rec, cube=cube, fort=fort, names=names, when=when)
        m.npz(fn[:-4], fn, "deflated" if compressed else "stored")

    big = (np.arange(100_000, dtype=np.int32) * 5) % 1_000_003 - 3
    savez(m.path("long_deflated.npz"), True, big=big, small=(np.arange(100_000) % 7).astype(np.int8))
    m.npz("npz_long_deflated", "long_deflated.npz", "deflated")

    savez(m.path("ragged_lengths.npz"), False, a=np.arange(3, dtype=np.int8), b=np.arange(5, dtype=np.int8),
          c=np.zeros((3, 2), dtype=np.float32))
    m.npz("npz_ragged_lengths", "ragged_lengths.npz", "stored",
          {"table_error": "members have different first-axis lengths: a=3, b=5, c=3", "mentions": ["a", "b", "c", "3", "5"]})

    zip_write(m.path("with_text_member.npz"), [
        ("a.npy", npy_bytes(np.array([1, 2, 3], dtype=np.int32))),
        ("notes.txt", b"this archive also holds a text file\n"),
        ("b.npy", npy_bytes(np.array([0.5, 1.5, 2.5]))),
    ], zipfile.ZIP_DEFLATED)
    m.npz("npz_with_text_member", "with_text_member.npz", "deflated",
          {"bad_members": {"notes.txt": "not an .npy member"}, "whole_table": "optional"})

    savez(m.path("unicode_names.npz"), True, **{"température": np.array([1.5, -2.5]), "日本": np.array(["a", "日"], dtype="U1")})
    m.npz("npz_unicode_names", "unicode_names.npz", "deflated")
    savez(m.path("scalar_members.npz"), False, x=np.array(3.5), y=np.array([7], dtype=np.uint16),
          r=np.array((1, b"z"), dtype=[("i", "<i2"), ("b", "S1")]))
    m.npz("npz_scalar_members", "scalar_members.npz", "stored")
    savez(m.path("empty_members.npz"), True, a=np.zeros(0, dtype=np.float32), b=np.zeros((0, 3), dtype=np.int64))
    m.npz("npz_empty_members", "empty_members.npz", "deflated")

    # Byte-swapped and Fortran-order members, stored (so misaligned) and deflated; a Fortran
    # member larger than a batch, deflated (it cannot be streamed row by row).
    be_fort = np.asfortranarray(np.arange(12, dtype=">i4").reshape(4, 3) * -3)
    be_rec = np.array([(1, 0.5), (2, -1.5), (3, 2.0), (4, 1e-300)], dtype=[("a", ">u2"), ("b", ">f8")])
    savez(m.path("swapped_stored.npz"), False, be_fort=be_fort, be_rec=be_rec)
    m.npz("npz_swapped_stored", "swapped_stored.npz", "stored")
    tall = np.asfortranarray((np.arange(36_000, dtype=np.int16) * 7 % 30_011).reshape(12_000, 3))
    savez(m.path("tall_fortran_deflated.npz"), True, tall=tall)
    m.npz("npz_tall_fortran_deflated", "tall_fortran_deflated.npz", "deflated")

    # One member whose CRC-32 is wrong (so it fails only when read to its end) beside good ones:
    # the good ones must still be readable, alone and as a projection of the whole archive.
    buf = io.BytesIO()
    zip_write_to(buf, [("good.npy", npy_bytes(np.arange(50, dtype=np.int16))),
                       ("bad.npy", npy_bytes(rng.standard_normal(50))),
                       ("also_good.npy", npy_bytes(np.arange(50, dtype=np.uint8)[::-1].copy()))], zipfile.ZIP_DEFLATED)
    raw = bytearray(buf.getvalue())
    for signature, at in [(b"PK\x03\x04", 14), (b"PK\x01\x02", 16)]:
        i = 0
        while (j := raw.find(signature, i)) >= 0:
            name_len = struct.unpack("<H", raw[j + (26 if signature == b"PK\x03\x04" else 28):][:2])[0]
            start = j + (30 if signature == b"PK\x03\x04" else 46)
            if bytes(raw[start:start + name_len]) == b"bad.npy":
                raw[j + at] ^= 0xFF
            i = j + 4
    with open(m.path("one_bad_member.npz"), "wb") as fh:
        fh.write(bytes(raw))
    with np.load(m.path("one_bad_member.npz")) as z:
        good = {k: z[k] for k in ["good", "also_good"]}
        try:
            z["bad"]
            raise AssertionError("numpy read the member with a wrong CRC")
        except zipfile.BadZipFile:
            pass
    m.cases.append({"name": "npz_one_bad_member", "file": "one_bad_member.npz", "archive": "deflated",
                    "members": {k: {**describe(a), "values": rows_of(a)} for k, a in good.items()},
                    "unreadable_members": {"bad": "CRC-32 mismatch, found only at the member's end"}})

    # As a streaming zip writer writes it: sizes in data descriptors after the data (flag bit 3),
    # zeros in the local headers; plus an archive comment and a member in a sub-directory.
    class Unseekable(io.RawIOBase):
        def __init__(self):
            self.buf = bytearray()

        def writable(self):
            return True

        def seekable(self):
            return False

        def write(self, b):
            self.buf += b
            return len(b)

    out = Unseekable()
    with zipfile.ZipFile(out, "w") as zf:
        for name, arr, compression in [("x.npy", np.arange(5, dtype=np.float64) / 4, zipfile.ZIP_STORED),
                                       ("sub/y.npy", np.array([b"ab", b"", b"c", b"\x00d", b"e"], dtype="S2"), zipfile.ZIP_DEFLATED)]:
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.compress_type = compression
            with zf.open(info, "w", force_zip64=True) as fh:
                fh.write(npy_bytes(arr))
        zf.comment = b"written by a streaming writer"
    with open(m.path("streamed_writer.npz"), "wb") as fh:
        fh.write(bytes(out.buf))
    m.npz("npz_streamed_writer", "streamed_writer.npz", "mixed", {"whole_table": "optional"})

    zip_write(m.path("empty_archive.npz"), [])
    m.npz("npz_empty_archive", "empty_archive.npz", "stored", {"whole_table": "optional"})


def hostile_cases(m):
    good = npy_bytes(np.arange(10, dtype=np.int64))
    _, hdr, data = split_npy(good)
    m.error("bad_truncated_header", "bad_truncated_header.npy", good[:40], "file ends inside the header")
    m.error("bad_truncated_preamble", "bad_truncated_preamble.npy", good[:9], "file ends inside the header length")
    m.error("bad_truncated_data_2d", "bad_truncated_data_2d.npy", npy_bytes(np.ones((4, 3)))[:-8 * 4],
            "the last row is missing", mentions=["64", "96"])
    rec = npy_bytes(np.zeros(5, dtype=[("a", "<i4"), ("b", "<f8")]))
    m.error("bad_truncated_data_record", "bad_truncated_data_record.npy", rec[:-1], "one byte short", mentions=["59", "60"])
    m.error("bad_header_len_4gib", "bad_header_len_4gib.npy",
            b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFF0) + hdr + data,
            "a v2 header claiming 4 GiB must be refused before allocating it", mentions=["4294967280"])
    m.error("bad_shape_overflow", "bad_shape_overflow.npy",
            assemble_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }", data),
            "shape product overflows u64", mentions=["4294967296"])
    m.error("bad_shape_overflow_rows", "bad_shape_overflow_rows.npy",
            assemble_npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2305843009213693952,), }", data),
            "rows times itemsize overflows u64", mentions=["2305843009213693952"])
    m.error("bad_shape_huge", "bad_shape_huge.npy",
            assemble_npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1000000000000,), }", data),
            "shape needs far more bytes than the file has", mentions=["80", "8000000000000"])
    m.error("bad_shape_negative", "bad_shape_negative.npy",
            assemble_npy("{'descr': '<i8', 'fortran_order': False, 'shape': (-1,), }", data), "negative dimension", mentions=["-1"])
    m.error("bad_version_4_0", "bad_version_4_0.npy", b"\x93NUMPY\x04\x00" + good[8:], "unknown format version 4.0", mentions=["4.0"])
    body = "{'descr': [('é', '<f8')], 'fortran_order': False, 'shape': (1,), }\n".encode("latin1")
    m.error("bad_v3_header_not_utf8", "bad_v3_header_not_utf8.npy",
            b"\x93NUMPY\x03\x00" + struct.pack("<I", len(body)) + body + b"\x00" * 8,
            "a 3.0 header must be UTF-8 (numpy refuses latin-1 there)")
    m.error("bad_missing_key", "bad_missing_key.npy",
            assemble_npy("{'descr': '<i8', 'shape': (10,), }", data), "fortran_order is missing", mentions=["fortran_order"])
    m.error("bad_extra_key", "bad_extra_key.npy",
            assemble_npy("{'descr': '<i8', 'fortran_order': False, 'shape': (10,), 'extra': 1}", data),
            "numpy refuses headers with keys beyond the three", mentions=["extra"])
    m.error("bad_header_not_dict", "bad_header_not_dict.npy", assemble_npy("[1, 2, 3]", data), "header is not a dict")
    m.error("bad_header_call", "bad_header_call.npy",
            assemble_npy("{'descr': __import__('os').system('true'), 'fortran_order': False, 'shape': (10,)}", data),
            "a header is never evaluated")

    def saved(arr, **kw):
        buf = io.BytesIO()
        np.save(buf, arr, **kw)
        return buf.getvalue()

    m.error("bad_descr_object_record", "bad_descr_object_record.npy",
            saved(np.array([(1, {"k": 1})], dtype=[("a", "<i4"), ("o", "O")]), allow_pickle=True),
            "a record field of pickled objects", mentions=["O", "'o'"])
    m.error("bad_descr_f16", "bad_descr_f16.npy", saved(np.zeros(2, dtype=np.longdouble)),
            "long double '<f16' has no Arrow type", mentions=["f16", "bad_descr_f16"])
    m.error("bad_descr_c32", "bad_descr_c32.npy", saved(np.zeros(1, dtype=np.clongdouble)),
            "long double complex '<c32' has no Arrow type", mentions=["c32"])
    m.error("bad_descr_M8_generic", "bad_descr_M8_generic.npy", saved(np.array(["NaT", "NaT"], dtype="M8")),
            "generic datetime64 has no unit", mentions=["M8"])
    m.error("bad_descr_m8_generic", "bad_descr_m8_generic.npy", saved(np.array([1, 2], dtype="m8")),
            "generic timedelta64 has no unit", mentions=["m8"])
    m.error("bad_descr_M8_ps", "bad_descr_M8_ps.npy", saved(np.array([1, 2], dtype="<M8[ps]")), "picoseconds", mentions=["M8[ps]"])
    m.error("bad_descr_m8_fs", "bad_descr_m8_fs.npy", saved(np.array([1, 2], dtype="<m8[fs]")), "femtoseconds", mentions=["m8[fs]"])
    m.error("bad_descr_M8_as", "bad_descr_M8_as.npy", saved(np.array([1, 2], dtype="<M8[as]")), "attoseconds", mentions=["M8[as]"])
    m.error("bad_descr_m8_M", "bad_descr_m8_M.npy", saved(np.array([1, 2], dtype="<m8[M]")),
            "a timedelta in months has no fixed length", mentions=["m8[M]"])
    m.error("bad_descr_m8_Y", "bad_descr_m8_Y.npy", saved(np.array([1, 2], dtype="<m8[Y]")),
            "a timedelta in years has no fixed length", mentions=["m8[Y]"])
    m.error("bad_unicode_surrogate", "bad_unicode_surrogate.npy",
            assemble_npy("{'descr': '<U2', 'fortran_order': False, 'shape': (2,), }",
                         struct.pack("<4I", 0x61, 0, 0xD800, 0x62)),
            "a lone surrogate 0xD800 has no UTF-8 form", mentions=["0xd800"])
    m.error("bad_unicode_invalid", "bad_unicode_invalid.npy",
            assemble_npy("{'descr': '<U2', 'fortran_order': False, 'shape': (2,), }",
                         struct.pack("<4I", 0x61, 0, 0x110000, 0x62)),
            "code point 0x110000 is not Unicode", mentions=["0x110000"])
    m.error("bad_M8_h_scaled_overflow", "bad_M8_h_scaled_overflow.npy", saved(np.array([1, 2**62], dtype="M8[h]")),
            "2**62 hours in seconds overflows i64", mentions=["4611686018427387904"])
    m.error("bad_m8_W_scaled_overflow", "bad_m8_W_scaled_overflow.npy", saved(np.array([-(2**60), 0], dtype="m8[W]")),
            "-2**60 weeks in seconds overflows i64", mentions=["1152921504606846976"])
    m.error("bad_M8_10s_scaled_overflow", "bad_M8_10s_scaled_overflow.npy", saved(np.array([2**62], dtype="M8[10s]")),
            "2**62 tens of seconds overflows i64", mentions=["4611686018427387904"])
    m.error("bad_M8_Y_out_of_range", "bad_M8_Y_out_of_range.npy", saved(np.array([0, 2**40], dtype="M8[Y]")),
            "2**40 years does not fit Date32", mentions=["1099511627776"])
    m.error("bad_M8_M_out_of_range", "bad_M8_M_out_of_range.npy", saved(np.array([2**40, 0], dtype="M8[M]")),
            "2**40 months does not fit Date32", mentions=["1099511627776"])
    m.error("bad_M8_W_out_of_range", "bad_M8_W_out_of_range.npy", saved(np.array([0, 2**35], dtype="M8[W]")),
            "2**35 weeks does not fit Date32", mentions=["34359738368"])
    m.error("bad_date32_out_of_range", "bad_date32_out_of_range.npy",
            saved(np.array([0, 2**40], dtype="M8[D]")), "2**40 days does not fit Date32", mentions=["1099511627776"])

    # Archives.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, arr in [("x", np.arange(1000, dtype=np.int64)), ("y", np.arange(1000, dtype=np.float64))]:
            info = zipfile.ZipInfo(name + ".npy", date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, npy_bytes(arr))
    whole = buf.getvalue()
    m.error("bad_npz_truncated", "bad_npz_truncated.npz", whole[:len(whole) // 2], "archive cut in the middle")

    # A deflated member whose .npy header claims 8 GB while the stream holds a few bytes; the zip
    # directory tells the truth about the (small) inflated size.
    liar = assemble_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000,), }", b"\x00" * 64)
    buf = io.BytesIO()
    zip_write_to(buf, [("lie.npy", liar)], zipfile.ZIP_DEFLATED)
    m.error("bad_npz_header_lie", "bad_npz_header_lie.npz", buf.getvalue(),
            "the member header claims 8 GB of data, the member holds 64 bytes", mentions=["lie", "8000000000"])
    # The same, but the zip directory lies too (claims 4 GiB inflated from ~100 compressed bytes).
    m.error("bad_npz_bomb_claim", "bad_npz_bomb_claim.npz", patch_uncompressed_size(buf.getvalue(), 0xFFFFFFF0),
            "zip claims 4 GiB inflated from a few compressed bytes", mentions=["lie"])

    # CRC-32 in the zip headers does not match the data: numpy (zipfile) refuses to read it.
    for compression, label in [(zipfile.ZIP_STORED, "stored"), (zipfile.ZIP_DEFLATED, "deflated")]:
        buf = io.BytesIO()
        zip_write_to(buf, [("x.npy", good)], compression)
        bad = patch_crc(buf.getvalue())
        fn = f"bad_npz_crc_{label}.npz"
        with open(m.path(fn), "wb") as fh:
            fh.write(bad)
        try:
            np.load(m.path(fn))["x"]
            raise AssertionError("numpy read a member with a wrong CRC")
        except zipfile.BadZipFile:
            pass
        m.error(f"bad_npz_crc_{label}", fn, bad, f"a {label} member whose CRC-32 does not match (numpy refuses it)")

    # Compression methods numpy can read (zipfile does) but SPEC's reader leaves out (deflate only).
    for compression, label in [(zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "lzma")]:
        buf = io.BytesIO()
        zip_write_to(buf, [("x.npy", good)], compression)
        m.error(f"bad_npz_{label}", f"bad_npz_{label}.npz", buf.getvalue(),
                f"a {label} member: not deflate, so a clear error (numpy would read it)", member="x", mentions=["x"])
    # The encryption flag set: numpy refuses ("File is encrypted").
    buf = io.BytesIO()
    zip_write_to(buf, [("x.npy", good)], zipfile.ZIP_STORED)
    raw = bytearray(buf.getvalue())
    for signature, at in [(b"PK\x03\x04", 6), (b"PK\x01\x02", 8)]:
        j = raw.find(signature)
        raw[j + at] |= 1
    m.error("bad_npz_encrypted", "bad_npz_encrypted.npz", bytes(raw), "an encrypted member", member="x")
    # The central directory points past the end of the file.
    buf = io.BytesIO()
    zip_write_to(buf, [("x.npy", good)], zipfile.ZIP_STORED)
    raw = bytearray(buf.getvalue())
    j = raw.find(b"PK\x01\x02")
    raw[j + 42:j + 46] = struct.pack("<I", 0x7FFFFFF0)
    m.error("bad_npz_offset_past_end", "bad_npz_offset_past_end.npz", bytes(raw), "a local header offset past the end")
    # The end record claims 65535 entries; there is one.
    buf = io.BytesIO()
    zip_write_to(buf, [("x.npy", good)], zipfile.ZIP_STORED)
    raw = bytearray(buf.getvalue())
    j = raw.rfind(b"PK\x05\x06")
    raw[j + 8:j + 12] = struct.pack("<HH", 0xFFFF, 0xFFFF)
    m.error("bad_npz_entry_count", "bad_npz_entry_count.npz", bytes(raw), "the end record claims 65535 entries")

    buf = io.BytesIO()
    zip_write_to(buf, [("x.txt", good)], zipfile.ZIP_STORED)
    m.error("bad_npz_member_txt", "bad_npz_member_txt.npz", buf.getvalue(),
            "member x.txt is not an .npy member (even though it holds .npy bytes)", member="x.txt", mentions=["x.txt"])
    m.error("bad_npz_no_such_member", "bad_npz_no_such_member.npz", whole, "member 'nope' is not there",
            member="nope", mentions=["nope"])


def zip_write_to(fileobj, members, compression):
    """Like zip_write, to a file object, without forcing zip64 (so sizes are 32-bit fields)."""
    with zipfile.ZipFile(fileobj, "w", compression=compression) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
            info.compress_type = compression
            zf.writestr(info, data)


def patch_crc(raw):
    """Flip the CRC-32 of every local and central header."""
    out = bytearray(raw)
    for signature, at in [(b"PK\x03\x04", 14), (b"PK\x01\x02", 16)]:
        i = 0
        while (j := out.find(signature, i)) >= 0:
            out[j + at] ^= 0xFF
            i = j + 4
    return bytes(out)


def patch_uncompressed_size(raw, size):
    """Set every local and central header's uncompressed size field to `size`."""
    out = bytearray(raw)
    i = 0
    while True:
        j = out.find(b"PK\x03\x04", i)
        if j < 0:
            break
        out[j + 22:j + 26] = struct.pack("<I", size)
        i = j + 4
    i = 0
    while True:
        j = out.find(b"PK\x01\x02", i)
        if j < 0:
            break
        out[j + 24:j + 28] = struct.pack("<I", size)
        i = j + 4
    return bytes(out)


ZOO_LEAVES = ["?", "i1", "u1", "<i2", ">i2", "<u4", ">i4", "<i8", ">u8", "<f2", ">f4", "<f8", ">f8", "<c8",
              ">c16", "S3", "S1", "<U2", ">U3", "V2", "<M8[s]", ">M8[ms]", "<M8[D]", "<M8[h]", "<m8[us]",
              ">m8[m]", "<M8[W]", "<M8[M]", "<M8[Y]", "<m8[D]", "<M8[10s]", ">m8[2h]"]
ZOO_TEXT = ["", "a", "é", "日本", "\U0001F600", "xyz", "\U0010FFFF"]


def zoo_record(rng, depth):
    """A random structured dtype: leaves, sub-arrays, nested records; packed, aligned, or with
    explicit offsets leaving gaps (whose bytes are random garbage in the file)."""
    fields = []
    for i in range(int(rng.integers(1, 5))):
        roll = rng.random()
        if roll < 0.15 and depth < 2:
            fields.append((f"r{i}", zoo_record(rng, depth + 1)))
        elif roll < 0.3:
            shape = tuple(int(d) for d in rng.integers(1, 4, size=int(rng.integers(1, 3))))
            fields.append((f"s{i}", str(rng.choice(ZOO_LEAVES)), shape))
        else:
            fields.append((f"f{i}", str(rng.choice(ZOO_LEAVES))))
    style = rng.integers(0, 3)
    if style == 0:
        return np.dtype(fields)
    if style == 1:
        return np.dtype(fields, align=True)
    packed = np.dtype(fields)
    offsets, at = [], 0
    for name in packed.names:
        at += int(rng.integers(0, 5))
        offsets.append(at)
        at += packed.fields[name][0].itemsize
    return np.dtype({"names": list(packed.names), "formats": [packed.fields[n][0] for n in packed.names],
                     "offsets": offsets, "itemsize": at + int(rng.integers(0, 4))})


def zoo_fill(rng, arr):
    """Random bytes everywhere (NaN payloads, subnormals, bool bytes other than 0/1, garbage in
    padding), then valid values where random bytes would not be (text, datetimes)."""
    dt = arr.dtype.base if arr.dtype.subdtype else arr.dtype
    if dt.names is not None:
        for name in dt.names:
            zoo_fill(rng, arr[name])
    elif dt.kind == "U":
        arr[...] = rng.choice(ZOO_TEXT, size=arr.shape)
    elif dt.kind in "Mm":
        ints = rng.integers(-1_000_000, 1_000_000, size=arr.shape)
        ints[rng.random(size=arr.shape) < 0.2] = np.iinfo(np.int64).min  # NaT
        arr[...] = ints.astype(np.int64).view(dt.newbyteorder("=")).astype(dt)


def zoo_cases(m):
    """Random dtypes and layouts (fixed seed): combinations no hand-written case tries."""
    rng = np.random.default_rng(99)
    for k in range(40):
        rows = int(rng.integers(0, 30))
        if k % 2 == 0:
            dt = zoo_record(rng, 0)
            shape = (rows,)
        else:
            dt = np.dtype(str(rng.choice(ZOO_LEAVES)))
            shape = (rows,) + tuple(int(d) for d in rng.integers(1, 4, size=int(rng.integers(0, 3))))
        arr = np.frombuffer(rng.bytes(int(np.prod(shape)) * dt.itemsize), dtype=dt).reshape(shape).copy()
        zoo_fill(rng, arr)
        if arr.ndim > 1 and rng.random() < 0.5:
            arr = np.asfortranarray(arr)
        m.npy(f"zoo_{k:02d}", arr)
    # Archives of random members with one row count: records become Struct columns there.
    for k in range(12):
        rows = int(rng.integers(1, 25))
        members = {}
        for j in range(int(rng.integers(1, 4))):
            # Records stay 1-D: 2-D records are a layout question of their own (fortran_record_*).
            dt = zoo_record(rng, 0) if rng.random() < 0.6 else np.dtype(str(rng.choice(ZOO_LEAVES)))
            extra = int(rng.integers(0, 2)) if dt.names is None else 0
            shape = (rows,) + tuple(int(d) for d in rng.integers(1, 3, size=extra))
            arr = np.frombuffer(rng.bytes(int(np.prod(shape)) * dt.itemsize), dtype=dt).reshape(shape).copy()
            zoo_fill(rng, arr)
            members[f"m{j}"] = arr
        compressed = bool(k % 2)
        fn = f"zoo_archive_{k:02d}.npz"
        savez(m.path(fn), compressed, **members)
        m.npz(f"zoo_archive_{k:02d}", fn, "deflated" if compressed else "stored")


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    m = Manifest(out_dir)
    rng = np.random.default_rng(20261126)
    dtype_cases(m, rng)
    big_endian_cases(m, rng)
    layout_cases(m, rng)
    other_writer_cases(m)
    literal_cases(m)
    npz_cases(m, rng)
    hostile_cases(m)
    zoo_cases(m)
    m.write()
    print(f"wrote {len(m.cases)} cases to {out_dir}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
