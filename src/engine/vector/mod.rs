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

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;

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
    registry.register_udf(Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(normalize::L2Normalize::default())))?;
    let already = registry.udf("array_element").is_ok_and(|udf| udf.inner().is::<FixedSizeElement>());
    if !already {
        let rewrite = FixedSizeElementRewrite::new();
        registry.register_udf(rewrite.udf())?;
        registry.register_function_rewrite(Arc::new(rewrite))?;
    }
    let already = registry.udf("array_slice").is_ok_and(|udf| udf.inner().is::<FixedSizeSlice>());
    if !already {
        let rewrite = FixedSizeSliceRewrite::new();
        registry.register_udf(rewrite.udf())?;
        registry.register_function_rewrite(Arc::new(rewrite))?;
    }
    Ok(())
}
