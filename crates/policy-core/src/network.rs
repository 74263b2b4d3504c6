//! The plain Q-network: [`Dense`] layers in `Vec`s, the [`Mlp`] they form, and its
//! [`NetworkShape`] (what a checkpoint or `policy.json` records).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Activation;

/// A network whose parts do not fit together, or a layer whose vectors have the wrong length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// A weight vector does not hold `d_in · d_out` values.
    #[error("weight has {got} values, expected {d_in}·{d_out} = {}", d_in * d_out)]
    WeightLength {
        /// Input width.
        d_in: usize,
        /// Output width.
        d_out: usize,
        /// Length of the weight vector.
        got: usize,
    },

    /// A bias vector does not hold `d_out` values.
    #[error("bias has {got} values, expected {d_out}")]
    BiasLength {
        /// Output width.
        d_out: usize,
        /// Length of the bias vector.
        got: usize,
    },

    /// A layer of an [`Mlp`] is inconsistent with itself or with the layer before it.
    #[error("{layer}: {message}")]
    Layer {
        /// The layer, named as its tensors are (`hidden.1`, `head`, `value`).
        layer: String,
        /// What is wrong and what is valid.
        message: String,
    },
}

/// One fully connected layer, `y = x·W + b`.
///
/// The weight is stored `[d_in, d_out]` row-major (burn's layout, the transpose of PyTorch's
/// `Linear.weight`): row `i` holds input `i`'s weights to every output, so a batch-1 forward
/// pass walks it row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// Input width.
    pub d_in: usize,
    /// Output width.
    pub d_out: usize,
    /// `[d_in, d_out]`, row-major: `W[i, j]` is `weight[i·d_out + j]`.
    pub weight: Vec<f32>,
    /// `[d_out]`.
    pub bias: Vec<f32>,
}

impl Dense {
    /// A layer from its `[d_in, d_out]` row-major weight and `[d_out]` bias.
    ///
    /// # Errors
    /// [`ShapeError::WeightLength`] or [`ShapeError::BiasLength`] if a vector has the wrong
    /// length.
    pub fn new(d_in: usize, d_out: usize, weight: Vec<f32>, bias: Vec<f32>) -> Result<Self, ShapeError> {
        let dense = Self { d_in, d_out, weight, bias };
        dense.check_lengths()?;
        Ok(dense)
    }

    /// The vectors' lengths against `d_in` and `d_out`.
    pub(crate) fn check_lengths(&self) -> Result<(), ShapeError> {
        if self.weight.len() != self.d_in * self.d_out {
            return Err(ShapeError::WeightLength { d_in: self.d_in, d_out: self.d_out, got: self.weight.len() });
        }
        if self.bias.len() != self.d_out {
            return Err(ShapeError::BiasLength { d_out: self.d_out, got: self.bias.len() });
        }
        Ok(())
    }

    /// The reference forward pass in `f32`: `y[j] = b[j] + Σ_i x[i]·W[i, j]`, the sum starting
    /// from the bias and adding rows `i = 0, 1, …` in order. Writes `y[..d_out]`.
    ///
    /// # Shapes
    /// - `x`: `[d_in]` (longer is allowed; the rest is ignored)
    /// - `y`: `[d_out]` (longer is allowed; the rest is untouched)
    ///
    /// # Panics
    /// If `x` is shorter than `d_in`, `y` shorter than `d_out`, or the layer's vectors are
    /// shorter than its widths say ([`Dense::new`] and [`Mlp::validate`] check them).
    pub fn forward_into(&self, x: &[f32], y: &mut [f32]) {
        let y = &mut y[..self.d_out];
        y.copy_from_slice(&self.bias[..self.d_out]);
        if self.d_out == 0 {
            return;
        }
        for (&xi, row) in x[..self.d_in].iter().zip(self.weight.chunks_exact(self.d_out)) {
            y.iter_mut().zip(row).for_each(|(yj, &w)| *yj += xi * w);
        }
    }
}

/// The greedy Q-network: hidden layers with an activation each, then a linear head with one
/// Q-value per action — or, dueling, an advantage head `A` and a one-output value head `V`
/// combined as `Q = V + A − mean(A)` (computed in burn's order, `(A − mean(A)) + V`).
#[derive(Debug, Clone, PartialEq)]
pub struct Mlp {
    /// Hidden layers, input to output.
    pub hidden: Vec<Dense>,
    /// Output layer: Q-values, or advantages when dueling.
    pub head: Dense,
    /// Value head (dueling only), `[last hidden width, 1]`.
    pub value: Option<Dense>,
    /// Activation after each hidden layer.
    pub activation: Activation,
}

impl Mlp {
    /// The network's shape: `obs_dim` is the first layer's input width, `n_actions` the head's
    /// output width (no consistency check here — [`Mlp::validate`] does that).
    pub fn shape(&self) -> NetworkShape {
        NetworkShape {
            obs_dim: self.hidden.first().unwrap_or(&self.head).d_in,
            n_actions: self.head.d_out,
            hidden_sizes: self.hidden.iter().map(|d| d.d_out).collect(),
            activation: self.activation,
            dueling: self.value.is_some(),
            architecture: Architecture::Mlp,
        }
    }

    /// The layers in order, each named as its tensors are: `hidden.{i}`, `head`, `value`.
    pub fn layers(&self) -> impl Iterator<Item = (String, &Dense)> {
        let hidden = self.hidden.iter().enumerate().map(|(i, d)| (format!("hidden.{i}"), d));
        hidden.chain([("head".to_string(), &self.head)]).chain(self.value.iter().map(|v| ("value".to_string(), v)))
    }

    /// Checks that the network computes something: every layer has inputs and outputs and
    /// vectors of the lengths its widths say, each layer's input width is the previous layer's
    /// output width (the head's and the value head's: the last hidden layer's), and the value
    /// head has one output. (Weights may be any number; exporters check finiteness.)
    ///
    /// # Errors
    /// The first problem, as [`ShapeError::Layer`] naming the layer (`hidden.1`, `head`, `value`).
    pub fn validate(&self) -> Result<(), ShapeError> {
        let mut width = self.hidden.first().unwrap_or(&self.head).d_in;
        let last_hidden = self.hidden.len();
        for (i, (layer, d)) in self.layers().enumerate() {
            let bad = |message: String| Err(ShapeError::Layer { layer: layer.clone(), message });
            if d.d_in == 0 || d.d_out == 0 {
                return bad(format!("has shape [{}, {}]; a layer needs inputs and outputs", d.d_in, d.d_out));
            }
            if let Err(e) = d.check_lengths() {
                return bad(e.to_string());
            }
            if d.d_in != width {
                return bad(format!("has {} inputs but the layer before it has {width} outputs", d.d_in));
            }
            if i < last_hidden {
                width = d.d_out;
            } else if layer == "value" && d.d_out != 1 {
                return bad(format!("has {} outputs but a value head has 1", d.d_out));
            }
        }
        Ok(())
    }

    /// The reference forward pass of one observation (already normalised), in `f32`, with
    /// [`Dense::forward_into`] per layer: slow and allocating, for tests and tools. (The
    /// `policy` crate's runtime computes the same values without allocating.)
    ///
    /// # Shapes
    /// - `obs`: `[obs_dim]`
    /// - output: `[n_actions]`
    ///
    /// # Panics
    /// If `obs` is shorter than `obs_dim` or the network is inconsistent ([`Mlp::validate`]).
    pub fn forward(&self, obs: &[f32]) -> Vec<f32> {
        let mut x = obs[..self.shape().obs_dim].to_vec();
        for layer in &self.hidden {
            let mut y = vec![0.0; layer.d_out];
            layer.forward_into(&x, &mut y);
            self.activation.apply_slice(&mut y);
            x = y;
        }
        let mut q = vec![0.0; self.head.d_out];
        self.head.forward_into(&x, &mut q);
        if let Some(value) = &self.value {
            let mut v = [0.0];
            value.forward_into(&x, &mut v);
            let mean = q.iter().sum::<f32>() / q.len() as f32;
            q.iter_mut().for_each(|a| *a = (*a - mean) + v[0]);
        }
        q
    }
}

/// A network's shape: what a checkpoint must match and what `policy.json` records under
/// `network`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkShape {
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
    /// How the layers are wired: one MLP over the whole observation (the default, and what
    /// every file without this field holds) or a node-scoring network.
    #[serde(default, skip_serializing_if = "Architecture::is_mlp")]
    pub architecture: Architecture,
}

/// How a Q-network's layers are wired (`agent.network` in an experiment file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Architecture {
    /// One MLP from the whole flat observation to one Q-value per node: fits one node count.
    #[default]
    Mlp,
    /// The same small network scores every node from its row, the task's row and a pooled
    /// summary of all nodes ([`crate::NodeScoring`]): serves any node count.
    NodeScoring {
        /// Values per node row of the observation.
        node_width: usize,
        /// Values of the task row (after all node rows).
        task_width: usize,
    },
}

impl Architecture {
    /// Whether this is the plain MLP (serde skips the field then, so MLP files stay as they were).
    pub fn is_mlp(&self) -> bool {
        matches!(self, Architecture::Mlp)
    }
}

impl fmt::Display for NetworkShape {
    /// `11-128-128-10 relu` (plus ` dueling`): the widths from input to output and the
    /// activation; a node-scoring network adds ` node-scoring 6+5` (node and task row widths).
    /// Checkpoints embed this string: it must not change.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.obs_dim)?;
        for h in &self.hidden_sizes {
            write!(f, "-{h}")?;
        }
        write!(f, "-{} {}{}", self.n_actions, self.activation.name(), if self.dueling { " dueling" } else { "" })?;
        match self.architecture {
            Architecture::Mlp => Ok(()),
            Architecture::NodeScoring { node_width, task_width } => {
                write!(f, " node-scoring {node_width}+{task_width}")
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! A 3-3-2 network with hand-picked weights, whose Q-values are computed by hand.

    use super::*;

    /// hidden `[[1, −1, 0.5], [0.5, 1, 0.25], [0, 0.25, −1]]`, bias `[0, 0.5, 1]`; head
    /// `[[1, 0], [0, 2], [3, −1]]`, bias `[0.25, −0.5]`; value `[1, 1, 1]ᵀ`, bias 0.5.
    pub(crate) fn tiny_mlp(activation: Activation, dueling: bool) -> Mlp {
        Mlp {
            hidden: vec![
                Dense::new(3, 3, vec![1.0, -1.0, 0.5, 0.5, 1.0, 0.25, 0.0, 0.25, -1.0], vec![0.0, 0.5, 1.0]).unwrap(),
            ],
            head: Dense::new(3, 2, vec![1.0, 0.0, 0.0, 2.0, 3.0, -1.0], vec![0.25, -0.5]).unwrap(),
            value: dueling.then(|| Dense::new(3, 1, vec![1.0; 3], vec![0.5]).unwrap()),
            activation,
        }
    }

    /// x = [1, 2, 4]: pre-activations b + x·W = [0 + 1 + 1 + 0, 0.5 − 1 + 2 + 1, 1 + 0.5 + 0.5 − 4]
    /// = [2, 2.5, −2].
    const X: [f32; 3] = [1.0, 2.0, 4.0];

    #[test]
    fn dense_forward_by_hand() {
        let mlp = tiny_mlp(Activation::Relu, false);
        let mut y = [9.0; 4];
        mlp.hidden[0].forward_into(&X, &mut y);
        assert_eq!(y, [2.0, 2.5, -2.0, 9.0], "only d_out values written");
        // Rows are added in order from the bias: (1 + 1e8) − 1e8 = 0 in f32, not 1.
        let d = Dense::new(2, 1, vec![1e8, -1e8], vec![1.0]).unwrap();
        let mut y = [0.0];
        d.forward_into(&[1.0, 1.0], &mut y);
        assert_eq!(y, [0.0]);
    }

    #[test]
    fn q_values_by_hand() {
        // relu → h = [2, 2.5, 0]; q = [0.25 + 2, −0.5 + 5] = [2.25, 4.5].
        assert_eq!(tiny_mlp(Activation::Relu, false).forward(&X), [2.25, 4.5]);
        // Dueling: A = [2.25, 4.5], mean 3.375; V = 0.5 + 2 + 2.5 + 0 = 5; Q = A − 3.375 + 5.
        assert_eq!(tiny_mlp(Activation::Relu, true).forward(&X), [3.875, 6.125]);
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
            let q = tiny_mlp(act, false).forward(&X);
            for (got, want) in q.iter().zip(reference(f)) {
                assert!((f64::from(*got) - want).abs() < 1e-5, "{act:?}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn dense_new_checks_lengths() {
        assert_eq!(
            Dense::new(2, 3, vec![0.0; 5], vec![0.0; 3]).unwrap_err(),
            ShapeError::WeightLength { d_in: 2, d_out: 3, got: 5 }
        );
        let e = Dense::new(2, 3, vec![0.0; 6], vec![0.0; 2]).unwrap_err();
        assert_eq!(e.to_string(), "bias has 2 values, expected 3");
        assert_eq!(
            ShapeError::WeightLength { d_in: 2, d_out: 3, got: 5 }.to_string(),
            "weight has 5 values, expected 2·3 = 6"
        );
    }

    #[test]
    fn shape_and_display() {
        let shape = tiny_mlp(Activation::Tanh, true).shape();
        assert_eq!(
            shape,
            NetworkShape {
                obs_dim: 3,
                n_actions: 2,
                hidden_sizes: vec![3],
                activation: Activation::Tanh,
                dueling: true,
                architecture: Architecture::Mlp,
            }
        );
        assert_eq!(shape.to_string(), "3-3-2 tanh dueling");
        let default = NetworkShape {
            obs_dim: 11,
            n_actions: 10,
            hidden_sizes: vec![128, 128],
            activation: Activation::Relu,
            dueling: false,
            architecture: Architecture::Mlp,
        };
        assert_eq!(default.to_string(), "11-128-128-10 relu");
        let scoring = NetworkShape {
            architecture: Architecture::NodeScoring { node_width: 7, task_width: 5 },
            ..default.clone()
        };
        assert_eq!(scoring.to_string(), "11-128-128-10 relu node-scoring 7+5");
        let leaky = NetworkShape { hidden_sizes: vec![], activation: Activation::LeakyRelu, ..default.clone() };
        assert_eq!(leaky.to_string(), "11-10 leaky_relu");
        // No hidden layer: obs_dim is the head's input width.
        let linear = Mlp { hidden: vec![], ..tiny_mlp(Activation::Relu, false) };
        assert_eq!(linear.shape().to_string(), "3-2 relu");
    }

    #[test]
    fn network_shape_json_is_strict() {
        let json =
            r#"{"obs_dim": 11, "n_actions": 10, "hidden_sizes": [128, 128], "activation": "relu", "dueling": false}"#;
        let shape: NetworkShape = serde_json::from_str(json).unwrap();
        assert_eq!(shape.to_string(), "11-128-128-10 relu");
        assert_eq!(serde_json::from_str::<NetworkShape>(&serde_json::to_string(&shape).unwrap()).unwrap(), shape);
        // An MLP's JSON has no architecture field, before and after this field existed.
        assert!(!serde_json::to_string(&shape).unwrap().contains("architecture"));
        let scoring =
            NetworkShape { architecture: Architecture::NodeScoring { node_width: 1, task_width: 1 }, ..shape };
        let text = serde_json::to_string(&scoring).unwrap();
        assert!(text.contains(r#""architecture":{"kind":"node-scoring","node_width":1,"task_width":1}"#), "{text}");
        assert_eq!(serde_json::from_str::<NetworkShape>(&text).unwrap(), scoring);
        let e = serde_json::from_str::<NetworkShape>(&json.replace("dueling", "duelling")).unwrap_err();
        assert!(e.to_string().starts_with("unknown field `duelling`"), "{e}");
    }

    #[test]
    fn validate_names_the_layer() {
        let check = |edit: fn(&mut Mlp), want: &str| {
            let mut mlp = tiny_mlp(Activation::Relu, true);
            mlp.validate().unwrap();
            edit(&mut mlp);
            assert_eq!(mlp.validate().unwrap_err().to_string(), want);
        };
        check(|m| m.hidden[0].bias.pop().map(drop).unwrap(), "hidden.0: bias has 2 values, expected 3");
        check(|m| m.head.weight.push(0.0), "head: weight has 7 values, expected 3·2 = 6");
        check(
            |m| m.head = Dense::new(2, 2, vec![0.0; 4], vec![0.0; 2]).unwrap(),
            "head: has 2 inputs but the layer before it has 3 outputs",
        );
        check(
            |m| m.value = Some(Dense::new(3, 2, vec![0.0; 6], vec![0.0; 2]).unwrap()),
            "value: has 2 outputs but a value head has 1",
        );
        check(
            |m| m.value = Some(Dense::new(4, 1, vec![0.0; 4], vec![0.0]).unwrap()),
            "value: has 4 inputs but the layer before it has 3 outputs",
        );
        check(
            |m| m.hidden.push(Dense::new(3, 0, vec![], vec![]).unwrap()),
            "hidden.1: has shape [3, 0]; a layer needs inputs and outputs",
        );
        check(
            |m| m.hidden = vec![Dense::new(0, 3, vec![], vec![0.0; 3]).unwrap()],
            "hidden.0: has shape [0, 3]; a layer needs inputs and outputs",
        );
        let mut two = tiny_mlp(Activation::Relu, false);
        two.hidden.push(Dense::new(2, 3, vec![0.0; 6], vec![0.0; 3]).unwrap());
        assert_eq!(
            two.validate().unwrap_err(),
            ShapeError::Layer {
                layer: "hidden.1".into(),
                message: "has 2 inputs but the layer before it has 3 outputs".into()
            }
        );
    }

    #[test]
    fn layers_are_named_like_their_tensors() {
        let names: Vec<String> = tiny_mlp(Activation::Relu, true).layers().map(|(n, _)| n).collect();
        assert_eq!(names, ["hidden.0", "head", "value"]);
    }
}
