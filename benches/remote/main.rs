//! Remote scan throughput, side by side in one run on loopback (issue 10): an in-process
//! S3-protocol server (`s3s-fs`, the test suite's) holding one float32 `.npy`, read three ways:
//!
//! 1. `object_store` alone: the whole object in ranged `GET`s of 8 MiB, 4 in flight (what the
//!    scan fetches), bodies dropped; also one plain `GET` of the whole object;
//! 2. `SELECT sum(x) FROM s3://…/x.npy` through `datafusion-npy` (header by range, rows by range);
//! 3. `s3fs` + `np.load` in Python (what a Python user does today), if `python3` has both.
//!
//! Run (release!): `cargo bench --bench remote` — `REMOTE_BENCH_MIB=1024` (default) sets the
//! object size, `REMOTE_BENCH_RUNS=3` the runs per reader (the best is kept). The data is
//! generated in a temporary directory and uploaded through the S3 API.

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
    let mib: u64 = std::env::var("REMOTE_BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let runs: usize = std::env::var("REMOTE_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let server = S3Server::start();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let store = server.store();
    let location = Path::from("bench/x.npy");
    let size = runtime.block_on(upload(&store, &location, mib));
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
