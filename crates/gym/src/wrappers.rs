//! Wrappers that add Gymnasium's standard bookkeeping to any [`Env`]: a time limit
//! ([`TimeLimit`]) and episode statistics ([`RecordEpisodeStatistics`]).

use serde::{Deserialize, Serialize};

use crate::{BoxSpace, Discrete, Env, EnvError, Step};

/// Truncates episodes after `max_episode_steps` steps, like Gymnasium's `TimeLimit`.
///
/// The step on which the limit is reached returns `truncated = true` (and whatever `terminated`
/// the inner environment said: both can be true). The wrapper then refuses further steps with
/// [`EnvError::NeedsReset`] until `reset`, as the [`Env`] contract requires, even though the
/// inner environment would continue. Info passes through unchanged.
///
/// ```
/// use gym::{CartPole, Env, TimeLimit};
/// let mut env = TimeLimit::new(CartPole::new(), 3);
/// env.reset(Some(0));
/// assert!(!env.step(0).unwrap().truncated);
/// assert!(!env.step(1).unwrap().truncated);
/// assert!(env.step(0).unwrap().truncated);
/// assert!(env.step(1).is_err());
/// ```
#[derive(Debug, Clone)]
pub struct TimeLimit<E> {
    /// The wrapped environment.
    env: E,
    /// Steps after which an episode is truncated.
    max_episode_steps: u64,
    /// Steps taken in the current episode.
    elapsed_steps: u64,
    /// The episode ended (or never started): `step` is refused until `reset`.
    needs_reset: bool,
}

impl<E: Env> TimeLimit<E> {
    /// Wraps `env` so its episodes last at most `max_episode_steps` steps.
    pub fn new(env: E, max_episode_steps: u64) -> Self {
        Self { env, max_episode_steps, elapsed_steps: 0, needs_reset: true }
    }

    /// Steps after which an episode is truncated.
    pub fn max_episode_steps(&self) -> u64 {
        self.max_episode_steps
    }

    /// Steps taken in the current episode.
    pub fn elapsed_steps(&self) -> u64 {
        self.elapsed_steps
    }

    /// The wrapped environment, for inspection.
    pub fn inner(&self) -> &E {
        &self.env
    }

    /// Unwraps the environment.
    pub fn into_inner(self) -> E {
        self.env
    }
}

impl<E: Env> Env for TimeLimit<E> {
    type Info = E::Info;

    fn observation_space(&self) -> &BoxSpace {
        self.env.observation_space()
    }

    fn action_space(&self) -> Discrete {
        self.env.action_space()
    }

    fn reset(&mut self, seed: Option<u64>) -> (&[f32], E::Info) {
        self.elapsed_steps = 0;
        self.needs_reset = false;
        self.env.reset(seed)
    }

    fn step(&mut self, action: usize) -> Result<Step<'_, E::Info>, EnvError> {
        EnvError::check_action(action, self.env.action_mask())?;
        if self.needs_reset {
            return Err(EnvError::NeedsReset);
        }
        let mut step = self.env.step(action)?;
        self.elapsed_steps += 1;
        step.truncated |= self.elapsed_steps >= self.max_episode_steps;
        self.needs_reset = step.terminated || step.truncated;
        Ok(step)
    }

    fn action_mask(&self) -> &[bool] {
        self.env.action_mask()
    }
}

/// The return and length of one finished episode.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct EpisodeStats {
    /// Sum of the episode's rewards (undiscounted).
    pub episode_return: f64,
    /// Number of steps in the episode.
    pub length: u64,
}

/// The info of a [`RecordEpisodeStatistics`]: the inner environment's info, plus the episode's
/// statistics on the step that ends it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EpisodeInfo<I> {
    /// The wrapped environment's info, unchanged.
    pub inner: I,
    /// `Some` exactly on the step that returns `terminated || truncated`; `None` otherwise
    /// (and on `reset`).
    pub episode: Option<EpisodeStats>,
}

/// Reports each episode's return and length when it ends, like Gymnasium's
/// `RecordEpisodeStatistics` (without its wall-clock time, which would make runs differ).
///
/// ```
/// use gym::{CartPole, Env, RecordEpisodeStatistics};
/// let mut env = RecordEpisodeStatistics::new(CartPole::new());
/// env.reset(Some(0));
/// let stats = loop {
///     let step = env.step(1).unwrap(); // always right: the pole soon falls
///     if let Some(stats) = step.info.episode {
///         break stats;
///     }
/// };
/// assert_eq!(stats.episode_return, stats.length as f64); // CartPole pays 1 per step
/// ```
#[derive(Debug, Clone)]
pub struct RecordEpisodeStatistics<E> {
    /// The wrapped environment.
    env: E,
    /// Sum of rewards so far in the current episode.
    episode_return: f64,
    /// Steps so far in the current episode.
    length: u64,
}

impl<E: Env> RecordEpisodeStatistics<E> {
    /// Wraps `env` to record its episode statistics.
    pub fn new(env: E) -> Self {
        Self { env, episode_return: 0.0, length: 0 }
    }

    /// Statistics of the episode in progress (return and length so far).
    pub fn current(&self) -> EpisodeStats {
        EpisodeStats { episode_return: self.episode_return, length: self.length }
    }

    /// The wrapped environment, for inspection.
    pub fn inner(&self) -> &E {
        &self.env
    }

    /// Unwraps the environment.
    pub fn into_inner(self) -> E {
        self.env
    }
}

impl<E: Env> Env for RecordEpisodeStatistics<E> {
    type Info = EpisodeInfo<E::Info>;

    fn observation_space(&self) -> &BoxSpace {
        self.env.observation_space()
    }

    fn action_space(&self) -> Discrete {
        self.env.action_space()
    }

    fn reset(&mut self, seed: Option<u64>) -> (&[f32], Self::Info) {
        self.episode_return = 0.0;
        self.length = 0;
        let (obs, inner) = self.env.reset(seed);
        (obs, EpisodeInfo { inner, episode: None })
    }

    fn step(&mut self, action: usize) -> Result<Step<'_, Self::Info>, EnvError> {
        let step = self.env.step(action)?;
        self.episode_return += step.reward;
        self.length += 1;
        let episode = (step.terminated || step.truncated)
            .then_some(EpisodeStats { episode_return: self.episode_return, length: self.length });
        Ok(Step {
            obs: step.obs,
            reward: step.reward,
            terminated: step.terminated,
            truncated: step.truncated,
            info: EpisodeInfo { inner: step.info, episode },
        })
    }

    fn action_mask(&self) -> &[bool] {
        self.env.action_mask()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CartPole;

    /// A deterministic env for wrapper tests: reward `t` on step `t` (1-based), terminal after
    /// `terminal_at` steps, info = the step count.
    #[derive(Debug)]
    struct Counter {
        t: u64,
        terminal_at: u64,
        obs: [f32; 1],
        space: BoxSpace,
    }

    impl Counter {
        fn new(terminal_at: u64) -> Self {
            let space = BoxSpace::new(vec![0.0], vec![f32::MAX]);
            Self { t: 0, terminal_at, obs: [0.0], space }
        }
    }

    impl Env for Counter {
        type Info = u64;
        fn observation_space(&self) -> &BoxSpace {
            &self.space
        }
        fn action_space(&self) -> Discrete {
            Discrete { n: 1 }
        }
        fn reset(&mut self, _seed: Option<u64>) -> (&[f32], u64) {
            self.t = 0;
            self.obs = [0.0];
            (&self.obs, 0)
        }
        fn step(&mut self, action: usize) -> Result<Step<'_, u64>, EnvError> {
            EnvError::check_action(action, &[true])?;
            if self.t >= self.terminal_at {
                return Err(EnvError::NeedsReset);
            }
            self.t += 1;
            self.obs = [self.t as f32];
            let terminated = self.t == self.terminal_at;
            Ok(Step { obs: &self.obs, reward: self.t as f64, terminated, truncated: false, info: self.t })
        }
        fn action_mask(&self) -> &[bool] {
            &[true]
        }
    }

    #[test]
    fn time_limit_truncates_and_then_needs_reset() {
        let mut env = TimeLimit::new(Counter::new(100), 3);
        assert_eq!(env.step(0).unwrap_err(), EnvError::NeedsReset, "before reset");
        env.reset(None);
        for t in 1..=3 {
            let step = env.step(0).unwrap();
            assert_eq!(step.info, t, "info passes through");
            assert!(!step.terminated);
            assert_eq!(step.truncated, t == 3);
        }
        assert_eq!(env.elapsed_steps(), 3);
        assert_eq!(env.step(0).unwrap_err(), EnvError::NeedsReset);
        assert_eq!(env.inner().t, 3, "the refused step did not reach the inner env");
        env.reset(None);
        assert_eq!(env.elapsed_steps(), 0);
        assert!(!env.step(0).unwrap().truncated);
        assert_eq!(env.step(1).unwrap_err(), EnvError::ActionOutOfRange { action: 1, n: 1 });
        assert_eq!(env.elapsed_steps(), 1, "a refused action is not a step");
    }

    #[test]
    fn time_limit_keeps_terminated_on_the_last_step() {
        let mut env = TimeLimit::new(Counter::new(2), 2);
        env.reset(None);
        env.step(0).unwrap();
        let step = env.step(0).unwrap();
        assert!(step.terminated && step.truncated);

        // Termination before the limit: no truncation, and the wrapper needs a reset too.
        let mut env = TimeLimit::new(Counter::new(2), 10);
        env.reset(None);
        env.step(0).unwrap();
        let step = env.step(0).unwrap();
        assert!(step.terminated && !step.truncated);
        assert_eq!(env.step(0).unwrap_err(), EnvError::NeedsReset);
        assert_eq!(env.into_inner().t, 2);
    }

    #[test]
    fn time_limit_shorter_than_cartpoles_own() {
        let mut env = TimeLimit::new(CartPole::new(), 1);
        assert_eq!(env.max_episode_steps(), 1);
        env.reset(Some(0));
        assert!(env.step(1).unwrap().truncated);
    }

    #[test]
    fn episode_statistics_sum_rewards_and_count_steps() {
        let mut env = RecordEpisodeStatistics::new(Counter::new(4));
        let (_, info) = env.reset(None);
        assert!(info.episode.is_none());
        for t in 1..=3 {
            let step = env.step(0).unwrap();
            assert_eq!(step.info.inner, t);
            assert!(step.info.episode.is_none(), "step {t}");
        }
        assert_eq!(env.current(), EpisodeStats { episode_return: 6.0, length: 3 });
        let step = env.step(0).unwrap();
        assert!(step.terminated);
        let stats = step.info.episode.unwrap();
        assert_eq!(stats, EpisodeStats { episode_return: 10.0, length: 4 });

        // A refused step changes nothing; a reset starts from zero.
        assert!(env.step(0).is_err());
        assert_eq!(env.current(), EpisodeStats { episode_return: 10.0, length: 4 });
        env.reset(None);
        assert_eq!(env.current(), EpisodeStats::default());
        assert_eq!(env.step(0).unwrap().reward, 1.0);
        assert_eq!(env.inner().t, 1);
    }

    #[test]
    fn episode_statistics_see_truncation() {
        let mut env = RecordEpisodeStatistics::new(TimeLimit::new(Counter::new(100), 2));
        env.reset(None);
        env.step(0).unwrap();
        let step = env.step(0).unwrap();
        assert!(step.truncated && !step.terminated);
        assert_eq!(step.info.episode, Some(EpisodeStats { episode_return: 3.0, length: 2 }));
        assert_eq!(env.into_inner().into_inner().t, 2);
    }

    #[test]
    fn episode_stats_serialize() {
        let json = serde_json::to_string(&EpisodeInfo {
            inner: (),
            episode: Some(EpisodeStats { episode_return: 1.5, length: 3 }),
        })
        .unwrap();
        assert_eq!(json, r#"{"inner":null,"episode":{"episode_return":1.5,"length":3}}"#);
    }
}
