//! How values look in the text outputs, CSV and JSON, whichever command writes them.
//!
//! Bytes (`S<n>` → Binary, `V<n>` → FixedSizeBinary) are written in
//! PostgreSQL's `bytea` hex form: `\x` then two hex digits per byte (`\x0102`, `\x` when
//! empty). Arrow's writers print bare hex (`0102`), which pyarrow and Polars read back as an
//! integer; with the prefix no reader takes the value for a number, and PostgreSQL reads it
//! back as `bytea` as it is (DuckDB: `from_hex(substr(s, 3))`). In JSON the same text is a
//! string, as PostgreSQL's `to_json` writes a `bytea`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::writer::{Encoder, EncoderFactory, EncoderOptions, NullableEncoder};
use datafusion::arrow::json::WriterBuilder;

/// Whether [`as_text`] rewrites columns of this type.
pub fn is_bytes(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_)
    )
}

/// `\x` + hex of `value`, appended to `out`.
fn push_text(value: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(2 + 2 * value.len());
    out.extend_from_slice(b"\\x");
    for byte in value {
        out.push(HEX[usize::from(byte >> 4)]);
        out.push(HEX[usize::from(byte & 0x0f)]);
    }
}

/// Each value of a bytes column as `\x` text (nulls stay null); `None` for other types.
pub fn as_text(array: &dyn Array) -> Option<ArrayRef> {
    let values: Box<dyn Iterator<Item = Option<&[u8]>>> = match array.data_type() {
        DataType::Binary => Box::new(array.as_binary::<i32>().iter()),
        DataType::LargeBinary => Box::new(array.as_binary::<i64>().iter()),
        DataType::BinaryView => Box::new(array.as_binary_view().iter()),
        DataType::FixedSizeBinary(_) => Box::new(array.as_fixed_size_binary().iter()),
        _ => return None,
    };
    let mut text = StringBuilder::with_capacity(array.len(), 0);
    let mut buffer = Vec::new();
    for value in values {
        match value {
            Some(value) => {
                buffer.clear();
                push_text(value, &mut buffer);
                // Only ASCII was pushed.
                text.append_value(std::str::from_utf8(&buffer).unwrap_or_default());
            }
            None => text.append_null(),
        }
    }
    Some(Arc::new(text.finish()))
}

/// Arrow's JSON writer with bytes as `"\\x0102"` strings, at any depth (in structs and lists).
#[derive(Debug)]
pub struct BytesAsText;

impl EncoderFactory for BytesAsText {
    fn make_default_encoder<'a>(
        &self,
        _field: &'a FieldRef,
        array: &'a dyn Array,
        _options: &'a EncoderOptions,
    ) -> Result<Option<NullableEncoder<'a>>, ArrowError> {
        let encoder: Box<dyn Encoder + 'a> = match array.data_type() {
            DataType::Binary => Box::new(JsonBytes(array.as_binary::<i32>())),
            DataType::LargeBinary => Box::new(JsonBytes(array.as_binary::<i64>())),
            DataType::BinaryView => Box::new(JsonBytes(array.as_binary_view())),
            DataType::FixedSizeBinary(_) => Box::new(JsonBytes(array.as_fixed_size_binary())),
            _ => return Ok(None),
        };
        Ok(Some(NullableEncoder::new(encoder, array.nulls().cloned())))
    }
}

/// The JSON settings of every text output: every key on every line (`null` for nulls), bytes
/// as `\x` strings. For JSON values inside CSV cells (lists).
pub fn json_options() -> EncoderOptions {
    EncoderOptions::default().with_explicit_nulls(true).with_encoder_factory(Arc::new(BytesAsText))
}

/// [`json_options`] for Arrow's newline-delimited JSON writer.
pub fn json_writer() -> WriterBuilder {
    WriterBuilder::new().with_explicit_nulls(true).with_encoder_factory(Arc::new(BytesAsText))
}

struct JsonBytes<A>(A);

impl<'a, A> Encoder for JsonBytes<A>
where
    A: datafusion::arrow::array::ArrayAccessor<Item = &'a [u8]>,
{
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        // A JSON string: the backslash is escaped, hex digits need no escaping.
        out.push(b'"');
        out.push(b'\\');
        push_text(self.0.value(idx), out);
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{BinaryArray, FixedSizeBinaryArray, StringArray};

    #[test]
    fn bytes_become_backslash_x_hex() {
        let array = BinaryArray::from(vec![Some(&[1u8, 2, 0xab][..]), None, Some(&[][..])]);
        let text = as_text(&array).unwrap();
        let text = text.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(text.value(0), "\\x0102ab");
        assert!(text.is_null(1));
        assert_eq!(text.value(2), "\\x");
        let fixed = FixedSizeBinaryArray::try_from_iter([[0u8, 255]].into_iter()).unwrap();
        let text = as_text(&fixed).unwrap();
        assert_eq!(text.as_any().downcast_ref::<StringArray>().unwrap().value(0), "\\x00ff");
        assert!(as_text(&StringArray::from(vec!["0102"])).is_none());
    }
}
