//! Runtime for exported cluster-rl policies, without burn: what a production scheduler embeds.
//!
//! # Brief overview
//! - [`Policy`]: loads an export directory ([`Policy::load`]) and answers
//!   [`Policy::act`]`(observation, mask) -> node` without allocating, or
//!   [`Policy::act_state`] straight from a [`ClusterState`].
//! - [`Export`]: the directory's contents — [`PolicyMeta`] (`policy.json`: network shape,
//!   normalisation, observation layout, provenance) and the [`Mlp`]'s weights
//!   (`policy.safetensors`); [`Export::write`] and [`Export::read`] (see [`mod@format`] for the
//!   tensors). An export may also hold `policy.onnx`, the same network for other runtimes.
//! - [`ClusterState`]: the task-submission interface — nodes with capacity, usage, speed,
//!   queues, and the task — which [`ObservationLayout::encode`] turns into exactly the
//!   observation and action mask the simulator gave the policy in training.
//! - [`PolicyError`]: every error, naming the file, tensor, field or value.
//!
//! ```
//! use policy::ndarray::array;
//! use policy::{
//!     Activation, ClusterState, Dense, Export, Mlp, NodeState, ObservationLayout, Policy, PolicyMeta, Source,
//!     TaskRequest,
//! };
//!
//! // Park's layout on two nodes: [load 0, load 1, task size]. A hand-made network whose
//! // Q-values are minus each node's load: it picks the least-loaded node.
//! let mlp = Mlp {
//!     hidden: vec![Dense::new(array![[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], array![0.0, 0.0])],
//!     head: Dense::new(array![[-1.0, 0.0], [0.0, -1.0]], array![0.0, 0.0]),
//!     value: None,
//!     activation: Activation::Relu,
//! };
//! let layout = ObservationLayout::Park { n_nodes: 2, resources: vec!["slot".into()], high: 500_000.0 };
//! let meta = PolicyMeta::new("park-lb", Source::default(), mlp.shape(), None, layout);
//! let mut policy = Policy::from_export(Export { meta, mlp })?;
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
//! # Ok::<(), policy::PolicyError>(())
//! ```
#![deny(missing_docs)]

mod erf;
mod error;
pub mod format;
pub mod network;
mod runtime;
mod state;

/// The array crate of [`Dense`]'s fields and [`Policy::q_values_batch`], re-exported so callers
/// use the same version.
pub use ndarray;

pub use error::{PolicyError, Result};
pub use format::{
    ActionMeaning, Export, FORMAT, FORMAT_VERSION, NetworkShape, ObservationLayout, PolicyMeta, Source, WEIGHT_LAYOUT,
};
pub use network::{Activation, Dense, Mlp, Normalization};
pub use runtime::{Policy, masked_argmax};
pub use state::{ClusterState, FIT_EPS, NodeState, TaskRequest};
