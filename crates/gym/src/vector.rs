//! [`VectorEnv`]: N environments stepped in parallel on rayon, with Gymnasium's same-step
//! autoreset and contiguous batch buffers.

use rayon::prelude::*;

use serde::{Deserialize, Serialize};

use crate::snapshot::{self, Snapshot};
use crate::{Env, EnvError, EpisodeStats};

/// Layout version of [`VectorEnv::save_state`]'s bytes.
const VECTOR_STATE_VERSION: u32 = 1;

/// A [`VectorEnv`]'s state: its buffers and each env's own state.
#[derive(Serialize, Deserialize)]
struct VectorState {
    version: u32,
    obs_dim: u64,
    n_actions: u64,
    obs: Vec<f32>,
    final_obs: Vec<f32>,
    final_masks: Vec<bool>,
    masks: Vec<bool>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
    episode_returns: Vec<f64>,
    episode_lengths: Vec<u64>,
    needs_reset: bool,
    envs: Vec<Vec<u8>>,
}

/// What one sub-environment of a [`VectorEnv`] reported on the last `reset` or `step`.
///
/// Its final observation, when its episode just ended, is read with [`VectorEnv::final_obs`]
/// (it lives in a preallocated buffer, not here, so stepping allocates nothing).
#[derive(Debug, Clone, Default)]
pub struct VectorInfo<I> {
    /// The info that goes with this env's row of [`VectorEnv::obs`]: the step's info, or, when
    /// the episode just ended and the env was reset, the new episode's reset info.
    pub info: I,
    /// The info of the step that ended the episode; `Some` exactly when this env returned
    /// `terminated || truncated` on the last step.
    pub final_info: Option<I>,
    /// Return and length of the episode that just ended (counted by the vector env itself);
    /// `Some` exactly when `final_info` is.
    pub episode: Option<EpisodeStats>,
}

/// N environments of one type, stepped in parallel on rayon's current thread pool.
///
/// Observations, masks, rewards and flags live in contiguous preallocated buffers: row `i` of
/// [`obs`](Self::obs) (`[N, obs_dim]`) and [`masks`](Self::masks) (`[N, n_actions]`) belong to
/// env `i`. A step allocates nothing in steady state (beyond what the envs' own infos do), and
/// its results do not depend on the number of rayon threads. (Called from outside a rayon pool,
/// rayon's job queue itself allocates a block about every 60 steps; run the loop inside
/// `ThreadPool::install` for none at all, as `tests/vector_alloc.rs` does.)
///
/// **Autoreset (Gymnasium's `SAME_STEP` mode).** When env `i`'s episode ends during
/// [`step`](Self::step), `terminated()[i]`/`truncated()[i]` and `rewards()[i]` describe the
/// final transition, its last observation is kept in [`final_obs(i)`](Self::final_obs), its info
/// and episode statistics go to `infos()[i].final_info` / `.episode`, and the env is reset with
/// `reset(None)` in the same step, so `obs()` row `i` already is the new episode's first
/// observation. Learners must bootstrap a truncated transition from `final_obs(i)`, never from
/// `obs()` row `i`.
///
/// ```
/// use gym::{CartPole, VectorEnv};
/// let mut envs = VectorEnv::new((0..4).map(|_| CartPole::new()).collect()).unwrap();
/// envs.reset(42); // env i is seeded with 42 + i
/// assert_eq!(envs.obs().len(), 4 * envs.obs_dim());
/// let mut finished = 0;
/// for _ in 0..100 {
///     envs.step(&[1, 1, 1, 1]).unwrap(); // always right: every pole falls
///     for i in 0..envs.num_envs() {
///         if let Some(stats) = envs.infos()[i].episode {
///             assert!(envs.terminated()[i]);
///             assert!(envs.final_obs(i).is_some());
///             assert!(stats.length > 0);
///             finished += 1;
///         }
///     }
/// }
/// assert!(finished >= 4);
/// ```
#[derive(Debug)]
pub struct VectorEnv<E: Env> {
    /// The sub-environments.
    envs: Vec<E>,
    /// Length of one observation.
    obs_dim: usize,
    /// Number of actions of each env.
    n_actions: usize,
    /// `[N, obs_dim]`: each env's current observation.
    obs: Vec<f32>,
    /// `[N, obs_dim]`: each env's last observation of the episode that ended on the last step
    /// (meaningful only for envs that ended).
    final_obs: Vec<f32>,
    /// `[N, n_actions]`: each env's action mask at its final observation (valid where
    /// `final_obs` is).
    final_masks: Vec<bool>,
    /// `[N, n_actions]`: each env's current action mask.
    masks: Vec<bool>,
    /// `[N]`: rewards of the last step.
    rewards: Vec<f64>,
    /// `[N]`: `terminated` of the last step.
    terminated: Vec<bool>,
    /// `[N]`: `truncated` of the last step.
    truncated: Vec<bool>,
    /// `[N]`: infos of the last step.
    infos: Vec<VectorInfo<E::Info>>,
    /// `[N]`: return of each env's episode in progress.
    episode_returns: Vec<f64>,
    /// `[N]`: length of each env's episode in progress.
    episode_lengths: Vec<u64>,
    /// `reset` was never called, or a sub-environment failed: `step` is refused until `reset`.
    needs_reset: bool,
}

impl<E: Env> VectorEnv<E> {
    /// Batches `envs`, which must agree on the observation length and the number of actions.
    /// Call [`reset`](Self::reset) before the first step.
    ///
    /// # Errors
    /// [`EnvError::Internal`] if `envs` is empty or the envs' spaces differ in size.
    pub fn new(envs: Vec<E>) -> Result<Self, EnvError> {
        let first = envs.first().ok_or_else(|| EnvError::Internal("vector env needs at least one env".into()))?;
        let obs_dim = first.observation_space().dim();
        let n_actions = first.action_space().n;
        for (i, env) in envs.iter().enumerate() {
            let (dim, n) = (env.observation_space().dim(), env.action_space().n);
            if (dim, n) != (obs_dim, n_actions) {
                return Err(EnvError::Internal(format!(
                    "vector env: env {i} has obs_dim {dim} and {n} actions, \
                     env 0 has obs_dim {obs_dim} and {n_actions} actions"
                )));
            }
        }
        let n = envs.len();
        Ok(Self {
            envs,
            obs_dim,
            n_actions,
            obs: vec![0.0; n * obs_dim],
            final_obs: vec![0.0; n * obs_dim],
            final_masks: vec![false; n * n_actions],
            masks: vec![false; n * n_actions],
            rewards: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            infos: (0..n).map(|_| VectorInfo::default()).collect(),
            episode_returns: vec![0.0; n],
            episode_lengths: vec![0; n],
            needs_reset: true,
        })
    }

    /// Resets every env, seeding env `i` with `seed + i` (wrapping), and clears rewards, flags
    /// and episode statistics. `obs()`, `masks()` and `infos()[i].info` then hold the first
    /// observations, masks and reset infos.
    ///
    /// # Panics
    /// If an env breaks its own spaces (an observation or mask of the wrong length).
    pub fn reset(&mut self, seed: u64) {
        let (obs_dim, n_actions) = (self.obs_dim, self.n_actions);
        (
            self.envs.par_iter_mut(),
            self.obs.par_chunks_mut(obs_dim),
            self.masks.par_chunks_mut(n_actions),
            self.infos.par_iter_mut(),
        )
            .into_par_iter()
            .enumerate()
            .for_each(|(i, (env, obs_row, mask_row, info))| {
                let (obs, reset_info) = env.reset(Some(seed.wrapping_add(i as u64)));
                assert_eq!(obs.len(), obs_dim, "vector env: env {i} reset obs has wrong length");
                obs_row.copy_from_slice(obs);
                *info = VectorInfo { info: reset_info, final_info: None, episode: None };
                let mask = env.action_mask();
                assert_eq!(mask.len(), n_actions, "vector env: env {i} mask has wrong length");
                mask_row.copy_from_slice(mask);
            });
        self.rewards.fill(0.0);
        self.terminated.fill(false);
        self.truncated.fill(false);
        self.episode_returns.fill(0.0);
        self.episode_lengths.fill(0);
        self.needs_reset = false;
    }

    /// Steps env `i` with `actions[i]`, all envs in parallel, autoresetting those whose episode
    /// ends (see the type's docs).
    ///
    /// The batch is validated before any env moves: on an error nothing has changed.
    ///
    /// # Errors
    /// [`EnvError::NeedsReset`] before the first [`reset`](Self::reset);
    /// [`EnvError::WrongBatch`] if `actions.len() != num_envs()`; the first (lowest env index)
    /// [`EnvError::ActionOutOfRange`] or [`EnvError::ActionMasked`] of the batch. If an env
    /// fails while stepping ([`EnvError::Internal`]), the lowest-indexed env's error is
    /// returned, the other envs have stepped, and the vector env needs a `reset`.
    pub fn step(&mut self, actions: &[usize]) -> Result<(), EnvError> {
        if self.needs_reset {
            return Err(EnvError::NeedsReset);
        }
        if actions.len() != self.envs.len() {
            return Err(EnvError::WrongBatch { expected: self.envs.len(), got: actions.len() });
        }
        for (&action, mask) in actions.iter().zip(self.masks.chunks_exact(self.n_actions)) {
            EnvError::check_action(action, mask)?;
        }

        let (obs_dim, n_actions) = (self.obs_dim, self.n_actions);
        let result = (
            self.envs.par_iter_mut(),
            actions.par_iter(),
            self.obs.par_chunks_mut(obs_dim),
            self.final_obs.par_chunks_mut(obs_dim),
            self.final_masks.par_chunks_mut(n_actions),
            self.masks.par_chunks_mut(n_actions),
            self.rewards.par_iter_mut(),
            self.terminated.par_iter_mut(),
            self.truncated.par_iter_mut(),
            self.infos.par_iter_mut(),
            self.episode_returns.par_iter_mut(),
            self.episode_lengths.par_iter_mut(),
        )
            .into_par_iter()
            .map(
                |(
                    env,
                    &action,
                    obs_row,
                    final_obs_row,
                    final_mask_row,
                    mask_row,
                    reward,
                    terminated,
                    truncated,
                    info,
                    episode_return,
                    episode_length,
                )| {
                    let step = env.step(action)?;
                    check_len("obs", step.obs.len(), obs_dim)?;
                    *reward = step.reward;
                    *terminated = step.terminated;
                    *truncated = step.truncated;
                    *episode_return += step.reward;
                    *episode_length += 1;
                    if step.terminated || step.truncated {
                        final_obs_row.copy_from_slice(step.obs);
                        info.final_info = Some(step.info);
                        info.episode = Some(EpisodeStats { episode_return: *episode_return, length: *episode_length });
                        let final_mask = env.action_mask();
                        check_len("final mask", final_mask.len(), n_actions)?;
                        final_mask_row.copy_from_slice(final_mask);
                        *episode_return = 0.0;
                        *episode_length = 0;
                        let (obs, reset_info) = env.reset(None);
                        check_len("reset obs", obs.len(), obs_dim)?;
                        obs_row.copy_from_slice(obs);
                        info.info = reset_info;
                    } else {
                        obs_row.copy_from_slice(step.obs);
                        info.info = step.info;
                        info.final_info = None;
                        info.episode = None;
                    }
                    let mask = env.action_mask();
                    check_len("mask", mask.len(), n_actions)?;
                    mask_row.copy_from_slice(mask);
                    Ok(())
                },
            )
            // rayon's reduce keeps the envs' order, so `and` yields the lowest index's error.
            .reduce(|| Ok(()), Result::and);
        if result.is_err() {
            self.needs_reset = true;
        }
        result
    }

    /// `[N, obs_dim]`, row-major: each env's current observation (after autoreset, the new
    /// episode's first one).
    pub fn obs(&self) -> &[f32] {
        &self.obs
    }

    /// The last observation of env `i`'s episode if it ended on the last step (the observation
    /// to bootstrap from when it was truncated), else `None`.
    ///
    /// # Panics
    /// If `i >= num_envs()`.
    pub fn final_obs(&self, i: usize) -> Option<&[f32]> {
        (self.terminated[i] || self.truncated[i]).then(|| &self.final_obs[i * self.obs_dim..(i + 1) * self.obs_dim])
    }

    /// The action mask at env `i`'s final observation, when its episode ended on the last step
    /// (what a learner needs to bootstrap a truncated transition over valid actions only).
    pub fn final_mask(&self, i: usize) -> Option<&[bool]> {
        (self.terminated[i] || self.truncated[i])
            .then(|| &self.final_masks[i * self.n_actions..(i + 1) * self.n_actions])
    }

    /// `[N, n_actions]`, row-major: each env's current action mask.
    pub fn masks(&self) -> &[bool] {
        &self.masks
    }

    /// `[N]`: the rewards of the last step.
    pub fn rewards(&self) -> &[f64] {
        &self.rewards
    }

    /// `[N]`: which envs reached a terminal state on the last step.
    pub fn terminated(&self) -> &[bool] {
        &self.terminated
    }

    /// `[N]`: which envs were truncated on the last step.
    pub fn truncated(&self) -> &[bool] {
        &self.truncated
    }

    /// `[N]`: what each env reported on the last step or reset.
    pub fn infos(&self) -> &[VectorInfo<E::Info>] {
        &self.infos
    }

    /// Number of environments, N.
    pub fn num_envs(&self) -> usize {
        self.envs.len()
    }

    /// Length of one observation.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Number of actions of each env.
    pub fn n_actions(&self) -> usize {
        self.n_actions
    }

    /// The sub-environments, for inspection.
    pub fn envs(&self) -> &[E] {
        &self.envs
    }
}

impl<E: Env + Snapshot> VectorEnv<E> {
    /// The complete state: every env's ([`Snapshot`]) and the batch buffers (observations,
    /// masks, the last step's rewards and flags, the episodes' running returns and lengths),
    /// so that [`load_state`](Self::load_state) continues exactly. The last step's infos are
    /// not saved (they describe a step already taken).
    pub fn save_state(&self) -> Vec<u8> {
        snapshot::encode(&VectorState {
            version: VECTOR_STATE_VERSION,
            obs_dim: self.obs_dim as u64,
            n_actions: self.n_actions as u64,
            obs: self.obs.clone(),
            final_obs: self.final_obs.clone(),
            final_masks: self.final_masks.clone(),
            masks: self.masks.clone(),
            rewards: self.rewards.clone(),
            terminated: self.terminated.clone(),
            truncated: self.truncated.clone(),
            episode_returns: self.episode_returns.clone(),
            episode_lengths: self.episode_lengths.clone(),
            needs_reset: self.needs_reset,
            envs: self.envs.iter().map(Snapshot::save_state).collect(),
        })
    }

    /// Restores a state from [`save_state`](Self::save_state) of a vector env with the same
    /// number of envs, of the same configuration. The infos are reset to their defaults.
    ///
    /// # Errors
    /// [`EnvError::BadState`] if the bytes do not decode, the sizes differ (naming them), or an
    /// env refuses its state. Nothing is changed then.
    pub fn load_state(&mut self, bytes: &[u8]) -> Result<(), EnvError> {
        let s: VectorState = snapshot::decode("vector env", bytes)?;
        let bad = |m: String| Err(EnvError::BadState(format!("vector env: {m}")));
        if s.version != VECTOR_STATE_VERSION {
            return bad(format!("state version {} (this build reads {VECTOR_STATE_VERSION})", s.version));
        }
        let n = self.envs.len();
        if (s.envs.len(), s.obs_dim, s.n_actions) != (n, self.obs_dim as u64, self.n_actions as u64) {
            return bad(format!(
                "the state has {} envs, obs_dim {} and {} actions; this vector env has {n}, {} and {}",
                s.envs.len(),
                s.obs_dim,
                s.n_actions,
                self.obs_dim,
                self.n_actions
            ));
        }
        let (rows, masks) = (n * self.obs_dim, n * self.n_actions);
        let sizes = [
            (s.obs.len(), rows),
            (s.final_obs.len(), rows),
            (s.final_masks.len(), masks),
            (s.masks.len(), masks),
            (s.rewards.len(), n),
            (s.terminated.len(), n),
            (s.truncated.len(), n),
            (s.episode_returns.len(), n),
            (s.episode_lengths.len(), n),
        ];
        if sizes.iter().any(|(got, want)| got != want) {
            return bad("a batch buffer has the wrong length".into());
        }
        // Envs are not `Clone`: if one refuses its state, the envs restored before it get back
        // the states saved here, so that a failed load changes nothing.
        let before: Vec<Vec<u8>> = self.envs.iter().map(Snapshot::save_state).collect();
        for (i, (env, state)) in self.envs.iter_mut().zip(&s.envs).enumerate() {
            if let Err(e) = env.load_state(state) {
                for (env, old) in self.envs.iter_mut().zip(&before).take(i) {
                    // A state this env just saved always loads back.
                    let _ = env.load_state(old);
                }
                return bad(format!("env {i}: {e}"));
            }
        }
        self.obs = s.obs;
        self.final_obs = s.final_obs;
        self.final_masks = s.final_masks;
        self.masks = s.masks;
        self.rewards = s.rewards;
        self.terminated = s.terminated;
        self.truncated = s.truncated;
        self.episode_returns = s.episode_returns;
        self.episode_lengths = s.episode_lengths;
        self.needs_reset = s.needs_reset;
        self.infos.iter_mut().for_each(|i| *i = VectorInfo::default());
        Ok(())
    }
}

/// An env that breaks its own spaces mid-step is an internal failure, not a panic in a rayon
/// worker.
fn check_len(what: &str, len: usize, expected: usize) -> Result<(), EnvError> {
    if len == expected {
        Ok(())
    } else {
        Err(EnvError::Internal(format!("vector env: {what} has length {len}, expected {expected}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BoxSpace, CartPole, Discrete, Step};

    /// A walk on `0..=10` with actions left (0), right (1) and stay (2): left is masked at 0,
    /// reaching 10 terminates, and `truncate_at` steps truncate. Reward: the new position.
    /// Reset starts at `seed % 3`, then cycles.
    #[derive(Debug)]
    struct Walk {
        pos: u64,
        t: u64,
        truncate_at: u64,
        next_start: u64,
        obs: [f32; 1],
        mask: [bool; 3],
        space: BoxSpace,
        ended: bool,
    }

    impl Walk {
        fn new(truncate_at: u64) -> Self {
            Self {
                pos: 0,
                t: 0,
                truncate_at,
                next_start: 0,
                obs: [0.0],
                mask: [false, true, true],
                space: BoxSpace::new(vec![0.0], vec![10.0]),
                ended: true,
            }
        }
    }

    impl Env for Walk {
        type Info = u64;
        fn observation_space(&self) -> &BoxSpace {
            &self.space
        }
        fn action_space(&self) -> Discrete {
            Discrete { n: 3 }
        }
        fn reset(&mut self, seed: Option<u64>) -> (&[f32], u64) {
            if let Some(s) = seed {
                self.next_start = s % 3;
            }
            self.pos = self.next_start;
            self.next_start = (self.next_start + 1) % 3;
            self.t = 0;
            self.ended = false;
            self.obs = [self.pos as f32];
            self.mask = [self.pos > 0, true, true];
            (&self.obs, 100 + self.pos)
        }
        fn step(&mut self, action: usize) -> Result<Step<'_, u64>, EnvError> {
            EnvError::check_action(action, &self.mask)?;
            if self.ended {
                return Err(EnvError::NeedsReset);
            }
            match action {
                0 => self.pos -= 1,
                1 => self.pos += 1,
                _ => {}
            }
            self.t += 1;
            self.obs = [self.pos as f32];
            self.mask = [self.pos > 0, true, true];
            let terminated = self.pos == 10;
            let truncated = self.t >= self.truncate_at;
            self.ended = terminated || truncated;
            Ok(Step { obs: &self.obs, reward: self.pos as f64, terminated, truncated, info: self.t })
        }
        fn action_mask(&self) -> &[bool] {
            &self.mask
        }
    }

    fn cartpoles(n: usize) -> VectorEnv<CartPole> {
        VectorEnv::new((0..n).map(|_| CartPole::new()).collect()).unwrap()
    }

    #[test]
    fn reset_seeds_env_i_with_seed_plus_i() {
        let mut envs = cartpoles(3);
        envs.reset(u64::MAX - 1);
        for (i, seed) in [u64::MAX - 1, u64::MAX, 0].into_iter().enumerate() {
            let mut single = CartPole::new();
            assert_eq!(&envs.obs()[i * 4..(i + 1) * 4], single.reset(Some(seed)).0, "env {i}");
        }
        assert_eq!(envs.masks(), &[true; 6]);
        assert_eq!((envs.num_envs(), envs.obs_dim(), envs.n_actions()), (3, 4, 2));
        assert!(envs.infos().iter().all(|info| info.final_info.is_none()));
        assert!((0..3).all(|i| envs.final_obs(i).is_none()));
    }

    #[test]
    fn step_matches_single_envs_with_same_step_autoreset() {
        let n = 5;
        let mut envs = cartpoles(n);
        envs.reset(10);
        let mut singles: Vec<CartPole> = (0..n).map(|_| CartPole::new()).collect();
        let mut returns = vec![0.0; n];
        for (i, env) in singles.iter_mut().enumerate() {
            env.reset(Some(10 + i as u64));
        }
        let mut episodes = 0;
        for t in 0..300 {
            // Env i pushes right for i + 1 steps, then left, and so on: episodes end at
            // different times in different envs.
            let actions: Vec<usize> = (0..n).map(|i| (t / (i + 1)) % 2).collect();
            envs.step(&actions).unwrap();
            for (i, env) in singles.iter_mut().enumerate() {
                let step = env.step(actions[i]).unwrap();
                let (obs, reward, terminated, truncated) =
                    (step.obs.to_vec(), step.reward, step.terminated, step.truncated);
                returns[i] += reward;
                assert_eq!(envs.rewards()[i], reward);
                assert_eq!(envs.terminated()[i], terminated);
                assert_eq!(envs.truncated()[i], truncated);
                let info = &envs.infos()[i];
                if terminated || truncated {
                    episodes += 1;
                    assert_eq!(envs.final_obs(i), Some(obs.as_slice()), "t {t} env {i}");
                    assert_eq!(info.final_info, Some(()));
                    let stats = info.episode.unwrap();
                    assert_eq!(stats.episode_return, returns[i]);
                    assert_eq!(stats.length as f64, returns[i], "CartPole pays 1 per step");
                    returns[i] = 0.0;
                    let (reset_obs, _) = env.reset(None);
                    assert_eq!(&envs.obs()[i * 4..(i + 1) * 4], reset_obs, "t {t} env {i}");
                } else {
                    assert_eq!(envs.final_obs(i), None);
                    assert!(info.final_info.is_none() && info.episode.is_none());
                    assert_eq!(&envs.obs()[i * 4..(i + 1) * 4], obs.as_slice());
                }
            }
        }
        assert!(episodes > 2 * n, "only {episodes} episodes ended");
        for (env, single) in envs.envs().iter().zip(&singles) {
            assert_eq!(env.state(), single.state());
        }
    }

    #[test]
    fn invalid_batches_change_nothing() {
        let mut envs = VectorEnv::new((0..3).map(|_| Walk::new(100)).collect()).unwrap();
        assert_eq!(envs.step(&[1, 1, 1]).unwrap_err(), EnvError::NeedsReset);
        envs.reset(0); // starts 0, 1, 2: env 0 may not go left
        assert_eq!(envs.masks(), &[false, true, true, true, true, true, true, true, true]);
        assert_eq!(envs.step(&[1, 1]).unwrap_err(), EnvError::WrongBatch { expected: 3, got: 2 });
        assert_eq!(envs.step(&[1, 0, 3]).unwrap_err(), EnvError::ActionOutOfRange { action: 3, n: 3 });
        assert_eq!(envs.step(&[1, 1, 1, 1]).unwrap_err(), EnvError::WrongBatch { expected: 3, got: 4 });
        // Env 0's masked action is found even though envs 1 and 2 come later and are valid.
        assert_eq!(envs.step(&[0, 1, 1]).unwrap_err(), EnvError::ActionMasked { action: 0, valid: vec![1, 2] });
        let positions: Vec<u64> = envs.envs().iter().map(|e| e.pos).collect();
        assert_eq!(positions, vec![0, 1, 2], "no env moved");
        assert_eq!(envs.obs(), &[0.0, 1.0, 2.0]);
        assert!(envs.envs().iter().all(|e| e.t == 0));
        // The valid batch goes through after the refusals.
        envs.step(&[1, 0, 2]).unwrap();
        assert_eq!(envs.obs(), &[1.0, 0.0, 2.0]);
        assert_eq!(envs.masks(), &[true, true, true, false, true, true, true, true, true]);
        assert_eq!(envs.rewards(), &[1.0, 0.0, 2.0]);
        assert_eq!(envs.infos().iter().map(|i| i.info).collect::<Vec<_>>(), vec![1, 1, 1]);
    }

    #[test]
    fn final_mask_is_the_mask_at_the_final_observation() {
        let mut envs = VectorEnv::new(vec![Walk::new(1)]).unwrap();
        envs.reset(0); // starts at 0, where moving left is masked
        assert_eq!(envs.final_mask(0), None);
        envs.step(&[2]).unwrap(); // stay at 0: truncated after one step
        assert_eq!(envs.final_mask(0), Some(&[false, true, true][..]));
        assert_eq!(envs.masks(), [true, true, true], "the new episode starts at 1");
        envs.step(&[2]).unwrap();
        assert_eq!(envs.final_mask(0), Some(&[true, true, true][..]));
    }

    #[test]
    fn autoreset_reports_final_obs_info_and_stats() {
        // Env 0 truncates after 3 steps; env 1 walks right from 1 and terminates at 10.
        let mut envs = VectorEnv::new(vec![Walk::new(3), Walk::new(100)]).unwrap();
        envs.reset(0); // env 0 starts at 0, env 1 at 1
        for _ in 0..2 {
            envs.step(&[1, 1]).unwrap();
        }
        envs.step(&[1, 1]).unwrap(); // env 0: third step, truncated at 3
        assert_eq!((envs.terminated()[0], envs.truncated()[0]), (false, true));
        assert_eq!(envs.final_obs(0), Some(&[3.0][..]));
        let info = &envs.infos()[0];
        assert_eq!(info.final_info, Some(3), "the final step's info");
        assert_eq!(info.info, 101, "the new episode's reset info (start 1)");
        assert_eq!(info.episode, Some(EpisodeStats { episode_return: 6.0, length: 3 }));
        assert_eq!(envs.obs()[0], 1.0, "obs row 0 is the new episode's first obs");
        assert_eq!(envs.rewards()[0], 3.0);
        assert_eq!(envs.final_obs(1), None);

        for _ in 0..5 {
            envs.step(&[2, 1]).unwrap();
        }
        assert_eq!(envs.obs()[1], 9.0);
        envs.step(&[2, 1]).unwrap();
        assert_eq!((envs.terminated()[1], envs.truncated()[1]), (true, false));
        assert_eq!(envs.final_obs(1), Some(&[10.0][..]));
        assert_eq!(envs.infos()[1].episode.map(|s| s.length), Some(9));
        assert_eq!(envs.infos()[1].episode.map(|s| s.episode_return), Some((2..=10).sum::<u64>() as f64));
        assert_eq!(envs.obs()[1], 2.0, "reset(None) continues env 1's start cycle");
        assert_eq!(envs.masks()[3..6], [true, true, true]);
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let mut envs = cartpoles(13);
                envs.reset(99);
                let mut trace = Vec::new();
                for t in 0..400usize {
                    let actions: Vec<usize> = (0..13).map(|i| (t * 7 + i * 3 + t / 5) % 2).collect();
                    envs.step(&actions).unwrap();
                    trace.extend(envs.obs().iter().map(|v| v.to_bits() as u64));
                    trace.extend(envs.rewards().iter().map(|v| v.to_bits()));
                    trace.extend(envs.terminated().iter().map(|&v| v as u64));
                    trace.extend(envs.truncated().iter().map(|&v| v as u64));
                    for i in 0..13 {
                        if let Some(final_obs) = envs.final_obs(i) {
                            trace.extend(final_obs.iter().map(|v| v.to_bits() as u64));
                            trace.push(envs.infos()[i].episode.unwrap().length);
                        }
                    }
                }
                trace
            })
        };
        let one = run(1);
        assert_eq!(one, run(4));
        assert_eq!(one, run(3));
    }

    #[test]
    fn construction_checks_sizes() {
        assert!(matches!(VectorEnv::<CartPole>::new(vec![]), Err(EnvError::Internal(_))));
        let mut wide = Walk::new(3);
        wide.space = BoxSpace::new(vec![0.0; 2], vec![10.0; 2]);
        let err = VectorEnv::new(vec![Walk::new(3), wide]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment failure: vector env: env 1 has obs_dim 2 and 3 actions, \
             env 0 has obs_dim 1 and 3 actions"
        );
    }

    #[test]
    fn broken_env_is_an_error_not_a_panic() {
        /// Returns an observation of the wrong length on its second step.
        #[derive(Debug)]
        struct Broken {
            t: usize,
            obs: [f32; 2],
            space: BoxSpace,
        }
        impl Env for Broken {
            type Info = ();
            fn observation_space(&self) -> &BoxSpace {
                &self.space
            }
            fn action_space(&self) -> Discrete {
                Discrete { n: 1 }
            }
            fn reset(&mut self, _seed: Option<u64>) -> (&[f32], ()) {
                self.t = 0;
                (&self.obs[..1], ())
            }
            fn step(&mut self, _action: usize) -> Result<Step<'_, ()>, EnvError> {
                self.t += 1;
                let len = if self.t >= 2 { 2 } else { 1 };
                Ok(Step { obs: &self.obs[..len], reward: 0.0, terminated: false, truncated: false, info: () })
            }
            fn action_mask(&self) -> &[bool] {
                &[true]
            }
        }
        let space = BoxSpace::new(vec![0.0], vec![1.0]);
        let broken = Broken { t: 0, obs: [0.0; 2], space };
        let mut envs = VectorEnv::new(vec![broken]).unwrap();
        envs.reset(0);
        envs.step(&[0]).unwrap();
        assert!(matches!(envs.step(&[0]), Err(EnvError::Internal(_))));
        assert_eq!(envs.step(&[0]).unwrap_err(), EnvError::NeedsReset);
    }
}
