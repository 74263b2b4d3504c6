//! Queue-based baselines: random, round-robin, least-connections, least-loaded,
//! shortest-expected-delay and power-of-two-choices.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{Scheduler, argmin_valid};
use crate::error::ClusterError;
use crate::streams::Stream;
use crate::view::ClusterView;

/// The policies' own stream of the episode seed, apart from the workload's and the failures'.
fn policy_rng(seed: u64) -> ChaCha8Rng {
    Stream::Policy.rng(seed)
}

/// Uniformly random valid node.
#[derive(Debug, Clone)]
pub struct RandomPolicy {
    rng: ChaCha8Rng,
}

impl Default for RandomPolicy {
    fn default() -> Self {
        Self { rng: policy_rng(0) }
    }
}

impl Scheduler for RandomPolicy {
    fn name(&self) -> &str {
        "random"
    }
    fn reset(&mut self, seed: u64) {
        self.rng = policy_rng(seed);
    }
    fn act(&mut self, view: &ClusterView<'_>) -> Result<usize, ClusterError> {
        Ok({
            let valid = view.mask().iter().filter(|m| **m).count();
            let k = self.rng.random_range(0..valid.max(1));
            view.mask().iter().enumerate().filter(|(_, m)| **m).nth(k).map_or(0, |(i, _)| i)
        })
    }
}

/// The next valid node after the previous choice, cyclically.
#[derive(Debug, Clone, Default)]
pub struct RoundRobin {
    next: usize,
}

impl Scheduler for RoundRobin {
    fn name(&self) -> &str {
        "round-robin"
    }
    fn reset(&mut self, _seed: u64) {
        self.next = 0;
    }
    fn act(&mut self, view: &ClusterView<'_>) -> Result<usize, ClusterError> {
        Ok({
            let n = view.n_nodes();
            let mask = view.mask();
            let pick = (0..n).map(|k| (self.next + k) % n).find(|&i| mask[i]).unwrap_or(0);
            self.next = (pick + 1) % n;
            pick
        })
    }
}

/// Fewest tasks on the node (queued + running).
#[derive(Debug, Clone, Copy, Default)]
pub struct LeastConnections;

impl Scheduler for LeastConnections {
    fn name(&self) -> &str {
        "least-connections"
    }
    fn act(&mut self, view: &ClusterView<'_>) -> Result<usize, ClusterError> {
        Ok(argmin_valid(view, |n| n.tasks_in_system() as f64))
    }
}

/// Least outstanding work (queued work + remaining work of running tasks): the article's
/// `load_balancing` and Park's greedy baseline. Ignores node speed.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeastLoaded;

impl Scheduler for LeastLoaded {
    fn name(&self) -> &str {
        "least-loaded"
    }
    fn act(&mut self, view: &ClusterView<'_>) -> Result<usize, ClusterError> {
        Ok(argmin_valid(view, |n| n.outstanding_work))
    }
}

/// Shortest expected delay: (outstanding work + the task's work) / speed, the time at which
/// the task would finish on a single-slot FIFO node.
#[derive(Debug, Clone, Copy, Default)]
pub struct ShortestExpectedDelay;

impl Scheduler for ShortestExpectedDelay {
    fn name(&self) -> &str {
        "shortest-expected-delay"
    }
    fn act(&mut self, view: &ClusterView<'_>) -> Result<usize, ClusterError> {
        Ok({
            let work = view.task().map_or(0.0, |t| t.work);
            argmin_valid(view, |n| (n.outstanding_work + work) / n.speed)
        })
    }
}

/// Power of two choices: two distinct valid nodes drawn uniformly; the one with fewer tasks
/// (then less outstanding time) wins.
#[derive(Debug, Clone)]
pub struct PowerOfTwo {
    rng: ChaCha8Rng,
}

impl Default for PowerOfTwo {
    fn default() -> Self {
        Self { rng: policy_rng(0) }
    }
}

impl Scheduler for PowerOfTwo {
    fn name(&self) -> &str {
        "power-of-two"
    }
    fn reset(&mut self, seed: u64) {
        self.rng = policy_rng(seed);
    }
    fn act(&mut self, view: &ClusterView<'_>) -> Result<usize, ClusterError> {
        Ok({
            let mask = view.mask();
            let valid = mask.iter().filter(|m| **m).count();
            let nth = |k: usize| mask.iter().enumerate().filter(|(_, m)| **m).nth(k).map_or(0, |(i, _)| i);
            if valid <= 1 {
                return Ok(nth(0));
            }
            let a = self.rng.random_range(0..valid);
            let mut b = self.rng.random_range(0..valid - 1);
            if b >= a {
                b += 1;
            }
            let (a, b) = (view.node(nth(a)), view.node(nth(b)));
            let key = |n: &crate::view::NodeView<'_>| (n.tasks_in_system(), n.outstanding_time());
            if key(&b).0 < key(&a).0 || (key(&b).0 == key(&a).0 && key(&b).1 < key(&a).1) { b.index } else { a.index }
        })
    }
}
