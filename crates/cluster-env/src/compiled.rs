//! [`CompiledScenario`]: a scenario validated and compiled once (capacities expanded per node,
//! the workload's trace read, the observation layout fixed), then shared through an [`Arc`] by
//! every simulator, environment and evaluation worker that runs it.

use std::sync::Arc;

use policy_core::ObservationLayout;

use rand::Rng;

use crate::config::{Arrivals, ObservationKind, ScenarioConfig};
use crate::error::ClusterError;
use crate::replay::OpenbReplay;
use crate::workload::Workload;

/// Scale of the tasks-on-node feature of the full observation layout.
const TASKS_SCALE: f64 = 10.0;

/// The immutable part of a scenario, compiled once.
///
/// Building one validates the scenario and reads its trace file (if any); building N
/// environments from the same `Arc<CompiledScenario>` reads it once, not N times.
///
/// ```
/// use cluster_env::{ClusterEnv, CompiledScenario, scenarios};
/// let compiled = CompiledScenario::new(&scenarios::preset("seed-case").unwrap()).unwrap();
/// let envs: Vec<ClusterEnv> = (0..4).map(|_| ClusterEnv::from_compiled(compiled.clone())).collect();
/// assert_eq!(compiled.observation_layout().obs_dim(), 10 * (3 + 4) + 3 + 2);
/// # let _ = envs;
/// ```
#[derive(Debug)]
pub struct CompiledScenario {
    pub(crate) cfg: ScenarioConfig,
    pub(crate) n_nodes: usize,
    pub(crate) n_res: usize,
    /// `[n_nodes * n_res]` capacities.
    pub(crate) capacity: Vec<f64>,
    pub(crate) speed: Vec<f64>,
    /// `[n_tenants * n_nodes]`: may tenant t use node n.
    pub(crate) allowed: Vec<bool>,
    /// Priority weight of each class.
    pub(crate) weights: Vec<f64>,
    pub(crate) workload: Workload,
    /// The replay data of an `openb` workload.
    openb: Option<Arc<OpenbReplay>>,
    /// The learned policies' observation: its layout and the scenario constants it divides by.
    pub(crate) layout: ObservationLayout,
    /// Whether any group's count is a range (the cluster is drawn per episode).
    variable: bool,
    /// Index of each group's first node in the largest cluster (every group at its upper
    /// bound), which `capacity` and `speed` describe.
    group_start: Vec<usize>,
    /// The target load of a generated `poisson-load` workload, whose rate a drawn cluster
    /// recomputes.
    load: Option<f64>,
}

/// The nodes of one episode: the real ones first (each group's drawn count, in group order),
/// padded slots up to the largest cluster after them. For a fixed-size scenario, exactly the
/// compiled cluster.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EpisodeCluster {
    /// Nodes drawn per group.
    pub counts: Vec<usize>,
    /// Real nodes: Σ `counts`. Slots `n_real..` are padding.
    pub n_real: usize,
    /// `[n_nodes * n_res]` capacities, 0 in padded slots.
    pub capacity: Vec<f64>,
    /// Per slot speed, 0 in padded slots (never read: nothing runs there).
    pub speed: Vec<f64>,
    /// Σ over the real nodes of each resource's capacity.
    pub total_capacity: Vec<f64>,
    /// The fastest real node's speed: the denominator of slowdown.
    pub max_speed: f64,
    /// The Poisson rate of a `poisson-load` workload on this cluster, when it differs from the
    /// compiled one (a drawn cluster); `None` otherwise.
    pub arrival_rate: Option<f64>,
}

impl EpisodeCluster {
    /// Capacity of slot `i` (one value per resource; zeros for a padded slot).
    pub(crate) fn node_capacity(&self, i: usize, n_res: usize) -> &[f64] {
        &self.capacity[i * n_res..(i + 1) * n_res]
    }

    /// Runtime on the fastest node: the denominator of slowdown.
    pub(crate) fn ideal_runtime(&self, work: f64) -> f64 {
        (work / self.max_speed).max(1e-9)
    }
}

impl CompiledScenario {
    /// Validates and compiles `cfg` (reading its trace, if any).
    ///
    /// # Errors
    /// An invalid field ([`ClusterError::InvalidConfig`]) or an unreadable or bad trace
    /// ([`ClusterError::Trace`]).
    pub fn new(cfg: &ScenarioConfig) -> Result<Arc<Self>, ClusterError> {
        cfg.validate()?;
        // An openb workload's cluster, classes and tenants come from its files: read them once,
        // then compile (and validate in full) the scenario they complete.
        let (resolved, openb) = match &cfg.workload.openb {
            Some(_) => {
                let (resolved, replay) = crate::replay::compile(cfg)?;
                resolved.validate()?;
                (resolved, Some(replay))
            }
            None => (cfg.clone(), None),
        };
        let cfg = &resolved;
        let n_nodes = cfg.n_nodes();
        let n_res = cfg.resources.len();
        let capacity: Vec<f64> = cfg.node_capacities().concat();
        let speed = cfg.node_speeds();
        let max_speed = speed.iter().copied().fold(0.0, f64::max);
        let capacity_of = &capacity;
        let column = |r: usize| (0..n_nodes).map(move |n| capacity_of[n * n_res + r]);
        // A resource no node has would divide demands by 0 in the observation: use 1 (every
        // task that demands it is unplaceable anyway).
        let max_capacity: Vec<f64> =
            (0..n_res).map(|r| column(r).fold(0.0, f64::max)).map(|m| if m > 0.0 { m } else { 1.0 }).collect();
        let n_tenants = cfg.workload.tenants.len().max(1);
        let mut allowed = vec![true; n_tenants * n_nodes];
        for (t, ten) in cfg.workload.tenants.iter().enumerate() {
            if let Some(nodes) = &ten.nodes {
                let row = &mut allowed[t * n_nodes..(t + 1) * n_nodes];
                row.fill(false);
                for &n in nodes {
                    row[n] = true;
                }
            }
        }
        let workload = match &openb {
            Some(replay) => Workload::replay(cfg, Arc::clone(replay)),
            None => Workload::new(cfg)?,
        };
        let weights: Vec<f64> = cfg.workload.priorities.iter().map(|p| p.weight).collect();
        // The typical task's work, which both learned layouts divide by; a workload without a
        // usable mean (e.g. an infinite one) divides by 1 instead.
        let mean_work = Some(workload.mean_work()).filter(|w| w.is_finite() && *w > 0.0);
        let max_weight = weights.iter().copied().fold(0.0, f64::max);
        let layout = match cfg.observation {
            ObservationKind::Scalable { packing, completion } => {
                // Constants from node shapes and the workload only, never from counts: the mean
                // speed is over the groups (each once), so clusters of the same shapes in any
                // numbers share one set of constants.
                let shapes: Vec<f64> = cfg.nodes.iter().filter(|g| g.count.hi() > 0).map(|g| g.speed).collect();
                let mean_speed = shapes.iter().sum::<f64>() / shapes.len() as f64;
                // An openb sub-cluster divides by the whole node list's largest capacities, so
                // that a policy trained on one sample reads any other, and the full cluster, on
                // the same scale (a rare large shape may be missing from a small sample).
                let max_capacity = match &openb {
                    Some(replay) => {
                        replay.node_list_max_capacity().iter().map(|&m| if m > 0.0 { m } else { 1.0 }).collect()
                    }
                    None => max_capacity,
                };
                ObservationLayout::Scalable {
                    n_nodes,
                    resources: cfg.resources.clone(),
                    time_scale: mean_work.map_or(1.0, |w| w / mean_speed),
                    max_speed,
                    max_capacity,
                    mean_work: mean_work.unwrap_or(1.0),
                    max_weight,
                    tasks_scale: TASKS_SCALE,
                    packing,
                    completion,
                }
            }
            ObservationKind::Full => {
                let mean_speed = speed.iter().sum::<f64>() / n_nodes as f64;
                ObservationLayout::Full {
                    n_nodes,
                    resources: cfg.resources.clone(),
                    // Typical runtime (mean work / mean speed): 1.0 means about one typical task
                    // of backlog.
                    time_scale: mean_work.map_or(1.0, |w| w / mean_speed),
                    max_speed,
                    max_capacity,
                    mean_work: mean_work.unwrap_or(1.0),
                    max_weight,
                    tasks_scale: TASKS_SCALE,
                }
            }
            ObservationKind::Park { high } => {
                ObservationLayout::Park { n_nodes, resources: cfg.resources.clone(), high }
            }
        };
        let group_start = cfg
            .nodes
            .iter()
            .scan(0, |next, g| {
                let start = *next;
                *next += g.count.hi();
                Some(start)
            })
            .collect();
        let load = match cfg.workload.arrivals {
            Arrivals::PoissonLoad { load } if cfg.workload.trace.is_none() && openb.is_none() => Some(load),
            _ => None,
        };
        Ok(Arc::new(Self {
            variable: cfg.has_variable_cluster(),
            group_start,
            load,
            openb,
            cfg: resolved,
            n_nodes,
            n_res,
            capacity,
            speed,
            allowed,
            weights,
            workload,
            layout,
        }))
    }

    /// The scenario this was compiled from; for an `openb` workload, with the nodes, priority
    /// classes, tenants and `n_tasks` that its files define.
    pub fn scenario(&self) -> &ScenarioConfig {
        &self.cfg
    }

    /// The replay data of an `openb` workload (none for other workloads).
    pub fn openb(&self) -> Option<&OpenbReplay> {
        self.openb.as_deref()
    }

    /// The observation learned policies get: its layout and the constants it divides by, so that
    /// code outside the simulator (an exported policy in production) encodes a cluster state
    /// identically.
    pub fn observation_layout(&self) -> &ObservationLayout {
        &self.layout
    }

    /// Number of nodes (= number of actions): the largest cluster's, every group at its upper
    /// bound. An episode of a scenario whose cluster is drawn may have fewer
    /// ([`crate::Simulator::episode_nodes`]).
    pub fn n_nodes(&self) -> usize {
        self.n_nodes
    }

    /// Whether each episode draws its cluster (some group's count is a range).
    pub fn has_variable_cluster(&self) -> bool {
        self.variable
    }

    /// The node count of each group in the episode of `seed`, into `out` (cleared first): a
    /// range's count uniform on `lo..=hi` from the episode's cluster stream, a fixed count
    /// itself. Draws nothing for a fixed-size scenario.
    pub(crate) fn draw_counts(&self, seed: u64, out: &mut Vec<usize>) {
        out.clear();
        if !self.variable {
            out.extend(self.cfg.nodes.iter().map(|g| g.count.hi()));
            return;
        }
        let mut rng = crate::streams::Stream::ClusterSize.rng(seed);
        out.extend(self.cfg.nodes.iter().map(|g| match g.count {
            crate::config::NodeCount::Fixed(n) => n,
            crate::config::NodeCount::Range { lo, hi } => rng.random_range(lo..=hi),
        }));
    }

    /// Whether `counts` is a cluster this scenario can draw (one count per group, each within
    /// its group's bounds, at least one node); the error says what is wrong.
    pub(crate) fn check_counts(&self, counts: &[usize]) -> Result<(), String> {
        if counts.len() != self.cfg.nodes.len() {
            return Err(format!("{} node counts, the scenario has {} groups", counts.len(), self.cfg.nodes.len()));
        }
        for (i, (g, &n)) in self.cfg.nodes.iter().zip(counts).enumerate() {
            if !(g.count.lo()..=g.count.hi()).contains(&n) {
                return Err(format!("{n} nodes in group {i}, whose count is {}", g.count));
            }
        }
        if counts.iter().sum::<usize>() == 0 {
            return Err("a cluster of 0 nodes".into());
        }
        Ok(())
    }

    /// The cluster of an episode with `counts` nodes per group (checked by
    /// [`CompiledScenario::check_counts`]), into `out` (its buffers reused).
    pub(crate) fn fill_cluster(&self, counts: &[usize], out: &mut EpisodeCluster) {
        let r = self.n_res;
        out.counts.clear();
        out.counts.extend_from_slice(counts);
        out.capacity.clear();
        out.speed.clear();
        for (&start, &n) in self.group_start.iter().zip(counts) {
            out.capacity.extend_from_slice(&self.capacity[start * r..(start + n) * r]);
            out.speed.extend_from_slice(&self.speed[start..start + n]);
        }
        out.n_real = out.speed.len();
        let n_real = out.n_real;
        // The same sums, in the same node order, as the compiled cluster's: a fixed-size
        // scenario's episode cluster is bit-identical to it.
        let (capacity, speed) = (&out.capacity, &out.speed);
        out.total_capacity.clear();
        out.total_capacity.extend((0..r).map(|k| (0..n_real).map(|n| capacity[n * r + k]).sum::<f64>()));
        out.max_speed = speed.iter().copied().fold(0.0, f64::max);
        out.arrival_rate = match self.load {
            Some(load) if self.variable => {
                // Validation made every draw hold every task, so the supply of each demanded
                // resource is > 0 and the rate finite; should it not be, keep the compiled rate.
                crate::workload::rate_for_supply(&self.cfg, load, |k| {
                    (0..n_real).map(|n| capacity[n * r + k] * speed[n]).sum()
                })
                .ok()
            }
            _ => None,
        };
        out.capacity.resize(self.n_nodes * r, 0.0);
        out.speed.resize(self.n_nodes, 0.0);
    }

    /// The cluster of a fixed-size scenario (or the largest draw of a variable one).
    pub(crate) fn largest_cluster(&self) -> EpisodeCluster {
        let counts: Vec<usize> = self.cfg.nodes.iter().map(|g| g.count.hi()).collect();
        let mut out = EpisodeCluster {
            counts: Vec::new(),
            n_real: 0,
            capacity: Vec::new(),
            speed: Vec::new(),
            total_capacity: Vec::new(),
            max_speed: 0.0,
            arrival_rate: None,
        };
        self.fill_cluster(&counts, &mut out);
        out
    }

    /// Number of resources.
    pub fn n_resources(&self) -> usize {
        self.n_res
    }

    /// Total capacity per resource of an openb scenario's cluster, as `[cpu, mem, gpu]` (what
    /// its windows are compressed against; zeros for other scenarios' missing resources).
    #[cfg(test)]
    pub(crate) fn openb_capacity(&self) -> [f64; 3] {
        let total = self.largest_cluster().total_capacity;
        std::array::from_fn(|r| total.get(r).copied().unwrap_or(0.0))
    }

    /// Whether tenant `tenant` may use node `node`.
    pub(crate) fn tenant_allows(&self, tenant: u16, node: usize) -> bool {
        self.allowed[usize::from(tenant) * self.n_nodes + node]
    }
}
