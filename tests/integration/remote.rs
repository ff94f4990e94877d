//! Remote data (issue 10) against a real S3-protocol server: `s3s-fs` serving a temporary
//! directory over HTTP on 127.0.0.1, in-process (nothing to install), with every request and
//! every byte of response body it sends counted, so that "read by byte range" is measured.
//!
//! Objects are uploaded through the S3 API (as a user would), not copied into the directory:
//! `s3s-fs` then keeps their ETag instead of hashing the whole file on every ranged `GET`.

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::object_store::path::Path;
use datafusion::object_store::{ObjectStoreExt, PutPayload};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_npy::datasource::SessionContextNpyExt;

pub mod server;
mod proxy;
use server::{S3Server, BUCKET};

async fn query(ctx: &SessionContext, sql: &str) -> String {
    let batches: Vec<RecordBatch> = ctx.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")).collect().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    pretty_format_batches(&batches).unwrap().to_string()
}

/// Every example query over the remote copy answers as over the local one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_examples_answer_from_s3_as_from_disk() {
    let server = S3Server::start();
    let files = [
        ("sql-examples/data/embeddings.npy", "ex/embeddings.npy"),
        ("sql-examples/data/events.npy", "ex/events.npy"),
        ("sql-examples/data/ds.npz", "ex/ds.npz"),
        ("sql-examples/data/ds_compressed.npz", "ex/ds_compressed.npz"),
    ];
    server.upload(&files).await;
    let parts: Vec<(String, String)> =
        (1..=12).map(|i| (format!("sql-examples/data/readings/part-{i}.npy"), format!("ex/readings/part-{i}.npy"))).collect();
    server.upload(&parts.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect::<Vec<_>>()).await;
    let remote = server.session();
    let local = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
    local.register_npy_format().unwrap();
    for (table, location) in [
        ("embeddings", "ex/embeddings.npy"),
        ("events", "ex/events.npy"),
        ("ds", "ex/ds.npz"),
        ("ds_compressed", "ex/ds_compressed.npz"),
        ("readings", "ex/readings/"),
    ] {
        remote.sql(&format!("CREATE EXTERNAL TABLE {table} STORED AS NPY LOCATION 's3://{BUCKET}/{location}'")).await.unwrap();
        let path = format!("sql-examples/data/{}", location.trim_start_matches("ex/"));
        local.sql(&format!("CREATE EXTERNAL TABLE {table} STORED AS NPY LOCATION '{path}'")).await.unwrap();
    }
    let queries = [
        "SELECT count(*) FROM ds",
        "SELECT labels, count(*) AS n FROM ds GROUP BY labels ORDER BY labels",
        "SELECT round(avg(features[1]), 6) AS mean_f1, round(sum(features[16]), 4) AS sum_f16 FROM ds",
        "SELECT labels, count(*) AS n FROM ds_compressed GROUP BY labels ORDER BY labels",
        "SELECT count(*) AS n, round(sum(embeddings[8]), 4) AS sum_e8 FROM embeddings",
        "SELECT * FROM embeddings WHERE _row BETWEEN 100 AND 103",
        "SELECT * FROM events ORDER BY _row LIMIT 7",
        "SELECT count(*), min(_row), max(_row) FROM readings",
        "SELECT * FROM readings WHERE _row IN (0, 99, 100, 199)",
        "SELECT sum(_row) FROM events",
    ];
    for sql in queries {
        assert_eq!(query(&remote, sql).await, query(&local, sql).await, "{sql}");
    }
}

/// `npyq sql --dir s3://...` answers each example script as `--dir sql-examples/data` does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_examples_answer_from_s3_as_from_disk() {
    let server = S3Server::start();
    let mut uploads = Vec::new();
    collect_files(std::path::Path::new("sql-examples/data"), &mut uploads);
    let uploads: Vec<(String, String)> =
        uploads.into_iter().map(|p| (p.to_string_lossy().into_owned(), format!("ex/{}", p.strip_prefix("sql-examples/data").unwrap().to_string_lossy()))).collect();
    let pairs: Vec<(&str, &str)> = uploads.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    server.upload(&pairs).await;
    for script in REMOTE_SCRIPTS {
        let file = format!("sql-examples/{script}.sql");
        let local = crate::cli::npyq(["sql", "--dir", "sql-examples/data", "--file", &file]);
        let remote = std::process::Command::new(env!("CARGO_BIN_EXE_npyq"))
            .args(["sql", "--dir", &format!("s3://{BUCKET}/ex/"), "--file", &file])
            .envs(server.env())
            .output()
            .unwrap();
        assert!(local.status.success(), "{script} (local): {}", String::from_utf8_lossy(&local.stderr));
        assert!(remote.status.success(), "{script} (s3): {}", String::from_utf8_lossy(&remote.stderr));
        assert_eq!(String::from_utf8_lossy(&remote.stdout), String::from_utf8_lossy(&local.stdout), "{script}");
    }
}

/// `npyq convert s3://.../x.npy out.npy` writes back the very bytes numpy wrote (read by range).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_converts_a_remote_npy() {
    let server = S3Server::start();
    server.upload(&[("sql-examples/data/embeddings.npy", "in/embeddings.npy"), ("sql-examples/data/events.npy", "in/events.npy")]).await;
    let out = tempfile::tempdir().unwrap();
    for name in ["embeddings", "events"] {
        let target = out.path().join(format!("{name}.npy"));
        let converted = std::process::Command::new(env!("CARGO_BIN_EXE_npyq"))
            .args(["convert", &format!("s3://{BUCKET}/in/{name}.npy"), target.to_str().unwrap()])
            .envs(server.env())
            .output()
            .unwrap();
        assert!(converted.status.success(), "{name}: {}", String::from_utf8_lossy(&converted.stderr));
        let local = crate::cli::npyq(["convert", &format!("sql-examples/data/{name}.npy"), out.path().join(format!("{name}-local.npy")).to_str().unwrap()]);
        assert!(local.status.success());
        assert_eq!(std::fs::read(&target).unwrap(), std::fs::read(out.path().join(format!("{name}-local.npy"))).unwrap(), "{name}");
    }
    // And back up: a local file to a remote output, read back by range.
    let up = std::process::Command::new(env!("CARGO_BIN_EXE_npyq"))
        .args(["convert", "sql-examples/data/events.npy", &format!("s3://{BUCKET}/up/events.npy")])
        .envs(server.env())
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let uploaded = server.store().get(&Path::from("up/events.npy")).await.unwrap().bytes().await.unwrap();
    assert_eq!(uploaded.as_ref(), std::fs::read(out.path().join("events-local.npy")).unwrap().as_slice());
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_npyq"))
        .args(["convert", &format!("s3://{BUCKET}/in/nothing.npy"), out.path().join("x.parquet").to_str().unwrap()])
        .envs(server.env())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success() && stderr.contains("nothing.npy") && stderr.trim().lines().count() == 1, "{stderr}");
}

/// `COPY ... TO 's3://...'` writes `.npy`/`.npz` objects that read back equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_to_s3_round_trips() {
    let server = S3Server::start();
    let ctx = server.session();
    ctx.sql("CREATE EXTERNAL TABLE events STORED AS NPY LOCATION 'sql-examples/data/events.npy'").await.unwrap();
    ctx.sql("CREATE EXTERNAL TABLE ds STORED AS NPY LOCATION 'sql-examples/data/ds.npz'").await.unwrap();
    for (source, target) in [("events", "out/events.npy"), ("ds", "out/ds.npz")] {
        let copied = query(&ctx, &format!("COPY (SELECT * FROM {source}) TO 's3://{BUCKET}/{target}' STORED AS NPY")).await;
        assert!(copied.contains("count"), "{copied}");
        ctx.sql(&format!("CREATE EXTERNAL TABLE back_{source} STORED AS NPY LOCATION 's3://{BUCKET}/{target}'")).await.unwrap();
        let columns = if source == "ds" { "labels, features" } else { "*" };
        assert_eq!(
            query(&ctx, &format!("SELECT {columns} FROM back_{source} ORDER BY _row")).await,
            query(&ctx, &format!("SELECT {columns} FROM {source} ORDER BY _row")).await,
            "{source}"
        );
    }
}

/// `CREATE EXTERNAL TABLE ... OPTIONS ('aws.endpoint' ...)` configures the store itself, as
/// DataFusion's table options do: no store registered, no environment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_options_reach_the_store() {
    let server = S3Server::start();
    server.upload(&[("sql-examples/data/events.npy", "opt/events.npy")]).await;
    let ctx = SessionContext::new();
    ctx.register_npy_format().unwrap();
    let create = format!(
        "CREATE EXTERNAL TABLE events STORED AS NPY LOCATION 's3://{BUCKET}/opt/events.npy' OPTIONS ('aws.endpoint' '{}', \
         'aws.access_key_id' '{}', 'aws.secret_access_key' '{}', 'aws.region' 'us-east-1')",
        server.endpoint(),
        server::ACCESS_KEY,
        server::SECRET_KEY
    );
    ctx.sql(&create).await.unwrap();
    let local = SessionContext::new();
    local.register_npy_format().unwrap();
    local.sql("CREATE EXTERNAL TABLE events STORED AS NPY LOCATION 'sql-examples/data/events.npy'").await.unwrap();
    let sql = "SELECT count(*), max(_row) FROM events";
    assert_eq!(query(&ctx, sql).await, query(&local, sql).await);
}

/// No server at the endpoint: an error after object_store's bounded retries, not a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_an_error_not_a_hang() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let ctx = SessionContext::new();
    ctx.register_npy_format().unwrap();
    let create = format!(
        "CREATE EXTERNAL TABLE t STORED AS NPY LOCATION 's3://{BUCKET}/x.npy' OPTIONS ('aws.endpoint' 'http://{closed}', \
         'aws.access_key_id' 'k', 'aws.secret_access_key' 's', 'aws.region' 'us-east-1')"
    );
    let started = std::time::Instant::now();
    let e = tokio::time::timeout(std::time::Duration::from_secs(60), ctx.sql(&create)).await.expect("gave up within a minute").unwrap_err().to_string();
    assert!((e.contains(&closed.to_string()) || e.contains("x.npy")) && !e.contains('\n'), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(45), "{:?}", started.elapsed());
}

/// The example scripts (`join_members` reads the member schema `ds.labels`, `ds.features`).
const REMOTE_SCRIPTS: &[&str] = &["events", "features", "join_members", "nearest", "shards", "to_parquet"];

fn collect_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "npy" || e == "npz") {
            out.push(path);
        }
    }
}

/// The bytes fetched are measured: a header-only query fetches headers only, and `LIMIT 10`
/// of a large file fetches about 10 rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_fetched_are_what_the_query_needs() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    // 64 MiB of float32 rows of 256 values (1 KiB a row): big enough that a whole-file fetch
    // would show, small enough for a debug test.
    let rows: usize = 65_536;
    let big = dir.path().join("big.npy");
    write_f32_npy(&big, rows, 256);
    let shard_count = 50;
    let mut uploads = vec![(big.to_str().unwrap().to_string(), "big.npy".to_string())];
    for i in 0..shard_count {
        let path = dir.path().join(format!("s{i}.npy"));
        write_f32_npy(&path, 1000, 16);
        uploads.push((path.to_str().unwrap().to_string(), format!("shards/s{i}.npy")));
    }
    let uploads: Vec<(&str, &str)> = uploads.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    server.upload(&uploads).await;
    let ctx = server.session();
    ctx.sql(&format!("CREATE EXTERNAL TABLE big STORED AS NPY LOCATION 's3://{BUCKET}/big.npy'")).await.unwrap();
    ctx.sql(&format!("CREATE EXTERNAL TABLE shards STORED AS NPY LOCATION 's3://{BUCKET}/shards/'")).await.unwrap();

    server.counts.reset();
    let got = query(&ctx, "SELECT count(*) FROM shards").await;
    assert!(got.contains("50000"), "{got}");
    let (gets, bytes) = (server.counts.gets(), server.counts.body_bytes());
    assert!(bytes < 1024 * shard_count as u64, "count(*) over {shard_count} shards fetched {bytes} bytes in {gets} GETs");
    // Unchanged objects are not fetched again by the next query of the session.
    server.counts.reset();
    query(&ctx, "SELECT count(*) FROM shards").await;
    assert_eq!(server.counts.body_bytes(), 0, "a second count(*) fetched {} bytes", server.counts.body_bytes());

    server.counts.reset();
    let got = query(&ctx, "SELECT big[1] FROM big LIMIT 10").await;
    assert_eq!(got.lines().count(), 14, "{got}");
    let bytes = server.counts.body_bytes();
    assert!(bytes < 1 << 20, "LIMIT 10 over a 64 MiB object fetched {bytes} bytes");

    server.counts.reset();
    query(&ctx, "SELECT sum(big[256]) FROM big").await;
    let bytes = server.counts.body_bytes();
    let size = (rows * 1024 + 128) as u64;
    assert!(bytes >= size - 128 && bytes < size + size / 100, "a full scan of {size} bytes fetched {bytes}");
}

/// Bad remote input is an error naming the object, not a panic or a hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_remote_objects_are_one_line_errors() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.npy");
    write_f32_npy(&whole, 1000, 4);
    let bytes = std::fs::read(&whole).unwrap();
    let truncated = dir.path().join("cut.npy");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    server.upload(&[(whole.to_str().unwrap(), "whole.npy"), (truncated.to_str().unwrap(), "cut.npy")]).await;
    let ctx = server.session();

    let e = ctx.sql(&format!("CREATE EXTERNAL TABLE gone STORED AS NPY LOCATION 's3://{BUCKET}/missing.npy'")).await;
    let e = match e {
        Ok(_) => ctx.sql("SELECT * FROM gone").await.unwrap().collect().await.unwrap_err().to_string(),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("s3://data/missing.npy") && !e.contains('\n'), "{e}");

    let e = ctx.sql(&format!("CREATE EXTERNAL TABLE cut STORED AS NPY LOCATION 's3://{BUCKET}/cut.npy'")).await.unwrap_err().to_string();
    assert!(e.contains("s3://data/cut.npy") && !e.contains('\n'), "{e}");

    // Replaced between planning and reading: another ETag.
    ctx.sql(&format!("CREATE EXTERNAL TABLE whole STORED AS NPY LOCATION 's3://{BUCKET}/whole.npy'")).await.unwrap();
    let frame = ctx.sql("SELECT sum(whole[1]) FROM whole").await.unwrap();
    let plan = frame.create_physical_plan().await.unwrap();
    let mut changed = bytes.clone();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    server.store().put(&Path::from("whole.npy"), PutPayload::from(changed)).await.unwrap();
    let e = datafusion::physical_plan::collect(plan, ctx.task_ctx()).await.unwrap_err().to_string();
    assert!(e.contains("s3://data/whole.npy") && e.contains("changed") && !e.contains('\n'), "{e}");
}

/// A float32 `.npy` of `rows` × `cols` holding 0, 1, 2, … in C order.
fn write_f32_npy(path: &std::path::Path, rows: usize, cols: usize) {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    let mut header = dict.into_bytes();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(b' ');
    }
    header.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(&header);
    out.reserve(rows * cols * 4);
    for v in 0..rows * cols {
        out.extend_from_slice(&(v as f32).to_le_bytes());
    }
    std::fs::write(path, out).unwrap();
}

/// An `.npz` of `members` (name, `.npy` bytes) written as numpy writes one (zip64 local
/// headers), each member stored or deflated.
fn write_npz(path: &std::path::Path, members: &[(String, Vec<u8>)], method: zip::CompressionMethod) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in members {
        let options = zip::write::SimpleFileOptions::default().compression_method(method).large_file(true);
        zip.start_file(format!("{name}.npy"), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// A float32 `.npy` of `rows` × `cols` holding `seed`, `seed + 1`, … in C order, as bytes.
fn f32_npy_bytes(rows: usize, cols: usize, seed: usize) -> Vec<u8> {
    let file = tempfile::NamedTempFile::new().unwrap();
    write_f32_npy(file.path(), rows, cols);
    let mut bytes = std::fs::read(file.path()).unwrap();
    // Distinct values per member: shift the data (not the header) by `seed`.
    let data_start = bytes.len() - rows * cols * 4;
    for (i, chunk) in bytes[data_start..].chunks_exact_mut(4).enumerate() {
        chunk.copy_from_slice(&((i + seed) as f32).to_le_bytes());
    }
    bytes
}

/// Where a member's bytes (local header and data) and the zip directory (central directory
/// and end records) are in an archive: what a query on that member alone needs.
fn member_and_directory_bytes(path: &std::path::Path, member: &str) -> (u64, u64, u64) {
    let len = std::fs::metadata(path).unwrap().len();
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let directory = len - archive.central_directory_start();
    let file = archive.by_name(&format!("{member}.npy")).unwrap();
    let data = file.compressed_size();
    let local_header = file.data_start().unwrap() - file.header_start();
    (data, local_header, directory)
}

/// A query on one member of a 40-member stored `.npz` fetches that member's bytes plus the
/// zip directory (within 1%), and once the archive is known, only the member's rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_npz_member_fetches_that_member_and_the_directory() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let (rows, cols) = (32_768, 8); // 1 MiB a member
    let members: Vec<(String, Vec<u8>)> = (0..40).map(|i| (format!("m{i}"), f32_npy_bytes(rows, cols, i * 1000))).collect();
    let archive = dir.path().join("forty.npz");
    write_npz(&archive, &members, zip::CompressionMethod::Stored);
    server.upload(&[(archive.to_str().unwrap(), "npz/forty.npz")]).await;
    let ctx = server.session();
    let local = SessionContext::new();
    local.register_npy_format().unwrap();
    let (data, local_header, directory) = member_and_directory_bytes(&archive, "m17");

    // One member as the table: directory, its header and its data, nothing of the others.
    server.counts.reset();
    ctx.sql(&format!("CREATE EXTERNAL TABLE m17 STORED AS NPY LOCATION 's3://{BUCKET}/npz/forty.npz' OPTIONS ('member' 'm17')")).await.unwrap();
    let sql = "SELECT count(*) AS n, sum(m17[3]) AS s FROM m17";
    let got = query(&ctx, sql).await;
    let fetched = server.counts.body_bytes();
    let needed = data + local_header + directory;
    assert!(fetched >= data && fetched <= needed + needed / 100, "fetched {fetched} bytes for a member of {data} bytes and a directory of {directory} (needed {needed})");
    local.sql(&format!("CREATE EXTERNAL TABLE m17 STORED AS NPY LOCATION '{}' OPTIONS ('member' 'm17')", archive.display())).await.unwrap();
    assert_eq!(got, query(&local, sql).await);

    // The archive as a table: planning reads the 40 members' headers; a query on one column
    // then fetches that member's rows only, and so does the next one (nothing re-read).
    ctx.sql(&format!("CREATE EXTERNAL TABLE forty STORED AS NPY LOCATION 's3://{BUCKET}/npz/forty.npz'")).await.unwrap();
    local.sql(&format!("CREATE EXTERNAL TABLE forty STORED AS NPY LOCATION '{}'", archive.display())).await.unwrap();
    let (data5, _, _) = member_and_directory_bytes(&archive, "m5");
    let rows_bytes = data5 - 128;
    for sql in ["SELECT sum(m5[1]) AS s FROM forty", "SELECT max(m5[8]) AS s FROM forty WHERE _row < 30000"] {
        server.counts.reset();
        let got = query(&ctx, sql).await;
        let fetched = server.counts.body_bytes();
        assert!(fetched <= rows_bytes + rows_bytes / 100, "{sql}: fetched {fetched} bytes for a member of {rows_bytes} bytes of rows");
        assert!(fetched >= rows_bytes * 9 / 10, "{sql}: fetched {fetched}");
        assert_eq!(got, query(&local, sql).await, "{sql}");
    }
    // A few rows: a few rows' bytes.
    server.counts.reset();
    let sql = "SELECT m39, m0 FROM forty WHERE _row BETWEEN 1000 AND 1002";
    assert_eq!(query(&ctx, sql).await, query(&local, sql).await);
    assert!(server.counts.body_bytes() < 1 << 20, "fetched {}", server.counts.body_bytes());
}

/// A deflated member read remotely equals the local read, fetching only its compressed bytes
/// (inflated as they come: from the first row, rows before the wanted ones dropped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deflated_npz_members_read_remotely_as_locally() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<(String, Vec<u8>)> = (0..4).map(|i| (format!("d{i}"), f32_npy_bytes(20_000, 4, i * 7))).collect();
    let archive = dir.path().join("deflated.npz");
    write_npz(&archive, &members, zip::CompressionMethod::Deflated);
    server.upload(&[(archive.to_str().unwrap(), "npz/deflated.npz")]).await;
    let ctx = server.session();
    let local = SessionContext::new();
    local.register_npy_format().unwrap();
    ctx.sql(&format!("CREATE EXTERNAL TABLE d STORED AS NPY LOCATION 's3://{BUCKET}/npz/deflated.npz'")).await.unwrap();
    local.sql(&format!("CREATE EXTERNAL TABLE d STORED AS NPY LOCATION '{}'", archive.display())).await.unwrap();
    let (compressed, _, _) = member_and_directory_bytes(&archive, "d2");
    for sql in [
        "SELECT sum(d2[1]) AS a, sum(d2[4]) AS b, count(*) AS n FROM d",
        "SELECT d2, d0, _row FROM d WHERE _row IN (0, 4095, 4096, 19999) ORDER BY _row",
        "SELECT d3 FROM d ORDER BY _row LIMIT 3",
        "SELECT d1, d3, _row FROM d WHERE _row BETWEEN 15000 AND 15003",
    ] {
        server.counts.reset();
        let got = query(&ctx, sql).await;
        assert_eq!(got, query(&local, sql).await, "{sql}");
        if sql.starts_with("SELECT sum(d2") {
            assert_eq!(server.counts.body_bytes(), compressed, "{sql}: only member d2's compressed bytes");
        }
    }
}

/// A truncated `.npz` object is a one-line error naming its URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_npz_is_a_one_line_error() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read("sql-examples/data/ds.npz").unwrap();
    let cut = dir.path().join("cut.npz");
    let mut uploads = vec![];
    for (name, len) in [("cut_half.npz", bytes.len() / 2), ("cut_end.npz", bytes.len() - 10)] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes[..len]).unwrap();
        uploads.push((path.to_str().unwrap().to_string(), format!("npz/{name}")));
    }
    let _ = cut;
    server.upload(&uploads.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect::<Vec<_>>()).await;
    let ctx = server.session();
    for name in ["cut_half.npz", "cut_end.npz"] {
        let e = ctx.sql(&format!("CREATE EXTERNAL TABLE t STORED AS NPY LOCATION 's3://{BUCKET}/npz/{name}'")).await.unwrap_err().to_string();
        assert!(e.contains(&format!("s3://{BUCKET}/npz/{name}")) && !e.contains('\n'), "{e}");
    }
}

/// `npyq schema s3://...` says what `npyq schema` of the local copy says, from headers only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_schema_of_remote_objects() {
    let server = S3Server::start();
    let files = ["embeddings.npy", "events.npy", "ds.npz", "ds_compressed.npz"];
    let uploads: Vec<(String, String)> = files.iter().map(|f| (format!("sql-examples/data/{f}"), format!("schema/{f}"))).collect();
    server.upload(&uploads.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect::<Vec<_>>()).await;
    // The fact that differs by where the bytes are: zero-copy (a remote array is copied).
    let normalize = |text: &str, title: &str| -> String {
        text.replace(title, "FILE")
            .lines()
            .map(|line| if line.trim_start().starts_with("columns") { line.replace("zero-copy", "copied") } else { line.to_string() })
            .collect::<Vec<_>>()
            .join("\n")
    };
    for file in files {
        let local_path = format!("sql-examples/data/{file}");
        let local = crate::cli::npyq(["schema", &local_path]);
        assert!(local.status.success());
        let url = format!("s3://{BUCKET}/schema/{file}");
        server.counts.reset();
        let remote = std::process::Command::new(env!("CARGO_BIN_EXE_npyq")).args(["schema", &url]).envs(server.env()).output().unwrap();
        assert!(remote.status.success(), "{file}: {}", String::from_utf8_lossy(&remote.stderr));
        let size = std::fs::metadata(&local_path).unwrap().len();
        let fetched = server.counts.body_bytes();
        // Headers only: a .npy header probe, or an .npz tail read and its members' headers.
        assert!(fetched <= 10 << 10 && fetched < size, "{file}: schema fetched {fetched} of {size} bytes");
        assert_eq!(normalize(&String::from_utf8_lossy(&remote.stdout), &url), normalize(&String::from_utf8_lossy(&local.stdout), &local_path), "{file}");
    }
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_npyq")).args(["schema", &format!("s3://{BUCKET}/schema/none.npz")]).envs(server.env()).output().unwrap();
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success() && stderr.contains("none.npz") && stderr.trim().lines().count() == 1, "{stderr}");
}

/// `CREATE EXTERNAL TABLE` over `url` with the store configured by table options to reach
/// `endpoint` with `secret`; the error (of planning, else of the query) as text.
async fn error_of(ctx: &SessionContext, table: &str, url: &str, endpoint: &str, secret: &str, sql: &str) -> Option<String> {
    let create = format!(
        "CREATE EXTERNAL TABLE {table} STORED AS NPY LOCATION '{url}' OPTIONS ('aws.endpoint' '{endpoint}', \
         'aws.access_key_id' '{}', 'aws.secret_access_key' '{secret}', 'aws.region' 'us-east-1')",
        server::ACCESS_KEY
    );
    if let Err(e) = ctx.sql(&create).await {
        return Some(e.to_string());
    }
    match ctx.sql(sql).await {
        Err(e) => Some(e.to_string()),
        Ok(frame) => frame.collect().await.err().map(|e| e.to_string()),
    }
}

/// A wrong secret key: the server answers 403, and the error is one line naming the object's
/// URL and the refusal (planning a table over a prefix, and over one object).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_is_a_one_line_error_naming_the_url() {
    let server = S3Server::start();
    server.upload(&[("sql-examples/data/events.npy", "denied/events.npy")]).await;
    for url in [format!("s3://{BUCKET}/denied/events.npy"), format!("s3://{BUCKET}/denied/")] {
        let ctx = SessionContext::new();
        ctx.register_npy_format().unwrap();
        let e = error_of(&ctx, "t", &url, &server.endpoint(), "not-the-secret", "SELECT count(*) FROM t").await.expect("a wrong key is refused");
        assert!(e.contains(&url) && !e.contains('\n'), "{e}");
        assert!(e.contains("403") || e.contains("Forbidden") || e.contains("SignatureDoesNotMatch"), "the error says the server refused: {e}");
    }
}

/// An object deleted between planning and reading: one line naming its URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_deleted_after_planning_is_named() {
    let server = S3Server::start();
    server.upload(&[("sql-examples/data/events.npy", "gone/events.npy")]).await;
    let ctx = server.session();
    ctx.sql(&format!("CREATE EXTERNAL TABLE events STORED AS NPY LOCATION 's3://{BUCKET}/gone/events.npy'")).await.unwrap();
    let plan = ctx.sql("SELECT sum(value) FROM events").await.unwrap().create_physical_plan().await.unwrap();
    server.store().delete(&Path::from("gone/events.npy")).await.unwrap();
    let e = datafusion::physical_plan::collect(plan, ctx.task_ctx()).await.unwrap_err().to_string();
    assert!(e.contains(&format!("s3://{BUCKET}/gone/events.npy")) && !e.contains('\n'), "{e}");
}

/// A connection reset mid-scan (a proxy between the client and the server forwards part of a
/// response, then resets the connection). Reset every time: after object_store's bounded
/// retries, one line naming the URL, within seconds. Reset once: object_store retries the
/// request and the answer is the right one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_reset_mid_scan() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    // 4 MiB of rows: one ranged GET, cut after 256 KiB of the connection's responses.
    let file = dir.path().join("reset.npy");
    write_f32_npy(&file, 4096, 256);
    server.upload(&[(file.to_str().unwrap(), "reset/x.npy")]).await;
    let url = format!("s3://{BUCKET}/reset/x.npy");
    let sql = "SELECT count(*) AS n, sum(x[256]) AS s FROM t";
    let expected = {
        let ctx = server.session();
        ctx.sql(&format!("CREATE EXTERNAL TABLE t STORED AS NPY LOCATION '{url}'")).await.unwrap();
        query(&ctx, sql).await
    };

    let always = proxy::ResettingProxy::start(server.addr, 256 << 10, usize::MAX).await;
    let ctx = SessionContext::new();
    ctx.register_npy_format().unwrap();
    let started = std::time::Instant::now();
    let e = tokio::time::timeout(std::time::Duration::from_secs(60), error_of(&ctx, "t", &url, &always.endpoint(), server::SECRET_KEY, sql))
        .await
        .expect("no hang")
        .expect("a connection reset on every try is an error");
    assert!(e.contains(&url) && !e.contains('\n'), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
    assert!(always.resets_done.load(std::sync::atomic::Ordering::SeqCst) >= 1);

    let once = proxy::ResettingProxy::start(server.addr, 256 << 10, 1).await;
    let ctx = SessionContext::new();
    ctx.register_npy_format().unwrap();
    let e = error_of(&ctx, "t", &url, &once.endpoint(), server::SECRET_KEY, "SELECT 1").await;
    assert!(e.is_none(), "{e:?}");
    let got = tokio::time::timeout(std::time::Duration::from_secs(60), query(&ctx, sql)).await.expect("no hang");
    assert_eq!(once.resets_done.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(got, expected);
}

/// `register_npy_dir` takes a remote prefix as it takes a directory: the SPEC §5 tables (a
/// member schema `ds.<member>` too, even as the first query), listed again by each query (an
/// object uploaded since is a table at once), answering as the local directory does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_npy_dir_takes_a_url() {
    let server = S3Server::start();
    let mut uploads = Vec::new();
    collect_files(std::path::Path::new("sql-examples/data"), &mut uploads);
    let uploads: Vec<(String, String)> =
        uploads.into_iter().map(|p| (p.to_string_lossy().into_owned(), format!("dir/{}", p.strip_prefix("sql-examples/data").unwrap().to_string_lossy()))).collect();
    server.upload(&uploads.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect::<Vec<_>>()).await;
    let remote = server.session();
    remote.register_npy_dir(format!("s3://{BUCKET}/dir")).unwrap();
    let local = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(2));
    local.register_npy_dir("sql-examples/data").unwrap();
    for sql in [
        "SELECT labels, count(*) AS n FROM ds.labels GROUP BY labels ORDER BY labels",
        "SELECT count(*), min(_row), max(_row) FROM readings",
        "SELECT * FROM events ORDER BY _row LIMIT 5",
        "SELECT l.labels, f.features[1] FROM ds.labels l JOIN ds.features f ON l._row = f._row ORDER BY l._row LIMIT 4",
        "SELECT count(*) FROM ds_compressed",
    ] {
        assert_eq!(query(&remote, sql).await, query(&local, sql).await, "{sql}");
    }
    // One object, as one local file is.
    let one = server.session();
    one.register_npy_dir(format!("s3://{BUCKET}/dir/events.npy")).unwrap();
    assert_eq!(query(&one, "SELECT count(*), sum(value) FROM events").await, query(&local, "SELECT count(*), sum(value) FROM events").await);
    // An object uploaded after registration is a table for the next query.
    server.upload(&[("sql-examples/data/events.npy", "dir/later.npy")]).await;
    assert_eq!(query(&remote, "SELECT count(*) FROM later").await, query(&local, "SELECT count(*) FROM events").await);
    // A name under no prefix is no table; a prefix that cannot be listed is named.
    let e = remote.sql("SELECT * FROM nothing_here").await.unwrap_err().to_string();
    assert!(e.contains("nothing_here"), "{e}");
    let denied = SessionContext::new();
    let wrong_key = object_store::aws::AmazonS3Builder::new()
        .with_bucket_name(BUCKET)
        .with_endpoint(server.endpoint())
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_access_key_id(server::ACCESS_KEY)
        .with_secret_access_key("not-the-secret")
        .build()
        .unwrap();
    denied.register_object_store(&url::Url::parse(&format!("s3://{BUCKET}/")).unwrap(), std::sync::Arc::new(wrong_key));
    denied.register_npy_dir(format!("s3://{BUCKET}/dir/")).unwrap();
    let e = denied.sql("SELECT * FROM events").await.unwrap_err().to_string();
    assert!(e.contains(&format!("s3://{BUCKET}/dir/")) && e.contains("403") && !e.contains('\n'), "{e}");
}

/// The headers of an archive's small members come in one coalesced request, not one each:
/// planning a 40-member table of tiny members is a handful of `GET`s (the zip directory, the
/// members' headers), and answers as the local archive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_npz_member_headers_are_fetched_together() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let members: Vec<(String, Vec<u8>)> = (0..40).map(|i| (format!("m{i}"), f32_npy_bytes(10, 2, i * 100))).collect();
    let archive = dir.path().join("tiny.npz");
    write_npz(&archive, &members, zip::CompressionMethod::Stored);
    server.upload(&[(archive.to_str().unwrap(), "npz/tiny.npz")]).await;
    let ctx = server.session();
    server.counts.reset();
    ctx.sql(&format!("CREATE EXTERNAL TABLE tiny STORED AS NPY LOCATION 's3://{BUCKET}/npz/tiny.npz'")).await.unwrap();
    let gets = server.counts.gets();
    assert!(gets <= 4, "planning a 40-member archive took {gets} GETs (one per member header: 41)");
    let local = SessionContext::new();
    local.register_npy_format().unwrap();
    local.sql(&format!("CREATE EXTERNAL TABLE tiny STORED AS NPY LOCATION '{}'", archive.display())).await.unwrap();
    let sql = "SELECT sum(m0[1]) AS a, sum(m39[2]) AS b, max(m17[1]) AS c, count(*) AS n FROM tiny";
    assert_eq!(query(&ctx, sql).await, query(&local, sql).await);
}
