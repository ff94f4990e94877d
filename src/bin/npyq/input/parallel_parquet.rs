//! Parquet decoded on several threads, one row group per thread, batches in file order.
//!
//! Decoding (decompression, dictionary lookups, assembling Arrow arrays) is most of the cost of
//! reading Parquet, and parquet's synchronous reader does it on the calling thread, one row
//! group after another. Here up to [`DECODING_AT_ONCE`] row groups are decoded at once, each on
//! its own thread with its own file handle; the caller takes the oldest row group's batches
//! first, so rows come out in file order.
//!
//! Memory stays bounded: a thread stops decoding while the batches it has queued but the caller
//! has not yet taken hold [`QUEUED_BYTES`] or more (a row group of the usual size fits whole,
//! so the next one is ready when the caller gets to it).

use std::collections::VecDeque;
use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};

use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};

/// Row groups decoded at once, each on its own thread.
pub const DECODING_AT_ONCE: usize = 2;

/// Bytes of decoded batches a row group's thread may queue before it waits for the caller.
pub const QUEUED_BYTES: usize = 64 << 20;

/// The batches of a Parquet file, decoded in parallel, in file order.
pub struct ParallelParquetReader {
    path: PathBuf,
    metadata: ArrowReaderMetadata,
    batch_rows: usize,
    next_row_group: usize,
    /// Row groups being decoded, oldest first.
    decoding: VecDeque<RowGroupDecoder>,
}

impl ParallelParquetReader {
    /// Read `path`, whose metadata (read from the same file) is `metadata`.
    pub fn new(path: PathBuf, metadata: ArrowReaderMetadata, batch_rows: usize) -> Self {
        ParallelParquetReader { path, metadata, batch_rows, next_row_group: 0, decoding: VecDeque::new() }
    }

    fn row_groups(&self) -> usize {
        self.metadata.metadata().num_row_groups()
    }

    /// Start decoding row groups until as many as allowed are being decoded.
    fn start_decoding(&mut self) -> Result<(), ArrowError> {
        while self.decoding.len() < DECODING_AT_ONCE && self.next_row_group < self.row_groups() {
            let row_group = self.next_row_group;
            self.next_row_group += 1;
            let file = File::open(&self.path)?;
            let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
                .with_row_groups(vec![row_group])
                .with_batch_size(self.batch_rows)
                .build()?;
            self.decoding.push_back(RowGroupDecoder::spawn(reader)?);
        }
        Ok(())
    }

    /// After an error there are no more batches: the threads are told to stop.
    fn stop(&mut self, error: ArrowError) -> ArrowError {
        self.next_row_group = self.row_groups();
        self.decoding.clear();
        error
    }
}

impl Iterator for ParallelParquetReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Err(e) = self.start_decoding() {
                return Some(Err(self.stop(e)));
            }
            let oldest = self.decoding.front_mut()?;
            match oldest.next_batch() {
                Some(Ok(batch)) => return Some(Ok(batch)),
                Some(Err(e)) => return Some(Err(self.stop(e))),
                None => {
                    let finished = self.decoding.pop_front()?;
                    if let Err(e) = finished.join() {
                        return Some(Err(self.stop(e)));
                    }
                }
            }
        }
    }
}

/// One row group being decoded on its own thread.
struct RowGroupDecoder {
    batches: Receiver<(Result<RecordBatch, ArrowError>, usize)>,
    queue: Arc<Queue>,
    thread: Option<JoinHandle<()>>,
}

impl RowGroupDecoder {
    fn spawn(reader: ParquetRecordBatchReader) -> Result<Self, ArrowError> {
        let (sender, batches) = mpsc::channel();
        let queue = Arc::new(Queue::default());
        let thread_queue = queue.clone();
        let thread = thread::Builder::new()
            .name("parquet-decode".to_string())
            .spawn(move || decode(reader, &sender, &thread_queue))?;
        Ok(RowGroupDecoder { batches, queue, thread: Some(thread) })
    }

    /// The next batch; `None` when the row group is done.
    fn next_batch(&mut self) -> Option<Result<RecordBatch, ArrowError>> {
        let (batch, bytes) = self.batches.recv().ok()?;
        self.queue.release(bytes);
        Some(batch)
    }

    /// Wait for the thread; a panic becomes an error rather than silently missing rows.
    fn join(mut self) -> Result<(), ArrowError> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Err(_)) => Err(ArrowError::ParquetError("a Parquet decoding thread panicked".to_string())),
            _ => Ok(()),
        }
    }
}

impl Drop for RowGroupDecoder {
    /// A caller that stops early lets a waiting thread finish.
    fn drop(&mut self) {
        self.queue.close();
    }
}

/// Decode a row group's batches, queueing each once the queue has room.
fn decode(
    reader: ParquetRecordBatchReader,
    sender: &Sender<(Result<RecordBatch, ArrowError>, usize)>,
    queue: &Queue,
) {
    for batch in reader {
        let bytes = batch.as_ref().map_or(0, RecordBatch::get_array_memory_size);
        let failed = batch.is_err();
        if !queue.reserve(bytes) || sender.send((batch, bytes)).is_err() || failed {
            return;
        }
    }
}

/// The bytes of batches a thread has queued and the caller not yet taken.
#[derive(Default)]
struct Queue {
    state: Mutex<QueueState>,
    changed: Condvar,
}

#[derive(Default)]
struct QueueState {
    bytes: usize,
    /// The caller is gone: stop decoding.
    closed: bool,
}

impl Queue {
    /// Wait until `bytes` more fit (anything fits an empty queue); false once closed.
    fn reserve(&self, bytes: usize) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        while !state.closed && state.bytes > 0 && state.bytes.saturating_add(bytes) > QUEUED_BYTES {
            state = match self.changed.wait(state) {
                Ok(state) => state,
                Err(_) => return false,
            };
        }
        state.bytes = state.bytes.saturating_add(bytes);
        !state.closed
    }

    fn release(&self, bytes: usize) {
        if let Ok(mut state) = self.state.lock() {
            state.bytes = state.bytes.saturating_sub(bytes);
            self.changed.notify_all();
        }
    }

    fn close(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.closed = true;
            self.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
    use datafusion::arrow::compute::concat_batches;
    use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::properties::WriterProperties;

    use super::*;

    fn table(rows: usize) -> RecordBatch {
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows as i64));
        let names: ArrayRef =
            Arc::new(StringArray::from_iter((0..rows).map(|i| (i % 5 != 0).then(|| format!("r{i}")))));
        RecordBatch::try_from_iter([("id", ids), ("name", names)]).unwrap()
    }

    /// `rows` rows in row groups of `row_group_rows`, in a temporary file.
    fn parquet_file(rows: usize, row_group_rows: usize) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        let properties =
            WriterProperties::builder().set_max_row_group_row_count(Some(row_group_rows)).build();
        let batch = table(rows);
        let mut writer =
            ArrowWriter::try_new(file.reopen().unwrap(), batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        file
    }

    fn reader(path: &std::path::Path, batch_rows: usize) -> ParallelParquetReader {
        let metadata =
            ArrowReaderMetadata::load(&File::open(path).unwrap(), ArrowReaderOptions::default()).unwrap();
        ParallelParquetReader::new(path.to_path_buf(), metadata, batch_rows)
    }

    #[test]
    fn row_groups_come_back_in_order() {
        let file = parquet_file(10_000, 700);
        let batches: Vec<RecordBatch> = reader(file.path(), 256).collect::<Result<_, _>>().unwrap();
        assert!(batches.iter().all(|b| b.num_rows() <= 256));
        let all = concat_batches(&batches[0].schema(), &batches).unwrap();
        assert_eq!(all, table(10_000));
    }

    #[test]
    fn no_row_groups_no_batches() {
        let file = parquet_file(0, 10);
        assert_eq!(reader(file.path(), 100).count(), 0);
    }

    #[test]
    fn stopping_early_does_not_hang() {
        let file = parquet_file(50_000, 20_000);
        let mut batches = reader(file.path(), 10);
        assert_eq!(batches.next().unwrap().unwrap().num_rows(), 10);
        drop(batches);
    }

    #[test]
    fn damaged_data_is_an_error_and_ends_the_batches() {
        let file = parquet_file(10_000, 1000);
        // Garble the page header of row group 3's first column; the footer stays intact.
        let start = {
            let metadata = reader(file.path(), 500).metadata;
            usize::try_from(metadata.metadata().row_group(3).column(0).data_page_offset()).unwrap()
        };
        let mut bytes = std::fs::read(file.path()).unwrap();
        bytes[start..start + 64].iter_mut().for_each(|b| *b = 0xFF);
        std::fs::write(file.path(), &bytes).unwrap();
        let results: Vec<_> = reader(file.path(), 500).collect();
        assert!(results.last().is_some_and(Result::is_err), "the last item is the error");
        assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
        let rows_before: usize = results.iter().flatten().map(RecordBatch::num_rows).sum();
        assert_eq!(rows_before, 3000, "the three intact row groups come first");
    }
}
