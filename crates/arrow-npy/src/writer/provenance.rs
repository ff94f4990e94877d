//! The numpy facts the reader leaves in metadata (`crate::schema`: `numpy.descr`,
//! `numpy.shape`), honoured by the writer when they fit the data, so that what was read comes
//! back as numpy wrote it: the exact dtype (string widths, padding, offsets, titles, a record
//! of fields named `real` and `imag`), a 0-d array, a structured array with one field, a
//! structured array of more than one dimension.
//!
//! "Fits" is decided on types alone: the dtype the Arrow types give (with the measured string
//! widths) must have the metadata's structure, field names and item sizes, and no value may be
//! wider than the metadata's width. Otherwise (a query changed a type, a string grew, columns
//! were dropped) the metadata is ignored and the dtype comes from the Arrow types, as it would
//! without metadata. Two things are always the writer's own: byte order (little-endian) and
//! datetime units (the Arrow unit the values are in: `M8[h]` read as seconds is written `M8[s]`).

use std::collections::HashMap;

use crate::arrow::datatypes::{Field, Schema};

use crate::dtype::{DType, Endian, Record, RecordField};
use crate::literal::{self, Literal};
use crate::schema::{DESCR_KEY, SHAPE_KEY};

/// `derived` (the dtype of `field`'s Arrow type) as the field's `numpy.descr` has it, when that
/// fits; else `derived`.
pub fn refine(field: &Field, derived: DType) -> DType {
    match descr_of(field.metadata()) {
        Some(meta) => merge_top(&meta, &derived).unwrap_or(derived),
        None => derived,
    }
}

/// Whether `field` (a column that was a whole array) came from a 0-d array.
pub fn is_zero_d(field: &Field) -> bool {
    matches!(shape_of(field.metadata()), Some(shape) if shape.is_empty())
}

/// A structured array whose fields are a table's columns, as the table's schema metadata
/// describes it (the reader writes it for a `.npy` of a record dtype).
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayRecord {
    /// The item type: the metadata's record, its fields' dtypes refined by the columns'.
    pub record: Record,
    /// The dimensions after the first axis (each column holds them as FixedSizeLists).
    pub dims: Vec<usize>,
    /// The array was 0-d.
    pub zero_d: bool,
}

/// The structured array `schema`'s metadata describes, if `columns` (the record the columns
/// make, field by field) fit it: same field names in order, each field's dtype behind `dims`
/// fixed-size-list levels.
pub fn array_record(schema: &Schema, columns: &Record) -> Option<ArrayRecord> {
    let DType::Record(meta) = descr_of(schema.metadata())? else { return None };
    let shape = shape_of(schema.metadata())?;
    let dims: Vec<usize> = shape.iter().skip(1).map(|&d| usize::try_from(d).ok()).collect::<Option<_>>()?;
    if meta.fields.len() != columns.fields.len() {
        return None;
    }
    let mut fields = Vec::with_capacity(meta.fields.len());
    for (m, column) in meta.fields.iter().zip(&columns.fields) {
        if m.name != column.name {
            return None;
        }
        let dtype = merge(&m.dtype, &without_dims(&column.dtype, &dims)?)?;
        fields.push(RecordField { dtype, ..m.clone() });
    }
    Some(ArrayRecord { record: Record { fields, itemsize: meta.itemsize }, dims, zero_d: shape.is_empty() })
}

/// `dtype` without its first `dims` dimensions (those of the array, not of the item).
fn without_dims(dtype: &DType, dims: &[usize]) -> Option<DType> {
    if dims.is_empty() {
        return Some(dtype.clone());
    }
    let DType::SubArray { base, shape } = dtype else { return None };
    let rest = shape.strip_prefix(dims)?;
    Some(if rest.is_empty() { base.as_ref().clone() } else { DType::SubArray { base: base.clone(), shape: rest.to_vec() } })
}

/// The dtype a `numpy.descr` value names: a type string (`<f4`) or a descr literal (a record's
/// list, a sub-array's tuple). `None` when absent or unreadable.
fn descr_of(metadata: &HashMap<String, String>) -> Option<DType> {
    let text = metadata.get(DESCR_KEY)?;
    match literal::parse(text) {
        Ok(Literal::Str(s)) => DType::from_type_str(&s).ok(),
        Ok(descr) => DType::from_descr(&descr).ok(),
        Err(_) => DType::from_type_str(text).ok(),
    }
}

/// A `numpy.shape` value: `()`, or `(-1, a, b)` (`-1` for the first axis, whose length is the
/// row count). `None` when absent or unreadable.
fn shape_of(metadata: &HashMap<String, String>) -> Option<Vec<i128>> {
    match literal::parse(metadata.get(SHAPE_KEY)?).ok()? {
        Literal::Tuple(dims) => dims.iter().map(|d| if let Literal::Int(n) = d { Some(*n) } else { None }).collect(),
        _ => None,
    }
}

/// [`merge`], or for a column whose FixedSizeLists are the array's dimensions (a plain array
/// of shape `(N, a, b)`: metadata `<f4`, Arrow's sub-array `(a, b)`), the merge of its items.
fn merge_top(meta: &DType, derived: &DType) -> Option<DType> {
    merge(meta, derived).or_else(|| match derived {
        DType::SubArray { base, shape } if !matches!(meta, DType::SubArray { .. }) => {
            Some(DType::SubArray { base: Box::new(merge(meta, base)?), shape: shape.clone() })
        }
        _ => None,
    })
}

/// The metadata's dtype `meta` with the writer's choices taken from `derived` (the dtype of the
/// Arrow type), if the two describe the same items; `None` if they do not.
fn merge(meta: &DType, derived: &DType) -> Option<DType> {
    use DType::*;
    let le = Endian::Little;
    Some(match (meta, derived) {
        (Record(m), Record(d)) => {
            if m.fields.len() != d.fields.len() {
                return None;
            }
            let mut fields = Vec::with_capacity(m.fields.len());
            for (mf, df) in m.fields.iter().zip(&d.fields) {
                let dtype = merge(&mf.dtype, &df.dtype)?;
                if mf.name != df.name || dtype.itemsize() != mf.dtype.itemsize() {
                    return None;
                }
                fields.push(RecordField { dtype, ..mf.clone() });
            }
            Record(crate::dtype::Record { fields, itemsize: m.itemsize })
        }
        // A record of two floats named `real` and `imag` reads as a complex number's struct.
        (Record(m), Complex { bytes, .. }) => {
            let part = Float { bytes: bytes / 2, endian: le };
            let names: Vec<&str> = m.fields.iter().map(|f| f.name.as_str()).collect();
            let parts_fit = m.fields.iter().all(|f| merge(&f.dtype, &part).is_some());
            if names != ["real", "imag"] || !parts_fit {
                return None;
            }
            let fields = m.fields.iter().map(|f| RecordField { dtype: part.clone(), ..f.clone() }).collect();
            Record(crate::dtype::Record { fields, itemsize: m.itemsize })
        }
        (SubArray { base: mb, shape: ms }, SubArray { base: db, shape: ds }) if ms == ds => {
            SubArray { base: Box::new(merge(mb, db)?), shape: ms.clone() }
        }
        (Unicode { chars: m, .. }, Unicode { chars: d, .. }) if d <= m => Unicode { chars: *m, endian: le },
        (Bytes { len: m }, Bytes { len: d }) if d <= m => Bytes { len: *m },
        // The values are in the Arrow type's unit; scaling them back could lose nothing only
        // if every value were a whole number of the old unit.
        (DateTime { .. }, DateTime { .. }) | (TimeDelta { .. }, TimeDelta { .. }) => derived.clone(),
        (Bool, Bool) => Bool,
        (Int { bytes: mb, signed: ms, .. }, Int { bytes: db, signed: ds, .. }) if mb == db && ms == ds => derived.clone(),
        (Float { bytes: m, .. }, Float { bytes: d, .. }) | (Complex { bytes: m, .. }, Complex { bytes: d, .. })
            if m == d =>
        {
            derived.clone()
        }
        (Void { len: m }, Void { len: d }) if m == d => Void { len: *m },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrow::datatypes::DataType;

    /// A type string (`<f4`) or a descr literal, as `numpy.descr` holds them.
    fn ty(s: &str) -> DType {
        match s.chars().next() {
            Some('[' | '(') => DType::from_descr(&literal::parse(s).unwrap()).unwrap(),
            _ => DType::from_type_str(s).unwrap(),
        }
    }

    fn with_descr(descr: &str) -> Field {
        Field::new("c", DataType::Utf8, true).with_metadata(HashMap::from([(DESCR_KEY.to_string(), descr.to_string())]))
    }

    #[test]
    fn widths_padding_and_titles_come_back_byte_order_does_not() {
        let meta = "[(('T', 'a'), '>i4'), ('', '|V4'), ('s', '<U5')]";
        let derived = ty("[('a', '<i4'), ('s', '<U3')]");
        assert_eq!(refine(&with_descr(meta), derived).descr(), "[(('T', 'a'), '<i4'), ('', '|V4'), ('s', '<U5')]");
    }

    #[test]
    fn what_does_not_fit_is_ignored() {
        // A longer string than the metadata's width, another integer size, another field name.
        for (meta, derived) in [
            ("<U2", "<U3"),
            ("<i4", "<i8"),
            ("[('a', '<i4')]", "[('b', '<i4')]"),
            ("[('a', '<i4'), ('b', '<i4')]", "[('a', '<i4')]"),
            ("not a descr", "<f8"),
        ] {
            assert_eq!(refine(&with_descr(meta), ty(derived)), ty(derived), "{meta}");
        }
    }

    #[test]
    fn datetime_units_are_the_values_own() {
        assert_eq!(refine(&with_descr("<M8[h]"), ty("<M8[s]")), ty("<M8[s]"));
    }

    #[test]
    fn a_record_named_real_imag_is_not_complex() {
        let meta = "[('real', '<f8'), ('imag', '<f8')]";
        assert_eq!(refine(&with_descr(meta), ty("<c16")), ty(meta));
        assert_eq!(refine(&with_descr("[('real', '<f4'), ('imag', '<f4')]"), ty("<c16")), ty("<c16"));
    }

    #[test]
    fn plain_array_dimensions_stay_dimensions() {
        let derived = DType::SubArray { base: Box::new(ty("<U1")), shape: vec![2, 3] };
        let refined = refine(&with_descr("<U4"), derived);
        assert_eq!(refined, DType::SubArray { base: Box::new(ty("<U4")), shape: vec![2, 3] });
    }

    #[test]
    fn array_records_need_the_fields_in_order_behind_the_dimensions() {
        let schema = |descr: &str, shape: &str| {
            Schema::new(Vec::<Field>::new()).with_metadata(HashMap::from([
                (DESCR_KEY.to_string(), descr.to_string()),
                (SHAPE_KEY.to_string(), shape.to_string()),
            ]))
        };
        let columns = |text: &str| match ty(text) {
            DType::Record(r) => r,
            _ => unreachable!(),
        };
        let got = array_record(&schema("[('x', '>f4'), ('', '|V4')]", "(-1, 2, 3)"), &columns("[('x', '<f4', (2, 3))]")).unwrap();
        assert_eq!((got.dims.as_slice(), got.zero_d, got.record.itemsize), (&[2, 3][..], false, 8));
        assert_eq!(DType::Record(got.record).descr(), "[('x', '<f4'), ('', '|V4')]");
        let zero_d = array_record(&schema("[('x', '<f4')]", "()"), &columns("[('x', '<f4')]")).unwrap();
        assert!(zero_d.zero_d && zero_d.dims.is_empty());
        assert!(array_record(&schema("[('x', '<f4')]", "(-1, 2)"), &columns("[('x', '<f4')]")).is_none());
        assert!(array_record(&schema("[('x', '<f4')]", "(-1,)"), &columns("[('y', '<f4')]")).is_none());
        assert!(array_record(&schema("'<f4'", "(-1,)"), &columns("[('x', '<f4')]")).is_none());
    }
}
