//! `l2_normalize(emb)`: each vector divided by its L2 norm, in the column's own type.
//!
//! DataFusion's `array_normalize` casts its argument to `List<Float64>` and returns one: a
//! `FixedSizeList<Float32>` embeddings column comes back twice as large, as another type. This
//! function keeps the container (`FixedSizeList` of the same size, `List`, `LargeList`) and the
//! element type (float16, float32, float64), computing as numpy does (`X / np.linalg.norm(X,
//! axis=1, keepdims=True)`): the norm and the division in `f32` for float16 and float32 data,
//! in `f64` for float64, the norm by the same kernels as `l2_norm`. Arrays of other numbers are
//! normalised as float64, as `array_normalize` casts them.
//!
//! NULLs as `array_normalize` documents them: a NULL array, an array holding a NULL element and
//! a zero vector (no direction) give NULL; an empty array gives an empty array.
//!
//! A normalised vector is not materialised where only its direction is used: the planner
//! drops it from the arguments of `cosine_distance` ([`strip_normalization`]), whose NULLs
//! are the same (a zero vector or a NULL element gives NULL there too).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, FixedSizeListArray, Float16Array, Float32Array, Float64Array, GenericListArray, OffsetSizeTrait};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};
use half::f16;
use half::slice::HalfFloatSliceExt;

use super::functions::coerce_vector_argument;
use super::kernels::{Acc, Kernels};
use super::vectors::{Compute, Elements, Rows, Vectors};

/// `l2_normalize` (alias `array_l2_normalize`); see the [module documentation](self).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct L2Normalize {
    signature: Signature,
    aliases: Vec<String>,
}

impl Default for L2Normalize {
    fn default() -> Self {
        L2Normalize { signature: Signature::user_defined(Volatility::Immutable), aliases: vec!["array_l2_normalize".to_string()] }
    }
}

/// The name of [`L2Normalize`].
pub const L2_NORMALIZE: &str = "l2_normalize";

impl ScalarUDFImpl for L2Normalize {
    fn name(&self) -> &str {
        L2_NORMALIZE
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [t] => Ok(t.clone()),
            _ => plan_err!("{L2_NORMALIZE} expects 1 argument, got {}", arg_types.len()),
        }
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [t] => Ok(vec![coerce_vector_argument(L2_NORMALIZE, t)?]),
            _ => plan_err!("{L2_NORMALIZE} expects 1 argument, got {}", arg_types.len()),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else {
            return exec_err!("{L2_NORMALIZE} expects 1 argument, got {}", args.args.len());
        };
        match arg {
            ColumnarValue::Array(array) => Ok(ColumnarValue::Array(l2_normalize(array.as_ref())?)),
            ColumnarValue::Scalar(scalar) => {
                let normalized = l2_normalize(scalar.to_array_of_size(1)?.as_ref())?;
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&normalized, 0)?))
            }
        }
    }
}

/// Each vector of `array` (a `FixedSizeList`, `List` or `LargeList` of floats) divided by its
/// L2 norm, as an array of the same type.
pub fn l2_normalize(array: &dyn Array) -> Result<ArrayRef> {
    let vectors = Vectors::try_new(array, L2_NORMALIZE)?;
    match vectors.elements {
        Elements::F64(_) => build(array, normalized::<f64>(&vectors)?, |values: Vec<f64>| Arc::new(Float64Array::from(values)) as ArrayRef),
        Elements::F32(_) => build(array, normalized::<f32>(&vectors)?, |values: Vec<f32>| Arc::new(Float32Array::from(values)) as ArrayRef),
        Elements::F16(_) => build(array, normalized::<f32>(&vectors)?, |values: Vec<f32>| {
            let mut halves = vec![f16::ZERO; values.len()];
            halves.convert_from_f32_slice(&values);
            Arc::new(Float16Array::from(halves)) as ArrayRef
        }),
    }
}

/// The normalised vectors of one array, laid out as the output holds them: every row's values
/// one after the other (a NULL row as `d` zeros in a `FixedSizeList` of size `d`, as nothing in a
/// list), each row's length, and which rows are valid.
struct Normalized<T> {
    values: Vec<T>,
    lengths: Vec<usize>,
    valid: Vec<bool>,
}

fn normalized<T: Compute>(vectors: &Vectors<'_>) -> Result<Normalized<T>> {
    let kernels = Kernels::<T>::best();
    // What a NULL row takes: a FixedSizeList's rows are all `d` long.
    let null_len = match vectors.rows {
        Rows::Fixed(d) => d,
        _ => 0,
    };
    let mut out = Normalized { values: Vec::new(), lengths: Vec::with_capacity(vectors.len), valid: Vec::with_capacity(vectors.len) };
    let mut scratch = Vec::new();
    for row in 0..vectors.len {
        let valid_row = if vectors.is_null(row) || vectors.has_null_element(row) {
            None
        } else {
            let Some(values) = vectors.row::<T>(row, &mut scratch) else {
                return exec_err!("{L2_NORMALIZE}: malformed array (row {row} lies outside its values)");
            };
            let norm = kernels.norm2(values).sqrt();
            // A zero vector has no direction (an empty one stays empty).
            (norm != T::ZERO || values.is_empty()).then_some((values, norm))
        };
        match valid_row {
            Some((values, norm)) => {
                out.values.extend(values.iter().map(|v| v.div(norm)));
                out.lengths.push(values.len());
                out.valid.push(true);
            }
            None => {
                out.values.resize(out.values.len() + null_len, T::ZERO);
                out.lengths.push(null_len);
                out.valid.push(false);
            }
        }
    }
    Ok(out)
}

/// The output array: `input`'s type, holding `normalized`'s values (as `elements` makes them).
fn build<T: Acc>(input: &dyn Array, normalized: Normalized<T>, elements: impl Fn(Vec<T>) -> ArrayRef) -> Result<ArrayRef> {
    let Normalized { values, lengths, valid } = normalized;
    let nulls = valid.iter().any(|v| !v).then(|| NullBuffer::from(valid));
    match input.data_type() {
        DataType::FixedSizeList(field, size) => Ok(Arc::new(FixedSizeListArray::try_new(Arc::clone(field), *size, elements(values), nulls)?)),
        DataType::List(field) => list::<i32>(field, &lengths, elements(values), nulls),
        DataType::LargeList(field) => list::<i64>(field, &lengths, elements(values), nulls),
        other => exec_err!("{L2_NORMALIZE}: expected an array of floats, got {other}"),
    }
}

fn list<O: OffsetSizeTrait>(field: &FieldRef, lengths: &[usize], values: ArrayRef, nulls: Option<NullBuffer>) -> Result<ArrayRef> {
    let offsets = OffsetBuffer::<O>::from_lengths(lengths.iter().copied());
    Ok(Arc::new(GenericListArray::<O>::try_new(Arc::clone(field), offsets, values, nulls)?))
}

/// `expr` without a normalisation on top (`l2_normalize(x)` or DataFusion's
/// `array_normalize(x)` → `x`), and whether one was removed. For the arguments of a cosine
/// whose NULLs equal the normalisation's (see the module docs).
pub fn strip_normalization(expr: Expr) -> (Expr, bool) {
    match expr {
        Expr::ScalarFunction(ScalarFunction { func, mut args })
            if args.len() == 1 && (func.inner().is::<L2Normalize>() || func.name() == "array_normalize") =>
        {
            (args.remove(0), true)
        }
        other => (other, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::{Field, Float16Type, Float32Type};

    fn fixed(values: Vec<Option<f32>>, d: i32, nulls: Option<Vec<bool>>) -> FixedSizeListArray {
        let field = Arc::new(Field::new_list_field(DataType::Float32, true));
        FixedSizeListArray::new(field, d, Arc::new(Float32Array::from(values)), nulls.map(NullBuffer::from))
    }

    #[test]
    fn fixed_size_rows_keep_their_type_and_null_where_undefined() {
        // [3, 4] → [0.6, 0.8]; a zero vector, a NULL element and a NULL row → NULL.
        let input = fixed(
            vec![Some(3.0), Some(4.0), Some(0.0), Some(0.0), Some(1.0), None, Some(5.0), Some(5.0), Some(0.0), Some(-2.0)],
            2,
            Some(vec![true, true, true, false, true]),
        );
        let out = l2_normalize(&input).unwrap();
        assert_eq!(out.data_type(), input.data_type());
        let list = out.as_fixed_size_list();
        assert_eq!(list.len(), 5);
        assert_eq!((0..5).map(|r| list.is_valid(r)).collect::<Vec<_>>(), vec![true, false, false, false, true]);
        let values = list.values().as_primitive::<Float32Type>();
        assert_eq!(&values.values()[0..2], &[0.6, 0.8]);
        assert_eq!(&values.values()[8..10], &[0.0, -1.0]);
    }

    #[test]
    fn float16_is_computed_in_f32_and_returned_as_float16() {
        let field = Arc::new(Field::new_list_field(DataType::Float16, true));
        let halves: Vec<f16> = [1.0f32, 2.0, 2.0].iter().map(|v| f16::from_f32(*v)).collect();
        let input = FixedSizeListArray::new(field, 3, Arc::new(Float16Array::from(halves)), None);
        let out = l2_normalize(&input).unwrap();
        assert_eq!(out.data_type(), input.data_type());
        let values = out.as_fixed_size_list().values().as_primitive::<Float16Type>().values().to_vec();
        let expected: Vec<f16> = [1.0f32 / 3.0, 2.0 / 3.0, 2.0 / 3.0].iter().map(|v| f16::from_f32(*v)).collect();
        assert_eq!(values, expected);
    }

    #[test]
    fn lists_keep_their_lengths_and_empty_arrays_stay_empty() {
        let input = GenericListArray::<i32>::from_iter_primitive::<Float32Type, _, _>(vec![
            Some(vec![Some(0.0), Some(2.0)]),
            Some(vec![]),
            None,
            Some(vec![Some(3.0), Some(0.0), Some(4.0)]),
        ]);
        let out = l2_normalize(&input).unwrap();
        assert_eq!(out.data_type(), input.data_type());
        let list = out.as_list::<i32>();
        assert_eq!((0..4).map(|r| list.is_valid(r)).collect::<Vec<_>>(), vec![true, true, false, true]);
        assert_eq!(list.value(0).as_primitive::<Float32Type>().values().to_vec(), vec![0.0, 1.0]);
        assert_eq!(list.value(1).len(), 0);
        assert_eq!(list.value(3).as_primitive::<Float32Type>().values().to_vec(), vec![0.6, 0.0, 0.8]);
    }
}
