//! Exploration (ε) and importance-sampling (β) schedules, as functions of the global step.

use crate::config::{DqnConfig, EpsilonSchedule};

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

/// PER's importance-sampling exponent β at `global_step`: linear from `per_beta_start` to 1 at
/// `total_timesteps`.
pub fn per_beta(cfg: &DqnConfig, global_step: u64) -> f64 {
    let progress = (global_step as f64 / cfg.total_timesteps.max(1) as f64).min(1.0);
    cfg.per_beta_start + (1.0 - cfg.per_beta_start) * progress
}

/// Whether a counter going from `prev` to `cur` (exclusive, inclusive) passed a multiple of
/// `every`; with one env this is CleanRL's `global_step % every == 0`.
pub fn crossed(prev: u64, cur: u64, every: u64) -> bool {
    every > 0 && cur / every > prev / every
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
