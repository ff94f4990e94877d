//! Decoding checked against numpy: cases of the shared npy-corpus (copied into
//! `tests/data/corpus/files`) and this module's own fixtures (`testdata/`), written by
//! `testdata/make_decode_fixtures.py`. Expected values are what numpy read back, encoded as
//! the corpus's `expected.json` says; an Arrow array is turned into the same encoding and the
//! two JSON values compared.

use std::path::{Path, PathBuf};

use crate::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, FixedSizeBinaryArray, FixedSizeListArray, StringArray,
    StructArray,
};
use crate::arrow::buffer::{Buffer, MutableBuffer};
use crate::arrow::datatypes::{
    DataType, Date32Type, DurationMicrosecondType, DurationMillisecondType, DurationNanosecondType,
    DurationSecondType, Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    TimeUnit as ArrowTimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use serde_json::{json, Value};

use super::{decode, is_zero_copy, ByteView};
use crate::error::ErrorKind;
use crate::dtype::{DType, Endian, Record, RecordField, TimeUnit};
use crate::schema::arrow_type;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/decode/testdata")
}

/// The numpy corpus, shared with the integration tests.
fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/corpus/files")
}

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A v1.0 `.npy` file's bytes in a 64-byte aligned buffer, placed `shift` bytes after its start,
/// and the offset of the data inside that buffer.
fn load(path: &Path, shift: usize) -> (Buffer, usize) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00", "{}: fixtures are v1.0 files", path.display());
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let mut buffer = MutableBuffer::with_capacity(bytes.len() + shift);
    buffer.extend_from_slice(&vec![0u8; shift]);
    buffer.extend_from_slice(&bytes);
    (buffer.into(), shift + 10 + header_len)
}

fn view_of(path: &Path, dtype: &DType, rows: usize, shift: usize) -> ByteView {
    let (buffer, start) = load(path, shift);
    ByteView { buffer, start, stride: dtype.itemsize(), rows, first_row: 0 }
}

/// One case of an expected.json.
fn case(expected: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(expected).unwrap_or_else(|e| panic!("{}: {e}", expected.display()));
    let manifest: Value = serde_json::from_str(&text).expect("expected.json parses");
    manifest["cases"]
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no case {name} in {}", expected.display()))
        .clone()
}

/// A scalar type string as numpy writes it (`<f4`, `|S5`, `>M8[10s]`): enough of a parser for
/// these tests, which must not depend on the header parser.
fn scalar(s: &str) -> DType {
    let endian = if s.starts_with('>') { Endian::Big } else { Endian::Little };
    let body = s.trim_start_matches(['<', '>', '|', '=']);
    let (kind, rest) = body.split_at(1);
    if kind == "M" || kind == "m" {
        let inside = rest.trim_start_matches('8').trim_start_matches('[').trim_end_matches(']');
        let digits: String = inside.chars().take_while(|c| c.is_ascii_digit()).collect();
        let unit = TimeUnit::from_code(&inside[digits.len()..]).expect("unit");
        let multiple = if digits.is_empty() { 1 } else { digits.parse().expect("multiple") };
        return if kind == "M" {
            DType::DateTime { unit, multiple, endian }
        } else {
            DType::TimeDelta { unit, multiple, endian }
        };
    }
    let n: usize = rest.parse().expect("size");
    match kind {
        "b" => DType::Bool,
        "i" => DType::Int { bytes: n as u8, signed: true, endian },
        "u" => DType::Int { bytes: n as u8, signed: false, endian },
        "f" => DType::Float { bytes: n as u8, endian },
        "c" => DType::Complex { bytes: n as u8, endian },
        "S" => DType::Bytes { len: n },
        "U" => DType::Unicode { chars: n, endian },
        "V" => DType::Void { len: n },
        _ => panic!("type string {s}"),
    }
}

fn field(name: &str, offset: usize, dtype: DType) -> RecordField {
    RecordField { name: name.to_string(), title: None, offset, dtype }
}

fn record(itemsize: usize, fields: Vec<RecordField>) -> DType {
    DType::Record(Record { fields, itemsize })
}

fn sub_array(base: &str, shape: &[usize]) -> DType {
    DType::SubArray { base: Box::new(scalar(base)), shape: shape.to_vec() }
}

// ---------------------------------------------------------------------------------------------
// Arrow → the corpus's JSON encoding

fn float(v: f64) -> Value {
    if v.is_nan() {
        json!("nan")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "inf" } else { "-inf" })
    } else {
        json!(v)
    }
}

fn hex(bytes: &[u8]) -> Value {
    json!(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Row `i` of `array` (decoded from `dtype`) in expected.json's encoding.
fn encode(array: &dyn Array, dtype: &DType, i: usize) -> Value {
    if array.is_null(i) {
        return Value::Null;
    }
    match (dtype, array.data_type()) {
        (DType::Complex { .. }, _) => {
            let parts = array.as_any().downcast_ref::<StructArray>().expect("complex is a struct");
            let half = match dtype {
                DType::Complex { bytes, endian } => DType::Float { bytes: bytes / 2, endian: *endian },
                _ => unreachable!(),
            };
            json!([encode(parts.column(0).as_ref(), &half, i), encode(parts.column(1).as_ref(), &half, i)])
        }
        (DType::Record(rec), _) => {
            let fields = array.as_any().downcast_ref::<StructArray>().expect("record is a struct");
            let mut object = serde_json::Map::new();
            for (k, f) in rec.fields.iter().enumerate() {
                object.insert(f.name.clone(), encode(fields.column(k).as_ref(), &f.dtype, i));
            }
            Value::Object(object)
        }
        (DType::SubArray { base, shape }, _) => {
            let list = array.as_any().downcast_ref::<FixedSizeListArray>().expect("sub-array is a list");
            let inner = if shape.len() > 1 {
                DType::SubArray { base: base.clone(), shape: shape[1..].to_vec() }
            } else {
                (**base).clone()
            };
            let values = list.value(i);
            Value::Array((0..values.len()).map(|j| encode(values.as_ref(), &inner, j)).collect())
        }
        (_, DataType::Boolean) => json!(array.as_any().downcast_ref::<BooleanArray>().unwrap().value(i)),
        (_, DataType::Int8) => json!(array.as_primitive::<Int8Type>().value(i)),
        (_, DataType::Int16) => json!(array.as_primitive::<Int16Type>().value(i)),
        (_, DataType::Int32) => json!(array.as_primitive::<Int32Type>().value(i)),
        (_, DataType::Int64) => json!(array.as_primitive::<Int64Type>().value(i)),
        (_, DataType::UInt8) => json!(array.as_primitive::<UInt8Type>().value(i)),
        (_, DataType::UInt16) => json!(array.as_primitive::<UInt16Type>().value(i)),
        (_, DataType::UInt32) => json!(array.as_primitive::<UInt32Type>().value(i)),
        (_, DataType::UInt64) => json!(array.as_primitive::<UInt64Type>().value(i)),
        (_, DataType::Float16) => float(array.as_primitive::<Float16Type>().value(i).to_f64()),
        (_, DataType::Float32) => float(array.as_primitive::<Float32Type>().value(i) as f64),
        (_, DataType::Float64) => float(array.as_primitive::<Float64Type>().value(i)),
        (_, DataType::Binary) => hex(array.as_any().downcast_ref::<BinaryArray>().unwrap().value(i)),
        (_, DataType::FixedSizeBinary(_)) => hex(array.as_any().downcast_ref::<FixedSizeBinaryArray>().unwrap().value(i)),
        (_, DataType::Utf8) => json!(array.as_any().downcast_ref::<StringArray>().unwrap().value(i)),
        (_, DataType::Date32) => json!(array.as_primitive::<Date32Type>().value(i)),
        (_, DataType::Timestamp(unit, None)) => json!(match unit {
            ArrowTimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(i),
            ArrowTimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(i),
            ArrowTimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(i),
            ArrowTimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(i),
        }),
        (_, DataType::Duration(unit)) => json!(match unit {
            ArrowTimeUnit::Second => array.as_primitive::<DurationSecondType>().value(i),
            ArrowTimeUnit::Millisecond => array.as_primitive::<DurationMillisecondType>().value(i),
            ArrowTimeUnit::Microsecond => array.as_primitive::<DurationMicrosecondType>().value(i),
            ArrowTimeUnit::Nanosecond => array.as_primitive::<DurationNanosecondType>().value(i),
        }),
        (_, other) => panic!("no JSON encoding for {other}"),
    }
}

/// JSON equality, except that floats may differ in the last bits: serde_json's default float
/// parser is not correctly rounded, so a printed f64 may come back one ULP off.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= 1e-15 * x.abs().max(y.abs())
        }
        (Value::Array(xs), Value::Array(ys)) => xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y)),
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len() && xs.iter().all(|(k, x)| ys.get(k).is_some_and(|y| same(x, y)))
        }
        _ => a == b,
    }
}

fn encode_all(array: &dyn Array, dtype: &DType) -> Value {
    Value::Array((0..array.len()).map(|i| encode(array, dtype, i)).collect())
}

/// Decodes `file` (in `dir`) as `dtype` and compares with the `values` of case `name` in
/// `dir/expected.json`; also checks the array's type is exactly `arrow_type(dtype)`.
fn check(dir: &Path, name: &str, dtype: &DType) -> ArrayRef {
    let expected = case(&dir.join("expected.json"), name);
    let rows = expected["rows"].as_u64().expect("rows") as usize;
    let file = dir.join(expected["file"].as_str().expect("file"));
    let view = view_of(&file, dtype, rows, 0);
    let array = decode(dtype, &view).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(array.data_type(), &arrow_type(dtype).unwrap(), "{name}: type");
    assert_eq!(array.len(), rows, "{name}: rows");
    let actual = encode_all(array.as_ref(), dtype);
    assert!(same(&actual, &expected["values"]), "{name}: values\n  decoded: {actual}\n    numpy: {}", expected["values"]);
    array
}

fn check_corpus(name: &str, dtype: &DType) -> ArrayRef {
    check(&corpus(), name, dtype)
}

fn check_ours(name: &str, dtype: &DType) -> ArrayRef {
    check(&testdata(), name, dtype)
}

// ---------------------------------------------------------------------------------------------
// Values against numpy

#[test]
fn corpus_scalars() {
    let cases = [
        ("bool", "|b1"),
        ("int8", "|i1"),
        ("int16", "<i2"),
        ("int32", "<i4"),
        ("int64", "<i8"),
        ("uint8", "|u1"),
        ("uint16", "<u2"),
        ("uint32", "<u4"),
        ("uint64", "<u8"),
        ("float16", "<f2"),
        ("float32", "<f4"),
        ("float64", "<f8"),
        ("complex64", "<c8"),
        ("complex128", "<c16"),
        ("bytes_s5", "|S5"),
        ("unicode_u6", "<U6"),
        ("void_v4", "|V4"),
        ("bigendian_i4", ">i4"),
        ("bigendian_f8", ">f8"),
    ];
    for (name, descr) in cases {
        let expected = case(&corpus().join("expected.json"), name);
        assert_eq!(expected["descr"], descr, "{name}: the corpus's descr");
        check_corpus(name, &scalar(descr));
    }
}

#[test]
fn corpus_datetimes_and_timedeltas() {
    for unit in ["ns", "us", "ms", "s", "D"] {
        check_corpus(&format!("datetime64_{unit}"), &scalar(&format!("<M8[{unit}]")));
    }
    for unit in ["ns", "s"] {
        check_corpus(&format!("timedelta64_{unit}"), &scalar(&format!("<m8[{unit}]")));
    }
}

#[test]
fn corpus_matrix_rows_are_fixed_size_lists() {
    check_corpus("matrix_f32_5x3", &sub_array("<f4", &[3]));
}

#[test]
fn corpus_records() {
    let records = record(
        20,
        vec![field("id", 0, scalar("<i8")), field("label", 8, scalar("<i4")), field("score", 12, scalar("<f4")), field("tag", 16, scalar("|S4"))],
    );
    check_corpus("records", &records);
    let pos = record(8, vec![field("x", 0, scalar("<f4")), field("y", 4, scalar("<f4"))]);
    let nested = record(24, vec![field("a", 0, scalar("<i4")), field("pos", 4, pos), field("vec", 12, sub_array("<f4", &[3]))]);
    check_corpus("nested_records", &nested);
    let aligned = record(16, vec![field("a", 0, scalar("|u1")), field("b", 8, scalar("<i8"))]);
    check_corpus("aligned_records", &aligned);
}

#[test]
fn scaled_datetimes() {
    for (name, descr) in [
        ("dt_h", "<M8[h]"),
        ("dt_m", "<M8[m]"),
        ("dt_W", "<M8[W]"),
        ("dt_M", "<M8[M]"),
        ("dt_Y", "<M8[Y]"),
        ("dt_10s", "<M8[10s]"),
        ("dt_3D", "<M8[3D]"),
        ("dt_2M", "<M8[2M]"),
    ] {
        check_ours(name, &scalar(descr));
    }
}

#[test]
fn timedeltas() {
    for (name, descr) in
        [("td_m", "<m8[m]"), ("td_h", "<m8[h]"), ("td_D", "<m8[D]"), ("td_W", "<m8[W]"), ("td_ms", "<m8[ms]"), ("td_us", "<m8[us]")]
    {
        check_ours(name, &scalar(descr));
    }
}

#[test]
fn big_endian() {
    for (name, descr) in [
        ("be_unicode_u4", ">U4"),
        ("be_datetime_ns", ">M8[ns]"),
        ("be_datetime_D", ">M8[D]"),
        ("be_complex128", ">c16"),
        ("be_float16", ">f2"),
        ("be_uint64", ">u8"),
    ] {
        check_ours(name, &scalar(descr));
    }
}

#[test]
fn unicode_beyond_the_bmp_and_nonzero_bools() {
    check_ours("unicode_astral", &scalar("<U3"));
    check_ours("bool_nonzero", &scalar("|b1"));
}

#[test]
fn sub_array_fields_of_a_packed_record() {
    // Itemsize 41: the f4 and M8 fields are misaligned and strided, so they are packed first.
    let dtype = record(41, vec![field("id", 0, scalar("|u1")), field("m", 1, sub_array("<f4", &[2, 3])), field("t", 25, sub_array("<M8[s]", &[2]))]);
    check_ours("subarray_fields", &dtype);
}

// ---------------------------------------------------------------------------------------------
// Zero-copy and its limits

/// Whether the first `len` bytes at `ptr` lie inside `buffer`.
fn points_into(buffer: &Buffer, ptr: *const u8) -> bool {
    let start = buffer.as_ptr() as usize;
    (start..start + buffer.len()).contains(&(ptr as usize))
}

#[test]
fn aligned_f32_is_zero_copy_and_misaligned_is_copied() {
    let path = corpus().join("float32.npy");
    let dtype = scalar("<f4");
    let rows = case(&corpus().join("expected.json"), "float32")["rows"].as_u64().unwrap() as usize;

    let aligned = view_of(&path, &dtype, rows, 0);
    assert!(is_zero_copy(&dtype, &aligned));
    let shared = decode(&dtype, &aligned).unwrap();
    let shared_ptr = shared.as_primitive::<Float32Type>().values().inner().as_ptr();
    assert!(points_into(&aligned.buffer, shared_ptr), "aligned data must not be copied");

    let misaligned = view_of(&path, &dtype, rows, 1);
    assert_ne!((misaligned.buffer.as_ptr() as usize + misaligned.start) % 4, 0);
    assert!(!is_zero_copy(&dtype, &misaligned));
    let copied = decode(&dtype, &misaligned).unwrap();
    let copied_ptr = copied.as_primitive::<Float32Type>().values().inner().as_ptr();
    assert!(!points_into(&misaligned.buffer, copied_ptr), "misaligned data must be copied");
    assert_eq!(copied.as_primitive::<Float32Type>().values(), shared.as_primitive::<Float32Type>().values());
}

#[test]
fn big_endian_is_copied() {
    let path = testdata().join("be_uint64.npy");
    let dtype = scalar(">u8");
    let view = view_of(&path, &dtype, 4, 0);
    assert!(!is_zero_copy(&dtype, &view));
    let array = decode(&dtype, &view).unwrap();
    assert!(!points_into(&view.buffer, array.as_primitive::<UInt64Type>().values().inner().as_ptr()));
}

#[test]
fn fixed_size_list_of_aligned_floats_is_zero_copy() {
    let dtype = sub_array("<f4", &[3]);
    let view = view_of(&corpus().join("matrix_f32_5x3.npy"), &dtype, 5, 0);
    assert!(is_zero_copy(&dtype, &view));
    let array = decode(&dtype, &view).unwrap();
    let list = array.as_fixed_size_list();
    let ptr = list.values().as_primitive::<Float32Type>().values().inner().as_ptr();
    assert!(points_into(&view.buffer, ptr));
    assert_eq!(list.values().len(), 15);
}

#[test]
fn datetimes_with_nat_keep_values_zero_copy() {
    let dtype = scalar("<M8[ns]");
    let view = view_of(&corpus().join("datetime64_ns.npy"), &dtype, 4, 0);
    assert!(is_zero_copy(&dtype, &view));
    let array = decode(&dtype, &view).unwrap();
    let ts = array.as_primitive::<TimestampNanosecondType>();
    assert!(points_into(&view.buffer, ts.values().inner().as_ptr()));
    assert_eq!(ts.null_count(), 1);
    // Scaled units are copied.
    assert!(!is_zero_copy(&scalar("<M8[h]"), &view));
}

#[test]
fn void_is_zero_copy_when_contiguous() {
    let dtype = scalar("|V4");
    let view = view_of(&corpus().join("void_v4.npy"), &dtype, 2, 1);
    let array = decode(&dtype, &view).unwrap();
    let fsb = array.as_any().downcast_ref::<FixedSizeBinaryArray>().unwrap();
    assert!(points_into(&view.buffer, fsb.value_data().as_ptr()));
}

#[test]
fn strided_record_field() {
    // The `score` field of records.npy: 4 bytes at offset 12 of every 20-byte item.
    let records = corpus().join("records.npy");
    let (buffer, start) = load(&records, 0);
    let view = ByteView { buffer, start: start + 12, stride: 20, rows: 3, first_row: 0 };
    let dtype = scalar("<f4");
    assert!(!is_zero_copy(&dtype, &view));
    let array = decode(&dtype, &view).unwrap();
    assert_eq!(array.as_primitive::<Float32Type>().values().to_vec(), vec![0.5, 1.5, -1.0]);
    // And the `id` field, also strided, from the second row on.
    let view = ByteView { start, rows: 2, ..view };
    let view = ByteView { start: view.start + 20, ..view };
    let ids = decode(&scalar("<i8"), &view).unwrap();
    assert_eq!(ids.as_primitive::<Int64Type>().values().to_vec(), vec![2, 3]);
}

// ---------------------------------------------------------------------------------------------
// Errors and edges

fn ucs4(units: &[u32]) -> Buffer {
    Buffer::from_vec(units.iter().flat_map(|u| u.to_le_bytes()).collect::<Vec<u8>>())
}

#[test]
fn invalid_code_points_are_errors_with_their_row() {
    let dtype = scalar("<U2");
    for bad in [0xD800, 0xDFFF, 0x110000, u32::MAX] {
        let view = ByteView { buffer: ucs4(&[0x61, 0, 0x62, bad]), start: 0, stride: 8, rows: 2, first_row: 10 };
        match decode(&dtype, &view) {
            Err(ErrorKind::InvalidCodePoint { value, row }) => assert_eq!((value, row), (bad, 11)),
            other => panic!("{bad:#x}: {other:?}"),
        }
    }
    // Interior NULs are kept, trailing ones dropped.
    let view = ByteView { buffer: ucs4(&[0, 0x61, 0x62, 0]), start: 0, stride: 8, rows: 2, first_row: 0 };
    let array = decode(&dtype, &view).unwrap();
    let strings = array.as_string::<i32>();
    assert_eq!((strings.value(0), strings.value(1)), ("\0a", "b"));
}

#[test]
fn out_of_range_dates_are_errors_with_their_row() {
    let dir = testdata();
    for (name, descr) in [("dt_D_out_of_range", "<M8[D]"), ("dt_Y_out_of_range", "<M8[Y]"), ("dt_h_overflow", "<M8[h]")] {
        let expected = case(&dir.join("expected.json"), name);
        let dtype = scalar(descr);
        let rows = expected["rows"].as_u64().unwrap() as usize;
        let mut view = view_of(&dir.join(expected["file"].as_str().unwrap()), &dtype, rows, 0);
        view.first_row = 100;
        match decode(&dtype, &view) {
            Err(ErrorKind::ValueOutOfRange { row, .. }) => {
                assert_eq!(expected["error"], "ValueOutOfRange");
                assert_eq!(row, 100 + expected["row"].as_u64().unwrap(), "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn error_rows_inside_sub_arrays_are_table_rows() {
    // Rows of two U1 code points; row 1's second one is a surrogate.
    let dtype = DType::SubArray { base: Box::new(scalar("<U1")), shape: vec![2] };
    let view = ByteView { buffer: ucs4(&[0x61, 0x62, 0x63, 0xD800]), start: 0, stride: 8, rows: 2, first_row: 5 };
    match decode(&dtype, &view) {
        Err(ErrorKind::InvalidCodePoint { row, .. }) => assert_eq!(row, 6),
        other => panic!("{other:?}"),
    }
}

#[test]
fn views_outside_the_buffer_are_errors_not_panics() {
    let buffer = Buffer::from_vec(vec![0u8; 16]);
    for dtype in [scalar("<f8"), scalar("|S3"), scalar("<U1"), scalar("|b1"), scalar("<M8[D]"), sub_array("<i2", &[2])] {
        let too_many = ByteView { buffer: buffer.clone(), start: 0, stride: 8, rows: 3, first_row: 0 };
        assert!(matches!(decode(&dtype, &too_many), Err(ErrorKind::Truncated { .. })), "{dtype:?}");
        let overflowing = ByteView { buffer: buffer.clone(), start: usize::MAX - 2, stride: usize::MAX, rows: 2, first_row: 0 };
        assert!(decode(&dtype, &overflowing).is_err(), "{dtype:?}");
    }
}

#[test]
fn overlapping_items_are_refused() {
    let view = ByteView { buffer: Buffer::from_vec(vec![0u8; 64]), start: 0, stride: 4, rows: 3, first_row: 0 };
    assert!(matches!(decode(&scalar("<f8"), &view), Err(ErrorKind::InvalidArgument(_))));
    // A 0-byte item with any stride is fine, however many rows.
    let view = ByteView { stride: 0, rows: 1000, ..view };
    assert_eq!(decode(&scalar("|S0"), &view).unwrap().len(), 1000);
    let huge = DType::SubArray { base: Box::new(scalar("|S0")), shape: vec![usize::MAX, 3] };
    assert!(decode(&huge, &view).is_err());
}

#[test]
fn the_test_type_string_parser_agrees_with_the_real_one() {
    for s in [
        "|b1", "|i1", "<i2", ">i4", "<i8", "|u1", "<u2", "<u4", ">u8", "<f2", ">f2", "<f4", ">f8", "<c8", ">c16",
        "|S5", "|S0", "<U6", ">U4", "|V4", "<M8[ns]", ">M8[ns]", "<M8[D]", "<M8[10s]", "<M8[2M]", "<M8[Y]",
        "<m8[W]", "<m8[us]",
    ] {
        assert_eq!(scalar(s), DType::from_type_str(s).unwrap(), "{s}");
    }
}

#[test]
fn empty_views_give_empty_arrays_of_the_type() {
    let buffer = Buffer::from_vec(Vec::<u8>::new());
    for dtype in [
        scalar("<f4"),
        scalar("|b1"),
        scalar("|S5"),
        scalar(">U3"),
        scalar("|V4"),
        scalar("<c16"),
        scalar("<M8[M]"),
        scalar("<m8[h]"),
        sub_array("<f4", &[2, 3]),
    ] {
        let view = ByteView { buffer: buffer.clone(), start: 7, stride: dtype.itemsize(), rows: 0, first_row: 0 };
        let array = decode(&dtype, &view).unwrap();
        assert_eq!(array.len(), 0);
        assert_eq!(array.data_type(), &arrow_type(&dtype).unwrap());
    }
}

#[test]
fn sub_array_with_a_zero_dimension() {
    let dtype = sub_array("<i4", &[2, 0]);
    let view = ByteView { buffer: Buffer::from_vec(vec![0u8; 4]), start: 0, stride: 0, rows: 3, first_row: 0 };
    let array = decode(&dtype, &view).unwrap();
    assert_eq!(array.len(), 3);
    assert_eq!(array.as_fixed_size_list().values().len(), 6);
    assert_eq!(array.data_type(), &arrow_type(&dtype).unwrap());
}

// ---------------------------------------------------------------------------------------------
// Hostile bytes and views: an error or an array of the right type, never a panic

fn hostile_dtypes() -> Vec<DType> {
    let mut dtypes: Vec<DType> = [
        "|b1", "|i1", ">i2", "<i4", ">u8", "<f2", ">f4", "<f8", ">c8", "<c16", "|S3", "|S0", "<U2", ">U1", "|V3",
        "<M8[ns]", ">M8[s]", "<M8[h]", "<M8[7m]", "<M8[D]", ">M8[W]", "<M8[M]", "<M8[Y]", "<M8[3Y]", "<m8[us]",
        ">m8[W]", "<m8[13D]",
    ]
    .into_iter()
    .map(scalar)
    .collect();
    dtypes.push(sub_array("<U1", &[2]));
    dtypes.push(sub_array(">M8[M]", &[1, 2]));
    dtypes.push(record(
        13,
        vec![field("a", 0, scalar("|b1")), field("m", 1, sub_array("<f4", &[2])), field("s", 9, scalar("<U1"))],
    ));
    dtypes
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
    #[test]
    fn hostile_bytes_never_panic(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..96),
        which in 0usize..31,
        start in 0usize..40,
        stride in 0usize..24,
        rows in 0usize..12,
        shift in 0usize..8,
    ) {
        let dtypes = hostile_dtypes();
        let dtype = &dtypes[which % dtypes.len()];
        let mut buffer = MutableBuffer::with_capacity(bytes.len() + shift);
        buffer.extend_from_slice(&vec![0u8; shift]);
        buffer.extend_from_slice(&bytes);
        let view = ByteView { buffer: buffer.into(), start: start + shift, stride, rows, first_row: 0 };
        if let Ok(array) = decode(dtype, &view) {
            proptest::prop_assert_eq!(array.len(), rows);
            proptest::prop_assert_eq!(array.data_type(), &arrow_type(dtype).unwrap());
            // Zero-copy is only ever claimed where the values are really shared.
            let _ = is_zero_copy(dtype, &view);
        }
    }
}
