//! Aggregate statistics over training runs, after "Deep RL at the Edge of the Statistical
//! Precipice" (Agarwal et al., NeurIPS 2021) and its reference implementation, the Python
//! package `rliable`.
//!
//! # Brief overview
//! - [`ScoreMatrix`]: one configuration's scores, one finite number per run (training seed) and
//!   task, `[runs × tasks]` as in rliable; usually one task (one held-out score per seed).
//! - Point estimates: [`mean`], [`median`] (both over per-task means, as rliable), [`iqm`]
//!   (interquartile mean of all scores: `scipy.stats.trim_mean(x, 0.25)`, which drops
//!   `floor(N/4)` scores from each end), [`optimality_gap`]; all four at once with
//!   [`aggregate_estimates`].
//! - Stratified bootstrap intervals ([`aggregate_intervals`], generic [`bootstrap_intervals`]):
//!   runs are resampled with replacement independently within each task, intervals are the
//!   percentiles of the replicates (rliable's `get_interval_estimates`, `method='percentile'`).
//! - [`probability_of_improvement`] `P(X > Y)` (Mann–Whitney U / (n·m) averaged over tasks,
//!   ties ½) and its interval ([`probability_of_improvement_interval`]).
//! - Performance profiles: the fraction of scores better than τ over a grid of τ
//!   ([`performance_profile`], [`performance_profile_intervals`], [`linspace`]).
//! - [`Direction`]: higher is better (rliable) or lower is better (completion times, costs).
//!
//! Every bootstrap draws from a [`Resampler`], a ChaCha8 stream seeded from a `u64`
//! ([`BootstrapConfig::seed`]) and run on one thread, so the same inputs and seed give the same
//! numbers on every machine. Point estimates follow numpy's order of summation, so they agree
//! with rliable's to the last bit or so (the interop test holds them to 1e-12).
//! Invalid inputs (no scores, NaN, ragged or mismatched shapes, bad parameters) are
//! [`StatsError`]s, never panics.
//!
//! ```
//! use sweep_stats::{BootstrapConfig, Direction, ScoreMatrix, aggregate_intervals, iqm, probability_of_improvement};
//!
//! // Held-out mean job completion time of two configurations, one number per training seed.
//! let a = ScoreMatrix::from_runs(&[101.0, 97.5, 99.0, 120.0, 98.0, 100.5, 96.0, 102.0])?;
//! let b = ScoreMatrix::from_runs(&[110.0, 104.0, 108.5, 103.0, 111.0, 107.0, 125.0, 105.5])?;
//! assert_eq!(iqm(&a), 99.625); // mean of the middle four: 98, 99, 100.5, 101
//!
//! let ci = aggregate_intervals(&a, None, &BootstrapConfig::new(2000, 7))?;
//! assert!(ci.iqm.low < 99.625 && 99.625 < ci.iqm.high);
//!
//! // Lower JCT is better: a beats b in 57 of the 64 seed pairs.
//! let p = probability_of_improvement(&a, &b, Direction::LowerIsBetter)?;
//! assert_eq!(p, 57.0 / 64.0);
//! assert!(ScoreMatrix::from_runs(&[1.0, f64::NAN]).is_err());
//! # Ok::<(), sweep_stats::StatsError>(())
//! ```
#![deny(missing_docs)]

mod bootstrap;
mod error;
mod improvement;
mod matrix;
mod numeric;
mod point;
mod profile;

pub use bootstrap::{
    AggregateIntervals, BootstrapConfig, Interval, IntervalMethod, Resampler, aggregate_intervals, bootstrap_intervals,
    bootstrap_replicates, percentile_interval,
};
pub use error::{Result, StatsError};
pub use improvement::{probability_of_improvement, probability_of_improvement_interval};
pub use matrix::ScoreMatrix;
pub use point::{AggregateEstimates, Direction, OptimalityGap, aggregate_estimates, iqm, mean, median, optimality_gap};
pub use profile::{PerformanceProfile, ProfileKind, linspace, performance_profile, performance_profile_intervals};
