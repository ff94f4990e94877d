//! Read throughput of the format layer: `NpyTable::open(path)?.reader().build()?`, pulled to
//! the end, over files written to a temporary directory at start-up (~64 MiB of array data
//! each, warm in the page cache). Throughput is the array's data bytes (the whole file's
//! data, also for a one-field projection), so the figures of one group compare directly.
//!
//! Each iteration opens the file anew (a fresh map, so page faults are paid every time, as in
//! a real scan). A zero-copy scan touches no data: `scan` then measures only the per-batch
//! overhead and `scan_sum` what it costs to actually read the values.
//!
//! Run: `cargo bench --bench read` (add a filter, e.g. `-- npz`, to run some).

mod data;

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::sum;
use datafusion::arrow::datatypes::{Float32Type, Float64Type};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion_npy::format::table::Storage;
use datafusion_npy::NpyTable;

use data::{
    bench_group, f32_bytes, f64_be_bytes, record_bytes, write_npy, write_npz, DATA_BYTES, MIB, RECORD_DESCR, RECORD_LEN,
};

const WIDTH: usize = 64;

/// The bench files, made once; the directory goes away with it.
struct Files {
    _dir: tempfile::TempDir,
    f32: PathBuf,
    f32x64: PathBuf,
    records: PathBuf,
    f8_big_endian: PathBuf,
    npz_stored: PathBuf,
    npz_deflated: PathBuf,
}

impl Files {
    fn create() -> Files {
        let dir = tempfile::Builder::new().prefix("npyq-bench").tempdir().expect("temp dir");
        let at = |name: &str| dir.path().join(name);
        let floats = f32_bytes(DATA_BYTES / 4, 1, false);
        let rows = DATA_BYTES / 4 / WIDTH;
        let files = Files {
            f32: at("f32.npy"),
            f32x64: at("f32x64.npy"),
            records: at("records.npy"),
            f8_big_endian: at("f8_big_endian.npy"),
            npz_stored: at("stored.npz"),
            npz_deflated: at("deflated.npz"),
            _dir: dir,
        };
        write_npy(&files.f32, "'<f4'", &[DATA_BYTES / 4], &floats);
        write_npy(&files.f32x64, "'<f4'", &[rows, WIDTH], &floats);
        let records = DATA_BYTES / RECORD_LEN;
        write_npy(&files.records, RECORD_DESCR, &[records], &record_bytes(records, 2));
        write_npy(&files.f8_big_endian, "'>f8'", &[DATA_BYTES / 8], &f64_be_bytes(DATA_BYTES / 8, 3));
        write_npz(&files.npz_stored, false, &[("features", "'<f4'", &[rows, WIDTH], &floats)]);
        let quantized = f32_bytes(DATA_BYTES / 4, 4, true);
        write_npz(&files.npz_deflated, true, &[("features", "'<f4'", &[rows, WIDTH], &quantized)]);
        files.check();
        files
    }

    /// The benches measure the paths they claim to: zero-copy where it should be, copied where
    /// it must be.
    fn check(&self) {
        let zero_copy = |path: &Path| NpyTable::open(path).expect("open").arrays()[0].columns.iter().all(|(_, z)| *z);
        assert!(zero_copy(&self.f32) && zero_copy(&self.f32x64), "aligned files should be zero-copy");
        assert!(!zero_copy(&self.records) && !zero_copy(&self.f8_big_endian), "records and >f8 are converted");
        let stored = &NpyTable::open(&self.npz_stored).expect("open stored").arrays()[0];
        assert_eq!(stored.storage, Storage::ZipStored);
        assert!(stored.data_offset % 4 != 0, "the stored member should be misaligned, as numpy leaves it");
        assert_eq!(NpyTable::open(&self.npz_deflated).expect("open deflated").arrays()[0].storage, Storage::ZipDeflated);
        let compressed = std::fs::metadata(&self.npz_deflated).expect("stat").len();
        eprintln!("deflated member: {} MiB of data in {:.1} MiB", DATA_BYTES / MIB, compressed as f64 / MIB as f64);
    }
}

/// Read every batch of the table at `path` (the given columns, or all), handing each to `use_batch`.
fn scan(path: &Path, projection: Option<Vec<usize>>, mut use_batch: impl FnMut(&RecordBatch)) -> usize {
    let table = NpyTable::open(path).expect("open");
    let mut builder = table.reader();
    if let Some(columns) = projection {
        builder = builder.with_projection(columns);
    }
    let mut rows = 0;
    for batch in builder.build().expect("build reader") {
        let batch = batch.expect("batch");
        use_batch(&batch);
        rows += batch.num_rows();
    }
    rows
}

/// Sum a Float32 column or the values of a FixedSizeList(Float32) column: touches every value.
fn sum_f32(batch: &RecordBatch) -> f32 {
    let column = batch.column(0);
    let values = match column.as_fixed_size_list_opt() {
        Some(list) => list.values().as_primitive::<Float32Type>().clone(),
        None => column.as_primitive::<Float32Type>().clone(),
    };
    sum(&values).unwrap_or(0.0)
}


fn benches(c: &mut Criterion) {
    let files = Files::create();

    let mut g = bench_group(c, "npy_f32_zero_copy");
    g.bench_function("scan", |b| b.iter(|| scan(&files.f32, None, |batch| { black_box(batch); })));
    g.bench_function("scan_sum", |b| b.iter(|| scan(&files.f32, None, |batch| { black_box(sum_f32(batch)); })));
    g.finish();

    let mut g = bench_group(c, "npy_f32x64_fixed_size_list");
    g.bench_function("scan", |b| b.iter(|| scan(&files.f32x64, None, |batch| { black_box(batch); })));
    g.bench_function("scan_sum", |b| b.iter(|| scan(&files.f32x64, None, |batch| { black_box(sum_f32(batch)); })));
    g.finish();

    let mut g = bench_group(c, "npy_record_4_fields");
    g.bench_function("project_one_field", |b| b.iter(|| scan(&files.records, Some(vec![1]), |batch| { black_box(batch); })));
    g.bench_function("all_fields", |b| b.iter(|| scan(&files.records, None, |batch| { black_box(batch); })));
    g.finish();

    let mut g = bench_group(c, "npy_f8_big_endian");
    g.bench_function("scan", |b| {
        b.iter(|| scan(&files.f8_big_endian, None, |batch| { black_box(batch.column(0).as_primitive::<Float64Type>().len()); }))
    });
    g.finish();

    let mut g = bench_group(c, "npz_stored_misaligned");
    g.bench_function("scan", |b| b.iter(|| scan(&files.npz_stored, None, |batch| { black_box(batch); })));
    g.finish();

    let mut g = bench_group(c, "npz_deflated");
    // The default: the member inflated whole, in one call, with libdeflate; batches slice it.
    g.bench_function("scan", |b| b.iter(|| scan(&files.npz_deflated, None, |batch| { black_box(batch); })));
    // The same member inflated as a stream, batch by batch (zlib-rs; members past the budget).
    g.bench_function("scan_streamed", |b| {
        b.iter(|| {
            let table = NpyTable::open(&files.npz_deflated).expect("open");
            let reader = table.reader().with_inflate_in_memory_bytes(0).build().expect("build reader");
            black_box(reader.map(|batch| batch.expect("batch").num_rows()).sum::<usize>())
        })
    });
    g.finish();
}

criterion_group!(read, benches);
criterion_main!(read);
