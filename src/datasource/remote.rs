//! `.npy` objects of remote stores read by byte range, never downloaded whole: the header from a
//! first small range ([`HEADER_PROBE_LEN`], a second range only for a longer header), then the
//! rows a scan wants as ranges of about [`CHUNK_BYTES`], [`IN_FLIGHT`] of them fetched at once
//! and decoded in order (zero-copy where the fetched bytes are aligned). What to fetch and how
//! to decode it is the format layer's ([`RangedNpy`]); this module only fetches.
//!
//! Every fetch names the object's URL in its errors, checks it got the bytes it asked for (a
//! truncated object is an error, not short data), and checks the object is still the one that
//! was listed (same ETag, when the store gives one): an object replaced between listing and
//! reading is an error, not a mix of two versions.
//!
//! `.npz` archives of remote stores are still downloaded whole (see `super::local`).

use std::ops::Range;
use std::path::Path;

use bytes::{Bytes, BytesMut};
use datafusion::error::{DataFusionError, Result};
use datafusion::object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore};

use super::local::df_err;
use crate::format::table::OpenOptions;
use crate::format::{RangedNpy, HEADER_PROBE_LEN};

/// Bytes of rows per ranged request: large enough that request overhead is small next to the
/// transfer, small enough that [`IN_FLIGHT`] of them bound a scan's memory (32 MiB).
pub const CHUNK_BYTES: u64 = 8 << 20;

/// Ranged requests of one file in flight at once.
pub const IN_FLIGHT: usize = 4;

/// Whether a file is read by range (a `.npy`, no member) rather than downloaded.
pub fn reads_by_range(location: &str, member: Option<&str>) -> bool {
    member.is_none() && !Path::new(location).extension().is_some_and(|e| e.eq_ignore_ascii_case("npz"))
}

/// One error line naming the object.
pub fn remote_error(url: &str, e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!("{url}: {e}"))
}

/// Bytes `range` of the object `meta` describes, checked to be all there and of the listed
/// version.
pub async fn fetch(store: &dyn ObjectStore, meta: &ObjectMeta, range: Range<u64>, url: &str) -> Result<Bytes> {
    if range.is_empty() {
        return Ok(Bytes::new());
    }
    let options = GetOptions { range: Some(GetRange::Bounded(range.clone())), if_match: meta.e_tag.clone(), ..GetOptions::default() };
    let got = store.get_opts(&meta.location, options).await.map_err(|e| remote_error(url, e))?;
    if let (Some(listed), Some(now)) = (&meta.e_tag, &got.meta.e_tag) {
        // Not every server honours If-Match: compare the tags too.
        if listed != now {
            return Err(remote_error(url, format!("the object changed while it was read (ETag {listed} when listed, {now} now)")));
        }
    }
    let bytes = got.bytes().await.map_err(|e| remote_error(url, e))?;
    let wanted = range.end - range.start;
    if bytes.len() as u64 != wanted {
        return Err(remote_error(url, format!("asked for bytes {}..{} and got {} bytes (truncated object?)", range.start, range.end, bytes.len())));
    }
    Ok(bytes)
}

/// The header of the `.npy` object `meta` describes, from one ranged request (two when the
/// header is longer than [`HEADER_PROBE_LEN`]).
pub async fn open_ranged(store: &dyn ObjectStore, meta: &ObjectMeta, url: &str, options: &OpenOptions) -> Result<RangedNpy> {
    let name = Path::new(url);
    let probe = HEADER_PROBE_LEN.min(meta.size);
    let mut prefix = fetch(store, meta, 0..probe, url).await?;
    let needed = RangedNpy::header_len(&prefix, options.max_header_len, name).map_err(df_err)?;
    if needed > probe && needed <= meta.size {
        let rest = fetch(store, meta, probe..needed, url).await?;
        let mut whole = BytesMut::with_capacity(needed as usize);
        whole.extend_from_slice(&prefix);
        whole.extend_from_slice(&rest);
        prefix = whole.freeze();
    }
    RangedNpy::from_prefix(name, &prefix, meta.size, options).map_err(df_err)
}

/// The row ranges to fetch for `rows`: runs of about [`CHUNK_BYTES`], or all of them at once
/// for an array whose rows are spread over its whole data.
pub fn chunks(ranged: &RangedNpy, rows: Range<u64>) -> Vec<Range<u64>> {
    if ranged.needs_all_data() || ranged.header().shape.is_empty() {
        return vec![rows];
    }
    let per_chunk = (CHUNK_BYTES / ranged.row_len().max(1)).max(1);
    let mut out = Vec::new();
    let mut start = rows.start;
    while start < rows.end {
        let end = rows.end.min(start.saturating_add(per_chunk));
        out.push(start..end);
        start = end;
    }
    out
}
