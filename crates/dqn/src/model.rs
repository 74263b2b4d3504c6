//! The Q-network: an MLP from observations to one Q-value per action, or a node-scoring
//! network that scores every node with the same weights; either optionally dueling. Its
//! shape is [`NetworkShape`] and its activations [`Activation`], both from `policy_core`, so a
//! checkpoint and an export describe the same network with the same words.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation;
use burn::tensor::{Device, Tensor, TensorData};
use policy_core::{Activation, Architecture, Dense, Mlp, Network, NetworkShape, NodeScoring};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::DqnError;

/// Applies `activation` to a tensor with burn's kernels (the formulas `policy_core`'s scalar
/// [`Activation::apply`] reproduces for the exported runtime).
fn apply<const D: usize>(activation: Activation, x: Tensor<D>) -> Tensor<D> {
    match activation {
        Activation::Relu => activation::relu(x),
        Activation::Tanh => activation::tanh(x),
        Activation::LeakyRelu => activation::leaky_relu(x, 0.01),
        Activation::Gelu => activation::gelu(x),
        Activation::Silu => activation::silu(x),
    }
}

fn linear(d_in: usize, d_out: usize, device: &Device, rng: &mut ChaCha8Rng) -> Linear {
    linear_fan(d_in, d_out, d_in, true, device, rng)
}

/// A `[d_in, d_out]` layer drawn from `U(−1/√fan_in, 1/√fan_in)` (the bias too, if it has one):
/// `fan_in` is larger than `d_in` for one part of a split layer.
fn linear_fan(d_in: usize, d_out: usize, fan_in: usize, bias: bool, device: &Device, rng: &mut ChaCha8Rng) -> Linear {
    let bound = 1.0 / (fan_in as f32).sqrt();
    let mut draw = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
    let weight = draw(d_in * d_out);
    let bias = bias.then(|| draw(d_out));
    Linear {
        weight: Param::from_tensor(Tensor::from_data(TensorData::new(weight, [d_in, d_out]), device)),
        bias: bias.map(|b| Param::from_tensor(Tensor::from_data(TensorData::new(b, [d_out]), device))),
    }
}

/// How a node-scoring network reads the flat observation: `N` node rows of `node_width`
/// values, then the task row of `task_width` values; `present_column`, if any, is the
/// position within a node row of a value that is > 0 for every real node and 0 in a padded
/// row (clusters of several sizes padded to the largest), so pooling skips padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeRows {
    /// Values per node row.
    pub node_width: usize,
    /// Values of the task row.
    pub task_width: usize,
    /// Column of a node row that is > 0 exactly for real nodes (`None`: every row is real).
    pub present_column: Option<usize>,
    /// Column of a node row that is 1 where the task fits now and 0 elsewhere, which the
    /// `fits-now` action filter reads (`None`: the observation has no such column). Absent in
    /// checkpoints written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fits_now_column: Option<usize>,
}

impl NodeRows {
    /// Number of node rows in an observation of `obs_dim` values, if it is a whole number
    /// (at least one) of node rows followed by the task row.
    pub fn n_nodes(&self, obs_dim: usize) -> Option<usize> {
        let nodes = obs_dim.checked_sub(self.task_width)?;
        (self.node_width > 0 && nodes > 0 && nodes.is_multiple_of(self.node_width)).then_some(nodes / self.node_width)
    }

    /// Writes `1.0` for each real node and `0.0` for each padded one of every observation in
    /// `obs` (`[batch, obs_dim]`, raw: before normalisation) into `out` (`[batch, N]`).
    pub fn presence_into(&self, obs: &[f32], obs_dim: usize, out: &mut Vec<f32>) {
        let n = self.n_nodes(obs_dim).unwrap_or(0);
        out.clear();
        for row in obs.chunks_exact(obs_dim) {
            match self.present_column {
                Some(c) => out.extend(
                    row[..n * self.node_width]
                        .chunks_exact(self.node_width)
                        .map(|node| if node[c] > 0.0 { 1.0 } else { 0.0 }),
                ),
                None => out.extend(std::iter::repeat_n(1.0, n)),
            }
        }
    }
}

/// The layers of a node-scoring network besides the head and the value head (which
/// [`QNetwork`] holds for both architectures): the embedding, split into the node part and
/// the task part of its first layer, and the scoring layer, split into the node part and the
/// summary part. See `policy_core::NodeScoring` for the arithmetic.
#[derive(Module, Debug)]
pub struct ScoringBody {
    /// First embedding layer, node part (with the layer's bias).
    pub embed_node: Linear,
    /// First embedding layer, task part (no bias).
    pub embed_task: Linear,
    /// Further embedding layers.
    pub embed: Vec<Linear>,
    /// Scoring layer, node part (with the layer's bias).
    pub score_node: Linear,
    /// Scoring layer, summary part (no bias).
    pub score_pool: Linear,
}

/// The Q-network, either architecture.
///
/// - **MLP** (`scoring` is `None`): hidden layers with an activation each, then a linear head
///   with one output per action — or, dueling, an advantage head and a value head combined as
///   `Q = V + A − mean(A)`.
/// - **Node-scoring** (`scoring` is `Some`, `hidden` empty): the [`ScoringBody`] embeds every
///   node with the same weights, pools a mean/max summary, scores each node, and `head` maps
///   each node's score features to its Q-value; dueling adds `value(summary)`. Serves any node
///   count.
///
/// The MLP's tensors keep their names (`hidden.0.weight`, `head.weight`, …) so every
/// checkpoint written before node-scoring existed loads unchanged.
#[derive(Module, Debug)]
pub struct QNetwork {
    /// Hidden layers, input to output (MLP only).
    pub hidden: Vec<Linear>,
    /// Output layer: Q-values, or advantages when dueling (node-scoring: one per node).
    pub head: Linear,
    /// Value head (dueling only).
    pub value: Option<Linear>,
    /// The node-scoring layers (node-scoring only).
    pub scoring: Option<ScoringBody>,
    /// Activation after each hidden layer.
    #[module(skip)]
    pub activation: Activation,
}

impl QNetwork {
    /// Builds a network of `shape` on `device` with weights drawn from `rng`: PyTorch's default
    /// `U(−1/√fan_in, 1/√fan_in)` for weights and biases, from our own seeded generator so
    /// initialisation is reproducible whatever else runs on the device.
    ///
    /// A node-scoring shape takes its first `len − 1` hidden sizes as the embedding layers and
    /// the last as the scoring layer (the config validation guarantees at least two). A split
    /// layer draws with the fan-in of the whole layer (node + task, or node + summary), as the
    /// layer it stands for would.
    pub fn init(shape: &NetworkShape, device: &Device, rng: &mut ChaCha8Rng) -> QNetwork {
        if let Architecture::NodeScoring { node_width, task_width } = shape.architecture {
            let (embed, score) = shape.hidden_sizes.split_at(shape.hidden_sizes.len().saturating_sub(1));
            let (h0, s) = (embed[0], score[0]);
            let embed_node = linear_fan(node_width, h0, node_width + task_width, true, device, rng);
            let embed_task = linear_fan(task_width, h0, node_width + task_width, false, device, rng);
            let embed_more: Vec<Linear> = embed.windows(2).map(|p| linear(p[0], p[1], device, rng)).collect();
            let h = *embed.last().unwrap_or(&h0);
            let score_node = linear_fan(h, s, 3 * h, true, device, rng);
            let score_pool = linear_fan(2 * h, s, 3 * h, false, device, rng);
            let head = linear(s, 1, device, rng);
            let value = shape.dueling.then(|| linear(2 * h, 1, device, rng));
            return QNetwork {
                hidden: Vec::new(),
                head,
                value,
                scoring: Some(ScoringBody { embed_node, embed_task, embed: embed_more, score_node, score_pool }),
                activation: shape.activation,
            };
        }
        let mut width = shape.obs_dim;
        let mut hidden = Vec::with_capacity(shape.hidden_sizes.len());
        for &h in &shape.hidden_sizes {
            hidden.push(linear(width, h, device, rng));
            width = h;
        }
        let head = linear(width, shape.n_actions, device, rng);
        let value = shape.dueling.then(|| linear(width, 1, device, rng));
        QNetwork { hidden, head, value, scoring: None, activation: shape.activation }
    }

    /// Every linear layer with its module path, in a fixed order (the order of
    /// [`QNetwork::param_shapes`], of gradient clipping and of the optimizer check).
    pub fn linears(&self) -> Vec<(String, &Linear)> {
        let mut out: Vec<(String, &Linear)> =
            self.hidden.iter().enumerate().map(|(i, l)| (format!("hidden.{i}"), l)).collect();
        if let Some(body) = &self.scoring {
            out.push(("scoring.embed_node".into(), &body.embed_node));
            out.push(("scoring.embed_task".into(), &body.embed_task));
            out.extend(body.embed.iter().enumerate().map(|(k, l)| (format!("scoring.embed.{k}"), l)));
            out.push(("scoring.score_node".into(), &body.score_node));
            out.push(("scoring.score_pool".into(), &body.score_pool));
        }
        out.push(("head".into(), &self.head));
        if let Some(v) = &self.value {
            out.push(("value".into(), v));
        }
        out
    }

    /// Copies every parameter to the host as a plain [`Network`] (what exporters and the
    /// burn-free runtime read).
    ///
    /// # Errors
    /// [`DqnError::Backend`] if the device cannot hand back `f32` values.
    pub fn to_host(&self) -> Result<Network, DqnError> {
        let value = self.value.as_ref().map(host_dense).transpose()?;
        Ok(match &self.scoring {
            None => Network::Mlp(Mlp {
                hidden: self.hidden.iter().map(host_dense).collect::<Result<_, _>>()?,
                head: host_dense(&self.head)?,
                value,
                activation: self.activation,
            }),
            Some(body) => Network::NodeScoring(NodeScoring {
                embed_node: host_dense(&body.embed_node)?,
                embed_task: host_dense(&body.embed_task)?,
                embed: body.embed.iter().map(host_dense).collect::<Result<_, _>>()?,
                score_node: host_dense(&body.score_node)?,
                score_pool: host_dense(&body.score_pool)?,
                head: host_dense(&self.head)?,
                value,
                activation: self.activation,
            }),
        })
    }

    /// Whether every parameter is finite (no NaN or ±∞ anywhere).
    ///
    /// # Errors
    /// [`DqnError::Backend`] if the device cannot hand back `f32` values.
    pub fn is_finite(&self) -> Result<bool, DqnError> {
        let host = self.to_host()?;
        Ok(host.layers().flat_map(|(_, d)| d.weight.iter().chain(&d.bias)).all(|x| x.is_finite()))
    }

    /// Q-values of a batch of (normalised) observations, every node real.
    ///
    /// # Shapes
    /// - `obs`: `[batch, obs_dim]`
    /// - output: `[batch, n_actions]`
    pub fn forward(&self, obs: Tensor<2>) -> Tensor<2> {
        self.forward_present(obs, None)
    }

    /// Q-values of a batch of (normalised) observations; for a node-scoring network, `present`
    /// (`[batch, N]`, 1 for a real node, 0 for padding) restricts the summary and the dueling
    /// mean to the real nodes (an MLP ignores it: padding is part of its input).
    ///
    /// # Shapes
    /// - `obs`: `[batch, obs_dim]`
    /// - `present`: `[batch, N]`
    /// - output: `[batch, n_actions]`
    pub fn forward_present(&self, obs: Tensor<2>, present: Option<Tensor<2>>) -> Tensor<2> {
        match &self.scoring {
            Some(body) => self.forward_scoring(body, obs, present),
            None => self.forward_mlp(obs),
        }
    }

    fn forward_mlp(&self, obs: Tensor<2>) -> Tensor<2> {
        let mut x = obs; // [batch, obs_dim]
        for layer in &self.hidden {
            x = apply(self.activation, layer.forward(x)); // [batch, hidden_i]
        }
        match &self.value {
            None => self.head.forward(x), // [batch, n_actions]
            Some(value) => {
                let advantage = self.head.forward(x.clone()); // [batch, n_actions]
                let value = value.forward(x); // [batch, 1]
                let mean = advantage.clone().mean_dim(1); // [batch, 1]
                advantage - mean + value // [batch, n_actions]
            }
        }
    }

    fn forward_scoring(&self, body: &ScoringBody, obs: Tensor<2>, present: Option<Tensor<2>>) -> Tensor<2> {
        let [batch, obs_dim] = obs.dims();
        let [w, _] = body.embed_node.weight.dims();
        let [t, _] = body.embed_task.weight.dims();
        let n = (obs_dim - t) / w;
        let act = |x: Tensor<3>| apply(self.activation, x);
        let nodes = obs.clone().slice([0..batch, 0..n * w]).reshape([batch, n, w]); // [B, N, w]
        let task = obs.slice([0..batch, n * w..obs_dim]); // [B, t]
        // The task's term once per decision, broadcast over the nodes.
        let task_term = body.embed_task.forward(task).unsqueeze_dim::<3>(1); // [B, 1, h0]
        let mut e = act(body.embed_node.forward(nodes) + task_term); // [B, N, h0]
        for layer in &body.embed {
            e = act(layer.forward(e)); // [B, N, h_k]
        }
        let h = e.dims()[2];
        // The summary: mean and max over the real nodes.
        let (mean, max) = match &present {
            None => (e.clone().mean_dim(1), e.clone().max_dim(1)), // [B, 1, h] each
            Some(p) => {
                let p3 = p.clone().unsqueeze_dim::<3>(2); // [B, N, 1]
                let count = p.clone().sum_dim(1).clamp_min(1.0).unsqueeze_dim::<3>(2); // [B, 1, 1]
                let mean = (e.clone() * p3.clone()).sum_dim(1) / count; // [B, 1, h]
                // Padded rows sink far below any embedding before the max.
                let max = (e.clone() + (p3 - 1.0).mul_scalar(1e9)).max_dim(1); // [B, 1, h]
                (mean, max)
            }
        };
        let summary = Tensor::cat(vec![mean, max], 2); // [B, 1, 2h]
        debug_assert_eq!(summary.dims()[2], 2 * h);
        let z = act(body.score_node.forward(e) + body.score_pool.forward(summary.clone())); // [B, N, s]
        let advantage = self.head.forward(z).reshape([batch, n]); // [B, N]
        match &self.value {
            None => advantage,
            Some(value) => {
                let v = value.forward(summary).reshape([batch, 1]); // [B, 1]
                let mean = match present {
                    None => advantage.clone().mean_dim(1),
                    Some(p) => (advantage.clone() * p.clone()).sum_dim(1) / p.sum_dim(1).clamp_min(1.0),
                }; // [B, 1]
                advantage - mean + v // [B, N]
            }
        }
    }

    /// Every parameter tensor with its module path, shape and rank, in a fixed order.
    pub(crate) fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::new();
        for (name, l) in self.linears() {
            out.push((format!("{name}.weight"), l.weight.shape().as_slice().to_vec()));
            if let Some(b) = &l.bias {
                out.push((format!("{name}.bias"), b.shape().as_slice().to_vec()));
            }
        }
        out
    }

    /// The network with each parameter replaced by `τ·online + (1−τ)·self` (parameter ids
    /// kept). `online` may be an autodiff network; the result has `self`'s (non-autodiff)
    /// tensors.
    pub fn soft_update(self, online: &QNetwork, tau: f64) -> QNetwork {
        fn mix<const D: usize>(target: Param<Tensor<D>>, online: &Param<Tensor<D>>, tau: f64) -> Param<Tensor<D>> {
            let src = online.val().inner();
            target.map(|t| t.mul_scalar(1.0 - tau) + src.mul_scalar(tau))
        }
        fn mix_linear(target: Linear, online: &Linear, tau: f64) -> Linear {
            Linear {
                weight: mix(target.weight, &online.weight, tau),
                bias: match (target.bias, &online.bias) {
                    (Some(t), Some(o)) => Some(mix(t, o, tau)),
                    (t, _) => t,
                },
            }
        }
        let mix_all =
            |t: Vec<Linear>, o: &[Linear]| t.into_iter().zip(o).map(|(t, o)| mix_linear(t, o, tau)).collect::<Vec<_>>();
        QNetwork {
            hidden: mix_all(self.hidden, &online.hidden),
            head: mix_linear(self.head, &online.head, tau),
            value: match (self.value, &online.value) {
                (Some(t), Some(o)) => Some(mix_linear(t, o, tau)),
                (t, _) => t,
            },
            scoring: match (self.scoring, &online.scoring) {
                (Some(t), Some(o)) => Some(ScoringBody {
                    embed_node: mix_linear(t.embed_node, &o.embed_node, tau),
                    embed_task: mix_linear(t.embed_task, &o.embed_task, tau),
                    embed: mix_all(t.embed, &o.embed),
                    score_node: mix_linear(t.score_node, &o.score_node, tau),
                    score_pool: mix_linear(t.score_pool, &o.score_pool, tau),
                }),
                (t, _) => t,
            },
            activation: self.activation,
        }
    }
}

/// One layer's weights on the host, `[d_in, d_out]` row-major (burn's layout).
fn host_dense(layer: &Linear) -> Result<Dense, DqnError> {
    let read = |data: TensorData| {
        data.try_to_vec::<f32>().map_err(|e| DqnError::Backend(format!("reading back f32 weights: {e:?}")))
    };
    let [d_in, d_out] = layer.weight.val().dims();
    let weight = read(layer.weight.val().into_data())?;
    let bias = match &layer.bias {
        Some(b) => read(b.val().into_data())?,
        None => vec![0.0; d_out],
    };
    Ok(Dense { d_in, d_out, weight, bias })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn cfg(dueling: bool) -> NetworkShape {
        NetworkShape {
            obs_dim: 3,
            n_actions: 4,
            hidden_sizes: vec![8, 5],
            activation: Activation::Tanh,
            dueling,
            architecture: policy_core::Architecture::Mlp,
        }
    }

    fn init(shape: &NetworkShape, seed: u64) -> QNetwork {
        QNetwork::init(shape, &Device::flex(), &mut ChaCha8Rng::seed_from_u64(seed))
    }

    #[test]
    fn forward_shapes_and_reproducible_init() {
        let device = Device::flex();
        for dueling in [false, true] {
            let net = init(&cfg(dueling), 1);
            let again = init(&cfg(dueling), 1);
            let x = Tensor::<2>::from_data(TensorData::new(vec![0.5f32; 6], [2, 3]), &device);
            let q = net.forward(x.clone());
            assert_eq!(q.dims(), [2, 4]);
            assert_eq!(q.into_data(), again.forward(x).into_data());
        }
        assert_eq!(cfg(true).to_string(), "3-8-5-4 tanh dueling");
    }

    #[test]
    fn dueling_advantages_are_centred() {
        let device = Device::flex();
        let net = init(&cfg(true), 2);
        let x = Tensor::<2>::from_data(TensorData::new(vec![0.1f32, -0.2, 0.3], [1, 3]), &device);
        let q: Vec<f32> = net.forward(x.clone()).into_data().try_to_vec().unwrap();
        // Q − mean(Q) must equal A − mean(A): V cancels.
        let value = net
            .value
            .as_ref()
            .unwrap()
            .forward(net.hidden.iter().fold(x, |h, l| apply(Activation::Tanh, l.forward(h))));
        let v: Vec<f32> = value.into_data().try_to_vec().unwrap();
        let mean_q = q.iter().sum::<f32>() / 4.0;
        assert!((mean_q - v[0]).abs() < 1e-5, "mean Q {mean_q} should equal V {}", v[0]);
    }

    #[test]
    fn soft_update_interpolates() {
        let a = init(&cfg(false), 3);
        let b = init(&cfg(false), 4);
        let wa: Vec<f32> = a.head.weight.val().into_data().try_to_vec().unwrap();
        let wb: Vec<f32> = b.head.weight.val().into_data().try_to_vec().unwrap();
        let mixed = a.soft_update(&b, 0.25);
        let wm: Vec<f32> = mixed.head.weight.val().into_data().try_to_vec().unwrap();
        for ((x, y), m) in wa.iter().zip(&wb).zip(&wm) {
            assert!((0.75 * x + 0.25 * y - m).abs() < 1e-6);
        }
    }

    /// A forward pass over the host copy, by hand, matches burn's.
    #[test]
    fn host_copy_computes_the_same_q_values() {
        let cfg = NetworkShape {
            obs_dim: 3,
            n_actions: 2,
            hidden_sizes: vec![4],
            activation: Activation::Relu,
            dueling: true,
            architecture: policy_core::Architecture::Mlp,
        };
        let device = Device::flex();
        let net = QNetwork::init(&cfg, &device, &mut ChaCha8Rng::seed_from_u64(7));
        let Network::Mlp(host) = net.to_host().unwrap() else { panic!("an MLP") };
        assert_eq!((host.hidden[0].d_in, host.hidden[0].d_out, host.head.d_out), (3, 4, 2));
        let x = [0.3f32, -1.2, 2.0];
        let dense = |l: &Dense, x: &[f32]| -> Vec<f32> {
            (0..l.d_out)
                .map(|j| l.bias[j] + (0..l.d_in).map(|i| x[i] * l.weight[i * l.d_out + j]).sum::<f32>())
                .collect()
        };
        let h: Vec<f32> = dense(&host.hidden[0], &x).into_iter().map(|v| v.max(0.0)).collect();
        let a = dense(&host.head, &h);
        let v = dense(host.value.as_ref().unwrap(), &h)[0];
        let mean = a.iter().sum::<f32>() / 2.0;
        let q: Vec<f32> = net
            .forward(Tensor::<2>::from_data(TensorData::new(x.to_vec(), [1, 3]), &device))
            .into_data()
            .try_to_vec()
            .unwrap();
        for k in 0..2 {
            assert!((q[k] - (v + a[k] - mean)).abs() < 1e-5, "{q:?}");
        }
    }
}
