//! What the training driver needs from an environment family ([`Task`]): cluster scenarios
//! (validated against the heuristic baselines, lower mean JCT is better) and CartPole (the
//! learner's sanity check, higher greedy return is better).
//!
//! Validation runs the agent's greedy network on the burn-free runtime (`policy`), cloned per
//! worker, so the validation episodes run in parallel and measure what an export would do.

use std::cell::OnceCell;
use std::sync::Arc;

use anyhow::{Context, Result};
use cluster_env::{ClusterEnv, ClusterInfo, CompiledScenario, EvalReport, SchedulerSpec, evaluate_compiled};
use dqn::{Agent, Logger, NodeRows};
use gym::{CartPole, Env, Snapshot};

use crate::seeds::VALIDATION_SEED;
use crate::tensorboard::TensorBoard;

/// Episode and evaluation metrics logged under `sim/` and `eval/<policy>/`.
pub const METRICS: [&str; 7] =
    ["mean_jct", "p95_jct", "weighted_mean_jct", "mean_slowdown", "mean_utilisation", "load_imbalance", "makespan"];

/// Metrics of training episodes cut off by `max_decisions`, logged under `sim/` only: there the
/// JCTs above cover completed tasks alone and read low, while these count the tasks still in
/// the system. Evaluation episodes always run to completion, where `unfinished` is 0 and the
/// mean equals `mean_jct`.
pub const TRUNCATION_METRICS: [&str; 2] = ["unfinished", "mean_jct_with_unfinished"];

/// The result of one validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Validation {
    /// What model selection minimises (mean JCT; minus the mean return for CartPole).
    pub score: f64,
    /// For the log: `validation mean JCT 812.3`.
    pub line: String,
}

/// An environment family the trainer can train on.
pub trait Task {
    /// The environment.
    type Env: Env + Snapshot;
    /// A fresh training environment.
    ///
    /// # Errors
    /// An invalid scenario.
    fn make_env(&self) -> Result<Self::Env>;
    /// Logs the metrics of an episode that just ended, from its final info.
    fn episode_metrics(&self, info: &<Self::Env as Env>::Info, tb: &mut TensorBoard, step: u64);
    /// Greedy validation of `agent`, logged under `eval/`.
    ///
    /// # Errors
    /// A failed evaluation.
    fn validate(&self, agent: &Agent, tb: &mut TensorBoard, step: u64) -> Result<Validation>;
    /// How a node-scoring network reads this task's observation: node rows, the task row and
    /// the column that marks real nodes of a padded cluster (`None`: not made of node rows).
    fn node_rows(&self) -> Option<NodeRows>;
}

/// A cluster scenario, compiled once for every training env and validation, validated on the
/// validation seeds beside the baselines.
pub struct ClusterTask {
    scenario: Arc<CompiledScenario>,
    seeds: Vec<u64>,
    baselines: Vec<SchedulerSpec>,
    /// The baselines on the validation seeds, run at the first validation only (they do not
    /// learn) and logged at every one, so their lines sit beside the agent's curve.
    baseline_report: OnceCell<EvalReport>,
}

impl ClusterTask {
    /// The task for `scenario`, validating on `seeds` beside `baselines`.
    ///
    /// # Errors
    /// An unknown baseline.
    pub fn new(scenario: Arc<CompiledScenario>, seeds: Vec<u64>, baselines: &[String]) -> Result<Self> {
        let baselines =
            baselines.iter().map(|b| SchedulerSpec::baseline(b)).collect::<Result<Vec<_>, _>>().context("baselines")?;
        Ok(Self { scenario, seeds, baselines, baseline_report: OnceCell::new() })
    }

    fn baseline_report(&self) -> Result<&EvalReport> {
        if self.baseline_report.get().is_none() {
            let report = evaluate_compiled(&self.scenario, &self.baselines, &self.seeds, None).context("validation")?;
            let _ = self.baseline_report.set(report);
        }
        self.baseline_report.get().context("validation: the baselines' report is missing")
    }
}

fn log_eval(tb: &mut TensorBoard, report: &EvalReport, step: u64) {
    for p in &report.policies {
        for m in METRICS {
            if let Some(s) = p.metric(m) {
                tb.scalar(&format!("eval/{}/{m}", p.name), s.value.mean, step);
            }
        }
    }
}

impl Task for ClusterTask {
    type Env = ClusterEnv;

    fn make_env(&self) -> Result<ClusterEnv> {
        Ok(ClusterEnv::from_compiled(Arc::clone(&self.scenario)))
    }

    fn episode_metrics(&self, info: &ClusterInfo, tb: &mut TensorBoard, step: u64) {
        if let Some(m) = &info.metrics {
            for name in METRICS.iter().chain(&TRUNCATION_METRICS) {
                if let Some(v) = m.scalar(name) {
                    tb.scalar(&format!("sim/{name}"), v, step);
                }
            }
        }
    }

    fn validate(&self, agent: &Agent, tb: &mut TensorBoard, step: u64) -> Result<Validation> {
        let name = &self.scenario.scenario().name;
        let runtime = crate::export::runtime_of(agent, name, self.scenario.observation_layout())?;
        let (spec, chosen) = crate::scheduler::learned_spec(runtime, "dqn", self.scenario.observation_layout());
        let report = evaluate_compiled(&self.scenario, &[spec], &self.seeds, None).context("validation")?;
        log_eval(tb, &report, step);
        log_eval(tb, self.baseline_report()?, step);
        tb.categories("eval/dqn/chosen_node", &chosen.counts(), step);
        let jct = report.policies[0].metric("mean_jct").map_or(f64::NAN, |m| m.value.mean);
        Ok(Validation { score: jct, line: format!("validation mean JCT {jct:.1}") })
    }

    fn node_rows(&self) -> Option<NodeRows> {
        let layout = self.scenario.observation_layout();
        Some(NodeRows {
            node_width: layout.node_width(),
            task_width: layout.task_width(),
            // Only a cluster drawn per episode pads its observation: elsewhere every row is a
            // real node, and the network skips the presence mask.
            present_column: if self.scenario.has_variable_cluster() { layout.present_column() } else { None },
            fits_now_column: layout.fits_now_column(),
        })
    }
}

/// Gymnasium's CartPole-v1, validated by the greedy mean return.
pub struct CartPoleTask {
    /// Validation episodes (the first seeded with [`VALIDATION_SEED`]).
    pub episodes: u64,
}

impl Task for CartPoleTask {
    type Env = CartPole;

    fn make_env(&self) -> Result<CartPole> {
        Ok(CartPole::new())
    }

    /// The episodic return and length are logged by the training loop already.
    fn episode_metrics(&self, _info: &(), _tb: &mut TensorBoard, _step: u64) {}

    fn validate(&self, agent: &Agent, tb: &mut TensorBoard, step: u64) -> Result<Validation> {
        let returns = cartpole_returns(agent, self.episodes, VALIDATION_SEED)?;
        let estimate = cluster_env::Estimate::of(&returns);
        tb.scalar("eval/dqn/mean_return", estimate.mean, step);
        let n = returns.len().max(1) as f64;
        let std = (returns.iter().map(|r| (r - estimate.mean).powi(2)).sum::<f64>() / n).sqrt();
        tb.scalar("eval/dqn/std_return", std, step);
        Ok(Validation { score: -estimate.mean, line: format!("validation mean return {:.1}", estimate.mean) })
    }

    fn node_rows(&self) -> Option<NodeRows> {
        None
    }
}

/// Returns of `episodes` greedy CartPole-v1 episodes of `agent`, on the burn-free runtime. The
/// env is seeded once with `seed` at the first reset, then continues its random stream
/// (Gymnasium's convention), so the episodes differ and the whole evaluation is reproducible.
///
/// # Errors
/// If the network cannot be read, or an episode fails.
pub fn cartpole_returns(agent: &Agent, episodes: u64, seed: u64) -> Result<Vec<f64>> {
    let (network, normalization) = crate::export::network_of(agent)?;
    let mut runtime = policy::Runtime::from_network(&network, normalization.as_ref()).context("runtime")?;
    let mut env = CartPole::new();
    let mut obs = vec![0.0f32; env.observation_space().dim()];
    let mut returns = Vec::with_capacity(episodes as usize);
    for episode in 0..episodes {
        let (first, _) = env.reset(if episode == 0 { Some(seed) } else { None });
        obs.copy_from_slice(first);
        let mut episode_return = 0.0;
        loop {
            let action = runtime.act(&obs, env.action_mask()).context("cartpole: acting")?;
            let step = env.step(action).context("cartpole")?;
            episode_return += step.reward;
            if step.terminated || step.truncated {
                break;
            }
            obs.copy_from_slice(step.obs);
        }
        returns.push(episode_return);
    }
    Ok(returns)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name logged under `sim/` and `eval/` is a scalar of the episode metrics: an unknown
    /// one would be skipped without a word.
    #[test]
    fn logged_metrics_are_scalars_of_the_episode_metrics() {
        let mut sim = cluster_env::Simulator::new(&cluster_env::scenarios::seed_case()).unwrap();
        sim.reset(1);
        let m = sim.metrics();
        for name in METRICS.iter().chain(&TRUNCATION_METRICS) {
            assert!(cluster_env::EpisodeMetrics::SCALARS.contains(name), "{name}");
            assert!(m.scalar(name).is_some(), "{name}");
        }
    }
}
