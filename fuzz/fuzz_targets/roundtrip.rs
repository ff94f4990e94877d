//! Write → read of arbitrary small Arrow batches: what the writer accepts, the reader gives
//! back equal (for the types whose numpy form keeps every value; see the type table).
#![no_main]

use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use arrow_array::*;
use arrow_buffer::Buffer;
use arrow_npy::{NpyTable, NpzCompression, OpenOptions, ReaderBuilder, WriteOptions, Writer};
use arrow_schema::{DataType, Field, Fields, Schema};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Values {
    Bool(Vec<bool>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Utf8(Vec<String>),
    Binary(Vec<Vec<u8>>),
    FixedBinary(u8, Vec<u8>),
    TimestampNs(Vec<i64>),
    TimestampS(Vec<i64>),
    Date32(Vec<i32>),
    DurationUs(Vec<i64>),
    /// FixedSizeList(Int32, k): a sub-array (or, alone, extra dimensions).
    List(u8, Vec<i32>),
    /// Struct{x: Int16, y: Float64}: a nested record.
    Struct(Vec<(i16, f64)>),
    /// Struct{real, imag} of Float32: complex64.
    Complex(Vec<(f32, f32)>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    columns: Vec<Values>,
    npz: bool,
    deflated: bool,
    /// Rows per written batch (the data are cut into batches of at most this many rows).
    write_batch: u8,
    /// Rows per read batch.
    read_batch: u8,
}

/// numpy's NaT: read back as null, so the generated datetimes avoid it.
fn not_nat(v: i64) -> i64 {
    if v == i64::MIN { i64::MIN + 1 } else { v }
}

/// Column `rows` long from arbitrary values (repeating or cutting them).
fn column(values: &Values, rows: usize) -> ArrayRef {
    fn take<T: Clone + Default>(v: &[T], rows: usize) -> Vec<T> {
        (0..rows).map(|i| if v.is_empty() { T::default() } else { v[i % v.len()].clone() }).collect()
    }
    match values {
        Values::Bool(v) => Arc::new(BooleanArray::from(take(v, rows))),
        Values::I8(v) => Arc::new(Int8Array::from(take(v, rows))),
        Values::I16(v) => Arc::new(Int16Array::from(take(v, rows))),
        Values::I32(v) => Arc::new(Int32Array::from(take(v, rows))),
        Values::I64(v) => Arc::new(Int64Array::from(take(v, rows))),
        Values::U8(v) => Arc::new(UInt8Array::from(take(v, rows))),
        Values::U16(v) => Arc::new(UInt16Array::from(take(v, rows))),
        Values::U32(v) => Arc::new(UInt32Array::from(take(v, rows))),
        Values::U64(v) => Arc::new(UInt64Array::from(take(v, rows))),
        Values::F32(v) => Arc::new(Float32Array::from(take(v, rows))),
        Values::F64(v) => Arc::new(Float64Array::from(take(v, rows))),
        // numpy shows S and U values without trailing NULs.
        Values::Utf8(v) => Arc::new(StringArray::from_iter_values(take(v, rows).iter().map(|s| s.trim_end_matches('\0').to_string()))),
        Values::Binary(v) => {
            let values: Vec<Vec<u8>> = take(v, rows)
                .into_iter()
                .map(|mut b| {
                    while b.last() == Some(&0) {
                        b.pop();
                    }
                    b
                })
                .collect();
            Arc::new(BinaryArray::from_iter_values(values))
        }
        Values::FixedBinary(width, bytes) => {
            let width = usize::from(width % 9) + 1;
            let values: Vec<u8> = take(bytes, rows * width);
            Arc::new(FixedSizeBinaryArray::try_new(width as i32, Buffer::from_vec(values), None).unwrap())
        }
        Values::TimestampNs(v) => Arc::new(TimestampNanosecondArray::from(take(v, rows).into_iter().map(not_nat).collect::<Vec<_>>())),
        Values::TimestampS(v) => Arc::new(TimestampSecondArray::from(take(v, rows).into_iter().map(not_nat).collect::<Vec<_>>())),
        Values::Date32(v) => Arc::new(Date32Array::from(take(v, rows))),
        Values::DurationUs(v) => Arc::new(DurationMicrosecondArray::from(take(v, rows).into_iter().map(not_nat).collect::<Vec<_>>())),
        Values::List(k, v) => {
            let k = i32::from(k % 4) + 1;
            let items = Int32Array::from(take(v, rows * k as usize));
            let field = Arc::new(Field::new("item", DataType::Int32, false));
            Arc::new(FixedSizeListArray::try_new(field, k, Arc::new(items), None).unwrap())
        }
        Values::Struct(v) => {
            let v = take(v, rows);
            let x = Arc::new(Int16Array::from_iter_values(v.iter().map(|p| p.0))) as ArrayRef;
            let y = Arc::new(Float64Array::from_iter_values(v.iter().map(|p| p.1))) as ArrayRef;
            let fields = Fields::from(vec![Field::new("x", DataType::Int16, false), Field::new("y", DataType::Float64, false)]);
            Arc::new(StructArray::try_new(fields, vec![x, y], None).unwrap())
        }
        Values::Complex(v) => {
            let v = take(v, rows);
            let re = Arc::new(Float32Array::from_iter_values(v.iter().map(|p| p.0))) as ArrayRef;
            let im = Arc::new(Float32Array::from_iter_values(v.iter().map(|p| p.1))) as ArrayRef;
            let fields = Fields::from(vec![Field::new("real", DataType::Float32, false), Field::new("imag", DataType::Float32, false)]);
            Arc::new(StructArray::try_new(fields, vec![re, im], None).unwrap())
        }
    }
}

fn len(values: &Values) -> usize {
    match values {
        Values::Bool(v) => v.len(),
        Values::I8(v) => v.len(),
        Values::I16(v) => v.len(),
        Values::I32(v) | Values::Date32(v) => v.len(),
        Values::I64(v) | Values::TimestampNs(v) | Values::TimestampS(v) | Values::DurationUs(v) => v.len(),
        Values::U8(v) => v.len(),
        Values::U16(v) => v.len(),
        Values::U32(v) => v.len(),
        Values::U64(v) => v.len(),
        Values::F32(v) => v.len(),
        Values::F64(v) => v.len(),
        Values::Utf8(v) => v.len(),
        Values::Binary(v) => v.len(),
        Values::FixedBinary(_, v) => v.len(),
        Values::List(_, v) => v.len(),
        Values::Struct(v) => v.len(),
        Values::Complex(v) => v.len(),
    }
}

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
}

fuzz_target!(|input: Input| {
    if input.columns.is_empty() || input.columns.len() > 8 {
        return;
    }
    // A lone struct column of a .npy is written as a structured array, whose fields come back
    // as the columns: a different table, checked by the unit tests, not here.
    if !input.npz && matches!(input.columns.as_slice(), [Values::Struct(_)]) {
        return;
    }
    let rows = input.columns.iter().map(len).max().unwrap_or(0).min(64);
    let (names, columns): (Vec<String>, Vec<ArrayRef>) =
        input.columns.iter().enumerate().map(|(i, v)| (format!("c{i}"), column(v, rows))).unzip();
    let single = names.len() == 1;
    let fields: Vec<Field> = names.iter().zip(&columns).map(|(n, c)| Field::new(n, c.data_type().clone(), false)).collect();
    let expected = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();

    // A single column of a .npy is a plain array, named after the file's stem.
    let stem = if single { "c0" } else { "t" };
    let path = dir().path().join(format!("{stem}.{}", if input.npz { "npz" } else { "npy" }));
    let compression = if input.deflated { NpzCompression::Deflated } else { NpzCompression::Stored };
    let mut writer = Writer::try_new(&path, expected.schema(), WriteOptions::default().with_compression(compression))
        .unwrap_or_else(|e| panic!("writer refused {:?}: {e}", expected.schema()));
    let step = usize::from(input.write_batch).max(1);
    let mut offset = 0;
    loop {
        let n = step.min(rows - offset);
        writer.write(&expected.slice(offset, n)).unwrap_or_else(|e| panic!("write failed: {e}"));
        offset += n;
        if offset >= rows {
            break;
        }
    }
    writer.finish().unwrap_or_else(|e| panic!("finish failed: {e}"));

    let check = |reader: arrow_npy::Reader| {
        let mut offset = 0;
        for batch in reader {
            let batch = batch.unwrap_or_else(|e| panic!("read back failed: {e}"));
            assert_eq!(batch.num_columns(), expected.num_columns());
            for (i, column) in batch.columns().iter().enumerate() {
                let want = expected.column(i).slice(offset, batch.num_rows());
                // Read fields carry numpy metadata (and nested ones their own nullability):
                // the types must agree but for those, the values exactly.
                assert!(column.data_type().equals_datatype(want.data_type()), "column {i}: {} read as {}", want.data_type(), column.data_type());
                let got = column.to_data().into_builder().data_type(want.data_type().clone()).build().unwrap();
                assert_eq!(got, want.to_data(), "column {i} rows {offset}.. differ");
            }
            offset += batch.num_rows();
        }
        assert_eq!(offset, rows, "rows read back");
    };
    check(ReaderBuilder::new(&path).with_batch_size(usize::from(input.read_batch).max(1)).build().unwrap());
    // The same bytes copied into memory (another alignment, the non-mmap path).
    let bytes = std::fs::read(&path).unwrap();
    let table = NpyTable::from_bytes(&path, bytes, &OpenOptions::default()).unwrap();
    check(table.reader().build().unwrap());
});
