//! Batches whose `U<n>`/`S<n>` widths are not known yet: spilled unchanged to an Arrow IPC
//! stream in an anonymous temporary file while the widths are measured, and read back one
//! batch at a time once they are.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, SeekFrom};
use std::path::Path;

use crate::arrow::datatypes::SchemaRef;
use crate::arrow::ipc::reader::StreamReader;
use crate::arrow::ipc::writer::StreamWriter;
use crate::arrow::record_batch::RecordBatch;

use super::dtype_map::{initial_widths, measure_widths};
use super::plain;
use crate::error::Result;

/// The spill being written.
pub struct Spill {
    writer: StreamWriter<BufWriter<File>>,
    /// Per column, the widest value of each of its string/binary leaves so far (and the
    /// length of each list leaf's rows).
    widths: Vec<Vec<usize>>,
    /// The columns' names, for errors.
    names: Vec<String>,
}

impl Spill {
    pub fn create(dir: &Path, schema: &SchemaRef) -> Result<Self> {
        let writer = StreamWriter::try_new(BufWriter::new(tempfile::tempfile_in(dir)?), schema)?;
        let widths = schema.fields().iter().map(|f| initial_widths(f.data_type())).collect();
        let names = schema.fields().iter().map(|f| f.name().clone()).collect();
        Ok(Spill { writer, widths, names })
    }

    /// Measure and spill a batch with the spill's schema.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        for ((column, widths), name) in batch.columns().iter().zip(&mut self.widths).zip(&self.names) {
            measure_widths(name, plain(column)?.as_ref(), widths, &mut 0)?;
        }
        self.writer.write(batch)?;
        Ok(())
    }

    /// The widths measured so far of the string/binary leaves of these columns, in order.
    pub fn widths_so_far(&self, columns: &[usize]) -> Vec<usize> {
        columns.iter().flat_map(|&c| self.widths[c].iter().copied()).collect()
    }

    pub fn finish(mut self) -> Result<SpillFile> {
        self.writer.finish()?;
        let file = self.writer.into_inner()?.into_inner().map_err(|e| e.into_error())?;
        Ok(SpillFile { file, widths: self.widths })
    }
}

/// A complete spill, to be read back.
pub struct SpillFile {
    file: File,
    widths: Vec<Vec<usize>>,
}

impl SpillFile {
    /// The widths of the string/binary leaves of these columns, in order.
    pub fn widths(&self, columns: &[usize]) -> Vec<usize> {
        columns.iter().flat_map(|&c| self.widths[c].iter().copied()).collect()
    }

    /// The spilled batches from the start, only `columns` of them (`None`: all).
    pub fn batches(&self, columns: Option<Vec<usize>>) -> Result<StreamReader<BufReader<File>>> {
        let mut file = self.file.try_clone()?;
        file.seek(SeekFrom::Start(0))?;
        Ok(StreamReader::try_new(BufReader::new(file), columns)?)
    }
}
