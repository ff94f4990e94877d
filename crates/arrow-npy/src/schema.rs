//! The one place where numpy dtypes become Arrow types (SPEC §3), and where a header becomes the
//! columns of a table.
//!
//! The table, both ways, is [`crate::type_table`]. Refusals are `ErrorKind::UnsupportedDtype`
//! naming the offending type string.
//!
//! Nullability: numpy has no null, except NaT in datetime64/timedelta64. So a field is nullable
//! exactly when its items can contain NaT ([`can_be_null`]): a datetime column, a record with a
//! datetime field, a sub-array of datetimes. The same rule holds for every nested field: a struct
//! child is nullable when its own dtype can hold NaT, and every `item` field of a
//! FixedSizeList (at every level of a multi-dimensional sub-array) is nullable when the
//! innermost scalar can hold NaT. The lists and structs themselves are never null.
//!
//! Struct children (record fields) carry their own `numpy.descr` metadata ([`descr_text`]: `<f4`
//! for a scalar, the descr literal for a nested record or sub-array) in the Arrow type
//! itself, so [`arrow_type`], [`arrow_field`] and the arrays `super::decode` builds always agree
//! exactly (Arrow compares nested field metadata when it checks a batch against its schema).

use std::collections::HashMap;
use std::sync::Arc;

use crate::arrow::datatypes::{DataType, Field, FieldRef, Fields, TimeUnit as ArrowTimeUnit};

use super::dtype::{DType, Record, TimeUnit};
use crate::error::ErrorKind;

/// Field metadata key holding the numpy type string the column came from.
pub const DESCR_KEY: &str = "numpy.descr";
/// Field metadata key present (value `"true"`) when the array was stored in Fortran order.
pub const FORTRAN_ORDER_KEY: &str = "numpy.fortran_order";
/// Metadata key holding an array's shape where Arrow cannot say it, as a Python tuple with
/// `-1` for the first axis (its length is the row count, which filters change): `()` on the
/// column of a 0-d array; `(-1, a, b)` beside `numpy.descr` in the schema metadata of a table
/// whose columns are the fields of one structured array of shape `(N, a, b)`.
pub const SHAPE_KEY: &str = "numpy.shape";
/// Name of the item field of every FixedSizeList built from a sub-array or extra dimensions.
pub const LIST_ITEM_NAME: &str = "item";
/// Names of the two children of a complex number's struct.
pub const COMPLEX_FIELDS: [&str; 2] = ["real", "imag"];

/// The Arrow type of one item of `dtype` (a sub-array becomes nested FixedSizeList).
/// Refusals (object, long double, generic or ps/fs/as units, `M8[Y|M]`-like timedeltas) are
/// `ErrorKind::UnsupportedDtype` naming the descr.
pub fn arrow_type(dtype: &DType) -> Result<DataType, ErrorKind> {
    Ok(match dtype {
        DType::Bool => DataType::Boolean,
        DType::Int { bytes, signed, .. } => int_type(*bytes, *signed).ok_or_else(|| unsupported(dtype, "no integer of that size"))?,
        DType::Float { bytes, .. } => match bytes {
            2 => DataType::Float16,
            4 => DataType::Float32,
            8 => DataType::Float64,
            _ => return Err(unsupported(dtype, "long double has no Arrow type")),
        },
        DType::Complex { bytes, .. } => {
            let part = match bytes {
                8 => DataType::Float32,
                16 => DataType::Float64,
                _ => return Err(unsupported(dtype, "long double complex has no Arrow type")),
            };
            DataType::Struct(complex_fields(part))
        }
        DType::Bytes { .. } => DataType::Binary,
        DType::Unicode { .. } => DataType::Utf8,
        DType::Void { len } => DataType::FixedSizeBinary(
            i32::try_from(*len).map_err(|_| unsupported(dtype, "too wide for FixedSizeBinary"))?,
        ),
        DType::DateTime { .. } | DType::TimeDelta { .. } => time_mapping(dtype)?.data_type(),
        DType::Object => return Err(unsupported(dtype, "pickled Python objects are never read")),
        DType::Record(record) => DataType::Struct(record_fields(record)?),
        DType::SubArray { base, shape } => {
            let mut data_type = arrow_type(base)?;
            let nullable = can_be_null(base);
            for &dim in shape.iter().rev() {
                let size = i32::try_from(dim).map_err(|_| unsupported(dtype, "sub-array dimension too large"))?;
                data_type = DataType::FixedSizeList(list_item_field(data_type, nullable), size);
            }
            data_type
        }
    })
}

/// Whether an item of `dtype` can hold nulls in Arrow (only NaT of datetime64/timedelta64).
pub fn can_be_null(dtype: &DType) -> bool {
    match dtype {
        DType::DateTime { .. } | DType::TimeDelta { .. } => true,
        DType::Record(record) => record.fields.iter().any(|f| can_be_null(&f.dtype)),
        DType::SubArray { base, .. } => can_be_null(base),
        _ => false,
    }
}

/// The Arrow field for a column named `name` holding items of `dtype`, with metadata
/// `numpy.descr` = `descr` (the type string as the header wrote it, for a plain array; the
/// field's `dtype.descr()` for a record field) and `numpy.fortran_order` = `"true"` when
/// `fortran_order`. Nested struct children carry their own `numpy.descr` too.
pub fn arrow_field(name: &str, dtype: &DType, descr: &str, fortran_order: bool) -> Result<Field, ErrorKind> {
    let mut metadata = HashMap::from([(DESCR_KEY.to_string(), descr.to_string())]);
    if fortran_order {
        metadata.insert(FORTRAN_ORDER_KEY.to_string(), "true".to_string());
    }
    Ok(Field::new(name, arrow_type(dtype)?, can_be_null(dtype)).with_metadata(metadata))
}

/// The `numpy.shape` value of an array of `shape`: `()`, `(-1,)`, `(-1, a, b)`.
pub fn shape_metadata(shape: &[u64]) -> String {
    match shape {
        [] => "()".to_string(),
        [_] => "(-1,)".to_string(),
        [_, inner @ ..] => format!("(-1, {})", inner.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")),
    }
}

/// The children of a record's Struct: one field per named numpy field, each with its own
/// `numpy.descr`.
pub fn record_fields(record: &Record) -> Result<Fields, ErrorKind> {
    record
        .fields
        .iter()
        .map(|f| arrow_field(&f.name, &f.dtype, &descr_text(&f.dtype), false))
        .collect::<Result<Vec<Field>, _>>()
        .map(Fields::from)
}

/// How a dtype is named in metadata and errors, the way `NpyHeader::descr` keeps a header's:
/// a scalar's type string without quotes (`<f4`, `|O`), a record's or sub-array's descr literal
/// (`[('x', '<f4'), ('y', '<f4')]`, `('<f4', (3,))`).
pub fn descr_text(dtype: &DType) -> String {
    match dtype {
        DType::Record(_) | DType::SubArray { .. } => dtype.descr(),
        scalar => scalar.type_str(),
    }
}

/// The `real`/`imag` children of a complex number's Struct.
pub fn complex_fields(part: DataType) -> Fields {
    Fields::from(COMPLEX_FIELDS.map(|name| Field::new(name, part.clone(), false)).to_vec())
}

/// The `item` field of a FixedSizeList built from a sub-array.
pub fn list_item_field(data_type: DataType, nullable: bool) -> FieldRef {
    Arc::new(Field::new(LIST_ITEM_NAME, data_type, nullable))
}

fn int_type(bytes: u8, signed: bool) -> Option<DataType> {
    Some(match (bytes, signed) {
        (1, true) => DataType::Int8,
        (2, true) => DataType::Int16,
        (4, true) => DataType::Int32,
        (8, true) => DataType::Int64,
        (1, false) => DataType::UInt8,
        (2, false) => DataType::UInt16,
        (4, false) => DataType::UInt32,
        (8, false) => DataType::UInt64,
        _ => return None,
    })
}

fn unsupported(dtype: &DType, reason: &str) -> ErrorKind {
    ErrorKind::UnsupportedDtype { descr: descr_text(dtype), reason: reason.to_string() }
}

/// How a datetime64/timedelta64 maps to Arrow: the target type and what to multiply the stored
/// count by to get there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeMapping {
    /// Timestamp(unit) holding `value * factor`.
    Timestamp { unit: ArrowTimeUnit, factor: i64 },
    /// Duration(unit) holding `value * factor`.
    Duration { unit: ArrowTimeUnit, factor: i64 },
    /// Date32 holding the day number of `value * factor` days.
    Days { factor: i64 },
    /// Date32 holding the first day of month `value * factor` (months since 1970-01).
    Months { factor: i64 },
    /// Date32 holding 1 January of year `1970 + value * factor`.
    Years { factor: i64 },
}

impl TimeMapping {
    /// The Arrow type the values end up in.
    pub fn data_type(self) -> DataType {
        match self {
            TimeMapping::Timestamp { unit, .. } => DataType::Timestamp(unit, None),
            TimeMapping::Duration { unit, .. } => DataType::Duration(unit),
            TimeMapping::Days { .. } | TimeMapping::Months { .. } | TimeMapping::Years { .. } => DataType::Date32,
        }
    }
}

/// The mapping of a `DType::DateTime` / `DType::TimeDelta` (any other dtype is an
/// `InvalidArgument`): unit, multiple and refusals in one place.
pub fn time_mapping(dtype: &DType) -> Result<TimeMapping, ErrorKind> {
    let (unit, multiple, is_datetime) = match dtype {
        DType::DateTime { unit, multiple, .. } => (*unit, *multiple, true),
        DType::TimeDelta { unit, multiple, .. } => (*unit, *multiple, false),
        _ => return Err(ErrorKind::InvalidArgument(format!("{dtype:?} is not a datetime64/timedelta64"))),
    };
    if multiple == 0 {
        return Err(unsupported(dtype, "a unit multiple of 0"));
    }
    let multiple = i64::from(multiple);
    // (Arrow unit, factor to it) for the units with a fixed length.
    let fixed = |unit: TimeUnit| -> Option<(ArrowTimeUnit, i64)> {
        Some(match unit {
            TimeUnit::Nanosecond => (ArrowTimeUnit::Nanosecond, 1),
            TimeUnit::Microsecond => (ArrowTimeUnit::Microsecond, 1),
            TimeUnit::Millisecond => (ArrowTimeUnit::Millisecond, 1),
            TimeUnit::Second => (ArrowTimeUnit::Second, 1),
            TimeUnit::Minute => (ArrowTimeUnit::Second, 60),
            TimeUnit::Hour => (ArrowTimeUnit::Second, 3_600),
            TimeUnit::Day => (ArrowTimeUnit::Second, 86_400),
            TimeUnit::Week => (ArrowTimeUnit::Second, 604_800),
            _ => return None,
        })
    };
    let refuse = |reason: &str| Err(unsupported(dtype, reason));
    match unit {
        TimeUnit::Generic => refuse("generic datetime64/timedelta64 has no unit"),
        TimeUnit::Picosecond | TimeUnit::Femtosecond | TimeUnit::Attosecond => {
            refuse("units finer than nanoseconds have no Arrow type")
        }
        TimeUnit::Year | TimeUnit::Month if !is_datetime => refuse("years and months have no fixed length"),
        TimeUnit::Year => Ok(TimeMapping::Years { factor: multiple }),
        TimeUnit::Month => Ok(TimeMapping::Months { factor: multiple }),
        TimeUnit::Week if is_datetime => Ok(TimeMapping::Days { factor: 7 * multiple }),
        TimeUnit::Day if is_datetime => Ok(TimeMapping::Days { factor: multiple }),
        _ => match fixed(unit) {
            // multiple ≤ u32::MAX and factor ≤ 604800: the product fits an i64.
            Some((unit, factor)) if is_datetime => Ok(TimeMapping::Timestamp { unit, factor: factor * multiple }),
            Some((unit, factor)) => Ok(TimeMapping::Duration { unit, factor: factor * multiple }),
            None => refuse("unknown unit"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::{Endian, RecordField};

    fn dt(unit: TimeUnit, multiple: u32) -> DType {
        DType::DateTime { unit, multiple, endian: Endian::Little }
    }
    fn td(unit: TimeUnit, multiple: u32) -> DType {
        DType::TimeDelta { unit, multiple, endian: Endian::Little }
    }

    #[test]
    fn scalars() {
        let le = Endian::Little;
        assert_eq!(arrow_type(&DType::Bool).unwrap(), DataType::Boolean);
        assert_eq!(arrow_type(&DType::Int { bytes: 2, signed: false, endian: le }).unwrap(), DataType::UInt16);
        assert_eq!(arrow_type(&DType::Int { bytes: 8, signed: true, endian: Endian::Big }).unwrap(), DataType::Int64);
        assert_eq!(arrow_type(&DType::Float { bytes: 2, endian: le }).unwrap(), DataType::Float16);
        assert_eq!(arrow_type(&DType::Bytes { len: 5 }).unwrap(), DataType::Binary);
        assert_eq!(arrow_type(&DType::Unicode { chars: 5, endian: le }).unwrap(), DataType::Utf8);
        assert_eq!(arrow_type(&DType::Void { len: 4 }).unwrap(), DataType::FixedSizeBinary(4));
        let c16 = arrow_type(&DType::Complex { bytes: 16, endian: le }).unwrap();
        let DataType::Struct(fields) = c16 else { panic!("complex is a struct") };
        assert_eq!(fields.len(), 2);
        assert_eq!((fields[0].name().as_str(), fields[1].name().as_str()), ("real", "imag"));
        assert!(fields.iter().all(|f| f.data_type() == &DataType::Float64 && !f.is_nullable()));
    }

    #[test]
    fn datetimes_and_timedeltas() {
        use ArrowTimeUnit as A;
        let ts = |u| DataType::Timestamp(u, None);
        assert_eq!(arrow_type(&dt(TimeUnit::Nanosecond, 1)).unwrap(), ts(A::Nanosecond));
        assert_eq!(arrow_type(&dt(TimeUnit::Microsecond, 1)).unwrap(), ts(A::Microsecond));
        assert_eq!(arrow_type(&dt(TimeUnit::Millisecond, 1)).unwrap(), ts(A::Millisecond));
        assert_eq!(arrow_type(&dt(TimeUnit::Second, 10)).unwrap(), ts(A::Second));
        assert_eq!(arrow_type(&dt(TimeUnit::Hour, 1)).unwrap(), ts(A::Second));
        assert_eq!(arrow_type(&dt(TimeUnit::Minute, 1)).unwrap(), ts(A::Second));
        for unit in [TimeUnit::Day, TimeUnit::Week, TimeUnit::Month, TimeUnit::Year] {
            assert_eq!(arrow_type(&dt(unit, 1)).unwrap(), DataType::Date32, "{unit:?}");
        }
        assert_eq!(arrow_type(&td(TimeUnit::Microsecond, 1)).unwrap(), DataType::Duration(A::Microsecond));
        for unit in [TimeUnit::Minute, TimeUnit::Hour, TimeUnit::Day, TimeUnit::Week] {
            assert_eq!(arrow_type(&td(unit, 1)).unwrap(), DataType::Duration(A::Second), "{unit:?}");
        }
        assert_eq!(time_mapping(&dt(TimeUnit::Hour, 2)).unwrap(), TimeMapping::Timestamp { unit: A::Second, factor: 7200 });
        assert_eq!(time_mapping(&dt(TimeUnit::Week, 1)).unwrap(), TimeMapping::Days { factor: 7 });
        assert_eq!(time_mapping(&td(TimeUnit::Week, 3)).unwrap(), TimeMapping::Duration { unit: A::Second, factor: 3 * 604_800 });
        assert_eq!(time_mapping(&dt(TimeUnit::Month, 3)).unwrap(), TimeMapping::Months { factor: 3 });
    }

    #[test]
    fn nullability_follows_nat() {
        assert!(can_be_null(&dt(TimeUnit::Second, 1)));
        assert!(can_be_null(&td(TimeUnit::Day, 1)));
        assert!(!can_be_null(&DType::Float { bytes: 8, endian: Endian::Little }));
        let sub = DType::SubArray { base: Box::new(dt(TimeUnit::Day, 1)), shape: vec![2] };
        assert!(can_be_null(&sub));
        let rec = DType::Record(Record {
            fields: vec![RecordField { name: "t".into(), title: None, offset: 0, dtype: sub }],
            itemsize: 16,
        });
        assert!(can_be_null(&rec));
        let rec = DType::Record(Record {
            fields: vec![RecordField { name: "b".into(), title: None, offset: 0, dtype: DType::Bool }],
            itemsize: 1,
        });
        assert!(!can_be_null(&rec));
    }

    #[test]
    fn sub_array_is_nested_fixed_size_list() {
        let sub = DType::SubArray { base: Box::new(DType::Float { bytes: 4, endian: Endian::Little }), shape: vec![2, 3] };
        let inner = DataType::FixedSizeList(list_item_field(DataType::Float32, false), 3);
        assert_eq!(arrow_type(&sub).unwrap(), DataType::FixedSizeList(list_item_field(inner, false), 2));
    }

    #[test]
    fn field_metadata() {
        let f = arrow_field("x", &DType::Bool, "|b1", true).unwrap();
        assert_eq!(f.name(), "x");
        assert!(!f.is_nullable());
        assert_eq!(f.metadata().get(DESCR_KEY).map(String::as_str), Some("|b1"));
        assert_eq!(f.metadata().get(FORTRAN_ORDER_KEY).map(String::as_str), Some("true"));
        let f = arrow_field("t", &dt(TimeUnit::Second, 1), "<M8[s]", false).unwrap();
        assert!(f.is_nullable());
        assert!(!f.metadata().contains_key(FORTRAN_ORDER_KEY));
    }

    #[test]
    fn shape_metadata_leaves_the_row_count_out() {
        assert_eq!(shape_metadata(&[]), "()");
        assert_eq!(shape_metadata(&[7]), "(-1,)");
        assert_eq!(shape_metadata(&[7, 2, 3]), "(-1, 2, 3)");
    }

    #[test]
    fn refusals_name_the_dtype() {
        let le = Endian::Little;
        let refused = [
            (DType::Object, "|O"),
            (DType::Float { bytes: 16, endian: le }, "<f16"),
            (DType::Complex { bytes: 32, endian: le }, "<c32"),
            (dt(TimeUnit::Generic, 1), "<M8"),
            (td(TimeUnit::Generic, 1), "<m8"),
            (dt(TimeUnit::Picosecond, 1), "<M8[ps]"),
            (td(TimeUnit::Femtosecond, 1), "<m8[fs]"),
            (dt(TimeUnit::Attosecond, 1), "<M8[as]"),
            (td(TimeUnit::Year, 1), "<m8[Y]"),
            (td(TimeUnit::Month, 1), "<m8[M]"),
            (DType::SubArray { base: Box::new(DType::Object), shape: vec![2] }, "|O"),
        ];
        for (dtype, expected) in refused {
            match arrow_type(&dtype) {
                Err(ErrorKind::UnsupportedDtype { descr, .. }) => assert_eq!(descr, expected, "{dtype:?}"),
                other => panic!("{dtype:?} should be refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn record_children_carry_their_descr() {
        let rec = DType::Record(Record {
            fields: vec![
                RecordField { name: "a".into(), title: None, offset: 0, dtype: DType::Int { bytes: 4, signed: true, endian: Endian::Little } },
                RecordField { name: "t".into(), title: None, offset: 8, dtype: dt(TimeUnit::Nanosecond, 1) },
            ],
            itemsize: 16,
        });
        let DataType::Struct(fields) = arrow_type(&rec).unwrap() else { panic!("record is a struct") };
        assert_eq!(fields[0].metadata().get(DESCR_KEY).map(String::as_str), Some("<i4"));
        assert_eq!(fields[1].metadata().get(DESCR_KEY).map(String::as_str), Some("<M8[ns]"));
        assert!(!fields[0].is_nullable() && fields[1].is_nullable());
        let nested = DType::Record(Record {
            fields: vec![RecordField {
                name: "v".into(),
                title: None,
                offset: 0,
                dtype: DType::SubArray { base: Box::new(DType::Float { bytes: 4, endian: Endian::Little }), shape: vec![3] },
            }],
            itemsize: 12,
        });
        let DataType::Struct(fields) = arrow_type(&nested).unwrap() else { panic!("record is a struct") };
        assert_eq!(fields[0].metadata().get(DESCR_KEY).map(String::as_str), Some("('<f4', (3,))"));
    }
}
