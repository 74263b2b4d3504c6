//! A sum tree (with a min tree beside it) over a fixed number of priorities, for proportional
//! prioritized replay: O(log n) update, O(log n) sampling in proportion to priority.

use crate::bin::{ByteReader, ByteWriter};

/// Binary tree whose leaves are priorities and whose inner nodes hold the sum (and the minimum)
/// of their subtree. Node 1 is the root; leaf `i` is node `leaves + i`.
///
/// Each inner node is recomputed from its two children on every update (never adjusted by a
/// delta), so the tree is a pure function of its leaves and accumulates no rounding drift.
#[derive(Debug, Clone, PartialEq)]
pub struct SumTree {
    leaves: usize,
    sum: Vec<f64>,
    min: Vec<f64>,
}

impl SumTree {
    /// A tree over `capacity` priorities, all zero (unset leaves never get sampled and do not
    /// count in the minimum).
    pub fn new(capacity: usize) -> Self {
        let leaves = capacity.max(1).next_power_of_two();
        Self { leaves, sum: vec![0.0; 2 * leaves], min: vec![f64::INFINITY; 2 * leaves] }
    }

    /// Sets leaf `i`'s priority (must be finite and ≥ 0; `i` below the capacity).
    pub fn set(&mut self, i: usize, priority: f64) {
        let mut node = self.leaves + i;
        self.sum[node] = priority;
        self.min[node] = priority;
        while node > 1 {
            node /= 2;
            self.sum[node] = self.sum[2 * node] + self.sum[2 * node + 1];
            self.min[node] = self.min[2 * node].min(self.min[2 * node + 1]);
        }
    }

    /// Leaf `i`'s priority.
    pub fn get(&self, i: usize) -> f64 {
        self.sum[self.leaves + i]
    }

    /// Sum of all priorities.
    pub fn total(&self) -> f64 {
        self.sum[1]
    }

    /// Smallest priority among set leaves (`+inf` when none is set).
    pub fn min(&self) -> f64 {
        self.min[1]
    }

    /// The leaf where the running sum of priorities first exceeds `mass` (`0 ≤ mass < total`):
    /// a uniform `mass` picks leaf `i` with probability `priority_i / total`. Leaves of priority
    /// 0 are never returned.
    pub fn find(&self, mass: f64) -> usize {
        let mut mass = mass.max(0.0);
        let mut node = 1;
        while node < self.leaves {
            let left = 2 * node;
            // Go right past a left subtree whose mass is used up; an empty right subtree (the
            // mass ran past the total by rounding) sends us back left.
            if mass >= self.sum[left] && self.sum[left + 1] > 0.0 {
                mass -= self.sum[left];
                node = left + 1;
            } else {
                node = left;
            }
        }
        node - self.leaves
    }

    pub(crate) fn write(&self, w: &mut ByteWriter) {
        w.u64(self.leaves as u64);
        w.f64s(&self.sum);
        w.f64s(&self.min);
    }

    /// Reads a tree written by `write` into `self`, which must have the same size.
    pub(crate) fn read_into(&mut self, r: &mut ByteReader<'_>) -> Result<(), String> {
        let leaves = r.u64()?;
        if leaves != self.leaves as u64 {
            return Err(format!("priority tree of {leaves} leaves, expected {}", self.leaves));
        }
        r.f64s_into(&mut self.sum)?;
        r.f64s_into(&mut self.min)?;
        if self.sum.iter().any(|p| !p.is_finite() || *p < 0.0) {
            return Err("priority tree holds a negative or non-finite priority".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn sums_and_minimum_follow_updates() {
        let mut t = SumTree::new(5);
        for (i, p) in [1.0, 2.0, 3.0, 4.0, 5.0].into_iter().enumerate() {
            t.set(i, p);
        }
        assert_eq!(t.total(), 15.0);
        assert_eq!(t.min(), 1.0);
        t.set(0, 10.0);
        assert_eq!(t.total(), 24.0);
        assert_eq!(t.min(), 2.0);
        assert_eq!(t.get(0), 10.0);
        assert_eq!(t.find(0.0), 0);
        assert_eq!(t.find(9.99), 0);
        assert_eq!(t.find(10.0), 1);
        assert_eq!(t.find(23.99), 4);
        assert_eq!(t.find(24.5), 4, "mass past the total stays on a set leaf");
    }

    #[test]
    fn samples_in_proportion_to_priority() {
        let priorities = [1.0, 0.0, 3.0, 6.0, 0.5, 9.5];
        let mut t = SumTree::new(priorities.len());
        for (i, &p) in priorities.iter().enumerate() {
            t.set(i, p);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let draws = 200_000;
        let mut counts = [0usize; 6];
        for _ in 0..draws {
            counts[t.find(rng.random::<f64>() * t.total())] += 1;
        }
        assert_eq!(counts[1], 0, "zero priority is never sampled");
        for (i, &p) in priorities.iter().enumerate() {
            let expected = p / t.total();
            let observed = counts[i] as f64 / draws as f64;
            // 5 standard deviations of a binomial proportion.
            let tol = 5.0 * (expected * (1.0 - expected) / draws as f64).sqrt() + 1e-9;
            assert!((observed - expected).abs() <= tol, "leaf {i}: {observed} vs {expected}");
        }
    }
}
