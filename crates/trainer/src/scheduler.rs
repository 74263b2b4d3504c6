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

/// A [`SchedulerSpec`] named `name` acting greedily with `runtime`, and the counter of the nodes
/// its episodes choose.
pub fn learned_spec(runtime: policy::Policy, name: &str) -> (SchedulerSpec, Arc<ChosenNodes>) {
    let chosen = Arc::new(ChosenNodes((0..runtime.n_actions()).map(|_| AtomicU64::new(0)).collect()));
    let runtime = Arc::new(runtime);
    let counts = Arc::clone(&chosen);
    let label: Arc<str> = name.into();
    let spec = SchedulerSpec {
        name: name.into(),
        make: Arc::new(move || {
            Box::new(LearnedScheduler {
                name: Arc::clone(&label),
                obs: vec![0.0; runtime.obs_dim()],
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
    chosen: Arc<ChosenNodes>,
}

impl Scheduler for LearnedScheduler {
    fn name(&self) -> &str {
        &self.name
    }

    /// The greedy valid node of the view's observation.
    fn act(&mut self, view: &ClusterView<'_>) -> Result<usize, ClusterError> {
        view.observation(&mut self.obs);
        let node = self.runtime.act(&self.obs, view.mask()).map_err(|e| ClusterError::PolicyFailed {
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
