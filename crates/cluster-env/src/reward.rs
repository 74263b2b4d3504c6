//! The reward between two decisions, for every [`RewardKind`] in one place.
//!
//! The engine reports what happens (arrivals, completions, placements, re-submissions, time
//! passing); [`RewardAcc`] turns it into the reward of the current step:
//!
//! | kind | accrues while time passes | at a placement | at a failure |
//! |---|---|---|---|
//! | `weighted-jct` | −Σ weight of tasks in system × dt | — | — |
//! | `slowdown` | −Σ 1 / ideal runtime of tasks in system × dt | — | — |
//! | `utilisation` | mean over resources of used / capacity × dt | — | — |
//! | `attributed-jct` | — | −weight × (predicted finish − arrival) | the charge is refunded |
//! | `attributed-unweighted-jct` | — | −(predicted finish − arrival) | the charge is refunded |
//!
//! so that the undiscounted return of `weighted-jct` and `attributed-jct` is −Σ weight × JCT,
//! and that of `attributed-unweighted-jct` is −Σ JCT.

use serde::{Deserialize, Serialize};

use crate::config::RewardKind;

/// The running sums behind the reward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RewardAcc {
    kind: RewardKind,
    /// Reward accrued since the last [`RewardAcc::take`].
    pending: f64,
    /// Σ priority weight of tasks in system.
    weight_in_system: f64,
    /// Σ 1 / ideal runtime of tasks in system.
    inv_ideal_in_system: f64,
}

impl RewardAcc {
    /// The reward this accumulates.
    pub fn kind(&self) -> RewardKind {
        self.kind
    }

    pub fn new(kind: RewardKind) -> Self {
        Self { kind, pending: 0.0, weight_in_system: 0.0, inv_ideal_in_system: 0.0 }
    }

    /// Forgets everything (a new episode).
    pub fn reset(&mut self) {
        self.pending = 0.0;
        self.weight_in_system = 0.0;
        self.inv_ideal_in_system = 0.0;
    }

    /// Whether placements are charged ([`RewardKind::AttributedJct`] and
    /// [`RewardKind::AttributedUnweightedJct`]): the engine then predicts the placed task's
    /// completion time and passes its cost to [`RewardAcc::charge`].
    pub fn charges_placements(&self) -> bool {
        matches!(self.kind, RewardKind::AttributedJct | RewardKind::AttributedUnweightedJct)
    }

    /// The cost charged at placement for a task of priority `weight` that completes `jct` after
    /// its arrival: weighted for `attributed-jct`, plain for `attributed-unweighted-jct`.
    pub fn placement_cost(&self, weight: f64, jct: f64) -> f64 {
        match self.kind {
            RewardKind::AttributedUnweightedJct => jct,
            _ => weight * jct,
        }
    }

    /// A task of `weight` and ideal runtime `ideal` entered the system.
    pub fn arrive(&mut self, weight: f64, ideal: f64) {
        self.weight_in_system += weight;
        self.inv_ideal_in_system += 1.0 / ideal;
    }

    /// A task of `weight` and ideal runtime `ideal` completed; `empty` says whether the system is
    /// empty now, which resets the running sums to exactly zero (they would otherwise keep a
    /// rounding residual that a long idle gap turns into reward).
    pub fn complete(&mut self, weight: f64, ideal: f64, empty: bool) {
        if empty {
            self.weight_in_system = 0.0;
            self.inv_ideal_in_system = 0.0;
        } else {
            self.weight_in_system -= weight;
            self.inv_ideal_in_system -= 1.0 / ideal;
        }
    }

    /// `dt` time units pass with `used` of `capacity` in use per resource (cluster totals).
    pub fn accrue(&mut self, dt: f64, used: &[f64], capacity: &[f64]) {
        self.pending += match self.kind {
            RewardKind::WeightedJct => -self.weight_in_system * dt,
            RewardKind::Slowdown => -self.inv_ideal_in_system * dt,
            RewardKind::AttributedJct | RewardKind::AttributedUnweightedJct => 0.0,
            RewardKind::Utilisation => {
                // `used` is a running sum: after completions it may sit a rounding error below
                // zero, which must not make utilisation negative.
                let r = used.len() as f64;
                // A resource no node has (total capacity 0) counts as unused.
                dt * used.iter().zip(capacity).map(|(u, c)| crate::view::share(u.max(0.0), *c)).sum::<f64>() / r
            }
        };
    }

    /// Charges a placement `cost` (the attributed kinds).
    pub fn charge(&mut self, cost: f64) {
        self.pending -= cost;
    }

    /// Refunds a charge whose completion will not happen (the task was re-submitted).
    pub fn refund(&mut self, cost: f64) {
        self.pending += cost;
    }

    /// The reward accrued since the last call.
    pub fn take(&mut self) -> f64 {
        std::mem::take(&mut self.pending)
    }

    /// Σ priority weight of the tasks in system (for invariant checks).
    #[cfg(test)]
    pub fn weight_in_system(&self) -> f64 {
        self.weight_in_system
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_accrues_its_own_signal() {
        let mut acc = RewardAcc::new(RewardKind::WeightedJct);
        acc.arrive(2.0, 4.0);
        acc.arrive(1.0, 2.0);
        acc.accrue(3.0, &[1.0], &[4.0]);
        assert_eq!(acc.take(), -9.0);
        assert_eq!(acc.take(), 0.0, "take empties");
        let mut acc = RewardAcc::new(RewardKind::Slowdown);
        acc.arrive(2.0, 4.0);
        acc.arrive(1.0, 2.0);
        acc.accrue(4.0, &[1.0], &[4.0]);
        assert_eq!(acc.take(), -(0.25 + 0.5) * 4.0);
        let mut acc = RewardAcc::new(RewardKind::Utilisation);
        acc.accrue(2.0, &[1.0, -1e-17], &[4.0, 2.0]);
        assert_eq!(acc.take(), 2.0 * (0.25 + 0.0) / 2.0);
        let mut acc = RewardAcc::new(RewardKind::AttributedJct);
        assert!(acc.charges_placements());
        acc.arrive(5.0, 1.0);
        acc.accrue(10.0, &[1.0], &[1.0]);
        acc.charge(7.0);
        acc.refund(2.0);
        assert_eq!(acc.take(), -5.0);
        assert_eq!(acc.placement_cost(3.0, 2.5), 7.5, "attributed-jct weighs the charge");
        let mut acc = RewardAcc::new(RewardKind::AttributedUnweightedJct);
        assert!(acc.charges_placements());
        assert_eq!(acc.placement_cost(3.0, 2.5), 2.5, "attributed-unweighted-jct does not");
        acc.arrive(5.0, 1.0);
        acc.accrue(10.0, &[1.0], &[1.0]);
        assert_eq!(acc.take(), 0.0, "nothing accrues over time");
        assert!(!RewardAcc::new(RewardKind::WeightedJct).charges_placements());
    }

    #[test]
    fn an_empty_system_has_exactly_zero_sums() {
        let mut acc = RewardAcc::new(RewardKind::WeightedJct);
        acc.arrive(0.1, 1.0);
        acc.arrive(0.2, 1.0);
        acc.complete(0.1, 1.0, false);
        acc.complete(0.2, 1.0, true);
        assert_eq!(acc.weight_in_system(), 0.0);
        acc.accrue(1e6, &[0.0], &[1.0]);
        assert_eq!(acc.take(), 0.0);
    }
}
