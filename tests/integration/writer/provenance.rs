//! The numpy metadata the reader leaves (`numpy.descr`, `numpy.shape`) is honoured by the writer
//! only where it fits the data; anything else falls back to the dtype of the Arrow types, as
//! if there were no metadata (a filter changed the row count, a query changed a type, a string
//! grew, a column was dropped).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::*;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion_npy::format::schema::{DESCR_KEY, SHAPE_KEY};
use datafusion_npy::{ArrayFileWriter, NpyTable, WriteOptions};

use super::{assert_same_bytes, fixture, read};

fn meta(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Write `batches` of `schema` to `path` and return the header's dict text.
fn header_of(path: &Path, schema: SchemaRef, batches: &[RecordBatch]) -> String {
    let mut writer = ArrayFileWriter::try_new(path, schema, WriteOptions::default()).unwrap();
    for batch in batches {
        writer.write(batch).unwrap();
    }
    writer.finish().unwrap();
    let bytes = read(path);
    let text = String::from_utf8_lossy(&bytes[10..bytes.len().min(4096)]).into_owned();
    text[..text.find('}').unwrap() + 1].to_string()
}

#[test]
fn a_zero_d_column_with_more_than_one_row_is_one_dimensional() {
    let dir = tempfile::tempdir().unwrap();
    let field = Field::new("x", DataType::Float64, false).with_metadata(meta(&[(DESCR_KEY, "<f8"), (SHAPE_KEY, "()")]));
    let schema = Arc::new(Schema::new(vec![field]));
    let one = RecordBatch::try_new(schema.clone(), vec![Arc::new(Float64Array::from(vec![2.5]))]).unwrap();
    let path = dir.path().join("x.npy");
    assert!(header_of(&path, schema.clone(), &[one.clone()]).ends_with("'shape': (), }"));
    assert!(header_of(&path, schema.clone(), &[one.clone(), one]).ends_with("'shape': (2,), }"));
    assert!(header_of(&path, schema, &[]).ends_with("'shape': (0,), }"));
}

#[test]
fn a_zero_d_header_shorter_than_the_reserved_one_is_rewritten() {
    // The 0-d header has no growth room for the first axis: here it is 64 bytes shorter than the
    // header written first (for 0 rows), so the file is written again at finish.
    let name = "rt_zero_d_record_fixed.npy";
    let table = NpyTable::open(fixture(name)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    let batches: Vec<RecordBatch> = table.reader().build().unwrap().map(Result::unwrap).collect();
    header_of(&path, table.schema(), &batches);
    assert_same_bytes(&read(&path), &read(fixture(name)), name);
}

#[test]
fn a_descr_that_no_longer_fits_the_type_or_the_values_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.npy");
    // The column was <i4 and a query made it Int64.
    let field = Field::new("c", DataType::Int64, false).with_metadata(meta(&[(DESCR_KEY, "<i4")]));
    let schema = Arc::new(Schema::new(vec![field]));
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1, 2]))]).unwrap();
    assert!(header_of(&path, schema, &[batch]).contains("'descr': '<i8'"));
    // <U2 fits 'ab' (numpy's width is kept), not 'abc'.
    let field = Field::new("c", DataType::Utf8, false).with_metadata(meta(&[(DESCR_KEY, "<U2")]));
    let schema = Arc::new(Schema::new(vec![field]));
    for (values, descr) in [(vec!["a", ""], "<U2"), (vec!["a", "abc"], "<U3")] {
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(values))]).unwrap();
        assert!(header_of(&path, schema.clone(), &[batch]).contains(&format!("'descr': '{descr}'")), "{descr}");
    }
}

#[test]
fn record_metadata_applies_only_to_all_its_fields_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.npy");
    let record = meta(&[(DESCR_KEY, "[('a', '<i4'), ('', '|V4'), ('b', '<f8')]"), (SHAPE_KEY, "(-1,)")]);
    let a = || Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef;
    let b = || Arc::new(Float64Array::from(vec![0.5, 1.5])) as ArrayRef;
    let fa = Field::new("a", DataType::Int32, false);
    let fb = Field::new("b", DataType::Float64, false);
    let write = |fields: Vec<Field>, columns: Vec<ArrayRef>| {
        let schema = Arc::new(Schema::new_with_metadata(fields, record.clone()));
        let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
        header_of(&path, schema, &[batch])
    };
    // All fields: the record, with its padding.
    assert!(write(vec![fa.clone(), fb.clone()], vec![a(), b()]).contains("[('a', '<i4'), ('', '|V4'), ('b', '<f8')]"));
    // One column left (SELECT a): a plain array, as without metadata.
    assert!(write(vec![fa.clone()], vec![a()]).contains("'descr': '<i4'"));
    // Reordered (SELECT b, a): a record of the columns in their order, packed.
    assert!(write(vec![fb, fa], vec![b(), a()]).contains("[('b', '<f8'), ('a', '<i4')]"));
}

#[test]
fn record_dimensions_need_lists_of_that_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.npy");
    let record = meta(&[(DESCR_KEY, "[('a', '<i4'), ('b', '<i4')]"), (SHAPE_KEY, "(-1, 2)")]);
    let fields = vec![Field::new("a", DataType::Int32, false), Field::new("b", DataType::Int32, false)];
    let schema = Arc::new(Schema::new_with_metadata(fields, record));
    let column = Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef;
    let batch = RecordBatch::try_new(schema.clone(), vec![column.clone(), column]).unwrap();
    assert!(header_of(&path, schema, &[batch]).contains("'descr': [('a', '<i4'), ('b', '<i4')], 'fortran_order': False, 'shape': (2,)"));
}
