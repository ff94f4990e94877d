//! Reading a `.npy`/`.npz` held in memory through every column path the reader has, with the
//! reading options taken from the input's first bytes.

use arrow_array::{Array, RecordBatch};
use arrow_buffer::Buffer;
use arrow_npy::{NpyTable, OpenOptions};

/// Bytes of reading options in front of the file's bytes (the seed script prepends zeros).
pub const CONFIG_LEN: usize = 8;

/// Batches read from one reader at most.
const MAX_BATCHES: usize = 4096;

/// Read `data` (options, then the file) as the file `name` (its extension picks the format).
pub fn read_all(name: &str, data: &[u8]) -> Option<()> {
    let (config, file) = data.split_at_checked(CONFIG_LEN)?;
    let &[shift, batch, projection, mask, start, len, sizes, extra] = config else { return None };
    // The data start at any alignment: aligned input takes the zero-copy paths, misaligned
    // input the copying ones.
    let shift = usize::from(shift % 8);
    let mut bytes = vec![0u8; shift];
    bytes.extend_from_slice(file);
    let buffer = Buffer::from_vec(bytes).slice(shift);
    let mut options = OpenOptions::default();
    if extra & 1 != 0 {
        // A small header cap, to exercise the refusal paths as well.
        options = options.with_max_header_len(u64::from(len) * 16);
    }
    let table = NpyTable::from_bytes(name, buffer, &options).ok()?;
    let _ = table.arrays();
    let num_rows = table.num_rows();
    let num_columns = table.schema().fields().len();

    // The whole table, default options.
    let _ = drain(table.reader().build().ok()?, num_rows, num_columns);

    // The options from the config bytes.
    let projection: Vec<usize> = match projection % 4 {
        0 => (0..num_columns).collect(),
        1 => (0..num_columns).filter(|i| mask & (1 << (i % 8)) != 0).collect(),
        2 => (0..num_columns).rev().collect(),
        // Repeated and out-of-range indices.
        _ => (0..usize::from(mask % 5)).map(|i| (i * 7 + usize::from(mask)) % (num_columns + 1)).collect(),
    };
    let first = u64::from(start) * u64::from(1 + (extra >> 4));
    let range = first..first.saturating_add(u64::from(len) * u64::from(1 + (extra >> 6)));
    let mut builder = table
        .reader()
        .with_projection(projection.clone())
        .with_row_range(range.clone())
        .with_batch_size(usize::from(batch))
        .with_batch_bytes(1 + usize::from(sizes) * 64);
    if extra & 2 != 0 {
        builder = builder.with_zero_copy_batch_bytes(usize::from(sizes) * 4096);
    }
    if extra & 4 != 0 {
        builder = builder.with_row_number("_row", i64::from(start) - 128);
    }
    if extra & 8 != 0 {
        // Deflated members streamed (the default read above inflates them whole).
        builder = builder.with_inflate_in_memory_bytes(0);
    }
    let Ok(reader) = builder.build() else {
        assert!(projection.iter().any(|&i| i >= num_columns), "a valid projection refused: {projection:?}");
        return None;
    };
    let expected_rows = range.end.min(num_rows).saturating_sub(range.start.min(num_rows));
    drain(reader, expected_rows, projection.len() + usize::from(extra & 4 != 0));
    Some(())
}

/// Read every batch: valid Arrow data, as many rows as the range holds (unless an error
/// stops it), and one-line errors.
fn drain(reader: impl Iterator<Item = Result<RecordBatch, arrow_schema::ArrowError>>, expected_rows: u64, columns: usize) {
    let mut rows = 0u64;
    for (n, batch) in reader.enumerate() {
        // Rows of zero bytes (shape (10**18, 0), dtype V0, ...) are not bounded by the file's
        // size: reading them all is the caller's choice (the reader is lazy), not the fuzzer's.
        if n == MAX_BATCHES {
            return;
        }
        match batch {
            Ok(batch) => {
                assert_eq!(batch.num_columns(), columns);
                for column in batch.columns() {
                    column.to_data().validate_full().unwrap_or_else(|e| panic!("invalid array read: {e}"));
                    assert_eq!(column.len(), batch.num_rows());
                }
                assert!(batch.num_rows() > 0, "an empty batch");
                rows += batch.num_rows() as u64;
            }
            Err(e) => {
                let message = e.to_string();
                assert!(!message.contains('\n'), "multi-line error: {message}");
                return;
            }
        }
    }
    assert_eq!(rows, expected_rows, "rows read");
}
