//! The task-submission interface: a plain description of the cluster and the task to place
//! ([`ClusterState`]), checked and encoded into the policy's observation and action mask with
//! the simulator's own encoder ([`ClusterState::encode`]).

use policy_core::{NodeFeatures, ObservationLayout, TaskFeatures, fits};
use serde::{Deserialize, Serialize};

use crate::error::{PolicyError, Result};

/// The cluster at the moment a task must be placed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterState {
    /// Every node of the cluster, in any order (each identified by its `id`).
    pub nodes: Vec<NodeState>,
    /// The task to place.
    pub task: TaskRequest,
}

/// One node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeState {
    /// The node's index, `0..n_nodes`: the action that places a task on it.
    pub id: usize,
    /// Capacity per resource (in the order of the policy's `observation.resources`), > 0.
    pub capacity: Vec<f64>,
    /// Resources in use per resource by the running tasks, ≥ 0.
    pub usage: Vec<f64>,
    /// Work units processed per time unit, > 0.
    pub speed: f64,
    /// Whether the node is up (a down node is never chosen).
    pub up: bool,
    /// Tasks waiting in the node's queue.
    pub queued_tasks: usize,
    /// Work units of the queued tasks, ≥ 0.
    pub queued_work: f64,
    /// Tasks running on the node.
    pub running_tasks: usize,
    /// Remaining work units of the running tasks, ≥ 0.
    pub running_work: f64,
}

/// The task to place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRequest {
    /// Caller's id for the task (only echoed in errors).
    pub id: u64,
    /// Priority weight of the task's class (as in the scenario's priority classes), ≥ 0.
    pub priority: f64,
    /// Demand per resource, ≥ 0.
    pub demands: Vec<f64>,
    /// Size in work units (runtime on a node is size / speed), ≥ 0.
    pub size: f64,
    /// The ids of the nodes the task may run on (a tenant's placement constraint, as in the
    /// `seed-case` scenario); absent: every node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_nodes: Option<Vec<usize>>,
}

impl ClusterState {
    /// Checks the state against `layout` and writes its observation and action mask into `obs`
    /// (length [`ObservationLayout::obs_dim`]) and `mask` (length `n_nodes`), exactly as the
    /// simulator encodes its own state, without allocating (except to build an error).
    ///
    /// Node `id`'s row ([`ObservationLayout::encode_node`], the node's row at
    /// `id·node_width`) is encoded from
    /// - `tasks` = `queued_tasks + running_tasks`,
    /// - `outstanding_work` = `queued_work + running_work`,
    /// - `remaining_time` = `running_work / speed` (Park's load adds it to `queued_work`),
    ///
    /// and the task's row ([`ObservationLayout::encode_task`]) from its demands, `size` and
    /// `priority`; see [`policy_core::observation`] for the features. A down node is encoded
    /// from what the state says; the simulator reports it with no usage and nothing
    /// outstanding.
    ///
    /// The mask is `up && every demand ≤ capacity + FIT_EPS` ([`policy_core::fits`], the
    /// simulator's rule) `&&` the node is in `allowed_nodes` (when given).
    ///
    /// # Errors
    /// Wrong `obs`/`mask` lengths; no nodes; a node count other than `n_nodes`; an id out of
    /// range or repeated; a per-resource vector of the wrong length; a NaN, infinite or negative
    /// number, or a zero capacity or speed (each naming the node and field); no node able to
    /// take the task. On error, `obs` and `mask` hold partial results.
    pub fn encode(&self, layout: &ObservationLayout, obs: &mut [f32], mask: &mut [bool]) -> Result<()> {
        let n = layout.n_nodes();
        if obs.len() != layout.obs_dim() {
            return Err(PolicyError::ObsLength { got: obs.len(), expected: layout.obs_dim() });
        }
        if mask.len() != n {
            return Err(PolicyError::MaskLength { got: mask.len(), expected: n });
        }
        if self.nodes.is_empty() {
            return Err(PolicyError::EmptyCluster { expected: n });
        }
        if self.nodes.len() != n {
            return Err(PolicyError::NodeCount { got: self.nodes.len(), expected: n });
        }
        self.encode_nodes(layout, n, obs, mask)
    }

    /// [`ClusterState::encode`] for a policy that serves any node count (a node-scoring
    /// network): the state's `N` nodes (ids `0..N`), whatever `layout.n_nodes()` says, into
    /// `obs` of length `N·node_width + task_width` and `mask` of length `N`. The layout's
    /// other constants (resources, scales) apply as they are.
    ///
    /// # Errors
    /// [`PolicyError::NoNodes`] for a state without nodes; otherwise as
    /// [`ClusterState::encode`] (never a node count error).
    pub fn encode_any_size(&self, layout: &ObservationLayout, obs: &mut [f32], mask: &mut [bool]) -> Result<()> {
        let n = self.nodes.len();
        if n == 0 {
            return Err(PolicyError::NoNodes);
        }
        let dim = n * layout.node_width() + layout.task_width();
        if obs.len() != dim {
            return Err(PolicyError::ObsLength { got: obs.len(), expected: dim });
        }
        if mask.len() != n {
            return Err(PolicyError::MaskLength { got: mask.len(), expected: n });
        }
        self.encode_nodes(layout, n, obs, mask)
    }

    /// The encoding proper, for `n` nodes (the state holds `n`; `obs` and `mask` fit them).
    fn encode_nodes(&self, layout: &ObservationLayout, n: usize, obs: &mut [f32], mask: &mut [bool]) -> Result<()> {
        let width = layout.node_width();
        let task = &self.task;
        check_resources(layout, || "task: demands".into(), &task.demands)?;
        for (k, &d) in task.demands.iter().enumerate() {
            non_negative(|| format!("task: demands[{k}]"), d)?;
        }
        non_negative(|| "task: size".into(), task.size)?;
        non_negative(|| "task: priority".into(), task.priority)?;

        let task_features = TaskFeatures { demand: &task.demands, work: task.size, weight: task.priority };
        // The first value of a node's row starts at −1, a value no valid node writes there (a
        // free fraction in [0, 1], an outstanding time ≥ 0, or a park load ≥ 0): duplicates
        // are found without a scratch buffer, and with `n` distinct in-range ids every row is
        // written.
        for id in 0..n {
            obs[id * width] = -1.0;
        }
        for node in &self.nodes {
            let id = node.id;
            if id >= n {
                return Err(PolicyError::NodeIdOutOfRange { id, n_nodes: n });
            }
            if obs[id * width] != -1.0 {
                return Err(PolicyError::DuplicateNodeId { id, n_nodes: n });
            }
            check_node(layout, node)?;
            mask[id] = node.up && fits(&task.demands, &node.capacity);
            let features = NodeFeatures {
                capacity: &node.capacity,
                used: &node.usage,
                speed: node.speed,
                up: node.up,
                tasks: node.queued_tasks + node.running_tasks,
                outstanding_work: node.queued_work + node.running_work,
                queued_work: node.queued_work,
                remaining_time: node.running_work / node.speed,
            };
            // The task is part of a node's row in the scalable layout (its fit ratios).
            layout.encode_node_with_task(&features, Some(&task_features), &mut obs[id * width..(id + 1) * width]);
        }
        layout.encode_task(Some(&task_features), &mut obs[n * width..]);
        if let Some(allowed) = &task.allowed_nodes {
            if let Some(&id) = allowed.iter().find(|&&id| id >= n) {
                return Err(PolicyError::NodeIdOutOfRange { id, n_nodes: n });
            }
            for (id, m) in mask.iter_mut().enumerate() {
                *m &= allowed.contains(&id);
            }
        }
        if !mask.contains(&true) {
            return Err(PolicyError::NoFeasibleNode { task: task.id });
        }
        Ok(())
    }
}

/// A per-resource vector must have one value per resource (`field` is built only on error,
/// so that a valid state is encoded without allocating).
fn check_resources(layout: &ObservationLayout, field: impl FnOnce() -> String, values: &[f64]) -> Result<()> {
    let resources = layout.resources();
    if values.len() == resources.len() {
        return Ok(());
    }
    Err(PolicyError::ResourceCount {
        field: field(),
        got: values.len(),
        expected: resources.len(),
        resources: resources.join(", "),
    })
}

/// Every number of a node: one capacity and usage per resource, capacities ≥ 0 with at least
/// one > 0, speed > 0, usage and work ≥ 0, all finite.
///
/// A capacity of 0 is a resource the node does not have (a CPU-only node's GPUs, as in real
/// node lists): the mask keeps every task that needs it elsewhere and the encoder reads it as
/// 0, as the simulator does.
fn check_node(layout: &ObservationLayout, node: &NodeState) -> Result<()> {
    let id = node.id;
    check_resources(layout, || format!("node {id}: capacity"), &node.capacity)?;
    check_resources(layout, || format!("node {id}: usage"), &node.usage)?;
    for (k, &c) in node.capacity.iter().enumerate() {
        non_negative(|| format!("node {id}: capacity[{k}]"), c)?;
    }
    if node.capacity.iter().all(|&c| c == 0.0) {
        return Err(PolicyError::InvalidValue {
            field: format!("node {id}: capacity"),
            value: 0.0,
            valid: "capacities ≥ 0 with at least one > 0 (a node with no resource can run nothing)",
        });
    }
    for (k, &u) in node.usage.iter().enumerate() {
        non_negative(|| format!("node {id}: usage[{k}]"), u)?;
    }
    positive(|| format!("node {id}: speed"), node.speed)?;
    non_negative(|| format!("node {id}: queued_work"), node.queued_work)?;
    non_negative(|| format!("node {id}: running_work"), node.running_work)?;
    Ok(())
}

/// `value` must be finite and ≥ 0 (`field` is built only on error).
fn non_negative(field: impl FnOnce() -> String, value: f64) -> Result<()> {
    check_number(field, value, value >= 0.0, "a finite number ≥ 0")
}

/// `value` must be finite and > 0: it divides.
fn positive(field: impl FnOnce() -> String, value: f64) -> Result<()> {
    check_number(field, value, value > 0.0, "a finite number > 0")
}

fn check_number(field: impl FnOnce() -> String, value: f64, in_range: bool, valid: &'static str) -> Result<()> {
    if value.is_finite() && in_range { Ok(()) } else { Err(PolicyError::InvalidValue { field: field(), value, valid }) }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Hand-computed encodings (the simulator's own hand-built examples) and every bad state.

    use super::*;

    /// cluster-env's `full_observation_by_hand` scenario: nodes cpu/mem [4, 8] at speed 1 and
    /// [2, 16] at speed 2; mean work 6, mean speed 1.5 → time scale 4; weights up to 4.
    pub(crate) fn full_layout() -> ObservationLayout {
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
    fn full_state() -> ClusterState {
        let node = |id, capacity: [f64; 2], usage: [f64; 2], speed, running_work| NodeState {
            id,
            capacity: capacity.to_vec(),
            usage: usage.to_vec(),
            speed,
            up: true,
            queued_tasks: 0,
            queued_work: 0.0,
            running_tasks: 1,
            running_work,
        };
        ClusterState {
            nodes: vec![node(0, [4.0, 8.0], [2.0, 3.0], 1.0, 10.0), node(1, [2.0, 16.0], [1.0, 4.0], 2.0, 6.0)],
            task: TaskRequest { id: 2, priority: 4.0, demands: vec![2.0, 8.0], size: 2.0, allowed_nodes: None },
        }
    }

    fn encode(layout: &ObservationLayout, state: &ClusterState) -> Result<(Vec<f32>, Vec<bool>)> {
        let mut obs = vec![0.0; layout.obs_dim()];
        let mut mask = vec![false; layout.n_nodes()];
        state.encode(layout, &mut obs, &mut mask)?;
        Ok((obs, mask))
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
        let (obs, mask) = encode(&full_layout(), &full_state()).unwrap();
        assert_eq!(obs, expected);
        assert_eq!(mask, [true, true]);
        // Node order in the request does not matter.
        let mut reversed = full_state();
        reversed.nodes.reverse();
        assert_eq!(encode(&full_layout(), &reversed).unwrap(), (obs, mask));
    }

    /// A node without one of the resources (capacity 0: a CPU-only node's GPUs in a real node
    /// list) is a valid node: free 0 for that resource, and masked only for a task that needs it.
    #[test]
    fn a_node_lacking_a_resource_is_valid_and_masked_only_for_tasks_that_need_it() {
        let mut s = full_state();
        s.nodes[0].capacity[1] = 0.0;
        s.nodes[0].usage[1] = 0.0;
        let (obs, mask) = encode(&full_layout(), &s).unwrap();
        assert_eq!(obs[..2], [0.5, 0.0]);
        assert_eq!(mask, [false, true], "the task needs mem");
        s.task.demands[1] = 0.0;
        let (_, mask) = encode(&full_layout(), &s).unwrap();
        assert_eq!(mask, [true, true], "a task that needs no mem may go there");
    }

    #[test]
    fn full_layout_clamps_and_masks() {
        let mut s = full_state();
        // Over-used node 0 (free fraction clamps at 0), node 1 down; queued work counts.
        s.nodes[0].usage = vec![5.0, 8.0];
        s.nodes[0].queued_tasks = 3;
        s.nodes[0].queued_work = 2.0;
        s.nodes[1].up = false;
        // A demand above the largest capacity is capped at 1.
        s.task.demands = vec![4.0 + 0.5e-9, 20.0];
        s.nodes[0].capacity[1] = 20.0;
        let (obs, mask) = encode(&full_layout(), &s).unwrap();
        assert_eq!(obs[..6], [0.0, (12.0f64 / 20.0) as f32, 3.0, 0.4, 0.5, 1.0]);
        assert_eq!(obs[11], 0.0, "down");
        assert_eq!(obs[12..14], [1.0, 1.0]);
        // 4 + 0.5e-9 fits 4 within the tolerance; node 1 is down.
        assert_eq!(mask, [true, false]);
        s.task.demands[0] = 4.0 + 2e-9;
        let e = encode(&full_layout(), &s).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cluster state: no node can take task 2 (every node is down or smaller than its demands)"
        );
    }

    #[test]
    fn allowed_nodes_restrict_the_mask() {
        let mut s = full_state();
        let (obs, _) = encode(&full_layout(), &s).unwrap();
        s.task.allowed_nodes = Some(vec![1]);
        let (restricted, mask) = encode(&full_layout(), &s).unwrap();
        assert_eq!((restricted, mask), (obs, vec![false, true]), "only the mask changes");
        s.task.allowed_nodes = Some(vec![0, 2]);
        let e = encode(&full_layout(), &s).unwrap_err();
        assert!(e.to_string().contains("2"), "{e}");
        assert!(matches!(e, PolicyError::NodeIdOutOfRange { id: 2, n_nodes: 2 }));
        s.task.allowed_nodes = Some(vec![]);
        assert!(matches!(encode(&full_layout(), &s).unwrap_err(), PolicyError::NoFeasibleNode { task: 2 }));
    }

    #[test]
    fn park_layout_by_hand() {
        let layout = ObservationLayout::Park { n_nodes: 2, resources: vec!["slot".into()], high: 500.0 };
        let node = |id, speed, queued_work, running_work| NodeState {
            id,
            capacity: vec![1.0],
            usage: vec![1.0],
            speed,
            up: true,
            queued_tasks: 1,
            queued_work,
            running_tasks: 1,
            running_work,
        };
        // Load = queued sizes + remaining *time* of the running job: 50 + 100/0.5; 480 + 30/1.5
        // = 500 is the clip; the size 900 clipped at 500.
        let state = ClusterState {
            nodes: vec![node(1, 1.5, 490.0, 30.0), node(0, 0.5, 50.0, 100.0)],
            task: TaskRequest { id: 9, priority: 1.0, demands: vec![1.0], size: 900.0, allowed_nodes: None },
        };
        let (obs, mask) = encode(&layout, &state).unwrap();
        assert_eq!(obs, [250.0, 500.0, 500.0]);
        // A slot node is masked on up and capacity only (usage does not matter: tasks queue).
        assert_eq!(mask, [true, true]);
    }

    #[test]
    fn bad_states_are_errors_naming_the_node_and_field() {
        let layout = full_layout();
        let check = |edit: fn(&mut ClusterState), want: &str| {
            let mut s = full_state();
            edit(&mut s);
            let e = encode(&layout, &s).unwrap_err();
            assert_eq!(e.to_string(), format!("cluster state: {want}"));
        };
        check(|s| s.nodes.clear(), "the cluster has no nodes; this policy places tasks on 2 nodes");
        check(|s| s.nodes.truncate(1), "1 nodes, but this policy places tasks on 2 nodes (ids 0..2)");
        check(|s| s.nodes[1].id = 2, "node id 2 is out of range (valid ids are 0..2, one per node)");
        check(|s| s.nodes[1].id = 0, "node id 0 appears twice (each of the ids 0..2 appears once)");
        check(
            |s| s.nodes[1].capacity.push(1.0),
            "node 1: capacity has 3 values, expected 2 (one per resource: cpu, mem)",
        );
        check(|s| s.nodes[0].usage.clear(), "node 0: usage has 0 values, expected 2 (one per resource: cpu, mem)");
        check(|s| s.task.demands = vec![1.0], "task: demands has 1 values, expected 2 (one per resource: cpu, mem)");
        check(|s| s.nodes[1].capacity[1] = -1.0, "node 1: capacity[1] is -1, expected a finite number ≥ 0");
        check(
            |s| s.nodes[1].capacity = vec![0.0, 0.0],
            "node 1: capacity is 0, expected capacities ≥ 0 with at least one > 0 (a node with no resource can run \
             nothing)",
        );
        check(|s| s.nodes[0].speed = 0.0, "node 0: speed is 0, expected a finite number > 0");
        check(|s| s.nodes[0].usage[0] = -1.0, "node 0: usage[0] is -1, expected a finite number ≥ 0");
        check(|s| s.nodes[1].queued_work = f64::NAN, "node 1: queued_work is NaN, expected a finite number ≥ 0");
        check(|s| s.nodes[1].running_work = f64::INFINITY, "node 1: running_work is inf, expected a finite number ≥ 0");
        check(|s| s.task.size = -2.0, "task: size is -2, expected a finite number ≥ 0");
        check(|s| s.task.priority = f64::NAN, "task: priority is NaN, expected a finite number ≥ 0");
        check(|s| s.task.demands[1] = -0.5, "task: demands[1] is -0.5, expected a finite number ≥ 0");
        check(
            |s| s.nodes.iter_mut().for_each(|n| n.up = false),
            "no node can take task 2 (every node is down or smaller than its demands)",
        );
        let mut short = vec![0.0; 3];
        let e = full_state().encode(&layout, &mut short, &mut [false; 2]).unwrap_err();
        assert!(matches!(e, PolicyError::ObsLength { got: 3, expected: 16 }), "{e}");
        let e = full_state().encode(&layout, &mut [0.0; 16], &mut [false; 3]).unwrap_err();
        assert!(matches!(e, PolicyError::MaskLength { got: 3, expected: 2 }), "{e}");
    }

    #[test]
    fn any_size_encoding_takes_the_states_node_count() {
        // The layout says 2 nodes; the state has 3 (node 1 again as node 2) and is encoded as 3.
        let layout = full_layout();
        let mut s = full_state();
        let mut third = s.nodes[1].clone();
        third.id = 2;
        s.nodes.push(third);
        let (mut obs, mut mask) = (vec![0.0; 3 * 6 + 4], vec![false; 3]);
        s.encode_any_size(&layout, &mut obs, &mut mask).unwrap();
        let (two, two_mask) = encode(&layout, &full_state()).unwrap();
        assert_eq!(obs[..12], two[..12]);
        assert_eq!(obs[12..18], two[6..12], "node 2's row is node 1's");
        assert_eq!(obs[18..], two[12..], "the task row follows the last node");
        assert_eq!(mask, [two_mask[0], two_mask[1], two_mask[1]]);
        // The buffers must fit the state's node count; the fixed encoding still wants 2 nodes.
        let e = s.encode_any_size(&layout, &mut [0.0; 16], &mut [false; 3]).unwrap_err();
        assert!(matches!(e, PolicyError::ObsLength { got: 16, expected: 22 }), "{e}");
        let e = s.encode_any_size(&layout, &mut obs, &mut [false; 2]).unwrap_err();
        assert!(matches!(e, PolicyError::MaskLength { got: 2, expected: 3 }), "{e}");
        let e = s.encode(&layout, &mut [0.0; 16], &mut [false; 2]).unwrap_err();
        assert!(matches!(e, PolicyError::NodeCount { got: 3, expected: 2 }), "{e}");
        s.nodes.clear();
        assert!(matches!(s.encode_any_size(&layout, &mut [], &mut []).unwrap_err(), PolicyError::NoNodes));
    }

    #[test]
    fn cluster_state_json_is_strict() {
        let json = r#"{
            "nodes": [{"id": 0, "capacity": [1.0], "usage": [0.0], "speed": 1.0, "up": true,
                       "queued_tasks": 0, "queued_work": 0.0, "running_tasks": 0, "running_work": 0.0}],
            "task": {"id": 1, "priority": 1.0, "demands": [1.0], "size": 5.0}
        }"#;
        let s: ClusterState = serde_json::from_str(json).unwrap();
        assert_eq!(s.nodes[0].speed, 1.0);
        let e = serde_json::from_str::<ClusterState>(&json.replace("\"usage\"", "\"used\"")).unwrap_err();
        assert!(e.to_string().starts_with("unknown field `used`"), "{e}");
    }
}
