//! [`Runtime`]: the network alone — normalisation, layers, Q-values, the greedy action —
//! computed without allocating and without any metadata.

use policy_core::{Activation, Dense, Mlp, Normalization, masked_argmax};

use crate::error::{PolicyError, Result};
use crate::meta::check_normalization;

/// A Q-network ready to act: what [`crate::Policy`] runs, usable alone for a network that has no
/// observation layout (a CartPole agent, a network under training).
///
/// It owns scratch buffers for one forward pass, so [`Runtime::act`] and [`Runtime::q_values`]
/// never allocate (they take `&mut self`); clone the runtime for each thread that acts
/// concurrently.
///
/// The forward pass computes, per layer, `y = b + Σ_i x_i·W[i, :]` in `f32`, summing rows in
/// order `i = 0, 1, …` ([`Dense::forward_into`]'s order; rows with `x_i = 0` are skipped, which
/// can only change the sign of an exact zero), on every CPU the same bits; the activations and
/// the dueling combination use burn's formulas, and the normalisation is bit for bit the
/// trainer's ([`policy_core::normalize_into`]). Q-values agree with the trainer's to float
/// rounding (burn's matrix product sums in another order), so a greedy choice can differ only
/// between actions whose Q-values tie to within a few ulps.
#[derive(Debug, Clone)]
pub struct Runtime {
    net: Net,
    scratch: Scratch,
}

impl Runtime {
    /// A runtime for `mlp`, normalising raw observations with `normalization` first (none: the
    /// network reads observations as they are).
    ///
    /// # Errors
    /// [`PolicyError::Network`] if the layers do not fit together ([`Mlp::validate`]);
    /// [`PolicyError::Normalization`] if the normalisation is not one value per input or cannot
    /// be applied (a NaN or non-positive clip, non-finite statistics, a zero `var + epsilon`).
    pub fn new(mlp: &Mlp, normalization: Option<&Normalization>) -> Result<Self> {
        mlp.validate()?;
        let obs_dim = mlp.shape().obs_dim;
        let norm = match normalization {
            None => None,
            Some(n) => {
                check_normalization(n, obs_dim)
                    .map_err(|(field, message)| PolicyError::Normalization { field, message })?;
                Some(Norm {
                    mean: n.mean.clone(),
                    // Dividing by the same f64 square root the trainer computes each time gives
                    // the same bits; it is cached, not turned into a reciprocal (which would not).
                    denom: n.var.iter().map(|v| (v + n.epsilon).sqrt()).collect(),
                    clip: n.clip,
                })
            }
        };
        let net = Net {
            norm,
            hidden: mlp.hidden.iter().map(Layer::new).collect(),
            head: Layer::new(&mlp.head),
            value: mlp.value.as_ref().map(Layer::new),
            activation: mlp.activation,
            obs_dim,
            n_actions: mlp.head.d_out,
        };
        Ok(Self { scratch: Scratch::new(&net), net })
    }

    /// Length of an observation (the network's input width).
    pub fn obs_dim(&self) -> usize {
        self.net.obs_dim
    }

    /// Number of actions (the network's output width).
    pub fn n_actions(&self) -> usize {
        self.net.n_actions
    }

    /// Q-values of one raw observation (normalised here when the runtime has normalisation).
    ///
    /// # Errors
    /// [`PolicyError::ObsLength`], [`PolicyError::NonFiniteObs`].
    pub fn q_values(&mut self, obs: &[f32]) -> Result<&[f32]> {
        check_obs(obs, self.obs_dim(), 0)?;
        self.net.forward(obs, &mut self.scratch);
        Ok(&self.scratch.q)
    }

    /// The greedy action: the valid (`mask[a]`) action with the largest Q-value, the lowest
    /// index on ties (NaN Q-values lose), as the trainer's `masked_argmax` picks it.
    ///
    /// # Errors
    /// [`PolicyError::ObsLength`], [`PolicyError::MaskLength`], [`PolicyError::NonFiniteObs`],
    /// [`PolicyError::NoValidAction`].
    pub fn act(&mut self, obs: &[f32], mask: &[bool]) -> Result<usize> {
        check_obs(obs, self.obs_dim(), 0)?;
        if mask.len() != self.n_actions() {
            return Err(PolicyError::MaskLength { got: mask.len(), expected: self.n_actions() });
        }
        if !mask.contains(&true) {
            return Err(PolicyError::NoValidAction);
        }
        self.net.forward(obs, &mut self.scratch);
        masked_argmax(&self.scratch.q, mask).ok_or(PolicyError::NoValidAction)
    }

    /// Q-values of a batch of raw observations, for evaluation (allocates; the same arithmetic
    /// as [`Runtime::q_values`], row by row, so the results are identical).
    ///
    /// # Shapes
    /// - `obs`: `[batch, obs_dim]`, row-major
    /// - output: `[batch, n_actions]`, row-major
    ///
    /// # Errors
    /// [`PolicyError::BatchLength`], [`PolicyError::NonFiniteObs`] (with the row-major index
    /// into the batch).
    pub fn q_values_batch(&self, obs: &[f32], batch: usize) -> Result<Vec<f32>> {
        let dim = self.obs_dim();
        if batch.checked_mul(dim) != Some(obs.len()) {
            return Err(PolicyError::BatchLength { got: obs.len(), batch, obs_dim: dim });
        }
        let mut scratch = self.scratch.clone();
        let mut out = Vec::with_capacity(batch * self.n_actions());
        for (i, row) in obs.chunks_exact(dim).enumerate() {
            check_obs(row, dim, i * dim)?;
            self.net.forward(row, &mut scratch);
            out.extend_from_slice(&scratch.q);
        }
        Ok(out)
    }
}

/// Length and finiteness of one observation; `offset` is added to the index in errors.
pub(crate) fn check_obs(obs: &[f32], dim: usize, offset: usize) -> Result<()> {
    if obs.len() != dim {
        return Err(PolicyError::ObsLength { got: obs.len(), expected: dim });
    }
    match obs.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(PolicyError::NonFiniteObs { index: offset + i, value: obs[i] }),
        None => Ok(()),
    }
}

/// Buffers of one forward pass, sized at load time.
#[derive(Debug, Clone)]
struct Scratch {
    /// Ping-pong activations, each as wide as the widest (padded) layer or the input.
    a: Vec<f32>,
    b: Vec<f32>,
    /// The head's padded output (advantages, when dueling).
    head: Vec<f32>,
    /// The value head's padded output.
    value: Vec<f32>,
    /// Q-values, `n_actions` long.
    q: Vec<f32>,
    /// The nonzero inputs of the layer being computed, and their rows' offsets.
    active_x: Vec<f32>,
    active_row: Vec<usize>,
}

impl Scratch {
    fn new(net: &Net) -> Self {
        let layers = net.hidden.iter().chain([&net.head]).chain(&net.value);
        let width = layers.map(|l| l.stride.max(l.d_in)).max().unwrap_or(0).max(net.obs_dim);
        Self {
            a: vec![0.0; width],
            b: vec![0.0; width],
            head: vec![0.0; net.head.stride],
            value: vec![0.0; net.value.as_ref().map_or(0, |v| v.stride)],
            q: vec![0.0; net.n_actions],
            active_x: vec![0.0; width],
            active_row: vec![0; width],
        }
    }
}

/// Cached normalisation: `(x − mean) / denom`, clamped.
#[derive(Debug, Clone)]
struct Norm {
    mean: Vec<f64>,
    /// `sqrt(var + epsilon)`.
    denom: Vec<f64>,
    clip: f64,
}

/// The network, weights flattened row-major for the batch-1 kernel.
#[derive(Debug, Clone)]
struct Net {
    norm: Option<Norm>,
    hidden: Vec<Layer>,
    head: Layer,
    value: Option<Layer>,
    activation: Activation,
    obs_dim: usize,
    n_actions: usize,
}

impl Net {
    /// Writes the Q-values of `obs` (checked: right length, finite) into `s.q`.
    fn forward(&self, obs: &[f32], s: &mut Scratch) {
        let x = &mut s.a[..self.obs_dim];
        match &self.norm {
            Some(n) => {
                for (j, (z, &v)) in x.iter_mut().zip(obs).enumerate() {
                    *z = ((f64::from(v) - n.mean[j]) / n.denom[j]).clamp(-n.clip, n.clip) as f32;
                }
            }
            None => x.copy_from_slice(obs),
        }
        let mut width = self.obs_dim;
        for layer in &self.hidden {
            let y = &mut s.b[..layer.stride];
            layer.forward(&s.a[..width], y, &mut s.active_x, &mut s.active_row);
            self.activation.apply_slice(&mut y[..layer.d_out]);
            // Swapping the vectors swaps pointers: no copy, no allocation.
            std::mem::swap(&mut s.a, &mut s.b);
            width = layer.d_out;
        }
        let h = &s.a[..width];
        self.head.forward(h, &mut s.head, &mut s.active_x, &mut s.active_row);
        let advantages = &s.head[..s.q.len()];
        match &self.value {
            None => s.q.copy_from_slice(advantages),
            Some(value) => {
                value.forward(h, &mut s.value, &mut s.active_x, &mut s.active_row);
                // Q = V + A − mean(A), in burn's order: (A − mean) + V.
                let mean = advantages.iter().sum::<f32>() / advantages.len() as f32;
                let v = s.value[0];
                s.q.iter_mut().zip(advantages).for_each(|(q, a)| *q = (a - mean) + v);
            }
        }
    }
}

/// Output columns computed together: 32 `f32` accumulators fill 8 SSE registers (4 AVX), which
/// x86-64 has to spare, so each weight is loaded once and no partial sum goes to memory.
const BLOCK: usize = 32;
/// Row stride granularity (and the width of the last blocks): rows are zero-padded to a multiple
/// of this, so every block is a whole number of vector registers.
const LANES: usize = 8;

/// One dense layer, its `[d_in, d_out]` weight flattened row-major with rows zero-padded to
/// `stride` columns (the padded outputs are computed as 0 + Σ 0 and never read).
#[derive(Debug, Clone)]
struct Layer {
    d_in: usize,
    d_out: usize,
    stride: usize,
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Layer {
    /// The layer `d` (validated: `d_out ≥ 1`, vectors of the right lengths), rows padded.
    fn new(d: &Dense) -> Self {
        let (d_in, d_out) = (d.d_in, d.d_out);
        let stride = d_out.next_multiple_of(LANES);
        let mut weight = vec![0.0; d_in * stride];
        for (row, w) in weight.chunks_exact_mut(stride).zip(d.weight.chunks_exact(d_out)) {
            row[..d_out].copy_from_slice(w);
        }
        let mut bias = vec![0.0; stride];
        bias[..d_out].copy_from_slice(&d.bias);
        Self { d_in, d_out, stride, weight, bias }
    }

    /// `y = b + Σ_i x_i·W[i, :]` over the rows with `x_i ≠ 0`, in order of `i`; writes all
    /// `stride` outputs of `y` (the first `d_out` are the layer's).
    ///
    /// Skipping zero inputs changes nothing but the sign of an exact zero (`y + 0·w = y`, the
    /// weights being finite) and halves the work after a ReLU, where about half the inputs are
    /// 0. The rows are gathered without branches (a branch per input would mispredict on
    /// ReLU's random pattern). Then each block of outputs is accumulated in registers over all
    /// gathered rows: contiguous loads, an `axpy` the compiler vectorises, no stores until the
    /// block is done.
    #[inline]
    fn forward(&self, x: &[f32], y: &mut [f32], active_x: &mut [f32], active_row: &mut [usize]) {
        let mut n = 0;
        for (i, &xi) in x[..self.d_in].iter().enumerate() {
            // n ≤ i < d_in ≤ the buffers' length.
            active_x[n] = xi;
            active_row[n] = i * self.stride;
            n += usize::from(xi != 0.0);
        }
        let (xs, rows) = (&active_x[..n], &active_row[..n]);
        let mut j = 0;
        while j + BLOCK <= self.stride {
            self.block::<BLOCK>(xs, rows, j, y);
            j += BLOCK;
        }
        while j < self.stride {
            self.block::<LANES>(xs, rows, j, y);
            j += LANES;
        }
    }

    /// Outputs `j..j + N`: bias plus the gathered rows, accumulated in `N` registers.
    #[inline(always)]
    fn block<const N: usize>(&self, xs: &[f32], rows: &[usize], j: usize, y: &mut [f32]) {
        let mut acc = [0.0f32; N];
        acc.copy_from_slice(&self.bias[j..j + N]);
        for (&xi, &row) in xs.iter().zip(rows) {
            let w = &self.weight[row + j..row + j + N];
            for (a, &w) in acc.iter_mut().zip(w) {
                *a += xi * w;
            }
        }
        y[j..j + N].copy_from_slice(&acc);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! A 3-3-2 network with hand-picked weights (Park's layout on two nodes: the observation is
    //! `[load 0, load 1, size]`), whose Q-values are computed by hand.

    use policy_core::ObservationLayout;

    use super::*;
    use crate::files::Export;
    use crate::meta::{PolicyMeta, Source};

    /// hidden `[[1, −1, 0.5], [0.5, 1, 0.25], [0, 0.25, −1]]`, bias `[0, 0.5, 1]`; head
    /// `[[1, 0], [0, 2], [3, −1]]`, bias `[0.25, −0.5]`; value `[1, 1, 1]ᵀ`, bias 0.5.
    pub(crate) fn tiny_mlp(activation: Activation, dueling: bool) -> Mlp {
        let dense = |d_in, d_out, weight: &[f32], bias: &[f32]| {
            Dense::new(d_in, d_out, weight.to_vec(), bias.to_vec()).unwrap()
        };
        Mlp {
            hidden: vec![dense(3, 3, &[1.0, -1.0, 0.5, 0.5, 1.0, 0.25, 0.0, 0.25, -1.0], &[0.0, 0.5, 1.0])],
            head: dense(3, 2, &[1.0, 0.0, 0.0, 2.0, 3.0, -1.0], &[0.25, -0.5]),
            value: dueling.then(|| dense(3, 1, &[1.0, 1.0, 1.0], &[0.5])),
            activation,
        }
    }

    pub(crate) fn park2() -> ObservationLayout {
        ObservationLayout::Park { n_nodes: 2, resources: vec!["slot".into()], high: 500_000.0 }
    }

    pub(crate) fn tiny_export(activation: Activation, dueling: bool) -> Export {
        let mlp = tiny_mlp(activation, dueling);
        Export { meta: PolicyMeta::new("tiny", Source::default(), mlp.shape(), None, park2()), mlp }
    }

    fn tiny(activation: Activation, dueling: bool) -> Runtime {
        Runtime::new(&tiny_mlp(activation, dueling), None).unwrap()
    }

    /// x = [1, 2, 4]: pre-activations b + x·W = [0 + 1 + 1 + 0, 0.5 − 1 + 2 + 1, 1 + 0.5 + 0.5 − 4]
    /// = [2, 2.5, −2].
    pub(crate) const X: [f32; 3] = [1.0, 2.0, 4.0];

    #[test]
    fn q_values_by_hand() {
        let mut r = tiny(Activation::Relu, false);
        // relu → h = [2, 2.5, 0]; q = [0.25 + 2, −0.5 + 5] = [2.25, 4.5].
        assert_eq!(r.q_values(&X).unwrap(), [2.25, 4.5]);
        assert_eq!(r.act(&X, &[true, true]).unwrap(), 1);
        assert_eq!(r.act(&X, &[true, false]).unwrap(), 0);
        assert_eq!((r.obs_dim(), r.n_actions()), (3, 2));
    }

    #[test]
    fn dueling_by_hand() {
        let mut r = tiny(Activation::Relu, true);
        // A = [2.25, 4.5], mean 3.375; V = 0.5 + 2 + 2.5 + 0 = 5; Q = A − 3.375 + 5.
        assert_eq!(r.q_values(&X).unwrap(), [3.875, 6.125]);
    }

    #[test]
    fn the_kernel_computes_the_reference_forward_pass() {
        // Every activation, dueling or not, widths around the register blocks (8, 32), zero
        // inputs (skipped rows): the same bits as policy-core's reference `Mlp::forward`.
        let acts = [Activation::Relu, Activation::Tanh, Activation::LeakyRelu, Activation::Gelu, Activation::Silu];
        for (k, act) in acts.into_iter().enumerate() {
            for dueling in [false, true] {
                let widths = [13, 40, 7, 33, 5 + k];
                let dense = |d_in: usize, d_out: usize, seed: usize| {
                    let weight = (0..d_in * d_out).map(|i| ((i * 31 + seed * 17) as f32 * 0.61).sin() * 0.4);
                    let bias = (0..d_out).map(|j| ((j + seed) as f32).cos() * 0.1);
                    Dense::new(d_in, d_out, weight.collect(), bias.collect()).unwrap()
                };
                let mlp = Mlp {
                    hidden: (0..3).map(|i| dense(widths[i], widths[i + 1], i)).collect(),
                    head: dense(widths[3], widths[4], 3),
                    value: dueling.then(|| dense(widths[3], 1, 4)),
                    activation: act,
                };
                let mut r = Runtime::new(&mlp, None).unwrap();
                for s in 0..20 {
                    let obs: Vec<f32> = (0..13)
                        .map(|j| if (j + s) % 3 == 0 { 0.0 } else { ((j * 7 + s) as f32).sin() * 3.0 })
                        .collect();
                    let want: Vec<u32> = mlp.forward(&obs).iter().map(|v| v.to_bits()).collect();
                    let got: Vec<u32> = r.q_values(&obs).unwrap().iter().map(|v| v.to_bits()).collect();
                    assert_eq!(got, want, "{act:?} dueling {dueling} obs {s}");
                }
            }
        }
    }

    #[test]
    fn ties_go_to_the_lowest_valid_index() {
        let mut mlp = tiny_mlp(Activation::Relu, false);
        // Two identical head columns: equal Q-values.
        mlp.head = Dense::new(3, 2, vec![1.0, 1.0, 2.0, 2.0, 0.0, 0.0], vec![0.5, 0.5]).unwrap();
        let mut r = Runtime::new(&mlp, None).unwrap();
        assert_eq!(r.q_values(&X).unwrap(), [7.5, 7.5]);
        assert_eq!(r.act(&X, &[true, true]).unwrap(), 0);
        assert_eq!(r.act(&X, &[false, true]).unwrap(), 1);
    }

    #[test]
    fn normalisation_is_the_trainers_bit_for_bit_and_clips() {
        let norm = Normalization { mean: vec![1.0, 0.0, 3.0], var: vec![4.0, 0.25, 0.3], epsilon: 1e-8, clip: 1.5 };
        // No hidden layer; head = identity on the first two features, so Q = z[0..2].
        let mlp = Mlp {
            hidden: vec![],
            head: Dense::new(3, 2, vec![1.0, 0.0, 0.0, 1.0, 0.0, 0.0], vec![0.0, 0.0]).unwrap(),
            value: None,
            activation: Activation::Relu,
        };
        let mut r = Runtime::new(&mlp, Some(&norm)).unwrap();
        for x in [[2.0, 1.0, 0.0], [-7.0, -0.1, 0.0], [1.1, 0.3, 0.0]] {
            // The trainer's formula, spelled out (dqn's `RunningMeanStd::normalize_into`).
            let z = |j: usize| ((f64::from(x[j]) - norm.mean[j]) / (norm.var[j] + 1e-8).sqrt()).clamp(-1.5, 1.5) as f32;
            let q = r.q_values(&x).unwrap().to_vec();
            assert_eq!(q.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), [z(0).to_bits(), z(1).to_bits()]);
            let mut out = [0.0; 3];
            norm.normalize_into(&x, &mut out);
            assert_eq!(out[..2], q[..]);
        }
        // (2 − 1)/2 = 0.5 (to f32 rounding of sqrt(4 + 1e-8)); 1/0.5 = 2 clipped to 1.5; −7 → −1.5.
        assert_eq!(r.q_values(&[2.0, 1.0, 0.0]).unwrap()[1], 1.5);
        assert_eq!(r.q_values(&[-7.0, -1.0, 0.0]).unwrap(), [-1.5, -1.5]);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let mut r = tiny(Activation::Relu, false);
        let e = r.act(&[1.0, 2.0], &[true, true]).unwrap_err();
        assert!(matches!(e, PolicyError::ObsLength { got: 2, expected: 3 }), "{e}");
        assert_eq!(e.to_string(), "observation has 2 values, expected 3 (the policy's obs_dim)");
        let e = r.act(&X, &[true]).unwrap_err();
        assert!(matches!(e, PolicyError::MaskLength { got: 1, expected: 2 }), "{e}");
        let e = r.act(&[1.0, f32::NAN, 0.0], &[true, true]).unwrap_err();
        assert!(matches!(e, PolicyError::NonFiniteObs { index: 1, .. }), "{e}");
        assert_eq!(e.to_string(), "observation[1] is NaN, expected a finite number");
        let e = r.q_values(&[1.0, 0.0, f32::INFINITY]).unwrap_err();
        assert!(matches!(e, PolicyError::NonFiniteObs { index: 2, .. }), "{e}");
        let e = r.act(&X, &[false, false]).unwrap_err();
        assert!(matches!(e, PolicyError::NoValidAction), "{e}");
        assert_eq!(e.to_string(), "mask is all false: no action is valid");
    }

    #[test]
    fn batch_matches_single_rows() {
        let mut r = tiny(Activation::Gelu, true);
        let obs = [1.0f32, 2.0, 4.0, 0.0, -3.0, 0.5, 10.0, 1.0, -1.0];
        let batch = r.q_values_batch(&obs, 3).unwrap();
        assert_eq!(batch.len(), 6);
        for (row, q) in obs.chunks(3).zip(batch.chunks(2)) {
            assert_eq!(r.q_values(row).unwrap(), q);
        }
        assert!(r.q_values_batch(&[], 0).unwrap().is_empty());
        let e = r.q_values_batch(&obs, 2).unwrap_err();
        assert!(matches!(e, PolicyError::BatchLength { got: 9, batch: 2, obs_dim: 3 }), "{e}");
        assert_eq!(e.to_string(), "batch has 9 values, expected 2·3 = 6 (2 observations of obs_dim values)");
        let mut bad = obs;
        bad[7] = f32::NAN;
        let e = r.q_values_batch(&bad, 3).unwrap_err();
        assert!(matches!(e, PolicyError::NonFiniteObs { index: 7, .. }), "{e}");
    }

    #[test]
    fn new_rejects_what_it_cannot_run() {
        let mut mlp = tiny_mlp(Activation::Relu, true);
        mlp.value = Some(Dense::new(3, 2, vec![0.0; 6], vec![0.0; 2]).unwrap());
        let e = Runtime::new(&mlp, None).unwrap_err();
        assert_eq!(e.to_string(), "network: value: has 2 outputs but a value head has 1");
        let mlp = tiny_mlp(Activation::Relu, false);
        let norm = |mean: Vec<f64>, clip: f64| Normalization { var: vec![1.0; mean.len()], mean, epsilon: 1e-8, clip };
        let e = Runtime::new(&mlp, Some(&norm(vec![0.0; 4], 5.0))).unwrap_err();
        assert_eq!(e.to_string(), "normalization: mean: has 4 values, expected 3 (network.obs_dim)");
        let e = Runtime::new(&mlp, Some(&norm(vec![0.0; 3], f64::NAN))).unwrap_err();
        assert_eq!(e.to_string(), "normalization: clip: is NaN, expected a number > 0");
        let e = Runtime::new(&mlp, Some(&norm(vec![0.0, f64::INFINITY, 0.0], 5.0))).unwrap_err();
        assert!(matches!(&e, PolicyError::Normalization { field, .. } if field == "mean[1]"), "{e}");
    }

    #[test]
    fn runtime_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Runtime>();
    }
}
