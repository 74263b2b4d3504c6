//! numpy's summation orders and percentile, so that point estimates agree with rliable's to the
//! last bit where the order of operations is numpy's documented one.

use crate::matrix::ScoreMatrix;

/// numpy's pairwise summation (`pairwise_sum_DOUBLE`), the order `np.sum`/`np.mean` use on a
/// contiguous 1-D array: blocks of up to 128 values summed with 8 interleaved accumulators,
/// longer runs split in halves (rounded down to a multiple of 8). Accurate to `O(log n)` ulps.
pub(crate) fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        a.iter().fold(0.0, |acc, &x| acc + x)
    } else if n <= 128 {
        let mut r = [0.0; 8];
        r.copy_from_slice(&a[..8]);
        let full = n - n % 8;
        let mut i = 8;
        while i < full {
            for (j, acc) in r.iter_mut().enumerate() {
                *acc += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[full..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// `np.mean` of a contiguous 1-D array.
pub(crate) fn mean_1d(a: &[f64]) -> f64 {
    pairwise_sum(a) / a.len() as f64
}

/// The mean score of every task, as `np.mean(scores, axis=0)` on a C-ordered `[runs × tasks]`
/// array: numpy reduces a single column as a 1-D array (pairwise), but several columns row by
/// row (a plain running sum per column).
pub(crate) fn task_means(scores: &ScoreMatrix) -> Vec<f64> {
    let runs = scores.runs() as f64;
    (0..scores.tasks())
        .map(|t| {
            let column = scores.task_slice(t);
            let sum = if scores.tasks() == 1 { pairwise_sum(column) } else { column.iter().fold(0.0, |s, &x| s + x) };
            sum / runs
        })
        .collect()
}

/// `np.percentile(values, q)` with numpy's default `linear` method (Hyndman & Fan type 7) on
/// values sorted ascending; `q` in percent. Interpolates as numpy's `_lerp`.
pub(crate) fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let virtual_index = (n - 1) as f64 * (q / 100.0);
    let (prev, next) = if virtual_index >= (n - 1) as f64 {
        (n - 1, n - 1)
    } else if virtual_index < 0.0 {
        (0, 0)
    } else {
        let p = virtual_index.floor() as usize;
        (p, p + 1)
    };
    let gamma = virtual_index - virtual_index.floor();
    let (a, b) = (sorted[prev], sorted[next]);
    let diff = b - a;
    if gamma >= 0.5 { b - diff * (1.0 - gamma) } else { a + diff * gamma }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: numpy's algorithm written out recursively from its C source.
    #[test]
    fn pairwise_sum_orders() {
        // Short runs are a plain left-to-right sum.
        assert_eq!(pairwise_sum(&[]), 0.0);
        assert_eq!(pairwise_sum(&[1e16, 1.0, -1e16]), 0.0);
        // 8 accumulators: 1e16 and -1e16 land in the same one, so the ones survive.
        let mut a = vec![1.0; 16];
        a[0] = 1e16;
        a[8] = -1e16;
        assert_eq!(pairwise_sum(&a), 14.0);
        // Exact on integers, any length (exercises the recursive split).
        for n in [0usize, 7, 8, 9, 127, 128, 129, 1000, 4097] {
            let v: Vec<f64> = (1..=n).map(|i| i as f64).collect();
            assert_eq!(pairwise_sum(&v), (n * (n + 1) / 2) as f64);
        }
    }

    #[test]
    fn percentile_matches_numpy_linear() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile_sorted(&v, 0.0), 1.0);
        assert_eq!(percentile_sorted(&v, 100.0), 4.0);
        assert_eq!(percentile_sorted(&v, 50.0), 2.5);
        // np.percentile([1, 2, 3, 4], 2.5) = 1 + 0.075 = 1.075
        assert!((percentile_sorted(&v, 2.5) - 1.075).abs() < 1e-15);
        assert!((percentile_sorted(&v, 97.5) - 3.925).abs() < 1e-15);
        assert_eq!(percentile_sorted(&[7.0], 2.5), 7.0);
    }

    #[test]
    fn task_means_follow_numpy_reduction_order() {
        let one = ScoreMatrix::from_runs(&[1.0, 2.0, 3.0, 6.0]).unwrap();
        assert_eq!(task_means(&one), [3.0]);
        let two = ScoreMatrix::from_rows(&[[1.0, 10.0], [2.0, 20.0], [6.0, 60.0]]).unwrap();
        assert_eq!(task_means(&two), [3.0, 30.0]);
    }
}
