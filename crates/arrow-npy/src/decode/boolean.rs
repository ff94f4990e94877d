//! `b1`: one byte per item, nonzero is true; Arrow packs them into bits, so this always copies.

use std::sync::Arc;

use crate::arrow::array::{ArrayRef, BooleanArray};
use crate::arrow::buffer::BooleanBuffer;

use super::ByteView;

/// The view's bytes as booleans (numpy reads any nonzero byte as `True`).
pub(super) fn decode_bool(view: &ByteView) -> ArrayRef {
    let bits = if view.is_contiguous(1) {
        let bytes = view.contiguous_bytes(1);
        BooleanBuffer::collect_bool(bytes.len(), |i| bytes[i] != 0)
    } else {
        BooleanBuffer::collect_bool(view.rows, |i| view.item(i, 1)[0] != 0)
    };
    Arc::new(BooleanArray::new(bits, None))
}
