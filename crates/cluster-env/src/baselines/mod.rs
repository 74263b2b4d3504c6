//! Heuristic scheduling policies and the [`Policy`] trait that learned agents implement too.
//!
//! Every baseline reads the structured [`ClusterView`] and picks only nodes the mask allows.
//! Ties are broken by the lowest node index, so baselines are deterministic given their seed.

mod packing;
mod simple;

pub use packing::{BalancedAllocation, BestFit, Tetris, VmScheduling};
pub use simple::{LeastConnections, LeastLoaded, PowerOfTwo, RandomPolicy, RoundRobin, ShortestExpectedDelay};

use crate::error::ClusterError;
use crate::view::{ClusterView, NodeView};

/// A scheduling policy: given the cluster state at a decision, the node for the arriving task.
pub trait Policy: Send {
    /// Name used in reports.
    fn name(&self) -> &str;

    /// Called at the start of each episode with the episode's seed (for policies with
    /// randomness; they must derive all of it from this seed).
    fn reset(&mut self, _seed: u64) {}

    /// The node for `view.task()`. Must be a node `view.mask()` allows; evaluation reports a
    /// policy that breaks this as [`ClusterError::PolicyChoseInvalid`].
    fn act(&mut self, view: &ClusterView<'_>) -> usize;
}

/// Names of the baselines, in report order.
pub const BASELINES: [&str; 10] = [
    "random",
    "round-robin",
    "least-connections",
    "least-loaded",
    "shortest-expected-delay",
    "vm-scheduling",
    "best-fit",
    "balanced-allocation",
    "tetris",
    "power-of-two",
];

/// A fresh instance of the baseline called `name`.
///
/// # Errors
/// [`ClusterError::UnknownBaseline`] listing the valid names.
pub fn baseline(name: &str) -> Result<Box<dyn Policy>, ClusterError> {
    Ok(match name {
        "random" => Box::new(RandomPolicy::default()),
        "round-robin" => Box::new(RoundRobin::default()),
        "least-connections" => Box::new(LeastConnections),
        "least-loaded" => Box::new(LeastLoaded),
        "shortest-expected-delay" => Box::new(ShortestExpectedDelay),
        "vm-scheduling" => Box::new(VmScheduling),
        "best-fit" => Box::new(BestFit),
        "balanced-allocation" => Box::new(BalancedAllocation),
        "tetris" => Box::new(Tetris),
        "power-of-two" => Box::new(PowerOfTwo::default()),
        _ => return Err(ClusterError::UnknownBaseline { name: name.into(), valid: BASELINES.join(", ") }),
    })
}

/// The valid node minimising `key` (lowest index on ties); 0 if no node is valid, which the
/// engine then rejects.
pub(crate) fn argmin_valid(view: &ClusterView<'_>, key: impl Fn(&NodeView<'_>) -> f64) -> usize {
    best_by(view.valid_nodes(), key).unwrap_or(0)
}

/// The node minimising `key` among `nodes` (first on ties).
pub(crate) fn best_by<'a>(
    nodes: impl Iterator<Item = NodeView<'a>>,
    key: impl Fn(&NodeView<'_>) -> f64,
) -> Option<usize> {
    let mut best: Option<(f64, usize)> = None;
    for n in nodes {
        let k = key(&n);
        if best.is_none_or(|(bk, _)| k < bk) {
            best = Some((k, n.index));
        }
    }
    best.map(|(_, i)| i)
}
