//! What numpy says a case holds: the manifest (`expected.json`) and, for one array description,
//! the columns a table of it must have and their values row by row.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::dtype::Dt;

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
/// One expected column: its name, item type (extra dimensions included), and one value per row.
pub struct ExpectedColumn {
    pub name: String,
    pub dt: Dt,
    pub values: Vec<Value>,
    /// The type string, for a plain array's column (checked against `numpy.descr`).
    pub plain_descr: Option<String>,
    /// The field's type string, for a record field of a scalar type (checked against `numpy.descr`).
    pub field_descr: Option<String>,
    pub fortran_order: bool,
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
pub fn expected_columns(
    name: &str,
    array: &Value,
    split_record: bool,
) -> Result<Vec<ExpectedColumn>, String> {
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

/// Rows of an array description (`rows`).
pub fn rows_of(array: &Value) -> u64 {
    array["rows"].as_u64().unwrap_or(0)
}
