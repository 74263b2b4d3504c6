//! The Q-network: an MLP from observations to one Q-value per action, optionally dueling.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation;
use burn::tensor::{Device, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Nonlinearity after each hidden layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(0, x)`.
    #[default]
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// `max(0.01·x, x)`.
    LeakyRelu,
    /// Gaussian error linear unit (exact form).
    Gelu,
    /// `x · sigmoid(x)`.
    Silu,
}

impl Activation {
    fn apply(self, x: Tensor<2>) -> Tensor<2> {
        match self {
            Activation::Relu => activation::relu(x),
            Activation::Tanh => activation::tanh(x),
            Activation::LeakyRelu => activation::leaky_relu(x, 0.01),
            Activation::Gelu => activation::gelu(x),
            Activation::Silu => activation::silu(x),
        }
    }
}

/// Shape and kind of a [`QNetwork`]; what a checkpoint must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QNetworkConfig {
    /// Length of one observation (input width).
    pub obs_dim: usize,
    /// Number of actions (output width).
    pub n_actions: usize,
    /// Widths of the hidden layers, input to output.
    pub hidden_sizes: Vec<usize>,
    /// Activation after each hidden layer.
    pub activation: Activation,
    /// Dueling head (a value stream beside the advantage stream).
    pub dueling: bool,
}

impl std::fmt::Display for QNetworkConfig {
    /// `11-128-128-10 relu` (plus ` dueling`): the network's shape in one line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.obs_dim)?;
        for h in &self.hidden_sizes {
            write!(f, "-{h}")?;
        }
        let act =
            serde_json::to_value(self.activation).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        write!(f, "-{} {act}{}", self.n_actions, if self.dueling { " dueling" } else { "" })
    }
}

impl QNetworkConfig {
    /// Builds the network on `device` with weights drawn from `rng`: PyTorch's default
    /// `U(−1/√fan_in, 1/√fan_in)` for weights and biases, from our own seeded generator so
    /// initialisation is reproducible whatever else runs on the device.
    pub fn init(&self, device: &Device, rng: &mut ChaCha8Rng) -> QNetwork {
        let mut width = self.obs_dim;
        let mut hidden = Vec::with_capacity(self.hidden_sizes.len());
        for &h in &self.hidden_sizes {
            hidden.push(linear(width, h, device, rng));
            width = h;
        }
        let head = linear(width, self.n_actions, device, rng);
        let value = self.dueling.then(|| linear(width, 1, device, rng));
        QNetwork { hidden, head, value, activation: self.activation }
    }
}

fn linear(d_in: usize, d_out: usize, device: &Device, rng: &mut ChaCha8Rng) -> Linear {
    let bound = 1.0 / (d_in as f32).sqrt();
    let mut draw = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-bound..bound)).collect() };
    let weight = draw(d_in * d_out);
    let bias = draw(d_out);
    Linear {
        weight: Param::from_tensor(Tensor::from_data(TensorData::new(weight, [d_in, d_out]), device)),
        bias: Some(Param::from_tensor(Tensor::from_data(TensorData::new(bias, [d_out]), device))),
    }
}

/// MLP Q-network: hidden layers with an activation each, then a linear head with one output per
/// action — or, dueling, an advantage head and a value head combined as
/// `Q = V + A − mean(A)`.
#[derive(Module, Debug)]
pub struct QNetwork {
    /// Hidden layers, input to output.
    pub hidden: Vec<Linear>,
    /// Output layer: Q-values, or advantages when dueling.
    pub head: Linear,
    /// Value head (dueling only).
    pub value: Option<Linear>,
    /// Activation after each hidden layer.
    #[module(skip)]
    pub activation: Activation,
}

impl QNetwork {
    /// Q-values of a batch of (normalised) observations.
    ///
    /// # Shapes
    /// - `obs`: `[batch, obs_dim]`
    /// - output: `[batch, n_actions]`
    pub fn forward(&self, obs: Tensor<2>) -> Tensor<2> {
        let mut x = obs; // [batch, obs_dim]
        for layer in &self.hidden {
            x = self.activation.apply(layer.forward(x)); // [batch, hidden_i]
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

    /// Every parameter tensor with its module path, shape and rank, in a fixed order.
    pub(crate) fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::new();
        let mut push = |name: String, l: &Linear| {
            out.push((format!("{name}.weight"), l.weight.shape().as_slice().to_vec()));
            if let Some(b) = &l.bias {
                out.push((format!("{name}.bias"), b.shape().as_slice().to_vec()));
            }
        };
        for (i, l) in self.hidden.iter().enumerate() {
            push(format!("hidden.{i}"), l);
        }
        push("head".into(), &self.head);
        if let Some(v) = &self.value {
            push("value".into(), v);
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
        QNetwork {
            hidden: self.hidden.into_iter().zip(&online.hidden).map(|(t, o)| mix_linear(t, o, tau)).collect(),
            head: mix_linear(self.head, &online.head, tau),
            value: match (self.value, &online.value) {
                (Some(t), Some(o)) => Some(mix_linear(t, o, tau)),
                (t, _) => t,
            },
            activation: self.activation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn cfg(dueling: bool) -> QNetworkConfig {
        QNetworkConfig { obs_dim: 3, n_actions: 4, hidden_sizes: vec![8, 5], activation: Activation::Tanh, dueling }
    }

    #[test]
    fn forward_shapes_and_reproducible_init() {
        let device = Device::flex();
        for dueling in [false, true] {
            let net = cfg(dueling).init(&device, &mut ChaCha8Rng::seed_from_u64(1));
            let again = cfg(dueling).init(&device, &mut ChaCha8Rng::seed_from_u64(1));
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
        let net = cfg(true).init(&device, &mut ChaCha8Rng::seed_from_u64(2));
        let x = Tensor::<2>::from_data(TensorData::new(vec![0.1f32, -0.2, 0.3], [1, 3]), &device);
        let q: Vec<f32> = net.forward(x.clone()).into_data().try_to_vec().unwrap();
        // Q − mean(Q) must equal A − mean(A): V cancels.
        let value =
            net.value.as_ref().unwrap().forward(net.hidden.iter().fold(x, |h, l| Activation::Tanh.apply(l.forward(h))));
        let v: Vec<f32> = value.into_data().try_to_vec().unwrap();
        let mean_q = q.iter().sum::<f32>() / 4.0;
        assert!((mean_q - v[0]).abs() < 1e-5, "mean Q {mean_q} should equal V {}", v[0]);
    }

    #[test]
    fn soft_update_interpolates() {
        let device = Device::flex();
        let a = cfg(false).init(&device, &mut ChaCha8Rng::seed_from_u64(3));
        let b = cfg(false).init(&device, &mut ChaCha8Rng::seed_from_u64(4));
        let wa: Vec<f32> = a.head.weight.val().into_data().try_to_vec().unwrap();
        let wb: Vec<f32> = b.head.weight.val().into_data().try_to_vec().unwrap();
        let mixed = a.soft_update(&b, 0.25);
        let wm: Vec<f32> = mixed.head.weight.val().into_data().try_to_vec().unwrap();
        for ((x, y), m) in wa.iter().zip(&wb).zip(&wm) {
            assert!((0.75 * x + 0.25 * y - m).abs() < 1e-6);
        }
    }
}
