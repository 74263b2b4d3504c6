//! Point estimates of aggregate performance (rliable's `metrics.aggregate_*`).

use serde::{Deserialize, Serialize};

use crate::error::{Result, StatsError};
use crate::matrix::ScoreMatrix;
use crate::numeric::{mean_1d, pairwise_sum, task_means};

/// Which way a score improves. rliable assumes higher is better; a lower-is-better score (a mean
/// job completion time, a cost) gives the statistics rliable would compute on the negated scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Higher scores are better (returns, rewards): rliable's convention.
    #[default]
    HigherIsBetter,
    /// Lower scores are better (completion times, slowdowns, costs).
    LowerIsBetter,
}

impl Direction {
    /// True when `a` is strictly better than `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Direction::HigherIsBetter => a > b,
            Direction::LowerIsBetter => a < b,
        }
    }
}

/// The optimality gap's parameters: how far runs fall short of `threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OptimalityGap {
    /// rliable's `gamma`: the score beyond which a run counts as optimal (finite).
    pub threshold: f64,
    /// Which side of the threshold is short of optimal.
    pub direction: Direction,
}

impl OptimalityGap {
    /// rliable's default for normalised scores: threshold 1, higher is better.
    pub const NORMALISED: OptimalityGap = OptimalityGap { threshold: 1.0, direction: Direction::HigherIsBetter };

    pub(crate) fn validate(&self) -> Result<()> {
        if self.threshold.is_finite() {
            Ok(())
        } else {
            Err(StatsError::InvalidParameter {
                name: "optimality gap threshold",
                reason: format!("{} is not finite", self.threshold),
            })
        }
    }
}

/// Point estimates of a configuration's aggregate performance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AggregateEstimates {
    /// [`mean`]: mean over tasks of the per-task mean score.
    pub mean: f64,
    /// [`median`]: median over tasks of the per-task mean score.
    pub median: f64,
    /// [`iqm`]: interquartile mean of all scores.
    pub iqm: f64,
    /// [`optimality_gap`], when asked for.
    pub optimality_gap: Option<f64>,
}

/// rliable's `aggregate_mean`: the mean over tasks of each task's mean score over runs.
/// With one task this is the plain mean of the runs.
pub fn mean(scores: &ScoreMatrix) -> f64 {
    mean_1d(&task_means(scores))
}

/// rliable's `aggregate_median`: the median over tasks of each task's mean score over runs
/// (as in rliable, the median is across tasks, not runs: with one task it equals [`mean`]).
pub fn median(scores: &ScoreMatrix) -> f64 {
    let mut means = task_means(scores);
    means.sort_by(f64::total_cmp);
    let m = means.len();
    if m % 2 == 1 { means[m / 2] } else { (means[m / 2 - 1] + means[m / 2]) / 2.0 }
}

/// rliable's `aggregate_iqm`: the interquartile mean of all `runs × tasks` scores pooled,
/// `scipy.stats.trim_mean(scores, 0.25, axis=None)`: sort the `N` scores, drop
/// `floor(N / 4)` from each end, average the rest. With fewer than 4 scores nothing is dropped.
///
/// `[1, 2, …, 8]` → mean of `3, 4, 5, 6` = 4.5; `[1, …, 10]` drops 2 per end → mean of `3..=8`.
pub fn iqm(scores: &ScoreMatrix) -> f64 {
    let mut all = scores.values().to_vec();
    all.sort_by(f64::total_cmp);
    trimmed_mean_sorted(&all)
}

pub(crate) fn trimmed_mean_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    let cut = n / 4; // Python's int(0.25 * n)
    mean_1d(&sorted[cut..n - cut])
}

/// rliable's `aggregate_optimality_gap`: the mean shortfall of all scores from the threshold,
/// scores beyond it counting as optimal (shortfall 0). Higher is better:
/// `threshold − mean(min(score, threshold))`; lower is better: `mean(max(score, threshold)) −
/// threshold`. Either way the gap is ≥ 0 and smaller is better.
pub fn optimality_gap(scores: &ScoreMatrix, gap: OptimalityGap) -> Result<f64> {
    gap.validate()?;
    Ok(optimality_gap_unchecked(scores, gap))
}

pub(crate) fn optimality_gap_unchecked(scores: &ScoreMatrix, gap: OptimalityGap) -> f64 {
    let g = gap.threshold;
    let n = scores.len() as f64;
    // numpy flattens the [runs × tasks] array row by row before its pairwise sum.
    match gap.direction {
        Direction::HigherIsBetter => {
            let clipped: Vec<f64> = scores.row_major().map(|s| s.min(g)).collect();
            g - pairwise_sum(&clipped) / n
        }
        Direction::LowerIsBetter => {
            let clipped: Vec<f64> = scores.row_major().map(|s| s.max(g)).collect();
            pairwise_sum(&clipped) / n - g
        }
    }
}

/// Mean, median, IQM and (if `gap` is given) optimality gap of one configuration.
pub fn aggregate_estimates(scores: &ScoreMatrix, gap: Option<OptimalityGap>) -> Result<AggregateEstimates> {
    if let Some(g) = &gap {
        g.validate()?;
    }
    Ok(AggregateEstimates {
        mean: mean(scores),
        median: median(scores),
        iqm: iqm(scores),
        optimality_gap: gap.map(|g| optimality_gap_unchecked(scores, g)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(v: &[f64]) -> ScoreMatrix {
        ScoreMatrix::from_runs(v).unwrap()
    }

    #[test]
    fn iqm_hand_values() {
        let one_to = |n: usize| runs(&(1..=n).map(|i| i as f64).collect::<Vec<_>>());
        assert_eq!(iqm(&one_to(8)), 4.5); // mean of 3, 4, 5, 6
        assert_eq!(iqm(&one_to(10)), 5.5); // trims 2 per end: mean of 3..=8
        assert_eq!(iqm(&one_to(5)), 3.0); // trims 1 per end: mean of 2, 3, 4
        assert_eq!(iqm(&one_to(3)), 2.0); // int(0.75) = 0: nothing trimmed
        assert_eq!(iqm(&runs(&[42.0])), 42.0);
        // Order does not matter; outliers are trimmed.
        assert_eq!(iqm(&runs(&[1000.0, 4.0, -1000.0, 5.0, 3.0, 6.0, 2.0, 7.0])), 4.5);
        // Pooled over tasks: 2 runs × 4 tasks = 8 scores.
        let m = ScoreMatrix::from_rows(&[[8.0, 1.0, 6.0, 3.0], [2.0, 7.0, 4.0, 5.0]]).unwrap();
        assert_eq!(iqm(&m), 4.5);
    }

    #[test]
    fn mean_and_median_are_over_task_means() {
        let one = runs(&[1.0, 2.0, 3.0, 10.0]);
        assert_eq!(mean(&one), 4.0);
        assert_eq!(median(&one), 4.0); // one task: the median of one task mean
        // Task means 2, 20, 5 → mean 9, median 5.
        let m = ScoreMatrix::from_tasks(&[vec![1.0, 3.0], vec![10.0, 30.0], vec![4.0, 6.0]]).unwrap();
        assert_eq!(mean(&m), 9.0);
        assert_eq!(median(&m), 5.0);
        // Even task count: average of the two middle task means (2, 5, 20, 30 → 12.5).
        let m = ScoreMatrix::from_tasks(&[vec![2.0], vec![20.0], vec![5.0], vec![30.0]]).unwrap();
        assert_eq!(median(&m), 12.5);
    }

    #[test]
    fn optimality_gap_both_directions() {
        let s = runs(&[0.5, 1.5, 0.0, 1.0]);
        // min(s, 1) = 0.5, 1, 0, 1 → mean 0.625 → gap 0.375.
        assert_eq!(optimality_gap(&s, OptimalityGap::NORMALISED).unwrap(), 0.375);
        // Lower is better, threshold 1: max(s, 1) = 1, 1.5, 1, 1 → mean 1.125 → gap 0.125.
        let lower = OptimalityGap { threshold: 1.0, direction: Direction::LowerIsBetter };
        assert_eq!(optimality_gap(&s, lower).unwrap(), 0.125);
        let bad = OptimalityGap { threshold: f64::NAN, direction: Direction::HigherIsBetter };
        assert!(matches!(optimality_gap(&s, bad), Err(StatsError::InvalidParameter { .. })));
        assert!(aggregate_estimates(&s, Some(bad)).is_err());
    }

    #[test]
    fn aggregate_estimates_bundle() {
        let s = runs(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        let e = aggregate_estimates(&s, None).unwrap();
        assert_eq!(e, AggregateEstimates { mean: 4.5, median: 4.5, iqm: 4.5, optimality_gap: None });
        let e = aggregate_estimates(&s, Some(OptimalityGap { threshold: 4.0, direction: Direction::HigherIsBetter }));
        assert_eq!(e.unwrap().optimality_gap, Some(4.0 - 26.0 / 8.0));
    }
}
