//! Runtime for exported cluster-rl policies, without burn: what a production scheduler embeds.
//!
//! # Brief overview
//! - [`Policy`]: loads an export directory ([`Policy::load`]) and answers
//!   [`Policy::act`]`(observation, mask) -> node` without allocating, or
//!   [`Policy::act_state`] straight from a [`ClusterState`].
//! - [`Runtime`]: the network alone (normalisation, layers, greedy action), for a network
//!   without an observation layout; [`Policy`] runs one.
//! - [`Export`]: the directory's contents — [`PolicyMeta`] (`policy.json`: network shape,
//!   normalisation, observation layout, provenance) and the [`Network`]'s weights
//!   (`policy.safetensors`, tensors listed on [`Export`]): an [`Mlp`] (format version 1) or
//!   a [`NodeScoring`] network (version 2), which serves clusters of any node count; [`Export::write`] and
//!   [`Export::read`]. An export may also hold `policy.onnx`, the same network for other
//!   runtimes.
//! - [`ClusterState`]: the task-submission interface — nodes with capacity, usage, speed,
//!   queues, and the task — which [`ClusterState::encode`] turns into exactly the observation
//!   and action mask the simulator gave the policy in training (with the simulator's own
//!   encoder, [`ObservationLayout::encode_node`]).
//! - [`PolicyError`]: every error, naming the file, tensor, field or value.
//!
//! The network, the layout, normalisation and the argmax are `policy-core`'s types, re-exported
//! here.
//!
//! ```
//! use policy::{
//!     Activation, ClusterState, Dense, Export, Mlp, Network, NodeState, ObservationLayout, Policy, PolicyMeta,
//!     Source, TaskRequest,
//! };
//!
//! // Park's layout on two nodes: [load 0, load 1, task size]. A hand-made network whose
//! // Q-values are minus each node's load: it picks the least-loaded node.
//! let mlp = Mlp {
//!     hidden: vec![Dense::new(3, 2, vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0], vec![0.0, 0.0])?],
//!     head: Dense::new(2, 2, vec![-1.0, 0.0, 0.0, -1.0], vec![0.0, 0.0])?,
//!     value: None,
//!     activation: Activation::Relu,
//! };
//! let layout = ObservationLayout::Park { n_nodes: 2, resources: vec!["slot".into()], high: 500_000.0 };
//! let meta = PolicyMeta::new("park-lb", Source::default(), mlp.shape(), None, layout);
//! let mut policy = Policy::from_export(Export { meta, network: Network::Mlp(mlp) })?;
//!
//! assert_eq!(policy.act(&[30.0, 10.0, 5.0], &[true, true])?, 1);
//! assert_eq!(policy.act(&[30.0, 10.0, 5.0], &[true, false])?, 0);
//!
//! let node = |id, queued_work| NodeState {
//!     id,
//!     capacity: vec![1.0],
//!     usage: vec![0.0],
//!     speed: 1.0,
//!     up: true,
//!     queued_tasks: 1,
//!     queued_work,
//!     running_tasks: 0,
//!     running_work: 0.0,
//! };
//! let state = ClusterState {
//!     nodes: vec![node(1, 40.0), node(0, 25.0)],
//!     task: TaskRequest { id: 7, priority: 1.0, demands: vec![1.0], size: 12.0, allowed_nodes: None },
//! };
//! let (chosen, q) = policy.act_state(&state)?;
//! assert_eq!((chosen, q), (0, &[-25.0, -40.0][..]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub use error::{PolicyError, Result};
pub use files::{COMPANION_FILES, Export, META_FILE, WEIGHTS_FILE, is_trace_copy};
pub use meta::{
    ACTION_MEANING, ActionMeaning, FORMAT, FORMAT_VERSION, FORMAT_VERSION_MLP, IN_MEMORY, PolicyMeta, Source,
    WEIGHT_LAYOUT,
};
pub use policy::Policy;
pub use policy_core::{
    ActionFilter, Activation, Architecture, Dense, FIT_EPS, Mlp, Network, NetworkShape, NodeScoring, Normalization,
    ObservationLayout, ShapeError, masked_argmax,
};
pub use request::{ClusterState, NodeState, TaskRequest};
pub use runtime::Runtime;

mod error;
mod files;
mod meta;
mod policy;
mod request;
mod runtime;
