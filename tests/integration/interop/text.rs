//! CSV and JSON: the text forms of bytes, structs, lists and datetimes (golden files), and the
//! same output whether `npyq convert` or `npyq sql` writes it (one output layer).

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use super::{types_dir, types_npy};
use crate::cli::{assert_ok, assert_one_line_error, dir_names, npyq, root};

const SELECT_ALL: &str = "SELECT * EXCLUDE (_row) FROM types";

fn convert_to(extension: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(format!("types.{extension}"));
    let input = types_npy();
    assert_ok(&npyq([OsStr::new("convert"), input.as_os_str(), out.as_os_str()]));
    fs::read_to_string(out).unwrap()
}

fn sql_stdout(format: &str, query: &str) -> String {
    let types = types_dir();
    let run = npyq([OsStr::new("sql"), OsStr::new("--dir"), types.as_os_str(), OsStr::new("--format"), OsStr::new(format), OsStr::new(query)]);
    assert_ok(&run);
    String::from_utf8(run.stdout).unwrap()
}

/// `actual` equals the golden file `tests/golden/NAME` (`NPYQ_BLESS=1` rewrites it).
fn check_golden(name: &str, actual: &str) {
    let file = root().join("tests/golden").join(name);
    if std::env::var_os("NPYQ_BLESS").is_some() {
        fs::write(&file, actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(actual == expected, "differs from {name}\n--- expected\n{expected}--- actual\n{actual}(NPYQ_BLESS=1 rewrites it)");
}

#[test]
fn csv_golden() {
    check_golden("interop_types.csv", &convert_to("csv"));
}

#[test]
fn json_golden() {
    check_golden("interop_types.json", &convert_to("json"));
}

#[test]
fn sql_writes_the_same_csv_and_json_as_convert() {
    // Structs, lists and complex numbers used to make `sql --format csv` fail.
    assert_eq!(sql_stdout("csv", SELECT_ALL), convert_to("csv"));
    assert_eq!(sql_stdout("json", SELECT_ALL), convert_to("json"));
}

#[test]
fn bytes_are_backslash_x_text_in_csv() {
    let csv = sql_stdout("csv", "SELECT s, v, c8, vec FROM types");
    let expected = "\
s,v,c8.real,c8.imag,vec
\\x0102,\\x000102,1.0,2.0,\"[1.0,2.0,3.0]\"
\\x6162,\\x616263,-0.0,-0.5,\"[0.5,-0.5,0.0]\"
\\x3132,\\xfffefd,3.0,0.0,\"[7.0,8.0,9.0]\"
";
    assert_eq!(csv, expected);
}

#[test]
fn bytes_are_backslash_x_strings_in_json_at_any_depth() {
    let json = sql_stdout("json", "SELECT s, named_struct('inner', v) AS r, make_array(s, s) AS l FROM types LIMIT 1");
    assert_eq!(json, "{\"s\":\"\\\\x0102\",\"r\":{\"inner\":\"\\\\x000102\"},\"l\":[\"\\\\x0102\",\"\\\\x0102\"]}\n");
    let value: serde_json::Value = serde_json::from_str(json.trim_end()).unwrap();
    assert_eq!(value["s"], "\\x0102", "PostgreSQL's bytea text once the JSON string is decoded");
}

#[test]
fn sql_output_file_is_complete_or_absent() {
    let dir = tempfile::tempdir().unwrap();
    let types = types_dir();
    for (format, name) in [("csv", "out.csv"), ("json", "out.json"), ("parquet", "out.parquet"), ("arrow", "out.arrow")] {
        let out = dir.path().join(name);
        // The first statement succeeds and is written; the second fails: nothing may remain.
        let failing = format!("{SELECT_ALL}; SELECT CAST(u AS INT) FROM types");
        let run = npyq([
            OsStr::new("sql"), OsStr::new("--dir"), types.as_os_str(), OsStr::new("--format"), OsStr::new(format),
            OsStr::new("--output"), out.as_os_str(), OsStr::new(&failing),
        ]);
        let error = assert_one_line_error(&run, "");
        assert!(!out.exists(), "{format}: a partial {name} was left behind ({error})");
        assert!(dir_names(dir.path()).is_empty(), "{format}: temporary files left: {:?}", dir_names(dir.path()));
    }
}

#[test]
fn sql_output_extension_chooses_the_format() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("types.csv");
    let types = types_dir();
    assert_ok(&npyq([
        OsStr::new("sql"), OsStr::new("--dir"), types.as_os_str(), OsStr::new("--output"), out.as_os_str(),
        OsStr::new(SELECT_ALL),
    ]));
    assert_eq!(fs::read_to_string(&out).unwrap(), convert_to("csv"));
    assert!(Path::new(&out).exists());
}
