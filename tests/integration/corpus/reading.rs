//! Reading a table several ways (default batches, small batches, row ranges, byte budgets,
//! projections, a row-number column) and comparing schema, metadata and every value with what
//! numpy says.

use std::collections::HashMap;
use std::ops::Range;

use datafusion::arrow::array::{new_empty_array, Array, ArrayRef, AsArray};
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::{Int64Type, SchemaRef};
use datafusion::arrow::record_batch::RecordBatchReader;
use datafusion_npy::NpyTable;

use super::dtype::type_shape;
use super::expected::ExpectedColumn;
use super::values::check_value;

/// Mismatching values reported per column and pass before the rest are only counted.
const MAX_VALUE_REPORTS: usize = 4;
/// Small batches, to cross batch boundaries often; larger for big files, to keep the run short.
pub const SMALL_BATCH: usize = 7;
const SMALL_BATCH_FOR_BIG_FILES: usize = 4099;

pub fn check_table(table: &NpyTable, columns: &[ExpectedColumn], rows: u64, ordered: bool) -> Vec<String> {
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
pub struct Pass {
    pub label: String,
    pub batch_size: usize,
    pub batch_bytes: Option<usize>,
    pub projection: Option<Vec<usize>>,
    pub rows: Option<Range<u64>>,
    /// `with_row_number("_row", offset)`.
    pub row_number: Option<i64>,
}

impl Pass {
    pub fn new(label: impl Into<String>, batch_size: usize) -> Pass {
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

fn check_metadata(metadata: &HashMap<String, String>, col: &ExpectedColumn) -> Vec<String> {
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
pub struct Read {
    pub schemas: Vec<SchemaRef>,
    pub batch_rows: Vec<usize>,
    pub arrays: Vec<ArrayRef>,
}

pub fn read(table: &NpyTable, pass: &Pass) -> Result<Read, String> {
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

pub fn compare_column(col: &ExpectedColumn, array: &ArrayRef, range: Range<u64>) -> Vec<String> {
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
