//! One `.npy`: a plain array of one column, or a structured array of several.

use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::arrow::datatypes::Schema;
use crate::arrow::record_batch::RecordBatch;
use tempfile::NamedTempFile;

use super::spill::Spill;
use super::{
    check_spilled_nulls, encode_rows, header_for, internal, item_for, temp_file_in, Item, NullPolicy, OutputColumns,
};
use crate::error::Result;

pub struct NpyOutput {
    columns: OutputColumns,
    /// The result's temporary file, renamed into place by the caller.
    file: BufWriter<NamedTempFile>,
    state: State,
}

enum State {
    /// Fixed widths: items follow a header for 0 rows, patched at the end.
    Direct { item: Item, header_len: usize },
    /// Strings: batches spilled until the widths are known; the file is written at the end.
    Spilled(Box<Spill>),
}

impl NpyOutput {
    pub fn create(schema: &Schema, path: &Path, dir: &Path) -> Result<Self> {
        let columns = OutputColumns::new(schema, (0..schema.fields().len()).collect(), true);
        columns.check_types()?;
        let mut file = BufWriter::new(temp_file_in(dir, path)?);
        let state = if columns.has_strings() {
            State::Spilled(Box::new(Spill::create(dir, &columns.schema)?))
        } else {
            let item = item_for(&columns.schema, &mut std::iter::empty())?;
            let header = header_for(&item, 0)?;
            file.write_all(&header)?;
            State::Direct { item, header_len: header.len() }
        };
        Ok(NpyOutput { columns, file, state })
    }

    pub fn write(&mut self, batch: &RecordBatch, first_row: u64, nulls: NullPolicy) -> Result<()> {
        let batch = self.columns.take(batch)?;
        match &mut self.state {
            State::Direct { item, .. } => self.file.write_all(&encode_rows(&batch, item, first_row, nulls)?)?,
            State::Spilled(spill) => {
                spill.write(&batch)?;
                let all: Vec<usize> = (0..self.columns.indices.len()).collect();
                check_spilled_nulls(&batch, spill.widths_so_far(&all), first_row, nulls)?;
            }
        }
        Ok(())
    }

    /// The complete file, still under its temporary name.
    pub fn finish(mut self, rows: u64, nulls: NullPolicy) -> Result<NamedTempFile> {
        match self.state {
            State::Direct { item, header_len } => {
                // numpy's growth room makes the header for `rows` as long as the one for 0.
                let header = header_for(&item, rows)?;
                if header.len() == header_len {
                    self.file.seek(SeekFrom::Start(0))?;
                    self.file.write_all(&header)?;
                } else if rows == 1 {
                    // A 0-d array's header has no growth room: write the file again, one item.
                    let mut file = self.file.into_inner().map_err(|e| e.into_error())?;
                    let mut data = Vec::with_capacity(item.dtype.itemsize());
                    file.seek(SeekFrom::Start(header_len as u64))?;
                    file.read_to_end(&mut data)?;
                    file.as_file().set_len(0)?;
                    file.seek(SeekFrom::Start(0))?;
                    file.write_all(&header)?;
                    file.write_all(&data)?;
                    return Ok(file);
                } else {
                    return Err(internal("the final header does not fit the room reserved for it"));
                }
            }
            State::Spilled(spill) => {
                let spill = spill.finish()?;
                let all: Vec<usize> = (0..self.columns.indices.len()).collect();
                let item = item_for(&self.columns.schema, &mut spill.widths(&all).into_iter())?;
                self.file.write_all(&header_for(&item, rows)?)?;
                let mut first_row = 0;
                for batch in spill.batches(None)? {
                    let batch = batch?;
                    self.file.write_all(&encode_rows(&batch, &item, first_row, nulls)?)?;
                    first_row += batch.num_rows() as u64;
                }
                if first_row != rows {
                    return Err(internal("the spill holds a different number of rows than were written"));
                }
            }
        }
        self.file.into_inner().map_err(|e| e.into_error().into())
    }
}
