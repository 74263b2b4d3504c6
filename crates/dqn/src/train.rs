//! The training loop, in the shape of CleanRL's `dqn.py`, and greedy evaluation.

use std::time::Instant;

use gym::{Env, VectorEnv};

use crate::DqnError;
use crate::agent::{Agent, Transitions};
use crate::logger::Logger;
use crate::schedule::crossed;

/// What a call to [`train`] did.
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
/// summed over envs). `envs` must have been reset (seeded) by the caller; the loop continues
/// from the envs' current observations, so training in several calls with the same envs is the
/// same as training in one.
///
/// Logs `charts/episodic_return`, `charts/episodic_length`, `charts/epsilon` and
/// `charts/learning_rate` at each episode end; `losses/td_loss`, `losses/q_values`,
/// `charts/learning_rate` and `charts/SPS` every 100 gradient steps; and passes the actions
/// taken to [`Logger::actions`] at every vector step.
///
/// Every gradient step's loss and mean Q-value are checked: training stops at the first
/// non-finite one, not at the next logged one.
///
/// # Errors
/// [`DqnError::BadInput`] if `envs` does not have `num_envs` envs of the agent's spaces;
/// [`DqnError::Env`] if an environment fails (or was never reset);
/// [`DqnError::NonFinite`] as soon as a gradient step gives a NaN or infinite TD loss or mean
/// Q-value (the agent has then taken that step; don't save it).
pub fn train_until<E: Env>(
    agent: &mut Agent,
    envs: &mut VectorEnv<E>,
    until_step: u64,
    logger: &mut dyn Logger,
) -> Result<TrainSummary, DqnError> {
    // PLUMBING: shapes and scratch buffers.
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
    let cfg = agent.config().clone();
    let mut obs = vec![0.0f32; n * d];
    let mut next_obs = vec![0.0f32; n * d];
    let mut next_masks = vec![false; n * a];
    let mut actions = vec![0usize; n];
    let mut episode_returns = Vec::new();
    let start = Instant::now();
    let start_step = agent.global_step();

    while agent.global_step() < until_step {
        // ALGO: ε-greedy actions for all envs, one forward pass.
        obs.copy_from_slice(envs.obs());
        actions.copy_from_slice(agent.act_batch(&obs, envs.masks(), n)?);

        // PLUMBING: step the envs (they autoreset) and record finished episodes.
        envs.step(&actions)?;
        let global_step = agent.global_step() + n as u64;
        logger.actions(&actions, global_step);
        for info in envs.infos() {
            if let Some(episode) = &info.episode {
                logger.scalar("charts/episodic_return", episode.episode_return, global_step);
                logger.scalar("charts/episodic_length", episode.length as f64, global_step);
                logger.scalar("charts/epsilon", agent.epsilon(), global_step);
                logger.scalar("charts/learning_rate", agent.learning_rate(), global_step);
                episode_returns.push(episode.episode_return);
            }
        }

        // CRUCIAL step easy to overlook: an env whose episode ended has already been reset, so
        // its row of `obs()` is the *next* episode's start. Learn from the final observation
        // instead (truncated transitions bootstrap from it, over its valid actions only).
        next_obs.copy_from_slice(envs.obs());
        next_masks.copy_from_slice(envs.masks());
        for i in 0..n {
            if let (Some(final_obs), Some(final_mask)) = (envs.final_obs(i), envs.final_mask(i)) {
                next_obs[i * d..(i + 1) * d].copy_from_slice(final_obs);
                next_masks[i * a..(i + 1) * a].copy_from_slice(final_mask);
            }
        }

        // ALGO: store the transitions (n-step returns are assembled inside).
        let prev_step = agent.global_step();
        agent.observe(&Transitions {
            obs: &obs,
            actions: &actions,
            rewards: envs.rewards(),
            next_obs: &next_obs,
            next_masks: &next_masks,
            terminated: envs.terminated(),
            truncated: envs.truncated(),
        })?;
        let global_step = agent.global_step();

        // ALGO: training.
        if global_step > cfg.learning_starts {
            if crossed(prev_step, global_step, cfg.train_frequency) {
                for _ in 0..cfg.gradient_steps {
                    let stats = agent.update()?;
                    // The stats are on the host already: checking every step costs nothing,
                    // and a divergence is caught at the step that caused it.
                    if let Some(what) = stats.non_finite() {
                        return Err(DqnError::NonFinite { what, global_step, update_step: agent.update_step() });
                    }
                    if agent.update_step().is_multiple_of(100) {
                        logger.scalar("losses/td_loss", f64::from(stats.td_loss), global_step);
                        logger.scalar("losses/q_values", f64::from(stats.q_values), global_step);
                        logger.scalar("charts/learning_rate", agent.learning_rate(), global_step);
                        let sps = (global_step - start_step) as f64 / start.elapsed().as_secs_f64().max(1e-9);
                        logger.scalar("charts/SPS", sps, global_step);
                    }
                }
            }
            // ALGO: update the target network.
            if crossed(prev_step, global_step, cfg.target_network_frequency) {
                agent.update_target();
            }
        }
    }
    Ok(TrainSummary {
        global_step: agent.global_step(),
        update_step: agent.update_step(),
        episode_returns,
        wall_s: start.elapsed().as_secs_f64(),
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
