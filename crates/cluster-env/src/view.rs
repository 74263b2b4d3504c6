//! The structured view of the simulator that heuristics read (instead of the flat observation).

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
        self.queued == 0 && self.capacity.iter().zip(self.used).zip(demand).all(|((c, u), d)| u + d <= c + 1e-9)
    }

    /// Mean over resources of used / capacity.
    pub fn utilisation(&self) -> f64 {
        self.capacity.iter().zip(self.used).map(|(c, u)| u / c).sum::<f64>() / self.capacity.len() as f64
    }
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

impl<'a> ClusterView<'a> {
    pub(crate) fn new(sim: &'a Simulator) -> Self {
        Self { sim }
    }

    /// Current simulated time.
    pub fn now(&self) -> f64 {
        self.sim.now
    }

    /// Number of nodes (= number of actions).
    pub fn n_nodes(&self) -> usize {
        self.sim.c.n_nodes
    }

    /// Number of resources.
    pub fn n_resources(&self) -> usize {
        self.sim.c.n_res
    }

    /// Node `i`. Panics if `i >= n_nodes()` (an indexing bug in the caller).
    pub fn node(&self, i: usize) -> NodeView<'a> {
        let n = &self.sim.nodes[i];
        NodeView {
            index: i,
            capacity: self.sim.node_capacity(i),
            used: self.sim.node_used(i),
            speed: self.sim.c.speed[i],
            up: n.up,
            queued: n.queue.len(),
            running: n.running.len(),
            queued_work: n.queued_work,
            outstanding_work: self.sim.outstanding_work(i),
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
        let t = &self.sim.tasks[id as usize];
        let r = self.sim.c.n_res;
        Some(TaskView {
            id,
            arrival: t.arrival,
            work: t.work,
            demand: &self.sim.demand[id as usize * r..(id as usize + 1) * r],
            class: t.class,
            weight: self.sim.c.weights[t.class as usize],
            tenant: t.tenant,
            retries: t.retries,
        })
    }

    /// Whether tenant `tenant` may place tasks on node `node` (the scenario's placement
    /// constraint, whatever the node's state). Panics if either index is out of range.
    pub fn tenant_allows(&self, tenant: u16, node: usize) -> bool {
        let n = self.sim.c.n_nodes;
        assert!(node < n, "node {node} out of range 0..{n}");
        self.sim.c.allowed[usize::from(tenant) * n + node]
    }

    /// Which nodes may take the current task.
    pub fn mask(&self) -> &'a [bool] {
        self.sim.mask()
    }

    /// Writes the flat observation of this state (the learned policy's input) into `out`, which
    /// must have length [`crate::obs::obs_dim`] for the scenario.
    pub fn observation(&self, out: &mut [f32]) {
        crate::obs::encode(self.sim, out);
    }

    /// Length of the flat observation.
    pub fn obs_dim(&self) -> usize {
        crate::obs::obs_dim(&self.sim.c)
    }

    /// The simulator behind the view.
    pub fn simulator(&self) -> &'a Simulator {
        self.sim
    }
}
