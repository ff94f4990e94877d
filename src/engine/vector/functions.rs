//! The vector functions as DataFusion scalar UDFs, all served by [`super::kernels`].
//!
//! Two families share one implementation, [`VectorFunction`]:
//!
//! - DuckDB's names (`array_cosine_similarity`, `array_cosine_distance`, `array_inner_product`
//!   a.k.a. `array_dot_product`, `array_negative_inner_product`, and the `list_*` spellings),
//!   plus `l2_norm`/`array_norm`, with DuckDB's semantics: the result is `Float32` for float16
//!   and float32 data and `Float64` for float64; a NULL array gives NULL; a NULL element is an
//!   error; a zero vector's cosine is NaN; similarity is clamped to [-1, 1].
//! - DataFusion's own names (`cosine_distance`, `inner_product` a.k.a. `dot_product`,
//!   `array_distance` a.k.a. `list_distance`), replacing the built-ins with their semantics
//!   and result type (`Float64`): a NULL array or a NULL element gives NULL, and so does a zero
//!   vector's cosine distance. `array_distance` is also DuckDB's name; the built-in's
//!   semantics win, since registering the NPY format must not change a query's answer.
//!
//! Both compute in `f32` when either argument holds float16 or float32 values and in `f64`
//! otherwise (numpy's `float32 @ float32` is float32 too); arrays of other numbers are cast to
//! float64 arrays as the built-ins do. Arrays of different sizes are an error naming the
//! column, at planning time for two `FixedSizeList`s.
//!
//! A constant argument (a literal, a cast literal, a prepared statement's parameter after
//! `EXECUTE`, an uncorrelated scalar subquery) arrives as one scalar per batch: it is converted
//! to the computation's type and its norm taken once per batch, then every row of the other
//! argument is read in place from the flat values buffer.

use std::sync::Arc;

use datafusion::arrow::array::{new_null_array, ArrayRef, PrimitiveArray};
use datafusion::arrow::buffer::{NullBuffer, ScalarBuffer};
use datafusion::arrow::datatypes::{ArrowPrimitiveType, DataType, Field, FieldRef, Float32Type, Float64Type};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::kernels::{map_rows, pair, Acc, Against, Metric};
use super::normalize::strip_normalization;
use super::vectors::{element_type, is_float, Compute, Rows, Vectors};

/// Whose semantics a function has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// NULL element → error; zero-vector cosine → NaN; result in the data's precision.
    DuckDb,
    /// NULL element → NULL; zero-vector cosine → NULL; result `Float64`.
    DataFusion,
}

/// What is done with the kernel's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Output {
    /// As computed.
    Value,
    /// `-x`
    Negated,
    /// `1 - x` (cosine distance from similarity)
    OneMinus,
}

/// One vector function. See the [module documentation](self).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VectorFunction {
    name: &'static str,
    aliases: Vec<String>,
    metric: MetricKey,
    output: Output,
    flavor: Flavor,
    signature: Signature,
}

/// [`Metric`] with `Hash`/`Eq` for the UDF's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum MetricKey {
    Dot,
    Cosine,
    Euclidean,
    Norm,
}

impl MetricKey {
    fn metric(self) -> Metric {
        match self {
            MetricKey::Dot => Metric::Dot,
            MetricKey::Cosine => Metric::CosineSimilarity,
            MetricKey::Euclidean => Metric::Euclidean,
            MetricKey::Norm => Metric::Norm,
        }
    }
}

impl VectorFunction {
    fn new(name: &'static str, aliases: &[&str], metric: MetricKey, output: Output, flavor: Flavor) -> Self {
        VectorFunction {
            name,
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            metric,
            output,
            flavor,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn arity(&self) -> usize {
        if self.metric == MetricKey::Norm { 1 } else { 2 }
    }

    /// Does this function compute in `f32` for these argument types?
    fn computes_in_f32(arg_types: &[&DataType]) -> bool {
        arg_types.iter().any(|t| matches!(element_type(t), Some(DataType::Float16 | DataType::Float32)))
    }

    fn result_type(&self, arg_types: &[&DataType]) -> DataType {
        match self.flavor {
            Flavor::DuckDb if Self::computes_in_f32(arg_types) => DataType::Float32,
            _ => DataType::Float64,
        }
    }
}

/// All the vector functions, DuckDB's and DataFusion's names, and `l2_normalize`, ready to
/// register.
pub fn vector_udfs() -> Vec<ScalarUDF> {
    use Flavor::{DataFusion, DuckDb};
    use MetricKey::{Cosine, Dot, Euclidean, Norm};
    use Output::{Negated, OneMinus, Value};
    [
        VectorFunction::new("array_cosine_similarity", &["list_cosine_similarity"], Cosine, Value, DuckDb),
        VectorFunction::new("array_cosine_distance", &["list_cosine_distance"], Cosine, OneMinus, DuckDb),
        VectorFunction::new("array_inner_product", &["array_dot_product", "list_inner_product", "list_dot_product"], Dot, Value, DuckDb),
        VectorFunction::new(
            "array_negative_inner_product",
            &["array_negative_dot_product", "list_negative_inner_product", "list_negative_dot_product"],
            Dot,
            Negated,
            DuckDb,
        ),
        VectorFunction::new("l2_norm", &["array_norm", "list_norm"], Norm, Value, DuckDb),
        VectorFunction::new("cosine_distance", &[], Cosine, OneMinus, DataFusion),
        VectorFunction::new("inner_product", &["dot_product"], Dot, Value, DataFusion),
        VectorFunction::new("array_distance", &["list_distance"], Euclidean, Value, DataFusion),
    ]
    .into_iter()
    .map(ScalarUDF::new_from_impl)
    .chain(std::iter::once(ScalarUDF::new_from_impl(super::normalize::L2Normalize::default())))
    .collect()
}

impl ScalarUDFImpl for VectorFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.result_type(&arg_types.iter().collect::<Vec<_>>()))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<&DataType> = args.arg_fields.iter().map(|f| f.data_type()).collect();
        if let ([a, b], [a_scalar, b_scalar]) = (args.arg_fields, args.scalar_arguments) {
            if let (DataType::FixedSizeList(_, n), DataType::FixedSizeList(_, m)) = (a.data_type(), b.data_type()) {
                if n != m {
                    let (a, b) = (describe(a.name(), a_scalar.is_some()), describe(b.name(), b_scalar.is_some()));
                    return plan_err!("{}", size_mismatch(self.name, &a, *n as usize, &b, *m as usize));
                }
            }
        }
        Ok(Arc::new(Field::new(self.name, self.result_type(&types), true)))
    }

    /// See [`coerce_vector_argument`].
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != self.arity() {
            return plan_err!("{} expects {} arguments, got {}", self.name, self.arity(), arg_types.len());
        }
        arg_types.iter().map(|t| coerce_vector_argument(self.name, t)).collect()
    }

    /// `cosine_distance(l2_normalize(x), q)` is `cosine_distance(x, q)`, NULLs included (a
    /// zero vector or a NULL element gives NULL either way): the normalised copy is not made.
    /// DuckDB's names are left alone: for them a zero vector gives NaN and a NULL element an
    /// error, where the normalisation gives NULL.
    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        if self.metric != MetricKey::Cosine || self.flavor != Flavor::DataFusion {
            return Ok(ExprSimplifyResult::Original(args));
        }
        let mut stripped = false;
        let args: Vec<Expr> = args
            .into_iter()
            .map(|arg| {
                let (arg, removed) = strip_normalization(arg);
                stripped |= removed;
                arg
            })
            .collect();
        if !stripped {
            return Ok(ExprSimplifyResult::Original(args));
        }
        let this = Arc::new(ScalarUDF::new_from_impl(self.clone()));
        Ok(ExprSimplifyResult::Simplified(Expr::ScalarFunction(ScalarFunction::new_udf(this, args))))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let names: Vec<String> =
            args.args.iter().zip(&args.arg_fields).map(|(a, f)| describe(f.name(), matches!(a, ColumnarValue::Scalar(_)))).collect();
        let result = if Self::computes_in_f32(&args.arg_fields.iter().map(|f| f.data_type()).collect::<Vec<_>>()) {
            self.evaluate::<Float32Type>(&args.args, &names, args.number_rows)?
        } else {
            self.evaluate::<Float64Type>(&args.args, &names, args.number_rows)?
        };
        let result = match (self.flavor, result.data_type()) {
            (Flavor::DuckDb, _) | (_, DataType::Float64) => result,
            (Flavor::DataFusion, _) => datafusion::arrow::compute::cast(&result, &DataType::Float64)?,
        };
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }
}

/// The type a vector argument of `function` is computed as: arrays of floats stay as they are
/// (`FixedSizeList` included: no cast to `List`); arrays of other numbers become arrays of
/// `Float64`, as the built-ins coerce them.
pub(crate) fn coerce_vector_argument(function: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Null => Ok(DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))),
        DataType::FixedSizeList(f, _) | DataType::List(f) | DataType::LargeList(f) => {
            let element = f.data_type();
            if is_float(element) {
                Ok(t.clone())
            } else if element.is_numeric() || element == &DataType::Null {
                let field = Arc::new(Field::new(f.name(), DataType::Float64, true));
                Ok(match t {
                    DataType::FixedSizeList(_, n) => DataType::FixedSizeList(field, *n),
                    DataType::LargeList(_) => DataType::LargeList(field),
                    _ => DataType::List(field),
                })
            } else if element_type(element).is_some() {
                plan_err!("{function} only supports one-dimensional arrays, got {t}")
            } else {
                plan_err!("{function} does not support arrays of {element}")
            }
        }
        other => plan_err!("{function} does not support type {other}"),
    }
}

fn size_mismatch(function: &str, a: &str, n: usize, b: &str, m: usize) -> String {
    format!("{function}: arrays of different sizes: {a} has {n} elements, {b} has {m}")
}

/// How errors name an argument: a column by its name, a constant as the query vector.
fn describe(field_name: &str, constant: bool) -> String {
    if constant { "the query vector".to_string() } else { format!("'{field_name}'") }
}

/// A constant argument as a one-row array; arrays as they are.
fn as_array(value: &ColumnarValue) -> Result<(ArrayRef, bool)> {
    match value {
        ColumnarValue::Array(a) => Ok((Arc::clone(a), false)),
        ColumnarValue::Scalar(s) => Ok((s.to_array_of_size(1)?, true)),
    }
}

impl VectorFunction {
    /// The function over one batch, computed in `P::Native` (`f32` or `f64`).
    fn evaluate<P>(&self, args: &[ColumnarValue], names: &[String], number_rows: usize) -> Result<ArrayRef>
    where
        P: ArrowPrimitiveType,
        P::Native: Compute,
    {
        let arrays = args.iter().map(as_array).collect::<Result<Vec<_>>>()?;
        let name_of = |i: usize| names.get(i).map(String::as_str).unwrap_or("an argument");
        let rows = if arrays.iter().all(|(_, scalar)| *scalar) { 1 } else { number_rows };
        let out_type = P::DATA_TYPE;

        // The data argument, and the query (a constant, or a second array).
        let (data_index, query_index) = match arrays.as_slice() {
            [_] => (0, None),
            // The metrics are symmetric: the constant (if any) is the query.
            [(_, true), (_, false)] => (1, Some(0)),
            [_, _] => (0, Some(1)),
            _ => return exec_err!("{} expects {} arguments, got {}", self.name, self.arity(), args.len()),
        };
        let data_name = name_of(data_index);
        let data = Vectors::try_new(arrays[data_index].0.as_ref(), &format!("{}: {data_name}", self.name))?;
        let query = match query_index {
            Some(q) => Some((Vectors::try_new(arrays[q].0.as_ref(), &format!("{}: {}", self.name, name_of(q)))?, arrays[q].1, name_of(q))),
            None => None,
        };
        let metric = self.metric.metric();
        let mut nulls_from_elements: Vec<usize> = Vec::new();

        let mut values: Vec<P::Native> = match query {
            // A constant query: converted once, then each row read in place.
            Some((q, true, q_name)) => {
                if q.is_null(0) {
                    return Ok(new_null_array(&out_type, rows));
                }
                if q.has_null_element(0) {
                    match self.flavor {
                        Flavor::DuckDb => return exec_err!("{}: {q_name} contains NULL values", self.name),
                        Flavor::DataFusion => return Ok(new_null_array(&out_type, rows)),
                    }
                }
                let mut query_scratch = Vec::new();
                let query_row: Vec<P::Native> = match q.row(0, &mut query_scratch) {
                    Some(r) => r.to_vec(),
                    None => return exec_err!("{}: malformed array {q_name}", self.name),
                };
                let against = Against::new(metric, &query_row);
                self.rows_against(&data, data_name, q_name, &query_row, &against, &mut nulls_from_elements)?
            }
            // Two arrays, row by row.
            Some((q, false, q_name)) => {
                let (mut a_scratch, mut b_scratch) = (Vec::new(), Vec::new());
                let mut out = Vec::with_capacity(data.len);
                for row in 0..data.len.min(q.len) {
                    if data.is_null(row) || q.is_null(row) {
                        out.push(<P::Native as Acc>::ZERO);
                        continue;
                    }
                    if self.null_elements(&data, data_name, row, &mut nulls_from_elements)?
                        || self.null_elements(&q, q_name, row, &mut nulls_from_elements)?
                    {
                        out.push(<P::Native as Acc>::ZERO);
                        continue;
                    }
                    let (Some(a), Some(b)) = (data.row(row, &mut a_scratch), q.row(row, &mut b_scratch)) else {
                        return exec_err!("{}: malformed array {data_name} or {q_name}", self.name);
                    };
                    if a.len() != b.len() {
                        return exec_err!("{}", size_mismatch(self.name, data_name, a.len(), q_name, b.len()));
                    }
                    out.push(pair(metric, a, b));
                }
                out
            }
            // One argument (the norm).
            None => {
                let against = Against::new(metric, &[]);
                self.rows_against(&data, data_name, "", &[], &against, &mut nulls_from_elements)?
            }
        };

        // Zero vectors: NaN for DuckDB; NULL for DataFusion's cosine_distance.
        let mut zero_norm_rows = Vec::new();
        if self.flavor == Flavor::DataFusion && metric == Metric::CosineSimilarity {
            for (row, v) in values.iter().enumerate() {
                if v.is_nan() && self.has_zero_norm::<P::Native>(&data, query.as_ref().map(|(q, s, _)| (q, *s)), row) {
                    zero_norm_rows.push(row);
                }
            }
        }
        for v in values.iter_mut() {
            *v = match self.output {
                Output::Value if metric == Metric::CosineSimilarity => clamp_unit(*v),
                Output::Value => *v,
                Output::Negated => <P::Native as Acc>::ZERO - *v,
                Output::OneMinus if self.flavor == Flavor::DuckDb => <P::Native as Acc>::ONE - clamp_unit(*v),
                Output::OneMinus => <P::Native as Acc>::ONE - *v,
            };
        }
        values.resize(rows, <P::Native as Acc>::ZERO);

        let mut nulls = data.nulls.cloned();
        if let Some((q, false, _)) = &query {
            nulls = NullBuffer::union(nulls.as_ref(), q.nulls);
        }
        if !nulls_from_elements.is_empty() || !zero_norm_rows.is_empty() {
            let mut valid: Vec<bool> = (0..rows).map(|r| nulls.as_ref().is_none_or(|n| n.is_valid(r))).collect();
            for r in nulls_from_elements.into_iter().chain(zero_norm_rows) {
                if let Some(v) = valid.get_mut(r) {
                    *v = false;
                }
            }
            nulls = Some(NullBuffer::from(valid));
        }
        Ok(Arc::new(PrimitiveArray::<P>::new(ScalarBuffer::from(values), nulls)))
    }

    /// The metric of every row of `data` against a constant query.
    fn rows_against<T: Compute>(
        &self,
        data: &Vectors<'_>,
        data_name: &str,
        query_name: &str,
        query: &[T],
        against: &Against<'_, T>,
        nulls_from_elements: &mut Vec<usize>,
    ) -> Result<Vec<T>> {
        let unary = self.metric == MetricKey::Norm;
        // The fast path: fixed-size rows of the computation's type, read in place.
        if let (Rows::Fixed(d), Some(all)) = (data.rows, T::borrow(&data.elements)) {
            if !unary && d != query.len() {
                return exec_err!("{}", size_mismatch(self.name, data_name, d, query_name, query.len()));
            }
            let Some(flat) = data.len.checked_mul(d).and_then(|n| all.get(..n)) else {
                return exec_err!("{}: malformed array {data_name}", self.name);
            };
            if data.element_nulls.is_some() {
                for row in 0..data.len {
                    if !data.is_null(row) {
                        self.null_elements(data, data_name, row, nulls_from_elements)?;
                    }
                }
            }
            return Ok(map_rows(flat, d, data.len, against));
        }
        let mut scratch = Vec::new();
        let mut out = Vec::with_capacity(data.len);
        for row in 0..data.len {
            if data.is_null(row) || self.null_elements(data, data_name, row, nulls_from_elements)? {
                out.push(T::ZERO);
                continue;
            }
            let Some(values) = data.row(row, &mut scratch) else {
                return exec_err!("{}: malformed array {data_name}", self.name);
            };
            if !unary && values.len() != query.len() {
                return exec_err!("{}", size_mismatch(self.name, data_name, values.len(), query_name, query.len()));
            }
            out.push(against.apply(values));
        }
        Ok(out)
    }

    /// Whether `row` of `v` holds NULL elements: an error for DuckDB's functions; for
    /// DataFusion's, the row is noted to become NULL and `true` returned.
    fn null_elements(&self, v: &Vectors<'_>, name: &str, row: usize, nulls: &mut Vec<usize>) -> Result<bool> {
        if v.element_nulls.is_none() || !v.has_null_element(row) {
            return Ok(false);
        }
        match self.flavor {
            Flavor::DuckDb => exec_err!("{}: {name} contains NULL values (row {row})", self.name),
            Flavor::DataFusion => {
                nulls.push(row);
                Ok(true)
            }
        }
    }

    /// Is the cosine of `row` undefined because a vector is zero?
    fn has_zero_norm<T: Compute>(&self, data: &Vectors<'_>, query: Option<(&Vectors<'_>, bool)>, row: usize) -> bool {
        let mut scratch = Vec::new();
        let zero = |v: &Vectors<'_>, r: usize, scratch: &mut Vec<T>| {
            v.row::<T>(r, scratch).is_some_and(|x| x.iter().all(|e| *e == T::ZERO))
        };
        zero(data, row, &mut scratch)
            || query.is_some_and(|(q, constant)| zero(q, if constant { 0 } else { row }, &mut scratch))
    }
}

/// `x` clamped to [-1, 1], NaN kept (DuckDB clamps cosine similarity).
#[inline]
fn clamp_unit<T: Acc>(x: T) -> T {
    let minus_one = T::ZERO - T::ONE;
    if x > T::ONE {
        T::ONE
    } else if x < minus_one {
        minus_one
    } else {
        x
    }
}
