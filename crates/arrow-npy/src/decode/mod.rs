//! Bytes → Arrow arrays, one file per Arrow family. The entry point is [`decode`]: given a
//! [`ByteView`] (where each item's bytes are) and the item's dtype, build the Arrow array.
//!
//! Zero-copy rule (SPEC §4): a little-endian (native) primitive whose items are contiguous and
//! whose first byte is aligned for the Arrow type is handed over as a slice of the view's
//! buffer, which may point into a memory map; FixedSizeList of such primitives too; `V<n>` too.
//! Everything else (bool, byte-swapped, strided record fields, misaligned) is copied, in one
//! pass into one fresh allocation.
//!
//! Families: `primitive` (ints, floats), `boolean`, `strings` (`S`, `U`, `V`),
//! `temporal` (datetime64, timedelta64), `nested` (complex, records, sub-arrays).
//!
//! A view is checked against its buffer once, at the top of [`decode`] (and again for every
//! child view a nested type derives), so the family decoders may slice items directly.

mod boolean;
mod nested;
mod primitive;
mod strings;
mod temporal;

use crate::arrow::array::{new_empty_array, ArrayRef};
use crate::arrow::buffer::{Buffer, MutableBuffer};

use super::dtype::{DType, Endian};
use super::schema::{arrow_type, time_mapping, TimeMapping};
use crate::error::ErrorKind;

/// `rows` items: item `i` is the `itemsize` bytes at `buffer[start + i * stride ..]`.
#[derive(Debug, Clone)]
pub struct ByteView {
    pub buffer: Buffer,
    pub start: usize,
    pub stride: usize,
    pub rows: usize,
    /// Table row number of item 0, for error messages.
    pub first_row: u64,
}

impl ByteView {
    /// A view of `rows` contiguous items of `itemsize` bytes from the start of `buffer`.
    pub fn contiguous(buffer: Buffer, itemsize: usize, rows: usize) -> ByteView {
        ByteView { buffer, start: 0, stride: itemsize, rows, first_row: 0 }
    }

    /// Whether the items follow each other without gaps (a view of ≤ 1 row always does).
    pub fn is_contiguous(&self, itemsize: usize) -> bool {
        self.stride == itemsize || self.rows <= 1
    }

    /// The bytes of item `i`. Only valid after [`ByteView::check`] with the same `itemsize`.
    fn item(&self, i: usize, itemsize: usize) -> &[u8] {
        let at = self.start + i * self.stride;
        &self.buffer.as_slice()[at..at + itemsize]
    }

    /// The bytes of items `0..rows` when they are contiguous. Only valid after a check.
    fn contiguous_bytes(&self, itemsize: usize) -> &[u8] {
        &self.buffer.as_slice()[self.start..self.start + self.rows * itemsize]
    }

    /// Checks that every item of `itemsize` bytes lies inside the buffer, with checked arithmetic.
    /// Items may not overlap (numpy never writes overlapping items), which also bounds every
    /// copy a decoder makes by the buffer's size.
    pub fn check(&self, itemsize: usize) -> Result<(), ErrorKind> {
        if self.rows == 0 {
            return Ok(());
        }
        if self.rows > 1 && self.stride < itemsize {
            return Err(ErrorKind::InvalidArgument(format!(
                "items of {itemsize} bytes overlap with a stride of {}",
                self.stride
            )));
        }
        let end = (self.rows - 1)
            .checked_mul(self.stride)
            .and_then(|last| last.checked_add(self.start))
            .and_then(|last| last.checked_add(itemsize));
        match end {
            Some(end) if end <= self.buffer.len() => Ok(()),
            Some(end) => Err(ErrorKind::Truncated {
                what: "column data",
                needed: end as u64,
                available: self.buffer.len() as u64,
            }),
            None => Err(ErrorKind::InvalidArgument(format!(
                "view of {} rows with stride {} from byte {} overflows",
                self.rows, self.stride, self.start
            ))),
        }
    }

    /// The view of the bytes `offset..` inside every item (a record field).
    fn field(&self, offset: usize) -> Result<ByteView, ErrorKind> {
        let start = self.start.checked_add(offset).ok_or_else(|| {
            ErrorKind::InvalidArgument(format!("field offset {offset} overflows"))
        })?;
        Ok(ByteView { start, ..self.clone() })
    }

    /// The items' bytes packed next to each other in a fresh 64-byte aligned buffer (one copy);
    /// the view itself when they already are. Only valid after a check.
    fn compacted(&self, itemsize: usize) -> ByteView {
        if self.is_contiguous(itemsize) {
            return ByteView { stride: itemsize, ..self.clone() };
        }
        let mut packed = MutableBuffer::with_capacity(self.rows * itemsize);
        for i in 0..self.rows {
            packed.extend_from_slice(self.item(i, itemsize));
        }
        ByteView { buffer: packed.into(), start: 0, stride: itemsize, rows: self.rows, first_row: self.first_row }
    }
}

/// Decode the items of `view` as `dtype` into an Arrow array of type
/// `super::schema::arrow_type(dtype)`. The caller guarantees the view lies inside the buffer;
/// a view that does not is an error, never a panic.
pub fn decode(dtype: &DType, view: &ByteView) -> Result<ArrayRef, ErrorKind> {
    view.check(dtype.itemsize())?;
    if view.rows == 0 {
        return Ok(new_empty_array(&arrow_type(dtype)?));
    }
    match dtype {
        DType::Bool => Ok(boolean::decode_bool(view)),
        DType::Int { .. } | DType::Float { .. } => primitive::decode_number(dtype, view),
        DType::Bytes { len } => strings::decode_bytes(*len, view),
        DType::Unicode { chars, endian } => strings::decode_unicode(*chars, *endian, view),
        DType::Void { len } => strings::decode_void(*len, view),
        DType::DateTime { .. } | DType::TimeDelta { .. } => temporal::decode_time(dtype, view),
        DType::Complex { .. } => nested::decode_complex(dtype, view),
        DType::Record(record) => nested::decode_record(record, view),
        DType::SubArray { base, shape } => nested::decode_sub_array(dtype, base, shape, view),
        DType::Object => Err(arrow_type(dtype).err().unwrap_or_else(|| {
            ErrorKind::InvalidArgument("object arrays are never decoded".to_string())
        })),
    }
}

/// Whether [`decode`] would hand out `view`'s own memory (no copy of the values) for `dtype`:
/// native-endian, contiguous, aligned primitives and unscaled datetimes, sub-arrays of those,
/// and contiguous `V<n>`. (A datetime column with NaT still gets a computed null bitmap.)
/// A view that [`decode`] would refuse, or one without rows, is not zero-copy.
pub fn is_zero_copy(dtype: &DType, view: &ByteView) -> bool {
    use primitive::is_zero_copy as shares;
    if view.rows == 0 || view.check(dtype.itemsize()).is_err() {
        return false;
    }
    let endian = dtype.endian().unwrap_or(Endian::NATIVE);
    match dtype {
        DType::Int { bytes: 1, .. } => shares::<u8>(view, endian),
        DType::Int { bytes: 2, .. } | DType::Float { bytes: 2, .. } => shares::<u16>(view, endian),
        DType::Int { bytes: 4, .. } | DType::Float { bytes: 4, .. } => shares::<u32>(view, endian),
        DType::Int { bytes: 8, .. } | DType::Float { bytes: 8, .. } => shares::<u64>(view, endian),
        DType::DateTime { .. } | DType::TimeDelta { .. } => {
            matches!(
                time_mapping(dtype),
                Ok(TimeMapping::Timestamp { factor: 1, .. } | TimeMapping::Duration { factor: 1, .. })
            ) && shares::<i64>(view, endian)
        }
        DType::Void { len } => view.is_contiguous(*len),
        DType::SubArray { base, .. } => {
            let per_row = dtype.itemsize().checked_div(base.itemsize()).unwrap_or(0);
            view.is_contiguous(dtype.itemsize())
                && is_zero_copy(
                    base,
                    &ByteView { stride: base.itemsize(), rows: view.rows.saturating_mul(per_row), ..view.clone() },
                )
        }
        _ => false,
    }
}

/// The same error with the row it names (if any) renumbered, for nested decoders whose items
/// are not table rows.
fn with_row(err: ErrorKind, renumber: impl Fn(u64) -> u64) -> ErrorKind {
    match err {
        ErrorKind::InvalidCodePoint { value, row } => ErrorKind::InvalidCodePoint { value, row: renumber(row) },
        ErrorKind::ValueOutOfRange { value, row, target } => {
            ErrorKind::ValueOutOfRange { value, row: renumber(row), target }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests;
