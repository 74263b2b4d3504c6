//! What a cluster-rl policy sees and computes, shared by the simulator, the trainer and the
//! exported-policy runtime so that each exists once: the observation layout and its encoder,
//! the plain Q-network, normalisation and the masked greedy choice.
//!
//! # Brief overview
//! - [`ObservationLayout`]: how a cluster state becomes the flat `f32` observation (the `full`
//!   or `park` layout and the scenario constants it divides by; see [`mod@observation`] for the
//!   feature table). [`ObservationLayout::encode`] reads any [`ClusterRead`] — the simulator,
//!   or a production scheduler's description — as [`NodeFeatures`] and [`TaskFeatures`].
//! - [`Mlp`]: the Q-network as plain vectors — [`Dense`] layers `y = x·W + b`, an
//!   [`Activation`], an optional dueling value head — with its [`NetworkShape`]
//!   (`11-128-128-10 relu`).
//! - [`NodeScoring`]: the size-independent Q-network, one small network scoring every node
//!   from its row, the task's row and a pooled summary of the cluster; [`Architecture`] says
//!   which of the two a [`NetworkShape`] describes.
//! - [`Normalization`] and [`normalize_into`]: the observation normalisation, bit for bit the
//!   trainer's.
//! - [`masked_argmax`]: the greedy valid action; [`fits`] and [`FIT_EPS`]: whether a task's
//!   demands fit a node; [`ActionFilter`]: a policy's optional "only where it fits now" step
//!   before the greedy choice.
//! - [`ShapeError`] and [`LayoutError`]: a network or a layout that cannot be used.
//!
//! This crate has no tensor library and never allocates on the encoding or argmax paths.
//!
//! ```
//! use policy_core::{
//!     Activation, ClusterRead, Dense, Mlp, NodeFeatures, ObservationLayout, TaskFeatures, masked_argmax,
//! };
//!
//! /// Two single-slot nodes: loads 30 and 10 (queued work, nothing running), a task of size 5.
//! struct Cluster;
//! impl ClusterRead for Cluster {
//!     fn n_nodes(&self) -> usize {
//!         2
//!     }
//!     fn node(&self, i: usize) -> NodeFeatures<'_> {
//!         let queued_work = [30.0, 10.0][i];
//!         NodeFeatures {
//!             capacity: &[1.0],
//!             used: &[0.0],
//!             speed: 1.0,
//!             up: true,
//!             tasks: 1,
//!             outstanding_work: queued_work,
//!             queued_work,
//!             remaining_time: 0.0,
//!         }
//!     }
//!     fn task(&self) -> Option<TaskFeatures<'_>> {
//!         Some(TaskFeatures { demand: &[1.0], work: 5.0, weight: 1.0 })
//!     }
//! }
//!
//! // Park's layout: [load 0, load 1, task size].
//! let layout = ObservationLayout::Park { n_nodes: 2, resources: vec!["slot".into()], high: 500_000.0 };
//! let mut obs = vec![0.0; layout.obs_dim()];
//! layout.encode(&Cluster, &mut obs);
//! assert_eq!(obs, [30.0, 10.0, 5.0]);
//!
//! // A hand-made network whose Q-values are minus each node's load: it picks the least loaded.
//! let mlp = Mlp {
//!     hidden: vec![Dense::new(3, 2, vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0], vec![0.0, 0.0])?],
//!     head: Dense::new(2, 2, vec![-1.0, 0.0, 0.0, -1.0], vec![0.0, 0.0])?,
//!     value: None,
//!     activation: Activation::Relu,
//! };
//! mlp.validate()?;
//! assert_eq!(mlp.shape().to_string(), "3-2-2 relu");
//! let q = mlp.forward(&obs);
//! assert_eq!(q, [-30.0, -10.0]);
//! assert_eq!(masked_argmax(&q, &[true, true]), Some(1));
//! assert_eq!(masked_argmax(&q, &[true, false]), Some(0));
//! # Ok::<(), policy_core::ShapeError>(())
//! ```
#![deny(missing_docs)]

pub use action::{ActionFilter, FIT_EPS, filtered_argmax, fits, masked_argmax, narrow_to_fitting};
pub use activation::Activation;
pub use network::{Architecture, Dense, Mlp, NetworkShape, ShapeError};
pub use node_scoring::{Network, NodeScoring};
pub use normalize::{Normalization, normalize_into, normalize_nodes_into};
pub use observation::{ClusterRead, LayoutError, NodeFeatures, ObservationLayout, TaskFeatures};

mod action;
mod activation;
mod erf;
mod network;
mod node_scoring;
mod normalize;
pub mod observation;
