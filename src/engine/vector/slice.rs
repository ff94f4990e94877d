//! `emb[i:j]` on a `FixedSizeList` column without the cast to `List`.
//!
//! DataFusion 55 plans `emb[i:j]` as `array_slice(emb, i, j)`, whose signature coerces a
//! `FixedSizeList` to a `List`: a cast per batch. [`FixedSizeSlice`] is DataFusion's
//! `array_slice` (same name, aliases, semantics and result type) that takes the
//! `FixedSizeList` as it is and hands the built-in a `List` *view* of it: offsets `0, d, 2d, …`
//! over the same values buffer (the memory map, for a `.npy` scan), so only the sliced
//! elements are ever copied, by the built-in itself. Its semantics (1-based, inclusive,
//! negative indices from the end, out-of-range clamped, NULLs) are therefore the built-in's by
//! construction, strides (`emb[i:j:s]`) included. Other argument types go to the built-in as
//! they are. [`FixedSizeSliceRewrite`] swaps it in, as `element.rs` does for `emb[i]`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::Result;
use datafusion::functions_nested::extract::array_slice_udf;
use datafusion::logical_expr::type_coercion::functions::fields_with_udf;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// `array_slice` reading `FixedSizeList` rows in place. See the [module documentation](self).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FixedSizeSlice {
    inner: Arc<ScalarUDF>,
    signature: Signature,
}

impl Default for FixedSizeSlice {
    fn default() -> Self {
        FixedSizeSlice { inner: array_slice_udf(), signature: Signature::user_defined(Volatility::Immutable) }
    }
}

fn is_index(t: &DataType) -> bool {
    t.is_integer() || t == &DataType::Null
}

impl FixedSizeSlice {
    /// The built-in's coercion of `arg_types`.
    fn inner_coercion(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let fields: Vec<_> = arg_types.iter().map(|t| Arc::new(Field::new("", t.clone(), true))).collect();
        Ok(fields_with_udf(&fields, self.inner.as_ref())?.iter().map(|f| f.data_type().clone()).collect())
    }
}

impl ScalarUDFImpl for FixedSizeSlice {
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
        // `emb[i:j]` (planned with a stride of 1) keeps the FixedSizeList; the indices become
        // Int64 as the built-in coerces them.
        if let [list @ DataType::FixedSizeList(..), indices @ ..] = arg_types {
            if matches!(indices.len(), 2 | 3) && indices.iter().all(is_index) {
                return Ok(std::iter::once(list.clone()).chain(indices.iter().map(|_| DataType::Int64)).collect());
            }
        }
        self.inner_coercion(arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            // What the built-in returns for the List it would have cast to.
            [DataType::FixedSizeList(..), ..] => self.inner.return_type(&self.inner_coercion(arg_types)?),
            _ => self.inner.return_type(arg_types),
        }
    }

    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let Some(DataType::FixedSizeList(..)) = args.arg_fields.first().map(|f| f.data_type().clone()) else {
            return self.inner.invoke_with_args(args);
        };
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let Some(DataType::List(list_field)) = self.inner_coercion(&types)?.into_iter().next() else {
            return self.inner.invoke_with_args(args);
        };
        let view = |array: &ArrayRef| -> Option<ArrayRef> {
            let list = array.as_fixed_size_list_opt()?;
            let d = usize::try_from(list.value_length()).ok()?;
            let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(d, list.len()));
            let values = Arc::clone(list.values());
            // The built-in's result carries this field: it must be the one its coercion names.
            if values.data_type() != list_field.data_type() {
                return None;
            }
            ListArray::try_new(Arc::clone(&list_field), offsets, values, list.nulls().cloned()).ok().map(|l| Arc::new(l) as ArrayRef)
        };
        let viewed = match &args.args[0] {
            ColumnarValue::Array(array) => view(array).map(ColumnarValue::Array),
            ColumnarValue::Scalar(_) => None,
        };
        match viewed {
            Some(list) => {
                args.args[0] = list;
                let arg_field = Arc::new(args.arg_fields[0].as_ref().clone().with_data_type(DataType::List(list_field)));
                args.arg_fields[0] = arg_field;
                self.inner.invoke_with_args(args)
            }
            // A constant, or a view the built-in would not take: cast as DataFusion does.
            _ => {
                let cast = args.args[0].cast_to(&DataType::List(Arc::clone(&list_field)), None)?;
                args.args[0] = cast;
                args.arg_fields[0] = Arc::new(args.arg_fields[0].as_ref().clone().with_data_type(DataType::List(list_field)));
                self.inner.invoke_with_args(args)
            }
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

/// Replaces DataFusion's `array_slice` (as the SQL planner builds it for `emb[i:j]`) by
/// [`FixedSizeSlice`].
pub type FixedSizeSliceRewrite = super::SwapIn<FixedSizeSlice>;
