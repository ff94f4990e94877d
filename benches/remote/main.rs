//! Remote scan throughput, side by side in one run on loopback (issue 10): an in-process
//! S3-protocol server (`s3s-fs`, the test suite's) holding one float32 `.npy`, read three ways:
//!
//! 1. `object_store` alone: the whole object in ranged `GET`s of 8 MiB, 4 in flight (what the
//!    scan fetches), bodies dropped; also one plain `GET` of the whole object;
//! 2. `SELECT sum(x) FROM s3://…/x.npy` through `datafusion-npy` (header by range, rows by range);
//! 3. `s3fs` + `np.load` in Python (what a Python user does today), if `python3` has both.
//!
//! Then the memory of a big remote convert: `npyq convert s3://…/big.npy out.parquet` run as a
//! child process with the server's `AWS_*` environment, its peak resident set (`VmHWM` of
//! `/proc/<pid>/status`, a high-water mark, polled until it exits) and the peak of its
//! anonymous resident memory (`RssAnon`, sampled: the heap, without the binary's own pages)
//! reported beside the object's size (issue 10: under 256 MiB of heap for a 4 GiB `.npy`).
//!
//! Run (release!): `cargo build --release --bin npyq && cargo bench --bench remote` —
//! `REMOTE_BENCH_MIB=1024` (default) sets the scanned object's size, `REMOTE_BENCH_RUNS=3` the
//! runs per reader (the best is kept), `REMOTE_CONVERT_MIB=4096` (default) the converted
//! object's size, `NPYQ_BIN` the `npyq` to run (default `target/release/npyq`). A size of 0
//! skips that case. The data is generated and uploaded through the S3 API in parts, never whole
//! in memory; the server's copy and the Parquet output live in temporary directories (about
//! twice the converted size on disk). A quick check in debug:
//! `REMOTE_BENCH_MIB=0 REMOTE_CONVERT_MIB=64 NPYQ_BIN=target/debug/npyq cargo test --bench remote`.

#[path = "../../tests/integration/remote/server.rs"]
mod server;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use futures::StreamExt;
use server::{S3Server, ACCESS_KEY, BUCKET, SECRET_KEY};

const MIB: u64 = 1 << 20;

fn main() {
    let mib: u64 = env_number("REMOTE_BENCH_MIB", 1024);
    let runs = env_number("REMOTE_BENCH_RUNS", 3) as usize;
    let convert_mib = env_number("REMOTE_CONVERT_MIB", 4096);
    let server = S3Server::start();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    if mib > 0 {
        scan_throughput(&server, &runtime, mib, runs);
    }
    if convert_mib > 0 {
        convert_memory(&server, &runtime, convert_mib);
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `npyq convert s3://…/big.npy out.parquet` as a child process: its peak resident set.
fn convert_memory(server: &S3Server, runtime: &tokio::runtime::Runtime, mib: u64) {
    let npyq = std::env::var("NPYQ_BIN").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/npyq").to_string());
    if !std::path::Path::new(&npyq).exists() {
        println!("convert memory: skipped ({npyq} not found: `cargo build --release --bin npyq`, or set NPYQ_BIN)");
        return;
    }
    let location = Path::from("bench/big.npy");
    let size = runtime.block_on(upload(&uploader(server), &location, mib));
    let out = tempfile::tempdir().unwrap();
    let parquet = out.path().join("big.parquet");
    let started = Instant::now();
    let mut child = std::process::Command::new(&npyq)
        .args(["convert", &format!("s3://{BUCKET}/{location}"), parquet.to_str().unwrap()])
        .envs(server.env())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{npyq}: {e}"));
    let (mut peak_kib, mut peak_anon_kib) = (0u64, 0u64);
    let status = loop {
        // VmHWM is the process's own high-water mark: a sample misses only growth after it.
        // RssAnon (heap and other anonymous memory, without the binary's mapped pages) is the
        // current value: its peak is sampled, every 20 ms.
        if let Some(kib) = status_kib(child.id(), "VmHWM:") {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(kib) = status_kib(child.id(), "RssAnon:") {
            peak_anon_kib = peak_anon_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "npyq convert failed: {stderr}");
    let written = std::fs::metadata(&parquet).map(|m| m.len()).unwrap_or(0);
    println!(
        "npyq convert s3://…/big.npy ({size} bytes) → Parquet ({written} bytes): {:.1} s, peak RSS {:.1} MiB, \
         peak anonymous RSS (sampled) {:.1} MiB ({npyq})",
        elapsed.as_secs_f64(),
        peak_kib as f64 / 1024.0,
        peak_anon_kib as f64 / 1024.0
    );
    runtime.block_on(server.store().delete(&location)).unwrap();
}

/// The `field` (`VmHWM:`, `RssAnon:`; in KiB) of `/proc/<pid>/status`, while `pid` runs (Linux).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The scan of a `mib` MiB remote `.npy`, three ways (module docs).
fn scan_throughput(server: &S3Server, runtime: &tokio::runtime::Runtime, mib: u64, runs: usize) {
    let store = server.store();
    let location = Path::from("bench/x.npy");
    let size = runtime.block_on(upload(&uploader(server), &location, mib));
    println!("object: s3://{BUCKET}/{location}, {size} bytes ({mib} MiB of float32), best of {runs} runs, loopback");
    let report = |name: &str, best: Duration, bytes: u64| {
        println!("{name:<44} {:>8.3} s {:>9.1} MiB/s", best.as_secs_f64(), bytes as f64 / MIB as f64 / best.as_secs_f64());
    };

    let ranged = best_of(runs, || runtime.block_on(ranged_gets(&store, &location, size)));
    report("object_store get_range 8 MiB x 4 in flight", ranged, size);
    let whole = best_of(runs, || runtime.block_on(one_get(&store, &location)));
    report("object_store one GET (streamed)", whole, size);

    let ctx = server.session();
    let url = format!("s3://{BUCKET}/{location}");
    runtime.block_on(ctx.sql(&format!("CREATE EXTERNAL TABLE x STORED AS NPY LOCATION '{url}'"))).unwrap();
    let scan = best_of(runs, || {
        runtime.block_on(async {
            let batches = ctx.sql("SELECT sum(x) FROM x").await.unwrap().collect().await.unwrap();
            std::hint::black_box(batches);
        })
    });
    report("datafusion-npy SELECT sum(x) (full scan)", scan, size);
    println!("scan / ranged GETs: {:.0}%", ranged.as_secs_f64() / scan.as_secs_f64() * 100.0);

    let python = format!(
        "import sys, time, numpy as np, s3fs\n\
         fs = s3fs.S3FileSystem(key='{ACCESS_KEY}', secret='{SECRET_KEY}', client_kwargs={{'endpoint_url': '{}', 'region_name': 'us-east-1'}})\n\
         best = 1e9\n\
         for _ in range({runs}):\n\
         \x20   t = time.perf_counter()\n\
         \x20   with fs.open('{BUCKET}/{location}', 'rb') as f: a = np.load(f)\n\
         \x20   s = float(a.sum(dtype=np.float64)); best = min(best, time.perf_counter() - t)\n\
         print(best)\n",
        server.endpoint()
    );
    match std::process::Command::new("python3").args(["-c", &python]).output() {
        Ok(out) if out.status.success() => {
            let best: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(f64::NAN);
            report("s3fs + np.load + sum (Python)", Duration::from_secs_f64(best), size);
            println!("scan speed-up over s3fs + np.load: {:.1}x", best / scan.as_secs_f64());
        }
        Ok(out) => println!("s3fs + np.load: skipped ({})", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("python failed")),
        Err(e) => println!("s3fs + np.load: skipped (python3: {e})"),
    }
}

fn best_of(runs: usize, mut run: impl FnMut()) -> Duration {
    (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .min()
        .unwrap()
}

/// A client of the server for uploads: completing a multipart upload of GiBs takes the
/// server longer than a request's default 30 s (it joins the parts and hashes them).
fn uploader(server: &S3Server) -> Arc<dyn ObjectStore> {
    let options = object_store::ClientOptions::new().with_timeout(Duration::from_secs(600)).with_allow_http(true);
    Arc::new(
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(BUCKET)
            .with_endpoint(server.endpoint())
            .with_region("us-east-1")
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .with_client_options(options)
            .build()
            .unwrap(),
    )
}

/// A 1-D float32 `.npy` of `mib` MiB, uploaded in parts (never whole in memory).
async fn upload(store: &Arc<dyn ObjectStore>, location: &Path, mib: u64) -> u64 {
    let values = mib * MIB / 4;
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({values},), }}");
    let mut header = dict.into_bytes();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut first = b"\x93NUMPY\x01\x00".to_vec();
    first.extend_from_slice(&(header.len() as u16).to_le_bytes());
    first.extend_from_slice(&header);
    let upload = store.put_multipart(location).await.unwrap();
    let mut writer = WriteMultipart::new_with_chunk_size(upload, 16 * MIB as usize);
    writer.write(&first);
    let mut chunk = Vec::with_capacity(MIB as usize);
    let mut next = 0u64;
    while next < values {
        chunk.clear();
        for v in next..(next + MIB / 4).min(values) {
            chunk.write_all(&((v % 1000) as f32).to_le_bytes()).unwrap();
        }
        next += MIB / 4;
        writer.wait_for_capacity(4).await.unwrap();
        writer.write(&chunk);
    }
    writer.finish().await.unwrap();
    first.len() as u64 + values * 4
}

async fn ranged_gets(store: &Arc<dyn ObjectStore>, location: &Path, size: u64) {
    let chunk = 8 * MIB;
    let ranges: Vec<_> = (0..size.div_ceil(chunk)).map(|i| i * chunk..((i + 1) * chunk).min(size)).collect();
    let mut fetched = futures::stream::iter(ranges).map(|r| store.get_range(location, r)).buffered(4);
    let mut total = 0;
    while let Some(bytes) = fetched.next().await {
        total += bytes.unwrap().len() as u64;
    }
    assert_eq!(total, size);
}

async fn one_get(store: &Arc<dyn ObjectStore>, location: &Path) {
    let mut body = store.get(location).await.unwrap().into_stream();
    while let Some(bytes) = body.next().await {
        std::hint::black_box(bytes.unwrap());
    }
}
