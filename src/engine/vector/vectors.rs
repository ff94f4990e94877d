//! A vector column as the kernels see it: the flat values buffer of a `FixedSizeList` or
//! `List`/`LargeList` of Float16/Float32/Float64, where each row starts and ends, and which rows
//! (or elements) are null. Borrowed from the Arrow array: nothing is copied unless a row's
//! element type differs from the computation's, and then only one row at a time.

use std::ops::Range;

use datafusion::arrow::array::{Array, AsArray, FixedSizeListArray};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::datatypes::{DataType, Float16Type, Float32Type, Float64Type};
use datafusion::common::{exec_err, Result};
use half::f16;
use half::slice::HalfFloatSliceExt;

use super::kernels::Acc;

/// The flat element buffer.
#[derive(Debug, Clone, Copy)]
pub enum Elements<'a> {
    F16(&'a [f16]),
    F32(&'a [f32]),
    F64(&'a [f64]),
}

impl Elements<'_> {
    fn len(&self) -> usize {
        match self {
            Elements::F16(v) => v.len(),
            Elements::F32(v) => v.len(),
            Elements::F64(v) => v.len(),
        }
    }
}

/// Where rows start and end in [`Elements`].
#[derive(Debug, Clone, Copy)]
pub enum Rows<'a> {
    /// Row `i` is `i*d .. (i+1)*d` (a `FixedSizeList` of size `d`).
    Fixed(usize),
    /// Row `i` is `offsets[i] .. offsets[i+1]`.
    Offsets32(&'a [i32]),
    Offsets64(&'a [i64]),
}

/// A borrowed view of one vector argument.
#[derive(Debug, Clone, Copy)]
pub struct Vectors<'a> {
    pub elements: Elements<'a>,
    pub rows: Rows<'a>,
    pub len: usize,
    /// Null rows.
    pub nulls: Option<&'a NullBuffer>,
    /// Null elements, only when there are any.
    pub element_nulls: Option<&'a NullBuffer>,
}

/// Is `t` an element type the kernels read as it is?
pub fn is_float(t: &DataType) -> bool {
    matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64)
}

/// The element type of a list-like type.
pub fn element_type(t: &DataType) -> Option<&DataType> {
    match t {
        DataType::FixedSizeList(f, _) | DataType::List(f) | DataType::LargeList(f) => Some(f.data_type()),
        _ => None,
    }
}

impl<'a> Vectors<'a> {
    /// `array` must be a `FixedSizeList`, `List` or `LargeList` of Float16/32/64 (what the
    /// functions' type coercion leaves); anything else is an error naming `what`.
    pub fn try_new(array: &'a dyn Array, what: &str) -> Result<Self> {
        let (values, rows) = match array.data_type() {
            DataType::FixedSizeList(_, d) => {
                let list: &FixedSizeListArray = array.as_fixed_size_list();
                let d = usize::try_from(*d).unwrap_or(0);
                (list.values(), Rows::Fixed(d))
            }
            DataType::List(_) => {
                let list = array.as_list::<i32>();
                (list.values(), Rows::Offsets32(list.value_offsets()))
            }
            DataType::LargeList(_) => {
                let list = array.as_list::<i64>();
                (list.values(), Rows::Offsets64(list.value_offsets()))
            }
            other => return exec_err!("{what}: expected an array of floats, got {other}"),
        };
        let elements = match values.data_type() {
            DataType::Float16 => Elements::F16(values.as_primitive::<Float16Type>().values()),
            DataType::Float32 => Elements::F32(values.as_primitive::<Float32Type>().values()),
            DataType::Float64 => Elements::F64(values.as_primitive::<Float64Type>().values()),
            other => return exec_err!("{what}: expected an array of floats, got an array of {other}"),
        };
        let element_nulls = values.nulls().filter(|n| n.null_count() > 0);
        Ok(Vectors { elements, rows, len: array.len(), nulls: array.nulls().filter(|n| n.null_count() > 0), element_nulls })
    }

    pub fn is_null(&self, row: usize) -> bool {
        self.nulls.is_some_and(|n| n.is_null(row))
    }

    /// The element range of `row`, checked against the values buffer.
    pub fn range(&self, row: usize) -> Option<Range<usize>> {
        let range = match self.rows {
            Rows::Fixed(d) => row.checked_mul(d)?..(row + 1).checked_mul(d)?,
            Rows::Offsets32(o) => usize::try_from(*o.get(row)?).ok()?..usize::try_from(*o.get(row + 1)?).ok()?,
            Rows::Offsets64(o) => usize::try_from(*o.get(row)?).ok()?..usize::try_from(*o.get(row + 1)?).ok()?,
        };
        (range.start <= range.end && range.end <= self.elements.len()).then_some(range)
    }

    /// Does `row` hold a null element?
    pub fn has_null_element(&self, row: usize) -> bool {
        match (self.element_nulls, self.range(row)) {
            (Some(nulls), Some(range)) => range.into_iter().any(|i| nulls.is_null(i)),
            _ => false,
        }
    }

    /// The values of `row` as `T`: borrowed when the elements are `T`, else converted into
    /// `scratch`. `None` if the row lies outside the buffer (a malformed array).
    pub fn row<'s, T: Compute>(&'s self, row: usize, scratch: &'s mut Vec<T>) -> Option<&'s [T]>
    where
        'a: 's,
    {
        let range = self.range(row)?;
        match T::borrow(&self.elements) {
            Some(all) => all.get(range),
            None => {
                T::convert(&self.elements, range, scratch);
                Some(scratch.as_slice())
            }
        }
    }
}

/// Why [`Vectors::flat_rows`] could not lay rows out `d` apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlatRowsError {
    /// Row `row` holds `len` values, not `d`.
    Length { row: usize, len: usize },
    /// The array's offsets point outside its values.
    Malformed,
}

impl Vectors<'_> {
    /// Rows `rows` as one row-major slice of `d`-long rows: borrowed from the values buffer
    /// when the column is a `FixedSizeList` of `T` (the memory map itself, for a `.npy` scan),
    /// else converted into `scratch`, NULL rows as zeros.
    pub fn flat_rows<'s, T: Compute>(&'s self, rows: Range<usize>, d: usize, scratch: &'s mut Vec<T>) -> Result<&'s [T], FlatRowsError> {
        if let Rows::Fixed(width) = self.rows {
            if width != d {
                return Err(FlatRowsError::Length { row: rows.start, len: width });
            }
            let range = rows.start.checked_mul(d).ok_or(FlatRowsError::Malformed)?..rows.end.checked_mul(d).ok_or(FlatRowsError::Malformed)?;
            if range.end > self.elements.len() || range.start > range.end {
                return Err(FlatRowsError::Malformed);
            }
            return match T::borrow(&self.elements) {
                Some(all) => Ok(&all[range]),
                None => {
                    T::convert(&self.elements, range, scratch);
                    Ok(scratch.as_slice())
                }
            };
        }
        scratch.clear();
        let mut row_values = Vec::new();
        for row in rows {
            if self.is_null(row) {
                scratch.resize(scratch.len() + d, T::ZERO);
                continue;
            }
            let range = self.range(row).ok_or(FlatRowsError::Malformed)?;
            if range.len() != d {
                return Err(FlatRowsError::Length { row, len: range.len() });
            }
            T::convert(&self.elements, range, &mut row_values);
            scratch.extend_from_slice(&row_values);
        }
        Ok(scratch.as_slice())
    }
}

/// An accumulator type and how to read any element type as it.
pub trait Compute: Acc {
    /// The whole buffer, if its elements are `Self`.
    fn borrow<'a>(elements: &Elements<'a>) -> Option<&'a [Self]>;
    /// `elements[range]` converted into `out` (replacing its contents).
    fn convert(elements: &Elements<'_>, range: Range<usize>, out: &mut Vec<Self>);
}

impl Compute for f32 {
    fn borrow<'a>(elements: &Elements<'a>) -> Option<&'a [f32]> {
        match elements {
            Elements::F32(v) => Some(v),
            _ => None,
        }
    }

    fn convert(elements: &Elements<'_>, range: Range<usize>, out: &mut Vec<f32>) {
        out.clear();
        match elements {
            Elements::F16(v) => {
                let src = v.get(range).unwrap_or_default();
                out.resize(src.len(), 0.0);
                // half converts slices with F16C where the CPU has it.
                src.convert_to_f32_slice(out);
            }
            Elements::F32(v) => out.extend_from_slice(v.get(range).unwrap_or_default()),
            Elements::F64(v) => out.extend(v.get(range).unwrap_or_default().iter().map(|x| *x as f32)),
        }
    }
}

impl Compute for f64 {
    fn borrow<'a>(elements: &Elements<'a>) -> Option<&'a [f64]> {
        match elements {
            Elements::F64(v) => Some(v),
            _ => None,
        }
    }

    fn convert(elements: &Elements<'_>, range: Range<usize>, out: &mut Vec<f64>) {
        out.clear();
        match elements {
            Elements::F16(v) => {
                let src = v.get(range).unwrap_or_default();
                out.resize(src.len(), 0.0);
                src.convert_to_f64_slice(out);
            }
            Elements::F32(v) => out.extend(v.get(range).unwrap_or_default().iter().map(|x| *x as f64)),
            Elements::F64(v) => out.extend_from_slice(v.get(range).unwrap_or_default()),
        }
    }
}
