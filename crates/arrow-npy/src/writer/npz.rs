//! An `.npz`: one member `<column>.npy` per column, written at `finish` in column order.
//!
//! Zip members are written one after another, but rows arrive for all columns at once. While
//! they stream in, fixed-width columns are encoded at once into one temporary file of chunks
//! (each batch's bytes for each column, with an index of where they are), and columns with
//! strings are spilled as Arrow batches to one [`Spill`] while their widths are measured. At
//! `finish`, each member is its header followed by its chunks, or by its spilled column
//! encoded with the final widths. Two temporary files, however many columns.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::arrow::datatypes::Schema;
use crate::arrow::record_batch::RecordBatch;
use tempfile::NamedTempFile;

use super::spill::{Spill, SpillFile};
use super::{
    check_spilled_nulls, encode_rows, header_for, internal, item_for, temp_file_in, zip_error, Item,
    NpzCompression, NullPolicy, OutputColumns,
};
use crate::error::{Result, ResultExt};

pub struct NpzOutput {
    members: Vec<Member>,
    /// The result's temporary file.
    archive: NamedTempFile,
    compression: NpzCompression,
    /// Encoded items of the fixed-width members.
    chunks: ChunkFile,
    /// The columns with strings, and their spill (if there are any).
    spilled: Option<(OutputColumns, Spill)>,
}

struct Member {
    /// The column's name: the member is `<name>.npy`.
    name: String,
    /// The column as a one-column output.
    column: OutputColumns,
    kind: MemberKind,
}

enum MemberKind {
    /// Fixed widths: the byte ranges of its items in the chunk file, batch by batch.
    Direct { item: Item, chunks: Vec<(u64, u64)> },
    /// Strings: its position among the spilled columns.
    Spilled { position: usize },
}

impl NpzOutput {
    pub fn create(schema: &Schema, path: &Path, dir: &Path, compression: NpzCompression) -> Result<Self> {
        let mut members = Vec::with_capacity(schema.fields().len());
        let mut spilled_columns = Vec::new();
        for (index, field) in schema.fields().iter().enumerate() {
            let column = OutputColumns::new(schema, vec![index], false);
            column.check_types().in_member(field.name())?;
            let kind = if column.has_strings() {
                spilled_columns.push(index);
                MemberKind::Spilled { position: spilled_columns.len() - 1 }
            } else {
                MemberKind::Direct {
                    item: item_for(&column.schema, &mut std::iter::empty())?,
                    chunks: vec![],
                }
            };
            members.push(Member { name: field.name().clone(), column, kind });
        }
        let spilled = if spilled_columns.is_empty() {
            None
        } else {
            let columns = OutputColumns::new(schema, spilled_columns, false);
            let spill = Spill::create(dir, &columns.schema)?;
            Some((columns, spill))
        };
        Ok(NpzOutput {
            members,
            archive: temp_file_in(dir, path)?,
            compression,
            chunks: ChunkFile::create(dir)?,
            spilled,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch, first_row: u64, nulls: NullPolicy) -> Result<()> {
        for member in &mut self.members {
            if let MemberKind::Direct { item, chunks } = &mut member.kind {
                let column = member.column.take(batch)?;
                let bytes = encode_rows(&column, item, first_row, nulls).in_member(&member.name)?;
                chunks.push(self.chunks.append(&bytes)?);
            }
        }
        if let Some((columns, spill)) = &mut self.spilled {
            let spilled = columns.take(batch)?;
            spill.write(&spilled)?;
            for member in &self.members {
                if let MemberKind::Spilled { position } = member.kind {
                    let column = member.column.take(batch)?;
                    check_spilled_nulls(&column, spill.widths_so_far(&[position]), first_row, nulls)
                        .in_member(&member.name)?;
                }
            }
        }
        Ok(())
    }

    /// The complete archive, still under its temporary name.
    pub fn finish(self, rows: u64, nulls: NullPolicy) -> Result<NamedTempFile> {
        let mut chunks = self.chunks.finish()?;
        let spill = self.spilled.map(|(_, spill)| spill.finish()).transpose()?;
        let method = match self.compression {
            NpzCompression::Stored => zip::CompressionMethod::Stored,
            NpzCompression::Deflated => zip::CompressionMethod::Deflated,
        };
        // numpy opens every member with `force_zip64=True`.
        let options = zip::write::SimpleFileOptions::default().compression_method(method).large_file(true);
        let mut zip = zip::ZipWriter::new(BufWriter::new(self.archive));
        for member in self.members {
            zip.start_file(format!("{}.npy", member.name), options).map_err(zip_error)?;
            match &member.kind {
                MemberKind::Direct { item, chunks: ranges } => {
                    zip.write_all(&header_for(item, rows)?)?;
                    for &(offset, len) in ranges {
                        chunks.copy_range(offset, len, &mut zip)?;
                    }
                }
                MemberKind::Spilled { position } => {
                    let spill = spill.as_ref().ok_or_else(|| internal("a spilled member without a spill"))?;
                    write_spilled(&member, *position, spill, rows, nulls, &mut zip).in_member(&member.name)?;
                }
            }
        }
        let mut buffered = zip.finish().map_err(zip_error)?;
        buffered.flush()?;
        buffered.into_inner().map_err(|e| e.into_error().into())
    }
}

/// A member whose column was spilled: header with the final widths, then its items.
fn write_spilled(
    member: &Member,
    position: usize,
    spill: &SpillFile,
    rows: u64,
    nulls: NullPolicy,
    out: &mut dyn Write,
) -> Result<()> {
    let item = item_for(&member.column.schema, &mut spill.widths(&[position]).into_iter())?;
    out.write_all(&header_for(&item, rows)?)?;
    // The projected spill has the one column, to be read under the member's own schema.
    let projected = OutputColumns { indices: vec![0], schema: member.column.schema.clone() };
    let mut first_row = 0;
    for batch in spill.batches(Some(vec![position]))? {
        let batch = projected.take(&batch?)?;
        out.write_all(&encode_rows(&batch, &item, first_row, nulls)?)?;
        first_row += batch.num_rows() as u64;
    }
    if first_row != rows {
        return Err(internal("the spill holds a different number of rows than were written"));
    }
    Ok(())
}

/// An anonymous temporary file that encoded items are appended to.
struct ChunkFile {
    file: BufWriter<File>,
    len: u64,
}

impl ChunkFile {
    fn create(dir: &Path) -> Result<Self> {
        Ok(ChunkFile { file: BufWriter::new(tempfile::tempfile_in(dir)?), len: 0 })
    }

    /// Append `bytes`; their (offset, length) in the file.
    fn append(&mut self, bytes: &[u8]) -> Result<(u64, u64)> {
        self.file.write_all(bytes)?;
        let range = (self.len, bytes.len() as u64);
        self.len += bytes.len() as u64;
        Ok(range)
    }

    fn finish(self) -> Result<Chunks> {
        Ok(Chunks { file: self.file.into_inner().map_err(|e| e.into_error())? })
    }
}

/// The chunk file, complete, read back by ranges.
struct Chunks {
    file: File,
}

impl Chunks {
    fn copy_range(&mut self, offset: u64, len: u64, out: &mut dyn Write) -> Result<()> {
        self.file.seek(SeekFrom::Start(offset))?;
        let copied = std::io::copy(&mut BufReader::new((&mut self.file).take(len)), out)?;
        if copied != len {
            return Err(internal("the chunk file is shorter than what was written to it"));
        }
        Ok(())
    }
}
