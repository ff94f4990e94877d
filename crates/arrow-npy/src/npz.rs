//! `.npz` archives: the zip directory read with the `zip` crate, straight from the archive's
//! memory map. We only locate members here; their bytes are read by `super::array`
//! (stored members from the map, deflated ones inflated as a stream).

use std::io::Cursor;

use crate::arrow::buffer::Buffer;
use zip::CompressionMethod;

use crate::error::{ErrorKind, Result};

/// Deflate cannot expand data by more than about 1032:1; a member that claims more is a lie
/// (a zip bomb), refused before inflating anything.
pub(crate) const MAX_DEFLATE_RATIO: u64 = 1032;

/// How a member is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    Stored,
    Deflated,
}

/// One entry of the archive's directory.
#[derive(Debug, Clone)]
pub(crate) struct MemberEntry {
    /// The entry's name in the zip, e.g. `features.npy`.
    pub raw_name: String,
    /// Absolute offset of the member's (compressed) bytes in the archive.
    pub data_start: u64,
    pub compressed_size: u64,
    /// Uncompressed size, as the directory says.
    pub size: u64,
    pub compression: Compression,
    pub crc32: u32,
}

impl MemberEntry {
    /// The array name numpy gives the member: the entry name without `.npy`, or `None` for
    /// entries that are not arrays (numpy's `NpzFile.files` lists those too, but they are not
    /// `.npy` data).
    pub(crate) fn array_name(&self) -> Option<&str> {
        self.raw_name.strip_suffix(".npy")
    }

    /// The member's compressed bytes, checked to lie inside the archive.
    pub(crate) fn compressed_bytes(&self, archive: &Buffer) -> Result<Buffer> {
        let len = archive.len() as u64;
        let end = self.data_start.checked_add(self.compressed_size).filter(|&end| end <= len).ok_or(
            ErrorKind::Truncated { what: "the zip member", needed: self.data_start.saturating_add(self.compressed_size), available: len },
        )?;
        Ok(archive.slice_with_length(self.data_start as usize, (end - self.data_start) as usize))
    }
}

fn zip_error(e: zip::result::ZipError) -> ErrorKind {
    ErrorKind::Zip { message: e.to_string() }
}

/// The entries of an archive held in `archive`, in directory order, directories left out.
pub(crate) fn list_members(archive: &Buffer) -> Result<Vec<MemberEntry>> {
    let mut zip = zip::ZipArchive::new(Cursor::new(archive.as_slice())).map_err(zip_error)?;
    let mut members = Vec::with_capacity(zip.len());
    for index in 0..zip.len() {
        // `by_index_raw` reads the local header (so `data_start` is known) without inflating.
        let file = zip.by_index_raw(index).map_err(zip_error)?;
        if file.is_dir() {
            continue;
        }
        let raw_name = file.name().map_err(zip_error)?.into_owned();
        if file.encrypted() {
            return Err(ErrorKind::Zip { message: format!("member '{raw_name}' is encrypted") }.into());
        }
        let compression = match file.compression() {
            CompressionMethod::Stored => Compression::Stored,
            CompressionMethod::Deflated => Compression::Deflated,
            other => {
                return Err(ErrorKind::Zip {
                    message: format!("member '{raw_name}' uses compression {other}; .npz members are stored or deflated"),
                }
                .into())
            }
        };
        let data_start = file
            .data_start()
            .ok_or_else(|| ErrorKind::Zip { message: format!("member '{raw_name}' has no local header") })?;
        members.push(MemberEntry {
            raw_name,
            data_start,
            compressed_size: file.compressed_size(),
            size: file.size(),
            compression,
            crc32: file.crc32(),
        });
    }
    Ok(members)
}
