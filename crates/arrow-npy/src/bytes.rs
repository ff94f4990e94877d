//! Where an array's bytes come from: a memory map of a file (or, on request, a copy of it in
//! memory), wrapped in an Arrow [`Buffer`] so that slices handed to Arrow point into the map.
//!
//! # Files that change while mapped
//! A file truncated by another process while it is mapped makes reads past its new end raise
//! SIGBUS. We check the length when opening and again before each batch
//! ([`LengthGuard::check`]), which turns every truncation that happens between batches into an
//! error. A truncation racing with a batch being read cannot be caught without copying; for
//! inputs that may change under the reader, set `OpenOptions::mmap = false` to read a private
//! copy instead.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::arrow::buffer::{Buffer, MutableBuffer};

use crate::error::{ErrorKind, Result, ResultExt};

/// Remembers a mapped file's length so each batch can check it is still all there.
#[derive(Debug)]
pub(crate) struct LengthGuard {
    file: File,
    path: PathBuf,
    len: u64,
}

impl LengthGuard {
    /// Error if the file is now shorter than when it was mapped.
    pub(crate) fn check(&self) -> Result<()> {
        let now = self.file.metadata().in_file(&self.path)?.len();
        if now < self.len {
            return Err(ErrorKind::Truncated { what: "the memory-mapped file (changed while open)", needed: self.len, available: now })
                .in_file(&self.path);
        }
        Ok(())
    }
}

/// Files up to this size are read into memory even when mapping is asked for.
///
/// Why: for a small file the map costs more than the copy. Mapping one takes an `mmap`, a page
/// fault and an `munmap`; in a process with several threads the `munmap` also interrupts the
/// other cores to flush their TLBs. Summing a directory of 10,000 shards of 192 bytes, a quarter
/// of the time went to `mmap`/`munmap`, while a read of 64 KiB from the page cache is a few
/// microseconds.
pub(crate) const READ_INSTEAD_OF_MAP_BYTES: u64 = 64 << 10;

/// The whole file as a `Buffer`: memory-mapped when `mmap` (and the file is larger than
/// [`READ_INSTEAD_OF_MAP_BYTES`]), else read into memory.
pub(crate) fn open_file(path: &Path, mmap: bool) -> Result<(Buffer, Option<Arc<LengthGuard>>)> {
    let mut file = File::open(path).in_file(path)?;
    let len = file.metadata().in_file(path)?.len();
    if len == 0 {
        // mmap of an empty file fails on some systems; an empty file is never valid anyway.
        return Ok((Buffer::from_vec(Vec::<u8>::new()), None));
    }
    if !mmap || len <= READ_INSTEAD_OF_MAP_BYTES {
        let capacity = usize::try_from(len).map_err(|_| ErrorKind::InvalidArgument(format!("file of {len} bytes does not fit in memory"))).in_file(path)?;
        // Into a 64-byte aligned buffer, as a map's page-aligned bytes are, so the same columns
        // are handed to Arrow without copying; exactly the length seen above, as a map would be.
        let buffer = filled_buffer(capacity, |out| file.read_exact(out).in_file(path))?;
        return Ok((buffer, None));
    }
    // SAFETY: the map is read-only; truncation by another process is guarded as documented above.
    let map = unsafe { memmap2::Mmap::map(&file) }.in_file(path)?;
    advise_huge_pages(&map);
    let buffer = Buffer::from(bytes::Bytes::from_owner(map));
    let guard = LengthGuard { file, path: path.to_path_buf(), len };
    Ok((buffer, Some(Arc::new(guard))))
}

/// Below this a map is left to the kernel's defaults: a huge page is 2 MiB on x86-64 and arm64.
#[cfg(target_os = "linux")]
const HUGE_PAGE_ADVICE_MIN_BYTES: usize = 2 << 20;

/// Ask Linux to read the mapped file into the page cache in huge pages (`MADV_HUGEPAGE`).
///
/// Why: the kernel's per-page work of mapping a cached file, not reading memory, is what a
/// warm scan of a mapped file spends its system time on, and how the file's pages were read in
/// decides it. Measured on a 1 GiB float32 `.npy` (2 threads summing, page cache warm): cached
/// in 4 KiB pages as a plain map's faults read it in, 110-120 ms, 30-50 ms of it in the
/// kernel; cached in huge pages, 70-80 ms with 3 ms in the kernel. The cold read costs no more
/// (each fault reads 2 MiB ahead: a C loop's cold read went from 1.7 to 0.7 s; npyq's, whose
/// pieces were read in order already, stayed within the disk's noise). A file already cached
/// in small pages stays so; where transparent huge pages are off the advice is refused, which
/// is harmless, so its error is ignored.
fn advise_huge_pages(map: &memmap2::Mmap) {
    #[cfg(target_os = "linux")]
    if map.len() >= HUGE_PAGE_ADVICE_MIN_BYTES {
        let _ = map.advise(memmap2::Advice::HugePage);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = map;
}

/// A fresh 64-byte aligned buffer of `len` bytes filled by `fill`.
pub(crate) fn filled_buffer(len: usize, fill: impl FnOnce(&mut [u8]) -> Result<()>) -> Result<Buffer> {
    let mut out = MutableBuffer::from_len_zeroed(len);
    fill(out.as_slice_mut())?;
    Ok(out.into())
}

/// `std::io::Read` over a slice of a `Buffer`, owning it (so inflaters can be `'static`).
pub(crate) struct BufferReader {
    buffer: Buffer,
    pos: usize,
}

impl BufferReader {
    pub(crate) fn new(buffer: Buffer) -> Self {
        BufferReader { buffer, pos: 0 }
    }
}

impl Read for BufferReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let rest = self.buffer.as_slice().get(self.pos..).unwrap_or(&[]);
        let n = rest.len().min(out.len());
        out[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The mapping of this process that holds `address`, from /proc/self/smaps: the file it
    /// maps (none for the heap) and its `VmFlags` line.
    fn mapping_at(address: usize) -> (Option<PathBuf>, String) {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut found: Option<Option<PathBuf>> = None;
        for line in smaps.lines() {
            let mut fields = line.split_whitespace();
            let range = fields.next().and_then(|r| r.split_once('-'));
            if let Some((start, end)) = range.and_then(|(s, e)| Some((usize::from_str_radix(s, 16).ok()?, usize::from_str_radix(e, 16).ok()?))) {
                let path = fields.nth(4).filter(|p| p.starts_with('/')).map(PathBuf::from);
                found = (start..end).contains(&address).then_some(path);
            } else if let (Some(path), true) = (&found, line.starts_with("VmFlags:")) {
                return (path.clone(), line.to_string());
            }
        }
        panic!("no mapping holds {address:#x}");
    }

    fn mapped_flags(len: usize) -> String {
        let file = tempfile::NamedTempFile::new().unwrap();
        file.as_file().set_len(len as u64).unwrap();
        let (buffer, _guard) = open_file(file.path(), true).unwrap();
        mapping_at(buffer.as_ptr() as usize).1
    }

    #[test]
    fn small_files_are_read_and_larger_ones_mapped() {
        for (len, mapped) in [(1, false), (READ_INSTEAD_OF_MAP_BYTES, false), (READ_INSTEAD_OF_MAP_BYTES + 1, true)] {
            let contents: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), &contents).unwrap();
            let (buffer, guard) = open_file(file.path(), true).unwrap();
            assert_eq!(buffer.as_slice(), &contents[..], "{len} bytes");
            assert_eq!(buffer.as_ptr() as usize % 64, 0, "{len} bytes: aligned as a map");
            assert_eq!(guard.is_some(), mapped, "{len} bytes: only a map needs its length guarded");
            let (backing, _) = mapping_at(buffer.as_ptr() as usize);
            let path = file.path().canonicalize().unwrap(); // as /proc names it
            assert_eq!(backing.as_deref() == Some(path.as_path()), mapped, "{len} bytes: mapped from {backing:?}");
        }
    }

    #[test]
    fn large_maps_ask_for_huge_pages_and_small_ones_do_not() {
        if !Path::new("/sys/kernel/mm/transparent_hugepage").exists() {
            return; // a kernel without transparent huge pages refuses the advice
        }
        let has_hg = |flags: &str| flags.split_whitespace().any(|f| f == "hg");
        let large = mapped_flags(HUGE_PAGE_ADVICE_MIN_BYTES);
        assert!(has_hg(&large), "{large}");
        let small = mapped_flags(HUGE_PAGE_ADVICE_MIN_BYTES - 4096);
        assert!(!has_hg(&small), "{small}");
    }
}
