//! The greedy DQN agent — a burn checkpoint or a burn-free export — behind
//! [`cluster_env::Policy`], so evaluation treats it like a baseline.

use std::sync::{Arc, Mutex, PoisonError};

use cluster_env::{ClusterView, Policy, PolicySpec};
use dqn::Agent;

/// An agent shared by the evaluation's parallel episodes, with a count of the nodes it chose.
#[derive(Debug)]
pub struct SharedAgent {
    agent: Mutex<Agent>,
    chosen: Mutex<Vec<u64>>,
}

impl SharedAgent {
    /// Wraps `agent`.
    pub fn new(agent: Agent) -> Arc<Self> {
        let n = agent.network_config().n_actions;
        Arc::new(Self { agent: Mutex::new(agent), chosen: Mutex::new(vec![0; n]) })
    }

    /// The agent back, once every policy built from it is gone (`None` while one lives).
    pub fn into_agent(this: Arc<Self>) -> Option<Agent> {
        Arc::into_inner(this).map(|s| s.agent.into_inner().unwrap_or_else(PoisonError::into_inner))
    }

    /// How often each node was chosen so far.
    pub fn chosen_nodes(&self) -> Vec<u64> {
        self.chosen.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A [`PolicySpec`] named `name` acting greedily with this agent.
    pub fn spec(this: &Arc<Self>, name: &str) -> PolicySpec {
        let shared = Arc::clone(this);
        PolicySpec {
            name: name.into(),
            make: Arc::new(move || {
                let dim = shared.agent.lock().unwrap_or_else(PoisonError::into_inner).network_config().obs_dim;
                Box::new(DqnPolicy { shared: Arc::clone(&shared), obs: vec![0.0; dim], name: "dqn" }) as Box<dyn Policy>
            }),
        }
    }
}

/// One episode's view of a [`SharedAgent`].
struct DqnPolicy {
    shared: Arc<SharedAgent>,
    obs: Vec<f32>,
    name: &'static str,
}

impl Policy for DqnPolicy {
    fn name(&self) -> &str {
        self.name
    }

    /// The greedy valid node. Shapes are checked before evaluation starts; should the agent
    /// still fail, an out-of-range node makes evaluation report the policy's error.
    fn act(&mut self, view: &ClusterView<'_>) -> usize {
        view.observation(&mut self.obs);
        let action =
            self.shared.agent.lock().unwrap_or_else(PoisonError::into_inner).greedy_action(&self.obs, view.mask());
        match action {
            Ok(node) => {
                if let Some(c) = self.shared.chosen.lock().unwrap_or_else(PoisonError::into_inner).get_mut(node) {
                    *c += 1;
                }
                node
            }
            Err(_) => usize::MAX,
        }
    }
}

/// A [`PolicySpec`] named `name` acting greedily with an exported policy; each episode gets its
/// own clone of the runtime (its scratch buffers are per caller).
pub fn exported_spec(runtime: policy::Policy, name: &str) -> PolicySpec {
    let runtime = Arc::new(runtime);
    PolicySpec {
        name: name.into(),
        make: Arc::new(move || {
            let dim = runtime.obs_dim();
            Box::new(ExportPolicy { runtime: (*runtime).clone(), obs: vec![0.0; dim] }) as Box<dyn Policy>
        }),
    }
}

/// One episode's copy of an exported policy.
struct ExportPolicy {
    runtime: policy::Policy,
    obs: Vec<f32>,
}

impl Policy for ExportPolicy {
    fn name(&self) -> &str {
        "dqn"
    }

    /// The greedy valid node; should the runtime fail, an out-of-range node makes evaluation
    /// report the policy's error.
    fn act(&mut self, view: &ClusterView<'_>) -> usize {
        view.observation(&mut self.obs);
        self.runtime.act(&self.obs, view.mask()).unwrap_or(usize::MAX)
    }
}
