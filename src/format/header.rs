//! The `.npy` header: magic, version, length, and the Python-literal dict
//! `{'descr': ..., 'fortran_order': ..., 'shape': (...)}`, parsed in small pure steps.

use super::dtype::DType;
use super::literal::{self, DictEntry, Literal};
use crate::error::ErrorKind;

/// The six bytes every `.npy` starts with.
pub const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Default cap on the header text length (SPEC §2); a longer header is refused before any
/// allocation.
pub const DEFAULT_MAX_HEADER_LEN: u64 = 16 << 20;

/// Bytes needed to learn the full header length: magic, version, and a u32 length (v2/v3).
pub const PREAMBLE_LEN: usize = 12;

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyHeader {
    /// Format version (major, minor): (1, 0), (2, 0) or (3, 0).
    pub version: (u8, u8),
    pub dtype: DType,
    /// The `descr` value as the header's text wrote it, kept as provenance: for a type string
    /// its value without quotes (`<f4`), for a record list or sub-array tuple the literal's
    /// source text exactly as written (`[('a', '<i4'), ('b', '<f8')]`).
    pub descr: String,
    pub fortran_order: bool,
    /// The array's shape; empty for a 0-d array.
    pub shape: Vec<u64>,
    /// Offset of the first data byte from the start of the `.npy` bytes.
    pub data_offset: u64,
}

impl NpyHeader {
    /// Rows of the table this array is: the first axis, or 1 for a 0-d array.
    pub fn num_rows(&self) -> u64 {
        self.shape.first().copied().unwrap_or(1)
    }

    /// The dimensions after the first (empty for 0-d and 1-d arrays).
    pub fn inner_shape(&self) -> &[u64] {
        self.shape.get(1..).unwrap_or(&[])
    }

    /// Bytes of one row: itemsize times the product of the inner dimensions.
    pub fn row_len(&self) -> Result<u64, ErrorKind> {
        let itemsize = self.dtype.itemsize() as u64;
        self.inner_shape()
            .iter()
            .try_fold(itemsize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| ErrorKind::ShapeOverflow { shape: self.shape.clone(), itemsize })
    }

    /// Bytes of all the data, with overflow-checked arithmetic.
    pub fn data_len(&self) -> Result<u64, ErrorKind> {
        let itemsize = self.dtype.itemsize() as u64;
        self.shape
            .iter()
            .try_fold(itemsize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| ErrorKind::ShapeOverflow { shape: self.shape.clone(), itemsize })
    }
}

/// From the first bytes of a file (at least [`PREAMBLE_LEN`], or the whole file if shorter):
/// the version and the total length of magic + version + length field + header text, i.e.
/// the offset where the data begin. Checks the magic, the version, and `max_header_len`.
pub fn read_preamble(bytes: &[u8], max_header_len: u64) -> Result<((u8, u8), u64), ErrorKind> {
    check_magic(bytes)?;
    let version = read_version(bytes)?;
    let length_field = length_field_size(version)?;
    let field_end = MAGIC.len() + 2 + length_field;
    let Some(field) = bytes.get(MAGIC.len() + 2..field_end) else {
        return Err(truncated("the header length", field_end, bytes.len()));
    };
    let header_len = match *field {
        [a, b] => u64::from(u16::from_le_bytes([a, b])),
        [a, b, c, d] => u64::from(u32::from_le_bytes([a, b, c, d])),
        _ => unreachable!("length fields are 2 or 4 bytes"),
    };
    if header_len > max_header_len {
        return Err(ErrorKind::HeaderTooLong { len: header_len, limit: max_header_len });
    }
    Ok((version, field_end as u64 + header_len))
}

/// Parse a whole header from `bytes`, which hold at least the header (usually the whole file or
/// map). Does not look at the data; the caller checks `data_len` against what it has.
pub fn parse_header(bytes: &[u8], max_header_len: u64) -> Result<NpyHeader, ErrorKind> {
    let (version, data_offset) = read_preamble(bytes, max_header_len)?;
    let text_start = MAGIC.len() + 2 + length_field_size(version)?;
    // `data_offset` fits in usize: it is at most 12 + u32::MAX and, if found, within `bytes`.
    let text_bytes = usize::try_from(data_offset)
        .ok()
        .and_then(|end| bytes.get(text_start..end))
        .ok_or_else(|| truncated("the header", data_offset, bytes.len()))?;
    let text = decode_header_text(text_bytes, version)?;
    let dict = HeaderDict::parse(&text, text_start, version)?;
    let dtype = DType::from_descr(&dict.descr.value)?;
    Ok(NpyHeader {
        version,
        descr: descr_provenance(&dict.descr),
        dtype,
        fortran_order: dict.fortran_order,
        shape: dict.shape,
        data_offset,
    })
}

// ---- the steps ------------------------------------------------------------------------------

fn truncated(what: &'static str, needed: impl TryInto<u64>, available: usize) -> ErrorKind {
    ErrorKind::Truncated {
        what,
        needed: needed.try_into().unwrap_or(u64::MAX),
        available: available as u64,
    }
}

/// The magic string; a short input that agrees with it as far as it goes is truncated.
fn check_magic(bytes: &[u8]) -> Result<(), ErrorKind> {
    let seen = bytes.len().min(MAGIC.len());
    if bytes[..seen] != MAGIC[..seen] {
        return Err(ErrorKind::BadMagic);
    }
    if bytes.len() < MAGIC.len() + 2 {
        return Err(truncated("the magic string and version", MAGIC.len() + 2, bytes.len()));
    }
    Ok(())
}

fn read_version(bytes: &[u8]) -> Result<(u8, u8), ErrorKind> {
    match bytes.get(MAGIC.len()..MAGIC.len() + 2) {
        Some(&[major, minor]) => Ok((major, minor)),
        _ => Err(truncated("the magic string and version", MAGIC.len() + 2, bytes.len())),
    }
}

/// Bytes of the little-endian header length: 2 in version 1.0, 4 in 2.0 and 3.0.
fn length_field_size(version: (u8, u8)) -> Result<usize, ErrorKind> {
    match version {
        (1, 0) => Ok(2),
        (2, 0) | (3, 0) => Ok(4),
        (major, minor) => Err(ErrorKind::UnsupportedVersion { major, minor }),
    }
}

/// Versions 1.0 and 2.0 are latin-1 (every byte is the char of that code), 3.0 is UTF-8.
fn decode_header_text(bytes: &[u8], version: (u8, u8)) -> Result<String, ErrorKind> {
    if version == (3, 0) {
        return std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| ErrorKind::HeaderEncoding { encoding: "UTF-8" });
    }
    Ok(bytes.iter().map(|&b| char::from(b)).collect())
}

/// The three entries of the header dict, checked for presence, uniqueness and type.
struct HeaderDict {
    descr: Descr,
    fortran_order: bool,
    shape: Vec<u64>,
}

/// The `descr` entry: its value and its source text.
struct Descr {
    value: Literal,
    source: String,
}

impl HeaderDict {
    /// `text` starts at byte `text_start` of the file; errors give file offsets.
    fn parse(text: &str, text_start: usize, version: (u8, u8)) -> Result<HeaderDict, ErrorKind> {
        let entries = literal::parse_dict_entries(text).map_err(|e| {
            let offset = text_start + file_offset(text, e.offset, version);
            syntax(format!("at byte {offset}: {}", e.message))
        })?;
        let mut descr = None;
        let mut fortran_order = None;
        let mut shape = None;
        for DictEntry { key, value, value_source } in entries {
            let key = match key {
                Literal::Str(key) => key,
                other => return Err(syntax(format!("unexpected key {other} (the keys are 'descr', 'fortran_order' and 'shape')"))),
            };
            let first = match key.as_str() {
                "descr" => descr.replace(Descr { value, source: value_source.to_owned() }).is_none(),
                "fortran_order" => fortran_order.replace(parse_fortran_order(&value)?).is_none(),
                "shape" => shape.replace(parse_shape(&value)?).is_none(),
                _ => {
                    return Err(syntax(format!(
                        "unexpected key {} (the keys are 'descr', 'fortran_order' and 'shape')",
                        literal::repr_str(&key)
                    )))
                }
            };
            if !first {
                return Err(syntax(format!("duplicate key {}", literal::repr_str(&key))));
            }
        }
        Ok(HeaderDict {
            descr: descr.ok_or_else(|| missing("descr"))?,
            fortran_order: fortran_order.ok_or_else(|| missing("fortran_order"))?,
            shape: shape.ok_or_else(|| missing("shape"))?,
        })
    }
}

/// A byte offset into the decoded text, as an offset into the header's bytes: the same in
/// UTF-8 (3.0); in latin-1 every char was one byte.
fn file_offset(text: &str, offset: usize, version: (u8, u8)) -> usize {
    if version == (3, 0) {
        return offset;
    }
    text.get(..offset).map_or(offset, |before| before.chars().count())
}

fn syntax(message: String) -> ErrorKind {
    ErrorKind::HeaderSyntax { message }
}

fn missing(key: &str) -> ErrorKind {
    syntax(format!("missing key '{key}'"))
}

fn parse_fortran_order(value: &Literal) -> Result<bool, ErrorKind> {
    match value {
        Literal::Bool(b) => Ok(*b),
        other => Err(syntax(format!("fortran_order is not a bool: {}", short(other)))),
    }
}

/// numpy requires a tuple of ints (a bool is an int in Python, so numpy takes `True` as 1).
fn parse_shape(value: &Literal) -> Result<Vec<u64>, ErrorKind> {
    let Literal::Tuple(dims) = value else {
        return Err(syntax(format!("shape is not a tuple: {}", short(value))));
    };
    dims.iter()
        .map(|dim| match dim {
            Literal::Int(n) => u64::try_from(*n).map_err(|_| {
                syntax(format!("shape {} has an invalid dimension {n}", short(value)))
            }),
            Literal::Bool(b) => Ok(u64::from(*b)),
            other => Err(syntax(format!("shape {} has a dimension that is not an int: {}", short(value), short(other)))),
        })
        .collect()
}

/// A literal's repr, cut short for an error message.
fn short(value: &Literal) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}

/// What [`NpyHeader::descr`] keeps: a type string's value, or a list's / tuple's source text.
fn descr_provenance(descr: &Descr) -> String {
    match &descr.value {
        Literal::Str(s) => s.clone(),
        _ => descr.source.clone(),
    }
}
