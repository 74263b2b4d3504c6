//! [`ClusterEnv`]: the simulator behind the gym [`Env`] API, for learning agents.

use std::sync::Arc;

use gym::{BoxSpace, Discrete, Env, EnvError, Step};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::ScenarioConfig;
use crate::engine::{Compiled, Simulator};
use crate::error::ClusterError;
use crate::metrics::EpisodeMetrics;

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
