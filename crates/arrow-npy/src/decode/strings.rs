//! Fixed-width numpy strings: `S<n>` → Binary, `U<n>` (UCS-4) → Utf8, `V<n>` → FixedSizeBinary.
//!
//! `S` and `U` drop trailing NULs the way numpy does when it reads an item (interior NULs are
//! kept), so they are always copied into offsets + values. `V` keeps every byte and is shared
//! with the input when its items are contiguous.

use std::sync::Arc;

use crate::arrow::array::{ArrayRef, BinaryArray, FixedSizeBinaryArray, StringArray};
use crate::arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};

use super::ByteView;
use crate::error::ErrorKind;
use crate::dtype::Endian;

/// `S<len>`: each item without its trailing NUL bytes.
pub(super) fn decode_bytes(len: usize, view: &ByteView) -> Result<ArrayRef, ErrorKind> {
    let trimmed = |i: usize| {
        let item = view.item(i, len);
        let kept = item.iter().rposition(|&b| b != 0).map_or(0, |last| last + 1);
        &item[..kept]
    };
    let total: usize = (0..view.rows).map(|i| trimmed(i).len()).sum();
    check_offset_range(total)?;
    let mut values = Vec::with_capacity(total);
    let mut offsets = Vec::with_capacity(view.rows + 1);
    offsets.push(0i32);
    for i in 0..view.rows {
        values.extend_from_slice(trimmed(i));
        // `total` fits an i32, so every running length does.
        offsets.push(values.len() as i32);
    }
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    Ok(Arc::new(BinaryArray::try_new(offsets, Buffer::from_vec(values), None)?))
}

/// `U<chars>`: UCS-4 code units in `endian` order, trailing NUL code points dropped, as UTF-8.
/// A surrogate or a value above U+10FFFF is `InvalidCodePoint` with its table row.
pub(super) fn decode_unicode(chars: usize, endian: Endian, view: &ByteView) -> Result<ArrayRef, ErrorKind> {
    let itemsize = chars * 4;
    let unit = |bytes: &[u8]| {
        let raw = [bytes[0], bytes[1], bytes[2], bytes[3]];
        match endian {
            Endian::Little => u32::from_le_bytes(raw),
            Endian::Big => u32::from_be_bytes(raw),
        }
    };
    // ASCII needs one byte per code point: start with that and grow if needed.
    let mut values: Vec<u8> = Vec::with_capacity(view.rows.saturating_mul(chars).min(1 << 26));
    let mut offsets = Vec::with_capacity(view.rows + 1);
    offsets.push(0i32);
    for i in 0..view.rows {
        let item = view.item(i, itemsize);
        let kept = item.chunks_exact(4).rposition(|u| unit(u) != 0).map_or(0, |last| last + 1);
        for code_unit in item[..kept * 4].chunks_exact(4) {
            let value = unit(code_unit);
            if value < 0x80 {
                values.push(value as u8);
                continue;
            }
            let c = char::from_u32(value)
                .ok_or(ErrorKind::InvalidCodePoint { value, row: view.first_row + i as u64 })?;
            let mut utf8 = [0u8; 4];
            values.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        }
        check_offset_range(values.len())?;
        offsets.push(values.len() as i32);
    }
    let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
    Ok(Arc::new(StringArray::try_new(offsets, Buffer::from_vec(values), None)?))
}

/// `V<len>`: every byte of every item; the input buffer itself when the items are contiguous.
pub(super) fn decode_void(len: usize, view: &ByteView) -> Result<ArrayRef, ErrorKind> {
    let width = i32::try_from(len)
        .map_err(|_| ErrorKind::InvalidArgument(format!("V{len} is too wide for FixedSizeBinary")))?;
    let values = if view.rows == 0 {
        Buffer::from_vec(Vec::<u8>::new())
    } else if view.is_contiguous(len) {
        view.buffer.slice_with_length(view.start, view.rows * len)
    } else {
        let mut packed = Vec::with_capacity(view.rows * len);
        for i in 0..view.rows {
            packed.extend_from_slice(view.item(i, len));
        }
        Buffer::from_vec(packed)
    };
    Ok(Arc::new(FixedSizeBinaryArray::try_new_with_len(width, values, None, view.rows)?))
}

/// Binary and Utf8 use i32 offsets: a batch's strings must total at most `i32::MAX` bytes.
fn check_offset_range(total: usize) -> Result<(), ErrorKind> {
    if i32::try_from(total).is_err() {
        return Err(ErrorKind::InvalidArgument(format!(
            "{total} bytes of strings exceed the 2 GiB a Binary/Utf8 array can hold; read fewer rows per batch"
        )));
    }
    Ok(())
}
