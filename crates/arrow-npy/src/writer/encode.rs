//! Arrow arrays → numpy item bytes (little-endian, C order), one batch at a time.
//!
//! [`encode`] appends `array.len()` items of a [`DType`] chosen by `super::dtype_map`. Records
//! are encoded field by field and then interleaved row by row; a sub-array is its list's child
//! values, which Arrow already stores in C order.
//!
//! Nulls: a null struct or list makes all its leaves null. A null leaf becomes NaN (floats,
//! complex parts) or NaT (datetimes, timedeltas); any other type has no missing value, so the
//! [`NullPolicy`] decides: an error naming the column and row, or zero bytes.

use crate::arrow::array::{Array, ArrayRef, AsArray};
use crate::arrow::compute::CastOptions;
use crate::arrow::buffer::{BooleanBuffer, NullBuffer};
use crate::arrow::datatypes::DataType;

use super::dtype_map::join_path;
use super::NullPolicy;
use crate::error::{ErrorKind, NpyError, Result};
use crate::dtype::DType;

/// Where the values being encoded are, for error messages and null handling.
#[derive(Debug, Clone)]
pub struct Context {
    /// The column's (dotted) name.
    pub column: String,
    /// Row number (in the whole output) of the batch's first row.
    pub first_row: u64,
    /// Leaf items per row (a sub-array's element count), to turn an item index into a row.
    pub items_per_row: usize,
    pub nulls: NullPolicy,
}

impl Context {
    fn field(&self, name: &str) -> Self {
        Context { column: join_path(&self.column, name), ..self.clone() }
    }
    fn row_of(&self, item: usize) -> u64 {
        self.first_row + (item / self.items_per_row.max(1)) as u64
    }
}

/// Append the numpy bytes of every item of `array` (`dtype.itemsize()` each) to `out`.
/// `inherited` marks items null because a parent struct or list is null.
pub fn encode(
    array: &dyn Array,
    inherited: Option<&NullBuffer>,
    dtype: &DType,
    ctx: &Context,
    out: &mut Vec<u8>,
) -> Result<()> {
    if let DataType::Dictionary(_, values) = array.data_type() {
        let plain = crate::arrow::compute::cast(array, values)?;
        return encode(plain.as_ref(), inherited, dtype, ctx, out);
    }
    let nulls = NullBuffer::union(array.logical_nulls().as_ref(), inherited);
    let start = out.len();
    match dtype {
        DType::Record(record) => return encode_record(array, nulls.as_ref(), record, ctx, out),
        DType::Complex { bytes, .. } => {
            return encode_complex(array, nulls.as_ref(), usize::from(*bytes / 2), ctx, out)
        }
        DType::SubArray { base, shape } => return encode_sub_array(array, nulls, base, shape, ctx, out),
        DType::Bool => encode_bool(array, ctx, out)?,
        DType::Int { .. } | DType::Float { .. } => encode_fixed_width(array, dtype.itemsize(), true, ctx, out)?,
        DType::DateTime { .. } | DType::TimeDelta { .. } => encode_time(array, ctx, out)?,
        DType::Void { len } => encode_fixed_width(array, *len, false, ctx, out)?,
        DType::Bytes { len } => encode_bytes(array, *len, ctx, out)?,
        DType::Unicode { chars, .. } => encode_unicode(array, *chars, ctx, out)?,
        DType::Object => return Err(mismatch(array, dtype, ctx)),
    }
    if let Some(nulls) = nulls.filter(|n| n.null_count() > 0) {
        fill_nulls(&mut out[start..], &nulls, dtype, ctx)?;
    }
    Ok(())
}

/// What a null leaf becomes: numpy's missing value where it has one, else the policy's choice.
fn fill_nulls(items: &mut [u8], nulls: &NullBuffer, dtype: &DType, ctx: &Context) -> Result<()> {
    let itemsize = dtype.itemsize();
    let missing: Vec<u8> = match dtype {
        DType::Float { bytes: 2, .. } => half::f16::NAN.to_le_bytes().to_vec(),
        DType::Float { bytes: 4, .. } => f32::NAN.to_le_bytes().to_vec(),
        DType::Float { .. } => f64::NAN.to_le_bytes().to_vec(),
        DType::DateTime { .. } | DType::TimeDelta { .. } => i64::MIN.to_le_bytes().to_vec(),
        _ => match ctx.nulls {
            NullPolicy::Zero => vec![0; itemsize],
            NullPolicy::Error => {
                let first = nulls.iter().position(|valid| !valid).unwrap_or(0);
                return Err(null_error(dtype, ctx, first));
            }
        },
    };
    for (item, valid) in items.chunks_exact_mut(itemsize.max(1)).zip(nulls.iter()) {
        if !valid {
            item.copy_from_slice(&missing);
        }
    }
    Ok(())
}

fn null_error(dtype: &DType, ctx: &Context, item: usize) -> NpyError {
    let descr = dtype_name(dtype);
    NpyError::from(ErrorKind::Unwritable {
        what: format!("a null at row {}", ctx.row_of(item)),
        reason: format!(
            "numpy's {descr} has no missing value (only floats have NaN and datetimes NaT); \
             filter or fill the nulls, or write them as zeros"
        ),
    })
    .in_column(&ctx.column)
}

/// A short numpy name for messages (`int32`, `U5`, ...), without needing a descr printer.
fn dtype_name(dtype: &DType) -> String {
    match dtype {
        DType::Bool => "bool".into(),
        DType::Int { bytes, signed: true, .. } => format!("int{}", u32::from(*bytes) * 8),
        DType::Int { bytes, signed: false, .. } => format!("uint{}", u32::from(*bytes) * 8),
        DType::Bytes { len } => format!("S{len}"),
        DType::Unicode { chars, .. } => format!("U{chars}"),
        DType::Void { len } => format!("V{len}"),
        other => format!("{other:?}"),
    }
}

/// Records: each field's bytes for all rows, then placed at the fields' offsets in items of
/// the record's size (gaps, i.e. padding, are zero bytes, as in a fresh numpy array).
fn encode_record(
    array: &dyn Array,
    nulls: Option<&NullBuffer>,
    record: &crate::dtype::Record,
    ctx: &Context,
    out: &mut Vec<u8>,
) -> Result<()> {
    let Some(structs) = array.as_struct_opt() else { return Err(mismatch(array, &DType::Record(record.clone()), ctx)) };
    if structs.num_columns() != record.fields.len() {
        return Err(mismatch(array, &DType::Record(record.clone()), ctx));
    }
    let mut parts = Vec::with_capacity(record.fields.len());
    for (field, child) in record.fields.iter().zip(structs.columns()) {
        let mut bytes = Vec::with_capacity(child.len() * field.dtype.itemsize());
        encode(child.as_ref(), nulls, &field.dtype, &ctx.field(&field.name), &mut bytes)?;
        parts.push(Part { bytes, size: field.dtype.itemsize(), offset: field.offset });
    }
    scatter(&parts, array.len(), record.itemsize, out);
    Ok(())
}

/// Complex numbers: the `real` and `imag` floats side by side.
fn encode_complex(
    array: &dyn Array,
    nulls: Option<&NullBuffer>,
    part_bytes: usize,
    ctx: &Context,
    out: &mut Vec<u8>,
) -> Result<()> {
    let part = DType::Float { bytes: part_bytes as u8, endian: crate::dtype::Endian::Little };
    let Some(structs) = array.as_struct_opt().filter(|s| s.num_columns() == 2) else {
        return Err(mismatch(array, &part, ctx));
    };
    let mut parts = Vec::with_capacity(2);
    for ((name, child), offset) in ["real", "imag"].iter().zip(structs.columns()).zip([0, part_bytes]) {
        let mut bytes = Vec::with_capacity(child.len() * part_bytes);
        encode(child.as_ref(), nulls, &part, &ctx.field(name), &mut bytes)?;
        parts.push(Part { bytes, size: part_bytes, offset });
    }
    scatter(&parts, array.len(), 2 * part_bytes, out);
    Ok(())
}

/// One field's bytes for a run of items: `size` bytes each, to go at `offset` in every item.
pub struct Part {
    pub bytes: Vec<u8>,
    pub size: usize,
    pub offset: usize,
}

/// `count` items of `itemsize` bytes: item `i` holds item `i` of each part at the part's offset,
/// zeros elsewhere.
pub fn scatter(parts: &[Part], count: usize, itemsize: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + count * itemsize, 0);
    let items = &mut out[start..];
    for part in parts {
        if part.size == 0 {
            continue;
        }
        for (item, value) in items.chunks_exact_mut(itemsize).zip(part.bytes.chunks_exact(part.size)) {
            item[part.offset..part.offset + part.size].copy_from_slice(value);
        }
    }
}

/// A sub-array: the innermost values of the nested fixed-size lists, in C order already.
fn encode_sub_array(
    array: &dyn Array,
    nulls: Option<NullBuffer>,
    base: &DType,
    shape: &[usize],
    ctx: &Context,
    out: &mut Vec<u8>,
) -> Result<()> {
    let mut values = array.slice(0, array.len());
    let mut nulls = nulls;
    let mut items_per_row = ctx.items_per_row.max(1);
    for &len in shape {
        values = list_as_fixed_size(values, len)?;
        let Some(list) = values.as_fixed_size_list_opt().filter(|l| l.value_length() as usize == len) else {
            return Err(mismatch(values.as_ref(), base, ctx));
        };
        // `FixedSizeListArray::slice` slices its values, so they are exactly `len` per row.
        nulls = NullBuffer::union(nulls.as_ref(), list.logical_nulls().as_ref()).map(|n| repeat_each(&n, len));
        values = list.values().clone();
        items_per_row *= len;
    }
    let inner = Context { items_per_row, ..ctx.clone() };
    encode(values.as_ref(), nulls.as_ref(), base, &inner, out)
}

/// A List (or LargeList) whose rows all hold `len` items, which `super::dtype_map::measure_widths`
/// checked, as a FixedSizeList (a null row gets `len` null items); any other array as it is.
fn list_as_fixed_size(values: ArrayRef, len: usize) -> Result<ArrayRef> {
    match values.data_type() {
        DataType::List(item) | DataType::LargeList(item) => {
            let size = i32::try_from(len).map_err(|_| internal_list_length(len))?;
            let fixed = DataType::FixedSizeList(item.clone(), size);
            let options = CastOptions { safe: false, ..Default::default() };
            Ok(crate::arrow::compute::cast_with_options(&values, &fixed, &options)?)
        }
        _ => Ok(values),
    }
}

fn internal_list_length(len: usize) -> NpyError {
    NpyError::from(ErrorKind::Unwritable { what: format!("lists of {len} items"), reason: "too long".into() })
}

/// Each validity bit repeated `times` times: a list's nulls spread over its items.
fn repeat_each(nulls: &NullBuffer, times: usize) -> NullBuffer {
    let bits = BooleanBuffer::from_iter(nulls.iter().flat_map(|valid| std::iter::repeat_n(valid, times)));
    NullBuffer::new(bits)
}

fn encode_bool(array: &dyn Array, ctx: &Context, out: &mut Vec<u8>) -> Result<()> {
    let Some(bools) = array.as_boolean_opt() else { return Err(mismatch(array, &DType::Bool, ctx)) };
    out.extend(bools.values().iter().map(u8::from));
    Ok(())
}

/// Primitive values and fixed-size binaries: the Arrow value buffer is the numpy data (on a
/// little-endian machine; `swap` reverses each item on a big-endian one).
fn encode_fixed_width(array: &dyn Array, width: usize, swap: bool, ctx: &Context, out: &mut Vec<u8>) -> Result<()> {
    let data = array.to_data();
    let expected = match data.data_type() {
        DataType::FixedSizeBinary(n) => usize::try_from(*n).ok(),
        other => other.primitive_width(),
    };
    let bytes = data
        .buffers()
        .first()
        .filter(|_| expected == Some(width))
        .and_then(|buffer| buffer.as_slice().get(data.offset() * width..(data.offset() + data.len()) * width));
    let Some(bytes) = bytes else {
        return Err(NpyError::from(ErrorKind::Unwritable {
            what: format!("type {}", array.data_type()),
            reason: format!("expected {width}-byte items"),
        })
        .in_column(&ctx.column));
    };
    let start = out.len();
    out.extend_from_slice(bytes);
    if swap && cfg!(target_endian = "big") {
        out[start..].chunks_exact_mut(width).for_each(<[u8]>::reverse);
    }
    Ok(())
}

/// datetime64 / timedelta64 are i64; Date32 days are widened.
fn encode_time(array: &dyn Array, ctx: &Context, out: &mut Vec<u8>) -> Result<()> {
    if let Some(days) = array.as_primitive_opt::<crate::arrow::datatypes::Date32Type>() {
        out.extend(days.values().iter().flat_map(|&d| i64::from(d).to_le_bytes()));
        return Ok(());
    }
    encode_fixed_width(array, 8, true, ctx, out)
}

fn encode_bytes(array: &dyn Array, len: usize, ctx: &Context, out: &mut Vec<u8>) -> Result<()> {
    match array.data_type() {
        DataType::Binary => pad_each(array.as_binary::<i32>().iter(), len, ctx, out),
        DataType::LargeBinary => pad_each(array.as_binary::<i64>().iter(), len, ctx, out),
        DataType::BinaryView => pad_each(array.as_binary_view().iter(), len, ctx, out),
        _ => Err(mismatch(array, &DType::Bytes { len }, ctx)),
    }
}

fn encode_unicode(array: &dyn Array, chars: usize, ctx: &Context, out: &mut Vec<u8>) -> Result<()> {
    let mut push = |values: &mut dyn Iterator<Item = Option<&str>>| -> Result<()> {
        for (item, value) in values.enumerate() {
            let start = out.len();
            for c in value.unwrap_or_default().chars() {
                out.extend_from_slice(&u32::from(c).to_le_bytes());
            }
            if out.len() - start > chars * 4 {
                return Err(too_wide(ctx, item, chars));
            }
            out.resize(start + chars * 4, 0);
        }
        Ok(())
    };
    match array.data_type() {
        DataType::Utf8 => push(&mut array.as_string::<i32>().iter()),
        DataType::LargeUtf8 => push(&mut array.as_string::<i64>().iter()),
        DataType::Utf8View => push(&mut array.as_string_view().iter()),
        _ => Err(mismatch(array, &DType::Unicode { chars, endian: crate::dtype::Endian::Little }, ctx)),
    }
}

/// Each value NUL-padded to `len` bytes (numpy's `S<len>`).
fn pad_each<'a>(
    values: impl Iterator<Item = Option<&'a [u8]>>,
    len: usize,
    ctx: &Context,
    out: &mut Vec<u8>,
) -> Result<()> {
    for (item, value) in values.enumerate() {
        let value = value.unwrap_or_default();
        if value.len() > len {
            return Err(too_wide(ctx, item, len));
        }
        out.extend_from_slice(value);
        out.resize(out.len() + len - value.len(), 0);
    }
    Ok(())
}

/// A value longer than the width measured for it: only if the data changed between passes.
fn too_wide(ctx: &Context, item: usize, width: usize) -> NpyError {
    NpyError::from(ErrorKind::Unwritable {
        what: format!("the value at row {}", ctx.row_of(item)),
        reason: format!("it is longer than the {width} measured for the column"),
    })
    .in_column(&ctx.column)
}

/// The batch's type does not fit the dtype planned from the schema.
fn mismatch(array: &dyn Array, dtype: &DType, ctx: &Context) -> NpyError {
    NpyError::from(ErrorKind::Unwritable {
        what: format!("type {}", array.data_type()),
        reason: format!("it does not match the numpy type {} planned from the schema", dtype_name(dtype)),
    })
    .in_column(&ctx.column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::{Endian, TimeUnit};
    use crate::writer::dtype_map::numpy_dtype;
    use crate::arrow::array::*;
    use crate::arrow::datatypes::{Field, Fields, Float32Type};
    use std::sync::Arc;

    fn bytes_of(array: &dyn Array, widths: &[usize], nulls: NullPolicy) -> Result<Vec<u8>> {
        let dtype = numpy_dtype("c", array.data_type(), &mut widths.iter().copied())?;
        let ctx = Context { column: "c".into(), first_row: 100, items_per_row: 1, nulls };
        let mut out = Vec::new();
        encode(array, None, &dtype, &ctx, &mut out)?;
        assert_eq!(out.len(), array.len() * dtype.itemsize());
        Ok(out)
    }

    #[test]
    fn sliced_primitives_start_at_the_slice() {
        let a = Int16Array::from(vec![1, 2, 3, -4]).slice(2, 2);
        assert_eq!(bytes_of(&a, &[], NullPolicy::Error).unwrap(), [3, 0, 0xfc, 0xff]);
    }

    #[test]
    fn null_floats_are_nan_and_null_datetimes_nat() {
        let f = Float32Array::from(vec![Some(1.5), None]);
        let out = bytes_of(&f, &[], NullPolicy::Error).unwrap();
        assert_eq!(&out[..4], &1.5f32.to_le_bytes());
        assert!(f32::from_le_bytes(out[4..].try_into().unwrap()).is_nan());
        let t = TimestampSecondArray::from(vec![None, Some(7)]);
        assert_eq!(bytes_of(&t, &[], NullPolicy::Error).unwrap()[..8], i64::MIN.to_le_bytes());
        let d = Date32Array::from(vec![Some(-1), None]);
        let out = bytes_of(&d, &[], NullPolicy::Error).unwrap();
        assert_eq!(out[..8], (-1i64).to_le_bytes());
        assert_eq!(out[8..], i64::MIN.to_le_bytes());
    }

    #[test]
    fn null_int_is_an_error_naming_column_and_row_unless_zeros_are_asked_for() {
        let a = Int32Array::from(vec![Some(1), Some(2), None]);
        let e = bytes_of(&a, &[], NullPolicy::Error).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Unwritable { .. }));
        assert_eq!(e.to_string(), "column 'c': cannot write a null at row 102: numpy's int32 has no missing value (only floats have NaN and datetimes NaT); filter or fill the nulls, or write them as zeros");
        assert_eq!(bytes_of(&a, &[], NullPolicy::Zero).unwrap(), [1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn strings_are_ucs4_and_bytes_nul_padded() {
        let s = StringArray::from(vec!["aé", "", "€"]);
        let out = bytes_of(&s, &[2], NullPolicy::Error).unwrap();
        assert_eq!(out, [b'a', 0, 0, 0, 0xe9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xac, 0x20, 0, 0, 0, 0, 0, 0]);
        let b = BinaryArray::from(vec![&b"ab"[..], b"\0c", b""]);
        assert_eq!(bytes_of(&b, &[3], NullPolicy::Error).unwrap(), *b"ab\0\0c\0\0\0\0");
        assert!(bytes_of(&s, &[1], NullPolicy::Error).unwrap_err().to_string().contains("row 100"));
    }

    #[test]
    fn records_interleave_fields_and_struct_nulls_reach_the_leaves() {
        let x = Arc::new(Float64Array::from(vec![1.0, 2.0])) as ArrayRef;
        let n = Arc::new(Int8Array::from(vec![5, 6])) as ArrayRef;
        let fields =
            Fields::from(vec![Field::new("x", DataType::Float64, true), Field::new("n", DataType::Int8, true)]);
        let s = StructArray::new(fields.clone(), vec![x.clone(), n.clone()], None);
        let out = bytes_of(&s, &[], NullPolicy::Error).unwrap();
        assert_eq!(out[..8], 1.0f64.to_le_bytes());
        assert_eq!(out[8], 5);
        assert_eq!(out[9..17], 2.0f64.to_le_bytes());
        assert_eq!(out[17], 6);

        let with_null = StructArray::new(fields, vec![x, n], Some(NullBuffer::from(vec![true, false])));
        let e = bytes_of(&with_null, &[], NullPolicy::Error).unwrap_err();
        assert_eq!(e.location.column.as_deref(), Some("c.n"));
        let out = bytes_of(&with_null, &[], NullPolicy::Zero).unwrap();
        assert!(f64::from_le_bytes(out[9..17].try_into().unwrap()).is_nan());
        assert_eq!(out[17], 0);
    }

    #[test]
    fn complex_is_real_then_imag() {
        let fields = Fields::from(vec![
            Field::new("real", DataType::Float32, true),
            Field::new("imag", DataType::Float32, true),
        ]);
        let re = Arc::new(Float32Array::from(vec![1.0, 3.0])) as ArrayRef;
        let im = Arc::new(Float32Array::from(vec![2.0, 4.0])) as ArrayRef;
        let c = StructArray::new(fields, vec![re, im], Some(NullBuffer::from(vec![true, false])));
        let out = bytes_of(&c, &[], NullPolicy::Error).unwrap();
        assert_eq!(out[..8], [1.0f32.to_le_bytes(), 2.0f32.to_le_bytes()].concat());
        assert!(out[8..].chunks(4).all(|p| f32::from_le_bytes(p.try_into().unwrap()).is_nan()));
    }

    #[test]
    fn sub_arrays_are_the_child_values_and_list_nulls_spread_to_items() {
        let rows = vec![Some(vec![Some(1.0f32), Some(2.0)]), None, Some(vec![Some(5.0), None])];
        let list = FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(rows, 2).slice(1, 2);
        let out = bytes_of(&list, &[], NullPolicy::Error).unwrap();
        let values: Vec<f32> = out.chunks(4).map(|p| f32::from_le_bytes(p.try_into().unwrap())).collect();
        assert!(values[0].is_nan() && values[1].is_nan() && values[3].is_nan());
        assert_eq!(values[2], 5.0);
        let ints = FixedSizeListArray::from_iter_primitive::<crate::arrow::datatypes::Int32Type, _, _>(
            vec![Some(vec![Some(1), Some(2)]), Some(vec![Some(3), None])],
            2,
        );
        let e = bytes_of(&ints, &[], NullPolicy::Error).unwrap_err();
        assert!(e.to_string().contains("row 101"), "{e}");
    }

    #[test]
    fn dtype_name_is_readable() {
        assert_eq!(dtype_name(&DType::Int { bytes: 2, signed: false, endian: Endian::Little }), "uint16");
        let _ = TimeUnit::Day;
    }
}
