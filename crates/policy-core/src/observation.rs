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
            ObservationLayout::Full { n_nodes, .. } | ObservationLayout::Park { n_nodes, .. } => *n_nodes,
        }
    }

    /// Resource names.
    pub fn resources(&self) -> &[String] {
        match self {
            ObservationLayout::Full { resources, .. } | ObservationLayout::Park { resources, .. } => resources,
        }
    }

    /// Values per node: `R + 4` (full) or 1 (park).
    pub fn node_width(&self) -> usize {
        match self {
            ObservationLayout::Full { resources, .. } => resources.len() + 4,
            ObservationLayout::Park { .. } => 1,
        }
    }

    /// Values of the task: `R + 2` (full) or 1 (park).
    pub fn task_width(&self) -> usize {
        match self {
            ObservationLayout::Full { resources, .. } => resources.len() + 2,
            ObservationLayout::Park { .. } => 1,
        }
    }

    /// Length of the observation: `n_nodes · node_width + task_width`, that is
    /// `N·(R+4) + R + 2` (full) or `N + 1` (park).
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
    /// task count are unbounded); the task row `[0; R+2]` to `[1; R]` then `[∞, 1]`. Park: 0 to
    /// `high` everywhere.
    pub fn bounds(&self) -> (Vec<f32>, Vec<f32>) {
        let (n, dim) = (self.n_nodes(), self.obs_dim());
        match self {
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

    /// Writes one node's row ([`ObservationLayout::node_width`] values) into `row[..node_width]`.
    ///
    /// Full: `R` free fractions, outstanding time, tasks, speed, up (see the [module
    /// documentation](self)); Park: `min(queued_work + remaining_time, high)`.
    ///
    /// # Panics
    /// If `row` is shorter than `node_width`, or (full) `capacity` or `used` has fewer than `R`
    /// values.
    pub fn encode_node(&self, node: &NodeFeatures<'_>, row: &mut [f32]) {
        match self {
            ObservationLayout::Full { resources, time_scale, max_speed, tasks_scale, .. } => {
                let r = resources.len();
                let row = &mut row[..r + 4];
                for ((free, &c), &u) in row[..r].iter_mut().zip(&node.capacity[..r]).zip(&node.used[..r]) {
                    // A resource the node does not have (a CPU-only node's GPUs) is not free.
                    *free = if c <= 0.0 { 0.0 } else { ((c - u) / c).clamp(0.0, 1.0) as f32 };
                }
                row[r] = (node.outstanding_work / node.speed / time_scale) as f32;
                row[r + 1] = node.tasks as f32 / *tasks_scale as f32;
                row[r + 2] = (node.speed / max_speed) as f32;
                row[r + 3] = if node.up { 1.0 } else { 0.0 };
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
    /// Full: `R` demand fractions, size, priority (see the [module documentation](self)); Park:
    /// `min(work, high)`.
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
            ObservationLayout::Full { resources, max_capacity, mean_work, max_weight, .. } => {
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
    /// If `src` has a number of nodes other than [`ObservationLayout::n_nodes`], `out`'s length
    /// is not [`ObservationLayout::obs_dim`], or a per-resource slice is shorter than the number
    /// of resources.
    pub fn encode(&self, src: &(impl ClusterRead + ?Sized), out: &mut [f32]) {
        let (n, w) = (self.n_nodes(), self.node_width());
        assert_eq!(src.n_nodes(), n, "cluster has {} nodes, the observation layout {n}", src.n_nodes());
        assert_eq!(out.len(), self.obs_dim(), "observation buffer length");
        let (nodes, task) = out.split_at_mut(n * w);
        for (i, row) in nodes.chunks_exact_mut(w).enumerate() {
            self.encode_node(&src.node(i), row);
        }
        self.encode_task(src.task().as_ref(), task);
    }
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
        assert!(e.to_string().contains("unknown variant `grid`, expected `full` or `park`"), "{e}");
        let e = serde_json::from_str::<ObservationLayout>(&json.replace("\"high\"", "\"hi\"")).unwrap_err();
        assert!(e.to_string().contains("unknown field `hi`"), "{e}");
    }

    #[test]
    #[should_panic(expected = "cluster has 2 nodes, the observation layout 3")]
    fn encode_checks_the_node_count() {
        let layout = ObservationLayout::Park { n_nodes: 3, resources: vec!["slot".into()], high: 500.0 };
        layout.encode(&full_cluster(), &mut [0.0; 4]);
    }
}
