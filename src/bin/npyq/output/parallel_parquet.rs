//! Parquet encoded on several threads, one row group per thread, written in order.
//!
//! `ArrowWriter` encodes every value on the thread that calls `write`, and encoding (statistics,
//! plain or dictionary encoding, compression) is most of the cost of writing Parquet. Here the
//! calling thread only gathers batches into row groups (bounded by rows and by bytes, as
//! `ArrowWriter` bounds them); each complete row group is handed to a thread of its own, which
//! encodes it into column chunks with parquet's own [`ArrowColumnWriter`]s, while the caller
//! gathers the next one. Encoded row groups are appended to the file in the order they were
//! gathered, so the file is the one `ArrowWriter` would write with the same row-group
//! boundaries (the same schema, Arrow schema metadata, statistics and page indexes).
//!
//! Memory stays bounded: at most [`ENCODING_AT_ONCE`] row groups are being encoded (each holding
//! its input batches and its encoded pages) while one more is gathered; gathering a further one
//! first waits for the oldest to be written.

use std::collections::VecDeque;
use std::io::Write;
use std::mem;
use std::thread::{self, JoinHandle};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_writer::{
    compute_leaves, ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, ArrowWriterOptions,
};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::errors::{ParquetError, Result};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::file::writer::SerializedFileWriter;

/// Row groups encoded at once, each on its own thread. Two keeps two cores busy while the
/// calling thread reads the input and writes finished row groups out.
pub const ENCODING_AT_ONCE: usize = 2;

/// Where a row group ends: at `rows` rows or at about `bytes` bytes of Arrow data, whichever
/// comes first (the bytes are measured before encoding, so a row group's encoded size may be
/// smaller, never much larger for fixed-width columns).
#[derive(Debug, Clone, Copy)]
pub struct RowGroupLimits {
    pub rows: usize,
    pub bytes: usize,
}

/// A Parquet writer that encodes row groups in parallel. Call [`Self::finish`] to write the
/// last row groups and the footer.
pub struct ParallelParquetWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    column_writers: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    limits: RowGroupLimits,
    gathering: Gathering,
    /// Row groups being encoded, oldest first.
    encoding: VecDeque<JoinHandle<Result<Vec<ArrowColumnChunk>>>>,
    row_groups_started: usize,
}

/// The batches of the row group being gathered.
#[derive(Default)]
struct Gathering {
    batches: Vec<RecordBatch>,
    rows: usize,
    bytes: usize,
}

impl<W: Write + Send> ParallelParquetWriter<W> {
    pub fn try_new(
        writer: W,
        schema: SchemaRef,
        properties: WriterProperties,
        limits: RowGroupLimits,
    ) -> Result<Self> {
        // `ArrowWriter` sets up what the file needs (Parquet schema, embedded Arrow schema);
        // its lower half is then driven directly.
        let options = ArrowWriterOptions::new().with_properties(properties);
        let (file, column_writers) =
            ArrowWriter::try_new_with_options(writer, schema.clone(), options)?.into_serialized_writer()?;
        let limits = RowGroupLimits { rows: limits.rows.max(1), bytes: limits.bytes.max(1) };
        Ok(ParallelParquetWriter {
            file,
            column_writers,
            schema,
            limits,
            gathering: Gathering::default(),
            encoding: VecDeque::new(),
            row_groups_started: 0,
        })
    }

    /// Add a batch's rows, splitting it where row groups end.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let same_types = batch.num_columns() == self.schema.fields().len()
            && batch.columns().iter().zip(self.schema.fields()).all(|(c, f)| c.data_type() == f.data_type());
        if !same_types {
            return Err(ParquetError::General(format!(
                "a batch's columns ({}) differ from the file's ({})",
                batch.schema(),
                self.schema
            )));
        }
        let mut rest = batch.clone();
        while rest.num_rows() > 0 {
            let bytes = arrow_bytes(&rest)?;
            let mut rows = self.rows_that_fit(rest.num_rows(), bytes);
            if rows == 0 {
                if !self.gathering.batches.is_empty() {
                    self.start_encoding()?;
                    continue;
                }
                rows = 1; // a single row larger than the byte limit still needs a row group
            }
            let head = rest.slice(0, rows);
            rest = rest.slice(rows, rest.num_rows() - rows);
            let head_bytes = if rest.num_rows() == 0 { bytes } else { arrow_bytes(&head)? };
            self.gathering.rows += rows;
            self.gathering.bytes += head_bytes;
            self.gathering.batches.push(head);
            if self.gathering.rows >= self.limits.rows || self.gathering.bytes >= self.limits.bytes {
                self.start_encoding()?;
            }
        }
        Ok(())
    }

    /// How many of a batch's `rows` (`bytes` in all) fit the row group being gathered, by
    /// rows and, assuming the batch's rows are of about equal size, by bytes.
    fn rows_that_fit(&self, rows: usize, bytes: usize) -> usize {
        let by_rows = self.limits.rows.saturating_sub(self.gathering.rows);
        let room = self.limits.bytes.saturating_sub(self.gathering.bytes);
        let by_bytes = match bytes {
            0 => rows,
            _ => usize::try_from(room as u128 * rows as u128 / bytes as u128).unwrap_or(usize::MAX),
        };
        rows.min(by_rows).min(by_bytes)
    }

    /// Hand the gathered row group to an encoding thread, first writing out the oldest row
    /// group when as many as allowed are being encoded.
    fn start_encoding(&mut self) -> Result<()> {
        let batches = mem::take(&mut self.gathering).batches;
        if batches.is_empty() {
            return Ok(());
        }
        if self.encoding.len() >= ENCODING_AT_ONCE {
            self.write_oldest()?;
        }
        let writers = self.column_writers.create_column_writers(self.row_groups_started)?;
        self.row_groups_started += 1;
        let schema = self.schema.clone();
        let encoder = thread::Builder::new()
            .name("parquet-encode".to_string())
            .spawn(move || encode_row_group(&schema, writers, &batches))
            .map_err(|e| ParquetError::External(Box::new(e)))?;
        self.encoding.push_back(encoder);
        Ok(())
    }

    /// Wait for the oldest row group being encoded and append it to the file.
    fn write_oldest(&mut self) -> Result<()> {
        let Some(encoder) = self.encoding.pop_front() else {
            return Ok(());
        };
        let chunks = encoder
            .join()
            .map_err(|_| ParquetError::General("a Parquet encoding thread panicked".to_string()))??;
        let mut row_group = self.file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        Ok(())
    }

    /// Encode and write what remains, then the footer; return the underlying writer.
    pub fn finish(mut self) -> Result<W> {
        self.start_encoding()?;
        while !self.encoding.is_empty() {
            self.write_oldest()?;
        }
        self.file.into_inner()
    }
}

/// Encode one row group's batches into its column chunks (one per leaf column, in order).
fn encode_row_group(
    schema: &SchemaRef,
    mut writers: Vec<ArrowColumnWriter>,
    batches: &[RecordBatch],
) -> Result<Vec<ArrowColumnChunk>> {
    for batch in batches {
        let mut leaf_writers = writers.iter_mut();
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            for leaf in compute_leaves(field, column)? {
                let writer = leaf_writers.next().ok_or_else(|| {
                    ParquetError::General("more leaf columns than column writers".to_string())
                })?;
                writer.write(&leaf)?;
            }
        }
    }
    writers.into_iter().map(ArrowColumnWriter::close).collect()
}

/// The bytes of Arrow data a batch's rows occupy (of its slice only, not of whole buffers
/// it shares with other batches or with a memory map).
fn arrow_bytes(batch: &RecordBatch) -> Result<usize> {
    let mut total = 0usize;
    for column in batch.columns() {
        total = total.saturating_add(column.to_data().get_slice_memory_size()?);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Float32Array, Int64Array, ListArray, StringArray};
    use datafusion::arrow::compute::concat_batches;
    use datafusion::arrow::datatypes::{DataType, Field, Float32Type, Schema};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use datafusion::parquet::file::properties::WriterProperties;

    use super::*;

    fn batch(start: usize, rows: usize) -> RecordBatch {
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values((start..start + rows).map(|i| i as i64)));
        let values: ArrayRef =
            Arc::new(Float32Array::from_iter_values((start..start + rows).map(|i| i as f32 * 0.5)));
        let names: ArrayRef = Arc::new(StringArray::from_iter((start..start + rows).map(|i| {
            if i % 7 == 0 {
                None
            } else {
                Some(format!("n{i}"))
            }
        })));
        let lists: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(
            (start..start + rows).map(|i| Some((0..i % 4).map(|k| Some(k as f32)))),
        ));
        RecordBatch::try_new(schema(), vec![ids, values, names, lists]).unwrap()
    }

    fn schema() -> SchemaRef {
        let item = Arc::new(Field::new("item", DataType::Float32, true));
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("x", DataType::Float32, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("list", DataType::List(item), true),
        ]))
    }

    /// Write `batches` with `limits`; return the file.
    fn write(batches: &[RecordBatch], limits: RowGroupLimits) -> Vec<u8> {
        let mut writer =
            ParallelParquetWriter::try_new(Vec::new(), schema(), WriterProperties::default(), limits)
                .unwrap();
        for batch in batches {
            writer.write(batch).unwrap();
        }
        writer.finish().unwrap()
    }

    fn read(file: Vec<u8>) -> (RecordBatch, Vec<i64>) {
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(file)).unwrap();
        let row_groups = builder.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
        let reader = builder.build().unwrap();
        let batches: Vec<RecordBatch> = reader.collect::<std::result::Result<_, _>>().unwrap();
        (concat_batches(&schema(), &batches).unwrap(), row_groups)
    }

    #[test]
    fn row_groups_split_by_rows_keep_order() {
        let batches: Vec<RecordBatch> = [(0, 1000), (1000, 2500), (3500, 1), (3501, 4499)]
            .into_iter()
            .map(|(start, rows)| batch(start, rows))
            .collect();
        let (table, row_groups) = read(write(&batches, RowGroupLimits { rows: 1000, bytes: usize::MAX }));
        assert_eq!(row_groups, vec![1000; 8]);
        assert_eq!(table, batch(0, 8000));
    }

    #[test]
    fn row_groups_split_by_bytes() {
        // id and x are 12 bytes a row; strings and lists add more: 3000 rows are well over 20 kB.
        let batches = vec![batch(0, 3000)];
        let (table, row_groups) = read(write(&batches, RowGroupLimits { rows: usize::MAX, bytes: 20_000 }));
        assert!(row_groups.len() > 1, "byte limit splits the rows: {row_groups:?}");
        assert_eq!(row_groups.iter().sum::<i64>(), 3000);
        assert_eq!(table, batch(0, 3000));
    }

    #[test]
    fn a_row_larger_than_the_byte_limit_gets_its_own_row_group() {
        let (table, row_groups) = read(write(&[batch(0, 5)], RowGroupLimits { rows: 100, bytes: 1 }));
        assert_eq!(row_groups, vec![1; 5]);
        assert_eq!(table, batch(0, 5));
    }

    #[test]
    fn empty_input_gives_a_file_without_row_groups() {
        let (table, row_groups) = read(write(&[], RowGroupLimits { rows: 10, bytes: 10 }));
        assert!(row_groups.is_empty());
        assert_eq!(table.num_rows(), 0);
    }

    #[test]
    fn same_file_as_arrow_writer() {
        let batches: Vec<RecordBatch> = (0..10).map(|i| batch(i * 700, 700)).collect();
        let properties = || WriterProperties::builder().set_max_row_group_row_count(Some(1500)).build();
        let mut expected = ArrowWriter::try_new(Vec::new(), schema(), Some(properties())).unwrap();
        for batch in &batches {
            expected.write(batch).unwrap();
        }
        let expected = expected.into_inner().unwrap();
        let limits = RowGroupLimits { rows: 1500, bytes: usize::MAX };
        let mut actual = ParallelParquetWriter::try_new(Vec::new(), schema(), properties(), limits).unwrap();
        for batch in &batches {
            actual.write(batch).unwrap();
        }
        assert!(actual.finish().unwrap() == expected, "byte for byte what ArrowWriter writes");
    }

    #[test]
    fn a_batch_of_other_columns_is_an_error() {
        let mut writer = ParallelParquetWriter::try_new(
            Vec::new(),
            schema(),
            WriterProperties::default(),
            RowGroupLimits { rows: 10, bytes: 10 },
        )
        .unwrap();
        let other =
            RecordBatch::try_from_iter([("y", Arc::new(Int64Array::from(vec![1])) as ArrayRef)]).unwrap();
        assert!(writer.write(&other).is_err());
    }
}
