//! The TD target, as a pure function of plain arrays.
//!
//! For a stored k-step transition `(s, a, R, s', terminated, γ^k, mask')`:
//!
//! ```text
//! y = R + γ^k · (1 − terminated) · Q_target(s', a*)
//! a* = argmax_{a' valid in mask'} Q_online(s', a')   (Double DQN)
//! a* = argmax_{a' valid in mask'} Q_target(s', a')   (plain DQN: y uses max Q_target)
//! ```
//!
//! `terminated` (the MDP ended) stops bootstrapping; a truncated episode (a time limit) is not
//! terminal, so its transition is stored with `terminated = 0` and bootstraps from the last
//! observation. There is deliberately no `done` here.

use policy_core::masked_argmax;

/// One batch of k-step transitions seen from the TD target's side. Row `i` of every array is
/// transition `i`; `[B, A]` arrays are row-major with `A` actions per row.
#[derive(Debug, Clone, Copy)]
pub struct TdInputs<'a> {
    /// `[B]`: discounted sum of the k real rewards, `Σ_{j<k} γ^j r_{t+j}` (already scaled).
    pub rewards: &'a [f32],
    /// `[B]`: `1.0` if the transition ended in a terminal state, else `0.0`.
    pub terminated: &'a [f32],
    /// `[B]`: `γ^k`, the discount of the bootstrap value (k ≤ n at an episode's end).
    pub discounts: &'a [f32],
    /// `[B, A]`: the target network's Q-values at the next observation.
    pub next_q_target: &'a [f32],
    /// `[B, A]`: the online network's Q-values at the next observation (Double DQN), or `None`
    /// for plain DQN.
    pub next_q_online: Option<&'a [f32]>,
    /// `[B, A]`: which actions are valid at the next observation.
    pub next_masks: &'a [bool],
}

/// Writes the TD target of every transition into `out` (`[B]`).
///
/// The bootstrap value of a next state without any valid action is 0 (there is nothing to
/// do there, as in a terminal state).
///
/// # Panics
/// If the arrays' lengths disagree with `out.len()` and `n_actions` (a programming error: the
/// agent builds these arrays itself).
pub fn td_targets(inputs: &TdInputs<'_>, n_actions: usize, out: &mut [f32]) {
    let b = out.len();
    assert_eq!(inputs.rewards.len(), b, "rewards length");
    assert_eq!(inputs.terminated.len(), b, "terminated length");
    assert_eq!(inputs.discounts.len(), b, "discounts length");
    assert_eq!(inputs.next_q_target.len(), b * n_actions, "next_q_target length");
    assert_eq!(inputs.next_masks.len(), b * n_actions, "next_masks length");
    if let Some(q) = inputs.next_q_online {
        assert_eq!(q.len(), b * n_actions, "next_q_online length");
    }

    for (i, y) in out.iter_mut().enumerate() {
        let row = i * n_actions..(i + 1) * n_actions;
        let mask = &inputs.next_masks[row.clone()];
        let q_target = &inputs.next_q_target[row.clone()];
        // Double DQN: the online network selects, the target network evaluates.
        let selector = inputs.next_q_online.map_or(q_target, |q| &q[row]);
        let next_value = masked_argmax(selector, mask).map_or(0.0, |a| q_target[a]);
        // ALGO: the TD target, one line; `1 - terminated`, never `done`.
        *y = inputs.rewards[i] + inputs.discounts[i] * (1.0 - inputs.terminated[i]) * next_value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two actions, γ = 0.9, three transitions: an ordinary one, a terminal one and a
    /// truncated one (stored with terminated = 0).
    fn batch(online: Option<&[f32]>) -> Vec<f32> {
        let rewards = [1.0, 2.0, 3.0];
        let terminated = [0.0, 1.0, 0.0];
        let discounts = [0.9, 0.9, 0.9];
        let next_q_target = [10.0, 20.0, 30.0, 40.0, 5.0, 6.0];
        let next_masks = [true; 6];
        let inputs = TdInputs {
            rewards: &rewards,
            terminated: &terminated,
            discounts: &discounts,
            next_q_target: &next_q_target,
            next_q_online: online,
            next_masks: &next_masks,
        };
        let mut out = vec![0.0; 3];
        td_targets(&inputs, 2, &mut out);
        out
    }

    #[test]
    fn plain_dqn_takes_the_target_max_and_stops_at_terminal() {
        // 1 + 0.9·20 = 19; terminal: 2; truncated bootstraps: 3 + 0.9·6 = 8.4
        assert_eq!(batch(None), vec![19.0, 2.0, 3.0 + 0.9 * 6.0]);
    }

    #[test]
    fn double_dqn_selects_with_online_and_evaluates_with_target() {
        // online prefers action 0 in row 0 and row 2: values 10 and 5.
        let online = [1.0, 0.0, 0.0, 1.0, 9.0, 8.0];
        assert_eq!(batch(Some(&online)), vec![1.0 + 0.9 * 10.0, 2.0, 3.0 + 0.9 * 5.0]);
    }

    #[test]
    fn n_step_uses_the_stored_discount() {
        // A 3-step transition: R = 1 + 0.5·1 + 0.25·1 = 1.75, γ^3 = 0.125, max Q = 8.
        // A 2-step one cut short by truncation: R = 1.5, γ^2 = 0.25, max Q = 4.
        let inputs = TdInputs {
            rewards: &[1.75, 1.5],
            terminated: &[0.0, 0.0],
            discounts: &[0.125, 0.25],
            next_q_target: &[8.0, -1.0, 4.0, 2.0],
            next_q_online: None,
            next_masks: &[true; 4],
        };
        let mut out = [0.0; 2];
        td_targets(&inputs, 2, &mut out);
        assert_eq!(out, [1.75 + 0.125 * 8.0, 1.5 + 0.25 * 4.0]);
    }

    #[test]
    fn masks_restrict_the_max_and_the_double_dqn_argmax() {
        // Three actions; the best target value (100) is masked out in both rows.
        let next_q_target = [100.0, 7.0, 3.0, 1.0, 100.0, 2.0];
        let next_masks = [false, true, true, true, false, true];
        let online = [50.0, 0.0, 1.0, 0.0, 50.0, -1.0];
        let mut out = [0.0; 2];
        let mut inputs = TdInputs {
            rewards: &[0.0, 0.0],
            terminated: &[0.0, 0.0],
            discounts: &[1.0, 1.0],
            next_q_target: &next_q_target,
            next_q_online: None,
            next_masks: &next_masks,
        };
        td_targets(&inputs, 3, &mut out);
        assert_eq!(out, [7.0, 2.0]);
        // Online's best valid actions: 2 in row 0 (1 > 0), 0 in row 1 (0 > -1).
        inputs.next_q_online = Some(&online);
        td_targets(&inputs, 3, &mut out);
        assert_eq!(out, [3.0, 1.0]);
    }

    #[test]
    fn no_valid_next_action_bootstraps_zero() {
        let inputs = TdInputs {
            rewards: &[4.0],
            terminated: &[0.0],
            discounts: &[0.5],
            next_q_target: &[9.0, 9.0],
            next_q_online: None,
            next_masks: &[false, false],
        };
        let mut out = [0.0];
        td_targets(&inputs, 2, &mut out);
        assert_eq!(out, [4.0]);
    }
}
