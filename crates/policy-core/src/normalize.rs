//! Observation normalisation, `z = clamp((x − mean) / sqrt(var + epsilon), −clip, clip)`: one
//! formula for the trainer's running statistics and for exported policies.

use serde::{Deserialize, Serialize};

/// Observation normalisation applied before the network, exactly as the trainer applied it
/// (see [`normalize_into`]): `z = clamp((x − mean) / sqrt(var + epsilon), −clip, clip)`,
/// computed in `f64` and then rounded to `f32`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalization {
    /// Per-feature mean.
    pub mean: Vec<f64>,
    /// Per-feature (population) variance.
    pub var: Vec<f64>,
    /// Added to the variance before the square root (1e-8 in the trainer).
    pub epsilon: f64,
    /// Normalised values are clipped to `[−clip, clip]`.
    pub clip: f64,
}

impl Normalization {
    /// Number of features (the length of `mean`).
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Writes the normalised `obs` into `out` ([`normalize_into`] with this normalisation's
    /// statistics): bit for bit what the trainer fed the network.
    ///
    /// # Panics
    /// As [`normalize_into`].
    pub fn normalize_into(&self, obs: &[f32], out: &mut [f32]) {
        normalize_into(obs, &self.mean, &self.var, self.epsilon, self.clip, out);
    }
}

/// Writes the normalised observation of a node-scoring network into `out` (same length as
/// `obs`): statistics shared across nodes, `mean[..node_width]` and `var[..node_width]` for
/// every node row, the rest (`task_width` values) for the task row after them — each row with
/// [`normalize_into`]'s arithmetic, so a feature means the same at any node count.
///
/// # Panics
/// If `node_width` is 0 or above `mean.len()`, `obs` is not a whole number of node rows plus
/// the task row, `out` is shorter than `obs`, or as [`normalize_into`].
pub fn normalize_nodes_into(
    obs: &[f32],
    mean: &[f64],
    var: &[f64],
    epsilon: f64,
    clip: f64,
    node_width: usize,
    out: &mut [f32],
) {
    let task_width = mean.len() - node_width;
    let split = obs.len() - task_width;
    assert!(node_width > 0 && split.is_multiple_of(node_width), "observation is not node rows and a task row");
    let (node_mean, task_mean) = mean.split_at(node_width);
    let (node_var, task_var) = var.split_at(node_width);
    let (nodes_out, task_out) = out[..obs.len()].split_at_mut(split);
    for (row, row_out) in obs[..split].chunks_exact(node_width).zip(nodes_out.chunks_exact_mut(node_width)) {
        normalize_into(row, node_mean, node_var, epsilon, clip, row_out);
    }
    normalize_into(&obs[split..], task_mean, task_var, epsilon, clip, task_out);
}

/// Writes `out[j] = clamp((obs[j] − mean[j]) / sqrt(var[j] + epsilon), −clip, clip)` for
/// `j < mean.len()`, in `f64` and rounded to `f32` once.
///
/// The operations, in this order, are the definition of the trainer's normalisation (its
/// `RunningMeanStd` calls this with `epsilon` = 1e-8): widen `x` to `f64`, subtract the mean,
/// add `epsilon` to the variance, take the square root, divide, clamp, round to `f32`. A caller
/// may cache `sqrt(var + epsilon)` (the same `f64`) but must divide by it, not multiply by its
/// reciprocal, to get the same bits.
///
/// # Panics
/// If `obs`, `var` or `out` is shorter than `mean`, or `clip` is NaN or negative.
pub fn normalize_into(obs: &[f32], mean: &[f64], var: &[f64], epsilon: f64, clip: f64, out: &mut [f32]) {
    let dim = mean.len();
    for (((o, &x), &m), &v) in out[..dim].iter_mut().zip(&obs[..dim]).zip(mean).zip(&var[..dim]) {
        let z = (f64::from(x) - m) / (v + epsilon).sqrt();
        *o = z.clamp(-clip, clip) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// dqn's `RunningMeanStd::normalize_into` before the move, spelled out.
    fn trainers(obs: &[f32], mean: &[f64], var: &[f64], clip: f64) -> Vec<f32> {
        (0..mean.len())
            .map(|j| ((f64::from(obs[j]) - mean[j]) / (var[j] + 1e-8).sqrt()).clamp(-clip, clip) as f32)
            .collect()
    }

    #[test]
    fn by_hand_and_clipped() {
        let norm = Normalization { mean: vec![1.0, 0.0, 3.0], var: vec![4.0, 0.25, 0.0], epsilon: 0.0, clip: 1.5 };
        let mut out = [9.0; 4];
        // (2 − 1)/2 = 0.5; (1 − 0)/0.5 = 2 clipped to 1.5; (2 − 3)/0 = −inf clipped to −1.5.
        norm.normalize_into(&[2.0, 1.0, 2.0, 7.0], &mut out);
        assert_eq!(out, [0.5, 1.5, -1.5, 9.0], "only dim values written");
        norm.normalize_into(&[-7.0, -0.25, 4.0], &mut out);
        assert_eq!(out[..3], [-1.5, -0.5, 1.5]);
        assert_eq!(norm.dim(), 3);
    }

    #[test]
    fn node_rows_share_statistics() {
        // Node rows of 2 features (mean [1, 0], var [4, 1]), a task row of 1 (mean 10, var 100).
        let (mean, var) = ([1.0, 0.0, 10.0], [4.0, 1.0, 100.0]);
        let obs = [3.0, 2.0, -1.0, -0.5, 1.0, 4.0, 30.0];
        let mut out = [0.0; 7];
        normalize_nodes_into(&obs, &mean, &var, 0.0, 1.5, 2, &mut out);
        assert_eq!(out, [1.0, 1.5, -1.0, -0.5, 0.0, 1.5, 1.5]);
        // One node: the same statistics.
        let mut one = [0.0; 3];
        normalize_nodes_into(&[3.0, 2.0, 30.0], &mean, &var, 0.0, 10.0, 2, &mut one);
        assert_eq!(one, [1.0, 2.0, 2.0]);
    }

    #[test]
    fn bit_for_bit_the_trainers_formula() {
        let mean: Vec<f64> = (0..7).map(|j| 433.09535553150755 * f64::from(j) - 100.0).collect();
        let var: Vec<f64> = (0..7).map(|j| 1e-3 + 12345.678 * f64::from(j * j)).collect();
        let norm = Normalization { mean: mean.clone(), var: var.clone(), epsilon: 1e-8, clip: 10.0 };
        let mut out = vec![0.0; 7];
        for k in 0..500 {
            let obs: Vec<f32> = (0..7).map(|j| ((k * 7 + j) as f32 * 0.731).sin() * 10f32.powi(j % 6)).collect();
            norm.normalize_into(&obs, &mut out);
            let want = trainers(&obs, &mean, &var, 10.0);
            assert_eq!(
                out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "observation {k}"
            );
        }
    }
}
