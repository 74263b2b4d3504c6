//! Choosing an action: which nodes a task fits ([`fits`]) and the greedy choice among the valid
//! ones ([`masked_argmax`]).

/// Tolerance of "the demand fits the capacity": demands summed in floating point may overshoot
/// a capacity by rounding.
pub const FIT_EPS: f64 = 1e-9;

/// Whether every demand fits its capacity: `demand[k] ≤ capacity[k] + FIT_EPS` for each `k`
/// (pairs are zipped; extra values of the longer slice are ignored).
///
/// ```
/// assert!(policy_core::fits(&[2.0, 4.0 + 1e-10], &[2.0, 4.0]));
/// assert!(!policy_core::fits(&[2.0, 5.0], &[2.0, 4.0]));
/// ```
pub fn fits(demand: &[f64], capacity: &[f64]) -> bool {
    demand.iter().zip(capacity).all(|(&d, &c)| d <= c + FIT_EPS)
}

/// The valid action (`mask[a]` true) with the largest `q[a]`, the lowest index on ties, or
/// `None` if every action is masked. A NaN value never beats a number, and a number always beats
/// a NaN (a NaN is chosen only when every valid value is NaN: then the last one).
///
/// Pairs are zipped: actions beyond the shorter of `q` and `mask` are never chosen.
pub fn masked_argmax(q: &[f32], mask: &[bool]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (a, (&v, &valid)) in q.iter().zip(mask).enumerate() {
        if valid && best.is_none_or(|(_, b)| v > b || b.is_nan()) {
            best = Some((a, v));
        }
    }
    best.map(|(a, _)| a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_argmax_breaks_ties_low_and_skips_nan() {
        // dqn's cases.
        assert_eq!(masked_argmax(&[1.0, 3.0, 3.0], &[true; 3]), Some(1));
        assert_eq!(masked_argmax(&[f32::NAN, 0.5], &[true; 2]), Some(1));
        assert_eq!(masked_argmax(&[1.0, 2.0], &[false, false]), None);
        assert_eq!(masked_argmax(&[5.0, 2.0], &[false, true]), Some(1));
        // policy's: equal Q-values go to the lowest valid index.
        assert_eq!(masked_argmax(&[7.5, 7.5], &[true, true]), Some(0));
        assert_eq!(masked_argmax(&[7.5, 7.5], &[false, true]), Some(1));
    }

    #[test]
    fn masked_argmax_nan_and_infinities() {
        // A NaN after a number does not replace it; a number after a NaN does.
        assert_eq!(masked_argmax(&[0.5, f32::NAN, 0.25], &[true; 3]), Some(0));
        // All NaN: a later NaN replaces an earlier one (the rule "a NaN best is replaced").
        assert_eq!(masked_argmax(&[f32::NAN, f32::NAN], &[true; 2]), Some(1));
        assert_eq!(masked_argmax(&[f32::NAN, f32::NEG_INFINITY], &[true; 2]), Some(1));
        assert_eq!(masked_argmax(&[f32::NEG_INFINITY, f32::NEG_INFINITY], &[true; 2]), Some(0));
        assert_eq!(masked_argmax(&[1.0, f32::INFINITY, 9.0], &[true, false, true]), Some(2));
        assert_eq!(masked_argmax(&[-0.0, 0.0], &[true; 2]), Some(0), "−0 and 0 tie");
        assert_eq!(masked_argmax(&[], &[]), None);
        // Zipped: the action without a mask entry is never chosen.
        assert_eq!(masked_argmax(&[1.0, 2.0], &[true]), Some(0));
    }

    #[test]
    fn fits_within_the_tolerance() {
        assert!(fits(&[4.0 + 0.5e-9, 20.0], &[4.0, 20.0]));
        assert!(!fits(&[4.0 + 2e-9, 20.0], &[4.0, 20.0]));
        assert!(fits(&[0.0], &[0.0]));
        assert!(!fits(&[1.0], &[0.0]));
        assert!(fits(&[], &[1.0]));
        assert!(!fits(&[f64::NAN], &[1.0]), "NaN fits nothing");
    }
}
