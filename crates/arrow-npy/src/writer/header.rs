//! The `.npy` header exactly as numpy's `_write_array_header` writes it, so our files are
//! byte-for-byte what `np.save` would produce:
//!
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }` + growth room + spaces + `\n`,
//! with the data starting at a multiple of 64.
//!
//! numpy leaves room after the dict for the first axis to grow to 21 digits (its
//! `GROWTH_AXIS_MAX_DIGITS`, the idea behind `open_memmap` appends). The room shrinks by one
//! space per extra digit, so the header's length does not depend on the row count: a streaming
//! writer writes the header for 0 rows first and overwrites it in place with the final count.

use crate::error::{ErrorKind, Result};

/// numpy's `GROWTH_AXIS_MAX_DIGITS`: the first axis may grow to this many digits in place.
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// numpy's `ARRAY_ALIGN`: data begin at a multiple of this.
const ARRAY_ALIGN: usize = 64;
const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The complete header (magic to `\n`) of a C-order array with item type `descr` (a Python
/// literal from `DType::descr`) and `shape`, in the oldest format version that can hold it:
/// 1.0; 2.0 when the header is longer than 65,535 bytes; 3.0 when a field name is not latin-1.
pub fn npy_header(descr: &str, shape: &[u64]) -> Result<Vec<u8>> {
    let text = header_text(descr, shape);
    match latin1(&text) {
        Some(bytes) => wrap(&bytes, 1).or_else(|_| wrap(&bytes, 2)),
        None => wrap(text.as_bytes(), 3),
    }
}

/// The dict, keys sorted, each followed by `, `, then numpy's growth room.
fn header_text(descr: &str, shape: &[u64]) -> String {
    let mut text = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {}, }}", python_tuple(shape));
    if let Some(first) = shape.first() {
        let digits = first.to_string().len();
        text.extend(std::iter::repeat_n(' ', GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
    }
    text
}

/// Python's `repr` of a tuple of ints: `()`, `(3,)`, `(3, 4)`.
fn python_tuple(shape: &[u64]) -> String {
    match shape {
        [] => "()".to_string(),
        [only] => format!("({only},)"),
        _ => format!("({})", shape.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// The text in latin-1 (what versions 1.0 and 2.0 use), or `None` if it has other characters.
fn latin1(text: &str) -> Option<Vec<u8>> {
    text.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect()
}

/// numpy's `_wrap_header`: magic, version, length field, text, space padding, `\n`.
fn wrap(text: &[u8], major: u8) -> Result<Vec<u8>> {
    let length_field = if major == 1 { 2 } else { 4 };
    let hlen = text.len() + 1;
    let padlen = ARRAY_ALIGN - (MAGIC.len() + 2 + length_field + hlen) % ARRAY_ALIGN;
    let total = hlen + padlen;
    let mut out = Vec::with_capacity(MAGIC.len() + 2 + length_field + total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[major, 0]);
    if major == 1 {
        let len = u16::try_from(total).map_err(|_| too_long(total))?;
        out.extend_from_slice(&len.to_le_bytes());
    } else {
        let len = u32::try_from(total).map_err(|_| too_long(total))?;
        out.extend_from_slice(&len.to_le_bytes());
    }
    out.extend_from_slice(text);
    out.extend(std::iter::repeat_n(b' ', padlen));
    out.push(b'\n');
    Ok(out)
}

fn too_long(len: usize) -> crate::error::NpyError {
    ErrorKind::Unwritable { what: "the .npy header".into(), reason: format!("it would be {len} bytes long") }.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected bytes below were printed by numpy 2.4 (`np.save` to a BytesIO).
    #[test]
    fn plain_array_header_matches_numpy() {
        let header = npy_header("'<f4'", &[3, 2]).unwrap();
        let mut expected =
            b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }".to_vec();
        expected.extend(std::iter::repeat_n(b' ', 128 - expected.len() - 1));
        expected.push(b'\n');
        assert_eq!(header, expected);
    }

    #[test]
    fn header_length_does_not_depend_on_the_row_count() {
        let short = npy_header("'<i8'", &[0]).unwrap();
        let long = npy_header("'<i8'", &[u64::MAX]).unwrap();
        assert_eq!(short.len(), long.len());
        assert_eq!(short.len() % 64, 0);
        assert!(String::from_utf8_lossy(&long).contains(&format!("({},)", u64::MAX)));
    }

    #[test]
    fn version_2_when_longer_than_a_u16_and_3_when_not_latin1() {
        let long_descr = format!("'{}'", "x".repeat(70_000));
        let v2 = npy_header(&long_descr, &[1]).unwrap();
        assert_eq!(&v2[6..8], &[2, 0]);
        let total = u32::from_le_bytes(v2[8..12].try_into().unwrap()) as usize;
        assert_eq!(12 + total, v2.len());
        assert_eq!(v2.len() % 64, 0);

        let latin = npy_header("[('é', '<i4')]", &[1]).unwrap();
        assert_eq!(&latin[6..8], &[1, 0]);
        assert!(latin.contains(&0xe9));

        let v3 = npy_header("[('温度', '<f8')]", &[1]).unwrap();
        assert_eq!(&v3[6..8], &[3, 0]);
        assert!(v3.windows(6).any(|w| w == "温度".as_bytes()));
        assert_eq!(v3.len() % 64, 0);
    }

    #[test]
    fn zero_d_shape_has_no_growth_room() {
        assert_eq!(python_tuple(&[]), "()");
        assert!(header_text("'<f8'", &[]).ends_with("'shape': (), }"));
    }
}
