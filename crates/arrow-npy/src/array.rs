//! One numpy array (a `.npy` file or an `.npz` member): its header, where its data are, and a
//! [`RowReader`] that yields the C-order bytes of consecutive rows (index ranges of the first
//! axis), zero-copy from the map when the layout allows.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::arrow::buffer::Buffer;
use flate2::read::DeflateDecoder;

use super::bytes::{filled_buffer, BufferReader, LengthGuard};
use super::decode::ByteView;
use super::header::{parse_header, read_preamble, NpyHeader, PREAMBLE_LEN};
use super::npz::{Compression, MemberEntry, MAX_DEFLATE_RATIO};
use super::table::Storage;
use crate::error::{ErrorKind, Location, NpyError, Result};

/// Where the bytes of an array's data live.
#[derive(Clone)]
pub(crate) enum ArrayData {
    /// In memory (a map or a copy): `npy` holds the whole `.npy` bytes (header and data,
    /// checked long enough); a stored member's CRC-32 comes along to be checked when read.
    Mapped { npy: Buffer, stored_crc32: Option<u32> },
    /// A deflated `.npz` member: the compressed bytes of the whole `.npy` stream.
    Deflated { compressed: Buffer, crc32: u32, declared_size: u64 },
}

/// An opened array: header parsed, sizes checked against what is there.
#[derive(Clone)]
pub(crate) struct NpyArray {
    /// File stem or member name.
    pub name: String,
    pub location: Location,
    pub header: NpyHeader,
    pub storage: Storage,
    pub data: ArrayData,
    /// Checks, before each batch, that the mapped file has not been truncated.
    pub guard: Option<Arc<LengthGuard>>,
    /// Bytes of one row (one index of the first axis) in C order.
    pub row_len: usize,
    /// Where the `.npy` bytes start in the file: 0 for a `.npy` file, the member's data start
    /// for a stored member, 0 for a deflated one (offsets are then inside the inflated stream).
    pub file_offset: u64,
}

impl NpyArray {
    /// An array whose `.npy` bytes are all of `npy` (a `.npy` file, or a stored member: a slice
    /// of the archive's map).
    pub(crate) fn from_mapped(
        name: String,
        location: Location,
        storage: Storage,
        npy: Buffer,
        guard: Option<Arc<LengthGuard>>,
        max_header_len: u64,
    ) -> Result<Self> {
        let with_location = |e: NpyError| NpyError { location: location.clone(), kind: e.kind };
        let header = parse_header(npy.as_slice(), max_header_len).map_err(|e| with_location(e.into()))?;
        let (row_len, data_len) = sizes(&header).map_err(|e| with_location(e.into()))?;
        let available = (npy.len() as u64).saturating_sub(header.data_offset);
        if data_len > available {
            return Err(with_location(ErrorKind::DataSize { needed: data_len, available }.into()));
        }
        let data = ArrayData::Mapped { npy, stored_crc32: None };
        Ok(NpyArray { name, location, header, storage, data, guard, row_len, file_offset: 0 })
    }

    /// A member of an archive held in `archive` (guarded by the archive's `guard`).
    pub(crate) fn from_member(
        name: String,
        location: Location,
        archive: &Buffer,
        guard: Option<Arc<LengthGuard>>,
        entry: &MemberEntry,
        max_header_len: u64,
    ) -> Result<Self> {
        let with_location = |e: NpyError| NpyError { location: location.clone(), kind: e.kind };
        let compressed = entry.compressed_bytes(archive).map_err(with_location)?;
        match entry.compression {
            Compression::Stored => {
                if entry.size != entry.compressed_size {
                    return Err(with_location(
                        ErrorKind::Zip { message: format!("stored member sizes disagree ({} vs {})", entry.size, entry.compressed_size) }.into(),
                    ));
                }
                let array = Self::from_mapped(name, location, Storage::ZipStored, compressed.clone(), guard, max_header_len)?;
                let data = ArrayData::Mapped { npy: compressed, stored_crc32: Some(entry.crc32) };
                Ok(NpyArray { data, file_offset: entry.data_start, ..array })
            }
            Compression::Deflated => {
                let limit = entry.compressed_size.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1024);
                if entry.size > limit {
                    return Err(with_location(
                        ErrorKind::ZipBomb { claimed: entry.size, compressed: entry.compressed_size, limit }.into(),
                    ));
                }
                let header = read_deflated_header(&compressed, max_header_len).map_err(with_location)?;
                let (row_len, data_len) = sizes(&header).map_err(|e| with_location(e.into()))?;
                let available = entry.size.saturating_sub(header.data_offset);
                if data_len > available {
                    return Err(with_location(ErrorKind::DataSize { needed: data_len, available }.into()));
                }
                let data = ArrayData::Deflated { compressed, crc32: entry.crc32, declared_size: entry.size };
                Ok(NpyArray { name, location, header, storage: Storage::ZipDeflated, data, guard, row_len, file_offset: 0 })
            }
        }
    }

    /// The `.npy` header of a deflated member, from its compressed bytes (a prefix of them
    /// will do when it inflates far enough).
    pub(crate) fn deflated_header(compressed: &Buffer, max_header_len: u64) -> Result<NpyHeader> {
        read_deflated_header(compressed, max_header_len)
    }

    pub(crate) fn num_rows(&self) -> u64 {
        self.header.num_rows()
    }

    /// Whether rows are stored non-contiguously (Fortran order with more than one axis).
    pub(crate) fn is_fortran(&self) -> bool {
        self.header.fortran_order && self.header.shape.len() > 1
    }

    /// Bytes a deflated member inflates to (header and data), or `None` for other arrays.
    pub(crate) fn inflated_size(&self) -> Option<u64> {
        match &self.data {
            ArrayData::Deflated { declared_size, .. } => Some(*declared_size),
            ArrayData::Mapped { .. } => None,
        }
    }

    /// A reader of rows `first_row..end_row`. `inflate_in_memory`: a deflated member is
    /// inflated whole, in one call, into one buffer that its batches then slice (faster than
    /// a stream, but it holds the whole member: the caller keeps this within a memory budget).
    pub(crate) fn row_reader(&self, first_row: u64, end_row: u64, inflate_in_memory: bool) -> Result<RowReader> {
        let whole = first_row == 0 && end_row >= self.num_rows();
        let fortran = self.is_fortran().then(|| FortranLayout::new(&self.header));
        let data_offset = self.header.data_offset as usize;
        let source = match &self.data {
            ArrayData::Mapped { npy, stored_crc32 } => {
                // A stored member's CRC-32 can only be checked by a reader that sees all of it.
                let crc = match stored_crc32 {
                    Some(expected) if whole => {
                        let check = StoredCrc::new(npy, data_offset, self.header.data_len()?, *expected);
                        if fortran.is_some() {
                            // Batches are gathered across the whole member: check it in one pass.
                            check.verify_all(npy)?;
                            None
                        } else {
                            Some(check)
                        }
                    }
                    _ => None,
                };
                RowSource::Mapped { buffer: npy.clone(), offset: data_offset, fortran, crc }
            }
            ArrayData::Deflated { compressed, crc32, declared_size } => {
                if inflate_in_memory {
                    let buffer = inflate_whole(compressed, *declared_size, *crc32)?;
                    let needed = self.header.data_offset + self.header.data_len()?;
                    if (buffer.len() as u64) < needed {
                        return Err(ErrorKind::Truncated { what: "the deflated member", needed, available: buffer.len() as u64 }.into());
                    }
                    RowSource::Mapped { buffer, offset: data_offset, fortran, crc: None }
                } else if fortran.is_some() {
                    // Rows of a Fortran-order array are spread over the whole stream: inflate it
                    // once into a temporary file and map that (bounded memory, one pass).
                    let buffer = self.spill_to_temp_file(compressed)?;
                    RowSource::Mapped { buffer, offset: data_offset, fortran, crc: None }
                } else {
                    let mut stream = InflatedStream::new(compressed.clone(), *crc32, *declared_size);
                    stream.skip(self.header.data_offset)?;
                    stream.skip(first_row.saturating_mul(self.row_len as u64))?;
                    RowSource::Deflated { stream, next_row: first_row }
                }
            }
        };
        Ok(RowReader { guard: self.guard.clone(), source })
    }

    fn spill_to_temp_file(&self, compressed: &Buffer) -> Result<Buffer> {
        let mut file = tempfile::tempfile()?;
        let mut decoder = DeflateDecoder::new(BufferReader::new(compressed.clone()));
        let header_and_data = self.header.data_offset + self.header.data_len()?;
        let copied = std::io::copy(&mut (&mut decoder).take(header_and_data), &mut file)?;
        if copied < header_and_data {
            return Err(ErrorKind::Truncated { what: "the deflated member", needed: header_and_data, available: copied }.into());
        }
        // SAFETY: an anonymous temporary file only we hold; nobody can truncate it.
        let map = unsafe { memmap2::Mmap::map(&file) }?;
        Ok(Buffer::from(bytes::Bytes::from_owner(map)))
    }
}

/// Row length and data length of a header, both checked to fit in memory arithmetic.
fn sizes(header: &NpyHeader) -> std::result::Result<(usize, u64), ErrorKind> {
    let data_len = header.data_len()?;
    let row_len = header.row_len()?;
    let row_len = usize::try_from(row_len).map_err(|_| ErrorKind::ShapeOverflow { shape: header.shape.clone(), itemsize: header.dtype.itemsize() as u64 })?;
    Ok((row_len, data_len))
}

/// A deflated member inflated in one call (libdeflate: a whole-buffer inflater, about 1.5× as
/// fast as zlib-rs's stream on numpy's archives) straight into fresh page-aligned memory of its
/// declared size ([`spill_memory`] for all but small members), its CRC-32 checked. A stream
/// that does not end exactly at the declared size is an error (it cannot write past the
/// buffer: the zip-bomb cap on the declared size holds).
fn inflate_whole(compressed: &Buffer, declared_size: u64, expected_crc: u32) -> Result<Buffer> {
    let len = usize::try_from(declared_size)
        .map_err(|_| ErrorKind::InvalidArgument(format!("deflated member of {declared_size} bytes does not fit in memory")))?;
    if len < PREFAULT_MIN_BYTES {
        return filled_buffer(len, |out| inflate_into(out, compressed, declared_size, expected_crc));
    }
    let mut memory = spill_memory(len)?;
    let out = &mut memory[..];
    let inflating = AtomicBool::new(true);
    std::thread::scope(|scope| {
        let (start, inflating) = (out.as_mut_ptr() as usize, &inflating);
        // Without a helper thread (none to be had), the inflater faults its pages in itself.
        let _ = std::thread::Builder::new().spawn_scoped(scope, move || prefault(start, len, inflating));
        let inflated = inflate_into(out, compressed, declared_size, expected_crc);
        inflating.store(false, Ordering::Relaxed);
        inflated
    })?;
    Ok(Buffer::from(bytes::Bytes::from_owner(memory.make_read_only()?)))
}

/// `len` bytes of writable memory for a member inflated whole. On Linux, a map of an unlinked
/// temporary file whose blocks are allocated up front, as the stream of a Fortran-order member
/// is spilled: under memory pressure the kernel writes its pages out (as it drops the pages of
/// a mapped `.npy`) instead of holding them as the process's own memory (peak anonymous memory
/// for a 256 MiB member: 4.6 MB, against 267 MB in anonymous memory, at the same speed), and a
/// full disk is an error here, not a SIGBUS at the first write into the map. Elsewhere,
/// anonymous memory.
fn spill_memory(len: usize) -> Result<memmap2::MmapMut> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let file = tempfile::tempfile()?;
        let size = libc::off_t::try_from(len)
            .map_err(|_| ErrorKind::InvalidArgument(format!("deflated member of {len} bytes does not fit in a file")))?;
        // SAFETY: a plain system call on a file descriptor we own.
        match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, size) } {
            0 => {}
            code => return Err(std::io::Error::from_raw_os_error(code).into()),
        }
        // SAFETY: an anonymous temporary file only we hold; nobody can truncate it.
        Ok(unsafe { memmap2::MmapMut::map_mut(&file) }?)
    }
    #[cfg(not(target_os = "linux"))]
    Ok(memmap2::MmapOptions::new().len(len).map_anon()?)
}

/// Members from this size on are inflated into memory of their own ([`spill_memory`]) whose
/// pages a helper thread faults in ahead of the inflater; smaller ones into the allocator's
/// memory, on one thread.
pub(crate) const PREFAULT_MIN_BYTES: usize = 8 << 20;

/// Fault in the fresh pages of `start..start + len`, a piece at a time from the start, while
/// `inflating`: another core pays the page faults and the kernel's preparing of the pages (for
/// 256 MiB, 65,536 faults: about a fifth of the inflating thread's time when it paid them
/// itself). Nothing is read or written; the inflater, writing behind, finds its pages mapped
/// (or faults them in itself should it catch up).
fn prefault(start: usize, len: usize, inflating: &AtomicBool) {
    const PIECE: usize = 4 << 20;
    if !cfg!(target_os = "linux") {
        return;
    }
    let end = start + len;
    let mut at = start;
    while at < end && inflating.load(Ordering::Relaxed) {
        let piece = PIECE.min(end - at);
        #[cfg(target_os = "linux")]
        // SAFETY: `at..at + piece` lies inside the mapping `inflate_whole` holds until
        // this thread is joined (the kernel rounds the last piece up to its page, which the
        // mapping holds too), and `at` is page-aligned (the mapping is; pieces are 4 MiB).
        // MADV_POPULATE_WRITE maps pages; it reads and writes none of their bytes.
        if unsafe { libc::madvise(at as *mut libc::c_void, piece, libc::MADV_POPULATE_WRITE) } != 0 {
            return; // a kernel before 5.14: the inflater faults the pages in itself
        }
        at += piece;
    }
}

/// Inflate `compressed` into exactly `out`, then check its CRC-32.
fn inflate_into(out: &mut [u8], compressed: &Buffer, declared_size: u64, expected_crc: u32) -> Result<()> {
    let mut inflater = libdeflater::Decompressor::new();
    let inflated = inflater.deflate_decompress(compressed.as_slice(), out).map_err(|e| match e {
        libdeflater::DecompressionError::InsufficientSpace => {
            ErrorKind::Zip { message: format!("cannot inflate member: it inflates to more than its declared {declared_size} bytes") }
        }
        libdeflater::DecompressionError::BadData => ErrorKind::Zip { message: "cannot inflate member: corrupt deflate stream".into() },
    })?;
    if inflated != out.len() {
        return Err(ErrorKind::Truncated { what: "the deflated member", needed: declared_size, available: inflated as u64 }.into());
    }
    // libdeflate's CRC-32 (VPCLMULQDQ where the CPU has it): 1.6× less time here than flate2's.
    crc_matches(expected_crc, libdeflater::crc32(out))
}

/// Inflate just enough of a deflated member to parse its header.
fn read_deflated_header(compressed: &Buffer, max_header_len: u64) -> Result<NpyHeader> {
    let mut decoder = DeflateDecoder::new(BufferReader::new(compressed.clone()));
    let mut preamble = Vec::with_capacity(PREAMBLE_LEN);
    (&mut decoder).take(PREAMBLE_LEN as u64).read_to_end(&mut preamble).map_err(inflate_error)?;
    let (_, data_offset) = read_preamble(&preamble, max_header_len)?;
    // `data_offset` is bounded by the header cap checked in `read_preamble`.
    let mut header = preamble;
    (&mut decoder).take(data_offset.saturating_sub(header.len() as u64)).read_to_end(&mut header).map_err(inflate_error)?;
    Ok(parse_header(&header, max_header_len)?)
}

fn inflate_error(e: std::io::Error) -> ErrorKind {
    ErrorKind::Zip { message: format!("cannot inflate member: {e}") }
}

/// A deflated member inflated front to back, with its CRC checked when read to the end.
pub(crate) struct InflatedStream {
    decoder: DeflateDecoder<BufferReader>,
    crc: flate2::Crc,
    expected_crc: u32,
    declared_size: u64,
    /// Bytes inflated so far (`Crc::amount` is only 32 bits).
    position: u64,
}

impl InflatedStream {
    fn new(compressed: Buffer, expected_crc: u32, declared_size: u64) -> Self {
        let decoder = DeflateDecoder::new(BufferReader::new(compressed));
        InflatedStream { decoder, crc: flate2::Crc::new(), expected_crc, declared_size, position: 0 }
    }

    fn position(&self) -> u64 {
        self.position
    }

    /// Fill `out` completely, or fail naming what was missing.
    fn read_exact(&mut self, out: &mut [u8]) -> Result<()> {
        let mut filled = 0;
        while filled < out.len() {
            match self.decoder.read(&mut out[filled..]) {
                Ok(0) => {
                    return Err(ErrorKind::Truncated {
                        what: "the deflated member",
                        needed: self.position() + (out.len() - filled) as u64,
                        available: self.position(),
                    }
                    .into())
                }
                Ok(n) => {
                    self.crc.update(&out[filled..filled + n]);
                    self.position += n as u64;
                    filled += n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(inflate_error(e).into()),
            }
        }
        Ok(())
    }

    fn skip(&mut self, mut n: u64) -> Result<()> {
        let mut scratch = vec![0u8; 64 << 10];
        while n > 0 {
            let chunk = n.min(scratch.len() as u64) as usize;
            self.read_exact(&mut scratch[..chunk])?;
            n -= chunk as u64;
        }
        Ok(())
    }

    /// After the last row: inflate what remains of the declared size and check the CRC, so a
    /// corrupt archive is an error rather than silently wrong values.
    fn finish(&mut self) -> Result<()> {
        let rest = self.declared_size.saturating_sub(self.position());
        self.skip(rest)?;
        crc_matches(self.expected_crc, self.crc.sum())
    }
}

/// Yields the C-order bytes of consecutive rows as a [`ByteView`].
pub(crate) struct RowReader {
    guard: Option<Arc<LengthGuard>>,
    source: RowSource,
}

enum RowSource {
    /// The `.npy` bytes in memory; data at `offset`.
    Mapped { buffer: Buffer, offset: usize, fortran: Option<FortranLayout>, crc: Option<StoredCrc> },
    Deflated { stream: InflatedStream, next_row: u64 },
}

impl RowReader {
    /// Rows `first..first + count` (the caller keeps them inside the array). A deflated reader
    /// only moves forward: `first` must be where the previous call ended.
    pub(crate) fn rows(&mut self, first: u64, count: usize, row_len: usize, array_rows: u64) -> Result<ByteView> {
        let bytes = count.checked_mul(row_len).ok_or_else(|| ErrorKind::InvalidArgument("batch too large".into()))?;
        if let Some(guard) = &self.guard {
            guard.check()?;
        }
        match &mut self.source {
            RowSource::Mapped { buffer, offset, fortran: None, crc } => {
                let start = *offset + first as usize * row_len;
                if let Some(check) = crc {
                    if !check.update(first, &buffer.as_slice()[start..start + bytes], count as u64, array_rows)? {
                        *crc = None;
                    }
                }
                Ok(ByteView { buffer: buffer.clone(), start, stride: row_len, rows: count, first_row: first })
            }
            RowSource::Mapped { buffer, offset, fortran: Some(layout), .. } => {
                let data = &buffer.as_slice()[*offset..];
                let gathered = filled_buffer(bytes, |out| {
                    layout.gather(data, array_rows, first, count, out);
                    Ok(())
                })?;
                Ok(ByteView { buffer: gathered, start: 0, stride: row_len, rows: count, first_row: first })
            }
            RowSource::Deflated { stream, next_row } => {
                if first != *next_row {
                    return Err(ErrorKind::InvalidArgument(format!("deflated member read out of order (row {first}, expected {next_row})")).into());
                }
                let buffer = filled_buffer(bytes, |out| stream.read_exact(out))?;
                *next_row += count as u64;
                if *next_row == array_rows {
                    stream.finish()?;
                }
                Ok(ByteView { buffer, start: 0, stride: row_len, rows: count, first_row: first })
            }
        }
    }
}

/// The CRC-32 of a stored member, computed over the batches as a reader passes them (their bytes
/// are about to be read anyway), and compared when the last row has gone by, as numpy's zipfile
/// does: a corrupt stored member is an error, not silently wrong values.
struct StoredCrc {
    crc: flate2::Crc,
    expected: u32,
    next_row: u64,
    /// Bytes after the data that the member's CRC covers too (numpy writes none).
    tail: Buffer,
}

impl StoredCrc {
    fn new(npy: &Buffer, data_offset: usize, data_len: u64, expected: u32) -> Self {
        let mut crc = flate2::Crc::new();
        crc.update(&npy.as_slice()[..data_offset]);
        let data_end = data_offset + data_len as usize;
        let tail = npy.slice_with_length(data_end, npy.len() - data_end);
        StoredCrc { crc, expected, next_row: 0, tail }
    }

    /// Add rows `first..first + count`; `Ok(false)` when rows come out of order (nothing can be
    /// checked then), an error on a mismatch after the last row.
    fn update(&mut self, first: u64, bytes: &[u8], count: u64, array_rows: u64) -> Result<bool> {
        if first != self.next_row {
            return Ok(false);
        }
        self.crc.update(bytes);
        self.next_row += count;
        if self.next_row == array_rows {
            self.crc.update(self.tail.as_slice());
            crc_matches(self.expected, self.crc.sum())?;
        }
        Ok(true)
    }

    fn verify_all(mut self, npy: &Buffer) -> Result<()> {
        self.crc = flate2::Crc::new();
        self.crc.update(npy.as_slice());
        crc_matches(self.expected, self.crc.sum())
    }
}

fn crc_matches(expected: u32, actual: u32) -> Result<()> {
    if actual != expected {
        return Err(ErrorKind::Zip { message: format!("CRC-32 mismatch (archive says {expected:08x}, data give {actual:08x})") }.into());
    }
    Ok(())
}

/// Turns Fortran-order data (first index fastest) into C-order rows.
#[derive(Debug, Clone)]
pub(crate) struct FortranLayout {
    itemsize: usize,
    /// The dimensions after the first, C order.
    inner: Vec<usize>,
}

impl FortranLayout {
    fn new(header: &NpyHeader) -> Self {
        FortranLayout { itemsize: header.dtype.itemsize(), inner: header.inner_shape().iter().map(|&d| d as usize).collect() }
    }

    /// Copy rows `first..first + count` into `out` in C order. In Fortran order the items of
    /// consecutive rows at one inner index are adjacent, so each inner index is one contiguous
    /// run of `count` items copied to a strided destination. Sizes were checked at open.
    fn gather(&self, data: &[u8], rows: u64, first: u64, count: usize, out: &mut [u8]) {
        let isz = self.itemsize;
        let row_items: usize = self.inner.iter().product();
        let rows = rows as usize;
        let first = first as usize;
        // `index` walks the inner dimensions in C order (last fastest); `fortran` is the
        // Fortran-order position of that inner index, in units of whole columns of `rows` items.
        let mut index = vec![0usize; self.inner.len()];
        let strides: Vec<usize> = self.inner.iter().scan(1usize, |acc, &d| { let s = *acc; *acc *= d; Some(s) }).collect();
        for c in 0..row_items {
            let fortran: usize = index.iter().zip(&strides).map(|(i, s)| i * s).sum();
            let src = (fortran * rows + first) * isz;
            for r in 0..count {
                let dst = (r * row_items + c) * isz;
                out[dst..dst + isz].copy_from_slice(&data[src + r * isz..src + (r + 1) * isz]);
            }
            for axis in (0..index.len()).rev() {
                index[axis] += 1;
                if index[axis] < self.inner[axis] {
                    break;
                }
                index[axis] = 0;
            }
        }
    }
}
