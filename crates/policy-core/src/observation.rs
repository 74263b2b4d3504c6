//! The flat `f32` observation a policy sees: its [`ObservationLayout`] (with the scenario
//! constants it divides by) and the one encoder that writes it, for the simulator and for a
//! production scheduler alike.
//!
//! The observation is the concatenation of one row per node, node `i`'s at
//! `i·node_width`, then the task's row at `N·node_width`. A source of cluster state implements
//! [`ClusterRead`], handing out [`NodeFeatures`] and [`TaskFeatures`];
//! [`ObservationLayout::encode`] writes the whole vector, [`ObservationLayout::encode_node`] and
//! [`ObservationLayout::encode_task`] one row each.
//!
//! **Full layout**, with `R` resources and `N` nodes: node width `R+4`, task width `R+2`,
//! length `N·(R+4) + R + 2`. Each value is computed in `f64` and rounded to `f32` once, except
//! the tasks-on-node count, which is divided in `f32`:
//!
//! | offset | feature | normalisation |
//! |---|---|---|
//! | node i, `0..R` | free fraction of each resource | `(capacity − used) / capacity`, clamped to [0, 1]; 0 where the capacity is ≤ 0 (a resource the node does not have) |
//! | node i, `R` | outstanding time | outstanding work / speed / `time_scale` |
//! | node i, `R+1` | tasks on the node (queued + running) | / `tasks_scale` (10) |
//! | node i, `R+2` | speed | / `max_speed` (the fastest node's speed) |
//! | node i, `R+3` | up | 1 or 0 |
//! | task, `0..R` | demand | / `max_capacity` of that resource, capped at 1 |
//! | task, `R` | size | work / `mean_work` |
//! | task, `R+1` | priority | weight / `max_weight` |
//!
//! `time_scale` is the mean task's runtime on a mean-speed node, so 1.0 means "about one
//! typical task of backlog". With no task to place (the end of an episode), the task row is 0.
//!
//! **Scalable layout** (`kind = "scalable"`): the same constants as Full, and a node row that
//! also says what the node *is* and how the task would fit on it, so that one small network can
//! score each node from its own row at any cluster size (the node-scoring Q-network). Node width
//! `3R+4`, task width `R+2` (the task row is Full's), length `N·(3R+4) + R + 2`. The node row
//! depends on the task being placed:
//!
//! | offset | feature | normalisation |
//! |---|---|---|
//! | node i, `0..R` | free fraction of each resource | as Full |
//! | node i, `R..2R` | capacity of each resource | capacity / `max_capacity` of that resource; 0 where the node does not have it |
//! | node i, `2R..3R` | how the task fits | task demand / node capacity, capped at 2; where the node does not have the resource: 0 if the task demands none of it, else 2; all 0 when there is no task |
//! | node i, `3R` | outstanding time | as Full |
//! | node i, `3R+1` | tasks on the node | as Full |
//! | node i, `3R+2` | speed | as Full |
//! | node i, `3R+3` | up | as Full |
//! | task, `0..R+2` | demand, size, priority | as Full |
//!
//! With `packing = true` (an option of the scalable layout; node width `3R+6`) each node row
//! ends with the two signals the packing heuristics rank nodes by, so that a small network
//! need not approximate a minimum or a sum of products to see them:
//!
//! | offset | feature | value |
//! |---|---|---|
//! | node i, `3R+4` | the task fits now | 1 if the node is up, nothing is queued on it and used + demand ≤ capacity for every resource, else 0 (0 when there is no task) |
//! | node i, `3R+5` | alignment (Tetris) | Σ over resources of the fit ratio × the free fraction, in [0, 2R] (0 when there is no task) |
//!
//! With `completion = true` (another option of the scalable layout) each node row ends, after
//! the packing columns if any, with the signal shortest-expected-delay ranks nodes by: when the
//! task would finish there if the node served its work in order. A network that must multiply
//! the task's size by the inverse of the node's speed to see it scores nodes by speed alone
//! (measured on `park-lb`: a 10,000-unit job and a 3,000-unit one got the same Q-value):
//!
//! | offset | feature | value |
//! |---|---|---|
//! | node i, last | expected completion time | (outstanding work + the task's work) / speed / `time_scale` (0 when there is no task) |
//!
//! The constants are meant to come from node *shapes* and the workload only (cluster-env
//! computes them so), never from node counts: then one set of constants encodes clusters of any
//! size, and a policy trained on one size reads another's observation on the same scale.
//!
//! **Padding.** A cluster smaller than the layout's `n_nodes` (an episode of a scenario whose
//! size is drawn per episode) is encoded by [`ObservationLayout::encode_padded`]: its nodes come
//! first and every row after them is all zeros. [`ObservationLayout::present_column`] names a
//! column that is > 0 in every real node's row and 0 in a padded one (the speed), so a network
//! can tell them apart from the observation alone.
//!
//! **Park layout** (`park-lb`): Park's `[load_1, …, load_N, job_size]`, raw, each clipped at
//! `high` (500000): node width 1, task width 1, length `N + 1`. A load is the queued work plus
//! the remaining *time* of the running tasks (Park's original state formulation; a later
//! variant multiplies by the rate).

use serde::{Deserialize, Serialize};

/// How the observation is built from a cluster state: the layout and the scenario constants it
/// divides by.
///
/// An exported policy stores this (the `observation` section of `policy.json`), so a production
/// scheduler encodes its own cluster state exactly as the policy saw it in training. Serialised
/// with a `kind` tag, `{"kind": "full", "n_nodes": 12, ...}`. See the [module
/// documentation](self) for the features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ObservationLayout {
    /// Normalised features: per node `R` free fractions, outstanding time, tasks, speed, up;
    /// then the task's `R` demand fractions, size and priority. Length `N·(R+4) + R + 2`.
    Full {
        /// Number of nodes (= number of actions).
        n_nodes: usize,
        /// Resource names, in the order of every per-resource vector.
        resources: Vec<String>,
        /// Outstanding time is divided by this: mean work / mean node speed (time units).
        time_scale: f64,
        /// Node speeds are divided by this: the fastest node's speed (work units per time unit).
        max_speed: f64,
        /// Task demands are divided by this: each resource's largest node capacity.
        max_capacity: Vec<f64>,
        /// Task sizes are divided by this: the workload's mean work (work units).
        mean_work: f64,
        /// Task priorities are divided by this: the largest priority weight.
        max_weight: f64,
        /// Tasks on a node (queued + running) are divided by this (10).
        tasks_scale: f64,
    },
    /// Full's features plus, per node, its capacity fractions and the task's fit ratios (see the
    /// [module documentation](self)): per node `R` free fractions, `R` capacity fractions, `R`
    /// fit ratios, outstanding time, tasks, speed, up; then Full's task row. Length
    /// `N·(3R+4) + R + 2`. The constants mean the same as Full's.
    Scalable {
        /// Number of nodes (= number of actions).
        n_nodes: usize,
        /// Resource names, in the order of every per-resource vector.
        resources: Vec<String>,
        /// Outstanding time is divided by this (time units).
        time_scale: f64,
        /// Node speeds are divided by this (work units per time unit).
        max_speed: f64,
        /// Task demands and node capacities are divided by this: each resource's largest node
        /// capacity.
        max_capacity: Vec<f64>,
        /// Task sizes are divided by this: the workload's mean work (work units).
        mean_work: f64,
        /// Task priorities are divided by this: the largest priority weight.
        max_weight: f64,
        /// Tasks on a node (queued + running) are divided by this (10).
        tasks_scale: f64,
        /// Two more values per node, the signals of the packing heuristics (see the [module
        /// documentation](self)): whether the task fits there now, and Tetris's alignment.
        /// Absent (false) in files written before the option existed.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        packing: bool,
        /// One more value per node, after the packing signals: the task's expected completion
        /// time there (see the [module documentation](self)). Absent (false) in files written
        /// before the option existed.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        completion: bool,
    },
    /// Park's raw layout: per node queued work + remaining time of running work, then the task
    /// size, each clipped at `high`. Length `N + 1`.
    Park {
        /// Number of nodes (= number of actions).
        n_nodes: usize,
        /// Resource names (the mask still checks that the task's demands fit).
        resources: Vec<String>,
        /// Clip value of every feature (Park: 500000).
        high: f64,
    },
}

/// Largest fit ratio of the scalable layout: a demand more than twice the node's capacity (or
/// any demand of a resource the node lacks) reads as 2. The mask already rules such nodes out;
/// the cap only keeps the value bounded.
pub const MAX_FIT_RATIO: f64 = 2.0;

/// A constant of an [`ObservationLayout`] that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct LayoutError {
    /// The field, as a JSON path inside the layout (`max_capacity[1]`).
    pub field: String,
    /// What is wrong and what is valid (`is 0, expected a finite number > 0`).
    pub message: String,
}

/// One node's state, as the encoder reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeFeatures<'a> {
    /// Capacity per resource (≤ 0 for a resource the node does not have).
    pub capacity: &'a [f64],
    /// Resources in use per resource.
    pub used: &'a [f64],
    /// Work units processed per time unit, > 0.
    pub speed: f64,
    /// Whether the node is up.
    pub up: bool,
    /// Tasks on the node: queued + running.
    pub tasks: usize,
    /// Queued work + remaining work of the running tasks (work units).
    pub outstanding_work: f64,
    /// Work of the queued tasks (work units).
    pub queued_work: f64,
    /// Σ over the running tasks of the time until each finishes (time units).
    pub remaining_time: f64,
}

/// The task to place, as the encoder reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskFeatures<'a> {
    /// Demand per resource.
    pub demand: &'a [f64],
    /// Size (work units; its runtime on a node is work / speed).
    pub work: f64,
    /// Priority weight of the task's class.
    pub weight: f64,
}

/// A cluster state the encoder can read: the simulator, or a production scheduler's description.
pub trait ClusterRead {
    /// Number of nodes.
    fn n_nodes(&self) -> usize;
    /// Node `i` (`i < n_nodes()`).
    fn node(&self, i: usize) -> NodeFeatures<'_>;
    /// The task waiting to be placed, if any.
    fn task(&self) -> Option<TaskFeatures<'_>>;
}

impl ObservationLayout {
    /// Number of nodes.
    pub fn n_nodes(&self) -> usize {
        match self {
            ObservationLayout::Full { n_nodes, .. }
            | ObservationLayout::Scalable { n_nodes, .. }
            | ObservationLayout::Park { n_nodes, .. } => *n_nodes,
        }
    }

    /// The same layout and constants for a cluster of `n` nodes: how a policy trained with one
    /// size's layout encodes another size's cluster (the scalable layout's rows mean the same at
    /// any size).
    pub fn with_n_nodes(&self, n: usize) -> ObservationLayout {
        let mut layout = self.clone();
        match &mut layout {
            ObservationLayout::Full { n_nodes, .. }
            | ObservationLayout::Scalable { n_nodes, .. }
            | ObservationLayout::Park { n_nodes, .. } => *n_nodes = n,
        }
        layout
    }

    /// The layout's kind with its options, as messages name it: `full`, `scalable`,
    /// `scalable (packing)`, `scalable (completion)`, `scalable (packing, completion)`, `park`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            ObservationLayout::Full { .. } => "full",
            ObservationLayout::Scalable { packing: false, completion: false, .. } => "scalable",
            ObservationLayout::Scalable { packing: true, completion: false, .. } => "scalable (packing)",
            ObservationLayout::Scalable { packing: false, completion: true, .. } => "scalable (completion)",
            ObservationLayout::Scalable { packing: true, completion: true, .. } => "scalable (packing, completion)",
            ObservationLayout::Park { .. } => "park",
        }
    }

    /// The index, within a node row, of a value that is > 0 for every real node and exactly 0 in
    /// a padded row (see [`ObservationLayout::encode_padded`]): the speed column, `R + 2` (full)
    /// or `3R + 2` (scalable). `None` for Park, whose load of an idle node is 0 too.
    pub fn present_column(&self) -> Option<usize> {
        match self {
            ObservationLayout::Full { resources, .. } => Some(resources.len() + 2),
            ObservationLayout::Scalable { resources, .. } => Some(3 * resources.len() + 2),
            ObservationLayout::Park { .. } => None,
        }
    }

    /// The index, within a node row, of the packing option's "fits now" value (1 where the task
    /// would start on the node at once, else 0): `3R + 4` in a scalable layout with `packing`,
    /// `None` in every other layout. [`crate::ActionFilter::FitsNow`] reads it.
    pub fn fits_now_column(&self) -> Option<usize> {
        match self {
            ObservationLayout::Scalable { resources, packing: true, .. } => Some(3 * resources.len() + 4),
            _ => None,
        }
    }

    /// Resource names.
    pub fn resources(&self) -> &[String] {
        match self {
            ObservationLayout::Full { resources, .. }
            | ObservationLayout::Scalable { resources, .. }
            | ObservationLayout::Park { resources, .. } => resources,
        }
    }

    /// Values per node: `R + 4` (full), `3R + 4` (scalable; 2 more with `packing`, 1 more
    /// with `completion`) or 1 (park).
    pub fn node_width(&self) -> usize {
        match self {
            ObservationLayout::Full { resources, .. } => resources.len() + 4,
            ObservationLayout::Scalable { resources, packing, completion, .. } => {
                3 * resources.len() + 4 + option_width(*packing, *completion)
            }
            ObservationLayout::Park { .. } => 1,
        }
    }

    /// Values of the task: `R + 2` (full and scalable) or 1 (park).
    pub fn task_width(&self) -> usize {
        match self {
            ObservationLayout::Full { resources, .. } | ObservationLayout::Scalable { resources, .. } => {
                resources.len() + 2
            }
            ObservationLayout::Park { .. } => 1,
        }
    }

    /// Length of the observation: `n_nodes · node_width + task_width`, that is
    /// `N·(R+4) + R + 2` (full), `N·(3R+4) + R + 2` (scalable; each node row 2 values longer
    /// with `packing` and 1 with `completion`) or `N + 1` (park).
    pub fn obs_dim(&self) -> usize {
        self.n_nodes() * self.node_width() + self.task_width()
    }

    /// Checks the constants: at least one node and one resource, one `max_capacity` per
    /// resource, and every divisor (and `high`) finite and positive.
    ///
    /// # Errors
    /// The first bad constant, naming its field (`max_capacity[1]`).
    pub fn validate(&self) -> Result<(), LayoutError> {
        let bad = |field: &str, message: String| Err(LayoutError { field: field.into(), message });
        if self.n_nodes() == 0 {
            return bad("n_nodes", "is 0, expected at least one node".into());
        }
        if self.resources().is_empty() {
            return bad("resources", "is empty, expected at least one resource name".into());
        }
        let positive = |field: &str, v: f64| {
            if v.is_finite() && v > 0.0 { Ok(()) } else { bad(field, format!("is {v}, expected a finite number > 0")) }
        };
        match self {
            ObservationLayout::Full {
                resources,
                time_scale,
                max_speed,
                max_capacity,
                mean_work,
                max_weight,
                tasks_scale,
                ..
            }
            | ObservationLayout::Scalable {
                resources,
                time_scale,
                max_speed,
                max_capacity,
                mean_work,
                max_weight,
                tasks_scale,
                ..
            } => {
                positive("time_scale", *time_scale)?;
                positive("max_speed", *max_speed)?;
                positive("mean_work", *mean_work)?;
                positive("max_weight", *max_weight)?;
                positive("tasks_scale", *tasks_scale)?;
                if max_capacity.len() != resources.len() {
                    return bad(
                        "max_capacity",
                        format!("has {} values, expected {} (one per resource)", max_capacity.len(), resources.len()),
                    );
                }
                for (k, &c) in max_capacity.iter().enumerate() {
                    positive(&format!("max_capacity[{k}]"), c)?;
                }
                Ok(())
            }
            ObservationLayout::Park { high, .. } => positive("high", *high),
        }
    }

    /// The bounds `(low, high)` of every value of the observation, each `obs_dim` long.
    ///
    /// Full: a node row is `[0; R+4]` to `[1; R]` then `[∞, ∞, 1, 1]` (outstanding time and
    /// task count are unbounded); the task row `[0; R+2]` to `[1; R]` then `[∞, 1]`. Scalable:
    /// a node row is `[0; 3R+4]` to `[1; 2R]`, `[2; R]`, then `[∞, ∞, 1, 1]` (a capacity
    /// fraction is ≤ 1 for the nodes of the scenario the constants come from); the task row as
    /// Full's. Park: 0 to `high` everywhere.
    pub fn bounds(&self) -> (Vec<f32>, Vec<f32>) {
        let (n, dim) = (self.n_nodes(), self.obs_dim());
        match self {
            ObservationLayout::Scalable { resources, packing, completion, .. } => {
                let r = resources.len();
                let mut high = Vec::with_capacity(dim);
                for _ in 0..n {
                    high.extend(std::iter::repeat_n(1.0, 2 * r));
                    high.extend(std::iter::repeat_n(MAX_FIT_RATIO as f32, r));
                    high.extend([f32::INFINITY, f32::INFINITY, 1.0, 1.0]);
                    if *packing {
                        high.extend([1.0, (MAX_FIT_RATIO * r as f64) as f32]);
                    }
                    if *completion {
                        high.push(f32::INFINITY);
                    }
                }
                high.extend(std::iter::repeat_n(1.0, r));
                high.extend([f32::INFINITY, 1.0]);
                (vec![0.0; dim], high)
            }
            ObservationLayout::Full { resources, .. } => {
                let r = resources.len();
                let mut high = Vec::with_capacity(dim);
                for _ in 0..n {
                    high.extend(std::iter::repeat_n(1.0, r));
                    high.extend([f32::INFINITY, f32::INFINITY, 1.0, 1.0]);
                }
                high.extend(std::iter::repeat_n(1.0, r));
                high.extend([f32::INFINITY, 1.0]);
                (vec![0.0; dim], high)
            }
            ObservationLayout::Park { high, .. } => (vec![0.0; dim], vec![*high as f32; dim]),
        }
    }

    /// Writes one node's row ([`ObservationLayout::node_width`] values) into `row[..node_width]`,
    /// with no task to place: [`ObservationLayout::encode_node_with_task`] with `None` (only the
    /// scalable layout's fit ratios depend on the task; they are 0 then).
    ///
    /// # Panics
    /// As [`ObservationLayout::encode_node_with_task`].
    pub fn encode_node(&self, node: &NodeFeatures<'_>, row: &mut [f32]) {
        self.encode_node_with_task(node, None, row);
    }

    /// Writes one node's row ([`ObservationLayout::node_width`] values) into `row[..node_width]`
    /// for placing `task` there.
    ///
    /// Full: `R` free fractions, outstanding time, tasks, speed, up; Scalable: `R` free
    /// fractions, `R` capacity fractions, `R` fit ratios of `task` (0 when `None`), then the
    /// same four (see the [module documentation](self)); Park: `min(queued_work +
    /// remaining_time, high)`. Full and Park ignore `task`.
    ///
    /// # Panics
    /// If `row` is shorter than `node_width`, or (full, scalable) `capacity`, `used` or the
    /// task's `demand` has fewer than `R` values.
    pub fn encode_node_with_task(&self, node: &NodeFeatures<'_>, task: Option<&TaskFeatures<'_>>, row: &mut [f32]) {
        match self {
            ObservationLayout::Full { resources, time_scale, max_speed, tasks_scale, .. } => {
                let r = resources.len();
                let row = &mut row[..r + 4];
                write_free(node, &mut row[..r]);
                write_load(node, *time_scale, *max_speed, *tasks_scale, &mut row[r..]);
            }
            ObservationLayout::Scalable {
                resources,
                time_scale,
                max_speed,
                max_capacity,
                tasks_scale,
                packing,
                completion,
                ..
            } => {
                let r = resources.len();
                let row = &mut row[..3 * r + 4 + option_width(*packing, *completion)];
                write_free(node, &mut row[..r]);
                for ((out, &c), &m) in row[r..2 * r].iter_mut().zip(&node.capacity[..r]).zip(max_capacity) {
                    *out = if c <= 0.0 { 0.0 } else { (c / m) as f32 };
                }
                let fit = &mut row[2 * r..3 * r];
                match task {
                    Some(task) => {
                        for ((out, &c), &d) in fit.iter_mut().zip(&node.capacity[..r]).zip(&task.demand[..r]) {
                            *out = fit_ratio(d, c) as f32;
                        }
                    }
                    None => fit.fill(0.0),
                }
                write_load(node, *time_scale, *max_speed, *tasks_scale, &mut row[3 * r..3 * r + 4]);
                if *packing {
                    let (fits, alignment) = task.map_or((false, 0.0), |task| packing_signals(node, task.demand, r));
                    row[3 * r + 4] = if fits { 1.0 } else { 0.0 };
                    row[3 * r + 5] = alignment as f32;
                }
                if *completion {
                    // The node's backlog and then this task, at the node's speed: exact for a
                    // single-slot FIFO server (park-lb), an upper bound where tasks share a node.
                    row[row.len() - 1] =
                        task.map_or(0.0, |task| ((node.outstanding_work + task.work) / node.speed / time_scale) as f32);
                }
            }
            ObservationLayout::Park { high, .. } => {
                // Park's "original state formulation": queued *work* plus the running tasks'
                // remaining *time*, as its `observe()` computes it.
                row[0] = (node.queued_work + node.remaining_time).min(*high) as f32;
            }
        }
    }

    /// Writes the task's row ([`ObservationLayout::task_width`] values) into
    /// `row[..task_width]`; zeros when there is no task.
    ///
    /// Full and scalable: `R` demand fractions, size, priority (see the [module
    /// documentation](self)); Park: `min(work, high)`.
    ///
    /// # Panics
    /// If `row` is shorter than `task_width`, or (full) `demand` has fewer than `R` values.
    pub fn encode_task(&self, task: Option<&TaskFeatures<'_>>, row: &mut [f32]) {
        let row = &mut row[..self.task_width()];
        let Some(task) = task else {
            row.fill(0.0);
            return;
        };
        match self {
            ObservationLayout::Full { resources, max_capacity, mean_work, max_weight, .. }
            | ObservationLayout::Scalable { resources, max_capacity, mean_work, max_weight, .. } => {
                let r = resources.len();
                for ((out, &d), &m) in row[..r].iter_mut().zip(&task.demand[..r]).zip(max_capacity) {
                    *out = (d / m).min(1.0) as f32;
                }
                row[r] = (task.work / mean_work) as f32;
                row[r + 1] = (task.weight / max_weight) as f32;
            }
            ObservationLayout::Park { high, .. } => row[0] = task.work.min(*high) as f32,
        }
    }

    /// Writes the observation of `src` into `out`: node `i`'s row at `out[i·node_width..]`,
    /// then the task's row after all nodes. Allocates nothing.
    ///
    /// # Panics
    /// If `src` has a number of nodes other than [`ObservationLayout::n_nodes`], or as
    /// [`ObservationLayout::encode_padded`].
    pub fn encode(&self, src: &(impl ClusterRead + ?Sized), out: &mut [f32]) {
        let n = self.n_nodes();
        assert_eq!(src.n_nodes(), n, "cluster has {} nodes, the observation layout {n}", src.n_nodes());
        self.encode_padded(src, out);
    }

    /// Writes the observation of `src`, which may have fewer nodes than the layout, into `out`:
    /// its nodes' rows first, then all-zero rows up to [`ObservationLayout::n_nodes`], then the
    /// task's row. A padded row is exactly 0 everywhere, so [`ObservationLayout::present_column`]
    /// tells it from a real node's. Allocates nothing.
    ///
    /// # Panics
    /// If `src` has more nodes than [`ObservationLayout::n_nodes`], `out`'s length is not
    /// [`ObservationLayout::obs_dim`], or a per-resource slice is shorter than the number of
    /// resources.
    pub fn encode_padded(&self, src: &(impl ClusterRead + ?Sized), out: &mut [f32]) {
        let (n, w) = (self.n_nodes(), self.node_width());
        let real = src.n_nodes();
        assert!(real <= n, "cluster has {real} nodes, more than the observation layout's {n}");
        assert_eq!(out.len(), self.obs_dim(), "observation buffer length");
        let task = src.task();
        let (nodes, task_row) = out.split_at_mut(n * w);
        let (real_rows, padded_rows) = nodes.split_at_mut(real * w);
        for (i, row) in real_rows.chunks_exact_mut(w).enumerate() {
            self.encode_node_with_task(&src.node(i), task.as_ref(), row);
        }
        padded_rows.fill(0.0);
        self.encode_task(task.as_ref(), task_row);
    }
}

/// Free fraction of each resource: `(capacity − used) / capacity` in [0, 1], 0 for a resource
/// the node does not have (a CPU-only node's GPUs are not free).
fn write_free(node: &NodeFeatures<'_>, row: &mut [f32]) {
    let r = row.len();
    for ((free, &c), &u) in row.iter_mut().zip(&node.capacity[..r]).zip(&node.used[..r]) {
        *free = if c <= 0.0 { 0.0 } else { ((c - u) / c).clamp(0.0, 1.0) as f32 };
    }
}

/// The four load values shared by Full and Scalable: outstanding time, tasks, speed, up.
fn write_load(node: &NodeFeatures<'_>, time_scale: f64, max_speed: f64, tasks_scale: f64, row: &mut [f32]) {
    row[0] = (node.outstanding_work / node.speed / time_scale) as f32;
    // Divided in f32, as it always was (existing policies saw exactly these values).
    row[1] = node.tasks as f32 / tasks_scale as f32;
    row[2] = (node.speed / max_speed) as f32;
    row[3] = if node.up { 1.0 } else { 0.0 };
}

/// Values the `packing` option adds to a scalable node row.
const PACKING_WIDTH: usize = 2;

/// Values the `packing` and `completion` options add to a scalable node row, together.
fn option_width(packing: bool, completion: bool) -> usize {
    (if packing { PACKING_WIDTH } else { 0 }) + usize::from(completion)
}

/// The two signals the packing heuristics rank nodes by, for placing `demand` on `node`:
/// whether it fits now (the node is up, nothing is queued on it, and `used + demand ≤ capacity`
/// for every resource, within [`crate::FIT_EPS`]), and Tetris's alignment Σ_r (demand_r /
/// capacity_r) · (free_r / capacity_r), with the demand ratio as the fit ratio (capped, and the
/// cap for a resource the node lacks) and the free fraction as in the row.
///
/// Why features and not something the network could compute from the row: "fits" is a minimum
/// over resources and the alignment a sum of products; a network of a few dozen ReLU units per
/// layer can only approximate either, and DQN policies with the plain row lost to Tetris.
fn packing_signals(node: &NodeFeatures<'_>, demand: &[f64], r: usize) -> (bool, f64) {
    let mut fits = node.up && node.queued_work <= 0.0;
    let mut alignment = 0.0;
    for ((&c, &u), &d) in node.capacity[..r].iter().zip(&node.used[..r]).zip(&demand[..r]) {
        fits &= u + d <= c + crate::FIT_EPS;
        let free = if c <= 0.0 { 0.0 } else { ((c - u) / c).clamp(0.0, 1.0) };
        alignment += fit_ratio(d, c) * free;
    }
    (fits, alignment)
}

/// How a demand `d` fits a capacity `c`: `d / c` capped at [`MAX_FIT_RATIO`]; for a resource
/// the node lacks (`c ≤ 0`), 0 if nothing is demanded and the cap otherwise (it cannot fit).
fn fit_ratio(d: f64, c: f64) -> f64 {
    if c <= 0.0 { if d > 0.0 { MAX_FIT_RATIO } else { 0.0 } } else { (d / c).min(MAX_FIT_RATIO) }
}

#[cfg(test)]
mod tests {
    //! Hand-computed observations in both layouts (the simulator's own hand-built examples).

    use super::*;

    /// A cluster state held in plain vectors.
    struct Cluster {
        capacity: Vec<Vec<f64>>,
        used: Vec<Vec<f64>>,
        speed: Vec<f64>,
        up: Vec<bool>,
        tasks: Vec<usize>,
        outstanding_work: Vec<f64>,
        queued_work: Vec<f64>,
        remaining_time: Vec<f64>,
        task: Option<(Vec<f64>, f64, f64)>,
    }

    impl ClusterRead for Cluster {
        fn n_nodes(&self) -> usize {
            self.speed.len()
        }
        fn node(&self, i: usize) -> NodeFeatures<'_> {
            NodeFeatures {
                capacity: &self.capacity[i],
                used: &self.used[i],
                speed: self.speed[i],
                up: self.up[i],
                tasks: self.tasks[i],
                outstanding_work: self.outstanding_work[i],
                queued_work: self.queued_work[i],
                remaining_time: self.remaining_time[i],
            }
        }
        fn task(&self) -> Option<TaskFeatures<'_>> {
            self.task.as_ref().map(|(demand, work, weight)| TaskFeatures { demand, work: *work, weight: *weight })
        }
    }

    /// cluster-env's `full_observation_by_hand` scenario: nodes cpu/mem [4, 8] at speed 1 and
    /// [2, 16] at speed 2; mean work 6, mean speed 1.5 → time scale 4; weights up to 4.
    fn full_layout() -> ObservationLayout {
        ObservationLayout::Full {
            n_nodes: 2,
            resources: vec!["cpu".into(), "mem".into()],
            time_scale: 4.0,
            max_speed: 2.0,
            max_capacity: vec![4.0, 16.0],
            mean_work: 6.0,
            max_weight: 4.0,
            tasks_scale: 10.0,
        }
    }

    /// After placing a 10-unit task (cpu 2, mem 3) on node 0 and a 6-unit one (1, 4) on node 1,
    /// the third task (2, 8), size 2, weight 4.
    fn full_cluster() -> Cluster {
        Cluster {
            capacity: vec![vec![4.0, 8.0], vec![2.0, 16.0]],
            used: vec![vec![2.0, 3.0], vec![1.0, 4.0]],
            speed: vec![1.0, 2.0],
            up: vec![true, true],
            tasks: vec![1, 1],
            outstanding_work: vec![10.0, 6.0],
            queued_work: vec![0.0, 0.0],
            remaining_time: vec![10.0, 3.0],
            task: Some((vec![2.0, 8.0], 2.0, 4.0)),
        }
    }

    #[test]
    fn full_layout_by_hand() {
        #[rustfmt::skip]
        let expected: [f32; 16] = [
            // node 0: free (4−2)/4, (8−3)/8; outstanding 10 / 1 / 4; 1 task; speed 1/2; up
            0.5, 0.625, 2.5, 0.1, 0.5, 1.0,
            // node 1: free (2−1)/2, (16−4)/16; outstanding 6 / 2 / 4; 1 task; speed 2/2; up
            0.5, 0.75, 0.75, 0.1, 1.0, 1.0,
            // task: demand 2/4, 8/16; size 2/6; weight 4/4
            0.5, 0.5, (2.0f64 / 6.0) as f32, 1.0,
        ];
        let layout = full_layout();
        assert_eq!((layout.node_width(), layout.task_width(), layout.obs_dim()), (6, 4, 16));
        let mut out = vec![f32::NAN; 16];
        layout.encode(&full_cluster(), &mut out);
        assert_eq!(out, expected);
        // Row by row, the same values.
        let mut row = [0.0; 6];
        layout.encode_node(&full_cluster().node(1), &mut row);
        assert_eq!(row, expected[6..12]);
        let mut row = [0.0; 4];
        layout.encode_task(full_cluster().task().as_ref(), &mut row);
        assert_eq!(row, expected[12..]);
        // No task at the end of an episode: the task row is 0.
        let mut done = full_cluster();
        done.task = None;
        layout.encode(&done, &mut out);
        assert_eq!(out[..12], expected[..12]);
        assert_eq!(out[12..], [0.0; 4], "no task");
    }

    #[test]
    fn full_layout_clamps() {
        let mut c = full_cluster();
        // Over-used cpu (free clamps at 0); a resource node 1 lacks (capacity 0: not free, not
        // NaN); queued work counts in the outstanding time; down.
        c.used[0] = vec![5.0, 8.0];
        c.capacity[1][0] = 0.0;
        c.used[1][0] = 0.0;
        c.tasks[0] = 4;
        c.outstanding_work[0] = 12.0;
        c.up[1] = false;
        // A demand above the largest capacity is capped at 1.
        c.task = Some((vec![5.0, 20.0], 0.0, 0.0));
        let mut out = vec![0.0; 16];
        full_layout().encode(&c, &mut out);
        assert_eq!(out[..6], [0.0, 0.0, 3.0, 0.4, 0.5, 1.0]);
        assert_eq!(out[6..12], [0.0, 0.75, 0.75, 0.1, 1.0, 0.0]);
        assert_eq!(out[12..], [1.0, 1.0, 0.0, 0.0]);
    }

    /// A down node as the simulator reports it: no usage, nothing outstanding, up = 0
    /// (cluster-env's `full_observation_marks_down_nodes`).
    #[test]
    fn full_layout_down_node() {
        let layout = ObservationLayout::Full {
            n_nodes: 2,
            resources: vec!["slot".into()],
            time_scale: 2.5,
            max_speed: 1.0,
            max_capacity: vec![1.0],
            mean_work: 2.5,
            max_weight: 1.0,
            tasks_scale: 10.0,
        };
        let c = Cluster {
            capacity: vec![vec![1.0], vec![1.0]],
            used: vec![vec![0.0], vec![0.0]],
            speed: vec![1.0, 1.0],
            up: vec![true, false],
            tasks: vec![0, 0],
            outstanding_work: vec![0.0, 0.0],
            queued_work: vec![0.0, 0.0],
            remaining_time: vec![0.0, 0.0],
            task: Some((vec![1.0], 4.0, 1.0)),
        };
        let mut out = vec![0.0; 13];
        layout.encode(&c, &mut out);
        assert_eq!(out, [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.6, 1.0]);
    }

    #[test]
    fn full_layout_operation_order() {
        // outstanding / speed first, then / time_scale (two roundings, in that order).
        let mut layout = full_layout();
        if let ObservationLayout::Full { time_scale, .. } = &mut layout {
            *time_scale = 3.7;
        }
        let cluster = full_cluster();
        let mut row = [0.0; 6];
        for w in 1..200 {
            for s in 1..50 {
                let (w, s) = (f64::from(w) * 0.37, f64::from(s) * 0.11);
                let node = NodeFeatures { speed: s, outstanding_work: w, ..cluster.node(0) };
                layout.encode_node(&node, &mut row);
                assert_eq!(row[2].to_bits(), ((w / s / 3.7) as f32).to_bits(), "{w} / {s}");
            }
        }
        // The task count divides in f32: 1 / 10 in f32, not (1 / 10 in f64) rounded.
        let node = NodeFeatures { tasks: 3, ..cluster.node(0) };
        layout.encode_node(&node, &mut row);
        assert_eq!(row[3].to_bits(), (3.0f32 / 10.0f32).to_bits());
    }

    #[test]
    fn park_layout_by_hand() {
        let layout = ObservationLayout::Park { n_nodes: 2, resources: vec!["slot".into()], high: 500.0 };
        assert_eq!((layout.node_width(), layout.task_width(), layout.obs_dim()), (1, 1, 3));
        // Load = queued work + remaining *time* of the running task: 50 + 200; 480 + 20 = 500 is
        // the clip; the size 900 clipped at 500.
        let mut c = Cluster {
            capacity: vec![vec![1.0], vec![1.0]],
            used: vec![vec![1.0], vec![1.0]],
            speed: vec![0.5, 1.5],
            up: vec![true, true],
            tasks: vec![2, 2],
            outstanding_work: vec![150.0, 510.0],
            queued_work: vec![50.0, 490.0],
            remaining_time: vec![200.0, 20.0],
            task: Some((vec![1.0], 900.0, 1.0)),
        };
        let mut out = [0.0; 3];
        layout.encode(&c, &mut out);
        assert_eq!(out, [250.0, 500.0, 500.0]);
        c.task = None;
        layout.encode(&c, &mut out);
        assert_eq!(out, [250.0, 500.0, 0.0]);
    }

    #[test]
    fn bounds_of_both_layouts() {
        let inf = f32::INFINITY;
        let (low, high) = full_layout().bounds();
        assert_eq!(low, [0.0; 16]);
        assert_eq!(high, [1.0, 1.0, inf, inf, 1.0, 1.0, 1.0, 1.0, inf, inf, 1.0, 1.0, 1.0, 1.0, inf, 1.0]);
        let park = ObservationLayout::Park { n_nodes: 2, resources: vec!["slot".into()], high: 500_000.0 };
        assert_eq!(park.bounds(), (vec![0.0; 3], vec![500_000.0; 3]));
    }

    #[test]
    fn validate_names_the_field() {
        full_layout().validate().unwrap();
        let check = |edit: fn(&mut ObservationLayout), want: &str| {
            let mut layout = full_layout();
            edit(&mut layout);
            assert_eq!(layout.validate().unwrap_err().to_string(), want);
        };
        check(
            |l| {
                if let ObservationLayout::Full { max_capacity, .. } = l {
                    max_capacity[1] = 0.0;
                }
            },
            "max_capacity[1]: is 0, expected a finite number > 0",
        );
        check(
            |l| {
                if let ObservationLayout::Full { max_capacity, .. } = l {
                    max_capacity.pop();
                }
            },
            "max_capacity: has 1 values, expected 2 (one per resource)",
        );
        check(
            |l| {
                if let ObservationLayout::Full { time_scale, .. } = l {
                    *time_scale = f64::NAN;
                }
            },
            "time_scale: is NaN, expected a finite number > 0",
        );
        check(
            |l| {
                if let ObservationLayout::Full { tasks_scale, .. } = l {
                    *tasks_scale = -10.0;
                }
            },
            "tasks_scale: is -10, expected a finite number > 0",
        );
        check(
            |l| {
                if let ObservationLayout::Full { n_nodes, .. } = l {
                    *n_nodes = 0;
                }
            },
            "n_nodes: is 0, expected at least one node",
        );
        check(
            |l| {
                if let ObservationLayout::Full { resources, .. } = l {
                    resources.clear();
                }
            },
            "resources: is empty, expected at least one resource name",
        );
        let park = ObservationLayout::Park { n_nodes: 2, resources: vec!["slot".into()], high: f64::INFINITY };
        assert_eq!(
            park.validate().unwrap_err(),
            LayoutError { field: "high".into(), message: "is inf, expected a finite number > 0".into() }
        );
    }

    #[test]
    fn json_form_is_tagged_and_strict() {
        // What cluster-env's observation constants serialise to, and policy.json of version 1.
        let json = r#"{"kind": "park", "n_nodes": 10, "resources": ["slot"], "high": 500000.0}"#;
        let layout: ObservationLayout = serde_json::from_str(json).unwrap();
        assert_eq!(layout, ObservationLayout::Park { n_nodes: 10, resources: vec!["slot".into()], high: 500_000.0 });
        assert_eq!(layout.obs_dim(), 11);
        let full = serde_json::to_value(full_layout()).unwrap();
        assert_eq!(full["kind"], "full");
        assert_eq!(full["max_capacity"], serde_json::json!([4.0, 16.0]));
        assert_eq!(serde_json::from_value::<ObservationLayout>(full).unwrap(), full_layout());
        let e = serde_json::from_str::<ObservationLayout>(r#"{"kind": "grid", "n_nodes": 1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown variant `grid`, expected one of `full`, `scalable`, `park`"), "{e}");
        let e = serde_json::from_str::<ObservationLayout>(&json.replace("\"high\"", "\"hi\"")).unwrap_err();
        assert!(e.to_string().contains("unknown field `hi`"), "{e}");
    }

    /// The scalable layout with `full_layout`'s constants.
    fn scalable_layout() -> ObservationLayout {
        let ObservationLayout::Full {
            n_nodes,
            resources,
            time_scale,
            max_speed,
            max_capacity,
            mean_work,
            max_weight,
            tasks_scale,
        } = full_layout()
        else {
            unreachable!("full_layout is Full")
        };
        ObservationLayout::Scalable {
            n_nodes,
            resources,
            time_scale,
            max_speed,
            max_capacity,
            mean_work,
            max_weight,
            tasks_scale,
            packing: false,
            completion: false,
        }
    }

    #[test]
    fn scalable_layout_by_hand() {
        #[rustfmt::skip]
        let expected: [f32; 24] = [
            // node 0: free (4−2)/4, (8−3)/8; capacity 4/4, 8/16; fit 2/4, 8/8;
            // outstanding 10 / 1 / 4; 1 task; speed 1/2; up
            0.5, 0.625, 1.0, 0.5, 0.5, 1.0, 2.5, 0.1, 0.5, 1.0,
            // node 1: free (2−1)/2, (16−4)/16; capacity 2/4, 16/16; fit 2/2, 8/16;
            // outstanding 6 / 2 / 4; 1 task; speed 2/2; up
            0.5, 0.75, 0.5, 1.0, 1.0, 0.5, 0.75, 0.1, 1.0, 1.0,
            // task, as Full: demand 2/4, 8/16; size 2/6; weight 4/4
            0.5, 0.5, (2.0f64 / 6.0) as f32, 1.0,
        ];
        let layout = scalable_layout();
        assert_eq!((layout.node_width(), layout.task_width(), layout.obs_dim()), (10, 4, 24));
        assert_eq!(layout.present_column(), Some(8));
        let mut out = vec![f32::NAN; 24];
        layout.encode(&full_cluster(), &mut out);
        assert_eq!(out, expected);
        // Row by row: the node row needs the task.
        let cluster = full_cluster();
        let mut row = [f32::NAN; 10];
        layout.encode_node_with_task(&cluster.node(1), cluster.task().as_ref(), &mut row);
        assert_eq!(row, expected[10..20]);
        // Without a task the fit ratios are 0, everything else the same.
        layout.encode_node(&cluster.node(1), &mut row);
        assert_eq!(row, [0.5, 0.75, 0.5, 1.0, 0.0, 0.0, 0.75, 0.1, 1.0, 1.0]);
        let mut done = full_cluster();
        done.task = None;
        layout.encode(&done, &mut out);
        assert_eq!(out[..4], expected[..4]);
        assert_eq!(out[4..6], [0.0, 0.0], "no task: no fit");
        assert_eq!(out[20..], [0.0; 4], "no task");
        // Full reads the same cluster exactly as before: its row is the scalable row without
        // the capacity and fit columns.
        let mut full = vec![0.0; 16];
        full_layout().encode(&full_cluster(), &mut full);
        assert_eq!(full[..2], expected[..2]);
        assert_eq!(full[2..6], expected[6..10]);
        assert_eq!(full[12..], expected[20..]);
    }

    fn packing_layout() -> ObservationLayout {
        scalable_with(true, false)
    }

    #[test]
    fn packing_signals_by_hand() {
        let layout = packing_layout();
        assert_eq!((layout.node_width(), layout.task_width(), layout.obs_dim()), (12, 4, 28));
        assert_eq!(layout.present_column(), Some(8), "the speed column does not move");
        let mut c = full_cluster();
        c.used[1][0] = 0.0;
        let mut out = vec![f32::NAN; 28];
        layout.encode(&c, &mut out);
        // Node 0: cpu 2 + 2 ≤ 4 but mem 3 + 8 > 8, no fit; alignment 2/4 · 2/4 + 8/8 · 5/8.
        assert_eq!(out[10..12], [0.0, 0.875]);
        // Node 1: cpu 0 + 2 ≤ 2, mem 4 + 8 ≤ 16, fits; alignment 2/2 · 2/2 + 8/16 · 12/16.
        assert_eq!(out[22..24], [1.0, 1.375]);
        // Everything else is the plain scalable observation.
        let mut plain = vec![f32::NAN; 24];
        scalable_layout().encode(&c, &mut plain);
        assert_eq!((&out[..10], &out[12..22], &out[24..]), (&plain[..10], &plain[10..20], &plain[20..]));
        let (low, high) = layout.bounds();
        assert!(out.iter().zip(&low).zip(&high).all(|((v, l), h)| l <= v && v <= h), "{out:?}");
        assert_eq!(high[10..12], [1.0, 4.0]);
        // A task queued ahead, or the node down: it does not fit now (the alignment stays).
        c.queued_work[1] = 1.0;
        layout.encode(&c, &mut out);
        assert_eq!(out[22..24], [0.0, 1.375]);
        c.queued_work[1] = 0.0;
        c.up[1] = false;
        layout.encode(&c, &mut out);
        assert_eq!(out[22..24], [0.0, 1.375]);
        // No task: both 0.
        c.task = None;
        layout.encode(&c, &mut out);
        assert_eq!((&out[10..12], &out[22..24]), (&[0.0; 2][..], &[0.0; 2][..]));
    }

    /// `scalable_layout` with the options set.
    fn scalable_with(packing_on: bool, completion_on: bool) -> ObservationLayout {
        let mut layout = scalable_layout();
        if let ObservationLayout::Scalable { packing, completion, .. } = &mut layout {
            (*packing, *completion) = (packing_on, completion_on);
        }
        layout
    }

    #[test]
    fn completion_by_hand() {
        let c = full_cluster();
        let mut plain = vec![f32::NAN; 24];
        scalable_layout().encode(&c, &mut plain);
        // Node 0: (10 outstanding + 2 task work) / speed 1 / time scale 4; node 1: (6 + 2) / 2 / 4.
        let layout = scalable_with(false, true);
        assert_eq!((layout.node_width(), layout.obs_dim()), (11, 26));
        assert_eq!(layout.present_column(), Some(8), "the speed column does not move");
        let mut out = vec![f32::NAN; 26];
        layout.encode(&c, &mut out);
        assert_eq!((out[10], out[21]), (3.0, 1.0));
        assert_eq!((&out[..10], &out[11..21], &out[22..]), (&plain[..10], &plain[10..20], &plain[20..]));
        let (_, high) = layout.bounds();
        assert_eq!((high.len(), high[10], high[21]), (26, f32::INFINITY, f32::INFINITY));
        // With the packing signals too, it comes after them: the packing columns do not move.
        let both = scalable_with(true, true);
        assert_eq!((both.node_width(), both.obs_dim()), (13, 30));
        let mut packed = vec![f32::NAN; 28];
        packing_layout().encode(&c, &mut packed);
        let mut out = vec![f32::NAN; 30];
        both.encode(&c, &mut out);
        assert_eq!((out[12], out[25]), (3.0, 1.0));
        assert_eq!((&out[..12], &out[13..25], &out[26..]), (&packed[..12], &packed[12..24], &packed[24..]));
        // Row by row, with and without a task (no task: 0, as every task-dependent column).
        let mut row = [f32::NAN; 13];
        both.encode_node_with_task(&c.node(0), c.task().as_ref(), &mut row);
        assert_eq!(row[..], out[..13]);
        both.encode_node(&c.node(0), &mut row);
        assert_eq!(row[12], 0.0);
        // Serialised only when on, and read back.
        let on = serde_json::to_value(&both).unwrap();
        assert_eq!((on["packing"].clone(), on["completion"].clone()), (true.into(), true.into()));
        assert_eq!(serde_json::from_value::<ObservationLayout>(on).unwrap(), both);
        assert!(serde_json::to_value(packing_layout()).unwrap().get("completion").is_none());
    }

    #[test]
    fn packing_is_written_only_when_on_and_read_as_off_when_absent() {
        let plain = serde_json::to_value(scalable_layout()).unwrap();
        assert!(plain.get("packing").is_none(), "files without the option stay byte-identical");
        assert_eq!(serde_json::from_value::<ObservationLayout>(plain).unwrap(), scalable_layout());
        let on = serde_json::to_value(packing_layout()).unwrap();
        assert_eq!(on["packing"], true);
        assert_eq!(serde_json::from_value::<ObservationLayout>(on).unwrap(), packing_layout());
    }

    #[test]
    fn scalable_fit_ratios_at_the_edges() {
        let layout = scalable_layout();
        let mut c = full_cluster();
        // Node 1 lacks cpu: capacity fraction 0, free 0.
        c.capacity[1][0] = 0.0;
        c.used[1][0] = 0.0;
        // cpu 5 is more than twice node 1's... node 0's cpu 4 gives 1.25; mem 20 over 8 is 2.5,
        // capped at 2, and over 16 is 1.25. On node 1 the lacking cpu reads 2.
        c.task = Some((vec![5.0, 20.0], 6.0, 1.0));
        let mut out = vec![0.0; 24];
        layout.encode(&c, &mut out);
        assert_eq!(out[4..6], [1.25, 2.0]);
        assert_eq!(out[10..16], [0.0, 0.75, 0.0, 1.0, 2.0, 1.25]);
        // A task that demands none of the lacking resource fits it at 0.
        c.task = Some((vec![0.0, 4.0], 6.0, 1.0));
        layout.encode(&c, &mut out);
        assert_eq!(out[4..6], [0.0, 0.5]);
        assert_eq!(out[14..16], [0.0, 0.25]);
        // Every value within the bounds.
        let (low, high) = layout.bounds();
        assert!(out.iter().zip(&low).zip(&high).all(|((v, l), h)| l <= v && v <= h), "{out:?}");
    }

    #[test]
    fn scalable_bounds_and_json() {
        let inf = f32::INFINITY;
        let (low, high) = scalable_layout().bounds();
        assert_eq!(low, [0.0; 24]);
        let node = [1.0, 1.0, 1.0, 1.0, 2.0, 2.0, inf, inf, 1.0, 1.0];
        assert_eq!(high[..10], node);
        assert_eq!(high[10..20], node);
        assert_eq!(high[20..], [1.0, 1.0, inf, 1.0]);
        let json = serde_json::to_value(scalable_layout()).unwrap();
        assert_eq!(json["kind"], "scalable");
        assert_eq!(serde_json::from_value::<ObservationLayout>(json).unwrap(), scalable_layout());
        scalable_layout().validate().unwrap();
        let mut bad = scalable_layout();
        if let ObservationLayout::Scalable { max_weight, .. } = &mut bad {
            *max_weight = 0.0;
        }
        assert_eq!(bad.validate().unwrap_err().to_string(), "max_weight: is 0, expected a finite number > 0");
    }

    /// A cluster smaller than the layout: its rows first, then zero rows; the present column is
    /// > 0 exactly for the real nodes.
    #[test]
    fn padded_rows_are_zero_and_absent() {
        for layout in [full_layout(), scalable_layout()] {
            let big = layout.with_n_nodes(5);
            assert_eq!(big.n_nodes(), 5);
            assert_eq!(big.with_n_nodes(2), layout, "only the node count changes");
            let (w, col) = (big.node_width(), big.present_column().unwrap());
            let mut small = vec![0.0; layout.obs_dim()];
            layout.encode(&full_cluster(), &mut small);
            let mut out = vec![f32::NAN; big.obs_dim()];
            big.encode_padded(&full_cluster(), &mut out);
            assert_eq!(out[..2 * w], small[..2 * w]);
            assert!(out[2 * w..5 * w].iter().all(|&v| v == 0.0));
            assert_eq!(out[5 * w..], small[2 * w..], "the task row after all five");
            let present: Vec<bool> = out[..5 * w].chunks(w).map(|row| row[col] > 0.0).collect();
            assert_eq!(present, [true, true, false, false, false]);
            // A full-size cluster encodes identically either way.
            let mut again = vec![f32::NAN; layout.obs_dim()];
            layout.encode_padded(&full_cluster(), &mut again);
            assert_eq!(again, small);
        }
        let park = ObservationLayout::Park { n_nodes: 3, resources: vec!["slot".into()], high: 500.0 };
        assert_eq!((park.present_column(), full_layout().present_column()), (None, Some(4)));
        let mut out = [f32::NAN; 4];
        park.encode_padded(&full_cluster(), &mut out);
        assert_eq!(out, [10.0, 3.0, 0.0, 2.0]);
    }

    #[test]
    #[should_panic(expected = "cluster has 2 nodes, more than the observation layout's 1")]
    fn encode_padded_refuses_a_bigger_cluster() {
        let layout = ObservationLayout::Park { n_nodes: 1, resources: vec!["slot".into()], high: 500.0 };
        layout.encode_padded(&full_cluster(), &mut [0.0; 2]);
    }

    #[test]
    #[should_panic(expected = "cluster has 2 nodes, the observation layout 3")]
    fn encode_checks_the_node_count() {
        let layout = ObservationLayout::Park { n_nodes: 3, resources: vec!["slot".into()], high: 500.0 };
        layout.encode(&full_cluster(), &mut [0.0; 4]);
    }
}
