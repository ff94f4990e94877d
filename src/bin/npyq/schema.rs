//! `npyq schema PATH`: what a `.npy`/`.npz` becomes in Arrow, and the numpy facts behind it.
//!
//! ```text
//! sql-examples/data/ds.npz: 1000 rows, 2 columns
//!
//! schema:
//!   features: FixedSizeList(16, Float32) not null
//!   labels: Int64 not null
//!
//! array features:
//!   storage      stored
//!   descr        '<f4'
//!   ...
//! ```
//!
//! Only headers are read (of a remote object, `s3://...`, by range: no data fetched). An `.npz` whose members disagree on their length is no single table;
//! then each member is shown with its own schema, after a line saying so.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::bail;
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use datafusion_npy::format::table::{ArrayInfo, Storage};
use datafusion_npy::{ErrorKind, NpyTable, OpenOptions};

pub fn run(path: &Path) -> anyhow::Result<()> {
    let text = describe(path)?;
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// The whole report for `path`.
pub fn describe(path: &Path) -> anyhow::Result<String> {
    let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let is_npz = match extension.as_deref() {
        Some("npy") => false,
        Some("npz") => true,
        _ => bail!("{}: not a .npy or .npz file (npyq schema reads those)", path.display()),
    };
    if datafusion_npy::datasource::object_stores::is_remote(&path.to_string_lossy()) {
        return describe_remote(&path.to_string_lossy(), is_npz);
    }
    match NpyTable::open(path) {
        Ok(table) => Ok(describe_table(&path.display().to_string(), &table)),
        Err(e) if is_npz && matches!(e.kind, ErrorKind::LengthMismatch { .. }) => {
            describe_members(path, &e.kind)
        }
        Err(e) => Err(e.in_file(path).into()),
    }
}

/// An archive whose members cannot form one table: each member as its own table.
fn describe_members(path: &Path, mismatch: &ErrorKind) -> anyhow::Result<String> {
    let mut out = format!("{}: {mismatch}; each member is its own table\n", path.display());
    for member in NpyTable::npz_member_names(path).map_err(|e| e.in_file(path))? {
        let table =
            NpyTable::open_npz_member(path, &member, &OpenOptions::default()).map_err(|e| e.in_file(path))?;
        out.push('\n');
        out.push_str(&describe_table(&format!("{}[{member}]", path.display()), &table));
    }
    Ok(out)
}

/// An object of a remote store (`s3://...`), from its headers fetched by range: a `.npy`'s
/// first bytes, an `.npz`'s zip directory and member headers; no data.
fn describe_remote(url: &str, is_npz: bool) -> anyhow::Result<String> {
    use datafusion_npy::datasource::remote::{head_url, open_ranged, open_ranged_npz};
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let env = datafusion::execution::runtime_env::RuntimeEnv::default();
    let options = OpenOptions::default();
    runtime.block_on(async {
        let (store, meta) = head_url(&env, url).await?;
        if !is_npz {
            let ranged = open_ranged(store.as_ref(), &meta, url, &options).await?;
            return Ok(describe_parts(url, &ranged.schema(), ranged.num_rows(), &ranged.arrays()?));
        }
        match open_ranged_npz(store.as_ref(), &meta, url, &options, None).await {
            Ok(npz) => Ok(describe_parts(url, &npz.schema(), npz.num_rows(), &npz.arrays()?)),
            Err(datafusion::error::DataFusionError::External(e)) => {
                let Some(ErrorKind::LengthMismatch { lengths }) = e.downcast_ref::<datafusion_npy::NpyError>().map(|e| &e.kind) else {
                    return Err(anyhow::Error::from(datafusion::error::DataFusionError::External(e)));
                };
                let mismatch = ErrorKind::LengthMismatch { lengths: lengths.clone() };
                let mut out = format!("{url}: {mismatch}; each member is its own table\n");
                for (member, _) in lengths {
                    let npz = open_ranged_npz(store.as_ref(), &meta, url, &options, Some(member)).await?;
                    out.push('\n');
                    out.push_str(&describe_parts(&format!("{url}[{member}]"), &npz.schema(), npz.num_rows(), &npz.arrays()?));
                }
                Ok(out)
            }
            Err(e) => Err(e.into()),
        }
    })
}

fn describe_table(title: &str, table: &NpyTable) -> String {
    describe_parts(title, &table.schema(), table.num_rows(), &table.arrays())
}

fn describe_parts(title: &str, schema: &Schema, rows: u64, arrays: &[ArrayInfo]) -> String {
    let mut out = String::new();
    let columns = schema.fields().len();
    let _ = writeln!(
        out,
        "{title}: {rows} {}, {columns} {}",
        plural(rows, "row"),
        plural(columns as u64, "column")
    );
    out.push_str("\nschema:\n");
    out.push_str(&describe_schema(schema));
    for array in arrays {
        out.push('\n');
        out.push_str(&describe_array(array));
    }
    out
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        word.to_string()
    } else {
        format!("{word}s")
    }
}

/// One line per field, `name: Type not null|nullable`; struct children indented below.
pub fn describe_schema(schema: &Schema) -> String {
    let mut out = String::new();
    for field in schema.fields() {
        describe_field(field, 1, &mut out);
    }
    out
}

fn describe_field(field: &Field, depth: usize, out: &mut String) {
    let nullability = if field.is_nullable() { "nullable" } else { "not null" };
    let _ = writeln!(
        out,
        "{}{}: {} {nullability}",
        "  ".repeat(depth),
        field.name(),
        type_name(field.data_type())
    );
    if let Some(children) = struct_children(field.data_type()) {
        for child in children {
            describe_field(child, depth + 1, out);
        }
    }
}

/// The fields of the struct a type is, or holds inside (nested) lists.
fn struct_children(data_type: &DataType) -> Option<&[std::sync::Arc<Field>]> {
    match data_type {
        DataType::Struct(fields) => Some(fields),
        DataType::FixedSizeList(item, _) | DataType::List(item) | DataType::LargeList(item) => {
            struct_children(item.data_type())
        }
        _ => None,
    }
}

/// A short, readable name for an Arrow type: `FixedSizeList(16, Float32)`, `Timestamp(ms)`.
pub fn type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Timestamp(unit, None) => format!("Timestamp({})", unit_name(unit)),
        DataType::Timestamp(unit, Some(zone)) => format!("Timestamp({}, {zone})", unit_name(unit)),
        DataType::Duration(unit) => format!("Duration({})", unit_name(unit)),
        DataType::FixedSizeList(item, size) => {
            format!("FixedSizeList({size}, {})", type_name(item.data_type()))
        }
        DataType::List(item) => format!("List({})", type_name(item.data_type())),
        DataType::LargeList(item) => format!("LargeList({})", type_name(item.data_type())),
        DataType::FixedSizeBinary(size) => format!("FixedSizeBinary({size})"),
        DataType::Struct(_) => "Struct".to_string(),
        other => other.to_string(),
    }
}

fn unit_name(unit: &TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Second => "s",
        TimeUnit::Millisecond => "ms",
        TimeUnit::Microsecond => "us",
        TimeUnit::Nanosecond => "ns",
    }
}

/// The numpy facts of one array (a `.npy` file or an `.npz` member).
fn describe_array(array: &ArrayInfo) -> String {
    let header = &array.header;
    let storage = match array.storage {
        Storage::NpyFile => "npy file",
        Storage::ZipStored => "stored (.npz member)",
        Storage::ZipDeflated => "deflated (.npz member)",
    };
    let offset_note = match array.storage {
        Storage::ZipDeflated => " (in the inflated member)",
        _ => "",
    };
    let columns = array
        .columns
        .iter()
        .map(|(name, zero_copy)| format!("{name} ({})", if *zero_copy { "zero-copy" } else { "copied" }))
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = String::new();
    let _ = writeln!(out, "array {}:", array.name);
    let _ = writeln!(out, "  storage      {storage}");
    let _ = writeln!(out, "  descr        {}", header.descr);
    let _ = writeln!(out, "  shape        {}", python_tuple(&header.shape));
    let _ = writeln!(out, "  order        {}", if header.fortran_order { "Fortran" } else { "C" });
    let _ = writeln!(out, "  version      {}.{}", header.version.0, header.version.1);
    let _ = writeln!(out, "  data offset  {}{offset_note}", array.data_offset);
    let _ = writeln!(out, "  columns      {columns}");
    out
}

/// A shape the way numpy prints it: `()`, `(5,)`, `(1000, 16)`.
fn python_tuple(shape: &[u64]) -> String {
    match shape {
        [] => "()".to_string(),
        [one] => format!("({one},)"),
        many => format!("({})", many.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_print_like_numpy() {
        assert_eq!(python_tuple(&[]), "()");
        assert_eq!(python_tuple(&[5]), "(5,)");
        assert_eq!(python_tuple(&[1000, 16]), "(1000, 16)");
    }

    #[test]
    fn nested_types_are_readable() {
        let inner =
            DataType::FixedSizeList(std::sync::Arc::new(Field::new("item", DataType::Float32, false)), 3);
        let outer = DataType::FixedSizeList(std::sync::Arc::new(Field::new("item", inner, false)), 2);
        assert_eq!(type_name(&outer), "FixedSizeList(2, FixedSizeList(3, Float32))");
        assert_eq!(type_name(&DataType::Timestamp(TimeUnit::Millisecond, None)), "Timestamp(ms)");
        assert_eq!(type_name(&DataType::Duration(TimeUnit::Nanosecond)), "Duration(ns)");
    }

    #[test]
    fn struct_children_are_indented() {
        let z = Field::new(
            "z",
            DataType::Struct(
                vec![
                    Field::new("real", DataType::Float64, false),
                    Field::new("imag", DataType::Float64, false),
                ]
                .into(),
            ),
            false,
        );
        let schema = Schema::new(vec![z, Field::new("t", DataType::Timestamp(TimeUnit::Second, None), true)]);
        assert_eq!(
            describe_schema(&schema),
            "  z: Struct not null\n    real: Float64 not null\n    imag: Float64 not null\n  t: Timestamp(s) nullable\n"
        );
    }
}
