//! A Parquet file writer that encodes row groups on several threads and writes them in order.
//!
//! `ArrowWriter` encodes every row group on the calling thread, so writing Parquet uses one
//! core while the other waits. Here each full row group is encoded (statistics, page encoding,
//! compression) on a thread of its own while the caller goes on reading the next batches; the
//! finished column chunks are appended to the file strictly in row-group order, so the file is
//! the one `ArrowWriter` would write with the same properties (same schema, metadata, encodings,
//! row-group boundaries by row count; the byte cap is applied from the input's in-memory size).
//!
//! Memory stays bounded: at most [`ParallelParquetWriter::max_in_flight`] row groups are being
//! encoded at once (each under the row-group caps); the caller blocks on the oldest before
//! starting another.

use std::collections::VecDeque;
use std::io::Write;
use std::thread::JoinHandle;

use anyhow::{anyhow, Context};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::file::writer::SerializedFileWriter;

/// Row groups encoded at once.
fn default_parallelism() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8)
}

type EncodedRowGroup = JoinHandle<anyhow::Result<Vec<ArrowColumnChunk>>>;

pub struct ParallelParquetWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    max_rows: usize,
    max_bytes: usize,
    /// Batches of the row group being gathered, with their rows and in-memory bytes.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    pending_bytes: usize,
    /// Row groups handed to encoding threads, oldest first.
    in_flight: VecDeque<EncodedRowGroup>,
    max_in_flight: usize,
    row_groups_started: usize,
}

impl<W: Write + Send> ParallelParquetWriter<W> {
    /// A writer of `schema` onto `out` with `properties`; row groups end at `max_rows` rows or
    /// about `max_bytes` bytes of input, whichever comes first.
    pub fn try_new(out: W, schema: SchemaRef, properties: WriterProperties, max_rows: usize, max_bytes: usize) -> anyhow::Result<Self> {
        // `ArrowWriter` sets up the file as it would write it (the Arrow schema in the footer's
        // metadata, the Parquet schema); we take over its lower-level parts.
        let (file, factory) = ArrowWriter::try_new(out, schema.clone(), Some(properties))?.into_serialized_writer()?;
        Ok(ParallelParquetWriter {
            file,
            factory,
            schema,
            max_rows: max_rows.max(1),
            max_bytes: max_bytes.max(1),
            pending: Vec::new(),
            pending_rows: 0,
            pending_bytes: 0,
            in_flight: VecDeque::new(),
            max_in_flight: default_parallelism(),
            row_groups_started: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        let mut rest = batch.clone();
        while rest.num_rows() > 0 {
            let row_bytes = in_memory_bytes(&rest).div_ceil(rest.num_rows()).max(1);
            let rows_left = self.max_rows - self.pending_rows;
            let bytes_left = self.max_bytes.saturating_sub(self.pending_bytes);
            let fits = rows_left.min(bytes_left / row_bytes).min(rest.num_rows());
            if fits == 0 && !self.pending.is_empty() {
                self.start_row_group()?;
                continue;
            }
            // At least one row per group, however wide.
            let fits = fits.max(1);
            let head = rest.slice(0, fits);
            rest = rest.slice(fits, rest.num_rows() - fits);
            self.pending_rows += fits;
            self.pending_bytes += fits * row_bytes;
            self.pending.push(head);
            if self.pending_rows >= self.max_rows || self.pending_bytes >= self.max_bytes {
                self.start_row_group()?;
            }
        }
        Ok(())
    }

    /// Encode the pending batches as one row group on a thread of its own.
    fn start_row_group(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        while self.in_flight.len() >= self.max_in_flight {
            self.append_oldest()?;
        }
        let writers = self.factory.create_column_writers(self.row_groups_started)?;
        self.row_groups_started += 1;
        let batches = std::mem::take(&mut self.pending);
        self.pending_rows = 0;
        self.pending_bytes = 0;
        let schema = self.schema.clone();
        let handle = std::thread::Builder::new()
            .name("parquet-encode".into())
            .spawn(move || encode_row_group(&schema, writers, &batches))
            .context("cannot start a Parquet encoding thread")?;
        self.in_flight.push_back(handle);
        Ok(())
    }

    /// Wait for the oldest row group in flight and append it to the file.
    fn append_oldest(&mut self) -> anyhow::Result<()> {
        let Some(handle) = self.in_flight.pop_front() else { return Ok(()) };
        let chunks = handle.join().map_err(|_| anyhow!("a Parquet encoding thread panicked"))??;
        let mut row_group = self.file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        Ok(())
    }

    /// Encode what is pending, append every row group, write the footer; the output back.
    pub fn finish(mut self) -> anyhow::Result<W> {
        self.start_row_group()?;
        while !self.in_flight.is_empty() {
            self.append_oldest()?;
        }
        Ok(self.file.into_inner()?)
    }
}

fn encode_row_group(schema: &SchemaRef, mut writers: Vec<ArrowColumnWriter>, batches: &[RecordBatch]) -> anyhow::Result<Vec<ArrowColumnChunk>> {
    for batch in batches {
        let mut leaves_writers = writers.iter_mut();
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            for leaf in compute_leaves(field, column)? {
                let writer = leaves_writers.next().ok_or_else(|| anyhow!("more Parquet leaf columns than writers"))?;
                writer.write(&leaf)?;
            }
        }
    }
    Ok(writers.into_iter().map(ArrowColumnWriter::close).collect::<Result<_, _>>()?)
}

/// Bytes of the batch's own rows in memory (not of the whole buffers a slice points into).
fn in_memory_bytes(batch: &RecordBatch) -> usize {
    batch.columns().iter().map(|c| c.to_data().get_slice_memory_size().unwrap_or_else(|_| c.get_array_memory_size())).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use bytes::Bytes;
    use datafusion::arrow::array::{ArrayRef, FixedSizeListArray, Float32Array, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn write(batches: &[RecordBatch], max_rows: usize, max_bytes: usize) -> Bytes {
        let properties = WriterProperties::builder().build();
        let mut writer = ParallelParquetWriter::try_new(Vec::new(), batches[0].schema(), properties, max_rows, max_bytes).unwrap();
        // More row groups than threads, so some wait for others to be appended.
        writer.max_in_flight = 2;
        for batch in batches {
            writer.write(batch).unwrap();
        }
        Bytes::from(writer.finish().unwrap())
    }

    /// Rows per row group, and every row read back as one batch.
    fn read(file: Bytes) -> (Vec<i64>, RecordBatch) {
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let groups = builder.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
        let schema = builder.schema().clone();
        let batches: Vec<RecordBatch> = builder.build().unwrap().collect::<Result<_, _>>().unwrap();
        (groups, datafusion::arrow::compute::concat_batches(&schema, &batches).unwrap())
    }

    #[test]
    fn row_groups_come_back_in_order_at_the_row_cap() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        // Batches of 333 rows (not a divisor of the cap) of 0, 1, 2, ...
        let batches: Vec<RecordBatch> = (0..30)
            .map(|i| {
                let values: ArrayRef = Arc::new(Int64Array::from_iter_values(i * 333..(i + 1) * 333));
                RecordBatch::try_new(schema.clone(), vec![values]).unwrap()
            })
            .collect();
        let (groups, all) = read(write(&batches, 1000, usize::MAX));
        assert_eq!(groups, [vec![1000; 9], vec![990]].concat());
        let expected = datafusion::arrow::compute::concat_batches(&schema, &batches).unwrap();
        assert_eq!(all, expected);
    }

    #[test]
    fn wide_rows_end_row_groups_at_the_byte_cap() {
        // Rows of 64 float32 (256 bytes): 10 rows fit a 2,560-byte cap.
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::FixedSizeList(item.clone(), 64), false)]));
        let values = Float32Array::from_iter_values((0..64 * 45).map(|v| v as f32));
        let column: ArrayRef = Arc::new(FixedSizeListArray::new(item, 64, Arc::new(values), None));
        let whole = RecordBatch::try_new(schema, vec![column]).unwrap();
        // Slices of a larger buffer: the cap counts the rows, not the buffer behind them.
        let batches = [whole.slice(0, 7), whole.slice(7, 38)];
        let (groups, all) = read(write(&batches, 1000, 2560));
        assert_eq!(groups, vec![10, 10, 10, 10, 5]);
        assert_eq!(all, whole);
    }

    #[test]
    fn an_empty_input_is_a_file_without_row_groups() {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let empty = RecordBatch::new_empty(schema);
        let (groups, all) = read(write(&[empty], 10, usize::MAX));
        assert!(groups.is_empty());
        assert_eq!(all.num_rows(), 0);
    }
}
