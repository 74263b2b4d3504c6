//! Means and 95% confidence intervals (Student's t) for evaluation reports.

use serde::{Deserialize, Serialize};

/// Mean of a sample with the half-width of its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Sample mean.
    pub mean: f64,
    /// Half-width of the 95% CI of the mean (t-distribution); 0 for fewer than 2 samples.
    pub ci95: f64,
    /// Sample standard deviation (n − 1).
    pub std: f64,
    /// Number of samples.
    pub n: usize,
}

impl Estimate {
    /// Estimate from samples.
    pub fn of(xs: &[f64]) -> Self {
        let n = xs.len();
        if n == 0 {
            return Self { mean: f64::NAN, ci95: f64::NAN, std: f64::NAN, n };
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        if n == 1 {
            return Self { mean, ci95: 0.0, std: 0.0, n };
        }
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let std = var.sqrt();
        Self { mean, ci95: t975(n - 1) * std / (n as f64).sqrt(), std, n }
    }

    /// Whether the 95% CI excludes zero (a significant difference, for paired differences).
    pub fn excludes_zero(&self) -> bool {
        self.n >= 2 && (self.mean - self.ci95 > 0.0 || self.mean + self.ci95 < 0.0)
    }
}

/// 0.975 quantile of Student's t with `df` degrees of freedom.
pub fn t975(df: usize) -> f64 {
    // Exact table for small df; beyond it the Cornish–Fisher expansion around the normal
    // quantile is accurate to < 1e-4.
    const TABLE: [f64; 30] = [
        12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139, 2.200985,
        2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873,
        2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        _ => {
            let z: f64 = 1.959963984540054;
            let v = df as f64;
            z + (z.powi(3) + z) / (4.0 * v)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * v * v)
                + (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z) / (384.0 * v.powi(3))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_tables() {
        // scipy.stats.t.ppf(0.975, df)
        assert!((t975(1) - 12.7062).abs() < 1e-3);
        assert!((t975(10) - 2.2281).abs() < 1e-4);
        assert!((t975(31) - 2.0395).abs() < 1e-4);
        assert!((t975(60) - 2.0003).abs() < 1e-4);
        assert!((t975(199) - 1.9720).abs() < 1e-4);
        assert!((t975(999) - 1.9623).abs() < 1e-4);
    }

    #[test]
    fn estimate_of_known_sample() {
        let e = Estimate::of(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(e.mean, 3.0);
        assert!((e.std - 2.5f64.sqrt()).abs() < 1e-12);
        // t(4) = 2.776445; sd/sqrt(5) = sqrt(2.5 / 5) = 1/sqrt(2)
        assert!((e.ci95 - 2.776445 * std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-5);
        assert!(e.excludes_zero());
        assert!(!Estimate::of(&[-1.0, 1.0]).excludes_zero());
    }
}
