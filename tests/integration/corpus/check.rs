//! Running one `expected.json` case against the reader: `.npy` files, `.npz` archives (each
//! member alone and the archive as one table) and files that must be refused.
//!
//! Each case runs on its own thread with a time limit, so a panic or a hang in the reader is
//! reported as that case's failure instead of stopping the run.

// The closures here return the crate's `Result`, whose error type is large; that is the crate's
// choice, not something to repeat at every call site.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use datafusion_npy::format::table::Storage;
use datafusion_npy::{NpyTable, OpenOptions};
use serde_json::Value;

use super::expected::{case_name, expected_columns, rows_of, ExpectedColumn, Manifest};
use super::reading::{check_table, compare_column, read, Pass, SMALL_BATCH};

/// How long one case may take (debug builds, 200,000 rows read several ways).
const CASE_TIME_LIMIT: Duration = Duration::from_secs(180);

pub fn run_group(manifest: &Manifest, select: impl Fn(&Value) -> bool) {
    run_group_with(manifest, select, &OpenOptions::default());
}

/// [`run_group`] with these options for every open (e.g. `mmap: false`: read private copies).
pub fn run_group_with(manifest: &Manifest, select: impl Fn(&Value) -> bool, options: &OpenOptions) {
    check_cases(manifest, select, "differ from numpy", |case| run_case_guarded(&manifest.dir, case, options));
}

/// Run `check` on every case `select` accepts (a panic counts as a problem), then fail once,
/// listing every case that has problems: "N of M cases {what}".
pub fn check_cases(
    manifest: &Manifest,
    select: impl Fn(&Value) -> bool,
    what: &str,
    mut check: impl FnMut(&Value) -> Vec<String>,
) {
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in manifest.cases.iter().filter(|c| select(c)) {
        ran += 1;
        let problems = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(case)))
            .unwrap_or_else(|_| vec!["PANIC (see the output above)".to_string()]);
        if !problems.is_empty() {
            failures.push(format!("case {} ({}):\n    {}", case_name(case), case["file"], problems.join("\n    ")));
        }
    }
    assert!(ran > 0, "the group selected no case");
    assert!(failures.is_empty(), "{} of {ran} cases {what}:\n{}", failures.len(), failures.join("\n"));
}

/// One case on its own thread: its problems, or the panic or the hang as one.
fn run_case_guarded(dir: &Path, case: &Value, options: &OpenOptions) -> Vec<String> {
    let (tx, rx) = mpsc::channel();
    let (dir, case, options) = (dir.to_path_buf(), case.clone(), options.clone());
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(move || run_case(&dir, &case, &options));
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

fn run_case(dir: &Path, case: &Value, options: &OpenOptions) -> Vec<String> {
    let path = dir.join(case["file"].as_str().unwrap_or_default());
    if case.get("error").is_some() {
        check_error_case(&path, case, options)
    } else if case.get("archive").is_some() {
        check_npz_case(&path, case, options)
    } else {
        check_npy_case(&path, case, options)
    }
}

fn check_npy_case(path: &Path, case: &Value, options: &OpenOptions) -> Vec<String> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
    let columns = match expected_columns(&stem, case, true) {
        Ok(c) => c,
        Err(e) => return vec![format!("test cannot read the case: {e}")],
    };
    let table = match NpyTable::open_with(path, options) {
        Ok(t) => t,
        Err(e) => return vec![format!("open failed: {e}")],
    };
    let mut problems = check_array_infos(&table, &[(stem, case)], Some(Storage::NpyFile));
    if options.mmap {
        // Zero-copy means "points into the map"; a private copy is another matter.
        problems.extend(check_npy_layout(path, &table, &columns, case));
    }
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
pub fn npy_members_in_archive_order(path: &Path) -> Result<Vec<String>, String> {
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

fn check_npz_case(path: &Path, case: &Value, options: &OpenOptions) -> Vec<String> {
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
        match NpyTable::open_npz_member(path, member, options) {
            Ok(table) => {
                let found = check_array_infos(&table, &[(member.clone(), array)], storage);
                let found = found.into_iter().chain(check_table(&table, &columns, rows_of(array), true));
                problems.extend(found.map(|p| format!("{label}: {p}")));
            }
            Err(e) => problems.push(format!("{label}: open_npz_member failed: {e}")),
        }
    }
    for (member, why) in bad_members.iter().chain(unreadable) {
        let outcome = open_and_read(|| NpyTable::open_npz_member(path, member, options));
        problems.extend(expect_error(path, &format!("member '{member}' ({why})"), outcome, &[]));
    }
    if !unreadable.is_empty() {
        problems.extend(check_readable_part(path, &archive_order, members, options));
        return problems;
    }

    // The whole archive as one table.
    let mentions = mentions_of(case);
    if let Some(why) = case.get("table_error") {
        problems.extend(expect_error(
            path,
            &format!("whole archive ({why})"),
            open_and_read(|| NpyTable::open_with(path, options)),
            &mentions,
        ));
        return problems;
    }
    let optional = case.get("whole_table").is_some();
    match NpyTable::open_with(path, options) {
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
    options: &OpenOptions,
) -> Vec<String> {
    let table = match NpyTable::open_with(path, options) {
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

fn check_error_case(path: &Path, case: &Value, options: &OpenOptions) -> Vec<String> {
    let why = case["error"].as_str().unwrap_or_default();
    let outcome = match case.get("member").and_then(Value::as_str) {
        Some(member) => open_and_read(|| NpyTable::open_npz_member(path, member, options)),
        None => open_and_read(|| NpyTable::open_with(path, options)),
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
