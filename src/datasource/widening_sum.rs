//! `sum` and `avg` that widen `Float32` (and `Float16`) to `Float64` while summing, instead of
//! casting the whole column first.
//!
//! # Why
//!
//! DataFusion's built-in `sum` and `avg` coerce a `Float32` argument to `Float64`: `sum(x)` is
//! planned as `sum(CAST(x AS Float64))`, so every batch is first materialised as a new
//! `Float64` array (twice the bytes of the column) and only then summed. Over a large
//! memory-mapped float32 `.npy` file that cast costs more than the sum itself. [`WideningSum`]
//! and [`WideningAvg`] accept `Float32` and `Float16` as they are and convert each value to
//! `f64` inside the summing loop. The result type is still `Float64` and the sum is still
//! computed in `f64`, so results and schemas are those of the built-ins (up to the order in
//! which the additions are rounded).
//!
//! # What is delegated
//!
//! [`Widening`] wraps DataFusion's own [`Sum`] or [`Avg`] and has its name (`"sum"`, `"avg"`
//! with alias `"mean"`), so registering it on a session ([`widening_sum_udaf`],
//! [`widening_avg_udaf`]) replaces the built-in. It forwards every method to the built-in for
//! every argument type except `Float32`/`Float16`: coercion (its signature is `user_defined`,
//! and [`coerce_types`](AggregateUDFImpl::coerce_types) applies the built-in's signature to
//! anything else), return type, accumulators, groups and sliding accumulators, state fields,
//! reversal, simplification, order sensitivity, statistics, monotonicity, documentation, names.
//!
//! For a `Float32`/`Float16` argument:
//! - plain `sum(x)`/`avg(x)` (with or without `GROUP BY`, `FILTER`): own accumulators that
//!   widen while summing. Their states are the built-in's for `Float64` (`sum`: the partial
//!   sum; `avg`: the count and the partial sum), so partial and final aggregation steps exchange
//!   the same arrays as before.
//! - `DISTINCT` and sliding window frames: the built-in `Float64` accumulator behind an adaptor
//!   that casts each input batch to `Float64` (what the planned `CAST` did).

use std::hash::Hash;
use std::mem::size_of;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, PrimitiveArray, UInt64Array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, Float16Type, Float32Type, Float64Type, UInt64Type,
};
use datafusion::common::{internal_err, not_impl_err, Result, ScalarValue};
use datafusion::functions_aggregate::average::Avg;
use datafusion::functions_aggregate::sum::Sum;
use datafusion::logical_expr::expr::{
    AggregateFunction, AggregateFunctionParams, WindowFunctionParams,
};
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::type_coercion::functions::{fields_with_udf, UDFCoercionExt};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    udaf_default_return_field, Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, EmitTo,
    Expr, GroupsAccumulator, Operator, ReversedUDAF, SetMonotonicity, Signature, StatisticsArgs,
};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::NullState;
use half::f16;

/// The `sum` aggregate with [`WideningSum`]'s `Float32`/`Float16` fast path, ready for
/// `SessionContext::register_udaf` (replaces the built-in `sum`).
pub fn widening_sum_udaf() -> AggregateUDF {
    AggregateUDF::from(WideningSum::new())
}

/// The `avg` aggregate (alias `mean`) with [`WideningAvg`]'s `Float32`/`Float16` fast path,
/// ready for `SessionContext::register_udaf` (replaces the built-in `avg` and `mean`).
pub fn widening_avg_udaf() -> AggregateUDF {
    AggregateUDF::from(WideningAvg::new())
}

/// DataFusion's `sum`, except that a `Float32` or `Float16` argument is summed as it is, each
/// value widened to `f64` in the loop, rather than cast to a `Float64` array first.
pub type WideningSum = Widening<Sum>;

/// DataFusion's `avg`, except that a `Float32` or `Float16` argument is averaged as it is, each
/// value widened to `f64` in the loop, rather than cast to a `Float64` array first.
pub type WideningAvg = Widening<Avg>;

/// A built-in aggregate `F` ([`Sum`] or [`Avg`]) that takes `Float32`/`Float16` arguments
/// uncast. See the [module documentation](self).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Widening<F> {
    inner: Arc<F>,
    signature: Signature,
}

/// The built-in aggregates [`Widening`] can wrap.
pub trait Widenable: sealed::Sealed + AggregateUDFImpl + Default + Eq + Hash {}

impl Widenable for Sum {}
impl Widenable for Avg {}

use sealed::Kind;

mod sealed {
    use super::{Avg, Sum};

    /// What [`Widening`](super::Widening) needs to know of the aggregate it wraps.
    pub trait Sealed {
        /// What the fast accumulators compute.
        const KIND: Kind;
    }

    impl Sealed for Sum {
        const KIND: Kind = Kind::Sum;
    }

    impl Sealed for Avg {
        const KIND: Kind = Kind::Avg;
    }

    /// What the fast accumulators compute: `sum` or `avg`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Kind {
        Sum,
        Avg,
    }
}

impl<F: Widenable> Widening<F> {
    pub fn new() -> Self {
        let inner = F::default();
        let signature = Signature::user_defined(inner.signature().volatility);
        Self { inner: Arc::new(inner), signature }
    }
}

impl<F: Widenable> Default for Widening<F> {
    fn default() -> Self {
        Self::new()
    }
}

/// Argument types summed without a cast.
fn is_widened(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Float32 | DataType::Float16)
}

/// Is this a call on one `Float32`/`Float16` argument?
fn widened_call(args: &AccumulatorArgs) -> bool {
    matches!(args.expr_fields, [field] if is_widened(field.data_type()))
}

/// `fields` with type `Float64`.
fn as_float64(fields: &[FieldRef]) -> Vec<FieldRef> {
    fields.iter().map(|f| Arc::new(f.as_ref().clone().with_data_type(DataType::Float64))).collect()
}

/// Calls `make` with `args` whose argument fields say `Float64` instead of `Float32`/`Float16`:
/// the arguments the built-in is given after its coercion.
fn with_float64_args<R>(
    args: &AccumulatorArgs,
    make: impl FnOnce(AccumulatorArgs) -> Result<R>,
) -> Result<R> {
    let fields = as_float64(args.expr_fields);
    let mut args = args.clone();
    args.expr_fields = &fields;
    make(args)
}

/// The built-in, for [`fields_with_udf`] (which applies its signature).
struct InnerCoercion<'a>(&'a dyn AggregateUDFImpl);

impl UDFCoercionExt for InnerCoercion<'_> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn signature(&self) -> &Signature {
        self.0.signature()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.0.coerce_types(arg_types)
    }
}

impl<F: Widenable> AggregateUDFImpl for Widening<F> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn schema_name(&self, params: &AggregateFunctionParams) -> Result<String> {
        self.inner.schema_name(params)
    }

    fn human_display(&self, params: &AggregateFunctionParams) -> Result<String> {
        self.inner.human_display(params)
    }

    fn window_function_schema_name(&self, params: &WindowFunctionParams) -> Result<String> {
        self.inner.window_function_schema_name(params)
    }

    fn display_name(&self, params: &AggregateFunctionParams) -> Result<String> {
        self.inner.display_name(params)
    }

    fn window_function_display_name(&self, params: &WindowFunctionParams) -> Result<String> {
        self.inner.window_function_display_name(params)
    }

    /// `user_defined`: [`Self::coerce_types`] decides.
    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// `Float32`/`Float16` stay as they are; anything else is coerced as the built-in's
    /// signature coerces it (e.g. for `sum`, `Int32` to `Int64`), with the same errors.
    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if let [data_type] = arg_types {
            if is_widened(data_type) {
                return Ok(arg_types.to_vec());
            }
        }
        let fields: Vec<FieldRef> = arg_types
            .iter()
            .map(|data_type| Arc::new(Field::new("", data_type.clone(), true)))
            .collect();
        let coerced = fields_with_udf(&fields, &InnerCoercion(self.inner.as_ref()))?;
        Ok(coerced.iter().map(|f| f.data_type().clone()).collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [data_type] if is_widened(data_type) => Ok(DataType::Float64),
            _ => self.inner.return_type(arg_types),
        }
    }

    fn return_field(&self, arg_fields: &[FieldRef]) -> Result<FieldRef> {
        match arg_fields {
            // The built-in's would call its own `return_type`, which may reject Float32.
            [field] if is_widened(field.data_type()) => udaf_default_return_field(self, arg_fields),
            _ => self.inner.return_field(arg_fields),
        }
    }

    fn is_nullable(&self) -> bool {
        self.inner.is_nullable()
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if !widened_call(&args) {
            return self.inner.accumulator(args);
        }
        if args.is_distinct {
            let inner = with_float64_args(&args, |args| self.inner.accumulator(args))?;
            return Ok(Box::new(CastToFloat64Accumulator { inner }));
        }
        Ok(Box::new(WideningAccumulator::new(F::KIND)))
    }

    /// The built-in's for a `Float64` argument (`sum`: the partial sum; `avg`: the count and
    /// the partial sum; with `DISTINCT`, the list of distinct `Float64` values).
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        match args.input_fields {
            [field] if is_widened(field.data_type()) => {
                let fields = as_float64(args.input_fields);
                self.inner.state_fields(StateFieldsArgs { input_fields: &fields, ..args })
            }
            _ => self.inner.state_fields(args),
        }
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        if !widened_call(&args) {
            return self.inner.groups_accumulator_supported(args);
        }
        with_float64_args(&args, |args| Ok(self.inner.groups_accumulator_supported(args)))
            .unwrap_or(false)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        if !widened_call(&args) {
            return self.inner.create_groups_accumulator(args);
        }
        if args.is_distinct {
            // Not reached: `groups_accumulator_supported` is false for DISTINCT (as the
            // built-in's), and the built-in's groups accumulator would not do DISTINCT either.
            return not_impl_err!("{}(DISTINCT) has no GroupsAccumulator", self.name());
        }
        Ok(Box::new(WideningGroupsAccumulator::new(F::KIND)))
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if !widened_call(&args) {
            return self.inner.create_sliding_accumulator(args);
        }
        let inner = with_float64_args(&args, |args| self.inner.create_sliding_accumulator(args))?;
        Ok(Box::new(CastToFloat64Accumulator { inner }))
    }

    fn with_beneficial_ordering(
        self: Arc<Self>,
        beneficial_ordering: bool,
    ) -> Result<Option<Arc<dyn AggregateUDFImpl>>> {
        match Arc::clone(&self.inner).with_beneficial_ordering(beneficial_ordering)? {
            None => Ok(None),
            // `sum` and `avg` do not benefit from an ordering, so the built-ins never return a
            // replacement; if one did, using it would lose the wrapper.
            Some(_) => not_impl_err!("{}: an order-sensitive variant of the built-in", self.name()),
        }
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        self.inner.order_sensitivity()
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        self.inner.simplify()
    }

    /// The built-in's (for `sum`: the rewrite of `sum(x + c)` into `sum(x) + c * count(x)`,
    /// which keeps the aggregate it is given, this one).
    fn simplify_expr_op_literal(
        &self,
        agg_function: &AggregateFunction,
        arg: &Expr,
        op: Operator,
        lit: &Expr,
        arg_is_left: bool,
    ) -> Result<Option<Expr>> {
        self.inner.simplify_expr_op_literal(agg_function, arg, op, lit, arg_is_left)
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        self.inner.reverse_expr()
    }

    fn is_descending(&self) -> Option<bool> {
        self.inner.is_descending()
    }

    /// The built-in's, except for a column whose sum statistic is `Float32`/`Float16`: the
    /// built-in `sum` sees that column behind its `CAST` to `Float64` and then declines (the
    /// statistic's type is not the cast's), so this declines too rather than answer from a
    /// sum that statistics may have accumulated in `f32`.
    fn value_from_stats(&self, statistics_args: &StatisticsArgs) -> Option<ScalarValue> {
        if let [expr] = statistics_args.exprs {
            if let Some(column) = expr.downcast_ref::<Column>() {
                let stats = statistics_args.statistics.column_statistics.get(column.index());
                if let Some(sum) = stats.and_then(|s| s.sum_value.get_value()) {
                    if is_widened(&sum.data_type()) {
                        return None;
                    }
                }
            }
        }
        self.inner.value_from_stats(statistics_args)
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        self.inner.default_value(data_type)
    }

    fn supports_null_handling_clause(&self) -> bool {
        self.inner.supports_null_handling_clause()
    }

    fn supports_within_group_clause(&self) -> bool {
        self.inner.supports_within_group_clause()
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn set_monotonicity(&self, data_type: &DataType) -> SetMonotonicity {
        self.inner.set_monotonicity(data_type)
    }
}

/// Independent partial sums kept by [`sum_dense`]: enough to hide the latency of `f64`
/// additions, so that the loop keeps up with reading the input from memory.
const LANES: usize = 16;

/// A float type the widening sums add, in `f64`.
trait Widen: Copy {
    fn widen(self) -> f64;

    /// Adds each of `values`, widened, to `acc`: value `i` of every chunk of [`LANES`] to lane
    /// `i`. Every implementation adds in this order, so the sums do not depend on the CPU.
    #[inline(always)]
    fn add_dense(acc: &mut [f64; LANES], values: &[Self]) {
        add_dense_portable(acc, values)
    }
}

impl Widen for f16 {
    #[inline(always)]
    fn widen(self) -> f64 {
        f64::from(self)
    }
}

impl Widen for f32 {
    #[inline(always)]
    fn widen(self) -> f64 {
        f64::from(self)
    }

    #[inline(always)]
    fn add_dense(acc: &mut [f64; LANES], values: &[Self]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX.
            return unsafe { avx::add_f32(acc, values) };
        }
        add_dense_portable(acc, values)
    }
}

impl Widen for f64 {
    #[inline(always)]
    fn widen(self) -> f64 {
        self
    }

    #[inline(always)]
    fn add_dense(acc: &mut [f64; LANES], values: &[Self]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX.
            return unsafe { avx::add_f64(acc, values) };
        }
        add_dense_portable(acc, values)
    }
}

/// [`Widen::add_dense`] in plain Rust (`cvtps2pd` + `addpd`, two lanes an instruction with
/// the baseline's SSE2).
#[inline(always)]
fn add_dense_portable<N: Widen>(acc: &mut [f64; LANES], values: &[N]) {
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (lane, &v) in acc.iter_mut().zip(chunk) {
            *lane += v.widen();
        }
    }
    for (lane, &v) in acc.iter_mut().zip(chunks.remainder()) {
        *lane += v.widen();
    }
}

/// [`Widen::add_dense`] with 256-bit registers: the 16 lanes in four registers of four, each
/// lane added to in the portable loop's order (widening is exact, each addition is the same
/// IEEE addition), so the sums are bit for bit the portable ones. Half the instructions of
/// SSE2 per value; over a 1 GiB `sum(x)` about a tenth less time.
#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;

    use super::{Widen, LANES};

    #[target_feature(enable = "avx")]
    pub(super) unsafe fn add_f32(acc: &mut [f64; LANES], values: &[f32]) {
        // SAFETY: `four` gets a pointer to four values of a chunk; the CPU has AVX.
        unsafe { add_in_fours(acc, values, |at| _mm256_cvtps_pd(_mm_loadu_ps(at))) }
    }

    #[target_feature(enable = "avx")]
    pub(super) unsafe fn add_f64(acc: &mut [f64; LANES], values: &[f64]) {
        // SAFETY: as above.
        unsafe { add_in_fours(acc, values, |at| _mm256_loadu_pd(at)) }
    }

    /// The loop of both: `four(p)` loads the four values at `p`, widened. Inlined into the
    /// functions above, so compiled with AVX.
    ///
    /// # Safety
    /// The CPU has AVX; `four` reads at most four values from its pointer.
    #[inline(always)]
    unsafe fn add_in_fours<N: Widen>(acc: &mut [f64; LANES], values: &[N], four: impl Fn(*const N) -> __m256d) {
        let lanes = acc.as_mut_ptr();
        // SAFETY (every block below): lanes 4k..4k+4 are in `acc`, values 4k..4k+4 in a chunk
        // of 16; the caller vouches for AVX.
        let mut sums: [__m256d; 4] = std::array::from_fn(|k| unsafe { _mm256_loadu_pd(lanes.add(4 * k)) });
        let mut chunks = values.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (k, sum) in sums.iter_mut().enumerate() {
                *sum = unsafe { _mm256_add_pd(*sum, four(chunk.as_ptr().add(4 * k))) };
            }
        }
        for (k, sum) in sums.iter().enumerate() {
            unsafe { _mm256_storeu_pd(lanes.add(4 * k), *sum) };
        }
        for (lane, &v) in acc.iter_mut().zip(chunks.remainder()) {
            *lane += v.widen();
        }
    }
}

/// The lanes added pairwise.
#[inline(always)]
fn reduce(mut acc: [f64; LANES]) -> f64 {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] += acc[i + width];
        }
    }
    acc[0]
}

/// Sum of `values` (no nulls), each widened to `f64`.
#[inline]
fn sum_dense<N: Widen>(values: &[N]) -> f64 {
    // The lanes are local to this function so that they live in registers.
    let mut acc = [0.0f64; LANES];
    N::add_dense(&mut acc, values);
    reduce(acc)
}

/// Sum of the `values` valid in `nulls`, each widened to `f64`. Null slots may hold anything
/// (NaN too), so they are never added. Runs of 64 (or [`LANES`]) valid values are summed as by
/// [`sum_dense`]; the valid values of other runs one by one.
#[inline]
fn sum_masked<N: Widen>(values: &[N], nulls: &NullBuffer) -> f64 {
    debug_assert_eq!(nulls.len(), values.len());
    let mut acc = [0.0f64; LANES];
    let mut sparse = [0.0f64; 4];
    let mut add_valid = |chunk: &[N], mut mask: u64| {
        let mut k = 0;
        while mask != 0 {
            sparse[k & 3] += chunk[mask.trailing_zeros() as usize].widen();
            mask &= mask - 1;
            k += 1;
        }
    };
    let bits = nulls.inner().bit_chunks();
    let mut chunks = values.chunks_exact(64);
    for (chunk, mask) in (&mut chunks).zip(bits.iter()) {
        if mask == u64::MAX {
            N::add_dense(&mut acc, chunk);
            continue;
        }
        for (i, part) in chunk.chunks_exact(LANES).enumerate() {
            let part_mask = (mask >> (i * LANES)) & ((1 << LANES) - 1);
            if part_mask == (1 << LANES) - 1 {
                N::add_dense(&mut acc, part);
            } else {
                add_valid(part, part_mask);
            }
        }
    }
    add_valid(chunks.remainder(), bits.remainder_bits());
    reduce(acc) + ((sparse[0] + sparse[1]) + (sparse[2] + sparse[3]))
}

/// Sum of the non-null `values` (null where `nulls` says so), each widened to `f64`.
#[inline]
fn sum_widened<N: Widen>(values: &[N], nulls: Option<&NullBuffer>) -> f64 {
    match nulls.filter(|nulls| nulls.null_count() > 0) {
        None => sum_dense(values),
        Some(nulls) => sum_masked(values, nulls),
    }
}

/// Sum of the non-null values of a `Float32`, `Float16` or `Float64` array, in `f64`; `None`
/// when there are none (DataFusion's `sum` of no values is NULL).
fn sum_array(values: &ArrayRef) -> Result<Option<f64>> {
    if values.null_count() == values.len() {
        return Ok(None);
    }
    let sum = match values.data_type() {
        DataType::Float32 => {
            let values = values.as_primitive::<Float32Type>();
            sum_widened(values.values(), values.nulls())
        }
        DataType::Float16 => {
            let values = values.as_primitive::<Float16Type>();
            sum_widened(values.values(), values.nulls())
        }
        DataType::Float64 => {
            let values = values.as_primitive::<Float64Type>();
            sum_widened(values.values(), values.nulls())
        }
        other => return internal_err!("widening aggregate: unexpected input type {other}"),
    };
    Ok(Some(sum))
}

/// `sum(x)`/`avg(x)` of a `Float32`/`Float16` `x` without `GROUP BY`: the running `f64` sum
/// and the count of non-null values. States (the built-ins' for `Float64`): `sum`: the sum,
/// NULL if there were no values; `avg`: the count (`UInt64`) and that sum.
#[derive(Debug)]
struct WideningAccumulator {
    kind: Kind,
    sum: f64,
    count: u64,
}

impl WideningAccumulator {
    fn new(kind: Kind) -> Self {
        Self { kind, sum: 0.0, count: 0 }
    }

    fn add(&mut self, values: &ArrayRef) -> Result<()> {
        if let Some(sum) = sum_array(values)? {
            self.sum += sum;
            self.count += (values.len() - values.null_count()) as u64;
        }
        Ok(())
    }

    fn sum(&self) -> ScalarValue {
        ScalarValue::Float64((self.count > 0).then_some(self.sum))
    }
}

impl Accumulator for WideningAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.add(&values[0])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        match self.kind {
            // Each state is a partial sum, NULL if it saw no values: counts as one value.
            Kind::Sum => self.add(&states[0]),
            Kind::Avg => {
                let counts = states[0].as_primitive::<UInt64Type>();
                let sums = sum_array(&states[1])?;
                self.count += datafusion::arrow::compute::sum(counts).unwrap_or_default();
                self.sum += sums.unwrap_or_default();
                Ok(())
            }
        }
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(match self.kind {
            Kind::Sum => vec![self.sum()],
            Kind::Avg => vec![ScalarValue::UInt64(Some(self.count)), self.sum()],
        })
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(match self.kind {
            Kind::Sum => self.sum(),
            Kind::Avg => {
                ScalarValue::Float64((self.count > 0).then(|| self.sum / self.count as f64))
            }
        })
    }

    fn size(&self) -> usize {
        size_of::<Self>()
    }
}

/// `sum(x)`/`avg(x)` of a `Float32`/`Float16` `x` with `GROUP BY`: one `f64` sum (and for
/// `avg` one count) per group; which groups saw a value is tracked by DataFusion's
/// [`NullState`] (as in its `PrimitiveGroupsAccumulator` and `AvgGroupsAccumulator`). States:
/// as [`WideningAccumulator`]'s, one row per group.
#[derive(Debug)]
struct WideningGroupsAccumulator {
    kind: Kind,
    sums: Vec<f64>,
    /// Only for `avg`.
    counts: Vec<u64>,
    null_state: NullState,
}

impl WideningGroupsAccumulator {
    fn new(kind: Kind) -> Self {
        Self { kind, sums: vec![], counts: vec![], null_state: NullState::new() }
    }

    fn accumulate<T: ArrowPrimitiveType + Send>(
        &mut self,
        values: &PrimitiveArray<T>,
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
        widen: impl Fn(T::Native) -> f64 + Send + Sync,
    ) {
        self.sums.resize(total_num_groups, 0.0);
        let sums = &mut self.sums;
        match self.kind {
            Kind::Sum => self.null_state.accumulate(
                group_indices,
                values,
                opt_filter,
                total_num_groups,
                |group_index, value| sums[group_index] += widen(value),
            ),
            Kind::Avg => {
                self.counts.resize(total_num_groups, 0);
                let counts = &mut self.counts;
                self.null_state.accumulate(
                    group_indices,
                    values,
                    opt_filter,
                    total_num_groups,
                    |group_index, value| {
                        sums[group_index] += widen(value);
                        counts[group_index] += 1;
                    },
                )
            }
        }
    }
}

impl GroupsAccumulator for WideningGroupsAccumulator {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let values = &values[0];
        match values.data_type() {
            DataType::Float32 => self.accumulate(
                values.as_primitive::<Float32Type>(),
                group_indices,
                opt_filter,
                total_num_groups,
                |v| v as f64,
            ),
            DataType::Float16 => self.accumulate(
                values.as_primitive::<Float16Type>(),
                group_indices,
                opt_filter,
                total_num_groups,
                f64::from,
            ),
            DataType::Float64 => self.accumulate(
                values.as_primitive::<Float64Type>(),
                group_indices,
                opt_filter,
                total_num_groups,
                |v| v,
            ),
            other => return internal_err!("widening aggregate: unexpected input type {other}"),
        }
        Ok(())
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        match self.kind {
            // The states are Float64 partial sums: summing them is the same as updating.
            Kind::Sum => self.update_batch(values, group_indices, None, total_num_groups),
            Kind::Avg => {
                let partial_counts = values[0].as_primitive::<UInt64Type>();
                let partial_sums = values[1].as_primitive::<Float64Type>();
                self.counts.resize(total_num_groups, 0);
                self.sums.resize(total_num_groups, 0.0);
                let counts = &mut self.counts;
                self.null_state.accumulate(
                    group_indices,
                    partial_counts,
                    None,
                    total_num_groups,
                    |group_index, count| counts[group_index] += count,
                );
                let sums = &mut self.sums;
                self.null_state.accumulate(
                    group_indices,
                    partial_sums,
                    None,
                    total_num_groups,
                    |group_index, sum| sums[group_index] += sum,
                );
                Ok(())
            }
        }
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let mut sums = emit_to.take_needed(&mut self.sums);
        if self.kind == Kind::Avg {
            let counts = emit_to.take_needed(&mut self.counts);
            // Groups without values have count 0 and a NaN here, under a null.
            sums.iter_mut().zip(counts).for_each(|(sum, count)| *sum /= count as f64);
        }
        let nulls = self.null_state.build(emit_to);
        Ok(Arc::new(PrimitiveArray::<Float64Type>::new(sums.into(), nulls)))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        match self.kind {
            Kind::Sum => Ok(vec![self.evaluate(emit_to)?]),
            Kind::Avg => {
                let nulls = self.null_state.build(emit_to);
                let counts = emit_to.take_needed(&mut self.counts);
                let sums = emit_to.take_needed(&mut self.sums);
                Ok(vec![
                    Arc::new(UInt64Array::new(counts.into(), nulls.clone())),
                    Arc::new(PrimitiveArray::<Float64Type>::new(sums.into(), nulls)),
                ])
            }
        }
    }

    /// Each row as its own state: the value as `Float64` (and for `avg` a count of 1), NULL
    /// where the value is NULL or the filter does not pass it.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let values = cast(&values[0], &DataType::Float64)?;
        let (_, sums, mut nulls) = values.as_primitive::<Float64Type>().clone().into_parts();
        if let Some(filter) = opt_filter {
            let (passes, filter_nulls) = filter.clone().into_parts();
            let passes = match filter_nulls {
                Some(filter_nulls) => filter_nulls.inner() & &passes,
                None => passes,
            };
            nulls = NullBuffer::union(nulls.as_ref(), Some(&NullBuffer::new(passes)));
        }
        let len = sums.len();
        let sums: ArrayRef = Arc::new(PrimitiveArray::<Float64Type>::new(sums, nulls.clone()));
        Ok(match self.kind {
            Kind::Sum => vec![sums],
            Kind::Avg => {
                vec![Arc::new(UInt64Array::new(vec![1u64; len].into(), nulls)), sums]
            }
        })
    }

    fn size(&self) -> usize {
        (self.sums.capacity() + self.counts.capacity()) * size_of::<f64>() + self.null_state.size()
    }
}

/// The built-in `Float64` accumulator, fed `Float32`/`Float16` input cast to `Float64` batch by
/// batch (what the planned `CAST` would have done). For `DISTINCT` and sliding windows.
#[derive(Debug)]
struct CastToFloat64Accumulator {
    inner: Box<dyn Accumulator>,
}

fn cast_to_float64(values: &[ArrayRef]) -> Result<Vec<ArrayRef>> {
    Ok(values.iter().map(|v| cast(v, &DataType::Float64)).collect::<Result<_, _>>()?)
}

impl Accumulator for CastToFloat64Accumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.update_batch(&cast_to_float64(values)?)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.retract_batch(&cast_to_float64(values)?)
    }

    fn supports_retract_batch(&self) -> bool {
        self.inner.supports_retract_batch()
    }

    /// States are already `Float64` (the state fields are the built-in's).
    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.inner.merge_batch(states)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner.state()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.inner.evaluate()
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.inner.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use datafusion::arrow::array::{
        Decimal128Array, Float16Array, Float32Array, Float64Array, Int32Array, Int64Array,
    };
    use datafusion::arrow::datatypes::Schema;
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::{SessionConfig, SessionContext};

    // ---- the kernel ----

    /// Values whose sums are exact in `f64` in any order, NaN in null slots (which are where
    /// `is_null` says).
    fn test_values(len: usize, is_null: impl Fn(usize) -> bool) -> Float32Array {
        let values: Vec<f32> = (0..len)
            .map(|i| if is_null(i) && i % 2 == 0 { f32::NAN } else { (i % 50) as f32 * 0.25 - 5.0 })
            .collect();
        let valid: Vec<bool> = (0..len).map(|i| !is_null(i)).collect();
        Float32Array::new(values.into(), Some(NullBuffer::from(valid)))
    }

    /// The CPU's kernel (AVX where there is one) adds each lane in the portable order: the
    /// same sums bit for bit, for every length and every starting state of the lanes.
    #[test]
    fn kernels_agree_with_the_portable_loop_bit_for_bit() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for len in (0..300).chain([1000, 4099]) {
            // Values of every magnitude, so that the order of the additions shows in the sums.
            let f32s: Vec<f32> = (0..len).map(|_| (next() >> 40) as f32 * 2f32.powi((next() % 40) as i32 - 20) * if next() % 2 == 0 { 1.0 } else { -1.0 }).collect();
            let f64s: Vec<f64> = (0..len).map(|_| (next() >> 11) as f64 * 2f64.powi((next() % 80) as i32 - 40)).collect();
            let start: [f64; LANES] = std::array::from_fn(|_| (next() >> 20) as f64 * 1e-3);
            let (mut fast, mut portable) = (start, start);
            f32::add_dense(&mut fast, &f32s);
            add_dense_portable(&mut portable, &f32s);
            assert_eq!(fast.map(f64::to_bits), portable.map(f64::to_bits), "f32, {len} values");
            let (mut fast, mut portable) = (start, start);
            f64::add_dense(&mut fast, &f64s);
            add_dense_portable(&mut portable, &f64s);
            assert_eq!(fast.map(f64::to_bits), portable.map(f64::to_bits), "f64, {len} values");
        }
    }

    fn naive_sum(values: &Float32Array) -> Option<f64> {
        let valid: Vec<f64> = values.iter().flatten().map(f64::from).collect();
        (!valid.is_empty()).then(|| valid.iter().sum())
    }

    #[test]
    fn widening_kernel_matches_naive_sum_with_nulls_and_offsets() {
        // Dense nulls (every run of 16 has some), sparse ones (runs of 16 and of 64 without),
        // none in a null buffer.
        let dense_nulls = test_values(400, |i| i % 3 == 1 || i % 7 == 3);
        let sparse_nulls = test_values(400, |i| i % 97 == 5 || i == 200);
        let no_nulls = test_values(400, |_| false);
        for all in [dense_nulls, sparse_nulls, no_nulls] {
            for offset in [0, 1, 5, 63, 64, 65, 130] {
                for len in (0..=260).step_by(7).chain([64, 128, 129, 191]) {
                    let values = all.slice(offset, len);
                    let array: ArrayRef = Arc::new(values.clone());
                    assert_eq!(
                        sum_array(&array).unwrap(),
                        naive_sum(&values),
                        "offset {offset} len {len}"
                    );
                    // Without nulls (the dense path): NaN slots would poison it, so replace them.
                    let dense = Float32Array::from_iter_values(values.values().iter().map(|v| {
                        if v.is_nan() {
                            1.5
                        } else {
                            *v
                        }
                    }));
                    let array: ArrayRef = Arc::new(dense.clone());
                    let expected =
                        (len > 0).then(|| dense.values().iter().map(|v| *v as f64).sum());
                    assert_eq!(
                        sum_array(&array).unwrap(),
                        expected,
                        "dense offset {offset} len {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn widening_kernel_widens_before_adding() {
        // In f32, 2^24 + 1 + 1 + ... stays 2^24; widened, the ones count.
        let mut values = vec![16_777_216.0f32];
        values.extend(std::iter::repeat_n(1.0f32, 1000));
        let array: ArrayRef = Arc::new(Float32Array::from(values));
        assert_eq!(sum_array(&array).unwrap(), Some(16_778_216.0));
        let all_null: ArrayRef = Arc::new(Float32Array::from(vec![None, None]));
        assert_eq!(sum_array(&all_null).unwrap(), None);
        let empty: ArrayRef = Arc::new(Float32Array::from(Vec::<f32>::new()));
        assert_eq!(sum_array(&empty).unwrap(), None);
        let halves: ArrayRef = Arc::new(Float16Array::from(vec![
            Some(f16::from_f32(0.5)),
            None,
            Some(f16::from_f32(2.25)),
        ]));
        assert_eq!(sum_array(&halves).unwrap(), Some(2.75));
    }

    #[test]
    fn widening_accumulator_merges_float64_states() {
        let mut a = WideningAccumulator::new(Kind::Sum);
        let mut b = WideningAccumulator::new(Kind::Sum);
        assert_eq!(a.evaluate().unwrap(), ScalarValue::Float64(None));
        a.update_batch(&[Arc::new(Float32Array::from(vec![Some(1.5), None]))]).unwrap();
        b.update_batch(&[Arc::new(Float32Array::from(vec![None, None]))]).unwrap();
        assert_eq!(b.state().unwrap(), vec![ScalarValue::Float64(None)]);
        let states = [
            ScalarValue::Float64(None),
            a.state().unwrap().remove(0),
            ScalarValue::Float64(Some(2.0)),
        ];
        let states = ScalarValue::iter_to_array(states).unwrap();
        assert_eq!(states.data_type(), &DataType::Float64);
        b.merge_batch(&[states]).unwrap();
        assert_eq!(b.evaluate().unwrap(), ScalarValue::Float64(Some(3.5)));
    }

    #[test]
    fn widening_groups_accumulator_filter_state_and_emit() {
        let mut acc = WideningGroupsAccumulator::new(Kind::Sum);
        let values: ArrayRef =
            Arc::new(Float32Array::from(vec![Some(1.0), None, Some(2.0), Some(4.0), Some(8.0)]));
        let filter =
            BooleanArray::from(vec![Some(true), Some(true), None, Some(true), Some(false)]);
        // group 1 sees only a NULL and a filtered-out row, group 3 only a filter-NULL row.
        acc.update_batch(&[Arc::clone(&values)], &[0, 1, 3, 0, 1], Some(&filter), 4).unwrap();
        let state = acc.state(EmitTo::First(2)).unwrap();
        assert_eq!(
            state[0].as_primitive::<Float64Type>(),
            &Float64Array::from(vec![Some(5.0), None])
        );
        let merge: ArrayRef = Arc::new(Float64Array::from(vec![Some(0.5), None, Some(1.0)]));
        // after emitting 2, the old groups 2 and 3 are 0 and 1
        acc.merge_batch(&[merge], &[1, 0, 2], 3).unwrap();
        let out = acc.evaluate(EmitTo::All).unwrap();
        assert_eq!(
            out.as_primitive::<Float64Type>(),
            &Float64Array::from(vec![None, Some(0.5), Some(1.0)])
        );

        let state = acc.convert_to_state(&[values], Some(&filter)).unwrap();
        assert_eq!(
            state[0].as_primitive::<Float64Type>(),
            &Float64Array::from(vec![Some(1.0), None, None, Some(4.0), None])
        );
    }

    #[test]
    fn widening_sum_answers_from_statistics_as_the_builtin() {
        use datafusion::common::stats::Precision;
        use datafusion::common::{ColumnStatistics, Statistics};
        use datafusion::physical_expr::PhysicalExpr;

        let answer = |udaf: &dyn AggregateUDFImpl, sum: ScalarValue, return_type: DataType| {
            let statistics = Statistics {
                num_rows: Precision::Absent,
                total_byte_size: Precision::Absent,
                column_statistics: vec![ColumnStatistics {
                    sum_value: Precision::Exact(sum),
                    ..Default::default()
                }],
            };
            let exprs: Vec<Arc<dyn PhysicalExpr>> = vec![Arc::new(Column::new("a", 0))];
            udaf.value_from_stats(&StatisticsArgs {
                statistics: &statistics,
                return_type: &return_type,
                is_distinct: false,
                exprs: &exprs,
            })
        };
        let ours = WideningSum::new();
        // The built-in sees a Float32 column behind a CAST to Float64 and declines.
        assert_eq!(answer(&ours, ScalarValue::Float32(Some(1.5)), DataType::Float64), None);
        assert_eq!(
            answer(&ours, ScalarValue::Int32(Some(10)), DataType::Int64),
            answer(&Sum::new(), ScalarValue::Int32(Some(10)), DataType::Int64),
        );
        assert_eq!(
            answer(&ours, ScalarValue::Float64(Some(2.5)), DataType::Float64),
            Some(ScalarValue::Float64(Some(2.5)))
        );
    }

    #[test]
    fn widening_avg_accumulator_states_are_count_and_sum() {
        let mut a = WideningAccumulator::new(Kind::Avg);
        let mut b = WideningAccumulator::new(Kind::Avg);
        assert_eq!(a.evaluate().unwrap(), ScalarValue::Float64(None));
        assert_eq!(
            b.state().unwrap(),
            vec![ScalarValue::UInt64(Some(0)), ScalarValue::Float64(None)]
        );
        a.update_batch(&[Arc::new(Float32Array::from(vec![Some(1.5), None, Some(2.5)]))]).unwrap();
        assert_eq!(a.evaluate().unwrap(), ScalarValue::Float64(Some(2.0)));
        let [count, sum]: [ScalarValue; 2] = a.state().unwrap().try_into().unwrap();
        let counts = ScalarValue::iter_to_array([ScalarValue::UInt64(Some(0)), count]).unwrap();
        let sums = ScalarValue::iter_to_array([ScalarValue::Float64(None), sum]).unwrap();
        b.update_batch(&[Arc::new(Float32Array::from(vec![7.0]))]).unwrap();
        b.merge_batch(&[counts, sums]).unwrap();
        assert_eq!(b.evaluate().unwrap(), ScalarValue::Float64(Some(11.0 / 3.0)));
    }

    #[test]
    fn widening_avg_groups_accumulator_state_merge_and_convert() {
        let mut acc = WideningGroupsAccumulator::new(Kind::Avg);
        let values: ArrayRef =
            Arc::new(Float32Array::from(vec![Some(1.0), None, Some(2.0), Some(4.0), Some(8.0)]));
        let filter =
            BooleanArray::from(vec![Some(true), Some(true), None, Some(true), Some(false)]);
        acc.update_batch(&[Arc::clone(&values)], &[0, 1, 2, 0, 0], Some(&filter), 3).unwrap();
        let state = acc.state(EmitTo::All).unwrap();
        assert_eq!(
            state[0].as_primitive::<UInt64Type>(),
            &UInt64Array::from(vec![Some(2), None, None])
        );
        assert_eq!(
            state[1].as_primitive::<Float64Type>(),
            &Float64Array::from(vec![Some(5.0), None, None])
        );
        let mut merged = WideningGroupsAccumulator::new(Kind::Avg);
        merged.merge_batch(&state, &[1, 0, 0], 2).unwrap();
        let counts: ArrayRef = Arc::new(UInt64Array::from(vec![Some(1), None]));
        let sums: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.0), None]));
        merged.merge_batch(&[counts, sums], &[1, 0], 2).unwrap();
        let out = merged.evaluate(EmitTo::All).unwrap();
        assert_eq!(out.as_primitive::<Float64Type>(), &Float64Array::from(vec![None, Some(2.0)]));

        let state = acc.convert_to_state(&[values], Some(&filter)).unwrap();
        assert_eq!(
            state[0].as_primitive::<UInt64Type>(),
            &UInt64Array::from(vec![Some(1), None, None, Some(1), None])
        );
        assert_eq!(
            state[1].as_primitive::<Float64Type>(),
            &Float64Array::from(vec![Some(1.0), None, None, Some(4.0), None])
        );
    }

    // ---- against DataFusion's own sum ----

    fn table_schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![
            Field::new("g", DataType::Int32, false),
            Field::new("o", DataType::Int64, false),
            Field::new("x", DataType::Float32, true),
            Field::new("h", DataType::Float16, true),
            Field::new("n", DataType::Float32, true),
            Field::new("i", DataType::Int32, true),
            Field::new("l", DataType::Int64, true),
            Field::new("d", DataType::Float64, true),
            Field::new("dec", DataType::Decimal128(10, 2), true),
        ]))
    }

    /// Rows `start..start + len`: groups 0..5 (group 4's `x` and `h` are all NULL), `x`
    /// NULL every 7th row with NaN behind some NULLs, values exact in f64 in any order.
    fn batch(start: usize, len: usize) -> RecordBatch {
        let rows = start..start + len;
        let g: Vec<i32> = rows.clone().map(|r| (r % 5) as i32).collect();
        let valid = |r: usize| r % 5 != 4 && r % 7 != 2;
        let x_values: Vec<f32> = rows
            .clone()
            .map(|r| if valid(r) { (r % 37) as f32 * 0.25 - 3.0 } else { f32::NAN })
            .collect();
        let x_nulls = NullBuffer::from(rows.clone().map(valid).collect::<Vec<_>>());
        let h = Float16Array::from_iter(
            rows.clone().map(|r| valid(r).then(|| f16::from_f32((r % 23) as f32 * 0.5 - 2.0))),
        );
        let maybe = |r: usize| r % 11 != 6;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(g)),
            Arc::new(Int64Array::from_iter_values(rows.clone().map(|r| r as i64))),
            Arc::new(Float32Array::new(x_values.into(), Some(x_nulls))),
            Arc::new(h),
            Arc::new(Float32Array::from(vec![None; len])),
            Arc::new(Int32Array::from_iter(
                rows.clone().map(|r| maybe(r).then_some(r as i32 * 1_000_003)),
            )),
            Arc::new(Int64Array::from_iter(
                rows.clone().map(|r| maybe(r).then_some(r as i64 - 200)),
            )),
            Arc::new(Float64Array::from_iter(
                rows.clone().map(|r| maybe(r).then_some(r as f64 * 0.5)),
            )),
            Arc::new(
                Decimal128Array::from_iter(
                    rows.clone().map(|r| maybe(r).then_some(r as i128 * 101 - 999)),
                )
                .with_precision_and_scale(10, 2)
                .unwrap(),
            ),
        ];
        RecordBatch::try_new(table_schema(), columns).unwrap()
    }

    /// Three partitions of several batches (one empty), 700 rows.
    fn partitions() -> Vec<Vec<RecordBatch>> {
        let sizes: [&[usize]; 3] = [&[100, 37, 0, 130], &[64, 129], &[1, 200, 39]];
        let mut start = 0;
        sizes
            .iter()
            .map(|part| {
                part.iter()
                    .map(|&len| {
                        let b = batch(start, len);
                        start += len;
                        b
                    })
                    .collect()
            })
            .collect()
    }

    fn context(widening: bool, target_partitions: usize) -> SessionContext {
        let config =
            SessionConfig::new().with_target_partitions(target_partitions).with_batch_size(64);
        let ctx = SessionContext::new_with_config(config);
        if widening {
            ctx.register_udaf(widening_sum_udaf());
            ctx.register_udaf(widening_avg_udaf());
        }
        let table = MemTable::try_new(table_schema(), partitions()).unwrap();
        ctx.register_table("t", Arc::new(table)).unwrap();
        ctx
    }

    async fn run(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
        ctx.sql(sql).await?.collect().await
    }

    /// The rows and the planned output schema (also when there are no rows).
    async fn run_with_schema(
        ctx: &SessionContext,
        sql: &str,
    ) -> Result<(Schema, Vec<RecordBatch>)> {
        let frame = ctx.sql(sql).await?;
        let schema = frame.schema().as_arrow().clone();
        Ok((schema, frame.collect().await?))
    }

    async fn explain(ctx: &SessionContext, sql: &str) -> String {
        let batches = run(ctx, &format!("EXPLAIN {sql}")).await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    /// `sql` with `{x}` as `column` on a session with the widening `sum` and `avg`, and with
    /// `{x}` as `CAST(column AS DOUBLE)` on a stock session: same rows, same column types (or
    /// the same error). Then the same with `avg` for each `sum`. Returns the types.
    async fn assert_same_as_stock_cast(sql: &str, column: &str) -> Vec<DataType> {
        let types = assert_same_as_stock_cast_of(sql, column).await;
        assert_eq!(assert_same_as_stock_cast_of(&sql.replace("sum(", "avg("), column).await, types);
        types
    }

    async fn assert_same_as_stock_cast_of(sql: &str, column: &str) -> Vec<DataType> {
        let ours_sql = sql.replace("{x}", column);
        let stock_sql = sql.replace("{x}", &format!("CAST({column} AS DOUBLE)"));
        let mut types = None;
        for target_partitions in [1, 2, 4] {
            let ours = run_with_schema(&context(true, target_partitions), &ours_sql).await;
            let stock = run_with_schema(&context(false, target_partitions), &stock_sql).await;
            let (ours, stock) = match (ours, stock) {
                (Ok(ours), Ok(stock)) => (ours, stock),
                (Err(ours), Err(stock)) => {
                    assert_eq!(ours.strip_backtrace(), stock.strip_backtrace(), "{ours_sql}");
                    return vec![];
                }
                (ours, stock) => panic!("{ours_sql}: ours {ours:?}, stock {stock:?}"),
            };
            let ours_text = pretty_format_batches(&ours.1).unwrap().to_string();
            let stock_text = pretty_format_batches(&stock.1).unwrap().to_string();
            assert_eq!(ours_text, stock_text, "{ours_sql} (target_partitions {target_partitions})");
            let field_types = |(schema, _): &(Schema, Vec<RecordBatch>)| -> Vec<DataType> {
                schema.fields().iter().map(|f| f.data_type().clone()).collect()
            };
            assert_eq!(field_types(&ours), field_types(&stock), "{ours_sql}");
            types = Some(field_types(&ours));
        }
        types.unwrap()
    }

    #[tokio::test]
    async fn widening_sum_plans_no_cast_for_float32() {
        let ours = context(true, 2);
        let stock = context(false, 2);
        for sql in [
            "SELECT sum(x) FROM t",
            "SELECT g, sum(x) FROM t GROUP BY g",
            "SELECT sum(x) OVER (ORDER BY o ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t",
            "SELECT sum(h) FROM t",
            "SELECT sum(DISTINCT x), count(DISTINCT g) FROM t",
            "SELECT avg(x), mean(h) FROM t",
            "SELECT g, avg(x) FROM t GROUP BY g",
            "SELECT avg(x) OVER (ORDER BY o ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t",
        ] {
            let plan = explain(&ours, sql).await;
            assert!(!plan.contains("CAST"), "{sql}:\n{plan}");
            let stock_plan = explain(&stock, sql).await;
            assert!(stock_plan.contains("AS Float64)"), "stock {sql}:\n{stock_plan}");
        }
        // Everything else is planned exactly as by the built-in sum.
        for sql in [
            "SELECT sum(i) FROM t",
            "SELECT sum(l), sum(d), sum(dec) FROM t",
            "SELECT g, sum(DISTINCT i) FROM t GROUP BY g",
            "SELECT sum(i + 1), sum(i + 2) FROM t",
            "SELECT sum(d) OVER (ORDER BY o ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t",
            "SELECT avg(i), mean(l), avg(d), avg(dec) FROM t",
            "SELECT g, avg(DISTINCT i) FROM t GROUP BY g",
        ] {
            assert_eq!(explain(&ours, sql).await, explain(&stock, sql).await, "{sql}");
        }
        assert!(explain(&ours, "SELECT avg(i) FROM t").await.contains("CAST(t.i AS Float64)"));
        assert!(explain(&ours, "SELECT sum(i) FROM t").await.contains("CAST(t.i AS Int64)"));
    }

    #[tokio::test]
    async fn widening_sum_ungrouped_matches_stock() {
        let types = assert_same_as_stock_cast("SELECT sum({x}) AS s FROM t", "x").await;
        assert_eq!(types, vec![DataType::Float64]);
        assert_same_as_stock_cast("SELECT sum({x}) AS s, count(*) AS c FROM t WHERE o > 50", "x")
            .await;
        assert_same_as_stock_cast("SELECT sum({x}) AS s FROM t", "h").await;
        assert_same_as_stock_cast("SELECT sum({x} + 1) AS a, sum({x} + 2) AS b FROM t", "x").await;
    }

    #[tokio::test]
    async fn widening_sum_empty_and_all_null_are_null() {
        let types = assert_same_as_stock_cast("SELECT sum({x}) AS s FROM t WHERE o < 0", "x").await;
        assert_eq!(types, vec![DataType::Float64]);
        assert_same_as_stock_cast("SELECT sum({x}) AS s FROM t", "n").await;
        assert_same_as_stock_cast("SELECT sum({x}) AS s FROM t WHERE g = 4", "x").await;
        assert_same_as_stock_cast("SELECT g, sum({x}) AS s FROM t WHERE o < 0 GROUP BY g", "x")
            .await;
        let batches =
            run(&context(true, 2), "SELECT sum(x) AS s FROM t WHERE g = 4").await.unwrap();
        assert_eq!(batches[0].column(0).data_type(), &DataType::Float64);
        assert!(batches[0].column(0).is_null(0));
    }

    #[tokio::test]
    async fn widening_sum_group_by_matches_stock() {
        // group 4 is all NULL
        let types =
            assert_same_as_stock_cast("SELECT g, sum({x}) AS s FROM t GROUP BY g ORDER BY g", "x")
                .await;
        assert_eq!(types, vec![DataType::Int32, DataType::Float64]);
        assert_same_as_stock_cast(
            "SELECT o % 13 AS k, sum({x}) AS s FROM t GROUP BY k ORDER BY k",
            "x",
        )
        .await;
        assert_same_as_stock_cast("SELECT g, sum({x}) AS s FROM t GROUP BY g ORDER BY g", "h")
            .await;
        assert_same_as_stock_cast("SELECT g, sum({x}) AS s FROM t GROUP BY g ORDER BY g", "n")
            .await;
        assert_same_as_stock_cast(
            "SELECT g, count(DISTINCT o % 5) AS c, sum({x}) AS s FROM t GROUP BY g ORDER BY g",
            "x",
        )
        .await;
    }

    #[tokio::test]
    async fn widening_sum_skipped_partial_aggregation_matches_stock() {
        // Many groups and a zero threshold: the partial aggregation gives up and sends each
        // row on as its own state (`convert_to_state`).
        for sql in [
            "SELECT o, f({x}) AS s FROM t GROUP BY o ORDER BY o",
            "SELECT o, f({x}) FILTER (WHERE o % 3 = 0) AS s FROM t GROUP BY o ORDER BY o",
            "SELECT o % 300 AS k, f({x}) AS s FROM t GROUP BY k ORDER BY k",
        ]
        .into_iter()
        .flat_map(|sql| [sql.replace("f(", "sum("), sql.replace("f(", "avg(")])
        {
            let ours_sql = sql.replace("{x}", "x");
            let stock_sql = sql.replace("{x}", "CAST(x AS DOUBLE)");
            let mut results = vec![];
            for (widening, sql) in [(true, &ours_sql), (false, &stock_sql)] {
                let ctx = context(widening, 4);
                run(
                    &ctx,
                    "SET datafusion.execution.skip_partial_aggregation_probe_rows_threshold = 10",
                )
                .await
                .unwrap();
                run(
                    &ctx,
                    "SET datafusion.execution.skip_partial_aggregation_probe_ratio_threshold = 0.1",
                )
                .await
                .unwrap();
                let batches = run(&ctx, sql).await.unwrap();
                results.push(pretty_format_batches(&batches).unwrap().to_string());
            }
            assert_eq!(results[0], results[1], "{ours_sql}");
        }
    }

    #[tokio::test]
    async fn widening_sum_distinct_matches_stock() {
        let types = assert_same_as_stock_cast("SELECT sum(DISTINCT {x}) AS s FROM t", "x").await;
        assert_eq!(types, vec![DataType::Float64]);
        assert_same_as_stock_cast(
            "SELECT g, sum(DISTINCT {x}) AS s FROM t GROUP BY g ORDER BY g",
            "x",
        )
        .await;
        assert_same_as_stock_cast(
            "SELECT g, sum(DISTINCT {x}) AS s, sum({x}) AS t FROM t GROUP BY g ORDER BY g",
            "x",
        )
        .await;
        assert_same_as_stock_cast("SELECT sum(DISTINCT {x}) AS s FROM t WHERE o < 0", "x").await;
        // The queries above are rewritten into a GROUP BY x and a plain sum; with two DISTINCT
        // arguments they are not, and the built-in's DISTINCT accumulator runs.
        assert_same_as_stock_cast(
            "SELECT sum(DISTINCT {x}) AS s, count(DISTINCT g) AS c FROM t",
            "x",
        )
        .await;
        assert_same_as_stock_cast(
            "SELECT g, sum(DISTINCT {x}) AS s, count(DISTINCT o % 3) AS c FROM t GROUP BY g ORDER BY g",
            "x",
        )
        .await;
        assert_same_as_stock_cast(
            "SELECT sum(DISTINCT {x}) AS s, count(DISTINCT g) AS c FROM t",
            "h",
        )
        .await;
    }

    #[tokio::test]
    async fn widening_sum_windows_match_stock() {
        let types = assert_same_as_stock_cast(
            "SELECT o, sum({x}) OVER (ORDER BY o ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS s \
             FROM t ORDER BY o",
            "x",
        )
        .await;
        assert_eq!(types, vec![DataType::Int64, DataType::Float64]);
        for window in [
            "PARTITION BY g ORDER BY o ROWS BETWEEN 3 PRECEDING AND 1 FOLLOWING",
            "PARTITION BY g ORDER BY o",
            "PARTITION BY g",
            "ORDER BY o RANGE BETWEEN 10 PRECEDING AND 10 FOLLOWING",
            "",
        ] {
            let sql = format!("SELECT o, sum({{x}}) OVER ({window}) AS s FROM t ORDER BY o");
            assert_same_as_stock_cast(&sql, "x").await;
            assert_same_as_stock_cast(&sql, "h").await;
            // DISTINCT over a sliding frame: for sum an error for Float64 (so for both).
            let sql =
                format!("SELECT o, sum(DISTINCT {{x}}) OVER ({window}) AS s FROM t ORDER BY o");
            assert_same_as_stock_cast(&sql, "x").await;
        }
    }

    #[tokio::test]
    async fn widening_sum_filter_clause_matches_stock() {
        assert_same_as_stock_cast("SELECT sum({x}) FILTER (WHERE o % 3 = 0) AS s FROM t", "x")
            .await;
        assert_same_as_stock_cast(
            "SELECT g, sum({x}) FILTER (WHERE o % 3 = 0) AS s, sum({x}) FILTER (WHERE o < 0) AS e \
             FROM t GROUP BY g ORDER BY g",
            "x",
        )
        .await;
    }

    #[tokio::test]
    async fn widening_sum_leaves_other_types_to_stock() {
        let ours = context(true, 4);
        let stock = context(false, 4);
        for sql in [
            "SELECT sum(i) AS a, sum(l) AS b, sum(d) AS c, sum(dec) AS e FROM t",
            "SELECT g, sum(i) AS a, sum(l) AS b, sum(d) AS c, sum(dec) AS e FROM t GROUP BY g ORDER BY g",
            "SELECT sum(DISTINCT i) AS a, sum(DISTINCT l) AS b, sum(DISTINCT d) AS c, sum(DISTINCT dec) AS e FROM t",
            "SELECT o, sum(l) OVER (ORDER BY o ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS s FROM t ORDER BY o",
            "SELECT o, sum(DISTINCT l) OVER (ORDER BY o ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS s FROM t ORDER BY o",
            "SELECT sum(CAST(x AS DOUBLE)) AS s, sum(i) FILTER (WHERE o % 2 = 0) AS f FROM t",
            "SELECT sum(i) AS s FROM t WHERE o < 0",
        ]
        .into_iter()
        .flat_map(|sql| [sql.to_string(), sql.replace("sum(", "avg(")])
        {
            let sql = &sql;
            let (a, b) = match (run(&ours, sql).await, run(&stock, sql).await) {
                (Ok(a), Ok(b)) => (a, b),
                // avg(DISTINCT) has no sliding accumulator
                (Err(a), Err(b)) => {
                    assert_eq!(a.strip_backtrace(), b.strip_backtrace(), "{sql}");
                    continue;
                }
                (a, b) => panic!("{sql}: ours {a:?}, stock {b:?}"),
            };
            assert_eq!(
                pretty_format_batches(&a).unwrap().to_string(),
                pretty_format_batches(&b).unwrap().to_string(),
                "{sql}"
            );
            assert_eq!(a[0].schema(), b[0].schema(), "{sql}");
        }
        // Types the built-in rejects are rejected (the message is wrapped by user-defined coercion).
        let err = run(&ours, "SELECT sum('a')").await.unwrap_err().strip_backtrace();
        assert!(err.contains("sum"), "{err}");
        run(&stock, "SELECT sum('a')").await.unwrap_err();
        let err = run(&ours, "SELECT avg('a')").await.unwrap_err().strip_backtrace();
        assert!(err.contains("avg"), "{err}");
        run(&stock, "SELECT avg('a')").await.unwrap_err();
    }

    #[tokio::test]
    async fn widening_sum_of_random_data_is_close_to_stock() {
        // Values that round differently in different orders: equal up to rounding.
        let schema = Arc::new(Schema::new(vec![
            Field::new("g", DataType::Int32, false),
            Field::new("x", DataType::Float32, true),
        ]));
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let partitions: Vec<Vec<RecordBatch>> = (0..3)
            .map(|_| {
                (0..4)
                    .map(|_| {
                        let len = 5000 + (next() % 3000) as usize;
                        let g = Int32Array::from_iter_values((0..len).map(|_| (next() % 7) as i32));
                        let x = Float32Array::from_iter((0..len).map(|_| {
                            let r = next();
                            (r % 10 != 0)
                                .then(|| ((r >> 16) as u32 as f32 / u32::MAX as f32 - 0.3) * 1.0e4)
                        }));
                        RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(g), Arc::new(x)])
                            .unwrap()
                    })
                    .collect()
            })
            .collect();
        for function in ["sum", "avg"] {
            let sql = format!(
                "SELECT g, {function}({{x}}) FROM t GROUP BY g \
             UNION ALL SELECT CAST(-1 AS INT), {function}({{x}}) FROM t"
            );
            let mut results = vec![];
            for (widening, sql) in
                [(true, sql.replace("{x}", "x")), (false, sql.replace("{x}", "CAST(x AS DOUBLE)"))]
            {
                let sql = &sql;
                let ctx =
                    SessionContext::new_with_config(SessionConfig::new().with_target_partitions(3));
                if widening {
                    ctx.register_udaf(widening_sum_udaf());
                    ctx.register_udaf(widening_avg_udaf());
                }
                let table = MemTable::try_new(Arc::clone(&schema), partitions.clone()).unwrap();
                ctx.register_table("t", Arc::new(table)).unwrap();
                let mut rows: Vec<(i32, f64)> = vec![];
                for b in run(&ctx, sql).await.unwrap() {
                    let g = b.column(0).as_primitive::<datafusion::arrow::datatypes::Int32Type>();
                    let s = b.column(1).as_primitive::<Float64Type>();
                    rows.extend(g.values().iter().copied().zip(s.values().iter().copied()));
                }
                rows.sort_by_key(|r| r.0);
                results.push(rows);
            }
            assert_eq!(results[0].len(), 8);
            for (ours, stock) in results[0].iter().zip(&results[1]) {
                assert_eq!(ours.0, stock.0);
                let tolerance = 1e-12 * stock.1.abs().max(1.0) * 1e3;
                assert!((ours.1 - stock.1).abs() <= tolerance, "{function}: {ours:?} vs {stock:?}");
            }
        }
    }
}
