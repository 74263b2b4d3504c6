//! Paired evaluation: every policy runs the identical workloads (same seeds), in parallel, and
//! the report gives per-policy means with 95% CIs and paired differences against a reference.

use std::fmt::Write as _;
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::baselines::{Scheduler, baseline};
use crate::compiled::CompiledScenario;
use crate::config::ScenarioConfig;
use crate::engine::Simulator;
use crate::error::ClusterError;
use crate::metrics::EpisodeMetrics;
use crate::stats::Estimate;

/// Factory of fresh policy instances (one per episode, possibly on different threads).
pub type SchedulerFactory = Arc<dyn Fn() -> Box<dyn Scheduler> + Send + Sync>;

/// A named policy to evaluate.
#[derive(Clone)]
pub struct SchedulerSpec {
    /// Name in the report.
    pub name: String,
    /// Builds an instance.
    pub make: SchedulerFactory,
}

impl std::fmt::Debug for SchedulerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerSpec").field("name", &self.name).finish_non_exhaustive()
    }
}

impl SchedulerSpec {
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
pub fn run_episode(sim: &mut Simulator, policy: &mut dyn Scheduler, seed: u64) -> Result<EpisodeMetrics, ClusterError> {
    sim.reset(seed);
    policy.reset(seed);
    while !sim.is_done() {
        let node = policy.act(&sim.view())?;
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
    policies: &[SchedulerSpec],
    seeds: &[u64],
    reference: Option<&str>,
) -> Result<EvalReport, ClusterError> {
    evaluate_compiled(&CompiledScenario::new(scenario)?, policies, seeds, reference)
}

/// [`evaluate`] on an already compiled scenario (no recompilation, no second read of a trace).
///
/// # Errors
/// As [`evaluate`].
pub fn evaluate_compiled(
    compiled: &Arc<CompiledScenario>,
    policies: &[SchedulerSpec],
    seeds: &[u64],
    reference: Option<&str>,
) -> Result<EvalReport, ClusterError> {
    let scenario = compiled.scenario();
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
    let jobs: Vec<(usize, u64)> = (0..policies.len()).flat_map(|p| seeds.iter().map(move |&s| (p, s))).collect();
    let results: Vec<Result<EpisodeMetrics, ClusterError>> = jobs
        .par_iter()
        .map_init(
            || Simulator::from_compiled(Arc::clone(compiled)),
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

#[cfg(test)]
mod tests {
    //! Paired statistics, thread-count independence and request errors of `evaluate`.

    use super::*;
    use crate::scenarios;
    use crate::view::ClusterView;

    fn specs(names: &[&str]) -> Vec<SchedulerSpec> {
        names.iter().map(|n| SchedulerSpec::baseline(n).unwrap()).collect()
    }

    fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
    }

    #[test]
    fn paired_differences_are_means_of_per_seed_differences() {
        let cfg = scenarios::seed_case();
        let seeds = [3, 1, 4, 1_000, 5, 9];
        let names = ["least-loaded", "random", "shortest-expected-delay"];
        let report = evaluate(&cfg, &specs(&names), &seeds, Some("least-loaded")).unwrap();
        assert_eq!(report.scenario, "seed-case");
        assert_eq!(report.seeds, seeds);
        assert_eq!(report.reference.as_deref(), Some("least-loaded"));
        let names_got: Vec<&str> = report.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names_got, names);
        let reference = report.policy("least-loaded").unwrap();
        // Episodes are exactly what run_episode gives, in seed order.
        let mut sim = Simulator::new(&cfg).unwrap();
        for p in &report.policies {
            assert_eq!(p.episodes.len(), seeds.len());
            for (e, &seed) in p.episodes.iter().zip(&seeds) {
                let mut policy = baseline(&p.name).unwrap();
                assert_eq!(*e, run_episode(&mut sim, policy.as_mut(), seed).unwrap(), "{} seed {seed}", p.name);
            }
            let names: Vec<&str> = p.metrics.iter().map(|m| m.metric.as_str()).collect();
            assert_eq!(names, EpisodeMetrics::SCALARS);
        }
        for p in &report.policies {
            for m in &p.metrics {
                let xs: Vec<f64> = p.episodes.iter().map(|e| e.scalar(&m.metric).unwrap()).collect();
                assert_eq!(m.value, Estimate::of(&xs));
                if p.name == "least-loaded" {
                    assert_eq!(m.diff_vs_reference, None);
                    continue;
                }
                let ys: Vec<f64> = reference.episodes.iter().map(|e| e.scalar(&m.metric).unwrap()).collect();
                let diffs: Vec<f64> = xs.iter().zip(&ys).map(|(x, y)| x - y).collect();
                let d = m.diff_vs_reference.unwrap();
                assert_eq!(d, Estimate::of(&diffs), "{} {}", p.name, m.metric);
                assert_eq!(d.n, seeds.len());
                // The mean of differences is the difference of means.
                let ref_mean = reference.metric(&m.metric).unwrap().value.mean;
                assert!((d.mean - (m.value.mean - ref_mean)).abs() <= 1e-9 * m.value.mean.abs().max(1.0));
            }
        }
        // Random is far worse than least-loaded on every seed here.
        let d = report.policy("random").unwrap().metric("mean_jct").unwrap().diff_vs_reference.unwrap();
        assert!(d.mean > 0.0 && d.excludes_zero(), "{d:?}");
        let table = report.table();
        assert!(table.starts_with("scenario seed-case — 6 seeds, paired by seed"), "{table}");
        assert!(names.iter().all(|n| table.contains(n)));
        assert_eq!(report.reference_mean_jct(), Some(reference.metric("mean_jct").unwrap().value.mean));
        // Without a reference: no differences.
        let report = evaluate(&cfg, &specs(&names[..2]), &seeds[..2], None).unwrap();
        assert!(report.policies.iter().flat_map(|p| &p.metrics).all(|m| m.diff_vs_reference.is_none()));
        assert_eq!(report.reference_mean_jct(), None);
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let mut cfg = scenarios::faulty();
        cfg.workload.n_tasks = 150;
        let names = ["random", "power-of-two", "tetris", "round-robin"];
        let seeds: Vec<u64> = (10..18).collect();
        let one = in_pool(1, || evaluate(&cfg, &specs(&names), &seeds, Some("tetris")).unwrap());
        let four = in_pool(4, || evaluate(&cfg, &specs(&names), &seeds, Some("tetris")).unwrap());
        assert_eq!(one, four);
        assert!(one.policies.iter().flat_map(|p| &p.episodes).any(|e| e.retried > 0), "failures happened");
    }

    #[test]
    fn bad_requests_are_errors() {
        let cfg = scenarios::seed_case();
        let two = specs(&["random", "least-loaded"]);
        assert_eq!(evaluate(&cfg, &two, &[], None).unwrap_err(), ClusterError::Eval("no seeds to evaluate on".into()));
        assert_eq!(evaluate(&cfg, &[], &[1], None).unwrap_err(), ClusterError::Eval("no policies to evaluate".into()));
        assert_eq!(
            evaluate(&cfg, &two, &[1], Some("tetris")).unwrap_err(),
            ClusterError::Eval(
                "reference policy \"tetris\" is not among the evaluated policies (random, least-loaded)".into()
            )
        );
        let dup = specs(&["random", "least-loaded", "random"]);
        assert_eq!(
            evaluate(&cfg, &dup, &[1], None).unwrap_err(),
            ClusterError::Eval("policy \"random\" listed twice".into())
        );
        assert_eq!(
            evaluate(&cfg, &dup, &[], None).unwrap_err().to_string(),
            "evaluation: no seeds to evaluate on",
            "seeds are checked first"
        );
    }

    /// Always node 0, whatever the mask says.
    struct Stubborn;

    impl Scheduler for Stubborn {
        fn name(&self) -> &str {
            "stubborn"
        }
        fn act(&mut self, _view: &ClusterView<'_>) -> Result<usize, ClusterError> {
            Ok(0)
        }
    }

    #[test]
    fn invalid_choices_and_invalid_scenarios_are_reported() {
        let mut cfg = scenarios::seed_case();
        let stubborn = SchedulerSpec { name: "stubborn".into(), make: Arc::new(|| Box::new(Stubborn)) };
        // seed-case's secure tenant may not use node 0: some task is refused.
        let err = evaluate(&cfg, &[stubborn], &[0], None).unwrap_err();
        let ClusterError::PolicyChoseInvalid { policy, node, task } = err else { panic!("got {err:?}") };
        assert_eq!((policy.as_str(), node), ("stubborn", 0));
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(0);
        while sim.mask()[0] {
            sim.place(0).unwrap();
        }
        assert_eq!(sim.current_task(), Some(task), "the first task node 0 may not take");
        cfg.workload.n_tasks = 0;
        assert!(matches!(
            evaluate(&cfg, &specs(&["random"]), &[0], None),
            Err(ClusterError::InvalidConfig { field, .. }) if field == "workload.n_tasks"
        ));
        assert!(SchedulerSpec::baseline("nope").is_err());
    }
}
