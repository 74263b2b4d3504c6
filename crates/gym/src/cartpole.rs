//! Gymnasium's `CartPole-v1`: the same constants, the same Euler step in `f64`, the same
//! termination rule and the same 500-step time limit.
//!
//! It is here to prove learners before trusting them on the cluster environment: a DQN that
//! cannot balance this pole has a bug.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::snapshot::{self, Snapshot};
use crate::{BoxSpace, Discrete, Env, EnvError, Step};

/// Gravitational acceleration, in m/s².
const GRAVITY: f64 = 9.8;
/// Mass of the cart, in kg.
const MASSCART: f64 = 1.0;
/// Mass of the pole, in kg.
const MASSPOLE: f64 = 0.1;
/// Half the pole's length, in m (Gymnasium calls it `length`).
const LENGTH: f64 = 0.5;
/// Magnitude of the force the cart is pushed with, in N.
const FORCE_MAG: f64 = 10.0;
/// Seconds between state updates.
const TAU: f64 = 0.02;
/// The episode terminates when the cart's position leaves `[-X_THRESHOLD, X_THRESHOLD]` (m).
const X_THRESHOLD: f64 = 2.4;
/// Half-width of the initial-state box: every state variable starts uniform in `[-0.05, 0.05)`.
const RESET_BOUND: f64 = 0.05;
/// Both actions are always valid.
const MASK: [bool; 2] = [true, true];

/// Gymnasium's `CartPole-v1`: push a cart left (action 0) or right (action 1) to keep the pole
/// on it upright.
///
/// The observation is `[x, x_dot, theta, theta_dot]` (cart position in m, cart velocity in m/s,
/// pole angle in rad, pole angular velocity in rad/s). The physics run in `f64`, as Gymnasium's
/// `float64` state does, and observations are that state rounded to `f32`, as Gymnasium returns
/// them; `tests/cartpole_reference.rs` replays trajectories recorded from Gymnasium itself.
///
/// - Reward: `1.0` every step, the terminating step included.
/// - `terminated`: `|x| > 2.4` or `|theta| > 12°` after the step.
/// - `truncated`: the episode reached [`CartPole::MAX_EPISODE_STEPS`] (500) steps. Gymnasium
///   adds this limit with its `TimeLimit` wrapper in `gym.make("CartPole-v1")`; here it is built
///   in, so a bare `CartPole` already is `CartPole-v1` and needs no [`crate::TimeLimit`]. On the
///   500th step both flags can be true.
/// - Reset: every state variable uniform in `[-0.05, 0.05)` from a [`ChaCha8Rng`].
///   `reset(Some(s))` reseeds it, `reset(None)` continues it; an environment that was never
///   seeded starts from seed 0, so even unseeded runs are reproducible. The random stream is
///   not numpy's, so the same seed gives different (equally distributed) starts than Gymnasium.
///
/// ```
/// use gym::{CartPole, Env};
/// let mut env = CartPole::new();
/// env.set_state([0.0, 0.0, 0.2, 0.0]); // the pole leans right and falls
/// let mut steps = 0;
/// loop {
///     steps += 1;
///     let step = env.step(0).unwrap(); // pushing left makes it fall faster
///     if step.terminated {
///         break;
///     }
/// }
/// assert!(steps < 20);
/// ```
#[derive(Debug, Clone)]
pub struct CartPole {
    /// `[x, x_dot, theta, theta_dot]`, in `f64` like Gymnasium's state.
    state: [f64; 4],
    /// `state` rounded to `f32`: what `reset` and `step` lend out.
    obs: [f32; 4],
    /// The generator of initial states.
    rng: ChaCha8Rng,
    /// Steps taken in the current episode.
    elapsed_steps: u64,
    /// The episode ended (or never started): `step` is refused until `reset`.
    needs_reset: bool,
    /// `[-high, high]` with `high = [4.8, f32::MAX, 2 * 12°, f32::MAX]`.
    observation_space: BoxSpace,
}

impl CartPole {
    /// `CartPole-v1`'s `max_episode_steps`: the step on which `truncated` becomes true.
    pub const MAX_EPISODE_STEPS: u64 = 500;

    /// The episode terminates when the pole's angle leaves `[-THETA_THRESHOLD,
    /// THETA_THRESHOLD]`: 12 degrees, in radians, computed as Gymnasium does
    /// (`12 * 2 * pi / 360`).
    pub const THETA_THRESHOLD: f64 = 12.0 * 2.0 * std::f64::consts::PI / 360.0;

    /// A new environment, unseeded (it behaves as if seeded with 0) and waiting for `reset`.
    pub fn new() -> Self {
        // Gymnasium's bounds are twice the termination thresholds so that a failing
        // observation still lies inside the space. Gymnasium >= 1.0 writes the unbounded
        // velocities as `inf`; `f32::MAX` (older Gym's choice) keeps `high - low` arithmetic
        // finite-friendly and still flags an observation that overflowed to infinity.
        let high = vec![(2.0 * X_THRESHOLD) as f32, f32::MAX, (2.0 * Self::THETA_THRESHOLD) as f32, f32::MAX];
        let low = high.iter().map(|h| -h).collect();
        Self {
            state: [0.0; 4],
            obs: [0.0; 4],
            rng: ChaCha8Rng::seed_from_u64(0),
            elapsed_steps: 0,
            needs_reset: true,
            observation_space: BoxSpace::new(low, high),
        }
    }

    /// Starts a new episode from exactly `state` (`[x, x_dot, theta, theta_dot]`), for tests
    /// and reference replays; like assigning `env.unwrapped.state` right after a Gymnasium
    /// `reset`. The step counter restarts at 0 and the random generator is left alone.
    pub fn set_state(&mut self, state: [f64; 4]) {
        self.state = state;
        self.obs = state.map(|v| v as f32);
        self.elapsed_steps = 0;
        self.needs_reset = false;
    }

    /// The exact `f64` state `[x, x_dot, theta, theta_dot]`.
    pub fn state(&self) -> [f64; 4] {
        self.state
    }

    /// Steps taken in the current episode.
    pub fn elapsed_steps(&self) -> u64 {
        self.elapsed_steps
    }

    /// One Euler step of the cart-pole equations of motion, written in the same order of
    /// floating-point operations as Gymnasium's `CartPoleEnv.step` so the results agree to the
    /// last bit wherever `sin`/`cos` do.
    fn dynamics(state: [f64; 4], action: usize) -> [f64; 4] {
        let total_mass = MASSPOLE + MASSCART;
        let polemass_length = MASSPOLE * LENGTH;
        let [x, x_dot, theta, theta_dot] = state;
        let force = if action == 1 { FORCE_MAG } else { -FORCE_MAG };
        let costheta = theta.cos();
        let sintheta = theta.sin();
        // See https://coneural.org/florian/papers/05_cart_pole.pdf
        let temp = (force + polemass_length * (theta_dot * theta_dot) * sintheta) / total_mass;
        let thetaacc = (GRAVITY * sintheta - costheta * temp)
            / (LENGTH * (4.0 / 3.0 - MASSPOLE * (costheta * costheta) / total_mass));
        let xacc = temp - polemass_length * thetaacc * costheta / total_mass;
        // "euler" kinematics: positions advance with the old velocities.
        [x + TAU * x_dot, x_dot + TAU * xacc, theta + TAU * theta_dot, theta_dot + TAU * thetaacc]
    }
}

impl Default for CartPole {
    fn default() -> Self {
        Self::new()
    }
}

impl Env for CartPole {
    type Info = ();

    fn observation_space(&self) -> &BoxSpace {
        &self.observation_space
    }

    fn action_space(&self) -> Discrete {
        Discrete { n: 2 }
    }

    fn reset(&mut self, seed: Option<u64>) -> (&[f32], ()) {
        if let Some(seed) = seed {
            self.rng = ChaCha8Rng::seed_from_u64(seed);
        }
        let state = std::array::from_fn(|_| self.rng.random_range(-RESET_BOUND..RESET_BOUND));
        self.set_state(state);
        (&self.obs, ())
    }

    fn step(&mut self, action: usize) -> Result<Step<'_, ()>, EnvError> {
        EnvError::check_action(action, &MASK)?;
        if self.needs_reset {
            return Err(EnvError::NeedsReset);
        }
        self.state = Self::dynamics(self.state, action);
        self.obs = self.state.map(|v| v as f32);
        self.elapsed_steps += 1;
        let [x, _, theta, _] = self.state;
        // Gymnasium's `x < -2.4 or x > 2.4 or ...`; the same for every finite state, and a NaN
        // state (only reachable through `set_state`) terminates instead of running on.
        let terminated = !(-X_THRESHOLD..=X_THRESHOLD).contains(&x)
            || !(-Self::THETA_THRESHOLD..=Self::THETA_THRESHOLD).contains(&theta);
        let truncated = self.elapsed_steps >= Self::MAX_EPISODE_STEPS;
        self.needs_reset = terminated || truncated;
        Ok(Step { obs: &self.obs, reward: 1.0, terminated, truncated, info: () })
    }

    fn action_mask(&self) -> &[bool] {
        &MASK
    }
}

/// [`CartPole`]'s dynamic state, as [`Snapshot`] saves it.
#[derive(serde::Serialize, serde::Deserialize)]
struct CartPoleState {
    state: [f64; 4],
    rng: ChaCha8Rng,
    elapsed_steps: u64,
    needs_reset: bool,
}

impl Snapshot for CartPole {
    fn save_state(&self) -> Vec<u8> {
        let s = CartPoleState {
            state: self.state,
            rng: self.rng.clone(),
            elapsed_steps: self.elapsed_steps,
            needs_reset: self.needs_reset,
        };
        snapshot::encode(&s)
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), EnvError> {
        let s: CartPoleState = snapshot::decode("cartpole", bytes)?;
        self.state = s.state;
        self.obs = s.state.map(|v| v as f32);
        self.rng = s.rng;
        self.elapsed_steps = s.elapsed_steps;
        self.needs_reset = s.needs_reset;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bang-bang controller that keeps the pole up and the cart near the centre for
    /// far longer than 500 steps.
    fn balance(obs: &[f32]) -> usize {
        let [x, x_dot, theta, theta_dot] = [obs[0], obs[1], obs[2], obs[3]];
        usize::from(0.1 * x + 0.3 * x_dot + 4.0 * theta + theta_dot > 0.0)
    }

    #[test]
    fn observation_space_matches_gymnasium() {
        let env = CartPole::new();
        let space = env.observation_space();
        assert_eq!(space.shape, vec![4]);
        assert_eq!(space.high, vec![4.8, f32::MAX, 0.418_879_03, f32::MAX]);
        assert_eq!(space.low, vec![-4.8, -f32::MAX, -0.418_879_03, -f32::MAX]);
        assert_eq!(env.action_space(), Discrete { n: 2 });
        assert_eq!(env.action_mask(), &[true, true]);
    }

    #[test]
    fn reset_is_seeded_and_within_bounds() {
        let mut env = CartPole::new();
        let first = env.reset(Some(7)).0.to_vec();
        let next = env.reset(None).0.to_vec();
        assert_ne!(first, next, "reset(None) must continue the stream, not reseed");
        assert_eq!(env.reset(Some(7)).0, first.as_slice());
        assert_eq!(env.reset(None).0, next.as_slice());
        assert_ne!(env.reset(Some(8)).0, first.as_slice());
        for seed in 0..200 {
            env.reset(Some(seed));
            assert!(env.state().iter().all(|v| (-0.05..0.05).contains(v)), "{:?}", env.state());
        }
        // Never seeded behaves as seeded with 0.
        let mut fresh = CartPole::new();
        let mut zero = CartPole::new();
        assert_eq!(fresh.reset(None).0, zero.reset(Some(0)).0);
    }

    #[test]
    fn one_step_by_hand() {
        // From rest, upright, pushing right: sin = 0, cos = 1.
        let mut env = CartPole::new();
        env.set_state([0.0; 4]);
        let step = env.step(1).unwrap();
        assert_eq!(step.reward, 1.0);
        assert!(!step.terminated && !step.truncated);
        let temp = 10.0 / 1.1;
        let thetaacc = -temp / (0.5 * (4.0 / 3.0 - 0.1 / 1.1));
        let xacc = temp - 0.05 * thetaacc / 1.1;
        // Euler: positions use the old (zero) velocities.
        assert_eq!(env.state(), [0.0, 0.02 * xacc, 0.0, 0.02 * thetaacc]);
        assert_eq!(env.elapsed_steps(), 1);
    }

    #[test]
    fn terminates_past_the_thresholds_with_reward_one() {
        let mut env = CartPole::new();
        // The cart at 2.39 m moving right at 1 m/s leaves the track in one step.
        env.set_state([2.39, 1.0, 0.0, 0.0]);
        let step = env.step(1).unwrap();
        assert!(step.terminated && !step.truncated);
        assert_eq!(step.reward, 1.0);
        assert!(step.obs[0] > 2.4);
        assert_eq!(env.step(1).unwrap_err(), EnvError::NeedsReset);

        // The angle threshold, on both sides.
        for sign in [1.0, -1.0] {
            env.set_state([0.0, 0.0, sign * 0.2, sign * 2.0]);
            let step = env.step(1).unwrap();
            assert!(step.terminated, "theta {}", env.state()[2]);
        }
        // Exactly at the thresholds is not past them: a cart at rest at x = 2.4 with the pole
        // upright stays at x = 2.4 for one Euler step.
        env.set_state([2.4, 0.0, 0.0, 0.0]);
        let step = env.step(0).unwrap();
        assert_eq!(step.obs[0], 2.4);
        assert!(!step.terminated);
    }

    #[test]
    fn truncates_at_step_500() {
        let mut env = CartPole::new();
        let mut obs = env.reset(Some(3)).0.to_vec();
        for t in 1..=CartPole::MAX_EPISODE_STEPS {
            let step = env.step(balance(&obs)).unwrap();
            assert!(!step.terminated, "the controller dropped the pole at step {t}");
            assert_eq!(step.truncated, t == 500, "step {t}");
            obs.copy_from_slice(step.obs);
        }
        assert_eq!(env.step(0).unwrap_err(), EnvError::NeedsReset);
        env.reset(None);
        assert_eq!(env.elapsed_steps(), 0);
        assert!(!env.step(0).unwrap().truncated);
    }

    #[test]
    fn invalid_actions_are_refused_without_changing_state() {
        let mut env = CartPole::new();
        assert_eq!(env.step(0).unwrap_err(), EnvError::NeedsReset, "step before reset");
        env.reset(Some(1));
        let before = env.state();
        assert_eq!(env.step(2).unwrap_err(), EnvError::ActionOutOfRange { action: 2, n: 2 });
        assert_eq!(env.state(), before);
        assert_eq!(env.elapsed_steps(), 0);
    }

    #[test]
    fn a_restored_cartpole_continues_exactly() {
        let mut a = CartPole::new();
        a.reset(Some(3));
        for _ in 0..20 {
            a.step(balance(&a.obs.clone())).unwrap();
        }
        let state = a.save_state();
        let mut b = CartPole::new();
        b.reset(Some(99));
        b.load_state(&state).unwrap();
        assert_eq!((b.state(), b.obs, b.elapsed_steps), (a.state(), a.obs, a.elapsed_steps));
        // The episode, its end and the next (unseeded) reset's random start all agree.
        for _ in 0..600 {
            let (sa, sb) = (
                a.step(1).map(|s| (s.reward, s.terminated, s.truncated)),
                b.step(1).map(|s| (s.reward, s.terminated, s.truncated)),
            );
            assert_eq!(sa, sb);
            if sa.is_err() || sa.is_ok_and(|(_, t, u)| t || u) {
                assert_eq!(a.reset(None).0, b.reset(None).0);
            }
        }
        assert!(b.load_state(&state[..3]).is_err());
    }
}
