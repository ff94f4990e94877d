//! Vector search over embeddings: similarity and distance functions with native kernels over
//! `FixedSizeList`/`List` of Float16/Float32/Float64.
//!
//! DataFusion 55's `cosine_distance`, `inner_product` and `array_distance` coerce their
//! arguments to `List<Float64>`, so a `FixedSizeList<Float32>` column is widened and copied
//! batch by batch before any arithmetic. The functions here read the column's flat values
//! buffer in place (for a memory-mapped `.npy`, the file's own pages) and compute in the
//! data's precision.
//!
//! - [`kernels`]: dot products, norms and distances of slices; the per-row loops.
//! - [`vectors`]: an Arrow vector column as the kernels see it (values buffer, row bounds, nulls).
//! - [`functions`]: the scalar UDFs, DuckDB's names and DataFusion's ([`vector_udfs`]).
//! - [`normalize`]: `l2_normalize(emb)` in the column's own type, and not at all under a cosine.
//! - [`element`]: `emb[i]` on a `FixedSizeList` read from the flat buffer (no cast to `List`).
//! - [`slice`]: `emb[i:j]` on a `FixedSizeList` as a `List` view of the flat buffer (no cast).
//! - [`knn`]: the `knn(corpus, 'emb', queries, 'q', k, 'cosine')` table function, blocked over
//!   both tables with a GEMM per query block × corpus chunk.

pub mod element;
pub mod functions;
pub mod kernels;
pub mod knn;
pub mod normalize;
pub mod slice;
pub mod vectors;

use std::fmt;
use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::FunctionRewrite;
use datafusion::logical_expr::{Expr, ScalarUDF, ScalarUDFImpl};

pub use element::{FixedSizeElement, FixedSizeElementRewrite};
pub use functions::{vector_udfs, Flavor, VectorFunction};
pub use slice::{FixedSizeSlice, FixedSizeSliceRewrite};

/// Register every vector function on `registry` (a `SessionState` or `SessionContext`),
/// replacing DataFusion's `cosine_distance`, `inner_product` and `array_distance`, and
/// `array_element` (`emb[i]`) by [`FixedSizeElement`] and `array_slice` (`emb[i:j]`) by
/// [`FixedSizeSlice`]. Idempotent.
pub fn register_vector_functions(registry: &mut dyn FunctionRegistry) -> Result<()> {
    for udf in vector_udfs() {
        registry.register_udf(Arc::new(udf))?;
    }
    FixedSizeElementRewrite::new().register(registry)?;
    FixedSizeSliceRewrite::new().register(registry)
}

/// Puts `F` in place of the built-in function of the same name wherever the SQL planner built
/// a call to it (`emb[i]` is `array_element(emb, i)`, `emb[i:j]` `array_slice(emb, i, j)`):
/// the planner looks such calls up by itself, not in the registry. See [`element`], [`slice`].
#[derive(Debug)]
pub struct SwapIn<F> {
    udf: Arc<ScalarUDF>,
    rewrite_name: String,
    _function: std::marker::PhantomData<F>,
}

impl<F: ScalarUDFImpl + Default + 'static> SwapIn<F> {
    pub fn new() -> Self {
        let udf = Arc::new(ScalarUDF::new_from_impl(F::default()));
        SwapIn { rewrite_name: format!("swap_in_{}", udf.name()), udf, _function: std::marker::PhantomData }
    }

    /// The UDF it swaps in (also registered by name, for calls spelled out: `array_slice(emb, i, j)`).
    pub fn udf(&self) -> Arc<ScalarUDF> {
        Arc::clone(&self.udf)
    }

    /// Register the UDF and the rewrite on `registry`, unless it has them already.
    pub fn register(self, registry: &mut dyn FunctionRegistry) -> Result<()> {
        if registry.udf(self.udf.name()).is_ok_and(|udf| udf.inner().is::<F>()) {
            return Ok(());
        }
        registry.register_udf(self.udf())?;
        registry.register_function_rewrite(Arc::new(self))
    }
}

impl<F: ScalarUDFImpl + Default + 'static> Default for SwapIn<F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<F: ScalarUDFImpl + fmt::Debug + 'static> FunctionRewrite for SwapIn<F> {
    fn name(&self) -> &str {
        &self.rewrite_name
    }

    fn rewrite(&self, expr: Expr, _schema: &DFSchema, _config: &ConfigOptions) -> Result<Transformed<Expr>> {
        match expr {
            // The built-ins' types are private to their crate (`ArraySlice`): known by name.
            Expr::ScalarFunction(ScalarFunction { func, args }) if func.name() == self.udf.name() && !func.inner().is::<F>() => {
                Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction { func: Arc::clone(&self.udf), args })))
            }
            other => Ok(Transformed::no(other)),
        }
    }
}
