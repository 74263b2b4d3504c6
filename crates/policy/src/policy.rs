//! [`Policy`]: an export loaded for serving — its metadata and a [`Runtime`], answering
//! `act(observation, mask) -> node` or `act_state(cluster state)` without allocating.

use std::path::Path;

use policy_core::{ActionFilter, filtered_argmax};

use crate::error::{PolicyError, Result};
use crate::files::Export;
use crate::meta::{IN_MEMORY, PolicyMeta};
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
    /// The node-row column the export's action filter reads (`None`: no filter).
    filter_column: Option<usize>,
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
        let Export { meta, network } = export;
        let runtime = Runtime::from_network(&network, meta.normalization.as_ref())?;
        Ok(Self {
            state_obs: vec![0.0; meta.observation.obs_dim()],
            state_mask: vec![false; meta.observation.n_nodes()],
            filter_column: filter_column(&meta, meta.action_filter)?,
            runtime,
            meta,
        })
    }

    /// This policy choosing with `filter` instead of the export's own action filter (for
    /// evaluating a policy trained without one under it; the metadata records the change).
    ///
    /// # Errors
    /// [`PolicyError::Meta`] naming `action_filter` if the observation layout cannot serve
    /// `filter` (the fits-now filter reads the packing columns).
    pub fn with_action_filter(mut self, filter: ActionFilter) -> Result<Self> {
        self.filter_column = filter_column(&self.meta, filter)?;
        self.meta.action_filter = filter;
        Ok(self)
    }

    /// The export's metadata.
    pub fn meta(&self) -> &PolicyMeta {
        &self.meta
    }

    /// The network's runtime (for callers that want it without the metadata).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Length of an observation of the node count the policy was trained on
    /// (`network.obs_dim`). A node-scoring policy also reads other node counts
    /// ([`Policy::n_nodes_of`]).
    pub fn obs_dim(&self) -> usize {
        self.meta.network.obs_dim
    }

    /// Number of actions (nodes) the policy was trained on (`network.n_actions`). A
    /// node-scoring policy also acts on other node counts ([`Policy::n_nodes_of`]).
    pub fn n_actions(&self) -> usize {
        self.meta.network.n_actions
    }

    /// Whether the policy acts on clusters of any node count (a node-scoring network) rather
    /// than only the trained one.
    pub fn any_node_count(&self) -> bool {
        self.runtime.node_scoring_widths().is_some()
    }

    /// The number of nodes (actions) of an observation of `obs_len` values
    /// ([`Runtime::n_nodes_of`]): `n_actions` if `obs_len` is `obs_dim`, and for a
    /// node-scoring policy `n` if `obs_len` is `n·node_width + task_width` with `n ≥ 1`.
    ///
    /// # Errors
    /// [`PolicyError::ObsLength`] (MLP), [`PolicyError::NodeRows`] (node-scoring).
    pub fn n_nodes_of(&self, obs_len: usize) -> Result<usize> {
        self.runtime.n_nodes_of(obs_len)
    }

    /// Q-values of one raw observation (normalised here when the export has normalisation):
    /// one per node, `n_nodes_of(obs.len())` of them.
    ///
    /// # Errors
    /// [`PolicyError::ObsLength`] or [`PolicyError::NodeRows`], [`PolicyError::NonFiniteObs`].
    pub fn q_values(&mut self, obs: &[f32]) -> Result<&[f32]> {
        self.runtime.q_values(obs)
    }

    /// The greedy action: the valid (`mask[a]`) action with the largest Q-value, the lowest
    /// index on ties (NaN Q-values lose), as the trainer's `masked_argmax` picks it — among the
    /// valid nodes the export's action filter keeps (`meta().action_filter`; with `fits-now`,
    /// those whose row says the task fits now, when any does).
    ///
    /// # Errors
    /// [`PolicyError::ObsLength`] or [`PolicyError::NodeRows`], [`PolicyError::MaskLength`],
    /// [`PolicyError::NonFiniteObs`], [`PolicyError::NoValidAction`].
    pub fn act(&mut self, obs: &[f32], mask: &[bool]) -> Result<usize> {
        let Some(column) = self.filter_column else { return self.runtime.act(obs, mask) };
        let n = self.runtime.n_nodes_of(obs.len())?;
        if mask.len() != n {
            return Err(PolicyError::MaskLength { got: mask.len(), expected: n });
        }
        let width = self.meta.observation.node_width();
        let q = self.runtime.q_values(obs)?;
        filtered_argmax(q, mask, obs, width, Some(column)).ok_or(PolicyError::NoValidAction)
    }

    /// Encodes `state` ([`ClusterState::encode`] with the export's observation layout; for a
    /// node-scoring policy [`ClusterState::encode_any_size`], so the state may have any number
    /// of nodes) and acts on it: the node to place the task on, and every node's Q-value
    /// (masked nodes included).
    ///
    /// Allocates only when a node-scoring policy first sees more nodes than ever before (its
    /// buffers grow to the largest cluster seen).
    ///
    /// # Errors
    /// The encoding's errors (naming the node and field), or [`PolicyError::NonFiniteObs`] if
    /// the state's numbers are so extreme that a feature overflows.
    pub fn act_state(&mut self, state: &ClusterState) -> Result<(usize, &[f32])> {
        let layout = &self.meta.observation;
        let (obs, mask) = if self.any_node_count() {
            let n = state.nodes.len();
            // Shrinking keeps the capacity and growing within it does not allocate.
            self.state_obs.resize(n * layout.node_width() + layout.task_width(), 0.0);
            self.state_mask.resize(n, false);
            state.encode_any_size(layout, &mut self.state_obs, &mut self.state_mask)?;
            (&self.state_obs[..], &self.state_mask[..])
        } else {
            state.encode(layout, &mut self.state_obs, &mut self.state_mask)?;
            (&self.state_obs[..], &self.state_mask[..])
        };
        let q = self.runtime.q_values(obs)?;
        let node = filtered_argmax(q, mask, obs, layout.node_width(), self.filter_column)
            .ok_or(PolicyError::NoFeasibleNode { task: state.task.id })?;
        Ok((node, q))
    }

    /// Q-values of a batch of raw observations ([`Runtime::q_values_batch`]; for a node-scoring
    /// policy, observations of one length of any node count).
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

/// The node-row column `filter` reads in `meta`'s observation layout.
fn filter_column(meta: &PolicyMeta, filter: ActionFilter) -> Result<Option<usize>> {
    filter
        .column(&meta.observation)
        .map_err(|message| crate::meta::meta_err(Path::new(IN_MEMORY), "action_filter", message))
}

#[cfg(test)]
mod tests {
    use policy_core::{Activation, Dense, ObservationLayout, masked_argmax};

    use super::*;
    use crate::request::{NodeState, TaskRequest};
    use crate::runtime::tests::{X, mlp_mut, tiny_export};

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
        mlp_mut(&mut export.network).activation = Activation::Tanh;
        let e = Policy::from_export(export).unwrap_err();
        assert_eq!(e.to_string(), "<in-memory export>: network.activation: is relu, but the network applies tanh");

        let mut export = tiny_export(Activation::Relu, false);
        mlp_mut(&mut export.network).head = Dense::new(3, 3, vec![0.0; 9], vec![0.0; 3]).unwrap();
        let e = Policy::from_export(export).unwrap_err();
        assert_eq!(e.to_string(), "<in-memory export>: tensor head.weight has shape [3, 3], expected [3, 2]");

        let mut export = tiny_export(Activation::Relu, true);
        export.meta.network.dueling = false;
        let e = Policy::from_export(export).unwrap_err();
        assert!(matches!(&e, PolicyError::UnexpectedTensor { name, .. } if name == "value.bias"), "{e}");

        let mut export = tiny_export(Activation::Relu, false);
        mlp_mut(&mut export.network).hidden[0].weight[5] = f32::INFINITY;
        let e = Policy::from_export(export).unwrap_err();
        assert_eq!(
            e.to_string(),
            "<in-memory export>: tensor hidden.0.weight holds inf at flat index 5, expected finite weights"
        );

        let mut export = tiny_export(Activation::Relu, false);
        mlp_mut(&mut export.network).head.bias.push(0.0);
        let e = Policy::from_export(export).unwrap_err();
        assert_eq!(e.to_string(), "<in-memory export>: tensor head.bias has shape [3], expected [2]");
    }

    /// A state of `n` full-layout nodes (2 resources), in reverse id order, node 1 down.
    fn ns_state(n: usize) -> ClusterState {
        ClusterState {
            nodes: (0..n)
                .rev()
                .map(|id| NodeState {
                    id,
                    capacity: vec![4.0, 16.0],
                    usage: vec![(id % 3) as f64, 2.0],
                    speed: 1.0 + (id % 2) as f64,
                    up: id != 1,
                    queued_tasks: id % 4,
                    queued_work: (id * 3) as f64,
                    running_tasks: 1,
                    running_work: 5.0,
                })
                .collect(),
            task: TaskRequest { id: 3, priority: 2.0, demands: vec![1.0, 2.0], size: 6.0, allowed_nodes: None },
        }
    }

    #[test]
    fn a_node_scoring_policy_acts_on_states_of_any_size() {
        let mut p = Policy::from_export(crate::files::tests::ns_export()).unwrap();
        let layout = p.meta().observation.clone();
        assert_eq!(layout.n_nodes(), 2, "trained on 2 nodes");
        for n in [1, 2, 7, 40, 3] {
            let state = ns_state(n);
            let mut obs = vec![0.0; n * 6 + 4];
            let mut mask = vec![false; n];
            state.encode_any_size(&layout, &mut obs, &mut mask).unwrap();
            assert_eq!(mask.iter().filter(|m| !**m).count(), usize::from(n > 1), "node 1 is down");
            let want_q = p.q_values(&obs).unwrap().to_vec();
            let want = masked_argmax(&want_q, &mask).unwrap();
            let (node, q) = p.act_state(&state).unwrap();
            assert_eq!((node, q), (want, &want_q[..]), "{n} nodes");
        }
        let mut empty = ns_state(3);
        empty.nodes.clear();
        let e = p.act_state(&empty).unwrap_err();
        assert!(matches!(e, PolicyError::NoNodes), "{e}");
        assert_eq!(
            e.to_string(),
            "cluster state: the cluster has no nodes; a task is placed on one of at least 1 node"
        );
        // Ids must still be 0..N.
        let mut gap = ns_state(3);
        gap.nodes[0].id = 5;
        assert!(matches!(p.act_state(&gap).unwrap_err(), PolicyError::NodeIdOutOfRange { id: 5, n_nodes: 3 }));
        // An MLP policy still wants the trained node count, naming both numbers.
        let mut mlp = Policy::from_export(crate::files::tests::full_export()).unwrap();
        assert!(!mlp.any_node_count());
        let e = mlp.act_state(&ns_state(3)).unwrap_err();
        assert_eq!(e.to_string(), "cluster state: 3 nodes, but this policy places tasks on 2 nodes (ids 0..2)");
        assert!(mlp.act_state(&ns_state(2)).is_ok());
    }

    /// A node-scoring export on the scalable layout with the packing columns (2 resources: node
    /// rows of 3·2 + 4 + 2 = 12 values, "fits now" at 10), trained on 2 nodes.
    fn packing_export() -> crate::files::Export {
        let net = crate::runtime::tests::random_ns(12, 4, &[6, 5], false, Activation::Relu, 11);
        let layout = ObservationLayout::Scalable {
            n_nodes: 2,
            resources: vec!["cpu".into(), "mem".into()],
            time_scale: 4.0,
            max_speed: 2.0,
            max_capacity: vec![4.0, 16.0],
            mean_work: 6.0,
            max_weight: 4.0,
            tasks_scale: 10.0,
            packing: true,
            completion: false,
        };
        let meta = PolicyMeta::new("unit-packing", Default::default(), net.shape(2), None, layout);
        crate::files::Export { meta, network: policy_core::Network::NodeScoring(net) }
    }

    #[test]
    fn the_fits_now_filter_chooses_among_the_nodes_where_the_task_fits_now() {
        let mut plain = Policy::from_export(packing_export()).unwrap();
        let mut filtered = plain.clone().with_action_filter(ActionFilter::FitsNow).unwrap();
        assert_eq!(filtered.meta().action_filter, ActionFilter::FitsNow);
        // Random states of 6 nodes; whether each fits now is column 10 of its row.
        let mut rng = 12345u64;
        let mut next = move || {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (rng >> 40) as f32 / (1u64 << 24) as f32
        };
        let (mut differed, mut cases) = (0, 0);
        for _ in 0..200 {
            let mut obs: Vec<f32> = (0..6 * 12 + 4).map(|_| next()).collect();
            let fits: Vec<bool> = (0..6).map(|_| next() < 0.4).collect();
            let mask: Vec<bool> = (0..6).map(|_| next() < 0.8).collect();
            for (a, &f) in fits.iter().enumerate() {
                obs[a * 12 + 10] = if f { 1.0 } else { 0.0 };
            }
            if !mask.contains(&true) {
                continue;
            }
            cases += 1;
            let q = plain.q_values(&obs).unwrap().to_vec();
            let best = masked_argmax(&q, &mask).unwrap();
            assert_eq!(plain.act(&obs, &mask).unwrap(), best);
            let chosen = filtered.act(&obs, &mask).unwrap();
            let candidates: Vec<usize> = (0..6).filter(|&a| mask[a] && fits[a]).collect();
            if candidates.is_empty() {
                assert_eq!(chosen, best, "nothing fits now: every valid node is a candidate");
            } else {
                let top = candidates.iter().copied().max_by(|&a, &b| q[a].total_cmp(&q[b]).then(b.cmp(&a))).unwrap();
                assert_eq!(chosen, top, "the best fitting valid node: q {q:?}, fits {fits:?}, mask {mask:?}");
                differed += usize::from(chosen != best);
            }
        }
        assert!(cases > 150 && differed > 20, "the filter changed {differed} of {cases} choices");
        // Errors are the runtime's.
        let obs = vec![0.5; 2 * 12 + 4];
        assert!(matches!(filtered.act(&obs, &[true]).unwrap_err(), PolicyError::MaskLength { got: 1, expected: 2 }));
        assert!(matches!(filtered.act(&obs, &[false, false]).unwrap_err(), PolicyError::NoValidAction));
        // The filter travels in policy.json and comes back; without one nothing is written.
        let mut export = packing_export();
        assert!(!serde_json::to_string(&export.meta).unwrap().contains("action_filter"));
        export.meta.action_filter = ActionFilter::FitsNow;
        let json = serde_json::to_string(&export.meta).unwrap();
        assert!(json.contains("\"action_filter\":\"fits-now\""), "{json}");
        let mut loaded = Policy::from_export(export).unwrap();
        let obs: Vec<f32> = (0..3 * 12 + 4).map(|i| if i % 12 == 10 { f32::from(i < 12) } else { 0.3 }).collect();
        assert_eq!(loaded.act(&obs, &[true; 3]).unwrap(), 0, "only node 0 fits now");
    }

    #[test]
    fn the_fits_now_filter_needs_the_packing_columns() {
        let e = Policy::from_export(crate::files::tests::ns_export())
            .unwrap()
            .with_action_filter(ActionFilter::FitsNow)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "<in-memory export>: action_filter: the fits-now action filter reads the observation's packing \
             columns, which the full observation does not have: use observation = { kind = \"scalable\", packing = true }"
        );
        let mut export = crate::files::tests::ns_export();
        export.meta.action_filter = ActionFilter::FitsNow;
        assert!(Policy::from_export(export).unwrap_err().to_string().contains("action_filter: the fits-now"));
    }

    #[test]
    fn policy_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Policy>();
    }
}
