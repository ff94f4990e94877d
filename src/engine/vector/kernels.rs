//! Slice kernels: dot products, squared norms and squared Euclidean distances of equal-length
//! `f32`/`f64` slices, and the loops that apply one of them to every row of a flat values
//! buffer.
//!
//! Each kernel keeps [`LANES`] independent partial sums and adds them pairwise at the end: the
//! independent sums are what lets LLVM keep them in vector registers (a single running sum is a
//! dependency chain it may not reorder, floating-point addition not being associative), and
//! they round about as numpy's pairwise/BLAS sums do. On x86-64 the kernels are written a
//! second time with AVX2 intrinsics ([`avx2`]), chosen at run time ([`Kernels::best`]), so a
//! portable build still uses 256-bit registers where the CPU has them, with the same results.

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

    /// [`dot`], [`dot_and_norm2`] and [`distance2`] with AVX2 registers (see [`avx2`]).
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[cfg(target_arch = "x86_64")]
    unsafe fn avx2_kernels() -> Kernels<Self>;
}

/// A set of kernels for one element type (the portable ones, or [`avx2`]'s).
#[derive(Clone, Copy)]
pub struct Kernels<T> {
    pub dot: fn(&[T], &[T]) -> T,
    pub dot_and_norm2: fn(&[T], &[T]) -> (T, T),
    pub distance2: fn(&[T], &[T]) -> T,
}

impl<T: Acc> Kernels<T> {
    /// The portable kernels ([`dot`], [`dot_and_norm2`], [`distance2`]).
    pub fn portable() -> Self {
        Kernels { dot: dot::<T>, dot_and_norm2: dot_and_norm2::<T>, distance2: distance2::<T> }
    }

    /// The fastest kernels this CPU runs: [`avx2`]'s where it has AVX2. Same results either way.
    pub fn best() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2 (checked just above).
                return unsafe { T::avx2_kernels() };
            }
        }
        Self::portable()
    }

    /// `Σ a[i]²`.
    #[inline]
    pub fn norm2(&self, a: &[T]) -> T {
        (self.dot)(a, a)
    }
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
            #[cfg(target_arch = "x86_64")]
            unsafe fn avx2_kernels() -> Kernels<Self> {
                Kernels { dot: avx2::$t::dot_fn(), dot_and_norm2: avx2::$t::dot_and_norm2_fn(), distance2: avx2::$t::distance2_fn() }
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
    sum_of_terms::<T, false>(a, b)
}

/// `Σ (a[i] - b[i])²` over the common length.
#[inline(always)]
pub fn distance2<T: Acc>(a: &[T], b: &[T]) -> T {
    sum_of_terms::<T, true>(a, b)
}

/// `Σ a[i]·b[i]` (`DIFFERENCE` false) or `Σ (a[i] - b[i])²` (true), over the common length.
#[inline(always)]
fn sum_of_terms<T: Acc, const DIFFERENCE: bool>(a: &[T], b: &[T]) -> T {
    let term = |x: T, y: T| {
        if DIFFERENCE {
            let d = x - y;
            d * d
        } else {
            x * y
        }
    };
    let n = a.len().min(b.len());
    let (a_chunks, a_tail) = a[..n].as_chunks::<LANES>();
    let (b_chunks, b_tail) = b[..n].as_chunks::<LANES>();
    let mut acc = [T::ZERO; LANES];
    for (x, y) in a_chunks.iter().zip(b_chunks) {
        for i in 0..LANES {
            acc[i] = acc[i] + term(x[i], y[i]);
        }
    }
    let mut tail = T::ZERO;
    for (x, y) in a_tail.iter().zip(b_tail) {
        tail = tail + term(*x, *y);
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

/// `Σ a[i]²`.
#[inline(always)]
pub fn norm2<T: Acc>(a: &[T]) -> T {
    dot(a, a)
}

/// The kernels again, written with AVX2 intrinsics: LLVM does not vectorize the portable
/// ones' lane arrays into 256-bit registers (it kept them in 128-bit halves and shuffles, at
/// about a quarter of the speed). The arithmetic is the same, lane for lane: lane `i` of
/// [`LANES`] sums elements `i`, `i + LANES`, … as products rounded then added (no fused
/// multiply-add), the lanes are reduced by the same [`reduce`] and the tail is added last, so
/// both versions give the same bits.
#[cfg(target_arch = "x86_64")]
pub mod avx2 {
    macro_rules! kernels {
        ($t:ident, $v:ty, $per:expr, $load:ident, $store:ident, $zero:ident, $add:ident, $sub:ident, $mul:ident) => {
            pub mod $t {
                use std::arch::x86_64::*;

                use super::super::{reduce, LANES};

                const REGS: usize = LANES / $per;

                /// The lanes of `regs`, in order.
                #[inline]
                #[target_feature(enable = "avx2")]
                fn lanes(regs: [$v; REGS]) -> [$t; LANES] {
                    let mut out = [0.0; LANES];
                    for (r, reg) in regs.iter().enumerate() {
                        // SAFETY: lanes r·PER .. (r+1)·PER of `out` (REGS·PER == LANES).
                        unsafe { $store(out.as_mut_ptr().add(r * $per), *reg) };
                    }
                    out
                }

                /// Registers `REGS` wide of `a` and `b` from element `at`.
                #[inline]
                #[target_feature(enable = "avx2")]
                fn load(a: &[$t], at: usize) -> [$v; REGS] {
                    assert!(at + LANES <= a.len());
                    // SAFETY: elements at .. at + LANES exist (asserted).
                    std::array::from_fn(|r| unsafe { $load(a.as_ptr().add(at + r * $per)) })
                }

                /// `Σ a[i]·b[i]` (`DIFFERENCE` false: [`dot`](super::super::dot)) or
                /// `Σ (a[i] - b[i])²` (true: [`distance2`](super::super::distance2)).
                #[target_feature(enable = "avx2")]
                fn sum_of_terms<const DIFFERENCE: bool>(a: &[$t], b: &[$t]) -> $t {
                    let n = a.len().min(b.len());
                    let full = n / LANES * LANES;
                    let mut acc = [$zero(); REGS];
                    for at in (0..full).step_by(LANES) {
                        let (x, y) = (load(a, at), load(b, at));
                        for r in 0..REGS {
                            let term = if DIFFERENCE {
                                let d = $sub(x[r], y[r]);
                                $mul(d, d)
                            } else {
                                $mul(x[r], y[r])
                            };
                            acc[r] = $add(acc[r], term);
                        }
                    }
                    let mut tail = 0.0;
                    for i in full..n {
                        tail += if DIFFERENCE { (a[i] - b[i]) * (a[i] - b[i]) } else { a[i] * b[i] };
                    }
                    reduce(lanes(acc)) + tail
                }

                #[target_feature(enable = "avx2")]
                fn dot_and_norm2(a: &[$t], b: &[$t]) -> ($t, $t) {
                    let n = a.len().min(b.len());
                    let full = n / LANES * LANES;
                    let (mut ab, mut aa) = ([$zero(); REGS], [$zero(); REGS]);
                    for at in (0..full).step_by(LANES) {
                        let (x, y) = (load(a, at), load(b, at));
                        for r in 0..REGS {
                            ab[r] = $add(ab[r], $mul(x[r], y[r]));
                            aa[r] = $add(aa[r], $mul(x[r], x[r]));
                        }
                    }
                    let (mut ab_tail, mut aa_tail) = (0.0, 0.0);
                    for i in full..n {
                        ab_tail += a[i] * b[i];
                        aa_tail += a[i] * a[i];
                    }
                    (reduce(lanes(ab)) + ab_tail, reduce(lanes(aa)) + aa_tail)
                }

                // Plain `fn` pointers to the kernels: a `#[target_feature]` function coerces to
                // one only in unsafe code, the caller vouching for the CPU.
                /// # Safety
                /// The CPU must support AVX2.
                pub unsafe fn dot_fn() -> fn(&[$t], &[$t]) -> $t {
                    |a, b| unsafe { sum_of_terms::<false>(a, b) }
                }
                /// # Safety
                /// The CPU must support AVX2.
                pub unsafe fn dot_and_norm2_fn() -> fn(&[$t], &[$t]) -> ($t, $t) {
                    |a, b| unsafe { dot_and_norm2(a, b) }
                }
                /// # Safety
                /// The CPU must support AVX2.
                pub unsafe fn distance2_fn() -> fn(&[$t], &[$t]) -> $t {
                    |a, b| unsafe { sum_of_terms::<true>(a, b) }
                }
            }
        };
    }
    kernels!(f32, __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_setzero_ps, _mm256_add_ps, _mm256_sub_ps, _mm256_mul_ps);
    kernels!(f64, __m256d, 4, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_setzero_pd, _mm256_add_pd, _mm256_sub_pd, _mm256_mul_pd);
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
#[derive(Clone, Copy)]
pub struct Against<'q, T> {
    metric: Metric,
    query: &'q [T],
    query_norm: T,
    kernels: Kernels<T>,
}

impl<'q, T: Acc> Against<'q, T> {
    pub fn new(metric: Metric, query: &'q [T]) -> Self {
        let kernels = Kernels::best();
        let query_norm = if metric == Metric::CosineSimilarity { kernels.norm2(query).sqrt() } else { T::ONE };
        Against { metric, query, query_norm, kernels }
    }

    /// The metric of one row against the query (rows and query of the same length).
    #[inline]
    pub fn apply(&self, row: &[T]) -> T {
        let k = &self.kernels;
        match self.metric {
            Metric::Dot => (k.dot)(row, self.query),
            Metric::CosineSimilarity => {
                let (ab, aa) = (k.dot_and_norm2)(row, self.query);
                ab.div(aa.sqrt() * self.query_norm)
            }
            Metric::Euclidean => (k.distance2)(row, self.query).sqrt(),
            Metric::Norm => k.norm2(row).sqrt(),
        }
    }
}

/// The metric of two rows of the same length (neither a fixed query).
#[inline]
pub fn pair<T: Acc>(metric: Metric, a: &[T], b: &[T]) -> T {
    let k = Kernels::best();
    match metric {
        Metric::Dot => (k.dot)(a, b),
        Metric::CosineSimilarity => {
            let (ab, aa) = (k.dot_and_norm2)(a, b);
            ab.div(aa.sqrt() * k.norm2(b).sqrt())
        }
        Metric::Euclidean => (k.distance2)(a, b).sqrt(),
        Metric::Norm => k.norm2(a).sqrt(),
    }
}

/// `f(row)` for each `d`-long row of `values` (`values.len() / d` rows; with `d == 0`, `rows`
/// empty rows).
pub fn map_rows<T: Acc>(values: &[T], d: usize, rows: usize, against: &Against<'_, T>) -> Vec<T> {
    if d == 0 {
        return vec![against.apply(&[]); rows];
    }
    let mut out = Vec::with_capacity(values.len() / d);
    for row in values.chunks_exact(d) {
        out.push(against.apply(row));
    }
    out
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
    fn avx2_kernels_give_the_portable_kernels_bits() {
        let (best, portable) = (Kernels::<f32>::best(), Kernels::<f32>::portable());
        let (best64, portable64) = (Kernels::<f64>::best(), Kernels::<f64>::portable());
        for n in [0, 1, 7, 15, 16, 17, 31, 32, 33, 100, 384, 1000] {
            let a = sample(n, 3 + n as u32);
            let b = sample(n, 2000 + n as u32);
            assert_eq!((best.dot)(&a, &b).to_bits(), (portable.dot)(&a, &b).to_bits(), "dot n={n}");
            let (x, y) = ((best.dot_and_norm2)(&a, &b), (portable.dot_and_norm2)(&a, &b));
            assert_eq!((x.0.to_bits(), x.1.to_bits()), (y.0.to_bits(), y.1.to_bits()), "dot_and_norm2 n={n}");
            assert_eq!((best.distance2)(&a, &b).to_bits(), (portable.distance2)(&a, &b).to_bits(), "distance2 n={n}");
            let a64: Vec<f64> = a.iter().map(|x| *x as f64 * 1.000_000_1).collect();
            let b64: Vec<f64> = b.iter().map(|x| *x as f64).collect();
            assert_eq!((best64.dot)(&a64, &b64).to_bits(), (portable64.dot)(&a64, &b64).to_bits(), "f64 dot n={n}");
            let (x, y) = ((best64.dot_and_norm2)(&a64, &b64), (portable64.dot_and_norm2)(&a64, &b64));
            assert_eq!((x.0.to_bits(), x.1.to_bits()), (y.0.to_bits(), y.1.to_bits()), "f64 dot_and_norm2 n={n}");
            assert_eq!((best64.distance2)(&a64, &b64).to_bits(), (portable64.distance2)(&a64, &b64).to_bits(), "f64 distance2 n={n}");
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
