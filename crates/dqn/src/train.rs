//! The training loop, in the shape of CleanRL's `dqn.py`: [`Loop`] runs one vector step at a
//! time ([`Loop::step`]); [`train_until`] and [`train`] are loops over it; [`evaluate`] runs
//! greedy episodes.
//!
//! Who logs what (each tag has exactly one writer):
//!
//! | tag | written by | when |
//! |---|---|---|
//! | `charts/episodic_return`, `charts/episodic_length` | [`Loop::step`] | each episode end |
//! | `losses/td_loss`, `losses/q_values` | [`Loop::step`] | every 100th gradient step |
//! | `charts/epsilon`, `charts/learning_rate`, `charts/SPS` | [`Loop::log_schedules`] | when the caller asks ([`train_until`]: every 1000 steps and at its end) |
//!
//! and [`Logger::actions`] receives every vector step's actions.

use std::time::Instant;

use gym::{Env, VectorEnv};

use crate::DqnError;
use crate::agent::{Agent, Transitions};
use crate::logger::Logger;
use crate::schedule::{crossed, crossings};

/// Environment steps between [`Loop::log_schedules`] calls in [`train_until`].
const SCHEDULE_LOG_INTERVAL: u64 = 1000;

/// What a call to [`train`] or [`train_until`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSummary {
    /// The agent's global step at the end.
    pub global_step: u64,
    /// The agent's gradient steps at the end.
    pub update_step: u64,
    /// Returns of the episodes that ended during this call, in order.
    pub episode_returns: Vec<f64>,
    /// Wall-clock time of the call, in seconds.
    pub wall_s: f64,
}

/// What one [`Loop::step`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// The global step before this vector step.
    pub prev_step: u64,
    /// The global step after it (`prev_step` + the number of envs).
    pub global_step: u64,
    /// Gradient steps taken during it.
    pub updates: u64,
}

/// The DQN training loop over a vector env, one vector step per [`Loop::step`]: act ε-greedily
/// in every env with one forward pass, step the envs, store the transitions, and learn on
/// schedule. It holds the agent and the envs for its lifetime, with the scratch buffers a step
/// needs (allocated once, here).
///
/// The schedule counts environment steps summed over envs: after `learning_starts`, one round
/// of `gradient_steps` updates per `train_frequency` steps and one target update per
/// `target_network_frequency` steps — every multiple crossed counts, so the update-to-data
/// ratio does not depend on the number of envs.
pub struct Loop<'a, E: Env> {
    agent: &'a mut Agent,
    envs: &'a mut VectorEnv<E>,
    // PLUMBING: scratch buffers, reused by every step.
    obs: Vec<f32>,
    next_obs: Vec<f32>,
    next_masks: Vec<bool>,
    actions: Vec<usize>,
    /// For `charts/SPS`: when the loop started, at which global step.
    started: Instant,
    start_step: u64,
}

impl<'a, E: Env> Loop<'a, E> {
    /// A loop training `agent` in `envs`, which the caller has reset (seeded); training
    /// continues from the envs' current observations.
    ///
    /// # Errors
    /// [`DqnError::BadInput`] if `envs` does not have `num_envs` envs of the agent's spaces.
    pub fn new(agent: &'a mut Agent, envs: &'a mut VectorEnv<E>) -> Result<Self, DqnError> {
        let n = envs.num_envs();
        let (d, a) = (envs.obs_dim(), envs.n_actions());
        let net = agent.network_config();
        if n != agent.config().num_envs || d != net.obs_dim || a != net.n_actions {
            return Err(DqnError::input(
                "train",
                format!(
                    "the vector env has {n} envs, obs_dim {d} and {a} actions; the agent expects \
                     {} envs, obs_dim {} and {} actions",
                    agent.config().num_envs,
                    net.obs_dim,
                    net.n_actions
                ),
            ));
        }
        let start_step = agent.global_step();
        Ok(Self {
            agent,
            envs,
            obs: vec![0.0; n * d],
            next_obs: vec![0.0; n * d],
            next_masks: vec![false; n * a],
            actions: vec![0; n],
            started: Instant::now(),
            start_step,
        })
    }

    /// The agent.
    pub fn agent(&self) -> &Agent {
        self.agent
    }

    /// The envs (their infos describe the last step's episode ends).
    pub fn envs(&self) -> &VectorEnv<E> {
        self.envs
    }

    /// The online network's Q-values, `[num_envs, n_actions]`, at the envs' current
    /// observations (for histograms).
    ///
    /// # Errors
    /// As [`Agent::q_values`].
    pub fn q_values(&mut self) -> Result<Vec<f32>, DqnError> {
        self.agent.q_values(self.envs.obs(), self.envs.num_envs())
    }

    /// One step of every env and the learning it schedules.
    ///
    /// # Errors
    /// [`DqnError::Env`] if an environment fails (or was never reset); [`DqnError::NonFinite`]
    /// as soon as a gradient step gives a NaN or infinite TD loss or mean Q-value (the agent
    /// has then taken that step: don't save it).
    pub fn step(&mut self, logger: &mut dyn Logger) -> Result<StepReport, DqnError> {
        let n = self.envs.num_envs();
        let (d, a) = (self.envs.obs_dim(), self.envs.n_actions());
        let prev_step = self.agent.global_step();

        // ALGO: ε-greedy actions for all envs, one forward pass.
        self.obs.copy_from_slice(self.envs.obs());
        self.actions.copy_from_slice(self.agent.act_batch(&self.obs, self.envs.masks(), n)?);

        // PLUMBING: step the envs (they autoreset) and record finished episodes.
        self.envs.step(&self.actions)?;
        let global_step = prev_step + n as u64;
        logger.actions(&self.actions, global_step);
        for info in self.envs.infos() {
            if let Some(episode) = &info.episode {
                logger.scalar("charts/episodic_return", episode.episode_return, global_step);
                logger.scalar("charts/episodic_length", episode.length as f64, global_step);
            }
        }

        // CRUCIAL step easy to overlook: an env whose episode ended has already been reset, so
        // its row of `obs()` is the *next* episode's start. Learn from the final observation
        // instead (truncated transitions bootstrap from it, over its valid actions only).
        self.next_obs.copy_from_slice(self.envs.obs());
        self.next_masks.copy_from_slice(self.envs.masks());
        for i in 0..n {
            if let (Some(final_obs), Some(final_mask)) = (self.envs.final_obs(i), self.envs.final_mask(i)) {
                self.next_obs[i * d..(i + 1) * d].copy_from_slice(final_obs);
                self.next_masks[i * a..(i + 1) * a].copy_from_slice(final_mask);
            }
        }

        // ALGO: store the transitions (n-step returns are assembled inside).
        self.agent.observe(&Transitions {
            obs: &self.obs,
            actions: &self.actions,
            rewards: self.envs.rewards(),
            next_obs: &self.next_obs,
            next_masks: &self.next_masks,
            terminated: self.envs.terminated(),
            truncated: self.envs.truncated(),
        })?;

        // ALGO: training, on the multiples of each frequency crossed since learning started.
        let starts = self.agent.learning_starts_at();
        let cfg = self.agent.config();
        let gradient_steps = cfg.gradient_steps as u64;
        let (train_frequency, target_frequency) = (cfg.train_frequency, cfg.target_network_frequency);
        let from = prev_step.max(starts);
        let rounds = if global_step > starts { crossings(from, global_step, train_frequency) } else { 0 };
        let mut updates = 0;
        for _ in 0..rounds * gradient_steps {
            let stats = self.agent.update()?;
            updates += 1;
            // The stats are on the host already: checking every step costs nothing, and a
            // divergence is caught at the step that caused it. This is the only such check.
            if let Some(what) = stats.non_finite() {
                return Err(DqnError::NonFinite { what, global_step, update_step: self.agent.update_step() });
            }
            if self.agent.update_step().is_multiple_of(100) {
                logger.scalar("losses/td_loss", f64::from(stats.td_loss), global_step);
                logger.scalar("losses/q_values", f64::from(stats.q_values), global_step);
            }
        }
        // ALGO: update the target network.
        if global_step > starts {
            for _ in 0..crossings(from, global_step, target_frequency) {
                self.agent.update_target();
            }
        }
        Ok(StepReport { prev_step, global_step, updates })
    }

    /// Logs `charts/epsilon`, `charts/learning_rate` (the schedules at the current step) and
    /// `charts/SPS` (environment steps per second since the loop started).
    pub fn log_schedules(&self, logger: &mut dyn Logger) {
        let step = self.agent.global_step();
        logger.scalar("charts/epsilon", self.agent.epsilon(), step);
        logger.scalar("charts/learning_rate", self.agent.learning_rate(), step);
        let sps = (step - self.start_step) as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        logger.scalar("charts/SPS", sps, step);
    }
}

/// Trains `agent` in `envs` until its global step reaches `cfg.total_timesteps`.
///
/// See [`train_until`].
///
/// # Errors
/// As [`train_until`].
pub fn train<E: Env>(
    agent: &mut Agent,
    envs: &mut VectorEnv<E>,
    logger: &mut dyn Logger,
) -> Result<TrainSummary, DqnError> {
    let total = agent.config().total_timesteps;
    train_until(agent, envs, total, logger)
}

/// Trains `agent` in `envs` until its global step reaches `until_step` (environment steps
/// summed over envs): [`Loop::step`] until then, with [`Loop::log_schedules`] every 1000 steps
/// and at the end. `envs` must have been reset (seeded) by the caller; the loop continues from
/// the envs' current observations, so training in several calls with the same envs is the same
/// as training in one.
///
/// # Errors
/// As [`Loop::new`] and [`Loop::step`].
pub fn train_until<E: Env>(
    agent: &mut Agent,
    envs: &mut VectorEnv<E>,
    until_step: u64,
    logger: &mut dyn Logger,
) -> Result<TrainSummary, DqnError> {
    let started = Instant::now();
    let mut episode_returns = Vec::new();
    let mut lp = Loop::new(agent, envs)?;
    while lp.agent().global_step() < until_step {
        let step = lp.step(logger)?;
        episode_returns.extend(lp.envs().infos().iter().filter_map(|i| i.episode.as_ref().map(|e| e.episode_return)));
        if crossed(step.prev_step, step.global_step, SCHEDULE_LOG_INTERVAL) || step.global_step >= until_step {
            lp.log_schedules(logger);
        }
    }
    let agent = lp.agent();
    Ok(TrainSummary {
        global_step: agent.global_step(),
        update_step: agent.update_step(),
        episode_returns,
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// Results of [`evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct EvalReport {
    /// Return of each episode, in order.
    pub returns: Vec<f64>,
    /// Length of each episode, in steps.
    pub lengths: Vec<u64>,
}

impl EvalReport {
    /// Mean episode return (0 if there were no episodes).
    pub fn mean_return(&self) -> f64 {
        if self.returns.is_empty() { 0.0 } else { self.returns.iter().sum::<f64>() / self.returns.len() as f64 }
    }

    /// Population standard deviation of the episode returns.
    pub fn std_return(&self) -> f64 {
        let mean = self.mean_return();
        let n = self.returns.len().max(1) as f64;
        (self.returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt()
    }
}

/// Runs `episodes` greedy episodes of `agent` in `env` (no exploration, statistics frozen) and
/// reports their returns. The env is seeded once with `seed` at the first reset, then continues
/// its random stream (Gymnasium's convention), so the episodes differ and the whole evaluation
/// is reproducible.
///
/// # Errors
/// [`DqnError::Env`] if the environment fails; [`DqnError::BadInput`] if its spaces do not match
/// the agent's.
pub fn evaluate<E: Env>(agent: &mut Agent, env: &mut E, episodes: usize, seed: u64) -> Result<EvalReport, DqnError> {
    let d = env.observation_space().dim();
    let mut obs = vec![0.0f32; d];
    let mut report = EvalReport { returns: Vec::with_capacity(episodes), lengths: Vec::new() };
    for episode in 0..episodes {
        let (first, _) = env.reset(if episode == 0 { Some(seed) } else { None });
        check_obs_len(first.len(), d)?;
        obs.copy_from_slice(first);
        let (mut episode_return, mut length) = (0.0, 0u64);
        loop {
            let action = agent.greedy_action(&obs, env.action_mask())?;
            let step = env.step(action)?;
            episode_return += step.reward;
            length += 1;
            if step.terminated || step.truncated {
                break;
            }
            check_obs_len(step.obs.len(), d)?;
            obs.copy_from_slice(step.obs);
        }
        report.returns.push(episode_return);
        report.lengths.push(length);
    }
    Ok(report)
}

fn check_obs_len(got: usize, expected: usize) -> Result<(), DqnError> {
    if got == expected {
        Ok(())
    } else {
        Err(DqnError::input(
            "evaluate",
            format!("the env returned an observation of {got} values, its space has {expected}"),
        ))
    }
}
