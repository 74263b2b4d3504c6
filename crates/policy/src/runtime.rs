//! [`Runtime`]: the network alone — normalisation, layers, Q-values, the greedy action —
//! computed without allocating and without any metadata.

use policy_core::{Activation, Dense, Mlp, Network, Normalization, masked_argmax};

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
///
/// A node-scoring network ([`Runtime::from_network`]) reads observations of any node count
/// `N ≥ 1` (`N·node_width + task_width` values) and returns `N` Q-values. Its per-node layers
/// run as matrix products over all nodes (four rows per weight load, AVX2 or AVX-512 code where
/// the CPU has it, the same bits everywhere); the task's and the summary's terms are computed
/// once per decision. Its buffers grow to the largest `N` seen and are reused after that, so
/// only a call with more nodes than ever before allocates. Q-values agree with
/// `NodeScoring::forward` to float rounding (the task's term is added in another order).
#[derive(Debug, Clone)]
pub struct Runtime {
    kind: Kind,
}

/// The network and the scratch buffers of its forward pass, per architecture.
// One runtime holds one of them for its whole life: boxing the larger would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Kind {
    Mlp { net: Net, scratch: Scratch },
    NodeScoring { net: NsNet, scratch: NsScratch },
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
        let norm = Norm::new(normalization, obs_dim, "network.obs_dim")?;
        let net = Net {
            norm,
            hidden: mlp.hidden.iter().map(Layer::new).collect(),
            head: Layer::new(&mlp.head),
            value: mlp.value.as_ref().map(Layer::new),
            activation: mlp.activation,
            obs_dim,
            n_actions: mlp.head.d_out,
        };
        Ok(Self { kind: Kind::Mlp { scratch: Scratch::new(&net), net } })
    }

    /// A runtime for a network of either architecture ([`Runtime::new`] for an MLP). A
    /// node-scoring network's `normalization` has `node_width + task_width` features: the first
    /// `node_width` normalise every node row, the rest the task row.
    ///
    /// # Errors
    /// As [`Runtime::new`] ([`policy_core::NodeScoring::validate`] for a node-scoring network).
    pub fn from_network(network: &Network, normalization: Option<&Normalization>) -> Result<Self> {
        let net = match network {
            Network::Mlp(mlp) => return Self::new(mlp, normalization),
            Network::NodeScoring(net) => net,
        };
        net.validate()?;
        let (w, t) = (net.node_width(), net.task_width());
        let norm = Norm::new(normalization, w + t, "node_width + task_width: one node row and the task row")?;
        let ns = NsNet {
            norm,
            embed_node: Layer::new(&net.embed_node),
            embed_task: Layer::new(&net.embed_task),
            embed: net.embed.iter().map(Layer::new).collect(),
            score_node: Layer::new(&net.score_node),
            score_pool: Layer::new(&net.score_pool),
            head: Layer::new(&net.head),
            value: net.value.as_ref().map(Layer::new),
            activation: net.activation,
            node_width: w,
            task_width: t,
            embed_width: net.embed_width(),
        };
        Ok(Self { kind: Kind::NodeScoring { scratch: NsScratch::new(&ns), net: ns } })
    }

    /// Length of an observation (the network's input width). A node-scoring runtime reads any
    /// node count ([`Runtime::n_nodes_of`]); for it this is the length of a one-node
    /// observation, `node_width + task_width`.
    pub fn obs_dim(&self) -> usize {
        match &self.kind {
            Kind::Mlp { net, .. } => net.obs_dim,
            Kind::NodeScoring { net, .. } => net.node_width + net.task_width,
        }
    }

    /// Number of actions (the network's output width). A node-scoring runtime has one action
    /// per node of the observation; for it this is 1, the actions of a one-node observation.
    pub fn n_actions(&self) -> usize {
        match &self.kind {
            Kind::Mlp { net, .. } => net.n_actions,
            Kind::NodeScoring { .. } => 1,
        }
    }

    /// The node and task row widths of a node-scoring runtime (`None` for an MLP, which reads
    /// one fixed observation length).
    pub fn node_scoring_widths(&self) -> Option<(usize, usize)> {
        match &self.kind {
            Kind::Mlp { .. } => None,
            Kind::NodeScoring { net, .. } => Some((net.node_width, net.task_width)),
        }
    }

    /// The number of actions (nodes) of an observation of `obs_len` values: an MLP's
    /// `n_actions` if `obs_len` is its `obs_dim`; for a node-scoring network, `n` if `obs_len`
    /// is `n·node_width + task_width` with `n ≥ 1`.
    ///
    /// # Errors
    /// [`PolicyError::ObsLength`] (MLP), [`PolicyError::NodeRows`] (node-scoring).
    pub fn n_nodes_of(&self, obs_len: usize) -> Result<usize> {
        match &self.kind {
            Kind::Mlp { net, .. } if obs_len == net.obs_dim => Ok(net.n_actions),
            Kind::Mlp { net, .. } => Err(PolicyError::ObsLength { got: obs_len, expected: net.obs_dim }),
            Kind::NodeScoring { net, .. } => net.n_nodes_of(obs_len),
        }
    }

    /// Q-values of one raw observation (normalised here when the runtime has normalisation):
    /// one per action, for a node-scoring runtime one per node of the observation.
    ///
    /// # Errors
    /// [`PolicyError::ObsLength`] or [`PolicyError::NodeRows`], [`PolicyError::NonFiniteObs`].
    pub fn q_values(&mut self, obs: &[f32]) -> Result<&[f32]> {
        match &mut self.kind {
            Kind::Mlp { net, scratch } => {
                check_obs(obs, net.obs_dim, 0)?;
                net.forward(obs, scratch);
                Ok(&scratch.q)
            }
            Kind::NodeScoring { net, scratch } => {
                let n = net.n_nodes_of(obs.len())?;
                check_obs(obs, obs.len(), 0)?;
                net.forward(obs, n, scratch);
                Ok(&scratch.q[..n])
            }
        }
    }

    /// The greedy action: the valid (`mask[a]`) action with the largest Q-value, the lowest
    /// index on ties (NaN Q-values lose), as the trainer's `masked_argmax` picks it. For a
    /// node-scoring runtime the mask has one value per node of the observation.
    ///
    /// # Errors
    /// [`PolicyError::ObsLength`] or [`PolicyError::NodeRows`], [`PolicyError::MaskLength`],
    /// [`PolicyError::NonFiniteObs`], [`PolicyError::NoValidAction`].
    pub fn act(&mut self, obs: &[f32], mask: &[bool]) -> Result<usize> {
        let n = self.n_nodes_of(obs.len())?;
        check_obs(obs, obs.len(), 0)?;
        if mask.len() != n {
            return Err(PolicyError::MaskLength { got: mask.len(), expected: n });
        }
        if !mask.contains(&true) {
            return Err(PolicyError::NoValidAction);
        }
        let q = match &mut self.kind {
            Kind::Mlp { net, scratch } => {
                net.forward(obs, scratch);
                &scratch.q[..]
            }
            Kind::NodeScoring { net, scratch } => {
                net.forward(obs, n, scratch);
                &scratch.q[..n]
            }
        };
        masked_argmax(q, mask).ok_or(PolicyError::NoValidAction)
    }

    /// Q-values of a batch of raw observations, for evaluation (allocates; the same arithmetic
    /// as [`Runtime::q_values`], row by row, so the results are identical). For a node-scoring
    /// runtime the observations have one length, `obs.len() / batch`, of any node count.
    ///
    /// # Shapes
    /// - `obs`: `[batch, obs_dim]`, row-major
    /// - output: `[batch, n_actions]`, row-major
    ///
    /// # Errors
    /// [`PolicyError::BatchLength`] (MLP) or [`PolicyError::BatchRows`] and
    /// [`PolicyError::NodeRows`] (node-scoring), [`PolicyError::NonFiniteObs`] (with the
    /// row-major index into the batch).
    pub fn q_values_batch(&self, obs: &[f32], batch: usize) -> Result<Vec<f32>> {
        let dim = match &self.kind {
            Kind::Mlp { net, .. } => {
                if batch.checked_mul(net.obs_dim) != Some(obs.len()) {
                    return Err(PolicyError::BatchLength { got: obs.len(), batch, obs_dim: net.obs_dim });
                }
                net.obs_dim
            }
            Kind::NodeScoring { .. } if batch == 0 && obs.is_empty() => return Ok(Vec::new()),
            Kind::NodeScoring { .. } => {
                if batch == 0 || !obs.len().is_multiple_of(batch) {
                    return Err(PolicyError::BatchRows { got: obs.len(), batch });
                }
                obs.len() / batch
            }
        };
        let n = self.n_nodes_of(dim)?;
        let mut runtime = self.clone();
        let mut out = Vec::with_capacity(batch * n);
        for (i, row) in obs.chunks_exact(dim).enumerate() {
            check_obs(row, dim, i * dim)?;
            out.extend_from_slice(runtime.q_values(row)?);
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

impl Norm {
    /// The cached form of `normalization` for `width` features (`width_is` names where the
    /// width comes from, for errors).
    fn new(normalization: Option<&Normalization>, width: usize, width_is: &str) -> Result<Option<Self>> {
        let Some(n) = normalization else { return Ok(None) };
        check_normalization(n, width, width_is)
            .map_err(|(field, message)| PolicyError::Normalization { field, message })?;
        Ok(Some(Norm {
            mean: n.mean.clone(),
            // Dividing by the same f64 square root the trainer computes each time gives the
            // same bits; it is cached, not turned into a reciprocal (which would not).
            denom: n.var.iter().map(|v| (v + n.epsilon).sqrt()).collect(),
            clip: n.clip,
        }))
    }

    /// Writes the normalised `x` into `out`, feature `j` with statistic `offset + j`.
    #[inline]
    fn apply(&self, x: &[f32], offset: usize, out: &mut [f32]) {
        let (mean, denom) = (&self.mean[offset..offset + x.len()], &self.denom[offset..offset + x.len()]);
        for (((z, &v), &m), &d) in out.iter_mut().zip(x).zip(mean).zip(denom) {
            *z = ((f64::from(v) - m) / d).clamp(-self.clip, self.clip) as f32;
        }
    }
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
            Some(n) => n.apply(obs, 0, x),
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

impl Layer {
    /// `y_r = bias + x_r·W` for the `n` rows `x_r = x[r·x_stride..][..d_in]`, each written as
    /// `stride` values at `y[r·stride..]` (padding outputs: `bias` padding, 0). `bias` is
    /// `stride` long: the layer's own, or one with a per-decision term added.
    ///
    /// Rows are computed four at a time: each weight is loaded once for four rows, which is
    /// what makes scoring a thousand nodes a matrix product rather than a thousand
    /// memory-bound vector products. (No zero skipping here: four rows rarely share zeros.)
    ///
    /// The arithmetic is the same on every CPU: each output is `bias + Σ_i x_i·w_i` summed in
    /// order of `i`, a multiply then an add (Rust never fuses them), so the same bits come out
    /// of SSE2, AVX2 and AVX-512. Where the CPU has the wider registers, the same code is
    /// compiled for them and run with more outputs per block.
    fn rows(&self, x: &[f32], x_stride: usize, n: usize, bias: &[f32], y: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU supports AVX-512F, checked just above.
                unsafe { self.rows_avx512(x, x_stride, n, bias, y) };
                return;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2, checked just above.
                unsafe { self.rows_avx2(x, x_stride, n, bias, y) };
                return;
            }
        }
        self.rows_with::<LANES>(x, x_stride, n, bias, y);
    }

    /// [`Layer::rows`] compiled for AVX-512: 4 rows × 2 × 16 outputs in 8 zmm accumulators,
    /// kept as two arrays (one `[[f32; 32]; 4]` measured 10× slower: the compiler spills it).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn rows_avx512(&self, x: &[f32], x_stride: usize, n: usize, bias: &[f32], y: &mut [f32]) {
        if self.stride.is_multiple_of(32) {
            self.rows_pairs::<16>(x, x_stride, n, bias, y);
        } else if self.stride.is_multiple_of(16) {
            self.rows_with::<16>(x, x_stride, n, bias, y);
        } else {
            self.rows_with::<LANES>(x, x_stride, n, bias, y);
        }
    }

    /// [`Layer::rows`] compiled for AVX2: 4 rows × 2 × 8 outputs are 8 ymm accumulators.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn rows_avx2(&self, x: &[f32], x_stride: usize, n: usize, bias: &[f32], y: &mut [f32]) {
        if self.stride.is_multiple_of(16) {
            self.rows_pairs::<8>(x, x_stride, n, bias, y);
        } else {
            self.rows_with::<LANES>(x, x_stride, n, bias, y);
        }
    }

    /// [`Layer::rows`] in blocks of `L` outputs (`L` divides `stride`).
    #[inline(always)]
    fn rows_with<const L: usize>(&self, x: &[f32], x_stride: usize, n: usize, bias: &[f32], y: &mut [f32]) {
        let mut r = 0;
        while r + ROWS <= n {
            self.rows_block::<ROWS, L>(x, x_stride, r, bias, y);
            r += ROWS;
        }
        while r < n {
            self.rows_block::<1, L>(x, x_stride, r, bias, y);
            r += 1;
        }
    }

    /// [`Layer::rows`] in blocks of `2·H` outputs (`2·H` divides `stride`), each block's two
    /// halves in separate accumulators: one weight load of each half serves `ROWS` rows, and
    /// each broadcast input serves both halves.
    #[inline(always)]
    fn rows_pairs<const H: usize>(&self, x: &[f32], x_stride: usize, n: usize, bias: &[f32], y: &mut [f32]) {
        let mut r = 0;
        while r + ROWS <= n {
            self.rows_block_pair::<ROWS, H>(x, x_stride, r, bias, y);
            r += ROWS;
        }
        while r < n {
            self.rows_block_pair::<1, H>(x, x_stride, r, bias, y);
            r += 1;
        }
    }

    /// Rows `r0..r0 + R` of [`Layer::rows_pairs`]: outputs `j..j + H` in `lo`, `j + H..j + 2H`
    /// in `hi`, each the same sum in the same order as [`Layer::rows_block`]'s.
    #[inline(always)]
    fn rows_block_pair<const R: usize, const H: usize>(
        &self,
        x: &[f32],
        x_stride: usize,
        r0: usize,
        bias: &[f32],
        y: &mut [f32],
    ) {
        let d_in = self.d_in;
        let xs: [&[f32]; R] = std::array::from_fn(|k| &x[(r0 + k) * x_stride..][..d_in]);
        let weight = &self.weight[..d_in * self.stride];
        let mut j = 0;
        while j + 2 * H <= self.stride {
            let (mut lo, mut hi) = ([[0.0f32; H]; R], [[0.0f32; H]; R]);
            for (l, h) in lo.iter_mut().zip(&mut hi) {
                l.copy_from_slice(&bias[j..j + H]);
                h.copy_from_slice(&bias[j + H..j + 2 * H]);
            }
            for (i, row) in weight.chunks_exact(self.stride).enumerate() {
                let w_lo: &[f32; H] = row[j..j + H].try_into().expect("H values");
                let w_hi: &[f32; H] = row[j + H..j + 2 * H].try_into().expect("H values");
                for ((l, h), xr) in lo.iter_mut().zip(&mut hi).zip(&xs) {
                    let xi = xr[i];
                    for (a, &w) in l.iter_mut().zip(w_lo) {
                        *a += xi * w;
                    }
                    for (a, &w) in h.iter_mut().zip(w_hi) {
                        *a += xi * w;
                    }
                }
            }
            for (k, (l, h)) in lo.iter().zip(&hi).enumerate() {
                let out = &mut y[(r0 + k) * self.stride + j..][..2 * H];
                out[..H].copy_from_slice(l);
                out[H..].copy_from_slice(h);
            }
            j += 2 * H;
        }
    }

    /// Rows `r0..r0 + R` of [`Layer::rows`], `L` outputs at a time in `R·L` accumulators.
    #[inline(always)]
    fn rows_block<const R: usize, const L: usize>(
        &self,
        x: &[f32],
        x_stride: usize,
        r0: usize,
        bias: &[f32],
        y: &mut [f32],
    ) {
        let d_in = self.d_in;
        let xs: [&[f32]; R] = std::array::from_fn(|k| &x[(r0 + k) * x_stride..][..d_in]);
        let weight = &self.weight[..d_in * self.stride];
        let mut j = 0;
        while j + L <= self.stride {
            let mut acc = [[0.0f32; L]; R];
            for a in &mut acc {
                a.copy_from_slice(&bias[j..j + L]);
            }
            for (i, row) in weight.chunks_exact(self.stride).enumerate() {
                let w: &[f32; L] = row[j..j + L].try_into().expect("L values");
                for (a, xr) in acc.iter_mut().zip(&xs) {
                    let xi = xr[i];
                    for (al, &wl) in a.iter_mut().zip(w) {
                        *al += xi * wl;
                    }
                }
            }
            for (k, a) in acc.iter().enumerate() {
                y[(r0 + k) * self.stride + j..][..L].copy_from_slice(a);
            }
            j += L;
        }
    }
}

/// Node rows computed together by [`Layer::rows`]: each weight loaded serves four rows.
const ROWS: usize = 4;

/// A node-scoring network, weights flattened row-major for [`Layer`]'s kernels.
#[derive(Debug, Clone)]
struct NsNet {
    /// Statistics of one node row, then of the task row.
    norm: Option<Norm>,
    embed_node: Layer,
    /// Bias-free (checked at load).
    embed_task: Layer,
    embed: Vec<Layer>,
    score_node: Layer,
    /// Bias-free (checked at load).
    score_pool: Layer,
    /// One output per node (padded to a block, like every layer).
    head: Layer,
    value: Option<Layer>,
    activation: Activation,
    node_width: usize,
    task_width: usize,
    /// `h`, the width of a node's embedding.
    embed_width: usize,
}

/// Buffers of one node-scoring forward pass. The per-node ones grow to the largest node
/// count seen and are then reused, so after a warm-up call at the largest size no call
/// allocates.
#[derive(Debug, Clone)]
struct NsScratch {
    /// The normalised observation, `[N·node_width + task_width]`.
    x: Vec<f32>,
    /// Per-node activations, ping-pong: `[N, stride]` with the widest layer's stride.
    a: Vec<f32>,
    b: Vec<f32>,
    /// Q-values, `[N]` (the first N of a longer buffer).
    q: Vec<f32>,
    /// The task's term of the first layer, then that plus the layer's bias (padded).
    task: Vec<f32>,
    first_bias: Vec<f32>,
    /// `[mean e, max e]`, `2h`.
    summary: Vec<f32>,
    /// The summary's term of the scoring layer, then that plus the layer's bias (padded).
    pool: Vec<f32>,
    score_bias: Vec<f32>,
    /// The value head's padded output.
    value: Vec<f32>,
    /// Gathered inputs of a single-row layer ([`Layer::forward`]).
    active_x: Vec<f32>,
    active_row: Vec<usize>,
}

impl NsScratch {
    fn new(net: &NsNet) -> Self {
        let single = [&net.embed_task, &net.score_pool].into_iter().chain(&net.value);
        let gather = single.map(|l| l.d_in).max().unwrap_or(0);
        Self {
            x: Vec::new(),
            a: Vec::new(),
            b: Vec::new(),
            q: Vec::new(),
            task: vec![0.0; net.embed_task.stride],
            first_bias: vec![0.0; net.embed_node.stride],
            summary: vec![0.0; 2 * net.embed_width],
            pool: vec![0.0; net.score_pool.stride],
            score_bias: vec![0.0; net.score_node.stride],
            value: vec![0.0; net.value.as_ref().map_or(0, |v| v.stride)],
            active_x: vec![0.0; gather],
            active_row: vec![0; gather],
        }
    }

    /// Makes the per-node buffers hold `n` nodes (allocating only above the largest `n` seen).
    fn fit(&mut self, net: &NsNet, n: usize) {
        let layers = [&net.embed_node, &net.score_node].into_iter().chain(&net.embed);
        let stride = layers.map(|l| l.stride).max().unwrap_or(0);
        let grow = |v: &mut Vec<f32>, len: usize| {
            if v.len() < len {
                v.resize(len, 0.0);
            }
        };
        grow(&mut self.x, n * net.node_width + net.task_width);
        grow(&mut self.a, n * stride);
        grow(&mut self.b, n * stride);
        grow(&mut self.q, n);
    }
}

impl NsNet {
    /// See [`Runtime::n_nodes_of`].
    fn n_nodes_of(&self, obs_len: usize) -> Result<usize> {
        let (w, t) = (self.node_width, self.task_width);
        match obs_len.checked_sub(t) {
            Some(rows) if rows > 0 && rows.is_multiple_of(w) => Ok(rows / w),
            _ => Err(PolicyError::NodeRows { got: obs_len, node_width: w, task_width: t }),
        }
    }

    /// Writes the Q-values of `obs` (checked: `n` node rows and the task row, finite) into
    /// `s.q[..n]`, following `policy_core::node_scoring`: the task's and the summary's terms
    /// are computed once and folded into the per-node layers' biases.
    fn forward(&self, obs: &[f32], n: usize, s: &mut NsScratch) {
        s.fit(self, n);
        let (w, h) = (self.node_width, self.embed_width);
        let split = n * w;
        let x = &mut s.x[..obs.len()];
        match &self.norm {
            Some(norm) => {
                for (row, out) in obs[..split].chunks_exact(w).zip(x[..split].chunks_exact_mut(w)) {
                    norm.apply(row, 0, out);
                }
                norm.apply(&obs[split..], w, &mut x[split..]);
            }
            None => x.copy_from_slice(obs),
        }
        // First embedding layer: the task's term once, added to the node part's bias.
        self.embed_task.forward(&x[split..], &mut s.task, &mut s.active_x, &mut s.active_row);
        for ((b, &bias), &t) in s.first_bias.iter_mut().zip(&self.embed_node.bias).zip(&s.task) {
            *b = bias + t;
        }
        let mut stride = self.embed_node.stride;
        self.embed_node.rows(x, w, n, &s.first_bias, &mut s.a);
        // Padding columns are 0 and every activation maps 0 to 0: activate whole rows.
        self.activation.apply_slice(&mut s.a[..n * stride]);
        for layer in &self.embed {
            layer.rows(&s.a, stride, n, &layer.bias, &mut s.b);
            stride = layer.stride;
            self.activation.apply_slice(&mut s.b[..n * stride]);
            std::mem::swap(&mut s.a, &mut s.b);
        }
        // The summary: mean and max of every node's embedding.
        let (mean, max) = s.summary.split_at_mut(h);
        mean.fill(0.0);
        max.fill(f32::NEG_INFINITY);
        for e in s.a[..n * stride].chunks_exact(stride) {
            for ((m, x), &v) in mean.iter_mut().zip(max.iter_mut()).zip(&e[..h]) {
                *m += v;
                *x = x.max(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f32);
        // Scoring layer: the summary's term once, added to the node part's bias.
        self.score_pool.forward(&s.summary, &mut s.pool, &mut s.active_x, &mut s.active_row);
        for ((b, &bias), &p) in s.score_bias.iter_mut().zip(&self.score_node.bias).zip(&s.pool) {
            *b = bias + p;
        }
        self.score_node.rows(&s.a, stride, n, &s.score_bias, &mut s.b);
        let score_stride = self.score_node.stride;
        self.activation.apply_slice(&mut s.b[..n * score_stride]);
        // The head through the row kernel too: a plain dot product per node would be one
        // chain of dependent additions (float sums cannot be reordered), far slower. The
        // embeddings in `s.a` are no longer needed, so it holds the head's padded outputs.
        self.head.rows(&s.b, score_stride, n, &self.head.bias, &mut s.a);
        for (q, a) in s.q[..n].iter_mut().zip(s.a.chunks_exact(self.head.stride)) {
            *q = a[0];
        }
        if let Some(value) = &self.value {
            value.forward(&s.summary, &mut s.value, &mut s.active_x, &mut s.active_row);
            let q = &mut s.q[..n];
            // Q = (A − mean A) + V, the reference's order.
            let mean = q.iter().sum::<f32>() / n as f32;
            let v = s.value[0];
            q.iter_mut().for_each(|a| *a = (*a - mean) + v);
        }
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
    use policy_core::NodeScoring;

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
        Export {
            meta: PolicyMeta::new("tiny", Source::default(), mlp.shape(), None, park2()),
            network: Network::Mlp(mlp),
        }
    }

    /// The MLP of an MLP export's network (tests edit it).
    pub(crate) fn mlp_mut(network: &mut Network) -> &mut Mlp {
        match network {
            Network::Mlp(mlp) => mlp,
            Network::NodeScoring(_) => panic!("an MLP export"),
        }
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

    /// A deterministic pseudo-random node-scoring network (an LCG) with `w`-value node rows,
    /// `t`-value task rows and `hidden` = `[h_0, …, h_k, s]`; biases of the bias-free halves 0.
    pub(crate) fn random_ns(
        w: usize,
        t: usize,
        hidden: &[usize],
        dueling: bool,
        activation: Activation,
        seed: u64,
    ) -> NodeScoring {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
        let mut draw = move |n: usize, scale: f32| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
                })
                .collect()
        };
        // PyTorch's U(−1/√fan_in, 1/√fan_in), so activations see realistic magnitudes.
        let mut dense = |i: usize, o: usize, zero_bias: bool| {
            let bound = 1.0 / (i as f32).sqrt();
            let weight = draw(i * o, bound);
            let bias = if zero_bias { vec![0.0; o] } else { draw(o, bound) };
            Dense::new(i, o, weight, bias).unwrap()
        };
        let (embeds, s) = hidden.split_at(hidden.len() - 1);
        let h = *embeds.last().unwrap();
        NodeScoring {
            embed_node: dense(w, embeds[0], false),
            embed_task: dense(t, embeds[0], true),
            embed: embeds.windows(2).map(|p| dense(p[0], p[1], false)).collect(),
            score_node: dense(h, s[0], false),
            score_pool: dense(2 * h, s[0], true),
            head: dense(s[0], 1, false),
            value: dueling.then(|| dense(2 * h, 1, false)),
            activation,
        }
    }

    /// An observation of `n` nodes: node features in [0, 2) (some exactly 0), task in [0, 4).
    pub(crate) fn ns_observation(n: usize, w: usize, t: usize, seed: usize) -> Vec<f32> {
        (0..n * w + t)
            .map(|k| {
                if (k + seed).is_multiple_of(7) {
                    0.0
                } else {
                    (((k * 31 + seed * 17) as f32) * 0.37).sin().abs() * 2.0
                }
            })
            .collect()
    }

    #[test]
    fn node_scoring_by_hand() {
        // policy-core's hand-checked network: node rows of 2, a task row of 1, relu.
        // embed_node [[1, 0], [0, 1]] + [0, −1]; embed_task [[1, 1]]; score_node [[1], [−1]] +
        // 0.5; score_pool picks max e_0; head 2z − 1; value: mean e_0 + mean e_1.
        let tiny = |dueling: bool| NodeScoring {
            embed_node: Dense::new(2, 2, vec![1.0, 0.0, 0.0, 1.0], vec![0.0, -1.0]).unwrap(),
            embed_task: Dense::new(1, 2, vec![1.0, 1.0], vec![0.0, 0.0]).unwrap(),
            embed: vec![],
            score_node: Dense::new(2, 1, vec![1.0, -1.0], vec![0.5]).unwrap(),
            score_pool: Dense::new(4, 1, vec![0.0, 0.0, 1.0, 0.0], vec![0.0]).unwrap(),
            head: Dense::new(1, 1, vec![2.0], vec![-1.0]).unwrap(),
            value: dueling.then(|| Dense::new(4, 1, vec![1.0, 1.0, 0.0, 0.0], vec![0.0]).unwrap()),
            activation: Activation::Relu,
        };
        let mut r = Runtime::from_network(&Network::NodeScoring(tiny(false)), None).unwrap();
        // Nodes [1, 3], [2, 0], task 1: e = [2, 3], [3, 0]; max e_0 = 3; z = 2.5, 6.5; A = 4, 12.
        let obs = [1.0, 3.0, 2.0, 0.0, 1.0];
        assert_eq!(r.q_values(&obs).unwrap(), [4.0, 12.0]);
        assert_eq!(r.act(&obs, &[true, true]).unwrap(), 1);
        assert_eq!(r.act(&obs, &[true, false]).unwrap(), 0);
        // One node: e = [2, 3], pool 2, z = 1.5, A = 2.
        assert_eq!(r.q_values(&[1.0, 3.0, 1.0]).unwrap(), [2.0]);
        // Back to two nodes after one: the buffers are reused, nothing stale.
        assert_eq!(r.q_values(&obs).unwrap(), [4.0, 12.0]);
        assert_eq!(r.node_scoring_widths(), Some((2, 1)));
        assert_eq!((r.obs_dim(), r.n_actions()), (3, 1));
        assert_eq!(r.n_nodes_of(2001).unwrap(), 1000);
        // Dueling: V = 2.5 + 1.5 = 4, mean A = 8, Q = A − 8 + 4.
        let mut r = Runtime::from_network(&Network::NodeScoring(tiny(true)), None).unwrap();
        assert_eq!(r.q_values(&obs).unwrap(), [0.0, 8.0]);
    }

    /// At every size, for every activation, dueling or not, normalised or not: the reference
    /// forward pass's Q-values within 1e-5, and the same masked greedy node.
    #[test]
    fn node_scoring_matches_the_reference_at_any_size() {
        let (w, t) = (6, 4);
        let acts = [Activation::Relu, Activation::Tanh, Activation::LeakyRelu, Activation::Gelu, Activation::Silu];
        let mut worst = 0.0f32;
        for (k, activation) in acts.into_iter().enumerate() {
            for dueling in [false, true] {
                for normalised in [false, true] {
                    // Widths around the kernels' blocks: 8-wide lanes, 4-row blocks.
                    let hidden: &[usize] = if k % 2 == 0 { &[64, 64, 64] } else { &[13, 9, 7] };
                    let net = random_ns(w, t, hidden, dueling, activation, k as u64 * 4 + u64::from(dueling));
                    let norm = normalised.then(|| Normalization {
                        mean: (0..w + t).map(|j| 0.5 + j as f64 * 0.1).collect(),
                        var: (0..w + t).map(|j| 0.2 + j as f64 * 0.05).collect(),
                        epsilon: 1e-8,
                        clip: 2.5,
                    });
                    let mut r = Runtime::from_network(&Network::NodeScoring(net.clone()), norm.as_ref()).unwrap();
                    for n in [1, 3, 12, 100, 1000] {
                        let obs = ns_observation(n, w, t, n + k);
                        let mut z = obs.clone();
                        if let Some(m) = &norm {
                            policy_core::normalize_nodes_into(&obs, &m.mean, &m.var, m.epsilon, m.clip, w, &mut z);
                        }
                        let want = net.forward(&z, None);
                        let got = r.q_values(&obs).unwrap().to_vec();
                        assert_eq!(got.len(), n);
                        for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                            let err = (g - e).abs() / e.abs().max(1.0);
                            worst = worst.max(err);
                            assert!(
                                err <= 1e-5,
                                "{activation:?} dueling {dueling} norm {normalised} n {n} node {i}: {g} vs {e}"
                            );
                        }
                        let mask: Vec<bool> = (0..n).map(|i| n == 1 || (i * 7 + k) % 5 != 0).collect();
                        assert_eq!(r.act(&obs, &mask).unwrap(), masked_argmax(&want, &mask).unwrap(), "n {n}");
                    }
                }
            }
        }
        assert!(worst > 0.0, "the kernel sums in another order: some rounding difference is expected");
    }

    #[test]
    fn node_scoring_node_counts_it_cannot_serve_are_errors() {
        let mut r =
            Runtime::from_network(&Network::NodeScoring(random_ns(3, 2, &[8, 8], true, Activation::Relu, 1)), None)
                .unwrap();
        for len in [0, 1, 2, 4, 9] {
            let e = r.q_values(&vec![0.5; len]).unwrap_err();
            assert!(
                matches!(e, PolicyError::NodeRows { got, node_width: 3, task_width: 2 } if got == len),
                "{len}: {e}"
            );
        }
        assert_eq!(
            r.act(&[0.0; 2], &[]).unwrap_err().to_string(),
            "observation has 2 values, expected n·3 + 2 for a node count n ≥ 1 (a node-scoring policy reads 3 \
             values per node, then 2 for the task)"
        );
        let obs = ns_observation(4, 3, 2, 0);
        let e = r.act(&obs, &[true; 3]).unwrap_err();
        assert!(matches!(e, PolicyError::MaskLength { got: 3, expected: 4 }), "{e}");
        let mut bad = obs.clone();
        bad[13] = f32::NAN;
        assert!(matches!(r.q_values(&bad).unwrap_err(), PolicyError::NonFiniteObs { index: 13, .. }));
        assert!(matches!(r.act(&obs, &[false; 4]).unwrap_err(), PolicyError::NoValidAction));
        // A batch: rows of one length, any node count; the same values as one at a time.
        let two = [obs.clone(), ns_observation(4, 3, 2, 5)].concat();
        let batch = r.q_values_batch(&two, 2).unwrap();
        assert_eq!(batch[..4], *r.q_values(&obs).unwrap());
        assert_eq!(batch[4..], *r.q_values(&two[14..]).unwrap());
        assert!(r.q_values_batch(&[], 0).unwrap().is_empty());
        let e = r.q_values_batch(&two[..27], 2).unwrap_err();
        assert_eq!(e.to_string(), "batch has 27 values, which is not 2 observations of equal length");
        assert!(matches!(r.q_values_batch(&two[..24], 2).unwrap_err(), PolicyError::NodeRows { got: 12, .. }));
        // Normalisation of one node row and the task row, not of a whole observation.
        let net = Network::NodeScoring(random_ns(3, 2, &[8, 8], false, Activation::Relu, 2));
        let norm = Normalization { mean: vec![0.0; 8], var: vec![1.0; 8], epsilon: 1e-8, clip: 5.0 };
        let e = Runtime::from_network(&net, Some(&norm)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "normalization: mean: has 8 values, expected 5 (node_width + task_width: one node row and the task row)"
        );
    }

    /// The row kernel gives the same bits on every instruction set (the wide paths run where
    /// the CPU has them), equal to the single-row reference `Dense::forward_into` up to the
    /// order of a sum, for widths around the 8 and 16 blocks and node counts around 4.
    #[test]
    fn the_row_kernel_is_the_same_on_every_instruction_set() {
        for (d_in, d_out) in [(7, 64), (13, 13), (64, 40), (5, 16), (33, 1)] {
            let weight = (0..d_in * d_out).map(|k| ((k * 37) as f32 * 0.29).sin()).collect();
            let dense = Dense::new(d_in, d_out, weight, (0..d_out).map(|j| j as f32 * 0.01).collect()).unwrap();
            let layer = Layer::new(&dense);
            for n in [1, 3, 4, 9] {
                let x: Vec<f32> = (0..n * d_in).map(|k| ((k * 13) as f32 * 0.71).cos()).collect();
                let (mut fast, mut plain) = (vec![0.0; n * layer.stride], vec![0.0; n * layer.stride]);
                layer.rows(&x, d_in, n, &layer.bias, &mut fast);
                layer.rows_with::<LANES>(&x, d_in, n, &layer.bias, &mut plain);
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&fast), bits(&plain), "{d_in}x{d_out}, {n} rows");
                for r in 0..n {
                    let mut want = vec![0.0; d_out];
                    dense.forward_into(&x[r * d_in..(r + 1) * d_in], &mut want);
                    for (g, w) in fast[r * layer.stride..][..d_out].iter().zip(&want) {
                        assert_eq!(g.to_bits(), w.to_bits(), "{d_in}x{d_out} row {r}: same order, same bits");
                    }
                }
            }
        }
    }

    #[test]
    fn runtime_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone>() {}
        check::<Runtime>();
    }
}
