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
//! `high` (500000), where a load is the queued work plus the remaining work of the running task.

use gym::BoxSpace;

use crate::config::ObservationKind;
use crate::engine::{Compiled, Simulator};

/// Features per node in the full layout (besides the `R` free fractions).
const NODE_EXTRA: usize = 4;
/// Scale of the tasks-on-node feature.
const TASKS_SCALE: f32 = 10.0;

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
                *o = sim.outstanding_work(i).min(high) as f32;
            }
            out[c.n_nodes] = view.task().map_or(0.0, |t| t.work.min(high) as f32);
        }
        ObservationKind::Full => {
            let stride = r + NODE_EXTRA;
            for (i, chunk) in out[..c.n_nodes * stride].chunks_exact_mut(stride).enumerate() {
                let node = view.node(i);
                for k in 0..r {
                    chunk[k] = ((node.capacity[k] - node.used[k]) / node.capacity[k]).clamp(0.0, 1.0) as f32;
                }
                chunk[r] = (node.outstanding_time() / c.time_scale) as f32;
                chunk[r + 1] = node.tasks_in_system() as f32 / TASKS_SCALE;
                chunk[r + 2] = (node.speed / c.max_speed) as f32;
                chunk[r + 3] = if node.up { 1.0 } else { 0.0 };
            }
            let task = &mut out[c.n_nodes * stride..];
            match view.task() {
                Some(t) => {
                    for k in 0..r {
                        task[k] = (t.demand[k] / c.max_capacity[k]).min(1.0) as f32;
                    }
                    task[r] = (t.work / c.mean_work) as f32;
                    task[r + 1] = (t.weight / c.max_weight) as f32;
                }
                None => task.fill(0.0),
            }
        }
    }
}
