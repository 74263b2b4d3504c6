//! [`ClusterView`]: the read-only state of the simulator at a decision, the one way the rest of
//! the crate and every scheduler (heuristic or learned) reads the cluster. It also feeds the
//! observation encoder ([`policy_core::ClusterRead`]), so the learned policies' input is built
//! from exactly what the heuristics see.

use policy_core::{ClusterRead, NodeFeatures, TaskFeatures};

use crate::engine::Simulator;

/// A read-only view of the cluster at a decision.
#[derive(Debug, Clone, Copy)]
pub struct ClusterView<'a> {
    sim: &'a Simulator,
}

/// One node as a scheduler sees it.
#[derive(Debug, Clone, Copy)]
pub struct NodeView<'a> {
    /// Node index (the action that places a task here).
    pub index: usize,
    /// Capacity per resource.
    pub capacity: &'a [f64],
    /// Resources in use per resource by running tasks.
    pub used: &'a [f64],
    /// Work units per time unit.
    pub speed: f64,
    /// Whether the node is up.
    pub up: bool,
    /// Tasks waiting in the node's FIFO queue.
    pub queued: usize,
    /// Tasks running on the node.
    pub running: usize,
    /// Work units of the tasks waiting in the node's queue (the rest of `outstanding_work` is
    /// the remaining work of running tasks).
    pub queued_work: f64,
    /// Queued work plus remaining work of running tasks (Park's "load"), work units.
    pub outstanding_work: f64,
    /// Σ over running tasks of the time until they finish (Park's observation adds this to the
    /// queued work).
    pub remaining_time: f64,
}

impl NodeView<'_> {
    /// Tasks on the node (queued + running).
    pub fn tasks_in_system(&self) -> usize {
        self.queued + self.running
    }

    /// Time to drain the node's outstanding work: outstanding work / speed.
    pub fn outstanding_time(&self) -> f64 {
        self.outstanding_work / self.speed
    }

    /// Whether `demand` fits in the node's free capacity right now (and nothing is queued ahead
    /// of it, since queues are FIFO).
    pub fn fits_now(&self, demand: &[f64]) -> bool {
        self.queued == 0
            && self.capacity.iter().zip(self.used).zip(demand).all(|((c, u), d)| u + d <= c + policy_core::FIT_EPS)
    }

    /// Mean over the resources the node has (capacity > 0) of used / capacity.
    pub fn utilisation(&self) -> f64 {
        mean_share(self.used, self.capacity)
    }
}

/// `used / capacity`, or 0 for a resource the node does not have (capacity ≤ 0: a CPU-only
/// node's GPUs), where the ratio is undefined and nothing can be in use.
pub(crate) fn share(used: f64, capacity: f64) -> f64 {
    if capacity > 0.0 { used / capacity } else { 0.0 }
}

/// Mean of [`share`] over the resources with capacity > 0: a CPU-only node whose CPU and memory
/// are full is fully used, not two-thirds used. 0 when no capacity is positive.
pub(crate) fn mean_share(used: &[f64], capacity: &[f64]) -> f64 {
    let (sum, n) =
        used.iter().zip(capacity).filter(|(_, c)| **c > 0.0).fold((0.0, 0usize), |(s, n), (u, c)| (s + u / c, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// The task awaiting a decision.
#[derive(Debug, Clone, Copy)]
pub struct TaskView<'a> {
    /// Task id (arrival order within the episode).
    pub id: u32,
    /// Arrival time.
    pub arrival: f64,
    /// Work units; runtime on a node is work / speed.
    pub work: f64,
    /// Demand per resource.
    pub demand: &'a [f64],
    /// Priority class index.
    pub class: u16,
    /// Priority weight of the class.
    pub weight: f64,
    /// Tenant index.
    pub tenant: u16,
    /// Times this task was re-submitted after a node failure.
    pub retries: u32,
}

impl Simulator {
    /// The structured state schedulers read.
    pub fn view(&self) -> ClusterView<'_> {
        ClusterView { sim: self }
    }
}

impl<'a> ClusterView<'a> {
    /// Current simulated time.
    pub fn now(&self) -> f64 {
        self.sim.now()
    }

    /// Number of nodes of this episode. For a scenario whose cluster is drawn per episode, the
    /// action space (and [`ClusterView::mask`]) may be longer: the slots after the real nodes are
    /// padding, always masked; otherwise this is the number of actions.
    pub fn n_nodes(&self) -> usize {
        self.sim.episode_nodes()
    }

    /// Number of resources.
    pub fn n_resources(&self) -> usize {
        self.sim.compiled().n_resources()
    }

    /// Node `i`. Panics if `i >= n_nodes()` (an indexing bug in the caller).
    pub fn node(&self, i: usize) -> NodeView<'a> {
        let load = self.sim.node_load(i);
        NodeView {
            index: i,
            capacity: self.sim.node_capacity(i),
            used: self.sim.node_used(i),
            speed: self.sim.node_speed(i),
            up: load.up,
            queued: load.queued,
            running: load.running,
            queued_work: load.queued_work,
            outstanding_work: load.outstanding_work,
            remaining_time: load.remaining_time,
        }
    }

    /// All nodes in index order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeView<'a>> + '_ {
        (0..self.n_nodes()).map(|i| self.node(i))
    }

    /// Valid nodes for the current task, in index order.
    pub fn valid_nodes(&self) -> impl Iterator<Item = NodeView<'a>> + '_ {
        self.sim.mask().iter().enumerate().filter(|(_, ok)| **ok).map(|(i, _)| self.node(i))
    }

    /// The task to place (None once the episode is done).
    pub fn task(&self) -> Option<TaskView<'a>> {
        let id = self.sim.current_task()?;
        let (t, demand) = self.sim.task_record(id);
        Some(TaskView {
            id,
            arrival: t.arrival,
            work: t.work,
            demand,
            class: t.class,
            weight: self.sim.compiled().weights[t.class as usize],
            tenant: t.tenant,
            retries: t.retries,
        })
    }

    /// Whether tenant `tenant` may place tasks on node `node` (the scenario's placement
    /// constraint, whatever the node's state). Panics if either index is out of range.
    pub fn tenant_allows(&self, tenant: u16, node: usize) -> bool {
        let n = self.n_nodes();
        assert!(node < n, "node {node} out of range 0..{n}");
        self.sim.compiled().tenant_allows(tenant, node)
    }

    /// Which nodes may take the current task.
    pub fn mask(&self) -> &'a [bool] {
        self.sim.mask()
    }

    /// Writes the flat observation of this state (the learned policy's input) into `out`, which
    /// must have length [`ClusterView::obs_dim`]: the episode's nodes, then all-zero rows for
    /// padded slots, then the task.
    pub fn observation(&self, out: &mut [f32]) {
        self.sim.compiled().observation_layout().encode_padded(self, out);
    }

    /// Length of the flat observation.
    pub fn obs_dim(&self) -> usize {
        self.sim.compiled().observation_layout().obs_dim()
    }

    /// The simulator behind the view.
    pub fn simulator(&self) -> &'a Simulator {
        self.sim
    }
}

impl ClusterRead for ClusterView<'_> {
    fn n_nodes(&self) -> usize {
        ClusterView::n_nodes(self)
    }

    fn node(&self, i: usize) -> NodeFeatures<'_> {
        let n = ClusterView::node(self, i);
        NodeFeatures {
            capacity: n.capacity,
            used: n.used,
            speed: n.speed,
            up: n.up,
            tasks: n.tasks_in_system(),
            outstanding_work: n.outstanding_work,
            queued_work: n.queued_work,
            remaining_time: n.remaining_time,
        }
    }

    fn task(&self) -> Option<TaskFeatures<'_>> {
        ClusterView::task(self).map(|t| TaskFeatures { demand: t.demand, work: t.work, weight: t.weight })
    }
}
