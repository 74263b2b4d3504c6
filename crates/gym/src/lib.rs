//! Gymnasium-style environment API for cluster-rl.
//!
//! # Brief overview
//! - [`Env`]: one environment with Gymnasium semantics — `reset(seed)`, `step(action)` returning a
//!   [`Step`] (obs, reward, terminated, truncated, info), an observation [`BoxSpace`], a
//!   [`Discrete`] action space and an [`Env::action_mask`].
//! - [`VectorEnv`]: N environments stepped in parallel on rayon with same-step autoreset; its
//!   observations and masks are contiguous `[N, obs_dim]` / `[N, n_actions]` buffers.
//! - Wrappers: [`TimeLimit`] (truncation) and [`RecordEpisodeStatistics`] (return, length).
//! - [`check_env`]: the applicable checks of Gymnasium's `env_checker`.
//! - [`CartPole`]: Gymnasium's CartPole-v1, exactly, to prove learners before trusting them.
//!
//! Observations are `f32` slices borrowed from the environment, so stepping allocates nothing.
//!
//! ```
//! use gym::{CartPole, Env};
//! let mut env = CartPole::new();
//! let (obs, _info) = env.reset(Some(42));
//! assert_eq!(obs.len(), 4);
//! let step = env.step(1).unwrap();
//! assert_eq!(step.reward, 1.0);
//! assert!(env.step(7).is_err()); // out of range: an error, never a panic
//! ```
#![deny(missing_docs)]

mod cartpole;
mod check;
mod error;
mod snapshot;
mod spaces;
mod vector;
mod wrappers;

pub use cartpole::CartPole;
pub use check::{CheckError, check_env};
pub use error::EnvError;
pub use snapshot::Snapshot;
pub use spaces::{BoxSpace, Discrete};
pub use vector::{VectorEnv, VectorInfo};
pub use wrappers::{EpisodeInfo, EpisodeStats, RecordEpisodeStatistics, TimeLimit};

/// The result of one [`Env::step`]: Gymnasium's `(obs, reward, terminated, truncated, info)`.
///
/// `obs` is borrowed from the environment (no allocation per step); copy it if you need it after
/// the next call.
#[derive(Debug)]
pub struct Step<'a, I> {
    /// Observation after the action, laid out as [`Env::observation_space`] describes.
    pub obs: &'a [f32],
    /// Reward for the transition (f64: cluster returns reach 10^6 and must sum exactly).
    pub reward: f64,
    /// The MDP reached a terminal state: there is no future reward, do not bootstrap.
    /// The caller must call [`Env::reset`] before stepping again.
    pub terminated: bool,
    /// The episode was cut off from outside the MDP (a time limit): the state is not terminal,
    /// so learners must still bootstrap from `obs`. The caller must call [`Env::reset`].
    pub truncated: bool,
    /// Environment-specific diagnostics (e.g. episode metrics when an episode ends).
    pub info: I,
}

/// A reinforcement-learning environment with Gymnasium semantics, flat `f32` observations and
/// discrete actions.
///
/// Seeding follows Gymnasium: `reset(Some(seed))` reseeds the environment's random generator;
/// `reset(None)` continues from the current generator state, so a sequence of episodes after one
/// seeded reset is reproducible.
pub trait Env: Send {
    /// Diagnostics returned by `reset` and `step`; `Default` is "nothing to report".
    type Info: Clone + Default + Send + std::fmt::Debug;

    /// The space every observation lies in.
    fn observation_space(&self) -> &BoxSpace;

    /// The action space: actions are `0..n`.
    fn action_space(&self) -> Discrete;

    /// Starts a new episode and returns its first observation.
    ///
    /// `seed: Some(s)` reseeds the environment (same `s` ⇒ same episode); `None` continues the
    /// current random stream. Must be called before the first `step` and after every
    /// `terminated || truncated`.
    fn reset(&mut self, seed: Option<u64>) -> (&[f32], Self::Info);

    /// Applies `action` and advances the environment to the next decision.
    ///
    /// # Errors
    /// [`EnvError::ActionOutOfRange`] if `action >= n`, [`EnvError::ActionMasked`] if
    /// [`Env::action_mask`] marks it invalid now, and [`EnvError::NeedsReset`] if the episode has
    /// ended (or never started). An invalid action never changes the environment's state and is
    /// never remapped to a valid one.
    fn step(&mut self, action: usize) -> Result<Step<'_, Self::Info>, EnvError>;

    /// Which actions are valid now (`mask[a]` ⇔ `a` may be taken); length `action_space().n`.
    /// Environments without constraints return all `true`.
    fn action_mask(&self) -> &[bool];
}
