//! `npyq sql` end to end: one-shot queries in each output format, `--file` with several
//! statements, the shell fed on standard input, and errors (one line, exit code 1).

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn npyq(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_npyq")).args(args).output().expect("npyq runs")
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "npyq failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

#[test]
fn table_output_is_arrows_pretty_table() {
    let out = npyq(&["sql", "--dir", "sql-examples/data", "SELECT labels, count(*) AS n FROM ds GROUP BY labels ORDER BY labels"]);
    let expected = "\
+--------+-----+
| labels | n   |
+--------+-----+
| 0      | 187 |
| 1      | 196 |
| 2      | 205 |
| 3      | 210 |
| 4      | 202 |
+--------+-----+
";
    assert_eq!(stdout(&out), expected);
}

#[test]
fn csv_and_json_output() {
    let query = "SELECT _row, sensor FROM readings WHERE _row IN (99, 100) ORDER BY _row";
    let csv = npyq(&["sql", "--dir", "sql-examples/data", "--format", "csv", query]);
    assert_eq!(stdout(&csv), "_row,sensor\n99,2\n100,1\n");
    let json = npyq(&["sql", "--dir", "sql-examples/data", "--format", "json", query]);
    assert_eq!(stdout(&json), "{\"_row\":99,\"sensor\":2}\n{\"_row\":100,\"sensor\":1}\n");
}

#[test]
fn parquet_and_arrow_output_files_read_back() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["parquet", "arrow"] {
        let path = dir.path().join(format!("out.{format}"));
        let out = npyq(&[
            "sql", "--dir", "sql-examples/data", "--format", format, "--output", path.to_str().unwrap(),
            "SELECT id, ts, kind FROM events",
        ]);
        stdout(&out);
        let rows: usize = if format == "parquet" {
            let file = std::fs::File::open(&path).unwrap();
            datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                .unwrap()
                .build()
                .unwrap()
                .map(|b| b.unwrap().num_rows())
                .sum()
        } else {
            let file = std::fs::File::open(&path).unwrap();
            datafusion::arrow::ipc::reader::FileReader::try_new(file, None).unwrap().map(|b| b.unwrap().num_rows()).sum()
        };
        assert_eq!(rows, 200, "{format}");
    }
}

#[test]
fn every_example_file_runs() {
    for entry in std::fs::read_dir("sql-examples").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sql") {
            let out = npyq(&["sql", "--dir", "sql-examples/data", "--format", "csv", "--file", path.to_str().unwrap()]);
            assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
        }
    }
}

#[test]
fn errors_are_one_line_and_exit_1() {
    let out = npyq(&["sql", "--dir", "tests/sql/data/errors", "SELECT * FROM broken"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("npyq: ") && stderr.contains("tests/sql/data/errors/broken.npy: not an .npy file"), "{stderr}");
    assert!(!stderr.contains("External error"), "{stderr}");

    let out = npyq(&["sql", "--dir", "sql-examples/data", "--dir", "tests/sql/data/errors", "SELECT sum(y) FROM corrupt_member"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("corrupt_member.npz[y]: corrupt zip archive"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn create_external_table_and_several_statements() {
    let sql = "CREATE EXTERNAL TABLE t STORED AS NPY LOCATION 'sql-examples/data/readings/'; \
               SELECT count(*) AS n FROM t; SELECT max(_row) AS last FROM t;";
    let out = npyq(&["sql", "--format", "csv", sql]);
    assert_eq!(stdout(&out), "n\n1200\nlast\n1199\n");
}

#[test]
fn shell_reads_statements_over_lines_and_survives_errors() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_npyq"))
        .args(["sql", "--dir", "sql-examples/data", "--format", "csv"])
        .env("HOME", tempfile::tempdir().unwrap().path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = "SELECT 1\n+ 1 AS two;\n\\d ds.labels\nSELECT * FROM nope;\nSELECT count(*) AS n FROM readings;\n\\q\n";
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = stdout(&out);
    assert_eq!(text, "two\n2\ncolumn,type,nullable\nlabels,Int64,false\n_row,Int64,false\nn\n1200\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("table 'datafusion.public.nope' not found"), "{stderr}");
}
