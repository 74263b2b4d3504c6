//! Performance profiles (rliable's `create_performance_profile`).

use serde::{Deserialize, Serialize};

use crate::bootstrap::{BootstrapConfig, Interval, bootstrap_intervals};
use crate::error::{Result, StatsError};
use crate::matrix::ScoreMatrix;
use crate::numeric::task_means;
use crate::point::Direction;

/// What a performance profile counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileKind {
    /// rliable's default (`use_score_distribution=True`): the fraction of all `runs × tasks`
    /// scores better than τ (the run-score distribution).
    #[default]
    RunScores,
    /// `use_score_distribution=False`: the fraction of tasks whose mean score over runs is better
    /// than τ (the average-score distribution).
    TaskMeans,
}

/// A performance profile with its pointwise bootstrap intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformanceProfile {
    /// What is counted.
    pub kind: ProfileKind,
    /// Which side of τ is better.
    pub direction: Direction,
    /// The thresholds τ.
    pub taus: Vec<f64>,
    /// For each τ, the fraction of scores better than τ, with its interval.
    pub fractions: Vec<Interval>,
}

fn validate_taus(taus: &[f64]) -> Result<()> {
    if taus.is_empty() {
        return Err(StatsError::Empty { what: "no thresholds" });
    }
    match taus.iter().find(|t| t.is_nan()) {
        Some(_) => Err(StatsError::InvalidParameter { name: "tau", reason: "NaN threshold".into() }),
        None => Ok(()),
    }
}

fn profile_unchecked(scores: &ScoreMatrix, taus: &[f64], direction: Direction, kind: ProfileKind) -> Vec<f64> {
    let mut values = match kind {
        ProfileKind::RunScores => scores.values().to_vec(),
        ProfileKind::TaskMeans => task_means(scores),
    };
    values.sort_by(f64::total_cmp);
    let n = values.len();
    taus.iter()
        .map(|&tau| {
            let better = match direction {
                Direction::HigherIsBetter => n - values.partition_point(|&v| v <= tau),
                Direction::LowerIsBetter => values.partition_point(|&v| v < tau),
            };
            better as f64 / n as f64
        })
        .collect()
}

/// The performance profile: for each τ, the fraction of scores strictly better than τ
/// (higher is better: `score > τ`, rliable's convention; lower is better: `score < τ`).
/// Thresholds may be infinite but not NaN.
pub fn performance_profile(
    scores: &ScoreMatrix,
    taus: &[f64],
    direction: Direction,
    kind: ProfileKind,
) -> Result<Vec<f64>> {
    validate_taus(taus)?;
    Ok(profile_unchecked(scores, taus, direction, kind))
}

/// [`performance_profile`] with pointwise stratified bootstrap intervals, every τ evaluated on
/// the same replicates (rliable's `create_performance_profile`, whose default is 2 000 reps).
pub fn performance_profile_intervals(
    scores: &ScoreMatrix,
    taus: &[f64],
    direction: Direction,
    kind: ProfileKind,
    config: &BootstrapConfig,
) -> Result<PerformanceProfile> {
    validate_taus(taus)?;
    let fractions = bootstrap_intervals(&[scores], config, |s| profile_unchecked(&s[0], taus, direction, kind))?;
    Ok(PerformanceProfile { kind, direction, taus: taus.to_vec(), fractions })
}

/// `count` evenly spaced thresholds from `start` to `stop` inclusive, computed as `np.linspace`
/// does (so a grid built here equals rliable users' `np.linspace(start, stop, count)`).
pub fn linspace(start: f64, stop: f64, count: usize) -> Result<Vec<f64>> {
    if !start.is_finite() || !stop.is_finite() {
        return Err(StatsError::InvalidParameter {
            name: "linspace bounds",
            reason: format!("{start}..{stop} not finite"),
        });
    }
    match count {
        0 => Ok(Vec::new()),
        1 => Ok(vec![start]),
        _ => {
            let div = (count - 1) as f64;
            let delta = stop - start;
            let step = delta / div;
            let mut v: Vec<f64> = (0..count)
                .map(|i| if step == 0.0 { i as f64 / div * delta + start } else { i as f64 * step + start })
                .collect();
            v[count - 1] = stop;
            Ok(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_strictly_better() {
        let s = ScoreMatrix::from_runs(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        let taus = [0.0, 1.0, 2.5, 4.0, f64::INFINITY];
        let up = performance_profile(&s, &taus, Direction::HigherIsBetter, ProfileKind::RunScores).unwrap();
        assert_eq!(up, [1.0, 0.75, 0.5, 0.0, 0.0]);
        let down = performance_profile(&s, &taus, Direction::LowerIsBetter, ProfileKind::RunScores).unwrap();
        assert_eq!(down, [0.0, 0.0, 0.5, 0.75, 1.0]);
    }

    #[test]
    fn task_means_profile() {
        // Task means 2, 20, 5.
        let m = ScoreMatrix::from_tasks(&[vec![1.0, 3.0], vec![10.0, 30.0], vec![4.0, 6.0]]).unwrap();
        let p = performance_profile(&m, &[4.0, 19.0], Direction::HigherIsBetter, ProfileKind::TaskMeans).unwrap();
        assert_eq!(p, [2.0 / 3.0, 1.0 / 3.0]);
        let p = performance_profile(&m, &[4.0, 19.0], Direction::HigherIsBetter, ProfileKind::RunScores).unwrap();
        assert_eq!(p, [3.0 / 6.0, 1.0 / 6.0]); // scores 1, 3, 10, 30, 4, 6
    }

    #[test]
    fn intervals_and_errors() {
        let s = ScoreMatrix::from_runs(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let cfg = BootstrapConfig::new(2000, 1);
        let p = performance_profile_intervals(
            &s,
            &[0.0, 3.5, 10.0],
            Direction::HigherIsBetter,
            ProfileKind::RunScores,
            &cfg,
        )
        .unwrap();
        assert_eq!(p.fractions[0], Interval { estimate: 1.0, low: 1.0, high: 1.0 });
        assert_eq!(p.fractions[2], Interval { estimate: 0.0, low: 0.0, high: 0.0 });
        let mid = p.fractions[1];
        assert!(mid.estimate == 0.5 && mid.low < 0.5 && mid.high > 0.5, "{mid:?}");
        let none: [f64; 0] = [];
        assert!(matches!(
            performance_profile(&s, &none, Direction::HigherIsBetter, ProfileKind::RunScores),
            Err(StatsError::Empty { .. })
        ));
        assert!(performance_profile(&s, &[f64::NAN], Direction::HigherIsBetter, ProfileKind::RunScores).is_err());
    }

    #[test]
    fn linspace_like_numpy() {
        assert_eq!(linspace(0.0, 1.0, 5).unwrap(), [0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(linspace(2.0, 2.0, 3).unwrap(), [2.0, 2.0, 2.0]);
        assert_eq!(linspace(3.0, 9.0, 1).unwrap(), [3.0]);
        assert!(linspace(0.0, 1.0, 0).unwrap().is_empty());
        // np.linspace(0, 1, 11)[3] is 0.30000000000000004 (3 * 0.1).
        assert_eq!(linspace(0.0, 1.0, 11).unwrap()[3], 0.30000000000000004);
        assert!(linspace(0.0, f64::NAN, 3).is_err());
    }
}
