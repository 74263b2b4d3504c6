//! The exported network as plain arrays: what `policy.safetensors` holds and what the runtime and
//! the ONNX writer read.

use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

/// Nonlinearity after each hidden layer (same names and formulas as the trainer's `dqn` crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(0, x)`.
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// `max(0.01·x, x)`.
    LeakyRelu,
    /// Gaussian error linear unit, exact form `0.5·x·(1 + erf(x/√2))`.
    Gelu,
    /// `x · sigmoid(x)`.
    Silu,
}

/// One fully connected layer, `y = x·W + b`.
///
/// The weight is stored `[in, out]` (burn's layout, the transpose of PyTorch's), so a batch-1
/// forward pass walks it row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// `[in, out]`.
    pub weight: Array2<f32>,
    /// `[out]`.
    pub bias: Array1<f32>,
}

impl Dense {
    /// Input width.
    pub fn d_in(&self) -> usize {
        self.weight.nrows()
    }

    /// Output width.
    pub fn d_out(&self) -> usize {
        self.weight.ncols()
    }
}

/// The greedy Q-network: hidden layers with an activation each, then a linear head with one
/// Q-value per action — or, dueling, an advantage head and a one-output value head combined as
/// `Q = V + A − mean(A)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    /// Hidden layers, input to output.
    pub hidden: Vec<Dense>,
    /// Output layer: Q-values, or advantages when dueling.
    pub head: Dense,
    /// Value head (dueling only), `[last hidden, 1]`.
    pub value: Option<Dense>,
    /// Activation after each hidden layer.
    pub activation: Activation,
}

/// Observation normalisation applied before the network, exactly as the trainer applied it:
/// `z = clamp((x − mean) / sqrt(var + epsilon), −clip, clip)`, computed in `f64` and then
/// rounded to `f32`.
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

impl Activation {
    /// Applies the activation to one value, with the formulas (and the `f32` arithmetic) of the
    /// trainer's burn CPU backend, so the exported network computes what was trained:
    /// - relu: `x` if `x > 0` (or NaN), else 0;
    /// - tanh: `f32::tanh`;
    /// - leaky relu: `x` if `x ≥ 0`, else `0.01·x`;
    /// - gelu: `0.5·x·(1 + erf(x/√2))`, erf accurate to one `f32` ulp (a port of fdlibm's `f64`
    ///   erf, rounded once; burn uses `libm::erff`, so the two may differ by one ulp of erf);
    /// - silu: `x · sigmoid(x)`, sigmoid as `1/(1 + e^−x)` for `x ≥ 0` and `e^x/(1 + e^x)`
    ///   below (no overflow on either side).
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Relu => {
                if x.is_nan() || x > 0.0 {
                    x
                } else {
                    0.0
                }
            }
            Activation::Tanh => x.tanh(),
            Activation::LeakyRelu => {
                if x >= 0.0 {
                    x
                } else {
                    0.01 * x
                }
            }
            Activation::Gelu => 0.5 * x * (1.0 + crate::erf::erf_f32(x / std::f32::consts::SQRT_2)),
            Activation::Silu => x * sigmoid(x),
        }
    }

    /// Applies the activation to every value of `xs` in place.
    #[inline]
    pub fn apply_slice(self, xs: &mut [f32]) {
        // One loop per kind, so that relu and leaky relu vectorise.
        match self {
            Activation::Relu => xs.iter_mut().for_each(|x| *x = Activation::Relu.apply(*x)),
            Activation::LeakyRelu => xs.iter_mut().for_each(|x| *x = Activation::LeakyRelu.apply(*x)),
            other => xs.iter_mut().for_each(|x| *x = other.apply(*x)),
        }
    }

    /// The name used in `policy.json` and by the trainer (`relu`, `leaky_relu`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Gelu => "gelu",
            Activation::Silu => "silu",
        }
    }
}

/// The logistic function as burn's CPU backend computes it in `f32`.
#[inline]
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

impl Dense {
    /// A layer from its `[in, out]` weight and `[out]` bias.
    pub fn new(weight: Array2<f32>, bias: Array1<f32>) -> Self {
        Self { weight, bias }
    }
}

impl Mlp {
    /// The network's shape as `policy.json` records it (`obs_dim` is the first layer's input
    /// width; no consistency check here — [`crate::Export::validate`] does that).
    pub fn shape(&self) -> crate::NetworkShape {
        crate::NetworkShape {
            obs_dim: self.hidden.first().unwrap_or(&self.head).d_in(),
            n_actions: self.head.d_out(),
            hidden_sizes: self.hidden.iter().map(Dense::d_out).collect(),
            activation: self.activation,
            dueling: self.value.is_some(),
        }
    }
}

impl Normalization {
    /// Number of features.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Writes `z = clamp((x − mean) / sqrt(var + epsilon), −clip, clip)` of one observation into
    /// `out`, in `f64` and rounded to `f32` once — bit for bit what the trainer's
    /// `RunningMeanStd::normalize_into` fed the network.
    ///
    /// # Panics
    /// If `obs` or `out` is shorter than [`Normalization::dim`], or `clip` is NaN or negative
    /// (the runtime validates both before calling).
    pub fn normalize_into(&self, obs: &[f32], out: &mut [f32]) {
        for (j, (o, &x)) in out[..self.dim()].iter_mut().zip(&obs[..self.dim()]).enumerate() {
            let z = (f64::from(x) - self.mean[j]) / (self.var[j] + self.epsilon).sqrt();
            *o = z.clamp(-self.clip, self.clip) as f32;
        }
    }
}
