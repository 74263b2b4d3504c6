//! The discrete-event engine. The agent decides at each task arrival (and at each re-submission
//! after a node failure): a semi-MDP whose steps are decisions, not clock ticks.
//!
//! Events are ordered by `(time, class, seq)`: at equal times arrivals come before completions
//! (as in Park, where all arrivals are queued before any completion), and otherwise events fire
//! in the order they were scheduled, so ties are deterministic. Buffers are reused across
//! episodes: in steady state no event allocates.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1};

use crate::config::{RewardKind, ScenarioConfig};
use crate::error::ClusterError;
use crate::metrics::{EpisodeMetrics, MetricsAcc};
use crate::view::ClusterView;
use crate::workload::{Workload, WorkloadGen};

/// Tolerance for "demand fits": demands summed in floating point may overshoot by rounding.
const FIT_EPS: f64 = 1e-9;

/// Random streams of an episode, derived from its seed (ChaCha stream ids).
const STREAM_WORKLOAD: u64 = 1;
const STREAM_FAILURES: u64 = 2;

/// The compiled, immutable part of a scenario, shared by every simulator built from it.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub cfg: ScenarioConfig,
    pub n_nodes: usize,
    pub n_res: usize,
    /// `[n_nodes * n_res]` capacities.
    pub capacity: Vec<f64>,
    pub speed: Vec<f64>,
    pub max_speed: f64,
    /// Largest capacity of each resource over nodes (demand normalisation).
    pub max_capacity: Vec<f64>,
    /// `[n_tenants * n_nodes]`: may tenant t use node n.
    pub allowed: Vec<bool>,
    pub weights: Vec<f64>,
    pub workload: Workload,
    /// Typical runtime (mean work / mean speed): the time unit of normalised observations.
    pub time_scale: f64,
    /// Mean task size, work units (size normalisation).
    pub mean_work: f64,
    /// Largest priority weight (priority normalisation).
    pub max_weight: f64,
}

impl Compiled {
    pub fn new(cfg: &ScenarioConfig) -> Result<Self, ClusterError> {
        cfg.validate()?;
        let n_nodes = cfg.n_nodes();
        let n_res = cfg.resources.len();
        let capacity: Vec<f64> = cfg.node_capacities().concat();
        let speed = cfg.node_speeds();
        let max_speed = speed.iter().copied().fold(0.0, f64::max);
        let max_capacity =
            (0..n_res).map(|r| (0..n_nodes).map(|n| capacity[n * n_res + r]).fold(0.0, f64::max)).collect();
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
        let workload = Workload::new(cfg)?;
        let mean_speed = speed.iter().sum::<f64>() / n_nodes as f64;
        let mean_work = workload.mean_work();
        let time_scale = if mean_work.is_finite() && mean_work > 0.0 { mean_work / mean_speed } else { 1.0 };
        Ok(Self {
            cfg: cfg.clone(),
            n_nodes,
            n_res,
            capacity,
            speed,
            max_speed,
            max_capacity,
            allowed,
            weights: cfg.workload.priorities.iter().map(|p| p.weight).collect(),
            workload,
            time_scale,
            mean_work: if mean_work.is_finite() && mean_work > 0.0 { mean_work } else { 1.0 },
            max_weight: cfg.workload.priorities.iter().map(|p| p.weight).fold(0.0, f64::max),
        })
    }
}

/// What happens at an event.
#[derive(Debug, Clone, Copy, PartialEq)]
enum EventKind {
    Completion {
        node: u32,
        task: u32,
        epoch: u32,
    },
    /// `duration`: known for scheduled outages, drawn at failure time for random ones.
    Down {
        node: u32,
        duration: Option<f64>,
    },
    Up {
        node: u32,
        random: bool,
    },
}

#[derive(Debug, Clone, Copy)]
struct Event {
    time: f64,
    seq: u64,
    kind: EventKind,
}

impl PartialEq for Event {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Event {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest event first.
    fn cmp(&self, o: &Self) -> Ordering {
        o.time.total_cmp(&self.time).then(o.seq.cmp(&self.seq))
    }
}

/// Per-node dynamic state.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeState {
    pub up: bool,
    /// Outages in progress (scheduled and random outages may overlap).
    down_depth: u32,
    /// Incremented at each failure, so completions scheduled before it are recognised as stale.
    epoch: u32,
    pub queue: VecDeque<u32>,
    pub running: Vec<u32>,
    /// Σ work of queued tasks.
    pub queued_work: f64,
    /// Σ finish time of running tasks (outstanding time = Σ finish − n·now, in O(1)).
    pub finish_sum: f64,
    /// ∫ utilisation dt up to `last_t` (mean over resources of used / capacity).
    util_integral: f64,
    last_t: f64,
}

/// Per-task dynamic state; tasks are numbered in arrival order.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TaskState {
    pub arrival: f64,
    pub work: f64,
    pub class: u16,
    pub tenant: u16,
    pub finish: f64,
    pub retries: u32,
}

/// The cluster simulator: call [`Simulator::reset`], then repeatedly read the decision
/// ([`Simulator::view`], [`Simulator::mask`]) and answer it with [`Simulator::place`] until
/// [`Simulator::is_done`].
///
/// ```
/// use cluster_env::{scenarios, Simulator};
/// let cfg = scenarios::preset("park-lb").unwrap();
/// let mut sim = Simulator::new(&cfg).unwrap();
/// sim.reset(7);
/// while !sim.is_done() {
///     let node = sim.mask().iter().position(|&ok| ok).unwrap(); // first valid node
///     sim.place(node).unwrap();
/// }
/// assert_eq!(sim.metrics().completed, 1000);
/// ```
#[derive(Debug, Clone)]
pub struct Simulator {
    pub(crate) c: Arc<Compiled>,
    pub(crate) now: f64,
    workload_gen: WorkloadGen,
    fail_rng: Vec<ChaCha8Rng>,
    pub(crate) nodes: Vec<NodeState>,
    /// `[n_nodes * n_res]` resources in use.
    pub(crate) used: Vec<f64>,
    pub(crate) tasks: Vec<TaskState>,
    /// `[n_tasks * n_res]` demands.
    pub(crate) demand: Vec<f64>,
    events: BinaryHeap<Event>,
    seq: u64,
    next_arrival: Option<u32>,
    pending: VecDeque<u32>,
    waiting: Vec<u32>,
    mask: Vec<bool>,
    current: Option<u32>,
    reward_acc: f64,
    /// Σ priority weight / Σ 1/ideal runtime of tasks in system, for the reward.
    weight_in_system: f64,
    inv_ideal_in_system: f64,
    /// Σ over nodes of resources in use.
    total_used: Vec<f64>,
    total_capacity: Vec<f64>,
    pub(crate) acc: MetricsAcc,
    pub(crate) decisions: u64,
    done: bool,
}

impl Simulator {
    /// Builds a simulator for a scenario (validating it and reading its trace).
    pub fn new(cfg: &ScenarioConfig) -> Result<Self, ClusterError> {
        Ok(Self::from_compiled(Arc::new(Compiled::new(cfg)?)))
    }

    pub(crate) fn from_compiled(c: Arc<Compiled>) -> Self {
        let n_res = c.n_res;
        let total_capacity = (0..n_res).map(|r| (0..c.n_nodes).map(|n| c.capacity[n * n_res + r]).sum()).collect();
        let workload_gen = c.workload.start(ChaCha8Rng::seed_from_u64(0));
        Self {
            now: 0.0,
            workload_gen,
            fail_rng: Vec::new(),
            nodes: vec![NodeState::default(); c.n_nodes],
            used: vec![0.0; c.n_nodes * n_res],
            tasks: Vec::new(),
            demand: Vec::new(),
            events: BinaryHeap::new(),
            seq: 0,
            next_arrival: None,
            pending: VecDeque::new(),
            waiting: Vec::new(),
            mask: vec![false; c.n_nodes],
            current: None,
            reward_acc: 0.0,
            weight_in_system: 0.0,
            inv_ideal_in_system: 0.0,
            total_used: vec![0.0; n_res],
            total_capacity,
            acc: MetricsAcc::default(),
            decisions: 0,
            done: true,
            c,
        }
    }

    /// The scenario this simulator runs.
    pub fn scenario(&self) -> &ScenarioConfig {
        &self.c.cfg
    }

    /// Starts the episode of `seed` and runs to its first decision. The workload and the
    /// failures depend only on `seed`, never on the decisions taken.
    pub fn reset(&mut self, seed: u64) {
        let c = Arc::clone(&self.c);
        let stream = |id: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(id);
            rng
        };
        self.workload_gen = c.workload.start(stream(STREAM_WORKLOAD));
        self.now = 0.0;
        self.events.clear();
        self.seq = 0;
        self.pending.clear();
        self.waiting.clear();
        self.current = None;
        self.reward_acc = 0.0;
        self.weight_in_system = 0.0;
        self.inv_ideal_in_system = 0.0;
        self.total_used.fill(0.0);
        self.used.fill(0.0);
        self.acc.reset(c.workload.n_tasks, c.n_res);
        self.decisions = 0;
        self.done = false;
        for n in &mut self.nodes {
            n.up = true;
            n.down_depth = 0;
            n.epoch = 0;
            n.queue.clear();
            n.running.clear();
            n.queued_work = 0.0;
            n.finish_sum = 0.0;
            n.util_integral = 0.0;
            n.last_t = 0.0;
        }
        self.tasks.clear();
        self.demand.clear();
        self.tasks.reserve(c.workload.n_tasks);
        self.demand.reserve(c.workload.n_tasks * c.n_res);
        // Failures: one stream per node, so node i's outage times never depend on other nodes.
        let fails = &c.cfg.failures;
        self.fail_rng.clear();
        if let Some(mtbf) = fails.mtbf {
            let base = stream(STREAM_FAILURES);
            for n in 0..c.n_nodes {
                let mut rng = base.clone();
                rng.set_stream(STREAM_FAILURES + 1 + n as u64);
                let at: f64 = Exp1.sample(&mut rng);
                self.fail_rng.push(rng);
                self.push(at * mtbf, EventKind::Down { node: n as u32, duration: None });
            }
        }
        for s in &fails.scheduled {
            self.push(s.at, EventKind::Down { node: s.node as u32, duration: Some(s.duration) });
        }
        self.draw_next_arrival();
        // A fresh scenario always has a first decision: propagate nothing, but never panic.
        if let Err(e) = self.advance() {
            self.acc.error = Some(e.to_string());
            self.done = true;
        }
    }

    /// Whether the episode is over (every task completed, or the simulation failed).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Current simulated time.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// Decisions taken so far in this episode.
    pub fn decisions(&self) -> u64 {
        self.decisions
    }

    /// Which nodes may take the task being decided (up, allowed for its tenant, big enough).
    /// All false once the episode is done.
    pub fn mask(&self) -> &[bool] {
        &self.mask
    }

    /// The structured state heuristics read.
    pub fn view(&self) -> ClusterView<'_> {
        ClusterView::new(self)
    }

    /// Index of the task being decided, if any.
    pub fn current_task(&self) -> Option<u32> {
        self.current
    }

    /// Places the current task on `node` and runs to the next decision (or the episode's end).
    /// Returns the reward accumulated over that interval.
    ///
    /// # Errors
    /// An out-of-range or masked node, or a call after the episode ended, is an
    /// [`ClusterError::Action`] and changes nothing.
    pub fn place(&mut self, node: usize) -> Result<f64, ClusterError> {
        let Some(task) = self.current else {
            return Err(gym::EnvError::NeedsReset.into());
        };
        gym::EnvError::check_action(node, &self.mask)?;
        self.pending.pop_front();
        self.current = None;
        self.decisions += 1;
        let n = &mut self.nodes[node];
        n.queue.push_back(task);
        n.queued_work += self.tasks[task as usize].work;
        self.try_start(node);
        self.reward_acc = 0.0;
        self.advance()?;
        Ok(self.reward_acc)
    }

    /// Metrics of the episode so far (complete once [`Simulator::is_done`]).
    pub fn metrics(&self) -> EpisodeMetrics {
        let nodes_util: Vec<f64> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| n.util_integral + self.node_util(i) * (self.now - n.last_t))
            .collect();
        self.acc.finish(self, &nodes_util)
    }

    /// Runs events until a task awaits a decision with a non-empty mask, or all tasks completed.
    fn advance(&mut self) -> Result<(), ClusterError> {
        loop {
            while let Some(&t) = self.pending.front() {
                if self.compute_mask(t) {
                    self.current = Some(t);
                    return Ok(());
                }
                // No node can take it now (its nodes are down): park it until a recovery.
                self.pending.pop_front();
                self.waiting.push(t);
            }
            if self.acc.completed == self.c.workload.n_tasks {
                self.mask.fill(false);
                self.done = true;
                return Ok(());
            }
            let arrival = self.next_arrival.map(|t| self.tasks[t as usize].arrival);
            let event = self.events.peek().map(|e| e.time);
            let arrival_first = match (arrival, event) {
                (Some(a), Some(e)) => a <= e,
                (Some(_), None) => true,
                (None, _) => false,
            };
            match (arrival, event) {
                (Some(a), _) if arrival_first => {
                    self.advance_time(a);
                    self.arrive();
                }
                (_, Some(_)) => {
                    let ev = self.events.pop().expect("peeked");
                    self.advance_time(ev.time);
                    self.handle(ev.kind);
                }
                _ => {
                    self.done = true;
                    let message = format!(
                        "no events left with {} tasks waiting and {} of {} completed",
                        self.waiting.len(),
                        self.acc.completed,
                        self.c.workload.n_tasks
                    );
                    self.acc.error = Some(message.clone());
                    return Err(ClusterError::Stuck { time: self.now, message });
                }
            }
        }
    }

    /// Moves the clock to `t`, accruing reward and utilisation over the interval.
    fn advance_time(&mut self, t: f64) {
        let dt = t - self.now;
        debug_assert!(dt >= 0.0, "time went backwards: {} -> {t}", self.now);
        if dt > 0.0 {
            self.reward_acc += match self.c.cfg.reward {
                RewardKind::WeightedJct => -self.weight_in_system * dt,
                RewardKind::Slowdown => -self.inv_ideal_in_system * dt,
                RewardKind::Utilisation => {
                    let r = self.total_used.len() as f64;
                    dt * self.total_used.iter().zip(&self.total_capacity).map(|(u, c)| u / c).sum::<f64>() / r
                }
            };
            for (i, u) in self.acc.util_integral.iter_mut().zip(&self.total_used) {
                *i += u * dt;
            }
            self.now = t;
        }
    }

    fn push(&mut self, time: f64, kind: EventKind) {
        self.seq += 1;
        self.events.push(Event { time, seq: self.seq, kind });
    }

    fn draw_next_arrival(&mut self) {
        let r = self.c.n_res;
        let start = self.demand.len();
        self.demand.resize(start + r, 0.0);
        match self.c.workload.next(&mut self.workload_gen, &mut self.demand[start..]) {
            Some(d) => {
                self.tasks.push(TaskState {
                    arrival: d.arrival,
                    work: d.work,
                    class: d.class,
                    tenant: d.tenant,
                    ..Default::default()
                });
                self.next_arrival = Some((self.tasks.len() - 1) as u32);
            }
            None => {
                self.demand.truncate(start);
                self.next_arrival = None;
            }
        }
    }

    fn arrive(&mut self) {
        let t = self.next_arrival.take().expect("arrival scheduled");
        let task = self.tasks[t as usize];
        self.acc.on_arrival(task.arrival);
        self.weight_in_system += self.c.weights[task.class as usize];
        self.inv_ideal_in_system += 1.0 / self.ideal_runtime(task.work);
        self.pending.push_back(t);
        self.draw_next_arrival();
    }

    /// Runtime on the fastest node: the denominator of slowdown.
    pub(crate) fn ideal_runtime(&self, work: f64) -> f64 {
        (work / self.c.max_speed).max(1e-9)
    }

    fn handle(&mut self, kind: EventKind) {
        match kind {
            EventKind::Completion { node, task, epoch } => {
                if self.nodes[node as usize].epoch == epoch {
                    self.complete(node as usize, task);
                }
            }
            EventKind::Down { node, duration } => self.fail(node as usize, duration),
            EventKind::Up { node, random } => self.recover(node as usize, random),
        }
    }

    fn complete(&mut self, node: usize, task: u32) {
        self.touch_node(node);
        let r = self.c.n_res;
        let t = self.tasks[task as usize];
        let n = &mut self.nodes[node];
        let pos = n.running.iter().position(|&x| x == task).expect("completing task is running");
        n.running.swap_remove(pos);
        n.finish_sum -= t.finish;
        for i in 0..r {
            let d = self.demand[task as usize * r + i];
            self.used[node * r + i] -= d;
            self.total_used[i] -= d;
        }
        if n.running.is_empty() {
            // Reset accumulated rounding: an idle node uses exactly nothing.
            n.finish_sum = 0.0;
            self.used[node * r..(node + 1) * r].fill(0.0);
        }
        let w = self.c.weights[t.class as usize];
        self.weight_in_system -= w;
        self.inv_ideal_in_system -= 1.0 / self.ideal_runtime(t.work);
        let jct = self.now - t.arrival;
        self.acc.on_completion(self.now, jct, w, jct / self.ideal_runtime(t.work));
        self.try_start(node);
    }

    /// Starts queued tasks in FIFO order while the head of the queue fits.
    fn try_start(&mut self, node: usize) {
        let r = self.c.n_res;
        loop {
            let Some(&task) = self.nodes[node].queue.front() else { break };
            let fits = (0..r).all(|i| {
                self.used[node * r + i] + self.demand[task as usize * r + i] <= self.c.capacity[node * r + i] + FIT_EPS
            });
            if !fits {
                break;
            }
            self.touch_node(node);
            for i in 0..r {
                let d = self.demand[task as usize * r + i];
                self.used[node * r + i] += d;
                self.total_used[i] += d;
            }
            let work = self.tasks[task as usize].work;
            let mut duration = work / self.c.speed[node];
            if self.c.cfg.integer_time {
                duration = duration.trunc();
            }
            let finish = self.now + duration;
            self.tasks[task as usize].finish = finish;
            let n = &mut self.nodes[node];
            n.queue.pop_front();
            n.queued_work = if n.queue.is_empty() { 0.0 } else { n.queued_work - work };
            n.running.push(task);
            n.finish_sum += finish;
            let epoch = n.epoch;
            self.push(finish, EventKind::Completion { node: node as u32, task, epoch });
        }
    }

    fn fail(&mut self, node: usize, duration: Option<f64>) {
        // Random outages draw their repair time now and, on recovery, schedule the next failure.
        let random = duration.is_none();
        let duration = duration.unwrap_or_else(|| {
            let e: f64 = Exp1.sample(&mut self.fail_rng[node]);
            e * self.c.cfg.failures.mttr.unwrap_or(1.0)
        });
        self.push(self.now + duration, EventKind::Up { node: node as u32, random });
        let n = &mut self.nodes[node];
        n.down_depth += 1;
        if n.down_depth > 1 {
            return;
        }
        self.touch_node(node);
        let r = self.c.n_res;
        let n = &mut self.nodes[node];
        n.up = false;
        n.epoch += 1;
        // Re-submit everything the node held: running first, then the queue in order.
        for &t in n.running.iter().chain(n.queue.iter()) {
            self.tasks[t as usize].retries += 1;
            self.acc.retries += 1;
            self.pending.push_back(t);
        }
        for i in 0..r {
            self.total_used[i] -= self.used[node * r + i];
        }
        self.used[node * r..(node + 1) * r].fill(0.0);
        n.running.clear();
        n.queue.clear();
        n.queued_work = 0.0;
        n.finish_sum = 0.0;
    }

    fn recover(&mut self, node: usize, random: bool) {
        let n = &mut self.nodes[node];
        n.down_depth = n.down_depth.saturating_sub(1);
        if random {
            if let Some(mtbf) = self.c.cfg.failures.mtbf {
                let e: f64 = Exp1.sample(&mut self.fail_rng[node]);
                self.push(self.now + e * mtbf, EventKind::Down { node: node as u32, duration: None });
            }
        }
        if self.nodes[node].down_depth > 0 {
            return;
        }
        self.touch_node(node);
        self.nodes[node].up = true;
        // Offer parked tasks again, in the order they were parked.
        self.pending.extend(self.waiting.drain(..));
    }

    /// Brings node `i`'s utilisation integral up to now (call before its usage changes).
    fn touch_node(&mut self, i: usize) {
        let u = self.node_util(i);
        let n = &mut self.nodes[i];
        n.util_integral += u * (self.now - n.last_t);
        n.last_t = self.now;
    }

    /// Current utilisation of node `i`: mean over resources of used / capacity.
    pub(crate) fn node_util(&self, i: usize) -> f64 {
        let r = self.c.n_res;
        (0..r).map(|k| self.used[i * r + k] / self.c.capacity[i * r + k]).sum::<f64>() / r as f64
    }

    /// Fills the mask for `task`; returns whether any node is valid.
    fn compute_mask(&mut self, task: u32) -> bool {
        let c = &self.c;
        let r = c.n_res;
        let t = self.tasks[task as usize];
        let d = &self.demand[task as usize * r..(task as usize + 1) * r];
        let allowed = &c.allowed[t.tenant as usize * c.n_nodes..(t.tenant as usize + 1) * c.n_nodes];
        let mut any = false;
        for (n, m) in self.mask.iter_mut().enumerate() {
            let cap = &c.capacity[n * r..(n + 1) * r];
            *m = self.nodes[n].up && allowed[n] && d.iter().zip(cap).all(|(d, c)| *d <= *c + FIT_EPS);
            any |= *m;
        }
        any
    }

    /// Outstanding work on node `i`: queued work plus the remaining work of running tasks
    /// (remaining time × speed), Park's "load".
    pub(crate) fn outstanding_work(&self, i: usize) -> f64 {
        let n = &self.nodes[i];
        let remaining_time = n.finish_sum - n.running.len() as f64 * self.now;
        n.queued_work + (remaining_time * self.c.speed[i]).max(0.0)
    }

    /// Tasks submitted and not yet completed (pending, waiting, queued or running).
    pub fn tasks_in_system(&self) -> usize {
        self.acc.submitted - self.acc.completed
    }

    /// Tasks submitted so far (arrived).
    pub fn tasks_submitted(&self) -> usize {
        self.acc.submitted
    }

    /// Tasks completed so far.
    pub fn tasks_completed(&self) -> usize {
        self.acc.completed
    }

    /// Resource usage of node `i` (one value per resource).
    pub fn node_used(&self, i: usize) -> &[f64] {
        &self.used[i * self.c.n_res..(i + 1) * self.c.n_res]
    }

    /// Capacity of node `i` (one value per resource).
    pub fn node_capacity(&self, i: usize) -> &[f64] {
        &self.c.capacity[i * self.c.n_res..(i + 1) * self.c.n_res]
    }
}
