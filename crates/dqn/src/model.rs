//! The Q-network: an MLP from observations to one Q-value per action, optionally dueling. Its
//! shape is [`NetworkShape`] and its activations [`Activation`], both from `policy_core`, so a
//! checkpoint and an export describe the same network with the same words.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::activation;
use burn::tensor::{Device, Tensor, TensorData};
use policy_core::{Activation, Dense, Mlp, NetworkShape};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::DqnError;

/// Applies `activation` to a tensor with burn's kernels (the formulas `policy_core`'s scalar
/// [`Activation::apply`] reproduces for the exported runtime).
fn apply(activation: Activation, x: Tensor<2>) -> Tensor<2> {
    match activation {
        Activation::Relu => activation::relu(x),
        Activation::Tanh => activation::tanh(x),
        Activation::LeakyRelu => activation::leaky_relu(x, 0.01),
        Activation::Gelu => activation::gelu(x),
        Activation::Silu => activation::silu(x),
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
    /// Builds a network of `shape` on `device` with weights drawn from `rng`: PyTorch's default
    /// `U(−1/√fan_in, 1/√fan_in)` for weights and biases, from our own seeded generator so
    /// initialisation is reproducible whatever else runs on the device.
    pub fn init(shape: &NetworkShape, device: &Device, rng: &mut ChaCha8Rng) -> QNetwork {
        let mut width = shape.obs_dim;
        let mut hidden = Vec::with_capacity(shape.hidden_sizes.len());
        for &h in &shape.hidden_sizes {
            hidden.push(linear(width, h, device, rng));
            width = h;
        }
        let head = linear(width, shape.n_actions, device, rng);
        let value = shape.dueling.then(|| linear(width, 1, device, rng));
        QNetwork { hidden, head, value, activation: shape.activation }
    }

    /// Copies every parameter to the host as a plain [`Mlp`] (what exporters and the burn-free
    /// runtime read).
    ///
    /// # Errors
    /// [`DqnError::Backend`] if the device cannot hand back `f32` values.
    pub fn to_host(&self) -> Result<Mlp, DqnError> {
        Ok(Mlp {
            hidden: self.hidden.iter().map(host_dense).collect::<Result<_, _>>()?,
            head: host_dense(&self.head)?,
            value: self.value.as_ref().map(host_dense).transpose()?,
            activation: self.activation,
        })
    }

    /// Whether every parameter is finite (no NaN or ±∞ anywhere).
    ///
    /// # Errors
    /// [`DqnError::Backend`] if the device cannot hand back `f32` values.
    pub fn is_finite(&self) -> Result<bool, DqnError> {
        let host = self.to_host()?;
        let layers = host.hidden.iter().chain(std::iter::once(&host.head)).chain(host.value.as_ref());
        Ok(layers.flat_map(|d| d.weight.iter().chain(&d.bias)).all(|x| x.is_finite()))
    }

    /// Q-values of a batch of (normalised) observations.
    ///
    /// # Shapes
    /// - `obs`: `[batch, obs_dim]`
    /// - output: `[batch, n_actions]`
    pub fn forward(&self, obs: Tensor<2>) -> Tensor<2> {
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
        let host = net.to_host().unwrap();
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
