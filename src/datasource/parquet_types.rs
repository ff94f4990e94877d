//! Arrow types Parquet cannot hold as they are, and what is written instead: what pyarrow
//! writes, so that pyarrow, DuckDB, Polars and pandas read the file as they read pyarrow's.
//!
//! | Arrow | Parquet has | written as (as pyarrow does) |
//! |---|---|---|
//! | `Timestamp(Second, tz)` (`M8[s]`, `M8[m]`, `M8[h]`) | no seconds unit | `Timestamp(Millisecond, tz)`: `TIMESTAMP(MILLIS)` |
//! | `Time32(Second)` | no seconds unit | `Time32(Millisecond)`: `TIME(MILLIS)` |
//! | `Date64` | `DATE` is days | `Date32`: `DATE` |
//!
//! The same inside structs, lists, fixed-size lists and maps. Every other type the reader
//! produces has a Parquet type readers understand, or none at all and pyarrow writes it as
//! parquet-rs does (`Duration`: a bare `INT64`, its unit only in the embedded Arrow schema).
//! Field names, nullability and metadata (`numpy.descr`) are kept.
//!
//! Two writers use this: the CLI's Parquet output casts each batch with
//! [`parquet_storable_schema`] + [`cast_to_schema`], and `COPY ... STORED AS PARQUET` gets the
//! same casts from the analyzer rule [`ParquetStorableTypes`] (registered by
//! `register_npy_format`).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, FieldRef, Fields, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::error::ArrowError;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Column, Result};
use datafusion::logical_expr::dml::CopyTo;
use datafusion::logical_expr::{cast, Expr, LogicalPlan, Projection};
use datafusion::optimizer::AnalyzerRule;

/// The type Parquet stores for `data_type`, when it is not `data_type` itself.
pub fn parquet_storable_type(data_type: &DataType) -> Option<DataType> {
    match data_type {
        DataType::Timestamp(TimeUnit::Second, tz) => Some(DataType::Timestamp(TimeUnit::Millisecond, tz.clone())),
        DataType::Time32(TimeUnit::Second) => Some(DataType::Time32(TimeUnit::Millisecond)),
        DataType::Date64 => Some(DataType::Date32),
        DataType::Struct(fields) => storable_fields(fields).map(DataType::Struct),
        DataType::List(item) => storable_field(item).map(DataType::List),
        DataType::LargeList(item) => storable_field(item).map(DataType::LargeList),
        DataType::FixedSizeList(item, size) => storable_field(item).map(|item| DataType::FixedSizeList(item, *size)),
        DataType::Map(entries, sorted) => storable_field(entries).map(|entries| DataType::Map(entries, *sorted)),
        _ => None,
    }
}

fn storable_field(field: &FieldRef) -> Option<FieldRef> {
    parquet_storable_type(field.data_type()).map(|t| Arc::new(field.as_ref().clone().with_data_type(t)))
}

fn storable_fields(fields: &Fields) -> Option<Fields> {
    if fields.iter().all(|f| parquet_storable_type(f.data_type()).is_none()) {
        return None;
    }
    Some(fields.iter().map(|f| storable_field(f).unwrap_or_else(|| f.clone())).collect())
}

/// The schema Parquet stores for `schema`, when it differs (see the module's table). Schema
/// metadata and each field's name, nullability and metadata are kept.
pub fn parquet_storable_schema(schema: &Schema) -> Option<SchemaRef> {
    let fields = storable_fields(schema.fields())?;
    Some(Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())))
}

/// `batch` cast to `schema` (from [`parquet_storable_schema`]), column by column. A value the
/// new unit cannot hold (a datetime beyond ±292 million years in milliseconds) is an error
/// naming the column, never a silent null.
pub fn cast_to_schema(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let options = CastOptions { safe: false, ..Default::default() };
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                return Ok(column.clone());
            }
            cast_with_options(column, field.data_type(), &options).map_err(|e| {
                ArrowError::CastError(format!(
                    "column '{}': {} cannot be written to Parquet as {}: {e}",
                    field.name(),
                    column.data_type(),
                    field.data_type()
                ))
            })
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}

/// An analyzer rule for `COPY ... TO ... STORED AS PARQUET` (and `DataFrame::write_parquet`):
/// the copied query gets a projection that casts its columns to [`parquet_storable_type`].
///
/// Why a rule on the logical `COPY` rather than a wrapper around DataFusion's Parquet format:
/// the plan is the one place every Parquet write of a query passes through whatever built it
/// (SQL, `DataFrame`, a `.parquet` extension or `STORED AS`), and DataFusion's own
/// `ParquetFormat` stays registered untouched, so nothing that downcasts to it (listing tables,
/// pruning, plan serialisation) changes. Why an analyzer rule rather than an optimizer rule: it
/// changes what is written, not how fast, so it must run even when optimizer rules are skipped
/// or fail. `INSERT INTO` an existing Parquet table is not rewritten: that table's schema says
/// what its files hold.
#[derive(Debug, Default)]
pub struct ParquetStorableTypes;

impl ParquetStorableTypes {
    pub const NAME: &'static str = "npy_parquet_storable_types";
}

impl AnalyzerRule for ParquetStorableTypes {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up(|node| match node {
            LogicalPlan::Copy(copy) if copy.file_type.get_ext().eq_ignore_ascii_case("parquet") => {
                match storable_projection(&copy.input)? {
                    Some(input) => Ok(Transformed::yes(LogicalPlan::Copy(CopyTo { input: Arc::new(input), ..copy }))),
                    None => Ok(Transformed::no(LogicalPlan::Copy(copy))),
                }
            }
            other => Ok(Transformed::no(other)),
        })
        .data()
    }

    fn name(&self) -> &str {
        Self::NAME
    }
}

/// `input` under a projection casting each column Parquet cannot store as it is; `None` when
/// every column can be stored as it is.
fn storable_projection(input: &Arc<LogicalPlan>) -> Result<Option<LogicalPlan>> {
    let schema = input.schema();
    if storable_fields(schema.fields()).is_none() {
        return Ok(None);
    }
    let exprs = schema
        .iter()
        .map(|(qualifier, field)| {
            let column = Expr::Column(Column::from((qualifier, field)));
            match parquet_storable_type(field.data_type()) {
                // A type-only cast keeps the field's nullability and metadata (numpy.descr).
                Some(storable) => cast(column, storable).alias_qualified(qualifier.cloned(), field.name()),
                None => column,
            }
        })
        .collect();
    Ok(Some(LogicalPlan::Projection(Projection::try_new(exprs, input.clone())?)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray, FixedSizeListArray, Int32Array, StructArray, TimestampSecondArray};
    use datafusion::arrow::datatypes::{Field, TimestampMillisecondType};
    use std::collections::HashMap;

    fn seconds() -> DataType {
        DataType::Timestamp(TimeUnit::Second, None)
    }

    fn millis() -> DataType {
        DataType::Timestamp(TimeUnit::Millisecond, None)
    }

    #[test]
    fn seconds_become_milliseconds_at_any_depth() {
        assert_eq!(parquet_storable_type(&seconds()), Some(millis()));
        let tz = DataType::Timestamp(TimeUnit::Second, Some("UTC".into()));
        assert_eq!(parquet_storable_type(&tz), Some(DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))));
        let nested = DataType::Struct(
            vec![Field::new("t", DataType::FixedSizeList(Arc::new(Field::new("item", seconds(), true)), 2), false)]
                .into(),
        );
        let expected = DataType::Struct(
            vec![Field::new("t", DataType::FixedSizeList(Arc::new(Field::new("item", millis(), true)), 2), false)]
                .into(),
        );
        assert_eq!(parquet_storable_type(&nested), Some(expected));
    }

    #[test]
    fn types_parquet_holds_are_left_alone() {
        for t in [
            DataType::Timestamp(TimeUnit::Millisecond, None),
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            DataType::Duration(TimeUnit::Second),
            DataType::Date32,
            DataType::Float16,
            DataType::UInt64,
            DataType::FixedSizeBinary(3),
            DataType::Struct(vec![Field::new("real", DataType::Float32, false)].into()),
        ] {
            assert_eq!(parquet_storable_type(&t), None, "{t}");
        }
    }

    #[test]
    fn casting_keeps_values_names_and_metadata() {
        let metadata = HashMap::from([("numpy.descr".to_string(), "<M8[h]".to_string())]);
        let field = Field::new("t", seconds(), true).with_metadata(metadata.clone());
        let item = Arc::new(Field::new("item", seconds(), true));
        let list = FixedSizeListArray::new(item.clone(), 1, Arc::new(TimestampSecondArray::from(vec![Some(7), None])), None);
        let record = StructArray::from(vec![(
            Arc::new(Field::new("n", DataType::Int32, false)),
            Arc::new(Int32Array::from(vec![1, 2])) as ArrayRef,
        )]);
        let schema = Arc::new(Schema::new(vec![
            field,
            Field::new("v", DataType::FixedSizeList(item, 1), false),
            Field::new("r", record.data_type().clone(), false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(TimestampSecondArray::from(vec![Some(-3600), None])),
                Arc::new(list),
                Arc::new(record),
            ],
        )
        .unwrap();
        let storable = parquet_storable_schema(&schema).unwrap();
        let cast = cast_to_schema(&batch, &storable).unwrap();
        assert_eq!(cast.schema().field(0).metadata(), &metadata);
        assert!(cast.schema().field(0).is_nullable());
        let t = cast.column(0).as_primitive::<TimestampMillisecondType>();
        assert_eq!(t.value(0), -3_600_000);
        assert!(t.is_null(1));
        let v = cast.column(1).as_fixed_size_list().values().as_primitive::<TimestampMillisecondType>().clone();
        assert_eq!(v.value(0), 7000);
        assert!(v.is_null(1));
        assert!(cast.column(2).to_data() == batch.column(2).to_data(), "struct without timestamps untouched");
    }

    #[test]
    fn overflow_is_an_error_naming_the_column() {
        let schema = Arc::new(Schema::new(vec![Field::new("far", seconds(), false)]));
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(TimestampSecondArray::from(vec![i64::MAX / 10]))])
                .unwrap();
        let e = cast_to_schema(&batch, &parquet_storable_schema(&schema).unwrap()).unwrap_err();
        assert!(e.to_string().contains("column 'far'"), "{e}");
    }
}
