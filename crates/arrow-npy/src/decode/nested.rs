//! Types with children: complex numbers (Struct{real, imag}), records (Struct of fields) and
//! sub-arrays (nested FixedSizeList).
//!
//! Children are decoded by [`super::decode`] from derived views, so each child gets the zero-copy
//! path when its own bytes allow it: a contiguous sub-array of aligned native primitives is a
//! FixedSizeList over the input buffer; a record field is strided, so it is gathered.

use std::sync::Arc;

use crate::arrow::array::{ArrayRef, FixedSizeListArray, StructArray};
use crate::arrow::datatypes::DataType;

use super::{decode, with_row, ByteView};
use crate::error::ErrorKind;
use crate::dtype::{DType, Record};
use crate::schema::{arrow_type, can_be_null, list_item_field, record_fields};

/// `c8` / `c16`: Struct{real, imag}, each half decoded as the float of half the width.
pub(super) fn decode_complex(dtype: &DType, view: &ByteView) -> Result<ArrayRef, ErrorKind> {
    let DataType::Struct(fields) = arrow_type(dtype)? else {
        return Err(ErrorKind::InvalidArgument(format!("{dtype:?} is not a complex number")));
    };
    let DType::Complex { bytes, endian } = dtype else {
        return Err(ErrorKind::InvalidArgument(format!("{dtype:?} is not a complex number")));
    };
    let half = DType::Float { bytes: bytes / 2, endian: *endian };
    let real = decode(&half, view)?;
    let imag = decode(&half, &view.field(half.itemsize())?)?;
    Ok(Arc::new(StructArray::try_new_with_length(fields, vec![real, imag], None, view.rows)?))
}

/// A record: one child per named field, decoded from the bytes at the field's offset in every
/// item (same stride). Padding is not in the model, so it is never read.
pub(super) fn decode_record(record: &Record, view: &ByteView) -> Result<ArrayRef, ErrorKind> {
    let fields = record_fields(record)?;
    let children = record
        .fields
        .iter()
        .map(|field| decode(&field.dtype, &view.field(field.offset)?))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(StructArray::try_new_with_length(fields, children, None, view.rows)?))
}

/// A sub-array `base` of `shape` (C order) per item: nested FixedSizeList, outermost dimension
/// first. Strided items (a sub-array field of a record) are first packed together so the
/// `rows * k` scalars can be decoded as one contiguous view.
pub(super) fn decode_sub_array(dtype: &DType, base: &DType, shape: &[usize], view: &ByteView) -> Result<ArrayRef, ErrorKind> {
    // Validates the dimensions (and refuses unsupported bases) before any arithmetic on them.
    arrow_type(dtype)?;
    let overflow = || ErrorKind::InvalidArgument(format!("sub-array of shape {shape:?} overflows"));
    let per_row = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(overflow)?;
    let scalars = view.rows.checked_mul(per_row).ok_or_else(overflow)?;
    let packed = view.compacted(dtype.itemsize());
    let items = ByteView { stride: base.itemsize(), rows: scalars, first_row: 0, ..packed };
    // Report errors by table row, not by scalar.
    let first_row = view.first_row;
    let mut array = decode(base, &items)
        .map_err(|e| with_row(e, |scalar| first_row + scalar / per_row.max(1) as u64))?;
    let nullable = can_be_null(base);
    for (level, &dim) in shape.iter().enumerate().rev() {
        // The lists at this level: one per row and per index of the dimensions above it.
        let len = shape[..level]
            .iter()
            .try_fold(view.rows, |acc, &d| acc.checked_mul(d))
            .ok_or_else(overflow)?;
        let field = list_item_field(array.data_type().clone(), nullable);
        // `arrow_type` checked that every dimension fits an i32.
        array = Arc::new(FixedSizeListArray::try_new_with_length(field, dim as i32, array, None, len)?);
    }
    Ok(array)
}
