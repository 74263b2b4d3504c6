//! [`Policy`]: an export loaded for serving — its metadata and a [`Runtime`], answering
//! `act(observation, mask) -> node` or `act_state(cluster state)` without allocating.

use std::path::Path;

use policy_core::masked_argmax;

use crate::error::{PolicyError, Result};
use crate::files::Export;
use crate::meta::PolicyMeta;
use crate::request::ClusterState;
use crate::runtime::Runtime;

/// An exported policy, ready to act: the export's [`PolicyMeta`] and a [`Runtime`] for its
/// network, plus buffers for encoding cluster states.
///
/// [`Policy::act`], [`Policy::q_values`] and [`Policy::act_state`] never allocate (they take
/// `&mut self`); clone the policy for each thread that acts concurrently. See [`Runtime`] for the
/// arithmetic.
#[derive(Debug, Clone)]
pub struct Policy {
    meta: PolicyMeta,
    runtime: Runtime,
    /// Observation and mask of the last [`Policy::act_state`].
    state_obs: Vec<f32>,
    state_mask: Vec<bool>,
}

impl Policy {
    /// Loads the export in `dir` ([`Export::read`]).
    ///
    /// # Errors
    /// See [`Export::read`].
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        Self::from_export(Export::read(dir)?)
    }

    /// A policy from an export in memory.
    ///
    /// # Errors
    /// An inconsistent export ([`Export::validate`]).
    pub fn from_export(export: Export) -> Result<Self> {
        export.validate()?;
        let Export { meta, mlp } = export;
        let runtime = Runtime::new(&mlp, meta.normalization.as_ref())?;
        Ok(Self {
            state_obs: vec![0.0; meta.observation.obs_dim()],
            state_mask: vec![false; meta.observation.n_nodes()],
            runtime,
            meta,
        })
    }

    /// The export's metadata.
    pub fn meta(&self) -> &PolicyMeta {
        &self.meta
    }

    /// The network's runtime (for callers that want it without the metadata).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Length of an observation.
    pub fn obs_dim(&self) -> usize {
        self.runtime.obs_dim()
    }

    /// Number of actions (nodes).
    pub fn n_actions(&self) -> usize {
        self.runtime.n_actions()
    }

    /// Q-values of one raw observation (normalised here when the export has normalisation).
    ///
    /// # Errors
    /// [`PolicyError::ObsLength`], [`PolicyError::NonFiniteObs`].
    pub fn q_values(&mut self, obs: &[f32]) -> Result<&[f32]> {
        self.runtime.q_values(obs)
    }

    /// The greedy action: the valid (`mask[a]`) action with the largest Q-value, the lowest
    /// index on ties (NaN Q-values lose), as the trainer's `masked_argmax` picks it.
    ///
    /// # Errors
    /// [`PolicyError::ObsLength`], [`PolicyError::MaskLength`], [`PolicyError::NonFiniteObs`],
    /// [`PolicyError::NoValidAction`].
    pub fn act(&mut self, obs: &[f32], mask: &[bool]) -> Result<usize> {
        self.runtime.act(obs, mask)
    }

    /// Encodes `state` ([`ClusterState::encode`] with the export's observation layout) and acts
    /// on it: the node to place the task on, and every node's Q-value (masked nodes included).
    ///
    /// # Errors
    /// The encoding's errors (naming the node and field), or [`PolicyError::NonFiniteObs`] if
    /// the state's numbers are so extreme that a feature overflows.
    pub fn act_state(&mut self, state: &ClusterState) -> Result<(usize, &[f32])> {
        state.encode(&self.meta.observation, &mut self.state_obs, &mut self.state_mask)?;
        let q = self.runtime.q_values(&self.state_obs)?;
        let node = masked_argmax(q, &self.state_mask).ok_or(PolicyError::NoFeasibleNode { task: state.task.id })?;
        Ok((node, q))
    }

    /// Q-values of a batch of raw observations ([`Runtime::q_values_batch`]).
    ///
    /// # Shapes
    /// - `obs`: `[batch, obs_dim]`, row-major
    /// - output: `[batch, n_actions]`, row-major
    ///
    /// # Errors
    /// [`PolicyError::BatchLength`], [`PolicyError::NonFiniteObs`] (with the row-major index
    /// into the batch).
    pub fn q_values_batch(&self, obs: &[f32], batch: usize) -> Result<Vec<f32>> {
        self.runtime.q_values_batch(obs, batch)
    }
}

#[cfg(test)]
mod tests {
    use policy_core::{Activation, Dense};

    use super::*;
    use crate::request::{NodeState, TaskRequest};
    use crate::runtime::tests::{X, tiny_export};

    fn tiny(activation: Activation, dueling: bool) -> Policy {
        Policy::from_export(tiny_export(activation, dueling)).unwrap()
    }

    #[test]
    fn act_and_q_values_are_the_runtimes() {
        let mut p = tiny(Activation::Relu, true);
        assert_eq!(p.q_values(&X).unwrap(), [3.875, 6.125]);
        assert_eq!(p.act(&X, &[true, false]).unwrap(), 0);
        assert_eq!((p.obs_dim(), p.n_actions()), (3, 2));
        assert_eq!(p.q_values_batch(&X, 1).unwrap(), [3.875, 6.125]);
        assert_eq!(p.meta().scenario, "tiny");
        let e = p.act(&X, &[false, false]).unwrap_err();
        assert!(matches!(e, PolicyError::NoValidAction), "{e}");
    }

    #[test]
    fn act_state_encodes_then_acts() {
        let mut p = tiny(Activation::Relu, false);
        let node = |id, queued_work, up| NodeState {
            id,
            capacity: vec![1.0],
            usage: vec![0.0],
            speed: 2.0,
            up,
            queued_tasks: 1,
            queued_work,
            running_tasks: 1,
            running_work: 2.0,
        };
        // Loads 0 + 2/2 = 1 and 1 + 1 = 2, size 4: the observation X, so Q = [2.25, 4.5].
        let mut state = ClusterState {
            nodes: vec![node(0, 0.0, true), node(1, 1.0, true)],
            task: TaskRequest { id: 5, priority: 1.0, demands: vec![1.0], size: 4.0, allowed_nodes: None },
        };
        assert_eq!(p.act_state(&state).unwrap(), (1, &[2.25, 4.5][..]));
        // The better node is down: the other one, with every Q-value still reported.
        state.nodes[1].up = false;
        assert_eq!(p.act_state(&state).unwrap(), (0, &[2.25, 4.5][..]));
        state.nodes[0].up = false;
        let e = p.act_state(&state).unwrap_err();
        assert!(matches!(e, PolicyError::NoFeasibleNode { task: 5 }), "{e}");
    }

    #[test]
    fn from_export_rejects_a_network_that_disagrees_with_its_metadata() {
        let mut export = tiny_export(Activation::Relu, false);
        export.mlp.activation = Activation::Tanh;
        let e = Policy::from_export(export).unwrap_err();
        assert_eq!(e.to_string(), "<in-memory export>: network.activation: is relu, but the network applies tanh");

        let mut export = tiny_export(Activation::Relu, false);
        export.mlp.head = Dense::new(3, 3, vec![0.0; 9], vec![0.0; 3]).unwrap();
        let e = Policy::from_export(export).unwrap_err();
        assert_eq!(e.to_string(), "<in-memory export>: tensor head.weight has shape [3, 3], expected [3, 2]");

        let mut export = tiny_export(Activation::Relu, true);
        export.meta.network.dueling = false;
        let e = Policy::from_export(export).unwrap_err();
        assert!(matches!(&e, PolicyError::UnexpectedTensor { name, .. } if name == "value.bias"), "{e}");

        let mut export = tiny_export(Activation::Relu, false);
        export.mlp.hidden[0].weight[5] = f32::INFINITY;
        let e = Policy::from_export(export).unwrap_err();
        assert_eq!(
            e.to_string(),
            "<in-memory export>: tensor hidden.0.weight holds inf at flat index 5, expected finite weights"
        );

        let mut export = tiny_export(Activation::Relu, false);
        export.mlp.head.bias.push(0.0);
        let e = Policy::from_export(export).unwrap_err();
        assert_eq!(e.to_string(), "<in-memory export>: tensor head.bias has shape [3], expected [2]");
    }

    #[test]
    fn policy_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Policy>();
    }
}
