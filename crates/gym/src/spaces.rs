//! Observation and action spaces (Gymnasium's `Box` and `Discrete`).

use serde::{Deserialize, Serialize};

/// A box of `f32` values: every observation has `shape` and lies in `[low, high]` elementwise.
/// Bounds may be infinite for unbounded features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoxSpace {
    /// Lower bound per element (flattened, row-major).
    pub low: Vec<f32>,
    /// Upper bound per element (flattened, row-major).
    pub high: Vec<f32>,
    /// Shape of one observation; its product is `low.len()`.
    pub shape: Vec<usize>,
}

impl BoxSpace {
    /// A 1-D box with per-element bounds. Panics if the bound vectors differ in length, which is
    /// a programming error in an environment, not user input.
    pub fn new(low: Vec<f32>, high: Vec<f32>) -> Self {
        assert_eq!(low.len(), high.len(), "box bounds must have equal length");
        let shape = vec![low.len()];
        Self { low, high, shape }
    }

    /// Number of elements in one observation.
    pub fn dim(&self) -> usize {
        self.low.len()
    }

    /// Whether `x` has the right length, is free of NaN and lies within the bounds.
    pub fn contains(&self, x: &[f32]) -> bool {
        x.len() == self.dim()
            && x.iter().zip(self.low.iter().zip(&self.high)).all(|(v, (lo, hi))| !v.is_nan() && *v >= *lo && *v <= *hi)
    }
}

/// `n` discrete actions, `0..n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discrete {
    /// Number of actions.
    pub n: usize,
}

impl Discrete {
    /// Whether `a` is a member of the space.
    pub fn contains(&self, a: usize) -> bool {
        a < self.n
    }
}
