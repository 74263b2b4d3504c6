//! Deep Q-Learning on burn 0.22 for [`gym`] environments: flat `f32` observations, discrete
//! actions, optional action masks.
//!
//! # Brief overview
//! - [`DqnConfig`]: every hyperparameter, serde-deserialisable, with [`DqnConfig::validate`].
//! - [`Agent`]: online and target [`QNetwork`]s, Adam, the [`ReplayBuffer`] (uniform or
//!   prioritized), observation/reward normalisation and the RNG. It acts
//!   ([`Agent::act_batch`]: ε-greedy for N envs in one forward pass; [`Agent::greedy_action`]),
//!   observes ([`Agent::observe`]; [`Agent::truncate_pending`] when the envs restart from
//!   outside) and learns ([`Agent::update`] at the scheduled [`Agent::learning_rate`],
//!   [`Agent::update_target`]).
//! - [`Loop`] (`train.rs`): the training loop over a [`gym::VectorEnv`], one vector step per
//!   [`Loop::step`], shaped like CleanRL's `dqn.py`, reporting through a [`Logger`] and
//!   stopping with [`DqnError::NonFinite`] at the first diverged gradient step; [`train`] /
//!   [`train_until`] loop over it; [`evaluate`] runs greedy episodes.
//! - [`Agent::save`] / [`Agent::load`]: the complete state, so training resumes bit for bit
//!   (see [`save`] for the file layout and [`FORMAT_VERSION`]).
//! - [`QNetwork`] (`model.rs`): the burn network, shaped by `policy_core::NetworkShape`;
//!   [`QNetwork::to_host`] copies it out as a plain `policy_core::Mlp` for exporters.
//! - [`td_targets`] (`td.rs`): the TD target as a pure function, Double DQN, n-step and masks
//!   included; the replay buffer (`replay.rs`, `sumtree.rs`), the schedules (`schedule.rs`) and
//!   the normalisation statistics (`normalize.rs`) beside it.
//!
//! Networks run on burn's flex CPU backend by default (deterministic: a fixed seed gives the
//! same weights bit for bit); the `cuda` and `wgpu` features add GPU backends, picked at run
//! time by [`DqnConfig::device`].
//!
//! ```
//! use dqn::{Agent, DqnConfig, MemoryLogger, evaluate, train_until};
//! use gym::{CartPole, VectorEnv};
//!
//! let cfg = DqnConfig { learning_starts: 100, buffer_size: 1000, batch_size: 32,
//!                       hidden_sizes: vec![16], ..DqnConfig::default() };
//! let mut envs = VectorEnv::new(vec![CartPole::new()]).unwrap();
//! envs.reset(0);
//! let mut agent = Agent::new(cfg, envs.obs_dim(), envs.n_actions()).unwrap();
//! let mut logger = MemoryLogger::default();
//! train_until(&mut agent, &mut envs, 300, &mut logger).unwrap();
//! assert_eq!(agent.global_step(), 300);
//! let report = evaluate(&mut agent, &mut CartPole::new(), 2, 7).unwrap();
//! assert_eq!(report.returns.len(), 2);
//! ```
#![deny(missing_docs)]

mod agent;
mod bin;
mod config;
mod error;
mod logger;
mod model;
mod normalize;
mod replay;
pub mod save;
mod schedule;
mod sumtree;
mod td;
mod train;

pub use agent::{Agent, Transitions, UpdateStats, make_device};
pub use config::{
    DeviceSetting, DqnConfig, EpsilonSchedule, LossKind, LrSchedule, MAX_ACTIONS, MAX_BUFFER_SIZE, MAX_HIDDEN_LAYERS,
    MAX_HIDDEN_WIDTH, MAX_NETWORK_PARAMS, MAX_NSTEP_BYTES, MAX_NUM_ENVS, MAX_OBS_DIM, MAX_REPLAY_BYTES, NetworkKind,
};
pub use error::DqnError;
pub use logger::{Logger, MemoryLogger, NullLogger, Scalar};
pub use model::{NodeRows, QNetwork, ScoringBody};
pub use normalize::{NORM_EPSILON, RewardScaler, RunningMeanStd};
pub use policy_core::{ActionFilter, Activation, Network, NetworkShape, masked_argmax};
pub use replay::{Batch, EnvStep, NStepAccumulator, ReplayBuffer, Transition};
pub use save::{FORMAT_VERSION, SaveOptions};
pub use schedule::{crossed, crossings, epsilon, learning_rate, per_beta};
pub use sumtree::SumTree;
pub use td::{TdInputs, td_targets};
pub use train::{EvalReport, Loop, StepReport, TrainSummary, evaluate, train, train_until};
