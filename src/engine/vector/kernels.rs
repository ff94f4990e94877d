//! Slice kernels: dot products, squared norms and squared Euclidean distances of equal-length
//! `f32`/`f64` slices, and the loops that apply one of them to every row of a flat values
//! buffer.
//!
//! Each kernel keeps [`LANES`] independent partial sums and adds them pairwise at the end: the
//! independent sums are what lets LLVM keep them in vector registers (a single running sum is a
//! dependency chain it may not reorder, floating-point addition not being associative), and
//! they round about as numpy's pairwise/BLAS sums do. On x86-64 the row loops are compiled a
//! second time for AVX2 and chosen at run time (once per batch), so a portable build still uses
//! 256-bit registers where the CPU has them.

use std::ops::{Add, Mul, Sub};

/// Partial sums kept side by side: 16 `f32` are two AVX2 registers, 16 `f64` four.
pub const LANES: usize = 16;

/// The accumulator types: `f32` (for float16 and float32 data, as numpy computes) and `f64`.
pub trait Acc:
    Copy + Default + PartialEq + PartialOrd + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self> + Send + Sync + 'static
{
    const ZERO: Self;
    const ONE: Self;
    fn sqrt(self) -> Self;
    fn div(self, other: Self) -> Self;
    fn is_nan(self) -> bool;
}

macro_rules! impl_acc {
    ($t:ident) => {
        impl Acc for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline(always)]
            fn sqrt(self) -> Self {
                $t::sqrt(self)
            }
            #[inline(always)]
            fn div(self, other: Self) -> Self {
                self / other
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
        }
    };
}
impl_acc!(f32);
impl_acc!(f64);

/// Sum of the lanes, pairwise.
#[inline(always)]
fn reduce<T: Acc>(lanes: [T; LANES]) -> T {
    let mut width = LANES;
    let mut v = lanes;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            v[i] = v[i] + v[i + width];
        }
    }
    v[0]
}

/// `Σ a[i]·b[i]` over the common length.
#[inline(always)]
pub fn dot<T: Acc>(a: &[T], b: &[T]) -> T {
    let n = a.len().min(b.len());
    let (a_chunks, a_tail) = a[..n].as_chunks::<LANES>();
    let (b_chunks, b_tail) = b[..n].as_chunks::<LANES>();
    let mut acc = [T::ZERO; LANES];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for i in 0..LANES {
            acc[i] = acc[i] + x[i] * y[i];
        }
    }
    let mut tail = T::ZERO;
    for (x, y) in a_tail.iter().zip(b_tail) {
        tail = tail + *x * *y;
    }
    reduce(acc) + tail
}

/// `(Σ a[i]·b[i], Σ a[i]²)` in one pass over `a`.
#[inline(always)]
pub fn dot_and_norm2<T: Acc>(a: &[T], b: &[T]) -> (T, T) {
    let n = a.len().min(b.len());
    let (a_chunks, a_tail) = a[..n].as_chunks::<LANES>();
    let (b_chunks, b_tail) = b[..n].as_chunks::<LANES>();
    let mut ab = [T::ZERO; LANES];
    let mut aa = [T::ZERO; LANES];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for i in 0..LANES {
            ab[i] = ab[i] + x[i] * y[i];
            aa[i] = aa[i] + x[i] * x[i];
        }
    }
    let (mut ab_tail, mut aa_tail) = (T::ZERO, T::ZERO);
    for (x, y) in a_tail.iter().zip(b_tail) {
        ab_tail = ab_tail + *x * *y;
        aa_tail = aa_tail + *x * *x;
    }
    (reduce(ab) + ab_tail, reduce(aa) + aa_tail)
}

/// `Σ (a[i] - b[i])²` over the common length.
#[inline(always)]
pub fn distance2<T: Acc>(a: &[T], b: &[T]) -> T {
    let n = a.len().min(b.len());
    let (a_chunks, a_tail) = a[..n].as_chunks::<LANES>();
    let (b_chunks, b_tail) = b[..n].as_chunks::<LANES>();
    let mut acc = [T::ZERO; LANES];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for i in 0..LANES {
            let d = x[i] - y[i];
            acc[i] = acc[i] + d * d;
        }
    }
    let mut tail = T::ZERO;
    for (x, y) in a_tail.iter().zip(b_tail) {
        let d = *x - *y;
        tail = tail + d * d;
    }
    reduce(acc) + tail
}

/// `Σ a[i]²`.
#[inline(always)]
pub fn norm2<T: Acc>(a: &[T]) -> T {
    dot(a, a)
}

/// What to compute of a row against the query vector (or of the row alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// `a · q`
    Dot,
    /// `(a · q) / (‖a‖ ‖q‖)`, unclamped; NaN when either norm is zero.
    CosineSimilarity,
    /// `‖a - q‖`
    Euclidean,
    /// `‖a‖` (the query is ignored)
    Norm,
}

/// One metric against a fixed query, ready to be applied to rows.
#[derive(Debug, Clone, Copy)]
pub struct Against<'q, T> {
    metric: Metric,
    query: &'q [T],
    query_norm: T,
}

impl<'q, T: Acc> Against<'q, T> {
    pub fn new(metric: Metric, query: &'q [T]) -> Self {
        let query_norm = if metric == Metric::CosineSimilarity { norm2(query).sqrt() } else { T::ONE };
        Against { metric, query, query_norm }
    }

    /// The metric of one row against the query (rows and query of the same length).
    #[inline(always)]
    pub fn apply(&self, row: &[T]) -> T {
        match self.metric {
            Metric::Dot => dot(row, self.query),
            Metric::CosineSimilarity => {
                let (ab, aa) = dot_and_norm2(row, self.query);
                ab.div(aa.sqrt() * self.query_norm)
            }
            Metric::Euclidean => distance2(row, self.query).sqrt(),
            Metric::Norm => norm2(row).sqrt(),
        }
    }
}

/// The metric of two rows of the same length (neither a fixed query).
#[inline(always)]
pub fn pair<T: Acc>(metric: Metric, a: &[T], b: &[T]) -> T {
    match metric {
        Metric::Dot => dot(a, b),
        Metric::CosineSimilarity => {
            let (ab, aa) = dot_and_norm2(a, b);
            ab.div(aa.sqrt() * norm2(b).sqrt())
        }
        Metric::Euclidean => distance2(a, b).sqrt(),
        Metric::Norm => norm2(a).sqrt(),
    }
}

/// `f(row)` for each `d`-long row of `values` (`values.len() / d` rows; with `d == 0`, `rows`
/// empty rows).
pub fn map_rows<T: Acc>(values: &[T], d: usize, rows: usize, against: &Against<'_, T>) -> Vec<T> {
    if d == 0 {
        return vec![against.apply(&[]); rows];
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { map_rows_avx2(values, d, against) };
        }
    }
    map_rows_portable(values, d, against)
}

#[inline(always)]
fn map_rows_portable<T: Acc>(values: &[T], d: usize, against: &Against<'_, T>) -> Vec<T> {
    values.chunks_exact(d).map(|row| against.apply(row)).collect()
}

/// [`map_rows_portable`] compiled with AVX2 enabled (the kernels are `inline(always)`, so they
/// are compiled into it).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn map_rows_avx2<T: Acc>(values: &[T], d: usize, against: &Against<'_, T>) -> Vec<T> {
    map_rows_portable(values, d, against)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward f64 references.
    fn dot_ref(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    fn sample(n: usize, seed: u32) -> Vec<f32> {
        // A small deterministic generator; values in [-1, 1).
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn kernels_match_f64_references_for_every_length_around_the_lane_count() {
        for n in [0, 1, 2, 7, 15, 16, 17, 31, 33, 64, 100, 384, 1000] {
            let a = sample(n, 1 + n as u32);
            let b = sample(n, 1000 + n as u32);
            let tol = 1e-5 * (n as f64).max(1.0);
            assert!((dot(&a, &b) as f64 - dot_ref(&a, &b)).abs() <= tol, "dot n={n}");
            let (ab, aa) = dot_and_norm2(&a, &b);
            assert!((ab as f64 - dot_ref(&a, &b)).abs() <= tol, "dot_and_norm2.0 n={n}");
            assert!((aa as f64 - dot_ref(&a, &a)).abs() <= tol, "dot_and_norm2.1 n={n}");
            let diff: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
            assert!((distance2(&a, &b) as f64 - dot_ref(&diff, &diff)).abs() <= tol, "distance2 n={n}");
            let a64: Vec<f64> = a.iter().map(|x| *x as f64).collect();
            let b64: Vec<f64> = b.iter().map(|x| *x as f64).collect();
            assert!((dot(&a64, &b64) - dot_ref(&a, &b)).abs() <= 1e-12 * (n as f64).max(1.0), "f64 dot n={n}");
        }
    }

    #[test]
    fn map_rows_applies_the_metric_to_each_row() {
        let d = 37;
        let rows = 11;
        let values = sample(d * rows, 7);
        let query = sample(d, 8);
        for metric in [Metric::Dot, Metric::CosineSimilarity, Metric::Euclidean, Metric::Norm] {
            let against = Against::new(metric, &query);
            let got = map_rows(&values, d, rows, &against);
            assert_eq!(got.len(), rows);
            for (r, value) in got.iter().enumerate() {
                let row = &values[r * d..(r + 1) * d];
                let expected = match metric {
                    Metric::Dot => dot_ref(row, &query),
                    Metric::CosineSimilarity => dot_ref(row, &query) / (dot_ref(row, row).sqrt() * dot_ref(&query, &query).sqrt()),
                    Metric::Euclidean => {
                        let diff: Vec<f32> = row.iter().zip(&query).map(|(x, y)| x - y).collect();
                        dot_ref(&diff, &diff).sqrt()
                    }
                    Metric::Norm => dot_ref(row, row).sqrt(),
                };
                assert!((*value as f64 - expected).abs() <= 1e-5, "{metric:?} row {r}: {value} vs {expected}");
                assert_eq!(*value, pair(metric, row, &query), "{metric:?} row {r}: map_rows and pair agree");
            }
        }
    }

    #[test]
    fn zero_vectors_give_nan_cosine_and_empty_rows_are_handled() {
        let zero = [0.0f32; 20];
        let one = [1.0f32; 20];
        assert!(Against::new(Metric::CosineSimilarity, &one).apply(&zero).is_nan());
        assert!(Against::new(Metric::CosineSimilarity, &zero).apply(&one).is_nan());
        assert_eq!(map_rows::<f32>(&[], 0, 3, &Against::new(Metric::Dot, &[])), vec![0.0; 3]);
    }
}
