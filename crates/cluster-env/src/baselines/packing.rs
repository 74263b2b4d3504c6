//! Resource-fit baselines in the Kubernetes family: each filters the valid nodes to those where
//! the task fits now (used + demand ≤ capacity, nothing queued ahead), scores them, and falls
//! back to least-loaded when no node fits now (the task will queue somewhere).

use super::{Scheduler, argmin_valid, best_by};
use crate::error::ClusterError;
use crate::view::{ClusterView, NodeView, share};

/// Fraction of resource `r` in use on `n` after adding `demand` (0 for a resource the node does
/// not have: the mask never sends a task that needs it there).
fn after(n: &NodeView<'_>, demand: &[f64], r: usize) -> f64 {
    share(n.used[r] + demand[r], n.capacity[r])
}

/// Resources the node has (capacity > 0): the fractions below average over these only, so a
/// CPU-only node is compared on its CPU and memory, not diluted by a GPU share of 0.
fn has(n: &NodeView<'_>) -> impl Iterator<Item = usize> + Clone {
    let cap = n.capacity;
    (0..cap.len()).filter(move |&r| cap[r] > 0.0)
}

/// Mean allocated fraction after placing `demand`, over the resources the node has.
fn allocated_after(n: &NodeView<'_>, demand: &[f64]) -> f64 {
    let k = has(n).count().max(1);
    has(n).map(|r| after(n, demand, r)).sum::<f64>() / k as f64
}

/// Shared shape: minimise `score` among nodes where the task fits now, else least-loaded.
fn fit_then<K: PartialOrd>(view: &ClusterView<'_>, score: impl Fn(&NodeView<'_>, &[f64]) -> K) -> usize {
    let Some(task) = view.task() else { return 0 };
    let fitting = view.valid_nodes().filter(|n| n.fits_now(task.demand));
    best_by(fitting, |n| score(n, task.demand)).unwrap_or_else(|| argmin_valid(view, |n| n.outstanding_work))
}

/// The article's `vm_scheduling` = Kubernetes filter + LeastAllocated: among nodes where the task
/// fits now, the one least allocated after placement; else least-loaded.
#[derive(Debug, Clone, Copy, Default)]
pub struct VmScheduling;

impl Scheduler for VmScheduling {
    fn name(&self) -> &str {
        "vm-scheduling"
    }
    fn act(&mut self, view: &ClusterView<'_>) -> Result<usize, ClusterError> {
        Ok(fit_then(view, allocated_after))
    }
}

/// Best fit = Kubernetes MostAllocated: among nodes where the task fits now, the one most
/// allocated after placement (packs work tightly); else least-loaded.
#[derive(Debug, Clone, Copy, Default)]
pub struct BestFit;

impl Scheduler for BestFit {
    fn name(&self) -> &str {
        "best-fit"
    }
    fn act(&mut self, view: &ClusterView<'_>) -> Result<usize, ClusterError> {
        Ok(fit_then(view, |n, d| -allocated_after(n, d)))
    }
}

/// Kubernetes BalancedAllocation: among nodes where the task fits now, the one whose
/// per-resource allocated fractions after placement are most even (smallest standard
/// deviation), then least allocated; else least-loaded.
#[derive(Debug, Clone, Copy, Default)]
pub struct BalancedAllocation;

impl Scheduler for BalancedAllocation {
    fn name(&self) -> &str {
        "balanced-allocation"
    }
    fn act(&mut self, view: &ClusterView<'_>) -> Result<usize, ClusterError> {
        Ok({
            fit_then(view, |n, d| {
                let r = has(n).count().max(1);
                let mean = allocated_after(n, d);
                let var = has(n).map(|k| (after(n, d, k) - mean).powi(2)).sum::<f64>() / r as f64;
                // Balance first; allocation only breaks ties.
                (var.sqrt(), mean)
            })
        })
    }
}

/// Tetris (Grandl et al.): among nodes where the task fits now, the one maximising the
/// alignment Σ_r (demand_r / capacity_r) · (free_r / capacity_r); else least-loaded.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tetris;

impl Scheduler for Tetris {
    fn name(&self) -> &str {
        "tetris"
    }
    fn act(&mut self, view: &ClusterView<'_>) -> Result<usize, ClusterError> {
        Ok({
            fit_then(view, |n, d| {
                -(0..d.len())
                    .map(|r| share(d[r], n.capacity[r]) * share(n.capacity[r] - n.used[r], n.capacity[r]))
                    .sum::<f64>()
            })
        })
    }
}
