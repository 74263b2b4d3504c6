//! [`Activation`]: the nonlinearity after each hidden layer, with the formulas (and the `f32`
//! arithmetic) of the trainer's burn CPU backend.

use serde::{Deserialize, Serialize};

/// Nonlinearity after each hidden layer.
///
/// Serialised in snake case (`"relu"`, `"leaky_relu"`, ...), the names [`Activation::name`]
/// returns, in experiment files, checkpoints and `policy.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(0, x)`.
    #[default]
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

impl Activation {
    /// Applies the activation to one value, with the formulas (and the `f32` arithmetic) of the
    /// trainer's burn CPU backend, so an exported network computes what was trained:
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

    /// The serialised name (`relu`, `tanh`, `leaky_relu`, `gelu`, `silu`).
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

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Activation; 5] =
        [Activation::Relu, Activation::Tanh, Activation::LeakyRelu, Activation::Gelu, Activation::Silu];

    #[test]
    fn activations_match_f64_references_to_a_few_ulps() {
        let erf_ref = crate::erf::erf;
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
    }

    #[test]
    fn edge_values_by_hand() {
        assert_eq!(Activation::Relu.apply(-0.0), 0.0);
        assert_eq!(Activation::Relu.apply(2.5), 2.5);
        assert!(Activation::Relu.apply(f32::NAN).is_nan(), "relu propagates NaN like burn");
        assert_eq!(Activation::LeakyRelu.apply(-2.0), -0.02);
        assert_eq!(Activation::LeakyRelu.apply(3.0), 3.0);
        assert_eq!(Activation::Silu.apply(-200.0), -0.0, "no overflow far left");
        assert_eq!(Activation::Silu.apply(0.0), 0.0);
        assert_eq!(Activation::Gelu.apply(10.0), 10.0);
        assert_eq!(Activation::Gelu.apply(0.0), 0.0);
        assert_eq!(Activation::Tanh.apply(0.0), 0.0);
    }

    #[test]
    fn apply_slice_is_apply_per_value() {
        let xs: Vec<f32> = (-50..50).map(|i| i as f32 * 0.17).collect();
        for act in ALL {
            let mut ys = xs.clone();
            act.apply_slice(&mut ys);
            let want: Vec<u32> = xs.iter().map(|&x| act.apply(x).to_bits()).collect();
            assert_eq!(ys.iter().map(|y| y.to_bits()).collect::<Vec<_>>(), want, "{act:?}");
        }
    }

    #[test]
    fn names_are_the_serialised_form() {
        for act in ALL {
            assert_eq!(serde_json::to_value(act).unwrap(), act.name());
            assert_eq!(serde_json::from_value::<Activation>(act.name().into()).unwrap(), act);
        }
        assert_eq!(Activation::default(), Activation::Relu);
        assert!(serde_json::from_str::<Activation>("\"LeakyRelu\"").is_err());
    }
}
