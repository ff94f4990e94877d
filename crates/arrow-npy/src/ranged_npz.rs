//! Reading an `.npz` archive by byte range, for archives that are not memory-mapped (objects in
//! a store): which bytes its directory, its members' headers and their rows need, and tables
//! over the bytes once fetched. No I/O here, as in [`crate::ranged`]: the caller fetches.
//!
//! ```text
//! directory: the last ZIP_TAIL_PROBE_LEN bytes (end records, zip64 included, and usually the
//!            whole central directory), then, only if the directory is longer, the rest of it
//! member:    [local header start, + 30 + name + extra + MEMBER_PROBE_LEN): the local header and
//!            the member's `.npy` header (a second range only for a longer one)
//! rows:      a stored member's rows exactly as a `.npy` file's, from its data start;
//!            a deflated member's compressed bytes pushed piece by piece into a
//!            [`MemberInflater`], which hands out rows (a Fortran-order member: fetched whole)
//! ```
//!
//! The zip's records are parsed by the `zip` crate, over a reader that holds only the fetched
//! pieces and says which bytes it lacked (so nothing here trusts a size before it is checked
//! against the object's length, and a short or corrupt archive is an error, not a panic).

use std::cell::Cell;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::arrow::buffer::Buffer;
use crate::arrow::datatypes::SchemaRef;
use zip::read::{ArchiveOffset, Config};
use zip::CompressionMethod;

use super::array::{ArrayData, NpyArray};
use super::header::NpyHeader;
use super::npz::{Compression, MemberEntry, MAX_DEFLATE_RATIO};
use super::ranged::RangedNpy;
use super::table::{NpyTable, OpenOptions, Storage, TableSummary};
use crate::dtype::DType;
use crate::error::{ErrorKind, Location, NpyError, Result};

/// Bytes fetched first from the end of an archive: the end records (22 bytes, 98 with zip64)
/// and the directory of a few dozen members (about 80 bytes each).
pub const ZIP_TAIL_PROBE_LEN: u64 = 8 << 10;

/// Bytes fetched after a member's local header, for its `.npy` header (numpy writes 128).
pub const MEMBER_PROBE_LEN: u64 = 256;

/// Extra bytes allowed for a local header's extra field beyond the directory's (numpy's
/// writer puts a zip64 field, 20 bytes, in local headers only).
const LOCAL_EXTRA_SLACK: u64 = 64;

/// A fetch can need more: the range of the object to fetch next.
pub type Need<T> = std::result::Result<T, Range<u64>>;

/// One member as the central directory lists it.
#[derive(Debug, Clone)]
pub struct ZipMember {
    raw_name: String,
    header_start: u64,
    compressed_size: u64,
    size: u64,
    compression: Compression,
    crc32: u32,
    /// The name's length (the local header's extra field is allowed for by a slack).
    name_extra_len: u64,
}

impl ZipMember {
    /// The name numpy gives the member (without `.npy`), `None` for a non-array entry.
    pub fn array_name(&self) -> Option<&str> {
        self.raw_name.strip_suffix(".npy")
    }

    pub fn raw_name(&self) -> &str {
        &self.raw_name
    }

    /// The bytes to fetch for the member's local header and the start of its data.
    pub fn probe_range(&self, file_len: u64) -> Range<u64> {
        let len = 30 + self.name_extra_len + LOCAL_EXTRA_SLACK + MEMBER_PROBE_LEN.min(self.compressed_size);
        self.header_start.min(file_len)..self.header_start.saturating_add(len).min(file_len)
    }
}

/// The fetched pieces of an object, as a `Read + Seek` of the whole object: a read outside them
/// fails, remembering where the missing bytes start (and how far the gap goes).
struct Pieces<'a> {
    len: u64,
    pieces: &'a [(u64, &'a [u8])],
    pos: u64,
    missing: Cell<Option<Range<u64>>>,
}

impl Read for Pieces<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.len || out.is_empty() {
            return Ok(0);
        }
        for (start, bytes) in self.pieces {
            let end = start + bytes.len() as u64;
            if (*start..end).contains(&self.pos) {
                let from = (self.pos - start) as usize;
                let n = out.len().min(bytes.len() - from);
                out[..n].copy_from_slice(&bytes[from..from + n]);
                self.pos += n as u64;
                return Ok(n);
            }
        }
        // The gap up to the next piece (or the end): what a sequential reader wants next.
        let next = self.pieces.iter().map(|(s, _)| *s).filter(|&s| s > self.pos).min().unwrap_or(self.len);
        self.missing.set(Some(self.pos..next));
        Err(std::io::Error::other("bytes not fetched"))
    }
}

impl Seek for Pieces<'_> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek out of range"))?;
        Ok(self.pos)
    }
}

/// The range of an object of `file_len` bytes to fetch first for its zip directory.
pub fn zip_tail_range(file_len: u64) -> Range<u64> {
    file_len.saturating_sub(ZIP_TAIL_PROBE_LEN)..file_len
}

/// The members of the archive `path` of `file_len` bytes, from the `pieces` fetched so far
/// (offset, bytes), or the range to fetch next. Directories are left out.
pub fn zip_directory(path: &Path, file_len: u64, pieces: &[(u64, &[u8])]) -> Result<Need<Vec<ZipMember>>> {
    let mut reader = Pieces { len: file_len, pieces, pos: 0, missing: Cell::new(None) };
    let config = Config { archive_offset: ArchiveOffset::Known(0) };
    let zip = match zip::ZipArchive::with_config(config, &mut reader) {
        Ok(zip) => zip,
        Err(e) => {
            if let Some(missing) = reader.missing.take() {
                return Ok(Err(missing));
            }
            return Err(at(path, None, ErrorKind::Zip { message: e.to_string() }));
        }
    };
    let mut members = Vec::with_capacity(zip.len());
    for index in 0..zip.len() {
        let entry = zip.by_index_data(index).map_err(|e| at(path, None, ErrorKind::Zip { message: e.to_string() }))?;
        if entry.is_dir() {
            continue;
        }
        let raw_name = entry.name().map_err(|e| at(path, None, ErrorKind::Zip { message: e.to_string() }))?.into_owned();
        let bad = |message: String| at(path, Some(&raw_name), ErrorKind::Zip { message });
        if entry.encrypted() {
            return Err(bad("the member is encrypted".into()));
        }
        let compression = match entry.compression() {
            CompressionMethod::Stored => Compression::Stored,
            CompressionMethod::Deflated => Compression::Deflated,
            other => return Err(bad(format!("compression {other}; .npz members are stored or deflated"))),
        };
        let end = entry.header_start().checked_add(entry.compressed_size()).filter(|&end| end <= file_len);
        if end.is_none() {
            return Err(at(path, Some(&raw_name), ErrorKind::Truncated { what: "the zip member", needed: entry.header_start().saturating_add(entry.compressed_size()), available: file_len }));
        }
        let name_extra_len = entry.name_raw().len() as u64;
        members.push(ZipMember {
            raw_name,
            header_start: entry.header_start(),
            compressed_size: entry.compressed_size(),
            size: entry.size(),
            compression,
            crc32: entry.crc32(),
            name_extra_len,
        });
    }
    Ok(Ok(members))
}

/// A member whose local header and `.npy` header are known.
#[derive(Debug, Clone)]
pub struct RangedMember {
    member: ZipMember,
    /// Where the member's (compressed) bytes start in the archive.
    data_start: u64,
    header: NpyHeader,
    /// For a stored member, the member as a `.npy` file of its own.
    stored: Option<RangedNpy>,
}

impl RangedMember {
    /// The member, from the bytes of the archive `path` of `file_len` bytes fetched at `start`
    /// (at least [`ZipMember::probe_range`]), or the range to fetch next (from the same `start`:
    /// the caller fetches it whole; each range asked for is longer than the last, and none goes
    /// past the member's data, so asking ends).
    pub fn open(path: &Path, member: &ZipMember, start: u64, probe: &[u8], file_len: u64, options: &OpenOptions) -> Result<Need<Self>> {
        let name = member.raw_name.as_str();
        let short = |needed: u64| at(path, Some(name), ErrorKind::Truncated { what: "the member's local header", needed, available: probe.len() as u64 });
        if start != member.header_start {
            return Err(at(path, Some(name), ErrorKind::InvalidArgument("probe does not start at the local header".into())));
        }
        if probe.len() < 30 {
            return Err(short(30));
        }
        if probe[..4] != [0x50, 0x4b, 0x03, 0x04] {
            return Err(at(path, Some(name), ErrorKind::Zip { message: "no local header where the directory says".into() }));
        }
        let name_len = u16::from_le_bytes([probe[26], probe[27]]) as u64;
        let extra_len = u16::from_le_bytes([probe[28], probe[29]]) as u64;
        let data_start = member.header_start + 30 + name_len + extra_len;
        let data_end = data_start.checked_add(member.compressed_size).filter(|&e| e <= file_len).ok_or_else(|| {
            at(path, Some(name), ErrorKind::Truncated { what: "the zip member", needed: data_start.saturating_add(member.compressed_size), available: file_len })
        })?;
        let have_end = start + probe.len() as u64;
        if have_end < data_start.saturating_add(crate::header::PREAMBLE_LEN as u64).min(data_end) {
            // A local extra field longer than the directory's: fetch past it.
            return Ok(Err(start..data_start.saturating_add(MEMBER_PROBE_LEN).min(data_end)));
        }
        let data = |end: u64| &probe[(data_start - start) as usize..(end.min(have_end) - start) as usize];
        match member.compression {
            Compression::Stored => {
                if member.size != member.compressed_size {
                    return Err(at(path, Some(name), ErrorKind::Zip { message: format!("stored member sizes disagree ({} vs {})", member.size, member.compressed_size) }));
                }
                let wanted = data_start + crate::header::PREAMBLE_LEN as u64;
                if have_end < wanted.min(data_end) {
                    return Ok(Err(start..(wanted + MEMBER_PROBE_LEN).min(data_end)));
                }
                let member_path = member_path(path, name);
                let prefix = data(data_end);
                let need = RangedNpy::header_len(prefix, options.max_header_len, &member_path).map_err(|e| located(e, path, name))?;
                if need > member.compressed_size {
                    return Err(at(path, Some(name), ErrorKind::Truncated { what: "the member's .npy header", needed: need, available: member.compressed_size }));
                }
                if need > prefix.len() as u64 {
                    return Ok(Err(start..(data_start + need).min(data_end)));
                }
                let stored = RangedNpy::from_prefix(&member_path, prefix, member.compressed_size, options).map_err(|e| located(e, path, name))?;
                Ok(Ok(RangedMember { member: member.clone(), data_start, header: stored.header().clone(), stored: Some(stored) }))
            }
            Compression::Deflated => {
                let limit = member.compressed_size.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1024);
                if member.size > limit {
                    return Err(at(path, Some(name), ErrorKind::ZipBomb { claimed: member.size, compressed: member.compressed_size, limit }));
                }
                let have = Buffer::from_vec(data(data_end).to_vec());
                match NpyArray::deflated_header(&have, options.max_header_len) {
                    Ok(header) => {
                        let array = deflated_array(path, member, &header, Buffer::from_vec(Vec::<u8>::new()))?;
                        let _ = array; // sizes checked against the declared size
                        Ok(Ok(RangedMember { member: member.clone(), data_start, header, stored: None }))
                    }
                    // The compressed prefix was too short for the header: fetch more of it (up to
                    // all of the member's bytes, then the error is the member's).
                    Err(_) if have_end < data_end => {
                        let more = (have.len() as u64).saturating_mul(8).max(64 << 10);
                        Ok(Err(start..(data_start + more).min(data_end)))
                    }
                    Err(e) => Err(located(e, path, name)),
                }
            }
        }
    }

    pub fn member(&self) -> &ZipMember {
        &self.member
    }

    pub fn is_deflated(&self) -> bool {
        self.stored.is_none()
    }

    pub fn rows_spread(&self) -> bool {
        self.header.fortran_order && self.header.shape.len() > 1 || self.header.shape.is_empty()
    }

    /// The bytes of the archive holding `rows` of this member: a stored C-order member's rows
    /// by range, otherwise the member's whole (compressed) bytes.
    pub fn byte_range(&self, rows: Range<u64>) -> Range<u64> {
        match &self.stored {
            Some(stored) if !self.rows_spread() => {
                let r = stored.byte_range(rows);
                self.data_start + r.start..self.data_start + r.end
            }
            _ => self.data_start..self.data_start + self.member.compressed_size,
        }
    }
}

/// An archive (or one member of it) read by range: its members' headers, its schema.
#[derive(Debug, Clone)]
pub struct RangedNpz {
    path: PathBuf,
    members: Vec<RangedMember>,
    /// Each member is a column (the archive as a table) rather than one member's fields.
    member_columns: bool,
    schema: SchemaRef,
    num_rows: u64,
    /// For each column, the member it is read from.
    column_members: Vec<usize>,
}

impl RangedNpz {
    /// The archive as a table (`member_columns`: one column per member), or one member as one
    /// (a single member, `member_columns` false), with the checks opening a mapped one makes.
    pub fn new(path: impl AsRef<Path>, members: Vec<RangedMember>, member_columns: bool) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let lengths: Vec<(String, u64)> = members.iter().map(|m| (array_name(m).to_string(), m.header.num_rows())).collect();
        if lengths.iter().any(|(_, n)| *n != lengths[0].1) {
            return Err(NpyError::from(ErrorKind::LengthMismatch { lengths }).in_file(&path));
        }
        let empty = Self::assemble(&path, &members, member_columns, &[], 0..0)?;
        let column_members = empty.column_arrays();
        let num_rows = members.first().map(|m| m.header.num_rows()).unwrap_or(0);
        Ok(RangedNpz { schema: empty.schema(), path, members, member_columns, num_rows, column_members })
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    pub fn num_rows(&self) -> u64 {
        self.num_rows
    }

    pub fn members(&self) -> &[RangedMember] {
        &self.members
    }

    /// What [`NpyTable::read_summary`] says of the same archive.
    pub fn summary(&self) -> TableSummary {
        TableSummary {
            schema: self.schema(),
            num_rows: self.num_rows,
            storage: self.members.iter().map(|m| if m.is_deflated() { Storage::ZipDeflated } else { Storage::ZipStored }).collect(),
            is_record: self.members.first().is_some_and(|m| matches!(m.header.dtype, DType::Record(_))),
        }
    }

    /// The facts of each member's array, as [`NpyTable::arrays`] gives them for a mapped archive
    /// (columns read by range are not flagged zero-copy: their bytes are fetched).
    pub fn arrays(&self) -> Result<Vec<crate::table::ArrayInfo>> {
        let mut arrays = Vec::with_capacity(self.members.len());
        for member in &self.members {
            let name = array_name(member).to_string();
            let location = Location { file: Some(self.path.clone()), member: Some(name.clone()), column: None };
            let row_len = usize::try_from(member.header.row_len().unwrap_or(0)).unwrap_or(usize::MAX);
            let (storage, file_offset) = if member.is_deflated() { (Storage::ZipDeflated, 0) } else { (Storage::ZipStored, member.data_start) };
            let data = ArrayData::Mapped { npy: Buffer::from_vec(Vec::<u8>::new()), stored_crc32: None };
            arrays.push(NpyArray { name, location, header: member.header.clone(), storage, data, guard: None, row_len, file_offset });
        }
        let mut infos = NpyTable::from_arrays(&self.path, arrays, self.member_columns)?.arrays();
        for info in &mut infos {
            info.columns.iter_mut().for_each(|c| c.1 = false);
        }
        Ok(infos)
    }

    /// The members (indices) that `columns` (indices into the schema) are read from.
    pub fn members_of(&self, columns: &[usize]) -> Vec<usize> {
        let mut out: Vec<usize> = columns.iter().filter_map(|&c| self.column_members.get(c).copied()).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Bytes of one row of `members` together (what a run of rows costs to fetch).
    pub fn row_len(&self, members: &[usize]) -> u64 {
        members.iter().filter_map(|&m| self.members.get(m)).map(|m| m.header.row_len().unwrap_or(0)).sum()
    }

    /// Whether rows of `members` can be fetched by range (all stored, C order): otherwise each
    /// is fetched whole and read from its first row.
    pub fn by_rows(&self, members: &[usize]) -> bool {
        members.iter().all(|&m| self.members.get(m).is_some_and(|m| !m.is_deflated() && !m.rows_spread()))
    }

    /// A table over the fetched bytes of [`RangedMember::byte_range`]`(rows)` of some members
    /// (member index, bytes; members not fetched must not be read), and the rows to read of it
    /// (its row `i` is the archive's row `rows.start + i` when [`RangedNpz::by_rows`], else the
    /// archive's own rows).
    pub fn table(&self, rows: Range<u64>, fetched: &[(usize, Buffer)]) -> Result<(NpyTable, Range<u64>)> {
        let by_rows = self.by_rows(&fetched.iter().map(|(m, _)| *m).collect::<Vec<_>>());
        let mut table = Self::assemble(&self.path, &self.members, self.member_columns, fetched, if by_rows { rows.clone() } else { 0..self.num_rows })?;
        table.replace_schema(self.schema());
        if by_rows {
            Ok((table, 0..rows.end - rows.start))
        } else {
            Ok((table, rows))
        }
    }

    /// A table over `rows` whose bytes are, for each member of `fetched`, exactly those rows'
    /// bytes (a stored member's range, or a [`MemberInflater`]'s rows), read from its row 0.
    pub fn rows_table(&self, rows: Range<u64>, fetched: &[(usize, Buffer)]) -> Result<NpyTable> {
        let count = rows.end - rows.start;
        let mut arrays = Vec::with_capacity(self.members.len());
        for (index, member) in self.members.iter().enumerate() {
            let name = array_name(member).to_string();
            let location = Location { file: Some(self.path.clone()), member: Some(name.clone()), column: None };
            let bytes = fetched.iter().find(|(m, _)| *m == index).map(|(_, b)| b.clone()).unwrap_or_else(|| Buffer::from_vec(Vec::<u8>::new()));
            let expected = if fetched.iter().any(|(m, _)| *m == index) { count.saturating_mul(member.header.row_len().unwrap_or(0)) } else { 0 };
            if bytes.len() as u64 != expected {
                return Err(NpyError { location, kind: ErrorKind::Truncated { what: "the fetched rows", needed: expected, available: bytes.len() as u64 } });
            }
            arrays.push(rows_array(name, location, &member.header, count, bytes)?);
        }
        let mut table = NpyTable::from_arrays(&self.path, arrays, self.member_columns)?;
        table.replace_schema(self.schema());
        Ok(table)
    }

    /// The table of `members` over `fetched` bytes, holding `rows` (members not fetched hold
    /// no bytes: a reader must not project them).
    fn assemble(path: &Path, members: &[RangedMember], member_columns: bool, fetched: &[(usize, Buffer)], rows: Range<u64>) -> Result<NpyTable> {
        let count = rows.end - rows.start;
        let mut arrays = Vec::with_capacity(members.len());
        for (index, member) in members.iter().enumerate() {
            let name = array_name(member).to_string();
            let location = Location { file: Some(path.to_path_buf()), member: Some(name.clone()), column: None };
            let bytes = fetched.iter().find(|(m, _)| *m == index).map(|(_, b)| b.clone());
            let expected = member.byte_range(rows.clone());
            let array = match bytes {
                Some(bytes) if bytes.len() as u64 != expected.end - expected.start => {
                    return Err(NpyError {
                        location,
                        kind: ErrorKind::Truncated { what: "the fetched range", needed: expected.end - expected.start, available: bytes.len() as u64 },
                    });
                }
                Some(bytes) if member.is_deflated() => deflated_array(path, &member.member, &member.header, bytes)?,
                Some(bytes) if member.rows_spread() => {
                    // A stored member fetched whole: read it as a map of it would be.
                    let entry = entry_at_zero(&member.member);
                    NpyArray::from_member(name, location, &bytes, None, &entry, u64::MAX)?
                }
                bytes => rows_array(name, location, &member.header, count, bytes.unwrap_or_else(|| Buffer::from_vec(Vec::<u8>::new())))?,
            };
            arrays.push(array);
        }
        NpyTable::from_arrays(path, arrays, member_columns)
    }
}

/// Bytes inflated at most per step while skipping (the header, rows before the first wanted).
const SKIP_STEP: usize = 1 << 20;

/// A deflated member's rows inflated from its compressed bytes as they arrive, a batch at a
/// time: memory holds the compressed bytes pushed and not yet inflated, and the rows asked for,
/// never the whole member. Deflate cannot seek: rows before the first wanted are inflated and
/// dropped. The inflated size never passes the size the directory declares (itself capped
/// against the compressed size when the member was opened: the zip bomb check), and the
/// CRC-32 is checked when the member is inflated to its end.
pub struct MemberInflater {
    path: PathBuf,
    name: String,
    inflate: flate2::Decompress,
    crc: flate2::Crc,
    /// Compressed bytes pushed and not yet inflated.
    pending: Vec<u8>,
    used: usize,
    /// Compressed bytes pushed so far, of `compressed_size`.
    pushed: u64,
    compressed_size: u64,
    data_start: u64,
    declared_size: u64,
    crc32: u32,
    /// Inflated bytes still to drop before the next row.
    skip: u64,
    row_len: u64,
    ended: bool,
}

impl MemberInflater {
    /// An inflater of `member` (deflated) whose first row handed out is `first_row`.
    pub fn new(path: &Path, member: &RangedMember, first_row: u64) -> Result<Self> {
        let name = array_name(member).to_string();
        if !member.is_deflated() || member.rows_spread() {
            return Err(at(path, Some(&name), ErrorKind::InvalidArgument("only a deflated member in C order is inflated by rows".into())));
        }
        let row_len = member.header.row_len().map_err(|kind| at(path, Some(&name), kind))?;
        Ok(MemberInflater {
            path: path.to_path_buf(),
            name,
            inflate: flate2::Decompress::new(false),
            crc: flate2::Crc::new(),
            pending: Vec::new(),
            used: 0,
            pushed: 0,
            compressed_size: member.member.compressed_size,
            data_start: member.data_start,
            declared_size: member.member.size,
            crc32: member.member.crc32,
            skip: member.header.data_offset.saturating_add(first_row.saturating_mul(row_len)),
            row_len,
            ended: false,
        })
    }

    /// The next compressed bytes to fetch (at most `len` of them), or `None` when all are pushed.
    pub fn next_range(&self, len: u64) -> Option<Range<u64>> {
        (self.pushed < self.compressed_size).then(|| {
            let start = self.data_start + self.pushed;
            start..start + len.min(self.compressed_size - self.pushed)
        })
    }

    /// Hand over the bytes of [`MemberInflater::next_range`].
    pub fn push(&mut self, compressed: &[u8]) {
        self.pending.drain(..self.used);
        self.used = 0;
        self.pending.extend_from_slice(compressed);
        self.pushed += compressed.len() as u64;
    }

    fn error(&self, message: impl Into<String>) -> NpyError {
        at(&self.path, Some(&self.name), ErrorKind::Zip { message: message.into() })
    }

    /// Inflate at most `limit` more bytes onto `out`; whether progress was made.
    fn step(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<bool> {
        let (before_in, before_out) = (self.inflate.total_in(), self.inflate.total_out());
        let len = out.len();
        out.resize(len + limit, 0);
        let input = &self.pending[self.used..];
        let status = self.inflate.decompress(input, &mut out[len..], flate2::FlushDecompress::None);
        let produced = (self.inflate.total_out() - before_out) as usize;
        out.truncate(len + produced);
        let status = status.map_err(|e| self.error(format!("corrupt deflate data: {e}")))?;
        self.used += (self.inflate.total_in() - before_in) as usize;
        self.crc.update(&out[len..]);
        if self.inflate.total_out() > self.declared_size {
            return Err(self.error(format!("inflates to more than the {} bytes declared", self.declared_size)));
        }
        if status == flate2::Status::StreamEnd {
            self.ended = true;
            if self.inflate.total_out() != self.declared_size {
                return Err(self.error(format!("inflates to {} bytes, {} declared", self.inflate.total_out(), self.declared_size)));
            }
            if self.crc.sum() != self.crc32 {
                return Err(self.error(format!("CRC-32 mismatch (stored {:08x}, computed {:08x})", self.crc32, self.crc.sum())));
            }
        }
        Ok(produced > 0 || self.inflate.total_in() > before_in)
    }

    /// The next `rows` rows' bytes, or `None` when more compressed bytes must be pushed first
    /// (call again with the same `rows` and `partial`: what was inflated is kept there).
    pub fn rows(&mut self, rows: u64, partial: &mut Vec<u8>) -> Result<Option<Buffer>> {
        let mut scratch = Vec::new();
        while self.skip > 0 {
            scratch.clear();
            let progressed = self.step(&mut scratch, self.skip.min(SKIP_STEP as u64) as usize)?;
            self.skip -= scratch.len() as u64;
            if self.skip > 0 && (self.ended || !progressed) {
                return self.starved();
            }
        }
        let wanted = usize::try_from(rows.saturating_mul(self.row_len)).map_err(|_| self.error("batch too large"))?;
        while partial.len() < wanted {
            let progressed = self.step(partial, wanted - partial.len())?;
            if partial.len() < wanted && (self.ended || !progressed) {
                return self.starved();
            }
        }
        Ok(Some(Buffer::from_vec(std::mem::take(partial))))
    }

    /// Out of input: more to push, or the member ends short.
    fn starved<T>(&self) -> Result<Option<T>> {
        if self.pushed < self.compressed_size && !self.ended {
            return Ok(None);
        }
        Err(at(&self.path, Some(&self.name), ErrorKind::Truncated { what: "the inflated member", needed: self.declared_size, available: self.inflate.total_out() }))
    }
}

/// An array of `rows` rows whose bytes (no header) are `data`.
fn rows_array(name: String, location: Location, header: &NpyHeader, rows: u64, data: Buffer) -> Result<NpyArray> {
    let mut header = header.clone();
    if let Some(first) = header.shape.first_mut() {
        *first = rows;
    }
    header.data_offset = 0;
    let row_len = header.row_len().map_err(|kind| NpyError { location: location.clone(), kind })?;
    let row_len = usize::try_from(row_len).map_err(|_| NpyError {
        location: location.clone(),
        kind: ErrorKind::ShapeOverflow { shape: header.shape.clone(), itemsize: header.dtype.itemsize() as u64 },
    })?;
    Ok(NpyArray { name, location, header, storage: Storage::ZipStored, data: ArrayData::Mapped { npy: data, stored_crc32: None }, guard: None, row_len, file_offset: 0 })
}

fn deflated_array(path: &Path, member: &ZipMember, header: &NpyHeader, compressed: Buffer) -> Result<NpyArray> {
    let name = member.array_name().unwrap_or(&member.raw_name).to_string();
    let location = Location { file: Some(path.to_path_buf()), member: Some(name.clone()), column: None };
    let row_len = header.row_len().map_err(|kind| NpyError { location: location.clone(), kind })?;
    let data_len = header.data_len().map_err(|kind| NpyError { location: location.clone(), kind })?;
    let available = member.size.saturating_sub(header.data_offset);
    if data_len > available {
        return Err(NpyError { location, kind: ErrorKind::DataSize { needed: data_len, available } });
    }
    let row_len = usize::try_from(row_len).map_err(|_| NpyError {
        location: location.clone(),
        kind: ErrorKind::ShapeOverflow { shape: header.shape.clone(), itemsize: header.dtype.itemsize() as u64 },
    })?;
    let data = ArrayData::Deflated { compressed, crc32: member.crc32, declared_size: member.size };
    Ok(NpyArray { name, location, header: header.clone(), storage: Storage::ZipDeflated, data, guard: None, row_len, file_offset: 0 })
}

/// The directory entry of `member` for bytes that start at its data.
fn entry_at_zero(member: &ZipMember) -> MemberEntry {
    MemberEntry {
        raw_name: member.raw_name.clone(),
        data_start: 0,
        compressed_size: member.compressed_size,
        size: member.size,
        compression: member.compression,
        crc32: member.crc32,
    }
}

fn array_name(member: &RangedMember) -> &str {
    member.member.array_name().unwrap_or(&member.member.raw_name)
}

fn member_path(path: &Path, name: &str) -> PathBuf {
    path.join(name)
}

fn located(e: NpyError, path: &Path, member: &str) -> NpyError {
    NpyError { location: Location { file: Some(path.to_path_buf()), member: Some(member.trim_end_matches(".npy").to_string()), column: None }, kind: e.kind }
}

fn at(path: &Path, member: Option<&str>, kind: ErrorKind) -> NpyError {
    NpyError { location: Location { file: Some(path.to_path_buf()), member: member.map(|m| m.trim_end_matches(".npy").to_string()), column: None }, kind }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrow::record_batch::RecordBatch;
    use crate::ranged::tests::npy;
    use std::io::Write;

    fn npz(members: &[(&str, Vec<u8>, CompressionMethod)]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes, method) in members {
            let options = zip::write::SimpleFileOptions::default().compression_method(*method).large_file(true);
            zip.start_file(*name, options).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    /// What a remote reader does, with `file` as the object: directory, members, then rows.
    fn open(file: &[u8], member_columns: bool) -> Result<RangedNpz> {
        let path = Path::new("x.npz");
        let len = file.len() as u64;
        let slice = |r: &Range<u64>| file[r.start as usize..r.end as usize].to_vec();
        let mut pieces: Vec<(u64, Vec<u8>)> = vec![(zip_tail_range(len).start, slice(&zip_tail_range(len)))];
        let members = loop {
            let borrowed: Vec<(u64, &[u8])> = pieces.iter().map(|(s, b)| (*s, b.as_slice())).collect();
            match zip_directory(path, len, &borrowed)? {
                Ok(members) => break members,
                Err(range) => {
                    assert!(pieces.len() < 3, "asked again for {range:?}");
                    pieces.push((range.start, slice(&range)));
                }
            }
        };
        let options = OpenOptions::default();
        let mut opened = Vec::new();
        for member in members.iter().filter(|m| m.array_name().is_some()) {
            let mut range = member.probe_range(len);
            let mut tries = 0;
            let done = loop {
                match RangedMember::open(path, member, range.start, &slice(&range), len, &options)? {
                    Ok(done) => break done,
                    Err(more) => range = more,
                }
                tries += 1;
                assert!(tries < 4);
            };
            opened.push(done);
        }
        RangedNpz::new(path, opened, member_columns)
    }

    fn read(npz: &RangedNpz, file: &[u8], columns: Vec<usize>, rows: Range<u64>) -> Vec<RecordBatch> {
        let members = npz.members_of(&columns);
        let fetch_rows = if npz.by_rows(&members) { rows.clone() } else { 0..npz.num_rows() };
        let fetched: Vec<(usize, Buffer)> = members
            .iter()
            .map(|&m| {
                let r = npz.members()[m].byte_range(fetch_rows.clone());
                (m, Buffer::from_vec(file[r.start as usize..r.end as usize].to_vec()))
            })
            .collect();
        let (table, local) = npz.table(rows.clone(), &fetched).unwrap();
        let local = if npz.by_rows(&members) { local } else { rows };
        table.reader().with_projection(columns).with_row_range(local).build().unwrap().collect::<std::result::Result<Vec<_>, _>>().unwrap()
    }

    fn mapped(file: &[u8], columns: Vec<usize>, rows: Range<u64>) -> Vec<RecordBatch> {
        let table = NpyTable::from_bytes("x.npz", Buffer::from_vec(file.to_vec()), &OpenOptions::default()).unwrap();
        table.reader().with_projection(columns).with_row_range(rows).build().unwrap().collect::<std::result::Result<Vec<_>, _>>().unwrap()
    }

    #[test]
    fn members_by_range_read_what_the_map_reads() {
        let a: Vec<i32> = (0..200).collect();
        let b: Vec<i32> = (1000..1100).collect();
        let c: Vec<i32> = (0..100).map(|v| v * 7).collect();
        let file = npz(&[
            ("a.npy", npy(&a, "(100, 2)"), CompressionMethod::Stored),
            ("b.npy", npy(&b, "(100,)"), CompressionMethod::Deflated),
            ("c.npy", npy(&c, "(100,)"), CompressionMethod::Stored),
        ]);
        let ranged = open(&file, true).unwrap();
        let table = NpyTable::from_bytes("x.npz", Buffer::from_vec(file.clone()), &OpenOptions::default()).unwrap();
        assert_eq!(ranged.schema(), table.schema());
        assert_eq!(ranged.num_rows(), 100);
        assert_eq!(ranged.summary().storage, vec![Storage::ZipStored, Storage::ZipDeflated, Storage::ZipStored]);
        for columns in [vec![0], vec![1], vec![2, 0], vec![0, 1, 2]] {
            for rows in [0..100, 10..13, 99..100] {
                let got = read(&ranged, &file, columns.clone(), rows.clone());
                let want = mapped(&file, columns.clone(), rows.clone());
                let concat = |b: &[RecordBatch]| crate::arrow::compute::concat_batches(&b[0].schema(), b).unwrap();
                assert_eq!(concat(&got), concat(&want), "{columns:?} {rows:?}");
            }
        }
        // A stored member's rows are fetched alone: 3 rows of 8 bytes.
        let r = ranged.members()[0].byte_range(10..13);
        assert_eq!(r.end - r.start, 24);
        assert_eq!(ranged.members_of(&[2]), vec![2]);
    }

    /// Rows `rows` of deflated member `m`, inflated from pushes of `piece` compressed bytes,
    /// `batch` rows at a time.
    fn inflate(npz: &RangedNpz, file: &[u8], m: usize, rows: Range<u64>, piece: u64, batch: u64) -> Result<Vec<u8>> {
        let mut inflater = MemberInflater::new(Path::new("x.npz"), &npz.members()[m], rows.start)?;
        let mut out = Vec::new();
        let mut partial = Vec::new();
        let mut at = rows.start;
        while at < rows.end {
            let count = batch.min(rows.end - at);
            loop {
                match inflater.rows(count, &mut partial)? {
                    Some(bytes) => {
                        out.extend_from_slice(bytes.as_slice());
                        break;
                    }
                    None => {
                        let r = inflater.next_range(piece).expect("more to push");
                        inflater.push(&file[r.start as usize..r.end as usize]);
                    }
                }
            }
            at += count;
        }
        Ok(out)
    }

    #[test]
    fn deflated_members_inflate_by_rows_from_pieces() {
        let b: Vec<i32> = (0..3000).map(|v| v * 3 % 1001).collect();
        let file = npz(&[("a.npy", npy(&b, "(1000, 3)"), CompressionMethod::Stored), ("b.npy", npy(&b, "(1000, 3)"), CompressionMethod::Deflated)]);
        let ranged = open(&file, true).unwrap();
        let raw: Vec<u8> = b.iter().flat_map(|v| v.to_le_bytes()).collect();
        for (rows, piece, batch) in [(0..1000, 7, 13), (10..13, 64, 2), (999..1000, 1 << 20, 100), (0..1000, 1 << 20, 1000)] {
            let got = inflate(&ranged, &file, 1, rows.clone(), piece, batch).unwrap();
            assert_eq!(got, raw[rows.start as usize * 12..rows.end as usize * 12], "{rows:?} {piece} {batch}");
        }
        // The stored member is not inflated; corrupt compressed bytes are errors, not panics.
        assert!(MemberInflater::new(Path::new("x.npz"), &ranged.members()[0], 0).is_err());
        let start = ranged.members()[1].byte_range(0..1000).start as usize;
        for at in start..start + 40 {
            let mut bad = file.clone();
            bad[at] ^= 0xa5;
            if let Err(e) = inflate(&ranged, &bad, 1, 0..1000, 16, 100) {
                assert!(e.to_string().contains("x.npz") && e.to_string().contains('b'), "{e}");
            }
        }
    }

    #[test]
    fn truncated_and_corrupt_archives_are_errors_naming_the_file() {
        let a: Vec<i32> = (0..50).collect();
        let file = npz(&[("a.npy", npy(&a, "(50,)"), CompressionMethod::Stored), ("b.npy", npy(&a, "(50,)"), CompressionMethod::Deflated)]);
        for cut in [0, 1, 10, 30, file.len() / 2, file.len() - 30, file.len() - 1] {
            let e = open(&file[..cut], true).unwrap_err().to_string();
            assert!(e.contains("x.npz") && !e.contains('\n'), "{cut}: {e}");
        }
        // Every single-byte corruption is an error or a table, never a panic.
        for at in 0..file.len() {
            let mut bad = file.clone();
            bad[at] ^= 0x5a;
            let _ = open(&bad, true);
        }
    }
}
