//! The arithmetic of `knn`, without DataFusion: a block of query vectors against chunks of
//! corpus rows, each query keeping its `k` nearest rows.
//!
//! For a chunk, one GEMM ([`matrixmultiply`]) gives every query × row dot product; from it and
//! the rows' norms each metric is *estimated*, which decides whether a row can enter a query's
//! top-k at all (almost never, once the heap is full). A row that can is then scored *exactly*
//! with the same kernels as the scalar functions ([`crate::engine::vector::kernels`]), so a
//! `knn` distance equals `array_cosine_distance` / `array_distance` /
//! `array_negative_inner_product` of the same pair, and the expanded `‖x‖² + ‖q‖² - 2x·q` of the
//! L2 estimate never leaks into an answer (it loses every digit for a row equal to the query).
//! The estimate may err by a few ulps of the vectors' norms, so rows within that margin of the
//! current k-th distance are scored exactly too.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::engine::vector::kernels::{distance2, dot, dot_and_norm2, norm2, Acc, Kernels};
use crate::engine::vector::vectors::Compute;

/// The distances `knn` ranks by, under DuckDB's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KnnMetric {
    /// `1 - cos(x, q)` (`array_cosine_distance`); NaN for a zero vector.
    Cosine,
    /// `‖x - q‖` (`array_distance`).
    L2,
    /// `‖x - q‖²` (DuckDB's index metric `l2sq`).
    L2Squared,
    /// `-(x · q)` (`array_negative_inner_product`).
    NegativeInnerProduct,
}

impl KnnMetric {
    /// `cosine`; `l2` or `euclidean`; `l2sq`; `ip`, `dot` or `negative_inner_product`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "cosine" => Some(KnnMetric::Cosine),
            "l2" | "euclidean" => Some(KnnMetric::L2),
            "l2sq" => Some(KnnMetric::L2Squared),
            "ip" | "dot" | "negative_inner_product" => Some(KnnMetric::NegativeInnerProduct),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KnnMetric::Cosine => "cosine",
            KnnMetric::L2 => "l2",
            KnnMetric::L2Squared => "l2sq",
            KnnMetric::NegativeInnerProduct => "ip",
        }
    }
}

/// An element type `knn` computes in: `f32` (float16 and float32 data) or `f64`.
pub trait KnnFloat: Compute + Into<f64> {
    const EPSILON: Self;
    fn from_usize(n: usize) -> Self;
    /// `out[i * n + j] = a[i] · b[j]` for the `m` rows of `a` and the `n` rows of `b`, each
    /// `d` long and row-major. `false` (nothing computed) if a slice is too short.
    fn gemm_abt(m: usize, n: usize, d: usize, a: &[Self], b: &[Self], out: &mut [Self]) -> bool;
}

fn gemm_fits<T>(m: usize, n: usize, d: usize, a: &[T], b: &[T], out: &[T]) -> bool {
    let need = |rows: usize, cols: usize| rows.checked_mul(cols);
    matches!((need(m, d), need(n, d), need(m, n)), (Some(ma), Some(nb), Some(mn)) if a.len() >= ma && b.len() >= nb && out.len() >= mn)
        && isize::try_from(d.max(n)).is_ok()
}

macro_rules! impl_knn_float {
    ($t:ident, $gemm:path) => {
        impl KnnFloat for $t {
            const EPSILON: Self = $t::EPSILON;
            fn from_usize(n: usize) -> Self {
                n as $t
            }
            fn gemm_abt(m: usize, n: usize, d: usize, a: &[$t], b: &[$t], out: &mut [$t]) -> bool {
                if !gemm_fits(m, n, d, a, b, out) {
                    return false;
                }
                // SAFETY: a is m×d (row stride d), bᵀ is d×n read from b's n rows (row stride
                // 1, column stride d), out is m×n (row stride n): every index stays inside the
                // slices, whose lengths were checked just above.
                unsafe {
                    $gemm(m, d, n, 1.0, a.as_ptr(), d as isize, 1, b.as_ptr(), 1, d as isize, 0.0, out.as_mut_ptr(), n as isize, 1);
                }
                true
            }
        }
    };
}
impl_knn_float!(f32, matrixmultiply::sgemm);
impl_knn_float!(f64, matrixmultiply::dgemm);

/// Total order of scores: ascending, NaN after every number.
fn cmp_scores<T: Acc>(a: T, b: T) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// A corpus row and its score (for L2, the *squared* distance: [`KnnMetric::distance`] takes
/// the root). Ordered by score, then by `_row`: the tie-break.
#[derive(Debug, Clone, Copy)]
pub struct Neighbour<T> {
    pub score: T,
    pub row: i64,
}

impl<T: Acc> Ord for Neighbour<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_scores(self.score, other.score).then(self.row.cmp(&other.row))
    }
}

impl<T: Acc> PartialOrd for Neighbour<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Acc> PartialEq for Neighbour<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<T: Acc> Eq for Neighbour<T> {}

/// The `k` smallest neighbours offered so far. Grows as rows are offered (never allocates
/// `k` up front: `k` may exceed the corpus).
#[derive(Debug, Clone)]
pub struct TopK<T: Acc> {
    k: usize,
    heap: BinaryHeap<Neighbour<T>>,
}

impl<T: Acc> TopK<T> {
    pub fn new(k: usize) -> Self {
        TopK { k, heap: BinaryHeap::new() }
    }

    /// The k-th score, once there are `k` neighbours.
    pub fn threshold(&self) -> Option<T> {
        if self.heap.len() < self.k { None } else { self.heap.peek().map(|n| n.score) }
    }

    pub fn offer(&mut self, candidate: Neighbour<T>) {
        if self.heap.len() < self.k {
            self.heap.push(candidate);
        } else if self.heap.peek().is_some_and(|worst| candidate < *worst) {
            self.heap.pop();
            self.heap.push(candidate);
        }
    }

    pub fn merge(&mut self, other: TopK<T>) {
        for n in other.heap {
            self.offer(n);
        }
    }

    /// Nearest first.
    pub fn into_sorted(self) -> Vec<Neighbour<T>> {
        self.heap.into_sorted_vec()
    }
}

impl KnnMetric {
    /// The exact score of a row against a query whose squared norm is `query_norm2`.
    #[inline]
    fn score<T: Acc>(self, row: &[T], query: &[T], query_norm2: T) -> T {
        match self {
            KnnMetric::Cosine => {
                // As array_cosine_distance computes it: similarity clamped to [-1, 1].
                let (ab, aa) = dot_and_norm2(row, query);
                let similarity = ab.div(aa.sqrt() * query_norm2.sqrt());
                let minus_one = T::ZERO - T::ONE;
                let clamped = if similarity > T::ONE { T::ONE } else if similarity < minus_one { minus_one } else { similarity };
                T::ONE - clamped
            }
            KnnMetric::L2 | KnnMetric::L2Squared => distance2(row, query),
            KnnMetric::NegativeInnerProduct => T::ZERO - dot(row, query),
        }
    }

    /// The distance reported for a score.
    pub fn distance<T: KnnFloat>(self, score: T) -> f64 {
        match self {
            KnnMetric::L2 => score.sqrt().into(),
            _ => score.into(),
        }
    }
}

/// Query vectors held in memory while the corpus streams past them.
#[derive(Debug, Clone)]
pub struct QueryBlock<T> {
    d: usize,
    values: Vec<T>,
    rows: Vec<i64>,
    norms2: Vec<T>,
}

impl<T: KnnFloat> QueryBlock<T> {
    pub fn new(d: usize) -> Self {
        QueryBlock { d, values: Vec::new(), rows: Vec::new(), norms2: Vec::new() }
    }

    pub fn dims(&self) -> usize {
        self.d
    }

    /// Add query `row` (`vector` is `d` long).
    pub fn push(&mut self, row: i64, vector: &[T]) {
        debug_assert_eq!(vector.len(), self.d);
        self.values.extend_from_slice(vector);
        self.rows.push(row);
        self.norms2.push(norm2(vector));
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The `_row` of each query.
    pub fn rows(&self) -> &[i64] {
        &self.rows
    }

    fn query(&self, i: usize) -> &[T] {
        &self.values[i * self.d..(i + 1) * self.d]
    }
}

/// Buffers reused from chunk to chunk.
#[derive(Debug, Default)]
pub struct Scratch<T> {
    scores: Vec<T>,
    norms2: Vec<T>,
    inverse_norms: Vec<T>,
}

/// Offer each row of a corpus chunk to every query's top-k (`tops[i]` for query `i`).
///
/// `chunk` holds `ids.len()` rows of `block.dims()` values, row-major; `valid(j)` says whether
/// row `j` is not NULL. Returns `false` (nothing done) if `chunk` is shorter than that.
pub fn search_chunk<T: KnnFloat>(
    metric: KnnMetric,
    block: &QueryBlock<T>,
    chunk: &[T],
    ids: &[i64],
    valid: impl Fn(usize) -> bool,
    tops: &mut [TopK<T>],
    scratch: &mut Scratch<T>,
) -> bool {
    let (m, n, d) = (block.len(), ids.len(), block.d);
    if m == 0 || n == 0 {
        return true;
    }
    let Some(chunk) = n.checked_mul(d).and_then(|len| chunk.get(..len)) else { return false };
    scratch.norms2.clear();
    scratch.inverse_norms.clear();
    if d == 0 {
        scratch.norms2.resize(n, T::ZERO);
    } else {
        // The hot loop of a one-query search with the GEMM: the AVX2 kernel where there is one.
        let kernels = Kernels::<T>::best();
        for row in chunk.chunks_exact(d) {
            scratch.norms2.push(kernels.norm2(row));
        }
    }
    scratch.inverse_norms.extend(scratch.norms2.iter().map(|n2| T::ONE.div(n2.sqrt())));
    scratch.scores.clear();
    scratch.scores.resize(m * n, T::ZERO);
    if !T::gemm_abt(m, n, d, &block.values, chunk, &mut scratch.scores) {
        return false;
    }
    // How far an estimate may be off: a few ulps per term of a d-long sum.
    let slack = T::EPSILON * T::from_usize(8) * T::from_usize(d.max(1)).sqrt();
    for (i, top) in tops.iter_mut().enumerate().take(m) {
        let query = block.query(i);
        let query_norm2 = block.norms2[i];
        let query_inverse_norm = T::ONE.div(query_norm2.sqrt());
        let scores = &scratch.scores[i * n..(i + 1) * n];
        let mut threshold = top.threshold();
        for j in 0..n {
            if let Some(worst) = threshold {
                let s = scores[j];
                let x2 = scratch.norms2[j];
                let (estimate, margin) = match metric {
                    KnnMetric::Cosine => (T::ONE - s * scratch.inverse_norms[j] * query_inverse_norm, slack),
                    KnnMetric::L2 | KnnMetric::L2Squared => (x2 + query_norm2 - (s + s), slack * (x2 + query_norm2)),
                    KnnMetric::NegativeInnerProduct => (T::ZERO - s, slack * (x2 * query_norm2).sqrt()),
                };
                // A NaN k-th score (zero vectors) lets any number in; a NaN estimate stays out.
                if !worst.is_nan() && !(estimate <= worst + margin) {
                    continue;
                }
            }
            if !valid(j) {
                continue;
            }
            let row = &chunk[j * d..(j + 1) * d];
            top.offer(Neighbour { score: metric.score(row, query, query_norm2), row: ids[j] });
            threshold = top.threshold();
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Every pair scored exactly, sorted by (score, row): what the heaps must find.
    fn brute_force(metric: KnnMetric, corpus: &[f32], queries: &[f32], d: usize, k: usize) -> Vec<Vec<(i64, f32)>> {
        queries
            .chunks_exact(d)
            .map(|q| {
                let mut all: Vec<Neighbour<f32>> = corpus
                    .chunks_exact(d)
                    .enumerate()
                    .map(|(r, x)| Neighbour { score: metric.score(x, q, norm2(q)), row: r as i64 })
                    .collect();
                all.sort();
                all.into_iter().take(k).map(|n| (n.row, n.score)).collect()
            })
            .collect()
    }

    #[test]
    fn blocked_search_equals_brute_force_for_every_metric_and_chunking() {
        let (d, rows, queries, k) = (19, 301, 7, 5);
        let mut corpus = sample(rows * d, 3);
        // Rows 100 and 200 copy row 3 (exact ties, broken by row); row 50 is zero.
        let row3 = corpus[3 * d..4 * d].to_vec();
        corpus[100 * d..101 * d].copy_from_slice(&row3);
        corpus[200 * d..201 * d].copy_from_slice(&row3);
        corpus[50 * d..51 * d].fill(0.0);
        let mut query_values = sample(queries * d, 4);
        query_values[..d].copy_from_slice(&row3);
        for metric in [KnnMetric::Cosine, KnnMetric::L2, KnnMetric::L2Squared, KnnMetric::NegativeInnerProduct] {
            let want = brute_force(metric, &corpus, &query_values, d, k);
            for chunk_rows in [1, 7, 64, 301] {
                let mut block = QueryBlock::new(d);
                for (i, q) in query_values.chunks_exact(d).enumerate() {
                    block.push(i as i64, q);
                }
                let mut tops: Vec<TopK<f32>> = (0..queries).map(|_| TopK::new(k)).collect();
                let mut scratch = Scratch::default();
                for start in (0..rows).step_by(chunk_rows) {
                    let end = (start + chunk_rows).min(rows);
                    let ids: Vec<i64> = (start as i64..end as i64).collect();
                    assert!(search_chunk(metric, &block, &corpus[start * d..end * d], &ids, |_| true, &mut tops, &mut scratch));
                }
                let got: Vec<Vec<(i64, f32)>> =
                    tops.into_iter().map(|t| t.into_sorted().into_iter().map(|n| (n.row, n.score)).collect()).collect();
                assert_eq!(got, want, "{metric:?}, chunks of {chunk_rows}");
            }
            if metric != KnnMetric::NegativeInnerProduct {
                // Query 0 is row 3: itself and its two copies, in row order, at distance 0.
                assert_eq!(want[0][..3].iter().map(|n| n.0).collect::<Vec<_>>(), vec![3, 100, 200], "{metric:?}");
                assert!(want[0][..3].iter().all(|n| n.1 == 0.0), "{metric:?}: {:?}", want[0]);
            }
        }
    }

    #[test]
    fn null_rows_are_skipped_and_k_beyond_the_corpus_returns_every_row() {
        let d = 4;
        let corpus = sample(10 * d, 9);
        let mut block = QueryBlock::new(d);
        block.push(0, &corpus[..d]);
        let mut tops = vec![TopK::new(1000)];
        let ids: Vec<i64> = (0..10).collect();
        assert!(search_chunk(KnnMetric::L2, &block, &corpus, &ids, |j| j != 4, &mut tops, &mut Scratch::default()));
        let rows: Vec<i64> = tops.remove(0).into_sorted().iter().map(|n| n.row).collect();
        assert_eq!(rows.len(), 9);
        assert!(!rows.contains(&4));
        assert_eq!(rows[0], 0);
    }

    #[test]
    fn a_zero_query_ranks_every_row_nan_in_row_order() {
        let d = 3;
        let corpus = sample(6 * d, 2);
        let mut block = QueryBlock::new(d);
        block.push(0, &[0.0; 3]);
        let mut tops = vec![TopK::new(2)];
        let ids: Vec<i64> = (0..6).collect();
        assert!(search_chunk(KnnMetric::Cosine, &block, &corpus, &ids, |_| true, &mut tops, &mut Scratch::default()));
        let got = tops.remove(0).into_sorted();
        assert_eq!(got.iter().map(|n| n.row).collect::<Vec<_>>(), vec![0, 1]);
        assert!(got.iter().all(|n| n.score.is_nan()));
    }

    #[test]
    fn metric_names_are_duckdbs() {
        assert_eq!(KnnMetric::parse("COSINE"), Some(KnnMetric::Cosine));
        assert_eq!(KnnMetric::parse("euclidean"), Some(KnnMetric::L2));
        assert_eq!(KnnMetric::parse("ip"), Some(KnnMetric::NegativeInnerProduct));
        assert_eq!(KnnMetric::parse("dot"), Some(KnnMetric::NegativeInnerProduct));
        assert_eq!(KnnMetric::parse("hamming"), None);
    }
}
