//! The flat `f32` observation given to learned policies.
//!
//! **Full layout** (default), with `R` resources and `N` nodes, length `N·(R+4) + R + 2`:
//!
//! | offset | feature | normalisation |
//! |---|---|---|
//! | node i, `0..R` | free fraction of each resource | (capacity − used) / capacity, in [0, 1] |
//! | node i, `R` | outstanding time | outstanding work / speed / `time_scale` |
//! | node i, `R+1` | tasks on the node (queued + running) | / 10 |
//! | node i, `R+2` | speed | / fastest node's speed |
//! | node i, `R+3` | up | 1 or 0 |
//! | task, `0..R` | demand | / largest capacity of that resource |
//! | task, `R` | size | work / mean work |
//! | task, `R+1` | priority | weight / largest weight |
//!
//! Node i's block starts at `i·(R+4)`; the task block at `N·(R+4)`. `time_scale` is the mean
//! task's runtime on a mean-speed node, so 1.0 means "about one typical task of backlog".
//!
//! **Park layout** (`park-lb`): Park's `[load_1, …, load_N, job_size]`, raw, each clipped at
//! `high` (500000), where a load is the sum of queued job sizes plus the remaining *time* of the
//! job in service (Park's original state formulation; a later variant multiplies by the rate).

use gym::BoxSpace;
use serde::{Deserialize, Serialize};

use crate::config::ObservationKind;
use crate::engine::{Compiled, Simulator};

/// Features per node in the full layout (besides the `R` free fractions).
const NODE_EXTRA: usize = 4;
/// Scale of the tasks-on-node feature.
const TASKS_SCALE: f32 = 10.0;

/// Everything needed to rebuild a scenario's observation from a plain description of the
/// cluster (capacities, usage, queues, the task) outside the simulator: the layout and the
/// scenario constants its normalisation divides by.
///
/// An exported policy stores this (the `observation` section of `policy.json`), so a production
/// scheduler encodes its own cluster state exactly as the policy saw it in training. Serialised
/// with a `kind` tag, `{"kind": "full", "n_nodes": 12, ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ObservationConstants {
    /// The normalised full layout (see the module documentation's table).
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
    /// Park's raw layout: per-node load, then the task size, each clipped at `high`.
    Park {
        /// Number of nodes (= number of actions).
        n_nodes: usize,
        /// Resource names (the mask still checks that the task's demands fit).
        resources: Vec<String>,
        /// Clip value of every feature (Park: 500000).
        high: f64,
    },
}

/// The observation constants of a compiled scenario.
pub(crate) fn constants(c: &Compiled) -> ObservationConstants {
    match c.cfg.observation {
        ObservationKind::Full => ObservationConstants::Full {
            n_nodes: c.n_nodes,
            resources: c.cfg.resources.clone(),
            time_scale: c.time_scale,
            max_speed: c.max_speed,
            max_capacity: c.max_capacity.clone(),
            mean_work: c.mean_work,
            max_weight: c.max_weight,
            tasks_scale: f64::from(TASKS_SCALE),
        },
        ObservationKind::Park { high } => {
            ObservationConstants::Park { n_nodes: c.n_nodes, resources: c.cfg.resources.clone(), high }
        }
    }
}

/// Length of the observation for a compiled scenario.
pub(crate) fn obs_dim(c: &Compiled) -> usize {
    match c.cfg.observation {
        ObservationKind::Full => c.n_nodes * (c.n_res + NODE_EXTRA) + c.n_res + 2,
        ObservationKind::Park { .. } => c.n_nodes + 1,
    }
}

/// The observation space for a compiled scenario.
pub(crate) fn space(c: &Compiled) -> BoxSpace {
    match c.cfg.observation {
        ObservationKind::Full => {
            let r = c.n_res;
            let mut low = Vec::with_capacity(obs_dim(c));
            let mut high = Vec::with_capacity(obs_dim(c));
            for _ in 0..c.n_nodes {
                low.extend(std::iter::repeat_n(0.0, r + NODE_EXTRA));
                high.extend(std::iter::repeat_n(1.0, r));
                high.extend([f32::INFINITY, f32::INFINITY, 1.0, 1.0]);
            }
            low.extend(std::iter::repeat_n(0.0, r + 2));
            high.extend(std::iter::repeat_n(1.0, r));
            high.extend([f32::INFINITY, 1.0]);
            BoxSpace::new(low, high)
        }
        ObservationKind::Park { high } => BoxSpace::new(vec![0.0; c.n_nodes + 1], vec![high as f32; c.n_nodes + 1]),
    }
}

/// Writes the observation of `sim`'s current state into `out` (length [`obs_dim`]).
pub(crate) fn encode(sim: &Simulator, out: &mut [f32]) {
    let c = &sim.c;
    let r = c.n_res;
    let view = sim.view();
    match c.cfg.observation {
        ObservationKind::Park { high } => {
            for (i, o) in out[..c.n_nodes].iter_mut().enumerate() {
                // Park's "original state formulation": queued *sizes* plus the running job's
                // remaining *time* (not work), as its `observe()` computes it.
                *o = (sim.nodes[i].queued_work + sim.remaining_time(i)).min(high) as f32;
            }
            out[c.n_nodes] = view.task().map_or(0.0, |t| t.work.min(high) as f32);
        }
        ObservationKind::Full => {
            let stride = r + NODE_EXTRA;
            for (i, chunk) in out[..c.n_nodes * stride].chunks_exact_mut(stride).enumerate() {
                let node = view.node(i);
                for (k, free) in chunk[..r].iter_mut().enumerate() {
                    *free = ((node.capacity[k] - node.used[k]) / node.capacity[k]).clamp(0.0, 1.0) as f32;
                }
                chunk[r] = (node.outstanding_time() / c.time_scale) as f32;
                chunk[r + 1] = node.tasks_in_system() as f32 / TASKS_SCALE;
                chunk[r + 2] = (node.speed / c.max_speed) as f32;
                chunk[r + 3] = if node.up { 1.0 } else { 0.0 };
            }
            let task = &mut out[c.n_nodes * stride..];
            match view.task() {
                Some(t) => {
                    for (k, demand) in task[..r].iter_mut().enumerate() {
                        *demand = (t.demand[k] / c.max_capacity[k]).min(1.0) as f32;
                    }
                    task[r] = (t.work / c.mean_work) as f32;
                    task[r + 1] = (t.weight / c.max_weight) as f32;
                }
                None => task.fill(0.0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Hand-computed observations in both layouts.

    use gym::Env;

    use crate::config::{ObservationKind, PriorityClass};
    use crate::engine::tests::trace_scenario;
    use crate::{ClusterEnv, ObservationConstants};

    /// Park's layout: load = queued work + (finish − now) of the running job, clipped at
    /// 500000; the job size last; service time int(size / rate).
    #[test]
    fn park_observation_by_hand() {
        let mut cfg = trace_scenario(
            "park_obs.csv",
            &["slot"],
            &[(&[1.0], 0.5), (&[1.0], 2.0)],
            "arrival,work,slot,priority\n0,100,1,0\n0,7,1,0\n0,50,1,0\n1,1000000,1,0\n2,30,1,0\n4,1,1,0\n",
        );
        cfg.integer_time = true;
        cfg.observation = ObservationKind::Park { high: 500_000.0 };
        let mut env = ClusterEnv::new(&cfg).unwrap();
        assert_eq!(
            env.observation_constants(),
            ObservationConstants::Park { n_nodes: 2, resources: vec!["slot".into()], high: 500_000.0 }
        );
        assert_eq!(env.observation_space().low, [0.0; 3]);
        assert_eq!(env.observation_space().high, [500_000.0; 3]);
        let (obs, _) = env.reset(Some(0));
        assert_eq!(obs, [0.0, 0.0, 100.0]);
        // J0 on node 0: int(100 / 0.5) = 200, finishes at 200; remaining time 200.
        assert_eq!(env.step(0).unwrap().obs, [200.0, 0.0, 7.0]);
        // J1 on node 1: int(7 / 2) = 3, finishes at 3; remaining time 3 (its size is 7).
        assert_eq!(env.step(1).unwrap().obs, [200.0, 3.0, 50.0]);
        // J2 queues on node 0. At t = 1: 50 + (200 − 1) and (3 − 1); J3's size clipped.
        let s = env.step(0).unwrap();
        assert_eq!((s.obs, s.info.time), (&[249.0, 2.0, 500_000.0][..], 1.0));
        // J3 queues on node 1 at t = 2: 1000000 queued + (3 − 2) is clipped.
        assert_eq!(env.step(1).unwrap().obs, [248.0, 500_000.0, 30.0]);
        // J4 queues on node 0. At t = 4, J1 finished at 3 and J3 runs until 3 + 500000:
        // 500003 − 4 = 499999 (under the clip); node 0: 50 + 30 + (200 − 4).
        let s = env.step(0).unwrap();
        assert_eq!(s.obs, [276.0, 499_999.0, 1.0]);
        assert_eq!(env.simulator().tasks_completed(), 1);
        let s = env.step(0).unwrap();
        assert!(s.terminated && !s.truncated);
        assert_eq!(s.obs, [0.0, 0.0, 0.0]);
        assert_eq!(s.info.time, 500_003.0);
        let m = s.info.metrics.clone().unwrap();
        // JCTs: J0 200, J1 3, J2 300, J3 500002, J4 358 (300 + int(30 / 0.5) − 2), J5 358.
        assert_eq!(m.mean_jct, (200.0 + 3.0 + 300.0 + 500_002.0 + 358.0 + 358.0) / 6.0);
        assert_eq!(m.makespan, 500_003.0);
        assert!(matches!(env.step(0), Err(gym::EnvError::NeedsReset)));
    }

    /// The full layout, `N·(R+4) + R + 2` values, for a hand-built state.
    #[test]
    fn full_observation_by_hand() {
        let mut cfg = trace_scenario(
            "full_obs.csv",
            &["cpu", "mem"],
            &[(&[4.0, 8.0], 1.0), (&[2.0, 16.0], 2.0)],
            "arrival,work,cpu,mem,priority\n0,10,2,3,0\n0,6,1,4,1\n0,2,2,8,1\n",
        );
        cfg.workload.priorities = vec![
            PriorityClass { name: "low".into(), weight: 1.0, prob: 0.5 },
            PriorityClass { name: "high".into(), weight: 4.0, prob: 0.5 },
        ];
        let mut env = ClusterEnv::new(&cfg).unwrap();
        assert_eq!(env.observation_space().dim(), 2 * (2 + 4) + 2 + 2);
        // The constants the expected values below divide by.
        assert_eq!(
            env.observation_constants(),
            ObservationConstants::Full {
                n_nodes: 2,
                resources: vec!["cpu".into(), "mem".into()],
                time_scale: 4.0,
                max_speed: 2.0,
                max_capacity: vec![4.0, 16.0],
                mean_work: 6.0,
                max_weight: 4.0,
                tasks_scale: 10.0,
            }
        );
        let inf = f32::INFINITY;
        assert_eq!(
            env.observation_space().high,
            [1.0, 1.0, inf, inf, 1.0, 1.0, 1.0, 1.0, inf, inf, 1.0, 1.0, 1.0, 1.0, inf, 1.0]
        );
        env.reset(Some(0));
        env.step(0).unwrap();
        let obs = env.step(1).unwrap().obs.to_vec();
        // mean work 6, mean speed 1.5 → time scale 4; fastest speed 2; largest capacities
        // [4, 16]; largest weight 4.
        #[rustfmt::skip]
        let expected: [f32; 16] = [
            // node 0: free (4−2)/4, (8−3)/8; outstanding 10 / 1 / 4; 1 task; speed 1/2; up
            0.5, 0.625, 2.5, 0.1, 0.5, 1.0,
            // node 1: free (2−1)/2, (16−4)/16; outstanding 6 / 2 / 4; 1 task; speed 2/2; up
            0.5, 0.75, 0.75, 0.1, 1.0, 1.0,
            // task: demand 2/4, 8/16; size 2/6; weight 4/4
            0.5, 0.5, (2.0f64 / 6.0) as f32, 1.0,
        ];
        assert_eq!(obs, expected);
        // The view writes the same vector.
        let view = env.simulator().view();
        let mut out = vec![0.0; view.obs_dim()];
        view.observation(&mut out);
        assert_eq!(out, expected);
        let s = env.step(0).unwrap();
        assert!(s.terminated);
        assert_eq!(s.obs[12..], [0.0; 4], "no task at the end");
    }

    /// A down node shows up = 0, zero usage and no outstanding work.
    #[test]
    fn full_observation_marks_down_nodes() {
        let mut cfg = trace_scenario(
            "down_obs.csv",
            &["slot"],
            &[(&[1.0], 1.0), (&[1.0], 1.0)],
            "arrival,work,slot,priority\n0,4,1,0\n3,1,1,0\n",
        );
        cfg.failures.scheduled = vec![crate::ScheduledFailure { node: 1, at: 1.0, duration: 10.0 }];
        let mut env = ClusterEnv::new(&cfg).unwrap();
        env.reset(Some(0));
        // J0 on node 1 fails at t = 1 and is re-offered with node 1 masked.
        let s = env.step(1).unwrap();
        // Blocks [free, outstanding, tasks, speed, up]; the down node holds nothing. Task: demand
        // 1, size 4 / mean work 2.5, weight 1.
        assert_eq!(s.obs, [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.6, 1.0]);
        assert_eq!(s.info.time, 1.0);
        assert_eq!(env.action_mask(), &[true, false]);
        let err = env.step(1).unwrap_err();
        assert_eq!(err, gym::EnvError::ActionMasked { action: 1, valid: vec![0] });
        assert!(matches!(env.step(2), Err(gym::EnvError::ActionOutOfRange { action: 2, n: 2 })));
    }
}
