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
