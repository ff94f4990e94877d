//! `emb[i]` on a `FixedSizeList` column without the cast to `List`.
//!
//! DataFusion 55 plans `emb[i]` as `array_element(emb, i)`, whose signature coerces a
//! `FixedSizeList` to a `List`: every batch is cast (offsets built, values copied) before one
//! element per row is picked. [`FixedSizeElement`] is DataFusion's `array_element` (same name,
//! aliases, display and semantics: 1-based, negative from the end, out of range → NULL) that
//! takes a `FixedSizeList` as it is and gathers element `i` of each row straight from the flat
//! values buffer (row `r`'s element is `values[r*d + i - 1]`). Other argument types go to the
//! built-in. The SQL planner builds `array_element` from DataFusion's own static UDF, not from
//! the registry, so [`FixedSizeElementRewrite`] swaps it in during analysis.

use std::sync::Arc;

use datafusion::arrow::array::{new_null_array, Array, ArrayRef, AsArray, UInt64Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, Int64Type};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::functions_nested::extract::array_element_udf;
use datafusion::logical_expr::type_coercion::functions::fields_with_udf;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// `array_element` reading `FixedSizeList` rows in place. See the [module documentation](self).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FixedSizeElement {
    inner: Arc<ScalarUDF>,
    signature: Signature,
}

impl Default for FixedSizeElement {
    fn default() -> Self {
        FixedSizeElement { inner: array_element_udf(), signature: Signature::user_defined(Volatility::Immutable) }
    }
}

fn is_index(t: &DataType) -> bool {
    t.is_integer() || t == &DataType::Null
}

impl ScalarUDFImpl for FixedSizeElement {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.inner().schema_name(args)
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if let [list @ DataType::FixedSizeList(..), index] = arg_types {
            if is_index(index) {
                return Ok(vec![list.clone(), DataType::Int64]);
            }
        }
        let fields: Vec<_> = arg_types.iter().map(|t| Arc::new(Field::new("", t.clone(), true))).collect();
        Ok(fields_with_udf(&fields, self.inner.as_ref())?.iter().map(|f| f.data_type().clone()).collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [DataType::FixedSizeList(field, _), _] => Ok(field.data_type().clone()),
            _ => self.inner.return_type(arg_types),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if !matches!(args.arg_fields.first().map(|f| f.data_type()), Some(DataType::FixedSizeList(..))) {
            return self.inner.invoke_with_args(args);
        }
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [list, index] = arrays.as_slice() else {
            return self.inner.invoke_with_args(args);
        };
        let result = element_of_fixed(list.as_ref(), index.as_ref(), rows)?;
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

/// Element `index[r]` (1-based; negative counts from the end) of each row of a
/// `FixedSizeList`, NULL where the row or index is NULL or the index is out of range.
fn element_of_fixed(list: &dyn Array, index: &dyn Array, rows: usize) -> Result<ArrayRef> {
    let Some(list) = list.as_fixed_size_list_opt() else {
        return exec_err!("array_element: expected a FixedSizeList, got {}", list.data_type());
    };
    let d = i64::from(list.value_length());
    let values = list.values();
    if index.data_type() == &DataType::Null {
        return Ok(new_null_array(values.data_type(), rows));
    }
    let Some(index) = index.as_primitive_opt::<Int64Type>() else {
        return exec_err!("array_element: expected an Int64 index, got {}", index.data_type());
    };
    let position = |row: usize| -> Option<u64> {
        if list.is_null(row) || index.is_null(row) {
            return None;
        }
        let i = index.value(row);
        let zero_based = if i < 0 { d + i } else { i - 1 };
        (0..d).contains(&zero_based).then(|| (row as u64) * (d as u64) + zero_based as u64)
    };
    let positions: UInt64Array = (0..rows.min(list.len()).min(index.len())).map(position).collect();
    Ok(take(values.as_ref(), &positions, None)?)
}

/// Replaces DataFusion's `array_element` (as the SQL planner builds it for `emb[i]`) by
/// [`FixedSizeElement`].
pub type FixedSizeElementRewrite = super::SwapIn<FixedSizeElement>;
