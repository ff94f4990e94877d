//! Integers and floats: zero-copy when native-endian, contiguous and aligned, else gathered.

use std::mem::{align_of, size_of};
use std::sync::Arc;

use crate::arrow::array::{ArrayRef, PrimitiveArray};
use crate::arrow::buffer::{MutableBuffer, ScalarBuffer};
use crate::arrow::datatypes::{
    ArrowNativeType, ArrowPrimitiveType, Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use half::f16;

use super::ByteView;
use crate::dtype::{DType, Endian};
use crate::error::ErrorKind;

/// A Rust scalar numpy stores as `size_of::<Self>()` bytes in either byte order.
pub(super) trait NumpyScalar: ArrowNativeType {
    /// Reads one value from exactly `size_of::<Self>()` bytes.
    fn from_bytes(bytes: &[u8], endian: Endian) -> Self;
}

macro_rules! numpy_scalar {
    ($($t:ty),*) => {$(
        impl NumpyScalar for $t {
            #[inline]
            fn from_bytes(bytes: &[u8], endian: Endian) -> Self {
                let mut raw = [0u8; size_of::<$t>()];
                raw.copy_from_slice(bytes);
                match endian {
                    Endian::Little => <$t>::from_le_bytes(raw),
                    Endian::Big => <$t>::from_be_bytes(raw),
                }
            }
        }
    )*};
}
numpy_scalar!(i8, i16, i32, i64, u8, u16, u32, u64, f16, f32, f64);

/// Ints and floats of any supported width and byte order.
pub(super) fn decode_number(dtype: &DType, view: &ByteView) -> Result<ArrayRef, ErrorKind> {
    let endian = dtype.endian().unwrap_or(Endian::NATIVE);
    Ok(match dtype {
        DType::Int { bytes: 1, signed: true, .. } => array::<Int8Type>(view, endian),
        DType::Int { bytes: 2, signed: true, .. } => array::<Int16Type>(view, endian),
        DType::Int { bytes: 4, signed: true, .. } => array::<Int32Type>(view, endian),
        DType::Int { bytes: 8, signed: true, .. } => array::<Int64Type>(view, endian),
        DType::Int { bytes: 1, signed: false, .. } => array::<UInt8Type>(view, endian),
        DType::Int { bytes: 2, signed: false, .. } => array::<UInt16Type>(view, endian),
        DType::Int { bytes: 4, signed: false, .. } => array::<UInt32Type>(view, endian),
        DType::Int { bytes: 8, signed: false, .. } => array::<UInt64Type>(view, endian),
        DType::Float { bytes: 2, .. } => array::<Float16Type>(view, endian),
        DType::Float { bytes: 4, .. } => array::<Float32Type>(view, endian),
        DType::Float { bytes: 8, .. } => array::<Float64Type>(view, endian),
        // Long doubles, odd widths: the same refusal as the schema's.
        _ => return Err(crate::schema::arrow_type(dtype).err().unwrap_or_else(|| {
            ErrorKind::InvalidArgument(format!("{dtype:?} is not a number"))
        })),
    })
}

fn array<T>(view: &ByteView, endian: Endian) -> ArrayRef
where
    T: ArrowPrimitiveType,
    T::Native: NumpyScalar,
{
    Arc::new(PrimitiveArray::<T>::new(values::<T::Native>(view, endian), None))
}

/// The values of `view` as `T`: a slice of the view's own buffer when possible (no copy),
/// otherwise one pass into a fresh vector. The view must have been checked for `size_of::<T>()`
/// byte items.
pub(super) fn values<T: NumpyScalar>(view: &ByteView, endian: Endian) -> ScalarBuffer<T> {
    let size = size_of::<T>();
    if let Some(shared) = zero_copy::<T>(view, endian) {
        return shared;
    }
    if view.is_contiguous(size) && (size == 1 || endian == Endian::NATIVE) {
        // Native order but misaligned (e.g. a stored .npz member): one memcpy into an aligned
        // buffer, no per-item work.
        let mut aligned = MutableBuffer::with_capacity(view.rows * size);
        aligned.extend_from_slice(view.contiguous_bytes(size));
        ScalarBuffer::new(aligned.into(), 0, view.rows)
    } else if view.is_contiguous(size) {
        let bytes = view.contiguous_bytes(size);
        bytes.chunks_exact(size).map(|item| T::from_bytes(item, endian)).collect::<Vec<T>>().into()
    } else {
        (0..view.rows).map(|i| T::from_bytes(view.item(i, size), endian)).collect::<Vec<T>>().into()
    }
}

/// The view's values as a slice of its buffer, when [`is_zero_copy`] says they can be.
fn zero_copy<T: NumpyScalar>(view: &ByteView, endian: Endian) -> Option<ScalarBuffer<T>> {
    if !is_zero_copy::<T>(view, endian) {
        return None;
    }
    Some(ScalarBuffer::from(view.buffer.slice_with_length(view.start, view.rows * size_of::<T>())))
}

/// Whether the (checked) view's values can be shared as `T`: native-endian, contiguous and
/// aligned for `T` (Arrow's `ScalarBuffer` panics on misaligned memory, so this comes first).
pub(super) fn is_zero_copy<T: NumpyScalar>(view: &ByteView, endian: Endian) -> bool {
    let size = size_of::<T>();
    let native = size == 1 || endian == Endian::NATIVE;
    let aligned = (view.buffer.as_ptr() as usize).wrapping_add(view.start).is_multiple_of(align_of::<T>());
    native && aligned && view.is_contiguous(size)
}
