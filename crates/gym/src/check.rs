//! [`check_env`]: the checks of Gymnasium's `env_checker` that apply to this crate's [`Env`]
//! contract, run on an environment before any learner trusts it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Env, EnvError};

/// Which check of [`check_env`] failed, and where.
///
/// `phase` and `step` say where: `"step", 12` is the environment's 13th `step` call of that run
/// (counting from 0), `"reset before step", 12` the `reset` just before it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CheckError {
    /// The observation space's bounds and shape disagree, or a bound is NaN or inverted.
    #[error("check_env: observation space is malformed: {0}")]
    BadObservationSpace(String),
    /// The action space has no actions.
    #[error("check_env: the action space is empty (n = 0)")]
    EmptyActionSpace,
    /// Two resets with the same seed gave different first observations.
    #[error("check_env: reset with seed {seed} is not deterministic: first obs {first:?}, then {second:?}")]
    ResetNotDeterministic {
        /// The seed passed to both resets.
        seed: u64,
        /// The first reset's observation.
        first: Vec<f32>,
        /// The second reset's observation.
        second: Vec<f32>,
    },
    /// An observation has the wrong length, is NaN, or lies outside the observation space.
    #[error("check_env: {phase} {step}: obs {obs:?} is outside the observation space (low {low:?}, high {high:?})")]
    ObsOutOfSpace {
        /// `"reset before step"` or `"step"`.
        phase: &'static str,
        /// Where in the run.
        step: usize,
        /// The offending observation.
        obs: Vec<f32>,
        /// The space's lower bounds.
        low: Vec<f32>,
        /// The space's upper bounds.
        high: Vec<f32>,
    },
    /// The action mask's length is not the number of actions.
    #[error("check_env: {phase} {step}: action mask has length {len}, expected n = {n}")]
    MaskWrongLength {
        /// `"reset before step"` or `"step"`.
        phase: &'static str,
        /// Where in the run.
        step: usize,
        /// The mask's length.
        len: usize,
        /// The number of actions.
        n: usize,
    },
    /// At a decision point (an episode in progress) no action is valid.
    #[error("check_env: {phase} {step}: action mask has no valid action")]
    NoValidAction {
        /// `"reset before step"` or `"step"`.
        phase: &'static str,
        /// Where in the run.
        step: usize,
    },
    /// A valid action (allowed by the mask, mid-episode) was refused.
    #[error("check_env: step {step}: valid action {action} was refused: {source}")]
    StepFailed {
        /// Where in the run.
        step: usize,
        /// The action.
        action: usize,
        /// The environment's error.
        source: EnvError,
    },
    /// Replaying the same seed and actions gave a different trajectory.
    #[error(
        "check_env: replaying seed {seed}: {what} differs at {phase} {step}: first run {first}, second run {second}"
    )]
    NotDeterministic {
        /// The seed of both runs.
        seed: u64,
        /// `"reset before step"` or `"step"`.
        phase: &'static str,
        /// Where in the run.
        step: usize,
        /// `"obs"`, `"reward"`, `"terminated"`, `"truncated"` or `"action mask"`.
        what: &'static str,
        /// The value in the first run.
        first: String,
        /// The value in the second run.
        second: String,
    },
    /// An out-of-range or masked action was accepted.
    #[error("check_env: step {step}: {kind} action {action} was accepted, expected an error")]
    InvalidActionAccepted {
        /// Where in the run.
        step: usize,
        /// The action.
        action: usize,
        /// `"out-of-range"` or `"masked"`.
        kind: &'static str,
    },
    /// An out-of-range or masked action was refused, but with the wrong error.
    #[error("check_env: step {step}: {kind} action {action} was refused with `{got}`, expected {expected}")]
    WrongError {
        /// Where in the run.
        step: usize,
        /// The action.
        action: usize,
        /// `"out-of-range"` or `"masked"`.
        kind: &'static str,
        /// The error variant the contract asks for.
        expected: &'static str,
        /// The error the environment returned.
        got: EnvError,
    },
    /// After refused actions, the next valid step (or reset) differed from the reference run:
    /// refusing an action changed the environment's state.
    #[error(
        "check_env: {phase} {step}: a refused action changed the environment: {what} is {got}, expected {expected}"
    )]
    RejectionChangedState {
        /// `"reset before step"` or `"step"`.
        phase: &'static str,
        /// Where in the run.
        step: usize,
        /// `"obs"`, `"reward"`, `"terminated"`, `"truncated"` or `"action mask"`.
        what: &'static str,
        /// The value in the reference run.
        expected: String,
        /// The value after the refused actions.
        got: String,
    },
    /// `step` was accepted after the episode had ended, without a `reset`.
    #[error("check_env: step {step}: a step after the episode ended was accepted, expected NeedsReset")]
    StepAfterEndAccepted {
        /// Where in the run (the step that would have followed the episode's end).
        step: usize,
    },
}

/// Runs the checks of Gymnasium's `env_checker` that apply to the [`Env`] contract, driving
/// `env` for `steps` steps (resetting with `reset(None)` whenever an episode ends) with random
/// valid actions drawn from `seed`:
///
/// 1. the observation space is well formed and there is at least one action;
/// 2. two `reset(Some(seed))` give the same observation;
/// 3. every observation, after `reset` and after each `step`, lies in the observation space;
///    every mask has length `n`, and has a valid action whenever the episode is in progress;
/// 4. a second run with the same seed and actions gives the identical trajectory (obs, reward,
///    `terminated`, `truncated` and masks, bit for bit);
/// 5. a third run, before every step, tries the out-of-range action `n` (must fail with
///    [`EnvError::ActionOutOfRange`]) and, where the mask forbids one, a masked action (must
///    fail with [`EnvError::ActionMasked`]), and after every episode end a step without
///    `reset` (must fail); it must still match the first run exactly, so refusals leave the
///    state unchanged.
///
/// It leaves `env` somewhere in an episode of the third run.
///
/// ```
/// use gym::{CartPole, TimeLimit, check_env};
/// check_env(&mut CartPole::new(), 0, 1_000).unwrap();
/// check_env(&mut TimeLimit::new(CartPole::new(), 20), 1, 200).unwrap();
/// ```
///
/// # Errors
/// The first failed check, as a [`CheckError`] saying which check and where.
pub fn check_env<E: Env>(env: &mut E, seed: u64, steps: usize) -> Result<(), CheckError> {
    check_spaces(env)?;

    let first = env.reset(Some(seed)).0.to_vec();
    let second = env.reset(Some(seed)).0.to_vec();
    if !bits_equal(&first, &second) {
        return Err(CheckError::ResetNotDeterministic { seed, first, second });
    }

    let reference = run(env, seed, steps, None)?;
    run(env, seed, steps, Some((&reference, Mode::Replay)))?;
    run(env, seed, steps, Some((&reference, Mode::Probe)))?;
    Ok(())
}

/// Check 1: the spaces themselves.
fn check_spaces<E: Env>(env: &E) -> Result<(), CheckError> {
    let space = env.observation_space();
    let bad = |msg: String| Err(CheckError::BadObservationSpace(msg));
    if space.low.len() != space.high.len() {
        return bad(format!("low has {} elements, high {}", space.low.len(), space.high.len()));
    }
    let elements: usize = space.shape.iter().product();
    if elements != space.low.len() {
        return bad(format!("shape {:?} has {elements} elements, bounds {}", space.shape, space.low.len()));
    }
    for (i, (lo, hi)) in space.low.iter().zip(&space.high).enumerate() {
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return bad(format!("element {i} has bounds [{lo}, {hi}]"));
        }
    }
    if env.action_space().n == 0 {
        return Err(CheckError::EmptyActionSpace);
    }
    Ok(())
}

/// How a run after the first one is compared with it.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// The same actions, nothing else: any difference is non-determinism.
    Replay,
    /// Invalid actions tried before every step: any difference means a refusal changed state.
    Probe,
}

/// What the environment showed after one `reset` or `step`.
struct Frame {
    obs: Vec<f32>,
    reward: f64,
    terminated: bool,
    truncated: bool,
    mask: Vec<bool>,
}

impl Frame {
    fn ended(&self) -> bool {
        self.terminated || self.truncated
    }

    /// The first field that differs from `other`: its name, then both values.
    fn diff(&self, other: &Frame) -> Option<(&'static str, String, String)> {
        let show = |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| (format!("{a:?}"), format!("{b:?}"));
        let (what, (a, b)) = if !bits_equal(&self.obs, &other.obs) {
            ("obs", show(&self.obs, &other.obs))
        } else if self.reward.to_bits() != other.reward.to_bits() {
            ("reward", show(&self.reward, &other.reward))
        } else if self.terminated != other.terminated {
            ("terminated", show(&self.terminated, &other.terminated))
        } else if self.truncated != other.truncated {
            ("truncated", show(&self.truncated, &other.truncated))
        } else if self.mask != other.mask {
            ("action mask", show(&self.mask, &other.mask))
        } else {
            return None;
        };
        Some((what, a, b))
    }
}

/// Whether two observations are identical bit for bit.
fn bits_equal(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// One run of `steps` steps from `reset(Some(seed))` with seeded random valid actions, checking
/// each frame (check 3) and, with a reference, comparing it (checks 4 and 5). Returns the frames.
fn run<E: Env>(
    env: &mut E,
    seed: u64,
    steps: usize,
    reference: Option<(&[Frame], Mode)>,
) -> Result<Vec<Frame>, CheckError> {
    let n = env.action_space().n;
    let probe = matches!(reference, Some((_, Mode::Probe)));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut frames: Vec<Frame> = Vec::with_capacity(steps + 1);

    let (obs, _) = env.reset(Some(seed));
    let frame =
        Frame { obs: obs.to_vec(), reward: 0.0, terminated: false, truncated: false, mask: env.action_mask().to_vec() };
    accept(env, seed, reference, &mut frames, frame, "reset before step", 0)?;

    for step in 0..steps {
        if frames.last().is_some_and(Frame::ended) {
            if probe {
                let mask = env.action_mask();
                let action = mask.iter().position(|&valid| valid).unwrap_or(0);
                if env.step(action).is_ok() {
                    return Err(CheckError::StepAfterEndAccepted { step });
                }
            }
            let (obs, _) = env.reset(None);
            let frame = Frame {
                obs: obs.to_vec(),
                reward: 0.0,
                terminated: false,
                truncated: false,
                mask: env.action_mask().to_vec(),
            };
            accept(env, seed, reference, &mut frames, frame, "reset before step", step)?;
        }

        let mask = &frames.last().expect("a run starts with a reset").mask;
        let valid = mask.iter().filter(|&&v| v).count();
        let pick = rng.random_range(0..valid);
        let action = mask.iter().enumerate().filter(|(_, v)| **v).nth(pick).map(|(a, _)| a);
        let action = action.expect("pick < number of valid actions");

        if probe {
            expect_refusal(env.step(n).err(), step, n, "out-of-range")?;
            if let Some(masked) = mask.iter().position(|&v| !v) {
                expect_refusal(env.step(masked).err(), step, masked, "masked")?;
            }
        }

        let (obs, reward, terminated, truncated) = match env.step(action) {
            Ok(s) => (s.obs.to_vec(), s.reward, s.terminated, s.truncated),
            Err(source) => return Err(CheckError::StepFailed { step, action, source }),
        };
        let frame = Frame { obs, reward, terminated, truncated, mask: env.action_mask().to_vec() };
        accept(env, seed, reference, &mut frames, frame, "step", step)?;
    }
    Ok(frames)
}

/// Checks one frame (check 3), compares it with the reference run's frame at the same index
/// (checks 4 and 5), and keeps it.
fn accept<E: Env>(
    env: &E,
    seed: u64,
    reference: Option<(&[Frame], Mode)>,
    frames: &mut Vec<Frame>,
    frame: Frame,
    phase: &'static str,
    step: usize,
) -> Result<(), CheckError> {
    let space = env.observation_space();
    if !space.contains(&frame.obs) {
        return Err(CheckError::ObsOutOfSpace {
            phase,
            step,
            obs: frame.obs,
            low: space.low.clone(),
            high: space.high.clone(),
        });
    }
    let n = env.action_space().n;
    if frame.mask.len() != n {
        return Err(CheckError::MaskWrongLength { phase, step, len: frame.mask.len(), n });
    }
    if !frame.ended() && !frame.mask.contains(&true) {
        return Err(CheckError::NoValidAction { phase, step });
    }
    if let Some((reference, mode)) = reference {
        // Both runs take the same actions from the same masks, so frame k of one run
        // corresponds to frame k of the other until they differ.
        let Some(expected) = reference.get(frames.len()) else {
            unreachable!("runs with the same seed and steps have equally many frames until they differ")
        };
        if let Some((what, first, second)) = expected.diff(&frame) {
            return Err(match mode {
                Mode::Replay => CheckError::NotDeterministic { seed, phase, step, what, first, second },
                Mode::Probe => CheckError::RejectionChangedState { phase, step, what, expected: first, got: second },
            });
        }
    }
    frames.push(frame);
    Ok(())
}

/// Check 5's refusals: `error` is what stepping the invalid `action` returned.
fn expect_refusal(error: Option<EnvError>, step: usize, action: usize, kind: &'static str) -> Result<(), CheckError> {
    let expected = if kind == "masked" { "ActionMasked" } else { "ActionOutOfRange" };
    match error {
        None => Err(CheckError::InvalidActionAccepted { step, action, kind }),
        Some(EnvError::ActionMasked { .. }) if kind == "masked" => Ok(()),
        Some(EnvError::ActionOutOfRange { .. }) if kind != "masked" => Ok(()),
        Some(got) => Err(CheckError::WrongError { step, action, kind, expected, got }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BoxSpace, CartPole, Discrete, RecordEpisodeStatistics, Step, TimeLimit};

    /// A configurable toy env: position on `0..=5`, actions left/right/stay, left masked at 0,
    /// terminal at 5, truncated after 8 steps. Flags make it break one rule each.
    #[derive(Debug, Default)]
    struct Toy {
        pos: u32,
        t: u32,
        ended: bool,
        obs: [f32; 1],
        mask: [bool; 3],
        space: Option<BoxSpace>,
        resets: u32,
        /// Ignores the seed: every reset starts somewhere new.
        unseeded: bool,
        /// Accepts out-of-range actions as "stay".
        accepts_out_of_range: bool,
        /// Counts a refused masked action as a step before refusing it.
        refusal_moves_clock: bool,
        /// Accepts steps after the episode ended.
        no_reset_needed: bool,
        /// Reports a position of 6 after reaching 4.
        escapes_space: bool,
        /// Returns a mask one short.
        short_mask: bool,
        /// Masks everything at position 3.
        stuck_at_3: bool,
        /// Refuses masked actions with ActionOutOfRange.
        wrong_error: bool,
        /// Rewards depend on how often the env was reset (non-determinism across runs).
        drifting_reward: bool,
    }

    impl Toy {
        fn update(&mut self) {
            self.obs = [if self.escapes_space && self.pos >= 4 { 6.0 } else { self.pos as f32 }];
            self.mask = if self.stuck_at_3 && self.pos == 3 { [false; 3] } else { [self.pos > 0, true, true] };
        }
    }

    impl Env for Toy {
        type Info = ();
        fn observation_space(&self) -> &BoxSpace {
            self.space.as_ref().unwrap()
        }
        fn action_space(&self) -> Discrete {
            Discrete { n: 3 }
        }
        fn reset(&mut self, seed: Option<u64>) -> (&[f32], ()) {
            if self.space.is_none() {
                self.space = Some(BoxSpace::new(vec![0.0], vec![5.0]));
            }
            self.resets += 1;
            self.pos = match (seed, self.unseeded) {
                (_, true) => self.resets % 3,
                (Some(s), false) => (s % 2) as u32,
                (None, false) => 1,
            };
            self.t = 0;
            self.ended = false;
            self.update();
            (&self.obs, ())
        }
        fn step(&mut self, action: usize) -> Result<Step<'_, ()>, EnvError> {
            let action = if self.accepts_out_of_range && action >= 3 { 2 } else { action };
            if let Err(err) = EnvError::check_action(action, &self.mask) {
                if self.refusal_moves_clock {
                    self.t += 1;
                }
                return Err(match err {
                    EnvError::ActionMasked { action, .. } if self.wrong_error => {
                        EnvError::ActionOutOfRange { action, n: 3 }
                    }
                    err => err,
                });
            }
            if self.ended && !self.no_reset_needed {
                return Err(EnvError::NeedsReset);
            }
            match action {
                0 => self.pos -= 1,
                1 => self.pos = (self.pos + 1).min(5),
                _ => {}
            }
            self.t += 1;
            let terminated = self.pos == 5;
            let truncated = self.t >= 8;
            self.ended = terminated || truncated;
            self.update();
            let reward = if self.drifting_reward { self.resets as f64 } else { self.pos as f64 };
            Ok(Step { obs: &self.obs, reward, terminated, truncated, info: () })
        }
        fn action_mask(&self) -> &[bool] {
            if self.short_mask { &self.mask[..2] } else { &self.mask }
        }
    }

    fn toy() -> Toy {
        Toy { space: Some(BoxSpace::new(vec![0.0], vec![5.0])), ..Toy::default() }
    }

    #[test]
    fn correct_envs_pass() {
        check_env(&mut toy(), 0, 500).unwrap();
        check_env(&mut toy(), 1, 500).unwrap();
        check_env(&mut CartPole::new(), 3, 2_000).unwrap();
        check_env(&mut TimeLimit::new(CartPole::new(), 7), 4, 300).unwrap();
        check_env(&mut RecordEpisodeStatistics::new(TimeLimit::new(toy(), 3)), 5, 300).unwrap();
    }

    #[test]
    fn malformed_spaces_are_caught() {
        let mut env = toy();
        env.space = Some(BoxSpace { low: vec![0.0], high: vec![5.0], shape: vec![2] });
        let err = check_env(&mut env, 0, 10).unwrap_err();
        assert_eq!(err.to_string(), "check_env: observation space is malformed: shape [2] has 2 elements, bounds 1");
        env.space = Some(BoxSpace::new(vec![1.0], vec![0.0]));
        assert!(matches!(check_env(&mut env, 0, 10), Err(CheckError::BadObservationSpace(_))));
    }

    #[test]
    fn seed_ignoring_reset_is_caught() {
        let err = check_env(&mut Toy { unseeded: true, ..toy() }, 0, 10).unwrap_err();
        assert!(matches!(err, CheckError::ResetNotDeterministic { seed: 0, .. }), "{err}");
    }

    #[test]
    fn drifting_rewards_are_caught_with_where() {
        let err = check_env(&mut Toy { drifting_reward: true, ..toy() }, 0, 10).unwrap_err();
        // check_env resets twice, run 1 starts with the 3rd reset and truncates once within
        // 10 steps (4th), so run 2 starts with the 5th: its first reward differs.
        assert_eq!(
            err,
            CheckError::NotDeterministic {
                seed: 0,
                phase: "step",
                step: 0,
                what: "reward",
                first: "3.0".into(),
                second: "5.0".into(),
            }
        );
        assert_eq!(
            err.to_string(),
            "check_env: replaying seed 0: reward differs at step 0: first run 3.0, second run 5.0"
        );
    }

    #[test]
    fn out_of_range_action_accepted_is_caught() {
        let err = check_env(&mut Toy { accepts_out_of_range: true, ..toy() }, 0, 10).unwrap_err();
        assert_eq!(err, CheckError::InvalidActionAccepted { step: 0, action: 3, kind: "out-of-range" });
    }

    #[test]
    fn refusal_that_changes_state_is_caught() {
        // Seed 0 starts at position 0, where "left" is masked: refusing it advances the clock,
        // so the probe run truncates earlier than the reference.
        let err = check_env(&mut Toy { refusal_moves_clock: true, ..toy() }, 0, 50).unwrap_err();
        assert!(matches!(err, CheckError::RejectionChangedState { what: "truncated", .. }), "{err}");
    }

    #[test]
    fn wrong_error_kind_is_caught() {
        let err = check_env(&mut Toy { wrong_error: true, ..toy() }, 0, 10).unwrap_err();
        assert!(
            matches!(err, CheckError::WrongError { step: 0, action: 0, kind: "masked", expected: "ActionMasked", .. }),
            "{err}"
        );
    }

    #[test]
    fn step_after_end_accepted_is_caught() {
        let err = check_env(&mut Toy { no_reset_needed: true, ..toy() }, 0, 50).unwrap_err();
        assert!(matches!(err, CheckError::StepAfterEndAccepted { .. }), "{err}");
    }

    #[test]
    fn obs_outside_space_is_caught() {
        // Seed 1 starts at 1; random walks reach 4 within 200 steps.
        let err = check_env(&mut Toy { escapes_space: true, ..toy() }, 1, 200).unwrap_err();
        let CheckError::ObsOutOfSpace { phase, obs, low, high, .. } = err else { panic!("{err}") };
        assert_eq!((phase, obs, low, high), ("step", vec![6.0], vec![0.0], vec![5.0]));
    }

    #[test]
    fn bad_masks_are_caught() {
        let err = check_env(&mut Toy { short_mask: true, ..toy() }, 0, 10).unwrap_err();
        assert_eq!(err, CheckError::MaskWrongLength { phase: "reset before step", step: 0, len: 2, n: 3 });
        let err = check_env(&mut Toy { stuck_at_3: true, ..toy() }, 1, 200).unwrap_err();
        assert!(matches!(err, CheckError::NoValidAction { phase: "step", .. }), "{err}");
    }
}
