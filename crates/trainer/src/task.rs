//! What the training driver needs from an environment family ([`Task`]): cluster scenarios
//! (validated against the heuristic baselines, lower mean JCT is better) and CartPole (the
//! learner's sanity check, higher greedy return is better).

use std::cell::OnceCell;

use anyhow::{Result, anyhow};
use cluster_env::{ClusterEnv, ClusterInfo, EvalReport, PolicySpec, ScenarioConfig, evaluate};
use dqn::{Agent, Logger};
use gym::{CartPole, Env};

use crate::config::VALIDATION_SEED;
use crate::policy::SharedAgent;
use crate::tensorboard::TensorBoard;

/// Episode and evaluation metrics logged under `sim/` and `eval/<policy>/`.
pub const METRICS: [&str; 7] =
    ["mean_jct", "p95_jct", "weighted_mean_jct", "mean_slowdown", "mean_utilisation", "load_imbalance", "makespan"];

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
    type Env: Env;
    /// A fresh training environment.
    ///
    /// # Errors
    /// An invalid scenario.
    fn make_env(&self) -> Result<Self::Env>;
    /// Logs the metrics of an episode that just ended, from its final info.
    fn episode_metrics(&self, info: &<Self::Env as Env>::Info, tb: &mut TensorBoard, step: u64);
    /// Greedy validation of `agent` (given back), logged under `eval/`.
    ///
    /// # Errors
    /// A failed evaluation.
    fn validate(&self, agent: Agent, tb: &mut TensorBoard, step: u64) -> Result<(Agent, Validation)>;
}

/// A cluster scenario, validated on the validation seeds beside the baselines.
pub struct ClusterTask {
    scenario: ScenarioConfig,
    seeds: Vec<u64>,
    baselines: Vec<PolicySpec>,
    /// The baselines on the validation seeds, run at the first validation only (they do not
    /// learn) and logged at every one, so their lines sit beside the agent's curve.
    baseline_report: OnceCell<EvalReport>,
}

impl ClusterTask {
    /// The task for `scenario`, validating on `seeds` beside `baselines`.
    ///
    /// # Errors
    /// An unknown baseline.
    pub fn new(scenario: &ScenarioConfig, seeds: Vec<u64>, baselines: &[String]) -> Result<Self> {
        let specs = baselines.iter().map(|b| PolicySpec::baseline(b)).collect::<Result<Vec<_>, _>>();
        let baselines = specs.map_err(|e| anyhow!("{e}"))?;
        Ok(Self { scenario: scenario.clone(), seeds, baselines, baseline_report: OnceCell::new() })
    }

    fn baseline_report(&self) -> Result<&EvalReport> {
        if self.baseline_report.get().is_none() {
            let report =
                evaluate(&self.scenario, &self.baselines, &self.seeds, None).map_err(|e| anyhow!("validation: {e}"))?;
            let _ = self.baseline_report.set(report);
        }
        self.baseline_report.get().ok_or_else(|| anyhow!("validation: the baselines' report is missing"))
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
        ClusterEnv::new(&self.scenario).map_err(|e| anyhow!("env: {e}"))
    }

    fn episode_metrics(&self, info: &ClusterInfo, tb: &mut TensorBoard, step: u64) {
        if let Some(m) = &info.metrics {
            for name in METRICS {
                if let Some(v) = m.scalar(name) {
                    tb.scalar(&format!("sim/{name}"), v, step);
                }
            }
        }
    }

    fn validate(&self, agent: Agent, tb: &mut TensorBoard, step: u64) -> Result<(Agent, Validation)> {
        let shared = SharedAgent::new(agent);
        let report = evaluate(&self.scenario, &[SharedAgent::spec(&shared, "dqn")], &self.seeds, None);
        let chosen = shared.chosen_nodes();
        let agent =
            SharedAgent::into_agent(shared).ok_or_else(|| anyhow!("evaluation kept a reference to the agent"))?;
        let report = report.map_err(|e| anyhow!("validation: {e}"))?;
        log_eval(tb, &report, step);
        log_eval(tb, self.baseline_report()?, step);
        tb.categories("eval/dqn/chosen_node", &chosen, step);
        let jct = report.policies[0].metric("mean_jct").map_or(f64::NAN, |m| m.value.mean);
        Ok((agent, Validation { score: jct, line: format!("validation mean JCT {jct:.1}") }))
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

    fn validate(&self, mut agent: Agent, tb: &mut TensorBoard, step: u64) -> Result<(Agent, Validation)> {
        let report = dqn::evaluate(&mut agent, &mut CartPole::new(), self.episodes as usize, VALIDATION_SEED)
            .map_err(|e| anyhow!("validation: {e}"))?;
        let mean = report.mean_return();
        tb.scalar("eval/dqn/mean_return", mean, step);
        tb.scalar("eval/dqn/std_return", report.std_return(), step);
        Ok((agent, Validation { score: -mean, line: format!("validation mean return {mean:.1}") }))
    }
}
