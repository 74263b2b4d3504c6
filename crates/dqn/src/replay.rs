//! The replay buffer: a preallocated ring of contiguous `f32` storage, uniform or prioritized
//! sampling, and the n-step accumulator that feeds it.
//!
//! Everything here is plain CPU memory; tensors are built from a sampled [`Batch`] by the agent.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::bin::{ByteReader, ByteWriter};
use crate::sumtree::SumTree;

/// One (possibly n-step) transition to store, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub struct Transition<'a> {
    /// `[obs_dim]`: observation the action was taken in (raw, unnormalised).
    pub obs: &'a [f32],
    /// Action taken.
    pub action: usize,
    /// Discounted sum of the k real rewards, `Σ_{j<k} γ^j r_{t+j}` (raw units).
    pub reward: f32,
    /// `[obs_dim]`: observation k steps later (the final observation if the episode ended).
    pub next_obs: &'a [f32],
    /// Whether the episode reached a terminal state within those k steps (truncation is not).
    pub terminated: bool,
    /// `γ^k`.
    pub discount: f32,
    /// `[n_actions]`: valid actions at `next_obs`.
    pub next_mask: &'a [bool],
}

/// A sampled batch in plain arrays; row `i` of each is the `i`-th sampled transition.
/// Reused from one gradient step to the next (no allocation in steady state).
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// `[B]`: buffer slots sampled.
    pub indices: Vec<usize>,
    /// `[B]`: importance-sampling weights (all 1 for uniform sampling).
    pub weights: Vec<f32>,
    /// `[B, obs_dim]`: observations.
    pub obs: Vec<f32>,
    /// `[B, obs_dim]`: next observations.
    pub next_obs: Vec<f32>,
    /// `[B]`: actions, as the index type of burn's `gather`.
    pub actions: Vec<i64>,
    /// `[B]`: k-step discounted rewards (raw units).
    pub rewards: Vec<f32>,
    /// `[B]`: 1.0 for terminal transitions.
    pub terminated: Vec<f32>,
    /// `[B]`: γ^k.
    pub discounts: Vec<f32>,
    /// `[B, n_actions]`: valid actions at the next observations.
    pub next_masks: Vec<bool>,
}

/// Fixed-capacity ring buffer of transitions in struct-of-arrays layout; the oldest transition
/// is overwritten once full.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayBuffer {
    capacity: usize,
    obs_dim: usize,
    n_actions: usize,
    obs: Vec<f32>,
    next_obs: Vec<f32>,
    actions: Vec<u32>,
    rewards: Vec<f32>,
    terminated: Vec<f32>,
    discounts: Vec<f32>,
    next_masks: Vec<bool>,
    /// Slot the next push writes.
    pos: usize,
    /// Number of stored transitions (≤ capacity).
    len: usize,
    /// Priorities `p^α` when prioritized.
    tree: Option<SumTree>,
    /// Largest `|δ| + ε` seen, given to new transitions.
    max_priority: f64,
    /// PER exponent α.
    alpha: f64,
}

impl ReplayBuffer {
    /// A buffer of `capacity` transitions, all storage allocated now. `prioritized_alpha` turns
    /// on proportional prioritized replay with that α.
    pub fn new(capacity: usize, obs_dim: usize, n_actions: usize, prioritized_alpha: Option<f64>) -> Self {
        Self {
            capacity,
            obs_dim,
            n_actions,
            obs: vec![0.0; capacity * obs_dim],
            next_obs: vec![0.0; capacity * obs_dim],
            actions: vec![0; capacity],
            rewards: vec![0.0; capacity],
            terminated: vec![0.0; capacity],
            discounts: vec![0.0; capacity],
            next_masks: vec![false; capacity * n_actions],
            pos: 0,
            len: 0,
            tree: prioritized_alpha.map(|_| SumTree::new(capacity)),
            max_priority: 1.0,
            alpha: prioritized_alpha.unwrap_or(0.0),
        }
    }

    /// Number of stored transitions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is stored yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Maximum number of transitions.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether sampling is prioritized.
    pub fn is_prioritized(&self) -> bool {
        self.tree.is_some()
    }

    /// Slot the next push writes (the oldest transition once full).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Stores `t`, overwriting the oldest transition when full. Copies into preallocated
    /// storage: no allocation.
    ///
    /// # Panics
    /// If `t`'s slices do not have the buffer's `obs_dim` / `n_actions` (the agent checks its
    /// inputs before they get here).
    pub fn push(&mut self, t: &Transition<'_>) {
        let (d, a, i) = (self.obs_dim, self.n_actions, self.pos);
        self.obs[i * d..(i + 1) * d].copy_from_slice(t.obs);
        self.next_obs[i * d..(i + 1) * d].copy_from_slice(t.next_obs);
        self.next_masks[i * a..(i + 1) * a].copy_from_slice(t.next_mask);
        self.actions[i] = t.action as u32;
        self.rewards[i] = t.reward;
        self.terminated[i] = if t.terminated { 1.0 } else { 0.0 };
        self.discounts[i] = t.discount;
        if let Some(tree) = &mut self.tree {
            tree.set(i, self.max_priority.powf(self.alpha));
        }
        self.pos = (self.pos + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
    }

    /// Draws `batch_size` slots into `batch.indices` and their importance weights into
    /// `batch.weights`: uniformly with replacement, or (prioritized) one stratified draw per
    /// equal slice of the total priority with weights `(N·P(i))^−β / max_j (N·P(j))^−β`.
    ///
    /// Does nothing if the buffer is empty.
    pub fn sample_indices(&self, rng: &mut ChaCha8Rng, batch_size: usize, beta: f64, batch: &mut Batch) {
        batch.indices.clear();
        batch.weights.clear();
        if self.len == 0 {
            return;
        }
        match &self.tree {
            None => {
                for _ in 0..batch_size {
                    batch.indices.push(rng.random_range(0..self.len));
                    batch.weights.push(1.0);
                }
            }
            Some(tree) => {
                let total = tree.total();
                let segment = total / batch_size as f64;
                let n = self.len as f64;
                let max_weight = (n * tree.min() / total).powf(-beta);
                for k in 0..batch_size {
                    let mass = (k as f64 + rng.random::<f64>()) * segment;
                    let i = tree.find(mass).min(self.len - 1);
                    let weight = (n * tree.get(i) / total).powf(-beta) / max_weight;
                    batch.indices.push(i);
                    batch.weights.push(weight as f32);
                }
            }
        }
    }

    /// Copies the transitions at `batch.indices` into the batch's arrays.
    pub fn gather(&self, batch: &mut Batch) {
        let (d, a) = (self.obs_dim, self.n_actions);
        batch.obs.clear();
        batch.next_obs.clear();
        batch.actions.clear();
        batch.rewards.clear();
        batch.terminated.clear();
        batch.discounts.clear();
        batch.next_masks.clear();
        for &i in &batch.indices {
            batch.obs.extend_from_slice(&self.obs[i * d..(i + 1) * d]);
            batch.next_obs.extend_from_slice(&self.next_obs[i * d..(i + 1) * d]);
            batch.next_masks.extend_from_slice(&self.next_masks[i * a..(i + 1) * a]);
            batch.actions.push(i64::from(self.actions[i]));
            batch.rewards.push(self.rewards[i]);
            batch.terminated.push(self.terminated[i]);
            batch.discounts.push(self.discounts[i]);
        }
    }

    /// Sets the priorities of `indices` to `(|δ| + eps)^α` after a gradient step. A no-op for
    /// uniform replay.
    pub fn update_priorities(&mut self, indices: &[usize], td_abs: &[f32], eps: f64) {
        let Some(tree) = &mut self.tree else { return };
        for (&i, &delta) in indices.iter().zip(td_abs) {
            let delta = f64::from(delta);
            let p = if delta.is_finite() { delta.abs() + eps } else { self.max_priority };
            self.max_priority = self.max_priority.max(p);
            tree.set(i, p.powf(self.alpha));
        }
    }

    /// Priority `p^α` stored for slot `i` (prioritized buffers only).
    pub fn priority(&self, i: usize) -> Option<f64> {
        self.tree.as_ref().map(|t| t.get(i))
    }

    /// Observation stored in slot `i`.
    pub fn obs_at(&self, i: usize) -> &[f32] {
        &self.obs[i * self.obs_dim..(i + 1) * self.obs_dim]
    }

    /// `(capacity, obs_dim, n_actions, prioritized)`, the shape a saved buffer must match.
    pub fn shape(&self) -> (usize, usize, usize, bool) {
        (self.capacity, self.obs_dim, self.n_actions, self.is_prioritized())
    }

    pub(crate) fn write(&self, w: &mut ByteWriter) {
        w.u64(self.capacity as u64);
        w.u64(self.obs_dim as u64);
        w.u64(self.n_actions as u64);
        w.u64(self.pos as u64);
        w.u64(self.len as u64);
        w.f64(self.max_priority);
        w.f64(self.alpha);
        w.f32s(&self.obs);
        w.f32s(&self.next_obs);
        w.u32s(&self.actions);
        w.f32s(&self.rewards);
        w.f32s(&self.terminated);
        w.f32s(&self.discounts);
        w.bools(&self.next_masks);
        match &self.tree {
            None => w.u64(0),
            Some(tree) => {
                w.u64(1);
                tree.write(w);
            }
        }
    }

    /// Reads a buffer written by [`write`](Self::write) into `self`, which must have the same
    /// shape.
    pub(crate) fn read_into(&mut self, r: &mut ByteReader<'_>) -> Result<(), String> {
        let shape = (r.u64()?, r.u64()?, r.u64()?);
        let own = (self.capacity as u64, self.obs_dim as u64, self.n_actions as u64);
        if shape != own {
            return Err(format!(
                "replay buffer of capacity {} with obs_dim {} and {} actions, expected capacity \
                 {} with obs_dim {} and {} actions",
                shape.0, shape.1, shape.2, own.0, own.1, own.2
            ));
        }
        let (pos, len) = (r.u64()? as usize, r.u64()? as usize);
        if pos >= self.capacity || len > self.capacity {
            return Err(format!("replay position {pos} / length {len} out of range"));
        }
        self.pos = pos;
        self.len = len;
        self.max_priority = r.f64()?;
        self.alpha = r.f64()?;
        r.f32s_into(&mut self.obs)?;
        r.f32s_into(&mut self.next_obs)?;
        r.u32s_into(&mut self.actions)?;
        r.f32s_into(&mut self.rewards)?;
        r.f32s_into(&mut self.terminated)?;
        r.f32s_into(&mut self.discounts)?;
        r.bools_into(&mut self.next_masks)?;
        if self.actions.iter().any(|&a| a as usize >= self.n_actions.max(1)) {
            return Err("stored action out of range".into());
        }
        let prioritized = r.u64()? == 1;
        if prioritized != self.is_prioritized() {
            return Err(format!(
                "replay buffer is {}prioritized, the config says {}prioritized",
                if prioritized { "" } else { "not " },
                if self.is_prioritized() { "" } else { "not " },
            ));
        }
        if let Some(tree) = &mut self.tree {
            tree.read_into(r)?;
        }
        Ok(())
    }
}

/// Turns each env's stream of one-step transitions into n-step transitions for the replay
/// buffer: a transition leaves the accumulator once `n` later rewards are known, or when its
/// episode ends (terminated or truncated) with however many there are.
#[derive(Debug, Clone, PartialEq)]
pub struct NStepAccumulator {
    n: usize,
    gamma: f64,
    obs_dim: usize,
    /// `[n_envs, n, obs_dim]`: pending observations, a ring per env.
    obs: Vec<f32>,
    /// `[n_envs, n]`: pending actions.
    actions: Vec<usize>,
    /// `[n_envs, n]`: pending rewards (raw).
    rewards: Vec<f64>,
    /// `[n_envs]`: ring slot of each env's oldest pending step.
    start: Vec<usize>,
    /// `[n_envs]`: number of pending steps per env.
    len: Vec<usize>,
}

/// One environment step of one env, as fed to [`NStepAccumulator::push`].
#[derive(Debug, Clone, Copy)]
pub struct EnvStep<'a> {
    /// Observation the action was taken in.
    pub obs: &'a [f32],
    /// Action taken.
    pub action: usize,
    /// Reward received (raw).
    pub reward: f64,
    /// Observation after the step (the final one if the episode ended).
    pub next_obs: &'a [f32],
    /// Valid actions at `next_obs`.
    pub next_mask: &'a [bool],
    /// The episode reached a terminal state.
    pub terminated: bool,
    /// The episode was cut off (time limit).
    pub truncated: bool,
}

impl NStepAccumulator {
    /// An accumulator of `n`-step returns with discount `gamma` for `n_envs` envs.
    pub fn new(n: usize, gamma: f64, n_envs: usize, obs_dim: usize) -> Self {
        Self {
            n,
            gamma,
            obs_dim,
            obs: vec![0.0; n_envs * n * obs_dim],
            actions: vec![0; n_envs * n],
            rewards: vec![0.0; n_envs * n],
            start: vec![0; n_envs],
            len: vec![0; n_envs],
        }
    }

    /// Records env `env`'s step and pushes every n-step transition it completes into `replay`.
    pub fn push(&mut self, env: usize, step: &EnvStep<'_>, replay: &mut ReplayBuffer) {
        let (n, d) = (self.n, self.obs_dim);
        let slot = env * n + (self.start[env] + self.len[env]) % n;
        self.obs[slot * d..(slot + 1) * d].copy_from_slice(step.obs);
        self.actions[slot] = step.action;
        self.rewards[slot] = step.reward;
        self.len[env] += 1;
        if self.len[env] == n {
            self.emit_oldest(env, step.next_obs, step.next_mask, step.terminated, replay);
        }
        if step.terminated || step.truncated {
            while self.len[env] > 0 {
                self.emit_oldest(env, step.next_obs, step.next_mask, step.terminated, replay);
            }
        }
    }

    /// Number of steps of env `env` waiting for later rewards (below `n`).
    pub fn pending(&self, env: usize) -> usize {
        self.len[env]
    }

    /// Pushes env `env`'s pending steps into `replay` as if its episode had been truncated at
    /// the last pushed step, whose observation after the step was `next_obs` with valid actions
    /// `next_mask`: the same transitions [`push`](Self::push) emits for a step with
    /// `truncated = true`. Leaves env `env` with nothing pending.
    pub fn flush_truncated(&mut self, env: usize, next_obs: &[f32], next_mask: &[bool], replay: &mut ReplayBuffer) {
        while self.len[env] > 0 {
            self.emit_oldest(env, next_obs, next_mask, false, replay);
        }
    }

    /// Stores env `env`'s oldest pending step as a k-step transition to `next_obs`, k being
    /// the number of pending steps.
    fn emit_oldest(
        &mut self,
        env: usize,
        next_obs: &[f32],
        next_mask: &[bool],
        terminated: bool,
        replay: &mut ReplayBuffer,
    ) {
        let (n, d) = (self.n, self.obs_dim);
        let k = self.len[env];
        let mut ret = 0.0;
        let mut discount = 1.0;
        for j in 0..k {
            ret += discount * self.rewards[env * n + (self.start[env] + j) % n];
            discount *= self.gamma;
        }
        let slot = env * n + self.start[env];
        replay.push(&Transition {
            obs: &self.obs[slot * d..(slot + 1) * d],
            action: self.actions[slot],
            reward: ret as f32,
            next_obs,
            terminated,
            discount: discount as f32,
            next_mask,
        });
        self.start[env] = (self.start[env] + 1) % n;
        self.len[env] -= 1;
    }

    /// Drops every pending step (e.g. when the environments are reset from outside).
    pub fn clear(&mut self) {
        self.start.fill(0);
        self.len.fill(0);
    }

    pub(crate) fn write(&self, w: &mut ByteWriter) {
        w.u64(self.n as u64);
        w.u64(self.start.len() as u64);
        w.u64(self.obs_dim as u64);
        w.f32s(&self.obs);
        let actions: Vec<u32> = self.actions.iter().map(|&a| a as u32).collect();
        w.u32s(&actions);
        w.f64s(&self.rewards);
        let start: Vec<u32> = self.start.iter().map(|&a| a as u32).collect();
        let len: Vec<u32> = self.len.iter().map(|&a| a as u32).collect();
        w.u32s(&start);
        w.u32s(&len);
    }

    pub(crate) fn read_into(&mut self, r: &mut ByteReader<'_>) -> Result<(), String> {
        let shape = (r.u64()?, r.u64()?, r.u64()?);
        let own = (self.n as u64, self.start.len() as u64, self.obs_dim as u64);
        if shape != own {
            return Err(format!("n-step accumulator (n, envs, obs_dim) = {shape:?}, expected {own:?}"));
        }
        r.f32s_into(&mut self.obs)?;
        let mut actions = vec![0u32; self.actions.len()];
        r.u32s_into(&mut actions)?;
        r.f64s_into(&mut self.rewards)?;
        let mut start = vec![0u32; self.start.len()];
        let mut len = vec![0u32; self.len.len()];
        r.u32s_into(&mut start)?;
        r.u32s_into(&mut len)?;
        if start.iter().chain(&len).any(|&x| x as usize > self.n) || start.iter().any(|&x| x as usize >= self.n) {
            return Err("n-step accumulator position out of range".into());
        }
        for (dst, src) in self.actions.iter_mut().zip(actions) {
            *dst = src as usize;
        }
        for (dst, src) in self.start.iter_mut().zip(start) {
            *dst = src as usize;
        }
        for (dst, src) in self.len.iter_mut().zip(len) {
            *dst = src as usize;
        }
        Ok(())
    }
}

/// The replay state of an agent, as `replay.bin` saves it: the buffer, the pending n-step
/// windows and the observation and mask each env's pending window would bootstrap from.
#[derive(Debug)]
pub(crate) struct ReplayState {
    pub(crate) replay: ReplayBuffer,
    pub(crate) nstep: NStepAccumulator,
    pub(crate) pending_next_obs: Vec<f32>,
    pub(crate) pending_next_masks: Vec<bool>,
    pub(crate) pending_next_known: bool,
}

impl ReplayState {
    /// Empty buffers of the sizes of `cfg` (which must have passed
    /// [`DqnConfig::validate_for`](crate::DqnConfig::validate_for) for the sizes).
    pub(crate) fn new(cfg: &crate::DqnConfig, obs_dim: usize, n_actions: usize) -> Self {
        let n_envs = cfg.num_envs;
        Self {
            replay: ReplayBuffer::new(
                cfg.buffer_size,
                obs_dim,
                n_actions,
                cfg.prioritized_replay.then_some(cfg.per_alpha),
            ),
            nstep: NStepAccumulator::new(cfg.n_step, cfg.gamma, n_envs, obs_dim),
            pending_next_obs: vec![0.0; n_envs * obs_dim],
            pending_next_masks: vec![false; n_envs * n_actions],
            // Nothing is pending yet, so there is nothing to know.
            pending_next_known: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn push_simple(buf: &mut ReplayBuffer, x: f32) {
        buf.push(&Transition {
            obs: &[x, x],
            action: 1,
            reward: x,
            next_obs: &[x + 0.5, x + 0.5],
            terminated: false,
            discount: 0.9,
            next_mask: &[true, false, true],
        });
    }

    #[test]
    fn ring_buffer_wraps_and_overwrites_the_oldest() {
        let mut buf = ReplayBuffer::new(3, 2, 3, None);
        assert!(buf.is_empty());
        for x in 0..5 {
            push_simple(&mut buf, x as f32);
        }
        assert_eq!(buf.len(), 3);
        assert_eq!(buf.position(), 2);
        // Slots 0 and 1 were overwritten by transitions 3 and 4; slot 2 still holds 2.
        assert_eq!(buf.obs_at(0), &[3.0, 3.0]);
        assert_eq!(buf.obs_at(1), &[4.0, 4.0]);
        assert_eq!(buf.obs_at(2), &[2.0, 2.0]);
        let mut batch = Batch { indices: vec![2, 0], ..Default::default() };
        buf.gather(&mut batch);
        assert_eq!(batch.obs, vec![2.0, 2.0, 3.0, 3.0]);
        assert_eq!(batch.next_obs, vec![2.5, 2.5, 3.5, 3.5]);
        assert_eq!(batch.rewards, vec![2.0, 3.0]);
        assert_eq!(batch.actions, vec![1, 1]);
        assert_eq!(batch.next_masks, vec![true, false, true, true, false, true]);
    }

    #[test]
    fn uniform_sampling_only_draws_stored_slots() {
        let mut buf = ReplayBuffer::new(100, 2, 3, None);
        for x in 0..7 {
            push_simple(&mut buf, x as f32);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut batch = Batch::default();
        buf.sample_indices(&mut rng, 500, 1.0, &mut batch);
        assert_eq!(batch.indices.len(), 500);
        assert!(batch.indices.iter().all(|&i| i < 7));
        assert!(batch.weights.iter().all(|&w| w == 1.0));
    }

    #[test]
    fn prioritized_sampling_follows_priorities_and_weights_correct_for_it() {
        let mut buf = ReplayBuffer::new(4, 2, 3, Some(1.0));
        for x in 0..4 {
            push_simple(&mut buf, x as f32);
        }
        // Priorities |δ| + ε with α = 1: 1, 3, 0 (+ε), 4.
        buf.update_priorities(&[0, 1, 2, 3], &[1.0, 3.0, 0.0, 4.0], 1e-9);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut batch = Batch::default();
        let mut counts = [0usize; 4];
        for _ in 0..2000 {
            buf.sample_indices(&mut rng, 8, 1.0, &mut batch);
            for &i in &batch.indices {
                counts[i] += 1;
            }
        }
        let total = counts.iter().sum::<usize>() as f64;
        for (i, p) in [1.0, 3.0, 0.0, 4.0].into_iter().enumerate() {
            assert!((counts[i] as f64 / total - p / 8.0).abs() < 0.01, "slot {i}: {counts:?}");
        }
        // β = 1: weight ∝ 1 / P(i), normalised by the largest (the smallest priority's).
        buf.sample_indices(&mut rng, 8, 1.0, &mut batch);
        for (&i, &w) in batch.indices.iter().zip(&batch.weights) {
            let p = buf.priority(i).unwrap();
            assert!((f64::from(w) - 1e-9 / p).abs() < 1e-6, "slot {i}: weight {w}");
        }
    }

    #[test]
    fn n_step_accumulates_discounted_rewards_and_flushes_at_episode_end() {
        let mut replay = ReplayBuffer::new(16, 1, 2, None);
        let mut acc = NStepAccumulator::new(3, 0.5, 1, 1);
        let mask = [true, true];
        // Steps with rewards 1, 2, 4, 8; the last one is truncated.
        for (t, r) in [1.0, 2.0, 4.0, 8.0].into_iter().enumerate() {
            let obs = [t as f32];
            let next = [t as f32 + 1.0];
            let step = EnvStep {
                obs: &obs,
                action: t % 2,
                reward: r,
                next_obs: &next,
                next_mask: &mask,
                terminated: false,
                truncated: t == 3,
            };
            acc.push(0, &step, &mut replay);
        }
        // t=0: 1 + 0.5·2 + 0.25·4 = 3, γ^3, next obs 3. t=1: 2 + 2 + 2 = 6, next obs 4.
        // Truncation flushes t=2 (4 + 4 = 8, γ^2) and t=3 (8, γ), bootstrapping from obs 4.
        assert_eq!(replay.len(), 4);
        let mut batch = Batch { indices: vec![0, 1, 2, 3], ..Default::default() };
        replay.gather(&mut batch);
        assert_eq!(batch.obs, vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(batch.rewards, vec![3.0, 6.0, 8.0, 8.0]);
        assert_eq!(batch.discounts, vec![0.125, 0.125, 0.25, 0.5]);
        assert_eq!(batch.next_obs, vec![3.0, 4.0, 4.0, 4.0]);
        assert_eq!(batch.terminated, vec![0.0; 4]);
        assert_eq!(batch.actions, vec![0, 1, 0, 1]);
    }

    #[test]
    fn buffer_round_trips_through_bytes() {
        let mut buf = ReplayBuffer::new(5, 2, 3, Some(0.6));
        for x in 0..7 {
            push_simple(&mut buf, x as f32);
        }
        buf.update_priorities(&[1, 2], &[0.3, 7.0], 1e-6);
        let mut w = ByteWriter::default();
        buf.write(&mut w);
        let bytes = w.into_inner();
        let mut copy = ReplayBuffer::new(5, 2, 3, Some(0.6));
        copy.read_into(&mut ByteReader::new(&bytes)).unwrap();
        assert_eq!(copy, buf);
        let mut wrong = ReplayBuffer::new(6, 2, 3, Some(0.6));
        assert!(wrong.read_into(&mut ByteReader::new(&bytes)).is_err());
        for cut in [0, 7, 50, bytes.len() - 1] {
            let mut copy = ReplayBuffer::new(5, 2, 3, Some(0.6));
            assert!(copy.read_into(&mut ByteReader::new(&bytes[..cut])).is_err());
        }
    }
}
