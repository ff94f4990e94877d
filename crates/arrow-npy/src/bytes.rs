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

/// The whole file as a `Buffer`: memory-mapped when `mmap`, else read into memory.
pub(crate) fn open_file(path: &Path, mmap: bool) -> Result<(Buffer, Option<Arc<LengthGuard>>)> {
    let mut file = File::open(path).in_file(path)?;
    let len = file.metadata().in_file(path)?.len();
    if len == 0 {
        // mmap of an empty file fails on some systems; an empty file is never valid anyway.
        return Ok((Buffer::from_vec(Vec::<u8>::new()), None));
    }
    if !mmap {
        let capacity = usize::try_from(len).map_err(|_| ErrorKind::InvalidArgument(format!("file of {len} bytes does not fit in memory"))).in_file(path)?;
        let mut data = Vec::with_capacity(capacity);
        file.read_to_end(&mut data).in_file(path)?;
        return Ok((Buffer::from_vec(data), None));
    }
    // SAFETY: the map is read-only; truncation by another process is guarded as documented above.
    let map = unsafe { memmap2::Mmap::map(&file) }.in_file(path)?;
    let buffer = Buffer::from(bytes::Bytes::from_owner(map));
    let guard = LengthGuard { file, path: path.to_path_buf(), len };
    Ok((buffer, Some(Arc::new(guard))))
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
