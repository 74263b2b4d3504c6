//! Exploration (ε), learning-rate and importance-sampling (β) schedules, as functions of the
//! global step.

use crate::config::{DqnConfig, EpsilonSchedule, LrSchedule};

/// ε at `global_step` (environment steps so far): decays from `start_e` to `end_e` over
/// `exploration_fraction · total_timesteps` steps, then stays at `end_e`.
///
/// ```
/// use dqn::{DqnConfig, epsilon};
/// let cfg = DqnConfig { start_e: 1.0, end_e: 0.1, exploration_fraction: 0.5,
///                       total_timesteps: 1000, ..Default::default() };
/// assert_eq!(epsilon(&cfg, 0), 1.0);
/// assert!((epsilon(&cfg, 250) - 0.55).abs() < 1e-12);
/// assert_eq!(epsilon(&cfg, 5000), 0.1);
/// ```
pub fn epsilon(cfg: &DqnConfig, global_step: u64) -> f64 {
    let duration = cfg.exploration_steps();
    if duration <= 0.0 {
        return cfg.end_e;
    }
    let progress = global_step as f64 / duration;
    if progress >= 1.0 {
        return cfg.end_e;
    }
    match cfg.epsilon_schedule {
        // CleanRL's `linear_schedule`.
        EpsilonSchedule::Linear => cfg.start_e + (cfg.end_e - cfg.start_e) * progress,
        EpsilonSchedule::Exponential => cfg.start_e * (cfg.end_e / cfg.start_e).powf(progress),
    }
}

/// The learning rate at `global_step` (environment steps so far): `learning_rate` under the
/// constant schedule; otherwise annealed from `learning_rate` at step 0 to `end_learning_rate`
/// at `total_timesteps` (linearly or along half a cosine), then held there.
///
/// ```
/// use dqn::{DqnConfig, LrSchedule, learning_rate};
/// let cfg = DqnConfig { learning_rate: 1e-3, end_learning_rate: 1e-4, lr_schedule: LrSchedule::Linear,
///                       total_timesteps: 1000, ..Default::default() };
/// assert_eq!(learning_rate(&cfg, 0), 1e-3);
/// assert!((learning_rate(&cfg, 500) - 5.5e-4).abs() < 1e-15);
/// assert_eq!(learning_rate(&cfg, 5000), 1e-4);
/// ```
pub fn learning_rate(cfg: &DqnConfig, global_step: u64) -> f64 {
    let (start, end) = (cfg.learning_rate, cfg.end_learning_rate);
    // Progress by global step rather than update step: it is what `total_timesteps` counts,
    // and it is the same whatever `train_frequency` and `gradient_steps` are.
    let progress = global_step as f64 / cfg.total_timesteps.max(1) as f64;
    match cfg.lr_schedule {
        LrSchedule::Constant => start,
        // Exactly `end` from the last step on, whatever the rounding of the formula.
        _ if progress >= 1.0 => end,
        LrSchedule::Linear => start + (end - start) * progress,
        LrSchedule::Cosine => end + (start - end) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
    }
}

/// PER's importance-sampling exponent β at `global_step`: linear from `per_beta_start` to 1 at
/// `total_timesteps`.
pub fn per_beta(cfg: &DqnConfig, global_step: u64) -> f64 {
    let progress = (global_step as f64 / cfg.total_timesteps.max(1) as f64).min(1.0);
    cfg.per_beta_start + (1.0 - cfg.per_beta_start) * progress
}

/// Whether a counter going from `prev` to `cur` (exclusive, inclusive) passed a multiple of
/// `every`; with one env this is CleanRL's `global_step % every == 0`.
pub fn crossed(prev: u64, cur: u64, every: u64) -> bool {
    crossings(prev, cur, every) > 0
}

/// How many multiples of `every` a counter going from `prev` to `cur` (exclusive, inclusive)
/// passed: 8 envs stepping from 16 to 24 cross two multiples of 4, so a `train_frequency` of 4
/// schedules two rounds of updates. 0 when `every` is 0 or `cur <= prev`.
///
/// ```
/// assert_eq!(dqn::crossings(16, 24, 4), 2);
/// assert_eq!(dqn::crossings(16, 24, 8), 1);
/// assert_eq!(dqn::crossings(17, 23, 8), 0);
/// ```
pub fn crossings(prev: u64, cur: u64, every: u64) -> u64 {
    match (cur.checked_div(every), prev.checked_div(every)) {
        (Some(cur), Some(prev)) => cur.saturating_sub(prev),
        _ => 0, // every == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_reaches_end_with_linear() {
        let cfg = DqnConfig {
            start_e: 1.0,
            end_e: 0.01,
            exploration_fraction: 0.1,
            total_timesteps: 1000,
            epsilon_schedule: EpsilonSchedule::Exponential,
            ..Default::default()
        };
        assert_eq!(epsilon(&cfg, 0), 1.0);
        assert!((epsilon(&cfg, 50) - 0.1).abs() < 1e-12);
        assert_eq!(epsilon(&cfg, 100), 0.01);
        assert_eq!(epsilon(&cfg, 900), 0.01);
    }

    #[test]
    fn learning_rate_schedules_hit_their_values_at_start_half_and_end() {
        // Rates that are powers of two (2⁻¹⁰ → 2⁻¹²), so the expected values are exact in
        // binary and can be compared with `==`.
        let (start, end) = (2f64.powi(-10), 2f64.powi(-12));
        let cfg = |lr_schedule| DqnConfig {
            learning_rate: start,
            end_learning_rate: end,
            lr_schedule,
            total_timesteps: 1000,
            ..Default::default()
        };
        let at = |s, step| learning_rate(&cfg(s), step);
        for step in [0, 500, 1000, 3000] {
            assert_eq!(at(LrSchedule::Constant, step), start, "constant at {step}");
        }
        // Linear: 2⁻¹⁰ + (2⁻¹² − 2⁻¹⁰)·½ = 5·2⁻¹³; a quarter of the way, 13·2⁻¹⁴.
        assert_eq!(at(LrSchedule::Linear, 0), start);
        assert_eq!(at(LrSchedule::Linear, 250), 13.0 * 2f64.powi(-14));
        assert_eq!(at(LrSchedule::Linear, 500), 5.0 * 2f64.powi(-13));
        assert_eq!(at(LrSchedule::Linear, 1000), end);
        assert_eq!(at(LrSchedule::Linear, 3000), end);
        // Cosine: 2⁻¹² + 3·2⁻¹²·½·(1 + cos(π/2)) = 5·2⁻¹³ at half (cos(π/2) ≈ 6e-17 vanishes
        // in the rounding); a quarter of the way, 2⁻¹² + 3·2⁻¹³·(1 + √½).
        assert_eq!(at(LrSchedule::Cosine, 0), start);
        assert_eq!(at(LrSchedule::Cosine, 500), 5.0 * 2f64.powi(-13));
        let quarter = end + 3.0 * 2f64.powi(-13) * (1.0 + 0.5f64.sqrt());
        assert!((at(LrSchedule::Cosine, 250) - quarter).abs() < 1e-18);
        assert_eq!(at(LrSchedule::Cosine, 1000), end);
        assert_eq!(at(LrSchedule::Cosine, 3000), end);
        // Cosine decays slower than linear early on and faster later.
        assert!(at(LrSchedule::Cosine, 100) > at(LrSchedule::Linear, 100));
        assert!(at(LrSchedule::Cosine, 900) < at(LrSchedule::Linear, 900));
    }

    #[test]
    fn beta_anneals_to_one() {
        let cfg = DqnConfig { per_beta_start: 0.4, total_timesteps: 100, ..Default::default() };
        assert_eq!(per_beta(&cfg, 0), 0.4);
        assert!((per_beta(&cfg, 50) - 0.7).abs() < 1e-12);
        assert_eq!(per_beta(&cfg, 1000), 1.0);
    }

    #[test]
    fn crossed_matches_modulo_for_one_env_and_strides_for_many() {
        for step in 1..50u64 {
            assert_eq!(crossed(step - 1, step, 10), step % 10 == 0);
        }
        assert!(crossed(8, 12, 10));
        assert!(!crossed(10, 14, 10));
    }
}
