//! Running statistics for observation normalisation and reward scaling.

use serde::{Deserialize, Serialize};

use crate::model::NodeRows;

/// Running mean and variance of a vector, merged batch by batch (Chan et al.'s parallel
/// algorithm, as in Stable-Baselines3's `RunningMeanStd`). Kept in `f64`: cluster observations
/// reach 10^5.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningMeanStd {
    /// Per-element mean.
    pub mean: Vec<f64>,
    /// Per-element (population) variance.
    pub var: Vec<f64>,
    /// Number of samples merged so far (starts at a tiny ε so the first merge is stable).
    pub count: f64,
}

impl RunningMeanStd {
    /// Statistics of `dim` elements: mean 0, variance 1, no samples yet.
    pub fn new(dim: usize) -> Self {
        Self { mean: vec![0.0; dim], var: vec![1.0; dim], count: 1e-4 }
    }

    /// Number of elements.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Merges a batch of rows (`rows.len()` a multiple of `dim`, row-major).
    pub fn update(&mut self, rows: &[f32]) {
        let dim = self.dim();
        if dim == 0 || rows.is_empty() {
            return;
        }
        let n = (rows.len() / dim) as f64;
        for j in 0..dim {
            let column = rows.iter().skip(j).step_by(dim).map(|&x| f64::from(x));
            let batch_mean = column.clone().sum::<f64>() / n;
            let batch_var = column.map(|x| (x - batch_mean).powi(2)).sum::<f64>() / n;
            self.merge(j, batch_mean, batch_var, n);
        }
        self.count += n;
    }

    /// Merges a batch of observations (`[batch, obs_dim]`, row-major) into statistics of a
    /// node-scoring network's input: each real node of each observation is one sample
    /// `[node row, task row]` (`node_width + task_width` = [`dim`](Self::dim) features), so one
    /// set of statistics serves every node, at any node count. Padded rows (see
    /// [`NodeRows::present_column`]) are skipped.
    pub fn update_node_pairs(&mut self, obs: &[f32], obs_dim: usize, rows: &NodeRows) {
        let (w, t) = (rows.node_width, rows.task_width);
        let Some(n) = rows.n_nodes(obs_dim) else { return };
        if self.dim() != w + t || obs.is_empty() {
            return;
        }
        let real = |node: &[f32]| rows.present_column.is_none_or(|c| node[c] > 0.0);
        // Two passes per feature (mean, then squared deviations), over (node, task) pairs.
        let mut count = 0usize;
        let mut sums = vec![0.0f64; w + t];
        for o in obs.chunks_exact(obs_dim) {
            let task = &o[n * w..];
            for node in o[..n * w].chunks_exact(w).filter(|node| real(node)) {
                count += 1;
                node.iter().chain(task).zip(&mut sums).for_each(|(&x, s)| *s += f64::from(x));
            }
        }
        if count == 0 {
            return;
        }
        let m = count as f64;
        let means: Vec<f64> = sums.iter().map(|s| s / m).collect();
        let mut sq = vec![0.0f64; w + t];
        for o in obs.chunks_exact(obs_dim) {
            let task = &o[n * w..];
            for node in o[..n * w].chunks_exact(w).filter(|node| real(node)) {
                node.iter().chain(task).zip(&means).zip(&mut sq).for_each(|((&x, mu), s)| {
                    *s += (f64::from(x) - mu).powi(2);
                });
            }
        }
        for j in 0..w + t {
            self.merge(j, means[j], sq[j] / m, m);
        }
        self.count += m;
    }

    /// Merges one scalar sample into element 0 (for 1-D statistics such as the return's).
    pub fn update_scalar(&mut self, x: f64) {
        if self.dim() == 1 {
            self.merge(0, x, 0.0, 1.0);
            self.count += 1.0;
        }
    }

    fn merge(&mut self, j: usize, batch_mean: f64, batch_var: f64, n: f64) {
        let total = self.count + n;
        let delta = batch_mean - self.mean[j];
        let m2 = self.var[j] * self.count + batch_var * n + delta * delta * self.count * n / total;
        self.mean[j] += delta * n / total;
        self.var[j] = m2 / total;
    }

    /// Writes `clip((x − mean) / sqrt(var + 1e-8), −clip, clip)` for each row of `rows` into
    /// `out` (same length).
    pub fn normalize_into(&self, rows: &[f32], clip: f64, out: &mut [f32]) {
        let dim = self.dim();
        for (row_in, row_out) in rows.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
            // The arithmetic the exported runtime repeats, bit for bit.
            policy_core::normalize_into(row_in, &self.mean, &self.var, NORM_EPSILON, clip, row_out);
        }
    }
}

impl RunningMeanStd {
    /// Writes the normalised node-scoring observations of `rows` (`[batch, obs_dim]`) into
    /// `out` (same length): every node row with the node features' statistics, the task row
    /// with the task features' (`policy_core::normalize_nodes_into`, which the exported runtime
    /// repeats bit for bit).
    pub fn normalize_nodes_into(&self, obs: &[f32], obs_dim: usize, node_width: usize, clip: f64, out: &mut [f32]) {
        for (row_in, row_out) in obs.chunks_exact(obs_dim).zip(out.chunks_exact_mut(obs_dim)) {
            policy_core::normalize_nodes_into(row_in, &self.mean, &self.var, NORM_EPSILON, clip, node_width, row_out);
        }
    }
}

/// Added to the variance before the square root when normalising (exports record it).
pub const NORM_EPSILON: f64 = 1e-8;

/// Reward scaling: a constant factor, optionally divided by the running standard deviation of
/// each env's discounted return (Stable-Baselines3's `VecNormalize` reward scheme, which keeps
/// the sign and the zero of rewards).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RewardScaler {
    /// Constant factor applied first.
    pub scale: f64,
    /// Statistics of the discounted return, when normalising.
    pub return_stats: Option<RunningMeanStd>,
    /// `[N]`: each env's discounted return so far in its current episode.
    pub returns: Vec<f64>,
    /// Discount used for the running return.
    pub gamma: f64,
}

impl RewardScaler {
    /// A scaler for `n_envs` envs.
    pub fn new(scale: f64, normalize: bool, gamma: f64, n_envs: usize) -> Self {
        Self { scale, return_stats: normalize.then(|| RunningMeanStd::new(1)), returns: vec![0.0; n_envs], gamma }
    }

    /// Feeds the statistics with one step of env `i` (raw reward), resetting its return when
    /// the episode ended.
    pub fn observe(&mut self, i: usize, reward: f64, done: bool) {
        if let Some(stats) = &mut self.return_stats {
            self.returns[i] = self.returns[i] * self.gamma + reward;
            stats.update_scalar(self.returns[i]);
            if done {
                self.returns[i] = 0.0;
            }
        }
    }

    /// Restarts env `i`'s running return, as [`observe`](Self::observe) does at an episode's
    /// end (used when an episode is cut off from outside).
    pub fn end_episode(&mut self, i: usize) {
        self.returns[i] = 0.0;
    }

    /// The factor that turns a raw reward (or sum of rewards) into a learning reward now.
    pub fn factor(&self) -> f64 {
        match &self.return_stats {
            Some(stats) => self.scale / (stats.var[0] + 1e-8).sqrt(),
            None => self.scale,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_updates_match_the_plain_statistics() {
        let mut rms = RunningMeanStd::new(2);
        let data: Vec<f32> = (0..200).map(|i| (i % 17) as f32 * if i % 2 == 0 { 1.0 } else { 1e5 }).collect();
        for chunk in data.chunks(6) {
            rms.update(chunk);
        }
        for j in 0..2 {
            let col: Vec<f64> = data.iter().skip(j).step_by(2).map(|&x| f64::from(x)).collect();
            let mean = col.iter().sum::<f64>() / col.len() as f64;
            let var = col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / col.len() as f64;
            assert!((rms.mean[j] - mean).abs() <= 1e-6 * mean.abs().max(1.0), "mean {j}");
            assert!((rms.var[j] - var).abs() <= 1e-4 * var.max(1.0), "var {j}");
        }
        let mut out = vec![0.0; 4];
        rms.normalize_into(&data[..4], 5.0, &mut out);
        assert!(out.iter().all(|z| z.abs() <= 5.0));
    }

    /// Checkpoints keep the statistics as JSON: they must read back bit for bit (serde_json's
    /// `float_roundtrip`, enabled for the workspace; its default parser can be an ulp off).
    #[test]
    fn statistics_round_trip_through_json_bit_for_bit() {
        let mut rms = RunningMeanStd::new(3);
        let rows: Vec<f32> = (0..300).map(|i| ((i * 7919) % 1013) as f32 * 97.3 + 0.1).collect();
        rms.update(&rows);
        let text = serde_json::to_string(&rms).unwrap();
        let back: RunningMeanStd = serde_json::from_str(&text).unwrap();
        for (a, b) in rms.mean.iter().chain(&rms.var).zip(back.mean.iter().chain(&back.var)) {
            assert_eq!(a.to_bits(), b.to_bits(), "{a} read back as {b}");
        }
        // A mean of the shipped park-lb checkpoint that the default parser reads an ulp off.
        let x: f64 = serde_json::from_str("433.09535553150755").unwrap();
        assert_eq!(x.to_bits(), 433.09535553150755f64.to_bits());
    }

    #[test]
    fn reward_scaler_divides_by_return_std() {
        let mut s = RewardScaler::new(2.0, false, 0.99, 1);
        assert_eq!(s.factor(), 2.0);
        s = RewardScaler::new(1.0, true, 0.0, 1);
        for r in [10.0, -10.0, 10.0, -10.0] {
            s.observe(0, r, false);
        }
        assert!((s.factor() - 0.1).abs() < 1e-3, "{}", s.factor());
    }
}
