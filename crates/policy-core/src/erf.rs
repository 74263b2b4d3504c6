//! The error function, for the exact GELU.
//!
//! A port of `erf` from FreeBSD's `msun/src/s_erf.c` (fdlibm; the same code as the `libm`
//! crate's `erf`), which is accurate to less than one ulp in `f64` over the whole real line.
//! GELU runs in `f32`: [`erf_f32`] evaluates this `f64` erf and rounds once, so its result is
//! the correctly rounded `f32` of erf(x) except when erf(x) lies within about one `f64` ulp of
//! the midpoint between two `f32`s (a double-rounding case, probability ~2⁻²⁸), where it may be
//! one `f32` ulp off. The trainer's burn backend uses `libm::erff` (also within one `f32` ulp),
//! so the two may differ by one `f32` ulp of erf on rare inputs — far below the differences
//! that the matrix products' summation order already makes.
//!
//! ```text
//! ====================================================
//! Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
//!
//! Developed at SunPro, a Sun Microsystems, Inc. business.
//! Permission to use, copy, modify, and distribute this
//! software is freely granted, provided that this notice
//! is preserved.
//! ====================================================
//! ```

// fdlibm's coefficients, digit for digit (clippy would shorten them and lose the link to the
// reference source).
#![allow(clippy::excessive_precision, clippy::unreadable_literal)]

/// erf(1) rounded to `f32` precision: the interval [0.84375, 1.25] approximates erf − ERX.
const ERX: f64 = 8.45062911510467529297e-01;
/// 8 · (2/√π − 1): erf(x) ≈ x + x·EFX8/8 for tiny x, without underflow.
const EFX8: f64 = 1.02703333676410069053e+00;

// erf on [0, 0.84375]: x + x·P(x²)/Q(x²).
const PP0: f64 = 1.28379167095512558561e-01;
const PP1: f64 = -3.25042107247001499370e-01;
const PP2: f64 = -2.84817495755985104766e-02;
const PP3: f64 = -5.77027029648944159157e-03;
const PP4: f64 = -2.37630166566501626084e-05;
const QQ1: f64 = 3.97917223959155352819e-01;
const QQ2: f64 = 6.50222499887672944485e-02;
const QQ3: f64 = 5.08130628187576562776e-03;
const QQ4: f64 = 1.32494738004321644526e-04;
const QQ5: f64 = -3.96022827877536812320e-06;

// erf on [0.84375, 1.25]: ERX + P(s)/Q(s), s = |x| − 1.
const PA0: f64 = -2.36211856075265944077e-03;
const PA1: f64 = 4.14856118683748331666e-01;
const PA2: f64 = -3.72207876035701323847e-01;
const PA3: f64 = 3.18346619901161753674e-01;
const PA4: f64 = -1.10894694282396677476e-01;
const PA5: f64 = 3.54783043256182359371e-02;
const PA6: f64 = -2.16637559486879084300e-03;
const QA1: f64 = 1.06420880400844228286e-01;
const QA2: f64 = 5.40397917702171048937e-01;
const QA3: f64 = 7.18286544141962662868e-02;
const QA4: f64 = 1.26171219808761642112e-01;
const QA5: f64 = 1.36370839120290507362e-02;
const QA6: f64 = 1.19844998467991074170e-02;

// erfc on [1.25, 1/0.35]: exp(−x² − 0.5625 + R(1/x²)/S(1/x²)) / x.
const RA0: f64 = -9.86494403484714822705e-03;
const RA1: f64 = -6.93858572707181764372e-01;
const RA2: f64 = -1.05586262253232909814e+01;
const RA3: f64 = -6.23753324503260060396e+01;
const RA4: f64 = -1.62396669462573470355e+02;
const RA5: f64 = -1.84605092906711035994e+02;
const RA6: f64 = -8.12874355063065934246e+01;
const RA7: f64 = -9.81432934416914548592e+00;
const SA1: f64 = 1.96512716674392571292e+01;
const SA2: f64 = 1.37657754143519042600e+02;
const SA3: f64 = 4.34565877475229228821e+02;
const SA4: f64 = 6.45387271733267880336e+02;
const SA5: f64 = 4.29008140027567833386e+02;
const SA6: f64 = 1.08635005541779435134e+02;
const SA7: f64 = 6.57024977031928170135e+00;
const SA8: f64 = -6.04244152148580987438e-02;

// erfc on [1/0.35, 6]: the same form with other coefficients.
const RB0: f64 = -9.86494292470009928597e-03;
const RB1: f64 = -7.99283237680523006574e-01;
const RB2: f64 = -1.77579549177547519889e+01;
const RB3: f64 = -1.60636384855821916062e+02;
const RB4: f64 = -6.37566443368389627722e+02;
const RB5: f64 = -1.02509513161107724954e+03;
const RB6: f64 = -4.83519191608651397019e+02;
const SB1: f64 = 3.03380607434824582924e+01;
const SB2: f64 = 3.25792512996573918826e+02;
const SB3: f64 = 1.53672958608443695994e+03;
const SB4: f64 = 3.19985821950859553908e+03;
const SB5: f64 = 2.55305040643316442583e+03;
const SB6: f64 = 4.74528541206955367215e+02;
const SB7: f64 = -2.24409524465858183362e+01;

/// erf(x) in `f64`, less than one ulp from the true value.
pub(crate) fn erf(x: f64) -> f64 {
    // fdlibm branches on the high word of |x|: the thresholds are exact binary fractions.
    let ix = ((x.to_bits() >> 32) as u32) & 0x7fff_ffff;
    if ix >= 0x7ff0_0000 {
        // NaN stays NaN; erf(±∞) = ±1.
        return if x.is_nan() { x } else { x.signum() };
    }
    if ix < 0x3feb_0000 {
        // |x| < 0.84375
        if ix < 0x3e30_0000 {
            // |x| < 2⁻²⁸: the linear term, scaled to avoid underflow.
            return 0.125 * (8.0 * x + EFX8 * x);
        }
        let z = x * x;
        let r = PP0 + z * (PP1 + z * (PP2 + z * (PP3 + z * PP4)));
        let s = 1.0 + z * (QQ1 + z * (QQ2 + z * (QQ3 + z * (QQ4 + z * QQ5))));
        return x + x * (r / s);
    }
    let y = if ix < 0x4018_0000 {
        // 0.84375 ≤ |x| < 6
        1.0 - erfc_above(ix, x.abs())
    } else {
        // |x| ≥ 6: erf rounds to ±1 (1 − 2⁻¹⁰²² is 1 in f64).
        1.0 - f64::from_bits(0x0010_0000_0000_0000)
    };
    if x.is_sign_negative() { -y } else { y }
}

/// erfc(a) for a = |x| in [0.84375, 6); `ix` is the high word of `a`.
fn erfc_above(ix: u32, a: f64) -> f64 {
    if ix < 0x3ff4_0000 {
        // a < 1.25
        let s = a - 1.0;
        let p = PA0 + s * (PA1 + s * (PA2 + s * (PA3 + s * (PA4 + s * (PA5 + s * PA6)))));
        let q = 1.0 + s * (QA1 + s * (QA2 + s * (QA3 + s * (QA4 + s * (QA5 + s * QA6)))));
        return 1.0 - ERX - p / q;
    }
    let s = 1.0 / (a * a);
    let (r, big_s) = if ix < 0x4006_db6d {
        // a < 1/0.35
        (
            RA0 + s * (RA1 + s * (RA2 + s * (RA3 + s * (RA4 + s * (RA5 + s * (RA6 + s * RA7)))))),
            1.0 + s * (SA1 + s * (SA2 + s * (SA3 + s * (SA4 + s * (SA5 + s * (SA6 + s * (SA7 + s * SA8))))))),
        )
    } else {
        (
            RB0 + s * (RB1 + s * (RB2 + s * (RB3 + s * (RB4 + s * (RB5 + s * RB6))))),
            1.0 + s * (SB1 + s * (SB2 + s * (SB3 + s * (SB4 + s * (SB5 + s * (SB6 + s * SB7)))))),
        )
    };
    // exp(−a²) split as exp(−z² − 0.5625)·exp((z − a)(z + a) + R/S) with z = a truncated to
    // its high 32 bits, so that z² is exact and the large exponent loses nothing.
    let z = f64::from_bits(a.to_bits() & 0xffff_ffff_0000_0000);
    (-z * z - 0.5625).exp() * ((z - a) * (z + a) + r / big_s).exp() / a
}

/// erf(x) for an `f32` argument: the `f64` [`erf`] rounded once (see the module docs for the
/// error bound).
pub(crate) fn erf_f32(x: f32) -> f32 {
    erf(f64::from(x)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Maclaurin series of erf, summed in `f64`: an independent reference for |x| ≤ 3 (the
    /// largest term at x = 3 is about 10³, so cancellation leaves ~1e-13 absolute accuracy).
    fn erf_series(x: f64) -> f64 {
        let mut term = x; // (−1)ⁿ x^(2n+1) / n!
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn matches_reference_values() {
        // mpmath, 25 digits (the values burn's own erf tests use).
        let cases = [
            (0.0, 0.0),
            (1e-10, 1.128379167095512574e-10),
            (0.5, 0.5204998778130465377),
            (0.84, 0.7651427114549945347),
            (0.85, 0.7706680576083525324),
            (1.0, 0.8427007929497148693),
            (1.5, 0.9661051464753107271),
            (2.0, 0.9953222650189527342),
            (3.0, 0.9999779095030014145),
            (6.0, 0.9999999999999999785),
            (30.0, 1.0),
        ];
        for (x, want) in cases {
            for (x, want) in [(x, want), (-x, -want)] {
                let got = erf(x);
                assert!(
                    (got - want).abs() <= 2.0 * f64::EPSILON * want.abs().max(1e-300),
                    "erf({x}) = {got}, want {want}"
                );
            }
        }
        assert_eq!(erf(f64::INFINITY), 1.0);
        assert_eq!(erf(f64::NEG_INFINITY), -1.0);
        assert!(erf(f64::NAN).is_nan());
    }

    #[test]
    fn matches_the_series_on_a_grid() {
        // Every branch: tiny, [0, 0.84375), [0.84375, 1.25), [1.25, 2.857), [2.857, 3].
        for i in -3000..=3000 {
            let x = f64::from(i) * 1e-3;
            let (got, want) = (erf(x), erf_series(x));
            assert!((got - want).abs() < 1e-12, "erf({x}) = {got}, series {want}");
        }
    }

    #[test]
    fn f32_rounds_the_f64_value() {
        // |x| ≤ 3, where the series is an accurate reference.
        for i in -1760..=1760 {
            let x = i as f32 * 1.7e-3;
            let want = erf_series(f64::from(x));
            let got = erf_f32(x);
            // Within one f32 ulp of the reference.
            assert!((f64::from(got) - want).abs() <= f64::from(f32::EPSILON), "erf_f32({x}) = {got}, want {want}");
        }
    }
}
