//! Stratified bootstrap confidence intervals (rliable's `get_interval_estimates` with
//! `StratifiedBootstrap` / `StratifiedIndependentBootstrap`), on an explicit, seeded random stream.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Result, StatsError};
use crate::matrix::ScoreMatrix;
use crate::numeric::percentile_sorted;
use crate::point::{OptimalityGap, iqm, mean, median, optimality_gap_unchecked};

/// A point estimate with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The statistic on the data itself.
    pub estimate: f64,
    /// Lower bound of the interval.
    pub low: f64,
    /// Upper bound of the interval.
    pub high: f64,
}

impl Interval {
    /// `high − low`.
    pub fn width(&self) -> f64 {
        self.high - self.low
    }

    /// True when `low ≤ x ≤ high`.
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

/// How an interval is read off the bootstrap distribution (arch's `conf_int` methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalMethod {
    /// rliable's default: the `α/2` and `1 − α/2` percentiles of the replicates.
    #[default]
    Percentile,
    /// The basic (reverse percentile) interval: `2θ̂ − q(1 − α/2)`, `2θ̂ − q(α/2)`.
    Basic,
}

/// Parameters of a bootstrap: how many replicates, which confidence level, which seed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BootstrapConfig {
    /// Number of bootstrap replicates (rliable: 50 000 for interval estimates, 2 000 for
    /// performance profiles). At least 1.
    pub reps: usize,
    /// Coverage of the two-sided interval, strictly between 0 and 1 (default 0.95).
    pub confidence: f64,
    /// How the interval is read off the replicates.
    pub method: IntervalMethod,
    /// Seed of the [`Resampler`]: the same inputs and seed give the same numbers everywhere.
    pub seed: u64,
}

impl Default for BootstrapConfig {
    /// rliable's `get_interval_estimates` defaults: 50 000 replicates, 95 %, percentile; seed 0.
    fn default() -> Self {
        Self { reps: 50_000, confidence: 0.95, method: IntervalMethod::Percentile, seed: 0 }
    }
}

impl BootstrapConfig {
    /// `reps` replicates from `seed`, 95 % percentile intervals.
    pub fn new(reps: usize, seed: u64) -> Self {
        Self { reps, seed, ..Self::default() }
    }

    /// Checks `reps ≥ 1` and `0 < confidence < 1`.
    pub fn validate(&self) -> Result<()> {
        if self.reps == 0 {
            return Err(StatsError::InvalidParameter { name: "reps", reason: "must be at least 1".into() });
        }
        validate_confidence(self.confidence)
    }
}

fn validate_confidence(confidence: f64) -> Result<()> {
    if confidence > 0.0 && confidence < 1.0 {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name: "confidence",
            reason: format!("{confidence} is not strictly between 0 and 1"),
        })
    }
}

/// The random stream of every bootstrap in this crate, fixed so that results are reproducible
/// bit for bit on any machine and thread count (bootstraps run on one thread).
///
/// A `ChaCha8Rng` seeded with [`SeedableRng::seed_from_u64`]. A uniform index in `0..n` is drawn
/// from one or more `next_u64` outputs by Lemire's multiply-and-reject method: with
/// `m = x · n` (128-bit), accept `m >> 64` unless `(m mod 2^64) < (2^64 − n) mod n`, in which
/// case draw again. This depends only on the ChaCha8 stream, not on `rand`'s distributions.
///
/// Order of draws: for each replicate, for each input matrix in order (for the probability of
/// improvement: `x`, then `y`), [`Resampler::draw_indices`] for that matrix's shape.
#[derive(Debug, Clone)]
pub struct Resampler {
    rng: ChaCha8Rng,
}

impl Resampler {
    /// The stream for `seed`.
    pub fn new(seed: u64) -> Self {
        Self { rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    /// A uniform index in `0..n`, `n ≥ 1`.
    fn index(&mut self, n: u64) -> u64 {
        let mut m = u128::from(self.rng.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.rng.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }

    /// One stratified resample of a `[runs × tasks]` matrix: for each task in order, for each of
    /// its `runs` rows in order, the run to copy, uniform in `0..runs` (with replacement, tasks
    /// independent). Writes `out[task * runs + run]`; draws nothing when `runs` or `tasks` is 0.
    pub fn draw_indices(&mut self, runs: usize, tasks: usize, out: &mut Vec<usize>) {
        out.clear();
        if runs == 0 {
            return;
        }
        let n = runs as u64;
        for _ in 0..runs * tasks {
            out.push(self.index(n) as usize);
        }
    }
}

/// The bootstrap distribution of a statistic: `replicates[component][rep]`.
///
/// Each replicate resamples every matrix of `samples` with [`Resampler::draw_indices`] (runs
/// with replacement within each task; several matrices independently, as rliable's
/// `StratifiedIndependentBootstrap`) and evaluates `statistic` on the resampled matrices, which
/// come in the order of `samples`. The statistic must return the same number of finite values
/// on every replicate.
pub fn bootstrap_replicates<F>(
    samples: &[&ScoreMatrix],
    reps: usize,
    seed: u64,
    mut statistic: F,
) -> Result<Vec<Vec<f64>>>
where
    F: FnMut(&[ScoreMatrix]) -> Vec<f64>,
{
    if samples.is_empty() {
        return Err(StatsError::Empty { what: "no score matrices to bootstrap" });
    }
    let mut resampled: Vec<ScoreMatrix> = samples.iter().map(|&s| s.clone()).collect();
    let expected = checked_statistic(statistic(&resampled), None)?;
    let mut out: Vec<Vec<f64>> = (0..expected.len()).map(|_| Vec::with_capacity(reps)).collect();
    let mut resampler = Resampler::new(seed);
    let mut indices = Vec::new();
    for _ in 0..reps {
        for (buffer, source) in resampled.iter_mut().zip(samples) {
            resampler.draw_indices(source.runs(), source.tasks(), &mut indices);
            buffer.gather_from(source, &indices);
        }
        let values = checked_statistic(statistic(&resampled), Some(expected.len()))?;
        for (column, v) in out.iter_mut().zip(values) {
            column.push(v);
        }
    }
    Ok(out)
}

fn checked_statistic(values: Vec<f64>, expected: Option<usize>) -> Result<Vec<f64>> {
    match expected {
        None if values.is_empty() => return Err(StatsError::Empty { what: "statistic returned no values" }),
        Some(expected) if values.len() != expected => {
            return Err(StatsError::StatisticLength { expected, got: values.len() });
        }
        _ => {}
    }
    if let Some(component) = values.iter().position(|v| !v.is_finite()) {
        return Err(StatsError::NonFiniteStatistic { component, value: values[component] });
    }
    Ok(values)
}

/// Point estimates and stratified bootstrap intervals of a vector-valued statistic: rliable's
/// `get_interval_estimates(…, method='percentile')` for one entry of its score dict (one matrix:
/// `StratifiedBootstrap`; several: `StratifiedIndependentBootstrap`).
pub fn bootstrap_intervals<F>(
    samples: &[&ScoreMatrix],
    config: &BootstrapConfig,
    mut statistic: F,
) -> Result<Vec<Interval>>
where
    F: FnMut(&[ScoreMatrix]) -> Vec<f64>,
{
    config.validate()?;
    if samples.is_empty() {
        return Err(StatsError::Empty { what: "no score matrices to bootstrap" });
    }
    let originals: Vec<ScoreMatrix> = samples.iter().map(|&s| s.clone()).collect();
    let estimates = checked_statistic(statistic(&originals), None)?;
    let replicates = bootstrap_replicates(samples, config.reps, config.seed, statistic)?;
    estimates
        .iter()
        .zip(&replicates)
        .map(|(&estimate, reps)| percentile_interval(estimate, reps, config.confidence, config.method))
        .collect()
}

/// Reads a two-sided interval of coverage `confidence` off bootstrap replicates, exactly as
/// arch's `conf_int` (which rliable calls): `np.percentile` (linear interpolation) at
/// `100·α/2` and `100·(1 − α/2)` percent.
pub fn percentile_interval(
    estimate: f64,
    replicates: &[f64],
    confidence: f64,
    method: IntervalMethod,
) -> Result<Interval> {
    validate_confidence(confidence)?;
    if replicates.is_empty() {
        return Err(StatsError::Empty { what: "no bootstrap replicates" });
    }
    if let Some(component) = std::iter::once(&estimate).chain(replicates).position(|v| !v.is_finite()) {
        let value = if component == 0 { estimate } else { replicates[component - 1] };
        return Err(StatsError::NonFiniteStatistic { component, value });
    }
    let mut sorted = replicates.to_vec();
    sorted.sort_by(f64::total_cmp);
    let alpha = (1.0 - confidence) / 2.0;
    let lower = percentile_sorted(&sorted, 100.0 * alpha);
    let upper = percentile_sorted(&sorted, 100.0 * (1.0 - alpha));
    Ok(match method {
        IntervalMethod::Percentile => Interval { estimate, low: lower, high: upper },
        IntervalMethod::Basic => Interval { estimate, low: 2.0 * estimate - upper, high: 2.0 * estimate - lower },
    })
}

/// Interval estimates of a configuration's aggregate performance, all from the same replicates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AggregateIntervals {
    /// [`mean`](crate::mean) with its interval.
    pub mean: Interval,
    /// [`median`](crate::median) with its interval.
    pub median: Interval,
    /// [`iqm`](crate::iqm) with its interval.
    pub iqm: Interval,
    /// [`optimality_gap`](crate::optimality_gap) with its interval, when asked for.
    pub optimality_gap: Option<Interval>,
}

/// Mean, median, IQM and optionally optimality gap, each with its stratified bootstrap interval
/// (rliable's `get_interval_estimates` with a `func` returning all of them, so one set of
/// replicates serves every statistic).
pub fn aggregate_intervals(
    scores: &ScoreMatrix,
    gap: Option<OptimalityGap>,
    config: &BootstrapConfig,
) -> Result<AggregateIntervals> {
    if let Some(g) = &gap {
        g.validate()?;
    }
    let intervals = bootstrap_intervals(&[scores], config, |s| {
        let s = &s[0];
        let mut v = vec![mean(s), median(s), iqm(s)];
        v.extend(gap.map(|g| optimality_gap_unchecked(s, g)));
        v
    })?;
    Ok(AggregateIntervals {
        mean: intervals[0],
        median: intervals[1],
        iqm: intervals[2],
        optimality_gap: intervals.get(3).copied(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::point::Direction;

    const GOLDEN_INDICES: [usize; 20] = [7, 4, 6, 0, 8, 5, 8, 9, 8, 1, 8, 7, 5, 3, 7, 6, 1, 4, 6, 8];
    /// IQM interval 2.0 ..= 5.333333333333333 (1000 replicates, seed 2021).
    const GOLDEN_IQM_BITS: [u64; 2] = [4611686018427387904, 4617690817930548565];

    #[test]
    fn resampler_is_uniform_and_reproducible() {
        let mut a = Resampler::new(7);
        let mut b = Resampler::new(7);
        let (mut ia, mut ib) = (Vec::new(), Vec::new());
        let mut counts = [0usize; 5];
        for _ in 0..2000 {
            a.draw_indices(5, 2, &mut ia);
            b.draw_indices(5, 2, &mut ib);
            assert_eq!(ia, ib);
            assert_eq!(ia.len(), 10);
            for &i in &ia {
                counts[i] += 1;
            }
        }
        // 20 000 draws, 4 000 expected per index, sd ≈ 57: 6 sd is a safe band.
        for c in counts {
            assert!((3650..=4350).contains(&c), "{counts:?}");
        }
        let mut c = Resampler::new(8);
        c.draw_indices(5, 2, &mut ib);
        assert_ne!(ia, ib);
        c.draw_indices(0, 3, &mut ib);
        assert!(ib.is_empty());
        // One run: always index 0.
        c.draw_indices(1, 4, &mut ib);
        assert_eq!(ib, [0, 0, 0, 0]);
    }

    #[test]
    fn percentile_and_basic_intervals() {
        let reps: Vec<f64> = (0..=100).map(f64::from).collect(); // percentile q is q itself
        let p = percentile_interval(50.0, &reps, 0.95, IntervalMethod::Percentile).unwrap();
        assert!((p.low - 2.5).abs() < 1e-12 && (p.high - 97.5).abs() < 1e-12, "{p:?}");
        let b = percentile_interval(60.0, &reps, 0.9, IntervalMethod::Basic).unwrap();
        assert!((b.low - (120.0 - 95.0)).abs() < 1e-12 && (b.high - (120.0 - 5.0)).abs() < 1e-12, "{b:?}");
        assert!(percentile_interval(0.0, &[], 0.95, IntervalMethod::Percentile).is_err());
        assert!(percentile_interval(0.0, &[1.0], 1.0, IntervalMethod::Percentile).is_err());
        assert!(percentile_interval(0.0, &[1.0, f64::NAN], 0.9, IntervalMethod::Percentile).is_err());
    }

    #[test]
    fn aggregate_intervals_are_deterministic_and_sane() {
        let scores = ScoreMatrix::from_runs(&[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0]).unwrap();
        let gap = OptimalityGap { threshold: 4.0, direction: Direction::HigherIsBetter };
        let cfg = BootstrapConfig::new(5000, 42);
        let a = aggregate_intervals(&scores, Some(gap), &cfg).unwrap();
        assert_eq!(a, aggregate_intervals(&scores, Some(gap), &cfg).unwrap());
        assert_ne!(a, aggregate_intervals(&scores, Some(gap), &BootstrapConfig::new(5000, 43)).unwrap());
        assert_eq!(a.mean.estimate, 3.9);
        assert_eq!(a.mean, a.median); // one task
        for i in [a.mean, a.iqm, a.optimality_gap.unwrap()] {
            assert!(i.low < i.estimate && i.estimate < i.high, "{i:?}");
        }
        // Mean of 10 values with sd ≈ 2.4: the 95 % interval is about ±1.96·2.4/√10 ≈ ±1.5.
        assert!((a.mean.width() - 3.0).abs() < 0.6, "{:?}", a.mean);
        assert!(aggregate_intervals(&scores, None, &cfg).unwrap().optimality_gap.is_none());
    }

    #[test]
    fn constant_scores_give_degenerate_intervals() {
        let scores = ScoreMatrix::from_rows(&[[2.0, 5.0]; 6]).unwrap();
        let a = aggregate_intervals(&scores, None, &BootstrapConfig::new(100, 0)).unwrap();
        assert_eq!(a.iqm, Interval { estimate: 3.5, low: 3.5, high: 3.5 });
    }

    #[test]
    fn invalid_configs_and_statistics_are_errors() {
        let s = ScoreMatrix::from_runs(&[1.0, 2.0]).unwrap();
        let bad_reps = BootstrapConfig::new(0, 0);
        assert!(matches!(
            aggregate_intervals(&s, None, &bad_reps),
            Err(StatsError::InvalidParameter { name: "reps", .. })
        ));
        let bad_conf = BootstrapConfig { confidence: f64::NAN, ..BootstrapConfig::new(10, 0) };
        assert!(matches!(
            bootstrap_intervals(&[&s], &bad_conf, |_| vec![0.0]),
            Err(StatsError::InvalidParameter { .. })
        ));
        let cfg = BootstrapConfig::new(10, 0);
        assert!(matches!(bootstrap_intervals(&[], &cfg, |_| vec![0.0]), Err(StatsError::Empty { .. })));
        assert!(matches!(bootstrap_intervals(&[&s], &cfg, |_| vec![]), Err(StatsError::Empty { .. })));
        assert!(matches!(
            bootstrap_intervals(&[&s], &cfg, |_| vec![f64::NAN]),
            Err(StatsError::NonFiniteStatistic { .. })
        ));
        let mut calls = 0;
        let varying = bootstrap_intervals(&[&s], &cfg, |_| {
            calls += 1;
            vec![0.0; if calls > 2 { 2 } else { 1 }]
        });
        assert_eq!(varying, Err(StatsError::StatisticLength { expected: 1, got: 2 }));
    }

    /// Pins the random stream: these numbers must never change (ChaCha8 from `seed_from_u64`,
    /// Lemire's method, the documented order), whatever the machine or the `rand` release.
    #[test]
    fn golden_stream() {
        let mut r = Resampler::new(0);
        let mut idx = Vec::new();
        r.draw_indices(10, 2, &mut idx);
        assert_eq!(idx, GOLDEN_INDICES);
        let scores = ScoreMatrix::from_runs(&[3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0]).unwrap();
        let a = aggregate_intervals(&scores, None, &BootstrapConfig::new(1000, 2021)).unwrap();
        assert_eq!([a.iqm.low.to_bits(), a.iqm.high.to_bits()], GOLDEN_IQM_BITS, "{:?}", a.iqm);
    }

    #[test]
    fn replicates_follow_the_documented_stream() {
        let s = ScoreMatrix::from_rows(&[[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]]).unwrap();
        let reps =
            bootstrap_replicates(&[&s], 50, 9, |m| vec![m[0].get(0, 0).unwrap(), m[0].get(2, 1).unwrap()]).unwrap();
        let mut r = Resampler::new(9);
        let mut idx = Vec::new();
        assert_eq!((reps[0].len(), reps[1].len()), (50, 50));
        for (&first, &last) in reps[0].iter().zip(&reps[1]) {
            r.draw_indices(3, 2, &mut idx);
            assert_eq!(first, [1.0, 2.0, 3.0][idx[0]]);
            assert_eq!(last, [10.0, 20.0, 30.0][idx[3 + 2]]);
        }
    }
}
