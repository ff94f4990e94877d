//! Test data for the read benches, written from Rust so the benches need nothing else: a
//! hand-made `.npy` header (the format is ten bytes and a padded dict) and `np.savez`-like
//! `.npz` archives made with the `zip` crate; and the criterion settings both bench binaries
//! share (`benches/sql` includes this file too).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};

pub const MIB: usize = 1 << 20;
/// Bytes of array data in each bench file.
pub const DATA_BYTES: usize = 64 * MIB;

/// A criterion group reporting [`DATA_BYTES`] per iteration as its throughput, with short
/// sample settings (each iteration reads tens of MiB).
pub fn bench_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(DATA_BYTES as u64));
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    group
}

/// `.npy` version 1.0 bytes of the header for `descr` and `shape`, padded (with spaces and a
/// final newline) so the data start at a multiple of 64, as numpy does.
pub fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut dict = format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}");
    let preamble = 6 + 2 + 2; // magic, version, u16 length
    while (preamble + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&u16::try_from(dict.len()).expect("bench header fits a u16").to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// A whole `.npy` file: header then `data`. `descr` is the Python literal, quotes included
/// (`'<f4'`, or a record list).
pub fn write_npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) {
    let mut file = BufWriter::new(File::create(path).expect("create .npy"));
    file.write_all(&npy_header(descr, shape)).expect("write header");
    file.write_all(data).expect("write data");
    file.flush().expect("flush");
}

/// An `.npz` with one member per `(name, descr, shape, data)`, stored (`np.savez`) or deflated
/// at zlib's default level (`np.savez_compressed`). zip64 extra fields forced, as numpy does.
pub fn write_npz(path: &Path, deflated: bool, members: &[(&str, &str, &[usize], &[u8])]) {
    let method = if deflated { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
    let options = zip::write::SimpleFileOptions::default().compression_method(method).large_file(true);
    let mut zip = zip::ZipWriter::new(BufWriter::new(File::create(path).expect("create .npz")));
    for (name, descr, shape, data) in members {
        zip.start_file(format!("{name}.npy"), options).expect("start member");
        zip.write_all(&npy_header(descr, shape)).expect("write member header");
        zip.write_all(data).expect("write member data");
    }
    zip.finish().expect("finish .npz").flush().expect("flush");
}

/// Deterministic pseudo-random numbers (xorshift64*), so runs compare.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [-1, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// `count` float32 values, little-endian bytes. `quantized`: whole numbers in -300..300 (their
/// low mantissa bytes are zero, so deflate shrinks them about as much as real quantized data),
/// otherwise full-precision values that barely compress.
pub fn f32_bytes(count: usize, seed: u64, quantized: bool) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(count * 4);
    for _ in 0..count {
        let x = rng.next_f64();
        let value = if quantized { (x * 300.0).round() as f32 } else { x as f32 };
        out.extend_from_slice(&value.to_le_bytes());
    }
    out
}

/// `count` float64 values as big-endian bytes (`>f8`).
pub fn f64_be_bytes(count: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(count * 8);
    for _ in 0..count {
        out.extend_from_slice(&rng.next_f64().to_be_bytes());
    }
    out
}

/// The record dtype of the record benches: 24 bytes, packed, as numpy lays it out.
pub const RECORD_DESCR: &str = "[('id', '<i8'), ('x', '<f4'), ('y', '<f8'), ('label', '<i4')]";
pub const RECORD_LEN: usize = 8 + 4 + 8 + 4;

/// `count` records of [`RECORD_DESCR`].
pub fn record_bytes(count: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(count * RECORD_LEN);
    for i in 0..count {
        out.extend_from_slice(&(i as i64).to_le_bytes());
        out.extend_from_slice(&(rng.next_f64() as f32).to_le_bytes());
        out.extend_from_slice(&rng.next_f64().to_le_bytes());
        out.extend_from_slice(&((rng.next_u64() % 10) as i32).to_le_bytes());
    }
    out
}
