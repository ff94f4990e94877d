//! Scale-out: three `npyq worker` processes on loopback, the same SQL through them
//! (`npyq sql --workers`) as in one process, answer for answer. The harness starts the workers
//! on port 0 (each prints its bound address) and kills them when the test ends.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::cli::{assert_ok, npyq, root, stderr};
use crate::remote::server::{S3Server, BUCKET};

/// Worker processes, killed (and reaped) on drop, whatever the test did.
struct Cluster {
    workers: Vec<Child>,
    addrs: Vec<String>,
}

impl Cluster {
    fn start(n: usize) -> Cluster {
        Cluster::start_with_env(n, &[])
    }

    /// `n` workers with `env` added to their environment (e.g. how to reach an object store).
    fn start_with_env(n: usize, env: &[(&str, String)]) -> Cluster {
        let mut cluster = Cluster { workers: Vec::new(), addrs: Vec::new() };
        for _ in 0..n {
            let mut child = Command::new(env!("CARGO_BIN_EXE_npyq"))
                .current_dir(root())
                .args(["worker", "--listen", "127.0.0.1:0"])
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("npyq worker starts");
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("worker prints its address");
            let addr = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("worker said: {line}")).to_string();
            cluster.workers.push(child);
            cluster.addrs.push(addr);
        }
        cluster
    }

    fn list(&self) -> String {
        self.addrs.join(",")
    }

    /// Kill worker `i` (it stays in `addrs`).
    fn kill(&mut self, i: usize) {
        let _ = self.workers[i].kill();
        let _ = self.workers[i].wait();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.workers {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Tiny test tables give one task per stage at the engine's default (16 MiB a partition):
/// smaller partitions make every scan spread over the workers.
const SPREAD: &str = "SET distributed.file_scan_config_bytes_per_partition = 256; ";

/// `npyq sql --dir sql-examples/data [--workers LIST] ARGS...`; with workers, a query (the last
/// argument) runs after [`SPREAD`].
fn sql(workers: Option<&str>, args: &[&str]) -> Output {
    let mut all: Vec<String> = vec!["sql".into(), "--dir".into(), "sql-examples/data".into()];
    if let Some(list) = workers {
        all.push("--workers".into());
        all.push(list.into());
    }
    all.extend(args.iter().map(|s| s.to_string()));
    // The query last, after `--` (an example file's text starts with a `--` comment).
    let query = all.pop().unwrap();
    all.push("--".into());
    all.push(if workers.is_some() { format!("{SPREAD}{query}") } else { query });
    npyq(all)
}

/// The query's CSV answer in one process and through `cluster`, which must be equal.
fn same_answer(cluster: &Cluster, args: &[&str]) -> String {
    let local = sql(None, args);
    assert_ok(&local);
    let spread = sql(Some(&cluster.list()), args);
    assert_ok(&spread);
    let (local, spread) = (String::from_utf8_lossy(&local.stdout).into_owned(), String::from_utf8_lossy(&spread.stdout).into_owned());
    assert_eq!(spread, local, "distributed answer differs for {args:?}");
    local
}

#[test]
fn answers_equal_single_process() {
    let cluster = Cluster::start(3);
    // Every SQL example, as its .sql file runs.
    let mut examples: Vec<_> = std::fs::read_dir(root().join("sql-examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    examples.sort();
    assert!(examples.len() >= 5);
    for file in &examples {
        let text = std::fs::read_to_string(file).unwrap();
        if text.contains("COPY") {
            continue; // writes files: compared below
        }
        same_answer(&cluster, &["--format", "csv", &text]);
    }
    let queries = [
        "SELECT count(*) FROM readings",
        // Float sums are rounded: their last bits depend on the order of addition, which depends
        // on how the rows were partitioned (in one process too).
        "SELECT sensor, count(*) AS n, round(sum(value), 3) AS s, round(avg(value), 6) AS m FROM readings GROUP BY sensor ORDER BY sensor",
        "SELECT _row, sensor, value FROM readings WHERE _row BETWEEN 95 AND 105 OR _row >= 1195 ORDER BY _row",
        "SELECT count(*), min(_row), max(_row) FROM readings WHERE _row >= 250 AND _row < 777",
        "SELECT * FROM readings ORDER BY _row LIMIT 5",
        "SELECT * FROM readings",
        "SELECT year, count(*), round(sum(amount), 2) FROM sales GROUP BY year ORDER BY year",
        // A deflated .npz is dealt out by whole files, never cut into byte ranges.
        "SELECT labels, count(*) FROM ds_compressed.labels GROUP BY labels ORDER BY labels",
        "SELECT count(*), round(sum(amount), 2) FROM sales WHERE _row % 3 = 0",
    ];
    for q in queries {
        let answer = same_answer(&cluster, &["--format", "csv", q]);
        assert!(answer.lines().count() >= 2, "{q}: {answer}");
    }
}

/// `knn(...)` through the workers: its KnnExec runs on one task (every query against the whole
/// corpus, rescanned for each block of queries), beside stages that spread.
#[test]
fn knn_equals_single_process() {
    let cluster = Cluster::start(3);
    // 500 queries in blocks of 64: the corpus is scanned 8 times in the one task.
    let knn = "knn(embeddings, 'embeddings', embeddings, 'embeddings', 4, 'cosine')";
    let per_rank = format!(
        "SELECT k.rank, count(*) AS n, sum(k.corpus_row) AS rows, round(sum(k.distance), 3) AS d, round(sum(r.value), 3) AS v \
         FROM {knn} k JOIN readings r ON k.corpus_row = r._row GROUP BY k.rank ORDER BY k.rank"
    );
    let block = "SET npy.knn_query_block = 64; ";
    // The join collects the spread readings on the coordinator, where the knn runs.
    let answer = same_answer(&cluster, &["--format", "csv", &format!("{block}{per_rank}")]);
    assert_eq!(answer.lines().skip(1).map(|l| l.split(',').nth(1).unwrap()).collect::<Vec<_>>(), ["500"; 4], "{answer}");
    // A partitioned join shuffles both sides: the knn's stage (one task) runs on a worker, its
    // plan sent there through NpyCodec.
    let partitioned = "SET datafusion.optimizer.hash_join_single_partition_threshold = 0; \
                       SET datafusion.optimizer.hash_join_single_partition_threshold_rows = 0; ";
    let explain = sql(Some(&cluster.list()), &[&format!("{partitioned}EXPLAIN {per_rank}")]);
    assert_ok(&explain);
    let text = String::from_utf8_lossy(&explain.stdout);
    let stage = text.split("Stage ").find(|s| s.contains("KnnExec")).unwrap_or_else(|| panic!("no stage runs KnnExec:\n{text}"));
    assert!(stage.contains("tasks=1"), "{text}");
    assert_eq!(same_answer(&cluster, &["--format", "csv", &format!("{block}{partitioned}{per_rank}")]), answer);
    // Every neighbour of a few queries, in order, l2 over the npz member.
    same_answer(
        &cluster,
        &["--format", "csv", "SELECT * FROM knn(ds.features, 'features', ds.features, 'features', 5, 'l2') WHERE query_row % 37 = 0 ORDER BY query_row, rank"],
    );
}

#[test]
fn labels_features_positional_join() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // Two tables of the same rows, split differently: labels in 3 shards, features in 1 file.
    for (i, (from, to)) in [(0, 400), (400, 900), (900, 1200)].iter().enumerate() {
        let copy = format!("COPY (SELECT sensor FROM readings WHERE _row >= {from} AND _row < {to} ORDER BY _row) TO '{d}/labels/part-{i}.npy' STORED AS NPY");
        assert_ok(&sql(None, &[&copy]));
    }
    assert_ok(&sql(None, &[&format!("COPY (SELECT value FROM readings ORDER BY _row) TO '{d}/features.npy' STORED AS NPY")]));
    let q = format!(
        "CREATE EXTERNAL TABLE labels STORED AS NPY LOCATION '{d}/labels/'; \
         CREATE EXTERNAL TABLE features STORED AS NPY LOCATION '{d}/features.npy'; \
         SELECT l._row, l.labels, f.features FROM labels l JOIN features f ON l._row = f._row ORDER BY l._row; \
         SELECT l.labels, count(*), round(sum(f.features), 3) FROM labels l JOIN features f ON l._row = f._row GROUP BY l.labels ORDER BY l.labels"
    );
    let answer = same_answer(&cluster, &["--format", "csv", &q]);
    assert!(answer.lines().count() > 1200, "{}", answer.lines().count());
}

#[test]
fn copy_to_writes_the_same_files() {
    let cluster = Cluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    for (name, workers) in [("local", None), ("spread", Some(cluster.list()))] {
        let q = format!(
            "COPY (SELECT sensor, value FROM readings WHERE value > 0 ORDER BY _row) TO '{}/{name}.npy' STORED AS NPY",
            dir.path().display()
        );
        assert_ok(&sql(workers.as_deref(), &[&q]));
    }
    let read = |name: &str| std::fs::read(dir.path().join(format!("{name}.npy"))).unwrap();
    assert_eq!(read("spread"), read("local"));
    assert!(read("local").len() > 128);
}

#[test]
fn a_dead_worker_is_a_one_line_error_naming_it() {
    let mut cluster = Cluster::start(3);
    let dead = cluster.addrs[2].clone();
    cluster.kill(2);
    let started = Instant::now();
    let out = sql(Some(&cluster.list()), &["SELECT sensor, sum(value) FROM readings GROUP BY sensor"]);
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    let port = dead.rsplit(':').next().unwrap();
    assert!(text.contains(port), "the error names the dead worker {dead}: {text}");
    // The next query over the workers still up works.
    let alive = cluster.addrs[..2].join(",");
    let out = sql(Some(&alive), &["--format", "csv", "SELECT count(*) FROM readings"]);
    assert_ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().nth(1), Some("1200"));
}

/// The engine's own per-task metrics (`EXPLAIN ANALYZE VERBOSE`, collected from the workers)
/// show each of the three workers scanning a share of the 12-shard table (task i runs on worker
/// i of `--workers`).
#[test]
fn every_worker_scans_a_share_of_a_12_shard_table() {
    let cluster = Cluster::start(3);
    let out = sql(
        Some(&cluster.list()),
        &["--format", "csv", "EXPLAIN ANALYZE VERBOSE SELECT sensor, count(*), sum(value) FROM readings GROUP BY sensor"],
    );
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    let metric = |line: &str, task: usize, name: &str| -> u64 {
        let key = format!("{name}={{{task}:");
        let at = line.find(&key).unwrap_or_else(|| panic!("no {key} in {line}")) + key.len();
        line[at..].split('}').next().unwrap().parse().unwrap()
    };
    let (mut rows, mut files) = (Vec::new(), Vec::new());
    for task in 0..3 {
        // The scan stage's line of task `task`, in the per-task ("Full Metrics") plan.
        let line = text
            .lines()
            .find(|l| l.contains(&format!("t{task}: DataSourceExec")) && l.contains("output_rows={"))
            .unwrap_or_else(|| panic!("no metrics of task {task} in:\n{text}"));
        rows.push(metric(line, task, "output_rows"));
        files.push(metric(line, task, "files_opened"));
    }
    assert!(rows.iter().all(|&r| r > 0) && files.iter().all(|&f| f > 0), "rows {rows:?}, files {files:?}");
    assert_eq!(rows.iter().sum::<u64>(), 1200, "{rows:?}");
    assert_eq!(files.iter().sum::<u64>(), 12, "{files:?}");
    // EXPLAIN shows the stages, the tasks and the workers.
    let out = sql(Some(&cluster.list()), &["EXPLAIN SELECT sensor, count(*) FROM readings GROUP BY sensor"]);
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Stage 1") && text.contains("tasks=3") && text.contains("t2: DataSourceExec"), "{text}");
    for addr in &cluster.addrs {
        assert!(text.contains(addr.as_str()), "{addr} not in {text}");
    }
}

/// A worker killed while its tasks run: the query fails within a bounded time with one line
/// naming a worker, and the next query over the workers still up works.
#[test]
fn a_worker_killed_mid_query() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // 2M float64 values in 4 shards: a count(DISTINCT) over them runs for seconds (debug build).
    for i in 0..4 {
        let copy = format!(
            "COPY (SELECT CAST(value AS DOUBLE) AS v FROM generate_series({}, {})) TO '{d}/big/part-{i}.npy' STORED AS NPY",
            i * 500_000,
            i * 500_000 + 499_999
        );
        assert_ok(&npyq(["sql", "--", &copy]));
    }
    let mut cluster = Cluster::start(3);
    let query = format!("{SPREAD}SELECT count(DISTINCT big), sum(big) FROM big");
    let started = Instant::now();
    let running = Command::new(env!("CARGO_BIN_EXE_npyq"))
        .current_dir(root())
        .args(["sql", "--dir", d, "--workers", &cluster.list(), "--", &query])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let dead = cluster.addrs[1].clone();
    cluster.kill(1);
    let out = running.wait_with_output().unwrap();
    let elapsed = started.elapsed();
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "the query outlived the worker ({elapsed:?}): {text}");
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert!(text.contains(dead.rsplit(':').next().unwrap()), "the error names the killed worker {dead}: {text}");
    let alive = format!("{},{}", cluster.addrs[0], cluster.addrs[2]);
    let out = npyq(["sql", "--dir", d, "--workers", &alive, "--format", "csv", "--", &format!("{SPREAD}SELECT count(*), max(big) FROM big")]);
    assert_ok(&out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().nth(1), Some("2000000,1999999.0"));
}

/// Workers read `s3://` URLs they were never told about: each builds the bucket's store from its
/// own environment (the standard `AWS_*` variables) when a plan first names it. The answers
/// over an `s3://` prefix equal the single-process answers over the local copy.
#[test]
fn workers_read_an_object_store() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let server = S3Server::start();
    let mut uploads: Vec<(String, String)> =
        (1..=12).map(|i| (format!("sql-examples/data/readings/part-{i}.npy"), format!("ex/readings/part-{i}.npy"))).collect();
    for name in ["events.npy", "ds.npz", "ds_compressed.npz"] {
        uploads.push((format!("sql-examples/data/{name}"), format!("ex/{name}")));
    }
    runtime.block_on(server.upload(&uploads.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect::<Vec<_>>()));
    let cluster = Cluster::start_with_env(3, &server.env());
    let prefix = format!("s3://{BUCKET}/ex/");
    let over_s3 = |workers: &str, query: &str| {
        Command::new(env!("CARGO_BIN_EXE_npyq"))
            .current_dir(root())
            .args(["sql", "--dir", &prefix, "--workers", workers, "--format", "csv", "--", &format!("{SPREAD}{query}")])
            .envs(server.env())
            .output()
            .unwrap()
    };
    for query in [
        "SELECT count(*), min(_row), max(_row) FROM readings",
        "SELECT sensor, count(*) AS n, round(sum(value), 3) AS s FROM readings GROUP BY sensor ORDER BY sensor",
        "SELECT _row, sensor, value FROM readings WHERE _row BETWEEN 95 AND 105 ORDER BY _row",
        "SELECT count(*), sum(_row) FROM events",
        "SELECT labels, count(*) FROM ds GROUP BY labels ORDER BY labels",
        "SELECT labels, count(*) FROM ds_compressed GROUP BY labels ORDER BY labels",
    ] {
        let local = sql(None, &["--format", "csv", query]);
        assert_ok(&local);
        server.counts.reset();
        let spread = over_s3(&cluster.list(), query);
        assert_ok(&spread);
        assert_eq!(String::from_utf8_lossy(&spread.stdout), String::from_utf8_lossy(&local.stdout), "{query}");
        assert!(server.counts.gets() > 0, "{query}: nothing was read from the store");
    }
    // The scan ran on the workers: each task of the scan stage opened some of the 12 objects.
    let out = over_s3(&cluster.list(), "EXPLAIN ANALYZE VERBOSE SELECT sensor, count(*) FROM readings GROUP BY sensor");
    assert_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    for task in 0..3 {
        assert!(
            text.lines().any(|l| l.contains(&format!("t{task}: DataSourceExec")) && l.contains("files_opened={")),
            "task {task} scanned nothing:\n{text}"
        );
    }

    // A worker whose environment points at no server: one line naming the worker and the URL,
    // within object_store's bounded retries.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut wrong = server.env();
    wrong.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
    wrong.push(("AWS_ENDPOINT_URL", format!("http://{closed}")));
    let lost = Cluster::start_with_env(1, &wrong);
    let both = format!("{},{}", cluster.addrs[0], lost.addrs[0]);
    let started = Instant::now();
    let out = over_s3(&both, "SELECT sensor, count(*) FROM readings GROUP BY sensor");
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert!(text.contains(&lost.addrs[0]), "the error names the worker {}: {text}", lost.addrs[0]);
    assert!(text.contains(&format!("s3://{BUCKET}/ex/readings/part-")), "the error names the object: {text}");
}
