//! [`ClusterEnv`]: the simulator behind the gym [`Env`] API, for learning agents.

use std::sync::Arc;

use gym::{BoxSpace, Discrete, Env, EnvError, Step};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::ScenarioConfig;
use crate::engine::{Compiled, Simulator};
use crate::error::ClusterError;
use crate::metrics::EpisodeMetrics;
use crate::obs::ObservationConstants;

/// Episode seeds drawn by `reset(None)` have this bit set; seeds a user passes for evaluation
/// should stay below it, which keeps evaluation episodes disjoint from autoreset training ones.
pub const DERIVED_SEED_BIT: u64 = 1 << 63;

/// Diagnostics of a [`ClusterEnv`] step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterInfo {
    /// Simulated time at the decision (or at the episode's end).
    pub time: f64,
    /// Episode metrics, present on the step that ends the episode (terminated or truncated).
    pub metrics: Option<EpisodeMetrics>,
}

/// A cluster scheduling environment: one step = one placement decision.
///
/// `reset(Some(s))` runs exactly the episode `Simulator::reset(s)` runs, so an evaluation seed
/// means the same workload for learned policies and heuristics.
#[derive(Debug, Clone)]
pub struct ClusterEnv {
    sim: Simulator,
    obs: Vec<f32>,
    space: BoxSpace,
    seeds: ChaCha8Rng,
    needs_reset: bool,
}

impl ClusterEnv {
    /// Builds the environment for a scenario (validated; errors name the bad field).
    pub fn new(cfg: &ScenarioConfig) -> Result<Self, ClusterError> {
        let c = Arc::new(Compiled::new(cfg)?);
        let space = crate::obs::space(&c);
        let obs = vec![0.0; space.dim()];
        Ok(Self {
            sim: Simulator::from_compiled(c),
            obs,
            space,
            seeds: ChaCha8Rng::seed_from_u64(0),
            needs_reset: true,
        })
    }

    /// The simulator (for heuristics' structured view, metrics and invariant checks).
    pub fn simulator(&self) -> &Simulator {
        &self.sim
    }

    /// The layout and scenario constants of this env's observation, so that code outside the
    /// simulator (an exported policy in production) can encode a cluster state identically.
    pub fn observation_constants(&self) -> ObservationConstants {
        crate::obs::constants(&self.sim.c)
    }

    fn info(&self, end: bool) -> ClusterInfo {
        ClusterInfo { time: self.sim.now(), metrics: end.then(|| self.sim.metrics()) }
    }
}

impl Env for ClusterEnv {
    type Info = ClusterInfo;

    fn observation_space(&self) -> &BoxSpace {
        &self.space
    }

    fn action_space(&self) -> Discrete {
        Discrete { n: self.sim.mask().len() }
    }

    fn reset(&mut self, seed: Option<u64>) -> (&[f32], ClusterInfo) {
        let episode_seed = match seed {
            Some(s) => {
                self.seeds = ChaCha8Rng::seed_from_u64(s);
                s
            }
            None => self.seeds.next_u64() | DERIVED_SEED_BIT,
        };
        self.sim.reset(episode_seed);
        self.needs_reset = self.sim.is_done();
        crate::obs::encode(&self.sim, &mut self.obs);
        let info = self.info(false);
        (&self.obs, info)
    }

    fn step(&mut self, action: usize) -> Result<Step<'_, ClusterInfo>, EnvError> {
        if self.needs_reset {
            return Err(EnvError::NeedsReset);
        }
        let reward = self.sim.place(action).map_err(|e| match e {
            ClusterError::Action(a) => a,
            other => EnvError::Internal(other.to_string()),
        })?;
        let terminated = self.sim.is_done();
        let truncated = !terminated && self.sim.scenario().max_decisions.is_some_and(|m| self.sim.decisions() >= m);
        self.needs_reset = terminated || truncated;
        crate::obs::encode(&self.sim, &mut self.obs);
        let info = self.info(self.needs_reset);
        Ok(Step { obs: &self.obs, reward, terminated, truncated, info })
    }

    fn action_mask(&self) -> &[bool] {
        self.sim.mask()
    }
}

#[cfg(test)]
mod tests {
    //! Seeding, truncation and the reset contract of [`ClusterEnv`].

    use super::*;
    use crate::scenarios;

    fn first_valid(mask: &[bool]) -> usize {
        mask.iter().position(|&ok| ok).unwrap()
    }

    /// Rewards of one episode with the first-valid policy, through the env.
    fn env_episode(env: &mut ClusterEnv, seed: Option<u64>) -> Vec<f64> {
        env.reset(seed);
        let mut rewards = Vec::new();
        loop {
            let s = env.step(first_valid(env.action_mask())).unwrap();
            rewards.push(s.reward);
            if s.terminated || s.truncated {
                return rewards;
            }
        }
    }

    /// The same, on a bare simulator.
    fn sim_episode(sim: &mut Simulator, seed: u64) -> Vec<f64> {
        sim.reset(seed);
        let mut rewards = Vec::new();
        while !sim.is_done() {
            rewards.push(sim.place(first_valid(sim.mask())).unwrap());
        }
        rewards
    }

    #[test]
    fn seeded_and_derived_episodes_match_the_simulator() {
        let cfg = scenarios::seed_case();
        let mut env = ClusterEnv::new(&cfg).unwrap();
        let mut sim = Simulator::new(&cfg).unwrap();
        assert!(matches!(env.step(0), Err(EnvError::NeedsReset)), "step before reset");
        assert_eq!(env_episode(&mut env, Some(7)), sim_episode(&mut sim, 7));
        // reset(None) continues a ChaCha stream seeded by the last explicit seed.
        let mut seeds = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..2 {
            let derived = seeds.next_u64() | DERIVED_SEED_BIT;
            assert_eq!(env_episode(&mut env, None), sim_episode(&mut sim, derived));
        }
        // Reseeding restarts the stream.
        env_episode(&mut env, Some(7));
        let derived = ChaCha8Rng::seed_from_u64(7).next_u64() | DERIVED_SEED_BIT;
        assert_eq!(env_episode(&mut env, None), sim_episode(&mut sim, derived));
    }

    #[test]
    fn max_decisions_truncates() {
        let mut cfg = scenarios::seed_case();
        cfg.max_decisions = Some(10);
        let mut env = ClusterEnv::new(&cfg).unwrap();
        let (_, info) = env.reset(Some(1));
        assert_eq!(info.metrics, None);
        for k in 0..10 {
            let s = env.step(first_valid(env.action_mask())).unwrap();
            assert!(!s.terminated);
            assert_eq!(s.truncated, k == 9);
            assert_eq!(s.info.metrics.is_some(), k == 9);
            if k == 9 {
                let m = s.info.metrics.clone().unwrap();
                assert_eq!(m.decisions, 10);
                assert!(m.completed < 100);
            }
        }
        assert!(matches!(env.step(first_valid(env.action_mask())), Err(EnvError::NeedsReset)));
        assert_eq!(env.action_space().n, 10);
        assert_eq!(env.simulator().decisions(), 10);
    }

    #[test]
    fn episode_end_reports_the_simulator_metrics() {
        let cfg = scenarios::seed_case();
        let mut env = ClusterEnv::new(&cfg).unwrap();
        env.reset(Some(2));
        loop {
            let s = env.step(first_valid(env.action_mask())).unwrap();
            if s.terminated {
                let m = s.info.metrics.clone().unwrap();
                assert_eq!(s.info.time, env.simulator().now());
                assert_eq!(m, env.simulator().metrics());
                assert_eq!(m.completed, 100);
                assert!(env.action_mask().iter().all(|&ok| !ok), "no valid action once done");
                break;
            }
            assert_eq!(s.info.metrics, None);
        }
    }
}
