//! A learned policy behind [`cluster_env::Scheduler`], so evaluation treats it like a baseline.
//!
//! Whatever was trained — a burn checkpoint or an export — is evaluated through the burn-free
//! runtime, [`policy::Policy`]: what ships is what is measured. Each episode gets its own clone
//! of the runtime (its scratch buffers are per caller), so the parallel episodes of an
//! evaluation really run in parallel.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use cluster_env::{ClusterError, ClusterView, Scheduler, SchedulerSpec};

/// How often each node was chosen, counted by every episode of an evaluation at once.
#[derive(Debug)]
pub struct ChosenNodes(Vec<AtomicU64>);

impl ChosenNodes {
    /// The counts so far, by node.
    pub fn counts(&self) -> Vec<u64> {
        self.0.iter().map(|c| c.load(Ordering::Relaxed)).collect()
    }
}

/// A [`SchedulerSpec`] named `name` acting greedily with `runtime` on a scenario whose
/// observation is `layout`, and the counter of the nodes its episodes choose.
///
/// A node-scoring policy sees only the episode's real nodes: on a scenario whose cluster is
/// drawn per episode the view's observation is padded to the largest cluster, and the padded
/// rows are cut out before acting (the network's summary pools over every row it is given).
pub fn learned_spec(
    runtime: policy::Policy,
    name: &str,
    layout: &policy::ObservationLayout,
) -> (SchedulerSpec, Arc<ChosenNodes>) {
    let slots = layout.n_nodes();
    let chosen = Arc::new(ChosenNodes((0..slots).map(|_| AtomicU64::new(0)).collect()));
    let rows = runtime.any_node_count().then(|| (layout.node_width(), layout.task_width()));
    // The view writes the scenario's observation (an MLP's is checked to be its own length).
    let obs_dim = layout.obs_dim();
    let runtime = Arc::new(runtime);
    let counts = Arc::clone(&chosen);
    let label: Arc<str> = name.into();
    let spec = SchedulerSpec {
        name: name.into(),
        make: Arc::new(move || {
            Box::new(LearnedScheduler {
                name: Arc::clone(&label),
                obs: vec![0.0; obs_dim],
                rows,
                slots,
                runtime: (*runtime).clone(),
                chosen: Arc::clone(&counts),
            }) as Box<dyn Scheduler>
        }),
    };
    (spec, chosen)
}

/// One episode's copy of a learned policy.
struct LearnedScheduler {
    name: Arc<str>,
    runtime: policy::Policy,
    obs: Vec<f32>,
    /// Node-scoring: the scenario's node and task row widths (`None`: an MLP, which takes the
    /// whole padded observation it was trained on).
    rows: Option<(usize, usize)>,
    /// Node slots of the scenario's observation.
    slots: usize,
    chosen: Arc<ChosenNodes>,
}

impl Scheduler for LearnedScheduler {
    fn name(&self) -> &str {
        &self.name
    }

    /// The greedy valid node of the view's observation.
    fn act(&mut self, view: &ClusterView<'_>) -> Result<usize, ClusterError> {
        view.observation(&mut self.obs);
        let (obs, mask) = match self.rows {
            Some((w, t)) if view.n_nodes() < self.slots => {
                // The real nodes come first; the task row moves up to follow them.
                let n = view.n_nodes();
                self.obs.copy_within(self.slots * w..self.slots * w + t, n * w);
                (&self.obs[..n * w + t], &view.mask()[..n])
            }
            _ => (&self.obs[..], view.mask()),
        };
        let node = self.runtime.act(obs, mask).map_err(|e| ClusterError::PolicyFailed {
            policy: self.name.to_string(),
            task: view.task().map_or(0, |t| t.id),
            message: e.to_string(),
        })?;
        if let Some(c) = self.chosen.0.get(node) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        Ok(node)
    }
}
