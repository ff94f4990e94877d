//! Reading a `.npy` file by byte range, for files that are not memory-mapped (objects in a
//! store, read with ranged `GET`s): which bytes a header or a range of rows needs, and tables
//! over the bytes once fetched. No I/O here: the caller fetches, this module says what to fetch
//! and decodes it (zero-copy where the fetched bytes are aligned, as with a map).
//!
//! ```text
//! header:  [0, HEADER_PROBE_LEN)  then, only if the header is longer, [probe, data_offset)
//! rows:    [data_offset + start·row_len, data_offset + end·row_len)
//! ```
//!
//! A Fortran-order array with more than one axis stores each row spread over the whole data,
//! so any range of its rows needs all of the data ([`RangedNpy::byte_range`] says so).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::arrow::buffer::Buffer;
use crate::arrow::datatypes::SchemaRef;

use super::array::{ArrayData, NpyArray};
use super::header::{parse_header, read_preamble, NpyHeader, PREAMBLE_LEN};
use super::table::{NpyTable, OpenOptions, Storage, TableSummary};
use crate::dtype::DType;
use crate::error::{ErrorKind, Location, NpyError, Result};

/// Bytes fetched first for a header: numpy's headers are 128 bytes (a few KiB for wide records),
/// so one request nearly always suffices.
pub const HEADER_PROBE_LEN: u64 = 4096;

/// A `.npy` file known by its header and length, whose rows are fetched by range.
#[derive(Debug, Clone)]
pub struct RangedNpy {
    path: PathBuf,
    header: NpyHeader,
    row_len: u64,
    schema: SchemaRef,
    file_len: u64,
}

impl RangedNpy {
    /// How many bytes from the start of the file the header needs, given its first bytes
    /// (at least [`PREAMBLE_LEN`] of them, or the whole file if it is shorter).
    pub fn header_len(prefix: &[u8], max_header_len: u64, path: &Path) -> Result<u64> {
        read_preamble(prefix, max_header_len).map(|(_, end)| end).map_err(|kind| at(path, kind))
    }

    /// The file `path` of `file_len` bytes, from its first bytes (at least
    /// [`RangedNpy::header_len`] of them). The sizes are checked against `file_len` as opening a
    /// mapped file checks them.
    pub fn from_prefix(path: impl AsRef<Path>, prefix: &[u8], file_len: u64, options: &OpenOptions) -> Result<Self> {
        let path = path.as_ref();
        if (prefix.len() as u64) < (PREAMBLE_LEN as u64).min(file_len) {
            return Err(at(path, ErrorKind::Truncated { what: "the header", needed: PREAMBLE_LEN as u64, available: prefix.len() as u64 }));
        }
        let header = parse_header(prefix, options.max_header_len).map_err(|kind| at(path, kind))?;
        let row_len = header.row_len().map_err(|kind| at(path, kind))?;
        let data_len = header.data_len().map_err(|kind| at(path, kind))?;
        let available = file_len.saturating_sub(header.data_offset);
        if data_len > available {
            return Err(at(path, ErrorKind::DataSize { needed: data_len, available }));
        }
        // The schema the memory-mapped table would have: same columns, same metadata.
        let empty = NpyTable::from_ranged_parts(path, header.clone(), 0, Buffer::from_vec(Vec::<u8>::new()), None)?;
        let schema = empty.schema();
        Ok(RangedNpy { path: path.to_path_buf(), header, row_len, schema, file_len })
    }

    pub fn header(&self) -> &NpyHeader {
        &self.header
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    pub fn num_rows(&self) -> u64 {
        self.header.num_rows()
    }

    /// Bytes of one row.
    pub fn row_len(&self) -> u64 {
        self.row_len
    }

    /// What [`NpyTable::read_summary`] says of the same file.
    pub fn summary(&self) -> TableSummary {
        TableSummary {
            schema: self.schema(),
            num_rows: self.num_rows(),
            storage: vec![Storage::NpyFile],
            is_record: matches!(self.header.dtype, DType::Record(_)),
        }
    }

    /// The facts of the array, as [`NpyTable::arrays`] gives them for a mapped file (columns
    /// read by range are not flagged zero-copy: their bytes are fetched).
    pub fn arrays(&self) -> Result<Vec<crate::table::ArrayInfo>> {
        let name = self.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let location = Location { file: Some(self.path.clone()), ..Location::default() };
        let row_len = usize::try_from(self.row_len).unwrap_or(usize::MAX);
        let data = ArrayData::Mapped { npy: Buffer::from_vec(Vec::<u8>::new()), stored_crc32: None };
        let array = NpyArray { name, location, header: self.header.clone(), storage: Storage::NpyFile, data, guard: None, row_len, file_offset: 0 };
        let mut infos = NpyTable::from_arrays(&self.path, vec![array], false)?.arrays();
        for info in &mut infos {
            info.columns.iter_mut().for_each(|c| c.1 = false);
        }
        Ok(infos)
    }

    /// Whether rows are spread over the whole data (Fortran order, more than one axis).
    pub fn needs_all_data(&self) -> bool {
        self.header.fortran_order && self.header.shape.len() > 1
    }

    /// The bytes of the file holding `rows` (all of the data for a Fortran-order array).
    pub fn byte_range(&self, rows: Range<u64>) -> Range<u64> {
        let start = self.header.data_offset;
        if self.needs_all_data() || self.header.shape.is_empty() {
            return start..self.file_len.min(start + self.header.data_len().unwrap_or(0));
        }
        start + rows.start * self.row_len..start + rows.end * self.row_len
    }

    /// A table over the fetched bytes of [`RangedNpy::byte_range`]`(rows)`, and the rows to
    /// read of it (its row `i` is the file's row `rows.start + i`, or the file's own rows for an
    /// array that [`RangedNpy::needs_all_data`]).
    pub fn table(&self, rows: Range<u64>, bytes: Buffer) -> Result<(NpyTable, Range<u64>)> {
        let expected = self.byte_range(rows.clone());
        if bytes.len() as u64 != expected.end - expected.start {
            return Err(at(&self.path, ErrorKind::Truncated { what: "the fetched range", needed: expected.end - expected.start, available: bytes.len() as u64 }));
        }
        if self.needs_all_data() || self.header.shape.is_empty() {
            let table = NpyTable::from_ranged_parts(&self.path, self.header.clone(), self.num_rows(), bytes, Some(&self.schema))?;
            return Ok((table, rows));
        }
        let count = rows.end - rows.start;
        let table = NpyTable::from_ranged_parts(&self.path, self.header.clone(), count, bytes, Some(&self.schema))?;
        Ok((table, 0..count))
    }
}

fn at(path: &Path, kind: ErrorKind) -> NpyError {
    NpyError { location: Location { file: Some(path.to_path_buf()), ..Location::default() }, kind }
}

impl NpyTable {
    /// A table over `rows` consecutive rows of the array `header` describes, whose bytes are
    /// all of `data` (no header before them). `schema` (the whole file's) replaces the one
    /// derived from the shortened header, so every piece of a file has the file's schema.
    pub(crate) fn from_ranged_parts(path: &Path, mut header: NpyHeader, rows: u64, data: Buffer, schema: Option<&SchemaRef>) -> Result<Self> {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let location = Location { file: Some(path.to_path_buf()), ..Location::default() };
        if let Some(first) = header.shape.first_mut() {
            *first = rows;
        }
        header.data_offset = 0;
        let row_len = header.row_len().map_err(|kind| NpyError { location: location.clone(), kind })?;
        let row_len = usize::try_from(row_len).map_err(|_| NpyError {
            location: location.clone(),
            kind: ErrorKind::ShapeOverflow { shape: header.shape.clone(), itemsize: header.dtype.itemsize() as u64 },
        })?;
        let array = NpyArray {
            name,
            location,
            header,
            storage: Storage::NpyFile,
            data: ArrayData::Mapped { npy: data, stored_crc32: None },
            guard: None,
            row_len,
            file_offset: 0,
        };
        let mut table = Self::from_arrays(path, vec![array], false)?;
        if let Some(schema) = schema {
            table.replace_schema(Arc::clone(schema));
        }
        Ok(table)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::arrow::array::Int32Array;
    use crate::arrow::record_batch::RecordBatch;

    /// A `<i4` `.npy` file's bytes (also used by `ranged_npz`'s tests).
    pub(crate) fn npy(values: &[i32], shape: &str) -> Vec<u8> {
        let dict = format!("{{'descr': '<i4', 'fortran_order': False, 'shape': {shape}, }}");
        let mut header = dict.into_bytes();
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(b' ');
        }
        header.push(b'\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(&header);
        for v in values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    fn read_all(table: &NpyTable, rows: Range<u64>) -> Vec<RecordBatch> {
        table.reader().with_row_range(rows).build().unwrap().collect::<std::result::Result<Vec<_>, _>>().unwrap()
    }

    #[test]
    fn row_ranges_read_what_the_map_reads() {
        let values: Vec<i32> = (0..100).collect();
        let file = npy(&values, "(50, 2)");
        let path = Path::new("x.npy");
        let options = OpenOptions::default();
        let need = RangedNpy::header_len(&file[..PREAMBLE_LEN], options.max_header_len, path).unwrap();
        let ranged = RangedNpy::from_prefix(path, &file[..need as usize], file.len() as u64, &options).unwrap();
        let mapped = NpyTable::from_bytes(path, Buffer::from_vec(file.clone()), &options).unwrap();
        assert_eq!(ranged.schema(), mapped.schema());
        assert_eq!(ranged.num_rows(), 50);
        let range = ranged.byte_range(10..13);
        assert_eq!(range, 128 + 80..128 + 104);
        let bytes = Buffer::from_vec(file[range.start as usize..range.end as usize].to_vec());
        let (table, rows) = ranged.table(10..13, bytes).unwrap();
        assert_eq!(read_all(&table, rows), read_all(&mapped, 10..13));
    }

    #[test]
    fn short_fetches_and_lying_sizes_are_errors() {
        let file = npy(&[1, 2, 3], "(4,)");
        let options = OpenOptions::default();
        let e = RangedNpy::from_prefix("x.npy", &file, file.len() as u64, &options).unwrap_err();
        assert!(e.to_string().contains("x.npy"), "{e}");
        let file = npy(&[1, 2, 3], "(3,)");
        let ranged = RangedNpy::from_prefix("x.npy", &file, file.len() as u64, &options).unwrap();
        assert!(ranged.table(0..2, Buffer::from_vec(vec![0u8; 4])).is_err());
        let (table, rows) = ranged.table(1..3, Buffer::from_vec([2i32, 3].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())).unwrap();
        let batches = read_all(&table, rows);
        let column = batches[0].column(0).as_any().downcast_ref::<Int32Array>().unwrap();
        assert_eq!(column.values(), &[2, 3]);
    }
}
