//! A Parquet file writer that encodes row groups on several threads and writes them in order.
//!
//! `ArrowWriter` encodes every row group on the calling thread, so writing Parquet uses one
//! core while the other waits. Here each full row group is encoded (statistics, page encoding,
//! compression) on a thread of its own while the caller goes on reading the next batches; the
//! finished column chunks are appended to the file strictly in row-group order, so the file is
//! the one `ArrowWriter` would write with the same properties (same schema, metadata, encodings,
//! row-group boundaries by row count; the byte cap is applied from the input's in-memory size).
//!
//! Plain numeric columns (`Int32`, `Int64`, `Float32`, `Float64`, not nullable, not inside a
//! list) skip `ArrowColumnWriter`, which first lists the index of every value and gathers the
//! values through it (about a third of the time of writing a float32 column); they go to the
//! same Parquet column writer, with the same properties, as slices. The bytes written are the
//! same (a test compares them with `ArrowWriter`'s).
//!
//! Memory stays bounded: at most [`ParallelParquetWriter::max_in_flight`] row groups are being
//! encoded at once (each under the row-group caps); the caller blocks on the oldest before
//! starting another.

use std::collections::VecDeque;
use std::io::Write;
use std::thread::JoinHandle;

use anyhow::{anyhow, Context};
use bytes::Bytes;
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type, Int32Type, Int64Type, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::column::writer::{get_column_writer, ColumnCloseResult, ColumnWriter};
use datafusion::parquet::file::properties::{WriterProperties, WriterPropertiesPtr};
use datafusion::parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use datafusion::parquet::schema::types::ColumnDescPtr;

/// Row groups encoded at once.
fn default_parallelism() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8)
}

/// One encoded column chunk of a row group.
enum EncodedColumn {
    Arrow(ArrowColumnChunk),
    /// A plain numeric column written by the Parquet column writer directly: its bytes, and
    /// what closing the writer said of them (offsets from the start of the bytes).
    Plain(Bytes, ColumnCloseResult),
}

type EncodedRowGroup = JoinHandle<anyhow::Result<Vec<EncodedColumn>>>;

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
        let leaves = self.file.schema_descr().columns().to_vec();
        let properties = self.file.properties().clone();
        let handle = std::thread::Builder::new()
            .name("parquet-encode".into())
            .spawn(move || encode_row_group(&schema, &leaves, &properties, writers, &batches))
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
            match chunk {
                EncodedColumn::Arrow(chunk) => chunk.append_to_row_group(&mut row_group)?,
                EncodedColumn::Plain(bytes, close) => row_group.append_column(&bytes, close)?,
            }
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

fn encode_row_group(
    schema: &SchemaRef,
    leaves: &[ColumnDescPtr],
    properties: &WriterPropertiesPtr,
    writers: Vec<ArrowColumnWriter>,
    batches: &[RecordBatch],
) -> anyhow::Result<Vec<EncodedColumn>> {
    // Top-level fields map to leaves in order; a plain numeric field is exactly one leaf.
    let mut encoded = Vec::with_capacity(writers.len());
    let mut writers = writers.into_iter();
    let mut leaves = leaves.iter();
    for (index, field) in schema.fields().iter().enumerate() {
        let columns: Vec<&ArrayRef> = batches.iter().map(|b| b.column(index)).collect();
        let leaf_count = if is_plain_numeric(field.data_type()) { 1 } else { count_leaves(field)? };
        let field_leaves: Vec<&ColumnDescPtr> = leaves.by_ref().take(leaf_count).collect();
        let field_writers: Vec<ArrowColumnWriter> = writers.by_ref().take(leaf_count).collect();
        let plain = match field_leaves.as_slice() {
            [leaf] if is_plain_numeric(field.data_type()) && leaf.max_def_level() == 0 && leaf.max_rep_level() == 0 => {
                columns.iter().all(|c| c.null_count() == 0).then_some(*leaf)
            }
            _ => None,
        };
        match plain {
            Some(leaf) => {
                let (bytes, close) = write_plain(leaf, properties, &columns)?;
                encoded.push(EncodedColumn::Plain(bytes, close));
            }
            None => {
                let mut field_writers = field_writers;
                for column in &columns {
                    let mut writers = field_writers.iter_mut();
                    for leaf in compute_leaves(field, column)? {
                        writers.next().ok_or_else(|| anyhow!("more Parquet leaf columns than writers"))?.write(&leaf)?;
                    }
                }
                for writer in field_writers {
                    encoded.push(EncodedColumn::Arrow(writer.close()?));
                }
            }
        }
    }
    Ok(encoded)
}

/// Arrow types stored as the Parquet physical type of the same width, without a conversion.
fn is_plain_numeric(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Int32 | DataType::Int64 | DataType::Float32 | DataType::Float64)
}

/// Parquet leaf columns of a field (a struct or list has several levels, one leaf per scalar).
fn count_leaves(field: &datafusion::arrow::datatypes::Field) -> anyhow::Result<usize> {
    let empty = datafusion::arrow::array::new_empty_array(field.data_type());
    Ok(compute_leaves(field, &empty)?.len())
}

/// A plain numeric column's values, batch by batch, through the Parquet column writer.
fn write_plain(leaf: &ColumnDescPtr, properties: &WriterPropertiesPtr, columns: &[&ArrayRef]) -> anyhow::Result<(Bytes, ColumnCloseResult)> {
    let mut out = TrackedWrite::new(Vec::new());
    let close = {
        let page_writer = Box::new(SerializedPageWriter::new(&mut out));
        let mut writer = get_column_writer(leaf.clone(), properties.clone(), page_writer);
        for column in columns {
            match (&mut writer, column.data_type()) {
                (ColumnWriter::Int32ColumnWriter(w), DataType::Int32) => w.write_batch(column.as_primitive::<Int32Type>().values(), None, None)?,
                (ColumnWriter::Int64ColumnWriter(w), DataType::Int64) => w.write_batch(column.as_primitive::<Int64Type>().values(), None, None)?,
                (ColumnWriter::FloatColumnWriter(w), DataType::Float32) => w.write_batch(column.as_primitive::<Float32Type>().values(), None, None)?,
                (ColumnWriter::DoubleColumnWriter(w), DataType::Float64) => w.write_batch(column.as_primitive::<Float64Type>().values(), None, None)?,
                (_, other) => return Err(anyhow!("Parquet column {} cannot take {other} values", leaf.path())),
            };
        }
        writer.close()?
    };
    Ok((Bytes::from(out.into_inner()?), close))
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
    fn the_file_is_byte_for_byte_what_arrow_writer_writes() {
        // Plain numeric columns (written past ArrowColumnWriter) beside a nullable one and a
        // list one (written through it), over several row groups, with statistics and snappy.
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        let schema = Arc::new(Schema::new(vec![
            Field::new("f", DataType::Float32, false),
            Field::new("i", DataType::Int64, false),
            Field::new("n", DataType::Float64, true),
            Field::new("v", DataType::FixedSizeList(item.clone(), 3), false),
            Field::new("d", DataType::Int32, false),
        ]));
        let rows = 2500;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Float32Array::from_iter_values((0..rows).map(|v| (v as f32 * 0.37).sin()))),
            Arc::new(Int64Array::from_iter_values((0..rows).map(|v| v * 7 - 900))),
            Arc::new(datafusion::arrow::array::Float64Array::from_iter((0..rows).map(|v| (v % 5 != 0).then_some(v as f64)))),
            Arc::new(FixedSizeListArray::new(item, 3, Arc::new(Float32Array::from_iter_values((0..rows * 3).map(|v| v as f32))), None)),
            // Few distinct values: dictionary encoded.
            Arc::new(datafusion::arrow::array::Int32Array::from_iter_values((0..rows).map(|v| (v % 3) as i32))),
        ];
        let whole = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let batches = [whole.slice(0, 700), whole.slice(700, 1300), whole.slice(2000, 500)];
        let properties = || {
            WriterProperties::builder()
                .set_compression(datafusion::parquet::basic::Compression::SNAPPY)
                .set_max_row_group_row_count(Some(1000))
                .set_column_dictionary_enabled("f".into(), false)
                .build()
        };
        let mut reference = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties())).unwrap();
        for batch in &batches {
            reference.write(batch).unwrap();
        }
        let reference = reference.into_inner().unwrap();
        let mut ours = ParallelParquetWriter::try_new(Vec::new(), schema, properties(), 1000, usize::MAX).unwrap();
        for batch in &batches {
            ours.write(batch).unwrap();
        }
        let ours = ours.finish().unwrap();
        assert_eq!(read(Bytes::from(ours.clone())).0, vec![1000, 1000, 500]);
        assert!(ours == reference, "the files differ ({} and {} bytes)", ours.len(), reference.len());
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
