//! The discrete-event engine. The agent decides at each task arrival (and at each re-submission
//! after a node failure): a semi-MDP whose steps are decisions, not clock ticks.
//!
//! # Event order
//! The next event is the one with the smallest [`EventKey`] `(time, class, seq)`:
//! - earlier `time` first;
//! - at equal times, by [`EventClass`], in the order a real cluster would see them:
//!   1. **recoveries** (a node back up at `t` can take work at `t`);
//!   2. **failures** (a node down at `t` takes no new work at `t`). A failing node first
//!      completes its tasks that finish at `t`: their work is done, so they are not lost and
//!      re-submitted (with integer time such ties are common);
//!   3. **arrivals** and every decision (re-submissions and tasks waiting for a node included):
//!      decisions at `t` are taken only once every recovery and failure at `t` has happened, so
//!      a task is never placed on a node that goes down at that very instant, and sees a node
//!      that comes back then;
//!   4. **completions**. Arrivals before completions is Park's rule (its timeline queues every
//!      arrival before any completion), kept so that `park-lb` reproduces Park's dynamics: a
//!      task arriving when another finishes sees that one still on its node, with no remaining
//!      work;
//! - then by `seq`, the order in which events were scheduled (arrivals are drawn one at a time,
//!   so there is never more than one pending).
//!
//! Scenarios without failures have only arrivals and completions, so this order is the one they
//! always had.
//!
//! Buffers are reused across episodes: in steady state no event allocates. All state is private:
//! the rest of the crate reads the cluster through [`crate::ClusterView`].

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

use policy_core::FIT_EPS;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1};
use serde::{Deserialize, Serialize};

use crate::compiled::{CompiledScenario, EpisodeCluster};
use crate::config::ScenarioConfig;
use crate::error::ClusterError;
use crate::metrics::{EpisodeMetrics, MetricsAcc, RunTotals};
use crate::reward::RewardAcc;
use crate::streams::Stream;
use crate::workload::WorkloadGen;

mod snapshot;

/// What happens at a scheduled event.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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

/// Which events go first at equal times, first to last (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
enum EventClass {
    /// A node comes back up.
    Up,
    /// A node goes down.
    Down,
    /// A task arrives; also the rank of decisions (see [`Simulator::advance`]).
    Arrival,
    /// A task completes.
    Completion,
}

impl EventKind {
    fn class(&self) -> EventClass {
        match self {
            EventKind::Up { .. } => EventClass::Up,
            EventKind::Down { .. } => EventClass::Down,
            EventKind::Completion { .. } => EventClass::Completion,
        }
    }
}

/// The order of events: `(time, class, seq)`, compared lexicographically.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct EventKey {
    time: f64,
    class: EventClass,
    seq: u64,
}

impl EventKey {
    fn cmp(&self, o: &Self) -> Ordering {
        self.time.total_cmp(&o.time).then(self.class.cmp(&o.class)).then(self.seq.cmp(&o.seq))
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Event {
    key: EventKey,
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
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the smallest key first.
    fn cmp(&self, o: &Self) -> Ordering {
        o.key.cmp(&self.key)
    }
}

/// Per-node dynamic state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SimNode {
    up: bool,
    /// Outages in progress (scheduled and random outages may overlap).
    down_depth: u32,
    /// Incremented at each failure, so completions scheduled before it are recognised as stale.
    epoch: u32,
    queue: VecDeque<u32>,
    running: Vec<u32>,
    /// Σ work of queued tasks.
    queued_work: f64,
    /// Σ finish time of running tasks (outstanding time = Σ finish − n·now, in O(1)).
    finish_sum: f64,
    /// ∫ utilisation dt up to `last_t` (mean over resources of used / capacity).
    util_integral: f64,
    last_t: f64,
}

/// Per-task dynamic state; tasks are numbered in arrival order.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct SimTask {
    pub arrival: f64,
    pub work: f64,
    pub class: u16,
    pub tenant: u16,
    pub finish: f64,
    pub retries: u32,
    /// Completion time charged at placement (the attributed rewards), refunded if a
    /// failure re-submits the task.
    attributed: f64,
}

/// A node's queues and load, as [`crate::ClusterView`] reports them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NodeLoad {
    pub up: bool,
    pub queued: usize,
    pub running: usize,
    pub queued_work: f64,
    pub outstanding_work: f64,
    pub remaining_time: f64,
}

/// A predicted completion, ordered earliest first in a max-heap.
#[derive(Debug, Clone, Copy)]
struct Finish {
    time: f64,
    task: u32,
}

impl PartialEq for Finish {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Finish {}
impl PartialOrd for Finish {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Finish {
    fn cmp(&self, o: &Self) -> Ordering {
        o.time.total_cmp(&self.time).then(o.task.cmp(&self.task))
    }
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
    c: Arc<CompiledScenario>,
    /// This episode's nodes: the compiled cluster, or the draw of a variable-size scenario.
    cluster: EpisodeCluster,
    /// Scratch for drawing the node counts.
    scratch_counts: Vec<usize>,
    now: f64,
    workload_gen: WorkloadGen,
    fail_rng: Vec<ChaCha8Rng>,
    nodes: Vec<SimNode>,
    /// `[n_nodes * n_res]` resources in use.
    used: Vec<f64>,
    tasks: Vec<SimTask>,
    /// `[n_tasks * n_res]` demands.
    demand: Vec<f64>,
    events: BinaryHeap<Event>,
    seq: u64,
    next_arrival: Option<u32>,
    pending: VecDeque<u32>,
    waiting: Vec<u32>,
    mask: Vec<bool>,
    current: Option<u32>,
    reward: RewardAcc,
    /// Σ over nodes of resources in use.
    total_used: Vec<f64>,
    acc: MetricsAcc,
    decisions: u64,
    /// Scratch for `predict_finish`.
    scratch_used: Vec<f64>,
    scratch_heap: BinaryHeap<Finish>,
    done: bool,
}

impl Simulator {
    /// Builds a simulator for a scenario (validating it and reading its trace).
    ///
    /// # Errors
    /// As [`CompiledScenario::new`].
    pub fn new(cfg: &ScenarioConfig) -> Result<Self, ClusterError> {
        Ok(Self::from_compiled(CompiledScenario::new(cfg)?))
    }

    /// A simulator of an already compiled scenario (shared, not copied).
    pub fn from_compiled(c: Arc<CompiledScenario>) -> Self {
        let n_res = c.n_res;
        let workload_gen = c.workload.start_episode(0);
        Self {
            now: 0.0,
            workload_gen,
            fail_rng: Vec::new(),
            nodes: vec![SimNode::default(); c.n_nodes],
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
            reward: RewardAcc::new(c.cfg.reward),
            total_used: vec![0.0; n_res],
            acc: MetricsAcc::default(),
            decisions: 0,
            scratch_used: Vec::with_capacity(n_res),
            scratch_heap: BinaryHeap::new(),
            done: true,
            cluster: c.largest_cluster(),
            scratch_counts: Vec::new(),
            c,
        }
    }

    /// The scenario this simulator runs.
    pub fn scenario(&self) -> &ScenarioConfig {
        &self.c.cfg
    }

    /// The compiled scenario this simulator runs.
    pub fn compiled(&self) -> &Arc<CompiledScenario> {
        &self.c
    }

    /// Starts the episode of `seed` and runs to its first decision. The workload and the
    /// failures depend only on `seed`, never on the decisions taken.
    pub fn reset(&mut self, seed: u64) {
        let c = Arc::clone(&self.c);
        // The cluster first, from its own stream: drawing it moves no other stream.
        let mut counts = std::mem::take(&mut self.scratch_counts);
        c.draw_counts(seed, &mut counts);
        c.fill_cluster(&counts, &mut self.cluster);
        self.scratch_counts = counts;
        self.workload_gen = c.workload.start_episode(seed);
        self.workload_gen.set_poisson_rate(self.cluster.arrival_rate);
        self.now = 0.0;
        self.events.clear();
        self.seq = 0;
        self.pending.clear();
        self.waiting.clear();
        self.current = None;
        self.reward.reset();
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
            // Padded slots are not nodes: they never fail.
            for n in 0..self.cluster.n_real {
                // A valid scenario has at most MAX_NODES < 2^32 nodes.
                let mut rng = Stream::NodeFailures(n as u32).rng(seed);
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

    /// Real nodes in this episode: [`CompiledScenario::n_nodes`] unless the scenario draws its
    /// cluster per episode, when the nodes `episode_nodes()..` are padding (always masked).
    pub fn episode_nodes(&self) -> usize {
        self.cluster.n_real
    }

    /// Nodes per group in this episode (each group's fixed count, or its draw).
    pub fn node_counts(&self) -> &[usize] {
        &self.cluster.counts
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

    /// Index of the task being decided, if any.
    pub fn current_task(&self) -> Option<u32> {
        self.current
    }

    /// Places the current task on `node` and runs to the next decision (or the episode's end).
    /// Returns the reward accumulated since the previous decision was offered (for the first
    /// decision: since the episode started, which counts tasks that waited before it), so an
    /// episode's rewards cover its whole duration.
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
        if self.reward.charges_placements() {
            let t = self.tasks[task as usize];
            let jct = self.predict_finish(node, task) - t.arrival;
            let charge = self.reward.placement_cost(self.c.weights[t.class as usize], jct);
            self.tasks[task as usize].attributed = charge;
            self.reward.charge(charge);
        }
        self.advance()?;
        Ok(self.reward.take())
    }

    /// Metrics of the episode so far (complete once [`Simulator::is_done`]).
    pub fn metrics(&self) -> EpisodeMetrics {
        // The episode's real nodes only: padding is no part of the cluster.
        let node_util: Vec<f64> = self.nodes[..self.cluster.n_real]
            .iter()
            .enumerate()
            .map(|(i, n)| n.util_integral + self.node_util(i) * (self.now - n.last_t))
            .collect();
        // Every task in the system is in exactly one of these places (the one being decided is
        // the front of `pending`).
        let queued_or_running = self.nodes.iter().flat_map(|n| n.queue.iter().chain(&n.running));
        let (unfinished, unfinished_time) = self
            .pending
            .iter()
            .chain(&self.waiting)
            .chain(queued_or_running)
            .fold((0, 0.0), |(k, time), &t| (k + 1, time + (self.now - self.tasks[t as usize].arrival)));
        debug_assert_eq!(unfinished, self.tasks_in_system());
        self.acc.finish(&RunTotals {
            now: self.now,
            decisions: self.decisions,
            total_capacity: &self.cluster.total_capacity,
            node_util: &node_util,
            unfinished,
            unfinished_time,
        })
    }

    /// Runs events until a task awaits a decision with a non-empty mask, or all tasks completed.
    ///
    /// Decisions rank as arrivals: pending tasks are offered only when no recovery or failure at
    /// the current time is still to happen, so every decision at `t` sees the nodes as they are
    /// at `t` (a re-submitted task is never offered a node that fails at that instant).
    fn advance(&mut self) -> Result<(), ClusterError> {
        loop {
            let decisions = EventKey { time: self.now, class: EventClass::Arrival, seq: 0 };
            let node_event_due = self.events.peek().is_some_and(|e| e.key.cmp(&decisions) == Ordering::Less);
            while !node_event_due && let Some(&t) = self.pending.front() {
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
            let arrival = self.next_arrival.map(|t| EventKey {
                time: self.tasks[t as usize].arrival,
                class: EventClass::Arrival,
                seq: 0,
            });
            let scheduled = self.events.peek().map(|e| e.key);
            match (arrival, scheduled) {
                (Some(a), s) if s.is_none_or(|s| a.cmp(&s) == Ordering::Less) => {
                    self.advance_time(a.time);
                    self.arrive();
                }
                (_, Some(_)) => {
                    let ev = self.events.pop().expect("peeked");
                    self.advance_time(ev.key.time);
                    self.handle(ev.kind);
                }
                (_, None) => {
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
            self.reward.accrue(dt, &self.total_used, &self.cluster.total_capacity);
            // `total_used` is a running sum: after completions it may sit a rounding error below
            // zero, which must not make utilisation negative.
            for (i, u) in self.acc.util_integral.iter_mut().zip(&self.total_used) {
                *i += u.max(0.0) * dt;
            }
            self.now = t;
        }
    }

    fn push(&mut self, time: f64, kind: EventKind) {
        self.seq += 1;
        self.events.push(Event { key: EventKey { time, class: kind.class(), seq: self.seq }, kind });
    }

    fn draw_next_arrival(&mut self) {
        let r = self.c.n_res;
        let start = self.demand.len();
        self.demand.resize(start + r, 0.0);
        match self.c.workload.next(&mut self.workload_gen, &mut self.demand[start..]) {
            Some(d) => {
                self.tasks.push(SimTask {
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
        self.reward.arrive(self.c.weights[task.class as usize], self.cluster.ideal_runtime(task.work));
        self.pending.push_back(t);
        self.draw_next_arrival();
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
        let ideal = self.cluster.ideal_runtime(t.work);
        let jct = self.now - t.arrival;
        self.acc.on_completion(self.now, jct, w, jct / ideal);
        let empty = self.acc.completed == self.acc.submitted;
        self.reward.complete(w, ideal, empty);
        if empty {
            // Likewise an empty system: nothing is in use until the next arrival (the running
            // sums would otherwise keep a rounding residual).
            self.total_used.fill(0.0);
        }
        self.try_start(node);
    }

    /// Starts queued tasks in FIFO order while the head of the queue fits.
    fn try_start(&mut self, node: usize) {
        let r = self.c.n_res;
        while let Some(&task) = self.nodes[node].queue.front() {
            let fits = (0..r).all(|i| {
                self.used[node * r + i] + self.demand[task as usize * r + i]
                    <= self.cluster.capacity[node * r + i] + FIT_EPS
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
            let finish = self.now + self.duration(work, node);
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

    /// Runtime of `work` on `node` (truncated like Park's `int(size / rate)` in integer time).
    fn duration(&self, work: f64, node: usize) -> f64 {
        let d = work / self.cluster.speed[node];
        if self.c.cfg.integer_time { d.trunc() } else { d }
    }

    /// When `task`, just placed on `node`, will finish. Exact without failures: queues are FIFO
    /// and later arrivals wait behind it, so replaying the node's running and queued tasks from
    /// now decides its start. Uses scratch buffers: no allocation in steady state.
    fn predict_finish(&mut self, node: usize, task: u32) -> f64 {
        let r = self.c.n_res;
        if self.nodes[node].running.contains(&task) {
            return self.tasks[task as usize].finish;
        }
        self.scratch_used.clear();
        self.scratch_used.extend_from_slice(&self.used[node * r..(node + 1) * r]);
        self.scratch_heap.clear();
        for &t in &self.nodes[node].running {
            self.scratch_heap.push(Finish { time: self.tasks[t as usize].finish, task: t });
        }
        let cap = self.cluster.node_capacity(node, r);
        let mut t_now = self.now;
        for &q in &self.nodes[node].queue {
            let d = &self.demand[q as usize * r..(q as usize + 1) * r];
            while !self.scratch_used.iter().zip(d).zip(cap).all(|((u, d), c)| u + d <= c + FIT_EPS) {
                // Demand never exceeds capacity (the mask checks it), so the node empties first.
                let Some(f) = self.scratch_heap.pop() else { break };
                t_now = t_now.max(f.time);
                let fd = &self.demand[f.task as usize * r..(f.task as usize + 1) * r];
                self.scratch_used.iter_mut().zip(fd).for_each(|(u, x)| *u -= x);
            }
            let work = self.tasks[q as usize].work;
            let finish = t_now + self.duration(work, node);
            if q == task {
                return finish;
            }
            self.scratch_heap.push(Finish { time: finish, task: q });
            self.scratch_used.iter_mut().zip(d).for_each(|(u, x)| *u += x);
        }
        debug_assert!(false, "task {task} is neither running nor queued on node {node}");
        self.now
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
        // Tasks that finish at this very instant have done their work: they complete (freeing
        // their slots, which may start and complete zero-length tasks behind them) before the
        // node goes down, instead of being lost and re-submitted.
        while let Some(task) = self.finishing_now(node) {
            self.complete(node, task);
        }
        self.touch_node(node);
        let r = self.c.n_res;
        let n = &mut self.nodes[node];
        n.up = false;
        n.epoch += 1;
        // Re-submit everything the node held: running first, then the queue in order.
        for &t in n.running.iter().chain(n.queue.iter()) {
            // The completion charged at placement will not happen: refund it; the task is
            // charged again when it is placed anew.
            self.reward.refund(std::mem::take(&mut self.tasks[t as usize].attributed));
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

    /// A task running on `node` that finishes now (the lowest id first), if any.
    fn finishing_now(&self, node: usize) -> Option<u32> {
        self.nodes[node].running.iter().copied().filter(|&t| self.tasks[t as usize].finish <= self.now).min()
    }

    fn recover(&mut self, node: usize, random: bool) {
        let n = &mut self.nodes[node];
        n.down_depth = n.down_depth.saturating_sub(1);
        if random && let Some(mtbf) = self.c.cfg.failures.mtbf {
            let e: f64 = Exp1.sample(&mut self.fail_rng[node]);
            self.push(self.now + e * mtbf, EventKind::Down { node: node as u32, duration: None });
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

    /// Current utilisation of node `i`: mean over the resources it has of used / capacity.
    fn node_util(&self, i: usize) -> f64 {
        let r = self.c.n_res;
        crate::view::mean_share(&self.used[i * r..(i + 1) * r], self.cluster.node_capacity(i, r))
    }

    /// Fills the mask for `task`; returns whether any node is valid.
    fn compute_mask(&mut self, task: u32) -> bool {
        let c = &self.c;
        let r = c.n_res;
        let t = self.tasks[task as usize];
        let d = &self.demand[task as usize * r..(task as usize + 1) * r];
        let mut any = false;
        let (real, padded) = self.mask.split_at_mut(self.cluster.n_real);
        for (n, m) in real.iter_mut().enumerate() {
            *m = self.nodes[n].up
                && c.tenant_allows(t.tenant, n)
                && policy_core::fits(d, self.cluster.node_capacity(n, r));
            any |= *m;
        }
        // A padded slot is never a valid action.
        padded.fill(false);
        any
    }

    /// Σ over node `i`'s running tasks of the time until they finish.
    fn remaining_time(&self, i: usize) -> f64 {
        let n = &self.nodes[i];
        (n.finish_sum - n.running.len() as f64 * self.now).max(0.0)
    }

    /// Node `i`'s queues and load (for [`crate::ClusterView`]).
    pub(crate) fn node_load(&self, i: usize) -> NodeLoad {
        let n = &self.nodes[i];
        let remaining_time = self.remaining_time(i);
        NodeLoad {
            up: n.up,
            queued: n.queue.len(),
            running: n.running.len(),
            queued_work: n.queued_work,
            // Park's "load": queued work plus the remaining work of running tasks.
            outstanding_work: n.queued_work + remaining_time * self.cluster.speed[i],
            remaining_time,
        }
    }

    /// Task `id`'s record and its demand (for [`crate::ClusterView`]).
    pub(crate) fn task_record(&self, id: u32) -> (&SimTask, &[f64]) {
        let r = self.c.n_res;
        (&self.tasks[id as usize], &self.demand[id as usize * r..(id as usize + 1) * r])
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

    /// The Poisson rate this episode's workload arrives at, when the drawn cluster sets it.
    #[cfg(test)]
    pub(crate) fn arrival_rate(&self) -> Option<f64> {
        self.workload_gen.poisson_rate()
    }

    /// Speed of node `i` in this episode (0 for a padded slot).
    pub(crate) fn node_speed(&self, i: usize) -> f64 {
        self.cluster.speed[i]
    }

    /// Capacity of node `i` in this episode (one value per resource; zeros for a padded slot).
    pub fn node_capacity(&self, i: usize) -> &[f64] {
        self.cluster.node_capacity(i, self.c.n_res)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Golden traces (hand-computed schedules) and an internal-consistency check of the engine's
    //! bookkeeping over many random episodes.

    use std::collections::HashSet;
    use std::path::PathBuf;

    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::config::*;

    /// Writes `text` to `name` in a temporary directory shared by test runs (atomically, so a
    /// concurrent run never reads half a file) and returns its path.
    pub(crate) fn temp_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join("cluster-env-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let tmp = dir.join(format!("{name}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        path
    }

    /// A scenario replaying the CSV `trace` (written to a temp file called `name`) on one node per
    /// `(capacity, speed)`, one priority class of weight 1, no tenants, no failures.
    pub(crate) fn trace_scenario(
        name: &str,
        resources: &[&str],
        nodes: &[(&[f64], f64)],
        trace: &str,
    ) -> ScenarioConfig {
        ScenarioConfig {
            name: "custom".into(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            nodes: nodes.iter().map(|(c, s)| NodeGroup { count: 1.into(), capacity: c.to_vec(), speed: *s }).collect(),
            workload: WorkloadConfig {
                n_tasks: 0,
                arrivals: Arrivals::Batch,
                size: SizeDist::Exponential { mean: 1.0 },
                demand: DemandConfig::Ranges { ranges: vec![[0.0, 0.0]; resources.len()] },
                priorities: vec![PriorityClass { name: "normal".into(), weight: 1.0, prob: 1.0 }],
                tenants: vec![],
                trace: Some(temp_file(name, trace)),
                openb: None,
            },
            failures: FailureConfig::default(),
            reward: RewardKind::WeightedJct,
            observation: ObservationKind::Full,
            integer_time: false,
            max_decisions: None,
        }
    }

    /// Answers the decisions with `plan` (`(expected task id, node)` in order) and returns the
    /// reward of each step. Panics if a different task is offered.
    fn drive(sim: &mut Simulator, plan: &[(u32, usize)]) -> Vec<f64> {
        let mut rewards = Vec::new();
        for (k, &(task, node)) in plan.iter().enumerate() {
            assert_eq!(sim.current_task(), Some(task), "decision {k}");
            rewards.push(sim.place(node).unwrap());
        }
        rewards
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    macro_rules! assert_close {
        ($a:expr, $b:expr) => {{
            let (a, b) = ($a, $b);
            assert!(close(a, b), "{} = {a}, expected {b}", stringify!($a));
        }};
    }

    /// Two single-slot nodes (speed 1 and 2), three jobs arriving together at t = 10:
    /// J0 (work 4, weight 3) -> node 0 runs 10..14; J1 (work 2) -> node 1 runs 10..11;
    /// J2 (work 3) -> node 1 queues behind J1 and runs 11..12.5.
    #[test]
    fn golden_two_servers_three_jobs() {
        let mut cfg = trace_scenario(
            "golden3.csv",
            &["slot"],
            &[(&[1.0], 1.0), (&[1.0], 2.0)],
            "arrival,work,slot,priority\n10,4,1,1\n10,2,1,0\n10,3,1,0\n",
        );
        cfg.workload.priorities = vec![
            PriorityClass { name: "low".into(), weight: 1.0, prob: 0.5 },
            PriorityClass { name: "high".into(), weight: 3.0, prob: 0.5 },
        ];
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(0);
        assert_eq!(sim.now(), 10.0);
        assert_eq!(sim.mask(), &[true, true]);
        let task = sim.view().task().unwrap();
        assert_eq!((task.id, task.work, task.weight, task.arrival), (0, 4.0, 3.0, 10.0));
        let mut rewards = drive(&mut sim, &[(0, 0), (1, 1)]);
        // At J2's decision nothing has run yet: both nodes busy, outstanding = full work.
        assert_eq!(sim.now(), 10.0);
        let v = sim.view();
        assert_eq!((v.node(0).running, v.node(0).queued, v.node(0).outstanding_work), (1, 0, 4.0));
        assert_eq!((v.node(1).running, v.node(1).queued, v.node(1).outstanding_work), (1, 0, 2.0));
        assert_eq!(v.node(1).outstanding_time(), 1.0);
        rewards.extend(drive(&mut sim, &[(2, 1)]));
        assert!(sim.is_done());
        assert_eq!(sim.mask(), &[false, false]);
        assert_eq!(sim.now(), 14.0);
        let finish: Vec<f64> = sim.tasks.iter().map(|t| t.finish).collect();
        assert_eq!(finish, [14.0, 11.0, 12.5]);
        // Weight in system: 10..11 J0+J1+J2 = 5; 11..12.5 J0+J2 = 4; 12.5..14 J0 = 3.
        assert_eq!(rewards, [0.0, 0.0, -(5.0 * 1.0 + 4.0 * 1.5 + 3.0 * 1.5)]);
        let m = sim.metrics();
        assert_eq!((m.tasks, m.completed, m.retried, m.decisions), (3, 3, 0, 3));
        // JCTs 4, 1, 2.5.
        assert_close!(m.mean_jct, 2.5);
        assert_close!(m.p50_jct, 2.5);
        assert_close!(m.p95_jct, 2.5 + 1.5 * 0.9);
        assert_close!(m.p99_jct, 2.5 + 1.5 * 0.98);
        assert_close!(m.weighted_mean_jct, (3.0 * 4.0 + 1.0 + 2.5) / 5.0);
        // Ideal runtimes on the fastest node (speed 2): 2, 1, 1.5.
        assert_close!(m.mean_slowdown, (4.0 / 2.0 + 1.0 / 1.0 + 2.5 / 1.5) / 3.0);
        assert_close!(m.makespan, 4.0);
        // Over the makespan 10..14: node 0 busy 4, node 1 busy 2.5 of 2 × 4 slot-time units.
        assert_eq!(m.utilisation.len(), 1);
        assert_close!(m.utilisation[0], 6.5 / 8.0);
        // Per-node utilisation 1 and 0.625: mean 0.8125, population sd 0.1875.
        assert_close!(m.load_imbalance, 0.1875 / 0.8125);
        assert_eq!(m.error, None);
        assert!(sim.place(0).is_err(), "a step after the end is refused");
    }

    /// A two-resource node runs tasks concurrently while they fit; the queue is FIFO, so a task
    /// that would fit waits behind a head that does not (head-of-line blocking).
    #[test]
    fn golden_multi_resource_head_of_line() {
        // capacity cpu 4, mem 8. A [2,3] w10 and B [1,4] w5 run together (used [3,7]);
        // C [2,1] does not fit (cpu 5); D [1,1] would fit but is behind C.
        let cfg = trace_scenario(
            "hol.csv",
            &["cpu", "mem"],
            &[(&[4.0, 8.0], 1.0)],
            "arrival,work,cpu,mem,priority\n0,10,2,3,0\n0,5,1,4,0\n0,3,2,1,0\n0,1,1,1,0\n",
        );
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(3);
        drive(&mut sim, &[(0, 0), (1, 0), (2, 0)]);
        let n = sim.view().node(0);
        assert_eq!((n.running, n.queued), (2, 1));
        assert_eq!(n.used, &[3.0, 7.0]);
        assert!(!n.fits_now(&[1.0, 1.0]), "something is queued: nothing fits now");
        assert_eq!(n.outstanding_work, 10.0 + 5.0 + 3.0);
        let last = sim.place(0).unwrap();
        assert!(sim.is_done());
        // B ends at 5 -> C starts (used [4,4]), D still blocked (cpu 5 > 4); C ends at 8 -> D
        // runs 8..9; A ends at 10.
        let finish: Vec<f64> = sim.tasks.iter().map(|t| t.finish).collect();
        assert_eq!(finish, [10.0, 5.0, 8.0, 9.0]);
        // In system: 0..5 four tasks, 5..8 three, 8..9 two, 9..10 one.
        assert_eq!(last, -(4.0 * 5.0 + 3.0 * 3.0 + 2.0 + 1.0));
        let m = sim.metrics();
        assert_close!(m.mean_jct, (10.0 + 5.0 + 8.0 + 9.0) / 4.0);
        assert_close!(m.makespan, 10.0);
        // cpu: 2·10 + 1·5 + 2·3 + 1·1 = 32 of 4·10; mem: 3·10 + 4·5 + 1·3 + 1·1 = 54 of 8·10.
        assert_close!(m.utilisation[0], 32.0 / 40.0);
        assert_close!(m.utilisation[1], 54.0 / 80.0);
    }

    /// Node 0 fails at t = 2 for 5 time units: its running J0 and queued J1 are re-submitted (in
    /// that order) as new decisions where node 0 is masked; JCT counts from the first arrival.
    #[test]
    fn golden_scheduled_failure_resubmits_running_and_queued() {
        let mut cfg = trace_scenario(
            "fail.csv",
            &["slot"],
            &[(&[1.0], 1.0), (&[1.0], 1.0)],
            "arrival,work,slot,priority\n0,10,1,0\n0,4,1,0\n0,3,1,0\n",
        );
        cfg.failures.scheduled = vec![ScheduledFailure { node: 0, at: 2.0, duration: 5.0 }];
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(0);
        let mut rewards = drive(&mut sim, &[(0, 0), (1, 0), (2, 1)]);
        assert_eq!(sim.now(), 2.0);
        assert_eq!(sim.mask(), &[false, true]);
        let t = sim.view().task().unwrap();
        assert_eq!((t.id, t.retries, t.arrival), (0, 1, 0.0));
        let down = sim.view().node(0);
        assert!(!down.up);
        assert_eq!((down.running, down.queued, down.outstanding_work, down.used), (0, 0, 0.0, &[0.0][..]));
        rewards.extend(drive(&mut sim, &[(0, 1)]));
        assert_eq!(sim.view().task().unwrap().retries, 1);
        rewards.extend(drive(&mut sim, &[(1, 1)]));
        assert!(sim.is_done());
        // Node 1: J2 0..3, J0 3..13, J1 13..17. JCTs 13, 17, 3.
        let finish: Vec<f64> = sim.tasks.iter().map(|t| t.finish).collect();
        assert_eq!(finish, [13.0, 17.0, 3.0]);
        assert_eq!(rewards, [0.0, 0.0, -3.0 * 2.0, 0.0, -(3.0 * 1.0 + 2.0 * 10.0 + 4.0)]);
        let m = sim.metrics();
        assert_eq!((m.completed, m.retried, m.decisions), (3, 2, 5));
        assert_close!(m.mean_jct, 11.0);
        assert_close!(m.makespan, 17.0);
        // Busy: node 0 for 2 (work lost), node 1 for 17.
        assert_close!(m.utilisation[0], 19.0 / 34.0);
    }

    /// A tenant's only node is down when its task arrives: the task waits (no empty-mask decision
    /// is ever offered) and is offered when the node recovers. The waiting time before the first
    /// decision is part of the first step's reward, so the return is still −Σ JCT.
    #[test]
    fn golden_task_waits_for_its_tenants_node() {
        let mut cfg = trace_scenario(
            "tenant.csv",
            &["slot"],
            &[(&[1.0], 1.0), (&[1.0], 1.0)],
            "arrival,work,slot,priority,tenant\n1,2,1,0,0\n2,3,1,0,1\n",
        );
        cfg.workload.tenants = vec![
            TenantConfig { name: "pinned".into(), prob: 0.5, nodes: Some(vec![0]) },
            TenantConfig { name: "free".into(), prob: 0.5, nodes: None },
        ];
        cfg.failures.scheduled = vec![ScheduledFailure { node: 0, at: 0.0, duration: 5.0 }];
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(0);
        // J0 (t = 1) cannot go anywhere; the first decision is J1's at t = 2.
        assert_eq!(sim.now(), 2.0);
        assert_eq!(sim.current_task(), Some(1));
        assert_eq!(sim.mask(), &[false, true]);
        assert_eq!(sim.tasks_in_system(), 2);
        let first = sim.place(1).unwrap();
        // Node 0 is back at 5 (recoveries come before completions at equal times): J0 is offered.
        assert_eq!(sim.now(), 5.0);
        assert_eq!(sim.current_task(), Some(0));
        assert_eq!(sim.mask(), &[true, false]);
        assert_eq!(sim.view().task().unwrap().retries, 0, "waiting is not a retry");
        let second = sim.place(0).unwrap();
        assert!(sim.is_done());
        // J0 in system 1..7 (JCT 6), J1 2..5 (JCT 3).
        assert_eq!(first, -(1.0 * 1.0 + 2.0 * 3.0));
        assert_eq!(second, -2.0);
        let m = sim.metrics();
        assert_close!(m.mean_jct, 4.5);
        assert_eq!(m.retried, 0);
        assert_close!(m.makespan, 6.0);
    }

    /// Park's tie rule: an arrival at the same time as a completion is decided first, while the
    /// finishing job still occupies its server (with zero remaining work).
    #[test]
    fn arrival_before_completion_at_equal_time() {
        let mut cfg =
            trace_scenario("tie.csv", &["slot"], &[(&[1.0], 1.0)], "arrival,work,slot,priority\n0,5,1,0\n5,1,1,0\n");
        cfg.integer_time = true;
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(0);
        let r = sim.place(0).unwrap();
        assert_eq!(r, -5.0);
        assert_eq!(sim.now(), 5.0);
        assert_eq!(sim.tasks_completed(), 0, "the completion at t = 5 has not happened yet");
        let n = sim.view().node(0);
        assert_eq!((n.running, n.queued, n.outstanding_work), (1, 0, 0.0));
        let r = sim.place(0).unwrap();
        assert_eq!(r, -1.0);
        assert_eq!(sim.tasks[1].finish, 6.0);
        assert_eq!(sim.metrics().mean_jct, 3.0);
    }

    /// (a) Node 0 fails at t = 2, the instant J0 (allowed only on node 0) and J1 arrive: the
    /// failure happens first, so J0 is never placed on the failing node (it waits, without a
    /// retry, until node 0 is back at 5) and J1 is offered node 1 only. Before, arrivals went
    /// first: J0 was placed on node 0 and at once re-submitted.
    #[test]
    fn golden_arrival_at_the_instant_its_node_fails_waits() {
        let mut cfg = trace_scenario(
            "arrive-at-failure.csv",
            &["slot"],
            &[(&[1.0], 1.0), (&[1.0], 1.0)],
            "arrival,work,slot,priority,tenant\n2,1,1,0,0\n2,3,1,0,1\n",
        );
        cfg.workload.tenants = vec![
            TenantConfig { name: "pinned".into(), prob: 0.5, nodes: Some(vec![0]) },
            TenantConfig { name: "free".into(), prob: 0.5, nodes: None },
        ];
        cfg.failures.scheduled = vec![ScheduledFailure { node: 0, at: 2.0, duration: 3.0 }];
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(0);
        assert_eq!(sim.now(), 2.0);
        assert_eq!(sim.current_task(), Some(1), "J0 has no node at t = 2: it waits");
        assert_eq!(sim.mask(), &[false, true]);
        assert_eq!(sim.tasks_in_system(), 2);
        // J1 runs on node 1, 2..5. Node 0 is back at 5, before J1's completion at 5.
        let first = sim.place(1).unwrap();
        assert_eq!(sim.now(), 5.0);
        assert_eq!(sim.current_task(), Some(0));
        assert_eq!(sim.mask(), &[true, false]);
        let second = sim.place(0).unwrap();
        assert!(sim.is_done());
        // J0 in system 2..6 (JCT 4), J1 2..5 (JCT 3).
        assert_eq!((first, second), (-(2.0 * 3.0), -1.0));
        let m = sim.metrics();
        assert_eq!((m.completed, m.retried, m.decisions), (2, 0, 2));
        assert_close!(m.mean_jct, 3.5);
    }

    /// (b) Integer time: node 0's J0 finishes at t = 5, the instant a scheduled outage 5..7
    /// starts. J0's work is done, so it completes (JCT 5) and is not retried; J1, queued behind
    /// it, starts at 5 and is re-submitted by the failure, runs 7..10 (JCT 10). Before, the
    /// failure (scheduled first) re-submitted both.
    #[test]
    fn golden_completion_at_the_instant_of_a_failure_completes() {
        let mut cfg = trace_scenario(
            "complete-at-failure.csv",
            &["slot"],
            &[(&[1.0], 1.0)],
            "arrival,work,slot,priority\n0,5,1,0\n0,3,1,0\n",
        );
        cfg.integer_time = true;
        cfg.failures.scheduled = vec![ScheduledFailure { node: 0, at: 5.0, duration: 2.0 }];
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(0);
        let mut rewards = drive(&mut sim, &[(0, 0), (1, 0)]);
        assert_eq!(sim.now(), 7.0);
        assert_eq!(sim.tasks_completed(), 1, "J0 completed at the failure");
        let t = sim.view().task().unwrap();
        assert_eq!((t.id, t.retries), (1, 1));
        rewards.extend(drive(&mut sim, &[(1, 0)]));
        assert!(sim.is_done());
        assert_eq!(sim.tasks[1].finish, 10.0);
        // 0..5 both tasks, 5..7 J1 waiting, 7..10 J1 running.
        assert_eq!(rewards, [0.0, -(2.0 * 5.0 + 2.0), -3.0]);
        let m = sim.metrics();
        assert_eq!((m.completed, m.retried, m.decisions), (2, 1, 3));
        assert_close!(m.mean_jct, 7.5);
        assert_close!(m.makespan, 10.0);
        // Node 0 busy 0..5 and 7..10 (J1's instant at 5 is no work) of 10.
        assert_close!(m.utilisation[0], 8.0 / 10.0);
    }

    /// (c) Node 0 (the fast one) is back at t = 5, the instant J0 arrives: the recovery happens
    /// first, so J0 may use it. Before, the arrival went first and saw node 0 still down.
    #[test]
    fn golden_recovery_before_arrival_at_equal_time() {
        let mut cfg = trace_scenario(
            "recover-at-arrival.csv",
            &["slot"],
            &[(&[1.0], 2.0), (&[1.0], 1.0)],
            "arrival,work,slot,priority\n5,4,1,0\n",
        );
        cfg.failures.scheduled = vec![ScheduledFailure { node: 0, at: 0.0, duration: 5.0 }];
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(0);
        assert_eq!(sim.now(), 5.0);
        assert_eq!(sim.mask(), &[true, true], "node 0 is back when J0 arrives");
        // J0 on node 0 (speed 2): 5..7.
        assert_eq!(sim.place(0).unwrap(), -2.0);
        assert!(sim.is_done());
        assert_eq!(sim.tasks[0].finish, 7.0);
        let m = sim.metrics();
        assert_eq!((m.completed, m.retried, m.decisions), (1, 0, 1));
        assert_close!(m.mean_jct, 2.0);
    }

    /// Decisions at an instant wait for every recovery and failure of that instant: node 1's
    /// outages 0..5 and 5..8 meet at t = 5, where its recovery goes first. J0, allowed only on
    /// node 1 and waiting since t = 1, must not be offered node 1 in between (it would be
    /// placed and re-submitted at once): it waits, without a retry, until 8.
    #[test]
    fn back_to_back_outages_offer_nothing_in_between() {
        let mut cfg = trace_scenario(
            "back-to-back.csv",
            &["slot"],
            &[(&[1.0], 1.0), (&[1.0], 1.0)],
            "arrival,work,slot,priority,tenant\n1,1,1,0,1\n",
        );
        cfg.workload.tenants = vec![
            TenantConfig { name: "free".into(), prob: 0.5, nodes: None },
            TenantConfig { name: "pinned".into(), prob: 0.5, nodes: Some(vec![1]) },
        ];
        cfg.failures.scheduled = vec![
            ScheduledFailure { node: 1, at: 0.0, duration: 5.0 },
            ScheduledFailure { node: 1, at: 5.0, duration: 3.0 },
        ];
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(0);
        assert_eq!(sim.now(), 8.0);
        assert_eq!(sim.mask(), &[false, true]);
        assert_eq!(sim.view().task().unwrap().retries, 0);
        // In system 1..9.
        assert_eq!(sim.place(1).unwrap(), -8.0);
        let m = sim.metrics();
        assert_eq!((m.completed, m.retried, m.decisions), (1, 0, 1));
        assert_close!(m.mean_jct, 8.0);
    }

    /// Overlapping outages of one node: it is up again only when the last one ends, and the
    /// completion scheduled before the failure is ignored.
    #[test]
    fn overlapping_outages_and_stale_completions() {
        let mut cfg =
            trace_scenario("overlap.csv", &["slot"], &[(&[1.0], 1.0)], "arrival,work,slot,priority\n0,3,1,0\n");
        cfg.failures.scheduled = vec![
            ScheduledFailure { node: 0, at: 2.0, duration: 5.0 },
            ScheduledFailure { node: 0, at: 4.0, duration: 10.0 },
        ];
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(0);
        // The task stays in the system through both outages: 0..14, then it runs 14..17.
        assert_eq!(sim.place(0).unwrap(), -14.0);
        assert_eq!(sim.now(), 14.0);
        assert_eq!(sim.view().task().unwrap().retries, 1);
        assert_eq!(sim.place(0).unwrap(), -3.0);
        assert_eq!(sim.tasks[0].finish, 17.0);
        assert_eq!(sim.metrics().mean_jct, 17.0);
        assert_eq!(sim.metrics().retried, 1);
    }

    /// Integer time truncates the service time like Park's `int(size / rate)`.
    #[test]
    fn integer_time_truncates_service_time() {
        let mut cfg =
            trace_scenario("int.csv", &["slot"], &[(&[1.0], 0.15)], "arrival,work,slot,priority\n0,100,1,0\n");
        cfg.integer_time = true;
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(0);
        sim.place(0).unwrap();
        // 100 / 0.15 = 666.67 -> 666.
        assert_eq!(sim.tasks[0].finish, 666.0);
        cfg.integer_time = false;
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(0);
        sim.place(0).unwrap();
        assert_eq!(sim.tasks[0].finish, 100.0 / 0.15);
    }

    /// An empty system accrues nothing: weights 0.1 + 0.2 − 0.1 − 0.2 leave a rounding residual
    /// of 2.8e-17 in the running sum, which a long idle gap would turn into a reward.
    #[test]
    fn empty_system_accrues_no_reward_or_usage() {
        let mut cfg = trace_scenario(
            "idle.csv",
            &["cpu"],
            &[(&[1.0], 1.0), (&[1.0], 1.0)],
            "arrival,work,cpu,priority\n0,1,0.1,0\n0,2,0.2,1\n1000000,1,0.1,0\n",
        );
        cfg.workload.priorities = vec![
            PriorityClass { name: "a".into(), weight: 0.1, prob: 0.5 },
            PriorityClass { name: "b".into(), weight: 0.2, prob: 0.5 },
        ];
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(0);
        assert_eq!(sim.place(0).unwrap(), 0.0);
        let r = sim.place(1).unwrap();
        // 0..1 both tasks, 1..2 the second, then nothing until t = 1e6.
        let both = 0.1 + 0.2;
        let second = both - 0.1;
        assert_ne!(second - 0.2, 0.0, "the residual this test is about");
        assert_eq!(r, -both - second);
        assert_eq!(sim.now(), 1e6);
        assert_eq!(sim.place(0).unwrap(), -0.1);
        let m = sim.metrics();
        // cpu·time 0.1 + 0.4 + 0.1 over 2 nodes × makespan 1e6 + 1.
        let exact = 0.6 / (2.0 * (1e6 + 1.0));
        assert!((m.utilisation[0] - exact).abs() <= 1e-12 * exact, "{} vs {exact}", m.utilisation[0]);
    }

    /// Usage summed in floating point can end a rounding error below zero while the system is not
    /// empty (0.3 + 0.6 − 0.3 − 0.6 = −1.1e-16): utilisation must not go negative.
    #[test]
    fn utilisation_never_counts_negative_usage() {
        let mut cfg = trace_scenario(
            "negative.csv",
            &["cpu"],
            &[(&[1.0], 1.0), (&[1.0], 1.0), (&[1.0], 1.0)],
            "arrival,work,cpu,priority\n0,1,0.3,0\n0,1,0.6,0\n0,10,0,0\n",
        );
        cfg.reward = RewardKind::Utilisation;
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(0);
        sim.place(0).unwrap();
        sim.place(1).unwrap();
        // 0..1: 0.9 of 3 cpus; 1..10: only the zero-demand task runs.
        assert_eq!(sim.place(2).unwrap(), (0.3 + 0.6) / 3.0);
        assert_eq!(sim.metrics().utilisation, [(0.3 + 0.6) / (3.0 * 10.0)]);
    }

    /// Every piece of derived bookkeeping agrees with a recount from the raw state: each task in
    /// the system is in exactly one place (pending, waiting, a queue or running), usage equals the
    /// running tasks' demands, and the reward's running sums match the tasks in the system.
    fn check_internal(sim: &Simulator) {
        let c = &sim.c;
        let r = c.n_res;
        let tol = |x: f64| 1e-9 * x.abs().max(1.0);
        assert_eq!(sim.tasks.len(), sim.acc.submitted + usize::from(sim.next_arrival.is_some()));
        let mut seen = vec![0u32; sim.tasks.len()];
        for &t in sim.pending.iter().chain(&sim.waiting) {
            seen[t as usize] += 1;
        }
        let mut total_used = vec![0.0; r];
        let mut total_capacity = vec![0.0; r];
        for (i, n) in sim.nodes.iter().enumerate() {
            for &t in n.queue.iter().chain(&n.running) {
                seen[t as usize] += 1;
            }
            if !n.up {
                assert!(n.queue.is_empty() && n.running.is_empty(), "down node {i} holds tasks");
            }
            let queued_work: f64 = n.queue.iter().map(|&t| sim.tasks[t as usize].work).sum();
            assert!((n.queued_work - queued_work).abs() <= tol(queued_work), "node {i} queued work");
            let finish_sum: f64 = n.running.iter().map(|&t| sim.tasks[t as usize].finish).sum();
            assert!((n.finish_sum - finish_sum).abs() <= tol(finish_sum), "node {i} finish sum");
            for &t in &n.running {
                assert!(sim.tasks[t as usize].finish >= sim.now, "running task {t} finished in the past");
            }
            for k in 0..r {
                let used: f64 = n.running.iter().map(|&t| sim.demand[t as usize * r + k]).sum();
                assert!((sim.used[i * r + k] - used).abs() <= 1e-9, "node {i} resource {k}: used");
                assert!(used <= sim.cluster.capacity[i * r + k] + 1e-9, "node {i} resource {k} over capacity");
                total_used[k] += used;
                total_capacity[k] += sim.cluster.capacity[i * r + k];
            }
        }
        assert!(seen.iter().all(|&s| s <= 1), "a task is in two places: {seen:?}");
        let in_system: Vec<usize> = (0..seen.len()).filter(|&t| seen[t] == 1).collect();
        assert_eq!(in_system.len(), sim.tasks_in_system(), "tasks lost or duplicated");
        for k in 0..r {
            assert!((sim.total_used[k] - total_used[k]).abs() <= 1e-6, "total used {k}");
            assert_eq!(sim.cluster.total_capacity[k], total_capacity[k]);
        }
        let weight: f64 = in_system.iter().map(|&t| c.weights[sim.tasks[t].class as usize]).sum();
        assert!((sim.reward.weight_in_system() - weight).abs() <= 1e-6 * weight.max(1.0), "weight in system");
        for &t in &sim.waiting {
            let tenant = sim.tasks[t as usize].tenant as usize;
            let d = &sim.demand[t as usize * r..(t as usize + 1) * r];
            let fits = |n: usize| (0..r).all(|k| d[k] <= sim.cluster.capacity[n * r + k] + FIT_EPS);
            let any_up = (0..c.n_nodes).any(|n| sim.nodes[n].up && c.allowed[tenant * c.n_nodes + n] && fits(n));
            assert!(!any_up, "task {t} waits although an allowed node is up");
        }
        if !sim.done {
            assert_eq!(sim.current, sim.pending.front().copied());
            assert!(sim.mask.contains(&true), "decision with an empty mask");
        }
    }

    /// Each node's failure clock has a stream of its own, shared with no other node and no other
    /// purpose: with the old ids (`3 + node`), node 98 of a 99+ node cluster drew from the
    /// policies' stream, so `random` and `power-of-two` replayed its failure times.
    #[test]
    fn failure_streams_are_disjoint_from_every_other_stream() {
        let mut cfg = crate::scenarios::large();
        assert_eq!(cfg.n_nodes(), 1000);
        cfg.failures = FailureConfig { mtbf: Some(1000.0), mttr: Some(10.0), scheduled: vec![] };
        let mut sim = Simulator::new(&cfg).unwrap();
        sim.reset(42);
        assert_eq!(sim.fail_rng.len(), 1000);
        let mut seen: HashSet<u64> =
            [Stream::EpisodeSeeds, Stream::Workload, Stream::Policy].iter().map(|s| s.id()).collect();
        for (node, rng) in sim.fail_rng.iter().enumerate() {
            assert_eq!(rng.get_seed(), ChaCha8Rng::seed_from_u64(42).get_seed());
            assert!(seen.insert(rng.get_stream()), "node {node}'s failure stream {} is taken", rng.get_stream());
        }
    }

    /// Scenarios that exercise every path of the engine: failures (random and scheduled,
    /// overlapping), tenants restricted to few nodes, multi-resource queueing, integer time.
    fn stress_scenarios() -> Vec<ScenarioConfig> {
        let mut seed_case = crate::scenarios::seed_case();
        seed_case.failures = FailureConfig {
            mtbf: Some(40.0),
            mttr: Some(8.0),
            scheduled: vec![
                ScheduledFailure { node: 2, at: 0.0, duration: 30.0 },
                ScheduledFailure { node: 3, at: 1.0, duration: 20.0 },
                ScheduledFailure { node: 4, at: 5.0, duration: 10.0 },
                ScheduledFailure { node: 5, at: 5.0, duration: 12.0 },
                ScheduledFailure { node: 2, at: 10.0, duration: 40.0 },
            ],
        };
        let mut seed_int = seed_case.clone();
        seed_int.integer_time = true;
        let mut faulty = crate::scenarios::faulty();
        faulty.workload.n_tasks = 300;
        faulty.failures.mtbf = Some(200.0);
        faulty.workload.tenants = vec![
            TenantConfig { name: "a".into(), prob: 0.7, nodes: None },
            TenantConfig { name: "b".into(), prob: 0.3, nodes: Some(vec![11]) },
        ];
        let mut park = crate::scenarios::park_lb();
        park.workload.n_tasks = 200;
        park.failures = FailureConfig { mtbf: Some(3000.0), mttr: Some(300.0), scheduled: vec![] };
        vec![seed_case, seed_int, faulty, park]
    }

    #[test]
    fn bookkeeping_matches_a_recount_under_failures_and_tenants() {
        for cfg in stress_scenarios() {
            let mut sim = Simulator::new(&cfg).unwrap();
            for seed in 0..6u64 {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                sim.reset(seed);
                check_internal(&sim);
                let mut ret = 0.0;
                while !sim.is_done() {
                    let valid: Vec<usize> = (0..sim.mask().len()).filter(|&n| sim.mask()[n]).collect();
                    ret += sim.place(valid[rng.random_range(0..valid.len())]).unwrap();
                    check_internal(&sim);
                }
                let m = sim.metrics();
                assert_eq!(m.error, None);
                assert_eq!(m.completed, sim.c.workload.n_tasks, "{} seed {seed}", cfg.name);
                assert_eq!(m.decisions as usize, m.completed + m.retried);
                let weighted: f64 =
                    m.weighted_mean_jct * sim.tasks.iter().map(|t| sim.c.weights[t.class as usize]).sum::<f64>();
                assert!((weighted + ret).abs() <= 1e-9 * weighted, "{}: Σ w·JCT {weighted} vs return {ret}", cfg.name);
            }
        }
    }

    /// A node without a resource (capacity 0: a CPU-only node's GPUs) is never offered a task
    /// that needs it, takes tasks that do not, and keeps every metric finite; every baseline
    /// scores it without dividing by its zero.
    #[test]
    fn capacity_zero_nodes_take_only_tasks_that_do_not_need_the_resource() {
        let cfg = trace_scenario(
            "cap0.csv",
            &["cpu", "gpu"],
            &[(&[8.0, 0.0], 1.0), (&[4.0, 2.0], 1.0)],
            "arrival,work,cpu,gpu,priority\n0,5,1,1,0\n0,5,2,0,0\n1,5,1,0.5,0\n1,3,4,0,0\n2,2,1,0,0\n2,4,1,1,0\n",
        );
        for name in crate::BASELINES {
            let mut policy = crate::baseline(name).unwrap();
            let mut sim = Simulator::new(&cfg).unwrap();
            sim.reset(1);
            policy.reset(1);
            let mut cpu_only = 0;
            while !sim.is_done() {
                let view = sim.view();
                let task = view.task().unwrap();
                let gpu = task.demand[1];
                assert_eq!(sim.mask()[0], gpu == 0.0, "{name}: node 0 has no GPU");
                let node = policy.act(&view).unwrap();
                cpu_only += usize::from(node == 0);
                sim.place(node).unwrap();
            }
            let m = sim.metrics();
            assert_eq!((m.completed, m.unfinished), (6, 0), "{name}");
            assert!(m.utilisation.iter().all(|u| u.is_finite() && (0.0..=1.0).contains(u)), "{name}: {m:?}");
            assert!(m.load_imbalance.is_finite() && m.mean_jct.is_finite(), "{name}: {m:?}");
            // The fit-based heuristics score node 0 (a NaN score would never win): each uses it.
            if ["vm-scheduling", "best-fit", "balanced-allocation", "tetris"].contains(&name) {
                assert!(cpu_only > 0, "{name} never used the CPU-only node");
            }
        }
        assert_eq!(crate::view::mean_share(&[4.0, 0.0], &[8.0, 0.0]), 0.5, "over the resources the node has");
        assert_eq!(crate::view::share(0.0, 0.0), 0.0);
    }
}
