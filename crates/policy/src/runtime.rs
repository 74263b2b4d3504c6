//! [`Policy`]: the loaded network, answering `act(observation, mask) -> node` without allocating.

use std::path::Path;

use ndarray::{Array2, ArrayView2};

use crate::error::{PolicyError, Result};
use crate::format::{Export, PolicyMeta};
use crate::network::{Activation, Dense};
use crate::state::ClusterState;

/// An exported policy, ready to act.
///
/// It owns scratch buffers for one forward pass, so [`Policy::act`], [`Policy::q_values`] and
/// [`Policy::act_state`] never allocate (they take `&mut self`); clone the policy for each
/// thread that acts concurrently.
///
/// The forward pass computes, per layer, `y = b + Σ_i x_i·W[i, :]` in `f32`, summing rows in
/// order `i = 0, 1, …` (rows with `x_i = 0` skipped, which can only change the sign of an exact
/// zero), on every CPU the same bits; the activations and the dueling combination use burn's formulas, and
/// the normalisation is bit for bit the trainer's. Q-values agree with the trainer's to float
/// rounding (burn's matrix product sums in another order), so a greedy choice can differ only
/// between actions whose Q-values tie to within a few ulps.
#[derive(Debug, Clone)]
pub struct Policy {
    meta: PolicyMeta,
    net: Net,
    scratch: Scratch,
    /// Observation and mask of the last [`Policy::act_state`].
    state_obs: Vec<f32>,
    state_mask: Vec<bool>,
}

impl Policy {
    /// Loads the export in `dir` ([`Export::read`]).
    ///
    /// # Errors
    /// See [`Export::read`].
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        Self::from_export(Export::read(dir)?)
    }

    /// A policy from an export in memory.
    ///
    /// # Errors
    /// An inconsistent export ([`Export::validate`]).
    pub fn from_export(export: Export) -> Result<Self> {
        export.validate()?;
        let Export { meta, mlp } = export;
        let net = Net {
            norm: meta.normalization.as_ref().map(|n| Norm {
                mean: n.mean.clone(),
                // Dividing by the same f64 square root the trainer computes each time gives
                // the same bits; it is cached, not turned into a reciprocal (which would not).
                denom: n.var.iter().map(|v| (v + n.epsilon).sqrt()).collect(),
                clip: n.clip,
            }),
            hidden: mlp.hidden.iter().map(Layer::new).collect(),
            head: Layer::new(&mlp.head),
            value: mlp.value.as_ref().map(Layer::new),
            activation: mlp.activation,
            obs_dim: meta.network.obs_dim,
        };
        Ok(Self {
            scratch: Scratch::new(&net, meta.network.n_actions),
            state_obs: vec![0.0; meta.observation.obs_dim()],
            state_mask: vec![false; meta.observation.n_nodes()],
            net,
            meta,
        })
    }

    /// The export's metadata.
    pub fn meta(&self) -> &PolicyMeta {
        &self.meta
    }

    /// Length of an observation.
    pub fn obs_dim(&self) -> usize {
        self.meta.network.obs_dim
    }

    /// Number of actions (nodes).
    pub fn n_actions(&self) -> usize {
        self.meta.network.n_actions
    }

    /// Q-values of one raw observation (normalised here when the export has normalisation).
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

    /// Encodes `state` ([`crate::ObservationLayout::encode`]) and acts on it: the node to place
    /// the task on, and every node's Q-value (masked nodes included).
    ///
    /// # Errors
    /// The encoding's errors (naming the node and field), or [`PolicyError::NonFiniteObs`] if
    /// the state's numbers are so extreme that a feature overflows.
    pub fn act_state(&mut self, state: &ClusterState) -> Result<(usize, &[f32])> {
        self.meta.observation.encode(state, &mut self.state_obs, &mut self.state_mask)?;
        check_obs(&self.state_obs, self.net.obs_dim, 0)?;
        self.net.forward(&self.state_obs, &mut self.scratch);
        let node = masked_argmax(&self.scratch.q, &self.state_mask)
            .ok_or(PolicyError::NoFeasibleNode { task: state.task.id })?;
        Ok((node, &self.scratch.q))
    }

    /// Q-values of a batch of raw observations, for evaluation (allocates; the same arithmetic
    /// as [`Policy::q_values`], row by row, so the results are identical).
    ///
    /// # Shapes
    /// - `obs`: `[batch, obs_dim]`
    /// - output: `[batch, n_actions]`
    ///
    /// # Errors
    /// [`PolicyError::ObsLength`] (the number of columns), [`PolicyError::NonFiniteObs`] (with
    /// the row-major index into the batch).
    pub fn q_values_batch(&self, obs: ArrayView2<f32>) -> Result<Array2<f32>> {
        let dim = self.obs_dim();
        if obs.ncols() != dim {
            return Err(PolicyError::ObsLength { got: obs.ncols(), expected: dim });
        }
        let mut scratch = self.scratch.clone();
        let mut row_buf = vec![0.0; dim];
        let mut out = Array2::zeros((obs.nrows(), self.n_actions()));
        for (i, (row, mut q)) in obs.rows().into_iter().zip(out.rows_mut()).enumerate() {
            // Rows of a view may be strided: copy into a contiguous buffer.
            row_buf.iter_mut().zip(row).for_each(|(b, &x)| *b = x);
            check_obs(&row_buf, dim, i * dim)?;
            self.net.forward(&row_buf, &mut scratch);
            q.iter_mut().zip(&scratch.q).for_each(|(o, &v)| *o = v);
        }
        Ok(out)
    }
}

/// Length and finiteness of one observation; `offset` is added to the index in errors.
fn check_obs(obs: &[f32], dim: usize, offset: usize) -> Result<()> {
    if obs.len() != dim {
        return Err(PolicyError::ObsLength { got: obs.len(), expected: dim });
    }
    match obs.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(PolicyError::NonFiniteObs { index: offset + i, value: obs[i] }),
        None => Ok(()),
    }
}

/// The valid action with the largest value, lowest index on ties; a NaN never beats a number.
/// (The same rule as `dqn::masked_argmax`, so the runtime acts as the trainer evaluated.)
pub fn masked_argmax(q: &[f32], mask: &[bool]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (a, (&v, &valid)) in q.iter().zip(mask).enumerate() {
        if valid && best.is_none_or(|(_, b)| v > b || b.is_nan()) {
            best = Some((a, v));
        }
    }
    best.map(|(a, _)| a)
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
    fn new(net: &Net, n_actions: usize) -> Self {
        let layers = net.hidden.iter().chain([&net.head]).chain(&net.value);
        let width = layers.map(|l| l.stride.max(l.d_in)).max().unwrap_or(0).max(net.obs_dim);
        Self {
            a: vec![0.0; width],
            b: vec![0.0; width],
            head: vec![0.0; net.head.stride],
            value: vec![0.0; net.value.as_ref().map_or(0, |v| v.stride)],
            q: vec![0.0; n_actions],
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
    fn new(d: &Dense) -> Self {
        let (d_in, d_out) = (d.d_in(), d.d_out());
        let stride = d_out.next_multiple_of(LANES);
        let mut weight = vec![0.0; d_in * stride];
        // `outer_iter()` yields rows in logical order whatever the array's memory layout.
        for (row, w) in weight.chunks_exact_mut(stride).zip(d.weight.outer_iter()) {
            row.iter_mut().zip(w).for_each(|(o, &v)| *o = v);
        }
        let mut bias = vec![0.0; stride];
        bias.iter_mut().zip(&d.bias).for_each(|(o, &v)| *o = v);
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

    use ndarray::{Array2, array};

    use super::*;
    use crate::format::{ObservationLayout, Source};
    use crate::network::{Mlp, Normalization};

    /// hidden `[[1, −1, 0.5], [0.5, 1, 0.25], [0, 0.25, −1]]`, bias `[0, 0.5, 1]`; head
    /// `[[1, 0], [0, 2], [3, −1]]`, bias `[0.25, −0.5]`; value `[1, 1, 1]ᵀ`, bias 0.5.
    pub(crate) fn tiny_mlp(activation: Activation, dueling: bool) -> Mlp {
        Mlp {
            hidden: vec![Dense::new(
                array![[1.0, -1.0, 0.5], [0.5, 1.0, 0.25], [0.0, 0.25, -1.0]],
                array![0.0, 0.5, 1.0],
            )],
            head: Dense::new(array![[1.0, 0.0], [0.0, 2.0], [3.0, -1.0]], array![0.25, -0.5]),
            value: dueling.then(|| Dense::new(array![[1.0], [1.0], [1.0]], array![0.5])),
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

    fn tiny(activation: Activation, dueling: bool) -> Policy {
        Policy::from_export(tiny_export(activation, dueling)).unwrap()
    }

    /// x = [1, 2, 4]: pre-activations b + x·W = [0 + 1 + 1 + 0, 0.5 − 1 + 2 + 1, 1 + 0.5 + 0.5 − 4]
    /// = [2, 2.5, −2].
    const X: [f32; 3] = [1.0, 2.0, 4.0];

    #[test]
    fn q_values_by_hand() {
        let mut p = tiny(Activation::Relu, false);
        // relu → h = [2, 2.5, 0]; q = [0.25 + 2, −0.5 + 5] = [2.25, 4.5].
        assert_eq!(p.q_values(&X).unwrap(), [2.25, 4.5]);
        assert_eq!(p.act(&X, &[true, true]).unwrap(), 1);
        assert_eq!(p.act(&X, &[true, false]).unwrap(), 0);
        assert_eq!((p.obs_dim(), p.n_actions()), (3, 2));
    }

    #[test]
    fn dueling_by_hand() {
        let mut p = tiny(Activation::Relu, true);
        // A = [2.25, 4.5], mean 3.375; V = 0.5 + 2 + 2.5 + 0 = 5; Q = A − 3.375 + 5.
        assert_eq!(p.q_values(&X).unwrap(), [3.875, 6.125]);
    }

    #[test]
    fn each_activation_matches_an_f64_forward_pass() {
        let reference = |act: fn(f64) -> f64| {
            let pre = [2.0, 2.5, -2.0].map(act);
            [0.25 + pre[0] + 3.0 * pre[2], -0.5 + 2.0 * pre[1] - pre[2]]
        };
        let gelu = |x: f64| 0.5 * x * (1.0 + crate::erf::erf(x / std::f64::consts::SQRT_2));
        type Reference = fn(f64) -> f64;
        let cases: [(Activation, Reference); 5] = [
            (Activation::Relu, |x| x.max(0.0)),
            (Activation::Tanh, f64::tanh),
            (Activation::LeakyRelu, |x| if x >= 0.0 { x } else { 0.01 * x }),
            (Activation::Gelu, gelu),
            (Activation::Silu, |x| x / (1.0 + (-x).exp())),
        ];
        for (act, f) in cases {
            let q = tiny(act, false).q_values(&X).unwrap().to_vec();
            for (got, want) in q.iter().zip(reference(f)) {
                assert!((f64::from(*got) - want).abs() < 1e-5, "{act:?}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn activations_match_f64_references_to_a_few_ulps() {
        let erf_ref = |x: f64| crate::erf::erf(x);
        for i in -2000..=2000 {
            let x = i as f32 * 5e-3;
            let xd = f64::from(x);
            let refs = [
                (Activation::Relu, xd.max(0.0)),
                (Activation::LeakyRelu, if xd >= 0.0 { xd } else { f64::from(0.01f32) * xd }),
                (Activation::Tanh, xd.tanh()),
                (Activation::Silu, xd / (1.0 + (-xd).exp())),
                (Activation::Gelu, 0.5 * xd * (1.0 + erf_ref(xd / std::f64::consts::SQRT_2))),
            ];
            for (act, want) in refs {
                let got = f64::from(act.apply(x));
                // A few f32 ulps of the larger of the value and the input's scale (gelu and
                // silu cancel near their minimum).
                let tol = 4.0 * f64::from(f32::EPSILON) * want.abs().max(xd.abs() * 0.1).max(1e-30);
                assert!((got - want).abs() <= tol, "{act:?}({x}) = {got}, want {want}");
            }
        }
        assert_eq!(Activation::Relu.apply(-0.0), 0.0);
        assert!(Activation::Relu.apply(f32::NAN).is_nan(), "relu propagates NaN like burn");
        assert_eq!(Activation::LeakyRelu.apply(-2.0), -0.02);
        assert_eq!(Activation::Silu.apply(-200.0), -0.0, "no overflow far left");
        assert_eq!(Activation::Gelu.apply(10.0), 10.0);
    }

    #[test]
    fn ties_go_to_the_lowest_valid_index() {
        let mut export = tiny_export(Activation::Relu, false);
        // Two identical head columns: equal Q-values.
        export.mlp.head = Dense::new(array![[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]], array![0.5, 0.5]);
        let mut p = Policy::from_export(export).unwrap();
        assert_eq!(p.q_values(&X).unwrap(), [7.5, 7.5]);
        assert_eq!(p.act(&X, &[true, true]).unwrap(), 0);
        assert_eq!(p.act(&X, &[false, true]).unwrap(), 1);
        assert_eq!(masked_argmax(&[1.0, 3.0, 3.0], &[true; 3]), Some(1));
        assert_eq!(masked_argmax(&[f32::NAN, 0.5], &[true; 2]), Some(1));
        assert_eq!(masked_argmax(&[5.0, 2.0], &[false, true]), Some(1));
        assert_eq!(masked_argmax(&[1.0, 2.0], &[false, false]), None);
    }

    #[test]
    fn normalisation_is_the_trainers_bit_for_bit_and_clips() {
        let norm = Normalization { mean: vec![1.0, 0.0, 3.0], var: vec![4.0, 0.25, 0.3], epsilon: 1e-8, clip: 1.5 };
        // No hidden layer; head = identity on the first two features, so Q = z[0..2].
        let mlp = Mlp {
            hidden: vec![],
            head: Dense::new(array![[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], array![0.0, 0.0]),
            value: None,
            activation: Activation::Relu,
        };
        let meta = PolicyMeta::new("tiny", Source::default(), mlp.shape(), Some(norm.clone()), park2());
        let mut p = Policy::from_export(Export { meta, mlp }).unwrap();
        for x in [[2.0, 1.0, 0.0], [-7.0, -0.1, 0.0], [1.1, 0.3, 0.0]] {
            // The trainer's formula, spelled out (dqn's `RunningMeanStd::normalize_into`).
            let z = |j: usize| ((f64::from(x[j]) - norm.mean[j]) / (norm.var[j] + 1e-8).sqrt()).clamp(-1.5, 1.5) as f32;
            let q = p.q_values(&x).unwrap().to_vec();
            assert_eq!(q.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), [z(0).to_bits(), z(1).to_bits()]);
            let mut out = [0.0; 3];
            norm.normalize_into(&x, &mut out);
            assert_eq!(out[..2], q[..]);
        }
        // (2 − 1)/2 = 0.5 (to f32 rounding of sqrt(4 + 1e-8)); 1/0.5 = 2 clipped to 1.5; −7 → −1.5.
        assert_eq!(p.q_values(&[2.0, 1.0, 0.0]).unwrap()[1], 1.5);
        assert_eq!(p.q_values(&[-7.0, -1.0, 0.0]).unwrap(), [-1.5, -1.5]);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let mut p = tiny(Activation::Relu, false);
        let e = p.act(&[1.0, 2.0], &[true, true]).unwrap_err();
        assert!(matches!(e, PolicyError::ObsLength { got: 2, expected: 3 }), "{e}");
        assert_eq!(e.to_string(), "observation has 2 values, expected 3 (the policy's obs_dim)");
        let e = p.act(&X, &[true]).unwrap_err();
        assert!(matches!(e, PolicyError::MaskLength { got: 1, expected: 2 }), "{e}");
        let e = p.act(&[1.0, f32::NAN, 0.0], &[true, true]).unwrap_err();
        assert!(matches!(e, PolicyError::NonFiniteObs { index: 1, .. }), "{e}");
        assert_eq!(e.to_string(), "observation[1] is NaN, expected a finite number");
        let e = p.q_values(&[1.0, 0.0, f32::INFINITY]).unwrap_err();
        assert!(matches!(e, PolicyError::NonFiniteObs { index: 2, .. }), "{e}");
        let e = p.act(&X, &[false, false]).unwrap_err();
        assert!(matches!(e, PolicyError::NoValidAction), "{e}");
        assert_eq!(e.to_string(), "mask is all false: no action is valid");
    }

    #[test]
    fn act_state_encodes_then_acts() {
        use crate::state::{NodeState, TaskRequest};
        let mut p = tiny(Activation::Relu, false);
        let node = |id, queued_work, up| NodeState {
            id,
            capacity: vec![1.0],
            usage: vec![0.0],
            speed: 2.0,
            up,
            queued_tasks: 1,
            queued_work,
            running_tasks: 1,
            running_work: 2.0,
        };
        // Loads 0 + 2/2 = 1 and 1 + 1 = 2, size 4: the observation X, so Q = [2.25, 4.5].
        let mut state = ClusterState {
            nodes: vec![node(0, 0.0, true), node(1, 1.0, true)],
            task: TaskRequest { id: 5, priority: 1.0, demands: vec![1.0], size: 4.0, allowed_nodes: None },
        };
        assert_eq!(p.act_state(&state).unwrap(), (1, &[2.25, 4.5][..]));
        // The better node is down: the other one, with every Q-value still reported.
        state.nodes[1].up = false;
        assert_eq!(p.act_state(&state).unwrap(), (0, &[2.25, 4.5][..]));
        state.nodes[0].up = false;
        let e = p.act_state(&state).unwrap_err();
        assert!(matches!(e, PolicyError::NoFeasibleNode { task: 5 }), "{e}");
    }

    #[test]
    fn batch_matches_single_rows() {
        let mut p = tiny(Activation::Gelu, true);
        let obs = array![[1.0f32, 2.0, 4.0], [0.0, -3.0, 0.5], [10.0, 1.0, -1.0]];
        let batch = p.q_values_batch(obs.view()).unwrap();
        assert_eq!(batch.dim(), (3, 2));
        for (row, q) in obs.rows().into_iter().zip(batch.rows()) {
            assert_eq!(p.q_values(row.as_slice().unwrap()).unwrap(), q.as_slice().unwrap());
        }
        // A strided view (columns reversed) is read correctly too.
        let reversed = obs.slice(ndarray::s![.., ..;-1]);
        let q = p.q_values_batch(reversed).unwrap();
        assert_eq!(q.row(0).to_vec(), p.q_values(&[4.0, 2.0, 1.0]).unwrap());
        let e = p.q_values_batch(Array2::zeros((2, 4)).view()).unwrap_err();
        assert!(matches!(e, PolicyError::ObsLength { got: 4, expected: 3 }), "{e}");
        let mut bad = obs.clone();
        bad[[2, 1]] = f32::NAN;
        let e = p.q_values_batch(bad.view()).unwrap_err();
        assert!(matches!(e, PolicyError::NonFiniteObs { index: 7, .. }), "{e}");
    }

    #[test]
    fn from_export_rejects_a_network_that_disagrees_with_its_metadata() {
        let mut export = tiny_export(Activation::Relu, false);
        export.mlp.activation = Activation::Tanh;
        let e = Policy::from_export(export).unwrap_err();
        assert_eq!(e.to_string(), "<in-memory export>: network.activation: is relu, but the network applies tanh");

        let mut export = tiny_export(Activation::Relu, false);
        export.mlp.head = Dense::new(Array2::zeros((3, 3)), ndarray::Array1::zeros(3));
        let e = Policy::from_export(export).unwrap_err();
        assert_eq!(e.to_string(), "<in-memory export>: tensor head.weight has shape [3, 3], expected [3, 2]");

        let mut export = tiny_export(Activation::Relu, true);
        export.meta.network.dueling = false;
        let e = Policy::from_export(export).unwrap_err();
        assert!(matches!(&e, PolicyError::UnexpectedTensor { name, .. } if name == "value.bias"), "{e}");

        let mut export = tiny_export(Activation::Relu, false);
        export.mlp.hidden[0].weight[[1, 2]] = f32::INFINITY;
        let e = Policy::from_export(export).unwrap_err();
        assert_eq!(
            e.to_string(),
            "<in-memory export>: tensor hidden.0.weight holds inf at flat index 5, expected finite weights"
        );
    }
}
