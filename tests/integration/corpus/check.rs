//! Running one `expected.json` case against the reader: open, compare header facts and schema,
//! then read the table several ways (default batches, small batches, a row range, projections)
//! and compare every value with numpy's.
//!
//! Each case runs on its own thread with a time limit, so a panic or a hang in the reader is
//! reported as that case's failure instead of stopping the run.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use datafusion::arrow::array::{new_empty_array, Array, ArrayRef, AsArray};
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatchReader;
use datafusion_npy::format::table::Storage;
use datafusion_npy::{NpyTable, OpenOptions};
use serde_json::Value;

use super::dtype::{type_shape, Dt};
use super::values::check_value;

/// How long one case may take (debug builds, 200,000 rows read several ways).
const CASE_TIME_LIMIT: Duration = Duration::from_secs(180);
/// Mismatching values reported per column and pass before the rest are only counted.
const MAX_VALUE_REPORTS: usize = 4;
/// Small batches, to cross batch boundaries often; larger for big files, to keep the run short.
const SMALL_BATCH: usize = 7;
const SMALL_BATCH_FOR_BIG_FILES: usize = 4099;

/// A manifest: the directory of the files and the cases of its `expected.json`.
pub struct Manifest {
    pub dir: PathBuf,
    pub cases: Vec<Value>,
}

impl Manifest {
    /// `tests/data/<sub>/expected.json`.
    pub fn load(sub: &str) -> Manifest {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(sub);
        let text = std::fs::read_to_string(dir.join("expected.json")).expect("expected.json is readable");
        let json: Value = serde_json::from_str(&quote_floats(&text)).expect("expected.json is JSON");
        let cases = json["cases"].as_array().expect("expected.json has cases").clone();
        Manifest { dir, cases }
    }
}

/// Marks a float literal that [`quote_floats`] turned into a string.
pub const FLOAT_MARK: &str = "\u{1}float:";

/// The JSON text with every float literal (a number with `.`, `e` or `E`) turned into the string
/// `FLOAT_MARK` + literal, so that it is parsed later by `str::parse::<f64>`, which rounds
/// correctly: serde_json's own float parsing (without its `float_roundtrip` feature) can be one
/// unit in the last place off, and the comparison is bit for bit.
fn quote_floats(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => out.extend(chars.next()),
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '-' || c.is_ascii_digit() {
            let mut literal = String::from(c);
            while let Some(&n) = chars.peek() {
                if n.is_ascii_digit() || matches!(n, '.' | 'e' | 'E' | '+' | '-') {
                    literal.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            if literal.contains(['.', 'e', 'E']) {
                out.push('"');
                out.push_str("\\u0001float:"); // JSON for FLOAT_MARK
                out.push_str(&literal);
                out.push('"');
            } else {
                out.push_str(&literal);
            }
        } else {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

pub fn case_name(case: &Value) -> &str {
    case["name"].as_str().unwrap_or("<unnamed>")
}

/// Run every case whose name `select` accepts; panic listing every failing case.
pub fn run_group(manifest: &Manifest, select: impl Fn(&Value) -> bool) {
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in manifest.cases.iter().filter(|c| select(c)) {
        ran += 1;
        let problems = run_case_guarded(&manifest.dir, case);
        if !problems.is_empty() {
            failures.push(format!(
                "case {} ({}):\n    {}",
                case_name(case),
                case["file"],
                problems.join("\n    ")
            ));
        }
    }
    assert!(ran > 0, "the group selected no case");
    if !failures.is_empty() {
        panic!("{} of {ran} cases differ from numpy:\n{}", failures.len(), failures.join("\n"));
    }
}

/// One case on its own thread: its problems, or the panic or the hang as one.
fn run_case_guarded(dir: &Path, case: &Value) -> Vec<String> {
    let (tx, rx) = mpsc::channel();
    let (dir, case) = (dir.to_path_buf(), case.clone());
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(move || run_case(&dir, &case));
        let _ = tx.send(result);
    });
    match rx.recv_timeout(CASE_TIME_LIMIT) {
        Ok(Ok(problems)) => problems,
        Ok(Err(panic)) => vec![format!("PANIC: {}", panic_message(&panic))],
        Err(_) => vec![format!("HANG: no result within {CASE_TIME_LIMIT:?}")],
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(non-string panic)".to_string())
}

fn run_case(dir: &Path, case: &Value) -> Vec<String> {
    let path = dir.join(case["file"].as_str().unwrap_or_default());
    if case.get("error").is_some() {
        check_error_case(&path, case)
    } else if case.get("archive").is_some() {
        check_npz_case(&path, case)
    } else {
        check_npy_case(&path, case)
    }
}

// ------------------------------------------------------------------------------------------
// What a table should hold

/// One expected column: its name, item type (extra dimensions included), and one value per row.
struct ExpectedColumn {
    name: String,
    dt: Dt,
    values: Vec<Value>,
    /// The type string, for a plain array's column (checked against `numpy.descr`).
    plain_descr: Option<String>,
    /// The field's type string, for a record field of a scalar type (checked against `numpy.descr`).
    field_descr: Option<String>,
    fortran_order: bool,
}

/// The type string of each record field of a scalar type (no sub-array, no nested record).
fn scalar_field_descrs(descr: &Value) -> BTreeMap<String, String> {
    let entries = descr.as_array().map(Vec::as_slice).unwrap_or_default();
    entries
        .iter()
        .filter_map(|entry| {
            let parts = entry.as_array()?;
            let name = match parts.first()? {
                Value::String(n) => n.clone(),
                Value::Array(title_name) => title_name.get(1)?.as_str()?.to_string(),
                _ => return None,
            };
            let ty = parts.get(1)?.as_str()?;
            (parts.len() == 2 && !name.is_empty()).then(|| (name, ty.to_string()))
        })
        .collect()
}

/// The columns of one array description (`descr`, `shape`, `fortran_order`, `values`):
/// a record's fields as columns (`.npy`, a member alone) or one column named `name`.
fn expected_columns(name: &str, array: &Value, split_record: bool) -> Result<Vec<ExpectedColumn>, String> {
    let dt = Dt::from_descr(&array["descr"])?;
    let shape: Vec<usize> = array["shape"]
        .as_array()
        .ok_or("no shape")?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize).ok_or("bad shape"))
        .collect::<Result<_, _>>()?;
    let extra = shape.get(1..).unwrap_or(&[]).to_vec();
    let rows = array["values"].as_array().ok_or("no values")?;
    let fortran_order = array["fortran_order"].as_bool().unwrap_or(false);
    let field_descrs = scalar_field_descrs(&array["descr"]);
    match dt {
        Dt::Record(fields) if split_record => Ok(fields
            .into_iter()
            .map(|(field, field_dt)| ExpectedColumn {
                values: rows.iter().map(|row| project_field(row, &field, extra.len())).collect(),
                field_descr: field_descrs.get(&field).cloned(),
                name: field,
                dt: field_dt.with_dims(&extra),
                plain_descr: None,
                fortran_order,
            })
            .collect()),
        dt => Ok(vec![ExpectedColumn {
            name: name.to_string(),
            plain_descr: array["descr"].as_str().map(str::to_string),
            field_descr: None,
            dt: dt.with_dims(&extra),
            values: rows.clone(),
            fortran_order,
        }]),
    }
}

/// The field `name` of every record inside `depth` levels of nested lists.
fn project_field(value: &Value, name: &str, depth: usize) -> Value {
    if depth == 0 {
        value.get(name).cloned().unwrap_or(Value::Null)
    } else {
        Value::Array(
            value
                .as_array()
                .map(|items| items.iter().map(|v| project_field(v, name, depth - 1)).collect())
                .unwrap_or_default(),
        )
    }
}

// ------------------------------------------------------------------------------------------
// Cases

fn check_npy_case(path: &Path, case: &Value) -> Vec<String> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
    let columns = match expected_columns(&stem, case, true) {
        Ok(c) => c,
        Err(e) => return vec![format!("test cannot read the case: {e}")],
    };
    let table = match NpyTable::open(path) {
        Ok(t) => t,
        Err(e) => return vec![format!("open failed: {e}")],
    };
    let mut problems = check_array_infos(&table, &[(stem, case)], Some(Storage::NpyFile));
    problems.extend(check_npy_layout(path, &table, &columns, case));
    problems.extend(check_table(&table, &columns, rows_of(case), true));
    problems
}

/// SPEC §2 and §4 for a `.npy`: the data offset is where the header ends, and a column is
/// zero-copy exactly when its bytes are little-endian, C-order, aligned primitives.
fn check_npy_layout(path: &Path, table: &NpyTable, columns: &[ExpectedColumn], case: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(offset) = data_offset_of(path) else {
        return vec!["test cannot read the file's preamble".into()];
    };
    let infos = table.arrays();
    let Some(info) = infos.first() else {
        return problems;
    };
    if info.data_offset != offset {
        problems.push(format!("data_offset {}, the header ends at {offset}", info.data_offset));
    }
    let shape = case["shape"].as_array().map(Vec::as_slice).unwrap_or_default();
    let no_data = shape.iter().any(|d| d.as_u64() == Some(0));
    if shape.is_empty() || no_data {
        // 0-d (one value) and empty arrays: nothing to say about zero-copy.
        return problems;
    }
    for col in columns {
        let want = expected_zero_copy(col, offset);
        let got = info.columns.iter().find(|(n, _)| *n == col.name).map(|(_, z)| *z);
        match (want, got) {
            (_, None) => problems.push(format!("arrays().columns has no '{}'", col.name)),
            (Some(w), Some(g)) if w != g => problems.push(format!(
                "column '{}': zero-copy {g}, expected {w} (descr {:?}, fortran {}, data offset {offset})",
                col.name, col.plain_descr, col.fortran_order
            )),
            _ => {}
        }
    }
    problems
}

/// `Some(zero-copy?)` where SPEC §4 is clear-cut, `None` where it leaves room (strings, times).
fn expected_zero_copy(col: &ExpectedColumn, data_offset: u64) -> Option<bool> {
    // A record field is strided, so usually converted; but a record whose only bytes are one
    // field is contiguous, and may be handed over as is. Either is right.
    let descr = col.plain_descr.as_ref()?;
    let order = descr.chars().next()?;
    let body = descr.trim_start_matches(['<', '>', '|', '=']);
    let kind = body.chars().next()?;
    let itemsize: u64 = body.get(1..)?.parse().ok()?;
    let little = order == '<'
        || order == '|'
        || (order == '=' && cfg!(target_endian = "little"))
        || order.is_ascii_alphabetic();
    if kind == 'b' || col.fortran_order || (!little && itemsize > 1) {
        return Some(false);
    }
    if !matches!(kind, 'i' | 'u' | 'f') {
        return None;
    }
    Some(data_offset.is_multiple_of(itemsize))
}

/// Where the data begin, from the file's own preamble (magic, version, header length).
fn data_offset_of(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    match bytes.get(6)? {
        1 => Some(10 + u64::from(u16::from_le_bytes(bytes.get(8..10)?.try_into().ok()?))),
        _ => Some(12 + u64::from(u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?))),
    }
}

/// The `.npy` members of the zip at `path`, in central-directory order, without `.npy`.
fn npy_members_in_archive_order(path: &Path) -> Result<Vec<String>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| e.to_string())?;
    let mut names = Vec::new();
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| e.to_string())?;
        let name = entry.name().map_err(|e| e.to_string())?;
        if let Some(stem) = name.strip_suffix(".npy") {
            names.push(stem.to_string());
        }
    }
    Ok(names)
}

fn check_npz_case(path: &Path, case: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let storage = match case["archive"].as_str() {
        Some("deflated") => Some(Storage::ZipDeflated),
        Some("stored") => Some(Storage::ZipStored),
        _ => None, // "mixed"
    };
    let empty = serde_json::Map::new();
    let members = case["members"].as_object().unwrap_or(&empty);
    let bad_members = case.get("bad_members").and_then(Value::as_object).unwrap_or(&empty);
    let unreadable = case.get("unreadable_members").and_then(Value::as_object).unwrap_or(&empty);

    // Archive order, read with the zip crate: the members' order as columns.
    let archive_order = match npy_members_in_archive_order(path) {
        Ok(order) => order,
        Err(e) => return vec![format!("test cannot list the archive: {e}")],
    };
    let mut sorted_order = archive_order.clone();
    sorted_order.sort();
    let mut listed: Vec<String> = members.keys().chain(unreadable.keys()).cloned().collect();
    listed.sort();
    if sorted_order != listed {
        return vec![format!("test data: archive members {archive_order:?} differ from expected.json's")];
    }
    match NpyTable::npz_member_names(path) {
        Ok(names) => {
            let npy_names: Vec<String> =
                names.iter().filter(|n| !bad_members.contains_key(*n)).cloned().collect();
            if npy_names != archive_order {
                problems.push(format!(
                    "npz_member_names {names:?}, the archive's .npy members are {archive_order:?}"
                ));
            }
        }
        Err(e) => problems.push(format!("npz_member_names failed: {e}")),
    }

    // Each member alone.
    for (member, array) in members {
        let label = format!("member '{member}'");
        let columns = match expected_columns(member, array, true) {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("{label}: test cannot read the case: {e}"));
                continue;
            }
        };
        match NpyTable::open_npz_member(path, member, &OpenOptions::default()) {
            Ok(table) => {
                let found = check_array_infos(&table, &[(member.clone(), array)], storage);
                let found = found.into_iter().chain(check_table(&table, &columns, rows_of(array), true));
                problems.extend(found.map(|p| format!("{label}: {p}")));
            }
            Err(e) => problems.push(format!("{label}: open_npz_member failed: {e}")),
        }
    }
    for (member, why) in bad_members.iter().chain(unreadable) {
        let outcome = open_and_read(|| NpyTable::open_npz_member(path, member, &OpenOptions::default()));
        problems.extend(expect_error(path, &format!("member '{member}' ({why})"), outcome, &[]));
    }
    if !unreadable.is_empty() {
        problems.extend(check_readable_part(path, &archive_order, members));
        return problems;
    }

    // The whole archive as one table.
    let mentions = mentions_of(case);
    if let Some(why) = case.get("table_error") {
        problems.extend(expect_error(
            path,
            &format!("whole archive ({why})"),
            open_and_read(|| NpyTable::open(path)),
            &mentions,
        ));
        return problems;
    }
    let optional = case.get("whole_table").is_some();
    match NpyTable::open(path) {
        Ok(table) => {
            let mut columns = Vec::new();
            let mut infos = Vec::new();
            for member in &archive_order {
                let array = &members[member];
                match expected_columns(member, array, false) {
                    Ok(c) => columns.extend(c),
                    Err(e) => problems.push(format!("member '{member}': test cannot read the case: {e}")),
                }
                infos.push((member.clone(), array));
            }
            let rows = members.values().next().map_or(0, rows_of);
            let found = check_array_infos(&table, &infos, storage);
            let found = found.into_iter().chain(check_table(&table, &columns, rows, true));
            problems.extend(found.map(|p| format!("whole archive: {p}")));
        }
        Err(e) if optional => {
            if !mentions_file(&e.to_string(), path) {
                problems.push(format!("whole archive: its error does not name the file: {e}"));
            }
        }
        Err(e) => problems.push(format!("whole archive: open failed: {e}")),
    }
    problems
}

/// An archive with members that cannot be read to the end: as one table it still opens (headers
/// are fine), a projection of the readable members reads numpy's values without touching the
/// others (SPEC §4, §9), and reading everything fails naming the file.
fn check_readable_part(
    path: &Path,
    archive_order: &[String],
    members: &serde_json::Map<String, Value>,
) -> Vec<String> {
    let table = match NpyTable::open(path) {
        Ok(t) => t,
        Err(e) => return vec![format!("whole archive: open failed although every header is readable: {e}")],
    };
    let mut problems = Vec::new();
    let schema = table.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    if names != archive_order {
        return vec![format!(
            "whole archive: columns {names:?}, the archive's members are {archive_order:?}"
        )];
    }
    let mut projection = Vec::new();
    let mut columns = Vec::new();
    for (i, name) in archive_order.iter().enumerate() {
        if let Some(array) = members.get(name) {
            match expected_columns(name, array, false) {
                Ok(c) => columns.extend(c),
                Err(e) => problems.push(format!("member '{name}': test cannot read the case: {e}")),
            }
            projection.push(i);
        }
    }
    let rows = members.values().next().map_or(0, rows_of);
    let pass = Pass { projection: Some(projection), ..Pass::new("readable members only", SMALL_BATCH) };
    match read(&table, &pass) {
        Ok(got) => {
            for (col, arr) in columns.iter().zip(&got.arrays) {
                problems.extend(
                    compare_column(col, arr, 0..rows).into_iter().map(|p| format!("{}: {p}", pass.label)),
                );
            }
        }
        Err(e) => problems.push(format!("{}: {e}", pass.label)),
    }
    let all = open_and_read(|| Ok(table));
    problems.extend(expect_error(path, "whole archive, every member", all, &[]));
    problems
}

fn check_error_case(path: &Path, case: &Value) -> Vec<String> {
    let why = case["error"].as_str().unwrap_or_default();
    let outcome = match case.get("member").and_then(Value::as_str) {
        Some(member) => open_and_read(|| NpyTable::open_npz_member(path, member, &OpenOptions::default())),
        None => open_and_read(|| NpyTable::open(path)),
    };
    expect_error(path, why, outcome, &mentions_of(case))
}

fn mentions_of(case: &Value) -> Vec<String> {
    case.get("mentions")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Open, then pull every batch: `Err(message)` of the first error, or `Ok(rows read)`.
fn open_and_read(open: impl FnOnce() -> datafusion_npy::Result<NpyTable>) -> Result<usize, String> {
    let table = open().map_err(|e| e.to_string())?;
    let reader = table.reader().build().map_err(|e| e.to_string())?;
    let mut rows = 0;
    for batch in reader {
        rows += batch.map_err(|e| e.to_string())?.num_rows();
    }
    Ok(rows)
}

fn expect_error(path: &Path, why: &str, outcome: Result<usize, String>, mentions: &[String]) -> Vec<String> {
    match outcome {
        Ok(rows) => vec![format!("expected an error ({why}), but it read {rows} rows")],
        Err(message) => {
            let mut problems = Vec::new();
            if !mentions_file(&message, path) {
                problems.push(format!("the error does not name the file: {message:?}"));
            }
            for m in mentions {
                if !message.contains(m.as_str()) {
                    problems.push(format!("the error does not mention {m:?}: {message:?}"));
                }
            }
            problems
        }
    }
}

fn mentions_file(message: &str, path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|name| message.contains(name))
}

fn rows_of(array: &Value) -> u64 {
    array["rows"].as_u64().unwrap_or(0)
}

// ------------------------------------------------------------------------------------------
// Header facts

/// `arrays()` describes each array as numpy wrote it: name, shape, order, storage.
fn check_array_infos(
    table: &NpyTable,
    expected: &[(String, &Value)],
    storage: Option<Storage>,
) -> Vec<String> {
    let infos = table.arrays();
    let mut problems = Vec::new();
    if infos.len() != expected.len() {
        problems.push(format!("arrays() has {} entries, expected {}", infos.len(), expected.len()));
    }
    let by_name: BTreeMap<&str, _> = infos.iter().map(|i| (i.name.as_str(), i)).collect();
    for (name, array) in expected {
        let Some(info) = by_name.get(name.as_str()) else {
            problems.push(format!("arrays() has no '{name}' (has {:?})", by_name.keys().collect::<Vec<_>>()));
            continue;
        };
        let shape: Vec<u64> = array["shape"]
            .as_array()
            .map(|s| s.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        if info.header.shape != shape {
            problems.push(format!("'{name}': header shape {:?}, numpy {:?}", info.header.shape, shape));
        }
        let fortran = array["fortran_order"].as_bool().unwrap_or(false);
        if info.header.fortran_order != fortran {
            problems.push(format!(
                "'{name}': header fortran_order {}, numpy {fortran}",
                info.header.fortran_order
            ));
        }
        if info.header.num_rows() != rows_of(array) {
            problems.push(format!(
                "'{name}': header rows {}, numpy {}",
                info.header.num_rows(),
                rows_of(array)
            ));
        }
        if let Some(storage) = storage.filter(|s| *s != info.storage) {
            problems.push(format!("'{name}': storage {:?}, expected {storage:?}", info.storage));
        }
    }
    problems
}

// ------------------------------------------------------------------------------------------
// The table: schema, metadata, and values read several ways

fn check_table(table: &NpyTable, columns: &[ExpectedColumn], rows: u64, ordered: bool) -> Vec<String> {
    let mut problems = Vec::new();
    if table.num_rows() != rows {
        problems.push(format!("num_rows {}, numpy {rows}", table.num_rows()));
    }
    let schema = table.schema();
    // Schema position of each expected column (by name; in order when the order is known).
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let want_names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let mut sorted = (names.clone(), want_names.clone());
    sorted.0.sort_unstable();
    sorted.1.sort_unstable();
    if (ordered && names != want_names) || sorted.0 != sorted.1 {
        let got: Vec<String> =
            schema.fields().iter().map(|f| format!("{}: {}", f.name(), type_shape(f.data_type()))).collect();
        problems.push(format!("columns [{}], expected {want_names:?}", got.join(", ")));
        return problems;
    }
    let order: Vec<usize> =
        names.iter().map(|n| want_names.iter().position(|w| w == n).unwrap_or(0)).collect();

    let mut comparable = vec![true; columns.len()];
    for (i, field) in schema.fields().iter().enumerate() {
        let col = &columns[order[i]];
        match col.dt.arrow_type() {
            Ok(want) if type_shape(&want) == type_shape(field.data_type()) => {}
            Ok(want) => {
                problems.push(format!(
                    "column '{}': type {}, SPEC §3 says {}",
                    col.name,
                    type_shape(field.data_type()),
                    type_shape(&want)
                ));
                comparable[i] = false;
            }
            Err(e) => {
                problems.push(format!("column '{}': test has no type for it: {e}", col.name));
                comparable[i] = false;
            }
        }
        problems.extend(check_metadata(field.metadata(), col));
    }

    for pass in passes(columns.len(), rows) {
        problems.extend(
            check_pass(table, &pass, columns, &names, &order, &comparable, rows)
                .into_iter()
                .map(|p| format!("{}: {p}", pass.label)),
        );
    }
    problems
}

/// One way of reading a table.
struct Pass {
    label: String,
    batch_size: usize,
    batch_bytes: Option<usize>,
    projection: Option<Vec<usize>>,
    rows: Option<Range<u64>>,
    /// `with_row_number("_row", offset)`.
    row_number: Option<i64>,
}

impl Pass {
    fn new(label: impl Into<String>, batch_size: usize) -> Pass {
        Pass {
            label: label.into(),
            batch_size,
            batch_bytes: None,
            projection: None,
            rows: None,
            row_number: None,
        }
    }
}

/// Default batches; small batches (crossing many boundaries); row ranges inside and past the
/// end; one-row batches by byte budget; projections; a row-number column.
fn passes(columns: usize, rows: u64) -> Vec<Pass> {
    let small = if rows > 10_000 { SMALL_BATCH_FOR_BIG_FILES } else { SMALL_BATCH };
    let middle = rows / 3..rows - rows / 4 + 1;
    let tail = rows.saturating_sub(2)..rows + 5;
    let mut out = vec![
        Pass::new("default batches", 65_536),
        Pass::new(format!("batches of {small}"), small),
        Pass {
            rows: Some(middle.clone()),
            ..Pass::new(format!("rows {middle:?} in batches of {small}"), small)
        },
        Pass { rows: Some(tail.clone()), ..Pass::new(format!("rows {tail:?} (past the end)"), small) },
        Pass {
            rows: Some(middle.clone()),
            row_number: Some(1000),
            ..Pass::new(format!("rows {middle:?} with _row + 1000"), small)
        },
    ];
    if rows <= 10_000 {
        out.push(Pass { batch_bytes: Some(1), ..Pass::new("batch_bytes 1 (one row per batch)", 65_536) });
    }
    let at = rows / 2..rows / 2;
    out.push(Pass { rows: Some(at.clone()), ..Pass::new(format!("empty row range {at:?}"), small) });
    // No columns at all (what `count(*)` asks of a scan): only the row count matters.
    out.push(Pass { projection: Some(vec![]), ..Pass::new("empty projection", small) });
    if columns > 1 {
        let reversed: Vec<usize> = (0..columns).rev().collect();
        out.push(Pass {
            projection: Some(reversed),
            rows: Some(1..rows),
            ..Pass::new("projection reversed, rows 1..", small)
        });
        out.push(Pass {
            projection: Some(vec![columns - 1]),
            ..Pass::new(format!("projection [{}]", columns - 1), small)
        });
    }
    out
}

fn check_pass(
    table: &NpyTable,
    pass: &Pass,
    columns: &[ExpectedColumn],
    names: &[&str],
    order: &[usize],
    comparable: &[bool],
    rows: u64,
) -> Vec<String> {
    let mut problems = Vec::new();
    let projected = pass.projection.clone().unwrap_or_else(|| (0..columns.len()).collect());
    let range = pass.rows.clone().map(|r| r.start.min(rows)..r.end.min(rows)).unwrap_or(0..rows);
    let mut want_names: Vec<String> = projected.iter().map(|&i| names[i].to_string()).collect();
    if pass.row_number.is_some() {
        want_names.push("_row".into());
    }
    let read = match read(table, pass) {
        Ok(r) => r,
        Err(e) => return vec![e],
    };
    for schema in read.schemas.iter() {
        let got: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        if got != want_names {
            problems.push(format!("columns {got:?}, expected {want_names:?}"));
            return problems;
        }
    }
    let total: usize = read.batch_rows.iter().sum();
    if total as u64 != range.end - range.start {
        problems.push(format!("{total} rows read, expected {} ({range:?})", range.end - range.start));
    }
    if pass.batch_bytes == Some(1) && read.batch_rows.iter().any(|&n| n != 1) {
        problems.push(format!("batch_bytes 1 gave batches of {:?} rows, expected 1 each", read.batch_rows));
    }
    if read.arrays.len() != want_names.len() {
        problems.push(format!("{} columns read, expected {}", read.arrays.len(), want_names.len()));
        return problems;
    }
    for (arr, &i) in read.arrays.iter().zip(&projected) {
        if comparable[i] {
            problems.extend(compare_column(&columns[order[i]], arr, range.clone()));
        }
    }
    if let (Some(offset), Some(arr)) = (pass.row_number, read.arrays.last()) {
        let want: Vec<i64> = range.clone().map(|r| r as i64 + offset).collect();
        match arr.as_primitive_opt::<Int64Type>() {
            Some(got) if got.values().to_vec() == want && got.null_count() == 0 => {}
            Some(got) => problems.push(format!(
                "_row holds {:?}..., expected {:?}...",
                &got.values()[..got.len().min(5)],
                &want[..want.len().min(5)]
            )),
            None => problems.push(format!("_row is {:?}, expected Int64", arr.data_type())),
        }
    }
    problems
}

fn check_metadata(metadata: &std::collections::HashMap<String, String>, col: &ExpectedColumn) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(descr) = &col.plain_descr {
        let got = metadata.get("numpy.descr").map(|d| d.trim_matches(|c| c == '\'' || c == '"'));
        if got != Some(descr.as_str()) {
            problems.push(format!(
                "column '{}': numpy.descr metadata {:?}, header says {descr:?}",
                col.name,
                metadata.get("numpy.descr")
            ));
        }
        let fortran = metadata.get("numpy.fortran_order").map(String::as_str);
        let ok =
            if col.fortran_order { fortran == Some("true") } else { matches!(fortran, None | Some("false")) };
        if !ok {
            problems.push(format!(
                "column '{}': numpy.fortran_order metadata {fortran:?}, file says {}",
                col.name, col.fortran_order
            ));
        }
    }
    if let Some(descr) = &col.field_descr {
        let got = metadata.get("numpy.descr").map(|d| d.trim_matches(|c| c == '\'' || c == '"'));
        if got != Some(descr.as_str()) {
            problems.push(format!(
                "record field '{}': numpy.descr metadata {:?}, the record says {descr:?}",
                col.name,
                metadata.get("numpy.descr")
            ));
        }
    }
    problems
}

/// What one pass read: the reader's and every batch's schema, each batch's row count, and each
/// column's batches concatenated.
struct Read {
    schemas: Vec<SchemaRef>,
    batch_rows: Vec<usize>,
    arrays: Vec<ArrayRef>,
}

fn read(table: &NpyTable, pass: &Pass) -> Result<Read, String> {
    let mut builder = table.reader().with_batch_size(pass.batch_size);
    if let Some(rows) = &pass.rows {
        builder = builder.with_row_range(rows.clone());
    }
    if let Some(bytes) = pass.batch_bytes {
        builder = builder.with_batch_bytes(bytes);
    }
    if let Some(p) = &pass.projection {
        builder = builder.with_projection(p.clone());
    }
    if let Some(offset) = pass.row_number {
        builder = builder.with_row_number("_row", offset);
    }
    let reader = builder.build().map_err(|e| format!("build failed: {e}"))?;
    let mut schemas = vec![RecordBatchReader::schema(&reader)];
    let mut batch_rows = Vec::new();
    let mut parts: Vec<Vec<ArrayRef>> = Vec::new();
    for (n, item) in reader.enumerate() {
        let b = item.map_err(|e| format!("batch {n} failed: {e}"))?;
        if b.num_rows() > pass.batch_size {
            return Err(format!(
                "batch {n} has {} rows, more than the batch size {}",
                b.num_rows(),
                pass.batch_size
            ));
        }
        parts.resize_with(b.num_columns(), Vec::new);
        for (i, col) in b.columns().iter().enumerate() {
            parts[i].push(col.clone());
        }
        batch_rows.push(b.num_rows());
        schemas.push(b.schema());
    }
    if parts.is_empty() {
        // No batch at all (no rows): the columns are the reader schema's, empty.
        let fields = schemas[0].fields();
        return Ok(Read {
            arrays: fields.iter().map(|f| new_empty_array(f.data_type())).collect(),
            schemas,
            batch_rows,
        });
    }
    let arrays = parts
        .iter()
        .map(|p| {
            let refs: Vec<&dyn Array> = p.iter().map(|a| a.as_ref()).collect();
            concat(&refs).map_err(|e| format!("cannot concatenate the batches: {e}"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Read { schemas, batch_rows, arrays })
}

fn compare_column(col: &ExpectedColumn, array: &ArrayRef, range: Range<u64>) -> Vec<String> {
    let want = &col.values[range.start as usize..range.end as usize];
    if array.len() != want.len() {
        return vec![format!(
            "column '{}': {} rows, numpy has {} in {range:?}",
            col.name,
            array.len(),
            want.len()
        )];
    }
    let mut problems = Vec::new();
    let mut more = 0;
    for (i, value) in want.iter().enumerate() {
        let row = range.start as usize + i;
        if let Err(e) = check_value(value, &col.dt, array.as_ref(), i, &format!("'{}'[{row}]", col.name)) {
            if problems.len() < MAX_VALUE_REPORTS {
                problems.push(e);
            } else {
                more += 1;
            }
        }
    }
    if more > 0 {
        problems.push(format!("column '{}': {more} more values differ", col.name));
    }
    problems
}
