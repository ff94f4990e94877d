//! SPEC §7, "the inverse of §3": every case read, written back with `ArrayFileWriter` (in
//! 7-row batches; as `.npz`, stored and deflated, and as `.npy` where one file can hold the
//! table) and read again must still hold numpy's values with the same Arrow types. The reader is the oracle's
//! proxy here: it is checked against numpy by the other tests.

use std::path::Path;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::compute::concat;
use datafusion_npy::{ArrayFileWriter, NpyTable, NpzCompression, WriteOptions};
use serde_json::Value;

use super::check::npy_members_in_archive_order;
use super::dtype::{type_shape, Dt};
use super::check::check_cases;
use super::expected::{expected_columns, rows_of, ExpectedColumn, Manifest};
use super::reading::compare_column;

/// Round-trip every case `select` accepts; panic listing those that come back different.
pub fn run_group_roundtrip(manifest: &Manifest, select: impl Fn(&Value) -> bool) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    check_cases(manifest, select, "change in a write/read round trip", |case| {
        let path = manifest.dir.join(case["file"].as_str().unwrap_or_default());
        roundtrip_case(&path, case, dir.path())
    });
}

/// Cases whose whole file reads as one table (what a round trip starts from).
pub fn roundtrippable(case: &Value) -> bool {
    let has = |key: &str| case.get(key).is_some();
    !has("error")
        && !has("table_error")
        && !has("whole_table")
        && !has("unreadable_members")
        && !has("bad_members")
}

fn roundtrip_case(path: &Path, case: &Value, out_dir: &Path) -> Vec<String> {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let (columns, rows) = match columns_of(path, case, &stem) {
        Ok(c) => c,
        Err(e) => return vec![format!("test cannot read the case: {e}")],
    };
    // An `.npz` keeps every column's name and type (a member each). An `.npy` of one column is a
    // plain array named by the file (so name the file after the column), and cannot be a
    // Struct column: a record array reads back as its fields.
    let mut outputs = vec![
        (format!("{stem}.npz"), WriteOptions::default().with_compression(NpzCompression::Stored)),
        (format!("{stem}.npz"), WriteOptions::default().with_compression(NpzCompression::Deflated)),
    ];
    match columns.as_slice() {
        [single] if matches!(single.dt, Dt::Record(_)) => {}
        [single] => outputs.push((format!("{}.npy", single.name), WriteOptions::default())),
        _ => outputs.push((format!("{stem}.npy"), WriteOptions::default())),
    }
    let mut problems = Vec::new();
    for (name, options) in outputs {
        let kind = if name.ends_with(".npz") { format!("{:?}", options.compression) } else { "npy".into() };
        let sub = out_dir.join(&kind);
        std::fs::create_dir_all(&sub).expect("an output directory");
        let out = sub.join(&name);
        let label = format!("{name} ({kind})");
        match write_copy(path, &out, options).and_then(|()| read_back(&out)) {
            Ok(arrays) => {
                problems.extend(compare(&columns, &arrays, rows).into_iter().map(|p| format!("{label}: {p}")))
            }
            Err(e) => problems.push(format!("{label}: {e}")),
        }
    }
    problems
}

/// The columns of the table the whole file is (as `sql_scan` and `check` see it).
fn columns_of(path: &Path, case: &Value, stem: &str) -> Result<(Vec<ExpectedColumn>, u64), String> {
    if let Some(members) = case.get("members").and_then(Value::as_object) {
        let mut columns = Vec::new();
        for member in npy_members_in_archive_order(path)? {
            let array =
                members.get(&member).ok_or_else(|| format!("no member '{member}' in expected.json"))?;
            columns.extend(expected_columns(&member, array, false)?);
        }
        Ok((columns, members.values().next().map_or(0, rows_of)))
    } else {
        Ok((expected_columns(stem, case, true)?, rows_of(case)))
    }
}

fn write_copy(input: &Path, output: &Path, options: WriteOptions) -> Result<(), String> {
    let table = NpyTable::open(input).map_err(|e| format!("read: {e}"))?;
    // Batches of 7 rows: many appends (4099 for big files, to keep debug builds quick).
    let batch = if table.num_rows() > 10_000 { 4099 } else { 7 };
    let reader = table.reader().with_batch_size(batch).build().map_err(|e| format!("read: {e}"))?;
    let mut writer =
        ArrayFileWriter::try_new(output, table.schema(), options).map_err(|e| format!("write: {e}"))?;
    for batch in reader {
        let batch = batch.map_err(|e| format!("read: {e}"))?;
        writer.write(&batch).map_err(|e| format!("write: {e}"))?;
    }
    writer.finish().map_err(|e| format!("write: {e}"))
}

/// The written file read back: each column's batches concatenated, with its name.
fn read_back(path: &Path) -> Result<Vec<(String, ArrayRef)>, String> {
    let table = NpyTable::open(path).map_err(|e| format!("read back: {e}"))?;
    let schema = table.schema();
    let mut parts: Vec<Vec<ArrayRef>> = vec![Vec::new(); schema.fields().len()];
    for batch in table.reader().build().map_err(|e| format!("read back: {e}"))? {
        let batch = batch.map_err(|e| format!("read back: {e}"))?;
        for (i, column) in batch.columns().iter().enumerate() {
            parts[i].push(column.clone());
        }
    }
    schema
        .fields()
        .iter()
        .zip(parts)
        .map(|(field, part)| {
            let array = if part.is_empty() {
                datafusion::arrow::array::new_empty_array(field.data_type())
            } else {
                let refs: Vec<&dyn Array> = part.iter().map(|a| a.as_ref()).collect();
                concat(&refs).map_err(|e| format!("read back: {e}"))?
            };
            Ok((field.name().clone(), array))
        })
        .collect()
}

fn compare(columns: &[ExpectedColumn], arrays: &[(String, ArrayRef)], rows: u64) -> Vec<String> {
    let got: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
    let want: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    if got != want {
        return vec![format!("columns {got:?}, expected {want:?}")];
    }
    let mut problems = Vec::new();
    for (column, (_, array)) in columns.iter().zip(arrays) {
        match column.dt.arrow_type() {
            Ok(t) if type_shape(&t) == type_shape(array.data_type()) => {
                problems.extend(compare_column(column, array, 0..rows));
            }
            Ok(t) => problems.push(format!(
                "column '{}': comes back as {}, was {}",
                column.name,
                type_shape(array.data_type()),
                type_shape(&t)
            )),
            Err(e) => problems.push(format!("column '{}': {e}", column.name)),
        }
    }
    problems
}
