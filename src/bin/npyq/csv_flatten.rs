//! Making any table fit CSV, which has only flat columns of text:
//!
//! - a struct column (a record field, a complex number) becomes one column per child, named
//!   `parent.child` (recursively: `a.b.c`); a null struct makes its children null;
//! - a list column (a sub-array, an `(N, k)` array's rows) becomes one column of JSON array
//!   text, e.g. `"[0.5,1.25,-3.0]"`, which spreadsheet users can see and `json.loads` can read;
//!   non-finite floats inside are written `null`, as JSON has no NaN;
//! - a bytes column becomes text in PostgreSQL's `\x0102` form ([`crate::text_form`]), which no
//!   reader takes for a number (Arrow's bare hex `0102` is read back as an integer).
//!
//! Everything else is left to Arrow's CSV writer.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringBuilder, StructArray};
use datafusion::arrow::compute::{is_null, nullif};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::arrow::json::writer::make_encoder;
use datafusion::arrow::record_batch::RecordBatch;

use crate::input::from_arrow;
use crate::text_form;

/// Turns batches of one schema into flat, CSV-writable batches.
pub struct CsvFlattener {
    flat: SchemaRef,
}

impl CsvFlattener {
    pub fn new(schema: &Schema) -> Self {
        let mut fields = Vec::new();
        for field in schema.fields() {
            flat_fields(field, field.name(), field.is_nullable(), &mut fields);
        }
        CsvFlattener { flat: Arc::new(Schema::new(fields)) }
    }

    /// The schema of the flat batches.
    pub fn schema(&self) -> SchemaRef {
        self.flat.clone()
    }

    pub fn flatten(&self, batch: &RecordBatch) -> anyhow::Result<RecordBatch> {
        let mut columns = Vec::with_capacity(self.flat.fields().len());
        for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
            flat_columns(field, array.clone(), &mut columns)?;
        }
        RecordBatch::try_new(self.flat.clone(), columns).map_err(from_arrow)
    }
}

fn flat_fields(field: &Field, name: &str, nullable: bool, out: &mut Vec<Field>) {
    match field.data_type() {
        DataType::Struct(children) => {
            for child in children {
                let child_name = format!("{name}.{}", child.name());
                flat_fields(child, &child_name, nullable || child.is_nullable(), out);
            }
        }
        t if t.is_nested() || text_form::is_bytes(t) => out.push(Field::new(name, DataType::Utf8, nullable)),
        t => out.push(Field::new(name, t.clone(), nullable)),
    }
}

fn flat_columns(field: &FieldRef, array: ArrayRef, out: &mut Vec<ArrayRef>) -> anyhow::Result<()> {
    match field.data_type() {
        DataType::Struct(children) => {
            let parent = array.as_any().downcast_ref::<StructArray>().ok_or_else(|| {
                anyhow::anyhow!("column '{}' is not the struct its type says", field.name())
            })?;
            let parent_nulls =
                if parent.null_count() > 0 { Some(is_null(parent).map_err(from_arrow)?) } else { None };
            for (child_field, child) in children.iter().zip(parent.columns()) {
                let child = match &parent_nulls {
                    Some(mask) => nullif(child, mask).map_err(from_arrow)?,
                    None => child.clone(),
                };
                flat_columns(child_field, child, out)?;
            }
        }
        t if t.is_nested() => out.push(json_text(field, &array)?),
        _ => out.push(text_form::as_text(array.as_ref()).unwrap_or(array)),
    }
    Ok(())
}

/// Each value of `array` as JSON text (nulls stay null).
fn json_text(field: &FieldRef, array: &ArrayRef) -> anyhow::Result<ArrayRef> {
    let options = text_form::json_options();
    let mut encoder = make_encoder(field, array.as_ref(), &options)
        .map_err(|e| from_arrow(e).context(format!("column '{}' cannot be written as CSV", field.name())))?;
    let mut text = StringBuilder::with_capacity(array.len(), array.len() * 16);
    let mut buffer = Vec::new();
    for row in 0..array.len() {
        if array.is_null(row) {
            text.append_null();
            continue;
        }
        buffer.clear();
        encoder.encode(row, &mut buffer);
        text.append_value(String::from_utf8_lossy(&buffer));
    }
    Ok(Arc::new(text.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{FixedSizeListArray, Float32Array, Float64Array, Int32Array, StringArray};
    use datafusion::arrow::buffer::NullBuffer;

    fn complex_field() -> Field {
        let children =
            vec![Field::new("real", DataType::Float64, false), Field::new("imag", DataType::Float64, false)];
        Field::new("z", DataType::Struct(children.into()), true)
    }

    #[test]
    fn structs_become_dotted_columns_and_null_parents_null_children() {
        let field = complex_field();
        let DataType::Struct(children) = field.data_type().clone() else { unreachable!() };
        let z = StructArray::new(
            children,
            vec![Arc::new(Float64Array::from(vec![1.0, 2.0])), Arc::new(Float64Array::from(vec![3.0, 4.0]))],
            Some(NullBuffer::from(vec![true, false])),
        );
        let schema = Arc::new(Schema::new(vec![field]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(z)]).unwrap();
        let flattener = CsvFlattener::new(&schema);
        let flat = flattener.flatten(&batch).unwrap();
        let names: Vec<_> = flat.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["z.real", "z.imag"]);
        let real = flat.column(0).as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(real.value(0), 1.0);
        assert!(real.is_null(1));
    }

    #[test]
    fn lists_become_json_text() {
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        let values = Float32Array::from(vec![0.5, 1.25, -3.0, f32::NAN]);
        let list = FixedSizeListArray::new(item.clone(), 2, Arc::new(values), None);
        let schema = Arc::new(Schema::new(vec![
            Field::new("v", DataType::FixedSizeList(item, 2), false),
            Field::new("n", DataType::Int32, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(list), Arc::new(Int32Array::from(vec![7, 8]))],
        )
        .unwrap();
        let flat = CsvFlattener::new(&schema).flatten(&batch).unwrap();
        let text = flat.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(text.value(0), "[0.5,1.25]");
        assert_eq!(text.value(1), "[-3.0,null]");
        assert_eq!(flat.schema().field(1).name(), "n");
    }
}
