//! Scenario configuration: everything that defines a cluster and its workload, as serde structs
//! that a TOML file can override field by field (unknown fields are errors).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{ClusterError, invalid};

/// Most nodes a scenario may have, over all its groups. Generous (the `large` preset has 1000)
/// but finite: a typo in a node count is an error, not an attempt to allocate per-node state
/// for billions of nodes. Also keeps every node index below 2^32, which the random streams
/// rely on.
pub const MAX_NODES: usize = 1_000_000;

/// Most tasks a workload may have (`workload.n_tasks`, or a trace's rows): the simulator
/// reserves per-task state for the whole episode at its start (`large` has 100,000).
pub const MAX_TASKS: usize = 10_000_000;

/// Most priority classes, and most tenants, a workload may have: tasks store both as `u16`.
pub const MAX_CLASSES: usize = 1 << 16;

/// Most values of a node × resource table (`f64`, 128 MiB at the bound), which the compiled
/// scenario and the simulator hold several of. Without it, an experiment file of a few KiB (a
/// million nodes of a few hundred resources) made validation itself allocate gigabytes (found by
/// the `experiment_toml` fuzz target).
pub const MAX_NODE_RESOURCES: usize = 1 << 24;

/// Most entries of the tenant × node permission table (one byte each, 256 MiB), which the
/// compiled scenario holds in full.
pub const MAX_TENANT_NODE_PAIRS: usize = 1 << 28;

/// A complete scenario: nodes, workload, failures, reward and observation layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioConfig {
    /// Preset name this scenario came from (informational; `custom` if built by hand).
    pub name: String,
    /// Resource names, e.g. `["cpu", "mem", "net"]`; node capacities and task demands follow
    /// this order.
    pub resources: Vec<String>,
    /// Node groups; nodes are numbered in the order the groups list them.
    pub nodes: Vec<NodeGroup>,
    /// How tasks are generated (or replayed from a trace).
    pub workload: WorkloadConfig,
    /// Node failures and recoveries.
    #[serde(default)]
    pub failures: FailureConfig,
    /// What the agent is rewarded for.
    #[serde(default)]
    pub reward: RewardKind,
    /// The flat observation layout given to learned policies.
    #[serde(default)]
    pub observation: ObservationKind,
    /// Quantise time like Park: inter-arrival times, task sizes and service durations are
    /// truncated to integers (Python's `int()`).
    #[serde(default)]
    pub integer_time: bool,
    /// Truncate an episode after this many decisions (Gymnasium `truncated`); none = run until
    /// every task completes.
    #[serde(default)]
    pub max_decisions: Option<u64>,
}

/// `count` identical nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeGroup {
    /// Number of nodes in the group: a fixed count (`count = 4`), or a range drawn anew for
    /// each episode (`count = [3, 11]`, inclusive; see [`NodeCount`]).
    #[serde(default = "one")]
    pub count: NodeCount,
    /// Capacity per resource (same order as `resources`), in resource units.
    pub capacity: Vec<f64>,
    /// Work units processed per time unit by each task running on the node.
    pub speed: f64,
}

fn one() -> NodeCount {
    NodeCount::Fixed(1)
}

/// How many nodes a [`NodeGroup`] has: a fixed number, or an inclusive range from which each
/// episode draws its own (uniformly, from the episode seed's cluster stream).
///
/// Written as an integer (`count = 4`) or a two-element array (`count = [3, 11]`). A scenario
/// with any range has a cluster whose size changes from episode to episode; its action space
/// and observation are sized for the largest draw (every group at its upper bound), and the
/// nodes an episode lacks are padding: masked, and all zeros in the observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeCount {
    /// Always this many nodes.
    Fixed(usize),
    /// `lo..=hi` nodes, drawn per episode.
    Range {
        /// Fewest nodes.
        lo: usize,
        /// Most nodes.
        hi: usize,
    },
}

impl NodeCount {
    /// Fewest nodes an episode can have (the count itself when fixed).
    pub fn lo(self) -> usize {
        match self {
            NodeCount::Fixed(n) => n,
            NodeCount::Range { lo, .. } => lo,
        }
    }

    /// Most nodes an episode can have (the count itself when fixed): what the action space and
    /// observation are sized for.
    pub fn hi(self) -> usize {
        match self {
            NodeCount::Fixed(n) => n,
            NodeCount::Range { hi, .. } => hi,
        }
    }

    /// Whether the count is drawn per episode. A range with `lo == hi` is drawn too, but always
    /// draws the same count.
    pub fn is_range(self) -> bool {
        matches!(self, NodeCount::Range { .. })
    }
}

impl From<usize> for NodeCount {
    fn from(n: usize) -> Self {
        NodeCount::Fixed(n)
    }
}

impl std::fmt::Display for NodeCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeCount::Fixed(n) => write!(f, "{n}"),
            NodeCount::Range { lo, hi } => write!(f, "[{lo}, {hi}]"),
        }
    }
}

impl Serialize for NodeCount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            NodeCount::Fixed(n) => s.serialize_u64(n as u64),
            NodeCount::Range { lo, hi } => [lo as u64, hi as u64].serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for NodeCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A hand-written visitor rather than an untagged enum: serde's untagged error ("did not
        // match any variant") would not say what a count may be.
        struct Visitor;
        const EXPECTED: &str = "a node count (an integer >= 0) or an inclusive range [lo, hi]";
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = NodeCount;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<NodeCount, E> {
                usize::try_from(v).map(NodeCount::Fixed).map_err(|_| E::custom(format!("{v} is too large: {EXPECTED}")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<NodeCount, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("{v} is negative: expected {EXPECTED}"))),
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<NodeCount, A::Error> {
                use serde::de::Error;
                let wrong = |n: usize| A::Error::invalid_length(n, &"a range of two counts [lo, hi]");
                let lo: usize = seq.next_element()?.ok_or_else(|| wrong(0))?;
                let hi: usize = seq.next_element()?.ok_or_else(|| wrong(1))?;
                if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(wrong(3));
                }
                Ok(NodeCount::Range { lo, hi })
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// How tasks arrive, how big they are and what they need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadConfig {
    /// Number of tasks in one episode (ignored when `trace` is set: the trace's rows count).
    pub n_tasks: usize,
    /// Arrival process.
    pub arrivals: Arrivals,
    /// Task size distribution, in work units (runtime on a node = work / speed).
    pub size: SizeDist,
    /// Per-resource demand of a task.
    pub demand: DemandConfig,
    /// Priority classes; a task's class is drawn with the classes' probabilities.
    #[serde(default = "default_priorities")]
    pub priorities: Vec<PriorityClass>,
    /// Tenants; a task's tenant is drawn with the tenants' probabilities and restricts where it
    /// may run. Empty = one tenant allowed everywhere.
    #[serde(default)]
    pub tenants: Vec<TenantConfig>,
    /// Replay this CSV trace instead of generating tasks (columns: arrival, work, one demand
    /// column per resource, priority class index; optional tenant index).
    #[serde(default)]
    pub trace: Option<PathBuf>,
    /// Replay windows of a production cluster's pod list on its node list (Alibaba's `openb`
    /// format, [`crate::openb`]). When set, the cluster (`nodes`), the priority classes and the
    /// tenants come from the files when the scenario is compiled, and `n_tasks`, `arrivals`,
    /// `size` and `demand` are ignored.
    #[serde(default)]
    pub openb: Option<OpenbConfig>,
}

/// Which part of an `openb` pod list the episodes replay (see [`crate::openb::Split`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceSplit {
    /// The first 70% of the tasks by creation time: training and validation.
    #[default]
    Train,
    /// The last 30%: held-out test evaluation only.
    Test,
}

/// A workload replayed from an `openb` node list and pod list (`[workload.openb]`).
///
/// Each episode replays the window of `window` consecutive tasks of `split` that the episode
/// seed picks, its arrival gaps compressed (or stretched) so that the window offers `load` on
/// the cluster's bottleneck resource ([`crate::openb::compress_window`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenbConfig {
    /// Node-list CSV (`sn, cpu_milli, memory_mib, gpu, model`). A relative path is looked up
    /// from the working directory, then from the repository root (so the presets' paths work
    /// from anywhere).
    pub nodes: PathBuf,
    /// Pod-list CSV (`name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, qos,
    /// pod_phase, creation_time, deletion_time, scheduled_time`), looked up like `nodes`.
    pub pods: PathBuf,
    /// Which split the episodes replay: `"train"` for training and validation, `"test"` for the
    /// held-out evaluation (`cluster-rl eval` and `baselines` switch to it themselves).
    #[serde(default)]
    pub split: TraceSplit,
    /// Tasks per episode (consecutive pods in creation order).
    #[serde(default = "default_window")]
    pub window: usize,
    /// Target offered load on the bottleneck resource, in (0, ∞).
    pub load: f64,
    /// Honour the pods' `gpu_spec` GPU-model constraints (each distinct set of allowed models
    /// becomes a tenant allowed on the nodes of those models); `false` ignores them.
    #[serde(default = "yes")]
    pub gpu_spec: bool,
    /// Simulate `k` of the nodes instead of all, keeping the node-shape mix and every GPU model
    /// that a `gpu_spec` names; drawn once from `seed` when the scenario is compiled.
    #[serde(default)]
    pub subcluster: Option<SubclusterConfig>,
    /// Priority weight of each QoS class.
    #[serde(default)]
    pub qos_weights: QosWeights,
    /// Drop pods whose runtime is censored (still `Running` when last seen) instead of replaying
    /// the observed lower bound.
    #[serde(default)]
    pub drop_censored: bool,
}

fn default_window() -> usize {
    crate::openb::DEFAULT_WINDOW_LEN
}

fn yes() -> bool {
    true
}

/// A sub-cluster of an `openb` node list ([`crate::openb::sample_subcluster`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubclusterConfig {
    /// Number of nodes, 1 up to the node list's length.
    pub k: usize,
    /// Seed of the draw (the same seed gives the same nodes).
    #[serde(default)]
    pub seed: u64,
}

/// Priority weights of the pods' QoS classes (each finite and > 0). The defaults rank
/// latency-sensitive and guaranteed pods above burstable above best-effort: 3, 3, 2, 1.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QosWeights {
    /// `LS` (latency-sensitive).
    #[serde(default = "qos_ls")]
    pub ls: f64,
    /// `Guaranteed`.
    #[serde(default = "qos_ls")]
    pub guaranteed: f64,
    /// `Burstable`.
    #[serde(default = "qos_burstable")]
    pub burstable: f64,
    /// `BE` (best-effort).
    #[serde(default = "qos_be")]
    pub be: f64,
}

fn qos_ls() -> f64 {
    3.0
}
fn qos_burstable() -> f64 {
    2.0
}
fn qos_be() -> f64 {
    1.0
}

impl Default for QosWeights {
    fn default() -> Self {
        Self { ls: qos_ls(), guaranteed: qos_ls(), burstable: qos_burstable(), be: qos_be() }
    }
}

impl OpenbConfig {
    /// Checks the fields that need no file; the error names `workload.openb.<field>`.
    pub fn validate(&self) -> Result<(), ClusterError> {
        if !(2..=MAX_TASKS).contains(&self.window) {
            return Err(invalid("workload.openb.window", self.window, format!("2..={MAX_TASKS} tasks")));
        }
        if !(self.load.is_finite() && self.load > 0.0) {
            return Err(invalid("workload.openb.load", self.load, "a finite value > 0"));
        }
        if let Some(s) = &self.subcluster
            && !(1..=crate::openb::MAX_NODES).contains(&s.k)
        {
            return Err(invalid(
                "workload.openb.subcluster.k",
                s.k,
                format!("1..={} nodes (and at most the node list's)", crate::openb::MAX_NODES),
            ));
        }
        let w = &self.qos_weights;
        for (name, v) in [("ls", w.ls), ("guaranteed", w.guaranteed), ("burstable", w.burstable), ("be", w.be)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(invalid(format!("workload.openb.qos_weights.{name}"), v, "a finite value > 0"));
            }
        }
        Ok(())
    }
}

fn default_priorities() -> Vec<PriorityClass> {
    vec![PriorityClass { name: "normal".into(), weight: 1.0, prob: 1.0 }]
}

/// Arrival process of tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Arrivals {
    /// Poisson process: exponential inter-arrival times with `rate` tasks per time unit.
    Poisson {
        /// Mean arrivals per time unit.
        rate: f64,
    },
    /// Poisson at the rate that puts `load` (e.g. 0.9) on the bottleneck resource, computed from
    /// the expected size and demand and the cluster's capacity × speed.
    PoissonLoad {
        /// Target offered load on the bottleneck resource, in (0, ∞).
        load: f64,
    },
    /// Bursty two-state Markov-modulated Poisson process.
    Mmpp {
        /// Arrival rate in each state, tasks per time unit.
        rates: [f64; 2],
        /// Mean time spent in each state before switching, time units.
        mean_sojourn: [f64; 2],
    },
    /// Diurnal: Poisson with rate `mean_rate · (1 + amplitude · sin(2π t / period))`.
    Diurnal {
        /// Mean arrivals per time unit.
        mean_rate: f64,
        /// Relative amplitude in [0, 1].
        amplitude: f64,
        /// Period, time units.
        period: f64,
    },
    /// Every task arrives at time 0.
    Batch,
}

/// Task size (work) distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum SizeDist {
    /// Pareto with minimum `scale` and tail index `shape`: `scale · (Lomax(shape) + 1)`, as
    /// Park's `(np.random.pareto(shape) + 1) * scale`.
    Pareto {
        /// Tail index α (> 1 for a finite mean).
        shape: f64,
        /// Minimum size x_m.
        scale: f64,
    },
    /// Exponential with the given mean.
    Exponential {
        /// Mean size.
        mean: f64,
    },
    /// Uniform on `[low, high]`.
    Uniform {
        /// Smallest size.
        low: f64,
        /// Largest size.
        high: f64,
    },
    /// Mixture of two uniforms (DeepRM-style mostly-short, some-long tasks).
    Bimodal {
        /// Range of short tasks.
        short: [f64; 2],
        /// Range of long tasks.
        long: [f64; 2],
        /// Probability that a task is long.
        p_long: f64,
    },
    /// Log-normal: `exp(N(mu, sigma²))`.
    LogNormal {
        /// Mean of the underlying normal.
        mu: f64,
        /// Standard deviation of the underlying normal.
        sigma: f64,
    },
}

/// Per-resource task demand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DemandConfig {
    /// Demand of resource r uniform in `ranges[r]` (`[low, high]`; equal bounds = fixed).
    Ranges {
        /// One `[low, high]` per resource.
        ranges: Vec<[f64; 2]>,
    },
    /// DeepRM-like dominant resource: one resource drawn uniformly is dominant with demand in
    /// `dominant`, the others in `other` (fractions of `unit`, per resource).
    Dominant {
        /// Demand range of the dominant resource, as a fraction of `unit`.
        dominant: [f64; 2],
        /// Demand range of the other resources, as a fraction of `unit`.
        other: [f64; 2],
        /// Resource units that the fractions refer to (one per resource).
        unit: Vec<f64>,
    },
}

/// A priority class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityClass {
    /// Name for reports.
    pub name: String,
    /// Weight in the reward and in weighted JCT (> 0).
    pub weight: f64,
    /// Probability that a generated task has this class.
    pub prob: f64,
}

/// A tenant and the nodes it is authorised to use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    /// Name for reports.
    pub name: String,
    /// Probability that a generated task belongs to this tenant.
    pub prob: f64,
    /// Node indices this tenant may use; none = all nodes.
    #[serde(default)]
    pub nodes: Option<Vec<usize>>,
}

/// Node failures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureConfig {
    /// Mean time between failures of each node (exponential), time units; none = no random
    /// failures.
    #[serde(default)]
    pub mtbf: Option<f64>,
    /// Mean time to repair (exponential), time units.
    #[serde(default)]
    pub mttr: Option<f64>,
    /// Failures at fixed times, in addition to random ones.
    #[serde(default)]
    pub scheduled: Vec<ScheduledFailure>,
}

/// One node outage at a fixed time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledFailure {
    /// Node index.
    pub node: usize,
    /// Time the node goes down.
    pub at: f64,
    /// How long it stays down (> 0: a node that never recovers could strand tasks).
    pub duration: f64,
}

/// Reward signal between two decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RewardKind {
    /// −Σ over tasks in system of priority weight × elapsed time: the return is −(weighted total
    /// completion time).
    #[default]
    WeightedJct,
    /// −Σ over tasks in system of elapsed time / ideal runtime: the return is −Σ slowdowns.
    Slowdown,
    /// +mean over resources of cluster utilisation × elapsed time.
    Utilisation,
    /// −priority weight × the placed task's completion time (from its arrival), charged at the
    /// decision that places it. Under FIFO queues that time is already decided at placement, so
    /// the undiscounted return equals `weighted-jct`'s, −(weighted total completion time), but
    /// each decision is credited with its own task's cost at once instead of over the many
    /// later steps the task spends in the system. A failure refunds the charge of each task it
    /// re-submits; the task is charged again when re-placed.
    AttributedJct,
    /// As `attributed-jct` without the priority weight: −the placed task's completion time,
    /// charged at placement, so the undiscounted return is −(total completion time), the
    /// objective of mean JCT; priority weights then count only in the weighted-JCT metric,
    /// which this reward does not optimise.
    AttributedUnweightedJct,
}

/// Flat observation layout for learned policies (documented in the README and [`crate::obs`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ObservationKind {
    /// Per node: free fraction per resource, outstanding time, tasks in system, speed, up; then
    /// the task: demand fractions, size, priority. Normalised.
    #[default]
    Full,
    /// Full's features plus, per node, its capacity fractions and how the task would fit
    /// ([`policy_core::ObservationLayout::Scalable`]): rows that mean the same at any cluster
    /// size, with constants computed from node shapes and the workload only, never from counts.
    Scalable {
        /// Adds the packing heuristics' two signals to every node row: whether the task fits
        /// there now, and Tetris's alignment (`observation = { kind = "scalable", packing = true }`).
        #[serde(default)]
        packing: bool,
        /// Adds shortest-expected-delay's signal to every node row: when the task would finish
        /// there (`observation = { kind = "scalable", completion = true }`).
        #[serde(default)]
        completion: bool,
    },
    /// Park's `[load_1..load_n, job_size]`, raw, clipped at `high`.
    Park {
        /// Clip value (Park: 500000).
        high: f64,
    },
}

impl ScenarioConfig {
    /// Number of nodes over all groups, each group at its largest count: the size of the action
    /// space (saturating: a config that overflows `usize` is refused by
    /// [`ScenarioConfig::validate`], which this must not panic before).
    pub fn n_nodes(&self) -> usize {
        self.nodes.iter().fold(0usize, |n, g| n.saturating_add(g.count.hi()))
    }

    /// Whether any node group's count is a range, so that each episode draws its cluster.
    pub fn has_variable_cluster(&self) -> bool {
        self.nodes.iter().any(|g| g.count.is_range())
    }

    /// The same scenario with each group's count fixed at `counts[i]` (one per group): the
    /// cluster of one draw of a variable-size scenario.
    ///
    /// # Panics
    /// If `counts` does not have one count per group.
    pub fn with_counts(&self, counts: &[usize]) -> ScenarioConfig {
        assert_eq!(counts.len(), self.nodes.len(), "one count per node group");
        let mut cfg = self.clone();
        for (g, &n) in cfg.nodes.iter_mut().zip(counts) {
            g.count = NodeCount::Fixed(n);
        }
        cfg
    }

    /// Checks every field; the error names the field, the value and what is allowed.
    pub fn validate(&self) -> Result<(), ClusterError> {
        let r = self.resources.len();
        if r == 0 {
            return Err(invalid("resources", "[]", "at least one resource name"));
        }
        if let Some(o) = &self.workload.openb {
            o.validate()?;
            if self.resources != crate::openb::RESOURCES {
                return Err(invalid(
                    "resources",
                    format!("{:?}", self.resources),
                    format!("{:?} (an openb workload's resources)", crate::openb::RESOURCES),
                ));
            }
            if self.workload.trace.is_some() {
                return Err(invalid("workload.trace", "set", "unset when workload.openb is set"));
            }
            if self.nodes.is_empty() {
                // Not compiled yet: the nodes, classes and tenants come from the files, and the
                // rest is checked on the compiled scenario (`CompiledScenario::new`).
                return self.validate_common();
            }
        }
        if self.nodes.is_empty() || self.n_nodes() == 0 {
            return Err(invalid("nodes", 0, "at least one node"));
        }
        // Sizes first: everything below may allocate per node.
        for (i, g) in self.nodes.iter().enumerate() {
            let field = format!("nodes[{i}].count");
            match g.count {
                NodeCount::Fixed(n) if n > MAX_NODES => {
                    return Err(invalid(field, n, format!("at most {MAX_NODES} nodes")));
                }
                NodeCount::Range { lo, hi } if lo > hi || hi > MAX_NODES => {
                    return Err(invalid(field, g.count, format!("a range [lo, hi] with lo <= hi <= {MAX_NODES}")));
                }
                _ => {}
            }
        }
        if self.n_nodes() > MAX_NODES {
            return Err(invalid("nodes", self.n_nodes(), format!("at most {MAX_NODES} nodes over all groups")));
        }
        if self.n_nodes().saturating_mul(r) > MAX_NODE_RESOURCES {
            return Err(invalid(
                "resources",
                format!("{r} resources × {} nodes", self.n_nodes()),
                format!("at most {MAX_NODE_RESOURCES} node-resource values"),
            ));
        }
        for (i, g) in self.nodes.iter().enumerate() {
            if g.capacity.len() != r {
                return Err(invalid(
                    format!("nodes[{i}].capacity"),
                    format!("{:?}", g.capacity),
                    format!("one capacity per resource ({r})"),
                ));
            }
            // 0 is a resource the node does not have (a CPU-only node's GPUs): the mask keeps
            // every task that needs it elsewhere, and every ratio to a capacity treats it as 0.
            if let Some(c) = g.capacity.iter().find(|c| !(c.is_finite() && **c >= 0.0)) {
                return Err(invalid(format!("nodes[{i}].capacity"), c, "finite values >= 0"));
            }
            if g.capacity.iter().all(|c| *c == 0.0) {
                return Err(invalid(
                    format!("nodes[{i}].capacity"),
                    format!("{:?}", g.capacity),
                    "at least one resource > 0",
                ));
            }
            if !(g.speed.is_finite() && g.speed > 0.0) {
                return Err(invalid(format!("nodes[{i}].speed"), g.speed, "a finite value > 0"));
            }
        }
        if self.has_variable_cluster() {
            self.validate_variable_cluster()?;
        }
        self.workload.validate(r, self.n_nodes())?;
        self.validate_fit()?;
        self.failures.validate(self.n_nodes())?;
        self.validate_common()
    }

    /// A cluster drawn per episode: every draw has a node, and nothing names nodes by index
    /// (node `i` is another node, or padding, from one episode to the next).
    fn validate_variable_cluster(&self) -> Result<(), ClusterError> {
        let fewest: usize = self.nodes.iter().map(|g| g.count.lo()).sum();
        if fewest == 0 {
            return Err(invalid(
                "nodes",
                "0 nodes in the smallest draw",
                "at least one node in every episode (a group count range with lo >= 1)",
            ));
        }
        for (i, t) in self.workload.tenants.iter().enumerate() {
            if t.nodes.is_some() {
                return Err(invalid(
                    format!("workload.tenants[{i}].nodes"),
                    "a node list",
                    "unset when a node group's count is a range (node indices change between episodes)",
                ));
            }
        }
        if !self.failures.scheduled.is_empty() {
            return Err(invalid(
                "failures.scheduled",
                format!("{} scheduled failures", self.failures.scheduled.len()),
                "none when a node group's count is a range (node indices change between episodes)",
            ));
        }
        Ok(())
    }

    /// The checks that depend on neither the nodes nor the workload.
    fn validate_common(&self) -> Result<(), ClusterError> {
        if let ObservationKind::Park { high } = self.observation
            && !(high.is_finite() && high > 0.0)
        {
            return Err(invalid("observation.high", high, "a finite value > 0"));
        }
        if self.max_decisions == Some(0) {
            return Err(invalid("max_decisions", 0, "at least 1, or unset"));
        }
        Ok(())
    }

    /// Every tenant must have an allowed node that can hold the largest task it may generate,
    /// or the simulation could never place it.
    fn validate_fit(&self) -> Result<(), ClusterError> {
        // A drawn cluster has at least each group's smallest count: if the smallest draw can hold
        // every task, so can every draw.
        let fewest: Vec<usize> = self.nodes.iter().map(|g| g.count.lo()).collect();
        let caps = self.with_counts(&fewest).node_capacities();
        let max_demand = self.workload.demand.max_demand(self.resources.len());
        let tenants = self.workload.tenants.iter().map(|t| (t.name.as_str(), t.nodes.clone()));
        let all: Vec<_> = if self.workload.tenants.is_empty() { vec![("default", None)] } else { tenants.collect() };
        for (name, nodes) in all {
            let allowed: Vec<usize> = nodes.unwrap_or_else(|| (0..caps.len()).collect());
            let fits = allowed.iter().any(|&n| caps[n].iter().zip(&max_demand).all(|(c, d)| d <= c));
            // Replayed tasks were checked against the nodes when read (or dropped).
            if !fits && self.workload.trace.is_none() && self.workload.openb.is_none() {
                return Err(invalid(
                    "workload.demand",
                    format!("max demand {max_demand:?}"),
                    format!("demands that fit at least one node tenant {name:?} may use"),
                ));
            }
        }
        Ok(())
    }

    /// Capacity vector of every node, in node order (each group at its largest count).
    pub fn node_capacities(&self) -> Vec<Vec<f64>> {
        self.nodes.iter().flat_map(|g| std::iter::repeat_n(g.capacity.clone(), g.count.hi())).collect()
    }

    /// Speed of every node, in node order (each group at its largest count).
    pub fn node_speeds(&self) -> Vec<f64> {
        self.nodes.iter().flat_map(|g| std::iter::repeat_n(g.speed, g.count.hi())).collect()
    }
}

impl WorkloadConfig {
    fn validate(&self, r: usize, n_nodes: usize) -> Result<(), ClusterError> {
        if self.trace.is_none() && self.n_tasks == 0 {
            return Err(invalid("workload.n_tasks", 0, "at least 1"));
        }
        if self.n_tasks > MAX_TASKS {
            return Err(invalid("workload.n_tasks", self.n_tasks, format!("at most {MAX_TASKS}")));
        }
        if self.priorities.len() > MAX_CLASSES {
            return Err(invalid(
                "workload.priorities",
                format!("{} classes", self.priorities.len()),
                format!("at most {MAX_CLASSES} classes"),
            ));
        }
        if self.tenants.len() > MAX_CLASSES {
            return Err(invalid(
                "workload.tenants",
                format!("{} tenants", self.tenants.len()),
                format!("at most {MAX_CLASSES} tenants"),
            ));
        }
        if self.tenants.len().max(1).saturating_mul(n_nodes) > MAX_TENANT_NODE_PAIRS {
            return Err(invalid(
                "workload.tenants",
                format!("{} tenants × {n_nodes} nodes", self.tenants.len()),
                format!("at most {MAX_TENANT_NODE_PAIRS} tenant-node pairs"),
            ));
        }
        let pos = |field: &str, v: f64| {
            if v.is_finite() && v > 0.0 { Ok(()) } else { Err(invalid(field, v, "a finite value > 0")) }
        };
        match &self.arrivals {
            Arrivals::Poisson { rate } => pos("workload.arrivals.rate", *rate)?,
            Arrivals::PoissonLoad { load } => pos("workload.arrivals.load", *load)?,
            Arrivals::Mmpp { rates, mean_sojourn } => {
                for i in 0..2 {
                    pos(&format!("workload.arrivals.rates[{i}]"), rates[i])?;
                    pos(&format!("workload.arrivals.mean_sojourn[{i}]"), mean_sojourn[i])?;
                }
            }
            Arrivals::Diurnal { mean_rate, amplitude, period } => {
                pos("workload.arrivals.mean_rate", *mean_rate)?;
                pos("workload.arrivals.period", *period)?;
                if !(0.0..=1.0).contains(amplitude) {
                    return Err(invalid("workload.arrivals.amplitude", amplitude, "a value in [0, 1]"));
                }
            }
            Arrivals::Batch => {}
        }
        match &self.size {
            SizeDist::Pareto { shape, scale } => {
                pos("workload.size.shape", *shape)?;
                pos("workload.size.scale", *scale)?;
            }
            SizeDist::Exponential { mean } => pos("workload.size.mean", *mean)?,
            SizeDist::Uniform { low, high } => {
                pos("workload.size.low", *low)?;
                if !(high.is_finite() && high >= low) {
                    return Err(invalid("workload.size.high", high, format!("a finite value >= low ({low})")));
                }
            }
            SizeDist::Bimodal { short, long, p_long } => {
                range_ok("workload.size.short", short, true)?;
                range_ok("workload.size.long", long, true)?;
                if !(0.0..=1.0).contains(p_long) {
                    return Err(invalid("workload.size.p_long", p_long, "a probability in [0, 1]"));
                }
            }
            SizeDist::LogNormal { mu, sigma } => {
                if !mu.is_finite() {
                    return Err(invalid("workload.size.mu", mu, "a finite value"));
                }
                if !(sigma.is_finite() && *sigma >= 0.0) {
                    return Err(invalid("workload.size.sigma", sigma, "a finite value >= 0"));
                }
            }
        }
        match &self.demand {
            DemandConfig::Ranges { ranges } => {
                if ranges.len() != r {
                    return Err(invalid(
                        "workload.demand.ranges",
                        ranges.len(),
                        format!("one range per resource ({r})"),
                    ));
                }
                for (i, rg) in ranges.iter().enumerate() {
                    range_ok(&format!("workload.demand.ranges[{i}]"), rg, false)?;
                }
            }
            DemandConfig::Dominant { dominant, other, unit } => {
                range_ok("workload.demand.dominant", dominant, false)?;
                range_ok("workload.demand.other", other, false)?;
                if unit.len() != r {
                    return Err(invalid("workload.demand.unit", unit.len(), format!("one unit per resource ({r})")));
                }
                for (i, u) in unit.iter().enumerate() {
                    pos(&format!("workload.demand.unit[{i}]"), *u)?;
                }
            }
        }
        probs_ok("workload.priorities", self.priorities.iter().map(|p| p.prob))?;
        for (i, p) in self.priorities.iter().enumerate() {
            pos(&format!("workload.priorities[{i}].weight"), p.weight)?;
        }
        if !self.tenants.is_empty() {
            probs_ok("workload.tenants", self.tenants.iter().map(|t| t.prob))?;
        }
        for (i, t) in self.tenants.iter().enumerate() {
            if let Some(nodes) = &t.nodes {
                if nodes.is_empty() {
                    return Err(invalid(format!("workload.tenants[{i}].nodes"), "[]", "at least one node index"));
                }
                if let Some(bad) = nodes.iter().find(|&&n| n >= n_nodes) {
                    return Err(invalid(
                        format!("workload.tenants[{i}].nodes"),
                        bad,
                        format!("node indices in 0..{n_nodes}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl DemandConfig {
    /// Largest demand per resource that this configuration can generate.
    pub fn max_demand(&self, r: usize) -> Vec<f64> {
        match self {
            DemandConfig::Ranges { ranges } => ranges.iter().map(|rg| rg[1]).collect(),
            DemandConfig::Dominant { dominant, other, unit } => {
                (0..r).map(|i| unit.get(i).copied().unwrap_or(0.0) * dominant[1].max(other[1])).collect()
            }
        }
    }
}

impl FailureConfig {
    fn validate(&self, n_nodes: usize) -> Result<(), ClusterError> {
        match (self.mtbf, self.mttr) {
            (Some(b), Some(r)) => {
                if !(b.is_finite() && b > 0.0) {
                    return Err(invalid("failures.mtbf", b, "a finite value > 0"));
                }
                if !(r.is_finite() && r > 0.0) {
                    return Err(invalid("failures.mttr", r, "a finite value > 0"));
                }
            }
            (Some(_), None) => return Err(invalid("failures.mttr", "unset", "a repair time when mtbf is set")),
            (None, Some(r)) => {
                return Err(invalid("failures.mttr", r, "unset unless mtbf is set (random failures need both)"));
            }
            _ => {}
        }
        for (i, s) in self.scheduled.iter().enumerate() {
            if s.node >= n_nodes {
                return Err(invalid(
                    format!("failures.scheduled[{i}].node"),
                    s.node,
                    format!("a node index in 0..{n_nodes}"),
                ));
            }
            if !(s.at.is_finite() && s.at >= 0.0) {
                return Err(invalid(format!("failures.scheduled[{i}].at"), s.at, "a finite time >= 0"));
            }
            if !(s.duration.is_finite() && s.duration > 0.0) {
                return Err(invalid(format!("failures.scheduled[{i}].duration"), s.duration, "a finite duration > 0"));
            }
        }
        Ok(())
    }
}

fn range_ok(field: &str, rg: &[f64; 2], strictly_positive: bool) -> Result<(), ClusterError> {
    let lo_ok = if strictly_positive { rg[0] > 0.0 } else { rg[0] >= 0.0 };
    if !(rg[0].is_finite() && rg[1].is_finite() && lo_ok && rg[1] >= rg[0]) {
        let lo = if strictly_positive { "0 < low" } else { "0 <= low" };
        return Err(invalid(field, format!("{rg:?}"), format!("[low, high] with {lo} <= high, finite")));
    }
    Ok(())
}

fn probs_ok(field: &str, probs: impl Iterator<Item = f64>) -> Result<(), ClusterError> {
    let probs: Vec<f64> = probs.collect();
    if probs.is_empty() {
        return Err(invalid(field, "[]", "at least one entry"));
    }
    if probs.iter().any(|p| !(p.is_finite() && *p >= 0.0)) {
        return Err(invalid(field, format!("{probs:?}"), "probabilities >= 0"));
    }
    let sum: f64 = probs.iter().sum();
    if (sum - 1.0).abs() > 1e-6 {
        return Err(invalid(field, format!("probabilities summing to {sum}"), "probabilities summing to 1"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Validation errors name the offending field; unknown fields are rejected.

    use super::*;
    use crate::scenarios;

    /// The field named by `cfg.validate()`'s error (which must be an `InvalidConfig`).
    fn bad_field(cfg: &ScenarioConfig) -> (String, String) {
        match cfg.validate() {
            Err(ClusterError::InvalidConfig { field, value, .. }) => (field, value),
            other => panic!("expected an invalid-config error, got {other:?}"),
        }
    }

    fn field(cfg: &ScenarioConfig) -> String {
        bad_field(cfg).0
    }

    #[test]
    fn presets_are_valid() {
        for name in scenarios::NAMES {
            scenarios::preset(name).unwrap().validate().unwrap();
        }
    }

    #[test]
    fn node_errors_name_the_field() {
        let base = scenarios::seed_case();
        let mut c = base.clone();
        c.nodes.clear();
        assert_eq!(bad_field(&c), ("nodes".into(), "0".into()));
        let mut c = base.clone();
        c.nodes.iter_mut().for_each(|g| g.count = 0.into());
        assert_eq!(field(&c), "nodes");
        let mut c = base.clone();
        c.nodes[3].speed = -1.0;
        assert_eq!(bad_field(&c), ("nodes[3].speed".into(), "-1".into()));
        c.nodes[3].speed = f64::NAN;
        assert_eq!(field(&c), "nodes[3].speed");
        let mut c = base.clone();
        c.nodes[1].capacity = vec![8.0, 16.0];
        let err = c.validate().unwrap_err();
        assert_eq!(
            err,
            ClusterError::InvalidConfig {
                field: "nodes[1].capacity".into(),
                value: "[8.0, 16.0]".into(),
                allowed: "one capacity per resource (3)".into()
            }
        );
        assert_eq!(err.to_string(), "scenario config: nodes[1].capacity = [8.0, 16.0]: one capacity per resource (3)");
        let mut c = base.clone();
        c.nodes[2].capacity[1] = -1.0;
        assert_eq!(field(&c), "nodes[2].capacity");
        // A resource the node does not have is fine; having none at all is not.
        let mut c = base.clone();
        c.nodes[0].capacity[2] = 0.0;
        c.validate().unwrap();
        c.nodes[2].capacity = vec![0.0; 3];
        assert_eq!(bad_field(&c), ("nodes[2].capacity".into(), "[0.0, 0.0, 0.0]".into()));
        let mut c = base.clone();
        c.resources.clear();
        assert_eq!(field(&c), "resources");
    }

    #[test]
    fn workload_errors_name_the_field() {
        let base = scenarios::seed_case();
        let mut c = base.clone();
        c.workload.priorities[0].prob = 0.75;
        assert_eq!(bad_field(&c), ("workload.priorities".into(), "probabilities summing to 1.25".into()));
        c.workload.priorities[0].prob = -0.5;
        assert_eq!(field(&c), "workload.priorities");
        // Within 1e-6 of 1 is accepted (probabilities written with rounding).
        c.workload.priorities[0].prob = 0.5 + 5e-7;
        c.validate().unwrap();
        let mut c = base.clone();
        c.workload.tenants[1].prob = 0.1;
        assert_eq!(field(&c), "workload.tenants");
        let mut c = base.clone();
        c.workload.tenants[1].nodes = Some(vec![2, 10]);
        assert_eq!(bad_field(&c), ("workload.tenants[1].nodes".into(), "10".into()));
        c.workload.tenants[1].nodes = Some(vec![]);
        assert_eq!(field(&c), "workload.tenants[1].nodes");
        let mut c = base.clone();
        c.workload.priorities[2].weight = 0.0;
        assert_eq!(field(&c), "workload.priorities[2].weight");
        let mut c = base.clone();
        c.workload.n_tasks = 0;
        assert_eq!(field(&c), "workload.n_tasks");
        let mut c = base.clone();
        c.workload.demand = DemandConfig::Ranges { ranges: vec![[1.0, 2.0]; 2] };
        assert_eq!(field(&c), "workload.demand.ranges");
        c.workload.demand = DemandConfig::Ranges { ranges: vec![[1.0, 2.0], [3.0, 2.0], [0.0, 1.0]] };
        assert_eq!(field(&c), "workload.demand.ranges[1]");
        // Memory 300 fits no node at all.
        c.workload.demand = DemandConfig::Ranges { ranges: vec![[1.0, 2.0], [1.0, 300.0], [0.0, 1.0]] };
        assert_eq!(field(&c), "workload.demand");
        // Memory 200 fits nodes 4-5 only: fine for everyone (secure may use 4-5) ...
        c.workload.demand = DemandConfig::Ranges { ranges: vec![[1.0, 2.0], [1.0, 200.0], [0.0, 1.0]] };
        c.validate().unwrap();
        // ... until secure loses them.
        c.workload.tenants[1].nodes = Some(vec![2, 3]);
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("tenant \"secure\""), "{err}");
        let cases: Vec<(Arrivals, &str)> = vec![
            (Arrivals::Poisson { rate: 0.0 }, "workload.arrivals.rate"),
            (Arrivals::PoissonLoad { load: -0.5 }, "workload.arrivals.load"),
            (Arrivals::Mmpp { rates: [1.0, 0.0], mean_sojourn: [1.0, 1.0] }, "workload.arrivals.rates[1]"),
            (
                Arrivals::Mmpp { rates: [1.0, 1.0], mean_sojourn: [f64::INFINITY, 1.0] },
                "workload.arrivals.mean_sojourn[0]",
            ),
            (Arrivals::Diurnal { mean_rate: 1.0, amplitude: 1.5, period: 10.0 }, "workload.arrivals.amplitude"),
            (Arrivals::Diurnal { mean_rate: 1.0, amplitude: 0.5, period: 0.0 }, "workload.arrivals.period"),
        ];
        for (arrivals, want) in cases {
            let mut c = base.clone();
            c.workload.arrivals = arrivals;
            assert_eq!(field(&c), want);
        }
        let cases: Vec<(SizeDist, &str)> = vec![
            (SizeDist::Pareto { shape: 0.0, scale: 1.0 }, "workload.size.shape"),
            (SizeDist::Exponential { mean: -1.0 }, "workload.size.mean"),
            (SizeDist::Uniform { low: 5.0, high: 2.0 }, "workload.size.high"),
            (SizeDist::Bimodal { short: [0.0, 1.0], long: [5.0, 6.0], p_long: 0.5 }, "workload.size.short"),
            (SizeDist::Bimodal { short: [1.0, 2.0], long: [5.0, 6.0], p_long: 1.5 }, "workload.size.p_long"),
            (SizeDist::LogNormal { mu: 0.0, sigma: -1.0 }, "workload.size.sigma"),
        ];
        for (size, want) in cases {
            let mut c = base.clone();
            c.workload.size = size;
            assert_eq!(field(&c), want);
        }
    }

    #[test]
    fn failure_and_other_errors_name_the_field() {
        let base = scenarios::seed_case();
        let mut c = base.clone();
        c.failures.mtbf = Some(100.0);
        assert_eq!(bad_field(&c), ("failures.mttr".into(), "unset".into()));
        c.failures.mttr = Some(0.0);
        assert_eq!(field(&c), "failures.mttr");
        c.failures.mtbf = Some(-1.0);
        assert_eq!(field(&c), "failures.mtbf");
        // A repair time alone would silently do nothing.
        let mut c = base.clone();
        c.failures.mttr = Some(5.0);
        assert_eq!(bad_field(&c), ("failures.mttr".into(), "5".into()));
        let mut c = base.clone();
        c.failures.scheduled = vec![ScheduledFailure { node: 10, at: 1.0, duration: 1.0 }];
        assert_eq!(bad_field(&c), ("failures.scheduled[0].node".into(), "10".into()));
        c.failures.scheduled = vec![
            ScheduledFailure { node: 0, at: 1.0, duration: 1.0 },
            ScheduledFailure { node: 0, at: 1.0, duration: 0.0 },
        ];
        assert_eq!(field(&c), "failures.scheduled[1].duration");
        c.failures.scheduled[1] = ScheduledFailure { node: 0, at: -1.0, duration: 1.0 };
        assert_eq!(field(&c), "failures.scheduled[1].at");
        let mut c = base.clone();
        c.observation = ObservationKind::Park { high: 0.0 };
        assert_eq!(field(&c), "observation.high");
        let mut c = base.clone();
        c.max_decisions = Some(0);
        assert_eq!(field(&c), "max_decisions");
        // Construction validates too.
        let mut c = base;
        c.nodes[0].speed = 0.0;
        assert_eq!(
            crate::Simulator::new(&c).unwrap_err(),
            crate::ClusterEnv::new(&c).map(|_| ()).unwrap_err(),
            "env and simulator report the same error"
        );
    }

    /// Sizes that would allocate per node or per task are bounded before anything is built: a
    /// typo in a count is a typed error naming the field, never an allocation failure (which
    /// aborts the process). Each case goes through the simulator's and the env's constructors.
    #[test]
    fn huge_sizes_are_errors_before_anything_is_allocated() {
        let base = scenarios::seed_case();
        let check = |c: &ScenarioConfig, want: (&str, &str)| {
            assert_eq!(bad_field(c), (want.0.to_string(), want.1.to_string()));
            let err = crate::Simulator::new(c).unwrap_err();
            assert!(matches!(&err, ClusterError::InvalidConfig { field, .. } if field == want.0), "{err}");
            assert!(crate::ClusterEnv::new(c).is_err());
        };
        let mut c = base.clone();
        c.nodes[0].count = 10_000_000_000.into();
        check(&c, ("nodes[0].count", "10000000000"));
        // Groups each within the bound, together above it.
        let mut c = base.clone();
        c.nodes.iter_mut().for_each(|g| g.count = (MAX_NODES / 2).into());
        check(&c, ("nodes", &(c.nodes.len() * (MAX_NODES / 2)).to_string()));
        // A sum that overflows usize neither panics nor wraps to a small count.
        let mut c = base.clone();
        c.nodes[0].count = usize::MAX.into();
        c.nodes[1].count = usize::MAX.into();
        assert_eq!(c.n_nodes(), usize::MAX);
        check(&c, ("nodes[0].count", &usize::MAX.to_string()));
        c.nodes[0].count = MAX_NODES.into();
        c.nodes[1].count = MAX_NODES.into();
        assert_eq!(field(&c), "nodes");
        let mut c = base.clone();
        c.workload.n_tasks = 1_000_000_000_000;
        check(&c, ("workload.n_tasks", "1000000000000"));
        // The largest sizes allowed are accepted.
        let mut c = base.clone();
        c.workload.n_tasks = MAX_TASKS;
        c.validate().unwrap();
        let mut c = base.clone();
        let unused = TenantConfig { name: "unused".into(), prob: 0.0, nodes: None };
        c.workload.tenants.extend(vec![unused; MAX_CLASSES - 1]);
        check(&c, ("workload.tenants", &format!("{} tenants", MAX_CLASSES + 1)));
        c.workload.tenants.truncate(MAX_CLASSES);
        // 65536 tenants × 10 nodes is within the permission table's bound.
        c.validate().unwrap();
        c.nodes[0].count = (MAX_TENANT_NODE_PAIRS / MAX_CLASSES).into();
        check(&c, ("workload.tenants", &format!("{MAX_CLASSES} tenants × {} nodes", c.n_nodes())));
        // A million nodes of 400 resources: 4·10^8 values (before, validation alone allocated
        // them, 3 GB). 16 resources of a million nodes are within the bound.
        let mut c = base.clone();
        c.resources = (0..400).map(|i| format!("r{i}")).collect();
        c.nodes = vec![NodeGroup { count: MAX_NODES.into(), capacity: vec![1.0; 400], speed: 1.0 }];
        check(&c, ("resources", &format!("400 resources × {MAX_NODES} nodes")));
        c.resources.truncate(16);
        c.nodes[0].capacity.truncate(16);
        assert_ne!(field(&c), "resources");
        let mut c = base;
        let class = PriorityClass { name: "none".into(), weight: 1.0, prob: 0.0 };
        c.workload.priorities.extend(vec![class; MAX_CLASSES]);
        check(&c, ("workload.priorities", &format!("{} classes", MAX_CLASSES + 3)));
    }

    #[test]
    fn json_round_trip_and_unknown_fields_are_rejected() {
        let cfg = scenarios::seed_case();
        let json = serde_json::to_value(&cfg).unwrap();
        assert_eq!(json["workload"]["arrivals"], serde_json::json!({"kind": "poisson", "rate": 2.0}));
        assert_eq!(json["reward"], "weighted-jct");
        let back: ScenarioConfig = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, cfg);
        let mut unweighted = json.clone();
        unweighted["reward"] = "attributed-unweighted-jct".into();
        let back: ScenarioConfig = serde_json::from_value(unweighted).unwrap();
        assert_eq!(back.reward, RewardKind::AttributedUnweightedJct);
        let reject = |path: &[&str], key: &str| {
            let mut j = json.clone();
            let mut obj = &mut j;
            for p in path {
                obj = match p.parse::<usize>() {
                    Ok(i) => &mut obj[i],
                    Err(_) => &mut obj[*p],
                };
            }
            obj.as_object_mut().unwrap().insert(key.into(), serde_json::json!(1));
            let err = serde_json::from_value::<ScenarioConfig>(j).unwrap_err().to_string();
            assert!(err.contains(&format!("unknown field `{key}`")), "{path:?}: {err}");
        };
        reject(&[], "extra");
        reject(&["nodes", "0"], "cores");
        reject(&["workload"], "n_jobs");
        reject(&["workload", "arrivals"], "burst");
        reject(&["workload", "size"], "alpha");
        reject(&["workload", "demand"], "gpu");
        reject(&["workload", "priorities", "0"], "colour");
        reject(&["workload", "tenants", "1"], "quota");
        let mut j = json.clone();
        j["failures"] = serde_json::json!({"mtbf": 10.0, "mttr": 1.0, "mtt": 3});
        assert!(serde_json::from_value::<ScenarioConfig>(j).is_err());
        let mut j = json.clone();
        j["observation"] = serde_json::json!({"kind": "park", "high": 5.0, "low": 0.0});
        assert!(serde_json::from_value::<ScenarioConfig>(j).is_err());
        // Defaults: a minimal config fills failures, reward, observation, priorities, tenants.
        let minimal = serde_json::json!({
            "name": "mini",
            "resources": ["slot"],
            "nodes": [{"capacity": [1.0], "speed": 2.0}],
            "workload": {
                "n_tasks": 5,
                "arrivals": {"kind": "batch"},
                "size": {"kind": "exponential", "mean": 1.0},
                "demand": {"kind": "ranges", "ranges": [[1.0, 1.0]]}
            }
        });
        let c: ScenarioConfig = serde_json::from_value(minimal).unwrap();
        assert_eq!(c.nodes[0].count, NodeCount::Fixed(1));
        assert_eq!(c.failures, FailureConfig::default());
        assert_eq!(c.reward, RewardKind::WeightedJct);
        assert_eq!(c.observation, ObservationKind::Full);
        // The scalable kind's options default to off; unknown options are refused.
        let kind = |v: serde_json::Value| serde_json::from_value::<ObservationKind>(v);
        assert_eq!(
            kind(serde_json::json!({"kind": "scalable"})).unwrap(),
            ObservationKind::Scalable { packing: false, completion: false }
        );
        assert_eq!(
            kind(serde_json::json!({"kind": "scalable", "packing": true})).unwrap(),
            ObservationKind::Scalable { packing: true, completion: false }
        );
        assert_eq!(
            kind(serde_json::json!({"kind": "scalable", "completion": true})).unwrap(),
            ObservationKind::Scalable { packing: false, completion: true }
        );
        assert!(kind(serde_json::json!({"kind": "scalable", "pack": true})).is_err());
        assert_eq!(c.workload.priorities.len(), 1);
        assert!(!c.integer_time && c.max_decisions.is_none() && c.workload.tenants.is_empty());
        c.validate().unwrap();
    }

    #[test]
    fn node_lists_expand_groups_in_order() {
        let c = scenarios::seed_case();
        assert_eq!(c.n_nodes(), 10);
        assert_eq!(c.node_speeds(), [1.0, 1.0, 2.5, 2.5, 1.2, 1.2, 1.5, 1.5, 1.0, 1.0]);
        assert_eq!(c.node_capacities()[5], [16.0, 256.0, 20.0]);
        assert_eq!(
            DemandConfig::Dominant { dominant: [0.25, 0.5], other: [0.05, 0.6], unit: vec![8.0, 4.0] }.max_demand(2),
            [4.8, 2.4]
        );
    }
}
