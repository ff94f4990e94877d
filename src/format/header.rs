//! The `.npy` header: magic, version, length, and the Python-literal dict
//! `{'descr': ..., 'fortran_order': ..., 'shape': (...)}`, parsed in small pure steps.

use super::dtype::DType;
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
    /// The `descr` value as the header's text wrote it (a Python literal), kept as provenance.
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
    let _ = (bytes, max_header_len);
    todo!("H1")
}

/// Parse a whole header from `bytes`, which hold at least the header (usually the whole file or
/// map). Does not look at the data; the caller checks `data_len` against what it has.
pub fn parse_header(bytes: &[u8], max_header_len: u64) -> Result<NpyHeader, ErrorKind> {
    let _ = (bytes, max_header_len);
    todo!("H1")
}
