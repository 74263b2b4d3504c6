//! Probability of improvement (rliable's `metrics.probability_of_improvement`).

use crate::bootstrap::{BootstrapConfig, Interval, bootstrap_intervals};
use crate::error::{Result, StatsError};
use crate::matrix::ScoreMatrix;
use crate::numeric::mean_1d;
use crate::point::Direction;

/// `P(X > Y)`: the probability that a random run of configuration `x` is better than a random
/// run of `y` on the same task, averaged over tasks (ties count ½). Per task this is the
/// Mann–Whitney U statistic of `x` divided by `n_x · n_y`, exactly as rliable computes it with
/// `scipy.stats.mannwhitneyu`. `x` and `y` may have different numbers of runs but must cover the
/// same tasks, in the same order. With [`Direction::LowerIsBetter`], "better" means smaller.
///
/// Disjoint samples with every `x` better give 1; identical samples give ½.
pub fn probability_of_improvement(x: &ScoreMatrix, y: &ScoreMatrix, direction: Direction) -> Result<f64> {
    check_tasks(x, y)?;
    Ok(poi_unchecked(x, y, direction))
}

fn check_tasks(x: &ScoreMatrix, y: &ScoreMatrix) -> Result<()> {
    if x.tasks() == y.tasks() { Ok(()) } else { Err(StatsError::TaskCountMismatch { x: x.tasks(), y: y.tasks() }) }
}

fn poi_unchecked(x: &ScoreMatrix, y: &ScoreMatrix, direction: Direction) -> f64 {
    let mut sorted_y = Vec::with_capacity(y.runs());
    let per_task: Vec<f64> = (0..x.tasks())
        .map(|t| {
            sorted_y.clear();
            sorted_y.extend_from_slice(y.task_slice(t));
            sorted_y.sort_by(f64::total_cmp);
            // Twice the U statistic, an exact integer: 2·#(x better) + #(ties).
            let mut twice_u: u128 = 0;
            for &xi in x.task_slice(t) {
                let below = sorted_y.partition_point(|&v| v < xi) as u128;
                let not_above = sorted_y.partition_point(|&v| v <= xi) as u128;
                let ties = not_above - below;
                let better = match direction {
                    Direction::HigherIsBetter => below,
                    Direction::LowerIsBetter => sorted_y.len() as u128 - not_above,
                };
                twice_u += 2 * better + ties;
            }
            // U / (n·m) with U a half-integer: the same correctly rounded quotient as scipy's.
            twice_u as f64 / (2 * x.runs() as u128 * y.runs() as u128) as f64
        })
        .collect();
    mean_1d(&per_task)
}

/// [`probability_of_improvement`] with its stratified bootstrap interval: `x` and `y` are
/// resampled independently, each within its tasks (rliable's `get_interval_estimates` on the
/// pair `[x, y]`, i.e. `StratifiedIndependentBootstrap`).
pub fn probability_of_improvement_interval(
    x: &ScoreMatrix,
    y: &ScoreMatrix,
    direction: Direction,
    config: &BootstrapConfig,
) -> Result<Interval> {
    check_tasks(x, y)?;
    let intervals = bootstrap_intervals(&[x, y], config, |s| vec![poi_unchecked(&s[0], &s[1], direction)])?;
    Ok(intervals[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(v: &[f64]) -> ScoreMatrix {
        ScoreMatrix::from_runs(v).unwrap()
    }

    #[test]
    fn hand_values() {
        let hi = runs(&[5.0, 6.0, 7.0]);
        let lo = runs(&[1.0, 2.0]);
        let up = Direction::HigherIsBetter;
        let down = Direction::LowerIsBetter;
        assert_eq!(probability_of_improvement(&hi, &lo, up).unwrap(), 1.0);
        assert_eq!(probability_of_improvement(&lo, &hi, up).unwrap(), 0.0);
        assert_eq!(probability_of_improvement(&lo, &hi, down).unwrap(), 1.0);
        assert_eq!(probability_of_improvement(&hi, &hi, up).unwrap(), 0.5);
        assert_eq!(probability_of_improvement(&hi, &hi, down).unwrap(), 0.5);
        let c = runs(&[3.0, 3.0]);
        assert_eq!(probability_of_improvement(&c, &c, up).unwrap(), 0.5); // all ties
        // x = [1, 3], y = [2, 3]: pairs (1,2) loss, (1,3) loss, (3,2) win, (3,3) tie → 1.5 / 4.
        assert_eq!(probability_of_improvement(&runs(&[1.0, 3.0]), &runs(&[2.0, 3.0]), up).unwrap(), 0.375);
        assert_eq!(probability_of_improvement(&runs(&[1.0, 3.0]), &runs(&[2.0, 3.0]), down).unwrap(), 0.625);
    }

    #[test]
    fn averages_over_tasks() {
        // Task 0: x always better (1); task 1: x always worse (0); task 2: identical (½).
        let x = ScoreMatrix::from_tasks(&[vec![9.0, 8.0], vec![0.0, 1.0], vec![4.0, 5.0]]).unwrap();
        let y = ScoreMatrix::from_tasks(&[vec![1.0, 2.0, 3.0], vec![5.0, 6.0, 7.0], vec![4.0, 5.0, 4.0]]).unwrap();
        // Task 2: x=4 vs y=4,5,4 → ties 2, loss 1 → 1; x=5 → wins 2, tie 1 → 2.5; total 3.5/6.
        let expected = (1.0 + 0.0 + 3.5 / 6.0) / 3.0;
        assert!((probability_of_improvement(&x, &y, Direction::HigherIsBetter).unwrap() - expected).abs() < 1e-15);
        let y2 = ScoreMatrix::from_tasks(&[vec![1.0], vec![2.0]]).unwrap();
        assert_eq!(
            probability_of_improvement(&x, &y2, Direction::HigherIsBetter),
            Err(StatsError::TaskCountMismatch { x: 3, y: 2 })
        );
        assert!(
            probability_of_improvement_interval(&x, &y2, Direction::HigherIsBetter, &BootstrapConfig::new(10, 0))
                .is_err()
        );
    }

    #[test]
    fn interval_brackets_estimate() {
        let x = runs(&[10.0, 12.0, 11.0, 14.0, 9.0, 13.0, 12.5, 11.5]);
        let y = runs(&[9.0, 10.5, 8.0, 11.0, 12.0, 9.5, 10.0, 8.5]);
        let cfg = BootstrapConfig::new(4000, 3);
        let i = probability_of_improvement_interval(&x, &y, Direction::HigherIsBetter, &cfg).unwrap();
        assert!(i.low < i.estimate && i.estimate < i.high && i.high <= 1.0 && i.low >= 0.0, "{i:?}");
        let disjoint =
            probability_of_improvement_interval(&x, &runs(&[0.0, 1.0]), Direction::HigherIsBetter, &cfg).unwrap();
        assert_eq!(disjoint, Interval { estimate: 1.0, low: 1.0, high: 1.0 });
    }
}
