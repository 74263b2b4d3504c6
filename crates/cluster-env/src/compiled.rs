//! [`CompiledScenario`]: a scenario validated and compiled once (capacities expanded per node,
//! the workload's trace read, the observation layout fixed), then shared through an [`Arc`] by
//! every simulator, environment and evaluation worker that runs it.

use std::sync::Arc;

use policy_core::ObservationLayout;

use crate::config::{ObservationKind, ScenarioConfig};
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
    /// Σ over nodes of each resource's capacity.
    pub(crate) total_capacity: Vec<f64>,
    pub(crate) speed: Vec<f64>,
    pub(crate) max_speed: f64,
    /// `[n_tenants * n_nodes]`: may tenant t use node n.
    pub(crate) allowed: Vec<bool>,
    /// Priority weight of each class.
    pub(crate) weights: Vec<f64>,
    pub(crate) workload: Workload,
    /// The replay data of an `openb` workload.
    openb: Option<Arc<OpenbReplay>>,
    /// The learned policies' observation: its layout and the scenario constants it divides by.
    pub(crate) layout: ObservationLayout,
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
        let total_capacity: Vec<f64> = (0..n_res).map(|r| column(r).sum()).collect();
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
        let layout = match cfg.observation {
            ObservationKind::Full => {
                let mean_speed = speed.iter().sum::<f64>() / n_nodes as f64;
                let mean_work = workload.mean_work();
                let usable = mean_work.is_finite() && mean_work > 0.0;
                ObservationLayout::Full {
                    n_nodes,
                    resources: cfg.resources.clone(),
                    // Typical runtime (mean work / mean speed): 1.0 means about one typical task
                    // of backlog.
                    time_scale: if usable { mean_work / mean_speed } else { 1.0 },
                    max_speed,
                    max_capacity,
                    mean_work: if usable { mean_work } else { 1.0 },
                    max_weight: weights.iter().copied().fold(0.0, f64::max),
                    tasks_scale: TASKS_SCALE,
                }
            }
            ObservationKind::Park { high } => {
                ObservationLayout::Park { n_nodes, resources: cfg.resources.clone(), high }
            }
        };
        Ok(Arc::new(Self {
            openb,
            cfg: resolved,
            n_nodes,
            n_res,
            capacity,
            total_capacity,
            speed,
            max_speed,
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

    /// Number of nodes (= number of actions).
    pub fn n_nodes(&self) -> usize {
        self.n_nodes
    }

    /// Number of resources.
    pub fn n_resources(&self) -> usize {
        self.n_res
    }

    /// Capacity of node `i` (one value per resource).
    pub(crate) fn node_capacity(&self, i: usize) -> &[f64] {
        &self.capacity[i * self.n_res..(i + 1) * self.n_res]
    }

    /// Total capacity per resource of an openb scenario's cluster, as `[cpu, mem, gpu]` (what
    /// its windows are compressed against; zeros for other scenarios' missing resources).
    #[cfg(test)]
    pub(crate) fn openb_capacity(&self) -> [f64; 3] {
        std::array::from_fn(|r| self.total_capacity.get(r).copied().unwrap_or(0.0))
    }

    /// Whether tenant `tenant` may use node `node`.
    pub(crate) fn tenant_allows(&self, tenant: u16, node: usize) -> bool {
        self.allowed[usize::from(tenant) * self.n_nodes + node]
    }

    /// Runtime on the fastest node: the denominator of slowdown.
    pub(crate) fn ideal_runtime(&self, work: f64) -> f64 {
        (work / self.max_speed).max(1e-9)
    }
}
