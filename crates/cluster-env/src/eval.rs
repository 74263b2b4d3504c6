//! Paired evaluation: every policy runs the identical workloads (same seeds), in parallel, and
//! the report gives per-policy means with 95% CIs and paired differences against a reference.

use std::fmt::Write as _;
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::baselines::{Policy, baseline};
use crate::config::ScenarioConfig;
use crate::engine::{Compiled, Simulator};
use crate::error::ClusterError;
use crate::metrics::EpisodeMetrics;
use crate::stats::Estimate;

/// Factory of fresh policy instances (one per episode, possibly on different threads).
pub type PolicyFactory = Arc<dyn Fn() -> Box<dyn Policy> + Send + Sync>;

/// A named policy to evaluate.
#[derive(Clone)]
pub struct PolicySpec {
    /// Name in the report.
    pub name: String,
    /// Builds an instance.
    pub make: PolicyFactory,
}

impl std::fmt::Debug for PolicySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySpec").field("name", &self.name).finish_non_exhaustive()
    }
}

impl PolicySpec {
    /// The baseline called `name`.
    pub fn baseline(name: &str) -> Result<Self, ClusterError> {
        baseline(name)?;
        let owned = name.to_string();
        Ok(Self { name: name.into(), make: Arc::new(move || baseline(&owned).expect("name checked above")) })
    }
}

/// Runs one episode of `seed` with `policy`, returning its metrics.
///
/// # Errors
/// [`ClusterError::PolicyChoseInvalid`] if the policy picks a masked node; a stuck simulation.
pub fn run_episode(sim: &mut Simulator, policy: &mut dyn Policy, seed: u64) -> Result<EpisodeMetrics, ClusterError> {
    sim.reset(seed);
    policy.reset(seed);
    while !sim.is_done() {
        let node = policy.act(&sim.view());
        if let Err(e) = sim.place(node) {
            return Err(match e {
                ClusterError::Action(_) => ClusterError::PolicyChoseInvalid {
                    policy: policy.name().to_string(),
                    node,
                    task: sim.current_task().unwrap_or(u32::MAX),
                },
                other => other,
            });
        }
    }
    let m = sim.metrics();
    match &m.error {
        Some(msg) => Err(ClusterError::Stuck { time: sim.now(), message: msg.clone() }),
        None => Ok(m),
    }
}

/// One metric of one policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// Metric name (one of [`EpisodeMetrics::SCALARS`]).
    pub metric: String,
    /// Mean over seeds with 95% CI.
    pub value: Estimate,
    /// Paired difference policy − reference over the same seeds (absent for the reference and
    /// when no reference was asked for).
    pub diff_vs_reference: Option<Estimate>,
}

/// Results of one policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyReport {
    /// Policy name.
    pub name: String,
    /// Aggregated metrics, in [`EpisodeMetrics::SCALARS`] order.
    pub metrics: Vec<MetricSummary>,
    /// Per-seed metrics, in seed order.
    pub episodes: Vec<EpisodeMetrics>,
}

impl PolicyReport {
    /// Summary of `metric`, if it exists.
    pub fn metric(&self, metric: &str) -> Option<&MetricSummary> {
        self.metrics.iter().find(|m| m.metric == metric)
    }
}

/// Results of an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Scenario name.
    pub scenario: String,
    /// Seeds every policy ran.
    pub seeds: Vec<u64>,
    /// Reference policy of the paired differences.
    pub reference: Option<String>,
    /// One entry per policy, in the order given.
    pub policies: Vec<PolicyReport>,
}

/// Runs every policy on every seed (in parallel; results do not depend on thread scheduling)
/// and aggregates the metrics, with paired differences against `reference` if given.
///
/// # Errors
/// No seeds, no policies, duplicate policy names, an unknown reference, an invalid scenario, or
/// an episode that failed.
pub fn evaluate(
    scenario: &ScenarioConfig,
    policies: &[PolicySpec],
    seeds: &[u64],
    reference: Option<&str>,
) -> Result<EvalReport, ClusterError> {
    if seeds.is_empty() {
        return Err(ClusterError::Eval("no seeds to evaluate on".into()));
    }
    if policies.is_empty() {
        return Err(ClusterError::Eval("no policies to evaluate".into()));
    }
    for (i, p) in policies.iter().enumerate() {
        if policies[..i].iter().any(|q| q.name == p.name) {
            return Err(ClusterError::Eval(format!("policy {:?} listed twice", p.name)));
        }
    }
    let ref_idx = match reference {
        Some(r) => Some(policies.iter().position(|p| p.name == r).ok_or_else(|| {
            let names: Vec<&str> = policies.iter().map(|p| p.name.as_str()).collect();
            ClusterError::Eval(format!(
                "reference policy {r:?} is not among the evaluated policies ({})",
                names.join(", ")
            ))
        })?),
        None => None,
    };
    let compiled = Arc::new(Compiled::new(scenario)?);
    let jobs: Vec<(usize, u64)> = (0..policies.len()).flat_map(|p| seeds.iter().map(move |&s| (p, s))).collect();
    let results: Vec<Result<EpisodeMetrics, ClusterError>> = jobs
        .par_iter()
        .map_init(
            || Simulator::from_compiled(Arc::clone(&compiled)),
            |sim, &(p, seed)| {
                let mut policy = (policies[p].make)();
                run_episode(sim, policy.as_mut(), seed)
            },
        )
        .collect();
    let mut per_policy: Vec<Vec<EpisodeMetrics>> = vec![Vec::with_capacity(seeds.len()); policies.len()];
    for ((p, _), r) in jobs.iter().zip(results) {
        per_policy[*p].push(r?);
    }
    let series =
        |eps: &[EpisodeMetrics], m: &str| -> Vec<f64> { eps.iter().map(|e| e.scalar(m).unwrap_or(f64::NAN)).collect() };
    let reports = policies
        .iter()
        .zip(&per_policy)
        .enumerate()
        .map(|(i, (spec, eps))| PolicyReport {
            name: spec.name.clone(),
            metrics: EpisodeMetrics::SCALARS
                .iter()
                .map(|m| {
                    let xs = series(eps, m);
                    let diff = ref_idx.filter(|&r| r != i).map(|r| {
                        let ys = series(&per_policy[r], m);
                        Estimate::of(&xs.iter().zip(&ys).map(|(x, y)| x - y).collect::<Vec<_>>())
                    });
                    MetricSummary { metric: m.to_string(), value: Estimate::of(&xs), diff_vs_reference: diff }
                })
                .collect(),
            episodes: eps.clone(),
        })
        .collect();
    Ok(EvalReport {
        scenario: scenario.name.clone(),
        seeds: seeds.to_vec(),
        reference: reference.map(String::from),
        policies: reports,
    })
}

impl EvalReport {
    /// A plain-text table: policy, mean JCT ± CI, p95, weighted JCT, slowdown, utilisation,
    /// imbalance, and the paired JCT difference vs the reference (± CI, relative).
    pub fn table(&self) -> String {
        let mut s = String::new();
        let reference = self.reference.as_deref().unwrap_or("-");
        let _ = writeln!(s, "scenario {} — {} seeds, paired by seed; ± is the 95% CI", self.scenario, self.seeds.len());
        let _ = writeln!(
            s,
            "{:<24} {:>22} {:>11} {:>11} {:>9} {:>6} {:>9}  Δ mean JCT vs {reference}",
            "policy", "mean JCT", "p95 JCT", "wJCT", "slowdown", "util", "imbalance"
        );
        for p in &self.policies {
            let g = |m: &str| p.metric(m).map_or(f64::NAN, |x| x.value.mean);
            let jct = p.metric("mean_jct").expect("mean_jct is aggregated");
            let diff = match &jct.diff_vs_reference {
                Some(d) => format!(
                    "{:+.1} ± {:.1} ({:+.1}%){}",
                    d.mean,
                    d.ci95,
                    100.0 * d.mean / self.reference_mean_jct().unwrap_or(f64::NAN),
                    if d.excludes_zero() { "" } else { " n.s." }
                ),
                None => "—".into(),
            };
            let _ = writeln!(
                s,
                "{:<24} {:>22} {:>11.1} {:>11.1} {:>9.2} {:>6.3} {:>9.3}  {diff}",
                p.name,
                format!("{:.1} ± {:.1}", jct.value.mean, jct.value.ci95),
                g("p95_jct"),
                g("weighted_mean_jct"),
                g("mean_slowdown"),
                g("mean_utilisation"),
                g("load_imbalance"),
            );
        }
        s
    }

    /// Mean JCT of the reference policy.
    pub fn reference_mean_jct(&self) -> Option<f64> {
        let r = self.reference.as_deref()?;
        self.policy(r)?.metric("mean_jct").map(|m| m.value.mean)
    }

    /// The report of policy `name`.
    pub fn policy(&self, name: &str) -> Option<&PolicyReport> {
        self.policies.iter().find(|p| p.name == name)
    }
}
