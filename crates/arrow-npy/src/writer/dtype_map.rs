//! Arrow type → numpy dtype: the inverse of `crate::schema` (SPEC §3, §7).
//!
//! The table is the second half of [`crate::type_table`].
//!
//! numpy reads `S`/`U` values without their trailing NULs, so a value that ends in `\0` comes
//! back shorter; interior NULs survive. Non-null NaN payloads are written as they are.
//!
//! Types the table does not list (list views, ragged lists, decimals, times of day, intervals,
//! maps, unions, Null) have no numpy form and are refused, naming the column.
//!
//! Widths of `U`/`S` and the length of a List's rows depend on the data. Such a type is a
//! *variable leaf*; the leaves are numbered depth-first (a list before the leaves of its
//! items), and [`numpy_dtype`] takes their widths in that order (see [`measure_widths`]).
//!
//! Fields carrying `numpy.descr` metadata (what the reader writes) get that exact dtype back
//! when it fits the data (see `super::provenance`): string widths, padding, offsets, titles.

use crate::arrow::array::{Array, AsArray};
use crate::arrow::datatypes::{DataType, Fields, TimeUnit as ArrowTimeUnit};

use super::provenance::refine;
use crate::error::{ErrorKind, NpyError, Result};
use crate::dtype::{DType, Endian, Record, RecordField, TimeUnit};

/// How many `U`/`S` leaves (widths known only from the data) `data_type` has.
pub fn variable_leaves(data_type: &DataType) -> usize {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => 1,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => 1,
        DataType::Struct(fields) => fields.iter().map(|f| variable_leaves(f.data_type())).sum(),
        DataType::FixedSizeList(item, _) => variable_leaves(item.data_type()),
        DataType::List(item) | DataType::LargeList(item) => 1 + variable_leaves(item.data_type()),
        DataType::Dictionary(_, values) => variable_leaves(values),
        _ => 0,
    }
}

/// A list leaf's width before any row was seen (see [`initial_widths`]).
pub const UNSEEN_LIST_LEN: usize = usize::MAX;

/// The starting width of each variable leaf of `data_type`, depth-first: 0 for strings and
/// binaries (widened to the longest value), [`UNSEEN_LIST_LEN`] for lists (set by the first
/// non-null row, which every other row must then match).
pub fn initial_widths(data_type: &DataType) -> Vec<usize> {
    let mut out = Vec::new();
    fn walk(data_type: &DataType, out: &mut Vec<usize>) {
        match data_type {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => out.push(0),
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => out.push(0),
            DataType::Struct(fields) => fields.iter().for_each(|f| walk(f.data_type(), out)),
            DataType::FixedSizeList(item, _) => walk(item.data_type(), out),
            DataType::List(item) | DataType::LargeList(item) => {
                out.push(UNSEEN_LIST_LEN);
                walk(item.data_type(), out);
            }
            DataType::Dictionary(_, values) => walk(values, out),
            _ => {}
        }
    }
    walk(data_type, &mut out);
    out
}

/// The numpy item type of a column of `data_type` named `path` (a dotted path for nested
/// fields, used in errors). `widths` yields the width of each variable leaf, depth-first.
pub fn numpy_dtype(path: &str, data_type: &DataType, widths: &mut dyn Iterator<Item = usize>) -> Result<DType> {
    let le = Endian::Little;
    Ok(match data_type {
        DataType::Boolean => DType::Bool,
        DataType::Int8 => DType::Int { bytes: 1, signed: true, endian: le },
        DataType::Int16 => DType::Int { bytes: 2, signed: true, endian: le },
        DataType::Int32 => DType::Int { bytes: 4, signed: true, endian: le },
        DataType::Int64 => DType::Int { bytes: 8, signed: true, endian: le },
        DataType::UInt8 => DType::Int { bytes: 1, signed: false, endian: le },
        DataType::UInt16 => DType::Int { bytes: 2, signed: false, endian: le },
        DataType::UInt32 => DType::Int { bytes: 4, signed: false, endian: le },
        DataType::UInt64 => DType::Int { bytes: 8, signed: false, endian: le },
        DataType::Float16 => DType::Float { bytes: 2, endian: le },
        DataType::Float32 => DType::Float { bytes: 4, endian: le },
        DataType::Float64 => DType::Float { bytes: 8, endian: le },
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            DType::Unicode { chars: next_width(widths), endian: le }
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => DType::Bytes { len: next_width(widths) },
        DataType::FixedSizeBinary(len) => DType::Void { len: positive(path, data_type, *len)? },
        DataType::Timestamp(unit, _) => datetime(unit_of(*unit)),
        DataType::Date32 => datetime(TimeUnit::Day),
        DataType::Date64 => datetime(TimeUnit::Millisecond),
        DataType::Duration(unit) => DType::TimeDelta { unit: unit_of(*unit), multiple: 1, endian: le },
        DataType::Struct(fields) => match complex_bytes(fields) {
            Some(bytes) => DType::Complex { bytes, endian: le },
            None => DType::Record(record(path, fields, widths)?),
        },
        DataType::FixedSizeList(item, len) => {
            // A zero-length axis is fine in numpy (shape (3, 0)); a negative one cannot happen.
            let len = usize::try_from(*len).map_err(|_| unwritable_type(path, data_type, "negative list size"))?;
            sub_array_of(len, numpy_dtype(path, item.data_type(), widths)?)
        }
        DataType::List(item) | DataType::LargeList(item) => {
            // Rows of one length (checked as they are measured): an extra dimension. No rows at
            // all give length 0, shape (0, 0), as numpy's `np.empty((0, 0))`.
            let len = widths.next().filter(|&n| n != UNSEEN_LIST_LEN).unwrap_or(0);
            sub_array_of(len, numpy_dtype(path, item.data_type(), widths)?)
        }
        DataType::Dictionary(_, values) => numpy_dtype(path, values, widths)?,
        other => return Err(unwritable_type(path, other, reason_for(other))),
    })
}

/// `len` items of `item` as a sub-array; nested lists become one sub-array with more
/// dimensions, as numpy has it.
fn sub_array_of(len: usize, item: DType) -> DType {
    match item {
        DType::SubArray { base, mut shape } => {
            shape.insert(0, len);
            DType::SubArray { base, shape }
        }
        base => DType::SubArray { base: Box::new(base), shape: vec![len] },
    }
}

/// A record of `fields` (the columns of a structured array, or a nested struct's children),
/// packed in order without padding; each field's dtype as its `numpy.descr` says where that
/// fits the data (so a nested record keeps its own padding and offsets).
pub fn record(path: &str, fields: &Fields, widths: &mut dyn Iterator<Item = usize>) -> Result<Record> {
    check_field_names(path, fields)?;
    let mut offset = 0;
    let mut out = Vec::with_capacity(fields.len());
    for field in fields {
        let field_path = join_path(path, field.name());
        let dtype = refine(field, numpy_dtype(&field_path, field.data_type(), widths)?);
        let size = dtype.itemsize();
        out.push(RecordField { name: field.name().clone(), title: None, offset, dtype });
        offset += size;
    }
    Ok(Record { fields: out, itemsize: offset })
}

/// numpy refuses records with a repeated field name, and reads a field named `''` of a void
/// or sub-array type back as padding (`descr_to_dtype`); `''` of any other type is a field.
pub fn check_field_names(path: &str, fields: &Fields) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for field in fields {
        let reason = if field.name().is_empty() && reads_back_as_padding(field.data_type()) {
            "numpy reads a field named '' of a void or sub-array type back as padding"
        } else if !seen.insert(field.name().as_str()) {
            "numpy field names must be unique"
        } else {
            continue;
        };
        let what = format!("a field named '{}'", field.name());
        let error = NpyError::from(ErrorKind::Unwritable { what, reason: reason.into() });
        return Err(if path.is_empty() { error } else { error.in_column(path) });
    }
    Ok(())
}

fn reads_back_as_padding(data_type: &DataType) -> bool {
    match data_type {
        DataType::FixedSizeBinary(_) | DataType::FixedSizeList(_, _) | DataType::List(_) | DataType::LargeList(_) => true,
        DataType::Dictionary(_, values) => reads_back_as_padding(values),
        _ => false,
    }
}

/// `a.b` for field `b` of column `a`; `b` at the top.
pub fn join_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// Bytes of one complex value if `fields` are exactly `real` and `imag` of the same float type.
pub fn complex_bytes(fields: &Fields) -> Option<u8> {
    let [real, imag] = fields.iter().collect::<Vec<_>>()[..] else { return None };
    if real.name() != "real" || imag.name() != "imag" || real.data_type() != imag.data_type() {
        return None;
    }
    match real.data_type() {
        DataType::Float32 => Some(8),
        DataType::Float64 => Some(16),
        _ => None,
    }
}

/// Widen each variable leaf's width in `widths` (depth-first, as [`numpy_dtype`] reads them) to
/// fit the values of `array`: characters for strings, bytes for binaries; and set each list
/// leaf to its rows' length, failing (naming `path`, the column) on a row of another length.
pub fn measure_widths(path: &str, array: &dyn Array, widths: &mut [usize], next: &mut usize) -> Result<()> {
    let mut widen = |width: usize| {
        if let Some(w) = widths.get_mut(*next) {
            *w = (*w).max(width);
        }
        *next += 1;
    };
    match array.data_type() {
        DataType::Utf8 => widen(max_chars(array.as_string::<i32>().iter())),
        DataType::LargeUtf8 => widen(max_chars(array.as_string::<i64>().iter())),
        DataType::Utf8View => widen(max_chars(array.as_string_view().iter())),
        DataType::Binary => widen(max_len(array.as_binary::<i32>().iter())),
        DataType::LargeBinary => widen(max_len(array.as_binary::<i64>().iter())),
        DataType::BinaryView => widen(max_len(array.as_binary_view().iter())),
        DataType::Struct(fields) => {
            for (field, child) in fields.iter().zip(array.as_struct().columns()) {
                measure_widths(&join_path(path, field.name()), child.as_ref(), widths, next)?;
            }
        }
        DataType::FixedSizeList(_, _) => {
            measure_widths(path, array.as_fixed_size_list().values().as_ref(), widths, next)?
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            measure_list(path, list.offsets().lengths(), list.nulls(), widths, next)?;
            measure_widths(path, list.values().as_ref(), widths, next)?;
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            measure_list(path, list.offsets().lengths(), list.nulls(), widths, next)?;
            measure_widths(path, list.values().as_ref(), widths, next)?;
        }
        DataType::Dictionary(_, values) => {
            if let Ok(plain) = crate::arrow::compute::cast(array, values) {
                measure_widths(path, plain.as_ref(), widths, next)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A list leaf: every non-null row must have the length the first one had.
fn measure_list(
    path: &str,
    lengths: impl Iterator<Item = usize>,
    nulls: Option<&crate::arrow::buffer::NullBuffer>,
    widths: &mut [usize],
    next: &mut usize,
) -> Result<()> {
    let slot = *next;
    *next += 1;
    let Some(width) = widths.get_mut(slot) else { return Ok(()) };
    for (row, len) in lengths.enumerate() {
        if nulls.is_some_and(|n| n.is_null(row)) {
            continue;
        }
        if *width == UNSEEN_LIST_LEN {
            *width = len;
        } else if *width != len {
            return Err(NpyError::from(ErrorKind::Unwritable {
                what: format!("a list of {len} items after lists of {width}"),
                reason: "numpy arrays have fixed-size items, so every row must hold the same number".into(),
            })
            .in_column(path));
        }
    }
    Ok(())
}

fn max_chars<'a>(values: impl Iterator<Item = Option<&'a str>>) -> usize {
    values.flatten().map(|s| if s.is_ascii() { s.len() } else { s.chars().count() }).max().unwrap_or(0)
}

fn max_len<'a>(values: impl Iterator<Item = Option<&'a [u8]>>) -> usize {
    values.flatten().map(<[u8]>::len).max().unwrap_or(0)
}

/// numpy never makes `U0`/`S0` arrays from data (`np.array([''])` is `<U1`): at least 1.
fn next_width(widths: &mut dyn Iterator<Item = usize>) -> usize {
    widths.next().unwrap_or(1).max(1)
}

fn datetime(unit: TimeUnit) -> DType {
    DType::DateTime { unit, multiple: 1, endian: Endian::Little }
}

fn unit_of(unit: ArrowTimeUnit) -> TimeUnit {
    match unit {
        ArrowTimeUnit::Second => TimeUnit::Second,
        ArrowTimeUnit::Millisecond => TimeUnit::Millisecond,
        ArrowTimeUnit::Microsecond => TimeUnit::Microsecond,
        ArrowTimeUnit::Nanosecond => TimeUnit::Nanosecond,
    }
}

fn positive(path: &str, data_type: &DataType, len: i32) -> Result<usize> {
    usize::try_from(len)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| unwritable_type(path, data_type, "numpy needs a positive size"))
}

fn reason_for(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::List(_) | DataType::LargeList(_) | DataType::ListView(_) | DataType::LargeListView(_) => {
            "numpy arrays have fixed-size items; variable-length lists have no numpy form"
        }
        DataType::Null => "a column of nulls has no numpy type",
        DataType::Time32(_) | DataType::Time64(_) => "numpy has no time-of-day type",
        DataType::Decimal32(_, _)
        | DataType::Decimal64(_, _)
        | DataType::Decimal128(_, _)
        | DataType::Decimal256(_, _) => "numpy has no decimal type (cast to DOUBLE first)",
        _ => "numpy has no equivalent type",
    }
}

fn unwritable_type(path: &str, data_type: &DataType, reason: &str) -> NpyError {
    NpyError::from(ErrorKind::Unwritable { what: format!("type {data_type}"), reason: reason.into() }).in_column(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrow::datatypes::{Field, IntervalUnit};
    use std::sync::Arc;

    fn fixed(dt: &DataType) -> DType {
        numpy_dtype("c", dt, &mut std::iter::empty()).unwrap()
    }

    #[test]
    fn scalars_map_to_little_endian_numpy_types() {
        assert_eq!(fixed(&DataType::Boolean), DType::Bool);
        assert_eq!(fixed(&DataType::UInt16), DType::Int { bytes: 2, signed: false, endian: Endian::Little });
        assert_eq!(fixed(&DataType::Float16), DType::Float { bytes: 2, endian: Endian::Little });
        assert_eq!(
            fixed(&DataType::Timestamp(ArrowTimeUnit::Microsecond, Some("+02:00".into()))),
            DType::DateTime { unit: TimeUnit::Microsecond, multiple: 1, endian: Endian::Little }
        );
        assert_eq!(
            fixed(&DataType::Date32),
            DType::DateTime { unit: TimeUnit::Day, multiple: 1, endian: Endian::Little }
        );
        assert_eq!(fixed(&DataType::FixedSizeBinary(5)), DType::Void { len: 5 });
    }

    #[test]
    fn complex_needs_exactly_real_and_imag_of_one_float_type() {
        let c = |a: DataType, b: DataType, names: [&str; 2]| {
            Fields::from(vec![Field::new(names[0], a, true), Field::new(names[1], b, true)])
        };
        assert_eq!(complex_bytes(&c(DataType::Float32, DataType::Float32, ["real", "imag"])), Some(8));
        assert_eq!(complex_bytes(&c(DataType::Float64, DataType::Float64, ["real", "imag"])), Some(16));
        assert_eq!(complex_bytes(&c(DataType::Float64, DataType::Float32, ["real", "imag"])), None);
        assert_eq!(complex_bytes(&c(DataType::Float64, DataType::Float64, ["imag", "real"])), None);
    }

    #[test]
    fn nested_fixed_size_lists_become_one_sub_array() {
        let inner = DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, true)), 3);
        let outer = DataType::FixedSizeList(Arc::new(Field::new("item", inner, true)), 2);
        assert_eq!(
            fixed(&outer),
            DType::SubArray { base: Box::new(DType::Float { bytes: 4, endian: Endian::Little }), shape: vec![2, 3] }
        );
    }

    #[test]
    fn string_widths_are_taken_depth_first() {
        let fields = Fields::from(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("n", DataType::Int8, true),
            Field::new("b", DataType::Binary, true),
        ]);
        let dt = DataType::Struct(fields.clone());
        assert_eq!(variable_leaves(&dt), 2);
        let rec = record("", &fields, &mut [7, 0].into_iter()).unwrap();
        assert_eq!(rec.fields[0].dtype, DType::Unicode { chars: 7, endian: Endian::Little });
        assert_eq!(rec.fields[1].offset, 28);
        assert_eq!(rec.fields[2].dtype, DType::Bytes { len: 1 });
        assert_eq!(rec.fields[2].offset, 29);
        assert_eq!(rec.itemsize, 30);
    }

    #[test]
    fn refusals_name_the_column_and_the_type() {
        let list = DataType::ListView(Arc::new(Field::new("item", DataType::Int32, true)));
        let e = numpy_dtype("tags", &list, &mut std::iter::empty()).unwrap_err();
        assert_eq!(e.location.column.as_deref(), Some("tags"));
        assert!(e.to_string().contains("variable-length"), "{e}");
        let e = numpy_dtype("p.t", &DataType::Interval(IntervalUnit::DayTime), &mut std::iter::empty()).unwrap_err();
        assert!(e.to_string().starts_with("column 'p.t': cannot write type Interval"), "{e}");
    }

    #[test]
    fn lists_of_one_length_are_a_dimension_and_ragged_ones_name_the_column() {
        use crate::arrow::array::ListArray;
        use crate::arrow::datatypes::Float32Type;
        let rows = vec![Some(vec![Some(1.0f32), Some(2.0)]), None, Some(vec![Some(3.0), Some(4.0)])];
        let list = ListArray::from_iter_primitive::<Float32Type, _, _>(rows);
        let mut widths = initial_widths(list.data_type());
        assert_eq!(widths, [UNSEEN_LIST_LEN]);
        measure_widths("emb", &list, &mut widths, &mut 0).unwrap();
        assert_eq!(widths, [2]);
        assert_eq!(
            numpy_dtype("emb", list.data_type(), &mut widths.iter().copied()).unwrap(),
            DType::SubArray { base: Box::new(DType::Float { bytes: 4, endian: Endian::Little }), shape: vec![2] }
        );
        // No row seen: length 0.
        let none = numpy_dtype("emb", list.data_type(), &mut [UNSEEN_LIST_LEN].into_iter()).unwrap();
        assert!(matches!(none, DType::SubArray { shape, .. } if shape == vec![0]));
        let ragged = ListArray::from_iter_primitive::<Float32Type, _, _>(vec![Some(vec![Some(1.0f32)])]);
        let e = measure_widths("emb", &ragged, &mut widths, &mut 0).unwrap_err();
        assert_eq!(e.location.column.as_deref(), Some("emb"));
        assert!(e.to_string().contains("a list of 1 items after lists of 2"), "{e}");
    }

    #[test]
    fn duplicate_names_and_void_fields_named_empty_are_refused() {
        let dup = Fields::from(vec![Field::new("a", DataType::Int8, true), Field::new("a", DataType::Int8, true)]);
        assert!(record("", &dup, &mut std::iter::empty()).unwrap_err().to_string().contains("unique"));
        // numpy keeps a field named '' unless its type is void (then it is padding).
        let empty = Fields::from(vec![Field::new("", DataType::Int8, true)]);
        assert_eq!(record("p", &empty, &mut std::iter::empty()).unwrap().fields[0].name, "");
        let void = Fields::from(vec![Field::new("", DataType::FixedSizeBinary(2), true)]);
        assert!(record("p", &void, &mut std::iter::empty()).unwrap_err().to_string().contains("padding"));
    }
}
