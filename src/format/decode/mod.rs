//! Bytes → Arrow arrays, one file per Arrow family. The entry point is [`decode`]: given a
//! [`ByteView`] (where each item's bytes are) and the item's dtype, build the Arrow array.
//!
//! Zero-copy rule (SPEC §4): a little-endian (native) primitive whose items are contiguous and
//! whose first byte is aligned for the Arrow type is handed over as a slice of the view's
//! buffer, which may point into a memory map; FixedSizeList of such primitives too; `V<n>` too.
//! Everything else (bool, byte-swapped, strided record fields, misaligned) is copied.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::buffer::Buffer;

use super::dtype::DType;
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

/// Decode the items of `view` as `dtype` into an Arrow array of type
/// `super::schema::arrow_type(dtype)`. The caller guarantees the view lies inside the buffer.
pub fn decode(dtype: &DType, view: &ByteView) -> Result<ArrayRef, ErrorKind> {
    let _ = (dtype, view);
    todo!("H2")
}
