//! Tail figures of a bench's latency samples, shared by the attack benches: a quantile
//! with the 95% confidence interval of its rank (order statistics of a binomial count),
//! and a figure's median and range across rounds. With 100 samples a p99 is the largest
//! or second largest: its interval spans the top three and says nothing; with 1,000 it
//! is the tenth largest, between the 5th and the 17th.

#![allow(dead_code)]

/// A quantile of sorted samples with the samples bounding its 95% confidence interval.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quantile<T> {
    pub value: T,
    pub low: T,
    pub high: T,
    /// Samples at or above the quantile's rank: how many answers set it.
    pub above: usize,
}

/// The `q` quantile of `sorted` (ascending) and its 95% interval: the ranks
/// n·q ± 1.96·√(n·q·(1−q)), clamped to the samples. The default when empty.
pub fn quantile<T: Copy + Default>(sorted: &[T], q: f64) -> Quantile<T> {
    let n = sorted.len();
    if n == 0 {
        return Quantile::default();
    }
    let at = |rank: f64| sorted[(rank.max(0.0) as usize).min(n - 1)];
    let centre = n as f64 * q;
    let spread = 1.96 * (n as f64 * q * (1.0 - q)).sqrt();
    Quantile {
        value: at(centre),
        low: at((centre - spread).floor()),
        high: at((centre + spread).ceil()),
        above: n - (centre as usize).min(n - 1),
    }
}

/// (median, lowest, highest) of `values`; the lower middle for an even count; zeros
/// when empty.
pub fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match (v.first(), v.last()) {
        (Some(&lo), Some(&hi)) => (v[(v.len() - 1) / 2], lo, hi),
        _ => (0.0, 0.0, 0.0),
    }
}
